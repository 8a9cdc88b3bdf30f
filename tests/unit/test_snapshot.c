/* Snapshot sections: round trip, versions, corruption and bounds. */
#include <errno.h>
#include <string.h>

#include "snapshot.h"
#include "unit.h"

TEST(snapshot_roundtrip)
{
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "AAAA", 3);
	snap_u8(&w, 0x12);
	snap_u16(&w, 0x3456);
	snap_end(&w);
	snap_begin(&w, "BBBB", 1);
	snap_u64(&w, 0x0102030405060708ull);
	snap_bytes(&w, "xyz", 3);
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);

	struct snap_reader r;
	uint32_t ver;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "BBBB", &ver), 0);
	CHECK_EQ(ver, 1);
	CHECK_EQ(snap_get_u64(&r), 0x0102030405060708ull);
	char s[3];
	snap_get_bytes(&r, s, 3);
	CHECK(!memcmp(s, "xyz", 3));
	CHECK_EQ(r.error, 0);
	snap_get_u8(&r); /* past the section's end */
	CHECK_EQ(r.error, -EINVAL);
	CHECK_EQ(snap_open(&r, "AAAA", &ver), 0);
	CHECK_EQ(ver, 3);
	CHECK_EQ(snap_get_u8(&r), 0x12);
	CHECK_EQ(snap_get_u16(&r), 0x3456);
	CHECK_EQ(snap_open(&r, "CCCC", &ver), -ENOENT);
	snap_writer_free(&w);
}

TEST(snapshot_corruption)
{
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "AAAA", 1);
	snap_u32(&w, 7);
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	w.buf[5] ^= 1;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), -EINVAL);
	CHECK_EQ(snap_reader_init(&r, w.buf, 2), -EINVAL);
	snap_writer_free(&w);
}

TEST(snapshot_crc32_known_value)
{
	/* The standard check value of CRC-32/IEEE. */
	CHECK_EQ(crc32_ieee(0, "123456789", 9), 0xcbf43926);
}
