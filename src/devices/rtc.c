/* CMOS RTC, after the Motorola MC146818A datasheet (section numbers below are
 * its "Address Map", "Time, Calendar and Alarm Locations", "Update Cycle" and
 * "Registers" parts) and the PC's use of it (index port 0x70, bit 7 of which
 * gates NMI; data port 0x71; century in CMOS byte 0x32).
 *
 * Time keeping: the guest's time is host UTC + offset_ns. While the clock is
 * running, the time registers are computed on each read in the format
 * register B asks for (BCD or binary, 12 or 24 hour). While it is stopped
 * (register B SET = 1, or register A's divider in reset) the time registers
 * are plain bytes in cmos[] that the guest reads and writes as on the chip;
 * when it starts again they are decoded once and become the new offset. A
 * write to a time register while the clock runs changes that field of the
 * current time at once. Out-of-range values (month 13, BCD digit 0xA) are
 * normalised by timegm() instead of making the chip count nonsense. The
 * day-of-week register follows from the date; writes to it are kept only while
 * the clock is stopped. Daylight-saving (B.DSE) is stored but not applied.
 *
 * Flags (register C): PF, AF and UF are derived from the clock for the time
 * since they were last cleared, whenever a register is accessed, so a guest
 * that polls register C sees them at the right rate. The IRQ 8 line follows
 * IRQF. A timerfd on the event loop (rtc_enable_interrupts) wakes the device
 * at the next event that would raise IRQF — the next periodic tick, update or
 * alarm match among the enabled ones — and only while the line is down, so
 * the timer fires no faster than the guest acknowledges (reads register C).
 * Square-wave output (SQWE) goes nowhere on a PC and is stored only. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "devices/rtc.h"
#include "eventloop.h"
#include "snapshot.h"
#include "vm.h"

/* CMOS indices. */
enum {
	RTC_SECONDS = 0x00,
	RTC_SECONDS_ALARM = 0x01,
	RTC_MINUTES = 0x02,
	RTC_MINUTES_ALARM = 0x03,
	RTC_HOURS = 0x04,
	RTC_HOURS_ALARM = 0x05,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32, /* PC convention (ACPI FADT.CENTURY points here) */
};

#define REG_A_UIP       0x80
#define REG_A_DV_MASK   0x70
#define REG_A_DV_32K    0x20 /* 32.768 kHz time base, divider running */
#define REG_A_RS_MASK   0x0f
#define REG_B_SET       0x80
#define REG_B_PIE       0x40
#define REG_B_AIE       0x20
#define REG_B_UIE       0x10
#define REG_B_SQWE      0x08
#define REG_B_DM_BINARY 0x04
#define REG_B_24H       0x02
#define REG_C_IRQF      0x80
#define REG_C_PF        0x40
#define REG_C_AF        0x20
#define REG_C_UF        0x10
#define REG_D_VRT       0x80
#define NMI_DISABLE     0x80
#define HOUR_PM         0x80
#define ALARM_DONT_CARE 0xc0

#define NS_PER_SEC      1000000000ll
/* "Update Cycle": UIP rises 244 us before the update starts and falls when
 * the update (1984 us with a 32.768 kHz time base) is over. The registers
 * change at the second boundary, inside that window. */
#define UIP_BEFORE_NS   244000ll
#define UIP_AFTER_NS    1984000ll
#define SECS_PER_DAY    86400ll
/* Guest times are kept in int64 nanoseconds, good for 1678..2262; the guest
 * may name years 0..25599, so what it writes is clamped to 1779..2160, which
 * leaves room for the host time and an offset without overflow. */
#define RTC_MIN_SECS    (-6000000000ll)
#define RTC_MAX_SECS    6000000000ll
#define RTC_MAX_OFFSET_NS 8000000000000000000ll

struct rtc {
	struct device dev;
	rtc_clock_fn clock;
	void *clock_opaque;
	struct irq_line irq;
	struct eventloop *loop; /* watches timer_fd; NULL without interrupts */
	int timer_fd;           /* timerfd for the next interrupt event, or -1 */

	/* Protects everything below. Only vCPU threads touch the RTC, but two
	 * vCPUs may, and the index/data pair is a two-step protocol. */
	pthread_mutex_t lock;
	uint8_t index;          /* 0..127 */
	uint8_t nmi_disabled;   /* bit 7 of the last index write, kept for the record */
	uint8_t cmos[RTC_CMOS_SIZE]; /* RAM, alarms, A, B; time while stopped */
	int64_t offset_ns;      /* guest time = host time + offset_ns, while running */
	bool stopped;           /* SET or divider reset: the time registers are bytes */
	int64_t phase_ns;       /* while stopped: host times that are this modulo
				 * 1 s are when the divider chain completes a second */
	uint8_t flags;          /* PF | AF | UF accumulated since register C was read */
	int64_t flags_ns;       /* host time up to which flags are accumulated */
	bool irq_level;         /* IRQF as last given to the irq router */
	int64_t armed_ns;       /* host time timer_fd is set for, or -1 */
};

static int64_t rtc_host_realtime(void *opaque)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_encode(const struct rtc *r, unsigned v)
{
	return (r->cmos[RTC_REG_B] & REG_B_DM_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned rtc_decode(const struct rtc *r, uint8_t v)
{
	return (r->cmos[RTC_REG_B] & REG_B_DM_BINARY) ? v : from_bcd(v);
}

static uint8_t rtc_encode_hour(const struct rtc *r, unsigned h)
{
	if (r->cmos[RTC_REG_B] & REG_B_24H)
		return rtc_encode(r, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return rtc_encode(r, h12) | (h >= 12 ? HOUR_PM : 0);
}

static unsigned rtc_decode_hour(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & REG_B_24H)
		return rtc_decode(r, v);
	unsigned h = rtc_decode(r, (uint8_t)(v & ~HOUR_PM)) % 12; /* 12 AM is 0, 12 PM is 12 */
	return (v & HOUR_PM) ? h + 12 : h;
}

static bool rtc_is_time_reg(unsigned idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       (idx >= RTC_DAY_OF_WEEK && idx <= RTC_YEAR) || idx == RTC_CENTURY;
}

/* The time registers for guest second `secs`, stored into img[] (a cmos
 * image indexed like cmos[]). */
static void rtc_fill_time(const struct rtc *r, int64_t secs, uint8_t *img)
{
	struct tm tm;
	time_t t = (time_t)secs;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	unsigned year = (unsigned)(tm.tm_year + 1900);
	img[RTC_SECONDS] = rtc_encode(r, (unsigned)tm.tm_sec);
	img[RTC_MINUTES] = rtc_encode(r, (unsigned)tm.tm_min);
	img[RTC_HOURS] = rtc_encode_hour(r, (unsigned)tm.tm_hour);
	img[RTC_DAY_OF_WEEK] = rtc_encode(r, (unsigned)tm.tm_wday + 1); /* Sunday = 1 */
	img[RTC_DAY_OF_MONTH] = rtc_encode(r, (unsigned)tm.tm_mday);
	img[RTC_MONTH] = rtc_encode(r, (unsigned)tm.tm_mon + 1);
	img[RTC_YEAR] = rtc_encode(r, year % 100);
	img[RTC_CENTURY] = rtc_encode(r, year / 100);
}

/* Seconds since the epoch that the time registers in img[] name. */
static int64_t rtc_parse_time(const struct rtc *r, const uint8_t *img)
{
	struct tm tm = { 0 };
	tm.tm_sec = (int)rtc_decode(r, img[RTC_SECONDS]);
	tm.tm_min = (int)rtc_decode(r, img[RTC_MINUTES]);
	tm.tm_hour = (int)rtc_decode_hour(r, img[RTC_HOURS]);
	tm.tm_mday = (int)rtc_decode(r, img[RTC_DAY_OF_MONTH]);
	tm.tm_mon = (int)rtc_decode(r, img[RTC_MONTH]) - 1;
	tm.tm_year = (int)(rtc_decode(r, img[RTC_CENTURY]) * 100 +
			   rtc_decode(r, img[RTC_YEAR])) - 1900;
	int64_t secs = (int64_t)timegm(&tm);
	if (secs < RTC_MIN_SECS)
		return RTC_MIN_SECS;
	return secs > RTC_MAX_SECS ? RTC_MAX_SECS : secs;
}

/* Saturating: offset_ns and a restored flags_ns are bounded, but a host clock
 * or a snapshot far out of range must not make this overflow. */
static int64_t rtc_guest_ns(const struct rtc *r, int64_t host_ns)
{
	int64_t g;
	if (__builtin_add_overflow(host_ns, r->offset_ns, &g))
		return r->offset_ns > 0 ? INT64_MAX : INT64_MIN;
	return g;
}

/* Periodic interrupt period for register A's RS bits ("Periodic Interrupt
 * Rate" table, 32.768 kHz time base): RS 1, 2 are 3.90625 and 7.8125 ms; RS
 * 3..15 are 2^(RS-1) / 32768 s. 0: none. */
static int64_t rtc_period_ns(const struct rtc *r)
{
	unsigned rs = r->cmos[RTC_REG_A] & REG_A_RS_MASK;
	if (!rs)
		return 0;
	unsigned shift = rs <= 2 ? rs + 7 : rs - 1;
	return (int64_t)(((uint64_t)NS_PER_SEC << shift) / 32768);
}

static bool rtc_divider_running(const struct rtc *r)
{
	return (r->cmos[RTC_REG_A] & REG_A_DV_MASK) == REG_A_DV_32K;
}

static bool alarm_field_match(uint8_t alarm, uint8_t now)
{
	return (alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE || alarm == now;
}

/* The first guest second after `after` at which the alarm registers match
 * the time ("Time, Calendar and Alarm Locations": a match of hours, minutes
 * and seconds at an update; 0xc0-0xff is "don't care"), or INT64_MAX if they
 * never can (e.g. hours 0x25 in BCD). The pattern repeats daily, so two days
 * of search suffice; whole hours and minutes that cannot match are skipped,
 * which keeps this to a few thousand steps at worst. */
static int64_t rtc_next_alarm(const struct rtc *r, int64_t after)
{
	bool hm[24], mm[60], sm[60], any_h = false, any_m = false, any_s = false;
	for (unsigned i = 0; i < 60; i++) {
		if (i < 24) {
			hm[i] = alarm_field_match(r->cmos[RTC_HOURS_ALARM], rtc_encode_hour(r, i));
			any_h |= hm[i];
		}
		mm[i] = alarm_field_match(r->cmos[RTC_MINUTES_ALARM], rtc_encode(r, i));
		sm[i] = alarm_field_match(r->cmos[RTC_SECONDS_ALARM], rtc_encode(r, i));
		any_m |= mm[i];
		any_s |= sm[i];
	}
	if (!any_h || !any_m || !any_s)
		return INT64_MAX;
	int64_t day = floor_div(after, SECS_PER_DAY) * SECS_PER_DAY;
	int64_t t = after - day + 1;
	while (t <= 3 * SECS_PER_DAY) {
		int64_t sod = t % SECS_PER_DAY;
		if (!hm[sod / 3600])
			t += 3600 - sod % 3600;
		else if (!mm[sod / 60 % 60])
			t += 60 - sod % 60;
		else if (!sm[sod % 60])
			t++;
		else
			return day + t;
	}
	return INT64_MAX;
}

/* Fold the flags the clock raised between flags_ns and host_now into
 * r->flags. Called before anything that changes the clock or its settings, so
 * each stretch of time is judged with the settings that were in force. */
static void rtc_catch_up(struct rtc *r, int64_t host_now)
{
	int64_t prev = r->flags_ns;
	r->flags_ns = host_now;
	if (host_now <= prev || !rtc_divider_running(r))
		return; /* host clock stepped back, or no time base: nothing happened */

	int64_t g0 = rtc_guest_ns(r, prev), g1 = rtc_guest_ns(r, host_now);
	int64_t period = rtc_period_ns(r);
	if (period && floor_div(g1, period) != floor_div(g0, period))
		r->flags |= REG_C_PF;
	if (r->stopped)
		return; /* SET: no update cycles, so no UF or AF */

	int64_t s0 = floor_div(g0, NS_PER_SEC), s1 = floor_div(g1, NS_PER_SEC);
	if (s1 == s0)
		return;
	r->flags |= REG_C_UF;
	if (!(r->flags & REG_C_AF) && rtc_next_alarm(r, s0) <= s1)
		r->flags |= REG_C_AF;
}

/* The IRQ pin ("Register C", IRQF): asserted while a flag is set whose
 * enable bit in register B is set, until register C is read. ISA IRQ 8 is
 * edge-triggered at the PIC and I/O APIC, which see the rising edge. */
static uint8_t rtc_irqf(const struct rtc *r)
{
	return r->flags & r->cmos[RTC_REG_B] & (REG_B_PIE | REG_B_AIE | REG_B_UIE);
}

static void rtc_update_irq(struct rtc *r)
{
	bool level = rtc_irqf(r) != 0;
	if (level != r->irq_level) {
		r->irq_level = level;
		irq_line_set(&r->irq, level);
	}
}

/* Host time of the next event that would raise IRQF, or -1 for none: the
 * line is already up (only reading C can change it), or nothing is enabled. */
static int64_t rtc_next_event(const struct rtc *r, int64_t host_now)
{
	uint8_t b = r->cmos[RTC_REG_B];
	if (rtc_irqf(r) || !rtc_divider_running(r) || !(b & (REG_B_PIE | REG_B_AIE | REG_B_UIE)))
		return -1;
	int64_t g = rtc_guest_ns(r, host_now), next = INT64_MAX;
	if (g <= INT64_MIN / 2 || g >= INT64_MAX / 2)
		return -1; /* a clock far out of range: no events rather than overflow */
	int64_t period = rtc_period_ns(r);
	if ((b & REG_B_PIE) && period)
		next = (floor_div(g, period) + 1) * period;
	if (!r->stopped) {
		int64_t secs = floor_div(g, NS_PER_SEC);
		if (b & REG_B_UIE && (secs + 1) * NS_PER_SEC < next)
			next = (secs + 1) * NS_PER_SEC;
		if (b & REG_B_AIE) {
			int64_t a = rtc_next_alarm(r, secs);
			if (a != INT64_MAX && a * NS_PER_SEC < next)
				next = a * NS_PER_SEC;
		}
	}
	return next == INT64_MAX ? -1 : next - r->offset_ns;
}

/* Point timer_fd at the next event (timerfd: a kernel timer watched by the
 * event loop, no thread of ours). Skips the system call if nothing moved. */
static void rtc_rearm(struct rtc *r, int64_t host_now)
{
	if (r->timer_fd < 0)
		return;
	int64_t next = rtc_next_event(r, host_now);
	if (next == r->armed_ns)
		return;
	r->armed_ns = next;
	struct itimerspec its = { 0 };
	if (next >= 0) {
		int64_t delay = next - host_now;
		if (delay < 1000)
			delay = 1000; /* 0 would disarm; the event is due now */
		its.it_value.tv_sec = delay / NS_PER_SEC;
		its.it_value.tv_nsec = delay % NS_PER_SEC;
	}
	(void)timerfd_settime(r->timer_fd, 0, &its, NULL); /* cannot fail with a valid value */
}

/* Bring flags, IRQ line and timer up to date with the clock. Lock held. */
static void rtc_sync(struct rtc *r, int64_t host_now)
{
	rtc_catch_up(r, host_now);
	rtc_update_irq(r);
	rtc_rearm(r, host_now);
}

static bool rtc_should_stop(const struct rtc *r)
{
	return (r->cmos[RTC_REG_B] & REG_B_SET) || !rtc_divider_running(r);
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Register A or B changed: stop or start the clock to match.
 *
 * The divider chain keeps its phase while SET holds the registers still
 * ("Register B", SET), so when SET is cleared the next update comes when the
 * chain completes its second, not a full second later. When the divider
 * leaves reset the first update is 500 ms away ("Divider Control", DV2-0). */
static void rtc_update_running(struct rtc *r, int64_t host_now, bool divider_was_running)
{
	bool divider = rtc_divider_running(r);
	if (!r->stopped) {
		if (!rtc_should_stop(r))
			return;
		int64_t g = rtc_guest_ns(r, host_now);
		rtc_fill_time(r, floor_div(g, NS_PER_SEC), r->cmos);
		r->phase_ns = floor_mod(host_now - floor_mod(g, NS_PER_SEC), NS_PER_SEC);
		r->stopped = true;
	}
	if (divider && !divider_was_running)
		r->phase_ns = floor_mod(host_now + NS_PER_SEC / 2, NS_PER_SEC);
	if (rtc_should_stop(r))
		return;
	int64_t frac = floor_mod(host_now - r->phase_ns, NS_PER_SEC);
	int64_t secs = rtc_parse_time(r, r->cmos);
	r->offset_ns = secs * NS_PER_SEC + frac - host_now;
	r->stopped = false;
}

static bool rtc_uip(const struct rtc *r, int64_t host_now)
{
	if (r->stopped)
		return false; /* SET = 1 or no time base: no update cycles */
	int64_t g = rtc_guest_ns(r, host_now);
	int64_t frac = g - floor_div(g, NS_PER_SEC) * NS_PER_SEC;
	return frac >= NS_PER_SEC - UIP_BEFORE_NS || frac < UIP_AFTER_NS;
}

static uint8_t rtc_read_reg(struct rtc *r, unsigned idx, int64_t host_now)
{
	switch (idx) {
	case RTC_REG_A:
		return (r->cmos[RTC_REG_A] & ~REG_A_UIP) | (rtc_uip(r, host_now) ? REG_A_UIP : 0);
	case RTC_REG_C: {
		uint8_t v = r->flags;
		if (v & r->cmos[RTC_REG_B] & (REG_B_PIE | REG_B_AIE | REG_B_UIE))
			v |= REG_C_IRQF;
		r->flags = 0; /* "Register C": all flags are cleared by reading it */
		return v;
	}
	case RTC_REG_D:
		return REG_D_VRT; /* the battery is fine */
	default:
		break;
	}
	if (rtc_is_time_reg(idx) && !r->stopped) {
		uint8_t img[RTC_CMOS_SIZE];
		int64_t g = rtc_guest_ns(r, host_now);
		rtc_fill_time(r, floor_div(g, NS_PER_SEC), img);
		return img[idx];
	}
	return r->cmos[idx];
}

static void rtc_write_reg(struct rtc *r, unsigned idx, uint8_t val, int64_t host_now)
{
	bool divider_was_running = rtc_divider_running(r);

	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = val & ~REG_A_UIP; /* UIP is read-only */
		rtc_update_running(r, host_now, divider_was_running);
		return;
	case RTC_REG_B:
		/* "Register B": setting SET also clears UIE. */
		if (val & REG_B_SET)
			val &= ~REG_B_UIE;
		r->cmos[RTC_REG_B] = val;
		rtc_update_running(r, host_now, divider_was_running);
		return;
	case RTC_REG_C:
	case RTC_REG_D:
		return; /* read-only */
	default:
		break;
	}
	if (!rtc_is_time_reg(idx) || r->stopped) {
		r->cmos[idx] = val;
		return;
	}
	/* Running clock: change one field of the current time, keep the phase. */
	uint8_t img[RTC_CMOS_SIZE];
	int64_t g = rtc_guest_ns(r, host_now);
	int64_t secs = floor_div(g, NS_PER_SEC);
	rtc_fill_time(r, secs, img);
	img[idx] = val;
	int64_t frac = g - secs * NS_PER_SEC;
	r->offset_ns = rtc_parse_time(r, img) * NS_PER_SEC + frac - host_now;
}

static struct rtc *to_rtc(struct device *dev)
{
	return dev->state;
}

/* Port 0x70 is write-only on the PC (reads float: all-ones); port 0x71 reads
 * and writes the indexed byte. Wider accesses are split into bytes. */
static uint64_t rtc_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct rtc *r = to_rtc(dev);
	uint64_t v = 0;

	pthread_mutex_lock(&r->lock);
	int64_t now = r->clock(r->clock_opaque);
	rtc_catch_up(r, now);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = 0xff;
		if (off + i == 1)
			b = rtc_read_reg(r, r->index, now);
		v |= (uint64_t)b << (8 * i);
	}
	rtc_sync(r, now);
	pthread_mutex_unlock(&r->lock);
	return v;
}

static void rtc_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
		      uint64_t val)
{
	struct rtc *r = to_rtc(dev);

	pthread_mutex_lock(&r->lock);
	int64_t now = r->clock(r->clock_opaque);
	rtc_catch_up(r, now);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));
		if (off + i == 0) {
			r->index = b & (RTC_CMOS_SIZE - 1);
			r->nmi_disabled = b & NMI_DISABLE;
		} else if (off + i == 1) {
			rtc_write_reg(r, r->index, b, now);
		}
	}
	rtc_sync(r, now);
	pthread_mutex_unlock(&r->lock);
}

/* The chip's RESET pin ("RESET" pin description): clears PIE, AIE, UIE and
 * SQWE in B and the flags in C. Time, alarms and RAM are battery-backed and
 * survive, as on a PC that reboots. */
static void rtc_reset(struct device *dev)
{
	struct rtc *r = to_rtc(dev);
	pthread_mutex_lock(&r->lock);
	r->cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
	r->flags = 0;
	r->flags_ns = r->clock(r->clock_opaque);
	r->index = 0;
	r->nmi_disabled = 0;
	rtc_sync(r, r->flags_ns);
	pthread_mutex_unlock(&r->lock);
}

#define RTC_SNAP_VERSION 1

static int rtc_save(struct device *dev, struct snap_writer *w)
{
	struct rtc *r = to_rtc(dev);
	pthread_mutex_lock(&r->lock);
	snap_begin(w, "RTC ", RTC_SNAP_VERSION);
	snap_u8(w, r->index);
	snap_u8(w, r->nmi_disabled);
	snap_bytes(w, r->cmos, RTC_CMOS_SIZE);
	snap_u64(w, (uint64_t)r->offset_ns);
	snap_u8(w, r->stopped);
	snap_u64(w, (uint64_t)r->phase_ns);
	snap_u8(w, r->flags);
	snap_u64(w, (uint64_t)r->flags_ns);
	snap_end(w);
	pthread_mutex_unlock(&r->lock);
	return w->error;
}

static int rtc_restore(struct device *dev, struct snap_reader *rd)
{
	struct rtc *r = to_rtc(dev);
	uint32_t version;
	int rc = snap_open(rd, "RTC ", &version);
	if (rc)
		return rc;
	if (version != RTC_SNAP_VERSION)
		return -ENOTSUP;
	uint8_t index = snap_get_u8(rd), nmi = snap_get_u8(rd), cmos[RTC_CMOS_SIZE];
	snap_get_bytes(rd, cmos, RTC_CMOS_SIZE);
	int64_t offset = (int64_t)snap_get_u64(rd);
	bool stopped = snap_get_u8(rd) != 0;
	int64_t phase = (int64_t)snap_get_u64(rd);
	uint8_t flags = snap_get_u8(rd);
	int64_t flags_ns = (int64_t)snap_get_u64(rd);
	if (rd->error)
		return rd->error;
	if (offset < -RTC_MAX_OFFSET_NS ||
	    offset > RTC_MAX_OFFSET_NS)
		return -EINVAL;
	/* Stopped or running follows from registers A and B: a snapshot that
	 * says otherwise is corrupt. */
	bool should_stop = (cmos[RTC_REG_B] & REG_B_SET) ||
			   (cmos[RTC_REG_A] & REG_A_DV_MASK) != REG_A_DV_32K;
	if (stopped != should_stop)
		return -EINVAL;

	pthread_mutex_lock(&r->lock);
	r->index = index & (RTC_CMOS_SIZE - 1);
	r->nmi_disabled = nmi & NMI_DISABLE;
	memcpy(r->cmos, cmos, RTC_CMOS_SIZE);
	r->offset_ns = offset;
	r->stopped = stopped;
	r->phase_ns = floor_mod(phase, NS_PER_SEC);
	r->flags = flags & (REG_C_PF | REG_C_AF | REG_C_UF);
	r->flags_ns = flags_ns;
	rtc_sync(r, r->clock(r->clock_opaque));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_destroy(struct device *dev)
{
	struct rtc *r = to_rtc(dev);
	if (r->timer_fd >= 0) {
		if (r->loop)
			eventloop_del(r->loop, r->timer_fd);
		close(r->timer_fd);
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct device_ops rtc_ops = {
	.name = "rtc",
	.read = rtc_read,
	.write = rtc_write,
	.reset = rtc_reset,
	.save = rtc_save,
	.restore = rtc_restore,
	.destroy = rtc_destroy,
};

struct device *rtc_create(const struct irq_line *irq, rtc_clock_fn clock, void *clock_opaque)
{
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return NULL;
	}
	r->timer_fd = -1;
	r->armed_ns = -1;
	if (irq)
		r->irq = *irq;
	r->clock = clock ? clock : rtc_host_realtime;
	r->clock_opaque = clock_opaque;
	/* What a PC BIOS leaves: 32.768 kHz divider, 1024 Hz rate selected,
	 * BCD, 24-hour mode; the clock runs on host time (offset 0). */
	r->cmos[RTC_REG_A] = REG_A_DV_32K | 0x06;
	r->cmos[RTC_REG_B] = REG_B_24H;
	r->flags_ns = r->clock(r->clock_opaque);
	r->dev.ops = &rtc_ops;
	r->dev.state = r;
	return &r->dev;
}

/* Event loop callback: the timer expired, an interrupt event is due. */
static void rtc_on_timer(void *opaque, uint32_t events)
{
	struct rtc *r = opaque;
	uint64_t expirations;
	if (read(r->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	rtc_poll(&r->dev);
}

int64_t rtc_poll(struct device *dev)
{
	struct rtc *r = to_rtc(dev);
	pthread_mutex_lock(&r->lock);
	int64_t now = r->clock(r->clock_opaque);
	r->armed_ns = -2; /* the timer fired or may have: set it again */
	rtc_sync(r, now);
	int64_t next = rtc_next_event(r, now);
	pthread_mutex_unlock(&r->lock);
	return next;
}

int rtc_enable_interrupts(struct device *dev, struct eventloop *loop)
{
	struct rtc *r = to_rtc(dev);
	if (r->timer_fd >= 0)
		return -EBUSY;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = eventloop_add(loop, fd, EPOLLIN, rtc_on_timer, r);
	if (rc) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&r->lock);
	r->loop = loop;
	r->timer_fd = fd;
	r->armed_ns = -2;
	rtc_sync(r, r->clock(r->clock_opaque));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int rtc_attach(struct vm *vm, struct device **out)
{
	struct irq_line irq = { .router = &vm->irq, .gsi = IRQ_RTC };
	struct device *dev = rtc_create(&irq, NULL, NULL);
	if (!dev)
		return -ENOMEM;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	int rc = bus_register(&vm->pio, PORT_RTC, RTC_NR_PORTS, dev, 0);
	if (!rc && vm->loop)
		rc = rtc_enable_interrupts(dev, vm->loop);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}

static bool rtc_is_ram(uint8_t index)
{
	return index >= 0x0e && index < RTC_CMOS_SIZE && index != RTC_CENTURY;
}

void rtc_cmos_set(struct device *dev, uint8_t index, uint8_t val)
{
	struct rtc *r = to_rtc(dev);
	if (!rtc_is_ram(index))
		return;
	pthread_mutex_lock(&r->lock);
	r->cmos[index] = val;
	pthread_mutex_unlock(&r->lock);
}

uint8_t rtc_cmos_get(struct device *dev, uint8_t index)
{
	struct rtc *r = to_rtc(dev);
	if (!rtc_is_ram(index))
		return 0xff;
	pthread_mutex_lock(&r->lock);
	uint8_t v = r->cmos[index];
	pthread_mutex_unlock(&r->lock);
	return v;
}
