/* The soft CPU's MMU: segmentation, 4-level paging and a software TLB.
 *
 * Paging follows Intel SDM Vol. 3A chapter 4 (§4.5 4-level paging, §4.6 access
 * rights, §4.7 page-fault exceptions, §4.8 accessed and dirty flags):
 * 4K, 2M and 1G pages; U/S, R/W with CR0.WP, NX with EFER.NXE; reserved bits
 * above MAXPHYADDR, in large-page frames and (without NXE) bit 63 give a #PF
 * with RSVD set; A is set in every entry a successful walk used, D in the leaf
 * on a write — atomically, as hardware does, since other vCPUs may be walking
 * the same tables. Outside long mode, PAE paging (§4.4) and 32-bit paging
 * with 4M pages (§4.3) work the same way.
 *
 * Page-table entries are read from RAM only: an entry outside RAM reads as
 * not present (hardware would read the bus; no device of isola backs page
 * tables, so this choice only affects a broken guest).
 *
 * The TLB is direct-mapped, SOFT_TLB_SIZE entries per access kind (read,
 * write, fetch), each caching one 4K piece of a mapping (large pages fill
 * several entries). A write entry exists only after a write walk set D.
 * user_ok records whether the walk allowed a CPL 3 access; a user access that
 * hits an entry without it walks again (and faults there if it must). */
#include <errno.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "memory.h"

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_G   (1ull << 8)
#define PTE_NX  (1ull << 63)
#define PTE_ADDR_MASK (((1ull << SOFT_MAXPHYADDR) - 1) & ~0xfffull)
/* Bits 51:MAXPHYADDR are reserved in every entry (§4.5, Table 4-14ff). */
#define PTE_RSVD_HIGH (((1ull << 52) - 1) & ~((1ull << SOFT_MAXPHYADDR) - 1))

void soft_tlb_flush(struct soft_cpu *cpu, bool include_global)
{
	cpu->dc.fast.valid = false;
	for (int a = 0; a < SOFT_NR_ACC; a++)
		for (int i = 0; i < SOFT_TLB_SIZE; i++)
			if (include_global || !cpu->tlb[a][i].global)
				cpu->tlb[a][i].vpage = 0;
}

/* INVLPG drops every translation of the page that holds lin, whatever the
 * size of the mapping it came from (§4.10.4.1). */
void soft_tlb_flush_page(struct soft_cpu *cpu, uint64_t lin)
{
	cpu->dc.fast.valid = false;
	for (int a = 0; a < SOFT_NR_ACC; a++)
		for (int i = 0; i < SOFT_TLB_SIZE; i++) {
			struct soft_tlb_entry *e = &cpu->tlb[a][i];
			if (e->vpage && ((e->vpage & ~e->size_mask) == (lin & ~e->size_mask)))
				e->vpage = 0;
		}
}

static int page_fault(struct soft_cpu *cpu, uint64_t lin, uint32_t err)
{
	cpu->cr2 = lin;
	return soft_raise(cpu, EXC_PF, true, err);
}

/* Access rights (§4.6) and the A/D updates (§4.8), shared by all walks:
 * used[] are the entries the walk went through (8 or 4 bytes wide). */
struct walk_state {
	void *used[4];
	uint64_t used_gpa[4];
	unsigned nused, esz;
	bool rw, us, nx;
	bool probe; /* a debugger's look: no rights check, no A/D update */
};

static int walk_finish(struct soft_cpu *cpu, struct walk_state *w, uint64_t lin, int acc,
		       bool user, uint32_t err)
{
	bool write = acc == SOFT_ACC_WRITE, fetch = acc == SOFT_ACC_EXEC;
	bool wp = cpu->cr0 & X86_CR0_WP;
	if (w->probe)
		return SOFT_OK;
	if ((user && !w->us) || (write && !w->rw && (user || wp)) || (fetch && w->nx))
		return page_fault(cpu, lin, err | PFERR_P);
	for (unsigned i = 0; i < w->nused; i++) {
		uint32_t bits = (uint32_t)(PTE_A | ((write && i == w->nused - 1) ? PTE_D : 0));
		/* A and D are in the low dword of either entry size. */
		_Atomic uint32_t *lo = w->used[i];
		if ((atomic_load_explicit(lo, memory_order_relaxed) & bits) != bits) {
			atomic_fetch_or(lo, bits);
			soft_note_store(cpu->vm, w->used_gpa[i]); /* a store like any other */
		}
	}
	return SOFT_OK;
}

/* 32-bit paging (§4.3): two levels of 4-byte entries, 4M pages with PSE. */
static int walk32(struct soft_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *gpa,
		  uint64_t *size_mask, bool *user_ok, bool *global, bool probe)
{
	bool write = acc == SOFT_ACC_WRITE;
	uint32_t err = (write ? PFERR_W : 0) | (user ? PFERR_U : 0);
	struct walk_state w = { .esz = 4, .rw = true, .us = true, .probe = probe };
	uint64_t table = cpu->cr3 & 0xfffff000ull;
	uint32_t e = 0;
	unsigned shift = 22;

	for (int level = 2; level >= 1; level--, shift -= 10) {
		uint64_t addr = table + ((lin >> shift) & 0x3ff) * 4;
		_Atomic uint32_t *p = gm_ptr(cpu->mem, addr, 4);
		if (!p)
			return page_fault(cpu, lin, err);
		e = atomic_load_explicit(p, memory_order_relaxed);
		if (!(e & PTE_P))
			return page_fault(cpu, lin, err);
		bool big = level == 2 && (e & PTE_PS) && (cpu->cr4 & CR4_PSE);
		if (big && (e & (1u << 21))) /* reserved in a 4M PDE (Table 4-4) */
			return page_fault(cpu, lin, err | PFERR_P | PFERR_RSVD);
		w.rw &= !!(e & PTE_RW);
		w.us &= !!(e & PTE_US);
		w.used_gpa[w.nused] = addr;
		w.used[w.nused++] = (void *)p;
		if (big) {
			/* Bits 20:13 are physical-address bits 39:32. */
			*size_mask = (1ull << 22) - 1;
			*gpa = (e & 0xffc00000ull) | ((uint64_t)((e >> 13) & 0xff) << 32) |
			       (lin & *size_mask);
			goto done;
		}
		table = e & 0xfffff000ull;
	}
	*size_mask = 0xfff;
	*gpa = (e & 0xfffff000ull) | (lin & 0xfff);
done:;
	int rc = walk_finish(cpu, &w, lin, acc, user, err);
	if (rc)
		return rc;
	*user_ok = w.us && (!write || w.rw);
	*global = (e & PTE_G) && (cpu->cr4 & X86_CR4_PGE);
	return SOFT_OK;
}

/* 4-level paging (§4.5), and PAE paging (§4.4) when not in long mode: the
 * same 8-byte entries below a 4-entry PDPT. The PDPTEs are read at each walk
 * rather than latched at CR3 load (a guest that changes them without
 * reloading CR3 sees its change early). */
static int walk(struct soft_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *gpa,
		uint64_t *size_mask, bool *user_ok, bool *global, bool probe)
{
	bool write = acc == SOFT_ACC_WRITE, fetch = acc == SOFT_ACC_EXEC;
	bool nxe = cpu->efer & X86_EFER_NXE, pae = !soft_long_mode(cpu);
	uint32_t err = (write ? PFERR_W : 0) | (user ? PFERR_U : 0) |
		       (fetch && nxe ? PFERR_I : 0);
	uint64_t rsvd = PTE_RSVD_HIGH | (nxe ? 0 : PTE_NX);
	uint64_t table = cpu->cr3 & PTE_ADDR_MASK;
	struct walk_state w = { .esz = 8, .rw = true, .us = true, .probe = probe };
	uint64_t pte = 0;
	int level = 4;

	if (pae) {
		/* PDPTE: P and the address; bits 2:1, 8:5 and 63 reserved. */
		uint64_t addr = (cpu->cr3 & 0xffffffe0ull) + ((lin >> 30) & 3) * 8;
		uint64_t *p = gm_ptr(cpu->mem, addr, 8);
		if (!p || !(*p & PTE_P))
			return page_fault(cpu, lin, err);
		if (*p & (PTE_RSVD_HIGH | PTE_NX | 0x1e6))
			return page_fault(cpu, lin, err | PFERR_P | PFERR_RSVD);
		table = *p & PTE_ADDR_MASK;
		level = 2;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		uint64_t addr = table + ((lin >> shift) & 0x1ff) * 8;
		_Atomic uint64_t *p = gm_ptr(cpu->mem, addr, 8);
		if (!p)
			return page_fault(cpu, lin, err);
		pte = atomic_load_explicit(p, memory_order_relaxed);
		if (!(pte & PTE_P))
			return page_fault(cpu, lin, err);
		uint64_t r = rsvd;
		if (level == 4)
			r |= PTE_PS;
		else if ((level == 3 || level == 2) && (pte & PTE_PS))
			r |= ((1ull << shift) - 1) & ~0x1fffull; /* frame bits below page size */
		if (pte & r)
			return page_fault(cpu, lin, err | PFERR_P | PFERR_RSVD);
		w.rw &= !!(pte & PTE_RW);
		w.us &= !!(pte & PTE_US);
		w.nx |= !!(pte & PTE_NX) && nxe;
		w.used_gpa[w.nused] = addr;
		w.used[w.nused++] = (void *)p;
		if (level == 1 || ((level == 3 || level == 2) && (pte & PTE_PS)))
			break;
		table = pte & PTE_ADDR_MASK;
	}
	unsigned shift = 12 + 9 * (level - 1);
	int rc = walk_finish(cpu, &w, lin, acc, user, err);
	if (rc)
		return rc;
	*size_mask = (1ull << shift) - 1;
	*gpa = (pte & PTE_ADDR_MASK & ~*size_mask) | (lin & *size_mask);
	*user_ok = w.us && (!write || w.rw) && !(fetch && w.nx);
	*global = (pte & PTE_G) && (cpu->cr4 & X86_CR4_PGE);
	return SOFT_OK;
}


int soft_translate(struct soft_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *gpa,
		   uint8_t **host)
{
	struct soft_tlb_entry *e = &cpu->tlb[acc][(lin >> 12) % SOFT_TLB_SIZE];
	uint64_t vpage = (lin & ~0xfffull) | 1;

	if (e->vpage == vpage && (!user || e->user_ok)) {
		*gpa = e->gpage | (lin & 0xfff);
		*host = e->host ? e->host + (lin & 0xfff) : NULL;
		return SOFT_OK;
	}

	uint64_t pa, size_mask = 0xfff;
	bool user_ok = true, global = false;
	if (!(cpu->cr0 & X86_CR0_PG)) {
		pa = soft_long_mode(cpu) ? lin : (lin & 0xffffffffull);
	} else {
		int rc = (cpu->cr4 & X86_CR4_PAE) ?
			 walk(cpu, lin, acc, user, &pa, &size_mask, &user_ok, &global, false) :
			 walk32(cpu, lin, acc, user, &pa, &size_mask, &user_ok, &global, false);
		if (rc)
			return rc;
	}
	e->vpage = vpage;
	e->gpage = pa & ~0xfffull;
	e->host = gm_ptr(cpu->mem, e->gpage, SOFT_PAGE_SIZE);
	if (e->host && soft_apic_page(cpu, e->gpage))
		e->host = NULL; /* the local APIC hides RAM under its page */
	e->size_mask = size_mask;
	e->user_ok = user_ok;
	e->global = global;
	*gpa = pa;
	*host = e->host ? e->host + (lin & 0xfff) : NULL;
	return SOFT_OK;
}

int soft_debug_translate(struct soft_cpu *cpu, uint64_t lin, uint64_t *gpa)
{
	if (!(cpu->cr0 & X86_CR0_PG)) {
		*gpa = soft_long_mode(cpu) ? lin : (lin & 0xffffffffull);
		return 0;
	}
	if (soft_long_mode(cpu) && !soft_canonical(lin))
		return -EFAULT;
	/* The walk reports a miss as a #PF: keep the CPU's CR2 and pending
	 * fault as they were. */
	uint64_t cr2 = cpu->cr2, size_mask;
	typeof(cpu->fault) fault = cpu->fault;
	bool user_ok, global;
	int rc = (cpu->cr4 & X86_CR4_PAE) ?
		 walk(cpu, lin, SOFT_ACC_READ, false, gpa, &size_mask, &user_ok, &global, true) :
		 walk32(cpu, lin, SOFT_ACC_READ, false, gpa, &size_mask, &user_ok, &global, true);
	cpu->cr2 = cr2;
	cpu->fault = fault;
	return rc ? -EFAULT : 0;
}

static bool mmio_size_ok(unsigned len)
{
	return len == 1 || len == 2 || len == 4 || len == 8;
}

static int mmio_read_one(struct soft_cpu *cpu, uint64_t gpa, void *dst, unsigned len);

/* A load from a guest-physical address that is not RAM (see cpu.h). One
 * that is not 1, 2, 4 or 8 bytes (a 16-byte SSE load, a piece of a load that
 * crosses into a device page) becomes several device reads, each replayed
 * like any other. */
static int mmio_read(struct soft_cpu *cpu, uint64_t gpa, void *dst, unsigned len)
{
	uint8_t *d = dst;
	while (len) {
		unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
		int rc = mmio_read_one(cpu, gpa, d, n);
		if (rc)
			return rc;
		gpa += n, d += n, len -= n;
	}
	return SOFT_OK;
}

static int mmio_read_one(struct soft_cpu *cpu, uint64_t gpa, void *dst, unsigned len)
{
	if (!mmio_size_ok(len))
		return soft_error_exit(cpu, "soft CPU: MMIO read of unsupported size", gpa, len);
	if (soft_apic_page(cpu, gpa)) {
		/* This CPU's own APIC answers at once, no exit; reading it
		 * again when the instruction is re-executed is harmless. */
		soft_apic_access(cpu, gpa, dst, len, false);
		return SOFT_OK;
	}
	if (cpu->mmio_replay_pos < cpu->mmio_replay_n) {
		struct soft_mmio_replay *r = &cpu->mmio_replay[cpu->mmio_replay_pos];
		if (r->gpa == gpa && r->size == len) {
			memcpy(dst, r->data, len);
			cpu->mmio_replay_pos++;
			return SOFT_OK;
		}
		/* The instruction took another path this time (another vCPU
		 * changed its page tables): the old reads are of no use. */
		cpu->mmio_replay_n = cpu->mmio_replay_pos = 0;
	}
	if (cpu->exit_after_commit)
		return soft_error_exit(cpu, "soft CPU: MMIO read after a device write in one "
				       "instruction", gpa, len);
	if (cpu->mmio_replay_n >= SOFT_MMIO_REPLAY)
		return soft_error_exit(cpu, "soft CPU: too many MMIO reads in one instruction",
				       gpa, len);
	struct soft_mmio_replay *r = &cpu->mmio_replay[cpu->mmio_replay_n];
	r->gpa = gpa;
	r->size = (uint8_t)len;
	memset(r->data, 0xff, sizeof(r->data));
	cpu->exit.kind = VCPU_EXIT_MMIO;
	cpu->exit.mmio.addr = gpa;
	cpu->exit.mmio.size = (uint8_t)len;
	cpu->exit.mmio.is_write = false;
	cpu->exit.mmio.data = r->data;
	cpu->mmio_wait = true;
	return SOFT_EXIT;
}

/* A store to a guest-physical address that is not RAM: queued in 8/4/2/1-
 * byte pieces, sent once the instruction commits (see cpu.h). */
static int mmio_write(struct soft_cpu *cpu, uint64_t gpa, const void *src, unsigned len)
{
	const uint8_t *s = src;
	if (soft_apic_page(cpu, gpa)) {
		/* The local APIC takes stores at once: nothing that can fault
		 * follows a handler's memory write (cpu.h). */
		while (len) {
			unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
			soft_apic_access(cpu, gpa, (void *)s, n, true);
			gpa += n, s += n, len -= n;
		}
		return SOFT_OK;
	}
	if (cpu->exit_after_commit && !cpu->mmio_wq_n)
		return soft_error_exit(cpu, "soft CPU: port and device writes in one instruction",
				       gpa, len);
	while (len) {
		unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
		if (cpu->mmio_wq_n >= SOFT_MMIO_REPLAY)
			return soft_error_exit(cpu, "soft CPU: too many device writes in one "
					       "instruction", gpa, len);
		struct soft_mmio_replay *w = &cpu->mmio_wq[cpu->mmio_wq_n++];
		w->gpa = gpa;
		w->size = (uint8_t)n;
		memcpy(w->data, s, n);
		gpa += n, s += n, len -= n;
	}
	soft_mmio_write_exit(cpu, 0);
	cpu->exit_after_commit = true;
	return SOFT_OK;
}

void soft_mmio_write_exit(struct soft_cpu *cpu, int i)
{
	struct soft_mmio_replay *w = &cpu->mmio_wq[i];
	memset(&cpu->exit, 0, sizeof(cpu->exit));
	cpu->exit.kind = VCPU_EXIT_MMIO;
	cpu->exit.mmio.addr = w->gpa;
	cpu->exit.mmio.size = w->size;
	cpu->exit.mmio.is_write = true;
	cpu->exit.mmio.data = w->data;
	cpu->mmio_wq_pos = i + 1;
}

int soft_lin_read(struct soft_cpu *cpu, uint64_t lin, void *dst, unsigned len, bool user)
{
	uint8_t *d = dst;
	while (len) {
		unsigned chunk = SOFT_PAGE_SIZE - (lin & 0xfff);
		if (chunk > len)
			chunk = len;
		uint64_t gpa;
		uint8_t *host;
		int rc = soft_translate(cpu, lin, SOFT_ACC_READ, user, &gpa, &host);
		if (rc)
			return rc;
		if (host)
			memcpy(d, host, chunk);
		else if ((rc = mmio_read(cpu, gpa, d, chunk)))
			return rc;
		d += chunk;
		lin += chunk;
		len -= chunk;
	}
	return SOFT_OK;
}

/* A store: both pages of a crossing store are translated (and may fault)
 * before either is written, so a faulting store changes nothing. */
int soft_lin_write(struct soft_cpu *cpu, uint64_t lin, const void *src, unsigned len, bool user)
{
	const uint8_t *s = src;
	uint64_t gpa[2];
	uint8_t *host[2];
	unsigned part[2], n = 0;

	if (len > SOFT_PAGE_SIZE)
		return soft_error_exit(cpu, "soft CPU: oversized store", lin, len);
	while (len) {
		unsigned chunk = SOFT_PAGE_SIZE - (lin & 0xfff);
		if (chunk > len)
			chunk = len;
		int rc = soft_translate(cpu, lin, SOFT_ACC_WRITE, user, &gpa[n], &host[n]);
		if (rc)
			return rc;
		part[n++] = chunk;
		lin += chunk;
		len -= chunk;
	}
	for (unsigned i = 0; i < n; i++) {
		if (host[i]) {
			memcpy(host[i], s, part[i]);
			soft_note_store(cpu->vm, gpa[i]);
		} else {
			int rc = mmio_write(cpu, gpa[i], s, part[i]);
			if (rc)
				return rc;
		}
		s += part[i];
	}
	return SOFT_OK;
}

void *soft_lin_rmw_ptr(struct soft_cpu *cpu, uint64_t lin, unsigned len, int *rc)
{
	uint64_t gpa;
	uint8_t *host;

	*rc = SOFT_OK;
	if ((lin & 0xfff) + len > SOFT_PAGE_SIZE)
		return NULL;
	*rc = soft_translate(cpu, lin, SOFT_ACC_WRITE, cpu->cpl == 3, &gpa, &host);
	if (*rc || !host)
		return NULL;
	soft_note_store(cpu->vm, gpa);
	return host;
}

int soft_seg_linear(struct soft_cpu *cpu, unsigned seg, uint64_t off, unsigned len, bool write,
		    uint64_t *lin)
{
	unsigned vec = seg == X86_SS ? EXC_SS : EXC_GP;

	if (soft_64bit(cpu)) {
		/* 64-bit mode: only FS and GS have a base, no limits (§3.2.4). */
		uint64_t a = off + ((seg == X86_FS || seg == X86_GS) ? cpu->seg[seg].base : 0);
		if (!soft_canonical(a) || !soft_canonical(a + len - 1))
			return soft_raise(cpu, vec, true, 0);
		*lin = a;
		return SOFT_OK;
	}
	const struct x86_segment *s = &cpu->seg[seg];
	if (cpu->cr0 & X86_CR0_PE) {
		if (s->unusable)
			return soft_raise(cpu, vec, true, 0);
		/* Code segments are never writable; data segments need W (type bit 1). */
		if (write && ((s->type & 8) || !(s->type & 2)))
			return soft_raise(cpu, vec, true, 0);
	}
	/* Expand-up limit check; expand-down data segments are not modelled yet. */
	if (off > s->limit || len - 1 > s->limit - off)
		return soft_raise(cpu, vec, true, 0);
	*lin = (s->base + off) & 0xffffffffull;
	return SOFT_OK;
}

/* The common case of a data access, without the general machinery: 64-bit
 * mode, within one page, a TLB hit on RAM. The host address (and *gpa), or
 * NULL for the general path. */
static inline uint8_t *fast_host(struct soft_cpu *cpu, unsigned seg, uint64_t off, unsigned len,
				 int acc, uint64_t *gpa)
{
	if (!soft_64bit(cpu))
		return NULL;
	uint64_t lin = off + ((seg == X86_FS || seg == X86_GS) ? cpu->seg[seg].base : 0);
	/* Canonical form cannot change inside a page. */
	if ((lin & 0xfff) + len > SOFT_PAGE_SIZE || !soft_canonical(lin))
		return NULL;
	const struct soft_tlb_entry *e = &cpu->tlb[acc][(lin >> 12) % SOFT_TLB_SIZE];
	if (e->vpage != ((lin & ~0xfffull) | 1) || !e->host || (cpu->cpl == 3 && !e->user_ok))
		return NULL;
	*gpa = e->gpage | (lin & 0xfff);
	return e->host + (lin & 0xfff);
}

/* memcpy with the common operand sizes spelled out, so each is one move. */
static inline void copy_sized(void *dst, const void *src, unsigned len)
{
	switch (len) {
	case 1: memcpy(dst, src, 1); break;
	case 2: memcpy(dst, src, 2); break;
	case 4: memcpy(dst, src, 4); break;
	case 8: memcpy(dst, src, 8); break;
	default: memcpy(dst, src, len); break;
	}
}

int soft_mem_read(struct soft_cpu *cpu, unsigned seg, uint64_t off, void *dst, unsigned len)
{
	uint64_t gpa, lin;
	uint8_t *h = fast_host(cpu, seg, off, len, SOFT_ACC_READ, &gpa);
	if (h) {
		copy_sized(dst, h, len);
		return SOFT_OK;
	}
	int rc = soft_seg_linear(cpu, seg, off, len, false, &lin);
	return rc ? rc : soft_lin_read(cpu, lin, dst, len, cpu->cpl == 3);
}

int soft_mem_write(struct soft_cpu *cpu, unsigned seg, uint64_t off, const void *src,
		   unsigned len)
{
	uint64_t gpa, lin;
	uint8_t *h = fast_host(cpu, seg, off, len, SOFT_ACC_WRITE, &gpa);
	if (h) {
		copy_sized(h, src, len);
		soft_note_store(cpu->vm, gpa);
		return SOFT_OK;
	}
	int rc = soft_seg_linear(cpu, seg, off, len, true, &lin);
	return rc ? rc : soft_lin_write(cpu, lin, src, len, cpu->cpl == 3);
}

int soft_sys_read(struct soft_cpu *cpu, uint64_t lin, void *dst, unsigned len)
{
	return soft_lin_read(cpu, lin, dst, len, false);
}

int soft_sys_write(struct soft_cpu *cpu, uint64_t lin, const void *src, unsigned len)
{
	return soft_lin_write(cpu, lin, src, len, false);
}
