/* CMOS real-time clock (Motorola MC146818A as wired in the PC): index port
 * PORT_RTC, data port PORT_RTC + 1, 128 bytes of CMOS (14 clock registers and
 * 114 bytes of RAM). The clock follows a host clock (UTC) plus an offset that
 * the guest sets by writing the time registers.
 *
 * Interrupts (periodic, alarm, update-ended on IRQ 8): register C's flags are
 * computed from the clock whenever the guest touches the RTC, and the IRQ line
 * follows IRQF then. For them to arrive while the guest is not looking, a
 * timer must wake the device: rtc_enable_interrupts() puts a timerfd on the
 * event loop (no thread of the device's own). Without it, polling register C
 * still works. */
#ifndef ISOLA_DEVICES_RTC_H
#define ISOLA_DEVICES_RTC_H

#include <stdint.h>

#include "device.h"
#include "irq.h"

struct eventloop;
struct vm;

#define RTC_NR_PORTS   2
#define RTC_CMOS_SIZE  128

/* Nanoseconds since the Unix epoch, UTC. */
typedef int64_t (*rtc_clock_fn)(void *opaque);

/* irq: IRQ 8 (copied; may be NULL). clock NULL: the host's CLOCK_REALTIME.
 * NULL on ENOMEM. The caller registers [PORT_RTC, PORT_RTC + RTC_NR_PORTS) on
 * the pio bus as region 0. */
struct device *rtc_create(const struct irq_line *irq, rtc_clock_fn clock, void *clock_opaque);

/* Create the RTC at PORT_RTC on IRQ_RTC of vm->irq, add it to the VM, claim its
 * ports, and if vm->loop is set, enable timed interrupts on it. 0 or -errno. */
int rtc_attach(struct vm *vm, struct device **out) __attribute__((warn_unused_result));

/* Watch a timerfd on loop so that interrupt events arrive on time (the
 * callback runs on the loop's thread). loop must outlive the device. 0,
 * -EBUSY if already enabled, or -errno. */
int rtc_enable_interrupts(struct device *dev, struct eventloop *loop)
	__attribute__((warn_unused_result));

/* Bring register C and the IRQ line up to date with the clock now (what the
 * timer does). Returns the clock time (ns) of the next event that would raise
 * the line, or -1 if none is pending. */
int64_t rtc_poll(struct device *dev);

/* CMOS RAM for firmware-style facts set while building the VM (memory size
 * bytes and the like). Indices 0x0e..0x7f except 0x32 (the century, a clock
 * register); others are ignored. */
void rtc_cmos_set(struct device *dev, uint8_t index, uint8_t val);
uint8_t rtc_cmos_get(struct device *dev, uint8_t index);

#endif
