/* virtio-blk device (VIRTIO 1.2 §5.2) on a host block back end
 * (backends/block.h).
 *
 * One request queue. Requests are validated here (sector range, sizes, chain
 * layout) and run asynchronously on the back end's worker threads, several at
 * a time; the completion writes the status byte, returns the chain and
 * interrupts the driver under the device lock. */
#ifndef ISOLA_VIRTIO_BLK_H
#define ISOLA_VIRTIO_BLK_H

#include <stdint.h>

#include "backends/block.h"
#include "device.h"
#include "irq.h"
#include "virtio/mmio.h"

/* Device feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (§5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte values (§5.2.6). */
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/* Queue size the device offers, and the data segments per request (seg_max);
 * a chain may have seg_max + 2 buffers (header and status). */
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX    126
/* Largest DISCARD / WRITE_ZEROES segment, in 512-byte sectors (1 GiB), and
 * segments per request (max_discard_seg, max_write_zeroes_seg; §5.2.4). */
#define VIRTIO_BLK_MAX_ZERO_SECTORS (1u << 21)
#define VIRTIO_BLK_MAX_DWZ_SEG      32

/* Config space offsets (§5.2.4, struct virtio_blk_config). */
#define VIRTIO_BLK_CFG_CAPACITY       0
#define VIRTIO_BLK_CFG_SIZE_MAX       8
#define VIRTIO_BLK_CFG_SEG_MAX        12
#define VIRTIO_BLK_CFG_BLK_SIZE       20
#define VIRTIO_BLK_CFG_NUM_QUEUES     34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG     40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN       44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS      48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG          52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP        56
#define VIRTIO_BLK_CFG_LEN                 60

/* Make a virtio-mmio virtio-blk device over back end b (for tests and for
 * callers that register the window themselves). The device owns b from this
 * call on, also on failure (b is then closed): it is closed when the device is
 * destroyed. 0 or -errno (-EINVAL, -ENOMEM). */
int virtio_blk_create(struct guest_mem *mem, const struct irq_router *router,
		      const struct virtio_mmio_params *p, struct block_backend *b,
		      struct device **out) __attribute__((warn_unused_result));

/* Create and attach to the VM (vm_add_device, window on vm->mmio), as
 * virtio_mmio_attach. b is the device's from this call on, also on failure
 * (closed then, or by the VM's destruction of the device). out may be NULL.
 * 0 or -errno. */
int virtio_blk_attach(struct vm *vm, const struct virtio_mmio_params *p,
		      struct block_backend *b, struct virtio_dev **out)
	__attribute__((warn_unused_result));

#endif
