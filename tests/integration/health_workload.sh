# A shell workload whose output is byte-exact and known: linux_health.sh runs
# it in the guest (Debian kernel on the soft CPU) and, as the oracle, with the
# very same busybox binary natively on the host CPU, and compares. It goes
# through integer code (seq, sort, sha256sum, md5sum, gzip) and SSE2 (awk's
# double arithmetic, fmod, exp, sqrt and printf). Of the x87, busybox's static
# glibc reaches only FNSTCW here (strtod reads the rounding mode): no busybox
# command found runs x87 arithmetic (checked with breakpoints on every x87
# instruction in the binary), so the x87 is tested by tests/difftest instead.
# Runs in the current directory. Keep it small: the guest runs it at tens of
# millions of instructions per second.
seq 1 20000 > hc.seq
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) printf "%08x %d\n", int(rand() * 4294967295), i }' > hc.rnd
sha256sum hc.seq hc.rnd
md5sum hc.seq hc.rnd
sort hc.rnd | md5sum
sort -n -r -k2 hc.rnd | head -n 3
awk 'BEGIN { for (i = 1; i <= 12; i++) printf "%.10g %.6e %.4f %d\n", sqrt(i) * 1.5, exp(i / 3), (i * 10.7) % 3.3, 2 ^ (i * 3) }'
awk '{ s += $2 * 0.37 } END { printf "%.6f %.3e %d\n", s, s / NR, NR }' hc.rnd
gzip -c hc.rnd | md5sum
gzip -c hc.rnd | gunzip -c | cmp - hc.rnd && echo gzip-roundtrip-ok
