/* The port-I/O exit loop for bench/run.sh: "n=<iterations> port=<port>" on
 * the command line. The loop is the exact instruction sequence of
 * bench/bare_kvm.c's guest (out %al,(%dx); dec %ecx; jnz), so isola's cost
 * per iteration and the bare floor compare like for like. The UART line
 * before the loop and PASS after it are the same for every n, so the host's
 * difference between an n run and a 2n run is n iterations of the loop. */
#include "rt/lib.h"

int guest_main(void *bp)
{
	uint64_t n = 0, port = 0x280;

	if (!cmdline_u64(bp, "n", &n) || n == 0 || n > 0x7fffffff)
		fail("need n=<1..2^31-1> on the command line");
	if (cmdline_u64(bp, "port", &port) && port > 0xffff)
		fail("port must be below 0x10000");
	puts("ioloop start\n");
	uint32_t cnt = (uint32_t)n;
	__asm__ volatile("1: outb %%al, %%dx\n\t"
			 "dec %%ecx\n\t"
			 "jnz 1b"
			 : "+c"(cnt)
			 : "a"(0x5a), "d"((uint16_t)port)
			 : "cc", "memory");
	return 0;
}
