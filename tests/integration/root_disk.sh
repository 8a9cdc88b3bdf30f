#!/bin/sh
# A root file system on a virtio disk under Linux on the soft CPU: tools/mkroot.sh makes an
# ext4 image from the guest kit's busybox tree; `--disk path=root.ext4 --root /dev/vda` boots
# it (the initramfs's /init mounts root= and switch_roots to the image's /sbin/init, the same
# init script); the guest writes a file on its root, syncs and powers off; debugfs on the host
# shows the file; a second boot reads it back. Two boots. SKIP without a guest kit, without
# e2fsprogs, without the soft back end, or under ASan (a boot takes minutes).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${ROOT_DISK_TIMEOUT:-300}
S=root-disk

. tests/integration/lib/linux_guest.sh
linux_guest_ready "$S" || exit 0
if ! command -v mke2fs >/dev/null || ! command -v debugfs >/dev/null; then
	echo "SKIP: $S/all (e2fsprogs is not installed)"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=$tmp/root.ext4
why() { { tail -n 4 "$tmp/$1.out"; tail -n 2 "$tmp/$1.err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300; }

# boot NAME COMMAND: run COMMAND on the disk's root; output in $tmp/NAME.out, status in
# $tmp/NAME.rc. The command line has no root=: --root adds it.
boot() {
	b64=$(printf '%s' "$2" | base64 -w0)
	timeout "$TIMEOUT" "$ISOLA" run --accel soft --kernel "$KIT/vmlinuz" \
		--initrd "$KIT/initrd.img" --cmdline "console=ttyS0 quiet panic=-1 isola.cmd64=$b64" \
		--disk "path=$img" --root /dev/vda </dev/null >"$tmp/$1.out" 2>"$tmp/$1.err"
	echo $? >"$tmp/$1.rc"
	tr -d '\r' <"$tmp/$1.out" >"$tmp/$1.clean"
}

if ISOLA_GUESTKIT=$KIT tools/mkroot.sh "$img" 32M >"$tmp/mkroot.out" 2>&1 &&
   debugfs -R 'stat /sbin/init' "$img" 2>/dev/null | grep -q 'Type: regular' &&
   debugfs -R 'cat /sbin/init' "$img" 2>/dev/null | cmp -s - tools/guestkit/init.sh; then
	echo "PASS: $S/mkroot"
else
	echo "FAIL: $S/mkroot ($(tr '\n' '|' <"$tmp/mkroot.out" | cut -c1-200))"
	exit 0
fi

word=on-the-root-$$
boot first "echo $word >/hello.txt && sync && echo WROTE; awk '\$2 == \"/\" { print \"ROOT\", \$1, \$3 }' /proc/mounts"
if grep -q '^ROOT /dev/vda ext4$' "$tmp/first.clean" && grep -q '^ISOLA-BOOT-OK' "$tmp/first.clean"; then
	echo "PASS: $S/boots-from-disk"
else
	echo "FAIL: $S/boots-from-disk ($(why first))"
fi
if grep -q '^WROTE' "$tmp/first.clean" && [ "$(cat "$tmp/first.rc")" = 0 ] &&
   [ "$(debugfs -R 'cat /hello.txt' "$img" 2>/dev/null)" = "$word" ]; then
	echo "PASS: $S/guest-write-in-image"
else
	echo "FAIL: $S/guest-write-in-image (status $(cat "$tmp/first.rc"), debugfs: $(debugfs -R 'cat /hello.txt' "$img" 2>&1 | tail -n 1): $(why first))"
fi
# Powered off cleanly: init remounted the root read-only, so no journal replay is needed.
if e2fsck -fn "$img" >"$tmp/fsck.out" 2>&1; then
	echo "PASS: $S/clean-after-poweroff"
else
	echo "FAIL: $S/clean-after-poweroff ($(tail -n 2 "$tmp/fsck.out" | tr '\n' '|'))"
fi

boot second 'echo READ=$(cat /hello.txt)'
if grep -q "^READ=$word\$" "$tmp/second.clean" && [ "$(cat "$tmp/second.rc")" = 0 ]; then
	echo "PASS: $S/second-boot-sees-file"
else
	echo "FAIL: $S/second-boot-sees-file (status $(cat "$tmp/second.rc"): $(why second))"
fi
exit 0
