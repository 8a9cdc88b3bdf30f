/* Versioned snapshot sections (see snapshot.h). Section layout:
 *   tag[4] | u32 version | u32 length | length bytes of fields
 * and after the last section a u32 CRC-32 (IEEE) of everything before it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

uint32_t crc32_ieee(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

void snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void snap_writer_free(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void snap_put(struct snap_writer *w, const void *p, size_t n)
{
	if (w->error)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->error = -ENOMEM;
				return;
			}
			cap *= 2;
		}
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->error = -ENOMEM;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(struct snap_writer *w, uint64_t v, int n)
{
	uint8_t b[8];
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	snap_put(w, b, n);
}

void snap_u8(struct snap_writer *w, uint8_t v) { put_le(w, v, 1); }
void snap_u16(struct snap_writer *w, uint16_t v) { put_le(w, v, 2); }
void snap_u32(struct snap_writer *w, uint32_t v) { put_le(w, v, 4); }
void snap_u64(struct snap_writer *w, uint64_t v) { put_le(w, v, 8); }
void snap_bytes(struct snap_writer *w, const void *p, size_t n) { snap_put(w, p, n); }

void snap_begin(struct snap_writer *w, const char tag[4], uint32_t version)
{
	if (w->section_start && !w->error)
		w->error = -EINVAL; /* sections do not nest */
	snap_put(w, tag, 4);
	snap_u32(w, version);
	w->section_start = w->len;
	snap_u32(w, 0); /* length, patched by snap_end */
}

void snap_end(struct snap_writer *w)
{
	if (w->error)
		return;
	if (!w->section_start) {
		w->error = -EINVAL;
		return;
	}
	size_t body = w->len - w->section_start - 4;
	if (body > UINT32_MAX) {
		w->error = -E2BIG;
		return;
	}
	for (int i = 0; i < 4; i++)
		w->buf[w->section_start + i] = (uint8_t)(body >> (8 * i));
	w->section_start = 0;
}

int snap_finish(struct snap_writer *w)
{
	if (w->section_start && !w->error)
		w->error = -EINVAL;
	if (!w->error)
		snap_u32(w, crc32_ieee(0, w->buf, w->len));
	return w->error;
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int snap_reader_init(struct snap_reader *r, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	if (len < 4 || crc32_ieee(0, buf, len - 4) != get_le(buf + len - 4, 4))
		return -EINVAL;
	r->buf = buf;
	r->len = len - 4;
	return 0;
}

int snap_open(struct snap_reader *r, const char tag[4], uint32_t *version)
{
	size_t pos = 0;
	while (r->len - pos >= 12) {
		uint32_t body = (uint32_t)get_le(r->buf + pos + 8, 4);
		if (body > r->len - pos - 12)
			break; /* a section running past the end: corrupt */
		if (!memcmp(r->buf + pos, tag, 4)) {
			*version = (uint32_t)get_le(r->buf + pos + 4, 4);
			r->pos = pos + 12;
			r->end = r->pos + body;
			r->error = 0;
			return 0;
		}
		pos += 12 + body;
	}
	return -ENOENT;
}

static const uint8_t *snap_take(struct snap_reader *r, size_t n)
{
	if (r->error || n > r->end - r->pos) {
		r->error = -EINVAL;
		return NULL;
	}
	const uint8_t *p = r->buf + r->pos;
	r->pos += n;
	return p;
}

#define SNAP_GET(bits)                                                         \
	uint##bits##_t snap_get_u##bits(struct snap_reader *r)                 \
	{                                                                      \
		const uint8_t *p = snap_take(r, bits / 8);                     \
		return p ? (uint##bits##_t)get_le(p, bits / 8) : 0;            \
	}
SNAP_GET(8)
SNAP_GET(16)
SNAP_GET(32)
SNAP_GET(64)

void snap_get_bytes(struct snap_reader *r, void *p, size_t n)
{
	const uint8_t *s = snap_take(r, n);
	if (s)
		memcpy(p, s, n);
	else
		memset(p, 0, n);
}
