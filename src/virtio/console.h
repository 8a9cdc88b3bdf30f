/* virtio-console (VIRTIO 1.2 §5.3) with one port: the guest's /dev/hvc0.
 *
 * Two queues (§5.3.2): receiveq0 (queue 0, device-writable buffers: host
 * input for the guest) and transmitq0 (queue 1, device-readable buffers: the
 * guest's output). No feature bits are offered: no VIRTIO_CONSOLE_F_SIZE,
 * no F_MULTIPORT (so no control queues, ports 1..n or port names: one
 * console port is what a serial-console replacement needs), no
 * F_EMERG_WRITE. The 12-byte config space (§5.3.4) reads as zeros except
 * max_nr_ports = 1; writes are ignored.
 *
 * Host side, mirroring the UART (devices/uart16550.h):
 *   - output: transmit chains are copied into a 64 KiB ring that the event
 *     loop drains (virtio_console_tx_drain). When the ring is full the
 *     device stops consuming the transmit queue, so the guest's driver
 *     waits: a slow host reader never makes isola grow without bound and
 *     never blocks a vCPU. A chain longer than the free space is taken in
 *     parts and returned to the driver once all of it is copied.
 *   - input: the event loop pushes bytes into posted receive buffers
 *     (virtio_console_rx_push), which takes only as much as the guest has
 *     buffers for; the rest waits in the caller until rx_space says the
 *     guest posted more. Nothing is dropped.
 *   - input is also held until the guest has written to the port once since
 *     its driver was reset. Linux's driver posts its receive buffers before
 *     it hooks the port up to hvc, and throws away data that arrives in
 *     between (drivers/char/virtio_console.c: add_port fills the queue
 *     before init_port_console sets guest_connected; in_intr discards data
 *     for a port that is not connected). Without F_MULTIPORT there is no
 *     PORT_OPEN message to wait for, and Linux only writes to the port once
 *     it is hooked up, so the first output is the sign. A guest that only
 *     ever reads the port gets no input. This closes the window in the
 *     driver's probe only: input that reaches the guest before a reader has
 *     hvc0 open was still lost in the guest kit's boot (as with the UART), so
 *     scripts wait for the shell's prompt before typing.
 *
 * Threads: notify runs on vCPU threads, tx_drain/rx_push on the event loop;
 * all of them take the device's lock (struct virtio_dev.lock). The host
 * callbacks are called with that lock held: they must only signal (write an
 * eventfd), never call back into the device or block. */
#ifndef ISOLA_VIRTIO_CONSOLE_H
#define ISOLA_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"
#include "virtio/mmio.h"

#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_QUEUE_SIZE 128
#define VIRTIO_CONSOLE_TX_RING (64u * 1024)

/* Config space (§5.3.4, struct virtio_console_config). */
#define VIRTIO_CONSOLE_CFG_COLS         0
#define VIRTIO_CONSOLE_CFG_ROWS         2
#define VIRTIO_CONSOLE_CFG_MAX_NR_PORTS 4
#define VIRTIO_CONSOLE_CFG_EMERG_WR     8
#define VIRTIO_CONSOLE_CFG_LEN          12

struct virtio_console_host_ops {
	/* The output ring went from empty to non-empty: the event loop should
	 * call virtio_console_tx_drain until it returns less than it asked
	 * for. May be NULL. */
	void (*tx_notify)(void *opaque);
	/* rx_push refused input earlier and the guest has now posted receive
	 * buffers (or its driver became ready): push the rest. May be NULL. */
	void (*rx_space)(void *opaque);
	void *opaque;
};

/* A virtio-mmio virtio-console device (for tests and callers that register
 * the window themselves). host is copied; may be NULL. 0 or -EINVAL/-ENOMEM. */
int virtio_console_create(struct guest_mem *mem, const struct irq_router *router,
			  const struct virtio_mmio_params *p,
			  const struct virtio_console_host_ops *host, struct device **out)
	__attribute__((warn_unused_result));

/* Create and attach to the VM (vm_add_device, window on vm->mmio). out may
 * be NULL. 0 or -errno. */
int virtio_console_attach(struct vm *vm, const struct virtio_mmio_params *p,
			  const struct virtio_console_host_ops *host, struct device **out)
	__attribute__((warn_unused_result));

/* Take up to max bytes of the guest's output. Returns how many. Resumes a
 * transmit queue that was waiting for room. */
size_t virtio_console_tx_drain(struct device *dev, uint8_t *buf, size_t max);

/* Bytes of output waiting in the ring. */
size_t virtio_console_tx_pending(struct device *dev);

/* Host input: put up to len bytes into the guest's posted receive buffers;
 * returns how many were taken (0 before the driver is ready, before the
 * guest's first output, when it has no buffers, or after a violation). Keep
 * the rest: rx_space says when to try again. */
size_t virtio_console_rx_push(struct device *dev, const uint8_t *buf, size_t len);

#endif
