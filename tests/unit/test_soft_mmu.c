/* Soft CPU MMU: 4K/2M/1G walks, accessed and dirty bits, #PF error codes,
 * the TLB (stale until INVLPG / CR3 write, global entries kept), and the
 * decode cache dropping code that a store or isola's gm_write changed. */
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

/* A second address-space slice at linear 512 GiB (PML4 slot 1):
 * PDPT 0x7000, PD 0x8000, PT 0x9000. PD[0] -> PT (4K pages), PD[1] -> a 2M
 * page at 0x400000; PDPT[1] -> a 1G page at 0. */
#define L_BASE  (1ull << 39)
#define T_PDPT  0x7000ull
#define T_PD    0x8000ull
#define T_PT    0x9000ull
#define PTE_G   0x100ull
#define PTE_NX  (1ull << 63)

static void build_slice(struct tenv *t)
{
	tenv_w64(t, TEST_PML4 + 8, T_PDPT | PTE_P | PTE_RW | PTE_US);
	tenv_w64(t, T_PDPT, T_PD | PTE_P | PTE_RW | PTE_US);
	tenv_w64(t, T_PDPT + 8, 0 | PTE_P | PTE_RW | PTE_PS);
	tenv_w64(t, T_PD, T_PT | PTE_P | PTE_RW | PTE_US);
	tenv_w64(t, T_PD + 8, 0x400000 | PTE_P | PTE_RW | PTE_PS);
	tenv_w64(t, T_PT + 0 * 8, 0x50000 | PTE_P | PTE_RW);               /* rw */
	tenv_w64(t, T_PT + 1 * 8, 0x51000 | PTE_P);                        /* ro */
	/* PT[2] not present */
	tenv_w64(t, T_PT + 3 * 8, 0x53000 | PTE_P | PTE_RW);               /* supervisor */
	tenv_w64(t, T_PT + 4 * 8, 0x54000 | PTE_P | PTE_US);               /* user ro */
	tenv_w64(t, T_PT + 5 * 8, 0x55000 | PTE_P | PTE_RW | PTE_NX);      /* nx */
	tenv_w64(t, T_PT + 6 * 8, 0x56000 | PTE_P | (1ull << 45));         /* reserved */
	tenv_w64(t, T_PT + 7 * 8, 0x57000 | PTE_P | PTE_RW | PTE_G);       /* global */
}

TEST(soft_mmu_walk_4k_2m_and_ad_bits)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	build_slice(&t);
	tenv_w64(&t, 0x50010, 0x1122334455667788ull);
	tenv_w64(&t, 0x400020, 0xcafe);
	/* mov rax, [rbx] ; mov rcx, [rdx] ; hlt */
	static const uint8_t loads[] = { 0x48, 0x8b, 0x03, 0x48, 0x8b, 0x0a, 0xf4 };
	t.cpu->gpr[X86_RBX] = L_BASE + 0x10;
	t.cpu->gpr[X86_RDX] = L_BASE + 0x200000 + 0x20;
	CHECK_EQ(tenv_exec(&t, loads, sizeof(loads)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 0x1122334455667788ull);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 0xcafe);
	/* A in every level used, D nowhere after loads. */
	CHECK(tenv_r64(&t, TEST_PML4 + 8) & PTE_A);
	CHECK(tenv_r64(&t, T_PDPT) & PTE_A);
	CHECK(tenv_r64(&t, T_PD) & PTE_A);
	CHECK(tenv_r64(&t, T_PT) & PTE_A);
	CHECK(!(tenv_r64(&t, T_PT) & PTE_D));
	CHECK(tenv_r64(&t, T_PD + 8) & PTE_A);
	CHECK(!(tenv_r64(&t, T_PD + 8) & PTE_D));
	CHECK(!(tenv_r64(&t, T_PT + 8) & PTE_A)); /* untouched page */

	/* mov [rbx], rsi ; mov [rdx], rsi ; hlt: D in the leaves only */
	static const uint8_t stores[] = { 0x48, 0x89, 0x33, 0x48, 0x89, 0x32, 0xf4 };
	t.cpu->gpr[X86_RSI] = 0x77;
	CHECK_EQ(tenv_exec(&t, stores, sizeof(stores)), VCPU_EXIT_HALT);
	CHECK_EQ(tenv_r64(&t, 0x50010), 0x77);
	CHECK_EQ(tenv_r64(&t, 0x400020), 0x77);
	CHECK(tenv_r64(&t, T_PT) & PTE_D);
	CHECK(tenv_r64(&t, T_PD + 8) & PTE_D);
	CHECK(!(tenv_r64(&t, T_PD) & PTE_D));
	CHECK(!(tenv_r64(&t, T_PDPT) & PTE_D));

	/* 1G page: L_BASE + 1 GiB + 0x1234 -> 0x1234 */
	uint64_t gpa;
	uint8_t *host;
	CHECK_EQ(soft_translate(t.cpu, L_BASE + (1ull << 30) + 0x1234, SOFT_ACC_READ, false, &gpa,
				&host), SOFT_OK);
	CHECK_EQ(gpa, 0x1234);
	CHECK(host != NULL);
	tenv_destroy(&t);
}

static uint32_t pf_error(struct tenv *t, uint64_t lin, int acc, bool user)
{
	uint64_t gpa;
	uint8_t *host;
	t->cpu->cr2 = 0;
	t->cpu->fault.vector = 0;
	int rc = soft_translate(t->cpu, lin, acc, user, &gpa, &host);
	if (rc != SOFT_FAULT || t->cpu->fault.vector != EXC_PF || !t->cpu->fault.has_error ||
	    t->cpu->cr2 != lin)
		return 0xdead;
	return t->cpu->fault.error;
}

TEST(soft_mmu_page_fault_error_codes)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	build_slice(&t);
	uint64_t p = L_BASE;
	/* SDM Vol. 3A §4.7: P=1 protection, W/R=2, U/S=4, RSVD=8, I/D=16 */
	CHECK_EQ(pf_error(&t, p + 2 * 4096, SOFT_ACC_READ, false), 0);
	CHECK_EQ(pf_error(&t, p + 2 * 4096 + 5, SOFT_ACC_WRITE, true), PFERR_W | PFERR_U);
	CHECK_EQ(pf_error(&t, p + 2 * 4096, SOFT_ACC_EXEC, false), PFERR_I);
	CHECK_EQ(pf_error(&t, p + 1 * 4096, SOFT_ACC_WRITE, false), PFERR_P | PFERR_W);
	CHECK_EQ(pf_error(&t, p + 3 * 4096, SOFT_ACC_READ, true), PFERR_P | PFERR_U);
	CHECK_EQ(pf_error(&t, p + 4 * 4096, SOFT_ACC_WRITE, true), PFERR_P | PFERR_W | PFERR_U);
	CHECK_EQ(pf_error(&t, p + 5 * 4096, SOFT_ACC_EXEC, false), PFERR_P | PFERR_I);
	CHECK_EQ(pf_error(&t, p + 6 * 4096, SOFT_ACC_READ, false), PFERR_P | PFERR_RSVD);
	/* A supervisor page is not reachable from CPL 3 even via the 1G map. */
	CHECK_EQ(pf_error(&t, p + (1ull << 30), SOFT_ACC_READ, true), PFERR_P | PFERR_U);

	/* The user page is readable from CPL 3, the NX page readable. */
	uint64_t gpa;
	uint8_t *host;
	CHECK_EQ(soft_translate(t.cpu, p + 4 * 4096 + 8, SOFT_ACC_READ, true, &gpa, &host),
		 SOFT_OK);
	CHECK_EQ(gpa, 0x54008);
	CHECK_EQ(soft_translate(t.cpu, p + 5 * 4096, SOFT_ACC_READ, false, &gpa, &host), SOFT_OK);

	/* CR0.WP = 0: the supervisor may write a read-only page. */
	static const uint8_t clear_wp[] = {
		0x0f, 0x20, 0xc0,                         /* mov rax, cr0 */
		0x48, 0x25, 0xff, 0xff, 0xfe, 0xff,       /* and rax, ~0x10000 */
		0x0f, 0x22, 0xc0,                         /* mov cr0, rax */
		0xf4,
	};
	CHECK_EQ(tenv_exec(&t, clear_wp, sizeof(clear_wp)), VCPU_EXIT_HALT);
	CHECK(!(t.cpu->cr0 & X86_CR0_WP));
	CHECK_EQ(soft_translate(t.cpu, p + 4096, SOFT_ACC_WRITE, false, &gpa, &host), SOFT_OK);
	CHECK_EQ(gpa, 0x51000);
	/* ... but CPL 3 still may not. */
	CHECK_EQ(pf_error(&t, p + 4 * 4096, SOFT_ACC_WRITE, true), PFERR_P | PFERR_W | PFERR_U);
	tenv_destroy(&t);
}

TEST(soft_mmu_tlb_invlpg_and_cr3)
{
	struct tenv t;
	uint64_t gpa;
	uint8_t *host;
	CHECK(tenv_init(&t) == 0);
	build_slice(&t);
	t.cpu->cr4 |= X86_CR4_PGE;
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 0x10, SOFT_ACC_READ, false, &gpa, &host), SOFT_OK);
	CHECK_EQ(gpa, 0x50010);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 7 * 4096, SOFT_ACC_READ, false, &gpa, &host),
		 SOFT_OK);
	CHECK_EQ(gpa, 0x57000);

	/* Change the mappings without telling the TLB: still the old ones. */
	tenv_w64(&t, T_PT, 0x52000 | PTE_P | PTE_RW);
	tenv_w64(&t, T_PT + 7 * 8, 0x58000 | PTE_P | PTE_RW | PTE_G);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 0x10, SOFT_ACC_READ, false, &gpa, &host), SOFT_OK);
	CHECK_EQ(gpa, 0x50010);

	/* mov rax, cr3 ; mov cr3, rax ; hlt: non-global entries go. */
	static const uint8_t reload[] = { 0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0xf4 };
	CHECK_EQ(tenv_exec(&t, reload, sizeof(reload)), VCPU_EXIT_HALT);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 0x10, SOFT_ACC_READ, false, &gpa, &host), SOFT_OK);
	CHECK_EQ(gpa, 0x52010);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 7 * 4096, SOFT_ACC_READ, false, &gpa, &host),
		 SOFT_OK);
	CHECK_EQ(gpa, 0x57000); /* global: kept */

	/* invlpg [rbx] ; hlt drops the global one too. */
	static const uint8_t invlpg[] = { 0x0f, 0x01, 0x3b, 0xf4 };
	t.cpu->gpr[X86_RBX] = L_BASE + 7 * 4096 + 0x80;
	CHECK_EQ(tenv_exec(&t, invlpg, sizeof(invlpg)), VCPU_EXIT_HALT);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 7 * 4096, SOFT_ACC_READ, false, &gpa, &host),
		 SOFT_OK);
	CHECK_EQ(gpa, 0x58000);

	/* INVLPG of any address inside a 2M page drops all of it. */
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 0x200000 + 0x5000, SOFT_ACC_READ, false, &gpa,
				&host), SOFT_OK);
	CHECK_EQ(gpa, 0x405000);
	tenv_w64(&t, T_PD + 8, 0x600000 | PTE_P | PTE_RW | PTE_PS);
	t.cpu->gpr[X86_RBX] = L_BASE + 0x200000 + 0x1f0000;
	CHECK_EQ(tenv_exec(&t, invlpg, sizeof(invlpg)), VCPU_EXIT_HALT);
	CHECK_EQ(soft_translate(t.cpu, L_BASE + 0x200000 + 0x5000, SOFT_ACC_READ, false, &gpa,
				&host), SOFT_OK);
	CHECK_EQ(gpa, 0x605000);
	tenv_destroy(&t);
}

/* Self-modifying code: the loop body is decoded and run once, then a store
 * patches its immediate; the second pass must see the new instruction. */
TEST(soft_decode_cache_self_modifying_code)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t code[] = {
		0x31, 0xc9,                               /* 00: xor ecx, ecx */
		0xbb, 0x01, 0x00, 0x00, 0x00,             /* 02: mov ebx, 1 */
		0xff, 0xc1,                               /* 07: inc ecx */
		0x83, 0xf9, 0x02,                         /* 09: cmp ecx, 2 */
		0x74, 0x09,                               /* 0c: je 0x17 */
		0xc6, 0x05, 0xee, 0xff, 0xff, 0xff, 0x05, /* 0e: mov byte [rip-0x12], 5 -> 0x03 */
		0xeb, 0xeb,                               /* 15: jmp 0x02 */
		0xf4,                                     /* 17: hlt */
	};
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, TEST_CODE + sizeof(code));
	CHECK_EQ(t.cpu->gpr[X86_RBX], 5);

	/* isola writes code behind the CPU's back (loader, DMA): gm_write's
	 * hook must drop the decoded page too. mov eax, 1 ; hlt, then patched
	 * to mov eax, 2 through gm_write only. */
	static const uint8_t one[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4 };
	CHECK_EQ(tenv_exec(&t, one, sizeof(one)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 1);
	uint8_t two = 2;
	CHECK(gm_write(&t.mem, TEST_CODE + 1, &two, 1) == 0);
	t.cpu->rip = TEST_CODE;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 2);
	tenv_destroy(&t);
}

/* A store into the very next instruction, both already decoded and linked
 * in the current page generation: the run loop's fast path (exec.c:
 * run_fast) must see the page change and not run the old decode. Passes 1
 * and 2 store CL to a data page (so the page stays as decoded); from pass 3
 * on the same store writes CL into the immediate of the MOV after it. */
TEST(soft_decode_cache_store_into_next_insn)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	static const uint8_t code[] = {
		0xbb, 0x00, 0x00, 0x04, 0x00, /* 00: mov ebx, 0x40000 (data) */
		0x31, 0xc9,                   /* 05: xor ecx, ecx */
		0xff, 0xc1,                   /* 07: inc ecx */
		0x83, 0xf9, 0x03,             /* 09: cmp ecx, 3 */
		0x75, 0x05,                   /* 0c: jne 0x13 */
		0xbb, 0x16, 0x00, 0x01, 0x00, /* 0e: mov ebx, TEST_CODE + 0x16 */
		0x88, 0x0b,                   /* 13: mov [rbx], cl */
		0xb8, 0x00, 0x00, 0x00, 0x00, /* 15: mov eax, imm32 (imm at 0x16) */
		0x83, 0xf9, 0x04,             /* 1a: cmp ecx, 4 */
		0x75, 0xe8,                   /* 1d: jne 0x07 */
		0xf4,                         /* 1f: hlt */
	};
	CHECK_EQ(TEST_CODE, 0x10000ull);
	CHECK_EQ(tenv_exec(&t, code, sizeof(code)), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->gpr[X86_RCX], 4);
	CHECK_EQ(t.cpu->gpr[X86_RAX], 4);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */

#ifdef HAVE_ZYDIS

/* 70 pages of one-byte instructions decode to more than the cache may hold:
 * it starts over on the way, and execution goes on unharmed. */
TEST(soft_decode_cache_bounded)
{
	struct tenv t;
	CHECK(tenv_init(&t) == 0);
	const uint64_t base = 0x400000, len = 70 * 4096;
	uint8_t *nops = malloc(len + 1);
	CHECK(nops != NULL);
	memset(nops, 0x90, len);
	nops[len] = 0xf4;
	tenv_load(&t, base, nops, len + 1);
	free(nops);
	t.cpu->rip = base;
	CHECK_EQ(tenv_run(&t), VCPU_EXIT_HALT);
	CHECK_EQ(t.cpu->rip, base + len + 1);
	CHECK(t.cpu->dc.nr_insns < SOFT_MAX_DECODED);
	CHECK(t.cpu->dc.nr_insns > 0);
	CHECK(t.cpu->dc.nr_pages <= SOFT_MAX_CODE_PAGES);
	tenv_destroy(&t);
}

#endif /* HAVE_ZYDIS */
