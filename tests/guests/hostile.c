/* A guest that pokes everything: wild values (0, all-ones, 0xaa.., seeded
 * xorshift noise) written with 1-, 2- and 4-byte accesses to every I/O port
 * 0-0xffff and read back, then random register sequences on the UART
 * (divisor latch, loopback, FIFO control included) and the CMOS RTC. The
 * only ports spared are the ones whose job is to stop the VM: debug-exit
 * 0x501, pvpanic 0x505, reset 0xcf9 and i8042 0x64, ACPI PM1a control
 * 0x604-0x605 (an access
 * is skipped if any of its bytes would touch them). Last, random reads and
 * writes of every size across the MMIO hole below the I/O APIC. isola must survive all
 * of it: the guest then restores the UART to 8N1 without loopback, checks
 * that the UART reads back that state, and passes. */
#include "rt/lib.h"

#define SWEEP_CHUNK 0x1000
#define UART_OPS 20000
#define RTC_OPS 5000
#define MMIO_OPS 20000
/* The MMIO hole below the I/O APIC: device MMIO (virtio at 0xd0000000) and
 * nothing. The interrupt controllers above are left alone: a random ICR
 * write could INIT this very CPU. */
#define HOLE_START 0xc0000000ull
#define HOLE_END 0xfec00000ull

static bool stops_vm(uint32_t port, unsigned size)
{
	static const uint16_t spared[] = {
		PORT_DEBUG_EXIT, PORT_PVPANIC, PORT_RESET_CF9, PORT_I8042_CMD, PORT_PM1_CNT,
		PORT_PM1_CNT + 1,
	};

	for (unsigned i = 0; i < sizeof(spared) / sizeof(spared[0]); i++)
		if (spared[i] >= port && spared[i] < port + size)
			return true;
	return false;
}

static void port_write(uint32_t port, unsigned size, uint32_t v)
{
	if (port + size > 0x10000 || stops_vm(port, size))
		return;
	if (size == 1)
		outb((uint16_t)port, (uint8_t)v);
	else if (size == 2)
		outw((uint16_t)port, (uint16_t)v);
	else
		outl((uint16_t)port, v);
}

static void port_read(uint32_t port, unsigned size)
{
	if (port + size > 0x10000)
		return;
	if (size == 1)
		(void)inb((uint16_t)port);
	else if (size == 2)
		(void)inw((uint16_t)port);
	else
		(void)inl((uint16_t)port);
}

/* Bytes get all four kinds of value; words and dwords one fixed kind (rotating
 * with the port number) and one random value, to keep the ~700k port exits
 * within seconds on kvm here. */
static void sweep(uint32_t first, uint32_t end, uint64_t *rng)
{
	static const uint32_t fixed[] = { 0, 0xffffffff, 0xaaaaaaaa };

	for (uint32_t p = first; p < end; p++) {
		for (unsigned k = 0; k < 3; k++)
			port_write(p, 1, fixed[k]);
		port_write(p, 1, (uint32_t)xorshift64(rng));
		port_read(p, 1);
		for (unsigned size = 2; size <= 4; size += 2) {
			port_write(p, size, fixed[(p + size) % 3]);
			port_write(p, size, (uint32_t)xorshift64(rng));
			port_read(p, size);
		}
	}
}

static void hammer_uart(uint64_t *rng)
{
	for (unsigned i = 0; i < UART_OPS; i++) {
		uint64_t r = xorshift64(rng);
		uint16_t reg = (uint16_t)(r & 7);
		uint8_t v = (uint8_t)(r >> 8);
		switch ((r >> 16) % 8) {
		case 0: /* divisor latch access on or off, then the latch itself */
			outb(COM1 + UART_LCR, v | ((r >> 24) & 1 ? UART_LCR_DLAB : 0));
			outb(COM1 + (uint16_t)((r >> 25) & 1), (uint8_t)(r >> 32));
			break;
		case 1: /* loopback and modem control lines */
			outb(COM1 + UART_MCR, v | ((r >> 24) & 1 ? UART_MCR_LOOP : 0));
			break;
		case 2: /* FIFO enable, reset, trigger levels */
			outb(COM1 + UART_FCR, v);
			break;
		case 3:
		case 4:
			outb(COM1 + reg, v);
			break;
		default:
			(void)inb(COM1 + reg);
			break;
		}
	}
}

static void hammer_rtc(uint64_t *rng)
{
	for (unsigned i = 0; i < RTC_OPS; i++) {
		uint64_t r = xorshift64(rng);
		outb(PORT_CMOS_INDEX, (uint8_t)r);
		if ((r >> 8) & 1)
			outb(PORT_CMOS_DATA, (uint8_t)(r >> 16));
		else
			(void)inb(PORT_CMOS_DATA);
		if ((r >> 9) % 4 == 0)
			(void)inb(PORT_CMOS_INDEX);
	}
}

/* 16550A: leave loopback first (in loopback nothing reaches the console),
 * empty the receiver, then the normal set-up; read back what is readable. */
static int uart_restore(void)
{
	outb(COM1 + UART_MCR, 0x03);
	uart_init();
	for (unsigned i = 0; i < 4096 && (inb(COM1 + UART_LSR) & UART_LSR_DR); i++)
		(void)inb(COM1 + UART_RBR);
	(void)inb(COM1 + UART_IIR);
	(void)inb(COM1 + UART_MSR);
	uint8_t lcr = inb(COM1 + UART_LCR), mcr = inb(COM1 + UART_MCR);
	uint8_t ier = inb(COM1 + UART_IER);
	if (lcr != 0x03 || (mcr & 0x1f) != 0x03 || ier != 0x00) {
		printf("UART reads back LCR 0x%02x MCR 0x%02x IER 0x%02x\n", lcr, mcr, ier);
		return -1;
	}
	return 0;
}

static void hammer_mmio(uint64_t *rng)
{
	for (unsigned i = 0; i < MMIO_OPS; i++) {
		uint64_t r = xorshift64(rng), v = xorshift64(rng);
		uint64_t a = HOLE_START + (r >> 8) % (HOLE_END - HOLE_START);
		unsigned size = 1u << (r & 3);
		a &= ~(uint64_t)(size - 1); /* aligned, so no access spans a page */
		bool write = (r >> 2) & 1;
		switch (size) {
		case 1:
			write ? mmio_write8(a, (uint8_t)v) : (void)mmio_read8(a);
			break;
		case 2:
			write ? mmio_write16(a, (uint16_t)v) : (void)mmio_read16(a);
			break;
		case 4:
			write ? mmio_write32(a, (uint32_t)v) : (void)mmio_read32(a);
			break;
		default:
			write ? mmio_write64(a, v) : (void)mmio_read64(a);
			break;
		}
	}
}

int guest_main(void *bp)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull, seed;

	if (cmdline_u64(bp, "seed", &seed) && seed)
		rng = seed;
	printf("hostile: seed 0x%lx; sweeping ports 0x0000-0xffff\n", rng);
	for (uint32_t p = 0; p < 0x10000; p += SWEEP_CHUNK) {
		sweep(p, p + SWEEP_CHUNK, &rng);
		/* The sweep went through the UART's own ports too. */
		if (uart_restore())
			fail("UART not restorable after ports 0x%04x-0x%04x", p,
			     p + SWEEP_CHUNK - 1);
		printf("  ports 0x%04x-0x%04x done\n", p, p + SWEEP_CHUNK - 1);
	}
	puts("hammering the UART\n");
	hammer_uart(&rng);
	if (uart_restore())
		fail("UART not restorable after random register sequences");
	puts("UART back to 8N1, FIFO on, no loopback\n");
	puts("hammering the RTC\n");
	hammer_rtc(&rng);
	puts("hammering the MMIO hole 0xc0000000-0xfebfffff\n");
	hammer_mmio(&rng);
	puts("isola survived\n");
	return 0;
}
