/* The precision flag after an unmasked numeric overflow or underflow.
 *
 * When OE or UE is unmasked, the processor raises #XM and delivers nothing
 * to the destination; PE is then set only if the result rounded to the
 * destination precision *with an unbounded exponent* is inexact (SDM Vol. 1
 * §11.5.2.4 and §11.5.2.5, §4.9.1.4-5). The host computes every guest
 * operation with all exceptions masked (sse_host.h), where an overflowed
 * or underflowed result is inexact for other reasons (infinity, the
 * largest finite value, a denormalised significand), so its PE is the
 * masked response's. This file recomputes PE for exactly that case:
 * whether the exact result fits in the precision's significand bits does
 * not depend on the exponent range or the rounding mode, only on the
 * operands' integer significands, which 128-bit integer arithmetic handles
 * exactly.
 *
 * Only ADD/SUB/MUL/DIV and the double-to-single conversions can overflow or
 * underflow (SQRT, MIN/MAX, the compares and the other conversions cannot). */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/sse_host.h"

#define MXCSR_PE (1u << 5)
#define MXCSR_OE (1u << 3)
#define MXCSR_OM (1u << 10)
#define MXCSR_DAZ (1u << 6)

typedef unsigned __int128 u128;

struct sig {
	bool neg;
	uint64_t m; /* integer significand */
	int e;      /* value = m * 2^e */
};

/* Split a single (dbl false) or double into sign, significand and exponent;
 * daz: denormals read as zero. Infinities and NaNs never reach here (they
 * cannot overflow or underflow). */
static struct sig split(uint64_t v, bool dbl, bool daz)
{
	unsigned p = dbl ? 53 : 24, ebits = dbl ? 11 : 8;
	int bias = dbl ? 1023 : 127;
	uint64_t frac = v & ((1ull << (p - 1)) - 1);
	unsigned ef = (unsigned)(v >> (p - 1)) & ((1u << ebits) - 1);
	struct sig s = { .neg = (v >> (p - 1 + ebits)) & 1 };
	if (ef == 0) {
		s.m = daz ? 0 : frac;
		s.e = 1 - bias - (int)(p - 1);
	} else {
		s.m = frac | 1ull << (p - 1);
		s.e = (int)ef - bias - (int)(p - 1);
	}
	return s;
}

/* Significant bits of a non-zero integer (from the top one to the lowest one). */
static unsigned sigbits(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64), lo = (uint64_t)v;
	unsigned len = hi ? 128 - (unsigned)__builtin_clzll(hi) : 64 - (unsigned)__builtin_clzll(lo);
	unsigned tz = lo ? (unsigned)__builtin_ctzll(lo) : 64 + (unsigned)__builtin_ctzll(hi);
	return len - tz;
}

bool soft_sse_inexact_unbounded(enum soft_sse_op op, bool dbl, uint64_t x, uint64_t y,
				bool daz)
{
	unsigned p = dbl ? 53 : 24;
	if (op == SSE_CVT_D2S) {
		/* The source is a double; the destination has 24 bits. */
		struct sig s = split(x, true, daz);
		return s.m && sigbits(s.m) > 24;
	}
	struct sig a = split(x, dbl, daz), b = split(y, dbl, daz);
	switch (op) {
	case SSE_MUL:
		return a.m && b.m && sigbits((u128)a.m * b.m) > p;
	case SSE_DIV: {
		if (!a.m || !b.m)
			return false;
		/* a/b has a finite binary expansion iff b's odd part divides a. */
		uint64_t odd = b.m >> __builtin_ctzll(b.m);
		return a.m % odd || sigbits(a.m / odd) > p;
	}
	default: { /* ADD, SUB */
		if (op == SSE_SUB)
			b.neg = !b.neg;
		if (!a.m || !b.m)
			return false;
		if (a.e < b.e) {
			struct sig t = a;
			a = b;
			b = t;
		}
		/* Beyond 64 bits apart the smaller operand lies wholly below the
		 * larger one's last significant bit: the sum needs more than p. */
		unsigned d = (unsigned)(a.e - b.e);
		if (d > 64)
			return true;
		u128 big = (u128)a.m << d, r = a.neg == b.neg ? big + b.m :
					     big > b.m ? big - b.m : b.m - big;
		return r && sigbits(r) > p;
	}
	}
}

/* One element alone on the host: its flags (all exceptions masked). */
static uint32_t element_flags(enum soft_sse_op op, bool dbl, uint64_t x, uint64_t y,
			      uint32_t mx, uint64_t *res)
{
	soft_v128 a = { x, 0 }, b = { y, 0 };
	uint32_t after = 0;
	switch (op * 2 + dbl) {
	case SSE_ADD * 2: HOST_FP("addss", a, b, mx, after); break;
	case SSE_ADD * 2 + 1: HOST_FP("addsd", a, b, mx, after); break;
	case SSE_SUB * 2: HOST_FP("subss", a, b, mx, after); break;
	case SSE_SUB * 2 + 1: HOST_FP("subsd", a, b, mx, after); break;
	case SSE_MUL * 2: HOST_FP("mulss", a, b, mx, after); break;
	case SSE_MUL * 2 + 1: HOST_FP("mulsd", a, b, mx, after); break;
	case SSE_DIV * 2: HOST_FP("divss", a, b, mx, after); break;
	case SSE_DIV * 2 + 1: HOST_FP("divsd", a, b, mx, after); break;
	default: /* SSE_CVT_D2S: x is the double */
		b = (soft_v128){ x, 0 };
		HOST_FP("cvtsd2ss", a, b, mx, after);
		break;
	}
	*res = a[0];
	return after & 0x3f;
}

uint32_t soft_sse_unmasked_pe(const struct soft_cpu *cpu, enum soft_sse_op op, bool dbl,
			      const void *x, const void *y, unsigned n, uint32_t after)
{
	/* OE/UE set and unmasked: bits 3-4 against mask bits 10-11. */
	uint32_t um = ~(cpu->mxcsr >> 7) & (MXCSR_OE | MXCSR_UE);
	if (!(after & um))
		return after;
	unsigned w = dbl || op == SSE_CVT_D2S ? 8 : 4;
	uint32_t mx = soft_sse_host_mxcsr(cpu), pe = 0;
	bool daz = cpu->mxcsr & MXCSR_DAZ;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = 0, b = 0, r;
		memcpy(&a, (const uint8_t *)x + i * w, w);
		if (y)
			memcpy(&b, (const uint8_t *)y + i * w, w);
		uint32_t f = element_flags(op, dbl, a, b, mx, &r);
		f |= soft_sse_tiny(cpu, &r, 1, dbl && op != SSE_CVT_D2S);
		if (f & um)
			pe |= soft_sse_inexact_unbounded(op, dbl, a, b, daz) ? MXCSR_PE : 0;
		else
			pe |= f & MXCSR_PE;
	}
	return (after & ~MXCSR_PE) | pe;
}
