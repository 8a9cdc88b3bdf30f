/* Exceptions and interrupts for the guests that test their delivery (the
 * others must not take any: on kvm over PVM delivery ends the VM). An IDT of
 * 256 interrupt gates (Intel SDM vol. 3A 6.14.1, 64-bit IDT gate
 * descriptors) whose stubs all save the general registers in a trap_frame
 * and call trap_handler, which may change the frame (rip to resume
 * elsewhere). */
#ifndef GUEST_TRAP_H
#define GUEST_TRAP_H

#include "lib.h"

/* What the stubs and the CPU leave on the stack, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error; /* error is 0 for vectors without a code */
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* Called for every vector; the default prints the frame and fails. */
extern void (*trap_handler)(struct trap_frame *f);

void trap_install(void);          /* build the IDT and lidt it */
void trap_print(const struct trap_frame *f);

static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

#endif
