/* CPUID as a 64-bit guest sees it: the vendor, the leaf ranges, and the
 * features every x86-64 kernel relies on (Intel SDM vol. 2A, CPUID): long
 * mode and NX (leaf 0x80000001 EDX bits 29, 20), TSC, APIC and SSE2 (leaf 1
 * EDX bits 4, 9, 26), and the boot CPU's initial APIC id 0 (leaf 1 EBX
 * bits 31:24). Also that the answers are stable and that the leaf 0 maximum
 * is honoured. */
#include "rt/lib.h"

static void put_regs_as_text(const uint32_t *regs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned b = 0; b < 4; b++) {
			char c = (char)(regs[i] >> (b * 8));
			putc(c >= 0x20 && c < 0x7f ? c : '.');
		}
}

int guest_main(void *bp)
{
	unsigned bad = 0;
	struct cpuid_regs l0 = cpuid(0, 0);
	uint32_t vendor[3] = { l0.ebx, l0.edx, l0.ecx };

	puts("vendor: ");
	put_regs_as_text(vendor, 3);
	printf("\nmax basic leaf: 0x%x\n", l0.eax);
	if (l0.eax < 1)
		fail("leaf 0 reports no leaf 1");

	struct cpuid_regs l1 = cpuid(1, 0);
	printf("leaf 1: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x\n", l1.eax, l1.ebx,
	       l1.ecx, l1.edx);
	unsigned family = (l1.eax >> 8) & 0xf, model = (l1.eax >> 4) & 0xf;
	if (family == 0xf)
		family += (l1.eax >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model |= ((l1.eax >> 16) & 0xf) << 4;
	printf("family 0x%x model 0x%x stepping %u\n", family, model, l1.eax & 0xf);

	struct cpuid_regs e0 = cpuid(0x80000000, 0);
	printf("max extended leaf: 0x%x\n", e0.eax);
	if (e0.eax < 0x80000001)
		fail("no extended leaf 0x80000001");
	struct cpuid_regs e1 = cpuid(0x80000001, 0);
	printf("leaf 0x80000001: ecx=0x%08x edx=0x%08x\n", e1.ecx, e1.edx);
	if (e0.eax >= 0x80000004) {
		uint32_t brand[12];
		for (unsigned i = 0; i < 3; i++) {
			struct cpuid_regs b = cpuid(0x80000002 + i, 0);
			brand[i * 4 + 0] = b.eax;
			brand[i * 4 + 1] = b.ebx;
			brand[i * 4 + 2] = b.ecx;
			brand[i * 4 + 3] = b.edx;
		}
		puts("brand: ");
		put_regs_as_text(brand, 12);
		putc('\n');
	}
	if (l1.ecx & (1u << 31)) {
		struct cpuid_regs h = cpuid(0x40000000, 0);
		uint32_t sig[3] = { h.ebx, h.ecx, h.edx };
		puts("hypervisor: ");
		put_regs_as_text(sig, 3);
		printf(", max leaf 0x%x\n", h.eax);
	}

	static const struct {
		const char *name;
		int ext;
		uint32_t bit;
	} need[] = {
		{ "TSC", 0, 1u << 4 },   { "APIC", 0, 1u << 9 }, { "SSE2", 0, 1u << 26 },
		{ "NX", 1, 1u << 20 },   { "LM", 1, 1u << 29 },
	};
	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		uint32_t edx = need[i].ext ? e1.edx : l1.edx;
		bool ok = edx & need[i].bit;
		printf("  %-5s %s\n", need[i].name, ok ? "yes" : "MISSING");
		bad += !ok;
	}
	if (bad)
		fail("%u required features missing", bad);

	unsigned apic_id = l1.ebx >> 24;
	printf("initial APIC id: %u, logical CPUs: %u\n", apic_id, (l1.ebx >> 16) & 0xff);
	if (apic_id != 0)
		fail("boot CPU initial APIC id is %u, expected 0", apic_id);

	/* The same question gives the same answer. */
	struct cpuid_regs again = cpuid(1, 0);
	if (again.eax != l1.eax || again.edx != l1.edx || again.ebx >> 24 != apic_id)
		fail("leaf 1 changed between two reads");
	struct cpuid_regs v = cpuid(0, 0);
	if (v.eax != l0.eax || v.ebx != l0.ebx || v.ecx != l0.ecx || v.edx != l0.edx)
		fail("leaf 0 changed between two reads");
	return 0;
}
