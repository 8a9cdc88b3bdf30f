/* Soft CPU SSE against the host CPU: each case runs "op xmm0, xmm1" on the
 * soft vCPU and natively, on the same inputs, and compares xmm0 (and, for
 * the scalar FP cases, MXCSR flags and RFLAGS). Plus the x87 control
 * instructions and FXSAVE/FXRSTOR. */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

typedef long long v2di __attribute__((vector_size(16)));
typedef void (*sse_host_fn)(v2di *a, v2di b, uint32_t *mxcsr, uint64_t *flags);

/* The host runs the instruction with MXCSR = *mxcsr and reports it after. */
#define SSE_HOST(name, insn)                                                   \
	static void name(v2di *a, v2di b, uint32_t *mx, uint64_t *flags)       \
	{                                                                      \
		uint32_t save;                                                 \
		uint64_t f;                                                    \
		__asm__ volatile("stmxcsr %[sv]\n\tldmxcsr %[m]\n\t" insn " %[b], %[a]\n\t" \
				 "lea -128(%%rsp), %%rsp\n\tpushfq\n\tpop %[f]\n\t" \
				 "lea 128(%%rsp), %%rsp\n\tstmxcsr %[m]\n\tldmxcsr %[sv]" \
				 : [a] "+x"(*a), [m] "+m"(*mx), [sv] "=m"(save), [f] "=&r"(f) \
				 : [b] "x"(b)                                  \
				 : "cc");                                      \
		*flags = f;                                                    \
	}

SSE_HOST(s_pxor, "pxor")
SSE_HOST(s_pand, "pand")
SSE_HOST(s_pandn, "pandn")
SSE_HOST(s_por, "por")
SSE_HOST(s_pcmpeqb, "pcmpeqb")
SSE_HOST(s_pcmpeqd, "pcmpeqd")
SSE_HOST(s_paddb, "paddb")
SSE_HOST(s_paddd, "paddd")
SSE_HOST(s_psubq, "psubq")
SSE_HOST(s_pcmpgtb, "pcmpgtb")
SSE_HOST(s_pminub, "pminub")
SSE_HOST(s_pmaxub, "pmaxub")
SSE_HOST(s_punpcklbw, "punpcklbw")
SSE_HOST(s_punpckhdq, "punpckhdq")
SSE_HOST(s_punpcklqdq, "punpcklqdq")
SSE_HOST(s_psrlq, "psrlq")
SSE_HOST(s_addsd, "addsd")
SSE_HOST(s_subsd, "subsd")
SSE_HOST(s_mulsd, "mulsd")
SSE_HOST(s_divsd, "divsd")
SSE_HOST(s_sqrtsd, "sqrtsd")
SSE_HOST(s_addss, "addss")
SSE_HOST(s_ucomisd, "ucomisd")
SSE_HOST(s_comisd, "comisd")
SSE_HOST(s_cvtsd2ss, "cvtsd2ss")
SSE_HOST(s_movsd, "movsd")
SSE_HOST(s_movq, "movq")

struct sse_case {
	const char *name;
	uint8_t code[6];
	unsigned len;
	sse_host_fn host;
	bool fp;       /* compare MXCSR */
	bool rflags;   /* compare the arithmetic flags */
};

static const struct sse_case sse_cases[] = {
	{ "pxor", { 0x66, 0x0f, 0xef, 0xc1 }, 4, s_pxor, 0, 0 },
	{ "pand", { 0x66, 0x0f, 0xdb, 0xc1 }, 4, s_pand, 0, 0 },
	{ "pandn", { 0x66, 0x0f, 0xdf, 0xc1 }, 4, s_pandn, 0, 0 },
	{ "por", { 0x66, 0x0f, 0xeb, 0xc1 }, 4, s_por, 0, 0 },
	{ "pcmpeqb", { 0x66, 0x0f, 0x74, 0xc1 }, 4, s_pcmpeqb, 0, 0 },
	{ "pcmpeqd", { 0x66, 0x0f, 0x76, 0xc1 }, 4, s_pcmpeqd, 0, 0 },
	{ "paddb", { 0x66, 0x0f, 0xfc, 0xc1 }, 4, s_paddb, 0, 0 },
	{ "paddd", { 0x66, 0x0f, 0xfe, 0xc1 }, 4, s_paddd, 0, 0 },
	{ "psubq", { 0x66, 0x0f, 0xfb, 0xc1 }, 4, s_psubq, 0, 0 },
	{ "pcmpgtb", { 0x66, 0x0f, 0x64, 0xc1 }, 4, s_pcmpgtb, 0, 0 },
	{ "pminub", { 0x66, 0x0f, 0xda, 0xc1 }, 4, s_pminub, 0, 0 },
	{ "pmaxub", { 0x66, 0x0f, 0xde, 0xc1 }, 4, s_pmaxub, 0, 0 },
	{ "punpcklbw", { 0x66, 0x0f, 0x60, 0xc1 }, 4, s_punpcklbw, 0, 0 },
	{ "punpckhdq", { 0x66, 0x0f, 0x6a, 0xc1 }, 4, s_punpckhdq, 0, 0 },
	{ "punpcklqdq", { 0x66, 0x0f, 0x6c, 0xc1 }, 4, s_punpcklqdq, 0, 0 },
	{ "psrlq xmm", { 0x66, 0x0f, 0xd3, 0xc1 }, 4, s_psrlq, 0, 0 },
	{ "addsd", { 0xf2, 0x0f, 0x58, 0xc1 }, 4, s_addsd, 1, 0 },
	{ "subsd", { 0xf2, 0x0f, 0x5c, 0xc1 }, 4, s_subsd, 1, 0 },
	{ "mulsd", { 0xf2, 0x0f, 0x59, 0xc1 }, 4, s_mulsd, 1, 0 },
	{ "divsd", { 0xf2, 0x0f, 0x5e, 0xc1 }, 4, s_divsd, 1, 0 },
	{ "sqrtsd", { 0xf2, 0x0f, 0x51, 0xc1 }, 4, s_sqrtsd, 1, 0 },
	{ "addss", { 0xf3, 0x0f, 0x58, 0xc1 }, 4, s_addss, 1, 0 },
	{ "ucomisd", { 0x66, 0x0f, 0x2e, 0xc1 }, 4, s_ucomisd, 1, 1 },
	{ "comisd", { 0x66, 0x0f, 0x2f, 0xc1 }, 4, s_comisd, 1, 1 },
	{ "cvtsd2ss", { 0xf2, 0x0f, 0x5a, 0xc1 }, 4, s_cvtsd2ss, 1, 0 },
	{ "movsd xmm", { 0xf2, 0x0f, 0x10, 0xc1 }, 4, s_movsd, 0, 0 },
	{ "movq xmm", { 0xf3, 0x0f, 0x7e, 0xc1 }, 4, s_movq, 0, 0 },
};

static uint64_t sse_rng = 0x2545f4914f6cdd1dull;
static uint64_t sse_rnd(void)
{
	sse_rng ^= sse_rng << 13;
	sse_rng ^= sse_rng >> 7;
	sse_rng ^= sse_rng << 17;
	return sse_rng;
}

static uint64_t dbl_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

TEST(soft_sse_matches_host)
{
	struct tenv t;
	int bad = 0;
	CHECK(tenv_init(&t) == 0);
	const uint64_t special[] = {
		0, dbl_bits(1.0), dbl_bits(-2.5), dbl_bits(1e308), dbl_bits(1e-310),
		0x7ff8000000000000ull /* qNaN */, 0x7ff0000000000001ull /* sNaN */,
		0x7ff0000000000000ull /* inf */, dbl_bits(3.0), dbl_bits(0.1),
	};
	const unsigned ns = sizeof(special) / sizeof(special[0]);
	for (unsigned c = 0; c < sizeof(sse_cases) / sizeof(sse_cases[0]); c++) {
		const struct sse_case *k = &sse_cases[c];
		for (unsigned n = 0; n < 200; n++) {
			v2di a, b;
			if (n < ns * ns) {
				a = (v2di){ (long long)special[n % ns], (long long)sse_rnd() };
				b = (v2di){ (long long)special[n / ns], (long long)sse_rnd() };
			} else {
				a = (v2di){ (long long)sse_rnd(), (long long)sse_rnd() };
				b = (v2di){ (long long)sse_rnd(), (long long)sse_rnd() };
			}
			uint32_t hmx = 0x1f80 | ((n & 3) << 13); /* every rounding mode */
			uint64_t hf;
			v2di ha = a;
			uint32_t smx0 = hmx;
			k->host(&ha, b, &hmx, &hf);

			uint8_t code[8];
			memcpy(code, k->code, k->len);
			code[k->len] = 0xf4;
			memcpy(t.cpu->xmm[0], &a, 16);
			memcpy(t.cpu->xmm[1], &b, 16);
			t.cpu->mxcsr = smx0;
			t.cpu->rflags = X86_RFLAGS_FIXED;
			if (tenv_exec(&t, code, k->len + 1) != VCPU_EXIT_HALT) {
				bad++;
				continue;
			}
			bool ok = memcmp(t.cpu->xmm[0], &ha, 16) == 0;
			if (k->fp && t.cpu->mxcsr != hmx)
				ok = false;
			if (k->rflags && ((t.cpu->rflags ^ hf) & FL_ARITH))
				ok = false;
			if (!ok && bad++ < 10) {
				uint64_t s[2];
				memcpy(s, t.cpu->xmm[0], 16);
				fprintf(stderr, "  %s a=%llx b=%llx: soft %llx:%llx mxcsr %x "
					"fl %llx, host %llx:%llx mxcsr %x fl %llx\n", k->name,
					(unsigned long long)a[0], (unsigned long long)b[0],
					(unsigned long long)s[1], (unsigned long long)s[0],
					t.cpu->mxcsr, (unsigned long long)t.cpu->rflags,
					(unsigned long long)ha[1], (unsigned long long)ha[0], hmx,
					(unsigned long long)hf);
			}
		}
	}
	CHECK_EQ(bad, 0);
	tenv_destroy(&t);
}

/* PSHUFD, PSLLDQ/PSRLDQ, PMOVMSKB, CVTTSD2SI, CVTSI2SD with fixed data. */
TEST(soft_sse_shuffles_and_conversions)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint32_t v[4] = { 0x11111111, 0x22222222, 0x33333333, 0x84444444 };
	memcpy(t.cpu->xmm[1], v, 16);
	/* pshufd xmm0, xmm1, 0x1b (reverse) ; pmovmskb eax, xmm0 ;
	 * movdqa xmm2, xmm1 ; pslldq xmm2, 4 ; hlt */
	static const uint8_t code[] = {
		0x66, 0x0f, 0x70, 0xc1, 0x1b, 0x66, 0x0f, 0xd7, 0xc0,
		0x66, 0x0f, 0x6f, 0xd1, 0x66, 0x0f, 0x73, 0xfa, 0x04, 0xf4,
	};
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	uint32_t r[4];
	memcpy(r, t.cpu->xmm[0], 16);
	CHECK_EQ(r[0], 0x84444444);
	CHECK_EQ(r[3], 0x11111111);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x8); /* only byte 3 has its top bit set */
	memcpy(r, t.cpu->xmm[2], 16);
	CHECK_EQ(r[0], 0);
	CHECK_EQ(r[1], 0x11111111);
	CHECK_EQ(r[3], 0x33333333);

	/* cvttsd2si eax, xmm1 on NaN -> 0x80000000 and IE; cvtsi2sd xmm3, rbx */
	uint64_t nan = 0x7ff8000000000000ull;
	memcpy(t.cpu->xmm[1], &nan, 8);
	t.cpu->mxcsr = 0x1f80;
	t.cpu->gpr[X86_RBX] = (uint64_t)-3;
	static const uint8_t cvt[] = { 0xf2, 0x0f, 0x2c, 0xc1, 0xf2, 0x48, 0x0f, 0x2a, 0xdb, 0xf4 };
	CHECK_EQ(tenv_exec(&t, cvt, sizeof(cvt)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x80000000);
	CHECK(t.cpu->mxcsr & 1);
	double d;
	memcpy(&d, t.cpu->xmm[3], 8);
	CHECK(d == -3.0);

	/* An unmasked invalid-operation with OSXMMEXCPT and no IDT: #XM ->
	 * delivery fails -> shutdown, and xmm0 is not written. */
	t.cpu->mxcsr = 0x1f80 & ~0x80u;
	t.cpu->cr4 |= X86_CR4_OSXMMEXCPT;
	uint64_t snan[2] = { 0x7ff0000000000001ull, 0 };
	memcpy(t.cpu->xmm[0], snan, 16);
	memcpy(t.cpu->xmm[1], snan, 16);
	static const uint8_t add[] = { 0xf2, 0x0f, 0x58, 0xc1, 0xf4 };
	CHECK_EQ(tenv_exec(&t, add, sizeof(add)), VCPU_EXIT_SHUTDOWN);
	CHECK(memcmp(t.cpu->xmm[0], snan, 16) == 0);
	CHECK_EQ(t.cpu->rip, TEST_CODE);

	/* Without CR4.OSFXSR every SSE instruction is #UD. */
	t.cpu->cr4 &= ~X86_CR4_OSFXSR;
	static const uint8_t pxor[] = { 0x66, 0x0f, 0xef, 0xc0, 0xf4 };
	CHECK_EQ(tenv_exec(&t, pxor, sizeof(pxor)), VCPU_EXIT_SHUTDOWN);
	tenv_destroy(&t);
}

/* FNINIT/FNSTCW/FLDCW/FNSTSW and an FXSAVE/FXRSTOR round trip. */
TEST(soft_x87_control_and_fxsave)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t buf = 0x33000; /* 16-byte aligned */
	static const uint8_t code[] = {
		0xdb, 0xe3,                         /* fninit */
		0xd9, 0x3b,                         /* fnstcw [rbx] */
		0x66, 0xc7, 0x43, 0x02, 0x7f, 0x02, /* mov word [rbx+2], 0x27f */
		0xd9, 0x6b, 0x02,                   /* fldcw [rbx+2] */
		0xdf, 0xe0,                         /* fnstsw ax */
		0x0f, 0xae, 0x43, 0x40,             /* fxsave [rbx+0x40] */
		0xf4,
	};
	t.cpu->gpr[X86_RBX] = buf;
	t.cpu->gpr[X86_RAX] = 0xffff;
	t.cpu->fsw = 0x1234;
	memset(t.cpu->xmm[5], 0xa5, 16);
	t.cpu->mxcsr = 0x1f80 | (1u << 13);
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	uint16_t cw;
	CHECK(gm_read(&t.mem, buf, &cw, 2) == 0);
	CHECK_EQ(cw, 0x37f);
	CHECK_EQ(t.cpu->fcw, 0x27f);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0);
	uint8_t img[512];
	CHECK(gm_read(&t.mem, buf + 0x40, img, 512) == 0);
	CHECK_EQ(img[0] | (img[1] << 8), 0x27f);
	CHECK_EQ(img[24] | (img[25] << 8), 0x1f80 | (1u << 13));
	CHECK_EQ(img[160 + 5 * 16], 0xa5);

	/* Restore into a scrambled CPU. */
	memset(t.cpu->xmm[5], 0, 16);
	t.cpu->mxcsr = 0x1f80;
	t.cpu->fcw = 0;
	static const uint8_t rst[] = { 0x0f, 0xae, 0x4b, 0x40, 0xf4 }; /* fxrstor [rbx+0x40] */
	CHECK_EQ(tenv_exec(&t, rst, sizeof(rst)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->xmm[5][7], 0xa5);
	CHECK_EQ(t.cpu->mxcsr, 0x1f80 | (1u << 13));
	CHECK_EQ(t.cpu->fcw, 0x27f);

	/* CR0.TS: x87 and FXSAVE give #NM (no IDT: shutdown). */
	t.cpu->cr0 |= CR0_TS;
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
