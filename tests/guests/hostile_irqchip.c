/* Garbage for the interrupt controllers: seeded random writes and reads of
 * every local APIC register and of random offsets and sizes in its page
 * (aligned 32-bit accesses are the only architected ones: Intel SDM vol. 3A
 * 10.4.1), random I/O APIC register selects and window writes, random byte
 * accesses to the I/O APIC page. isola's models (soft) and KVM's (kvm) must
 * take all of it. Kept out: the ICR (an IPI to this CPU could be INIT, or
 * an NMI with no IDT to take it), and every LVT and redirection entry is
 * written masked (an unmasked one could route a device line as an NMI). At
 * the end the UART still works and the guest passes. */
#include "rt/lib.h"

#define OPS 20000
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LVT_MASK (1u << 16)
#define REDIR_MASK (1u << 16)

static bool lapic_is_lvt(uint32_t reg)
{
	return reg == 0x2f0 || (reg >= 0x320 && reg <= 0x370);
}

static void hammer_lapic(uint64_t *rng)
{
	for (unsigned i = 0; i < OPS; i++) {
		uint64_t r = xorshift64(rng);
		uint32_t v = (uint32_t)(r >> 32);
		if (r & 1) { /* an aligned register access */
			uint32_t reg = (uint32_t)((r >> 1) & 0x3f) << 4;
			if (reg == LAPIC_ICR_LO || reg == LAPIC_ICR_HI)
				continue;
			if ((r >> 8) & 1) {
				if (lapic_is_lvt(reg))
					v |= LVT_MASK;
				mmio_write32(LAPIC_BASE + reg, v);
			} else {
				(void)mmio_read32(LAPIC_BASE + reg);
			}
			continue;
		}
		/* An odd access: any offset, 1, 2 or 8 bytes, reads only where
		 * a write could reach the ICR or an LVT. */
		uint32_t off = (uint32_t)(r >> 1) & 0xfff;
		unsigned size = 1u << ((r >> 13) % 4);
		off &= ~(size - 1);
		if (size == 4)
			size = 1;
		bool sensitive = (off >= 0x2f0 && off < 0x380);
		bool write = ((r >> 15) & 1) && !sensitive;
		uint64_t a = LAPIC_BASE + off;
		if (size == 1)
			write ? mmio_write8(a, (uint8_t)v) : (void)mmio_read8(a);
		else if (size == 2)
			write ? mmio_write16(a, (uint16_t)v) : (void)mmio_read16(a);
		else
			write ? mmio_write64(a, (uint64_t)v << 7) : (void)mmio_read64(a);
	}
}

static void hammer_ioapic(uint64_t *rng)
{
	for (unsigned i = 0; i < OPS; i++) {
		uint64_t r = xorshift64(rng);
		uint32_t v = (uint32_t)(r >> 32);
		uint32_t reg = (uint32_t)(r >> 8) & 0xff;
		switch (r & 3) {
		case 0: /* select and write; redirection low words stay masked */
			if (reg >= 0x10 && reg < 0x10 + 2 * 24 && !(reg & 1))
				v |= REDIR_MASK;
			mmio_write32(IOAPIC_BASE, reg);
			mmio_write32(IOAPIC_BASE + 0x10, v);
			break;
		case 1:
			mmio_write32(IOAPIC_BASE, reg);
			(void)mmio_read32(IOAPIC_BASE + 0x10);
			break;
		case 2: /* reads anywhere in the page, any size */
			(void)mmio_read8(IOAPIC_BASE + ((r >> 16) & 0xfff));
			(void)mmio_read64(IOAPIC_BASE + ((r >> 16) & 0xff8));
			break;
		default: /* writes off the two registers (the EOI register at
			  * 0x40 on newer I/O APICs included) */
			mmio_write32(IOAPIC_BASE + 0x20 + ((r >> 16) & 0xfc0), v);
			break;
		}
	}
}

int guest_main(void *bp)
{
	uint64_t rng = 0x51f15e, seed;

	if (cmdline_u64(bp, "seed", &seed) && seed)
		rng = seed;
	printf("hostile_irqchip: seed 0x%lx\n", rng);
	puts("hammering the local APIC\n");
	hammer_lapic(&rng);
	puts("hammering the I/O APIC\n");
	hammer_ioapic(&rng);
	/* The console must still be there (it has nothing to do with the
	 * APICs, which is the point). */
	uart_init();
	puts("isola survived\n");
	return 0;
}
