/* SSE2 packed-integer multiplies and sums of differences, 128-bit forms
 * (SDM Vol. 2, each by name): PMULLW PMULHW PMULHUW PMULUDQ PMADDWD PSADBW.
 * The MMX-register forms work on 8 bytes (soft_vlen()). */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int64_t sword(const uint8_t *v, unsigned i)
{
	return (int16_t)soft_vget(v, i, 2);
}

static int exec_pmul(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16], r[16];
	unsigned v = soft_vlen(in);
	int rc = soft_vec_read2(cpu, in, a, b);
	if (rc)
		return rc;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PMULLW:
		for (unsigned i = 0; i < v / 2; i++)
			soft_vput(r, i, 2, (uint64_t)(sword(a, i) * sword(b, i)));
		break;
	case ZYDIS_MNEMONIC_PMULHW:
		for (unsigned i = 0; i < v / 2; i++)
			soft_vput(r, i, 2, (uint64_t)((sword(a, i) * sword(b, i)) >> 16));
		break;
	case ZYDIS_MNEMONIC_PMULHUW:
		for (unsigned i = 0; i < v / 2; i++)
			soft_vput(r, i, 2, (soft_vget(a, i, 2) * soft_vget(b, i, 2)) >> 16);
		break;
	case ZYDIS_MNEMONIC_PMULUDQ: /* the even dwords, to full quadwords */
		for (unsigned i = 0; i < v / 8; i++)
			soft_vput(r, i, 8, soft_vget(a, 2 * i, 4) * soft_vget(b, 2 * i, 4));
		break;
	case ZYDIS_MNEMONIC_PMADDWD:
		/* Both products of a pair added in 32 bits: only
		 * 8000H*8000H + 8000H*8000H wraps, to 80000000H, as the SDM says. */
		for (unsigned i = 0; i < v / 4; i++) {
			int64_t s = sword(a, 2 * i) * sword(b, 2 * i) +
				    sword(a, 2 * i + 1) * sword(b, 2 * i + 1);
			soft_vput(r, i, 4, (uint64_t)s);
		}
		break;
	default: /* PSADBW: per quadword, the sum of 8 absolute byte differences */
		for (unsigned q = 0; q < v / 8; q++) {
			uint64_t s = 0;
			for (unsigned i = 8 * q; i < 8 * q + 8; i++)
				s += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
			soft_vput(r, q, 8, s);
		}
		break;
	}
	return soft_vec_write(cpu, in, r, v, v == 16, true);
}

soft_handler soft_exec_sse_mul_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_PMULLW: case ZYDIS_MNEMONIC_PMULHW: case ZYDIS_MNEMONIC_PMULHUW:
	case ZYDIS_MNEMONIC_PMULUDQ: case ZYDIS_MNEMONIC_PMADDWD: case ZYDIS_MNEMONIC_PSADBW:
		return exec_pmul;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
