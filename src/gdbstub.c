/* The gdb stub: connection, run control and the RSP commands (see
 * gdbstub.h; framing in gdbstub_packet.c, registers in gdbstub_regs.c).
 *
 * Run control, as the stub sees the VM:
 *   RUNNING   the vCPUs run; only a 0x03 from gdb is acted on. A vCPU's
 *             debug exit (breakpoint, end of a step) pauses the VM by itself.
 *   STOPPING  a pause was asked for; waiting for the last vCPU to park.
 *   STOPPED   every vCPU is parked: commands are served, state may change.
 * gdb sends no packet while the target runs (all-stop mode), so a packet
 * that arrives before STOPPED is kept (one) and served on arrival there. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eventloop.h"
#include "gdbstub.h"
#include "gdbstub_packet.h"
#include "gdbstub_regs.h"
#include "log.h"
#include "vm.h"

enum gs_state { GS_RUNNING, GS_STOPPING, GS_STOPPED };

struct gdb_bp {
	uint8_t type; /* 0 software, 1 hardware: the same to the back ends */
	uint64_t addr;
};

struct gdbstub {
	struct eventloop *loop;
	int listen_fd, conn_fd;
	struct vm *vm;
	int pause_fd_watched;     /* the VM's pause_efd while it is on the loop, else -1 */
	enum gs_state state;
	bool hold;                /* --gdb-wait: stay paused until a debugger resumes */
	bool report_stop;         /* send a stop reply once STOPPED */
	int stop_sig;             /* for a stop without a debug event: 2 (Ctrl-C) or 5 */
	int g_cpu;                /* vCPU for g/G/p/P/m/M (Hg) */
	int c_cpu;                /* vCPU to step (Hc); -1: the g one */
	bool no_ack;
	bool close_when_sent;     /* 'D': drop the client once its "OK" is out */
	bool stop_on_next_vm;     /* a stop was under way when the VM was replaced */
	struct gdb_bp bp[ACCEL_DEBUG_MAX_BP];
	unsigned nr_bp;
	struct gdb_rx rx;
	bool has_deferred;
	size_t deferred_len;
	char deferred[GDB_PACKET_MAX + 1];
	char reply[GDB_PACKET_MAX + 1];
	size_t last_len;          /* the last frame sent, for a '-' */
	char last[GDB_PACKET_MAX + 8];
	size_t out_off, out_len;
	char out[2 * (GDB_PACKET_MAX + 8)];
};

/* ---- the spec and the listening socket ---- */

int gdbstub_parse_spec(const char *spec, char *host, size_t hostlen, uint16_t *port, char *err,
		       size_t errlen)
{
	const char *how = "write tcp:HOST:PORT, e.g. tcp:127.0.0.1:1234";
	if (strncmp(spec, "tcp:", 4)) {
		snprintf(err, errlen, "--gdb %s: only TCP is supported: %s", spec, how);
		return -EINVAL;
	}
	const char *h = spec + 4, *colon;
	size_t hl;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "--gdb %s: bad [IPv6] host: %s", spec, how);
			return -EINVAL;
		}
		hl = (size_t)(close - h - 1);
		h++;
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon) {
			snprintf(err, errlen, "--gdb %s: no port: %s", spec, how);
			return -EINVAL;
		}
		hl = (size_t)(colon - h);
	}
	if (!hl || hl >= hostlen) {
		snprintf(err, errlen, "--gdb %s: %s host: %s", spec, hl ? "too long a" : "no", how);
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	const char *p = colon + 1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end || errno || v > 65535) {
		snprintf(err, errlen, "--gdb %s: port '%s' is not a number from 0 to 65535: %s", spec,
			 p, how);
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

static void gs_on_listen(void *opaque, uint32_t events);

int gdbstub_open(const char *spec, bool wait, struct eventloop *loop, struct gdbstub **out,
		 char *err, size_t errlen)
{
	char host[256], portstr[8];
	uint16_t port;
	int rc = gdbstub_parse_spec(spec, host, sizeof(host), &port, err, errlen);
	if (rc)
		return rc;
	snprintf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
	int g = getaddrinfo(host, portstr, &hints, &ai);
	if (g) {
		snprintf(err, errlen, "--gdb %s: cannot resolve '%s': %s", spec, host,
			 gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(ai);
		snprintf(err, errlen, "--gdb %s: socket: %s", spec, strerror(-rc));
		return rc;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
		rc = -errno;
		freeaddrinfo(ai);
		close(fd);
		if (rc == -EADDRINUSE)
			snprintf(err, errlen, "--gdb %s: port %u is in use: choose another port",
				 spec, port);
		else
			snprintf(err, errlen, "--gdb %s: cannot listen there: %s", spec,
				 strerror(-rc));
		return rc;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	struct gdbstub *gs = calloc(1, sizeof(*gs));
	if (!gs) {
		close(fd);
		snprintf(err, errlen, "--gdb: out of memory");
		return -ENOMEM;
	}
	gs->loop = loop;
	gs->listen_fd = fd;
	gs->conn_fd = -1;
	gs->pause_fd_watched = -1;
	gs->hold = wait;
	gs->stop_sig = 5;
	gs->c_cpu = -1;
	rc = eventloop_add(loop, fd, EPOLLIN, gs_on_listen, gs);
	if (rc) {
		close(fd);
		free(gs);
		snprintf(err, errlen, "--gdb: cannot watch the socket: %s", strerror(-rc));
		return rc;
	}
	log_msg("gdb: listening on %s port %u%s", host, port,
		wait ? "; the guest waits for a debugger to continue it (--gdb-wait)" : "");
	*out = gs;
	return 0;
}

/* ---- output ---- */

static void gs_drop_client(struct gdbstub *gs, const char *why);
static void gs_on_conn(void *opaque, uint32_t events);

static void gs_flush(struct gdbstub *gs)
{
	while (gs->out_off < gs->out_len) {
		ssize_t n = send(gs->conn_fd, gs->out + gs->out_off, gs->out_len - gs->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			gs_drop_client(gs, "the connection failed");
			return;
		}
		gs->out_off += (size_t)n;
	}
	if (gs->out_off == gs->out_len) {
		gs->out_off = gs->out_len = 0;
		if (gs->close_when_sent) {
			gs_drop_client(gs, "gdb detached"); /* resumes the guest */
			return;
		}
	}
	eventloop_mod(gs->loop, gs->conn_fd,
		      EPOLLIN | (gs->out_len ? EPOLLOUT : 0));
}

static void gs_send_raw(struct gdbstub *gs, const char *data, size_t len)
{
	if (gs->conn_fd < 0)
		return;
	if (gs->out_off && gs->out_len + len > sizeof(gs->out)) {
		memmove(gs->out, gs->out + gs->out_off, gs->out_len - gs->out_off);
		gs->out_len -= gs->out_off;
		gs->out_off = 0;
	}
	if (gs->out_len + len > sizeof(gs->out)) {
		/* gdb reads what it asked for; a client that does not is dropped. */
		gs_drop_client(gs, "the debugger does not read its replies");
		return;
	}
	memcpy(gs->out + gs->out_len, data, len);
	gs->out_len += len;
	gs_flush(gs);
}

static void gs_put(struct gdbstub *gs, const char *payload, size_t len)
{
	gs->last_len = gdb_frame(payload, len, gs->last, sizeof(gs->last));
	gs_send_raw(gs, gs->last, gs->last_len);
}

static void gs_puts(struct gdbstub *gs, const char *s)
{
	gs_put(gs, s, strlen(s));
}

static void gs_error(struct gdbstub *gs, int e)
{
	char b[8];
	snprintf(b, sizeof(b), "E%02x", e & 0xff);
	gs_puts(gs, b);
}

/* ---- the VM ---- */

static struct vcpu *gs_vcpu(struct gdbstub *gs, int cpu)
{
	if (!gs->vm || cpu < 0 || (unsigned)cpu >= gs->vm->cfg.cpus)
		return NULL;
	return gs->vm->vcpus[cpu].vcpu;
}

/* Give every vCPU the breakpoints, and the single step to step_cpu (-1:
 * none). Only while the VM is parked (or not started). */
static int gs_apply_debug(struct gdbstub *gs, int step_cpu)
{
	struct vm *vm = gs->vm;
	if (!vm || !vm->accel_ops->set_guest_debug)
		return gs->nr_bp || step_cpu >= 0 ? -ENOSYS : 0;
	struct accel_debug d = { .nr_bp = gs->nr_bp };
	for (unsigned i = 0; i < gs->nr_bp; i++)
		d.bp[i] = gs->bp[i].addr;
	int rc = 0;
	for (unsigned i = 0; i < vm->cfg.cpus; i++) {
		d.singlestep = (int)i == step_cpu;
		bool any = d.singlestep || d.nr_bp;
		int r = vm->accel_ops->set_guest_debug(vm->vcpus[i].vcpu, any ? &d : NULL);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

static void gs_stop_reply(struct gdbstub *gs)
{
	struct vm_debug_stop ds;
	int sig = gs->stop_sig, cpu = gs->g_cpu;
	if (gs->vm && vm_debug_stop(gs->vm, &ds)) {
		sig = 5; /* SIGTRAP */
		cpu = ds.index;
	}
	gs->g_cpu = cpu;
	char b[48];
	snprintf(b, sizeof(b), "T%02xthread:%x;", sig, cpu + 1);
	gs_puts(gs, b);
}

static void gs_resume(struct gdbstub *gs, int step_cpu)
{
	int rc = gs_apply_debug(gs, step_cpu);
	if (rc)
		log_msg("gdb: setting breakpoints or the single step failed: %s", strerror(-rc));
	gs->state = GS_RUNNING;
	gs->report_stop = true;
	gs->stop_sig = 5;
	gs->hold = false;
	vm_resume(gs->vm);
}

static void gs_handle_packet(struct gdbstub *gs, char *p, size_t len);

/* Every vCPU has parked: serve the debugger, or let the guest go on if
 * no debugger wants it stopped. */
static void gs_on_stopped(struct gdbstub *gs)
{
	gs->state = GS_STOPPED;
	if (gs->conn_fd < 0) {
		if (!gs->hold) {
			gs->nr_bp = 0;
			gs_resume(gs, -1);
			gs->report_stop = false;
		}
		return;
	}
	if (gs->report_stop) {
		gs->report_stop = false;
		gs_stop_reply(gs);
	}
	if (gs->has_deferred) {
		gs->has_deferred = false;
		gs_handle_packet(gs, gs->deferred, gs->deferred_len);
	}
}

static void gs_on_pause(void *opaque, uint32_t events)
{
	struct gdbstub *gs = opaque;
	uint64_t v;
	if (!gs->vm || read(gs->vm->pause_efd, &v, sizeof(v)) < 0)
		return;
	if (gs->state != GS_STOPPED && vm_all_parked(gs->vm))
		gs_on_stopped(gs);
}

static void gs_request_stop(struct gdbstub *gs, int sig)
{
	if (gs->state != GS_RUNNING || !gs->vm)
		return;
	gs->state = GS_STOPPING;
	gs->stop_sig = sig;
	vm_pause(gs->vm);
}

int gdbstub_attach(struct gdbstub *gs, struct vm *vm)
{
	gs->vm = vm;
	int rc = eventloop_add(gs->loop, vm->pause_efd, EPOLLIN, gs_on_pause, gs);
	if (rc)
		return rc;
	gs->pause_fd_watched = vm->pause_efd;
	if ((unsigned)gs->g_cpu >= vm->cfg.cpus)
		gs->g_cpu = 0;
	rc = gs_apply_debug(gs, -1);
	if (rc)
		return rc;
	if (gs->hold || gs->stop_on_next_vm) {
		/* Parked before the first instruction; gs_on_pause reports it
		 * if gdb waits for a stop. */
		gs->state = GS_STOPPING;
		gs->report_stop = gs->stop_on_next_vm && gs->report_stop;
		gs->stop_on_next_vm = false;
		vm_pause(vm);
	} else {
		gs->state = GS_RUNNING;
	}
	return 0;
}

void gdbstub_detach(struct gdbstub *gs, struct vm *vm, bool final, int status)
{
	if (gs->pause_fd_watched >= 0)
		eventloop_del(gs->loop, gs->pause_fd_watched);
	gs->pause_fd_watched = -1;
	gs->vm = NULL;
	if (!final || gs->conn_fd < 0) {
		/* The next VM starts running, unless gdb was stopping this one
		 * (Ctrl-C, or its packet waits): then the next one stops. */
		gs->stop_on_next_vm = gs->conn_fd >= 0 && gs->state == GS_STOPPING;
		gs->state = GS_RUNNING;
		return;
	}
	gs->has_deferred = false;
	/* The process gdb debugs has exited: tell it with what status, and
	 * give the reply a moment to leave (the socket is non-blocking). */
	char b[8];
	snprintf(b, sizeof(b), "W%02x", status & 0xff);
	gs_puts(gs, b);
	for (int i = 0; i < 100 && gs->conn_fd >= 0 && gs->out_len; i++) {
		usleep(10000);
		gs_flush(gs);
	}
	gs_drop_client(gs, NULL);
}

void gdbstub_close(struct gdbstub *gs)
{
	if (!gs)
		return;
	if (gs->conn_fd >= 0)
		gs_drop_client(gs, NULL);
	eventloop_del(gs->loop, gs->listen_fd);
	close(gs->listen_fd);
	free(gs);
}

/* ---- the connection ---- */

static void gs_on_listen(void *opaque, uint32_t events)
{
	struct gdbstub *gs = opaque;
	int fd = accept4(gs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (gs->conn_fd >= 0) {
		log_msg("gdb: refusing a second debugger (one at a time)");
		close(fd);
		return;
	}
	if (eventloop_add(gs->loop, fd, EPOLLIN, gs_on_conn, gs)) {
		log_msg("gdb: cannot watch the debugger's connection");
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	gs->conn_fd = fd;
	gs->no_ack = false;
	gs->out_off = gs->out_len = 0;
	gs->last_len = 0;
	gs->has_deferred = false;
	gdb_rx_init(&gs->rx);
	log_msg("gdb: debugger attached; the guest is stopped");
	/* gdb expects the target stopped when it attaches; it asks '?'. */
	gs->report_stop = false;
	gs_request_stop(gs, 5);
}

/* Close the client's connection. A guest it held stopped runs on without
 * breakpoints (as after 'D'), once every vCPU has parked if it was not yet. */
static void gs_drop_client(struct gdbstub *gs, const char *why)
{
	if (gs->conn_fd < 0)
		return;
	eventloop_del(gs->loop, gs->conn_fd);
	close(gs->conn_fd);
	gs->conn_fd = -1;
	gs->out_off = gs->out_len = 0;
	gs->has_deferred = false;
	gs->close_when_sent = false;
	if (why)
		log_msg("gdb: debugger detached: %s", why);
	if (!gs->vm)
		return;
	gs->nr_bp = 0;
	if (gs->state == GS_STOPPED)
		gs_on_stopped(gs); /* resumes it */
	else if (gs->state == GS_RUNNING)
		gs_request_stop(gs, 5); /* to take the breakpoints away */
}

static void gs_on_conn(void *opaque, uint32_t events)
{
	struct gdbstub *gs = opaque;
	if (events & EPOLLOUT)
		gs_flush(gs);
	if (gs->conn_fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	uint8_t buf[4096];
	ssize_t n = recv(gs->conn_fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		gs_drop_client(gs, n == 0 ? "connection closed" : strerror(errno));
		return;
	}
	for (ssize_t i = 0; i < n && gs->conn_fd >= 0; i++) {
		switch (gdb_rx_byte(&gs->rx, buf[i])) {
		case GDB_RX_NONE:
		case GDB_RX_ACK:
			break;
		case GDB_RX_NACK:
			if (gs->last_len)
				gs_send_raw(gs, gs->last, gs->last_len);
			break;
		case GDB_RX_BAD:
			if (!gs->no_ack)
				gs_send_raw(gs, "-", 1);
			break;
		case GDB_RX_INTERRUPT:
			gs_request_stop(gs, 2); /* SIGINT */
			break;
		case GDB_RX_PACKET:
			if (!gs->no_ack)
				gs_send_raw(gs, "+", 1);
			if (gs->state == GS_STOPPED) {
				gs_handle_packet(gs, gs->rx.buf, gs->rx.len);
			} else if (!gs->has_deferred) {
				memcpy(gs->deferred, gs->rx.buf, gs->rx.len + 1);
				gs->deferred_len = gs->rx.len;
				gs->has_deferred = true;
			} else {
				log_msg("gdb: packet while the guest runs dropped: %.40s",
					gs->rx.buf);
			}
			break;
		}
	}
}

/* ---- commands ---- */

static int gs_load(struct gdbstub *gs, int cpu, struct gdb_cpu_state *st)
{
	struct vcpu *v = gs_vcpu(gs, cpu);
	const struct accel_ops *ops = gs->vm ? gs->vm->accel_ops : NULL;
	if (!v)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	int rc = ops->get_regs(v, &st->r);
	if (!rc)
		rc = ops->get_sregs(v, &st->s);
	if (!rc && ops->get_fpu)
		rc = ops->get_fpu(v, &st->f);
	return rc;
}

static int gs_store(struct gdbstub *gs, int cpu, const struct gdb_cpu_state *st, int dirty)
{
	struct vcpu *v = gs_vcpu(gs, cpu);
	const struct accel_ops *ops = gs->vm->accel_ops;
	int rc = 0;
	if (!v)
		return -ENOENT;
	if (dirty & GDB_DIRTY_SREGS)
		rc = ops->set_sregs(v, &st->s);
	if (!rc && (dirty & GDB_DIRTY_REGS))
		rc = ops->set_regs(v, &st->r);
	if (!rc && (dirty & GDB_DIRTY_FPU))
		rc = ops->set_fpu ? ops->set_fpu(v, &st->f) : -ENOSYS;
	return rc;
}

static void cmd_read_regs(struct gdbstub *gs)
{
	struct gdb_cpu_state st;
	if (gs_load(gs, gs->g_cpu, &st)) {
		gs_error(gs, 1);
		return;
	}
	size_t o = 0;
	uint8_t v[16];
	for (unsigned i = 0; i < gdb_nr_regs; i++) {
		unsigned sz = gdb_reg_size(i);
		gdb_reg_get(&st, i, v);
		gdb_hex_encode(v, sz, gs->reply + o);
		o += 2 * sz;
	}
	gs_put(gs, gs->reply, o);
}

static void cmd_write_regs(struct gdbstub *gs, const char *hex, size_t len)
{
	struct gdb_cpu_state st;
	if (gs_load(gs, gs->g_cpu, &st)) {
		gs_error(gs, 1);
		return;
	}
	int dirty = 0;
	uint8_t v[16];
	for (unsigned i = 0; i < gdb_nr_regs; i++) {
		unsigned sz = gdb_reg_size(i);
		if (len < 2 * sz)
			break; /* a shorter 'G' leaves the rest alone */
		if (gdb_hex_decode(hex, sz, v)) {
			gs_error(gs, EINVAL);
			return;
		}
		int r = gdb_reg_set(&st, i, v);
		if (r < 0) {
			gs_error(gs, EINVAL);
			return;
		}
		dirty |= r;
		hex += 2 * sz;
		len -= 2 * sz;
	}
	if (gs_store(gs, gs->g_cpu, &st, dirty))
		gs_error(gs, 1);
	else
		gs_puts(gs, "OK");
}

static void cmd_read_reg(struct gdbstub *gs, const char *args)
{
	uint64_t n;
	struct gdb_cpu_state st;
	if (gdb_parse_hex(&args, &n) || *args || n >= gdb_nr_regs) {
		gs_error(gs, EINVAL);
		return;
	}
	if (gs_load(gs, gs->g_cpu, &st)) {
		gs_error(gs, 1);
		return;
	}
	uint8_t v[16];
	gdb_reg_get(&st, (unsigned)n, v);
	gdb_hex_encode(v, gdb_reg_size((unsigned)n), gs->reply);
	gs_put(gs, gs->reply, 2 * gdb_reg_size((unsigned)n));
}

static void cmd_write_reg(struct gdbstub *gs, const char *args)
{
	uint64_t n;
	struct gdb_cpu_state st;
	uint8_t v[16];
	if (gdb_parse_hex(&args, &n) || *args++ != '=' || n >= gdb_nr_regs ||
	    strlen(args) != 2 * gdb_reg_size((unsigned)n) ||
	    gdb_hex_decode(args, gdb_reg_size((unsigned)n), v)) {
		gs_error(gs, EINVAL);
		return;
	}
	if (gs_load(gs, gs->g_cpu, &st)) {
		gs_error(gs, 1);
		return;
	}
	int r = gdb_reg_set(&st, (unsigned)n, v);
	if (r < 0 || gs_store(gs, gs->g_cpu, &st, r))
		gs_error(gs, EINVAL);
	else
		gs_puts(gs, "OK");
}

/* Guest-virtual [addr, addr+len) through the Hg vCPU's paging, page by
 * page, RAM only (a device's registers are not read behind its back).
 * Returns how many bytes from the start could be translated; gpa[i] and
 * n[i] describe the pieces. */
#define GS_MAX_PIECES (GDB_PACKET_MAX / 4096 + 2)
struct gs_piece {
	uint64_t gpa;
	size_t len;
};

static size_t gs_translate(struct gdbstub *gs, uint64_t addr, size_t len, struct gs_piece *pc,
			   unsigned *npc)
{
	struct vcpu *v = gs_vcpu(gs, gs->g_cpu);
	const struct accel_ops *ops = gs->vm ? gs->vm->accel_ops : NULL;
	size_t done = 0;
	*npc = 0;
	if (!v || !ops->translate)
		return 0;
	while (done < len && *npc < GS_MAX_PIECES) {
		uint64_t lin = addr + done, gpa;
		size_t chunk = 4096 - (lin & 0xfff);
		if (chunk > len - done)
			chunk = len - done;
		if (ops->translate(v, lin, &gpa) || !gm_is_ram(&gs->vm->mem, gpa, chunk))
			break;
		pc[(*npc)++] = (struct gs_piece){ gpa, chunk };
		done += chunk;
	}
	return done;
}

static int parse_addr_len(const char **p, uint64_t *addr, uint64_t *len)
{
	if (gdb_parse_hex(p, addr) || *(*p)++ != ',' || gdb_parse_hex(p, len))
		return -EINVAL;
	return 0;
}

static void cmd_read_mem(struct gdbstub *gs, const char *args)
{
	uint64_t addr, len;
	if (parse_addr_len(&args, &addr, &len) || *args) {
		gs_error(gs, EINVAL);
		return;
	}
	if (len > GDB_PACKET_MAX / 2)
		len = GDB_PACKET_MAX / 2;
	struct gs_piece pc[GS_MAX_PIECES];
	unsigned npc;
	uint8_t buf[GDB_PACKET_MAX / 2];
	size_t got = gs_translate(gs, addr, len, pc, &npc), o = 0;
	for (unsigned i = 0; i < npc; i++) {
		if (gm_read(&gs->vm->mem, pc[i].gpa, buf + o, pc[i].len))
			break;
		o += pc[i].len;
	}
	if (len && (!got || !o)) {
		gs_error(gs, EFAULT); /* E0e: what gdb shows as "Cannot access memory" */
		return;
	}
	gdb_hex_encode(buf, o, gs->reply); /* a partial read returns what was read */
	gs_put(gs, gs->reply, 2 * o);
}

static void gs_write_mem(struct gdbstub *gs, uint64_t addr, const uint8_t *data, size_t len)
{
	struct gs_piece pc[GS_MAX_PIECES];
	unsigned npc;
	if (gs_translate(gs, addr, len, pc, &npc) != len) {
		gs_error(gs, EFAULT);
		return;
	}
	for (unsigned i = 0; i < npc; i++) {
		/* gm_write tells the soft CPU, which drops decoded code there. */
		if (gm_write(&gs->vm->mem, pc[i].gpa, data, pc[i].len)) {
			gs_error(gs, EFAULT);
			return;
		}
		data += pc[i].len;
	}
	gs_puts(gs, "OK");
}

static void cmd_write_mem(struct gdbstub *gs, const char *args)
{
	uint64_t addr, len;
	uint8_t buf[GDB_PACKET_MAX / 2];
	if (parse_addr_len(&args, &addr, &len) || *args++ != ':' || len > sizeof(buf) ||
	    strlen(args) != 2 * len || gdb_hex_decode(args, len, buf)) {
		gs_error(gs, EINVAL);
		return;
	}
	gs_write_mem(gs, addr, buf, len);
}

static void cmd_write_mem_bin(struct gdbstub *gs, char *p, size_t plen)
{
	const char *args = p + 1;
	uint64_t addr, len;
	char *colon = memchr(p, ':', plen);
	if (!colon || parse_addr_len(&args, &addr, &len) || args != colon) {
		gs_error(gs, EINVAL);
		return;
	}
	long n = gdb_unescape(colon + 1, plen - (size_t)(colon + 1 - p));
	if (n < 0 || (uint64_t)n != len) {
		gs_error(gs, EINVAL);
		return;
	}
	if (!len) {
		gs_puts(gs, "OK"); /* gdb probes for X support with an empty write */
		return;
	}
	gs_write_mem(gs, addr, (const uint8_t *)colon + 1, len);
}

static void cmd_breakpoint(struct gdbstub *gs, bool insert, const char *args)
{
	uint64_t type, addr, kind;
	if (gdb_parse_hex(&args, &type) || *args++ != ',' || gdb_parse_hex(&args, &addr) ||
	    *args++ != ',' || gdb_parse_hex(&args, &kind)) {
		gs_error(gs, EINVAL);
		return;
	}
	if (type > 1 || !gs->vm->accel_ops->set_guest_debug) {
		gs_puts(gs, ""); /* watchpoints: not supported */
		return;
	}
	unsigned i;
	for (i = 0; i < gs->nr_bp; i++)
		if (gs->bp[i].type == type && gs->bp[i].addr == addr)
			break;
	if (insert && i == gs->nr_bp) {
		unsigned max = gs->vm->accel_ops->debug_max_bp;
		if (gs->nr_bp >= max || gs->nr_bp >= ACCEL_DEBUG_MAX_BP) {
			gs_error(gs, ENOSPC);
			return;
		}
		gs->bp[gs->nr_bp++] = (struct gdb_bp){ (uint8_t)type, addr };
	} else if (!insert && i < gs->nr_bp) {
		gs->bp[i] = gs->bp[--gs->nr_bp];
	}
	gs_puts(gs, "OK");
}

static int parse_thread(const char *s, int *cpu)
{
	if (!strcmp(s, "-1")) {
		*cpu = -1;
		return 0;
	}
	uint64_t t;
	if (gdb_parse_hex(&s, &t) || *s)
		return -EINVAL;
	*cpu = t == 0 ? 0 : (int)t - 1; /* 0: "any thread" */
	return 0;
}

/* c/s/C/S with an optional resume address (";addr" after a signal). */
static void cmd_resume(struct gdbstub *gs, char op, const char *args)
{
	int step = (op == 's' || op == 'S') ? (gs->c_cpu >= 0 ? gs->c_cpu : gs->g_cpu) : -1;
	if (op == 'C' || op == 'S') { /* the signal: a VM has none to deliver */
		args = strchr(args, ';');
		args = args ? args + 1 : "";
	}
	if (*args) {
		uint64_t addr;
		struct gdb_cpu_state st;
		int cpu = step >= 0 ? step : gs->g_cpu;
		if (gdb_parse_hex(&args, &addr) || gs_load(gs, cpu, &st)) {
			gs_error(gs, EINVAL);
			return;
		}
		st.r.rip = addr;
		if (gs_store(gs, cpu, &st, GDB_DIRTY_REGS)) {
			gs_error(gs, 1);
			return;
		}
	}
	if (step >= 0 && !gs->vm->accel_ops->set_guest_debug) {
		gs_error(gs, ENOSYS);
		return;
	}
	gs_resume(gs, step);
}

/* vCont;ACTION[:thread];... (c, C sig, s, S sig): the first stepping
 * action names the vCPU to step; every other vCPU continues. */
static void cmd_vcont(struct gdbstub *gs, char *args)
{
	int step = -1;
	char *save = NULL;
	for (char *a = strtok_r(args, ";", &save); a; a = strtok_r(NULL, ";", &save)) {
		char *colon = strchr(a, ':');
		int dflt = gs->c_cpu >= 0 ? gs->c_cpu : gs->g_cpu, cpu = dflt;
		if (colon) {
			if (parse_thread(colon + 1, &cpu) || (cpu >= 0 && !gs_vcpu(gs, cpu))) {
				gs_error(gs, EINVAL);
				return;
			}
			if (cpu < 0)
				cpu = dflt;
		}
		if ((a[0] == 's' || a[0] == 'S') && step < 0)
			step = cpu;
		else if (a[0] != 'c' && a[0] != 'C' && a[0] != 's' && a[0] != 'S') {
			gs_error(gs, EINVAL);
			return;
		}
	}
	if (step >= 0 && !gs->vm->accel_ops->set_guest_debug) {
		gs_error(gs, ENOSYS);
		return;
	}
	gs_resume(gs, step);
}

static void cmd_xfer_features(struct gdbstub *gs, const char *args)
{
	const char *xml = gdb_target_xml();
	size_t total = strlen(xml);
	uint64_t off, len;
	if (strncmp(args, "target.xml:", 11)) {
		gs_error(gs, ENOENT);
		return;
	}
	args += 11;
	if (parse_addr_len(&args, &off, &len) || *args) {
		gs_error(gs, EINVAL);
		return;
	}
	if (off >= total) {
		gs_puts(gs, "l");
		return;
	}
	if (len > GDB_PACKET_MAX - 1)
		len = GDB_PACKET_MAX - 1;
	size_t used;
	size_t n = gdb_escape((const uint8_t *)xml + off, total - off, gs->reply + 1, len, &used);
	gs->reply[0] = off + used >= total ? 'l' : 'm';
	gs_put(gs, gs->reply, n + 1);
}

static void cmd_query(struct gdbstub *gs, const char *p)
{
	char b[64];
	if (!strncmp(p, "qSupported", 10)) {
		snprintf(b, sizeof(b), "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+",
			 GDB_PACKET_MAX);
		gs_puts(gs, b);
	} else if (!strncmp(p, "qXfer:features:read:", 20)) {
		cmd_xfer_features(gs, p + 20);
	} else if (!strcmp(p, "qfThreadInfo")) {
		size_t o = 0;
		gs->reply[o++] = 'm';
		for (unsigned i = 0; i < gs->vm->cfg.cpus; i++)
			o += (size_t)snprintf(gs->reply + o, sizeof(gs->reply) - o, "%s%x",
					      i ? "," : "", i + 1);
		gs_put(gs, gs->reply, o);
	} else if (!strcmp(p, "qsThreadInfo")) {
		gs_puts(gs, "l");
	} else if (!strcmp(p, "qC")) {
		snprintf(b, sizeof(b), "QC%x", gs->g_cpu + 1);
		gs_puts(gs, b);
	} else if (!strncmp(p, "qAttached", 9)) {
		gs_puts(gs, "1"); /* attached to a running machine: quitting detaches */
	} else if (!strncmp(p, "qThreadExtraInfo,", 17)) {
		int cpu;
		if (parse_thread(p + 17, &cpu) || !gs_vcpu(gs, cpu)) {
			gs_error(gs, EINVAL);
			return;
		}
		char text[32];
		int n = snprintf(text, sizeof(text), "vCPU %d", cpu);
		gdb_hex_encode((const uint8_t *)text, (size_t)n, gs->reply);
		gs_put(gs, gs->reply, 2 * (size_t)n);
	} else if (!strncmp(p, "qSymbol", 7)) {
		gs_puts(gs, "OK");
	} else if (!strcmp(p, "QStartNoAckMode")) {
		gs_puts(gs, "OK");
		gs->no_ack = true;
	} else {
		gs_puts(gs, ""); /* not supported */
	}
}

static void gs_kill(struct gdbstub *gs)
{
	gs->hold = false;
	log_msg("gdb: the debugger killed the guest");
	vm_request_stop(gs->vm, VM_STOP_DEBUGGER, EXIT_OK);
	gs_drop_client(gs, NULL);
}

static void gs_handle_packet(struct gdbstub *gs, char *p, size_t len)
{
	if (!gs->vm) {
		gs_error(gs, 1);
		return;
	}
	switch (p[0]) {
	case '?':
		gs_stop_reply(gs);
		return;
	case 'g':
		cmd_read_regs(gs);
		return;
	case 'G':
		cmd_write_regs(gs, p + 1, len - 1);
		return;
	case 'p':
		cmd_read_reg(gs, p + 1);
		return;
	case 'P':
		cmd_write_reg(gs, p + 1);
		return;
	case 'm':
		cmd_read_mem(gs, p + 1);
		return;
	case 'M':
		cmd_write_mem(gs, p + 1);
		return;
	case 'X':
		cmd_write_mem_bin(gs, p, len);
		return;
	case 'Z':
	case 'z':
		cmd_breakpoint(gs, p[0] == 'Z', p + 1);
		return;
	case 'c':
	case 's':
	case 'C':
	case 'S':
		cmd_resume(gs, p[0], p + 1);
		return;
	case 'H': {
		int cpu;
		if ((p[1] != 'g' && p[1] != 'c') || parse_thread(p + 2, &cpu) ||
		    (cpu >= 0 && !gs_vcpu(gs, cpu))) {
			gs_error(gs, EINVAL);
			return;
		}
		if (p[1] == 'g' && cpu >= 0)
			gs->g_cpu = cpu;
		else if (p[1] == 'c')
			gs->c_cpu = cpu;
		gs_puts(gs, "OK");
		return;
	}
	case 'T': {
		int cpu;
		if (parse_thread(p + 1, &cpu) || !gs_vcpu(gs, cpu))
			gs_error(gs, EINVAL);
		else
			gs_puts(gs, "OK");
		return;
	}
	case 'q':
	case 'Q':
		cmd_query(gs, p);
		return;
	case 'v':
		if (!strcmp(p, "vCont?"))
			gs_puts(gs, "vCont;c;C;s;S");
		else if (!strncmp(p, "vCont;", 6))
			cmd_vcont(gs, p + 6);
		else if (!strncmp(p, "vKill", 5)) {
			gs_puts(gs, "OK");
			gs_kill(gs);
		} else
			gs_puts(gs, "");
		return;
	case 'k':
		gs_kill(gs);
		return;
	case 'D':
		gs->hold = false;
		gs->close_when_sent = true; /* gs_flush drops the client after "OK" */
		gs_puts(gs, "OK");
		return;
	default:
		gs_puts(gs, "");
	}
}
