/* The soft CPU's RCP/RSQRT approximations (exec_sse_rcp.c), whose bits are
 * this CPU's own choice and so are not in the difftest's bit-exact
 * comparison: the SDM's error bound and special values, and agreement with
 * the host's RCPPS/RSQRTPS within both bounds. Plus instruction cases the
 * difftest cannot reach: MASKMOVDQU faults, the exact-tiny underflow under
 * an unmasked UM, PE after an unmasked overflow/underflow, and the SSE4.1
 * PEXTRW encoding. */
#include "accel/soft/sse.h"
#include "accel/soft/sse_host.h"
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static uint64_t rcp_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rcp_rnd(void)
{
	rcp_rng ^= rcp_rng << 13;
	rcp_rng ^= rcp_rng >> 7;
	rcp_rng ^= rcp_rng << 17;
	return (uint32_t)(rcp_rng >> 16);
}

/* |approx / exact - 1| <= 1.5 * 2^-12 (SDM Vol. 2B "RCPSS", "RSQRTSS"). */
static bool within_bound(float approx, double exact)
{
	double rel = (double)approx / exact - 1.0;
	return rel <= 1.5 / 4096 && rel >= -1.5 / 4096;
}

/* The host's SQRTSD (no libm in the unit-test link). */
static double host_sqrt(double d)
{
	double r;
	__asm__("sqrtsd %1, %0" : "=x"(r) : "x"(d));
	return r;
}

static void host_rcp_rsqrt(uint32_t x, uint32_t *rcp, uint32_t *rsqrt)
{
	typedef float v4sf __attribute__((vector_size(16)));
	v4sf v = { u2f(x), 0, 0, 0 }, r, s;
	__asm__("rcpps %2, %0\n\trsqrtps %2, %1" : "=&x"(r), "=&x"(s) : "x"(v));
	*rcp = f2u(r[0]);
	*rsqrt = f2u(s[0]);
}

TEST(soft_rcp_rsqrt_bound)
{
	int bad = 0;
	for (unsigned n = 0; n < 200000; n++) {
		uint32_t x = rcp_rnd() & 0x7fffffffu;
		unsigned e = x >> 23;
		if (e == 0 || e == 255)
			continue;
		double d = u2f(x);
		uint32_t r = soft_rcp_f32(x), s = soft_rsqrt_f32(x), hr, hs;
		host_rcp_rsqrt(x, &hr, &hs);
		/* RCP of inputs above 2^126 is tiny and flushed on both sides. */
		bool tiny = 1.0 / d < 0x1p-126;
		if (tiny ? r != 0 : !within_bound(u2f(r), 1.0 / d))
			bad++;
		if (!within_bound(u2f(s), 1.0 / host_sqrt(d)))
			bad++;
		/* The sign is the operand's. */
		if (soft_rcp_f32(x | 0x80000000u) != (r | 0x80000000u))
			bad++;
		/* The host's approximation is within the same bound of the exact
		 * value (so within twice of ours), except in the window near
		 * 2^126 where flushing is the implementation's choice. */
		if (!tiny && d < 0x1p125 && !within_bound(u2f(hr), 1.0 / d))
			bad++;
		if (!within_bound(u2f(hs), 1.0 / host_sqrt(d)))
			bad++;
		if (bad && bad < 5 && n < 3)
			fprintf(stderr, "  x=%#x rcp %#x host %#x rsqrt %#x host %#x\n", x, r, hr,
				s, hs);
	}
	CHECK_EQ(bad, 0);
}

TEST(soft_rcp_rsqrt_special_values)
{
	/* Zero and denormal: infinity of the operand's sign. */
	CHECK_EQ(soft_rcp_f32(0), 0x7f800000);
	CHECK_EQ(soft_rcp_f32(0x80000000u), 0xff800000u);
	CHECK_EQ(soft_rcp_f32(0x00000001), 0x7f800000);
	CHECK_EQ(soft_rcp_f32(0x807fffffu), 0xff800000u);
	CHECK_EQ(soft_rsqrt_f32(0), 0x7f800000);
	CHECK_EQ(soft_rsqrt_f32(0x80000000u), 0xff800000u);
	CHECK_EQ(soft_rsqrt_f32(0x80000001u), 0xff800000u);
	/* Infinities. */
	CHECK_EQ(soft_rcp_f32(0x7f800000), 0);
	CHECK_EQ(soft_rcp_f32(0xff800000u), 0x80000000u);
	CHECK_EQ(soft_rsqrt_f32(0x7f800000), 0);
	CHECK_EQ(soft_rsqrt_f32(0xff800000u), 0xffc00000u);
	/* Negative: the QNaN indefinite. */
	CHECK_EQ(soft_rsqrt_f32(f2u(-4.0f)), 0xffc00000u);
	/* NaNs: SNaN quieted, QNaN kept, payload and sign kept. */
	CHECK_EQ(soft_rcp_f32(0x7f800001), 0x7fc00001);
	CHECK_EQ(soft_rsqrt_f32(0xffa00000u), 0xffe00000u);
	CHECK_EQ(soft_rcp_f32(0x7fc12345), 0x7fc12345);
	/* Exact powers of two, and tiny results flushed with the sign. */
	CHECK_EQ(soft_rcp_f32(f2u(4.0f)), f2u(0.25f));
	CHECK_EQ(soft_rsqrt_f32(f2u(4.0f)), f2u(0.5f));
	CHECK_EQ(soft_rcp_f32(f2u(0x1p126f)), f2u(0x1p-126f));
	CHECK_EQ(soft_rcp_f32(f2u(0x1.8p126f)), 0);
	CHECK_EQ(soft_rcp_f32(f2u(-0x1p127f)), 0x80000000u);
	/* The largest finite input is not tiny for RSQRT. */
	CHECK(soft_rsqrt_f32(0x7f7fffff) > 0x1f000000);
}

/* RCPPS/RSQRTSS through the decoder: each lane, the scalar keeps the upper
 * lanes, MXCSR is untouched even with every exception unmasked. */
TEST(soft_rcp_rsqrt_instructions)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const float in[4] = { 3.0f, -0.0f, 1e-40f, 1e30f };
	static const uint8_t code[] = {
		0x0f, 0x53, 0xc1,       /* rcpps xmm0, xmm1 */
		0xf3, 0x0f, 0x52, 0xd1, /* rsqrtss xmm2, xmm1 */
		0xf4,
	};
	memcpy(t.cpu->xmm[1], in, 16);
	memset(t.cpu->xmm[2], 0x77, 16);
	t.cpu->mxcsr = 0; /* all unmasked, round to nearest */
	t.cpu->cr4 |= X86_CR4_OSXMMEXCPT;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	uint32_t r[4], s[4];
	memcpy(r, t.cpu->xmm[0], 16);
	memcpy(s, t.cpu->xmm[2], 16);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(r[i], soft_rcp_f32(f2u(in[i])));
	CHECK_EQ(r[1], 0xff800000u);
	CHECK_EQ(r[2], 0x7f800000u);
	CHECK_EQ(s[0], soft_rsqrt_f32(f2u(3.0f)));
	CHECK_EQ(s[1], 0x77777777u);
	CHECK_EQ(s[3], 0x77777777u);
	CHECK_EQ(t.cpu->mxcsr, 0);
	tenv_destroy(&t);
}

/* MASKMOVDQU writes exactly the selected bytes; a zero mask touches no
 * memory (not even a bad address); a bad address with a non-zero mask
 * faults before any byte is written. */
TEST(soft_maskmovdqu)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t buf = 0x34000;
	static const uint8_t code[] = { 0x66, 0x0f, 0xf7, 0xc1, 0xf4 }; /* maskmovdqu xmm0, xmm1 */
	uint8_t data[16], mask[16], mem[16];
	for (int i = 0; i < 16; i++) {
		data[i] = (uint8_t)(0xa0 + i);
		mask[i] = (i % 3 == 0) ? 0x80 : 0x7f;
	}
	memset(mem, 0x11, 16);
	tenv_load(&t, buf, mem, 16);
	memcpy(t.cpu->xmm[0], data, 16);
	memcpy(t.cpu->xmm[1], mask, 16);
	t.cpu->gpr[X86_RDI] = buf;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK(gm_read(&t.mem, buf, mem, 16) == 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(mem[i], i % 3 == 0 ? 0xa0 + i : 0x11);

	/* Zero mask, non-canonical address: nothing happens. */
	memset(t.cpu->xmm[1], 0, 16);
	t.cpu->gpr[X86_RDI] = 0x8000000000000000ull;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);

	/* Non-zero mask, non-canonical address: #GP (no IDT: shutdown). */
	t.cpu->xmm[1][15] = 0x80;
	t.cpu->gpr[X86_RDI] = 0x7ffffffffff8ull; /* bytes 8-15 are non-canonical */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	tenv_destroy(&t);
}

/* ADDPS with an exact denormal result: masked, no underflow flag; with UM
 * clear, UE and #XM without writing the destination (SDM Vol. 1 §4.9.1.5),
 * also with FTZ set (flush-to-zero applies only to masked underflow). */
TEST(soft_sse_exact_tiny_underflow)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t code[] = { 0x0f, 0x58, 0xc1, 0xf4 }; /* addps xmm0, xmm1 */
	const uint32_t a[4] = { 0x00800001, 0x3f800000, 0, 0 }; /* min normal + 1 ulp, 1.0 */
	const uint32_t b[4] = { 0x80800000u, 0x3f800000, 0, 0 }; /* -min normal, 1.0 */
	memcpy(t.cpu->xmm[0], a, 16);
	memcpy(t.cpu->xmm[1], b, 16);
	t.cpu->mxcsr = 0x1f80;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	uint32_t r[4];
	memcpy(r, t.cpu->xmm[0], 16);
	CHECK_EQ(r[0], 1); /* the smallest denormal, exact */
	CHECK_EQ(r[1], 0x40000000);
	CHECK_EQ(t.cpu->mxcsr, 0x1f80);

	t.cpu->cr4 |= X86_CR4_OSXMMEXCPT;
	for (int ftz = 0; ftz < 2; ftz++) {
		memcpy(t.cpu->xmm[0], a, 16);
		t.cpu->mxcsr = (0x1f80 & ~(1u << 11)) | (ftz ? 0x8000u : 0);
		CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
		CHECK(memcmp(t.cpu->xmm[0], a, 16) == 0);
		CHECK_EQ(t.cpu->mxcsr & 0x3f, 0x10);
		CHECK_EQ(t.cpu->rip, TEST_CODE);
	}
	tenv_destroy(&t);
}

static uint64_t d2u(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

/* Exactness of the result rounded with an unbounded exponent, from the
 * significands alone (sse_unbounded.c). */
TEST(soft_sse_inexact_unbounded)
{
	const bool S = false, D = true;
	CHECK(!soft_sse_inexact_unbounded(SSE_MUL, S, f2u(1.5f), f2u(1.5f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_MUL, S, f2u(1 + 0x1p-23f), f2u(1 + 0x1p-23f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_MUL, S, f2u(0x1p127f), f2u(4.0f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_MUL, D, d2u(1 + 0x1p-52), d2u(1 + 0x1p-52), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_MUL, D, d2u(0x1p-1000), d2u(0x1p-60), false));
	/* A denormal operand: its significand has no implicit bit. */
	CHECK(!soft_sse_inexact_unbounded(SSE_MUL, S, 0x00000003, f2u(0x1p-3f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_DIV, S, f2u(1.0f), f2u(3.0f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_DIV, S, f2u(3.0f), f2u(1.5f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_DIV, D, d2u(0x1p1000), d2u(0x1p-100), false));
	CHECK(soft_sse_inexact_unbounded(SSE_DIV, D, d2u(0x1p1000), d2u(0x1.8p-100), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_ADD, S, f2u(1.0f), f2u(0x1p-23f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_ADD, S, f2u(1.0f), f2u(0x1p-24f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_ADD, D, d2u(0x1p1023), d2u(0x1p-1074), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_ADD, D, d2u(0x1.fp1023), d2u(0x1.fp1023), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_SUB, S, f2u(5.0f), f2u(5.0f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_SUB, S, f2u(1.0f), f2u(-0x1p-23f), false));
	CHECK(soft_sse_inexact_unbounded(SSE_SUB, S, f2u(1.0f), f2u(0x1p-25f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_CVT_D2S, S, d2u(1 + 0x1p-23), 0, false));
	CHECK(soft_sse_inexact_unbounded(SSE_CVT_D2S, S, d2u(1 + 0x1p-24), 0, false));
	CHECK(!soft_sse_inexact_unbounded(SSE_CVT_D2S, S, d2u(0x1p-200), 0, false));
	/* DAZ: a denormal operand is zero, the product exact. */
	CHECK(soft_sse_inexact_unbounded(SSE_MUL, S, 0x00000007, f2u(1 + 0x1p-22f), false));
	CHECK(!soft_sse_inexact_unbounded(SSE_MUL, S, 0x00000007, f2u(1 + 0x1p-22f), true));
}

/* MULSS overflowing with OM clear: #XM, OE, and PE only if the product
 * needs more than 24 significant bits. */
TEST(soft_sse_unmasked_overflow_pe)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	t.cpu->cr4 |= X86_CR4_OSXMMEXCPT;
	static const uint8_t code[] = { 0xf3, 0x0f, 0x59, 0xc1, 0xf4 }; /* mulss xmm0, xmm1 */
	const float x[2] = { 0x1p127f, 0x1.000002p127f }, y[2] = { 4.0f, 0x1.000002p1f };
	for (int i = 0; i < 2; i++) {
		memset(t.cpu->xmm[0], 0, 16);
		memset(t.cpu->xmm[1], 0, 16);
		memcpy(t.cpu->xmm[0], &x[i], 4);
		memcpy(t.cpu->xmm[1], &y[i], 4);
		t.cpu->mxcsr = 0x1f80 & ~(1u << 10);
		CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
		CHECK_EQ(t.cpu->mxcsr & 0x3f, i ? 0x28 : 0x08);
		CHECK(memcmp(t.cpu->xmm[0], &x[i], 4) == 0);
	}
	tenv_destroy(&t);
}

/* PEXTRW's SSE4.1 encoding (66 0F 3A 15, memory or register destination)
 * is #UD: this CPU does not report SSE4.1; the SSE2 one (66 0F C5) works. */
TEST(soft_pextrw_encodings)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint16_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 0x8008 };
	memcpy(t.cpu->xmm[1], w, 16);
	t.cpu->gpr[X86_RAX] = ~0ull;
	static const uint8_t sse2[] = { 0x66, 0x0f, 0xc5, 0xc1, 0x0f, 0xf4 }; /* pextrw eax, xmm1, 15 */
	CHECK_EQ(tenv_exec(&t, sse2, sizeof(sse2)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x8008);
	static const uint8_t sse41[] = { 0x66, 0x0f, 0x3a, 0x15, 0xc8, 0x01, 0xf4 };
	CHECK_EQ(tenv_exec(&t, sse41, sizeof(sse41)), VCPU_EXIT_SHUTDOWN);
	tenv_destroy(&t);
}

/* MMX registers alias the x87 physical registers' significands: a write
 * sets bits 64-79 to ones, every MMX instruction sets TOP to 0 and all tags
 * valid, EMMS empties the tags (and sets TOP to 0); CR0.EM is #UD, CR0.TS
 * #NM, a pending unmasked x87 exception #MF, each before any change
 * (SDM Vol. 3A §12.2, Vol. 1 §9.5.1). */
TEST(soft_mmx_x87_aliasing)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* TOP = 3, so mm1 is R1 = ST(6) and mm0 is R0 = ST(5). */
	t.cpu->fsw = 3u << 11;
	t.cpu->fcw = 0x37f;
	t.cpu->ftw = 0x01;
	for (int i = 0; i < 8; i++)
		memset(t.cpu->st[i], 0x10 * i, 10);
	static const uint8_t code[] = {
		0x0f, 0xfc, 0xc1, /* paddb mm0, mm1 */
		0xf4,
	};
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ((t.cpu->fsw >> 11) & 7, 0);
	CHECK_EQ(t.cpu->ftw, 0xff);
	/* Now ST(i) = R_i: R0 = 0x50.. + 0x60.. bytewise, exponent ones. */
	CHECK_EQ(t.cpu->st[0][0], 0xb0);
	CHECK_EQ(t.cpu->st[0][7], 0xb0);
	CHECK_EQ(t.cpu->st[0][8], 0xff);
	CHECK_EQ(t.cpu->st[0][9], 0xff);
	CHECK_EQ(t.cpu->st[1][0], 0x60); /* mm1 read, not written */
	CHECK_EQ(t.cpu->st[1][9], 0x60);

	static const uint8_t emms[] = { 0x0f, 0x77, 0xf4 };
	t.cpu->fsw = 5u << 11;
	CHECK_EQ(tenv_exec(&t, emms, sizeof(emms)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->ftw, 0);
	CHECK_EQ((t.cpu->fsw >> 11) & 7, 0);

	/* Faults leave TOP and the tags alone (no IDT: shutdown). */
	t.cpu->fsw = 2u << 11;
	t.cpu->ftw = 0x0f;
	t.cpu->cr0 |= CR0_EM;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	t.cpu->cr0 &= ~CR0_EM;
	t.cpu->cr0 |= CR0_TS;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	t.cpu->cr0 &= ~CR0_TS;
	t.cpu->fcw = 0x37e;  /* IM clear */
	t.cpu->fsw |= 0x81; /* IE and ES pending */
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ((t.cpu->fsw >> 11) & 7, 2);
	CHECK_EQ(t.cpu->ftw, 0x0f);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	/* MMX instructions do not need CR4.OSFXSR; CVTPI2PS does. */
	t.cpu->fcw = 0x37f;
	t.cpu->fsw = 0;
	t.cpu->cr4 &= ~X86_CR4_OSFXSR;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	static const uint8_t cvt[] = { 0x0f, 0x2a, 0xc1, 0xf4 }; /* cvtpi2ps xmm0, mm1 */
	CHECK_EQ(tenv_exec(&t, cvt, sizeof(cvt)), VCPU_EXIT_SHUTDOWN);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
