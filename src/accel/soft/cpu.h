/* The soft CPU: isola's own x86-64 processor, shared definitions.
 *
 * How an instruction runs (exec.c): RIP is translated through the software MMU
 * (mmu.c) to a guest-physical address; the per-vCPU decode cache (decode.c)
 * maps that address to a struct soft_insn decoded once by Zydis, which carries
 * a pointer to its handler (exec_*.c). The handler reads and writes operands
 * through the helpers below, and returns one of the SOFT_* status codes:
 *
 *   SOFT_OK     the instruction completed: RIP <- cpu->next_rip.
 *   SOFT_FAULT  it raised an exception (cpu->fault): no architectural state
 *               was changed, RIP still points at it; except.c delivers it.
 *   SOFT_EXIT   it needs the VMM first (an I/O or MMIO read, an error): the
 *               exit is in cpu->exit; the instruction is executed again from
 *               the start on the next vcpu_run, when the data is there.
 *
 * Handlers therefore do everything that can fault before they change any
 * register, and write their memory destination last. Writes that leave the
 * CPU (OUT, MMIO stores) are buffered in cpu->exit, the instruction commits,
 * and then vcpu_run returns that exit, as cpu->exit_after_commit says; a store that
 * takes several device writes (16 bytes, or split across pages) queues them
 * in cpu->mmio_wq and the next vcpu_run calls return the rest.
 *
 * Pending completions (I/O and MMIO reads): the VMM fills the data buffer the
 * exit points into (owned by the CPU) and calls vcpu_run again. The instruction
 * is re-executed from the start; its I/O read finds the completed data in
 * cpu->io, its MMIO reads are replayed in order from cpu->mmio_replay[] — so a
 * device register is read exactly once however many MMIO reads one
 * instruction does before it can complete. */
#ifndef ISOLA_SOFT_CPU_H
#define ISOLA_SOFT_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accel/accel.h"
#include "arch/x86/regs.h"

struct guest_mem;
struct irqchip;
struct soft_cpu;
struct soft_insn;

enum soft_activity { SOFT_ACTIVE, SOFT_HALTED, SOFT_WAIT_SIPI };

/* The interrupt controller a vCPU takes external interrupts from. It raises
 * cpu->irq_pending (any thread, then soft_cpu_wake()); at an instruction
 * boundary with RFLAGS.IF set and no interrupt shadow the CPU calls ack(),
 * which returns the vector to deliver (and does the controller's bookkeeping:
 * IRR -> ISR) or -1 if the request went away; the CPU clears irq_pending
 * before calling it, so ack() raises it again if more interrupts wait.
 * Without a controller (intc.ack NULL) HLT exits to the VMM.
 *
 * In a VM the controller is the irqchip (devices/irqchip.h, wired in soft.c
 * and intr.c): cpu->chip is set, ack is irqchip_intc_ack, and the vCPU's
 * local APIC also serves its APIC page, CR8, NMIs and INIT/SIPI. */
struct soft_intc {
	int (*ack)(void *opaque);
	void *opaque;
};

/* ---- status codes ---- */
#define SOFT_OK    0
#define SOFT_FAULT 1
#define SOFT_EXIT  2

/* ---- RFLAGS ---- */
#define FL_CF   (1ull << 0)
#define FL_PF   (1ull << 2)
#define FL_AF   (1ull << 4)
#define FL_ZF   (1ull << 6)
#define FL_SF   (1ull << 7)
#define FL_TF   (1ull << 8)
#define FL_IF   (1ull << 9)
#define FL_DF   (1ull << 10)
#define FL_OF   (1ull << 11)
#define FL_IOPL (3ull << 12)
#define FL_NT   (1ull << 14)
#define FL_RF   (1ull << 16)
#define FL_VM   (1ull << 17)
#define FL_AC   (1ull << 18)
#define FL_VIF  (1ull << 19)
#define FL_VIP  (1ull << 20)
#define FL_ID   (1ull << 21)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* ---- more architectural bits ---- */
#define CR0_TS (1ull << 3)
#define CR0_EM (1ull << 2)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_TSD (1ull << 2)
#define CR4_DE  (1ull << 3)
#define CR4_PSE (1ull << 4)

/* Exception vectors (SDM Vol. 3A §6.3.1). */
enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
       EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13,
       EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18, EXC_XM = 19 };

/* #PF error code bits (SDM Vol. 3A §4.7). */
#define PFERR_P    (1u << 0)
#define PFERR_W    (1u << 1)
#define PFERR_U    (1u << 2)
#define PFERR_RSVD (1u << 3)
#define PFERR_I    (1u << 4)

/* The physical-address width the CPU reports (CPUID 0x80000008) and enforces
 * in page-table entries and CR3. */
#define SOFT_MAXPHYADDR 40

/* ---- decoded instructions ---- */
/* SOP_PTR: a far pointer immediate (JMP/CALL ptr16:16/32): val = selector << 32 | offset. */
enum soft_opkind { SOP_NONE, SOP_REG, SOP_MEM, SOP_IMM, SOP_PTR };
/* SREG_MMX: mm0-mm7, the mantissas of the x87 physical registers R0-R7. */
enum soft_regclass { SREG_GPR, SREG_GPR8H, SREG_SEG, SREG_CR, SREG_DR, SREG_XMM, SREG_MMX,
		     SREG_OTHER };
#define SOFT_NOREG 0xff
#define SOFT_RIPREG 16

struct soft_operand {
	uint8_t kind;   /* enum soft_opkind */
	uint8_t size;   /* bytes (10 for a descriptor-table pseudo-descriptor, 16 for xmm) */
	uint8_t rclass; /* SOP_REG: enum soft_regclass */
	uint8_t reg;    /* SOP_REG: register number in its class */
	uint8_t seg;    /* SOP_MEM: X86_CS... */
	uint8_t base;   /* SOP_MEM: gpr number, SOFT_RIPREG or SOFT_NOREG */
	uint8_t index;  /* SOP_MEM: gpr number or SOFT_NOREG */
	uint8_t scale;  /* SOP_MEM: 1, 2, 4, 8 */
	int64_t val;    /* SOP_MEM: displacement; SOP_IMM: immediate (sign-extended if signed) */
	bool relative;  /* SOP_IMM: a branch displacement */
};

typedef int (*soft_handler)(struct soft_cpu *cpu, const struct soft_insn *in);

#define INSN_LOCK  (1u << 0)
#define INSN_REP   (1u << 1) /* REP / REPE */
#define INSN_REPNE (1u << 2)
#define INSN_FAR   (1u << 3) /* far JMP/CALL/RET */
/* A plain instruction (decode.c: plain_insn()) changes nothing the fetch
 * depends on — CPL, mode, CS, paging, the TLB, TF — and delivers no event
 * itself (its faults come back as SOFT_FAULT): the run loop's fast path
 * (exec.c: run_fast()) goes on to the next instruction without looking at
 * them again. */
#define INSN_PLAIN (1u << 4)

struct soft_insn {
	soft_handler fn;
	uint16_t mnemonic; /* ZydisMnemonic */
	uint8_t len;       /* bytes */
	uint8_t osize;     /* operand size, bytes */
	uint8_t asize;     /* address size, bytes */
	uint8_t nops;      /* visible operands */
	uint8_t cc;        /* condition code for Jcc/SETcc/CMOVcc (0-15) */
	uint8_t flags;     /* INSN_* */
	uint8_t strseg;    /* string instructions: segment of the source (DS or override) */
	uint8_t opcode;    /* last opcode byte, for handlers that need it */
	uint8_t modrm;     /* the ModRM byte (x87 handlers), 0 if none */
	struct soft_operand op[4];
	/* The instruction that follows in the same decoded page, once seen
	 * running after this one: sequential code skips the slot lookup. */
	struct soft_insn *next;
};

/* ---- decode cache ---- */
#define SOFT_PAGE_SIZE 4096
#define SOFT_INSN_BLOCK 64
struct soft_code_page {
	struct soft_code_page *next; /* hash chain */
	uint64_t gpa;                /* page-aligned guest-physical address */
	uint32_t gen;                /* page generation when this was decoded */
	uint8_t mode;                /* decoder mode (enum in decode.c) */
	uint16_t nr_insns;
	uint16_t slot[SOFT_PAGE_SIZE];  /* offset -> insn number + 1, 0: not decoded yet */
	struct soft_insn *blocks[SOFT_PAGE_SIZE / SOFT_INSN_BLOCK];
};

#define SOFT_CODE_BUCKETS 1024
/* Bounds on what a guest can make one vCPU spend on decoded code: pages
 * (~9 KiB each) and instructions (~112 bytes each). Reaching either flushes
 * the whole cache (QEMU flushes its translation cache likewise). */
#define SOFT_MAX_CODE_PAGES 4096
#define SOFT_MAX_DECODED    (256 * 1024)
struct soft_decode_cache {
	struct soft_code_page *bucket[SOFT_CODE_BUCKETS];
	struct soft_code_page *last;  /* the page the previous instruction came from */
	/* Fetch fast path: the linear code page last fetched from, at which CPL
	 * and in which mode, with its decoded page. Cleared by every TLB flush
	 * and whenever its page is dropped. */
	struct {
		bool valid;
		uint8_t cpl, mode;
		uint64_t lin_page;
		struct soft_code_page *page;
		_Atomic uint32_t *genp;
	} fast;
	void *decoder;                /* ZydisDecoder[3], one per mode */
	struct soft_insn scratch;     /* an instruction that crosses a page: not cached */
	/* The cached instruction that ran last and fell through (NULL if it
	 * branched, or came from scratch): its successor gets linked to it. */
	struct soft_insn *prev;
	uint64_t nr_pages;
	uint64_t nr_insns;
};

/* ---- software TLB ---- */
enum { SOFT_ACC_READ, SOFT_ACC_WRITE, SOFT_ACC_EXEC, SOFT_NR_ACC };
#define SOFT_TLB_SIZE 256
struct soft_tlb_entry {
	uint64_t vpage;     /* linear page | 1 when valid (linear pages are 4K aligned) */
	uint64_t gpage;     /* guest-physical page */
	uint8_t *host;      /* host address of gpage, NULL if it is not RAM */
	uint64_t size_mask; /* page size - 1 of the mapping it came from (INVLPG) */
	bool user_ok;       /* the walk allowed a CPL 3 access of this kind */
	bool global;
};

/* ---- the VM-wide part ---- */
struct soft_vm {
	struct guest_mem *mem;
	/* One word per guest-physical 4K page of RAM: bit 0 set while some vCPU
	 * holds decoded code of the page; a write to such a page adds 1 (odd ->
	 * even), so every cached copy sees a different generation and drops it. */
	_Atomic uint32_t *page_gen;
	uint64_t nr_pages;
	/* vCPUs in the VM (1 after soft_vm_init): one package of that many
	 * cores, as CPUID leaf 0xB tells the guest. */
	unsigned nr_cpus;
};

/* ---- the CPU ---- */
#define SOFT_IO_BUF 4096
#define SOFT_MMIO_REPLAY 4
enum soft_io_state { IO_IDLE, IO_WAIT_READ, IO_READ_DONE };

struct soft_mmio_replay {
	uint64_t gpa;
	uint8_t size;
	uint8_t data[8];
};

struct soft_cpu {
	/* architectural state */
	uint64_t gpr[X86_NR_GPRS];
	uint64_t rip, rflags;
	struct x86_segment seg[X86_NR_SEGS];
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr[8];
	uint8_t cpl;
	/* MSRs (FS/GS base live in seg[].base) */
	uint64_t apic_base, star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t tsc_offset, tsc_aux, pat, misc_enable, mtrr_def_type;
	uint64_t tsc_adjust; /* IA32_TSC_ADJUST: what writes to the TSC added (SDM Vol. 3B §18.17.3) */
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	/* SSE and x87. The x87 registers are kept as in an FXSAVE image:
	 * st[i] is ST(i) (stack order), ftw the abridged tag byte (bit j set:
	 * physical register j is not empty), TOP in fsw bits 11-13. The last
	 * instruction and data pointers (x87.h): fip/fcs/fop of the last
	 * non-control x87 instruction, fdp/fds of the last one with a memory
	 * operand. */
	uint8_t xmm[16][16] __attribute__((aligned(16)));
	uint32_t mxcsr;
	uint16_t fcw, fsw;
	uint8_t ftw;
	uint8_t st[8][10];
	uint16_t fop, fcs, fds;
	uint64_t fip, fdp;
	/* interrupt state */
	bool int_shadow; /* STI / MOV SS: no interrupt before the next instruction ends */
	/* Activity state (SDM Vol. 3A §9.4): HLT, or an application processor
	 * waiting for a startup IPI after RESET/INIT. The run loop sleeps in
	 * either until woken; soft_take_events() (intr.c) ends them. */
	uint8_t activity;
	struct soft_intc intc;
	atomic_bool irq_pending;
	/* The VM's interrupt controllers, whose local APIC number `index` is
	 * this vCPU's (NULL in unit tests: no APIC page, CR8 is storage). */
	struct irqchip *chip;
	/* wake_seq when INIT/SIPI/NMI were last asked for (intr.c): while an
	 * interrupt waits with IF clear they are asked for again only after a
	 * new wake-up. */
	uint32_t events_seq;
	bool nmi_pending;  /* taken from the LAPIC, not delivered yet */
	bool nmi_blocked;  /* an NMI handler runs: no NMI until IRET (SDM Vol. 3A §6.7.1) */

	/* execution */
	int index;
	struct soft_vm *vm;
	struct guest_mem *mem;
	uint64_t next_rip;       /* RIP after the running instruction */
	bool delivered;          /* the running instruction delivered an event (INT n...) */
	struct { uint8_t vector; bool has_error; uint32_t error; } fault;
	struct soft_tlb_entry tlb[SOFT_NR_ACC][SOFT_TLB_SIZE];
	struct soft_decode_cache dc;
	atomic_bool kick;
	/* Bumped (and futex-woken) by every kick and wake-up of a waiting vCPU. */
	_Atomic uint32_t wake_seq;

	/* exits and pending completions (see the top of this file) */
	struct vcpu_exit exit;
	bool exit_after_commit;
	struct {
		enum soft_io_state state;
		uint16_t port;
		uint8_t size;
		uint32_t count;
		uint8_t data[SOFT_IO_BUF];
	} io;
	struct soft_mmio_replay mmio_replay[SOFT_MMIO_REPLAY];
	int mmio_replay_n;    /* completed reads of the running instruction */
	int mmio_replay_pos;  /* next one to consume while re-executing */
	bool mmio_wait;       /* mmio_replay[mmio_replay_n] waits for the VMM */
	/* Device stores of the running instruction, sent after it commits: the
	 * first in cpu->exit, the others by the following vcpu_run calls
	 * before any further instruction runs (a 16-byte SSE store to a
	 * device is two 8-byte writes). */
	struct soft_mmio_replay mmio_wq[SOFT_MMIO_REPLAY];
	int mmio_wq_n, mmio_wq_pos;
	uint64_t insn_count;
	/* If non-zero: return VCPU_EXIT_KICKED once this many more instructions
	 * have run (bounded runs for tests). */
	uint64_t insn_budget;

	/* Debugging (gdb stub) and tracing. A non-zero dbg_mode sends the run
	 * loop through its slow path (exec.c, run_debug) for a whole kick
	 * interval, so the common path pays one test per interval, none per
	 * instruction. Set only while the vCPU does not run (accel.h). */
	uint8_t dbg_mode;         /* SOFT_DBG_* */
	bool dbg_step_done;       /* a single step finished: report it first */
	struct accel_debug dbg;
	struct trace_file *trace;
	/* The instruction last traced, to trace it once when it is executed
	 * again after an exit to the VMM (I/O reads): insn_count, rip and the
	 * number of events (exceptions, interrupts) delivered by then. */
	struct { uint64_t count, rip, events; } trace_last;
	uint64_t events_delivered;
};

#define SOFT_DBG_STEP  (1u << 0)
#define SOFT_DBG_BP    (1u << 1)
#define SOFT_DBG_TRACE (1u << 2)

/* ---- small helpers ---- */
static inline uint64_t soft_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t soft_sext(uint64_t v, unsigned size)
{
	unsigned sh = 64 - size * 8;
	return size >= 8 ? v : (uint64_t)((int64_t)(v << sh) >> sh);
}

static inline bool soft_long_mode(const struct soft_cpu *cpu)
{
	return cpu->efer & X86_EFER_LMA;
}

/* 64-bit mode: long mode and a 64-bit code segment. */
static inline bool soft_64bit(const struct soft_cpu *cpu)
{
	return soft_long_mode(cpu) && cpu->seg[X86_CS].l;
}

static inline bool soft_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static inline unsigned soft_iopl(const struct soft_cpu *cpu)
{
	return (cpu->rflags >> 12) & 3;
}

/* A guest store to RAM at gpa (within one page): drop decoded code of the
 * page, if any vCPU has some (see struct soft_vm). */
static inline void soft_note_store(struct soft_vm *svm, uint64_t gpa)
{
	uint64_t p = gpa >> 12;
	if (p < svm->nr_pages &&
	    (atomic_load_explicit(&svm->page_gen[p], memory_order_relaxed) & 1))
		atomic_fetch_add(&svm->page_gen[p], 1);
}

/* Raise an exception from a handler: record it, return SOFT_FAULT. */
static inline int soft_raise(struct soft_cpu *cpu, unsigned vector, bool has_error,
			     uint32_t error)
{
	cpu->fault.vector = (uint8_t)vector;
	cpu->fault.has_error = has_error;
	cpu->fault.error = error;
	return SOFT_FAULT;
}
#define soft_gp0(cpu) soft_raise((cpu), EXC_GP, true, 0)
#define soft_ud(cpu)  soft_raise((cpu), EXC_UD, false, 0)

/* Prepare an error exit for an emulation failure; returns SOFT_EXIT. */
int soft_error_exit(struct soft_cpu *cpu, const char *what, uint64_t d0, uint64_t d1);

/* ---- soft VM and CPU lifecycle (soft.c / exec.c) ---- */
int soft_vm_init(struct soft_vm *svm, struct guest_mem *mem);
void soft_vm_destroy(struct soft_vm *svm);
void soft_vm_note_write(struct soft_vm *svm, uint64_t gpa, uint64_t len);
int soft_cpu_init(struct soft_cpu *cpu, struct soft_vm *svm, int index);
void soft_cpu_destroy(struct soft_cpu *cpu);
void soft_cpu_reset(struct soft_cpu *cpu);
/* The INIT signal (SDM Vol. 3A §9.1.1, Table 9-1 "INIT" column). */
void soft_cpu_init_signal(struct soft_cpu *cpu);
/* Run until an exit; 0 (exit filled in) or -errno. */
int soft_cpu_run(struct soft_cpu *cpu, struct vcpu_exit *exit);
void soft_cpu_get_regs(const struct soft_cpu *cpu, struct x86_regs *r);
void soft_cpu_set_regs(struct soft_cpu *cpu, const struct x86_regs *r);
void soft_cpu_get_sregs(const struct soft_cpu *cpu, struct x86_sregs *s);
void soft_cpu_set_sregs(struct soft_cpu *cpu, const struct x86_sregs *s);
/* Wake the vCPU's thread if it sleeps (HLT, wait-for-SIPI); any thread. */
void soft_cpu_wake(struct soft_cpu *cpu);
/* Sleep until soft_cpu_wake() is called after seq was read from wake_seq. */
void soft_cpu_sleep(struct soft_cpu *cpu, uint32_t seq);
/* Forget pending I/O / MMIO completions (state was replaced from outside). */
void soft_cpu_drop_pending(struct soft_cpu *cpu);

/* ---- mmu.c ---- */
void soft_tlb_flush(struct soft_cpu *cpu, bool include_global);
void soft_tlb_flush_page(struct soft_cpu *cpu, uint64_t lin);
/* Translate a linear address for an access of kind acc (SOFT_ACC_*) at
 * privilege user (CPL 3, not an implicit supervisor access). */
int soft_translate(struct soft_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *gpa,
		   uint8_t **host);
/* Put queued device write i in cpu->exit. */
void soft_mmio_write_exit(struct soft_cpu *cpu, int i);
/* Linear-address accesses, any length, page crossings and MMIO handled. */
int soft_lin_read(struct soft_cpu *cpu, uint64_t lin, void *dst, unsigned len, bool user);
int soft_lin_write(struct soft_cpu *cpu, uint64_t lin, const void *src, unsigned len, bool user);
/* Host pointer for a locked read-modify-write of len bytes at lin, or NULL
 * with *rc set (SOFT_FAULT), or NULL with *rc SOFT_OK when the target is not
 * plain RAM within one page (the caller falls back to read + write). */
void *soft_lin_rmw_ptr(struct soft_cpu *cpu, uint64_t lin, unsigned len, int *rc);
/* Segmented address -> linear, with 64-bit canonical / legacy limit checks. */
int soft_seg_linear(struct soft_cpu *cpu, unsigned seg, uint64_t off, unsigned len, bool write,
		    uint64_t *lin);
int soft_mem_read(struct soft_cpu *cpu, unsigned seg, uint64_t off, void *dst, unsigned len);
int soft_mem_write(struct soft_cpu *cpu, unsigned seg, uint64_t off, const void *src,
		   unsigned len);
/* Implicit supervisor accesses (descriptor tables, TSS, IDT). */
int soft_sys_read(struct soft_cpu *cpu, uint64_t lin, void *dst, unsigned len);
int soft_sys_write(struct soft_cpu *cpu, uint64_t lin, const void *src, unsigned len);

/* Guest-physical address of a linear one through the current paging, as a
 * debugger reads memory: no accessed/dirty bits, no CR2, no TLB fill, no
 * access-rights check. 0, or -EFAULT if it is not mapped. */
int soft_debug_translate(struct soft_cpu *cpu, uint64_t lin, uint64_t *gpa);

/* ---- trace.c: --trace ---- */
/* Trace the instruction at RIP (before it executes). */
void soft_trace_insn(struct soft_cpu *cpu);
/* Trace an exception or interrupt being delivered. */
void soft_trace_event(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
		      bool soft_int);

/* ---- decode.c ---- */
int soft_decode_init(struct soft_decode_cache *dc);
void soft_decode_destroy(struct soft_decode_cache *dc);
/* Drop every decoded instruction (between instructions only). */
void soft_decode_flush(struct soft_decode_cache *dc);
/* The decoded instruction at RIP: SOFT_OK and *out, or SOFT_FAULT / SOFT_EXIT. */
int soft_fetch(struct soft_cpu *cpu, const struct soft_insn **out);
/* Decode bytes outside any cache (tests, diagnostics). 0 or -EINVAL. */
int soft_decode_bytes(struct soft_cpu *cpu, const uint8_t *buf, unsigned len,
		      struct soft_insn *out);

/* The hot path of soft_fetch(), inline: 64-bit code from the same linear
 * page, CPL and decoded page as the last fetch, page unchanged since,
 * instruction already decoded. NULL: use soft_fetch(). */
#define SOFT_DECODE_MODE_64 0
static inline struct soft_insn *soft_fetch_cached(struct soft_cpu *cpu)
{
	struct soft_decode_cache *dc = &cpu->dc;
	uint64_t rip = cpu->rip;
	if (!dc->fast.valid || dc->fast.lin_page != (rip & ~0xfffull) ||
	    dc->fast.cpl != cpu->cpl || dc->fast.mode != SOFT_DECODE_MODE_64 || !soft_64bit(cpu))
		return NULL;
	struct soft_code_page *p = dc->fast.page;
	if (p->gen != atomic_load_explicit(dc->fast.genp, memory_order_acquire))
		return NULL;
	/* dc->prev fell through to rip, inside this page (it is linked only
	 * while the fast path holds; both die together with the page). */
	struct soft_insn *prev = dc->prev;
	if (prev && prev->next)
		return prev->next;
	unsigned s = p->slot[rip & 0xfff];
	if (!s)
		return NULL;
	struct soft_insn *in = &p->blocks[(s - 1) / SOFT_INSN_BLOCK][(s - 1) % SOFT_INSN_BLOCK];
	if (prev)
		prev->next = in;
	return in;
}

/* ---- exec.c: operands, flags, stack ---- */
uint64_t soft_reg_read(const struct soft_cpu *cpu, unsigned gpr, unsigned size);
void soft_reg_write(struct soft_cpu *cpu, unsigned gpr, unsigned size, uint64_t v);
uint64_t soft_op_ea(const struct soft_cpu *cpu, const struct soft_insn *in,
		    const struct soft_operand *op);
int soft_op_read_any(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint64_t *v);
int soft_op_write_any(struct soft_cpu *cpu, const struct soft_insn *in, int i, uint64_t v);

/* Operand i of in: general registers inline, everything else out of line. */
static inline int soft_op_read(struct soft_cpu *cpu, const struct soft_insn *in, int i,
			       uint64_t *v)
{
	const struct soft_operand *op = &in->op[i];
	if (op->kind == SOP_REG && op->rclass == SREG_GPR) {
		*v = cpu->gpr[op->reg] & soft_mask(op->size);
		return SOFT_OK;
	}
	return soft_op_read_any(cpu, in, i, v);
}

/* 32-bit register writes zero-extend, 8/16-bit ones merge (SDM Vol. 1
 * §3.4.1.1). */
static inline int soft_op_write(struct soft_cpu *cpu, const struct soft_insn *in, int i,
				uint64_t v)
{
	const struct soft_operand *op = &in->op[i];
	if (op->kind == SOP_REG && op->rclass == SREG_GPR) {
		uint64_t m = soft_mask(op->size);
		cpu->gpr[op->reg] = op->size >= 4 ? v & m : (cpu->gpr[op->reg] & ~m) | (v & m);
		return SOFT_OK;
	}
	return soft_op_write_any(cpu, in, i, v);
}
bool soft_cond(const struct soft_cpu *cpu, unsigned cc);
void soft_flags_szp(struct soft_cpu *cpu, uint64_t res, unsigned size);
void soft_flags_add(struct soft_cpu *cpu, uint64_t a, uint64_t b, uint64_t carry, unsigned size);
void soft_flags_sub(struct soft_cpu *cpu, uint64_t a, uint64_t b, uint64_t borrow,
		    unsigned size);
void soft_flags_logic(struct soft_cpu *cpu, uint64_t res, unsigned size);
unsigned soft_stack_size(const struct soft_cpu *cpu);
int soft_push(struct soft_cpu *cpu, uint64_t v, unsigned size);
/* Read the stack top at RSP + off without moving RSP. */
int soft_peek(struct soft_cpu *cpu, uint64_t off, uint64_t *v, unsigned size);
void soft_rsp_add(struct soft_cpu *cpu, int64_t delta);
/* RIP-width of the current code segment. */
uint64_t soft_ip_mask(const struct soft_cpu *cpu);

/* ---- handlers: each exec_*.c answers for the mnemonics it implements ---- */
soft_handler soft_exec_alu_lookup(const struct soft_insn *in);
soft_handler soft_exec_shift_lookup(const struct soft_insn *in);
soft_handler soft_exec_muldiv_lookup(const struct soft_insn *in);
soft_handler soft_exec_string_lookup(const struct soft_insn *in);
soft_handler soft_exec_ctrl_lookup(const struct soft_insn *in);
soft_handler soft_exec_system_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_int_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_fp_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_packed_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_pack_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_mul_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_shuf_lookup(const struct soft_insn *in);
soft_handler soft_exec_sse_rcp_lookup(const struct soft_insn *in);
soft_handler soft_exec_x87_lookup(const struct soft_insn *in);
soft_handler soft_exec_x87_env_lookup(const struct soft_insn *in);
soft_handler soft_exec_x87_host_lookup(const struct soft_insn *in);
int soft_exec_ud(struct soft_cpu *cpu, const struct soft_insn *in);
/* exec_fast.c: a specialised handler for the commonest forms in 64-bit mode
 * (mode64), to replace the general one; NULL for any other form. */
soft_handler soft_exec_fast_lookup(const struct soft_insn *in, bool mode64);

/* ---- except.c: descriptors, segment loads, exception delivery ---- */
/* Deliver an exception or interrupt. soft: INT n / INT3 (gate DPL checked,
 * return address is next_rip). Returns SOFT_OK, or SOFT_EXIT with a shutdown
 * exit on triple fault. */
int soft_deliver(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
		 bool soft_int, uint64_t return_rip);
int soft_load_seg(struct soft_cpu *cpu, unsigned seg, uint16_t sel);
/* Read the 8-byte descriptor for sel from the GDT/LDT: SOFT_OK or #GP(sel). */
int soft_read_desc(struct soft_cpu *cpu, uint16_t sel, uint64_t *desc, uint64_t *addr);
void soft_desc_to_seg(uint64_t desc, uint16_t sel, struct x86_segment *s);
/* Load CS for a far transfer to a code segment with the given CPL. */
void soft_set_cs(struct soft_cpu *cpu, const struct x86_segment *cs, unsigned cpl);
/* Recompute EFER.LMA from EFER.LME, CR0.PG and CR4.PAE. */
void soft_mode_changed(struct soft_cpu *cpu);

/* ---- intr.c: events at instruction boundaries, the local APIC ---- */
#define SOFT_APIC_BASE_BSP (1ull << 8)
#define SOFT_APIC_BASE_EN  (1ull << 11)
/* Is gpa in this vCPU's APIC page (IA32_APIC_BASE, while enabled)? Such
 * accesses go to the local APIC, never to RAM or the MMIO bus (SDM Vol. 3A
 * §11.4.1: the page belongs to the processor). */
static inline bool soft_apic_page(const struct soft_cpu *cpu, uint64_t gpa)
{
	return cpu->chip && (cpu->apic_base & SOFT_APIC_BASE_EN) &&
	       ((gpa ^ cpu->apic_base) & ((1ull << SOFT_MAXPHYADDR) - 1) & ~0xfffull) == 0;
}
void soft_apic_access(struct soft_cpu *cpu, uint64_t gpa, void *data, unsigned size,
		      bool is_write);
/* IA32_APIC_BASE was written (or replaced from outside). */
void soft_apic_base_changed(struct soft_cpu *cpu);
uint64_t soft_get_cr8(const struct soft_cpu *cpu);
void soft_set_cr8(struct soft_cpu *cpu, uint64_t v);
/* irq_pending is set: take INIT, SIPI, NMI, then an external interrupt if
 * IF allows. 1 if an exit is due (cpu->exit: a triple fault). */
int soft_take_events(struct soft_cpu *cpu);
/* IRET ended an NMI handler's blocking. */
void soft_nmi_unblock(struct soft_cpu *cpu);
/* The wake hook the irqchip calls (opaque: the soft_cpu), any thread. */
void soft_irq_wake(void *opaque);

/* ---- state.c: snapshot section "SCPU" ---- */
struct snap_writer;
struct snap_reader;
void soft_cpu_save(const struct soft_cpu *cpu, struct snap_writer *w);
/* 0, or -ENOENT / -EINVAL (the CPU is left as it was). */
int soft_cpu_restore(struct soft_cpu *cpu, struct snap_reader *r);

/* ---- msr.c / cpuid.c ---- */
int soft_rdmsr(struct soft_cpu *cpu, uint32_t msr, uint64_t *v);
int soft_wrmsr(struct soft_cpu *cpu, uint32_t msr, uint64_t v);
uint64_t soft_rdtsc(struct soft_cpu *cpu);
void soft_cpuid(const struct soft_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* ---- I/O (exec_system.c) ---- */
/* Port I/O of count elements of size bytes. Reads: SOFT_OK with the data in
 * buf once the VMM has supplied it, else SOFT_EXIT. Writes: buffered, exit
 * after commit. */
int soft_io(struct soft_cpu *cpu, uint16_t port, unsigned size, unsigned count, bool write,
	    void *buf);
int soft_io_permitted(struct soft_cpu *cpu, uint16_t port, unsigned size);

#endif
