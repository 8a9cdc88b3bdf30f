#!/bin/bash
# The polling virtio-blk test guest (tests/guests/virtio_blk.c) on every back
# end: it reads an image the host filled with a per-sector pattern, writes
# another pattern over a range, FLUSHes and asks GET_ID; the host then checks
# the whole file (written range changed, the rest untouched) and the id. A
# second case gives it a read-only disk (writes must fail, the file must not
# change), a third cache=none. One PASS/FAIL/SKIP line per case.
#
# Environment: BUILD (default build), GUEST_ACCELS (default "kvm soft"),
# GUEST_TIMEOUT_SCALE (multiply the timeouts, default 1).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ISOLA=$BUILD/isola
ELF=$BUILD/guests/virtio_blk.elf
ACCELS=${GUEST_ACCELS:-kvm soft}
SCALE=${GUEST_TIMEOUT_SCALE:-1}
case $SCALE in ''|*[!0-9]*|0) SCALE=1 ;; esac
TIMEOUT=$((120 * SCALE))
S=virtio-blk-poll
SECTORS=4096          # 2 MiB: ~100k guest instructions to check on kvm over PVM
WSTART=1000 WCOUNT=77 # odd count: the last write request is partial
ID=blkpoll-serial-42

if [ ! -x "$ISOLA" ] || [ ! -f "$ELF" ]; then
	for a in $ACCELS; do echo "SKIP: $S/$a ($ISOLA or $ELF not built)"; done
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/isola-blkpoll.XXXXXX") || exit 0
trap 'rm -rf "$tmp"' EXIT

# make_image FILE: every sector s holds the 64 words PAT_A(s, i) of the guest.
make_image() {
	python3 - "$1" "$SECTORS" <<'EOF'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, 'wb') as f:
    for s in range(n):
        f.write(struct.pack('<64Q', *[0xa500000000000000 | s << 8 | i for i in range(64)]))
EOF
}

# check_image FILE WSTART WCOUNT: PAT_B in [WSTART, WSTART+WCOUNT), PAT_A
# elsewhere, every word; prints the first difference.
check_image() {
	python3 - "$1" "$SECTORS" "$2" "$3" <<'EOF'
import struct, sys
path, n, ws, wc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = open(path, 'rb').read()
if len(data) != n * 512:
    sys.exit(f'size {len(data)}, expected {n * 512}')
for s in range(n):
    tag = 0xb700000000000000 if ws <= s < ws + wc else 0xa500000000000000
    words = struct.unpack_from('<64Q', data, s * 512)
    for i, w in enumerate(words):
        if w != tag | s << 8 | i:
            sys.exit(f'sector {s} word {i}: {w:#x}, expected {tag | s << 8 | i:#x}')
EOF
}

dump() { { tail -n 5 "$1.out"; tail -n 3 "$1.err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300; }

# run_case NAME ACCEL DISKOPTS WSTART WCOUNT EXPECT_W: EXPECT_W is the range
# the file must show as written ("WSTART WCOUNT"), "0 0" for none.
run_case() {
	local name=$1 accel=$2 dopts=$3 ws=$4 wc=$5 ew=$6 id="$S/$1/$2" img=$tmp/$1-$2.img
	local out=$tmp/$1-$2 rc why=
	if [ "$accel" = kvm ] && { ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; }; then
		echo "SKIP: $id (no usable /dev/kvm)"
		return
	fi
	make_image "$img" || { echo "FAIL: $id (could not make the image)"; return; }
	timeout -k 5 "$TIMEOUT" "$ISOLA" run --accel "$accel" --kernel "$ELF" \
		--disk "path=$img,id=$ID$dopts" \
		--cmdline "sectors=$SECTORS wstart=$ws wcount=$wc" </dev/null >"$out.out" 2>"$out.err"
	rc=$?
	if [ $rc = 2 ] && grep -q 'not yet available\|--accel' "$out.err"; then
		echo "SKIP: $id ($(head -c 120 "$out.err"))"
		return
	fi
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		why="timed out after ${TIMEOUT}s"
	elif grep -aq '^FAIL' "$out.out"; then
		why="guest says $(grep -a -m1 '^FAIL' "$out.out" | tr -d '\r' | cut -c1-200)"
	elif [ $rc != 1 ] || ! grep -aq '^PASS' "$out.out"; then
		why="exit status $rc, no PASS: $(dump "$out")"
	elif ! grep -aq "^id: $ID" "$out.out"; then
		why="GET_ID answer is not '$ID': $(grep -a -m1 '^id:' "$out.out" | tr -d '\r')"
	elif ! why=$(check_image "$img" $ew 2>&1); then
		why="image after the run: $why"
	else
		why=
	fi
	if [ -n "$why" ]; then
		echo "FAIL: $id ($why)"
	else
		echo "PASS: $id"
	fi
}

for a in $ACCELS; do
	run_case rw "$a" "" $WSTART $WCOUNT "$WSTART $WCOUNT"
	run_case readonly "$a" ",readonly=on" $WSTART $WCOUNT "0 0"
	# cache=none needs O_DIRECT from the filesystem under $TMPDIR (not tmpfs).
	if touch "$tmp/dio" && python3 -c "import os,sys; os.close(os.open(sys.argv[1], os.O_RDWR|os.O_DIRECT))" \
		"$tmp/dio" 2>/dev/null; then
		run_case direct "$a" ",cache=none" 8 1024 "8 1024"
	else
		echo "SKIP: $S/direct/$a ($tmp has no O_DIRECT)"
	fi
done
exit 0
