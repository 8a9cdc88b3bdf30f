/* 8259A pair: the ICW1-4 sequence Linux uses, masks, edge requests and
 * INTA, fully nested priorities, EOI (non-specific, specific, rotation),
 * AEOI, cascade through IR2, level inputs via the ELCR, IRR/ISR reads, poll
 * mode, spurious IRQ 7, snapshots; and through the irqchip: ExtINT to the
 * boot CPU's LINT0. */
#include <string.h>

#include "bus.h"
#include "device.h"
#include "devices/irqchip.h"
#include "devices/pic8259.h"
#include "snapshot.h"
#include "unit.h"

/* What Linux's init_8259A does: master vectors 0x30, slave 0x38, cascade on
 * IR2, 8086 mode, normal EOI. */
static void pic_setup(struct pic8259 *p)
{
	pic_init(p);
	pic_port_write(p, 0, 0, 0x11);
	pic_port_write(p, 0, 1, 0x30);
	pic_port_write(p, 0, 1, 0x04);
	pic_port_write(p, 0, 1, 0x01);
	pic_port_write(p, 1, 0, 0x11);
	pic_port_write(p, 1, 1, 0x38);
	pic_port_write(p, 1, 1, 0x02);
	pic_port_write(p, 1, 1, 0x01);
}

static uint8_t read_isr(struct pic8259 *p, unsigned chip)
{
	pic_port_write(p, chip, 0, 0x0b);
	uint8_t v = pic_port_read(p, chip, 0);
	pic_port_write(p, chip, 0, 0x0a);
	return v;
}

TEST(pic_init_masks_and_edge_intack)
{
	struct pic8259 p;
	pic_setup(&p);
	CHECK_EQ(pic_port_read(&p, 0, 1), 0); /* ICW1 clears the IMR */
	pic_port_write(&p, 0, 1, 0xa5);
	pic_port_write(&p, 1, 1, 0x5a);
	CHECK_EQ(pic_port_read(&p, 0, 1), 0xa5);
	CHECK_EQ(pic_port_read(&p, 1, 1), 0x5a);
	pic_port_write(&p, 0, 1, 0x00);
	pic_port_write(&p, 1, 1, 0x00);
	CHECK(!pic_intr(&p));
	pic_set_irq(&p, 1, 1);
	CHECK(pic_intr(&p));
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x02); /* IRR */
	CHECK_EQ(pic_intack(&p), 0x31);
	CHECK_EQ(read_isr(&p, 0), 0x02);
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x00); /* edge: IRR cleared by INTA */
	CHECK(!pic_intr(&p));
	pic_set_irq(&p, 1, 1); /* still high: no new edge */
	pic_port_write(&p, 0, 0, 0x20); /* non-specific EOI */
	CHECK_EQ(read_isr(&p, 0), 0);
	CHECK(!pic_intr(&p));
	pic_set_irq(&p, 1, 0);
	pic_set_irq(&p, 1, 1);
	CHECK(pic_intr(&p));
	/* Masked requests stay in the IRR but raise nothing. */
	pic_port_write(&p, 0, 1, 0x02);
	CHECK(!pic_intr(&p));
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x02);
	pic_port_write(&p, 0, 1, 0x00);
	CHECK(pic_intr(&p));
}

TEST(pic_priorities_and_eoi_kinds)
{
	struct pic8259 p;
	pic_setup(&p);
	pic_set_irq(&p, 5, 1);
	pic_set_irq(&p, 3, 1);
	CHECK_EQ(pic_intack(&p), 0x33); /* lower IR, higher priority */
	CHECK(!pic_intr(&p));           /* 5 waits behind 3 in service */
	pic_set_irq(&p, 1, 1);
	CHECK(pic_intr(&p));            /* 1 nests above 3 */
	CHECK_EQ(pic_intack(&p), 0x31);
	CHECK_EQ(read_isr(&p, 0), 0x0a);
	pic_port_write(&p, 0, 0, 0x63); /* specific EOI for IR3 */
	CHECK_EQ(read_isr(&p, 0), 0x02);
	pic_port_write(&p, 0, 0, 0x20);
	CHECK_EQ(pic_intack(&p), 0x35);
	/* Rotate on non-specific EOI: IR5 becomes the lowest priority. */
	pic_port_write(&p, 0, 0, 0xa0);
	CHECK_EQ(read_isr(&p, 0), 0);
	pic_set_irq(&p, 5, 0);
	pic_set_irq(&p, 5, 1);
	pic_set_irq(&p, 6, 1);
	CHECK_EQ(pic_intack(&p), 0x36); /* 6 is now above 5 */
	pic_port_write(&p, 0, 0, 0x20);
	/* Set priority: IR7 lowest again (the reset order). */
	pic_port_write(&p, 0, 0, 0xc7);
	pic_set_irq(&p, 6, 0);
	pic_set_irq(&p, 6, 1);
	CHECK_EQ(pic_intack(&p), 0x35);
	/* Nothing left: the spurious IR7 vector, ISR untouched. */
	pic_port_write(&p, 0, 0, 0x20);
	CHECK_EQ(pic_intack(&p), 0x36);
	pic_port_write(&p, 0, 0, 0x20);
	CHECK_EQ(pic_intack(&p), 0x37);
	CHECK_EQ(read_isr(&p, 0), 0);
}

TEST(pic_cascade_and_elcr_level)
{
	struct pic8259 p;
	pic_setup(&p);
	pic_set_irq(&p, 10, 1);
	CHECK(pic_intr(&p));
	CHECK_EQ(pic_intack(&p), 0x3a);
	CHECK_EQ(read_isr(&p, 0), 0x04);
	CHECK_EQ(read_isr(&p, 1), 0x04);
	pic_port_write(&p, 1, 0, 0x20);
	pic_port_write(&p, 0, 0, 0x20);
	CHECK(!pic_intr(&p));
	/* ELCR: which bits exist, and level inputs. */
	pic_elcr_write(&p, 0, 0xff);
	pic_elcr_write(&p, 1, 0xff);
	CHECK_EQ(pic_elcr_read(&p, 0), 0xf8);
	CHECK_EQ(pic_elcr_read(&p, 1), 0xde);
	pic_elcr_write(&p, 0, 0x00);
	pic_elcr_write(&p, 1, 0x04); /* IRQ 10 level */
	pic_set_irq(&p, 10, 1);
	CHECK_EQ(pic_intack(&p), 0x3a);
	pic_port_write(&p, 1, 0, 0x20);
	pic_port_write(&p, 0, 0, 0x20);
	CHECK(pic_intr(&p)); /* still asserted: requests again */
	pic_set_irq(&p, 10, 0);
	CHECK(!pic_intr(&p));
	CHECK_EQ(pic_port_read(&p, 1, 0), 0);
	/* Masking the cascade input hides the slave. */
	pic_set_irq(&p, 12, 1);
	pic_port_write(&p, 0, 1, 0x04);
	CHECK(!pic_intr(&p));
	pic_port_write(&p, 0, 1, 0x00);
	CHECK(pic_intr(&p));
	/* Masked on the slave itself: nothing reaches the master. */
	pic_port_write(&p, 1, 1, 0x10);
	CHECK(!pic_intr(&p));
}

TEST(pic_auto_eoi_and_poll)
{
	struct pic8259 p;
	pic_init(&p);
	pic_port_write(&p, 0, 0, 0x13); /* single, ICW4 */
	pic_port_write(&p, 0, 1, 0x20);
	pic_port_write(&p, 0, 1, 0x03); /* AEOI, 8086 */
	pic_set_irq(&p, 4, 1);
	CHECK_EQ(pic_intack(&p), 0x24);
	CHECK_EQ(read_isr(&p, 0), 0); /* no ISR bit with AEOI */
	pic_set_irq(&p, 6, 1);
	pic_port_write(&p, 0, 0, 0x0c); /* poll */
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x86);
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x00); /* an IRR read again */
	pic_port_write(&p, 0, 0, 0x0c);
	CHECK_EQ(pic_port_read(&p, 0, 0), 0x00); /* poll: nothing pending */
}

TEST(pic_snapshot_roundtrip)
{
	struct pic8259 a, b;
	pic_setup(&a);
	pic_init(&b);
	pic_port_write(&a, 0, 1, 0x50);
	pic_set_irq(&a, 3, 1);
	CHECK_EQ(pic_intack(&a), 0x33);
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "PICT", 1);
	pic_save(&a, &w);
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	uint32_t ver;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "PICT", &ver), 0);
	CHECK_EQ(pic_restore(&b, &r), 0);
	CHECK_EQ(pic_port_read(&b, 0, 1), 0x50);
	CHECK_EQ(read_isr(&b, 0), 0x08);
	pic_port_write(&b, 0, 0, 0x20);
	pic_set_irq(&b, 1, 1);
	CHECK_EQ(pic_intack(&b), 0x31); /* vector base restored */
	snap_writer_free(&w);
}

struct env {
	uint64_t now;
	unsigned wakes;
};

static uint64_t env_clock(void *o)
{
	return ((struct env *)o)->now;
}

static void env_wake(void *o)
{
	((struct env *)o)->wakes++;
}

static void outb(struct bus *b, uint16_t port, uint8_t v)
{
	CHECK(bus_access(b, port, &v, 1, true));
}

static uint8_t inb(struct bus *b, uint16_t port)
{
	uint8_t v = 0;
	CHECK(bus_access(b, port, &v, 1, false));
	return v;
}

TEST(irqchip_pic_extint_to_boot_cpu)
{
	struct env e = { .now = 1 };
	struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	struct irqchip *c = irqchip_create(2, 2, env_clock, &e);
	if (!c)
		return;
	CHECK_EQ(irqchip_register(c, &pio, &mmio), 0);
	irqchip_set_wake(c, 0, env_wake, &e);
	outb(&pio, 0x20, 0x11);
	outb(&pio, 0x21, 0x20);
	outb(&pio, 0x21, 0x04);
	outb(&pio, 0x21, 0x01);
	outb(&pio, 0xa0, 0x11);
	outb(&pio, 0xa1, 0x28);
	outb(&pio, 0xa1, 0x02);
	outb(&pio, 0xa1, 0x01);
	outb(&pio, 0x21, 0xa5);
	CHECK_EQ(inb(&pio, 0x21), 0xa5);
	outb(&pio, 0x21, 0x00);
	outb(&pio, 0x4d1, 0xff);
	CHECK_EQ(inb(&pio, 0x4d1), 0xde);
	outb(&pio, 0x4d1, 0x00);
	/* The UART's IRQ 4: the boot CPU's LINT0 is ExtINT after reset. */
	CHECK_EQ(irqchip_set_irq(c, 4, 1), 0);
	CHECK(e.wakes >= 1);
	CHECK(irqchip_has_interrupt(c, 0));
	CHECK(!irqchip_has_interrupt(c, 1)); /* an AP's LINT0 is masked */
	CHECK_EQ(irqchip_ack(c, 0), 0x24);
	CHECK(!irqchip_has_interrupt(c, 0));
	outb(&pio, 0x20, 0x20);
	/* GSI 2 does not reach the 8259A (its IR2 is the cascade). */
	CHECK_EQ(irqchip_set_irq(c, 2, 1), 0);
	CHECK(!irqchip_has_interrupt(c, 0));
	/* Masking LINT0 in the APIC cuts the 8259A off. */
	CHECK_EQ(irqchip_set_irq(c, 9, 1), 0);
	CHECK(irqchip_has_interrupt(c, 0));
	uint8_t d[4] = { 0, 0, 1, 0 };
	irqchip_lapic_access(c, 0, 0xfee00350, d, 4, true);
	CHECK(!irqchip_has_interrupt(c, 0));
	struct device *dev = irqchip_device(c);
	dev->ops->destroy(dev);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
