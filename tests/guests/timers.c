/* The clocks Linux calibrates against at boot: the 8254 PIT channel 2 gated
 * through port 0x61 (8254 datasheet mode 0; this is pit_calibrate_tsc()'s
 * method), the TSC and the local APIC timer. Checks that channel 2 counts
 * down, that OUT2 (port 0x61 bit 5) is low after the count is written and
 * goes high at terminal count, and measures the TSC and APIC timer rates
 * over that 65535-tick window (54.9 ms). If the hypervisor's timing leaf
 * (CPUID 0x40000010: TSC and APIC bus kHz) is there, the measured rates must
 * match it within 10%: a guest that trusts the leaf instead of measuring must
 * get a clock that runs at the speed announced. */
#include "rt/lib.h"

#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_61 0x61
#define P61_GATE2 0x01
#define P61_SPEAKER 0x02
#define P61_OUT2 0x20
#define PIT_HZ 1193182u
#define PIT_TICKS 0xffffu
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
/* Polls of port 0x61 before giving up on OUT2 (each is a VM exit). */
#define OUT2_POLLS 20000000u
#define ATTEMPTS 3

static uint16_t pit_latch_ch2(void)
{
	outb(PIT_CMD, 0x80); /* counter latch command, channel 2 */
	uint8_t lo = inb(PIT_CH2);
	return (uint16_t)(lo | inb(PIT_CH2) << 8);
}

/* Measured rate in kHz from a count over PIT_TICKS PIT ticks. */
static uint64_t khz(uint64_t count)
{
	return count * PIT_HZ / PIT_TICKS / 1000;
}

static bool within_10pct(uint64_t measured, uint64_t announced)
{
	return measured * 10 >= announced * 9 && measured * 10 <= announced * 11;
}

/* One PIT window; NULL if everything checks out, else why not. Counting
 * failures (no countdown, OUT2 stuck) fail at once: retrying cannot help. */
static const char *measure(uint32_t tsc_khz, uint32_t bus_khz)
{
	/* APIC timer: masked, divide by 1, one-shot from the largest count. */
	mmio_write32(LAPIC_BASE + LAPIC_LVT_TIMER, LVT_MASKED | 0xef);
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_DIV, 0xb);
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_INIT, 0xffffffffu);

	/* Gate channel 2 on, speaker off; mode 0, lobyte/hibyte, binary. */
	outb(PORT_61, (inb(PORT_61) & ~P61_SPEAKER) | P61_GATE2);
	outb(PIT_CMD, 0xb0);
	outb(PIT_CH2, PIT_TICKS & 0xff);
	uint64_t tsc0 = rdtsc();
	uint32_t apic0 = mmio_read32(LAPIC_BASE + LAPIC_TIMER_CUR);
	outb(PIT_CH2, PIT_TICKS >> 8); /* counting starts on the high byte */
	if (inb(PORT_61) & P61_OUT2)
		return "OUT2 high right after the count was written (mode 0 starts low)";
	uint16_t c1 = pit_latch_ch2(), c2 = pit_latch_ch2();
	for (unsigned i = 0; i < 1000 && c2 == c1; i++)
		c2 = pit_latch_ch2();
	printf("channel 2 latched counts 0x%04x then 0x%04x\n", c1, c2);
	if (c2 >= c1)
		fail("PIT channel 2 does not count down");

	unsigned polls = 0;
	while (!(inb(PORT_61) & P61_OUT2) && ++polls < OUT2_POLLS)
		;
	uint64_t tsc1 = rdtsc();
	uint32_t apic1 = mmio_read32(LAPIC_BASE + LAPIC_TIMER_CUR);
	if (polls == OUT2_POLLS)
		fail("OUT2 never went high (%u polls)", polls);
	printf("OUT2 high after %u polls\n", polls);
	mmio_write32(LAPIC_BASE + LAPIC_TIMER_INIT, 0);

	uint64_t tsc_m = khz(tsc1 - tsc0), apic_m = khz((uint64_t)(apic0 - apic1));
	printf("measured over 54.9 ms of PIT: TSC %lu kHz, APIC timer %lu kHz\n", tsc_m, apic_m);
	if (tsc1 <= tsc0)
		fail("TSC did not advance");
	if (apic1 >= apic0)
		fail("APIC timer did not count down");
	if (tsc_khz && !within_10pct(tsc_m, tsc_khz))
		return "TSC rate differs from the timing leaf by more than 10%";
	if (bus_khz && !within_10pct(apic_m, bus_khz))
		return "APIC timer rate differs from the timing leaf by more than 10%";
	return NULL;
}

int guest_main(void *bp)
{
	uint32_t tsc_khz = 0, bus_khz = 0;

	if (cpuid(1, 0).ecx & (1u << 31) && cpuid(0x40000000, 0).eax >= 0x40000010) {
		struct cpuid_regs t = cpuid(0x40000010, 0);
		tsc_khz = t.eax;
		bus_khz = t.ebx;
		printf("timing leaf: TSC %u kHz, APIC bus %u kHz\n", tsc_khz, bus_khz);
	} else {
		puts("no hypervisor timing leaf\n");
	}

	if (inb(PORT_61) == 0xff)
		fail("port 0x61 reads 0xff: no PIT / system control port");
	if (mmio_read32(LAPIC_BASE + 0x30) == 0xffffffffu)
		fail("no local APIC at 0x%lx (its version register reads all-ones)", LAPIC_BASE);

	/* A host that deschedules isola for tens of ms mid-measurement spoils
	 * one attempt, not the verdict: the rates must match in one of three. */
	const char *why = NULL;
	for (unsigned attempt = 1; attempt <= ATTEMPTS; attempt++) {
		why = measure(tsc_khz, bus_khz);
		if (!why)
			return 0;
		printf("attempt %u: %s\n", attempt, why);
	}
	fail("%s", why);
}
