/* The e820 memory map isola hands the guest in boot_params (Linux boot
 * protocol, Documentation/arch/x86/zero-page.rst: e820_table at 0x2d0).
 * Pure logic: built from the guest_mem region list, no I/O. */
#ifndef ISOLA_X86_E820_H
#define ISOLA_X86_E820_H

#include <stdint.h>

#include "memory.h"

/* Address range types (ACPI spec 6.x §15.1, "Address Range Types"). */
enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
	E820_NVS = 4,
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Enough for [0,EBDA) RAM, [EBDA,1M) reserved, low RAM, high RAM, the KVM
 * pages, with room to grow; the zero page itself holds 128. */
#define E820_MAX_ENTRIES 16

/* Fill out[0..max) with the map for mem's RAM layout, sorted by address and
 * non-overlapping. Returns the number of entries, or -EINVAL if mem has no
 * RAM at address 0 covering the first MiB (the boot area must exist), or
 * -ENOSPC if max is too small. */
int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max);

/* Low RAM end: the end of the RAM region that starts at 0 (0 if none). */
uint64_t e820_low_ram_end(const struct guest_mem *mem);

#endif
