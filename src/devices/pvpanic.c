/* pvpanic; see pvpanic.h. The device has no state (a panic stops the VM at
 * once), so it has no save/restore. */
#include <errno.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "devices/pvpanic.h"
#include "log.h"
#include "vm.h"

struct pvpanic {
	struct device dev;
	struct vm *vm; /* never changes after create: no lock needed */
};

static struct ratelimit pvpanic_rl = RATELIMIT_INIT(3);

/* The events this host handles; Linux's driver writes only those. */
static uint64_t pvpanic_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	return PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

static void pvpanic_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
			  uint64_t val)
{
	struct pvpanic *p = dev->state;

	if (val & PVPANIC_PANICKED) {
		vm_request_stop(p->vm, VM_STOP_PANIC, EXIT_GUEST_PANIC);
		return;
	}
	if (val & PVPANIC_CRASH_LOADED)
		log_ratelimited(&pvpanic_rl, "pvpanic: the guest kernel crashed and is starting "
				"its crash kernel (kdump); the VM goes on");
}

static void pvpanic_reset(struct device *dev)
{
}

static void pvpanic_destroy(struct device *dev)
{
	free(dev->state);
}

static const struct device_ops pvpanic_ops = {
	.name = "pvpanic",
	.read = pvpanic_read,
	.write = pvpanic_write,
	.reset = pvpanic_reset,
	.destroy = pvpanic_destroy,
};

struct device *pvpanic_create(struct vm *vm)
{
	struct pvpanic *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->vm = vm;
	p->dev.ops = &pvpanic_ops;
	p->dev.state = p;
	return &p->dev;
}

int pvpanic_attach(struct vm *vm, struct device **out)
{
	struct device *dev = pvpanic_create(vm);
	if (!dev)
		return -ENOMEM;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	int rc = bus_register(&vm->pio, PORT_PVPANIC, 1, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}
