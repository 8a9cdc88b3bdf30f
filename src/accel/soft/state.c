/* Save and restore of the soft CPU's state (snapshot section "SCPU").
 *
 * Version 1 holds every architectural register the soft CPU has, field by
 * field (snapshot.h), plus the pending I/O / MMIO completions, so a vCPU
 * stopped right after an exit resumes the interrupted instruction correctly.
 * Device writes still queued behind an MMIO write exit are not saved: take
 * snapshots of stopped vCPUs (after a KICKED exit), when that queue is empty.
 * Caches (TLB, decoded code) are not state: they are rebuilt. A restore
 * checks what it reads (a hostile or truncated snapshot fails with -EINVAL
 * and leaves the CPU untouched). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "snapshot.h"

/* Version 2 adds IA32_TSC_ADJUST and the NMI state, version 3 the x87
 * FOP, FIP, FCS, FDP, FDS; older versions are read too. */
#define SCPU_VERSION 3

static void save_seg(struct snap_writer *w, const struct x86_segment *s)
{
	snap_u64(w, s->base);
	snap_u32(w, s->limit);
	snap_u16(w, s->selector);
	snap_u8(w, s->type);
	snap_u8(w, s->s);
	snap_u8(w, s->dpl);
	snap_u8(w, s->present);
	snap_u8(w, s->avl);
	snap_u8(w, s->l);
	snap_u8(w, s->db);
	snap_u8(w, s->g);
	snap_u8(w, s->unusable);
}

static void load_seg(struct snap_reader *r, struct x86_segment *s)
{
	s->base = snap_get_u64(r);
	s->limit = snap_get_u32(r);
	s->selector = snap_get_u16(r);
	s->type = snap_get_u8(r) & 0xf;
	s->s = snap_get_u8(r) & 1;
	s->dpl = snap_get_u8(r) & 3;
	s->present = snap_get_u8(r) & 1;
	s->avl = snap_get_u8(r) & 1;
	s->l = snap_get_u8(r) & 1;
	s->db = snap_get_u8(r) & 1;
	s->g = snap_get_u8(r) & 1;
	s->unusable = snap_get_u8(r) & 1;
}

void soft_cpu_save(const struct soft_cpu *c, struct snap_writer *w)
{
	snap_begin(w, "SCPU", SCPU_VERSION);
	snap_u32(w, (uint32_t)c->index);
	for (int i = 0; i < X86_NR_GPRS; i++)
		snap_u64(w, c->gpr[i]);
	snap_u64(w, c->rip);
	snap_u64(w, c->rflags);
	for (int i = 0; i < X86_NR_SEGS; i++)
		save_seg(w, &c->seg[i]);
	snap_u64(w, c->gdt.base);
	snap_u16(w, c->gdt.limit);
	snap_u64(w, c->idt.base);
	snap_u16(w, c->idt.limit);
	snap_u64(w, c->cr0);
	snap_u64(w, c->cr2);
	snap_u64(w, c->cr3);
	snap_u64(w, c->cr4);
	snap_u64(w, c->cr8);
	snap_u64(w, c->efer);
	for (int i = 0; i < 8; i++)
		snap_u64(w, c->dr[i]);
	snap_u8(w, c->cpl);
	const uint64_t msrs[] = {
		c->apic_base, c->star, c->lstar, c->cstar, c->sfmask, c->kernel_gs_base,
		c->tsc_offset, c->tsc_aux, c->pat, c->misc_enable, c->mtrr_def_type,
		c->sysenter_cs, c->sysenter_esp, c->sysenter_eip,
	};
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		snap_u64(w, msrs[i]);
	snap_bytes(w, c->xmm, sizeof(c->xmm));
	snap_u32(w, c->mxcsr);
	snap_u16(w, c->fcw);
	snap_u16(w, c->fsw);
	snap_u8(w, c->ftw);
	snap_bytes(w, c->st, sizeof(c->st));
	snap_u8(w, c->int_shadow);
	snap_u8(w, c->activity);
	/* pending completions */
	snap_u8(w, (uint8_t)c->io.state);
	snap_u16(w, c->io.port);
	snap_u8(w, c->io.size);
	snap_u32(w, c->io.count);
	uint32_t io_bytes = c->io.state == IO_IDLE ? 0 : (uint32_t)c->io.size * c->io.count;
	if (io_bytes > SOFT_IO_BUF) /* never by soft_io(); keep the copy in bounds anyway */
		io_bytes = SOFT_IO_BUF;
	snap_u32(w, io_bytes);
	snap_bytes(w, c->io.data, io_bytes);
	snap_u8(w, (uint8_t)c->mmio_replay_n);
	snap_u8(w, c->mmio_wait);
	int n = c->mmio_replay_n + (c->mmio_wait ? 1 : 0);
	for (int i = 0; i < n; i++) {
		snap_u64(w, c->mmio_replay[i].gpa);
		snap_u8(w, c->mmio_replay[i].size);
		snap_bytes(w, c->mmio_replay[i].data, 8);
	}
	snap_u64(w, c->tsc_adjust);
	snap_u8(w, c->nmi_pending);
	snap_u8(w, c->nmi_blocked);
	snap_u16(w, c->fop);
	snap_u64(w, c->fip);
	snap_u16(w, c->fcs);
	snap_u64(w, c->fdp);
	snap_u16(w, c->fds);
	snap_end(w);
}

/* Take the architectural state and the pending completions from c; keep
 * cpu's own execution machinery (caches, kick, links to the VM). */
static void commit(struct soft_cpu *cpu, const struct soft_cpu *c)
{
	memcpy(cpu->gpr, c->gpr, sizeof(cpu->gpr));
	cpu->rip = c->rip;
	cpu->rflags = c->rflags;
	memcpy(cpu->seg, c->seg, sizeof(cpu->seg));
	cpu->gdt = c->gdt;
	cpu->idt = c->idt;
	cpu->cr0 = c->cr0, cpu->cr2 = c->cr2, cpu->cr3 = c->cr3, cpu->cr4 = c->cr4;
	cpu->cr8 = c->cr8, cpu->efer = c->efer;
	memcpy(cpu->dr, c->dr, sizeof(cpu->dr));
	cpu->cpl = c->cpl;
	cpu->apic_base = c->apic_base, cpu->star = c->star, cpu->lstar = c->lstar;
	cpu->cstar = c->cstar, cpu->sfmask = c->sfmask, cpu->kernel_gs_base = c->kernel_gs_base;
	cpu->tsc_offset = c->tsc_offset, cpu->tsc_aux = c->tsc_aux, cpu->pat = c->pat;
	cpu->misc_enable = c->misc_enable, cpu->mtrr_def_type = c->mtrr_def_type;
	cpu->sysenter_cs = c->sysenter_cs, cpu->sysenter_esp = c->sysenter_esp;
	cpu->sysenter_eip = c->sysenter_eip;
	cpu->tsc_adjust = c->tsc_adjust;
	cpu->nmi_pending = c->nmi_pending, cpu->nmi_blocked = c->nmi_blocked;
	memcpy(cpu->xmm, c->xmm, sizeof(cpu->xmm));
	cpu->mxcsr = c->mxcsr;
	cpu->fcw = c->fcw, cpu->fsw = c->fsw, cpu->ftw = c->ftw;
	cpu->fop = c->fop, cpu->fip = c->fip, cpu->fcs = c->fcs;
	cpu->fdp = c->fdp, cpu->fds = c->fds;
	memcpy(cpu->st, c->st, sizeof(cpu->st));
	cpu->int_shadow = c->int_shadow;
	cpu->activity = c->activity;
	cpu->io.state = c->io.state;
	cpu->io.port = c->io.port;
	cpu->io.size = c->io.size;
	cpu->io.count = c->io.count;
	memcpy(cpu->io.data, c->io.data, sizeof(cpu->io.data));
	memcpy(cpu->mmio_replay, c->mmio_replay, sizeof(cpu->mmio_replay));
	cpu->mmio_replay_n = c->mmio_replay_n;
	cpu->mmio_replay_pos = 0;
	cpu->mmio_wait = c->mmio_wait;
	cpu->exit_after_commit = false;
	/* The local APIC was restored on its own (the irqchip device): look
	 * at what it holds for this vCPU before the next instruction. */
	cpu->events_seq = atomic_load(&cpu->wake_seq) - 1;
	atomic_store(&cpu->irq_pending, true);
	soft_mode_changed(cpu);
	soft_tlb_flush(cpu, true);
	/* Guest memory may have been restored behind the cache's back. */
	soft_decode_flush(&cpu->dc);
}

/* Read an SCPU section into c (a scratch CPU). 0 or -errno. */
static int read_state(struct soft_cpu *c, struct snap_reader *r)
{
	uint32_t version;
	int rc = snap_open(r, "SCPU", &version);
	if (rc)
		return rc;
	if (version < 1 || version > SCPU_VERSION)
		return -EINVAL;
	(void)snap_get_u32(r); /* index: the restoring vCPU keeps its own */
	for (int i = 0; i < X86_NR_GPRS; i++)
		c->gpr[i] = snap_get_u64(r);
	c->rip = snap_get_u64(r);
	c->rflags = (snap_get_u64(r) & 0x3f7fd5ull) | X86_RFLAGS_FIXED;
	for (int i = 0; i < X86_NR_SEGS; i++)
		load_seg(r, &c->seg[i]);
	c->gdt.base = snap_get_u64(r);
	c->gdt.limit = snap_get_u16(r);
	c->idt.base = snap_get_u64(r);
	c->idt.limit = snap_get_u16(r);
	c->cr0 = snap_get_u64(r);
	c->cr2 = snap_get_u64(r);
	c->cr3 = snap_get_u64(r);
	c->cr4 = snap_get_u64(r);
	c->cr8 = snap_get_u64(r);
	c->efer = snap_get_u64(r);
	for (int i = 0; i < 8; i++)
		c->dr[i] = snap_get_u64(r);
	c->cpl = snap_get_u8(r) & 3;
	uint64_t *msrs[] = {
		&c->apic_base, &c->star, &c->lstar, &c->cstar, &c->sfmask, &c->kernel_gs_base,
		&c->tsc_offset, &c->tsc_aux, &c->pat, &c->misc_enable, &c->mtrr_def_type,
		&c->sysenter_cs, &c->sysenter_esp, &c->sysenter_eip,
	};
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		*msrs[i] = snap_get_u64(r);
	snap_get_bytes(r, c->xmm, sizeof(c->xmm));
	c->mxcsr = snap_get_u32(r) & 0xffff;
	c->fcw = snap_get_u16(r);
	c->fsw = snap_get_u16(r);
	c->ftw = snap_get_u8(r);
	snap_get_bytes(r, c->st, sizeof(c->st));
	c->int_shadow = snap_get_u8(r) & 1;
	c->activity = snap_get_u8(r);
	if (c->activity > SOFT_WAIT_SIPI)
		return -EINVAL;
	uint8_t st = snap_get_u8(r);
	c->io.port = snap_get_u16(r);
	c->io.size = snap_get_u8(r);
	c->io.count = snap_get_u32(r);
	uint32_t io_bytes = snap_get_u32(r);
	if (st > IO_READ_DONE || io_bytes > SOFT_IO_BUF ||
	    (st != IO_IDLE && io_bytes != (uint32_t)c->io.size * c->io.count))
		return -EINVAL;
	c->io.state = (enum soft_io_state)st;
	snap_get_bytes(r, c->io.data, io_bytes);
	int n = snap_get_u8(r);
	c->mmio_wait = snap_get_u8(r) & 1;
	if (n + c->mmio_wait > SOFT_MMIO_REPLAY)
		return -EINVAL;
	c->mmio_replay_n = n;
	c->mmio_replay_pos = 0;
	for (int i = 0; i < n + c->mmio_wait; i++) {
		c->mmio_replay[i].gpa = snap_get_u64(r);
		c->mmio_replay[i].size = snap_get_u8(r);
		snap_get_bytes(r, c->mmio_replay[i].data, 8);
		if (c->mmio_replay[i].size > 8)
			return -EINVAL;
	}
	if (version >= 2) {
		c->tsc_adjust = snap_get_u64(r);
		c->nmi_pending = snap_get_u8(r) & 1;
		c->nmi_blocked = snap_get_u8(r) & 1;
	}
	if (version >= 3) {
		c->fop = snap_get_u16(r) & 0x7ff;
		c->fip = snap_get_u64(r);
		c->fcs = snap_get_u16(r);
		c->fdp = snap_get_u64(r);
		c->fds = snap_get_u16(r);
	}
	return r->error;
}

int soft_cpu_restore(struct soft_cpu *cpu, struct snap_reader *r)
{
	/* Read into a scratch copy (large: on the heap) and commit only if
	 * everything was there and sane. */
	struct soft_cpu *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int rc = read_state(c, r);
	if (!rc)
		commit(cpu, c);
	free(c);
	return rc;
}
