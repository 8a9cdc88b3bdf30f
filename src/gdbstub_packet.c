/* GDB RSP framing (see gdbstub_packet.h). */
#include <errno.h>
#include <string.h>

#include "gdbstub_packet.h"

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void gdb_rx_init(struct gdb_rx *rx)
{
	rx->state = GDB_RX_IDLE;
	rx->len = 0;
	rx->overflow = false;
	rx->buf[0] = '\0';
}

enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c)
{
	switch (rx->state) {
	case GDB_RX_IDLE:
		if (c == '$') {
			rx->state = GDB_RX_DATA;
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = false;
		} else if (c == 0x03) {
			return GDB_RX_INTERRUPT;
		} else if (c == '+') {
			return GDB_RX_ACK;
		} else if (c == '-') {
			return GDB_RX_NACK;
		}
		return GDB_RX_NONE; /* noise between packets is ignored */
	case GDB_RX_DATA:
		if (c == '#') {
			rx->state = GDB_RX_CSUM1;
			return GDB_RX_NONE;
		}
		if (c == '$') { /* a new packet starts: the old one was cut */
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = false;
			return GDB_RX_NONE;
		}
		rx->sum = (uint8_t)(rx->sum + c);
		if (rx->len < GDB_PACKET_MAX)
			rx->buf[rx->len++] = (char)c;
		else
			rx->overflow = true;
		return GDB_RX_NONE;
	case GDB_RX_CSUM1: {
		int v = hexval(c);
		rx->csum = (uint8_t)((v < 0 ? 0 : v) << 4);
		rx->state = v < 0 ? GDB_RX_IDLE : GDB_RX_CSUM2;
		return v < 0 ? GDB_RX_BAD : GDB_RX_NONE;
	}
	case GDB_RX_CSUM2: {
		int v = hexval(c);
		rx->state = GDB_RX_IDLE;
		if (v < 0 || rx->overflow || (uint8_t)(rx->csum | v) != rx->sum)
			return GDB_RX_BAD;
		rx->buf[rx->len] = '\0';
		return GDB_RX_PACKET;
	}
	}
	return GDB_RX_NONE;
}

size_t gdb_frame(const char *payload, size_t len, char *out, size_t cap)
{
	if (len > cap || cap - len < 4)
		return 0;
	uint8_t sum = 0;
	out[0] = '$';
	for (size_t i = 0; i < len; i++) {
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
		out[1 + i] = payload[i];
	}
	out[1 + len] = '#';
	out[2 + len] = hexdig[sum >> 4];
	out[3 + len] = hexdig[sum & 15];
	return len + 4;
}

void gdb_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
}

int gdb_hex_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval((unsigned char)in[2 * i]), lo;
		if (hi < 0 || (lo = hexval((unsigned char)in[2 * i + 1])) < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int gdb_parse_hex(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0, d;
	while ((d = hexval((unsigned char)*s)) >= 0) {
		if (digits == 16)
			return -EINVAL; /* more than 64 bits */
		v = v << 4 | (uint64_t)d;
		digits++;
		s++;
	}
	if (!digits)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

size_t gdb_escape(const uint8_t *in, size_t n, char *out, size_t cap, size_t *used)
{
	size_t o = 0, i = 0;
	for (; i < n; i++) {
		uint8_t c = in[i];
		bool esc = c == '#' || c == '$' || c == '}' || c == '*';
		if (o + (esc ? 2 : 1) > cap)
			break;
		if (esc) {
			out[o++] = '}';
			out[o++] = (char)(c ^ 0x20);
		} else {
			out[o++] = (char)c;
		}
	}
	*used = i;
	return o;
}

long gdb_unescape(char *buf, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '}') {
			if (++i == n)
				return -EINVAL;
			buf[o++] = (char)(buf[i] ^ 0x20);
		} else {
			buf[o++] = buf[i];
		}
	}
	return (long)o;
}
