/* virtio-console (virtio/console.c) through the virtio-mmio transport with
 * fake guest memory: output into the host ring and back pressure, input
 * into posted receive buffers and flow control, hostile chains, reset and
 * snapshots. */
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "snapshot.h"
#include "unit.h"
#include "virtio/console.h"

#define MiB (1ull << 20)
#define QSIZE 8
/* Rings of queue q (0 receive, 1 transmit). */
#define DESC(q)  (0x10000ull + (q) * 0x8000ull)
#define AVAIL(q) (0x20000ull + (q) * 0x8000ull)
#define USED(q)  (0x30000ull + (q) * 0x8000ull)
#define BUF      0x100000ull
#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ

static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)gsi;
	*(int *)opaque = level;
	return 0;
}

struct crig {
	struct guest_mem mem;
	struct irq_router router;
	int level;
	struct device *dev;
	uint16_t avail_idx[2];
	int tx_notifies, rx_spaces;
	struct virtio_console_host_ops host;
};

static void rec_tx(void *opaque)
{
	((struct crig *)opaque)->tx_notifies++;
}

static void rec_rx(void *opaque)
{
	((struct crig *)opaque)->rx_spaces++;
}

static const struct virtio_mmio_params params = {
	.base = LAYOUT_MMIO_DEVICES, .len = VIRTIO_MMIO_WINDOW, .gsi = 7, .index = 2,
};

static uint32_t rd(struct crig *r, uint64_t off)
{
	return (uint32_t)r->dev->ops->read(r->dev, 0, off, 4);
}

static void wr(struct crig *r, uint64_t off, uint32_t v)
{
	r->dev->ops->write(r->dev, 0, off, 4, v);
}

/* Linux's bring-up of the device: both queues set up; DRIVER_OK unless
 * stop_before_ok. */
static void bringup(struct crig *r, bool stop_before_ok)
{
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* No device bits: only the transport's INDIRECT_DESC and EVENT_IDX. */
	CHECK_EQ(rd(r, VIRTIO_MMIO_DEVICE_FEATURES),
		 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < 2; q++) {
		wr(r, VIRTIO_MMIO_QUEUE_SEL, q);
		CHECK_EQ(rd(r, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_CONSOLE_QUEUE_SIZE);
		wr(r, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(q));
		wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL(q));
		wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED(q));
		wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
		CHECK_EQ(rd(r, VIRTIO_MMIO_QUEUE_READY), 1);
	}
	if (!stop_before_ok) {
		wr(r, VIRTIO_MMIO_STATUS, rd(r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
		CHECK(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	}
}

/* A new device over r->mem, brought up. */
static int crig_open_dev(struct crig *r, bool stop_before_ok)
{
	r->host = (struct virtio_console_host_ops){ .tx_notify = rec_tx, .rx_space = rec_rx,
						    .opaque = r };
	r->router = (struct irq_router){ .set_level = irq_set, .opaque = &r->level };
	CHECK_EQ(virtio_console_create(&r->mem, &r->router, &params, &r->host, &r->dev), 0);
	if (!r->dev)
		return -1;
	CHECK_EQ(rd(r, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	bringup(r, stop_before_ok);
	return 0;
}

/* The driver resets the device and starts over with fresh rings. */
static void rebringup(struct crig *r)
{
	wr(r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(r, VIRTIO_MMIO_STATUS), 0);
	memset(r->avail_idx, 0, sizeof(r->avail_idx));
	for (unsigned q = 0; q < 2; q++) {
		CHECK_EQ(gm_write(&r->mem, AVAIL(q) + 2, "\0\0", 2), 0);
		CHECK_EQ(gm_write(&r->mem, USED(q) + 2, "\0\0", 2), 0);
	}
	bringup(r, false);
}

static int crig_open(struct crig *r, bool stop_before_ok)
{
	memset(r, 0, sizeof(*r));
	if (gm_init(&r->mem, 4 * MiB)) {
		CHECK(!"gm_init");
		return -1;
	}
	return crig_open_dev(r, stop_before_ok);
}

static void crig_close(struct crig *r)
{
	if (r->dev)
		r->dev->ops->destroy(r->dev);
	gm_destroy(&r->mem);
}

static void put_desc(struct crig *r, unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	CHECK_EQ(gm_write(&r->mem, DESC(q) + 16ull * i, d, 16), 0);
}

/* Make chain `head` available on queue q; notify unless quiet. */
static void offer(struct crig *r, unsigned q, uint16_t head, bool quiet)
{
	uint16_t idx = r->avail_idx[q];
	CHECK_EQ(gm_write(&r->mem, AVAIL(q) + 4 + 2ull * (idx % QSIZE), &head, 2), 0);
	idx++;
	r->avail_idx[q] = idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL(q) + 2, &idx, 2), 0);
	if (!quiet)
		wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct crig *r, unsigned q)
{
	uint16_t v = 0;
	CHECK_EQ(gm_read(&r->mem, USED(q) + 2, &v, 2), 0);
	return v;
}

static uint32_t used_len(struct crig *r, unsigned q, uint16_t slot)
{
	uint32_t v = 0xdead;
	CHECK_EQ(gm_read(&r->mem, USED(q) + 4 + 8ull * (slot % QSIZE) + 4, &v, 4), 0);
	return v;
}

/* Fill [gpa, gpa + len) with a pattern that depends on the offset. */
static void pattern(struct crig *r, uint64_t gpa, uint32_t len, uint32_t seed)
{
	uint8_t *p = gm_ptr(&r->mem, gpa, len);
	CHECK(p != NULL);
	for (uint32_t i = 0; p && i < len; i++)
		p[i] = (uint8_t)((i + seed) * 13 + ((i + seed) >> 8));
}

static bool pattern_ok(const uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)((i + seed) * 13 + ((i + seed) >> 8)))
			return false;
	return true;
}

/* The guest's first output on the port (one byte, descriptor 7 of the
 * transmit queue), which tells the device its port is hooked up. */
static void say_hello(struct crig *r)
{
	uint8_t drain[8];

	CHECK_EQ(gm_write(&r->mem, BUF + 0x3000, "!", 1), 0);
	put_desc(r, TXQ, 7, BUF + 0x3000, 1, 0, 0);
	offer(r, TXQ, 7, false);
	CHECK_EQ(virtio_console_tx_drain(r->dev, drain, sizeof(drain)), 1);
}

TEST(virtio_console_output_reaches_host)
{
	struct crig r;
	uint8_t out[64];

	if (crig_open(&r, false) == 0) {
		CHECK_EQ(gm_write(&r.mem, BUF, "hello ", 6), 0);
		CHECK_EQ(gm_write(&r.mem, BUF + 0x100, "world", 5), 0);
		put_desc(&r, TXQ, 0, BUF, 6, VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, TXQ, 1, BUF + 0x100, 5, 0, 0);
		offer(&r, TXQ, 0, false);
		CHECK_EQ(used_idx(&r, TXQ), 1);
		CHECK_EQ(used_len(&r, TXQ, 0), 0); /* nothing written into it */
		CHECK_EQ(r.level, 1);
		CHECK_EQ(r.tx_notifies, 1);
		CHECK_EQ(virtio_console_tx_pending(r.dev), 11);
		CHECK_EQ(virtio_console_tx_drain(r.dev, out, 4), 4);
		CHECK_EQ(virtio_console_tx_drain(r.dev, out + 4, sizeof(out) - 4), 7);
		CHECK(!memcmp(out, "hello world", 11));
		CHECK_EQ(virtio_console_tx_drain(r.dev, out, sizeof(out)), 0);
		/* Config space: 12 bytes, max_nr_ports 1, the rest zero. */
		CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_CONFIG + 0, 4), 0);
		CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_CONFIG + 4, 4), 1);
		CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_CONFIG + 8, 4), 0);
		r.dev->ops->write(r.dev, 0, VIRTIO_MMIO_CONFIG + 8, 4, 'x'); /* ignored */
		CHECK_EQ(virtio_console_tx_pending(r.dev), 0);
	}
	crig_close(&r);
}

/* More output than the ring holds: the device stops taking chains (the
 * guest waits) and resumes as the host drains; nothing is lost or
 * reordered, also for one chain larger than the whole ring. */
TEST(virtio_console_output_back_pressure)
{
	struct crig r;
	const uint32_t a = 40000, b = 100000, c = 3000;
	const uint32_t total = a + b + c;
	uint8_t *got = malloc(total);
	uint32_t n = 0;
	int rounds = 0;

	if (got && crig_open(&r, false) == 0) {
		pattern(&r, BUF, total, 0);
		put_desc(&r, TXQ, 0, BUF, a, 0, 0);
		put_desc(&r, TXQ, 1, BUF + a, b / 2, VIRTQ_DESC_F_NEXT, 2);
		put_desc(&r, TXQ, 2, BUF + a + b / 2, b - b / 2, 0, 0);
		put_desc(&r, TXQ, 3, BUF + a + b, c, 0, 0);
		offer(&r, TXQ, 0, true);
		offer(&r, TXQ, 1, true);
		offer(&r, TXQ, 3, false);
		/* The first chain fitted; the second is half taken; the ring is full. */
		CHECK_EQ(used_idx(&r, TXQ), 1);
		CHECK_EQ(virtio_console_tx_pending(r.dev), VIRTIO_CONSOLE_TX_RING);
		/* A notify while full changes nothing. */
		wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
		CHECK_EQ(used_idx(&r, TXQ), 1);
		while (n < total && rounds++ < 1000) {
			size_t k = virtio_console_tx_drain(r.dev, got + n, 4096);
			if (k == 0)
				break;
			n += (uint32_t)k;
		}
		CHECK_EQ(n, total);
		CHECK(pattern_ok(got, n, 0));
		CHECK_EQ(used_idx(&r, TXQ), 3);
		for (uint16_t s = 0; s < 3; s++)
			CHECK_EQ(used_len(&r, TXQ, s), 0);
		CHECK_EQ(r.tx_notifies, 1); /* the ring never went empty until the end */
	}
	if (got)
		crig_close(&r);
	free(got);
}

TEST(virtio_console_input_flow_control)
{
	struct crig r;
	char b[8] = { 0 };

	if (crig_open(&r, false) == 0) {
		say_hello(&r);
		/* No receive buffers yet: nothing is taken, nothing lost. */
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"abcdefghij", 10), 0);
		put_desc(&r, RXQ, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
		put_desc(&r, RXQ, 1, BUF + 0x100, 2, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
		put_desc(&r, RXQ, 2, BUF + 0x200, 2, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, RXQ, 0, true);
		offer(&r, RXQ, 1, false);
		CHECK_EQ(r.rx_spaces, 1); /* the host is told to push again */
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"abcdefghij", 10), 8);
		CHECK_EQ(used_idx(&r, RXQ), 2);
		CHECK_EQ(used_len(&r, RXQ, 0), 4);
		CHECK_EQ(used_len(&r, RXQ, 1), 4);
		CHECK_EQ(r.level, 1);
		CHECK_EQ(gm_read(&r.mem, BUF, b, 4), 0);
		CHECK(!memcmp(b, "abcd", 4));
		CHECK_EQ(gm_read(&r.mem, BUF + 0x100, b, 2), 0);
		CHECK_EQ(gm_read(&r.mem, BUF + 0x200, b + 2, 2), 0);
		CHECK(!memcmp(b, "efgh", 4));
		/* The driver recycles a buffer: rx_space again; a short push
		 * uses part of the buffer. */
		offer(&r, RXQ, 0, false);
		CHECK_EQ(r.rx_spaces, 2);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"ij", 2), 2);
		CHECK_EQ(used_idx(&r, RXQ), 3);
		CHECK_EQ(used_len(&r, RXQ, 2), 2);
		CHECK_EQ(gm_read(&r.mem, BUF, b, 2), 0);
		CHECK(!memcmp(b, "ij", 2));
		/* Nothing was wanted: new buffers do not call the host. */
		offer(&r, RXQ, 1, false);
		CHECK_EQ(r.rx_spaces, 2);
	}
	crig_close(&r);
}

/* Input waits for DRIVER_OK and then for the guest's first output on the
 * port (Linux discards input that comes before it has hooked the port up);
 * a driver reset makes it wait again. */
TEST(virtio_console_input_waits_for_port)
{
	struct crig r;
	char b[4] = { 0 };

	if (crig_open(&r, true) == 0) {
		put_desc(&r, RXQ, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, RXQ, 0, true);
		/* §3.1.1: no buffer is used before DRIVER_OK. */
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"xy", 2), 0);
		CHECK_EQ(used_idx(&r, RXQ), 0);
		wr(&r, VIRTIO_MMIO_STATUS, rd(&r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"xy", 2), 0);
		wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
		CHECK_EQ(r.rx_spaces, 0);
		CHECK_EQ(used_idx(&r, RXQ), 0);
		say_hello(&r);
		CHECK_EQ(r.rx_spaces, 1); /* the held input may come now */
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"xy", 2), 2);
		CHECK_EQ(gm_read(&r.mem, BUF, b, 2), 0);
		CHECK(!memcmp(b, "xy", 2));

		/* After a driver reset the port is new: wait again. */
		rebringup(&r);
		offer(&r, RXQ, 0, false);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"z", 1), 0);
		say_hello(&r);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"z", 1), 1);
		CHECK_EQ(used_idx(&r, RXQ), 1);
	}
	crig_close(&r);
}

TEST(virtio_console_wrong_buffers_need_reset)
{
	struct crig r;

	if (crig_open(&r, false) == 0) {
		say_hello(&r);
		/* A device-writable buffer in the transmit queue. */
		put_desc(&r, TXQ, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, TXQ, 1, BUF + 0x100, 8, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, TXQ, 0, false);
		CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK_EQ(used_idx(&r, TXQ), 1); /* only the hello */
		CHECK_EQ(virtio_console_tx_pending(r.dev), 0);
		/* A broken device takes no input, even with buffers. */
		put_desc(&r, RXQ, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, RXQ, 0, false);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"x", 1), 0);
		CHECK_EQ(used_idx(&r, RXQ), 0);

		/* A reset clears NEEDS_RESET; then a device-readable buffer in
		 * the receive queue. */
		rebringup(&r);
		CHECK(!(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
		say_hello(&r);
		put_desc(&r, RXQ, 0, BUF, 4, 0, 0);
		offer(&r, RXQ, 0, false);
		CHECK_EQ(virtio_console_rx_push(r.dev, (const uint8_t *)"x", 1), 0);
		CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK_EQ(used_idx(&r, RXQ), 0);
	}
	crig_close(&r);
}

/* A driver reset forgets a half-taken chain; output already accepted stays
 * for the host. */
TEST(virtio_console_reset_keeps_accepted_output)
{
	struct crig r;
	uint8_t *got = malloc(VIRTIO_CONSOLE_TX_RING);

	if (got && crig_open(&r, false) == 0) {
		pattern(&r, BUF, VIRTIO_CONSOLE_TX_RING + 100, 5);
		put_desc(&r, TXQ, 0, BUF, VIRTIO_CONSOLE_TX_RING + 100, 0, 0);
		offer(&r, TXQ, 0, false);
		CHECK_EQ(used_idx(&r, TXQ), 0);
		wr(&r, VIRTIO_MMIO_STATUS, 0);
		CHECK_EQ(virtio_console_tx_drain(r.dev, got, VIRTIO_CONSOLE_TX_RING),
			 VIRTIO_CONSOLE_TX_RING);
		CHECK(pattern_ok(got, VIRTIO_CONSOLE_TX_RING, 5));
		CHECK_EQ(virtio_console_tx_pending(r.dev), 0);
		CHECK_EQ(used_idx(&r, TXQ), 0); /* the queue is gone: nothing pushed */
	}
	if (got)
		crig_close(&r);
	free(got);
}

/* Save with output in the ring and a chain half taken; restore into a new
 * device over the same memory: the host gets every byte once, in order, and
 * the chain completes. */
TEST(virtio_console_snapshot_roundtrip)
{
	struct crig r;
	const uint32_t len = VIRTIO_CONSOLE_TX_RING + 5000;
	uint8_t *got = malloc(len);
	struct snap_writer w;
	struct snap_reader sr;
	uint32_t n = 0;

	snap_writer_init(&w);
	if (got && crig_open(&r, false) == 0) {
		pattern(&r, BUF, len, 9);
		put_desc(&r, TXQ, 0, BUF, 1000, VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, TXQ, 1, BUF + 1000, len - 1000, 0, 0);
		offer(&r, TXQ, 0, false);
		/* 100 bytes drained: the ring takes 100 more of the chain. */
		CHECK_EQ(virtio_console_tx_drain(r.dev, got, 100), 100);
		n = 100;
		CHECK_EQ(r.dev->ops->save(r.dev, &w), 0);
		CHECK_EQ(snap_finish(&w), 0);
		r.dev->ops->destroy(r.dev);
		r.dev = NULL;

		if (crig_open_dev(&r, true) == 0) {
			/* The half-taken chain must still be a transmit chain in the
			 * restored memory: made device-writable, it is refused and
			 * the device is left reset. */
			put_desc(&r, TXQ, 1, BUF + 1000, len - 1000, VIRTQ_DESC_F_WRITE, 0);
			CHECK_EQ(snap_reader_init(&sr, w.buf, w.len), 0);
			CHECK(r.dev->ops->restore(r.dev, &sr) != 0);
			CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
			put_desc(&r, TXQ, 1, BUF + 1000, len - 1000, 0, 0);
			CHECK_EQ(snap_reader_init(&sr, w.buf, w.len), 0);
			CHECK_EQ(r.dev->ops->restore(r.dev, &sr), 0);
			CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
			CHECK_EQ(virtio_console_tx_pending(r.dev), VIRTIO_CONSOLE_TX_RING);
			CHECK_EQ(used_idx(&r, TXQ), 0);
			for (int i = 0; i < 100 && n < len; i++) {
				size_t k = virtio_console_tx_drain(r.dev, got + n, 4096);
				if (!k)
					break;
				n += (uint32_t)k;
			}
			CHECK_EQ(n, len);
			CHECK(pattern_ok(got, n, 9));
			CHECK_EQ(used_idx(&r, TXQ), 1);
		}
	}
	snap_writer_free(&w);
	if (got)
		crig_close(&r);
	free(got);
}
