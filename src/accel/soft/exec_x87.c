/* The x87 FPU on the soft CPU (SDM Vol. 1 ch. 8, Vol. 2 instruction pages).
 *
 *   exec_x87.c       control instructions: FNINIT, FNCLEX, FNSTCW, FNSTSW
 *                    (m16 and AX), FWAIT, and (MMX) EMMS
 *   exec_x87_env.c   FNSTENV, FLDENV, FNSAVE, FRSTOR; the full tag word
 *   exec_x87_host.c  everything else — loads, stores, arithmetic, compares,
 *                    FPREM/FPREM1, FXAM, FCMOVcc, the transcendentals, FLDCW
 *                    — run on the host's x87 unit from the guest's state
 *   exec_sse.c       FXSAVE/FXRSTOR (with FOP, FIP, FDP)
 *
 * The state lives in struct soft_cpu as FXSAVE image fields (cpu.h).
 * Waiting instructions (all but FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV,
 * FNSAVE) first take #NM, then #MF if an unmasked exception is pending
 * (x87.h). FIP/FCS/FOP record the last non-control instruction, FDP/FDS the
 * last one with a memory operand (x87.h); FNINIT and FNSAVE clear them.
 * Device-not-available rules (SDM Vol. 3A Table 2-2): an x87 instruction
 * with CR0.EM or CR0.TS is #NM; FWAIT is #NM with CR0.TS and CR0.MP; EMMS
 * is #UD with CR0.EM and #NM with CR0.TS. The other MMX instructions are in
 * exec_sse*.c (on mm registers: sse.h, soft_vlen()). */
#include "accel/soft/cpu.h"
#include "accel/soft/x87.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int exec_x87_ctl(struct soft_cpu *cpu, const struct soft_insn *in)
{
	int rc;

	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FWAIT:
		if ((cpu->cr0 & CR0_TS) && (cpu->cr0 & X86_CR0_MP))
			return soft_raise(cpu, EXC_NM, false, 0);
		if (soft_x87_pending(cpu))
			return soft_raise(cpu, EXC_MF, false, 0);
		return SOFT_OK;
	case ZYDIS_MNEMONIC_EMMS:
		if (cpu->cr0 & CR0_EM)
			return soft_ud(cpu);
		if (cpu->cr0 & CR0_TS)
			return soft_raise(cpu, EXC_NM, false, 0);
		if (soft_x87_pending(cpu))
			return soft_raise(cpu, EXC_MF, false, 0);
		/* All registers empty (abridged tag word), and TOP = 0: "each
		 * time an MMX instruction is executed, the TOS value is set to
		 * 000B" (SDM Vol. 3A §12.2), EMMS included. */
		soft_x87_set_fsw(cpu, (uint16_t)(cpu->fsw & ~(7u << FSW_TOP_SHIFT)));
		cpu->ftw = 0;
		return SOFT_OK;
	default:
		break;
	}
	rc = soft_x87_nm(cpu);
	if (rc)
		return rc;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FNINIT:
		/* FCW 0x37f, FSW 0, all registers empty, pointers and opcode 0
		 * (Vol. 2A "FINIT/FNINIT", Vol. 1 §8.1.9). */
		soft_x87_init(cpu);
		return SOFT_OK;
	case ZYDIS_MNEMONIC_FNCLEX:
		/* Clear the exception flags, SF, ES, B (bits 0-7 and 15). */
		cpu->fsw &= 0x7f00;
		return SOFT_OK;
	case ZYDIS_MNEMONIC_FNSTCW:
		return soft_op_write(cpu, in, 0, cpu->fcw);
	default: /* FNSTSW: to AX or to memory; Zydis names the destination. */
		return soft_op_write(cpu, in, 0, cpu->fsw);
	}
}

soft_handler soft_exec_x87_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FNINIT: case ZYDIS_MNEMONIC_FNCLEX: case ZYDIS_MNEMONIC_FNSTCW:
	case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FWAIT: case ZYDIS_MNEMONIC_EMMS:
		return exec_x87_ctl;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
