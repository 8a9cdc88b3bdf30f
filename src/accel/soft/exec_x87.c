/* x87 control instructions: FNINIT, FNCLEX, FNSTCW, FLDCW, FNSTSW, FWAIT,
 * FNOP and (MMX) EMMS — what kernels run to initialise and probe the FPU
 * and what every FP-using program's start-up does (SDM Vol. 1 §8.1, Vol. 2).
 *
 * x87 arithmetic is not implemented yet: the register stack is storage for
 * FXSAVE/FXRSTOR, and any other x87 instruction is #UD (found no handler).
 * Device-not-available rules (SDM Vol. 3A Table 2-2): an x87 instruction
 * with CR0.EM or CR0.TS is #NM; FWAIT is #NM with CR0.TS and CR0.MP; EMMS
 * is #UD with CR0.EM and #NM with CR0.TS. */
#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int x87_check(struct soft_cpu *cpu)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		return soft_raise(cpu, EXC_NM, false, 0);
	return SOFT_OK;
}

static int exec_x87_ctl(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc;

	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FWAIT:
		if ((cpu->cr0 & CR0_TS) && (cpu->cr0 & X86_CR0_MP))
			return soft_raise(cpu, EXC_NM, false, 0);
		return SOFT_OK;
	case ZYDIS_MNEMONIC_EMMS:
		if (cpu->cr0 & CR0_EM)
			return soft_ud(cpu);
		if (cpu->cr0 & CR0_TS)
			return soft_raise(cpu, EXC_NM, false, 0);
		cpu->ftw = 0; /* all registers empty (abridged tag word) */
		return SOFT_OK;
	default:
		break;
	}
	rc = x87_check(cpu);
	if (rc)
		return rc;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FNINIT:
		/* FCW 0x37f, FSW 0, all registers empty (Vol. 2A "FINIT/FNINIT"). */
		cpu->fcw = 0x37f;
		cpu->fsw = 0;
		cpu->ftw = 0;
		return SOFT_OK;
	case ZYDIS_MNEMONIC_FNCLEX:
		/* Clear the exception flags, ES, B (bits 0-7 and 15). */
		cpu->fsw &= 0x7f00;
		return SOFT_OK;
	case ZYDIS_MNEMONIC_FNSTCW:
		return soft_op_write(cpu, in, 0, cpu->fcw);
	case ZYDIS_MNEMONIC_FLDCW:
		rc = soft_op_read(cpu, in, 0, &v);
		if (rc)
			return rc;
		cpu->fcw = (uint16_t)(v | 0x40); /* bit 6 reads as 1 */
		return SOFT_OK;
	case ZYDIS_MNEMONIC_FNSTSW:
		/* To AX or to memory; Zydis names the destination operand. */
		return soft_op_write(cpu, in, 0, cpu->fsw);
	default: /* FNOP */
		return SOFT_OK;
	}
}

soft_handler soft_exec_x87_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FNINIT: case ZYDIS_MNEMONIC_FNCLEX: case ZYDIS_MNEMONIC_FNSTCW:
	case ZYDIS_MNEMONIC_FLDCW: case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FWAIT:
	case ZYDIS_MNEMONIC_FNOP: case ZYDIS_MNEMONIC_EMMS:
		return exec_x87_ctl;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
