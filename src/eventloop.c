/* epoll-based event loop (see eventloop.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "eventloop.h"

/* Console, signals, stop, the soft irqchip's timers, and per virtio device an
 * ioeventfd per queue and an irqfd resample fd (vm_eventfd.c). */
#define EVENTLOOP_MAX_WATCHES 96

struct watch {
	int fd;
	eventloop_fn fn;
	void *opaque;
};

struct eventloop {
	int epfd;
	struct watch watches[EVENTLOOP_MAX_WATCHES];
};

struct eventloop *eventloop_create(void)
{
	struct eventloop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	for (int i = 0; i < EVENTLOOP_MAX_WATCHES; i++)
		l->watches[i].fd = -1;
	return l;
}

void eventloop_destroy(struct eventloop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l);
}

static struct watch *eventloop_find(struct eventloop *l, int fd)
{
	for (int i = 0; i < EVENTLOOP_MAX_WATCHES; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

int eventloop_add(struct eventloop *l, int fd, uint32_t events, eventloop_fn fn, void *opaque)
{
	struct watch *w = eventloop_find(l, -1);
	if (!w)
		return -ENOSPC;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*w = (struct watch){ .fd = fd, .fn = fn, .opaque = opaque };
	return 0;
}

int eventloop_mod(struct eventloop *l, int fd, uint32_t events)
{
	struct watch *w = eventloop_find(l, fd);
	if (!w)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void eventloop_del(struct eventloop *l, int fd)
{
	struct watch *w = eventloop_find(l, fd);
	if (!w)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
}

int eventloop_run_once(struct eventloop *l, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(l->epfd, evs, 16, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;
		if (w->fd >= 0) /* a callback earlier in this batch may have removed it */
			w->fn(w->opaque, evs[i].events);
	}
	return 0;
}
