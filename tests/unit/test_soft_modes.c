/* Soft CPU mode switches: from the RESET state's real mode through 32-bit
 * protected mode to long mode, the way Linux's SMP trampoline and boot
 * loaders do it (far jumps with pointer immediates, LGDT with a 32-bit
 * operand in 16-bit code, CR0.PE, CR4.PAE, EFER.LME, CR0.PG), and real-mode
 * interrupt delivery through the IVT. */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

/* Assembled with GNU as, linked at 0x8000 (code16 / code32 / code64):
 *
 *   8000 cli                          8025 mov $0x7000, %esp
 *   8001 xor %ax, %ax                 802a push $0x77 ; pop %ebx
 *   8003 mov %ax, %ds                 802d mov %cr4, %eax ; or $0x20 ; mov cr4
 *   8005 lgdtl gdtr_ptr (0x8069)      8036 mov $0x1000, %eax ; mov %eax, %cr3
 *   800a mov %cr0, %eax ; or $1, %al  803e mov $0xc0000080, %ecx ; rdmsr
 *   8010 mov %eax, %cr0               8045 or $0x100, %eax ; wrmsr   (LME)
 *   8013 ljmpl $0x38, $pm32           804c mov %cr0, %eax ; or $0x80000000
 *   801b pm32: mov $0x10, %ax         8054 mov %eax, %cr0            (PG: LMA)
 *   801f mov %ax, %ds / %es / %ss     8057 ljmp $0x08, $lm64
 *                                     805e lm64: movabs $0x1122334455667788, %rax
 *                                     8068 hlt
 *                                     8069 gdtr_ptr: .word 0x3f, .long 0x500 */
static const uint8_t trampoline[] = {
	0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x66, 0x0f, 0x01, 0x16, 0x69, 0x80, 0x0f,
	0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x1b, 0x80, 0x00,
	0x00, 0x38, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e,
	0xd0, 0xbc, 0x00, 0x70, 0x00, 0x00, 0x6a, 0x77, 0x5b, 0x0f, 0x20, 0xe0,
	0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f,
	0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01,
	0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80,
	0x0f, 0x22, 0xc0, 0xea, 0x5e, 0x80, 0x00, 0x00, 0x08, 0x00, 0x48, 0xb8,
	0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xf4, 0x3f, 0x00, 0x00,
	0x05, 0x00, 0x00,
};

TEST(soft_real_to_long_mode)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* GDT entry 7 (selector 0x38): flat 32-bit code. */
	tenv_w64(&t, TEST_GDT + 7 * 8, 0x00cf9b000000ffffull);
	tenv_load(&t, 0x8000, trampoline, sizeof(trampoline));

	/* The state after RESET, then CS:IP = 0800:0000 as a startup IPI
	 * with vector 8 would leave it (SDM Vol. 3A §9.4.4). */
	soft_cpu_reset(t.cpu);
	t.cpu->seg[X86_CS].selector = 0x0800;
	t.cpu->seg[X86_CS].base = 0x8000;
	t.cpu->rip = 0;
	CHECK(!soft_long_mode(t.cpu));
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, 0x8069);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x1122334455667788ull);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 0x77);
	CHECK_EQ(t.cpu->gpr[X86_RSP], 0x7000);
	CHECK(soft_64bit(t.cpu));
	CHECK(t.cpu->efer & X86_EFER_LMA);
	CHECK_EQ(t.cpu->seg[X86_CS].selector, 0x08);
	CHECK_EQ(t.cpu->seg[X86_SS].selector, 0x10);
	CHECK_EQ(t.cpu->gdt.base, 0x500);
	CHECK_EQ(t.cpu->gdt.limit, 0x3f);
	CHECK_EQ(t.cpu->cpl, 0);
	tenv_destroy(&t);
}

/* Real mode: INT 0x21 through the IVT to 0x0900:0x0010, which does IRET;
 * a far CALL ptr16:16 and RETF; segment arithmetic in addresses. */
TEST(soft_real_mode_int_iret_far_call)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	soft_cpu_reset(t.cpu);
	/* IVT[0x21] = 0900:0010 */
	uint32_t ivt = (0x0900u << 16) | 0x0010;
	tenv_load(&t, 0x21 * 4, &ivt, 4);
	/* handler at 0x9010: mov bx, 0x1234 ; iret */
	static const uint8_t h[] = { 0xbb, 0x34, 0x12, 0xcf };
	tenv_load(&t, 0x9010, h, sizeof(h));
	/* far routine at 0x0a00:0x0000 (0xa000): mov cx, cs ; retf */
	static const uint8_t far[] = { 0x8c, 0xc9, 0xcb };
	tenv_load(&t, 0xa000, far, sizeof(far));
	/* at 0x0800:0x0000: mov ax, 0x7000 ; mov ss, ax ; mov sp, 0x100 ;
	 * int 0x21 ; call 0a00:0000 ; hlt */
	static const uint8_t code[] = {
		0xb8, 0x00, 0x70, 0x8e, 0xd0, 0xbc, 0x00, 0x01,
		0xcd, 0x21,
		0x9a, 0x00, 0x00, 0x00, 0x0a,
		0xf4,
	};
	tenv_load(&t, 0x8000, code, sizeof(code));
	t.cpu->seg[X86_CS].selector = 0x0800;
	t.cpu->seg[X86_CS].base = 0x8000;
	t.cpu->rip = 0;
	t.cpu->idt.base = 0;
	t.cpu->idt.limit = 0x3ff;
	t.cpu->rflags = X86_RFLAGS_FIXED | FL_IF;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RBX] & 0xffff, 0x1234);
	CHECK_EQ(t.cpu->gpr[X86_RCX] & 0xffff, 0x0a00);
	CHECK_EQ(t.cpu->seg[X86_CS].selector, 0x0800);
	CHECK_EQ(t.cpu->rip, 0x10);
	CHECK_EQ(t.cpu->gpr[X86_RSP] & 0xffff, 0x100);
	CHECK(t.cpu->rflags & FL_IF); /* restored by IRET */
	/* What the stack saw: the INT's IP at 0xfa (its CS and FLAGS above
	 * were then overwritten by the far CALL's return address, CS:IP). */
	uint16_t frame[3];
	CHECK(gm_read(&t.mem, 0x70000 + 0xfa, frame, 6) == 0);
	CHECK_EQ(frame[0], 0x0a);   /* IP after INT 0x21 */
	CHECK_EQ(frame[1], 0x0f);   /* IP after CALL FAR */
	CHECK_EQ(frame[2], 0x0800); /* CS */
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* 32-bit protected mode code (GNU as, .code32, at 0x10000):
 *   00 mov 0x400010, %eax ; int $0x30 ; hlt       (kernel, CPL 0)
 *   20 mov $5, %ebx ; iret                         (INT 0x30 handler)
 *   40 mov 0x400010, %eax ; hlt                    (user, CPL 3)
 *   60 hlt                                         (#PF handler) */
static const uint8_t pm_code[] = {
	0xa1, 0x10, 0x00, 0x40, 0x00, 0xcd, 0x30, 0xf4, [0x20] = 0xbb, 0x05, 0x00, 0x00,
	0x00, 0xcf, [0x40] = 0xa1, 0x10, 0x00, 0x40, 0x00, 0xf4, [0x60] = 0xf4,
};

#define PM_IDT   0x4000ull /* 8-byte gates */
#define PM_PD    0x6000ull
#define PM_PT    0x7000ull
#define SEL_CODE32  0x38
#define SEL_DATA32  0x10
#define SEL_UCODE32 0x43 /* index 8, RPL 3 */
#define SEL_UDATA32 0x4b /* index 9, RPL 3 */
#define SEL_TSS32   0x50 /* index 10 */

static void pm_gate(struct tenv *t, unsigned v, uint32_t off, unsigned dpl)
{
	uint64_t g = (off & 0xffff) | ((uint64_t)SEL_CODE32 << 16) | (0xeull << 40) |
		     ((uint64_t)dpl << 45) | (1ull << 47) | ((uint64_t)(off >> 16) << 48);
	tenv_w64(t, PM_IDT + v * 8, g);
}

/* Flat 32-bit protected mode at CPL 0 (user = 0) or 3, 32-bit paging. */
static void pm_enter(struct tenv *t, int user, bool pae)
{
	struct x86_sregs s;
	memset(&s, 0, sizeof(s));
	tenv_w64(t, TEST_GDT + 7 * 8, 0x00cf9b000000ffffull);  /* code32 */
	tenv_w64(t, TEST_GDT + 8 * 8, 0x00cffb000000ffffull);  /* user code32 */
	tenv_w64(t, TEST_GDT + 9 * 8, 0x00cff3000000ffffull);  /* user data32 */
	tenv_w64(t, TEST_GDT + 10 * 8, 0x00008b0000000067ull | ((TEST_TSS & 0xffffff) << 16));
	tenv_seg(&s.seg[X86_CS], user ? SEL_UCODE32 : SEL_CODE32, 0xb, user ? 3 : 0, 0);
	tenv_seg(&s.seg[X86_SS], user ? SEL_UDATA32 : SEL_DATA32, 0x3, user ? 3 : 0, 0);
	s.seg[X86_DS] = s.seg[X86_ES] = s.seg[X86_FS] = s.seg[X86_GS] = s.seg[X86_SS];
	s.seg[X86_TR].selector = SEL_TSS32;
	s.seg[X86_TR].base = TEST_TSS;
	s.seg[X86_TR].limit = 0x67;
	s.seg[X86_TR].type = 0xb; /* 32-bit TSS, busy */
	s.seg[X86_TR].present = 1;
	s.seg[X86_LDTR].unusable = 1;
	s.gdt.base = TEST_GDT;
	s.gdt.limit = 11 * 8 - 1;
	s.idt.base = PM_IDT;
	s.idt.limit = 256 * 8 - 1;
	s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s.cr3 = PM_PD;
	s.cr4 = pae ? X86_CR4_PAE : CR4_PSE;
	soft_cpu_set_sregs(t->cpu, &s);
	t->cpu->rflags = X86_RFLAGS_FIXED;
}

TEST(soft_protected_mode_paging_and_interrupts)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	tenv_load(&t, TEST_CODE, pm_code, sizeof(pm_code));
	memset(&t.mem.region[0].host[PM_IDT], 0, 256 * 8);
	pm_gate(&t, 0x30, TEST_CODE + 0x20, 0);
	pm_gate(&t, EXC_PF, TEST_CODE + 0x60, 0);
	/* 32-bit paging: PDE 0 a 4M page (identity, user), PDE 1 -> PT, whose
	 * PTE 0 maps 0x400000 -> 0x50000 for the supervisor only. */
	uint32_t pde[2] = { 0x000000e7 /* P RW US A D PS */, (uint32_t)PM_PT | 0x7 };
	uint32_t pte = 0x50000 | 0x3;
	tenv_load(&t, PM_PD, pde, sizeof(pde));
	tenv_load(&t, PM_PT, &pte, sizeof(pte));
	tenv_w64(&t, 0x50010, 0xfeedbeef);
	uint32_t tss_esp0 = 0x7f000, tss_ss0 = SEL_DATA32;
	tenv_load(&t, TEST_TSS + 4, &tss_esp0, 4);
	tenv_load(&t, TEST_TSS + 8, &tss_ss0, 4);

	pm_enter(&t, 0, false);
	t.cpu->gpr[X86_RSP] = 0x70000;
	CHECK_EQ(tenv_exec(&t, pm_code, sizeof(pm_code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0xfeedbeef);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 5);          /* the handler ran and IRET came back */
	CHECK_EQ(t.cpu->rip, TEST_CODE + 8);
	CHECK_EQ(t.cpu->gpr[X86_RSP], 0x70000);
	uint32_t e;
	CHECK(gm_read(&t.mem, PM_PT, &e, 4) == 0);
	CHECK(e & PTE_A);
	CHECK(!(e & PTE_D));

	/* CPL 3 reads the supervisor page: #PF (P|U) to the ring-0 handler on
	 * the TSS stack, frame: error, EIP, CS, EFLAGS, ESP, SS. */
	pm_enter(&t, 1, false);
	t.cpu->gpr[X86_RSP] = 0x60000;
	t.cpu->rip = TEST_CODE + 0x40;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 0x61);
	CHECK_EQ(t.cpu->cpl, 0);
	CHECK_EQ(t.cpu->cr2, 0x400010);
	CHECK_EQ(t.cpu->gpr[X86_RSP], 0x7f000 - 24);
	uint32_t f[6];
	CHECK(gm_read(&t.mem, 0x7f000 - 24, f, sizeof(f)) == 0);
	CHECK_EQ(f[0], PFERR_P | PFERR_U);
	CHECK_EQ(f[1], TEST_CODE + 0x40);
	CHECK_EQ(f[2], SEL_UCODE32);
	CHECK_EQ(f[4], 0x60000);
	CHECK_EQ(f[5], SEL_UDATA32);
	CHECK_EQ(t.cpu->seg[X86_SS].selector, SEL_DATA32);

	/* PAE: PDPT at 0x8000 -> PD 0x9000; PDE 0 a 2M identity page, PDE 2
	 * maps 0x400000 -> 0x600000 (2M). */
	tenv_w64(&t, 0x8000, 0x9000 | 1);
	tenv_w64(&t, 0x9000, 0x0 | 0x87);
	tenv_w64(&t, 0x9000 + 2 * 8, 0x600000 | 0x83);
	tenv_w64(&t, 0x600010, 0xabcd1234);
	pm_enter(&t, 0, true);
	t.cpu->cr3 = 0x8000;
	t.cpu->gpr[X86_RSP] = 0x70000;
	t.cpu->gpr[X86_RBX] = 0;
	CHECK_EQ(tenv_exec(&t, pm_code, sizeof(pm_code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0xabcd1234);
	CHECK_EQ(t.cpu->gpr[X86_RBX], 5);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
