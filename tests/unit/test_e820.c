/* e820 map built from the guest_mem layout (arch/x86/e820.c). */
#include <errno.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory.h"
#include "unit.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* Every map must be sorted, non-overlapping, describe exactly the RAM that
 * is mapped, and keep the BIOS area (ACPI tables) out of RAM. */
static void check_map_sane(const struct guest_mem *mem, const struct e820_entry *e, int n)
{
	uint64_t ram = 0;
	for (int i = 0; i < n; i++) {
		CHECK(e[i].size > 0);
		if (i > 0)
			CHECK(e[i - 1].addr + e[i - 1].size <= e[i].addr);
		if (e[i].type == E820_RAM) {
			CHECK(gm_is_ram(mem, e[i].addr, e[i].size));
			CHECK(e[i].addr + e[i].size <= LAYOUT_EBDA || e[i].addr >= LAYOUT_KERNEL);
			ram += e[i].size;
		}
	}
	/* All RAM but the reserved [EBDA, 1 MiB) is announced. */
	CHECK_EQ(ram, mem->ram_size - (LAYOUT_KERNEL - LAYOUT_EBDA));
}

static void check_low_entries(const struct e820_entry *e, uint64_t low_end)
{
	CHECK_EQ(e[0].addr, 0);
	CHECK_EQ(e[0].size, LAYOUT_EBDA);
	CHECK_EQ(e[0].type, E820_RAM);
	CHECK_EQ(e[1].addr, LAYOUT_EBDA);
	CHECK_EQ(e[1].addr + e[1].size, LAYOUT_KERNEL);
	CHECK_EQ(e[1].type, E820_RESERVED);
	CHECK_EQ(e[2].addr, LAYOUT_KERNEL);
	CHECK_EQ(e[2].addr + e[2].size, low_end);
	CHECK_EQ(e[2].type, E820_RAM);
}

static void check_kvm_pages(const struct e820_entry *e)
{
	CHECK_EQ(e->addr, LAYOUT_KVM_IDENTITY);
	CHECK_EQ(e->addr + e->size, LAYOUT_KVM_TSS + 3 * 4096);
	CHECK_EQ(e->type, E820_RESERVED);
}

TEST(boot_e820_256m)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	int n;

	CHECK_EQ(gm_init(&mem, 256 * MIB), 0);
	n = e820_build(&mem, e, E820_MAX_ENTRIES);
	CHECK_EQ(n, 4);
	if (n == 4) {
		check_low_entries(e, 256 * MIB);
		check_kvm_pages(&e[3]);
		check_map_sane(&mem, e, n);
	}
	CHECK_EQ(e820_low_ram_end(&mem), 256 * MIB);
	gm_destroy(&mem);
}

TEST(boot_e820_3g)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	int n;

	CHECK_EQ(gm_init(&mem, 3 * GIB), 0);
	n = e820_build(&mem, e, E820_MAX_ENTRIES);
	CHECK_EQ(n, 4); /* exactly fills the space below the hole: nothing above 4 GiB */
	if (n == 4) {
		check_low_entries(e, GM_MMIO_HOLE_START);
		check_kvm_pages(&e[3]);
		check_map_sane(&mem, e, n);
	}
	gm_destroy(&mem);
}

TEST(boot_e820_5g)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	int n;

	CHECK_EQ(gm_init(&mem, 5 * GIB), 0);
	n = e820_build(&mem, e, E820_MAX_ENTRIES);
	CHECK_EQ(n, 5);
	if (n == 5) {
		check_low_entries(e, GM_MMIO_HOLE_START);
		check_kvm_pages(&e[3]); /* sorted: the hole's pages before high RAM */
		CHECK_EQ(e[4].addr, GM_4G);
		CHECK_EQ(e[4].size, 2 * GIB);
		CHECK_EQ(e[4].type, E820_RAM);
		check_map_sane(&mem, e, n);
	}
	/* Nothing in the MMIO hole is RAM. */
	for (int i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			CHECK(e[i].addr + e[i].size <= GM_MMIO_HOLE_START || e[i].addr >= GM_4G);
	gm_destroy(&mem);
}

TEST(boot_e820_errors)
{
	struct guest_mem mem;
	struct e820_entry e[E820_MAX_ENTRIES];

	CHECK_EQ(gm_init(&mem, 256 * MIB), 0);
	CHECK_EQ(e820_build(&mem, e, 3), -ENOSPC);
	CHECK_EQ(e820_build(&mem, e, 0), -ENOSPC);
	gm_destroy(&mem);

	/* No RAM covering the first MiB: there is nowhere to boot from. */
	memset(&mem, 0, sizeof(mem));
	mem.nr_regions = 1;
	mem.region[0].gpa = 0;
	mem.region[0].size = 512 * 1024;
	mem.ram_size = 512 * 1024;
	CHECK_EQ(e820_build(&mem, e, E820_MAX_ENTRIES), -EINVAL);
	mem.region[0].gpa = GM_4G;
	CHECK_EQ(e820_low_ram_end(&mem), 0);
	CHECK_EQ(e820_build(&mem, e, E820_MAX_ENTRIES), -EINVAL);
}
