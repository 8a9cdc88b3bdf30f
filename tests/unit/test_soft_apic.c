/* The soft CPU with the irqchip's local APIC (accel/soft/intr.c): the APIC
 * page (relocated through IA32_APIC_BASE, hiding RAM), CR8 as the TPR, a
 * self-IPI taken after STI; HLT, EOI; INIT and startup IPIs starting an
 * application processor in real mode. */
#include <stdlib.h>
#include <string.h>

#include "test_soft_harness.h"
#include "device.h"
#include "devices/irqchip.h"

#ifdef HAVE_ZYDIS

#define APIC_TEST_BASE 0x800000ull

static struct irqchip *chip_for(unsigned nr_cpus)
{
	struct irqchip *c = irqchip_create(nr_cpus, (uint8_t)nr_cpus, NULL, NULL);
	CHECK(c != NULL);
	return c;
}

static void chip_connect(struct irqchip *c, struct soft_cpu *cpu)
{
	cpu->chip = c;
	cpu->intc = (struct soft_intc){ irqchip_intc_ack, irqchip_cpu(c, (unsigned)cpu->index) };
	irqchip_set_wake(c, (unsigned)cpu->index, soft_irq_wake, cpu);
}

static void chip_destroy(struct irqchip *c)
{
	struct device *d = irqchip_device(c);
	d->ops->destroy(d);
}

TEST(soft_apic_page_cr8_self_ipi)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	struct irqchip *c = chip_for(1);
	chip_connect(c, t.cpu);

	/* wrmsr APIC_BASE = 0x800900 ; SVR = 0x1ff ; cr8 = 2 ; esi = TPR ;
	 * ICR = self, fixed, vector 0x40 ; rdi = cr8 ; TPR = 0 ; sti ; hlt ;
	 * inc r8d ; out 0x80, al */
	static const uint8_t code[] = {
		0xb9, 0x1b, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x09, 0x80, 0x00, 0x31, 0xd2,
		0x0f, 0x30, 0xc7, 0x04, 0x25, 0xf0, 0x00, 0x80, 0x00, 0xff, 0x01, 0x00,
		0x00, 0xb8, 0x02, 0x00, 0x00, 0x00, 0x44, 0x0f, 0x22, 0xc0, 0x8b, 0x34,
		0x25, 0x80, 0x00, 0x80, 0x00, 0xc7, 0x04, 0x25, 0x00, 0x03, 0x80, 0x00,
		0x40, 0x00, 0x04, 0x00, 0x44, 0x0f, 0x20, 0xc7, 0xc7, 0x04, 0x25, 0x80,
		0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfb, 0xf4, 0x41, 0xff, 0xc0,
		0xe6, 0x80,
	};
	/* ebx = APIC version ; EOI ; iretq */
	static const uint8_t handler[] = {
		0x8b, 0x1c, 0x25, 0x30, 0x00, 0x80, 0x00, 0xc7, 0x04, 0x25, 0xb0, 0x00,
		0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0xcf,
	};
	tenv_load(&t, TEST_HANDLER, handler, sizeof(handler));
	tenv_gate(&t, 0x40, TEST_HANDLER, 0, 0);
	t.cpu->rflags = X86_RFLAGS_FIXED;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_IO);
	CHECK_EQ(t.exit.io.port, 0x80);
	CHECK_EQ(t.cpu->gpr[X86_RSI], 0x20);        /* TPR[7:4] = CR8 */
	CHECK_EQ(t.cpu->gpr[X86_RDI], 2);           /* CR8 read back through the APIC */
	CHECK_EQ(t.cpu->gpr[X86_R8], 1);            /* resumed after the HLT */
	CHECK_EQ(t.cpu->gpr[X86_RBX] & 0xff, 0x14); /* integrated APIC version */
	CHECK_EQ(t.cpu->activity, SOFT_ACTIVE);
	/* The stores went to the APIC, not to the RAM under its page. */
	CHECK_EQ(tenv_r64(&t, APIC_TEST_BASE + 0xf0), 0);
	CHECK_EQ(tenv_r64(&t, APIC_TEST_BASE + 0x300), 0);
	/* EOI emptied the in-service register; nothing is left to take. */
	uint8_t isr[4];
	irqchip_lapic_access(c, 0, 0x100 + 0x40 / 32 * 0x10, isr, 4, false);
	CHECK_EQ(isr[0] | isr[1] | isr[2] | isr[3], 0);
	CHECK(!irqchip_has_interrupt(c, 0));

	/* Disabled through IA32_APIC_BASE, the page is RAM again. */
	t.cpu->apic_base &= ~SOFT_APIC_BASE_EN;
	soft_apic_base_changed(t.cpu);
	CHECK(!soft_apic_page(t.cpu, APIC_TEST_BASE));
	tenv_w64(&t, APIC_TEST_BASE + 0x30, 0x1234);
	static const uint8_t load[] = { 0x8b, 0x1c, 0x25, 0x30, 0x00, 0x80, 0x00, 0xe6, 0x80 };
	CHECK_EQ(tenv_exec(&t, load, sizeof(load)), VCPU_EXIT_IO);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 0x1234);

	soft_cpu_destroy(t.cpu);
	free(t.cpu);
	t.cpu = NULL;
	chip_destroy(c);
	tenv_destroy(&t);
}

/* The BSP's INIT and startup IPIs bring vCPU 1 out of wait-for-SIPI into
 * real mode at vector << 12. */
TEST(soft_apic_init_sipi_starts_ap)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	struct irqchip *c = chip_for(2);
	chip_connect(c, t.cpu);
	t.cpu->apic_base = APIC_TEST_BASE | SOFT_APIC_BASE_EN | SOFT_APIC_BASE_BSP;
	soft_apic_base_changed(t.cpu);

	struct soft_cpu *ap = aligned_alloc(64, (sizeof(*ap) + 63) & ~(size_t)63);
	CHECK(ap != NULL);
	CHECK(soft_cpu_init(ap, &t.svm, 1) == 0);
	ap->activity = SOFT_WAIT_SIPI;
	chip_connect(c, ap);

	/* SVR = 0x1ff ; ICR high = APIC ID 1 ; ICR = INIT ; ICR = SIPI 0x12 ;
	 * out 0x80, al */
	static const uint8_t code[] = {
		0xc7, 0x04, 0x25, 0xf0, 0x00, 0x80, 0x00, 0xff, 0x01, 0x00, 0x00, 0xc7,
		0x04, 0x25, 0x10, 0x03, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc7, 0x04,
		0x25, 0x00, 0x03, 0x80, 0x00, 0x00, 0x45, 0x00, 0x00, 0xc7, 0x04, 0x25,
		0x00, 0x03, 0x80, 0x00, 0x12, 0x46, 0x00, 0x00, 0xe6, 0x80,
	};
	/* mov al, 0x5a ; out 0x81, al (real mode, at 0x12000) */
	static const uint8_t ap_code[] = { 0xb0, 0x5a, 0xe6, 0x81 };
	tenv_load(&t, 0x12000, ap_code, sizeof(ap_code));
	CHECK(atomic_load(&ap->irq_pending) == false);
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_IO);
	CHECK(atomic_load(&ap->irq_pending));

	struct vcpu_exit e;
	CHECK(soft_cpu_run(ap, &e) == 0);
	CHECK_EQ(e.kind, VCPU_EXIT_IO);
	CHECK_EQ(e.io.port, 0x81);
	CHECK_EQ(e.io.data[0], 0x5a);
	CHECK_EQ(ap->activity, SOFT_ACTIVE);
	CHECK_EQ(ap->seg[X86_CS].selector, 0x1200);
	CHECK_EQ(ap->seg[X86_CS].base, 0x12000);
	CHECK_EQ(ap->rip, 4);
	CHECK(!(ap->cr0 & X86_CR0_PE));

	soft_cpu_destroy(ap);
	free(ap);
	soft_cpu_destroy(t.cpu);
	free(t.cpu);
	t.cpu = NULL;
	chip_destroy(c);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* IA32_TSC_ADJUST follows writes to the TSC and moves the TSC when written
 * (SDM Vol. 3B §18.17.3); CPUID announces it, and leaf 0xB describes one
 * package with a core per vCPU. */
TEST(soft_tsc_adjust_and_topology)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	struct soft_cpu *cpu = t.cpu;
	uint64_t v = 1, tsc;
	uint32_t r[4];

	soft_cpuid(cpu, 7, 0, r);
	CHECK(r[1] & (1u << 1));
	CHECK_EQ(soft_rdmsr(cpu, 0x3b, &v), SOFT_OK);
	CHECK_EQ(v, 0);
	/* Set the TSC 1e12 ticks ahead: TSC_ADJUST says so. */
	CHECK_EQ(soft_rdmsr(cpu, 0x10, &tsc), SOFT_OK);
	CHECK_EQ(soft_wrmsr(cpu, 0x10, tsc + 1000000000000ull), SOFT_OK);
	CHECK_EQ(soft_rdmsr(cpu, 0x3b, &v), SOFT_OK);
	CHECK(v >= 1000000000000ull - 1000000000ull && v <= 1000000000000ull);
	/* Writing TSC_ADJUST back to 0 takes the TSC back by as much. */
	CHECK_EQ(soft_wrmsr(cpu, 0x3b, 0), SOFT_OK);
	CHECK_EQ(soft_rdmsr(cpu, 0x10, &v), SOFT_OK);
	CHECK(v >= tsc && v < tsc + 1000000000ull);

	t.svm.nr_cpus = 3;
	cpu->index = 2;
	soft_cpuid(cpu, 0xb, 0, r);
	CHECK_EQ(r[1], 1);
	CHECK_EQ(r[2], 0x100);
	CHECK_EQ(r[3], 2);
	soft_cpuid(cpu, 0xb, 1, r);
	CHECK_EQ(r[0], 2); /* 3 cores: the package ID is APIC ID >> 2 */
	CHECK_EQ(r[1], 3);
	CHECK_EQ(r[2], 0x201);
	soft_cpuid(cpu, 0xb, 2, r);
	CHECK_EQ(r[1], 0);
	CHECK_EQ((r[2] >> 8) & 0xff, 0);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* An NMI from the ICR is taken with IF clear; a second one sent from its
 * handler waits for the IRET (SDM Vol. 3A §6.7.1), then runs the handler
 * again. */
TEST(soft_apic_nmi_blocked_until_iret)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	struct irqchip *c = chip_for(1);
	chip_connect(c, t.cpu);
	t.cpu->apic_base = APIC_TEST_BASE | SOFT_APIC_BASE_EN | SOFT_APIC_BASE_BSP;
	soft_apic_base_changed(t.cpu);

	/* SVR = 0x1ff ; ICR high = 0 ; ICR = NMI to APIC 0 ; out 0x80, al */
	static const uint8_t code[] = {
		0xc7, 0x04, 0x25, 0xf0, 0x00, 0x80, 0x00, 0xff, 0x01, 0x00, 0x00, 0xc7,
		0x04, 0x25, 0x10, 0x03, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x04,
		0x25, 0x00, 0x03, 0x80, 0x00, 0x00, 0x44, 0x00, 0x00, 0xe6, 0x80,
	};
	/* inc r9 ; cmp r9, 1 ; jne 1f ; ICR = NMI to APIC 0 ; mov r10, r9 ;
	 * 1: iretq */
	static const uint8_t handler[] = {
		0x49, 0xff, 0xc1, 0x49, 0x83, 0xf9, 0x01, 0x75, 0x0e, 0xc7, 0x04, 0x25,
		0x00, 0x03, 0x80, 0x00, 0x00, 0x44, 0x00, 0x00, 0x4d, 0x89, 0xca, 0x48,
		0xcf,
	};
	tenv_load(&t, TEST_HANDLER, handler, sizeof(handler));
	tenv_gate(&t, EXC_NMI, TEST_HANDLER, 0, 0);
	t.cpu->rflags = X86_RFLAGS_FIXED; /* IF clear: NMIs come anyway */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_IO);
	CHECK_EQ(t.exit.io.port, 0x80);
	CHECK_EQ(t.cpu->gpr[X86_R9], 2);  /* two NMIs */
	CHECK_EQ(t.cpu->gpr[X86_R10], 1); /* the second waited for the IRET */
	CHECK(!t.cpu->nmi_blocked);
	CHECK(!t.cpu->nmi_pending);

	soft_cpu_destroy(t.cpu);
	free(t.cpu);
	t.cpu = NULL;
	chip_destroy(c);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
