/* String instructions: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS, with and
 * without REP/REPE/REPNE (SDM Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ").
 *
 * Each iteration commits (rSI, rDI, rCX) before the next one starts, so a
 * fault or an exit in the middle leaves the registers as hardware does and
 * the instruction resumes where it stopped. A REP instruction gives the loop
 * back (RIP unchanged) after SOFT_STRING_BATCH iterations, so a kick or an
 * exit is never far away, and after any iteration that went to a device
 * (MMIO or port I/O), so that each device access is its own completion.
 * The address size (67h prefix) picks rSI/rDI/rCX widths; the source segment
 * can be overridden, the destination is always ES. */
#include <string.h>

#include "accel/soft/cpu.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

#define SOFT_STRING_BATCH 4096

enum str_kind { S_MOVS, S_STOS, S_LODS, S_CMPS, S_SCAS, S_INS, S_OUTS };

static enum str_kind kind_of(unsigned m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_MOVSQ:
		return S_MOVS;
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_STOSD:
	case ZYDIS_MNEMONIC_STOSQ:
		return S_STOS;
	case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW: case ZYDIS_MNEMONIC_LODSD:
	case ZYDIS_MNEMONIC_LODSQ:
		return S_LODS;
	case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSD:
	case ZYDIS_MNEMONIC_CMPSQ:
		return S_CMPS;
	case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW: case ZYDIS_MNEMONIC_SCASD:
	case ZYDIS_MNEMONIC_SCASQ:
		return S_SCAS;
	case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD:
		return S_INS;
	default:
		return S_OUTS;
	}
}

/* One iteration; SOFT_OK with the registers advanced. */
static int iterate(struct soft_cpu *cpu, const struct soft_insn *in, enum str_kind k,
		   unsigned size)
{
	unsigned as = in->asize;
	uint64_t si = soft_reg_read(cpu, X86_RSI, as), di = soft_reg_read(cpu, X86_RDI, as);
	int64_t step = (cpu->rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
	uint64_t a = 0, b = 0;
	int rc = SOFT_OK;

	switch (k) {
	case S_MOVS:
		rc = soft_mem_read(cpu, in->strseg, si, &a, size);
		if (!rc)
			rc = soft_mem_write(cpu, X86_ES, di, &a, size);
		break;
	case S_STOS:
		a = cpu->gpr[X86_RAX];
		rc = soft_mem_write(cpu, X86_ES, di, &a, size);
		break;
	case S_LODS:
		rc = soft_mem_read(cpu, in->strseg, si, &a, size);
		break;
	case S_CMPS:
		rc = soft_mem_read(cpu, in->strseg, si, &a, size);
		if (!rc)
			rc = soft_mem_read(cpu, X86_ES, di, &b, size);
		break;
	case S_SCAS:
		rc = soft_mem_read(cpu, X86_ES, di, &b, size);
		break;
	case S_INS:
		rc = soft_io_permitted(cpu, (uint16_t)cpu->gpr[X86_RDX], size);
		if (!rc)
			rc = soft_io(cpu, (uint16_t)cpu->gpr[X86_RDX], size, 1, false, &a);
		if (!rc)
			rc = soft_mem_write(cpu, X86_ES, di, &a, size);
		break;
	case S_OUTS:
		rc = soft_io_permitted(cpu, (uint16_t)cpu->gpr[X86_RDX], size);
		if (!rc)
			rc = soft_mem_read(cpu, in->strseg, si, &a, size);
		if (!rc)
			rc = soft_io(cpu, (uint16_t)cpu->gpr[X86_RDX], size, 1, true, &a);
		break;
	}
	if (rc)
		return rc;

	/* Commit. */
	switch (k) {
	case S_LODS:
		soft_reg_write(cpu, X86_RAX, size, a);
		break;
	case S_CMPS:
		soft_flags_sub(cpu, a, b, 0, size);
		break;
	case S_SCAS:
		soft_flags_sub(cpu, cpu->gpr[X86_RAX], b, 0, size);
		break;
	default:
		break;
	}
	if (k == S_MOVS || k == S_LODS || k == S_CMPS || k == S_OUTS)
		soft_reg_write(cpu, X86_RSI, as, si + (uint64_t)step);
	if (k == S_MOVS || k == S_STOS || k == S_CMPS || k == S_SCAS || k == S_INS)
		soft_reg_write(cpu, X86_RDI, as, di + (uint64_t)step);
	return SOFT_OK;
}

/* REP MOVS / REP STOS forwards in 64-bit mode, a page-sized chunk at a time
 * between RAM pages: what memcpy/memset/clear_page spend their time in. The
 * result is the element-by-element one (SDM Vol. 1 §7.3.9.3 "fast-string
 * operation" promises the same): a MOVS whose destination overlaps the
 * source from above is left to the element loop, which propagates as
 * hardware does. Returns SOFT_OK with RSI/RDI/RCX advanced over what it did
 * (maybe nothing: the element loop goes on from there), or a fault with
 * the registers at the faulting chunk. */
static int rep_bulk(struct soft_cpu *cpu, const struct soft_insn *in, enum str_kind k,
		    unsigned size)
{
	bool user = cpu->cpl == 3;
	for (unsigned n = 0; n < SOFT_STRING_BATCH; n++) {
		uint64_t count = cpu->gpr[X86_RCX];
		if (!count)
			return SOFT_OK;
		uint64_t di = cpu->gpr[X86_RDI], si = cpu->gpr[X86_RSI], dlin, slin = 0;
		uint64_t chunk = count > SOFT_PAGE_SIZE ? SOFT_PAGE_SIZE : count * size;
		if (chunk > SOFT_PAGE_SIZE - (di & 0xfff))
			chunk = SOFT_PAGE_SIZE - (di & 0xfff);
		if (k == S_MOVS && chunk > SOFT_PAGE_SIZE - (si & 0xfff))
			chunk = SOFT_PAGE_SIZE - (si & 0xfff);
		chunk -= chunk % size;
		if (!chunk)
			return SOFT_OK; /* an element straddles a page */
		uint64_t dgpa, sgpa;
		uint8_t *dh, *sh = NULL;
		int rc;
		if (k == S_MOVS) {
			rc = soft_seg_linear(cpu, in->strseg, si, (unsigned)chunk, false, &slin);
			if (!rc)
				rc = soft_translate(cpu, slin, SOFT_ACC_READ, user, &sgpa, &sh);
			if (rc)
				return rc;
		}
		rc = soft_seg_linear(cpu, X86_ES, di, (unsigned)chunk, true, &dlin);
		if (!rc)
			rc = soft_translate(cpu, dlin, SOFT_ACC_WRITE, user, &dgpa, &dh);
		if (rc)
			return rc;
		if (!dh || (k == S_MOVS && (!sh || (dh > sh && dh < sh + chunk))))
			return SOFT_OK; /* a device, or a propagating overlap */
		if (k == S_MOVS) {
			memmove(dh, sh, chunk);
		} else if (size == 1) {
			memset(dh, (int)(cpu->gpr[X86_RAX] & 0xff), chunk);
		} else {
			uint64_t v = cpu->gpr[X86_RAX];
			for (uint64_t o = 0; o < chunk; o += size)
				memcpy(dh + o, &v, size);
		}
		soft_note_store(cpu->vm, dgpa);
		cpu->gpr[X86_RDI] = di + chunk;
		if (k == S_MOVS)
			cpu->gpr[X86_RSI] = si + chunk;
		cpu->gpr[X86_RCX] = count - chunk / size;
	}
	return SOFT_OK;
}

static int exec_string(struct soft_cpu *cpu, const struct soft_insn *in)
{
	enum str_kind k = kind_of(in->mnemonic);
	unsigned size = in->osize, as = in->asize;
	bool rep = in->flags & (INSN_REP | INSN_REPNE);
	bool cond = k == S_CMPS || k == S_SCAS;

	if (size > 8)
		return soft_ud(cpu);
	if (!rep)
		return iterate(cpu, in, k, size);
	if ((k == S_MOVS || k == S_STOS) && as == 8 && !(cpu->rflags & FL_DF) && soft_64bit(cpu)) {
		int rc = rep_bulk(cpu, in, k, size);
		if (rc)
			return rc;
		if (!cpu->gpr[X86_RCX])
			return SOFT_OK;
	}
	for (unsigned n = 0;; n++) {
		uint64_t count = soft_reg_read(cpu, X86_RCX, as);
		if (!count)
			return SOFT_OK;
		if (n == SOFT_STRING_BATCH) {
			cpu->next_rip = cpu->rip; /* come back for the rest */
			return SOFT_OK;
		}
		int rc = iterate(cpu, in, k, size);
		if (rc)
			return rc;
		soft_reg_write(cpu, X86_RCX, as, count - 1);
		if (cond) {
			bool zf = cpu->rflags & FL_ZF;
			if ((in->flags & INSN_REPNE) ? zf : !zf)
				return SOFT_OK;
		}
		if (count - 1 == 0)
			return SOFT_OK;
		if (cpu->exit_after_commit || cpu->mmio_replay_n) {
			cpu->next_rip = cpu->rip;
			return SOFT_OK;
		}
	}
}

soft_handler soft_exec_string_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_CMPSD:
		/* The SSE2 instructions of the same name have operands. */
		return in->nops ? NULL : exec_string;
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSQ:
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_STOSD:
	case ZYDIS_MNEMONIC_STOSQ: case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW:
	case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ: case ZYDIS_MNEMONIC_CMPSB:
	case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSQ: case ZYDIS_MNEMONIC_SCASB:
	case ZYDIS_MNEMONIC_SCASW: case ZYDIS_MNEMONIC_SCASD: case ZYDIS_MNEMONIC_SCASQ:
	case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD:
	case ZYDIS_MNEMONIC_OUTSB: case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD:
		return exec_string;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
