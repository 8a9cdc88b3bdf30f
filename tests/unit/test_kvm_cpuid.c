/* The per-vCPU CPUID fix-ups (no /dev/kvm needed). */
#include "accel/kvm_cpuid.h"
#include "unit.h"

TEST(kvm_cpuid_apic_ids_and_topology)
{
	struct kvm_cpuid_entry2 e[5] = {
		{ .function = 1, .ebx = 0xffff0800, .edx = 1u << 28 },
		{ .function = 0xb, .index = 0 },
		{ .function = 0xb, .index = 1 },
		{ .function = 0xb, .index = 2 },
		{ .function = 4, .eax = 0x121 }, /* L1 data cache, level 1 */
	};
	kvm_cpuid_fixup(e, 5, 3, 6);
	CHECK_EQ(e[0].ebx >> 24, 3);            /* initial APIC id */
	CHECK_EQ((e[0].ebx >> 16) & 0xff, 8);   /* 6 CPUs need 3 id bits: 8 addressable */
	CHECK_EQ(e[0].ebx & 0xffff, 0x0800);    /* CLFLUSH size etc. kept */
	CHECK(e[0].edx & (1u << 28));
	CHECK_EQ(e[1].edx, 3);                  /* x2APIC id */
	CHECK_EQ(e[1].ebx, 1);
	CHECK_EQ((e[1].ecx >> 8) & 0xff, 1);    /* SMT level */
	CHECK_EQ(e[2].eax, 3);                  /* shift to the package id */
	CHECK_EQ(e[2].ebx, 6);
	CHECK_EQ((e[2].ecx >> 8) & 0xff, 2);    /* core level */
	CHECK_EQ((e[3].ecx >> 8) & 0xff, 0);    /* invalid level ends the list */
	CHECK_EQ(e[4].eax >> 26, 7);
	CHECK_EQ(e[4].eax & 0x3fff, 0x121);

	struct kvm_cpuid_entry2 one = { .function = 1, .ebx = 0x00ff0000, .edx = 1u << 28 };
	kvm_cpuid_fixup(&one, 1, 0, 1);
	CHECK_EQ(one.ebx >> 24, 0);
	CHECK_EQ((one.ebx >> 16) & 0xff, 1);
	CHECK(!(one.edx & (1u << 28)));
}
