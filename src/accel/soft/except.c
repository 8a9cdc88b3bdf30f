/* Descriptors, segment loads and exception / interrupt delivery.
 *
 * Delivery follows Intel SDM Vol. 3A chapter 6: 64-bit IDT gates (§6.14.1),
 * stack switch to TSS.RSPn on a privilege change and to TSS.IST[n] when the
 * gate names one (§6.14.4, §6.14.5), error codes (§6.13), and the double-fault
 * rules of Table 6-5: a contributory exception during the delivery of another
 * contributory one, or a contributory one or #PF during #PF delivery, is a
 * #DF; any exception while delivering #DF is a triple fault, which stops the
 * vCPU with VCPU_EXIT_SHUTDOWN. Protected-mode gates (§6.12) and real-mode
 * IVT delivery (§20.1.4) serve guests outside long mode. */
#include <string.h>

#include "accel/soft/cpu.h"

void soft_desc_to_seg(uint64_t desc, uint16_t sel, struct x86_segment *s)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));
	s->base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24);
	s->type = (desc >> 40) & 0xf;
	s->s = (desc >> 44) & 1;
	s->dpl = (desc >> 45) & 3;
	s->present = (desc >> 47) & 1;
	s->avl = (desc >> 52) & 1;
	s->l = (desc >> 53) & 1;
	s->db = (desc >> 54) & 1;
	s->g = (desc >> 55) & 1;
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

int soft_read_desc(struct soft_cpu *cpu, uint16_t sel, uint64_t *desc, uint64_t *addr)
{
	uint64_t base;
	uint32_t limit;
	unsigned off = sel & ~7u;

	if (sel & 4) {
		if (cpu->seg[X86_LDTR].unusable || !cpu->seg[X86_LDTR].present)
			return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
		base = cpu->seg[X86_LDTR].base;
		limit = cpu->seg[X86_LDTR].limit;
	} else {
		base = cpu->gdt.base;
		limit = cpu->gdt.limit;
	}
	if (off + 7 > limit)
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	*addr = base + off;
	*desc = 0;
	return soft_sys_read(cpu, *addr, desc, 8);
}

void soft_set_cs(struct soft_cpu *cpu, const struct x86_segment *cs, unsigned cpl)
{
	cpu->seg[X86_CS] = *cs;
	cpu->seg[X86_CS].selector = (uint16_t)((cs->selector & ~3u) | cpl);
	cpu->cpl = (uint8_t)cpl;
}

void soft_mode_changed(struct soft_cpu *cpu)
{
	if ((cpu->efer & X86_EFER_LME) && (cpu->cr0 & X86_CR0_PG) && (cpu->cr4 & X86_CR4_PAE))
		cpu->efer |= X86_EFER_LMA;
	else
		cpu->efer &= ~X86_EFER_LMA;
}

/* MOV/POP to DS, ES, FS, GS, SS (SDM Vol. 2B "MOV—Move to/from Segment Registers"). */
int soft_load_seg(struct soft_cpu *cpu, unsigned seg, uint16_t sel)
{
	struct x86_segment *s = &cpu->seg[seg];
	unsigned rpl = sel & 3, cpl = cpu->cpl;
	uint64_t desc, addr;
	struct x86_segment n;
	int rc;

	if (!(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & FL_VM)) {
		s->selector = sel;
		s->base = (uint64_t)sel << 4;
		return SOFT_OK;
	}
	if ((sel & ~3u) == 0) {
		/* A null SS is allowed only in 64-bit mode below CPL 3 with RPL = CPL. */
		if (seg == X86_SS && !(soft_64bit(cpu) && cpl < 3 && rpl == cpl))
			return soft_gp0(cpu);
		uint64_t keep_base = (seg == X86_FS || seg == X86_GS) ? 0 : s->base;
		memset(s, 0, sizeof(*s));
		s->selector = sel;
		s->base = keep_base;
		s->unusable = seg != X86_SS;
		s->dpl = seg == X86_SS ? (uint8_t)cpl : 0;
		s->present = seg == X86_SS;
		s->s = 1;
		s->type = 3;
		s->db = 1;
		return SOFT_OK;
	}
	rc = soft_read_desc(cpu, sel, &desc, &addr);
	if (rc)
		return rc;
	soft_desc_to_seg(desc, sel, &n);
	bool code = n.type & 8;
	if (!n.s)
		return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
	if (seg == X86_SS) {
		if (rpl != cpl || n.dpl != cpl || code || !(n.type & 2))
			return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
		if (!n.present)
			return soft_raise(cpu, EXC_SS, true, sel & 0xfffc);
	} else {
		if (code && !(n.type & 2))
			return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
		bool conforming_code = code && (n.type & 4);
		if (!conforming_code && (rpl > n.dpl || cpl > n.dpl))
			return soft_raise(cpu, EXC_GP, true, sel & 0xfffc);
		if (!n.present)
			return soft_raise(cpu, EXC_NP, true, sel & 0xfffc);
	}
	if (!(n.type & 1)) {
		/* The CPU sets the accessed bit in the descriptor (§3.4.5.1). */
		desc |= 1ull << 40;
		rc = soft_sys_write(cpu, addr, &desc, 8);
		if (rc)
			return rc;
		n.type |= 1;
	}
	*s = n;
	return SOFT_OK;
}

static bool contributory(unsigned v)
{
	return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

/* Real-address mode: the IVT has 4-byte entries, the frame is FLAGS, CS, IP
 * (SDM Vol. 3A §20.1.4). */
static int deliver_real(struct soft_cpu *cpu, unsigned vector, uint64_t return_rip)
{
	uint32_t ent = 0;
	uint16_t frame[3];
	uint64_t sp;
	int rc;

	if (vector * 4 + 3 > cpu->idt.limit)
		return soft_gp0(cpu);
	rc = soft_lin_read(cpu, cpu->idt.base + vector * 4, &ent, 4, false);
	if (rc)
		return rc;
	frame[0] = (uint16_t)return_rip;
	frame[1] = cpu->seg[X86_CS].selector;
	frame[2] = (uint16_t)cpu->rflags;
	sp = (cpu->gpr[X86_RSP] - 6) & 0xffff;
	rc = soft_mem_write(cpu, X86_SS, sp, frame, 6);
	if (rc)
		return rc;
	soft_reg_write(cpu, X86_RSP, 2, sp);
	cpu->rflags &= ~(FL_IF | FL_TF | FL_AC | FL_RF);
	cpu->seg[X86_CS].selector = (uint16_t)(ent >> 16);
	cpu->seg[X86_CS].base = (ent >> 16) << 4;
	cpu->rip = ent & 0xffff;
	return SOFT_OK;
}

/* One attempt at delivery in IA-32e mode; SOFT_FAULT if it raised another. */
static int deliver_long(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
			bool soft_int, uint64_t return_rip)
{
	unsigned ext = soft_int ? 0 : 1, cpl = cpu->cpl;
	uint32_t idt_err = vector * 8 + 2 + ext;
	uint64_t gate[2], desc, daddr;
	int rc;

	if (vector * 16 + 15 > cpu->idt.limit)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	rc = soft_sys_read(cpu, cpu->idt.base + vector * 16, gate, 16);
	if (rc)
		return rc;
	unsigned type = (gate[0] >> 40) & 0xf, dpl = (gate[0] >> 45) & 3;
	if (type != 0xe && type != 0xf)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	if (soft_int && dpl < cpl)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	if (!((gate[0] >> 47) & 1))
		return soft_raise(cpu, EXC_NP, true, idt_err);
	uint16_t sel = (uint16_t)(gate[0] >> 16);
	uint64_t target = (gate[0] & 0xffff) | ((gate[0] >> 32) & 0xffff0000ull) | (gate[1] << 32);
	unsigned ist = (gate[0] >> 32) & 7;

	if ((sel & ~3u) == 0)
		return soft_raise(cpu, EXC_GP, true, ext);
	rc = soft_read_desc(cpu, sel, &desc, &daddr);
	if (rc) {
		cpu->fault.error |= ext;
		return rc;
	}
	struct x86_segment cs;
	soft_desc_to_seg(desc, sel, &cs);
	if (!cs.s || !(cs.type & 8) || !cs.l || cs.db || cs.dpl > cpl)
		return soft_raise(cpu, EXC_GP, true, (sel & 0xfffc) | ext);
	if (!cs.present)
		return soft_raise(cpu, EXC_NP, true, (sel & 0xfffc) | ext);
	unsigned new_cpl = (cs.type & 4) ? cpl : cs.dpl;

	uint64_t rsp = cpu->gpr[X86_RSP];
	if (new_cpl < cpl || ist) {
		/* 64-bit TSS: RSP0-2 at 4, IST1-7 at 0x24 (SDM Vol. 3A §8.7). */
		unsigned off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
		const struct x86_segment *tr = &cpu->seg[X86_TR];
		if (tr->unusable || !tr->present || off + 7 > tr->limit)
			return soft_raise(cpu, EXC_TS, true, (tr->selector & 0xfffc) | ext);
		rc = soft_sys_read(cpu, tr->base + off, &rsp, 8);
		if (rc)
			return rc;
	}
	rsp &= ~0xfull;

	uint64_t frame[6];
	unsigned n = 0;
	if (has_error)
		frame[n++] = error;
	frame[n++] = return_rip;
	frame[n++] = cpu->seg[X86_CS].selector;
	frame[n++] = cpu->rflags;
	frame[n++] = cpu->gpr[X86_RSP];
	frame[n++] = cpu->seg[X86_SS].selector;
	uint64_t top = rsp - n * 8;
	if (!soft_canonical(top) || !soft_canonical(rsp - 1))
		return soft_raise(cpu, EXC_SS, true, ext);
	rc = soft_lin_write(cpu, top, frame, n * 8, new_cpl == 3);
	if (rc)
		return rc;

	if (new_cpl < cpl) {
		/* SS becomes a null selector with RPL = new CPL (§6.14.4). */
		struct x86_segment *ss = &cpu->seg[X86_SS];
		ss->selector = (uint16_t)new_cpl;
		ss->dpl = (uint8_t)new_cpl;
	}
	cpu->gpr[X86_RSP] = top;
	cpu->rflags &= ~(FL_TF | FL_NT | FL_RF | FL_VM);
	if (type == 0xe)
		cpu->rflags &= ~FL_IF;
	soft_set_cs(cpu, &cs, new_cpl);
	cpu->seg[X86_SS].dpl = (uint8_t)new_cpl;
	cpu->rip = target;
	return SOFT_OK;
}

/* Protected mode (SDM Vol. 3A §6.12): 8-byte interrupt and trap gates (16-
 * or 32-bit), a stack switch through the TSS on a privilege change. Task
 * gates and virtual-8086 mode are not implemented (an error exit says so). */
static int deliver_prot(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
			bool soft_int, uint64_t return_rip)
{
	unsigned ext = soft_int ? 0 : 1, cpl = cpu->cpl;
	uint32_t idt_err = vector * 8 + 2 + ext;
	uint64_t gate, desc, daddr;
	int rc;

	if (cpu->rflags & FL_VM)
		return soft_error_exit(cpu, "soft CPU: virtual-8086 mode not implemented", vector,
				       0);
	if (vector * 8 + 7 > cpu->idt.limit)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	rc = soft_sys_read(cpu, cpu->idt.base + vector * 8, &gate, 8);
	if (rc)
		return rc;
	unsigned type = (gate >> 40) & 0x1f, dpl = (gate >> 45) & 3; /* type with S */
	if (type == 0x5)
		return soft_error_exit(cpu, "soft CPU: task gates not implemented", vector, 0);
	if (type != 0x6 && type != 0x7 && type != 0xe && type != 0xf)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	if (soft_int && dpl < cpl)
		return soft_raise(cpu, EXC_GP, true, idt_err);
	if (!((gate >> 47) & 1))
		return soft_raise(cpu, EXC_NP, true, idt_err);
	bool g32 = type & 8;
	unsigned w = g32 ? 4 : 2;
	uint16_t sel = (uint16_t)(gate >> 16);
	uint64_t target = (gate & 0xffff) | (g32 ? ((gate >> 32) & 0xffff0000ull) : 0);

	if ((sel & ~3u) == 0)
		return soft_raise(cpu, EXC_GP, true, ext);
	rc = soft_read_desc(cpu, sel, &desc, &daddr);
	if (rc) {
		cpu->fault.error |= ext;
		return rc;
	}
	struct x86_segment cs, ss = cpu->seg[X86_SS];
	soft_desc_to_seg(desc, sel, &cs);
	if (!cs.s || !(cs.type & 8) || cs.dpl > cpl)
		return soft_raise(cpu, EXC_GP, true, (sel & 0xfffc) | ext);
	if (!cs.present)
		return soft_raise(cpu, EXC_NP, true, (sel & 0xfffc) | ext);
	unsigned new_cpl = (cs.type & 4) ? cpl : cs.dpl;
	if (target > cs.limit)
		return soft_raise(cpu, EXC_GP, true, ext);

	uint64_t sp = cpu->gpr[X86_RSP];
	uint32_t frame[6];
	unsigned n = 0;
	bool outer = new_cpl < cpl;
	if (outer) {
		/* 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n; 16-bit TSS: SPn at
		 * 2 + 4n, SSn at 4 + 4n (§8.2.1, §8.6). */
		const struct x86_segment *tr = &cpu->seg[X86_TR];
		bool tss32 = (tr->type & 8) != 0;
		unsigned off = tss32 ? 4 + 8 * new_cpl : 2 + 4 * new_cpl, sw = tss32 ? 4 : 2;
		uint32_t nsp = 0;
		uint16_t nss = 0;
		if (tr->unusable || !tr->present || off + sw + 1 + sw > tr->limit)
			return soft_raise(cpu, EXC_TS, true, (tr->selector & 0xfffc) | ext);
		rc = soft_sys_read(cpu, tr->base + off, &nsp, sw);
		if (!rc)
			rc = soft_sys_read(cpu, tr->base + off + sw, &nss, 2);
		if (rc)
			return rc;
		if ((nss & ~3u) == 0 || (nss & 3) != new_cpl)
			return soft_raise(cpu, EXC_TS, true, (nss & 0xfffc) | ext);
		rc = soft_read_desc(cpu, nss, &desc, &daddr);
		if (rc)
			return soft_raise(cpu, EXC_TS, true, (nss & 0xfffc) | ext);
		soft_desc_to_seg(desc, nss, &ss);
		if (!ss.s || (ss.type & 8) || !(ss.type & 2) || ss.dpl != new_cpl)
			return soft_raise(cpu, EXC_TS, true, (nss & 0xfffc) | ext);
		if (!ss.present)
			return soft_raise(cpu, EXC_SS, true, (nss & 0xfffc) | ext);
		frame[n++] = cpu->seg[X86_SS].selector;
		frame[n++] = (uint32_t)cpu->gpr[X86_RSP];
		sp = nsp;
	}
	frame[n++] = (uint32_t)cpu->rflags;
	frame[n++] = cpu->seg[X86_CS].selector;
	frame[n++] = (uint32_t)return_rip;
	if (has_error)
		frame[n++] = error;

	/* Lay the frame out downwards in gate-sized slots. */
	uint8_t buf[24];
	for (unsigned i = 0; i < n; i++)
		memcpy(buf + (n - 1 - i) * w, &frame[i], w);
	uint64_t smask = ss.db ? 0xffffffffull : 0xffffull;
	uint64_t top = (sp - n * w) & smask;
	if (top + n * w - 1 > ss.limit)
		return soft_raise(cpu, EXC_SS, true, ext);
	rc = soft_lin_write(cpu, (ss.base + top) & 0xffffffffull, buf, n * w, new_cpl == 3);
	if (rc)
		return rc;

	if (outer)
		cpu->seg[X86_SS] = ss;
	/* A 16-bit stack at the same level keeps the high half of ESP. */
	cpu->gpr[X86_RSP] = (outer || ss.db) ? top : ((cpu->gpr[X86_RSP] & ~smask) | top);
	cpu->rflags &= ~(FL_TF | FL_NT | FL_RF | FL_VM);
	if (!(type & 1))
		cpu->rflags &= ~FL_IF;
	soft_set_cs(cpu, &cs, new_cpl);
	cpu->rip = target;
	return SOFT_OK;
}

static int deliver_once(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
			bool soft_int, uint64_t return_rip)
{
	if (soft_long_mode(cpu))
		return deliver_long(cpu, vector, has_error, error, soft_int, return_rip);
	if (!(cpu->cr0 & X86_CR0_PE))
		return deliver_real(cpu, vector, return_rip);
	return deliver_prot(cpu, vector, has_error, error, soft_int, return_rip);
}

static int triple_fault(struct soft_cpu *cpu)
{
	memset(&cpu->exit, 0, sizeof(cpu->exit));
	cpu->exit.kind = VCPU_EXIT_SHUTDOWN;
	return SOFT_EXIT;
}

int soft_deliver(struct soft_cpu *cpu, unsigned vector, bool has_error, uint32_t error,
		 bool soft_int, uint64_t return_rip)
{
	cpu->delivered = true;
	for (int tries = 0; tries < 8; tries++) {
		cpu->events_delivered++;
		if (cpu->trace)
			soft_trace_event(cpu, vector, has_error, error, soft_int);
		int rc = deliver_once(cpu, vector, has_error, error, soft_int, return_rip);
		if (rc != SOFT_FAULT)
			return rc;
		unsigned second = cpu->fault.vector;
		if (vector == EXC_DF)
			return triple_fault(cpu);
		if ((contributory(vector) && contributory(second)) ||
		    (vector == EXC_PF && (second == EXC_PF || contributory(second)))) {
			vector = EXC_DF;
			has_error = true;
			error = 0;
		} else {
			/* Benign combinations are handled serially: deliver the
			 * second exception instead. */
			vector = second;
			has_error = cpu->fault.has_error;
			error = cpu->fault.error;
		}
		soft_int = false;
		return_rip = cpu->rip;
	}
	return triple_fault(cpu);
}
