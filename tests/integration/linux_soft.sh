#!/bin/sh
# Boots the guest kit's Debian kernel on the soft CPU (--accel soft) with a
# command for /init (isola.cmd64=, tools/guestkit/README.md) and checks the
# whole way: the boot marker, the command's output and exit status, and the
# ACPI power-off that ends the VM with status 0. One CPU by default (~40 s
# here); LINUX_SOFT_CPUS=2 also brings up an application processor through
# INIT/SIPI. SKIP without a guest kit or without the soft back end.
#
# Environment: BUILD (default build), ISOLA_GUESTKIT (default $BUILD/guestkit),
# LINUX_SOFT_TIMEOUT (seconds, default 240), LINUX_SOFT_CPUS (default 1),
# LINUX_SOFT_SANITIZED=1 (boot even with an ASan build of isola).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${LINUX_SOFT_TIMEOUT:-240}
CPUS=${LINUX_SOFT_CPUS:-1}
S=linux/soft

if [ ! -f "$KIT/vmlinuz" ] || [ ! -f "$KIT/initrd.img" ]; then
	echo "SKIP: $S/all (no guest kit in $KIT: make guestkit)"
	exit 0
fi
if [ ! -x "$ISOLA" ]; then
	echo "FAIL: $S/all (no $ISOLA)"
	exit 0
fi
# Under AddressSanitizer the boot takes ~4 minutes of CPU (6 of wall time
# here): only on request, with a timeout to match.
if grep -q __asan_init "$ISOLA" 2>/dev/null; then
	if [ "${LINUX_SOFT_SANITIZED:-0}" != 1 ]; then
		echo "SKIP: $S/all (isola is built with ASan: LINUX_SOFT_SANITIZED=1 boots Linux anyway, in minutes)"
		exit 0
	fi
	TIMEOUT=${LINUX_SOFT_TIMEOUT:-900}
fi
release=$(sed -n 's/^kernel_release=//p' "$KIT/manifest.txt" 2>/dev/null)

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# A word the command prints that no kernel message contains.
word=soft-$$-ok
cmd=$(printf 'uname -r; nproc; echo %s' "$word" | base64 -w0)
timeout "$TIMEOUT" "$ISOLA" run --accel soft --cpus "$CPUS" --kernel "$KIT/vmlinuz" \
	--initrd "$KIT/initrd.img" --cmdline "console=ttyS0 panic=-1 isola.cmd64=$cmd" \
	</dev/null >"$out" 2>"$err"
status=$?
if [ "$status" -eq 2 ] && grep -q 'soft CPU unavailable' "$err"; then
	echo "SKIP: $S/all (isola was built without the soft CPU)"
	exit 0
fi

why() { # the last console and stderr lines, on one line
	{ tail -n 3 "$out"; tail -n 2 "$err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300
}

if grep -q '^ISOLA-BOOT-OK' "$out"; then
	echo "PASS: $S/boot-marker"
else
	echo "FAIL: $S/boot-marker (status $status; last output: $(why))"
fi
# uname -r, nproc and the word, in order, after the marker.
got=$(sed -n '/^ISOLA-BOOT-OK/,$p' "$out" | tr -d '\r' | grep -vE '^\[ *[0-9]+\.[0-9]+\]' |
      sed -n '2,4p' | tr '\n' ' ')
want="${release:-?} $CPUS $word "
if [ "$got" = "$want" ]; then
	echo "PASS: $S/command-output"
else
	echo "FAIL: $S/command-output (wanted '$want', got '$got')"
fi
if grep -q '^ISOLA-CMD-EXIT status=0' "$out"; then
	echo "PASS: $S/command-status"
else
	echo "FAIL: $S/command-status ($(grep -m1 '^ISOLA-CMD-EXIT' "$out" || echo 'no ISOLA-CMD-EXIT line'))"
fi
if [ "$status" -eq 0 ] && grep -q 'reboot: Power down' "$out"; then
	echo "PASS: $S/poweroff"
elif [ "$status" -eq 124 ]; then
	echo "FAIL: $S/poweroff (timed out after ${TIMEOUT}s; last output: $(why))"
else
	echo "FAIL: $S/poweroff (isola exited with status $status; last output: $(why))"
fi
exit 0
