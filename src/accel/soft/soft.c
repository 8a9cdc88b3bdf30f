/* The soft accelerator: isola's own x86-64 CPU behind struct accel_ops.
 *
 * This file is the glue: VM and vCPU objects, the register conversions, the
 * kick, and the guest_mem write hook that keeps decoded code true. The CPU is
 * in exec.c (loop), decode.c (Zydis + decode cache), mmu.c, except.c and the
 * exec_*.c instruction groups; cpu.h explains how they fit together.
 *
 * Threads: vcpu_run and get/set_* run on the vCPU's own thread. vcpu_kick may
 * come from any thread: it only sets an atomic flag that the loop polls every
 * SOFT_KICK_INTERVAL instructions (and at every vcpu_run entry).
 *
 * Interrupt controllers: vm_create attaches the irqchip (devices/irqchip.h:
 * a local APIC per vCPU, the I/O APIC, the 8259A pair and the 8254 PIT, with
 * their ports and MMIO on the VM's buses and their timers on the VM's event
 * loop); irq_set drives its GSIs. Each vCPU takes interrupts, NMIs and
 * INIT/SIPI from its local APIC and serves its APIC page itself (intr.c).
 *
 * HLT sleeps in vcpu_run (futex on cpu.wake_seq) until the irqchip wakes the
 * vCPU — its timers fire from a timerfd on the event loop, so a halted guest
 * costs no CPU — or a kick, which returns VCPU_EXIT_KICKED.
 *
 * Application processors (vCPU index > 0) start in wait-for-SIPI, as on a
 * PC, and sleep likewise until the guest's INIT / startup IPIs reach them. */
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "accel/accel.h"
#include "accel/soft/cpu.h"
#include "devices/irqchip.h"
#include "memory.h"
#include "snapshot.h"
#include "vm.h"

/* One ioeventfd (accel.h): an MMIO write this CPU matches itself. */
struct soft_ioevent {
	uint64_t addr, datamatch;
	unsigned len;
	int fd;
};
#define SOFT_MAX_IOEVENTS 64

struct accel {
	struct vm *vm;
	struct soft_vm svm;
	struct irqchip *chip; /* a device of the VM: the VM frees it */
	/* Changed only while no vCPU runs (accel.h), read by every vcpu_run. */
	struct soft_ioevent ioev[SOFT_MAX_IOEVENTS];
	unsigned nr_ioev;
};

struct vcpu {
	struct soft_cpu cpu; /* first: large and aligned */
	struct accel *acc;
};

/* ---- the VM-wide part ---- */

int soft_vm_init(struct soft_vm *svm, struct guest_mem *mem)
{
	memset(svm, 0, sizeof(*svm));
	svm->mem = mem;
	svm->nr_cpus = 1;
	svm->nr_pages = (gm_ram_end(mem) + SOFT_PAGE_SIZE - 1) / SOFT_PAGE_SIZE;
	if (!svm->nr_pages)
		return 0;
	/* Untouched pages of the map cost nothing (only code pages get written). */
	void *p = mmap(NULL, svm->nr_pages * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	svm->page_gen = p;
	return 0;
}

void soft_vm_destroy(struct soft_vm *svm)
{
	if (svm->page_gen)
		munmap((void *)svm->page_gen, svm->nr_pages * sizeof(uint32_t));
	svm->page_gen = NULL;
}

/* A write to guest-physical [gpa, gpa+len): invalidate decoded code there. */
void soft_vm_note_write(struct soft_vm *svm, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	uint64_t first = gpa >> 12, last = (gpa + len - 1) >> 12;
	if (last < first) /* wrapped */
		last = svm->nr_pages;
	for (uint64_t p = first; p <= last && p < svm->nr_pages; p++) {
		_Atomic uint32_t *g = &svm->page_gen[p];
		if (atomic_load_explicit(g, memory_order_relaxed) & 1)
			atomic_fetch_add(g, 1);
	}
}

static void soft_on_write(void *opaque, uint64_t gpa, uint64_t len)
{
	soft_vm_note_write(opaque, gpa, len);
}

/* ---- accel_ops ---- */

static int soft_vm_create(struct vm *vm, struct accel **out, const char **why)
{
#ifndef HAVE_ZYDIS
	*why = "soft CPU unavailable: isola was built without Zydis "
	       "(apt-get install libzydis-dev)";
	return -ENOSYS;
#else
	struct accel *acc = calloc(1, sizeof(*acc));
	int rc;

	if (!acc) {
		*why = "soft CPU: out of memory";
		return -ENOMEM;
	}
	acc->vm = vm;
	rc = soft_vm_init(&acc->svm, &vm->mem);
	if (rc) {
		*why = "soft CPU: cannot map the code-page generation table";
		free(acc);
		return rc;
	}
	if (vm->cfg.cpus > 1)
		acc->svm.nr_cpus = vm->cfg.cpus;
	vm->mem.on_write = soft_on_write;
	vm->mem.on_write_opaque = &acc->svm;
	/* From here the accelerator is the VM's: vm_destroy frees it even
	 * if the irqchip fails to attach. */
	*out = acc;
	rc = irqchip_attach(vm, &acc->chip);
	if (rc) {
		*why = "soft CPU: cannot attach the interrupt controllers";
		return rc;
	}
	return 0;
#endif
}

static void soft_vm_destroy_op(struct accel *acc)
{
	if (!acc)
		return;
	if (acc->vm && acc->vm->mem.on_write == soft_on_write) {
		acc->vm->mem.on_write = NULL;
		acc->vm->mem.on_write_opaque = NULL;
	}
	soft_vm_destroy(&acc->svm);
	free(acc);
}

static int soft_vcpu_create(struct accel *acc, int index, struct vcpu **out)
{
	struct vcpu *v = aligned_alloc(64, (sizeof(*v) + 63) & ~(size_t)63);
	int rc;

	if (!v)
		return -ENOMEM;
	rc = soft_cpu_init(&v->cpu, &acc->svm, index);
	if (rc) {
		free(v);
		return rc;
	}
	if (index > 0)
		v->cpu.activity = SOFT_WAIT_SIPI;
	v->acc = acc;
	if (acc->chip) {
		if (!irqchip_cpu(acc->chip, (unsigned)index)) {
			soft_cpu_destroy(&v->cpu);
			free(v);
			return -EINVAL;
		}
		v->cpu.chip = acc->chip;
		v->cpu.intc = (struct soft_intc){ irqchip_intc_ack,
						  irqchip_cpu(acc->chip, (unsigned)index) };
		irqchip_set_wake(acc->chip, (unsigned)index, soft_irq_wake, &v->cpu);
	}
	*out = v;
	return 0;
}

static void soft_vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	/* A debug aid for benchmarks (bench/compute.sh): how many instructions
	 * the vCPU retired, as the run loop counts them (a REP string
	 * instruction once per batch of iterations it runs between two
	 * looks at interrupts). */
	if (getenv("ISOLA_SOFT_STATS"))
		fprintf(stderr, "isola: soft vCPU %d: %llu instructions retired\n", v->cpu.index,
			(unsigned long long)v->cpu.insn_count);
	if (v->cpu.chip)
		irqchip_set_wake(v->cpu.chip, (unsigned)v->cpu.index, NULL, NULL);
	soft_cpu_destroy(&v->cpu);
	free(v);
}

/* Wake a vCPU thread sleeping in wait-for-SIPI (async-signal-safe). */
void soft_cpu_wake(struct soft_cpu *cpu)
{
	atomic_fetch_add(&cpu->wake_seq, 1);
	syscall(SYS_futex, &cpu->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps only while wake_seq is still seq: a wake-up after seq was read has
 * bumped it, so none is lost. */
void soft_cpu_sleep(struct soft_cpu *cpu, uint32_t seq)
{
	syscall(SYS_futex, &cpu->wake_seq, FUTEX_WAIT_PRIVATE, seq, NULL, NULL, 0);
}

/* An MMIO write that an ioeventfd claims: signal it, true. */
static bool soft_ioevent_signal(struct accel *acc, const struct vcpu_exit *e)
{
	if (e->kind != VCPU_EXIT_MMIO || !e->mmio.is_write)
		return false;
	for (unsigned i = 0; i < acc->nr_ioev; i++) {
		const struct soft_ioevent *io = &acc->ioev[i];
		uint64_t val = 0;
		if (io->addr != e->mmio.addr || io->len != e->mmio.size)
			continue;
		for (unsigned b = 0; b < io->len; b++)
			val |= (uint64_t)e->mmio.data[b] << (8 * b);
		if (val != io->datamatch)
			continue;
		uint64_t one = 1;
		ssize_t n = write(io->fd, &one, sizeof(one));
		(void)n; /* EAGAIN only if the counter is at its maximum: already signalled */
		return true;
	}
	return false;
}

/* In-process ioeventfds: a write they claim costs the vCPU an eventfd
 * write instead of a trip through the VMM's bus and the device, as KVM's
 * in-kernel matching does; then the guest goes on. */
static int soft_vcpu_run(struct vcpu *v, struct vcpu_exit *exit)
{
	for (;;) {
		int rc = soft_cpu_run(&v->cpu, exit);
		if (rc || !v->acc->nr_ioev || !soft_ioevent_signal(v->acc, exit))
			return rc;
	}
}

static int soft_ioeventfd(struct accel *acc, uint64_t addr, unsigned len, uint64_t datamatch,
			  int fd, bool assign)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	for (unsigned i = 0; i < acc->nr_ioev; i++) {
		struct soft_ioevent *io = &acc->ioev[i];
		if (io->addr != addr || io->len != len || io->datamatch != datamatch)
			continue;
		if (assign)
			return -EEXIST;
		*io = acc->ioev[--acc->nr_ioev];
		return 0;
	}
	if (!assign)
		return -ENOENT;
	if (acc->nr_ioev == SOFT_MAX_IOEVENTS)
		return -ENOSPC;
	acc->ioev[acc->nr_ioev++] = (struct soft_ioevent){ addr, datamatch, len, fd };
	return 0;
}

static void soft_vcpu_kick(struct vcpu *v)
{
	atomic_store(&v->cpu.kick, true);
	soft_cpu_wake(&v->cpu);
}

static int soft_get_regs(struct vcpu *v, struct x86_regs *r)
{
	soft_cpu_get_regs(&v->cpu, r);
	return 0;
}

static int soft_set_regs(struct vcpu *v, const struct x86_regs *r)
{
	soft_cpu_set_regs(&v->cpu, r);
	return 0;
}

static int soft_get_sregs(struct vcpu *v, struct x86_sregs *s)
{
	soft_cpu_get_sregs(&v->cpu, s);
	return 0;
}

static int soft_set_sregs(struct vcpu *v, const struct x86_sregs *s)
{
	soft_cpu_set_sregs(&v->cpu, s);
	return 0;
}

static int soft_get_fpu(struct vcpu *v, struct x86_fpu *f)
{
	const struct soft_cpu *c = &v->cpu;
	memset(f, 0, sizeof(*f));
	memcpy(f->st, c->st, sizeof(f->st));
	f->fcw = c->fcw;
	f->fsw = c->fsw;
	f->ftw = c->ftw;
	f->fop = c->fop;
	f->fip = c->fip;
	f->fdp = c->fdp;
	memcpy(f->xmm, c->xmm, sizeof(f->xmm));
	f->mxcsr = c->mxcsr;
	return 0;
}

static int soft_set_fpu(struct vcpu *v, const struct x86_fpu *f)
{
	struct soft_cpu *c = &v->cpu;
	memcpy(c->st, f->st, sizeof(c->st));
	c->fcw = f->fcw;
	c->fsw = f->fsw;
	c->ftw = f->ftw;
	c->fop = f->fop & 0x7ff;
	c->fip = f->fip;
	c->fdp = f->fdp;
	memcpy(c->xmm, f->xmm, sizeof(c->xmm));
	c->mxcsr = f->mxcsr & 0xffff; /* MXCSR_MASK: the bits this CPU has */
	return 0;
}

static void soft_dbg_mode(struct soft_cpu *c)
{
	c->dbg_mode = (uint8_t)((c->dbg.singlestep ? SOFT_DBG_STEP : 0) |
				(c->dbg.nr_bp ? SOFT_DBG_BP : 0) | (c->trace ? SOFT_DBG_TRACE : 0));
}

static int soft_set_guest_debug(struct vcpu *v, const struct accel_debug *dbg)
{
	struct soft_cpu *c = &v->cpu;
	if (dbg && dbg->nr_bp > ACCEL_DEBUG_MAX_BP)
		return -EINVAL;
	if (dbg)
		c->dbg = *dbg;
	else
		memset(&c->dbg, 0, sizeof(c->dbg));
	c->dbg_step_done = false;
	soft_dbg_mode(c);
	return 0;
}

static int soft_translate_op(struct vcpu *v, uint64_t lin, uint64_t *gpa)
{
	return soft_debug_translate(&v->cpu, lin, gpa);
}

static int soft_set_trace(struct vcpu *v, struct trace_file *t)
{
	v->cpu.trace = t;
	v->cpu.trace_last.count = UINT64_MAX;
	soft_dbg_mode(&v->cpu);
	return 0;
}

static int soft_irq_set(struct accel *acc, unsigned gsi, int level)
{
	if (!acc->chip)
		return -ENODEV;
	return irqchip_set_irq(acc->chip, gsi, level);
}

/* Section "SCPU" (state.c). The restore is checked whole before anything is
 * applied, so a refused snapshot leaves the vCPU untouched. */
static int soft_vcpu_save(struct vcpu *v, struct snap_writer *w)
{
	soft_cpu_save(&v->cpu, w);
	return w->error;
}

static int soft_vcpu_restore(struct vcpu *v, struct snap_reader *r)
{
	return soft_cpu_restore(&v->cpu, r);
}

const struct accel_ops accel_soft_ops = {
	.name = "soft",
	.vm_create = soft_vm_create,
	.vm_destroy = soft_vm_destroy_op,
	.vcpu_create = soft_vcpu_create,
	.vcpu_destroy = soft_vcpu_destroy,
	.vcpu_run = soft_vcpu_run,
	.vcpu_kick = soft_vcpu_kick,
	.get_regs = soft_get_regs,
	.set_regs = soft_set_regs,
	.get_sregs = soft_get_sregs,
	.set_sregs = soft_set_sregs,
	.irq_set = soft_irq_set,
	.vcpu_save = soft_vcpu_save,
	.vcpu_restore = soft_vcpu_restore,
	.get_fpu = soft_get_fpu,
	.set_fpu = soft_set_fpu,
	.set_guest_debug = soft_set_guest_debug,
	.debug_max_bp = ACCEL_DEBUG_MAX_BP,
	.translate = soft_translate_op,
	.set_trace = soft_set_trace,
	.ioeventfd = soft_ioeventfd,
	/* No irqfd: a device's interrupt reaches the irqchip by a direct,
	 * thread-safe irq_set call, which is what an irqfd does in-process. */
};
