/* Helpers shared by the soft CPU's x87 files (exec_x87*.c). */
#ifndef ISOLA_SOFT_X87_H
#define ISOLA_SOFT_X87_H

#include "accel/soft/cpu.h"

/* FSW bits (SDM Vol. 1 §8.1.3). */
#define FSW_IE  0x0001u
#define FSW_SF  0x0040u
#define FSW_ES  0x0080u
#define FSW_C0  0x0100u
#define FSW_C1  0x0200u
#define FSW_C2  0x0400u
#define FSW_C3  0x4000u
#define FSW_TOP_SHIFT 11
#define FSW_B   0x8000u
#define FSW_EXC 0x003fu /* IE DE ZE OE UE PE */

/* #NM if CR0.EM or CR0.TS (SDM Vol. 3A Table 2-2). */
static inline int soft_x87_nm(struct soft_cpu *cpu)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		return soft_raise(cpu, EXC_NM, false, 0);
	return SOFT_OK;
}

/* An unmasked exception is pending: its flag is set in FSW and its mask
 * bit clear in FCW (SDM Vol. 1 §8.7). ES summarises it. */
static inline bool soft_x87_pending(const struct soft_cpu *cpu)
{
	return (cpu->fsw & ~cpu->fcw & FSW_EXC) != 0;
}

/* After FCW or FSW were loaded from memory (FXRSTOR, FLDENV, FRSTOR) or
 * FNSTENV masked everything: the reserved FCW bits read as the hardware
 * has them (bit 6 set; 7, 13-15 clear), and ES and B are set exactly when
 * an unmasked exception is pending — measured on hardware, as FLDCW does. */
static inline void soft_x87_loaded(struct soft_cpu *cpu)
{
	cpu->fcw = (uint16_t)((cpu->fcw & 0x1f3f) | 0x40);
	cpu->fsw &= (uint16_t)~(FSW_ES | FSW_B);
	if (soft_x87_pending(cpu))
		cpu->fsw |= FSW_ES | FSW_B;
}

/* The checks before a waiting x87 instruction: #NM, then #MF for a pending
 * unmasked exception (SDM Vol. 1 §8.6: the exception is taken at the next
 * waiting instruction; with CR0.NE=0 hardware would signal FERR# instead,
 * which the soft CPU does not model: it raises #MF either way). */
static inline int soft_x87_wait_check(struct soft_cpu *cpu)
{
	int rc = soft_x87_nm(cpu);
	if (rc)
		return rc;
	if (soft_x87_pending(cpu))
		return soft_raise(cpu, EXC_MF, false, 0);
	return SOFT_OK;
}

/* Record a non-control x87 instruction in FIP/FCS/FOP (SDM Vol. 1 §8.1.8,
 * §8.1.9): the offset of the instruction, CS and the 11-bit opcode (low 3
 * bits of the escape byte, then the ModRM byte). mem: the instruction has a
 * memory operand at offset ea in segment seg (FDP/FDS); instructions
 * without one leave FDP/FDS as they were. */
static inline void soft_x87_note(struct soft_cpu *cpu, const struct soft_insn *in, bool mem,
				 unsigned seg, uint64_t ea)
{
	cpu->fip = cpu->rip;
	cpu->fcs = cpu->seg[X86_CS].selector;
	cpu->fop = (uint16_t)(((in->opcode & 7u) << 8) | in->modrm);
	if (mem) {
		cpu->fdp = ea;
		cpu->fds = cpu->seg[seg].selector;
	}
}

/* Replace FSW with fsw, whose TOP may differ: st[] is in stack order,
 * so the registers rotate (physical register contents stay put). */
void soft_x87_set_fsw(struct soft_cpu *cpu, uint16_t fsw);
/* FNINIT's state: FCW 0x37f, FSW 0 (TOP 0), all empty, pointers 0. */
void soft_x87_init(struct soft_cpu *cpu);

/* The full tag word (two bits per physical register: 0 valid, 1 zero,
 * 2 special, 3 empty) from the abridged one and the register contents
 * (SDM Vol. 1 §8.1.7, §10.5.1.1). */
uint16_t soft_x87_full_tag(const struct soft_cpu *cpu);
/* The abridged tag byte from a full tag word (empty or not). */
uint8_t soft_x87_abridge_tag(uint16_t ftw);

#endif
