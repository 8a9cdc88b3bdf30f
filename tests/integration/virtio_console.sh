#!/bin/sh
# --console virtio under Linux on the soft CPU (the guest kit's Debian kernel), in one boot:
# isola adds console=hvc0 (and earlycon on the UART) to a command line without console=; the
# kernel's first messages still arrive through the UART; /init joins hvc0 once virtio_console
# is loaded, and its interactive shell gets input piped into isola; the shell's console is hvc0
# (/sys/class/tty/console/active, its stdin is /dev/hvc0); `poweroff` ends isola with 0.
# SKIP without a guest kit, without the soft back end, or under ASan (a boot takes minutes).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${VIRTIO_CONSOLE_TIMEOUT:-300}
S=virtio-console

. tests/integration/lib/linux_guest.sh
linux_guest_ready "$S" || exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
why() { { tail -n 4 "$tmp/out"; tail -n 2 "$tmp/err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300; }

# The shell's input comes through a pipe, once the prompt is there: like the UART, hvc0 only
# keeps what arrives after its tty is open and read (tools/guestkit/README.md).
feed() {
	i=0
	while [ $i -lt "$TIMEOUT" ] && [ ! -e "$tmp/done" ] && ! grep -q 'isola:/# ' "$tmp/out" 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	sleep 1
	printf '%s\n' 'echo typed-$((6*7))' 'echo active=$(cat /sys/class/tty/console/active)' \
		'echo stdin=$(readlink /proc/self/fd/0)' 'poweroff'
}
feed | { timeout "$TIMEOUT" "$ISOLA" run --accel soft --kernel "$KIT/vmlinuz" \
		--initrd "$KIT/initrd.img" --cmdline "panic=-1" --console virtio \
		>"$tmp/out" 2>"$tmp/err"; echo $? >"$tmp/rc"; touch "$tmp/done"; }
rc=$(cat "$tmp/rc")
tr -d '\r' <"$tmp/out" >"$tmp/clean"

if grep -q 'Linux version' "$tmp/clean" && grep -q 'printk: console \[hvc0\] enabled' "$tmp/clean"; then
	echo "PASS: $S/early-messages-on-uart"
else
	echo "FAIL: $S/early-messages-on-uart (no 'Linux version' or no hvc0 handover: $(why))"
fi
if grep -q '^ISOLA-BOOT-OK' "$tmp/clean"; then
	echo "PASS: $S/boot-marker"
else
	echo "FAIL: $S/boot-marker (status $rc: $(why))"
fi
# The typed text is echoed as typed; only the shell prints typed-42.
if grep -q 'typed-42' "$tmp/clean"; then
	echo "PASS: $S/piped-input-reaches-shell"
else
	echo "FAIL: $S/piped-input-reaches-shell ($(why))"
fi
if grep -q '^active=hvc0$' "$tmp/clean" && grep -q '^stdin=/dev/hvc0$' "$tmp/clean"; then
	echo "PASS: $S/shell-on-hvc0"
else
	echo "FAIL: $S/shell-on-hvc0 ($(grep -E '^(active|stdin)=' "$tmp/clean" | tr '\n' ' ')$(why))"
fi
if [ "$rc" -eq 0 ]; then
	echo "PASS: $S/poweroff"
else
	echo "FAIL: $S/poweroff (status $rc: $(why))"
fi
exit 0
