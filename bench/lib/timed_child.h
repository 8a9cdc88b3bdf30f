/* timed_child: the part bench/spawn.c and bench/boot/stamp.c share: start a
 * command the way a user would (posix_spawnp; stdin /dev/null, stdout a pipe
 * we read, stderr to a file), copy what it prints, and reap it with its
 * rusage. Times are CLOCK_MONOTONIC microseconds; t0 is taken just before
 * the spawn. Nothing is injected into the child: no tracing, no env vars. */
#ifndef BENCH_TIMED_CHILD_H
#define BENCH_TIMED_CHILD_H

#include <sys/resource.h>
#include <sys/types.h>

struct timed_child {
	pid_t pid;
	int out_fd;		/* copy of the child's stdout, or -1 */
	int pipe_fd;		/* read end of the child's stdout */
	double t0;		/* just before the spawn */
	double t_first;		/* first stdout byte, or -1 */
	unsigned long long bytes;
	double t_exit;		/* when reaped */
	int code;		/* exit status, or 128+N for signal N */
	struct rusage ru;	/* wait4's: peak RSS, CPU time */
};

double now_us(void);

/* Spawns argv[0] with argv; its stdout is copied to out_path if not NULL,
 * its stderr goes to err_path. Errors are reported on stderr prefixed with
 * tool; returns 0 or -1. */
int timed_child_start(struct timed_child *c, const char *tool, const char *out_path,
		      const char *err_path, char **argv);

/* Accounts for n bytes just read at time t (first byte, count) and copies
 * them to the output file; a failed copy stops further copies. */
void timed_child_got(struct timed_child *c, const char *data, size_t n, double t);

/* Waits for the child and fills in t_exit, code and ru. Returns 0, or -1 if
 * wait4 failed (reported). */
int timed_child_reap(struct timed_child *c);

#endif
