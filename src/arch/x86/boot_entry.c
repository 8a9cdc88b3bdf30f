/* The state a 64-bit guest starts in: a flat GDT, identity page tables and
 * long mode already on. This is what Linux's 64-bit boot protocol asks for
 * (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"): paging on, the
 * kernel, zero page and command line identity mapped, a GDT with 4 GiB flat
 * __BOOT_CS (0x10, execute/read) and __BOOT_DS (0x18, read/write), CS =
 * __BOOT_CS, DS/ES/SS = __BOOT_DS, interrupts off, RSI = &boot_params.
 * Test guests get the same state. */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

#define PAGE   4096ull
#define GIB    (1ull << 30)
#define MIB2   (2ull << 20)
#define PT_ENTRIES 512
/* 4-level paging: 512 PML4 entries x 512 GiB. */
#define MAX_MAP_END (512ull * 512 * GIB)

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

int x86_identity_map_build(uint8_t *pt, uint64_t pt_gpa, size_t pt_len, uint64_t map_end,
			   uint64_t *cr3)
{
	uint64_t ngib, npdpt, npages, npd;

	if (map_end == 0 || map_end > MAX_MAP_END || (pt_gpa & (PAGE - 1)))
		return -EINVAL;
	ngib = (map_end + GIB - 1) / GIB;
	npdpt = (ngib + PT_ENTRIES - 1) / PT_ENTRIES;
	npages = pt_len / PAGE;
	if (npages < 1 + npdpt + 1)
		return -ENOSPC;
	/* 2 MiB pages where a page directory fits (at least the first 4 GiB on
	 * any sane layout); 1 GiB pages for the rest, which only RAM sizes past
	 * ~78 GiB reach and which needs CPUID.80000001H:EDX.Page1GB. */
	npd = npages - 1 - npdpt;
	if (npd > ngib)
		npd = ngib;
	memset(pt, 0, (1 + npdpt + npd) * PAGE);

	uint8_t *pml4 = pt;
	uint64_t pdpt_gpa = pt_gpa + PAGE, pd_gpa = pdpt_gpa + npdpt * PAGE;
	for (uint64_t i = 0; i < npdpt; i++)
		put64(pml4 + 8 * i, (pdpt_gpa + i * PAGE) | PTE_P | PTE_RW);
	for (uint64_t g = 0; g < ngib; g++) {
		uint8_t *pdpte = pt + PAGE + g * 8; /* PDPTs are contiguous */
		if (g < npd) {
			uint8_t *pd = pt + (pd_gpa - pt_gpa) + g * PAGE;
			put64(pdpte, (pd_gpa + g * PAGE) | PTE_P | PTE_RW);
			for (uint64_t j = 0; j < PT_ENTRIES; j++)
				put64(pd + 8 * j, (g * GIB + j * MIB2) | PTE_P | PTE_RW | PTE_PS);
		} else {
			put64(pdpte, (g * GIB) | PTE_P | PTE_RW | PTE_PS);
		}
	}
	*cr3 = pt_gpa;
	return 0;
}

static struct x86_segment flat_segment(uint16_t sel, uint8_t type, bool code)
{
	struct x86_segment s = {
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.s = 1, .dpl = 0, .present = 1, .avl = 0, .g = 1, .unusable = 0,
		/* Long-mode code: L=1 requires D=0 (SDM Vol. 3A §3.4.5). */
		.l = code ? 1 : 0, .db = code ? 0 : 1,
	};
	return s;
}

int x86_boot_entry_setup(struct guest_mem *mem, uint64_t entry, uint64_t boot_params,
			 struct x86_regs *regs, struct x86_sregs *sregs)
{
	const uint64_t pt_len = LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES;
	uint64_t gdt[BOOT_GDT_ENTRIES] = { 0, 0, BOOT_GDT_CODE64, BOOT_GDT_DATA };
	uint8_t gdt_bytes[sizeof(gdt)];
	uint64_t map_end, cr3;
	uint8_t *pt;
	int ret;

	for (int i = 0; i < BOOT_GDT_ENTRIES; i++)
		put64(gdt_bytes + 8 * i, gdt[i]);
	ret = gm_write(mem, LAYOUT_GDT, gdt_bytes, sizeof(gdt_bytes));
	if (ret)
		return ret;

	/* Map all of the low 4 GiB (RAM and the MMIO hole: test guests touch the
	 * LAPIC and devices before building tables of their own) and any RAM
	 * above. */
	map_end = gm_ram_end(mem);
	if (map_end < GM_4G)
		map_end = GM_4G;
	pt = gm_ptr(mem, LAYOUT_PAGE_TABLES, pt_len);
	if (!pt)
		return -EFAULT;
	ret = x86_identity_map_build(pt, LAYOUT_PAGE_TABLES, pt_len, map_end, &cr3);
	if (ret)
		return ret;
	if (mem->on_write)
		mem->on_write(mem->on_write_opaque, LAYOUT_PAGE_TABLES, pt_len);

	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rflags = X86_RFLAGS_FIXED; /* IF clear: interrupts off */
	regs->gpr[X86_RSI] = boot_params;
	regs->gpr[X86_RSP] = LAYOUT_BOOT_STACK;

	memset(sregs, 0, sizeof(*sregs));
	sregs->seg[X86_CS] = flat_segment(BOOT_CS, 0xb, true);  /* execute/read, accessed */
	sregs->seg[X86_DS] = flat_segment(BOOT_DS, 0x3, false); /* read/write, accessed */
	sregs->seg[X86_ES] = sregs->seg[X86_DS];
	sregs->seg[X86_FS] = sregs->seg[X86_DS];
	sregs->seg[X86_GS] = sregs->seg[X86_DS];
	sregs->seg[X86_SS] = sregs->seg[X86_DS];
	/* KVM (VMX guest-state checks, SDM Vol. 3C §26.3.1.2) wants a usable TR
	 * of type busy TSS; the guest loads its own before it needs one. */
	sregs->seg[X86_TR] = (struct x86_segment){
		.base = 0, .limit = 0x67, .selector = 0, .type = 0xb,
		.s = 0, .dpl = 0, .present = 1, .unusable = 0,
	};
	sregs->seg[X86_LDTR] = (struct x86_segment){ .type = 0x2, .unusable = 1 };
	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = sizeof(gdt) - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	sregs->cr3 = cr3;
	/* PAE for long mode; OSFXSR/OSXMMEXCPT so SSE works in test guests
	 * (Linux sets its own CR4 soon after entry). */
	sregs->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	/* The architectural reset value: xAPIC enabled at 0xfee00000, BSP. A zero
	 * here would disable the local APIC when handed to KVM_SET_SREGS. */
	sregs->apic_base = BOOT_APIC_BASE;
	return 0;
}
