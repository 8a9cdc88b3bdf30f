/* libFuzzer harness for virtio-console (src/virtio/console.c) behind the
 * virtio-mmio transport: the input is a program run by a hostile driver and
 * a host side at once — register reads and writes, stores into guest RAM
 * (rings, descriptors), host input pushed (virtio_console_rx_push), output
 * drained (virtio_console_tx_drain) and snapshot round trips — optionally
 * after a Linux-like bring-up (the first byte). After every step:
 *
 *   - the interrupt line is up exactly while InterruptStatus is non-zero;
 *   - the output ring never holds more than its size, and what the host
 *     drains is never more than it holds;
 *   - host input is only taken while the driver is live (DRIVER_OK, no
 *     NEEDS_RESET), and never more than offered;
 *   - NEEDS_RESET means every queue is stopped.
 *
 * Any breach traps; ASan and UBSan catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "snapshot.h"
#include "virtio/console.h"
#include "vm.h"

#define WINDOW 0x10000ull
#define RAM    (16ull << 20)

#define require(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_virtio_console: %s:%d: %s\n",    \
				__FILE__, __LINE__, #c);                       \
			__builtin_trap();                                      \
		}                                                              \
	} while (0)

/* console.c's virtio_console_attach refers to it; the harness never
 * attaches. */
void vm_add_device(struct vm *vm, struct device *dev)
{
	(void)vm;
	(void)dev;
	__builtin_trap();
}

static int line_level;
static unsigned host_calls;

static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	line_level = level;
	return 0;
}

static const struct irq_router router = { .set_level = irq_set };

static void host_call(void *opaque)
{
	(void)opaque;
	host_calls++;
}

static const struct virtio_console_host_ops host = {
	.tx_notify = host_call, .rx_space = host_call,
};

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

static void wr(struct device *dev, uint64_t off, uint32_t v)
{
	dev->ops->write(dev, 0, off, 4, v);
}

static void check(struct device *dev)
{
	struct virtio_dev *vdev = virtio_mmio_vdev(dev);
	uint32_t status = rd(dev, VIRTIO_MMIO_STATUS);
	uint32_t isr = rd(dev, VIRTIO_MMIO_INTERRUPT_STATUS);

	require(line_level == (isr != 0));
	require(virtio_console_tx_pending(dev) <= VIRTIO_CONSOLE_TX_RING);
	for (unsigned q = 0; q < 2; q++)
		if (status & VIRTIO_STATUS_NEEDS_RESET)
			require(vdev->vq[q].broken);
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

/* One host action: 0 push input, 1 drain output, 2 snapshot round trip. */
static void host_step(struct device *dev, unsigned what, unsigned n, const uint8_t *bytes)
{
	static uint8_t buf[VIRTIO_CONSOLE_TX_RING + 1];
	struct virtio_dev *vdev = virtio_mmio_vdev(dev);

	switch (what % 3) {
	case 0: {
		uint8_t status = vdev->status;
		bool live = (status & VIRTIO_STATUS_DRIVER_OK) &&
			    !(status & VIRTIO_STATUS_NEEDS_RESET);
		size_t len = n % 8, took = virtio_console_rx_push(dev, bytes, len);
		require(took <= len);
		if (!live)
			require(took == 0);
		break;
	}
	case 1: {
		size_t before = virtio_console_tx_pending(dev), want = (size_t)n * 256 + 1;
		size_t got = virtio_console_tx_drain(dev, buf, want);
		require(got <= want && got <= before);
		break;
	}
	case 2: {
		/* Save and restore into the same device. Restore may refuse (the
		 * driver rewrote a half-taken chain); the device is then reset. */
		struct snap_writer w;
		struct snap_reader r;
		snap_writer_init(&w);
		require(dev->ops->save(dev, &w) == 0);
		require(snap_finish(&w) == 0);
		require(snap_reader_init(&r, w.buf, w.len) == 0);
		if (dev->ops->restore(dev, &r) != 0)
			require(rd(dev, VIRTIO_MMIO_STATUS) == 0);
		snap_writer_free(&w);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[4] = { 4, 1, 2, 8 };
	struct guest_mem *mem = fuzz_mem();
	const struct virtio_mmio_params p = { .base = 0xd0000000, .len = VIRTIO_MMIO_WINDOW,
					      .gsi = 16, .index = 0 };
	struct device *dev;
	uint8_t *low = gm_ptr(mem, 0, WINDOW);

	require(low);
	memset(low, 0, WINDOW);
	line_level = 0;
	require(virtio_console_create(mem, &router, &p, &host, &dev) == 0);
	/* A fresh log budget per run: silence it (see fuzz_virtio_mmio.c). */
	virtio_mmio_vdev(dev)->rl.burst = virtio_mmio_vdev(dev)->rl.tokens = 0;

	if (size < 1)
		goto out;
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
			off %= VIRTIO_MMIO_WINDOW;
			dev->ops->write(dev, 0, off, sz, v);
			break;
		case 1:
			/* Notify: the most interesting register, made common. */
			wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, v & 1);
			break;
		case 2:
			off %= VIRTIO_MMIO_WINDOW;
			(void)dev->ops->read(dev, 0, off, sz);
			break;
		case 3:
		case 4:
			memcpy(low + (off % (WINDOW - 3)), &v, 4);
			break;
		case 5:
			memcpy(low + (off % (WINDOW - 1)), &v, 2);
			break;
		case 6:
		case 7:
			host_step(dev, s[1], s[2], s + 4);
			break;
		}
		check(dev);
	}
out:
	dev->ops->reset(dev);
	require(line_level == 0);
	dev->ops->destroy(dev);
	return 0;
}
