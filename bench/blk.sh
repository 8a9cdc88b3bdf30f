#!/bin/bash
# virtio-blk device-path throughput: isola's virtio-blk (kvm and soft back
# ends) against the host doing the same I/O on the same file with the same
# cache mode, in the same run. Method and meaning: BENCHMARKS.md, section
# "virtio-blk: device-path throughput".
#
# The guest is tests/guests/virtio_blk.c with bench=1: a polling driver that
# keeps DEPTH requests in flight, never touches the data, and times itself
# with RDTSC from the first request to the last completion (VM start-up is
# not counted). Its peers, timed the same way (first request to last
# completion, the final flush included for writes):
#  - host: bench/blkhost.c, the same requests (sizes, offsets, order) with
#    DEPTH threads doing pread/pwrite, as isola's block workers do;
#  - dd: GNU dd, one request in flight (sequential only).
# Loads: seqread, seqwrite (1 MiB requests), randread (4 KiB), all DEPTH in
# flight, and randread1: the 4 KiB random reads one at a time.
# cache=none: O_DIRECT on every side (isola opens the image with O_DIRECT;
# blkhost O_DIRECT; dd iflag/oflag=direct). cache=writeback: the page cache on
# every side; before every read run the image's pages are dropped from the
# page cache (dd iflag=nocache count=0: posix_fadvise DONTNEED on this file
# only, not a global drop_caches), so reads come from the disk; writes end
# with a flush (the guest's FLUSH = fdatasync; blkhost fdatasync; dd
# conv=fdatasync).
#
# Usage: bench/blk.sh
# Environment: BUILD (default build; isola and the guests built there),
# BLK_ROUNDS (interleaved rounds, default 5), BLK_ACCELS (default "kvm soft"),
# BLK_CACHES (default "none writeback"), BLK_OPS (default "seqread seqwrite
# randread randread1"), BLK_DEPTH (requests in flight,
# default 8), BLK_SEQ_MIB (MiB per sequential run, default 256),
# BLK_RAND_REQS (4 KiB random reads per run, default 5000), BLK_IMG_MIB (image
# size, default 512), BLK_DIR (where the image goes, default /var/tmp: it must
# be a real disk filesystem with O_DIRECT), BLK_ISOLA_BASE (a second isola
# binary, e.g. an older build, run interleaved as "<accel>-base" for a
# before/after comparison).
set -u
. "$(dirname "$0")/lib/stats.sh" || exit 1

BUILD=${BUILD:-build}
ROUNDS=${BLK_ROUNDS:-5}
ACCELS=${BLK_ACCELS:-kvm soft}
CACHES=${BLK_CACHES:-none writeback}
DEPTH=${BLK_DEPTH:-8}
SEQ_MIB=${BLK_SEQ_MIB:-256}
RAND_REQS=${BLK_RAND_REQS:-5000}
IMG_MIB=${BLK_IMG_MIB:-512}
OPS=${BLK_OPS:-seqread seqwrite randread randread1}
DIR=${BLK_DIR:-/var/tmp}
BASE_ISOLA=${BLK_ISOLA_BASE:-}

cd "$(dirname "$0")/.." || exit 1
ISOLA=$BUILD/isola
ELF=$BUILD/guests/virtio_blk.elf
BO=$BUILD/bench
die() { echo "bench/blk: $*" >&2; exit 1; }

[ -x "$ISOLA" ] || die "$ISOLA not built (make BUILD=$BUILD)"
[ -f "$ELF" ] || die "$ELF not built (make BUILD=$BUILD guests)"
[ -z "$BASE_ISOLA" ] || [ -x "$BASE_ISOLA" ] || die "BLK_ISOLA_BASE=$BASE_ISOLA is not executable"
grep -q __asan_init "$ISOLA" 2>/dev/null && die "$ISOLA is an ASan build: not a benchmark"
case "$ROUNDS$DEPTH$SEQ_MIB$RAND_REQS$IMG_MIB" in
*[!0-9]*) die "BLK_ROUNDS, BLK_DEPTH, BLK_SEQ_MIB, BLK_RAND_REQS, BLK_IMG_MIB are numbers" ;;
esac
for op in $OPS; do
	case $op in seqread|seqwrite|randread|randread1) ;; *) die "BLK_OPS: unknown load '$op'" ;; esac
done
[ "$SEQ_MIB" -le "$IMG_MIB" ] || die "BLK_SEQ_MIB must not exceed BLK_IMG_MIB"
[ "$DEPTH" -ge 1 ] && [ "$DEPTH" -le 16 ] || die "BLK_DEPTH is 1..16 (the guest's limit)"
mkdir -p "$BO" || exit 1
for t in blkhost boot/tsckhz; do
	if [ ! -x "$BO/$t" ] || [ "bench/$t.c" -nt "$BO/$t" ]; then
		mkdir -p "$(dirname "$BO/$t")"
		cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -pthread -o "$BO/$t" "bench/$t.c" ||
			die "building bench/$t.c failed"
	fi
done
TSC_KHZ=$("$BO/boot/tsckhz") || die "cannot measure the host's TSC rate"

TMP=$(mktemp -d "$DIR/isola-blkbench.XXXXXX") || die "cannot make a directory in $DIR"
trap 'rm -rf "$TMP"' EXIT
IMG=$TMP/disk.img
RES=$TMP/results # lines: <cache>.<op>.<who> <MB/s or IOPS>
: >"$RES"
# Written through, so every read hits allocated blocks (a fresh fallocate'd
# file reads as zeros without touching the disk).
dd if=/dev/zero of="$IMG" bs=1M count="$IMG_MIB" oflag=direct conv=fsync status=none ||
	die "cannot write the $IMG_MIB MiB image in $DIR (O_DIRECT needed)"

# randread1: the same random reads one at a time, where the cost of each
# request's round trip (notification, completion) is not hidden by others.
op_num() { case $1 in seqread) echo 0 ;; seqwrite) echo 1 ;; randread*) echo 2 ;; esac; }
op_bs() { case $1 in randread*) echo 4096 ;; *) echo $((1 << 20)) ;; esac; }
op_bytes() { case $1 in randread*) echo $((RAND_REQS * 4096)) ;; *) echo $((SEQ_MIB << 20)) ;; esac; }
op_depth() { case $1 in randread1) echo 1 ;; *) echo "$DEPTH" ;; esac; }
# figure BYTES NS OP: MB/s (10^6 bytes per second) for sequential, IOPS for random.
figure() {
	awk -v b="$1" -v ns="$2" -v op="$3" 'BEGIN {
		if (op ~ /^randread/) printf "%.0f", b / 4096 / (ns / 1e9);
		else printf "%.1f", b / 1e6 / (ns / 1e9) }'
}
drop_cache() { [ "$1" = writeback ] && dd if="$IMG" iflag=nocache count=0 status=none; }

# run_isola BINARY ACCEL CACHE OP WHO
run_isola() {
	local bin=$1 accel=$2 cache=$3 op=$4 who=$5 line ticks khz bytes
	drop_cache "$cache"
	timeout -k 5 600 "$bin" run --accel "$accel" --kernel "$ELF" \
		--disk "path=$IMG,cache=$cache" \
		--cmdline "bench=1 op=$(op_num "$op") bs=$(op_bs "$op") depth=$(op_depth "$op") bytes=$(op_bytes "$op") tsc_khz=$TSC_KHZ" \
		</dev/null >"$TMP/out" 2>"$TMP/err"
	line=$(tr -d '\r' <"$TMP/out" | grep -m1 '^bench op=')
	if [ -z "$line" ] || ! grep -q '^PASS' "$TMP/out"; then
		tail -n 5 "$TMP/out" "$TMP/err" >&2
		die "$who $cache $op: the guest did not finish"
	fi
	ticks=${line##*ticks=}; ticks=${ticks%% *}
	khz=${line##*tsc_khz=}; khz=${khz%% *}
	bytes=${line##*bytes=}; bytes=${bytes%% *}
	[ "$khz" -gt 0 ] || die "the guest knows no TSC rate"
	echo "$cache.$op.$who $(figure "$bytes" "$(awk -v t="$ticks" -v k="$khz" 'BEGIN { printf "%.0f", t / k * 1e6 }')" "$op")" >>"$RES"
}

run_host() {
	local cache=$1 op=$2 line ns bytes direct=0
	[ "$cache" = none ] && direct=1
	drop_cache "$cache"
	line=$("$BO/blkhost" "$IMG" "$(op_num "$op")" "$(op_bs "$op")" "$(op_depth "$op")" "$(op_bytes "$op")" \
		$direct) || die "blkhost $cache $op failed"
	ns=${line##*ns=}
	bytes=${line##*bytes=}; bytes=${bytes%% *}
	echo "$cache.$op.host $(figure "$bytes" "$ns" "$op")" >>"$RES"
}

run_dd() {
	local cache=$1 op=$2 flag= s
	drop_cache "$cache"
	if [ "$op" = seqread ]; then
		[ "$cache" = none ] && flag=iflag=direct
		s=$(LC_ALL=C dd if="$IMG" of=/dev/null bs=1M count="$SEQ_MIB" $flag 2>&1)
	else
		[ "$cache" = none ] && flag=oflag=direct
		s=$(LC_ALL=C dd if=/dev/zero of="$IMG" bs=1M count="$SEQ_MIB" $flag \
			conv=fdatasync,notrunc 2>&1)
	fi
	s=$(echo "$s" | sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p')
	[ -n "$s" ] || die "dd $cache $op: no timing in its output"
	echo "$cache.$op.dd $(figure $((SEQ_MIB << 20)) "$(awk -v s="$s" 'BEGIN { printf "%.0f", s * 1e9 }')" "$op")" >>"$RES"
}

WHO=
for a in $ACCELS; do
	WHO="$WHO $a"
	[ -n "$BASE_ISOLA" ] && WHO="$WHO $a-base"
done
echo "bench/blk: $ROUNDS rounds, depth $DEPTH, ${SEQ_MIB} MiB sequential, $RAND_REQS x 4 KiB random," \
	"${IMG_MIB} MiB image in $DIR ($(df -T "$DIR" | awk 'NR == 2 { print $2 " on " $1 }'))"
echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), TSC $TSC_KHZ kHz, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# run_peer WHO CACHE OP
run_peer() {
	case $1 in
	host) run_host "$2" "$3" ;;
	dd) case $3 in seq*) run_dd "$2" "$3" ;; esac ;;
	*-base) run_isola "$BASE_ISOLA" "${1%-base}" "$2" "$3" "$1" ;;
	*) run_isola "$ISOLA" "$1" "$2" "$3" "$1" ;;
	esac
}
# Round r starts with the r-th peer: whoever runs first after a change of
# load (e.g. the first reader after the disk absorbed a write phase) is a
# different peer each round.
PEERS=($WHO host dd)
for r in $(seq 1 "$ROUNDS"); do
	for c in $CACHES; do
		for op in $OPS; do
			for i in "${!PEERS[@]}"; do
				run_peer "${PEERS[$(((i + r - 1) % ${#PEERS[@]}))]}" "$c" "$op"
			done
		done
	done
	echo "round $r done ($(date -u +%H:%M:%S))" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# med KEY: "median [min..max]" of the values under KEY, "-" if none; medv
# KEY: the median, nothing if none (bench/lib/stats.sh).
medv() { stats_summary "$RES" "$1" | awk '$4 { print $1 }'; }
med() { stats_summary "$RES" "$1" | awk '{ print $4 ? $1 " [" $2 ".." $3 "]" : "-" }'; }
for c in $CACHES; do
	echo
	echo "cache=$c: medians [min..max] of $ROUNDS rounds; MB/s (sequential, 1 MiB requests), IOPS (4 KiB random; randread1: one in flight)"
	printf '%-9s' op
	for w in $WHO host dd; do printf ' %-22s' "$w"; done
	for w in $WHO; do printf ' %-10s' "$w/host"; done
	echo
	for op in $OPS; do
		printf '%-9s' "$op"
		for w in $WHO host dd; do printf ' %-22s' "$(med "$c.$op.$w")"; done
		h=$(medv "$c.$op.host")
		for w in $WHO; do
			printf ' %-10s' "$(awk -v i="$(medv "$c.$op.$w")" -v h="$h" 'BEGIN { printf "%.2f", i / h }')"
		done
		echo
	done
done
