/* The difftest generator: the ALU group (also the glue between other groups). */
#include "gen_internal.h"

void gen_alu(struct gen *g)
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
