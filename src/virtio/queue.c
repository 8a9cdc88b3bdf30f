/* Split virtqueues, device side; the rules are listed in queue.h.
 *
 * Guest memory here is written concurrently by vCPUs. Fields the driver
 * publishes (avail.idx, used_event, avail.flags) are read with atomic loads;
 * everything else is copied out once and checked on the copy, so a driver
 * that rewrites a descriptor while we walk it can only confuse itself. */
#include <errno.h>
#include <string.h>

#include "virtio/queue.h"

/* Offsets inside the areas (queue.h draws them). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX   2
#define AVAIL_RING  4
#define USED_FLAGS  0
#define USED_IDX    2
#define USED_RING   4

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Little-endian loads and stores on unaligned host bytes (x86-64 host: the
 * memcpy compiles to a plain move). */
static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static void read_desc(const uint8_t *table, unsigned i, struct desc *d)
{
	const uint8_t *p = table + (size_t)i * VIRTQ_DESC_SIZE;
	memcpy(&d->addr, p, 8);
	memcpy(&d->len, p + 8, 4);
	memcpy(&d->flags, p + 12, 2);
	memcpy(&d->next, p + 14, 2);
}

/* Atomic accesses to the 2-byte index fields: virtq_setup() checked the
 * areas' alignment, so these fields are naturally aligned. */
static uint16_t ld16_acquire(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static uint16_t ld16_relaxed(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static void st16_release(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static void st16_relaxed(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* Tell guest memory's write hook (the soft CPU's decoded-code cache) that
 * isola wrote [gpa, gpa+len). */
static void note_write(struct virtq *vq, uint64_t gpa, uint64_t len)
{
	if (vq->mem && vq->mem->on_write && len)
		vq->mem->on_write(vq->mem->on_write_opaque, gpa, len);
}

void virtq_reset(struct virtq *vq)
{
	unsigned index = vq->index;
	virtq_violation_fn fn = vq->on_violation;
	void *opaque = vq->violation_opaque;
	uint64_t violations = vq->violations;

	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->on_violation = fn;
	vq->violation_opaque = opaque;
	vq->violations = violations;
}

int virtq_setup(struct virtq *vq, struct guest_mem *mem, uint16_t size, uint16_t max_size,
		uint64_t desc, uint64_t avail, uint64_t used, bool event_idx, bool indirect)
{
	uint8_t *d, *a, *u;

	virtq_reset(vq);
	/* §2.7: the size is a power of two, at most 32768 and at most what the
	 * device offered (QueueNumMax / queue_size). */
	if (size == 0 || (size & (size - 1)) || size > max_size || max_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	/* §2.7.1 (driver requirements): alignments 16, 2 and 4. */
	if ((desc & 15) || (avail & 1) || (used & 3))
		return -EINVAL;
	d = gm_ptr(mem, desc, virtq_desc_bytes(size));
	a = gm_ptr(mem, avail, virtq_avail_bytes(size));
	u = gm_ptr(mem, used, virtq_used_bytes(size));
	if (!d || !a || !u)
		return -EINVAL;
	vq->mem = mem;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->size = size;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	/* A re-enabled queue starts where the driver's fresh rings start: both
	 * indices 0 (§2.7.6, §2.7.8: "This starts at 0"). */
	vq->enabled = true;
	return 0;
}

static int virtq_violation(struct virtq *vq, const char *why)
{
	vq->broken = true;
	vq->violations++;
	if (vq->on_violation)
		vq->on_violation(vq->violation_opaque, vq, why);
	return -EPROTO;
}

/* Append one buffer to the chain; NULL or why it is refused. */
static const char *chain_add(struct virtq *vq, struct virtq_chain *c, const struct desc *d,
			     uint64_t *total)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *p;

	if (d->len == 0)
		return "zero-length buffer";
	/* §2.7.4.2: device-writable buffers come after device-readable ones. */
	if (!writable && c->nr_segs > c->nr_readable)
		return "device-readable buffer after a device-writable one";
	if (c->nr_segs >= c->cap)
		return "more buffers in a chain than the device takes";
	/* §2.7.5.2: a chain is at most 2^32 bytes; used.len is 32 bits, so we
	 * hold it to 2^32 - 1. The sum is 64-bit and each len < 2^32: no wrap. */
	*total += d->len;
	if (*total > UINT32_MAX)
		return "chain longer than 4 GiB";
	/* The whole buffer in one RAM region: gm_ptr checks addr + len without
	 * overflow and refuses the MMIO hole and anything past the end of RAM. */
	p = gm_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return "buffer outside guest RAM";
	c->seg[c->nr_segs] = (struct virtq_seg){
		.ptr = p, .gpa = d->addr, .len = d->len, .writable = writable,
	};
	c->nr_segs++;
	if (writable) {
		c->writable_len += d->len;
	} else {
		c->nr_readable++;
		c->readable_len += d->len;
	}
	return NULL;
}

/* Walk the chain at head: the queue's descriptors, then at most one indirect
 * table (§2.7.5.3: "zero or more normal chained descriptors followed by a
 * single descriptor with flags & VIRTQ_DESC_F_INDIRECT"). */
static const char *chain_walk(struct virtq *vq, struct virtq_chain *c, uint16_t head)
{
	const uint8_t *table = vq->desc;
	unsigned n = vq->size, idx = head, hops = 0;
	bool in_indirect = false;
	uint64_t total = 0;
	struct desc d;
	const char *why;

	for (;;) {
		/* A chain is never longer than its table (§2.7.5.3.1): more hops
		 * than entries means a loop. */
		if (++hops > n)
			return in_indirect ? "loop in an indirect table"
					   : "descriptor chain longer than the queue (a loop)";
		read_desc(table, idx, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_indirect)
				return "indirect descriptor inside an indirect table";
			if (!vq->indirect)
				return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return "indirect descriptor with NEXT set";
			if (d.len == 0 || d.len % VIRTQ_DESC_SIZE)
				return "indirect table length not a non-zero multiple of 16";
			/* A chain holds at most queue-size descriptors. */
			if (d.len / VIRTQ_DESC_SIZE > vq->size)
				return "indirect table longer than the queue";
			/* No alignment is required of indirect tables (Linux may
			 * hand out 8-byte aligned ones); read_desc copies bytes. */
			table = gm_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return "indirect table outside guest RAM";
			/* The WRITE flag of this descriptor is ignored (§2.7.5.3.2). */
			n = d.len / VIRTQ_DESC_SIZE;
			idx = 0;
			hops = 0;
			in_indirect = true;
			continue;
		}
		why = chain_add(vq, c, &d, &total);
		if (why)
			return why;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return NULL;
		if (d.next >= n)
			return "next index out of range";
		idx = d.next;
	}
}

unsigned virtq_pending(const struct virtq *vq)
{
	if (!vq->enabled || vq->broken)
		return 0;
	return (uint16_t)(ld16_acquire(vq->avail + AVAIL_IDX) - vq->last_avail_idx);
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, slot, head;
	const char *why;

	if (!vq->enabled || vq->broken)
		return -EIO;
	/* Acquire: the ring entry and the descriptors the driver wrote before
	 * bumping avail.idx are visible once we see the new idx (§2.7.13.3). */
	avail_idx = ld16_acquire(vq->avail + AVAIL_IDX);
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return 0;
	/* The driver can't have more than size chains outstanding (§2.7.13:
	 * "the ring buffer is the same size as the descriptor table"). */
	if (pending > vq->size)
		return virtq_violation(vq, "avail.idx ran ahead by more than the queue size");
	slot = vq->last_avail_idx & (vq->size - 1);
	head = ld16(vq->avail + AVAIL_RING + 2u * slot);
	if (head >= vq->size)
		return virtq_violation(vq, "chain head out of range");

	c->head = head;
	c->nr_segs = c->nr_readable = 0;
	c->readable_len = c->writable_len = 0;
	why = chain_walk(vq, c, head);
	if (why) {
		c->nr_segs = c->nr_readable = 0;
		c->readable_len = c->writable_len = 0;
		return virtq_violation(vq, why);
	}
	vq->last_avail_idx++;
	if (vq->event_idx) {
		/* avail_event: notify us when you publish the next one. */
		st16_relaxed(vq->used + USED_RING + 8u * vq->size, vq->last_avail_idx);
		note_write(vq, vq->used_gpa + USED_RING + 8ull * vq->size, 2);
	}
	return 1;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	uint8_t *elem;
	uint32_t id = head;
	unsigned slot;

	if (!vq->enabled || vq->broken)
		return -EIO;
	/* Device bugs, not guest ones: refuse rather than corrupt the ring. */
	if (head >= vq->size || (uint16_t)(vq->last_avail_idx - vq->used_idx) == 0)
		return -EINVAL;
	slot = vq->used_idx & (vq->size - 1);
	elem = vq->used + USED_RING + 8u * slot;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &len, 4);
	vq->used_idx++;
	/* Release: the element (and the data written into the buffers before
	 * this call) is visible before the driver sees the new used.idx
	 * (§2.7.8.2: "MUST set len prior to updating the used idx"). */
	st16_release(vq->used + USED_IDX, vq->used_idx);
	note_write(vq, vq->used_gpa + USED_RING + 8ull * slot, 8);
	note_write(vq, vq->used_gpa + USED_IDX, 2);
	return 0;
}

int virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written)
{
	uint32_t left = written;

	if (written > c->writable_len)
		return -EINVAL;
	for (unsigned i = c->nr_readable; i < c->nr_segs && left; i++) {
		uint32_t n = c->seg[i].len < left ? c->seg[i].len : left;
		note_write(vq, c->seg[i].gpa, n);
		left -= n;
	}
	return virtq_push(vq, c->head, written);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, new_idx;
	bool valid;

	if (!vq->enabled || vq->broken)
		return false;
	/* Our used.idx store must be globally visible before we read the
	 * driver's suppression fields, or a driver that re-enables interrupts
	 * and re-checks used.idx at the same moment misses both (the mirror of
	 * the driver-side rule in §2.7.13.4.1). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(ld16_relaxed(vq->avail + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new_idx = vq->used_idx;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	/* §2.7.10: notify if used.idx went past used_event since the last time. */
	return virtq_need_event(ld16_relaxed(vq->avail + AVAIL_RING + 2u * vq->size), new_idx, old);
}

bool virtq_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->enabled || vq->broken)
		return false;
	if (vq->event_idx) {
		/* §2.7.10: the driver ignores used.flags; avail_event tells it
		 * where to notify. Disabling leaves it behind (the driver then
		 * notifies at most once more, which is harmless). */
		if (enable) {
			st16_relaxed(vq->used + USED_RING + 8u * vq->size, vq->last_avail_idx);
			note_write(vq, vq->used_gpa + USED_RING + 8ull * vq->size, 2);
		}
	} else {
		st16_relaxed(vq->used + USED_FLAGS, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
		note_write(vq, vq->used_gpa + USED_FLAGS, 2);
	}
	if (!enable)
		return false;
	/* Publish the request before re-reading avail.idx: a buffer added in
	 * between is then either seen here or notified. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ld16_acquire(vq->avail + AVAIL_IDX) != vq->last_avail_idx;
}
