/* GDB RSP framing (src/gdbstub_packet.c) and the stub's register layout. */
#include <string.h>

#include "gdbstub_packet.h"
#include "gdbstub_regs.h"
#include "unit.h"

static enum gdb_rx_event feed(struct gdb_rx *rx, const char *s)
{
	enum gdb_rx_event last = GDB_RX_NONE;
	for (; *s; s++) {
		enum gdb_rx_event e = gdb_rx_byte(rx, (uint8_t)*s);
		if (e != GDB_RX_NONE)
			last = e;
	}
	return last;
}

TEST(gdb_rx_packets)
{
	static struct gdb_rx rx;
	gdb_rx_init(&rx);
	CHECK_EQ(feed(&rx, "$g#67"), GDB_RX_PACKET);
	CHECK(!strcmp(rx.buf, "g"));
	CHECK_EQ(feed(&rx, "$m200000,40#1e"), GDB_RX_BAD); /* checksum off by one */
	CHECK_EQ(feed(&rx, "$m200000,40#1f"), GDB_RX_PACKET);
	CHECK(!strcmp(rx.buf, "m200000,40"));
	CHECK_EQ(feed(&rx, "$g#zz"), GDB_RX_BAD);
	CHECK_EQ(gdb_rx_byte(&rx, 0x03), GDB_RX_INTERRUPT);
	CHECK_EQ(gdb_rx_byte(&rx, '+'), GDB_RX_ACK);
	CHECK_EQ(gdb_rx_byte(&rx, '-'), GDB_RX_NACK);
	/* A '$' inside a packet starts over; noise between packets is ignored. */
	CHECK_EQ(feed(&rx, "xyz$qC$g#67"), GDB_RX_PACKET);
	CHECK(!strcmp(rx.buf, "g"));
	/* 0x03 inside a packet is data, not an interrupt. */
	gdb_rx_byte(&rx, '$');
	CHECK_EQ(gdb_rx_byte(&rx, 0x03), GDB_RX_NONE);
}

TEST(gdb_rx_overflow)
{
	static struct gdb_rx rx;
	gdb_rx_init(&rx);
	gdb_rx_byte(&rx, '$');
	uint8_t sum = 0;
	for (int i = 0; i < GDB_PACKET_MAX + 10; i++) {
		CHECK_EQ(gdb_rx_byte(&rx, 'a'), GDB_RX_NONE);
		sum = (uint8_t)(sum + 'a');
	}
	static const char hex[] = "0123456789abcdef";
	gdb_rx_byte(&rx, '#');
	gdb_rx_byte(&rx, (uint8_t)hex[sum >> 4]);
	CHECK_EQ(gdb_rx_byte(&rx, (uint8_t)hex[sum & 15]), GDB_RX_BAD); /* too long */
	CHECK(rx.len <= GDB_PACKET_MAX);
}

TEST(gdb_frame_and_hex)
{
	char out[32];
	CHECK_EQ(gdb_frame("OK", 2, out, sizeof(out)), 6);
	CHECK(!memcmp(out, "$OK#9a", 6));
	CHECK_EQ(gdb_frame("OK", 2, out, 5), 0);
	uint8_t b[4] = { 0x00, 0x7f, 0x80, 0xff }, back[4];
	char hex[9] = { 0 };
	gdb_hex_encode(b, 4, hex);
	CHECK(!strcmp(hex, "007f80ff"));
	CHECK_EQ(gdb_hex_decode("007F80ff", 4, back), 0);
	CHECK(!memcmp(b, back, 4));
	CHECK(gdb_hex_decode("0g", 1, back) < 0);
	const char *p = "200000,40", *q = "", *big = "12345678123456781";
	uint64_t v;
	CHECK_EQ(gdb_parse_hex(&p, &v), 0);
	CHECK_EQ(v, 0x200000);
	CHECK_EQ(*p, ',');
	CHECK(gdb_parse_hex(&q, &v) < 0);
	CHECK(gdb_parse_hex(&big, &v) < 0); /* more than 64 bits */
}

TEST(gdb_escape_roundtrip)
{
	const uint8_t in[] = { 'a', '#', '$', '}', '*', 'b' };
	char out[16];
	size_t used;
	size_t n = gdb_escape(in, sizeof(in), out, sizeof(out), &used);
	CHECK_EQ(used, sizeof(in));
	CHECK_EQ(n, 10);
	CHECK(!memchr(out, '#', n) && !memchr(out, '$', n) && !memchr(out, '*', n));
	CHECK_EQ(gdb_unescape(out, n), (long)sizeof(in));
	CHECK(!memcmp(out, in, sizeof(in)));
	/* The output bound is respected without splitting an escape. */
	n = gdb_escape(in, sizeof(in), out, 2, &used);
	CHECK_EQ(n, 1);
	CHECK_EQ(used, 1);
	char bad[] = "ab}";
	CHECK(gdb_unescape(bad, 3) < 0);
}

TEST(gdb_register_layout)
{
	/* gdb's amd64 'g' layout: 16 GPRs, rip, eflags, 6 segments, 8 x87
	 * registers, 8 x87 control words, 16 xmm, mxcsr, then isola's extras. */
	CHECK_EQ(gdb_reg_size(0), 8);
	CHECK_EQ(gdb_reg_size(16), 8);
	CHECK_EQ(gdb_reg_size(17), 4);
	CHECK_EQ(gdb_reg_size(24), 10);
	CHECK_EQ(gdb_reg_size(40), 16);
	CHECK_EQ(gdb_reg_size(56), 4);
	CHECK_EQ(gdb_reg_size(gdb_nr_regs), 0);
	struct gdb_cpu_state st;
	memset(&st, 0, sizeof(st));
	st.r.gpr[X86_RBX] = 0x1122334455667788ull;
	st.s.seg[X86_CS].selector = 0x10;
	uint8_t v[16];
	gdb_reg_get(&st, 1, v); /* rbx is gdb's register 1 */
	CHECK_EQ(v[0], 0x88);
	CHECK_EQ(v[7], 0x11);
	uint8_t cs[4] = { 0x10, 0, 0, 0 }, cs2[4] = { 0x08, 0, 0, 0 };
	CHECK_EQ(gdb_reg_set(&st, 18, cs), 0);       /* the same selector: fine */
	CHECK(gdb_reg_set(&st, 18, cs2) < 0);        /* another one: refused */
	uint8_t rip[8] = { 0x34, 0x12 };
	CHECK_EQ(gdb_reg_set(&st, 16, rip), GDB_DIRTY_REGS);
	CHECK_EQ(st.r.rip, 0x1234);
	/* An empty x87 stack: every tag 11. */
	gdb_reg_get(&st, 34, v);
	CHECK_EQ(v[0] | v[1] << 8, 0xffff);
	CHECK(strstr(gdb_target_xml(), "<architecture>i386:x86-64</architecture>"));
}
