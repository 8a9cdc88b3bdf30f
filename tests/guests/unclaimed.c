/* Accesses nobody claims: isola's buses must answer reads with all-ones and
 * drop writes, for port I/O and MMIO alike, at every access size — never a
 * crash, never stale data. Probes ports 0x200-0x2ff (no device of isola's
 * PC lives there), addresses in the [3 GiB, 4 GiB) hole away from the I/O
 * APIC and LAPIC, and the first guest-physical address above RAM below the
 * hole (no memory slot there: on kvm that is an MMIO exit too). */
#include "rt/lib.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt", virtio spec 4.2.2 */

static unsigned failures;

static void check(const char *what, uint64_t where, unsigned size, uint64_t got)
{
	uint64_t ones = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;

	if (got == ones)
		return;
	if (failures++ < 16)
		printf("  %s 0x%lx size %u read 0x%lx, expected 0x%lx\n", what, where, size,
		       got, ones);
}

static void probe_ports(uint16_t first, uint16_t last)
{
	for (uint32_t p = first; p <= last; p++) {
		check("port", p, 1, inb((uint16_t)p));
		if (p + 2 <= last + 1u)
			check("port", p, 2, inw((uint16_t)p));
		if (p + 4 <= last + 1u)
			check("port", p, 4, inl((uint16_t)p));
	}
	/* Writes are dropped: the next reads still see all-ones. */
	for (uint32_t p = first; p <= last; p++) {
		outb((uint16_t)p, (uint8_t)p);
		if (p % 2 == 0 && p + 2 <= last + 1u)
			outw((uint16_t)p, 0x1234);
		if (p % 4 == 0 && p + 4 <= last + 1u)
			outl((uint16_t)p, 0xdeadbeef);
	}
	for (uint32_t p = first; p <= last; p++)
		check("port after write", p, 1, inb((uint16_t)p));
}

static void probe_mmio(uint64_t a)
{
	check("mmio", a, 1, mmio_read8(a));
	check("mmio", a + 2, 2, mmio_read16(a + 2));
	check("mmio", a + 4, 4, mmio_read32(a + 4));
	check("mmio", a + 8, 8, mmio_read64(a + 8));
	mmio_write8(a, 0);
	mmio_write16(a + 2, 0);
	mmio_write32(a + 4, 0x5a5a5a5a);
	mmio_write64(a + 8, 0);
	check("mmio after write", a, 1, mmio_read8(a));
	check("mmio after write", a + 4, 4, mmio_read32(a + 4));
	check("mmio after write", a + 8, 8, mmio_read64(a + 8));
}

/* The first byte above the usable RAM below the hole, or 0 if RAM fills it. */
static uint64_t above_low_ram(const void *bp)
{
	uint64_t top = 0;

	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		if (e.addr + e.size <= (3ull << 30) && e.addr + e.size > top)
			top = e.addr + e.size;
	}
	return top < (3ull << 30) ? (top + 0xfff) & ~0xfffull : 0;
}

int guest_main(void *bp)
{
	static const uint64_t hole[] = {
		0xc0000000, 0xdffff000, 0xe0000000, 0xf0000000, 0xfeb00000, 0xfebff000,
	};

	puts("ports 0x200-0x2ff\n");
	probe_ports(0x200, 0x2ff);

	/* 0xd0000000 is where isola puts MMIO devices: a virtio-mmio device
	 * there is claimed, not a failure. */
	uint32_t d = mmio_read32(0xd0000000);
	if (d == VIRTIO_MMIO_MAGIC)
		puts("0xd0000000: a virtio-mmio device, skipped\n");
	else {
		puts("mmio 0xd0000000\n");
		check("mmio", 0xd0000000, 4, d);
		probe_mmio(0xd0000000);
	}
	for (unsigned i = 0; i < sizeof(hole) / sizeof(hole[0]); i++) {
		printf("mmio 0x%lx\n", hole[i]);
		probe_mmio(hole[i]);
	}
	uint64_t gap = above_low_ram(bp);
	if (gap) {
		printf("above RAM 0x%lx\n", gap);
		probe_mmio(gap);
		probe_mmio(gap + (1ull << 20));
	}
	if (failures)
		fail("%u unclaimed accesses did not read all-ones", failures);
	puts("all unclaimed reads gave all-ones\n");
	return 0;
}
