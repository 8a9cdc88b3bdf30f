/* Integer instruction semantics, for comparing back ends: runs ~180
 * instruction forms (ALU, shifts and rotates, multiply and divide, bit
 * scans and tests, exchanges, sign/zero extension, CMOVcc/SETcc, LAHF/SAHF,
 * string instructions with both directions) over edge-case and seeded
 * random operands, and prints one digest per form of the full result
 * registers and the flags the SDM defines for it (undefined flags are
 * masked: implementations differ there legitimately). Only what KVM's
 * instruction emulator knows (kvm over PVM runs guests in it): no POPCNT,
 * no SSE. On its own the guest
 * only proves every form runs; run.sh compares the digests of kvm and soft,
 * and any difference names the instruction form whose semantics differ. No
 * instruction here may fault: divisors are non-zero, quotients fit. */
#include "rt/lib.h"

#define CF 0x001ull
#define PF 0x004ull
#define AF 0x010ull
#define ZF 0x040ull
#define SF 0x080ull
#define DF 0x400ull
#define OF 0x800ull
#define ARITH (CF | PF | AF | ZF | SF | OF)
#define LOGIC (CF | PF | ZF | SF | OF) /* AF undefined */
#define FL_IN_MASK ARITH              /* flags fed in: never TF, IF, DF */

struct io {
	uint64_t a, b, fin;       /* operands, RFLAGS fed in */
	uint64_t r, r2, fout;     /* result registers, RFLAGS out */
	unsigned size;            /* operand size in bits, for input shaping */
};

/* A cheap 64-bit mix (multiply-xorshift): every instruction of the digest
 * loop is emulated on kvm here, so it must stay short. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* ---- instruction forms ------------------------------------------------- */

#define FL_PRE "pushq %[fi]\n\tpopfq\n\t"
#define FL_POST "\n\tpushfq\n\tpopq %[f]"

/* op src, dst (dst = a, src = b) */
#define ALU2(fn, insn, M)                                                                  \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a, f;                                                     \
		__asm__ volatile(FL_PRE insn " %" M "[y], %" M "[x]" FL_POST               \
				 : [x] "+r"(x), [f] "=&r"(f)                               \
				 : [y] "r"(io->b), [fi] "r"(io->fin)                       \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->fout = f;                                                              \
	}
/* op dst */
#define ALU1(fn, insn, M)                                                                  \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a, f;                                                     \
		__asm__ volatile(FL_PRE insn " %" M "[x]" FL_POST                          \
				 : [x] "+r"(x), [f] "=&r"(f)                               \
				 : [fi] "r"(io->fin)                                       \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->fout = f;                                                              \
	}
/* op %cl, dst (count = b) */
#define SHIFT(fn, insn, M)                                                                 \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a, f;                                                     \
		__asm__ volatile(FL_PRE insn " %%cl, %" M "[x]" FL_POST                    \
				 : [x] "+r"(x), [f] "=&r"(f)                               \
				 : "c"(io->b), [fi] "r"(io->fin)                           \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->fout = f;                                                              \
	}
/* shld/shrd %cl, src, dst (src = r2 in, count = b) */
#define SHXD(fn, insn, M)                                                                  \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a, f;                                                     \
		__asm__ volatile(FL_PRE insn " %%cl, %" M "[y], %" M "[x]" FL_POST         \
				 : [x] "+r"(x), [f] "=&r"(f)                               \
				 : [y] "r"(io->r2), "c"(io->b), [fi] "r"(io->fin)          \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->fout = f;                                                              \
	}
/* one-operand mul/imul/div/idiv on rdx:rax (a = rax, r2 = rdx, b = src) */
#define MULDIV(fn, insn, M)                                                                \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t lo = io->a, hi = io->r2, f;                                       \
		__asm__ volatile(FL_PRE insn " %" M "[y]" FL_POST                          \
				 : "+a"(lo), "+d"(hi), [f] "=&r"(f)                        \
				 : [y] "r"(io->b), [fi] "r"(io->fin)                       \
				 : "cc");                                                  \
		io->r = lo;                                                                \
		io->r2 = hi;                                                               \
		io->fout = f;                                                              \
	}
/* xadd/cmpxchg: both operands written; rax is cmpxchg's comparand (r2) */
#define XCHG2(fn, insn, M)                                                                 \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a, y = io->b, acc = io->r2, f;                            \
		__asm__ volatile(FL_PRE insn " %" M "[y], %" M "[x]" FL_POST               \
				 : [x] "+r"(x), [y] "+r"(y), "+a"(acc), [f] "=&r"(f)       \
				 : [fi] "r"(io->fin)                                       \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->r2 = y ^ (acc << 1);                                                   \
		io->fout = f;                                                              \
	}
/* op on rax alone (cbw, cqo, lahf, sahf ...): a = rax, r2 = rdx */
#define ACC(fn, insn)                                                                      \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t lo = io->a, hi = io->r2, f;                                       \
		__asm__ volatile(FL_PRE insn FL_POST                                       \
				 : "+a"(lo), "+d"(hi), [f] "=&r"(f)                        \
				 : [fi] "r"(io->fin)                                       \
				 : "cc");                                                  \
		io->r = lo;                                                                \
		io->r2 = hi;                                                               \
		io->fout = f;                                                              \
	}
/* movsx/movzx-style: dst = op(src) with explicit register widths */
#define MOVX(fn, insn, MS, MD)                                                             \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t x = io->a;                                                        \
		__asm__ volatile(insn " %" MS "[y], %" MD "[x]" : [x] "+r"(x) : [y] "r"(io->b)); \
		io->r = x;                                                                 \
		io->fout = 0;                                                              \
	}

#define SIZES4(M4, base, insn) M4(base##8, insn, "b") M4(base##16, insn, "w")              \
	M4(base##32, insn, "k") M4(base##64, insn, "q")
#define SIZES3(M3, base, insn) M3(base##16, insn, "w") M3(base##32, insn, "k")             \
	M3(base##64, insn, "q")

SIZES4(ALU2, add, "add")
SIZES4(ALU2, adc, "adc")
SIZES4(ALU2, sub, "sub")
SIZES4(ALU2, sbb, "sbb")
SIZES4(ALU2, and, "and")
SIZES4(ALU2, or, "or")
SIZES4(ALU2, xor, "xor")
SIZES4(ALU2, cmp, "cmp")
SIZES4(ALU2, test, "test")
SIZES4(ALU1, inc, "inc")
SIZES4(ALU1, dec, "dec")
SIZES4(ALU1, neg, "neg")
SIZES4(ALU1, not, "not")
SIZES4(SHIFT, shl, "shl")
SIZES4(SHIFT, shr, "shr")
SIZES4(SHIFT, sar, "sar")
SIZES4(SHIFT, rol, "rol")
SIZES4(SHIFT, ror, "ror")
SIZES4(SHIFT, rcl, "rcl")
SIZES4(SHIFT, rcr, "rcr")
SIZES3(SHXD, shld, "shld")
SIZES3(SHXD, shrd, "shrd")
SIZES3(ALU2, imul, "imul")
SIZES4(MULDIV, mul, "mul")
SIZES4(MULDIV, imul1_, "imul")
SIZES4(MULDIV, div, "div")
SIZES4(MULDIV, idiv, "idiv")
SIZES3(ALU2, bt, "bt")
SIZES3(ALU2, bts, "bts")
SIZES3(ALU2, btr, "btr")
SIZES3(ALU2, btc, "btc")
SIZES3(ALU2, bsf, "bsf")
SIZES3(ALU2, bsr, "bsr")
SIZES4(XCHG2, xadd, "xadd")
SIZES4(XCHG2, cmpxchg, "cmpxchg")
ALU1(bswap32, "bswap", "k")
ALU1(bswap64, "bswap", "q")
MOVX(movsbq, "movsbq", "b", "q")
MOVX(movswq, "movswq", "w", "q")
MOVX(movslq, "movslq", "k", "q")
MOVX(movzbq, "movzbq", "b", "q")
MOVX(movzwq, "movzwq", "w", "q")
MOVX(movsbw, "movsbw", "b", "w")
MOVX(movzbl, "movzbl", "b", "k")
MOVX(mov32, "movl", "k", "k")
ACC(cbw, "cbw")
ACC(cwde, "cwde")
ACC(cdqe, "cdqe")
ACC(cwd, "cwd")
ACC(cdq, "cdq")
ACC(cqo, "cqo")
ACC(lahf, "lahf")
ACC(sahf, "sahf")

#define CC_LIST(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) X(s) X(ns) X(p) X(np) X(l) \
	X(ge) X(le) X(g)
#define CMOV(cc) ALU2(cmov##cc, "cmov" #cc, "q")
#define SETCC(cc)                                                                          \
	static void set##cc(struct io *io)                                                 \
	{                                                                                  \
		uint64_t x = io->a, f;                                                     \
		__asm__ volatile(FL_PRE "set" #cc " %b[x]" FL_POST                         \
				 : [x] "+q"(x), [f] "=&r"(f)                               \
				 : [fi] "r"(io->fin)                                       \
				 : "cc");                                                  \
		io->r = x;                                                                 \
		io->fout = f;                                                              \
	}
CC_LIST(CMOV)
CC_LIST(SETCC)

/* String instructions in the middle of two 512-byte buffers (at most 15
 * qwords move either way from offset 256..287, so they stay inside). a
 * picks the offsets, count and AL/AX, b seeds the contents, fin's bit 0
 * picks the direction. */
#define SBUF_WORDS 64
static uint64_t sbuf[2][SBUF_WORDS];

#define STRING(fn, insn)                                                                   \
	static void fn(struct io *io)                                                      \
	{                                                                                  \
		uint64_t seed = io->b | 1, f;                                              \
		for (unsigned i = 0; i < SBUF_WORDS; i++) {                                \
			sbuf[0][i] = xorshift64(&seed);                                    \
			sbuf[1][i] = xorshift64(&seed);                                    \
		}                                                                          \
		uint8_t *s0 = (uint8_t *)sbuf[0] + 256 + ((io->a >> 4) & 31);              \
		uint8_t *d0 = (uint8_t *)sbuf[1] + 256 + ((io->a >> 9) & 31);              \
		if (io->a & (1u << 14))                                                    \
			*d0 = *s0; /* a first match for cmps */                            \
		bool down = io->fin & 1;                                                   \
		uint64_t count = io->a & 15, si = (uint64_t)s0, di = (uint64_t)d0;         \
		uint64_t ax = io->a >> 16;                                                 \
		uint64_t fi = (io->fin & FL_IN_MASK) | (down ? DF : 0);                    \
		__asm__ volatile(FL_PRE insn FL_POST "\n\tcld"                             \
				 : "+S"(si), "+D"(di), "+c"(count), "+a"(ax), [f] "=&r"(f) \
				 : [fi] "r"(fi)                                            \
				 : "cc", "memory");                                        \
		uint64_t h = 0;                                                            \
		for (unsigned i = 0; i < SBUF_WORDS; i++)                                  \
			h = mix(h, sbuf[0][i] ^ (sbuf[1][i] << 1));                        \
		io->r = (si - (uint64_t)sbuf) ^ ((di - (uint64_t)sbuf) << 16) ^ (count << 32) ^ h; \
		io->r2 = ax;                                                               \
		io->fout = f;                                                              \
	}
STRING(rep_movsb, "rep movsb")
STRING(rep_movsq, "rep movsq")
STRING(rep_stosb, "rep stosb")
STRING(rep_stosl, "rep stosl")
STRING(repe_cmpsb, "repe cmpsb")
STRING(repne_scasb, "repne scasb")
STRING(lodsw, "lodsw")

/* ---- the table ----------------------------------------------------------- */

enum shape {
	PLAIN,     /* any a, b */
	COUNT,     /* b = shift count 1..size-1, a also fills r2 */
	COUNT1,    /* b = shift count 1 (OF defined) */
	MUL,       /* r2 = anything */
	DIV,       /* unsigned: b != 0, rdx:rax / b fits */
	IDIV,      /* signed: rdx:rax sign-extended from a, b != 0, no MIN/-1 */
	NONZERO,   /* b != 0 (bsf/bsr) */
	CMPX,      /* r2 = comparand: equal to a half the time */
};

struct form {
	const char *name;
	void (*fn)(struct io *);
	unsigned size;
	enum shape shape;
	uint64_t flags; /* the flags the SDM defines for this form */
};

#define F4(base, shape, fl)                                                                \
	{ #base "8", base##8, 8, shape, fl }, { #base "16", base##16, 16, shape, fl },      \
	{ #base "32", base##32, 32, shape, fl }, { #base "64", base##64, 64, shape, fl }
#define F3(base, shape, fl)                                                                \
	{ #base "16", base##16, 16, shape, fl }, { #base "32", base##32, 32, shape, fl },   \
	{ #base "64", base##64, 64, shape, fl }
#define FCC(cc) { "cmov" #cc, cmov##cc, 64, PLAIN, ARITH }, { "set" #cc, set##cc, 64, PLAIN, ARITH },

static const struct form forms[] = {
	F4(add, PLAIN, ARITH), F4(adc, PLAIN, ARITH), F4(sub, PLAIN, ARITH),
	F4(sbb, PLAIN, ARITH), F4(and, PLAIN, LOGIC), F4(or, PLAIN, LOGIC),
	F4(xor, PLAIN, LOGIC), F4(cmp, PLAIN, ARITH), F4(test, PLAIN, LOGIC),
	F4(inc, PLAIN, ARITH), F4(dec, PLAIN, ARITH), F4(neg, PLAIN, ARITH),
	F4(not, PLAIN, ARITH),
	/* Shifts: CF, SF, ZF, PF for counts below the width; OF only for 1. */
	F4(shl, COUNT, CF | SF | ZF | PF), F4(shr, COUNT, CF | SF | ZF | PF),
	F4(sar, COUNT, CF | SF | ZF | PF),
	/* Rotates touch CF (and OF for count 1) and leave the rest as they were. */
	F4(rol, COUNT, CF | SF | ZF | PF | AF), F4(ror, COUNT, CF | SF | ZF | PF | AF),
	F4(rcl, COUNT, CF | SF | ZF | PF | AF), F4(rcr, COUNT, CF | SF | ZF | PF | AF),
	{ "shl1_64", shl64, 64, COUNT1, ARITH & ~AF }, { "sar1_32", sar32, 32, COUNT1, ARITH & ~AF },
	{ "rcl1_16", rcl16, 16, COUNT1, ARITH }, { "ror1_8", ror8, 8, COUNT1, ARITH },
	F3(shld, COUNT, CF | SF | ZF | PF), F3(shrd, COUNT, CF | SF | ZF | PF),
	F3(imul, PLAIN, CF | OF),
	F4(mul, MUL, CF | OF), F4(imul1_, MUL, CF | OF),
	F4(div, DIV, 0), F4(idiv, IDIV, 0),
	F3(bt, PLAIN, CF), F3(bts, PLAIN, CF), F3(btr, PLAIN, CF), F3(btc, PLAIN, CF),
	F3(bsf, NONZERO, ZF), F3(bsr, NONZERO, ZF),
	F4(xadd, PLAIN, ARITH), F4(cmpxchg, CMPX, ARITH),
	{ "bswap32", bswap32, 32, PLAIN, ARITH }, { "bswap64", bswap64, 64, PLAIN, ARITH },
	{ "movsbq", movsbq, 64, PLAIN, 0 }, { "movswq", movswq, 64, PLAIN, 0 },
	{ "movslq", movslq, 64, PLAIN, 0 }, { "movzbq", movzbq, 64, PLAIN, 0 },
	{ "movzwq", movzwq, 64, PLAIN, 0 }, { "movsbw", movsbw, 16, PLAIN, 0 },
	{ "movzbl", movzbl, 32, PLAIN, 0 }, { "mov32", mov32, 32, PLAIN, 0 },
	{ "cbw", cbw, 16, PLAIN, ARITH }, { "cwde", cwde, 32, PLAIN, ARITH },
	{ "cdqe", cdqe, 64, PLAIN, ARITH }, { "cwd", cwd, 16, PLAIN, ARITH },
	{ "cdq", cdq, 32, PLAIN, ARITH }, { "cqo", cqo, 64, PLAIN, ARITH },
	{ "lahf", lahf, 64, PLAIN, ARITH }, { "sahf", sahf, 64, PLAIN, ARITH },
	CC_LIST(FCC)
	{ "rep_movsb", rep_movsb, 8, PLAIN, ARITH }, { "rep_movsq", rep_movsq, 64, PLAIN, ARITH },
	{ "rep_stosb", rep_stosb, 8, PLAIN, ARITH }, { "rep_stosl", rep_stosl, 32, PLAIN, ARITH },
	{ "repe_cmpsb", repe_cmpsb, 8, PLAIN, ARITH },
	{ "repne_scasb", repne_scasb, 8, PLAIN, ARITH }, { "lodsw", lodsw, 16, PLAIN, ARITH },
};

/* ---- inputs and digests ------------------------------------------------ */

static const uint64_t edges[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
	0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xffffffffffffffffull, 0x123456789abcdef0ull,
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))
#define NRANDOM 48

static uint64_t size_mask(unsigned size)
{
	return size == 64 ? ~0ull : (1ull << size) - 1;
}

static int64_t sext(uint64_t v, unsigned size)
{
	unsigned s = 64 - size;
	return (int64_t)(v << s) >> s;
}

/* Make the operands fit the form; false to skip this pair. */
static bool shape(const struct form *fm, struct io *io, uint64_t extra)
{
	uint64_t m = size_mask(fm->size);

	io->r2 = extra;
	switch (fm->shape) {
	case PLAIN:
	case MUL:
		return true;
	case COUNT:
		io->b = 1 + io->b % (fm->size - 1);
		return true;
	case COUNT1:
		io->b = 1;
		return true;
	case NONZERO:
		return (io->b & m) != 0;
	case CMPX:
		if (extra & 1)
			io->r2 = io->a; /* comparand equal: the exchange happens */
		return true;
	case DIV: {
		uint64_t d = io->b & m;
		if (!d)
			return false;
		if (fm->size == 8) { /* AX / r8: AH must be below the divisor */
			io->a = (io->a & ~0xffffull) | (((extra & 0xff) % d) << 8) | (io->a & 0xff);
		} else {
			io->r2 = (extra & m) % d; /* high half below the divisor */
		}
		return true;
	}
	case IDIV: {
		int64_t d = sext(io->b, fm->size), n = sext(io->a, fm->size);
		/* |n / d| <= |n| fits, except MIN / -1. */
		if (d == 0 || (d == -1 && n == sext(1ull << (fm->size - 1), fm->size)))
			return false;
		/* The dividend is n sign-extended to twice the width. */
		if (fm->size == 8)
			io->a = (io->a & ~0xffffull) | ((uint64_t)(int16_t)n & 0xffff);
		else
			io->r2 = (extra & ~m) | ((uint64_t)(n < 0 ? -1 : 0) & m);
		return true;
	}
	}
	return true;
}

int guest_main(void *bp)
{
	unsigned nforms = sizeof(forms) / sizeof(forms[0]);
	uint64_t all = 0xcbf29ce484222325ull;

	printf("insn: %u forms\n", nforms);
	for (unsigned k = 0; k < nforms; k++) {
		const struct form *fm = &forms[k];
		uint64_t h = 0xcbf29ce484222325ull, rng = 0x2545f4914f6cdd1dull + k;
		unsigned runs = 0;
		for (unsigned i = 0; i < NEDGES * NEDGES + NRANDOM; i++) {
			struct io io = { 0 };
			if (i < NEDGES * NEDGES) {
				io.a = edges[i / NEDGES];
				io.b = edges[i % NEDGES];
			} else {
				io.a = xorshift64(&rng);
				io.b = xorshift64(&rng);
			}
			uint64_t extra = xorshift64(&rng);
			io.fin = xorshift64(&rng) & FL_IN_MASK;
			io.size = fm->size;
			if (!shape(fm, &io, extra))
				continue;
			uint64_t a_in = io.a, b_in = io.b, r2_in = io.r2;
			fm->fn(&io);
			h = mix(h, a_in);
			h = mix(h, b_in);
			h = mix(h, r2_in);
			h = mix(h, io.r);
			h = mix(h, io.r2);
			h = mix(h, io.fout & fm->flags);
			runs++;
		}
		printf("insn %s %016lx %u\n", fm->name, h, runs);
		all = mix(all, h);
	}
	printf("insn all %016lx\n", all);
	return 0;
}
