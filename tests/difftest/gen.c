/* The sequence generator and its x86-64 encoder: the core (the encoder, operand
 * pickers, the initial state, dt_generate). Each group's generator has its own
 * file, gen_internal.h lists them.
 *
 * Every case is a pure function of (seed, index): a splitmix64 stream seeded
 * from both picks the group, the initial state and the instructions. The
 * encoder knows only the forms generated here: legacy prefixes, REX, the
 * opcode, a ModRM whose r/m is a register or an absolute [disp32] (SIB
 * 0x25, no base, no index) inside the scratch page, and an immediate. So no
 * memory operand depends on a register value, and every access lands in
 * the scratch page by construction (LEA, string and stack instructions get
 * their registers set up by the generator).
 *
 * Undefined flags (SDM Vol. 1 Appendix A, "EFLAGS Cross-Reference", and
 * each instruction's "Flags Affected"): each instruction records which
 * arithmetic flags it leaves undefined; a later instruction that writes a
 * flag defines it again. Instructions that read flags (ADC, SBB, RCL, RCR,
 * CMC, SETcc, CMOVcc, LAHF, PUSHF) are only generated while the flags they
 * read are defined, and no generated instruction has an undefined result
 * (BSF/BSR get a non-zero source, SHLD/SHRD a count <= the width, no
 * 16-bit BSWAP). */
#include <string.h>

#include "gen_internal.h"

const char *const dt_group_name[G_NR] = {
	"alu", "shift", "muldiv", "bit", "string", "stack", "sse-int", "sse-fp", "x87", "mmx",
};

/* An "interesting" value: edges of every width, small numbers, random bits. */
uint64_t rval(struct gen *g)
{
	static const uint64_t edge[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
		0xffffffff, 0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, ~1ull,
	};
	switch (rn(g, 6)) {
	case 0: return edge[rn(g, sizeof(edge) / sizeof(edge[0]))];
	case 1: return rn(g, 64);
	case 2: return (uint64_t)-(int64_t)rn(g, 64);
	default: return rnd(g);
	}
}

/* Prefixes pfx (0 ends the list), REX.W = w, opcode bytes, ModRM reg field
 * regf, operand rm. force_rex: byte registers SPL..DIL need a REX. */
void enc(struct gen *g, const uint8_t *pfx, int w, bool force_rex, const uint8_t *op,
		unsigned nop, int regf, struct rm rm)
{
	for (; pfx && *pfx; pfx++)
		put(g, *pfx);
	if (rm.mem && rm.a32)
		put(g, 0x67);
	uint8_t rex = 0x40 | (w ? 8 : 0) | (regf >= 8 ? 4 : 0) | (!rm.mem && rm.reg >= 8 ? 1 : 0);
	if (rm.mem && rm.regs)
		rex |= (rm.index >= 8 ? 2 : 0) | (rm.base >= 8 ? 1 : 0);
	if (rex != 0x40 || force_rex)
		put(g, rex);
	for (unsigned i = 0; i < nop; i++)
		put(g, op[i]);
	if (rm.mem && rm.regs) {
		bool d8 = rm.disp >= -128 && rm.disp < 128;
		put(g, (uint8_t)((d8 ? 0x44 : 0x84) | ((regf & 7) << 3)));
		put(g, (uint8_t)((rm.scale << 6) | ((rm.index & 7) << 3) | (rm.base & 7)));
		put_imm(g, (uint32_t)rm.disp, d8 ? 1 : 4);
	} else if (rm.mem && rn(g, 4) == 0) {
		/* RIP-relative: the code is at the same address on both sides. */
		put(g, (uint8_t)(((regf & 7) << 3) | 5));
		g->patch_pos = g->s->len;
		g->patch_target = DT_SCRATCH_VA + rm.off;
		put_imm(g, 0, 4);
	} else if (rm.mem) {
		put(g, (uint8_t)(((regf & 7) << 3) | 4));
		put(g, 0x25);
		put_imm(g, DT_SCRATCH_VA + rm.off, 4);
	} else {
		put(g, (uint8_t)(0xc0 | ((regf & 7) << 3) | (rm.reg & 7)));
	}
}

/* General register other than RSP (the generator owns RSP). */
int pick_gpr(struct gen *g)
{
	int r;
	do
		r = (int)rn(g, 16);
	while (r == 4);
	return r;
}

uint32_t pick_data(struct gen *g, unsigned size, unsigned align)
{
	unsigned slots = (DT_DATA_SZ - 16) / align;
	uint32_t off = DT_DATA_OFF + rn(g, slots) * align;
	(void)size;
	return off;
}

struct opsz pick_sz(struct gen *g, bool bytes)
{
	static const unsigned szs[] = { 1, 2, 4, 8 };
	struct opsz o;
	o.sz = bytes ? szs[rn(g, 4)] : szs[1 + rn(g, 3)];
	o.legacy = o.sz == 1 && rn(g, 3) == 0;
	return o;
}

int pick_reg(struct gen *g, struct opsz o)
{
	return o.legacy ? (int)rn(g, 8) : pick_gpr(g);
}

struct rm pick_rm(struct gen *g, struct opsz o)
{
	if (rn(g, 3) == 0)
		return rm_mem(pick_data(g, o.sz, rn(g, 2) ? o.sz : 1));
	return rm_reg(pick_reg(g, o));
}

/* A memory operand addressed through registers, which this emits MOVs to
 * set up (so call it before the instruction's begin()). */
struct rm pick_rm_regs(struct gen *g, unsigned size)
{
	struct rm rm = { .mem = true, .regs = true };
	uint32_t target = pick_data(g, size, rn(g, 2) ? size : 1);
	rm.base = pick_gpr(g);
	rm.index = rn(g, 4) == 0 ? 4 : pick_gpr(g);
	if (rm.index == rm.base)
		rm.index = 4;
	rm.scale = (int)rn(g, 4);
	rm.disp = rn(g, 2) ? (int32_t)rn(g, 256) - 128 : (int32_t)rn(g, 1 << 20) - (1 << 19);
	int32_t iv = rm.index == 4 ? 0 : (int32_t)rn(g, 64) - 32;
	int64_t bv = (int64_t)(DT_SCRATCH_VA + target) - rm.disp - (int64_t)iv * (1 << rm.scale);
	rm.off = target;
	if (rn(g, 4) == 0) {
		/* 32-bit addressing: only the low halves count, and the sum
		 * wraps at 4 GiB (SDM Vol. 1 §3.7.5.1): garbage in the upper
		 * halves, and a large displacement that makes the base wrap. */
		rm.a32 = true;
		rm.disp = (int32_t)(0x80000000u + rn(g, 0x7fffffff));
		uint32_t b32 = (uint32_t)(DT_SCRATCH_VA + target) - (uint32_t)rm.disp -
			       ((uint32_t)iv << rm.scale);
		set_reg64(g, rm.base, rnd(g) << 32 | b32);
		if (rm.index != 4)
			set_reg64(g, rm.index, rnd(g) << 32 | (uint32_t)iv);
		return rm;
	}
	set_reg(g, rm.base, (int32_t)bv);
	if (rm.index != 4)
		set_reg(g, rm.index, iv);
	return rm;
}

/* Emit an integer instruction of size o: op[] gets its low bit set for
 * non-byte sizes when sizebit is set. */
void enc_int(struct gen *g, struct opsz o, uint8_t extra_pfx, const uint8_t *op,
		    unsigned nop, bool sizebit, int regf, struct rm rm)
{
	uint8_t pfx[3] = { 0 }, opb[4];
	unsigned np = 0;
	/* 66 before a mandatory F2/F3, as the SDM writes POPCNT r16. */
	if (o.sz == 2)
		pfx[np++] = 0x66;
	if (extra_pfx)
		pfx[np++] = extra_pfx;
	memcpy(opb, op, nop);
	if (sizebit && o.sz != 1)
		opb[nop - 1] |= 1;
	enc(g, pfx, o.sz == 8, o.sz == 1 && !o.legacy, opb, nop, regf, rm);
}

/* MOV r64, simm32 (REX.W C7 /0): glue that sets a register exactly. */
void set_reg(struct gen *g, int r, int32_t v)
{
	begin(g);
	static const uint8_t op = 0xc7;
	enc(g, NULL, 1, false, &op, 1, 0, rm_reg(r));
	put_imm(g, (uint32_t)v, 4);
	end(g, 0, 0);
}

/* MOV r64, imm64 (REX.W B8+r). */
void set_reg64(struct gen *g, int r, uint64_t v)
{
	begin(g);
	put(g, (uint8_t)(0x48 | (r >= 8)));
	put(g, (uint8_t)(0xb8 + (r & 7)));
	put_imm(g, v, 8);
	end(g, 0, 0);
}

/* ---- initial state ---- */

static uint64_t rand_f64(struct gen *g)
{
	static const uint64_t sp[] = {
		0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
		0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff4000000000001ull,
		0x0000000000000001ull, 0x000fffffffffffffull, 0x0010000000000000ull,
		0x7fefffffffffffffull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
		0x43e0000000000000ull, 0xc3e0000000000000ull, 0x41e0000000000000ull,
	};
	switch (rn(g, 5)) {
	case 0: return sp[rn(g, sizeof(sp) / sizeof(sp[0]))];
	case 1: { double d = (double)(int)(rn(g, 2001) - 1000) / (1 + rn(g, 8)); uint64_t v;
		memcpy(&v, &d, 8); return v; }
	case 2: return rnd(g);
	default: /* exponent near 1, random mantissa */
		return ((uint64_t)rn(g, 2) << 63) | ((uint64_t)(1023 - 40 + rn(g, 80)) << 52) |
		       (rnd(g) >> 12);
	}
}

static uint32_t rand_f32(struct gen *g)
{
	static const uint32_t sp[] = {
		0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001,
		0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff, 0x3f800000, 0xbf800000,
		0x4f000000, 0xcf000000, 0x5f000000,
	};
	switch (rn(g, 5)) {
	case 0: return sp[rn(g, sizeof(sp) / sizeof(sp[0]))];
	case 1: { float f = (float)(int)(rn(g, 2001) - 1000) / (float)(1 + rn(g, 8)); uint32_t v;
		memcpy(&v, &f, 4); return v; }
	case 2: return (uint32_t)rnd(g);
	default:
		return ((uint32_t)rn(g, 2) << 31) | ((127 - 20 + rn(g, 40)) << 23) |
		       ((uint32_t)rnd(g) >> 9);
	}
}

/* An 80-bit register: special values and encodings (unnormals, pseudo-NaNs,
 * denormals), doubles, numbers near 1, random bits. */
static void rand_f80(struct gen *g, uint8_t *r)
{
	uint64_t m;
	uint16_t se;
	switch (rn(g, 6)) {
	case 0: {
		static const uint64_t mant[] = { 0, 0x8000000000000000ull, 0xc000000000000000ull,
						 0x8000000000000001ull, 0x4000000000000000ull, 1,
						 0xffffffffffffffffull, 0x7fffffffffffffffull };
		static const uint16_t exp[] = { 0, 0x7fff, 0x3fff, 1, 0x7ffe, 0x403e, 0x3ffe };
		m = mant[rn(g, 8)];
		se = (uint16_t)(exp[rn(g, 7)] | rn(g, 2) << 15);
		break;
	}
	case 1: case 2: {
		uint64_t b = rand_f64(g);
		double d;
		long double x;
		memcpy(&d, &b, 8);
		x = d;
		memcpy(&m, &x, 8);
		memcpy(&se, (uint8_t *)&x + 8, 2);
		break;
	}
	case 3: case 4:
		m = rnd(g) | 1ull << 63;
		se = (uint16_t)((0x3fff - 70 + rn(g, 140) + (rn(g, 8) == 0 ? 0x3000 : 0)) |
				 rn(g, 2) << 15);
		break;
	default:
		m = rnd(g);
		se = (uint16_t)rnd(g);
		break;
	}
	memcpy(r, &m, 8);
	memcpy(r + 8, &se, 2);
}

static void init_state(struct gen *g, int grp)
{
	struct dt_state *st = &g->s->init;
	/* x87: as after FNINIT, or (x87 group) any stack, rounding, precision. */
	st->fcw = 0x37f;
	g->env_off = g->fx_off = -1;
	if (grp == G_X87 || grp == G_MMX) {
		st->fcw = x87_cw(g);
		st->ftw = rn(g, 3) == 0 ? 0 : (uint8_t)rnd(g);
		st->fsw = (uint16_t)(rn(g, 8) << 11 | (rnd(g) & 0x4700) |
				     (rn(g, 4) == 0 ? rnd(g) & 0x7f : 0));
		if (st->fsw & ~st->fcw & 0x3f)
			st->fsw |= 0x8080; /* ES and B, as hardware keeps them */
		for (int i = 0; i < 8; i++) {
			rand_f80(g, st->st[i]);
			g->x87_depth += (st->ftw >> i) & 1;
		}
	}
	for (int i = 0; i < 16; i++)
		st->gpr[i] = rval(g);
	st->gpr[4] = DT_SCRATCH_VA + DT_STACK_TOP;
	st->rflags = 0x202 | (rnd(g) & (ALLF | DF));
	for (int i = 0; i < 16; i++) {
		for (int h = 0; h < 2; h++) {
			uint64_t v;
			if (grp == G_SSE_FP || rn(g, 4) == 0) {
				if (rn(g, 2))
					v = rand_f64(g);
				else
					v = rand_f32(g) | (uint64_t)rand_f32(g) << 32;
			} else {
				v = rn(g, 4) == 0 ? rn(g, 70) : rval(g);
			}
			memcpy(&st->xmm[i][h * 8], &v, 8);
		}
	}
	st->mxcsr = 0x1f80;
	if (grp == G_SSE_FP || rn(g, 4) == 0)
		st->mxcsr |= (rn(g, 4) << 13) | (rn(g, 5) == 0 ? 0x8000 : 0) |
			     (rn(g, 5) == 0 ? 0x40 : 0) | (rn(g, 4) == 0 ? rn(g, 64) : 0);
	for (unsigned i = 0; i < DT_SCRATCH_SZ; i += 8) {
		uint64_t v = rnd(g);
		if (i >= DT_STR_OFF && i < DT_STR_OFF + DT_STR_SZ && rn(g, 2))
			v &= 0x0101010101010101ull; /* strings: often equal bytes */
		else if (rn(g, 3) == 0)
			v = rand_f64(g);
		memcpy(&st->scratch[i], &v, 8);
	}
}

int dt_case_group(uint64_t index, int g)
{
	return g >= 0 ? g : (int)(index % G_NR);
}

void dt_generate(uint64_t seed, uint64_t index, int grp, bool excl_known, struct dt_seq *s)
{
	struct gen g = { .s = s, .excl = excl_known };
	memset(s, 0, sizeof(*s));
	g.r = seed * 0x2545f4914f6cdd1dull ^ (index + 1) * 0x9e3779b97f4a7c15ull;
	rnd(&g);
	grp = dt_case_group(index, grp);
	init_state(&g, grp);
	unsigned n = 8 + rn(&g, 25);
	static void (*const gen_fn[G_NR])(struct gen *) = {
		gen_alu, gen_shift, gen_muldiv, gen_bit, gen_string, gen_stack, gen_sse_int,
		gen_sse_fp, gen_x87, gen_mmx,
	};
	for (unsigned i = 0; i < n && s->n < DT_MAX_INSNS - 8 && s->len < DT_CODE_SZ - 128; i++) {
		/* Mostly the group's own instructions, some ALU glue between. */
		unsigned len0 = s->len, n0 = s->n;
		uint32_t undef0 = g.undef;
		int pushed0 = g.pushed;
		if (grp != G_ALU && rn(&g, 6) == 0)
			gen_alu(&g);
		else
			gen_fn[grp](&g);
		/* The CI run leaves out the known bugs: take it back, try again. */
		bool known = false;
		for (unsigned k = n0; excl_known && k < s->n && !known; k++)
			known = dt_known_bug(s->code + s->off[k],
					     (k + 1 < s->n ? s->off[k + 1] : s->len) - s->off[k]);
		if (known) {
			memset(s->code + len0, 0, s->len - len0);
			s->len = len0;
			s->n = n0;
			g.undef = undef0;
			g.pushed = pushed0;
			i--;
		}
	}
	begin(&g);
	put(&g, 0x0f);
	put(&g, 0x0b); /* UD2: the end */
	end(&g, 0, 0);
}
