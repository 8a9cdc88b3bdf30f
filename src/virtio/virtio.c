/* The transport-independent half of a virtio device (see virtio.h). */
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"

/* Queue violations land here: the device as a whole needs a reset. Called
 * from virtq_pop with vdev->lock held. */
static void virtio_dev_on_violation(void *opaque, struct virtq *vq, const char *why)
{
	struct virtio_dev *vdev = opaque;
	log_ratelimited(&vdev->rl, "%s: queue %u: %s; device needs reset", vdev->ops->name,
			vq->index, why);
	virtio_dev_fail(vdev, NULL);
}

int virtio_dev_init(struct virtio_dev *vdev, const struct virtio_device_ops *ops, void *opaque,
		    struct guest_mem *mem, uint64_t features)
{
	uint16_t qmax = ops->queue_max_size;

	if (!ops->name || ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    qmax == 0 || (qmax & (qmax - 1)) || qmax > VIRTQ_MAX_SIZE || !ops->notify)
		return -EINVAL;
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->opaque = opaque;
	vdev->mem = mem;
	vdev->device_features = features | VIRTIO_TRANSPORT_FEATURES;
	vdev->rl = (struct ratelimit)RATELIMIT_INIT(5);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		vdev->vq[i].index = i;
		vdev->vq[i].on_violation = virtio_dev_on_violation;
		vdev->vq[i].violation_opaque = vdev;
	}
	pthread_mutex_init(&vdev->lock, NULL);
	return 0;
}

void virtio_dev_fini(struct virtio_dev *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
}

static void virtio_dev_interrupt(struct virtio_dev *vdev, uint32_t bits)
{
	if (vdev->transport && vdev->transport->interrupt)
		vdev->transport->interrupt(vdev, bits);
}

void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned q)
{
	if (q >= vdev->ops->num_queues)
		return;
	if (virtq_should_notify(&vdev->vq[q]))
		virtio_dev_interrupt(vdev, VIRTIO_ISR_QUEUE);
}

void virtio_dev_config_changed(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_interrupt(vdev, VIRTIO_ISR_CONFIG);
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *why)
{
	if (why)
		log_ratelimited(&vdev->rl, "%s: %s; device needs reset", vdev->ops->name, why);
	/* Stop touching the guest's rings until the driver resets us. */
	for (unsigned i = 0; i < vdev->ops->num_queues; i++)
		vdev->vq[i].broken = true;
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* §2.1.2: "If DRIVER_OK is set, after it sets DEVICE_NEEDS_RESET, the
	 * device MUST send a device configuration change notification". */
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_interrupt(vdev, VIRTIO_ISR_CONFIG);
}

void virtio_dev_reset(struct virtio_dev *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&vdev->vq[i]);
	vdev->driver_features = 0;
	vdev->status = 0;
}
