/* Multiplication and division: MUL, IMUL (one, two and three operands),
 * DIV, IDIV (SDM Vol. 2A/2B).
 *
 * MUL/IMUL: CF = OF = "the high half is significant". SF, ZF, AF, PF are
 * undefined; this CPU sets SF/ZF/PF from the low half of the product and
 * clears AF (QEMU's choice; the differential test will tell what the host
 * does). DIV/IDIV leave every flag unchanged (all undefined); a zero divisor
 * or a quotient that does not fit raises #DE before anything is written. */
#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

typedef unsigned __int128 u128;
typedef __int128 s128;

static void mul_flags(struct soft_cpu *cpu, uint64_t lo, unsigned size, bool overflow)
{
	cpu->rflags &= ~(FL_CF | FL_OF | FL_AF);
	if (overflow)
		cpu->rflags |= FL_CF | FL_OF;
	soft_flags_szp(cpu, lo, size);
}

/* Write the double-width result to AX (bytes) or rDX:rAX. */
static void write_acc_pair(struct soft_cpu *cpu, unsigned size, uint64_t lo, uint64_t hi)
{
	if (size == 1) {
		soft_reg_write(cpu, X86_RAX, 2, (lo & 0xff) | ((hi & 0xff) << 8));
		return;
	}
	soft_reg_write(cpu, X86_RAX, size, lo);
	soft_reg_write(cpu, X86_RDX, size, hi);
}

static int exec_mul1(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t m = soft_mask(size), src, lo, hi;
	int rc = soft_op_read(cpu, in, 0, &src);
	if (rc)
		return rc;
	uint64_t a = soft_reg_read(cpu, X86_RAX, size);
	bool ovf;
	if (in->mnemonic == ZYDIS_MNEMONIC_MUL) {
		u128 p = (u128)a * (src & m);
		lo = (uint64_t)p & m;
		hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> bits) & m;
		ovf = hi != 0;
	} else {
		s128 p = (s128)(int64_t)soft_sext(a, size) * (int64_t)soft_sext(src, size);
		lo = (uint64_t)p & m;
		hi = size == 8 ? (uint64_t)((u128)p >> 64) : (uint64_t)(p >> bits) & m;
		ovf = p != (s128)(int64_t)soft_sext(lo, size);
	}
	write_acc_pair(cpu, size, lo, hi);
	mul_flags(cpu, lo, size, ovf);
	return SOFT_OK;
}

/* IMUL r, r/m and IMUL r, r/m, imm: the truncated product. */
static int exec_imul(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (in->nops == 1)
		return exec_mul1(cpu, in);
	unsigned size = in->op[0].size;
	uint64_t a, b;
	int rc = soft_op_read(cpu, in, in->nops == 3 ? 1 : 0, &a);
	if (!rc)
		rc = soft_op_read(cpu, in, in->nops == 3 ? 2 : 1, &b);
	if (rc)
		return rc;
	s128 p = (s128)(int64_t)soft_sext(a, size) * (int64_t)soft_sext(b, size);
	uint64_t lo = (uint64_t)p & soft_mask(size);
	soft_reg_write(cpu, in->op[0].reg, size, lo);
	mul_flags(cpu, lo, size, p != (s128)(int64_t)soft_sext(lo, size));
	return SOFT_OK;
}

static int exec_div(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t m = soft_mask(size), d;
	int rc = soft_op_read(cpu, in, 0, &d);
	if (rc)
		return rc;
	d &= m;
	if (!d)
		return soft_raise(cpu, EXC_DE, false, 0);
	uint64_t lo_in = size == 1 ? cpu->gpr[X86_RAX] & 0xff : soft_reg_read(cpu, X86_RAX, size);
	uint64_t hi_in = size == 1 ? (cpu->gpr[X86_RAX] >> 8) & 0xff :
				     soft_reg_read(cpu, X86_RDX, size);
	u128 n = ((u128)hi_in << bits) | lo_in;
	uint64_t q, r;

	if (in->mnemonic == ZYDIS_MNEMONIC_DIV) {
		u128 qq = n / d;
		if (qq > m)
			return soft_raise(cpu, EXC_DE, false, 0);
		q = (uint64_t)qq;
		r = (uint64_t)(n % d);
	} else {
		/* Sign-extend the 2*bits-wide dividend to 128 bits. */
		s128 sn = size == 8 ? (s128)n : (s128)(n << (128 - 2 * bits)) >> (128 - 2 * bits);
		s128 sd = (int64_t)soft_sext(d, size);
		s128 min = -((s128)1 << (bits - 1)), max = ((s128)1 << (bits - 1)) - 1;
		/* The one quotient that overflows s128 itself: -2^127 / -1. */
		if (size == 8 && sd == -1 && hi_in == (1ull << 63) && lo_in == 0)
			return soft_raise(cpu, EXC_DE, false, 0);
		s128 qq = sn / sd;
		if (qq < min || qq > max)
			return soft_raise(cpu, EXC_DE, false, 0);
		q = (uint64_t)qq & m;
		r = (uint64_t)(sn % sd) & m;
	}
	write_acc_pair(cpu, size, q, r);
	return SOFT_OK;
}

soft_handler soft_exec_muldiv_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MUL: return exec_mul1;
	case ZYDIS_MNEMONIC_IMUL: return exec_imul;
	case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV: return exec_div;
	default: return NULL;
	}
}

#endif /* HAVE_ZYDIS */
