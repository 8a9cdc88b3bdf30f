/* Helpers shared by the soft CPU's SSE instruction files (exec_sse*.c). */
#ifndef ISOLA_SOFT_SSE_H
#define ISOLA_SOFT_SSE_H

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

#endif
