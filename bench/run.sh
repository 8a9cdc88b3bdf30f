#!/bin/bash
# The foundation benchmark of isola's kvm back end: startup latency, memory
# overhead, and the cost of one port-I/O exit against a bare KVM_RUN loop
# (and QEMU, where it runs). Method and meaning: BENCHMARKS.md, section
# "Foundation: kvm back end startup, memory, exit cost".
#
# Usage: bench/run.sh [--write]
#   --write   also replace the results block of that section in BENCHMARKS.md
# Environment: BUILD (default build; isola must be built there already, as
# `make bench` does), BENCH_REPS (runs per measurement, default 9),
# BENCH_N (loop iterations, default 20000), BENCH_QEMU (default
# qemu-system-x86_64; empty to skip the QEMU peer).
#
# Every measurement runs BENCH_REPS times, interleaved (one round runs each
# configuration once), and is reported as median [min..max]. Timed runs are
# not traced: bench/spawn times them from outside. strace runs apart, after.
set -u
. "$(dirname "$0")/lib/report.sh" || exit 1

BUILD=${BUILD:-build}
REPS=${BENCH_REPS:-9}
N=${BENCH_N:-20000}
QEMU=${BENCH_QEMU-qemu-system-x86_64}
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1

cd "$(dirname "$0")/.." || exit 1
ISOLA=$BUILD/isola
BO=$BUILD/bench
N2=$((2 * N))
PORT_UNCLAIMED=0x280   # no device of isola's PC there (tests/guests/unclaimed.c)
PORT_UART_SCR=0x3ff    # COM1 scratch register: a device hit that stores one byte
TOUCH=$((64 << 20))

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$ISOLA" ] || die "$ISOLA not built (run: make BUILD=$BUILD isola guests, or make bench)"
[ -r /dev/kvm ] || die "no /dev/kvm: the kvm back end cannot run here"
make --no-print-directory -s -f bench/bench.mk BUILD="$BUILD" bench-tools \
	"$BO/qemu/loop-1.rom" "$BO/qemu/loop-$N.rom" "$BO/qemu/loop-$N2.rom" ||
	die "building the bench tools failed"
[ -f "$BUILD/guests/hello.elf" ] || die "$BUILD/guests/hello.elf missing (make guests)"
if [ -n "$QEMU" ] && ! command -v "$QEMU" >/dev/null; then
	echo "bench: $QEMU not found, no QEMU peer" >&2
	QEMU=
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/isola-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
RES=$TMP/results   # lines: <key> <value>
: >"$RES"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# spawn_run KEY EXPECTED_STATUS CMD...: one timed run; appends
# "KEY.first|exit|rss|cpu value" to the results, and with MARKER set
# "KEY.loop value": from the first stdout byte to the marker's arrival.
# Dies on an unexpected status (a benchmark of a failing run means nothing).
spawn_run() {
	local key=$1 want=$2
	shift 2
	local line
	line=$("$BO/spawn" -o "$TMP/out" -e "$TMP/err" ${MARKER:+-m "$MARKER"} -- "$@") ||
		die "spawn failed for $key"
	local st=${line##*status=}
	st=${st%% *}
	if [ "$st" != "$want" ]; then
		echo "bench: $key: exit status $st, expected $want: $*" >&2
		tail -5 "$TMP/out" "$TMP/err" >&2
		exit 1
	fi
	local f e r c
	f=${line#first_byte_us=}; f=${f%% *}
	e=${line#*exit_us=}; e=${e%% *}
	r=${line#*maxrss_kb=}; r=${r%% *}
	c=${line#*cpu_us=}; c=${c%% *}
	echo "$key.first $f" >>"$RES"
	echo "$key.exit $e" >>"$RES"
	echo "$key.rss $r" >>"$RES"
	echo "$key.cpu $c" >>"$RES"
	if [ -n "${MARKER:-}" ]; then
		local m=${line#*marker_us=}
		m=${m%% *}
		[ "${m%%.*}" = -1 ] && die "$key: marker '$MARKER' never seen"
		echo "$key.loop $(awk -v m="$m" -v f="$f" 'BEGIN { print m - f }')" >>"$RES"
	fi
}

isola_run() { # KEY ELF [isola options...]; guests end with debug-exit 0: status 1
	local key=$1 elf=$2
	shift 2
	spawn_run "$key" 1 "$ISOLA" run --accel kvm --kernel "$elf" "$@"
}

# QEMU's smallest machine: microvm without its legacy devices or option ROMs,
# our loop image as the firmware, and isa-debug-exit to end (status 1).
qemu_run() { # KEY ROM
	spawn_run "$1" 1 "$QEMU" -accel kvm \
		-M microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=off \
		-nodefaults -display none -m 16 -bios "$2" \
		-device isa-debug-exit,iobase=0xf4,iosize=1
}

bare_run() { # KEY MODE IRQCHIP: the per-exit floor
	local line
	line=$("$BO/bare_kvm" -m "$2" -i "$3" "$N" "$PORT_UNCLAIMED") || die "bare_kvm $2 $3 failed"
	local u=${line#* us_per_exit=} c=${line#*cpu_us_per_exit=}
	echo "$1.per ${u%% *}" >>"$RES"
	echo "$1.cpuper ${c%% *}" >>"$RES"
}

# The image the ELF loader writes (guest memory the guest owns from the
# start): the sum of the PT_LOAD p_memsz, in KiB rounded up to pages.
image_kb() {
	local sz total=0
	for sz in $(readelf -lW "$1" | awk '$1 == "LOAD" { print $6 }'); do
		total=$((total + sz))
	done
	echo $(((total + 4095) / 4096 * 4))
}

# stats KEY: "median min max n" of the values recorded under KEY (bench/lib/stats.sh).
stats() { stats_summary "$RES" "$1"; }
med() { stats "$1" | cut -d' ' -f1; }

# Per-round derived values: (t(2N) - t(N)) / N from one round's pair of
# runs, for wall time (.per; WALL names the wall-time figure: exit, or loop
# where the guest marks its loop on the UART) and CPU time (.cpuper).
derive_per_exit() { # OUTKEY KEY_N KEY_2N WALL
	awk -v o="$1" -v a="$2" -v b="$3" -v w="$4" -v n="$N" '
		$1 == a "." w { x[na++] = $2 } $1 == b "." w { y[nb++] = $2 }
		$1 == a ".cpu" { cx[ca++] = $2 } $1 == b ".cpu" { cy[cb++] = $2 }
		END {
			for (i = 0; i < na && i < nb; i++) print o ".per", (y[i] - x[i]) / n
			for (i = 0; i < ca && i < cb; i++) print o ".cpuper", (cy[i] - cx[i]) / n
		}' "$RES" >>"$TMP/derived"
}

echo "isola foundation benchmark: kvm back end, $REPS interleaved rounds, N=$N"
START=$(date +%s)
for r in $(seq 1 "$REPS"); do
	echo "  round $r/$REPS" >&2
	# 1. startup
	isola_run fb "$BO/guests/firstbyte.elf"
	isola_run hello "$BUILD/guests/hello.elf"
	for i in none before after; do
		spawn_run "bare1.$i" 0 "$BO/bare_kvm" -i "$i" 1 "$PORT_UNCLAIMED"
	done
	[ -n "$QEMU" ] && qemu_run qemu1 "$BO/qemu/loop-1.rom"
	# 2. memory: RSS must follow what the guest touches, not --memory
	for m in 256M 2G; do
		isola_run "mem$m.t0" "$BO/guests/touch.elf" --memory "$m" --cmdline "touch=0"
		isola_run "mem$m.t64" "$BO/guests/touch.elf" --memory "$m" --cmdline "touch=$TOUCH"
	done
	# 3. exit cost
	for p in unclaimed:$PORT_UNCLAIMED scr:$PORT_UART_SCR; do
		# ioloop prints a line, loops, prints PASS: the loop's wall time
		# is taken between its first UART byte and PASS, away from the
		# start-up and teardown noise.
		MARKER=PASS isola_run "io.${p%%:*}.n" "$BO/guests/ioloop.elf" \
			--cmdline "n=$N port=${p#*:}"
		MARKER=PASS isola_run "io.${p%%:*}.2n" "$BO/guests/ioloop.elf" \
			--cmdline "n=$N2 port=${p#*:}"
	done
	bare_run bare.long long none
	bare_run bare.irq long before
	bare_run bare.real real none
	if [ -n "$QEMU" ]; then
		qemu_run qemu.n "$BO/qemu/loop-$N.rom"
		qemu_run qemu.2n "$BO/qemu/loop-$N2.rom"
	fi
done
: >"$TMP/derived"
derive_per_exit io.unclaimed io.unclaimed.n io.unclaimed.2n loop
derive_per_exit io.scr io.scr.n io.scr.2n loop
[ -n "$QEMU" ] && derive_per_exit qemu qemu.n qemu.2n exit
cat "$TMP/derived" >>"$RES"

# Memory overhead per run: maxrss - (touched + image), in KiB.
IMG_KB=$(image_kb "$BO/guests/touch.elf")
awk -v img="$IMG_KB" -v t="$((TOUCH >> 10))" '
	$1 ~ /^mem.*\.t0\.rss$/ { k = $1; sub(/\.rss$/, ".over", k); print k, $2 - img }
	$1 ~ /^mem.*\.t64\.rss$/ { k = $1; sub(/\.rss$/, ".over", k); print k, $2 - img - t }' \
	"$RES" >"$TMP/over"
cat "$TMP/over" >>"$RES"

# strace, apart from the timed runs (three runs, medians): when the first
# KVM_RUN is issued relative to execve, and which syscalls take the longest
# (-T). strace slows every syscall, so these offsets are upper bounds of the
# untraced ones.
strace_once() { # KEY ELF RUN
	local f=$TMP/strace.$1.$3
	strace -f -ttt -T -o "$f" "$ISOLA" run --accel kvm --kernel "$2" \
		</dev/null >/dev/null 2>&1
	awk -v k="$1" '
		NR == 1 { t0 = $2 }
		!vm && /KVM_CREATE_VM/ { vm = $2 }
		!run && /KVM_RUN/ { run = $2 }
		!w && /write\(1,/ { w = $2 }
		/exit_group\(/ { eg = $2 }
		{ last = $2 }
		END {
			printf "%s.st_vm %.1f\n%s.st_run %.1f\n%s.st_write %.1f\n", k,
			       (vm - t0) * 1e6, k, (run - t0) * 1e6, k, (w - t0) * 1e6
			printf "%s.st_exitgroup %.1f\n%s.st_end %.1f\n", k, (eg - t0) * 1e6, k,
			       (last - t0) * 1e6
		}' "$f" >>"$RES"
	# The slowest non-blocking syscalls: an unfinished call is matched
	# with its "resumed" line by pid.
	awk '
		/<unfinished \.\.\.>/ { pend[$1] = $0; next }
		/resumed>/ { full = pend[$1]; delete pend[$1] } !/resumed>/ { full = $0 }
		match($0, /<[0-9]+\.[0-9]+>$/) {
			d = substr($0, RSTART + 1, RLENGTH - 2) * 1e3
			c = full; sub(/^[0-9]+ +[0-9.]+ /, "", c); sub(/ <unfinished.*/, "", c)
			sub(/ += .*$/, "", c)
			if (c ~ /KVM_RUN|^epoll_wait|^futex|^wait4|^read\(|^ppoll|^poll/) next
			if (length(c) > 70) c = substr(c, 1, 67) "..."
			printf "%.2f %s\n", d, c
		}' "$f" | sort -rn | head -5 >"$TMP/slow.$1.$3"
}
HAVE_STRACE=0
if command -v strace >/dev/null; then
	HAVE_STRACE=1
	for i in 1 2 3; do
		strace_once fb "$BO/guests/firstbyte.elf" "$i"
		strace_once hello "$BUILD/guests/hello.elf" "$i"
	done
fi
ELAPSED=$(($(date +%s) - START))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----
ms() { # KEY: "median [min..max]" in ms
	stats "$1" | awk '{ printf "%7.2f ms [%.2f..%.2f]", $1 / 1e3, $2 / 1e3, $3 / 1e3 }'
}
us() { # KEY: "median [min..max]" in us
	stats "$1" | awk '{ printf "%7.2f us [%.2f..%.2f]", $1, $2, $3 }'
}
mib() { # KEY: "median [min..max]" in MiB, from KiB
	stats "$1" | awk '{ printf "%7.2f MiB [%.2f..%.2f]", $1 / 1024, $2 / 1024, $3 / 1024 }'
}
# rratio A B: the ratio A/B per round (the i-th value of A over the i-th of
# B: both ran in the same round, under the same host load), as
# "median [min..max]".
rratio() { stats_round_ratio "$RES" "$1" "$2" '%.2f [%.2f..%.2f]'; }
msv() { awk -v v="$(med "$1")" 'BEGIN { printf "%.2f", v / 1e3 }'; }

row() { printf '  %-50s %s\n' "$1" "$2"; }

report() {
	local cpu kern pvm="no"
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	kern=$(uname -r)
	[ -e /sys/module/kvm_pvm ] && pvm="yes (kvm_pvm: guests run under KVM's instruction emulator)"
	echo "Date: $(date -u)"
	echo "Host: Linux $kern, $cpu, $(nproc) CPUs; PVM: $pvm"
	echo "Back end: kvm. $REPS interleaved rounds, N=$N loop iterations, ${ELAPSED}s in all."
	echo "Load average before/after: $LOAD_BEFORE / $LOAD_AFTER (the host is shared)"
	echo "Every figure: median [min..max] over the rounds."
	echo
	echo "Startup, untraced (t=0 at posix_spawn of the process)"
	row "isola, firstbyte guest: first UART byte" "$(ms fb.first)"
	row "isola, firstbyte guest: process exit" "$(ms fb.exit)"
	row "isola, hello guest: first UART byte" "$(ms hello.first)"
	row "isola, hello guest: process exit" "$(ms hello.exit)"
	row "bare_kvm N=1, no irqchip: after 3 exits" "$(ms bare1.none.first)"
	row "bare_kvm N=1, no irqchip: process exit" "$(ms bare1.none.exit)"
	row "bare_kvm N=1, irqchip+PIT before memory: 3 exits" "$(ms bare1.before.first)"
	row "bare_kvm N=1, irqchip+PIT before memory: exit" "$(ms bare1.before.exit)"
	row "bare_kvm N=1, irqchip+PIT after memory: 3 exits" "$(ms bare1.after.first)"
	row "bare_kvm N=1, irqchip+PIT after memory: exit" "$(ms bare1.after.exit)"
	[ -n "$QEMU" ] && row "QEMU microvm, loop ROM N=1: process exit" "$(ms qemu1.exit)"
	if [ "$HAVE_STRACE" = 1 ]; then
		echo
		echo "Startup under strace -f -T (medians of 3 runs; strace slows every syscall)"
		local k
		for k in fb hello; do
			printf '  %-9s execve -> KVM_CREATE_VM %.2f ms, first KVM_RUN %.2f ms,\n' \
				"$([ $k = fb ] && echo firstbyte || echo $k)" \
				"$(msv "$k.st_vm")" "$(msv "$k.st_run")"
			printf '            first write(1) %.2f ms, exit_group %.2f ms, exited %.2f ms\n' \
				"$(msv "$k.st_write")" "$(msv "$k.st_exitgroup")" "$(msv "$k.st_end")"
		done
		echo "  slowest syscalls of the first firstbyte run (ms):"
		sed 's/^/    /' "$TMP/slow.fb.1"
	fi
	echo
	echo "Memory: peak RSS (wait4 ru_maxrss); overhead = RSS - touched - image (${IMG_KB} KiB)"
	for m in 256M 2G; do
		row "--memory $m, guest touches 0: RSS" "$(mib "mem$m.t0.rss")"
		row "--memory $m, guest touches 0: overhead" "$(mib "mem$m.t0.over")"
		row "--memory $m, guest touches 64 MiB: RSS" "$(mib "mem$m.t64.rss")"
		row "--memory $m, guest touches 64 MiB: overhead" "$(mib "mem$m.t64.over")"
	done
	row "for scale: bare_kvm N=1, no irqchip: RSS" "$(mib bare1.none.rss)"
	[ -n "$QEMU" ] && row "for scale: QEMU microvm, 16 MiB, loop ROM: RSS" "$(mib qemu1.rss)"
	echo
	echo "Port-I/O exit round trip, per loop iteration (out + dec + jnz: one exit)"
	echo "  CPU = (CPU time(2N) - CPU time(N)) / N, user+system of all threads; wall likewise:"
	echo "  isola from first UART byte to PASS, bare_kvm around its loops, QEMU whole process"
	row "isola, unclaimed port $PORT_UNCLAIMED: CPU" "$(us io.unclaimed.cpuper)"
	row "isola, unclaimed port $PORT_UNCLAIMED: wall" "$(us io.unclaimed.per)"
	row "isola, UART scratch register $PORT_UART_SCR: CPU" "$(us io.scr.cpuper)"
	row "isola, UART scratch register $PORT_UART_SCR: wall" "$(us io.scr.per)"
	row "bare KVM_RUN loop, 64-bit, no irqchip: CPU" "$(us bare.long.cpuper)"
	row "bare KVM_RUN loop, 64-bit, no irqchip: wall" "$(us bare.long.per)"
	row "bare KVM_RUN loop, 64-bit, irqchip+PIT: CPU" "$(us bare.irq.cpuper)"
	row "bare KVM_RUN loop, 64-bit, irqchip+PIT: wall" "$(us bare.irq.per)"
	echo "  Ratios: per round (same round, same host load), median [min..max] over rounds"
	row "isola/bare (no irqchip), unclaimed: CPU" "$(rratio io.unclaimed.cpuper bare.long.cpuper)"
	row "isola/bare (no irqchip), unclaimed: wall" "$(rratio io.unclaimed.per bare.long.per)"
	row "isola/bare (no irqchip), UART scratch: CPU" "$(rratio io.scr.cpuper bare.long.cpuper)"
	row "isola/bare (no irqchip), UART scratch: wall" "$(rratio io.scr.per bare.long.per)"
	row "isola/bare (irqchip+PIT), unclaimed: CPU" "$(rratio io.unclaimed.cpuper bare.irq.cpuper)"
	row "isola/bare (irqchip+PIT), UART scratch: CPU" "$(rratio io.scr.cpuper bare.irq.cpuper)"
	if [ -n "$QEMU" ]; then
		row "QEMU microvm -accel kvm, real mode: CPU" "$(us qemu.cpuper)"
		row "QEMU microvm -accel kvm, real mode: wall" "$(us qemu.per)"
		row "bare KVM_RUN loop, real mode, no irqchip: CPU" "$(us bare.real.cpuper)"
		row "bare KVM_RUN loop, real mode, no irqchip: wall" "$(us bare.real.per)"
		row "QEMU/bare (real mode): CPU" "$(rratio qemu.cpuper bare.real.cpuper)"
		row "QEMU/bare (real mode): wall" "$(rratio qemu.per bare.real.per)"
	else
		echo "  QEMU peer: not run (no qemu-system-x86_64)"
	fi
}

report | tee "$BO/results.txt"
echo "(saved to $BO/results.txt)"

if [ "$WRITE" = 1 ]; then
	md_results_block BENCHMARKS.md "bench/run.sh foundation" "$BO/results.txt" ||
		die "BENCHMARKS.md has no bench/run.sh foundation results markers; not written"
	echo "(results written into BENCHMARKS.md)"
fi
