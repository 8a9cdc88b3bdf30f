/* virtio-rng (VIRTIO 1.2 §5.4): see rng.h.
 *
 * §5.4.6: "The device MUST place one or more random bytes into the buffer,
 * but it MAY use less than the entire buffer length." The driver only gives
 * device-writable buffers (§5.4.6.1); a readable one is a driver error, and
 * the device stops (NEEDS_RESET) rather than guess. Requests are served
 * synchronously in notify: getrandom() on an initialised host pool does not
 * block, and each request is capped at VIRTIO_RNG_MAX_REQUEST bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bus.h"
#include "virtio/rng.h"
#include "vm.h"

/* Fill [p, p + len) from getrandom; bytes actually filled (short only if the
 * host refuses, which it should never do). */
static uint32_t fill_random(void *p, uint32_t len)
{
	uint32_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)p + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (uint32_t)n;
	}
	return done;
}

static void rng_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtq *vq = &vdev->vq[q];
	struct virtq_seg segs[VIRTIO_RNG_QUEUE_SIZE];
	struct virtq_chain c;
	bool pushed = false;

	for (;;) {
		uint32_t written = 0;

		virtq_chain_init(&c, segs, VIRTIO_RNG_QUEUE_SIZE);
		if (virtq_pop(vq, &c) != 1)
			break; /* empty, or broken (the device already failed) */
		if (c.nr_readable) {
			virtio_dev_fail(vdev, "device-readable buffer in a request");
			break;
		}
		/* Fill the writable buffers in order, up to the cap; the used
		 * length counts from the first writable byte on. */
		for (unsigned i = 0; i < c.nr_segs && written < VIRTIO_RNG_MAX_REQUEST; i++) {
			uint32_t want = c.seg[i].len, got;
			if (want > VIRTIO_RNG_MAX_REQUEST - written)
				want = VIRTIO_RNG_MAX_REQUEST - written;
			got = fill_random(c.seg[i].ptr, want);
			written += got;
			if (got < want)
				break;
		}
		if (virtq_push_chain(vq, &c, written))
			break;
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify_used(vdev, q);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
	.config_len = 0,
	.notify = rng_notify,
};

int virtio_rng_create(struct guest_mem *mem, const struct irq_router *router,
		      const struct virtio_mmio_params *p, struct device **out)
{
	/* No state of its own: everything lives in the transport's vdev. */
	struct device *dev = virtio_mmio_create(mem, router, p, &rng_ops, NULL, 0);

	if (!dev)
		return -EINVAL;
	*out = dev;
	return 0;
}

int virtio_rng_attach(struct vm *vm, const struct virtio_mmio_params *p, struct virtio_dev **out)
{
	struct device *dev;
	int rc = virtio_rng_create(&vm->mem, &vm->irq, p, &dev);

	if (rc)
		return rc;
	vm_add_device(vm, dev);
	rc = bus_register(&vm->mmio, p->base, p->len, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = virtio_mmio_vdev(dev);
	return 0;
}
