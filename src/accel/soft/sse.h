/* Helpers shared by the soft CPU's SSE instruction files (exec_sse*.c). */
#ifndef ISOLA_SOFT_SSE_H
#define ISOLA_SOFT_SSE_H

#include <string.h>

#include "accel/soft/cpu.h"

/* Does the instruction name an MMX register (mm0-mm7)? */
static inline bool soft_insn_mmx(const struct soft_insn *in)
{
	for (unsigned i = 0; i < in->nops; i++)
		if (in->op[i].kind == SOP_REG && in->op[i].rclass == SREG_MMX)
			return true;
	return false;
}

/* The bytes of a packed-integer operation: 8 on MMX registers, else 16. */
static inline unsigned soft_vlen(const struct soft_insn *in)
{
	return soft_insn_mmx(in) ? 8 : 16;
}

/* May the instruction run? SSE on XMM registers: #UD unless CR4.OSFXSR and
 * !CR0.EM, #NM if CR0.TS (SDM Vol. 3A §13.1). An instruction that names an
 * MMX register: #UD if CR0.EM, #NM if CR0.TS, #MF if an unmasked x87
 * exception is pending (SDM Vol. 1 §9.5.1, Vol. 2 "Exceptions" tables of
 * MMX instructions; the SSE ones that mix XMM and MMX also need OSFXSR). */
int soft_sse_check(struct soft_cpu *cpu, const struct soft_insn *in);
/* The x87-to-MMX transition after an instruction that named an MMX
 * register completed: TOP = 0, every register valid (SDM Vol. 1 §9.5.1). */
void soft_mmx_enter(struct soft_cpu *cpu);
/* Read len (<= 16) bytes of operand i — an xmm or mm register, memory
 * (16-byte aligned if aligned, else #GP(0)) or a GPR — into buf, zero-padded
 * to 16. */
int soft_vec_read(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint8_t *buf,
		  unsigned len, bool aligned);
/* Write len bytes to operand 0: an xmm register (zero_upper: clear the rest),
 * an mm register (its x87 register's exponent becomes all ones), memory, or
 * a GPR (zero-extended). Then, if the instruction names an MMX register,
 * the x87-to-MMX transition (soft_mmx_enter). */
int soft_vec_write(struct soft_cpu *cpu, const struct soft_insn *in, const uint8_t *buf,
		   unsigned len, bool aligned, bool zero_upper);
/* Check SSE/MMX is usable, then read operands 0 and 1 as soft_vlen()
 * bytes each (a memory m128 16-byte aligned, else #GP(0); m64 of the MMX
 * forms unaligned): the two-operand packed form "op xmm1, xmm2/m128" or
 * "op mm1, mm2/m64". */
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
