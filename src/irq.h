/* Interrupt routing. Devices raise and lower a GSI (a global system interrupt
 * number: 0-15 are the ISA IRQs, wired to the 8259 pair and the I/O APIC
 * alike) without knowing which accelerator serves it: kvm's in-kernel irqchip or
 * the soft CPU's own interrupt controllers. */
#ifndef ISOLA_IRQ_H
#define ISOLA_IRQ_H

#include <stdint.h>

struct irq_router {
	/* level: 1 asserted, 0 deasserted. 0 or -errno. Thread-safe. */
	int (*set_level)(void *opaque, unsigned gsi, int level);
	void *opaque;
};

struct irq_line {
	const struct irq_router *router;
	unsigned gsi;
};

static inline int irq_line_set(const struct irq_line *l, int level)
{
	if (!l->router || !l->router->set_level)
		return 0;
	return l->router->set_level(l->router->opaque, l->gsi, level);
}

/* Edge-triggered ISA interrupts (UART, RTC) are a pulse on the line. */
static inline int irq_line_pulse(const struct irq_line *l)
{
	int rc = irq_line_set(l, 1);
	return rc ? rc : irq_line_set(l, 0);
}

#endif
