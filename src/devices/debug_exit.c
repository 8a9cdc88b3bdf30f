/* Debug-exit port for test guests; see debug_exit.h.
 *
 * The port claims 4 bytes so that a 2- or 4-byte OUT at PORT_DEBUG_EXIT is
 * taken whole (its low byte is the status). Writes that start at one of the
 * other three ports are not debug-exit writes and are ignored (logged).
 * Reads return 0, as QEMU's isa-debug-exit does: a guest can tell the port is
 * there, since an unclaimed port reads all-ones. The device has no state, so
 * it has no save/restore. */
#include <errno.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "devices/debug_exit.h"
#include "log.h"
#include "vm.h"

struct debug_exit {
	struct device dev;
	struct vm *vm; /* never changes after create: no lock needed */
};

static struct ratelimit debug_exit_rl = RATELIMIT_INIT(3);

static uint64_t debug_exit_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	return 0;
}

static void debug_exit_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
			     uint64_t val)
{
	struct debug_exit *d = dev->state;
	if (off != 0) {
		log_ratelimited(&debug_exit_rl, "debug-exit: write to port 0x%llx ignored "
				"(the status goes to 0x%x)",
				(unsigned long long)(PORT_DEBUG_EXIT + off), PORT_DEBUG_EXIT);
		return;
	}
	vm_request_stop(d->vm, VM_STOP_DEBUG_EXIT, debug_exit_status((uint8_t)val));
}

/* Nothing to reset: the device has no state. */
static void debug_exit_reset(struct device *dev)
{
}

static void debug_exit_destroy(struct device *dev)
{
	free(dev->state);
}

static const struct device_ops debug_exit_ops = {
	.name = "debug-exit",
	.read = debug_exit_read,
	.write = debug_exit_write,
	.reset = debug_exit_reset,
	.destroy = debug_exit_destroy,
};

struct device *debug_exit_create(struct vm *vm)
{
	struct debug_exit *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->vm = vm;
	d->dev.ops = &debug_exit_ops;
	d->dev.state = d;
	return &d->dev;
}

int debug_exit_attach(struct vm *vm, struct device **out)
{
	struct device *dev = debug_exit_create(vm);
	if (!dev)
		return -ENOMEM;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	int rc = bus_register(&vm->pio, PORT_DEBUG_EXIT, DEBUG_EXIT_NR_PORTS, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}
