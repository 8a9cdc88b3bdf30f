/* The bounded trace file (src/trace.c): option parsing and the size bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"
#include "unit.h"

TEST(trace_spec)
{
	char err[256], a[] = "out.trace", b[] = "t,size=1M", c[] = "t,size=1K", d[] = ",size=1M",
	     e[] = "t,speed=3", f[] = "t,size=17G";
	const char *path;
	uint64_t size;
	CHECK_EQ(trace_parse_spec(a, &path, &size, err, sizeof(err)), 0);
	CHECK(!strcmp(path, "out.trace"));
	CHECK_EQ(size, TRACE_DEFAULT_SIZE);
	CHECK_EQ(trace_parse_spec(b, &path, &size, err, sizeof(err)), 0);
	CHECK(!strcmp(path, "t"));
	CHECK_EQ(size, 1u << 20);
	CHECK(trace_parse_spec(c, &path, &size, err, sizeof(err)) < 0); /* below 4K */
	CHECK(strstr(err, "size must be"));
	CHECK(trace_parse_spec(d, &path, &size, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no file name"));
	CHECK(trace_parse_spec(e, &path, &size, err, sizeof(err)) < 0);
	CHECK(strstr(err, "unknown option 'speed=3'"));
	CHECK(trace_parse_spec(f, &path, &size, err, sizeof(err)) < 0); /* above 16G */
}

TEST(trace_bound)
{
	char path[] = "/tmp/isola-trace-test.XXXXXX", err[256];
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	struct trace_file *t;
	CHECK_EQ(trace_open(path, 4096, &t, err, sizeof(err)), 0);
	char line[100];
	memset(line, 'x', sizeof(line));
	int written = 0;
	while (!trace_full(t) && written < 1000) {
		trace_write(t, line, sizeof(line));
		written++;
	}
	CHECK(trace_full(t));
	uint64_t bytes = trace_bytes(t);
	trace_write(t, line, sizeof(line)); /* dropped */
	CHECK_EQ(trace_bytes(t), bytes);
	trace_close(t);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK((uint64_t)st.st_size == bytes);
	CHECK(st.st_size <= 4096 && st.st_size > 4096 - 200);
	/* The last line says where it stopped. */
	FILE *f = fopen(path, "r");
	char buf[4200], last[128] = "";
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char *nl = n >= 2 ? memrchr(buf, '\n', n - 1) : NULL;
	if (nl)
		snprintf(last, sizeof(last), "%s", nl + 1);
	unsigned long long at = 0;
	CHECK_EQ(sscanf(last, "trace truncated at %llu bytes", &at), 1);
	CHECK_EQ(at + strlen(last), (unsigned long long)n);
	unlink(path);
	/* A file that cannot be created: one line naming it. */
	CHECK(trace_open("/nonexistent-dir/t", 4096, &t, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent-dir/t: cannot create it"));
}
