/* Runtime for isola's test guests: console, verdicts, boot_params access.
 * See lib.h for the boot contract. */
#include "lib.h"

/* How many times putc polls LSR.THRE before writing anyway: a UART model
 * that never reports THRE must not hang the guest (the script's timeout would
 * then hide what went wrong). */
#define UART_THRE_POLLS 100000

/* 16550A datasheet: DLAB=1 to reach the divisor latch, divisor 1 (115200
 * baud), then 8 data bits, no parity, 1 stop bit; FIFOs on and cleared; no
 * interrupts (the guest has no IDT); DTR and RTS asserted, no loopback. */
void uart_init(void)
{
	/* DLAB off first: with it on, offset 1 is DLM, not IER. */
	outb(COM1 + UART_LCR, 0x03);
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DLL, 0x01);
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03);
	outb(COM1 + UART_FCR, 0x07);
	outb(COM1 + UART_MCR, 0x03);
}

static void uart_tx(char c)
{
	for (int i = 0; i < UART_THRE_POLLS; i++)
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1 + UART_THR, (uint8_t)c);
}

void putc(char c)
{
	if (c == '\n')
		uart_tx('\r');
	uart_tx(c);
}

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

void put_hex(uint64_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";

	if (digits < 1)
		digits = 1;
	if (digits > 16)
		digits = 16;
	for (int i = digits - 1; i >= 0; i--)
		putc(hex[(v >> (i * 4)) & 0xf]);
}

void put_dec(uint64_t v)
{
	char buf[21];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc(buf[--n]);
}

/* Emit s padded to width: zero padding goes after a leading '-'. */
static void put_padded(const char *s, int len, int width, bool left, bool zero)
{
	int pad = width > len ? width - len : 0;

	if (!left && zero && *s == '-') {
		putc('-');
		s++;
		len--;
	}
	if (!left)
		while (pad--)
			putc(zero ? '0' : ' ');
	while (len--)
		putc(*s++);
	if (left)
		while (pad-- > 0)
			putc(' ');
}

static int fmt_unsigned(char *end, uint64_t v, unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	do {
		*--end = digits[v % base];
		v /= base;
		n++;
	} while (v);
	return n;
}

void vprintf(const char *fmt, va_list ap)
{
	char buf[24];

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			putc(*fmt);
			continue;
		}
		fmt++;
		bool left = false, zero = false;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		char *end = buf + sizeof(buf);
		int n;
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
			n = fmt_unsigned(end, mag, 10, false);
			if (v < 0) {
				*(end - n - 1) = '-';
				n++;
			}
			put_padded(end - n, n, width, left, zero);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			unsigned base = *fmt == 'u' ? 10 : 16;
			n = fmt_unsigned(end, v, base, *fmt == 'X');
			put_padded(end - n, n, width, left, zero);
			break;
		}
		case 'p': {
			uint64_t v = (uint64_t)va_arg(ap, void *);
			puts("0x");
			n = fmt_unsigned(end, v, 16, false);
			put_padded(end - n, n, width, left, zero);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			put_padded(s, (int)strlen(s), width, left, false);
			break;
		}
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			put_padded(buf, 1, width, left, false);
			break;
		case '%':
			putc('%');
			break;
		case '\0':
			return;
		default:
			putc('%');
			putc(*fmt);
			break;
		}
	}
}

void printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* QEMU isa-debug-exit convention: isola stops and exits with (v << 1) | 1.
 * If the write comes back, the port is not doing its job: say so, and end
 * the run through ACPI soft-off so the test script sees a wrong status at
 * once instead of waiting for its timeout (a verdict line is already out,
 * so a power-off cannot pass for success). Failing that, park the CPU. */
void debug_exit(uint8_t value)
{
	outb(PORT_DEBUG_EXIT, value);
	puts("debug-exit port did not stop the VM; trying ACPI power-off\n");
	outw(PORT_PM1_CNT, (5u << 10) | (1u << 13));
	for (;;)
		__asm__ volatile("cli; hlt");
}

void pass(void)
{
	puts("PASS\n");
	debug_exit(0);
}

void fail(const char *fmt, ...)
{
	va_list ap;

	puts("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putc('\n');
	debug_exit(1);
}

/* Called by crt0 with guest_main's return value. */
__attribute__((noreturn)) void guest_return(int status);
void guest_return(int status)
{
	if (status == 0)
		pass();
	fail("guest_main returned %d", status);
}

/* The volatile pointers keep gcc from recognising these loops as memset or
 * memcpy and turning them into calls to themselves. */
void *memset(void *d, int c, size_t n)
{
	volatile uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *dp = d;
	const volatile uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	volatile uint8_t *dp = d;
	const volatile uint8_t *sp = s;

	if (dp <= sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (uint8_t)a[i] < (uint8_t)b[i] ? -1 : 1;
		if (!a[i])
			return 0;
	}
	return 0;
}

static uint32_t bp_u32(const void *bp, unsigned off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)bp + off, sizeof(v));
	return v;
}

unsigned e820_count(const void *bp)
{
	unsigned n = ((const uint8_t *)bp)[BP_E820_ENTRIES];

	return n > E820_MAX_ENTRIES ? E820_MAX_ENTRIES : n;
}

struct e820_entry e820_get(const void *bp, unsigned i)
{
	struct e820_entry e;

	memcpy(&e, (const uint8_t *)bp + BP_E820_TABLE + i * sizeof(e), sizeof(e));
	return e;
}

static const char *e820_type_name(uint32_t type)
{
	switch (type) {
	case 1: return "usable";
	case 2: return "reserved";
	case 3: return "ACPI data";
	case 4: return "ACPI NVS";
	case 5: return "unusable";
	default: return "unknown";
	}
}

void e820_print(const void *bp)
{
	unsigned n = e820_count(bp);

	printf("e820: %u entries\n", n);
	for (unsigned i = 0; i < n; i++) {
		struct e820_entry e = e820_get(bp, i);
		printf("  [mem 0x%016lx-0x%016lx] %s (%u)\n", e.addr, e.addr + e.size - 1,
		       e820_type_name(e.type), e.type);
	}
}

/* Longest command line we read (isola reserves 64 KiB for it). */
#define CMDLINE_MAX 0x10000

const char *cmdline_get(const void *bp)
{
	uint64_t addr = bp_u32(bp, BP_CMD_LINE_PTR) |
			(uint64_t)bp_u32(bp, BP_EXT_CMD_LINE_PTR) << 32;

	/* Only trust an address inside the identity map. */
	if (addr == 0 || addr >= (4ull << 30) - CMDLINE_MAX)
		return "";
	return (const char *)addr;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;
	size_t i = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (i < len) {
		unsigned shift;
		switch (s[i]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: return false;
		}
		if (i + 1 != len || v > (UINT64_MAX >> shift))
			return false;
		v <<= shift;
	}
	*out = v;
	return true;
}

bool cmdline_u64(const void *bp, const char *key, uint64_t *out)
{
	const char *s = cmdline_get(bp);
	size_t klen = strlen(key);
	size_t i = 0;

	while (i < CMDLINE_MAX && s[i]) {
		while (i < CMDLINE_MAX && s[i] == ' ')
			i++;
		size_t start = i;
		while (i < CMDLINE_MAX && s[i] && s[i] != ' ')
			i++;
		size_t len = i - start;
		if (len > klen && s[start + klen] == '=' && !strncmp(s + start, key, klen))
			return parse_u64(s + start + klen + 1, len - klen - 1, out);
	}
	return false;
}
