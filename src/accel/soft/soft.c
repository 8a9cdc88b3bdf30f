/* The soft accelerator: isola's own x86-64 CPU. Not written yet; until it is,
 * asking for it fails with one clear line and --accel auto uses kvm. */
#include <errno.h>

#include "accel/accel.h"

static int soft_vm_create(struct vm *vm, struct accel **out, const char **why)
{
	*why = "the soft CPU is not yet available in this build";
	return -ENOSYS;
}

static const char *soft_unavailable(void)
{
	return "the soft CPU is not yet available in this build";
}

const struct accel_ops accel_soft_ops = {
	.name = "soft",
	.unavailable = soft_unavailable,
	.vm_create = soft_vm_create,
};
