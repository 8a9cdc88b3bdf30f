/* Runtime for isola's test guests: freestanding x86-64 long-mode programs.
 *
 * The boot contract (isola's ELF64 loader): 64-bit mode, CPL 0, identity map
 * of [0, 4 GiB) and all RAM, interrupts off, no IDT, RSI = struct boot_params.
 * crt0.S sets a stack, clears .bss and calls guest_main(bp). A guest prints
 * over COM1 and ends with "PASS" or "FAIL: <why>" and a debug-exit write.
 * Nothing here may fault: on kvm over PVM an exception ends the VM. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ports and addresses of the machine isola presents (src/arch/x86/layout.h). */
#define COM1            0x3f8
#define UART_RBR        0   /* receive buffer (read, DLAB=0) */
#define UART_THR        0   /* transmit holding (write, DLAB=0) */
#define UART_DLL        0   /* divisor latch low (DLAB=1) */
#define UART_IER        1
#define UART_DLM        1   /* divisor latch high (DLAB=1) */
#define UART_IIR        2   /* read */
#define UART_FCR        2   /* write */
#define UART_LCR        3
#define UART_MCR        4
#define UART_LSR        5
#define UART_MSR        6
#define UART_SCR        7
#define UART_LSR_DR     0x01
#define UART_LSR_THRE   0x20
#define UART_LCR_DLAB   0x80
#define UART_MCR_LOOP   0x10

#define PORT_DEBUG_EXIT 0x501
#define PORT_PVPANIC    0x505   /* a write of bit 0 (PANICKED) stops the VM: status 8 */
#define PORT_RESET_CF9  0xcf9
#define PORT_I8042_CMD  0x64
#define PORT_PM1_EVT    0x600
#define PORT_PM1_CNT    0x604
#define PORT_CMOS_INDEX 0x70
#define PORT_CMOS_DATA  0x71
#define IOAPIC_BASE     ((uint64_t)0xfec00000)
#define LAPIC_BASE      ((uint64_t)0xfee00000)

/* struct boot_params offsets (Documentation/arch/x86/zero-page.rst, boot.rst). */
#define BP_EXT_CMD_LINE_PTR 0x0c8  /* u32: bits 63:32 of the command line address */
#define BP_E820_ENTRIES     0x1e8  /* u8 */
#define BP_CMD_LINE_PTR     0x228  /* u32, in the setup header */
#define BP_E820_TABLE       0x2d0  /* struct e820_entry[128] */
#define E820_MAX_ENTRIES    128
#define E820_RAM            1
#define E820_RESERVED       2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The CPU state at entry, recorded by crt0.S before it changes anything. */
struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));
extern uint64_t boot_rflags, boot_rsi, boot_cr0, boot_cr3, boot_cr4, boot_efer;
extern uint16_t boot_cs, boot_ds, boot_es, boot_ss;
extern struct desc_ptr boot_gdtr, boot_idtr;

/* Symbols from guest.ld. */
extern char __image_start[], __image_end[];

/* The guest's entry point: return 0 to pass (prints PASS), anything else to
 * fail. fail() may be called anywhere instead. */
int guest_main(void *boot_params);

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO and plain memory through volatile pointers: one access per call, of
 * exactly the given width (the compiler may not merge or split them). */
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)a = v; }

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Serial console on COM1 (16550A datasheet: 8N1, divisor 1 = 115200 baud). */
void uart_init(void);
void putc(char c);               /* "\n" goes out as "\r\n" */
void puts(const char *s);        /* no newline added */
void put_hex(uint64_t v, int digits);
void put_dec(uint64_t v);
/* printf subset: %s %c %d %i %u %x %X %p %%, flags '0' '-', width, length
 * modifiers l ll z. */
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintf(const char *fmt, va_list ap);

/* Ending the run: prints the verdict line and writes the debug-exit port. */
__attribute__((noreturn)) void pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);
__attribute__((noreturn)) void debug_exit(uint8_t value);

/* String and memory functions (gcc may emit calls to the mem* ones). */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* boot_params accessors. */
unsigned e820_count(const void *bp);               /* clamped to E820_MAX_ENTRIES */
struct e820_entry e820_get(const void *bp, unsigned i);
void e820_print(const void *bp);
const char *cmdline_get(const void *bp);           /* "" when there is none */
/* Find "key=value" in the command line; value in decimal or 0x-hex with an
 * optional K/M/G suffix. true when found and well-formed. */
bool cmdline_u64(const void *bp, const char *key, uint64_t *out);

/* A seeded xorshift64 generator (Marsaglia 2003), for reproducible noise. */
static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

#endif
