/* The soft back end's interrupt controllers as one object: a local APIC per
 * vCPU, the I/O APIC, the 8259A pair and the 8254 PIT (with port 0x61), wired
 * as on a PC:
 *
 *   GSI 0-15  -> 8259A IRQ n (GSI 2 is not the cascade: it reaches the I/O
 *                APIC only) and I/O APIC pin n, except ISA IRQ 0
 *                (GSI 0, the PIT) which is I/O APIC pin 2 (the MADT's
 *                interrupt source override);
 *   GSI 16-23 -> I/O APIC pin n;
 *   8259A INTR -> LINT0 of every local APIC (taken where LINT0 is ExtINT);
 *   I/O APIC and IPIs -> local APICs by destination.
 * kvm does not use this: its in-kernel irqchip and PIT do the same job.
 *
 * Ports: PIC 0x20-0x21, 0xa0-0xa1, ELCR 0x4d0-0x4d1, PIT 0x40-0x43, 0x61 on
 * vm->pio; the I/O APIC page at LAYOUT_IOAPIC on vm->mmio. The local APIC
 * page is NOT on the mmio bus (the bus cannot tell which vCPU accesses it):
 * the CPU calls irqchip_lapic_access() for addresses in its APIC page.
 *
 * Timers (LAPIC timers, PIT channel 0) are functions of the clock (CLOCK_
 * MONOTONIC); expiries are noticed on every call into the chip and, with
 * irqchip_enable_timers(), by a timerfd on the event loop armed for the
 * earliest deadline, so a halted vCPU is woken without polling.
 *
 * ---- How a CPU back end uses this ----
 *
 * At set-up (vm_create / vcpu_create, before vCPU threads run):
 *   irqchip_attach(vm, &chip)               create, register ports/MMIO, timers
 *   irqchip_set_wake(chip, i, fn, opaque)   per vCPU: fn(opaque) is called
 *       from ANY thread, with the chip's lock held, whenever vCPU i may have
 *       something to take (an interrupt above its PPR, an ExtINT, an NMI, an
 *       INIT or SIPI). It must only set a flag and wake the vCPU thread (soft:
 *       atomic_store(&cpu->irq_pending, true); soft_cpu_wake(cpu)) and never
 *       call back into the chip. Spurious calls are possible.
 *   accel_ops.irq_set(acc, gsi, level)  ->  irqchip_set_irq(chip, gsi, level)
 *
 * On the vCPU thread:
 *   - at an instruction boundary where RFLAGS.IF = 1 and there is no STI /
 *     MOV SS shadow and the wake flag is set: clear the flag, then
 *     v = irqchip_ack(chip, i) (IRR -> ISR, or the 8259A's INTA for ExtINT);
 *     if v >= 0 deliver vector v through the IDT as an external interrupt
 *     (no error code). irqchip_ack calls the wake function again if more is
 *     pending. (soft: cpu->intc = { irqchip_intc_ack, irqchip_cpu(chip, i) }.)
 *   - HLT: sleep until the wake function runs (the timerfd on the event loop
 *     fires the LAPIC timer and PIT on time); irqchip_next_deadline_ns() is
 *     there for a back end that prefers a timed sleep and irqchip_poll().
 *   - loads/stores to the APIC page (IA32_APIC_BASE & ~0xfff, while its
 *     enable bit 11 is set): irqchip_lapic_access(chip, i, gpa, data, size,
 *     is_write) instead of an MMIO exit; writes to IA32_APIC_BASE:
 *     irqchip_set_apic_enabled(chip, i, value & (1 << 11)).
 *   - MOV to/from CR8: irqchip_set_cr8() / irqchip_get_cr8() (CR8[3:0] is
 *     TPR[7:4], SDM Vol. 3A 11.8.6).
 *   - NMI: irqchip_take_nmi(chip, i) when the wake flag is set (NMIs ignore
 *     IF); INIT / SIPI: irqchip_take_startup(chip, i, &vector) (LAPIC_EV_*
 *     bits): INIT puts the CPU in wait-for-SIPI, SIPI starts it at
 *     CS = vector << 8, IP = 0 if it was waiting.
 * CPUID must say: APIC (leaf 1 EDX bit 9), no x2APIC, no TSC-deadline, and
 * the APIC bus runs at LAPIC_BUS_HZ (leaf 0x40000010 EBX = LAPIC_BUS_HZ/1000).
 * Leaf 0x15's crystal (ECX) must be LAPIC_BUS_HZ too: Linux on a GenuineIntel
 * CPU takes the crystal as the APIC timer's clock and skips calibrating it
 * (native_calibrate_tsc: lapic_timer_period = crystal_khz * 1000 / HZ); a
 * 25 MHz crystal with a 1 GHz APIC timer makes its ticks 40 times too short.
 */
#ifndef ISOLA_DEVICES_IRQCHIP_H
#define ISOLA_DEVICES_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/lapic.h"

struct device;
struct eventloop;
struct irqchip;
struct vm;

#define IRQCHIP_NR_GSI 24

/* Monotonic nanoseconds. */
typedef uint64_t (*irqchip_clock_fn)(void *opaque);

/* nr_cpus local APICs (IDs 0..nr_cpus-1, CPU 0 the BSP); ioapic_id is the I/O
 * APIC's ID after reset (the MADT's). clock NULL: CLOCK_MONOTONIC. NULL on
 * ENOMEM or a bad count. The chip owns a struct device (irqchip_device) whose
 * ops reset/save/restore/destroy it and serve its port and MMIO ranges. */
struct irqchip *irqchip_create(unsigned nr_cpus, uint8_t ioapic_id, irqchip_clock_fn clock,
			       void *clock_opaque);
struct device *irqchip_device(struct irqchip *chip);

/* Create the chip for vm->cfg.cpus CPUs, add its device to the VM (which
 * then owns and frees it), register its ports and the I/O APIC MMIO page and,
 * if vm->loop is set, its timers on the loop. 0 or -errno. */
int irqchip_attach(struct vm *vm, struct irqchip **out) __attribute__((warn_unused_result));

/* Claim the chip's port ranges on pio and the I/O APIC page on mmio (what
 * irqchip_attach does; tests use it with buses of their own). 0 or -errno. */
struct bus;
int irqchip_register(struct irqchip *chip, struct bus *pio, struct bus *mmio)
	__attribute__((warn_unused_result));

/* Put a timerfd on loop (callbacks on the loop's thread) so timers fire
 * while no vCPU calls in. Only with the default clock. 0, -EBUSY, -EINVAL,
 * or -errno. */
int irqchip_enable_timers(struct irqchip *chip, struct eventloop *loop)
	__attribute__((warn_unused_result));

/* Drive GSI gsi (0-23). 0 or -EINVAL. Any thread. */
int irqchip_set_irq(struct irqchip *chip, unsigned gsi, int level);

/* Per-vCPU wake-up (see above). */
void irqchip_set_wake(struct irqchip *chip, unsigned cpu, void (*wake)(void *opaque),
		      void *opaque);

/* The vector to deliver to vCPU cpu now, with the acceptance bookkeeping
 * done, or -1. */
int irqchip_ack(struct irqchip *chip, unsigned cpu);
/* Would irqchip_ack return a vector now (no side effects)? */
bool irqchip_has_interrupt(struct irqchip *chip, unsigned cpu);
/* struct soft_intc adapter: opaque = irqchip_cpu(chip, cpu). */
void *irqchip_cpu(struct irqchip *chip, unsigned cpu);
int irqchip_intc_ack(void *opaque);

/* A load or store in vCPU cpu's APIC page; addr is the guest-physical
 * address (only its offset in the 4 KiB page matters). size 1-8. */
void irqchip_lapic_access(struct irqchip *chip, unsigned cpu, uint64_t addr, uint8_t *data,
			  unsigned size, bool is_write);
void irqchip_set_apic_enabled(struct irqchip *chip, unsigned cpu, bool enabled);
void irqchip_set_cr8(struct irqchip *chip, unsigned cpu, uint64_t cr8);
uint64_t irqchip_get_cr8(struct irqchip *chip, unsigned cpu);
bool irqchip_take_nmi(struct irqchip *chip, unsigned cpu);
unsigned irqchip_take_startup(struct irqchip *chip, unsigned cpu, uint8_t *sipi_vector);

/* Earliest timer deadline (clock ns), UINT64_MAX if none; fire what has
 * expired by the clock's now. */
uint64_t irqchip_next_deadline_ns(struct irqchip *chip);
void irqchip_poll(struct irqchip *chip);

#endif
