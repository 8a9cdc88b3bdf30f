/* Debug-exit port (the same contract as QEMU's isa-debug-exit): a test guest
 * writes a status byte v to PORT_DEBUG_EXIT and isola stops with exit status
 * (v << 1) | 1, truncated to 8 bits as a process exit status is. An odd status
 * can never be confused with isola's own 0, 2, 4 or 6. */
#ifndef ISOLA_DEVICES_DEBUG_EXIT_H
#define ISOLA_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "device.h"

struct vm;

/* Claimed width: 1-byte writes at the port, and 2- or 4-byte writes there too
 * (their low byte is the status). */
#define DEBUG_EXIT_NR_PORTS 4

/* The exit status a write of v gives. */
static inline int debug_exit_status(uint8_t v)
{
	return (((int)v << 1) | 1) & 0xff;
}

/* NULL on ENOMEM. The caller registers [PORT_DEBUG_EXIT, +DEBUG_EXIT_NR_PORTS)
 * on the pio bus as region 0. */
struct device *debug_exit_create(struct vm *vm);

/* Create, add to the VM and claim the port. 0 or -errno. */
int debug_exit_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

#endif
