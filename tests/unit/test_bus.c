// SPDX-License-Identifier: MIT
/*
 * Unit tests for the I/O bus (src/vmm/bus.c): registration (overlaps from
 * every side, zero length, ranges at the very top of the 64-bit space, a
 * full table) and dispatch (offsets, accesses straddling a device's end,
 * unclaimed reads returning all ones).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/fixtures.h"
#include "vmm/bus.h"

/* A fake device that records its last access and answers reads with a pattern. */
struct fake_dev {
	uint8_t tag;
	unsigned int reads, writes;
	uint64_t last_off;
	unsigned int last_len;
	uint8_t last_data[8];
};

static void fake_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	struct fake_dev *d = opaque;
	unsigned int i;

	d->reads++;
	d->last_off = off;
	d->last_len = len;
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(d->tag + off + i);
}

static void fake_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct fake_dev *d = opaque;

	d->writes++;
	d->last_off = off;
	d->last_len = len;
	memcpy(d->last_data, data, len < sizeof(d->last_data) ? len : sizeof(d->last_data));
}

static const struct bus_ops fake_ops = {.read = fake_read, .write = fake_write};
static const struct bus_ops no_ops = {.read = NULL, .write = NULL};

static void test_init(void **state)
{
	struct bus bus;

	(void)state;
	memset(&bus, 0x5a, sizeof(bus));
	bus_init(&bus, "pio");
	assert_string_equal(bus.name, "pio");
	assert_int_equal(bus.nr_ranges, 0);
}

static void test_dispatch_with_offsets(void **state)
{
	struct fake_dev a = {.tag = 0x10}, b = {.tag = 0x80};
	uint8_t data[8], w[4] = {0xde, 0xad, 0xbe, 0xef};
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &fake_ops, &a, "com1"), 0);
	assert_int_equal(bus_register(&bus, 0x1000, 0x100, &fake_ops, &b, "b"), 0);
	assert_int_equal(bus.nr_ranges, 2);

	assert_true(bus_read(&bus, 0x3fa, data, 1));
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.last_off, 2);
	assert_int_equal(a.last_len, 1);
	assert_int_equal(data[0], 0x12);

	assert_true(bus_read(&bus, 0x3f8, data, 8));
	assert_int_equal(a.last_off, 0);
	assert_int_equal(a.last_len, 8);
	assert_int_equal(data[7], 0x17);

	assert_true(bus_write(&bus, 0x1010, w, 4));
	assert_int_equal(b.writes, 1);
	assert_int_equal(b.last_off, 0x10);
	assert_int_equal(b.last_len, 4);
	assert_memory_equal(b.last_data, w, 4);

	/* The last bytes of a range. */
	assert_true(bus_read(&bus, 0x10fc, data, 4));
	assert_int_equal(b.last_off, 0xfc);
	assert_true(bus_write(&bus, 0x10ff, w, 1));
	assert_int_equal(b.last_off, 0xff);
	assert_int_equal(a.writes, 0);
	assert_int_equal(b.reads, 1);
}

struct range {
	uint64_t base, len;
};

/* Registering each of ranges[0..n) fails with want and leaves bus's table as it was. */
static void expect_refused(struct bus *bus, const struct range *ranges, size_t n, int want)
{
	struct fake_dev d = {0};
	unsigned int before = bus->nr_ranges;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = bus_register(bus, ranges[i].base, ranges[i].len, &fake_ops, &d, "x");
		if (r != want)
			fail_msg("bus_register(0x%llx, 0x%llx) = %d, expected %d",
				 (unsigned long long)ranges[i].base,
				 (unsigned long long)ranges[i].len, r, want);
	}
	assert_int_equal(bus->nr_ranges, before);
}

static void test_overlap_refused(void **state)
{
	/* Against [0x100, 0x110): identical, partial from either side, containing, contained. */
	static const struct range overlaps[] = {
		{0x100, 0x10},	{0xf8, 0x10}, {0xff, 2},       {0x108, 0x10}, {0x10f, 1},
		{0x10f, 0x100}, {0, 0x1000},  {0, UINT64_MAX}, {0x104, 4},    {0x100, 1},
	};
	/* With [0xf0, 0x120): a range that bridges two existing ones overlaps both. */
	static const struct range bridges[] = {{0xef, 0x40}, {0x11f, 1}};
	struct fake_dev d = {0};
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &fake_ops, &d, "d"), 0);
	expect_refused(&bus, overlaps, ARRAY_SIZE(overlaps), -EEXIST);
	assert_int_equal(bus.nr_ranges, 1);
	/* Touching either end is not an overlap. */
	assert_int_equal(bus_register(&bus, 0xf0, 0x10, &fake_ops, &d, "below"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &fake_ops, &d, "above"), 0);
	assert_int_equal(bus.nr_ranges, 3);
	expect_refused(&bus, bridges, ARRAY_SIZE(bridges), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x120, 1, &fake_ops, &d, "x"), 0);
	assert_int_equal(bus_register(&bus, 0xef, 1, &fake_ops, &d, "x"), 0);
	assert_int_equal(bus.nr_ranges, 5);
}

static void test_zero_length(void **state)
{
	static const struct range empty[] = {{0x100, 0}, {0, 0}, {UINT64_MAX, 0}};
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	expect_refused(&bus, empty, ARRAY_SIZE(empty), -EINVAL);
	assert_int_equal(bus.nr_ranges, 0);
}

static void test_wrap_at_top(void **state)
{
	static const struct range wrapping[] = {
		{UINT64_MAX - 15, 17}, {UINT64_MAX, 2}, {UINT64_MAX, UINT64_MAX}, {2, UINT64_MAX}};
	static const struct range overlapping_top[] = {{UINT64_MAX, 1}, {UINT64_MAX - 16, 2}};
	struct fake_dev d = {.tag = 0};
	uint8_t data[8];
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	/* Ranges that wrap, like [UINT64_MAX - 15, UINT64_MAX + 1]. */
	expect_refused(&bus, wrapping, ARRAY_SIZE(wrapping), -EINVAL);
	assert_int_equal(bus.nr_ranges, 0);
	/* Ending exactly at UINT64_MAX is fine. */
	assert_int_equal(bus_register(&bus, UINT64_MAX - 15, 16, &fake_ops, &d, "d"), 0);
	expect_refused(&bus, overlapping_top, ARRAY_SIZE(overlapping_top), -EEXIST);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 16, 1, &fake_ops, &d, "below"), 0);

	assert_true(bus_read(&bus, UINT64_MAX, data, 1));
	assert_int_equal(d.last_off, 15);
	assert_true(bus_read(&bus, UINT64_MAX - 1, data, 2));
	assert_int_equal(d.last_off, 14);
	assert_true(bus_read(&bus, UINT64_MAX - 7, data, 8));
	assert_int_equal(d.last_off, 8);
	/* Accesses running past 2^64 are unclaimed. */
	d.reads = 0;
	memset(data, 0, sizeof(data));
	assert_false(bus_read(&bus, UINT64_MAX, data, 2));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	assert_false(bus_read(&bus, UINT64_MAX - 3, data, 8));
	assert_false(bus_write(&bus, UINT64_MAX - 6, data, 8));
	assert_int_equal(d.reads, 0);

	/* Whole-space ranges: [0, UINT64_MAX - 1] and [1, UINT64_MAX]. */
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0, UINT64_MAX, &fake_ops, &d, "all"), 0);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, &fake_ops, &d, "top"), 0);
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 1, UINT64_MAX, &fake_ops, &d, "all"), 0);
	assert_int_equal(bus_register(&bus, 0, 1, &fake_ops, &d, "zero"), 0);
	assert_true(bus_read(&bus, UINT64_MAX - 7, data, 8));
	assert_int_equal(d.last_off, UINT64_MAX - 8);
}

static void test_straddling_access_unclaimed(void **state)
{
	struct fake_dev a = {.tag = 1}, b = {.tag = 2};
	uint8_t data[8], w[8] = {0};
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &fake_ops, &a, "a"), 0);

	/* Ends exactly at the device's end: claimed. */
	assert_true(bus_read(&bus, 0x10c, data, 4));
	assert_int_equal(a.last_off, 0xc);
	a.reads = 0;
	/* Runs one byte past it, or starts before it: unclaimed. */
	memset(data, 0, sizeof(data));
	assert_false(bus_read(&bus, 0x10d, data, 4));
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(data[4], 0);
	assert_false(bus_read(&bus, 0x10f, data, 2));
	assert_false(bus_read(&bus, 0xfe, data, 4));
	assert_false(bus_read(&bus, 0xff, data, 8));
	assert_false(bus_write(&bus, 0x10e, w, 4));
	assert_false(bus_write(&bus, 0xfc, w, 8));
	assert_int_equal(a.reads, 0);
	assert_int_equal(a.writes, 0);

	/* Across the boundary of two adjacent devices: neither gets it. */
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &fake_ops, &b, "b"), 0);
	assert_false(bus_read(&bus, 0x10e, data, 4));
	assert_false(bus_write(&bus, 0x10f, w, 2));
	assert_int_equal(a.reads + a.writes + b.reads + b.writes, 0);
	assert_true(bus_read(&bus, 0x110, data, 4));
	assert_int_equal(b.last_off, 0);
}

static void test_unclaimed(void **state)
{
	struct fake_dev a = {.tag = 1};
	uint8_t data[8], w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	unsigned int len;
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	for (len = 1; len <= 8; len *= 2) {
		memset(data, 0, sizeof(data));
		assert_false(bus_read(&bus, 0x60, data, len));
		assert_memory_equal(data, "\xff\xff\xff\xff\xff\xff\xff\xff", len);
		if (len < 8)
			assert_int_equal(data[len], 0);
	}
	assert_false(bus_write(&bus, 0x60, w, 1));

	assert_int_equal(bus_register(&bus, 0x3f8, 8, &fake_ops, &a, "a"), 0);
	memset(data, 0, sizeof(data));
	assert_false(bus_read(&bus, 0x3f7, data, 1));
	assert_int_equal(data[0], 0xff);
	assert_false(bus_read(&bus, 0x400, data, 4));
	assert_false(bus_write(&bus, 0x400, w, 4));
	assert_false(bus_read(&bus, 0, data, 8));
	assert_false(bus_read(&bus, UINT64_MAX, data, 1));
	assert_int_equal(a.reads + a.writes, 0);

	/* A zero-length access is never claimed. */
	assert_false(bus_read(&bus, 0x3f8, data, 0));
	assert_false(bus_write(&bus, 0x3f8, w, 0));
	assert_int_equal(a.reads + a.writes, 0);
}

/* A device without read/write callbacks claims the range; reads give all ones. */
static void test_null_ops(void **state)
{
	uint8_t data[4] = {0}, w[4] = {0};
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x80, 1, &no_ops, NULL, "post"), 0);
	assert_true(bus_read(&bus, 0x80, data, 1));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0);
	assert_true(bus_write(&bus, 0x80, w, 1));
}

#define NR_MANY BUS_MAX_RANGES

static void test_sorted_insertion_many(void **state)
{
	struct fake_dev devs[NR_MANY];
	uint8_t data[8];
	struct bus bus;
	unsigned int i, k;

	(void)state;
	bus_init(&bus, "mmio");
	memset(devs, 0, sizeof(devs));
	/* Insert in a scrambled order (7 is coprime with 32): k = 0, 7, 14, ... */
	for (i = 0; i < NR_MANY; i++) {
		k = (i * 7) % NR_MANY;
		devs[k].tag = (uint8_t)k;
		assert_int_equal(bus_register(&bus, 0x1000 + k * 0x100, 0x10 + k, &fake_ops,
					      &devs[k], "dev"),
				 0);
		assert_int_equal(bus.nr_ranges, i + 1);
	}
	for (i = 0; i + 1 < bus.nr_ranges; i++)
		assert_true(bus.ranges[i].base < bus.ranges[i + 1].base);
	for (k = 0; k < NR_MANY; k++) {
		uint64_t base = 0x1000 + k * 0x100, len = 0x10 + k;

		assert_int_equal(bus.ranges[k].base, base);
		assert_int_equal(bus.ranges[k].len, len);
		assert_ptr_equal(bus.ranges[k].opaque, &devs[k]);
		/* First byte, last byte, and the gaps on either side. */
		assert_true(bus_read(&bus, base, data, 1));
		assert_int_equal(devs[k].last_off, 0);
		assert_true(bus_read(&bus, base + len - 4, data, 4));
		assert_int_equal(devs[k].last_off, len - 4);
		assert_int_equal(data[0], (uint8_t)(k + len - 4));
		assert_false(bus_read(&bus, base - 1, data, 1));
		assert_false(bus_read(&bus, base + len, data, 1));
		assert_false(bus_read(&bus, base + len - 1, data, 2));
		assert_int_equal(devs[k].reads, 2);
	}

	/* Full: the next registration is refused, even a valid disjoint one. */
	assert_int_equal(bus_register(&bus, 0x100000, 0x10, &fake_ops, &devs[0], "more"), -ENOSPC);
	assert_int_equal(bus_register(&bus, 0, 1, &fake_ops, &devs[0], "more"), -ENOSPC);
	assert_int_equal(bus.nr_ranges, BUS_MAX_RANGES);
	/* The table is intact. */
	assert_true(bus_read(&bus, 0x1000 + 31 * 0x100, data, 1));
	assert_int_equal(devs[31].reads, 3);
}

/* Registering in descending order exercises insertion at the front. */
static void test_sorted_insertion_descending(void **state)
{
	struct fake_dev d = {0};
	struct bus bus;
	unsigned int i;

	(void)state;
	bus_init(&bus, "pio");
	for (i = 0; i < 8; i++)
		assert_int_equal(bus_register(&bus, 0x800 - i * 0x100, 0x100, &fake_ops, &d, "d"),
				 0);
	assert_int_equal(bus.nr_ranges, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(bus.ranges[i].base, 0x100 + i * 0x100);
	/* Contiguous ranges: an access at each join lands in the upper one. */
	for (i = 1; i < 8; i++) {
		uint8_t data[2];

		assert_true(bus_read(&bus, 0x100 + i * 0x100, data, 2));
		assert_int_equal(d.last_off, 0);
		assert_false(bus_read(&bus, 0xff + i * 0x100, data, 2));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_dispatch_with_offsets),
		cmocka_unit_test(test_overlap_refused),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_wrap_at_top),
		cmocka_unit_test(test_straddling_access_unclaimed),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_null_ops),
		cmocka_unit_test(test_sorted_insertion_many),
		cmocka_unit_test(test_sorted_insertion_descending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
