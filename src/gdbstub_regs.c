/* The register file and target description of isola's gdb stub (see
 * gdbstub_regs.h). Register numbers follow the order of the <reg> elements
 * in the document below, as gdb numbers them. */
#include <errno.h>
#include <string.h>

#include "gdbstub_regs.h"

enum gdb_reg_kind { RK_GPR, RK_RIP, RK_EFLAGS, RK_SEG, RK_ST, RK_FPCTL, RK_XMM, RK_MXCSR,
		    RK_SEGBASE, RK_CR };

struct gdb_reg {
	const char *name;
	uint8_t kind, idx, bytes;
};

/* gdb's amd64 order: rax rbx rcx rdx rsi rdi rbp rsp, r8..r15 (isola keeps
 * them in ModRM order: X86_R*). */
static const struct gdb_reg regs[] = {
	{ "rax", RK_GPR, X86_RAX, 8 }, { "rbx", RK_GPR, X86_RBX, 8 },
	{ "rcx", RK_GPR, X86_RCX, 8 }, { "rdx", RK_GPR, X86_RDX, 8 },
	{ "rsi", RK_GPR, X86_RSI, 8 }, { "rdi", RK_GPR, X86_RDI, 8 },
	{ "rbp", RK_GPR, X86_RBP, 8 }, { "rsp", RK_GPR, X86_RSP, 8 },
	{ "r8", RK_GPR, X86_R8, 8 },   { "r9", RK_GPR, X86_R9, 8 },
	{ "r10", RK_GPR, X86_R10, 8 }, { "r11", RK_GPR, X86_R11, 8 },
	{ "r12", RK_GPR, X86_R12, 8 }, { "r13", RK_GPR, X86_R13, 8 },
	{ "r14", RK_GPR, X86_R14, 8 }, { "r15", RK_GPR, X86_R15, 8 },
	{ "rip", RK_RIP, 0, 8 },       { "eflags", RK_EFLAGS, 0, 4 },
	{ "cs", RK_SEG, X86_CS, 4 },   { "ss", RK_SEG, X86_SS, 4 },
	{ "ds", RK_SEG, X86_DS, 4 },   { "es", RK_SEG, X86_ES, 4 },
	{ "fs", RK_SEG, X86_FS, 4 },   { "gs", RK_SEG, X86_GS, 4 },
	{ "st0", RK_ST, 0, 10 }, { "st1", RK_ST, 1, 10 }, { "st2", RK_ST, 2, 10 },
	{ "st3", RK_ST, 3, 10 }, { "st4", RK_ST, 4, 10 }, { "st5", RK_ST, 5, 10 },
	{ "st6", RK_ST, 6, 10 }, { "st7", RK_ST, 7, 10 },
	{ "fctrl", RK_FPCTL, 0, 4 }, { "fstat", RK_FPCTL, 1, 4 }, { "ftag", RK_FPCTL, 2, 4 },
	{ "fiseg", RK_FPCTL, 3, 4 }, { "fioff", RK_FPCTL, 4, 4 }, { "foseg", RK_FPCTL, 5, 4 },
	{ "fooff", RK_FPCTL, 6, 4 }, { "fop", RK_FPCTL, 7, 4 },
	{ "xmm0", RK_XMM, 0, 16 },   { "xmm1", RK_XMM, 1, 16 },   { "xmm2", RK_XMM, 2, 16 },
	{ "xmm3", RK_XMM, 3, 16 },   { "xmm4", RK_XMM, 4, 16 },   { "xmm5", RK_XMM, 5, 16 },
	{ "xmm6", RK_XMM, 6, 16 },   { "xmm7", RK_XMM, 7, 16 },   { "xmm8", RK_XMM, 8, 16 },
	{ "xmm9", RK_XMM, 9, 16 },   { "xmm10", RK_XMM, 10, 16 }, { "xmm11", RK_XMM, 11, 16 },
	{ "xmm12", RK_XMM, 12, 16 }, { "xmm13", RK_XMM, 13, 16 }, { "xmm14", RK_XMM, 14, 16 },
	{ "xmm15", RK_XMM, 15, 16 },
	{ "mxcsr", RK_MXCSR, 0, 4 },
	{ "fs_base", RK_SEGBASE, X86_FS, 8 }, { "gs_base", RK_SEGBASE, X86_GS, 8 },
	{ "cr0", RK_CR, 0, 8 }, { "cr2", RK_CR, 2, 8 }, { "cr3", RK_CR, 3, 8 },
	{ "cr4", RK_CR, 4, 8 }, { "cr8", RK_CR, 8, 8 }, { "efer", RK_CR, 9, 8 },
};

const unsigned gdb_nr_regs = sizeof(regs) / sizeof(regs[0]);

size_t gdb_regs_size(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < gdb_nr_regs; i++)
		n += regs[i].bytes;
	return n;
}

unsigned gdb_reg_size(unsigned n)
{
	return n < gdb_nr_regs ? regs[n].bytes : 0;
}

static uint64_t *cr_field(struct x86_sregs *s, unsigned idx)
{
	switch (idx) {
	case 0: return &s->cr0;
	case 2: return &s->cr2;
	case 3: return &s->cr3;
	case 4: return &s->cr4;
	case 8: return &s->cr8;
	default: return &s->efer;
	}
}

/* The full x87 tag word from FXSAVE's abridged one (SDM Vol. 1 §10.5.1.1):
 * 11 empty; else 00 valid, 01 zero, 10 special, from the register itself.
 * Tags are by physical register; st[] is in stack order from TOP. */
static uint16_t full_tag(const struct x86_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint16_t tw = 0;
	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned tag = 3;
		if (f->ftw & (1u << phys)) {
			const uint8_t *r = f->st[(phys - top) & 7];
			uint64_t mant;
			memcpy(&mant, r, 8);
			unsigned exp = (unsigned)(r[8] | (r[9] << 8)) & 0x7fff;
			if (exp == 0x7fff)
				tag = 2;
			else if (exp == 0)
				tag = mant ? 2 : 1;
			else
				tag = (mant >> 63) ? 0 : 2;
		}
		tw |= (uint16_t)(tag << (2 * phys));
	}
	return tw;
}

static uint8_t abridged_tag(uint16_t tw)
{
	uint8_t a = 0;
	for (unsigned phys = 0; phys < 8; phys++)
		if (((tw >> (2 * phys)) & 3) != 3)
			a |= (uint8_t)(1u << phys);
	return a;
}

static uint32_t fpctl_get(const struct x86_fpu *f, unsigned idx)
{
	switch (idx) {
	case 0: return f->fcw;
	case 1: return f->fsw;
	case 2: return full_tag(f);
	case 3: return (uint32_t)(f->fip >> 32);
	case 4: return (uint32_t)f->fip;
	case 5: return (uint32_t)(f->fdp >> 32);
	case 6: return (uint32_t)f->fdp;
	default: return f->fop;
	}
}

static void fpctl_set(struct x86_fpu *f, unsigned idx, uint32_t v)
{
	switch (idx) {
	case 0: f->fcw = (uint16_t)v; break;
	case 1: f->fsw = (uint16_t)v; break;
	case 2: f->ftw = abridged_tag((uint16_t)v); break;
	case 3: f->fip = (f->fip & 0xffffffffull) | (uint64_t)v << 32; break;
	case 4: f->fip = (f->fip & ~0xffffffffull) | v; break;
	case 5: f->fdp = (f->fdp & 0xffffffffull) | (uint64_t)v << 32; break;
	case 6: f->fdp = (f->fdp & ~0xffffffffull) | v; break;
	default: f->fop = (uint16_t)(v & 0x7ff); break;
	}
}

void gdb_reg_get(const struct gdb_cpu_state *st, unsigned n, uint8_t *out)
{
	const struct gdb_reg *g = &regs[n];
	uint64_t v = 0;
	switch (g->kind) {
	case RK_GPR: v = st->r.gpr[g->idx]; break;
	case RK_RIP: v = st->r.rip; break;
	case RK_EFLAGS: v = st->r.rflags; break;
	case RK_SEG: v = st->s.seg[g->idx].selector; break;
	case RK_ST: memcpy(out, st->f.st[g->idx], 10); return;
	case RK_FPCTL: v = fpctl_get(&st->f, g->idx); break;
	case RK_XMM: memcpy(out, st->f.xmm[g->idx], 16); return;
	case RK_MXCSR: v = st->f.mxcsr; break;
	case RK_SEGBASE: v = st->s.seg[g->idx].base; break;
	case RK_CR: v = *cr_field((struct x86_sregs *)&st->s, g->idx); break;
	}
	for (unsigned i = 0; i < g->bytes; i++) /* x86 is little-endian */
		out[i] = (uint8_t)(v >> (8 * i));
}

int gdb_reg_set(struct gdb_cpu_state *st, unsigned n, const uint8_t *in)
{
	if (n >= gdb_nr_regs)
		return -ENOENT;
	const struct gdb_reg *g = &regs[n];
	uint64_t v = 0;
	for (unsigned i = 0; i < g->bytes && i < 8; i++)
		v |= (uint64_t)in[i] << (8 * i);
	switch (g->kind) {
	case RK_GPR: st->r.gpr[g->idx] = v; return GDB_DIRTY_REGS;
	case RK_RIP: st->r.rip = v; return GDB_DIRTY_REGS;
	case RK_EFLAGS: st->r.rflags = (st->r.rflags & ~0xffffffffull) | v; return GDB_DIRTY_REGS;
	case RK_SEG:
		/* A 'G' packet writes every register back: the same selector is
		 * fine, another one would need a descriptor load. */
		return (v & 0xffff) == st->s.seg[g->idx].selector ? 0 : -EINVAL;
	case RK_ST: memcpy(st->f.st[g->idx], in, 10); return GDB_DIRTY_FPU;
	case RK_FPCTL: fpctl_set(&st->f, g->idx, (uint32_t)v); return GDB_DIRTY_FPU;
	case RK_XMM: memcpy(st->f.xmm[g->idx], in, 16); return GDB_DIRTY_FPU;
	case RK_MXCSR: st->f.mxcsr = (uint32_t)v; return GDB_DIRTY_FPU;
	case RK_SEGBASE: st->s.seg[g->idx].base = v; return GDB_DIRTY_SREGS;
	case RK_CR: *cr_field(&st->s, g->idx) = v; return GDB_DIRTY_SREGS;
	}
	return -ENOENT;
}

/* Register types: gdb predefines int32/int64/code_ptr/data_ptr/i387_ext and
 * the like; the flags and vector types are declared here. */
static const char target_xml[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<target version=\"1.0\">\n"
	"<architecture>i386:x86-64</architecture>\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"<flags id=\"x86_eflags\" size=\"4\">\n"
	"<field name=\"CF\" start=\"0\" end=\"0\"/>\n"
	"<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>\n"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>\n"
	"<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>\n"
	"<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>\n"
	"<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>\n"
	"<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>\n"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
	"<field name=\"ID\" start=\"21\" end=\"21\"/>\n"
	"</flags>\n"
	"<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"x86_eflags\"/>\n"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.sse\">\n"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
	"<union id=\"vec128\">\n"
	"<field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>\n"
	"<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>\n"
	"<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>\n"
	"<field name=\"uint128\" type=\"uint128\"/>\n"
	"</union>\n"
	"<flags id=\"x86_mxcsr\" size=\"4\">\n"
	"<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>\n"
	"<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>\n"
	"<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>\n"
	"<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>\n"
	"<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>\n"
	"<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>\n"
	"<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>\n"
	"</flags>\n"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"x86_mxcsr\" group=\"vector\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.segments\">\n"
	"<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"</feature>\n"
	"<feature name=\"org.isola.x86.sys\">\n"
	"<reg name=\"cr0\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr2\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr3\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr4\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"cr8\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"<reg name=\"efer\" bitsize=\"64\" type=\"int64\" group=\"system\"/>\n"
	"</feature>\n"
	"</target>\n";

const char *gdb_target_xml(void)
{
	return target_xml;
}
