#!/bin/sh
# Runs every test suite and ends with one line: N passed, N failed, N skipped.
# Each suite prints one line per case: PASS: x, FAIL: x or SKIP: x (reason).
# Full output of each suite goes to $BUILD/test-logs/<suite>.log.
# BUILD names the build directory (default build).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
logs=$BUILD/test-logs
mkdir -p "$logs"
all=$logs/all.lines
: >"$all"

run_suite() {
	name=$1
	shift
	log=$logs/$name.log
	"$@" >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP): ' "$log" | tee -a "$all"
	# A suite that dies (a crash, a missing binary) must not pass silently.
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$log"; then
		echo "FAIL: $name/suite (exited with status $rc; see $log)" | tee -a "$all"
	fi
	if grep -q '^FAIL: ' "$log"; then
		echo "--- last lines of $log:"
		tail -n 30 "$log" | sed 's/^/    /'
	fi
}

run_suite unit "$BUILD/unit_tests"
run_suite cli tests/integration/cli.sh
[ -x tests/guests/run.sh ] && run_suite guests tests/guests/run.sh
for t in tests/integration/*.sh; do
	case "$t" in */cli.sh) continue ;; esac
	run_suite "$(basename "$t" .sh)" "$t"
done

passed=$(grep -c '^PASS: ' "$all")
failed=$(grep -c '^FAIL: ' "$all")
skipped=$(grep -c '^SKIP: ' "$all")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
