/* The console: the host terminal (or a pipe or file) joined to the guest's
 * UART or, with --console virtio, to its virtio-console port. In a terminal
 * it switches to raw mode, so keys reach the guest as typed, and restores the
 * terminal on every way out of isola. Ctrl-A is the escape key, as in QEMU:
 * Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends one Ctrl-A to the
 * guest.
 *
 * With a virtio-console port, host input goes to the port only; the UART's
 * output still reaches the terminal (the kernel's messages before the port's
 * driver is up, or from a guest that writes to ttyS0), so no panic message
 * is lost. Both drain into the same output, each in its own order. */
#ifndef ISOLA_CONSOLE_H
#define ISOLA_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/uart16550.h"
#include "virtio/console.h"

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
	struct device *uart;              /* output always; input unless vcon */
	struct device *vcon;              /* virtio-console port, or NULL */
	struct uart_host_ops host_ops;
	struct virtio_console_host_ops vcon_ops;
};

/* Open the console on stdin/stdout (or serial_in), raw mode for a terminal.
 * 0 or -errno with a line in err. */
int console_init(struct console *c, struct eventloop *loop, const char *serial_in,
		 char *err, size_t errlen);
/* Join the console to a VM's UART and, if vcon is not NULL, its virtio-console
 * port, which then gets the input (after vm_build) / part them again. */
int console_attach(struct console *c, struct vm *vm, struct device *uart, struct device *vcon);
void console_detach(struct console *c);
/* Write out whatever the UART and the port still hold (after the vCPUs
 * stopped). */
void console_flush(struct console *c);
/* Restore the terminal. Idempotent; also runs at exit and on fatal signals. */
void console_restore(void);
void console_destroy(struct console *c);

/* Pure escape-key logic, unit-tested: feed one input byte; returns the byte
 * to send to the guest or -1 for none, and sets *action. */
enum console_action { CONSOLE_NONE, CONSOLE_QUIT, CONSOLE_HELP };
int console_escape_filter(bool *escape, uint8_t byte, enum console_action *action);

#endif
