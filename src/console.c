/* The serial console (see console.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "eventloop.h"
#include "log.h"
#include "vm.h"

#define CTRL_A 0x01

/* The saved terminal state is process-wide by nature: the atexit and fatal
 * signal handlers must reach it and may only use async-signal-safe calls. */
static struct termios console_saved;
static volatile sig_atomic_t console_raw_fd = -1;

void console_restore(void)
{
	int fd = console_raw_fd;
	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &console_saved);
		console_raw_fd = -1;
	}
}

static void console_fatal_signal(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int console_make_raw(int fd)
{
	if (tcgetattr(fd, &console_saved) < 0)
		return -errno;
	struct termios t = console_saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* isola's own log lines stay readable */
	if (tcsetattr(fd, TCSAFLUSH, &t) < 0)
		return -errno;
	console_raw_fd = fd;
	atexit(console_restore);
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], console_fatal_signal);
	return 0;
}

int console_escape_filter(bool *escape, uint8_t byte, enum console_action *action)
{
	*action = CONSOLE_NONE;
	if (!*escape) {
		if (byte == CTRL_A) {
			*escape = true;
			return -1;
		}
		return byte;
	}
	*escape = false;
	switch (byte) {
	case 'x': case 'X': *action = CONSOLE_QUIT; return -1;
	case 'h': case 'H': case '?': *action = CONSOLE_HELP; return -1;
	case CTRL_A: return CTRL_A;
	default: return -1; /* unknown escapes are swallowed, as in QEMU */
	}
}

static void console_help(void)
{
	log_msg("console keys: Ctrl-A x quit | Ctrl-A h this help | Ctrl-A Ctrl-A send Ctrl-A");
}

static void console_set_input_watch(struct console *c)
{
	if (!c->in_pollable || c->in_eof)
		return;
	(void)eventloop_mod(c->loop, c->in_fd, c->in_blocked ? 0 : EPOLLIN);
}

/* Give input to the guest: the virtio-console port if there is one, else the
 * UART. Both take only what the guest has room for. */
static size_t console_rx_push(struct console *c, const uint8_t *p, size_t n)
{
	if (c->vcon)
		return virtio_console_rx_push(c->vcon, p, n);
	return uart16550_rx_push(c->uart, p, n);
}

/* Push pending input into the guest. */
static void console_push(struct console *c)
{
	if (!c->uart && !c->vcon)
		return;
	while (c->pending_len) {
		size_t n = console_rx_push(c, c->pending + c->pending_off, c->pending_len);
		c->pending_off += n;
		c->pending_len -= n;
		if (n == 0)
			break;
	}
	if (!c->pending_len)
		c->pending_off = 0;
	c->in_blocked = c->pending_len != 0;
}

/* Read one chunk of host input, filter escapes, push it. */
static void console_read(struct console *c)
{
	uint8_t buf[sizeof(c->pending)];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->in_eof = true;
		if (c->in_pollable)
			eventloop_del(c->loop, c->in_fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		int out = buf[i];
		if (c->in_is_tty) {
			enum console_action act;
			out = console_escape_filter(&c->escape, buf[i], &act);
			if (act == CONSOLE_QUIT && c->vm) {
				log_msg("Ctrl-A x: quitting");
				vm_request_stop(c->vm, VM_STOP_USER, EXIT_OK);
			} else if (act == CONSOLE_HELP) {
				console_help();
			}
		}
		if (out >= 0)
			c->pending[c->pending_len++] = (uint8_t)out;
	}
	console_push(c);
}

/* Regular files cannot be polled: read them whenever the UART has room. */
static void console_feed_file(struct console *c)
{
	while (!c->in_pollable && !c->in_eof && !c->in_blocked && (c->uart || c->vcon))
		console_read(c);
}

static void console_on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	if (!c->in_blocked)
		console_read(c);
	console_set_input_watch(c);
}

static void console_on_rx_space(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t v;
	if (read(c->rx_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	console_push(c);
	console_feed_file(c);
	console_set_input_watch(c);
}

static void console_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the reader went away: the guest's output is lost, not the VM */
		p += w;
		n -= (size_t)w;
	}
}

void console_flush(struct console *c)
{
	uint8_t buf[4096];
	size_t n;
	if (c->uart)
		while ((n = uart16550_tx_drain(c->uart, buf, sizeof(buf))) > 0)
			console_write_all(c->out_fd, buf, n);
	/* Each drain lets the port take more of the guest's queued output. */
	if (c->vcon)
		while ((n = virtio_console_tx_drain(c->vcon, buf, sizeof(buf))) > 0)
			console_write_all(c->out_fd, buf, n);
}

static void console_on_output(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint64_t v;
	if (read(c->tx_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	console_flush(c);
}

/* UART and virtio-console host callbacks: vCPU threads (and the port's, with
 * its lock held); only an eventfd write, never a block. */
static void console_tx_notify(void *opaque)
{
	struct console *c = opaque;
	uint64_t one = 1;
	ssize_t n = write(c->tx_efd, &one, sizeof(one));
	(void)n; /* EAGAIN means a wake-up is already pending */
}

static void console_rx_space(void *opaque)
{
	struct console *c = opaque;
	uint64_t one = 1;
	ssize_t n = write(c->rx_efd, &one, sizeof(one));
	(void)n;
}

int console_init(struct console *c, struct eventloop *loop, const char *serial_in, char *err,
		 size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->in_fd = STDIN_FILENO;
	c->out_fd = STDOUT_FILENO;
	c->host_ops = (struct uart_host_ops){ .tx_notify = console_tx_notify,
					      .rx_space = console_rx_space, .opaque = c };
	c->vcon_ops = (struct virtio_console_host_ops){ .tx_notify = console_tx_notify,
							.rx_space = console_rx_space,
							.opaque = c };
	if (serial_in) {
		c->in_fd = open(serial_in, O_RDONLY | O_CLOEXEC);
		if (c->in_fd < 0) {
			snprintf(err, errlen, "--serial-in %s: %s", serial_in, strerror(errno));
			return -errno;
		}
	}
	c->tx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->tx_efd < 0 || c->rx_efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	int rc = eventloop_add(loop, c->tx_efd, EPOLLIN, console_on_output, c);
	if (!rc)
		rc = eventloop_add(loop, c->rx_efd, EPOLLIN, console_on_rx_space, c);
	if (rc) {
		snprintf(err, errlen, "console: epoll: %s", strerror(-rc));
		return rc;
	}
	struct stat st;
	if (fstat(c->in_fd, &st) < 0) {
		c->in_eof = true; /* stdin closed: no input, the guest still runs */
		return 0;
	}
	c->in_is_tty = isatty(c->in_fd);
	if (c->in_is_tty && console_make_raw(c->in_fd) < 0)
		c->in_is_tty = false; /* e.g. a background job: keep cooked mode */
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		c->in_pollable = false;
		if (S_ISDIR(st.st_mode))
			c->in_eof = true;
		return 0;
	}
	c->in_pollable = true;
	rc = eventloop_add(loop, c->in_fd, EPOLLIN, console_on_input, c);
	if (rc) {
		c->in_pollable = false;
		c->in_eof = true;
	}
	return 0;
}

int console_attach(struct console *c, struct vm *vm, struct device *uart, struct device *vcon)
{
	c->vm = vm;
	c->uart = uart;
	c->vcon = vcon;
	console_push(c);
	console_feed_file(c);
	console_set_input_watch(c);
	return 0;
}

void console_detach(struct console *c)
{
	console_flush(c);
	c->vm = NULL;
	c->uart = NULL;
	c->vcon = NULL;
}

void console_destroy(struct console *c)
{
	console_restore();
	if (c->tx_efd >= 0)
		close(c->tx_efd);
	if (c->rx_efd >= 0)
		close(c->rx_efd);
	if (c->in_fd > STDERR_FILENO)
		close(c->in_fd);
}
