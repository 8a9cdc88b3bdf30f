/* The sequence generator and its x86-64 encoder.
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

#include "difftest.h"

const char *const dt_group_name[G_NR] = {
	"alu", "shift", "muldiv", "bit", "string", "stack", "sse-int", "sse-fp", "x87", "mmx",
};

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

static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->r += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) % n);
}

/* An "interesting" value: edges of every width, small numbers, random bits. */
static uint64_t rval(struct gen *g)
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

/* ---- emission ---- */

static void put(struct gen *g, uint8_t b)
{
	g->s->code[g->s->len++] = b;
}

static void put_imm(struct gen *g, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		put(g, (uint8_t)(v >> (8 * i)));
}

static void begin(struct gen *g)
{
	g->s->off[g->s->n] = (uint16_t)g->s->len;
}

/* The instruction just emitted writes the flags `writes`, of which `undef`
 * are left undefined. */
static void end(struct gen *g, uint32_t writes, uint32_t undef)
{
	if (g->patch_pos) {
		int32_t d = (int32_t)(g->patch_target - (DT_CODE_VA + g->s->len));
		memcpy(&g->s->code[g->patch_pos], &d, 4);
		g->patch_pos = 0;
	}
	g->undef = (g->undef & ~writes) | undef;
	g->s->undef_after[g->s->n++] = g->undef;
}

static bool defined(struct gen *g, uint32_t flags)
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

static struct rm rm_reg(int r)
{
	return (struct rm){ .mem = false, .reg = r };
}

static struct rm rm_mem(uint32_t off)
{
	return (struct rm){ .mem = true, .off = off };
}

/* Prefixes pfx (0 ends the list), REX.W = w, opcode bytes, ModRM reg field
 * regf, operand rm. force_rex: byte registers SPL..DIL need a REX. */
static void enc(struct gen *g, const uint8_t *pfx, int w, bool force_rex, const uint8_t *op,
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

static void set_reg(struct gen *g, int r, int32_t v);
static void set_reg64(struct gen *g, int r, uint64_t v);

/* General register other than RSP (the generator owns RSP). */
static int pick_gpr(struct gen *g)
{
	int r;
	do
		r = (int)rn(g, 16);
	while (r == 4);
	return r;
}

static uint32_t pick_data(struct gen *g, unsigned size, unsigned align)
{
	unsigned slots = (DT_DATA_SZ - 16) / align;
	uint32_t off = DT_DATA_OFF + rn(g, slots) * align;
	(void)size;
	return off;
}

/* An operand size and the register/r/m choices for it. Byte operations use
 * AL..BL, AH..BH without REX (legacy) or any low byte but SPL with REX. */
struct opsz {
	unsigned sz;
	bool legacy;
};

static struct opsz pick_sz(struct gen *g, bool bytes)
{
	static const unsigned szs[] = { 1, 2, 4, 8 };
	struct opsz o;
	o.sz = bytes ? szs[rn(g, 4)] : szs[1 + rn(g, 3)];
	o.legacy = o.sz == 1 && rn(g, 3) == 0;
	return o;
}

static int pick_reg(struct gen *g, struct opsz o)
{
	return o.legacy ? (int)rn(g, 8) : pick_gpr(g);
}

static struct rm pick_rm(struct gen *g, struct opsz o)
{
	if (rn(g, 3) == 0)
		return rm_mem(pick_data(g, o.sz, rn(g, 2) ? o.sz : 1));
	return rm_reg(pick_reg(g, o));
}

/* A memory operand addressed through registers, which this emits MOVs to
 * set up (so call it before the instruction's begin()). */
static struct rm pick_rm_regs(struct gen *g, unsigned size)
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
static void enc_int(struct gen *g, struct opsz o, uint8_t extra_pfx, const uint8_t *op,
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

static unsigned imm_bytes(unsigned sz)
{
	return sz == 8 ? 4 : sz;
}

/* MOV r64, simm32 (REX.W C7 /0): glue that sets a register exactly. */
static void set_reg(struct gen *g, int r, int32_t v)
{
	begin(g);
	static const uint8_t op = 0xc7;
	enc(g, NULL, 1, false, &op, 1, 0, rm_reg(r));
	put_imm(g, (uint32_t)v, 4);
	end(g, 0, 0);
}

/* MOV r64, imm64 (REX.W B8+r). */
static void set_reg64(struct gen *g, int r, uint64_t v)
{
	begin(g);
	put(g, (uint8_t)(0x48 | (r >= 8)));
	put(g, (uint8_t)(0xb8 + (r & 7)));
	put_imm(g, v, 8);
	end(g, 0, 0);
}

/* Flags read by condition code cc (SDM Vol. 1 Appendix B). */
static uint32_t cc_flags(unsigned cc)
{
	static const uint32_t f[8] = { OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF };
	return f[(cc >> 1) & 7];
}

/* ---- ALU ---- */

static void gen_alu(struct gen *g)
{
	struct opsz o = pick_sz(g, true);
	int r = pick_reg(g, o);
	struct rm rm = rn(g, 8) == 0 ? pick_rm_regs(g, o.sz) : pick_rm(g, o);
	if (rm.regs && o.legacy) {
		/* Address registers R8-R15 need a REX, and with one AH..BH
		 * are SPL..DIL: no high-byte registers here. */
		o.legacy = false;
		r = pick_gpr(g);
	}
	bool lock = rm.mem && rn(g, 4) == 0;
	uint8_t op[3];
	for (;;) {
		switch (rn(g, 24)) {
		case 20: { /* Jcc forward over 1-3 ALU instructions */
			unsigned cc = rn(g, 16);
			if (g->jcc_depth || !defined(g, cc_flags(cc)))
				continue;
			bool near = rn(g, 3) == 0;
			begin(g);
			if (near)
				put(g, 0x0f);
			put(g, (uint8_t)((near ? 0x80 : 0x70) + cc));
			unsigned at = g->s->len;
			put_imm(g, 0, near ? 4 : 1);
			end(g, 0, 0);
			uint32_t u0 = g->undef;
			g->jcc_depth++;
			for (unsigned k = 1 + rn(g, 3); k; k--)
				gen_alu(g);
			g->jcc_depth--;
			int32_t rel = (int32_t)(g->s->len - at - (near ? 4 : 1));
			memcpy(&g->s->code[at], &rel, near ? 4 : 1);
			/* Either path may have run: flags undefined on either are. */
			g->undef |= u0;
			g->s->undef_after[g->s->n - 1] = g->undef;
			return;
		}
		case 22: /* XLAT: AL <- [RBX + AL] (RBX set up to the data area) */
			set_reg(g, 3, (int32_t)(DT_SCRATCH_VA + pick_data(g, 256 + 16, 1) / 2));
			begin(g);
			if (rn(g, 2))
				put(g, 0x48); /* REX.W: no effect on XLAT */
			put(g, 0xd7);
			end(g, 0, 0);
			return;
		case 23: { /* JRCXZ/JECXZ, LOOP/LOOPE/LOOPNE forward over one instruction */
			unsigned kind = rn(g, 4); /* E3 E2 E1 E0 */
			if (g->jcc_depth || ((kind == 2 || kind == 3) && !defined(g, ZF)))
				continue;
			if (rn(g, 2))
				set_reg(g, 1, (int32_t)rn(g, 3));
			begin(g);
			if (rn(g, 4) == 0)
				put(g, 0x67); /* ECX */
			put(g, (uint8_t[]){ 0xe3, 0xe2, 0xe1, 0xe0 }[kind]);
			unsigned at = g->s->len;
			put(g, 0);
			end(g, 0, 0);
			uint32_t u0 = g->undef;
			g->jcc_depth++;
			gen_alu(g);
			g->jcc_depth--;
			g->s->code[at] = (uint8_t)(g->s->len - at - 1);
			g->undef |= u0;
			g->s->undef_after[g->s->n - 1] = g->undef;
			return;
		}
		case 21: { /* CMPXCHG8B / CMPXCHG16B m (CPUID.1:ECX[13]): ZF only */
			bool x16 = rn(g, 2);
			begin(g);
			enc(g, rn(g, 3) == 0 ? (const uint8_t[]){ 0xf0, 0 } : NULL, x16, false,
			    (const uint8_t[]){ 0x0f, 0xc7 }, 2, 1,
			    rm_mem(pick_data(g, 16, x16 ? 16 : (rn(g, 2) ? 8 : 1))));
			end(g, ZF, 0);
			return;
		}
		case 0: case 1: case 2: case 3: case 4: {
			unsigned k = rn(g, 8); /* add or adc sbb and sub xor cmp */
			if ((k == 2 || k == 3) && !defined(g, CF))
				continue;
			uint32_t undef = (k == 1 || k == 4 || k == 6) ? AF : 0;
			begin(g);
			switch (rn(g, 5)) {
			case 0:
				/* Now and then LOCK on a register destination: #UD on
				 * both sides (SDM Vol. 2A "LOCK"). */
				op[0] = (uint8_t)(k * 8);
				enc_int(g, o, (lock && k != 7) || (!rm.mem && rn(g, 64) == 0) ? 0xf0 : 0,
					op, 1, true, r, rm);
				break;
			case 1:
				op[0] = (uint8_t)(k * 8 + 2);
				enc_int(g, o, 0, op, 1, true, r, rm);
				break;
			case 2:
				op[0] = 0x80;
				enc_int(g, o, lock && k != 7 ? 0xf0 : 0, op, 1, true, (int)k, rm);
				put_imm(g, rval(g), imm_bytes(o.sz));
				break;
			case 3:
				op[0] = o.sz == 1 ? 0x80 : 0x83;
				enc_int(g, o, 0, op, 1, false, (int)k, rm);
				put_imm(g, rval(g), 1);
				break;
			default:
				if (o.sz == 2)
					put(g, 0x66);
				if (o.sz == 8)
					put(g, 0x48);
				put(g, (uint8_t)(k * 8 + 4 + (o.sz != 1)));
				put_imm(g, rval(g), imm_bytes(o.sz));
				break;
			}
			end(g, ALLF, undef);
			return;
		}
		case 5: /* TEST */
			begin(g);
			if (rn(g, 2)) {
				op[0] = 0x84;
				enc_int(g, o, 0, op, 1, true, r, rm);
			} else {
				op[0] = 0xf6;
				enc_int(g, o, 0, op, 1, true, 0, rm);
				put_imm(g, rval(g), imm_bytes(o.sz));
			}
			end(g, ALLF, AF);
			return;
		case 6: /* INC, DEC, NOT, NEG */ {
			unsigned k = rn(g, 4);
			begin(g);
			op[0] = k < 2 ? 0xfe : 0xf6;
			enc_int(g, o, lock ? 0xf0 : 0, op, 1, true, k < 2 ? (int)k : (int)k,
				rm);
			end(g, k < 2 ? ALLF & ~CF : k == 2 ? 0 : ALLF, 0);
			return;
		}
		case 7: /* MOV in all its forms */
			begin(g);
			switch (rn(g, 4)) {
			case 0:
				op[0] = 0x88;
				enc_int(g, o, 0, op, 1, true, r, rm);
				break;
			case 1:
				op[0] = 0x8a;
				enc_int(g, o, 0, op, 1, true, r, rm);
				break;
			case 2:
				op[0] = 0xc6;
				enc_int(g, o, 0, op, 1, true, 0, rm);
				put_imm(g, rval(g), imm_bytes(o.sz));
				break;
			default: /* B0+r / B8+r, imm64 with REX.W */
				if (o.sz == 2)
					put(g, 0x66);
				if (o.sz == 8 || r >= 8 || (o.sz == 1 && !o.legacy))
					put(g, (uint8_t)(0x40 | (o.sz == 8 ? 8 : 0) | (r >= 8)));
				put(g, (uint8_t)((o.sz == 1 ? 0xb0 : 0xb8) + (r & 7)));
				put_imm(g, rval(g), o.sz);
				break;
			}
			end(g, 0, 0);
			return;
		case 8: { /* SETcc */
			unsigned cc = rn(g, 16);
			if (!defined(g, cc_flags(cc)))
				continue;
			struct opsz b = { 1, o.legacy };
			begin(g);
			op[0] = 0x0f;
			op[1] = (uint8_t)(0x90 + cc);
			enc_int(g, b, 0, op, 2, false, 0, rm.mem ? rm : rm_reg(pick_reg(g, b)));
			end(g, 0, 0);
			return;
		}
		case 9: { /* CMOVcc */
			unsigned cc = rn(g, 16);
			if (!defined(g, cc_flags(cc)))
				continue;
			struct opsz w = pick_sz(g, false);
			begin(g);
			op[0] = 0x0f;
			op[1] = (uint8_t)(0x40 + cc);
			enc_int(g, w, 0, op, 2, false, pick_gpr(g),
				rm.mem ? rm : rm_reg(pick_gpr(g)));
			end(g, 0, 0);
			return;
		}
		case 10: { /* MOVZX, MOVSX, MOVSXD */
			struct opsz w = pick_sz(g, false);
			unsigned k = rn(g, 5);
			begin(g);
			if (k == 4) {
				/* MOVSXD; without REX.W a plain 32/16-bit move */
				w.sz = rn(g, 3) ? 8 : w.sz;
				op[0] = 0x63;
				enc_int(g, w, 0, op, 1, false, pick_gpr(g),
					rm.mem ? rm : rm_reg(pick_gpr(g)));
			} else {
				op[0] = 0x0f;
				op[1] = (uint8_t)((k & 2 ? 0xbe : 0xb6) | (k & 1));
				/* A byte source register without REX would be AH..BH:
				 * REX is always there for 64-bit or high registers. */
				int src = (k & 1) ? pick_gpr(g) : pick_gpr(g);
				enc(g, w.sz == 2 ? (const uint8_t[]){ 0x66, 0 } : NULL, w.sz == 8,
				    !(k & 1), op, 2, pick_gpr(g), rm.mem ? rm : rm_reg(src));
			}
			end(g, 0, 0);
			return;
		}
		case 11: { /* LEA with base, index, scale, displacement */
			struct opsz w = pick_sz(g, false);
			int base = (int)rn(g, 16), index = (int)rn(g, 16), dst = pick_gpr(g);
			bool d8 = rn(g, 2);
			begin(g);
			if (rn(g, 4) == 0)
				put(g, 0x67);
			if (w.sz == 2)
				put(g, 0x66);
			uint8_t rex = 0x40 | (w.sz == 8 ? 8 : 0) | (dst >= 8 ? 4 : 0) |
				      (index >= 8 ? 2 : 0) | (base >= 8 ? 1 : 0);
			if (rex != 0x40)
				put(g, rex);
			put(g, 0x8d);
			put(g, (uint8_t)((d8 ? 0x40 : 0x80) | ((dst & 7) << 3) | 4));
			put(g, (uint8_t)((rn(g, 4) << 6) | ((index & 7) << 3) | (base & 7)));
			put_imm(g, rval(g), d8 ? 1 : 4);
			end(g, 0, 0);
			return;
		}
		case 12: { /* BSWAP (32/64; 16-bit is undefined) */
			int x = pick_gpr(g);
			begin(g);
			if (rn(g, 2) || x >= 8)
				put(g, (uint8_t)(0x40 | (rn(g, 2) ? 8 : 0) | (x >= 8)));
			put(g, 0x0f);
			put(g, (uint8_t)(0xc8 + (x & 7)));
			end(g, 0, 0);
			return;
		}
		case 13: /* XCHG r/m, r; XCHG rAX, r */
			begin(g);
			if (o.sz != 1 && rn(g, 3) == 0) {
				if (o.sz == 2)
					put(g, 0x66);
				int x = pick_gpr(g);
				if (x == 0)
					x = 8; /* 90 alone is NOP */
				put(g, (uint8_t)(0x40 | (o.sz == 8 ? 8 : 0) | (x >= 8)));
				put(g, (uint8_t)(0x90 + (x & 7)));
			} else {
				op[0] = 0x86;
				enc_int(g, o, lock ? 0xf0 : 0, op, 1, true, r, rm);
			}
			end(g, 0, 0);
			return;
		case 14: /* XADD */
			begin(g);
			op[0] = 0x0f;
			op[1] = 0xc0;
			enc_int(g, o, lock ? 0xf0 : 0, op, 2, true, r, rm);
			end(g, ALLF, 0);
			return;
		case 15: /* CMPXCHG */
			begin(g);
			op[0] = 0x0f;
			op[1] = 0xb0;
			enc_int(g, o, lock ? 0xf0 : 0, op, 2, true, r, rm);
			end(g, ALLF, 0);
			return;
		case 16: { /* CLC, STC, CMC */
			unsigned k = rn(g, 3);
			if (k == 2 && !defined(g, CF))
				continue;
			begin(g);
			put(g, (uint8_t[]){ 0xf8, 0xf9, 0xf5 }[k]);
			end(g, CF, 0);
			return;
		}
		case 17: /* LAHF, SAHF */
			if (rn(g, 2)) {
				if (!defined(g, SF | ZF | AF | PF | CF))
					continue;
				begin(g);
				put(g, 0x9f);
				end(g, 0, 0);
			} else {
				begin(g);
				put(g, 0x9e);
				end(g, SF | ZF | AF | PF | CF, 0);
			}
			return;
		default: { /* CBW/CWDE/CDQE, CWD/CDQ/CQO */
			struct opsz w = pick_sz(g, false);
			begin(g);
			if (w.sz == 2)
				put(g, 0x66);
			if (w.sz == 8)
				put(g, 0x48);
			put(g, rn(g, 2) ? 0x98 : 0x99);
			end(g, 0, 0);
			return;
		}
		}
	}
}

/* ---- shifts and rotates ---- */

static void gen_shift(struct gen *g)
{
	struct opsz o = pick_sz(g, true);
	struct rm rm = pick_rm(g, o);
	unsigned bits = o.sz * 8, k;
	do
		k = rn(g, 8);
	while ((k >= 2 && k <= 3 && !defined(g, CF)));
	/* The count: 0, 1, below the width, the width, above it, masked. */
	unsigned cnt;
	switch (rn(g, 6)) {
	case 0: cnt = 0; break;
	case 1: cnt = 1; break;
	case 2: cnt = bits; break;
	case 3: cnt = rn(g, 256); break;
	default: cnt = rn(g, bits); break;
	}
	unsigned form = rn(g, 3); /* imm8, 1, CL */
	if (form == 1)
		cnt = 1;
	if (rn(g, 6) == 0) {
		/* SHLD/SHRD r/m, r, imm8/CL (16/32/64 bits). */
		struct opsz w = pick_sz(g, false);
		bits = w.sz * 8;
		cnt = rn(g, 3) == 0 ? rn(g, 2) : rn(g, 3) == 0 ? bits - rn(g, 2) : rn(g, 256);
		cnt &= bits == 64 ? 63 : 31;
		if (w.sz == 2 && cnt > 16)
			cnt = rn(g, 17); /* a count above 16 gives an undefined result */
		bool cl = rn(g, 2);
		if (cl)
			set_reg(g, 1, (int32_t)(cnt | (rn(g, 8) << 8 & ~0xffu)));
		begin(g);
		uint8_t op[2] = { 0x0f, (uint8_t)((rn(g, 2) ? 0xa4 : 0xac) + cl) };
		int src = pick_gpr(g);
		enc_int(g, w, 0, op, 2, false, src, rm.mem ? rm : rm_reg(pick_gpr(g)));
		if (!cl)
			put(g, (uint8_t)cnt);
		unsigned m = cnt;
		end(g, m ? ALLF : 0, m ? AF | (m != 1 ? OF : 0) : 0);
		return;
	}
	if (form == 2)
		set_reg(g, 1, (int32_t)(cnt | (rn(g, 256) << 8)));
	begin(g);
	uint8_t op = form == 0 ? 0xc0 : form == 1 ? 0xd0 : 0xd2;
	enc_int(g, o, 0, &op, 1, true, (int)k, rm);
	if (form == 0)
		put(g, (uint8_t)cnt);
	unsigned m = cnt & (bits == 64 ? 63 : 31);
	uint32_t writes = 0, undef = 0;
	if (m) {
		if (k < 4) { /* ROL ROR RCL RCR: CF and OF only */
			writes = CF | OF;
			undef = m != 1 ? OF : 0;
		} else {
			writes = ALLF;
			undef = AF | (m != 1 ? OF : 0);
			/* CF is undefined for SHL/SHR by the width or more. */
			if (k != 7 && m >= bits)
				undef |= CF;
		}
	}
	end(g, writes, undef);
}

/* ---- multiply and divide ---- */

static void gen_muldiv(struct gen *g)
{
	struct opsz o = pick_sz(g, true);
	uint8_t op[2];
	switch (rn(g, 5)) {
	case 0: { /* MUL, IMUL r/m (one operand) */
		begin(g);
		op[0] = 0xf6;
		enc_int(g, o, 0, op, 1, true, rn(g, 2) ? 4 : 5, pick_rm(g, o));
		end(g, ALLF, SF | ZF | AF | PF);
		return;
	}
	case 1: { /* IMUL r, r/m; IMUL r, r/m, imm */
		struct opsz w = pick_sz(g, false);
		struct rm rm = pick_rm(g, w);
		begin(g);
		switch (rn(g, 3)) {
		case 0:
			op[0] = 0x0f;
			op[1] = 0xaf;
			enc_int(g, w, 0, op, 2, false, pick_gpr(g), rm);
			break;
		case 1:
			op[0] = 0x6b;
			enc_int(g, w, 0, op, 1, false, pick_gpr(g), rm);
			put_imm(g, rval(g), 1);
			break;
		default:
			op[0] = 0x69;
			enc_int(g, w, 0, op, 1, false, pick_gpr(g), rm);
			put_imm(g, rval(g), imm_bytes(w.sz));
			break;
		}
		end(g, ALLF, SF | ZF | AF | PF);
		return;
	}
	default: { /* DIV, IDIV: mostly set up not to fault; else random */
		bool sgn = rn(g, 2), safe = rn(g, 8) != 0;
		struct rm rm = pick_rm(g, o);
		if (!rm.mem) {
			/* Not the dividend's registers (AL/AH for bytes, rAX/rDX). */
			while (rm.reg == 0 || rm.reg == 2 || (o.legacy && rm.reg == 4))
				rm = rm_reg(pick_reg(g, o));
		}
		if (safe) {
			begin(g);
			if (o.sz == 1) {
				if (sgn) { put(g, 0x66); put(g, 0x98); }          /* CBW */
				else { put(g, 0x0f); put(g, 0xb6); put(g, 0xc0); } /* MOVZX EAX, AL */
				end(g, 0, 0);
			} else if (sgn) {
				if (o.sz == 2) put(g, 0x66);
				if (o.sz == 8) put(g, 0x48);
				put(g, 0x99); /* CWD/CDQ/CQO */
				end(g, 0, 0);
			} else {
				put(g, 0x31); put(g, 0xd2); /* XOR EDX, EDX */
				end(g, ALLF, 0);
			}
			/* OR divisor, 1: never zero. */
			begin(g);
			op[0] = o.sz == 1 ? 0x80 : 0x83;
			enc_int(g, o, 0, op, 1, false, 1, rm);
			put(g, 1);
			end(g, ALLF, AF);
		}
		begin(g);
		op[0] = 0xf6;
		enc_int(g, o, 0, op, 1, true, sgn ? 7 : 6, rm);
		end(g, ALLF, ALLF);
		return;
	}
	}
}

/* ---- bit operations ---- */

static void gen_bit(struct gen *g)
{
	struct opsz w = pick_sz(g, false);
	uint8_t op[3];
	switch (rn(g, 6)) {
	case 0: case 1: { /* BT/BTS/BTR/BTC r/m, r */
		unsigned k = rn(g, 4);
		int r = pick_gpr(g);
		struct rm rm;
		if (rn(g, 2)) {
			/* Memory: the bit offset reaches beyond the operand
			 * (SDM BT "bit base"); keep it inside the data area. */
			uint32_t base = 256 + rn(g, 1024);
			set_reg(g, r, (int32_t)(rn(g, 6000)) - 2048);
			rm = rm_mem(base);
		} else {
			rm = rm_reg(pick_gpr(g));
		}
		begin(g);
		op[0] = 0x0f;
		op[1] = (uint8_t)(0xa3 + k * 8);
		enc_int(g, w, !rm.mem || k == 0 || rn(g, 2) ? 0 : 0xf0, op, 2, false, r, rm);
		/* ZF is unaffected (SDM "BT"); the AMD hosts seen so far
		 * agree. OF SF AF PF are undefined. */
		end(g, ALLF & ~ZF, OF | SF | AF | PF);
		return;
	}
	case 2: { /* BT* r/m, imm8 */
		unsigned k = 4 + rn(g, 4);
		struct rm rm = pick_rm(g, w);
		begin(g);
		op[0] = 0x0f;
		op[1] = 0xba;
		enc_int(g, w, 0, op, 2, false, (int)k, rm);
		put(g, (uint8_t)rnd(g));
		end(g, ALLF & ~ZF, OF | SF | AF | PF);
		return;
	}
	case 3: case 4: { /* BSF/BSR of a non-zero source (BTS sets a bit first) */
		struct rm rm = pick_rm(g, w);
		begin(g);
		op[0] = 0x0f;
		op[1] = 0xba;
		enc_int(g, w, 0, op, 2, false, 5, rm);
		put(g, (uint8_t)rn(g, w.sz * 8));
		end(g, ALLF & ~ZF, OF | SF | AF | PF);
		begin(g);
		op[1] = rn(g, 2) ? 0xbc : 0xbd;
		enc_int(g, w, 0, op, 2, false, pick_gpr(g), rm);
		end(g, ALLF, ALLF & ~ZF);
		return;
	}
	default: /* POPCNT (CPUID.1:ECX[23]) */
		begin(g);
		op[0] = 0x0f;
		op[1] = 0xb8;
		enc_int(g, w, 0xf3, op, 2, false, pick_gpr(g), pick_rm(g, w));
		end(g, ALLF, 0);
		return;
	}
}

/* ---- string instructions ---- */

static void gen_string(struct gen *g)
{
	static const unsigned szs[] = { 1, 2, 4, 8 };
	unsigned kind = rn(g, 5); /* MOVS STOS LODS CMPS SCAS */
	unsigned sz = szs[rn(g, 4)];
	bool df = rn(g, 2), rep = rn(g, 4) != 0;
	bool cmp = kind >= 3;
	unsigned count = rep ? (cmp ? 1 + rn(g, 16) : rn(g, 17)) : rn(g, 3);
	unsigned iters = rep ? count : 1;
	unsigned span = iters * sz + 8;
	uint32_t soff, doff;
	if (!df) {
		soff = DT_STR_OFF + rn(g, DT_STR_SZ - span);
		doff = DT_STR_OFF + rn(g, DT_STR_SZ - span);
	} else {
		soff = DT_STR_OFF + span + rn(g, DT_STR_SZ - span - 8);
		doff = DT_STR_OFF + span + rn(g, DT_STR_SZ - span - 8);
	}
	begin(g);
	put(g, df ? 0xfd : 0xfc); /* STD / CLD */
	end(g, DF, 0);
	set_reg(g, 6, (int32_t)(DT_SCRATCH_VA + soff));
	set_reg(g, 7, (int32_t)(DT_SCRATCH_VA + doff));
	/* Upper RCX bits above the address size are ignored with 0x67. */
	set_reg(g, 1, (int32_t)count);
	begin(g);
	if (rep)
		put(g, cmp && rn(g, 2) ? 0xf2 : 0xf3);
	if (sz == 2)
		put(g, 0x66);
	if (rn(g, 8) == 0)
		put(g, 0x67);
	if (sz == 8)
		put(g, 0x48);
	static const uint8_t base[5] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
	put(g, (uint8_t)(base[kind] + (sz != 1)));
	end(g, cmp ? ALLF : 0, 0);
}

/* ---- stack ---- */

static void gen_stack(struct gen *g)
{
	for (;;) {
		unsigned k = rn(g, 10);
		bool w16 = rn(g, 6) == 0;
		unsigned sz = w16 ? 2 : 8;
		bool push = k < 5;
		if (push && g->pushed + 8 > 700)
			continue;
		if (!push && k < 8 && g->pushed - (int)sz < -200)
			continue;
		begin(g);
		switch (k) {
		case 0: { /* PUSH r */
			int r = pick_gpr(g);
			if (w16) put(g, 0x66);
			if (r >= 8) put(g, 0x41);
			put(g, (uint8_t)(0x50 + (r & 7)));
			break;
		}
		case 1: /* PUSH imm8 / imm32 */
			if (w16) put(g, 0x66);
			if (rn(g, 2)) {
				put(g, 0x6a);
				put(g, (uint8_t)rval(g));
			} else {
				put(g, 0x68);
				put_imm(g, rval(g), w16 ? 2 : 4);
			}
			break;
		case 2: /* PUSH m */
			enc(g, w16 ? (const uint8_t[]){ 0x66, 0 } : NULL, 0, false,
			    (const uint8_t[]){ 0xff }, 1, 6, rm_mem(pick_data(g, sz, 1)));
			break;
		case 3: /* CALL to the next instruction: pushes its address */
			sz = 8;
			put(g, 0xe8);
			put_imm(g, 0, 4);
			break;
		case 4: /* PUSHFQ (bits that are not flags: IF=1, bit 1) */
			if (!defined(g, ALLF)) {
				g->s->len = g->s->off[g->s->n];
				continue;
			}
			sz = 8;
			put(g, 0x9c);
			break;
		case 5: case 6: { /* POP r */
			int r = pick_gpr(g);
			if (w16) put(g, 0x66);
			if (r >= 8) put(g, 0x41);
			put(g, (uint8_t)(0x58 + (r & 7)));
			break;
		}
		case 9: { /* ENTER size, level; LEAVE: RBP on the scratch stack */
			if (g->pushed + 8 * 5 + 64 > 700) {
				g->s->len = g->s->off[g->s->n];
				continue;
			}
			g->s->len = g->s->off[g->s->n];
			/* RBP points into the stack area: ENTER with a level > 0
			 * copies frame pointers from below it. */
			set_reg(g, 5, (int32_t)(DT_SCRATCH_VA + DT_STACK_TOP - 64 + rn(g, 8) * 8));
			begin(g);
			if (rn(g, 6) == 0)
				put(g, 0x66);
			put(g, 0xc8);
			put_imm(g, rn(g, 64), 2);
			put(g, (uint8_t)rn(g, 4));
			end(g, 0, 0);
			begin(g);
			put(g, 0xc9);
			end(g, 0, 0);
			return;
		}
		case 7: /* POP m */
			enc(g, w16 ? (const uint8_t[]){ 0x66, 0 } : NULL, 0, false,
			    (const uint8_t[]){ 0x8f }, 1, 0, rm_mem(pick_data(g, sz, 1)));
			break;
		default: /* data for the stack: an ALU instruction */
			g->s->len = g->s->off[g->s->n];
			gen_alu(g);
			return;
		}
		g->pushed += push ? (int)sz : -(int)sz;
		end(g, 0, 0);
		return;
	}
}

/* ---- SSE/SSE2 ---- */

/* pfx: 0 or 0x66/0xf2/0xf3; op: the byte after 0F; w: REX.W. */
static void enc_sse(struct gen *g, uint8_t pfx, int w, uint8_t op, int regf, struct rm rm)
{
	uint8_t p[2] = { pfx, 0 };
	uint8_t o[2] = { 0x0f, op };
	enc(g, pfx ? p : NULL, w, false, o, 2, regf, rm);
}

static struct rm pick_xrm(struct gen *g, bool unaligned_ok)
{
	/* Rarely a misaligned operand where 16-byte alignment is required:
	 * #GP on both sides (SDM Vol. 1 §11.4.1 / §11.6.6 ... "16-byte aligned"). */
	if (rn(g, 3) == 0)
		return rm_mem(pick_data(g, 16, (unaligned_ok && rn(g, 2)) || rn(g, 64) == 0 ? 1 : 16));
	return rm_reg((int)rn(g, 16));
}

static void gen_sse_int(struct gen *g)
{
	/* 66 0F xx xmm, xmm/m128 */
	static const uint8_t bin[] = {
		0xdb, 0xeb, 0xef, 0xdf, 0xfc, 0xfd, 0xfe, 0xd4, 0xf8, 0xf9, 0xfa, 0xfb, 0xec,
		0xed, 0xdc, 0xdd, 0xe8, 0xe9, 0xd8, 0xd9, 0x74, 0x75, 0x76, 0x64, 0x65, 0x66,
		0xda, 0xde, 0xea, 0xee, 0x60, 0x61, 0x62, 0x6c, 0x68, 0x69, 0x6a, 0x6d, 0x63,
		0x6b, 0x67, 0xd5, 0xe5, 0xe4, 0xf4, 0xf5, 0xf6, 0xe0, 0xe3, 0xd1, 0xd2, 0xd3,
		0xe1, 0xe2, 0xf1, 0xf2, 0xf3, 0x54, 0x55, 0x56, 0x57, 0x14, 0x15,
	};
	int x = (int)rn(g, 16);
	unsigned k = rn(g, 17);
	if (k == 15) {
		/* MASKMOVDQU xmm, xmm: the selected bytes to [RDI] (or [EDI]
		 * with 0x67), RDI set up into the data area beforehand. */
		bool a32 = rn(g, 4) == 0;
		uint32_t off = pick_data(g, 16, 1);
		if (a32)
			set_reg64(g, 7, rnd(g) << 32 | (uint32_t)(DT_SCRATCH_VA + off));
		else
			set_reg(g, 7, (int32_t)(DT_SCRATCH_VA + off));
		begin(g);
		enc(g, a32 ? (const uint8_t[]){ 0x67, 0x66, 0 } : (const uint8_t[]){ 0x66, 0 }, 0,
		    false, (const uint8_t[]){ 0x0f, 0xf7 }, 2, x, rm_reg((int)rn(g, 16)));
		end(g, 0, 0);
		return;
	}
	if (k == 16) {
		/* LFENCE, MFENCE, SFENCE; PREFETCHNTA/T0/T1/T2 m8; CLFLUSH m8 */
		begin(g);
		switch (rn(g, 3)) {
		case 0:
			put(g, 0x0f);
			put(g, 0xae);
			put(g, (uint8_t[]){ 0xe8, 0xf0, 0xf8 }[rn(g, 3)]);
			break;
		case 1:
			enc(g, NULL, 0, false, (const uint8_t[]){ 0x0f, 0x18 }, 2, (int)rn(g, 4),
			    rm_mem(pick_data(g, 1, 1)));
			break;
		default:
			enc(g, NULL, 0, false, (const uint8_t[]){ 0x0f, 0xae }, 2, 7,
			    rm_mem(pick_data(g, 1, 1)));
			break;
		}
		end(g, 0, 0);
		return;
	}
	begin(g);
	switch (k) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		enc_sse(g, 0x66, 0, bin[rn(g, sizeof(bin))], x, pick_xrm(g, false));
		break;
	case 6: /* PSHUFD, PSHUFHW, PSHUFLW; SHUFPS, SHUFPD */
		if (rn(g, 3) == 0)
			enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, 0xc6, x, pick_xrm(g, false));
		else
			enc_sse(g, (uint8_t[]){ 0x66, 0xf3, 0xf2 }[rn(g, 3)], 0, 0x70, x,
				pick_xrm(g, false));
		put(g, (uint8_t)rnd(g));
		break;
	case 7: { /* shifts by imm8: 71/72 /2 /4 /6, 73 /2 /3 /6 /7 */
		unsigned op = 0x71 + rn(g, 3);
		static const int ext[3][4] = { { 2, 4, 6, 2 }, { 2, 4, 6, 6 }, { 2, 3, 6, 7 } };
		enc_sse(g, 0x66, 0, (uint8_t)op, ext[op - 0x71][rn(g, 4)], rm_reg(x));
		put(g, (uint8_t)(rn(g, 2) ? rn(g, 20) : rnd(g)));
		break;
	}
	case 8: /* PMOVMSKB, MOVMSKPS, MOVMSKPD r32, xmm */
		if (rn(g, 2))
			enc_sse(g, 0x66, 0, 0xd7, pick_gpr(g), rm_reg(x));
		else
			enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, 0x50, pick_gpr(g), rm_reg(x));
		break;
	case 9: /* MOVDQA/MOVDQU/MOVAPS/MOVUPS loads and stores */
		switch (rn(g, 4)) {
		case 0: enc_sse(g, 0x66, 0, rn(g, 2) ? 0x6f : 0x7f, x, pick_xrm(g, false)); break;
		case 1: enc_sse(g, 0xf3, 0, rn(g, 2) ? 0x6f : 0x7f, x, pick_xrm(g, true)); break;
		case 2: enc_sse(g, 0, 0, rn(g, 2) ? 0x28 : 0x29, x, pick_xrm(g, false)); break;
		default: enc_sse(g, 0, 0, rn(g, 2) ? 0x10 : 0x11, x, pick_xrm(g, true)); break;
		}
		break;
	case 10: { /* MOVD/MOVQ between GPRs/memory and XMM; MOVQ xmm forms */
		int w = rn(g, 2);
		struct rm rm = rn(g, 3) ? rm_reg(pick_gpr(g)) : rm_mem(pick_data(g, 8, 1));
		switch (rn(g, 4)) {
		case 0: enc_sse(g, 0x66, w, 0x6e, x, rm); break;
		case 1: enc_sse(g, 0x66, w, 0x7e, x, rm); break;
		case 2: enc_sse(g, 0xf3, 0, 0x7e, x, rn(g, 2) ? rm_reg((int)rn(g, 16)) : rm); break;
		default: enc_sse(g, 0x66, 0, 0xd6, x, rn(g, 2) ? rm_reg((int)rn(g, 16)) : rm); break;
		}
		break;
	}
	case 11: /* PINSRW xmm, r32/m16, imm8; PEXTRW r32, xmm, imm8 */
		if (rn(g, 2))
			enc_sse(g, 0x66, 0, 0xc4, x,
				rn(g, 2) ? rm_reg(pick_gpr(g)) : rm_mem(pick_data(g, 2, 1)));
		else
			enc_sse(g, 0x66, 0, 0xc5, pick_gpr(g), rm_reg(x));
		put(g, (uint8_t)rnd(g));
		break;
	case 12: /* MOVSS/MOVSD loads, stores and register merges */
		enc_sse(g, rn(g, 2) ? 0xf3 : 0xf2, 0, rn(g, 2) ? 0x10 : 0x11, x,
			rn(g, 2) ? rm_reg((int)rn(g, 16)) : rm_mem(pick_data(g, 8, 1)));
		break;
	case 13: /* MOVAPD/MOVUPD, UNPCKLPS/UNPCKHPS, MOVNTI, MOVNTDQ/MOVNTPS/MOVNTPD */
		switch (rn(g, 4)) {
		case 0: enc_sse(g, 0x66, 0, (uint8_t)(rn(g, 2) ? 0x28 : 0x10) + rn(g, 2), x,
				pick_xrm(g, false)); break;
		case 1: enc_sse(g, 0, 0, rn(g, 2) ? 0x14 : 0x15, x, pick_xrm(g, false)); break;
		case 2: enc_sse(g, 0, rn(g, 2), 0xc3, pick_gpr(g), rm_mem(pick_data(g, 8, 4))); break;
		default:
			if (rn(g, 2)) /* MOVNTDQ (NP 0F E7 would be the MMX MOVNTQ) */
				enc_sse(g, 0x66, 0, 0xe7, x, rm_mem(pick_data(g, 16, 16)));
			else /* MOVNTPS, MOVNTPD */
				enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, 0x2b, x,
					rm_mem(pick_data(g, 16, 16)));
			break;
		}
		break;
	default: /* MOVHLPS/MOVLHPS; MOVLPS/MOVHPS/MOVLPD/MOVHPD */
		if (rn(g, 2))
			enc_sse(g, 0, 0, rn(g, 2) ? 0x12 : 0x16, x, rm_reg((int)rn(g, 16)));
		else
			enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, (uint8_t)(0x12 + rn(g, 2) + 4 * rn(g, 2)),
				x, rm_mem(pick_data(g, 8, 1)));
		break;
	}
	end(g, 0, 0);
}

/* Not generated: RCPPS/RCPSS/RSQRTPS/RSQRTSS. Their results are
 * approximations whose bits the SDM leaves to the implementation (only the
 * relative error is bounded, 1.5 * 2^-12); Intel and AMD differ, and the
 * soft CPU computes its own (exec_sse_rcp.c), so a bit-exact comparison
 * with the host would fail by design (KNOWN.md, "Not a bug" #3). The unit
 * test test_soft_sse2.c checks them against the bound and the host. */
static void gen_sse_fp(struct gen *g)
{
	static const uint8_t pfx4[4] = { 0, 0x66, 0xf3, 0xf2 };
	static const uint8_t arith[] = { 0x51, 0x58, 0x59, 0x5c, 0x5d, 0x5e, 0x5f };
	int x = (int)rn(g, 16);
	uint32_t writes = 0;
	switch (rn(g, 10)) {
	case 0: case 1: case 2: case 3:
		begin(g);
		enc_sse(g, pfx4[rn(g, 4)], 0, arith[rn(g, sizeof(arith))], x, pick_xrm(g, false));
		break;
	case 4: /* CMPPS/PD/SS/SD with predicates 0-7 */
		begin(g);
		enc_sse(g, pfx4[rn(g, 4)], 0, 0xc2, x, pick_xrm(g, false));
		/* Now and then imm8[7:3] set: the legacy encodings ignore it. */
		put(g, (uint8_t)(rn(g, 8) | (rn(g, 8) == 0 ? rnd(g) & 0xf8 : 0)));
		break;
	case 5: /* UCOMISS/SD, COMISS/SD: ZF PF CF, OF SF AF cleared */
		begin(g);
		enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, rn(g, 2) ? 0x2e : 0x2f, x, pick_xrm(g, false));
		writes = ALLF;
		break;
	case 6: { /* CVT between packed/scalar single/double/dword */
		static const uint8_t cv[][2] = {
			{ 0, 0x5a }, { 0x66, 0x5a }, { 0xf3, 0x5a }, { 0xf2, 0x5a }, { 0, 0x5b },
			{ 0x66, 0x5b }, { 0xf3, 0x5b }, { 0xf3, 0xe6 }, { 0xf2, 0xe6 }, { 0x66, 0xe6 },
		};
		unsigned i = rn(g, sizeof(cv) / sizeof(cv[0]));
		begin(g);
		enc_sse(g, cv[i][0], 0, cv[i][1], x, pick_xrm(g, false));
		break;
	}
	case 7: { /* CVTSI2SS/SD, CVT(T)SS/SD2SI */
		int w = rn(g, 2);
		begin(g);
		if (rn(g, 2))
			enc_sse(g, rn(g, 2) ? 0xf3 : 0xf2, w, 0x2a, x,
				rn(g, 3) ? rm_reg(pick_gpr(g)) : rm_mem(pick_data(g, 8, 1)));
		else
			enc_sse(g, rn(g, 2) ? 0xf3 : 0xf2, w, rn(g, 2) ? 0x2c : 0x2d, pick_gpr(g),
				rn(g, 3) ? rm_reg(x) : rm_mem(pick_data(g, 8, 1)));
		break;
	}
	case 8: { /* LDMXCSR of a valid value (all exceptions masked); STMXCSR */
		uint32_t off = pick_data(g, 4, 4);
		if (rn(g, 3)) {
			uint32_t v = 0x1f80 | (rn(g, 4) << 13) | (rn(g, 4) == 0 ? 0x8000 : 0) |
				     (rn(g, 4) == 0 ? 0x40 : 0) | (rn(g, 3) == 0 ? rn(g, 64) : 0);
			/* Sometimes unmask exceptions: the next one raises #XM
			 * (SDM Vol. 1 §11.5) on both sides, with the flags of
			 * SDM Vol. 1 §11.5.2 (KNOWN.md "Fixed" 3 and 4). */
			if (rn(g, 4) == 0)
				v &= ~((uint32_t)rn(g, 64) << 7);
			begin(g);
			enc(g, NULL, 0, false, (const uint8_t[]){ 0xc7 }, 1, 0, rm_mem(off));
			put_imm(g, v, 4);
			end(g, 0, 0);
			begin(g);
			enc(g, NULL, 0, false, (const uint8_t[]){ 0x0f, 0xae }, 2, 2, rm_mem(off));
		} else {
			begin(g);
			enc(g, NULL, 0, false, (const uint8_t[]){ 0x0f, 0xae }, 2, 3, rm_mem(off));
		}
		break;
	}
	default: /* logic on FP data: AND/ANDN/OR/XOR PS/PD */
		begin(g);
		enc_sse(g, rn(g, 2) ? 0x66 : 0, 0, (uint8_t)(0x54 + rn(g, 4)), x,
			pick_xrm(g, false));
		break;
	}
	end(g, writes, 0);
}


/* ---- x87 ---- */

static void x87_rm(struct gen *g, uint8_t pfx, uint8_t esc, int regf, struct rm rm)
{
	uint8_t p[2] = { pfx, 0 };
	enc(g, pfx ? p : NULL, 0, false, &esc, 1, regf, rm);
}

static void x87_reg(struct gen *g, uint8_t esc, unsigned modrm)
{
	begin(g);
	put(g, esc);
	put(g, (uint8_t)modrm);
	end(g, 0, 0);
}

/* A memory operand of size bytes: absolute, RIP-relative or through
 * registers (whose MOVs come first: call before begin()). */
static struct rm x87_mem(struct gen *g, unsigned size)
{
	if (rn(g, 4) == 0)
		return pick_rm_regs(g, size);
	return rm_mem(pick_data(g, size, rn(g, 2) ? (size >= 8 ? 8 : size) : 1));
}

/* MOV word/dword/qword [off], imm (66 C7 /0 iw, C7 /0 id, REX.W C7 /0 id). */
static void mov_mem(struct gen *g, uint32_t off, unsigned size, uint32_t v)
{
	begin(g);
	if (size == 2)
		put(g, 0x66);
	enc(g, NULL, size == 8, false, (const uint8_t[]){ 0xc7 }, 1, 0, rm_mem(off));
	put_imm(g, v, size == 2 ? 2 : 4);
	end(g, 0, 0);
}

/* A control word: any rounding, precision control 0, 2, 3 (rarely the
 * reserved 1), exceptions masked except now and then (the next waiting
 * instruction after an unmasked exception takes #MF on both sides). */
static uint16_t x87_cw(struct gen *g)
{
	static const unsigned pc[] = { 3, 3, 2, 0, 3, 2, 0, 1 };
	uint16_t cw = (uint16_t)(0x40 | 0x3f | rn(g, 4) << 10 | pc[rn(g, 8)] << 8);
	if (rn(g, 8) == 0)
		cw |= 0x1000;
	if (rn(g, 10) == 0)
		cw &= (uint16_t)~(1u << rn(g, 6));
	return cw;
}

static void gen_x87(struct gen *g)
{
	/* Loads push; stores with P pop. Steer towards a half-full stack,
	 * overflows and underflows still happen. */
	bool want_push = g->x87_depth < 2 || (g->x87_depth < 7 && rn(g, 2));
	unsigned i = rn(g, 8);
	switch (rn(g, 24)) {
	case 0: case 1: case 2: { /* FLD m32/m64/m80, FILD m16/m32/m64, FBLD */
		static const uint8_t esc[] = { 0xd9, 0xdd, 0xdb, 0xdf, 0xdb, 0xdf, 0xdf };
		static const uint8_t reg[] = { 0, 0, 5, 0, 0, 5, 4 };
		static const uint8_t len[] = { 4, 8, 10, 2, 4, 8, 10 };
		if (!want_push && rn(g, 2))
			goto pop;
		unsigned k = rn(g, 13) == 0 ? 6 : rn(g, 6);
		struct rm rm = x87_mem(g, len[k]);
		begin(g);
		x87_rm(g, 0, esc[k], reg[k], rm);
		end(g, 0, 0);
		g->x87_depth++;
		break;
	}
	case 3: /* FLD ST(i), FLD1..FLDZ */
		if (rn(g, 2))
			x87_reg(g, 0xd9, 0xc0 + i);
		else
			x87_reg(g, 0xd9, 0xe8 + rn(g, 7));
		g->x87_depth++;
		break;
	case 4: case 5: pop: { /* FST(P) m32/m64, FSTP m80, FIST(P), FISTTP, FBSTP */
		static const uint8_t esc[] = { 0xd9, 0xd9, 0xdd, 0xdd, 0xdb, 0xdf, 0xdf, 0xdb,
					       0xdb, 0xdf, 0xdf, 0xdb, 0xdd, 0xdf };
		static const uint8_t reg[] = { 2, 3, 2, 3, 7, 2, 3, 2, 3, 7, 1, 1, 1, 6 };
		static const uint8_t len[] = { 4, 4, 8, 8, 10, 2, 2, 4, 4, 8, 2, 4, 8, 10 };
		unsigned k = rn(g, 14);
		struct rm rm = x87_mem(g, len[k]);
		begin(g);
		x87_rm(g, 0, esc[k], reg[k], rm);
		end(g, 0, 0);
		if (reg[k] != 2)
			g->x87_depth--;
		break;
	}
	case 6: /* FST/FSTP ST(i) */
		x87_reg(g, 0xdd, (rn(g, 2) ? 0xd0 : 0xd8) + i);
		break;
	case 7: case 8: case 9: { /* arithmetic on registers, P forms */
		unsigned k = rn(g, 3);
		unsigned m = k == 0  ? 0xc0 + rn(g, 64) :
			     rn(g, 3) ? 0xe0 + rn(g, 32) : 0xc0 + rn(g, 16);
		x87_reg(g, k == 0 ? 0xd8 : k == 1 ? 0xdc : 0xde, m);
		if (k == 2)
			g->x87_depth--;
		break;
	}
	case 10: case 11: { /* arithmetic, FCOM(P), FICOM(P) with m32fp/m64fp/m32int/m16int */
		static const uint8_t esc[] = { 0xd8, 0xdc, 0xda, 0xde };
		static const uint8_t len[] = { 4, 8, 4, 2 };
		unsigned k = rn(g, 4);
		struct rm rm = x87_mem(g, len[k]);
		begin(g);
		x87_rm(g, 0, esc[k], (int)i, rm);
		end(g, 0, 0);
		break;
	}
	case 12: { /* FCHS FABS FTST FXAM FSQRT FRNDINT FSCALE FXTRACT FPREM FPREM1
		    * FDECSTP FINCSTP FNOP */
		static const uint8_t op[] = { 0xe0, 0xe1, 0xe4, 0xe5, 0xfa, 0xfc, 0xfd, 0xf4,
					      0xf8, 0xf5, 0xf6, 0xf7, 0xd0, 0xf8, 0xf5 };
		x87_reg(g, 0xd9, op[rn(g, sizeof(op))]);
		break;
	}
	case 13: { /* F2XM1 FYL2X FPTAN FPATAN FYL2XP1 FSINCOS FSIN FCOS */
		static const uint8_t op[] = { 0xf0, 0xf1, 0xf2, 0xf3, 0xf9, 0xfb, 0xfe, 0xff };
		x87_reg(g, 0xd9, op[rn(g, sizeof(op))]);
		break;
	}
	case 14: /* FCOM FCOMP FUCOM FUCOMP ST(i), FCOMPP, FUCOMPP */
		switch (rn(g, 6)) {
		case 0: x87_reg(g, 0xd8, 0xd0 + i); break;
		case 1: x87_reg(g, 0xd8, 0xd8 + i); break;
		case 2: x87_reg(g, 0xdd, 0xe0 + i); break;
		case 3: x87_reg(g, 0xdd, 0xe8 + i); break;
		case 4: x87_reg(g, 0xde, 0xd9); break;
		default: x87_reg(g, 0xda, 0xe9); break;
		}
		break;
	case 15: { /* FCOMI FUCOMI FCOMIP FUCOMIP: ZF PF CF, OF SF AF cleared */
		static const uint8_t esc[] = { 0xdb, 0xdb, 0xdf, 0xdf };
		static const uint8_t op[] = { 0xf0, 0xe8, 0xf0, 0xe8 };
		unsigned k = rn(g, 4);
		begin(g);
		put(g, esc[k]);
		put(g, (uint8_t)(op[k] + i));
		end(g, ALLF, 0);
		break;
	}
	case 16: /* FCMOVcc: reads CF, ZF, PF */
		if (defined(g, CF | ZF | PF))
			x87_reg(g, rn(g, 2) ? 0xda : 0xdb, 0xc0 + rn(g, 32));
		else
			x87_reg(g, 0xd9, 0xc8 + i); /* FXCH */
		break;
	case 17: /* FXCH, FFREE */
		if (rn(g, 3))
			x87_reg(g, 0xd9, 0xc8 + i);
		else
			x87_reg(g, 0xdd, 0xc0 + i);
		break;
	case 18: /* FNSTSW AX (and SAHF), FNSTSW m16, FNSTCW m16, FNCLEX, FWAIT, FNINIT */
		switch (rn(g, 7)) {
		case 0: case 1:
			x87_reg(g, 0xdf, 0xe0);
			if (rn(g, 2)) {
				begin(g);
				put(g, 0x9e); /* SAHF */
				end(g, SF | ZF | AF | PF | CF, 0);
			}
			break;
		case 2: case 3: {
			struct rm rm = x87_mem(g, 2);
			begin(g);
			x87_rm(g, 0, rn(g, 2) ? 0xdd : 0xd9, 7, rm);
			end(g, 0, 0);
			break;
		}
		case 4: x87_reg(g, 0xdb, 0xe2); break;
		case 5:
			begin(g);
			put(g, 0x9b);
			end(g, 0, 0);
			break;
		default:
			if (rn(g, 4) == 0) {
				x87_reg(g, 0xdb, 0xe3);
				g->x87_depth = 0;
			} else {
				x87_reg(g, 0xdb, 0xe2);
			}
			break;
		}
		break;
	case 19: case 20: { /* FLDCW */
		uint32_t off = pick_data(g, 2, 2);
		mov_mem(g, off, 2, x87_cw(g));
		begin(g);
		x87_rm(g, 0, 0xd9, 5, rm_mem(off));
		end(g, 0, 0);
		break;
	}
	case 21: { /* FNSTENV/FNSAVE (14/28, 94/108 bytes), FLDENV/FRSTOR */
		bool o16 = rn(g, 4) == 0, save = rn(g, 2);
		uint8_t pfx = o16 ? 0x66 : 0;
		if (g->env_off >= 0 && rn(g, 2)) {
			/* Reload what was stored, or (rarely) whatever is there. */
			uint32_t off = (uint32_t)g->env_off;
			o16 = g->env_kind & 1;
			save = g->env_kind & 2;
			pfx = o16 ? 0x66 : 0;
			if (rn(g, 3) == 0) /* another control word */
				mov_mem(g, off, 2, x87_cw(g));
			begin(g);
			x87_rm(g, pfx, save ? 0xdd : 0xd9, 4, rm_mem(off));
			end(g, 0, 0);
			break;
		}
		uint32_t off = pick_data(g, 108, 4);
		begin(g);
		x87_rm(g, pfx, save ? 0xdd : 0xd9, 6, rm_mem(off));
		end(g, 0, 0);
		/* FCS and FDS are the harness's selectors on one side and
		 * Linux's on the other; the host's FIP, FOP and FDP do not
		 * always survive a host context switch (KNOWN.md "Not a bug"
		 * 2): the pointer fields are cleared. */
		if (o16) {
			mov_mem(g, off + 6, 8, 0);
		} else {
			mov_mem(g, off + 12, 8, 0);
			mov_mem(g, off + 20, 8, 0);
		}
		g->env_off = (int)off;
		g->env_kind = (o16 ? 1 : 0) | (save ? 2 : 0);
		if (save)
			g->x87_depth = 0;
		break;
	}
	default: { /* FXSAVE(64), FXRSTOR(64) of what it saved */
		int w = (int)rn(g, 2);
		if (g->fx_off >= 0 && rn(g, 2)) {
			begin(g);
			enc(g, NULL, w, false, (const uint8_t[]){ 0x0f, 0xae }, 2, 1,
			    rm_mem((uint32_t)g->fx_off));
			end(g, 0, 0);
			break;
		}
		uint32_t off = pick_data(g, 512, 16) % (DT_DATA_SZ - 512);
		off &= ~15u;
		begin(g);
		enc(g, NULL, w, false, (const uint8_t[]){ 0x0f, 0xae }, 2, 0, rm_mem(off));
		end(g, 0, 0);
		/* FOP, FIP, FCS, FDP, FDS: Intel (soft) always stores them,
		 * AMD only with an exception pending; MXCSR_MASK: AMD's has
		 * bit 17 (misaligned SSE mode). KNOWN.md "Not a bug". */
		mov_mem(g, off + 6, 2, 0);
		mov_mem(g, off + 8, 8, 0);
		mov_mem(g, off + 16, 8, 0);
		mov_mem(g, off + 28, 4, 0xffff);
		g->fx_off = (int)off;
		break;
	}
	}
	if (g->x87_depth < 0)
		g->x87_depth = 0;
	if (g->x87_depth > 8)
		g->x87_depth = 8;
}

/* ---- MMX ---- */

/* Every instruction that names an MMX register (SDM Vol. 1 ch. 9, and the
 * SSE/SSE2 ones on MMX registers), from any x87 state (any TOP and tags,
 * sometimes a pending exception: #MF at the first one), mixed with EMMS and
 * x87 instructions that then see the aliased registers. */
static void gen_mmx(struct gen *g)
{
	/* NP 0F xx mm, mm/m64 */
	static const uint8_t bin[] = {
		0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x74,
		0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
		0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec,
		0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb,
		0xfc, 0xfd, 0xfe,
	};
	int m = (int)rn(g, 8);
	struct rm mrm = rn(g, 3) == 0 ? rm_mem(pick_data(g, 8, 1)) : rm_reg((int)rn(g, 8));
	unsigned k = rn(g, 16);
	if (k == 15) { /* x87 instructions on the aliased registers */
		gen_x87(g);
		return;
	}
	if (k == 14) { /* MASKMOVQ mm, mm: the selected bytes to [RDI] */
		set_reg(g, 7, (int32_t)(DT_SCRATCH_VA + pick_data(g, 8, 1)));
		begin(g);
		enc_sse(g, 0, 0, 0xf7, m, rm_reg((int)rn(g, 8)));
		end(g, 0, 0);
		g->x87_depth = 8;
		return;
	}
	begin(g);
	switch (k) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		enc_sse(g, 0, 0, bin[rn(g, sizeof(bin))], m, mrm);
		break;
	case 6: { /* shifts by imm8: 71/72 /2 /4 /6, 73 /2 /6 */
		unsigned op = 0x71 + rn(g, 3);
		static const int ext[3][3] = { { 2, 4, 6 }, { 2, 4, 6 }, { 2, 6, 2 } };
		enc_sse(g, 0, 0, (uint8_t)op, ext[op - 0x71][rn(g, 3)], rm_reg(m));
		put(g, (uint8_t)(rn(g, 2) ? rn(g, 20) : rnd(g)));
		break;
	}
	case 7: /* PSHUFW mm, mm/m64, imm8 */
		enc_sse(g, 0, 0, 0x70, m, mrm);
		put(g, (uint8_t)rnd(g));
		break;
	case 8: /* PINSRW mm, r32/m16, imm8; PEXTRW r32, mm, imm8; PMOVMSKB r32, mm */
		switch (rn(g, 3)) {
		case 0:
			enc_sse(g, 0, 0, 0xc4, m,
				rn(g, 2) ? rm_reg(pick_gpr(g)) : rm_mem(pick_data(g, 2, 1)));
			put(g, (uint8_t)rnd(g));
			break;
		case 1:
			enc_sse(g, 0, 0, 0xc5, pick_gpr(g), rm_reg(m));
			put(g, (uint8_t)rnd(g));
			break;
		default:
			enc_sse(g, 0, 0, 0xd7, pick_gpr(g), rm_reg(m));
			break;
		}
		break;
	case 9: { /* MOVD/MOVQ mm <-> r/m32/64 */
		struct rm rm = rn(g, 3) ? rm_reg(pick_gpr(g)) : rm_mem(pick_data(g, 8, 1));
		enc_sse(g, 0, rn(g, 2), rn(g, 2) ? 0x6e : 0x7e, m, rm);
		break;
	}
	case 10: /* MOVQ mm, mm/m64; MOVQ mm/m64, mm; MOVNTQ m64, mm */
		switch (rn(g, 3)) {
		case 0: enc_sse(g, 0, 0, 0x6f, m, mrm); break;
		case 1: enc_sse(g, 0, 0, 0x7f, m, mrm); break;
		default: enc_sse(g, 0, 0, 0xe7, m, rm_mem(pick_data(g, 8, 1))); break;
		}
		break;
	case 11: /* MOVQ2DQ xmm, mm; MOVDQ2Q mm, xmm */
		if (rn(g, 2))
			enc_sse(g, 0xf3, 0, 0xd6, (int)rn(g, 16), rm_reg(m));
		else
			enc_sse(g, 0xf2, 0, 0xd6, m, rm_reg((int)rn(g, 16)));
		break;
	case 12: { /* CVTPI2PS/PD xmm, mm/m64; CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128 */
		bool pd = rn(g, 2);
		uint8_t pfx = pd ? 0x66 : 0;
		switch (rn(g, 3)) {
		case 0:
			enc_sse(g, pfx, 0, 0x2a, (int)rn(g, 16), mrm);
			break;
		default: {
			struct rm src = rn(g, 3) ? rm_reg((int)rn(g, 16)) :
						   rm_mem(pick_data(g, 16, pd ? 16 : 1));
			enc_sse(g, pfx, 0, rn(g, 2) ? 0x2c : 0x2d, m, src);
			break;
		}
		}
		break;
	}
	default: /* EMMS */
		put(g, 0x0f);
		put(g, 0x77);
		end(g, 0, 0);
		g->x87_depth = 0;
		return;
	}
	end(g, 0, 0);
	/* After an MMX instruction every x87 register is valid. */
	g->x87_depth = 8;
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
