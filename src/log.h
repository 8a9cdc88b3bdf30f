/* Logging. Messages go to stderr as "isola: ..." lines. */
#ifndef ISOLA_LOG_H
#define ISOLA_LOG_H

#include <stdint.h>
#include <time.h>

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start-up errors caused by the user's own input: one clear line, exit 2.
 * Never called for anything a guest does. */
void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A token bucket for log lines a guest can provoke: at most `burst` lines,
 * then one a second. Not thread-exact; a lost update only changes a count. */
struct ratelimit {
	int64_t last_sec;
	unsigned tokens, burst;
	uint64_t suppressed;
};
#define RATELIMIT_INIT(b) { .last_sec = 0, .tokens = (b), .burst = (b), .suppressed = 0 }
/* True if a line may be printed now. */
int ratelimit_ok(struct ratelimit *rl);

#define log_ratelimited(rl, ...)                                               \
	do {                                                                   \
		if (ratelimit_ok(rl))                                          \
			log_msg(__VA_ARGS__);                                  \
	} while (0)

#endif
