#!/bin/bash
# Linux boot on isola's soft CPU against QEMU TCG: the guest kit's Debian
# kernel, initrd and command line booted to /init's marker on
# `isola run --accel soft` and on `qemu-system-x86_64 -accel tcg -M microvm`,
# then a guest workload (sha256sum of a file made in tmpfs) on both. Method
# and meaning: BENCHMARKS.md, section "Linux boot: soft CPU against QEMU TCG".
#
# Usage: bench/boot.sh [--write]
#   --write   also replace the results block of that section in BENCHMARKS.md
# Environment:
#   BUILD                 isola's build directory (default build; isola built there)
#   BOOT_BENCH_KIT        guest kit (default $BUILD/guestkit; tools/guestkit/build.sh)
#   BOOT_BENCH_REPS       interleaved rounds (default 5)
#   BOOT_BENCH_WORK_MIB   size of the workload's file in MiB (default 8)
#   BOOT_BENCH_QEMU       QEMU binary (default qemu-system-x86_64)
#   BOOT_BENCH_TIMEOUT    seconds one run may take before it is killed (default 600)
#
# One round runs each of the four configurations once (isola boot, QEMU
# boot, isola workload, QEMU workload), so slow drifts of the shared host hit
# all alike; figures are median [min..max] over rounds, ratios are taken per
# round. Runs are timed from outside by bench/boot/stamp (bench/spawn.c with
# several markers and a time limit); nothing in isola or QEMU is instrumented.
set -u
. "$(dirname "$0")/lib/report.sh" || exit 1

BUILD=${BUILD:-build}
KIT=${BOOT_BENCH_KIT:-$BUILD/guestkit}
REPS=${BOOT_BENCH_REPS:-5}
MIB=${BOOT_BENCH_WORK_MIB:-8}
QEMU=${BOOT_BENCH_QEMU:-qemu-system-x86_64}
LIMIT=${BOOT_BENCH_TIMEOUT:-600}
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1

cd "$(dirname "$0")/.." || exit 1
ISOLA=$BUILD/isola
BO=$BUILD/bench/boot

die() { echo "boot bench: $*" >&2; exit 1; }

[ -x "$ISOLA" ] || die "$ISOLA not built (make BUILD=$BUILD isola)"
[ -f "$KIT/vmlinuz" ] && [ -f "$KIT/initrd.img" ] ||
	die "no guest kit in $KIT (tools/guestkit/build.sh $KIT)"
command -v "$QEMU" >/dev/null || die "$QEMU not found"
grep -q __asan_init "$ISOLA" 2>/dev/null && die "$ISOLA is an ASan build: not a benchmark"
case "$REPS$MIB" in *[!0-9]*) die "BOOT_BENCH_REPS and BOOT_BENCH_WORK_MIB are numbers" ;; esac
mkdir -p "$BO" || exit 1
make -s -f bench/bench.mk BUILD="$BUILD" "$BO/stamp" "$BO/tsckhz" >/dev/null ||
	die "building bench/boot/stamp.c and tsckhz.c failed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/isola-bootbench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
RES=$TMP/results  # lines: <key> <value>, one per run and figure, in round order
: >"$RES"
# stats KEY: "median min max n" of the values under KEY; rratio A B: A/B
# per round, median [min..max], "n/a" if a run failed (bench/lib/stats.sh).
stats() { stats_summary "$RES" "$1"; }
rratio() { stats_round_ratio "$RES" "$1" "$2" '%6.2f  [%.2f..%.2f]' "$REPS"; }
RUNS=$BO/runs.txt # every run's stamp line, for a look afterwards
: >"$RUNS"

# The guest: the same kernel, initrd and command line on both, except that
# QEMU's guest is told its TSC rate. QEMU's TCG TSC is the host's
# (cpu_get_host_ticks), and Linux's PIT calibration on a slow CPU can hang
# the boot (DESIGN.md; we saw it hang 2 of 4 trial boots under load here).
# isola's soft CPU reports its TSC rate in CPUID 0x15/0x16/0x40000010, so its
# guest never calibrates and needs no parameter.
TSC_KHZ=$("$BO/tsckhz") || die "cannot measure the host's TSC rate"
BASE="console=ttyS0 panic=-1"
QEMU_EXTRA="tsc_early_khz=$TSC_KHZ"
BOOT_CMD='true'
# dd from /dev/zero into tmpfs, then sha256sum: integer work in busybox's
# generic SHA-256 (neither CPU model offers SHA-NI), checked against the
# host's hash, so a wrong answer cannot pass for a fast one.
WORK_CMD="dd if=/dev/zero of=/tmp/f bs=1M count=$MIB 2>/dev/null; echo BENCH-FILE-MADE; sha256sum /tmp/f"
WANT_SUM=$(head -c "$((MIB << 20))" /dev/zero | sha256sum | cut -d' ' -f1)
cmdline() { printf '%s isola.cmd64=%s' "$BASE" "$(printf '%s' "$1" | base64 -w0)"; }
BOOT_LINE=$(cmdline "$BOOT_CMD")
WORK_LINE=$(cmdline "$WORK_CMD")

QEMU_ARGS=(-accel tcg -M microvm -cpu qemu64 -smp 1 -nodefaults -no-user-config -nographic
	   -serial stdio -m 256M -kernel "$KIT/vmlinuz" -initrd "$KIT/initrd.img")

FAILS=$TMP/fails
: >"$FAILS"
# run KEY ENGINE KIND: one timed run of ENGINE (isola|qemu) on KIND (boot|work).
# Appends KEY.<figure> values to the results; a run that fails (no marker,
# a non-zero status, a wrong hash, the time limit) is recorded in FAILS and
# leaves no figures.
run() {
	local key=$1 engine=$2 kind=$3 line
	local ml=$BOOT_LINE marks=(-m ISOLA-BOOT-OK -m "ISOLA-CMD-EXIT status=0")
	[ "$kind" = work ] && { ml=$WORK_LINE; marks+=(-m BENCH-FILE-MADE -m "$WANT_SUM"); }
	if [ "$engine" = isola ]; then
		line=$("$BO/stamp" -o "$TMP/out" -e "$TMP/err" -t "$LIMIT" "${marks[@]}" -- \
			"$ISOLA" run --accel soft --cpus 1 --memory 256M --kernel "$KIT/vmlinuz" \
			--initrd "$KIT/initrd.img" --cmdline "$ml")
	else
		line=$("$BO/stamp" -o "$TMP/out" -e "$TMP/err" -t "$LIMIT" "${marks[@]}" -- \
			"$QEMU" "${QEMU_ARGS[@]}" -append "$ml $QEMU_EXTRA")
	fi || die "stamp failed for $key"
	echo "$key $line" >>"$RUNS"
	local -A f
	local kv
	for kv in $line; do f[${kv%%=*}]=${kv#*=}; done
	local why=
	[ "${f[timed_out]}" = 1 ] && why="killed after ${LIMIT}s"
	[ -z "$why" ] && [ "${f[status]}" != 0 ] && why="exit status ${f[status]}"
	[ -z "$why" ] && [ "${f[mark1_us]%%.*}" = -1 ] && why="no ISOLA-BOOT-OK"
	[ -z "$why" ] && [ "${f[mark2_us]%%.*}" = -1 ] && why="no ISOLA-CMD-EXIT status=0"
	[ -z "$why" ] && [ "$kind" = work ] && [ "${f[mark4_us]%%.*}" = -1 ] &&
		why="no BENCH-FILE-MADE or a wrong sha256"
	if [ -n "$why" ]; then
		echo "$key: $why; last output: $(tail -n 2 "$TMP/out" | tr -d '\r' | tr '\n' '|' |
			cut -c1-160)" >>"$FAILS"
		echo "  $key FAILED: $why" >&2
		return
	fi
	local up
	up=$(tr -d '\r' <"$TMP/out" | sed -n 's/^ISOLA-BOOT-OK uptime=\([0-9.]*\).*/\1/p' | head -1)
	{
		echo "$key.marker ${f[mark1_us]}"
		echo "$key.exit ${f[exit_us]}"
		echo "$key.rss ${f[maxrss_kb]}"
		echo "$key.cpu $(awk -v u="${f[user_us]}" -v s="${f[sys_us]}" 'BEGIN { print u + s }')"
		echo "$key.user ${f[user_us]}"
		echo "$key.sys ${f[sys_us]}"
		echo "$key.first ${f[first_byte_us]}"
		echo "$key.uptime ${up:-nan}"
		if [ "$kind" = work ]; then
			awk -v b="${f[mark1_us]}" -v e="${f[mark2_us]}" -v m="${f[mark3_us]}" \
			    -v s="${f[mark4_us]}" -v k="$key" 'BEGIN {
				print k ".work", e - b; print k ".dd", m - b; print k ".sha", s - m }'
		fi
	} >>"$RES"
	echo "  $key: marker $(awk -v v="${f[mark1_us]}" 'BEGIN { printf "%.2f", v / 1e6 }') s," \
		"exit $(awk -v v="${f[exit_us]}" 'BEGIN { printf "%.2f", v / 1e6 }') s" >&2
}

LOADS=$TMP/loads
cut -d' ' -f1 /proc/loadavg >"$LOADS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "isola boot benchmark: soft CPU vs QEMU TCG, $REPS interleaved rounds," \
	"workload sha256sum of $MIB MiB" >&2
START=$(date +%s)
for r in $(seq 1 "$REPS"); do
	echo "  round $r/$REPS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	run isola.boot isola boot
	cut -d' ' -f1 /proc/loadavg >>"$LOADS"
	run qemu.boot qemu boot
	run isola.work isola work
	cut -d' ' -f1 /proc/loadavg >>"$LOADS"
	run qemu.work qemu work
done
ELAPSED=$(($(date +%s) - START))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

sec() { stats "$1" | awk '{ printf "%7.2f s [%.2f..%.2f]", $1 / 1e6, $2 / 1e6, $3 / 1e6 }'; }
mib() { stats "$1" | awk '{ printf "%7.1f MiB [%.1f..%.1f]", $1 / 1024, $2 / 1024, $3 / 1024 }'; }
raw() { stats "$1" | awk '{ printf "%7.2f s [%.2f..%.2f]", $1, $2, $3 }'; }
row() { printf '  %-34s %-28s %-28s %s\n' "$1" "$2" "$3" "$4"; }

report() {
	local cpu kern pvm="no" lo hi
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	kern=$(uname -r)
	[ -e /sys/module/kvm_pvm ] && pvm="yes (kvm_pvm; not used here: both run the guest in software)"
	read -r lo hi < <(sort -g "$LOADS" | awk '{ v[++n] = $1 } END { print v[1], v[n] }')
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Host: Linux $kern, $cpu, $(nproc) CPUs; PVM: $pvm"
	echo "isola: $(git describe --always --dirty 2>/dev/null || echo '?'), --accel soft;" \
		"QEMU: $("$QEMU" --version | head -1 | sed 's/QEMU emulator version //'), TCG"
	echo "Guest: $(sed -n 's/^kernel_release=//p' "$KIT/manifest.txt" 2>/dev/null)," \
		"guest-kit initrd ($(($(stat -c %s "$KIT/initrd.img") >> 10)) KiB), 1 vCPU, 256 MiB"
	echo "Command line: $BASE isola.cmd64=<base64 of the command>; QEMU's adds $QEMU_EXTRA"
	echo "  boot: '$BOOT_CMD'   workload: '$WORK_CMD'"
	echo "$REPS interleaved rounds, ${ELAPSED}s in all. Load average (1 min) during the run:" \
		"$lo..$hi; before/after (1, 5, 15 min): $LOAD_BEFORE / $LOAD_AFTER"
	echo "Every figure: median [min..max] over rounds; ratios per round (same round, same load)."
	echo
	row "" "isola --accel soft" "QEMU TCG microvm" "isola/QEMU"
	row "boot: spawn to ISOLA-BOOT-OK" "$(sec isola.boot.marker)" "$(sec qemu.boot.marker)" \
		"$(rratio isola.boot.marker qemu.boot.marker)"
	row "boot: spawn to process exit" "$(sec isola.boot.exit)" "$(sec qemu.boot.exit)" \
		"$(rratio isola.boot.exit qemu.boot.exit)"
	row "boot: CPU time (user+sys)" "$(sec isola.boot.cpu)" "$(sec qemu.boot.cpu)" \
		"$(rratio isola.boot.cpu qemu.boot.cpu)"
	row "boot: peak RSS" "$(mib isola.boot.rss)" "$(mib qemu.boot.rss)" \
		"$(rratio isola.boot.rss qemu.boot.rss)"
	row "boot: guest's uptime at the marker" "$(raw isola.boot.uptime)" "$(raw qemu.boot.uptime)" ""
	row "boot: spawn to first console byte" "$(sec isola.boot.first)" "$(sec qemu.boot.first)" ""
	row "work: marker to ISOLA-CMD-EXIT" "$(sec isola.work.work)" "$(sec qemu.work.work)" \
		"$(rratio isola.work.work qemu.work.work)"
	row "work: sha256sum of $MIB MiB alone" "$(sec isola.work.sha)" "$(sec qemu.work.sha)" \
		"$(rratio isola.work.sha qemu.work.sha)"
	row "work: dd of $MIB MiB into tmpfs" "$(sec isola.work.dd)" "$(sec qemu.work.dd)" \
		"$(rratio isola.work.dd qemu.work.dd)"
	row "work: CPU time of the whole run" "$(sec isola.work.cpu)" "$(sec qemu.work.cpu)" \
		"$(rratio isola.work.cpu qemu.work.cpu)"
	row "work: peak RSS" "$(mib isola.work.rss)" "$(mib qemu.work.rss)" \
		"$(rratio isola.work.rss qemu.work.rss)"
	echo "  CPU split, boot (user / sys): isola $(stats isola.boot.user | awk '{ printf "%.2f", $1 / 1e6 }')" \
		"/ $(stats isola.boot.sys | awk '{ printf "%.2f", $1 / 1e6 }') s," \
		"QEMU $(stats qemu.boot.user | awk '{ printf "%.2f", $1 / 1e6 }')" \
		"/ $(stats qemu.boot.sys | awk '{ printf "%.2f", $1 / 1e6 }') s"
	report_failed_runs "$FAILS"
}

report_publish "$BO/results.txt" bench/boot.sh "$WRITE" "; every run's raw line in $RUNS" ||
	die "BENCHMARKS.md has no bench/boot.sh results markers; not written"
