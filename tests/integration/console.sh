#!/bin/sh
# The serial console in a pseudo-terminal (tests/integration/console_pty.py),
# on each back end that can run the test guests here.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
if ! command -v python3 >/dev/null; then
	echo "SKIP: console/all (python3 is not installed)"
	exit 0
fi
for accel in soft kvm; do
	why=$("$BUILD/isola" run --accel $accel --kernel /nonexistent 2>&1 </dev/null)
	case "$why" in
	*"--accel $accel:"*) echo "SKIP: console/all/$accel (${why#isola: })"; continue ;;
	esac
	python3 tests/integration/console_pty.py $accel
done
