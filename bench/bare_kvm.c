/* bare_kvm: the floor for a port-I/O exit on this host's /dev/kvm.
 *
 * The least a VMM can do per exit: one vCPU, no threads, no event loop;
 * KVM_RUN, look at the exit reason, KVM_RUN again. The guest is the same
 * three-instruction loop bench/guests/ioloop.c runs under isola:
 *
 *     1: out %al, (%dx)      ; ee
 *        dec %ecx            ; ff c9
 *        jnz 1b              ; 75 fb
 *        hlt                 ; f4
 *
 * entered in 64-bit mode (Intel SDM vol. 3A 9.8.5, "Initializing IA-32e
 * Mode": CR0.PE|PG, CR4.PAE, EFER.LME|LMA, a CS with L=1, CR3 -> 4-level
 * page tables; here one 2 MiB page identity-maps [0, 2 MiB)). KVM loads the
 * segment caches straight from KVM_SET_SREGS, so no GDT is needed in memory.
 *
 * It runs the loop for N exits, then for 2N (same vCPU, registers reset; the
 * host stops after the last expected exit, so the hlt is never needed —
 * with an in-kernel irqchip a hlt would not exit at all), and reports both
 * wall and process CPU times around the KVM_RUN loops and (t(2N) - t(N)) / N
 * for both: the cost per iteration with the fixed costs (first entry,
 * shadow page-table fill) cancelled — the differencing bench/run.sh applies
 * to isola. CPU time (CLOCK_PROCESS_CPUTIME_ID) is what the loop costs;
 * wall time also holds whatever else the shared host ran meanwhile.
 *
 * -m real keeps the vCPU in real mode, as it leaves reset, and runs the
 * 16-bit encoding of the loop (dec %ecx takes an operand-size prefix,
 * 66 49): the floor for bench/qemu/loop_rom.S, which QEMU runs in real mode.
 *
 * -i before|after also creates the in-kernel irqchip and PIT (as isola's
 * kvm back end does) before or after registering guest memory; the default
 * "none" creates neither. The result line is flushed as soon as the loops
 * end, so a run with N=1 under bench/spawn gives a startup floor: first
 * stdout byte = process start to a few guest exits, exit = plus teardown.
 *
 * Usage: bare_kvm [-m long|real] [-i none|before|after] N [PORT]
 * Output: bare_kvm mode=M irqchip=I n=N port=P setup_us=S t_n_us=A t_2n_us=B
 *         us_per_exit=C cpu_n_us=D cpu_2n_us=F cpu_us_per_exit=G exits=E */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#define MEM_SIZE   (2u << 20)
#define PML4_GPA   0x1000
#define PDPT_GPA   0x2000
#define PD_GPA     0x3000
#define CODE_GPA   0x10000  /* real mode: CS = 0x1000, IP = 0 */
#define STACK_TOP  0x8000
#define TSS_GPA    0xfffbd000u  /* KVM_SET_TSS_ADDR: 3 pages, outside RAM */

#define PTE_P      (1ull << 0)
#define PTE_RW     (1ull << 1)
#define PTE_PS     (1ull << 7)

#define CR0_PE     (1ull << 0)
#define CR0_MP     (1ull << 1)
#define CR0_ET     (1ull << 4)
#define CR0_NE     (1ull << 5)
#define CR0_WP     (1ull << 16)
#define CR0_PG     (1ull << 31)
#define CR4_PAE    (1ull << 5)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)

enum irqchip { IRQCHIP_NONE, IRQCHIP_BEFORE, IRQCHIP_AFTER };

static double clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

static double cpu_us(void)
{
	return clock_us(CLOCK_PROCESS_CPUTIME_ID);
}

static void die(const char *what)
{
	fprintf(stderr, "bare_kvm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: bare_kvm [-m long|real] [-i none|before|after] N [PORT]\n");
	exit(2);
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64; /* D must be 0 when L is 1 (SDM vol. 3A 3.4.5) */
}

static void create_irqchip(int vm)
{
	struct kvm_pit_config pit = { .flags = 0 };

	if (ioctl(vm, KVM_SET_TSS_ADDR, TSS_GPA))
		die("KVM_SET_TSS_ADDR");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	if (ioctl(vm, KVM_CREATE_PIT2, &pit))
		die("KVM_CREATE_PIT2");
}

/* Runs the loop from the top until n exits; returns the exits seen, -1 on
 * a surprise. */
static long run_loop(int vcpu, struct kvm_run *run, uint32_t n, uint16_t port, int real,
		     double *us, double *cpu)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = real ? 0 : CODE_GPA;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x2;
	regs.rcx = n;
	regs.rdx = port;
	regs.rax = 0x5a;
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");

	long exits = 0;
	double c0 = cpu_us(), t0 = now_us();
	while (exits < (long)n) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == port &&
		    run->io.direction == KVM_EXIT_IO_OUT) {
			exits++;
			continue;
		}
		fprintf(stderr, "bare_kvm: unexpected exit %u after %ld exits\n",
			run->exit_reason, exits);
		return -1;
	}
	*us = now_us() - t0;
	*cpu = cpu_us() - c0;
	return exits;
}

int main(int argc, char **argv)
{
	int real = 0, opt;
	enum irqchip irqchip = IRQCHIP_NONE;
	static const char *const irqchip_names[] = { "none", "before", "after" };

	while ((opt = getopt(argc, argv, "m:i:")) != -1) {
		if (opt == 'm' && (!strcmp(optarg, "long") || !strcmp(optarg, "real")))
			real = !strcmp(optarg, "real");
		else if (opt == 'i' && !strcmp(optarg, "none"))
			irqchip = IRQCHIP_NONE;
		else if (opt == 'i' && !strcmp(optarg, "before"))
			irqchip = IRQCHIP_BEFORE;
		else if (opt == 'i' && !strcmp(optarg, "after"))
			irqchip = IRQCHIP_AFTER;
		else
			usage();
	}
	if (optind >= argc)
		usage();
	unsigned long nl = strtoul(argv[optind], NULL, 0);
	uint16_t port = optind + 1 < argc ? (uint16_t)strtoul(argv[optind + 1], NULL, 0) : 0x280;
	if (nl == 0 || nl > 0x3fffffff) {
		fprintf(stderr, "bare_kvm: N must be 1..2^30-1\n");
		return 2;
	}
	uint32_t n = (uint32_t)nl;
	double t_start = now_us();

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "bare_kvm: unexpected KVM API version\n");
		return 1;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (irqchip == IRQCHIP_BEFORE)
		create_irqchip(vm);

	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	if (irqchip == IRQCHIP_AFTER)
		create_irqchip(vm);

	/* Page tables: PML4[0] -> PDPT[0] -> PD[0] = 2 MiB page at 0. */
	uint64_t *pml4 = (uint64_t *)(mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(mem + PD_GPA);
	pml4[0] = PDPT_GPA | PTE_P | PTE_RW;
	pdpt[0] = PD_GPA | PTE_P | PTE_RW;
	pd[0] = 0 | PTE_P | PTE_RW | PTE_PS;

	static const uint8_t code64[] = { 0xee, 0xff, 0xc9, 0x75, 0xfb, 0xf4 };
	static const uint8_t code16[] = { 0xee, 0x66, 0x49, 0x75, 0xfb, 0xf4 };
	if (real)
		memcpy(mem + CODE_GPA, code16, sizeof(code16));
	else
		memcpy(mem + CODE_GPA, code64, sizeof(code64));

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	if (real) {
		/* Reset state but CS = 0x1000: a real-mode segment base is
		 * selector * 16 (SDM vol. 3A 20.1.1). */
		sregs.cs.selector = CODE_GPA >> 4;
		sregs.cs.base = CODE_GPA;
	} else {
		seg(&sregs.cs, 0x08, 0xb, 1);  /* execute/read, accessed */
		seg(&sregs.ds, 0x10, 0x3, 0);  /* read/write, accessed */
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
		sregs.cr3 = PML4_GPA;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");

	double setup = now_us() - t_start, t1, t2, c1, c2;
	long e1 = run_loop(vcpu, run, n, port, real, &t1, &c1);
	long e2 = run_loop(vcpu, run, 2 * n, port, real, &t2, &c2);
	if (e1 != (long)n || e2 != 2 * (long)n) {
		fprintf(stderr, "bare_kvm: saw %ld and %ld exits, expected %u and %u\n", e1, e2,
			n, 2 * n);
		return 1;
	}
	printf("bare_kvm mode=%s irqchip=%s n=%u port=0x%x setup_us=%.1f t_n_us=%.1f "
	       "t_2n_us=%.1f us_per_exit=%.3f cpu_n_us=%.1f cpu_2n_us=%.1f cpu_us_per_exit=%.3f "
	       "exits=%ld\n",
	       real ? "real" : "long", irqchip_names[irqchip], n, port, setup, t1, t2,
	       (t2 - t1) / n, c1, c2, (c2 - c1) / n, e1 + e2);
	/* Now, not at exit: the first byte on a pipe marks the loops' end. */
	fflush(stdout);
	return 0;
}
