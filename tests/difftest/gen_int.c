/* The difftest generator: the other integer groups (shifts and rotates,
 * multiply and divide, bit operations, string instructions, the stack). */
#include "gen_internal.h"

/* ---- shifts and rotates ---- */

void gen_shift(struct gen *g)
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

void gen_muldiv(struct gen *g)
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

void gen_bit(struct gen *g)
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

void gen_string(struct gen *g)
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

void gen_stack(struct gen *g)
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
