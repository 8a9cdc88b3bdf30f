/* GDB Remote Serial Protocol framing (GDB manual, appendix "Remote Protocol",
 * §"Overview"): packets are "$payload#cc" with cc the two-hex-digit modulo-256
 * sum of the payload; the receiver answers '+' (or '-' to ask for it again,
 * until QStartNoAckMode); a lone 0x03 outside a packet is an interrupt
 * request (§"Interrupts"). Binary data in payloads escapes '#', '$', '}' and
 * '*' as '}' followed by the byte XOR 0x20.
 *
 * Pure functions and a byte-at-a-time parser: no I/O here (gdbstub.c does
 * it), so the framing is unit-tested on its own. */
#ifndef ISOLA_GDBSTUB_PACKET_H
#define ISOLA_GDBSTUB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest packet payload isola takes or sends (announced as PacketSize). */
#define GDB_PACKET_MAX 16384

enum gdb_rx_event {
	GDB_RX_NONE,       /* byte consumed, nothing complete yet */
	GDB_RX_PACKET,     /* rx->buf[0..len) holds a packet with a good checksum */
	GDB_RX_BAD,        /* a packet with a bad checksum or too long: answer '-' */
	GDB_RX_INTERRUPT,  /* 0x03 between packets */
	GDB_RX_ACK,        /* '+' */
	GDB_RX_NACK,       /* '-': resend the last packet */
};

struct gdb_rx {
	enum { GDB_RX_IDLE, GDB_RX_DATA, GDB_RX_CSUM1, GDB_RX_CSUM2 } state;
	uint8_t sum, csum;
	bool overflow;
	size_t len;
	char buf[GDB_PACKET_MAX + 1]; /* NUL-terminated for parsing convenience */
};

void gdb_rx_init(struct gdb_rx *rx);
enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c);

/* "$payload#cc" into out (cap bytes). The length, or 0 if it does not fit. */
size_t gdb_frame(const char *payload, size_t len, char *out, size_t cap);

/* Hex helpers. gdb_hex_decode: 2*n hex digits -> n bytes; 0 or -EINVAL. */
void gdb_hex_encode(const uint8_t *in, size_t n, char *out);
int gdb_hex_decode(const char *in, size_t n, uint8_t *out);
/* A hex number at *p (at least one digit), advancing *p. 0 or -EINVAL. */
int gdb_parse_hex(const char **p, uint64_t *out);
/* Binary escaping (for X and qXfer): escape in[0..n) into out (cap bytes);
 * the number of input bytes that fit is returned in *used, the output
 * length as the result. gdb_unescape works in place and returns the new
 * length, or -EINVAL for a '}' at the end. */
size_t gdb_escape(const uint8_t *in, size_t n, char *out, size_t cap, size_t *used);
long gdb_unescape(char *buf, size_t n);

#endif
