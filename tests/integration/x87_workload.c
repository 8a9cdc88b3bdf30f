/* An x87 workload for Linux guests: glibc's long double code and inline x87,
 * printing text that must be byte-identical in a guest on the soft CPU and
 * natively on the host (the same static binary, the same x86-64 FPU
 * semantics). Busybox reaches no x87 arithmetic (tests/integration/
 * health_workload.sh), this does:
 *
 *   fmodl, remainderl     FPREM, FPREM1 loops (glibc e_fmodl.S, e_remainderl.S)
 *   sinl, cosl, tanl,     FSIN/FCOS/FPTAN/FPATAN, F2XM1/FSCALE/FYL2X
 *   atan2l, expl, logl,   (glibc's x86-64 long double libm is x87 code)
 *   powl, sqrtl, cbrtl
 *   printf %Lf %La %Lg    long double formatting (FILD/FISTP/FMUL...)
 *   strtold, lrintl,      FLD m80, FISTP m64 under each rounding mode
 *   fesetround            FLDCW/FNSTCW
 *   feclearexcept,        FNCLEX, FNSTSW: the exception flags an operation
 *   fetestexcept          sets
 *   inline asm            FNSAVE/FRSTOR round trip, FXAM classes, FCOMI,
 *                         FCMOV, FBSTP, and an unmasked divide-by-zero that
 *                         must arrive as SIGFPE (#MF) at the next waiting
 *                         instruction, with FE_DIVBYZERO in si_code
 *
 * Build: gcc -O1 -static -o x87_workload tests/integration/x87_workload.c -lm
 * Run it natively and in the guest; the outputs must be equal. */
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bits(const char *what, long double x)
{
	uint64_t m;
	uint16_t se;
	memcpy(&m, &x, 8);
	memcpy(&se, (char *)&x + 8, 2);
	printf("%-10s %04x_%016llx %.21Lg\n", what, se, (unsigned long long)m, x);
}

static sigjmp_buf jb;
static volatile int fpe_code;

static void on_fpe(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fpe_code = si->si_code;
	siglongjmp(jb, 1);
}

int main(void)
{
	volatile long double a = 10.0L, b = 3.3L, big = 1e300L * 1e300L, t = 0.7L;

	bits("fmodl", fmodl(a, b));
	bits("fmodl-big", fmodl(big, b));
	bits("remainderl", remainderl(a, b));
	bits("sinl", sinl(t));
	bits("sinl-big", sinl(1e22L));
	bits("cosl", cosl(t));
	bits("tanl", tanl(t));
	bits("atan2l", atan2l(t, -b));
	bits("expl", expl(t * 10));
	bits("logl", logl(b));
	bits("powl", powl(b, t));
	bits("sqrtl", sqrtl(2.0L));
	bits("cbrtl", cbrtl(a));
	bits("1/3", 1.0L / (a - 7.0L));
	printf("%%Lf %Lf %.30Lf\n", a / b, 1.0L / 3);
	printf("%%La %La %Le %Lg\n", a / b, big, t);
	bits("strtold", strtold("3.14159265358979323846264338327950288", NULL));

	static const int modes[] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };
	for (int i = 0; i < 4; i++) {
		fesetround(modes[i]);
		volatile long double x = -2.5L, y = 1.0L / 3;
		printf("round %d: lrintl %ld %ld 1/3=%.25Lf\n", i, lrintl(x), lrintl(a / b), y * 3);
	}
	fesetround(FE_TONEAREST);

	feclearexcept(FE_ALL_EXCEPT);
	volatile long double z = 0.0L, r = a / z;
	printf("1/0 = %Lf, flags %#x\n", r, fetestexcept(FE_ALL_EXCEPT));
	feclearexcept(FE_ALL_EXCEPT);
	r = sqrtl(-a);
	printf("sqrtl(-10) = %Lf, flags %#x\n", r, fetestexcept(FE_ALL_EXCEPT));

	/* FNSAVE/FRSTOR keep the stack; FXAM classes; FCOMI and FCMOV. */
	uint8_t save[108];
	uint16_t sw[4];
	long double out[2];
	__asm__ volatile("fldpi\n\tfld1\n\tfnsave %0\n\tfldz\n\tfstp %%st(0)\n\tfrstor %0\n\t"
			 "fstpt %1\n\tfstpt %2"
			 : "=m"(save), "=m"(out[0]), "=m"(out[1]));
	bits("frstor-st0", out[0]);
	bits("frstor-st1", out[1]);
	const long double cls[4] = { 0.0L, -INFINITY, NAN, 1e-4940L };
	for (int i = 0; i < 4; i++)
		__asm__ volatile("fldt %1\n\tfxam\n\tfnstsw %0\n\tfstp %%st(0)"
				 : "=m"(sw[i]) : "m"(cls[i]));
	printf("fxam %#x %#x %#x %#x\n", sw[0] & 0x4700, sw[1] & 0x4700, sw[2] & 0x4700,
	       sw[3] & 0x4700);
	long double lo = 1.5L, hi = 2.5L, sel;
	__asm__ volatile("fldt %2\n\tfldt %1\n\tfcomi %%st(1), %%st\n\tfcmovb %%st(1), %%st\n\t"
			 "fstpt %0\n\tfstp %%st(0)"
			 : "=m"(sel) : "m"(lo), "m"(hi) : "cc");
	bits("fcmovb", sel);
	uint8_t bcd[10];
	long double dec = -123456789012345678.0L;
	__asm__ volatile("fldt %1\n\tfbstp %0" : "=m"(bcd) : "m"(dec));
	printf("fbstp");
	for (int i = 9; i >= 0; i--)
		printf(" %02x", bcd[i]);
	printf("\n");

	/* An unmasked divide-by-zero: nothing happens until the next waiting
	 * instruction, which takes #MF, delivered as SIGFPE. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fpe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGFPE, &sa, NULL);
	volatile int reached = 0;
	if (sigsetjmp(jb, 1) == 0) {
		uint16_t cw = 0x37b;
		__asm__ volatile("fldcw %0\n\tfld1\n\tfldz\n\tfdivrp" : : "m"(cw));
		reached = 1;
		__asm__ volatile("fwait");
		printf("no SIGFPE\n");
	}
	printf("SIGFPE si_code %d (FPE_FLTDIV %d), reached %d\n", fpe_code, FPE_FLTDIV, reached);
	return 0;
}
