/* virtio-rng, the entropy device (VIRTIO 1.2 §5.4): one request queue of
 * device-writable buffers, each filled from the host's getrandom(). No
 * feature bits, no config space. */
#ifndef ISOLA_VIRTIO_RNG_H
#define ISOLA_VIRTIO_RNG_H

#include "device.h"
#include "irq.h"
#include "virtio/mmio.h"

#define VIRTIO_RNG_QUEUE_SIZE 64
/* Bytes given per request at most, so that one guest request cannot keep a
 * vCPU thread in getrandom() for long. */
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024)

/* A virtio-mmio virtio-rng device (for tests and callers that register the
 * window themselves). 0 or -EINVAL/-ENOMEM. */
int virtio_rng_create(struct guest_mem *mem, const struct irq_router *router,
		      const struct virtio_mmio_params *p, struct device **out)
	__attribute__((warn_unused_result));

/* Create and attach to the VM (vm_add_device, window on vm->mmio). out may
 * be NULL. 0 or -errno. */
int virtio_rng_attach(struct vm *vm, const struct virtio_mmio_params *p,
		      struct virtio_dev **out) __attribute__((warn_unused_result));

#endif
