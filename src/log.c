/* Log lines and the user-error exit (see log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The console may be in raw mode, where "\n" does not return the carriage:
 * always end log lines with "\r\n" when stderr is a terminal. */
static void log_vline(const char *fmt, va_list ap)
{
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	static int tty = -1;
	if (tty < 0)
		tty = isatty(2);
	fprintf(stderr, "isola: %s%s", line, tty ? "\r\n" : "\n");
}

void log_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap);
	va_end(ap);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap);
	va_end(ap);
	exit(2);
}

int ratelimit_ok(struct ratelimit *rl)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != rl->last_sec) {
		if (rl->suppressed)
			log_msg("(%llu similar lines suppressed)",
				(unsigned long long)rl->suppressed);
		rl->last_sec = ts.tv_sec;
		rl->suppressed = 0;
		if (rl->tokens < rl->burst)
			rl->tokens++;
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return 0;
	}
	rl->tokens--;
	return 1;
}
