#!/bin/sh
# The soft CPU against the host CPU (tests/difftest/README.md): 20000
# sequences with a fixed seed (difftest/<group>) and 20000 with a seed from
# today's date (difftest/<group>-dated; the seed is printed, so a failure
# can be replayed). One PASS:/FAIL: line per group and run; a failure
# prints its first mismatch and --replay argument. The forms listed in
# tests/difftest/KNOWN.md are left out.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
COUNT=${DIFFTEST_COUNT:-20000}
bin=$BUILD/tests/difftest/difftest
if [ "$(uname -m)" != x86_64 ]; then
	echo "SKIP: difftest/all (the host is not x86-64)"
	exit 0
fi
# `make all` builds it (with the build's own flags: ASan in test-asan); build
# it here only if it is missing.
if [ ! -x "$bin" ]; then
	make --no-print-directory BUILD="$BUILD" difftest >/dev/null 2>&1 ||
		make --no-print-directory -f tests/difftest/difftest.mk BUILD="$BUILD" difftest \
			>/dev/null 2>&1
fi
if [ ! -x "$bin" ]; then
	echo "FAIL: difftest/build (cannot build $bin)"
	exit 1
fi
rc=0
echo "difftest: seed 1, $COUNT sequences"
timeout 600 "$bin" --seed 1 --count "$COUNT" 2>&1 || rc=1
seed=$(date -u +%Y%m%d)
echo "difftest: seed $seed (today's), $COUNT sequences"
timeout 600 "$bin" --seed "$seed" --count "$COUNT" --tag -dated 2>&1 || rc=1
exit $rc
