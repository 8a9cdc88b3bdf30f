/* RCPPS/RCPSS and RSQRTPS/RSQRTSS: approximate 1/x and 1/sqrt(x) of single-
 * precision values (SDM Vol. 2B "RCPPS", "RCPSS", "RSQRTPS", "RSQRTSS").
 *
 * The SDM only bounds the relative error, |error| <= 1.5 * 2^-12; the exact
 * bits come from an implementation-specific table and differ between Intel
 * generations and AMD. This CPU's choice: the single-precision value nearest
 * to the exact result (computed in double precision, then rounded to nearest
 * even; relative error <= 2^-24 + 2^-53, far inside the bound), which is
 * reproducible on any host and needs no table. Guests cannot rely on the
 * bits, only on the bound. The difftest leaves these four out of its
 * bit-exact comparison (tests/difftest/KNOWN.md, "Not a bug"); the unit test
 * test_soft_sse.c checks the bound and the special values instead.
 *
 * The special values the SDM fixes: neither is affected by MXCSR rounding
 * or flags, raises no SIMD exception; a zero or denormal source gives an
 * infinity of its sign (denormals count as zero); a tiny RCP result is
 * flushed to a zero of the operand's sign (this CPU flushes exactly the
 * results below 2^-126, inside the window the SDM leaves to the
 * implementation); RCP(+-inf) = +-0; RSQRT(+inf) = +0; RSQRT of a negative
 * non-zero value (including -inf) is the QNaN indefinite FFC00000H; an SNaN
 * source is returned quieted, a QNaN as it is. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse.h"

#define F32_SIGN 0x80000000u
#define F32_INF  0x7f800000u
#define F32_QNAN_BIT 0x00400000u
#define F32_INDEFINITE 0xffc00000u

static bool f32_nan(uint32_t x)
{
	return (x & 0x7fffffffu) > F32_INF;
}

/* A positive normal float as a double. */
static double f32_to_double(uint32_t x)
{
	float f;
	memcpy(&f, &x, 4);
	return (double)f;
}

static uint32_t double_to_f32(double d)
{
	float f = (float)d;
	uint32_t x;
	memcpy(&x, &f, 4);
	return x;
}

uint32_t soft_rcp_f32(uint32_t x)
{
	uint32_t sign = x & F32_SIGN, mag = x & ~F32_SIGN;
	if (f32_nan(x))
		return x | F32_QNAN_BIT;
	if (mag == F32_INF)
		return sign;
	if (mag < 0x00800000u) /* zero or denormal */
		return sign | F32_INF;
	double r = 1.0 / f32_to_double(mag);
	if (r < 0x1p-126)
		return sign;
	return sign | double_to_f32(r);
}

uint32_t soft_rsqrt_f32(uint32_t x)
{
	uint32_t sign = x & F32_SIGN, mag = x & ~F32_SIGN;
	if (f32_nan(x))
		return x | F32_QNAN_BIT;
	if (mag < 0x00800000u) /* zero or denormal */
		return sign | F32_INF;
	if (sign)
		return F32_INDEFINITE;
	if (mag == F32_INF)
		return 0;
	/* The host's SQRTSD, without libm: exact to the double ulp. */
	double d = f32_to_double(mag), root;
	__asm__("sqrtsd %1, %0" : "=x"(root) : "x"(d));
	return double_to_f32(1.0 / root);
}

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

static int exec_rcp(struct soft_cpu *cpu, const struct soft_insn *in)
{
	uint8_t a[16], b[16];
	unsigned m = in->mnemonic;
	bool scalar = m == ZYDIS_MNEMONIC_RCPSS || m == ZYDIS_MNEMONIC_RSQRTSS;
	bool rsqrt = m == ZYDIS_MNEMONIC_RSQRTPS || m == ZYDIS_MNEMONIC_RSQRTSS;
	int rc = soft_sse_check(cpu, in);
	if (!rc)
		rc = soft_vec_read(cpu, in, 0, a, 16, false);
	if (!rc)
		rc = soft_vec_read(cpu, in, 1, b, scalar ? 4 : 16, !scalar);
	if (rc)
		return rc;
	for (unsigned i = 0; i < (scalar ? 1u : 4u); i++) {
		uint32_t x = (uint32_t)soft_vget(b, i, 4);
		soft_vput(a, i, 4, rsqrt ? soft_rsqrt_f32(x) : soft_rcp_f32(x));
	}
	return soft_vec_write(cpu, in, a, 16, false, false);
}

soft_handler soft_exec_sse_rcp_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_RCPPS: case ZYDIS_MNEMONIC_RCPSS: case ZYDIS_MNEMONIC_RSQRTPS:
	case ZYDIS_MNEMONIC_RSQRTSS:
		return exec_rcp;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
