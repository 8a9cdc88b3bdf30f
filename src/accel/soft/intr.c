/* The soft CPU's side of the interrupt controllers (devices/irqchip.h):
 * what happens at an instruction boundary when the local APIC has something
 * for this vCPU (INIT, startup IPI, NMI, an external interrupt), the APIC
 * page, CR8 and IA32_APIC_BASE.
 *
 * Wake-ups: the irqchip calls soft_irq_wake() (any thread, its lock held),
 * which sets cpu->irq_pending and bumps cpu->wake_seq. The run loop (exec.c)
 * looks at irq_pending before every instruction and calls soft_take_events().
 * INIT, SIPI and NMI ignore RFLAGS.IF, so they are asked for whenever the
 * flag is up — but only once per wake-up (cpu->events_seq): an interrupt
 * left pending under IF = 0 keeps irq_pending set and must not cost a lock
 * round trip per instruction. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "devices/irqchip.h"

void soft_irq_wake(void *opaque)
{
	struct soft_cpu *cpu = opaque;
	atomic_store(&cpu->irq_pending, true);
	soft_cpu_wake(cpu);
}

void soft_apic_access(struct soft_cpu *cpu, uint64_t gpa, void *data, unsigned size,
		      bool is_write)
{
	irqchip_lapic_access(cpu->chip, (unsigned)cpu->index, gpa, data, size, is_write);
}

/* The APIC page moved or was switched on/off: translations cached as RAM
 * (or as the APIC) are stale. Disabling the APIC resets it (irqchip.c). */
void soft_apic_base_changed(struct soft_cpu *cpu)
{
	if (cpu->chip)
		irqchip_set_apic_enabled(cpu->chip, (unsigned)cpu->index,
					 cpu->apic_base & SOFT_APIC_BASE_EN);
	soft_tlb_flush(cpu, true);
}

/* CR8[3:0] is TPR[7:4] (SDM Vol. 3A §11.8.6.1): with a local APIC they are
 * one register. */
uint64_t soft_get_cr8(const struct soft_cpu *cpu)
{
	if (cpu->chip)
		return irqchip_get_cr8(cpu->chip, (unsigned)cpu->index);
	return cpu->cr8;
}

void soft_set_cr8(struct soft_cpu *cpu, uint64_t v)
{
	cpu->cr8 = v & 0xf;
	if (cpu->chip)
		irqchip_set_cr8(cpu->chip, (unsigned)cpu->index, v & 0xf);
}

/* INIT keeps the MSRs, the x87/SSE state and the APIC base (SDM Vol. 3A
 * Table 9-1); everything else is as after RESET. An application processor
 * then waits for a startup IPI; the BSP restarts at the reset vector. */
void soft_cpu_init_signal(struct soft_cpu *cpu)
{
	uint64_t msr[] = { cpu->apic_base, cpu->star, cpu->lstar, cpu->cstar, cpu->sfmask,
			   cpu->kernel_gs_base, cpu->tsc_offset, cpu->tsc_aux, cpu->pat,
			   cpu->misc_enable, cpu->mtrr_def_type };
	uint8_t xmm[16][16];
	uint8_t st[8][10];
	uint32_t mxcsr = cpu->mxcsr;
	uint16_t fcw = cpu->fcw, fsw = cpu->fsw;
	uint8_t ftw = cpu->ftw;
	uint16_t fop = cpu->fop, fcs = cpu->fcs, fds = cpu->fds;
	uint64_t fip = cpu->fip, fdp = cpu->fdp;

	memcpy(xmm, cpu->xmm, sizeof(xmm));
	memcpy(st, cpu->st, sizeof(st));
	soft_cpu_reset(cpu);
	cpu->apic_base = msr[0], cpu->star = msr[1], cpu->lstar = msr[2], cpu->cstar = msr[3];
	cpu->sfmask = msr[4], cpu->kernel_gs_base = msr[5], cpu->tsc_offset = msr[6];
	cpu->tsc_aux = msr[7], cpu->pat = msr[8], cpu->misc_enable = msr[9];
	cpu->mtrr_def_type = msr[10];
	memcpy(cpu->xmm, xmm, sizeof(xmm));
	memcpy(cpu->st, st, sizeof(st));
	cpu->mxcsr = mxcsr, cpu->fcw = fcw, cpu->fsw = fsw, cpu->ftw = ftw;
	cpu->fop = fop, cpu->fcs = fcs, cpu->fds = fds, cpu->fip = fip, cpu->fdp = fdp;
	cpu->nmi_pending = cpu->nmi_blocked = false;
	cpu->dc.prev = NULL;
	cpu->activity = (cpu->apic_base & SOFT_APIC_BASE_BSP) ? SOFT_ACTIVE : SOFT_WAIT_SIPI;
}

/* A startup IPI ends wait-for-SIPI: real mode at vector:0000, i.e.
 * CS.selector = vector << 8, CS.base = vector << 12 (SDM Vol. 3A §9.4.4).
 * Elsewhere it is ignored. */
static void startup(struct soft_cpu *cpu, uint8_t vector)
{
	if (cpu->activity != SOFT_WAIT_SIPI)
		return;
	cpu->seg[X86_CS].selector = (uint16_t)(vector << 8);
	cpu->seg[X86_CS].base = (uint64_t)vector << 12;
	cpu->rip = 0;
	cpu->dc.prev = NULL;
	cpu->activity = SOFT_ACTIVE;
}

/* Deliver an NMI or external interrupt at the boundary before cpu->rip: a
 * halted CPU resumes after its HLT, as the return address says. */
static int deliver(struct soft_cpu *cpu, unsigned vector)
{
	cpu->activity = SOFT_ACTIVE;
	cpu->delivered = true;
	cpu->dc.prev = NULL;
	return soft_deliver(cpu, vector, false, 0, false, cpu->rip) != SOFT_OK;
}

int soft_take_events(struct soft_cpu *cpu)
{
	if (cpu->chip) {
		uint32_t seq = atomic_load(&cpu->wake_seq);
		if (seq != cpu->events_seq) {
			cpu->events_seq = seq;
			uint8_t vector = 0;
			unsigned ev = irqchip_take_startup(cpu->chip, (unsigned)cpu->index,
							   &vector);
			if (ev & LAPIC_EV_INIT)
				soft_cpu_init_signal(cpu);
			if (ev & LAPIC_EV_SIPI)
				startup(cpu, vector);
			/* NMIs wait while the CPU waits for SIPI (SDM §9.4.2
			 * blocks them there); the LAPIC keeps them meanwhile. */
			if (cpu->activity != SOFT_WAIT_SIPI &&
			    irqchip_take_nmi(cpu->chip, (unsigned)cpu->index))
				cpu->nmi_pending = true;
		}
	}
	if (cpu->activity == SOFT_WAIT_SIPI)
		return 0;
	/* NMIs ignore IF but not the MOV SS / STI shadow's MOV SS half; this
	 * CPU keeps them out of both shadows, as many processors do (§6.8.3). */
	if (cpu->nmi_pending && !cpu->nmi_blocked && !cpu->int_shadow) {
		cpu->nmi_pending = false;
		cpu->nmi_blocked = true;
		return deliver(cpu, EXC_NMI);
	}
	if (!(cpu->rflags & FL_IF) || cpu->int_shadow || !cpu->intc.ack)
		return 0;
	atomic_store(&cpu->irq_pending, false);
	int vec = cpu->intc.ack(cpu->intc.opaque);
	if (vec < 0 || vec > 255)
		return 0;
	return deliver(cpu, (unsigned)vec);
}

void soft_nmi_unblock(struct soft_cpu *cpu)
{
	cpu->nmi_blocked = false;
	if (cpu->nmi_pending)
		atomic_store(&cpu->irq_pending, true);
}
