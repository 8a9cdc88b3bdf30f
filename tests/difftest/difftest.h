/* Differential testing of the soft CPU against the host CPU (issue 3, oracle 3).
 *
 * gen*.c generate a seeded random user-mode instruction sequence; native.c
 * runs it on the host in this process, soft.c on a soft vCPU at CPL 3; both
 * start from the same state with the same scratch page at the same linear
 * address and stop at the UD2 that ends every sequence (or at the first
 * fault). difftest.c compares the two final states. */
#ifndef ISOLA_DIFFTEST_H
#define ISOLA_DIFFTEST_H

#include <stdbool.h>
#include <stdint.h>

/* Fixed linear addresses, the same in the host process (MAP_FIXED) and in
 * the guest (identity-mapped by the unit-test harness' page tables). */
#define DT_CODE_VA    ((uint64_t)0x800000)
#define DT_SCRATCH_VA ((uint64_t)0x900000)
#define DT_SCRATCH_SZ 4096
#define DT_CODE_SZ    4096
/* Scratch page layout: data operands, string buffers, stack. */
#define DT_DATA_OFF   0
#define DT_DATA_SZ    2048
#define DT_STR_OFF    2048
#define DT_STR_SZ     1024
#define DT_STACK_TOP  3840 /* initial RSP offset; pushes and pops stay in 3072..4095 */

/* How a run ended: the vector of the exception that stopped it (#UD is the
 * UD2 at the end), DT_VEC_MEM for any memory fault (#GP/#PF/#SS natively
 * all arrive as SIGSEGV/SIGBUS), -1 if the runner failed. */
#define DT_VEC_DE  0
#define DT_VEC_UD  6
#define DT_VEC_MF  16
#define DT_VEC_XM  19
#define DT_VEC_MEM 100

struct dt_state {
	uint64_t gpr[16];  /* X86_RAX... order */
	uint64_t rip;      /* 128 */
	uint64_t rflags;   /* 136 */
	uint8_t xmm[16][16]; /* 144 */
	uint32_t mxcsr;    /* 400 */
	int vector;        /* 404 */
	uint8_t scratch[DT_SCRATCH_SZ];
	/* x87 (FXSAVE image fields): FCW, FSW, the abridged tag byte,
	 * ST(0)..ST(7). FOP, FIP and FDP are not compared (KNOWN.md "Not a
	 * bug" 2). */
	uint16_t fcw, fsw;
	uint8_t ftw;
	uint8_t st[8][10];
};

enum dt_group {
	G_ALU, G_SHIFT, G_MULDIV, G_BIT, G_STRING, G_STACK, G_SSE_INT, G_SSE_FP, G_X87, G_MMX,
	G_NR
};
extern const char *const dt_group_name[G_NR];

#define DT_MAX_INSNS 160
struct dt_seq {
	uint8_t code[DT_CODE_SZ];
	unsigned len;              /* bytes, including the final UD2 */
	unsigned n;                /* instructions, including the UD2 */
	uint16_t off[DT_MAX_INSNS];
	/* Arithmetic flags whose value is undefined after instruction i
	 * (undef_after[i]); before the first one, none. */
	uint32_t undef_after[DT_MAX_INSNS];
	struct dt_state init;
};

/* Generate case `index` of `seed` in group g (g < 0: the index picks one).
 * excl_known: leave out the forms listed in KNOWN.md (the CI run). */
void dt_generate(uint64_t seed, uint64_t index, int g, bool excl_known, struct dt_seq *s);
int dt_case_group(uint64_t index, int g);
/* known.c: is this instruction a form KNOWN.md lists as a soft bug? */
bool dt_known_bug(const uint8_t *p, unsigned len);

int dt_native_init(void);
int dt_native_run(const struct dt_seq *s, struct dt_state *out);
int dt_soft_init(void);
int dt_soft_run(const struct dt_seq *s, struct dt_state *out);

#endif
