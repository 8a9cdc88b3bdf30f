/* 8254 PIT, after the Intel 8254 datasheet ("Control Word Format", "Counter
 * Latch Command", "Read-Back Command", "Status Byte", "Mode Definitions"
 * 0-5, "Gate Pin Operations Summary") and the PC's port 0x61.
 *
 * Each channel counts CLK ticks at PIT_HZ from start_ns (plus ticks_before,
 * the ticks counted before the gate paused it); the count the guest reads
 * and the OUT pin are functions of that tick number t and the loaded count
 * N:
 *   mode 0 (interrupt on terminal count): count N - t (wrapping mod 2^16),
 *     OUT low until t = N, then high;
 *   mode 1 (hardware one-shot): as mode 0, started by a gate rising edge;
 *   mode 2 (rate generator): count N - (t mod N), OUT low for the tick where
 *     the count is 1;
 *   mode 3 (square wave): the count drops by 2 per tick, OUT high for the
 *     first ceil(N/2) ticks of each period, low for the rest;
 *   mode 4 (software strobe): count N - t, OUT low for the one tick at t = N;
 *   mode 5 (hardware strobe): as mode 4, started by a gate rising edge.
 * Modes 0, 2, 3 and 4 count only while the gate is high; a gate rising edge
 * reloads modes 2 and 3 and triggers modes 1 and 5 (datasheet's gate table).
 * The datasheet's one-tick delay between writing a count and the counter
 * loading it is not modelled. */
#include <errno.h>
#include <string.h>

#include "devices/pit8254.h"
#include "snapshot.h"

#define NS_PER_SEC 1000000000ull
#define NO_TICK UINT64_MAX
/* Channel 0 never raises IRQ 0 more often than this (the count still runs at
 * the programmed rate): mode 2 with N = 2 would be a 600 kHz interrupt, which
 * a software CPU cannot take and no OS asks for. */
#define PIT_MIN_IRQ_NS 50000ull
/* Port 0x61 bit 4 toggles with each DRAM refresh request, every 15.085 us
 * (IBM AT); some delay loops poll it. */
#define REFRESH_NS 15085ull

#define P61_GATE2 0x01
#define P61_WRITABLE 0x0f
#define P61_REFRESH 0x10
#define P61_OUT2 0x20

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_SEC);
}

/* The first nanosecond at which `ticks` ticks have elapsed. */
static uint64_t ticks_to_ns(uint64_t ticks)
{
	unsigned __int128 ns = ((unsigned __int128)ticks * NS_PER_SEC + PIT_HZ - 1) / PIT_HZ;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static uint64_t ch_ticks(const struct pit_channel *c, uint64_t now)
{
	if (!c->counting)
		return 0;
	if (!c->running || now < c->start_ns)
		return c->ticks_before;
	return c->ticks_before + ns_to_ticks(now - c->start_ns);
}

static bool mode_gated(unsigned mode)
{
	return mode == 0 || mode == 2 || mode == 3 || mode == 4;
}

static uint16_t ch_count(const struct pit_channel *c, uint64_t now)
{
	if (!c->loaded)
		return 0;
	if (!c->counting)
		return (uint16_t)c->count;
	uint64_t t = ch_ticks(c, now), n = c->count;
	switch (c->mode) {
	case 2:
		return (uint16_t)(n - t % n);
	case 3: {
		uint64_t p = t % n, hi = (n + 1) / 2;
		return (uint16_t)(n - 2 * (p < hi ? p : p - hi));
	}
	default: /* 0, 1, 4, 5: down from N, wrapping past terminal count */
		return (uint16_t)(n - t);
	}
}

static bool ch_out(const struct pit_channel *c, uint64_t now)
{
	if (!c->counting) /* after the control word: low in mode 0, high in the others */
		return c->mode != 0;
	uint64_t t = ch_ticks(c, now), n = c->count;
	switch (c->mode) {
	case 0:
	case 1:
		return t >= n;
	case 2:
		return t % n != n - 1 || n == 1;
	case 3:
		return t % n < (n + 1) / 2;
	default: /* 4, 5 */
		return t != n;
	}
}

uint16_t pit_count(const struct pit8254 *p, unsigned ch, uint64_t now)
{
	return ch < 3 ? ch_count(&p->ch[ch], now) : 0;
}

bool pit_out(const struct pit8254 *p, unsigned ch, uint64_t now)
{
	return ch < 3 && ch_out(&p->ch[ch], now);
}

/* The first rising edge of OUT at a tick after `after` (edges at tick 0 are
 * the load itself, not an interrupt). */
static uint64_t ch_next_edge(const struct pit_channel *c, uint64_t after, bool first)
{
	uint64_t n = c->count;
	switch (c->mode) {
	case 0:
	case 1:
		return first ? n : NO_TICK;
	case 2:
	case 3:
		return (after / n + 1) * n;
	default: /* 4, 5: high again one tick after terminal count */
		return first ? n + 1 : NO_TICK;
	}
}

/* Start the clock of a channel at now from tick 0. */
static void ch_start(struct pit_channel *c, uint64_t now)
{
	c->counting = true;
	c->ticks_before = 0;
	c->start_ns = now;
	c->running = !mode_gated(c->mode) || c->gate;
	c->irq_next_tick = ch_next_edge(c, 0, true);
}

static void ch_load(struct pit_channel *c, uint16_t v, uint64_t now)
{
	c->count = v ? v : 65536;
	c->loaded = true;
	c->null_count = false;
	if (c->mode == 1 || c->mode == 5) {
		c->counting = false; /* waits for a gate rising edge */
		c->irq_next_tick = NO_TICK;
		return;
	}
	ch_start(c, now);
}

static void ch_set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	if (gate == c->gate)
		return;
	c->gate = gate;
	if (!gate) {
		if (mode_gated(c->mode) && c->counting && c->running) {
			c->ticks_before = ch_ticks(c, now);
			c->running = false;
		}
		return;
	}
	switch (c->mode) {
	case 0:
	case 4: /* resume */
		if (c->counting && !c->running) {
			c->start_ns = now;
			c->running = true;
		}
		break;
	default: /* 2, 3 reload; 1, 5 trigger */
		if (c->loaded)
			ch_start(c, now);
		break;
	}
}

static uint8_t ch_status(const struct pit_channel *c, uint64_t now)
{
	return (uint8_t)(ch_out(c, now) << 7 | c->null_count << 6 | c->rw << 4 | c->mode << 1 |
			 c->bcd);
}

static void ch_latch_count(struct pit_channel *c, uint64_t now)
{
	if (c->count_latched) /* a second latch before the read is ignored */
		return;
	c->count_latched = true;
	c->latch = ch_count(c, now);
	c->latch_msb_next = c->rw == 2;
}

static void ch_latch_status(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched)
		return;
	c->status_latched = true;
	c->status = ch_status(c, now);
}

static void pit_control(struct pit8254 *p, uint8_t val, uint64_t now)
{
	unsigned sc = val >> 6, rw = (val >> 4) & 3;
	if (sc == 3) { /* read-back: bit 5 low latches counts, bit 4 low statuses */
		for (unsigned i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				ch_latch_count(&p->ch[i], now);
			if (!(val & 0x10))
				ch_latch_status(&p->ch[i], now);
		}
		return;
	}
	struct pit_channel *c = &p->ch[sc];
	if (!rw) {
		ch_latch_count(c, now);
		return;
	}
	unsigned mode = (val >> 1) & 7;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode); /* 6, 7 are 2, 3 */
	c->rw = (uint8_t)rw;
	c->bcd = val & 1;
	c->loaded = false;
	c->counting = false;
	c->running = false;
	c->null_count = true;
	c->write_msb_next = false;
	c->read_msb_next = false;
	c->count_latched = false;
	c->status_latched = false;
	c->irq_next_tick = NO_TICK;
}

void pit_port_write(struct pit8254 *p, unsigned off, uint8_t val, uint64_t now)
{
	if (off == 3) {
		pit_control(p, val, now);
		return;
	}
	if (off > 2)
		return;
	struct pit_channel *c = &p->ch[off];
	switch (c->rw) {
	case 1:
		ch_load(c, val, now);
		break;
	case 2:
		ch_load(c, (uint16_t)(val << 8), now);
		break;
	case 3:
		if (!c->write_msb_next) {
			c->write_lsb = val;
			c->write_msb_next = true;
			/* Mode 0: writing the first byte stops the count. */
			if (c->mode == 0 && c->counting) {
				c->counting = false;
				c->irq_next_tick = NO_TICK;
			}
		} else {
			c->write_msb_next = false;
			ch_load(c, (uint16_t)(c->write_lsb | val << 8), now);
		}
		break;
	default: /* no control word yet */
		break;
	}
}

uint8_t pit_port_read(struct pit8254 *p, unsigned off, uint64_t now)
{
	if (off > 2)
		return 0xff; /* the control word register cannot be read */
	struct pit_channel *c = &p->ch[off];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t v;
	bool msb;
	if (c->count_latched) {
		v = c->latch;
		msb = c->latch_msb_next;
		if (c->rw == 3 && !msb)
			c->latch_msb_next = true;
		else
			c->count_latched = false;
	} else {
		v = ch_count(c, now);
		msb = c->rw == 2 || (c->rw == 3 && c->read_msb_next);
		if (c->rw == 3)
			c->read_msb_next = !c->read_msb_next;
	}
	return (uint8_t)(msb ? v >> 8 : v);
}

uint8_t pit_port61_read(struct pit8254 *p, uint64_t now)
{
	uint8_t v = p->port61 & P61_WRITABLE;
	if ((now / REFRESH_NS) & 1)
		v |= P61_REFRESH;
	if (ch_out(&p->ch[2], now))
		v |= P61_OUT2;
	return v;
}

void pit_port61_write(struct pit8254 *p, uint8_t val, uint64_t now)
{
	p->port61 = val & P61_WRITABLE;
	ch_set_gate(&p->ch[2], val & P61_GATE2, now);
}

uint64_t pit_irq0_deadline_ns(const struct pit8254 *p)
{
	const struct pit_channel *c = &p->ch[0];
	if (!c->counting || !c->running || c->irq_next_tick == NO_TICK)
		return UINT64_MAX;
	uint64_t t = c->irq_next_tick > c->ticks_before ? c->irq_next_tick - c->ticks_before : 0;
	uint64_t d = c->start_ns + ticks_to_ns(t);
	if ((c->mode == 2 || c->mode == 3) && c->irq_last_ns &&
	    d < c->irq_last_ns + PIT_MIN_IRQ_NS)
		d = c->irq_last_ns + PIT_MIN_IRQ_NS;
	return d;
}

bool pit_poll_irq0(struct pit8254 *p, uint64_t now)
{
	struct pit_channel *c = &p->ch[0];
	uint64_t d = pit_irq0_deadline_ns(p);
	if (d == UINT64_MAX || now < d)
		return false;
	c->irq_last_ns = now;
	c->irq_next_tick = ch_next_edge(c, ch_ticks(c, now), false);
	return true;
}

void pit_reset(struct pit8254 *p, uint64_t now)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];
		c->gate = i != 2; /* channels 0, 1 gates are tied high on a PC */
		c->count = 65536;
		c->irq_next_tick = NO_TICK;
		c->start_ns = now;
	}
}

void pit_init(struct pit8254 *p, uint64_t now)
{
	pit_reset(p, now);
}

static uint64_t rel(uint64_t t, uint64_t now)
{
	return now > t ? now - t : 0;
}

void pit_save(const struct pit8254 *p, struct snap_writer *w, uint64_t now)
{
	snap_u8(w, p->port61);
	for (unsigned i = 0; i < 3; i++) {
		const struct pit_channel *c = &p->ch[i];
		snap_u8(w, c->mode);
		snap_u8(w, c->rw);
		snap_u8(w, (uint8_t)(c->bcd | c->gate << 1 | c->loaded << 2 | c->counting << 3 |
				     c->running << 4 | c->null_count << 5 |
				     c->write_msb_next << 6 | c->read_msb_next << 7));
		snap_u8(w, (uint8_t)(c->count_latched | c->latch_msb_next << 1 |
				     c->status_latched << 2));
		snap_u32(w, c->count);
		snap_u64(w, rel(c->start_ns, now));
		snap_u64(w, c->ticks_before);
		snap_u8(w, c->write_lsb);
		snap_u16(w, c->latch);
		snap_u8(w, c->status);
		snap_u64(w, c->irq_next_tick);
		snap_u64(w, c->irq_last_ns ? rel(c->irq_last_ns, now) : UINT64_MAX);
	}
}

int pit_restore(struct pit8254 *p, struct snap_reader *r, uint64_t now)
{
	struct pit8254 s;
	memset(&s, 0, sizeof(s));
	s.port61 = snap_get_u8(r) & P61_WRITABLE;
	for (unsigned i = 0; i < 3; i++) {
		struct pit_channel *c = &s.ch[i];
		c->mode = snap_get_u8(r);
		c->rw = snap_get_u8(r);
		uint8_t f = snap_get_u8(r), g = snap_get_u8(r);
		c->bcd = f & 1;
		c->gate = f & 2;
		c->loaded = f & 4;
		c->counting = f & 8;
		c->running = f & 0x10;
		c->null_count = f & 0x20;
		c->write_msb_next = f & 0x40;
		c->read_msb_next = f & 0x80;
		c->count_latched = g & 1;
		c->latch_msb_next = g & 2;
		c->status_latched = g & 4;
		c->count = snap_get_u32(r);
		uint64_t since = snap_get_u64(r);
		c->ticks_before = snap_get_u64(r);
		c->write_lsb = snap_get_u8(r);
		c->latch = snap_get_u16(r);
		c->status = snap_get_u8(r);
		c->irq_next_tick = snap_get_u64(r);
		uint64_t last = snap_get_u64(r);
		/* A count of 0 would divide by zero in modes 2 and 3. */
		if (c->mode > 5 || c->rw > 3 || c->count == 0 || c->count > 65536)
			return -EINVAL;
		c->start_ns = now > since ? now - since : 0;
		c->irq_last_ns = last == UINT64_MAX ? 0 : (now > last ? now - last : 1);
	}
	if (r->error)
		return r->error;
	if (!s.ch[0].gate || !s.ch[1].gate)
		return -EINVAL;
	*p = s;
	return 0;
}
