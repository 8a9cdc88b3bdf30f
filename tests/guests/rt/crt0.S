/* Entry of every test guest. isola enters in 64-bit mode with interrupts off
 * and RSI = struct boot_params; RSP is not ours to use, so set a stack, clear
 * .bss (the loader zeroes p_memsz beyond p_filesz, but a guest must not rely
 * on what it tests), call guest_main(bp) and report its result. */
	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	mov	$__stack_top, %rsp
	mov	%rsi, %rbx			/* boot_params, callee-saved */

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

	.section .stack, "aw", @nobits
	.balign 16
	.space 0x10000
	.globl __stack_top
__stack_top:

	.section .note.GNU-stack, "", @progbits
