/* --trace FILE[,size=N]: a text file that execution traces go to, bounded in
 * size. Lines come from vCPU threads (one mutex orders them); when the next
 * line would pass the bound, a last line "trace truncated at N bytes" is
 * written and everything after is dropped — a trace never fills the disk. */
#ifndef ISOLA_TRACE_H
#define ISOLA_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_DEFAULT_SIZE (64ull << 20)
#define TRACE_MIN_SIZE     (4ull << 10)
#define TRACE_MAX_SIZE     (16ull << 30)

struct trace_file;

/* Parse "FILE[,size=N]" (the option's value, split in place: *path points
 * into spec). 0, or -EINVAL with one line in err saying what is wrong. */
int trace_parse_spec(char *spec, const char **path, uint64_t *size, char *err, size_t errlen);

/* Create (truncate) path. 0 or -errno with one line in err. */
int trace_open(const char *path, uint64_t size, struct trace_file **out, char *err,
	       size_t errlen);
/* Flush and close; prints nothing. NULL is fine. */
void trace_close(struct trace_file *t);

/* True once the bound was reached: callers skip formatting their lines. */
bool trace_full(const struct trace_file *t);
/* Append one line (len bytes, no newline: one is added). Any thread. */
void trace_write(struct trace_file *t, const char *line, size_t len);
/* Bytes written so far (tests). */
uint64_t trace_bytes(struct trace_file *t);

#endif
