/* isola run: choose the accelerator, build and run the VM, report how it
 * ended (see run.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "console.h"
#include "eventloop.h"
#include "gdbstub.h"
#include "log.h"
#include "run.h"
#include "trace.h"
#include "vm.h"

/* What the host offers, for --accel auto. */
struct host_virt {
	const char *kvm_problem;  /* NULL if /dev/kvm can be used at all */
	const char *soft_problem; /* NULL if the soft CPU is available */
	bool pvm;                 /* /dev/kvm is PVM: no VT-x/AMD-V underneath */
};

static void host_virt_probe(struct host_virt *h)
{
	h->kvm_problem = accel_kvm_ops.unavailable();
	h->soft_problem = accel_soft_ops.unavailable ? accel_soft_ops.unavailable() : NULL;
	/* PVM (module kvm_pvm) runs only PVM-enabled guest kernels natively;
	 * any other guest goes through KVM's instruction emulator. */
	h->pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
}

#define PVM_SLOW_WARNING                                                        \
	"/dev/kvm here is PVM (kvm_pvm, no VT-x/AMD-V): an unmodified guest "  \
	"runs under KVM's instruction emulator, about 1 us per instruction"

/* The back end for cfg->accel. Errors end isola here (one line, status 2);
 * the line that says what was chosen, or warns, goes to *note and is printed
 * once the VM is built, so a bad kernel file still gets exactly one line. */
static const struct accel_ops *choose_accel(const struct vm_config *cfg, char *note,
					    size_t notelen)
{
	struct host_virt h;
	host_virt_probe(&h);
	switch (cfg->accel) {
	case ACCEL_KVM:
		if (h.kvm_problem)
			die_usage("--accel kvm: %s", h.kvm_problem);
		if (h.pvm)
			snprintf(note, notelen, "warning: --accel kvm: %s", PVM_SLOW_WARNING);
		return &accel_kvm_ops;
	case ACCEL_SOFT:
		if (h.soft_problem)
			die_usage("--accel soft: %s", h.soft_problem);
		return &accel_soft_ops;
	case ACCEL_AUTO:
		break;
	}
	/* A PVM-enabled guest kernel would run natively on PVM, but isola cannot
	 * tell one from its image yet: on PVM, auto treats every guest as
	 * unmodified. */
	if (!h.kvm_problem && !h.pvm) {
		snprintf(note, notelen, "accel auto: kvm (/dev/kvm with hardware virtualisation)");
		return &accel_kvm_ops;
	}
	const char *why_not_kvm = h.kvm_problem ? h.kvm_problem
				  : "/dev/kvm here is PVM, which cannot run an unmodified "
				    "guest natively";
	if (!h.soft_problem) {
		snprintf(note, notelen, "accel auto: soft (%s)", why_not_kvm);
		return &accel_soft_ops;
	}
	if (!h.kvm_problem) {
		snprintf(note, notelen, "warning: accel auto: kvm, because %s%s%s", h.soft_problem,
			 h.pvm ? "; " : "", h.pvm ? PVM_SLOW_WARNING : "");
		return &accel_kvm_ops;
	}
	die_usage("no CPU back end can run here: kvm: %s; soft: %s", h.kvm_problem,
		  h.soft_problem);
}

struct run_state {
	struct vm *vm;
	int sfd; /* signalfd for SIGINT, SIGTERM, SIGHUP */
};

static void run_on_stop(void *opaque, uint32_t events)
{
	struct run_state *rs = opaque;
	uint64_t v;
	ssize_t n = read(rs->vm->stop_efd, &v, sizeof(v));
	(void)n; /* the loop checks stop_reason itself */
}

static void run_on_signal(void *opaque, uint32_t events)
{
	struct run_state *rs = opaque;
	struct signalfd_siginfo si;
	if (read(rs->sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (rs->vm)
		vm_request_stop(rs->vm, VM_STOP_USER, 128 + (int)si.ssi_signo);
}

static const char *stop_reason_text(int why)
{
	switch (why) {
	case VM_STOP_POWEROFF: return "guest powered off";
	case VM_STOP_RESET: return "guest reset";
	case VM_STOP_USER: return "stopped by the user";
	case VM_STOP_DEBUG_EXIT: return "guest wrote the debug-exit port";
	case VM_STOP_CRASH: return "guest crashed";
	case VM_STOP_HOST_ERROR: return "host error";
	case VM_STOP_PANIC: return "the guest kernel panicked (its console above says why)";
	case VM_STOP_DEBUGGER: return "killed by the debugger (gdb)";
	default: return "?";
	}
}

int isola_run(const struct vm_config *cfg)
{
	char note[512] = "";
	const struct accel_ops *ops = choose_accel(cfg, note, sizeof(note));
	if (cfg->trace && !ops->set_trace)
		die_usage("--trace %s: the instruction trace is soft-only and the guest runs on "
			  "%s: add --accel soft", cfg->trace, ops->name);
	if (cfg->gdb && !ops->set_guest_debug)
		die_usage("--gdb %s: the %s back end cannot stop at breakpoints or single-step "
			  "here: add --accel soft", cfg->gdb, ops->name);

	/* Signals that end isola are read from a signalfd by the main loop, so
	 * they stop the VM in order and the terminal is restored. Blocked
	 * before any thread exists, so vCPU threads inherit the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE); /* a closed console reader: writes fail with EPIPE */

	struct run_state rs = { .sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK) };
	struct eventloop *loop = eventloop_create();
	if (rs.sfd < 0 || !loop) {
		log_msg("cannot set up the event loop: %s", strerror(errno));
		return EXIT_HOST_ERROR;
	}
	char err[512];
	/* The debugger's port and the trace file are the user's choice: a port
	 * in use or a file that cannot be created end isola here (status 2). */
	struct gdbstub *gdb = NULL;
	struct trace_file *trace = NULL;
	if (cfg->gdb && gdbstub_open(cfg->gdb, cfg->gdb_wait, loop, &gdb, err, sizeof(err)))
		die_usage("%s", err);
	if (cfg->trace && trace_open(cfg->trace, cfg->trace_size, &trace, err, sizeof(err)))
		die_usage("%s", err);
	struct console con;
	if (console_init(&con, loop, cfg->serial_in, err, sizeof(err)) ||
	    eventloop_add(loop, rs.sfd, EPOLLIN, run_on_signal, &rs)) {
		log_msg("%s", err);
		return EXIT_HOST_ERROR;
	}

	int status;
	for (;;) {
		struct vm *vm = calloc(1, sizeof(*vm));
		if (!vm) {
			log_msg("out of memory");
			status = EXIT_HOST_ERROR;
			break;
		}
		rs.vm = vm;
		struct vm_host host = { .console = &con.host_ops, .vcon = &con.vcon_ops,
					.loop = loop };
		if (vm_build(vm, cfg, ops, &host, err, sizeof(err), &status)) {
			console_restore();
			log_msg("%s", err);
			vm_destroy(vm);
			free(vm);
			break;
		}
		if (note[0]) {
			log_msg("%s", note);
			note[0] = '\0';
		}
		if (cfg->dry_run) {
			log_msg("dry run: %s loaded into %llu MiB with %u vCPU(s) on %s; not "
				"running it", cfg->kernel, (unsigned long long)(cfg->memory >> 20),
				cfg->cpus, ops->name);
			vm_destroy(vm);
			free(vm);
			status = EXIT_OK;
			break;
		}
		console_attach(&con, vm, vm->uart, vm->vcon);
		int rc = 0;
		for (unsigned i = 0; trace && i < cfg->cpus && !rc; i++)
			rc = ops->set_trace(vm->vcpus[i].vcpu, trace);
		if (!rc && gdb)
			rc = gdbstub_attach(gdb, vm);
		if (rc)
			log_msg("cannot set up --trace or --gdb for the VM: %s", strerror(-rc));
		if (rc || eventloop_add(loop, vm->stop_efd, EPOLLIN, run_on_stop, &rs) ||
		    vm_start(vm)) {
			log_msg("cannot start the vCPUs: %s", strerror(errno));
			vm_request_stop(vm, VM_STOP_HOST_ERROR, EXIT_HOST_ERROR);
		}
		while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
			rc = eventloop_run_once(loop, -1);
			if (rc) {
				log_msg("event loop: %s", strerror(-rc));
				vm_request_stop(vm, VM_STOP_HOST_ERROR, EXIT_HOST_ERROR);
			}
		}
		vm_join(vm);
		console_detach(&con); /* writes out the last output */
		eventloop_del(loop, vm->stop_efd);
		int why = atomic_load(&vm->stop_reason);
		status = atomic_load(&vm->stop_status);
		bool restart = why == VM_STOP_RESET && cfg->on_reset == ON_RESET_RESTART;
		if (gdb)
			gdbstub_detach(gdb, vm, !restart, status);
		if (cfg->log_unclaimed && (vm->pio.unclaimed || vm->mmio.unclaimed))
			log_msg("unclaimed accesses: %llu port I/O, %llu MMIO",
				(unsigned long long)vm->pio.unclaimed,
				(unsigned long long)vm->mmio.unclaimed);
		rs.vm = NULL;
		vm_destroy(vm);
		free(vm);
		if (restart) {
			log_msg("guest reset: restarting it (--on-reset restart)");
			continue;
		}
		if (why == VM_STOP_RESET)
			log_msg("guest reset: exiting (--on-reset restart would reboot it)");
		else if (why != VM_STOP_POWEROFF && why != VM_STOP_DEBUG_EXIT)
			log_msg("%s; exit status %d", stop_reason_text(why), status);
		break;
	}
	console_destroy(&con);
	gdbstub_close(gdb);
	trace_close(trace);
	eventloop_destroy(loop);
	close(rs.sfd);
	return status;
}
