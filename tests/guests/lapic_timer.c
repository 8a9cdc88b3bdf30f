/* Interrupt delivery from the local APIC timer (Intel SDM vol. 3A 10.5.4,
 * 10.8): with IF=0 a fired timer stays pending in the IRR and is taken right
 * after STI's one-instruction shadow; HLT wakes on it; periodic mode keeps
 * firing; a TPR above the vector's priority class holds it back until the
 * TPR drops; EOI clears the ISR bit. Needs a CPU that can deliver
 * interrupts: soft, or kvm with VT-x/AMD-V (not PVM, where the run script
 * skips it). */
#include "rt/trap.h"

#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ISR 0x100
#define LAPIC_IRR 0x200
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define TIMER_VECTOR 0x40 /* priority class 4 */
#define SPURIOUS_VECTOR 0xff
#define POLLS 10000000u

static volatile unsigned ticks, spurious;
static volatile uint64_t last_rip;

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

static bool vector_bit(uint32_t base, unsigned vector)
{
	return lapic_read(base + (vector / 32) * 0x10) & (1u << (vector % 32));
}

static void on_interrupt(struct trap_frame *f)
{
	if (f->vector == SPURIOUS_VECTOR) {
		spurious++; /* no EOI for the spurious vector (10.9) */
		return;
	}
	if (f->vector != TIMER_VECTOR) {
		trap_print(f);
		fail("unexpected vector %lu", f->vector);
	}
	if (!vector_bit(LAPIC_ISR, TIMER_VECTOR))
		fail("in the handler, the ISR bit of vector 0x%x is clear", TIMER_VECTOR);
	ticks++;
	last_rip = f->rip;
	lapic_write(LAPIC_EOI, 0);
}

/* Start a one-shot count (divide by 1) and wait until it reaches 0. */
static void fire_one_shot(uint32_t count)
{
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, count);
	unsigned i = 0;
	while (lapic_read(LAPIC_TIMER_CUR) != 0 && ++i < POLLS)
		;
	if (i == POLLS)
		fail("the one-shot timer never reached 0");
}

int guest_main(void *bp)
{
	if (lapic_read(0x30) == 0xffffffffu)
		fail("no local APIC at 0x%lx (its version register reads all-ones)", LAPIC_BASE);
	trap_install();
	trap_handler = on_interrupt;
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_TIMER_DIV, 0xb);

	/* 1. Fired with IF=0: pending in the IRR, taken after STI's shadow. */
	fire_one_shot(10000);
	if (ticks)
		fail("an interrupt was delivered with IF=0");
	if (!vector_bit(LAPIC_IRR, TIMER_VECTOR))
		fail("the expired timer is not pending in the IRR");
	uint64_t after_nop;
	__asm__ volatile("movq $1f, %0\n\tsti\n\tnop\n1:\tcli" : "=m"(after_nop) : : "memory");
	if (ticks != 1)
		fail("%u interrupts after STI, expected 1", ticks);
	if (last_rip != after_nop)
		fail("interrupt taken at 0x%lx, expected 0x%lx (after STI's shadow)", last_rip,
		     after_nop);
	if (vector_bit(LAPIC_ISR, TIMER_VECTOR) || vector_bit(LAPIC_IRR, TIMER_VECTOR))
		fail("ISR or IRR bit still set after EOI");
	puts("pending with IF=0, taken after STI: ok\n");

	/* 2. HLT wakes on the timer (1 ms at the 1 GHz APIC bus isola uses). */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, 1000000);
	__asm__ volatile("sti\n\thlt\n\tcli" : : : "memory");
	if (ticks != 2)
		fail("%u interrupts after HLT, expected 2", ticks);
	puts("HLT woken by the timer: ok\n");

	/* 3. Periodic mode: ten more wake-ups. */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, 200000);
	for (unsigned i = 0; i < 10; i++) {
		unsigned before = ticks;
		__asm__ volatile("sti\n\thlt\n\tcli" : : : "memory");
		if (ticks == before && spurious == 0)
			fail("HLT returned without an interrupt in periodic mode");
	}
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	if (ticks < 12)
		fail("periodic timer: %u interrupts, expected at least 12", ticks);
	/* A last tick may have fired between the final HLT and the mask. */
	__asm__ volatile("sti\n\tnop\n\tcli" : : : "memory");
	puts("periodic mode: ok\n");

	/* 4. TPR class 5 holds back vector 0x40 (class 4) until it drops. */
	unsigned before = ticks;
	lapic_write(LAPIC_TPR, 0x50);
	fire_one_shot(10000);
	__asm__ volatile("sti\n\tnop\n\tnop\n\tnop\n\tcli" : : : "memory");
	if (ticks != before)
		fail("interrupt delivered through a higher TPR");
	if (!vector_bit(LAPIC_IRR, TIMER_VECTOR))
		fail("the interrupt held back by the TPR is not pending");
	lapic_write(LAPIC_TPR, 0);
	__asm__ volatile("sti\n\tnop\n\tcli" : : : "memory");
	if (ticks != before + 1)
		fail("interrupt not delivered after the TPR dropped");
	puts("TPR masking: ok\n");

	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
	printf("%u timer interrupts, %u spurious\n", ticks, spurious);
	return 0;
}
