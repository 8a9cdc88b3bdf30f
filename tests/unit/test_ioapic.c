/* I/O APIC model (82093AA): register window, version, read-only bits,
 * edge and level pins, remote IRR and the EOI broadcast, masking, message
 * fields, snapshots; and end to end through struct irqchip on its buses: GSI
 * routing (ISA IRQ 0 -> pin 2), a level interrupt acknowledged by the local
 * APIC's EOI. */
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "device.h"
#include "devices/ioapic.h"
#include "devices/irqchip.h"
#include "snapshot.h"
#include "unit.h"

struct msg_log {
	unsigned n;
	struct apic_msg last;
};

static void log_deliver(void *o, const struct apic_msg *m)
{
	struct msg_log *l = o;
	l->n++;
	l->last = *m;
}

static uint32_t io_rd(struct ioapic *io, uint8_t reg)
{
	ioapic_mmio_write(io, 0x00, 4, reg);
	return ioapic_mmio_read(io, 0x10, 4);
}

static void io_wr(struct ioapic *io, uint8_t reg, uint32_t v)
{
	ioapic_mmio_write(io, 0x00, 4, reg);
	ioapic_mmio_write(io, 0x10, 4, v);
}

TEST(ioapic_registers)
{
	struct ioapic io;
	struct msg_log log = { 0 };
	ioapic_init(&io, log_deliver, &log);
	io.reset_id = 4;
	ioapic_reset(&io);
	CHECK_EQ(io_rd(&io, 0x01), 0x00170011);
	CHECK_EQ(io_rd(&io, 0x00), 4u << 24);
	CHECK_EQ(io_rd(&io, 0x02), 4u << 24);
	io_wr(&io, 0x00, 0xffffffffu);
	CHECK_EQ(io_rd(&io, 0x00), 0x0f000000u);
	io_wr(&io, 0x01, 0); /* read-only */
	CHECK_EQ(io_rd(&io, 0x01), 0x00170011);
	for (unsigned n = 0; n < 24; n++)
		CHECK_EQ(io_rd(&io, (uint8_t)(0x10 + 2 * n)), 0x10000);
	/* Delivery status (12) and remote IRR (14) are read-only. */
	io_wr(&io, 0x10 + 2 * 5, 0x10000 | 0x5000 | 0x35);
	io_wr(&io, 0x11 + 2 * 5, 0xffffffffu);
	CHECK_EQ(io_rd(&io, 0x10 + 2 * 5), 0x10035);
	CHECK_EQ(io_rd(&io, 0x11 + 2 * 5), 0xff000000u);
	CHECK_EQ(io_rd(&io, 0x10 + 2 * 24), 0); /* past the last entry */
	CHECK_EQ(ioapic_mmio_read(&io, 0x00, 4), 0x10 + 2 * 24);
	CHECK_EQ(ioapic_mmio_read(&io, 0x10, 2), 0); /* not a 32-bit access */
	CHECK_EQ(log.n, 0);
}

TEST(ioapic_edge_pins)
{
	struct ioapic io;
	struct msg_log log = { 0 };
	ioapic_init(&io, log_deliver, &log);
	io_wr(&io, 0x11 + 2 * 4, 0x03000000);
	io_wr(&io, 0x10 + 2 * 4, 0x0934); /* lowest priority, logical, edge, vector 0x34 */
	ioapic_set_irq(&io, 4, 1);
	CHECK_EQ(log.n, 1);
	CHECK_EQ(log.last.vector, 0x34);
	CHECK_EQ(log.last.delivery, APIC_DM_LOWEST);
	CHECK(log.last.logical);
	CHECK(!log.last.level_trig);
	CHECK_EQ(log.last.dest, 3);
	ioapic_set_irq(&io, 4, 1); /* no new edge */
	CHECK_EQ(log.n, 1);
	ioapic_set_irq(&io, 4, 0);
	ioapic_set_irq(&io, 4, 1);
	CHECK_EQ(log.n, 2);
	/* Masked: the edge is lost, and unmasking does not replay it. */
	io_wr(&io, 0x10 + 2 * 4, 0x10934);
	ioapic_set_irq(&io, 4, 0);
	ioapic_set_irq(&io, 4, 1);
	io_wr(&io, 0x10 + 2 * 4, 0x0934);
	CHECK_EQ(log.n, 2);
	ioapic_set_irq(&io, 99, 1); /* no such pin */
	CHECK_EQ(log.n, 2);
}

TEST(ioapic_level_pins_remote_irr)
{
	struct ioapic io;
	struct msg_log log = { 0 };
	ioapic_init(&io, log_deliver, &log);
	io_wr(&io, 0x10 + 2 * 9, 0x18041); /* masked, level, vector 0x41 */
	ioapic_set_irq(&io, 9, 1);
	CHECK_EQ(log.n, 0);
	io_wr(&io, 0x10 + 2 * 9, 0x8041); /* unmasking an asserted pin sends */
	CHECK_EQ(log.n, 1);
	CHECK(log.last.level_trig);
	CHECK(io_rd(&io, 0x10 + 2 * 9) & 0x4000); /* remote IRR */
	ioapic_set_irq(&io, 9, 1);
	CHECK_EQ(log.n, 1); /* remote IRR holds it */
	ioapic_eoi(&io, 0x42); /* another vector */
	CHECK_EQ(log.n, 1);
	ioapic_eoi(&io, 0x41); /* still asserted: sent again */
	CHECK_EQ(log.n, 2);
	ioapic_set_irq(&io, 9, 0);
	ioapic_eoi(&io, 0x41);
	CHECK_EQ(log.n, 2);
	CHECK(!(io_rd(&io, 0x10 + 2 * 9) & 0x4000));
	/* Switching to edge clears remote IRR. */
	ioapic_set_irq(&io, 9, 1);
	CHECK_EQ(log.n, 3);
	io_wr(&io, 0x10 + 2 * 9, 0x0041);
	CHECK(!(io_rd(&io, 0x10 + 2 * 9) & 0x4000));
}

TEST(ioapic_snapshot_roundtrip)
{
	struct ioapic a, b;
	struct msg_log log = { 0 };
	ioapic_init(&a, log_deliver, &log);
	ioapic_init(&b, log_deliver, &log);
	io_wr(&a, 0x10 + 2 * 3, 0x8051);
	io_wr(&a, 0x11 + 2 * 3, 0x01000000);
	ioapic_set_irq(&a, 3, 1);
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "IOAT", 1);
	ioapic_save(&a, &w);
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	uint32_t ver;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "IOAT", &ver), 0);
	CHECK_EQ(ioapic_restore(&b, &r), 0);
	CHECK_EQ(io_rd(&b, 0x10 + 2 * 3), 0xc051);
	CHECK_EQ(io_rd(&b, 0x11 + 2 * 3), 0x01000000);
	unsigned n = log.n;
	ioapic_eoi(&b, 0x51); /* the line was saved asserted */
	CHECK_EQ(log.n, n + 1);
	snap_writer_free(&w);
}

/* ---- end to end through the irqchip on its buses ---- */

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

static uint32_t mmio32(struct bus *b, uint64_t addr, bool write, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	CHECK(bus_access(b, addr, d, 4, write));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void chip_io_wr(struct bus *mmio, uint8_t reg, uint32_t v)
{
	mmio32(mmio, LAYOUT_IOAPIC, true, reg);
	mmio32(mmio, LAYOUT_IOAPIC + 0x10, true, v);
}

static uint32_t chip_io_rd(struct bus *mmio, uint8_t reg)
{
	mmio32(mmio, LAYOUT_IOAPIC, true, reg);
	return mmio32(mmio, LAYOUT_IOAPIC + 0x10, false, 0);
}

static void lapic_wr(struct irqchip *c, uint32_t reg, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	irqchip_lapic_access(c, 0, LAYOUT_LAPIC + reg, d, 4, true);
}

TEST(irqchip_ioapic_routing_and_level_eoi)
{
	struct env e = { .now = 5000000000ull };
	struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	struct irqchip *c = irqchip_create(1, 1, env_clock, &e);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(irqchip_register(c, &pio, &mmio), 0);
	irqchip_set_wake(c, 0, env_wake, &e);
	CHECK_EQ(chip_io_rd(&mmio, 0x00), 1u << 24);
	CHECK_EQ(chip_io_rd(&mmio, 0x01), 0x00170011);
	lapic_wr(c, 0xf0, 0x1ff);
	lapic_wr(c, 0x350, 0x10000); /* LINT0 masked: the 8259A is out of the way */
	/* GSI 0 (ISA IRQ 0) is pin 2. */
	chip_io_wr(&mmio, 0x10 + 2 * 2, 0x0030);
	chip_io_wr(&mmio, 0x11 + 2 * 2, 0);
	CHECK_EQ(irqchip_set_irq(c, 0, 1), 0);
	CHECK_EQ(irqchip_set_irq(c, 0, 0), 0);
	CHECK(e.wakes >= 1);
	CHECK_EQ(irqchip_ack(c, 0), 0x30);
	lapic_wr(c, 0xb0, 0);
	/* GSI 20, level-triggered, vector 0x44. */
	chip_io_wr(&mmio, 0x10 + 2 * 20, 0x8044);
	CHECK_EQ(irqchip_set_irq(c, 20, 1), 0);
	CHECK_EQ(irqchip_ack(c, 0), 0x44);
	CHECK(chip_io_rd(&mmio, 0x10 + 2 * 20) & 0x4000);
	CHECK_EQ(irqchip_ack(c, 0), -1);
	CHECK_EQ(irqchip_set_irq(c, 20, 0), 0); /* the device was serviced */
	lapic_wr(c, 0xb0, 0); /* EOI broadcast clears remote IRR */
	CHECK(!(chip_io_rd(&mmio, 0x10 + 2 * 20) & 0x4000));
	CHECK_EQ(irqchip_ack(c, 0), -1);
	/* A level line still high at EOI is delivered again. */
	CHECK_EQ(irqchip_set_irq(c, 20, 1), 0);
	CHECK_EQ(irqchip_ack(c, 0), 0x44);
	lapic_wr(c, 0xb0, 0);
	CHECK_EQ(irqchip_ack(c, 0), 0x44);
	CHECK_EQ(irqchip_set_irq(c, 24, 1), -EINVAL);
	/* Reset masks the entries again. */
	struct device *d = irqchip_device(c);
	d->ops->reset(d);
	CHECK_EQ(chip_io_rd(&mmio, 0x10 + 2 * 20), 0x10000);
	d->ops->destroy(d);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

/* The chip's device save/restore: every model in one go, all or nothing. */
TEST(irqchip_snapshot_roundtrip)
{
	struct env e = { .now = 9000000000ull };
	struct bus pio, mmio, pio2, mmio2;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	bus_init(&pio2, "pio");
	bus_init(&mmio2, "mmio");
	struct irqchip *a = irqchip_create(2, 2, env_clock, &e);
	struct irqchip *b = irqchip_create(2, 2, env_clock, &e);
	struct irqchip *one = irqchip_create(1, 1, env_clock, &e);
	CHECK(a && b && one);
	if (!a || !b || !one)
		return;
	CHECK_EQ(irqchip_register(a, &pio, &mmio), 0);
	CHECK_EQ(irqchip_register(b, &pio2, &mmio2), 0);
	chip_io_wr(&mmio, 0x10 + 2 * 7, 0x8057);
	uint8_t v = 0x3c;
	CHECK(bus_access(&pio, 0x21, &v, 1, true));
	v = 0x34;
	CHECK(bus_access(&pio, 0x43, &v, 1, true));
	irqchip_set_cr8(a, 1, 9);
	struct device *da = irqchip_device(a), *db = irqchip_device(b);
	struct device *d1 = irqchip_device(one);
	struct snap_writer w;
	snap_writer_init(&w);
	CHECK_EQ(da->ops->save(da, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(db->ops->restore(db, &r), 0);
	CHECK_EQ(chip_io_rd(&mmio2, 0x10 + 2 * 7), 0x8057);
	v = 0;
	CHECK(bus_access(&pio2, 0x21, &v, 1, false));
	CHECK_EQ(v, 0x3c);
	CHECK_EQ(irqchip_get_cr8(b, 1), 9);
	/* A snapshot of two CPUs does not fit a chip with one. */
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK(d1->ops->restore(d1, &r) < 0);
	CHECK_EQ(irqchip_get_cr8(one, 0), 0);
	snap_writer_free(&w);
	da->ops->destroy(da);
	db->ops->destroy(db);
	d1->ops->destroy(d1);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	bus_destroy(&pio2);
	bus_destroy(&mmio2);
}
