/* Local APIC model (SDM Vol. 3A ch. 11) with an injected time: reset state,
 * SVR software disable, IRR/ISR/PPR priorities and TPR, EOI and the
 * level-triggered EOI broadcast, illegal vectors and the ESR, IPIs (ICR
 * fields, destinations), the timer in one-shot and periodic modes, register
 * access rules, snapshots; and through struct irqchip: fixed and self IPIs
 * between two CPUs, INIT/SIPI, wake-ups, CR8. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "device.h"
#include "devices/irqchip.h"
#include "devices/lapic.h"
#include "eventloop.h"
#include "snapshot.h"
#include "unit.h"

#define T0 1000000000ull /* an arbitrary start time, ns */

struct hook_log {
	unsigned notifies, eois, sends;
	uint8_t eoi_vector;
	struct apic_msg msg;
};

static void h_send(void *o, struct lapic *src, const struct apic_msg *m)
{
	struct hook_log *h = o;
	h->sends++;
	h->msg = *m;
}

static void h_eoi(void *o, uint8_t v)
{
	struct hook_log *h = o;
	h->eois++;
	h->eoi_vector = v;
}

static void h_notify(void *o, struct lapic *l)
{
	((struct hook_log *)o)->notifies++;
}

static void setup(struct lapic *l, struct hook_log *h, unsigned index)
{
	memset(h, 0, sizeof(*h));
	struct lapic_hooks hooks = { h_send, h_eoi, h_notify, h };
	lapic_init(l, index, index == 0, &hooks);
}

static uint32_t rd(struct lapic *l, uint32_t reg, uint64_t now)
{
	uint8_t d[4];
	lapic_access(l, reg, d, 4, false, now);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct lapic *l, uint32_t reg, uint32_t v, uint64_t now)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	lapic_access(l, reg, d, 4, true, now);
}

static void fixed(struct lapic *l, uint8_t vector, bool level)
{
	struct apic_msg m = { .vector = vector, .delivery = APIC_DM_FIXED, .level_trig = level,
			      .assert = true };
	lapic_deliver(l, &m);
}

static bool irr_bit(struct lapic *l, unsigned v)
{
	return rd(l, 0x200 + (v / 32) * 0x10, T0) & (1u << (v % 32));
}

static bool isr_bit(struct lapic *l, unsigned v)
{
	return rd(l, 0x100 + (v / 32) * 0x10, T0) & (1u << (v % 32));
}

TEST(lapic_reset_state)
{
	struct lapic l0, l1;
	struct hook_log h;
	setup(&l0, &h, 0);
	setup(&l1, &h, 1);
	CHECK_EQ(rd(&l0, 0x30, T0), 0x00050014);
	CHECK_EQ(rd(&l0, 0x20, T0), 0);
	CHECK_EQ(rd(&l1, 0x20, T0), 1u << 24);
	CHECK_EQ(rd(&l0, 0xf0, T0), 0xff);
	CHECK_EQ(rd(&l0, 0xe0, T0), 0xffffffffu);
	CHECK_EQ(rd(&l0, 0x320, T0), 0x10000);
	CHECK_EQ(rd(&l0, 0x350, T0), 0x700); /* BSP LINT0: ExtINT, virtual wire */
	CHECK_EQ(rd(&l1, 0x350, T0), 0x10000);
	CHECK(lapic_lint0_extint(&l0));
	CHECK(!lapic_lint0_extint(&l1));
	CHECK_EQ(lapic_next_deadline_ns(&l0), UINT64_MAX);
}

TEST(lapic_svr_software_disable_keeps_lvt_masked)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 1);
	wr(&l, 0x320, 0xec, T0); /* software-disabled: the mask stays */
	CHECK_EQ(rd(&l, 0x320, T0), 0x100ec);
	wr(&l, 0xf0, 0x1ff, T0);
	CHECK_EQ(rd(&l, 0xf0, T0), 0x1ff);
	wr(&l, 0x320, 0xec, T0);
	CHECK_EQ(rd(&l, 0x320, T0), 0xec);
	/* Bit 18 (TSC-deadline) is not offered; delivery status is read-only. */
	wr(&l, 0x320, 0x614ec, T0);
	CHECK_EQ(rd(&l, 0x320, T0), 0x300ec & 0x214ec);
	fixed(&l, 0x40, false);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	wr(&l, 0xf0, 0xff, T0); /* disable again: LVTs masked, nothing delivered */
	CHECK(rd(&l, 0x320, T0) & 0x10000);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK(irr_bit(&l, 0x40)); /* IRR is kept */
}

TEST(lapic_priorities_tpr_ppr_eoi)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0xf0, 0x1ff, T0);
	fixed(&l, 0x31, false);
	fixed(&l, 0x45, false);
	CHECK(h.notifies >= 2);
	CHECK_EQ(lapic_pending_vector(&l), 0x45);
	lapic_accept(&l, 0x45);
	CHECK(isr_bit(&l, 0x45) && !irr_bit(&l, 0x45));
	CHECK_EQ(rd(&l, 0xa0, T0), 0x40); /* PPR: the in-service class */
	CHECK_EQ(lapic_pending_vector(&l), -1); /* 0x31 is a lower class */
	fixed(&l, 0x4f, false); /* same class as in service: held */
	CHECK_EQ(lapic_pending_vector(&l), -1);
	fixed(&l, 0x51, false); /* higher class: nests */
	CHECK_EQ(lapic_pending_vector(&l), 0x51);
	lapic_accept(&l, 0x51);
	wr(&l, 0xb0, 0, T0); /* EOI clears the highest ISR bit: 0x51 */
	CHECK(!isr_bit(&l, 0x51) && isr_bit(&l, 0x45));
	wr(&l, 0xb0, 0, T0);
	CHECK(!isr_bit(&l, 0x45));
	CHECK_EQ(lapic_pending_vector(&l), 0x4f);
	/* TPR class 4 holds back class 4 and below. */
	wr(&l, 0x80, 0x40, T0);
	CHECK_EQ(rd(&l, 0x80, T0), 0x40);
	CHECK_EQ(rd(&l, 0xa0, T0), 0x40);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	lapic_set_tpr(&l, 0x30);
	CHECK_EQ(lapic_get_tpr(&l), 0x30);
	CHECK_EQ(lapic_pending_vector(&l), 0x4f);
	CHECK_EQ(h.eois, 0); /* edge-triggered: no broadcast */
}

TEST(lapic_level_eoi_broadcast)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0xf0, 0x1ff, T0);
	fixed(&l, 0x61, true);
	CHECK(rd(&l, 0x180 + 3 * 0x10, T0) & 2); /* TMR bit of 0x61 */
	lapic_accept(&l, 0x61);
	wr(&l, 0xb0, 0, T0);
	CHECK_EQ(h.eois, 1);
	CHECK_EQ(h.eoi_vector, 0x61);
	CHECK(!(rd(&l, 0x180 + 3 * 0x10, T0) & 2));
	wr(&l, 0xb0, 0, T0); /* nothing in service: no effect */
	CHECK_EQ(h.eois, 1);
}

TEST(lapic_illegal_vectors_set_esr)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0xf0, 0x1ff, T0);
	wr(&l, 0x370, 0xfe, T0); /* error LVT unmasked, vector 0xfe */
	fixed(&l, 0x05, false);
	CHECK(!irr_bit(&l, 0x05));
	CHECK(irr_bit(&l, 0xfe));
	CHECK_EQ(rd(&l, 0x280, T0), 0); /* visible only after an ESR write */
	wr(&l, 0x280, 0, T0);
	CHECK_EQ(rd(&l, 0x280, T0), 0x40);
	wr(&l, 0x310, 0x01000000, T0);
	wr(&l, 0x300, 0x0007, T0); /* fixed IPI with vector 7: not sent */
	CHECK_EQ(h.sends, 0);
	wr(&l, 0x280, 0, T0);
	CHECK_EQ(rd(&l, 0x280, T0), 0x20);
	wr(&l, 0x280, 0, T0);
	CHECK_EQ(rd(&l, 0x280, T0), 0);
}

TEST(lapic_icr_sends_message)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0x310, 0x03000000, T0);
	wr(&l, 0x300, 0x4851, T0); /* fixed, logical, assert, vector 0x51 */
	CHECK_EQ(h.sends, 1);
	CHECK_EQ(h.msg.vector, 0x51);
	CHECK_EQ(h.msg.delivery, APIC_DM_FIXED);
	CHECK_EQ(h.msg.dest, 3);
	CHECK(h.msg.logical);
	CHECK_EQ(h.msg.shorthand, APIC_DEST_NONE);
	CHECK_EQ(rd(&l, 0x300, T0) & (1u << 12), 0); /* delivery status idle */
	wr(&l, 0x300, 0xc4500, T0); /* INIT, all excluding self, assert */
	CHECK_EQ(h.sends, 2);
	CHECK_EQ(h.msg.delivery, APIC_DM_INIT);
	CHECK_EQ(h.msg.shorthand, APIC_DEST_ALL_BUT_SELF);
	wr(&l, 0x300, 0x00608, T0); /* SIPI vector 8 */
	CHECK_EQ(h.msg.delivery, APIC_DM_SIPI);
	CHECK_EQ(h.msg.vector, 8);
}

TEST(lapic_destinations)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 2);
	CHECK(lapic_match_dest(&l, 2, false));
	CHECK(!lapic_match_dest(&l, 3, false));
	CHECK(lapic_match_dest(&l, 0xff, false));
	wr(&l, 0xd0, 0x04000000, T0); /* logical ID bit 2 */
	CHECK(lapic_match_dest(&l, 0x06, true));
	CHECK(!lapic_match_dest(&l, 0x01, true));
	wr(&l, 0xe0, 0x0fffffff, T0); /* cluster model */
	CHECK_EQ(rd(&l, 0xe0, T0), 0x0fffffff);
	wr(&l, 0xd0, 0x32000000, T0); /* cluster 3, bit 1 */
	CHECK(lapic_match_dest(&l, 0x36, true));
	CHECK(!lapic_match_dest(&l, 0x26, true));
	CHECK(!lapic_match_dest(&l, 0x35, true));
}

TEST(lapic_timer_one_shot)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0xf0, 0x1ff, T0);
	wr(&l, 0x3e0, 0xb, T0);        /* divide by 1: 1 count per ns at 1 GHz */
	wr(&l, 0x320, 0x40, T0);
	wr(&l, 0x380, 1000, T0);
	CHECK_EQ(lapic_next_deadline_ns(&l), T0 + 1000);
	CHECK_EQ(rd(&l, 0x390, T0 + 400), 600);
	CHECK(!irr_bit(&l, 0x40));
	CHECK_EQ(rd(&l, 0x390, T0 + 1000), 0); /* the access fires it */
	CHECK(irr_bit(&l, 0x40));
	CHECK_EQ(lapic_next_deadline_ns(&l), UINT64_MAX);
	CHECK_EQ(rd(&l, 0x390, T0 + 5000), 0);
	/* Divide by 16: 1000 counts take 16 us. */
	lapic_accept(&l, 0x40);
	wr(&l, 0xb0, 0, T0);
	wr(&l, 0x3e0, 0x3, T0);
	wr(&l, 0x380, 1000, T0);
	CHECK_EQ(rd(&l, 0x390, T0 + 8000), 500);
	lapic_poll(&l, T0 + 15999);
	CHECK(!irr_bit(&l, 0x40));
	lapic_poll(&l, T0 + 16000);
	CHECK(irr_bit(&l, 0x40));
	/* Writing 0 stops it. */
	wr(&l, 0x380, 500, T0 + 20000);
	wr(&l, 0x380, 0, T0 + 20001);
	CHECK_EQ(lapic_next_deadline_ns(&l), UINT64_MAX);
	CHECK_EQ(rd(&l, 0x390, T0 + 20002), 0);
}

TEST(lapic_timer_periodic)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	wr(&l, 0xf0, 0x1ff, T0);
	wr(&l, 0x3e0, 0xb, T0);
	wr(&l, 0x320, 0x20040, T0); /* periodic, vector 0x40 */
	wr(&l, 0x380, 100000, T0);   /* 100 us */
	CHECK_EQ(rd(&l, 0x390, T0 + 30000), 70000);
	lapic_poll(&l, T0 + 100000);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	lapic_accept(&l, 0x40);
	wr(&l, 0xb0, 0, T0 + 100001);
	CHECK_EQ(lapic_next_deadline_ns(&l), T0 + 200000);
	CHECK_EQ(rd(&l, 0x390, T0 + 150000), 50000); /* reloaded */
	lapic_poll(&l, T0 + 199999);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	/* Late by several periods: one interrupt, the next on the grid after now. */
	lapic_poll(&l, T0 + 550000);
	CHECK_EQ(lapic_pending_vector(&l), 0x40);
	CHECK_EQ(lapic_next_deadline_ns(&l), T0 + 650000);
	/* Masked: keeps counting, raises nothing. */
	lapic_accept(&l, 0x40);
	wr(&l, 0xb0, 0, T0 + 550000);
	wr(&l, 0x320, 0x30040, T0 + 550000);
	lapic_poll(&l, T0 + 700000);
	CHECK_EQ(lapic_pending_vector(&l), -1);
	CHECK(lapic_next_deadline_ns(&l) > T0 + 700000);
	CHECK(!irr_bit(&l, 0x40));
}

TEST(lapic_access_rules)
{
	struct lapic l;
	struct hook_log h;
	setup(&l, &h, 0);
	uint8_t d[8];
	memset(d, 0xaa, sizeof(d));
	lapic_access(&l, 0x32, d, 2, false, T0); /* not a register boundary */
	CHECK_EQ(d[0], 0);
	CHECK_EQ(d[1], 0);
	memset(d, 0xaa, sizeof(d));
	lapic_access(&l, 0x30, d, 8, false, T0); /* wrong size */
	CHECK_EQ(d[0] | d[7], 0);
	uint8_t w[4] = { 0, 0, 0, 0x20 };
	lapic_access(&l, 0x22, w, 4, true, T0); /* dropped */
	CHECK_EQ(rd(&l, 0x20, T0), 0);
	lapic_access(&l, 0x20, w, 4, true, T0);
	CHECK_EQ(rd(&l, 0x20, T0), 0x20000000);
	wr(&l, 0x30, 0, T0); /* read-only */
	CHECK_EQ(rd(&l, 0x30, T0), 0x00050014);
	lapic_access(&l, 0xfff0, w, 4, true, T0); /* outside the page: ignored */
}

TEST(lapic_snapshot_roundtrip)
{
	struct lapic l, m;
	struct hook_log h;
	setup(&l, &h, 1);
	setup(&m, &h, 1);
	wr(&l, 0xf0, 0x1ff, T0);
	wr(&l, 0x80, 0x20, T0);
	wr(&l, 0x3e0, 0xb, T0);
	wr(&l, 0x320, 0x40, T0);
	wr(&l, 0x380, 10000, T0);
	fixed(&l, 0x77, true);
	struct snap_writer w;
	snap_writer_init(&w);
	snap_begin(&w, "LAPT", 1);
	lapic_save(&l, &w, T0 + 4000);
	snap_end(&w);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	uint32_t ver;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "LAPT", &ver), 0);
	/* Restored on a clock 1 s further on: the remaining 6 us are kept. */
	CHECK_EQ(lapic_restore(&m, &r, T0 + 1000000000ull), 0);
	CHECK_EQ(rd(&m, 0x80, T0), 0x20);
	CHECK(irr_bit(&m, 0x77));
	CHECK(rd(&m, 0x180 + 3 * 0x10, T0) & (1u << (0x77 % 32)));
	CHECK_EQ(lapic_next_deadline_ns(&m), T0 + 1000000000ull + 6000);
	CHECK_EQ(rd(&m, 0x390, T0 + 1000000000ull + 1000), 5000);
	/* Truncated: refused, state untouched. */
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(snap_open(&r, "LAPT", &ver), 0);
	r.end = r.pos + 20;
	struct lapic before = m;
	CHECK(lapic_restore(&m, &r, T0) < 0);
	CHECK(memcmp(&before, &m, sizeof(m)) == 0);
	snap_writer_free(&w);
}

/* ---- through the irqchip ---- */

struct chip_env {
	uint64_t now;
	unsigned wakes[2];
};

static uint64_t env_clock(void *o)
{
	return ((struct chip_env *)o)->now;
}

static void wake0(void *o)
{
	((struct chip_env *)o)->wakes[0]++;
}

static void wake1(void *o)
{
	((struct chip_env *)o)->wakes[1]++;
}

static struct irqchip *make_chip(struct chip_env *e)
{
	memset(e, 0, sizeof(*e));
	e->now = T0;
	struct irqchip *c = irqchip_create(2, 2, env_clock, e);
	if (c) {
		irqchip_set_wake(c, 0, wake0, e);
		irqchip_set_wake(c, 1, wake1, e);
	}
	return c;
}

static void chip_wr(struct irqchip *c, unsigned cpu, uint32_t reg, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	irqchip_lapic_access(c, cpu, 0xfee00000ull + reg, d, 4, true);
}

static uint32_t chip_rd(struct irqchip *c, unsigned cpu, uint32_t reg)
{
	uint8_t d[4];
	irqchip_lapic_access(c, cpu, 0xfee00000ull + reg, d, 4, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void destroy_chip(struct irqchip *c)
{
	struct device *d = irqchip_device(c);
	d->ops->destroy(d);
}

TEST(irqchip_ipi_fixed_self_and_other)
{
	struct chip_env e;
	struct irqchip *c = make_chip(&e);
	CHECK(c != NULL);
	if (!c)
		return;
	chip_wr(c, 0, 0xf0, 0x1ff);
	chip_wr(c, 1, 0xf0, 0x1ff);
	CHECK_EQ(chip_rd(c, 1, 0x20), 1u << 24);
	/* CPU 0 -> CPU 1, fixed, physical. */
	chip_wr(c, 0, 0x310, 1u << 24);
	chip_wr(c, 0, 0x300, 0x55);
	CHECK(e.wakes[1] >= 1);
	CHECK(irqchip_has_interrupt(c, 1));
	CHECK(!irqchip_has_interrupt(c, 0));
	CHECK_EQ(irqchip_ack(c, 1), 0x55);
	CHECK_EQ(irqchip_ack(c, 1), -1);
	CHECK(chip_rd(c, 1, 0x100 + 2 * 0x10) & (1u << (0x55 % 32)));
	chip_wr(c, 1, 0xb0, 0);
	/* Self IPI via the shorthand, and CR8 holding it back. */
	irqchip_set_cr8(c, 0, 6);
	CHECK_EQ(chip_rd(c, 0, 0x80), 0x60);
	CHECK_EQ(irqchip_get_cr8(c, 0), 6);
	unsigned w0 = e.wakes[0];
	chip_wr(c, 0, 0x300, 0x40000 | 0x66);
	CHECK_EQ(e.wakes[0], w0); /* class 6 <= TPR class 6: not deliverable */
	CHECK_EQ(irqchip_ack(c, 0), -1);
	irqchip_set_cr8(c, 0, 0);
	CHECK(e.wakes[0] > w0);
	CHECK_EQ(irqchip_ack(c, 0), 0x66);
	/* All including self. */
	chip_wr(c, 1, 0x300, 0x80000 | 0x70);
	CHECK_EQ(irqchip_ack(c, 0), 0x70);
	CHECK_EQ(irqchip_ack(c, 1), 0x70);
	chip_wr(c, 0, 0xb0, 0);
	chip_wr(c, 0, 0xb0, 0);
	chip_wr(c, 1, 0xb0, 0);
	CHECK_EQ(chip_rd(c, 0, 0x100 + 3 * 0x10), 0);
	/* Lowest priority to both: the one with the lower TPR gets it. */
	irqchip_set_cr8(c, 0, 2);
	chip_wr(c, 0, 0x310, 0xff000000u);
	chip_wr(c, 0, 0x300, 0x100 | 0x90);
	CHECK(!(chip_rd(c, 0, 0x200 + 4 * 0x10) & (1u << (0x90 % 32))));
	CHECK(chip_rd(c, 1, 0x200 + 4 * 0x10) & (1u << (0x90 % 32)));
	destroy_chip(c);
}

TEST(irqchip_init_sipi_and_nmi)
{
	struct chip_env e;
	struct irqchip *c = make_chip(&e);
	if (!c)
		return;
	uint8_t vec = 0;
	CHECK_EQ(irqchip_take_startup(c, 1, &vec), 0);
	chip_wr(c, 0, 0x310, 1u << 24);
	chip_wr(c, 0, 0x300, 0x4500); /* INIT assert */
	CHECK(e.wakes[1] >= 1);
	chip_wr(c, 0, 0x300, 0x8500); /* INIT level de-assert: nothing */
	chip_wr(c, 0, 0x300, 0x0612); /* SIPI, vector 0x12 */
	CHECK_EQ(irqchip_take_startup(c, 1, &vec), LAPIC_EV_INIT | LAPIC_EV_SIPI);
	CHECK_EQ(vec, 0x12);
	CHECK_EQ(irqchip_take_startup(c, 1, &vec), 0);
	CHECK_EQ(chip_rd(c, 1, 0x20), 1u << 24); /* INIT keeps the ID */
	chip_wr(c, 0, 0x300, 0x0400); /* NMI */
	CHECK(irqchip_take_nmi(c, 1));
	CHECK(!irqchip_take_nmi(c, 1));
	destroy_chip(c);
}

TEST(irqchip_lapic_timer_wakes_cpu)
{
	struct chip_env e;
	struct irqchip *c = make_chip(&e);
	if (!c)
		return;
	chip_wr(c, 1, 0xf0, 0x1ff);
	chip_wr(c, 1, 0x3e0, 0xb);
	chip_wr(c, 1, 0x320, 0x40);
	chip_wr(c, 1, 0x380, 1000000); /* 1 ms */
	CHECK_EQ(irqchip_next_deadline_ns(c), T0 + 1000000);
	unsigned w = e.wakes[1];
	e.now = T0 + 999999;
	irqchip_poll(c);
	CHECK_EQ(e.wakes[1], w);
	e.now = T0 + 1000000;
	irqchip_poll(c);
	CHECK(e.wakes[1] > w);
	CHECK_EQ(irqchip_ack(c, 1), 0x40);
	CHECK_EQ(irqchip_next_deadline_ns(c), UINT64_MAX);
	/* A hardware-disabled APIC takes nothing from its IRR. */
	chip_wr(c, 1, 0x380, 10);
	e.now += 10;
	irqchip_set_apic_enabled(c, 1, false);
	CHECK(!irqchip_has_interrupt(c, 1));
	destroy_chip(c);
}

/* The real clock and a timerfd on an event loop: a 1 ms one-shot timer wakes
 * the vCPU while nothing calls into the chip (what a halted vCPU relies on). */
static void wake_count(void *o)
{
	(*(unsigned *)o)++;
}

TEST(irqchip_timerfd_wakes_halted_cpu)
{
	struct eventloop *loop = eventloop_create();
	struct irqchip *c = irqchip_create(1, 1, NULL, NULL);
	unsigned wakes = 0;
	CHECK(loop && c);
	if (!loop || !c)
		goto out;
	CHECK_EQ(irqchip_enable_timers(c, loop), 0);
	CHECK_EQ(irqchip_enable_timers(c, loop), -EBUSY);
	irqchip_set_wake(c, 0, wake_count, &wakes);
	chip_wr(c, 0, 0xf0, 0x1ff);
	chip_wr(c, 0, 0x3e0, 0xb);
	chip_wr(c, 0, 0x320, 0x41);
	chip_wr(c, 0, 0x380, 1000000);
	for (int i = 0; i < 100 && !wakes; i++)
		CHECK_EQ(eventloop_run_once(loop, 100), 0);
	CHECK(wakes >= 1);
	CHECK_EQ(irqchip_ack(c, 0), 0x41);
out:
	if (c)
		destroy_chip(c);
	if (loop)
		eventloop_destroy(loop);
}
