/* Control flow and the stack: JMP, Jcc, JrCXZ, LOOPcc, CALL, RET (near and
 * far), PUSH, POP, LEAVE, ENTER, INT n / INT3 / INT1, SYSCALL, SYSRET.
 *
 * Near branch targets are truncated to the operand size and checked before
 * anything changes: a non-canonical target in 64-bit mode, or one beyond the
 * CS limit elsewhere, is a #GP(0) on the branch itself (SDM Vol. 2A "JMP"). */
#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int branch_to(struct soft_cpu *cpu, uint64_t target, unsigned osize)
{
	target &= soft_mask(osize);
	if (soft_64bit(cpu)) {
		if (!soft_canonical(target))
			return soft_gp0(cpu);
	} else if (target > cpu->seg[X86_CS].limit) {
		return soft_gp0(cpu);
	}
	cpu->next_rip = target;
	return SOFT_OK;
}

/* The target of a near branch: rel (next RIP + displacement) or r/m. */
static int near_target(struct soft_cpu *cpu, const struct soft_insn *in, uint64_t *t)
{
	if (in->op[0].kind == SOP_IMM) {
		*t = cpu->next_rip + (uint64_t)in->op[0].val;
		return SOFT_OK;
	}
	return soft_op_read(cpu, in, 0, t);
}

static int exec_jcc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!soft_cond(cpu, in->cc))
		return SOFT_OK;
	return branch_to(cpu, cpu->next_rip + (uint64_t)in->op[0].val, in->osize);
}

static int exec_jrcxz(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (soft_reg_read(cpu, X86_RCX, in->asize))
		return SOFT_OK;
	return branch_to(cpu, cpu->next_rip + (uint64_t)in->op[0].val, in->osize);
}

/* LOOP/LOOPE/LOOPNE: the count register's width is the address size. */
static int exec_loop(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t c = (soft_reg_read(cpu, X86_RCX, in->asize) - 1) & soft_mask(in->asize);
	bool take = c != 0;
	if (in->mnemonic == ZYDIS_MNEMONIC_LOOPE)
		take = take && (cpu->rflags & FL_ZF);
	else if (in->mnemonic == ZYDIS_MNEMONIC_LOOPNE)
		take = take && !(cpu->rflags & FL_ZF);
	if (take) {
		int rc = branch_to(cpu, cpu->next_rip + (uint64_t)in->op[0].val, in->osize);
		if (rc)
			return rc;
	}
	soft_reg_write(cpu, X86_RCX, in->asize, c);
	return SOFT_OK;
}

/* ---- far transfers (same privilege, plus RETF to an outer level) ---- */

static int load_code_desc(struct soft_cpu *cpu, uint16_t sel, struct x86_segment *cs)
{
	uint64_t desc, addr;
	if ((sel & ~3u) == 0)
		return soft_gp0(cpu);
	int rc = soft_read_desc(cpu, sel, &desc, &addr);
	if (rc)
		return rc;
	soft_desc_to_seg(desc, sel, cs);
	if (!cs->s || !(cs->type & 8) || (cs->l && cs->db && soft_long_mode(cpu)))
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (!cs->present)
		return soft_raise(cpu, EXC_NP, true, sel & 0xfffc);
	return SOFT_OK;
}

/* Real-address and virtual-8086 mode: a selector is a paragraph number. */
static bool real_like(const struct soft_cpu *cpu)
{
	return !(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & FL_VM);
}

static void real_set_cs(struct soft_cpu *cpu, uint16_t sel)
{
	cpu->seg[X86_CS].selector = sel;
	cpu->seg[X86_CS].base = (uint64_t)sel << 4;
}

/* Far JMP/CALL to sel:off at the same privilege (SDM Vol. 2A "JMP", "CALL";
 * call gates and task switches are not implemented: #GP). */
static int far_jump(struct soft_cpu *cpu, uint16_t sel, uint64_t off, bool call, unsigned osize)
{
	struct x86_segment cs;
	int rc;

	if (real_like(cpu)) {
		if (call) {
			uint64_t sp = cpu->gpr[X86_RSP];
			rc = soft_push(cpu, cpu->seg[X86_CS].selector, osize);
			if (!rc)
				rc = soft_push(cpu, cpu->next_rip, osize);
			if (rc) {
				cpu->gpr[X86_RSP] = sp;
				return rc;
			}
		}
		real_set_cs(cpu, sel);
		cpu->next_rip = off & soft_mask(osize);
		return SOFT_OK;
	}
	rc = load_code_desc(cpu, sel, &cs);
	if (rc)
		return rc;
	bool conforming = cs.type & 4;
	if (conforming ? cs.dpl > cpu->cpl : (cs.dpl != cpu->cpl || (sel & 3) > cpu->cpl))
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (call) {
		/* Push CS then the return address, both of operand size. */
		uint64_t sp = cpu->gpr[X86_RSP];
		rc = soft_push(cpu, cpu->seg[X86_CS].selector, osize);
		if (!rc)
			rc = soft_push(cpu, cpu->next_rip, osize);
		if (rc) {
			cpu->gpr[X86_RSP] = sp;
			return rc;
		}
	}
	soft_set_cs(cpu, &cs, cpu->cpl);
	cpu->next_rip = off & soft_mask(osize);
	return SOFT_OK;
}

static int far_mem(struct soft_cpu *cpu, const struct soft_insn *in, bool call)
{
	const struct soft_operand *op = &in->op[0];
	unsigned osize = in->osize;
	uint64_t off = 0;
	uint16_t sel;
	if (op->kind != SOP_MEM)
		return soft_ud(cpu);
	uint64_t ea = soft_op_ea(cpu, in, op);
	int rc = soft_mem_read(cpu, op->seg, ea, &off, osize);
	if (!rc)
		rc = soft_mem_read(cpu, op->seg, (ea + osize) & soft_mask(in->asize), &sel, 2);
	return rc ? rc : far_jump(cpu, sel, off, call, osize);
}

/* RETF (SDM Vol. 2B "RET"): pop the offset and CS; to an outer level also
 * rSP and SS. */
static int exec_retf(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned os = in->osize;
	uint64_t off, sel64, imm = in->nops ? (uint64_t)in->op[0].val & 0xffff : 0;
	struct x86_segment cs;
	int rc = soft_peek(cpu, 0, &off, os);
	if (!rc)
		rc = soft_peek(cpu, os, &sel64, os);
	if (rc)
		return rc;
	uint16_t sel = (uint16_t)sel64;
	if (real_like(cpu)) {
		soft_rsp_add(cpu, (int64_t)(2 * os + imm));
		real_set_cs(cpu, sel);
		cpu->next_rip = off & soft_mask(os);
		return SOFT_OK;
	}
	unsigned rpl = sel & 3;
	if (rpl < cpu->cpl)
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	rc = load_code_desc(cpu, sel, &cs);
	if (rc)
		return rc;
	if ((cs.type & 4) ? cs.dpl > rpl : cs.dpl != rpl)
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (rpl == cpu->cpl) {
		soft_rsp_add(cpu, 2 * os + imm);
		soft_set_cs(cpu, &cs, rpl);
		cpu->next_rip = off & soft_mask(os);
		return SOFT_OK;
	}
	uint64_t nsp, nss;
	rc = soft_peek(cpu, 2 * os + imm, &nsp, os);
	if (!rc)
		rc = soft_peek(cpu, 3 * os + imm, &nss, os);
	if (rc)
		return rc;
	unsigned old_cpl = cpu->cpl;
	cpu->cpl = (uint8_t)rpl; /* the SS checks are made at the new CPL */
	rc = soft_load_seg(cpu, X86_SS, (uint16_t)nss);
	if (rc) {
		cpu->cpl = (uint8_t)old_cpl;
		return rc;
	}
	soft_set_cs(cpu, &cs, rpl);
	cpu->gpr[X86_RSP] = (nsp + imm) & soft_mask(os == 8 ? 8 : soft_stack_size(cpu));
	cpu->next_rip = off & soft_mask(os);
	return SOFT_OK;
}

/* ---- near branches ---- */

static int exec_jmp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t t;
	if (in->op[0].kind == SOP_PTR)
		return far_jump(cpu, (uint16_t)(in->op[0].val >> 32), in->op[0].val & 0xffffffff,
				false, in->osize);
	if (in->flags & INSN_FAR)
		return far_mem(cpu, in, false);
	int rc = near_target(cpu, in, &t);
	return rc ? rc : branch_to(cpu, t, in->osize);
}

static int exec_call(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t t, save = cpu->next_rip;
	if (in->op[0].kind == SOP_PTR)
		return far_jump(cpu, (uint16_t)(in->op[0].val >> 32), in->op[0].val & 0xffffffff,
				true, in->osize);
	if (in->flags & INSN_FAR)
		return far_mem(cpu, in, true);
	int rc = near_target(cpu, in, &t);
	if (!rc)
		rc = branch_to(cpu, t, in->osize);
	if (rc)
		return rc;
	rc = soft_push(cpu, save, in->osize);
	if (rc)
		cpu->next_rip = save;
	return rc;
}

static int exec_ret(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t t;
	if (in->flags & INSN_FAR)
		return exec_retf(cpu, in);
	int rc = soft_peek(cpu, 0, &t, in->osize);
	if (!rc)
		rc = branch_to(cpu, t, in->osize);
	if (rc)
		return rc;
	uint64_t imm = in->nops ? (uint64_t)in->op[0].val & 0xffff : 0;
	soft_rsp_add(cpu, (int64_t)(in->osize + imm));
	return SOFT_OK;
}

/* ---- the stack ---- */

static int exec_push(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 0, &v);
	if (rc)
		return rc;
	/* PUSH imm8/imm32 is sign-extended to the operand size; a segment
	 * register is pushed zero-extended. */
	return soft_push(cpu, v, in->osize);
}

static int exec_pop(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *d = &in->op[0];
	unsigned os = in->osize;
	uint64_t v, sp = cpu->gpr[X86_RSP];
	int rc = soft_peek(cpu, 0, &v, os);
	if (rc)
		return rc;
	if (d->kind == SOP_REG && d->rclass == SREG_SEG) {
		rc = soft_load_seg(cpu, d->reg, (uint16_t)v);
		if (rc)
			return rc;
		if (d->reg == X86_SS)
			cpu->int_shadow = true;
		soft_rsp_add(cpu, os);
		return SOFT_OK;
	}
	/* POP r/m computes a memory address with rSP already incremented. */
	soft_rsp_add(cpu, os);
	rc = soft_op_write(cpu, in, 0, v);
	if (rc)
		cpu->gpr[X86_RSP] = sp;
	return rc;
}

static int exec_leave(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned ss = soft_stack_size(cpu), os = in->osize;
	uint64_t v, sp = cpu->gpr[X86_RSP];
	soft_reg_write(cpu, X86_RSP, ss, cpu->gpr[X86_RBP]);
	int rc = soft_peek(cpu, 0, &v, os);
	if (rc) {
		cpu->gpr[X86_RSP] = sp;
		return rc;
	}
	soft_rsp_add(cpu, os);
	soft_reg_write(cpu, X86_RBP, os, v);
	return SOFT_OK;
}

/* ENTER size, level (SDM Vol. 2A "ENTER"), nesting level mod 32. */
static int exec_enter(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned os = in->osize, ss = soft_stack_size(cpu);
	uint64_t size = (uint64_t)in->op[0].val & 0xffff;
	unsigned level = (unsigned)in->op[1].val & 31;
	uint64_t sp = cpu->gpr[X86_RSP], bp = cpu->gpr[X86_RBP];
	int rc = soft_push(cpu, bp, os);
	uint64_t frame = cpu->gpr[X86_RSP];
	for (unsigned i = 1; !rc && i < level; i++) {
		uint64_t v;
		rc = soft_mem_read(cpu, X86_SS, (bp - i * os) & soft_mask(ss), &v, os);
		if (!rc)
			rc = soft_push(cpu, v, os);
	}
	if (!rc && level)
		rc = soft_push(cpu, frame, os);
	if (!rc) {
		/* The final stack pointer must be writable (#SS/#PF otherwise). */
		uint64_t nsp = (cpu->gpr[X86_RSP] - size) & soft_mask(ss), lin;
		rc = soft_seg_linear(cpu, X86_SS, nsp, 1, true, &lin);
		if (!rc) {
			soft_reg_write(cpu, X86_RBP, os, frame);
			soft_reg_write(cpu, X86_RSP, ss, nsp);
			return SOFT_OK;
		}
	}
	cpu->gpr[X86_RSP] = sp;
	cpu->gpr[X86_RBP] = bp;
	return rc;
}

/* ---- software interrupts ---- */

static int exec_int(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned vec;
	bool soft_int = true;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_INT3: vec = EXC_BP; break;
	case ZYDIS_MNEMONIC_INT1: vec = EXC_DB; soft_int = false; break;
	case ZYDIS_MNEMONIC_INTO:
		if (!(cpu->rflags & FL_OF))
			return SOFT_OK;
		vec = EXC_OF;
		break;
	default: vec = (unsigned)in->op[0].val & 0xff; break;
	}
	/* A trap: the frame holds the address of the next instruction. */
	int rc = soft_deliver(cpu, vec, false, 0, soft_int, cpu->next_rip);
	cpu->next_rip = cpu->rip;
	return rc;
}

/* ---- SYSCALL / SYSRET (SDM Vol. 2B) ---- */

static void flat_seg(struct x86_segment *s, uint16_t sel, uint8_t type, unsigned dpl, bool l)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->avl = 0;
	s->l = l;
	s->db = !l;
	s->g = 1;
	s->unusable = 0;
}

static int exec_syscall(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!soft_long_mode(cpu) || !(cpu->efer & X86_EFER_SCE))
		return soft_ud(cpu);
	uint16_t sel = (uint16_t)(cpu->star >> 32);
	bool from64 = soft_64bit(cpu);
	cpu->gpr[X86_RCX] = cpu->next_rip;
	cpu->gpr[X86_R11] = cpu->rflags & ~FL_RF;
	cpu->rflags &= ~(cpu->sfmask | FL_RF);
	cpu->rflags |= X86_RFLAGS_FIXED;
	flat_seg(&cpu->seg[X86_CS], sel & 0xfffc, 0xb, 0, true);
	flat_seg(&cpu->seg[X86_SS], (uint16_t)(sel + 8), 0x3, 0, false);
	cpu->cpl = 0;
	cpu->next_rip = from64 ? cpu->lstar : cpu->cstar;
	return SOFT_OK;
}

static int exec_sysret(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!soft_long_mode(cpu) || !(cpu->efer & X86_EFER_SCE))
		return soft_ud(cpu);
	if (cpu->cpl != 0 || !soft_64bit(cpu))
		return soft_gp0(cpu);
	uint16_t sel = (uint16_t)(cpu->star >> 48);
	bool to64 = in->osize == 8;
	if (to64 && !soft_canonical(cpu->gpr[X86_RCX]))
		return soft_gp0(cpu);
	if (to64) {
		flat_seg(&cpu->seg[X86_CS], (uint16_t)((sel + 16) | 3), 0xb, 3, true);
		cpu->next_rip = cpu->gpr[X86_RCX];
	} else {
		flat_seg(&cpu->seg[X86_CS], (uint16_t)(sel | 3), 0xb, 3, false);
		cpu->next_rip = cpu->gpr[X86_RCX] & 0xffffffff;
	}
	/* SS keeps a flat descriptor; only the selector comes from STAR. */
	flat_seg(&cpu->seg[X86_SS], (uint16_t)((sel + 8) | 3), 0x3, 3, false);
	cpu->rflags = (cpu->gpr[X86_R11] & 0x3c7fd7ull) | X86_RFLAGS_FIXED;
	cpu->cpl = 3;
	return SOFT_OK;
}

soft_handler soft_exec_ctrl_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_JMP: return exec_jmp;
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		return exec_jcc;
	case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ: case ZYDIS_MNEMONIC_JRCXZ:
		return exec_jrcxz;
	case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE:
		return exec_loop;
	case ZYDIS_MNEMONIC_CALL: return exec_call;
	case ZYDIS_MNEMONIC_RET: return exec_ret;
	case ZYDIS_MNEMONIC_PUSH: return exec_push;
	case ZYDIS_MNEMONIC_POP: return exec_pop;
	case ZYDIS_MNEMONIC_LEAVE: return exec_leave;
	case ZYDIS_MNEMONIC_ENTER: return exec_enter;
	case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INT1:
	case ZYDIS_MNEMONIC_INTO:
		return exec_int;
	case ZYDIS_MNEMONIC_SYSCALL: return exec_syscall;
	case ZYDIS_MNEMONIC_SYSRET: return exec_sysret;
	default: return NULL;
	}
}

#endif /* HAVE_ZYDIS */
