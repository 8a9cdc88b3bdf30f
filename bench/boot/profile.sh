#!/bin/bash
# Where a soft-CPU boot's time goes: one `isola run --accel soft` boot of the
# guest kit to ISOLA-BOOT-OK (command `true`, then power-off) under
# `perf record`, summarised by function and by source file, the files grouped
# by what they do (decode cache, MMU/memory access, handlers, flags, devices).
#
# Usage: bench/boot/profile.sh
# Environment: BUILD (default build), BOOT_BENCH_KIT (default $BUILD/guestkit),
#   PROFILE_FREQ (samples/s, default 999), PROFILE_REPORT_ONLY=1 (summarise
#   the perf.data of an earlier run again, without a new boot). Output in $BUILD/bench/boot/:
#   perf.data, profile.txt (the summary, also printed).
#
# Event: cpu-clock (a software timer): this host is a VM without a PMU
# ("cycles: not supported"), so hardware events are not available. Samples
# are taken only while a thread runs, so a halted vCPU (HLT, waiting for the
# timer) does not show: compare the sampled CPU time with the wall time.
# Inlined helpers are charged to the source line they were inlined from
# (perf's srcfile sort reads the DWARF line table), so e.g. the operand
# helpers of cpu.h count as their own, not as the handler that calls them.
set -u
BUILD=${BUILD:-build}
KIT=${BOOT_BENCH_KIT:-$BUILD/guestkit}
FREQ=${PROFILE_FREQ:-999}
cd "$(dirname "$0")/../.." || exit 1
BO=$BUILD/bench/boot
ISOLA=$BUILD/isola
die() { echo "profile: $*" >&2; exit 1; }
command -v perf >/dev/null || die "no perf (apt-get install linux-perf)"
[ -x "$ISOLA" ] || die "$ISOLA not built"
[ -f "$KIT/vmlinuz" ] || die "no guest kit in $KIT"
mkdir -p "$BO" || exit 1

cmd=$(printf 'true' | base64 -w0)
t0=$(date +%s.%N)
[ "${PROFILE_REPORT_ONLY:-0}" = 1 ] || perf record -q -e cpu-clock -F "$FREQ" -o "$BO/perf.data" -- \
	"$ISOLA" run --accel soft --cpus 1 --memory 256M --kernel "$KIT/vmlinuz" \
	--initrd "$KIT/initrd.img" --cmdline "console=ttyS0 panic=-1 isola.cmd64=$cmd" \
	</dev/null >"$BO/profile.console" 2>"$BO/profile.stderr" || die "perf record failed"
t1=$(date +%s.%N)
grep -q ISOLA-BOOT-OK "$BO/profile.console" || die "no boot marker (see $BO/profile.console)"

P="perf report -i $BO/perf.data --stdio --no-children --percent-limit"
{
	echo "One soft boot to ISOLA-BOOT-OK under perf record -e cpu-clock -F $FREQ"
	if [ "${PROFILE_REPORT_ONLY:-0}" = 1 ]; then
		echo "(summary of an earlier perf.data)"
	else
		echo "wall $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
			"load average $(cut -d' ' -f1-3 /proc/loadavg)"
	fi
	echo
	echo "== by thread (comm) =="
	$P 1 --sort comm 2>/dev/null | grep -E '^ +[0-9]'
	echo
	echo "== by shared object =="
	$P 0.5 --sort dso 2>/dev/null | grep -E '^ +[0-9]'
	echo
	echo "== top functions =="
	$P 0.7 --sort dso,sym 2>/dev/null | grep -E '^ +[0-9]' | head -40
	echo
	echo "== grouped by what the code does (from the function names) =="
	$P 0 --sort dso,sym 2>/dev/null | grep -E '^ +[0-9]' | awk '
		{ pct = $1; sub(/%/, "", pct); dso = $2; sym = $NF
		  g = "isola, other (VMM, devices, event loop)"
		  if (dso ~ /kernel/) g = "host kernel (syscalls, exits, scheduling, page faults)"
		  else if (dso ~ /Zydis/ || sym ~ /^(Zydis|decode_|soft_decode|page_get)/)
			g = "decode (Zydis, decode cache fill)"
		  else if (dso !~ /^isola$/) g = "other libraries (" dso ")"
		  else if (sym ~ /^(soft_cpu_run|step|soft_fetch|exit_kicked|soft_take_events)/)
			g = "dispatch loop + decode-cache lookup (soft_cpu_run, step, soft_fetch)"
		  else if (sym ~ /^(soft_flags_|soft_cond$)/) g = "flags (eager: soft_flags_*, soft_cond)"
		  else if (sym ~ /^(soft_mem_|soft_lin_|soft_translate|walk|soft_seg_linear|gm_|soft_op_ea|soft_sys_|soft_push|soft_pop|soft_rsp|soft_peek|mmio_|soft_mmio)/)
			g = "memory access path (segment, MMU/TLB, guest memory)"
		  else if (sym ~ /^(soft_op_read_any|soft_op_write_any|rmw_op|write_result|soft_reg_)/)
			g = "generic operand access (soft_op_*_any, rmw_op0)"
		  else if (sym ~ /^(exec_|f_|fx_|branch_to|near_target|soft_exec_|alu)/)
			g = "instruction handlers (exec_*.c)"
		  sum[g] += pct }
		END { for (g in sum) printf "%8.2f%%  %s\n", sum[g], g }' | sort -rn
	echo
	echo "== isola by source file (inlined code charged to its own file) =="
	$P 0.3 --dsos isola --sort srcfile 2>/dev/null | grep -E '^ +[0-9]' | head -30
	echo
	echo "== soft_cpu_run (the loop, step() and the inlined fetch) by source line =="
	$P 0.5 --dsos isola --symbols soft_cpu_run --sort srcline 2>/dev/null |
		grep -E '^ +[0-9]' | head -15
} >"$BO/profile.txt"
cat "$BO/profile.txt"
