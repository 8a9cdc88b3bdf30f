/* The raw block back end (src/backends/block_raw.c, block_worker.c) against real
 * files in /tmp: every open-time check, the OFD image lock (in-process and from a
 * forked child), scatter-gather round trips in each cache mode, O_DIRECT bounce
 * buffers with a forced 4 KiB alignment (read-modify-write of shared blocks under
 * concurrency), range checks that never touch the file, discard/write-zeroes space
 * accounting, exactly-once completion under load, and host errors (EFBIG from
 * RLIMIT_FSIZE; ENOSPC from a tiny tmpfs in a private mount namespace when allowed),
 * and a host block device (a loop device with 4 KiB sectors, when we may make one). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/block.h"
#include "unit.h"

/* ---- Helpers ------------------------------------------------------------------- */

/* A fresh image of `size` bytes (sparse) in /tmp; path written to buf. */
static void make_image(char *buf, size_t buflen, uint64_t size)
{
	snprintf(buf, buflen, "/tmp/isola-block-XXXXXX");
	int fd = mkstemp(buf);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, (off_t)size) == 0);
		close(fd);
	}
}

static int open_img(const char *path, bool ro, enum block_cache cache,
		    struct block_registry *reg, struct block_backend **b, char *err)
{
	struct block_spec spec = { .path = path, .readonly = ro, .cache = cache };
	return block_open(&spec, reg, b, err, 256);
}

/* One request waited for synchronously. */
struct sync_req {
	struct block_req req;
	atomic_int calls;
	int status;
};

static void sync_done(void *opaque, int status)
{
	struct sync_req *s = opaque;
	s->status = status;
	atomic_fetch_add(&s->calls, 1);
}

/* Submits and waits; returns the submit error or the completion status. */
static int run_req(struct block_backend *b, enum block_op op, uint64_t off,
		   const struct iovec *iov, unsigned cnt, uint64_t len, unsigned flags)
{
	struct sync_req s = { .req = { .op = op, .flags = flags, .offset = off, .iov = iov,
				       .iovcnt = cnt, .len = len, .done = sync_done } };
	s.req.opaque = &s;
	int ret = block_submit(b, &s.req);
	if (ret)
		return ret;
	block_drain(b);
	CHECK_EQ(atomic_load(&s.calls), 1);
	return s.status;
}

static int rw1(struct block_backend *b, enum block_op op, uint64_t off, void *buf, size_t n)
{
	struct iovec iov = { buf, n };
	return run_req(b, op, off, &iov, 1, 0, 0);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool one_line(const char *err)
{
	return err[0] && !strchr(err, '\n');
}

/* ---- Open-time checks ---------------------------------------------------------- */

TEST(block_open_missing)
{
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	char err[256] = "";
	CHECK_EQ(open_img("/tmp/isola-block-does-not-exist", false, BLOCK_CACHE_WRITEBACK,
			  &reg, &b, err), -ENOENT);
	CHECK(one_line(err) && strstr(err, "isola-block-does-not-exist"));
	CHECK(b == NULL && reg.n == 0);
}

TEST(block_open_not_regular)
{
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	char err[256] = "";
	CHECK_EQ(open_img("/tmp", false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), -EINVAL);
	CHECK(one_line(err) && strstr(err, "not a regular file"));
	err[0] = 0;
	CHECK_EQ(open_img("/dev/null", true, BLOCK_CACHE_WRITEBACK, &reg, &b, err), -EINVAL);
	CHECK(one_line(err) && strstr(err, "not a regular file"));
	/* A FIFO would block open() if the kind were checked after it. */
	char fifo[] = "/tmp/isola-block-fifo-XXXXXX";
	int fd = mkstemp(fifo);
	CHECK(fd >= 0);
	close(fd);
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK_EQ(open_img(fifo, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), -EINVAL);
	unlink(fifo);
	CHECK(reg.n == 0);
}

TEST(block_open_size_not_multiple_of_512)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	make_image(path, sizeof(path), 1000);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), -EINVAL);
	CHECK(one_line(err) && strstr(err, "multiple of 512"));
	unlink(path);
}

TEST(block_open_readonly_file_asked_readwrite)
{
	char path[64];
	make_image(path, sizeof(path), 64 * 1024);
	CHECK(chmod(path, 0444) == 0);
	/* Root ignores file modes: check as an unprivileged user in a child. */
	pid_t pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(3);
		struct block_registry reg = { 0 };
		struct block_backend *b = NULL;
		char err[256] = "";
		if (open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err) != -EACCES)
			_exit(1);
		if (!one_line(err) || !strstr(err, "readonly=on"))
			_exit(2);
		if (open_img(path, true, BLOCK_CACHE_WRITEBACK, &reg, &b, err))
			_exit(4);
		block_close(b);
		_exit(0);
	}
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(path);
}

TEST(block_open_same_image_twice)
{
	char path[64], link[80], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *a = NULL, *b = NULL;
	make_image(path, sizeof(path), 64 * 1024);
	snprintf(link, sizeof(link), "%s.lnk", path);
	CHECK(symlink(path, link) == 0);

	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &reg, &a, err), 0);
	CHECK_EQ(reg.n, 1);
	/* Same inode through another name, read-only both times: still refused. */
	CHECK_EQ(open_img(link, true, BLOCK_CACHE_WRITEBACK, &reg, &b, err), -EBUSY);
	CHECK(one_line(err) && strstr(err, "same image"));
	block_close(a);
	CHECK_EQ(reg.n, 0);
	/* Once closed it can be opened again. */
	CHECK_EQ(open_img(link, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	block_close(b);
	unlink(link);
	unlink(path);
}

TEST(block_open_bad_id_and_get_id)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	make_image(path, sizeof(path), 4096);
	struct block_spec spec = { .path = path, .id = "0123456789abcdefghijK" }; /* 21 */
	CHECK_EQ(block_open(&spec, &reg, &b, err, sizeof(err)), -EINVAL);
	CHECK(one_line(err) && strstr(err, "id"));

	uint8_t id[BLOCK_ID_LEN];
	spec.id = "0123456789abcdefghij"; /* exactly 20: no terminator */
	CHECK_EQ(block_open(&spec, &reg, &b, err, sizeof(err)), 0);
	block_get_id(b, id);
	CHECK(memcmp(id, "0123456789abcdefghij", 20) == 0);
	block_close(b);
	spec.id = "disk0";
	CHECK_EQ(block_open(&spec, &reg, &b, err, sizeof(err)), 0);
	block_get_id(b, id);
	CHECK(memcmp(id, "disk0", 5) == 0 && all_zero(id + 5, 15));
	CHECK_EQ(block_capacity(b), 4096);
	block_close(b);
	unlink(path);
}

/* ---- Image locks ---------------------------------------------------------------- */

/* Two registries stand for two isola processes: the registry does not see across
 * them, so only the OFD locks can refuse. */
TEST(block_lock_in_process)
{
	char path[64], err[256] = "";
	struct block_registry r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct block_backend *a = NULL, *b = NULL, *c = NULL;
	make_image(path, sizeof(path), 64 * 1024);

	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &r1, &a, err), 0);
	err[0] = 0;
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &r2, &b, err), -EBUSY);
	CHECK(one_line(err) && strstr(err, "in use"));
	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &r2, &b, err), -EBUSY);
	block_close(a);

	/* Readers share; a writer is refused while any reader holds the image. */
	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &r1, &a, err), 0);
	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &r2, &b, err), 0);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &r3, &c, err), -EBUSY);
	block_close(a);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &r3, &c, err), -EBUSY);
	block_close(b);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &r3, &c, err), 0);
	block_close(c);
	unlink(path);
}

TEST(block_lock_forked_child)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *a = NULL;
	make_image(path, sizeof(path), 64 * 1024);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &a, err), 0);

	for (int ro = 0; ro < 2; ro++) {
		pid_t pid = fork();
		if (pid == 0) {
			/* Another process with its own open of the image. */
			struct block_registry r = { 0 };
			struct block_backend *b = NULL;
			char e[256] = "";
			int ret = open_img(path, ro, BLOCK_CACHE_WRITEBACK, &r, &b, e);
			_exit(ret == -EBUSY ? 0 : 1);
		}
		int st = -1;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	block_close(a);

	/* Released on close: now the child gets it. */
	pid_t pid = fork();
	if (pid == 0) {
		struct block_registry r = { 0 };
		struct block_backend *b = NULL;
		char e[256] = "";
		int ret = open_img(path, false, BLOCK_CACHE_WRITEBACK, &r, &b, e);
		block_close(b);
		_exit(ret == 0 ? 0 : 1);
	}
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(path);
}

/* ---- Requests ------------------------------------------------------------------ */

/* Writes 12 KiB through five odd-sized segments, reads it back through three other
 * ones, and checks the file itself with pread. */
static void sg_round_trip(enum block_cache cache, unsigned dio_align)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	make_image(path, sizeof(path), 1 << 20);
	/* Non-zero neighbours, so that a read-modify-write that skips its read shows. */
	static uint8_t ones[65536];
	memset(ones, 0x11, sizeof(ones));
	int pfd = open(path, O_WRONLY);
	CHECK(pwrite(pfd, ones, sizeof(ones), 0) == (ssize_t)sizeof(ones));
	close(pfd);
	struct block_spec spec = { .path = path, .cache = cache, .dio_align = dio_align };
	int ret = block_open(&spec, &reg, &b, err, sizeof(err));
	if (ret == -EINVAL && cache == BLOCK_CACHE_NONE) {
		fprintf(stderr, "  note: no O_DIRECT under /tmp (%s); cache=none not tested\n",
			err);
		unlink(path);
		return;
	}
	CHECK_EQ(ret, 0);
	if (ret)
		return;

	enum { N = 12288 };
	uint8_t *src = malloc(N + 64), *dst = malloc(N + 64), *file = malloc(N);
	fill(src, N + 64, 7);
	memset(dst, 0xee, N + 64);
	/* Misaligned on purpose: odd addresses, lengths that are not sector multiples. */
	struct iovec w[5] = { { src + 1, 100 }, { src + 101, 3000 }, { src + 3101, 1 },
			      { src + 3102, 5000 }, { src + 8102, N - 8101 } };
	struct iovec r[3] = { { dst + 3, 777 }, { dst + 780, 9000 }, { dst + 9780, N - 9777 } };
	uint64_t off = 3 * 512; /* 512-aligned, not 4096-aligned */
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE, off, w, 5, 0, 0), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_READ, off, r, 3, 0, 0), 0);
	CHECK(memcmp(dst + 3, src + 1, N) == 0);
	CHECK(dst[2] == 0xee && dst[N + 3] == 0xee); /* nothing written outside */

	int fd = open(path, O_RDONLY);
	CHECK(pread(fd, file, N, (off_t)off) == N);
	CHECK(memcmp(file, src + 1, N) == 0);
	/* The RMW head and tail blocks kept their neighbours. */
	uint8_t side[512];
	CHECK(pread(fd, side, 512, (off_t)off - 512) == 512);
	CHECK(memcmp(side, ones, 512) == 0);
	CHECK(pread(fd, side, 512, (off_t)(off + N)) == 512);
	CHECK(memcmp(side, ones, 512) == 0);
	close(fd);

	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	block_close(b);
	free(src);
	free(dst);
	free(file);
	unlink(path);
}

TEST(block_rw_sg_writeback)
{
	sg_round_trip(BLOCK_CACHE_WRITEBACK, 0);
}

TEST(block_rw_sg_unsafe)
{
	sg_round_trip(BLOCK_CACHE_UNSAFE, 0);
}

TEST(block_rw_sg_cache_none)
{
	sg_round_trip(BLOCK_CACHE_NONE, 0);
}

/* 4 KiB O_DIRECT alignment on 512-byte requests: every write is a read-modify-write. */
TEST(block_rw_sg_cache_none_4k_rmw)
{
	sg_round_trip(BLOCK_CACHE_NONE, 4096);
}

/* Many 512-byte writes to the eight sectors of the same 4 KiB blocks at once: each
 * is an RMW of a block its neighbours also rewrite; none may be lost. */
struct count_ctx {
	atomic_int *calls;
	atomic_int *errors;
};

static void count_done(void *opaque, int status)
{
	atomic_int *c = opaque;
	atomic_fetch_add(c, 1);
	if (status)
		atomic_fetch_add(c, 1000000); /* shows up as a wrong count */
}

TEST(block_cache_none_rmw_concurrent)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	make_image(path, sizeof(path), 64 * 1024);
	struct block_spec spec = { .path = path, .cache = BLOCK_CACHE_NONE, .dio_align = 4096,
				   .workers = 8 };
	int ret = block_open(&spec, &reg, &b, err, sizeof(err));
	if (ret == -EINVAL) {
		fprintf(stderr, "  note: no O_DIRECT under /tmp (%s); not tested\n", err);
		unlink(path);
		return;
	}
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	CHECK_EQ(block_logical_block_size(b), 4096);

	enum { NS = 128 }; /* 16 blocks × 8 sectors */
	static uint8_t data[NS][513];
	static struct iovec iov[NS];
	static struct block_req req[NS];
	static atomic_int calls[NS];
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < NS; i++) {
			fill(data[i] + 1, 512, (unsigned)(i + round * NS));
			iov[i] = (struct iovec){ data[i] + 1, 512 };
			atomic_store(&calls[i], 0);
			/* Interleave so that neighbours in one block run together. */
			int s = (i % 8) * 16 + i / 8;
			req[i] = (struct block_req){ .op = BLOCK_OP_WRITE, .offset = (uint64_t)s * 512,
						     .iov = &iov[i], .iovcnt = 1,
						     .done = count_done, .opaque = &calls[i] };
			CHECK_EQ(block_submit(b, &req[i]), 0);
		}
		block_drain(b);
		int fd = open(path, O_RDONLY);
		uint8_t got[512];
		for (int i = 0; i < NS; i++) {
			int s = (i % 8) * 16 + i / 8;
			CHECK_EQ(atomic_load(&calls[i]), 1);
			CHECK(pread(fd, got, 512, (off_t)s * 512) == 512);
			CHECK(memcmp(got, data[i] + 1, 512) == 0);
		}
		close(fd);
	}
	block_close(b);
	unlink(path);
}

TEST(block_out_of_range_refused_without_touching_file)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	const uint64_t size = 64 * 1024;
	make_image(path, sizeof(path), size);
	struct stat st0, st1;
	CHECK(stat(path, &st0) == 0);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);

	uint8_t buf[1024];
	fill(buf, sizeof(buf), 1);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, size, buf, 512), -ERANGE);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, size - 512, buf, 1024), -ERANGE);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, size, buf, 512), -ERANGE);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, UINT64_MAX - 511, buf, 1024), -ERANGE);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, buf, 511), -EINVAL);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 100, buf, 512), -EINVAL);
	CHECK_EQ(run_req(b, BLOCK_OP_DISCARD, size - 512, NULL, 0, 1024, 0), -ERANGE);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 0, NULL, 0, size + 512, 0), -ERANGE);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 0, NULL, 0, 700, 0), -EINVAL);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE, 0, NULL, 0, 0, 0), -EINVAL);
	CHECK_EQ(run_req(b, (enum block_op)99, 0, NULL, 0, 0, 0), -EOPNOTSUPP);
	/* Segment lengths whose sum wraps around. */
	struct iovec wrap[2] = { { buf, SIZE_MAX - 511 }, { buf, 1024 } };
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE, 0, wrap, 2, 0, 0), -EINVAL);
	/* The last sector is in range. */
	CHECK_EQ(rw1(b, BLOCK_OP_READ, size - 512, buf, 512), 0);
	block_close(b);

	CHECK(stat(path, &st1) == 0);
	CHECK_EQ(st1.st_size, size);
	CHECK_EQ(st1.st_blocks, st0.st_blocks);
	CHECK(st1.st_mtim.tv_sec == st0.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec);

	/* Read-only: writes of every kind refused, reads and flush served. */
	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	CHECK(block_readonly(b));
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, buf, 512), -EROFS);
	CHECK_EQ(run_req(b, BLOCK_OP_DISCARD, 0, NULL, 0, 512, 0), -EROFS);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 0, NULL, 0, 512, 0), -EROFS);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, 512), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	block_close(b);
	CHECK(stat(path, &st1) == 0);
	CHECK(st1.st_mtim.tv_sec == st0.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st0.st_mtim.tv_nsec);
	unlink(path);
}

static blkcnt_t blocks_of(const char *path)
{
	struct stat st;
	CHECK(stat(path, &st) == 0);
	return st.st_blocks;
}

static void discard_case(enum block_cache cache)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	const size_t n = 1 << 20;
	make_image(path, sizeof(path), 4 << 20);
	int ret = open_img(path, false, cache, &reg, &b, err);
	if (ret == -EINVAL && cache == BLOCK_CACHE_NONE) {
		fprintf(stderr, "  note: no O_DIRECT under /tmp; cache=none not tested\n");
		unlink(path);
		return;
	}
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	uint8_t *buf = aligned_alloc(4096, n);
	fill(buf, n, 3);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 1 << 20, buf, n), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	blkcnt_t full = blocks_of(path);
	CHECK(full >= (blkcnt_t)(n / 512));

	ret = run_req(b, BLOCK_OP_DISCARD, 1 << 20, NULL, 0, n, 0);
	if (ret == -EOPNOTSUPP) {
		fprintf(stderr, "  note: /tmp cannot punch holes; discard answers UNSUPP\n");
	} else {
		CHECK_EQ(ret, 0);
		CHECK(blocks_of(path) <= full - (blkcnt_t)(n / 512));
		struct stat st;
		CHECK(stat(path, &st) == 0 && st.st_size == 4 << 20);
	}
	block_close(b);
	free(buf);
	unlink(path);
}

TEST(block_discard_keeps_image_sparse)
{
	discard_case(BLOCK_CACHE_WRITEBACK);
	discard_case(BLOCK_CACHE_NONE);
}

TEST(block_write_zeroes)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	const size_t n = 256 * 1024;
	make_image(path, sizeof(path), 1 << 20);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	uint8_t *buf = malloc(n);

	/* Without MAY_UNMAP: zeros, and the space stays allocated. */
	fill(buf, n, 5);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, buf, n), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	blkcnt_t full = blocks_of(path);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 4096, NULL, 0, n - 8192, 0), 0);
	memset(buf, 0xaa, n);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, n), 0);
	CHECK(all_zero(buf + 4096, n - 8192));
	uint8_t ref[4096];
	fill(ref, sizeof(ref), 0);
	uint8_t *pat = malloc(n);
	fill(pat, n, 5);
	CHECK(memcmp(buf, pat, 4096) == 0 && memcmp(buf + n - 4096, pat + n - 4096, 4096) == 0);
	CHECK(blocks_of(path) >= full - 8); /* allocated zeros (ZERO_RANGE) */

	/* With MAY_UNMAP: zeros, and the space is given back. */
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, pat, n), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 0, NULL, 0, n, BLOCK_REQ_MAY_UNMAP), 0);
	memset(buf, 0xaa, n);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, n), 0);
	CHECK(all_zero(buf, n));
	CHECK(blocks_of(path) < full);
	block_close(b);

	/* cache=none with 4 KiB alignment: the sub-block edges go through RMW. */
	struct block_spec spec = { .path = path, .cache = BLOCK_CACHE_NONE, .dio_align = 4096 };
	if (block_open(&spec, &reg, &b, err, sizeof(err)) == 0) {
		CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, pat, n), 0);
		CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 512, NULL, 0, n - 1024, 0), 0);
		CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, n), 0);
		CHECK(memcmp(buf, pat, 512) == 0 && all_zero(buf + 512, n - 1024) &&
		      memcmp(buf + n - 512, pat + n - 512, 512) == 0);
		block_close(b);
	}
	free(pat);
	free(buf);
	unlink(path);
}

/* Flush answers 0 in every mode; a flushed write is in the file for another reader. */
TEST(block_flush)
{
	enum block_cache modes[] = { BLOCK_CACHE_WRITEBACK, BLOCK_CACHE_NONE, BLOCK_CACHE_UNSAFE };
	for (unsigned m = 0; m < 3; m++) {
		char path[64], err[256] = "";
		struct block_registry reg = { 0 };
		struct block_backend *b = NULL;
		make_image(path, sizeof(path), 64 * 1024);
		if (open_img(path, false, modes[m], &reg, &b, err)) {
			CHECK(modes[m] == BLOCK_CACHE_NONE);
			unlink(path);
			continue;
		}
		uint8_t buf[4096], got[4096];
		fill(buf, sizeof(buf), m);
		CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 8192, buf, sizeof(buf)), 0);
		CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
		int fd = open(path, O_RDONLY);
		CHECK(pread(fd, got, sizeof(got), 8192) == (ssize_t)sizeof(got));
		CHECK(memcmp(got, buf, sizeof(buf)) == 0);
		close(fd);
		block_close(b);
		unlink(path);
	}
}

/* 2000 requests through a queue of depth 32: each completes exactly once, -EAGAIN is
 * the only refusal, and a callback may submit (a chain of follow-up reads). */
enum { CC_N = 2000, CC_SZ = 4096 };
struct cc_state {
	struct block_backend *b;
	uint8_t *data;          /* CC_N × CC_SZ */
	struct iovec iov[CC_N];
	struct block_req req[CC_N];
	atomic_int calls[CC_N];
	atomic_int bad;
	/* The chain: a callback resubmits the next read from the worker thread. */
	struct block_req chain;
	struct iovec chain_iov;
	uint8_t chain_buf[CC_SZ];
	atomic_int chain_left, chain_done;
};

static void cc_done(void *opaque, int status)
{
	atomic_int *c = opaque;
	atomic_fetch_add(c, 1);
	(void)status;
}

static void chain_done(void *opaque, int status)
{
	struct cc_state *s = opaque;
	if (status)
		atomic_fetch_add(&s->bad, 1);
	if (atomic_fetch_sub(&s->chain_left, 1) > 1) {
		s->chain.offset = (s->chain.offset + CC_SZ) % ((uint64_t)CC_N * CC_SZ);
		if (block_submit(s->b, &s->chain))
			atomic_fetch_add(&s->bad, 1);
	} else {
		atomic_store(&s->chain_done, 1);
	}
}

TEST(block_concurrent_exactly_once)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct cc_state *s = calloc(1, sizeof(*s));
	make_image(path, sizeof(path), (uint64_t)CC_N * CC_SZ);
	struct block_spec spec = { .path = path, .workers = 4, .depth = 32 };
	CHECK_EQ(block_open(&spec, &reg, &s->b, err, sizeof(err)), 0);
	s->data = malloc((size_t)CC_N * CC_SZ);
	int eagain = 0;
	for (int i = 0; i < CC_N; i++) {
		fill(s->data + (size_t)i * CC_SZ, CC_SZ, (unsigned)i);
		s->iov[i] = (struct iovec){ s->data + (size_t)i * CC_SZ, CC_SZ };
		s->req[i] = (struct block_req){ .op = BLOCK_OP_WRITE, .offset = (uint64_t)i * CC_SZ,
						.iov = &s->iov[i], .iovcnt = 1, .done = cc_done,
						.opaque = &s->calls[i] };
		int ret;
		while ((ret = block_submit(s->b, &s->req[i])) == -EAGAIN) {
			eagain++;
			sched_yield();
		}
		CHECK_EQ(ret, 0);
	}
	block_drain(s->b);
	for (int i = 0; i < CC_N; i++)
		CHECK_EQ(atomic_load(&s->calls[i]), 1);
	fprintf(stderr, "  note: %d submissions waited for a full queue\n", eagain);

	s->chain_iov = (struct iovec){ s->chain_buf, CC_SZ };
	s->chain = (struct block_req){ .op = BLOCK_OP_READ, .iov = &s->chain_iov, .iovcnt = 1,
				       .done = chain_done, .opaque = s };
	atomic_store(&s->chain_left, 50);
	CHECK_EQ(block_submit(s->b, &s->chain), 0);
	while (!atomic_load(&s->chain_done))
		sched_yield();
	block_drain(s->b);
	CHECK_EQ(atomic_load(&s->bad), 0);
	fill(s->data, CC_SZ, 49);
	CHECK(memcmp(s->chain_buf, s->data, CC_SZ) == 0); /* the 50th read was block 49 */

	/* Close with requests still queued: they complete, then the threads stop. */
	for (int i = 0; i < 32; i++) {
		atomic_store(&s->calls[i], 0);
		s->req[i].op = BLOCK_OP_READ;
		CHECK_EQ(block_submit(s->b, &s->req[i]), 0);
	}
	block_close(s->b);
	for (int i = 0; i < 32; i++)
		CHECK_EQ(atomic_load(&s->calls[i]), 1);
	free(s->data);
	free(s);
	unlink(path);
}

/* ---- Host errors --------------------------------------------------------------- */

/* In a child with RLIMIT_FSIZE below the image's end, a write past the limit gets a
 * real EFBIG from the kernel: it must come back as that request's status, and the back
 * end must go on serving. */
TEST(block_host_error_efbig)
{
	char path[64];
	make_image(path, sizeof(path), 1 << 20);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = { 512 * 1024, 512 * 1024 };
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(10);
		struct block_registry reg = { 0 };
		struct block_backend *b = NULL;
		char err[256];
		if (open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err))
			_exit(11);
		static uint8_t buf[8192];
		/* The error lines go to a file here, to count them: a guest that
		 * repeats a failing write must not flood the log. */
		char logpath[] = "/tmp/isola-block-log-XXXXXX";
		int logfd = mkstemp(logpath);
		if (logfd < 0 || dup2(logfd, 2) < 0)
			_exit(16);
		for (int i = 0; i < 50; i++)
			if (rw1(b, BLOCK_OP_WRITE, 1024 * 1024 - 8192, buf, sizeof(buf)) != -EFBIG)
				_exit(12);
		char logbuf[16384];
		ssize_t n = pread(logfd, logbuf, sizeof(logbuf) - 1, 0);
		unlink(logpath);
		int lines = 0;
		for (ssize_t i = 0; i < n; i++)
			lines += logbuf[i] == '\n';
		if (n <= 0 || !memmem(logbuf, (size_t)n, "File too large", 14) || lines > 11)
			_exit(17);
		if (rw1(b, BLOCK_OP_WRITE, 0, buf, sizeof(buf)) != 0)
			_exit(13);
		if (rw1(b, BLOCK_OP_READ, 0, buf, sizeof(buf)) != 0)
			_exit(14);
		block_close(b);
		_exit(unit_failures ? 15 : 0);
	}
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	unlink(path);
}

/* A real ENOSPC: a 256 KiB tmpfs mounted in a private mount namespace of a child,
 * holding a 1 MiB sparse image. Needs CAP_SYS_ADMIN; without it, says so and passes
 * (EFBIG above covers the error path). */
TEST(block_host_error_enospc)
{
	pid_t pid = fork();
	if (pid == 0) {
		char dir[] = "/tmp/isola-block-mnt-XXXXXX";
		if (!mkdtemp(dir))
			_exit(20);
		if (unshare(CLONE_NEWNS) || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", dir, "tmpfs", 0, "size=256k")) {
			rmdir(dir);
			_exit(77);
		}
		char path[96];
		snprintf(path, sizeof(path), "%s/img", dir);
		int fd = open(path, O_CREAT | O_RDWR, 0600);
		if (fd < 0 || ftruncate(fd, 1 << 20))
			_exit(21);
		close(fd);
		struct block_registry reg = { 0 };
		struct block_backend *b = NULL;
		char err[256];
		if (open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err))
			_exit(22);
		static uint8_t buf[1 << 20];
		memset(buf, 0x5a, sizeof(buf));
		int ret = rw1(b, BLOCK_OP_WRITE, 0, buf, sizeof(buf));
		if (ret != -ENOSPC)
			_exit(23);
		if (rw1(b, BLOCK_OP_READ, 0, buf, 4096) != 0) /* still serving */
			_exit(24);
		block_close(b);
		umount(dir);
		rmdir(dir);
		_exit(unit_failures ? 25 : 0);
	}
	int st = -1;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		fprintf(stderr, "  note: no private mount namespace here; ENOSPC not tested\n");
	else
		CHECK_EQ(WEXITSTATUS(st), 0);
}

/* ---- A host block device ------------------------------------------------------- */

/* Attaches backing to a free loop device with 4 KiB logical sectors, detached by the
 * kernel when its last user closes it (LO_FLAGS_AUTOCLEAR). Returns the loop fd (keep
 * it open while testing) and its path, or -1 when this host does not let us. */
static int loop_attach(const char *backing, char *dev, size_t devlen)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	int bfd = open(backing, O_RDWR | O_CLOEXEC);
	for (int tries = 0; bfd >= 0 && tries < 5; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(dev, devlen, "/dev/loop%d", n);
		int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			break;
		struct loop_config cfg = { .fd = (uint32_t)bfd, .block_size = 4096 };
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			close(bfd);
			close(ctl);
			return lfd;
		}
		close(lfd); /* raced with another user of loop devices: try the next */
	}
	if (bfd >= 0)
		close(bfd);
	close(ctl);
	return -1;
}

TEST(block_host_block_device)
{
	char path[64], dev[32], err[256] = "";
	make_image(path, sizeof(path), 4 << 20);
	int lfd = loop_attach(path, dev, sizeof(dev));
	if (lfd < 0) {
		fprintf(stderr, "  note: cannot create a loop device here; block devices not "
			"tested\n");
		unlink(path);
		return;
	}
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL, *b2 = NULL;
	uint8_t *pat = aligned_alloc(4096, 16384), *buf = aligned_alloc(4096, 16384);
	fill(pat, 16384, 9);

	CHECK_EQ(open_img(dev, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	if (!b)
		goto out;
	CHECK_EQ(block_capacity(b), 4 << 20);
	CHECK_EQ(open_img(dev, true, BLOCK_CACHE_WRITEBACK, &reg, &b2, err), -EBUSY);
	CHECK(strstr(err, "same image"));
	/* 512-byte requests on 4 KiB sectors go through the page cache. */
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, pat, 16384), 0);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 512, pat + 8192, 512), 0);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, 1024), 0);
	CHECK(memcmp(buf, pat, 512) == 0 && memcmp(buf + 512, pat + 8192, 512) == 0);
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	block_close(b);
	b = NULL;

	/* cache=none: O_DIRECT needs 4 KiB here; sub-block requests are RMWs. */
	struct block_spec spec = { .path = dev, .cache = BLOCK_CACHE_NONE };
	CHECK_EQ(block_open(&spec, &reg, &b, err, sizeof(err)), 0);
	if (!b)
		goto out;
	CHECK_EQ(block_logical_block_size(b), 4096);
	fill(pat, 16384, 10);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, pat, 16384), 0);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 1024, pat + 8192 + 1, 512), 0); /* unaligned too */
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 512, buf + 1, 1536), 0);
	CHECK(memcmp(buf + 1, pat + 512, 512) == 0);
	CHECK(memcmp(buf + 513, pat + 8193, 512) == 0);
	CHECK(memcmp(buf + 1025, pat + 1536, 512) == 0);

	/* Write-zeroes of part of a sector and of whole sectors. */
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 512, NULL, 0, 512, 0), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_WRITE_ZEROES, 8192, NULL, 0, 4096, BLOCK_REQ_MAY_UNMAP), 0);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, 16384), 0);
	CHECK(memcmp(buf, pat, 512) == 0 && all_zero(buf + 512, 512));
	CHECK(all_zero(buf + 8192, 4096) && memcmp(buf + 12288, pat + 12288, 4096) == 0);
	/* Discard covers whole sectors only: [512, 4096) is left, [4096, 8192) goes. */
	int ret = run_req(b, BLOCK_OP_DISCARD, 512, NULL, 0, 8192 - 512, 0);
	CHECK(ret == 0 || ret == -EOPNOTSUPP);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, 8192), 0);
	CHECK(memcmp(buf, pat, 512) == 0 && all_zero(buf + 512, 512) &&
	      memcmp(buf + 1024, pat + 8193, 512) == 0 &&
	      memcmp(buf + 1536, pat + 1536, 2560) == 0);
	if (ret == 0)
		CHECK(all_zero(buf + 4096, 4096));
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	block_close(b);
out:
	close(lfd);
	free(pat);
	free(buf);
	unlink(path);
}

/* ---- Several ranges in one DISCARD / WRITE_ZEROES ------------------------------- */

static int run_ranges(struct block_backend *b, enum block_op op, const struct block_range *r,
		      unsigned n)
{
	struct sync_req s = { .req = { .op = op, .ranges = r, .nranges = n, .done = sync_done } };
	s.req.opaque = &s;
	int ret = block_submit(b, &s.req);
	if (ret)
		return ret;
	block_drain(b);
	CHECK_EQ(atomic_load(&s.calls), 1);
	return s.status;
}

/* Every range is checked before any runs: one bad range refuses the request and
 * leaves the file as it was; good ranges each get their own flags. */
TEST(block_ranges_all_or_nothing)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	const uint64_t size = 64 * 1024;
	uint8_t *pat = malloc(size), *buf = malloc(size);
	make_image(path, sizeof(path), size);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	fill(pat, size, 9);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, pat, size), 0);

	const struct block_range bad_end[2] = { { 0, 4096, 0 }, { size - 512, 1024, 0 } };
	const struct block_range bad_align[2] = { { 0, 4096, 0 }, { 4096, 100, 0 } };
	const struct block_range wrap[2] = { { 0, 4096, 0 }, { UINT64_MAX - 511, 1024, 0 } };
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, bad_end, 2), -ERANGE);
	CHECK_EQ(run_ranges(b, BLOCK_OP_DISCARD, bad_end, 2), -ERANGE);
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, bad_align, 2), -EINVAL);
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, wrap, 2), -ERANGE);
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, bad_end, BLOCK_MAX_RANGES + 1), -EINVAL);
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, NULL, 1), -EINVAL);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, size), 0);
	CHECK(memcmp(buf, pat, size) == 0);

	const struct block_range good[3] = { { 512, 512, 0 },
					     { 8192, 8192, BLOCK_REQ_MAY_UNMAP },
					     { size - 1024, 1024, 0 } };
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, good, 3), 0);
	memset(pat + 512, 0, 512);
	memset(pat + 8192, 0, 8192);
	memset(pat + size - 1024, 0, 1024);
	CHECK_EQ(rw1(b, BLOCK_OP_READ, 0, buf, size), 0);
	CHECK(memcmp(buf, pat, size) == 0);
	block_close(b);

	/* Read-only: refused as a whole. */
	CHECK_EQ(open_img(path, true, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	CHECK_EQ(run_ranges(b, BLOCK_OP_DISCARD, good, 3), -EROFS);
	CHECK_EQ(run_ranges(b, BLOCK_OP_WRITE_ZEROES, good, 3), -EROFS);
	block_close(b);
	free(pat);
	free(buf);
	unlink(path);
}

/* Several discard ranges each punch their hole; the size stays. */
TEST(block_ranges_discard_sparse)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	const size_t n = 256 * 1024;
	uint8_t *buf = malloc(n);
	make_image(path, sizeof(path), n);
	CHECK_EQ(open_img(path, false, BLOCK_CACHE_WRITEBACK, &reg, &b, err), 0);
	fill(buf, n, 4);
	CHECK_EQ(rw1(b, BLOCK_OP_WRITE, 0, buf, n), 0);
	CHECK_EQ(run_req(b, BLOCK_OP_FLUSH, 0, NULL, 0, 0, 0), 0);
	blkcnt_t full = blocks_of(path);
	const struct block_range r[3] = { { 0, 65536, 0 }, { 131072, 32768, 0 },
					  { 196608, 65536, 0 } };
	int ret = run_ranges(b, BLOCK_OP_DISCARD, r, 3);
	if (ret == -EOPNOTSUPP) {
		fprintf(stderr, "  note: /tmp cannot punch holes; discard answers UNSUPP\n");
	} else {
		CHECK_EQ(ret, 0);
		CHECK(blocks_of(path) <= full - (65536 + 32768 + 65536) / 512);
		struct stat st;
		CHECK(stat(path, &st) == 0 && st.st_size == (off_t)n);
	}
	block_close(b);
	free(buf);
	unlink(path);
}

static void sync_mark(void *opaque, int status)
{
	*(int *)opaque = status == 0 ? 1 : status;
}

/* block_spec.sync: done runs inside block_submit, on this thread. */
TEST(block_sync_completes_inside_submit)
{
	char path[64], err[256] = "";
	struct block_registry reg = { 0 };
	struct block_backend *b = NULL;
	uint8_t buf[1024], back[1024];
	make_image(path, sizeof(path), 64 * 1024);
	struct block_spec spec = { .path = path, .cache = BLOCK_CACHE_WRITEBACK, .sync = true };
	CHECK_EQ(block_open(&spec, &reg, &b, err, sizeof(err)), 0);
	if (!b)
		return;
	CHECK(block_is_sync(b));
	fill(buf, sizeof(buf), 7);
	int mark = 0;
	struct iovec iov = { buf, sizeof(buf) };
	struct block_req w = { .op = BLOCK_OP_WRITE, .offset = 2048, .iov = &iov, .iovcnt = 1,
			       .done = sync_mark, .opaque = &mark };
	CHECK_EQ(block_submit(b, &w), 0);
	CHECK_EQ(mark, 1);
	mark = 0;
	struct iovec riov = { back, sizeof(back) };
	struct block_req rd = { .op = BLOCK_OP_READ, .offset = 2048, .iov = &riov, .iovcnt = 1,
				.done = sync_mark, .opaque = &mark };
	CHECK_EQ(block_submit(b, &rd), 0);
	CHECK_EQ(mark, 1);
	CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	/* Refusals are still refusals: done is not called. */
	mark = 0;
	rd.offset = 64 * 1024;
	CHECK_EQ(block_submit(b, &rd), -ERANGE);
	CHECK_EQ(mark, 0);
	block_drain(b);
	block_close(b);

	/* cache=none has its own bounce buffer when there are no workers. */
	spec.cache = BLOCK_CACHE_NONE;
	spec.dio_align = 4096;
	if (block_open(&spec, &reg, &b, err, sizeof(err)) == 0) {
		mark = 0;
		rd.offset = 2048 + 512; /* unaligned: through the bounce buffer */
		riov.iov_len = 512;
		CHECK_EQ(block_submit(b, &rd), 0);
		CHECK_EQ(mark, 1);
		CHECK(memcmp(back, buf + 512, 512) == 0);
		block_close(b);
	}
	unlink(path);
}
