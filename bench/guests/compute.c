/* compute: the compute-bound benchmark's guest (bench/compute.sh).
 *
 * Three workloads that are nothing but CPU (no I/O, no interrupts: IF stays
 * clear), each framed by two UART lines the benchmark timestamps from
 * outside:
 *
 *   crc-bit   CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320) of a
 *             buffer, one bit at a time: shifts, xors, a data-dependent
 *             branch
 *   crc-table the same CRC of the same buffer, a 256-entry table per byte:
 *             loads, shifts, xors
 *   sort      heap sort of pseudo-random 32-bit values: compares, swaps,
 *             unpredictable branches, memory traffic
 *
 * The buffer and the values come from xorshift32 (Marsaglia 2003) seeded
 * with 1, so bench/compute.sh recomputes every expected result on the host.
 * reps=N on the command line scales the work: the bitwise CRC runs over the
 * buffer N times in a row (the CRC of N copies), the table CRC, about eight
 * times faster per byte, 8N times, the sort sorts N fresh sets of values
 * (drawn on from the same generator) and sums them all.
 * Output:
 *
 *   BEGIN <name>
 *   END <name> <result>
 *
 * where <result> is the CRC in hex, or for the sort a position-weighted sum
 * of the sorted values (sum of (i + 1) * v[i] mod 2^64) after the guest
 * checked the order itself.
 *
 * One ELF, two ways in: isola's ELF64 boot contract enters e_entry (the test
 * guests' crt0, 64-bit); QEMU's -kernel takes the PVH entry (pvh.S, 32-bit
 * protected mode), which switches to long mode and joins crt0. The command
 * line comes from boot_params or from PVH's hvm_start_info. only=NAME runs
 * one workload (only=none: the set-up alone), which the benchmark uses to
 * count each workload's instructions apart on isola. */
#include "rt/lib.h"

#define CRC_BYTES  (1u << 20)   /* 1 MiB */
#define SORT_COUNT (1u << 18)   /* 256 Ki values, 1 MiB */

static uint8_t buf[CRC_BYTES];
static uint32_t vals[SORT_COUNT];
static uint32_t crc_table[256];

static uint32_t xs32(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

extern uint64_t pvh_start_info;

static uint32_t crc_bitwise(uint32_t c, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return c;
}

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_tabled(uint32_t c, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c;
}

static void sift_down(uint32_t *a, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		uint32_t t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

static void heap_sort(uint32_t *a, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (uint32_t end = n; end-- > 1;) {
		uint32_t t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift_down(a, 0, end);
	}
}

static bool wanted(const char *only, const char *name)
{
	size_t n = strlen(name);
	return !*only || (strncmp(only, name, n) == 0 && (only[n] == '\0' || only[n] == ' '));
}

/* hvm_start_info.cmdline_paddr (offset 24); the first GiB is identity-mapped. */
static const char *pvh_cmdline(void)
{
	if (!pvh_start_info || pvh_start_info >= (1ull << 30) - 24)
		return "";
	uint64_t pa = *(const volatile uint64_t *)(pvh_start_info + 24);
	return pa && pa < (1ull << 30) - 4096 ? (const char *)pa : "";
}

static uint64_t param(const char *cl, const char *key, uint64_t dflt)
{
	size_t n = strlen(key);
	for (const char *p = cl; *p; p++) {
		if (strncmp(p, key, n) || p[n] != '=' || (p != cl && p[-1] != ' '))
			continue;
		uint64_t v = 0;
		for (p += n + 1; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		return v;
	}
	return dflt;
}

int guest_main(void *bp)
{
	/* crt0 passes boot_params (isola); the PVH path passes NULL. */
	const char *cl = bp ? cmdline_get(bp) : pvh_cmdline();
	const char *only = "";
	uint32_t s = 1, crc1 = 0, crc2 = 0;
	uint64_t reps = param(cl, "reps", 1);

	for (const char *p = cl; *p; p++)
		if (strncmp(p, "only=", 5) == 0 && (p == cl || p[-1] == ' '))
			only = p + 5;
	if (reps < 1 || reps > 1000)
		fail("reps=%llu: 1..1000", (unsigned long long)reps);

	for (uint32_t i = 0; i < CRC_BYTES; i++)
		buf[i] = (uint8_t)xs32(&s);
	crc_table_init();
	printf("compute: ready, reps=%llu\n", (unsigned long long)reps);

	if (wanted(only, "crc-bit")) {
		puts("BEGIN crc-bit\n");
		uint32_t c = 0xffffffffu;
		for (uint64_t r = 0; r < reps; r++)
			c = crc_bitwise(c, buf, CRC_BYTES);
		crc1 = ~c;
		printf("END crc-bit %08x\n", crc1);
	}
	if (wanted(only, "crc-table")) {
		puts("BEGIN crc-table\n");
		uint32_t c = 0xffffffffu;
		for (uint64_t r = 0; r < 8 * reps; r++)
			c = crc_tabled(c, buf, CRC_BYTES);
		crc2 = ~c;
		printf("END crc-table %08x\n", crc2);
	}
	if (wanted(only, "sort")) {
		puts("BEGIN sort\n");
		uint64_t sum = 0;
		for (uint64_t r = 0; r < reps; r++) {
			for (uint32_t i = 0; i < SORT_COUNT; i++)
				vals[i] = xs32(&s);
			heap_sort(vals, SORT_COUNT);
			for (uint32_t i = 0; i < SORT_COUNT; i++) {
				if (i && vals[i - 1] > vals[i])
					fail("not sorted at %u", i);
				sum += (uint64_t)(i + 1) * vals[i];
			}
		}
		printf("END sort %016llx\n", (unsigned long long)sum);
	}
	/* Linger before the exit, so the last END line reaches the benchmark
	 * while the vCPU thread still lives (its CPU time is read then:
	 * /proc/PID/task/TID/schedstat is gone once the thread is). */
	for (volatile uint32_t i = 0; i < (1u << 21); i++)
		;
	return 0;
}
