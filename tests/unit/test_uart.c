/* 16550A register model: DLAB, LSR, FIFOs and overrun, IIR priorities, the
 * interrupt line as an irq router sees it, loopback, the host TX ring and RX
 * flow control, reset and snapshots. */
#include <stdlib.h>
#include <string.h>

#include "devices/uart16550.h"
#include "snapshot.h"
#include "unit.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

/* A fake irq router that records every level it is given. */
struct irq_rec {
	unsigned gsi;
	int level, calls, rises;
};

static int rec_set_level(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;
	r->gsi = gsi;
	r->calls++;
	if (level && !r->level)
		r->rises++;
	r->level = level;
	return 0;
}

struct host_rec {
	int tx_notes, rx_notes;
};

static void rec_tx_notify(void *opaque)
{
	((struct host_rec *)opaque)->tx_notes++;
}

static void rec_rx_space(void *opaque)
{
	((struct host_rec *)opaque)->rx_notes++;
}

struct fixture {
	struct irq_rec irq;
	struct irq_router router;
	struct irq_line line;
	struct host_rec host;
	struct uart_host_ops ops;
	struct device *dev;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->router = (struct irq_router){ .set_level = rec_set_level, .opaque = &f->irq };
	f->line = (struct irq_line){ .router = &f->router, .gsi = 4 };
	f->ops = (struct uart_host_ops){ .tx_notify = rec_tx_notify, .rx_space = rec_rx_space,
					 .opaque = &f->host };
	f->dev = uart16550_create(&f->line, &f->ops);
}

static void fx_fini(struct fixture *f)
{
	if (f->dev)
		f->dev->ops->destroy(f->dev);
}

static uint8_t in(struct fixture *f, unsigned off)
{
	return (uint8_t)f->dev->ops->read(f->dev, 0, off, 1);
}

static void out(struct fixture *f, unsigned off, uint8_t v)
{
	f->dev->ops->write(f->dev, 0, off, 1, v);
}

TEST(uart_power_on_state)
{
	struct fixture f;
	fx_init(&f);
	CHECK(f.dev != NULL);
	CHECK_EQ(in(&f, IER), 0);
	CHECK_EQ(in(&f, IIR), 0x01);
	CHECK_EQ(in(&f, LCR), 0);
	CHECK_EQ(in(&f, MCR), 0);
	CHECK_EQ(in(&f, LSR), 0x60);
	CHECK_EQ(in(&f, MSR), 0xb0); /* CTS, DSR, DCD: a connected line */
	CHECK_EQ(f.irq.level, 0);
	fx_fini(&f);
}

TEST(uart_dlab_switching)
{
	struct fixture f;
	fx_init(&f);
	out(&f, IER, 0x05);
	out(&f, LCR, 0x83); /* DLAB, 8N1 */
	out(&f, DLL, 0x0c);
	out(&f, DLM, 0x01);
	CHECK_EQ(in(&f, DLL), 0x0c);
	CHECK_EQ(in(&f, DLM), 0x01);
	CHECK_EQ(uart16550_tx_pending(f.dev), 0); /* DLL write is not a THR write */
	out(&f, LCR, 0x03);
	CHECK_EQ(in(&f, LCR), 0x03);
	CHECK_EQ(in(&f, IER), 0x05); /* IER was untouched by the DLM write */
	out(&f, IER, 0xff);
	CHECK_EQ(in(&f, IER), 0x0f); /* bits 7:4 read 0 on a 16550A */
	out(&f, LCR, 0x80);
	CHECK_EQ(in(&f, DLM), 0x01);
	CHECK_EQ(in(&f, DLL), 0x0c);
	out(&f, SCR, 0x5a);
	CHECK_EQ(in(&f, SCR), 0x5a);
	fx_fini(&f);
}

TEST(uart_rx_data_and_lsr)
{
	struct fixture f;
	fx_init(&f);
	out(&f, MCR, 0x02); /* RTS: the driver is ready to receive */
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"a", 1), 1);
	CHECK_EQ(in(&f, LSR) & 0x01, 0x01);
	/* Without FIFOs the receiver holds one byte: the host is told to wait. */
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"bc", 2), 0);
	CHECK_EQ(in(&f, RBR), 'a');
	CHECK_EQ(in(&f, LSR) & 0x01, 0);
	CHECK_EQ(f.host.rx_notes, 1); /* emptied after a refusal: push more */
	CHECK_EQ(in(&f, RBR), 'a');   /* an empty RBR keeps its last byte */

	out(&f, FCR, 0x07); /* FIFOs on, both cleared */
	CHECK_EQ(in(&f, IIR) & 0xc0, 0xc0);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"0123456789abcdefXYZ", 19), 16);
	CHECK_EQ(f.host.rx_notes, 1);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(in(&f, RBR), (uint8_t)"0123456789abcdef"[i]);
	CHECK_EQ(in(&f, LSR) & 0x03, 0); /* no DR, and host input never overruns */
	CHECK_EQ(f.host.rx_notes, 2);
	fx_fini(&f);
}

/* Host input waits for RTS (the driver ready to receive) and resumes, with
 * an rx_space notification, when the guest raises it. */
TEST(uart_host_input_follows_rts)
{
	struct fixture f;
	fx_init(&f);
	out(&f, FCR, 0x07);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"hi", 2), 0);
	CHECK_EQ(in(&f, LSR) & 0x01, 0);
	out(&f, MCR, 0x12); /* RTS in loopback: still not from the host */
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"hi", 2), 0);
	CHECK_EQ(f.host.rx_notes, 0);
	out(&f, MCR, 0x03); /* DTR | RTS */
	CHECK_EQ(f.host.rx_notes, 1);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"hi", 2), 2);
	CHECK_EQ(in(&f, RBR), 'h');
	CHECK_EQ(in(&f, RBR), 'i');
	fx_fini(&f);
}

TEST(uart_fifo_overrun_sets_oe)
{
	struct fixture f;
	fx_init(&f);
	out(&f, FCR, 0x01);
	out(&f, MCR, 0x10); /* loopback */
	for (int i = 0; i < 17; i++)
		out(&f, THR, (uint8_t)(0x40 + i));
	uint8_t lsr = in(&f, LSR);
	CHECK_EQ(lsr & 0x03, 0x03); /* DR and OE */
	CHECK_EQ(in(&f, LSR) & 0x02, 0); /* reading LSR cleared OE */
	for (int i = 0; i < 16; i++)
		CHECK_EQ(in(&f, RBR), 0x40 + i); /* the 17th byte was the one lost */
	CHECK_EQ(in(&f, LSR) & 0x01, 0);

	/* Without FIFOs, an overrun overwrites RBR (the older byte is lost). */
	out(&f, FCR, 0x00);
	out(&f, THR, 'x');
	out(&f, THR, 'y');
	CHECK_EQ(in(&f, LSR) & 0x03, 0x03);
	CHECK_EQ(in(&f, RBR), 'y');
	CHECK_EQ(uart16550_tx_pending(f.dev), 0); /* loopback never reaches the host */
	fx_fini(&f);
}

TEST(uart_fcr_clear_and_trigger)
{
	struct fixture f;
	fx_init(&f);
	out(&f, MCR, 0x02);
	out(&f, FCR, 0x41); /* FIFOs on, trigger level 4 */
	out(&f, IER, 0x01);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"ab", 2), 2);
	CHECK_EQ(in(&f, IIR), 0xcc); /* below the trigger: character timeout */
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"cd", 2), 2);
	CHECK_EQ(in(&f, IIR), 0xc4); /* at the trigger: received data available */
	out(&f, FCR, 0x43); /* clear RX */
	CHECK_EQ(in(&f, LSR) & 0x01, 0);
	CHECK_EQ(in(&f, IIR), 0xc1);
	/* FCR bits other than enable are not programmed without FCR0. */
	out(&f, FCR, 0xc0);
	CHECK_EQ(in(&f, IIR), 0x01);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"ef", 2), 1);
	CHECK_EQ(in(&f, IIR), 0x04); /* 16450 mode: one byte is "available" */
	fx_fini(&f);
}

TEST(uart_iir_priorities)
{
	struct fixture f;
	fx_init(&f);
	out(&f, FCR, 0x01);
	out(&f, MCR, 0x10);         /* loopback, no modem outputs */
	in(&f, MSR);                /* clear the deltas entering loopback made */
	for (int i = 0; i < 17; i++)
		out(&f, THR, 'q');  /* RX full and overrun */
	out(&f, MCR, 0x11);         /* DTR -> DSR changes: DDSR */
	out(&f, IER, 0x0f);
	CHECK_EQ(in(&f, IIR), 0xc6); /* line status first */
	CHECK_EQ(in(&f, IIR), 0xc6); /* reading IIR does not clear it */
	in(&f, LSR);
	CHECK_EQ(in(&f, IIR), 0xc4); /* then received data */
	for (int i = 0; i < 16; i++)
		in(&f, RBR);
	CHECK_EQ(in(&f, IIR), 0xc2); /* then THRE, cleared by this read */
	CHECK_EQ(in(&f, IIR), 0xc0); /* then modem status */
	CHECK_EQ(in(&f, MSR) & 0x0f, 0x02);
	CHECK_EQ(in(&f, IIR), 0xc1);
	fx_fini(&f);
}

TEST(uart_thre_interrupt_and_irq_line)
{
	struct fixture f;
	fx_init(&f);
	out(&f, MCR, 0x0a); /* OUT2 (the PC's IRQ enable) and RTS */
	CHECK_EQ(f.irq.level, 0);
	out(&f, IER, 0x02); /* enabling ETBEI with THR empty raises THRE at once */
	CHECK_EQ(f.irq.level, 1);
	CHECK_EQ(f.irq.gsi, 4);
	CHECK_EQ(in(&f, IIR), 0x02);
	CHECK_EQ(f.irq.level, 0); /* reading IIR cleared the only source */
	CHECK_EQ(in(&f, IIR), 0x01);
	out(&f, THR, 'A'); /* the byte leaves at once: THR empty again */
	CHECK_EQ(f.irq.level, 1);
	CHECK_EQ(f.irq.rises, 2);
	out(&f, IER, 0x00);
	CHECK_EQ(f.irq.level, 0);
	int calls = f.irq.calls;
	in(&f, LSR);
	in(&f, IIR);
	CHECK_EQ(f.irq.calls, calls); /* only level changes reach the router */

	/* Without OUT2 the IRQ driver is off, though IIR still reports. */
	out(&f, MCR, 0x00);
	out(&f, IER, 0x02);
	CHECK_EQ(f.irq.level, 0);
	CHECK_EQ(in(&f, IIR), 0x02);
	/* A second source while the line is high keeps it high; the guest's
	 * IIR loop finds it. */
	out(&f, MCR, 0x0a);
	out(&f, IER, 0x03);
	out(&f, THR, 'B');
	CHECK_EQ(f.irq.level, 1);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"z", 1), 1);
	CHECK_EQ(in(&f, IIR), 0x04);
	in(&f, RBR);
	CHECK_EQ(in(&f, IIR), 0x02);
	CHECK_EQ(f.irq.level, 0);
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"y", 1), 1);
	CHECK_EQ(f.irq.level, 1); /* host input raised it again: a new edge */
	fx_fini(&f);
}

TEST(uart_loopback_modem_lines)
{
	struct fixture f;
	fx_init(&f);
	out(&f, MCR, 0x1a); /* LOOP | OUT2 | RTS: Linux's autoconfig probe */
	CHECK_EQ(in(&f, MSR) & 0xf0, 0x90); /* DCD | CTS */
	out(&f, MCR, 0x1f);
	CHECK_EQ(in(&f, MSR), 0xf0 | 0x02); /* all inputs; DSR changed */
	out(&f, MCR, 0x10);
	/* CTS, DSR, DCD fell; RI fell too: trailing edge. */
	CHECK_EQ(in(&f, MSR), 0x0f);
	CHECK_EQ(in(&f, MSR), 0x00);
	out(&f, MCR, 0x1f);
	out(&f, IER, 0x08);
	CHECK_EQ(in(&f, IIR), 0x00);
	CHECK_EQ(f.irq.level, 0); /* loopback keeps the PC's IRQ gate shut */
	in(&f, MSR);
	out(&f, MCR, 0x00);
	CHECK_EQ(in(&f, MSR), 0xb0 | 0x04); /* connected line again; RI trailing edge */
	out(&f, THR, 'k');
	CHECK_EQ(uart16550_tx_pending(f.dev), 1);
	fx_fini(&f);
}

TEST(uart_tx_ring_full_and_drain)
{
	struct fixture f;
	fx_init(&f);
	out(&f, MCR, 0x08);
	out(&f, FCR, 0x01);
	out(&f, IER, 0x02);
	in(&f, IIR);
	size_t written = 0;
	while (in(&f, LSR) & 0x20) {
		for (int i = 0; i < 16; i++) /* a FIFO load per THRE, as Linux does */
			out(&f, THR, (uint8_t)(written + i));
		written += 16;
		CHECK(written <= UART16550_TX_RING);
		if (written > UART16550_TX_RING)
			break;
	}
	CHECK_EQ(written, UART16550_TX_RING);
	CHECK_EQ(f.host.tx_notes, 1); /* once, when the ring became non-empty */
	CHECK_EQ(in(&f, LSR) & 0x60, 0); /* THRE and TEMT: busy */
	CHECK_EQ(in(&f, IIR), 0xc1);
	CHECK_EQ(f.irq.level, 0);
	out(&f, THR, 0xee); /* ignoring THRE loses the byte, as on hardware */
	CHECK_EQ(uart16550_tx_dropped(f.dev), 1);

	uint8_t buf[100];
	CHECK_EQ(uart16550_tx_drain(f.dev, buf, sizeof(buf)), sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], (uint8_t)i);
	CHECK_EQ(f.host.tx_notes, 2); /* bytes left behind: drain again */
	CHECK_EQ(in(&f, LSR) & 0x60, 0x60);
	CHECK_EQ(f.irq.level, 1); /* THRE came back with ETBEI on */
	CHECK_EQ(in(&f, IIR), 0xc2);

	uint8_t *all = malloc(UART16550_TX_RING);
	CHECK(all != NULL);
	if (all) {
		size_t n = uart16550_tx_drain(f.dev, all, UART16550_TX_RING);
		CHECK_EQ(n, UART16550_TX_RING - sizeof(buf));
		CHECK_EQ(all[0], 100);
		CHECK_EQ(all[n - 1], (uint8_t)(UART16550_TX_RING - 1));
		free(all);
	}
	CHECK_EQ(f.host.tx_notes, 2);
	CHECK_EQ(uart16550_tx_drain(f.dev, buf, sizeof(buf)), 0);
	out(&f, THR, '!');
	CHECK_EQ(f.host.tx_notes, 3);
	CHECK_EQ(uart16550_tx_drain(f.dev, buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], '!');
	fx_fini(&f);
}

TEST(uart_wide_access_splits)
{
	struct fixture f;
	fx_init(&f);
	f.dev->ops->write(f.dev, 0, LCR, 2, 0x0b03); /* LCR = 3, MCR = 0x0b */
	CHECK_EQ(in(&f, LCR), 0x03);
	CHECK_EQ(in(&f, MCR), 0x0b);
	CHECK_EQ(f.dev->ops->read(f.dev, 0, LCR, 2), 0x0b03);
	f.dev->ops->write(f.dev, 0, 0, 4, 0x00000041); /* THR 'A', IER 0, FCR 0, LCR 0 */
	CHECK_EQ(uart16550_tx_pending(f.dev), 1);
	CHECK_EQ(in(&f, LCR), 0);
	fx_fini(&f);
}

TEST(uart_reset_state)
{
	struct fixture f;
	fx_init(&f);
	out(&f, LCR, 0x80);
	out(&f, DLL, 1);
	out(&f, LCR, 0x03);
	out(&f, MCR, 0x0a);
	out(&f, IER, 0x0f);
	out(&f, FCR, 0x01);
	out(&f, THR, 'x');
	CHECK_EQ(uart16550_rx_push(f.dev, (const uint8_t *)"abc", 3), 3);
	CHECK_EQ(f.irq.level, 1);
	f.dev->ops->reset(f.dev);
	CHECK_EQ(f.irq.level, 0);
	CHECK_EQ(in(&f, IER), 0);
	CHECK_EQ(in(&f, IIR), 0x01);
	CHECK_EQ(in(&f, LCR), 0);
	CHECK_EQ(in(&f, MCR), 0);
	CHECK_EQ(in(&f, LSR), 0x60);
	CHECK_EQ(uart16550_tx_pending(f.dev), 1); /* output already sent stays sent */
	fx_fini(&f);
}

TEST(uart_snapshot_roundtrip)
{
	struct fixture a, b;
	fx_init(&a);
	fx_init(&b);
	out(&a, LCR, 0x80);
	out(&a, DLL, 0x0c);
	out(&a, LCR, 0x1b);
	out(&a, FCR, 0x81);
	out(&a, SCR, 0x77);
	out(&a, MCR, 0x0b);
	out(&a, IER, 0x01);
	out(&a, THR, 'h');
	out(&a, THR, 'i');
	CHECK_EQ(uart16550_rx_push(a.dev, (const uint8_t *)"xyz", 3), 3);
	in(&a, RBR);

	struct snap_writer w;
	snap_writer_init(&w);
	CHECK_EQ(a.dev->ops->save(a.dev, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(b.dev->ops->restore(b.dev, &r), 0);

	CHECK_EQ(in(&b, LCR), 0x1b);
	CHECK_EQ(in(&b, MCR), 0x0b);
	CHECK_EQ(in(&b, SCR), 0x77);
	CHECK_EQ(in(&b, IER), 0x01);
	CHECK_EQ(in(&b, IIR), 0xcc); /* FIFO on, 2 bytes below trigger 8 */
	CHECK_EQ(b.irq.level, 1);
	CHECK_EQ(in(&b, RBR), 'y');
	CHECK_EQ(in(&b, RBR), 'z');
	out(&b, LCR, 0x9b);
	CHECK_EQ(in(&b, DLL), 0x0c);
	uint8_t buf[4];
	CHECK_EQ(uart16550_tx_drain(b.dev, buf, sizeof(buf)), 2);
	CHECK(!memcmp(buf, "hi", 2));

	/* A truncated snapshot is refused and changes nothing. */
	struct snap_writer t;
	snap_writer_init(&t);
	snap_begin(&t, "UART", 1);
	snap_u8(&t, 0x0f);
	snap_end(&t);
	CHECK_EQ(snap_finish(&t), 0);
	CHECK_EQ(snap_reader_init(&r, t.buf, t.len), 0);
	CHECK(b.dev->ops->restore(b.dev, &r) < 0);
	CHECK_EQ(in(&b, SCR), 0x77);
	snap_writer_free(&t);
	snap_writer_free(&w);
	fx_fini(&a);
	fx_fini(&b);
}

/* The probe Linux's 8250 driver runs on a PC COM port (8250_port.c:
 * autoconfig, autoconfig_16550a, size_fifo, serial8250_do_startup), replayed
 * register by register. Each check is a place where a model that strays from
 * a 16550A would make Linux pick another chip type or turn on a workaround. */
TEST(uart_linux_8250_probe_sees_a_16550a)
{
	struct fixture f;
	fx_init(&f);

	/* Existence: IER bits 3:0 must be writable and read back. */
	out(&f, IER, 0);
	CHECK_EQ(in(&f, IER) & 0x0f, 0);
	out(&f, IER, 0x0f);
	CHECK_EQ(in(&f, IER) & 0x0f, 0x0f);
	out(&f, IER, 0);
	/* Loopback: RTS and OUT2 come back as CTS and DCD. */
	uint8_t save_mcr = in(&f, MCR);
	out(&f, MCR, 0x10 | 0x0a);
	CHECK_EQ(in(&f, MSR) & 0xf0, 0x90);
	out(&f, MCR, save_mcr);
	/* EFR (LCR = 0xbf) written 0: on a 16550A that is an FCR write. */
	out(&f, LCR, 0xbf);
	out(&f, FCR, 0);
	out(&f, LCR, 0);
	out(&f, FCR, 0x01);
	CHECK_EQ(in(&f, IIR) >> 6, 3); /* FIFOs that work: a 16550A or later */

	/* No EFR behind LCR = 0x80 or 0xbf: offset 2 reads IIR, never 0. */
	out(&f, LCR, 0x80);
	CHECK(in(&f, IIR) != 0);
	out(&f, LCR, 0xbf);
	CHECK(in(&f, IIR) != 0);
	/* Not a National SuperIO: "EXCR1" (offset 2 with LCR = 0xe0) does not
	 * follow MCR's loop bit. */
	out(&f, LCR, 0);
	uint8_t s1 = in(&f, MCR);
	out(&f, LCR, 0xe0);
	uint8_t s2 = in(&f, IIR);
	CHECK_EQ((s1 ^ s2) & 0x10, 0);
	out(&f, LCR, 0);
	out(&f, MCR, s1 ^ 0x10);
	out(&f, LCR, 0xe0);
	s2 = in(&f, IIR);
	out(&f, LCR, 0);
	out(&f, MCR, s1);
	CHECK_EQ((s1 ^ s2) & 0x10, 0); /* "EXCR1" did not follow MCR: no NatSemi */
	/* Not a TI16750: IIR bit 5 stays 0 with the 64-byte FIFO asked for. */
	out(&f, FCR, 0x21);
	CHECK_EQ(in(&f, IIR) >> 5, 6);
	out(&f, FCR, 0x01);
	out(&f, LCR, 0x80);
	out(&f, FCR, 0x21);
	CHECK_EQ(in(&f, IIR) >> 5, 6);
	out(&f, FCR, 0x01);
	out(&f, LCR, 0);
	/* Not an XScale: IER bit 6 (UUE) is not writable. */
	out(&f, IER, 0x40);
	CHECK_EQ(in(&f, IER) & 0x40, 0);
	out(&f, IER, 0);

	/* size_fifo: 256 bytes looped back at divisor 1; 16 fit. */
	out(&f, LCR, 0);
	uint8_t old_fcr = in(&f, IIR); /* Linux reads "FCR", i.e. IIR */
	out(&f, FCR, 0x07);
	out(&f, MCR, 0x10);
	out(&f, LCR, 0x80);
	out(&f, DLL, 1);
	out(&f, DLM, 0);
	out(&f, LCR, 0x03);
	for (int i = 0; i < 256; i++)
		out(&f, THR, (uint8_t)i);
	int count = 0;
	while ((in(&f, LSR) & 0x01) && count < 256) {
		in(&f, RBR);
		count++;
	}
	CHECK_EQ(count, 16);
	out(&f, FCR, old_fcr);
	out(&f, MCR, 0);
	CHECK_EQ(uart16550_tx_pending(f.dev), 0); /* the probe never reaches the host */

	/* Startup: clear FIFOs, then the THRE re-assert test. */
	out(&f, FCR, 0x01);
	out(&f, FCR, 0x07);
	out(&f, FCR, 0x00);
	in(&f, LSR);
	in(&f, RBR);
	in(&f, IIR);
	in(&f, MSR);
	CHECK(in(&f, LSR) != 0xff);
	CHECK_EQ(in(&f, LSR) & 0x20, 0x20);
	out(&f, IER, 0x02);
	uint8_t iir1 = in(&f, IIR);
	out(&f, IER, 0);
	out(&f, IER, 0x02);
	uint8_t iir = in(&f, IIR);
	out(&f, IER, 0);
	CHECK_EQ(iir1 & 0x01, 0);
	CHECK_EQ(iir & 0x01, 0); /* else Linux sets UART_BUG_THRE and polls */
	/* OUT2 on, then the TX-enable test. */
	out(&f, LCR, 0x03);
	out(&f, MCR, 0x0b);
	out(&f, IER, 0x02);
	uint8_t lsr = in(&f, LSR);
	iir = in(&f, IIR);
	out(&f, IER, 0);
	CHECK(!((lsr & 0x40) && (iir & 0x01))); /* else UART_BUG_TXEN */
	CHECK(f.irq.rises >= 1); /* the THRE interrupt did reach the line */
	fx_fini(&f);
}
