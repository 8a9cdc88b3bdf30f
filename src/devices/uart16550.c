/* 16550A UART. Register model after the National/TI PC16550D datasheet
 * ("PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs", §8
 * Registers, Table II/IV): the numbers in comments below are its sections.
 *
 * What is modelled and what is approximated:
 * - The line has no timing: a byte written to THR leaves at once (into the
 *   host TX ring), a byte pushed by the host is received at once. Divisor
 *   latch, word length, parity and break are stored and read back only.
 * - The transmitter is "empty" (LSR.THRE = LSR.TEMT = 1) while the TX ring has
 *   room for a whole FIFO load (16 bytes): Linux's 8250 driver writes up to 16
 *   bytes after one THRE without re-reading LSR (tx_loadsz of a 16550A). A
 *   full ring makes THRE/TEMT read 0, so the guest waits instead of isola
 *   blocking or dropping output.
 * - The character-timeout indication (§8.4, IIR = 0xC) is reported as soon as
 *   data sits in the FIFO below the trigger level, instead of after four
 *   character times: host input arrives in bursts, a burst is all in the FIFO
 *   by the time the guest looks, and waiting would only delay input. Linux's
 *   8250 driver treats RDA and timeout alike (it reads while LSR.DR).
 * - Interrupt output: the INT level (any enabled source pending, §8.4) gated
 *   by MCR.OUT2, the PC's serial adapter wiring (OUT2 enables the IRQ driver;
 *   loopback forces OUT2 inactive, §8.6). The level is recomputed after every
 *   register access and host call, and only changes are passed to the irq
 *   router. ISA IRQ 4 is edge-triggered at the PIC/IOAPIC, so a new source
 *   that appears while the line is already high makes no new edge: like QEMU
 *   and kvmtool we rely on the guest's handler reading IIR until it says "no
 *   interrupt" (Linux's serial8250_interrupt loops so), which drops the line,
 *   and the next source raises it again — a fresh edge.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/uart16550.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

/* Register offsets (§8, Table II). */
enum {
	UART_RBR_THR_DLL = 0,
	UART_IER_DLM = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_ERBFI  0x01 /* received data available */
#define IER_ETBEI  0x02 /* THR empty */
#define IER_ELSI   0x04 /* receiver line status */
#define IER_EDSSI  0x08 /* modem status */
#define IER_MASK   0x0f /* bits 7:4 read 0 on a 16550A */

#define IIR_NO_INT    0x01
#define IIR_MSI       0x00
#define IIR_THRI      0x02
#define IIR_RDI       0x04
#define IIR_RLSI      0x06
#define IIR_TIMEOUT   0x0c
#define IIR_FIFO_ON   0xc0

#define FCR_ENABLE    0x01
#define FCR_CLEAR_RX  0x02
#define FCR_CLEAR_TX  0x04
#define FCR_STORED    0xc9 /* trigger level, DMA mode, enable; 1-2 self-clear */

#define LCR_DLAB      0x80

#define MCR_DTR       0x01
#define MCR_RTS       0x02
#define MCR_OUT1      0x04
#define MCR_OUT2      0x08
#define MCR_LOOP      0x10
#define MCR_MASK      0x1f

#define LSR_DR        0x01
#define LSR_OE        0x02
#define LSR_PE        0x04
#define LSR_FE        0x08
#define LSR_BI        0x10
#define LSR_THRE      0x20
#define LSR_TEMT      0x40
#define LSR_ERRORS    (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS      0x01
#define MSR_DDSR      0x02
#define MSR_TERI      0x04
#define MSR_DDCD      0x08
#define MSR_DELTAS    0x0f
#define MSR_CTS       0x10
#define MSR_DSR       0x20
#define MSR_RI        0x40
#define MSR_DCD       0x80

struct uart {
	struct device dev;
	struct irq_line irq;
	struct uart_host_ops host;

	/* Protects every field below: vCPU threads (register accesses) and the
	 * event loop (tx_drain, rx_push) touch them concurrently. */
	pthread_mutex_t lock;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;           /* stored bits of the last FCR write (FCR_STORED) */
	uint8_t lsr_err;       /* OE/PE/FE/BI latched until LSR is read */
	uint8_t msr;           /* modem status: inputs in 7:4, deltas in 3:0 */
	uint8_t rbr;           /* last byte read, returned again if the FIFO is empty */
	bool thr_ipending;     /* THRE interrupt pending (§8.4: set when THR empties) */
	bool thre_last;        /* THRE as last computed, to see it become 1 */
	bool irq_level;        /* level last given to the irq router */
	bool rx_waiting;       /* rx_push refused bytes: call rx_space when emptied */
	bool tx_notified;      /* tx_notify sent and the ring not yet emptied */

	uint8_t rx[UART16550_FIFO_SIZE];
	unsigned rx_head, rx_count;

	uint8_t *tx;           /* UART16550_TX_RING bytes */
	size_t tx_head, tx_count;
	uint64_t tx_dropped;
};

/* Work for after the lock is dropped. */
struct uart_notify {
	bool tx, rx;
};

static struct ratelimit uart_drop_rl = RATELIMIT_INIT(5);

static struct uart *to_uart(struct device *dev)
{
	return dev->state;
}

static unsigned uart_rx_capacity(const struct uart *u)
{
	/* Without FIFOs the receiver holds one byte in RBR (16450 mode, §8.5). */
	return (u->fcr & FCR_ENABLE) ? UART16550_FIFO_SIZE : 1;
}

static unsigned uart_rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 }; /* FCR bits 7:6, §8.5 */
	return (u->fcr & FCR_ENABLE) ? levels[u->fcr >> 6] : 1;
}

static bool uart_thre(const struct uart *u)
{
	return UART16550_TX_RING - u->tx_count >= UART16550_FIFO_SIZE;
}

/* The modem control inputs (§8.7): in loopback they are MCR's outputs (DTR to
 * DSR, RTS to CTS, OUT1 to RI, OUT2 to DCD); otherwise the line is a connected
 * null-modem cable with the host (CTS, DSR and DCD asserted, no ring). */
static uint8_t uart_msr_inputs(const struct uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	uint8_t in = 0;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* Latch new modem inputs and their delta bits (TERI: RI went 1 -> 0). */
static void uart_update_msr(struct uart *u)
{
	uint8_t old = u->msr & 0xf0, in = uart_msr_inputs(u);
	uint8_t changed = old ^ in;
	if (changed & MSR_CTS)
		u->msr |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr |= MSR_DDCD;
	if ((old & MSR_RI) && !(in & MSR_RI))
		u->msr |= MSR_TERI;
	u->msr = (u->msr & MSR_DELTAS) | in;
}

/* THRE becoming 1 (the transmitter emptied) sets the THRE interrupt. */
static void uart_update_thre(struct uart *u)
{
	bool thre = uart_thre(u);
	if (thre && !u->thre_last)
		u->thr_ipending = true;
	u->thre_last = thre;
}

/* The highest-priority pending enabled source as IIR bits 3:0 (§8.4, Table IV). */
static uint8_t uart_iir_source(const struct uart *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx_count) {
		if (u->rx_count >= uart_rx_trigger(u))
			return IIR_RDI;
		return IIR_TIMEOUT; /* FIFO mode, data below the trigger level */
	}
	if ((u->ier & IER_ETBEI) && u->thr_ipending && uart_thre(u))
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

static void uart_update_irq(struct uart *u)
{
	bool gate = (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
	bool level = gate && uart_iir_source(u) != IIR_NO_INT;
	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(&u->irq, level);
	}
}

static void uart_rx_clear(struct uart *u, struct uart_notify *n)
{
	u->rx_head = u->rx_count = 0;
	if (u->rx_waiting) {
		u->rx_waiting = false;
		n->rx = true;
	}
}

/* A byte arrives at the receiver (loopback or host). */
static void uart_rx_put(struct uart *u, uint8_t byte)
{
	unsigned cap = uart_rx_capacity(u);
	if (u->rx_count < cap) {
		u->rx[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = byte;
		u->rx_count++;
		return;
	}
	u->lsr_err |= LSR_OE;
	/* §8.6 LSR bit 1: without FIFOs the new byte overwrites RBR; with
	 * FIFOs the FIFO is kept and the byte in the shift register is lost. */
	if (cap == 1)
		u->rx[u->rx_head] = byte;
}

static uint8_t uart_rx_get(struct uart *u, struct uart_notify *n)
{
	if (!u->rx_count)
		return u->rbr;
	u->rbr = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
	if (--u->rx_count == 0 && u->rx_waiting) {
		u->rx_waiting = false;
		n->rx = true;
	}
	return u->rbr;
}

static void uart_tx_put(struct uart *u, uint8_t byte, struct uart_notify *n)
{
	u->thr_ipending = false; /* §8.4: writing THR clears the THRE interrupt */
	if (u->mcr & MCR_LOOP) {
		uart_rx_put(u, byte);
	} else if (u->tx_count == UART16550_TX_RING) {
		/* The guest wrote although THRE said busy: a real UART would
		 * overwrite its full FIFO too. Count it, say so rarely. */
		u->tx_dropped++;
		log_ratelimited(&uart_drop_rl, "uart: guest wrote THR while busy, byte dropped");
	} else {
		u->tx[(u->tx_head + u->tx_count) % UART16550_TX_RING] = byte;
		if (u->tx_count++ == 0 && !u->tx_notified) {
			u->tx_notified = true;
			n->tx = true;
		}
	}
	/* The byte left at once: if there is still room, THR is empty again
	 * and that is a new THRE event. */
	u->thre_last = false;
	uart_update_thre(u);
}

static void uart_write_fcr(struct uart *u, uint8_t val, struct uart_notify *n)
{
	/* §8.5: the other bits are programmed only with FCR0 = 1; changing
	 * FCR0 clears both FIFOs. */
	uint8_t old = u->fcr;
	u->fcr = (val & FCR_ENABLE) ? (val & FCR_STORED) : 0;
	if (((old ^ u->fcr) & FCR_ENABLE) || (u->fcr && (val & FCR_CLEAR_RX)))
		uart_rx_clear(u, n);
	/* FCR_CLEAR_TX: bytes written to THR have already left the UART (they
	 * are on the host side of the wire, in the ring), so there is nothing
	 * to clear; console output the guest printed must not be lost. */
}

/* Host input is flow-controlled by RTS, as a DCE honours RTS/CTS: the host
 * sends only while the guest's driver asserts RTS and is not in loopback. A
 * driver raises RTS once it has reset its FIFOs and is ready to receive
 * (Linux: when the tty is opened), so input typed or piped in earlier waits
 * on the host side instead of being thrown away by the driver's FIFO reset. */
static bool uart_host_may_send(const struct uart *u)
{
	return (u->mcr & (MCR_RTS | MCR_LOOP)) == MCR_RTS;
}

static void uart_write_mcr(struct uart *u, uint8_t val, struct uart_notify *n)
{
	bool could = uart_host_may_send(u);
	u->mcr = val & MCR_MASK;
	uart_update_msr(u);
	if (!could && uart_host_may_send(u) && u->rx_waiting) {
		u->rx_waiting = false;
		n->rx = true;
	}
}

static uint8_t uart_read_reg(struct uart *u, unsigned off, struct uart_notify *n)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RBR_THR_DLL:
		return dlab ? u->dll : uart_rx_get(u, n);
	case UART_IER_DLM:
		return dlab ? u->dlm : u->ier;
	case UART_IIR_FCR:
		v = uart_iir_source(u);
		if (v == IIR_THRI)
			u->thr_ipending = false; /* §8.4: reading IIR clears THRE */
		return v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = u->lsr_err;
		if (u->rx_count)
			v |= LSR_DR;
		if (uart_thre(u))
			v |= LSR_THRE | LSR_TEMT;
		u->lsr_err = 0; /* §8.6: OE, PE, FE, BI reset when LSR is read */
		return v;
	case UART_MSR:
		v = u->msr;
		u->msr &= ~MSR_DELTAS; /* §8.7: deltas reset when MSR is read */
		return v;
	default:
		return u->scr;
	}
}

static void uart_write_reg(struct uart *u, unsigned off, uint8_t val, struct uart_notify *n)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (off) {
	case UART_RBR_THR_DLL:
		if (dlab)
			u->dll = val;
		else
			uart_tx_put(u, val, n);
		break;
	case UART_IER_DLM:
		if (dlab) {
			u->dlm = val;
		} else {
			uint8_t old = u->ier;
			u->ier = val & IER_MASK;
			/* Enabling ETBEI with THR empty raises THRE at once;
			 * Linux's 8250 startup probes for exactly this. */
			if ((u->ier & ~old & IER_ETBEI) && uart_thre(u))
				u->thr_ipending = true;
			if (!(u->ier & IER_ETBEI))
				u->thr_ipending = false;
		}
		break;
	case UART_IIR_FCR:
		uart_write_fcr(u, val, n);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		uart_write_mcr(u, val, n);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* §8.6/8.7: factory-test / read-only registers */
	default:
		u->scr = val;
		break;
	}
}

static void uart_notify_host(struct uart *u, const struct uart_notify *n)
{
	if (n->tx && u->host.tx_notify)
		u->host.tx_notify(u->host.opaque);
	if (n->rx && u->host.rx_space)
		u->host.rx_space(u->host.opaque);
}

/* The ISA bus splits a wide access to an 8-bit device into byte accesses at
 * consecutive ports; the bus guarantees off + size <= 8. */
static uint64_t uart_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct uart *u = to_uart(dev);
	struct uart_notify n = { 0 };
	uint64_t v = 0;

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size && off + i < UART16550_NR_PORTS; i++)
		v |= (uint64_t)uart_read_reg(u, (unsigned)off + i, &n) << (8 * i);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	uart_notify_host(u, &n);
	return v;
}

static void uart_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
		       uint64_t val)
{
	struct uart *u = to_uart(dev);
	struct uart_notify n = { 0 };

	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size && off + i < UART16550_NR_PORTS; i++)
		uart_write_reg(u, (unsigned)off + i, (uint8_t)(val >> (8 * i)), &n);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	uart_notify_host(u, &n);
}

/* Power-on state, §8 Table V: IER, FCR, LCR, MCR 0; IIR 1; LSR 0x60; MSR
 * deltas 0 and inputs as the line has them. The host TX ring is kept: it is
 * output already sent, not UART state. */
static void uart_reset_locked(struct uart *u, struct uart_notify *n)
{
	u->ier = u->lcr = u->mcr = u->scr = u->fcr = u->lsr_err = 0;
	u->dll = u->dlm = u->rbr = 0;
	uart_rx_clear(u, n);
	u->msr = uart_msr_inputs(u);
	u->thr_ipending = false;
	u->thre_last = uart_thre(u);
	uart_update_irq(u);
}

static void uart_reset(struct device *dev)
{
	struct uart *u = to_uart(dev);
	struct uart_notify n = { 0 };

	pthread_mutex_lock(&u->lock);
	uart_reset_locked(u, &n);
	pthread_mutex_unlock(&u->lock);
	uart_notify_host(u, &n);
}

#define UART_SNAP_VERSION 1

static int uart_save(struct device *dev, struct snap_writer *w)
{
	struct uart *u = to_uart(dev);

	pthread_mutex_lock(&u->lock);
	snap_begin(w, "UART", UART_SNAP_VERSION);
	snap_u8(w, u->ier);
	snap_u8(w, u->lcr);
	snap_u8(w, u->mcr);
	snap_u8(w, u->scr);
	snap_u8(w, u->dll);
	snap_u8(w, u->dlm);
	snap_u8(w, u->fcr);
	snap_u8(w, u->lsr_err);
	snap_u8(w, u->msr);
	snap_u8(w, u->rbr);
	snap_u8(w, u->thr_ipending);
	snap_u8(w, (uint8_t)u->rx_count);
	for (unsigned i = 0; i < u->rx_count; i++)
		snap_u8(w, u->rx[(u->rx_head + i) % UART16550_FIFO_SIZE]);
	/* Output the host has not written out yet: keep it across a restore. */
	snap_u32(w, (uint32_t)u->tx_count);
	for (size_t i = 0; i < u->tx_count; i++)
		snap_u8(w, u->tx[(u->tx_head + i) % UART16550_TX_RING]);
	snap_end(w);
	pthread_mutex_unlock(&u->lock);
	return w->error;
}

static int uart_restore(struct device *dev, struct snap_reader *r)
{
	struct uart *u = to_uart(dev);
	struct uart_notify n = { 0 };
	uint32_t version;
	int rc = snap_open(r, "UART", &version);
	if (rc)
		return rc;
	if (version != UART_SNAP_VERSION)
		return -ENOTSUP;

	/* Read into a scratch copy first so a bad snapshot changes nothing. */
	uint8_t reg[11], rx[UART16550_FIFO_SIZE];
	for (unsigned i = 0; i < sizeof(reg); i++)
		reg[i] = snap_get_u8(r);
	unsigned rx_count = snap_get_u8(r);
	if (r->error)
		return r->error;
	if (rx_count > UART16550_FIFO_SIZE)
		return -EINVAL;
	snap_get_bytes(r, rx, rx_count);
	uint32_t tx_count = snap_get_u32(r);
	if (r->error)
		return r->error;
	if (tx_count > UART16550_TX_RING)
		return -EINVAL;
	uint8_t *tx = malloc(UART16550_TX_RING);
	if (!tx)
		return -ENOMEM;
	snap_get_bytes(r, tx, tx_count);
	if (r->error) {
		free(tx);
		return r->error;
	}

	pthread_mutex_lock(&u->lock);
	u->ier = reg[0] & IER_MASK;
	u->lcr = reg[1];
	u->mcr = reg[2] & MCR_MASK;
	u->scr = reg[3];
	u->dll = reg[4];
	u->dlm = reg[5];
	u->fcr = (reg[6] & FCR_ENABLE) ? (reg[6] & FCR_STORED) : 0;
	u->lsr_err = reg[7] & LSR_ERRORS;
	/* Inputs follow from MCR; only the deltas are state. */
	u->msr = (reg[8] & MSR_DELTAS) | uart_msr_inputs(u);
	u->rbr = reg[9];
	u->thr_ipending = reg[10] != 0;
	if (rx_count > uart_rx_capacity(u))
		rx_count = uart_rx_capacity(u);
	memcpy(u->rx, rx, rx_count);
	u->rx_head = 0;
	u->rx_count = rx_count;
	free(u->tx);
	u->tx = tx;
	u->tx_head = 0;
	u->tx_count = tx_count;
	u->thre_last = uart_thre(u);
	u->rx_waiting = false;
	u->tx_notified = tx_count != 0;
	n.tx = tx_count != 0;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	uart_notify_host(u, &n);
	return 0;
}

static void uart_destroy(struct device *dev)
{
	struct uart *u = to_uart(dev);
	pthread_mutex_destroy(&u->lock);
	free(u->tx);
	free(u);
}

static const struct device_ops uart_ops = {
	.name = "uart16550",
	.read = uart_read,
	.write = uart_write,
	.reset = uart_reset,
	.save = uart_save,
	.restore = uart_restore,
	.destroy = uart_destroy,
};

struct device *uart16550_create(const struct irq_line *irq, const struct uart_host_ops *host)
{
	struct uart *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->tx = malloc(UART16550_TX_RING);
	if (!u->tx || pthread_mutex_init(&u->lock, NULL)) {
		free(u->tx);
		free(u);
		return NULL;
	}
	if (irq)
		u->irq = *irq;
	if (host)
		u->host = *host;
	u->dev.ops = &uart_ops;
	u->dev.state = u;
	struct uart_notify n = { 0 };
	uart_reset_locked(u, &n);
	return &u->dev;
}

int uart16550_attach(struct vm *vm, uint16_t port, unsigned gsi,
		     const struct uart_host_ops *host, struct device **out)
{
	struct irq_line irq = { .router = &vm->irq, .gsi = gsi };
	struct device *dev = uart16550_create(&irq, host);
	if (!dev)
		return -ENOMEM;
	/* Owned by the VM from here on, so a failed registration below is
	 * cleaned up with the VM. */
	vm_add_device(vm, dev);
	int rc = bus_register(&vm->pio, port, UART16550_NR_PORTS, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}

size_t uart16550_tx_drain(struct device *dev, uint8_t *buf, size_t max)
{
	struct uart *u = to_uart(dev);
	struct uart_notify n = { 0 };
	size_t done = 0;

	pthread_mutex_lock(&u->lock);
	while (done < max && u->tx_count) {
		size_t chunk = UART16550_TX_RING - u->tx_head;
		if (chunk > u->tx_count)
			chunk = u->tx_count;
		if (chunk > max - done)
			chunk = max - done;
		memcpy(buf + done, u->tx + u->tx_head, chunk);
		u->tx_head = (u->tx_head + chunk) % UART16550_TX_RING;
		u->tx_count -= chunk;
		done += chunk;
	}
	if (u->tx_count)
		n.tx = true; /* bytes left behind: ask to be drained again */
	else
		u->tx_notified = false;
	uart_update_thre(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	uart_notify_host(u, &n);
	return done;
}

size_t uart16550_tx_pending(struct device *dev)
{
	struct uart *u = to_uart(dev);
	pthread_mutex_lock(&u->lock);
	size_t n = u->tx_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart16550_rx_push(struct device *dev, const uint8_t *buf, size_t len)
{
	struct uart *u = to_uart(dev);
	size_t done = 0;

	pthread_mutex_lock(&u->lock);
	while (done < len && uart_host_may_send(u) && u->rx_count < uart_rx_capacity(u))
		uart_rx_put(u, buf[done++]);
	if (done < len)
		u->rx_waiting = true;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return done;
}

uint64_t uart16550_tx_dropped(struct device *dev)
{
	struct uart *u = to_uart(dev);
	pthread_mutex_lock(&u->lock);
	uint64_t n = u->tx_dropped;
	pthread_mutex_unlock(&u->lock);
	return n;
}
