/* A hostile driver that keeps books, shared by the device harnesses
 * (fuzz_blk.c, fuzz_rng.c): it builds descriptor chains from the fuzzer's
 * input in fake guest RAM behind a virtio-mmio device, notifies, and checks
 * what every virtio device must guarantee whatever the driver sends:
 *
 *   - every used element names a chain that was made available and has not
 *     been returned yet (exactly one used element per request), with a used
 *     length no larger than the chain's device-writable bytes;
 *   - after a notify, every request of the batch has its used element, or
 *     the device is in NEEDS_RESET — and NEEDS_RESET only when the batch
 *     broke a rule (a ring violation, or one the device's own spec section
 *     names: the harness says which chains it expects to be refused);
 *   - the device writes guest RAM only inside the device-writable buffers of
 *     the chains it returned, and the used ring: the harness keeps a mirror
 *     of RAM and compares all of it after every batch.
 *
 * The devices complete synchronously inside the notify (virtio-rng always,
 * virtio-blk over a back end opened with block_spec.sync), so a batch is
 * finished when the notify returns and every run is reproducible. */
#ifndef ISOLA_FUZZ_DRIVER_H
#define ISOLA_FUZZ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "virtio/mmio.h"
#include "vm.h"

#define require(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			__builtin_trap();                                      \
		}                                                              \
	} while (0)

/* virtio-*.c's *_attach refer to it; the harnesses never attach. */
void vm_add_device(struct vm *vm, struct device *dev)
{
	(void)vm;
	(void)dev;
	__builtin_trap();
}

#define FD_RAM      (256ull << 10)
#define FD_QSIZE    64
#define FD_DESC     0x0000ull /* 64 * 16 */
#define FD_AVAIL    0x0400ull /* 6 + 2 * 64 */
#define FD_USED     0x0800ull /* 6 + 8 * 64 */
#define FD_IND      0x1000ull /* indirect tables, up to FD_BUF */
#define FD_BUF      0x4000ull /* data buffers, up to FD_RAM */
#define FD_MAX_BUFS 8

/* ---- input ------------------------------------------------------------------ */

struct fd_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in_u8(struct fd_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t in_u16(struct fd_in *in)
{
	uint16_t v = in_u8(in);
	return (uint16_t)(v | in_u8(in) << 8);
}

static inline uint32_t in_u32(struct fd_in *in)
{
	uint32_t v = in_u16(in);
	return v | (uint32_t)in_u16(in) << 16;
}

static inline uint64_t in_u64(struct fd_in *in)
{
	uint64_t v = in_u32(in);
	return v | (uint64_t)in_u32(in) << 32;
}

/* ---- the driver -------------------------------------------------------------- */

struct fd_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

struct fd_req {
	uint16_t head;
	unsigned nbufs;
	struct fd_buf buf[FD_MAX_BUFS];
	bool indirect;
	uint32_t readable_len, writable_len;
	bool expect_fail;  /* the device must refuse it with NEEDS_RESET */
	bool used;
	uint32_t used_len;
	uint64_t tag;      /* the harness's own */
};

struct fd_driver {
	struct guest_mem mem;
	struct device *dev;
	uint8_t *ram;
	uint8_t *mirror;   /* what RAM must hold */
	uint64_t driver_features;
	uint16_t avail_idx, used_seen;
	unsigned next_desc;
	uint64_t next_ind, next_buf;
	unsigned nreq;
	struct fd_req req[FD_QSIZE];
	unsigned resets;
};

static inline struct fd_driver *fd_get(void)
{
	static struct fd_driver d;
	static int ready;
	if (!ready) {
		if (gm_init(&d.mem, FD_RAM) != 0)
			abort();
		d.ram = gm_ptr(&d.mem, 0, FD_RAM);
		d.mirror = malloc(FD_RAM);
		if (!d.ram || !d.mirror)
			abort();
		ready = 1;
	}
	return &d;
}

static inline void fd_poke(struct fd_driver *d, uint64_t gpa, const void *src, uint64_t len)
{
	require(gpa < FD_RAM && len <= FD_RAM - gpa);
	memcpy(d->ram + gpa, src, len);
	memcpy(d->mirror + gpa, src, len);
}

static inline uint32_t fd_rd(struct fd_driver *d, uint64_t off)
{
	return (uint32_t)d->dev->ops->read(d->dev, 0, off, 4);
}

static inline void fd_wr(struct fd_driver *d, uint64_t off, uint32_t v)
{
	d->dev->ops->write(d->dev, 0, off, 4, v);
}

static inline bool fd_needs_reset(struct fd_driver *d)
{
	return fd_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static inline bool fd_has(const struct fd_driver *d, unsigned bit)
{
	return d->driver_features & VIRTIO_BIT(bit);
}

/* A fresh batch: rings and descriptors reused (every earlier chain is
 * back, or the device was reset). */
static inline void fd_batch_start(struct fd_driver *d)
{
	d->nreq = 0;
	d->next_desc = 0;
	d->next_ind = FD_IND;
	d->next_buf = FD_BUF;
}

/* Linux's bring-up (§3.1.1), accepting the offered features in `want` (and
 * VERSION_1); one queue of FD_QSIZE. RAM is zeroed first. */
static inline void fd_bringup(struct fd_driver *d, uint64_t want)
{
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint64_t offered;

	memset(d->ram, 0, FD_RAM);
	memset(d->mirror, 0, FD_RAM);
	d->avail_idx = d->used_seen = 0;
	fd_batch_start(d);
	fd_wr(d, VIRTIO_MMIO_STATUS, 0);
	require(fd_rd(d, VIRTIO_MMIO_STATUS) == 0);
	fd_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	fd_wr(d, VIRTIO_MMIO_STATUS, st);
	fd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = fd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
	fd_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)fd_rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	d->driver_features = offered & (want | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	fd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->driver_features);
	fd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fd_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->driver_features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	fd_wr(d, VIRTIO_MMIO_STATUS, st);
	require(fd_rd(d, VIRTIO_MMIO_STATUS) == st);
	fd_wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	fd_wr(d, VIRTIO_MMIO_QUEUE_NUM, FD_QSIZE);
	fd_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)FD_DESC);
	fd_wr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)FD_AVAIL);
	fd_wr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)FD_USED);
	fd_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	require(fd_rd(d, VIRTIO_MMIO_QUEUE_READY) == 1);
	fd_wr(d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	require(fd_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

/* Room for a buffer of len bytes, placed `gap` bytes after the previous one
 * (odd alignments included); 0 when the buffer area is full. */
static inline uint64_t fd_alloc(struct fd_driver *d, uint32_t len, unsigned gap)
{
	uint64_t at = d->next_buf + gap;
	if (len > FD_RAM || at > FD_RAM - len)
		return 0;
	d->next_buf = at + len;
	return at;
}

static inline void fd_put_desc(struct fd_driver *d, uint64_t at, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	uint8_t e[16];
	memcpy(e, &addr, 8);
	memcpy(e + 8, &len, 4);
	memcpy(e + 12, &flags, 2);
	memcpy(e + 14, &next, 2);
	fd_poke(d, at, e, 16);
}

/* Make r (its buffers filled in) available: descriptors in the table or in
 * an indirect table, then the avail ring entry and avail.idx. Computes the
 * chain's lengths and whether the queue rules (queue.h) must refuse it;
 * the device's own reasons to refuse are the caller's (r->expect_fail).
 * false when the batch has no room left (nothing was written). */
static inline bool fd_post(struct fd_driver *d, struct fd_req *r)
{
	bool seen_w = false, violation = false;
	unsigned need = r->indirect ? 1 : r->nbufs;

	if (need == 0 || d->next_desc + need > FD_QSIZE || d->nreq >= FD_QSIZE)
		return false;
	if (r->indirect && d->next_ind + 16ull * r->nbufs > FD_BUF)
		return false;
	r->readable_len = r->writable_len = 0;
	for (unsigned i = 0; i < r->nbufs; i++) {
		const struct fd_buf *b = &r->buf[i];
		if (b->len == 0 || (!b->writable && seen_w))
			violation = true; /* §2.7.4.2 order; no empty buffers */
		seen_w |= b->writable;
		if (b->writable)
			r->writable_len += b->len;
		else
			r->readable_len += b->len;
	}
	if (r->indirect && !fd_has(d, VIRTIO_F_INDIRECT_DESC))
		violation = true;
	r->expect_fail |= violation;
	r->head = (uint16_t)d->next_desc;
	if (r->indirect) {
		uint64_t t = d->next_ind;
		for (unsigned i = 0; i < r->nbufs; i++)
			fd_put_desc(d, t + 16ull * i, r->buf[i].gpa, r->buf[i].len,
				    (uint16_t)((i + 1 < r->nbufs ? VIRTQ_DESC_F_NEXT : 0) |
					       (r->buf[i].writable ? VIRTQ_DESC_F_WRITE : 0)),
				    (uint16_t)(i + 1));
		fd_put_desc(d, FD_DESC + 16ull * r->head, t, 16 * r->nbufs,
			    VIRTQ_DESC_F_INDIRECT, 0);
		d->next_ind += 16ull * r->nbufs;
	} else {
		for (unsigned i = 0; i < r->nbufs; i++)
			fd_put_desc(d, FD_DESC + 16ull * (r->head + i), r->buf[i].gpa,
				    r->buf[i].len,
				    (uint16_t)((i + 1 < r->nbufs ? VIRTQ_DESC_F_NEXT : 0) |
					       (r->buf[i].writable ? VIRTQ_DESC_F_WRITE : 0)),
				    (uint16_t)(r->head + i + 1));
	}
	d->next_desc += need;
	r->used = false;
	d->req[d->nreq++] = *r;
	uint16_t slot = (uint16_t)(d->avail_idx % FD_QSIZE);
	fd_poke(d, FD_AVAIL + 4 + 2ull * slot, &r->head, 2);
	d->avail_idx++;
	fd_poke(d, FD_AVAIL + 2, &d->avail_idx, 2);
	return true;
}

/* Copy the chain's device-writable bytes [0, n) out of RAM. */
static inline uint32_t fd_writable_bytes(struct fd_driver *d, const struct fd_req *r, uint8_t *dst,
					 uint32_t n)
{
	uint32_t done = 0;
	for (unsigned i = 0; i < r->nbufs && done < n; i++) {
		uint32_t k = r->buf[i].len < n - done ? r->buf[i].len : n - done;
		if (!r->buf[i].writable)
			continue;
		memcpy(dst + done, d->ram + r->buf[i].gpa, k);
		done += k;
	}
	return done;
}

static inline uint32_t fd_readable_bytes(struct fd_driver *d, const struct fd_req *r, uint8_t *dst,
					 uint32_t n)
{
	uint32_t done = 0;
	for (unsigned i = 0; i < r->nbufs && done < n; i++) {
		uint32_t k = r->buf[i].len < n - done ? r->buf[i].len : n - done;
		if (r->buf[i].writable)
			continue;
		memcpy(dst + done, d->ram + r->buf[i].gpa, k);
		done += k;
	}
	return done;
}

typedef void (*fd_used_fn)(void *ctx, struct fd_driver *d, struct fd_req *r);

/* Notify, then account for every used element and check the batch (see the
 * top of this file). on_used checks each returned request's contents.
 * Returns true if the device needed (and got) a reset. */
static inline bool fd_run_batch(struct fd_driver *d, fd_used_fn on_used, void *ctx,
				uint64_t want_features)
{
	bool needs_reset, any_fail = false;
	uint16_t used_idx;

	if (d->nreq == 0)
		return false;
	fd_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	memcpy(&used_idx, d->ram + FD_USED + 2, 2);
	require((uint16_t)(used_idx - d->used_seen) <= d->nreq);
	while (d->used_seen != used_idx) {
		uint32_t id, len;
		unsigned slot = d->used_seen % FD_QSIZE;
		struct fd_req *r = NULL;
		memcpy(&id, d->ram + FD_USED + 4 + 8ull * slot, 4);
		memcpy(&len, d->ram + FD_USED + 8 + 8ull * slot, 4);
		for (unsigned i = 0; i < d->nreq; i++)
			if (d->req[i].head == id && !d->req[i].used)
				r = &d->req[i];
		require(r);                      /* known, and not returned before */
		require(!r->expect_fail);
		require(len <= r->writable_len); /* used length within the chain */
		r->used = true;
		r->used_len = len;
		on_used(ctx, d, r);
		/* The device may have written these; nothing else. */
		for (unsigned i = 0; i < r->nbufs; i++)
			if (r->buf[i].writable)
				memcpy(d->mirror + r->buf[i].gpa, d->ram + r->buf[i].gpa,
				       r->buf[i].len);
		d->used_seen++;
	}
	memcpy(d->mirror + FD_USED, d->ram + FD_USED, 6 + 8 * FD_QSIZE);
	require(memcmp(d->ram, d->mirror, FD_RAM) == 0);

	needs_reset = fd_needs_reset(d);
	for (unsigned i = 0; i < d->nreq; i++) {
		any_fail |= d->req[i].expect_fail;
		require(d->req[i].used || needs_reset);
	}
	require(needs_reset == any_fail);
	fd_batch_start(d);
	if (needs_reset) {
		d->resets++;
		fd_bringup(d, want_features);
	}
	return needs_reset;
}

#endif
