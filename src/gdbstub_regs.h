/* The x86-64 register file as isola's gdb stub shows it: the numbering of
 * the 'g'/'p' packets and the target description (target.xml) that tells gdb
 * that numbering (GDB manual, appendix "Target Descriptions", §"i386
 * Features": org.gnu.gdb.i386.core, .sse and .segments, whose register names
 * gdb's i386:x86-64 support requires), plus isola's own feature with the
 * control registers. */
#ifndef ISOLA_GDBSTUB_REGS_H
#define ISOLA_GDBSTUB_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/regs.h"

/* One vCPU's state as the stub reads and writes it. */
struct gdb_cpu_state {
	struct x86_regs r;
	struct x86_sregs s;
	struct x86_fpu f;
};

/* What a register write changed, so only that goes back to the vCPU. */
enum { GDB_DIRTY_REGS = 1, GDB_DIRTY_SREGS = 2, GDB_DIRTY_FPU = 4 };

extern const unsigned gdb_nr_regs;
/* The registers of the 'g' packet: all of them. */
size_t gdb_regs_size(void);
/* Size in bytes of register n (0 if there is no such register). */
unsigned gdb_reg_size(unsigned n);
/* Register n as target-order bytes into out (gdb_reg_size(n) bytes). */
void gdb_reg_get(const struct gdb_cpu_state *st, unsigned n, uint8_t *out);
/* Set register n from target-order bytes. A GDB_DIRTY_* mask, or -EINVAL
 * for a change isola does not allow (a segment selector: reloading the
 * descriptor is the guest's business), -ENOENT for no such register. */
int gdb_reg_set(struct gdb_cpu_state *st, unsigned n, const uint8_t *in);

/* The target description document. */
const char *gdb_target_xml(void);

#endif
