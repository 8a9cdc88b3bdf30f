/* The difftest generator's shared state and encoding helpers (gen*.c only).
 *
 * gen.c has the core (the random stream, the encoder, operand pickers, the
 * initial state, dt_generate); each group's generator is in its own file:
 * gen_alu.c, gen_int.c (shifts, mul/div, bit, string, stack), gen_sse.c,
 * gen_x87.c, gen_mmx.c. */
#ifndef ISOLA_DIFFTEST_GEN_INTERNAL_H
#define ISOLA_DIFFTEST_GEN_INTERNAL_H

#include <string.h>

#include "difftest.h"

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ALLF (CF | PF | AF | ZF | SF | OF)
#define DF 0x400u

struct gen {
	uint64_t r;
	struct dt_seq *s;
	uint32_t undef;
	int pushed; /* bytes below DT_STACK_TOP */
	/* A RIP-relative displacement to fill in when the instruction ends
	 * (its length is known only then): where, and the address it means. */
	unsigned patch_pos;
	uint64_t patch_target;
	int jcc_depth;
	bool excl; /* leave out the forms of KNOWN.md */
	/* x87: registers believed in use (steers loads and pops), and the
	 * last FNSTENV/FNSAVE (off, kind) and FXSAVE64 areas, -1: none. */
	int x87_depth;
	int env_off, env_kind, fx_off;
};

static inline uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->r += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline unsigned rn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) % n);
}

/* ---- emission ---- */

static inline void put(struct gen *g, uint8_t b)
{
	g->s->code[g->s->len++] = b;
}

static inline void put_imm(struct gen *g, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		put(g, (uint8_t)(v >> (8 * i)));
}

static inline void begin(struct gen *g)
{
	g->s->off[g->s->n] = (uint16_t)g->s->len;
}

/* The instruction just emitted writes the flags `writes`, of which `undef`
 * are left undefined. */
static inline void end(struct gen *g, uint32_t writes, uint32_t undef)
{
	if (g->patch_pos) {
		int32_t d = (int32_t)(g->patch_target - (DT_CODE_VA + g->s->len));
		memcpy(&g->s->code[g->patch_pos], &d, 4);
		g->patch_pos = 0;
	}
	g->undef = (g->undef & ~writes) | undef;
	g->s->undef_after[g->s->n++] = g->undef;
}

static inline bool defined(struct gen *g, uint32_t flags)
{
	return !(g->undef & flags);
}

/* An r/m operand: a register, or the absolute address DT_SCRATCH_VA + off. */
struct rm {
	bool mem;
	int reg;
	uint32_t off;
	/* Memory through registers: [base + index * scale + disp], the
	 * registers set up by the generator beforehand (index 4: none). */
	bool regs;
	bool a32; /* 0x67: 32-bit address arithmetic, wrapping at 4 GiB */
	int base, index, scale;
	int32_t disp;
};

static inline struct rm rm_reg(int r)
{
	return (struct rm){ .mem = false, .reg = r };
}

static inline struct rm rm_mem(uint32_t off)
{
	return (struct rm){ .mem = true, .off = off };
}

/* An operand size and the register/r/m choices for it. Byte operations use
 * AL..BL, AH..BH without REX (legacy) or any low byte but SPL with REX. */
struct opsz {
	unsigned sz;
	bool legacy;
};

static inline unsigned imm_bytes(unsigned sz)
{
	return sz == 8 ? 4 : sz;
}

/* Flags read by condition code cc (SDM Vol. 1 Appendix B). */
static inline uint32_t cc_flags(unsigned cc)
{
	static const uint32_t f[8] = { OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF };
	return f[(cc >> 1) & 7];
}

/* gen.c */
uint64_t rval(struct gen *g);
void enc(struct gen *g, const uint8_t *pfx, int w, bool force_rex, const uint8_t *op,
	 unsigned nop, int regf, struct rm rm);
void set_reg(struct gen *g, int r, int32_t v);
void set_reg64(struct gen *g, int r, uint64_t v);
int pick_gpr(struct gen *g);
uint32_t pick_data(struct gen *g, unsigned size, unsigned align);
struct opsz pick_sz(struct gen *g, bool bytes);
int pick_reg(struct gen *g, struct opsz o);
struct rm pick_rm(struct gen *g, struct opsz o);
struct rm pick_rm_regs(struct gen *g, unsigned size);
void enc_int(struct gen *g, struct opsz o, uint8_t extra_pfx, const uint8_t *op,
	     unsigned nop, bool sizebit, int regf, struct rm rm);
/* gen_sse.c (also used by gen_mmx.c) */
void enc_sse(struct gen *g, uint8_t pfx, int w, uint8_t op, int regf, struct rm rm);
struct rm pick_xrm(struct gen *g, bool unaligned_ok);
/* gen_x87.c (also used by init_state) */
uint16_t x87_cw(struct gen *g);

/* The groups' generators: one instruction (and its set-up glue) each. */
void gen_alu(struct gen *g);
void gen_shift(struct gen *g);
void gen_muldiv(struct gen *g);
void gen_bit(struct gen *g);
void gen_string(struct gen *g);
void gen_stack(struct gen *g);
void gen_sse_int(struct gen *g);
void gen_sse_fp(struct gen *g);
void gen_x87(struct gen *g);
void gen_mmx(struct gen *g);

#endif
