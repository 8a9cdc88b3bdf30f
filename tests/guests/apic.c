/* The interrupt controllers at register level, with every interrupt masked
 * (the guest runs with IF=0 and has no IDT): the local APIC (Intel SDM vol.
 * 3A chapter 10/11: IA32_APIC_BASE, ID, version, TPR, SVR, LVT masks), the
 * I/O APIC (82093AA datasheet: IOREGSEL/IOWIN, ID, version with 24
 * redirection entries, entries read back with their read-only bits clear)
 * and the 8259A pair's mask registers (OCW1). On kvm these are KVM's
 * in-kernel models, on soft isola's own: the same answers are expected. */
#include "rt/lib.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_ENABLE (1u << 11)
#define LAPIC_ID 0x20
#define LAPIC_VERSION 0x30
#define LAPIC_TPR 0x80
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_ERROR 0x370
#define LVT_MASKED (1u << 16)
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REDIR(n) (0x10 + 2 * (n))
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

static unsigned failures;

#define check(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			failures++;                                                        \
			printf("  wrong: " __VA_ARGS__);                                   \
			putc('\n');                                                        \
		}                                                                          \
	} while (0)

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

static void test_lapic(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	printf("IA32_APIC_BASE 0x%lx\n", base);
	check((base & ~(uint64_t)0xfff) == LAPIC_BASE, "APIC base 0x%lx", base & ~(uint64_t)0xfff);
	check(base & APIC_BASE_ENABLE, "APIC globally disabled");
	check(base & APIC_BASE_BSP, "boot CPU without the BSP flag");

	uint32_t id = lapic_read(LAPIC_ID) >> 24, ver = lapic_read(LAPIC_VERSION);
	if (ver == 0xffffffffu) {
		check(false, "no local APIC at 0x%lx (version register reads all-ones)", LAPIC_BASE);
		return;
	}
	unsigned cpuid_id = cpuid(1, 0).ebx >> 24;
	printf("LAPIC id %u, version 0x%x, %u LVT entries\n", id, ver & 0xff,
	       ((ver >> 16) & 0xff) + 1);
	check(id == cpuid_id, "LAPIC id %u but CPUID initial APIC id %u", id, cpuid_id);
	check((ver & 0xff) >= 0x10 && (ver & 0xff) <= 0x15, "version 0x%x is not an integrated APIC",
	      ver & 0xff);
	check(((ver >> 16) & 0xff) >= 3, "max LVT entry %u", (ver >> 16) & 0xff);

	lapic_write(LAPIC_TPR, 0x20);
	check((lapic_read(LAPIC_TPR) & 0xff) == 0x20, "TPR reads 0x%x after writing 0x20",
	      lapic_read(LAPIC_TPR));
	lapic_write(LAPIC_TPR, 0);

	/* SVR: software enable with spurious vector 0xff. */
	lapic_write(LAPIC_SVR, 0x1ff);
	check((lapic_read(LAPIC_SVR) & 0x1ff) == 0x1ff, "SVR reads 0x%x after writing 0x1ff",
	      lapic_read(LAPIC_SVR));

	/* LVT entries keep their mask and vector. */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | 0xec);
	check(lapic_read(LAPIC_LVT_TIMER) == (LVT_MASKED | 0xec), "LVT timer reads 0x%x",
	      lapic_read(LAPIC_LVT_TIMER));
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED | 0xfe);
	check((lapic_read(LAPIC_LVT_ERROR) & 0x100ff) == (LVT_MASKED | 0xfe),
	      "LVT error reads 0x%x", lapic_read(LAPIC_LVT_ERROR));
	printf("LVT LINT0 0x%x\n", lapic_read(LAPIC_LVT_LINT0));
}

static void test_ioapic(void)
{
	uint32_t id = ioapic_read(IOAPIC_REG_ID), ver = ioapic_read(IOAPIC_REG_VER);
	if (ver == 0xffffffffu) {
		check(false, "no I/O APIC at 0x%lx (version register reads all-ones)", IOAPIC_BASE);
		return;
	}
	unsigned entries = ((ver >> 16) & 0xff) + 1;

	printf("I/O APIC id %u, version 0x%x, %u redirection entries\n", (id >> 24) & 0xf,
	       ver & 0xff, entries);
	check((ver & 0xff) == 0x11 || (ver & 0xff) == 0x20, "I/O APIC version 0x%x", ver & 0xff);
	check(entries == 24, "%u redirection entries, expected 24", entries);
	if (entries > 24)
		entries = 24;
	for (unsigned n = 0; n < entries; n++) {
		/* Masked, fixed delivery, physical destination n, vector 0x30+n;
		 * delivery status (bit 12) and remote IRR (bit 14) are read-only
		 * and must read 0 for a masked, idle pin. */
		uint32_t lo = (1u << 16) | (0x30 + n), hi = (uint32_t)n << 24;
		ioapic_write(IOAPIC_REDIR(n), lo | (1u << 12) | (1u << 14));
		ioapic_write(IOAPIC_REDIR(n) + 1, hi);
		uint32_t rlo = ioapic_read(IOAPIC_REDIR(n)), rhi = ioapic_read(IOAPIC_REDIR(n) + 1);
		check(rlo == lo && (rhi >> 24) == n,
		      "redirection entry %u reads 0x%08x:%08x, wrote 0x%08x:%08x", n, rhi, rlo, hi,
		      lo);
	}
	/* Leave them masked with vector 0 and destination 0. */
	for (unsigned n = 0; n < entries; n++) {
		ioapic_write(IOAPIC_REDIR(n), 1u << 16);
		ioapic_write(IOAPIC_REDIR(n) + 1, 0);
	}
}

static void test_pic(void)
{
	outb(PIC1_DATA, 0xa5);
	outb(PIC2_DATA, 0x5a);
	uint8_t m1 = inb(PIC1_DATA), m2 = inb(PIC2_DATA);
	printf("8259A masks read 0x%02x 0x%02x\n", m1, m2);
	check(m1 == 0xa5 && m2 == 0x5a, "8259A masks 0x%02x 0x%02x, wrote 0xa5 0x5a", m1, m2);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

int guest_main(void *bp)
{
	test_lapic();
	test_ioapic();
	test_pic();
	if (failures)
		fail("%u interrupt controller checks failed", failures);
	return 0;
}
