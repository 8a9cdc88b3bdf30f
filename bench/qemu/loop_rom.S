/* The port-I/O loop as a 64 KiB firmware image for QEMU's -bios, so QEMU
 * can run the same loop as bench/bare_kvm.c and bench/guests/ioloop.c with
 * no firmware in front of it. The CPU leaves reset in real mode at
 * CS:IP = f000:fff0 with the CS base 0xffff0000 (Intel SDM vol. 3A 9.1.4,
 * "First Instruction Executed"); QEMU maps the image's last 64 KiB there, so
 * offset 0xfff0 of this file is the reset vector and a near jump reaches
 * offset 0. The loop is out/dec/jnz as everywhere else (in 16-bit code the
 * dec %ecx carries an operand-size prefix), then value 0 goes to QEMU's
 * isa-debug-exit device at 0xf4 (QEMU exits with (0 << 1) | 1 = 1).
 * Assemble with --defsym N=<iterations> and optionally PORT=<port>. */
	.code16
	.section .text, "ax"
	.globl _start
_start:
start:
	cli
	mov	$N, %ecx
	mov	$PORT, %dx
	mov	$0x5a, %al
1:	outb	%al, %dx
	dec	%ecx
	jnz	1b
	mov	$0xf4, %dx
	xor	%al, %al
	outb	%al, %dx
2:	hlt
	jmp	2b

	. = 0xfff0
reset_vector:
	jmp	start
	. = 0x10000
