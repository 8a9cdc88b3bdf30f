/* CMOS RTC against an injected clock: BCD and binary, 12/24-hour, setting
 * the time, the UIP window, register C flags, index masking, snapshots. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "eventloop.h"
#include "snapshot.h"
#include "unit.h"

#define NS 1000000000ll

struct fake_clock {
	int64_t ns;
};

static int64_t fake_now(void *opaque)
{
	return ((struct fake_clock *)opaque)->ns;
}

static int64_t utc(int y, int mon, int d, int h, int m, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = m, .tm_sec = s };
	return (int64_t)timegm(&tm);
}

static uint8_t cmos_read(struct device *dev, uint8_t idx)
{
	dev->ops->write(dev, 0, 0, 1, idx);
	return (uint8_t)dev->ops->read(dev, 0, 1, 1);
}

static void cmos_write(struct device *dev, uint8_t idx, uint8_t v)
{
	dev->ops->write(dev, 0, 0, 1, idx);
	dev->ops->write(dev, 0, 1, 1, v);
}

TEST(rtc_bcd_time_from_host_clock)
{
	struct fake_clock clk = { utc(2024, 2, 29, 13, 45, 7) * NS + NS / 2 };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	CHECK(dev != NULL);
	CHECK_EQ(cmos_read(dev, 0x00), 0x07);
	CHECK_EQ(cmos_read(dev, 0x02), 0x45);
	CHECK_EQ(cmos_read(dev, 0x04), 0x13);
	CHECK_EQ(cmos_read(dev, 0x06), 0x05); /* Thursday; Sunday is 1 */
	CHECK_EQ(cmos_read(dev, 0x07), 0x29);
	CHECK_EQ(cmos_read(dev, 0x08), 0x02);
	CHECK_EQ(cmos_read(dev, 0x09), 0x24);
	CHECK_EQ(cmos_read(dev, 0x32), 0x20);
	CHECK_EQ(cmos_read(dev, 0x0b), 0x02); /* BCD, 24-hour */
	CHECK_EQ(cmos_read(dev, 0x0d), 0x80); /* VRT */
	clk.ns += 60 * NS;
	CHECK_EQ(cmos_read(dev, 0x02), 0x46);
	dev->ops->destroy(dev);
}

TEST(rtc_binary_and_12_hour)
{
	struct fake_clock clk = { utc(1999, 12, 31, 13, 5, 59) * NS };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	cmos_write(dev, 0x0b, 0x04); /* binary, 12-hour */
	CHECK_EQ(cmos_read(dev, 0x00), 59);
	CHECK_EQ(cmos_read(dev, 0x04), 0x81); /* 1 PM */
	CHECK_EQ(cmos_read(dev, 0x09), 99);
	CHECK_EQ(cmos_read(dev, 0x32), 19);
	clk.ns = utc(2000, 1, 1, 0, 30, 0) * NS;
	CHECK_EQ(cmos_read(dev, 0x04), 12); /* 12 AM */
	clk.ns = utc(2000, 1, 1, 12, 30, 0) * NS;
	CHECK_EQ(cmos_read(dev, 0x04), 0x80 | 12); /* 12 PM */
	cmos_write(dev, 0x0b, 0x00); /* BCD, 12-hour */
	clk.ns = utc(2000, 1, 1, 23, 0, 0) * NS;
	CHECK_EQ(cmos_read(dev, 0x04), 0x91); /* 11 PM */
	cmos_write(dev, 0x0b, 0x06); /* binary, 24-hour */
	CHECK_EQ(cmos_read(dev, 0x04), 23);
	/* Writing hours in 12-hour mode: PM adds 12, 12 AM is 0. */
	cmos_write(dev, 0x0b, 0x04);
	cmos_write(dev, 0x04, 0x80 | 1);
	cmos_write(dev, 0x0b, 0x06);
	CHECK_EQ(cmos_read(dev, 0x04), 13);
	cmos_write(dev, 0x0b, 0x04);
	cmos_write(dev, 0x04, 12);
	cmos_write(dev, 0x0b, 0x06);
	CHECK_EQ(cmos_read(dev, 0x04), 0);
	CHECK_EQ(cmos_read(dev, 0x07), 1); /* still the same day */
	dev->ops->destroy(dev);
}

TEST(rtc_set_time_with_set_bit)
{
	struct fake_clock clk = { utc(2024, 6, 1, 8, 0, 0) * NS };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	/* Linux's mc146818_set_time: SET, divider reset, write, release. */
	cmos_write(dev, 0x0b, 0x82);
	cmos_write(dev, 0x0a, 0x70);
	cmos_write(dev, 0x09, 0x31);
	cmos_write(dev, 0x07, 0x31); /* June 31 for a moment: the registers are */
	cmos_write(dev, 0x08, 0x07); /* plain bytes until the clock restarts */
	cmos_write(dev, 0x04, 0x23);
	cmos_write(dev, 0x02, 0x59);
	cmos_write(dev, 0x00, 0x58);
	CHECK_EQ(cmos_read(dev, 0x07), 0x31);
	CHECK_EQ(cmos_read(dev, 0x00), 0x58); /* stopped: reads what was written */
	clk.ns += 10 * NS;
	CHECK_EQ(cmos_read(dev, 0x00), 0x58);
	CHECK_EQ(cmos_read(dev, 0x0a) & 0x80, 0); /* no UIP while stopped */
	cmos_write(dev, 0x0a, 0x26);
	cmos_write(dev, 0x0b, 0x02);
	/* Restarted from the divider reset: first update 500 ms later. */
	CHECK_EQ(cmos_read(dev, 0x00), 0x58);
	clk.ns += NS / 2;
	CHECK_EQ(cmos_read(dev, 0x00), 0x59);
	clk.ns += NS;
	CHECK_EQ(cmos_read(dev, 0x00), 0x00);
	CHECK_EQ(cmos_read(dev, 0x04), 0x00);
	CHECK_EQ(cmos_read(dev, 0x07), 0x01);
	CHECK_EQ(cmos_read(dev, 0x08), 0x08); /* 2031-08-01 00:00:00 */
	CHECK_EQ(cmos_read(dev, 0x09), 0x31);
	CHECK_EQ(cmos_read(dev, 0x32), 0x20);
	dev->ops->destroy(dev);
}

TEST(rtc_write_while_running_keeps_the_rest)
{
	struct fake_clock clk = { utc(2024, 6, 1, 8, 10, 20) * NS + 300000000 };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	cmos_write(dev, 0x02, 0x42);
	CHECK_EQ(cmos_read(dev, 0x02), 0x42);
	CHECK_EQ(cmos_read(dev, 0x00), 0x20);
	CHECK_EQ(cmos_read(dev, 0x04), 0x08);
	cmos_write(dev, 0x32, 0x21); /* century: 2124 */
	CHECK_EQ(cmos_read(dev, 0x09), 0x24);
	CHECK_EQ(cmos_read(dev, 0x32), 0x21);
	clk.ns += 700000000; /* the sub-second phase was kept */
	CHECK_EQ(cmos_read(dev, 0x00), 0x21);
	cmos_write(dev, 0x0b, 0x06);
	cmos_write(dev, 0x32, 0xff); /* far outside: clamped, no overflow */
	CHECK(cmos_read(dev, 0x32) <= 22);
	dev->ops->destroy(dev);
}

TEST(rtc_uip_window)
{
	int64_t base = utc(2024, 6, 1, 8, 0, 0) * NS;
	struct fake_clock clk = { base + 500000000 };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	CHECK_EQ(cmos_read(dev, 0x0a), 0x26);
	clk.ns = base + NS - 300000; /* 300 us before the update */
	CHECK_EQ(cmos_read(dev, 0x0a) & 0x80, 0);
	clk.ns = base + NS - 200000; /* 200 us before: update in progress */
	CHECK_EQ(cmos_read(dev, 0x0a) & 0x80, 0x80);
	clk.ns = base + NS + 1000000; /* during the 1984 us update cycle */
	CHECK_EQ(cmos_read(dev, 0x0a) & 0x80, 0x80);
	clk.ns = base + NS + 2000000;
	CHECK_EQ(cmos_read(dev, 0x0a), 0x26);
	cmos_write(dev, 0x0a, 0xa5); /* UIP is read-only */
	CHECK_EQ(cmos_read(dev, 0x0a), 0x25);
	clk.ns = base + 2 * NS - 100000;
	CHECK_EQ(cmos_read(dev, 0x0a), 0xa5);
	cmos_write(dev, 0x0b, 0x82); /* SET: no updates, no UIP */
	CHECK_EQ(cmos_read(dev, 0x0a), 0x25);
	dev->ops->destroy(dev);
}

TEST(rtc_index_masking_and_ram)
{
	struct fake_clock clk = { 0 };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	cmos_write(dev, 0x8f, 0x0a); /* NMI-disable bit + shutdown status byte */
	CHECK_EQ(rtc_cmos_get(dev, 0x0f), 0x0a);
	cmos_write(dev, 0xff, 0x5a); /* index 0x7f */
	CHECK_EQ(rtc_cmos_get(dev, 0x7f), 0x5a);
	CHECK_EQ(cmos_read(dev, 0xff), 0x5a);
	rtc_cmos_set(dev, 0x34, 0x12);
	CHECK_EQ(cmos_read(dev, 0x34), 0x12);
	rtc_cmos_set(dev, 0x00, 0x12); /* not RAM: refused */
	CHECK_EQ(cmos_read(dev, 0x00), 0x00);
	CHECK_EQ(rtc_cmos_get(dev, 0x80), 0xff);
	CHECK_EQ(dev->ops->read(dev, 0, 0, 1), 0xff); /* the index port is write-only */
	cmos_write(dev, 0x0d, 0x00); /* read-only */
	CHECK_EQ(cmos_read(dev, 0x0d), 0x80);
	/* A 16-bit write sets index and data in one go. */
	dev->ops->write(dev, 0, 0, 2, 0x6620);
	CHECK_EQ(rtc_cmos_get(dev, 0x20), 0x66);
	dev->ops->destroy(dev);
}

TEST(rtc_register_c_flags)
{
	int64_t base = utc(2024, 6, 1, 8, 0, 0) * NS;
	struct fake_clock clk = { base + 100000000 };
	struct device *dev = rtc_create(NULL, fake_now, &clk);
	cmos_write(dev, 0x0a, 0x20); /* no periodic rate */
	CHECK_EQ(cmos_read(dev, 0x0c), 0x00);
	clk.ns += NS; /* one update */
	CHECK_EQ(cmos_read(dev, 0x0c), 0x10); /* UF; no IRQF: UIE off */
	CHECK_EQ(cmos_read(dev, 0x0c), 0x00); /* cleared by the read */
	cmos_write(dev, 0x0b, 0x12); /* UIE */
	clk.ns += NS;
	CHECK_EQ(cmos_read(dev, 0x0c), 0x90);
	cmos_write(dev, 0x0a, 0x2f); /* 2 Hz periodic */
	cmos_read(dev, 0x0c);
	clk.ns += NS / 4;
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x40, 0);
	clk.ns += NS / 4;
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x40, 0x40);
	/* Alarm at 08:00:05 (BCD, 24-hour). */
	cmos_write(dev, 0x01, 0x05);
	cmos_write(dev, 0x03, 0x00);
	cmos_write(dev, 0x05, 0x08);
	cmos_write(dev, 0x0a, 0x20);
	cmos_read(dev, 0x0c);
	clk.ns = base + 4 * NS + 100000000;
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x20, 0);
	clk.ns = base + 6 * NS;
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x20, 0x20);
	/* Don't-care hours: the alarm matches every hour at :00:05. */
	cmos_write(dev, 0x05, 0xc0);
	cmos_read(dev, 0x0c);
	clk.ns = base + 3600 * NS + 10 * NS;
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x30, 0x30);
	clk.ns += NS / 2;
	CHECK_EQ(cmos_read(dev, 0x0c), 0x00);
	dev->ops->reset(dev); /* the RESET pin clears UIE */
	CHECK_EQ(cmos_read(dev, 0x0b), 0x02);
	dev->ops->destroy(dev);
}

TEST(rtc_snapshot_roundtrip)
{
	struct fake_clock clk = { utc(2024, 6, 1, 8, 0, 0) * NS };
	struct device *a = rtc_create(NULL, fake_now, &clk), *b = rtc_create(NULL, fake_now, &clk);
	cmos_write(a, 0x09, 0x30); /* year 2030 */
	cmos_write(a, 0x50, 0xab);
	cmos_write(a, 0x0b, 0x06);

	struct snap_writer w;
	snap_writer_init(&w);
	CHECK_EQ(a->ops->save(a, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(b->ops->restore(b, &r), 0);
	CHECK_EQ(cmos_read(b, 0x09), 30);
	CHECK_EQ(cmos_read(b, 0x50), 0xab);
	clk.ns += 3600 * NS;
	CHECK_EQ(cmos_read(b, 0x04), 9);
	snap_writer_free(&w);
	a->ops->destroy(a);
	b->ops->destroy(b);
}

struct level_rec {
	int level, rises;
	unsigned gsi;
};

static int rec_level(void *opaque, unsigned gsi, int level)
{
	struct level_rec *r = opaque;
	if (level && !r->level)
		r->rises++;
	r->level = level;
	r->gsi = gsi;
	return 0;
}

TEST(rtc_interrupt_line_and_next_event)
{
	int64_t base = utc(2024, 6, 1, 8, 0, 0) * NS;
	struct fake_clock clk = { base + 100000000 };
	struct level_rec rec = { 0 };
	struct irq_router router = { .set_level = rec_level, .opaque = &rec };
	struct irq_line line = { .router = &router, .gsi = 8 };
	struct device *dev = rtc_create(&line, fake_now, &clk);

	CHECK_EQ(rtc_poll(dev), -1); /* nothing enabled */
	cmos_write(dev, 0x0b, 0x12); /* UIE */
	CHECK_EQ(rtc_poll(dev), base + NS);
	clk.ns = base + NS;
	CHECK_EQ(rtc_poll(dev), -1); /* the line is up until C is read */
	CHECK_EQ(rec.level, 1);
	CHECK_EQ(rec.gsi, 8);
	/* IRQF, UF, and PF: RS = 6 ticks at 1024 Hz whether or not PIE is on. */
	CHECK_EQ(cmos_read(dev, 0x0c), 0xd0);
	CHECK_EQ(rec.level, 0);
	CHECK_EQ(rtc_poll(dev), base + 2 * NS);
	/* Enabling a source whose flag is already set raises the line at once. */
	cmos_write(dev, 0x0b, 0x02);
	clk.ns = base + 2 * NS + 1;
	CHECK_EQ(rec.level, 0);
	cmos_write(dev, 0x0b, 0x12);
	CHECK_EQ(rec.level, 1);
	CHECK_EQ(rec.rises, 2);
	cmos_read(dev, 0x0c);

	/* Periodic at 2 Hz: the next half-second boundary. */
	cmos_write(dev, 0x0a, 0x2f);
	cmos_write(dev, 0x0b, 0x42);
	CHECK_EQ(rtc_poll(dev), base + 2 * NS + NS / 2);
	/* Alarm at 08:00:05 only. */
	cmos_write(dev, 0x01, 0x05);
	cmos_write(dev, 0x03, 0x00);
	cmos_write(dev, 0x05, 0x08);
	cmos_write(dev, 0x0b, 0x22);
	CHECK_EQ(rtc_poll(dev), base + 5 * NS);
	cmos_write(dev, 0x05, 0x25); /* 25 o'clock never comes */
	CHECK_EQ(rtc_poll(dev), -1);
	cmos_write(dev, 0x05, 0x07); /* 07:00:05 is tomorrow */
	CHECK_EQ(rtc_poll(dev), base + (23 * 3600 + 5) * NS);
	cmos_write(dev, 0x01, 0xc0); /* any second of 07:00 */
	CHECK_EQ(rtc_poll(dev), base + 23 * 3600 * NS);
	clk.ns = base + 23 * 3600 * NS + 1;
	rtc_poll(dev);
	CHECK_EQ(rec.level, 1);
	CHECK_EQ(cmos_read(dev, 0x0c) & 0xa0, 0xa0);
	dev->ops->destroy(dev);
}

/* The timerfd on a real event loop delivers the update-ended interrupt
 * within a second of real time, with nobody touching the RTC. */
TEST(rtc_timer_delivers_update_interrupt)
{
	struct level_rec rec = { 0 };
	struct irq_router router = { .set_level = rec_level, .opaque = &rec };
	struct irq_line line = { .router = &router, .gsi = 8 };
	struct device *dev = rtc_create(&line, NULL, NULL);
	struct eventloop *loop = eventloop_create();
	CHECK(dev && loop);
	if (!dev || !loop)
		return;
	CHECK_EQ(rtc_enable_interrupts(dev, loop), 0);
	CHECK_EQ(rtc_enable_interrupts(dev, loop), -EBUSY);
	cmos_write(dev, 0x0b, 0x12); /* UIE */
	for (int i = 0; i < 30 && !rec.level; i++)
		eventloop_run_once(loop, 100);
	CHECK_EQ(rec.level, 1);
	CHECK_EQ(cmos_read(dev, 0x0c) & 0x90, 0x90);
	CHECK_EQ(rec.level, 0);
	dev->ops->destroy(dev);
	eventloop_destroy(loop);
}
