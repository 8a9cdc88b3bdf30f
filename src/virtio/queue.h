/* Split virtqueues, device side (VIRTIO 1.2 §2.7).
 *
 * A queue is three areas of guest memory the driver allocates:
 *
 *   Descriptor Area (desc, 16-byte aligned)    size * 16 bytes
 *     struct { le64 addr; le32 len; le16 flags; le16 next; } desc[size]
 *   Driver Area (avail, 2-byte aligned)        6 + 2 * size bytes
 *     le16 flags; le16 idx; le16 ring[size]; le16 used_event
 *   Device Area (used, 4-byte aligned)         6 + 8 * size bytes
 *     le16 flags; le16 idx; struct { le32 id; le32 len; } ring[size];
 *     le16 avail_event
 *
 * The driver publishes chain heads in avail.ring and bumps avail.idx; the
 * device walks each chain (virtq_pop), does the work, and returns the head
 * in used.ring, bumping used.idx (virtq_push).
 *
 * Everything in those areas is written by a guest that may be hostile. The
 * walker reads every descriptor once into a local copy, checks it, and maps
 * every buffer through gm_ptr(); any breach of the rules below is a
 * violation: the queue is marked broken, the on_violation callback runs
 * (the transport puts the device in NEEDS_RESET) and the call returns
 * -EPROTO. Nothing a guest writes can make isola abort.
 *
 * Rules enforced (spec section in brackets):
 *   - avail.idx never runs ahead of the device by more than size [2.7.13]
 *   - heads and next fields are < size (or < table length) [2.7.5]
 *   - a chain visits at most size descriptors (loops) [2.7.5, 2.7.5.3.1]
 *   - INDIRECT only if negotiated, never with NEXT, never inside an indirect
 *     table; table length a non-zero multiple of 16, at most size entries,
 *     entirely in RAM [2.7.5.3]
 *   - device-readable buffers before device-writable ones [2.7.4.2]
 *   - no zero-length buffer (QEMU refuses them too); every buffer lies
 *     entirely in one RAM region (not across the end of RAM or into the MMIO
 *     hole); the chain's total length fits in 32 bits [2.7.5.2]
 *   - at most the caller's segment capacity [2.7.4.1 "reasonable limit"]
 *
 * Threads: a queue has one user at a time; the caller holds the device's
 * lock (struct virtio_dev.lock) around every call. Guest memory is shared
 * with running vCPUs, so avail.idx is read with acquire semantics before the
 * ring, and used.idx is written with release semantics after the element. */
#ifndef ISOLA_VIRTIO_QUEUE_H
#define ISOLA_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "memory.h"

#define VIRTQ_MAX_SIZE 32768 /* §2.7: the largest power of two in 16 bits */

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

#define VIRTQ_DESC_SIZE 16u

/* Sizes of the three areas (§2.7, table "Virtqueue Part"). */
static inline uint64_t virtq_desc_bytes(unsigned size) { return 16ull * size; }
static inline uint64_t virtq_avail_bytes(unsigned size) { return 6ull + 2ull * size; }
static inline uint64_t virtq_used_bytes(unsigned size) { return 6ull + 8ull * size; }

struct virtq;

/* Called once per violation, with a short static reason; queue-side state is
 * already marked broken. */
typedef void (*virtq_violation_fn)(void *opaque, struct virtq *vq, const char *why);

struct virtq {
	/* Set by virtq_setup(), fixed while the queue is enabled. */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;              /* power of two, 1..VIRTQ_MAX_SIZE */
	bool enabled;
	bool event_idx;             /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;                /* a violation was seen: no more guest access */
	struct guest_mem *mem;
	/* Host views of the areas, checked once at setup: guest RAM never moves
	 * while the VM exists. */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;

	/* Device-side progress. */
	uint16_t last_avail_idx;    /* next avail.ring slot to consume */
	uint16_t used_idx;          /* our copy of used.idx */
	uint16_t signalled_used;    /* used.idx when we last notified (EVENT_IDX) */
	bool signalled_used_valid;

	unsigned index;             /* queue number, for log lines */
	virtq_violation_fn on_violation;
	void *violation_opaque;
	uint64_t violations;        /* count, for diagnostics and tests */
};

/* One guest buffer, mapped. */
struct virtq_seg {
	void *ptr;       /* host pointer to the whole [addr, addr+len) */
	uint64_t gpa;
	uint32_t len;
	bool writable;   /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/* A descriptor chain as virtq_pop() returns it: readable segments first,
 * then writable ones. The caller supplies the segment array. */
struct virtq_chain {
	uint16_t head;              /* the id to give back to virtq_push */
	unsigned nr_segs;
	unsigned nr_readable;       /* seg[0..nr_readable) readable, the rest writable */
	uint32_t readable_len, writable_len;
	unsigned cap;
	struct virtq_seg *seg;
};

static inline void virtq_chain_init(struct virtq_chain *c, struct virtq_seg *segs, unsigned cap)
{
	c->head = 0;
	c->nr_segs = c->nr_readable = 0;
	c->readable_len = c->writable_len = 0;
	c->cap = cap;
	c->seg = segs;
}

/* Reset to "not enabled", keeping the index and the violation callback. */
void virtq_reset(struct virtq *vq);

/* Check and enable a queue: size a power of two in 1..max_size, areas aligned
 * (desc 16, avail 2, used 4) and entirely in RAM. 0 or -EINVAL (the queue
 * stays disabled; the caller logs). Counters start at 0. */
int virtq_setup(struct virtq *vq, struct guest_mem *mem, uint16_t size, uint16_t max_size,
		uint64_t desc, uint64_t avail, uint64_t used, bool event_idx, bool indirect)
	__attribute__((warn_unused_result));

/* Take the next available chain into c (whose segments are overwritten).
 * 1 if a chain was taken, 0 if none is available, -EIO if the queue is not
 * enabled or broken, -EPROTO on a violation (see above). With EVENT_IDX,
 * avail_event is advanced so the driver notifies again for the next one. */
int virtq_pop(struct virtq *vq, struct virtq_chain *c) __attribute__((warn_unused_result));

/* Return a chain to the driver: used element {head, len} (len = bytes the
 * device wrote), then used.idx, with release order. 0, -EIO (not enabled or
 * broken) or -EINVAL (head out of range or more pushes than pops: a device
 * bug, not a guest one). */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* virtq_push for a chain the device wrote `written` bytes into (from its
 * first writable segment on; more than writable_len is refused, -EINVAL):
 * also tells guest memory's write hook which bytes changed, so a soft CPU
 * drops code it decoded from them (a disk read of a program, say). */
int virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written);

/* After pushes: should the driver get a used-buffer notification now?
 * Honours VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX (§2.7.10).
 * Records the notification point, so call it once per batch and notify if
 * it says true. */
bool virtq_should_notify(struct virtq *vq);

/* Chains the driver has made available that the device has not taken
 * (0 if broken or disabled; does not check the jump limit). */
unsigned virtq_pending(const struct virtq *vq);

/* Ask the driver for (or to stop sending) available-buffer notifications:
 * VIRTQ_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX. Enabling returns
 * true if buffers arrived meanwhile (the caller polls again). */
bool virtq_set_notify(struct virtq *vq, bool enable);

/* vring_need_event (§2.7.10 / virtio_ring.h): has the used index passed
 * event_idx when going from old_idx to new_idx? All mod 2^16. */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
