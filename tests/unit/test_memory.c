/* Guest memory layout and the bounds-checked accessors. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "memory.h"
#include "unit.h"

TEST(memory_layout_small)
{
	struct guest_mem m;
	CHECK_EQ(gm_init(&m, 256ull << 20), 0);
	CHECK_EQ(m.nr_regions, 1);
	CHECK_EQ(m.region[0].gpa, 0);
	CHECK_EQ(gm_ram_end(&m), 256ull << 20);
	gm_destroy(&m);
}

TEST(memory_layout_hole)
{
	struct guest_mem m;
	CHECK_EQ(gm_init(&m, 5ull << 30), 0);
	CHECK_EQ(m.nr_regions, 2);
	CHECK_EQ(m.region[0].size, GM_MMIO_HOLE_START);
	CHECK_EQ(m.region[1].gpa, GM_4G);
	CHECK_EQ(m.region[1].size, (5ull << 30) - GM_MMIO_HOLE_START);
	CHECK(gm_ptr(&m, GM_MMIO_HOLE_START, 1) == NULL);  /* the hole is not RAM */
	CHECK(gm_ptr(&m, GM_MMIO_HOLE_START - 8, 8) != NULL);
	CHECK(gm_ptr(&m, GM_MMIO_HOLE_START - 8, 9) == NULL); /* runs into the hole */
	CHECK(gm_ptr(&m, GM_4G, 4096) != NULL);
	gm_destroy(&m);
}

TEST(memory_bad_sizes)
{
	struct guest_mem m;
	CHECK(gm_init(&m, 0) < 0);
	CHECK(gm_init(&m, 4097) < 0);
}

TEST(memory_bounds)
{
	struct guest_mem m;
	uint64_t sz = 1 << 20;
	CHECK_EQ(gm_init(&m, sz), 0);
	uint8_t buf[16] = { 1, 2, 3 };
	CHECK(gm_ptr(&m, 0, 0) == NULL);                 /* empty range refused */
	CHECK(gm_ptr(&m, sz - 1, 1) != NULL);
	CHECK(gm_ptr(&m, sz - 1, 2) == NULL);
	CHECK(gm_ptr(&m, sz, 1) == NULL);
	CHECK(gm_ptr(&m, UINT64_MAX, 1) == NULL);
	CHECK(gm_ptr(&m, 16, UINT64_MAX) == NULL);       /* gpa + len overflows */
	CHECK(gm_ptr(&m, UINT64_MAX - 3, 8) == NULL);
	CHECK_EQ(gm_write(&m, sz - 16, buf, 16), 0);
	CHECK_EQ(gm_write(&m, sz - 15, buf, 16), -EFAULT);
	uint8_t out[16];
	memset(out, 0xee, sizeof(out));
	CHECK_EQ(gm_read(&m, sz - 8, out, 16), -EFAULT);
	CHECK_EQ(out[0], 0xee);                            /* nothing copied on failure */
	CHECK_EQ(gm_read(&m, sz - 16, out, 16), 0);
	CHECK(memcmp(out, buf, 16) == 0);
	gm_destroy(&m);
}

static uint64_t hook_gpa, hook_len;
static void hook(void *opaque, uint64_t gpa, uint64_t len)
{
	hook_gpa = gpa;
	hook_len = len;
}

TEST(memory_write_hook)
{
	struct guest_mem m;
	CHECK_EQ(gm_init(&m, 1 << 20), 0);
	m.on_write = hook;
	uint32_t v = 0x12345678;
	CHECK_EQ(gm_write(&m, 0x1000, &v, 4), 0);
	CHECK_EQ(hook_gpa, 0x1000);
	CHECK_EQ(hook_len, 4);
	gm_destroy(&m);
}
