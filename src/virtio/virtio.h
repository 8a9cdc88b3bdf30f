/* What a virtio device sees of its transport (VIRTIO 1.2 §2, §3).
 *
 * A device (blk, console, rng, ...) is a `struct virtio_device_ops` table and
 * its own state; a transport (virtio-mmio today, PCI later) owns a
 * `struct virtio_dev`, negotiates features, holds the queues and calls the
 * device through the table. Devices never know which transport they are on.
 *
 * Locking: vdev->lock protects the device status, the negotiated features
 * and every queue. The transport holds it while it calls any of the ops
 * below (so they run one at a time); code that touches queues from another
 * thread (an I/O completion, later) takes it with virtio_dev_lock(). The
 * interrupt helpers (virtio_dev_notify_used, virtio_dev_config_changed,
 * virtio_dev_fail) may be called with it held: the transport's interrupt
 * state has its own leaf lock. */
#ifndef ISOLA_VIRTIO_VIRTIO_H
#define ISOLA_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "memory.h"
#include "virtio/queue.h"

/* Device IDs (§5). */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

/* Reserved (device-independent) feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED   34
#define VIRTIO_F_IN_ORDER      35

#define VIRTIO_BIT(b) (1ull << (b))

/* Transport-offered bits every device gets: modern interface, indirect
 * tables and event-index suppression (the queue library handles both). */
#define VIRTIO_TRANSPORT_FEATURES \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev;
struct snap_writer;
struct snap_reader;

struct virtio_device_ops {
	const char *name;           /* "virtio-blk", for log lines */
	uint32_t device_id;         /* VIRTIO_ID_* */
	unsigned num_queues;        /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;    /* QueueNumMax, a power of two <= 32768 */
	uint32_t config_len;        /* bytes of device-specific config space */

	/* Device config space, [off, off+len) already checked against
	 * config_len; little-endian fields (§2.5). Either may be NULL. */
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, void *buf, unsigned len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const void *buf, unsigned len);
	/* FEATURES_OK is being set with vdev->driver_features: 0 to accept,
	 * -errno to refuse (the bit then stays clear, §3.1.1 step 6). May be
	 * NULL (accept). */
	int (*features_ok)(struct virtio_dev *vdev);
	/* DRIVER_OK was set: the queues are configured; start back ends. */
	void (*activate)(struct virtio_dev *vdev);
	/* Available-buffer notification for queue q (enabled, DRIVER_OK, not
	 * NEEDS_RESET). Runs on the vCPU thread that wrote the notify
	 * register, or on the event loop thread when an ioeventfd took the
	 * write (vm_eventfd.h); always under vdev->lock. */
	void (*notify)(struct virtio_dev *vdev, unsigned q);
	/* Device reset (status 0 or system reset): drop in-flight requests and
	 * device-specific state. The transport resets the queues itself. */
	void (*reset)(struct virtio_dev *vdev);
	/* Before a snapshot, before the transport saves the queues: finish the
	 * work in flight, so that every chain the device took from a queue is
	 * answered in the used ring and the saved queue positions are final
	 * (a device whose requests run elsewhere, virtio-blk's back end, waits
	 * for them here). Under vdev->lock; 0 or -errno (no snapshot). May be
	 * NULL: the device answers every chain before notify returns. */
	int (*quiesce)(struct virtio_dev *vdev);
	/* Device-specific state for snapshots; may be NULL when there is none. */
	int (*save)(struct virtio_dev *vdev, struct snap_writer *w);
	int (*restore)(struct virtio_dev *vdev, struct snap_reader *r);
	/* Free the device's own state (opaque). */
	void (*destroy)(struct virtio_dev *vdev);
};

/* How a virtio_dev reaches its transport's interrupt. */
struct virtio_transport_ops {
	/* Raise a used-buffer (isr bit 0) or config-change (bit 1) interrupt. */
	void (*interrupt)(struct virtio_dev *vdev, uint32_t isr_bits);
};

#define VIRTIO_ISR_QUEUE  0x1
#define VIRTIO_ISR_CONFIG 0x2

struct virtio_dev {
	const struct virtio_device_ops *ops;
	void *opaque;                   /* the device's own state */
	struct guest_mem *mem;
	pthread_mutex_t lock;           /* see the top of this file */

	uint64_t device_features;       /* offered: device's | VIRTIO_TRANSPORT_FEATURES */
	uint64_t driver_features;       /* written by the driver; fixed at FEATURES_OK */
	uint8_t status;                 /* VIRTIO_STATUS_* */
	uint32_t config_generation;     /* bumped by virtio_dev_config_changed */
	struct virtq vq[VIRTIO_MAX_QUEUES];

	const struct virtio_transport_ops *transport;
	void *transport_opaque;
	unsigned index;                 /* the transport's device number (ACPI _UID):
					 * devices use it to make their snapshot
					 * tags unique */
	struct ratelimit rl;            /* this device's guest-provoked log lines */
};

/* Fill vdev for a device with these ops and its own features (the transport
 * adds VIRTIO_TRANSPORT_FEATURES). 0 or -EINVAL (bad ops table). */
int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_device_ops *ops, void *opaque,
		    struct guest_mem *mem, uint64_t features) __attribute__((warn_unused_result));
void virtio_dev_fini(struct virtio_dev *vdev);

static inline void virtio_dev_lock(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
}

static inline void virtio_dev_unlock(struct virtio_dev *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
}

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features & VIRTIO_BIT(bit));
}

/* After pushing used buffers on queue q: interrupt the driver unless it
 * suppressed it (virtq_should_notify). Caller holds the lock. */
void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned q);

/* The device changed its config space: new generation, config interrupt
 * (if DRIVER_OK). */
void virtio_dev_config_changed(struct virtio_dev *vdev);

/* The device cannot go on (a guest violation, §2.1.2): set NEEDS_RESET,
 * stop every queue, send a config-change interrupt if DRIVER_OK, log one
 * rate-limited line. The queue library calls it for ring violations. */
void virtio_dev_fail(struct virtio_dev *vdev, const char *why);

/* Device reset as §2.1 / §4.2 require: the device's reset op, queues
 * disabled, features and status cleared. Caller holds the lock. */
void virtio_dev_reset(struct virtio_dev *vdev);

#endif
