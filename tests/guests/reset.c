/* Reset through the PCI reset control register (0xcf9, value 0x06: full
 * reset, Intel ICH datasheets "Reset Control Register"). With isola's default
 * --on-reset exit the VM stops and isola exits 0 saying why on stderr. The
 * messages avoid the word the test script looks for in isola's output. */
#include "rt/lib.h"

int guest_main(void *bp)
{
	puts("writing 0x06 to port 0xcf9\n");
	outb(PORT_RESET_CF9, 0x06);
	/* A reset takes effect before the next instruction on real hardware;
	 * allow isola a little time to stop the vCPU. */
	for (volatile unsigned i = 0; i < 1000; i++)
		;
	fail("still running after the 0xcf9 write");
}
