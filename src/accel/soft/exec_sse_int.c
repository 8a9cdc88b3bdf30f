/* SSE2 packed-integer and shuffle instructions that string and memory
 * routines (glibc, the kernel's lib/) use: PADD/PSUB (B/W/D/Q), PCMPGT
 * (B/W/D), PMINUB/PMAXUB, PSHUFD/PSHUFHW/PSHUFLW, PUNPCKL/H (BW/WD/DQ/QDQ)
 * and UNPCKL/H (PS/PD), PSLL/PSRL
 * (W/D/Q by imm8 or xmm), PSLLDQ/PSRLDQ, MOVHPD/MOVLPD/MOVHPS/MOVLPS,
 * MOVHLPS/MOVLHPS (SDM Vol. 2, each by name).
 *
 * The MMX forms (no 66 prefix, mm registers, m64 without an alignment
 * rule; PUNPCKL* read m32) work on 8 bytes: soft_vlen(). PSHUFW too. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static unsigned elem_size(unsigned m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PADDB: case ZYDIS_MNEMONIC_PSUBB: case ZYDIS_MNEMONIC_PCMPGTB:
		return 1;
	case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PSUBW: case ZYDIS_MNEMONIC_PCMPGTW:
	case ZYDIS_MNEMONIC_PSLLW: case ZYDIS_MNEMONIC_PSRLW:
		return 2;
	case ZYDIS_MNEMONIC_PADDD: case ZYDIS_MNEMONIC_PSUBD: case ZYDIS_MNEMONIC_PCMPGTD:
	case ZYDIS_MNEMONIC_PSLLD: case ZYDIS_MNEMONIC_PSRLD:
		return 4;
	default:
		return 8;
	}
}

/* Element-wise add, subtract, signed compare, unsigned min/max. */
static int exec_packed(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	unsigned m = in->mnemonic;
	unsigned w = (m == ZYDIS_MNEMONIC_PMINUB || m == ZYDIS_MNEMONIC_PMAXUB) ? 1 : elem_size(m);
	unsigned n = soft_vlen(in);
	for (unsigned i = 0; i < n / w; i++) {
		uint64_t x = soft_vget(a, i, w), y = soft_vget(b, i, w), z;
		switch (m) {
		case ZYDIS_MNEMONIC_PADDB: case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PADDD:
		case ZYDIS_MNEMONIC_PADDQ:
			z = x + y;
			break;
		case ZYDIS_MNEMONIC_PSUBB: case ZYDIS_MNEMONIC_PSUBW: case ZYDIS_MNEMONIC_PSUBD:
		case ZYDIS_MNEMONIC_PSUBQ:
			z = x - y;
			break;
		case ZYDIS_MNEMONIC_PMINUB: z = x < y ? x : y; break;
		case ZYDIS_MNEMONIC_PMAXUB: z = x > y ? x : y; break;
		default: /* PCMPGT: signed */
			z = (int64_t)soft_sext(x, w) > (int64_t)soft_sext(y, w) ? ~0ull : 0;
			break;
		}
		soft_vput(r, i, w, z);
	}
	return soft_vec_write(cpu, in, r, n, n == 16, true);
}

static int exec_pshufd(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t s[16], r[16];
	unsigned n = soft_vlen(in);
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, s, n, n == 16);
	if (rc)
		return rc;
	unsigned imm = (unsigned)in->op[2].val & 0xff;
	if (in->mnemonic == ZYDIS_MNEMONIC_PSHUFW) {
		for (unsigned i = 0; i < 4; i++)
			memcpy(r + 2 * i, s + 2 * ((imm >> (2 * i)) & 3), 2);
	} else if (in->mnemonic == ZYDIS_MNEMONIC_PSHUFD) {
		for (unsigned i = 0; i < 4; i++)
			memcpy(r + 4 * i, s + 4 * ((imm >> (2 * i)) & 3), 4);
	} else {
		/* PSHUFHW/PSHUFLW: shuffle the words of one quadword, copy
		 * the other. */
		unsigned h = in->mnemonic == ZYDIS_MNEMONIC_PSHUFHW ? 8 : 0;
		memcpy(r, s, 16);
		for (unsigned i = 0; i < 4; i++)
			memcpy(r + h + 2 * i, s + h + 2 * ((imm >> (2 * i)) & 3), 2);
	}
	return soft_vec_write(cpu, in, r, n, n == 16, true);
}

/* PUNPCKL*: interleave the low halves; PUNPCKH*: the high halves. UNPCKLPS,
 * UNPCKLPD, UNPCKHPS, UNPCKHPD are the same moves on FP data. */
static int exec_punpck(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	unsigned w, high;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PUNPCKLBW: w = 1, high = 0; break;
	case ZYDIS_MNEMONIC_PUNPCKLWD: w = 2, high = 0; break;
	case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_UNPCKLPS: w = 4, high = 0; break;
	case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_UNPCKLPD: w = 8, high = 0; break;
	case ZYDIS_MNEMONIC_PUNPCKHBW: w = 1, high = 8; break;
	case ZYDIS_MNEMONIC_PUNPCKHWD: w = 2, high = 8; break;
	case ZYDIS_MNEMONIC_PUNPCKHDQ: case ZYDIS_MNEMONIC_UNPCKHPS: w = 4, high = 8; break;
	default: w = 8, high = 8; break; /* PUNPCKHQDQ, UNPCKHPD */
	}
	unsigned n = soft_vlen(in);
	if (n == 8) {
		/* MMX: the low halves come from mm/m32, the high from mm/m64. */
		int rc = soft_sse_check(cpu, in);
		if (!rc)
			rc = soft_vec_read(cpu, in, 0, a, 8, false);
		if (!rc)
			rc = soft_vec_read(cpu, in, 1, b, high ? 8 : 4, false);
		if (rc)
			return rc;
		high /= 2;
	} else {
		int rc = soft_vec_read2(cpu, in, a, b);
		if (rc)
			return rc;
	}
	for (unsigned i = 0; i < n / 2 / w; i++) {
		memcpy(r + 2 * i * w, a + high + i * w, w);
		memcpy(r + (2 * i + 1) * w, b + high + i * w, w);
	}
	return soft_vec_write(cpu, in, r, n, n == 16, true);
}

/* PSLL/PSRL by an immediate or by the low quadword of an xmm/m128; a count
 * beyond the element width clears the element. */
static int exec_pshift(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], c[16];
	unsigned w = elem_size(in->mnemonic), n = soft_vlen(in);
	uint64_t count;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, n, n == 16);
	if (rc)
		return rc;
	if (in->op[1].kind == SOP_IMM) {
		count = (uint64_t)in->op[1].val & 0xff;
	} else {
		rc = soft_vec_read(cpu, in, 1, c, n, n == 16);
		if (rc)
			return rc;
		memcpy(&count, c, 8);
	}
	bool left = in->mnemonic == ZYDIS_MNEMONIC_PSLLW || in->mnemonic == ZYDIS_MNEMONIC_PSLLD ||
		    in->mnemonic == ZYDIS_MNEMONIC_PSLLQ;
	for (unsigned i = 0; i < n / w; i++) {
		uint64_t x = soft_vget(a, i, w);
		x = count >= w * 8 ? 0 : left ? x << count : x >> count;
		soft_vput(a, i, w, x);
	}
	return soft_vec_write(cpu, in, a, n, n == 16, true);
}

/* PSLLDQ/PSRLDQ: byte shifts of the whole register. */
static int exec_pbyteshift(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], r[16] = { 0 };
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, true);
	if (rc)
		return rc;
	unsigned n = (unsigned)in->op[1].val & 0xff;
	if (n < 16) {
		if (in->mnemonic == ZYDIS_MNEMONIC_PSLLDQ)
			memcpy(r + n, a, 16 - n);
		else
			memcpy(r, a + n, 16 - n);
	}
	return soft_vec_write(cpu, in, r, 16, true, true);
}

/* MOVHPx/MOVLPx move 8 bytes to/from the high or low half; MOVHLPS and
 * MOVLHPS move halves between registers. */
static int exec_movhl(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t d[16], s[16];
	unsigned m = in->mnemonic;
	bool high = m == ZYDIS_MNEMONIC_MOVHPD || m == ZYDIS_MNEMONIC_MOVHPS;
	int rc = soft_sse_check(cpu, in);
	if (rc)
		return rc;
	if (m == ZYDIS_MNEMONIC_MOVHLPS || m == ZYDIS_MNEMONIC_MOVLHPS) {
		rc = soft_vec_read(cpu, in, 0, d, 16, false);
		if (!rc)
			rc = soft_vec_read(cpu, in, 1, s, 16, false);
		if (rc)
			return rc;
		if (m == ZYDIS_MNEMONIC_MOVHLPS)
			memcpy(d, s + 8, 8);
		else
			memcpy(d + 8, s, 8);
		return soft_vec_write(cpu, in, d, 16, false, true);
	}
	if (in->op[0].kind == SOP_MEM) {
		rc = soft_vec_read(cpu, in, 1, s, 16, false);
		return rc ? rc : soft_vec_write(cpu, in, s + (high ? 8 : 0), 8, false, false);
	}
	rc = soft_vec_read(cpu, in, 0, d, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, s, 8, false);
	if (rc)
		return rc;
	memcpy(d + (high ? 8 : 0), s, 8);
	return soft_vec_write(cpu, in, d, 16, false, true);
}

soft_handler soft_exec_sse_int_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PADDB: case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PADDD:
	case ZYDIS_MNEMONIC_PADDQ: case ZYDIS_MNEMONIC_PSUBB: case ZYDIS_MNEMONIC_PSUBW:
	case ZYDIS_MNEMONIC_PSUBD: case ZYDIS_MNEMONIC_PSUBQ: case ZYDIS_MNEMONIC_PCMPGTB:
	case ZYDIS_MNEMONIC_PCMPGTW: case ZYDIS_MNEMONIC_PCMPGTD: case ZYDIS_MNEMONIC_PMINUB:
	case ZYDIS_MNEMONIC_PMAXUB:
		return exec_packed;
	case ZYDIS_MNEMONIC_PSHUFD: case ZYDIS_MNEMONIC_PSHUFHW: case ZYDIS_MNEMONIC_PSHUFLW:
	case ZYDIS_MNEMONIC_PSHUFW:
		return exec_pshufd;
	case ZYDIS_MNEMONIC_PUNPCKLBW: case ZYDIS_MNEMONIC_PUNPCKLWD: case ZYDIS_MNEMONIC_PUNPCKLDQ:
	case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_PUNPCKHBW:
	case ZYDIS_MNEMONIC_PUNPCKHWD: case ZYDIS_MNEMONIC_PUNPCKHDQ:
	case ZYDIS_MNEMONIC_PUNPCKHQDQ: case ZYDIS_MNEMONIC_UNPCKLPS: case ZYDIS_MNEMONIC_UNPCKLPD:
	case ZYDIS_MNEMONIC_UNPCKHPS: case ZYDIS_MNEMONIC_UNPCKHPD:
		return exec_punpck;
	case ZYDIS_MNEMONIC_PSLLW: case ZYDIS_MNEMONIC_PSLLD: case ZYDIS_MNEMONIC_PSLLQ:
	case ZYDIS_MNEMONIC_PSRLW: case ZYDIS_MNEMONIC_PSRLD: case ZYDIS_MNEMONIC_PSRLQ:
		return exec_pshift;
	case ZYDIS_MNEMONIC_PSLLDQ: case ZYDIS_MNEMONIC_PSRLDQ: return exec_pbyteshift;
	case ZYDIS_MNEMONIC_MOVHPD: case ZYDIS_MNEMONIC_MOVHPS: case ZYDIS_MNEMONIC_MOVLPD:
	case ZYDIS_MNEMONIC_MOVLPS: case ZYDIS_MNEMONIC_MOVHLPS: case ZYDIS_MNEMONIC_MOVLHPS:
		return exec_movhl;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
