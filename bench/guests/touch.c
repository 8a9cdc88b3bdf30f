/* Writes one byte into every 4 KiB page of [start, start + touch) —
 * "touch=<bytes>" on the command line, start 4 MiB (above the image) unless
 * "start=" says otherwise — so the host sees exactly touch/4096 more guest
 * pages resident. bench/run.sh subtracts them (and the image) from isola's
 * peak RSS to get isola's own memory overhead. One store per page keeps the
 * run short under an emulated CPU (memprobe verifies every word; this only
 * needs the pages to exist). */
#include "rt/lib.h"

#define PAGE 4096ull

int guest_main(void *bp)
{
	uint64_t touch = 0, start = 4ull << 20;

	if (!cmdline_u64(bp, "touch", &touch))
		fail("need touch=<bytes> on the command line");
	cmdline_u64(bp, "start", &start);
	if (start % PAGE || touch % PAGE || start < (uint64_t)__image_end)
		fail("start and touch must be page multiples, start above the image");
	uint64_t end = start + touch;
	/* Every page must be RAM: check against the e820 map, not a guess. */
	bool covered = touch == 0;
	for (unsigned i = 0; i < e820_count(bp) && !covered; i++) {
		struct e820_entry e = e820_get(bp, i);
		if (e.type == E820_RAM && e.addr <= start && end <= e.addr + e.size)
			covered = true;
	}
	if (!covered)
		fail("[0x%lx, 0x%lx) is not inside one RAM range", start, end);
	for (uint64_t a = start; a < end; a += PAGE)
		mmio_write8(a, 1);
	printf("touched %lu pages from 0x%lx\n", (unsigned long)(touch / PAGE), (unsigned long)start);
	return 0;
}
