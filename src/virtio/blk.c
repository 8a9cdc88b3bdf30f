/* virtio-blk (VIRTIO 1.2 §5.2): see blk.h.
 *
 * A request (§5.2.6) is a chain: a 16-byte header {le32 type, le32 reserved,
 * le64 sector} in device-readable memory, then the data (readable for OUT,
 * DISCARD and WRITE_ZEROES, writable for IN and GET_ID), then one writable
 * status byte, the last byte of the chain. The spec forbids relying on how
 * the driver splits this into buffers (§2.6.4 "Message Framing"), so the
 * header is gathered across segments and the data is described by byte
 * ranges of the two halves of the chain.
 *
 * Threads and locks: the vCPU's notify (under vdev->lock) pops chains and
 * submits them; a back end worker completes them and takes vdev->lock to
 * push the used element. Reset and snapshots run under vdev->lock and must
 * wait for every in-flight request (block_drain), while a worker may be
 * waiting for that lock: so they set `mode` first, and a completion that
 * sees it does not wait for the lock. Under BLK_DROP (reset) it drops its
 * request: the driver is resetting the device, so the answer is no longer
 * wanted (§2.1 / §4.2.3.1). Under BLK_PARK (a snapshot's quiesce) it parks
 * the request with its result, and quiesce answers every parked request in
 * the used ring itself once the back end is idle — so the snapshot holds no
 * request that was taken from the ring and not answered, and a restored
 * device has nothing to redo. Completions wait for the lock with a timeout
 * so that they notice `mode` while reset or quiesce holds it; `mode` only
 * changes under the lock and is BLK_RUN again before it is released. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "log.h"
#include "snapshot.h"
#include "virtio/blk.h"
#include "vm.h"

#define BLK_HDR_LEN   16u
#define BLK_CHAIN_SEGS (VIRTIO_BLK_SEG_MAX + 2)
/* DISCARD / WRITE_ZEROES segment: le64 sector, le32 num_sectors, le32 flags. */
#define BLK_DWZ_LEN   16u

struct virtio_blk;

enum blk_mode { BLK_RUN, BLK_DROP, BLK_PARK };

struct blk_req {
	struct virtio_blk *blk;
	struct block_req breq;
	struct virtq_chain chain;
	struct virtq_seg seg[BLK_CHAIN_SEGS];
	struct iovec iov[BLK_CHAIN_SEGS];
	struct block_range ranges[VIRTIO_BLK_MAX_DWZ_SEG];
	int sync_err;               /* a sync back end's answer, see submit() */
	int park_err;               /* the back end's answer while parked */
	struct blk_req *next_free;  /* the free list, or the parked list */
};

struct virtio_blk {
	struct virtio_dev *vdev;
	struct block_backend *be;
	uint64_t capacity;          /* bytes */
	bool readonly;
	bool sync;                  /* the back end completes inside block_submit */
	unsigned blk_size;
	atomic_int mode;            /* enum blk_mode; see the top of this file */
	/* Requests completed during a quiesce, newest first. park_lock is a
	 * leaf lock: workers take it without vdev->lock, which quiesce holds. */
	pthread_mutex_t park_lock;
	struct blk_req *parked;
	/* Request slots (~7 KiB each), under vdev->lock: the free list, then
	 * reqs[fresh..], not used since the last reset, handed out in order and
	 * allocated on first use, so that a disk with a few requests in flight
	 * holds a few slots, not 2 MiB. */
	struct blk_req *free;
	unsigned fresh;
	struct blk_req *reqs[VIRTIO_BLK_QUEUE_SIZE];
};

/* ---- config space (§5.2.4) ------------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t off, void *buf, unsigned len)
{
	struct virtio_blk *blk = vdev->opaque;
	uint8_t cfg[VIRTIO_BLK_CFG_LEN] = { 0 };

	put_le(cfg + VIRTIO_BLK_CFG_CAPACITY, blk->capacity / BLOCK_SECTOR_SIZE, 8);
	/* SIZE_MAX: a segment is at most one guest buffer, whose length is 32
	 * bits; but keep each at most 4 GiB - 4 KiB so sums stay sane. */
	put_le(cfg + VIRTIO_BLK_CFG_SIZE_MAX, 0xfffff000u, 4);
	put_le(cfg + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX, 4);
	put_le(cfg + VIRTIO_BLK_CFG_BLK_SIZE, blk->blk_size, 4);
	put_le(cfg + VIRTIO_BLK_CFG_NUM_QUEUES, 1, 2);
	put_le(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_ZERO_SECTORS, 4);
	put_le(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DWZ_SEG, 4);
	put_le(cfg + VIRTIO_BLK_CFG_DISCARD_ALIGN, blk->blk_size / BLOCK_SECTOR_SIZE, 4);
	put_le(cfg + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_ZERO_SECTORS, 4);
	put_le(cfg + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DWZ_SEG, 4);
	cfg[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
	memcpy(buf, cfg + off, len); /* the transport checked off + len <= config_len */
}

/* ---- chain helpers ---------------------------------------------------------- */

/* Describe bytes [off, off + len) of the readable (or writable) half of c as
 * iovecs; returns how many (len must fit in that half). */
static unsigned chain_iov(const struct virtq_chain *c, bool writable, uint32_t off, uint32_t len,
			  struct iovec *iov)
{
	unsigned i = writable ? c->nr_readable : 0, end = writable ? c->nr_segs : c->nr_readable;
	unsigned n = 0;

	for (; i < end && len; i++) {
		uint32_t sl = c->seg[i].len, take;
		if (off >= sl) {
			off -= sl;
			continue;
		}
		take = sl - off < len ? sl - off : len;
		iov[n].iov_base = (uint8_t *)c->seg[i].ptr + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

/* Copy bytes [off, off + len) of the readable half (len within it). */
static void chain_read(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len)
{
	struct iovec iov[BLK_CHAIN_SEGS];
	unsigned n = chain_iov(c, false, off, len, iov);
	uint8_t *d = dst;

	for (unsigned i = 0; i < n; i++) {
		memcpy(d, iov[i].iov_base, iov[i].iov_len);
		d += iov[i].iov_len;
	}
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The status byte: the last byte of the chain (writable_len >= 1). */
static uint8_t *req_status(struct blk_req *r)
{
	const struct virtq_seg *s = &r->chain.seg[r->chain.nr_segs - 1];
	return (uint8_t *)s->ptr + s->len - 1;
}

/* ---- completion --------------------------------------------------------------- */

static void blk_process(struct virtio_blk *blk);

/* A request slot, or NULL if every one is in flight. Under the lock. */
static struct blk_req *req_get(struct virtio_blk *blk)
{
	struct blk_req *r = blk->free;

	if (r) {
		blk->free = r->next_free;
		return r;
	}
	if (blk->fresh == VIRTIO_BLK_QUEUE_SIZE)
		return NULL;
	r = blk->reqs[blk->fresh];
	if (!r) {
		/* Out of host memory: the chain waits in the ring until a
		 * completion or the next notify tries again. */
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		r->blk = blk;
		blk->reqs[blk->fresh] = r;
	}
	blk->fresh++;
	return r;
}

static void req_put(struct virtio_blk *blk, struct blk_req *r)
{
	r->next_free = blk->free;
	blk->free = r;
}

/* Write the status, return the chain, put r back on the free list. Under the
 * lock. The used length covers the whole writable half, whose last byte is
 * the status (what QEMU reports too); for IN that is data + status. */
static void req_finish(struct virtio_blk *blk, struct blk_req *r, uint8_t status)
{
	*req_status(r) = status;
	/* -EIO if the queue broke meanwhile: nothing more to tell the driver. */
	(void)virtq_push_chain(&blk->vdev->vq[0], &r->chain, r->chain.writable_len);
	req_put(blk, r);
}

static uint8_t status_of(int err)
{
	if (!err)
		return VIRTIO_BLK_S_OK;
	return err == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

/* For a completion of r with result err: take vdev->lock, unless reset or
 * quiesce waits for the back end with the lock held (then drop or park r).
 * true with the lock held. */
static bool blk_lock_for_completion(struct virtio_blk *blk, struct blk_req *r, int err)
{
	for (;;) {
		struct timespec ts;
		int mode = atomic_load(&blk->mode);

		if (mode == BLK_DROP)
			return false;
		if (mode == BLK_PARK) {
			r->park_err = err;
			pthread_mutex_lock(&blk->park_lock);
			r->next_free = blk->parked;
			blk->parked = r;
			pthread_mutex_unlock(&blk->park_lock);
			return false;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_mutex_timedlock(&blk->vdev->lock, &ts) != 0)
			continue;
		if (atomic_load(&blk->mode) == BLK_RUN)
			return true;
		virtio_dev_unlock(blk->vdev); /* cannot happen: mode is RUN when unlocked */
	}
}

/* Under the lock: the back end's answer for r. Host errors (EIO, ENOSPC, ...)
 * fail this request only; logged under the lock, which also guards the rate
 * limiter. */
static void req_complete(struct virtio_blk *blk, struct blk_req *r, int err)
{
	if (err && err != -EOPNOTSUPP)
		log_ratelimited(&blk->vdev->rl, "virtio-blk: %s: I/O error: %s",
				block_path(blk->be), strerror(-err));
	req_finish(blk, r, status_of(err));
}

/* Back end worker thread; or, with a sync back end, inside block_submit on
 * the thread that holds the lock (submit() finishes the request then). */
static void blk_done(void *opaque, int err)
{
	struct blk_req *r = opaque;
	struct virtio_blk *blk = r->blk;

	if (blk->sync) {
		r->sync_err = err;
		return;
	}
	if (!blk_lock_for_completion(blk, r, err))
		return; /* reset rebuilds the free list; quiesce answers r */
	req_complete(blk, r, err);
	virtio_dev_notify_used(blk->vdev, 0);
	blk_process(blk); /* chains left waiting for a free request */
	virtio_dev_unlock(blk->vdev);
}

/* ---- request decoding (§5.2.6) ---------------------------------------------- */

/* Is [sector * 512, + len) inside the disk? */
static bool in_range(const struct virtio_blk *blk, uint64_t sector, uint64_t len)
{
	uint64_t sectors = blk->capacity / BLOCK_SECTOR_SIZE;
	return sector <= sectors && len / BLOCK_SECTOR_SIZE <= sectors - sector;
}

/* Submit r. 0: it went to the back end and blk_done will finish it; 1: it
 * is finished already (a sync back end); else -errno, the status to answer
 * now. */
static int submit(struct virtio_blk *blk, struct blk_req *r)
{
	int rc;

	r->breq.done = blk_done;
	r->breq.opaque = r;
	rc = block_submit(blk->be, &r->breq);
	if (rc || !blk->sync)
		return rc;
	req_complete(blk, r, r->sync_err);
	return 1;
}

/* DISCARD / WRITE_ZEROES (§5.2.6.2): after the header, 1..VIRTIO_BLK_MAX_DWZ_SEG
 * segments {le64 sector, le32 num_sectors, le32 flags}, the only readable
 * data; the status byte is the only writable byte. Every segment is checked
 * before any is applied, so a request with one bad segment changes nothing:
 * unknown flags (or unmap on a discard) in any segment answer UNSUPP, as the
 * device requirements of §5.2.6.2 say; otherwise an empty, oversized
 * (> max_*_sectors) or out-of-range segment, or more than max_*_seg of them,
 * answers IOERR. */
static int start_dwz(struct virtio_blk *blk, struct blk_req *r, uint32_t type, uint8_t *status)
{
	const struct virtq_chain *c = &r->chain;
	bool wz = type == VIRTIO_BLK_T_WRITE_ZEROES;
	uint32_t allowed = wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u;
	bool unsupp = false, bad = false;
	uint32_t data, nseg;

	if (!virtio_has_feature(blk->vdev, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD)) {
		*status = VIRTIO_BLK_S_UNSUPP;
		return 1;
	}
	*status = VIRTIO_BLK_S_IOERR;
	data = c->readable_len - BLK_HDR_LEN;
	if (c->writable_len != 1 || blk->readonly || data == 0 || data % BLK_DWZ_LEN ||
	    data / BLK_DWZ_LEN > VIRTIO_BLK_MAX_DWZ_SEG)
		return 1;
	nseg = data / BLK_DWZ_LEN;
	for (uint32_t i = 0; i < nseg; i++) {
		uint8_t seg[BLK_DWZ_LEN];
		uint64_t sector;
		uint32_t num, flags;

		chain_read(c, BLK_HDR_LEN + i * BLK_DWZ_LEN, seg, BLK_DWZ_LEN);
		sector = get_le(seg, 8);
		num = (uint32_t)get_le(seg + 8, 4);
		flags = (uint32_t)get_le(seg + 12, 4);
		if (flags & ~allowed)
			unsupp = true;
		else if (num == 0 || num > VIRTIO_BLK_MAX_ZERO_SECTORS ||
			 !in_range(blk, sector, (uint64_t)num * BLOCK_SECTOR_SIZE))
			bad = true;
		if (unsupp || bad)
			continue; /* still look for UNSUPP in the rest */
		r->ranges[i] = (struct block_range){
			.offset = sector * BLOCK_SECTOR_SIZE,
			.len = (uint64_t)num * BLOCK_SECTOR_SIZE,
			.flags = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ? BLOCK_REQ_MAY_UNMAP
									     : 0,
		};
	}
	if (unsupp || bad) {
		*status = unsupp ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
		return 1;
	}
	r->breq = (struct block_req){
		.op = wz ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_DISCARD,
		.ranges = r->ranges,
		.nranges = nseg,
	};
	return 0;
}

/* Decode r. 0: r->breq is ready to submit; 1: answer *status now. */
static int start_req(struct virtio_blk *blk, struct blk_req *r, uint8_t *status)
{
	const struct virtq_chain *c = &r->chain;
	uint8_t hdr[BLK_HDR_LEN], id[BLOCK_ID_LEN];
	uint32_t type, len;
	uint64_t sector;

	*status = VIRTIO_BLK_S_IOERR;
	if (c->readable_len < BLK_HDR_LEN)
		return 1;
	chain_read(c, 0, hdr, BLK_HDR_LEN);
	type = (uint32_t)get_le(hdr, 4);
	sector = get_le(hdr + 8, 8);

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool in = type == VIRTIO_BLK_T_IN;
		/* IN: data writable before the status, nothing readable after
		 * the header; OUT: data readable, the status alone writable. */
		if (in ? c->readable_len != BLK_HDR_LEN : c->writable_len != 1)
			return 1;
		len = in ? c->writable_len - 1 : c->readable_len - BLK_HDR_LEN;
		if (len == 0 || len % BLOCK_SECTOR_SIZE || !in_range(blk, sector, len))
			return 1;
		if (!in && blk->readonly)
			return 1;
		r->breq = (struct block_req){
			.op = in ? BLOCK_OP_READ : BLOCK_OP_WRITE,
			.offset = sector * BLOCK_SECTOR_SIZE,
			.iov = r->iov,
			.iovcnt = chain_iov(c, in, in ? 0 : BLK_HDR_LEN, len, r->iov),
		};
		return 0;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (c->readable_len != BLK_HDR_LEN || c->writable_len != 1)
			return 1;
		r->breq = (struct block_req){ .op = BLOCK_OP_FLUSH };
		return 0;
	case VIRTIO_BLK_T_GET_ID: {
		/* §5.2.6.1: 20 bytes of id into the writable data. */
		struct iovec iov[BLK_CHAIN_SEGS];
		unsigned n;
		const uint8_t *src = id;

		if (c->readable_len != BLK_HDR_LEN || c->writable_len < 2)
			return 1;
		len = c->writable_len - 1 < BLOCK_ID_LEN ? c->writable_len - 1 : BLOCK_ID_LEN;
		block_get_id(blk->be, id);
		n = chain_iov(c, true, 0, len, iov);
		for (unsigned i = 0; i < n; i++) {
			memcpy(iov[i].iov_base, src, iov[i].iov_len);
			src += iov[i].iov_len;
		}
		*status = VIRTIO_BLK_S_OK;
		return 1;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return start_dwz(blk, r, type, status);
	default:
		*status = VIRTIO_BLK_S_UNSUPP;
		return 1;
	}
}

/* Pop and start every available chain while request slots last. Under the
 * lock. */
static void blk_process(struct virtio_blk *blk)
{
	struct virtq *vq = &blk->vdev->vq[0];
	bool pushed = false;

	while (atomic_load(&blk->mode) == BLK_RUN) {
		struct blk_req *r = req_get(blk);
		uint8_t status;
		int rc;

		if (!r)
			break; /* a completion calls us again */
		virtq_chain_init(&r->chain, r->seg, BLK_CHAIN_SEGS);
		if (virtq_pop(vq, &r->chain) != 1) {
			req_put(blk, r);
			break; /* empty, or broken (the queue library failed the device) */
		}
		if (r->chain.writable_len == 0) {
			/* No status byte: nothing to answer with (§5.2.6). */
			req_put(blk, r);
			virtio_dev_fail(blk->vdev, "request without a writable status byte");
			break;
		}
		if (start_req(blk, r, &status) == 0) {
			rc = submit(blk, r);
			if (rc == 0)
				continue;
			if (rc == 1) {
				pushed = true;
				continue;
			}
			status = status_of(rc);
		}
		req_finish(blk, r, status);
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify_used(blk->vdev, 0);
}

/* ---- device ops ------------------------------------------------------------- */

static void blk_notify(struct virtio_dev *vdev, unsigned q)
{
	(void)q; /* one queue: the transport only calls us for q < num_queues */
	blk_process(vdev->opaque);
}

/* Every slot free again (nothing is in flight). */
static void blk_free_all(struct virtio_blk *blk)
{
	blk->free = NULL;
	blk->fresh = 0;
}

/* Under vdev->lock: in-flight requests end before the queues are reset. */
static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	atomic_store(&blk->mode, BLK_DROP);
	block_drain(blk->be);
	blk_free_all(blk);
	atomic_store(&blk->mode, BLK_RUN);
}

/* Under vdev->lock, before the transport saves the queues: answer every
 * request in flight, so the snapshot has none (see the top of this file).
 * New chains are not taken meanwhile: notify and completions need the lock. */
static int blk_quiesce(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;
	struct blk_req *list, *done = NULL;

	atomic_store(&blk->mode, BLK_PARK);
	block_drain(blk->be);
	atomic_store(&blk->mode, BLK_RUN);
	pthread_mutex_lock(&blk->park_lock);
	list = blk->parked;
	blk->parked = NULL;
	pthread_mutex_unlock(&blk->park_lock);
	/* Oldest first: the order the back end finished them in. */
	while (list) {
		struct blk_req *r = list;
		list = r->next_free;
		r->next_free = done;
		done = r;
	}
	if (!done)
		return 0;
	while (done) {
		struct blk_req *r = done;
		done = r->next_free;
		req_complete(blk, r, r->park_err);
	}
	virtio_dev_notify_used(vdev, 0);
	return 0;
}

/* Snapshot section "VB" + two digits of the transport's index, version 1:
 * the disk it was taken with (capacity, read-only), so that a restore onto
 * another disk is refused, and the requests in flight — none after quiesce;
 * a version that keeps requests in flight would list them here. The queue
 * positions are the transport's (its own section). */
#define BLK_SNAP_VERSION 1

static void blk_snap_tag(const struct virtio_dev *vdev, char tag[4])
{
	tag[0] = 'V';
	tag[1] = 'B';
	tag[2] = (char)('0' + vdev->index / 10 % 10);
	tag[3] = (char)('0' + vdev->index % 10);
}

static unsigned blk_in_flight(const struct virtio_blk *blk)
{
	unsigned n = blk->fresh;
	for (const struct blk_req *r = blk->free; r; r = r->next_free)
		n--;
	return n;
}

static int blk_save(struct virtio_dev *vdev, struct snap_writer *w)
{
	struct virtio_blk *blk = vdev->opaque;
	char tag[4];

	blk_snap_tag(vdev, tag);
	snap_begin(w, tag, BLK_SNAP_VERSION);
	snap_u64(w, blk->capacity);
	snap_u8(w, blk->readonly);
	snap_u32(w, blk_in_flight(blk));
	snap_end(w);
	return w->error;
}

/* Under vdev->lock, after the transport restored the queues (and reset the
 * device, so nothing is in flight here). Chains the driver made available
 * and the saved device had not taken yet are taken now: their notify went
 * to the device the snapshot was taken from. */
static int blk_restore(struct virtio_dev *vdev, struct snap_reader *r)
{
	struct virtio_blk *blk = vdev->opaque;
	uint32_t version, in_flight;
	uint64_t capacity;
	uint8_t readonly;
	char tag[4];
	int rc;

	blk_snap_tag(vdev, tag);
	rc = snap_open(r, tag, &version);
	if (rc)
		return rc;
	if (version != BLK_SNAP_VERSION)
		return -ENOTSUP;
	capacity = snap_get_u64(r);
	readonly = snap_get_u8(r);
	in_flight = snap_get_u32(r);
	if (r->error)
		return r->error;
	if (capacity != blk->capacity || (readonly != 0) != blk->readonly || in_flight)
		return -EINVAL;
	if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) && vdev->vq[0].enabled)
		blk_process(blk);
	return 0;
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	atomic_store(&blk->mode, BLK_DROP);
	block_close(blk->be); /* drains first */
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		free(blk->reqs[i]);
	pthread_mutex_destroy(&blk->park_lock);
	free(blk);
}

static const struct virtio_device_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	.config_len = VIRTIO_BLK_CFG_LEN,
	.config_read = blk_config_read,
	.notify = blk_notify,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.restore = blk_restore,
	.destroy = blk_destroy,
};

int virtio_blk_create(struct guest_mem *mem, const struct irq_router *router,
		      const struct virtio_mmio_params *p, struct block_backend *b,
		      struct device **out)
{
	struct virtio_blk *blk;
	struct device *dev;
	uint64_t features;

	if (!b)
		return -EINVAL;
	blk = calloc(1, sizeof(*blk));
	if (!blk) {
		block_close(b);
		return -ENOMEM;
	}
	blk->be = b;
	blk->capacity = block_capacity(b);
	blk->readonly = block_readonly(b);
	blk->blk_size = block_logical_block_size(b);
	blk->sync = block_is_sync(b);
	atomic_init(&blk->mode, BLK_RUN);
	pthread_mutex_init(&blk->park_lock, NULL);
	blk_free_all(blk);

	features = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		   VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (blk->readonly)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
			    VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);

	dev = virtio_mmio_create(mem, router, p, &blk_ops, blk, features);
	if (!dev) {
		free(blk);
		block_close(b);
		return -EINVAL;
	}
	blk->vdev = virtio_mmio_vdev(dev);
	*out = dev;
	return 0;
}

int virtio_blk_attach(struct vm *vm, const struct virtio_mmio_params *p,
		      struct block_backend *b, struct virtio_dev **out)
{
	struct device *dev;
	int rc = virtio_blk_create(&vm->mem, &vm->irq, p, b, &dev);

	if (rc)
		return rc;
	vm_add_device(vm, dev); /* the VM owns it (and so b) from here */
	rc = bus_register(&vm->mmio, p->base, p->len, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = virtio_mmio_vdev(dev);
	return 0;
}
