/* The e820 map, derived from guest_mem so the guest's idea of RAM can never
 * disagree with what is actually mapped.
 *
 * What goes in, and why:
 *  - [0, LAYOUT_EBDA) RAM and [LAYOUT_EBDA, 1 MiB) reserved: the PC layout
 *    Linux expects. The reserved part holds the (empty) EBDA and the BIOS
 *    area where the ACPI tables live (LAYOUT_ACPI_RSDP is in it, which is
 *    where Linux scans for "RSD PTR "), so the guest never reuses them.
 *  - [1 MiB, end of low RAM) and RAM above 4 GiB: what gm_init mapped.
 *  - The three KVM TSS pages and the KVM identity-map page (LAYOUT_KVM_*):
 *    KVM really uses them on hosts without unrestricted guest, so they are
 *    reserved the way QEMU reserves its own copy. The rest of the MMIO hole
 *    is left out of the map, as QEMU and Firecracker do: an undescribed gap
 *    is what tells Linux the range is free for device MMIO, and the LAPIC and
 *    I/O APIC are claimed through the MADT, not the e820 map. */
#include <errno.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define KVM_PAGES_START LAYOUT_KVM_IDENTITY
#define KVM_PAGES_END   (LAYOUT_KVM_TSS + 3 * 4096ull)

uint64_t e820_low_ram_end(const struct guest_mem *mem)
{
	for (int i = 0; i < mem->nr_regions; i++)
		if (mem->region[i].gpa == 0)
			return mem->region[i].size;
	return 0;
}

static int e820_add(struct e820_entry *out, int n, int max, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (size == 0)
		return n;
	if (n >= max)
		return -ENOSPC;
	out[n].addr = addr;
	out[n].size = size;
	out[n].type = type;
	return n + 1;
}

static int overlaps_ram(const struct guest_mem *mem, uint64_t start, uint64_t end)
{
	for (int i = 0; i < mem->nr_regions; i++) {
		uint64_t rs = mem->region[i].gpa, re = rs + mem->region[i].size;
		if (start < re && rs < end)
			return 1;
	}
	return 0;
}

int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max)
{
	uint64_t low_end = e820_low_ram_end(mem);
	int n = 0;

	if (low_end < LAYOUT_KERNEL)
		return -EINVAL;
	n = e820_add(out, n, max, 0, LAYOUT_EBDA, E820_RAM);
	if (n >= 0)
		n = e820_add(out, n, max, LAYOUT_EBDA, LAYOUT_KERNEL - LAYOUT_EBDA, E820_RESERVED);
	if (n >= 0)
		n = e820_add(out, n, max, LAYOUT_KERNEL, low_end - LAYOUT_KERNEL, E820_RAM);
	for (int i = 0; i < mem->nr_regions && n >= 0; i++) {
		if (mem->region[i].gpa == 0)
			continue;
		n = e820_add(out, n, max, mem->region[i].gpa, mem->region[i].size, E820_RAM);
	}
	if (n >= 0 && !overlaps_ram(mem, KVM_PAGES_START, KVM_PAGES_END))
		n = e820_add(out, n, max, KVM_PAGES_START, KVM_PAGES_END - KVM_PAGES_START,
			     E820_RESERVED);
	if (n < 0)
		return n;

	/* Sort by address (a handful of entries: insertion sort). Linux sanitises
	 * the map anyway, but other guests may not. */
	for (int i = 1; i < n; i++) {
		struct e820_entry e = out[i];
		int j = i - 1;
		while (j >= 0 && out[j].addr > e.addr) {
			out[j + 1] = out[j];
			j--;
		}
		out[j + 1] = e;
	}
	return n;
}
