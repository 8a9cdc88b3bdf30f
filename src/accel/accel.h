/* The accelerator interface: what the VMM needs from a CPU back end.
 *
 * Two back ends implement it: kvm (hardware-assisted, /dev/kvm) and soft
 * (isola's own x86-64 CPU). Everything else in isola — memory, buses, devices,
 * the boot code — is shared and does not know which one runs the guest.
 *
 * Threading: vcpu_run, get/set_*, set_guest_debug and translate are called
 * only from that vCPU's own thread, or while it does not run: before it
 * starts, after it stopped, or while its thread is parked by the VM's pause
 * protocol (vm.h, the gdb stub). kick and irq_set may be called from any
 * thread. */
#ifndef ISOLA_ACCEL_H
#define ISOLA_ACCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/regs.h"

struct guest_mem;
struct accel;
struct vcpu;
struct vm;
struct snap_reader;
struct snap_writer;

enum vcpu_exit_kind {
	VCPU_EXIT_IO,           /* port I/O: dispatch on the pio bus, then run again */
	VCPU_EXIT_MMIO,         /* MMIO outside RAM: dispatch on the mmio bus */
	VCPU_EXIT_HALT,         /* HLT with no interrupt controller in the back end */
	VCPU_EXIT_KICKED,       /* vcpu_kick() or a signal interrupted the run */
	VCPU_EXIT_SHUTDOWN,     /* triple fault */
	VCPU_EXIT_RESET,        /* the back end saw a system reset request */
	VCPU_EXIT_POWEROFF,     /* the back end saw a power-off request */
	VCPU_EXIT_DEBUG,        /* breakpoint / single step (gdb stub) */
	VCPU_EXIT_ERROR,        /* emulation failure, entry failure: see error */
};

struct vcpu_exit {
	enum vcpu_exit_kind kind;
	union {
		struct {
			uint16_t port;
			uint8_t size;     /* 1, 2 or 4 */
			bool is_write;
			uint32_t count;   /* > 1 for string I/O (REP INS/OUTS) */
			uint8_t *data;    /* count * size bytes; reads are filled in by isola */
		} io;
		struct {
			uint64_t addr;
			uint8_t size;     /* 1, 2, 4 or 8 */
			bool is_write;
			uint8_t *data;
		} mmio;
		struct {
			uint64_t pc;      /* RIP where the vCPU stopped */
			bool breakpoint;  /* a breakpoint at pc (else: a step finished) */
		} debug;
		struct {
			char what[96];    /* one line: what failed */
			uint64_t detail[4];
		} error;
	};
};

/* What a vCPU stops for, for a debugger (the gdb stub). Breakpoints are
 * instruction addresses as the debugger sees them: RIP values (in 64-bit
 * mode, linear addresses). A vCPU stops before it executes an instruction at
 * one of them, and with singlestep after each instruction it completes (or
 * each exception it takes instead), returning VCPU_EXIT_DEBUG. */
#define ACCEL_DEBUG_MAX_BP 64
struct accel_debug {
	bool singlestep;
	unsigned nr_bp;
	uint64_t bp[ACCEL_DEBUG_MAX_BP];
};

struct trace_file;

struct accel_ops {
	const char *name;
	/* NULL if this back end can run guests on this host and build, else a
	 * one-line reason (static string). Cheap; used by --accel auto. */
	const char *(*unavailable)(void);
	/* Create the VM-wide part and map guest memory. 0 or -errno; *why gets a
	 * one-line reason on failure (static string). */
	int (*vm_create)(struct vm *vm, struct accel **out, const char **why);
	void (*vm_destroy)(struct accel *acc);
	int (*vcpu_create)(struct accel *acc, int index, struct vcpu **out);
	void (*vcpu_destroy)(struct vcpu *vcpu);
	/* Run until an exit that needs the VMM. 0 or -errno. */
	int (*vcpu_run)(struct vcpu *vcpu, struct vcpu_exit *exit);
	/* Make vcpu_run return VCPU_EXIT_KICKED soon; safe from any thread. */
	void (*vcpu_kick)(struct vcpu *vcpu);
	int (*get_regs)(struct vcpu *vcpu, struct x86_regs *r);
	int (*set_regs)(struct vcpu *vcpu, const struct x86_regs *r);
	int (*get_sregs)(struct vcpu *vcpu, struct x86_sregs *s);
	int (*set_sregs)(struct vcpu *vcpu, const struct x86_sregs *s);
	/* Drive an interrupt line (GSI) of the back end's interrupt controllers. */
	int (*irq_set)(struct accel *acc, unsigned gsi, int level);
	/* The vCPU's whole architectural state as one versioned snapshot section
	 * (snapshot.h), and back; only while the vCPU is not running. A restore
	 * that fails (-EINVAL: truncated, hostile or of another version) leaves
	 * the vCPU as it was. NULL where the back end cannot yet: kvm (its state
	 * lives in several KVM_GET_* calls, not gathered yet). */
	int (*vcpu_save)(struct vcpu *vcpu, struct snap_writer *w);
	int (*vcpu_restore)(struct vcpu *vcpu, struct snap_reader *r);
	/* x87/SSE state. */
	int (*get_fpu)(struct vcpu *vcpu, struct x86_fpu *f);
	int (*set_fpu)(struct vcpu *vcpu, const struct x86_fpu *f);
	/* Debugging. NULL where the back end cannot. set_guest_debug replaces
	 * the vCPU's whole debug state (dbg NULL: none). translate maps a
	 * linear address through the vCPU's current paging without side
	 * effects (no accessed bits, no CR2): 0, or -EFAULT if unmapped. */
	int (*set_guest_debug)(struct vcpu *vcpu, const struct accel_debug *dbg);
	unsigned debug_max_bp; /* breakpoints set_guest_debug takes at most */
	int (*translate)(struct vcpu *vcpu, uint64_t lin, uint64_t *gpa);
	/* Instruction and exception trace to t (NULL: off). NULL where the
	 * back end cannot trace. */
	int (*set_trace)(struct vcpu *vcpu, struct trace_file *t);

	/* Optional (NULL: the back end has none; callers fall back to MMIO
	 * exits and irq_set). Both are called before the vCPUs start or after
	 * they stopped (the VM's wiring), never while the guest runs.
	 *
	 * ioeventfd: a guest write of exactly len bytes (1, 2, 4 or 8) whose
	 * value is datamatch, at guest-physical MMIO address addr, signals
	 * eventfd fd (adds 1) and the vCPU goes on without an MMIO exit. kvm:
	 * KVM_IOEVENTFD, matched in the kernel; soft: matched in-process by
	 * vcpu_run before it would return the exit. assign false removes it.
	 * Any other write there still exits. 0 or -errno. */
	int (*ioeventfd)(struct accel *acc, uint64_t addr, unsigned len, uint64_t datamatch,
			 int fd, bool assign);
	/* irqfd for a level-triggered GSI: a write to eventfd fd asserts gsi;
	 * the back end deasserts it when the guest signals the end of the
	 * interrupt (EOI) and then signals eventfd resample_fd, so that the
	 * VMM can assert it again while its source is still active. kvm:
	 * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE. 0 or -errno. */
	int (*irqfd)(struct accel *acc, unsigned gsi, int fd, int resample_fd, bool assign);
};

extern const struct accel_ops accel_kvm_ops;
extern const struct accel_ops accel_soft_ops;

#endif
