/* Helper for tests/integration/block_durability.sh: drives the block back end
 * (src/backends/block.h) the way the virtio-blk device will, in a process the script
 * can kill -9.
 *
 *   block_durability write IMG CACHE   write the pattern with scatter-gather requests,
 *                                      flush, print "FLUSHED", then keep writing other
 *                                      data (never flushed) until killed
 *   block_durability verify IMG        exit 0 if the pattern is in IMG, 1 if not
 *   block_durability clean IMG         exit 0 if none of the pattern's pages is dirty in
 *                                      the host page cache (fdatasync wrote them back),
 *                                      1 if some are, 5 if this host cannot tell
 *   block_durability flush IMG CACHE   one write and one flush, then exit (run under
 *                                      strace to see what flush does)
 *   block_durability open IMG ro|rw    try to open: exit 0 opened, 3 refused as busy
 *                                      (the lock), 4 other error; the error on stderr
 *   block_durability hold IMG ro|rw    open, print "OPEN", wait until killed
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "backends/block.h"

/* The pattern: PAT_REQS requests of PAT_LEN bytes at PAT_STRIDE apart, each written
 * from PAT_SEGS segments of unequal size at odd addresses. */
#define PAT_REQS 16
#define PAT_LEN (64 * 1024)
#define PAT_STRIDE (256 * 1024)
#define PAT_SEGS 4
#define IMAGE_MIN ((uint64_t)PAT_REQS * PAT_STRIDE + (8u << 20))

static uint8_t pattern_byte(uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull;
	return (uint8_t)(x >> 56) ^ (uint8_t)(off >> 9);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;
	int first_error;
};

static void waiter_done(void *opaque, int status)
{
	struct waiter *w = opaque;
	pthread_mutex_lock(&w->lock);
	if (status && !w->first_error)
		w->first_error = status;
	w->pending--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->pending)
		pthread_cond_wait(&w->cond, &w->lock);
	int ret = w->first_error;
	pthread_mutex_unlock(&w->lock);
	return ret;
}

static int submit(struct block_backend *b, struct waiter *w, struct block_req *req)
{
	req->done = waiter_done;
	req->opaque = w;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_mutex_unlock(&w->lock);
	int ret = block_submit(b, req);
	if (ret) {
		pthread_mutex_lock(&w->lock);
		w->pending--;
		pthread_mutex_unlock(&w->lock);
	}
	return ret;
}

static int open_backend(const char *path, bool ro, const char *cache, struct block_registry *reg,
			struct block_backend **b)
{
	struct block_spec spec = { .path = path, .readonly = ro };
	char err[256];
	if (cache && block_cache_parse(cache, &spec.cache)) {
		fprintf(stderr, "block_durability: unknown cache mode %s\n", cache);
		return -EINVAL;
	}
	int ret = block_open(&spec, reg, b, err, sizeof(err));
	if (ret)
		fprintf(stderr, "%s\n", err);
	return ret;
}

static int do_write(const char *path, const char *cache)
{
	struct block_registry reg = { 0 };
	struct block_backend *b;
	if (open_backend(path, false, cache, &reg, &b))
		return 2;
	if (block_capacity(b) < IMAGE_MIN) {
		fprintf(stderr, "block_durability: image smaller than %llu bytes\n",
			(unsigned long long)IMAGE_MIN);
		return 2;
	}
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	static uint8_t buf[PAT_REQS][PAT_LEN + 1];
	static struct iovec iov[PAT_REQS][PAT_SEGS];
	static struct block_req req[PAT_REQS];
	static const size_t seg_len[PAT_SEGS] = { 1000, 20000, 24, PAT_LEN - 21024 };

	/* All requests in flight at once, then one flush after they completed: the
	 * guest's order (VIRTIO 1.2 §5.2.6.2 — flush covers completed writes). */
	for (int r = 0; r < PAT_REQS; r++) {
		uint64_t off = (uint64_t)r * PAT_STRIDE;
		for (size_t i = 0; i < PAT_LEN; i++)
			buf[r][1 + i] = pattern_byte(off + i);
		size_t pos = 1;
		for (int s = 0; s < PAT_SEGS; s++) {
			iov[r][s] = (struct iovec){ buf[r] + pos, seg_len[s] };
			pos += seg_len[s];
		}
		req[r] = (struct block_req){ .op = BLOCK_OP_WRITE, .offset = off, .iov = iov[r],
					     .iovcnt = PAT_SEGS };
		if (submit(b, &w, &req[r])) {
			fprintf(stderr, "block_durability: submit refused\n");
			return 2;
		}
	}
	int ret = waiter_wait(&w);
	struct block_req flush = { .op = BLOCK_OP_FLUSH };
	if (!ret)
		ret = submit(b, &w, &flush);
	if (!ret)
		ret = waiter_wait(&w);
	if (ret) {
		fprintf(stderr, "block_durability: write/flush failed: %s\n", strerror(-ret));
		return 2;
	}
	printf("FLUSHED\n");
	fflush(stdout);

	/* Keep the back end busy (never flushed) so that the kill lands mid-I/O. */
	static uint8_t junk[1 << 20];
	memset(junk, 0xa5, sizeof(junk));
	struct iovec jiov = { junk, sizeof(junk) };
	uint64_t base = (uint64_t)PAT_REQS * PAT_STRIDE;
	for (uint64_t n = 0;; n++) {
		struct block_req jr = { .op = BLOCK_OP_WRITE, .offset = base + (n % 8) * sizeof(junk),
					.iov = &jiov, .iovcnt = 1 };
		if (submit(b, &w, &jr) == 0)
			waiter_wait(&w);
	}
}

static int do_verify(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return 2;
	}
	static uint8_t got[PAT_LEN];
	for (int r = 0; r < PAT_REQS; r++) {
		uint64_t off = (uint64_t)r * PAT_STRIDE;
		if (pread(fd, got, PAT_LEN, (off_t)off) != PAT_LEN)
			return 1;
		for (size_t i = 0; i < PAT_LEN; i++) {
			if (got[i] != pattern_byte(off + i)) {
				fprintf(stderr, "block_durability: byte %llu differs\n",
					(unsigned long long)(off + i));
				return 1;
			}
		}
	}
	close(fd);
	return 0;
}

/* Looks the pattern's page-cache pages up in /proc/kpageflags (through a shared
 * read-only mapping of the image and /proc/self/pagemap; root only). Right after a
 * flush they must be clean: the kernel writes dirty pages back on its own only after
 * dirty_expire_centisecs (30 s by default). */
#define KPF_DIRTY 4
static int do_clean(const char *path)
{
	int fd = open(path, O_RDONLY);
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0 || pm < 0 || kf < 0)
		return 5;
	size_t len = (size_t)PAT_REQS * PAT_STRIDE;
	long page = sysconf(_SC_PAGESIZE);
	volatile uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 5;
	int dirty = 0, checked = 0;
	for (int r = 0; r < PAT_REQS; r++) {
		for (size_t o = 0; o < PAT_LEN; o += (size_t)page) {
			size_t at = (size_t)r * PAT_STRIDE + o;
			(void)map[at]; /* map the page-cache page */
			uint64_t ent, flags;
			off_t idx = (off_t)(((uintptr_t)map + at) / (uintptr_t)page);
			if (pread(pm, &ent, 8, idx * 8) != 8 || !(ent >> 63))
				return 5;
			uint64_t pfn = ent & ((1ull << 55) - 1);
			if (!pfn)
				return 5; /* PFNs hidden: not root */
			if (pread(kf, &flags, 8, (off_t)(pfn * 8)) != 8)
				return 5;
			checked++;
			dirty += (flags >> KPF_DIRTY) & 1;
		}
	}
	if (dirty)
		fprintf(stderr, "block_durability: %d of %d pattern pages still dirty\n", dirty,
			checked);
	return dirty ? 1 : 0;
}

static int do_flush(const char *path, const char *cache)
{
	struct block_registry reg = { 0 };
	struct block_backend *b;
	if (open_backend(path, false, cache, &reg, &b))
		return 2;
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	memset(buf, 0x3c, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	struct block_req wr = { .op = BLOCK_OP_WRITE, .iov = &iov, .iovcnt = 1 };
	struct block_req fl = { .op = BLOCK_OP_FLUSH };
	int ret = submit(b, &w, &wr);
	if (!ret)
		ret = waiter_wait(&w);
	if (!ret)
		ret = submit(b, &w, &fl);
	if (!ret)
		ret = waiter_wait(&w);
	block_close(b);
	return ret ? 2 : 0;
}

static int do_open(const char *path, const char *mode, bool hold)
{
	struct block_registry reg = { 0 };
	struct block_backend *b;
	int ret = open_backend(path, !strcmp(mode, "ro"), NULL, &reg, &b);
	if (ret)
		return ret == -EBUSY ? 3 : 4;
	if (hold) {
		printf("OPEN\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	block_close(b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write"))
		return do_write(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "verify"))
		return do_verify(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "clean"))
		return do_clean(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "flush"))
		return do_flush(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "open"))
		return do_open(argv[2], argv[3], false);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return do_open(argv[2], argv[3], true);
	fprintf(stderr, "usage: block_durability write IMG CACHE | verify IMG | clean IMG"
		" | flush IMG CACHE"
		" | open IMG ro|rw | hold IMG ro|rw\n");
	return 2;
}
