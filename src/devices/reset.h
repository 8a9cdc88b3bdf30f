/* System reset controls of the PC: the PCI reset control register at 0xcf9
 * and the reset line of the i8042 keyboard controller (ports 0x60, 0x64).
 * Both end in vm_request_reset(). */
#ifndef ISOLA_DEVICES_RESET_H
#define ISOLA_DEVICES_RESET_H

#include "device.h"

struct vm;

/* Regions the caller registers on the pio bus (each one port long). */
enum reset_region {
	RESET_REGION_CF9 = 0,   /* PORT_RESET_CF9 */
	RESET_REGION_I8042_DATA, /* PORT_I8042_DATA */
	RESET_REGION_I8042_CMD, /* PORT_I8042_CMD */
};

/* NULL on ENOMEM. vm is only used to call vm_request_reset(). */
struct device *reset_create(struct vm *vm);

/* Create, add to the VM and claim the three ports. 0 or -errno. */
int reset_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

#endif
