/* The difftest generator: the x87 group. */
#include "gen_internal.h"

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
uint16_t x87_cw(struct gen *g)
{
	static const unsigned pc[] = { 3, 3, 2, 0, 3, 2, 0, 1 };
	uint16_t cw = (uint16_t)(0x40 | 0x3f | rn(g, 4) << 10 | pc[rn(g, 8)] << 8);
	if (rn(g, 8) == 0)
		cw |= 0x1000;
	if (rn(g, 10) == 0)
		cw &= (uint16_t)~(1u << rn(g, 6));
	return cw;
}

void gen_x87(struct gen *g)
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
