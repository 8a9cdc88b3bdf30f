/* spawn: run one command the way a user would, and time it from outside.
 *
 * Records CLOCK_MONOTONIC just before the process is created, when the first
 * byte arrives on its stdout (a pipe; isola's guest UART goes there), when an
 * optional marker string first appears, and when wait4() reaps it; takes the
 * peak RSS from wait4()'s rusage. The child's stdin is /dev/null; its stdout
 * is copied to -o FILE if given, its stderr goes to -e FILE (default
 * /dev/null). Nothing is injected into the child: no tracing, no env vars.
 *
 * Output, one line on our stdout (times in microseconds since spawn):
 *   first_byte_us=F marker_us=M exit_us=E cpu_us=C maxrss_kb=R status=S bytes=B
 * F and M are -1 if never seen; C is the child's user + system CPU time (all
 * its threads; on this host the guest's emulated instructions are system
 * time of the vCPU thread); S is the exit status, or 128+N for signal N.
 *
 * Usage: spawn [-o FILE] [-e FILE] [-m MARKER] -- COMMAND [ARGS...] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/timed_child.h"

static void usage(void)
{
	fprintf(stderr, "usage: spawn [-o FILE] [-e FILE] [-m MARKER] -- COMMAND [ARGS...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out_path = NULL, *err_path = "/dev/null", *marker = NULL;
	struct timed_child c;
	int opt;

	while ((opt = getopt(argc, argv, "+o:e:m:")) != -1) {
		switch (opt) {
		case 'o': out_path = optarg; break;
		case 'e': err_path = optarg; break;
		case 'm': marker = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();

	if (timed_child_start(&c, "spawn", out_path, err_path, &argv[optind]))
		return 2;

	double t_marker = -1;
	size_t mlen = marker ? strlen(marker) : 0;
	/* A marker may straddle two reads: keep its last mlen-1 bytes. */
	char buf[65536 + 256];
	size_t keep = 0;

	for (;;) {
		ssize_t n = read(c.pipe_fd, buf + keep, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		double t = now_us();
		timed_child_got(&c, buf + keep, (size_t)n, t);
		size_t have = keep + (size_t)n;
		if (marker && t_marker < 0) {
			if (memmem(buf, have, marker, mlen))
				t_marker = t;
		}
		keep = 0;
		if (mlen > 1 && mlen - 1 <= 255) {
			keep = have < mlen - 1 ? have : mlen - 1;
			memmove(buf, buf + have - keep, keep);
		}
	}

	if (timed_child_reap(&c))
		return 2;

	double cpu = (c.ru.ru_utime.tv_sec + c.ru.ru_stime.tv_sec) * 1e6 + c.ru.ru_utime.tv_usec +
		     c.ru.ru_stime.tv_usec;

	printf("first_byte_us=%.1f marker_us=%.1f exit_us=%.1f cpu_us=%.0f maxrss_kb=%ld status=%d "
	       "bytes=%llu\n",
	       c.t_first < 0 ? -1 : c.t_first - c.t0, t_marker < 0 ? -1 : t_marker - c.t0,
	       c.t_exit - c.t0, cpu, c.ru.ru_maxrss, c.code, c.bytes);
	return 0;
}
