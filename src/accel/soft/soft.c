/* The soft accelerator: isola's own x86-64 CPU. Not written yet; until it is,
 * asking for it fails with one clear line and --accel auto uses kvm. */
#include <errno.h>

#include "accel/accel.h"

static int soft_vm_create(struct vm *vm, struct accel **out, const char **why)
{
	*why = "the soft CPU is not yet available in this build";
	return -ENOSYS;
}

const struct accel_ops accel_soft_ops = {
	.name = "soft",
	.vm_create = soft_vm_create,
};
