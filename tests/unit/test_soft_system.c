/* Soft CPU system behaviour: I/O and MMIO exits with their pending
 * completions, POPF at CPL 3, exception and interrupt delivery through an
 * IDT (stack switch to TSS.RSP0, IST, error codes, IRETQ back to ring 3),
 * #UD for undefined encodings, and the kick. */
#include <pthread.h>
#include <time.h>

#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

/* Guest-physical address inside the identity map that is not RAM. */
#define MMIO_GPA 0x2000000ull

TEST(soft_io_exits_and_completion)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* in al, dx ; out 0x80, al ; in eax, 0x71 ; hlt */
	static const uint8_t code[] = { 0xec, 0xe6, 0x80, 0xe5, 0x71, 0xf4 };
	t.cpu->gpr[X86_RDX] = 0x3f8;
	t.cpu->gpr[X86_RAX] = 0x1234567890ull;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_IO);
	CHECK_EQ(t.exit.io.port, 0x3f8);
	CHECK_EQ(t.exit.io.size, 1);
	CHECK(!t.exit.io.is_write);
	CHECK_EQ(t.exit.io.count, 1);
	CHECK_EQ(t.cpu->rip, TEST_CODE); /* not complete yet */
	t.exit.io.data[0] = 0x5a;        /* the VMM supplies the byte */
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_IO);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x123456785aull);
	CHECK(t.exit.io.is_write);
	CHECK_EQ(t.exit.io.port, 0x80);
	CHECK_EQ(t.exit.io.data[0], 0x5a);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 3); /* OUT is complete when it exits */
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_IO);
	CHECK_EQ(t.exit.io.port, 0x71);
	CHECK_EQ(t.exit.io.size, 4);
	memcpy(t.exit.io.data, "\x01\x02\x03\x04", 4);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x04030201);
	tenv_destroy(&t);
}

TEST(soft_mmio_exits_and_replay)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* mov eax, [rbx] ; mov [rbx+8], ecx ; cmpsd ; hlt */
	static const uint8_t code[] = { 0x8b, 0x03, 0x89, 0x4b, 0x08, 0xa7, 0xf4 };
	t.cpu->gpr[X86_RBX] = MMIO_GPA;
	t.cpu->gpr[X86_RCX] = 0xfeedf00d;
	t.cpu->gpr[X86_RSI] = MMIO_GPA + 0x10;
	t.cpu->gpr[X86_RDI] = MMIO_GPA + 0x20;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_MMIO);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA);
	CHECK_EQ(t.exit.mmio.size, 4);
	CHECK(!t.exit.mmio.is_write);
	memcpy(t.exit.mmio.data, "\xef\xbe\xad\xde", 4);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_MMIO);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0xdeadbeef);
	CHECK(t.exit.mmio.is_write);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 8);
	CHECK(memcmp(t.exit.mmio.data, "\x0d\xf0\xed\xfe", 4) == 0);
	/* CMPSD reads two device addresses: each read exits once, and the
	 * instruction completes when both have been supplied. */
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_MMIO);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x10);
	memcpy(t.exit.mmio.data, "\x05\x00\x00\x00", 4);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_MMIO);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x20);
	memcpy(t.exit.mmio.data, "\x07\x00\x00\x00", 4);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK(t.cpu->rflags & FL_CF); /* 5 - 7 borrows */
	CHECK_EQ(t.cpu->gpr[X86_RSI], MMIO_GPA + 0x14);
	CHECK_EQ(t.cpu->gpr[X86_RDI], MMIO_GPA + 0x24);
	tenv_destroy(&t);
}

/* POPF at CPL 3 with IOPL 0 must leave IF alone, without a fault (the
 * Popek–Goldberg sensitive-but-unprivileged case); at CPL 0 it changes IF. */
TEST(soft_popf_cpl3_keeps_if)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* push 0 ; popfq ; pushfq ; pop rbx ; out dx, al (IOPL check) */
	static const uint8_t code[] = { 0x6a, 0x00, 0x9d, 0x9c, 0x5b, 0xee };
	tenv_set_ring(&t, 1);
	CHECK_EQ(t.cpu->cpl, 3);
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF | FL_CF | FL_ZF;
	t.cpu->gpr[X86_RSP] = 0x60000;
	/* Without an IDT the OUT at CPL 3 > IOPL ends in #GP -> triple fault. */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 5);
	CHECK(t.cpu->gpr[X86_RBX] & FL_IF);
	CHECK(!(t.cpu->gpr[X86_RBX] & (FL_CF | FL_ZF))); /* POPF did run */
	CHECK(t.cpu->rflags & FL_IF);

	/* The same at CPL 0 clears IF and the OUT exits. */
	tenv_set_ring(&t, 0);
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF;
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_IO);
	CHECK(!(t.cpu->rflags & FL_IF));

	/* CPL 3 with IOPL 3: IF may change, OUT is allowed. */
	tenv_set_ring(&t, 1);
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF | FL_IOPL;
	t.cpu->gpr[X86_RSP] = 0x60000;
	static const uint8_t code3[] = { 0x68, 0x00, 0x30, 0x00, 0x00, /* push 0x3000 (IOPL 3) */
					 0x9d, 0xee };
	CHECK_EQ(tenv_exec(&t, code3, sizeof(code3)), VCPU_EXIT_IO);
	CHECK(!(t.cpu->rflags & FL_IF));
	tenv_destroy(&t);
}

/* #PF through an IDT at CPL 0: frame, error code, CR2. */
TEST(soft_exception_page_fault_delivery)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t handler[] = { 0xf4 }; /* hlt */
	tenv_load(&t, TEST_HANDLER, handler, sizeof(handler));
	tenv_gate(&t, EXC_PF, TEST_HANDLER, 0, 0);
	/* mov rax, [rbx] with rbx beyond the 1 GiB identity map */
	static const uint8_t code[] = { 0x48, 0x8b, 0x03, 0xf4 };
	t.cpu->gpr[X86_RBX] = 0x40000008ull;
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF | FL_CF;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_HANDLER + 1);
	CHECK_EQ(t.cpu->cr2, 0x40000008ull);
	uint64_t sp = t.cpu->gpr[X86_RSP];
	CHECK_EQ(sp, TEST_STACK - 48);
	CHECK_EQ(tenv_r64(&t, sp + 0), 0);              /* error: not present, read, CPL 0 */
	CHECK_EQ(tenv_r64(&t, sp + 8), TEST_CODE);      /* the faulting instruction */
	CHECK_EQ(tenv_r64(&t, sp + 16), SEL_CODE64);
	CHECK_EQ(tenv_r64(&t, sp + 24), X86_RFLAGS_FIXED | FL_IF | FL_CF);
	CHECK_EQ(tenv_r64(&t, sp + 32), TEST_STACK);
	CHECK_EQ(tenv_r64(&t, sp + 40), SEL_DATA);
	CHECK(!(t.cpu->rflags & FL_IF));                /* interrupt gate */
	tenv_destroy(&t);
}

/* INT 0x80 from ring 3 switches to TSS.RSP0, IRETQ returns to ring 3; a
 * gate with DPL 0 gives #GP(vector * 8 + 2); IST overrides the stack. */
TEST(soft_interrupt_ring3_tss_ist_iretq)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t rsp0 = 0x7f000, ist1 = 0x7e000, ustack = 0x60000;
	tenv_w64(&t, TEST_TSS + 4, rsp0);
	tenv_w64(&t, TEST_TSS + 0x24, ist1);
	/* 0x20000: mov ebx, 7 ; iretq        (int 0x80 handler)
	 * 0x20100: hlt                       (#GP handler)
	 * 0x20200: hlt                       (int3 handler, IST 1) */
	static const uint8_t h80[] = { 0xbb, 0x07, 0x00, 0x00, 0x00, 0x48, 0xcf };
	static const uint8_t hlt[] = { 0xf4 };
	tenv_load(&t, TEST_HANDLER, h80, sizeof(h80));
	tenv_load(&t, TEST_HANDLER + 0x100, hlt, 1);
	tenv_load(&t, TEST_HANDLER + 0x200, hlt, 1);
	tenv_gate(&t, 0x80, TEST_HANDLER, 3, 0);
	tenv_gate(&t, 0x81, TEST_HANDLER, 0, 0);
	tenv_gate(&t, EXC_GP, TEST_HANDLER + 0x100, 0, 0);
	tenv_gate(&t, EXC_BP, TEST_HANDLER + 0x200, 3, 1);

	/* ring 3: int 0x80 ; out dx, al  (IOPL 3 lets the OUT exit) */
	static const uint8_t user[] = { 0xcd, 0x80, 0xee };
	tenv_set_ring(&t, 1);
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF | FL_IOPL;
	t.cpu->gpr[X86_RSP] = ustack;
	CHECK_EQ(tenv_exec(&t, user, sizeof(user)), VCPU_EXIT_IO);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 7);            /* the handler ran */
	CHECK_EQ(t.cpu->cpl, 3);                     /* and came back */
	CHECK_EQ(t.cpu->seg[X86_CS].selector, SEL_UCODE64);
	CHECK_EQ(t.cpu->gpr[X86_RSP], ustack);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 3);
	CHECK(t.cpu->rflags & FL_IF);
	/* The frame it left on the ring-0 stack. */
	CHECK_EQ(tenv_r64(&t, rsp0 - 40), TEST_CODE + 2);
	CHECK_EQ(tenv_r64(&t, rsp0 - 32), SEL_UCODE64);
	CHECK_EQ(tenv_r64(&t, rsp0 - 16), ustack);
	CHECK_EQ(tenv_r64(&t, rsp0 - 8), SEL_UDATA);

	/* int 0x81 (gate DPL 0) from ring 3: #GP with the IDT error code. */
	static const uint8_t user81[] = { 0xcd, 0x81 };
	t.cpu->gpr[X86_RSP] = ustack;
	CHECK_EQ(tenv_exec(&t, user81, sizeof(user81)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_HANDLER + 0x101);
	CHECK_EQ(t.cpu->cpl, 0);
	CHECK_EQ(t.cpu->gpr[X86_RSP], rsp0 - 48);
	CHECK_EQ(tenv_r64(&t, rsp0 - 48), 0x81 * 8 + 2);
	CHECK_EQ(tenv_r64(&t, rsp0 - 40), TEST_CODE); /* a fault: points at the INT */

	/* int3 at ring 0 through an IST gate. */
	static const uint8_t k3[] = { 0xcc };
	tenv_set_ring(&t, 0);
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	CHECK_EQ(tenv_exec(&t, k3, sizeof(k3)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_HANDLER + 0x201);
	CHECK_EQ(t.cpu->gpr[X86_RSP], ist1 - 40);
	CHECK_EQ(tenv_r64(&t, ist1 - 40), TEST_CODE + 1); /* a trap: after the INT3 */
	tenv_destroy(&t);
}

/* Undefined encodings raise #UD in the guest; without a #UD gate the
 * delivery fails and ends in a triple fault, never in isola. */
TEST(soft_undefined_opcode)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t hlt[] = { 0xf4 };
	tenv_load(&t, TEST_HANDLER, hlt, 1);
	/* ud2 ; 0x0f 0xff (UD0 without ModRM is undefined) ; lock nop */
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t lock_nop[] = { 0xf0, 0x90 };
	static const uint8_t movcs[] = { 0x8e, 0xc8 }; /* mov cs, ax */
	const struct { const uint8_t *c; size_t n; } cases[] = {
		{ ud2, sizeof(ud2) }, { lock_nop, sizeof(lock_nop) }, { movcs, sizeof(movcs) },
	};
	for (unsigned i = 0; i < 3; i++) {
		t.cpu->idt.limit = 0;
		t.cpu->gpr[X86_RSP] = TEST_STACK;
		CHECK_EQ(tenv_exec(&t, cases[i].c, cases[i].n), VCPU_EXIT_SHUTDOWN);
		tenv_gate(&t, EXC_UD, TEST_HANDLER, 0, 0);
		t.cpu->gpr[X86_RSP] = TEST_STACK;
		CHECK_EQ(tenv_exec(&t, cases[i].c, cases[i].n), VCPU_EXIT_HALT);
		CHECK_EQ(t.cpu->rip, TEST_HANDLER + 1);
		CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE);
	}
	tenv_destroy(&t);
}

static void *kicker(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	atomic_store(&((struct soft_cpu *)arg)->kick, true);
	return NULL;
}

/* A vCPU spinning in "jmp $" returns KICKED once another thread kicks it. */
TEST(soft_kick_stops_a_spinning_vcpu)
{
	struct tenv t;
	pthread_t th;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t spin[] = { 0xeb, 0xfe };
	CHECK(pthread_create(&th, NULL, kicker, t.cpu) == 0);
	CHECK_EQ(tenv_exec(&t, spin, sizeof(spin)), VCPU_EXIT_KICKED);
	pthread_join(th, NULL);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	CHECK(t.cpu->insn_count > 1000);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* SYSCALL to LSTAR at CPL 0 with SFMASK applied, SWAPGS and a GS-relative
 * load, SYSRET back to CPL 3 with RFLAGS from R11. */
TEST(soft_syscall_sysret_swapgs)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t kgs = 0x34000;
	tenv_w64(&t, kgs + 8, 0x1234abcd);
	/* kernel entry at TEST_HANDLER:
	 *   swapgs ; mov rax, gs:[8] ; swapgs ; sysretq */
	static const uint8_t entry[] = {
		0x0f, 0x01, 0xf8,
		0x65, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00,
		0x0f, 0x01, 0xf8,
		0x48, 0x0f, 0x07,
	};
	tenv_load(&t, TEST_HANDLER, entry, sizeof(entry));
	/* STAR[47:32] = kernel CS 0x08 (SS 0x10); STAR[63:48] = 0x10, so SYSRET
	 * loads CS 0x10+16 = 0x20|3 and SS 0x18|3. */
	t.cpu->star = (0x10ull << 48) | (0x08ull << 32);
	t.cpu->lstar = TEST_HANDLER;
	t.cpu->sfmask = FL_IF | FL_DF;
	t.cpu->kernel_gs_base = kgs;
	t.cpu->seg[X86_GS].base = 0x999000;
	/* ring 3: syscall ; out dx, al */
	static const uint8_t user[] = { 0x0f, 0x05, 0xee };
	tenv_set_ring(&t, 1);
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF | FL_DF | FL_IOPL | FL_CF;
	CHECK_EQ(tenv_exec(&t, user, sizeof(user)), VCPU_EXIT_IO);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x1234abcd);
	CHECK_EQ(t.cpu->gpr[X86_RCX], TEST_CODE + 2);
	CHECK_EQ(t.cpu->gpr[X86_R11], X86_RFLAGS_FIXED | FL_IF | FL_DF | FL_IOPL | FL_CF);
	CHECK_EQ(t.cpu->cpl, 3);
	CHECK_EQ(t.cpu->seg[X86_CS].selector, 0x23);
	CHECK_EQ(t.cpu->seg[X86_SS].selector, 0x1b);
	CHECK(t.cpu->seg[X86_CS].l);
	CHECK_EQ(t.cpu->rflags, X86_RFLAGS_FIXED | FL_IF | FL_DF | FL_IOPL | FL_CF);
	CHECK_EQ(t.cpu->seg[X86_GS].base, 0x999000);
	CHECK_EQ(t.cpu->kernel_gs_base, kgs);

	/* SYSCALL with EFER.SCE clear is #UD; SYSRET at CPL 3 is #GP. */
	t.cpu->efer &= ~X86_EFER_SCE;
	CHECK_EQ(tenv_exec(&t, user, sizeof(user)), VCPU_EXIT_SHUTDOWN);
	t.cpu->efer |= X86_EFER_SCE;
	static const uint8_t sysret[] = { 0x48, 0x0f, 0x07 };
	CHECK_EQ(tenv_exec(&t, sysret, sizeof(sysret)), VCPU_EXIT_SHUTDOWN);
	tenv_destroy(&t);
}

/* RDMSR/WRMSR: known MSRs round-trip, unknown ones and reserved bits #GP,
 * and CPL 3 may not use them. */
TEST(soft_msrs)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	uint64_t v;
	CHECK_EQ(soft_wrmsr(t.cpu, 0xc0000102, 0xffff800000001000ull), SOFT_OK);
	CHECK_EQ(soft_rdmsr(t.cpu, 0xc0000102, &v), SOFT_OK);
	CHECK_EQ(v, 0xffff800000001000ull);
	/* A non-canonical FS base. */
	CHECK_EQ(soft_wrmsr(t.cpu, 0xc0000100, 0x0000800000000000ull), SOFT_FAULT);
	CHECK_EQ(soft_rdmsr(t.cpu, 0x12345678, &v), SOFT_FAULT);
	CHECK_EQ(t.cpu->fault.vector, EXC_GP);
	CHECK_EQ(soft_wrmsr(t.cpu, 0x277, 0x0202020202020202ull), SOFT_FAULT); /* PAT type 2 */
	CHECK_EQ(soft_wrmsr(t.cpu, 0xc0000080, t.cpu->efer | (1ull << 20)), SOFT_FAULT);
	/* wrmsr IA32_TSC then rdtsc: the new value, moving forward */
	static const uint8_t code[] = {
		0xb9, 0x10, 0x00, 0x00, 0x00, /* mov ecx, 0x10 */
		0x31, 0xc0,                   /* xor eax, eax */
		0xba, 0x01, 0x00, 0x00, 0x00, /* mov edx, 1 */
		0x0f, 0x30,                   /* wrmsr */
		0x0f, 0x31,                   /* rdtsc */
		0xf4,
	};
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RDX], 1);
	CHECK(t.cpu->gpr[X86_RAX] < 1000000000ull);
	/* rdmsr at CPL 3: #GP */
	static const uint8_t rd[] = { 0x0f, 0x32 };
	tenv_set_ring(&t, 1);
	CHECK_EQ(tenv_exec(&t, rd, sizeof(rd)), VCPU_EXIT_SHUTDOWN);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* TF: a #DB trap after one instruction, DR6.BS set, the handler entered
 * with TF clear; POPF that sets TF traps only after the next instruction. */
TEST(soft_single_step)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t hlt = 0xf4;
	tenv_load(&t, TEST_HANDLER, &hlt, 1);
	tenv_gate(&t, EXC_DB, TEST_HANDLER, 0, 0);
	/* inc eax ; inc eax ; hlt */
	static const uint8_t code[] = { 0xff, 0xc0, 0xff, 0xc0, 0xf4 };
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_TF;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_HANDLER + 1);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 1);
	CHECK(t.cpu->dr[6] & (1u << 14));
	CHECK(!(t.cpu->rflags & FL_TF));
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 2);       /* trap: next insn */
	CHECK(tenv_r64(&t, TEST_STACK - 24) & FL_TF);                  /* saved RFLAGS */

	/* push 0x102 ; popfq (sets TF) ; inc eax (traps after) ; inc eax */
	static const uint8_t code2[] = { 0x68, 0x02, 0x01, 0x00, 0x00, 0x9d, 0xff, 0xc0,
					 0xff, 0xc0, 0xf4 };
	t.cpu->rflags = X86_RFLAGS_FIXED;
	t.cpu->gpr[X86_RAX] = 0;
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	CHECK_EQ(tenv_exec(&t, code2, sizeof(code2)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_HANDLER + 1);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 1);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 8);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* A stand-in interrupt controller: one vector to hand out. */
struct fake_intc {
	int vector;
	int acks;
};

static int fake_ack(void *opaque)
{
	struct fake_intc *f = opaque;
	f->acks++;
	int v = f->vector;
	f->vector = -1;
	return v;
}

struct raiser {
	struct soft_cpu *cpu;
	struct fake_intc *f;
};

static void *raise_later(void *arg)
{
	struct raiser *r = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	r->f->vector = 0x30;
	atomic_store(&r->cpu->irq_pending, true);
	soft_cpu_wake(r->cpu);
	return NULL;
}

/* External interrupts: held off by IF=0 and by the STI shadow, taken at an
 * instruction boundary; HLT with IF=1 sleeps until one arrives. */
TEST(soft_external_interrupts_and_hlt)
{
	struct tenv t;
	struct fake_intc f = { .vector = 0x30 };
	CHECK(tenv_init(&t) == 0);
	/* mov ebx, 1 ; hlt */
	static const uint8_t handler[] = { 0xbb, 0x01, 0x00, 0x00, 0x00, 0xf4 };
	tenv_load(&t, TEST_HANDLER, handler, sizeof(handler));
	tenv_gate(&t, 0x30, TEST_HANDLER, 0, 0);
	t.cpu->intc.ack = fake_ack;
	t.cpu->intc.opaque = &f;

	/* inc eax ; sti ; inc eax ; inc eax ; cli ; hlt, interrupt pending from
	 * the start: not before STI, not in its shadow, right after it. */
	static const uint8_t code[] = { 0xff, 0xc0, 0xfb, 0xff, 0xc0, 0xff, 0xc0, 0xfa, 0xf4 };
	atomic_store(&t.cpu->irq_pending, true);
	t.cpu->rflags = X86_RFLAGS_FIXED;
	/* The handler's HLT runs with IF clear (interrupt gate): a HALT exit. */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 1);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 2);
	CHECK_EQ(f.acks, 1);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 5); /* after sti; inc */

	/* sti ; hlt ; inc ecx ; cli ; hlt — the HLT sleeps until another
	 * thread raises the interrupt; the handler then returns nowhere (it
	 * halts with IF clear), and the frame says the HLT had completed. */
	static const uint8_t code2[] = { 0xfb, 0xf4, 0xff, 0xc1, 0xfa, 0xf4 };
	t.cpu->gpr[X86_RBX] = 0;
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	struct raiser r = { t.cpu, &f };
	pthread_t th;
	CHECK(pthread_create(&th, NULL, raise_later, &r) == 0);
	CHECK_EQ(tenv_exec(&t, code2, sizeof(code2)), VCPU_EXIT_HALT);
	pthread_join(th, NULL);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 1);
	CHECK_EQ(f.acks, 2);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 2);
	CHECK_EQ(t.cpu->activity, SOFT_ACTIVE);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* Linked fall-through successors must not survive a change of flow that
 * does not go through a branch: an interrupt into a handler on the same
 * code page, and a single-step trap. */
TEST(soft_fallthrough_links_and_events)
{
	struct tenv t;
	struct fake_intc f = { .vector = -1 };
	CHECK(tenv_init(&t) == 0);
	/* +0: sti ; nop ; nop ; hlt      +0x100: mov ebx, 7 ; hlt */
	uint8_t page[0x108];
	memset(page, 0xcc, sizeof(page));
	memcpy(page, "\xfb\x90\x90\xf4", 4);
	memcpy(page + 0x100, "\xbb\x07\x00\x00\x00\xf4", 6);
	tenv_load(&t, TEST_CODE, page, sizeof(page));
	tenv_gate(&t, 0x40, TEST_CODE + 0x100, 0, 0);
	tenv_gate(&t, EXC_DB, TEST_CODE + 0x100, 0, 0);
	t.cpu->intc.ack = fake_ack;
	t.cpu->intc.opaque = &f;
	t.cpu->rflags = X86_RFLAGS_FIXED;

	/* Two passes over nop ; nop ; hlt (IF clear: the HLT exits) decode
	 * them and then link nop -> nop -> hlt. */
	for (int pass = 0; pass < 2; pass++) {
		t.cpu->rip = TEST_CODE + 1;
		CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	}
	t.cpu->rip = TEST_CODE;
	t.cpu->rflags = X86_RFLAGS_FIXED;
	f.vector = 0x40;
	atomic_store(&t.cpu->irq_pending, true);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 7);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 2);

	/* Single-step from the linked nop: the trap goes to the handler. */
	t.cpu->gpr[X86_RBX] = 0;
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	t.cpu->rip = TEST_CODE + 1;
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_TF;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 7);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* LSL/LAR/VERR/VERW: usable selectors set ZF and give limit / rights;
 * beyond the GDT, null, or too privileged ones clear ZF without a fault. */
TEST(soft_lsl_lar_verr_verw)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t code[] = {
		0x0f, 0x03, 0xc3,       /* lsl eax, ebx */
		0x0f, 0x94, 0xc1,       /* setz cl */
		0x0f, 0x02, 0xd3,       /* lar edx, ebx */
		0x0f, 0x00, 0xeb,       /* verw bx */
		0x0f, 0x94, 0xc5,       /* setz ch */
		0xf4,
	};
	t.cpu->gpr[X86_RBX] = SEL_UDATA; /* DPL 3 data, limit 4G */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0xffffffff);
	CHECK_EQ(t.cpu->gpr[X86_RCX] & 0xffff, 0x0101);
	CHECK_EQ(t.cpu->gpr[X86_RDX], 0x00c0f300); /* rights, not limit 19:16 */

	/* From CPL 3: the DPL 0 code segment is invisible; a selector past
	 * the GDT limit too; neither faults. */
	tenv_set_ring(&t, 1);
	t.cpu->gpr[X86_RAX] = 0x1234;
	t.cpu->gpr[X86_RCX] = 0xffff;
	t.cpu->gpr[X86_RBX] = SEL_CODE64;
	t.cpu->gpr[X86_RSP] = 0x60000;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN); /* HLT at CPL 3 */
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x1234);
	CHECK_EQ(t.cpu->gpr[X86_RCX] & 0xffff, 0);
	t.cpu->gpr[X86_RBX] = 0x1f8;
	t.cpu->gpr[X86_RCX] = 0xffff;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->gpr[X86_RCX] & 0xffff, 0);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* A 16-byte SSE load from a device: two 8-byte reads, each its own exit,
 * and the instruction completes with both; a 16-byte store likewise. */
TEST(soft_mmio_wide_load)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t code[] = { 0xf3, 0x0f, 0x6f, 0x03, 0xf4 }; /* movdqu xmm0, [rbx] */
	t.cpu->gpr[X86_RBX] = MMIO_GPA + 0x40;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_MMIO);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x40);
	CHECK_EQ(t.exit.mmio.size, 8);
	memcpy(t.exit.mmio.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_MMIO);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x48);
	memcpy(t.exit.mmio.data, "\x11\x12\x13\x14\x15\x16\x17\x18", 8);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK(memcmp(t.cpu->xmm[0], "\x01\x02\x03\x04\x05\x06\x07\x08"
				    "\x11\x12\x13\x14\x15\x16\x17\x18", 16) == 0);

	/* movdqu [rbx+0x10], xmm0 ; hlt: two write exits after the store
	 * committed, then the HLT. */
	static const uint8_t st[] = { 0xf3, 0x0f, 0x7f, 0x43, 0x10, 0xf4 };
	CHECK_EQ(tenv_exec(&t, st, sizeof(st)), VCPU_EXIT_MMIO);
	CHECK(t.exit.mmio.is_write);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x50);
	CHECK_EQ(t.exit.mmio.size, 8);
	CHECK_EQ(t.exit.mmio.data[0], 0x01);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 5);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_MMIO);
	CHECK(t.exit.mmio.is_write);
	CHECK_EQ(t.exit.mmio.addr, MMIO_GPA + 0x58);
	CHECK_EQ(t.exit.mmio.data[7], 0x18);
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
