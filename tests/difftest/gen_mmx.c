/* The difftest generator: the MMX group. */
#include "gen_internal.h"

/* Every instruction that names an MMX register (SDM Vol. 1 ch. 9, and the
 * SSE/SSE2 ones on MMX registers), from any x87 state (any TOP and tags,
 * sometimes a pending exception: #MF at the first one), mixed with EMMS and
 * x87 instructions that then see the aliased registers. */
void gen_mmx(struct gen *g)
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
