/* 8259A pair, after the Intel 8259A datasheet ("Interrupt Sequence",
 * "Initialization Command Words", "Operation Command Words", "Fully Nested
 * Mode", "Automatic Rotation", "Special Mask Mode", "Poll Command",
 * "Cascading") and the PIIX/ICH ELCR registers.
 *
 * Priorities are kept as in the chip's rotation logic: IR(priority_add) is
 * the highest, IR(priority_add - 1) the lowest; rotation moves priority_add.
 * Trigger mode comes from the ELCR per input (the PC ignores ICW1's LTIM
 * bit, which is stored nowhere). An edge-triggered input sets its IRR bit on
 * a low-to-high transition; a level-triggered input's IRR bit follows the
 * line. The slave's INT output drives the master's IR2. Buffered mode and
 * the 8080 (non-x86) mode bits of ICW4 change nothing on a PC and are
 * ignored. */
#include <errno.h>
#include <string.h>

#include "devices/pic8259.h"
#include "snapshot.h"

/* 0..7 from the highest priority, 8 if mask is empty. */
static unsigned pic_priority(const struct pic_chip *c, uint8_t mask)
{
	if (!mask)
		return 8;
	unsigned p = 0;
	while (!(mask & (1u << ((p + c->priority_add) & 7))))
		p++;
	return p;
}

/* The IR the chip would request the CPU for, or -1. In the fully nested
 * mode a request needs a higher priority than everything in service; in the
 * special mask mode only masked in-service levels block nothing; with SFNM
 * the master lets the slave interrupt its own in-service cascade input. */
static int pic_chip_request(const struct pic_chip *c, bool master)
{
	unsigned req = pic_priority(c, c->irr & ~c->imr);
	if (req == 8)
		return -1;
	uint8_t isr = c->isr;
	if (c->special_mask)
		isr &= ~c->imr;
	if (master && c->sfnm)
		isr &= ~(1u << PIC_CASCADE_IRQ);
	if (req >= pic_priority(c, isr))
		return -1;
	return (int)((req + c->priority_add) & 7);
}

static void pic_chip_set_line(struct pic_chip *c, unsigned irq, int level)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (c->elcr & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !(c->line & bit)) {
		c->irr |= bit;
	}
	if (level)
		c->line |= bit;
	else
		c->line &= ~bit;
}

/* The slave's INT output is the master's IR2 input. The master's IRR bit 2
 * follows it as a level: on the chip an IRR bit is the IR input gated by the
 * edge-sense latch, so it drops with the input, and the slave's output drops
 * as soon as its request is taken or withdrawn. (Inputs from devices keep
 * their edge-latched bit instead, as KVM's and QEMU's models do, because
 * isola's devices pulse edge interrupts.) */
static void pic_update_cascade(struct pic8259 *p)
{
	struct pic_chip *m = &p->chip[0];
	uint8_t bit = 1u << PIC_CASCADE_IRQ;
	if (pic_chip_request(&p->chip[1], false) >= 0) {
		m->line |= bit;
		m->irr |= bit;
	} else {
		m->line &= (uint8_t)~bit;
		m->irr &= (uint8_t)~bit;
	}
}

void pic_set_irq(struct pic8259 *p, unsigned irq, int level)
{
	if (irq >= 16)
		return;
	pic_chip_set_line(&p->chip[irq / 8], irq % 8, level);
	pic_update_cascade(p);
}

bool pic_intr(const struct pic8259 *p)
{
	return pic_chip_request(&p->chip[0], true) >= 0;
}

/* An INTA (or a poll read) takes irq: ISR set unless AEOI, edge IRR cleared. */
static void pic_chip_ack(struct pic_chip *c, unsigned irq)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= bit;
	}
	if (!(c->elcr & bit))
		c->irr &= ~bit;
}

uint8_t pic_intack(struct pic8259 *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int irq = pic_chip_request(m, true);
	uint8_t vector;

	if (irq < 0) /* the request went away: spurious IR7, ISR untouched */
		return (uint8_t)(m->vector_base | 7);
	if (irq == PIC_CASCADE_IRQ && !m->single) {
		int irq2 = pic_chip_request(s, false);
		if (irq2 >= 0) {
			pic_chip_ack(s, (unsigned)irq2);
			vector = (uint8_t)(s->vector_base | irq2);
		} else {
			vector = (uint8_t)(s->vector_base | 7);
		}
	} else {
		vector = (uint8_t)(m->vector_base | irq);
	}
	pic_chip_ack(m, (unsigned)irq);
	pic_update_cascade(p);
	return vector;
}

/* OCW2 (datasheet table "Operation Command Word 2"): R SL EOI in bits 7:5. */
static void pic_ocw2(struct pic_chip *c, uint8_t val)
{
	unsigned cmd = val >> 5, level = val & 7;
	switch (cmd) {
	case 0: /* rotate in AEOI mode: clear */
	case 4: /* rotate in AEOI mode: set */
		c->rotate_on_aeoi = cmd == 4;
		break;
	case 1: /* non-specific EOI */
	case 5: { /* rotate on non-specific EOI */
		unsigned pr = pic_priority(c, c->isr);
		if (pr == 8)
			break;
		unsigned irq = (pr + c->priority_add) & 7;
		c->isr &= (uint8_t)~(1u << irq);
		if (cmd == 5)
			c->priority_add = (uint8_t)((irq + 1) & 7);
		break;
	}
	case 3: /* specific EOI */
		c->isr &= (uint8_t)~(1u << level);
		break;
	case 7: /* rotate on specific EOI */
		c->isr &= (uint8_t)~(1u << level);
		c->priority_add = (uint8_t)((level + 1) & 7);
		break;
	case 6: /* set priority: `level` becomes the lowest */
		c->priority_add = (uint8_t)((level + 1) & 7);
		break;
	default: /* 2: no operation */
		break;
	}
}

/* ICW1: start the initialisation sequence. The datasheet: the edge-sense
 * circuit is reset (an input must rise again to request), IMR cleared, IR7
 * lowest priority, special mask mode cleared, IRR selected for reading. */
static void pic_icw1(struct pic_chip *c, uint8_t val)
{
	c->irr = c->line & c->elcr; /* level inputs keep requesting */
	c->imr = 0;
	c->isr = 0;
	c->priority_add = 0;
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->auto_eoi = false;
	c->rotate_on_aeoi = false;
	c->sfnm = false;
	c->icw4_needed = val & 1;
	c->single = val & 2;
	c->init_state = 1;
}

void pic_port_write(struct pic8259 *p, unsigned chip, unsigned a0, uint8_t val)
{
	struct pic_chip *c = &p->chip[chip & 1];
	if (!a0) {
		if (val & 0x10) {
			pic_icw1(c, val);
		} else if (val & 0x08) { /* OCW3 */
			if (val & 0x04)
				c->poll = true;
			if (val & 0x02)
				c->read_isr = val & 1;
			if (val & 0x40)
				c->special_mask = (val >> 5) & 1;
		} else {
			pic_ocw2(c, val);
		}
	} else {
		switch (c->init_state) {
		case 1: /* ICW2: vector base (x86 mode: bits 7:3) */
			c->vector_base = val & 0xf8;
			c->init_state = c->single ? (c->icw4_needed ? 3 : 0) : 2;
			break;
		case 2: /* ICW3: cascade wiring, fixed on a PC */
			c->icw3 = val;
			c->init_state = c->icw4_needed ? 3 : 0;
			break;
		case 3: /* ICW4: AEOI (bit 1), SFNM (bit 4) */
			c->auto_eoi = val & 2;
			c->sfnm = val & 0x10;
			c->init_state = 0;
			break;
		default: /* OCW1 */
			c->imr = val;
			break;
		}
	}
	pic_update_cascade(p);
}

/* Poll command (OCW3 P=1): the next read of A0=0 is the poll word, bit 7 set
 * and the IR in bits 2:0 if a request is there; it acts as an INTA. */
static uint8_t pic_poll_read(struct pic8259 *p, unsigned chip)
{
	struct pic_chip *c = &p->chip[chip];
	c->poll = false;
	int irq = pic_chip_request(c, chip == 0);
	if (irq < 0)
		return 0;
	pic_chip_ack(c, (unsigned)irq);
	pic_update_cascade(p);
	return (uint8_t)(0x80 | irq);
}

uint8_t pic_port_read(struct pic8259 *p, unsigned chip, unsigned a0)
{
	struct pic_chip *c = &p->chip[chip & 1];
	if (c->poll)
		return pic_poll_read(p, chip & 1);
	if (a0)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

uint8_t pic_elcr_read(const struct pic8259 *p, unsigned chip)
{
	return p->chip[chip & 1].elcr;
}

void pic_elcr_write(struct pic8259 *p, unsigned chip, uint8_t val)
{
	struct pic_chip *c = &p->chip[chip & 1];
	c->elcr = val & c->elcr_mask;
	/* Inputs that became level-triggered request while high. */
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->line & c->elcr));
	pic_update_cascade(p);
}

void pic_reset(struct pic8259 *p)
{
	for (unsigned i = 0; i < 2; i++) {
		struct pic_chip *c = &p->chip[i];
		uint8_t line = c->line;
		memset(c, 0, sizeof(*c));
		c->line = line; /* the devices' lines do not move on a reset */
		/* IRQ 0, 1, 2 (master) and 8, 13 (slave) are edge only on PIIX. */
		c->elcr_mask = i ? 0xde : 0xf8;
	}
	pic_update_cascade(p);
}

void pic_init(struct pic8259 *p)
{
	memset(p, 0, sizeof(*p));
	pic_reset(p);
}

void pic_save(const struct pic8259 *p, struct snap_writer *w)
{
	for (unsigned i = 0; i < 2; i++) {
		const struct pic_chip *c = &p->chip[i];
		snap_u8(w, c->irr);
		snap_u8(w, c->imr);
		snap_u8(w, c->isr);
		snap_u8(w, c->line);
		snap_u8(w, c->elcr);
		snap_u8(w, c->priority_add);
		snap_u8(w, c->vector_base);
		snap_u8(w, c->icw3);
		snap_u8(w, c->init_state);
		snap_u8(w, (uint8_t)(c->icw4_needed | c->single << 1 | c->auto_eoi << 2 |
				     c->rotate_on_aeoi << 3 | c->special_mask << 4 |
				     c->sfnm << 5 | c->read_isr << 6 | c->poll << 7));
	}
}

int pic_restore(struct pic8259 *p, struct snap_reader *r)
{
	struct pic8259 s = *p;
	for (unsigned i = 0; i < 2; i++) {
		struct pic_chip *c = &s.chip[i];
		c->irr = snap_get_u8(r);
		c->imr = snap_get_u8(r);
		c->isr = snap_get_u8(r);
		c->line = snap_get_u8(r);
		c->elcr = snap_get_u8(r) & c->elcr_mask;
		c->priority_add = snap_get_u8(r) & 7;
		c->vector_base = snap_get_u8(r) & 0xf8;
		c->icw3 = snap_get_u8(r);
		c->init_state = snap_get_u8(r);
		uint8_t f = snap_get_u8(r);
		if (c->init_state > 3)
			return -EINVAL;
		c->icw4_needed = f & 1;
		c->single = f & 2;
		c->auto_eoi = f & 4;
		c->rotate_on_aeoi = f & 8;
		c->special_mask = f & 0x10;
		c->sfnm = f & 0x20;
		c->read_isr = f & 0x40;
		c->poll = f & 0x80;
	}
	if (r->error)
		return r->error;
	*p = s;
	return 0;
}
