/* struct vm: building the machine from its configuration, the vCPU threads,
 * exit dispatch and the stop protocol. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/pvpanic.h"
#include "devices/reset.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "log.h"
#include "vm.h"
#include "vm_eventfd.h"

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status)
{
	int expected = VM_RUNNING;
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)why))
		return; /* the first reason wins */
	atomic_store(&vm->stop_status, status);
	if (vm->stop_efd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(vm->stop_efd, &one, sizeof(one));
		(void)n; /* the counter cannot overflow with one writer winning */
	}
}

void vm_request_reset(struct vm *vm)
{
	vm_request_stop(vm, VM_STOP_RESET, EXIT_OK);
}

void vm_add_device(struct vm *vm, struct device *dev)
{
	struct device **p = &vm->devices;
	while (*p)
		p = &(*p)->next;
	dev->next = NULL;
	*p = dev;
}

static int vm_irq_set(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	if (vm_irqfd_set_level(vm, gsi, level))
		return 0;
	return vm->accel_ops->irq_set(vm->accel, gsi, level);
}

/* The register dump printed when a guest crashes. */
void vm_dump_vcpu(struct vm *vm, int index)
{
	struct x86_regs r;
	struct x86_sregs s;
	struct vcpu *v = vm->vcpus[index].vcpu;
	if (!v || vm->accel_ops->get_regs(v, &r) || vm->accel_ops->get_sregs(v, &s)) {
		log_msg("vcpu %d: registers unavailable", index);
		return;
	}
	static const char *names[] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };
	log_msg("vcpu %d registers:", index);
	for (int i = 0; i < X86_NR_GPRS; i += 4)
		log_msg("  %-3s=%016" PRIx64 " %-3s=%016" PRIx64 " %-3s=%016" PRIx64
			" %-3s=%016" PRIx64, names[i], r.gpr[i], names[i + 1], r.gpr[i + 1],
			names[i + 2], r.gpr[i + 2], names[i + 3], r.gpr[i + 3]);
	log_msg("  rip=%016" PRIx64 " rflags=%016" PRIx64, r.rip, r.rflags);
	log_msg("  cr0=%016" PRIx64 " cr2=%016" PRIx64 " cr3=%016" PRIx64 " cr4=%016" PRIx64,
		s.cr0, s.cr2, s.cr3, s.cr4);
	log_msg("  efer=%016" PRIx64 " cs=%04x ss=%04x gdt=%016" PRIx64 "/%04x idt=%016" PRIx64
		"/%04x", s.efer, s.seg[X86_CS].selector, s.seg[X86_SS].selector, s.gdt.base,
		s.gdt.limit, s.idt.base, s.idt.limit);
}

/* ---- pausing (see vm.h) ---- */

/* Called with pause_lock held: tell the main thread once every vCPU thread
 * still running its loop has parked. */
static void vm_signal_if_parked(struct vm *vm)
{
	if (vm->pause_wanted && vm->nr_parked == vm->nr_threads && vm->pause_efd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(vm->pause_efd, &one, sizeof(one));
		(void)n; /* a full counter is readable anyway */
	}
}

/* A vCPU thread waits here, between two runs, until vm_resume or a stop. */
static void vm_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	vm_signal_if_parked(vm);
	while (vm->pause_wanted && atomic_load(&vm->stop_reason) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vm_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.cpus; i++)
		if (vm->vcpus[i].vcpu)
			vm->accel_ops->vcpu_kick(vm->vcpus[i].vcpu);
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_wanted = true;
	atomic_store(&vm->pause_flag, true);
	vm_signal_if_parked(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	vm_kick_all(vm);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_wanted = false;
	atomic_store(&vm->pause_flag, false);
	vm->debug_stop.valid = false;
	uint64_t v;
	ssize_t n = read(vm->pause_efd, &v, sizeof(v)); /* a stale "all parked" */
	(void)n;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_all_parked(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	bool r = vm->pause_wanted && vm->nr_parked == vm->nr_threads;
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

bool vm_debug_stop(struct vm *vm, struct vm_debug_stop *out)
{
	pthread_mutex_lock(&vm->pause_lock);
	*out = vm->debug_stop;
	pthread_mutex_unlock(&vm->pause_lock);
	return out->valid;
}

/* A vCPU stopped for the debugger: record it (the first since the resume
 * wins; a later one is found again when the VM resumes, as the vCPU stops
 * at the same breakpoint) and pause the whole VM. */
static void vm_note_debug_stop(struct vm *vm, int index, const struct vcpu_exit *e)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!vm->debug_stop.valid)
		vm->debug_stop = (struct vm_debug_stop){ .valid = true, .index = index,
							 .pc = e->debug.pc,
							 .breakpoint = e->debug.breakpoint };
	pthread_mutex_unlock(&vm->pause_lock);
	vm_pause(vm);
}

/* Handle one exit. Returns false when the vCPU should stop running. */
static bool vm_handle_exit(struct vcpu_thread *t, struct vcpu_exit *e)
{
	struct vm *vm = t->vm;
	switch (e->kind) {
	case VCPU_EXIT_IO:
		for (uint32_t i = 0; i < e->io.count; i++)
			bus_access(&vm->pio, e->io.port, e->io.data + (size_t)i * e->io.size,
				   e->io.size, e->io.is_write);
		return true;
	case VCPU_EXIT_MMIO:
		bus_access(&vm->mmio, e->mmio.addr, e->mmio.data, e->mmio.size,
			   e->mmio.is_write);
		return true;
	case VCPU_EXIT_KICKED:
		return true;
	case VCPU_EXIT_HALT:
		/* HLT that no interrupt can end (a back end without interrupt
		 * controllers, interrupts off): the CPU would sleep forever. */
		log_msg("vcpu %d halted with no interrupt that could wake it", t->index);
		vm_dump_vcpu(vm, t->index);
		vm_request_stop(vm, VM_STOP_CRASH, EXIT_GUEST_CRASH);
		return false;
	case VCPU_EXIT_SHUTDOWN:
		log_msg("vcpu %d: triple fault; the guest is stopped", t->index);
		vm_dump_vcpu(vm, t->index);
		vm_request_stop(vm, VM_STOP_CRASH, EXIT_GUEST_CRASH);
		return false;
	case VCPU_EXIT_RESET:
		vm_request_reset(vm);
		return false;
	case VCPU_EXIT_POWEROFF:
		vm_request_stop(vm, VM_STOP_POWEROFF, EXIT_OK);
		return false;
	case VCPU_EXIT_DEBUG:
		vm_note_debug_stop(vm, t->index, e);
		return true;
	case VCPU_EXIT_ERROR:
		log_msg("vcpu %d: %s (0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 ")",
			t->index, e->error.what, e->error.detail[0], e->error.detail[1],
			e->error.detail[2], e->error.detail[3]);
		vm_dump_vcpu(vm, t->index);
		vm_request_stop(vm, VM_STOP_CRASH, EXIT_GUEST_CRASH);
		return false;
	}
	return true;
}

static void *vcpu_thread_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct vm *vm = t->vm;
	struct vcpu_exit e;
	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		if (atomic_load(&vm->pause_flag)) {
			vm_park(vm);
			continue;
		}
		int rc = vm->accel_ops->vcpu_run(t->vcpu, &e);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0) {
			log_msg("vcpu %d: running the guest failed: %s", t->index, strerror(-rc));
			vm_request_stop(vm, VM_STOP_HOST_ERROR, EXIT_HOST_ERROR);
			break;
		}
		if (!vm_handle_exit(t, &e))
			break;
	}
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_threads--;
	vm_signal_if_parked(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	return NULL;
}

/* The legacy PC devices, at the ports the PC architecture gives them
 * (arch/x86/layout.h). The debug-exit port is always there: a guest may stop
 * itself through it, which it can do with ACPI anyway. */
static int vm_attach_devices(struct vm *vm, const struct uart_host_ops *console, char *err,
			     size_t errlen)
{
	static const struct {
		const char *name;
		int (*attach)(struct vm *vm, struct device **out);
	} legacy[] = {
		{ "rtc", rtc_attach },
		{ "reset", reset_attach },
		{ "acpi-pm", acpi_pm_attach },
		{ "debug-exit", debug_exit_attach },
		{ "pvpanic", pvpanic_attach },
	};
	int rc = uart16550_attach(vm, PORT_COM1, IRQ_COM1, console, &vm->uart);
	if (rc) {
		snprintf(err, errlen, "creating the uart16550 device failed: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
		rc = legacy[i].attach(vm, NULL);
		if (rc) {
			snprintf(err, errlen, "creating the %s device failed: %s", legacy[i].name,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* virtio-mmio device number vm->nr_virtio: its window, its interrupt line,
 * and its entry for the DSDT (Debian's kernel finds virtio-mmio devices only
 * through ACPI). */
static struct virtio_mmio_params vm_next_virtio(struct vm *vm)
{
	unsigned i = vm->nr_virtio;
	struct virtio_mmio_params p = {
		.base = LAYOUT_MMIO_DEVICES + (uint64_t)i * VIRTIO_MMIO_WINDOW,
		.len = VIRTIO_MMIO_WINDOW,
		.gsi = LAYOUT_VIRTIO_MMIO_GSI_BASE + i,
		.index = i,
	};
	vm->virtio[i] = (struct acpi_virtio_mmio){ .base = p.base, .len = (uint32_t)p.len,
						   .gsi = p.gsi, .uid = i };
	return p;
}

/* Notifications of device vdev through ioeventfds and its interrupt line
 * through an irqfd where the back end has them (vm_eventfd.h); where it has
 * not, the MMIO exit and irq_set paths serve, so failures are not errors. */
static void vm_virtio_eventfds(struct vm *vm, struct virtio_dev *vdev, unsigned gsi)
{
	int rc_notify = virtio_mmio_use_ioeventfds(vm, vdev);
	int rc_irq = vm_irqfd_enable(vm, gsi);
	(void)rc_notify;
	(void)rc_irq;
}

/* The virtio devices the user asked for: disks (/dev/vda, vdb, ... in
 * order), then the entropy source, then the console port. Errors in the
 * user's images (missing, locked, given twice...) come back with *user_error
 * set. */
static int vm_attach_virtio(struct vm *vm, const struct vm_host *host, char *err, size_t errlen,
			    bool *user_error)
{
	int rc;
	for (unsigned i = 0; i < vm->cfg.nr_disks; i++) {
		const struct disk_config *d = &vm->cfg.disks[i];
		struct block_spec spec = { .path = d->path, .readonly = d->readonly,
					   .cache = d->cache, .id = d->id };
		struct block_backend *b;
		rc = block_open(&spec, &vm->disks, &b, err, errlen);
		if (rc) {
			*user_error = true;
			return rc;
		}
		struct virtio_mmio_params p = vm_next_virtio(vm);
		struct virtio_dev *vdev;
		rc = virtio_blk_attach(vm, &p, b, &vdev);
		if (rc) {
			snprintf(err, errlen, "--disk %s: creating the virtio-blk device failed: %s",
				 d->path, strerror(-rc));
			return rc;
		}
		vm_virtio_eventfds(vm, vdev, p.gsi);
		vm->nr_virtio++;
	}
	if (vm->cfg.rng) {
		struct virtio_mmio_params p = vm_next_virtio(vm);
		struct virtio_dev *vdev;
		rc = virtio_rng_attach(vm, &p, &vdev);
		if (rc) {
			snprintf(err, errlen, "--rng: creating the virtio-rng device failed: %s",
				 strerror(-rc));
			return rc;
		}
		vm_virtio_eventfds(vm, vdev, p.gsi);
		vm->nr_virtio++;
	}
	if (vm->cfg.console == CONSOLE_VIRTIO) {
		struct virtio_mmio_params p = vm_next_virtio(vm);
		rc = virtio_console_attach(vm, &p, host->vcon, &vm->vcon);
		if (rc) {
			snprintf(err, errlen, "--console virtio: creating the virtio-console "
				 "device failed: %s", strerror(-rc));
			return rc;
		}
		vm->nr_virtio++;
	}
	return 0;
}

int vm_build(struct vm *vm, const struct vm_config *cfg, const struct accel_ops *ops,
	     const struct vm_host *host, char *err, size_t errlen, int *status)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->stop_efd = -1;
	vm->pause_efd = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->pause_lock_ready = true;
	vm->accel_ops = ops;
	vm->loop = host->loop;
	*status = EXIT_HOST_ERROR;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->pio.log_unclaimed = vm->mmio.log_unclaimed = cfg->log_unclaimed;
	int rc = gm_init(&vm->mem, cfg->memory);
	if (rc) {
		snprintf(err, errlen, "--memory: cannot map %llu MiB of guest RAM: %s",
			 (unsigned long long)(cfg->memory >> 20), strerror(-rc));
		return rc;
	}
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->pause_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0 || vm->pause_efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	const char *why = NULL;
	rc = ops->vm_create(vm, &vm->accel, &why);
	if (rc) {
		snprintf(err, errlen, "--accel %s: %s", ops->name, why ? why : strerror(-rc));
		*status = rc == -ENOSYS || rc == -ENOENT || rc == -EACCES ? EXIT_USAGE
									 : EXIT_HOST_ERROR;
		return rc;
	}
	vm->irq = (struct irq_router){ .set_level = vm_irq_set, .opaque = vm };
	rc = vm_attach_devices(vm, host->console, err, errlen);
	if (rc)
		return rc;
	bool user_error = false;
	rc = vm_attach_virtio(vm, host, err, errlen, &user_error);
	if (rc) {
		if (user_error)
			*status = EXIT_USAGE;
		return rc;
	}

	struct acpi_devices acpi_devs = { .virtio_mmio = vm->virtio,
					  .nr_virtio_mmio = vm->nr_virtio,
					  .pvpanic = true };
	struct x86_boot_args args = { .kernel = cfg->kernel, .initrd = cfg->initrd,
				      .cmdline = cfg->cmdline, .ncpus = cfg->cpus,
				      .devices = &acpi_devs };
	rc = x86_boot_setup(&vm->mem, &args, &vm->boot_regs, &vm->boot_sregs, err, errlen);
	if (rc) {
		*status = EXIT_USAGE; /* the user's kernel, initrd or cmdline */
		return rc;
	}
	for (unsigned i = 0; i < cfg->cpus; i++) {
		vm->vcpus[i] = (struct vcpu_thread){ .vm = vm, .index = (int)i };
		rc = ops->vcpu_create(vm->accel, (int)i, &vm->vcpus[i].vcpu);
		if (rc) {
			snprintf(err, errlen, "creating vcpu %u failed: %s", i, strerror(-rc));
			return rc;
		}
	}
	/* The boot CPU starts at the kernel's entry; the others wait for the
	 * INIT/SIPI sequence from the guest, as on a PC. */
	rc = ops->set_sregs(vm->vcpus[0].vcpu, &vm->boot_sregs);
	if (!rc)
		rc = ops->set_regs(vm->vcpus[0].vcpu, &vm->boot_regs);
	if (rc) {
		snprintf(err, errlen, "setting the boot CPU's registers failed: %s",
			 strerror(-rc));
		return rc;
	}
	*status = EXIT_OK;
	return 0;
}

int vm_start(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		pthread_mutex_lock(&vm->pause_lock);
		vm->nr_threads++;
		pthread_mutex_unlock(&vm->pause_lock);
		int rc = pthread_create(&t->thread, NULL, vcpu_thread_main, t);
		if (rc) {
			pthread_mutex_lock(&vm->pause_lock);
			vm->nr_threads--;
			pthread_mutex_unlock(&vm->pause_lock);
			vm_request_stop(vm, VM_STOP_HOST_ERROR, EXIT_HOST_ERROR);
			return -rc;
		}
		t->started = true;
	}
	return 0;
}

/* Kick every vCPU out of the guest and wait for its thread. Called by the
 * main thread after a stop was requested. */
void vm_join(struct vm *vm)
{
	if (vm->pause_lock_ready) {
		/* Parked threads see the stop request once woken. */
		pthread_mutex_lock(&vm->pause_lock);
		pthread_cond_broadcast(&vm->pause_cond);
		pthread_mutex_unlock(&vm->pause_lock);
	}
	for (unsigned i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		if (!t->started)
			continue;
		vm->accel_ops->vcpu_kick(t->vcpu);
		pthread_join(t->thread, NULL);
		t->started = false;
	}
}

void vm_destroy(struct vm *vm)
{
	vm_join(vm);
	for (unsigned i = 0; i < vm->cfg.cpus; i++)
		if (vm->vcpus[i].vcpu)
			vm->accel_ops->vcpu_destroy(vm->vcpus[i].vcpu);
	vm_eventfds_destroy(vm);
	if (vm->accel)
		vm->accel_ops->vm_destroy(vm->accel);
	for (struct device *d = vm->devices, *next; d; d = next) {
		next = d->next;
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
	vm->devices = NULL;
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	gm_destroy(&vm->mem);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->stop_efd = -1;
	if (vm->pause_efd >= 0)
		close(vm->pause_efd);
	vm->pause_efd = -1;
	if (vm->pause_lock_ready) {
		pthread_mutex_destroy(&vm->pause_lock);
		pthread_cond_destroy(&vm->pause_cond);
		vm->pause_lock_ready = false;
	}
}
