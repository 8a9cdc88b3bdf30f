#!/bin/sh
# virtio under Linux on the soft CPU (the guest kit's Debian kernel): a raw
# disk read and written through /dev/vda, an ext4 root image mounted,
# written and synced (checked on the host with debugfs), a DISCARD that
# punches a hole (and Linux seeing 32 discard segments), a write that the
# guest synced surviving `kill -9` of isola, and /dev/hwrng.
# SKIP without a guest kit or without the soft back end.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${VIRTIO_SOFT_TIMEOUT:-240}
S=virtio/soft

. tests/integration/lib/linux_guest.sh
linux_guest_ready "$S" || exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# boot NAME COMMAND [isola options...]: run COMMAND in the guest; output in
# $tmp/NAME.out, status in $tmp/NAME.rc.
boot() {
	name=$1 cmd=$2
	shift 2
	b64=$(printf '%s' "$cmd" | base64 -w0)
	timeout "$TIMEOUT" "$ISOLA" run --accel soft --kernel "$KIT/vmlinuz" \
		--initrd "$KIT/initrd.img" --cmdline "console=ttyS0 quiet panic=-1 isola.cmd64=$b64" \
		"$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}
why() { { tail -n 4 "$tmp/$1.out"; tail -n 2 "$tmp/$1.err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300; }

# 1. Raw disk: the host's bytes arrive, the guest's write lands at sector 1,
#    read-only disk refuses writes, Linux sees the DISCARD limits and a
#    discard of 1 MiB the host had written punches a hole; and the entropy
#    source gives bytes.
printf 'isola-host-pattern' >"$tmp/raw.img"
truncate -s 8M "$tmp/raw.img"
dd if=/dev/urandom of="$tmp/raw.img" bs=1M seek=2 count=1 conv=notrunc 2>/dev/null
truncate -s 1M "$tmp/ro.img"
boot raw 'head -c 18 /dev/vda; echo; echo guest-was-here | dd of=/dev/vda bs=512 seek=1 conv=fsync 2>/dev/null && echo WRITE-OK; dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null || echo RO-REFUSED; echo RNG=$(head -c 64 /dev/hwrng | wc -c); echo DSEG=$(cat /sys/block/vda/queue/max_discard_segments); blkdiscard -o 2097152 -l 1048576 /dev/vda && echo DISCARD-OK' \
	--disk "path=$tmp/raw.img,id=raw-disk" --disk "path=$tmp/ro.img,readonly=on" --rng
if grep -q 'isola-host-pattern' "$tmp/raw.out"; then echo "PASS: $S/blk-read"; else echo "FAIL: $S/blk-read ($(why raw))"; fi
if grep -q WRITE-OK "$tmp/raw.out" && [ "$(dd if="$tmp/raw.img" bs=512 skip=1 count=1 2>/dev/null | head -c 14)" = guest-was-here ]; then
	echo "PASS: $S/blk-write"
else
	echo "FAIL: $S/blk-write ($(why raw))"
fi
if grep -q RO-REFUSED "$tmp/raw.out" && [ "$(od -An -tx1 -N4 "$tmp/ro.img" | tr -d ' ')" = 00000000 ]; then
	echo "PASS: $S/blk-readonly"
else
	echo "FAIL: $S/blk-readonly ($(why raw))"
fi
# DISCARD punches holes: the megabyte reads back as zeros on the host.
if grep -q 'DSEG=32' "$tmp/raw.out" && grep -q DISCARD-OK "$tmp/raw.out" &&
   [ "$(dd if="$tmp/raw.img" bs=1M skip=2 count=1 2>/dev/null | tr -d '\0' | wc -c)" = 0 ]; then
	echo "PASS: $S/blk-discard"
else
	echo "FAIL: $S/blk-discard ($(why raw))"
fi
if grep -q 'RNG=64' "$tmp/raw.out"; then echo "PASS: $S/rng"; else echo "FAIL: $S/rng ($(why raw))"; fi
if [ "$(cat "$tmp/raw.rc")" = 0 ]; then echo "PASS: $S/poweroff"; else echo "FAIL: $S/poweroff (status $(cat "$tmp/raw.rc"))"; fi

# 2. An ext4 image made on the host from a directory, mounted in the guest.
if command -v mke2fs >/dev/null && command -v debugfs >/dev/null; then
	mkdir -p "$tmp/rootdir"
	echo 'made-on-the-host' >"$tmp/rootdir/hello.txt"
	mke2fs -q -t ext4 -d "$tmp/rootdir" "$tmp/fs.img" 32M
	boot ext4 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt && echo written-in-the-guest >/mnt/guest.txt && sync && umount /mnt && echo EXT4-DONE' \
		--disk "path=$tmp/fs.img"
	if grep -q made-on-the-host "$tmp/ext4.out" && grep -q EXT4-DONE "$tmp/ext4.out" &&
	   debugfs -R 'cat /guest.txt' "$tmp/fs.img" 2>/dev/null | grep -q written-in-the-guest; then
		echo "PASS: $S/ext4"
	else
		echo "FAIL: $S/ext4 ($(why ext4))"
	fi
else
	echo "SKIP: $S/ext4 (e2fsprogs is not installed)"
fi

# 3. Durability: the guest writes and syncs, says so, and isola is killed
#    with SIGKILL right then; the data must be in the image.
truncate -s 8M "$tmp/dur.img"
b64=$(printf 'echo durable-bytes-1234 | dd of=/dev/vda bs=512 seek=3 conv=fsync 2>/dev/null; sync; echo SYNCED; sleep 1000' | base64 -w0)
"$ISOLA" run --accel soft --kernel "$KIT/vmlinuz" --initrd "$KIT/initrd.img" \
	--cmdline "console=ttyS0 quiet panic=-1 isola.cmd64=$b64" --disk "path=$tmp/dur.img" \
	</dev/null >"$tmp/dur.out" 2>&1 &
pid=$!
i=0
while [ $i -lt "$TIMEOUT" ] && ! grep -q SYNCED "$tmp/dur.out" 2>/dev/null; do
	sleep 1
	i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if grep -q SYNCED "$tmp/dur.out" &&
   [ "$(dd if="$tmp/dur.img" bs=512 skip=3 count=1 2>/dev/null | head -c 18)" = durable-bytes-1234 ]; then
	echo "PASS: $S/kill-9-after-sync"
else
	echo "FAIL: $S/kill-9-after-sync ($(tail -n 3 "$tmp/dur.out" | tr '\n' '|' | cut -c1-200))"
fi
exit 0
