/* SSE2 packed-integer saturation, averages and arithmetic shifts, 128-bit
 * forms (SDM Vol. 2, each by name):
 *   PACKSSWB PACKSSDW PACKUSWB, PADDSB/W PADDUSB/W PSUBSB/W PSUBUSB/W,
 *   PAVGB/W, PMAXSW PMINSW, PSRAW PSRAD (by xmm/m128 or imm8).
 *
 * The MMX-register forms work on 8 bytes (soft_vlen()). */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* PACKSS/PACKUS: the destination's elements narrowed into the low half,
 * the source's into the high half, each saturated. */
static int exec_pack(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	unsigned v = soft_vlen(in);
	unsigned w = in->mnemonic == ZYDIS_MNEMONIC_PACKSSDW ? 4 : 2, n = v / w;
	int64_t lo, hi;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PACKSSWB: lo = INT8_MIN, hi = INT8_MAX; break;
	case ZYDIS_MNEMONIC_PACKUSWB: lo = 0, hi = UINT8_MAX; break;
	default: lo = INT16_MIN, hi = INT16_MAX; break;
	}
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		int64_t x = (int64_t)soft_sext(soft_vget(a, i, w), w);
		int64_t y = (int64_t)soft_sext(soft_vget(b, i, w), w);
		soft_vput(r, i, w / 2, (uint64_t)clamp(x, lo, hi));
		soft_vput(r, i + n, w / 2, (uint64_t)clamp(y, lo, hi));
	}
	return soft_vec_write(cpu, in, r, v, v == 16, true);
}

/* Saturating add/subtract, rounded unsigned average, signed word min/max. */
static int exec_sat(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16];
	unsigned m = in->mnemonic, w;
	switch (m) {
	case ZYDIS_MNEMONIC_PADDSB: case ZYDIS_MNEMONIC_PADDUSB: case ZYDIS_MNEMONIC_PSUBSB:
	case ZYDIS_MNEMONIC_PSUBUSB: case ZYDIS_MNEMONIC_PAVGB:
		w = 1;
		break;
	default:
		w = 2;
		break;
	}
	int64_t smin = w == 1 ? INT8_MIN : INT16_MIN, smax = w == 1 ? INT8_MAX : INT16_MAX;
	int64_t umax = w == 1 ? UINT8_MAX : UINT16_MAX;
	unsigned v = soft_vlen(in);
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	for (unsigned i = 0; i < v / w; i++) {
		int64_t ux = (int64_t)soft_vget(a, i, w), uy = (int64_t)soft_vget(b, i, w);
		int64_t sx = (int64_t)soft_sext((uint64_t)ux, w);
		int64_t sy = (int64_t)soft_sext((uint64_t)uy, w);
		int64_t z;
		switch (m) {
		case ZYDIS_MNEMONIC_PADDSB: case ZYDIS_MNEMONIC_PADDSW:
			z = clamp(sx + sy, smin, smax);
			break;
		case ZYDIS_MNEMONIC_PSUBSB: case ZYDIS_MNEMONIC_PSUBSW:
			z = clamp(sx - sy, smin, smax);
			break;
		case ZYDIS_MNEMONIC_PADDUSB: case ZYDIS_MNEMONIC_PADDUSW:
			z = clamp(ux + uy, 0, umax);
			break;
		case ZYDIS_MNEMONIC_PSUBUSB: case ZYDIS_MNEMONIC_PSUBUSW:
			z = clamp(ux - uy, 0, umax);
			break;
		case ZYDIS_MNEMONIC_PAVGB: case ZYDIS_MNEMONIC_PAVGW:
			z = (ux + uy + 1) >> 1;
			break;
		case ZYDIS_MNEMONIC_PMAXSW:
			z = sx > sy ? sx : sy;
			break;
		default: /* PMINSW */
			z = sx < sy ? sx : sy;
			break;
		}
		soft_vput(a, i, w, (uint64_t)z);
	}
	return soft_vec_write(cpu, in, a, v, v == 16, true);
}

/* PSRAW/PSRAD: the count is imm8 or the low quadword of xmm/m128; counts
 * above the element width - 1 fill the element with its sign bit. */
static int exec_psra(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], c[16];
	unsigned w = in->mnemonic == ZYDIS_MNEMONIC_PSRAW ? 2 : 4, v = soft_vlen(in);
	uint64_t count;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, v, v == 16);
	if (rc)
		return rc;
	if (in->op[1].kind == SOP_IMM) {
		count = (uint64_t)in->op[1].val & 0xff;
	} else {
		rc = soft_vec_read(cpu, in, 1, c, v, v == 16);
		if (rc)
			return rc;
		memcpy(&count, c, 8);
	}
	if (count > w * 8 - 1)
		count = w * 8 - 1;
	for (unsigned i = 0; i < v / w; i++) {
		int64_t x = (int64_t)soft_sext(soft_vget(a, i, w), w);
		soft_vput(a, i, w, (uint64_t)(x >> count));
	}
	return soft_vec_write(cpu, in, a, v, v == 16, true);
}

soft_handler soft_exec_sse_pack_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PACKSSWB: case ZYDIS_MNEMONIC_PACKSSDW: case ZYDIS_MNEMONIC_PACKUSWB:
		return exec_pack;
	case ZYDIS_MNEMONIC_PADDSB: case ZYDIS_MNEMONIC_PADDSW: case ZYDIS_MNEMONIC_PADDUSB:
	case ZYDIS_MNEMONIC_PADDUSW: case ZYDIS_MNEMONIC_PSUBSB: case ZYDIS_MNEMONIC_PSUBSW:
	case ZYDIS_MNEMONIC_PSUBUSB: case ZYDIS_MNEMONIC_PSUBUSW: case ZYDIS_MNEMONIC_PAVGB:
	case ZYDIS_MNEMONIC_PAVGW: case ZYDIS_MNEMONIC_PMAXSW: case ZYDIS_MNEMONIC_PMINSW:
		return exec_sat;
	case ZYDIS_MNEMONIC_PSRAW: case ZYDIS_MNEMONIC_PSRAD:
		return exec_psra;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
