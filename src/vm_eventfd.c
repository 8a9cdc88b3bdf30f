/* ioeventfds and irqfds of the VM's devices: see vm_eventfd.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eventloop.h"
#include "log.h"
#include "vm.h"
#include "vm_eventfd.h"

struct vm_ioevent {
	struct vm *vm;
	int fd;
	uint64_t addr, datamatch;
	unsigned len;
	vm_ioevent_fn fn;
	void *opaque;
	struct vm_ioevent *next;
};

struct vm_irqfd {
	int fd, resample_fd;
	unsigned gsi;
	atomic_int level; /* the level the device wants */
};

static void eventfd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n; /* EAGAIN only at the counter's maximum: already signalled */
}

static bool eventfd_consume(int fd)
{
	uint64_t n;
	return read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n);
}

/* kvm refusing a feature that it advertises, or lacking it, is worth one
 * line (the fallback works but is slower); soft simply has no irqfd. */
static void vm_eventfd_fallback(struct vm *vm, const char *what, int rc)
{
	if (vm->eventfd_fallback_logged)
		return;
	vm->eventfd_fallback_logged = true;
	log_msg("%s: %s unavailable (%s): virtio %s", vm->accel_ops->name, what, strerror(-rc),
		!strcmp(what, "ioeventfd") ? "notifications exit to the vCPU thread"
					   : "interrupts go through irq_set");
}

static void vm_ioevent_ready(void *opaque, uint32_t events)
{
	struct vm_ioevent *ev = opaque;
	(void)events;
	if (eventfd_consume(ev->fd))
		ev->fn(ev->opaque);
}

int vm_ioevent_add(struct vm *vm, uint64_t addr, unsigned len, uint64_t datamatch,
		   vm_ioevent_fn fn, void *opaque)
{
	struct vm_ioevent *ev;
	int rc;

	if (!vm->accel_ops->ioeventfd || !vm->loop)
		return -ENOTSUP;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	*ev = (struct vm_ioevent){ .vm = vm, .addr = addr, .datamatch = datamatch, .len = len,
				   .fn = fn, .opaque = opaque };
	ev->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = eventloop_add(vm->loop, ev->fd, EPOLLIN, vm_ioevent_ready, ev);
	if (rc)
		goto err_close;
	rc = vm->accel_ops->ioeventfd(vm->accel, addr, len, datamatch, ev->fd, true);
	if (rc) {
		vm_eventfd_fallback(vm, "ioeventfd", rc);
		eventloop_del(vm->loop, ev->fd);
		goto err_close;
	}
	ev->next = vm->ioevents;
	vm->ioevents = ev;
	return 0;
err_close:
	close(ev->fd);
err_free:
	free(ev);
	return rc;
}

/* The guest's EOI lowered the line: raise it again while the device holds
 * it (a level-triggered line is high as long as its source is). */
static void vm_irqfd_resample(void *opaque, uint32_t events)
{
	struct vm_irqfd *f = opaque;
	(void)events;
	if (eventfd_consume(f->resample_fd) && atomic_load(&f->level))
		eventfd_signal(f->fd);
}

static void vm_irqfd_free(struct vm *vm, struct vm_irqfd *f, bool assigned)
{
	if (assigned)
		vm->accel_ops->irqfd(vm->accel, f->gsi, f->fd, f->resample_fd, false);
	if (f->resample_fd >= 0) {
		if (vm->loop)
			eventloop_del(vm->loop, f->resample_fd);
		close(f->resample_fd);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

int vm_irqfd_enable(struct vm *vm, unsigned gsi)
{
	struct vm_irqfd *f;
	int rc;

	if (!vm->accel_ops->irqfd || !vm->loop)
		return -ENOTSUP;
	if (gsi >= VM_IRQFD_MAX_GSI)
		return -EINVAL;
	if (vm->irqfd[gsi])
		return -EEXIST;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->gsi = gsi;
	atomic_init(&f->level, 0);
	f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->fd < 0 || f->resample_fd < 0) {
		rc = -errno;
		vm_irqfd_free(vm, f, false);
		return rc;
	}
	rc = eventloop_add(vm->loop, f->resample_fd, EPOLLIN, vm_irqfd_resample, f);
	if (rc) {
		close(f->resample_fd);
		f->resample_fd = -1;
		vm_irqfd_free(vm, f, false);
		return rc;
	}
	rc = vm->accel_ops->irqfd(vm->accel, gsi, f->fd, f->resample_fd, true);
	if (rc) {
		vm_eventfd_fallback(vm, "irqfd", rc);
		vm_irqfd_free(vm, f, false);
		return rc;
	}
	vm->irqfd[gsi] = f;
	return 0;
}

bool vm_irqfd_set_level(struct vm *vm, unsigned gsi, int level)
{
	struct vm_irqfd *f = gsi < VM_IRQFD_MAX_GSI ? vm->irqfd[gsi] : NULL;

	if (!f)
		return false;
	/* Lowering is the EOI's job (the resample): only remember it. */
	atomic_store(&f->level, level != 0);
	if (level)
		eventfd_signal(f->fd);
	return true;
}

void vm_eventfds_destroy(struct vm *vm)
{
	while (vm->ioevents) {
		struct vm_ioevent *ev = vm->ioevents;
		vm->ioevents = ev->next;
		vm->accel_ops->ioeventfd(vm->accel, ev->addr, ev->len, ev->datamatch, ev->fd,
					 false);
		eventloop_del(vm->loop, ev->fd);
		close(ev->fd);
		free(ev);
	}
	for (unsigned gsi = 0; gsi < VM_IRQFD_MAX_GSI; gsi++) {
		if (vm->irqfd[gsi])
			vm_irqfd_free(vm, vm->irqfd[gsi], true);
		vm->irqfd[gsi] = NULL;
	}
}
