/* The decode cache: Zydis decodes an instruction once; the soft CPU then runs
 * it from a struct soft_insn cached under its guest-physical code page.
 *
 * Each vCPU has its own cache (no locks on the hot path). A page's decoded
 * instructions are valid while the VM-wide generation word of the page
 * (struct soft_vm.page_gen) is unchanged: any write to the page — a guest
 * store through the MMU, or isola's own gm_write (DMA, the loader) through the
 * guest_mem on_write hook — bumps it, and the next fetch from the page drops
 * the stale decodes and starts over. Stale pages are freed only at fetch time,
 * never while one of their instructions runs, so self-modifying code is safe.
 *
 * An instruction that crosses a page boundary is decoded into a scratch slot
 * every time it runs (rare; it depends on two pages). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "memory.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

enum { MODE_64 = SOFT_DECODE_MODE_64, MODE_32, MODE_16, NR_MODES };

int soft_decode_init(struct soft_decode_cache *dc)
{
	static const ZydisMachineMode mm[NR_MODES] = {
		ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_MACHINE_MODE_LEGACY_32,
		ZYDIS_MACHINE_MODE_LEGACY_16 };
	static const ZydisStackWidth sw[NR_MODES] = {
		ZYDIS_STACK_WIDTH_64, ZYDIS_STACK_WIDTH_32, ZYDIS_STACK_WIDTH_16 };
	ZydisDecoder *d = calloc(NR_MODES, sizeof(*d));

	memset(dc, 0, sizeof(*dc));
	if (!d)
		return -ENOMEM;
	for (int i = 0; i < NR_MODES; i++)
		if (!ZYAN_SUCCESS(ZydisDecoderInit(&d[i], mm[i], sw[i]))) {
			free(d);
			return -EINVAL;
		}
	dc->decoder = d;
	return 0;
}

static void page_free(struct soft_code_page *p)
{
	for (unsigned i = 0; i < SOFT_PAGE_SIZE / SOFT_INSN_BLOCK; i++)
		free(p->blocks[i]);
	free(p);
}

/* Drop every decoded page (never while one of their instructions runs). */
void soft_decode_flush(struct soft_decode_cache *dc)
{
	for (int b = 0; b < SOFT_CODE_BUCKETS; b++) {
		struct soft_code_page *p = dc->bucket[b], *n;
		for (; p; p = n) {
			n = p->next;
			page_free(p);
		}
		dc->bucket[b] = NULL;
	}
	dc->nr_pages = 0;
	dc->nr_insns = 0;
	dc->last = NULL;
	dc->prev = NULL;
	dc->fast.valid = false;
	dc->fast.page = NULL;
}

void soft_decode_destroy(struct soft_decode_cache *dc)
{
	soft_decode_flush(dc);
	free(dc->decoder);
	dc->decoder = NULL;
}

/* ---- Zydis -> struct soft_insn ---- */

static void map_reg(ZydisRegister r, struct soft_operand *o)
{
	o->rclass = SREG_OTHER;
	o->reg = 0;
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_AL);
	} else if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
		o->rclass = SREG_GPR8H, o->reg = (uint8_t)(r - ZYDIS_REGISTER_AH);
	} else if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_DIL) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(4 + r - ZYDIS_REGISTER_SPL);
	} else if (r >= ZYDIS_REGISTER_R8B && r <= ZYDIS_REGISTER_R15B) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(8 + r - ZYDIS_REGISTER_R8B);
	} else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_AX);
	} else if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_EAX);
	} else if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
		o->rclass = SREG_GPR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_RAX);
	} else if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
		o->rclass = SREG_XMM, o->reg = (uint8_t)(r - ZYDIS_REGISTER_XMM0);
	} else if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) {
		o->rclass = SREG_MMX, o->reg = (uint8_t)(r - ZYDIS_REGISTER_MM0);
	} else if (r >= ZYDIS_REGISTER_CR0 && r <= ZYDIS_REGISTER_CR15) {
		o->rclass = SREG_CR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_CR0);
	} else if (r >= ZYDIS_REGISTER_DR0 && r <= ZYDIS_REGISTER_DR15) {
		o->rclass = SREG_DR, o->reg = (uint8_t)(r - ZYDIS_REGISTER_DR0);
	} else {
		switch (r) {
		case ZYDIS_REGISTER_ES: o->rclass = SREG_SEG, o->reg = X86_ES; break;
		case ZYDIS_REGISTER_CS: o->rclass = SREG_SEG, o->reg = X86_CS; break;
		case ZYDIS_REGISTER_SS: o->rclass = SREG_SEG, o->reg = X86_SS; break;
		case ZYDIS_REGISTER_DS: o->rclass = SREG_SEG, o->reg = X86_DS; break;
		case ZYDIS_REGISTER_FS: o->rclass = SREG_SEG, o->reg = X86_FS; break;
		case ZYDIS_REGISTER_GS: o->rclass = SREG_SEG, o->reg = X86_GS; break;
		default: break;
		}
	}
}

static uint8_t map_addr_reg(ZydisRegister r)
{
	struct soft_operand o;
	if (r == ZYDIS_REGISTER_NONE)
		return SOFT_NOREG;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP)
		return SOFT_RIPREG;
	map_reg(r, &o);
	return o.rclass == SREG_GPR ? o.reg : SOFT_NOREG;
}

static uint8_t map_seg(ZydisRegister r)
{
	struct soft_operand o;
	map_reg(r, &o);
	return o.rclass == SREG_SEG ? o.reg : X86_DS;
}

/* Condition-code number (the low nibble of the Jcc opcode, SDM Vol. 1 App. B). */
static int mnemonic_cc(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_CMOVO: return 0;
	case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_CMOVNO: return 1;
	case ZYDIS_MNEMONIC_JB: case ZYDIS_MNEMONIC_SETB: case ZYDIS_MNEMONIC_CMOVB: return 2;
	case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_CMOVNB: return 3;
	case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_CMOVZ: return 4;
	case ZYDIS_MNEMONIC_JNZ: case ZYDIS_MNEMONIC_SETNZ: case ZYDIS_MNEMONIC_CMOVNZ: return 5;
	case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_CMOVBE: return 6;
	case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_CMOVNBE: return 7;
	case ZYDIS_MNEMONIC_JS: case ZYDIS_MNEMONIC_SETS: case ZYDIS_MNEMONIC_CMOVS: return 8;
	case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_CMOVNS: return 9;
	case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_CMOVP: return 10;
	case ZYDIS_MNEMONIC_JNP: case ZYDIS_MNEMONIC_SETNP: case ZYDIS_MNEMONIC_CMOVNP: return 11;
	case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_CMOVL: return 12;
	case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_CMOVNL: return 13;
	case ZYDIS_MNEMONIC_JLE: case ZYDIS_MNEMONIC_SETLE: case ZYDIS_MNEMONIC_CMOVLE: return 14;
	case ZYDIS_MNEMONIC_JNLE: case ZYDIS_MNEMONIC_SETNLE: case ZYDIS_MNEMONIC_CMOVNLE:
		return 15;
	default: return -1;
	}
}

static int exec_gp0(struct soft_cpu *cpu, const struct soft_insn *in)
{
	return soft_gp0(cpu);
}

static soft_handler find_handler(const struct soft_insn *in)
{
	static soft_handler (*const lookup[])(const struct soft_insn *) = {
		soft_exec_alu_lookup, soft_exec_shift_lookup, soft_exec_muldiv_lookup,
		soft_exec_string_lookup, soft_exec_ctrl_lookup, soft_exec_system_lookup,
		soft_exec_sse_lookup, soft_exec_sse_int_lookup, soft_exec_sse_fp_lookup,
		soft_exec_sse_packed_lookup, soft_exec_sse_pack_lookup, soft_exec_sse_mul_lookup,
		soft_exec_sse_shuf_lookup, soft_exec_sse_rcp_lookup,
		soft_exec_x87_lookup, soft_exec_x87_env_lookup, soft_exec_x87_host_lookup,
	};
	for (unsigned i = 0; i < sizeof(lookup) / sizeof(lookup[0]); i++) {
		soft_handler h = lookup[i](in);
		if (h)
			return h;
	}
	return soft_exec_ud;
}

/* See INSN_PLAIN (cpu.h). A list of what is known to qualify; anything else
 * (system instructions, far transfers, segment loads, I/O, and handlers this
 * list does not know, SSE and x87 included) ends the fast path after it runs,
 * which is always correct, only slower. */
static bool plain_insn(const struct soft_insn *in)
{
	if (in->flags & INSN_FAR)
		return false;
	for (unsigned i = 0; i < in->nops; i++)
		if (in->op[i].kind == SOP_REG && in->op[i].rclass != SREG_GPR &&
		    in->op[i].rclass != SREG_GPR8H)
			return false;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX:
	case ZYDIS_MNEMONIC_MOVSXD: case ZYDIS_MNEMONIC_LEA:
	case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_OR:
	case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
	case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NEG:
	case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_XCHG: case ZYDIS_MNEMONIC_XADD:
	case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B:
	case ZYDIS_MNEMONIC_CMPXCHG16B: case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_BSF:
	case ZYDIS_MNEMONIC_BSR: case ZYDIS_MNEMONIC_TZCNT: case ZYDIS_MNEMONIC_LZCNT:
	case ZYDIS_MNEMONIC_POPCNT: case ZYDIS_MNEMONIC_BSWAP:
	case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE: case ZYDIS_MNEMONIC_CDQE:
	case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ: case ZYDIS_MNEMONIC_CQO:
	case ZYDIS_MNEMONIC_CLC: case ZYDIS_MNEMONIC_STC: case ZYDIS_MNEMONIC_CMC:
	case ZYDIS_MNEMONIC_CLD: case ZYDIS_MNEMONIC_STD: case ZYDIS_MNEMONIC_LAHF:
	case ZYDIS_MNEMONIC_SAHF: case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE:
	case ZYDIS_MNEMONIC_ENDBR64: case ZYDIS_MNEMONIC_ENDBR32:
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR:
	case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL:
	case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
	case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_IMUL: case ZYDIS_MNEMONIC_DIV:
	case ZYDIS_MNEMONIC_IDIV:
	case ZYDIS_MNEMONIC_JMP: case ZYDIS_MNEMONIC_CALL: case ZYDIS_MNEMONIC_RET:
	case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ: case ZYDIS_MNEMONIC_JRCXZ:
	case ZYDIS_MNEMONIC_LOOP: case ZYDIS_MNEMONIC_LOOPE: case ZYDIS_MNEMONIC_LOOPNE:
	case ZYDIS_MNEMONIC_PUSH: case ZYDIS_MNEMONIC_POP: case ZYDIS_MNEMONIC_LEAVE:
	case ZYDIS_MNEMONIC_ENTER:
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSQ:
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_STOSD:
	case ZYDIS_MNEMONIC_STOSQ: case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW:
	case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ: case ZYDIS_MNEMONIC_CMPSB:
	case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSQ: case ZYDIS_MNEMONIC_SCASB:
	case ZYDIS_MNEMONIC_SCASW: case ZYDIS_MNEMONIC_SCASD: case ZYDIS_MNEMONIC_SCASQ:
		return true;
	default:
		/* Jcc, SETcc, CMOVcc */
		return mnemonic_cc((ZydisMnemonic)in->mnemonic) >= 0;
	}
}

static bool is_string_op(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_MOVSQ: case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW:
	case ZYDIS_MNEMONIC_CMPSD: case ZYDIS_MNEMONIC_CMPSQ: case ZYDIS_MNEMONIC_LODSB:
	case ZYDIS_MNEMONIC_LODSW: case ZYDIS_MNEMONIC_LODSD: case ZYDIS_MNEMONIC_LODSQ:
	case ZYDIS_MNEMONIC_OUTSB: case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD:
	case ZYDIS_MNEMONIC_XLAT:
		return true;
	default:
		return false;
	}
}

/* Decode one instruction from buf. 0, -EAGAIN if buf ended before the
 * instruction did (len < 15), or -EINVAL (out is then a #UD or #GP stub). */
static int decode_one(struct soft_cpu *cpu, int mode, const uint8_t *buf, unsigned len,
		      struct soft_insn *out)
{
	const ZydisDecoder *dec = (const ZydisDecoder *)cpu->dc.decoder + mode;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT];
	ZyanStatus st = ZydisDecoderDecodeFull(dec, buf, len, &zi, zo);

	memset(out, 0, sizeof(*out));
	if (!ZYAN_SUCCESS(st)) {
		if (st == ZYDIS_STATUS_NO_MORE_DATA && len < 15)
			return -EAGAIN;
		/* Longer than 15 bytes is #GP(0) (SDM Vol. 2A §2.3.11); everything
		 * else the decoder refuses is an undefined encoding: #UD. */
		out->fn = st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG ? exec_gp0 : soft_exec_ud;
		out->len = 1;
		return -EINVAL;
	}
	out->mnemonic = (uint16_t)zi.mnemonic;
	out->len = zi.length;
	out->osize = zi.operand_width / 8;
	out->asize = zi.address_width / 8;
	out->opcode = zi.opcode;
	if (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)
		out->modrm = (uint8_t)(zi.raw.modrm.mod << 6 | zi.raw.modrm.reg << 3 |
				       zi.raw.modrm.rm);
	if (zi.attributes & ZYDIS_ATTRIB_HAS_LOCK)
		out->flags |= INSN_LOCK;
	if (zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
		out->flags |= INSN_REP;
	if (zi.attributes & ZYDIS_ATTRIB_HAS_REPNE)
		out->flags |= INSN_REPNE;
	if (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		out->flags |= INSN_FAR;
	int cc = mnemonic_cc(zi.mnemonic);
	out->cc = cc < 0 ? 0 : (uint8_t)cc;
	out->strseg = X86_DS;

	unsigned n = 0;
	for (unsigned i = 0; i < zi.operand_count; i++) {
		const ZydisDecodedOperand *z = &zo[i];
		if (z->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
			/* String sources: remember the (possibly overridden) segment. */
			ZydisRegister b = z->mem.base;
			if (z->type == ZYDIS_OPERAND_TYPE_MEMORY && is_string_op(zi.mnemonic) &&
			    (b == ZYDIS_REGISTER_RSI || b == ZYDIS_REGISTER_ESI ||
			     b == ZYDIS_REGISTER_SI || b == ZYDIS_REGISTER_RBX ||
			     b == ZYDIS_REGISTER_EBX || b == ZYDIS_REGISTER_BX))
				out->strseg = map_seg(z->mem.segment);
			/* MASKMOVDQU/MASKMOVQ store to DS:rDI, DS overridable. */
			if (z->type == ZYDIS_OPERAND_TYPE_MEMORY &&
			    (zi.mnemonic == ZYDIS_MNEMONIC_MASKMOVDQU ||
			     zi.mnemonic == ZYDIS_MNEMONIC_MASKMOVQ))
				out->strseg = map_seg(z->mem.segment);
			continue;
		}
		if (n >= 4)
			break;
		struct soft_operand *o = &out->op[n++];
		unsigned bytes = (z->size + 7) / 8;
		o->size = (uint8_t)(bytes > 255 ? 255 : bytes);
		switch (z->type) {
		case ZYDIS_OPERAND_TYPE_REGISTER:
			o->kind = SOP_REG;
			map_reg(z->reg.value, o);
			break;
		case ZYDIS_OPERAND_TYPE_MEMORY:
			o->kind = SOP_MEM;
			o->seg = map_seg(z->mem.segment);
			o->base = map_addr_reg(z->mem.base);
			o->index = map_addr_reg(z->mem.index);
			o->scale = z->mem.scale ? z->mem.scale : 1;
			o->val = z->mem.disp.has_displacement ? z->mem.disp.value : 0;
			break;
		case ZYDIS_OPERAND_TYPE_IMMEDIATE:
			o->kind = SOP_IMM;
			o->val = z->imm.is_signed ? z->imm.value.s : (int64_t)z->imm.value.u;
			o->relative = z->imm.is_relative;
			break;
		case ZYDIS_OPERAND_TYPE_POINTER:
			o->kind = SOP_PTR;
			o->val = (int64_t)(((uint64_t)z->ptr.segment << 32) | z->ptr.offset);
			break;
		default:
			o->kind = SOP_NONE;
			break;
		}
	}
	out->nops = (uint8_t)n;
	out->fn = find_handler(out);
	if (out->fn != soft_exec_ud) {
		soft_handler fast = soft_exec_fast_lookup(out, mode == MODE_64);
		if (fast)
			out->fn = fast;
	}
	if (plain_insn(out))
		out->flags |= INSN_PLAIN;
	return 0;
}

int soft_decode_bytes(struct soft_cpu *cpu, const uint8_t *buf, unsigned len,
		      struct soft_insn *out)
{
	int mode = soft_64bit(cpu) ? MODE_64 : cpu->seg[X86_CS].db ? MODE_32 : MODE_16;
	return decode_one(cpu, mode, buf, len, out) ? -EINVAL : 0;
}

/* ---- the cache ---- */

static unsigned bucket_of(uint64_t gpa, int mode)
{
	uint64_t h = (gpa >> 12) * 0x9e3779b97f4a7c15ull + (unsigned)mode;
	return (unsigned)(h >> 54) % SOFT_CODE_BUCKETS;
}

static struct soft_code_page *page_get(struct soft_cpu *cpu, uint64_t gpage, int mode)
{
	struct soft_decode_cache *dc = &cpu->dc;
	_Atomic uint32_t *genp = &cpu->vm->page_gen[gpage >> 12];
	uint32_t gen = atomic_load_explicit(genp, memory_order_acquire);
	struct soft_code_page *p = dc->last;

	if (p && p->gpa == gpage && p->mode == mode && p->gen == gen)
		return p;
	struct soft_code_page **pp = &dc->bucket[bucket_of(gpage, mode)];
	for (; (p = *pp); pp = &p->next) {
		if (p->gpa != gpage || p->mode != mode)
			continue;
		if (p->gen == gen)
			return dc->last = p;
		*pp = p->next; /* stale: the page was written since */
		if (dc->last == p)
			dc->last = NULL;
		if (dc->fast.page == p)
			dc->fast.valid = false, dc->fast.page = NULL;
		dc->prev = NULL; /* might point into p */
		page_free(p);
		dc->nr_pages--;
		break;
	}
	/* Bound the memory a guest can make us spend on decoded code: when the
	 * cache is full, start over (see SOFT_MAX_CODE_PAGES). */
	if (dc->nr_pages >= SOFT_MAX_CODE_PAGES || dc->nr_insns >= SOFT_MAX_DECODED)
		soft_decode_flush(dc);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->gpa = gpage;
	p->mode = (uint8_t)mode;
	/* Mark the page as holding code before reading its bytes, so a write
	 * that races with the decode is seen as a generation change. */
	p->gen = atomic_fetch_or(genp, 1) | 1;
	p->next = dc->bucket[bucket_of(gpage, mode)];
	dc->bucket[bucket_of(gpage, mode)] = p;
	dc->nr_pages++;
	return dc->last = p;
}

static struct soft_insn *page_slot_new(struct soft_code_page *p)
{
	unsigned n = p->nr_insns, b = n / SOFT_INSN_BLOCK;
	if (n >= SOFT_PAGE_SIZE)
		return NULL;
	if (!p->blocks[b] && !(p->blocks[b] = calloc(SOFT_INSN_BLOCK, sizeof(struct soft_insn))))
		return NULL;
	return &p->blocks[b][n % SOFT_INSN_BLOCK];
}

/* An instruction that runs off its page: gather its bytes from both pages. */
static int fetch_crossing(struct soft_cpu *cpu, uint64_t lin, int mode, const uint8_t *host,
			  unsigned avail, const struct soft_insn **out)
{
	uint8_t buf[15];
	uint64_t gpa;
	uint8_t *host2;
	int rc = soft_translate(cpu, lin + avail, SOFT_ACC_EXEC, cpu->cpl == 3, &gpa, &host2);
	if (rc)
		return rc;
	if (!host2)
		return soft_error_exit(cpu, "soft CPU: instruction fetch from non-RAM", gpa, 0);
	memcpy(buf, host, avail);
	memcpy(buf + avail, host2, 15 - avail);
	decode_one(cpu, mode, buf, 15, &cpu->dc.scratch);
	*out = &cpu->dc.scratch;
	return SOFT_OK;
}

int soft_fetch(struct soft_cpu *cpu, const struct soft_insn **out)
{
	uint64_t lin, gpa;
	uint8_t *host;
	int mode, rc;

	if (soft_64bit(cpu)) {
		if (!soft_canonical(cpu->rip))
			return soft_gp0(cpu);
		lin = cpu->rip;
		mode = MODE_64;
	} else {
		if (cpu->rip > cpu->seg[X86_CS].limit)
			return soft_gp0(cpu);
		lin = (cpu->seg[X86_CS].base + cpu->rip) & 0xffffffffull;
		mode = cpu->seg[X86_CS].db ? MODE_32 : MODE_16;
	}
	/* Fast path: same linear page, CPL and mode as the last fetch, page
	 * unchanged since, instruction already decoded. */
	struct soft_decode_cache *dc = &cpu->dc;
	if (dc->fast.valid && dc->fast.lin_page == (lin & ~0xfffull) && dc->fast.cpl == cpu->cpl &&
	    dc->fast.mode == mode &&
	    dc->fast.page->gen == atomic_load_explicit(dc->fast.genp, memory_order_acquire)) {
		unsigned s = dc->fast.page->slot[lin & 0xfff];
		if (s) {
			*out = &dc->fast.page->blocks[(s - 1) / SOFT_INSN_BLOCK]
						     [(s - 1) % SOFT_INSN_BLOCK];
			return SOFT_OK;
		}
	}
	rc = soft_translate(cpu, lin, SOFT_ACC_EXEC, cpu->cpl == 3, &gpa, &host);
	if (rc)
		return rc;
	if (!host)
		return soft_error_exit(cpu, "soft CPU: instruction fetch from non-RAM", gpa, lin);

	unsigned off = gpa & 0xfff, avail = SOFT_PAGE_SIZE - off;
	if (avail > 15)
		avail = 15;
	uint64_t gpage = gpa & ~0xfffull;
	if ((gpage >> 12) >= cpu->vm->nr_pages) {
		/* RAM that the generation map does not cover: never cache. */
		if (decode_one(cpu, mode, host, avail, &cpu->dc.scratch) == -EAGAIN)
			return fetch_crossing(cpu, lin, mode, host, avail, out);
		*out = &cpu->dc.scratch;
		return SOFT_OK;
	}
	if (dc->nr_insns >= SOFT_MAX_DECODED)
		soft_decode_flush(dc); /* no instruction runs now: safe */
	struct soft_code_page *p = page_get(cpu, gpage, mode);
	if (!p)
		return soft_error_exit(cpu, "soft CPU: out of memory for decoded code", gpa, 0);
	dc->fast.valid = true;
	dc->fast.cpl = cpu->cpl;
	dc->fast.mode = (uint8_t)mode;
	dc->fast.lin_page = lin & ~0xfffull;
	dc->fast.page = p;
	dc->fast.genp = &cpu->vm->page_gen[gpage >> 12];
	unsigned s = p->slot[off];
	if (s) {
		*out = &p->blocks[(s - 1) / SOFT_INSN_BLOCK][(s - 1) % SOFT_INSN_BLOCK];
		return SOFT_OK;
	}
	struct soft_insn *in = page_slot_new(p);
	if (!in)
		return soft_error_exit(cpu, "soft CPU: out of memory for decoded code", gpa, 0);
	if (decode_one(cpu, mode, host, avail, in) == -EAGAIN)
		return fetch_crossing(cpu, lin, mode, host, avail, out);
	p->slot[off] = ++p->nr_insns;
	dc->nr_insns++;
	*out = in;
	return SOFT_OK;
}

#else /* !HAVE_ZYDIS */

int soft_decode_init(struct soft_decode_cache *dc)
{
	memset(dc, 0, sizeof(*dc));
	return -ENOSYS;
}

void soft_decode_destroy(struct soft_decode_cache *dc)
{
}

void soft_decode_flush(struct soft_decode_cache *dc)
{
}

int soft_fetch(struct soft_cpu *cpu, const struct soft_insn **out)
{
	return soft_error_exit(cpu, "soft CPU: built without Zydis", 0, 0);
}

int soft_decode_bytes(struct soft_cpu *cpu, const uint8_t *buf, unsigned len,
		      struct soft_insn *out)
{
	return -ENOSYS;
}

#endif
