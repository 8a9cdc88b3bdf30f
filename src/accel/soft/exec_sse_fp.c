/* SSE/SSE2 scalar floating point: ADDSx, SUBSx, MULSx, DIVSx, SQRTSx,
 * (U)COMISx, CVTSI2Sx, CVT(T)Sx2SI, CVTSD2SS/CVTSS2SD (SDM Vol. 2), and
 * soft_sse_fp_flags(), the MXCSR flag merge and #XM rule every SSE FP
 * instruction here uses. Each operation runs as the same host instruction
 * under the guest's MXCSR controls (sse_host.h says how and why). */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"
#include "accel/soft/sse_host.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* Merge the flags the host raised; #XM / #UD if the guest unmasked one. */
int soft_sse_fp_flags(struct soft_cpu *cpu, uint32_t host_after)
{
	uint32_t f = host_after & 0x3f;
	uint32_t unmasked = f & ~(cpu->mxcsr >> 7) & 0x3f;
	if (unmasked) {
		/* SDM Vol. 1 §11.5.1: the flag of an unmasked exception is set
		 * too. An unmasked pre-computation exception (invalid, denormal,
		 * divide by zero) stops the instruction before it computes, so
		 * only those flags are set. After an unmasked overflow or
		 * underflow, hardware sets PE only if the result rounded with an
		 * unbounded exponent is inexact; the host ran with every
		 * exception masked and reports PE for the denormalised result
		 * instead, which differs in rare cases (tests/difftest/KNOWN.md
		 * #3). */
		if (unmasked & 0x7)
			f &= 0x7;
		cpu->mxcsr |= f;
		return (cpu->cr4 & X86_CR4_OSXMMEXCPT) ? soft_raise(cpu, EXC_XM, false, 0)
						       : soft_ud(cpu);
	}
	cpu->mxcsr |= f;
	return SOFT_OK;
}

uint32_t soft_sse_tiny(const struct soft_cpu *cpu, const void *res, unsigned n, bool dbl)
{
	if (cpu->mxcsr & MXCSR_UM)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = 0;
		memcpy(&v, (const uint8_t *)res + i * (dbl ? 8 : 4), dbl ? 8 : 4);
		uint64_t mag = dbl ? v & ~(1ull << 63) : v & 0x7fffffffu;
		if (mag && mag < (dbl ? 1ull << 52 : 1ull << 23))
			return MXCSR_UE;
	}
	return 0;
}

static bool is_double(unsigned m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ADDSD: case ZYDIS_MNEMONIC_SUBSD: case ZYDIS_MNEMONIC_MULSD:
	case ZYDIS_MNEMONIC_DIVSD: case ZYDIS_MNEMONIC_SQRTSD: case ZYDIS_MNEMONIC_COMISD:
	case ZYDIS_MNEMONIC_UCOMISD: case ZYDIS_MNEMONIC_CVTSI2SD: case ZYDIS_MNEMONIC_CVTSD2SI:
	case ZYDIS_MNEMONIC_CVTTSD2SI: case ZYDIS_MNEMONIC_CVTSD2SS:
		return true;
	default:
		return false;
	}
}

static enum soft_sse_op arith_op(unsigned m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ADDSS: case ZYDIS_MNEMONIC_ADDSD: return SSE_ADD;
	case ZYDIS_MNEMONIC_SUBSS: case ZYDIS_MNEMONIC_SUBSD: return SSE_SUB;
	case ZYDIS_MNEMONIC_MULSS: case ZYDIS_MNEMONIC_MULSD: return SSE_MUL;
	default: return SSE_DIV;
	}
}

static int exec_arith(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], a0[16];
	bool dbl = is_double(in->mnemonic);
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, dbl ? 8 : 4, false);
	if (rc)
		return rc;
	memcpy(a0, a, 16);
	if (dbl) {
		double x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		switch (in->mnemonic) {
		case ZYDIS_MNEMONIC_ADDSD: HOST_FP("addsd", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_SUBSD: HOST_FP("subsd", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_MULSD: HOST_FP("mulsd", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_DIVSD: HOST_FP("divsd", x, y, mx, after); break;
		default: HOST_FP("sqrtsd", x, y, mx, after); break;
		}
		memcpy(a, &x, 8);
		after |= soft_sse_tiny(cpu, a, 1, true);
	} else {
		float x, y;
		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		switch (in->mnemonic) {
		case ZYDIS_MNEMONIC_ADDSS: HOST_FP("addss", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_SUBSS: HOST_FP("subss", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_MULSS: HOST_FP("mulss", x, y, mx, after); break;
		case ZYDIS_MNEMONIC_DIVSS: HOST_FP("divss", x, y, mx, after); break;
		default: HOST_FP("sqrtss", x, y, mx, after); break;
		}
		memcpy(a, &x, 4);
		after |= soft_sse_tiny(cpu, a, 1, false);
	}
	if (in->mnemonic != ZYDIS_MNEMONIC_SQRTSS && in->mnemonic != ZYDIS_MNEMONIC_SQRTSD)
		after = soft_sse_unmasked_pe(cpu, arith_op(in->mnemonic), dbl, a0, b, 1, after);
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_vec_write(cpu, in, a, 16, false, false);
}

/* (U)COMISx: ZF,PF,CF = 111 unordered, 000 greater, 001 less, 100 equal;
 * OF, SF, AF cleared. COMIS signals invalid for any NaN, UCOMIS for SNaN;
 * both signal denormal operands. The host instruction decides it all. */
/* The flags come back through LAHF (no push: the red zone stays intact). */
#define HOST_CMP(insn, x, y, mx, after, fl)                                    \
	do {                                                                   \
		uint32_t _save;                                                \
		uint64_t _ax;                                                  \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[s], %[d]\n\t" \
				 "lahf\n\tstmxcsr %[a]\n\tldmxcsr %[sv]"       \
				 : [a] "=m"(after), [sv] "=m"(_save), "=a"(_ax)  \
				 : [d] "x"(x), [s] "x"(y), [m] "m"(mx)          \
				 : "cc");                                      \
		(fl) = (_ax >> 8) & 0xff;                                      \
	} while (0)

static int exec_comis(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16];
	bool dbl = is_double(in->mnemonic);
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	uint64_t fl;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, dbl ? 8 : 4, false);
	if (rc)
		return rc;
	if (dbl) {
		double x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (in->mnemonic == ZYDIS_MNEMONIC_COMISD)
			HOST_CMP("comisd", x, y, mx, after, fl);
		else
			HOST_CMP("ucomisd", x, y, mx, after, fl);
	} else {
		float x, y;
		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		if (in->mnemonic == ZYDIS_MNEMONIC_COMISS)
			HOST_CMP("comiss", x, y, mx, after, fl);
		else
			HOST_CMP("ucomiss", x, y, mx, after, fl);
	}
	rc = soft_sse_fp_flags(cpu, after);
	if (rc)
		return rc;
	cpu->rflags = (cpu->rflags & ~FL_ARITH) | (fl & (FL_ZF | FL_PF | FL_CF));
	return SOFT_OK;
}

/* CVTSI2Sx xmm, r/m32/64. */
static int exec_cvtsi2s(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16];
	uint64_t v;
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, false);
	if (!rc)
		rc = soft_op_read(cpu, in, 1, &v);
	if (rc)
		return rc;
	int64_t s = (int64_t)soft_sext(v, in->op[1].size);
	if (is_double(in->mnemonic)) {
		double d;
		memcpy(&d, a, 8);
		HOST_FROMINT("cvtsi2sdq", d, s, mx, after);
		memcpy(a, &d, 8);
	} else {
		float f;
		memcpy(&f, a, 4);
		HOST_FROMINT("cvtsi2ssq", f, s, mx, after);
		memcpy(a, &f, 4);
	}
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_vec_write(cpu, in, a, 16, false, false);
}

/* CVT(T)Sx2SI r32/64, xmm/m. */
static int exec_cvts2si(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t b[16];
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, is_double(in->mnemonic) ? 8 : 4, false);
	if (rc)
		return rc;
	double d;
	float f;
	int64_t q = 0;
	int32_t l = 0;
	memcpy(&d, b, 8);
	memcpy(&f, b, 4);
	bool wide = in->op[0].size == 8;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_CVTSD2SI:
		if (wide)
			HOST_TOINT("cvtsd2si", q, d, mx, after);
		else
			HOST_TOINT("cvtsd2si", l, d, mx, after);
		break;
	case ZYDIS_MNEMONIC_CVTTSD2SI:
		if (wide)
			HOST_TOINT("cvttsd2si", q, d, mx, after);
		else
			HOST_TOINT("cvttsd2si", l, d, mx, after);
		break;
	case ZYDIS_MNEMONIC_CVTSS2SI:
		if (wide)
			HOST_TOINT("cvtss2si", q, f, mx, after);
		else
			HOST_TOINT("cvtss2si", l, f, mx, after);
		break;
	default:
		if (wide)
			HOST_TOINT("cvttss2si", q, f, mx, after);
		else
			HOST_TOINT("cvttss2si", l, f, mx, after);
		break;
	}
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_op_write(cpu, in, 0, wide ? (uint64_t)q : (uint32_t)l);
}

static int exec_cvt_sd_ss(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16];
	bool to_single = in->mnemonic == ZYDIS_MNEMONIC_CVTSD2SS;
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, to_single ? 8 : 4, false);
	if (rc)
		return rc;
	if (to_single) {
		double d;
		float f;
		memcpy(&d, b, 8);
		memcpy(&f, a, 4);
		HOST_FP("cvtsd2ss", f, d, mx, after);
		memcpy(a, &f, 4);
		after |= soft_sse_tiny(cpu, a, 1, false);
		after = soft_sse_unmasked_pe(cpu, SSE_CVT_D2S, false, b, NULL, 1, after);
	} else {
		double d;
		float f;
		memcpy(&f, b, 4);
		memcpy(&d, a, 8);
		HOST_FP("cvtss2sd", d, f, mx, after);
		memcpy(a, &d, 8);
	}
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_vec_write(cpu, in, a, 16, false, false);
}

soft_handler soft_exec_sse_fp_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_ADDSD: case ZYDIS_MNEMONIC_SUBSD: case ZYDIS_MNEMONIC_MULSD:
	case ZYDIS_MNEMONIC_DIVSD: case ZYDIS_MNEMONIC_SQRTSD: case ZYDIS_MNEMONIC_ADDSS:
	case ZYDIS_MNEMONIC_SUBSS: case ZYDIS_MNEMONIC_MULSS: case ZYDIS_MNEMONIC_DIVSS:
	case ZYDIS_MNEMONIC_SQRTSS:
		return exec_arith;
	case ZYDIS_MNEMONIC_COMISD: case ZYDIS_MNEMONIC_UCOMISD: case ZYDIS_MNEMONIC_COMISS:
	case ZYDIS_MNEMONIC_UCOMISS:
		return exec_comis;
	case ZYDIS_MNEMONIC_CVTSI2SD: case ZYDIS_MNEMONIC_CVTSI2SS: return exec_cvtsi2s;
	case ZYDIS_MNEMONIC_CVTSD2SI: case ZYDIS_MNEMONIC_CVTTSD2SI: case ZYDIS_MNEMONIC_CVTSS2SI:
	case ZYDIS_MNEMONIC_CVTTSS2SI:
		return exec_cvts2si;
	case ZYDIS_MNEMONIC_CVTSD2SS: case ZYDIS_MNEMONIC_CVTSS2SD: return exec_cvt_sd_ss;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
