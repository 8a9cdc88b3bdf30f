/* The virtio-mmio transport (virtio/mmio.c) driven the way Linux's
 * virtio_mmio driver drives it, with a small fake device behind it, and the
 * DSDT description of virtio-mmio devices (arch/x86/acpi.c). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "bus.h"
#include "memory.h"
#include "snapshot.h"
#include "unit.h"
#include "virtio/mmio.h"

#define MiB (1ull << 20)
#define QSTRIDE 0x40000ull
#define DESC(q)  (0x10000ull + (q) * QSTRIDE)
#define AVAIL(q) (0x20000ull + (q) * QSTRIDE)
#define USED(q)  (0x30000ull + (q) * QSTRIDE)
#define BUF 0x200000ull
#define FAKE_FEATURE 0x1ull /* a device-specific feature bit */

struct fake {
	uint8_t config[8];
	unsigned notifies, resets, activates, processed;
	int features_ok_rc;
};

static void fake_config_read(struct virtio_dev *vdev, uint32_t off, void *buf, unsigned len)
{
	struct fake *f = vdev->opaque;
	memcpy(buf, f->config + off, len);
}

static void fake_config_write(struct virtio_dev *vdev, uint32_t off, const void *buf, unsigned len)
{
	struct fake *f = vdev->opaque;
	memcpy(f->config + off, buf, len);
}

static int fake_features_ok(struct virtio_dev *vdev)
{
	struct fake *f = vdev->opaque;
	return f->features_ok_rc;
}

static void fake_activate(struct virtio_dev *vdev)
{
	struct fake *f = vdev->opaque;
	f->activates++;
}

/* Fill every writable buffer with 0xab and return it. */
static void fake_notify(struct virtio_dev *vdev, unsigned q)
{
	struct fake *f = vdev->opaque;
	struct virtq_seg segs[16];
	struct virtq_chain c;
	int rc;

	f->notifies++;
	virtq_chain_init(&c, segs, 16);
	while ((rc = virtq_pop(&vdev->vq[q], &c)) == 1) {
		for (unsigned i = c.nr_readable; i < c.nr_segs; i++)
			memset(c.seg[i].ptr, 0xab, c.seg[i].len);
		CHECK_EQ(virtq_push_chain(&vdev->vq[q], &c, c.writable_len), 0);
		f->processed++;
	}
	virtio_dev_notify_used(vdev, q);
}

static void fake_reset(struct virtio_dev *vdev)
{
	struct fake *f = vdev->opaque;
	f->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "fake",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 2,
	.queue_max_size = 16,
	.config_len = 8,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.features_ok = fake_features_ok,
	.activate = fake_activate,
	.notify = fake_notify,
	.reset = fake_reset,
};

struct irq_log {
	unsigned gsi;
	int level;
	unsigned changes;
};

static int irq_log_set(void *opaque, unsigned gsi, int level)
{
	struct irq_log *l = opaque;
	l->gsi = gsi;
	if (level != l->level)
		l->changes++;
	l->level = level;
	return 0;
}

struct rig {
	struct guest_mem mem;
	struct irq_log irq;
	struct irq_router router;
	struct fake *f;
	struct device *dev;
	uint16_t avail_idx[2];
};

static const struct virtio_mmio_params params = {
	.base = LAYOUT_MMIO_DEVICES, .len = VIRTIO_MMIO_WINDOW, .gsi = 16, .index = 3,
};

static int rig_open(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	if (gm_init(&r->mem, 16 * MiB)) {
		CHECK(!"gm_init");
		return -1;
	}
	r->router = (struct irq_router){ .set_level = irq_log_set, .opaque = &r->irq };
	r->f = calloc(1, sizeof(*r->f));
	r->dev = virtio_mmio_create(&r->mem, &r->router, &params, &fake_ops, r->f, FAKE_FEATURE);
	CHECK(r->dev != NULL);
	if (!r->dev) {
		free(r->f);
		gm_destroy(&r->mem);
		return -1;
	}
	return 0;
}

static void rig_close(struct rig *r)
{
	free(r->f); /* fake_ops has no destroy: the fake is ours */
	r->dev->ops->destroy(r->dev);
	gm_destroy(&r->mem);
}

static uint32_t rd(struct rig *r, uint64_t off)
{
	return (uint32_t)r->dev->ops->read(r->dev, 0, off, 4);
}

static void wr(struct rig *r, uint64_t off, uint32_t v)
{
	r->dev->ops->write(r->dev, 0, off, 4, v);
}

/* Linux's virtio_dev_probe: reset, ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK; returns the status read back. */
static uint32_t negotiate(struct rig *r, uint64_t features)
{
	wr(r, VIRTIO_MMIO_STATUS, 0);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	return rd(r, VIRTIO_MMIO_STATUS);
}

/* Linux's vm_setup_vq; returns QueueReady read back. */
static uint32_t setup_queue(struct rig *r, unsigned q, uint32_t num, uint64_t desc,
			    uint64_t avail, uint64_t used)
{
	wr(r, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(r, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr(r, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	wr(r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	wr(r, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
	return rd(r, VIRTIO_MMIO_QUEUE_READY);
}

static const uint64_t good_features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | FAKE_FEATURE;

/* Negotiate, set up both queues with 8 entries, DRIVER_OK. */
static void bring_up(struct rig *r, uint64_t features)
{
	CHECK(negotiate(r, features) & VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(setup_queue(r, 0, 8, DESC(0), AVAIL(0), USED(0)), 1);
	CHECK_EQ(setup_queue(r, 1, 8, DESC(1), AVAIL(1), USED(1)), 1);
	wr(r, VIRTIO_MMIO_STATUS, rd(r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(struct rig *r, unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	CHECK_EQ(gm_write(&r->mem, DESC(q) + 16ull * i, d, 16), 0);
}

static void offer(struct rig *r, unsigned q, uint16_t head)
{
	uint16_t idx = r->avail_idx[q];
	CHECK_EQ(gm_write(&r->mem, AVAIL(q) + 4 + 2ull * (idx % 8), &head, 2), 0);
	idx++;
	r->avail_idx[q] = idx;
	CHECK_EQ(gm_write(&r->mem, AVAIL(q) + 2, &idx, 2), 0);
}

static uint16_t used_idx(struct rig *r, unsigned q)
{
	uint16_t v = 0;
	CHECK_EQ(gm_read(&r->mem, USED(q) + 2, &v, 2), 0);
	return v;
}

TEST(virtio_mmio_identity)
{
	struct rig r;
	if (rig_open(&r))
		return;
	CHECK_EQ(rd(&r, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_VERSION_REG), 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_VENDOR_ID_REG), VIRTIO_MMIO_VENDOR_ID);
	wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), FAKE_FEATURE |
		 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 is bit 32 */
	wr(&r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 2); /* no such queue */
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffffu);
	/* Only 32-bit aligned accesses reach the control registers. */
	CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_MAGIC_VALUE, 2), 0);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_MAGIC_VALUE + 1, 4), 0);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, VIRTIO_MMIO_MAGIC_VALUE, 8), 0);
	/* Config space: any width inside config_len, nothing outside. */
	memcpy(r.f->config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x100, 1), 0x11);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x102, 2), 0x4433);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x104, 4), 0x88776655);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x100, 8), 0x8877665544332211ull);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x106, 4), 0);
	CHECK_EQ(r.dev->ops->read(r.dev, 0, 0x1fc, 4), 0);
	r.dev->ops->write(r.dev, 0, 0x101, 1, 0x99);
	r.dev->ops->write(r.dev, 0, 0x107, 2, 0xdead); /* crosses the end: dropped */
	CHECK_EQ(r.f->config[1], 0x99);
	CHECK_EQ(r.f->config[7], 0x88);
	/* Writes to read-only registers change nothing. */
	wr(&r, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(&r, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	rig_close(&r);
}

/* The whole Linux sequence, one request, the interrupt and its ACK. */
TEST(virtio_mmio_request_and_interrupt)
{
	struct rig r;
	uint8_t buf[32];
	if (rig_open(&r))
		return;
	bring_up(&r, good_features);
	CHECK_EQ(r.f->activates, 1);
	put_desc(&r, 1, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 1, 1, BUF + 0x100, 32, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 1, 0);
	CHECK_EQ(r.irq.level, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	CHECK_EQ(r.f->processed, 1);
	CHECK_EQ(used_idx(&r, 1), 1);
	CHECK_EQ(gm_read(&r.mem, BUF + 0x100, buf, 32), 0);
	CHECK_EQ(buf[0], 0xab);
	CHECK_EQ(buf[31], 0xab);
	/* Level-triggered line: up until the ACK clears every bit. */
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
	CHECK_EQ(r.irq.gsi, 16);
	CHECK_EQ(r.irq.level, 1);
	CHECK_EQ(virtio_mmio_irq_level(r.dev), 1);
	wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_CONFIG); /* not the pending bit */
	CHECK_EQ(r.irq.level, 1);
	wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(r.irq.level, 0);
	/* Notifications for a queue that does not exist are ignored. */
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffffu);
	CHECK_EQ(r.f->notifies, 1);
	/* The transport's own helper raises the same bit. */
	virtio_mmio_notify_used(r.dev);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
	CHECK_EQ(r.irq.level, 1);
	/* Config change: generation moves, bit 1. */
	uint32_t gen = rd(&r, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_dev_lock(virtio_mmio_vdev(r.dev));
	virtio_dev_config_changed(virtio_mmio_vdev(r.dev));
	virtio_dev_unlock(virtio_mmio_vdev(r.dev));
	CHECK(rd(&r, VIRTIO_MMIO_CONFIG_GENERATION) != gen);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);
	rig_close(&r);
}

TEST(virtio_mmio_feature_negotiation)
{
	struct rig r;
	if (rig_open(&r))
		return;
	/* Without VERSION_1: this transport has no legacy interface. */
	CHECK_EQ(negotiate(&r, FAKE_FEATURE) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* The queues cannot be enabled without FEATURES_OK... */
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), USED(0)), 0);
	/* ... nor DRIVER_OK set. */
	wr(&r, VIRTIO_MMIO_STATUS, rd(&r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
	CHECK_EQ(r.f->activates, 0);
	/* A feature the device did not offer. */
	CHECK_EQ(negotiate(&r, good_features | VIRTIO_BIT(VIRTIO_F_RING_PACKED)) &
		 VIRTIO_STATUS_FEATURES_OK, 0);
	CHECK_EQ(negotiate(&r, good_features | (1ull << 40)) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* The device's own veto. */
	r.f->features_ok_rc = -EINVAL;
	CHECK_EQ(negotiate(&r, good_features) & VIRTIO_STATUS_FEATURES_OK, 0);
	r.f->features_ok_rc = 0;
	CHECK(negotiate(&r, good_features) & VIRTIO_STATUS_FEATURES_OK);
	/* Features are fixed once FEATURES_OK is set. */
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(&r, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	CHECK(virtio_has_feature(virtio_mmio_vdev(r.dev), 0));
	/* The driver cannot clear status bits except by reset. */
	wr(&r, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	/* Status 0 resets: features, status and the device itself. */
	unsigned resets = r.f->resets;
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(r.f->resets, resets + 1);
	CHECK(!virtio_has_feature(virtio_mmio_vdev(r.dev), 0));
	rig_close(&r);
}

TEST(virtio_mmio_bad_queue_sizes)
{
	struct rig r;
	if (rig_open(&r))
		return;
	CHECK(negotiate(&r, good_features) & VIRTIO_STATUS_FEATURES_OK);
	/* 0, not a power of two, above QueueNumMax (16), above 16 bits. */
	CHECK_EQ(setup_queue(&r, 0, 0, DESC(0), AVAIL(0), USED(0)), 0);
	CHECK_EQ(setup_queue(&r, 0, 12, DESC(0), AVAIL(0), USED(0)), 0);
	CHECK_EQ(setup_queue(&r, 0, 32, DESC(0), AVAIL(0), USED(0)), 0);
	CHECK_EQ(setup_queue(&r, 0, 0x10008, DESC(0), AVAIL(0), USED(0)), 0);
	/* Rings misaligned, outside RAM, in the MMIO hole, past 2^64. */
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0) + 4, AVAIL(0), USED(0)), 0);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), USED(0) + 2), 0);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), 16 * MiB, USED(0)), 0);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), LAYOUT_MMIO_DEVICES), 0);
	CHECK_EQ(setup_queue(&r, 0, 8, 0xfffffffffffffff0ull, AVAIL(0), USED(0)), 0);
	/* A queue that does not exist. */
	CHECK_EQ(setup_queue(&r, 5, 8, DESC(0), AVAIL(0), USED(0)), 0);
	/* And finally a good one. */
	CHECK_EQ(setup_queue(&r, 0, 16, DESC(0), AVAIL(0), USED(0)), 1);
	rig_close(&r);
}

TEST(virtio_mmio_queue_frozen_after_ready)
{
	struct rig r;
	if (rig_open(&r))
		return;
	bring_up(&r, good_features);
	/* Rewrite queue 1's registers after DRIVER_OK: all ignored. */
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(&r, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(&r, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	wr(&r, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0xffffffffu);
	wr(&r, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x6000);
	wr(&r, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x7000);
	struct virtq *vq = &virtio_mmio_vdev(r.dev)->vq[1];
	CHECK_EQ(vq->size, 8);
	CHECK_EQ(vq->desc_gpa, DESC(1));
	CHECK_EQ(vq->avail_gpa, AVAIL(1));
	CHECK_EQ(vq->used_gpa, USED(1));
	/* The queue still works where the driver first put it. */
	put_desc(&r, 1, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 1, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	CHECK_EQ(used_idx(&r, 1), 1);
	/* Frozen also while the queue is ready before DRIVER_OK. */
	CHECK(negotiate(&r, good_features) & VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), USED(0)), 1);
	wr(&r, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x8000);
	CHECK_EQ(virtio_mmio_vdev(r.dev)->vq[0].desc_gpa, DESC(0));
	/* QueueReady 0 stops the queue (and unfreezes it). */
	wr(&r, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(!virtio_mmio_vdev(r.dev)->vq[0].enabled);
	/* Enabling a queue after DRIVER_OK is refused, and so is disabling one
	 * (no VIRTIO_F_RING_RESET). */
	CHECK_EQ(setup_queue(&r, 1, 8, DESC(1), AVAIL(1), USED(1)), 1);
	wr(&r, VIRTIO_MMIO_STATUS, rd(&r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), USED(0)), 0);
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(&r, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 1);
	CHECK(virtio_mmio_vdev(r.dev)->vq[1].enabled);
	rig_close(&r);
}

/* Buffers made available before DRIVER_OK: their notification is dropped,
 * and they are served when DRIVER_OK arrives. */
TEST(virtio_mmio_buffers_before_driver_ok)
{
	struct rig r;
	if (rig_open(&r))
		return;
	CHECK(negotiate(&r, good_features) & VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(setup_queue(&r, 0, 8, DESC(0), AVAIL(0), USED(0)), 1);
	put_desc(&r, 0, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.f->notifies, 0);
	CHECK_EQ(used_idx(&r, 0), 0);
	wr(&r, VIRTIO_MMIO_STATUS, rd(&r, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(r.f->activates, 1);
	CHECK_EQ(r.f->processed, 1);
	CHECK_EQ(used_idx(&r, 0), 1);
	CHECK_EQ(r.irq.level, 1);
	rig_close(&r);
}

/* A hostile chain: NEEDS_RESET, config interrupt, no more processing, and a
 * reset brings the device back. */
TEST(virtio_mmio_violation_needs_reset)
{
	struct rig r;
	if (rig_open(&r))
		return;
	bring_up(&r, good_features);
	put_desc(&r, 0, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(&r, 0, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0); /* loop */
	offer(&r, 0, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.f->processed, 0);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_CONFIG);
	CHECK_EQ(r.irq.level, 1);
	CHECK(virtio_mmio_vdev(r.dev)->vq[0].broken);
	CHECK(virtio_mmio_vdev(r.dev)->vq[1].broken);
	/* The driver cannot clear NEEDS_RESET by writing the status. */
	wr(&r, VIRTIO_MMIO_STATUS, rd(&r, VIRTIO_MMIO_STATUS) & ~VIRTIO_STATUS_NEEDS_RESET);
	CHECK(rd(&r, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* The other queue is not served either now. */
	put_desc(&r, 1, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 1, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	CHECK_EQ(r.f->notifies, 1);
	CHECK_EQ(used_idx(&r, 1), 0);
	/* Reset: status, interrupt and queues cleared, line down. */
	wr(&r, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(r.irq.level, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(&r, VIRTIO_MMIO_QUEUE_READY), 0);
	/* And the device works again with fresh rings. */
	memset(r.avail_idx, 0, sizeof(r.avail_idx));
	for (unsigned q = 0; q < 2; q++) {
		CHECK_EQ(gm_write(&r.mem, AVAIL(q), "\0\0\0\0", 4), 0);
		CHECK_EQ(gm_write(&r.mem, USED(q), "\0\0\0\0", 4), 0);
	}
	bring_up(&r, good_features);
	put_desc(&r, 0, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(r.f->processed, 1);
	CHECK_EQ(used_idx(&r, 0), 1);
	rig_close(&r);
}

/* EVENT_IDX through the transport: the interrupt is raised only when the
 * driver's used_event is crossed. */
TEST(virtio_mmio_event_idx)
{
	struct rig r;
	uint16_t ev = 1;
	if (rig_open(&r))
		return;
	bring_up(&r, good_features | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK_EQ(gm_write(&r.mem, AVAIL(0) + 4 + 2 * 8, &ev, 2), 0); /* used_event = 1 */
	for (unsigned i = 0; i < 3; i++)
		put_desc(&r, 0, i, BUF + 0x100 * i, 8, VIRTQ_DESC_F_WRITE, 0);
	unsigned isr[3];
	for (unsigned i = 0; i < 3; i++) {
		offer(&r, 0, (uint16_t)i);
		wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		isr[i] = rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS);
		wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, isr[i]);
	}
	CHECK_EQ(isr[0], VIRTIO_ISR_QUEUE); /* first: always */
	CHECK_EQ(isr[1], VIRTIO_ISR_QUEUE); /* used.idx 1 -> 2 crosses used_event 1 */
	CHECK_EQ(isr[2], 0);
	CHECK_EQ(r.f->processed, 3);
	rig_close(&r);
}

TEST(virtio_mmio_on_the_bus)
{
	struct rig r;
	struct bus bus;
	uint8_t data[4];
	if (rig_open(&r))
		return;
	bus_init(&bus, "mmio");
	CHECK_EQ(bus_register(&bus, params.base, params.len, r.dev, 0), 0);
	CHECK(bus_access(&bus, params.base + VIRTIO_MMIO_MAGIC_VALUE, data, 4, false));
	CHECK(!memcmp(data, "virt", 4));
	memcpy(data, "\x01\0\0\0", 4);
	CHECK(bus_access(&bus, params.base + VIRTIO_MMIO_STATUS, data, 4, true));
	CHECK_EQ(rd(&r, VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(!bus_access(&bus, params.base + VIRTIO_MMIO_WINDOW, data, 4, false));
	bus_destroy(&bus);
	rig_close(&r);
}

TEST(virtio_mmio_snapshot)
{
	struct rig r, r2;
	struct snap_writer w;
	struct snap_reader rd_;
	if (rig_open(&r))
		return;
	bring_up(&r, good_features | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	put_desc(&r, 0, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(&r, 0, 0);
	offer(&r, 0, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(used_idx(&r, 0), 2);
	snap_writer_init(&w);
	CHECK_EQ(r.dev->ops->save(r.dev, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);

	/* Restore into a second device over the same guest memory contents. */
	if (rig_open(&r2)) {
		snap_writer_free(&w);
		rig_close(&r);
		return;
	}
	uint8_t *page = malloc(0x100000);
	CHECK_EQ(gm_read(&r.mem, 0, page, 0x100000), 0);
	CHECK_EQ(gm_write(&r2.mem, 0, page, 0x100000), 0);
	free(page);
	CHECK_EQ(snap_reader_init(&rd_, w.buf, w.len), 0);
	CHECK_EQ(r2.dev->ops->restore(r2.dev, &rd_), 0);
	CHECK_EQ(rd(&r2, VIRTIO_MMIO_STATUS), rd(&r, VIRTIO_MMIO_STATUS));
	CHECK_EQ(rd(&r2, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
	CHECK_EQ(r2.irq.level, 1);
	struct virtq *vq = &virtio_mmio_vdev(r2.dev)->vq[0];
	CHECK(vq->enabled && vq->event_idx);
	CHECK_EQ(vq->last_avail_idx, 2);
	CHECK_EQ(vq->used_idx, 2);
	/* It carries on where the first left off. */
	r2.avail_idx[0] = 2;
	offer(&r2, 0, 0);
	wr(&r2, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(used_idx(&r2, 0), 3);

	/* A corrupted snapshot is refused before anything is read. */
	snap_writer_free(&w);
	snap_writer_init(&w);
	CHECK_EQ(r.dev->ops->save(r.dev, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);
	w.buf[20] ^= 0xff;
	CHECK(snap_reader_init(&rd_, w.buf, w.len) != 0);
	snap_writer_free(&w);
	rig_close(&r2);
	rig_close(&r);
}

/* An I/O thread raising used-buffer interrupts while a vCPU reads and ACKs
 * them: the line must always end up where InterruptStatus says (the ACK
 * and the raise are serialised by the transport's irq lock). */
static void *raiser(void *arg)
{
	struct device *dev = arg;
	for (int i = 0; i < 20000; i++)
		virtio_mmio_notify_used(dev);
	return NULL;
}

TEST(virtio_mmio_interrupt_race)
{
	struct rig r;
	pthread_t t;
	if (rig_open(&r))
		return;
	bring_up(&r, good_features);
	CHECK_EQ(pthread_create(&t, NULL, raiser, r.dev), 0);
	for (int i = 0; i < 20000; i++) {
		uint32_t isr = rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS);
		wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	}
	pthread_join(t, NULL);
	uint32_t isr = rd(&r, VIRTIO_MMIO_INTERRUPT_STATUS);
	CHECK_EQ(virtio_mmio_irq_level(r.dev), isr != 0);
	CHECK_EQ(r.irq.level, isr != 0);
	wr(&r, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	CHECK_EQ(r.irq.level, 0);
	rig_close(&r);
}

TEST(virtio_mmio_cmdline)
{
	char buf[64];
	CHECK_EQ(virtio_mmio_cmdline_arg(&params, buf, sizeof(buf)), 40);
	CHECK(!strcmp(buf, "virtio_mmio.device=0x200@0xd0000000:16:3"));
	CHECK_EQ(virtio_mmio_cmdline_arg(&params, buf, 40), -ENOSPC);
}

/* ---- ACPI ------------------------------------------------------------------ */

/* iasl -on (no name optimisation) output for
 *   Scope (\_SB) {
 *     Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, 0) Name (_CCA, 1)
 *       Name (_CRS, ResourceTemplate () {
 *         Memory32Fixed (ReadWrite, 0xD0000000, 0x200)
 *         Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 16 } }) }
 *     Device (VR07) { ... _UID 7, 0xD0000E00, IRQ 23 } } */
static const uint8_t virtio_aml[] = {
	0x10, 0x4e, 0x08, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x41, 0x04, 0x56, 0x52, 0x30,
	0x30, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x4c, 0x4e, 0x52, 0x4f, 0x30, 0x30, 0x30, 0x35,
	0x00, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43, 0x43, 0x41, 0x01, 0x08, 0x5f,
	0x43, 0x52, 0x53, 0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0,
	0x00, 0x02, 0x00, 0x00, 0x89, 0x06, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00, 0x79, 0x00,
	0x5b, 0x82, 0x42, 0x04, 0x56, 0x52, 0x30, 0x37, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x4c,
	0x4e, 0x52, 0x4f, 0x30, 0x30, 0x30, 0x35, 0x00, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x0a, 0x07,
	0x08, 0x5f, 0x43, 0x43, 0x41, 0x01, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x1a, 0x0a, 0x17,
	0x86, 0x09, 0x00, 0x01, 0x00, 0x0e, 0x00, 0xd0, 0x00, 0x02, 0x00, 0x00, 0x89, 0x06, 0x00,
	0x01, 0x01, 0x17, 0x00, 0x00, 0x00, 0x79, 0x00,
};

static const struct acpi_virtio_mmio two_devs[] = {
	{ .base = 0xd0000000, .len = 0x200, .gsi = 16, .uid = 0 },
	{ .base = 0xd0000e00, .len = 0x200, .gsi = 23, .uid = 7 },
};

TEST(virtio_acpi_aml)
{
	uint8_t buf[512];
	struct aml a;

	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, two_devs, 2), 0);
	CHECK_EQ(a.len, sizeof(virtio_aml));
	CHECK(!memcmp(buf, virtio_aml, sizeof(virtio_aml)));
	/* No devices: no Scope at all. */
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, two_devs, 0), 0);
	CHECK_EQ(a.len, 0);
	/* Refused: a window above 4 GiB or crossing it, uid > 99, a duplicate. */
	struct acpi_virtio_mmio bad = two_devs[0];
	bad.base = 0x100000000ull;
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, &bad, 1), -EINVAL);
	bad.base = 0xfffffe00ull;
	bad.len = 0x400;
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, &bad, 1), -EINVAL);
	bad = two_devs[0];
	bad.uid = 100;
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, &bad, 1), -EINVAL);
	struct acpi_virtio_mmio dup[2] = { two_devs[0], two_devs[0] };
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, dup, 2), -EINVAL);
	/* Out of room sticks as -ENOSPC. */
	aml_init(&a, buf, 40);
	CHECK_EQ(acpi_dsdt_virtio_mmio(&a, two_devs, 2), -ENOSPC);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The whole table set with devices: the DSDT (found through RSDP -> XSDT ->
 * FADT) ends with the device scope and every checksum still holds. */
TEST(virtio_acpi_tables)
{
	const size_t len = LAYOUT_ACPI_END - LAYOUT_ACPI_RSDP;
	uint8_t *bios = malloc(len);
	const struct acpi_devices devs = { .virtio_mmio = two_devs, .nr_virtio_mmio = 2 };
	const uint8_t *xsdt, *fadt = NULL, *dsdt;

	CHECK(bios != NULL);
	if (!bios)
		return;
	CHECK_EQ(acpi_build_devices(bios, 2, &devs), 0);
	CHECK_EQ(acpi_checksum(bios, 20), 0);
	CHECK_EQ(acpi_checksum(bios, ACPI_RSDP_LEN), 0);
	xsdt = bios + (le32(bios + 24) - LAYOUT_ACPI_RSDP);
	CHECK(!memcmp(xsdt, "XSDT", 4));
	CHECK_EQ(acpi_checksum(xsdt, le32(xsdt + 4)), 0);
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *t = bios + (le32(xsdt + 36 + 8 * i) - LAYOUT_ACPI_RSDP);
		CHECK_EQ(acpi_checksum(t, le32(t + 4)), 0);
		if (!memcmp(t, "FACP", 4))
			fadt = t;
	}
	CHECK(fadt != NULL);
	if (fadt) {
		dsdt = bios + (le32(fadt + 40) - LAYOUT_ACPI_RSDP);
		uint32_t dlen = le32(dsdt + 4);
		CHECK(!memcmp(dsdt, "DSDT", 4));
		CHECK_EQ(acpi_checksum(dsdt, dlen), 0);
		CHECK(dlen > ACPI_SDT_HEADER_LEN + sizeof(virtio_aml));
		CHECK(!memcmp(dsdt + dlen - sizeof(virtio_aml), virtio_aml, sizeof(virtio_aml)));
	}
	/* Bad device input fails the whole build. */
	struct acpi_virtio_mmio bad = two_devs[0];
	bad.base = 1ull << 32;
	const struct acpi_devices bad_devs = { .virtio_mmio = &bad, .nr_virtio_mmio = 1 };
	CHECK_EQ(acpi_build_devices(bios, 2, &bad_devs), -EINVAL);
	free(bios);
}
