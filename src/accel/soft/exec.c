/* The soft CPU's execution loop, its architectural state set-up, and the
 * helpers every instruction handler uses: operand access, flags, the stack.
 *
 * Flags are computed eagerly (correct first; lazy flags can come later behind
 * the same soft_flags_* helpers). Where the SDM leaves a flag undefined, the
 * comment at the helper says what this CPU produces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "memory.h"

/* Instructions between two looks at the kick flag. */
#define SOFT_KICK_INTERVAL 1024

int soft_error_exit(struct soft_cpu *cpu, const char *what, uint64_t d0, uint64_t d1)
{
	memset(&cpu->exit, 0, sizeof(cpu->exit));
	cpu->exit.kind = VCPU_EXIT_ERROR;
	snprintf(cpu->exit.error.what, sizeof(cpu->exit.error.what), "%s", what);
	cpu->exit.error.detail[0] = d0;
	cpu->exit.error.detail[1] = d1;
	cpu->exit.error.detail[2] = cpu->rip;
	cpu->exit.error.detail[3] = cpu->seg[X86_CS].selector;
	return SOFT_EXIT;
}

int soft_exec_ud(struct soft_cpu *cpu, const struct soft_insn *in)
{
	return soft_ud(cpu);
}

/* ---- registers and operands ---- */

uint64_t soft_reg_read(const struct soft_cpu *cpu, unsigned gpr, unsigned size)
{
	return cpu->gpr[gpr] & soft_mask(size);
}

/* 32-bit writes zero-extend into the full register; 8- and 16-bit writes
 * keep the rest (SDM Vol. 1 §3.4.1.1). */
void soft_reg_write(struct soft_cpu *cpu, unsigned gpr, unsigned size, uint64_t v)
{
	if (size >= 4)
		cpu->gpr[gpr] = v & soft_mask(size);
	else
		cpu->gpr[gpr] = (cpu->gpr[gpr] & ~soft_mask(size)) | (v & soft_mask(size));
}

uint64_t soft_op_ea(const struct soft_cpu *cpu, const struct soft_insn *in,
		    const struct soft_operand *op)
{
	uint64_t ea = (uint64_t)op->val;
	if (op->base == SOFT_RIPREG)
		ea += cpu->next_rip;
	else if (op->base != SOFT_NOREG)
		ea += cpu->gpr[op->base];
	if (op->index != SOFT_NOREG)
		ea += cpu->gpr[op->index] * op->scale;
	return ea & soft_mask(in->asize);
}

int soft_op_read_any(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint64_t *v)
{
	const struct soft_operand *op = &in->op[i];
	switch (op->kind) {
	case SOP_REG:
		switch (op->rclass) {
		case SREG_GPR:
			*v = soft_reg_read(cpu, op->reg, op->size);
			return SOFT_OK;
		case SREG_GPR8H:
			*v = (cpu->gpr[op->reg] >> 8) & 0xff;
			return SOFT_OK;
		case SREG_SEG:
			*v = cpu->seg[op->reg].selector;
			return SOFT_OK;
		default:
			return soft_ud(cpu);
		}
	case SOP_MEM: {
		if (op->size > 8)
			return soft_error_exit(cpu, "soft CPU: wide operand read", op->size, 0);
		*v = 0;
		return soft_mem_read(cpu, op->seg, soft_op_ea(cpu, in, op), v, op->size);
	}
	case SOP_IMM:
		*v = (uint64_t)op->val;
		return SOFT_OK;
	default:
		return soft_ud(cpu);
	}
}

int soft_op_write_any(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint64_t v)
{
	const struct soft_operand *op = &in->op[i];
	switch (op->kind) {
	case SOP_REG:
		if (op->rclass == SREG_GPR) {
			soft_reg_write(cpu, op->reg, op->size, v);
			return SOFT_OK;
		}
		if (op->rclass == SREG_GPR8H) {
			cpu->gpr[op->reg] = (cpu->gpr[op->reg] & ~0xff00ull) | ((v & 0xff) << 8);
			return SOFT_OK;
		}
		return soft_ud(cpu);
	case SOP_MEM:
		if (op->size > 8)
			return soft_error_exit(cpu, "soft CPU: wide operand write", op->size, 0);
		return soft_mem_write(cpu, op->seg, soft_op_ea(cpu, in, op), &v, op->size);
	default:
		return soft_ud(cpu);
	}
}

/* ---- flags ---- */

static inline uint64_t bit_if(bool c, uint64_t bit)
{
	return c ? bit : 0;
}

void soft_flags_szp(struct soft_cpu *cpu, uint64_t res, unsigned size)
{
	res &= soft_mask(size);
	cpu->rflags &= ~(FL_SF | FL_ZF | FL_PF);
	cpu->rflags |= bit_if(res == 0, FL_ZF) | bit_if(res >> (size * 8 - 1), FL_SF) |
		       bit_if(!__builtin_parity((unsigned)(res & 0xff)), FL_PF);
}

void soft_flags_add(struct soft_cpu *cpu, uint64_t a, uint64_t b, uint64_t carry, unsigned size)
{
	uint64_t m = soft_mask(size);
	a &= m, b &= m;
	uint64_t res = (a + b + carry) & m;
	bool cf = carry ? res <= a : res < a;
	bool of = (((a ^ res) & (b ^ res)) >> (size * 8 - 1)) & 1;
	cpu->rflags &= ~(FL_CF | FL_OF | FL_AF);
	cpu->rflags |= bit_if(cf, FL_CF) | bit_if(of, FL_OF) | bit_if((a ^ b ^ res) & 0x10, FL_AF);
	soft_flags_szp(cpu, res, size);
}

void soft_flags_sub(struct soft_cpu *cpu, uint64_t a, uint64_t b, uint64_t borrow,
		    unsigned size)
{
	uint64_t m = soft_mask(size);
	a &= m, b &= m;
	uint64_t res = (a - b - borrow) & m;
	bool cf = borrow ? a <= b : a < b;
	bool of = (((a ^ b) & (a ^ res)) >> (size * 8 - 1)) & 1;
	cpu->rflags &= ~(FL_CF | FL_OF | FL_AF);
	cpu->rflags |= bit_if(cf, FL_CF) | bit_if(of, FL_OF) | bit_if((a ^ b ^ res) & 0x10, FL_AF);
	soft_flags_szp(cpu, res, size);
}

/* AND/OR/XOR/TEST: CF = OF = 0; AF is undefined in the SDM, cleared here as
 * current Intel and AMD parts do. */
void soft_flags_logic(struct soft_cpu *cpu, uint64_t res, unsigned size)
{
	cpu->rflags &= ~(FL_CF | FL_OF | FL_AF);
	soft_flags_szp(cpu, res, size);
}

bool soft_cond(const struct soft_cpu *cpu, unsigned cc)
{
	uint64_t f = cpu->rflags;
	bool r;
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = (f & FL_CF) || (f & FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !!(f & FL_SF) != !!(f & FL_OF); break;
	default: r = (f & FL_ZF) || (!!(f & FL_SF) != !!(f & FL_OF)); break;
	}
	return (cc & 1) ? !r : r;
}

/* ---- the stack ---- */

/* Width of the stack pointer: RSP in 64-bit mode, else ESP or SP by SS.B. */
unsigned soft_stack_size(const struct soft_cpu *cpu)
{
	if (soft_64bit(cpu))
		return 8;
	return cpu->seg[X86_SS].db ? 4 : 2;
}

uint64_t soft_ip_mask(const struct soft_cpu *cpu)
{
	if (soft_64bit(cpu))
		return ~0ull;
	return cpu->seg[X86_CS].db ? 0xffffffffull : 0xffffull;
}

void soft_rsp_add(struct soft_cpu *cpu, int64_t delta)
{
	unsigned ss = soft_stack_size(cpu);
	soft_reg_write(cpu, X86_RSP, ss, cpu->gpr[X86_RSP] + (uint64_t)delta);
}

int soft_push(struct soft_cpu *cpu, uint64_t v, unsigned size)
{
	unsigned ss = soft_stack_size(cpu);
	uint64_t sp = (cpu->gpr[X86_RSP] - size) & soft_mask(ss);
	int rc = soft_mem_write(cpu, X86_SS, sp, &v, size);
	if (rc)
		return rc;
	soft_reg_write(cpu, X86_RSP, ss, sp);
	return SOFT_OK;
}

int soft_peek(struct soft_cpu *cpu, uint64_t off, uint64_t *v, unsigned size)
{
	unsigned ss = soft_stack_size(cpu);
	*v = 0;
	return soft_mem_read(cpu, X86_SS, (cpu->gpr[X86_RSP] + off) & soft_mask(ss), v, size);
}

/* ---- state ---- */

/* The state after RESET (SDM Vol. 3A §9.1.1, Table 9-1). */
void soft_cpu_reset(struct soft_cpu *cpu)
{
	memset(cpu->gpr, 0, sizeof(cpu->gpr));
	cpu->gpr[X86_RDX] = 0x600; /* family 6, as CPUID reports */
	cpu->rip = 0xfff0;
	cpu->rflags = X86_RFLAGS_FIXED;
	for (int i = 0; i < X86_NR_SEGS; i++) {
		struct x86_segment *s = &cpu->seg[i];
		memset(s, 0, sizeof(*s));
		s->limit = 0xffff;
		s->present = 1;
		s->s = 1;
		s->type = 3; /* read/write data, accessed */
	}
	cpu->seg[X86_CS].selector = 0xf000;
	cpu->seg[X86_CS].base = 0xffff0000;
	cpu->seg[X86_CS].type = 0xb; /* execute/read code, accessed */
	cpu->seg[X86_LDTR].s = 0;
	cpu->seg[X86_LDTR].type = 2;
	cpu->seg[X86_TR].s = 0;
	cpu->seg[X86_TR].type = 0xb;
	cpu->gdt.base = cpu->idt.base = 0;
	cpu->gdt.limit = cpu->idt.limit = 0xffff;
	cpu->cr0 = 0x60000010;
	cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = cpu->efer = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr[6] = 0xffff0ff0;
	cpu->dr[7] = 0x400;
	cpu->cpl = 0;
	cpu->apic_base = 0xfee00000ull | (1ull << 11) | (cpu->index == 0 ? 1ull << 8 : 0);
	cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
	cpu->tsc_aux = 0;
	cpu->pat = 0x0007040600070406ull;
	cpu->misc_enable = 1; /* fast strings */
	cpu->mtrr_def_type = 0;
	cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
	memset(cpu->xmm, 0, sizeof(cpu->xmm));
	cpu->mxcsr = 0x1f80;
	cpu->fcw = 0x37f;
	cpu->fsw = 0;
	cpu->ftw = 0;
	memset(cpu->st, 0, sizeof(cpu->st));
	cpu->fip = cpu->fdp = 0;
	cpu->fop = cpu->fcs = cpu->fds = 0;
	cpu->int_shadow = false;
	soft_cpu_drop_pending(cpu);
	soft_tlb_flush(cpu, true);
}

void soft_cpu_drop_pending(struct soft_cpu *cpu)
{
	cpu->mmio_wq_n = cpu->mmio_wq_pos = 0;
	cpu->io.state = IO_IDLE;
	cpu->mmio_replay_n = cpu->mmio_replay_pos = 0;
	cpu->mmio_wait = false;
	cpu->exit_after_commit = false;
}

int soft_cpu_init(struct soft_cpu *cpu, struct soft_vm *svm, int index)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->index = index;
	cpu->vm = svm;
	cpu->mem = svm->mem;
	atomic_init(&cpu->kick, false);
	int rc = soft_decode_init(&cpu->dc);
	if (rc)
		return rc;
	soft_cpu_reset(cpu);
	return 0;
}

void soft_cpu_destroy(struct soft_cpu *cpu)
{
	soft_decode_destroy(&cpu->dc);
}

void soft_cpu_get_regs(const struct soft_cpu *cpu, struct x86_regs *r)
{
	memcpy(r->gpr, cpu->gpr, sizeof(r->gpr));
	r->rip = cpu->rip;
	r->rflags = cpu->rflags;
}

void soft_cpu_set_regs(struct soft_cpu *cpu, const struct x86_regs *r)
{
	memcpy(cpu->gpr, r->gpr, sizeof(cpu->gpr));
	cpu->rip = r->rip;
	/* Reserved bits read as their fixed values (bit 1 set; 3, 5, 15, 22-63 clear). */
	cpu->rflags = (r->rflags & 0x3f7fd5ull) | X86_RFLAGS_FIXED;
	cpu->dc.prev = NULL; /* RIP moved under it */
	soft_cpu_drop_pending(cpu);
}

void soft_cpu_get_sregs(const struct soft_cpu *cpu, struct x86_sregs *s)
{
	memcpy(s->seg, cpu->seg, sizeof(s->seg));
	s->gdt = cpu->gdt;
	s->idt = cpu->idt;
	s->cr0 = cpu->cr0;
	s->cr2 = cpu->cr2;
	s->cr3 = cpu->cr3;
	s->cr4 = cpu->cr4;
	s->cr8 = soft_get_cr8(cpu);
	s->efer = cpu->efer;
	s->apic_base = cpu->apic_base;
}

void soft_cpu_set_sregs(struct soft_cpu *cpu, const struct x86_sregs *s)
{
	memcpy(cpu->seg, s->seg, sizeof(cpu->seg));
	cpu->gdt = s->gdt;
	cpu->idt = s->idt;
	cpu->cr0 = s->cr0;
	cpu->cr2 = s->cr2;
	cpu->cr3 = s->cr3;
	cpu->cr4 = s->cr4;
	cpu->efer = s->efer;
	cpu->apic_base = s->apic_base;
	soft_apic_base_changed(cpu);
	soft_set_cr8(cpu, s->cr8);
	soft_mode_changed(cpu);
	/* SS.DPL is the CPL (as VMX defines it, SDM Vol. 3C §24.4.1). */
	cpu->cpl = (cpu->cr0 & X86_CR0_PE) ? cpu->seg[X86_SS].dpl : 0;
	soft_tlb_flush(cpu, true);
	cpu->dc.prev = NULL;
	soft_cpu_drop_pending(cpu);
}

/* ---- the loop ---- */

/* Single-step (SDM Vol. 3B §18.3.1.4): with TF set when an instruction
 * starts, a #DB trap follows it, with DR6.BS — unless the instruction itself
 * delivered an event (INT n, a fault), whose handler starts with TF clear.
 * A REP string instruction traps after each iteration batch it completes. */
static int single_step_trap(struct soft_cpu *cpu)
{
	cpu->dc.prev = NULL;
	cpu->dr[6] |= 1ull << 14; /* BS */
	return soft_deliver(cpu, EXC_DB, false, 0, false, cpu->rip) != SOFT_OK;
}

/* What follows an instruction that ran (rc from its handler; in NULL when
 * the fetch failed). 0 to go on, 1 when cpu->exit holds an exit. */
static inline __attribute__((always_inline)) int finish(struct soft_cpu *cpu,
							const struct soft_insn *in, int rc,
							bool tf)
{
	switch (rc) {
	case SOFT_OK:
		/* Fell through: link its successor when that is fetched. */
		if (cpu->next_rip == cpu->rip + in->len && !cpu->delivered &&
		    in != &cpu->dc.scratch)
			cpu->dc.prev = (struct soft_insn *)in;
		cpu->rip = cpu->next_rip;
		cpu->insn_count++;
		cpu->mmio_replay_n = 0;
		/* The trap leaves cpu->exit alone unless it fails for good
		 * (then that exit wins over a buffered device write). */
		if (tf && !cpu->delivered && single_step_trap(cpu))
			return 1;
		return cpu->exit_after_commit;
	case SOFT_FAULT:
		/* Nothing of the instruction happened; what it read from
		 * devices is lost as on hardware that faults after a read. */
		cpu->mmio_replay_n = 0;
		cpu->exit_after_commit = false;
		cpu->mmio_wq_n = cpu->mmio_wq_pos = 0;
		if (cpu->io.state == IO_READ_DONE)
			cpu->io.state = IO_IDLE;
		return soft_deliver(cpu, cpu->fault.vector, cpu->fault.has_error,
				    cpu->fault.error, false, cpu->rip) != SOFT_OK;
	default:
		return 1;
	}
}

/* Run one instruction. 0 to go on, 1 when cpu->exit holds an exit. Inlined
 * into both loops (the common one and run_debug): a call here costs the hot
 * path ~10%. */
static inline __attribute__((always_inline)) int step(struct soft_cpu *cpu)
{
	const struct soft_insn *in = soft_fetch_cached(cpu);
	bool tf = cpu->rflags & FL_TF;
	int rc = SOFT_OK;

	/* prev has served; it is set again only if this one falls through. */
	cpu->dc.prev = NULL;
	cpu->exit_after_commit = false;
	cpu->mmio_wq_n = cpu->mmio_wq_pos = 0;
	cpu->mmio_replay_pos = 0;
	cpu->delivered = false;
	if (!in)
		rc = soft_fetch(cpu, &in);
	if (rc == SOFT_OK) {
		cpu->next_rip = (cpu->rip + in->len) & soft_ip_mask(cpu);
		cpu->int_shadow = false;
		rc = in->fn(cpu, in);
	}
	return finish(cpu, in, rc, tf);
}

/* The fast path: up to max instructions of 64-bit code straight from the
 * decoded page the last fetch used, while they are plain (INSN_PLAIN) and
 * stay on that page. What step() checks before every instruction holds for
 * all of them once it holds for the first: CPL, mode, paging and TF change
 * only through instructions that are not plain, which end the run after
 * they complete. What still needs a look after each instruction is looked
 * at: the page's generation (a store into the code being run), a device
 * write to send (exit_after_commit), an interrupt request. The per-
 * instruction bookkeeping step() resets stays reset: plain instructions
 * that complete leave it so (an MMIO read exits; an MMIO write sets
 * exit_after_commit, which ends the run).
 *
 * Returns like step(); *steps gets how many of the instructions it ran
 * would have made step() return 0 (what insn_budget counts), and is 0 with
 * a return of 0 when the fast path does not apply (the caller steps). */
static int run_fast(struct soft_cpu *cpu, int max, int *steps)
{
	struct soft_decode_cache *dc = &cpu->dc;
	uint64_t rip = cpu->rip;
	int n = 0, rc = 0;

	*steps = 0;
	if (!dc->fast.valid || dc->fast.lin_page != (rip & ~0xfffull) || dc->fast.cpl != cpu->cpl ||
	    dc->fast.mode != SOFT_DECODE_MODE_64 || !soft_64bit(cpu) || (cpu->rflags & FL_TF) ||
	    cpu->io.state != IO_IDLE || cpu->mmio_replay_n)
		return 0;
	struct soft_code_page *p = dc->fast.page;
	_Atomic uint32_t *genp = dc->fast.genp;
	const uint32_t gen = p->gen;
	if (gen != atomic_load_explicit(genp, memory_order_acquire))
		return 0;
	const uint64_t page = rip & ~0xfffull;
	struct soft_insn *prev = dc->prev, *in;

	cpu->exit_after_commit = false;
	cpu->mmio_wq_n = cpu->mmio_wq_pos = 0;
	cpu->mmio_replay_pos = 0;
	cpu->delivered = false;
	for (;;) {
		if (prev && prev->next) {
			in = prev->next;
		} else {
			unsigned s;
			if ((rip & ~0xfffull) != page || !(s = p->slot[rip & 0xfff]))
				break;
			in = &p->blocks[(s - 1) / SOFT_INSN_BLOCK][(s - 1) % SOFT_INSN_BLOCK];
			if (prev)
				prev->next = in;
		}
		const uint64_t fall = rip + in->len;
		cpu->next_rip = fall;
		cpu->int_shadow = false;
		rc = in->fn(cpu, in);
		if (__builtin_expect(rc != SOFT_OK, 0)) {
			dc->prev = NULL;
			cpu->insn_count += (uint64_t)n;
			rc = finish(cpu, in, rc, false);
			*steps = n + !rc;
			return rc;
		}
		n++;
		rip = cpu->next_rip;
		prev = (rip == fall && !cpu->delivered) ? in : NULL;
		if (__builtin_expect(!(in->flags & INSN_PLAIN) || cpu->exit_after_commit ||
				     cpu->delivered, 0)) {
			rc = cpu->exit_after_commit;
			break;
		}
		cpu->rip = rip;
		if (n >= max || gen != atomic_load_explicit(genp, memory_order_acquire) ||
		    atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed))
			break;
	}
	cpu->rip = rip;
	dc->prev = prev;
	cpu->mmio_replay_n = 0;
	cpu->insn_count += (uint64_t)n;
	*steps = n - rc;
	return rc;
}

static bool exit_kicked(struct soft_cpu *cpu, struct vcpu_exit *exit)
{
	if (!atomic_load_explicit(&cpu->kick, memory_order_relaxed))
		return false;
	atomic_store(&cpu->kick, false);
	memset(exit, 0, sizeof(*exit));
	exit->kind = VCPU_EXIT_KICKED;
	return true;
}

static void debug_exit(struct soft_cpu *cpu, struct vcpu_exit *exit, bool breakpoint)
{
	memset(exit, 0, sizeof(*exit));
	exit->kind = VCPU_EXIT_DEBUG;
	exit->debug.pc = cpu->rip;
	exit->debug.breakpoint = breakpoint;
}

static bool breakpoint_at(const struct soft_cpu *cpu, uint64_t rip)
{
	for (unsigned i = 0; i < cpu->dbg.nr_bp; i++)
		if (cpu->dbg.bp[i] == rip)
			return true;
	return false;
}

/* The loop of soft_cpu_run with the debugger's and the tracer's hooks, for
 * one kick interval. 1 when *exit holds an exit, 0 to go round the outer
 * loop (kicks, sleeping). Breakpoints are checked before an instruction
 * runs, like an instruction breakpoint in DR7 (no guest memory is
 * patched); a single step ends after an instruction completes or an
 * exception replaces it. While stepping, external interrupts wait (as QEMU
 * steps by default) unless the vCPU is halted: so a step does not land in
 * a timer handler, and a step over HLT wakes on the next interrupt. */
static int run_debug(struct soft_cpu *cpu, struct vcpu_exit *exit)
{
	for (int i = 0; i < SOFT_KICK_INTERVAL; i++) {
		bool stepping = cpu->dbg_mode & SOFT_DBG_STEP;
		if (!stepping &&
		    atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed) &&
		    soft_take_events(cpu)) {
			*exit = cpu->exit;
			return 1;
		}
		if (cpu->activity != SOFT_ACTIVE)
			return 0;
		if ((cpu->dbg_mode & SOFT_DBG_BP) && breakpoint_at(cpu, cpu->rip)) {
			debug_exit(cpu, exit, true);
			return 1;
		}
		if (cpu->dbg_mode & SOFT_DBG_TRACE)
			soft_trace_insn(cpu);
		uint64_t count = cpu->insn_count;
		int rc = step(cpu);
		if (stepping && (cpu->insn_count != count || cpu->delivered))
			cpu->dbg_step_done = true;
		if (rc) {
			*exit = cpu->exit; /* the step is reported on the next run */
			return 1;
		}
		if (cpu->dbg_step_done) {
			cpu->dbg_step_done = false;
			debug_exit(cpu, exit, false);
			return 1;
		}
		if (cpu->insn_budget && !--cpu->insn_budget) {
			memset(exit, 0, sizeof(*exit));
			exit->kind = VCPU_EXIT_KICKED;
			return 1;
		}
	}
	return 0;
}

int soft_cpu_run(struct soft_cpu *cpu, struct vcpu_exit *exit)
{
	/* The VMM has filled in the data of the read we exited for. */
	if (cpu->io.state == IO_WAIT_READ)
		cpu->io.state = IO_READ_DONE;
	if (cpu->mmio_wait) {
		cpu->mmio_wait = false;
		cpu->mmio_replay_n++;
	}
	/* The rest of a committed instruction's device writes go first. */
	if (cpu->mmio_wq_pos < cpu->mmio_wq_n) {
		soft_mmio_write_exit(cpu, cpu->mmio_wq_pos);
		*exit = cpu->exit;
		return 0;
	}
	cpu->mmio_wq_n = cpu->mmio_wq_pos = 0;
	for (;;) {
		if (exit_kicked(cpu, exit))
			return 0;
		if (cpu->dbg_step_done) {
			cpu->dbg_step_done = false;
			debug_exit(cpu, exit, false);
			return 0;
		}
		if (cpu->activity != SOFT_ACTIVE) {
			/* HLT or wait-for-SIPI: sleep until the interrupt
			 * controllers or a kick wake the thread. A wake-up
			 * after seq was read makes the sleep return at once. */
			uint32_t seq = atomic_load(&cpu->wake_seq);
			if (atomic_load(&cpu->irq_pending) && soft_take_events(cpu)) {
				*exit = cpu->exit;
				return 0;
			}
			if (cpu->activity != SOFT_ACTIVE) {
				if (exit_kicked(cpu, exit))
					return 0;
				soft_cpu_sleep(cpu, seq);
				continue;
			}
		}
		if (cpu->dbg_mode) {
			if (run_debug(cpu, exit))
				return 0;
			continue;
		}
		for (int i = 0; i < SOFT_KICK_INTERVAL; i++) {
			bool budgeted = cpu->insn_budget != 0;
			if (atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed) &&
			    soft_take_events(cpu)) {
				*exit = cpu->exit;
				return 0;
			}
			if (cpu->activity != SOFT_ACTIVE)
				break;
			int steps, max = SOFT_KICK_INTERVAL - i;
			if (cpu->insn_budget && cpu->insn_budget < (uint64_t)max)
				max = (int)cpu->insn_budget;
			int r = run_fast(cpu, max, &steps);
			if (steps && cpu->insn_budget)
				cpu->insn_budget -= (uint64_t)steps;
			if (r) {
				*exit = cpu->exit;
				return 0;
			}
			if (steps) {
				if (cpu->insn_budget == 0 && budgeted) {
					memset(exit, 0, sizeof(*exit));
					exit->kind = VCPU_EXIT_KICKED;
					return 0;
				}
				i += steps - 1;
				continue;
			}
			if (step(cpu)) {
				*exit = cpu->exit;
				return 0;
			}
			if (cpu->insn_budget && !--cpu->insn_budget) {
				memset(exit, 0, sizeof(*exit));
				exit->kind = VCPU_EXIT_KICKED;
				return 0;
			}
		}
	}
}
