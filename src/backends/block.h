/* Host back end for block devices: a raw image file or a host block device, read and
 * written on behalf of a device front end (virtio-blk) that never sees the file.
 *
 * In the spirit of bhyve's block_if and DESIGN.md's blk_backend_ops: the front end
 * validates the guest's request, translates guest buffers to host pointers, fills a
 * struct block_req and submits it; the back end runs it on a worker thread and calls
 * req->done(req->opaque, status) exactly once.
 *
 * Threads (DESIGN.md "Threads"):
 *  - block_open/block_close/block_drain and the registry: the main thread, at start-up,
 *    shutdown and around snapshots.
 *  - block_submit: any thread (vCPU or event loop); it never blocks on I/O.
 *  - done callbacks run on one of the back end's worker threads, never under a lock the
 *    back end holds, so a callback may submit the next request. The front end protects
 *    its used ring with its own lock and raises the interrupt from there (irqfd or
 *    irq_* calls are thread-safe).
 *
 * Status values: 0, or -errno. The front end maps -EOPNOTSUPP to VIRTIO_BLK_S_UNSUPP
 * and any other error to VIRTIO_BLK_S_IOERR (VIRTIO 1.2 §5.2.6).
 */
#ifndef ISOLA_BACKENDS_BLOCK_H
#define ISOLA_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define BLOCK_SECTOR_SIZE 512u
#define BLOCK_ID_LEN 20 /* VIRTIO_BLK_ID_BYTES, VIRTIO 1.2 §5.2.6 */

enum block_cache {
	/* Host page cache; flush = fdatasync. The default. */
	BLOCK_CACHE_WRITEBACK,
	/* O_DIRECT, bypassing the page cache; flush = fdatasync (for the device's own
	 * write cache and the file's metadata). Unaligned guest buffers or offsets go
	 * through aligned bounce buffers. */
	BLOCK_CACHE_NONE,
	/* Host page cache; flush does nothing. For throw-away images only. */
	BLOCK_CACHE_UNSAFE,
};

struct block_spec {
	const char *path;
	bool readonly;
	enum block_cache cache;
	/* Serial number the guest reads with GET_ID; at most BLOCK_ID_LEN bytes, NULL or
	 * "" for none. */
	const char *id;
	/* Worker threads and the bound on queued + running requests; 0 = defaults
	 * (BLOCK_DEFAULT_WORKERS, BLOCK_DEFAULT_DEPTH). The front end sizes depth at
	 * least as its virtqueue size so that block_submit never sees a full queue. */
	unsigned workers, depth;
	/* cache=none: use at least this O_DIRECT alignment (a power of two, 512..65536)
	 * instead of only what the host reports — e.g. 4096 for an image that will move
	 * to a 4K-sector disk. 0 = what the host reports. */
	unsigned dio_align;
	/* No worker threads: block_submit runs the request on the caller's thread and
	 * calls done before it returns. For fuzzing and tests, where completions must
	 * come in a reproducible order; a VM never uses it (a vCPU would wait for the
	 * disk). workers and depth are ignored. */
	bool sync;
};

#define BLOCK_DEFAULT_WORKERS 4
#define BLOCK_DEFAULT_DEPTH 256
#define BLOCK_MAX_WORKERS 64

/* The images open in this isola, so that one image given twice is refused (two
 * writers in one process would corrupt it; the advisory locks do not see them when
 * they share an owner). Zero-initialise it; the caller owns it and it must outlive
 * every back end opened with it. Used from the main thread only. */
#define BLOCK_REGISTRY_MAX 64
struct block_backend;
struct block_registry {
	unsigned n;
	struct block_backend *open[BLOCK_REGISTRY_MAX];
};

enum block_op {
	BLOCK_OP_READ,         /* file → iov */
	BLOCK_OP_WRITE,        /* iov → file */
	BLOCK_OP_FLUSH,        /* make every completed write durable */
	BLOCK_OP_DISCARD,      /* the range may read back anything; space is given back */
	BLOCK_OP_WRITE_ZEROES, /* the range reads back zeros */
};

/* For BLOCK_OP_WRITE_ZEROES: the back end may deallocate the range (VIRTIO
 * VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP). */
#define BLOCK_REQ_MAY_UNMAP 1u

/* One range of a DISCARD / WRITE_ZEROES that has several (a virtio-blk request may
 * carry several segments, VIRTIO 1.2 §5.2.6). */
struct block_range {
	uint64_t offset, len; /* bytes, multiples of BLOCK_SECTOR_SIZE */
	unsigned flags;       /* BLOCK_REQ_MAY_UNMAP */
};
#define BLOCK_MAX_RANGES 256

struct block_req {
	enum block_op op;
	unsigned flags;
	/* Byte offset into the image; a multiple of BLOCK_SECTOR_SIZE. */
	uint64_t offset;
	/* READ/WRITE: host buffers (the guest's memory, already bounds-checked by the
	 * front end), lengths summing to a multiple of BLOCK_SECTOR_SIZE. Any alignment.
	 * The iov array and the buffers must stay valid until done is called. */
	const struct iovec *iov;
	unsigned iovcnt;
	/* DISCARD/WRITE_ZEROES: byte length, a multiple of BLOCK_SECTOR_SIZE. */
	uint64_t len;
	/* DISCARD/WRITE_ZEROES with several ranges: nranges (1..BLOCK_MAX_RANGES) ranges,
	 * run in order, each with its own flags; offset, len and flags above are then
	 * unused. block_submit checks every range before it queues the request, so one
	 * bad range refuses the whole request and none is applied. A host error in
	 * range i stops there (ranges before i are done): the status is that error.
	 * The array must stay valid until done is called. 0 = the one range above. */
	const struct block_range *ranges;
	unsigned nranges;
	void (*done)(void *opaque, int status);
	void *opaque;
	/* Back end's own: the queue link. */
	struct block_req *next_;
};

/* Opens spec->path and checks it. On failure returns -errno and writes one line for
 * the user into err, naming the file and what to do; nothing is left open:
 *   -ENOENT  missing image            -EINVAL  not a regular file or block device,
 *   -EACCES/-EROFS/-EPERM  a read-only      size not a multiple of 512, id too long,
 *            file asked read-write             no O_DIRECT for cache=none
 *   -EBUSY   the same image twice in `reg`, or locked by another isola or QEMU Takes an advisory lock (see block_raw.c: QEMU-compatible OFD byte
 * locks) so that another isola or QEMU cannot write the image at the same time. */
int block_open(const struct block_spec *spec, struct block_registry *reg,
	       struct block_backend **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Drains in-flight requests (their done callbacks run), stops the workers, releases
 * the lock and the registry slot. NULL is allowed. */
void block_close(struct block_backend *b);

/* Queues a request. 0: done will be called exactly once, on a worker thread (with
 * block_spec.sync: on this thread, before block_submit returns).
 * -errno: refused before touching the file, done will not be called:
 *   -EINVAL   offset or length not a multiple of 512, iovcnt 0 or above IOV_MAX,
 *             nranges above BLOCK_MAX_RANGES
 *   -EOPNOTSUPP an unknown op
 *   -ERANGE   beyond the end of the image (offset + length overflow included)
 *   -EROFS    a write, discard or write-zeroes on a read-only image
 *   -EAGAIN   depth requests are already in flight
 *   -ESHUTDOWN the back end is closing
 * The front end answers IOERR (UNSUPP for -EOPNOTSUPP) itself. Never call block_drain
 * or block_close from a done callback (it runs on the worker being waited for). */
int block_submit(struct block_backend *b, struct block_req *req)
	__attribute__((warn_unused_result));

/* Waits until no request is queued or running (every done callback has returned).
 * For snapshots and device reset. Callers must stop submitting first. */
void block_drain(struct block_backend *b);

uint64_t block_capacity(const struct block_backend *b); /* bytes, multiple of 512 */
bool block_readonly(const struct block_backend *b);
/* Opened with block_spec.sync: done runs inside block_submit. */
bool block_is_sync(const struct block_backend *b);
/* The alignment O_DIRECT needs for offsets and lengths (cache=none), else 512: a
 * value the front end may advertise as the logical block size (blk_size). */
unsigned block_logical_block_size(const struct block_backend *b);
/* The GET_ID answer: the id, NUL-padded to BLOCK_ID_LEN bytes (no terminator when it
 * is exactly 20 bytes long, as VIRTIO 1.2 §5.2.6.1 allows). */
void block_get_id(const struct block_backend *b, uint8_t id[BLOCK_ID_LEN]);
const char *block_path(const struct block_backend *b);

/* Parses "writeback" | "none" | "unsafe". 0 or -EINVAL. */
int block_cache_parse(const char *s, enum block_cache *out);

/* ---- Worker pool (block_worker.c), used by block_raw.c ---------------------------- */

struct block_pool;
typedef int (*block_pool_exec_fn)(void *ctx, struct block_req *req, void *scratch);

/* nthreads workers, each with its own scratch buffer of scratch_size bytes aligned to
 * scratch_align (the bounce buffer for O_DIRECT). 0 or -errno. */
int block_pool_create(struct block_pool **out, unsigned nthreads, unsigned depth,
		      size_t scratch_size, size_t scratch_align, block_pool_exec_fn exec,
		      void *ctx);
/* 0, -EAGAIN (depth reached) or -ESHUTDOWN. */
int block_pool_submit(struct block_pool *p, struct block_req *req);
void block_pool_drain(struct block_pool *p);
/* Drains, then joins the threads and frees everything. NULL is allowed. */
void block_pool_destroy(struct block_pool *p);

#endif
