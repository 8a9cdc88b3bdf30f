/* Model-specific registers of the soft CPU and its time-stamp counter.
 *
 * Implemented (SDM Vol. 4 numbering): TSC, TSC_ADJUST, APIC_BASE, MTRRcap, SYSENTER_*,
 * MISC_ENABLE, PAT, MTRRdefType, EFER, STAR, LSTAR, CSTAR, SFMASK, FS_BASE,
 * GS_BASE, KERNEL_GS_BASE, TSC_AUX, plus PLATFORM_ID and BIOS_SIGN_ID (the
 * microcode revision) which Linux reads unconditionally on Intel CPUs. Any
 * other MSR, and any reserved bit set on a write, is #GP(0) as on hardware.
 *
 * The TSC runs at SOFT_TSC_HZ (1 GHz) from the host's CLOCK_MONOTONIC, plus
 * an offset that writes to IA32_TSC adjust; CPUID leaves 0x15/0x16 announce
 * the frequency so a guest never needs to calibrate it against a slow PIT.
 * IA32_TSC_ADJUST (CPUID.7.0:EBX[1]) follows every write to the TSC and moves
 * the TSC when written itself; with it (and the invariant TSC) Linux trusts
 * the TSC instead of checking it against a jiffies watchdog that a slow CPU
 * makes lose ticks. */
#include <time.h>

#include "accel/soft/cpu.h"

#define MSR_IA32_TSC            0x10
#define MSR_IA32_PLATFORM_ID    0x17
#define MSR_IA32_TSC_ADJUST     0x3b
#define MSR_IA32_APIC_BASE      0x1b
#define MSR_IA32_BIOS_SIGN_ID   0x8b
#define MSR_IA32_MTRRCAP        0xfe
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_IA32_PAT            0x277
#define MSR_IA32_MTRR_DEF_TYPE  0x2ff
#define MSR_EFER                0xc0000080
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SFMASK              0xc0000084
#define MSR_FS_BASE             0xc0000100
#define MSR_GS_BASE             0xc0000101
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MSR_TSC_AUX             0xc0000103

uint64_t soft_rdtsc(struct soft_cpu *cpu)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* SOFT_TSC_HZ is 1 GHz: one tick per nanosecond. */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + cpu->tsc_offset;
}

int soft_rdmsr(struct soft_cpu *cpu, uint32_t msr, uint64_t *v)
{
	switch (msr) {
	case MSR_IA32_TSC: *v = soft_rdtsc(cpu); break;
	case MSR_IA32_PLATFORM_ID: *v = 0; break;
	case MSR_IA32_TSC_ADJUST: *v = cpu->tsc_adjust; break;
	case MSR_IA32_APIC_BASE: *v = cpu->apic_base; break;
	case MSR_IA32_BIOS_SIGN_ID: *v = 0; break;
	case MSR_IA32_MTRRCAP: *v = 0; break; /* no variable/fixed ranges, no WC */
	case MSR_IA32_SYSENTER_CS: *v = cpu->sysenter_cs; break;
	case MSR_IA32_SYSENTER_ESP: *v = cpu->sysenter_esp; break;
	case MSR_IA32_SYSENTER_EIP: *v = cpu->sysenter_eip; break;
	case MSR_IA32_MISC_ENABLE: *v = cpu->misc_enable; break;
	case MSR_IA32_PAT: *v = cpu->pat; break;
	case MSR_IA32_MTRR_DEF_TYPE: *v = cpu->mtrr_def_type; break;
	case MSR_EFER: *v = cpu->efer; break;
	case MSR_STAR: *v = cpu->star; break;
	case MSR_LSTAR: *v = cpu->lstar; break;
	case MSR_CSTAR: *v = cpu->cstar; break;
	case MSR_SFMASK: *v = cpu->sfmask; break;
	case MSR_FS_BASE: *v = cpu->seg[X86_FS].base; break;
	case MSR_GS_BASE: *v = cpu->seg[X86_GS].base; break;
	case MSR_KERNEL_GS_BASE: *v = cpu->kernel_gs_base; break;
	case MSR_TSC_AUX: *v = cpu->tsc_aux; break;
	default: return soft_gp0(cpu);
	}
	return SOFT_OK;
}

/* PAT entries may hold the types 0, 1, 4, 5, 6, 7 (SDM Vol. 3A §13.12.2). */
static bool pat_valid(uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		unsigned t = (v >> (i * 8)) & 0xff;
		if (t > 7 || t == 2 || t == 3)
			return false;
	}
	return true;
}

int soft_wrmsr(struct soft_cpu *cpu, uint32_t msr, uint64_t v)
{
	switch (msr) {
	case MSR_IA32_TSC: {
		uint64_t delta = v - soft_rdtsc(cpu);
		cpu->tsc_offset += delta;
		cpu->tsc_adjust += delta;
		break;
	}
	case MSR_IA32_TSC_ADJUST:
		cpu->tsc_offset += v - cpu->tsc_adjust;
		cpu->tsc_adjust = v;
		break;
	case MSR_IA32_APIC_BASE:
		/* BSP (8), x2APIC enable (10, not offered), global enable (11),
		 * base below MAXPHYADDR. */
		if (v & ~(((1ull << SOFT_MAXPHYADDR) - 1) & ~0x6ffull))
			return soft_gp0(cpu);
		cpu->apic_base = (v & ~(1ull << 8)) | (cpu->apic_base & (1ull << 8));
		soft_apic_base_changed(cpu);
		break;
	case MSR_IA32_BIOS_SIGN_ID:
		break; /* writing 0 before CPUID(1) latches the revision: nothing to latch */
	case MSR_IA32_SYSENTER_CS: cpu->sysenter_cs = v & 0xffff; break;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!soft_canonical(v))
			return soft_gp0(cpu);
		switch (msr) {
		case MSR_IA32_SYSENTER_ESP: cpu->sysenter_esp = v; break;
		case MSR_IA32_SYSENTER_EIP: cpu->sysenter_eip = v; break;
		case MSR_LSTAR: cpu->lstar = v; break;
		case MSR_CSTAR: cpu->cstar = v; break;
		case MSR_FS_BASE: cpu->seg[X86_FS].base = v; break;
		case MSR_GS_BASE: cpu->seg[X86_GS].base = v; break;
		default: cpu->kernel_gs_base = v; break;
		}
		break;
	case MSR_IA32_MISC_ENABLE:
		/* Only fast strings (bit 0) is writable here. */
		cpu->misc_enable = (cpu->misc_enable & ~1ull) | (v & 1);
		break;
	case MSR_IA32_PAT:
		if (!pat_valid(v))
			return soft_gp0(cpu);
		cpu->pat = v;
		break;
	case MSR_IA32_MTRR_DEF_TYPE:
		if (v & ~0xcffull)
			return soft_gp0(cpu);
		cpu->mtrr_def_type = v;
		break;
	case MSR_EFER: {
		/* SCE, LME, NXE are writable; LMA is read-only and LME may not
		 * change while paging is on (SDM Vol. 3A §9.8.5). */
		uint64_t w = X86_EFER_SCE | X86_EFER_LME | X86_EFER_NXE;
		if (v & ~(w | X86_EFER_LMA))
			return soft_gp0(cpu);
		if ((cpu->cr0 & X86_CR0_PG) && ((v ^ cpu->efer) & X86_EFER_LME))
			return soft_gp0(cpu);
		uint64_t old = cpu->efer;
		cpu->efer = (cpu->efer & X86_EFER_LMA) | (v & w);
		soft_mode_changed(cpu);
		if ((old ^ cpu->efer) & X86_EFER_NXE)
			soft_tlb_flush(cpu, true);
		break;
	}
	case MSR_STAR: cpu->star = v; break;
	case MSR_SFMASK: cpu->sfmask = v & 0xffffffff; break;
	case MSR_TSC_AUX:
		if (v >> 32)
			return soft_gp0(cpu);
		cpu->tsc_aux = v;
		break;
	default:
		return soft_gp0(cpu);
	}
	return SOFT_OK;
}
