/* The target of the gdb stub's tests (tests/integration/gdb.sh): known
 * symbols to stop at and memory for the debugger to change.
 *
 * The guest exits through the debug-exit port with gdb_poke's low byte, so
 * isola's status, (gdb_poke << 1) | 1, shows whether a debugger's write
 * reached it. With loop=1 on the command line it spins in gdb_spin until a
 * debugger sets gdb_stop (after interrupting it with Ctrl-C). With fault=1
 * it takes a #UD first, for the trace test; spin=N spins N rounds (~6
 * instructions each) before it exits, for timing. Not part of tests/guests/run.sh:
 * on its own it simply exits with status 15. */
#include "rt/lib.h"
#include "rt/trap.h"

volatile uint64_t gdb_poke = 7;
volatile uint64_t gdb_stop;
volatile uint64_t gdb_seen;

__attribute__((noinline)) void gdb_marker(uint64_t v)
{
	gdb_seen = v + 1;
	__asm__ volatile("" ::: "memory");
}

/* Until a debugger sets gdb_stop, or `limit` rounds (0: no limit). */
__attribute__((noinline)) void gdb_spin(uint64_t limit)
{
	for (uint64_t i = 0; !gdb_stop && (!limit || i < limit); i++)
		__asm__ volatile("pause" ::: "memory");
}

static void skip_ud2(struct trap_frame *f)
{
	f->rip += 2;
}

int guest_main(void *bp)
{
	uint64_t v;

	if (cmdline_u64(bp, "fault", &v) && v) {
		trap_install();
		trap_handler = skip_ud2;
		__asm__ volatile("ud2");
		puts("took a #UD\n");
	}
	gdb_marker(gdb_poke);
	if (cmdline_u64(bp, "loop", &v) && v) {
		puts("spinning until a debugger sets gdb_stop\n");
		gdb_spin(0);
	}
	if (cmdline_u64(bp, "spin", &v)) /* a CPU-bound run of v rounds, for timing */
		gdb_spin(v);
	printf("gdb_poke=0x%lx\n", (unsigned long)gdb_poke);
	debug_exit((uint8_t)gdb_poke);
}
