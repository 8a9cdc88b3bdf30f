/* The 16550A as a driver probes it (16550A datasheet; Linux's 8250
 * autoconfig does the same checks): scratch and line-control registers read
 * back, the divisor latch behind DLAB, IIR reporting FIFOs and the THRE
 * interrupt (cleared by reading IIR), loopback wiring MCR outputs to the MSR
 * inputs, loopback data through the receive FIFO in order, and FIFO reset.
 * Bytes sent in loopback must not reach the console: run.sh checks that the
 * marker below never appears in isola's output. The checks print what they
 * saw only after the UART is back to normal. */
#include "rt/lib.h"

#define LOOPBACK_MARKER "zq-loopback-only-zq" /* must not reach the host */

static char why[96];
static unsigned nwhy;

static void note(const char *what, unsigned got, unsigned want)
{
	/* Remember the first mismatch; printing now could go nowhere. */
	if (nwhy++)
		return;
	unsigned i = 0;
	for (; what[i] && i < sizeof(why) - 12; i++)
		why[i] = what[i];
	static const char hex[] = "0123456789abcdef";
	why[i++] = ' ';
	why[i++] = hex[(got >> 4) & 0xf];
	why[i++] = hex[got & 0xf];
	why[i++] = '/';
	why[i++] = hex[(want >> 4) & 0xf];
	why[i++] = hex[want & 0xf];
	why[i] = 0;
}

static void expect(const char *what, uint8_t got, uint8_t want)
{
	if (got != want)
		note(what, got, want);
}

static uint8_t rd(uint16_t reg)
{
	return inb(COM1 + reg);
}

static void wr(uint16_t reg, uint8_t v)
{
	outb(COM1 + reg, v);
}

int guest_main(void *bp)
{
	puts("16550A register checks\n");

	wr(UART_SCR, 0x5a);
	expect("SCR read (got/want)", rd(UART_SCR), 0x5a);
	wr(UART_SCR, 0xa5);
	expect("SCR read", rd(UART_SCR), 0xa5);

	wr(UART_LCR, 0x1b); /* 8 bits, 1 stop, even parity */
	expect("LCR read", rd(UART_LCR), 0x1b);
	wr(UART_LCR, 0x03 | UART_LCR_DLAB);
	wr(UART_DLL, 0x34);
	wr(UART_DLM, 0x12);
	expect("DLL read", rd(UART_DLL), 0x34);
	expect("DLM read", rd(UART_DLM), 0x12);
	wr(UART_LCR, 0x03);
	/* With DLAB off, offset 1 is IER again and was not touched. */
	expect("IER after DLM write", rd(UART_IER), 0x00);
	wr(UART_LCR, 0x03 | UART_LCR_DLAB);
	wr(UART_DLL, 0x01);
	wr(UART_DLM, 0x00);
	wr(UART_LCR, 0x03);

	/* FIFOs on: IIR bits 7:6 = 11; no interrupt enabled: bit 0 = 1. */
	wr(UART_FCR, 0x07);
	expect("IIR, FIFOs on", rd(UART_IIR), 0xc1);
	expect("LSR idle", rd(UART_LSR) & 0x61, 0x60);

	/* The THRE interrupt: enabling it with THR empty makes it pending;
	 * reading IIR while it is the source clears it (datasheet table 4). */
	wr(UART_IER, 0x02);
	expect("IIR, THRE pending", rd(UART_IIR), 0xc2);
	expect("IIR, THRE read cleared", rd(UART_IIR), 0xc1);
	wr(UART_IER, 0x00);

	/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	wr(UART_MCR, UART_MCR_LOOP | 0x0a);
	expect("MSR, loop RTS+OUT2", rd(UART_MSR) & 0xf0, 0x90);
	wr(UART_MCR, UART_MCR_LOOP | 0x05);
	expect("MSR, loop DTR+OUT1", rd(UART_MSR) & 0xf0, 0x60);

	/* Loopback data goes to our own receiver, through the FIFO in order. */
	const char *m = LOOPBACK_MARKER;
	unsigned n = (unsigned)strlen(m);
	if (n > 16)
		n = 16; /* the receive FIFO holds 16 */
	for (unsigned i = 0; i < n; i++)
		wr(UART_THR, (uint8_t)m[i]);
	for (unsigned i = 0; i < n; i++) {
		expect("LSR.DR in loopback", rd(UART_LSR) & UART_LSR_DR, UART_LSR_DR);
		expect("loopback byte", rd(UART_RBR), (uint8_t)m[i]);
	}
	expect("LSR.DR after draining", rd(UART_LSR) & UART_LSR_DR, 0);

	/* FCR bit 1 empties the receive FIFO. */
	wr(UART_THR, 'x');
	wr(UART_THR, 'y');
	expect("LSR.DR before FIFO reset", rd(UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	wr(UART_FCR, 0x03);
	expect("LSR.DR after FIFO reset", rd(UART_LSR) & UART_LSR_DR, 0);

	uart_init();
	(void)rd(UART_MSR); /* clear the deltas loopback left */
	if (nwhy)
		fail("%u register checks failed, first: %s", nwhy, why);
	puts("scratch, LCR, divisor latch, IIR, THRE interrupt, loopback, FIFO reset: ok\n");
	return 0;
}
