/* Soft CPU arithmetic against the host CPU: each case runs one instruction
 * on the soft vCPU and the same instruction natively (inline asm), on fixed
 * edge values and pseudo-random ones, and compares the result and every flag
 * the SDM defines for that instruction (undefined flags are not compared). */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

#define ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)
#define SHF   (FL_CF | FL_SF | FL_ZF | FL_PF) /* shifts: OF only for a count of 1 */

/* Host execution: rax = a, rbx = b, rcx = b (shift counts), rdx = d
 * (in and out), flags in and out. */
typedef void (*host_fn)(uint64_t *a, uint64_t b, uint64_t *d, uint64_t *flags);

#define HOST(name, insn)                                                       \
	static void name(uint64_t *a, uint64_t b, uint64_t *d, uint64_t *flags) \
	{                                                                      \
		uint64_t f = *flags, x = *a, y = *d;                           \
		/* Step over the red zone before pushing. */                  \
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[f]\n\tpopfq\n\t" insn \
				 "\n\tpushfq\n\tpop %[f]\n\tlea 128(%%rsp), %%rsp" \
				 : [f] "+r"(f), "+a"(x), "+d"(y)               \
				 : "b"(b), "c"(b)                              \
				 : "cc");                                      \
		*a = x;                                                        \
		*d = y;                                                        \
		*flags = f;                                                    \
	}

HOST(h_add64, "add %%rbx, %%rax")
HOST(h_add32, "add %%ebx, %%eax")
HOST(h_add16, "add %%bx, %%ax")
HOST(h_add8, "add %%bl, %%al")
HOST(h_adc64, "adc %%rbx, %%rax")
HOST(h_adc8, "adc %%bl, %%al")
HOST(h_sub64, "sub %%rbx, %%rax")
HOST(h_sub32, "sub %%ebx, %%eax")
HOST(h_sbb64, "sbb %%rbx, %%rax")
HOST(h_sbb16, "sbb %%bx, %%ax")
HOST(h_cmp8, "cmp %%bl, %%al")
HOST(h_and64, "and %%rbx, %%rax")
HOST(h_or32, "or %%ebx, %%eax")
HOST(h_xor8, "xor %%bl, %%al")
HOST(h_inc64, "inc %%rax")
HOST(h_dec32, "dec %%eax")
HOST(h_neg64, "neg %%rax")
HOST(h_neg8, "neg %%al")
HOST(h_shl64, "shl %%cl, %%rax")
HOST(h_shl32, "shl %%cl, %%eax")
HOST(h_shr64, "shr %%cl, %%rax")
HOST(h_shr32, "shr %%cl, %%eax")
HOST(h_sar64, "sar %%cl, %%rax")
HOST(h_sar32, "sar %%cl, %%eax")
HOST(h_rol64, "rol %%cl, %%rax")
HOST(h_ror32, "ror %%cl, %%eax")
HOST(h_rcl64, "rcl %%cl, %%rax")
HOST(h_rcr32, "rcr %%cl, %%eax")
HOST(h_rol8, "rol %%cl, %%al")
HOST(h_rcr8, "rcr %%cl, %%al")
HOST(h_imul64, "imul %%rbx, %%rax")
HOST(h_imul32, "imul %%ebx, %%eax")
HOST(h_bsf64, "bsf %%rbx, %%rax")
HOST(h_bt64, "bt %%rbx, %%rax")
HOST(h_bswap64, "bswap %%rax")
HOST(h_popcnt64, "popcnt %%rbx, %%rax")
HOST(h_shld64, "shld %%cl, %%rbx, %%rax")
HOST(h_shrd32, "shrd %%cl, %%ebx, %%eax")
HOST(h_mul64, "mul %%rbx")
HOST(h_imul1_32, "imul %%ebx")
HOST(h_mul8, "mul %%bl")
HOST(h_bsr32, "bsr %%ebx, %%eax")
HOST(h_btc64, "btc %%rbx, %%rax")
HOST(h_bts32, "bts %%ebx, %%eax")
HOST(h_btr16, "btr %%bx, %%ax")
HOST(h_add_ah, "add %%ah, %%al")
HOST(h_sub_dh, "sub %%bl, %%dh")
HOST(h_adc32, "adc %%ebx, %%eax")
HOST(h_sbb8, "sbb %%bl, %%al")
HOST(h_sar8, "sar %%cl, %%al")
HOST(h_rol16, "rol %%cl, %%ax")
HOST(h_rcl16, "rcl %%cl, %%ax")
HOST(h_rcr64, "rcr %%cl, %%rax")
HOST(h_neg16, "neg %%ax")
HOST(h_not32, "not %%eax")
HOST(h_movsx8, "movsbq %%bl, %%rax")
HOST(h_movzx16, "movzwl %%bx, %%eax")
HOST(h_movsxd, "movslq %%ebx, %%rax")
HOST(h_setl, "cmp %%rbx, %%rax\n\tsetl %%dl")
HOST(h_setbe, "cmp %%ebx, %%eax\n\tsetbe %%dh")
HOST(h_cmovg32, "cmp %%rbx, %%rax\n\tcmovg %%ebx, %%eax")
HOST(h_cmovb64, "cmp %%rbx, %%rax\n\tcmovb %%rbx, %%rax")
HOST(h_xadd32, "xadd %%eax, %%ebx\n\tmov %%ebx, %%edx")
HOST(h_cmpxchg64, "cmpxchg %%rbx, %%rdx")
HOST(h_cdq, "cdq")
HOST(h_cqo, "cqo")
HOST(h_cbw, "cbw")
HOST(h_imul3, "imul $-7, %%rbx, %%rax")
HOST(h_lea, "lea 0x10(%%rax,%%rbx,4), %%edx")
HOST(h_xchg8, "xchg %%al, %%dh")

enum shift_kind { NOT_SHIFT, SHIFT64, SHIFT32, SHIFT8 };

struct alu_case {
	const char *name;
	uint8_t code[8];  /* the instruction; the harness appends HLT */
	unsigned len;
	host_fn host;
	uint64_t defined; /* flags the SDM defines for it */
	enum shift_kind shift;
	bool bsf;         /* result defined only for a non-zero source */
};

/* For shifts and rotates OF is defined only for a count of 1 and AF never;
 * their defined set is adjusted per count in run_case(). */
static const struct alu_case cases[] = {
	{ "add r64", { 0x48, 0x01, 0xd8 }, 3, h_add64, ARITH, 0, 0 },
	{ "add r32", { 0x01, 0xd8 }, 2, h_add32, ARITH, 0, 0 },
	{ "add r16", { 0x66, 0x01, 0xd8 }, 3, h_add16, ARITH, 0, 0 },
	{ "add r8", { 0x00, 0xd8 }, 2, h_add8, ARITH, 0, 0 },
	{ "adc r64", { 0x48, 0x11, 0xd8 }, 3, h_adc64, ARITH, 0, 0 },
	{ "adc r8", { 0x10, 0xd8 }, 2, h_adc8, ARITH, 0, 0 },
	{ "sub r64", { 0x48, 0x29, 0xd8 }, 3, h_sub64, ARITH, 0, 0 },
	{ "sub r32", { 0x29, 0xd8 }, 2, h_sub32, ARITH, 0, 0 },
	{ "sbb r64", { 0x48, 0x19, 0xd8 }, 3, h_sbb64, ARITH, 0, 0 },
	{ "sbb r16", { 0x66, 0x19, 0xd8 }, 3, h_sbb16, ARITH, 0, 0 },
	{ "cmp r8", { 0x38, 0xd8 }, 2, h_cmp8, ARITH, 0, 0 },
	{ "and r64", { 0x48, 0x21, 0xd8 }, 3, h_and64, ARITH & ~FL_AF, 0, 0 },
	{ "or r32", { 0x09, 0xd8 }, 2, h_or32, ARITH & ~FL_AF, 0, 0 },
	{ "xor r8", { 0x30, 0xd8 }, 2, h_xor8, ARITH & ~FL_AF, 0, 0 },
	{ "inc r64", { 0x48, 0xff, 0xc0 }, 3, h_inc64, ARITH, 0, 0 },
	{ "dec r32", { 0xff, 0xc8 }, 2, h_dec32, ARITH, 0, 0 },
	{ "neg r64", { 0x48, 0xf7, 0xd8 }, 3, h_neg64, ARITH, 0, 0 },
	{ "neg r8", { 0xf6, 0xd8 }, 2, h_neg8, ARITH, 0, 0 },
	{ "shl r64,cl", { 0x48, 0xd3, 0xe0 }, 3, h_shl64, SHF, SHIFT64, 0 },
	{ "shl r32,cl", { 0xd3, 0xe0 }, 2, h_shl32, SHF, SHIFT32, 0 },
	{ "shr r64,cl", { 0x48, 0xd3, 0xe8 }, 3, h_shr64, SHF, SHIFT64, 0 },
	{ "shr r32,cl", { 0xd3, 0xe8 }, 2, h_shr32, SHF, SHIFT32, 0 },
	{ "sar r64,cl", { 0x48, 0xd3, 0xf8 }, 3, h_sar64, SHF, SHIFT64, 0 },
	{ "sar r32,cl", { 0xd3, 0xf8 }, 2, h_sar32, SHF, SHIFT32, 0 },
	{ "rol r64,cl", { 0x48, 0xd3, 0xc0 }, 3, h_rol64, FL_CF, SHIFT64, 0 },
	{ "ror r32,cl", { 0xd3, 0xc8 }, 2, h_ror32, FL_CF, SHIFT32, 0 },
	{ "rcl r64,cl", { 0x48, 0xd3, 0xd0 }, 3, h_rcl64, FL_CF, SHIFT64, 0 },
	{ "rcr r32,cl", { 0xd3, 0xd8 }, 2, h_rcr32, FL_CF, SHIFT32, 0 },
	{ "rol r8,cl", { 0xd2, 0xc0 }, 2, h_rol8, FL_CF, SHIFT8, 0 },
	{ "rcr r8,cl", { 0xd2, 0xd8 }, 2, h_rcr8, FL_CF, SHIFT8, 0 },
	{ "imul r64", { 0x48, 0x0f, 0xaf, 0xc3 }, 4, h_imul64, FL_CF | FL_OF, 0, 0 },
	{ "imul r32", { 0x0f, 0xaf, 0xc3 }, 3, h_imul32, FL_CF | FL_OF, 0, 0 },
	{ "bsf r64", { 0x48, 0x0f, 0xbc, 0xc3 }, 4, h_bsf64, FL_ZF, 0, 1 },
	{ "bt r64", { 0x48, 0x0f, 0xa3, 0xd8 }, 4, h_bt64, FL_CF, 0, 0 },
	{ "bswap r64", { 0x48, 0x0f, 0xc8 }, 3, h_bswap64, 0, 0, 0 },
	{ "popcnt r64", { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 }, 5, h_popcnt64, ARITH, 0, 0 },
	{ "shld r64", { 0x48, 0x0f, 0xa5, 0xd8 }, 4, h_shld64, SHF, SHIFT64, 0 },
	{ "shrd r32", { 0x0f, 0xad, 0xd8 }, 3, h_shrd32, SHF, SHIFT32, 0 },
	{ "mul r64", { 0x48, 0xf7, 0xe3 }, 3, h_mul64, FL_CF | FL_OF, 0, 0 },
	{ "imul r32 (1 op)", { 0xf7, 0xeb }, 2, h_imul1_32, FL_CF | FL_OF, 0, 0 },
	{ "mul r8", { 0xf6, 0xe3 }, 2, h_mul8, FL_CF | FL_OF, 0, 0 },
	{ "bsr r32", { 0x0f, 0xbd, 0xc3 }, 3, h_bsr32, FL_ZF, 0, 1 },
	{ "btc r64", { 0x48, 0x0f, 0xbb, 0xd8 }, 4, h_btc64, FL_CF, 0, 0 },
	{ "bts r32", { 0x0f, 0xab, 0xd8 }, 3, h_bts32, FL_CF, 0, 0 },
	{ "btr r16", { 0x66, 0x0f, 0xb3, 0xd8 }, 4, h_btr16, FL_CF, 0, 0 },
	{ "add al,ah", { 0x00, 0xe0 }, 2, h_add_ah, ARITH, 0, 0 },
	{ "sub dh,bl", { 0x28, 0xde }, 2, h_sub_dh, ARITH, 0, 0 },
	{ "adc r32", { 0x11, 0xd8 }, 2, h_adc32, ARITH, 0, 0 },
	{ "sbb r8", { 0x18, 0xd8 }, 2, h_sbb8, ARITH, 0, 0 },
	{ "sar r8,cl", { 0xd2, 0xf8 }, 2, h_sar8, SHF, SHIFT8, 0 },
	{ "rol r16,cl", { 0x66, 0xd3, 0xc0 }, 3, h_rol16, FL_CF, SHIFT8, 0 },
	{ "rcl r16,cl", { 0x66, 0xd3, 0xd0 }, 3, h_rcl16, FL_CF, SHIFT8, 0 },
	{ "rcr r64,cl", { 0x48, 0xd3, 0xd8 }, 3, h_rcr64, FL_CF, SHIFT64, 0 },
	{ "neg r16", { 0x66, 0xf7, 0xd8 }, 3, h_neg16, ARITH, 0, 0 },
	{ "not r32", { 0xf7, 0xd0 }, 2, h_not32, ARITH, 0, 0 },
	{ "movsx r64,r8", { 0x48, 0x0f, 0xbe, 0xc3 }, 4, h_movsx8, ARITH, 0, 0 },
	{ "movzx r32,r16", { 0x0f, 0xb7, 0xc3 }, 3, h_movzx16, ARITH, 0, 0 },
	{ "movsxd", { 0x48, 0x63, 0xc3 }, 3, h_movsxd, ARITH, 0, 0 },
	{ "cmp;setl dl", { 0x48, 0x39, 0xd8, 0x0f, 0x9c, 0xc2 }, 6, h_setl, ARITH, 0, 0 },
	{ "cmp;setbe dh", { 0x39, 0xd8, 0x0f, 0x96, 0xc6 }, 5, h_setbe, ARITH, 0, 0 },
	{ "cmp;cmovg r32", { 0x48, 0x39, 0xd8, 0x0f, 0x4f, 0xc3 }, 6, h_cmovg32, ARITH, 0, 0 },
	{ "cmp;cmovb r64", { 0x48, 0x39, 0xd8, 0x48, 0x0f, 0x42, 0xc3 }, 7, h_cmovb64, ARITH,
	  0, 0 },
	{ "xadd r32", { 0x0f, 0xc1, 0xc3, 0x89, 0xda }, 5, h_xadd32, ARITH, 0, 0 },
	{ "cmpxchg r64", { 0x48, 0x0f, 0xb1, 0xda }, 4, h_cmpxchg64, ARITH, 0, 0 },
	{ "cdq", { 0x99 }, 1, h_cdq, ARITH, 0, 0 },
	{ "cqo", { 0x48, 0x99 }, 2, h_cqo, ARITH, 0, 0 },
	{ "cbw", { 0x66, 0x98 }, 2, h_cbw, ARITH, 0, 0 },
	{ "imul r64,r64,imm8", { 0x48, 0x6b, 0xc3, 0xf9 }, 4, h_imul3, FL_CF | FL_OF, 0, 0 },
	{ "lea r32", { 0x8d, 0x54, 0x98, 0x10 }, 4, h_lea, ARITH, 0, 0 },
	{ "xchg al,dh", { 0x86, 0xf0 }, 2, h_xchg8, ARITH, 0, 0 },
};

static const uint64_t edge[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
	0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xffffffffffffffffull, 0x0f0f0f0f0f0f0f0full, 0x123456789abcdef0ull,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int run_case(struct tenv *t, const struct alu_case *c, uint64_t a, uint64_t b,
		    uint64_t fin)
{
	uint8_t code[16];
	uint64_t defined = c->defined;

	if (c->shift) {
		unsigned bits = c->shift == SHIFT64 ? 64 : c->shift == SHIFT32 ? 32 : 8;
		b &= c->shift == SHIFT64 ? 63 : 31;
		/* Beyond the operand width CF is undefined for shifts; keep
		 * the counts where it is defined (rotates take any). */
		if (b > bits)
			b %= bits;
		if (b == 1)
			defined |= FL_OF;
		if (b == 0)
			defined = ARITH; /* nothing may change */
	}
	if (c->bsf && b == 0)
		defined = FL_ZF;

	uint64_t d = a ^ (b << 7) ^ 0x5555aaaa5555aaaaull;
	uint64_t ha = a, hd = d, hf = fin | X86_RFLAGS_FIXED;
	c->host(&ha, b, &hd, &hf);

	memcpy(code, c->code, c->len);
	code[c->len] = 0xf4; /* hlt */
	t->cpu->gpr[X86_RAX] = a;
	t->cpu->gpr[X86_RBX] = b;
	t->cpu->gpr[X86_RCX] = b;
	t->cpu->gpr[X86_RDX] = d;
	t->cpu->rflags = fin | X86_RFLAGS_FIXED;
	if (tenv_exec(t, code, c->len + 1) != VCPU_EXIT_HALT) {
		fprintf(stderr, "  %s: no HLT exit (%d)\n", c->name, t->exit.kind);
		return 1;
	}
	uint64_t sa = t->cpu->gpr[X86_RAX], sd = t->cpu->gpr[X86_RDX], sf = t->cpu->rflags;
	bool result_ok = (c->bsf && b == 0 ? true : sa == ha) && sd == hd;
	if (!result_ok || ((sf ^ hf) & defined)) {
		fprintf(stderr, "  %s a=%#llx b=%#llx fin=%#llx: soft %#llx/%#llx fl %#llx, host "
			"%#llx/%#llx fl %#llx (compared flags %#llx)\n", c->name,
			(unsigned long long)a, (unsigned long long)b, (unsigned long long)fin,
			(unsigned long long)sa, (unsigned long long)sd, (unsigned long long)sf,
			(unsigned long long)ha, (unsigned long long)hd, (unsigned long long)hf,
			(unsigned long long)defined);
		return 1;
	}
	return 0;
}

TEST(soft_alu_matches_host)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	int bad = 0;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]) && bad < 20; i++) {
		const struct alu_case *c = &cases[i];
		unsigned ne = sizeof(edge) / sizeof(edge[0]);
		for (unsigned x = 0; x < ne; x++)
			for (unsigned y = 0; y < ne; y++)
				for (uint64_t fin = 0; fin <= FL_CF; fin++)
					bad += run_case(&t, c, edge[x], edge[y], fin);
		for (int n = 0; n < 300; n++)
			bad += run_case(&t, c, rnd(), rnd(), rnd() & ARITH);
	}
	CHECK_EQ(bad, 0);
	tenv_destroy(&t);
}

/* Division: results and #DE (no IDT: #DE -> #GP -> #DF -> triple fault). */
TEST(soft_div_and_divide_error)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	/* div rbx; hlt */
	static const uint8_t div64[] = { 0x48, 0xf7, 0xf3, 0xf4 };
	t.cpu->gpr[X86_RDX] = 1;
	t.cpu->gpr[X86_RAX] = 5;
	t.cpu->gpr[X86_RBX] = 3;
	CHECK_EQ(tenv_exec(&t, div64, sizeof(div64)), VCPU_EXIT_HALT);
	unsigned __int128 n = ((unsigned __int128)1 << 64) | 5;
	CHECK_EQ(t.cpu->gpr[X86_RAX], (uint64_t)(n / 3));
	CHECK_EQ(t.cpu->gpr[X86_RDX], (uint64_t)(n % 3));

	/* idiv ecx with -7 / 2 = -3 rem -1 */
	static const uint8_t idiv32[] = { 0xf7, 0xf9, 0xf4 };
	t.cpu->gpr[X86_RAX] = (uint32_t)-7;
	t.cpu->gpr[X86_RDX] = 0xffffffff;
	t.cpu->gpr[X86_RCX] = 2;
	CHECK_EQ(tenv_exec(&t, idiv32, sizeof(idiv32)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], (uint32_t)-3);
	CHECK_EQ(t.cpu->gpr[X86_RDX], (uint32_t)-1);

	/* quotient overflow: edx:eax = 2^32, div by 1 -> #DE, registers kept */
	static const uint8_t div32[] = { 0xf7, 0xf1, 0xf4 };
	t.cpu->gpr[X86_RAX] = 0;
	t.cpu->gpr[X86_RDX] = 1;
	t.cpu->gpr[X86_RCX] = 1;
	CHECK_EQ(tenv_exec(&t, div32, sizeof(div32)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	CHECK_EQ(t.cpu->gpr[X86_RDX], 1);
	tenv_destroy(&t);
}

/* LOCK CMPXCHG / XADD / XCHG on memory, and CMPXCHG16B. */
TEST(soft_locked_rmw)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t data = 0x30000;
	tenv_w64(&t, data, 10);
	/* mov rbx, 0x30000 ; mov eax, 10 ; mov ecx, 20 ; lock cmpxchg [rbx], rcx
	 * (eax matches: [rbx] = 20, ZF=1) ; mov edx, 5 ; lock xadd [rbx], rdx
	 * ([rbx] = 25, rdx = 20) ; hlt */
	static const uint8_t code[] = {
		0x48, 0xc7, 0xc3, 0x00, 0x00, 0x03, 0x00, /* mov rbx, 0x30000 */
		0xb8, 0x0a, 0x00, 0x00, 0x00,             /* mov eax, 10 */
		0xb9, 0x14, 0x00, 0x00, 0x00,             /* mov ecx, 20 */
		0xf0, 0x48, 0x0f, 0xb1, 0x0b,             /* lock cmpxchg [rbx], rcx */
		0x9c, 0x5e,                               /* pushfq ; pop rsi */
		0xba, 0x05, 0x00, 0x00, 0x00,             /* mov edx, 5 */
		0xf0, 0x48, 0x0f, 0xc1, 0x13,             /* lock xadd [rbx], rdx */
		0xf4,
	};
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK(t.cpu->gpr[X86_RSI] & FL_ZF);
	CHECK_EQ(tenv_r64(&t, data), 25);
	CHECK_EQ(t.cpu->gpr[X86_RDX], 20);

	/* A failing compare loads the accumulator. */
	static const uint8_t fail[] = { 0xf0, 0x48, 0x0f, 0xb1, 0x0b, 0xf4 };
	t.cpu->gpr[X86_RAX] = 1;
	CHECK_EQ(tenv_exec(&t, fail, sizeof(fail)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 25);
	CHECK(!(t.cpu->rflags & FL_ZF));

	/* cmpxchg16b [rbx] with rdx:rax = mem: writes rcx:rbx */
	tenv_w64(&t, data, 0x1111);
	tenv_w64(&t, data + 8, 0x2222);
	static const uint8_t c16[] = {
		0x49, 0x89, 0xd8,                         /* mov r8, rbx */
		0xbb, 0x33, 0x33, 0x00, 0x00,             /* mov ebx, 0x3333 */
		0xf0, 0x49, 0x0f, 0xc7, 0x08,             /* lock cmpxchg16b [r8] */
		0xf4,
	};
	t.cpu->gpr[X86_RBX] = data;
	t.cpu->gpr[X86_RAX] = 0x1111;
	t.cpu->gpr[X86_RDX] = 0x2222;
	t.cpu->gpr[X86_RCX] = 0x4444;
	CHECK_EQ(tenv_exec(&t, c16, sizeof(c16)), VCPU_EXIT_HALT);
	CHECK(t.cpu->rflags & FL_ZF);
	CHECK_EQ(tenv_r64(&t, data), 0x3333);
	CHECK_EQ(tenv_r64(&t, data + 8), 0x4444);
	tenv_destroy(&t);
}

/* REP MOVSB / REP STOSQ / REPNE SCASB, forwards and with DF=1. */
TEST(soft_rep_string)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t src = 0x31000, dst = 0x32000;
	tenv_load(&t, src, "hello, soft world", 18);
	/* rep movsb ; hlt */
	static const uint8_t movs[] = { 0xf3, 0xa4, 0xf4 };
	t.cpu->gpr[X86_RSI] = src;
	t.cpu->gpr[X86_RDI] = dst;
	t.cpu->gpr[X86_RCX] = 18;
	CHECK_EQ(tenv_exec(&t, movs, sizeof(movs)), VCPU_EXIT_HALT);
	char buf[18];
	CHECK(gm_read(&t.mem, dst, buf, 18) == 0);
	CHECK(memcmp(buf, "hello, soft world", 18) == 0);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 0);
	CHECK_EQ(t.cpu->gpr[X86_RSI], src + 18);

	/* repne scasb for ',' from the start: stops after it, rcx counts down */
	static const uint8_t scas[] = { 0xf2, 0xae, 0xf4 };
	t.cpu->gpr[X86_RDI] = src;
	t.cpu->gpr[X86_RAX] = ',';
	t.cpu->gpr[X86_RCX] = 100;
	CHECK_EQ(tenv_exec(&t, scas, sizeof(scas)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RDI], src + 6);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 94);
	CHECK(t.cpu->rflags & FL_ZF);

	/* std ; rep stosq ; cld ; hlt — fills downwards */
	static const uint8_t stos[] = { 0xfd, 0xf3, 0x48, 0xab, 0xfc, 0xf4 };
	t.cpu->gpr[X86_RDI] = dst + 16;
	t.cpu->gpr[X86_RAX] = 0xabcdef;
	t.cpu->gpr[X86_RCX] = 3;
	CHECK_EQ(tenv_exec(&t, stos, sizeof(stos)), VCPU_EXIT_HALT);
	CHECK_EQ(tenv_r64(&t, dst), 0xabcdef);
	CHECK_EQ(tenv_r64(&t, dst + 16), 0xabcdef);
	CHECK_EQ(t.cpu->gpr[X86_RDI], dst - 8);
	CHECK(!(t.cpu->rflags & FL_DF));
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* REP MOVS/STOS in bulk: same results as element by element, including the
 * overlapping copy that propagates, page crossings, and a #PF in the middle
 * that leaves RSI/RDI/RCX where the copy stopped. */
TEST(soft_rep_string_bulk)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t buf = 0x100000;
	uint8_t pat[64];
	for (int i = 0; i < 64; i++)
		pat[i] = (uint8_t)(i * 7 + 1);
	tenv_load(&t, buf, pat, sizeof(pat));

	/* rep movsb with rdi = rsi + 1: byte 0 propagates (a classic memset). */
	static const uint8_t movsb[] = { 0xf3, 0xa4, 0xf4 };
	t.cpu->gpr[X86_RSI] = buf;
	t.cpu->gpr[X86_RDI] = buf + 1;
	t.cpu->gpr[X86_RCX] = 63;
	CHECK_EQ(tenv_exec(&t, movsb, sizeof(movsb)), VCPU_EXIT_HALT);
	uint8_t got[64];
	CHECK(gm_read(&t.mem, buf, got, 64) == 0);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(got[i], 1);

	/* rep stosq over 3 pages plus a bit, from an unaligned start. */
	static const uint8_t stosq[] = { 0xf3, 0x48, 0xab, 0xf4 };
	t.cpu->gpr[X86_RDI] = buf + 0x1004;
	t.cpu->gpr[X86_RAX] = 0x1122334455667788ull;
	t.cpu->gpr[X86_RCX] = 1600;
	CHECK_EQ(tenv_exec(&t, stosq, sizeof(stosq)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 0);
	CHECK_EQ(t.cpu->gpr[X86_RDI], buf + 0x1004 + 1600 * 8);
	CHECK_EQ(tenv_r64(&t, buf + 0x1004), 0x1122334455667788ull);
	CHECK_EQ(tenv_r64(&t, buf + 0x1ffc), 0x1122334455667788ull); /* straddles */
	CHECK_EQ(tenv_r64(&t, buf + 0x1004 + 1599 * 8), 0x1122334455667788ull);
	CHECK_EQ(tenv_r64(&t, buf + 0x1004 + 1600 * 8), 0);

	/* rep movsq 2 pages down by 0x800 (overlap from below: a memmove). */
	static const uint8_t movsq[] = { 0xf3, 0x48, 0xa5, 0xf4 };
	tenv_w64(&t, buf + 0x3000, 0xaaaa);
	tenv_w64(&t, buf + 0x3ff8, 0xbbbb);
	t.cpu->gpr[X86_RSI] = buf + 0x3000;
	t.cpu->gpr[X86_RDI] = buf + 0x2800;
	t.cpu->gpr[X86_RCX] = 1024;
	CHECK_EQ(tenv_exec(&t, movsq, sizeof(movsq)), VCPU_EXIT_HALT);
	CHECK_EQ(tenv_r64(&t, buf + 0x2800), 0xaaaa);
	CHECK_EQ(tenv_r64(&t, buf + 0x37f8), 0xbbbb);

	/* A destination that runs into an unmapped page: #PF (no IDT: the
	 * delivery fails, shutdown) with the registers at the page boundary. */
	uint64_t pd1 = tenv_r64(&t, TEST_PD + 8);
	tenv_w64(&t, TEST_PD + 8, 0); /* unmap [2M, 4M) */
	t.cpu->cr3 = TEST_PML4;
	soft_tlb_flush(t.cpu, true);
	t.cpu->gpr[X86_RSI] = buf;
	t.cpu->gpr[X86_RDI] = 0x200000 - 0x100;
	t.cpu->gpr[X86_RCX] = 0x300;
	CHECK_EQ(tenv_exec(&t, movsb, sizeof(movsb)), VCPU_EXIT_SHUTDOWN);
	CHECK_EQ(t.cpu->gpr[X86_RDI], 0x200000);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 0x200);
	CHECK_EQ(t.cpu->gpr[X86_RSI], buf + 0x100);
	CHECK_EQ(t.cpu->rip, TEST_CODE);
	tenv_w64(&t, TEST_PD + 8, pd1);
	soft_tlb_flush(t.cpu, true);

	/* rep stosb over its own code page: the rest of the code changes. */
	static const uint8_t smc[] = {
		0xf3, 0xaa,                   /* rep stosb (al = 0x90: nops) */
		0xcc, 0xcc, 0xcc, 0xcc, 0xf4, /* int3s overwritten before they run */
	};
	t.cpu->gpr[X86_RDI] = TEST_CODE + 2;
	t.cpu->gpr[X86_RAX] = 0x90;
	t.cpu->gpr[X86_RCX] = 4;
	/* Decode the int3s first, so stale copies exist. */
	tenv_load(&t, TEST_CODE, smc, sizeof(smc));
	for (unsigned i = 2; i < 6; i++) {
		const struct soft_insn *in;
		t.cpu->rip = TEST_CODE + i;
		CHECK_EQ(soft_fetch(t.cpu, &in), SOFT_OK);
	}
	t.cpu->rip = TEST_CODE;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_CODE + 7);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
