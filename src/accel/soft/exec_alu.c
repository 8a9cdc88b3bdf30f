/* Integer data movement and arithmetic: MOV and friends, the ALU group,
 * INC/DEC/NEG/NOT, XCHG/CMPXCHG/XADD, bit tests and scans, SETcc/CMOVcc,
 * sign extensions, flag instructions, NOPs and fences.
 *
 * LOCK: a locked read-modify-write of RAM within one page is done with a host
 * compare-and-swap loop on the guest memory itself, so it is atomic against
 * other vCPUs and device threads; a locked access that crosses a page or
 * targets MMIO falls back to read + write (hardware would assert a split lock
 * or a bus lock; no device of isola cares).
 *
 * Undefined flags (SDM Vol. 1 App. A): logic ops clear AF; BT* and BSF/BSR
 * leave the undefined flags unchanged. */
#include <string.h>

#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* ---- atomic helpers on host memory ---- */

static uint64_t atomic_load_sized(void *p, unsigned size)
{
	switch (size) {
	case 1: return __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST);
	case 2: return __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST);
	case 4: return __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
	default: return __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
	}
}

/* Compare-and-swap: true if *p was *old and is now nv; else *old = *p. */
static bool cas_sized(void *p, unsigned size, uint64_t *old, uint64_t nv)
{
	switch (size) {
	case 1: {
		uint8_t o = (uint8_t)*old;
		bool ok = __atomic_compare_exchange_n((uint8_t *)p, &o, (uint8_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 2: {
		uint16_t o = (uint16_t)*old;
		bool ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 4: {
		uint32_t o = (uint32_t)*old;
		bool ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)nv, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, old, nv, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

/* For a LOCKed instruction: a host pointer to memory operand i, or NULL
 * (*rc SOFT_OK: not lockable RAM, use the plain path; else a fault). */
static void *lock_ptr(struct soft_cpu *cpu, const struct soft_insn *in,
		      const struct soft_operand *op, uint64_t ea, int *rc)
{
	uint64_t lin;
	*rc = soft_seg_linear(cpu, op->seg, ea, op->size, true, &lin);
	if (*rc)
		return NULL;
	return soft_lin_rmw_ptr(cpu, lin, op->size, rc);
}

/* A read-modify-write of operand 0 by f(cpu, old, arg): atomically when
 * locked, else read then write (flags restored if the write faults). */
typedef uint64_t (*rmw_fn)(struct soft_cpu *cpu, uint64_t old, uint64_t arg, unsigned size);

static int rmw_op0(struct soft_cpu *cpu, const struct soft_insn *in, rmw_fn f, uint64_t arg,
		   bool locked, uint64_t *old_out)
{
	const struct soft_operand *d = &in->op[0];
	uint64_t fl = cpu->rflags, old, res;
	int rc;

	if (locked && d->kind == SOP_MEM) {
		void *p = lock_ptr(cpu, in, d, soft_op_ea(cpu, in, d), &rc);
		if (rc)
			return rc;
		if (p) {
			old = atomic_load_sized(p, d->size);
			do {
				cpu->rflags = fl;
				res = f(cpu, old, arg, d->size);
			} while (!cas_sized(p, d->size, &old, res));
			if (old_out)
				*old_out = old;
			return SOFT_OK;
		}
	} else if (locked) {
		return soft_ud(cpu); /* LOCK needs a memory destination */
	}
	rc = soft_op_read(cpu, in, 0, &old);
	if (rc)
		return rc;
	res = f(cpu, old, arg, d->size);
	rc = soft_op_write(cpu, in, 0, res);
	if (rc) {
		cpu->rflags = fl;
		return rc;
	}
	if (old_out)
		*old_out = old;
	return SOFT_OK;
}

/* ---- the ALU group ---- */

static uint64_t f_add(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_add(c, a, b, 0, s);
	return a + b;
}
static uint64_t f_adc(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	uint64_t cf = c->rflags & FL_CF;
	soft_flags_add(c, a, b, cf, s);
	return a + b + cf;
}
static uint64_t f_sub(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_sub(c, a, b, 0, s);
	return a - b;
}
static uint64_t f_sbb(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	uint64_t cf = c->rflags & FL_CF;
	soft_flags_sub(c, a, b, cf, s);
	return a - b - cf;
}
static uint64_t f_and(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_logic(c, a & b, s);
	return a & b;
}
static uint64_t f_or(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_logic(c, a | b, s);
	return a | b;
}
static uint64_t f_xor(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_logic(c, a ^ b, s);
	return a ^ b;
}
/* INC/DEC leave CF alone. */
static uint64_t f_inc(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	uint64_t cf = c->rflags & FL_CF;
	soft_flags_add(c, a, 1, 0, s);
	c->rflags = (c->rflags & ~FL_CF) | cf;
	return a + 1;
}
static uint64_t f_dec(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	uint64_t cf = c->rflags & FL_CF;
	soft_flags_sub(c, a, 1, 0, s);
	c->rflags = (c->rflags & ~FL_CF) | cf;
	return a - 1;
}
/* NEG: flags of 0 - a, so CF = (a != 0). */
static uint64_t f_neg(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_sub(c, 0, a, 0, s);
	return 0 - a;
}
static uint64_t f_not(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	return ~a;
}

static int alu2(struct soft_cpu *cpu, const struct soft_insn *in, rmw_fn f)
{
	uint64_t b;
	int rc = soft_op_read(cpu, in, 1, &b);
	if (rc)
		return rc;
	return rmw_op0(cpu, in, f, b, in->flags & INSN_LOCK, NULL);
}

static int exec_add(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_add); }
static int exec_adc(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_adc); }
static int exec_sub(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_sub); }
static int exec_sbb(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_sbb); }
static int exec_and(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_and); }
static int exec_or(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_or); }
static int exec_xor(struct soft_cpu *c, const struct soft_insn *in) { return alu2(c, in, f_xor); }

static int exec_unary(struct soft_cpu *cpu, const struct soft_insn *in)
{
	rmw_fn f;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_INC: f = f_inc; break;
	case ZYDIS_MNEMONIC_DEC: f = f_dec; break;
	case ZYDIS_MNEMONIC_NEG: f = f_neg; break;
	default: f = f_not; break;
	}
	return rmw_op0(cpu, in, f, 0, in->flags & INSN_LOCK, NULL);
}

static int exec_cmp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t a, b;
	int rc = soft_op_read(cpu, in, 0, &a);
	if (!rc)
		rc = soft_op_read(cpu, in, 1, &b);
	if (rc)
		return rc;
	if (in->mnemonic == ZYDIS_MNEMONIC_CMP)
		soft_flags_sub(cpu, a, b, 0, in->op[0].size);
	else
		soft_flags_logic(cpu, a & b, in->op[0].size);
	return SOFT_OK;
}

/* ---- moves ---- */

static int exec_mov(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	return rc ? rc : soft_op_write(cpu, in, 0, v);
}

static int exec_movzx(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	return rc ? rc : soft_op_write(cpu, in, 0, v & soft_mask(in->op[1].size));
}

static int exec_movsx(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	return rc ? rc : soft_op_write(cpu, in, 0, soft_sext(v, in->op[1].size));
}

static int exec_lea(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (in->op[1].kind != SOP_MEM)
		return soft_ud(cpu);
	return soft_op_write(cpu, in, 0, soft_op_ea(cpu, in, &in->op[1]));
}

static uint64_t f_xchg(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	return b;
}

/* XCHG with memory is always locked (SDM Vol. 2D "XCHG"). */
static int exec_xchg(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t a, b;
	int rc;
	if (in->op[0].kind == SOP_MEM) {
		rc = soft_op_read(cpu, in, 1, &b);
		if (!rc)
			rc = rmw_op0(cpu, in, f_xchg, b, true, &a);
		if (!rc)
			rc = soft_op_write(cpu, in, 1, a);
		return rc;
	}
	rc = soft_op_read(cpu, in, 0, &a);
	if (!rc)
		rc = soft_op_read(cpu, in, 1, &b);
	if (rc)
		return rc;
	soft_op_write(cpu, in, 0, b);
	return soft_op_write(cpu, in, 1, a);
}

static uint64_t f_xadd(struct soft_cpu *c, uint64_t a, uint64_t b, unsigned s)
{
	soft_flags_add(c, a, b, 0, s);
	return a + b;
}

static int exec_xadd(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t src, old;
	int rc = soft_op_read(cpu, in, 1, &src);
	if (!rc)
		rc = rmw_op0(cpu, in, f_xadd, src, in->flags & INSN_LOCK, &old);
	if (rc)
		return rc;
	/* For xadd r, r with the same register, the sum wins (written last on
	 * hardware is the destination); that only matters for op0 == op1. */
	if (in->op[0].kind == SOP_REG && in->op[0].reg == in->op[1].reg &&
	    in->op[0].rclass == in->op[1].rclass)
		return SOFT_OK;
	return soft_op_write(cpu, in, 1, old);
}

/* CMPXCHG: compare the accumulator with the destination (SDM Vol. 2A). The
 * destination is written either way, so a read-only page faults even when
 * the comparison fails; the accumulator is written only when it fails. For a
 * 32-bit register destination that write zero-extends, as the SDM's
 * pseudocode, KVM's emulator and QEMU do, and as Intel CPUs (soft's CPUID
 * vendor) do; AMD CPUs leave the register alone on failure
 * (tests/difftest/KNOWN.md #1). */
static int exec_cmpxchg(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size;
	uint64_t acc = soft_reg_read(cpu, X86_RAX, size), src, old;
	int rc = soft_op_read(cpu, in, 1, &src);
	if (rc)
		return rc;
	if ((in->flags & INSN_LOCK) && in->op[0].kind == SOP_MEM) {
		void *p = lock_ptr(cpu, in, &in->op[0], soft_op_ea(cpu, in, &in->op[0]), &rc);
		if (rc)
			return rc;
		if (p) {
			old = acc;
			bool ok = cas_sized(p, size, &old, src);
			soft_flags_sub(cpu, acc, old, 0, size);
			if (!ok)
				soft_reg_write(cpu, X86_RAX, size, old);
			return SOFT_OK;
		}
	}
	rc = soft_op_read(cpu, in, 0, &old);
	if (rc)
		return rc;
	old &= soft_mask(size);
	rc = soft_op_write(cpu, in, 0, old == acc ? src : old);
	if (rc)
		return rc;
	soft_flags_sub(cpu, acc, old, 0, size);
	if (old != acc)
		soft_reg_write(cpu, X86_RAX, size, old);
	return SOFT_OK;
}

/* CMPXCHG8B / CMPXCHG16B (the latter needs 16-byte alignment: #GP(0)). */
static int exec_cmpxchg8_16(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *d = &in->op[0];
	bool wide = in->mnemonic == ZYDIS_MNEMONIC_CMPXCHG16B;
	unsigned half = wide ? 8 : 4;
	uint64_t ea = soft_op_ea(cpu, in, d), lin;
	uint64_t cmp_lo = soft_reg_read(cpu, X86_RAX, half);
	uint64_t cmp_hi = soft_reg_read(cpu, X86_RDX, half);
	uint64_t new_lo = soft_reg_read(cpu, X86_RBX, half);
	uint64_t new_hi = soft_reg_read(cpu, X86_RCX, half);
	uint64_t cur[2] = { 0, 0 };
	bool equal;
	int rc;

	if (d->kind != SOP_MEM)
		return soft_ud(cpu);
	rc = soft_seg_linear(cpu, d->seg, ea, 2 * half, true, &lin);
	if (rc)
		return rc;
	if (wide && (lin & 15))
		return soft_gp0(cpu);
	void *p = soft_lin_rmw_ptr(cpu, lin, 2 * half, &rc);
	if (rc)
		return rc;
	if (p && wide) {
		uint64_t lo = cmp_lo, hi = cmp_hi;
		__asm__ volatile("lock cmpxchg16b %2; sete %b0"
				 : "=q"(equal), "+a"(lo), "+m"(*(volatile __int128 *)p), "+d"(hi)
				 : "b"(new_lo), "c"(new_hi)
				 : "memory", "cc");
		cur[0] = lo, cur[1] = hi;
	} else if (p) {
		uint64_t old = cmp_lo | (cmp_hi << 32);
		uint64_t nv = new_lo | (new_hi << 32);
		equal = __atomic_compare_exchange_n((uint64_t *)p, &old, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		cur[0] = old & 0xffffffff, cur[1] = old >> 32;
	} else {
		uint8_t buf[16];
		rc = soft_lin_read(cpu, lin, buf, 2 * half, cpu->cpl == 3);
		if (rc)
			return rc;
		memcpy(&cur[0], buf, half);
		memcpy(&cur[1], buf + half, half);
		equal = cur[0] == cmp_lo && cur[1] == cmp_hi;
		if (equal) {
			memcpy(buf, &new_lo, half);
			memcpy(buf + half, &new_hi, half);
		}
		rc = soft_lin_write(cpu, lin, buf, 2 * half, cpu->cpl == 3);
		if (rc)
			return rc;
	}
	cpu->rflags = (cpu->rflags & ~FL_ZF) | (equal ? FL_ZF : 0);
	if (!equal) {
		soft_reg_write(cpu, X86_RAX, half, cur[0]);
		soft_reg_write(cpu, X86_RDX, half, cur[1]);
	}
	return SOFT_OK;
}

/* ---- bit test, scan, count ---- */

static uint64_t f_bts(struct soft_cpu *c, uint64_t a, uint64_t bit, unsigned s)
{
	c->rflags = (c->rflags & ~FL_CF) | ((a >> bit) & 1);
	return a | (1ull << bit);
}
static uint64_t f_btr(struct soft_cpu *c, uint64_t a, uint64_t bit, unsigned s)
{
	c->rflags = (c->rflags & ~FL_CF) | ((a >> bit) & 1);
	return a & ~(1ull << bit);
}
static uint64_t f_btc(struct soft_cpu *c, uint64_t a, uint64_t bit, unsigned s)
{
	c->rflags = (c->rflags & ~FL_CF) | ((a >> bit) & 1);
	return a ^ (1ull << bit);
}

/* BT/BTS/BTR/BTC. With a register bit offset and a memory operand the offset
 * is signed and may reach any byte (SDM Vol. 2A "BT": bit string addressing). */
static int exec_bt(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, bits = size * 8;
	uint64_t off;
	int rc = soft_op_read(cpu, in, 1, &off);
	if (rc)
		return rc;
	struct soft_insn tmp;
	const struct soft_insn *use = in;
	if (in->op[0].kind == SOP_MEM && in->op[1].kind == SOP_REG) {
		int64_t s = (int64_t)soft_sext(off, in->op[1].size);
		int64_t word = s >= 0 ? s / (int64_t)bits : -((-s + bits - 1) / (int64_t)bits);
		tmp = *in;
		tmp.op[0].val += word * (int64_t)size;
		use = &tmp;
	}
	unsigned bit = off & (bits - 1);
	rmw_fn f;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_BTS: f = f_bts; break;
	case ZYDIS_MNEMONIC_BTR: f = f_btr; break;
	case ZYDIS_MNEMONIC_BTC: f = f_btc; break;
	default: {
		uint64_t v;
		rc = soft_op_read(cpu, use, 0, &v);
		if (rc)
			return rc;
		cpu->rflags = (cpu->rflags & ~FL_CF) | ((v >> bit) & 1);
		return SOFT_OK;
	}
	}
	return rmw_op0(cpu, use, f, bit, in->flags & INSN_LOCK, NULL);
}

/* BSF/BSR: ZF = (source == 0), destination unchanged then (as AMD documents
 * and Intel parts do). TZCNT/LZCNT run as BSF/BSR because CPUID does not
 * announce BMI1/ABM — what a CPU without them does with the F3 prefix. */
static int exec_bsf_bsr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	if (rc)
		return rc;
	v &= soft_mask(in->op[1].size);
	if (!v) {
		cpu->rflags |= FL_ZF;
		return SOFT_OK;
	}
	cpu->rflags &= ~FL_ZF;
	bool fwd = in->mnemonic == ZYDIS_MNEMONIC_BSF || in->mnemonic == ZYDIS_MNEMONIC_TZCNT;
	return soft_op_write(cpu, in, 0, fwd ? (uint64_t)__builtin_ctzll(v) :
				   (uint64_t)(63 - __builtin_clzll(v)));
}

static int exec_popcnt(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	if (rc)
		return rc;
	v &= soft_mask(in->op[1].size);
	cpu->rflags &= ~FL_ARITH;
	if (!v)
		cpu->rflags |= FL_ZF;
	return soft_op_write(cpu, in, 0, (uint64_t)__builtin_popcountll(v));
}

/* BSWAP r16 is undefined; Intel and AMD parts produce zero. */
static int exec_bswap(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 0, &v);
	if (rc)
		return rc;
	switch (in->op[0].size) {
	case 8: v = __builtin_bswap64(v); break;
	case 4: v = __builtin_bswap32((uint32_t)v); break;
	default: v = 0; break;
	}
	return soft_op_write(cpu, in, 0, v);
}

/* ---- conditional ---- */

static int exec_setcc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	return soft_op_write(cpu, in, 0, soft_cond(cpu, in->cc));
}

/* CMOVcc reads its source either way; with a 32-bit destination in 64-bit
 * mode the register is zero-extended even when the condition is false. */
static int exec_cmovcc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = soft_op_read(cpu, in, 1, &v);
	if (rc)
		return rc;
	if (!soft_cond(cpu, in->cc)) {
		if (in->op[0].size != 4)
			return SOFT_OK;
		v = soft_reg_read(cpu, in->op[0].reg, 4);
	}
	return soft_op_write(cpu, in, 0, v);
}

/* ---- accumulator sign extensions ---- */

static int exec_cbw(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned s = in->osize;
	soft_reg_write(cpu, X86_RAX, s, soft_sext(soft_reg_read(cpu, X86_RAX, s / 2), s / 2));
	return SOFT_OK;
}

static int exec_cwd(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned s = in->osize;
	uint64_t sign = (cpu->gpr[X86_RAX] >> (s * 8 - 1)) & 1;
	soft_reg_write(cpu, X86_RDX, s, sign ? ~0ull : 0);
	return SOFT_OK;
}

/* ---- flags ---- */

static int exec_flagop(struct soft_cpu *cpu, const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_CLC: cpu->rflags &= ~FL_CF; break;
	case ZYDIS_MNEMONIC_STC: cpu->rflags |= FL_CF; break;
	case ZYDIS_MNEMONIC_CMC: cpu->rflags ^= FL_CF; break;
	case ZYDIS_MNEMONIC_CLD: cpu->rflags &= ~FL_DF; break;
	case ZYDIS_MNEMONIC_STD: cpu->rflags |= FL_DF; break;
	case ZYDIS_MNEMONIC_LAHF: {
		uint64_t ah = (cpu->rflags & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)) | 2;
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xff00ull) | (ah << 8);
		break;
	}
	case ZYDIS_MNEMONIC_SAHF: {
		uint64_t m = FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF;
		cpu->rflags = (cpu->rflags & ~m) | ((cpu->gpr[X86_RAX] >> 8) & m);
		break;
	}
	default:
		return soft_ud(cpu);
	}
	return SOFT_OK;
}

/* NOP, hints and fences. MFENCE orders this vCPU's memory accesses against
 * other vCPUs' for real; the others are no-ops on a CPU without caches. */
static int exec_nop(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (in->mnemonic == ZYDIS_MNEMONIC_MFENCE)
		atomic_thread_fence(memory_order_seq_cst);
	return SOFT_OK;
}

static int exec_xlat(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t v;
	uint64_t off = (cpu->gpr[X86_RBX] + (cpu->gpr[X86_RAX] & 0xff)) & soft_mask(in->asize);
	int rc = soft_mem_read(cpu, in->strseg, off, &v, 1);
	if (rc)
		return rc;
	soft_reg_write(cpu, X86_RAX, 1, v);
	return SOFT_OK;
}

static bool has_sys_reg(const struct soft_insn *in)
{
	for (unsigned i = 0; i < in->nops; i++)
		if (in->op[i].kind == SOP_REG && (in->op[i].rclass == SREG_CR ||
						  in->op[i].rclass == SREG_DR))
			return true;
	return in->op[0].kind == SOP_REG && in->op[0].rclass == SREG_SEG;
}

soft_handler soft_exec_alu_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
		/* CR/DR moves and segment loads are system instructions. */
		return has_sys_reg(in) ? NULL : exec_mov;
	case ZYDIS_MNEMONIC_MOVZX: return exec_movzx;
	case ZYDIS_MNEMONIC_MOVSX: case ZYDIS_MNEMONIC_MOVSXD: return exec_movsx;
	case ZYDIS_MNEMONIC_LEA: return exec_lea;
	case ZYDIS_MNEMONIC_ADD: return exec_add;
	case ZYDIS_MNEMONIC_ADC: return exec_adc;
	case ZYDIS_MNEMONIC_SUB: return exec_sub;
	case ZYDIS_MNEMONIC_SBB: return exec_sbb;
	case ZYDIS_MNEMONIC_AND: return exec_and;
	case ZYDIS_MNEMONIC_OR: return exec_or;
	case ZYDIS_MNEMONIC_XOR: return exec_xor;
	case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST: return exec_cmp;
	case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT:
		return exec_unary;
	case ZYDIS_MNEMONIC_XCHG: return exec_xchg;
	case ZYDIS_MNEMONIC_XADD: return exec_xadd;
	case ZYDIS_MNEMONIC_CMPXCHG: return exec_cmpxchg;
	case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_CMPXCHG16B: return exec_cmpxchg8_16;
	case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR:
	case ZYDIS_MNEMONIC_BTC:
		return exec_bt;
	case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR: case ZYDIS_MNEMONIC_TZCNT:
	case ZYDIS_MNEMONIC_LZCNT:
		return exec_bsf_bsr;
	case ZYDIS_MNEMONIC_POPCNT: return exec_popcnt;
	case ZYDIS_MNEMONIC_BSWAP: return exec_bswap;
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
	case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
	case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
	case ZYDIS_MNEMONIC_SETNLE:
		return exec_setcc;
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
	case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
	case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
	case ZYDIS_MNEMONIC_CMOVNLE:
		return exec_cmovcc;
	case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE: case ZYDIS_MNEMONIC_CDQE:
		return exec_cbw;
	case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ: case ZYDIS_MNEMONIC_CQO:
		return exec_cwd;
	case ZYDIS_MNEMONIC_CLC: case ZYDIS_MNEMONIC_STC: case ZYDIS_MNEMONIC_CMC:
	case ZYDIS_MNEMONIC_CLD: case ZYDIS_MNEMONIC_STD: case ZYDIS_MNEMONIC_LAHF:
	case ZYDIS_MNEMONIC_SAHF:
		return exec_flagop;
	case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE: case ZYDIS_MNEMONIC_ENDBR64:
	case ZYDIS_MNEMONIC_ENDBR32: case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_SFENCE:
	case ZYDIS_MNEMONIC_MFENCE: case ZYDIS_MNEMONIC_PREFETCHNTA:
	case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1:
	case ZYDIS_MNEMONIC_PREFETCHT2: case ZYDIS_MNEMONIC_PREFETCHW:
	case ZYDIS_MNEMONIC_PREFETCH:
		return exec_nop;
	case ZYDIS_MNEMONIC_XLAT: return exec_xlat;
	default: return NULL;
	}
}

#endif /* HAVE_ZYDIS */
