/* SSE/SSE2 packed floating point and the conversions between packed formats
 * (SDM Vol. 2, each by name):
 *   ADD/SUB/MUL/DIV/SQRT/MIN/MAX PS and PD, MIN/MAX SS and SD,
 *   CMPPS/CMPPD/CMPSS/CMPSD (predicates 0-7, imm8[2:0]; the legacy
 *   encodings ignore imm8[7:3]),
 *   CVTDQ2PD CVTDQ2PS CVTPD2DQ CVTTPD2DQ CVTPD2PS CVTPS2PD CVTPS2DQ CVTTPS2DQ,
 *   and those between MMX registers and XMM: CVTPI2PS CVTPI2PD CVTPS2PI
 *   CVTTPS2PI CVTPD2PI CVTTPD2PI.
 *
 * Each runs as the same host instruction under the guest's MXCSR controls
 * (sse_host.h): rounding, DAZ/FTZ, the flags, #XM before the destination
 * is written, MIN/MAX returning the second operand for NaNs and for
 * +0/-0, the QNaN propagation rules and the integer indefinite value
 * 80000000H of out-of-range conversions are the hardware's.
 *
 * Memory operands: m128 must be 16-byte aligned (#GP(0)); the scalar forms
 * read m32/m64 and CVTDQ2PD/CVTPS2PD read m64, with no alignment rule. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"
#include "accel/soft/sse_host.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* Bytes of the source operand the instruction reads (16: an aligned m128). */
static unsigned src_len(unsigned m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MINSS: case ZYDIS_MNEMONIC_MAXSS: case ZYDIS_MNEMONIC_CMPSS:
		return 4;
	case ZYDIS_MNEMONIC_MINSD: case ZYDIS_MNEMONIC_MAXSD: case ZYDIS_MNEMONIC_CMPSD:
	case ZYDIS_MNEMONIC_CVTDQ2PD: case ZYDIS_MNEMONIC_CVTPS2PD: case ZYDIS_MNEMONIC_CVTPI2PS:
	case ZYDIS_MNEMONIC_CVTPI2PD: case ZYDIS_MNEMONIC_CVTPS2PI: case ZYDIS_MNEMONIC_CVTTPS2PI:
		return 8;
	default:
		return 16;
	}
}

/* Both operands: the destination xmm register and the source. */
static int read_ops(struct soft_cpu *cpu, const struct soft_insn *in, soft_v128 *a,
		    soft_v128 *b)
{
	unsigned len = src_len(in->mnemonic);
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, (uint8_t *)a, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, (uint8_t *)b, len, len == 16);
	return rc;
}

#define OP(m, insn)                                                            \
	case ZYDIS_MNEMONIC_##m:                                               \
		HOST_FP(insn, a, b, mx, after);                                \
		break

static int exec_fp2(struct soft_cpu *cpu, const struct soft_insn *in)
{
	soft_v128 a, b;
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	int rc = read_ops(cpu, in, &a, &b);
	if (rc)
		return rc;
	soft_v128 a0 = a;
	switch (in->mnemonic) {
	OP(ADDPS, "addps"); OP(ADDPD, "addpd"); OP(SUBPS, "subps"); OP(SUBPD, "subpd");
	OP(MULPS, "mulps"); OP(MULPD, "mulpd"); OP(DIVPS, "divps"); OP(DIVPD, "divpd");
	OP(SQRTPS, "sqrtps"); OP(SQRTPD, "sqrtpd");
	OP(MINPS, "minps"); OP(MINPD, "minpd"); OP(MAXPS, "maxps"); OP(MAXPD, "maxpd");
	OP(MINSS, "minss"); OP(MINSD, "minsd"); OP(MAXSS, "maxss"); OP(MAXSD, "maxsd");
	OP(CVTDQ2PD, "cvtdq2pd"); OP(CVTDQ2PS, "cvtdq2ps"); OP(CVTPD2DQ, "cvtpd2dq");
	OP(CVTTPD2DQ, "cvttpd2dq"); OP(CVTPD2PS, "cvtpd2ps"); OP(CVTPS2PD, "cvtps2pd");
	OP(CVTPS2DQ, "cvtps2dq"); OP(CVTTPS2DQ, "cvttps2dq");
	/* The MMX forms: the same conversions on two elements (the source's
	 * upper half reads as zeros, which convert exactly, without flags). */
	OP(CVTPI2PD, "cvtdq2pd"); OP(CVTPS2PI, "cvtps2dq"); OP(CVTTPS2PI, "cvttps2dq");
	OP(CVTPD2PI, "cvtpd2dq"); OP(CVTTPD2PI, "cvttpd2dq");
	case ZYDIS_MNEMONIC_CVTPI2PS: { /* the destination's upper half stays */
		soft_v128 t = { 0, 0 };
		HOST_FP("cvtdq2ps", t, b, mx, after);
		a[0] = t[0];
		break;
	}
	default:
		return soft_ud(cpu);
	}
	/* The arithmetic results that can be tiny or overflow (MIN/MAX pass
	 * operands through, SQRT and the other conversions cannot). */
	enum soft_sse_op op;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_ADDPS: case ZYDIS_MNEMONIC_ADDPD: op = SSE_ADD; break;
	case ZYDIS_MNEMONIC_SUBPS: case ZYDIS_MNEMONIC_SUBPD: op = SSE_SUB; break;
	case ZYDIS_MNEMONIC_MULPS: case ZYDIS_MNEMONIC_MULPD: op = SSE_MUL; break;
	case ZYDIS_MNEMONIC_DIVPS: case ZYDIS_MNEMONIC_DIVPD: op = SSE_DIV; break;
	case ZYDIS_MNEMONIC_CVTPD2PS: op = SSE_CVT_D2S; break;
	default: goto done;
	}
	bool dbl = op != SSE_CVT_D2S && in->mnemonic != ZYDIS_MNEMONIC_ADDPS &&
		   in->mnemonic != ZYDIS_MNEMONIC_SUBPS && in->mnemonic != ZYDIS_MNEMONIC_MULPS &&
		   in->mnemonic != ZYDIS_MNEMONIC_DIVPS;
	unsigned n = dbl || op == SSE_CVT_D2S ? 2 : 4;
	after |= soft_sse_tiny(cpu, &a, n, dbl);
	if (op == SSE_CVT_D2S)
		after = soft_sse_unmasked_pe(cpu, op, false, &b, NULL, n, after);
	else
		after = soft_sse_unmasked_pe(cpu, op, dbl, &a0, &b, n, after);
done:
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_vec_write(cpu, in, (const uint8_t *)&a, 16, false, false);
}

#undef OP

/* The eight predicates of one compare instruction (EQ LT LE UNORD NEQ NLT
 * NLE ORD, SDM Vol. 2A "CMPPS" Table 3-7): an immediate must be a
 * constant in the instruction, so one asm statement per predicate. */
#define CMP_PRED(insn, p)                                                      \
	case p:                                                                \
		HOST_FP_IMM(insn, p, a, b, mx, after);                         \
		break
#define CMP_ALL(insn)                                                          \
	switch (pred) {                                                        \
		CMP_PRED(insn, 0); CMP_PRED(insn, 1); CMP_PRED(insn, 2);       \
		CMP_PRED(insn, 3); CMP_PRED(insn, 4); CMP_PRED(insn, 5);       \
		CMP_PRED(insn, 6); default: HOST_FP_IMM(insn, 7, a, b, mx, after); \
	}

static int exec_cmp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	soft_v128 a, b;
	uint32_t mx = soft_sse_host_mxcsr(cpu), after = 0;
	unsigned pred = (unsigned)in->op[2].val & 7;
	int rc = read_ops(cpu, in, &a, &b);
	if (rc)
		return rc;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_CMPPS: CMP_ALL("cmpps"); break;
	case ZYDIS_MNEMONIC_CMPPD: CMP_ALL("cmppd"); break;
	case ZYDIS_MNEMONIC_CMPSS: CMP_ALL("cmpss"); break;
	default: CMP_ALL("cmpsd"); break;
	}
	rc = soft_sse_fp_flags(cpu, after);
	return rc ? rc : soft_vec_write(cpu, in, (const uint8_t *)&a, 16, false, false);
}

#undef CMP_ALL
#undef CMP_PRED

soft_handler soft_exec_sse_packed_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_ADDPS: case ZYDIS_MNEMONIC_ADDPD: case ZYDIS_MNEMONIC_SUBPS:
	case ZYDIS_MNEMONIC_SUBPD: case ZYDIS_MNEMONIC_MULPS: case ZYDIS_MNEMONIC_MULPD:
	case ZYDIS_MNEMONIC_DIVPS: case ZYDIS_MNEMONIC_DIVPD: case ZYDIS_MNEMONIC_SQRTPS:
	case ZYDIS_MNEMONIC_SQRTPD: case ZYDIS_MNEMONIC_MINPS: case ZYDIS_MNEMONIC_MINPD:
	case ZYDIS_MNEMONIC_MAXPS: case ZYDIS_MNEMONIC_MAXPD: case ZYDIS_MNEMONIC_MINSS:
	case ZYDIS_MNEMONIC_MINSD: case ZYDIS_MNEMONIC_MAXSS: case ZYDIS_MNEMONIC_MAXSD:
	case ZYDIS_MNEMONIC_CVTDQ2PD: case ZYDIS_MNEMONIC_CVTDQ2PS: case ZYDIS_MNEMONIC_CVTPD2DQ:
	case ZYDIS_MNEMONIC_CVTTPD2DQ: case ZYDIS_MNEMONIC_CVTPD2PS: case ZYDIS_MNEMONIC_CVTPS2PD:
	case ZYDIS_MNEMONIC_CVTPS2DQ: case ZYDIS_MNEMONIC_CVTTPS2DQ: case ZYDIS_MNEMONIC_CVTPI2PS:
	case ZYDIS_MNEMONIC_CVTPI2PD: case ZYDIS_MNEMONIC_CVTPS2PI: case ZYDIS_MNEMONIC_CVTTPS2PI:
	case ZYDIS_MNEMONIC_CVTPD2PI: case ZYDIS_MNEMONIC_CVTTPD2PI:
		return exec_fp2;
	case ZYDIS_MNEMONIC_CMPPS: case ZYDIS_MNEMONIC_CMPPD: case ZYDIS_MNEMONIC_CMPSS:
		return exec_cmp;
	case ZYDIS_MNEMONIC_CMPSD:
		/* The string CMPSD has no visible operands (exec_string.c). */
		return in->nops == 3 ? exec_cmp : NULL;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
