/* Device interrupt lines through the I/O APIC to the local APIC, observed
 * without taking a single interrupt: with IF=0 an accepted interrupt waits
 * in the local APIC's IRR (Intel SDM vol. 3A 10.8.4), so this runs on kvm
 * over PVM too. For each source, the I/O APIC pin the MADT implies (ISA IRQ
 * n on pin n, IRQ 0 on pin 2 by the interrupt source override) is routed to
 * its own vector, the device is made to raise its line, and the vector must
 * show up in the IRR:
 *   - UART THRE interrupt (IER bit 1, gated by MCR.OUT2: 16550A datasheet),
 *     IRQ 4, and none while OUT2 is off;
 *   - CMOS RTC periodic interrupt (register B PIE, 1024 Hz), IRQ 8;
 *   - PIT channel 0 in mode 2 (8254 datasheet), IRQ 0 on pin 2.
 * (QEMU's serial does not gate its IRQ with OUT2; isola's model does, as the
 * PC serial adapter does.) */
#include "rt/lib.h"

#define LAPIC_SVR 0xf0
#define LAPIC_IRR 0x200
#define IOAPIC_REDIR(n) (0x10 + 2 * (n))
#define REDIR_MASKED (1u << 16)
#define VEC_PIT 0x42
#define VEC_UART 0x44
#define VEC_RTC 0x48
#define PIN_PIT 2
#define PIN_UART 4
#define PIN_RTC 8
#define WAIT_TSC 10000000000ull /* a few seconds at any plausible TSC rate */

static unsigned failures;

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

/* Edge-triggered, active high, fixed delivery to APIC id 0. */
static void route(unsigned pin, uint8_t vector)
{
	ioapic_write(IOAPIC_REDIR(pin) + 1, 0);
	ioapic_write(IOAPIC_REDIR(pin), vector);
}

static void mask(unsigned pin)
{
	ioapic_write(IOAPIC_REDIR(pin), REDIR_MASKED);
}

static bool irr(uint8_t vector)
{
	return mmio_read32(LAPIC_BASE + LAPIC_IRR + (vector / 32) * 0x10) & (1u << (vector % 32));
}

static bool wait_irr(uint8_t vector)
{
	uint64_t t0 = rdtsc();

	while (!irr(vector))
		if (rdtsc() - t0 > WAIT_TSC)
			return false;
	return true;
}

static void result(const char *what, bool ok)
{
	printf("  %-40s %s\n", what, ok ? "ok" : "MISSING");
	failures += !ok;
}

static void uart_irq(void)
{
	route(PIN_UART, VEC_UART);
	/* OUT2 off: the adapter's IRQ driver is disabled, nothing may arrive. */
	outb(COM1 + UART_MCR, 0x03);
	outb(COM1 + UART_IER, 0x02);
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 100000000ull && !irr(VEC_UART))
		;
	bool leaked = irr(VEC_UART);
	printf("  %-40s %s\n", "UART THRE with OUT2 off", leaked ? "DELIVERED" : "ok (none)");
	failures += leaked;
	/* OUT2 on: the pending THRE interrupt drives IRQ 4. */
	outb(COM1 + UART_MCR, 0x0b);
	result("UART THRE, IRQ 4 -> pin 4 -> vector 0x44", wait_irr(VEC_UART));
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_MCR, 0x03);
	mask(PIN_UART);
}

static void rtc_irq(void)
{
	route(PIN_RTC, VEC_RTC);
	outb(PORT_CMOS_INDEX, 0x0a);
	uint8_t a = inb(PORT_CMOS_DATA);
	outb(PORT_CMOS_INDEX, 0x0a);
	outb(PORT_CMOS_DATA, (uint8_t)((a & 0xf0) | 0x06)); /* rate 6: 1024 Hz */
	outb(PORT_CMOS_INDEX, 0x0c);
	(void)inb(PORT_CMOS_DATA); /* clear old flags, drop the line */
	outb(PORT_CMOS_INDEX, 0x0b);
	uint8_t b = inb(PORT_CMOS_DATA);
	outb(PORT_CMOS_INDEX, 0x0b);
	outb(PORT_CMOS_DATA, b | 0x40); /* PIE */
	result("RTC periodic, IRQ 8 -> pin 8 -> vector 0x48", wait_irr(VEC_RTC));
	outb(PORT_CMOS_INDEX, 0x0b);
	outb(PORT_CMOS_DATA, b);
	outb(PORT_CMOS_INDEX, 0x0c);
	(void)inb(PORT_CMOS_DATA);
	mask(PIN_RTC);
}

static void pit_irq(void)
{
	route(PIN_PIT, VEC_PIT);
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
	outb(0x40, 1193 & 0xff);
	outb(0x40, 1193 >> 8); /* 1 kHz */
	bool ok = wait_irr(VEC_PIT);
	result("PIT channel 0, IRQ 0 -> pin 2 -> vector 0x42", ok);
	mask(PIN_PIT);
	if (!ok) {
		/* Diagnose: where does IRQ 0 go instead? A machine whose MADT
		 * overrides IRQ 0 to GSI 2 must route it there. */
		route(0, VEC_PIT + 1);
		uint64_t t0 = rdtsc();
		while (rdtsc() - t0 < 1000000000ull && !irr(VEC_PIT + 1))
			;
		if (irr(VEC_PIT + 1))
			puts("  (the PIT's IRQ 0 arrives on I/O APIC pin 0, not pin 2 as the MADT "
			     "override says)\n");
		mask(0);
	}
	outb(0x43, 0x30); /* mode 0 with no count written: stays quiet */
}

int guest_main(void *bp)
{
	if (mmio_read32(LAPIC_BASE + 0x30) == 0xffffffffu)
		fail("no local APIC at 0x%lx", LAPIC_BASE);
	if (ioapic_read(1) == 0xffffffffu)
		fail("no I/O APIC at 0x%lx", IOAPIC_BASE);
	/* Software-enable the local APIC so it accepts interrupts; mask every
	 * pin, then route one at a time. */
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1ff);
	for (unsigned pin = 0; pin < 24; pin++)
		mask(pin);
	if (irr(VEC_UART) || irr(VEC_RTC) || irr(VEC_PIT))
		fail("test vectors already pending before any routing");

	puts("device interrupts, observed in the local APIC IRR with IF=0:\n");
	uart_irq();
	rtc_irq();
	pit_irq();
	if (failures)
		fail("%u interrupt routes did not work", failures);
	return 0;
}
