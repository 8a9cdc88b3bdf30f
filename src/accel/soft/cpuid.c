/* CPUID of the soft CPU: a fixed, documented model (SDM Vol. 2A "CPUID").
 *
 * It announces only what the soft CPU implements, in the spirit of QEMU's
 * qemu64 model, with the GenuineIntel vendor string (Linux picks its quirks
 * by vendor; an unknown vendor gets fewer of them right).
 *
 *  leaf        register  value / bits
 *  0           EAX       0x16 (highest basic leaf); EBX,EDX,ECX "GenuineIntel"
 *  1           EAX       0x000006f1: family 6, model 15, stepping 1
 *              EBX       CLFLUSH line 8 qwords, 1 logical CPU, APIC ID = vCPU index
 *              ECX       CX16(13) POPCNT(23) HYPERVISOR(31)
 *              EDX       FPU(0) PSE(3) TSC(4) MSR(5) PAE(6) CX8(8) APIC(9) MTRR(12)
 *                        PGE(13) CMOV(15) PAT(16) CLFSH(19) MMX(23) FXSR(24)
 *                        SSE(25) SSE2(26)
 *  2           EAX       0x01 (no cache descriptors)
 *  3-6         all       0 (no cache/topology/power information)
 *  7           EBX       TSC_ADJUST(1) (subleaf 0; EAX 0: no other subleaf)
 *  8-0xa       all       0 (no PMU information)
 *  0xb         topology: one package of N cores (N vCPUs), one thread each.
 *              Subleaf 0 (SMT): EAX 0, EBX 1, ECX 0x100; subleaf 1 (core):
 *              EAX = bits to shift the APIC ID right for the package ID
 *              (ceil(log2 N)), EBX N, ECX 0x201; subleaf >= 2: ECX = subleaf
 *              (level type 0, invalid). EDX = APIC ID = vCPU index. Without
 *              it Linux puts every CPU in its own package and re-measures
 *              the delay loop on each.
 *  0xc-0x14    all       0 (no XSAVE information)
 *  0x15        EAX/EBX/ECX  1 / 1 / 1 GHz: the TSC runs at the crystal's 1 GHz.
 *              The crystal is also the local APIC timer's input (LAPIC_BUS_HZ,
 *              devices/lapic.h): Linux takes lapic_timer_period from this leaf
 *              (native_calibrate_tsc) and skips measuring the APIC timer, so
 *              both must be the same clock or its ticks come 40x too fast.
 *  0x16        EAX/EBX/ECX  1000 / 1000 / 100 (MHz)
 *  0x40000000  EAX       0x40000010; EBX,ECX,EDX "IsolaSoftCPU"
 *  0x40000010  EAX/EBX   TSC kHz 1000000 / APIC bus kHz 1000000 (the timing leaf)
 *  0x80000000  EAX       0x80000008
 *  0x80000001  ECX       LAHF_LM(0)
 *              EDX       SYSCALL(11) NX(20) PDPE1GB(26) RDTSCP(27) LM(29)
 *  0x80000002-4          brand string "Isola soft CPU"
 *  0x80000007  EDX       invariant TSC(8)
 *  0x80000008  EAX       0x3028: 40 physical, 48 linear address bits
 *
 * Not announced, hence #UD if used: SSE3 and later, AVX, XSAVE, FSGSBASE,
 * BMI, SMEP/SMAP, PCID, x2APIC, SYSENTER. A leaf above the highest basic or
 * extended leaf returns the highest basic leaf, as Intel parts do. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "devices/lapic.h"

#define CPUID_MAX_BASIC 0x16u
#define CPUID_MAX_HV    0x40000010u
#define CPUID_MAX_EXT   0x80000008u

static void sig(uint32_t out[4], const char s[12], int b, int c, int d)
{
	memcpy(&out[b], s, 4);
	memcpy(&out[c], s + 4, 4);
	memcpy(&out[d], s + 8, 4);
}

void soft_cpuid(const struct soft_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	static const char brand[48] = "Isola soft CPU";

	memset(out, 0, 4 * sizeof(uint32_t));
	if ((leaf > CPUID_MAX_BASIC && leaf < 0x40000000u) ||
	    (leaf > CPUID_MAX_HV && leaf < 0x80000000u) || leaf > CPUID_MAX_EXT)
		leaf = CPUID_MAX_BASIC;
	switch (leaf) {
	case 0:
		out[0] = CPUID_MAX_BASIC;
		sig(out, "GenuineIntel", 1, 3, 2);
		break;
	case 1:
		out[0] = 0x6f1;
		out[1] = ((uint32_t)cpu->index << 24) | (1u << 16) | (8u << 8);
		out[2] = (1u << 13) | (1u << 23) | (1u << 31);
		out[3] = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
			 (1u << 9) | (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) |
			 (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
		break;
	case 2:
		out[0] = 1;
		break;
	case 7:
		if (sub == 0)
			out[1] = 1u << 1;
		break;
	case 0xb: {
		unsigned n = cpu->vm && cpu->vm->nr_cpus ? cpu->vm->nr_cpus : 1, shift = 0;
		while ((1u << shift) < n)
			shift++;
		out[3] = (uint32_t)cpu->index;
		if (sub == 0) {
			out[1] = 1;
			out[2] = 1u << 8;
		} else if (sub == 1) {
			out[0] = shift;
			out[1] = n;
			out[2] = 1 | (2u << 8);
		} else {
			out[2] = sub & 0xff;
		}
		break;
	}
	case 0x15:
		out[0] = 1;
		out[1] = 1;
		out[2] = (uint32_t)LAPIC_BUS_HZ;
		break;
	case 0x16:
		out[0] = 1000;
		out[1] = 1000;
		out[2] = 100;
		break;
	case 0x40000000:
		out[0] = CPUID_MAX_HV;
		sig(out, "IsolaSoftCPU", 1, 2, 3);
		break;
	case 0x40000010:
		out[0] = 1000000; /* the TSC's kHz (msr.c) */
		out[1] = (uint32_t)(LAPIC_BUS_HZ / 1000);
		break;
	case 0x80000000:
		out[0] = CPUID_MAX_EXT;
		break;
	case 0x80000001:
		out[2] = 1u << 0;
		out[3] = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
		break;
	case 0x80000002: case 0x80000003: case 0x80000004:
		memcpy(out, brand + (leaf - 0x80000002) * 16, 16);
		break;
	case 0x80000007:
		out[3] = 1u << 8;
		break;
	case 0x80000008:
		out[0] = (48u << 8) | SOFT_MAXPHYADDR;
		break;
	default:
		break;
	}
}
