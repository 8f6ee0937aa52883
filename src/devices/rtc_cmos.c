// SPDX-License-Identifier: MIT
/*
 * MC146818 CMOS RTC model. See rtc_cmos.h for the contract with the owner.
 * Behaviour follows the MC146818/DS12887 datasheets:
 *
 * - The time registers are not counters here: while SET=0 every read
 *   computes them from host time + offset_s with gmtime_r(). Setting the
 *   time (SET 1->0, or a write to a time register while SET=0) turns the
 *   register image back into seconds with timegm() and stores the new
 *   offset. Values out of range are normalised by timegm() instead of
 *   counting on strangely as a real chip would; nothing the guest writes
 *   can make the model fail.
 * - Changing DM or 24/12 takes effect at once on the time read back (the
 *   chip would need the time re-entered). Alarm bytes are compared with the
 *   time in the current format, byte for byte, as the chip does.
 * - Day of week is derived from the date, plus wday_delta when the guest
 *   wrote a different one. The century byte (0x32) is part of the clock.
 * - Leap years and DSE: gmtime's Gregorian calendar (2100 is not a leap
 *   year); DSE is stored but no daylight-saving jumps are made.
 * - Register A's divider bits are stored but do not stop the clock.
 *
 * Update cycles happen at every host second boundary (offset_s is whole
 * seconds). UIP reads 1 during the 244 us before each boundary, as the
 * datasheet promises ("When UIP is 0, the update transfer does not occur for
 * at least 244 us"), so it is computed from the clock and always clears
 * within 244 us of real time: a guest polling it cannot spin forever.
 */
#include "devices/rtc_cmos.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "devices/devstate.h"

#define NS_PER_SEC 1000000000LL
#define SECS_PER_DAY 86400
#define MINS_PER_DAY 1440
/* The periodic interrupt taps a 15-stage divider of the 32.768 kHz base. */
#define DIVIDER_HZ 32768
#define UIP_WINDOW_NS 244000LL

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define BASE_MEM_END (640 * KiB)
#define CAP16 0xffffULL
#define CAP24 0xffffffULL

/* Register C flags (and the matching enables in B: the same bits). */
#define C_FLAGS (RTC_CMOS_C_PF | RTC_CMOS_C_AF | RTC_CMOS_C_UF)

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b < 0) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t r = a % b;

	return r < 0 ? r + b : r;
}

/* sec * 1e9 + sub without overflow; false if it does not fit. */
static bool ns_at(int64_t sec, int64_t sub, int64_t *out)
{
	int64_t ns;

	if (__builtin_mul_overflow(sec, NS_PER_SEC, &ns) || __builtin_add_overflow(ns, sub, &ns))
		return false;
	*out = ns;
	return true;
}

int64_t rtc_cmos_host_now_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t clock_now(const struct rtc_cmos *s)
{
	if (s->ops && s->ops->now_ns)
		return s->ops->now_ns(s->ctx);
	return rtc_cmos_host_now_ns(NULL);
}

static uint8_t reg_b(const struct rtc_cmos *s)
{
	return s->ram[RTC_CMOS_REG_B];
}

static bool set_mode(const struct rtc_cmos *s)
{
	return reg_b(s) & RTC_CMOS_B_SET;
}

static int64_t guest_sec(const struct rtc_cmos *s, int64_t now)
{
	return floor_div(now, NS_PER_SEC) + s->offset_s;
}

/* ---- register formats ---- */

/* A clock value as the guest sees it: binary, or two BCD digits. */
static uint8_t to_reg(const struct rtc_cmos *s, unsigned int v)
{
	if (reg_b(s) & RTC_CMOS_B_DM_BINARY)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* The reverse; invalid BCD digits decode to values above 99 (timegm normalises). */
static int from_reg(const struct rtc_cmos *s, uint8_t b)
{
	if (reg_b(s) & RTC_CMOS_B_DM_BINARY)
		return b;
	return (b >> 4) * 10 + (b & 0x0f);
}

/* Hour 0-23 in the current mode: 12-hour mode counts 12, 1, ..., 11, bit 7 = PM. */
static uint8_t hour_to_reg(const struct rtc_cmos *s, unsigned int h)
{
	unsigned int h12 = h % 12;

	if (reg_b(s) & RTC_CMOS_B_24H)
		return to_reg(s, h);
	return (uint8_t)(to_reg(s, h12 ? h12 : 12) | (h >= 12 ? 0x80 : 0));
}

static int hour_from_reg(const struct rtc_cmos *s, uint8_t b)
{
	int h;

	if (reg_b(s) & RTC_CMOS_B_24H)
		return from_reg(s, b);
	h = from_reg(s, b & 0x7f);
	if (h == 12)
		h = 0;
	return (b & 0x80) ? h + 12 : h;
}

static bool is_time_reg(unsigned int idx)
{
	switch (idx) {
	case RTC_CMOS_SECONDS:
	case RTC_CMOS_MINUTES:
	case RTC_CMOS_HOURS:
	case RTC_CMOS_DAY_OF_WEEK:
	case RTC_CMOS_DAY_OF_MONTH:
	case RTC_CMOS_MONTH:
	case RTC_CMOS_YEAR:
	case RTC_CMOS_CENTURY:
		return true;
	default:
		return false;
	}
}

/* Filled at init from the configuration; the guest cannot change them. */
static bool is_memory_field(unsigned int idx)
{
	return (idx >= RTC_CMOS_BASE_MEM_KIB && idx < RTC_CMOS_EXT_MEM_KIB + 2) ||
	       (idx >= RTC_CMOS_EXT_MEM_KIB_COPY && idx < RTC_CMOS_EXT_MEM_KIB_COPY + 2) ||
	       (idx >= RTC_CMOS_MEM_ABOVE_16M && idx < RTC_CMOS_MEM_ABOVE_16M + 2) ||
	       (idx >= RTC_CMOS_MEM_ABOVE_4G && idx < RTC_CMOS_MEM_ABOVE_4G + 3);
}

/* ---- the clock ---- */

/* Write guest second gsec into the time registers, in the current format. */
static void encode_time(struct rtc_cmos *s, int64_t gsec)
{
	time_t t = (time_t)gsec;
	struct tm tm;
	int64_t year;

	if (!gmtime_r(&t, &tm)) {
		/* Cannot happen in the range offset_s allows; show 1900-01-01. */
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
	}
	year = (int64_t)tm.tm_year + 1900;

	s->ram[RTC_CMOS_SECONDS] = to_reg(s, (unsigned int)tm.tm_sec);
	s->ram[RTC_CMOS_MINUTES] = to_reg(s, (unsigned int)tm.tm_min);
	s->ram[RTC_CMOS_HOURS] = hour_to_reg(s, (unsigned int)tm.tm_hour);
	s->ram[RTC_CMOS_DAY_OF_WEEK] =
		to_reg(s, (unsigned int)((tm.tm_wday + s->wday_delta) % 7) + 1);
	s->ram[RTC_CMOS_DAY_OF_MONTH] = to_reg(s, (unsigned int)tm.tm_mday);
	s->ram[RTC_CMOS_MONTH] = to_reg(s, (unsigned int)tm.tm_mon + 1);
	s->ram[RTC_CMOS_YEAR] = to_reg(s, (unsigned int)floor_mod(year, 100));
	s->ram[RTC_CMOS_CENTURY] = to_reg(s, year < 0 ? 0 : (unsigned int)(year / 100));
}

/*
 * Make the time registers the current time: offset_s becomes "what the
 * guest wrote" minus the host's current second, so the guest's clock runs
 * on from the written value at the host's rate.
 */
static void commit_time(struct rtc_cmos *s, int64_t now)
{
	struct tm tm = {0};
	time_t t;

	tm.tm_sec = from_reg(s, s->ram[RTC_CMOS_SECONDS]);
	tm.tm_min = from_reg(s, s->ram[RTC_CMOS_MINUTES]);
	tm.tm_hour = hour_from_reg(s, s->ram[RTC_CMOS_HOURS]);
	tm.tm_mday = from_reg(s, s->ram[RTC_CMOS_DAY_OF_MONTH]);
	tm.tm_mon = from_reg(s, s->ram[RTC_CMOS_MONTH]) - 1;
	tm.tm_year = from_reg(s, s->ram[RTC_CMOS_CENTURY]) * 100 +
		     from_reg(s, s->ram[RTC_CMOS_YEAR]) - 1900;
	/* At most year 25599: timegm() cannot overflow a 64-bit time_t. */
	t = timegm(&tm);
	s->offset_s = (int64_t)t - floor_div(now, NS_PER_SEC);

	/*
	 * The chip's day of week is a counter of its own. Keep the guest's
	 * value, when it wrote one, as a distance from the date's weekday
	 * (timegm() filled in tm_wday for the normalised date).
	 */
	if (s->wday_written) {
		int wday = from_reg(s, s->ram[RTC_CMOS_DAY_OF_WEEK]) - 1;

		s->wday_delta = (uint8_t)floor_mod(wday - tm.tm_wday, 7);
		s->wday_written = false;
	}
}

static bool uip(const struct rtc_cmos *s, int64_t now)
{
	/* SET=1 inhibits updates and clears UIP (datasheet, register A). */
	return !set_mode(s) && floor_mod(now, NS_PER_SEC) >= NS_PER_SEC - UIP_WINDOW_NS;
}

/* ---- interrupt sources ---- */

/*
 * Periodic interrupt period in 1/32768 s ticks for rate select rs: rates
 * 1 and 2 are 256 and 128 Hz with a 32.768 kHz base (not 32768 and
 * 16384 Hz); 3-15 give 8192 Hz down to 2 Hz; 0 is off.
 */
static unsigned int periodic_ticks(uint8_t reg_a)
{
	unsigned int rs = reg_a & RTC_CMOS_A_RATE;

	if (rs == 0)
		return 0;
	if (rs <= 2)
		return 64u << rs;
	return 1u << (rs - 1);
}

/*
 * Periodic edges counted from the epoch up to host time ns: edges fall on
 * tick boundaries of the 32.768 kHz base, which line up with the seconds.
 */
static int64_t periodic_count(int64_t ns, unsigned int period)
{
	int64_t tick = floor_mod(ns, NS_PER_SEC) * DIVIDER_HZ / NS_PER_SEC;

	return floor_div(ns, NS_PER_SEC) * (DIVIDER_HZ / period) + tick / period;
}

/* The first host time after ns at which periodic_count() goes up. */
static bool next_periodic(int64_t ns, unsigned int period, int64_t *out)
{
	int64_t per_sec = DIVIDER_HZ / period;
	int64_t next = periodic_count(ns, period) + 1;
	int64_t tick = floor_mod(next, per_sec) * period;

	/* Round up: the first ns whose tick number reaches tick. */
	return ns_at(floor_div(next, per_sec), (tick * NS_PER_SEC + DIVIDER_HZ - 1) / DIVIDER_HZ,
		     out);
}

static bool dont_care(uint8_t alarm)
{
	return (alarm & RTC_CMOS_ALARM_DONT_CARE) == RTC_CMOS_ALARM_DONT_CARE;
}

/*
 * Seconds from guest second gsec to the next later second whose time of
 * day matches the three alarm bytes (1 to 86400), or 0 if no second ever
 * matches (a byte that no time encodes to, such as BCD 0x60).
 */
static int64_t alarm_delay(const struct rtc_cmos *s, int64_t gsec)
{
	uint8_t as = s->ram[RTC_CMOS_SECONDS_ALARM];
	uint8_t am = s->ram[RTC_CMOS_MINUTES_ALARM];
	uint8_t ah = s->ram[RTC_CMOS_HOURS_ALARM];
	int64_t tod = floor_mod(gsec, SECS_PER_DAY);
	int cur_min = (int)(tod / 60), cur_sec = (int)(tod % 60);
	int want_sec = -1; /* -1: any second */
	int d;

	if (!dont_care(as)) {
		for (want_sec = 0; want_sec < 60; want_sec++)
			if (to_reg(s, (unsigned int)want_sec) == as)
				break;
		if (want_sec == 60)
			return 0;
	}
	/* The minutes of one day from now on, and this minute again tomorrow. */
	for (d = 0; d <= MINS_PER_DAY; d++) {
		int m = (cur_min + d) % MINS_PER_DAY;
		int first = d == 0 ? cur_sec + 1 : 0;
		int sec = want_sec < 0 ? first : want_sec;

		if (!dont_care(ah) && hour_to_reg(s, (unsigned int)m / 60) != ah)
			continue;
		if (!dont_care(am) && to_reg(s, (unsigned int)m % 60) != am)
			continue;
		if (sec < first || sec > 59)
			continue;
		return (int64_t)d * 60 + sec - cur_sec;
	}
	return 0;
}

/*
 * Set the flags for everything that happened in (last_ns, now]: a periodic
 * edge, an update cycle (each second boundary while SET=0), an alarm match
 * at one of those updates. Flags are set whether or not their interrupt is
 * enabled (datasheet, register C). Called before any access can change the
 * rules (rate, SET, alarm bytes, offset), so each interval has one set.
 */
static void catch_up(struct rtc_cmos *s, int64_t now)
{
	int64_t last = s->last_ns;
	unsigned int period = periodic_ticks(s->ram[RTC_CMOS_REG_A]);
	int64_t last_sec, now_sec, d;
	uint8_t flags = 0;

	s->last_ns = now;
	/* The host clock stood still or was set back: nothing happened. */
	if (now <= last)
		return;

	if (period && periodic_count(now, period) != periodic_count(last, period))
		flags |= RTC_CMOS_C_PF;

	last_sec = floor_div(last, NS_PER_SEC);
	now_sec = floor_div(now, NS_PER_SEC);
	if (!set_mode(s) && now_sec > last_sec) {
		flags |= RTC_CMOS_C_UF;
		if (!(s->ram[RTC_CMOS_REG_C] & RTC_CMOS_C_AF)) {
			d = alarm_delay(s, last_sec + s->offset_s);
			if (d && d <= now_sec - last_sec)
				flags |= RTC_CMOS_C_AF;
		}
	}
	s->ram[RTC_CMOS_REG_C] |= flags;
}

static bool irqf(const struct rtc_cmos *s)
{
	return s->ram[RTC_CMOS_REG_C] & reg_b(s) & C_FLAGS;
}

/* The line follows IRQF; the owner hears only about changes. */
static void update_irq(struct rtc_cmos *s)
{
	bool level = irqf(s);

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->ops && s->ops->set_irq)
		s->ops->set_irq(s->ctx, level);
}

/* ---- register access ---- */

static void write_reg_b(struct rtc_cmos *s, uint8_t value, int64_t now)
{
	bool was_set = set_mode(s);
	bool set = value & RTC_CMOS_B_SET;

	/* "The SET bit going high clears the UIE bit" (DS12887). */
	if (set && !was_set)
		value &= (uint8_t)~RTC_CMOS_B_UIE;
	s->ram[RTC_CMOS_REG_B] = value;

	/*
	 * Freeze the time in the format just chosen: until SET goes back to 0,
	 * reads return the frozen image with the guest's writes in it.
	 */
	if (set && !was_set)
		encode_time(s, guest_sec(s, now));
	else if (!set && was_set)
		commit_time(s, now);
}

static void write_time_reg(struct rtc_cmos *s, unsigned int idx, uint8_t value, int64_t now)
{
	/*
	 * With SET=0 the chip takes the write at once and keeps counting;
	 * here that is: image of now, one byte replaced, committed.
	 */
	if (!set_mode(s))
		encode_time(s, guest_sec(s, now));
	s->ram[idx] = value;
	if (idx == RTC_CMOS_DAY_OF_WEEK)
		s->wday_written = true;
	if (!set_mode(s))
		commit_time(s, now);
}

static uint8_t read_data(struct rtc_cmos *s, int64_t now)
{
	unsigned int idx = s->index & (RTC_CMOS_SIZE - 1); /* restored state too */
	uint8_t value;

	if (is_time_reg(idx)) {
		if (!set_mode(s))
			encode_time(s, guest_sec(s, now));
		return s->ram[idx];
	}
	switch (idx) {
	case RTC_CMOS_REG_A:
		value = s->ram[RTC_CMOS_REG_A];
		return uip(s, now) ? value | RTC_CMOS_A_UIP : value;
	case RTC_CMOS_REG_C:
		value = s->ram[RTC_CMOS_REG_C] | (irqf(s) ? RTC_CMOS_C_IRQF : 0);
		s->ram[RTC_CMOS_REG_C] = 0;
		return value;
	case RTC_CMOS_REG_D:
		return RTC_CMOS_D_VRT;
	default:
		return s->ram[idx];
	}
}

static void write_data(struct rtc_cmos *s, uint8_t value, int64_t now)
{
	unsigned int idx = s->index & (RTC_CMOS_SIZE - 1); /* restored state too */

	if (is_time_reg(idx)) {
		write_time_reg(s, idx, value, now);
		return;
	}
	switch (idx) {
	case RTC_CMOS_REG_A:
		s->ram[RTC_CMOS_REG_A] = value & (uint8_t)~RTC_CMOS_A_UIP;
		break;
	case RTC_CMOS_REG_B:
		write_reg_b(s, value, now);
		break;
	case RTC_CMOS_REG_C:
	case RTC_CMOS_REG_D:
		break; /* read-only */
	default:
		if (!is_memory_field(idx))
			s->ram[idx] = value;
		break;
	}
}

uint8_t rtc_cmos_read(struct rtc_cmos *s, unsigned int port_offset)
{
	int64_t now;
	uint8_t value;

	if (port_offset == 0)
		return (uint8_t)(s->index | (s->nmi_disabled ? 0x80 : 0));
	if (port_offset != 1)
		return 0xff;

	now = clock_now(s);
	catch_up(s, now);
	value = read_data(s, now);
	update_irq(s);
	return value;
}

void rtc_cmos_write(struct rtc_cmos *s, unsigned int port_offset, uint8_t value)
{
	int64_t now;

	if (port_offset == 0) {
		/* Only 128 bytes: the index keeps 7 bits, bit 7 is the NMI mask. */
		s->index = value & (RTC_CMOS_SIZE - 1);
		s->nmi_disabled = value & 0x80;
		return;
	}
	if (port_offset != 1)
		return;

	now = clock_now(s);
	catch_up(s, now);
	write_data(s, value, now);
	update_irq(s);
}

void rtc_cmos_tick(struct rtc_cmos *s)
{
	catch_up(s, clock_now(s));
	update_irq(s);
}

uint64_t rtc_cmos_next_event_ns(const struct rtc_cmos *s)
{
	unsigned int period = periodic_ticks(s->ram[RTC_CMOS_REG_A]);
	uint8_t b = reg_b(s);
	int64_t best = INT64_MAX, t, sec, d;
	bool found = false;

	/* While IRQF is set no further event can change the line. */
	if (irqf(s))
		return 0;

	if ((b & RTC_CMOS_B_PIE) && period && next_periodic(s->last_ns, period, &t)) {
		best = t;
		found = true;
	}
	if (!(b & RTC_CMOS_B_SET)) {
		sec = floor_div(s->last_ns, NS_PER_SEC);
		if ((b & RTC_CMOS_B_UIE) && ns_at(sec + 1, 0, &t) && t < best) {
			best = t;
			found = true;
		}
		if (b & RTC_CMOS_B_AIE) {
			d = alarm_delay(s, sec + s->offset_s);
			if (d && ns_at(sec + d, 0, &t) && t < best) {
				best = t;
				found = true;
			}
		}
	}
	if (!found)
		return 0;
	return best > 0 ? (uint64_t)best : 1;
}

static void put16(struct rtc_cmos *s, unsigned int idx, uint64_t v)
{
	s->ram[idx] = (uint8_t)v;
	s->ram[idx + 1] = (uint8_t)(v >> 8);
}

static uint64_t cap(uint64_t v, uint64_t max)
{
	return v < max ? v : max;
}

/* The fields a PC BIOS's POST fills in, then the AT checksum over 0x10-0x2d. */
static void fill_memory_fields(struct rtc_cmos *s, uint64_t low_ram_end, uint64_t high_ram_size)
{
	uint64_t base = cap(low_ram_end, BASE_MEM_END) / KiB;
	uint64_t ext = low_ram_end > MiB ? cap((low_ram_end - MiB) / KiB, CAP16) : 0;
	uint64_t above16 =
		low_ram_end > 16 * MiB ? cap((low_ram_end - 16 * MiB) / (64 * KiB), CAP16) : 0;
	uint64_t above4g = cap(high_ram_size / (64 * KiB), CAP24);
	unsigned int i, sum = 0;

	put16(s, RTC_CMOS_BASE_MEM_KIB, base);
	put16(s, RTC_CMOS_EXT_MEM_KIB, ext);
	put16(s, RTC_CMOS_EXT_MEM_KIB_COPY, ext);
	put16(s, RTC_CMOS_MEM_ABOVE_16M, above16);
	put16(s, RTC_CMOS_MEM_ABOVE_4G, above4g);
	s->ram[RTC_CMOS_MEM_ABOVE_4G + 2] = (uint8_t)(above4g >> 16);

	for (i = 0x10; i < RTC_CMOS_CHECKSUM; i++)
		sum += s->ram[i];
	s->ram[RTC_CMOS_CHECKSUM] = (uint8_t)(sum >> 8);
	s->ram[RTC_CMOS_CHECKSUM + 1] = (uint8_t)sum;
}

void rtc_cmos_init(struct rtc_cmos *s, const struct rtc_cmos_ops *ops, void *ctx,
		   uint64_t low_ram_end, uint64_t high_ram_size)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->ctx = ctx;
	s->ram[RTC_CMOS_REG_A] = RTC_CMOS_A_POWER_ON;
	s->ram[RTC_CMOS_REG_B] = RTC_CMOS_B_POWER_ON;
	s->ram[RTC_CMOS_REG_D] = RTC_CMOS_D_VRT;
	fill_memory_fields(s, low_ram_end, high_ram_size);
	/* No flags yet: events count from now. The line starts low. */
	s->last_ns = clock_now(s);
}

/* ---- saved state ---- */

void rtc_cmos_save(const struct rtc_cmos *s, struct rtc_cmos_state *out)
{
	memset(out, 0, sizeof(*out));
	out->version = RTC_CMOS_STATE_VERSION;
	out->index = s->index;
	out->nmi_disabled = s->nmi_disabled;
	out->wday_delta = s->wday_delta;
	out->wday_written = s->wday_written;
	out->irq_level = s->irq_level;
	out->offset_s = s->offset_s;
	out->last_ns = s->last_ns;
	memcpy(out->ram, s->ram, sizeof(out->ram));
}

#define refuse(err, errlen, ...) devstate_refuse(err, errlen, "rtc_cmos", __VA_ARGS__)

int rtc_cmos_load(struct rtc_cmos *s, const struct rtc_cmos_state *in, char *err, size_t errlen)
{
	struct rtc_cmos t = *s; /* keeps ops, ctx and the memory-size fields to compare */
	uint8_t c = in->ram[RTC_CMOS_REG_C];
	bool old_level;
	unsigned int i;

	if (in->version != RTC_CMOS_STATE_VERSION)
		return refuse(err, errlen, "version %u, this build reads version %u", in->version,
			      RTC_CMOS_STATE_VERSION);
	for (i = 0; i < sizeof(in->reserved); i++)
		if (in->reserved[i])
			return refuse(err, errlen, "reserved[%u] is 0x%02x, must be 0", i,
				      in->reserved[i]);
	if (in->index >= RTC_CMOS_SIZE)
		return refuse(err, errlen, "index 0x%02x out of range (CMOS of %d bytes)",
			      in->index, RTC_CMOS_SIZE);
	if (in->nmi_disabled > 1)
		return refuse(err, errlen, "nmi_disabled %u is not 0 or 1", in->nmi_disabled);
	if (in->wday_written > 1)
		return refuse(err, errlen, "wday_written %u is not 0 or 1", in->wday_written);
	if (in->irq_level > 1)
		return refuse(err, errlen, "irq_level %u is not 0 or 1", in->irq_level);
	if (in->wday_written && !(in->ram[RTC_CMOS_REG_B] & RTC_CMOS_B_SET))
		return refuse(err, errlen, "wday_written 1 with SET clear in B 0x%02x",
			      in->ram[RTC_CMOS_REG_B]);
	if (in->wday_delta > 6)
		return refuse(err, errlen, "wday_delta %u out of range (0-6)", in->wday_delta);
	if (in->offset_s > RTC_CMOS_STATE_MAX_OFFSET_S ||
	    in->offset_s < -RTC_CMOS_STATE_MAX_OFFSET_S)
		return refuse(err, errlen, "offset_s %lld out of range (at most 2^40 s either way)",
			      (long long)in->offset_s);
	if (in->ram[RTC_CMOS_REG_A] & RTC_CMOS_A_UIP)
		return refuse(err, errlen, "ram[0x0a] 0x%02x: UIP is computed, never stored",
			      in->ram[RTC_CMOS_REG_A]);
	if (c & (uint8_t)~C_FLAGS)
		return refuse(err, errlen, "ram[0x0c] 0x%02x: only PF, AF and UF are stored", c);
	if (in->ram[RTC_CMOS_REG_D] != RTC_CMOS_D_VRT)
		return refuse(err, errlen, "ram[0x0d] 0x%02x, always 0x%02x",
			      in->ram[RTC_CMOS_REG_D], RTC_CMOS_D_VRT);
	for (i = 0; i < RTC_CMOS_SIZE; i++)
		if (is_memory_field(i) && in->ram[i] != s->ram[i])
			return refuse(err, errlen,
				      "ram[0x%02x] 0x%02x: memory-size byte differs from this "
				      "machine's 0x%02x (another RAM size?)",
				      i, in->ram[i], s->ram[i]);

	t.index = in->index;
	t.nmi_disabled = in->nmi_disabled;
	t.wday_delta = in->wday_delta;
	t.wday_written = in->wday_written;
	t.offset_s = in->offset_s;
	t.last_ns = in->last_ns;
	memcpy(t.ram, in->ram, sizeof(t.ram));
	if ((bool)in->irq_level != irqf(&t))
		return refuse(err, errlen, "irq_level %u, but B 0x%02x and C 0x%02x give %u",
			      in->irq_level, t.ram[RTC_CMOS_REG_B], c, irqf(&t));

	/* Valid: commit, then tell the owner if the line moved (see rtc_cmos.h). */
	old_level = s->irq_level;
	t.irq_level = in->irq_level;
	*s = t;
	if (s->irq_level != old_level && s->ops && s->ops->set_irq)
		s->ops->set_irq(s->ctx, s->irq_level);
	return 0;
}
