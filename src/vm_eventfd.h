/* Device notifications and interrupts through eventfds (accel.h: ioeventfd,
 * irqfd), so that devices never know which back end runs the guest.
 *
 * ioevents: a guest's notification write (virtio's QueueNotify) does not
 * stop the vCPU to run the device: the back end matches the write and
 * signals an eventfd (kvm in the kernel, soft in-process), and the device's
 * handler runs on the event loop thread while the guest goes on.
 *
 * irqfds: a level-triggered GSI that a device drives from any thread (a
 * block worker's completion, the event loop, a vCPU) is asserted with an
 * eventfd write instead of an ioctl; the back end deasserts it at the
 * guest's EOI and tells us through the resample eventfd, and the line is
 * asserted again if the device still holds it high. irq_line_set() and
 * vm->irq work as before: only vm_irq_set() knows.
 *
 * Where the back end has neither (soft has no irqfd: its irq_set is an
 * in-process call already) or refuses them, everything falls back to MMIO
 * exits and irq_set, with one line on stderr per VM when kvm refused.
 *
 * Threads: set-up and vm_eventfds_destroy run on the main thread while no
 * vCPU runs; handlers run on the event loop (the main thread);
 * vm_irqfd_set_level may be called from any thread. */
#ifndef ISOLA_VM_EVENTFD_H
#define ISOLA_VM_EVENTFD_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* GSIs that can be irqfd-driven: the I/O APIC's 24 pins. */
#define VM_IRQFD_MAX_GSI 24

typedef void (*vm_ioevent_fn)(void *opaque);

/* A guest write of len bytes equal to datamatch at MMIO address addr runs
 * fn(opaque) on the event loop thread (several writes before it runs may
 * give one call) instead of reaching the MMIO bus on the vCPU thread. 0, or
 * -errno when the back end has no ioeventfd or refused it: the write then
 * reaches the bus as before. */
int vm_ioevent_add(struct vm *vm, uint64_t addr, unsigned len, uint64_t datamatch,
		   vm_ioevent_fn fn, void *opaque) __attribute__((warn_unused_result));

/* Drive level-triggered gsi through an irqfd from now on. 0, or -errno
 * when the back end has no irqfd or refused it (gsi stays on irq_set). */
int vm_irqfd_enable(struct vm *vm, unsigned gsi) __attribute__((warn_unused_result));

/* vm_irq_set's first step: true if gsi is irqfd-driven (and now driven to
 * level), false if the caller must use the back end's irq_set. */
bool vm_irqfd_set_level(struct vm *vm, unsigned gsi, int level);

/* Remove and close every ioevent and irqfd: after the vCPUs stopped and
 * before the accelerator and the devices are destroyed. */
void vm_eventfds_destroy(struct vm *vm);

#endif
