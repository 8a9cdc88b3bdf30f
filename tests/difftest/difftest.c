/* difftest: run generated instruction sequences on the host CPU and on the
 * soft CPU, compare the final states.
 *
 *   difftest [--seed N] [--count N] [--start I] [--group NAME] [--all-forms]
 *            [--max-report N] [--replay SEED:INDEX [--cut N]]
 *
 * Prints one PASS:/FAIL: difftest/<group> line per group run, with the
 * first mismatch of a failing group described above it (seed, index,
 * disassembly, the differences). --all-forms also generates the forms that
 * KNOWN.md lists as known soft bugs (left out by default, for CI). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_ZYDIS
#include <Zydis/Zydis.h>
#endif

#include "difftest.h"

#define ARITH_FLAGS 0x8d5ull
#define FLAG_DF     0x400ull

static const char *const gpr_name[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static void disasm(FILE *f, const struct dt_seq *s, uint64_t mark_rip)
{
	for (unsigned i = 0; i < s->n; i++) {
		unsigned off = s->off[i], end = i + 1 < s->n ? s->off[i + 1] : s->len;
		char text[128] = "?";
#ifdef HAVE_ZYDIS
		ZydisDisassembledInstruction zi;
		if (ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64,
						       DT_CODE_VA + off, s->code + off,
						       end - off, &zi)))
			snprintf(text, sizeof(text), "%s", zi.text);
#endif
		char hex[64] = "";
		for (unsigned b = off; b < end && b - off < 15; b++)
			snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x ", s->code[b]);
		fprintf(f, "  %c %#" PRIx64 ": %-45s %-40s undef-after %#x\n",
			DT_CODE_VA + off == mark_rip ? '>' : ' ', DT_CODE_VA + off, hex, text,
			s->undef_after[i]);
	}
}

/* The instruction index at rip, or -1. */
static int insn_at(const struct dt_seq *s, uint64_t rip)
{
	for (unsigned i = 0; i < s->n; i++)
		if (DT_CODE_VA + s->off[i] == rip)
			return (int)i;
	return -1;
}

/* Compare; print the differences to f if it is not NULL. 0: equal. */
static int compare(const struct dt_seq *s, const struct dt_state *a, const struct dt_state *b,
		   FILE *f)
{
	int diffs = 0;
#define DIFF(...) do { diffs++; if (f) fprintf(f, __VA_ARGS__); } while (0)
	if (a->vector != b->vector)
		DIFF("  vector: native %d soft %d\n", a->vector, b->vector);
	if (a->rip != b->rip)
		DIFF("  rip: native %#" PRIx64 " soft %#" PRIx64 "\n", a->rip, b->rip);
	/* Flags undefined before the instruction where the native run stopped. */
	int k = insn_at(s, a->rip);
	uint32_t undef = k > 0 ? s->undef_after[k - 1] : k == 0 ? 0 : 0x8d5;
	uint64_t fm = (ARITH_FLAGS & ~(uint64_t)undef) | FLAG_DF;
	if ((a->rflags ^ b->rflags) & fm)
		DIFF("  rflags: native %#" PRIx64 " soft %#" PRIx64 " (compared bits %#" PRIx64
		     ", differing %#" PRIx64 ")\n", a->rflags, b->rflags, fm,
		     (a->rflags ^ b->rflags) & fm);
	for (int i = 0; i < 16; i++)
		if (a->gpr[i] != b->gpr[i])
			DIFF("  %s: native %#018" PRIx64 " soft %#018" PRIx64 "\n", gpr_name[i],
			     a->gpr[i], b->gpr[i]);
	for (int i = 0; i < 16; i++) {
		if (!memcmp(a->xmm[i], b->xmm[i], 16))
			continue;
		uint64_t x[4];
		memcpy(x, a->xmm[i], 16);
		memcpy(x + 2, b->xmm[i], 16);
		DIFF("  xmm%d: native %016" PRIx64 "_%016" PRIx64 " soft %016" PRIx64 "_%016" PRIx64
		     "\n", i, x[1], x[0], x[3], x[2]);
	}
	if (a->mxcsr != b->mxcsr)
		DIFF("  mxcsr: native %#x soft %#x\n", a->mxcsr, b->mxcsr);
	if (a->fcw != b->fcw)
		DIFF("  fcw: native %#x soft %#x\n", a->fcw, b->fcw);
	if (a->fsw != b->fsw)
		DIFF("  fsw: native %#x soft %#x\n", a->fsw, b->fsw);
	if (a->ftw != b->ftw)
		DIFF("  ftw: native %#x soft %#x\n", a->ftw, b->ftw);
	for (int i = 0; i < 8; i++) {
		if (!memcmp(a->st[i], b->st[i], 10))
			continue;
		uint16_t ea, eb;
		uint64_t ma, mb;
		memcpy(&ma, a->st[i], 8), memcpy(&ea, a->st[i] + 8, 2);
		memcpy(&mb, b->st[i], 8), memcpy(&eb, b->st[i] + 8, 2);
		DIFF("  st%d: native %04x_%016" PRIx64 " soft %04x_%016" PRIx64 "\n", i, ea, ma,
		     eb, mb);
	}
	int shown = 0;
	for (unsigned i = 0; i < DT_SCRATCH_SZ; i++) {
		if (a->scratch[i] == b->scratch[i])
			continue;
		if (shown++ < 16)
			DIFF("  mem %#" PRIx64 ": native %02x soft %02x\n", DT_SCRATCH_VA + i,
			     a->scratch[i], b->scratch[i]);
		else
			diffs++;
	}
#undef DIFF
	return diffs;
}

/* --mnemonics: what the generator covers, one "group mnemonic count" a line. */
static void list_mnemonics(uint64_t seed, uint64_t start, uint64_t count, int grp, bool excl)
{
#ifdef HAVE_ZYDIS
	static struct dt_seq s;
	static uint64_t seen[G_NR][ZYDIS_MNEMONIC_MAX_VALUE + 1];
	for (uint64_t i = start; i < start + count; i++) {
		int g = dt_case_group(i, grp);
		dt_generate(seed, i, grp, excl, &s);
		for (unsigned k = 0; k < s.n; k++) {
			unsigned off = s.off[k], end = k + 1 < s.n ? s.off[k + 1] : s.len;
			ZydisDisassembledInstruction zi;
			if (ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, 0,
							       s.code + off, end - off, &zi)))
				seen[g][zi.info.mnemonic]++;
		}
	}
	for (int g = 0; g < G_NR; g++)
		for (unsigned m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
			if (seen[g][m])
				printf("%s %s %" PRIu64 "\n", dt_group_name[g],
				       ZydisMnemonicGetString((ZydisMnemonic)m), seen[g][m]);
#else
	(void)seed; (void)start; (void)count; (void)grp; (void)excl;
#endif
}

static int group_by_name(const char *n)
{
	for (int g = 0; g < G_NR; g++)
		if (!strcmp(n, dt_group_name[g]))
			return g;
	return -2;
}

static struct dt_seq seq;

/* Does the sequence contain a form KNOWN.md explains? */
static bool has_known_bug(const struct dt_seq *s)
{
	for (unsigned k = 0; k < s->n; k++) {
		unsigned end = k + 1 < s->n ? s->off[k + 1] : s->len;
		if (dt_known_bug(s->code + s->off[k], end - s->off[k]))
			return true;
	}
	return false;
}

static struct dt_state st_native, st_soft;
static bool replay_mode;
/* --cut N (with --replay): end the sequence with UD2 at instruction N, to
 * find the first instruction that differs. */
static unsigned replay_cut;

/* Run one case; 0 equal, 1 mismatch, 2 a mismatch in a sequence with a
 * known-bug form (--all-forms; not reported), -1 a runner failed. */
static int run_case(uint64_t seed, uint64_t index, int grp, bool excl, FILE *report)
{
	dt_generate(seed, index, grp, excl, &seq);
	if (replay_cut && replay_cut < seq.n) {
		seq.len = seq.off[replay_cut] + 2u;
		seq.code[seq.len - 2] = 0x0f;
		seq.code[seq.len - 1] = 0x0b;
		seq.n = replay_cut + 1;
	}
	if (dt_native_run(&seq, &st_native) || dt_soft_run(&seq, &st_soft)) {
		if (report)
			fprintf(report, "difftest: runner failed on %" PRIu64 ":%" PRIu64 "\n",
				seed, index);
		return -1;
	}
	if (!compare(&seq, &st_native, &st_soft, NULL))
		return 0;
	if (!excl && !replay_mode && has_known_bug(&seq))
		return 2;
	if (report) {
		int g = dt_case_group(index, grp);
		fprintf(report, "MISMATCH group %s, replay with --replay %" PRIu64 ":%" PRIu64
			"%s%s\n", dt_group_name[g], seed, index, grp >= 0 ? " --group " : "",
			grp >= 0 ? dt_group_name[g] : "");
		disasm(report, &seq, st_native.rip);
		compare(&seq, &st_native, &st_soft, report);
	}
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, count = 1000, start = 0;
	int grp = -1, max_report = 1;
	bool excl = true, replay = false, mnemonics = false;
	const char *tag = ""; /* --tag T: result lines name difftest/<group>T */
	const char *dump = NULL; /* --dump FILE: the replayed case's code bytes */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--all-forms")) {
			excl = false;
			continue;
		}
		if (!strcmp(a, "--mnemonics")) {
			mnemonics = true;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--count")) {
			count = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--start")) {
			start = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--tag")) {
			tag = v;
		} else if (!strcmp(a, "--cut")) {
			replay_cut = (unsigned)strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--dump")) {
			dump = v;
		} else if (!strcmp(a, "--max-report")) {
			max_report = atoi(v);
		} else if (!strcmp(a, "--group")) {
			grp = group_by_name(v);
			if (grp < -1)
				goto usage;
		} else if (!strcmp(a, "--replay")) {
			char *colon;
			seed = strtoull(v, &colon, 0);
			if (*colon != ':')
				goto usage;
			start = strtoull(colon + 1, NULL, 0);
			count = 1;
			replay = true;
		} else {
			goto usage;
		}
	}
	if (mnemonics) {
		list_mnemonics(seed, start, count, grp, excl);
		return 0;
	}
	if (dt_native_init() || dt_soft_init()) {
		printf("FAIL: difftest/setup\n");
		return 1;
	}
	if (replay) {
		replay_mode = true;
		int rc = run_case(seed, start, grp, excl, stdout);
		FILE *df = dump ? fopen(dump, "wb") : NULL;
		if (df) {
			fwrite(seq.code, 1, seq.len, df);
			fclose(df);
		}
		if (rc == 0) {
			printf("equal: %" PRIu64 ":%" PRIu64 "\n", seed, start);
			disasm(stdout, &seq, st_native.rip);
		}
		return rc != 0;
	}
	uint64_t runs[G_NR] = { 0 }, fails[G_NR] = { 0 }, errs[G_NR] = { 0 }, known[G_NR] = { 0 };
	/* How the native runs ended: at the final UD2, in #DE, otherwise. */
	uint64_t ends[G_NR][3] = { { 0 } };
	int reported = 0;
	for (uint64_t i = start; i < start + count; i++) {
		int g = dt_case_group(i, grp);
		FILE *rep = reported < max_report && !fails[g] ? stdout : NULL;
		int rc = run_case(seed, i, grp, excl, rep);
		runs[g]++;
		if (rc >= 0) {
			bool at_end = st_native.vector == DT_VEC_UD &&
				      st_native.rip == DT_CODE_VA + seq.off[seq.n - 1];
			ends[g][at_end ? 0 : st_native.vector == DT_VEC_DE ? 1 : 2]++;
		}
		if (rc == 2) {
			known[g]++;
		} else if (rc > 0) {
			fails[g]++;
			if (rep)
				reported++;
		} else if (rc < 0) {
			errs[g]++;
		}
		fflush(stdout);
	}
	int bad = 0;
	for (int g = 0; g < G_NR; g++) {
		if (!runs[g])
			continue;
		fprintf(stderr, "difftest/%s: %" PRIu64 " sequences (%" PRIu64 " ran to the end, %"
			PRIu64 " stopped by #DE, %" PRIu64 " by another fault), %" PRIu64
			" mismatches, %" PRIu64 " more explained by KNOWN.md, %" PRIu64
			" runner errors (seed %" PRIu64 ")\n",
			dt_group_name[g], runs[g], ends[g][0], ends[g][1], ends[g][2], fails[g],
			known[g], errs[g], seed);
		if (fails[g] || errs[g]) {
			printf("FAIL: difftest/%s%s\n", dt_group_name[g], tag);
			bad = 1;
		} else {
			printf("PASS: difftest/%s%s\n", dt_group_name[g], tag);
		}
	}
	return bad;
usage:
	fprintf(stderr, "usage: difftest [--seed N] [--count N] [--start I] [--group NAME] "
		"[--all-forms] [--max-report N] [--tag SUFFIX] "
		"[--replay SEED:INDEX [--dump FILE] [--cut N]] [--mnemonics]\n");
	return 2;
}
