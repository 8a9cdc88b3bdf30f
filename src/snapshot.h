/* Versioned save/restore of device and CPU state.
 *
 * A snapshot is a sequence of sections: tag (4 chars), version, length, then
 * `length` bytes of fields written one by one in little-endian order — never
 * raw struct copies, so a layout change in isola cannot silently corrupt an
 * old snapshot. The stream ends with a CRC-32 over everything before it.
 *
 * Writers: snap_begin(w, "UART", 1); snap_u8(w, x); ...; snap_end(w);
 * Readers: snap_open(r, "UART", &version) finds the section, then snap_get_*
 * read its fields; reading past the section's end fails (-EINVAL), so a
 * truncated or hostile snapshot cannot make a device read garbage. */
#ifndef ISOLA_SNAPSHOT_H
#define ISOLA_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t section_start; /* offset of the open section's length field, 0 if none */
	int error;            /* sticky -errno */
};

struct snap_reader {
	const uint8_t *buf;
	size_t len;           /* without the trailing CRC */
	size_t pos, end;      /* current field, end of the open section */
	int error;            /* sticky -errno */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
void snap_begin(struct snap_writer *w, const char tag[4], uint32_t version);
void snap_end(struct snap_writer *w);
void snap_u8(struct snap_writer *w, uint8_t v);
void snap_u16(struct snap_writer *w, uint16_t v);
void snap_u32(struct snap_writer *w, uint32_t v);
void snap_u64(struct snap_writer *w, uint64_t v);
void snap_bytes(struct snap_writer *w, const void *p, size_t n);
/* Append the CRC; returns 0 or the sticky error. */
int snap_finish(struct snap_writer *w) __attribute__((warn_unused_result));

/* Check the CRC. 0 or -EINVAL. */
int snap_reader_init(struct snap_reader *r, const uint8_t *buf, size_t len)
	__attribute__((warn_unused_result));
/* Position at the first section with this tag. 0, -ENOENT. */
int snap_open(struct snap_reader *r, const char tag[4], uint32_t *version)
	__attribute__((warn_unused_result));
uint8_t snap_get_u8(struct snap_reader *r);
uint16_t snap_get_u16(struct snap_reader *r);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
void snap_get_bytes(struct snap_reader *r, void *p, size_t n);

uint32_t crc32_ieee(uint32_t crc, const void *data, size_t len);

#endif
