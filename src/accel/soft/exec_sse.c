/* SSE/SSE2 subset: the moves and bitwise logic compilers emit for memset,
 * struct copies and zeroing (MOVAPS/MOVUPS/MOVDQA/MOVDQU/MOVNT*, MOVD/MOVQ,
 * MOVSS/MOVSD, PXOR/XORPS/POR/PAND/PANDN...), PCMPEQB/W/D, PMOVMSKB (string
 * scans), LDMXCSR/STMXCSR, FXSAVE/FXRSTOR and MOVNTI.
 *
 * Every one first checks CR0.EM (#UD), CR4.OSFXSR (#UD) and CR0.TS (#NM),
 * SDM Vol. 3A §13.1 (soft_sse_check; the MMX-register forms: CR0.EM, CR0.TS
 * and a pending x87 exception, then the x87-to-MMX transition when they
 * complete: soft_vec_write, soft_mmx_enter). Legacy-encoded 128-bit memory operands must be 16-byte
 * aligned except for the unaligned moves (#GP(0)). The x87 instructions
 * are in exec_x87*.c. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"
#include "accel/soft/x87.h"
#include "accel/soft/x87.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

int soft_sse_check(struct soft_cpu *cpu, const struct soft_insn *in)
{
	bool mmx = soft_insn_mmx(in);
	/* Of the instructions on MMX registers, the SSE/SSE2 ones that also
	 * name an XMM register or convert SSE FP values need OSFXSR. */
	bool fxsr = !mmx || in->op[0].rclass == SREG_XMM || in->op[1].rclass == SREG_XMM ||
		    in->mnemonic == ZYDIS_MNEMONIC_CVTPS2PI ||
		    in->mnemonic == ZYDIS_MNEMONIC_CVTTPS2PI ||
		    in->mnemonic == ZYDIS_MNEMONIC_CVTPI2PS || in->mnemonic == ZYDIS_MNEMONIC_CVTPI2PD ||
		    in->mnemonic == ZYDIS_MNEMONIC_CVTPD2PI ||
		    in->mnemonic == ZYDIS_MNEMONIC_CVTTPD2PI;
	if ((cpu->cr0 & CR0_EM) || (fxsr && !(cpu->cr4 & X86_CR4_OSFXSR)))
		return soft_ud(cpu);
	if (cpu->cr0 & CR0_TS)
		return soft_raise(cpu, EXC_NM, false, 0);
	if (mmx && soft_x87_pending(cpu))
		return soft_raise(cpu, EXC_MF, false, 0);
	return SOFT_OK;
}

/* The physical x87 register R_n is ST((n - TOP) mod 8) (cpu->st[] is in
 * stack order). */
static uint8_t *mmx_reg(struct soft_cpu *cpu, unsigned n)
{
	unsigned top = (cpu->fsw >> FSW_TOP_SHIFT) & 7;
	return cpu->st[(n - top) & 7];
}

void soft_mmx_enter(struct soft_cpu *cpu)
{
	soft_x87_set_fsw(cpu, (uint16_t)(cpu->fsw & ~(7u << FSW_TOP_SHIFT)));
	cpu->ftw = 0xff;
}

static int mem_linear(struct soft_cpu *cpu, const struct soft_insn *in,
		      const struct soft_operand *op, unsigned len, bool write, bool aligned,
		      uint64_t *lin)
{
	int rc = soft_seg_linear(cpu, op->seg, soft_op_ea(cpu, in, op), len, write, lin);
	if (!rc && aligned && (*lin & 15))
		return soft_gp0(cpu);
	return rc;
}

/* Read len bytes of operand i (xmm register, memory or GPR) into buf. */
int soft_vec_read(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint8_t *buf,
		  unsigned len, bool aligned)
{
	const struct soft_operand *op = &in->op[i];
	uint64_t lin, v;
	memset(buf, 0, 16);
	if (op->kind == SOP_REG && op->rclass == SREG_XMM) {
		memcpy(buf, cpu->xmm[op->reg], len);
		return SOFT_OK;
	}
	if (op->kind == SOP_REG && op->rclass == SREG_MMX) {
		memcpy(buf, mmx_reg(cpu, op->reg), len > 8 ? 8 : len);
		return SOFT_OK;
	}
	if (op->kind == SOP_MEM) {
		int rc = mem_linear(cpu, in, op, len, false, aligned, &lin);
		return rc ? rc : soft_lin_read(cpu, lin, buf, len, cpu->cpl == 3);
	}
	int rc = soft_op_read(cpu, in, i, &v);
	if (!rc)
		memcpy(buf, &v, len > 8 ? 8 : len);
	return rc;
}

/* Write len bytes to operand 0. An xmm destination: zero_upper clears the
 * rest of the register, else it is kept. A GPR destination is zero-extended. */
static int vec_write(struct soft_cpu *cpu, const struct soft_insn *in, const uint8_t *buf,
		     unsigned len, bool aligned, bool zero_upper)
{
	const struct soft_operand *op = &in->op[0];
	uint64_t lin, v = 0;
	if (op->kind == SOP_REG && op->rclass == SREG_XMM) {
		if (zero_upper)
			memset(cpu->xmm[op->reg], 0, 16);
		memcpy(cpu->xmm[op->reg], buf, len);
		return SOFT_OK;
	}
	if (op->kind == SOP_REG && op->rclass == SREG_MMX) {
		/* SDM Vol. 1 §9.5.1: the register's bits 64-79 become all ones. */
		uint8_t *r = mmx_reg(cpu, op->reg);
		if (zero_upper)
			memset(r, 0, 8);
		memcpy(r, buf, len > 8 ? 8 : len);
		r[8] = r[9] = 0xff;
		return SOFT_OK;
	}
	if (op->kind == SOP_MEM) {
		int rc = mem_linear(cpu, in, op, len, true, aligned, &lin);
		return rc ? rc : soft_lin_write(cpu, lin, buf, len, cpu->cpl == 3);
	}
	memcpy(&v, buf, len > 8 ? 8 : len);
	return soft_op_write(cpu, in, 0, v);
}

int soft_vec_write(struct soft_cpu *cpu, const struct soft_insn *in, const uint8_t *buf,
		   unsigned len, bool aligned, bool zero_upper)
{
	int rc = vec_write(cpu, in, buf, len, aligned, zero_upper);
	if (!rc && soft_insn_mmx(in))
		soft_mmx_enter(cpu);
	return rc;
}

int soft_vec_read2(struct soft_cpu *cpu, const struct soft_insn *in, uint8_t a[16],
		   uint8_t b[16])
{
	unsigned n = soft_vlen(in);
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, n, n == 16);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, n, n == 16);
	return rc;
}

static bool is_aligned_move(unsigned m)
{
	return m == ZYDIS_MNEMONIC_MOVAPS || m == ZYDIS_MNEMONIC_MOVAPD ||
	       m == ZYDIS_MNEMONIC_MOVDQA || m == ZYDIS_MNEMONIC_MOVNTDQ ||
	       m == ZYDIS_MNEMONIC_MOVNTPS || m == ZYDIS_MNEMONIC_MOVNTPD ||
	       m == ZYDIS_MNEMONIC_MOVNTDQA;
}

static int exec_mov128(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t buf[16];
	bool al = is_aligned_move(in->mnemonic);
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, buf, 16, al);
	return rc ? rc : soft_vec_write(cpu, in, buf, 16, al, true);
}

/* MOVD/MOVQ: a register or memory to xmm (or mm) zero-extends; xmm (or mm)
 * to anything takes the low 32/64 bits. MOVNTQ m64, mm; MOVQ2DQ xmm, mm
 * and MOVDQ2Q mm, xmm are the same moves. */
static int exec_movd_q(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t buf[16];
	unsigned len = in->mnemonic == ZYDIS_MNEMONIC_MOVD ? 4 : 8;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, buf, len, false);
	return rc ? rc : soft_vec_write(cpu, in, buf, len, false, true);
}

/* MOVSS/MOVSD: from memory zero the rest; register to register merges. */
static int exec_movs_scalar(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t buf[16];
	unsigned len = in->mnemonic == ZYDIS_MNEMONIC_MOVSS ? 4 : 8;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, buf, len, false);
	return rc ? rc : soft_vec_write(cpu, in, buf, len, false, in->op[1].kind == SOP_MEM);
}

static int exec_logic128(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t a[2], b[2], r[2];
	unsigned n = soft_vlen(in);
	int rc = soft_vec_read2(cpu, in, (uint8_t *)a, (uint8_t *)b);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n / 8; i++) {
		switch (in->mnemonic) {
		case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
			r[i] = a[i] ^ b[i];
			break;
		case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
			r[i] = a[i] | b[i];
			break;
		case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD:
			r[i] = a[i] & b[i];
			break;
		default: /* PANDN / ANDNPS / ANDNPD */
			r[i] = ~a[i] & b[i];
			break;
		}
	}
	return soft_vec_write(cpu, in, (uint8_t *)r, n, n == 16, true);
}

static int exec_pcmpeq(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	unsigned w = in->mnemonic == ZYDIS_MNEMONIC_PCMPEQB ? 1 :
		     in->mnemonic == ZYDIS_MNEMONIC_PCMPEQW ? 2 : 4;
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	unsigned n = soft_vlen(in);
	for (unsigned i = 0; i < n; i += w)
		memset(r + i, memcmp(a + i, b + i, w) ? 0 : 0xff, w);
	return soft_vec_write(cpu, in, r, n, n == 16, true);
}

static int exec_pmovmskb(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16];
	uint64_t m = 0;
	unsigned n = soft_vlen(in);
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, a, 16, false);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++)
		m |= (uint64_t)(a[i] >> 7) << i;
	rc = soft_op_write(cpu, in, 0, m);
	if (!rc && n == 8)
		soft_mmx_enter(cpu);
	return rc;
}

/* MXCSR bits 0-15 exist; the others are reserved (#GP on LDMXCSR). */
#define MXCSR_MASK 0xffffu

static int exec_ldst_mxcsr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_sse_check(cpu, in);
	if (rc)
		return rc;
	if (in->mnemonic == ZYDIS_MNEMONIC_STMXCSR)
		return soft_op_write(cpu, in, 0, cpu->mxcsr);
	rc = soft_op_read(cpu, in, 0, &v);
	if (rc)
		return rc;
	if (v & ~(uint64_t)MXCSR_MASK)
		return soft_gp0(cpu);
	cpu->mxcsr = (uint32_t)v;
	return SOFT_OK;
}

/* FXSAVE/FXRSTOR image (SDM Vol. 1 §10.5.1, Table 10-2; Vol. 2A "FXSAVE"
 * Tables 3-43 to 3-45): 512 bytes, 16-byte aligned. FOP at 6; FXSAVE64
 * (REX.W) stores 64-bit FIP and FDP at 8 and 16, the other forms 32-bit
 * FIP, FCS, FDP, FDS. FOP, FIP and FDP are always stored, as Intel CPUs do
 * (AMD ones store them only while an exception is pending). */
static void fx_pointers(struct soft_cpu *cpu, const struct soft_insn *in, uint8_t *img,
			bool store)
{
	bool wide = in->mnemonic == ZYDIS_MNEMONIC_FXSAVE64 ||
		    in->mnemonic == ZYDIS_MNEMONIC_FXRSTOR64;
	uint32_t lo;
	if (store) {
		memcpy(img + 6, &cpu->fop, 2);
		if (wide) {
			memcpy(img + 8, &cpu->fip, 8);
			memcpy(img + 16, &cpu->fdp, 8);
			return;
		}
		lo = (uint32_t)cpu->fip;
		memcpy(img + 8, &lo, 4);
		memcpy(img + 12, &cpu->fcs, 2);
		lo = (uint32_t)cpu->fdp;
		memcpy(img + 16, &lo, 4);
		memcpy(img + 20, &cpu->fds, 2);
		return;
	}
	memcpy(&cpu->fop, img + 6, 2);
	cpu->fop &= 0x7ff;
	if (wide) {
		memcpy(&cpu->fip, img + 8, 8);
		memcpy(&cpu->fdp, img + 16, 8);
		cpu->fcs = cpu->fds = 0;
		return;
	}
	memcpy(&lo, img + 8, 4);
	cpu->fip = lo;
	memcpy(&cpu->fcs, img + 12, 2);
	memcpy(&lo, img + 16, 4);
	cpu->fdp = lo;
	memcpy(&cpu->fds, img + 20, 2);
}

static int exec_fxsave(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t img[512];
	uint64_t lin;
	uint32_t mask = MXCSR_MASK;
	if ((cpu->cr0 & CR0_EM) || (cpu->cr0 & CR0_TS))
		return soft_raise(cpu, (cpu->cr0 & CR0_EM) ? EXC_UD : EXC_NM, false, 0);
	int rc = mem_linear(cpu, in, &in->op[0], 512, true, true, &lin);
	if (rc)
		return rc;
	memset(img, 0, sizeof(img));
	memcpy(img + 0, &cpu->fcw, 2);
	memcpy(img + 2, &cpu->fsw, 2);
	img[4] = cpu->ftw;
	fx_pointers(cpu, in, img, true);
	memcpy(img + 24, &cpu->mxcsr, 4);
	memcpy(img + 28, &mask, 4);
	for (int i = 0; i < 8; i++)
		memcpy(img + 32 + 16 * i, cpu->st[i], 10);
	/* Outside 64-bit mode only XMM0-7 are saved. */
	unsigned nx = soft_64bit(cpu) ? 16 : 8;
	if (cpu->cr4 & X86_CR4_OSFXSR)
		for (unsigned i = 0; i < nx; i++)
			memcpy(img + 160 + 16 * i, cpu->xmm[i], 16);
	/* Bytes 416-511 (288-511 outside 64-bit mode) are reserved or left to
	 * software: hardware does not write them. */
	return soft_lin_write(cpu, lin, img, nx == 16 ? 416 : 288, cpu->cpl == 3);
}

static int exec_fxrstor(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t img[512];
	uint64_t lin;
	uint32_t mxcsr;
	if ((cpu->cr0 & CR0_EM) || (cpu->cr0 & CR0_TS))
		return soft_raise(cpu, (cpu->cr0 & CR0_EM) ? EXC_UD : EXC_NM, false, 0);
	int rc = mem_linear(cpu, in, &in->op[0], 512, false, true, &lin);
	if (!rc)
		rc = soft_lin_read(cpu, lin, img, 512, cpu->cpl == 3);
	if (rc)
		return rc;
	memcpy(&mxcsr, img + 24, 4);
	if (mxcsr & ~MXCSR_MASK)
		return soft_gp0(cpu);
	memcpy(&cpu->fcw, img + 0, 2);
	memcpy(&cpu->fsw, img + 2, 2);
	cpu->ftw = img[4];
	fx_pointers(cpu, in, img, false);
	for (int i = 0; i < 8; i++)
		memcpy(cpu->st[i], img + 32 + 16 * i, 10);
	soft_x87_loaded(cpu);
	if (cpu->cr4 & X86_CR4_OSFXSR) {
		cpu->mxcsr = mxcsr;
		unsigned nx = soft_64bit(cpu) ? 16 : 8;
		for (unsigned i = 0; i < nx; i++)
			memcpy(cpu->xmm[i], img + 160 + 16 * i, 16);
	}
	return SOFT_OK;
}

/* MOVNTI: a plain store of a general register (the hint means nothing here). */
static int exec_movnti(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	return rc ? rc : soft_op_write(cpu, in, 0, v);
}

soft_handler soft_exec_sse_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVDQA:
	case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_MOVNTDQ: case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD:
		return exec_mov128;
	case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVQ: case ZYDIS_MNEMONIC_MOVNTQ:
	case ZYDIS_MNEMONIC_MOVQ2DQ: case ZYDIS_MNEMONIC_MOVDQ2Q:
		return exec_movd_q;
	case ZYDIS_MNEMONIC_MOVSS: return exec_movs_scalar;
	case ZYDIS_MNEMONIC_MOVSD: return in->nops ? exec_movs_scalar : NULL;
	case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
	case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
	case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD:
	case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_ANDNPS: case ZYDIS_MNEMONIC_ANDNPD:
		return exec_logic128;
	case ZYDIS_MNEMONIC_PCMPEQB: case ZYDIS_MNEMONIC_PCMPEQW: case ZYDIS_MNEMONIC_PCMPEQD:
		return exec_pcmpeq;
	case ZYDIS_MNEMONIC_PMOVMSKB: return exec_pmovmskb;
	case ZYDIS_MNEMONIC_LDMXCSR: case ZYDIS_MNEMONIC_STMXCSR: return exec_ldst_mxcsr;
	case ZYDIS_MNEMONIC_FXSAVE: case ZYDIS_MNEMONIC_FXSAVE64: return exec_fxsave;
	case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64: return exec_fxrstor;
	case ZYDIS_MNEMONIC_MOVNTI: return exec_movnti;
	default: return NULL;
	}
}

#endif /* HAVE_ZYDIS */
