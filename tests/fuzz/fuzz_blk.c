/* libFuzzer harness for virtio-blk's request handling (src/virtio/blk.c) over
 * the raw back end (src/backends/block_raw.c) on a small temporary image,
 * driven through the virtio-mmio transport by fuzz_driver.h's driver.
 *
 * The back end is opened with block_spec.sync: requests run inside the
 * notify, through the same parsing and the same back-end code as with
 * worker threads, so a run is reproducible.
 *
 * Input: one byte of set-up (read-only disk, cache mode, image on ext4 or on
 * tmpfs — which has no FALLOC_FL_ZERO_RANGE, so WRITE_ZEROES falls back to
 * writing zeros —, EVENT_IDX, INDIRECT_DESC, DISCARD and WRITE_ZEROES
 * accepted or not), one byte of capacity (1..64 sectors), then requests:
 * IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES or any type, a sector near
 * the end of the disk or any 64-bit value, the header and data split over
 * buffers of any sizes (odd ones included) in either direction, direct or
 * indirect, with or without a status byte, DISCARD / WRITE_ZEROES segments
 * with any sector, count and flags; a notify after any request; a snapshot
 * save and restore between batches (a 0xff byte where a request starts).
 *
 * Besides fuzz_driver.h's invariants (one used element per request or
 * NEEDS_RESET, used length within the writable bytes, RAM written only in
 * writable buffers), it keeps a model of the image and checks after every
 * batch that the file matches it:
 *   - a request answered OK did what it says, within the capacity (an IN's
 *     data are the image's bytes; an OUT, WRITE_ZEROES or DISCARD changed
 *     those sectors and no others; GET_ID gave the id);
 *   - a request answered IOERR or UNSUPP changed nothing;
 *   - a read-only disk is never changed, and no request succeeds in writing;
 *   - the file never grows (nothing is written past the capacity).
 * DISCARD leaves its sectors unknown in the model (they may read back
 * anything, §5.2.6.2) until something writes them again. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_driver.h"
#include "snapshot.h"
#include "virtio/blk.h"

#define MAX_SECTORS 64
#define MAX_CAP     (MAX_SECTORS * 512)
#define ID          "fuzz-disk-0123456789" /* exactly 20 bytes: no NUL */

static int irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	return 0;
}

static const struct irq_router router = { .set_level = irq_set };

struct model {
	uint8_t img[MAX_CAP];
	bool unknown[MAX_CAP]; /* discarded: any content */
	bool any_unknown;
	uint64_t cap;          /* bytes */
	bool readonly, short_id;
	int fd;
};

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* [sector * 512, + len) inside the disk. */
static bool inside(const struct model *m, uint64_t sector, uint64_t len)
{
	uint64_t sectors = m->cap / 512;
	return sector <= sectors && len <= (sectors - sector) * 512;
}

/* A request came back: its status must be a valid one, and an OK must be
 * true (it is applied to the model). */
static void on_used(void *ctx, struct fd_driver *d, struct fd_req *r)
{
	static uint8_t rbuf[FD_MAX_BUFS * 0x2000], wbuf[FD_MAX_BUFS * 0x2000];
	struct model *m = ctx;
	uint32_t rl = r->readable_len, wl = r->writable_len, type;
	uint64_t sector;
	uint8_t status;

	require(wl >= 1 && rl <= sizeof(rbuf) && wl <= sizeof(wbuf));
	require(fd_readable_bytes(d, r, rbuf, rl) == rl);
	require(fd_writable_bytes(d, r, wbuf, wl) == wl);
	status = wbuf[wl - 1];
	require(status == VIRTIO_BLK_S_OK || status == VIRTIO_BLK_S_IOERR ||
		status == VIRTIO_BLK_S_UNSUPP);
	/* The used length is the whole writable part (data and status). */
	require(r->used_len == wl);
	if (status != VIRTIO_BLK_S_OK)
		return;
	require(rl >= 16); /* no header, no success */
	type = le32(rbuf);
	sector = le64(rbuf + 8);
	switch (type) {
	case VIRTIO_BLK_T_IN: {
		uint32_t len = wl - 1;
		require(rl == 16 && len > 0 && len % 512 == 0 && inside(m, sector, len));
		if (!m->any_unknown) {
			require(memcmp(wbuf, m->img + sector * 512, len) == 0);
			break;
		}
		for (uint32_t i = 0; i < len; i++) {
			uint64_t at = sector * 512 + i;
			require(m->unknown[at] || wbuf[i] == m->img[at]);
		}
		break;
	}
	case VIRTIO_BLK_T_OUT: {
		uint32_t len = rl - 16;
		require(!m->readonly && wl == 1);
		require(len > 0 && len % 512 == 0 && inside(m, sector, len));
		memcpy(m->img + sector * 512, rbuf + 16, len);
		memset(m->unknown + sector * 512, 0, len);
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		require(rl == 16 && wl == 1);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = wl - 1 < 20 ? wl - 1 : 20;
		require(rl == 16 && wl >= 2);
		for (uint32_t i = 0; i < n; i++)
			require(wbuf[i] == (m->short_id ? (i < 4 ? (uint8_t)"fzid"[i] : 0)
						       : (uint8_t)ID[i]));
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool wz = type == VIRTIO_BLK_T_WRITE_ZEROES;
		uint32_t n = (rl - 16) / 16;
		require(!m->readonly && wl == 1);
		require(fd_has(d, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD));
		require(rl > 16 && (rl - 16) % 16 == 0 && n <= VIRTIO_BLK_MAX_DWZ_SEG);
		/* Every segment was valid, or none may have been applied. */
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *s = rbuf + 16 + 16 * i;
			uint64_t sec = le64(s);
			uint32_t num = le32(s + 8), flags = le32(s + 12);
			require(num > 0 && num <= VIRTIO_BLK_MAX_ZERO_SECTORS);
			require(inside(m, sec, (uint64_t)num * 512));
			require(!(flags & ~(wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u)));
		}
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *s = rbuf + 16 + 16 * i;
			uint64_t at = le64(s) * 512, len = (uint64_t)le32(s + 8) * 512;
			if (wz) {
				memset(m->img + at, 0, len);
				memset(m->unknown + at, 0, len);
			} else {
				memset(m->unknown + at, 1, len);
				m->any_unknown = true;
			}
		}
		break;
	}
	default:
		require(!"an unknown request type answered OK");
	}
}

/* The file matches the model, and has not grown. */
static void check_image(struct model *m)
{
	static uint8_t buf[MAX_CAP];
	struct stat st;

	require(fstat(m->fd, &st) == 0 && (uint64_t)st.st_size == m->cap);
	require(pread(m->fd, buf, m->cap, 0) == (ssize_t)m->cap);
	if (!m->any_unknown) {
		require(memcmp(buf, m->img, m->cap) == 0);
		return;
	}
	m->any_unknown = false;
	for (uint64_t i = 0; i < m->cap; i++) {
		if (m->unknown[i]) {
			m->img[i] = buf[i]; /* now known again */
			m->unknown[i] = false;
		}
		require(buf[i] == m->img[i]);
	}
}

/* One request from the input into r; false when the input is used up. */
static bool build_req(struct fd_in *in, struct fd_driver *d, const struct model *m,
		      struct fd_req *r, bool *notify)
{
	static const uint32_t types[6] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
					   VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
					   VIRTIO_BLK_T_WRITE_ZEROES };
	uint8_t op, sel, layout, hdr[16], stream[FD_MAX_BUFS * 0x2000];
	uint32_t type, lens[FD_MAX_BUFS];
	bool wflag[FD_MAX_BUFS];
	uint64_t sector;
	unsigned nb = 0, ndata;

	if (!in->n)
		return false;
	op = in_u8(in);
	*notify = op & 0x80;
	type = (op & 7) < 6 ? types[op & 7] : in_u32(in);
	sel = in_u8(in);
	sector = sel < 0xf0 ? sel % (m->cap / 512 + 4) : in_u64(in);
	layout = in_u8(in);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, &type, 4);
	if (op & 0x40)
		memcpy(hdr + 4, (uint32_t[]){ in_u32(in) }, 4); /* ioprio: ignored */
	memcpy(hdr + 8, &sector, 8);

	memset(r, 0, sizeof(*r));
	r->indirect = layout & 0x20;
	/* The header: one buffer, or two split anywhere. */
	if (layout & 0x04) {
		uint32_t cut = 1 + in_u8(in) % 15;
		lens[nb] = cut, wflag[nb++] = false;
		lens[nb] = 16 - cut, wflag[nb++] = false;
	} else {
		lens[nb] = 16, wflag[nb++] = false;
	}
	memcpy(stream, hdr, 16);
	/* Data buffers: the direction the type wants, unless flipped. */
	ndata = layout & 3;
	bool data_w = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	for (unsigned i = 0; i < ndata; i++) {
		uint16_t code = in_u16(in);
		uint32_t len;
		if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES)
			len = (code & 0x8000) ? code % 600 : 16 * (1 + code % 40);
		else
			len = (code & 0x8000) ? code % 1100 : 512 * (1 + code % 9);
		lens[nb] = len;
		wflag[nb++] = data_w ^ !!(code & 0x4000);
	}
	/* The status byte: its own buffer of 1..4 bytes (the last byte counts),
	 * folded into the last data buffer, or missing. */
	if (layout & 0x80) {
		/* none */
	} else if ((layout & 0x08) && nb > 1 && wflag[nb - 1]) {
		lens[nb - 1] += 1;
	} else {
		lens[nb] = 1 + (layout >> 4 & 1) * (in_u8(in) % 4);
		wflag[nb++] = true;
	}
	/* Fill the readable stream after the header: DISCARD / WRITE_ZEROES
	 * segments, or OUT data. */
	uint32_t rbytes = 0;
	for (unsigned i = 0; i < nb; i++)
		if (!wflag[i])
			rbytes += lens[i];
	if (rbytes > sizeof(stream))
		return false;
	uint8_t seed = in_u8(in);
	for (uint32_t off = 16; off < rbytes;) {
		if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
			uint8_t seg[16] = { 0 }, s = in_u8(in), f = in_u8(in);
			uint64_t sec = s < 0xf0 ? s % (m->cap / 512 + 2) : in_u64(in);
			uint32_t num = (f & 0x80) ? in_u32(in) : (uint32_t)(f & 0x1f);
			uint32_t flags = (f & 0x40) ? in_u32(in) : (uint32_t)(f >> 5 & 1);
			memcpy(seg, &sec, 8);
			memcpy(seg + 8, &num, 4);
			memcpy(seg + 12, &flags, 4);
			uint32_t k = rbytes - off < 16 ? rbytes - off : 16;
			memcpy(stream + off, seg, k);
			off += k;
		} else {
			stream[off] = (uint8_t)(seed + off * 13);
			off++;
		}
	}
	/* Place the buffers and fill the readable ones from the stream. */
	uint32_t roff = 0;
	for (unsigned i = 0; i < nb; i++) {
		uint64_t gpa = fd_alloc(d, lens[i] ? lens[i] : 1, in_u8(in) % 8);
		if (!gpa)
			return false;
		r->buf[i] = (struct fd_buf){ gpa, lens[i], wflag[i] };
		if (!wflag[i]) {
			fd_poke(d, gpa, stream + roff, lens[i]);
			roff += lens[i];
		} else {
			/* Poison writable buffers so a short answer shows. */
			memset(d->ram + gpa, 0xa5, lens[i]);
			memset(d->mirror + gpa, 0xa5, lens[i]);
		}
	}
	r->nbufs = nb;
	/* virtio-blk's own rule: no writable status byte → NEEDS_RESET. */
	uint32_t wl = 0;
	bool order_ok = true, seen_w = false;
	for (unsigned i = 0; i < nb; i++) {
		if (wflag[i])
			wl += lens[i];
		if (!wflag[i] && seen_w)
			order_ok = false;
		seen_w |= wflag[i];
	}
	if (wl == 0 && order_ok)
		r->expect_fail = true;
	return true;
}

static char img_path[2][64];

static int image_fd(unsigned which)
{
	static int fds[2] = { -1, -1 };
	if (fds[which] < 0) {
		/* tmpfs (no ZERO_RANGE) if there is one, and the usual /tmp. */
		const char *dir = which ? "/dev/shm" : "/tmp";
		snprintf(img_path[which], sizeof(img_path[which]), "%s/isola-fuzz-blk-XXXXXX", dir);
		fds[which] = mkstemp(img_path[which]);
		if (fds[which] < 0 && which) {
			snprintf(img_path[which], sizeof(img_path[which]), "/tmp/isola-fuzz-blk2-XXXXXX");
			fds[which] = mkstemp(img_path[which]);
		}
		if (fds[which] < 0)
			abort();
	}
	return fds[which];
}

static void cleanup(void)
{
	for (int i = 0; i < 2; i++)
		if (img_path[i][0])
			unlink(img_path[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct fd_in in = { data, size };
	struct fd_driver *d = fd_get();
	const struct virtio_mmio_params p = { .base = 0xd0000000, .len = VIRTIO_MMIO_WINDOW,
					      .gsi = 5, .index = 0 };
	struct block_registry reg = { 0 };
	struct block_backend *b;
	char err[256];
	uint8_t setup = in_u8(&in), capb = in_u8(&in);
	uint64_t want;

	m.cap = 512ull * (1 + capb % MAX_SECTORS);
	m.readonly = setup & 1;
	m.short_id = setup & 0x80;
	m.fd = image_fd(setup >> 2 & 1);
	static uint8_t pat[MAX_CAP];
	static bool pat_ready;
	struct stat st;
	if (!pat_ready) {
		for (uint64_t i = 0; i < MAX_CAP; i++)
			pat[i] = pattern(i);
		pat_ready = true;
	}
	/* The image as a fresh, fully written file of cap bytes (a hole a
	 * discard left behind is filled again by the write). */
	require(fstat(m.fd, &st) == 0);
	if ((uint64_t)st.st_size != m.cap)
		require(ftruncate(m.fd, (off_t)m.cap) == 0);
	memcpy(m.img, pat, m.cap);
	memset(m.unknown, 0, sizeof(m.unknown));
	m.any_unknown = false;
	require(pwrite(m.fd, m.img, m.cap, 0) == (ssize_t)m.cap);

	struct block_spec spec = { .path = img_path[setup >> 2 & 1], .readonly = m.readonly,
				   .cache = (setup & 2) ? BLOCK_CACHE_UNSAFE : BLOCK_CACHE_WRITEBACK,
				   .id = m.short_id ? "fzid" : ID, .sync = true };
	require(block_open(&spec, &reg, &b, err, sizeof(err)) == 0);
	require(virtio_blk_create(&d->mem, &router, &p, b, &d->dev) == 0);
	/* A fresh device has a fresh log budget: silence it, or the lines a
	 * hostile driver provokes dominate the run time. */
	virtio_mmio_vdev(d->dev)->rl.burst = virtio_mmio_vdev(d->dev)->rl.tokens = 0;

	want = ~0ull;
	if (!(setup & 0x08))
		want &= ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!(setup & 0x10))
		want &= ~VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (setup & 0x20)
		want &= ~VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
	if (setup & 0x40)
		want &= ~VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	fd_bringup(d, want);
	require(fd_has(d, VIRTIO_BLK_F_RO) == m.readonly);

	for (;;) {
		struct fd_req r;
		bool notify = false, more;

		if (in.n && in.p[0] == 0xff) {
			/* A snapshot round trip between batches: save (quiesce
			 * first) and restore into the same device; the driver's
			 * books must still balance afterwards. */
			struct snap_writer w;
			struct snap_reader rd;
			in_u8(&in);
			fd_run_batch(d, on_used, &m, want);
			snap_writer_init(&w);
			require(d->dev->ops->save(d->dev, &w) == 0);
			require(snap_finish(&w) == 0);
			require(snap_reader_init(&rd, w.buf, w.len) == 0);
			require(d->dev->ops->restore(d->dev, &rd) == 0);
			snap_writer_free(&w);
			check_image(&m);
			continue;
		}
		more = build_req(&in, d, &m, &r, &notify);
		if (more && !fd_post(d, &r)) {
			/* The batch is full: run it, then this request again
			 * in the next one would need its bytes; drop it. */
			notify = true;
		}
		if (notify || !more) {
			fd_run_batch(d, on_used, &m, want);
			check_image(&m);
		}
		if (!more)
			break;
	}
	d->dev->ops->reset(d->dev);
	d->dev->ops->destroy(d->dev);
	check_image(&m);
	return 0;
}
