/* libFuzzer harness for the virtio-mmio transport (src/virtio/mmio.c) with
 * the queue library and a small device behind it: the input is a program a
 * hostile driver runs — register reads and writes of any size at any offset
 * of the window, stores into guest RAM (rings, descriptors), and snapshot
 * round trips, optionally after a Linux-like bring-up (the first byte) —
 * and after every step the harness checks the transport's
 * invariants:
 *
 *   - the interrupt line is up exactly while InterruptStatus is non-zero;
 *   - DRIVER_OK is never set without FEATURES_OK, and FEATURES_OK only with
 *     VERSION_1 and offered features;
 *   - a queue reads ready only if its ring is enabled with a valid size;
 *   - NEEDS_RESET means every queue is stopped.
 *
 * Any breach traps; ASan and UBSan catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "snapshot.h"
#include "virtio/mmio.h"
#include "vm.h"

#define WINDOW 0x10000ull
#define RAM    (16ull << 20)
#define QMAX   16

#define require(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_virtio_mmio: %s:%d: %s\n",       \
				__FILE__, __LINE__, #c);                       \
			__builtin_trap();                                      \
		}                                                              \
	} while (0)

/* mmio.c's virtio_mmio_attach refers to it; the harness never attaches. */
void vm_add_device(struct vm *vm, struct device *dev)
{
	(void)vm;
	(void)dev;
	__builtin_trap();
}

struct fake {
	uint8_t config[12];
	unsigned processed;
};

static void fake_config_read(struct virtio_dev *vdev, uint32_t off, void *buf, unsigned len)
{
	struct fake *f = vdev->opaque;
	require(off < sizeof(f->config) && len <= sizeof(f->config) - off);
	memcpy(buf, f->config + off, len);
}

static void fake_config_write(struct virtio_dev *vdev, uint32_t off, const void *buf, unsigned len)
{
	struct fake *f = vdev->opaque;
	require(off < sizeof(f->config) && len <= sizeof(f->config) - off);
	memcpy(f->config + off, buf, len);
}

static void fake_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake *f = vdev->opaque;
	struct virtq_seg segs[8];
	struct virtq_chain c;
	int rc;

	require(q < vdev->ops->num_queues);
	require(vdev->vq[q].enabled);
	require(vdev->status & VIRTIO_STATUS_DRIVER_OK);
	virtq_chain_init(&c, segs, 8);
	while ((rc = virtq_pop(&vdev->vq[q], &c)) == 1) {
		for (unsigned i = c.nr_readable; i < c.nr_segs; i++)
			if (c.seg[i].gpa < WINDOW)
				memset(c.seg[i].ptr, 0xab, c.seg[i].len < 16 ? c.seg[i].len : 16);
		require(virtq_push_chain(&vdev->vq[q], &c, c.writable_len) == 0);
		f->processed++;
	}
	virtio_dev_notify_used(vdev, q);
}

static const struct virtio_device_ops fake_ops = {
	.name = "fuzz",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 2,
	.queue_max_size = QMAX,
	.config_len = 12,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.notify = fake_notify,
};

static int line_level;

static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	line_level = level;
	return 0;
}

static const struct irq_router router = { .set_level = irq_set };

static struct guest_mem *fuzz_mem(void)
{
	static struct guest_mem mem;
	static int ready;
	if (!ready) {
		if (gm_init(&mem, RAM) != 0)
			abort();
		ready = 1;
	}
	return &mem;
}

static uint32_t rd(struct device *dev, uint64_t off)
{
	return (uint32_t)dev->ops->read(dev, 0, off, 4);
}

static void check(struct device *dev)
{
	struct virtio_dev *vdev = virtio_mmio_vdev(dev);
	uint32_t status = rd(dev, VIRTIO_MMIO_STATUS);
	uint32_t isr = rd(dev, VIRTIO_MMIO_INTERRUPT_STATUS);

	require(line_level == (isr != 0));
	require(virtio_mmio_irq_level(dev) == line_level);
	require((isr & ~3u) == 0);
	if (status & VIRTIO_STATUS_DRIVER_OK)
		require(status & VIRTIO_STATUS_FEATURES_OK);
	if (status & VIRTIO_STATUS_FEATURES_OK) {
		require(vdev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
		require(!(vdev->driver_features & ~vdev->device_features));
	}
	for (unsigned q = 0; q < fake_ops.num_queues; q++) {
		const struct virtq *vq = &vdev->vq[q];
		if (status & VIRTIO_STATUS_NEEDS_RESET)
			require(vq->broken);
		if (vq->enabled)
			require(vq->size && !(vq->size & (vq->size - 1)) && vq->size <= QMAX);
	}
}

static void wr(struct device *dev, uint64_t off, uint32_t v)
{
	dev->ops->write(dev, 0, off, 4, v);
}

/* Rings of queue q (size 8) in the first pages: avail, used, descriptors. */
#define Q_AVAIL(q) (0x0000ull + 0x1000ull * (q))
#define Q_USED(q)  (0x0100ull + 0x1000ull * (q))
#define Q_DESC(q)  (0x0400ull + 0x1000ull * (q))

/* bit 0: negotiate (bit 1 EVENT_IDX, bit 2 INDIRECT_DESC); bit 3: set up
 * both queues; bit 4: DRIVER_OK. */
static void prelude(struct device *dev, uint8_t how)
{
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	if (!(how & 1))
		return;
	wr(dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(dev, VIRTIO_MMIO_STATUS, st);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(dev, VIRTIO_MMIO_DRIVER_FEATURES,
	   (how & 2 ? 1u << VIRTIO_F_EVENT_IDX : 0) | (how & 4 ? 1u << VIRTIO_F_INDIRECT_DESC : 0));
	st |= VIRTIO_STATUS_FEATURES_OK;
	wr(dev, VIRTIO_MMIO_STATUS, st);
	require(rd(dev, VIRTIO_MMIO_STATUS) == st);
	if (how & 8) {
		for (unsigned q = 0; q < 2; q++) {
			wr(dev, VIRTIO_MMIO_QUEUE_SEL, q);
			wr(dev, VIRTIO_MMIO_QUEUE_NUM, 8);
			wr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)Q_DESC(q));
			wr(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)Q_AVAIL(q));
			wr(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)Q_USED(q));
			wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
			require(rd(dev, VIRTIO_MMIO_QUEUE_READY) == 1);
		}
	}
	if (how & 16) {
		wr(dev, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
		require(rd(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[4] = { 4, 1, 2, 8 };
	struct guest_mem *mem = fuzz_mem();
	const struct virtio_mmio_params p = { .base = 0xd0000000, .len = VIRTIO_MMIO_WINDOW,
					      .gsi = 16, .index = 0 };
	struct fake f = { .processed = 0 };
	struct device *dev;
	uint8_t *low = gm_ptr(mem, 0, WINDOW);

	require(low);
	memset(low, 0, WINDOW);
	line_level = 0;
	dev = virtio_mmio_create(mem, &router, &p, &fake_ops, &f, 0x3);
	require(dev);
	/* Every run makes a new device with a fresh log budget: silence it, or
	 * the log lines a hostile driver provokes dominate the run time. */
	virtio_mmio_vdev(dev)->rl.burst = virtio_mmio_vdev(dev)->rl.tokens = 0;

	if (size < 1)
		goto out;
	/* The first byte can run Linux's bring-up first, so that the program
	 * starts from a live device (the fuzzer rarely finds VERSION_1 in the
	 * high feature word by itself). */
	prelude(dev, data[0]);
	data++;
	size--;

	/* 8-byte steps: kind, 16-bit offset, size, 32-bit value. */
	for (size_t i = 0; i + 8 <= size; i += 8) {
		const uint8_t *s = data + i;
		unsigned kind = s[0] % 8;
		uint64_t off = (uint64_t)(s[1] | s[2] << 8);
		unsigned sz = sizes[s[3] & 3];
		uint32_t v = (uint32_t)s[4] | (uint32_t)s[5] << 8 | (uint32_t)s[6] << 16 |
			     (uint32_t)s[7] << 24;

		switch (kind) {
		case 0:
		case 1:
		case 2:
			off %= VIRTIO_MMIO_WINDOW;
			dev->ops->write(dev, 0, off, sz, v);
			break;
		case 3:
			off %= VIRTIO_MMIO_WINDOW;
			(void)dev->ops->read(dev, 0, off, sz);
			break;
		case 4:
		case 5:
			memcpy(low + (off % (WINDOW - 3)), &v, 4);
			break;
		case 6:
			memcpy(low + (off % (WINDOW - 1)), &v, 2);
			break;
		case 7: {
			/* Save and restore into the same device. */
			struct snap_writer w;
			struct snap_reader r;
			snap_writer_init(&w);
			require(dev->ops->save(dev, &w) == 0);
			require(snap_finish(&w) == 0);
			require(snap_reader_init(&r, w.buf, w.len) == 0);
			require(dev->ops->restore(dev, &r) == 0);
			snap_writer_free(&w);
			break;
		}
		}
		check(dev);
	}
out:
	dev->ops->reset(dev);
	require(line_level == 0);
	dev->ops->destroy(dev);
	return 0;
}
