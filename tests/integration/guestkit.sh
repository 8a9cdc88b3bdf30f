#!/bin/sh
# The guest kit: built from Debian packages, its initramfs holds what /init
# needs, and isola's loader accepts its kernel and initrd (--dry-run: booting
# Linux itself is tested where a back end can run it in useful time).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola

if [ ! -f "$KIT/vmlinuz" ] || [ ! -f "$KIT/initrd.img" ] || [ ! -f "$KIT/manifest.txt" ]; then
	echo "SKIP: guestkit/all (no guest kit in $KIT: make guestkit)"
	exit 0
fi
release=$(sed -n 's/^kernel_release=//p' "$KIT/manifest.txt")
case "$release" in
*-cloud-amd64) echo "PASS: guestkit/kernel-is-debian-cloud" ;;
*) echo "FAIL: guestkit/kernel-is-debian-cloud (manifest says kernel_release=$release)" ;;
esac

list=$(mktemp)
trap 'rm -f "$list"' EXIT
# The default initramfs is an uncompressed newc cpio; GUESTKIT_COMPRESS=gzip too.
if ! { cpio -it <"$KIT/initrd.img" 2>/dev/null || zcat "$KIT/initrd.img" | cpio -it 2>/dev/null; } >"$list"; then
	echo "FAIL: guestkit/initrd-readable (cpio cannot list $KIT/initrd.img)"
	exit 0
fi
missing=""
# (/dev/console is a second, hand-written cpio member after the first
# archive's trailer, which `cpio -t` does not read.)
for f in init bin/busybox bin/sh; do
	grep -qx "$f" "$list" || missing="$missing $f"
done
for m in $(sed -n 's/^modules=//p' "$KIT/manifest.txt"); do
	# Module names use _ where their files may use - (virtio-rng.ko).
	pat=$(echo "$m" | sed 's/[-_]/[-_]/g')
	grep -q "/$pat\.ko" "$list" || missing="$missing $m.ko"
done
if [ -z "$missing" ]; then
	echo "PASS: guestkit/initrd-contents"
else
	echo "FAIL: guestkit/initrd-contents (missing:$missing)"
fi

# The loader takes the kit as the default guest: the bzImage header, the
# initrd placement below initrd_addr_max, the tables.
for mem in 128M 2G 5G; do
	if out=$(ISOLA_GUESTKIT=$KIT "$ISOLA" run --dry-run --memory $mem 2>&1 </dev/null); then
		echo "PASS: guestkit/loads-$mem"
	else
		echo "FAIL: guestkit/loads-$mem ($out)"
	fi
done
exit 0
