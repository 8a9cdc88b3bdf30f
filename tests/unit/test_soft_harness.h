/* A soft vCPU on 16 MiB of guest memory for the test_soft_*.c unit tests:
 * 64-bit mode, a flat GDT, identity paging of the first GiB with 2M pages
 * (user-accessible, writable), an IDT/TSS area, and helpers to load code
 * and run it until an exit.
 *
 * Guest-physical layout:
 *   0x0500 GDT   0x1000 PML4   0x2000 PDPT   0x3000 PD (2M pages)
 *   0x4000 IDT   0x5000 TSS    0x6000-0x9fff spare page-table pages
 *   0x10000 code (TEST_CODE)   0x20000 handlers   0x70000 kernel stack top */
#ifndef ISOLA_TEST_SOFT_HARNESS_H
#define ISOLA_TEST_SOFT_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "memory.h"
#include "unit.h"

#define TEST_RAM    (16ull << 20)
#define TEST_GDT    0x500ull
#define TEST_PML4   0x1000ull
#define TEST_PDPT   0x2000ull
#define TEST_PD     0x3000ull
#define TEST_IDT    0x4000ull
#define TEST_TSS    0x5000ull
#define TEST_CODE   0x10000ull
#define TEST_HANDLER 0x20000ull
#define TEST_STACK  0x70000ull

/* GDT selectors. */
#define SEL_CODE64  0x08
#define SEL_DATA    0x10
#define SEL_UCODE64 0x1b /* index 3, RPL 3 */
#define SEL_UDATA   0x23 /* index 4, RPL 3 */
#define SEL_TSS     0x28 /* index 5, 16 bytes */

#define PTE_P  1ull
#define PTE_RW 2ull
#define PTE_US 4ull
#define PTE_A  0x20ull
#define PTE_D  0x40ull
#define PTE_PS 0x80ull

struct tenv {
	struct guest_mem mem;
	struct soft_vm svm;
	struct soft_cpu *cpu;
	struct vcpu_exit exit;
};

static inline void tenv_on_write(void *opaque, uint64_t gpa, uint64_t len)
{
	soft_vm_note_write(opaque, gpa, len);
}

static inline void tenv_w64(struct tenv *t, uint64_t gpa, uint64_t v)
{
	CHECK(gm_write(&t->mem, gpa, &v, 8) == 0);
}

static inline uint64_t tenv_r64(struct tenv *t, uint64_t gpa)
{
	uint64_t v = 0;
	CHECK(gm_read(&t->mem, gpa, &v, 8) == 0);
	return v;
}

static inline void tenv_load(struct tenv *t, uint64_t gpa, const void *code, size_t len)
{
	CHECK(gm_write(&t->mem, gpa, code, len) == 0);
}

static inline void tenv_seg(struct x86_segment *s, uint16_t sel, uint8_t type, uint8_t dpl,
			    int l)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->l = (uint8_t)l;
	s->db = !l;
	s->g = 1;
}

/* Point the CPU at ring 0 (user = 0) or ring 3 (user = 1) 64-bit code. */
static inline void tenv_set_ring(struct tenv *t, int user)
{
	struct x86_sregs s;
	soft_cpu_get_sregs(t->cpu, &s);
	tenv_seg(&s.seg[X86_CS], user ? SEL_UCODE64 : SEL_CODE64, 0xb, user ? 3 : 0, 1);
	tenv_seg(&s.seg[X86_SS], user ? SEL_UDATA : SEL_DATA, 0x3, user ? 3 : 0, 0);
	soft_cpu_set_sregs(t->cpu, &s);
}

static inline int tenv_init(struct tenv *t)
{
	memset(t, 0, sizeof(*t));
	if (gm_init(&t->mem, TEST_RAM))
		return -1;
	if (soft_vm_init(&t->svm, &t->mem))
		return -1;
	t->mem.on_write = tenv_on_write;
	t->mem.on_write_opaque = &t->svm;
	t->cpu = aligned_alloc(64, (sizeof(struct soft_cpu) + 63) & ~(size_t)63);
	if (!t->cpu || soft_cpu_init(t->cpu, &t->svm, 0))
		return -1;

	/* GDT: null, code64, data, user code64, user data, TSS (16 bytes). */
	static const uint64_t gdt[] = {
		0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x00affb000000ffffull,
		0x00cff3000000ffffull,
		/* 64-bit TSS at TEST_TSS, limit 0x67, type 9 (available), present */
		0x0000890000000067ull | ((TEST_TSS & 0xffffff) << 16), 0,
	};
	tenv_load(t, TEST_GDT, gdt, sizeof(gdt));
	/* No I/O permission bitmap: its base lies beyond the TSS limit. */
	uint16_t iomap = 0x68;
	tenv_load(t, TEST_TSS + 0x66, &iomap, 2);
	tenv_w64(t, TEST_PML4, TEST_PDPT | PTE_P | PTE_RW | PTE_US);
	tenv_w64(t, TEST_PDPT, TEST_PD | PTE_P | PTE_RW | PTE_US);
	for (uint64_t i = 0; i < 512; i++)
		tenv_w64(t, TEST_PD + i * 8, (i << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS);

	struct x86_sregs s;
	memset(&s, 0, sizeof(s));
	tenv_seg(&s.seg[X86_CS], SEL_CODE64, 0xb, 0, 1);
	tenv_seg(&s.seg[X86_SS], SEL_DATA, 0x3, 0, 0);
	s.seg[X86_DS] = s.seg[X86_ES] = s.seg[X86_FS] = s.seg[X86_GS] = s.seg[X86_SS];
	memset(&s.seg[X86_TR], 0, sizeof(s.seg[X86_TR]));
	s.seg[X86_TR].selector = SEL_TSS;
	s.seg[X86_TR].base = TEST_TSS;
	s.seg[X86_TR].limit = 0x67;
	s.seg[X86_TR].type = 0xb;
	s.seg[X86_TR].present = 1;
	s.seg[X86_LDTR].unusable = 1;
	s.gdt.base = TEST_GDT;
	s.gdt.limit = 7 * 8 - 1;
	s.idt.base = TEST_IDT;
	s.idt.limit = 0; /* no IDT until a test installs gates */
	s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s.cr3 = TEST_PML4;
	s.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR;
	s.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | X86_EFER_SCE;
	soft_cpu_set_sregs(t->cpu, &s);

	struct x86_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = TEST_CODE;
	r.rflags = X86_RFLAGS_FIXED;
	r.gpr[X86_RSP] = TEST_STACK;
	soft_cpu_set_regs(t->cpu, &r);
	return 0;
}

static inline void tenv_destroy(struct tenv *t)
{
	if (t->cpu) {
		soft_cpu_destroy(t->cpu);
		free(t->cpu);
	}
	soft_vm_destroy(&t->svm);
	gm_destroy(&t->mem);
}

/* 64-bit interrupt gate for vector v to handler (DPL dpl, IST ist). */
static inline void tenv_gate(struct tenv *t, unsigned v, uint64_t handler, unsigned dpl,
			     unsigned ist)
{
	uint64_t lo = (handler & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | ((uint64_t)ist << 32) |
		      (0xeull << 40) | ((uint64_t)dpl << 45) | (1ull << 47) |
		      ((handler & 0xffff0000ull) << 32);
	tenv_w64(t, TEST_IDT + v * 16, lo);
	tenv_w64(t, TEST_IDT + v * 16 + 8, handler >> 32);
	t->cpu->idt.limit = 256 * 16 - 1;
}

/* Run until an exit; returns its kind. */
static inline int tenv_run(struct tenv *t)
{
	/* Tests move RIP by hand; like set_regs, that ends a fall-through. */
	t->cpu->dc.prev = NULL;
	memset(&t->exit, 0, sizeof(t->exit));
	CHECK(soft_cpu_run(t->cpu, &t->exit) == 0);
	return t->exit.kind;
}

/* Load code at TEST_CODE, point RIP at it, run until an exit. */
static inline int tenv_exec(struct tenv *t, const void *code, size_t len)
{
	tenv_load(t, TEST_CODE, code, len);
	t->cpu->rip = TEST_CODE;
	return tenv_run(t);
}

#endif
