/* x86-64 vCPU state in isola's own terms, shared by both accelerators
 * (kvm converts to struct kvm_regs/kvm_sregs; soft keeps it natively). */
#ifndef ISOLA_X86_REGS_H
#define ISOLA_X86_REGS_H

#include <stdint.h>

enum { X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
       X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15, X86_NR_GPRS };

struct x86_regs {
	uint64_t gpr[X86_NR_GPRS]; /* indexed by the X86_R* numbers above (the ModRM order) */
	uint64_t rip, rflags;
};

/* A segment register with its hidden descriptor cache (Intel SDM Vol. 3A §3.4.3). */
struct x86_segment {
	uint64_t base;
	uint32_t limit;  /* in bytes, already scaled by G */
	uint16_t selector;
	uint8_t type;    /* descriptor type field, 4 bits */
	uint8_t s, dpl, present, avl, l, db, g;
	uint8_t unusable;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

enum { X86_CS, X86_DS, X86_ES, X86_FS, X86_GS, X86_SS, X86_TR, X86_LDTR, X86_NR_SEGS };

struct x86_sregs {
	struct x86_segment seg[X86_NR_SEGS];
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* x87 and SSE state, as FXSAVE lays it out (Intel SDM Vol. 1 §10.5.1):
 * ftw is the abridged tag (one bit per register, 1 = valid). */
struct x86_fpu {
	uint8_t st[8][10];   /* ST0..ST7 in stack order, 80-bit extended */
	uint16_t fcw, fsw, fop;
	uint8_t ftw;
	uint64_t fip, fdp;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
};

/* Architectural bits used by more than one file. */
#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_PGE (1ull << 7)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define X86_EFER_SCE (1ull << 0)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)
#define X86_RFLAGS_FIXED (1ull << 1)
#define X86_RFLAGS_IF (1ull << 9)

#endif
