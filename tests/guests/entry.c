/* The CPU state isola's ELF64 loader promises at the entry point, as crt0.S
 * recorded it before touching anything: 64-bit mode (CR0.PE|PG, CR4.PAE,
 * EFER.LME|LMA; Intel SDM vol. 3A 9.8.5), CS 0x10 a present 64-bit code
 * segment and DS/ES/SS 0x18 a present writable data segment in the GDT,
 * interrupts off, no IDT (limit 0), RSI pointing at boot_params in RAM — and
 * the page tables at CR3 mapping every 2 MiB of [0, 4 GiB) and of RAM to
 * itself, present and writable, whatever page sizes they use. */
#include "rt/lib.h"

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_IF (1ull << 9)
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define TWO_MIB ((uint64_t)2 << 20)
#define FOUR_GIB ((uint64_t)4 << 30)

static unsigned failures;

#define check(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			failures++;                                                        \
			printf("  wrong: " __VA_ARGS__);                                   \
			putc('\n');                                                        \
		}                                                                          \
	} while (0)

/* Walk the 4-level tables: the physical address va maps to, or ~0 if it is
 * not present or not writable. */
static uint64_t translate(uint64_t va)
{
	uint64_t table = boot_cr3 & PTE_ADDR;

	for (int level = 3; level >= 0; level--) {
		unsigned shift = 12 + 9 * (unsigned)level;
		uint64_t e = mmio_read64(table + ((va >> shift) & 511) * 8);
		if ((e & (PTE_P | PTE_W)) != (PTE_P | PTE_W))
			return ~0ull;
		if (level == 0 || (level <= 2 && (e & PTE_PS))) {
			uint64_t mask = ((uint64_t)1 << shift) - 1;
			return ((e & PTE_ADDR) & ~mask) | (va & mask);
		}
		table = e & PTE_ADDR;
	}
	return ~0ull;
}

static void check_segment(uint16_t sel, bool code)
{
	if ((uint32_t)sel + 8 > (uint32_t)boot_gdtr.limit + 1) {
		check(false, "selector 0x%x beyond the GDT limit 0x%x", sel, boot_gdtr.limit);
		return;
	}
	uint64_t d = mmio_read64(boot_gdtr.base + (sel & ~7u));
	bool present = d & (1ull << 47), s = d & (1ull << 44), exec = d & (1ull << 43);
	bool rw = d & (1ull << 41), lbit = d & (1ull << 53);
	printf("  GDT[0x%x] = 0x%016lx\n", sel, d);
	check(present && s, "descriptor 0x%x not present or not a code/data segment", sel);
	if (code)
		check(exec && lbit, "CS descriptor is not 64-bit code");
	else
		check(!exec && rw, "data descriptor 0x%x is not writable data", sel);
}

static bool in_e820(const void *bp, uint64_t a, uint32_t type)
{
	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		if (a >= e.addr && a - e.addr < e.size && (!type || e.type == type))
			return true;
	}
	return false;
}

int guest_main(void *bp)
{
	printf("CR0 0x%lx CR3 0x%lx CR4 0x%lx EFER 0x%lx RFLAGS 0x%lx\n", boot_cr0, boot_cr3,
	       boot_cr4, boot_efer, boot_rflags);
	printf("CS 0x%x DS 0x%x ES 0x%x SS 0x%x GDT 0x%lx/0x%x IDT 0x%lx/0x%x RSI 0x%lx\n",
	       boot_cs, boot_ds, boot_es, boot_ss, boot_gdtr.base, boot_gdtr.limit,
	       boot_idtr.base, boot_idtr.limit, boot_rsi);

	check((boot_cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG), "CR0 lacks PE or PG");
	check(boot_cr4 & CR4_PAE, "CR4.PAE clear");
	check((boot_efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA),
	      "EFER lacks LME or LMA");
	check(!(boot_rflags & RFLAGS_IF), "interrupts enabled at entry");
	check(boot_rflags & 2, "RFLAGS bit 1 (always 1) clear");
	check(boot_cs == 0x10, "CS 0x%x, expected 0x10", boot_cs);
	check(boot_ds == 0x18 && boot_es == 0x18 && boot_ss == 0x18,
	      "DS/ES/SS 0x%x/0x%x/0x%x, expected 0x18", boot_ds, boot_es, boot_ss);
	check(boot_idtr.limit == 0, "IDTR limit 0x%x, expected 0 (no IDT)", boot_idtr.limit);
	check(boot_rsi == (uint64_t)bp, "RSI is not what crt0 handed on");
	check(boot_rsi && in_e820(bp, boot_rsi, 0) && in_e820(bp, boot_rsi + 4095, 0),
	      "boot_params at 0x%lx is not inside the e820 map", boot_rsi);
	check(e820_count(bp) >= 2, "only %u e820 entries", e820_count(bp));
	check_segment(boot_cs, true);
	check_segment(boot_ds, false);

	/* Identity map: every 2 MiB of [0, 4 GiB), then RAM above it. */
	unsigned bad = 0;
	uint64_t top = 0;
	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		if (e.type == E820_RAM && e.addr + e.size > top)
			top = e.addr + e.size;
	}
	uint64_t end = top > FOUR_GIB ? top : FOUR_GIB;
	for (uint64_t va = 0; va < end; va += TWO_MIB) {
		if (va >= FOUR_GIB && !in_e820(bp, va, E820_RAM))
			continue;
		/* Both ends of each 2 MiB: 4 KiB tables would map them apart. */
		uint64_t last = va + TWO_MIB - 8;
		if (translate(va) != va || translate(last) != last) {
			if (bad++ < 8)
				printf("  0x%lx maps to 0x%lx\n", va, translate(va));
		}
	}
	printf("identity map checked up to 0x%lx\n", end);
	check(bad == 0, "%u 2 MiB blocks not identity-mapped present and writable", bad);
	if (failures)
		fail("%u entry-state checks failed", failures);
	return 0;
}
