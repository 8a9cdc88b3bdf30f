/* The forms KNOWN.md lists as known soft-CPU bugs. The CI run leaves them
 * out of the generated sequences (dt_generate's excl_known), so it stays
 * green while each bug waits for its fix; --all-forms puts them back.
 * Remove an entry here (and move it to "fixed" in KNOWN.md) once the soft
 * CPU is fixed. */
#include <stdbool.h>
#include <stdint.h>

#include "difftest.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* KNOWN.md #2: SSE/SSE2 instructions the soft CPU does not implement (#UD)
 * although CPUID.1:EDX advertises SSE and SSE2. */
static const ZydisMnemonic missing_sse[] = {
	ZYDIS_MNEMONIC_ADDPD, ZYDIS_MNEMONIC_ADDPS, ZYDIS_MNEMONIC_CMPPD, ZYDIS_MNEMONIC_CMPPS,
	ZYDIS_MNEMONIC_CMPSS, ZYDIS_MNEMONIC_CVTDQ2PD, ZYDIS_MNEMONIC_CVTDQ2PS,
	ZYDIS_MNEMONIC_CVTPD2DQ, ZYDIS_MNEMONIC_CVTPD2PS, ZYDIS_MNEMONIC_CVTPS2DQ,
	ZYDIS_MNEMONIC_CVTPS2PD, ZYDIS_MNEMONIC_CVTTPD2DQ, ZYDIS_MNEMONIC_CVTTPS2DQ,
	ZYDIS_MNEMONIC_DIVPD, ZYDIS_MNEMONIC_DIVPS, ZYDIS_MNEMONIC_MAXPD, ZYDIS_MNEMONIC_MAXPS,
	ZYDIS_MNEMONIC_MAXSD, ZYDIS_MNEMONIC_MAXSS, ZYDIS_MNEMONIC_MINPD, ZYDIS_MNEMONIC_MINPS,
	ZYDIS_MNEMONIC_MINSD, ZYDIS_MNEMONIC_MINSS, ZYDIS_MNEMONIC_MOVMSKPD,
	ZYDIS_MNEMONIC_MOVMSKPS, ZYDIS_MNEMONIC_MULPD, ZYDIS_MNEMONIC_MULPS,
	ZYDIS_MNEMONIC_PACKSSDW, ZYDIS_MNEMONIC_PACKSSWB, ZYDIS_MNEMONIC_PACKUSWB,
	ZYDIS_MNEMONIC_PADDSB, ZYDIS_MNEMONIC_PADDSW, ZYDIS_MNEMONIC_PADDUSB,
	ZYDIS_MNEMONIC_PADDUSW, ZYDIS_MNEMONIC_PAVGB, ZYDIS_MNEMONIC_PAVGW,
	ZYDIS_MNEMONIC_PEXTRW, ZYDIS_MNEMONIC_PINSRW, ZYDIS_MNEMONIC_PMADDWD,
	ZYDIS_MNEMONIC_PMAXSW, ZYDIS_MNEMONIC_PMINSW, ZYDIS_MNEMONIC_PMULHUW,
	ZYDIS_MNEMONIC_PMULHW, ZYDIS_MNEMONIC_PMULLW, ZYDIS_MNEMONIC_PMULUDQ,
	ZYDIS_MNEMONIC_PSADBW, ZYDIS_MNEMONIC_PSHUFHW, ZYDIS_MNEMONIC_PSHUFLW,
	ZYDIS_MNEMONIC_PSRAD, ZYDIS_MNEMONIC_PSRAW, ZYDIS_MNEMONIC_PSUBSB,
	ZYDIS_MNEMONIC_PSUBSW, ZYDIS_MNEMONIC_PSUBUSB, ZYDIS_MNEMONIC_PSUBUSW,
	ZYDIS_MNEMONIC_SHUFPD, ZYDIS_MNEMONIC_SHUFPS, ZYDIS_MNEMONIC_SQRTPD,
	ZYDIS_MNEMONIC_SQRTPS, ZYDIS_MNEMONIC_SUBPD, ZYDIS_MNEMONIC_SUBPS,
	ZYDIS_MNEMONIC_UNPCKHPD, ZYDIS_MNEMONIC_UNPCKLPD, ZYDIS_MNEMONIC_UNPCKHPS,
	ZYDIS_MNEMONIC_UNPCKLPS,
};

/* The host's CPUID vendor is AuthenticAMD. */
static bool host_is_amd(void)
{
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
	return b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* "AuthenticAMD" */
}

bool dt_known_bug(const uint8_t *p, unsigned len)
{
	ZydisDisassembledInstruction zi;
	if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, 0, p, len, &zi)))
		return false;
	ZydisMnemonic m = zi.info.mnemonic;
	for (unsigned i = 0; i < sizeof(missing_sse) / sizeof(missing_sse[0]); i++)
		if (m == missing_sse[i])
			return true;
	/* KNOWN.md #1: CMPXCHG r32 whose comparison fails: Intel (soft's
	 * vendor) zero-extends the destination, AMD leaves it alone; left out
	 * on AMD hosts. */
	if (m == ZYDIS_MNEMONIC_CMPXCHG && zi.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    zi.operands[0].size == 32 && host_is_amd())
		return true;
	/* #2 too: CMPSD the SSE2 compare (the string CMPSD is implemented). */
	if (m == ZYDIS_MNEMONIC_CMPSD && zi.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER)
		return true;
	return false;
}
#else
bool dt_known_bug(const uint8_t *p, unsigned len)
{
	(void)p;
	(void)len;
	return false;
}
#endif
