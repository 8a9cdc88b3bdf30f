#!/bin/bash
# Boots each test guest (tests/guests/*.c, built by `make guests` into
# $BUILD/guests/<name>.elf) on each back end and prints one protocol line per
# (guest, back end): PASS: guest/<name>/<accel>, FAIL: ... (<why>) or
# SKIP: ... (<reason>). A failure's output tail goes to stderr. Always exits 0:
# tests/run.sh counts the lines.
#
# Environment: BUILD (default build), ISOLA (default $BUILD/isola),
# GUEST_ACCELS (default "kvm soft"), GUESTS (names to run, default all),
# GUEST_TIMEOUT_SCALE (multiply every timeout, default 1).
set -u

BUILD=${BUILD:-build}
ISOLA=${ISOLA:-$BUILD/isola}
GDIR=$BUILD/guests
ACCELS=${GUEST_ACCELS:-kvm soft}
SCALE=${GUEST_TIMEOUT_SCALE:-1}
case $SCALE in ''|*[!0-9]*|0) SCALE=1 ;; esac
ALL_GUESTS="hello entry cpuid uart apic timers exceptions lapic_timer irq_routing smp insn memprobe unclaimed rtc acpi hostile hostile_irqchip virtio_hostile poweroff reset reset_i8042 triple"
GUESTS=${GUESTS:-$ALL_GUESTS}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/isola-guests.XXXXXX") || exit 0
trap 'rm -rf "$TMP"' EXIT

# The memory-size option, if `isola run --help` names one; without it
# memprobe runs only at isola's default size (256 MiB, config.h).
MEMOPT=
if [ -x "$ISOLA" ]; then
	MEMOPT=$("$ISOLA" run --help 2>&1 | grep -oE -- '--(memory|mem)\b' | head -n1)
fi
DEFAULT_MEM=$((256 << 20))

# Everything about one case: how to run it and what counts as passing.
# Sets: G_ELF G_ARGS (array) G_STATUS G_TIMEOUT G_STDOUT_RE G_STDOUT_NOT_RE G_STDERR_RE
# G_PASSLINE G_DELIVERS (the guest takes exceptions/interrupts on purpose)
# G_SKIP_RE (a passing guest that says this had nothing to test: SKIP)
case_spec() {
	local name=$1
	G_ELF=$name G_ARGS=() G_STATUS=1 G_TIMEOUT=60 G_STDOUT_RE= G_STDERR_RE= G_PASSLINE=1
	G_STDOUT_NOT_RE= G_DELIVERS= G_SKIP_RE=
	case $name in
	hello)     G_STDOUT_RE='^Hello from isola guest$' ;;
	entry)     ;;
	entry-4608M) G_ELF=entry G_ARGS=("$MEMOPT" 4608M) ;;  # map must cover RAM above 4 GiB
	cpuid)     ;;
	apic)      ;;
	timers)    ;;
	exceptions|lapic_timer) G_DELIVERS=1 ;;
	irq_routing) ;;  # interrupts only reach the IRR (IF=0): fine on PVM
	insn)      G_TIMEOUT=120 ;;  # ~16 s on kvm here; digests compared below
	smp)       G_ARGS=(--cpus 4 --cmdline cpus=4) ;;
	uart)      G_STDOUT_NOT_RE='loopback-only' ;;  # loopback bytes stay inside
	memprobe)  G_ARGS=(--cmdline "expect_mem=$DEFAULT_MEM"); G_TIMEOUT=180 ;;  # ~16 s on kvm here
	memprobe-64M)
		G_ELF=memprobe G_TIMEOUT=120
		G_ARGS=("$MEMOPT" 64M --cmdline "expect_mem=$((64 << 20)) dense=0x10000") ;;
	memprobe-3584M)  # spans the [3 GiB, 4 GiB) hole: RAM continues at 4 GiB
		G_ELF=memprobe G_TIMEOUT=180
		G_ARGS=("$MEMOPT" 3584M --cmdline "expect_mem=$((3584 << 20)) stride=0x200000 dense=0x10000") ;;
	unclaimed) ;;
	rtc)       G_ARGS=(--cmdline "host_time=$(date -u +%s)"); G_TIMEOUT=90 ;;
	hostile)   G_TIMEOUT=300 ;;  # ~40 s on kvm over PVM here
	hostile_irqchip) ;;
	virtio_hostile)  # two disks (one read-only), an entropy source and a console port to abuse
		truncate -s 1M "$TMP/vh-a.img" "$TMP/vh-b.img"
		G_ARGS=(--disk "path=$TMP/vh-a.img" --disk "path=$TMP/vh-b.img,readonly=on" --rng
			--console virtio) ;;
	acpi)      # ends in the S5 power-off its tables describe
		G_ARGS=(--cmdline expect_cpus=1)
		G_STATUS=0 G_PASSLINE= G_STDOUT_RE='^ACPI tables valid; powering off' ;;
	acpi-4cpus)
		G_ELF=acpi G_ARGS=(--cpus 4 --cmdline expect_cpus=4)
		G_STATUS=0 G_PASSLINE= G_STDOUT_RE='^ACPI tables valid; powering off' ;;
	poweroff)  G_STATUS=0 G_PASSLINE= G_STDOUT_RE='^still here, as expected' ;;
	reset)     G_STATUS=0 G_PASSLINE= G_STDOUT_RE='^writing 0x06 to port 0xcf9$'
		   G_STDERR_RE='[Rr][Ee][Ss][Ee][Tt]' ;;
	reset_i8042)
		G_ELF=reset_i8042 G_STATUS=0 G_PASSLINE= G_STDOUT_RE='^writing 0xfe to port 0x64$'
		G_STDERR_RE='[Rr][Ee][Ss][Ee][Tt]' ;;
	triple)    # a register dump names the instruction pointer
		G_STATUS=4 G_PASSLINE= G_STDOUT_RE='^loading an empty IDT'
		G_STDERR_RE='[Rr][Ii][Pp]' ;;
	*)         return 1 ;;
	esac
	G_TIMEOUT=$((G_TIMEOUT * SCALE))
}

dump_tail() {
	local id=$1 dir=$2
	{
		echo "---- $id: isola exit status $(cat "$dir/status"), stdout tail:"
		tail -n 15 "$dir/out" | tr -c '[:print:]\n' '?' | sed 's/^/| /'
		echo "---- $id: stderr tail:"
		tail -n 15 "$dir/err" | sed 's/^/| /'
	} >&2
}

run_case() {
	local name=$1 accel=$2 id="guest/$1/$2" dir="$TMP/$1-$2" status why line
	if ! case_spec "$name"; then
		echo "FAIL: $id (run.sh knows no guest '$name')"
		return
	fi
	if [ ! -x "$ISOLA" ]; then
		echo "SKIP: $id ($ISOLA not built)"
		return
	fi
	if [ ! -f "$GDIR/$G_ELF.elf" ]; then
		echo "FAIL: $id ($GDIR/$G_ELF.elf not built: make guests)"
		return
	fi
	if [ "$accel" = kvm ] && { ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; }; then
		echo "SKIP: $id (no usable /dev/kvm)"
		return
	fi
	# PVM runs an ordinary guest in KVM's instruction emulator, which
	# cannot deliver an exception or interrupt (KVM_EXIT_INTERNAL_ERROR).
	if [ "$accel" = kvm ] && [ -n "$G_DELIVERS" ] && [ -e /sys/module/kvm_pvm ]; then
		echo "SKIP: $id (kvm here is PVM: no exception or interrupt delivery for this guest)"
		return
	fi
	mkdir -p "$dir"
	timeout -k 5 "$G_TIMEOUT" "$ISOLA" run --kernel "$GDIR/$G_ELF.elf" --accel "$accel" \
		"${G_ARGS[@]}" </dev/null >"$dir/raw" 2>"$dir/err"
	status=$?
	echo "$status" >"$dir/status"
	tr -d '\r' <"$dir/raw" >"$dir/out"

	if [ "$status" = 2 ] && line=$(grep -a -h -m1 'not yet available' "$dir/err" "$dir/out"); then
		echo "SKIP: $id (${line:0:120})"
		return
	fi
	why=
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		why="timed out after ${G_TIMEOUT}s"
	elif line=$(grep -a -m1 '^FAIL' "$dir/out"); then
		why="guest says ${line:0:150}"
	elif [ "$status" != "$G_STATUS" ]; then
		why="exit status $status, expected $G_STATUS"
	elif [ -n "$G_PASSLINE" ] && ! grep -aq '^PASS$' "$dir/out"; then
		why="no PASS line from the guest"
	elif [ -n "$G_STDOUT_RE" ] && ! grep -aqE "$G_STDOUT_RE" "$dir/out"; then
		why="guest output lacks /$G_STDOUT_RE/"
	elif [ -n "$G_STDOUT_NOT_RE" ] && grep -aqE "$G_STDOUT_NOT_RE" "$dir/out"; then
		why="guest output has /$G_STDOUT_NOT_RE/"
	elif [ -n "$G_STDERR_RE" ] && ! grep -aqE "$G_STDERR_RE" "$dir/err"; then
		why="isola's stderr lacks /$G_STDERR_RE/"
	fi
	if [ -n "$why" ]; then
		echo "FAIL: $id ($why)"
		dump_tail "$id" "$dir"
	elif [ -n "$G_SKIP_RE" ] && line=$(grep -a -m1 -E "$G_SKIP_RE" "$dir/out"); then
		echo "SKIP: $id (guest: ${line:0:120})"
	else
		echo "PASS: $id"
		: >"$dir/passed"
	fi
}

# insn prints a digest per instruction form; the back ends must agree.
compare_insn() {
	local k=$TMP/insn-kvm s=$TMP/insn-soft id=guest/insn/kvm-vs-soft diffs
	if ! [ -f "$k/passed" ] || ! [ -f "$s/passed" ]; then
		echo "SKIP: $id (insn did not pass on both back ends)"
		return
	fi
	diffs=$(join -j 2 -o 0,1.3,2.3 <(grep -a '^insn [a-z]' "$k/out" | grep -v '^insn all' |
		awk '{print $1, $2, $3}' | sort -k 2,2) \
		<(grep -a '^insn [a-z]' "$s/out" | grep -v '^insn all' |
		awk '{print $1, $2, $3}' | sort -k 2,2) | awk '$2 != $3 {print $1}')
	if [ "$(grep -ac '^insn [a-z]' "$k/out")" != "$(grep -ac '^insn [a-z]' "$s/out")" ]; then
		echo "FAIL: $id (the back ends ran different sets of forms)"
	elif [ -n "$diffs" ]; then
		echo "FAIL: $id (results differ for: $(echo $diffs | cut -c1-200))"
	else
		echo "PASS: $id"
	fi
}

cases=
for g in $GUESTS; do
	cases="$cases $g"
	if [ "$g" = memprobe ] && [ -n "$MEMOPT" ]; then
		cases="$cases memprobe-64M memprobe-3584M"
	fi
	if [ "$g" = entry ] && [ -n "$MEMOPT" ]; then
		cases="$cases entry-4608M"
	fi
	if [ "$g" = acpi ]; then
		cases="$cases acpi-4cpus"
	fi
done
for accel in $ACCELS; do
	for c in $cases; do
		run_case "$c" "$accel"
	done
done
case " $cases " in
*" insn "*) case " $ACCELS " in *" kvm "*) case " $ACCELS " in *" soft "*) compare_insn ;; esac ;; esac ;;
esac
exit 0
