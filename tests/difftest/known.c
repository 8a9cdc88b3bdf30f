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
	/* KNOWN.md #1: CMPXCHG r32 whose comparison fails: Intel (soft's
	 * vendor) zero-extends the destination, AMD leaves it alone; left out
	 * on AMD hosts. */
	if (m == ZYDIS_MNEMONIC_CMPXCHG && zi.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    zi.operands[0].size == 32 && host_is_amd())
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
