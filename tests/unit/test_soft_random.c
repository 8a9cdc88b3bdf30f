/* Hostile code: random bytes run as 64-bit kernel code, with an IDT whose
 * every vector halts, and without one. Whatever the bytes do — write page
 * tables and descriptor tables, touch ports and MMIO, fault, loop — the soft
 * CPU must end each run in an exit, never crash or hang isola. Long mode
 * at CPL 0 and 3, and real mode (whose code soon reaches protected mode,
 * other paging modes and the IVT). */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

static uint64_t fz_state = 0x853c49e6748fea9bull;
static uint64_t fz_rnd(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 7;
	fz_state ^= fz_state << 17;
	return fz_state;
}

TEST(soft_random_code_never_crashes)
{
	unsigned kinds[VCPU_EXIT_ERROR + 1] = { 0 };
	for (int iter = 0; iter < 2000; iter++) {
		struct tenv t;
		CHECK(tenv_init(&t) == 0);
		static const uint8_t hlt = 0xf4;
		tenv_load(&t, TEST_HANDLER, &hlt, 1);
		if (iter & 1)
			for (unsigned v = 0; v < 256; v++)
				tenv_gate(&t, v, TEST_HANDLER, 3, v % 3);
		tenv_w64(&t, TEST_TSS + 4, TEST_STACK);
		tenv_w64(&t, TEST_TSS + 0x24, TEST_STACK - 0x1000);
		uint8_t code[256];
		for (unsigned i = 0; i < sizeof(code); i += 8) {
			uint64_t r = fz_rnd();
			memcpy(code + i, &r, 8);
		}
		tenv_load(&t, TEST_CODE, code, sizeof(code));
		for (int g = 0; g < X86_NR_GPRS; g++)
			t.cpu->gpr[g] = (g == X86_RSP) ? TEST_STACK : (fz_rnd() & 0xffffff);
		if (iter % 6 >= 4) {
			/* Real mode from RESET, code at 1000:0000. */
			soft_cpu_reset(t.cpu);
			t.cpu->seg[X86_CS].selector = 0x1000;
			t.cpu->seg[X86_CS].base = TEST_CODE;
			t.cpu->idt.limit = 0x3ff;
			t.cpu->gpr[X86_RSP] = 0x8000;
			t.cpu->rip = 0;
		} else {
			if (iter % 6 >= 2)
				tenv_set_ring(&t, 1);
			t.cpu->rip = TEST_CODE;
		}
		t.cpu->insn_budget = 20000;
		for (int n = 0; n < 50; n++) {
			int k = tenv_run(&t);
			CHECK(k >= 0 && k <= VCPU_EXIT_ERROR);
			kinds[k]++;
			if (k == VCPU_EXIT_ERROR && kinds[k] <= 5)
				fprintf(stderr, "  error exit: %s\n", t.exit.error.what);
			if (k != VCPU_EXIT_IO && k != VCPU_EXIT_MMIO)
				break;
		}
		tenv_destroy(&t);
	}
	fprintf(stderr, "  exits: io %u mmio %u halt %u kicked %u shutdown %u error %u\n",
		kinds[VCPU_EXIT_IO], kinds[VCPU_EXIT_MMIO], kinds[VCPU_EXIT_HALT],
		kinds[VCPU_EXIT_KICKED], kinds[VCPU_EXIT_SHUTDOWN], kinds[VCPU_EXIT_ERROR]);
	/* Many runs end in a fault or a halt; none may be anything but an exit. */
	CHECK(kinds[VCPU_EXIT_HALT] + kinds[VCPU_EXIT_SHUTDOWN] > 500);
}

#endif /* HAVE_ZYDIS */
