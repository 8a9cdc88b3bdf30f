/* A guest whose third instruction puts a byte on the UART: the time its
 * first byte reaches the host is the un-instrumented stand-in for "first
 * guest instruction" (three emulated instructions and one port-I/O exit
 * later). It writes THR without initialising the 16550: after reset LCR is 0
 * (DLAB clear), so offset 0 is the transmit holding register (16550
 * datasheet, register table). Then it exits through the debug-exit port with
 * value 0, so isola exits with status 1. No runtime: crt0 would run
 * uart_init (eight exits) first. */
	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	mov	$0x3f8, %edx
	mov	$'!', %al
	outb	%al, %dx
	mov	$'\n', %al
	outb	%al, %dx
	mov	$0x501, %edx
	xor	%eax, %eax
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
