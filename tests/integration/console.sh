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

	# Input from a pipe and from a file (--serial-in) reaches the guest, all
	# of it: the UART holds host input back until the driver raises RTS.
	out=$( (printf 'pipe-input q') | timeout 60 "$BUILD/isola" run --accel $accel \
		--kernel "$BUILD/guests/echo.elf" 2>&1)
	rc=$?
	case "$rc:$out" in
	1:*pipe-input*"echo: bye"*) echo "PASS: console/pipe-input/$accel" ;;
	*) echo "FAIL: console/pipe-input/$accel (status $rc: $(echo "$out" | tail -3 | tr '\n' '|'))" ;;
	esac
	printf 'file-input q' >"$BUILD/serial-in.txt"
	out=$(timeout 60 "$BUILD/isola" run --accel $accel --kernel "$BUILD/guests/echo.elf" \
		--serial-in "$BUILD/serial-in.txt" </dev/null 2>&1)
	rc=$?
	case "$rc:$out" in
	1:*file-input*"echo: bye"*) echo "PASS: console/serial-in-file/$accel" ;;
	*) echo "FAIL: console/serial-in-file/$accel (status $rc: $(echo "$out" | tail -3 | tr '\n' '|'))" ;;
	esac
done
