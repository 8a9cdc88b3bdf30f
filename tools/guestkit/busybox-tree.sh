#!/bin/bash
# Lays out isola's busybox userland in a directory: what the guest kit's initramfs and the root
# images of tools/mkroot.sh have in common, so both boot the same way.
#
#   tools/guestkit/busybox-tree.sh BUSYBOX DEST INIT_PATH
#
# BUSYBOX is a static busybox binary (Debian's busybox-static), DEST the tree to fill (created
# if missing), INIT_PATH where isola's init script (init.sh beside this file) goes: /init in an
# initramfs, /sbin/init on a root file system. Makes the usual directories, bin/busybox and one
# symlink per applet where busybox itself says it belongs (bin/sh, sbin/insmod, ...), and
# /etc/{hostname,passwd,group,isola/shrc}. Existing files are kept except INIT_PATH. Prints the
# number of applet links made; errors go to stderr with status 1.
set -Eeuo pipefail
export LC_ALL=C

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "busybox-tree: error: $*" >&2; exit 1; }

[ $# -eq 3 ] || { echo "usage: $0 BUSYBOX DEST INIT_PATH" >&2; exit 2; }
BUSYBOX=$1 DEST=$2 INIT_PATH=$3
[ -x "$BUSYBOX" ] || die "$BUSYBOX is not an executable busybox"
case "$INIT_PATH" in /*) ;; *) die "INIT_PATH must be absolute, like /init" ;; esac

mkdir -p "$DEST"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,mnt,etc/isola}
cp "$BUSYBOX" "$DEST/bin/busybox"
chmod 0755 "$DEST/bin/busybox"
applets=$("$DEST/bin/busybox" --list-full) ||
	die "cannot run $BUSYBOX to list its applets (host not x86-64?)"
n=0
while read -r path; do
	[ -n "$path" ] && [ "$path" != bin/busybox ] && [ "/$path" != "$INIT_PATH" ] || continue
	[ -e "$DEST/$path" ] || [ -L "$DEST/$path" ] && continue
	case "$path" in */*) [ -d "$DEST/${path%/*}" ] || mkdir -p "$DEST/${path%/*}" ;; esac
	ln -s /bin/busybox "$DEST/$path"
	n=$((n + 1))
done <<< "$applets"
# What init.sh and its shell use.
for need in sh mount umount insmod setsid cttyhack base64 poweroff reboot switch_root sleep sync; do
	grep -q "/$need\$" <<< "$applets" || die "busybox lacks the '$need' applet /init needs"
done

rm -f "$DEST$INIT_PATH"
mkdir -p "$(dirname "$DEST$INIT_PATH")"
cp "$KIT_DIR/init.sh" "$DEST$INIT_PATH"
chmod 0755 "$DEST$INIT_PATH"
echo "isola" > "$DEST/etc/hostname"
[ -e "$DEST/etc/passwd" ] || printf 'root:x:0:0:root:/root:/bin/sh\n' > "$DEST/etc/passwd"
[ -e "$DEST/etc/group" ] || printf 'root:x:0:\ntty:x:5:\n' > "$DEST/etc/group"
# Read by the interactive shell (ENV): busybox's poweroff/reboot/halt only signal PID 1,
# which is init.sh waiting for this shell, so make them act at once.
cat > "$DEST/etc/isola/shrc" <<'SHRC'
PS1='isola:\w# '
poweroff() { command poweroff -f "$@"; }
reboot() { command reboot -f "$@"; }
halt() { command halt -f "$@"; }
SHRC
echo "$n"
