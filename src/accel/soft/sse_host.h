/* SSE floating point on the host's own SIMD unit, shared by exec_sse_fp.c
 * (scalar) and exec_sse_packed.c / exec_sse_cvt.c (packed).
 *
 * A guest operation runs as the same host instruction, with the host MXCSR
 * loaded from the guest's control bits (rounding, DAZ, FTZ), every exception
 * masked and the flags clear; soft_sse_fp_flags() then merges the flags the
 * host raised into the guest MXCSR and raises #XM (#UD without
 * CR4.OSXMMEXCPT) for an exception the guest left unmasked, before the
 * destination is written. The host is x86-64 with SSE2, so results, NaN
 * propagation, MIN/MAX operand order, compare predicates and the integer
 * indefinite value are hardware's by construction (SDM Vol. 1 ch. 11 and
 * Vol. 2, each instruction's "Operation"): these parts of SSE are the same
 * on Intel and AMD. RCPPS/RSQRTPS are not (see exec_sse_rcp.c). */
#ifndef ISOLA_SOFT_SSE_HOST_H
#define ISOLA_SOFT_SSE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "accel/soft/cpu.h"

/* 16 bytes in an xmm register of the host. */
typedef uint64_t soft_v128 __attribute__((vector_size(16)));

#define MXCSR_UE  (1u << 4)
#define MXCSR_UM  (1u << 11)
#define MXCSR_FTZ (1u << 15)

/* The host MXCSR for running a guest operation: the guest's control bits,
 * all exceptions masked (bits 7-12), no flags. Flush-to-zero acts only
 * while underflow is masked (SDM Vol. 1 §11.5.2.5 / §10.2.3.3): with UM
 * clear the host must compute the denormal result, not flush it. */
static inline uint32_t soft_sse_host_mxcsr(const struct soft_cpu *cpu)
{
	uint32_t m = (cpu->mxcsr & 0xffc0u) | 0x1f80u;
	return (cpu->mxcsr & MXCSR_UM) ? m : m & ~MXCSR_FTZ;
}

/* Underflow signalled by an exact tiny result. Masked, underflow is
 * signalled only for a tiny and inexact result; unmasked, for every tiny
 * result (SDM Vol. 1 §4.9.1.5). The host runs masked, so when the guest
 * has UM clear this looks at the n single (or double) results at res of
 * an arithmetic operation: MXCSR_UE if one of them is a non-zero denormal
 * (the host computed without flush-to-zero then), else 0. */
uint32_t soft_sse_tiny(const struct soft_cpu *cpu, const void *res, unsigned n, bool dbl);

/* The operations that can overflow or underflow (sse_unbounded.c). */
enum soft_sse_op { SSE_ADD, SSE_SUB, SSE_MUL, SSE_DIV, SSE_CVT_D2S };

/* Is "x op y" (singles, or doubles if dbl; SSE_CVT_D2S: the double x to
 * single) inexact when rounded to the destination's precision with an
 * unbounded exponent? daz: denormal operands read as zero. */
bool soft_sse_inexact_unbounded(enum soft_sse_op op, bool dbl, uint64_t x, uint64_t y,
				bool daz);

/* The host flags `after` of n elements of "x op y" (y NULL for
 * SSE_CVT_D2S) with PE corrected for an unmasked overflow or underflow:
 * for each element that raised one, PE is the unbounded-exponent result's
 * (SDM Vol. 1 §11.5.2.4-5), not the masked response's. */
uint32_t soft_sse_unmasked_pe(const struct soft_cpu *cpu, enum soft_sse_op op, bool dbl,
			      const void *x, const void *y, unsigned n, uint32_t after);

/* Merge the flags (host MXCSR after the operation); SOFT_OK, or #XM / #UD
 * if the guest unmasked one of them (exec_sse_fp.c). */
int soft_sse_fp_flags(struct soft_cpu *cpu, uint32_t host_after);

/* Run "insn src, dst" with the guest's MXCSR; after gets the host MXCSR.
 * dc/sc: the operands' asm constraints ("x" xmm, "r" integer register). */
#define HOST_OP(insn, dc, dst, sc, src, mx, after)                             \
	do {                                                                   \
		uint32_t _save;                                                \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[s], %[d]\n\t" \
				 "stmxcsr %[a]\n\tldmxcsr %[sv]"                \
				 : [d] dc(dst), [a] "=m"(after), [sv] "=m"(_save) \
				 : [s] sc(src), [m] "m"(mx));                   \
	} while (0)
#define HOST_FP(insn, dst, src, mx, after) HOST_OP(insn, "+x", dst, "x", src, mx, after)
/* Early clobber: the result is written before the MXCSR is stored. */
#define HOST_TOINT(insn, dst, src, mx, after) HOST_OP(insn, "=&r", dst, "x", src, mx, after)
#define HOST_FROMINT(insn, dst, src, mx, after) HOST_OP(insn, "+x", dst, "r", src, mx, after)

/* The same with an imm8 (a compile-time constant: CMPPS predicates). */
#define HOST_FP_IMM(insn, imm, dst, src, mx, after)                            \
	do {                                                                   \
		uint32_t _save;                                                \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[i], %[s], %[d]\n\t" \
				 "stmxcsr %[a]\n\tldmxcsr %[sv]"                \
				 : [d] "+x"(dst), [a] "=m"(after), [sv] "=m"(_save) \
				 : [s] "x"(src), [m] "m"(mx), [i] "i"(imm));    \
	} while (0)

#endif
