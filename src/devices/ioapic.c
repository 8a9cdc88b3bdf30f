/* I/O APIC, after the Intel 82093AA datasheet (3.0 "Register Description":
 * IOREGSEL, IOWIN, IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL[0:23]).
 *
 * Edge-triggered pins send a message on each rising edge while unmasked (an
 * edge on a masked pin is lost). Level-triggered pins send one while the pin
 * is asserted, unmasked and remote IRR is clear; sending sets remote IRR,
 * which the local APIC's EOI of that vector clears (ioapic_eoi), and a pin
 * still asserted then sends again. Messages are delivered at once, so the
 * delivery status bit always reads idle. */
#include <errno.h>
#include <string.h>

#include "devices/ioapic.h"
#include "snapshot.h"

enum {
	IOREGSEL = 0x00,
	IOWIN = 0x10,
	REG_ID = 0x00,
	REG_VERSION = 0x01,
	REG_ARB = 0x02,
	REG_REDIR = 0x10, /* 0x10 + 2n low half, 0x11 + 2n high half */
};

/* Version register: version 0x11, maximum redirection entry 23. */
#define IOAPIC_VERSION (0x11u | (IOAPIC_NR_PINS - 1u) << 16)

#define RTE_DELIVS    (1ull << 12)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL     (1ull << 15)
#define RTE_MASKED    (1ull << 16)
/* Low half: vector, delivery mode, destination mode, polarity, trigger,
 * mask; bits 12 and 14 are read-only. High half: destination (63:56). */
#define RTE_LO_WRITABLE 0x1afffull
#define RTE_HI_WRITABLE 0xff000000ull

static void ioapic_send(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->redir[pin];
	struct apic_msg m = {
		.vector = (uint8_t)e,
		.delivery = (uint8_t)((e >> 8) & 7),
		.logical = e & (1ull << 11),
		.level_trig = e & RTE_LEVEL,
		.assert = true,
		.dest = (uint8_t)(e >> 56),
		.shorthand = APIC_DEST_NONE,
	};
	if (io->deliver)
		io->deliver(io->opaque, &m);
}

/* Send for pin if its state calls for it now. */
static void ioapic_service(struct ioapic *io, unsigned pin, bool edge)
{
	uint64_t *e = &io->redir[pin];
	if (*e & RTE_MASKED)
		return;
	if (*e & RTE_LEVEL) {
		if (!(io->line & (1u << pin)) || (*e & RTE_REMOTE_IRR))
			return;
		*e |= RTE_REMOTE_IRR;
	} else if (!edge) {
		return;
	}
	ioapic_send(io, pin);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_NR_PINS)
		return;
	uint32_t bit = 1u << pin;
	bool rising = level && !(io->line & bit);
	if (level)
		io->line |= bit;
	else
		io->line &= ~bit;
	if (level)
		ioapic_service(io, pin, rising);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t *e = &io->redir[pin];
		if ((uint8_t)*e != vector || !(*e & RTE_LEVEL) || !(*e & RTE_REMOTE_IRR))
			continue;
		*e &= ~RTE_REMOTE_IRR;
		ioapic_service(io, pin, false);
	}
}

static uint32_t ioapic_reg_read(const struct ioapic *io)
{
	unsigned r = io->regsel;
	if (r == REG_ID)
		return io->id;
	if (r == REG_VERSION)
		return IOAPIC_VERSION;
	if (r == REG_ARB)
		return io->id; /* arbitration ID = APIC ID after reset */
	if (r >= REG_REDIR && r < REG_REDIR + 2 * IOAPIC_NR_PINS) {
		uint64_t e = io->redir[(r - REG_REDIR) / 2];
		return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void ioapic_reg_write(struct ioapic *io, uint32_t val)
{
	unsigned r = io->regsel;
	if (r == REG_ID) {
		io->id = val & 0x0f000000u;
		return;
	}
	if (r < REG_REDIR || r >= REG_REDIR + 2 * IOAPIC_NR_PINS)
		return; /* version, arbitration: read-only */
	unsigned pin = (r - REG_REDIR) / 2;
	uint64_t *e = &io->redir[pin];
	if (r & 1) {
		*e = (*e & 0xffffffffull) | (((uint64_t)val << 32) & (RTE_HI_WRITABLE << 32));
		return;
	}
	uint64_t keep = *e & (~RTE_LO_WRITABLE);
	*e = keep | (val & RTE_LO_WRITABLE);
	*e &= ~RTE_DELIVS;
	if (!(*e & RTE_LEVEL)) /* remote IRR means nothing for edge pins */
		*e &= ~RTE_REMOTE_IRR;
	/* Unmasking an asserted level pin sends it. */
	ioapic_service(io, pin, false);
}

uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t off, unsigned size)
{
	if (size != 4)
		return 0;
	if (off == IOREGSEL)
		return io->regsel;
	if (off == IOWIN)
		return ioapic_reg_read(io);
	return 0;
}

void ioapic_mmio_write(struct ioapic *io, uint64_t off, unsigned size, uint32_t val)
{
	if (size != 4)
		return;
	if (off == IOREGSEL)
		io->regsel = (uint8_t)val;
	else if (off == IOWIN)
		ioapic_reg_write(io, val);
}

/* Datasheet 2.4 / 3.2.4: every entry masked after reset. */
void ioapic_reset(struct ioapic *io)
{
	io->regsel = 0;
	io->id = (uint32_t)(io->reset_id & 0xf) << 24;
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		io->redir[i] = RTE_MASKED;
	/* line: the devices' pins keep their levels */
}

void ioapic_init(struct ioapic *io, void (*deliver)(void *, const struct apic_msg *),
		 void *opaque)
{
	memset(io, 0, sizeof(*io));
	io->deliver = deliver;
	io->opaque = opaque;
	ioapic_reset(io);
}

void ioapic_save(const struct ioapic *io, struct snap_writer *w)
{
	snap_u8(w, io->regsel);
	snap_u32(w, io->id);
	snap_u32(w, io->line);
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		snap_u64(w, io->redir[i]);
}

int ioapic_restore(struct ioapic *io, struct snap_reader *r)
{
	uint8_t regsel = snap_get_u8(r);
	uint32_t id = snap_get_u32(r), line = snap_get_u32(r);
	uint64_t redir[IOAPIC_NR_PINS];
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		redir[i] = snap_get_u64(r) &
			   (RTE_LO_WRITABLE | RTE_REMOTE_IRR | (RTE_HI_WRITABLE << 32));
	if (r->error)
		return r->error;
	io->regsel = regsel;
	io->id = id & 0x0f000000u;
	io->line = line & ((1u << IOAPIC_NR_PINS) - 1);
	memcpy(io->redir, redir, sizeof(redir));
	return 0;
}
