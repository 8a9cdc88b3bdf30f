/* I/O APIC, after the Intel 82093AA I/O APIC datasheet: an indirect register
 * window (IOREGSEL at +0x00, IOWIN at +0x10) onto the ID, version, arbitration
 * ID and 24 64-bit redirection entries. Version 0x11, as the 82093AA.
 *
 * For the soft back end (kvm has its own in the kernel). No lock of its own:
 * the owner (struct irqchip) serialises every call; messages leave through
 * the deliver hook, called with that lock held. */
#ifndef ISOLA_DEVICES_IOAPIC_H
#define ISOLA_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/lapic.h"

struct snap_writer;
struct snap_reader;

#define IOAPIC_NR_PINS  24
#define IOAPIC_MMIO_LEN 0x1000 /* the page; registers use the first 0x20 bytes */

struct ioapic {
	void (*deliver)(void *opaque, const struct apic_msg *m);
	void *opaque;
	uint8_t reset_id;     /* ID after reset: the MADT's (set by the owner) */
	uint8_t regsel;
	uint32_t id;          /* ID register (bits 27:24) */
	uint64_t redir[IOAPIC_NR_PINS];
	uint32_t line;        /* pin i asserted: bit i */
};

void ioapic_init(struct ioapic *io, void (*deliver)(void *, const struct apic_msg *),
		 void *opaque);
void ioapic_reset(struct ioapic *io);

/* Drive pin (0-23) to level: 1 asserted, 0 not. Devices speak of assertion,
 * not of voltage, so the polarity bit of an entry is stored and read back but
 * not applied (the same convention as KVM's and QEMU's models). */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* A local APIC's EOI of a level-triggered vector: clear remote IRR of the
 * entries with that vector and deliver again if their pin is still active. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* MMIO at offset off in the I/O APIC's page; 32-bit accesses to IOREGSEL and
 * IOWIN (other sizes/offsets read 0, writes dropped). */
uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t off, unsigned size);
void ioapic_mmio_write(struct ioapic *io, uint64_t off, unsigned size, uint32_t val);

void ioapic_save(const struct ioapic *io, struct snap_writer *w);
int ioapic_restore(struct ioapic *io, struct snap_reader *r);

#endif
