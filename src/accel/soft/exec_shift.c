/* Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD
 * (SDM Vol. 2B "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD").
 *
 * The count is masked to 5 bits (6 with a 64-bit operand). A masked count of
 * zero changes nothing — no flags, no memory write — except that a 32-bit
 * register destination is still zero-extended in 64-bit mode.
 * Undefined results, chosen to match QEMU (the differential test against the
 * host will refine them): OF is computed with the count-1 formula for every
 * count, AF is cleared, and SHLD/SHRD of 16 bits by more than 16 shift
 * through dest:src:dest. */
#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

typedef unsigned __int128 u128;

static int write_result(struct soft_cpu *cpu, const struct soft_insn *in, uint64_t res,
			uint64_t newflags)
{
	uint64_t fl = cpu->rflags;
	cpu->rflags = newflags;
	int rc = soft_op_write(cpu, in, 0, res);
	if (rc)
		cpu->rflags = fl;
	return rc;
}

/* Zero count: only the zero-extension of a 32-bit register destination. */
static int count_zero(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *d = &in->op[0];
	if (d->kind == SOP_REG && d->rclass == SREG_GPR && d->size == 4)
		soft_reg_write(cpu, d->reg, 4, cpu->gpr[d->reg]);
	return SOFT_OK;
}

static uint64_t szp_flags(struct soft_cpu *cpu, uint64_t fl, uint64_t res, unsigned size)
{
	uint64_t save = cpu->rflags;
	cpu->rflags = fl;
	soft_flags_szp(cpu, res, size);
	fl = cpu->rflags;
	cpu->rflags = save;
	return fl;
}

static int exec_shift(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t m = soft_mask(size), a, c, res;
	bool cf, of;
	int rc = soft_op_read(cpu, in, 1, &c);
	if (!rc)
		rc = soft_op_read(cpu, in, 0, &a);
	if (rc)
		return rc;
	c &= size == 8 ? 0x3f : 0x1f;
	a &= m;
	if (!c)
		return count_zero(cpu, in);
	uint64_t msb = 1ull << (bits - 1);
	uint64_t fl = cpu->rflags & ~(FL_CF | FL_OF | FL_AF);

	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_SHL: { /* SAL is the same instruction */
		u128 w = (u128)a << c;
		res = (uint64_t)w & m;
		cf = (w >> bits) & 1;
		of = !!(res & msb) != cf;
		break;
	}
	case ZYDIS_MNEMONIC_SHR:
		res = c >= 64 ? 0 : a >> c;
		cf = (a >> (c - 1)) & 1;
		of = (!!(res & msb)) != !!((a >> (c - 1)) & msb);
		break;
	default: { /* SAR */
		int64_t sa = (int64_t)soft_sext(a, size);
		res = (uint64_t)(sa >> c) & m;
		cf = (sa >> (c - 1)) & 1;
		of = false;
		break;
	}
	}
	fl |= (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	return write_result(cpu, in, res, szp_flags(cpu, fl, res, size));
}

static int exec_rotate(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t m = soft_mask(size), a, c, res;
	bool cf;
	int rc = soft_op_read(cpu, in, 1, &c);
	if (!rc)
		rc = soft_op_read(cpu, in, 0, &a);
	if (rc)
		return rc;
	c &= size == 8 ? 0x3f : 0x1f;
	a &= m;
	bool through = in->mnemonic == ZYDIS_MNEMONIC_RCL || in->mnemonic == ZYDIS_MNEMONIC_RCR;
	if (through && size < 4)
		c %= bits + 1;
	if (!c)
		return count_zero(cpu, in);
	bool left = in->mnemonic == ZYDIS_MNEMONIC_ROL || in->mnemonic == ZYDIS_MNEMONIC_RCL;
	uint64_t msb = 1ull << (bits - 1);

	if (!through) {
		unsigned r = c % bits;
		res = r ? (left ? (a << r) | (a >> (bits - r)) : (a >> r) | (a << (bits - r))) & m
			: a;
		cf = left ? res & 1 : !!(res & msb);
	} else {
		cf = cpu->rflags & FL_CF;
		res = a;
		for (unsigned i = 0; i < c; i++) {
			bool out = left ? !!(res & msb) : res & 1;
			res = left ? ((res << 1) | cf) & m : (res >> 1) | (cf ? msb : 0);
			cf = out;
		}
	}
	bool of = left ? (!!(res & msb) != cf) : (!!(res & msb) != !!(res & (msb >> 1)));
	uint64_t fl = (cpu->rflags & ~(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
	return write_result(cpu, in, res, fl);
}

static int exec_shxd(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t m = soft_mask(size), d, s, c, res;
	int rc = soft_op_read(cpu, in, 2, &c);
	if (!rc)
		rc = soft_op_read(cpu, in, 1, &s);
	if (!rc)
		rc = soft_op_read(cpu, in, 0, &d);
	if (rc)
		return rc;
	c &= size == 8 ? 0x3f : 0x1f;
	d &= m, s &= m;
	if (!c)
		return count_zero(cpu, in);
	bool left = in->mnemonic == ZYDIS_MNEMONIC_SHLD;
	u128 x;
	unsigned width;
	bool cf;
	if (size == 2) {
		width = 48;
		/* dest:src:dest, for either direction. */
		x = ((u128)d << 32) | ((u128)s << 16) | d;
	} else {
		width = 2 * bits;
		x = left ? ((u128)d << bits) | s : ((u128)s << bits) | d;
	}
	if (left) {
		res = (uint64_t)((x << c) >> (width - bits)) & m;
		cf = (uint64_t)((x << (c - 1)) >> (width - 1)) & 1;
	} else {
		res = (uint64_t)(x >> c) & m;
		cf = (uint64_t)(x >> (c - 1)) & 1;
	}
	uint64_t msb = 1ull << (bits - 1);
	bool of = !!(res & msb) != !!(d & msb);
	uint64_t fl = (cpu->rflags & ~(FL_CF | FL_OF | FL_AF)) | (cf ? FL_CF : 0) |
		      (of ? FL_OF : 0);
	return write_result(cpu, in, res, szp_flags(cpu, fl, res, size));
}

soft_handler soft_exec_shift_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR:
		return exec_shift;
	case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL:
	case ZYDIS_MNEMONIC_RCR:
		return exec_rotate;
	case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
		return exec_shxd;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
