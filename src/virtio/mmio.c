/* virtio-mmio transport, version 2 (VIRTIO 1.2 §4.2); see mmio.h.
 *
 * Locks: vdev.lock (virtio.h) serialises register accesses, the device ops
 * they call and the queues. irq_lock is a leaf lock for InterruptStatus and
 * the line level, so that a device can raise an interrupt with vdev.lock
 * held, or later from an I/O thread, and an ACK cannot lower the line over
 * a bit set at the same moment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "snapshot.h"
#include "virtio/mmio.h"
#include "vm.h"

struct mmio_queue {
	uint32_t num;               /* QueueNum as written */
	bool ready;                 /* QueueReady as the driver reads it */
	uint64_t desc, driver, device;
};

struct virtio_mmio {
	struct device dev;
	struct virtio_dev vdev;
	struct irq_line irq;
	struct virtio_mmio_params p;

	/* Under vdev.lock. */
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	struct mmio_queue q[VIRTIO_MAX_QUEUES];

	pthread_mutex_t irq_lock;   /* protects isr and level */
	uint32_t isr;               /* InterruptStatus */
	int level;

	/* What each queue's ioeventfd handler gets (virtio_mmio_use_ioeventfds). */
	struct mmio_notifier {
		struct virtio_mmio *m;
		unsigned q;
	} notifier[VIRTIO_MAX_QUEUES];
};

static struct virtio_mmio *to_mmio(struct device *dev)
{
	return dev->state;
}

static struct virtio_mmio *vdev_to_mmio(struct virtio_dev *vdev)
{
	return vdev->transport_opaque;
}

/* ---- interrupt --------------------------------------------------------- */

static void mmio_set_isr_locked(struct virtio_mmio *m, uint32_t isr)
{
	int level = isr != 0;
	m->isr = isr;
	if (level != m->level) {
		m->level = level;
		irq_line_set(&m->irq, level);
	}
}

static void mmio_interrupt(struct virtio_dev *vdev, uint32_t bits)
{
	struct virtio_mmio *m = vdev_to_mmio(vdev);
	pthread_mutex_lock(&m->irq_lock);
	mmio_set_isr_locked(m, m->isr | bits);
	pthread_mutex_unlock(&m->irq_lock);
}

static const struct virtio_transport_ops mmio_transport_ops = {
	.interrupt = mmio_interrupt,
};

void virtio_mmio_notify_used(struct device *dev)
{
	mmio_interrupt(&to_mmio(dev)->vdev, VIRTIO_ISR_QUEUE);
}

int virtio_mmio_irq_level(struct device *dev)
{
	struct virtio_mmio *m = to_mmio(dev);
	int level;
	pthread_mutex_lock(&m->irq_lock);
	level = m->level;
	pthread_mutex_unlock(&m->irq_lock);
	return level;
}

struct virtio_dev *virtio_mmio_vdev(struct device *dev)
{
	return &to_mmio(dev)->vdev;
}

/* ---- reset ------------------------------------------------------------- */

/* §4.2.2.1: "Upon reset, the device MUST clear all bits in InterruptStatus
 * and ready bits in the QueueReady register for all queues". */
static void mmio_reset_locked(struct virtio_mmio *m)
{
	virtio_dev_reset(&m->vdev);
	m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
	memset(m->q, 0, sizeof(m->q));
	pthread_mutex_lock(&m->irq_lock);
	mmio_set_isr_locked(m, 0);
	pthread_mutex_unlock(&m->irq_lock);
}

static void mmio_dev_reset(struct device *dev)
{
	struct virtio_mmio *m = to_mmio(dev);
	virtio_dev_lock(&m->vdev);
	mmio_reset_locked(m);
	virtio_dev_unlock(&m->vdev);
}

/* ---- registers --------------------------------------------------------- */

#define mmio_log(m, ...) log_ratelimited(&(m)->vdev.rl, __VA_ARGS__)

static struct mmio_queue *mmio_selected(struct virtio_mmio *m)
{
	return m->queue_sel < m->vdev.ops->num_queues ? &m->q[m->queue_sel] : NULL;
}

static uint32_t mmio_read_reg(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_dev *vdev = &m->vdev;
	struct mmio_queue *q = mmio_selected(m);
	uint32_t v;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION_REG:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return vdev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID_REG:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (m->device_features_sel > 1)
			return 0;
		return (uint32_t)(vdev->device_features >> (32 * m->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? vdev->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		pthread_mutex_lock(&m->irq_lock);
		v = m->isr;
		pthread_mutex_unlock(&m->irq_lock);
		return v;
	case VIRTIO_MMIO_STATUS:
		return vdev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vdev->config_generation;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* No shared memory regions: length and base read as -1. */
		return 0xffffffffu;
	case VIRTIO_MMIO_QUEUE_RESET:
		return 0; /* VIRTIO_F_RING_RESET is not offered */
	default:
		mmio_log(m, "%s: read of write-only or unknown register 0x%03llx",
			 vdev->ops->name, (unsigned long long)off);
		return 0;
	}
}

/* Negotiation when the driver sets FEATURES_OK (§3.1.1 step 5-6, §6.1):
 * only offered bits, and VERSION_1, since this transport has no legacy
 * interface. */
static bool mmio_features_acceptable(struct virtio_mmio *m)
{
	struct virtio_dev *vdev = &m->vdev;
	if (vdev->driver_features & ~vdev->device_features) {
		mmio_log(m, "%s: driver accepted features 0x%llx the device did not offer",
			 vdev->ops->name,
			 (unsigned long long)(vdev->driver_features & ~vdev->device_features));
		return false;
	}
	if (!virtio_has_feature(vdev, VIRTIO_F_VERSION_1)) {
		mmio_log(m, "%s: driver did not accept VIRTIO_F_VERSION_1 (no legacy interface)",
			 vdev->ops->name);
		return false;
	}
	if (vdev->ops->features_ok && vdev->ops->features_ok(vdev) != 0)
		return false;
	return true;
}

static void mmio_write_status(struct virtio_mmio *m, uint32_t val)
{
	struct virtio_dev *vdev = &m->vdev;
	uint8_t old = vdev->status, new = (uint8_t)val;

	if (val == 0) {
		mmio_reset_locked(m);
		return;
	}
	if (val > 0xff || (old & ~new & ~VIRTIO_STATUS_NEEDS_RESET)) {
		/* §2.1.1: the driver MUST NOT clear a status bit (only reset). */
		mmio_log(m, "%s: status 0x%x would clear bits of 0x%x; ignored", vdev->ops->name,
			 val, old);
		return;
	}
	if ((new & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    !mmio_features_acceptable(m))
		new &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back */
	if ((new & VIRTIO_STATUS_DRIVER_OK) && !(new & VIRTIO_STATUS_FEATURES_OK)) {
		mmio_log(m, "%s: DRIVER_OK without FEATURES_OK; ignored", vdev->ops->name);
		new &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	}
	/* NEEDS_RESET is the device's bit: the driver cannot set or clear it. */
	vdev->status = (uint8_t)((new & ~VIRTIO_STATUS_NEEDS_RESET) |
				 (old & VIRTIO_STATUS_NEEDS_RESET));
	if (!(vdev->status & VIRTIO_STATUS_DRIVER_OK) || (old & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (vdev->ops->activate)
		vdev->ops->activate(vdev);
	/* Buffers the driver made available before DRIVER_OK were not served
	 * (§3.1.1: the device uses no buffers before DRIVER_OK) and their
	 * notification was dropped: serve them now. */
	for (unsigned i = 0; i < vdev->ops->num_queues; i++)
		if (m->q[i].ready && !(vdev->status & VIRTIO_STATUS_NEEDS_RESET) &&
		    virtq_pending(&vdev->vq[i]))
			vdev->ops->notify(vdev, i);
}

static void mmio_write_queue_ready(struct virtio_mmio *m, struct mmio_queue *q, uint32_t val)
{
	struct virtio_dev *vdev = &m->vdev;
	unsigned qi = m->queue_sel;
	struct virtq *vq = &vdev->vq[qi];
	int rc;

	if (val == 0) {
		/* Stopping a live queue needs VIRTIO_F_RING_RESET (§2.6.1),
		 * which is not offered: Linux only writes 0 during setup errors
		 * or after a reset. Before DRIVER_OK the device must then leave
		 * the queue's memory alone (§4.2.2.1). */
		if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
			mmio_log(m, "%s: queue %u disabled while the device is live; ignored",
				 vdev->ops->name, qi);
			return;
		}
		q->ready = false;
		virtq_reset(vq);
		return;
	}
	if (q->ready)
		return;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		mmio_log(m, "%s: queue %u enabled after DRIVER_OK; ignored", vdev->ops->name, qi);
		return;
	}
	if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* The queue's format depends on EVENT_IDX/INDIRECT_DESC. */
		mmio_log(m, "%s: queue %u enabled before FEATURES_OK; ignored", vdev->ops->name,
			 qi);
		return;
	}
	rc = virtq_setup(vq, vdev->mem, q->num > 0xffff ? 0 : (uint16_t)q->num,
			 vdev->ops->queue_max_size, q->desc, q->driver, q->device,
			 virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX),
			 virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC));
	if (rc) {
		mmio_log(m, "%s: queue %u refused: size %u (max %u), desc 0x%llx, driver 0x%llx, "
			 "device 0x%llx must be a power of two and aligned areas in RAM",
			 vdev->ops->name, qi, q->num, vdev->ops->queue_max_size,
			 (unsigned long long)q->desc, (unsigned long long)q->driver,
			 (unsigned long long)q->device);
		return;
	}
	q->ready = true;
}

/* Queue configuration is frozen once the queue is ready or the device is
 * live (§4.2.2.2: "When QueueReady is not zero, the driver MUST NOT access
 * QueueNum, QueueDesc..."): a rewrite could point the device at memory the
 * driver has not set up, mid-request. */
static struct mmio_queue *mmio_queue_writable(struct virtio_mmio *m, uint64_t off)
{
	struct mmio_queue *q = mmio_selected(m);
	if (!q)
		return NULL;
	if (q->ready || (m->vdev.status & VIRTIO_STATUS_DRIVER_OK)) {
		mmio_log(m, "%s: queue %u register 0x%03llx written while the queue is live; "
			 "ignored", m->vdev.ops->name, m->queue_sel, (unsigned long long)off);
		return NULL;
	}
	return q;
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffull) | (uint64_t)v << 32;
}

/* QueueNotify: without VIRTIO_F_NOTIFICATION_DATA the value is the queue
 * index (§4.2.3.3). Spurious notifications are harmless. Under vdev.lock,
 * from the register write (vCPU) or an ioeventfd (event loop). */
static void mmio_queue_notify_locked(struct virtio_mmio *m, uint32_t q)
{
	struct virtio_dev *vdev = &m->vdev;

	if (q >= vdev->ops->num_queues || !m->q[q].ready ||
	    !(vdev->status & VIRTIO_STATUS_DRIVER_OK) ||
	    (vdev->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	vdev->ops->notify(vdev, q);
}

static void mmio_write_reg(struct virtio_mmio *m, uint64_t off, uint32_t val)
{
	struct virtio_dev *vdev = &m->vdev;
	struct mmio_queue *q;
	unsigned shift;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (vdev->status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)) {
			mmio_log(m, "%s: features written after FEATURES_OK; ignored",
				 vdev->ops->name);
			return;
		}
		if (m->driver_features_sel > 1)
			return; /* no feature bits above 63 */
		shift = 32 * m->driver_features_sel;
		vdev->driver_features = (vdev->driver_features & ~(0xffffffffull << shift)) |
					(uint64_t)val << shift;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NUM:
		if ((q = mmio_queue_writable(m, off)))
			q->num = val;
		return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if ((q = mmio_queue_writable(m, off)))
			set_lo(&q->desc, val);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if ((q = mmio_queue_writable(m, off)))
			set_hi(&q->desc, val);
		return;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		if ((q = mmio_queue_writable(m, off)))
			set_lo(&q->driver, val);
		return;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if ((q = mmio_queue_writable(m, off)))
			set_hi(&q->driver, val);
		return;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		if ((q = mmio_queue_writable(m, off)))
			set_lo(&q->device, val);
		return;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if ((q = mmio_queue_writable(m, off)))
			set_hi(&q->device, val);
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		if ((q = mmio_selected(m)))
			mmio_write_queue_ready(m, q, val);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		mmio_queue_notify_locked(m, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		pthread_mutex_lock(&m->irq_lock);
		mmio_set_isr_locked(m, m->isr & ~val);
		pthread_mutex_unlock(&m->irq_lock);
		return;
	case VIRTIO_MMIO_STATUS:
		mmio_write_status(m, val);
		return;
	case VIRTIO_MMIO_SHM_SEL:
	case VIRTIO_MMIO_QUEUE_RESET:
		return; /* no shared memory, no RING_RESET: nothing to do */
	default:
		mmio_log(m, "%s: write of read-only or unknown register 0x%03llx",
			 vdev->ops->name, (unsigned long long)off);
		return;
	}
}

static bool mmio_config_range(struct virtio_mmio *m, uint64_t off, unsigned size, uint32_t *coff)
{
	uint64_t c = off - VIRTIO_MMIO_CONFIG;
	if (c >= m->vdev.ops->config_len || size > m->vdev.ops->config_len - c) {
		mmio_log(m, "%s: config access at 0x%llx size %u outside the %u-byte config space",
			 m->vdev.ops->name, (unsigned long long)off, size, m->vdev.ops->config_len);
		return false;
	}
	*coff = (uint32_t)c;
	return true;
}

static uint64_t mmio_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct virtio_mmio *m = to_mmio(dev);
	uint64_t v = 0;
	uint32_t coff;

	virtio_dev_lock(&m->vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (mmio_config_range(m, off, size, &coff) && m->vdev.ops->config_read)
			m->vdev.ops->config_read(&m->vdev, coff, &v, size);
	} else if (size == 4 && !(off & 3)) {
		v = mmio_read_reg(m, off);
	} else {
		/* §4.2.2.2: control registers take 32-bit aligned accesses only. */
		mmio_log(m, "%s: %u-byte read at register offset 0x%llx ignored",
			 m->vdev.ops->name, size, (unsigned long long)off);
	}
	virtio_dev_unlock(&m->vdev);
	return v;
}

static void mmio_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
		       uint64_t val)
{
	struct virtio_mmio *m = to_mmio(dev);
	uint32_t coff;

	virtio_dev_lock(&m->vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (mmio_config_range(m, off, size, &coff) && m->vdev.ops->config_write)
			m->vdev.ops->config_write(&m->vdev, coff, &val, size);
	} else if (size == 4 && !(off & 3)) {
		mmio_write_reg(m, off, (uint32_t)val);
	} else {
		mmio_log(m, "%s: %u-byte write at register offset 0x%llx ignored",
			 m->vdev.ops->name, size, (unsigned long long)off);
	}
	virtio_dev_unlock(&m->vdev);
}

/* ---- snapshot ------------------------------------------------------------ */

#define MMIO_SNAP_VERSION 1

/* One section per transport, tagged "VM" + two decimal digits of its index
 * (sections are found by tag, and a VM has several virtio-mmio devices). */
static void mmio_snap_tag(const struct virtio_mmio *m, char tag[4])
{
	tag[0] = 'V';
	tag[1] = 'M';
	tag[2] = (char)('0' + m->p.index / 10 % 10);
	tag[3] = (char)('0' + m->p.index % 10);
}

static int mmio_save(struct device *dev, struct snap_writer *w)
{
	struct virtio_mmio *m = to_mmio(dev);
	struct virtio_dev *vdev = &m->vdev;
	char tag[4];
	int rc = 0;

	mmio_snap_tag(m, tag);
	virtio_dev_lock(vdev);
	if (vdev->ops->quiesce) {
		rc = vdev->ops->quiesce(vdev);
		if (rc) {
			virtio_dev_unlock(vdev);
			return rc;
		}
	}
	snap_begin(w, tag, MMIO_SNAP_VERSION);
	snap_u32(w, vdev->ops->device_id);
	snap_u32(w, m->device_features_sel);
	snap_u32(w, m->driver_features_sel);
	snap_u32(w, m->queue_sel);
	snap_u64(w, vdev->driver_features);
	snap_u8(w, vdev->status);
	snap_u32(w, vdev->config_generation);
	pthread_mutex_lock(&m->irq_lock);
	snap_u32(w, m->isr);
	pthread_mutex_unlock(&m->irq_lock);
	snap_u32(w, vdev->ops->num_queues);
	for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
		const struct virtq *vq = &vdev->vq[i];
		snap_u32(w, m->q[i].num);
		snap_u8(w, m->q[i].ready);
		snap_u64(w, m->q[i].desc);
		snap_u64(w, m->q[i].driver);
		snap_u64(w, m->q[i].device);
		snap_u16(w, vq->last_avail_idx);
		snap_u16(w, vq->used_idx);
		snap_u16(w, vq->signalled_used);
		snap_u8(w, vq->signalled_used_valid);
		snap_u8(w, vq->broken);
	}
	snap_end(w);
	if (vdev->ops->save)
		rc = vdev->ops->save(vdev, w);
	virtio_dev_unlock(vdev);
	return rc ? rc : w->error;
}

static int mmio_restore(struct device *dev, struct snap_reader *r)
{
	struct virtio_mmio *m = to_mmio(dev);
	struct virtio_dev *vdev = &m->vdev;
	struct mmio_queue q[VIRTIO_MAX_QUEUES];
	uint16_t idx[VIRTIO_MAX_QUEUES][3];
	uint8_t flags[VIRTIO_MAX_QUEUES][2];
	uint32_t version, sel[3], gen, isr, nq;
	uint64_t drv_features;
	uint8_t status;
	char tag[4];
	int rc;

	mmio_snap_tag(m, tag);
	rc = snap_open(r, tag, &version);
	if (rc)
		return rc;
	if (version != MMIO_SNAP_VERSION)
		return -ENOTSUP;
	/* Read everything into locals first: a bad snapshot changes nothing. */
	if (snap_get_u32(r) != vdev->ops->device_id)
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		sel[i] = snap_get_u32(r);
	drv_features = snap_get_u64(r);
	status = snap_get_u8(r);
	gen = snap_get_u32(r);
	isr = snap_get_u32(r) & (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);
	nq = snap_get_u32(r);
	if (r->error)
		return r->error;
	/* Before FEATURES_OK the driver may have written anything into
	 * DriverFeatures; after it, only offered bits can be there. */
	if (nq != vdev->ops->num_queues ||
	    ((status & VIRTIO_STATUS_FEATURES_OK) && (drv_features & ~vdev->device_features)))
		return -EINVAL;
	for (unsigned i = 0; i < nq; i++) {
		q[i].num = snap_get_u32(r);
		q[i].ready = snap_get_u8(r) != 0;
		q[i].desc = snap_get_u64(r);
		q[i].driver = snap_get_u64(r);
		q[i].device = snap_get_u64(r);
		for (int k = 0; k < 3; k++)
			idx[i][k] = snap_get_u16(r);
		flags[i][0] = snap_get_u8(r);
		flags[i][1] = snap_get_u8(r);
	}
	if (r->error)
		return r->error;

	virtio_dev_lock(vdev);
	mmio_reset_locked(m);
	m->device_features_sel = sel[0];
	m->driver_features_sel = sel[1];
	m->queue_sel = sel[2];
	vdev->driver_features = drv_features;
	vdev->status = status;
	vdev->config_generation = gen;
	for (unsigned i = 0; i < nq && rc == 0; i++) {
		struct virtq *vq = &vdev->vq[i];
		m->q[i] = q[i];
		vq->broken = flags[i][1] != 0; /* NEEDS_RESET stops idle queues too */
		if (!q[i].ready)
			continue;
		/* The rings must still be valid in the restored memory. */
		rc = virtq_setup(vq, vdev->mem, q[i].num > 0xffff ? 0 : (uint16_t)q[i].num,
				 vdev->ops->queue_max_size, q[i].desc, q[i].driver, q[i].device,
				 virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX),
				 virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC));
		vq->last_avail_idx = idx[i][0];
		vq->used_idx = idx[i][1];
		vq->signalled_used = idx[i][2];
		vq->signalled_used_valid = flags[i][0] != 0;
		vq->broken = flags[i][1] != 0;
	}
	if (rc == 0 && vdev->ops->restore)
		rc = vdev->ops->restore(vdev, r);
	if (rc)
		mmio_reset_locked(m);
	pthread_mutex_lock(&m->irq_lock);
	mmio_set_isr_locked(m, rc ? 0 : isr);
	pthread_mutex_unlock(&m->irq_lock);
	virtio_dev_unlock(vdev);
	return rc;
}

/* ---- lifetime ------------------------------------------------------------ */

static void mmio_destroy(struct device *dev)
{
	struct virtio_mmio *m = to_mmio(dev);
	if (m->vdev.ops->destroy)
		m->vdev.ops->destroy(&m->vdev);
	virtio_dev_fini(&m->vdev);
	pthread_mutex_destroy(&m->irq_lock);
	free(m);
}

static const struct device_ops virtio_mmio_ops = {
	.name = "virtio-mmio",
	.read = mmio_read,
	.write = mmio_write,
	.reset = mmio_dev_reset,
	.save = mmio_save,
	.restore = mmio_restore,
	.destroy = mmio_destroy,
};

struct device *virtio_mmio_create(struct guest_mem *mem, const struct irq_router *router,
				  const struct virtio_mmio_params *p,
				  const struct virtio_device_ops *ops, void *opaque,
				  uint64_t features)
{
	struct virtio_mmio *m;

	if (!p || p->len < VIRTIO_MMIO_CONFIG || p->index > 99 ||
	    ops->config_len > p->len - VIRTIO_MMIO_CONFIG)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (virtio_dev_init(&m->vdev, ops, opaque, mem, features)) {
		free(m);
		return NULL;
	}
	m->vdev.transport = &mmio_transport_ops;
	m->vdev.index = p->index;
	m->vdev.transport_opaque = m;
	m->irq = (struct irq_line){ .router = router, .gsi = p->gsi };
	m->p = *p;
	pthread_mutex_init(&m->irq_lock, NULL);
	m->dev.ops = &virtio_mmio_ops;
	m->dev.state = m;
	return &m->dev;
}

int virtio_mmio_attach(struct vm *vm, const struct virtio_mmio_params *p,
		       const struct virtio_device_ops *ops, void *opaque, uint64_t features,
		       struct virtio_dev **out)
{
	struct device *dev = virtio_mmio_create(&vm->mem, &vm->irq, p, ops, opaque, features);
	int rc;

	if (!dev)
		return -EINVAL;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	rc = bus_register(&vm->mmio, p->base, p->len, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = virtio_mmio_vdev(dev);
	return 0;
}

static void mmio_ioevent_notify(void *opaque)
{
	struct mmio_notifier *n = opaque;

	virtio_dev_lock(&n->m->vdev);
	mmio_queue_notify_locked(n->m, n->q);
	virtio_dev_unlock(&n->m->vdev);
}

int virtio_mmio_use_ioeventfds(struct vm *vm, struct virtio_dev *vdev)
{
	struct virtio_mmio *m = vdev_to_mmio(vdev);
	int rc = 0;

	for (unsigned q = 0; q < vdev->ops->num_queues && rc == 0; q++) {
		m->notifier[q] = (struct mmio_notifier){ .m = m, .q = q };
		rc = vm_ioevent_add(vm, m->p.base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
				    mmio_ioevent_notify, &m->notifier[q]);
	}
	return rc;
}

int virtio_mmio_cmdline_arg(const struct virtio_mmio_params *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "virtio_mmio.device=0x%llx@0x%llx:%u:%u",
			 (unsigned long long)p->len, (unsigned long long)p->base, p->gsi, p->index);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
