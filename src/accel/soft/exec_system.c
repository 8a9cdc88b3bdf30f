/* System instructions: control/debug registers, descriptor tables, segment
 * loads, CLI/STI, PUSHF/POPF, IRET, HLT, port I/O, CPUID, RDTSC(P),
 * RDMSR/WRMSR, SWAPGS, INVLPG and the cache instructions.
 *
 * Privileged ones raise #GP(0) above CPL 0. Sensitive but unprivileged ones
 * are emulated against the virtual state, never the host's: POPF at
 * CPL > IOPL leaves IF (and IOPL) alone without a fault, the Popek–Goldberg
 * case (SDM Vol. 2B "POPF"); IN/OUT above IOPL consult the TSS I/O bitmap
 * (SDM Vol. 1 §19.5.2). */
#include <string.h>

#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* CR4 bits this CPU implements (and CPUID announces). */
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | X86_CR4_PAE | (1ull << 6) /* MCE */ | \
		   X86_CR4_PGE | (1ull << 8) /* PCE */ | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT)
#define CR0_VALID (X86_CR0_PE | X86_CR0_MP | CR0_EM | CR0_TS | X86_CR0_ET | X86_CR0_NE | \
		   X86_CR0_WP | (1ull << 18) /* AM */ | CR0_NW | CR0_CD | X86_CR0_PG)

#define priv_check(cpu)                                                        \
	do {                                                                   \
		if ((cpu)->cpl != 0)                                           \
			return soft_gp0(cpu);                                  \
	} while (0)

/* ---- control registers (SDM Vol. 3A §2.5; Vol. 2B "MOV—Move to/from Control Registers") */

static int write_cr0(struct soft_cpu *cpu, uint64_t v)
{
	uint64_t old = cpu->cr0;
	if (v >> 32)
		return soft_gp0(cpu);
	v = (v & CR0_VALID) | X86_CR0_ET;
	if (((v & X86_CR0_PG) && !(v & X86_CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
		return soft_gp0(cpu);
	if ((v & X86_CR0_PG) && !(old & X86_CR0_PG) && (cpu->efer & X86_EFER_LME) &&
	    !(cpu->cr4 & X86_CR4_PAE))
		return soft_gp0(cpu);
	if (!(v & X86_CR0_PG) && soft_64bit(cpu))
		return soft_gp0(cpu);
	cpu->cr0 = v;
	soft_mode_changed(cpu);
	if ((old ^ v) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
		soft_tlb_flush(cpu, true);
	return SOFT_OK;
}

static int write_cr4(struct soft_cpu *cpu, uint64_t v)
{
	uint64_t old = cpu->cr4;
	if (v & ~CR4_VALID)
		return soft_gp0(cpu);
	if (!(v & X86_CR4_PAE) && soft_long_mode(cpu))
		return soft_gp0(cpu);
	cpu->cr4 = v;
	if ((old ^ v) & (X86_CR4_PGE | X86_CR4_PAE | CR4_PSE))
		soft_tlb_flush(cpu, true);
	return SOFT_OK;
}

static int exec_mov_cr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	bool to_cr = in->op[0].rclass == SREG_CR;
	unsigned cr = to_cr ? in->op[0].reg : in->op[1].reg;
	unsigned gpr = to_cr ? in->op[1].reg : in->op[0].reg;
	unsigned size = soft_long_mode(cpu) ? 8 : 4;

	if (cr == 1 || (cr > 4 && cr != 8))
		return soft_ud(cpu);
	priv_check(cpu);
	if (!to_cr) {
		uint64_t v = 0;
		switch (cr) {
		case 0: v = cpu->cr0; break;
		case 2: v = cpu->cr2; break;
		case 3: v = cpu->cr3; break;
		case 4: v = cpu->cr4; break;
		case 8: v = soft_get_cr8(cpu); break;
		}
		soft_reg_write(cpu, gpr, size, v);
		return SOFT_OK;
	}
	uint64_t v = soft_reg_read(cpu, gpr, size);
	switch (cr) {
	case 0:
		return write_cr0(cpu, v);
	case 2:
		cpu->cr2 = v;
		return SOFT_OK;
	case 3:
		if (soft_long_mode(cpu) && (v >> SOFT_MAXPHYADDR))
			return soft_gp0(cpu);
		cpu->cr3 = v;
		soft_tlb_flush(cpu, false);
		return SOFT_OK;
	case 4:
		return write_cr4(cpu, v);
	default: /* CR8: the task-priority register, 4 bits */
		if (v & ~0xfull)
			return soft_gp0(cpu);
		soft_set_cr8(cpu, v);
		return SOFT_OK;
	}
}

/* Debug registers are storage only: no breakpoints yet. DR4/DR5 alias DR6/DR7
 * unless CR4.DE (then #UD). */
static int exec_mov_dr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	bool to_dr = in->op[0].rclass == SREG_DR;
	unsigned dr = to_dr ? in->op[0].reg : in->op[1].reg;
	unsigned gpr = to_dr ? in->op[1].reg : in->op[0].reg;
	unsigned size = soft_long_mode(cpu) ? 8 : 4;
	if (dr > 7)
		return soft_ud(cpu);
	if (dr == 4 || dr == 5) {
		if (cpu->cr4 & CR4_DE)
			return soft_ud(cpu);
		dr += 2;
	}
	priv_check(cpu);
	if (!to_dr) {
		soft_reg_write(cpu, gpr, size, cpu->dr[dr]);
		return SOFT_OK;
	}
	uint64_t v = soft_reg_read(cpu, gpr, size);
	if (dr >= 6 && (v >> 32))
		return soft_gp0(cpu);
	if (dr == 6)
		v = (v & 0xe00f) | 0xffff0ff0;
	else if (dr == 7)
		v = (v & 0xffff2bff) | 0x400;
	cpu->dr[dr] = v;
	return SOFT_OK;
}

static int exec_mov_seg(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (in->op[0].kind != SOP_REG || in->op[0].rclass != SREG_SEG) {
		/* A system register as a source: CR/DR. */
		if (in->op[1].kind == SOP_REG && in->op[1].rclass == SREG_CR)
			return exec_mov_cr(cpu, in);
		return exec_mov_dr(cpu, in);
	}
	unsigned seg = in->op[0].reg;
	uint64_t v;
	if (seg == X86_CS)
		return soft_ud(cpu);
	int rc = soft_op_read(cpu, in, 1, &v);
	if (!rc)
		rc = soft_load_seg(cpu, seg, (uint16_t)v);
	if (!rc && seg == X86_SS)
		cpu->int_shadow = true;
	return rc;
}

static int exec_mov_sys(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (in->op[0].rclass == SREG_CR && in->op[0].kind == SOP_REG)
		return exec_mov_cr(cpu, in);
	if (in->op[0].rclass == SREG_DR && in->op[0].kind == SOP_REG)
		return exec_mov_dr(cpu, in);
	return exec_mov_seg(cpu, in);
}

static int exec_clts(struct soft_cpu *cpu, const struct soft_insn *in)
{
	priv_check(cpu);
	cpu->cr0 &= ~CR0_TS;
	return SOFT_OK;
}

/* LMSW changes PE (set only), MP, EM, TS. */
static int exec_lmsw(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	priv_check(cpu);
	int rc = soft_op_read(cpu, in, 0, &v);
	if (rc)
		return rc;
	uint64_t nv = (cpu->cr0 & ~0xeull) | (v & 0xe) | ((cpu->cr0 | v) & 1);
	return write_cr0(cpu, nv);
}

static int exec_smsw(struct soft_cpu *cpu, const struct soft_insn *in)
{
	return soft_op_write(cpu, in, 0, cpu->cr0 & soft_mask(in->op[0].size));
}

/* ---- descriptor tables ---- */

static int exec_lgdt_lidt(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *op = &in->op[0];
	uint16_t limit;
	uint64_t base = 0;
	priv_check(cpu);
	if (op->kind != SOP_MEM)
		return soft_ud(cpu);
	uint64_t ea = soft_op_ea(cpu, in, op);
	int rc = soft_mem_read(cpu, op->seg, ea, &limit, 2);
	if (!rc)
		rc = soft_mem_read(cpu, op->seg, (ea + 2) & soft_mask(in->asize), &base,
				   soft_64bit(cpu) ? 8 : 4);
	if (rc)
		return rc;
	if (!soft_64bit(cpu) && in->osize == 2)
		base &= 0xffffff;
	if (soft_64bit(cpu) && !soft_canonical(base))
		return soft_gp0(cpu);
	struct x86_dtable *t = in->mnemonic == ZYDIS_MNEMONIC_LGDT ? &cpu->gdt : &cpu->idt;
	t->base = base;
	t->limit = limit;
	return SOFT_OK;
}

static int exec_sgdt_sidt(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *op = &in->op[0];
	const struct x86_dtable *t = in->mnemonic == ZYDIS_MNEMONIC_SGDT ? &cpu->gdt : &cpu->idt;
	uint8_t buf[10];
	unsigned len = soft_64bit(cpu) ? 10 : 6;
	if (op->kind != SOP_MEM)
		return soft_ud(cpu);
	memcpy(buf, &t->limit, 2);
	memcpy(buf + 2, &t->base, 8);
	return soft_mem_write(cpu, op->seg, soft_op_ea(cpu, in, op), buf, len);
}

/* LLDT / LTR: system descriptors are 16 bytes in IA-32e mode (§8.2.3). */
static int load_system_seg(struct soft_cpu *cpu, unsigned which, uint16_t sel)
{
	struct x86_segment *s = &cpu->seg[which];
	uint64_t desc, hi = 0, addr;
	int rc;

	if ((sel & ~3u) == 0) {
		if (which == X86_TR)
			return soft_gp0(cpu);
		memset(s, 0, sizeof(*s));
		s->selector = sel;
		s->unusable = 1;
		return SOFT_OK;
	}
	if (sel & 4) /* must be in the GDT */
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	rc = soft_read_desc(cpu, sel, &desc, &addr);
	if (rc)
		return rc;
	struct x86_segment n;
	soft_desc_to_seg(desc, sel, &n);
	bool ok = !n.s && (which == X86_LDTR ? n.type == 2 : (n.type == 9 || n.type == 1));
	if (!ok)
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (!n.present)
		return soft_raise(cpu, EXC_NP, true, sel & 0xfffc);
	if (soft_long_mode(cpu)) {
		if ((sel & ~7u) + 15 > cpu->gdt.limit)
			return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
		rc = soft_sys_read(cpu, addr + 8, &hi, 8);
		if (rc)
			return rc;
		n.base |= (hi & 0xffffffffull) << 32;
	}
	if (which == X86_TR) {
		/* Mark the TSS busy in the GDT. */
		desc |= 2ull << 40;
		rc = soft_sys_write(cpu, addr, &desc, 8);
		if (rc)
			return rc;
		n.type |= 2;
	}
	*s = n;
	return SOFT_OK;
}

static int exec_lldt_ltr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & FL_VM))
		return soft_ud(cpu);
	priv_check(cpu);
	int rc = soft_op_read(cpu, in, 0, &v);
	if (rc)
		return rc;
	return load_system_seg(cpu, in->mnemonic == ZYDIS_MNEMONIC_LTR ? X86_TR : X86_LDTR,
			       (uint16_t)v);
}

static int exec_sldt_str(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!(cpu->cr0 & X86_CR0_PE))
		return soft_ud(cpu);
	unsigned which = in->mnemonic == ZYDIS_MNEMONIC_STR ? X86_TR : X86_LDTR;
	return soft_op_write(cpu, in, 0, cpu->seg[which].selector);
}

/* LAR, LSL, VERR, VERW (SDM Vol. 2A/2B): probe a selector without loading
 * it; ZF says whether it is usable at this privilege. Linux's vDSO reads
 * the CPU number with LSL. */
static int exec_lar_lsl_verx(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned m = in->mnemonic;
	unsigned src = (m == ZYDIS_MNEMONIC_VERR || m == ZYDIS_MNEMONIC_VERW) ? 0 : 1;
	uint64_t v, desc = 0, addr;
	bool ok = false;
	int rc;

	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & FL_VM))
		return soft_ud(cpu);
	rc = soft_op_read(cpu, in, (int)src, &v);
	if (rc)
		return rc;
	uint16_t sel = (uint16_t)v;
	struct x86_segment s;
	rc = (sel & ~3u) ? soft_read_desc(cpu, sel, &desc, &addr) : SOFT_FAULT;
	/* Outside the table: just ZF = 0. A fault reading the table is real. */
	if (rc == SOFT_EXIT || (rc == SOFT_FAULT && (sel & ~3u) && cpu->fault.vector != EXC_GP))
		return rc;
	if (rc == SOFT_OK) {
		soft_desc_to_seg(desc, sel, &s);
		bool code = s.s && (s.type & 8), conforming = code && (s.type & 4);
		bool priv = conforming || (s.dpl >= cpu->cpl && s.dpl >= (sel & 3));
		bool lm = soft_long_mode(cpu);
		switch (m) {
		case ZYDIS_MNEMONIC_VERR:
			ok = s.s && (!code || (s.type & 2)) && priv;
			break;
		case ZYDIS_MNEMONIC_VERW:
			ok = s.s && !code && (s.type & 2) && priv;
			break;
		case ZYDIS_MNEMONIC_LSL:
			/* LDT and TSS descriptors; 16-bit TSSs only outside long mode. */
			ok = priv && (s.s || s.type == 2 || s.type == 9 || s.type == 11 ||
				      (!lm && (s.type == 1 || s.type == 3)));
			break;
		default: /* LAR: also call gates (12) and, outside long mode, older gates */
			ok = priv && (s.s || s.type == 2 || s.type == 9 || s.type == 11 ||
				      s.type == 12 || (!lm && (s.type == 1 || s.type == 3 ||
							      s.type == 4 || s.type == 5)));
			break;
		}
	}
	cpu->rflags = (cpu->rflags & ~FL_ZF) | (ok ? FL_ZF : 0);
	if (!ok || src == 0)
		return SOFT_OK;
	if (m == ZYDIS_MNEMONIC_LSL)
		return soft_op_write(cpu, in, 0, s.limit);
	return soft_op_write(cpu, in, 0, (desc >> 32) & 0x00f0ff00ull);
}

/* ---- flags and interrupts ---- */

static int exec_cli_sti(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if ((cpu->cr0 & X86_CR0_PE) && soft_iopl(cpu) < cpu->cpl)
		return soft_gp0(cpu);
	if (in->mnemonic == ZYDIS_MNEMONIC_CLI) {
		cpu->rflags &= ~FL_IF;
	} else {
		/* STI: interrupts stay blocked until the next instruction ends. */
		if (!(cpu->rflags & FL_IF))
			cpu->int_shadow = true;
		cpu->rflags |= FL_IF;
	}
	return SOFT_OK;
}

static int exec_pushf(struct soft_cpu *cpu, const struct soft_insn *in)
{
	/* The image has VM and RF clear (SDM Vol. 2B "PUSHF"). */
	return soft_push(cpu, cpu->rflags & ~(FL_VM | FL_RF), in->osize);
}

/* The RFLAGS bits POPF / IRET may change at the current CPL and IOPL. */
static uint64_t writable_flags(const struct soft_cpu *cpu)
{
	uint64_t m = FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_TF | FL_DF | FL_OF | FL_NT |
		     FL_AC | FL_ID;
	if (!(cpu->cr0 & X86_CR0_PE) || cpu->cpl == 0)
		m |= FL_IOPL | FL_IF;
	else if (cpu->cpl <= soft_iopl(cpu))
		m |= FL_IF;
	return m;
}

static int exec_popf(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_peek(cpu, 0, &v, in->osize);
	if (rc)
		return rc;
	uint64_t m = writable_flags(cpu) & soft_mask(in->osize);
	soft_rsp_add(cpu, in->osize);
	cpu->rflags = ((cpu->rflags & ~m) | (v & m) | X86_RFLAGS_FIXED) & ~FL_RF;
	return SOFT_OK;
}

/* IRET in IA-32e mode (SDM Vol. 2A "IRET/IRETD/IRETQ", the IA-32e branch):
 * pops RIP, CS, RFLAGS, RSP, SS, checks everything first, then commits. */
static int iret_long(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned os = in->osize;
	uint64_t v[5];
	int rc;

	if (cpu->rflags & FL_NT)
		return soft_gp0(cpu); /* no task switches in IA-32e mode */
	for (unsigned i = 0; i < 5; i++)
		if ((rc = soft_peek(cpu, i * os, &v[i], os)))
			return rc;
	uint16_t sel = (uint16_t)v[1], ss_sel = (uint16_t)v[4];
	unsigned rpl = sel & 3;
	struct x86_segment cs;
	uint64_t desc, addr;

	if ((sel & ~3u) == 0)
		return soft_gp0(cpu);
	rc = soft_read_desc(cpu, sel, &desc, &addr);
	if (rc)
		return rc;
	soft_desc_to_seg(desc, sel, &cs);
	if (!cs.s || !(cs.type & 8) || rpl < cpu->cpl ||
	    ((cs.type & 4) ? cs.dpl > rpl : cs.dpl != rpl) || (cs.l && cs.db))
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (!cs.present)
		return soft_raise(cpu, EXC_NP, true, sel & 0xfffc);
	uint64_t rip = v[0];
	if (cs.l ? !soft_canonical(rip) : rip > cs.limit)
		return soft_gp0(cpu);

	struct x86_segment ss;
	if ((ss_sel & ~3u) == 0) {
		/* A null SS is fine when returning to 64-bit code below CPL 3. */
		if (!cs.l || rpl == 3 || (ss_sel & 3) != rpl)
			return soft_gp0(cpu);
		memset(&ss, 0, sizeof(ss));
		ss.selector = ss_sel;
		ss.dpl = (uint8_t)rpl;
		ss.present = 1;
		ss.s = 1;
		ss.type = 3;
		ss.db = 1;
	} else {
		rc = soft_read_desc(cpu, ss_sel, &desc, &addr);
		if (rc)
			return rc;
		soft_desc_to_seg(desc, ss_sel, &ss);
		if ((ss_sel & 3) != rpl || ss.dpl != rpl || !ss.s || (ss.type & 8) ||
		    !(ss.type & 2))
			return soft_raise(cpu, EXC_GP, true, ss_sel & 0xfffc);
		if (!ss.present)
			return soft_raise(cpu, EXC_SS, true, ss_sel & 0xfffc);
	}

	uint64_t m = writable_flags(cpu) | FL_RF | FL_VIF | FL_VIP;
	if (cpu->cpl != 0)
		m &= ~(FL_VIF | FL_VIP);
	m &= soft_mask(os);
	cpu->rflags = (cpu->rflags & ~m) | (v[2] & m) | X86_RFLAGS_FIXED;
	unsigned old_cpl = cpu->cpl;
	soft_set_cs(cpu, &cs, rpl);
	cpu->seg[X86_SS] = ss;
	cpu->gpr[X86_RSP] = os == 8 ? v[3] : v[3] & soft_mask(os);
	cpu->next_rip = rip & (cs.l ? ~0ull : soft_mask(os));
	if (rpl > old_cpl) {
		/* Data segments the outer level may not use become null. */
		static const unsigned segs[] = { X86_DS, X86_ES, X86_FS, X86_GS };
		for (unsigned i = 0; i < 4; i++) {
			struct x86_segment *s = &cpu->seg[segs[i]];
			bool conforming_code = (s->type & 0xc) == 0xc;
			if (!s->unusable && !conforming_code && s->dpl < rpl) {
				s->selector = 0;
				s->unusable = 1;
			}
		}
	}
	return SOFT_OK;
}

/* Real-mode IRET: IP, CS, FLAGS. */
static int iret_real(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned os = in->osize;
	uint64_t ip, cs, fl;
	int rc = soft_peek(cpu, 0, &ip, os);
	if (!rc)
		rc = soft_peek(cpu, os, &cs, os);
	if (!rc)
		rc = soft_peek(cpu, 2 * os, &fl, os);
	if (rc)
		return rc;
	soft_rsp_add(cpu, 3 * os);
	uint64_t m = writable_flags(cpu) & soft_mask(os);
	cpu->rflags = (cpu->rflags & ~m) | (fl & m) | X86_RFLAGS_FIXED;
	cpu->seg[X86_CS].selector = (uint16_t)cs;
	cpu->seg[X86_CS].base = (cs & 0xffff) << 4;
	cpu->next_rip = ip & soft_mask(os);
	return SOFT_OK;
}

/* Protected-mode IRET (SDM Vol. 2A "IRET", the PROTECTED-MODE branches):
 * to the same level, or to an outer one with SS:ESP from the stack. Task
 * returns (NT) and returns to virtual-8086 mode are not implemented. */
static int iret_prot(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned os = in->osize;
	uint64_t v[5] = { 0 };
	int rc;

	if (cpu->rflags & (FL_NT | FL_VM))
		return soft_error_exit(cpu, "soft CPU: task return / virtual-8086 IRET not "
				       "implemented", cpu->rflags, 0);
	for (unsigned i = 0; i < 3; i++)
		if ((rc = soft_peek(cpu, i * os, &v[i], os)))
			return rc;
	if ((v[2] & FL_VM) && cpu->cpl == 0)
		return soft_error_exit(cpu, "soft CPU: IRET to virtual-8086 mode not implemented",
				       v[2], 0);
	uint16_t sel = (uint16_t)v[1];
	unsigned rpl = sel & 3;
	struct x86_segment cs, ss;
	uint64_t desc, addr;
	if ((sel & ~3u) == 0)
		return soft_gp0(cpu);
	rc = soft_read_desc(cpu, sel, &desc, &addr);
	if (rc)
		return rc;
	soft_desc_to_seg(desc, sel, &cs);
	if (!cs.s || !(cs.type & 8) || rpl < cpu->cpl ||
	    ((cs.type & 4) ? cs.dpl > rpl : cs.dpl != rpl))
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (!cs.present)
		return soft_raise(cpu, EXC_NP, true, sel & 0xfffc);
	uint64_t eip = v[0] & soft_mask(os);
	if (eip > cs.limit)
		return soft_gp0(cpu);
	bool outer = rpl > cpu->cpl;
	if (outer) {
		for (unsigned i = 3; i < 5; i++)
			if ((rc = soft_peek(cpu, i * os, &v[i], os)))
				return rc;
		uint16_t ss_sel = (uint16_t)v[4];
		if ((ss_sel & ~3u) == 0 || (ss_sel & 3) != rpl)
			return soft_raise(cpu, EXC_GP, true, ss_sel & 0xfffc);
		rc = soft_read_desc(cpu, ss_sel, &desc, &addr);
		if (rc)
			return rc;
		soft_desc_to_seg(desc, ss_sel, &ss);
		if (!ss.s || (ss.type & 8) || !(ss.type & 2) || ss.dpl != rpl)
			return soft_raise(cpu, EXC_GP, true, ss_sel & 0xfffc);
		if (!ss.present)
			return soft_raise(cpu, EXC_SS, true, ss_sel & 0xfffc);
	}
	uint64_t m = writable_flags(cpu) | FL_RF;
	if (cpu->cpl == 0)
		m |= FL_VIF | FL_VIP;
	m &= soft_mask(os);
	cpu->rflags = (cpu->rflags & ~m) | (v[2] & m) | X86_RFLAGS_FIXED;
	unsigned old_cpl = cpu->cpl;
	if (outer) {
		cpu->seg[X86_SS] = ss;
		cpu->gpr[X86_RSP] = v[3] & (ss.db ? 0xffffffffull : 0xffffull);
	} else {
		soft_rsp_add(cpu, 3 * os);
	}
	soft_set_cs(cpu, &cs, rpl);
	cpu->next_rip = eip;
	if (rpl > old_cpl) {
		static const unsigned segs[] = { X86_DS, X86_ES, X86_FS, X86_GS };
		for (unsigned i = 0; i < 4; i++) {
			struct x86_segment *s = &cpu->seg[segs[i]];
			bool conforming_code = (s->type & 0xc) == 0xc;
			if (!s->unusable && !conforming_code && s->dpl < rpl) {
				s->selector = 0;
				s->unusable = 1;
			}
		}
	}
	return SOFT_OK;
}

static int exec_iret(struct soft_cpu *cpu, const struct soft_insn *in)
{
	int rc;
	if (soft_long_mode(cpu))
		rc = iret_long(cpu, in);
	else if (!(cpu->cr0 & X86_CR0_PE))
		rc = iret_real(cpu, in);
	else
		rc = iret_prot(cpu, in);
	/* Any IRET ends NMI blocking (SDM Vol. 3A §6.7.1). */
	if (rc == SOFT_OK)
		soft_nmi_unblock(cpu);
	return rc;
}

/* HLT: with the local APIC, the vCPU sleeps until an interrupt (IF set),
 * an NMI or INIT ends the halt (SDM Vol. 3A §9.4.2 / HLT). Without one, or
 * with only a bare interrupt source and IF clear, nothing can wake it: the
 * instruction completes and the VMM gets VCPU_EXIT_HALT. */
static int exec_hlt(struct soft_cpu *cpu, const struct soft_insn *in)
{
	priv_check(cpu);
	if (cpu->chip || (cpu->intc.ack && (cpu->rflags & FL_IF))) {
		/* An interrupt can end it: sleep in the run loop (exec.c). */
		cpu->activity = SOFT_HALTED;
		return SOFT_OK;
	}
	memset(&cpu->exit, 0, sizeof(cpu->exit));
	cpu->exit.kind = VCPU_EXIT_HALT;
	cpu->exit_after_commit = true;
	return SOFT_OK;
}

/* ---- port I/O ---- */

int soft_io_permitted(struct soft_cpu *cpu, uint16_t port, unsigned size)
{
	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->cpl <= soft_iopl(cpu) && !(cpu->rflags & FL_VM)))
		return SOFT_OK;
	/* The I/O permission bitmap at TSS[0x66] (SDM Vol. 1 §19.5.2): every
	 * bit of the accessed ports must be clear. */
	const struct x86_segment *tr = &cpu->seg[X86_TR];
	uint16_t base, bits;
	if (tr->unusable || !tr->present || tr->limit < 0x67)
		return soft_gp0(cpu);
	int rc = soft_sys_read(cpu, tr->base + 0x66, &base, 2);
	if (rc)
		return rc;
	uint32_t off = base + port / 8;
	if (off + 1 > tr->limit)
		return soft_gp0(cpu);
	rc = soft_sys_read(cpu, tr->base + off, &bits, 2);
	if (rc)
		return rc;
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		return soft_gp0(cpu);
	return SOFT_OK;
}

int soft_io(struct soft_cpu *cpu, uint16_t port, unsigned size, unsigned count, bool write,
	    void *buf)
{
	unsigned bytes = size * count;
	if (bytes > SOFT_IO_BUF || !bytes)
		return soft_error_exit(cpu, "soft CPU: bad port I/O size", port, bytes);
	if (!write && cpu->io.state == IO_READ_DONE) {
		if (cpu->io.port == port && cpu->io.size == size && cpu->io.count == count) {
			memcpy(buf, cpu->io.data, bytes);
			cpu->io.state = IO_IDLE;
			return SOFT_OK;
		}
		cpu->io.state = IO_IDLE; /* for some other access: not ours */
	}
	if (cpu->exit_after_commit)
		return soft_error_exit(cpu, "soft CPU: two device writes in one instruction",
				       port, size);
	memset(&cpu->exit, 0, sizeof(cpu->exit));
	cpu->exit.kind = VCPU_EXIT_IO;
	cpu->exit.io.port = port;
	cpu->exit.io.size = (uint8_t)size;
	cpu->exit.io.is_write = write;
	cpu->exit.io.count = count;
	cpu->exit.io.data = cpu->io.data;
	cpu->io.port = port;
	cpu->io.size = (uint8_t)size;
	cpu->io.count = count;
	if (write) {
		memcpy(cpu->io.data, buf, bytes);
		cpu->exit_after_commit = true;
		return SOFT_OK;
	}
	memset(cpu->io.data, 0xff, bytes);
	cpu->io.state = IO_WAIT_READ;
	return SOFT_EXIT;
}

static int exec_in_out(struct soft_cpu *cpu, const struct soft_insn *in)
{
	bool out = in->mnemonic == ZYDIS_MNEMONIC_OUT;
	const struct soft_operand *pop = out ? &in->op[0] : &in->op[1];
	const struct soft_operand *dop = out ? &in->op[1] : &in->op[0];
	unsigned size = dop->size;
	uint16_t port = pop->kind == SOP_IMM ? (uint16_t)(pop->val & 0xff) :
					       (uint16_t)cpu->gpr[X86_RDX];
	uint64_t v = 0;
	int rc = soft_io_permitted(cpu, port, size);
	if (rc)
		return rc;
	if (out) {
		v = cpu->gpr[X86_RAX];
		return soft_io(cpu, port, size, 1, true, &v);
	}
	rc = soft_io(cpu, port, size, 1, false, &v);
	if (rc)
		return rc;
	soft_reg_write(cpu, X86_RAX, size, v);
	return SOFT_OK;
}

/* ---- identification, time, MSRs ---- */

static int exec_cpuid(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint32_t r[4];
	soft_cpuid(cpu, (uint32_t)cpu->gpr[X86_RAX], (uint32_t)cpu->gpr[X86_RCX], r);
	cpu->gpr[X86_RAX] = r[0];
	cpu->gpr[X86_RBX] = r[1];
	cpu->gpr[X86_RCX] = r[2];
	cpu->gpr[X86_RDX] = r[3];
	return SOFT_OK;
}

static int exec_rdtsc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0 && (cpu->cr0 & X86_CR0_PE))
		return soft_gp0(cpu);
	uint64_t t = soft_rdtsc(cpu);
	cpu->gpr[X86_RAX] = t & 0xffffffff;
	cpu->gpr[X86_RDX] = t >> 32;
	if (in->mnemonic == ZYDIS_MNEMONIC_RDTSCP)
		cpu->gpr[X86_RCX] = cpu->tsc_aux & 0xffffffff;
	return SOFT_OK;
}

static int exec_rdmsr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	priv_check(cpu);
	int rc = soft_rdmsr(cpu, (uint32_t)cpu->gpr[X86_RCX], &v);
	if (rc)
		return rc;
	cpu->gpr[X86_RAX] = v & 0xffffffff;
	cpu->gpr[X86_RDX] = v >> 32;
	return SOFT_OK;
}

static int exec_wrmsr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	priv_check(cpu);
	uint64_t v = (cpu->gpr[X86_RAX] & 0xffffffff) | (cpu->gpr[X86_RDX] << 32);
	return soft_wrmsr(cpu, (uint32_t)cpu->gpr[X86_RCX], v);
}

static int exec_swapgs(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!soft_64bit(cpu))
		return soft_ud(cpu);
	priv_check(cpu);
	uint64_t t = cpu->seg[X86_GS].base;
	cpu->seg[X86_GS].base = cpu->kernel_gs_base;
	cpu->kernel_gs_base = t;
	return SOFT_OK;
}

/* ---- TLB and caches ---- */

static int exec_invlpg(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t lin;
	priv_check(cpu);
	const struct soft_operand *op = &in->op[0];
	uint64_t ea = soft_op_ea(cpu, in, op);
	if (soft_64bit(cpu))
		lin = ea + ((op->seg == X86_FS || op->seg == X86_GS) ? cpu->seg[op->seg].base : 0);
	else
		lin = (cpu->seg[op->seg].base + ea) & 0xffffffff;
	soft_tlb_flush_page(cpu, lin);
	return SOFT_OK;
}

static int exec_wbinvd(struct soft_cpu *cpu, const struct soft_insn *in)
{
	priv_check(cpu);
	return SOFT_OK;
}

/* CLFLUSH: no caches to flush, but the address must be valid (it faults
 * like a byte load, SDM Vol. 2A "CLFLUSH"). */
static int exec_clflush(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t lin, gpa;
	uint8_t *host;
	const struct soft_operand *op = &in->op[0];
	int rc = soft_seg_linear(cpu, op->seg, soft_op_ea(cpu, in, op), 1, false, &lin);
	if (!rc)
		rc = soft_translate(cpu, lin, SOFT_ACC_READ, cpu->cpl == 3, &gpa, &host);
	return rc;
}

soft_handler soft_exec_system_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOV: return exec_mov_sys;
	case ZYDIS_MNEMONIC_CLTS: return exec_clts;
	case ZYDIS_MNEMONIC_LMSW: return exec_lmsw;
	case ZYDIS_MNEMONIC_SMSW: return exec_smsw;
	case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: return exec_lgdt_lidt;
	case ZYDIS_MNEMONIC_SGDT: case ZYDIS_MNEMONIC_SIDT: return exec_sgdt_sidt;
	case ZYDIS_MNEMONIC_LLDT: case ZYDIS_MNEMONIC_LTR: return exec_lldt_ltr;
	case ZYDIS_MNEMONIC_SLDT: case ZYDIS_MNEMONIC_STR: return exec_sldt_str;
	case ZYDIS_MNEMONIC_LAR: case ZYDIS_MNEMONIC_LSL: case ZYDIS_MNEMONIC_VERR:
	case ZYDIS_MNEMONIC_VERW:
		return exec_lar_lsl_verx;
	case ZYDIS_MNEMONIC_CLI: case ZYDIS_MNEMONIC_STI: return exec_cli_sti;
	case ZYDIS_MNEMONIC_PUSHF: case ZYDIS_MNEMONIC_PUSHFD: case ZYDIS_MNEMONIC_PUSHFQ:
		return exec_pushf;
	case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFD: case ZYDIS_MNEMONIC_POPFQ:
		return exec_popf;
	case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ:
		return exec_iret;
	case ZYDIS_MNEMONIC_HLT: return exec_hlt;
	case ZYDIS_MNEMONIC_IN: case ZYDIS_MNEMONIC_OUT: return exec_in_out;
	case ZYDIS_MNEMONIC_CPUID: return exec_cpuid;
	case ZYDIS_MNEMONIC_RDTSC: case ZYDIS_MNEMONIC_RDTSCP: return exec_rdtsc;
	case ZYDIS_MNEMONIC_RDMSR: return exec_rdmsr;
	case ZYDIS_MNEMONIC_WRMSR: return exec_wrmsr;
	case ZYDIS_MNEMONIC_SWAPGS: return exec_swapgs;
	case ZYDIS_MNEMONIC_INVLPG: return exec_invlpg;
	case ZYDIS_MNEMONIC_WBINVD: case ZYDIS_MNEMONIC_INVD: return exec_wbinvd;
	case ZYDIS_MNEMONIC_CLFLUSH: case ZYDIS_MNEMONIC_CLFLUSHOPT: return exec_clflush;
	default: return NULL;
	}
}

#else /* !HAVE_ZYDIS */

int soft_io_permitted(struct soft_cpu *cpu, uint16_t port, unsigned size)
{
	return SOFT_OK;
}

int soft_io(struct soft_cpu *cpu, uint16_t port, unsigned size, unsigned count, bool write,
	    void *buf)
{
	return soft_error_exit(cpu, "soft CPU: built without Zydis", port, size);
}

#endif /* HAVE_ZYDIS */
