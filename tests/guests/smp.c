/* Starting the other CPUs the way an OS does (Intel SDM vol. 3A 8.4.4,
 * "MP initialization example"): for each application processor, an INIT IPI
 * and a start-up IPI through the local APIC's ICR with vector 0x10, so the
 * AP starts in real mode at 0x10000. The trampoline there goes straight to
 * long mode (PAE, the BSP's CR3, EFER.LME, CR0.PE|PG, far jump to a 64-bit
 * segment of its own GDT), and each AP records its APIC id (LAPIC ID
 * register and CPUID leaf 1) and halts. "cpus=<n>" on the command line says
 * how many CPUs isola was given (APIC ids 0..n-1, as isola's MADT lists
 * them). No interrupt is delivered: INIT and SIPI are not interrupts. */
#include "rt/lib.h"

#define TRAMPOLINE 0x10000ull /* SIPI vector 0x10: CS=0x1000, IP=0 */
#define SIPI_VECTOR (TRAMPOLINE >> 12)
#define MAX_CPUS 16
#define AP_STACK 4096
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_PENDING 0x00001000u
#define WAIT_TSC 20000000000ull /* ~7 s at 3 GHz: an AP that is not up by then is not coming */

/* Written by the APs. */
volatile uint32_t ap_count;
volatile uint32_t ap_lapic_id[MAX_CPUS], ap_cpuid_id[MAX_CPUS];
uint8_t ap_stacks[MAX_CPUS][AP_STACK] __attribute__((aligned(16)));

void ap_main(uint32_t index);
void ap_main(uint32_t index)
{
	if (index < MAX_CPUS) {
		ap_lapic_id[index] = mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
		ap_cpuid_id[index] = cpuid(1, 0).ebx >> 24;
	}
	__atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
}

/* The real-mode trampoline (copied to TRAMPOLINE) and the 64-bit landing
 * code (runs in place). Offsets in the trampoline are relative to its start,
 * which is also the real-mode segment base. The data fields at the end are
 * filled in by the BSP. */
__asm__(".section .rodata\n"
	".balign 16\n"
	".globl tramp_start, tramp_end, tramp_gdtr, tramp_cr3, tramp_far, tramp_gdt\n"
	".code16\n"
	"tramp_start:\n"
	"	cli\n"
	"	cld\n"
	"	mov %cs, %ax\n"
	"	mov %ax, %ds\n"
	"	lgdtl tramp_gdtr - tramp_start\n"
	"	mov %cr4, %eax\n"
	"	or $0x20, %eax\n"              /* PAE */
	"	mov %eax, %cr4\n"
	"	mov tramp_cr3 - tramp_start, %eax\n"
	"	mov %eax, %cr3\n"
	"	mov $0xc0000080, %ecx\n"
	"	rdmsr\n"
	"	or $0x900, %eax\n"             /* LME, NXE */
	"	wrmsr\n"
	"	mov %cr0, %eax\n"
	"	or $0x80000001, %eax\n"        /* PG, PE */
	"	mov %eax, %cr0\n"
	"	ljmpl *(tramp_far - tramp_start)\n"
	".balign 8\n"
	"tramp_gdt:\n"
	"	.quad 0, 0, 0x00af9a000000ffff, 0x00cf92000000ffff\n"
	"tramp_gdtr:\n"
	"	.word 31\n"
	"	.long 0\n"
	"tramp_cr3:\n"
	"	.long 0\n"
	"tramp_far:\n"
	"	.long 0\n"
	"	.word 0x10\n"
	"tramp_end:\n"
	".code64\n"
	".text\n"
	".globl ap_entry64\n"
	"ap_entry64:\n"
	"	mov $0x18, %eax\n"
	"	mov %eax, %ds\n"
	"	mov %eax, %es\n"
	"	mov %eax, %ss\n"
	"	mov $1, %eax\n"
	"	lock xaddl %eax, ap_next(%rip)\n" /* this AP's index */
	"	mov %eax, %edi\n"
	"	cmp $" "16" ", %eax\n"
	"	jae 2f\n"
	"	inc %eax\n"
	"	shl $12, %rax\n"
	"	lea ap_stacks(%rip), %rsp\n"
	"	add %rax, %rsp\n"
	"	call ap_main\n"
	"2:	cli\n"
	"	hlt\n"
	"	jmp 2b\n");

extern const char tramp_start[], tramp_end[], tramp_gdtr[], tramp_cr3[], tramp_far[],
	tramp_gdt[];
extern char ap_entry64[];
volatile uint32_t ap_next;

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static int send_ipi(uint32_t apic_id, uint32_t low)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, low);
	for (unsigned i = 0; i < 1000000; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_PENDING))
			return 0;
	return -1;
}

static bool wait_count(uint32_t n)
{
	uint64_t t0 = rdtsc();

	while (ap_count < n)
		if (rdtsc() - t0 > WAIT_TSC)
			return false;
	return true;
}

int guest_main(void *bp)
{
	uint64_t cpus = 0, cr3;

	if (!cmdline_u64(bp, "cpus", &cpus) || cpus < 1 || cpus > MAX_CPUS)
		fail("need cpus=<1..%u> on the command line", MAX_CPUS);
	if (lapic_read(0x30) == 0xffffffffu)
		fail("no local APIC at 0x%lx", LAPIC_BASE);
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	if (cr3 >= (1ull << 32))
		fail("CR3 0x%lx is beyond what a 32-bit mov can load", cr3);

	/* Copy the trampoline and fill in its GDT base, CR3 and far pointer. */
	size_t len = (size_t)(tramp_end - tramp_start);
	memcpy((void *)TRAMPOLINE, tramp_start, len);
	uint32_t gdt = (uint32_t)(TRAMPOLINE + (uint64_t)(tramp_gdt - tramp_start));
	uint32_t entry = (uint32_t)(uint64_t)ap_entry64, cr3_32 = (uint32_t)cr3;
	memcpy((void *)(TRAMPOLINE + (uint64_t)(tramp_gdtr - tramp_start) + 2), &gdt, 4);
	memcpy((void *)(TRAMPOLINE + (uint64_t)(tramp_cr3 - tramp_start)), &cr3_32, 4);
	memcpy((void *)(TRAMPOLINE + (uint64_t)(tramp_far - tramp_start)), &entry, 4);

	lapic_write(LAPIC_SVR, 0x1ff);
	uint32_t bsp = lapic_read(LAPIC_ID) >> 24;
	printf("BSP APIC id %u; starting %lu more CPUs\n", bsp, cpus - 1);
	for (uint32_t id = 0, started = 0; id < cpus; id++) {
		if (id == bsp)
			continue;
		if (send_ipi(id, ICR_INIT | ICR_LEVEL_ASSERT))
			fail("INIT to APIC id %u stays pending", id);
		/* Two start-up IPIs, the second only if the first was lost
		 * (SDM 8.4.4.1); an AP ignores SIPIs once it runs. */
		if (send_ipi(id, ICR_STARTUP | SIPI_VECTOR))
			fail("SIPI to APIC id %u stays pending", id);
		if (!wait_count(started + 1)) {
			(void)send_ipi(id, ICR_STARTUP | SIPI_VECTOR);
			if (!wait_count(started + 1))
				fail("APIC id %u did not start", id);
		}
		started++;
		printf("  AP %u up: LAPIC id %u, CPUID initial APIC id %u\n", id,
		       ap_lapic_id[started - 1], ap_cpuid_id[started - 1]);
		if (ap_lapic_id[started - 1] != id || ap_cpuid_id[started - 1] != id)
			fail("the CPU started as APIC id %u reports another id", id);
	}
	if (ap_count != cpus - 1)
		fail("%u APs checked in, expected %lu", ap_count, cpus - 1);
	printf("all %lu CPUs up\n", cpus);
	return 0;
}
