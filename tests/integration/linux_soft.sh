#!/bin/sh
# Boots the guest kit's Debian kernel on the soft CPU (--accel soft) with a
# command for /init (isola.cmd64=, tools/guestkit/README.md) and checks the
# whole way: the boot marker, the command's output and exit status, and the
# ACPI power-off that ends the VM with status 0. By default one boot with one
# CPU (linux/soft/<case>, ~40 s here); LINUX_SOFT_CPUS="1 2" adds a boot with
# two (linux/soft/smp2-<case>: the second CPU comes up through Linux's
# INIT/SIPI sequence, and nproc must say 2), ~45 s more. SKIP without a guest
# kit or without the soft back end.
#
# Environment: BUILD (default build), ISOLA_GUESTKIT (default $BUILD/guestkit),
# LINUX_SOFT_TIMEOUT (seconds per boot, default 240), LINUX_SOFT_CPUS (the CPU
# counts to boot with, default 1), LINUX_SOFT_SANITIZED=1 (boot even with
# an ASan build of isola).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${LINUX_SOFT_TIMEOUT:-240}
CPUS_LIST=${LINUX_SOFT_CPUS:-1}
S=linux/soft

. tests/integration/lib/linux_guest.sh
linux_guest_ready "$S" || exit 0
# Under AddressSanitizer the boot takes ~4 minutes of CPU (6 of wall time
# here): a timeout to match.
[ "$LINUX_GUEST_SANITIZED" = 1 ] && TIMEOUT=${LINUX_SOFT_TIMEOUT:-900}
release=$(sed -n 's/^kernel_release=//p' "$KIT/manifest.txt" 2>/dev/null)

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

why() { # the last console and stderr lines, on one line
	{ tail -n 3 "$out"; tail -n 2 "$err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300
}

# boot CPUS PREFIX: one boot, four protocol lines named $S/PREFIX<case>.
boot() {
	cpus=$1 p=$S/$2
	# A word the command prints that no kernel message contains.
	word=soft-$$-$cpus-ok
	cmd=$(printf 'uname -r; nproc; echo %s' "$word" | base64 -w0)
	timeout "$TIMEOUT" "$ISOLA" run --accel soft --cpus "$cpus" --kernel "$KIT/vmlinuz" \
		--initrd "$KIT/initrd.img" --cmdline "console=ttyS0 panic=-1 isola.cmd64=$cmd" \
		</dev/null >"$out" 2>"$err"
	status=$?
	if [ "$status" -eq 2 ] && grep -q 'soft CPU unavailable' "$err"; then
		echo "SKIP: ${p}all (isola was built without the soft CPU)"
		return
	fi
	if grep -q '^ISOLA-BOOT-OK' "$out"; then
		echo "PASS: ${p}boot-marker"
	else
		echo "FAIL: ${p}boot-marker (status $status; last output: $(why))"
	fi
	# uname -r, nproc and the word, in order, after the marker.
	got=$(sed -n '/^ISOLA-BOOT-OK/,$p' "$out" | tr -d '\r' |
	      grep -vE '^\[ *[0-9]+\.[0-9]+\]' | sed -n '2,4p' | tr '\n' ' ')
	want="${release:-?} $cpus $word "
	if [ "$got" = "$want" ]; then
		echo "PASS: ${p}command-output"
	else
		echo "FAIL: ${p}command-output (wanted '$want', got '$got')"
	fi
	if grep -q '^ISOLA-CMD-EXIT status=0' "$out"; then
		echo "PASS: ${p}command-status"
	else
		echo "FAIL: ${p}command-status ($(grep -m1 '^ISOLA-CMD-EXIT' "$out" ||
			echo 'no ISOLA-CMD-EXIT line'))"
	fi
	if [ "$status" -eq 0 ] && grep -q 'reboot: Power down' "$out"; then
		echo "PASS: ${p}poweroff"
	elif [ "$status" -eq 124 ]; then
		echo "FAIL: ${p}poweroff (timed out after ${TIMEOUT}s; last output: $(why))"
	else
		echo "FAIL: ${p}poweroff (isola exited with status $status; last output: $(why))"
	fi
}

for n in $CPUS_LIST; do
	case $n in
	1) boot 1 "" ;;
	*[!0-9]*|0) echo "FAIL: $S/cpus-$n (LINUX_SOFT_CPUS: not a CPU count)" ;;
	*) boot "$n" "smp$n-" ;;
	esac
done
exit 0
