/* stamp: bench/spawn with several markers and a time limit, for boot.sh.
 *
 * bench/spawn times one marker; a boot with a guest workload has several
 * (the boot marker, the workload's own marks, the command's end), and a
 * guest that hangs (Linux's PIT calibration on a slow CPU can) must not
 * stall the benchmark. Same method as bench/spawn.c otherwise:
 * CLOCK_MONOTONIC just before posix_spawn (t = 0), the child's stdin
 * /dev/null and its stdout a pipe we read; each marker's time is when the
 * read that completed its first occurrence returned; wait4()'s rusage gives
 * the peak RSS and the CPU time (user and system apart, all threads, and
 * any children the command waited for).
 *
 * Output, one line on our stdout (times in microseconds since the spawn):
 *   first_byte_us=F exit_us=E user_us=U sys_us=S maxrss_kb=R status=X
 *   bytes=B timed_out=T mark1_us=M1 mark2_us=M2 ...
 *   mark1_cpu_us=C1 ...
 * Ci is the child's CPU time (all its threads: the first field of each
 * /proc/PID/task/TID/schedstat, nanoseconds on a CPU) when marker i was
 * seen, so a stretch between two markers can be given in CPU time, which a
 * loaded host inflates less than wall time. A thread that has ended is no
 * longer listed there (a marker read while the child exits); when
 * /proc/PID/stat's utime + stime, which keeps ended threads' time but only
 * in clock ticks, is more than 50 ms ahead, Ci is that instead.
 * F, Mi and Ci are -1 if never seen; X is the exit status, or 128+N for signal
 * N; T is 1 if the time limit ran out (SIGTERM, then SIGKILL 3 s later).
 *
 * Usage: stamp [-o FILE] [-e FILE] [-t SECONDS] [-m MARKER]... -- CMD [ARGS...]
 *   -o FILE  copy the child's stdout there    -e FILE  the child's stderr
 *   -t SEC   time limit (default: none)       -m STR   a marker (up to 8) */
#include <errno.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/timed_child.h"

#define MAX_MARKERS 8
#define MAX_MARKER_LEN 255
#define CHUNK 65536

/* CPU time of every thread of pid so far, in microseconds; -1 if unknown. */
static double child_cpu_us(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	double total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char sp[352];
		snprintf(sp, sizeof(sp), "%s/%s/schedstat", path, de->d_name);
		FILE *f = fopen(sp, "r");
		unsigned long long ns;
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			total += ns / 1e3;
		fclose(f);
	}
	closedir(d);

	char st[64], line[1024];
	snprintf(st, sizeof(st), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(st, "r");
	if (!f)
		return total;
	size_t len = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[len] = '\0';
	/* After the command name (which may hold spaces): state is field 3,
	 * utime and stime fields 14 and 15. */
	char *p = strrchr(line, ')');
	unsigned long long ut, stm;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			&stm) == 2) {
		double ticks_us = (ut + stm) * 1e6 / (double)sysconf(_SC_CLK_TCK);
		if (ticks_us > total + 50e3)
			total = ticks_us;
	}
	return total;
}

static void usage(void)
{
	fprintf(stderr, "usage: stamp [-o FILE] [-e FILE] [-t SECONDS] [-m MARKER]... "
			"-- COMMAND [ARGS...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out_path = NULL, *err_path = "/dev/null";
	const char *marker[MAX_MARKERS];
	double t_marker[MAX_MARKERS], cpu_marker[MAX_MARKERS];
	size_t nmark = 0, maxlen = 0;
	double limit_s = 0;
	struct timed_child c;
	int opt;

	while ((opt = getopt(argc, argv, "+o:e:t:m:")) != -1) {
		switch (opt) {
		case 'o': out_path = optarg; break;
		case 'e': err_path = optarg; break;
		case 't': limit_s = atof(optarg); break;
		case 'm':
			if (nmark == MAX_MARKERS || !*optarg || strlen(optarg) > MAX_MARKER_LEN)
				usage();
			marker[nmark] = optarg;
			cpu_marker[nmark] = -1;
			t_marker[nmark++] = -1;
			if (strlen(optarg) > maxlen)
				maxlen = strlen(optarg);
			break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();

	if (timed_child_start(&c, "stamp", out_path, err_path, &argv[optind]))
		return 2;
	pid_t pid = c.pid;
	double t0 = c.t0;

	double deadline = limit_s > 0 ? t0 + limit_s * 1e6 : 0, t_kill = 0;
	int timed_out = 0;
	/* A marker may straddle two reads: keep the last maxlen-1 bytes. */
	static char buf[CHUNK + MAX_MARKER_LEN];
	size_t keep = 0;

	for (;;) {
		if (deadline) {
			double t = now_us();
			if (!timed_out && t >= deadline) {
				timed_out = 1;
				kill(pid, SIGTERM);
				t_kill = t + 3e6;
			} else if (timed_out && t >= t_kill) {
				/* Something the child left behind may hold the pipe
				 * open: stop reading, reap the child. */
				kill(pid, SIGKILL);
				break;
			}
			double until = timed_out ? t_kill : deadline;
			struct pollfd pfd = { .fd = c.pipe_fd, .events = POLLIN };
			int ms = (int)((until - t) / 1e3) + 1;
			int r = poll(&pfd, 1, ms);
			if (r < 0 && errno != EINTR) {
				perror("poll");
				break;
			}
			if (r <= 0)
				continue;
		}
		ssize_t n = read(c.pipe_fd, buf + keep, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		double t = now_us();
		timed_child_got(&c, buf + keep, (size_t)n, t);
		size_t have = keep + (size_t)n;
		double cpu = -2;
		for (size_t i = 0; i < nmark; i++)
			if (t_marker[i] < 0 && memmem(buf, have, marker[i], strlen(marker[i]))) {
				t_marker[i] = t;
				if (cpu == -2)
					cpu = child_cpu_us(pid);
				cpu_marker[i] = cpu;
			}
		keep = maxlen > 1 ? (have < maxlen - 1 ? have : maxlen - 1) : 0;
		memmove(buf, buf + have - keep, keep);
	}

	if (timed_child_reap(&c))
		return 2;
	double user = c.ru.ru_utime.tv_sec * 1e6 + c.ru.ru_utime.tv_usec;
	double sys = c.ru.ru_stime.tv_sec * 1e6 + c.ru.ru_stime.tv_usec;

	printf("first_byte_us=%.1f exit_us=%.1f user_us=%.0f sys_us=%.0f maxrss_kb=%ld status=%d "
	       "bytes=%llu timed_out=%d",
	       c.t_first < 0 ? -1 : c.t_first - t0, c.t_exit - t0, user, sys, c.ru.ru_maxrss,
	       c.code, c.bytes, timed_out);
	for (size_t i = 0; i < nmark; i++)
		printf(" mark%zu_us=%.1f", i + 1, t_marker[i] < 0 ? -1 : t_marker[i] - t0);
	for (size_t i = 0; i < nmark; i++)
		printf(" mark%zu_cpu_us=%.1f", i + 1, cpu_marker[i]);
	printf("\n");
	return 0;
}
