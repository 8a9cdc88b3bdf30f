/* timed_child: see timed_child.h. */
#include "timed_child.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int timed_child_start(struct timed_child *c, const char *tool, const char *out_path,
		      const char *err_path, char **argv)
{
	c->out_fd = -1;
	c->t_first = -1;
	c->bytes = 0;
	if (out_path) {
		c->out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			perror(out_path);
			return -1;
		}
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe2");
		return -1;
	}

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	c->t0 = now_us();
	/* glibc's posix_spawn is clone(CLONE_VM|CLONE_VFORK) + execve: the
	 * cheapest way to start a process, so t0 is close to the real start. */
	int e = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, environ);
	if (e) {
		fprintf(stderr, "%s: %s: %s\n", tool, argv[0], strerror(e));
		return -1;
	}
	close(p[1]);
	c->pipe_fd = p[0];
	return 0;
}

void timed_child_got(struct timed_child *c, const char *data, size_t n, double t)
{
	if (c->t_first < 0)
		c->t_first = t;
	c->bytes += n;
	if (c->out_fd >= 0 && write(c->out_fd, data, n) != (ssize_t)n) {
		perror("write");
		c->out_fd = -1;
	}
}

int timed_child_reap(struct timed_child *c)
{
	int status;

	while (wait4(c->pid, &status, 0, &c->ru) < 0) {
		if (errno != EINTR) {
			perror("wait4");
			return -1;
		}
	}
	c->t_exit = now_us();
	c->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}
