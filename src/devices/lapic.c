/* Local APIC, xAPIC mode: Intel SDM Vol. 3A chapter 11 (10 in older
 * editions). Section numbers below are the SDM's 11.x ones.
 *
 * Register semantics follow 11.4 (ID, version, SVR), 11.5 (LVT, ESR, timer),
 * 11.6 (ICR, destinations, lowest priority), 11.8 (IRR/ISR/TMR, TPR/PPR/APR,
 * EOI) and 11.9 (spurious interrupt). The timer's current count is a function
 * of time (no thread ticks it): counting started at start_ns from start_count
 * at LAPIC_BUS_HZ / divide; the owner calls lapic_poll() at next_ns (and on
 * every register access) to set the IRR bit when it expires. */
#include <errno.h>
#include <string.h>

#include "devices/lapic.h"
#include "snapshot.h"

enum {
	REG_ID = 0x20,
	REG_VERSION = 0x30,
	REG_TPR = 0x80,
	REG_APR = 0x90,
	REG_PPR = 0xa0,
	REG_EOI = 0xb0,
	REG_RRD = 0xc0,
	REG_LDR = 0xd0,
	REG_DFR = 0xe0,
	REG_SVR = 0xf0,
	REG_ISR = 0x100,
	REG_TMR = 0x180,
	REG_IRR = 0x200,
	REG_ESR = 0x280,
	REG_ICR_LO = 0x300,
	REG_ICR_HI = 0x310,
	REG_LVT_TIMER = 0x320, /* LVT entries follow at 0x10 steps to 0x370 */
	REG_LVT_ERROR = 0x370,
	REG_TMICT = 0x380,
	REG_TMCCT = 0x390,
	REG_TDCR = 0x3e0,
};

/* Version register (11.4.8): version 0x14 (integrated APIC), max LVT entry 5
 * (six entries, no CMCI), no EOI-broadcast suppression (bit 24 clear). */
#define LAPIC_VERSION 0x00050014u

#define SVR_ENABLE (1u << 8)
#define SVR_MASK 0x3ffu /* vector, software enable, focus checking */
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define LVT_DM(v) (((v) >> 8) & 7)

/* ESR bits (11.5.3). */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER (1u << 7)

/* Writable bits of each LVT entry (11.5.1, Figure 11-8); bit 12 delivery
 * status and bit 14 remote IRR are read-only. */
static const uint32_t lvt_writable[LVT_NR] = {
	[LVT_TIMER] = 0x300ff,   /* vector, mask, periodic (no TSC-deadline bit) */
	[LVT_THERMAL] = 0x107ff, /* vector, delivery mode, mask */
	[LVT_PERF] = 0x107ff,
	[LVT_LINT0] = 0x1a7ff,   /* + polarity, trigger mode */
	[LVT_LINT1] = 0x1a7ff,
	[LVT_ERROR] = 0x100ff,
};

/* A periodic timer never fires more often than this (the count still runs at
 * the programmed rate): a guest asking for a 1 ns period must not turn the
 * event loop into a busy loop. KVM has the same kind of floor. */
#define LAPIC_MIN_PERIOD_NS 50000ull
#define NOT_ARMED UINT64_MAX

/* ---- bit vectors (IRR/ISR/TMR: 8 x 32 bits, vector v is bit v%32 of word v/32) ---- */

static void vec_set(uint32_t *v, unsigned n)
{
	v[n / 32] |= 1u << (n % 32);
}

static void vec_clear(uint32_t *v, unsigned n)
{
	v[n / 32] &= ~(1u << (n % 32));
}

static bool vec_test(const uint32_t *v, unsigned n)
{
	return v[n / 32] & (1u << (n % 32));
}

static int vec_highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

/* ---- priorities (11.8.3) ---- */

uint8_t lapic_ppr(const struct lapic *l)
{
	int isrv = vec_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	if ((l->tpr & 0xf0) >= isr_class)
		return (uint8_t)l->tpr;
	return (uint8_t)isr_class;
}

/* 11.6.2.4 (APR in the P6 family): TPR if it is at least IRRV's class and
 * above ISRV's, else the highest of the three classes. */
uint8_t lapic_apr(const struct lapic *l)
{
	int irrv = vec_highest(l->irr), isrv = vec_highest(l->isr);
	uint32_t tc = l->tpr & 0xf0, irc = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0;
	uint32_t isc = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	if (tc >= irc && tc > isc)
		return (uint8_t)l->tpr;
	uint32_t m = tc > irc ? tc : irc;
	return (uint8_t)(m > isc ? m : isc);
}

static bool lapic_sw_enabled(const struct lapic *l)
{
	return l->svr & SVR_ENABLE;
}

int lapic_pending_vector(const struct lapic *l)
{
	if (!l->hw_enabled || !lapic_sw_enabled(l))
		return -1;
	int v = vec_highest(l->irr);
	if (v < 0 || ((unsigned)v & 0xf0) <= (lapic_ppr(l) & 0xf0u))
		return -1;
	return v;
}

static void lapic_notify(struct lapic *l)
{
	if (l->hooks.notify)
		l->hooks.notify(l->hooks.opaque, l);
}

void lapic_accept(struct lapic *l, int vector)
{
	if (vector < 0 || vector > 255 || !vec_test(l->irr, (unsigned)vector))
		return;
	vec_clear(l->irr, (unsigned)vector);
	vec_set(l->isr, (unsigned)vector);
}

bool lapic_lint0_extint(const struct lapic *l)
{
	uint32_t v = l->lvt[LVT_LINT0];
	return !l->hw_enabled || (!(v & LVT_MASKED) && LVT_DM(v) == APIC_DM_EXTINT);
}

void lapic_set_tpr(struct lapic *l, uint8_t tpr)
{
	l->tpr = tpr;
	lapic_notify(l); /* a lower TPR may unblock a pending vector */
}

uint8_t lapic_get_tpr(const struct lapic *l)
{
	return (uint8_t)l->tpr;
}

/* ---- accepting interrupts ---- */

static void lapic_set_irr(struct lapic *l, uint8_t vector, bool level);

/* Record errors in the ESR and raise the error LVT (11.5.3). */
static void lapic_error(struct lapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	uint32_t lvt = l->lvt[LVT_ERROR];
	/* An illegal error vector must not recurse into another error. */
	if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
		lapic_set_irr(l, (uint8_t)lvt, false);
}

/* Fixed interrupt arrives (11.8.4): vectors 0-15 are illegal. */
static void lapic_set_irr(struct lapic *l, uint8_t vector, bool level)
{
	if (vector < 16) {
		lapic_error(l, ESR_RECV_ILLEGAL_VECTOR);
		return;
	}
	vec_set(l->irr, vector);
	if (level)
		vec_set(l->tmr, vector);
	else
		vec_clear(l->tmr, vector);
	lapic_notify(l);
}

void lapic_deliver(struct lapic *l, const struct apic_msg *m)
{
	switch (m->delivery) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		lapic_set_irr(l, m->vector, m->level_trig);
		break;
	case APIC_DM_NMI:
		l->nmi_pending = true;
		lapic_notify(l);
		break;
	case APIC_DM_INIT:
		/* INIT level de-assert only resynchronises arbitration IDs. */
		if (m->level_trig && !m->assert)
			break;
		{
			/* 11.4.7.3: INIT resets the APIC like power-up, but
			 * the ID (and arbitration ID) are kept. */
			uint32_t id = l->id;
			uint8_t startup = l->startup;
			bool hw = l->hw_enabled; /* IA32_APIC_BASE is the CPU's */
			lapic_reset(l);
			l->id = id;
			l->hw_enabled = hw;
			l->startup = startup | LAPIC_EV_INIT;
		}
		lapic_notify(l);
		break;
	case APIC_DM_SIPI:
		l->startup |= LAPIC_EV_SIPI;
		l->sipi_vector = m->vector;
		lapic_notify(l);
		break;
	case APIC_DM_EXTINT:
		l->extint_pending = true;
		lapic_notify(l);
		break;
	default: /* SMI and reserved modes: not modelled, dropped */
		break;
	}
}

bool lapic_match_dest(const struct lapic *l, uint8_t dest, bool logical)
{
	if (dest == 0xff)
		return true; /* broadcast in both modes (11.6.2.1, 11.6.2.2) */
	if (!logical)
		return dest == (uint8_t)(l->id >> 24);
	uint8_t ldr = (uint8_t)(l->ldr >> 24);
	if ((l->dfr >> 28) == 0xf) /* flat model: a bit mask of 8 APICs */
		return ldr & dest;
	/* cluster model: 4-bit cluster, 4-bit mask inside it */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0x0f);
}

/* ---- EOI (11.8.5) ---- */

static void lapic_eoi(struct lapic *l)
{
	int v = vec_highest(l->isr);
	if (v < 0)
		return;
	vec_clear(l->isr, (unsigned)v);
	if (vec_test(l->tmr, (unsigned)v)) {
		vec_clear(l->tmr, (unsigned)v);
		if (l->hooks.eoi)
			l->hooks.eoi(l->hooks.opaque, (uint8_t)v);
	}
	lapic_notify(l); /* PPR dropped: a pending vector may be deliverable */
}

/* ---- timer (11.5.4) ---- */

/* Divide configuration: bits 0, 1 and 3; 0b111 is divide by 1. */
static uint64_t lapic_divide(const struct lapic *l)
{
	unsigned v = (l->tdcr & 3) | ((l->tdcr >> 1) & 4);
	return v == 7 ? 1 : 2ull << v;
}

static uint64_t ticks_to_ns(const struct lapic *l, uint64_t ticks)
{
	unsigned __int128 ns = (unsigned __int128)ticks * lapic_divide(l) * 1000000000u;
	ns /= LAPIC_BUS_HZ;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static uint64_t ns_to_ticks(const struct lapic *l, uint64_t ns)
{
	unsigned __int128 t = (unsigned __int128)ns * LAPIC_BUS_HZ;
	t /= (unsigned __int128)lapic_divide(l) * 1000000000u;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static bool timer_periodic(const struct lapic *l)
{
	return l->lvt[LVT_TIMER] & LVT_PERIODIC;
}

static uint32_t timer_current(const struct lapic *l, uint64_t now)
{
	const struct lapic_timer *t = &l->timer;
	if (!t->initial)
		return 0;
	uint64_t e = now > t->start_ns ? ns_to_ticks(l, now - t->start_ns) : 0;
	if (e < t->start_count)
		return (uint32_t)(t->start_count - e);
	if (!timer_periodic(l))
		return 0;
	e -= t->start_count;
	return t->initial - (uint32_t)(e % t->initial);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - 1 - b ? UINT64_MAX - 1 : a + b;
}

/* Restart counting at now from the current count (after a change of mode or
 * divisor) and arm the next expiry. */
static void timer_rebase(struct lapic *l, uint64_t now)
{
	struct lapic_timer *t = &l->timer;
	uint32_t cur = timer_current(l, now);
	t->start_ns = now;
	t->start_count = cur;
	t->next_ns = cur ? sat_add(now, ticks_to_ns(l, cur)) : NOT_ARMED;
}

static void timer_start(struct lapic *l, uint32_t initial, uint64_t now)
{
	struct lapic_timer *t = &l->timer;
	t->initial = initial;
	t->start_count = initial;
	t->start_ns = now;
	t->next_ns = initial ? sat_add(now, ticks_to_ns(l, initial)) : NOT_ARMED;
}

void lapic_poll(struct lapic *l, uint64_t now)
{
	struct lapic_timer *t = &l->timer;
	if (t->next_ns == NOT_ARMED || now < t->next_ns)
		return;
	uint32_t lvt = l->lvt[LVT_TIMER];
	/* A masked timer still counts; it just raises nothing (11.5.1). */
	if (!(lvt & LVT_MASKED))
		lapic_set_irr(l, (uint8_t)lvt, false);
	if (!timer_periodic(l) || !t->initial) {
		t->next_ns = NOT_ARMED;
		return;
	}
	uint64_t period = ticks_to_ns(l, t->initial);
	if (period < LAPIC_MIN_PERIOD_NS)
		period = LAPIC_MIN_PERIOD_NS;
	/* Missed periods coalesce: the IRR holds one pending interrupt. */
	t->next_ns = sat_add(t->next_ns, period);
	if (t->next_ns <= now)
		t->next_ns = sat_add(now, period);
}

uint64_t lapic_next_deadline_ns(const struct lapic *l)
{
	return l->timer.next_ns;
}

/* ---- registers ---- */

static bool lvt_reg(uint32_t reg, unsigned *idx)
{
	if (reg < REG_LVT_TIMER || reg > REG_LVT_ERROR)
		return false;
	*idx = (reg - REG_LVT_TIMER) >> 4;
	return true;
}

uint32_t lapic_read(struct lapic *l, uint32_t reg, uint64_t now)
{
	unsigned i;
	if (lvt_reg(reg, &i))
		return l->lvt[i];
	if (reg >= REG_ISR && reg < REG_ISR + 0x80)
		return l->isr[(reg - REG_ISR) >> 4];
	if (reg >= REG_TMR && reg < REG_TMR + 0x80)
		return l->tmr[(reg - REG_TMR) >> 4];
	if (reg >= REG_IRR && reg < REG_IRR + 0x80)
		return l->irr[(reg - REG_IRR) >> 4];
	switch (reg) {
	case REG_ID: return l->id;
	case REG_VERSION: return LAPIC_VERSION;
	case REG_TPR: return l->tpr;
	case REG_APR: return lapic_apr(l);
	case REG_PPR: return lapic_ppr(l);
	case REG_EOI: return 0; /* write-only */
	case REG_RRD: return 0; /* remote read is not supported (11.6.1) */
	case REG_LDR: return l->ldr;
	case REG_DFR: return l->dfr;
	case REG_SVR: return l->svr;
	case REG_ESR: return l->esr;
	case REG_ICR_LO: return l->icr_lo;
	case REG_ICR_HI: return l->icr_hi;
	case REG_TMICT: return l->timer.initial;
	case REG_TMCCT: return timer_current(l, now);
	case REG_TDCR: return l->tdcr;
	default:
		lapic_error(l, ESR_ILLEGAL_REGISTER);
		return 0;
	}
}

/* An ICR low write sends the IPI (11.6.1). Delivery is immediate, so the
 * delivery status bit always reads idle. */
static void lapic_send_ipi(struct lapic *l)
{
	struct apic_msg m = {
		.vector = (uint8_t)l->icr_lo,
		.delivery = (uint8_t)LVT_DM(l->icr_lo),
		.logical = l->icr_lo & (1u << 11),
		.assert = l->icr_lo & (1u << 14),
		.level_trig = l->icr_lo & (1u << 15),
		.shorthand = (uint8_t)((l->icr_lo >> 18) & 3),
		.dest = (uint8_t)(l->icr_hi >> 24),
	};
	if ((m.delivery == APIC_DM_FIXED || m.delivery == APIC_DM_LOWEST) && m.vector < 16) {
		lapic_error(l, ESR_SEND_ILLEGAL_VECTOR);
		return;
	}
	/* Fixed IPIs are edge-triggered; the trigger bit matters for INIT. */
	if (m.delivery != APIC_DM_INIT)
		m.level_trig = false;
	if (l->hooks.send)
		l->hooks.send(l->hooks.opaque, l, &m);
}

void lapic_write(struct lapic *l, uint32_t reg, uint32_t val, uint64_t now)
{
	unsigned i;
	if (lvt_reg(reg, &i)) {
		val &= lvt_writable[i];
		if (!lapic_sw_enabled(l)) /* 11.4.7.2: masks stay set */
			val |= LVT_MASKED;
		l->lvt[i] = val;
		if (i == LVT_TIMER)
			timer_rebase(l, now);
		lapic_notify(l); /* LINT0 may have become an ExtINT input */
		return;
	}
	switch (reg) {
	case REG_ID:
		l->id = val & 0xff000000u;
		break;
	case REG_TPR:
		lapic_set_tpr(l, (uint8_t)val);
		break;
	case REG_EOI:
		lapic_eoi(l);
		break;
	case REG_LDR:
		l->ldr = val & 0xff000000u;
		break;
	case REG_DFR:
		l->dfr = val | 0x0fffffffu;
		break;
	case REG_SVR:
		l->svr = val & SVR_MASK;
		if (!lapic_sw_enabled(l))
			for (unsigned k = 0; k < LVT_NR; k++)
				l->lvt[k] |= LVT_MASKED;
		lapic_notify(l);
		break;
	case REG_ESR:
		/* A write latches the errors seen since the last one (11.5.3). */
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case REG_ICR_LO:
		l->icr_lo = val & 0x000cdfffu;
		lapic_send_ipi(l);
		break;
	case REG_ICR_HI:
		l->icr_hi = val & 0xff000000u;
		break;
	case REG_TMICT:
		timer_start(l, val, now);
		break;
	case REG_TDCR:
		l->tdcr = val & 0xb;
		timer_rebase(l, now);
		break;
	case REG_VERSION: case REG_APR: case REG_PPR: case REG_RRD: case REG_TMCCT:
		break; /* read-only */
	default:
		if ((reg >= REG_ISR && reg < REG_IRR + 0x80))
			break; /* ISR, TMR, IRR are read-only */
		lapic_error(l, ESR_ILLEGAL_REGISTER);
		break;
	}
}

void lapic_access(struct lapic *l, uint64_t off, uint8_t *data, unsigned size, bool is_write,
		  uint64_t now)
{
	lapic_poll(l, now);
	bool reg_ok = off < LAPIC_PAGE_SIZE && (off & 0xf) == 0 && size == 4;
	if (is_write) {
		if (reg_ok)
			lapic_write(l, (uint32_t)off,
				    (uint32_t)data[0] | (uint32_t)data[1] << 8 |
				    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24, now);
		return;
	}
	memset(data, 0, size > 8 ? 8 : size);
	if (!reg_ok)
		return;
	uint32_t v = lapic_read(l, (uint32_t)off, now);
	for (unsigned i = 0; i < 4; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

/* ---- life cycle ---- */

void lapic_init(struct lapic *l, unsigned index, bool bsp, const struct lapic_hooks *hooks)
{
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->bsp = bsp;
	if (hooks)
		l->hooks = *hooks;
	lapic_reset(l);
}

/* 11.4.7.1: IRR/ISR/TMR, ICR, LDR, TPR, timer registers and divide
 * configuration 0; DFR all ones; LVT entries masked; SVR 0xff (software
 * disabled). As KVM does, the boot CPU's LINT0 starts as an unmasked ExtINT
 * input, the virtual-wire setup a BIOS would have left, so the 8259 reaches
 * the CPU before the guest programs the APIC. */
void lapic_reset(struct lapic *l)
{
	unsigned index = l->index;
	bool bsp = l->bsp;
	struct lapic_hooks hooks = l->hooks;
	memset(l, 0, sizeof(*l));
	l->index = index;
	l->bsp = bsp;
	l->hooks = hooks;
	l->hw_enabled = true;
	l->id = (uint32_t)index << 24;
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	for (unsigned i = 0; i < LVT_NR; i++)
		l->lvt[i] = LVT_MASKED;
	if (bsp)
		l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
	l->timer.next_ns = NOT_ARMED;
}

bool lapic_take_nmi(struct lapic *l)
{
	bool n = l->nmi_pending;
	l->nmi_pending = false;
	return n;
}

unsigned lapic_take_startup(struct lapic *l, uint8_t *sipi_vector)
{
	unsigned ev = l->startup;
	l->startup = 0;
	if (ev & LAPIC_EV_SIPI && sipi_vector)
		*sipi_vector = l->sipi_vector;
	return ev;
}

/* ---- snapshots ---- */

void lapic_save(const struct lapic *l, struct snap_writer *w, uint64_t now)
{
	const struct lapic_timer *t = &l->timer;
	snap_u8(w, l->hw_enabled);
	snap_u32(w, l->id);
	snap_u32(w, l->tpr);
	snap_u32(w, l->ldr);
	snap_u32(w, l->dfr);
	snap_u32(w, l->svr);
	for (unsigned i = 0; i < 8; i++) {
		snap_u32(w, l->isr[i]);
		snap_u32(w, l->tmr[i]);
		snap_u32(w, l->irr[i]);
	}
	snap_u32(w, l->esr);
	snap_u32(w, l->esr_pending);
	snap_u32(w, l->icr_lo);
	snap_u32(w, l->icr_hi);
	for (unsigned i = 0; i < LVT_NR; i++)
		snap_u32(w, l->lvt[i]);
	snap_u32(w, l->tdcr);
	snap_u32(w, t->initial);
	snap_u32(w, t->start_count);
	snap_u64(w, now > t->start_ns ? now - t->start_ns : 0);     /* time counted so far */
	snap_u8(w, t->next_ns != NOT_ARMED);
	snap_u64(w, t->next_ns != NOT_ARMED && t->next_ns > now ? t->next_ns - now : 0);
	snap_u8(w, l->nmi_pending);
	snap_u8(w, l->extint_pending);
	snap_u8(w, l->startup);
	snap_u8(w, l->sipi_vector);
}

int lapic_restore(struct lapic *l, struct snap_reader *r, uint64_t now)
{
	struct lapic s = *l;
	s.hw_enabled = snap_get_u8(r) != 0;
	s.id = snap_get_u32(r) & 0xff000000u;
	s.tpr = snap_get_u32(r) & 0xff;
	s.ldr = snap_get_u32(r) & 0xff000000u;
	s.dfr = snap_get_u32(r) | 0x0fffffffu;
	s.svr = snap_get_u32(r) & SVR_MASK;
	for (unsigned i = 0; i < 8; i++) {
		s.isr[i] = snap_get_u32(r);
		s.tmr[i] = snap_get_u32(r);
		s.irr[i] = snap_get_u32(r);
	}
	s.esr = snap_get_u32(r) & 0xff;
	s.esr_pending = snap_get_u32(r) & 0xff;
	s.icr_lo = snap_get_u32(r) & 0x000cdfffu;
	s.icr_hi = snap_get_u32(r) & 0xff000000u;
	for (unsigned i = 0; i < LVT_NR; i++)
		s.lvt[i] = snap_get_u32(r) & (lvt_writable[i] | (1u << 14));
	s.tdcr = snap_get_u32(r) & 0xb;
	s.timer.initial = snap_get_u32(r);
	s.timer.start_count = snap_get_u32(r);
	uint64_t counted = snap_get_u64(r);
	bool armed = snap_get_u8(r) != 0;
	uint64_t remaining = snap_get_u64(r);
	s.nmi_pending = snap_get_u8(r) != 0;
	s.extint_pending = snap_get_u8(r) != 0;
	s.startup = snap_get_u8(r) & (LAPIC_EV_INIT | LAPIC_EV_SIPI);
	s.sipi_vector = snap_get_u8(r);
	if (r->error)
		return r->error;
	if (s.timer.start_count > s.timer.initial)
		return -EINVAL;
	s.timer.start_ns = now > counted ? now - counted : 0;
	s.timer.next_ns = armed ? sat_add(now, remaining) : NOT_ARMED;
	*l = s;
	return 0;
}
