/* Entry of every test guest. isola enters in 64-bit mode with interrupts off
 * and RSI = struct boot_params; RSP is not ours to use, so set a stack, clear
 * .bss (the loader zeroes p_memsz beyond p_filesz, but a guest must not rely
 * on what it tests), call guest_main(bp) and report its result. */
	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	/* Record the entry state first (the entry guest checks it against the
	 * boot contract). Moves and stores leave RFLAGS alone; the stack is
	 * ours before pushfq needs one. */
	mov	$__stack_top, %rsp
	pushfq
	popq	boot_rflags
	mov	%rsi, boot_rsi
	mov	%cr0, %rax
	mov	%rax, boot_cr0
	mov	%cr3, %rax
	mov	%rax, boot_cr3
	mov	%cr4, %rax
	mov	%rax, boot_cr4
	mov	%cs, boot_cs
	mov	%ds, boot_ds
	mov	%es, boot_es
	mov	%ss, boot_ss
	sgdt	boot_gdtr
	sidt	boot_idtr
	mov	%rsi, %rbx			/* boot_params, callee-saved */
	mov	$0xc0000080, %ecx		/* IA32_EFER */
	rdmsr
	mov	%eax, boot_efer
	mov	%edx, boot_efer + 4
	cli
	cld

	mov	$__bss_start, %rdi
	mov	$__bss_end, %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb

	call	uart_init
	mov	%rbx, %rdi
	call	guest_main
	mov	%eax, %edi
	call	guest_return			/* does not return */
1:	hlt
	jmp	1b
	.size _start, . - _start

	/* In .data, not .bss: they are written before .bss is cleared. */
	.section .data
	.balign 8
	.globl boot_rflags, boot_rsi, boot_cr0, boot_cr3, boot_cr4, boot_efer
	.globl boot_cs, boot_ds, boot_es, boot_ss, boot_gdtr, boot_idtr
boot_rflags:	.quad 0
boot_rsi:	.quad 0
boot_cr0:	.quad 0
boot_cr3:	.quad 0
boot_cr4:	.quad 0
boot_efer:	.quad 0
boot_cs:	.word 0
boot_ds:	.word 0
boot_es:	.word 0
boot_ss:	.word 0
boot_gdtr:	.word 0
		.quad 0
boot_idtr:	.word 0
		.quad 0

	.section .stack, "aw", @nobits
	.balign 16
	.space 0x10000
	.globl __stack_top
__stack_top:

	.section .note.GNU-stack, "", @progbits
