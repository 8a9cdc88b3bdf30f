/* virtio-mmio transport, version 2 only (VIRTIO 1.2 §4.2): no legacy
 * (version 1, page-based) interface.
 *
 * One device = one window of VIRTIO_MMIO_WINDOW bytes on the MMIO bus (the
 * control registers, then the device's config space at 0x100) and one
 * interrupt line. The line is level-triggered and active high: it is
 * asserted while InterruptStatus is non-zero and drops when InterruptACK
 * clears the last bit (§4.2.3.4 "a single, dedicated interrupt signal, which
 * is asserted when at least one of the bits ... is set"). The ACPI DSDT
 * describes it the same way (acpi_dsdt_virtio_mmio: Level, ActiveHigh,
 * Exclusive), as QEMU's microvm does; a level line cannot lose an event
 * between the driver's read of InterruptStatus and its ACK, where an edge
 * raised while the line is already high would be lost.
 *
 * VendorID reads "ISOL" (0x4c4f5349). Linux only reports it (no driver
 * matches on a vendor); QEMU uses "QEMU" (0x554d4551). */
#ifndef ISOLA_VIRTIO_MMIO_H
#define ISOLA_VIRTIO_MMIO_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"
#include "virtio/virtio.h"

#define VIRTIO_MMIO_MAGIC     0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION   2u
#define VIRTIO_MMIO_VENDOR_ID 0x4c4f5349u /* "ISOL" */

/* Window per device: 0x100 bytes of registers, then up to 0x100 bytes of
 * config space. Devices sit at LAYOUT_MMIO_DEVICES + index * WINDOW. */
#define VIRTIO_MMIO_WINDOW 0x200u
#define VIRTIO_MMIO_CONFIG 0x100u

/* Register offsets (§4.2.2, table "MMIO Device Register Layout"). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION_REG         0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID_REG       0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_QUEUE_RESET         0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc

struct vm;

struct virtio_mmio_params {
	uint64_t base;    /* guest-physical address of the window */
	uint64_t len;     /* VIRTIO_MMIO_WINDOW, or larger for a big config */
	unsigned gsi;     /* interrupt line (level, active high) */
	unsigned index;   /* 0..99: ACPI _UID, device name VRnn, snapshot tag */
};

/* Make a transport around a device: ops/opaque/features as for
 * virtio_dev_init. The caller registers [base, base+len) on the MMIO bus as
 * region 0 (or uses virtio_mmio_attach). NULL on a bad argument or ENOMEM;
 * the device's own state (opaque) stays the caller's on failure, and
 * becomes the transport's (freed by ops->destroy) on success. */
struct device *virtio_mmio_create(struct guest_mem *mem, const struct irq_router *router,
				  const struct virtio_mmio_params *p,
				  const struct virtio_device_ops *ops, void *opaque,
				  uint64_t features);

/* Create, add to the VM (vm_add_device) and claim the window on vm->mmio.
 * 0 or -errno. */
int virtio_mmio_attach(struct vm *vm, const struct virtio_mmio_params *p,
		       const struct virtio_device_ops *ops, void *opaque, uint64_t features,
		       struct virtio_dev **out) __attribute__((warn_unused_result));

/* Serve vdev's QueueNotify writes from the event loop: one ioeventfd per
 * queue, matching a 4-byte write of the queue's index (§4.2.3.3; without
 * VIRTIO_F_NOTIFICATION_DATA that is the whole value), so the vCPU does not
 * stop to run the device. Other writes there still exit and are served as
 * before. 0, or -errno if the back end cannot (the exit path then serves
 * every queue; queues registered before the failure keep their
 * ioeventfd, which is equivalent). */
int virtio_mmio_use_ioeventfds(struct vm *vm, struct virtio_dev *vdev);

/* The kernel command-line form of a device,
 * "virtio_mmio.device=<len>@<base>:<gsi>:<index>" (Linux
 * Documentation/admin-guide/kernel-parameters.txt), for kernels built with
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES. Give a kernel one description only:
 * this or the DSDT, or it probes the window twice (the second fails with
 * -EBUSY). Length written (without the NUL) or -ENOSPC. */
int virtio_mmio_cmdline_arg(const struct virtio_mmio_params *p, char *buf, size_t len);

/* The transport-independent part of a virtio-mmio device. */
struct virtio_dev *virtio_mmio_vdev(struct device *dev);

/* Set InterruptStatus bit 0 (used buffer) and raise the line; what
 * virtio_dev_notify_used does when the driver wants the interrupt. */
void virtio_mmio_notify_used(struct device *dev);

/* The line's level (for tests): 1 while InterruptStatus != 0. */
int virtio_mmio_irq_level(struct device *dev);

#endif
