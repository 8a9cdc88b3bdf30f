/* 8254 PIT with an injected time: Linux's TSC-calibration sequence on
 * channel 2 through port 0x61 (mode 0, OUT2), the latch and read-back
 * commands, access modes, modes 2 and 3 count and OUT, gate pausing, channel
 * 0's IRQ deadlines and their floor, snapshots; and through the irqchip:
 * channel 0 in mode 2 raising IRQ 0 to the I/O APIC's pin 2 and to the 8259A. */
#include <string.h>

#include "bus.h"
#include "device.h"
#include "devices/irqchip.h"
#include "devices/pit8254.h"
#include "snapshot.h"
#include "unit.h"

#define T0 7000000000ull

/* ns after T0 at which `ticks` PIT ticks have passed */
static uint64_t at_tick(uint64_t ticks)
{
	return T0 + (ticks * 1000000000ull + PIT_HZ - 1) / PIT_HZ;
}

static uint16_t latch(struct pit8254 *p, unsigned ch, uint64_t now)
{
	pit_port_write(p, 3, (uint8_t)(ch << 6), now);
	uint8_t lo = pit_port_read(p, ch, now);
	return (uint16_t)(lo | pit_port_read(p, ch, now) << 8);
}

TEST(pit_channel2_calibration_sequence)
{
	struct pit8254 p;
	pit_init(&p, T0);
	CHECK_EQ(pit_port61_read(&p, T0) & 0x21, 0);
	pit_port61_write(&p, (pit_port61_read(&p, T0) & ~0x02) | 0x01, T0);
	CHECK_EQ(pit_port61_read(&p, T0) & 0x03, 0x01);
	pit_port_write(&p, 3, 0xb0, T0); /* ch2, lobyte/hibyte, mode 0, binary */
	pit_port_write(&p, 2, 0xff, T0);
	CHECK(!(pit_port61_read(&p, T0) & 0x20));
	pit_port_write(&p, 2, 0xff, T0); /* counting starts with the high byte */
	CHECK(!(pit_port61_read(&p, T0) & 0x20)); /* mode 0: OUT low while counting */
	CHECK_EQ(latch(&p, 2, at_tick(1000)), 0xffff - 1000);
	CHECK_EQ(latch(&p, 2, at_tick(50000)), 0xffff - 50000);
	CHECK(!(pit_port61_read(&p, at_tick(0xfffe)) & 0x20));
	CHECK(pit_port61_read(&p, at_tick(0xffff)) & 0x20); /* terminal count */
	CHECK(pit_port61_read(&p, at_tick(0x1ffff)) & 0x20); /* and stays high */
	CHECK_EQ(latch(&p, 2, at_tick(0xffff + 5)), 0xffff - 5 + 1); /* wraps */
	/* Gate low pauses mode 0. */
	pit_port_write(&p, 3, 0xb0, T0);
	pit_port_write(&p, 2, 0x10, T0);
	pit_port_write(&p, 2, 0x27, T0); /* 10000 */
	pit_port61_write(&p, 0x00, at_tick(3000));
	CHECK_EQ(latch(&p, 2, at_tick(9000)), 7000);
	pit_port61_write(&p, 0x01, at_tick(9000));
	uint16_t c = latch(&p, 2, at_tick(10000)); /* resumed: 1000 more, give or take one */
	CHECK(c >= 5999 && c <= 6001);
	CHECK(!(pit_port61_read(&p, at_tick(15990)) & 0x20));
	CHECK(pit_port61_read(&p, at_tick(16010)) & 0x20);
}

TEST(pit_latch_and_access_modes)
{
	struct pit8254 p;
	pit_init(&p, T0);
	pit_port_write(&p, 3, 0x34, T0); /* ch0, lo/hi, mode 2 */
	pit_port_write(&p, 0, 0x00, T0);
	pit_port_write(&p, 0, 0x10, T0); /* 4096 */
	pit_port_write(&p, 3, 0x00, at_tick(96)); /* latch: 4000 */
	pit_port_write(&p, 3, 0x00, at_tick(500)); /* ignored until read */
	CHECK_EQ(pit_port_read(&p, 0, at_tick(1000)), 4000 & 0xff);
	CHECK_EQ(pit_port_read(&p, 0, at_tick(2000)), 4000 >> 8);
	/* Unlatched reads follow the counter, LSB then MSB. */
	CHECK_EQ(pit_port_read(&p, 0, at_tick(1096)), 3000 & 0xff);
	CHECK_EQ(pit_port_read(&p, 0, at_tick(1096)), 3000 >> 8);
	/* LSB-only and MSB-only channels. */
	pit_port_write(&p, 3, 0x50, T0); /* ch1, LSB only, mode 0 */
	pit_port_write(&p, 1, 200, T0);
	CHECK_EQ(pit_port_read(&p, 1, at_tick(50)), 150);
	pit_port_write(&p, 3, 0x60, T0); /* ch1, MSB only, mode 0 */
	pit_port_write(&p, 1, 0x02, T0); /* 0x200 */
	CHECK_EQ(pit_port_read(&p, 1, at_tick(0x100)), 0x01);
	/* Read-back: status and count of channel 0. */
	pit_port_write(&p, 3, 0xc2, at_tick(100)); /* count + status, ch0 */
	uint8_t st = pit_port_read(&p, 0, at_tick(200));
	CHECK_EQ(st & 0x3f, 0x34); /* lo/hi, mode 2, binary */
	CHECK(st & 0x80);          /* OUT high in mode 2 */
	CHECK(!(st & 0x40));       /* count loaded */
	CHECK_EQ(pit_port_read(&p, 0, at_tick(300)), (4096 - 100) & 0xff);
	CHECK_EQ(pit_port_read(&p, 0, at_tick(300)), (4096 - 100) >> 8);
	pit_port_write(&p, 3, 0x30, T0); /* new control word: null count */
	pit_port_write(&p, 3, 0xe2, T0); /* status only */
	CHECK(pit_port_read(&p, 0, T0) & 0x40);
	CHECK_EQ(pit_port_read(&p, 3, T0), 0xff);
}

TEST(pit_modes_2_and_3)
{
	struct pit8254 p;
	pit_init(&p, T0);
	pit_port_write(&p, 3, 0x14, T0); /* ch0, LSB, mode 2 */
	pit_port_write(&p, 0, 100, T0);
	CHECK_EQ(pit_count(&p, 0, at_tick(0)), 100);
	CHECK_EQ(pit_count(&p, 0, at_tick(98)), 2);
	CHECK(pit_out(&p, 0, at_tick(98)));
	CHECK(!pit_out(&p, 0, at_tick(99))); /* low while the count is 1 */
	CHECK(pit_out(&p, 0, at_tick(100)));
	CHECK_EQ(pit_count(&p, 0, at_tick(100)), 100);
	pit_port_write(&p, 3, 0x16, T0); /* mode 3 */
	pit_port_write(&p, 0, 100, T0);
	CHECK(pit_out(&p, 0, at_tick(49)));
	CHECK(!pit_out(&p, 0, at_tick(50)));
	CHECK(pit_out(&p, 0, at_tick(100)));
	CHECK_EQ(pit_count(&p, 0, at_tick(10)), 80); /* down by 2 per tick */
	CHECK_EQ(pit_count(&p, 0, at_tick(60)), 80);
}

TEST(pit_irq0_deadlines)
{
	struct pit8254 p;
	pit_init(&p, T0);
	CHECK_EQ(pit_irq0_deadline_ns(&p), UINT64_MAX);
	pit_port_write(&p, 3, 0x34, T0);
	pit_port_write(&p, 0, 1193 & 0xff, T0);
	pit_port_write(&p, 0, 1193 >> 8, T0); /* ~1 ms, Linux's HZ=1000 */
	uint64_t d = pit_irq0_deadline_ns(&p);
	CHECK_EQ(d, at_tick(1193));
	CHECK(!pit_poll_irq0(&p, d - 1));
	CHECK(pit_poll_irq0(&p, d));
	CHECK(!pit_poll_irq0(&p, d));
	CHECK_EQ(pit_irq0_deadline_ns(&p), at_tick(2 * 1193));
	/* Late by many periods: one edge, then the next on the grid. */
	CHECK(pit_poll_irq0(&p, at_tick(10 * 1193 + 5)));
	CHECK_EQ(pit_irq0_deadline_ns(&p), at_tick(11 * 1193));
	/* Mode 0: one edge at terminal count. */
	pit_port_write(&p, 3, 0x30, T0);
	pit_port_write(&p, 0, 0x00, T0);
	pit_port_write(&p, 0, 0x01, T0); /* 256 */
	CHECK_EQ(pit_irq0_deadline_ns(&p), at_tick(256));
	CHECK(pit_poll_irq0(&p, at_tick(256)));
	CHECK_EQ(pit_irq0_deadline_ns(&p), UINT64_MAX);
	/* A tiny period is floored (50 us between IRQs). */
	uint64_t tb = T0 + 100000000ull;
	pit_port_write(&p, 3, 0x14, tb);
	pit_port_write(&p, 0, 2, tb);
	CHECK(pit_poll_irq0(&p, tb + 2000));
	CHECK(pit_irq0_deadline_ns(&p) >= tb + 2000 + 50000);
}

TEST(pit_snapshot_roundtrip)
{
	struct pit8254 a, b;
	pit_init(&a, T0);
	pit_init(&b, 0);
	pit_port61_write(&a, 0x01, T0);
	pit_port_write(&a, 3, 0xb0, T0);
	pit_port_write(&a, 2, 0x10, T0);
	pit_port_write(&a, 2, 0x27, T0); /* 10000 */
	pit_port_write(&a, 3, 0x34, T0);
	pit_port_write(&a, 0, 0xa9, T0);
	pit_port_write(&a, 0, 0x04, T0); /* 1193 */
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "PITT", 1);
	pit_save(&a, &w, at_tick(4000));
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	uint32_t ver;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "PITT", &ver), 0);
	uint64_t t1 = 3 * T0; /* another clock */
	CHECK_EQ(pit_restore(&b, &r, t1), 0);
	/* 4000 ticks had passed (within one of rounding). */
	uint16_t c = pit_count(&b, 2, t1);
	CHECK(c >= 5999 && c <= 6001);
	CHECK_EQ(pit_port61_read(&b, t1) & 0x0f, 0x01);
	/* The IRQ due at tick 1193 was never taken: overdue after restore. */
	CHECK(pit_irq0_deadline_ns(&b) <= t1);
	CHECK(pit_poll_irq0(&b, t1));
	CHECK(pit_irq0_deadline_ns(&b) > t1 && pit_irq0_deadline_ns(&b) <= t1 + 1000000);
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

static void mmio32(struct bus *b, uint64_t addr, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	CHECK(bus_access(b, addr, d, 4, true));
}

TEST(irqchip_pit_irq0_to_ioapic_pin2_and_pic)
{
	struct env e = { .now = T0 };
	struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	struct irqchip *c = irqchip_create(1, 1, env_clock, &e);
	if (!c)
		return;
	CHECK_EQ(irqchip_register(c, &pio, &mmio), 0);
	irqchip_set_wake(c, 0, env_wake, &e);
	/* 8259A: vectors 0x20.., IRQ 0 unmasked. */
	outb(&pio, 0x20, 0x11);
	outb(&pio, 0x21, 0x20);
	outb(&pio, 0x21, 0x04);
	outb(&pio, 0x21, 0x01);
	outb(&pio, 0x21, 0xfe);
	/* PIT channel 0: mode 2, ~1 ms. */
	outb(&pio, 0x43, 0x34);
	outb(&pio, 0x40, 1193 & 0xff);
	outb(&pio, 0x40, 1193 >> 8);
	CHECK_EQ(irqchip_next_deadline_ns(c), at_tick(1193));
	e.now = at_tick(1193);
	irqchip_poll(c);
	CHECK(e.wakes >= 1);
	CHECK_EQ(irqchip_ack(c, 0), 0x20); /* through LINT0 ExtINT */
	outb(&pio, 0x20, 0x20);
	/* Now through the I/O APIC: mask the 8259A path, unmask pin 2. */
	uint8_t lint0[4] = { 0, 0, 1, 0 };
	irqchip_lapic_access(c, 0, 0xfee00350, lint0, 4, true);
	uint8_t svr[4] = { 0xff, 1, 0, 0 };
	irqchip_lapic_access(c, 0, 0xfee000f0, svr, 4, true);
	mmio32(&mmio, 0xfec00000, 0x10 + 2 * 2);
	mmio32(&mmio, 0xfec00010, 0x0031);
	e.now = at_tick(2 * 1193);
	CHECK(irqchip_has_interrupt(c, 0)); /* any call catches up with the clock */
	CHECK_EQ(irqchip_ack(c, 0), 0x31);
	struct device *d = irqchip_device(c);
	d->ops->destroy(d);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
