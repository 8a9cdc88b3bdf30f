/* The split-virtqueue walker (virtio/queue.c) against fake guest memory:
 * rings built by hand the way a driver (or a hostile guest) would, the
 * normal paths, and every malformed chain the walker must refuse. */
#include <errno.h>
#include <string.h>

#include "memory.h"
#include "unit.h"
#include "virtio/queue.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Ring areas and buffers in low RAM. */
#define DESC  0x10000ull
#define AVAIL 0x20000ull
#define USED  0x30000ull
#define BUF   0x100000ull
#define ITAB  0x80000ull /* an indirect table */

struct ring {
	struct guest_mem mem;
	struct virtq vq;
	struct virtq_seg segs[64];
	struct virtq_chain c;
	uint16_t size;
	uint16_t avail_idx;
	unsigned violations;
	const char *why;
};

static void on_violation(void *opaque, struct virtq *vq, const char *why)
{
	struct ring *r = opaque;
	r->violations++;
	r->why = why;
}

static void w16(struct ring *r, uint64_t gpa, uint16_t v)
{
	CHECK_EQ(gm_write(&r->mem, gpa, &v, 2), 0);
}

static uint16_t r16(struct ring *r, uint64_t gpa)
{
	uint16_t v = 0;
	CHECK_EQ(gm_read(&r->mem, gpa, &v, 2), 0);
	return v;
}

static uint32_t r32(struct ring *r, uint64_t gpa)
{
	uint32_t v = 0;
	CHECK_EQ(gm_read(&r->mem, gpa, &v, 4), 0);
	return v;
}

/* Start a ring of `size` entries in `ram` bytes of guest memory. */
static int ring_open(struct ring *r, uint64_t ram, uint16_t size, bool event_idx, bool indirect)
{
	memset(r, 0, sizeof(*r));
	if (gm_init(&r->mem, ram) != 0) {
		CHECK(!"gm_init");
		return -1;
	}
	r->size = size;
	r->vq.on_violation = on_violation;
	r->vq.violation_opaque = r;
	virtq_chain_init(&r->c, r->segs, 64);
	int rc = virtq_setup(&r->vq, &r->mem, size, VIRTQ_MAX_SIZE, DESC, AVAIL, USED, event_idx,
			     indirect);
	CHECK_EQ(rc, 0);
	return rc;
}

static void ring_close(struct ring *r)
{
	gm_destroy(&r->mem);
}

static void put_desc_at(struct ring *r, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	CHECK_EQ(gm_write(&r->mem, table + 16ull * i, d, 16), 0);
}

static void put_desc(struct ring *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(r, DESC, i, addr, len, flags, next);
}

/* Publish head in the next avail slot and bump avail.idx. */
static void offer(struct ring *r, uint16_t head)
{
	w16(r, AVAIL + 4 + 2ull * (r->avail_idx % r->size), head);
	r->avail_idx++;
	w16(r, AVAIL + 2, r->avail_idx);
}

/* Offer a one-descriptor chain {addr, len, flags} and expect a violation. */
static void expect_violation(struct ring *r)
{
	unsigned before = r->violations;
	CHECK_EQ(virtq_pop(&r->vq, &r->c), -EPROTO);
	CHECK_EQ(r->violations, before + 1);
	CHECK(r->vq.broken);
	CHECK_EQ(r->c.nr_segs, 0);
	/* Broken: no more guest access until reset. */
	CHECK_EQ(virtq_pop(&r->vq, &r->c), -EIO);
	CHECK_EQ(r->violations, before + 1);
	CHECK_EQ(virtq_push(&r->vq, 0, 0), -EIO);
	CHECK(!virtq_should_notify(&r->vq));
}

static void one_desc_violation(uint64_t ram, uint64_t addr, uint32_t len)
{
	struct ring r;
	if (ring_open(&r, ram, 8, false, false))
		return;
	put_desc(&r, 0, addr, len, 0, 0);
	offer(&r, 0);
	expect_violation(&r);
	ring_close(&r);
}

static void one_desc_ok(uint64_t ram, uint64_t addr, uint32_t len)
{
	struct ring r;
	if (ring_open(&r, ram, 8, false, false))
		return;
	put_desc(&r, 0, addr, len, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.nr_segs, 1);
	CHECK_EQ(r.c.writable_len, len);
	CHECK(r.c.seg[0].ptr == gm_ptr(&r.mem, addr, len));
	CHECK_EQ(r.violations, 0);
	ring_close(&r);
}

TEST(virtq_simple_chain)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	/* head 5: 16 readable -> 100 readable -> 64 writable */
	put_desc(&r, 5, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc(&r, 2, BUF + 0x1000, 100, VIRTQ_DESC_F_NEXT, 7);
	put_desc(&r, 7, BUF + 0x2000, 64, VIRTQ_DESC_F_WRITE, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 0); /* nothing offered yet */
	CHECK_EQ(virtq_pending(&r.vq), 0);
	offer(&r, 5);
	CHECK_EQ(virtq_pending(&r.vq), 1);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.head, 5);
	CHECK_EQ(r.c.nr_segs, 3);
	CHECK_EQ(r.c.nr_readable, 2);
	CHECK_EQ(r.c.readable_len, 116);
	CHECK_EQ(r.c.writable_len, 64);
	CHECK(r.c.seg[0].ptr == gm_ptr(&r.mem, BUF, 16));
	CHECK(r.c.seg[1].ptr == gm_ptr(&r.mem, BUF + 0x1000, 100));
	CHECK(r.c.seg[2].ptr == gm_ptr(&r.mem, BUF + 0x2000, 64));
	CHECK(!r.c.seg[0].writable && !r.c.seg[1].writable && r.c.seg[2].writable);
	CHECK_EQ(r.c.seg[2].gpa, BUF + 0x2000);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 0);

	CHECK_EQ(virtq_push(&r.vq, r.c.head, 64), 0);
	CHECK_EQ(r16(&r, USED + 2), 1);       /* used.idx */
	CHECK_EQ(r32(&r, USED + 4), 5);       /* used.ring[0].id */
	CHECK_EQ(r32(&r, USED + 8), 64);      /* used.ring[0].len */
	CHECK(virtq_should_notify(&r.vq));    /* avail.flags 0 */
	/* More pushes than pops is a device bug, refused. */
	CHECK_EQ(virtq_push(&r.vq, 5, 0), -EINVAL);
	CHECK_EQ(r.violations, 0);
	CHECK(!r.vq.broken);
	ring_close(&r);
}

/* avail.idx and used.idx wrap at 65536; slots wrap at size. */
TEST(virtq_index_wraparound)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 4, false, false))
		return;
	r.vq.last_avail_idx = r.vq.used_idx = 65534;
	r.avail_idx = 65534;
	for (unsigned i = 0; i < 4; i++)
		put_desc(&r, i, BUF + 0x1000 * i, 32, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned round = 0; round < 6; round++) {
		offer(&r, (uint16_t)(round % 4));
		offer(&r, (uint16_t)((round + 1) % 4));
		for (int k = 0; k < 2; k++) {
			CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
			CHECK_EQ(r.c.head, (round + k) % 4);
			CHECK_EQ(virtq_push(&r.vq, r.c.head, 32), 0);
		}
		CHECK_EQ(virtq_pop(&r.vq, &r.c), 0);
	}
	CHECK_EQ(r.vq.used_idx, (uint16_t)(65534 + 12));
	CHECK_EQ(r16(&r, USED + 2), (uint16_t)(65534 + 12));
	CHECK_EQ(r.violations, 0);
	ring_close(&r);
}

/* Exactly size chains outstanding is a full ring, not a violation; one more
 * is a driver lying about avail.idx. */
TEST(virtq_avail_idx_jump)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	for (unsigned i = 0; i < 8; i++) {
		put_desc(&r, i, BUF, 8, 0, 0);
		offer(&r, (uint16_t)i);
	}
	CHECK_EQ(virtq_pending(&r.vq), 8);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	ring_close(&r);

	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, 0, 0);
	w16(&r, AVAIL + 2, 9);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "avail.idx") != NULL);
	ring_close(&r);

	/* A jump backwards is a jump forwards by almost 65536. */
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	w16(&r, AVAIL + 2, 0xffff);
	expect_violation(&r);
	ring_close(&r);
}

TEST(virtq_head_out_of_range)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	/* Descriptor 8 would lie past the table; make it look valid. */
	put_desc(&r, 8, BUF, 8, 0, 0);
	offer(&r, 8);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "head") != NULL);
	ring_close(&r);
}

TEST(virtq_loop)
{
	struct ring r;
	/* 0 -> 1 -> 0 -> ... */
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(&r, 0);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "loop") != NULL);
	ring_close(&r);

	/* A descriptor that points at itself. */
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 3, BUF, 8, VIRTQ_DESC_F_NEXT, 3);
	offer(&r, 3);
	expect_violation(&r);
	ring_close(&r);

	/* A chain using every descriptor once is fine (hop limit = size). */
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	for (unsigned i = 0; i < 8; i++)
		put_desc(&r, i, BUF + 64 * i, 64, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.nr_segs, 8);
	CHECK_EQ(r.violations, 0);
	ring_close(&r);
}

TEST(virtq_next_out_of_range)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 8);
	offer(&r, 0);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "next") != NULL);
	ring_close(&r);

	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 0xffff);
	offer(&r, 0);
	expect_violation(&r);
	ring_close(&r);
}

TEST(virtq_readable_after_writable)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(&r, 1, BUF + 8, 8, 0, 0);
	offer(&r, 0);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "readable") != NULL);
	ring_close(&r);
}

TEST(virtq_segment_capacity)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	for (unsigned i = 0; i < 5; i++)
		put_desc(&r, i, BUF, 8, i < 4 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(&r, 0);
	r.c.cap = 4;
	expect_violation(&r);
	ring_close(&r);

	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	for (unsigned i = 0; i < 4; i++)
		put_desc(&r, i, BUF, 8, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(&r, 0);
	r.c.cap = 4;
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.nr_segs, 4);
	ring_close(&r);
}

TEST(virtq_bad_lengths)
{
	/* Zero-length buffers are refused. */
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 0, 0, 0);
	offer(&r, 0);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "zero-length") != NULL);
	ring_close(&r);
	/* 4 GiB - 1 from low RAM runs past the end of a 16 MiB guest. */
	one_desc_violation(16 * MiB, BUF, 0xffffffffu);
	/* ... and into the MMIO hole of a 3 GiB + 16 MiB guest. */
	one_desc_violation(3 * GiB + 16 * MiB, BUF, 0xffffffffu);
}

TEST(virtq_chain_over_4g)
{
	struct ring r;
	/* Two 2 GiB buffers, both in RAM (MAP_NORESERVE: nothing is touched),
	 * 4 GiB in total: more than a used.len can say. */
	if (ring_open(&r, 3 * GiB, 8, false, false))
		return;
	put_desc(&r, 0, 0, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, 0x40000000, 0x80000000u, 0, 0);
	offer(&r, 0);
	expect_violation(&r);
	CHECK(r.why && strstr(r.why, "4 GiB") != NULL);
	ring_close(&r);

	/* One byte less is fine. */
	if (ring_open(&r, 3 * GiB, 8, false, false))
		return;
	put_desc(&r, 0, 0, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, 0x40000000, 0x7fffffffu, 0, 0);
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.readable_len, 0xffffffffu);
	ring_close(&r);
}

TEST(virtq_address_overflow)
{
	/* addr + len wraps past 2^64. */
	one_desc_violation(16 * MiB, 0xfffffffffffff000ull, 0x2000);
	one_desc_violation(16 * MiB, 0xffffffffffffffffull, 1);
	/* Far beyond RAM, no wrap. */
	one_desc_violation(16 * MiB, 1ull << 52, 16);
}

TEST(virtq_ram_edges)
{
	const uint64_t ram = 16 * MiB;
	/* Ending exactly at the end of RAM is fine; one byte more is not. */
	one_desc_ok(ram, ram - 0x1000, 0x1000);
	one_desc_violation(ram, ram - 0x1000, 0x1001);
	one_desc_violation(ram, ram, 1);
}

TEST(virtq_mmio_hole)
{
	const uint64_t ram = 3 * GiB + 16 * MiB; /* [0, 3G) and [4G, 4G+16M) */
	one_desc_ok(ram, GM_MMIO_HOLE_START - 0x1000, 0x1000);
	/* Crossing from RAM into the hole, inside it, and from it into the
	 * high RAM. */
	one_desc_violation(ram, GM_MMIO_HOLE_START - 0x800, 0x1000);
	one_desc_violation(ram, 0xd0000000ull, 0x200);
	one_desc_violation(ram, GM_4G - 0x10, 0x20);
	one_desc_ok(ram, GM_4G, 0x1000);
	one_desc_ok(ram, GM_4G + 16 * MiB - 8, 8);
	one_desc_violation(ram, GM_4G + 16 * MiB - 8, 9);
}

TEST(virtq_indirect)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, true))
		return;
	put_desc_at(&r, ITAB, 0, BUF, 12, VIRTQ_DESC_F_NEXT, 2);
	put_desc_at(&r, ITAB, 2, BUF + 0x100, 20, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(&r, ITAB, 1, BUF + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	/* The WRITE flag on the descriptor naming the table is ignored. */
	put_desc(&r, 4, ITAB, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 4);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.head, 4);
	CHECK_EQ(r.c.nr_segs, 3);
	CHECK_EQ(r.c.nr_readable, 2);
	CHECK_EQ(r.c.readable_len, 32);
	CHECK_EQ(r.c.writable_len, 30);
	CHECK(r.c.seg[2].ptr == gm_ptr(&r.mem, BUF + 0x200, 30));

	/* §2.7.5.3.2: direct descriptors followed by one indirect one. */
	put_desc(&r, 0, BUF + 0x300, 4, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, ITAB, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.nr_segs, 4);
	CHECK_EQ(r.c.readable_len, 36);
	CHECK_EQ(r.violations, 0);

	/* An indirect table need not be 16-byte aligned, only whole. */
	put_desc_at(&r, ITAB + 0x1008, 0, BUF, 12, VIRTQ_DESC_F_WRITE, 0);
	put_desc(&r, 2, ITAB + 0x1008, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&r, 2);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(r.c.writable_len, 12);
	ring_close(&r);
}

/* One chain whose head 0 names an indirect table at ITAB of tab_len bytes
 * with desc flags dflags; the table's first entry is t0_flags/next. */
static void indirect_violation(bool negotiated, uint32_t tab_len, uint16_t dflags,
			       uint16_t t0_flags, uint16_t t0_next, uint64_t tab_addr,
			       const char *why)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, negotiated))
		return;
	put_desc_at(&r, ITAB, 0, BUF, 8, t0_flags, t0_next);
	put_desc_at(&r, ITAB, 1, BUF, 8, 0, 0);
	put_desc(&r, 0, tab_addr, tab_len, VIRTQ_DESC_F_INDIRECT | dflags, 1);
	put_desc(&r, 1, BUF, 8, 0, 0);
	offer(&r, 0);
	expect_violation(&r);
	if (r.why && !strstr(r.why, why)) {
		fprintf(stderr, "  reason \"%s\", expected \"%s\"\n", r.why, why);
		CHECK(!"wrong reason");
	}
	ring_close(&r);
}

TEST(virtq_indirect_hostile)
{
	/* Not negotiated. */
	indirect_violation(false, 32, 0, 0, 0, ITAB, "INDIRECT_DESC");
	/* INDIRECT together with NEXT. */
	indirect_violation(true, 32, VIRTQ_DESC_F_NEXT, 0, 0, ITAB, "NEXT");
	/* Table lengths: 0, not a multiple of 16, more entries than the queue. */
	indirect_violation(true, 0, 0, 0, 0, ITAB, "multiple of 16");
	indirect_violation(true, 24, 0, 0, 0, ITAB, "multiple of 16");
	indirect_violation(true, 17, 0, 0, 0, ITAB, "multiple of 16");
	indirect_violation(true, 0xfffffff0u, 0, 0, 0, ITAB, "longer than the queue");
	indirect_violation(true, 9 * 16, 0, 0, 0, ITAB, "longer than the queue");
	/* Nesting: a table entry that is itself INDIRECT. */
	indirect_violation(true, 32, 0, VIRTQ_DESC_F_INDIRECT, 0, ITAB, "inside");
	/* Loops and out-of-range next inside the table. */
	indirect_violation(true, 32, 0, VIRTQ_DESC_F_NEXT, 0, ITAB, "loop");
	indirect_violation(true, 32, 0, VIRTQ_DESC_F_NEXT, 2, ITAB, "next");
	/* The table outside RAM, crossing its end, and wrapping 2^64. */
	indirect_violation(true, 32, 0, 0, 0, 16 * MiB - 16, "outside");
	indirect_violation(true, 32, 0, 0, 0, 1ull << 40, "outside");
	indirect_violation(true, 32, 0, 0, 0, 0xfffffffffffffff0ull, "outside");
}

TEST(virtq_setup_refuses)
{
	struct guest_mem mem;
	struct virtq vq;
	memset(&vq, 0, sizeof(vq));
	if (gm_init(&mem, 16 * MiB)) {
		CHECK(!"gm_init");
		return;
	}
	/* Sizes: 0, not a power of two, above the device's maximum. */
	CHECK_EQ(virtq_setup(&vq, &mem, 0, 256, DESC, AVAIL, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 3, 256, DESC, AVAIL, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 100, 256, DESC, AVAIL, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 512, 256, DESC, AVAIL, USED, false, false), -EINVAL);
	CHECK(!vq.enabled);
	/* Misaligned areas (16, 2, 4). */
	CHECK_EQ(virtq_setup(&vq, &mem, 8, 256, DESC + 8, AVAIL, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 8, 256, DESC, AVAIL + 1, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 8, 256, DESC, AVAIL, USED + 2, false, false), -EINVAL);
	/* Areas outside RAM or running past its end. */
	CHECK_EQ(virtq_setup(&vq, &mem, 8, 256, 16 * MiB, AVAIL, USED, false, false), -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 256, 256, DESC, 16 * MiB - 6 - 2 * 255, USED, false, false),
		 -EINVAL);
	CHECK_EQ(virtq_setup(&vq, &mem, 8, 256, DESC, AVAIL, 0xfffffffffffffff0ull, false, false),
		 -EINVAL);
	CHECK(!vq.enabled);
	CHECK_EQ(virtq_pop(&vq, NULL), -EIO);
	/* The largest size, at the very end of RAM. */
	CHECK_EQ(virtq_setup(&vq, &mem, 256, 256, DESC, 16 * MiB - 6 - 2 * 256, USED, false, false),
		 0);
	CHECK(vq.enabled);
	gm_destroy(&mem);
}

TEST(virtq_no_interrupt_flag)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(virtq_push(&r.vq, 0, 8), 0);
	w16(&r, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK(!virtq_should_notify(&r.vq));
	w16(&r, AVAIL, 0);
	CHECK(virtq_should_notify(&r.vq));
	/* Without EVENT_IDX, used_event is not looked at. */
	w16(&r, AVAIL + 4 + 2 * 8, 100);
	CHECK(virtq_should_notify(&r.vq));

	/* Device-side suppression: used.flags. */
	CHECK(!virtq_set_notify(&r.vq, false));
	CHECK_EQ(r16(&r, USED), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_set_notify(&r.vq, true));
	CHECK_EQ(r16(&r, USED), 0);
	offer(&r, 0);
	CHECK(virtq_set_notify(&r.vq, true)); /* a buffer is waiting */
	ring_close(&r);
}

TEST(virtq_event_idx)
{
	struct ring r;
	const uint64_t used_event = AVAIL + 4 + 2 * 8, avail_event = USED + 4 + 8 * 8;
	if (ring_open(&r, 16 * MiB, 8, true, false))
		return;
	for (unsigned i = 0; i < 8; i++)
		put_desc(&r, i, BUF + 0x100 * i, 8, VIRTQ_DESC_F_WRITE, 0);
	/* With EVENT_IDX the NO_INTERRUPT flag is ignored. */
	w16(&r, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* Driver: interrupt me when used.idx goes past 2 (i.e. reaches 3). */
	w16(&r, used_event, 2);
	bool notified[6];
	for (unsigned i = 0; i < 6; i++) {
		offer(&r, (uint16_t)i);
		CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
		/* avail_event follows what the device consumed. */
		CHECK_EQ(r16(&r, avail_event), i + 1);
		CHECK_EQ(virtq_push(&r.vq, r.c.head, 8), 0);
		notified[i] = virtq_should_notify(&r.vq);
	}
	/* The first check always notifies (no previous point); then only the
	 * push that wrote slot used_event (used.idx 2 -> 3). */
	CHECK(notified[0]);
	CHECK(!notified[1]);
	CHECK(notified[2]);
	CHECK(!notified[3] && !notified[4] && !notified[5]);
	/* Batch: two pushes, one check, crossing used_event = 6. */
	w16(&r, used_event, 6);
	for (unsigned i = 6; i < 8; i++) {
		offer(&r, (uint16_t)i);
		CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
		CHECK_EQ(virtq_push(&r.vq, r.c.head, 8), 0);
	}
	CHECK(virtq_should_notify(&r.vq));
	CHECK(!virtq_should_notify(&r.vq)); /* nothing new */

	/* vring_need_event arithmetic, including the 16-bit wrap. */
	CHECK(virtq_need_event(0, 1, 0));
	CHECK(!virtq_need_event(1, 1, 0));
	CHECK(virtq_need_event(5, 10, 0));
	CHECK(!virtq_need_event(10, 10, 0));
	CHECK(virtq_need_event(0xffff, 1, 0xfffe));
	CHECK(!virtq_need_event(2, 1, 0xfffe));

	/* Enabling notifications with EVENT_IDX sets avail_event, and reports
	 * buffers that came in meanwhile. */
	CHECK(!virtq_set_notify(&r.vq, true));
	CHECK_EQ(r16(&r, avail_event), 8);
	offer(&r, 0);
	CHECK(virtq_set_notify(&r.vq, true));
	ring_close(&r);
}

static uint64_t hook_gpa, hook_len;
static unsigned hook_calls;

static void write_hook(void *opaque, uint64_t gpa, uint64_t len)
{
	if (gpa >= BUF) { /* ignore the used-ring writes */
		hook_gpa = gpa;
		hook_len = len;
	}
	hook_calls++;
}

TEST(virtq_push_chain_reports_writes)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	r.mem.on_write = write_hook;
	put_desc(&r, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, BUF + 0x1000, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(&r, 2, BUF + 0x2000, 100, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0);
	CHECK_EQ(virtq_pop(&r.vq, &r.c), 1);
	CHECK_EQ(virtq_push_chain(&r.vq, &r.c, 201), -EINVAL); /* more than it holds */
	hook_calls = 0;
	CHECK_EQ(virtq_push_chain(&r.vq, &r.c, 150), 0);
	CHECK_EQ(hook_gpa, BUF + 0x2000); /* the last data range reported */
	CHECK_EQ(hook_len, 50);
	CHECK_EQ(hook_calls, 2 + 2); /* two data ranges, used elem, used.idx */
	CHECK_EQ(r32(&r, USED + 8), 150);
	ring_close(&r);
}

/* A reset queue forgets the violation and can be set up again. */
TEST(virtq_reset_clears)
{
	struct ring r;
	if (ring_open(&r, 16 * MiB, 8, false, false))
		return;
	put_desc(&r, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(&r, 0);
	expect_violation(&r);
	virtq_reset(&r.vq);
	CHECK(!r.vq.broken && !r.vq.enabled);
	CHECK(r.vq.on_violation == on_violation);
	CHECK_EQ(r.vq.violations, 1);
	CHECK_EQ(virtq_setup(&r.vq, &r.mem, 8, 8, DESC, AVAIL, USED, false, false), 0);
	CHECK_EQ(r.vq.last_avail_idx, 0);
	ring_close(&r);
}
