/* Reset through the keyboard controller: command 0xfe to port 0x64 pulses
 * the CPU reset line (the classic PC way, and Linux's reboot=k). isola must
 * stop (--on-reset exit) with status 0 and a line about it on stderr. */
#include "rt/lib.h"

int guest_main(void *bp)
{
	puts("writing 0xfe to port 0x64\n");
	outb(PORT_I8042_CMD, 0xfe);
	for (volatile unsigned i = 0; i < 1000; i++)
		;
	fail("still running after the i8042 0xfe command");
}
