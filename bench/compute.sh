#!/bin/bash
# Compute-bound guest code on isola's soft CPU against QEMU TCG: the
# bench/guests/compute.c guest (bitwise CRC-32, table CRC-32, heap sort; no
# I/O, no interrupts) on `isola run --accel soft` and on
# `qemu-system-x86_64 -accel tcg`, side by side in one run. Method and
# meaning: BENCHMARKS.md, section "Compute-bound guest code: soft CPU against
# QEMU TCG".
#
# Usage: bench/compute.sh [--write]
#   --write   also replace the results block of that section in BENCHMARKS.md
# Environment:
#   BUILD                   isola's build directory (default build; isola built there)
#   COMPUTE_BENCH_REPS      interleaved rounds (default 5)
#   COMPUTE_BENCH_WORK      the guest's reps=N: bitwise CRC of 1 MiB N times, table
#                           CRC 8N times, heap sort of 256 Ki values N times (default 2)
#   COMPUTE_BENCH_QEMU      QEMU binary (default qemu-system-x86_64)
#   COMPUTE_BENCH_TIMEOUT   seconds one run may take before it is killed (default 300)
#   COMPUTE_BENCH_BASELINE  another isola binary (e.g. an older build) to run as a
#                           third peer in every round: before/after figures of a change
#
# A round runs isola, then QEMU, each once over all three workloads; figures
# are median [min..max] over rounds, ratios are taken per round. Each
# workload is timed from outside by bench/boot/stamp, from the read that
# brought its "BEGIN <name>" line to the one that brought "END <name>", in
# wall time and in the process's CPU time (all threads) between the two; the
# result on the END line is checked against the host's computation. Guest
# instructions per workload are counted once, before the rounds, on isola
# (ISOLA_SOFT_STATS: instructions retired at exit) with only=<name> minus a
# run with only=none (the guest's set-up alone); both CPUs run the same
# instructions, so instructions / median time is each one's rate.
set -u
. "$(dirname "$0")/lib/report.sh" || exit 1

BUILD=${BUILD:-build}
REPS=${COMPUTE_BENCH_REPS:-5}
WORK=${COMPUTE_BENCH_WORK:-2}
QEMU=${COMPUTE_BENCH_QEMU:-qemu-system-x86_64}
LIMIT=${COMPUTE_BENCH_TIMEOUT:-300}
BASELINE=${COMPUTE_BENCH_BASELINE:-}
WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1

cd "$(dirname "$0")/.." || exit 1
ISOLA=$BUILD/isola
BO=$BUILD/bench/boot
GUEST=$BUILD/bench/guests/compute.elf
NAMES=(crc-bit crc-table sort)

die() { echo "compute bench: $*" >&2; exit 1; }

[ -x "$ISOLA" ] || die "$ISOLA not built (make BUILD=$BUILD isola)"
command -v "$QEMU" >/dev/null || die "$QEMU not found"
command -v python3 >/dev/null || die "python3 not found (it computes the expected results)"
grep -q __asan_init "$ISOLA" 2>/dev/null && die "$ISOLA is an ASan build: not a benchmark"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "COMPUTE_BENCH_BASELINE=$BASELINE: no such program"
case "$REPS$WORK" in *[!0-9]*) die "COMPUTE_BENCH_REPS and COMPUTE_BENCH_WORK are numbers" ;; esac
make -s -f bench/bench.mk BUILD="$BUILD" "$GUEST" "$BO/stamp" >/dev/null ||
	die "building $GUEST or $BO/stamp failed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/isola-computebench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
RES=$TMP/results
: >"$RES"
RUNS=$BUILD/bench/compute-runs.txt
: >"$RUNS"
FAILS=$TMP/fails
: >"$FAILS"

# The expected results: the guest's xorshift32 and workloads, in Python.
read -r WANT_BIT WANT_TABLE WANT_SORT < <(python3 - "$WORK" <<'PY'
import sys, zlib
reps = int(sys.argv[1])
s = 1
def xs():
    global s
    x = s
    x ^= (x << 13) & 0xffffffff
    x ^= x >> 17
    x ^= (x << 5) & 0xffffffff
    s = x
    return x
buf = bytes(xs() & 0xff for _ in range(1 << 20))
crc_bit = zlib.crc32(buf * reps)
crc_table = zlib.crc32(buf * (8 * reps))
total = 0
for r in range(reps):
    v = sorted(xs() for _ in range(1 << 18))
    total += sum((i + 1) * x for i, x in enumerate(v))
print("%08x %08x %016x" % (crc_bit, crc_table, total % (1 << 64)))
PY
) || die "computing the expected results failed"
declare -A WANT=([crc-bit]=$WANT_BIT [crc-table]=$WANT_TABLE [sort]=$WANT_SORT)

QEMU_ARGS=(-accel tcg -M microvm -cpu qemu64 -smp 1 -nodefaults -no-user-config -nographic
	   -serial stdio -m 64M -device isa-debug-exit,iobase=0x501,iosize=1 -kernel "$GUEST")
isola_cmd() { echo "${1:-$ISOLA}" run --accel soft --cpus 1 --memory 64M --kernel "$GUEST"; }

# The guest's exit: debug-exit with 0 is status 1 on both (isola and QEMU
# report (v << 1) | 1).
marks=()
for n in "${NAMES[@]}"; do marks+=(-m "BEGIN $n" -m "END $n"); done

# run KEY ENGINE: one timed run; KEY.<workload> figures in microseconds.
run() {
	local key=$1 engine=$2 line
	if [ "$engine" = isola ] || [ "$engine" = base ]; then
		local bin=$ISOLA
		[ "$engine" = base ] && bin=$BASELINE
		# shellcheck disable=SC2046
		line=$("$BO/stamp" -o "$TMP/out" -e "$TMP/err" -t "$LIMIT" "${marks[@]}" -- \
			$(isola_cmd "$bin") --cmdline "reps=$WORK")
	else
		line=$("$BO/stamp" -o "$TMP/out" -e "$TMP/err" -t "$LIMIT" "${marks[@]}" -- \
			"$QEMU" "${QEMU_ARGS[@]}" -append "reps=$WORK")
	fi || die "stamp failed for $key"
	echo "$key $line" >>"$RUNS"
	local -A f
	local kv why= i=1 n got
	for kv in $line; do f[${kv%%=*}]=${kv#*=}; done
	[ "${f[timed_out]}" = 1 ] && why="killed after ${LIMIT}s"
	[ -z "$why" ] && [ "${f[status]}" != 1 ] && why="exit status ${f[status]}"
	for n in "${NAMES[@]}"; do
		got=$(tr -d '\r' <"$TMP/out" | sed -n "s/^END $n \([0-9a-f]*\).*/\1/p")
		[ -z "$why" ] && [ "$got" != "${WANT[$n]}" ] &&
			why="$n: result '$got', want ${WANT[$n]}"
	done
	[ -z "$why" ] && ! tr -d '\r' <"$TMP/out" | grep -qx PASS && why="no PASS"
	[ -z "$why" ] && for j in $(seq 2 $((2 * ${#NAMES[@]}))); do
		awk -v a="${f[mark$((j - 1))_cpu_us]}" -v b="${f[mark${j}_cpu_us]}" \
			'BEGIN { exit !(a < 0 || b < a) }' &&
			why="CPU time at marker $j unknown or lower than before"
	done
	if [ -n "$why" ]; then
		echo "$key: $why; last output: $(tail -n 2 "$TMP/out" | tr -d '\r' | tr '\n' '|' |
			cut -c1-160)" >>"$FAILS"
		echo "  $key FAILED: $why" >&2
		return
	fi
	{
		for n in "${NAMES[@]}"; do
			echo "$key.$n $(awk -v b="${f[mark${i}_us]}" -v e="${f[mark$((i + 1))_us]}" \
				'BEGIN { print e - b }')"
			echo "$key.$n.cpu $(awk -v b="${f[mark${i}_cpu_us]}" \
				-v e="${f[mark$((i + 1))_cpu_us]}" 'BEGIN { print e - b }')"
			i=$((i + 2))
		done
		echo "$key.cpu $(awk -v u="${f[user_us]}" -v s="${f[sys_us]}" 'BEGIN { print u + s }')"
		echo "$key.exit ${f[exit_us]}"
	} >>"$RES"
	echo "  $key: $(for n in "${NAMES[@]}"; do awk -v n="$n" -v k="$key.$n" \
		'$1 == k { v = $2 } END { printf "%s %.2f s  ", n, v / 1e6 }' "$RES"; done)" >&2
}

# Instructions per workload (isola's count; the same program on both).
count() {
	ISOLA_SOFT_STATS=1 timeout "$LIMIT" $(isola_cmd) --cmdline "reps=$WORK only=$1" \
		</dev/null 2>&1 >/dev/null |
		sed -n 's/^isola: soft vCPU 0: \([0-9]*\) instructions retired$/\1/p'
}
echo "isola compute benchmark: soft CPU vs QEMU TCG, $REPS interleaved rounds, reps=$WORK" >&2
START=$(date +%s)
BASE_INSNS=$(count none)
[ -n "$BASE_INSNS" ] || die "no instruction count from ISOLA_SOFT_STATS"
declare -A INSNS
for n in "${NAMES[@]}"; do
	c=$(count "$n")
	[ -n "$c" ] || die "no instruction count for $n"
	INSNS[$n]=$((c - BASE_INSNS))
	echo "  $n: ${INSNS[$n]} guest instructions" >&2
done

LOADS=$TMP/loads
cut -d' ' -f1 /proc/loadavg >"$LOADS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$REPS"); do
	echo "  round $r/$REPS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	run isola isola
	cut -d' ' -f1 /proc/loadavg >>"$LOADS"
	run qemu qemu
	[ -n "$BASELINE" ] && run base base
done
ELAPSED=$(($(date +%s) - START))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# stats KEY: "median min max n"; rratio A B: A/B per round, median [min..max]
# (bench/lib/stats.sh).
stats() { stats_summary "$RES" "$1"; }
rratio() { stats_round_ratio "$RES" "$1" "$2" '%6.2f  [%.2f..%.2f]' "$REPS"; }
sec() { stats "$1" | awk '{ printf "%7.3f s [%.3f..%.3f]", $1 / 1e6, $2 / 1e6, $3 / 1e6 }'; }
# mips KEY INSNS: million guest instructions per second at the median time.
mips() { stats "$1" | awk -v n="$2" '{ printf "%8.1f M/s", ($1 > 0 ? n / $1 : 0) }'; }
row() { printf '  %-26s %-26s %-26s %s\n' "$1" "$2" "$3" "$4"; }

report() {
	local cpu kern lo hi n
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	kern=$(uname -r)
	read -r lo hi < <(sort -g "$LOADS" | awk '{ v[++n] = $1 } END { print v[1], v[n] }')
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Host: Linux $kern, $cpu, $(nproc) CPUs"
	echo "isola: $(git describe --always --dirty 2>/dev/null || echo '?'), --accel soft;" \
		"QEMU: $("$QEMU" --version | head -1 | sed 's/QEMU emulator version //')," \
		"TCG (-M microvm -cpu qemu64)"
	echo "Guest: bench/guests/compute.c, reps=$WORK: CRC-32 of 1 MiB x $WORK bitwise," \
		"x $((8 * WORK)) by table; heap sort of 256 Ki values x $WORK"
	echo "$REPS interleaved rounds, ${ELAPSED}s in all. Load average (1 min) during the run:" \
		"$lo..$hi; before/after (1, 5, 15 min): $LOAD_BEFORE / $LOAD_AFTER"
	echo "Times: median [min..max] over rounds, BEGIN to END line (wall, and CPU time of all"
	echo "the process's threads); ratios per round. Rates: guest instructions (isola's count;"
	echo "the same program runs on both) / median CPU time."
	echo
	row "" "isola --accel soft" "QEMU TCG" "isola/QEMU"
	for n in "${NAMES[@]}"; do
		row "$n: time" "$(sec "isola.$n")" "$(sec "qemu.$n")" \
			"$(rratio "isola.$n" "qemu.$n")"
		row "$n: CPU time" "$(sec "isola.$n.cpu")" "$(sec "qemu.$n.cpu")" \
			"$(rratio "isola.$n.cpu" "qemu.$n.cpu")"
		row "$n: instructions/CPU s" "$(mips "isola.$n.cpu" "${INSNS[$n]}")" \
			"$(mips "qemu.$n.cpu" "${INSNS[$n]}")" \
			"($(awk -v n="${INSNS[$n]}" 'BEGIN { printf "%.1f", n / 1e6 }') M instructions)"
	done
	row "whole run: CPU time" "$(sec isola.cpu)" "$(sec qemu.cpu)" "$(rratio isola.cpu qemu.cpu)"
	row "whole run: spawn to exit" "$(sec isola.exit)" "$(sec qemu.exit)" \
		"$(rratio isola.exit qemu.exit)"
	if [ -n "$BASELINE" ]; then
		echo
		echo "Baseline: $BASELINE, in the same rounds"
		row "" "baseline isola" "isola/baseline" ""
		for n in "${NAMES[@]}"; do
			row "$n: CPU time" "$(sec "base.$n.cpu")" "$(rratio "isola.$n.cpu" "base.$n.cpu")" \
				"$(mips "base.$n.cpu" "${INSNS[$n]}")"
		done
	fi
	report_failed_runs "$FAILS"
}

report_publish "$BUILD/bench/compute-results.txt" bench/compute.sh "$WRITE" \
	"; every run's raw line in $RUNS" ||
	die "BENCHMARKS.md has no bench/compute.sh results markers; not written"
