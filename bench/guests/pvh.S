/* A PVH entry for a test-runtime guest, so QEMU's -kernel can boot it.
 *
 * isola enters an ELF64 guest at e_entry in 64-bit mode (its boot contract);
 * QEMU's -kernel loads an ELF that carries a XEN_ELFNOTE_PHYS32_ENTRY note
 * and enters the address in it in 32-bit protected mode, flat segments,
 * paging off, EBX pointing at a hvm_start_info (Xen's PVH boot ABI,
 * xen/include/public/arch-x86/hvm/start_info.h; QEMU docs "PVH"). This
 * entry does what isola's loader did before e_entry: identity-map the first
 * GiB with 2 MiB pages, enable PAE and EFER.LME, turn on paging (SDM Vol. 3A
 * §10.8.5 "Initializing IA-32e Mode"), load a 64-bit code segment, and then
 * joins the runtime's _start with RSI = 0 (no boot_params); pvh_start_info
 * keeps EBX for the guest (0 when isola started it). */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.section .text, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	mov	%ebx, pvh_start_info	/* for the command line (hvm_start_info) */
	mov	$pvh_pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$0x20, %eax		/* CR4.PAE */
	mov	%eax, %cr4
	mov	$0xc0000080, %ecx	/* IA32_EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	lgdt	pvh_gdtr
	ljmp	$0x08, $pvh_64

	.code64
pvh_64:
	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	xor	%esi, %esi
	jmp	_start

	.section .data
	.balign 8
	.globl pvh_start_info
pvh_start_info:
	.quad 0
pvh_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf93000000ffff	/* 0x10: data, DPL 0 */
pvh_gdt_end:
pvh_gdtr:
	.word pvh_gdt_end - pvh_gdt - 1
	.long pvh_gdt

	.balign 4096
pvh_pml4:
	.quad pvh_pdpt + 3
	.fill 511, 8, 0
pvh_pdpt:
	.quad pvh_pd + 3
	.fill 511, 8, 0
pvh_pd:
	.set i, 0
	.rept 512
	.quad (i << 21) | 0x83	/* present, writable, 2 MiB */
	.set i, i + 1
	.endr

	.section .note.GNU-stack, "", @progbits
