/* IDT set-up and dispatch for the guests that take exceptions on purpose. */
#include "trap.h"

#define KERNEL_CS 0x10 /* isola's boot GDT: flat 64-bit code */
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define STUB_SIZE 16

struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type;
	uint16_t offset_mid;
	uint32_t offset_hi, reserved;
} __attribute__((packed));

extern char trap_stubs[];
static struct idt_gate idt[256] __attribute__((aligned(16)));

void trap_print(const struct trap_frame *f)
{
	printf("  vector %lu error 0x%lx rip 0x%lx cs 0x%lx rflags 0x%lx rsp 0x%lx ss 0x%lx "
	       "cr2 0x%lx\n",
	       f->vector, f->error, f->rip, f->cs, f->rflags, f->rsp, f->ss, read_cr2());
}

static void trap_unexpected(struct trap_frame *f)
{
	trap_print(f);
	fail("unexpected exception or interrupt %lu", f->vector);
}

void (*trap_handler)(struct trap_frame *f) = trap_unexpected;

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f)
{
	trap_handler(f);
}

void trap_install(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };

	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)trap_stubs + v * STUB_SIZE;
		idt[v] = (struct idt_gate){
			.offset_lo = (uint16_t)a,
			.selector = KERNEL_CS,
			.type = GATE_INTERRUPT,
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}
