/* The serial console: the host terminal (or a pipe or file) joined to the
 * guest's UART. In a terminal it switches to raw mode, so keys reach the guest
 * as typed, and restores the terminal on every way out of isola. Ctrl-A is
 * the escape key, as in QEMU: Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A
 * Ctrl-A sends one Ctrl-A to the guest. */
#ifndef ISOLA_CONSOLE_H
#define ISOLA_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/uart16550.h"

struct eventloop;
struct vm;

struct console {
	int in_fd, out_fd;
	bool in_is_tty, in_pollable, in_eof, in_blocked, escape;
	int tx_efd, rx_efd;               /* written by vCPU threads via the UART */
	uint8_t pending[256];             /* input the UART could not take yet */
	size_t pending_off, pending_len;
	struct eventloop *loop;
	struct vm *vm;                    /* the running VM, NULL between runs */
	struct device *uart;
	struct uart_host_ops host_ops;
};

/* Open the console on stdin/stdout (or serial_in), raw mode for a terminal.
 * 0 or -errno with a line in err. */
int console_init(struct console *c, struct eventloop *loop, const char *serial_in,
		 char *err, size_t errlen);
/* Join the console to a VM's UART (after vm_build) / part them again. */
int console_attach(struct console *c, struct vm *vm, struct device *uart);
void console_detach(struct console *c);
/* Write out whatever the UART still holds (after the vCPUs stopped). */
void console_flush(struct console *c);
/* Restore the terminal. Idempotent; also runs at exit and on fatal signals. */
void console_restore(void);
void console_destroy(struct console *c);

/* Pure escape-key logic, unit-tested: feed one input byte; returns the byte
 * to send to the guest or -1 for none, and sets *action. */
enum console_action { CONSOLE_NONE, CONSOLE_QUIT, CONSOLE_HELP };
int console_escape_filter(bool *escape, uint8_t byte, enum console_action *action);

#endif
