/* The CMOS real-time clock (MC146818A datasheet; ports 0x70 index, 0x71
 * data). Reads the date the way Linux's mc146818_get_time() does — wait for
 * update-in-progress (register A bit 7) to clear, read, read again until two
 * reads agree — decodes it per register B (bit 2: binary instead of BCD,
 * bit 1: 24-hour mode), checks every field is well-formed and in range, that
 * register D says the time is valid, that the year is >= 2024 and that the
 * clock is within a few minutes of the host's ("host_time=<unix seconds>" on
 * the command line, UTC), and that the seconds advance. */
#include "rt/lib.h"

#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_DAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32 /* the register isola's FADT names (ACPI CENTURY) */
#define RTC_A_UIP 0x80
#define RTC_B_24H 0x02
#define RTC_B_BINARY 0x04
#define RTC_D_VRT 0x80
#define MAX_SKEW 300 /* seconds */

struct rtc_raw {
	uint8_t sec, min, hour, day, mon, year, century;
};

static uint8_t cmos_read(uint8_t reg)
{
	outb(PORT_CMOS_INDEX, reg);
	return inb(PORT_CMOS_DATA);
}

static void wait_not_updating(void)
{
	for (unsigned i = 0; i < 100000; i++)
		if (!(cmos_read(RTC_REG_A) & RTC_A_UIP))
			return;
}

static struct rtc_raw read_raw(void)
{
	struct rtc_raw r;

	wait_not_updating();
	r.sec = cmos_read(RTC_SEC);
	r.min = cmos_read(RTC_MIN);
	r.hour = cmos_read(RTC_HOUR);
	r.day = cmos_read(RTC_DAY);
	r.mon = cmos_read(RTC_MON);
	r.year = cmos_read(RTC_YEAR);
	r.century = cmos_read(RTC_CENTURY);
	return r;
}

static bool same(const struct rtc_raw *a, const struct rtc_raw *b)
{
	return a->sec == b->sec && a->min == b->min && a->hour == b->hour &&
	       a->day == b->day && a->mon == b->mon && a->year == b->year &&
	       a->century == b->century;
}

/* Decode one field; false if it is not valid BCD in BCD mode. */
static bool decode(uint8_t v, bool binary, unsigned *out)
{
	if (binary) {
		*out = v;
		return true;
	}
	if ((v & 0xf) > 9 || (v >> 4) > 9)
		return false;
	*out = (v >> 4) * 10 + (v & 0xf);
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const uint8_t days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int guest_main(void *bp)
{
	uint64_t host_time;
	struct rtc_raw a, b;
	unsigned tries = 0;

	if (!cmdline_u64(bp, "host_time", &host_time))
		fail("no host_time=<unix seconds> on the command line");
	uint8_t reg_b = cmos_read(RTC_REG_B), reg_d = cmos_read(RTC_REG_D);
	bool binary = reg_b & RTC_B_BINARY, h24 = reg_b & RTC_B_24H;
	printf("register A 0x%02x B 0x%02x D 0x%02x: %s, %s mode\n", cmos_read(RTC_REG_A), reg_b,
	       reg_d, binary ? "binary" : "BCD", h24 ? "24-hour" : "12-hour");
	if (!(reg_d & RTC_D_VRT))
		fail("register D: valid RAM and time bit is clear");

	/* Two agreeing reads, so no field is from before a roll-over and another
	 * from after it. */
	a = read_raw();
	do {
		b = a;
		a = read_raw();
	} while (!same(&a, &b) && ++tries < 10);
	if (tries == 10)
		fail("RTC never gave two agreeing reads");
	printf("raw: %02x:%02x:%02x %02x/%02x/%02x century %02x\n", a.hour, a.min, a.sec, a.day,
	       a.mon, a.year, a.century);

	unsigned sec, min, hour, day, mon, year, century;
	bool pm = !h24 && (a.hour & 0x80);
	if (!decode(a.sec, binary, &sec) || !decode(a.min, binary, &min) ||
	    !decode(h24 ? a.hour : a.hour & 0x7f, binary, &hour) ||
	    !decode(a.day, binary, &day) || !decode(a.mon, binary, &mon) ||
	    !decode(a.year, binary, &year))
		fail("a date field is not valid BCD");
	if (!h24) {
		if (hour < 1 || hour > 12)
			fail("12-hour mode hour %u out of range", hour);
		hour = hour % 12 + (pm ? 12 : 0);
	}
	if (year > 99)
		fail("year register %u out of range", year);
	/* A century register that is not a sane 19/20/21 is taken as 20. */
	if (!decode(a.century, binary, &century) || century < 19 || century > 21)
		century = 20;
	year += century * 100;
	if (sec > 59 || min > 59 || hour > 23 || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon))
		fail("date field out of range");
	printf("RTC: %u-%02u-%02u %02u:%02u:%02u\n", year, mon, day, hour, min, sec);
	if (year < 2024)
		fail("year %u is before 2024", year);

	int64_t t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
	int64_t skew = t - (int64_t)host_time;
	printf("host time %lu, RTC time %ld, difference %ld s\n", host_time, t, skew);
	if (skew > MAX_SKEW || skew < -MAX_SKEW)
		fail("RTC is %ld s away from the host clock", skew);

	/* The clock must run: wait for the seconds to change, bounded both by
	 * reads and by TSC cycles (the TSC rate is unknown; 3e10 cycles is
	 * about 10 s at 3 GHz). */
	uint64_t t0 = rdtsc();
	unsigned first = a.sec, now = first;
	for (unsigned i = 0; i < 5000000 && rdtsc() - t0 < 30000000000ull; i++) {
		wait_not_updating();
		now = cmos_read(RTC_SEC);
		if (now != first)
			break;
	}
	if (now == first)
		fail("RTC seconds did not advance");
	printf("seconds advanced from %02x to %02x\n", first, now);
	return 0;
}
