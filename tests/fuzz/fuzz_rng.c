/* libFuzzer harness for virtio-rng (src/virtio/rng.c) through the
 * virtio-mmio transport, driven by fuzz_driver.h's driver.
 *
 * Input: one byte of set-up (EVENT_IDX, INDIRECT_DESC), then requests: 1..8
 * buffers of any size up to 68 KiB (past the 64 KiB per-request cap),
 * device-writable or — a driver error (§5.4.6.1) — readable, direct or
 * indirect; a notify after any request.
 *
 * Besides fuzz_driver.h's invariants (one used element per request or
 * NEEDS_RESET, used length within the writable bytes, RAM written only in
 * writable buffers), it checks:
 *   - a chain with a device-readable buffer puts the device in NEEDS_RESET
 *     and is not answered; every other chain is answered;
 *   - the used length is at least 1 (§5.4.6: "one or more random bytes")
 *     and at most VIRTIO_RNG_MAX_REQUEST;
 *   - the device wrote exactly the bytes it reports: the first used_len
 *     writable bytes, in order; the rest keep the harness's poison;
 *   - the bytes look random (32 bytes are not all the poison). */
#include "fuzz_driver.h"
#include "virtio/rng.h"

#define POISON 0xa5

static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	return 0;
}

static const struct irq_router router = { .set_level = irq_set };

static void on_used(void *ctx, struct fd_driver *d, struct fd_req *r)
{
	static uint8_t poison[0x12000];
	uint32_t seen = 0, head = 0;
	uint8_t first[32];

	(void)ctx;
	if (!poison[0])
		memset(poison, POISON, sizeof(poison));
	require(r->used_len >= 1 && r->used_len <= VIRTIO_RNG_MAX_REQUEST);
	for (unsigned i = 0; i < r->nbufs; i++) {
		const uint8_t *p = d->ram + r->buf[i].gpa;
		uint32_t len = r->buf[i].len, keep;
		require(r->buf[i].writable && len <= sizeof(poison));
		/* Bytes from used_len on are untouched (whole-buffer compares:
		 * the harness is instrumented, a byte loop would dominate). */
		keep = seen >= r->used_len ? 0 : r->used_len - seen < len ? r->used_len - seen : len;
		require(memcmp(p + keep, poison, len - keep) == 0);
		for (uint32_t k = 0; k < keep && head < sizeof(first); k++)
			first[head++] = p[k];
		seen += len;
	}
	if (r->used_len >= 32)
		require(memcmp(first, poison, sizeof(first)) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fd_in in = { data, size };
	struct fd_driver *d = fd_get();
	const struct virtio_mmio_params p = { .base = 0xd0000000, .len = VIRTIO_MMIO_WINDOW,
					      .gsi = 5, .index = 0 };
	uint8_t setup = in_u8(&in);
	uint64_t want = ~0ull;

	require(virtio_rng_create(&d->mem, &router, &p, &d->dev) == 0);
	virtio_mmio_vdev(d->dev)->rl.burst = virtio_mmio_vdev(d->dev)->rl.tokens = 0;
	if (!(setup & 1))
		want &= ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!(setup & 2))
		want &= ~VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	fd_bringup(d, want);

	while (in.n) {
		struct fd_req r;
		uint8_t op = in_u8(&in);
		bool notify = op & 0x80, placed = true;

		memset(&r, 0, sizeof(r));
		r.indirect = op & 0x40;
		r.nbufs = 1 + (op & 7);
		for (unsigned i = 0; i < r.nbufs; i++) {
			uint16_t code = in_u16(&in);
			uint32_t len = (code & 0x8000) ? 0x1000u * (code & 0x11) + (code >> 5 & 0x3ff)
						       : code % 300;
			uint64_t gpa = fd_alloc(d, len ? len : 1, code >> 12 & 3);
			if (!gpa) {
				placed = false;
				break;
			}
			/* Readable now and then: a driver error. */
			r.buf[i] = (struct fd_buf){ gpa, len, !(code & 0x4000) || !(op & 0x08) };
			memset(d->ram + gpa, POISON, len);
			memset(d->mirror + gpa, POISON, len);
		}
		for (unsigned i = 0; placed && i < r.nbufs; i++)
			if (!r.buf[i].writable)
				r.expect_fail = true; /* §5.4.6.1: the device stops */
		if (!placed || !fd_post(d, &r))
			notify = true;
		if (notify || !in.n)
			fd_run_batch(d, on_used, NULL, want);
		if (!placed)
			break;
	}
	fd_run_batch(d, on_used, NULL, want);
	d->dev->ops->reset(d->dev);
	d->dev->ops->destroy(d->dev);
	return 0;
}
