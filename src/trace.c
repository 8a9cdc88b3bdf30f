/* The bounded trace file (see trace.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "trace.h"

struct trace_file {
	pthread_mutex_t lock; /* orders lines from the vCPU threads; guards f, bytes */
	FILE *f;
	uint64_t limit, bytes;
	atomic_bool full;
};

/* Room kept for the final line, so the file never exceeds the bound. */
#define TRACE_TAIL 64

int trace_parse_spec(char *spec, const char **path, uint64_t *size, char *err, size_t errlen)
{
	*size = TRACE_DEFAULT_SIZE;
	*path = NULL;
	char *comma = strchr(spec, ',');
	if (comma) {
		const char *opt = comma + 1;
		if (strncmp(opt, "size=", 5)) {
			snprintf(err, errlen, "--trace %s: unknown option '%s' (write "
				 "--trace FILE[,size=N])", spec, opt);
			return -EINVAL;
		}
		if (config_parse_size(opt + 5, size) || *size < TRACE_MIN_SIZE ||
		    *size > TRACE_MAX_SIZE) {
			snprintf(err, errlen, "--trace %s: size must be from %lluK to %lluG, e.g. "
				 "size=64M", spec, (unsigned long long)(TRACE_MIN_SIZE >> 10),
				 (unsigned long long)(TRACE_MAX_SIZE >> 30));
			return -EINVAL;
		}
	}
	if (spec == comma || !spec[0]) {
		snprintf(err, errlen, "--trace %s: no file name (write --trace FILE[,size=N])",
			 spec);
		return -EINVAL;
	}
	if (comma)
		*comma = '\0';
	*path = spec;
	return 0;
}

int trace_open(const char *path, uint64_t size, struct trace_file **out, char *err,
	       size_t errlen)
{
	struct trace_file *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "--trace %s: out of memory", path);
		return -ENOMEM;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "--trace %s: cannot create it: %s", path, strerror(e));
		free(t);
		return -e;
	}
	t->f = fdopen(fd, "w");
	if (!t->f) {
		int e = errno;
		close(fd);
		free(t);
		snprintf(err, errlen, "--trace %s: %s", path, strerror(e));
		return -e;
	}
	setvbuf(t->f, NULL, _IOFBF, 1 << 20);
	pthread_mutex_init(&t->lock, NULL);
	t->limit = size;
	atomic_init(&t->full, false);
	*out = t;
	return 0;
}

void trace_close(struct trace_file *t)
{
	if (!t)
		return;
	fclose(t->f);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

bool trace_full(const struct trace_file *t)
{
	return atomic_load_explicit(&t->full, memory_order_relaxed);
}

void trace_write(struct trace_file *t, const char *line, size_t len)
{
	pthread_mutex_lock(&t->lock);
	if (atomic_load_explicit(&t->full, memory_order_relaxed))
		goto out;
	if (t->bytes + len + 1 + TRACE_TAIL > t->limit) {
		char tail[TRACE_TAIL];
		int n = snprintf(tail, sizeof(tail), "trace truncated at %llu bytes\n",
				 (unsigned long long)t->bytes);
		if (n > 0 && fwrite(tail, 1, (size_t)n, t->f) == (size_t)n)
			t->bytes += (uint64_t)n;
		fflush(t->f);
		atomic_store(&t->full, true);
		goto out;
	}
	if (fwrite(line, 1, len, t->f) != len || fputc('\n', t->f) == EOF) {
		/* Disk full or gone: stop tracing rather than retry each line. */
		atomic_store(&t->full, true);
		goto out;
	}
	t->bytes += len + 1;
out:
	pthread_mutex_unlock(&t->lock);
}

uint64_t trace_bytes(struct trace_file *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t b = t->bytes;
	pthread_mutex_unlock(&t->lock);
	return b;
}
