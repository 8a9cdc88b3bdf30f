/* 16550A UART (National/TI PC16550D register model), the PC's COM port.
 *
 * Guest side: 8 byte-wide registers on the pio bus (one range, region 0; wider
 * accesses are split into bytes as the ISA bus does) and one interrupt line.
 * Host side: transmitted bytes go into a 64 KiB ring that the event loop drains;
 * received bytes are pushed in by the event loop and wait in the 16-byte RX
 * FIFO. Nothing here ever blocks a vCPU: when the ring is full the UART reports
 * its transmitter busy (LSR.THRE = TEMT = 0) and the guest's driver waits, as it
 * would on a slow real line.
 *
 * Threads: register accesses run on vCPU threads, tx_drain/rx_push on the event
 * loop; the instance's mutex serialises them. The host callbacks are called
 * without that mutex held, so they may call back into uart16550_* (but must not
 * block: they run on vCPU threads). */
#ifndef ISOLA_DEVICES_UART16550_H
#define ISOLA_DEVICES_UART16550_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"

struct vm;

#define UART16550_NR_PORTS   8
#define UART16550_FIFO_SIZE  16
#define UART16550_TX_RING    (64u * 1024)

struct uart_host_ops {
	/* The TX ring went from empty to non-empty (or tx_drain left bytes
	 * behind): the event loop should call uart16550_tx_drain until it
	 * returns less than it asked for. Called from vCPU threads and from
	 * tx_drain itself; must not block (write an eventfd). May be NULL. */
	void (*tx_notify)(void *opaque);
	/* rx_push refused some input earlier and the guest has now emptied the
	 * RX FIFO: push the rest. Called from vCPU threads; must not block.
	 * May be NULL (then the event loop retries on its own schedule). */
	void (*rx_space)(void *opaque);
	void *opaque;
};

/* A UART driving *irq (copied; irq->router must outlive the device). host may
 * be NULL (output is then only kept in the ring). NULL on ENOMEM. The caller
 * registers [base, base + UART16550_NR_PORTS) on the pio bus as region 0. */
struct device *uart16550_create(const struct irq_line *irq, const struct uart_host_ops *host);

/* Create a UART at `port` on `gsi` of vm->irq, add it to the VM and claim its
 * ports. 0 or -errno; *out (may be NULL) gets the device. */
int uart16550_attach(struct vm *vm, uint16_t port, unsigned gsi,
		     const struct uart_host_ops *host, struct device **out)
	__attribute__((warn_unused_result));

/* Take up to max transmitted bytes out of the TX ring. Returns how many. */
size_t uart16550_tx_drain(struct device *dev, uint8_t *buf, size_t max);

/* Bytes waiting in the TX ring. */
size_t uart16550_tx_pending(struct device *dev);

/* Host input: queue up to len bytes into the RX FIFO; returns how many were
 * taken (fewer than len when the FIFO fills: keep the rest, rx_space will say
 * when to push again). Never sets the overrun bit: host input is flow
 * controlled, only a guest looping back faster than it reads can overrun. */
size_t uart16550_rx_push(struct device *dev, const uint8_t *buf, size_t len);

/* Bytes the guest wrote while the TX ring was full (it ignored LSR.THRE). */
uint64_t uart16550_tx_dropped(struct device *dev);

#endif
