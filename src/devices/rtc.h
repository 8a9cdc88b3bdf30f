/* CMOS real-time clock (Motorola MC146818A as wired in the PC): index port
 * PORT_RTC, data port PORT_RTC + 1, 128 bytes of CMOS (14 clock registers and
 * 114 bytes of RAM). The clock follows a host clock (UTC) plus an offset that
 * the guest sets by writing the time registers.
 *
 * Interrupts on IRQ 8 (periodic, alarm, update-ended) are not delivered: that
 * needs a timer outside the device. Register C's flags are kept true to the
 * clock (computed from it when read), so a guest that polls them works.
 * Linux only reads the time at boot and does not need the interrupt. */
#ifndef ISOLA_DEVICES_RTC_H
#define ISOLA_DEVICES_RTC_H

#include <stdint.h>

#include "device.h"

struct vm;

#define RTC_NR_PORTS   2
#define RTC_CMOS_SIZE  128

/* Nanoseconds since the Unix epoch, UTC. */
typedef int64_t (*rtc_clock_fn)(void *opaque);

/* clock NULL: the host's CLOCK_REALTIME. NULL on ENOMEM. The caller registers
 * [PORT_RTC, PORT_RTC + RTC_NR_PORTS) on the pio bus as region 0. */
struct device *rtc_create(rtc_clock_fn clock, void *clock_opaque);

/* Create the RTC at PORT_RTC, add it to the VM, claim its ports. 0 or -errno. */
int rtc_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

/* CMOS RAM for firmware-style facts set while building the VM (memory size
 * bytes and the like). Indices 0x0e..0x7f except 0x32 (the century, a clock
 * register); others are ignored. */
void rtc_cmos_set(struct device *dev, uint8_t index, uint8_t val);
uint8_t rtc_cmos_get(struct device *dev, uint8_t index);

#endif
