/* An interactive guest for the console tests: echoes what it receives on the
 * UART (polling LSR.DR, no interrupts), says "got ^A" for a Ctrl-A byte so a
 * test can see one was delivered, and exits through the debug-exit port when
 * it reads 'q' (status (0 << 1) | 1). Used by tests/integration/console.sh. */
#include "rt/lib.h"

#define COM1 0x3f8
#define LSR_DR 0x01

int guest_main(void *boot_params)
{
	puts("echo: ready\n");
	for (;;) {
		while (!(inb(COM1 + 5) & LSR_DR))
			;
		char c = (char)inb(COM1);
		if (c == 'q') {
			puts("echo: bye\n");
			return 0;
		}
		if (c == 0x01)
			puts("got ^A\n");
		else
			putc(c);
	}
}
