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
