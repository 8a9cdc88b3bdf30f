#!/bin/sh
# The command line: help, version, and every kind of bad input gets exactly
# one clear line on stderr and exit status 2.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ISOLA=$BUILD/isola
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
KERNEL=$BUILD/guests/hello.elf

pass() { echo "PASS: cli/$1"; }
fail() { echo "FAIL: cli/$1 ($2)"; }

# expect_ok NAME PATTERN CMD...: status 0, stdout matches PATTERN.
expect_ok() {
	name=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ $rc -ne 0 ]; then fail "$name" "status $rc, want 0"; return; fi
	if ! grep -qE -e "$pat" "$tmp/out"; then fail "$name" "stdout lacks /$pat/"; return; fi
	pass "$name"
}

# expect_usage NAME PATTERN CMD...: status 2, exactly one line on stderr
# matching PATTERN, nothing on stdout.
expect_usage() {
	name=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ $rc -ne 2 ]; then fail "$name" "status $rc, want 2: $(head -c 300 "$tmp/err")"; return; fi
	if [ "$lines" -ne 1 ]; then fail "$name" "$lines lines on stderr, want 1: $(head -c 300 "$tmp/err")"; return; fi
	if ! grep -qE -e "$pat" "$tmp/err"; then fail "$name" "stderr '$(cat "$tmp/err")' lacks /$pat/"; return; fi
	if [ -s "$tmp/out" ]; then fail "$name" "unexpected stdout"; return; fi
	pass "$name"
}

expect_ok help 'usage: isola' "$ISOLA" --help
expect_ok version '^isola [0-9]+\.[0-9]+\.[0-9]+$' "$ISOLA" --version
expect_ok run-help '--kernel FILE' "$ISOLA" run --help
expect_usage no-command "no command given" "$ISOLA"
expect_usage unknown-command "unknown command 'frobnicate'" "$ISOLA" frobnicate
expect_usage unknown-option "unknown option '--frobnicate'" "$ISOLA" run --frobnicate
expect_usage option-needs-value "--kernel needs a value" "$ISOLA" run --kernel
expect_usage stray-argument "unexpected argument 'extra'" "$ISOLA" run --kernel /etc/hostname extra
expect_usage missing-kernel "--kernel $tmp/nope: No such file" "$ISOLA" run --kernel "$tmp/nope"
expect_usage kernel-is-dir "--kernel $tmp: not a regular file" "$ISOLA" run --kernel "$tmp"
expect_usage missing-initrd "--initrd $tmp/nope: No such file" "$ISOLA" run --kernel /etc/hostname --initrd "$tmp/nope"
expect_usage cpus-zero "--cpus 0: give a number from 1 to 64" "$ISOLA" run --kernel /etc/hostname --cpus 0
expect_usage cpus-too-many "--cpus 65: give a number" "$ISOLA" run --kernel /etc/hostname --cpus 65
expect_usage cpus-not-number "--cpus two: give a number" "$ISOLA" run --kernel /etc/hostname --cpus two
expect_usage memory-garbage "--memory lots: not a size" "$ISOLA" run --kernel /etc/hostname --memory lots
expect_usage memory-too-small "--memory: 1 MiB is too small" "$ISOLA" run --kernel /etc/hostname --memory 1M
expect_usage memory-too-large "--memory: .* more than this host's" "$ISOLA" run --kernel /etc/hostname --memory 64T
expect_usage memory-unaligned "--memory: must be a multiple of 4 KiB" "$ISOLA" run --kernel /etc/hostname --memory 16777217
expect_usage accel-unknown "--accel fast: choose auto, kvm or soft" "$ISOLA" run --kernel /etc/hostname --accel fast
expect_usage on-reset-unknown "--on-reset reboot: choose exit or restart" "$ISOLA" run --kernel /etc/hostname --on-reset reboot

expect_usage console-unknown "--console usb: choose serial or virtio" "$ISOLA" run --kernel /etc/hostname --console usb
# --root: needs a disk to be on and a device path; one root= only.
expect_usage root-without-disk "--root /dev/vda: no --disk given" "$ISOLA" run --kernel /etc/hostname --root /dev/vda
expect_usage root-not-a-device "--root vda: give the device" "$ISOLA" run --kernel /etc/hostname --root vda --disk x.img
expect_usage root-empty-device "--root /dev/: give the device" "$ISOLA" run --kernel /etc/hostname --root /dev/ --disk x.img
expect_usage root-bad-char "--root /dev/vda;ls: ';' has no place" "$ISOLA" run --kernel /etc/hostname --root '/dev/vda;ls' --disk x.img
expect_usage root-dotdot "--root /dev/../etc: give a plain device path" "$ISOLA" run --kernel /etc/hostname --root /dev/../etc --disk x.img
expect_usage root-twice "--root /dev/vda: the --cmdline already has a root=" "$ISOLA" run --kernel /etc/hostname --cmdline "quiet root=/dev/vdb" --root /dev/vda --disk x.img
expect_usage virtio-too-many "at most 8 virtio devices" "$ISOLA" run --kernel /etc/hostname --console virtio \
	--disk a --disk b --disk c --disk d --disk e --disk f --disk g --disk h

# --disk: every bad image gets one line and status 2 (--dry-run opens the
# images like a real start, without running the guest).
if [ -f "$KERNEL" ]; then
	truncate -s 1M "$tmp/disk.img"
	printf 'odd' >"$tmp/odd.img"
	expect_usage disk-unknown-key "--disk path=$tmp/disk.img,speed=fast: unknown key 'speed'" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "path=$tmp/disk.img,speed=fast"
	expect_usage disk-bad-cache "cache=fast: choose writeback, none or unsafe" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "path=$tmp/disk.img,cache=fast"
	expect_usage disk-no-path "--disk readonly=on: no path=IMG given" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk readonly=on
	expect_usage disk-missing "$tmp/none.img: no such image file" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "path=$tmp/none.img"
	expect_usage disk-twice "the same image is already a disk of this VM" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "$tmp/disk.img" --disk "path=$tmp/disk.img"
	expect_usage disk-not-sectors "$tmp/odd.img.*512" \
		"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "path=$tmp/odd.img"
	# Locked by another isola: a second instance holds it read-write while
	# its guest (echo) waits for input that never comes.
	"$ISOLA" run --kernel "$BUILD/guests/echo.elf" --disk "path=$tmp/disk.img" \
		>/dev/null 2>&1 </dev/null &
	holder=$!
	ino=$(stat -c %i "$tmp/disk.img")
	i=0
	while [ $i -lt 50 ] && ! grep -q "OFDLCK.*:$ino " /proc/locks; do
		sleep 0.1
		i=$((i + 1))
	done
	if grep -q "OFDLCK.*:$ino " /proc/locks; then
		expect_usage disk-locked "$tmp/disk.img.*(lock|in use|busy)" \
			"$ISOLA" run --dry-run --kernel "$KERNEL" --disk "path=$tmp/disk.img"
	else
		echo "SKIP: cli/disk-locked (the holder did not start in time)"
	fi
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
else
	echo "SKIP: cli/disk-* (no $KERNEL: make guests)"
fi

# --gdb and --trace: every bad value gets one line and status 2.
expect_usage gdb-not-tcp "--gdb unix:/tmp/s: only TCP is supported" \
	"$ISOLA" run --kernel /etc/hostname --gdb unix:/tmp/s
expect_usage gdb-no-port "--gdb tcp:127.0.0.1: no port" \
	"$ISOLA" run --kernel /etc/hostname --gdb tcp:127.0.0.1
expect_usage gdb-bad-port "--gdb tcp:127.0.0.1:99999: port '99999' is not a number" \
	"$ISOLA" run --kernel /etc/hostname --gdb tcp:127.0.0.1:99999
expect_usage gdb-no-host "--gdb tcp::1234: no host" \
	"$ISOLA" run --kernel /etc/hostname --gdb tcp::1234
expect_usage gdb-twice "--gdb tcp:127.0.0.1:2: given twice" \
	"$ISOLA" run --kernel /etc/hostname --gdb tcp:127.0.0.1:1 --gdb tcp:127.0.0.1:2
expect_usage gdb-wait-alone "--gdb-wait: needs --gdb" \
	"$ISOLA" run --kernel /etc/hostname --gdb-wait
expect_usage trace-no-file "--trace ,size=1M: no file name" \
	"$ISOLA" run --kernel /etc/hostname --trace ,size=1M
expect_usage trace-bad-size "--trace $tmp/t,size=lots: size must be from 4K to 16G" \
	"$ISOLA" run --kernel /etc/hostname --trace "$tmp/t,size=lots"
expect_usage trace-too-small "--trace $tmp/t,size=1K: size must be" \
	"$ISOLA" run --kernel /etc/hostname --trace "$tmp/t,size=1K"
expect_usage trace-too-large "--trace $tmp/t,size=1T: size must be" \
	"$ISOLA" run --kernel /etc/hostname --trace "$tmp/t,size=1T"
expect_usage trace-unknown-option "--trace $tmp/t,speed=1: unknown option 'speed=1'" \
	"$ISOLA" run --kernel /etc/hostname --trace "$tmp/t,speed=1"
expect_usage trace-kvm "--trace $tmp/t: the instruction trace is soft-only" \
	"$ISOLA" run --kernel /etc/hostname --accel kvm --trace "$tmp/t"
if [ -f "$KERNEL" ]; then
	expect_usage gdb-unresolvable "--gdb tcp:no.such.host.invalid:1234: cannot resolve" \
		"$ISOLA" run --dry-run --accel soft --kernel "$KERNEL" --gdb tcp:no.such.host.invalid:1234
	expect_usage trace-cannot-create "--trace $tmp/no/t: cannot create it" \
		"$ISOLA" run --dry-run --accel soft --kernel "$KERNEL" --trace "$tmp/no/t"
	# A port another program listens on.
	python3 -c 'import socket,sys,time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$tmp/port" &
	holder=$!
	i=0
	while [ $i -lt 50 ] && ! [ -s "$tmp/port" ]; do sleep 0.1; i=$((i + 1)); done
	port=$(cat "$tmp/port")
	if [ -n "$port" ]; then
		expect_usage gdb-port-in-use "--gdb tcp:127.0.0.1:$port: port $port is in use" \
			"$ISOLA" run --dry-run --accel soft --kernel "$KERNEL" --gdb "tcp:127.0.0.1:$port"
	else
		echo "SKIP: cli/gdb-port-in-use (the port holder did not start)"
	fi
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
else
	echo "SKIP: cli/gdb-port-in-use (no $KERNEL: make guests)"
fi

# A file that is not a kernel: the loader says so (needs a working back end
# to get that far).
if [ -r /dev/kvm ]; then
	printf 'this is not a kernel\n' >"$tmp/notakernel"
	expect_usage not-a-kernel "kernel $tmp/notakernel: not a bzImage or ELF64" \
		"$ISOLA" run --accel kvm --kernel "$tmp/notakernel"
	head -c 100000 /dev/zero >"$tmp/zeros"
	expect_usage zeros-not-a-kernel "kernel $tmp/zeros: not a bzImage or ELF64" \
		"$ISOLA" run --accel kvm --kernel "$tmp/zeros"
else
	echo "SKIP: cli/not-a-kernel (no /dev/kvm)"
fi

# No /dev/kvm at all: a private mount namespace with an empty /dev.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	expect_usage no-dev-kvm "--accel kvm: /dev/kvm does not exist" \
		unshare --mount sh -c "mount -t tmpfs none /dev && exec $ISOLA run --accel kvm --kernel /etc/hostname"
else
	echo "SKIP: cli/no-dev-kvm (needs root and unshare)"
fi
# No permission on /dev/kvm: run as nobody (/dev/kvm is root-only here).
if [ "$(id -u)" = 0 ] && [ -e /dev/kvm ] && command -v setpriv >/dev/null &&
   ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r /dev/kvm; then
	cp "$ISOLA" "$tmp/isola" && chmod 755 "$tmp" "$tmp/isola"
	expect_usage no-kvm-permission "--accel kvm: no permission to open /dev/kvm" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/isola" run --accel kvm --kernel /etc/hostname
else
	echo "SKIP: cli/no-kvm-permission (needs root, setpriv and a root-only /dev/kvm)"
fi
exit 0
