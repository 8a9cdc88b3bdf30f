/* Memory map and RAM probe.
 *
 * Checks that the e820 map isola hands over (boot_params) describes exactly
 * the RAM it was given — "expect_mem=<bytes>" on the command line — laid out
 * the way isola promises: RAM from 0 up to 3 GiB, the rest from 4 GiB, nothing
 * usable in the [3 GiB, 4 GiB) MMIO hole, no overlaps. Then it writes and
 * verifies RAM: one address-derived word per stride (4 KiB by default,
 * "stride=" overrides) over all usable RAM above the guest image, which also
 * catches aliasing (two guest pages backed by one host page), and a dense
 * word-by-word check at the bottom and the top of RAM ("dense=", default
 * 1 MiB each). */
#include "rt/lib.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define HOLE_START (3 * GIB)
#define HOLE_END (4 * GIB)
#define DENSE_DEFAULT MIB /* at each end; "dense=" overrides */

/* Different for every address and every salt, and cheap: on kvm over PVM
 * every guest instruction here is emulated, so the dense loops must stay a
 * few instructions long. A model that drops writes or reads all-ones fails. */
static inline uint64_t pattern(uint64_t addr, uint64_t salt)
{
	return (addr * 0x9e3779b97f4a7c15ull) ^ salt;
}

struct range {
	uint64_t start, end;
};

/* The usable RAM above the image, in e820 order (isola sorts it). */
static struct range ranges[E820_MAX_ENTRIES];
static unsigned nranges;

static int check_map(const void *bp, uint64_t *ram_total)
{
	unsigned n = e820_count(bp);
	uint64_t above_1m = 0;
	bool low_ram = false;

	if (n == 0) {
		printf("e820 map is empty\n");
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct e820_entry e = e820_get(bp, i);
		if (e.size == 0 || e.addr + e.size < e.addr) {
			printf("e820 entry %u has a bad size\n", i);
			return -1;
		}
		for (unsigned j = 0; j < i; j++) {
			struct e820_entry o = e820_get(bp, j);
			if (e.addr < o.addr + o.size && o.addr < e.addr + e.size) {
				printf("e820 entries %u and %u overlap\n", j, i);
				return -1;
			}
		}
		if (e.type != E820_RAM)
			continue;
		if (e.addr < HOLE_END && e.addr + e.size > HOLE_START) {
			printf("e820 entry %u puts RAM in the MMIO hole\n", i);
			return -1;
		}
		if (e.addr == 0)
			low_ram = true;
		uint64_t s = e.addr < MIB ? MIB : e.addr;
		if (e.addr + e.size > s)
			above_1m += e.addr + e.size - s;
	}
	if (!low_ram) {
		printf("no usable RAM at address 0\n");
		return -1;
	}
	/* isola backs the whole first MiB with RAM (some of it is marked
	 * reserved for the BIOS area and ACPI tables), so the RAM it was given
	 * is that MiB plus every usable byte above it. */
	*ram_total = MIB + above_1m;
	return 0;
}

static void collect_ranges(const void *bp)
{
	uint64_t floor = (uint64_t)__image_end;

	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		uint64_t s = e.addr, end = e.addr + e.size;
		if (e.type != E820_RAM || end <= floor)
			continue;
		if (s < floor)
			s = floor;
		s = (s + 7) & ~7ull;
		end &= ~7ull;
		if (end > s)
			ranges[nranges++] = (struct range){ s, end };
	}
}

static int stride_test(uint64_t stride, uint64_t salt, uint64_t *words)
{
	uint64_t n = 0;

	for (unsigned r = 0; r < nranges; r++)
		for (uint64_t a = ranges[r].start; a + 8 <= ranges[r].end; a += stride)
			mmio_write64(a, pattern(a, salt));
	for (unsigned r = 0; r < nranges; r++) {
		for (uint64_t a = ranges[r].start; a + 8 <= ranges[r].end; a += stride) {
			uint64_t got = mmio_read64(a), want = pattern(a, salt);
			if (got != want) {
				printf("stride: at 0x%lx read 0x%016lx, wrote 0x%016lx\n", a, got,
				       want);
				return -1;
			}
			n++;
		}
	}
	*words = n;
	return 0;
}

static int dense_test(uint64_t start, uint64_t end, uint64_t salt)
{
	for (uint64_t a = start; a < end; a += 8)
		mmio_write64(a, pattern(a, salt));
	for (uint64_t a = start; a < end; a += 8) {
		uint64_t got = mmio_read64(a), want = pattern(a, salt);
		if (got != want) {
			printf("dense: at 0x%lx read 0x%016lx, wrote 0x%016lx\n", a, got, want);
			return -1;
		}
	}
	/* Byte writes must land in the right byte of the word. */
	for (uint64_t a = start; a < start + 4096 && a < end; a++)
		mmio_write8(a, (uint8_t)(a * 7 + 1));
	for (uint64_t a = start; a < start + 4096 && a < end; a++)
		if (mmio_read8(a) != (uint8_t)(a * 7 + 1)) {
			printf("dense: byte at 0x%lx is 0x%02x\n", a, mmio_read8(a));
			return -1;
		}
	return 0;
}

int guest_main(void *bp)
{
	uint64_t expect = 0, ram = 0, stride = 4096, words = 0, dense = DENSE_DEFAULT;

	printf("memprobe: command line \"%s\"\n", cmdline_get(bp));
	e820_print(bp);
	if (!cmdline_u64(bp, "expect_mem", &expect))
		fail("no expect_mem=<bytes> on the command line");
	if (cmdline_u64(bp, "stride", &stride) && (stride < 8 || stride % 8))
		fail("stride must be a multiple of 8");
	if (cmdline_u64(bp, "dense", &dense) && dense % 8)
		fail("dense must be a multiple of 8");
	if (check_map(bp, &ram))
		fail("bad e820 map");
	printf("RAM in e820: %lu bytes (%lu MiB), expected %lu\n", ram, ram / MIB, expect);
	if (ram != expect)
		fail("e820 describes %lu bytes of RAM, isola was given %lu", ram, expect);

	/* Where it is: RAM up to min(size, 3 GiB), the rest from 4 GiB. */
	uint64_t low_top = 0, high_top = 0;
	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		uint64_t end = e.addr + e.size;
		if (e.type != E820_RAM)
			continue;
		if (e.addr < HOLE_END && end > low_top)
			low_top = end;
		if (e.addr >= HOLE_END && end > high_top)
			high_top = end;
	}
	uint64_t want_low = expect < HOLE_START ? expect : HOLE_START;
	uint64_t want_high = expect > HOLE_START ? HOLE_END + (expect - HOLE_START) : 0;
	if (low_top != want_low || high_top != want_high)
		fail("RAM ends at 0x%lx below 4 GiB and 0x%lx above; expected 0x%lx and 0x%lx",
		     low_top, high_top, want_low, want_high);

	collect_ranges(bp);
	if (nranges == 0)
		fail("no usable RAM above the image at %p", (void *)__image_end);
	uint64_t top_start = ranges[nranges - 1].start, top_end = ranges[nranges - 1].end;
	printf("testing RAM above 0x%lx, stride %lu, dense %lu at each end, top of RAM 0x%lx\n",
	       (uint64_t)__image_end, stride, dense, top_end);

	if (stride_test(stride, 0x1234, &words))
		fail("stride pattern mismatch");
	/* A second salt: a model that returns what was written last to any
	 * address (one shared page) passes the first pass only by luck. */
	if (stride_test(stride, 0xabcdef, &words))
		fail("stride pattern mismatch (second pass)");
	printf("stride test: %lu words verified twice\n", words);

	uint64_t lo_end = ranges[0].start + dense;
	if (lo_end > ranges[0].end)
		lo_end = ranges[0].end;
	if (dense_test(ranges[0].start, lo_end, 0x55))
		fail("dense check at the bottom of RAM failed");
	uint64_t hi_start = top_end > dense ? top_end - dense : 0;
	if (hi_start < top_start)
		hi_start = top_start;
	if (hi_start < lo_end)
		hi_start = lo_end;
	if (hi_start < top_end && dense_test(hi_start, top_end, 0xaa))
		fail("dense check at the top of RAM failed");
	printf("dense test: [0x%lx, 0x%lx) and [0x%lx, 0x%lx) verified\n", ranges[0].start,
	       lo_end, hi_start, top_end);
	return 0;
}
