/* virtio-rng (virtio/rng.c) through the virtio-mmio transport with fake
 * guest memory. */
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "unit.h"
#include "virtio/rng.h"

#define MiB (1ull << 20)
#define QSIZE 8
#define DESC  0x10000ull
#define AVAIL 0x20000ull
#define USED  0x30000ull
#define BUF   0x100000ull

static int irq_set(void *opaque, unsigned gsi, int level)
{
	int *lvl = opaque;
	(void)gsi;
	*lvl = level;
	return 0;
}

struct rrig {
	struct guest_mem mem;
	struct irq_router router;
	int level;
	struct device *dev;
	uint16_t avail_idx;
};

static const struct virtio_mmio_params params = {
	.base = LAYOUT_MMIO_DEVICES, .len = VIRTIO_MMIO_WINDOW, .gsi = 6, .index = 1,
};

static uint32_t rd(struct rrig *r, uint64_t off)
{
	return (uint32_t)r->dev->ops->read(r->dev, 0, off, 4);
}

static void wr(struct rrig *r, uint64_t off, uint32_t v)
{
	r->dev->ops->write(r->dev, 0, off, 4, v);
}

static int rrig_open(struct rrig *r)
{
	memset(r, 0, sizeof(*r));
	if (gm_init(&r->mem, 4 * MiB)) {
		CHECK(!"gm_init");
		return -1;
	}
	r->router = (struct irq_router){ .set_level = irq_set, .opaque = &r->level };
	CHECK_EQ(virtio_rng_create(&r->mem, &r->router, &params, &r->dev), 0);
	if (!r->dev)
		return -1;
	CHECK_EQ(rd(r, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	wr(r, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(r, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(r, VIRTIO_MMIO_STATUS, rd(r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	return 0;
}

static void rrig_close(struct rrig *r)
{
	if (r->dev)
		r->dev->ops->destroy(r->dev);
	gm_destroy(&r->mem);
}

static void put_desc(struct rrig *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	CHECK_EQ(gm_write(&r->mem, DESC + 16ull * i, d, 16), 0);
}

static void offer(struct rrig *r, uint16_t head)
{
	uint16_t idx = r->avail_idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL + 4 + 2ull * (idx % QSIZE), &head, 2), 0);
	idx++;
	r->avail_idx = idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL + 2, &idx, 2), 0);
	wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(struct rrig *r)
{
	uint16_t v = 0;
	CHECK_EQ(gm_read(&r->mem, USED + 2, &v, 2), 0);
	return v;
}

static uint32_t used_len(struct rrig *r, uint16_t slot)
{
	uint32_t v = 0;
	CHECK_EQ(gm_read(&r->mem, USED + 4 + 8ull * (slot % QSIZE) + 4, &v, 4), 0);
	return v;
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return false;
	return true;
}

TEST(virtio_rng_bytes_arrive)
{
	struct rrig r;
	uint8_t a[300], b[300];

	if (rrig_open(&r) == 0) {
		memset(a, 0, sizeof(a));
		CHECK_EQ(gm_write(&r.mem, BUF, a, sizeof(a)), 0);
		CHECK_EQ(gm_write(&r.mem, BUF + 0x1000, a, sizeof(a)), 0);
		/* Two writable buffers, 100 + 200 bytes. */
		put_desc(&r, 0, BUF, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, 1, BUF + 100, 200, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, 0);
		CHECK_EQ(used_idx(&r), 1);
		CHECK_EQ(used_len(&r, 0), 300);
		CHECK_EQ(r.level, 1);
		CHECK_EQ(gm_read(&r.mem, BUF, a, sizeof(a)), 0);
		/* 100 zero bytes from getrandom: 2^-800. */
		CHECK(!all_byte(a, 100, 0));
		CHECK(!all_byte(a + 100, 200, 0));

		put_desc(&r, 2, BUF + 0x1000, 300, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, 2);
		CHECK_EQ(used_idx(&r), 2);
		CHECK_EQ(used_len(&r, 1), 300);
		CHECK_EQ(gm_read(&r.mem, BUF + 0x1000, b, sizeof(b)), 0);
		CHECK(memcmp(a, b, sizeof(a)) != 0);
	}
	rrig_close(&r);
}

TEST(virtio_rng_request_capped)
{
	struct rrig r;
	uint32_t big = 2 * VIRTIO_RNG_MAX_REQUEST;
	uint8_t tail[64];

	if (rrig_open(&r) == 0) {
		uint8_t *p = gm_ptr(&r.mem, BUF, big);
		CHECK(p != NULL);
		if (p) {
			memset(p, 0xcc, big);
			put_desc(&r, 0, BUF, big, VIRTQ_DESC_F_WRITE, 0);
			offer(&r, 0);
			CHECK_EQ(used_idx(&r), 1);
			CHECK_EQ(used_len(&r, 0), VIRTIO_RNG_MAX_REQUEST);
			CHECK(!all_byte(p + VIRTIO_RNG_MAX_REQUEST - 64, 64, 0xcc));
			memcpy(tail, p + VIRTIO_RNG_MAX_REQUEST, sizeof(tail));
			CHECK(all_byte(tail, sizeof(tail), 0xcc));
		}
	}
	rrig_close(&r);
}

TEST(virtio_rng_readable_buffer_needs_reset)
{
	struct rrig r;

	if (rrig_open(&r) == 0) {
		put_desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, 1, BUF + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, 0);
		CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK_EQ(used_idx(&r), 0);
		/* A reset clears NEEDS_RESET. */
		wr(&r, VIRTIO_MMIO_STATUS, 0);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	}
	rrig_close(&r);
}
