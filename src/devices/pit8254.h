/* The PC's 8254 programmable interval timer (Intel 8254 datasheet) at ports
 * 0x40-0x43, with the PC's system control port B (0x61: channel 2 gate,
 * speaker enable, OUT2 read-back) that Linux's TSC calibration uses.
 *
 * For the soft back end (kvm has its own in the kernel). No thread counts:
 * a channel's count and OUT are functions of time since it was loaded, at
 * PIT_HZ. No lock of its own: the owner (struct irqchip) serialises calls and
 * passes the time in (any monotonic nanosecond clock), which keeps the model
 * deterministic under test. Channel 0's OUT is IRQ 0: the owner asks
 * pit_irq0_deadline_ns() when the next rising edge is due and calls
 * pit_poll_irq0() then, which says whether to pulse IRQ 0.
 *
 * Not modelled: BCD counting (the BCD bit is stored and reported in the
 * status byte, but channels count in binary — no PC OS uses BCD); a new count
 * written in modes 2/3 while counting restarts the period at once instead of
 * at the end of the current one. */
#ifndef ISOLA_DEVICES_PIT8254_H
#define ISOLA_DEVICES_PIT8254_H

#include <stdbool.h>
#include <stdint.h>

struct snap_writer;
struct snap_reader;

#define PIT_HZ        1193182ull
#define PIT_PORT      0x40 /* 0x40-0x42 channels, 0x43 control word */
#define PIT_NR_PORTS  4
#define PIT_PORT_61   0x61

struct pit_channel {
	uint8_t mode;          /* 0-5 */
	uint8_t rw;            /* 1 LSB, 2 MSB, 3 LSB then MSB */
	bool bcd;
	bool gate;             /* channels 0, 1: always high; 2: port 0x61 bit 0 */
	uint32_t count;        /* N, 1..65536 (a written 0 is 65536) */
	bool loaded;           /* a count was written after the control word */
	bool counting;         /* counting from count (modes 1, 5: once triggered) */
	bool running;          /* the clock advances (gate high in modes 0, 2, 3, 4) */
	bool null_count;       /* status bit 6: count written, not yet in the counter */
	uint64_t start_ns;     /* when the clock last (re)started */
	uint64_t ticks_before; /* ticks counted before start_ns (gate pauses) */
	/* the access state machines */
	bool write_msb_next;
	uint8_t write_lsb;
	bool read_msb_next;
	bool count_latched, latch_msb_next;
	uint16_t latch;
	bool status_latched;
	uint8_t status;
	/* channel 0's IRQ: tick of the next rising edge of OUT, or UINT64_MAX */
	uint64_t irq_next_tick;
	uint64_t irq_last_ns;  /* when the last IRQ pulse went out */
};

struct pit8254 {
	struct pit_channel ch[3];
	uint8_t port61;        /* bits 3:0 as written (gate 2, speaker, parity enables) */
};

void pit_init(struct pit8254 *p, uint64_t now_ns);
void pit_reset(struct pit8254 *p, uint64_t now_ns);

/* off 0-3 within PIT_PORT. */
uint8_t pit_port_read(struct pit8254 *p, unsigned off, uint64_t now_ns);
void pit_port_write(struct pit8254 *p, unsigned off, uint8_t val, uint64_t now_ns);
uint8_t pit_port61_read(struct pit8254 *p, uint64_t now_ns);
void pit_port61_write(struct pit8254 *p, uint8_t val, uint64_t now_ns);

/* A channel's count and OUT now (for tests and port reads). */
uint16_t pit_count(const struct pit8254 *p, unsigned ch, uint64_t now_ns);
bool pit_out(const struct pit8254 *p, unsigned ch, uint64_t now_ns);

/* When channel 0's next IRQ is due, or UINT64_MAX. */
uint64_t pit_irq0_deadline_ns(const struct pit8254 *p);
/* True if an IRQ 0 edge is due by now_ns (the owner pulses IRQ 0 once;
 * periods missed meanwhile coalesce into that one, as a late timer
 * interrupt does on real hardware). */
bool pit_poll_irq0(struct pit8254 *p, uint64_t now_ns);

void pit_save(const struct pit8254 *p, struct snap_writer *w, uint64_t now_ns);
int pit_restore(struct pit8254 *p, struct snap_reader *r, uint64_t now_ns);

#endif
