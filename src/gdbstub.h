/* The gdb stub: `--gdb tcp:HOST:PORT` lets one gdb at a time attach to the
 * VM over the GDB Remote Serial Protocol (GDB manual, appendix "Remote
 * Protocol"), as QEMU's -s -S do; `--gdb-wait` keeps every vCPU before its
 * first instruction until gdb continues.
 *
 * It lives on the main thread's event loop: the listening socket, the
 * client's socket and the VM's pause eventfd are watched there, so neither
 * the loop nor a vCPU thread ever blocks on the debugger. While gdb has the
 * VM stopped, every vCPU thread is parked by the VM's pause protocol
 * (vm_pause, vm.h) and the stub reads and writes vCPU state through
 * accel_ops (get/set_regs, set_guest_debug, translate...).
 *
 * One thread per vCPU (thread id = vCPU index + 1). Breakpoints (Z0 and Z1
 * alike) are instruction addresses the back end checks before executing an
 * instruction (soft: in its loop; kvm: in the debug registers KVM keeps for
 * the host, at most four): guest memory is never patched, so 'm' shows the
 * guest's own bytes. Memory addresses are guest-virtual, translated through the page
 * tables of the vCPU selected with Hg. */
#ifndef ISOLA_GDBSTUB_H
#define ISOLA_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct eventloop;
struct gdbstub;
struct vm;

/* Check "tcp:HOST:PORT" (HOST a name, an IPv4 address or [IPv6]). 0, or
 * -EINVAL with one line in err. */
int gdbstub_parse_spec(const char *spec, char *host, size_t hostlen, uint16_t *port, char *err,
		       size_t errlen);

/* Listen on spec (port 0: any free port; the line printed says which).
 * 0, or -errno with one line in err (a port in use, a host that does not
 * resolve). */
int gdbstub_open(const char *spec, bool wait, struct eventloop *loop, struct gdbstub **out,
		 char *err, size_t errlen);

/* A VM was built and is about to start: the debugger's breakpoints reach
 * its vCPUs, and it starts paused if --gdb-wait asks (first VM) or the
 * debugger holds the previous one stopped. 0 or -errno. */
int gdbstub_attach(struct gdbstub *gs, struct vm *vm);
/* The VM has stopped (its threads are joined or about to be). final: isola
 * ends with status, which a connected gdb is told ('W' packet); else the
 * VM is replaced by a new one (reset, --on-reset restart). */
void gdbstub_detach(struct gdbstub *gs, struct vm *vm, bool final, int status);
void gdbstub_close(struct gdbstub *gs);

#endif
