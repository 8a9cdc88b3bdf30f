/* x87 environment and state in memory: FNSTENV, FLDENV, FNSAVE, FRSTOR
 * (SDM Vol. 1 §8.1.10, Figures 8-9 to 8-12; Vol. 2 instruction pages), and
 * the full tag word they carry (§8.1.7).
 *
 * Layouts: the protected-mode ones in protected mode and in 64-bit mode
 * (which has no wider format: FIP and FDP are stored truncated to 32 bits),
 * the real-mode ones in real and virtual-8086 mode; 32-bit operand size
 * gives the 28-byte environment, 16-bit (a 0x66 prefix) the 14-byte one.
 * Reserved halves of the 32-bit format are stored as 0xffff, as hardware
 * does. FNSAVE/FRSTOR add the eight registers ST(0)..ST(7), 10 bytes each,
 * after the environment. FLDENV/FRSTOR keep only "empty or not" from the
 * tag word (the abridged tag): the other tag values follow from the
 * registers' contents, which soft_x87_full_tag() recomputes.
 *
 * The registers are kept in stack order (cpu.h): whatever changes TOP here
 * (FNINIT, FNSAVE, FLDENV) rotates them, so that the physical registers
 * keep their contents, as on hardware. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/x87.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* Tag of one 80-bit register: 0 valid, 1 zero, 2 special (NaN, infinity,
 * denormal, unsupported formats). */
static unsigned reg_tag(const uint8_t *r)
{
	uint64_t mant;
	uint16_t se;
	memcpy(&mant, r, 8);
	memcpy(&se, r + 8, 2);
	unsigned exp = se & 0x7fff;
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return mant ? 2 : 1;
	return (mant >> 63) ? 0 : 2; /* integer bit clear: unnormal */
}

uint16_t soft_x87_full_tag(const struct soft_cpu *cpu)
{
	unsigned top = (cpu->fsw >> FSW_TOP_SHIFT) & 7;
	uint16_t t = 0;
	for (unsigned p = 0; p < 8; p++) {
		unsigned tag = 3;
		if (cpu->ftw & (1u << p))
			tag = reg_tag(cpu->st[(p - top) & 7]);
		t |= (uint16_t)(tag << (2 * p));
	}
	return t;
}

uint8_t soft_x87_abridge_tag(uint16_t ftw)
{
	uint8_t a = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((ftw >> (2 * p)) & 3) != 3)
			a |= (uint8_t)(1u << p);
	return a;
}

void soft_x87_set_fsw(struct soft_cpu *cpu, uint16_t fsw)
{
	unsigned old = (cpu->fsw >> FSW_TOP_SHIFT) & 7, top = (fsw >> FSW_TOP_SHIFT) & 7;
	uint8_t st[8][10];
	memcpy(st, cpu->st, sizeof(st));
	for (unsigned i = 0; i < 8; i++)
		memcpy(cpu->st[i], st[(top + i - old) & 7], 10);
	cpu->fsw = fsw;
}

void soft_x87_init(struct soft_cpu *cpu)
{
	soft_x87_set_fsw(cpu, 0);
	cpu->fcw = 0x37f;
	cpu->ftw = 0;
	cpu->fip = cpu->fdp = 0;
	cpu->fop = cpu->fcs = cpu->fds = 0;
}

static bool real_format(const struct soft_cpu *cpu)
{
	return !(cpu->cr0 & X86_CR0_PE) || (cpu->rflags & FL_VM);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static uint32_t get16(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | get16(p + 2) << 16;
}

/* Write the environment; returns its size (14 or 28). */
static unsigned env_store(const struct soft_cpu *cpu, bool wide, uint8_t *e)
{
	uint16_t tag = soft_x87_full_tag(cpu);
	uint32_t fip = (uint32_t)cpu->fip, fdp = (uint32_t)cpu->fdp;
	bool real = real_format(cpu);
	if (!wide) {
		put16(e + 0, cpu->fcw);
		put16(e + 2, cpu->fsw);
		put16(e + 4, tag);
		if (real) { /* Figure 8-12 */
			uint32_t ip = (fip + (uint32_t)cpu->fcs * 16) & 0xfffff;
			uint32_t dp = (fdp + (uint32_t)cpu->fds * 16) & 0xfffff;
			put16(e + 6, ip);
			put16(e + 8, (ip >> 16) << 12 | (cpu->fop & 0x7ff));
			put16(e + 10, dp);
			put16(e + 12, (dp >> 16) << 12);
		} else { /* Figure 8-11 */
			put16(e + 6, fip);
			put16(e + 8, cpu->fcs);
			put16(e + 10, fdp);
			put16(e + 12, cpu->fds);
		}
		return 14;
	}
	put32(e + 0, 0xffff0000u | cpu->fcw);
	put32(e + 4, 0xffff0000u | cpu->fsw);
	put32(e + 8, 0xffff0000u | tag);
	if (real) { /* Figure 8-10 */
		uint32_t ip = fip + (uint32_t)cpu->fcs * 16, dp = fdp + (uint32_t)cpu->fds * 16;
		put32(e + 12, 0xffff0000u | (ip & 0xffff));
		put32(e + 16, (ip >> 16) << 12 | (cpu->fop & 0x7ffu));
		put32(e + 20, 0xffff0000u | (dp & 0xffff));
		put32(e + 24, (dp >> 16) << 12);
	} else { /* Figure 8-9 */
		put32(e + 12, fip);
		put32(e + 16, cpu->fcs | (uint32_t)(cpu->fop & 0x7ff) << 16);
		put32(e + 20, fdp);
		put32(e + 24, 0xffff0000u | cpu->fds);
	}
	return 28;
}

/* Load the environment into cpu. */
static void env_load(struct soft_cpu *cpu, bool wide, const uint8_t *e)
{
	bool real = real_format(cpu);
	uint16_t tag;
	cpu->fcw = (uint16_t)get16(e);
	soft_x87_set_fsw(cpu, (uint16_t)get16(e + (wide ? 4 : 2)));
	tag = (uint16_t)get16(e + (wide ? 8 : 4));
	cpu->ftw = soft_x87_abridge_tag(tag);
	if (!wide && real) {
		cpu->fip = get16(e + 6) | (get16(e + 8) >> 12) << 16;
		cpu->fop = (uint16_t)(get16(e + 8) & 0x7ff);
		cpu->fdp = get16(e + 10) | (get16(e + 12) >> 12) << 16;
		cpu->fcs = cpu->fds = 0;
	} else if (!wide) { /* no FOP in this format: it reads 0 (measured) */
		cpu->fop = 0;
		cpu->fip = get16(e + 6);
		cpu->fcs = (uint16_t)get16(e + 8);
		cpu->fdp = get16(e + 10);
		cpu->fds = (uint16_t)get16(e + 12);
	} else if (real) {
		cpu->fip = get16(e + 12) | ((get32(e + 16) >> 12) & 0xffff) << 16;
		cpu->fop = (uint16_t)(get32(e + 16) & 0x7ff);
		cpu->fdp = get16(e + 20) | ((get32(e + 24) >> 12) & 0xffff) << 16;
		cpu->fcs = cpu->fds = 0;
	} else {
		cpu->fip = get32(e + 12);
		cpu->fcs = (uint16_t)get16(e + 16);
		cpu->fop = (uint16_t)((get32(e + 16) >> 16) & 0x7ff);
		cpu->fdp = get32(e + 20);
		cpu->fds = (uint16_t)get16(e + 24);
	}
}

static int exec_x87_env(struct soft_cpu *cpu, const struct soft_insn *in)
{
	const struct soft_operand *op = &in->op[0];
	bool wide = in->osize != 2;
	bool save = in->mnemonic == ZYDIS_MNEMONIC_FNSAVE || in->mnemonic == ZYDIS_MNEMONIC_FRSTOR;
	bool store = in->mnemonic == ZYDIS_MNEMONIC_FNSTENV ||
		     in->mnemonic == ZYDIS_MNEMONIC_FNSAVE;
	unsigned len = (wide ? 28 : 14) + (save ? 80 : 0);
	uint8_t buf[108];
	uint64_t lin;
	int rc;

	if (op->kind != SOP_MEM)
		return soft_ud(cpu);
	rc = store ? soft_x87_nm(cpu) : soft_x87_wait_check(cpu);
	if (!rc)
		rc = soft_seg_linear(cpu, op->seg, soft_op_ea(cpu, in, op), len, store, &lin);
	if (rc)
		return rc;
	if (store) {
		unsigned n = env_store(cpu, wide, buf);
		if (save)
			for (int i = 0; i < 8; i++)
				memcpy(buf + n + 10 * i, cpu->st[i], 10);
		rc = soft_lin_write(cpu, lin, buf, len, cpu->cpl == 3);
		if (rc)
			return rc;
		if (save) /* then FNINIT */
			soft_x87_init(cpu);
		else
			cpu->fcw |= 0x3f; /* FNSTENV masks every exception */
		soft_x87_loaded(cpu);
		return SOFT_OK;
	}
	rc = soft_lin_read(cpu, lin, buf, len, cpu->cpl == 3);
	if (rc)
		return rc;
	env_load(cpu, wide, buf);
	if (save)
		for (int i = 0; i < 8; i++)
			memcpy(cpu->st[i], buf + (wide ? 28 : 14) + 10 * i, 10);
	soft_x87_loaded(cpu);
	return SOFT_OK;
}

soft_handler soft_exec_x87_env_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_FNSTENV: case ZYDIS_MNEMONIC_FLDENV: case ZYDIS_MNEMONIC_FNSAVE:
	case ZYDIS_MNEMONIC_FRSTOR:
		return exec_x87_env;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
