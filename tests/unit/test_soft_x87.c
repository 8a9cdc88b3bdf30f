/* The soft CPU's x87 where the differential test (tests/difftest, group x87)
 * cannot look: the last-instruction pointers as Intel CPUs store them (AMD
 * hosts hide them), #MF taken at the next waiting instruction, #NM, the
 * reserved aliases, and hostile states that must never make the host's own
 * FPU trap. */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

static uint64_t rd(struct tenv *t, uint64_t gpa, unsigned len)
{
	uint64_t v = 0;
	CHECK(gm_read(&t->mem, gpa, &v, len) == 0);
	return v;
}

/* Exception vector v lands on a HLT at TEST_HANDLER + 16 * v; RSP is set so
 * that the frame's RIP is at TEST_STACK - 40. */
static void x87_gates(struct tenv *t)
{
	static const uint8_t hlt = 0xf4;
	for (unsigned v = 0; v < 32; v++) {
		tenv_load(t, TEST_HANDLER + v * 16, &hlt, 1);
		tenv_gate(t, v, TEST_HANDLER + v * 16, 0, 0);
	}
	t->cpu->gpr[X86_RSP] = TEST_STACK;
}

/* The vector the run stopped in, or -1 if it ended at the code's own HLT. */
static int x87_vector(struct tenv *t)
{
	uint64_t h = t->cpu->rip - 1 - TEST_HANDLER;
	if (t->cpu->rip - 1 < TEST_HANDLER || h >= 32 * 16)
		return -1;
	return (int)(h / 16);
}

/* FOP/FIP/FDP (SDM Vol. 1 §8.1.8-8.1.9) in FXSAVE64, FXSAVE and FNSTENV:
 * the last non-control instruction (FADD, not FNSTCW), the last memory
 * operand (FLD's). */
TEST(soft_x87_pointers)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t buf = 0x33000;
	static const uint8_t code[] = {
		0xdd, 0x03,                               /* fld qword [rbx] */
		0xd8, 0xc0,                               /* fadd st0, st0 */
		0xd9, 0x7b, 0x08,                         /* fnstcw [rbx+8] */
		0x48, 0x0f, 0xae, 0x43, 0x40,             /* fxsave64 [rbx+0x40] */
		0x0f, 0xae, 0x83, 0x40, 0x02, 0x00, 0x00, /* fxsave [rbx+0x240] */
		0xd9, 0xb3, 0x00, 0x04, 0x00, 0x00,       /* fnstenv [rbx+0x400] */
		0xf4,
	};
	double d = 1.5;
	CHECK(gm_write(&t.mem, buf, &d, 8) == 0);
	t.cpu->gpr[X86_RBX] = buf;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	uint64_t b = buf + 0x40;
	CHECK_EQ(rd(&t, b + 6, 2), 0x0c0); /* D8 C0 */
	CHECK_EQ(rd(&t, b + 8, 8), TEST_CODE + 2);
	CHECK_EQ(rd(&t, b + 16, 8), buf);
	CHECK_EQ(rd(&t, b + 4, 1), 0x80); /* TOP 7, R7 in use */
	long double st0;
	CHECK(gm_read(&t.mem, b + 32, &st0, 10) == 0);
	CHECK(st0 == 3.0L);
	b = buf + 0x240;
	CHECK_EQ(rd(&t, b + 8, 4), TEST_CODE + 2);
	CHECK_EQ(rd(&t, b + 12, 2), SEL_CODE64);
	CHECK_EQ(rd(&t, b + 16, 4), buf);
	CHECK_EQ(rd(&t, b + 20, 2), t.cpu->seg[X86_DS].selector);
	b = buf + 0x400;
	CHECK_EQ(rd(&t, b + 0, 4), 0xffff037f);
	CHECK_EQ(rd(&t, b + 4, 4), 0xffff3800); /* TOP 7 */
	CHECK_EQ(rd(&t, b + 8, 4), 0xffff3fff); /* R7 valid, the others empty */
	CHECK_EQ(rd(&t, b + 12, 4), TEST_CODE + 2);
	CHECK_EQ(rd(&t, b + 16, 4), SEL_CODE64 | 0x0c0u << 16);
	CHECK_EQ(rd(&t, b + 20, 4), buf);
	CHECK_EQ(rd(&t, b + 24, 4), 0xffff0000u | t.cpu->seg[X86_DS].selector);
	/* FNINIT clears them. */
	static const uint8_t init[] = { 0xdb, 0xe3, 0x48, 0x0f, 0xae, 0x43, 0x40, 0xf4 };
	CHECK_EQ(tenv_exec(&t, init, sizeof(init)), VCPU_EXIT_HALT);
	CHECK_EQ(rd(&t, buf + 0x40 + 6, 2), 0);
	CHECK_EQ(rd(&t, buf + 0x40 + 8, 8), 0);
	CHECK_EQ(rd(&t, buf + 0x40 + 16, 8), 0);
	tenv_destroy(&t);
}

/* Real mode: FNSTENV's real-mode layouts (SDM Vol. 1 Figures 8-10, 8-12)
 * hold 20-bit linear pointers split around FOP; FLDENV reads them back. */
TEST(soft_x87_real_mode_env)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	soft_cpu_reset(t.cpu);
	/* at 1800:0000 (linear 0x18000), DS = 0x2000:
	 *   mov ax, 0x2000 ; mov ds, ax
	 *   fld qword [0x100] ; fadd st0, st0
	 *   fnstenv [0x200] (14 bytes) ; o32 fnstenv [0x300] (28 bytes)
	 *   fninit ; fldenv [0x200] ; fnstenv [0x400] ; hlt */
	static const uint8_t code[] = {
		0xb8, 0x00, 0x20, 0x8e, 0xd8,
		0xdd, 0x06, 0x00, 0x01, 0xd8, 0xc0,
		0xd9, 0x36, 0x00, 0x02, 0x66, 0xd9, 0x36, 0x00, 0x03,
		0xdb, 0xe3, 0xd9, 0x26, 0x00, 0x02, 0xd9, 0x36, 0x00, 0x04, 0xf4,
	};
	tenv_load(&t, 0x18000, code, sizeof(code));
	double d = 2.0;
	CHECK(gm_write(&t.mem, 0x20100, &d, 8) == 0);
	t.cpu->seg[X86_CS].selector = 0x1800;
	t.cpu->seg[X86_CS].base = 0x18000;
	t.cpu->rip = 0;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	const uint64_t e16 = 0x20200, e32 = 0x20300;
	CHECK_EQ(rd(&t, e16 + 0, 2), 0x37f);
	CHECK_EQ(rd(&t, e16 + 2, 2), 0x3800);
	CHECK_EQ(rd(&t, e16 + 4, 2), 0x3fff);
	CHECK_EQ(rd(&t, e16 + 6, 2), 0x8009);        /* FIP[15:0] of fadd, 0x18009 */
	CHECK_EQ(rd(&t, e16 + 8, 2), 0x1000 | 0x0c0); /* FIP[19:16], FOP */
	CHECK_EQ(rd(&t, e16 + 10, 2), 0x0100);       /* FDP[15:0], 0x20100 */
	CHECK_EQ(rd(&t, e16 + 12, 2), 0x2000);       /* FDP[19:16] << 12 */
	CHECK_EQ(rd(&t, e32 + 12, 4), 0xffff8009);
	CHECK_EQ(rd(&t, e32 + 16, 4), 0x1000 | 0x0c0);
	CHECK_EQ(rd(&t, e32 + 20, 4), 0xffff0100);
	CHECK_EQ(rd(&t, e32 + 24, 4), 0x2000);
	/* FLDENV then FNSTENV gives the same 14 bytes back. */
	uint8_t a[14], b[14];
	CHECK(gm_read(&t.mem, e16, a, 14) == 0);
	CHECK(gm_read(&t.mem, 0x20400, b, 14) == 0);
	CHECK(memcmp(a, b, 14) == 0);
	tenv_destroy(&t);
}

/* An unmasked exception is pending until the next waiting instruction:
 * FNSTSW still runs, FWAIT takes #MF (SDM Vol. 1 §8.6). */
TEST(soft_x87_pending_mf)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	x87_gates(&t);
	const uint64_t buf = 0x33000;
	static const uint8_t code[] = {
		0xd9, 0x2b, /* fldcw [rbx]: 0x37b, ZE unmasked */
		0xd9, 0xe8, /* fld1 */
		0xd9, 0xee, /* fldz */
		0xde, 0xf9, /* fdivp: 1 / 0 */
		0xdf, 0xe0, /* fnstsw ax */
		0x9b,       /* fwait: #MF */
		0xf4,
	};
	uint16_t cw = 0x37b;
	CHECK(gm_write(&t.mem, buf, &cw, 2) == 0);
	t.cpu->gpr[X86_RBX] = buf;
	tenv_exec(&t, code, sizeof(code));
	CHECK_EQ(x87_vector(&t), EXC_MF);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 10);
	CHECK_EQ(t.cpu->gpr[X86_RAX] & 0x84, 0x84); /* ES, ZE */
	/* Any waiting x87 instruction takes it too, before doing anything. */
	static const uint8_t add[] = { 0xd8, 0xc0, 0xf4 };
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	tenv_exec(&t, add, sizeof(add));
	CHECK_EQ(x87_vector(&t), EXC_MF);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE);
	/* FNCLEX ends it. */
	static const uint8_t clex[] = { 0xdb, 0xe2, 0x9b, 0xd8, 0xc0, 0xf4 };
	tenv_exec(&t, clex, sizeof(clex));
	CHECK_EQ(x87_vector(&t), -1);
	tenv_destroy(&t);
}

/* #NM with CR0.TS or CR0.EM; the reserved aliases (FFREEP, FSTP1, FXCH4)
 * and reserved memory forms are #UD. */
TEST(soft_x87_nm_and_ud)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	x87_gates(&t);
	static const uint8_t add[] = { 0xd8, 0xc0, 0xf4 };
	t.cpu->cr0 |= CR0_TS;
	tenv_exec(&t, add, sizeof(add));
	CHECK_EQ(x87_vector(&t), EXC_NM);
	t.cpu->cr0 &= ~CR0_TS;
	t.cpu->cr0 |= CR0_EM;
	tenv_exec(&t, add, sizeof(add));
	CHECK_EQ(x87_vector(&t), EXC_NM);
	t.cpu->cr0 &= ~CR0_EM;
	static const uint8_t ud[][3] = {
		{ 0xdf, 0xc0, 0xf4 }, /* FFREEP */
		{ 0xd9, 0xd8, 0xf4 }, /* FSTP1 */
		{ 0xdd, 0xc8, 0xf4 }, /* FXCH4 */
		{ 0xd9, 0x0b, 0xf4 }, /* D9 /1 m */
		{ 0xdb, 0x23, 0xf4 }, /* DB /4 m */
	};
	for (unsigned i = 0; i < sizeof(ud) / sizeof(ud[0]); i++) {
		t.cpu->gpr[X86_RBX] = 0x33000;
		tenv_exec(&t, ud[i], 3);
		CHECK_EQ(x87_vector(&t), EXC_UD);
	}
	tenv_destroy(&t);
}

/* States a guest can load that would make the host's FPU trap if they
 * reached it unchecked: ES set with everything masked (no exception is
 * pending: the instruction runs), every flag set and unmasked (#MF in the
 * guest, never in isola). */
TEST(soft_x87_hostile_state)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	x87_gates(&t);
	const uint64_t buf = 0x33000;
	uint8_t img[512];
	memset(img, 0xff, sizeof(img));
	memset(img + 24, 0, 8); /* a valid MXCSR: 0 */
	CHECK(gm_write(&t.mem, buf, img, sizeof(img)) == 0);
	static const uint8_t code[] = {
		0x0f, 0xae, 0x0b, /* fxrstor [rbx] */
		0xd8, 0xc1,       /* fadd st0, st1 */
		0xd9, 0xfe,       /* fsin */
		0xdf, 0xe0,       /* fnstsw ax */
		0xf4,
	};
	t.cpu->gpr[X86_RBX] = buf;
	tenv_exec(&t, code, sizeof(code));
	CHECK_EQ(x87_vector(&t), -1);
	CHECK_EQ(t.cpu->fcw, 0x1f7f);
	CHECK_EQ(t.cpu->gpr[X86_RAX] & 0x8080, 0); /* ES, B: nothing pending */
	/* FCW 0 unmasks everything; FSW 0x3f has every flag: #MF. */
	img[0] = img[1] = 0;
	img[2] = 0x3f;
	img[3] = 0;
	CHECK(gm_write(&t.mem, buf, img, sizeof(img)) == 0);
	t.cpu->gpr[X86_RSP] = TEST_STACK;
	tenv_exec(&t, code, sizeof(code));
	CHECK_EQ(x87_vector(&t), EXC_MF);
	CHECK_EQ(tenv_r64(&t, TEST_STACK - 40), TEST_CODE + 3);
	CHECK_EQ(t.cpu->fsw & 0x80ff, 0x80bf);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
