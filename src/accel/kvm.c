/* The kvm accelerator: hardware-assisted virtualisation through /dev/kvm
 * (Documentation/virt/kvm/api.rst). KVM runs the guest and handles the
 * sensitive instructions itself; isola sees only the exits it must serve
 * (port I/O, MMIO outside RAM, shutdown, errors). KVM's in-kernel local APIC,
 * I/O APIC, 8259 pair and 8254 PIT serve interrupts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "accel/accel.h"
#include "accel/kvm_cpuid.h"
#include "arch/x86/layout.h"
#include "log.h"
#include "vm.h"

/* The signal that kicks a vCPU thread out of KVM_RUN. Its handler does
 * nothing: the point is the EINTR. */
#define KVM_KICK_SIGNAL SIGUSR1

struct accel {
	int kvm_fd, vm_fd;
	int run_size;
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, shared by vCPUs */
	unsigned ncpus;
};

struct vcpu {
	struct accel *acc;
	int fd, index;
	struct kvm_run *run;
	pthread_t thread;          /* the thread inside vcpu_run, for kicks */
	_Atomic bool thread_known;
};

static void kvm_kick_handler(int sig)
{
	(void)sig;
}

static int kvm_install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kvm_kick_handler };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	return sigaction(KVM_KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

static int kvm_open(int *fd_out, const char **why)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			*why = "/dev/kvm does not exist (load the kvm module, or use --accel soft)";
		else if (e == EACCES || e == EPERM)
			*why = "no permission to open /dev/kvm (add your user to the kvm group "
			       "or run as root, or use --accel soft)";
		else
			*why = "cannot open /dev/kvm";
		return -e;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd);
		*why = "/dev/kvm speaks an unknown KVM API version";
		return -ENOTSUP;
	}
	static const struct { int cap; const char *name; } needed[] = {
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			close(fd);
			*why = "/dev/kvm lacks a capability isola needs (KVM_CAP_USER_MEMORY, "
			       "IRQCHIP, PIT2, SET_TSS_ADDR, EXT_CPUID, IMMEDIATE_EXIT)";
			return -ENOTSUP;
		}
	}
	*fd_out = fd;
	return 0;
}

/* The PC's interrupt wiring, as the MADT describes it (arch/x86/acpi.c): ISA
 * IRQs 0-15 reach the 8259 pair, and the I/O APIC pin of the same number,
 * except IRQ 0 (the PIT), which the interrupt source override puts on pin 2.
 * IRQ 2 is the 8259 cascade. KVM's default table routes IRQ 0 to pin 0, so
 * isola installs its own (api.rst, KVM_SET_GSI_ROUTING). */
static int kvm_setup_irq_routing(int vm_fd)
{
	enum { NR_ISA = 16, NR_PINS = 24, MAX = NR_ISA + NR_PINS };
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[MAX];
	} r;
	memset(&r, 0, sizeof(r));
	unsigned n = 0;
	for (unsigned irq = 0; irq < NR_ISA; irq++) {
		if (irq == 2)
			continue;
		r.e[n++] = (struct kvm_irq_routing_entry){
			.gsi = irq, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = irq < 8 ? KVM_IRQCHIP_PIC_MASTER
							   : KVM_IRQCHIP_PIC_SLAVE,
				       .pin = irq % 8 },
		};
	}
	for (unsigned gsi = 0; gsi < NR_PINS; gsi++) {
		if (gsi == 2)
			continue;
		r.e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi },
		};
	}
	r.hdr.nr = n;
	return ioctl(vm_fd, KVM_SET_GSI_ROUTING, &r) < 0 ? -errno : 0;
}

static const char *kvm_unavailable(void)
{
	int fd;
	const char *why = NULL;
	if (kvm_open(&fd, &why))
		return why;
	close(fd);
	return NULL;
}

static void kvm_vm_destroy(struct accel *acc)
{
	if (!acc)
		return;
	if (acc->vm_fd >= 0)
		close(acc->vm_fd);
	if (acc->kvm_fd >= 0)
		close(acc->kvm_fd);
	free(acc->cpuid);
	free(acc);
}

static int kvm_vm_create(struct vm *vm, struct accel **out, const char **why)
{
	struct accel *acc = calloc(1, sizeof(*acc));
	if (!acc)
		return -ENOMEM;
	acc->vm_fd = -1;
	acc->ncpus = vm->cfg.cpus;
	int rc = kvm_open(&acc->kvm_fd, why);
	if (rc) {
		acc->kvm_fd = -1;
		goto err;
	}
	*why = NULL;
	rc = -ENOMEM;
	acc->run_size = ioctl(acc->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (acc->run_size < (int)sizeof(struct kvm_run)) {
		*why = "KVM_GET_VCPU_MMAP_SIZE failed";
		rc = -EIO;
		goto err;
	}
	int max = ioctl(acc->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max > 0 && vm->cfg.cpus > (unsigned)max) {
		*why = "more --cpus than this host's KVM allows";
		rc = -EINVAL;
		goto err;
	}
	acc->vm_fd = ioctl(acc->kvm_fd, KVM_CREATE_VM, 0);
	if (acc->vm_fd < 0) {
		rc = -errno;
		*why = "KVM_CREATE_VM failed";
		goto err;
	}
	/* VMX needs three pages for a real-mode TSS and one for an identity
	 * map, inside the guest-physical space but outside RAM (api.rst,
	 * KVM_SET_TSS_ADDR); they sit just below the BIOS area at 4 GiB. */
	uint64_t idmap = LAYOUT_KVM_IDENTITY;
	if (ioctl(acc->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0 ||
	    ioctl(acc->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		rc = -errno;
		*why = "KVM_SET_TSS_ADDR/KVM_SET_IDENTITY_MAP_ADDR failed";
		goto err;
	}
	/* RAM before the irqchip: registering memory slots after
	 * KVM_CREATE_IRQCHIP/PIT2 costs 4-12 ms here against 0.2-2 ms before
	 * (bench/, BENCHMARKS.md), and it is the same VM either way. */
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct gm_region *r = &vm->mem.region[i];
		struct kvm_userspace_memory_region kr = {
			.slot = (uint32_t)i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};
		if (ioctl(acc->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
			rc = -errno;
			*why = "KVM_SET_USER_MEMORY_REGION failed";
			goto err;
		}
	}
	if (ioctl(acc->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		rc = -errno;
		*why = "KVM_CREATE_IRQCHIP failed";
		goto err;
	}
	rc = kvm_setup_irq_routing(acc->vm_fd);
	if (rc) {
		*why = "KVM_SET_GSI_ROUTING failed";
		goto err;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(acc->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		rc = -errno;
		*why = "KVM_CREATE_PIT2 failed";
		goto err;
	}
	rc = kvm_cpuid_get_supported(acc->kvm_fd, &acc->cpuid);
	if (rc) {
		*why = "KVM_GET_SUPPORTED_CPUID failed";
		goto err;
	}
	rc = kvm_install_kick_handler();
	if (rc)
		goto err;
	*out = acc;
	return 0;
err:
	kvm_vm_destroy(acc);
	return rc;
}

/* MSRs a 64-bit guest expects set at reset (Intel SDM Vol. 4, and what
 * Linux checks early): fast strings on, and the SYSCALL MSRs clean. */
static int kvm_vcpu_set_msrs(struct vcpu *v)
{
	static const struct { uint32_t index; uint64_t value; } init[] = {
		{ 0x1a0, 1 },   /* IA32_MISC_ENABLE: fast-string enable */
		{ 0x174, 0 }, { 0x175, 0 }, { 0x176, 0 }, /* SYSENTER_CS/ESP/EIP */
		{ 0xc0000081, 0 }, { 0xc0000082, 0 }, { 0xc0000083, 0 }, /* STAR, LSTAR, CSTAR */
		{ 0xc0000084, 0 }, /* SFMASK */
		{ 0xc0000102, 0 }, /* KERNEL_GS_BASE */
		{ 0x10, 0 },       /* TSC */
	};
	enum { N = sizeof(init) / sizeof(init[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} m;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (int i = 0; i < N; i++) {
		m.e[i].index = init[i].index;
		m.e[i].data = init[i].value;
	}
	int n = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return -errno;
	if (n != N)
		log_msg("kvm: vcpu %d: host refused MSR 0x%x at reset (ignored)", v->index,
			m.e[n].index);
	return 0;
}

static void kvm_vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	if (v->run)
		munmap(v->run, (size_t)v->acc->run_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

static int kvm_vcpu_create(struct accel *acc, int index, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->acc = acc;
	v->index = index;
	v->fd = ioctl(acc->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	int rc;
	if (v->fd < 0) {
		rc = -errno;
		goto err;
	}
	v->run = mmap(NULL, (size_t)acc->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		rc = -errno;
		goto err;
	}
	rc = kvm_cpuid_set_vcpu(v->fd, acc->cpuid, (unsigned)index, acc->ncpus);
	if (rc)
		goto err;
	rc = kvm_vcpu_set_msrs(v);
	if (rc)
		goto err;
	*out = v;
	return 0;
err:
	kvm_vcpu_destroy(v);
	return rc;
}

static void kvm_error(struct vcpu_exit *e, const char *what, uint64_t a, uint64_t b)
{
	e->kind = VCPU_EXIT_ERROR;
	snprintf(e->error.what, sizeof(e->error.what), "%s", what);
	e->error.detail[0] = a;
	e->error.detail[1] = b;
	e->error.detail[2] = e->error.detail[3] = 0;
}

/* Exits that carry nothing but their kind (stored + 1: 0 = not simple). */
static const uint8_t kvm_simple_exits[] = {
	[KVM_EXIT_HLT] = VCPU_EXIT_HALT + 1,
	[KVM_EXIT_SHUTDOWN] = VCPU_EXIT_SHUTDOWN + 1,
	[KVM_EXIT_INTR] = VCPU_EXIT_KICKED + 1,
};

static int kvm_vcpu_run(struct vcpu *v, struct vcpu_exit *e)
{
	if (!atomic_load_explicit(&v->thread_known, memory_order_acquire)) {
		v->thread = pthread_self();
		atomic_store_explicit(&v->thread_known, true, memory_order_release);
	}
	struct kvm_run *run = v->run;
	if (ioctl(v->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR) {
			/* Kicked. The caller re-checks why before running again. */
			run->immediate_exit = 0;
			e->kind = VCPU_EXIT_KICKED;
			return 0;
		}
		if (errno == EAGAIN)
			return -EAGAIN;
		return -errno;
	}
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		/* data_offset and the element count come from KVM, not the guest,
		 * but check them against the mapping all the same. */
		if (run->io.data_offset >= (uint64_t)v->acc->run_size ||
		    (uint64_t)run->io.count * run->io.size >
			    (uint64_t)v->acc->run_size - run->io.data_offset) {
			kvm_error(e, "KVM reported port I/O data outside kvm_run",
				  run->io.data_offset, run->io.count);
			return 0;
		}
		e->kind = VCPU_EXIT_IO;
		e->io.port = run->io.port;
		e->io.size = run->io.size;
		e->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		e->io.count = run->io.count;
		e->io.data = (uint8_t *)run + run->io.data_offset;
		return 0;
	case KVM_EXIT_MMIO:
		e->kind = VCPU_EXIT_MMIO;
		e->mmio.addr = run->mmio.phys_addr;
		e->mmio.size = (uint8_t)(run->mmio.len <= 8 ? run->mmio.len : 8);
		e->mmio.is_write = run->mmio.is_write;
		e->mmio.data = run->mmio.data;
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_RESET:
			e->kind = VCPU_EXIT_RESET;
			return 0;
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			e->kind = VCPU_EXIT_POWEROFF;
			return 0;
		default:
			kvm_error(e, "KVM system event (guest crash)", run->system_event.type, 0);
			return 0;
		}
	case KVM_EXIT_DEBUG:
		/* A #DB from single-stepping (DR6.BS) or a breakpoint register
		 * (DR6.B0-B3) that KVM_SET_GUEST_DEBUG asked for. */
		e->kind = VCPU_EXIT_DEBUG;
		e->debug.pc = run->debug.arch.pc;
		e->debug.breakpoint = (run->debug.arch.dr6 & 0xf) != 0;
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		kvm_error(e, "KVM could not enter the guest (hardware entry failure)",
			  run->fail_entry.hardware_entry_failure_reason, 0);
		return 0;
	case KVM_EXIT_INTERNAL_ERROR: {
		const char *what = "KVM internal error";
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			what = "KVM could not emulate an instruction (internal error: emulation)";
		kvm_error(e, what, run->internal.suberror,
			  run->internal.ndata > 0 ? run->internal.data[0] : 0);
		return 0;
	}
	default:
		if (run->exit_reason < sizeof(kvm_simple_exits) / sizeof(kvm_simple_exits[0]) &&
		    kvm_simple_exits[run->exit_reason]) {
			e->kind = kvm_simple_exits[run->exit_reason] - 1;
			return 0;
		}
		kvm_error(e, "unexpected KVM exit reason", run->exit_reason, 0);
		return 0;
	}
}

static void kvm_vcpu_kick(struct vcpu *v)
{
	/* immediate_exit covers a kick that lands just before KVM_RUN; the
	 * signal covers one already inside it (api.rst, KVM_CAP_IMMEDIATE_EXIT). */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load_explicit(&v->thread_known, memory_order_acquire))
		pthread_kill(v->thread, KVM_KICK_SIGNAL);
}

static int kvm_get_regs(struct vcpu *v, struct x86_regs *r)
{
	struct kvm_regs k;
	if (ioctl(v->fd, KVM_GET_REGS, &k) < 0)
		return -errno;
	const uint64_t g[X86_NR_GPRS] = { k.rax, k.rcx, k.rdx, k.rbx, k.rsp, k.rbp, k.rsi, k.rdi,
					  k.r8,  k.r9,  k.r10, k.r11, k.r12, k.r13, k.r14, k.r15 };
	memcpy(r->gpr, g, sizeof(g));
	r->rip = k.rip;
	r->rflags = k.rflags;
	return 0;
}

static int kvm_set_regs(struct vcpu *v, const struct x86_regs *r)
{
	const uint64_t *g = r->gpr;
	struct kvm_regs k = {
		.rax = g[X86_RAX], .rcx = g[X86_RCX], .rdx = g[X86_RDX], .rbx = g[X86_RBX],
		.rsp = g[X86_RSP], .rbp = g[X86_RBP], .rsi = g[X86_RSI], .rdi = g[X86_RDI],
		.r8 = g[X86_R8], .r9 = g[X86_R9], .r10 = g[X86_R10], .r11 = g[X86_R11],
		.r12 = g[X86_R12], .r13 = g[X86_R13], .r14 = g[X86_R14], .r15 = g[X86_R15],
		.rip = r->rip, .rflags = r->rflags,
	};
	return ioctl(v->fd, KVM_SET_REGS, &k) < 0 ? -errno : 0;
}

static void seg_to_kvm(const struct x86_segment *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->selector, .type = s->type,
		.present = s->present, .dpl = s->dpl, .db = s->db, .s = s->s, .l = s->l,
		.g = s->g, .avl = s->avl, .unusable = s->unusable,
	};
}

static void seg_from_kvm(const struct kvm_segment *k, struct x86_segment *s)
{
	*s = (struct x86_segment){
		.base = k->base, .limit = k->limit, .selector = k->selector, .type = k->type,
		.present = k->present, .dpl = k->dpl, .db = k->db, .s = k->s, .l = k->l,
		.g = k->g, .avl = k->avl, .unusable = k->unusable,
	};
}

static int kvm_get_sregs(struct vcpu *v, struct x86_sregs *s)
{
	struct kvm_sregs k;
	if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
		return -errno;
	struct kvm_segment *ks[X86_NR_SEGS] = { &k.cs, &k.ds, &k.es, &k.fs,
						&k.gs, &k.ss, &k.tr, &k.ldt };
	for (int i = 0; i < X86_NR_SEGS; i++)
		seg_from_kvm(ks[i], &s->seg[i]);
	s->gdt = (struct x86_dtable){ .base = k.gdt.base, .limit = k.gdt.limit };
	s->idt = (struct x86_dtable){ .base = k.idt.base, .limit = k.idt.limit };
	s->cr0 = k.cr0;
	s->cr2 = k.cr2;
	s->cr3 = k.cr3;
	s->cr4 = k.cr4;
	s->cr8 = k.cr8;
	s->efer = k.efer;
	s->apic_base = k.apic_base;
	return 0;
}

static int kvm_set_sregs(struct vcpu *v, const struct x86_sregs *s)
{
	struct kvm_sregs k;
	/* Start from KVM's view so fields isola does not model (the pending
	 * interrupt bitmap, the APIC base) keep their values. */
	if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
		return -errno;
	struct kvm_segment *ks[X86_NR_SEGS] = { &k.cs, &k.ds, &k.es, &k.fs,
						&k.gs, &k.ss, &k.tr, &k.ldt };
	for (int i = 0; i < X86_NR_SEGS; i++)
		seg_to_kvm(&s->seg[i], ks[i]);
	k.gdt.base = s->gdt.base;
	k.gdt.limit = s->gdt.limit;
	k.idt.base = s->idt.base;
	k.idt.limit = s->idt.limit;
	k.cr0 = s->cr0;
	k.cr2 = s->cr2;
	k.cr3 = s->cr3;
	k.cr4 = s->cr4;
	k.cr8 = s->cr8;
	k.efer = s->efer;
	if (s->apic_base)
		k.apic_base = s->apic_base;
	return ioctl(v->fd, KVM_SET_SREGS, &k) < 0 ? -errno : 0;
}

static int kvm_get_fpu(struct vcpu *v, struct x86_fpu *f)
{
	struct kvm_fpu k;
	if (ioctl(v->fd, KVM_GET_FPU, &k) < 0)
		return -errno;
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 8; i++)
		memcpy(f->st[i], k.fpr[i], 10);
	f->fcw = k.fcw;
	f->fsw = k.fsw;
	f->ftw = k.ftwx;
	f->fop = k.last_opcode;
	f->fip = k.last_ip;
	f->fdp = k.last_dp;
	memcpy(f->xmm, k.xmm, sizeof(f->xmm));
	f->mxcsr = k.mxcsr;
	return 0;
}

static int kvm_set_fpu(struct vcpu *v, const struct x86_fpu *f)
{
	struct kvm_fpu k;
	memset(&k, 0, sizeof(k));
	for (int i = 0; i < 8; i++)
		memcpy(k.fpr[i], f->st[i], 10);
	k.fcw = f->fcw;
	k.fsw = f->fsw;
	k.ftwx = f->ftw;
	k.last_opcode = f->fop;
	k.last_ip = f->fip;
	k.last_dp = f->fdp;
	memcpy(k.xmm, f->xmm, sizeof(k.xmm));
	k.mxcsr = f->mxcsr;
	return ioctl(v->fd, KVM_SET_FPU, &k) < 0 ? -errno : 0;
}

/* Breakpoints go in the debug registers KVM keeps for the host debugger
 * (KVM_GUESTDBG_USE_HW_BP: DR0-DR3 with DR7's global enables, R/W = 00
 * "instruction execution", LEN = 00; SDM Vol. 3B §18.2.4), so guest memory
 * is never patched and the guest's own debug registers are not touched.
 * Hence at most four. */
#define KVM_MAX_HW_BP 4
static int kvm_set_guest_debug(struct vcpu *v, const struct accel_debug *d)
{
	struct kvm_guest_debug g;
	memset(&g, 0, sizeof(g));
	if (d && d->nr_bp > KVM_MAX_HW_BP)
		return -ENOSPC;
	if (d && (d->singlestep || d->nr_bp)) {
		g.control = KVM_GUESTDBG_ENABLE;
		if (d->singlestep)
			g.control |= KVM_GUESTDBG_SINGLESTEP;
		if (d->nr_bp) {
			g.control |= KVM_GUESTDBG_USE_HW_BP;
			g.arch.debugreg[7] = 0x400; /* bit 10 reads as 1 */
			for (unsigned i = 0; i < d->nr_bp; i++) {
				g.arch.debugreg[i] = d->bp[i];
				g.arch.debugreg[7] |= 2ull << (2 * i); /* G0..G3 */
			}
		}
	}
	return ioctl(v->fd, KVM_SET_GUEST_DEBUG, &g) < 0 ? -errno : 0;
}

static int kvm_translate(struct vcpu *v, uint64_t lin, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = lin };
	if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0)
		return -errno;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

static int kvm_irq_set(struct accel *acc, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)(level != 0) };
	return ioctl(acc->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

/* api.rst, KVM_IOEVENTFD: an MMIO write of len bytes equal to datamatch at
 * addr signals fd inside the kernel, and the vCPU resumes without an exit
 * to isola. */
static int kvm_ioeventfd(struct accel *acc, uint64_t addr, unsigned len, uint64_t datamatch,
			 int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (ioctl(acc->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0)
		return -ENOTSUP;
	return ioctl(acc->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* api.rst, KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE: a write to fd asserts
 * the GSI (through its own IRQ source, ORed with KVM_IRQ_LINE's: never
 * drive one GSI both ways); the guest's EOI deasserts it and signals
 * resample_fd. The resample mode is what a level-triggered line needs: a
 * plain irqfd pulses the line, and a pulse that comes while the interrupt
 * is in service (remote IRR set) would be lost. */
static int kvm_irqfd(struct accel *acc, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? KVM_IRQFD_FLAG_RESAMPLE : KVM_IRQFD_FLAG_DEASSIGN,
		.resamplefd = assign ? (uint32_t)resample_fd : 0,
	};

	if (ioctl(acc->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) <= 0 ||
	    ioctl(acc->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) <= 0)
		return -ENOTSUP;
	return ioctl(acc->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

const struct accel_ops accel_kvm_ops = {
	.name = "kvm",
	.unavailable = kvm_unavailable,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.get_regs = kvm_get_regs,
	.set_regs = kvm_set_regs,
	.get_sregs = kvm_get_sregs,
	.set_sregs = kvm_set_sregs,
	.irq_set = kvm_irq_set,
	.get_fpu = kvm_get_fpu,
	.set_fpu = kvm_set_fpu,
	.set_guest_debug = kvm_set_guest_debug,
	.translate = kvm_translate,
	.debug_max_bp = KVM_MAX_HW_BP,
	.ioeventfd = kvm_ioeventfd,
	.irqfd = kvm_irqfd,
};
