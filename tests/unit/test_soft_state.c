/* Soft CPU save/restore (snapshot section "SCPU"): a vCPU interrupted in
 * the middle of an IN resumes on another vCPU from the snapshot; truncated
 * or corrupted snapshots are refused and change nothing. */
#include "snapshot.h"
#include "test_soft_harness.h"

#ifdef HAVE_ZYDIS

TEST(soft_state_save_restore)
{
	struct tenv a, b;
	CHECK(tenv_init(&a) == 0);
	CHECK(tenv_init(&b) == 0);
	/* mov rbx, 0x55 ; movq xmm3, rbx ; in al, 0x60 ; hlt */
	static const uint8_t code[] = {
		0x48, 0xc7, 0xc3, 0x55, 0x00, 0x00, 0x00,
		0x66, 0x48, 0x0f, 0x6e, 0xdb,
		0xe4, 0x60, 0xf4,
	};
	tenv_load(&b, TEST_CODE, code, sizeof(code));
	a.cpu->star = 0x0023001000000000ull;
	a.cpu->seg[X86_GS].base = 0xffff888000000000ull;
	a.cpu->tsc_adjust = 0x123456789ull; /* version 2 fields */
	a.cpu->nmi_blocked = true;
	CHECK_EQ(tenv_exec(&a, code, sizeof(code)), VCPU_EXIT_IO);
	a.exit.io.data[0] = 0x9c; /* the VMM completes the read ... */
	a.cpu->kick = true;       /* ... but the vCPU is stopped first */
	CHECK_EQ(tenv_run(&a), VCPU_EXIT_KICKED);

	struct snap_writer w;
	snap_writer_init(&w);
	soft_cpu_save(a.cpu, &w);
	CHECK(snap_finish(&w) == 0);

	/* A truncated copy and a corrupted one are refused. */
	struct snap_reader r;
	CHECK(snap_reader_init(&r, w.buf, w.len - 9) != 0 || soft_cpu_restore(b.cpu, &r) != 0);
	w.buf[w.len / 2] ^= 0x40;
	CHECK(snap_reader_init(&r, w.buf, w.len) != 0);
	w.buf[w.len / 2] ^= 0x40;
	CHECK_EQ(b.cpu->gpr[X86_RBX], 0);

	CHECK(snap_reader_init(&r, w.buf, w.len) == 0);
	CHECK_EQ(soft_cpu_restore(b.cpu, &r), 0);
	CHECK_EQ(b.cpu->rip, a.cpu->rip);
	CHECK_EQ(b.cpu->gpr[X86_RBX], 0x55);
	CHECK_EQ(b.cpu->star, a.cpu->star);
	CHECK_EQ(b.cpu->seg[X86_GS].base, 0xffff888000000000ull);
	CHECK_EQ(b.cpu->xmm[3][0], 0x55);
	CHECK_EQ(b.cpu->tsc_adjust, 0x123456789ull);
	CHECK(b.cpu->nmi_blocked);
	CHECK(!b.cpu->nmi_pending);
	CHECK_EQ(b.cpu->cr3, a.cpu->cr3);
	CHECK(memcmp(&b.cpu->seg[X86_CS], &a.cpu->seg[X86_CS], sizeof(struct x86_segment)) == 0);
	/* The restored vCPU finishes the IN with the saved data. */
	CHECK_EQ(tenv_run(&b), VCPU_EXIT_HALT);
	CHECK_EQ(b.cpu->gpr[X86_RAX] & 0xff, 0x9c);

	/* A section that claims an impossible pending I/O size is refused. */
	snap_writer_free(&w);
	snap_writer_init(&w);
	a.cpu->io.state = IO_READ_DONE;
	a.cpu->io.size = 4;
	a.cpu->io.count = 4096;
	soft_cpu_save(a.cpu, &w);
	CHECK(snap_finish(&w) == 0);
	uint64_t rip = b.cpu->rip;
	CHECK(snap_reader_init(&r, w.buf, w.len) == 0);
	CHECK(soft_cpu_restore(b.cpu, &r) != 0);
	CHECK_EQ(b.cpu->rip, rip);
	snap_writer_free(&w);
	tenv_destroy(&a);
	tenv_destroy(&b);
}

#endif /* HAVE_ZYDIS */
