/* libFuzzer harness for the split-virtqueue walker (src/virtio/queue.c).
 *
 * The input is a guest: a few bytes of queue parameters, then the contents
 * of the first 64 KiB of guest RAM, where the rings live packed from address
 * 0 (avail, used, then the descriptors: short inputs reach all three) and where
 * descriptors may point (buffers, indirect tables) — or anywhere else: the
 * guest has 3 GiB + 64 KiB of RAM, so the MMIO hole, the high region and
 * the end of RAM are all reachable. The harness pops and pushes until the
 * queue is empty or broken and checks every chain it is given:
 *
 *   - segments lie entirely in guest RAM (the host pointer is what gm_ptr
 *     gives for the same range), readable ones before writable ones;
 *   - lengths add up, stay below 2^32, and the segment count within capacity;
 *   - a violation leaves the queue broken: later calls return -EIO.
 *
 * Any breach is a crash (__builtin_trap) for libFuzzer to report; ASan and
 * UBSan catch the rest. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "virtio/queue.h"

#define WINDOW   0x10000ull          /* guest bytes the input can fill */
#define RAM      (3ull * (1ull << 30) + WINDOW) /* [0, 3G) and [4G, 4G+64K) */
#define MAX_SEGS 64
#define PARAMS   4

#define require(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_virtq: %s:%d: %s\n", __FILE__,   \
				__LINE__, #c);                                 \
			__builtin_trap();                                      \
		}                                                              \
	} while (0)

static struct guest_mem *fuzz_mem(void)
{
	static struct guest_mem mem;
	static int ready;
	if (!ready) {
		if (gm_init(&mem, RAM) != 0) {
			fprintf(stderr, "fuzz_virtq: gm_init failed\n");
			abort();
		}
		ready = 1;
	}
	return &mem;
}

/* Is [p, p+len) inside one region's host mapping, and is it where gpa is? */
static void check_seg(struct guest_mem *mem, const struct virtq_seg *s)
{
	require(s->len > 0);
	require(s->ptr != NULL);
	require(gm_ptr(mem, s->gpa, s->len) == s->ptr);
	int inside = 0;
	for (int i = 0; i < mem->nr_regions; i++) {
		const struct gm_region *r = &mem->region[i];
		uintptr_t b = (uintptr_t)r->host, p = (uintptr_t)s->ptr;
		if (p >= b && p - b < r->size && s->len <= r->size - (p - b))
			inside = 1;
	}
	require(inside);
	/* Touch what the input controls only (the rest of RAM stays
	 * uncommitted): the device writes its writable buffers. */
	if (s->writable && s->gpa < WINDOW) {
		uint64_t n = s->len < WINDOW - s->gpa ? s->len : WINDOW - s->gpa;
		memset(s->ptr, 0x5a, n > 64 ? 64 : n);
	}
}

static void check_chain(struct guest_mem *mem, const struct virtq *vq,
			const struct virtq_chain *c)
{
	uint64_t rd = 0, wr = 0;
	require(c->head < vq->size);
	require(c->nr_segs >= 1 && c->nr_segs <= c->cap);
	require(c->nr_readable <= c->nr_segs);
	for (unsigned i = 0; i < c->nr_segs; i++) {
		const struct virtq_seg *s = &c->seg[i];
		require(s->writable == (i >= c->nr_readable));
		check_seg(mem, s);
		if (s->writable)
			wr += s->len;
		else
			rd += s->len;
	}
	require(rd == c->readable_len && wr == c->writable_len);
	require(rd + wr <= UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *mem = fuzz_mem();
	struct virtq vq;
	struct virtq_seg segs[MAX_SEGS];
	struct virtq_chain c;
	uint8_t *low, *high;
	int rc;

	if (size < PARAMS)
		return 0;
	/* Parameters: queue size 1..256, features, segment capacity, and
	 * where the device's indices start (wrap-around). */
	uint16_t qsize = (uint16_t)(1u << (data[0] % 9));
	bool event_idx = data[1] & 1, indirect = data[1] & 2;
	unsigned cap = 1 + (data[1] >> 2) % MAX_SEGS;
	uint16_t start = (uint16_t)(data[2] | data[3] << 8);
	data += PARAMS;
	size -= PARAMS;

	low = gm_ptr(mem, 0, WINDOW);
	high = gm_ptr(mem, GM_4G, WINDOW);
	require(low && high);
	memset(low, 0, WINDOW);
	memset(high, 0, WINDOW);
	memcpy(low, data, size < WINDOW ? size : WINDOW);
	/* Bytes past the first window seed the high region. */
	if (size > WINDOW)
		memcpy(high, data + WINDOW, size - WINDOW < WINDOW ? size - WINDOW : WINDOW);

	/* avail at 0 (2-aligned), used next (4-aligned), descriptors next
	 * (16-aligned). */
	uint64_t avail = 0;
	uint64_t used = (virtq_avail_bytes(qsize) + 3) & ~3ull;
	uint64_t desc = (used + virtq_used_bytes(qsize) + 15) & ~15ull;
	memset(&vq, 0, sizeof(vq));
	rc = virtq_setup(&vq, mem, qsize, VIRTQ_MAX_SIZE, desc, avail, used, event_idx, indirect);
	require(rc == 0);
	vq.last_avail_idx = vq.used_idx = start;
	virtq_chain_init(&c, segs, cap);

	/* avail.idx can be at most size ahead, so this ends within size pops (twice
	 * that if the device's own buffer writes land on avail.idx). */
	for (unsigned n = 0;; n++) {
		require(n <= 2u * qsize + 1);
		unsigned pending = virtq_pending(&vq);
		rc = virtq_pop(&vq, &c);
		if (rc == 0) {
			require(pending == 0);
			break;
		}
		if (rc < 0) {
			require(rc == -EPROTO);
			require(vq.broken && vq.violations == 1);
			require(virtq_pop(&vq, &c) == -EIO);
			require(virtq_push(&vq, 0, 0) == -EIO);
			require(!virtq_should_notify(&vq));
			break;
		}
		require(rc == 1);
		check_chain(mem, &vq, &c);
		require(virtq_push_chain(&vq, &c, c.writable_len) == 0);
		(void)virtq_should_notify(&vq);
		/* The used ring says what we pushed. */
		uint16_t used_idx;
		memcpy(&used_idx, low + used + 2, 2);
		require(used_idx == vq.used_idx);
	}
	(void)virtq_set_notify(&vq, false);
	(void)virtq_set_notify(&vq, true);
	return 0;
}
