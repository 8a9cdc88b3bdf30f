/* x87 arithmetic, loads, stores, compares and transcendentals, run on the
 * host's own x87 unit (SDM Vol. 1 ch. 8; Vol. 2 instruction pages).
 *
 * The host is an x86-64 CPU, so the x87 semantics the guest needs — the
 * register stack and its tags, stack overflow and underflow (#IS: IE + SF,
 * C1), C0-C3, precision and rounding control, the masked responses and the
 * unmasked ones (bias-adjusted results, no store, no pop), NaN propagation,
 * integer indefinite, FPREM's partial remainders, FXAM's classes — are
 * hardware's by construction, as exec_sse_fp.c does for SSE: the guest's
 * x87 state is loaded into the host's x87 unit (FRSTOR), the very
 * instruction executed from a stub (below), the result saved back (FNSAVE,
 * which also leaves the host's x87 empty, as it was) and the host's control
 * word restored. Results are therefore those of the host CPU: on an
 * AMD host the transcendentals (FSIN, FPATAN, F2XM1...) can differ from an
 * Intel CPU's in the last bits, the documented accuracy of either vendor.
 *
 * The stubs: one per register form (escape byte D8-DF, ModRM C0-FF) and
 * one per memory form (escape byte, ModRM.reg, with the operand at [rdi]),
 * each "escape, ModRM, RET". Only the encodings the SDM documents run (the
 * tables below); the reserved aliases (FSTP1, FCOM2, FXCH4, FFREEP, FENI...)
 * are #UD here. A memory operand is read from the guest into a host buffer
 * first (faults come before any change), a store goes to the guest after
 * the host ran it and before any register state is committed.
 *
 * The host must never take #MF itself: an instruction runs only when no
 * unmasked exception is pending in the guest's state (else the guest gets
 * #MF first, x87.h), ES and B are cleared in the image the host loads, and
 * after the stub only the non-waiting FNSAVE runs before the host's x87 is
 * initialised again (FLDCW then finds nothing pending). An unmasked exception the
 * instruction raised stays pending in the guest's FSW for its next waiting
 * instruction, as on hardware.
 *
 * Memory stores with an unmasked IE/DE/ZE/OE/UE leave memory alone (SDM
 * Vol. 1 §4.9.2, §8.5): hardware wrote nothing to the host buffer either.
 *
 * Control instructions (FNINIT, FNCLEX, FNSTCW, FNSTSW, FWAIT) are in
 * exec_x87.c, the environment ones in exec_x87_env.c. FLDCW runs here (its
 * effect on a pending exception's ES is hardware's) but, being a control
 * instruction, leaves FIP/FOP/FDP alone. */
#include <string.h>

#include "accel/soft/cpu.h"
#include "accel/soft/x87.h"

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>

/* soft_x87_stub_reg[(esc * 64 + (modrm & 63)) * 4], esc = escape byte - 0xd8;
 * soft_x87_stub_mem[(esc * 8 + reg) * 4]. */
__asm__(".pushsection .text.soft_x87_stubs,\"ax\",@progbits\n"
	".balign 16\n"
	".globl soft_x87_stub_reg\n"
	".hidden soft_x87_stub_reg\n"
	"soft_x87_stub_reg:\n"
	".set .Lx87_i, 0\n"
	".rept 512\n"
	".byte 0xd8 + (.Lx87_i >> 6), 0xc0 + (.Lx87_i & 63), 0xc3, 0xcc\n"
	".set .Lx87_i, .Lx87_i + 1\n"
	".endr\n"
	".globl soft_x87_stub_mem\n"
	".hidden soft_x87_stub_mem\n"
	"soft_x87_stub_mem:\n"
	".set .Lx87_j, 0\n"
	".rept 64\n"
	".byte 0xd8 + (.Lx87_j >> 3), ((.Lx87_j & 7) << 3) | 7, 0xc3, 0xcc\n"
	".set .Lx87_j, .Lx87_j + 1\n"
	".endr\n"
	".popsection\n");
extern const uint8_t soft_x87_stub_reg[512 * 4] __attribute__((visibility("hidden")));
extern const uint8_t soft_x87_stub_mem[64 * 4] __attribute__((visibility("hidden")));

/* Register forms that run here, per escape byte: bit n is ModRM 0xc0 + n
 * (SDM Vol. 2D Appendix A.4.2, Tables ). */
#define B(lo, hi) ((~0ull >> (63 - (hi))) & (~0ull << (lo)))
static const uint64_t reg_forms[8] = {
	/* D8: FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR ST(0), ST(i) */
	B(0, 63),
	/* D9: FLD, FXCH, FNOP; FCHS FABS; FTST FXAM; FLD1..FLDZ; F2XM1..FCOS */
	B(0, 16) | B(32, 33) | B(36, 37) | B(40, 46) | B(48, 63),
	/* DA: FCMOVB/E/BE/U; FUCOMPP */
	B(0, 31) | B(41, 41),
	/* DB: FCMOVNB/NE/NBE/NU; FUCOMI; FCOMI (FNCLEX, FNINIT: exec_x87.c) */
	B(0, 31) | B(40, 55),
	/* DC: FADD FMUL ST(i), ST(0); FSUBR FSUB FDIVR FDIV ST(i), ST(0) */
	B(0, 15) | B(32, 63),
	/* DD: FFREE; FST FSTP FUCOM FUCOMP ST(i) */
	B(0, 7) | B(16, 47),
	/* DE: FADDP FMULP; FCOMPP; FSUBRP FSUBP FDIVRP FDIVP */
	B(0, 15) | B(25, 25) | B(32, 63),
	/* DF: FUCOMIP FCOMIP (FNSTSW AX: exec_x87.c) */
	B(40, 55),
};
#undef B

/* Memory forms that run here (bit r: ModRM.reg = r), those that store, and
 * the operand sizes. FLDENV, FNSTENV, FNSTCW, FRSTOR, FNSAVE and FNSTSW
 * m16 are elsewhere; D9 /1, DB /4, DB /6, DD /5 are #UD. */
static const uint8_t mem_forms[8] = { 0xff, 0x2d, 0xff, 0xaf, 0xff, 0x0f, 0xff, 0xff };
static const uint8_t mem_stores[8] = { 0x00, 0x0c, 0x00, 0x8e, 0x00, 0x0e, 0x00, 0xce };

static unsigned mem_len(unsigned esc, unsigned reg)
{
	switch (esc) {
	case 0: case 2: return 4;              /* m32fp, m32int */
	case 1: return reg == 5 ? 2 : 4;       /* FLDCW m16; m32fp */
	case 3: return reg >= 5 ? 10 : 4;      /* m80fp; m32int */
	case 4: case 5: return 8;              /* m64fp (FISTTP m64int) */
	case 6: return 2;                      /* m16int */
	default: return reg == 4 || reg == 6 ? 10 : reg >= 5 ? 8 : 2; /* m80bcd, m64int, m16int */
	}
}

/* Does the encoding run here? */
static bool host_form(const struct soft_insn *in)
{
	unsigned esc = in->opcode - 0xd8u;
	if (in->opcode < 0xd8 || in->opcode > 0xdf)
		return false;
	if (in->modrm >= 0xc0)
		return (reg_forms[esc] >> (in->modrm & 63)) & 1;
	return (mem_forms[esc] >> ((in->modrm >> 3) & 7)) & 1;
}

/* The guest's x87 state as FRSTOR/FNSAVE take it in 64-bit mode (SDM Vol. 1
 * Figure 8-9 and §8.1.10: the 28-byte environment, then ST(0)..ST(7)). */
struct host_frame {
	uint8_t img[108];
	uint8_t mem[16];
	uint16_t host_cw;
};

/* Run the stub on the guest's state; *fl carries the arithmetic flags in
 * (FCMOVcc reads them) and out (FCOMI writes them). FRSTOR loads the whole
 * x87 state and leaves SSE alone; FNSAVE stores it and reinitialises the
 * FPU, which is how the host's x87 must be between C functions anyway
 * (x86-64 psABI §3.2.1: the register stack empty, the control word
 * preserved), so only the host's FCW is kept aside. The stub runs 128
 * bytes below RSP so that its CALL leaves the red zone alone. */
static void host_run(const void *stub, struct host_frame *f, uint64_t *fl)
{
	uint64_t flags = *fl;
	__asm__ volatile("fnstcw (%[cw])\n\t"
			 "frstor (%[img])\n\t"
			 "lea -128(%%rsp), %%rsp\n\t"
			 "pushfq\n\t"
			 "andq %[keep], (%%rsp)\n\t"
			 "orq %[fl], (%%rsp)\n\t"
			 "popfq\n\t"
			 "call *%[stub]\n\t"
			 "pushfq\n\t"
			 "popq %[fl]\n\t"
			 "lea 128(%%rsp), %%rsp\n\t"
			 "fnsave (%[img])\n\t"
			 "fldcw (%[cw])"
			 : [fl] "+r"(flags)
			 : [stub] "r"(stub), [img] "r"(f->img), [cw] "r"(&f->host_cw), "D"(f->mem),
			   [keep] "i"(~(int32_t)FL_ARITH)
			 : "memory", "cc");
	*fl = flags & FL_ARITH;
}

static const struct soft_operand *mem_operand(const struct soft_insn *in)
{
	for (unsigned i = 0; i < in->nops; i++)
		if (in->op[i].kind == SOP_MEM)
			return &in->op[i];
	return NULL;
}

static int exec_x87_host(struct soft_cpu *cpu, const struct soft_insn *in)
{
	struct host_frame f;
	unsigned esc = in->opcode - 0xd8u, reg = (in->modrm >> 3) & 7, len = 0, seg = 0;
	bool is_mem = in->modrm < 0xc0, store = false;
	uint64_t lin = 0, ea = 0, fl = cpu->rflags & FL_ARITH;
	const void *stub;
	int rc = soft_x87_wait_check(cpu);
	if (rc)
		return rc;
	memset(f.mem, 0, sizeof(f.mem));
	if (is_mem) {
		const struct soft_operand *op = mem_operand(in);
		if (!op)
			return soft_ud(cpu);
		len = mem_len(esc, reg);
		store = (mem_stores[esc] >> reg) & 1;
		seg = op->seg;
		ea = soft_op_ea(cpu, in, op);
		rc = soft_seg_linear(cpu, seg, ea, len, store, &lin);
		if (!rc && !store)
			rc = soft_lin_read(cpu, lin, f.mem, len, cpu->cpl == 3);
		if (rc)
			return rc;
		stub = soft_x87_stub_mem + 4 * (esc * 8 + reg);
	} else {
		stub = soft_x87_stub_reg + 4 * (esc * 64 + (in->modrm & 63u));
	}

	/* The guest's state; FIP/FDP there mean nothing to the host. ES and B
	 * are clear: nothing is pending (checked above). */
	uint16_t fsw = cpu->fsw & (uint16_t)~(FSW_ES | FSW_B), tag = soft_x87_full_tag(cpu);
	memset(f.img, 0, 28);
	memcpy(f.img + 0, &cpu->fcw, 2);
	memcpy(f.img + 4, &fsw, 2);
	memcpy(f.img + 8, &tag, 2);
	for (int i = 0; i < 8; i++)
		memcpy(f.img + 28 + 10 * i, cpu->st[i], 10);
	host_run(stub, &f, &fl);

	uint16_t nfcw, nfsw;
	memcpy(&nfcw, f.img + 0, 2);
	memcpy(&nfsw, f.img + 4, 2);
	memcpy(&tag, f.img + 8, 2);
	if (store && !(nfsw & ~nfcw & (FSW_EXC & ~0x20u))) {
		rc = soft_lin_write(cpu, lin, f.mem, len, cpu->cpl == 3);
		if (rc)
			return rc;
	}
	cpu->fcw = nfcw;
	cpu->fsw = nfsw;
	cpu->ftw = soft_x87_abridge_tag(tag);
	for (int i = 0; i < 8; i++)
		memcpy(cpu->st[i], f.img + 28 + 10 * i, 10);
	/* FCOMI, FUCOMI, FCOMIP, FUCOMIP: ZF, PF, CF; OF, SF, AF cleared. */
	if ((esc == 3 || esc == 7) && in->modrm >= 0xe8 && in->modrm <= 0xf7)
		cpu->rflags = (cpu->rflags & ~FL_ARITH) | fl;
	if (!(is_mem && esc == 1 && reg == 5)) /* FLDCW is a control instruction */
		soft_x87_note(cpu, in, is_mem, seg, ea);
	return SOFT_OK;
}

soft_handler soft_exec_x87_host_lookup(const struct soft_insn *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_F2XM1: case ZYDIS_MNEMONIC_FABS: case ZYDIS_MNEMONIC_FADD:
	case ZYDIS_MNEMONIC_FADDP: case ZYDIS_MNEMONIC_FBLD: case ZYDIS_MNEMONIC_FBSTP:
	case ZYDIS_MNEMONIC_FCHS: case ZYDIS_MNEMONIC_FCMOVB: case ZYDIS_MNEMONIC_FCMOVBE:
	case ZYDIS_MNEMONIC_FCMOVE: case ZYDIS_MNEMONIC_FCMOVNB: case ZYDIS_MNEMONIC_FCMOVNBE:
	case ZYDIS_MNEMONIC_FCMOVNE: case ZYDIS_MNEMONIC_FCMOVNU: case ZYDIS_MNEMONIC_FCMOVU:
	case ZYDIS_MNEMONIC_FCOM: case ZYDIS_MNEMONIC_FCOMI: case ZYDIS_MNEMONIC_FCOMIP:
	case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FCOMPP: case ZYDIS_MNEMONIC_FCOS:
	case ZYDIS_MNEMONIC_FDECSTP: case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FDIVP:
	case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FDIVRP: case ZYDIS_MNEMONIC_FFREE:
	case ZYDIS_MNEMONIC_FIADD: case ZYDIS_MNEMONIC_FICOM: case ZYDIS_MNEMONIC_FICOMP:
	case ZYDIS_MNEMONIC_FIDIV: case ZYDIS_MNEMONIC_FIDIVR: case ZYDIS_MNEMONIC_FILD:
	case ZYDIS_MNEMONIC_FIMUL: case ZYDIS_MNEMONIC_FINCSTP: case ZYDIS_MNEMONIC_FIST:
	case ZYDIS_MNEMONIC_FISTP: case ZYDIS_MNEMONIC_FISTTP: case ZYDIS_MNEMONIC_FISUB:
	case ZYDIS_MNEMONIC_FISUBR: case ZYDIS_MNEMONIC_FLD: case ZYDIS_MNEMONIC_FLD1:
	case ZYDIS_MNEMONIC_FLDCW: case ZYDIS_MNEMONIC_FLDL2E: case ZYDIS_MNEMONIC_FLDL2T:
	case ZYDIS_MNEMONIC_FLDLG2: case ZYDIS_MNEMONIC_FLDLN2: case ZYDIS_MNEMONIC_FLDPI:
	case ZYDIS_MNEMONIC_FLDZ: case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FMULP:
	case ZYDIS_MNEMONIC_FNOP: case ZYDIS_MNEMONIC_FPATAN: case ZYDIS_MNEMONIC_FPREM:
	case ZYDIS_MNEMONIC_FPREM1: case ZYDIS_MNEMONIC_FPTAN: case ZYDIS_MNEMONIC_FRNDINT:
	case ZYDIS_MNEMONIC_FSCALE: case ZYDIS_MNEMONIC_FSIN: case ZYDIS_MNEMONIC_FSINCOS:
	case ZYDIS_MNEMONIC_FSQRT: case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP:
	case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FSUBP: case ZYDIS_MNEMONIC_FSUBR:
	case ZYDIS_MNEMONIC_FSUBRP: case ZYDIS_MNEMONIC_FTST: case ZYDIS_MNEMONIC_FUCOM:
	case ZYDIS_MNEMONIC_FUCOMI: case ZYDIS_MNEMONIC_FUCOMIP: case ZYDIS_MNEMONIC_FUCOMP:
	case ZYDIS_MNEMONIC_FUCOMPP: case ZYDIS_MNEMONIC_FXAM: case ZYDIS_MNEMONIC_FXCH:
	case ZYDIS_MNEMONIC_FXTRACT: case ZYDIS_MNEMONIC_FYL2X: case ZYDIS_MNEMONIC_FYL2XP1:
		return host_form(in) ? exec_x87_host : NULL;
	default:
		return NULL;
	}
}

#endif /* HAVE_ZYDIS */
