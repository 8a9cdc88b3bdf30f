/* The difftest generator: SSE/SSE2 integer and floating-point groups. */
#include "gen_internal.h"

/* pfx: 0 or 0x66/0xf2/0xf3; op: the byte after 0F; w: REX.W. */
void enc_sse(struct gen *g, uint8_t pfx, int w, uint8_t op, int regf, struct rm rm)
{
	uint8_t p[2] = { pfx, 0 };
	uint8_t o[2] = { 0x0f, op };
	enc(g, pfx ? p : NULL, w, false, o, 2, regf, rm);
}

struct rm pick_xrm(struct gen *g, bool unaligned_ok)
{
	/* Rarely a misaligned operand where 16-byte alignment is required:
	 * #GP on both sides (SDM Vol. 1 §11.4.1 / §11.6.6 ... "16-byte aligned"). */
	if (rn(g, 3) == 0)
		return rm_mem(pick_data(g, 16, (unaligned_ok && rn(g, 2)) || rn(g, 64) == 0 ? 1 : 16));
	return rm_reg((int)rn(g, 16));
}

void gen_sse_int(struct gen *g)
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
void gen_sse_fp(struct gen *g)
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
