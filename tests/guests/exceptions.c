/* Exception delivery through an IDT (Intel SDM vol. 3A chapter 6): #DE, #BP,
 * #UD, #GP(0) from a non-canonical address, #PF with its error code and CR2
 * for a read and a write of an unmapped page, and a software INT n. For
 * each: the vector, the error code, the saved RIP (the faulting instruction
 * for faults, the next one for traps), CS and SS, the saved RFLAGS, and that
 * IRETQ comes back with the registers intact. Needs a CPU that can deliver
 * exceptions: soft, or kvm with VT-x/AMD-V (not PVM, where the run script
 * skips it). */
#include "rt/trap.h"

#define KERNEL_CS 0x10
#define KERNEL_SS 0x18
/* Canonical, and far from anything isola maps: the identity map covers
 * [0, 4 GiB) and RAM only. */
#define UNMAPPED ((uint64_t)0x00007f0000000000)
#define NONCANONICAL 0x8000000000000000ull
#define PF_WRITE 0x2

static struct trap_frame seen;
static unsigned taken;
static uint64_t resume_rip; /* where a fault continues; 0 for traps */

static void record(struct trap_frame *f)
{
	seen = *f;
	taken++;
	if (resume_rip)
		f->rip = resume_rip;
	f->rbx = 0x600dcafe; /* shows the handler's frame reached the interrupted code */
}

static unsigned failures;

static void expect(const char *name, uint64_t vector, uint64_t error, uint64_t rip,
		   uint64_t rbx)
{
	const char *why = NULL;

	if (taken != 1)
		why = "not exactly one exception";
	else if (seen.vector != vector)
		why = "wrong vector";
	else if (seen.error != error)
		why = "wrong error code";
	else if (seen.rip != rip)
		why = "wrong saved RIP";
	else if (seen.cs != KERNEL_CS || seen.ss != KERNEL_SS)
		why = "wrong saved CS or SS";
	else if (seen.rflags & (1u << 9))
		why = "saved RFLAGS has IF set";
	else if (rbx != 0x600dcafe)
		why = "registers from the frame not restored by IRETQ";
	printf("  %-18s %s\n", name, why ? why : "ok");
	if (why) {
		trap_print(&seen);
		printf("  taken %u, expected vector %lu error 0x%lx rip 0x%lx\n", taken, vector,
		       error, rip);
		failures++;
	}
	taken = 0;
	resume_rip = 0;
	memset(&seen, 0, sizeof(seen));
}

/* Each trigger puts the address of the faulting instruction in *at and
 * returns rbx as the handler left it. The labels are absolute addresses
 * (non-PIC, linked below 2 GiB). */
#define TRIGGER(insn, setup, fault_rip, resume, rbx)                                       \
	__asm__ volatile(setup "\n\t"                                                       \
			 "movq $1f, %0\n\t"                                                \
			 "movq $2f, %1\n\t"                                                \
			 "1: " insn "\n\t"                                                 \
			 "2:\n\t"                                                          \
			 : "=m"(fault_rip), "=m"(resume), "+b"(rbx)                         \
			 :                                                                 \
			 : "rax", "rcx", "rdx", "memory")

int guest_main(void *bp)
{
	uint64_t at, next, rbx;

	trap_install();
	trap_handler = record;
	puts("IDT loaded; raising exceptions\n");

	rbx = 0;
	TRIGGER("divl %%ecx", "xor %%eax, %%eax\n\txor %%edx, %%edx\n\txor %%ecx, %%ecx", at,
		resume_rip, rbx);
	expect("#DE (div by 0)", 0, 0, at, rbx);

	rbx = 0;
	TRIGGER("int3", "", at, next, rbx);
	expect("#BP (int3, trap)", 3, 0, next, rbx);

	rbx = 0;
	TRIGGER("ud2", "", at, resume_rip, rbx);
	expect("#UD (ud2)", 6, 0, at, rbx);

	rbx = 0;
	TRIGGER("movq (%%rax), %%rax", "movabsq $0x8000000000000000, %%rax", at, resume_rip,
		rbx);
	expect("#GP (noncanonical)", 13, 0, at, rbx);

	rbx = 0;
	TRIGGER("movq (%%rax), %%rax", "movabsq $0x00007f0000000000, %%rax", at, resume_rip,
		rbx);
	uint64_t cr2 = read_cr2();
	expect("#PF (read)", 14, 0, at, rbx);
	if (cr2 != UNMAPPED) {
		printf("  CR2 0x%lx after the read fault, expected 0x%lx\n", cr2, UNMAPPED);
		failures++;
	}

	rbx = 0;
	TRIGGER("movq %%rcx, (%%rax)", "movabsq $0x00007f0000000008, %%rax", at, resume_rip,
		rbx);
	cr2 = read_cr2();
	expect("#PF (write)", 14, PF_WRITE, at, rbx);
	if (cr2 != UNMAPPED + 8) {
		printf("  CR2 0x%lx after the write fault, expected 0x%lx\n", cr2, UNMAPPED + 8);
		failures++;
	}

	rbx = 0;
	TRIGGER("int $0x80", "", at, next, rbx);
	expect("INT 0x80 (software)", 0x80, 0, next, rbx);

	if (read_rflags() & (1u << 9))
		fail("IF is set after the handlers returned");
	if (failures)
		fail("%u exception checks failed", failures);
	return 0;
}
