/* --trace on the soft CPU: one line per instruction executed and one per
 * exception or interrupt delivered, to a bounded trace file (trace.h).
 *
 *   cpu0 000000000020001a cpl0 long64  48 89 e5               mov rbp, rsp
 *   cpu0 exception #PF (14) error 0x2 cr2 0x7f0000000000 at 0000000000200045
 *   cpu0 interrupt 0x30 at ffffffff8100a0c2
 *
 * An instruction line is written before the instruction runs, so a
 * faulting one appears, followed by its exception. The instruction's bytes
 * are read as a debugger reads them (no side effects) and disassembled by
 * Zydis — slow, but only traced runs pay it (exec.c, run_debug). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>
#endif

#include "accel/soft/cpu.h"
#include "memory.h"
#include "trace.h"

static const char *mode_name(const struct soft_cpu *cpu)
{
	if (!(cpu->cr0 & X86_CR0_PE))
		return "real";
	if (cpu->rflags & FL_VM)
		return "v86";
	if (soft_64bit(cpu))
		return "long64";
	if (soft_long_mode(cpu))
		return cpu->seg[X86_CS].db ? "compat32" : "compat16";
	return cpu->seg[X86_CS].db ? "prot32" : "prot16";
}

/* Up to 15 bytes of code at the linear address; how many could be read. */
static unsigned read_code(struct soft_cpu *cpu, uint64_t lin, uint8_t *buf)
{
	unsigned n = 0;
	while (n < 15) {
		uint64_t gpa;
		unsigned chunk = SOFT_PAGE_SIZE - ((lin + n) & 0xfff);
		if (chunk > 15 - n)
			chunk = 15 - n;
		if (soft_debug_translate(cpu, lin + n, &gpa) ||
		    gm_read(cpu->mem, gpa, buf + n, chunk))
			break;
		n += chunk;
	}
	return n;
}

void soft_trace_insn(struct soft_cpu *cpu)
{
	struct trace_file *t = cpu->trace;
	if (!t || trace_full(t))
		return;
	if (cpu->trace_last.count == cpu->insn_count && cpu->trace_last.rip == cpu->rip &&
	    cpu->trace_last.events == cpu->events_delivered)
		return; /* the same instruction again, after an exit to the VMM */
	cpu->trace_last.count = cpu->insn_count;
	cpu->trace_last.rip = cpu->rip;
	cpu->trace_last.events = cpu->events_delivered;

	uint64_t lin = soft_64bit(cpu) ? cpu->rip : cpu->seg[X86_CS].base + cpu->rip;
	if (!soft_long_mode(cpu))
		lin &= 0xffffffffull;
	uint8_t code[15];
	unsigned n = read_code(cpu, lin, code);
	char line[256];
	int len = snprintf(line, sizeof(line), "cpu%d %016" PRIx64 " cpl%u %-8s", cpu->index,
			   cpu->rip, cpu->cpl, mode_name(cpu));
	const char *text = n ? "(undecodable)" : "(code not readable)";
	unsigned ilen = n;
#ifdef HAVE_ZYDIS
	ZydisDisassembledInstruction d;
	ZydisMachineMode mode = soft_64bit(cpu) ? ZYDIS_MACHINE_MODE_LONG_64 :
				!(cpu->cr0 & X86_CR0_PE) ? ZYDIS_MACHINE_MODE_REAL_16 :
				soft_long_mode(cpu) ?
				(cpu->seg[X86_CS].db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 :
						       ZYDIS_MACHINE_MODE_LONG_COMPAT_16) :
				(cpu->seg[X86_CS].db ? ZYDIS_MACHINE_MODE_LEGACY_32 :
						       ZYDIS_MACHINE_MODE_LEGACY_16);
	if (n && ZYAN_SUCCESS(ZydisDisassembleIntel(mode, cpu->rip, code, n, &d))) {
		text = d.text;
		ilen = d.info.length;
	}
#endif
	for (unsigned i = 0; i < 15 && len < 200; i++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, i < ilen ? " %02x" : "   ",
				i < ilen ? code[i] : 0);
	if (len > 200)
		len = 200;
	len += snprintf(line + len, sizeof(line) - (size_t)len, "  %s", text);
	if (len >= (int)sizeof(line))
		len = (int)sizeof(line) - 1;
	trace_write(t, line, (size_t)len);
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF9", "#TS", "#NP",
	"#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

void soft_trace_event(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
		      bool soft_int)
{
	struct trace_file *t = cpu->trace;
	if (!t || trace_full(t))
		return;
	char line[160];
	int len;
	if (soft_int)
		len = snprintf(line, sizeof(line), "cpu%d software interrupt 0x%02x at %016" PRIx64,
			       cpu->index, vector, cpu->rip);
	else if (vector < 32)
		len = snprintf(line, sizeof(line), "cpu%d exception %s (%u)", cpu->index,
			       exc_names[vector], vector);
	else
		len = snprintf(line, sizeof(line), "cpu%d interrupt 0x%02x", cpu->index, vector);
	if (!soft_int && has_error)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " error 0x%x", error);
	if (!soft_int && vector == EXC_PF)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " cr2 0x%" PRIx64, cpu->cr2);
	if (!soft_int)
		len += snprintf(line + len, sizeof(line) - (size_t)len, " at %016" PRIx64, cpu->rip);
	if (len >= (int)sizeof(line))
		len = (int)sizeof(line) - 1;
	trace_write(t, line, (size_t)len);
}
