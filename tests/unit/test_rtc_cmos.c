// SPDX-License-Identifier: MIT
/*
 * Unit tests for the MC146818 CMOS RTC model, with an injected clock: the
 * calendar in BCD, binary and 12-hour formats, setting the time, UIP, the
 * three interrupt sources (ticked and computed lazily), and the CMOS RAM
 * with the memory-size fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fixtures.h"
#include "devices/rtc_cmos.h"

#define NS 1000000000LL
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

enum { SEC = 0x00, SEC_ALARM, MIN, MIN_ALARM, HOUR, HOUR_ALARM, WDAY, MDAY, MON, YEAR };
enum { REG_A = 0x0a, REG_B, REG_C, REG_D, CENTURY = 0x32 };

/* The owner side of the device: a settable clock and a recorded IRQ line. */
struct fixture {
	struct rtc_cmos rtc;
	int64_t now;  /* what now_ns returns */
	int64_t step; /* added to now after each clock read */
	int clock_reads;
	bool level;	/* the line as the owner sees it */
	int irq_calls;	/* set_irq calls */
	int rises;	/* set_irq(true) calls */
	int same_level; /* set_irq calls that did not change the level */
};

static int64_t fake_now(void *ctx)
{
	struct fixture *f = ctx;
	int64_t t = f->now;

	f->now += f->step;
	f->clock_reads++;
	return t;
}

static void fake_set_irq(void *ctx, bool level)
{
	struct fixture *f = ctx;

	if (level == f->level)
		f->same_level++;
	f->level = level;
	f->irq_calls++;
	if (level)
		f->rises++;
}

static const struct rtc_cmos_ops fake_ops = {
	.set_irq = fake_set_irq,
	.now_ns = fake_now,
};

/* Host time in ns of a UTC date, plus sub_ns. */
static int64_t at(int y, int mo, int d, int h, int mi, int s, int64_t sub_ns)
{
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = s,
	};

	return (int64_t)timegm(&tm) * NS + sub_ns;
}

/* The instant most tests start from: Wednesday 2026-11-25 13:45:07.5 UTC. */
#define T0_SEC (at(2026, 11, 25, 13, 45, 7, 0) / NS)
#define T0 (T0_SEC * NS + NS / 2)

static struct fixture *new_fixture(int64_t now, uint64_t low, uint64_t high)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	assert_non_null(f);
	f->now = now;
	rtc_cmos_init(&f->rtc, &fake_ops, f, low, high);
	return f;
}

static void check_line(struct fixture *f)
{
	/* The level-change-only contract, and the line following IRQF. */
	assert_int_equal(f->same_level, 0);
	assert_int_equal(f->level, f->rtc.irq_level);
}

static void free_fixture(struct fixture *f)
{
	check_line(f);
	test_free(f);
}

static int setup(void **state)
{
	*state = new_fixture(T0, 256 * MiB, 0);
	return 0;
}

static int teardown(void **state)
{
	free_fixture(*state);
	return 0;
}

static uint8_t cmos_rd(struct fixture *f, uint8_t idx)
{
	rtc_cmos_write(&f->rtc, 0, idx);
	return rtc_cmos_read(&f->rtc, 1);
}

static void cmos_wr(struct fixture *f, uint8_t idx, uint8_t v)
{
	rtc_cmos_write(&f->rtc, 0, idx);
	rtc_cmos_write(&f->rtc, 1, v);
}

/* No periodic interrupt, no pending flags: C then changes only for what a test does. */
static void quiet(struct fixture *f)
{
	cmos_wr(f, REG_A, 0x20);
	cmos_rd(f, REG_C);
}

struct rtc_time {
	uint8_t sec, min, hour, wday, mday, mon, year, century;
};

static void expect_time(struct fixture *f, struct rtc_time want)
{
	struct rtc_time got = {
		.sec = cmos_rd(f, SEC),
		.min = cmos_rd(f, MIN),
		.hour = cmos_rd(f, HOUR),
		.wday = cmos_rd(f, WDAY),
		.mday = cmos_rd(f, MDAY),
		.mon = cmos_rd(f, MON),
		.year = cmos_rd(f, YEAR),
		.century = cmos_rd(f, CENTURY),
	};

	if (memcmp(&got, &want, sizeof(got)))
		fail_msg("time %02x%02x-%02x-%02x %02x:%02x:%02x wday %02x, expected "
			 "%02x%02x-%02x-%02x %02x:%02x:%02x wday %02x",
			 got.century, got.year, got.mon, got.mday, got.hour, got.min, got.sec,
			 got.wday, want.century, want.year, want.mon, want.mday, want.hour,
			 want.min, want.sec, want.wday);
}

/* With SET=1 (B = b | SET) write a whole time image, then leave SET with B = b. */
static void guest_set_time(struct fixture *f, uint8_t b, struct rtc_time t)
{
	cmos_wr(f, REG_B, b | 0x80);
	cmos_wr(f, SEC, t.sec);
	cmos_wr(f, MIN, t.min);
	cmos_wr(f, HOUR, t.hour);
	cmos_wr(f, MDAY, t.mday);
	cmos_wr(f, MON, t.mon);
	cmos_wr(f, YEAR, t.year);
	cmos_wr(f, CENTURY, t.century);
	cmos_wr(f, REG_B, b);
}

static void test_power_on(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rtc_cmos_read(&f->rtc, 0), 0x00);
	assert_int_equal(cmos_rd(f, REG_A), 0x26);
	assert_int_equal(cmos_rd(f, REG_B), 0x02);
	assert_int_equal(cmos_rd(f, REG_C), 0x00);
	assert_int_equal(cmos_rd(f, REG_D), 0x80);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(f->rtc.offset_s, 0);
}

static void test_bcd_time(void **state)
{
	struct fixture *f = *state;

	expect_time(f, (struct rtc_time){0x07, 0x45, 0x13, 0x04, 0x25, 0x11, 0x26, 0x20});
}

static void test_binary_time(void **state)
{
	struct fixture *f = *state;

	cmos_wr(f, REG_B, 0x06);
	expect_time(f, (struct rtc_time){7, 45, 13, 4, 25, 11, 26, 20});
	/* Switching back needs no re-entry: the time is computed at each read. */
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, HOUR), 0x13);
}

static void test_12_hour(void **state)
{
	static const struct {
		int hour;
		uint8_t bcd, bin;
	} cases[] = {
		{0, 0x12, 12},	  /* 12 AM */
		{1, 0x01, 1},	  /* 1 AM */
		{11, 0x11, 11},	  /* 11 AM */
		{12, 0x92, 0x8c}, /* 12 PM */
		{13, 0x81, 0x81}, /* 1 PM */
		{23, 0x91, 0x8b}, /* 11 PM */
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		f->now = at(2026, 11, 25, cases[i].hour, 59, 58, 0);
		cmos_wr(f, REG_B, 0x00);
		assert_int_equal(cmos_rd(f, HOUR), cases[i].bcd);
		assert_int_equal(cmos_rd(f, MIN), 0x59);
		cmos_wr(f, REG_B, 0x04);
		assert_int_equal(cmos_rd(f, HOUR), cases[i].bin);
		assert_int_equal(cmos_rd(f, MIN), 59);
		/* 24-hour mode for comparison. */
		cmos_wr(f, REG_B, 0x02);
		assert_int_equal(cmos_rd(f, HOUR),
				 ((cases[i].hour / 10) << 4) | (cases[i].hour % 10));
	}
}

static void test_12_hour_set_time(void **state)
{
	struct fixture *f = *state;

	/* 12 PM entered in 12-hour BCD mode reads 12 in 24-hour mode. */
	guest_set_time(f, 0x00, (struct rtc_time){0x00, 0x30, 0x92, 0, 0x01, 0x06, 0x26, 0x20});
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, HOUR), 0x12);
	/* 12 AM is hour 0. */
	guest_set_time(f, 0x00, (struct rtc_time){0x00, 0x30, 0x12, 0, 0x01, 0x06, 0x26, 0x20});
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, HOUR), 0x00);
	/* 7 PM in 12-hour binary mode. */
	guest_set_time(f, 0x04, (struct rtc_time){0, 30, 0x87, 0, 1, 6, 26, 20});
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, HOUR), 0x19);
	assert_int_equal(cmos_rd(f, MIN), 0x30);
}

static void test_century(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos_rd(f, CENTURY), 0x20);
	cmos_wr(f, REG_B, 0x06);
	assert_int_equal(cmos_rd(f, CENTURY), 20);
	cmos_wr(f, REG_B, 0x02);

	f->now = at(1987, 6, 5, 4, 3, 2, 0);
	assert_int_equal(cmos_rd(f, CENTURY), 0x19);
	assert_int_equal(cmos_rd(f, YEAR), 0x87);

	/* The century byte is part of the clock: writing it moves the year. */
	f->now = T0;
	cmos_wr(f, CENTURY, 0x21);
	expect_time(f, (struct rtc_time){0x07, 0x45, 0x13, 0x02, 0x25, 0x11, 0x26, 0x21});
}

static void test_guest_sets_time(void **state)
{
	struct fixture *f = *state;
	int64_t want_offset = at(2030, 2, 3, 4, 5, 6, 0) / NS - T0_SEC;

	quiet(f);
	cmos_wr(f, REG_B, 0x82);
	cmos_wr(f, SEC, 0x06);
	cmos_wr(f, MIN, 0x05);
	cmos_wr(f, HOUR, 0x04);
	cmos_wr(f, MDAY, 0x03);
	cmos_wr(f, MON, 0x02);
	cmos_wr(f, YEAR, 0x30);

	/* While SET=1 reads return what was written, and nothing updates. */
	f->now += 3 * NS;
	assert_int_equal(cmos_rd(f, SEC), 0x06);
	assert_int_equal(cmos_rd(f, YEAR), 0x30);
	assert_int_equal(cmos_rd(f, REG_C), 0x00);

	/* SET=0 stores an offset from the host clock, not a frozen time. */
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(f->rtc.offset_s, want_offset - 3);
	expect_time(f, (struct rtc_time){0x06, 0x05, 0x04, 0x01, 0x03, 0x02, 0x30, 0x20});

	f->now += 2 * NS;
	assert_int_equal(cmos_rd(f, SEC), 0x08);
	f->now += 86400 * NS;
	expect_time(f, (struct rtc_time){0x08, 0x05, 0x04, 0x02, 0x04, 0x02, 0x30, 0x20});
}

static void test_set_stops_updates(void **state)
{
	struct fixture *f = *state;

	/* SET=1 without writes freezes the time; the guest's clock loses the interval. */
	cmos_wr(f, REG_B, 0x82);
	f->now += 5 * NS;
	assert_int_equal(cmos_rd(f, SEC), 0x07);
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, SEC), 0x07);
	f->now += NS;
	assert_int_equal(cmos_rd(f, SEC), 0x08);
	assert_int_equal(f->rtc.offset_s, -5);
}

static void test_write_without_set(void **state)
{
	struct fixture *f = *state;

	/* With SET=0 a single register write takes effect and the clock runs on. */
	cmos_wr(f, MIN, 0x10);
	expect_time(f, (struct rtc_time){0x07, 0x10, 0x13, 0x04, 0x25, 0x11, 0x26, 0x20});
	f->now += NS;
	assert_int_equal(cmos_rd(f, SEC), 0x08);
	assert_int_equal(cmos_rd(f, MIN), 0x10);
}

static void test_day_of_week_write(void **state)
{
	struct fixture *f = *state;

	/* The day of week is the guest's to set, and then counts on from there. */
	cmos_wr(f, REG_B, 0x82);
	cmos_wr(f, WDAY, 0x01);
	cmos_wr(f, REG_B, 0x02);
	assert_int_equal(cmos_rd(f, WDAY), 0x01);
	f->now += 86400 * NS;
	assert_int_equal(cmos_rd(f, WDAY), 0x02);
	/* Setting the date without touching it keeps counting from the guest's value. */
	guest_set_time(f, 0x02, (struct rtc_time){0x00, 0x00, 0x12, 0, 0x27, 0x11, 0x26, 0x20});
	assert_int_equal(cmos_rd(f, WDAY), 0x03);
	/* Written while SET=0. */
	cmos_wr(f, WDAY, 0x07);
	assert_int_equal(cmos_rd(f, WDAY), 0x07);
	assert_int_equal(cmos_rd(f, MDAY), 0x27);
	f->now += 86400 * NS;
	assert_int_equal(cmos_rd(f, WDAY), 0x01);
}

static void test_rollover_2000(void **state)
{
	struct fixture *f = *state;

	f->now = at(1999, 12, 31, 23, 59, 59, NS / 2);
	expect_time(f, (struct rtc_time){0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19});
	f->now += NS;
	expect_time(f, (struct rtc_time){0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20});
	cmos_wr(f, REG_B, 0x06);
	expect_time(f, (struct rtc_time){0, 0, 0, 7, 1, 1, 0, 20});
}

static void test_rollover_2099(void **state)
{
	struct fixture *f = *state;

	guest_set_time(f, 0x02, (struct rtc_time){0x59, 0x59, 0x23, 0, 0x31, 0x12, 0x99, 0x20});
	expect_time(f, (struct rtc_time){0x59, 0x59, 0x23, 0x05, 0x31, 0x12, 0x99, 0x20});
	f->now += NS;
	expect_time(f, (struct rtc_time){0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21});

	/* 2100 is not a leap year. */
	guest_set_time(f, 0x02, (struct rtc_time){0x59, 0x59, 0x23, 0, 0x28, 0x02, 0x00, 0x21});
	f->now += NS;
	expect_time(f, (struct rtc_time){0x00, 0x00, 0x00, 0x02, 0x01, 0x03, 0x00, 0x21});
	/* 2000 was. */
	guest_set_time(f, 0x02, (struct rtc_time){0x59, 0x59, 0x23, 0, 0x28, 0x02, 0x00, 0x20});
	f->now += NS;
	expect_time(f, (struct rtc_time){0x00, 0x00, 0x00, 0x03, 0x29, 0x02, 0x00, 0x20});
}

static void test_uip_window(void **state)
{
	static const struct {
		int64_t sub_ns;
		bool uip;
	} cases[] = {
		{0, false},	   {500000000, false}, {999755999, false},
		{999756000, true}, {999800000, true},  {999999999, true},
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		f->now = T0_SEC * NS + cases[i].sub_ns;
		if (cmos_rd(f, REG_A) != (cases[i].uip ? 0xa6 : 0x26))
			fail_msg("at .%09lld s: A = 0x%02x", (long long)cases[i].sub_ns,
				 cmos_rd(f, REG_A));
		/* SET=1 inhibits updates and clears UIP. */
		cmos_wr(f, REG_B, 0x82);
		assert_int_equal(cmos_rd(f, REG_A), 0x26);
		cmos_wr(f, REG_B, 0x02);
	}
}

static void test_uip_poll_terminates(void **state)
{
	struct fixture *f = *state;
	int polls = 0;

	/*
	 * Linux's mc146818_get_time() waits for UIP to clear. With a clock
	 * that moves 1 us per read, from the start of the window, it clears
	 * within 244 reads and the time read after it is the new second.
	 */
	f->now = T0_SEC * NS + NS - 244000;
	f->step = 1000;
	while (cmos_rd(f, REG_A) & 0x80) {
		polls++;
		assert_true(polls <= 244);
	}
	assert_true(polls > 200);
	assert_int_equal(cmos_rd(f, SEC), 0x08);
}

static void test_reg_c_clears_and_drops_irq(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, REG_B, 0x12);
	f->now = (T0_SEC + 1) * NS;
	rtc_cmos_tick(&f->rtc);
	assert_true(f->level);
	assert_int_equal(f->rises, 1);
	assert_int_equal(cmos_rd(f, REG_C), 0x90);
	assert_false(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0x00);
	assert_int_equal(f->irq_calls, 2);
}

static void test_flags_without_enables(void **state)
{
	struct fixture *f = *state;

	/* PF, AF and UF are set whatever B says; IRQF and the line only when enabled. */
	cmos_rd(f, REG_C);
	cmos_wr(f, SEC_ALARM, 0xff);
	cmos_wr(f, MIN_ALARM, 0xff);
	cmos_wr(f, HOUR_ALARM, 0xff);
	f->now += NS;
	rtc_cmos_tick(&f->rtc);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
	assert_int_equal(cmos_rd(f, REG_C), 0x70);
	assert_int_equal(f->irq_calls, 0);
}

static void test_irq_follows_enables(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	f->now += NS;
	rtc_cmos_tick(&f->rtc);
	assert_false(f->level);
	/* IRQF = UF & UIE: enabling with UF pending raises the line at once. */
	cmos_wr(f, REG_B, 0x12);
	assert_true(f->level);
	cmos_wr(f, REG_B, 0x02);
	assert_false(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0x10);
	assert_int_equal(f->rises, 1);
}

static void test_periodic_rates(void **state)
{
	static const struct {
		uint8_t rs;
		int64_t hz;
	} cases[] = {
		{1, 256}, {2, 128}, {3, 8192}, {4, 4096}, {5, 2048}, {6, 1024}, {7, 512}, {8, 256},
		{9, 128}, {10, 64}, {11, 32},  {12, 16},  {13, 8},   {14, 4},	{15, 2},
	};
	struct fixture *f = *state;
	int64_t base = T0_SEC * NS;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		/* The first two edges after a second boundary, rounded up to whole ns. */
		int64_t e1 = base + (NS + cases[i].hz - 1) / cases[i].hz;
		int64_t e2 = base + (2 * NS + cases[i].hz - 1) / cases[i].hz;

		f->now = base;
		cmos_wr(f, REG_B, 0x02);
		cmos_wr(f, REG_A, (uint8_t)(0x20 | cases[i].rs));
		cmos_rd(f, REG_C);
		cmos_wr(f, REG_B, 0x42);
		assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), e1);

		f->now = e1 - 1;
		rtc_cmos_tick(&f->rtc);
		assert_false(f->level);
		assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), e1);
		f->now = e1;
		rtc_cmos_tick(&f->rtc);
		assert_true(f->level);
		assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
		assert_int_equal(cmos_rd(f, REG_C), 0xc0);
		assert_false(f->level);
		assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), e2);
	}
	/* Rate 0: no periodic interrupt. */
	cmos_wr(f, REG_A, 0x20);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
	f->now += 10 * NS;
	assert_int_equal(cmos_rd(f, REG_C) & 0x40, 0);
	/* Divider and rate bits read back as written. */
	cmos_wr(f, REG_A, 0x7f);
	assert_int_equal(cmos_rd(f, REG_A), 0x7f);
}

static void test_periodic_lazy(void **state)
{
	struct fixture *f = *state;

	/* 2 Hz, not enabled: PF shows up at the next read of C after an edge. */
	cmos_wr(f, REG_A, 0x2f);
	cmos_rd(f, REG_C);
	f->now += NS / 4;
	assert_int_equal(cmos_rd(f, REG_C), 0x00);
	f->now += NS / 2;
	assert_int_equal(cmos_rd(f, REG_C), 0x50); /* and an update at 13:45:08 */

	/* Enabled, but no tick: the read of C reports and clears it in one go. */
	cmos_wr(f, REG_B, 0x42);
	f->now += NS / 2;
	assert_int_equal(cmos_rd(f, REG_C), 0xc0);
	assert_false(f->level);
	assert_int_equal(f->irq_calls, 0);
}

static void test_update_ended(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, REG_B, 0x12);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), (T0_SEC + 1) * NS);
	f->now = (T0_SEC + 1) * NS - 1;
	rtc_cmos_tick(&f->rtc);
	assert_false(f->level);
	f->now++;
	rtc_cmos_tick(&f->rtc);
	assert_true(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0x90);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), (T0_SEC + 2) * NS);

	/* SET going high clears UIE (DS12887) and stops update cycles. */
	cmos_wr(f, REG_B, 0x92);
	assert_int_equal(cmos_rd(f, REG_B), 0x82);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
	f->now += 3 * NS;
	rtc_cmos_tick(&f->rtc);
	assert_int_equal(cmos_rd(f, REG_C), 0x00);
	cmos_wr(f, REG_B, 0x12);
	f->now += NS;
	rtc_cmos_tick(&f->rtc);
	assert_true(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0x90);
}

static void test_alarm_match(void **state)
{
	struct fixture *f = *state;
	int64_t when = at(2026, 11, 25, 13, 45, 10, 0);

	quiet(f);
	cmos_wr(f, SEC_ALARM, 0x10);
	cmos_wr(f, MIN_ALARM, 0x45);
	cmos_wr(f, HOUR_ALARM, 0x13);
	cmos_wr(f, REG_B, 0x22);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), when);

	f->now = when - 1;
	rtc_cmos_tick(&f->rtc);
	assert_false(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0x10); /* updates happened, no alarm yet */
	f->now = when;
	rtc_cmos_tick(&f->rtc);
	assert_true(f->level);
	assert_int_equal(cmos_rd(f, REG_C), 0xb0);
	/* The same time tomorrow. */
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), when + 86400 * NS);

	/* Binary mode compares binary bytes. */
	cmos_wr(f, REG_B, 0x26);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
	cmos_wr(f, SEC_ALARM, 20);
	cmos_wr(f, MIN_ALARM, 45);
	cmos_wr(f, HOUR_ALARM, 13);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), when + 10 * NS);
}

static void test_alarm_dont_care(void **state)
{
	static const struct {
		uint8_t hour, min, sec;
		int64_t delay; /* seconds after 13:45:07; 0 = never */
	} cases[] = {
		{0xff, 0xff, 0xff, 1},	       /* every second */
		{0xc0, 0xc0, 0x30, 23},	       /* every minute at :30 */
		{0xc0, 0xc0, 0x05, 58},	       /* ... at :05, in the next minute */
		{0xc0, 0x00, 0x00, 893},       /* every hour */
		{0x14, 0xc0, 0x00, 893},       /* every minute of 14:xx */
		{0x14, 0xc0, 0xd5, 893},       /* every second of 14:xx */
		{0x13, 0xc0, 0xc0, 1},	       /* every second of 13:xx */
		{0x13, 0x45, 0x00, 86400 - 7}, /* already past: tomorrow */
		{0x13, 0x45, 0x07, 86400},     /* this very second: tomorrow */
		{0x00, 0x00, 0x00, 36893},     /* midnight */
		{0xc0, 0xc0, 0x60, 0},	       /* no such second in BCD */
		{0x24, 0x00, 0x00, 0},	       /* no such hour */
		{0x13, 0x5a, 0x00, 0},	       /* not BCD */
	};
	struct fixture *f = *state;
	size_t i;

	quiet(f);
	cmos_wr(f, REG_B, 0x22);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t want = cases[i].delay ? (uint64_t)(T0_SEC + cases[i].delay) * NS : 0;
		uint64_t got;

		cmos_wr(f, HOUR_ALARM, cases[i].hour);
		cmos_wr(f, MIN_ALARM, cases[i].min);
		cmos_wr(f, SEC_ALARM, cases[i].sec);
		got = rtc_cmos_next_event_ns(&f->rtc);
		if (got != want)
			fail_msg("alarm %02x:%02x:%02x: next event %lld s after 13:45:07, "
				 "expected %lld",
				 cases[i].hour, cases[i].min, cases[i].sec,
				 got ? (long long)((int64_t)got / NS - T0_SEC) : -1LL,
				 (long long)cases[i].delay);
	}
}

static void test_alarm_12_hour(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, REG_B, 0x20);
	/* 2 PM, not 2 AM. */
	cmos_wr(f, HOUR_ALARM, 0x82);
	cmos_wr(f, MIN_ALARM, 0x00);
	cmos_wr(f, SEC_ALARM, 0x00);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), (T0_SEC + 893) * NS);
	/* 12 AM is midnight. */
	cmos_wr(f, HOUR_ALARM, 0x12);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), (T0_SEC + 36893) * NS);
	/* A 24-hour byte is no 12-hour hour. */
	cmos_wr(f, HOUR_ALARM, 0x14);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), 0);
}

static void test_alarm_lazy(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, HOUR_ALARM, 0x03);
	cmos_wr(f, MIN_ALARM, 0x00);
	cmos_wr(f, SEC_ALARM, 0x00);
	/* Ten seconds do not reach 03:00:00 ... */
	f->now += 10 * NS;
	assert_int_equal(cmos_rd(f, REG_C), 0x10);
	/* ... two days without a single tick do. */
	f->now += 2 * 86400 * NS;
	assert_int_equal(cmos_rd(f, REG_C), 0x30);
	/* Enabled: the lazy read sees IRQF too. */
	cmos_wr(f, REG_B, 0x22);
	f->now += 86400 * NS;
	assert_int_equal(cmos_rd(f, REG_C), 0xb0);
	assert_int_equal(f->irq_calls, 0);
}

/*
 * Two models side by side: one ticked at every next_event_ns(), one left
 * alone. Whenever the guest reads C, both report the same flags.
 */
static void test_lazy_equals_ticked(void **state)
{
	static const int64_t steps_ms[] = {1, 3, 250, 499, 500, 501, 999, 1000, 1001, 7000, 61000};
	struct fixture *ticked = *state;
	struct fixture *lazy = new_fixture(T0, 256 * MiB, 0);
	struct fixture *both[2] = {ticked, lazy};
	size_t i, j;

	for (j = 0; j < 2; j++) {
		cmos_wr(both[j], REG_A, 0x2e); /* 4 Hz */
		cmos_wr(both[j], HOUR_ALARM, 0xc0);
		cmos_wr(both[j], MIN_ALARM, 0x46);
		cmos_wr(both[j], SEC_ALARM, 0x00);
		cmos_wr(both[j], REG_B, 0x72);
		cmos_rd(both[j], REG_C);
	}
	for (i = 0; i < 200; i++) {
		int64_t until = ticked->now + steps_ms[i % ARRAY_SIZE(steps_ms)] * 1000000;
		uint64_t next;
		uint8_t c_ticked, c_lazy;

		while ((next = rtc_cmos_next_event_ns(&ticked->rtc)) != 0 &&
		       (int64_t)next <= until) {
			assert_true((int64_t)next > ticked->rtc.last_ns);
			ticked->now = (int64_t)next;
			rtc_cmos_tick(&ticked->rtc);
		}
		ticked->now = until;
		lazy->now = until;
		if (i % 3 == 0)
			continue; /* let flags pile up */
		c_ticked = cmos_rd(ticked, REG_C);
		c_lazy = cmos_rd(lazy, REG_C);
		if (c_ticked != c_lazy)
			fail_msg("step %zu: C 0x%02x ticked, 0x%02x lazy", i, c_ticked, c_lazy);
	}
	assert_true(ticked->rises > 50);
	assert_int_equal(lazy->rises, 0);
	free_fixture(lazy);
}

static void test_clock_goes_back(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, REG_B, 0x12);
	f->now -= 10 * NS;
	rtc_cmos_tick(&f->rtc);
	assert_false(f->level);
	assert_int_equal(cmos_rd(f, SEC), 0x57);
	assert_int_equal(rtc_cmos_next_event_ns(&f->rtc), (T0_SEC - 9) * NS);
	f->now = (T0_SEC - 9) * NS;
	rtc_cmos_tick(&f->rtc);
	assert_true(f->level);
	cmos_rd(f, REG_C);
}

static void test_nmi_bit(void **state)
{
	struct fixture *f = *state;

	rtc_cmos_write(&f->rtc, 0, 0x8a);
	assert_true(f->rtc.nmi_disabled);
	assert_int_equal(rtc_cmos_read(&f->rtc, 0), 0x8a);
	/* No effect on the access. */
	assert_int_equal(rtc_cmos_read(&f->rtc, 1), 0x26);
	rtc_cmos_write(&f->rtc, 0, 0x0b);
	assert_false(f->rtc.nmi_disabled);
	assert_int_equal(rtc_cmos_read(&f->rtc, 0), 0x0b);
	assert_int_equal(rtc_cmos_read(&f->rtc, 1), 0x02);
}

static void test_read_only_registers(void **state)
{
	struct fixture *f = *state;

	quiet(f);
	cmos_wr(f, REG_D, 0x00);
	assert_int_equal(cmos_rd(f, REG_D), 0x80);
	cmos_wr(f, REG_C, 0xff);
	assert_int_equal(cmos_rd(f, REG_C), 0x00);
	/* UIP cannot be written. */
	cmos_wr(f, REG_A, 0xa6);
	assert_int_equal(cmos_rd(f, REG_A), 0x26);
	assert_int_equal(f->irq_calls, 0);
}

static uint64_t get_field(struct fixture *f, uint8_t idx, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = bytes - 1; i >= 0; i--)
		v = (v << 8) | cmos_rd(f, (uint8_t)(idx + i));
	return v;
}

static void test_memory_fields(void **state)
{
	static const struct {
		const char *name;
		uint64_t low, high;
		uint64_t base, ext, above16, above4g;
	} cases[] = {
		{"16M", 16 * MiB, 0, 640, 15 * 1024, 0, 0},
		{"256M", 256 * MiB, 0, 640, 0xffff, 240 * 16, 0},
		{"3G", 3 * GiB, 0, 640, 0xffff, (3072 - 16) * 16, 0},
		{"5G", 3 * GiB, 2 * GiB, 640, 0xffff, (3072 - 16) * 16, 2 * 1024 * 16},
		{"3G+1T", 3 * GiB, 1024 * GiB, 640, 0xffff, (3072 - 16) * 16, 0xffffff},
		{"512K", 512 * 1024, 0, 512, 0, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fixture *f = new_fixture(T0, cases[i].low, cases[i].high);
		unsigned int sum = 0, idx;

		print_message("%s\n", cases[i].name);
		assert_int_equal(get_field(f, 0x15, 2), cases[i].base);
		assert_int_equal(get_field(f, 0x17, 2), cases[i].ext);
		assert_int_equal(get_field(f, 0x30, 2), cases[i].ext);
		assert_int_equal(get_field(f, 0x34, 2), cases[i].above16);
		assert_int_equal(get_field(f, 0x5b, 3), cases[i].above4g);
		/* The AT checksum: big-endian sum of 0x10-0x2d at 0x2e. */
		for (idx = 0x10; idx < 0x2e; idx++)
			sum += cmos_rd(f, (uint8_t)idx);
		assert_int_equal((cmos_rd(f, 0x2e) << 8) | cmos_rd(f, 0x2f), sum);
		/* The guest cannot change them. */
		cmos_wr(f, 0x15, 0x00);
		cmos_wr(f, 0x18, 0x00);
		cmos_wr(f, 0x35, 0x00);
		cmos_wr(f, 0x5d, 0x55);
		assert_int_equal(get_field(f, 0x15, 2), cases[i].base);
		assert_int_equal(get_field(f, 0x17, 2), cases[i].ext);
		assert_int_equal(get_field(f, 0x34, 2), cases[i].above16);
		assert_int_equal(get_field(f, 0x5b, 3), cases[i].above4g);
		free_fixture(f);
	}
}

static bool plain_ram(unsigned int idx)
{
	return idx >= 0x0e && idx != 0x32 && !(idx >= 0x15 && idx <= 0x18) && idx != 0x30 &&
	       idx != 0x31 && idx != 0x34 && idx != 0x35 && !(idx >= 0x5b && idx <= 0x5d);
}

static void test_cmos_ram(void **state)
{
	struct fixture *f = *state;
	unsigned int idx, n = 0;

	for (idx = 0; idx < 128; idx++)
		if (plain_ram(idx))
			cmos_wr(f, (uint8_t)idx, (uint8_t)(idx * 7 + 3));
	for (idx = 0; idx < 128; idx++) {
		if (!plain_ram(idx))
			continue;
		n++;
		if (cmos_rd(f, (uint8_t)idx) != (uint8_t)(idx * 7 + 3))
			fail_msg("CMOS 0x%02x: 0x%02x", idx, cmos_rd(f, (uint8_t)idx));
	}
	assert_int_equal(n, 128 - 14 - 1 - 11); /* registers, century, memory fields */
	/* The clock and the memory fields are untouched. */
	expect_time(f, (struct rtc_time){0x07, 0x45, 0x13, 0x04, 0x25, 0x11, 0x26, 0x20});
	assert_int_equal(get_field(f, 0x34, 2), 240 * 16);
}

static void test_index_masking(void **state)
{
	struct fixture *f = *state;

	/* 0xff selects 0x7f (with NMI masked). */
	rtc_cmos_write(&f->rtc, 0, 0xff);
	assert_int_equal(rtc_cmos_read(&f->rtc, 0), 0xff);
	rtc_cmos_write(&f->rtc, 1, 0x5a);
	assert_int_equal(cmos_rd(f, 0x7f), 0x5a);
	/* 0x80 is the seconds register, 0x8e the first byte of RAM. */
	assert_int_equal(cmos_rd(f, 0x80), 0x07);
	cmos_wr(f, 0x8e, 0x33);
	assert_int_equal(cmos_rd(f, 0x0e), 0x33);
	assert_int_equal(f->rtc.index, 0x0e);
	/* A corrupt index in restored state cannot reach past the RAM. */
	f->rtc.index = 0xff;
	assert_int_equal(rtc_cmos_read(&f->rtc, 1), 0x5a);
}

static void test_out_of_range_ports(void **state)
{
	static const unsigned int offsets[] = {2, 3, 0x70, 0x71, UINT_MAX};
	struct fixture *f = *state;
	struct rtc_cmos before;
	size_t i;

	cmos_wr(f, 0x40, 0x12);
	memcpy(&before, &f->rtc, sizeof(before));
	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		assert_int_equal(rtc_cmos_read(&f->rtc, offsets[i]), 0xff);
		rtc_cmos_write(&f->rtc, offsets[i], 0x00);
		rtc_cmos_write(&f->rtc, offsets[i], 0x8b);
	}
	assert_memory_equal(&before, &f->rtc, sizeof(before));
	assert_int_equal(cmos_rd(f, 0x40), 0x12);
}

static void test_null_ops(void **state)
{
	struct rtc_cmos rtc;
	int64_t host = rtc_cmos_host_now_ns(NULL);
	uint8_t century;

	(void)state;
	/* No callbacks: the host's CLOCK_REALTIME, and no line to drive. */
	rtc_cmos_init(&rtc, NULL, NULL, 256 * MiB, 0);
	assert_true(host > at(2020, 1, 1, 0, 0, 0, 0));
	rtc_cmos_write(&rtc, 0, CENTURY);
	century = rtc_cmos_read(&rtc, 1);
	assert_true(century == 0x20 || century == 0x21);
	rtc_cmos_write(&rtc, 0, REG_B);
	rtc_cmos_write(&rtc, 1, 0x72);
	rtc_cmos_tick(&rtc);
	assert_true(rtc_cmos_next_event_ns(&rtc) == 0 ||
		    rtc_cmos_next_event_ns(&rtc) > (uint64_t)host);
	rtc_cmos_write(&rtc, 0, REG_C);
	(void)rtc_cmos_read(&rtc, 1);
}

/* Random port traffic from a hostile guest, with the clock jumping about. */
static void test_random_traffic(void **state)
{
	struct fixture *f = *state;
	unsigned int seed = 12345;
	int i;

	for (i = 0; i < 200000; i++) {
		unsigned int r = (unsigned int)rand_r(&seed);
		uint64_t next;

		switch (r % 8) {
		case 0:
		case 1:
			rtc_cmos_write(&f->rtc, 0, (uint8_t)(r >> 8));
			break;
		case 2:
		case 3:
			rtc_cmos_write(&f->rtc, 1, (uint8_t)(r >> 8));
			break;
		case 4:
			(void)rtc_cmos_read(&f->rtc, (r >> 8) % 3);
			break;
		case 5:
			f->now += (int64_t)((r >> 8) % 4000) * 1000000;
			break;
		case 6:
			rtc_cmos_tick(&f->rtc);
			break;
		default:
			if ((r >> 8) % 64 == 0)
				f->now -= NS; /* the host clock stepped back */
			break;
		}
		next = rtc_cmos_next_event_ns(&f->rtc);
		if (next)
			assert_true((int64_t)next > f->rtc.last_ns);
		assert_true(f->rtc.index < 128);
		check_line(f);
		assert_int_equal(f->level, !!(f->rtc.ram[REG_C] & f->rtc.ram[REG_B] & 0x70));
	}
	assert_true(f->irq_calls > 100);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_power_on),
		T(test_bcd_time),
		T(test_binary_time),
		T(test_12_hour),
		T(test_12_hour_set_time),
		T(test_century),
		T(test_guest_sets_time),
		T(test_set_stops_updates),
		T(test_write_without_set),
		T(test_day_of_week_write),
		T(test_rollover_2000),
		T(test_rollover_2099),
		T(test_uip_window),
		T(test_uip_poll_terminates),
		T(test_reg_c_clears_and_drops_irq),
		T(test_flags_without_enables),
		T(test_irq_follows_enables),
		T(test_periodic_rates),
		T(test_periodic_lazy),
		T(test_update_ended),
		T(test_alarm_match),
		T(test_alarm_dont_care),
		T(test_alarm_12_hour),
		T(test_alarm_lazy),
		T(test_lazy_equals_ticked),
		T(test_clock_goes_back),
		T(test_nmi_bit),
		T(test_read_only_registers),
		T(test_memory_fields),
		T(test_cmos_ram),
		T(test_index_masking),
		T(test_out_of_range_ports),
		T(test_null_ops),
		T(test_random_traffic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
