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
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void usage(void)
{
	fprintf(stderr, "usage: spawn [-o FILE] [-e FILE] [-m MARKER] -- COMMAND [ARGS...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out_path = NULL, *err_path = "/dev/null", *marker = NULL;
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

	int out_fd = -1;
	if (out_path) {
		out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out_fd < 0) {
			perror(out_path);
			return 2;
		}
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe2");
		return 2;
	}

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	pid_t pid;
	double t0 = now_us();
	/* glibc's posix_spawn is clone(CLONE_VM|CLONE_VFORK) + execve: the
	 * cheapest way to start a process, so t0 is close to the real start. */
	int e = posix_spawnp(&pid, argv[optind], &fa, NULL, &argv[optind], environ);
	if (e) {
		fprintf(stderr, "spawn %s: %s\n", argv[optind], strerror(e));
		return 2;
	}
	close(p[1]);

	double t_first = -1, t_marker = -1;
	unsigned long long bytes = 0;
	size_t mlen = marker ? strlen(marker) : 0;
	/* A marker may straddle two reads: keep its last mlen-1 bytes. */
	char buf[65536 + 256];
	size_t keep = 0;

	for (;;) {
		ssize_t n = read(p[0], buf + keep, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		double t = now_us();
		if (t_first < 0)
			t_first = t;
		bytes += (unsigned long long)n;
		if (out_fd >= 0 && write(out_fd, buf + keep, (size_t)n) != n) {
			perror("write");
			out_fd = -1;
		}
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

	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("wait4");
			return 2;
		}
	}
	double t_exit = now_us();
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
		     ru.ru_stime.tv_usec;

	printf("first_byte_us=%.1f marker_us=%.1f exit_us=%.1f cpu_us=%.0f maxrss_kb=%ld status=%d "
	       "bytes=%llu\n",
	       t_first < 0 ? -1 : t_first - t0, t_marker < 0 ? -1 : t_marker - t0, t_exit - t0,
	       cpu, ru.ru_maxrss, code, bytes);
	return 0;
}
