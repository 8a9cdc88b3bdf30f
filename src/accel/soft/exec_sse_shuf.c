/* SSE/SSE2 lane moves, 128-bit forms (SDM Vol. 2, each by name): SHUFPS,
 * SHUFPD, MOVMSKPS, MOVMSKPD, PEXTRW, PINSRW and MASKMOVDQU. (UNPCK*P* and
 * PSHUFHW/PSHUFLW share their code with PUNPCK* and PSHUFD, in
 * exec_sse_int.c.) PEXTRW/PINSRW and MASKMOVQ on MMX registers too. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* SHUFPS: the low two dwords picked from the destination, the high two
 * from the source, two imm8 bits each; SHUFPD: one bit per quadword. */
static int exec_shufp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	unsigned imm = (unsigned)in->op[2].val & 0xff;
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	if (in->mnemonic == ZYDIS_MNEMONIC_SHUFPS) {
		for (unsigned i = 0; i < 4; i++)
			soft_vput(r, i, 4, soft_vget(i < 2 ? a : b, (imm >> (2 * i)) & 3, 4));
	} else {
		soft_vput(r, 0, 8, soft_vget(a, imm & 1, 8));
		soft_vput(r, 1, 8, soft_vget(b, (imm >> 1) & 1, 8));
	}
	return soft_vec_write(cpu, in, r, 16, true, true);
}

/* MOVMSKPS/MOVMSKPD r32/r64, xmm: the sign bits, zero-extended. */
static int exec_movmskp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t s[16];
	unsigned w = in->mnemonic == ZYDIS_MNEMONIC_MOVMSKPS ? 4 : 8;
	uint64_t m = 0;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, s, 16, false);
	if (rc)
		return rc;
	for (unsigned i = 0; i < 16 / w; i++)
		m |= (uint64_t)(s[(i + 1) * w - 1] >> 7) << i;
	return soft_op_write(cpu, in, 0, m);
}

/* PEXTRW r32, xmm, imm8 (66 0F C5): word imm8[2:0], zero-extended. The
 * memory form 66 0F 3A 15 is SSE4.1, which this CPU does not report. */
static int exec_pextrw(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t s[16];
	if (in->opcode != 0xc5)
		return soft_ud(cpu);
	unsigned sel = soft_vlen(in) / 2 - 1; /* imm8[2:0], or [1:0] for mm */
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, s, 16, false);
	if (!rc)
		rc = soft_op_write(cpu, in, 0, soft_vget(s, in->op[2].val & sel, 2));
	if (!rc && sel == 3)
		soft_mmx_enter(cpu);
	return rc;
}

/* PINSRW xmm, r32/m16, imm8: the low word of the source into word imm8[2:0]. */
static int exec_pinsrw(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t d[16], s[16];
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, d, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, s, 2, false);
	if (rc)
		return rc;
	unsigned n = soft_vlen(in);
	memcpy(d + 2 * (in->op[2].val & (n / 2 - 1)), s, 2);
	return soft_vec_write(cpu, in, d, n, false, true);
}

/* MASKMOVDQU xmm1, xmm2 (MASKMOVQ mm1, mm2): store the bytes of xmm1 whose
 * byte in xmm2 has its top bit set to DS:rDI (segment overridable); the
 * others are not written.
 * Nothing is accessed when the mask is zero (the SDM leaves faults then to
 * the implementation). Every page the stored bytes touch is checked for
 * writing first, so a fault leaves memory unchanged. The non-temporal hint
 * means nothing here. */
static int exec_maskmovdqu(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t d[16], m[16];
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, d, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, m, 16, false);
	if (rc)
		return rc;
	unsigned mask = 0, n = soft_vlen(in);
	for (unsigned i = 0; i < n; i++)
		mask |= (unsigned)(m[i] >> 7) << i;
	if (!mask)
		goto done;
	unsigned first = (unsigned)__builtin_ctz(mask), last = 31u - (unsigned)__builtin_clz(mask);
	uint64_t off = soft_reg_read(cpu, 7, in->asize), lin, gpa;
	uint8_t *host;
	bool user = cpu->cpl == 3;
	rc = soft_seg_linear(cpu, in->strseg, (off + first) & soft_mask(in->asize),
			     last - first + 1, true, &lin);
	if (!rc)
		rc = soft_translate(cpu, lin, SOFT_ACC_WRITE, user, &gpa, &host);
	if (!rc && ((lin ^ (lin + last - first)) & ~0xfffull))
		rc = soft_translate(cpu, lin + last - first, SOFT_ACC_WRITE, user, &gpa, &host);
	for (unsigned i = first; !rc && i <= last;) {
		unsigned run = 0;
		while (i + run <= last && (mask >> (i + run) & 1))
			run++;
		if (run)
			rc = soft_lin_write(cpu, lin + i - first, d + i, run, user);
		i += run ? run : 1;
	}
done:
	if (!rc && n == 8)
		soft_mmx_enter(cpu);
	return rc;
}

soft_handler soft_exec_sse_shuf_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_SHUFPS: case ZYDIS_MNEMONIC_SHUFPD: return exec_shufp;
	case ZYDIS_MNEMONIC_MOVMSKPS: case ZYDIS_MNEMONIC_MOVMSKPD: return exec_movmskp;
	case ZYDIS_MNEMONIC_PEXTRW: return exec_pextrw;
	case ZYDIS_MNEMONIC_PINSRW: return exec_pinsrw;
	case ZYDIS_MNEMONIC_MASKMOVDQU: case ZYDIS_MNEMONIC_MASKMOVQ: return exec_maskmovdqu;
	default: return NULL;
	}
}

#endif /* HAVE_ZYDIS */
