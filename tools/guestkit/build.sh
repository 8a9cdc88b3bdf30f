#!/bin/bash
# Guest kit: builds isola's default guest (Debian cloud kernel + busybox initramfs) from
# Debian packages only, into OUTDIR. Nothing prebuilt lives in the repository.
#
#   tools/guestkit/build.sh OUTDIR        (GUESTKIT_FORCE=1 rebuilds even if up to date)
#
# Outputs: OUTDIR/vmlinuz (bzImage), OUTDIR/initrd.img (newc cpio), OUTDIR/manifest.txt.
# Work files: OUTDIR/debs (downloaded .debs), OUTDIR/rootfs-kernel, OUTDIR/rootfs-busybox
# (the packages unpacked with dpkg -x), OUTDIR/initramfs (the initramfs tree).
# See tools/guestkit/README.md for the guest's command-line convention.

set -Eeuo pipefail
export LC_ALL=C

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_SCRIPT="$KIT_DIR/build.sh"
INIT_SCRIPT="$KIT_DIR/init.sh"
TREE_SCRIPT="$KIT_DIR/busybox-tree.sh"

KERNEL_META=linux-image-cloud-amd64
BUSYBOX_PKG=busybox-static
ARCH=amd64

# Modules the guest's devices need. Names as modprobe takes them ('-' and '_' are the same).
# Their dependencies are added from the modules' own dependency lists; any that is built
# into the kernel (modules.builtin) is left out, as is any that this kernel lacks.
WANTED_MODULES=(
	virtio_mmio		# virtio-mmio transport (devices described by ACPI, LNRO0005)
	virtio_pci		# virtio-pci transport, for a PCI machine
	virtio_blk
	virtio_net
	virtio_console
	virtio_rng
	vsock
	vmw_vsock_virtio_transport
	ext4
	pvpanic_mmio		# tells isola the kernel panicked (ACPI QEMU0001, port 0x505)
)

STEP=start
log() { echo "guestkit: $*"; }
die() { echo "guestkit: error: $STEP: $*" >&2; exit 1; }
trap 'die "command failed (line $LINENO: $BASH_COMMAND); rerun with bash -x for detail"' ERR

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1" 2>/dev/null || { STEP=outdir; die "cannot create $1 (a file in the way, or no permission)"; }
OUT=$(cd "$1" && pwd)

# --- 0. up to date? -------------------------------------------------------------------
if [ -z "${GUESTKIT_FORCE:-}" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
	uptodate=1
	for out in "$OUT/vmlinuz" "$OUT/initrd.img"; do
		for src in "$BUILD_SCRIPT" "$INIT_SCRIPT" "$TREE_SCRIPT"; do
			[ "$out" -nt "$src" ] || uptodate=0
		done
	done
	if [ $uptodate -eq 1 ]; then
		log "kit is up to date: $OUT/vmlinuz $OUT/initrd.img"
		exit 0
	fi
fi

STEP=tools
for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip objcopy find awk sed cksum; do
	command -v "$tool" >/dev/null || die "'$tool' is missing; install the packages in tools/guestkit/packages.txt"
done
[ -r "$INIT_SCRIPT" ] || die "$INIT_SCRIPT is missing"
[ -x "$TREE_SCRIPT" ] || die "$TREE_SCRIPT is missing or not executable"

# --- 1. download ----------------------------------------------------------------------
APT_UPDATED=0
apt_update_once() {
	[ $APT_UPDATED -eq 0 ] || return 1
	APT_UPDATED=1
	log "package lists missing or stale; running apt-get update"
	if [ "$(id -u)" -ne 0 ]; then
		die "apt-get update needs root: run 'sudo apt-get update' once, then rerun"
	fi
	apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (network?); fix apt, then rerun"
}

# Which packages and versions to use. One apt-cache call (it parses every package list,
# ~1 s) gives the metapackage's exact dependency "linux-image-6.1.0-NN-cloud-amd64 (= VER)"
# and busybox-static's candidate. The answer is kept in debs/resolved, keyed by the lists'
# names and mtimes, so rebuilds do not ask apt again until `apt-get update` changes them.
lists_key() {
	{ find /var/lib/apt/lists -maxdepth 1 -type f -name '*_Packages*' -printf '%f %T@\n' \
		2>/dev/null || true; } | sort | cksum | tr ' ' '-'
}
resolve_versions() {
	local show key
	KERNEL_PKG='' KERNEL_VER='' BUSYBOX_VER=''
	key=$(lists_key)
	if [ -f "$OUT/debs/resolved" ] && [ "$(sed -n 1p "$OUT/debs/resolved")" = "$key" ]; then
		read -r KERNEL_PKG KERNEL_VER BUSYBOX_VER < <(sed -n 2p "$OUT/debs/resolved") || true
		return 0
	fi
	show=$(apt-cache show --no-all-versions "$KERNEL_META" "$BUSYBOX_PKG" 2>/dev/null || true)
	read -r KERNEL_PKG KERNEL_VER < <(printf '%s\n' "$show" | sed -n \
		's/^Depends:.*\(linux-image-[0-9][^ ,]*-cloud-amd64\) (= \([^)]*\)).*/\1 \2/p') || true
	BUSYBOX_VER=$(printf '%s\n' "$show" |
		awk -v p="$BUSYBOX_PKG" '/^Package: /{n=$2} /^Version: / && n==p {print $2; exit}')
	if [ -n "$KERNEL_PKG" ] && [ -n "$KERNEL_VER" ] && [ -n "$BUSYBOX_VER" ]; then
		printf '%s\n%s %s %s\n' "$key" "$KERNEL_PKG" "$KERNEL_VER" "$BUSYBOX_VER" \
			> "$OUT/debs/resolved"
	fi
}

# Downloads version $2 of package $1 into OUTDIR/debs unless it is there already, and sets
# FETCHED to the .deb's path; returns 1 if apt-get download fails.
fetch_deb() {
	local pkg=$1 ver=$2 file
	# apt-get download names the file pkg_version_arch.deb, the epoch colon as %3a.
	file="$OUT/debs/${pkg}_${ver//:/%3a}_$ARCH.deb"
	if [ ! -s "$file" ]; then
		rm -f "$OUT/debs/$pkg"_*.deb
		log "downloading $pkg $ver"
		# As root, apt would drop to user _apt, who cannot write to OUTDIR.
		(cd "$OUT/debs" && apt-get download -qq -o APT::Sandbox::User=root \
			"$pkg=$ver" >/dev/null 2>&1) || return 1
		[ -s "$file" ] || die "apt-get download $pkg left no $(basename "$file") in $OUT/debs"
	fi
	FETCHED=$file
}
download_all() {
	fetch_deb "$KERNEL_PKG" "$KERNEL_VER" || return 1
	KERNEL_DEB=$FETCHED
	fetch_deb "$BUSYBOX_PKG" "$BUSYBOX_VER" || return 1
	BUSYBOX_DEB=$FETCHED
}

# The .debs of an earlier run, for building without apt lists; returns 1 if there are none.
use_cached_debs() {
	local k b
	k=("$OUT"/debs/linux-image-[0-9]*-cloud-amd64_*_"$ARCH".deb)
	b=("$OUT/debs/${BUSYBOX_PKG}"_*_"$ARCH".deb)
	[ ${#k[@]} -eq 1 ] && [ -f "${k[0]}" ] && [ ${#b[@]} -eq 1 ] && [ -f "${b[0]}" ] || return 1
	KERNEL_DEB=${k[0]} BUSYBOX_DEB=${b[0]}
	KERNEL_PKG=$(dpkg-deb -f "$KERNEL_DEB" Package)
	log "apt cannot resolve the packages; using the .debs of an earlier download"
}

STEP=download
mkdir -p "$OUT/debs"
resolve_versions
if [ -z "$KERNEL_PKG" ] || [ -z "$BUSYBOX_VER" ]; then
	if ! use_cached_debs; then
		apt_update_once
		resolve_versions
		[ -n "$KERNEL_PKG" ] || die "apt cannot resolve $KERNEL_META to a linux-image package; check /etc/apt/sources.list (Debian main)"
		[ -n "$BUSYBOX_VER" ] || die "apt has no $BUSYBOX_PKG; check /etc/apt/sources.list (Debian main)"
		download_all || die "apt-get download failed; check the network and apt sources"
	fi
elif ! download_all; then
	# Stale lists name versions the archive no longer has: refresh once and retry.
	apt_update_once || die "apt-get download failed; check the network and apt sources"
	rm -f "$OUT/debs/resolved"
	resolve_versions
	download_all || die "apt-get download failed even after apt-get update; check the network"
fi

# --- 2. unpack (dpkg -x, never installed on the host) ---------------------------------
# Re-extracts only when the .deb changed: a stamp in the tree names the .deb it came from.
unpack_deb() {
	local deb=$1 dir=$2 stamp="$2/.guestkit-deb"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(basename "$deb")" ]; then
		return 0
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$deb" "$dir" 2>/dev/null || die "dpkg -x $(basename "$deb") failed (corrupt download? delete $OUT/debs and rerun)"
	basename "$deb" > "$stamp"
}

STEP=unpack
unpack_deb "$KERNEL_DEB" "$OUT/rootfs-kernel"
unpack_deb "$BUSYBOX_DEB" "$OUT/rootfs-busybox"

KREL=$(cd "$OUT/rootfs-kernel/lib/modules" && ls | head -n1)
[ -n "$KREL" ] || die "no lib/modules/<release> in $KERNEL_PKG"
KMOD="$OUT/rootfs-kernel/lib/modules/$KREL"
BZIMAGE="$OUT/rootfs-kernel/boot/vmlinuz-$KREL"
KCONFIG="$OUT/rootfs-kernel/boot/config-$KREL"
BUSYBOX="$OUT/rootfs-busybox/bin/busybox"
[ -f "$BZIMAGE" ] || die "no boot/vmlinuz-$KREL in $KERNEL_PKG"
[ -f "$KCONFIG" ] || die "no boot/config-$KREL in $KERNEL_PKG"
[ -x "$BUSYBOX" ] || die "no bin/busybox in $BUSYBOX_PKG"

# --- 3. kernel checks -----------------------------------------------------------------
STEP=kernel-config
kconfig() { sed -n "s/^$1=//p" "$KCONFIG"; }
[ "$(kconfig CONFIG_BLK_DEV_INITRD)" = y ] || die "$KREL has no initramfs support (CONFIG_BLK_DEV_INITRD)"
[ "$(kconfig CONFIG_DEVTMPFS)" = y ] || die "$KREL lacks CONFIG_DEVTMPFS, which /init needs"
# The initramfs is an uncompressed newc cpio by default: the kernel unpacks it with plain
# copies, no decompressor, which matters on a slow (software) CPU. GUESTKIT_COMPRESS=gzip
# trades that for a ~3x smaller file, if the kernel has CONFIG_RD_GZIP.
COMPRESS=${GUESTKIT_COMPRESS:-none}
case "$COMPRESS" in
none) ;;
gzip) [ "$(kconfig CONFIG_RD_GZIP)" = y ] || die "$KREL cannot unpack a gzip initramfs; use GUESTKIT_COMPRESS=none" ;;
*) die "GUESTKIT_COMPRESS must be none or gzip, not '$COMPRESS'" ;;
esac

# --- 4. modules -----------------------------------------------------------------------
STEP=modules
norm() { echo "${1//-/_}"; }	# for the few calls; hot loops inline ${x//-/_}

# Index: normalised module name -> path under $KMOD (with .ko, .ko.xz, .ko.zst, .ko.gz).
declare -A MOD_PATH=() BUILTIN=()
while IFS= read -r -d '' f; do
	rel=${f#"$KMOD"/}
	base=${rel##*/}
	base=${base%%.ko*}
	MOD_PATH[${base//-/_}]=$rel
done < <(find "$KMOD/kernel" -name '*.ko*' -print0)
if [ -f "$KMOD/modules.builtin" ]; then
	while read -r rel; do
		base=${rel##*/}
		base=${base%%.ko*}
		BUILTIN[${base//-/_}]=1
	done < "$KMOD/modules.builtin"
fi

STAGE="$OUT/initramfs"
rm -rf "$STAGE"
mkdir -p "$STAGE/lib/modules/$KREL"

# Dependency names of the plain .ko $1, from its .modinfo "depends=" field (filled in by
# modpost at kernel build time; the same list depmod would find), space-separated.
modinfo_depends() {
	local tmp="$OUT/.modinfo.tmp"
	objcopy -O binary --only-section=.modinfo "$1" "$tmp" || die "objcopy cannot read $1"
	tr '\0' '\n' < "$tmp" | sed -n 's/^depends=//p' | tr ',' ' '
	rm -f "$tmp"
}

# Copies module $1 (normalised name) into the tree uncompressed (the kernel has
# CONFIG_MODULE_COMPRESS_NONE and busybox insmod takes plain files) and sets DEPS to its
# dependency names.
install_module() {
	local rel=${MOD_PATH[$1]} dst
	dst="$STAGE/lib/modules/$KREL/${rel%%.ko*}.ko"
	mkdir -p "$(dirname "$dst")"
	case "$rel" in
	*.ko) cp "$KMOD/$rel" "$dst" ;;
	*.ko.xz) xz -dc "$KMOD/$rel" > "$dst" ;;
	*.ko.zst) zstd -qdc "$KMOD/$rel" > "$dst" ;;
	*.ko.gz) gzip -dc "$KMOD/$rel" > "$dst" ;;
	*) die "unknown module file type: $rel" ;;
	esac
	DEPS=$(modinfo_depends "$dst")
}

declare -A STATE=()	# 1 = being visited, 2 = done
declare -A DIRECT_DEPS=()	# normalised name -> its shipped direct dependencies
LOAD_ORDER=()		# normalised names, dependencies first
SKIPPED_BUILTIN=()
SKIPPED_MISSING=()
visit() {
	local m deps d
	m=$(norm "$1")
	case "${STATE[$m]:-0}" in
	2) return 0 ;;
	1) die "module dependency cycle through $m" ;;
	esac
	if [ -n "${BUILTIN[$m]:-}" ]; then
		SKIPPED_BUILTIN+=("$m"); STATE[$m]=2; return 0
	fi
	if [ -z "${MOD_PATH[$m]:-}" ]; then
		SKIPPED_MISSING+=("$m"); STATE[$m]=2; return 0
	fi
	STATE[$m]=1
	install_module "$m"
	deps=$DEPS
	DIRECT_DEPS[$m]=
	for d in $deps; do
		visit "$d"
		d=$(norm "$d")
		[ -z "${MOD_PATH[$d]:-}" ] || [ -n "${BUILTIN[$d]:-}" ] ||
			DIRECT_DEPS[$m]+=" $d"
	done
	STATE[$m]=2
	LOAD_ORDER+=("$m")
}
for m in "${WANTED_MODULES[@]}"; do visit "$m"; done

# Load order for /init, and a modules.dep so busybox modprobe works in the guest shell.
mkdir -p "$STAGE/etc/isola"
{
	echo "# Modules /init loads, in this order (paths under /lib/modules/$KREL)."
	for m in "${LOAD_ORDER[@]}"; do r=${MOD_PATH[$m]}; echo "${r%%.ko*}.ko"; done
} > "$STAGE/etc/isola/modules"
# modules.dep lists, like depmod's, every module each one needs, directly or not, in an
# order that loads correctly from the last to the first: the reverse of LOAD_ORDER.
declare -A CLOSURE=()
add_closure() {
	local d
	for d in ${DIRECT_DEPS[$1]}; do
		[ -n "${CLOSURE[$d]:-}" ] && continue
		CLOSURE[$d]=1
		add_closure "$d"
	done
}
{
	for m in "${LOAD_ORDER[@]}"; do
		CLOSURE=()
		add_closure "$m"
		r=${MOD_PATH[$m]}
		line="${r%%.ko*}.ko:"
		for ((i = ${#LOAD_ORDER[@]} - 1; i >= 0; i--)); do
			d=${LOAD_ORDER[$i]}
			[ -n "${CLOSURE[$d]:-}" ] || continue
			dr=${MOD_PATH[$d]}
			line="$line ${dr%%.ko*}.ko"
		done
		echo "$line"
	done
} > "$STAGE/lib/modules/$KREL/modules.dep"
cp "$KMOD/modules.builtin" "$STAGE/lib/modules/$KREL/" 2>/dev/null || true

# --- 5. initramfs tree ----------------------------------------------------------------
STEP=initramfs
"$BUSYBOX" --list-full > "$OUT/applets.txt" ||
	die "cannot run the downloaded busybox to list its applets (host not x86-64?)"
# busybox, its applet links, /init, /etc: shared with tools/mkroot.sh's root images.
napplets=$("$TREE_SCRIPT" "$BUSYBOX" "$STAGE" /init) || die "$TREE_SCRIPT failed (see above)"

# --- 6. cpio --------------------------------------------------------------------------
STEP=cpio
# Fixed timestamps so the same packages give the same bytes.
find "$STAGE" -exec touch -h -d @0 {} +

# One newc entry (Documentation/driver-api/early-userspace/buffer-format.rst) without
# data: name, mode (octal), rdev major, rdev minor. Used for /dev/console, which the kernel
# opens for /init before anything is mounted, and which cpio could only copy from a real
# device node (that needs root to create).
newc_entry() {
	local name=$1 mode=$(($2)) maj=$3 min=$4 namesize hdr pad
	namesize=$((${#name} + 1))
	hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0)
	printf '%s%s\0' "$hdr" "$name"
	# Header (110 bytes) plus name is padded to a multiple of 4.
	pad=$(( (4 - (110 + namesize) % 4) % 4 ))
	head -c "$pad" /dev/zero
}

INITRD_TMP="$OUT/initrd.img.tmp"
{
	(cd "$STAGE" && find . -mindepth 1 | sed 's#^\./##' | sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet)
	# A second archive, appended: the kernel unpacks concatenated archives in turn.
	{ newc_entry dev/console 020600 5 1; newc_entry TRAILER!!! 0 0 0; } > "$OUT/devnodes.cpio"
	cat "$OUT/devnodes.cpio"
} > "$INITRD_TMP.raw"
rm -f "$OUT/devnodes.cpio"
case "$COMPRESS" in
none) mv "$INITRD_TMP.raw" "$INITRD_TMP" ;;
gzip) gzip -n -9 -c "$INITRD_TMP.raw" > "$INITRD_TMP"; rm -f "$INITRD_TMP.raw" ;;
esac

# --- 7. outputs -----------------------------------------------------------------------
STEP=outputs
cp "$BZIMAGE" "$OUT/vmlinuz.tmp"	# no -p: the new mtime is what marks the kit current
KVER=$(dpkg-deb -f "$KERNEL_DEB" Version)
BBVER=$(dpkg-deb -f "$BUSYBOX_DEB" Version)
{
	echo "kernel_package=$KERNEL_PKG"
	echo "kernel_version=$KVER"
	echo "kernel_release=$KREL"
	echo "busybox_version=$BBVER"
	echo "initrd_compression=$COMPRESS"
	echo "modules=${LOAD_ORDER[*]}"
	echo "modules_builtin=${SKIPPED_BUILTIN[*]}"
	echo "modules_unavailable=${SKIPPED_MISSING[*]}"
} > "$OUT/manifest.txt"
mv "$INITRD_TMP" "$OUT/initrd.img"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"

log "kernel  $OUT/vmlinuz  ($KREL, $KERNEL_PKG $KVER)"
log "initrd  $OUT/initrd.img  ($(($(stat -c %s "$OUT/initrd.img") / 1024)) KiB, newc cpio, compression: $COMPRESS; busybox $BBVER, $napplets applets)"
log "modules ${LOAD_ORDER[*]}"
[ ${#SKIPPED_BUILTIN[@]} -eq 0 ] || log "built in (not shipped): ${SKIPPED_BUILTIN[*]}"
[ ${#SKIPPED_MISSING[@]} -eq 0 ] || log "not in this kernel (not shipped): ${SKIPPED_MISSING[*]}"
log "manifest $OUT/manifest.txt"
