/* A triple fault: with an empty IDT (limit 0) the #UD from ud2 cannot be
 * delivered, so it becomes #GP, then #DF, then a shutdown (Intel SDM vol. 3A
 * 6.15, "Interrupt 8—Double Fault Exception"). isola must stop the VM with
 * status 4 and a register dump on stderr — never crash or hang. On kvm over
 * PVM the exception ends in an emulation failure instead, which isola maps
 * to the same status. */
#include "rt/lib.h"

int guest_main(void *bp)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };

	puts("loading an empty IDT and executing ud2\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt) : "memory");
	fail("still running after ud2 with an empty IDT");
}
