/* Specialised handlers for the commonest instruction forms in 64-bit code.
 *
 * The general handlers (exec_alu.c, exec_ctrl.c) take any operand form and
 * find out at run time what they have: register, memory or immediate, which
 * size, which segment, locked or not, and compute flags through out-of-line
 * helpers for any size. Most instructions a 64-bit kernel or program runs are
 * a handful of forms: MOV, MOVZX and LEA with general registers, the ALU
 * group and SHL/SHR/SAR with a 32/64-bit register destination, Jcc,
 * PUSH/POP of a register, near CALL/RET. decode.c asks soft_exec_fast_lookup() after the general
 * lookup; for a form it knows (checked once, at decode time) it gets a
 * handler that does only that form, with flags computed inline, and with a
 * data access that tries the TLB inline before it falls back to the general
 * memory path (soft_mem_read/write: MMIO, page crossings, misses, faults).
 *
 * Every handler here must give exactly what the general one gives, flags
 * included (tests/difftest compares both with the host CPU; the forms here are
 * among those it generates). Only 64-bit mode, 64-bit addressing and segments
 * without a base (not FS/GS) are taken; everything else keeps the general
 * handler. */
#include <string.h>

#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* ---- operands ---- */

/* 64-bit addressing, no segment base: the linear address. */
static inline uint64_t fx_ea(const struct soft_cpu *cpu, const struct soft_operand *op)
{
	uint64_t ea = (uint64_t)op->val;
	if (op->base == SOFT_RIPREG)
		ea += cpu->next_rip;
	else if (op->base != SOFT_NOREG)
		ea += cpu->gpr[op->base];
	if (op->index != SOFT_NOREG)
		ea += cpu->gpr[op->index] * op->scale;
	return ea;
}

/* The host address of size bytes at lin for an access of kind acc, when the
 * TLB has it as RAM within one page; else NULL (the general path decides). */
static inline uint8_t *fx_host(const struct soft_cpu *cpu, uint64_t lin, unsigned size, int acc,
			       uint64_t *gpa)
{
	if ((lin & 0xfff) + size > SOFT_PAGE_SIZE || !soft_canonical(lin))
		return NULL;
	const struct soft_tlb_entry *e = &cpu->tlb[acc][(lin >> 12) % SOFT_TLB_SIZE];
	if (e->vpage != ((lin & ~0xfffull) | 1) || !e->host || (cpu->cpl == 3 && !e->user_ok))
		return NULL;
	*gpa = e->gpage | (lin & 0xfff);
	return e->host + (lin & 0xfff);
}

static inline uint64_t load_sized(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static inline void store_sized(uint8_t *p, uint64_t v, unsigned size)
{
	switch (size) {
	case 1: *p = (uint8_t)v; break;
	case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); break; }
	case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

static inline int fx_load(struct soft_cpu *cpu, unsigned seg, uint64_t lin, unsigned size,
			  uint64_t *v)
{
	uint64_t gpa;
	const uint8_t *h = fx_host(cpu, lin, size, SOFT_ACC_READ, &gpa);
	if (h) {
		*v = load_sized(h, size);
		return SOFT_OK;
	}
	*v = 0;
	return soft_mem_read(cpu, seg, lin, v, size);
}

static inline int fx_store(struct soft_cpu *cpu, unsigned seg, uint64_t lin, unsigned size,
			   uint64_t v)
{
	uint64_t gpa;
	uint8_t *h = fx_host(cpu, lin, size, SOFT_ACC_WRITE, &gpa);
	if (h) {
		store_sized(h, v, size);
		soft_note_store(cpu->vm, gpa);
		return SOFT_OK;
	}
	return soft_mem_write(cpu, seg, lin, &v, size);
}

/* Memory operand i of in (size 1-8). */
static inline int fx_read_mem(struct soft_cpu *cpu, const struct soft_insn *in, int i,
			      uint64_t *v)
{
	const struct soft_operand *op = &in->op[i];
	return fx_load(cpu, op->seg, fx_ea(cpu, op), op->size, v);
}

/* A 32- or 64-bit register write: 32-bit writes zero-extend. */
static inline void fx_set(struct soft_cpu *cpu, unsigned reg, unsigned size, uint64_t v)
{
	cpu->gpr[reg] = size == 8 ? v : (uint32_t)v;
}

/* ---- flags, as exec.c's soft_flags_* compute them ---- */

static inline uint64_t fx_szp(uint64_t res, unsigned size)
{
	return (res == 0 ? FL_ZF : 0) | (((res >> (size * 8 - 1)) & 1) ? FL_SF : 0) |
	       (__builtin_parity((unsigned)(res & 0xff)) ? 0 : FL_PF);
}

static inline void fx_flags_sub(struct soft_cpu *cpu, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t m = soft_mask(size);
	a &= m, b &= m;
	uint64_t res = (a - b) & m;
	uint64_t of = (((a ^ b) & (a ^ res)) >> (size * 8 - 1)) & 1;
	cpu->rflags = (cpu->rflags & ~FL_ARITH) | (a < b ? FL_CF : 0) | (of ? FL_OF : 0) |
		      ((a ^ b ^ res) & FL_AF) | fx_szp(res, size);
}

static inline void fx_flags_add(struct soft_cpu *cpu, uint64_t a, uint64_t b, unsigned size)
{
	uint64_t m = soft_mask(size);
	a &= m, b &= m;
	uint64_t res = (a + b) & m;
	uint64_t of = (((a ^ res) & (b ^ res)) >> (size * 8 - 1)) & 1;
	cpu->rflags = (cpu->rflags & ~FL_ARITH) | (res < a ? FL_CF : 0) | (of ? FL_OF : 0) |
		      ((a ^ b ^ res) & FL_AF) | fx_szp(res, size);
}

/* Logic: CF = OF = AF = 0 (AF as exec.c: cleared). */
static inline void fx_flags_logic(struct soft_cpu *cpu, uint64_t res, unsigned size)
{
	cpu->rflags = (cpu->rflags & ~FL_ARITH) | fx_szp(res & soft_mask(size), size);
}

/* soft_cond(), inline. */
static inline bool fx_cond(uint64_t f, unsigned cc)
{
	bool r;
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = f & (FL_CF | FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !!(f & FL_SF) != !!(f & FL_OF); break;
	default: r = (f & FL_ZF) || (!!(f & FL_SF) != !!(f & FL_OF)); break;
	}
	return (cc & 1) ? !r : r;
}

/* ---- moves ---- */

static int fx_mov_rr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	fx_set(cpu, in->op[0].reg, in->op[0].size, cpu->gpr[in->op[1].reg]);
	return SOFT_OK;
}

static int fx_mov_ri(struct soft_cpu *cpu, const struct soft_insn *in)
{
	fx_set(cpu, in->op[0].reg, in->op[0].size, (uint64_t)in->op[1].val);
	return SOFT_OK;
}

static int fx_mov_rm(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = fx_read_mem(cpu, in, 1, &v);
	if (rc)
		return rc;
	fx_set(cpu, in->op[0].reg, in->op[0].size, v);
	return SOFT_OK;
}

/* MOV m, r / MOV m, imm (operand 1 a general register of any size but the
 * high-byte ones, or an immediate). */
static int fx_mov_mr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *d = &in->op[0];
	return fx_store(cpu, d->seg, fx_ea(cpu, d), d->size, cpu->gpr[in->op[1].reg]);
}

static int fx_mov_mi(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *d = &in->op[0];
	return fx_store(cpu, d->seg, fx_ea(cpu, d), d->size, (uint64_t)in->op[1].val);
}

static int fx_movzx_rr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	fx_set(cpu, in->op[0].reg, in->op[0].size,
	       cpu->gpr[in->op[1].reg] & soft_mask(in->op[1].size));
	return SOFT_OK;
}

static int fx_movzx_rm(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = fx_read_mem(cpu, in, 1, &v);
	if (rc)
		return rc;
	fx_set(cpu, in->op[0].reg, in->op[0].size, v);
	return SOFT_OK;
}

static int fx_lea(struct soft_cpu *cpu, const struct soft_insn *in)
{
	fx_set(cpu, in->op[0].reg, in->op[0].size, fx_ea(cpu, &in->op[1]));
	return SOFT_OK;
}

/* ---- the ALU group, 32/64-bit register destination ---- */

enum { A_ADD, A_SUB, A_AND, A_OR, A_XOR, A_CMP, A_TEST };

static inline int fx_alu(struct soft_cpu *cpu, const struct soft_insn *in, int op, uint64_t b)
{
	unsigned size = in->op[0].size, d = in->op[0].reg;
	uint64_t a = cpu->gpr[d], r;
	switch (op) {
	case A_ADD: fx_flags_add(cpu, a, b, size); r = a + b; break;
	case A_SUB: fx_flags_sub(cpu, a, b, size); r = a - b; break;
	case A_CMP: fx_flags_sub(cpu, a, b, size); return SOFT_OK;
	case A_AND: r = a & b; fx_flags_logic(cpu, r, size); break;
	case A_OR: r = a | b; fx_flags_logic(cpu, r, size); break;
	case A_XOR: r = a ^ b; fx_flags_logic(cpu, r, size); break;
	default: fx_flags_logic(cpu, a & b, size); return SOFT_OK;
	}
	fx_set(cpu, d, size, r);
	return SOFT_OK;
}

#define FX_ALU(name, kind)                                                                  \
	static int fx_##name##_rr(struct soft_cpu *cpu, const struct soft_insn *in)        \
	{                                                                                  \
		return fx_alu(cpu, in, kind, cpu->gpr[in->op[1].reg]);                       \
	}                                                                                  \
	static int fx_##name##_ri(struct soft_cpu *cpu, const struct soft_insn *in)        \
	{                                                                                  \
		return fx_alu(cpu, in, kind, (uint64_t)in->op[1].val);                       \
	}                                                                                  \
	static int fx_##name##_rm(struct soft_cpu *cpu, const struct soft_insn *in)        \
	{                                                                                  \
		uint64_t b;                                                                \
		int rc = fx_read_mem(cpu, in, 1, &b);                                      \
		return rc ? rc : fx_alu(cpu, in, kind, b);                                   \
	}
FX_ALU(add, A_ADD)
FX_ALU(sub, A_SUB)
FX_ALU(and, A_AND)
FX_ALU(or, A_OR)
FX_ALU(xor, A_XOR)
FX_ALU(cmp, A_CMP)
FX_ALU(test, A_TEST)

/* CMP m, r / CMP m, imm: no write, so no lock question. */
static int fx_cmp_mr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t a;
	int rc = fx_read_mem(cpu, in, 0, &a);
	if (rc)
		return rc;
	fx_flags_sub(cpu, a, cpu->gpr[in->op[1].reg], in->op[0].size);
	return SOFT_OK;
}

static int fx_cmp_mi(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t a;
	int rc = fx_read_mem(cpu, in, 0, &a);
	if (rc)
		return rc;
	fx_flags_sub(cpu, a, (uint64_t)in->op[1].val, in->op[0].size);
	return SOFT_OK;
}

/* INC/DEC r32/r64: CF kept. */
static int fx_inc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, d = in->op[0].reg;
	uint64_t a = cpu->gpr[d], cf = cpu->rflags & FL_CF;
	fx_flags_add(cpu, a, 1, size);
	cpu->rflags = (cpu->rflags & ~FL_CF) | cf;
	fx_set(cpu, d, size, a + 1);
	return SOFT_OK;
}

static int fx_dec(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned size = in->op[0].size, d = in->op[0].reg;
	uint64_t a = cpu->gpr[d], cf = cpu->rflags & FL_CF;
	fx_flags_sub(cpu, a, 1, size);
	cpu->rflags = (cpu->rflags & ~FL_CF) | cf;
	fx_set(cpu, d, size, a - 1);
	return SOFT_OK;
}

/* ---- shifts: SHL/SHR/SAR of a 32/64-bit register by imm8 or CL ---- */

/* As exec_shift.c: the count masked to 5 (6) bits; a zero count changes
 * nothing but the zero-extension of a 32-bit destination; AF cleared; OF
 * from the count-1 formula for every count (SAR: 0). */
enum { S_SHL, S_SHR, S_SAR };

static inline int fx_shift(struct soft_cpu *cpu, const struct soft_insn *in, int kind,
			   uint64_t c)
{
	unsigned size = in->op[0].size, bits = size * 8, d = in->op[0].reg;
	uint64_t m = soft_mask(size), a = cpu->gpr[d] & m, msb = 1ull << (bits - 1), res;
	bool cf, of;

	c &= size == 8 ? 0x3f : 0x1f;
	if (!c) {
		fx_set(cpu, d, size, cpu->gpr[d]);
		return SOFT_OK;
	}
	switch (kind) {
	case S_SHL:
		res = (a << c) & m;
		cf = (a >> (bits - c)) & 1;
		of = !!(res & msb) != cf;
		break;
	case S_SHR:
		res = a >> c;
		cf = (a >> (c - 1)) & 1;
		of = !!(res & msb) != !!((a >> (c - 1)) & msb);
		break;
	default: {
		int64_t sa = (int64_t)soft_sext(a, size);
		res = (uint64_t)(sa >> c) & m;
		cf = (sa >> (c - 1)) & 1;
		of = false;
		break;
	}
	}
	cpu->rflags = (cpu->rflags & ~FL_ARITH) | (cf ? FL_CF : 0) | (of ? FL_OF : 0) |
		      fx_szp(res, size);
	fx_set(cpu, d, size, res);
	return SOFT_OK;
}

#define FX_SHIFT(name, kind)                                                               \
	static int fx_##name##_ri(struct soft_cpu *cpu, const struct soft_insn *in)        \
	{                                                                                  \
		return fx_shift(cpu, in, kind, (uint64_t)in->op[1].val);                   \
	}                                                                                  \
	static int fx_##name##_rcl(struct soft_cpu *cpu, const struct soft_insn *in)       \
	{                                                                                  \
		return fx_shift(cpu, in, kind, cpu->gpr[X86_RCX] & 0xff);                  \
	}
FX_SHIFT(shl, S_SHL)
FX_SHIFT(shr, S_SHR)
FX_SHIFT(sar, S_SAR)

/* ---- conditions ---- */

static int fx_jcc(struct soft_cpu *cpu, const struct soft_insn *in)
{
	if (!fx_cond(cpu->rflags, in->cc))
		return SOFT_OK;
	uint64_t t = cpu->next_rip + (uint64_t)in->op[0].val;
	if (!soft_canonical(t))
		return soft_gp0(cpu);
	cpu->next_rip = t;
	return SOFT_OK;
}

static int fx_jmp_rel(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t t = cpu->next_rip + (uint64_t)in->op[0].val;
	if (!soft_canonical(t))
		return soft_gp0(cpu);
	cpu->next_rip = t;
	return SOFT_OK;
}

/* CMOVcc r32/r64, r: a 32-bit destination is zero-extended either way. */
static int fx_cmov_rr(struct soft_cpu *cpu, const struct soft_insn *in)
{
	unsigned d = in->op[0].reg;
	uint64_t v = fx_cond(cpu->rflags, in->cc) ? cpu->gpr[in->op[1].reg] : cpu->gpr[d];
	fx_set(cpu, d, in->op[0].size, v);
	return SOFT_OK;
}

/* ---- the stack, 64-bit ---- */

static int fx_push_r(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t sp = cpu->gpr[X86_RSP] - 8;
	int rc = fx_store(cpu, X86_SS, sp, 8, cpu->gpr[in->op[0].reg]);
	if (rc)
		return rc;
	cpu->gpr[X86_RSP] = sp;
	return SOFT_OK;
}

static int fx_pop_r(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t v;
	int rc = fx_load(cpu, X86_SS, cpu->gpr[X86_RSP], 8, &v);
	if (rc)
		return rc;
	cpu->gpr[X86_RSP] += 8;
	cpu->gpr[in->op[0].reg] = v;
	return SOFT_OK;
}

static int fx_call_rel(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t ret = cpu->next_rip, t = ret + (uint64_t)in->op[0].val;
	uint64_t sp = cpu->gpr[X86_RSP] - 8;
	if (!soft_canonical(t))
		return soft_gp0(cpu);
	int rc = fx_store(cpu, X86_SS, sp, 8, ret);
	if (rc)
		return rc;
	cpu->gpr[X86_RSP] = sp;
	cpu->next_rip = t;
	return SOFT_OK;
}

static int fx_ret(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint64_t t;
	int rc = fx_load(cpu, X86_SS, cpu->gpr[X86_RSP], 8, &t);
	if (rc)
		return rc;
	if (!soft_canonical(t))
		return soft_gp0(cpu);
	cpu->gpr[X86_RSP] += 8;
	cpu->next_rip = t;
	return SOFT_OK;
}

/* ---- the lookup ---- */

static bool gpr(const struct soft_operand *o)
{
	return o->kind == SOP_REG && o->rclass == SREG_GPR;
}

/* A 32- or 64-bit general register. */
static bool gpr48(const struct soft_operand *o)
{
	return gpr(o) && (o->size == 4 || o->size == 8);
}

/* Memory with 64-bit addressing and no segment base, size 1-8. */
static bool mem(const struct soft_insn *in, const struct soft_operand *o)
{
	return o->kind == SOP_MEM && in->asize == 8 && o->seg != X86_FS && o->seg != X86_GS &&
	       o->size >= 1 && o->size <= 8 && (o->size & (o->size - 1)) == 0;
}

static bool imm(const struct soft_operand *o)
{
	return o->kind == SOP_IMM && !o->relative;
}

#define PICK3(name)                                                                        \
	do {                                                                               \
		if (!gpr48(a) || b->size > a->size)                                        \
			return NULL;                                                       \
		if (gpr(b) && b->size == a->size)                                          \
			return fx_##name##_rr;                                             \
		if (imm(b))                                                                \
			return fx_##name##_ri;                                             \
		if (mem(in, b) && b->size == a->size)                                      \
			return fx_##name##_rm;                                             \
		return NULL;                                                               \
	} while (0)

/* A shift of a 32/64-bit register by an immediate or by CL. */
#define PICKSH(name)                                                                       \
	do {                                                                               \
		if (in->nops != 2 || !gpr48(a))                                            \
			return NULL;                                                       \
		if (imm(b))                                                                \
			return fx_##name##_ri;                                             \
		if (gpr(b) && b->reg == X86_RCX && b->size == 1)                           \
			return fx_##name##_rcl;                                            \
		return NULL;                                                               \
	} while (0)

soft_handler soft_exec_fast_lookup(const struct soft_insn *in, bool mode64)
{
	const struct soft_operand *a = &in->op[0], *b = &in->op[1];

	if (!mode64 || (in->flags & (INSN_LOCK | INSN_REP | INSN_REPNE | INSN_FAR)))
		return NULL;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
		if (in->nops != 2)
			return NULL;
		if (gpr48(a)) {
			if (gpr(b) && b->size == a->size)
				return fx_mov_rr;
			if (imm(b))
				return fx_mov_ri;
			if (mem(in, b) && b->size == a->size)
				return fx_mov_rm;
			return NULL;
		}
		if (mem(in, a) && gpr(b) && b->size == a->size)
			return fx_mov_mr;
		if (mem(in, a) && imm(b))
			return fx_mov_mi;
		return NULL;
	case ZYDIS_MNEMONIC_MOVZX:
		if (in->nops != 2 || !gpr48(a))
			return NULL;
		if (gpr(b) && b->size < 4)
			return fx_movzx_rr;
		if (mem(in, b) && b->size < 4)
			return fx_movzx_rm;
		return NULL;
	case ZYDIS_MNEMONIC_LEA:
		return in->nops == 2 && gpr48(a) && b->kind == SOP_MEM && in->asize == 8 ?
			       fx_lea : NULL;
	case ZYDIS_MNEMONIC_ADD: PICK3(add);
	case ZYDIS_MNEMONIC_SUB: PICK3(sub);
	case ZYDIS_MNEMONIC_AND: PICK3(and);
	case ZYDIS_MNEMONIC_OR: PICK3(or);
	case ZYDIS_MNEMONIC_XOR: PICK3(xor);
	case ZYDIS_MNEMONIC_TEST: PICK3(test);
	case ZYDIS_MNEMONIC_CMP:
		if (in->nops == 2 && mem(in, a)) {
			if (gpr(b) && b->size == a->size)
				return fx_cmp_mr;
			if (imm(b))
				return fx_cmp_mi;
			return NULL;
		}
		PICK3(cmp);
	case ZYDIS_MNEMONIC_SHL: PICKSH(shl);
	case ZYDIS_MNEMONIC_SHR: PICKSH(shr);
	case ZYDIS_MNEMONIC_SAR: PICKSH(sar);
	case ZYDIS_MNEMONIC_INC:
		return in->nops == 1 && gpr48(a) ? fx_inc : NULL;
	case ZYDIS_MNEMONIC_DEC:
		return in->nops == 1 && gpr48(a) ? fx_dec : NULL;
	case ZYDIS_MNEMONIC_JMP:
		return in->nops == 1 && a->kind == SOP_IMM && a->relative && in->osize == 8 ?
			       fx_jmp_rel : NULL;
	case ZYDIS_MNEMONIC_CALL:
		return in->nops == 1 && a->kind == SOP_IMM && a->relative && in->osize == 8 ?
			       fx_call_rel : NULL;
	case ZYDIS_MNEMONIC_RET:
		return in->nops == 0 && in->osize == 8 ? fx_ret : NULL;
	case ZYDIS_MNEMONIC_PUSH:
		return in->nops == 1 && gpr(a) && a->size == 8 && in->osize == 8 ? fx_push_r : NULL;
	case ZYDIS_MNEMONIC_POP:
		return in->nops == 1 && gpr(a) && a->size == 8 && in->osize == 8 ? fx_pop_r : NULL;
	default:
		break;
	}
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
	case ZYDIS_MNEMONIC_JNLE:
		return in->nops == 1 && a->kind == SOP_IMM && in->osize == 8 ? fx_jcc : NULL;
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
	case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
	case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
	case ZYDIS_MNEMONIC_CMOVNLE:
		return in->nops == 2 && gpr48(a) && gpr(b) && b->size == a->size ? fx_cmov_rr :
										   NULL;
	default:
		return NULL;
	}
}

#else

soft_handler soft_exec_fast_lookup(const struct soft_insn *in, bool mode64)
{
	return NULL;
}

#endif
