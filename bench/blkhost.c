/* blkhost: the host peer of bench/blk.sh. Does on the host the same I/O the
 * virtio_blk guest does in bench mode (tests/guests/virtio_blk.c): the same
 * request size, the same number in flight (one thread per request in
 * flight, each doing pread/pwrite, as isola's block workers do), the same
 * sequence of offsets (sequential from 0, or the guest's xorshift64
 * sequence modulo the number of whole requests in the file), and for
 * writes an fdatasync at the end (the guest's FLUSH).
 *
 *   blkhost FILE OP BS DEPTH BYTES DIRECT
 *     OP 0 sequential read, 1 sequential write, 2 random read; DIRECT 1 opens
 *     the file with O_DIRECT (isola's cache=none), 0 uses the page cache.
 *
 * Prints "host op=<name> bytes=<n> reqs=<n> ns=<elapsed>", the time from the
 * first request to the last completion (and the fdatasync), nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct job {
	int fd, op;
	uint64_t bs, reqs;
	const uint64_t *offsets;  /* byte offset of request i */
	atomic_uint_fast64_t next;
	atomic_int failed;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	void *buf;

	if (posix_memalign(&buf, 4096, j->bs)) {
		atomic_store(&j->failed, ENOMEM);
		return NULL;
	}
	memset(buf, 0, j->bs);
	for (;;) {
		uint64_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->reqs)
			break;
		ssize_t n = j->op == 1 ? pwrite(j->fd, buf, j->bs, (off_t)j->offsets[i])
				       : pread(j->fd, buf, j->bs, (off_t)j->offsets[i]);
		if (n != (ssize_t)j->bs) {
			atomic_store(&j->failed, n < 0 ? errno : EIO);
			break;
		}
	}
	free(buf);
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "seqread", "seqwrite", "randread" };
	struct job j = { 0 };
	pthread_t th[64];
	struct stat st;

	if (argc != 7) {
		fprintf(stderr, "usage: blkhost FILE OP(0-2) BS DEPTH(1-64) BYTES DIRECT(0|1)\n");
		return 2;
	}
	j.op = atoi(argv[2]);
	j.bs = strtoull(argv[3], NULL, 0);
	unsigned depth = (unsigned)atoi(argv[4]);
	uint64_t bytes = strtoull(argv[5], NULL, 0);
	int direct = atoi(argv[6]);
	j.fd = open(argv[1], (j.op == 1 ? O_WRONLY : O_RDONLY) | (direct ? O_DIRECT : 0));
	if (j.fd < 0 || fstat(j.fd, &st)) {
		fprintf(stderr, "blkhost: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (j.op < 0 || j.op > 2 || !j.bs || j.bs % 512 || !depth || depth > 64 ||
	    bytes < j.bs || (uint64_t)st.st_size < j.bs) {
		fprintf(stderr, "blkhost: bad arguments\n");
		return 2;
	}
	j.reqs = bytes / j.bs;
	uint64_t slots = (uint64_t)st.st_size / j.bs, seed = 0x9e3779b97f4a7c15ull;
	uint64_t *off = malloc(j.reqs * sizeof(*off));
	if (!off)
		return 1;
	for (uint64_t i = 0; i < j.reqs; i++) {
		if (j.op == 2) {
			/* xorshift64 (Marsaglia 2003), as tests/guests/rt/lib.h. */
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			off[i] = seed % slots * j.bs;
		} else {
			off[i] = i % slots * j.bs;
		}
	}
	j.offsets = off;

	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < depth; i++)
		if (pthread_create(&th[i], NULL, worker, &j)) {
			fprintf(stderr, "blkhost: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < depth; i++)
		pthread_join(th[i], NULL);
	if (j.op == 1 && fdatasync(j.fd))
		atomic_store(&j.failed, errno);
	uint64_t t1 = now_ns();
	if (atomic_load(&j.failed)) {
		fprintf(stderr, "blkhost: I/O failed: %s\n", strerror(atomic_load(&j.failed)));
		return 1;
	}
	printf("host op=%s bytes=%llu reqs=%llu ns=%llu\n", names[j.op],
	       (unsigned long long)(j.reqs * j.bs), (unsigned long long)j.reqs,
	       (unsigned long long)(t1 - t0));
	free(off);
	close(j.fd);
	return 0;
}
