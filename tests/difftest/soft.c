/* The soft CPU side: the unit-test harness' vCPU (tests/unit/test_soft_harness.h:
 * 64-bit paging with the first GiB identity-mapped by user-accessible 2M
 * pages, flat GDT, TSS) running the sequence at CPL 3.
 *
 * Every exception vector has an interrupt gate to its own HLT at
 * TEST_HANDLER + 16 * vector; the run ends in the VCPU_EXIT_HALT of that
 * HLT, and the exception frame on the ring-0 stack (SDM Vol. 3A §6.14.2)
 * gives the user RIP, RFLAGS and RSP at the fault. The sequence ends in
 * UD2, so a normal run ends in #UD at the end of the sequence. */
#include "../unit/test_soft_harness.h"
#include "difftest.h"

/* The harness' CHECK() counts failures here. */
int unit_failures;

static struct tenv dt_env;

int dt_soft_init(void)
{
	struct tenv *t = &dt_env;
	if (tenv_init(t) || unit_failures)
		return -1;
	static const uint8_t hlt = 0xf4;
	for (unsigned v = 0; v < 32; v++) {
		tenv_load(t, TEST_HANDLER + v * 16, &hlt, 1);
		tenv_gate(t, v, TEST_HANDLER + v * 16, 0, 0);
	}
	tenv_w64(t, TEST_TSS + 4, TEST_STACK); /* RSP0 */
	/* Unmasked SIMD exceptions raise #XM, as under Linux (CR4.OSXMMEXCPT). */
	struct x86_sregs sr;
	soft_cpu_get_sregs(t->cpu, &sr);
	sr.cr4 |= X86_CR4_OSXMMEXCPT;
	soft_cpu_set_sregs(t->cpu, &sr);
	return unit_failures ? -1 : 0;
}

int dt_soft_run(const struct dt_seq *s, struct dt_state *out)
{
	struct tenv *t = &dt_env;
	struct soft_cpu *cpu = t->cpu;
	memset(out, 0, sizeof(*out));
	out->vector = -1;
	tenv_load(t, DT_CODE_VA, s->code, s->len);
	tenv_load(t, DT_SCRATCH_VA, s->init.scratch, DT_SCRATCH_SZ);
	tenv_set_ring(t, 1);
	memcpy(cpu->gpr, s->init.gpr, sizeof(cpu->gpr));
	/* IF as in a Linux process (nothing can interrupt: no controller). */
	cpu->rflags = s->init.rflags | X86_RFLAGS_FIXED | X86_RFLAGS_IF;
	memcpy(cpu->xmm, s->init.xmm, sizeof(cpu->xmm));
	cpu->mxcsr = s->init.mxcsr;
	cpu->fcw = s->init.fcw;
	cpu->fsw = s->init.fsw;
	cpu->ftw = s->init.ftw;
	memcpy(cpu->st, s->init.st, sizeof(cpu->st));
	cpu->fop = cpu->fcs = cpu->fds = 0;
	cpu->fip = cpu->fdp = 0;
	cpu->rip = DT_CODE_VA;
	cpu->insn_budget = 100000;
	int kind = tenv_run(t);
	if (unit_failures)
		return -1;
	if (kind != VCPU_EXIT_HALT) {
		fprintf(stderr, "difftest: soft run ended in exit kind %d, rip %#llx\n", kind,
			(unsigned long long)cpu->rip);
		return -1;
	}
	uint64_t h = cpu->rip - TEST_HANDLER;
	unsigned vec = (unsigned)(h / 16);
	if (h >= 32 * 16 || cpu->cpl != 0)
		return -1;
	memcpy(out->gpr, cpu->gpr, sizeof(out->gpr));
	/* The frame: SS, RSP, RFLAGS, CS, RIP from the top down. */
	out->gpr[X86_RSP] = tenv_r64(t, TEST_STACK - 16);
	out->rflags = tenv_r64(t, TEST_STACK - 24);
	out->rip = tenv_r64(t, TEST_STACK - 40);
	memcpy(out->xmm, cpu->xmm, sizeof(out->xmm));
	out->mxcsr = cpu->mxcsr;
	out->fcw = cpu->fcw;
	out->fsw = cpu->fsw;
	out->ftw = cpu->ftw;
	memcpy(out->st, cpu->st, sizeof(out->st));
	out->vector = vec == 13 || vec == 14 || vec == 12 || vec == 17 ? DT_VEC_MEM : (int)vec;
	if (gm_read(&t->mem, DT_SCRATCH_VA, out->scratch, DT_SCRATCH_SZ))
		return -1;
	return unit_failures ? -1 : 0;
}
