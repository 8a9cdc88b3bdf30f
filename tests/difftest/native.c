/* The host CPU as the oracle: run a generated sequence in this process.
 *
 * dt_enter (below) loads the x87 state (FXRSTOR64), every GPR including
 * RSP, the arithmetic flags and DF (POPFQ), XMM0-15 and MXCSR from a state
 * block and jumps to the code page at DT_CODE_VA. The sequence ends in
 * UD2, so it always stops in a signal: SIGILL (the end, or a #UD), SIGFPE
 * (#DE, #MF, #XM), SIGSEGV/SIGBUS (a stray access). The handler runs on its own stack (RSP points into the scratch
 * page), takes the final state from the signal's ucontext and siglongjmps
 * back; the code in between needs no epilogue. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <xmmintrin.h>

#include "difftest.h"

_Static_assert(offsetof(struct dt_state, rip) == 128, "dt_enter offsets");
_Static_assert(offsetof(struct dt_state, rflags) == 136, "dt_enter offsets");
_Static_assert(offsetof(struct dt_state, xmm) == 144, "dt_enter offsets");
_Static_assert(offsetof(struct dt_state, mxcsr) == 400, "dt_enter offsets");

void dt_enter(const struct dt_state *s) __attribute__((noreturn));
__asm__(".text\n"
	".globl dt_enter\n"
	".type dt_enter,@function\n"
	"dt_enter:\n"
	"	fxrstor64 dt_fx(%rip)\n"
	"	ldmxcsr 400(%rdi)\n"
	"	movdqu 144+0*16(%rdi), %xmm0\n"
	"	movdqu 144+1*16(%rdi), %xmm1\n"
	"	movdqu 144+2*16(%rdi), %xmm2\n"
	"	movdqu 144+3*16(%rdi), %xmm3\n"
	"	movdqu 144+4*16(%rdi), %xmm4\n"
	"	movdqu 144+5*16(%rdi), %xmm5\n"
	"	movdqu 144+6*16(%rdi), %xmm6\n"
	"	movdqu 144+7*16(%rdi), %xmm7\n"
	"	movdqu 144+8*16(%rdi), %xmm8\n"
	"	movdqu 144+9*16(%rdi), %xmm9\n"
	"	movdqu 144+10*16(%rdi), %xmm10\n"
	"	movdqu 144+11*16(%rdi), %xmm11\n"
	"	movdqu 144+12*16(%rdi), %xmm12\n"
	"	movdqu 144+13*16(%rdi), %xmm13\n"
	"	movdqu 144+14*16(%rdi), %xmm14\n"
	"	movdqu 144+15*16(%rdi), %xmm15\n"
	"	pushq 136(%rdi)\n"
	"	popfq\n"
	"	mov 0*8(%rdi), %rax\n"
	"	mov 1*8(%rdi), %rcx\n"
	"	mov 2*8(%rdi), %rdx\n"
	"	mov 3*8(%rdi), %rbx\n"
	"	mov 4*8(%rdi), %rsp\n"
	"	mov 5*8(%rdi), %rbp\n"
	"	mov 6*8(%rdi), %rsi\n"
	"	mov 8*8(%rdi), %r8\n"
	"	mov 9*8(%rdi), %r9\n"
	"	mov 10*8(%rdi), %r10\n"
	"	mov 11*8(%rdi), %r11\n"
	"	mov 12*8(%rdi), %r12\n"
	"	mov 13*8(%rdi), %r13\n"
	"	mov 14*8(%rdi), %r14\n"
	"	mov 15*8(%rdi), %r15\n"
	"	mov 7*8(%rdi), %rdi\n"
	"	jmp *dt_code_target(%rip)\n"
	".size dt_enter, .-dt_enter\n"
	".data\n"
	".globl dt_code_target\n"
	"dt_code_target: .quad 0x800000\n"
	".text\n");

/* The initial x87 state for dt_enter's FXRSTOR64 (XMM and MXCSR are
 * loaded after it). */
uint8_t dt_fx[512] __attribute__((aligned(16)));

static sigjmp_buf dt_jb;
static struct dt_state *dt_out;
static uint8_t *dt_code, *dt_scratch;

/* ucontext gregs index for each X86_R* register. */
static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void on_signal(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct dt_state *o = dt_out;
	for (int i = 0; i < 16; i++)
		o->gpr[i] = (uint64_t)uc->uc_mcontext.gregs[greg_of[i]];
	o->rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	o->rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	memcpy(o->xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(o->xmm));
	o->mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	o->fcw = uc->uc_mcontext.fpregs->cwd;
	o->fsw = uc->uc_mcontext.fpregs->swd;
	o->ftw = (uint8_t)uc->uc_mcontext.fpregs->ftw;
	for (int i = 0; i < 8; i++)
		memcpy(o->st[i], &uc->uc_mcontext.fpregs->_st[i], 10);
	/* SIGFPE: #DE, #MF or #XM, as the trap number says. */
	if (sig == SIGFPE)
		o->vector = uc->uc_mcontext.gregs[REG_TRAPNO] == 16   ? DT_VEC_MF :
			    uc->uc_mcontext.gregs[REG_TRAPNO] == 19   ? DT_VEC_XM :
			    si->si_code == FPE_INTDIV || si->si_code == FPE_INTOVF ? DT_VEC_DE
										    : DT_VEC_XM;
	else
		o->vector = sig == SIGILL ? DT_VEC_UD : DT_VEC_MEM;
	siglongjmp(dt_jb, 1);
}

int dt_native_init(void)
{
	dt_code = mmap((void *)DT_CODE_VA, DT_CODE_SZ, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	dt_scratch = mmap((void *)DT_SCRATCH_VA, DT_SCRATCH_SZ, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (dt_code != (void *)DT_CODE_VA || dt_scratch != (void *)DT_SCRATCH_VA) {
		fprintf(stderr, "difftest: cannot map code/scratch at their fixed addresses\n");
		return -EADDRINUSE;
	}
	static uint8_t altstack[64 * 1024] __attribute__((aligned(16)));
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	if (sigaltstack(&ss, NULL))
		return -errno;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGILL, SIGFPE, SIGSEGV, SIGBUS };
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	return 0;
}

int dt_native_run(const struct dt_seq *s, struct dt_state *out)
{
	memcpy(dt_code, s->code, s->len);
	memcpy(dt_scratch, s->init.scratch, DT_SCRATCH_SZ);
	__builtin___clear_cache((char *)dt_code, (char *)dt_code + s->len);
	memset(out, 0, sizeof(*out));
	memset(dt_fx, 0, sizeof(dt_fx));
	memcpy(dt_fx + 0, &s->init.fcw, 2);
	memcpy(dt_fx + 2, &s->init.fsw, 2);
	dt_fx[4] = s->init.ftw;
	for (int i = 0; i < 8; i++)
		memcpy(dt_fx + 32 + 16 * i, s->init.st[i], 10);
	uint32_t mx = 0x1f80;
	memcpy(dt_fx + 24, &mx, 4);
	out->vector = -1;
	dt_out = out;
	if (sigsetjmp(dt_jb, 0) == 0)
		dt_enter(&s->init);
	/* Back from the handler: C code wants the default MXCSR. */
	_mm_setcsr(0x1f80);
	memcpy(out->scratch, dt_scratch, DT_SCRATCH_SZ);
	return 0;
}
