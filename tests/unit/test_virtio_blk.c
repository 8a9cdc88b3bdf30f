/* virtio-blk (virtio/blk.c) driven through the virtio-mmio transport with
 * fake guest memory, over a real raw image in a temp file. Completions come
 * from the back end's worker threads, so tests poll the used ring. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "snapshot.h"
#include "unit.h"
#include "virtio/blk.h"

#define MiB (1ull << 20)
#define QSIZE 16
#define DESC  0x10000ull
#define AVAIL 0x20000ull
#define USED  0x30000ull
#define HDR(h)    (0x100000ull + (h) * 0x1000ull)
#define STATUS(h) (HDR(h) + 0x100)
#define DATA(h)   (0x400000ull + (h) * 0x10000ull)
#define IMG_SECTORS 64

/* The line's level, set from worker threads (completions). */
static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)gsi;
	__atomic_store_n((int *)opaque, level, __ATOMIC_SEQ_CST);
	return 0;
}

struct brig {
	struct guest_mem mem;
	struct irq_router router;
	int level;
	struct block_registry reg;
	struct block_backend *be; /* the device's */
	struct device *dev;
	char path[64];
	int fd;
	uint16_t avail_idx;
};

static const struct virtio_mmio_params params = {
	.base = LAYOUT_MMIO_DEVICES, .len = VIRTIO_MMIO_WINDOW, .gsi = 5, .index = 0,
};

static uint32_t rd(struct brig *r, uint64_t off)
{
	return (uint32_t)r->dev->ops->read(r->dev, 0, off, 4);
}

static void wr(struct brig *r, uint64_t off, uint32_t v)
{
	r->dev->ops->write(r->dev, 0, off, 4, v);
}

static int brig_start(struct brig *r);

/* Image of IMG_SECTORS sectors, byte i = i * 7; a device in DRIVER_OK with
 * every offered feature accepted and one queue of QSIZE; `workers` back end
 * threads (0: the default). */
static int brig_open_workers(struct brig *r, bool readonly, unsigned workers)
{
	struct block_spec spec = { .cache = BLOCK_CACHE_WRITEBACK, .readonly = readonly,
				   .id = "isola-test-disk", .workers = workers };
	struct block_backend *b;
	uint8_t img[IMG_SECTORS * 512];
	char err[256];

	memset(r, 0, sizeof(*r));
	strcpy(r->path, "/tmp/isola-vblk-XXXXXX");
	r->fd = mkstemp(r->path);
	CHECK(r->fd >= 0);
	if (r->fd < 0)
		return -1;
	for (unsigned i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7);
	CHECK_EQ(pwrite(r->fd, img, sizeof(img), 0), sizeof(img));
	spec.path = r->path;
	if (gm_init(&r->mem, 16 * MiB)) {
		CHECK(!"gm_init");
		return -1;
	}
	r->router = (struct irq_router){ .set_level = irq_set, .opaque = &r->level };
	if (block_open(&spec, &r->reg, &b, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		CHECK(!"block_open");
		return -1;
	}
	r->be = b;
	CHECK_EQ(virtio_blk_create(&r->mem, &r->router, &params, b, &r->dev), 0);
	if (!r->dev)
		return -1;
	return brig_start(r);
}

static int brig_open(struct brig *r, bool readonly)
{
	return brig_open_workers(r, readonly, 0);
}

/* The driver's bring-up (§3.1.1). */
static int brig_start(struct brig *r)
{
	uint32_t lo, hi;

	wr(r, VIRTIO_MMIO_STATUS, 0);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, lo & ~(uint32_t)VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, hi);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	CHECK(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(r, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(r, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(rd(r, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(r, VIRTIO_MMIO_STATUS, rd(r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	return 0;
}

static void brig_close(struct brig *r)
{
	if (r->dev)
		r->dev->ops->destroy(r->dev);
	gm_destroy(&r->mem);
	if (r->fd >= 0) {
		close(r->fd);
		unlink(r->path);
	}
}

static void put_desc(struct brig *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	CHECK_EQ(gm_write(&r->mem, DESC + 16ull * i, d, 16), 0);
}

static void offer(struct brig *r, uint16_t head)
{
	uint16_t idx = r->avail_idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL + 4 + 2ull * (idx % QSIZE), &head, 2), 0);
	idx++;
	r->avail_idx = idx;
	/* As a driver does (§2.7.13): release, since worker threads read the
	 * ring while this thread (the "guest") writes it. */
	__atomic_store_n((uint16_t *)gm_ptr(&r->mem, AVAIL + 2, 2), idx, __ATOMIC_RELEASE);
	wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* Acquire, so that the status and data written before used.idx are seen. */
static uint16_t used_idx(struct brig *r)
{
	return __atomic_load_n((uint16_t *)gm_ptr(&r->mem, USED + 2, 2), __ATOMIC_ACQUIRE);
}

/* Poll until used.idx reaches want (5 s at most). */
static bool wait_used(struct brig *r, uint16_t want)
{
	for (int i = 0; i < 5000; i++) {
		if ((uint16_t)(used_idx(r) - want) < 0x8000)
			return true;
		usleep(1000);
	}
	return false;
}

static uint32_t rd_status(struct brig *r)
{
	return rd(r, VIRTIO_MMIO_STATUS);
}

static uint32_t used_len(struct brig *r, uint16_t slot)
{
	uint32_t v = 0;
	CHECK_EQ(gm_read(&r->mem, USED + 4 + 8ull * (slot % QSIZE) + 4, &v, 4), 0);
	return v;
}

/* Chain at descriptors head..head+2: header, data (if len), status. */
static void make_req(struct brig *r, uint16_t head, uint32_t type, uint64_t sector,
		     uint32_t len, bool data_writable)
{
	uint8_t hdr[16] = { 0 };
	uint8_t st = 0xee;

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	CHECK_EQ(gm_write(&r->mem, HDR(head), hdr, 16), 0);
	CHECK_EQ(gm_write(&r->mem, STATUS(head), &st, 1), 0);
	put_desc(r, head, HDR(head), 16, VIRTQ_DESC_F_NEXT, head + 1);
	if (len) {
		put_desc(r, head + 1, DATA(head), len,
			 VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), head + 2);
		put_desc(r, head + 2, STATUS(head), 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		put_desc(r, head + 1, STATUS(head), 1, VIRTQ_DESC_F_WRITE, 0);
	}
}

static uint8_t status_of(struct brig *r, uint16_t head)
{
	uint8_t st = 0xff;
	CHECK_EQ(gm_read(&r->mem, STATUS(head), &st, 1), 0);
	return st;
}

/* One request, waited for; its status. */
static uint8_t run_req(struct brig *r, uint32_t type, uint64_t sector, uint32_t len, bool dw)
{
	uint16_t want = (uint16_t)(used_idx(r) + 1);
	make_req(r, 0, type, sector, len, dw);
	offer(r, 0);
	CHECK(wait_used(r, want));
	return status_of(r, 0);
}

static bool file_is(struct brig *r, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t buf[IMG_SECTORS * 512];
	if (len > sizeof(buf) || pread(r->fd, buf, len, (off_t)off) != (ssize_t)len)
		return false;
	return memcmp(buf, want, len) == 0;
}

static bool file_original(struct brig *r)
{
	uint8_t img[IMG_SECTORS * 512];
	for (unsigned i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7);
	return file_is(r, 0, img, sizeof(img));
}

TEST(virtio_blk_config)
{
	struct brig r;
	if (brig_open(&r, false) == 0) {
		uint64_t cap = r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_CONFIG, 8);
		CHECK_EQ(cap, IMG_SECTORS);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX), VIRTIO_BLK_SEG_MAX);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_BLK_SIZE), 512);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_MAX_WZ_SEG),
			 VIRTIO_BLK_MAX_DWZ_SEG);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_MAX_DISCARD_SEG),
			 VIRTIO_BLK_MAX_DWZ_SEG);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS),
			 VIRTIO_BLK_MAX_ZERO_SECTORS);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_MAX_WZ_SECTORS),
			 VIRTIO_BLK_MAX_ZERO_SECTORS);
		CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_WZ_MAY_UNMAP,
					  1), 1);
		wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
		uint32_t f = rd(&r, VIRTIO_MMIO_DEVICE_FEATURES);
		CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
		CHECK(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
		CHECK(!(f & VIRTIO_BIT(VIRTIO_BLK_F_RO)));
	}
	brig_close(&r);
}

TEST(virtio_blk_out_in_roundtrip)
{
	struct brig r;
	uint8_t out[1024], in[1024];

	if (brig_open(&r, false) == 0) {
		for (unsigned i = 0; i < sizeof(out); i++)
			out[i] = (uint8_t)(0x5a ^ i);
		CHECK_EQ(gm_write(&r.mem, DATA(0), out, sizeof(out)), 0);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, 3, sizeof(out), false), VIRTIO_BLK_S_OK);
		CHECK(file_is(&r, 3 * 512, out, sizeof(out)));
		CHECK_EQ(used_len(&r, 0), 1);
		/* The completion (a worker thread) raises the interrupt just
		 * after it publishes used.idx. */
		for (int i = 0; i < 5000 && !__atomic_load_n(&r.level, __ATOMIC_SEQ_CST); i++)
			usleep(1000);
		CHECK_EQ(__atomic_load_n(&r.level, __ATOMIC_SEQ_CST), 1);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
		wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
		CHECK_EQ(__atomic_load_n(&r.level, __ATOMIC_SEQ_CST), 0);

		CHECK_EQ(gm_write(&r.mem, DATA(0), "\0\0\0\0", 4), 0);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_IN, 3, sizeof(in), true), VIRTIO_BLK_S_OK);
		CHECK_EQ(gm_read(&r.mem, DATA(0), in, sizeof(in)), 0);
		CHECK(memcmp(in, out, sizeof(in)) == 0);
		CHECK_EQ(used_len(&r, 1), sizeof(in) + 1);

		/* Header, data and status split differently: all in one
		 * writable-after-readable pair of buffers, the data in two. */
		uint8_t hdr[16] = { 0 }; /* type IN, sector 0 */
		CHECK_EQ(gm_write(&r.mem, HDR(3), hdr, 16), 0);
		put_desc(&r, 3, HDR(3), 16, VIRTQ_DESC_F_NEXT, 4);
		put_desc(&r, 4, DATA(3), 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
		put_desc(&r, 5, DATA(3) + 0x1000, 413, VIRTQ_DESC_F_WRITE, 0);
		offer(&r, 3);
		CHECK(wait_used(&r, 3));
		uint8_t st = 0xff;
		CHECK_EQ(gm_read(&r.mem, DATA(3) + 0x1000 + 412, &st, 1), 0);
		CHECK_EQ(st, VIRTIO_BLK_S_OK);
		CHECK_EQ(gm_read(&r.mem, DATA(3), in, 100), 0);
		CHECK_EQ(gm_read(&r.mem, DATA(3) + 0x1000, in + 100, 412), 0);
		uint8_t want[512];
		for (unsigned i = 0; i < 512; i++)
			want[i] = (uint8_t)(i * 7);
		CHECK(memcmp(in, want, 512) == 0);
	}
	brig_close(&r);
}

TEST(virtio_blk_several_in_flight)
{
	struct brig r;
	uint8_t buf[512];

	if (brig_open(&r, false) == 0) {
		/* Five writes offered before any completes. */
		for (uint16_t k = 0; k < 5; k++) {
			memset(buf, 0x10 + k, sizeof(buf));
			CHECK_EQ(gm_write(&r.mem, DATA(3 * k), buf, sizeof(buf)), 0);
			make_req(&r, 3 * k, VIRTIO_BLK_T_OUT, 10 + k, sizeof(buf), false);
		}
		for (uint16_t k = 0; k < 5; k++)
			offer(&r, 3 * k);
		CHECK(wait_used(&r, 5));
		for (uint16_t k = 0; k < 5; k++) {
			memset(buf, 0x10 + k, sizeof(buf));
			CHECK_EQ(status_of(&r, 3 * k), VIRTIO_BLK_S_OK);
			CHECK(file_is(&r, (10 + k) * 512ull, buf, sizeof(buf)));
		}
	}
	brig_close(&r);
}

TEST(virtio_blk_flush_get_id_zeroes)
{
	struct brig r;
	uint8_t id[20], zero[1024] = { 0 };

	if (brig_open(&r, false) == 0) {
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_GET_ID, 0, 20, true), VIRTIO_BLK_S_OK);
		CHECK_EQ(gm_read(&r.mem, DATA(0), id, 20), 0);
		CHECK(memcmp(id, "isola-test-disk\0\0\0\0\0", 20) == 0);

		/* WRITE_ZEROES of sectors 4..5: {sector, num, flags}. */
		uint8_t seg[16] = { 0 };
		uint64_t sector = 4;
		uint32_t num = 2;
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &num, 4);
		CHECK_EQ(gm_write(&r.mem, DATA(0), seg, 16), 0);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), VIRTIO_BLK_S_OK);
		CHECK(file_is(&r, 4 * 512, zero, 1024));
		/* DISCARD of the same range: accepted. */
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_OK);
		/* Past the end: IOERR. */
		sector = IMG_SECTORS - 1;
		memcpy(seg, &sector, 8);
		CHECK_EQ(gm_write(&r.mem, DATA(0), seg, 16), 0);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), VIRTIO_BLK_S_IOERR);
		/* Discard with the unmap flag: UNSUPP (§5.2.6.2). */
		seg[12] = 1;
		CHECK_EQ(gm_write(&r.mem, DATA(0), seg, 16), 0);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_UNSUPP);
	}
	brig_close(&r);
}

TEST(virtio_blk_bad_requests)
{
	struct brig r;

	if (brig_open(&r, false) == 0) {
		CHECK_EQ(gm_write(&r.mem, DATA(0), "XXXXXXXX", 8), 0);
		/* Past the end, straddling the end, sizes not a multiple of 512. */
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS, 512, false), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, 1024, false),
			 VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, ~0ull, 512, false), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, 0, 100, false), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, 1024, true),
			 VIRTIO_BLK_S_IOERR);
		/* Data in the wrong direction. */
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_IN, 0, 512, false), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, 0, 512, true), VIRTIO_BLK_S_IOERR);
		/* Unknown type. */
		CHECK_EQ(run_req(&r, 99, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
		CHECK(file_original(&r));
		CHECK(!(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));

		/* Header too short but a status byte: IOERR. */
		put_desc(&r, 0, HDR(0), 8, VIRTQ_DESC_F_NEXT, 1);
		put_desc(&r, 1, STATUS(0), 1, VIRTQ_DESC_F_WRITE, 0);
		uint16_t want = (uint16_t)(used_idx(&r) + 1);
		offer(&r, 0);
		CHECK(wait_used(&r, want));
		CHECK_EQ(status_of(&r, 0), VIRTIO_BLK_S_IOERR);
		CHECK(!(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));

		/* No writable status byte at all: the device needs a reset. */
		make_req(&r, 0, VIRTIO_BLK_T_OUT, 0, 512, false);
		put_desc(&r, 1, DATA(0), 512, 0, 0);
		offer(&r, 0);
		CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK(file_original(&r));
	}
	brig_close(&r);
}

TEST(virtio_blk_readonly)
{
	struct brig r;

	if (brig_open(&r, true) == 0) {
		wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
		CHECK(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_OUT, 0, 512, false), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
		CHECK(file_original(&r));
	}
	brig_close(&r);
}

/* A reset with requests in flight waits for them and leaves the device
 * usable. */
TEST(virtio_blk_reset_in_flight)
{
	struct brig r;

	if (brig_open(&r, false) == 0) {
		for (uint16_t k = 0; k < 5; k++)
			make_req(&r, 3 * k, VIRTIO_BLK_T_IN, k, 4096, true);
		for (uint16_t k = 0; k < 5; k++)
			offer(&r, 3 * k);
		wr(&r, VIRTIO_MMIO_STATUS, 0);
		CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
		brig_close(&r);
		if (brig_open(&r, false) == 0)
			CHECK_EQ(run_req(&r, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
	}
	brig_close(&r);
}

/* ---- multi-segment DISCARD / WRITE_ZEROES (§5.2.6.2) ---------------------- */

struct dwz_seg {
	uint64_t sector;
	uint32_t num, flags;
};

/* A DISCARD or WRITE_ZEROES of n segments (their 16-byte records in DATA(0)),
 * waited for; its status. */
static uint8_t run_dwz(struct brig *r, uint32_t type, const struct dwz_seg *seg, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t rec[16];
		memcpy(rec, &seg[i].sector, 8);
		memcpy(rec + 8, &seg[i].num, 4);
		memcpy(rec + 12, &seg[i].flags, 4);
		CHECK_EQ(gm_write(&r->mem, DATA(0) + 16ull * i, rec, 16), 0);
	}
	return run_req(r, type, 0, 16 * n, false);
}

static blkcnt_t blocks_of(struct brig *r)
{
	struct stat st;
	return fstat(r->fd, &st) ? -1 : st.st_blocks;
}

/* Several segments in one request are all applied; zeros read back. */
TEST(virtio_blk_write_zeroes_multi_segment)
{
	struct brig r;
	uint8_t img[IMG_SECTORS * 512];

	if (brig_open(&r, false) == 0) {
		const struct dwz_seg seg[3] = { { 1, 2, 0 }, { 10, 1, 0 },
						{ IMG_SECTORS - 3, 3, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP } };
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, seg, 3), VIRTIO_BLK_S_OK);
		CHECK_EQ(used_len(&r, 0), 1);
		for (unsigned i = 0; i < sizeof(img); i++)
			img[i] = (uint8_t)(i * 7);
		memset(img + 512, 0, 1024);
		memset(img + 10 * 512, 0, 512);
		memset(img + (IMG_SECTORS - 3) * 512, 0, 3 * 512);
		CHECK(file_is(&r, 0, img, sizeof(img)));
		/* The most segments the device advertises, each one sector. */
		struct dwz_seg many[VIRTIO_BLK_MAX_DWZ_SEG];
		for (unsigned i = 0; i < VIRTIO_BLK_MAX_DWZ_SEG; i++)
			many[i] = (struct dwz_seg){ 2 * i, 1, 0 };
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, many, VIRTIO_BLK_MAX_DWZ_SEG),
			 VIRTIO_BLK_S_OK);
		for (unsigned i = 0; i < VIRTIO_BLK_MAX_DWZ_SEG; i++)
			memset(img + 2 * i * 512, 0, 512);
		CHECK(file_is(&r, 0, img, sizeof(img)));
	}
	brig_close(&r);
}

/* One bad segment fails the whole request before any segment is applied:
 * out of range, too long, empty or too many → IOERR; an unknown flag (or
 * unmap on a discard) anywhere → UNSUPP. */
TEST(virtio_blk_dwz_one_bad_segment_applies_none)
{
	struct brig r;

	if (brig_open(&r, false) == 0) {
		const uint32_t unmap = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		const struct dwz_seg range[2] = { { 0, 4, 0 }, { IMG_SECTORS - 1, 2, 0 } };
		const struct dwz_seg huge[2] = { { 0, 4, 0 }, { 0, VIRTIO_BLK_MAX_ZERO_SECTORS + 1, 0 } };
		const struct dwz_seg empty[2] = { { 0, 4, 0 }, { 8, 0, 0 } };
		const struct dwz_seg wrap[2] = { { 0, 4, 0 }, { ~0ull - 1, 4, 0 } };
		const struct dwz_seg flag[3] = { { 0, 4, 0 }, { 8, 1, 0 }, { 9, 1, 4 } };
		const struct dwz_seg both[2] = { { IMG_SECTORS, 1, 0 }, { 0, 1, 2 } };
		const struct dwz_seg dunmap[2] = { { 0, 4, 0 }, { 8, 1, unmap } };
		struct dwz_seg many[VIRTIO_BLK_MAX_DWZ_SEG + 1];
		for (unsigned i = 0; i <= VIRTIO_BLK_MAX_DWZ_SEG; i++)
			many[i] = (struct dwz_seg){ i, 1, 0 };

		for (int t = 0; t < 2; t++) {
			uint32_t type = t ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES;
			CHECK_EQ(run_dwz(&r, type, range, 2), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(run_dwz(&r, type, huge, 2), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(run_dwz(&r, type, empty, 2), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(run_dwz(&r, type, wrap, 2), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(run_dwz(&r, type, many, VIRTIO_BLK_MAX_DWZ_SEG + 1),
				 VIRTIO_BLK_S_IOERR);
			CHECK_EQ(run_dwz(&r, type, flag, 3), VIRTIO_BLK_S_UNSUPP);
			/* UNSUPP wins over IOERR, whatever the order. */
			CHECK_EQ(run_dwz(&r, type, both, 2), VIRTIO_BLK_S_UNSUPP);
			CHECK(file_original(&r));
		}
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_DISCARD, dunmap, 2), VIRTIO_BLK_S_UNSUPP);
		CHECK(file_original(&r));
		/* Data that is not whole segments. */
		CHECK_EQ(run_req(&r, VIRTIO_BLK_T_WRITE_ZEROES, 0, 24, false), VIRTIO_BLK_S_IOERR);
		CHECK(file_original(&r));
		CHECK(!(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	}
	brig_close(&r);
}

/* A read-only disk refuses DISCARD / WRITE_ZEROES (it does not offer them). */
TEST(virtio_blk_dwz_readonly)
{
	struct brig r;

	if (brig_open(&r, true) == 0) {
		const struct dwz_seg seg[1] = { { 0, 1, 0 } };
		wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
		CHECK(!(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES) & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, seg, 1), VIRTIO_BLK_S_UNSUPP);
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_UNSUPP);
		CHECK(file_original(&r));
	}
	brig_close(&r);
}

/* Sparse images stay sparse: DISCARD and WRITE_ZEROES with unmap punch holes
 * (st_blocks drops); WRITE_ZEROES without unmap leaves the blocks allocated
 * (FALLOC_FL_ZERO_RANGE, or written zeros) and reads back zeros. */
TEST(virtio_blk_dwz_sparse)
{
	struct brig r;
	uint8_t zero[8192] = { 0 };

	if (brig_open(&r, false) == 0) {
		CHECK_EQ(fsync(r.fd), 0);
		blkcnt_t full = blocks_of(&r);
		/* Two 4 KiB-aligned segments of 4 KiB: 16 sectors. */
		const struct dwz_seg disc[2] = { { 8, 8, 0 }, { 32, 8, 0 } };
		uint8_t st = run_dwz(&r, VIRTIO_BLK_T_DISCARD, disc, 2);
		if (st == VIRTIO_BLK_S_UNSUPP) {
			fprintf(stderr, "  note: the test filesystem cannot punch holes\n");
		} else {
			CHECK_EQ(st, VIRTIO_BLK_S_OK);
			CHECK(blocks_of(&r) <= full - 16);
		}
		full = blocks_of(&r);
		const struct dwz_seg keep[1] = { { 16, 8, 0 } };
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, keep, 1), VIRTIO_BLK_S_OK);
		CHECK(file_is(&r, 16 * 512, zero, 4096));
		CHECK(blocks_of(&r) >= full);
		const struct dwz_seg unmap[2] = { { 16, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
						  { 48, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP } };
		CHECK_EQ(run_dwz(&r, VIRTIO_BLK_T_WRITE_ZEROES, unmap, 2), VIRTIO_BLK_S_OK);
		CHECK(file_is(&r, 16 * 512, zero, 4096));
		CHECK(file_is(&r, 48 * 512, zero, 8192));
		if (st == VIRTIO_BLK_S_OK)
			CHECK(blocks_of(&r) <= full - 24);
		struct stat sb;
		CHECK(fstat(r.fd, &sb) == 0 && sb.st_size == IMG_SECTORS * 512);
	}
	brig_close(&r);
}

/* ---- snapshots with requests in flight ---------------------------------- */

/* A request submitted straight to the back end whose completion blocks the
 * (only) worker until released: the device's requests queue up behind it. */
struct plug {
	struct block_req req;
	struct iovec iov;
	uint8_t buf[512];
	pthread_mutex_t m;
	pthread_cond_t c;
	bool released;
};

static void plug_done(void *opaque, int status)
{
	struct plug *p = opaque;
	(void)status;
	pthread_mutex_lock(&p->m);
	while (!p->released)
		pthread_cond_wait(&p->c, &p->m);
	pthread_mutex_unlock(&p->m);
}

static void plug_init(struct plug *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->c, NULL);
	p->iov = (struct iovec){ p->buf, sizeof(p->buf) };
	p->req = (struct block_req){ .op = BLOCK_OP_READ, .iov = &p->iov, .iovcnt = 1,
				     .done = plug_done, .opaque = p };
}

static void plug_release(struct plug *p)
{
	pthread_mutex_lock(&p->m);
	p->released = true;
	pthread_cond_broadcast(&p->c);
	pthread_mutex_unlock(&p->m);
}

struct saver {
	struct device *dev;
	struct snap_writer w;
	int rc;
};

static void *save_thread(void *opaque)
{
	struct saver *s = opaque;
	s->rc = s->dev->ops->save(s->dev, &s->w);
	if (s->rc == 0)
		s->rc = snap_finish(&s->w);
	return NULL;
}

/* Make head's chain available without notifying the device. */
static void offer_quiet(struct brig *r, uint16_t head)
{
	uint16_t idx = r->avail_idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL + 4 + 2ull * (idx % QSIZE), &head, 2), 0);
	r->avail_idx = ++idx;
	__atomic_store_n((uint16_t *)gm_ptr(&r->mem, AVAIL + 2, 2), idx, __ATOMIC_RELEASE);
}

static uint32_t used_id(struct brig *r, uint16_t slot)
{
	uint32_t v = 0xffffffff;
	CHECK_EQ(gm_read(&r->mem, USED + 4 + 8ull * (slot % QSIZE), &v, 4), 0);
	return v;
}

/* Chain at descriptor `head` alone: an indirect table at TABLE(j) with the
 * header, 512 bytes of data and the status of an OUT to `sector`. */
#define TABLE(j) (0x200000ull + (j) * 0x1000ull)
static void make_indirect_out(struct brig *r, uint16_t head, unsigned j, uint64_t sector)
{
	uint8_t hdr[16] = { 0 }, e[3][16], st = 0xee;
	uint32_t type = VIRTIO_BLK_T_OUT;
	uint64_t addr[3] = { HDR(head), DATA(head), STATUS(head) };
	uint32_t len[3] = { 16, 512, 1 };
	uint16_t flags[3] = { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE };

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	CHECK_EQ(gm_write(&r->mem, HDR(head), hdr, 16), 0);
	CHECK_EQ(gm_write(&r->mem, STATUS(head), &st, 1), 0);
	for (uint16_t i = 0; i < 3; i++) {
		uint16_t next = (uint16_t)(i + 1);
		memcpy(e[i], &addr[i], 8);
		memcpy(e[i] + 8, &len[i], 4);
		memcpy(e[i] + 12, &flags[i], 2);
		memcpy(e[i] + 14, &next, 2);
	}
	CHECK_EQ(gm_write(&r->mem, TABLE(j), e, sizeof(e)), 0);
	put_desc(r, head, TABLE(j), sizeof(e), VIRTQ_DESC_F_INDIRECT, 0);
}

/* A snapshot taken while four writes sit in the back end (behind a plug)
 * answers them first: the saved used ring has all four. Restored into a
 * fresh device over a copy of the guest's RAM, the device takes the two
 * chains that were made available but not taken before the snapshot (their
 * notify never came: the driver has not written it yet) and nothing else:
 * six used elements, each head once, every write in the image. */
TEST(virtio_blk_snapshot_drains_in_flight)
{
	struct brig a, b;
	struct plug plug;
	struct saver sv;
	pthread_t t;
	uint8_t buf[512];
	char err[256];

	plug_init(&plug);
	memset(&b, 0, sizeof(b));
	b.fd = -1;
	if (brig_open_workers(&a, false, 1) != 0)
		goto out;
	CHECK_EQ(block_submit(a.be, &plug.req), 0);
	/* Four writes of sector 10 + k (heads 0, 3, 6, 9), taken at once. */
	for (uint16_t k = 0; k < 4; k++) {
		memset(buf, 0x40 + k, sizeof(buf));
		CHECK_EQ(gm_write(&a.mem, DATA(3 * k), buf, sizeof(buf)), 0);
		make_req(&a, 3 * k, VIRTIO_BLK_T_OUT, 10 + k, sizeof(buf), false);
		offer_quiet(&a, 3 * k);
	}
	wr(&a, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	/* Two more (heads 12, 13: indirect) made available, not notified. */
	for (uint16_t j = 0; j < 2; j++) {
		memset(buf, 0x60 + j, sizeof(buf));
		CHECK_EQ(gm_write(&a.mem, DATA(12 + j), buf, sizeof(buf)), 0);
		make_indirect_out(&a, 12 + j, j, 20 + j);
		offer_quiet(&a, 12 + j);
	}
	CHECK_EQ(used_idx(&a), 0); /* all behind the plug */

	memset(&sv, 0, sizeof(sv));
	sv.dev = a.dev;
	snap_writer_init(&sv.w);
	CHECK_EQ(pthread_create(&t, NULL, save_thread, &sv), 0);
	/* Release the plug once the save holds the device lock (nothing else
	 * can: the worker is in the plug): the four writes then complete while
	 * the snapshot waits for them. */
	struct virtio_dev *vdev = virtio_mmio_vdev(a.dev);
	for (int i = 0; i < 5000; i++) {
		if (pthread_mutex_trylock(&vdev->lock) == EBUSY)
			break;
		pthread_mutex_unlock(&vdev->lock);
		usleep(1000);
	}
	plug_release(&plug);
	pthread_join(t, NULL);
	CHECK_EQ(sv.rc, 0);
	/* Answered into the used ring before the snapshot was written; the
	 * two quiet chains not taken. */
	CHECK_EQ(used_idx(&a), 4);
	for (uint16_t k = 0; k < 4; k++) {
		memset(buf, 0x40 + k, sizeof(buf));
		CHECK_EQ(status_of(&a, 3 * k), VIRTIO_BLK_S_OK);
		CHECK(file_is(&a, (10 + k) * 512ull, buf, sizeof(buf)));
	}
	CHECK_EQ(status_of(&a, 12), 0xee);

	/* The snapshot of RAM goes with the device's: copy it into a new
	 * guest, and give the image to a new device (the old one lets go of
	 * its lock first). */
	a.dev->ops->destroy(a.dev);
	a.dev = NULL;
	CHECK_EQ(gm_init(&b.mem, 16 * MiB), 0);
	memcpy(gm_ptr(&b.mem, 0, 16 * MiB), gm_ptr(&a.mem, 0, 16 * MiB), 16 * MiB);
	b.router = (struct irq_router){ .set_level = irq_set, .opaque = &b.level };
	struct block_spec spec = { .path = a.path, .cache = BLOCK_CACHE_WRITEBACK,
				   .id = "isola-test-disk" };
	struct block_backend *be;
	CHECK_EQ(block_open(&spec, &b.reg, &be, err, sizeof(err)), 0);
	CHECK_EQ(virtio_blk_create(&b.mem, &b.router, &params, be, &b.dev), 0);
	if (!b.dev)
		goto out;
	struct snap_reader rd;
	CHECK_EQ(snap_reader_init(&rd, sv.w.buf, sv.w.len), 0);
	CHECK_EQ(b.dev->ops->restore(b.dev, &rd), 0);
	CHECK(rd_status(&b) & VIRTIO_STATUS_DRIVER_OK);
	CHECK(wait_used(&b, 6));
	CHECK_EQ(used_idx(&b), 6);
	/* Each head once: the four answered before the snapshot, then 12, 13. */
	bool seen[QSIZE] = { false };
	for (uint16_t slot = 0; slot < 6; slot++) {
		uint32_t id = used_id(&b, slot);
		CHECK(id < QSIZE && !seen[id % QSIZE]);
		seen[id % QSIZE] = true;
		/* 12 and 13 run on two workers: either may finish first. */
		CHECK(slot < 4 ? id % 3 == 0 && id < 12 : id == 12 || id == 13);
	}
	for (uint16_t j = 0; j < 2; j++) {
		memset(buf, 0x60 + j, sizeof(buf));
		CHECK_EQ(status_of(&b, 12 + j), VIRTIO_BLK_S_OK);
		CHECK(file_is(&a, (20 + j) * 512ull, buf, sizeof(buf)));
	}
	for (uint16_t k = 0; k < 4; k++) {
		memset(buf, 0x40 + k, sizeof(buf));
		CHECK(file_is(&a, (10 + k) * 512ull, buf, sizeof(buf)));
	}
	/* And it goes on: a new request, notified as usual. */
	b.avail_idx = a.avail_idx;
	CHECK_EQ(run_req(&b, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	CHECK_EQ(used_idx(&b), 7);
	CHECK(!(rd_status(&b) & VIRTIO_STATUS_NEEDS_RESET));
out:
	if (b.dev)
		b.dev->ops->destroy(b.dev);
	if (b.mem.ram_size)
		gm_destroy(&b.mem);
	brig_close(&a);
	snap_writer_free(&sv.w);
}

/* An idle device's snapshot restores onto the same disk, and is refused
 * (-EINVAL) by a disk of another size or a read-only one. */
TEST(virtio_blk_snapshot_other_disk_refused)
{
	struct brig a, c;
	struct snap_writer w;
	struct snap_reader rd;

	snap_writer_init(&w);
	if (brig_open(&a, false) == 0) {
		CHECK_EQ(run_req(&a, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
		CHECK_EQ(a.dev->ops->save(a.dev, &w), 0);
		CHECK_EQ(snap_finish(&w), 0);
		CHECK_EQ(snap_reader_init(&rd, w.buf, w.len), 0);
		CHECK_EQ(a.dev->ops->restore(a.dev, &rd), 0);
		CHECK_EQ(used_idx(&a), 1);
		CHECK_EQ(run_req(&a, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	}
	if (brig_open(&c, true) == 0) {
		CHECK_EQ(snap_reader_init(&rd, w.buf, w.len), 0);
		/* Refused by the transport already (features the read-only
		 * disk does not offer): the device is left as it was. */
		CHECK_EQ(c.dev->ops->restore(c.dev, &rd), -EINVAL);
		CHECK_EQ(run_req(&c, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	}
	brig_close(&c);
	if (brig_open(&c, false) == 0) {
		/* The same kind of disk, twice the size. */
		struct block_spec spec = { .path = c.path, .cache = BLOCK_CACHE_WRITEBACK };
		struct block_backend *be;
		char err[256];
		c.dev->ops->destroy(c.dev);
		c.dev = NULL;
		CHECK_EQ(ftruncate(c.fd, IMG_SECTORS * 512 * 2), 0);
		CHECK_EQ(block_open(&spec, &c.reg, &be, err, sizeof(err)), 0);
		CHECK_EQ(virtio_blk_create(&c.mem, &c.router, &params, be, &c.dev), 0);
		if (c.dev) {
			CHECK_EQ(snap_reader_init(&rd, w.buf, w.len), 0);
			/* Refused by the device's section: the device is left
			 * reset. */
			CHECK_EQ(c.dev->ops->restore(c.dev, &rd), -EINVAL);
			CHECK_EQ(rd_status(&c), 0);
		}
	}
	brig_close(&c);
	brig_close(&a);
	snap_writer_free(&w);
}
