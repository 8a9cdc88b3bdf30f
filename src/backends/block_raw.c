/* Raw images (a regular file or a host block device) behind the block back-end
 * interface (block.h): opening with the user-facing checks, the advisory lock, and the
 * requests themselves, which run on the worker pool (block_worker.c).
 *
 * Image locking. QEMU (block/file-posix.c) locks single bytes of the image with OFD
 * locks, all of them shared (F_RDLCK): byte 100 + i while it holds permission bit i,
 * byte 200 + i while it refuses to share permission bit i with anyone else, where the
 * bits are 0 consistent-read, 1 write, 2 write-unchanged, 3 resize. After taking its
 * locks it asks (F_OFD_GETLK for a write lock) whether anyone else holds 200 + i for a
 * bit it wants, or 100 + i for a bit it refuses to share: if so the image is in use.
 * isola does exactly the same, so it conflicts with QEMU and QEMU with it:
 *   read-only:  holds {consistent-read}; refuses to share {write, resize}
 *   read-write: holds {consistent-read, write, write-unchanged}; refuses {write, resize}
 * Hence any number of read-only users of an image, or one writer and nobody else —
 * "shared for readonly, exclusive for read-write". OFD locks belong to the open file
 * description, so two opens in one process conflict too (the registry catches that
 * first with a better message) and a forked child shares its parent's locks.
 * Locks are advisory: a program that does not take them is not stopped. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block.h"
#include "log.h"

/* Per-worker bounce buffer for cache=none; also the largest unaligned chunk. */
#define BLOCK_BOUNCE_SIZE (256u * 1024)
/* Zero source for write-zeroes when the filesystem cannot zero a range itself. */
#define BLOCK_ZERO_SIZE (64u * 1024)
/* The largest O_DIRECT block size accepted (the bounce buffer holds several). */
#define BLOCK_MAX_LBS (64u * 1024)

/* QEMU's lock layout (see the top of this file). */
#define LOCK_BASE_PERM 100
#define LOCK_BASE_SHARED 200
#define PERM_CONSISTENT_READ (1u << 0)
#define PERM_WRITE (1u << 1)
#define PERM_WRITE_UNCHANGED (1u << 2)
#define PERM_RESIZE (1u << 3)
#define PERM_NBITS 4

struct block_backend {
	char *path;
	int fd;
	bool readonly;
	bool is_blkdev;
	enum block_cache cache;
	uint64_t size;
	/* O_DIRECT alignment of file offsets/lengths (lbs) and of memory. 512 and 1
	 * when the page cache is used. */
	unsigned lbs, mem_align;
	/* The logical block size of a block device (BLKSSZGET); 512 for a file. */
	unsigned dev_lbs;
	dev_t dev;
	ino_t ino;
	uint8_t id[BLOCK_ID_LEN];
	struct block_registry *reg;
	struct block_pool *pool; /* NULL with block_spec.sync */
	void *sync_scratch;      /* block_spec.sync, cache=none: the bounce buffer */
	void *zeros; /* BLOCK_ZERO_SIZE bytes, aligned for O_DIRECT */
	/* cache=none with lbs > 512 only: a write that covers part of an lbs block is
	 * a read-modify-write of that block and takes this lock exclusively; every
	 * other write, discard and write-zeroes takes it shared, so an RMW never
	 * loses a neighbour's concurrent write to the same block. */
	pthread_rwlock_t rmw_lock;
	/* Set once the filesystem said it cannot punch / zero ranges. */
	atomic_bool no_punch, no_zero_range;
	struct ratelimit rl; /* I/O error lines */
};

int block_cache_parse(const char *s, enum block_cache *out)
{
	if (!strcmp(s, "writeback"))
		*out = BLOCK_CACHE_WRITEBACK;
	else if (!strcmp(s, "none"))
		*out = BLOCK_CACHE_NONE;
	else if (!strcmp(s, "unsafe"))
		*out = BLOCK_CACHE_UNSAFE;
	else
		return -EINVAL;
	return 0;
}

uint64_t block_capacity(const struct block_backend *b)
{
	return b->size;
}

bool block_readonly(const struct block_backend *b)
{
	return b->readonly;
}

bool block_is_sync(const struct block_backend *b)
{
	return !b->pool;
}

unsigned block_logical_block_size(const struct block_backend *b)
{
	return b->lbs;
}

const char *block_path(const struct block_backend *b)
{
	return b->path;
}

void block_get_id(const struct block_backend *b, uint8_t id[BLOCK_ID_LEN])
{
	memcpy(id, b->id, BLOCK_ID_LEN);
}

/* ---- Locking ------------------------------------------------------------------- */

static int lock_byte(int fd, off_t off)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };
	return fcntl(fd, F_OFD_SETLK, &fl) ? -errno : 0;
}

/* 1 if another open file description holds a lock on byte off, 0 if not, -errno. */
static int byte_locked_by_other(int fd, off_t off)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };
	if (fcntl(fd, F_OFD_GETLK, &fl))
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* Takes isola's locks on b->fd. 0, -EBUSY (in use), or another -errno. */
static int block_lock_image(struct block_backend *b, char *err, size_t errlen)
{
	unsigned held = PERM_CONSISTENT_READ;
	unsigned unshared = PERM_WRITE | PERM_RESIZE;
	if (!b->readonly)
		held |= PERM_WRITE | PERM_WRITE_UNCHANGED;

	for (unsigned i = 0; i < PERM_NBITS; i++) {
		int ret = 0;
		if (held & (1u << i))
			ret = lock_byte(b->fd, LOCK_BASE_PERM + i);
		if (!ret && (unshared & (1u << i)))
			ret = lock_byte(b->fd, LOCK_BASE_SHARED + i);
		if (ret == -EAGAIN || ret == -EACCES)
			goto busy; /* someone holds a write lock on the byte */
		if (ret == -ENOLCK || ret == -EOPNOTSUPP || ret == -EINVAL) {
			/* A filesystem without byte-range locks (some network ones):
			 * run unprotected, as QEMU's locking=auto does, but say so. */
			log_msg("%s: the filesystem does not support file locks (%s); "
				"not protected against a second user", b->path, strerror(-ret));
			return 0;
		}
		if (ret) {
			snprintf(err, errlen, "%s: cannot lock the image: %s", b->path,
				 strerror(-ret));
			return ret;
		}
	}
	for (unsigned i = 0; i < PERM_NBITS; i++) {
		int ret = 0;
		if (held & (1u << i))
			ret = byte_locked_by_other(b->fd, LOCK_BASE_SHARED + i);
		if (ret == 0 && (unshared & (1u << i)))
			ret = byte_locked_by_other(b->fd, LOCK_BASE_PERM + i);
		if (ret == 1)
			goto busy;
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot test the image's locks: %s", b->path,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;

busy:
	snprintf(err, errlen,
		 "%s: the image is in use by another isola or QEMU (it holds a conflicting "
		 "lock); stop it first%s", b->path,
		 b->readonly ? "" : ", or open both read-only (readonly=on)");
	return -EBUSY;
}

/* ---- Opening ------------------------------------------------------------------- */

/* The O_DIRECT alignment for the image: statx(STATX_DIOALIGN) where the kernel knows
 * it (Linux 6.1+), else the block device's logical sector size, else 4096 for a file
 * (the largest logical block size in common use, so always safe). */
static int block_dio_align(struct block_backend *b, unsigned want, char *err, size_t errlen)
{
	unsigned lbs = 0, mem = 0;
#ifdef STATX_DIOALIGN
	struct statx sx;
	if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		if (!sx.stx_dio_offset_align) {
			snprintf(err, errlen, "%s: the filesystem does not support O_DIRECT "
				 "(cache=none); use cache=writeback", b->path);
			return -EINVAL;
		}
		lbs = sx.stx_dio_offset_align;
		mem = sx.stx_dio_mem_align;
	}
#endif
	if (!lbs && b->is_blkdev) {
		int ssz;
		if (ioctl(b->fd, BLKSSZGET, &ssz) == 0 && ssz > 0)
			lbs = (unsigned)ssz;
	}
	if (!lbs)
		lbs = 4096;
	if (!mem)
		mem = lbs;
	if (want) {
		if (want & (want - 1)) {
			snprintf(err, errlen, "%s: O_DIRECT alignment %u is not a power of two",
				 b->path, want);
			return -EINVAL;
		}
		if (want > lbs)
			lbs = want;
		if (want > mem)
			mem = want;
	}
	/* Power-of-two sizes from 512 (never smaller: guest requests are in 512-byte
	 * sectors) up to what the bounce buffer holds. */
	if (lbs < BLOCK_SECTOR_SIZE)
		lbs = BLOCK_SECTOR_SIZE;
	if ((lbs & (lbs - 1)) || (mem & (mem - 1)) || lbs > BLOCK_MAX_LBS || mem > BLOCK_MAX_LBS) {
		snprintf(err, errlen, "%s: unusual O_DIRECT alignment (%u bytes, memory %u); "
			 "use cache=writeback", b->path, lbs, mem);
		return -EINVAL;
	}
	if (b->size % lbs) {
		snprintf(err, errlen, "%s: size %llu is not a multiple of the O_DIRECT block "
			 "size %u (cache=none); resize the image or use cache=writeback",
			 b->path, (unsigned long long)b->size, lbs);
		return -EINVAL;
	}
	b->lbs = lbs;
	b->mem_align = mem;
	return 0;
}

static int block_exec(void *ctx, struct block_req *req, void *scratch);

static int registry_check(struct block_registry *reg, const struct block_backend *b, char *err,
			  size_t errlen)
{
	for (unsigned i = 0; i < reg->n; i++) {
		const struct block_backend *o = reg->open[i];
		if (o->dev == b->dev && o->ino == b->ino && o->is_blkdev == b->is_blkdev) {
			snprintf(err, errlen, "%s: the same image is already a disk of this VM "
				 "(as %s); give each image once", b->path, o->path);
			return -EBUSY;
		}
	}
	if (reg->n >= BLOCK_REGISTRY_MAX) {
		snprintf(err, errlen, "%s: too many disks (at most %u)", b->path,
			 BLOCK_REGISTRY_MAX);
		return -E2BIG;
	}
	return 0;
}

static void registry_remove(struct block_registry *reg, const struct block_backend *b)
{
	for (unsigned i = 0; i < reg->n; i++) {
		if (reg->open[i] == b) {
			reg->open[i] = reg->open[--reg->n];
			return;
		}
	}
}

int block_open(const struct block_spec *spec, struct block_registry *reg,
	       struct block_backend **out, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	if (!spec->path || !*spec->path) {
		snprintf(err, errlen, "disk: no image path given (path=FILE)");
		return -EINVAL;
	}
	if (spec->id && strlen(spec->id) > BLOCK_ID_LEN) {
		snprintf(err, errlen, "%s: id '%s' is longer than %u bytes", spec->path,
			 spec->id, BLOCK_ID_LEN);
		return -EINVAL;
	}
	if (spec->workers > BLOCK_MAX_WORKERS) {
		snprintf(err, errlen, "%s: at most %u worker threads", spec->path,
			 BLOCK_MAX_WORKERS);
		return -EINVAL;
	}
	if (spec->cache != BLOCK_CACHE_WRITEBACK && spec->cache != BLOCK_CACHE_NONE &&
	    spec->cache != BLOCK_CACHE_UNSAFE) {
		snprintf(err, errlen, "%s: unknown cache mode", spec->path);
		return -EINVAL;
	}
	/* Check the kind of file before open(): opening a FIFO would block. */
	if (stat(spec->path, &st)) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(err, errlen, "%s: no such image file (create one, e.g. "
				 "truncate -s 1G %s)", spec->path, spec->path);
		else
			snprintf(err, errlen, "%s: %s", spec->path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file or a block device", spec->path);
		return -EINVAL;
	}

	struct block_backend *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "%s: out of memory", spec->path);
		return -ENOMEM;
	}
	b->fd = -1;
	/* Writer preference: an RMW must not starve behind a stream of aligned writes. */
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&b->rmw_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	b->readonly = spec->readonly;
	b->cache = spec->cache;
	b->rl = (struct ratelimit)RATELIMIT_INIT(10);
	if (spec->id)
		memcpy(b->id, spec->id, strlen(spec->id)); /* NUL-padded by calloc */
	b->path = strdup(spec->path);
	if (!b->path) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", spec->path);
		goto err_free;
	}

	int flags = (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (b->cache == BLOCK_CACHE_NONE)
		flags |= O_DIRECT;
	b->fd = open(b->path, flags);
	if (b->fd < 0) {
		ret = -errno;
		if (!b->readonly && (ret == -EACCES || ret == -EROFS || ret == -EPERM))
			snprintf(err, errlen, "%s: the image is read-only (%s); give it "
				 "readonly=on or make it writable", b->path, strerror(-ret));
		else if (ret == -EINVAL && b->cache == BLOCK_CACHE_NONE)
			snprintf(err, errlen, "%s: the filesystem does not support O_DIRECT "
				 "(cache=none); use cache=writeback", b->path);
		else
			snprintf(err, errlen, "%s: %s", b->path, strerror(-ret));
		goto err_free;
	}
	/* O_NONBLOCK only guarded open(); regular files and disks ignore it, but
	 * clear it so nothing depends on that. */
	fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL) & ~O_NONBLOCK);

	/* Identify what was actually opened (the path may have changed since stat). */
	if (fstat(b->fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", b->path, strerror(-ret));
		goto err_close;
	}
	b->is_blkdev = S_ISBLK(st.st_mode);
	if (!b->is_blkdev && !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file or a block device", b->path);
		goto err_close;
	}
	/* A disk is the same disk whichever node names it: key it by st_rdev. */
	b->dev = b->is_blkdev ? st.st_rdev : st.st_dev;
	b->ino = b->is_blkdev ? 0 : st.st_ino;
	if (b->is_blkdev) {
		uint64_t bytes;
		if (ioctl(b->fd, BLKGETSIZE64, &bytes)) {
			ret = -errno;
			snprintf(err, errlen, "%s: cannot read the device size: %s", b->path,
				 strerror(-ret));
			goto err_close;
		}
		b->size = bytes;
		int ssz = 0;
		if (ioctl(b->fd, BLKSSZGET, &ssz) || ssz < (int)BLOCK_SECTOR_SIZE ||
		    (ssz & (ssz - 1)) || ssz > (int)BLOCK_MAX_LBS)
			ssz = 4096; /* unknown: the largest common size is always safe */
		b->dev_lbs = (unsigned)ssz;
	} else {
		b->dev_lbs = BLOCK_SECTOR_SIZE;
		b->size = (uint64_t)st.st_size;
	}
	if (b->size % BLOCK_SECTOR_SIZE) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: size %llu is not a multiple of 512 bytes; resize it "
			 "(e.g. truncate -s %lluK %s)", b->path, (unsigned long long)b->size,
			 (unsigned long long)(b->size + 1023) / 1024, b->path);
		goto err_close;
	}
	ret = registry_check(reg, b, err, errlen);
	if (ret)
		goto err_close;

	b->lbs = BLOCK_SECTOR_SIZE;
	b->mem_align = 1;
	if (b->cache == BLOCK_CACHE_NONE) {
		ret = block_dio_align(b, spec->dio_align, err, errlen);
		if (ret)
			goto err_close;
	}
	ret = block_lock_image(b, err, errlen);
	if (ret)
		goto err_close;

	size_t align = b->lbs > b->mem_align ? b->lbs : b->mem_align;
	ret = posix_memalign(&b->zeros, align, BLOCK_ZERO_SIZE);
	if (ret) {
		b->zeros = NULL;
		ret = -ret;
		snprintf(err, errlen, "%s: out of memory", b->path);
		goto err_close;
	}
	memset(b->zeros, 0, BLOCK_ZERO_SIZE);

	if (spec->sync) {
		ret = 0;
		if (b->cache == BLOCK_CACHE_NONE) {
			ret = -posix_memalign(&b->sync_scratch, align, BLOCK_BOUNCE_SIZE);
			if (ret)
				b->sync_scratch = NULL;
		}
	} else {
		ret = block_pool_create(&b->pool,
					spec->workers ? spec->workers : BLOCK_DEFAULT_WORKERS,
					spec->depth ? spec->depth : BLOCK_DEFAULT_DEPTH,
					b->cache == BLOCK_CACHE_NONE ? BLOCK_BOUNCE_SIZE : 0, align,
					block_exec, b);
	}
	if (ret) {
		snprintf(err, errlen, "%s: cannot start the I/O threads: %s", b->path,
			 strerror(-ret));
		goto err_close;
	}
	b->reg = reg;
	reg->open[reg->n++] = b;
	*out = b;
	return 0;

err_close:
	close(b->fd); /* releases the OFD locks too */
	free(b->zeros);
	free(b->sync_scratch);
err_free:
	pthread_rwlock_destroy(&b->rmw_lock);
	free(b->path);
	free(b);
	return ret;
}

void block_close(struct block_backend *b)
{
	if (!b)
		return;
	block_pool_destroy(b->pool); /* drains first */
	if (b->reg)
		registry_remove(b->reg, b);
	close(b->fd);
	pthread_rwlock_destroy(&b->rmw_lock);
	free(b->zeros);
	free(b->sync_scratch);
	free(b->path);
	free(b);
}

void block_drain(struct block_backend *b)
{
	if (b->pool) /* a sync back end never has anything in flight */
		block_pool_drain(b->pool);
}

/* ---- Submission ---------------------------------------------------------------- */

static int iov_total(const struct iovec *iov, unsigned cnt, uint64_t *total)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < cnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - sum)
			return -EINVAL;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

/* Hands a checked request to the workers, or runs it here (block_spec.sync). */
static int block_queue(struct block_backend *b, struct block_req *req)
{
	if (b->pool)
		return block_pool_submit(b->pool, req);
	req->done(req->opaque, block_exec(b, req, b->sync_scratch));
	return 0;
}

/* [off, off + len) is whole sectors inside the image: 0, -EINVAL or -ERANGE. */
static int block_check_range(const struct block_backend *b, uint64_t off, uint64_t len)
{
	if (off % BLOCK_SECTOR_SIZE || len % BLOCK_SECTOR_SIZE)
		return -EINVAL;
	if (off > b->size || len > b->size - off)
		return -ERANGE;
	return 0;
}

int block_submit(struct block_backend *b, struct block_req *req)
{
	uint64_t len = 0;
	int ret;

	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		if (!req->iov || req->iovcnt == 0 || req->iovcnt > IOV_MAX)
			return -EINVAL;
		if (iov_total(req->iov, req->iovcnt, &len))
			return -EINVAL;
		break;
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		len = req->len;
		if (!req->nranges)
			break;
		if (req->nranges > BLOCK_MAX_RANGES || !req->ranges)
			return -EINVAL;
		if (b->readonly)
			return -EROFS;
		/* Every range before any runs: all or nothing. */
		for (unsigned i = 0; i < req->nranges; i++) {
			ret = block_check_range(b, req->ranges[i].offset, req->ranges[i].len);
			if (ret)
				return ret;
		}
		return block_queue(b, req);
	case BLOCK_OP_FLUSH:
		return block_queue(b, req);
	default:
		return -EOPNOTSUPP;
	}
	if (req->op != BLOCK_OP_READ && b->readonly)
		return -EROFS;
	ret = block_check_range(b, req->offset, len);
	if (ret)
		return ret;
	return block_queue(b, req);
}

/* ---- Execution (worker threads) ------------------------------------------------ */

static void block_log_error(struct block_backend *b, const char *what, uint64_t off,
			    uint64_t len, int err)
{
	log_ratelimited(&b->rl, "%s: %s of %llu bytes at offset %llu failed: %s", b->path,
			what, (unsigned long long)len, (unsigned long long)off, strerror(-err));
}

/* Copies n bytes between a linear buffer and the iov, starting skip bytes into the
 * iov. to_iov selects the direction. The caller guarantees skip + n ≤ iov total. */
static void iov_copy(const struct iovec *iov, unsigned cnt, uint64_t skip, void *buf,
		     size_t n, bool to_iov)
{
	uint8_t *p = buf;
	for (unsigned i = 0; i < cnt && n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > n)
			chunk = n;
		uint8_t *seg = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(seg, p, chunk);
		else
			memcpy(p, seg, chunk);
		p += chunk;
		n -= chunk;
		skip = 0;
	}
}

/* Full pread/pwrite of one linear buffer, retrying short transfers and EINTR.
 * A read that meets the end of the file (it shrank under us) is -EIO. */
static int rw_full(int fd, bool write, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = write ? pwrite(fd, p, n, (off_t)off) : pread(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return write ? -ENOSPC : -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* preadv/pwritev straight from the caller's buffers, looping over short transfers.
 * Uses a private copy of the iov array to advance through it. */
static int rw_vectored(int fd, bool write, const struct iovec *iov_in, unsigned cnt,
		       uint64_t off, uint64_t total)
{
	struct iovec iov[IOV_MAX];
	memcpy(iov, iov_in, cnt * sizeof(*iov));
	struct iovec *cur = iov;
	unsigned left = cnt;

	while (total) {
		while (left && cur->iov_len == 0) {
			cur++;
			left--;
		}
		ssize_t r = write ? pwritev(fd, cur, (int)left, (off_t)off)
				  : preadv(fd, cur, (int)left, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return write ? -ENOSPC : -EIO;
		total -= (uint64_t)r;
		off += (uint64_t)r;
		size_t done = (size_t)r;
		while (done) {
			size_t step = done < cur->iov_len ? done : cur->iov_len;
			cur->iov_base = (uint8_t *)cur->iov_base + step;
			cur->iov_len -= step;
			done -= step;
			if (cur->iov_len == 0) {
				cur++;
				left--;
			}
		}
	}
	return 0;
}

/* True if O_DIRECT can use the caller's buffers as they are. */
static bool dio_aligned(const struct block_backend *b, const struct block_req *req,
			uint64_t total)
{
	if (req->offset % b->lbs || total % b->lbs)
		return false;
	for (unsigned i = 0; i < req->iovcnt; i++) {
		if ((uintptr_t)req->iov[i].iov_base % b->mem_align ||
		    req->iov[i].iov_len % b->mem_align)
			return false;
	}
	return true;
}

/* cache=none through the worker's aligned bounce buffer, one chunk at a time. A chunk
 * is widened to whole lbs blocks; for a write, a partly covered head or tail block is
 * read first (read-modify-write under rmw_lock held exclusively). */
static int rw_bounce(struct block_backend *b, bool write, const struct block_req *req,
		     uint64_t total, uint8_t *bounce)
{
	uint64_t lbs = b->lbs, done = 0;
	int ret = 0;

	while (done < total) {
		uint64_t pos = req->offset + done;
		uint64_t start = pos & ~(lbs - 1);
		uint64_t n = total - done;
		if (n > BLOCK_BOUNCE_SIZE - (pos - start))
			n = BLOCK_BOUNCE_SIZE - (pos - start);
		/* ≤ start + BLOCK_BOUNCE_SIZE (a multiple of lbs), and ≤ the image size
		 * (a multiple of lbs under cache=none). */
		uint64_t end = (pos + n + lbs - 1) & ~(lbs - 1);
		size_t span = (size_t)(end - start);
		if (!write) {
			ret = rw_full(b->fd, false, bounce, span, start);
			if (ret)
				return ret;
			iov_copy(req->iov, req->iovcnt, done, bounce + (pos - start), n, true);
		} else {
			if (pos != start || pos + n != end)
				pthread_rwlock_wrlock(&b->rmw_lock);
			else
				pthread_rwlock_rdlock(&b->rmw_lock);
			bool head = pos != start, tail = pos + n != end;
			if (head)
				ret = rw_full(b->fd, false, bounce, lbs, start);
			/* One block that is both head and tail was read just above. */
			if (!ret && tail && !(head && span == lbs))
				ret = rw_full(b->fd, false, bounce + span - lbs, lbs, end - lbs);
			if (!ret) {
				iov_copy(req->iov, req->iovcnt, done, bounce + (pos - start), n,
					 false);
				ret = rw_full(b->fd, true, bounce, span, start);
			}
			pthread_rwlock_unlock(&b->rmw_lock);
			if (ret)
				return ret;
		}
		done += n;
	}
	return 0;
}

static int block_do_rw(struct block_backend *b, struct block_req *req, void *scratch)
{
	bool write = req->op == BLOCK_OP_WRITE;
	uint64_t total = 0;
	int ret;

	iov_total(req->iov, req->iovcnt, &total); /* checked at submit */
	if (b->cache != BLOCK_CACHE_NONE)
		return rw_vectored(b->fd, write, req->iov, req->iovcnt, req->offset, total);
	if (dio_aligned(b, req, total)) {
		if (write)
			pthread_rwlock_rdlock(&b->rmw_lock);
		ret = rw_vectored(b->fd, write, req->iov, req->iovcnt, req->offset, total);
		if (write)
			pthread_rwlock_unlock(&b->rmw_lock);
		/* The kernel may want stricter alignment than statx said (a stacked
		 * device): fall back to the bounce buffer. */
		if (ret != -EINVAL)
			return ret;
	}
	return rw_bounce(b, write, req, total, scratch);
}

/* Zeroes [off, off + len) by writing zeros, through the ordinary write path so that
 * cache=none alignment is handled. */
static int write_zeros(struct block_backend *b, uint64_t off, uint64_t len, void *scratch)
{
	while (len) {
		uint64_t n = len < BLOCK_ZERO_SIZE ? len : BLOCK_ZERO_SIZE;
		struct iovec iov = { .iov_base = b->zeros, .iov_len = (size_t)n };
		struct block_req w = { .op = BLOCK_OP_WRITE, .offset = off, .iov = &iov,
				       .iovcnt = 1 };
		int ret = block_do_rw(b, &w, scratch);
		if (ret)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/* A filesystem or device that lacks the fallocate mode altogether: remember it. */
static bool fallocate_never(int err)
{
	return err == -EOPNOTSUPP || err == -ENOSYS;
}

static int block_do_fallocate(struct block_backend *b, int mode, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (b->cache == BLOCK_CACHE_NONE)
		pthread_rwlock_rdlock(&b->rmw_lock);
	int ret;
	do {
		ret = fallocate(b->fd, mode, (off_t)off, (off_t)len) ? -errno : 0;
	} while (ret == -EINTR);
	if (b->cache == BLOCK_CACHE_NONE)
		pthread_rwlock_unlock(&b->rmw_lock);
	return ret;
}

/* DISCARD (VIRTIO 1.2 §5.2.6.2: the range may read back anything afterwards): punch a
 * hole, keeping the size, so a sparse image gets its space back. A block device takes
 * whole logical blocks only (the kernel turns the punch into a zero-out that may
 * unmap): discard is a hint, so the partly covered blocks at the ends are skipped.
 * UNSUPP where the host cannot. */
static int block_do_discard(struct block_backend *b, const struct block_req *req)
{
	uint64_t start = req->offset, end = req->offset + req->len;

	if (atomic_load(&b->no_punch))
		return -EOPNOTSUPP;
	if (b->is_blkdev) {
		start = (start + b->dev_lbs - 1) & ~((uint64_t)b->dev_lbs - 1);
		end &= ~((uint64_t)b->dev_lbs - 1);
		if (end <= start)
			return 0;
	}
	int ret = block_do_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start,
				     end - start);
	if (fallocate_never(ret))
		atomic_store(&b->no_punch, true);
	if (fallocate_never(ret) || ret == -EINVAL)
		return -EOPNOTSUPP;
	return ret;
}

/* WRITE_ZEROES: with MAY_UNMAP a punched hole (reads as zeros, frees space); without
 * it, or where punching fails, FALLOC_FL_ZERO_RANGE (allocated zeros); where neither
 * works — or a block device is asked for part of a logical block — plain writes of
 * zeros. Never UNSUPP. */
static int block_do_write_zeroes(struct block_backend *b, const struct block_req *req,
				 void *scratch)
{
	int ret;

	if (b->is_blkdev && ((req->offset | req->len) & (b->dev_lbs - 1)))
		return write_zeros(b, req->offset, req->len, scratch);
	if ((req->flags & BLOCK_REQ_MAY_UNMAP) && !atomic_load(&b->no_punch)) {
		ret = block_do_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					 req->offset, req->len);
		if (!fallocate_never(ret) && ret != -EINVAL)
			return ret;
		if (fallocate_never(ret))
			atomic_store(&b->no_punch, true);
	}
	if (!atomic_load(&b->no_zero_range)) {
		ret = block_do_fallocate(b, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					 req->offset, req->len);
		if (!fallocate_never(ret) && ret != -EINVAL)
			return ret;
		if (fallocate_never(ret))
			atomic_store(&b->no_zero_range, true);
	}
	return write_zeros(b, req->offset, req->len, scratch);
}

static int block_do_ranged(struct block_backend *b, const struct block_req *req, void *scratch)
{
	if (req->op == BLOCK_OP_DISCARD)
		return block_do_discard(b, req);
	return block_do_write_zeroes(b, req, scratch);
}

static int block_exec(void *ctx, struct block_req *req, void *scratch)
{
	struct block_backend *b = ctx;
	const char *what;
	uint64_t off = req->offset, len = req->len;
	int ret;

	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		what = req->op == BLOCK_OP_READ ? "read" : "write";
		iov_total(req->iov, req->iovcnt, &len);
		ret = block_do_rw(b, req, scratch);
		break;
	case BLOCK_OP_FLUSH:
		/* Every write that completed before this flush was submitted is in
		 * the file (pwrite returned); fdatasync makes it durable (VIRTIO 1.2
		 * §5.2.6.2). cache=none needs it too: O_DIRECT skips the page cache,
		 * not the disk's cache or the file's block map. */
		what = "flush";
		len = 0;
		ret = 0;
		if (b->cache != BLOCK_CACHE_UNSAFE) {
			do {
				ret = fdatasync(b->fd) ? -errno : 0;
			} while (ret == -EINTR);
		}
		break;
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		what = req->op == BLOCK_OP_DISCARD ? "discard" : "write-zeroes";
		ret = req->nranges ? 0 : block_do_ranged(b, req, scratch);
		for (unsigned i = 0; i < req->nranges; i++) {
			/* One range at a time through the single-range code; the
			 * first failure ends the request (its range is logged). */
			struct block_req one = { .op = req->op, .flags = req->ranges[i].flags,
						 .offset = req->ranges[i].offset,
						 .len = req->ranges[i].len };
			ret = block_do_ranged(b, &one, scratch);
			if (ret) {
				off = one.offset;
				len = one.len;
				break;
			}
		}
		break;
	default:
		return -EOPNOTSUPP; /* refused at submit; never here */
	}
	if (ret && ret != -EOPNOTSUPP)
		block_log_error(b, what, off, len, ret);
	return ret;
}
