/* struct vm: one virtual machine and its wiring. */
#ifndef ISOLA_VM_H
#define ISOLA_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "accel/accel.h"
#include "arch/x86/acpi.h"
#include "arch/x86/regs.h"
#include "bus.h"
#include "config.h"
#include "device.h"
#include "irq.h"
#include "memory.h"
#include "vm_eventfd.h"

struct eventloop;
struct vm_ioevent;
struct vm_irqfd;

/* Why the VM stopped; maps to isola's exit status (README.md, "Exit status"). */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,     /* ACPI power-off: status 0 */
	VM_STOP_RESET,        /* reset with --on-reset exit: status 0 */
	VM_STOP_USER,         /* Ctrl-A x, SIGINT/SIGTERM: status 0 / 128+sig */
	VM_STOP_DEBUG_EXIT,   /* debug-exit port: status (value << 1) | 1 */
	VM_STOP_CRASH,        /* triple fault, emulation failure: status 4 */
	VM_STOP_HOST_ERROR,   /* isola could not go on (a host call failed): status 6 */
	VM_STOP_PANIC,        /* the guest kernel reported a panic (pvpanic): status 8 */
	VM_STOP_DEBUGGER,     /* gdb's kill request: status 0 */
};

#define EXIT_OK          0
#define EXIT_USAGE       2
#define EXIT_GUEST_CRASH 4
#define EXIT_HOST_ERROR  6
#define EXIT_GUEST_PANIC 8

struct vcpu_thread {
	struct vm *vm;
	int index;
	struct vcpu *vcpu;
	pthread_t thread;
	bool started;
};

struct vm {
	struct vm_config cfg;
	struct guest_mem mem;
	struct bus pio, mmio;
	struct device *devices;       /* creation order */
	const struct accel_ops *accel_ops;
	struct accel *accel;
	struct irq_router irq;
	struct vcpu_thread vcpus[CONFIG_MAX_CPUS];
	struct x86_regs boot_regs;    /* entry state for the boot vCPU */
	struct x86_sregs boot_sregs;
	struct eventloop *loop;
	int stop_efd;                 /* eventfd: a vCPU asks the main thread to stop */
	_Atomic int stop_reason;      /* enum vm_stop_reason; first writer wins */
	_Atomic int stop_status;      /* exit status to use */
	_Atomic bool reset_pending;   /* a reset was requested and will restart */
	struct device *uart;          /* the console UART, for the event loop */
	struct device *vcon;          /* the virtio-console port (--console virtio) */
	struct block_registry disks;  /* open images: the same one twice is refused */
	struct acpi_virtio_mmio virtio[CONFIG_MAX_VIRTIO]; /* for the DSDT */
	unsigned nr_virtio;

	/* Pausing every vCPU (the gdb stub; see vm_pause). pause_lock guards
	 * pause_wanted, nr_parked and debug_stop; pause_flag mirrors
	 * pause_wanted for the vCPU threads' lock-free check between runs. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;    /* parked vCPU threads wait here for resume */
	bool pause_lock_ready;
	bool pause_wanted;
	_Atomic bool pause_flag;
	unsigned nr_parked;
	unsigned nr_threads;          /* vCPU threads running their loop */
	int pause_efd;                /* eventfd: all vCPUs parked (main thread watches) */
	struct vm_debug_stop {
		bool valid;
		int index;                /* the vCPU that stopped */
		uint64_t pc;
		bool breakpoint;
	} debug_stop;                 /* the first debug exit since the last resume */
	/* Notifications and interrupts through eventfds (vm_eventfd.c). The
	 * lists change only while no vCPU runs. */
	struct vm_ioevent *ioevents;
	struct vm_irqfd *irqfd[VM_IRQFD_MAX_GSI]; /* by GSI; NULL: irq_set */
	bool eventfd_fallback_logged;
};

/* Ask the VM to stop (any thread). The first request wins; later ones are
 * ignored. status is the process exit status to use. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status);

/* A system reset (0xcf9, i8042, triple fault on restart policy...). */
void vm_request_reset(struct vm *vm);

/* Add a device to the VM's list (the VM resets, saves and destroys it); the
 * device claims its own bus ranges. */
void vm_add_device(struct vm *vm, struct device *dev);

/* Build the VM: memory, accelerator, devices, guest image, vCPUs; the
 * console UART (vm->uart) reports to host->console. 0 or
 * -errno with one line in err and the exit status to use in *status (2 when
 * the user's input is at fault). On failure call vm_destroy. */
struct uart_host_ops;
struct virtio_console_host_ops;
/* What the host side gives a VM: the console the UART (and the virtio
 * console port) talk to and the event loop devices put their timers and host
 * I/O on. */
struct vm_host {
	const struct uart_host_ops *console;
	const struct virtio_console_host_ops *vcon;
	struct eventloop *loop;
};
int vm_build(struct vm *vm, const struct vm_config *cfg, const struct accel_ops *ops,
	     const struct vm_host *host, char *err, size_t errlen, int *status) __attribute__((warn_unused_result));
/* Start the vCPU threads. */
int vm_start(struct vm *vm);
/* Kick all vCPUs and join their threads (after a stop request). */
void vm_join(struct vm *vm);
/* Tear everything down (joins first). Safe on a partly built VM. */
void vm_destroy(struct vm *vm);
/* Pause protocol (for a debugger). vm_pause asks every vCPU thread to park
 * between two runs of its vCPU (kicking it out of the guest); when the last
 * one has parked, pause_efd becomes readable and vm_all_parked is true;
 * then the main thread may read and change vCPU state through accel_ops.
 * vm_resume lets them all run again. A vCPU's debug exit (breakpoint, end
 * of a step) is recorded in debug_stop (the first one wins) and pauses the
 * VM likewise. Main thread only, except vm_all_parked (any thread). */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_all_parked(struct vm *vm);
/* The debug stop recorded since the last resume, if any. */
bool vm_debug_stop(struct vm *vm, struct vm_debug_stop *out);

/* Print a vCPU's registers to stderr (crash reports). */
void vm_dump_vcpu(struct vm *vm, int index);

#endif
