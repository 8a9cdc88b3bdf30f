/* Boot loaders and entry state (arch/x86/boot_*.c) against synthetic
 * bzImage and ELF64 files written to a temporary directory. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory.h"
#include "unit.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v & 0xffff);
	wr16(p + 2, v >> 16);
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* Write buf to a new temporary file; sparse_size > len extends it with a
 * hole (a large initrd that costs no disk). Returns a malloc'd path. */
static char *temp_file(const void *buf, size_t len, uint64_t sparse_size)
{
	char *path = strdup("/tmp/isola-test-boot-XXXXXX");
	int fd;

	if (!path)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	if ((len && write(fd, buf, len) != (ssize_t)len) ||
	    (sparse_size > len && ftruncate(fd, (off_t)sparse_size))) {
		close(fd);
		unlink(path);
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

static void drop_file(char *path)
{
	if (path) {
		unlink(path);
		free(path);
	}
}

/* ---- synthetic bzImage ------------------------------------------------------ */

struct bz_opts {
	uint16_t version;
	uint16_t xloadflags;
	uint8_t setup_sects;
	uint32_t pm_size;
	uint32_t syssize_bytes;  /* what the header claims; 0: pm_size */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint64_t pref_address;
	bool bad_magic;
	size_t truncate_to;      /* 0: whole image */
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.version = 0x020f, .xloadflags = XLF_KERNEL_64 | 0x2, .setup_sects = 3,
		.pm_size = 64 * 1024, .initrd_addr_max = 0x7fffffff, .cmdline_size = 2047,
		.init_size = 8 * MIB, .pref_address = 16 * MIB,
	};
}

static uint8_t pm_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* The image bytes; *len gets the file length. */
static uint8_t *build_bzimage(const struct bz_opts *o, size_t *len)
{
	unsigned sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup = (size_t)(sects + 1) * 512;
	uint8_t *img;

	*len = setup + o->pm_size;
	img = calloc(1, *len);
	if (!img)
		return NULL;
	img[HDR_SETUP_SECTS] = o->setup_sects;
	wr32(img + HDR_SYSSIZE, (o->syssize_bytes ? o->syssize_bytes : o->pm_size) / 16);
	wr16(img + HDR_BOOT_FLAG, HDR_BOOT_FLAG_MAGIC);
	img[HDR_JUMP] = 0xeb;
	img[HDR_JUMP + 1] = 0x6a; /* header ends at 0x26c, as in Linux 6.x */
	wr32(img + HDR_HEADER, o->bad_magic ? 0x12345678 : HDR_MAGIC);
	wr16(img + HDR_VERSION, o->version);
	img[HDR_LOADFLAGS] = LOADFLAG_LOADED_HIGH;
	wr32(img + HDR_INITRD_ADDR_MAX, o->initrd_addr_max);
	wr32(img + HDR_KERNEL_ALIGNMENT, 0x200000);
	img[HDR_RELOCATABLE] = 1;
	wr16(img + HDR_XLOADFLAGS, o->xloadflags);
	wr32(img + HDR_CMDLINE_SIZE, o->cmdline_size);
	wr64(img + HDR_PREF_ADDRESS, o->pref_address);
	wr32(img + HDR_INIT_SIZE, o->init_size);
	wr64(img + HDR_SETUP_DATA, 0xdeadbeef000ull); /* a loader field: must not survive */
	for (size_t i = 0; i < o->pm_size; i++)
		img[setup + i] = pm_byte(i);
	if (o->truncate_to && o->truncate_to < *len)
		*len = o->truncate_to;
	return img;
}

static char *make_bzimage(const struct bz_opts *o)
{
	size_t len;
	uint8_t *img = build_bzimage(o, &len);
	char *path = img ? temp_file(img, len, 0) : NULL;

	free(img);
	return path;
}

struct boot_run {
	struct guest_mem mem;
	struct x86_regs regs;
	struct x86_sregs sregs;
	char err[256];
	int ret;
};

/* Boot kernel (+initrd, cmdline) into fresh RAM of ram bytes. */
static void run_boot(struct boot_run *r, uint64_t ram, const char *kernel, const char *initrd,
		     const char *cmdline)
{
	struct x86_boot_args args = { .kernel = kernel, .initrd = initrd, .cmdline = cmdline,
				      .ncpus = 2 };
	memset(r, 0, sizeof(*r));
	if (gm_init(&r->mem, ram)) {
		r->ret = -ENOMEM;
		snprintf(r->err, sizeof(r->err), "gm_init failed");
		return;
	}
	r->ret = x86_boot_setup(&r->mem, &args, &r->regs, &r->sregs, r->err, sizeof(r->err));
}

/* Expect failure ret with a one-line message naming what and containing
 * needle. */
static void expect_error(struct boot_run *r, int ret, const char *what, const char *needle)
{
	CHECK_EQ(r->ret, ret);
	if (what && !strstr(r->err, what)) {
		fprintf(stderr, "  message \"%s\" does not name \"%s\"\n", r->err, what);
		unit_failures++;
	}
	if (!strstr(r->err, needle)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", r->err, needle);
		unit_failures++;
	}
	CHECK(!strchr(r->err, '\n'));
}

static const uint8_t *zero_page(const struct boot_run *r)
{
	return gm_ptr(&r->mem, LAYOUT_BOOT_PARAMS, BP_SIZE);
}

TEST(boot_bzimage_good)
{
	struct bz_opts o = bz_default();
	char *kernel = make_bzimage(&o);
	uint8_t rd[3000];
	char *initrd;
	struct boot_run r;
	const uint8_t *bp, *p;

	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i ^ 0x5a);
	initrd = temp_file(rd, sizeof(rd), 0);
	CHECK(kernel && initrd);
	run_boot(&r, 256 * MIB, kernel, initrd, "console=ttyS0 quiet");
	CHECK_EQ(r.ret, 0);
	if (r.ret)
		fprintf(stderr, "  %s\n", r.err);
	bp = zero_page(&r);
	p = gm_ptr(&r.mem, LAYOUT_KERNEL, o.pm_size);
	if (r.ret == 0 && bp && p) {
		int same = 1;
		for (size_t i = 0; i < o.pm_size; i++)
			same &= p[i] == pm_byte(i);
		CHECK(same);
		CHECK_EQ(r.regs.rip, LAYOUT_KERNEL + 0x200);
		CHECK_EQ(r.regs.gpr[X86_RSI], LAYOUT_BOOT_PARAMS);
		/* Setup header copied, loader fields filled. */
		CHECK_EQ(rd32(bp + HDR_HEADER), HDR_MAGIC);
		CHECK_EQ(bp[HDR_VERSION] | bp[HDR_VERSION + 1] << 8, 0x020f);
		CHECK_EQ(rd32(bp + HDR_INIT_SIZE), o.init_size);
		CHECK_EQ(bp[HDR_TYPE_OF_LOADER], 0xff);
		CHECK_EQ(bp[HDR_LOADFLAGS], LOADFLAG_LOADED_HIGH);
		CHECK_EQ(bp[BP_SENTINEL], 0);
		CHECK_EQ(rd64(bp + HDR_SETUP_DATA), 0);
		CHECK_EQ(rd32(bp + HDR_CMD_LINE_PTR), LAYOUT_CMDLINE);
		const char *cl = gm_ptr(&r.mem, LAYOUT_CMDLINE, 20);
		CHECK(cl && !strcmp(cl, "console=ttyS0 quiet"));
		/* The initrd sits page aligned at the top of RAM. */
		uint64_t ia = rd32(bp + HDR_RAMDISK_IMAGE);
		CHECK_EQ(ia, (256 * MIB - sizeof(rd)) & ~0xfffull);
		CHECK_EQ(rd32(bp + HDR_RAMDISK_SIZE), sizeof(rd));
		const uint8_t *gi = gm_ptr(&r.mem, ia, sizeof(rd));
		CHECK(gi && !memcmp(gi, rd, sizeof(rd)));
		CHECK_EQ(rd64(bp + BP_ACPI_RSDP_ADDR), LAYOUT_ACPI_RSDP);
		/* e820 as e820_build makes it. */
		struct e820_entry map[E820_MAX_ENTRIES];
		int n = e820_build(&r.mem, map, E820_MAX_ENTRIES);
		CHECK_EQ(bp[BP_E820_ENTRIES], n);
		for (int i = 0; i < n && i < bp[BP_E820_ENTRIES]; i++) {
			const uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
			CHECK_EQ(rd64(e), map[i].addr);
			CHECK_EQ(rd64(e + 8), map[i].size);
			CHECK_EQ(rd32(e + 16), map[i].type);
		}
		const uint8_t *rsdp = gm_ptr(&r.mem, LAYOUT_ACPI_RSDP, 8);
		CHECK(rsdp && !memcmp(rsdp, "RSD PTR ", 8));
	}
	gm_destroy(&r.mem);

	/* No initrd, no command line: an empty string and zero ramdisk fields. */
	run_boot(&r, 256 * MIB, kernel, NULL, NULL);
	CHECK_EQ(r.ret, 0);
	bp = zero_page(&r);
	if (r.ret == 0 && bp) {
		CHECK_EQ(rd32(bp + HDR_RAMDISK_IMAGE), 0);
		CHECK_EQ(rd32(bp + HDR_RAMDISK_SIZE), 0);
		const char *cl = gm_ptr(&r.mem, LAYOUT_CMDLINE, 1);
		CHECK(cl && cl[0] == 0);
	}
	gm_destroy(&r.mem);
	drop_file(kernel);
	drop_file(initrd);
}

TEST(boot_bzimage_rejects)
{
	struct bz_opts o;
	struct boot_run r;
	char *k;

	o = bz_default();
	o.bad_magic = true;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "not a bzImage or ELF64 kernel");
	gm_destroy(&r.mem);
	drop_file(k);

	o = bz_default();
	o.version = 0x020b;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "2.11 is too old");
	gm_destroy(&r.mem);
	drop_file(k);

	o = bz_default();
	o.xloadflags = 0x2;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "XLF_KERNEL_64");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Truncated: the header promises more kernel than the file holds. */
	o = bz_default();
	o.syssize_bytes = o.pm_size + 4096;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "truncated");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Truncated inside the setup code. */
	o = bz_default();
	o.truncate_to = 1024;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "truncated");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Cut right after the magic: too short to hold the 2.12 header. */
	o = bz_default();
	o.truncate_to = 0x210;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "truncated: the setup header ends");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Kernel needs more RAM than there is (init_size from pref_address). */
	o = bz_default();
	o.init_size = 60 * MIB;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOMEM, k, "give more --memory");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Not a file, no file, an empty file. */
	run_boot(&r, 64 * MIB, "/tmp", NULL, NULL);
	expect_error(&r, -EINVAL, "/tmp", "not a regular file");
	gm_destroy(&r.mem);
	run_boot(&r, 64 * MIB, "/nonexistent/isola-kernel", NULL, NULL);
	expect_error(&r, -ENOENT, "/nonexistent/isola-kernel", "No such file");
	gm_destroy(&r.mem);
	k = temp_file("", 0, 0);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "not a bzImage or ELF64 kernel");
	gm_destroy(&r.mem);
	drop_file(k);
}

TEST(boot_bzimage_cmdline_limit)
{
	struct bz_opts o = bz_default();
	struct boot_run r;
	char *k;
	char big[LAYOUT_CMDLINE_MAX + 8];

	o.cmdline_size = 16;
	k = make_bzimage(&o);
	run_boot(&r, 64 * MIB, k, NULL, "0123456789abcdef"); /* exactly 16: fits */
	CHECK_EQ(r.ret, 0);
	gm_destroy(&r.mem);
	run_boot(&r, 64 * MIB, k, NULL, "0123456789abcdefg");
	expect_error(&r, -E2BIG, k, "at most 16");
	gm_destroy(&r.mem);
	drop_file(k);

	/* The kernel would take more than isola's buffer holds. */
	o.cmdline_size = 0x100000;
	k = make_bzimage(&o);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	run_boot(&r, 64 * MIB, k, NULL, big);
	expect_error(&r, -E2BIG, k, "at most 65535");
	gm_destroy(&r.mem);
	drop_file(k);
}

TEST(boot_initrd_placement)
{
	struct bz_opts o = bz_default();
	struct boot_run r;
	char *k, *rd;
	const uint8_t *bp;

	/* 300 MiB (sparse) with 256 MiB of RAM. */
	k = make_bzimage(&o);
	rd = temp_file("x", 1, 300 * MIB);
	run_boot(&r, 256 * MIB, k, rd, NULL);
	expect_error(&r, -ENOSPC, rd, "give more --memory");
	gm_destroy(&r.mem);
	drop_file(rd);
	drop_file(k);

	/* initrd_addr_max below the end of RAM: the initrd ends below it. */
	o = bz_default();
	o.initrd_addr_max = 0x3fffffff;
	k = make_bzimage(&o);
	rd = temp_file("y", 1, 5 * MIB + 123);
	run_boot(&r, 2 * GIB, k, rd, NULL);
	CHECK_EQ(r.ret, 0);
	bp = zero_page(&r);
	if (r.ret == 0 && bp) {
		uint64_t a = rd32(bp + HDR_RAMDISK_IMAGE);
		CHECK_EQ(a, (0x40000000 - (5 * MIB + 123)) & ~0xfffull);
		CHECK(a + rd32(bp + HDR_RAMDISK_SIZE) - 1 <= 0x3fffffff);
	}
	gm_destroy(&r.mem);
	drop_file(k);

	/* The initrd may not overlap where the kernel runs: [16 MiB, 16 MiB +
	 * init_size) for this relocatable kernel. 128 MiB RAM, kernel to 116 MiB. */
	o = bz_default();
	o.init_size = 100 * MIB;
	k = make_bzimage(&o);
	run_boot(&r, 128 * MIB, k, rd, NULL); /* 5 MiB: starts at 122.99 MiB, fine */
	CHECK_EQ(r.ret, 0);
	bp = zero_page(&r);
	if (r.ret == 0 && bp)
		CHECK(rd32(bp + HDR_RAMDISK_IMAGE) >= 116 * MIB);
	gm_destroy(&r.mem);
	drop_file(rd);
	rd = temp_file("z", 1, 13 * MIB); /* would start at 115 MiB */
	run_boot(&r, 128 * MIB, k, rd, NULL);
	expect_error(&r, -ENOSPC, rd, "does not fit");
	gm_destroy(&r.mem);
	drop_file(k);

	/* initrd_addr_max itself below the kernel's end: more RAM cannot help,
	 * and the message says so. */
	o = bz_default();
	o.initrd_addr_max = 20 * MIB - 1;
	k = make_bzimage(&o);
	run_boot(&r, 256 * MIB, k, rd, NULL);
	expect_error(&r, -ENOSPC, rd, "initrd_addr_max");
	gm_destroy(&r.mem);
	drop_file(k);
	drop_file(rd);

	/* Empty initrd. */
	o = bz_default();
	k = make_bzimage(&o);
	rd = temp_file("", 0, 0);
	run_boot(&r, 64 * MIB, k, rd, NULL);
	expect_error(&r, -EINVAL, rd, "empty");
	gm_destroy(&r.mem);
	drop_file(k);
	drop_file(rd);
}

/* ---- synthetic ELF64 --------------------------------------------------------- */

struct elf_seg {
	uint64_t paddr, filesz, memsz, offset; /* offset 0: right after the headers */
};

struct elf_opts {
	uint8_t cls;
	uint16_t machine, type;
	uint64_t entry;
	unsigned nseg;
	struct elf_seg seg[2];
};

static uint8_t *build_elf(const struct elf_opts *o, size_t *lenp)
{
	size_t hdrs = sizeof(Elf64_Ehdr) + o->nseg * sizeof(Elf64_Phdr), len = hdrs;
	uint8_t *img;

	for (unsigned i = 0; i < o->nseg; i++)
		if (!o->seg[i].offset)
			len += o->seg[i].filesz;
	img = calloc(1, len);
	if (!img)
		return NULL;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = o->cls;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = o->type;
	eh->e_machine = o->machine;
	eh->e_version = EV_CURRENT;
	eh->e_entry = o->entry;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)o->nseg;
	size_t data = hdrs;
	for (unsigned i = 0; i < o->nseg; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
		ph->p_type = PT_LOAD;
		ph->p_flags = PF_R | PF_W | PF_X;
		ph->p_offset = o->seg[i].offset ? o->seg[i].offset : data;
		ph->p_vaddr = ph->p_paddr = o->seg[i].paddr;
		ph->p_filesz = o->seg[i].filesz;
		ph->p_memsz = o->seg[i].memsz;
		ph->p_align = 4096;
		if (!o->seg[i].offset) {
			for (size_t j = 0; j < o->seg[i].filesz; j++)
				img[data + j] = (uint8_t)(0xc0 + i + j);
			data += o->seg[i].filesz;
		}
	}
	*lenp = len;
	return img;
}

static char *make_elf(const struct elf_opts *o)
{
	size_t len;
	uint8_t *img = build_elf(o, &len);
	char *path = img ? temp_file(img, len, 0) : NULL;

	free(img);
	return path;
}

static struct elf_opts elf_default(void)
{
	return (struct elf_opts){
		.cls = ELFCLASS64, .machine = EM_X86_64, .type = ET_EXEC, .entry = 2 * MIB + 16,
		.nseg = 2,
		.seg = { { .paddr = 2 * MIB, .filesz = 100, .memsz = 100 },
			 { .paddr = 3 * MIB, .filesz = 50, .memsz = 3 * 4096 } },
	};
}

TEST(boot_elf_good)
{
	struct elf_opts o = elf_default();
	char *k = make_elf(&o);
	struct boot_run r = { 0 };
	struct x86_boot_args args = { .kernel = k, .cmdline = "test=1", .ncpus = 1 };
	uint8_t *bss;
	const uint8_t *bp, *seg;

	/* Dirty the would-be .bss first: the loader must zero it. */
	CHECK_EQ(gm_init(&r.mem, 64 * MIB), 0);
	bss = gm_ptr(&r.mem, 3 * MIB, 3 * 4096);
	if (bss)
		memset(bss, 0xaa, 3 * 4096);
	r.ret = x86_boot_setup(&r.mem, &args, &r.regs, &r.sregs, r.err, sizeof(r.err));
	CHECK_EQ(r.ret, 0);
	if (r.ret)
		fprintf(stderr, "  %s\n", r.err);
	bp = zero_page(&r);
	seg = gm_ptr(&r.mem, 2 * MIB, 100);
	if (r.ret == 0 && bp && bss && seg) {
		CHECK_EQ(r.regs.rip, 2 * MIB + 16);
		CHECK_EQ(r.regs.gpr[X86_RSI], LAYOUT_BOOT_PARAMS);
		CHECK_EQ(seg[0], 0xc0);
		CHECK_EQ(seg[99], (uint8_t)(0xc0 + 99));
		CHECK_EQ(bss[0], 0xc1);
		CHECK_EQ(bss[49], (uint8_t)(0xc1 + 49));
		int zero = 1;
		for (size_t i = 50; i < 3 * 4096; i++)
			zero &= bss[i] == 0;
		CHECK(zero);
		CHECK_EQ(rd32(bp + HDR_CMD_LINE_PTR), LAYOUT_CMDLINE);
		const char *cl = gm_ptr(&r.mem, LAYOUT_CMDLINE, 7);
		CHECK(cl && !strcmp(cl, "test=1"));
		CHECK_EQ(bp[BP_E820_ENTRIES], 4);
		CHECK_EQ(rd32(bp + HDR_HEADER), HDR_MAGIC);
		CHECK_EQ(bp[HDR_TYPE_OF_LOADER], 0xff);
	}
	gm_destroy(&r.mem);
	drop_file(k);
}

TEST(boot_elf_rejects)
{
	struct elf_opts o;
	struct boot_run r;
	char *k;

	o = elf_default();
	o.cls = ELFCLASS32;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "ELFCLASS64");
	gm_destroy(&r.mem);
	drop_file(k);

	o = elf_default();
	o.machine = EM_386;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "not x86-64");
	gm_destroy(&r.mem);
	drop_file(k);

	o = elf_default();
	o.type = ET_DYN;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "ET_EXEC");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Past the end of RAM, and inside the MMIO hole. */
	o = elf_default();
	o.seg[1].paddr = 63 * MIB + 4096 * 254;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "not inside guest RAM");
	gm_destroy(&r.mem);
	drop_file(k);
	o = elf_default();
	o.seg[1].paddr = 0xd0000000;
	k = make_elf(&o);
	run_boot(&r, 4 * GIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "not inside guest RAM");
	gm_destroy(&r.mem);
	drop_file(k);
	o = elf_default();
	o.seg[1].paddr = UINT64_MAX - 4096;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "overflows");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Overlapping the low boot area: even one byte below 1 MiB. */
	o = elf_default();
	o.seg[1].paddr = LAYOUT_KERNEL - 1;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "boot area below 1 MiB");
	gm_destroy(&r.mem);
	drop_file(k);

	o = elf_default();
	o.seg[0].filesz = 200;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "p_filesz 200 > p_memsz 100");
	gm_destroy(&r.mem);
	drop_file(k);

	/* Segment data past the end of the file. */
	o = elf_default();
	o.seg[1].offset = 100000;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "truncated");
	gm_destroy(&r.mem);
	drop_file(k);

	o = elf_default();
	o.entry = 5 * MIB;
	k = make_elf(&o);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "entry point");
	gm_destroy(&r.mem);
	drop_file(k);

	/* A file that is only an ELF header's first bytes. */
	k = temp_file("\177ELF\002\001", 6, 0);
	run_boot(&r, 64 * MIB, k, NULL, NULL);
	expect_error(&r, -ENOEXEC, k, "shorter than an ELF64 header");
	gm_destroy(&r.mem);
	drop_file(k);
}

/* ---- entry state --------------------------------------------------------------- */

/* Walk the 4-level tables in guest memory like the MMU (SDM Vol. 3A §4.5);
 * returns the physical address or ~0 if not mapped. */
static uint64_t walk(const struct guest_mem *mem, uint64_t cr3, uint64_t va)
{
	const uint64_t addr_mask = 0x000ffffffffff000ull;
	uint64_t e, table = cr3 & addr_mask;
	const int shifts[] = { 39, 30, 21 };
	uint8_t b[8];

	for (int level = 0; level < 3; level++) {
		if (gm_read(mem, table + ((va >> shifts[level]) & 511) * 8, b, 8))
			return ~0ull;
		e = rd64(b);
		if (!(e & PTE_P))
			return ~0ull;
		if (!(e & PTE_RW))
			return ~0ull;
		if (level > 0 && (e & PTE_PS)) {
			uint64_t psize = 1ull << shifts[level];
			return (e & addr_mask & ~(psize - 1)) | (va & (psize - 1));
		}
		if (level == 2)
			return ~0ull; /* we only build 2 MiB and 1 GiB pages */
		table = e & addr_mask;
	}
	return ~0ull;
}

static void check_entry_state(const struct boot_run *r)
{
	const struct x86_sregs *s = &r->sregs;
	const struct x86_segment *cs = &s->seg[X86_CS];

	CHECK_EQ(s->cr0, 0x80010033ull); /* PG WP NE ET MP PE */
	CHECK_EQ(s->cr4, 0x620ull);      /* OSXMMEXCPT OSFXSR PAE */
	CHECK_EQ(s->efer, 0x500ull);     /* LMA LME */
	CHECK_EQ(s->cr3, LAYOUT_PAGE_TABLES);
	CHECK_EQ(r->regs.rflags, 0x2);
	CHECK_EQ(r->regs.gpr[X86_RSP], LAYOUT_BOOT_STACK);
	CHECK_EQ(cs->selector, 0x10);
	CHECK(cs->l == 1 && cs->db == 0 && cs->type == 0xb && cs->s && cs->present && cs->g);
	CHECK_EQ(cs->limit, 0xffffffff);
	for (int i = X86_DS; i <= X86_SS; i++) {
		const struct x86_segment *d = &s->seg[i];
		CHECK_EQ(d->selector, 0x18);
		CHECK(d->type == 3 && d->db == 1 && d->l == 0 && d->s && d->present && d->g);
		CHECK_EQ(d->base, 0);
	}
	CHECK(s->seg[X86_TR].type == 0xb && s->seg[X86_TR].present && !s->seg[X86_TR].unusable);
	CHECK_EQ(s->seg[X86_TR].limit, 0x67);
	CHECK(s->seg[X86_LDTR].unusable);
	CHECK_EQ(s->gdt.base, LAYOUT_GDT);
	CHECK_EQ(s->gdt.limit, 31);
	CHECK_EQ(s->idt.limit, 0);

	/* The GDT in memory agrees with the segment caches. */
	uint8_t g[32];
	CHECK_EQ(gm_read(&r->mem, LAYOUT_GDT, g, sizeof(g)), 0);
	CHECK_EQ(rd64(g), 0);
	CHECK_EQ(rd64(g + 8), 0);
	uint64_t code = rd64(g + 16), data = rd64(g + 24);
	CHECK_EQ((code >> 40) & 0xf, cs->type);
	CHECK_EQ((code >> 47) & 1, 1);   /* P */
	CHECK_EQ((code >> 53) & 1, 1);   /* L */
	CHECK_EQ((code >> 54) & 1, 0);   /* D */
	CHECK_EQ((data >> 40) & 0xf, 3);
	CHECK_EQ((data >> 54) & 1, 1);   /* B */
	CHECK_EQ((data >> 55) & 1, 1);   /* G */
}

TEST(boot_entry_state)
{
	struct elf_opts o = elf_default();
	char *k = make_elf(&o);
	struct boot_run r;
	static const uint64_t addrs[] = { 0, 0x7000, LAYOUT_KERNEL + 0x200, 0x3fffff,
					  63 * MIB + 5, 0xbfffffff, LAYOUT_IOAPIC + 0x10,
					  LAYOUT_LAPIC + 0x300, 0xffffffff };

	run_boot(&r, 64 * MIB, k, NULL, NULL);
	CHECK_EQ(r.ret, 0);
	if (r.ret == 0) {
		check_entry_state(&r);
		for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
			CHECK_EQ(walk(&r.mem, r.sregs.cr3, addrs[i]), addrs[i]);
		CHECK_EQ(walk(&r.mem, r.sregs.cr3, GM_4G), ~0ull); /* no RAM there */
	}
	gm_destroy(&r.mem);

	/* 5 GiB: RAM above 4 GiB is mapped too. */
	run_boot(&r, 5 * GIB, k, NULL, NULL);
	CHECK_EQ(r.ret, 0);
	if (r.ret == 0) {
		check_entry_state(&r);
		CHECK_EQ(walk(&r.mem, r.sregs.cr3, GM_4G + 0x123456), GM_4G + 0x123456);
		CHECK_EQ(walk(&r.mem, r.sregs.cr3, 6 * GIB - 1), 6 * GIB - 1);
		CHECK_EQ(walk(&r.mem, r.sregs.cr3, 6 * GIB), ~0ull);
	}
	gm_destroy(&r.mem);
	drop_file(k);
}

/* Identity maps beyond what 2 MiB pages can cover in the table area. */
TEST(boot_identity_map_large)
{
	const size_t len = LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES;
	uint8_t *pt = malloc(len);
	struct guest_mem fake;
	uint64_t cr3 = 0;

	CHECK(pt != NULL);
	if (!pt)
		return;
	/* A guest_mem view of the table area only, so walk() can read it. */
	memset(&fake, 0, sizeof(fake));
	fake.nr_regions = 1;
	fake.region[0].gpa = LAYOUT_PAGE_TABLES;
	fake.region[0].size = len;
	fake.region[0].host = pt;

	/* 100 GiB: 78 GiB in 2 MiB pages, the rest in 1 GiB pages. */
	CHECK_EQ(x86_identity_map_build(pt, LAYOUT_PAGE_TABLES, len, 100 * GIB, &cr3), 0);
	CHECK_EQ(cr3, LAYOUT_PAGE_TABLES);
	CHECK_EQ(walk(&fake, cr3, 0x1234567), 0x1234567);
	CHECK_EQ(walk(&fake, cr3, 77 * GIB + 0xabcdef), 77 * GIB + 0xabcdef);
	CHECK_EQ(walk(&fake, cr3, 90 * GIB + 0x12345678), 90 * GIB + 0x12345678);
	CHECK_EQ(walk(&fake, cr3, 100 * GIB - 1), 100 * GIB - 1);
	CHECK_EQ(walk(&fake, cr3, 100 * GIB), ~0ull);
	uint64_t pdpte77 = rd64(pt + 4096 + 77 * 8), pdpte78 = rd64(pt + 4096 + 78 * 8);
	CHECK_EQ(pdpte77 & PTE_PS, 0);
	CHECK_EQ(pdpte78 & PTE_PS, PTE_PS);

	/* 1 TiB + 1 byte: three PDPTs (the last GiB rounds up). */
	CHECK_EQ(x86_identity_map_build(pt, LAYOUT_PAGE_TABLES, len, 1024 * GIB + 1, &cr3), 0);
	CHECK_EQ(walk(&fake, cr3, 700 * GIB + 5), 700 * GIB + 5);
	CHECK_EQ(walk(&fake, cr3, 1024 * GIB + 5), 1024 * GIB + 5);
	CHECK_EQ(walk(&fake, cr3, 1025 * GIB), ~0ull);

	CHECK_EQ(x86_identity_map_build(pt, LAYOUT_PAGE_TABLES, len, 257ull << 40, &cr3),
		 -EINVAL);
	CHECK_EQ(x86_identity_map_build(pt, LAYOUT_PAGE_TABLES, 4096, 4 * GIB, &cr3), -ENOSPC);
	free(pt);
}

/* ---- write notifications ------------------------------------------------------ */

struct write_log {
	unsigned n;
	uint64_t start[64], end[64];
};

static void log_write(void *opaque, uint64_t gpa, uint64_t len)
{
	struct write_log *w = opaque;
	if (w->n < 64) {
		w->start[w->n] = gpa;
		w->end[w->n] = gpa + len;
		w->n++;
	}
}

static bool write_logged(const struct write_log *w, uint64_t start, uint64_t len)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->start[i] <= start && start + len <= w->end[i])
			return true;
	return false;
}

/* Everything the loader writes is reported through on_write, so a CPU that
 * caches decoded guest code (the soft CPU) never runs stale bytes. */
TEST(boot_write_notifications)
{
	struct bz_opts o = bz_default();
	char *k = make_bzimage(&o), *rd = temp_file("initrd", 6, 0);
	struct guest_mem mem;
	struct write_log w = { 0 };
	struct x86_regs regs;
	struct x86_sregs sregs;
	struct x86_boot_args args = { .kernel = k, .initrd = rd, .cmdline = "a", .ncpus = 1 };
	char err[256];

	CHECK_EQ(gm_init(&mem, 64 * MIB), 0);
	mem.on_write = log_write;
	mem.on_write_opaque = &w;
	CHECK_EQ(x86_boot_setup(&mem, &args, &regs, &sregs, err, sizeof(err)), 0);
	CHECK(write_logged(&w, LAYOUT_KERNEL, o.pm_size));
	CHECK(write_logged(&w, (64 * MIB - 6) & ~0xfffull, 6));
	CHECK(write_logged(&w, LAYOUT_BOOT_PARAMS, BP_SIZE));
	CHECK(write_logged(&w, LAYOUT_CMDLINE, 2));
	CHECK(write_logged(&w, LAYOUT_GDT, 32));
	CHECK(write_logged(&w, LAYOUT_PAGE_TABLES, LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES));
	CHECK(write_logged(&w, LAYOUT_ACPI_RSDP, LAYOUT_ACPI_END - LAYOUT_ACPI_RSDP));
	gm_destroy(&mem);
	drop_file(k);
	drop_file(rd);
}

/* ---- hostile files --------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Boot a mutated image: it must either load (entry inside RAM, initrd and
 * kernel inside RAM) or fail with one line naming the file. */
static void boot_mutant(struct guest_mem *mem, const uint8_t *img, size_t len, char *rd,
			unsigned *loaded, unsigned *refused)
{
	char *k = temp_file(img, len, 0);
	struct x86_boot_args args = { .kernel = k, .initrd = rd, .cmdline = "x", .ncpus = 1 };
	struct x86_regs regs;
	struct x86_sregs sregs;
	char err[256] = "";
	int ret;

	CHECK(k != NULL);
	if (!k)
		return;
	ret = x86_boot_setup(mem, &args, &regs, &sregs, err, sizeof(err));
	if (ret == 0) {
		const uint8_t *bp = gm_ptr(mem, LAYOUT_BOOT_PARAMS, BP_SIZE);
		CHECK(gm_is_ram(mem, regs.rip, 1));
		CHECK(bp && gm_is_ram(mem, rd32(bp + HDR_RAMDISK_IMAGE), rd32(bp + HDR_RAMDISK_SIZE)));
		CHECK(bp && rd32(bp + HDR_RAMDISK_IMAGE) >= LAYOUT_KERNEL);
		(*loaded)++;
	} else {
		CHECK(ret < 0);
		CHECK(strstr(err, k) != NULL && !strchr(err, '\n'));
		(*refused)++;
	}
	drop_file(k);
}

TEST(boot_hostile_images)
{
	struct bz_opts bo = bz_default();
	struct elf_opts eo = elf_default();
	size_t blen, elen;
	uint8_t *bz = build_bzimage(&bo, &blen), *elf = build_elf(&eo, &elen), *m;
	char *rd = temp_file("rd", 2, 0);
	struct guest_mem mem;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned loaded = 0, refused = 0;
	/* Header fields worth hitting with whole random values. */
	static const unsigned fields[] = { HDR_SYSSIZE, HDR_INITRD_ADDR_MAX, HDR_KERNEL_ALIGNMENT,
					   HDR_CMDLINE_SIZE, HDR_PREF_ADDRESS, HDR_PREF_ADDRESS + 4,
					   HDR_INIT_SIZE, HDR_VERSION, HDR_XLOADFLAGS };

	CHECK(bz && elf && rd);
	CHECK_EQ(gm_init(&mem, 64 * MIB), 0);
	m = malloc(blen > elen ? blen : elen);
	if (!bz || !elf || !rd || !m || !mem.nr_regions)
		goto out;
	for (int i = 0; i < 300; i++) {
		memcpy(m, bz, blen);
		if (i & 1) {
			unsigned f = fields[xorshift(&seed) % (sizeof(fields) / sizeof(fields[0]))];
			wr32(m + f, (uint32_t)xorshift(&seed));
		} else {
			for (int j = 0; j < 4; j++)
				m[HDR_SETUP_SECTS + xorshift(&seed) % (0x270 - HDR_SETUP_SECTS)] =
					(uint8_t)xorshift(&seed);
		}
		/* Keep the magic half the time so the deeper checks run. */
		if (i % 4 < 2)
			wr32(m + HDR_HEADER, HDR_MAGIC);
		boot_mutant(&mem, m, i % 5 ? blen : xorshift(&seed) % blen, rd, &loaded, &refused);
	}
	for (int i = 0; i < 300; i++) {
		size_t hdrs = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
		memcpy(m, elf, elen);
		for (int j = 0; j < 3; j++)
			m[xorshift(&seed) % hdrs] = (uint8_t)xorshift(&seed);
		boot_mutant(&mem, m, elen, rd, &loaded, &refused);
	}
	/* Both outcomes must actually occur, or the test proves nothing. */
	CHECK(loaded > 10);
	CHECK(refused > 100);
out:
	free(m);
	free(bz);
	free(elf);
	drop_file(rd);
	gm_destroy(&mem);
}
