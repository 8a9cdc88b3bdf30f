/* The main thread's epoll loop: host-side I/O (console), stop requests and
 * signals. vCPU threads never block here; they write eventfds. */
#ifndef ISOLA_EVENTLOOP_H
#define ISOLA_EVENTLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct eventloop;
typedef void (*eventloop_fn)(void *opaque, uint32_t events);

struct eventloop *eventloop_create(void);
void eventloop_destroy(struct eventloop *loop);
/* Watch fd for events (EPOLLIN/EPOLLOUT...). 0 or -errno. fd must stay open
 * until eventloop_del. */
int eventloop_add(struct eventloop *loop, int fd, uint32_t events, eventloop_fn fn,
		  void *opaque) __attribute__((warn_unused_result));
int eventloop_mod(struct eventloop *loop, int fd, uint32_t events);
void eventloop_del(struct eventloop *loop, int fd);
/* Wait up to timeout_ms (-1: forever) and run the callbacks that are due.
 * 0 or -errno (EINTR is not an error). */
int eventloop_run_once(struct eventloop *loop, int timeout_ms);

#endif
