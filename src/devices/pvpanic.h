/* pvpanic: the guest kernel tells the host it panicked (the ISA form of
 * QEMU's pvpanic device, docs/specs/pvpanic.rst in QEMU's tree; Linux's
 * drivers/misc/pvpanic). One I/O port, PORT_PVPANIC, described in the DSDT as
 * Device (PEVT) with _HID "QEMU0001". Reading it gives the events the host
 * understands; the guest writes the event bits:
 *   bit 0 PANICKED      the kernel panicked: isola stops the VM with
 *                       EXIT_GUEST_PANIC and says so;
 *   bit 1 CRASH_LOADED  a crash kernel (kdump) is taking over: logged, the
 *                       VM goes on. */
#ifndef ISOLA_DEVICES_PVPANIC_H
#define ISOLA_DEVICES_PVPANIC_H

#include <stdint.h>

#include "device.h"

struct vm;

#define PVPANIC_PANICKED     (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)

/* NULL on ENOMEM. The caller registers [PORT_PVPANIC, +1) on the pio bus as
 * region 0. */
struct device *pvpanic_create(struct vm *vm);

/* Create, add to the VM and claim the port. 0 or -errno. */
int pvpanic_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

#endif
