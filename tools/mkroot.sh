#!/bin/bash
# Makes a bootable ext4 root file system image for isola's guest kit:
#
#   tools/mkroot.sh OUT.img [SIZE] [DIR]
#
# The image holds the guest kit's busybox userland with isola's init script as /sbin/init (the
# same init.sh as the initramfs's /init: boot marker, isola.cmd64= commands, a shell on the
# console), and DIR's files on top of it if DIR is given (a DIR with its own /sbin/init boots
# that instead; MKROOT_BASE=none takes DIR alone). SIZE is mke2fs's (default 64M: 64M, 1G, ...).
# Boot it with the guest kit's kernel and initramfs:
#
#   isola run --disk path=OUT.img --root /dev/vda
#
# The initramfs loads virtio_blk, mounts root= and switch_roots to it (tools/guestkit/README.md).
# Needs no root privileges and no loop mount: `mke2fs -t ext4 -d` (e2fsprogs) copies the tree
# into the new file system. Files keep the owner of the tree they were copied from (yours when run
# as another user than root). busybox comes from the guest kit directory (ISOLA_GUESTKIT, else
# build/guestkit: `make guestkit`), or from the host's busybox-static. Errors: one line
# "mkroot: error: ..." and status 1 (2 for bad usage).
set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TREE_SCRIPT="$HERE/guestkit/busybox-tree.sh"

usage() { echo "mkroot: $*" >&2; echo "usage: $0 OUT.img [SIZE] [DIR]" >&2; exit 2; }
die() { echo "mkroot: error: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 3 ] || usage "give the image to make, and optionally its size and a directory"
OUT=$1 SIZE=${2:-64M} DIR=${3:-}
[ -n "$OUT" ] || usage "OUT.img is empty"
[ ! -e "$OUT" ] || die "$OUT already exists; remove it first or choose another name"
[[ "$SIZE" =~ ^[1-9][0-9]*[KMGkmg]?$ ]] || usage "SIZE '$SIZE': give a size such as 64M or 1G"
if [ -n "$DIR" ]; then
	[ -d "$DIR" ] || die "DIR $DIR is not a directory"
	[ -r "$DIR" ] || die "DIR $DIR cannot be read"
fi
case "${MKROOT_BASE:-busybox}" in
busybox|none) ;;
*) usage "MKROOT_BASE must be busybox or none, not '$MKROOT_BASE'" ;;
esac
command -v mke2fs >/dev/null || die "mke2fs is missing: apt-get install e2fsprogs"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkroot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tree="$tmp/root"
mkdir -p "$tree"

if [ "${MKROOT_BASE:-busybox}" = busybox ]; then
	KIT=${ISOLA_GUESTKIT:-$REPO/build/guestkit}
	BUSYBOX="$KIT/rootfs-busybox/bin/busybox"
	if [ ! -x "$BUSYBOX" ]; then
		# Debian's busybox-static, if the host has it (a dynamic busybox cannot run in
		# the guest, which has no libc).
		BUSYBOX=
		for b in /bin/busybox /usr/bin/busybox; do
			if [ -x "$b" ] && ldd "$b" 2>&1 | grep -q 'not a dynamic executable'; then
				BUSYBOX=$b
				break
			fi
		done
		[ -n "$BUSYBOX" ] || die "no busybox: build the guest kit (make guestkit, or set ISOLA_GUESTKIT) or install busybox-static"
	fi
	"$TREE_SCRIPT" "$BUSYBOX" "$tree" /sbin/init >/dev/null ||
		die "$TREE_SCRIPT could not lay out the busybox tree (see above)"
fi
if [ -n "$DIR" ]; then
	cp -a "$DIR/." "$tree/" || die "cannot copy $DIR into the image tree"
fi

# The image file is made by mke2fs itself (SIZE); -d copies the tree into it. A label makes it
# easy to recognise; the root directory belongs to root in the guest whoever runs this.
mke2fs -q -t ext4 -L isola-root -E root_owner=0:0 -d "$tree" "$OUT" "$SIZE" >"$tmp/err" 2>&1 || {
	rm -f "$OUT"
	die "mke2fs failed: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
}
echo "mkroot: $OUT: ext4, $SIZE, $(find "$tree" | wc -l) files; boot it with --disk path=$OUT --root /dev/vda"
