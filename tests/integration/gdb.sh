#!/bin/bash
# The gdb stub (--gdb, --gdb-wait) on soft and kvm, and the instruction trace
# (--trace, soft only), with the gdb_target test guest (tests/guests/gdb_target.c):
# a Python RSP client (gdb_client.py) checks registers, memory, breakpoints,
# single steps, Ctrl-C, attach/detach and the exit status; a batch run of
# the real gdb checks that gdb itself is happy with the stub; the trace
# tests look for the guest's first instructions, a #UD and a #PF line, and
# the size bound. One line per case (PASS/FAIL/SKIP: gdb/...).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ISOLA=$BUILD/isola
ELF=$BUILD/guests/gdb_target.elf
S=gdb
tmp=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if ! [ -x "$ISOLA" ] || ! [ -f "$ELF" ]; then
	echo "SKIP: $S/all ($ISOLA or $ELF not built: make)"
	exit 0
fi
if ! command -v python3 >/dev/null; then
	echo "SKIP: $S/all (no python3)"
	exit 0
fi
if "$ISOLA" run --accel soft --kernel "$ELF" --dry-run 2>&1 | grep -q 'soft CPU unavailable'; then
	echo "SKIP: $S/all (isola built without the soft CPU)"
	exit 0
fi

# start NAME ARGS...: isola in the background on $ACCEL with a gdb stub on a
# free port (port 0: the kernel picks one; isola's first line names it).
# Sets PID, PORT.
start() {
	local name=$1 i
	shift
	: >"$tmp/$name.err" # before the child opens it: the loop below reads it
	"$ISOLA" run --kernel "$ELF" --accel "$ACCEL" --gdb tcp:127.0.0.1:0 "$@" \
		</dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	PID=$!
	PORT=
	for i in $(seq 100); do
		PORT=$(sed -n 's/.*listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$tmp/$name.err")
		[ -n "$PORT" ] && break
		sleep 0.1
	done
}

# finish NAME WANT: wait (at most 60 s) for isola and check its exit status.
finish() {
	local name=$1 want=$2 i rc
	for i in $(seq 600); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		kill -9 "$PID"
		wait "$PID" 2>/dev/null
		PID=
		echo "FAIL: $T/$name-status (isola still ran 60 s later)"
		return
	fi
	wait "$PID"
	rc=$?
	PID=
	if [ "$rc" = "$want" ]; then
		echo "PASS: $T/$name-status"
	else
		echo "FAIL: $T/$name-status (isola exit status $rc, want $want: $(tail -n 3 "$tmp/$name.err" | tr '\n' ' '))"
	fi
}

# client SCENARIO: run gdb_client.py against PORT (or fail if isola never listened).
client() {
	if [ -z "$PORT" ]; then
		echo "FAIL: $T/$1-session (isola did not say where it listens: $(head -c 200 "$tmp/$1.err"))"
		return
	fi
	GDB_SUITE=$T GDB_MAX_BP=$MAX_BP timeout 120 python3 tests/integration/gdb_client.py "$1" "$PORT" "$ELF"
}

# The stub on one back end: T names the cases gdb/<accel>/...
stub_cases() {
	# Stopped before the first instruction; continued to the end: the guest
	# exits with the value the debugger wrote, 0x21 -> status (0x21 << 1) | 1.
	start basic --gdb-wait
	client basic
	finish basic 67

	# Ctrl-C stops a spinning guest.
	start interrupt --gdb-wait --cmdline loop=1
	client interrupt
	finish interrupt 15

	# Attaching to a guest that runs stops it; detaching lets it go on.
	start attach --cmdline loop=1
	for i in $(seq 200); do
		grep -q spinning "$tmp/attach.out" && break
		sleep 0.1
	done
	client attach
	finish attach 15

	# Stepping an instruction that faults ends in the exception's handler
	# (not on kvm over PVM, which cannot deliver the exception).
	if [ "$ACCEL" = soft ] || ! [ -e /sys/module/kvm_pvm ]; then
		start step-fault --gdb-wait --cmdline fault=1
		client step-fault
		finish step-fault 15
	else
		echo "SKIP: $T/step-fault (kvm here is PVM: no exception delivery)"
	fi

	# A reset with --on-reset restart: the next VM keeps the breakpoints
	# (ELF is the reset guest for this one case); gdb's kill: status 0.
	if [ -f "$BUILD/guests/reset.elf" ]; then
		local elf=$ELF
		ELF=$BUILD/guests/reset.elf
		start restart --gdb-wait --on-reset restart
		client restart
		ELF=$elf
		finish restart 0
		if ! grep -q 'restarting it' "$tmp/restart.err"; then
			echo "FAIL: $T/restart-happened (isola did not restart the guest)"
		else
			echo "PASS: $T/restart-happened"
		fi
	else
		echo "SKIP: $T/restart (no reset guest)"
	fi

	# The real gdb, in batch mode.
	if ! command -v gdb >/dev/null; then
		echo "SKIP: $T/real-gdb (gdb is not installed: apt-get install gdb)"
		return
	fi
	start gdb --gdb-wait
	local entry why
	entry=$(printf '0x%x' "$(od -An -t u8 -j 24 -N 8 "$ELF" | tr -d ' ')")
	timeout 120 gdb -nx -batch -ex "target remote 127.0.0.1:$PORT" -ex 'info registers rip' \
		-ex 'stepi' -ex 'info registers rip' -ex 'break gdb_marker' -ex 'continue' \
		-ex 'set var gdb_poke = 0x21' -ex 'print/x gdb_poke' -ex 'continue' "$ELF" \
		>"$tmp/gdb.log" 2>&1 </dev/null
	if ! grep -qE "^rip +$entry " "$tmp/gdb.log"; then
		why="no 'rip $entry' at the start"
	elif [ "$(grep -cE '^rip +0x' "$tmp/gdb.log")" != 2 ] ||
	     grep -E '^rip +0x' "$tmp/gdb.log" | tail -n1 | grep -qE "^rip +$entry "; then
		why="stepi did not move rip"
	elif ! grep -q 'Breakpoint 1, .*gdb_marker' "$tmp/gdb.log"; then
		why="no stop at the breakpoint"
	elif ! grep -q '= 0x21' "$tmp/gdb.log"; then
		why="the write did not read back"
	elif ! grep -q 'exited with code 0103' "$tmp/gdb.log"; then
		why="no exit with code 0103 (67)"
	else
		why=
	fi
	if [ -z "$why" ]; then
		echo "PASS: $T/real-gdb"
	else
		echo "FAIL: $T/real-gdb ($why)"
		sed 's/^/| /' "$tmp/gdb.log" | tail -n 20 >&2
	fi
	finish gdb 67
}

ACCEL=soft T=$S/soft MAX_BP=64
stub_cases
# kvm: breakpoints in the debug registers, KVM_GUESTDBG_SINGLESTEP,
# KVM_TRANSLATE. The target guest takes no exception (PVM could not deliver
# one), so it runs on PVM hosts too.
ACCEL=kvm T=$S/kvm MAX_BP=4
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	stub_cases
else
	echo "SKIP: $T/all (no usable /dev/kvm)"
fi

# --trace: the first instructions, a #UD the guest takes, the bound.
entry=$(printf '%016x' "$(od -An -t u8 -j 24 -N 8 "$ELF" | tr -d ' ')")
timeout 60 "$ISOLA" run --kernel "$ELF" --accel soft --cmdline fault=1 \
	--trace "$tmp/t1,size=16M" </dev/null >"$tmp/t1.out" 2>"$tmp/t1.err"
rc=$?
if [ "$rc" != 15 ]; then
	echo "FAIL: $S/trace-run (exit status $rc: $(head -c 200 "$tmp/t1.err"))"
elif ! head -n1 "$tmp/t1" | grep -qE "^cpu0 $entry cpl0 long64 .* mov rsp, "; then
	echo "FAIL: $S/trace-first-insn (first line: $(head -n1 "$tmp/t1"))"
else
	echo "PASS: $S/trace-first-insn"
fi
if grep -B1 'exception #UD (6) at' "$tmp/t1" 2>/dev/null | head -n1 | grep -q ' ud2$'; then
	echo "PASS: $S/trace-ud"
else
	echo "FAIL: $S/trace-ud (no ud2 followed by its #UD line)"
fi
timeout 60 "$ISOLA" run --kernel "$ELF" --accel soft --trace "$tmp/t2,size=64K" \
	</dev/null >/dev/null 2>"$tmp/t2.err"
size=$(stat -c %s "$tmp/t2" 2>/dev/null || echo 0)
if [ "$size" -gt 65536 ] || [ "$size" -lt 60000 ]; then
	echo "FAIL: $S/trace-bound (the trace has $size bytes, bound 65536)"
elif ! tail -n1 "$tmp/t2" | grep -qE '^trace truncated at [0-9]+ bytes$'; then
	echo "FAIL: $S/trace-bound (last line: $(tail -n1 "$tmp/t2"))"
else
	echo "PASS: $S/trace-bound"
fi
# A #PF with its error code and CR2 (the exceptions guest reads an unmapped page).
if [ -f "$BUILD/guests/exceptions.elf" ]; then
	timeout 60 "$ISOLA" run --kernel "$BUILD/guests/exceptions.elf" --accel soft \
		--trace "$tmp/t3,size=64M" </dev/null >/dev/null 2>&1
	if grep -qE '^cpu0 exception #PF \(14\) error 0x0 cr2 0x7f0000000000 at [0-9a-f]{16}$' \
		"$tmp/t3"; then
		echo "PASS: $S/trace-pf"
	else
		echo "FAIL: $S/trace-pf (no #PF line with error 0x0 and cr2 0x7f0000000000)"
	fi
else
	echo "SKIP: $S/trace-pf (no exceptions guest)"
fi
exit 0
