#!/bin/sh
# Is Linux healthy on the soft CPU? One boot of the guest kit's Debian kernel
# with two vCPUs and 512 MiB (issue #4), checked from inside the guest:
#   dmesg-clean   no BUG:, WARNING:, Oops, soft lockup, "clocksource ... unstable"
#                 or "tsc: Marking TSC unstable" line in dmesg;
#   cpu-model     /proc/cpuinfo's model name is the soft CPU's documented one
#                 (src/accel/soft/cpuid.c), on both CPUs;
#   memory        MemTotal is within 10% below --memory (the kernel keeps the rest);
#   clock         `sleep 2` in the guest takes 2 s of host time (1.8–3.0 s: the
#                 guest's timers run on the host clock, whatever the CPU speed);
#   workload      linux_health.workload (sha256sum, md5sum, sort, awk with
#                 floating-point printf and fmod, gzip | gunzip) prints exactly
#                 what the same busybox binary prints run natively on the host;
#   x87           x87_workload.c (glibc's long double libm, %Lf, rounding
#                 modes, FNSAVE/FRSTOR, #MF as SIGFPE: the x87 code busybox
#                 never reaches), built static and added to the initramfs as
#                 a second cpio archive, prints what it prints on the host;
# then a second boot whose command crashes the kernel (sysrq c):
#   panic         isola ends with status 8 and says the guest kernel panicked
#                 (pvpanic), the panic message on the console before it.
# ~2 boots of 40–60 s here. SKIP without a guest kit or under ASan (as
# linux_soft.sh; LINUX_SOFT_SANITIZED=1 runs it anyway).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KIT=${ISOLA_GUESTKIT:-$BUILD/guestkit}
ISOLA=$BUILD/isola
TIMEOUT=${LINUX_SOFT_TIMEOUT:-300}
S=linux/health
MEM_MIB=512
MODEL="Isola soft CPU"

. tests/integration/lib/linux_guest.sh
linux_guest_ready "$S" || exit 0
if [ ! -x "$KIT/rootfs-busybox/bin/busybox" ]; then
	echo "SKIP: $S/all (no busybox tree in $KIT: make guestkit)"
	exit 0
fi
[ "$LINUX_GUEST_SANITIZED" = 1 ] && TIMEOUT=${LINUX_SOFT_TIMEOUT:-1200}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/console err=$tmp/stderr

why() { # the last console and stderr lines, on one line
	{ tail -n 3 "$out"; tail -n 2 "$err"; } | tr -d '\r' | tr '\n' '|' | cut -c1-300
}

# The oracle: the guest's own busybox binary, natively on the host.
mkdir "$tmp/bin" "$tmp/host"
for a in sh seq awk sha256sum md5sum sort head gzip gunzip cmp; do
	ln -s "$(cd "$KIT/rootfs-busybox/bin" && pwd)/busybox" "$tmp/bin/$a"
done
(cd "$tmp/host" && PATH=$tmp/bin sh "$OLDPWD/tests/integration/linux_health.workload") \
	>"$tmp/want" 2>&1

# A workload that fails on the host too would compare nothing.
if grep -qE '^awk:|not found|not compiled' "$tmp/want"; then
	echo "FAIL: $S/workload-oracle (linux_health.workload fails natively: $(head -c 200 "$tmp/want" | tr '\n' '|'))"
fi

# The x87 workload, static, in a cpio archive appended to the kit's initramfs
# (the kernel unpacks concatenated archives in turn).
x87=
if gcc -O1 -static -o "$tmp/x87w" tests/integration/x87_workload.c -lm 2>"$tmp/x87cc" &&
   "$tmp/x87w" >"$tmp/x87want" 2>&1 &&
   (cd "$tmp" && echo x87w | cpio -o -H newc --quiet >"$tmp/x87.cpio"); then
	cat "$KIT/initrd.img" "$tmp/x87.cpio" >"$tmp/initrd.img"
	x87=yes
else
	cp "$KIT/initrd.img" "$tmp/initrd.img"
fi

# The guest's command: facts first, each line tagged, then the workload. The
# comments of the workload are left out to keep the command line short.
cat >"$tmp/cmd" <<'EOF'
cd /tmp
echo "HC-MODEL $(grep -c "^model name.*: @MODEL@ *$" /proc/cpuinfo)"
echo "HC-NPROC $(nproc)"
echo "HC-MEMTOTAL $(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)"
dmesg | grep -E 'BUG:|WARNING:|Oops|soft lockup|clocksource.*unstable|tsc: Marking TSC unstable' | sed 's/^/HC-DMESG /'
echo HC-SLEEP-START
sleep 2
echo HC-SLEEP-END
echo HC-WORKLOAD-START
EOF
sed -i "s/@MODEL@/$MODEL/" "$tmp/cmd"
grep -v '^#' tests/integration/linux_health.workload >>"$tmp/cmd"
echo 'echo HC-WORKLOAD-END' >>"$tmp/cmd"
echo 'echo HC-X87-START; [ -x /x87w ] && /x87w 2>&1; echo HC-X87-END' >>"$tmp/cmd"
cmd=$(base64 -w0 "$tmp/cmd")

# Every console line with the host time it arrived, "SECONDS LINE".
stamp() {
	python3 -u -c '
import sys, time
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(b"%.3f " % time.monotonic() + line)
'
}

{ timeout "$TIMEOUT" "$ISOLA" run --accel soft --cpus 2 --memory ${MEM_MIB}M \
	--kernel "$KIT/vmlinuz" --initrd "$tmp/initrd.img" \
	--cmdline "console=ttyS0 panic=-1 isola.cmd64=$cmd" </dev/null 2>"$err"
  echo $? >"$tmp/status"; } | stamp >"$tmp/stamped"
status=$(cat "$tmp/status")
cut -d' ' -f2- "$tmp/stamped" | tr -d '\r' >"$out"

if ! grep -q '^ISOLA-BOOT-OK' "$out"; then
	echo "FAIL: $S/boot (status $status; last output: $(why))"
	exit 0
fi
if ! grep -q '^HC-X87-END' "$out"; then
	echo "FAIL: $S/command (status $status; it did not finish; last output: $(why))"
	exit 0
fi
echo "PASS: $S/boot"

bad=$(grep '^HC-DMESG ' "$out" | head -n 3 | cut -c10- | tr '\n' '|' | cut -c1-300)
if [ -z "$bad" ]; then
	echo "PASS: $S/dmesg-clean"
else
	echo "FAIL: $S/dmesg-clean ($bad)"
fi

n=$(sed -n 's/^HC-MODEL //p' "$out")
cpus=$(sed -n 's/^HC-NPROC //p' "$out")
if [ "$n" = 2 ] && [ "$cpus" = 2 ]; then
	echo "PASS: $S/cpu-model"
else
	echo "FAIL: $S/cpu-model ('$MODEL' on $n CPU(s) of $cpus; wanted on 2 of 2)"
fi

kib=$(sed -n 's/^HC-MEMTOTAL //p' "$out")
want=$((MEM_MIB * 1024))
if [ -n "$kib" ] && [ "$kib" -le "$want" ] && [ "$kib" -ge $((want * 9 / 10)) ]; then
	echo "PASS: $S/memory"
else
	echo "FAIL: $S/memory (MemTotal ${kib:-?} kB with --memory ${MEM_MIB}M = $want kB)"
fi

t0=$(sed -n 's/^\([0-9.]*\) HC-SLEEP-START.*/\1/p' "$tmp/stamped")
t1=$(sed -n 's/^\([0-9.]*\) HC-SLEEP-END.*/\1/p' "$tmp/stamped")
if [ -n "$t0" ] && [ -n "$t1" ] &&
   awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; exit !(d >= 1.8 && d <= 3.0) }'; then
	echo "PASS: $S/clock"
else
	echo "FAIL: $S/clock ('sleep 2' took $(awk -v a="${t0:-0}" -v b="${t1:-0}" \
		'BEGIN { printf "%.2f", b - a }') s of host time)"
fi

sed -n '/^HC-WORKLOAD-START/,/^HC-WORKLOAD-END/p' "$out" | sed '1d;$d' |
	grep -vE '^\[ *[0-9]+\.[0-9]+\]' >"$tmp/got"
if cmp -s "$tmp/want" "$tmp/got"; then
	echo "PASS: $S/workload"
else
	echo "FAIL: $S/workload (differs from host busybox: $(diff "$tmp/want" "$tmp/got" |
		grep '^[<>]' | head -n 4 | tr '\n' '|' | cut -c1-300))"
fi

if [ -z "$x87" ]; then
	echo "FAIL: $S/x87 (could not build or run tests/integration/x87_workload.c on the host: $(head -c 200 "$tmp/x87cc"))"
else
	sed -n '/^HC-X87-START/,/^HC-X87-END/p' "$out" | sed '1d;$d' |
		grep -vE '^\[ *[0-9]+\.[0-9]+\]' >"$tmp/x87got"
	if cmp -s "$tmp/x87want" "$tmp/x87got"; then
		echo "PASS: $S/x87"
	else
		echo "FAIL: $S/x87 (differs from the host: $(diff "$tmp/x87want" "$tmp/x87got" |
			grep '^[<>]' | head -n 4 | tr '\n' '|' | cut -c1-300))"
	fi
fi

# The panic boot.
cmd=$(printf 'echo c > /proc/sysrq-trigger' | base64 -w0)
timeout "$TIMEOUT" "$ISOLA" run --accel soft --kernel "$KIT/vmlinuz" --initrd "$KIT/initrd.img" \
	--cmdline "console=ttyS0 panic=-1 isola.cmd64=$cmd" </dev/null >"$out" 2>"$err"
status=$?
if [ "$status" -eq 8 ] && grep -q 'Kernel panic - not syncing' "$out" &&
   grep -q 'guest kernel panicked' "$err" && [ "$(wc -l <"$err")" -eq 1 ]; then
	echo "PASS: $S/panic"
else
	echo "FAIL: $S/panic (status $status, wanted 8 with one line on stderr; last output: $(why))"
fi
exit 0
