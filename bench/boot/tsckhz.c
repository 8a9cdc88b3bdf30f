/* tsckhz: the host's TSC frequency in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * QEMU's TCG reads the guest's TSC from the host's (cpu_get_host_ticks: rdtsc
 * on x86-64), so the guest's true TSC rate is the host's. boot.sh gives it
 * to QEMU's guest as tsc_early_khz= so Linux does not calibrate against the
 * PIT, which can hang a boot on a slow CPU (DESIGN.md). Three 100 ms
 * windows; prints the median, rounded to kHz. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double raw_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	double khz[3];

	for (int i = 0; i < 3; i++) {
		double t0 = raw_s();
		uint64_t c0 = __rdtsc();
		struct timespec d = { 0, 100 * 1000 * 1000 };

		nanosleep(&d, NULL);
		double t1 = raw_s();
		uint64_t c1 = __rdtsc();
		khz[i] = (double)(c1 - c0) / (t1 - t0) / 1e3;
	}
	/* median of three */
	double a = khz[0], b = khz[1], c = khz[2];
	double m = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
	printf("%.0f\n", m);
	return 0;
}
