/* Helpers shared by the soft CPU's SSE instruction files (exec_sse*.c). */
#ifndef ISOLA_SOFT_SSE_H
#define ISOLA_SOFT_SSE_H

#include <string.h>

#include "accel/soft/cpu.h"

/* #UD unless CR4.OSFXSR and !CR0.EM; #NM if CR0.TS (SDM Vol. 3A §13.1). */
int soft_sse_check(struct soft_cpu *cpu);
/* Read len (<= 16) bytes of operand i — an xmm register, memory (16-byte
 * aligned if aligned, else #GP(0)) or a GPR — into buf, zero-padded to 16. */
int soft_vec_read(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint8_t *buf,
		  unsigned len, bool aligned);
/* Write len bytes to operand 0: an xmm register (zero_upper: clear the rest),
 * memory, or a GPR (zero-extended). */
int soft_vec_write(struct soft_cpu *cpu, const struct soft_insn *in, const uint8_t *buf,
		   unsigned len, bool aligned, bool zero_upper);
/* Check SSE is usable, then read operands 0 and 1 as 16 bytes each (a
 * memory operand 16-byte aligned, else #GP(0)): the usual two-operand
 * packed form "op xmm1, xmm2/m128". */
int soft_vec_read2(struct soft_cpu *cpu, const struct soft_insn *in, uint8_t a[16],
		   uint8_t b[16]);

/* Element i of width w bytes (1, 2, 4, 8) of a 16-byte vector, zero-extended. */
static inline uint64_t soft_vget(const uint8_t *v, unsigned i, unsigned w)
{
	uint64_t x = 0;
	memcpy(&x, v + i * w, w);
	return x;
}

static inline void soft_vput(uint8_t *v, unsigned i, unsigned w, uint64_t x)
{
	memcpy(v + i * w, &x, w);
}

/* RCPSS/RSQRTSS on one single-precision value (exec_sse_rcp.c). */
uint32_t soft_rcp_f32(uint32_t x);
uint32_t soft_rsqrt_f32(uint32_t x);

#endif
