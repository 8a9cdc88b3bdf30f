/* The PC's 8259A programmable interrupt controller pair (Intel 8259A
 * datasheet): master at ports 0x20/0x21 (IRQ 0-7), slave at 0xa0/0xa1 (IRQ
 * 8-15) cascaded on the master's IR2, and the edge/level control registers
 * (ELCR) at 0x4d0/0x4d1 of PC chipsets (PIIX/ICH) that pick the trigger mode
 * per IRQ.
 *
 * For the soft back end (kvm has its own in the kernel). No lock of its own:
 * the owner (struct irqchip) serialises every call. The master's INTR output
 * goes to the LINT0 pin of the local APICs (ExtINT); the CPU's interrupt
 * acknowledge cycle is pic_intack(). */
#ifndef ISOLA_DEVICES_PIC8259_H
#define ISOLA_DEVICES_PIC8259_H

#include <stdbool.h>
#include <stdint.h>

struct snap_writer;
struct snap_reader;

#define PIC_MASTER_PORT 0x20
#define PIC_SLAVE_PORT  0xa0
#define PIC_ELCR_PORT   0x4d0 /* 0x4d0 master, 0x4d1 slave */
#define PIC_CASCADE_IRQ 2

struct pic_chip {
	uint8_t irr, imr, isr;
	uint8_t line;          /* input levels as last driven (edge detection) */
	uint8_t elcr;          /* 1: level-triggered input */
	uint8_t elcr_mask;     /* which ELCR bits exist */
	uint8_t priority_add;  /* IR (priority_add) has the highest priority */
	uint8_t vector_base;   /* ICW2 bits 7:3 */
	uint8_t icw3;
	uint8_t init_state;    /* 0 ready, 1 expects ICW2, 2 ICW3, 3 ICW4 */
	bool icw4_needed, single, auto_eoi, rotate_on_aeoi, special_mask, sfnm;
	bool read_isr, poll;
};

struct pic8259 {
	struct pic_chip chip[2]; /* 0 master, 1 slave */
};

void pic_init(struct pic8259 *p);
void pic_reset(struct pic8259 *p);

/* Drive input irq (0-15) to level. */
void pic_set_irq(struct pic8259 *p, unsigned irq, int level);
/* Is the master's INTR output asserted (an unmasked request above what is in
 * service)? */
bool pic_intr(const struct pic8259 *p);
/* The CPU's INTA cycle: the vector to deliver, with ISR/IRR bookkeeping. With
 * no request left it answers the spurious IRQ 7 (or 15) vector, as the chip
 * does. */
uint8_t pic_intack(struct pic8259 *p);

/* Port access: chip 0 or 1, a0 the port's A0 bit. */
uint8_t pic_port_read(struct pic8259 *p, unsigned chip, unsigned a0);
void pic_port_write(struct pic8259 *p, unsigned chip, unsigned a0, uint8_t val);
uint8_t pic_elcr_read(const struct pic8259 *p, unsigned chip);
void pic_elcr_write(struct pic8259 *p, unsigned chip, uint8_t val);

void pic_save(const struct pic8259 *p, struct snap_writer *w);
int pic_restore(struct pic8259 *p, struct snap_reader *r);

#endif
