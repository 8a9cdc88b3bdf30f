/* The smallest guest: proves the ELF loader, the 64-bit entry state, the
 * UART and the debug-exit port work together. */
#include "rt/lib.h"

int guest_main(void *bp)
{
	puts("Hello from isola guest\n");
	printf("boot_params at %p, image [%p, %p), command line \"%s\"\n", bp,
	       (void *)__image_start, (void *)__image_end, cmdline_get(bp));
	return 0;
}
