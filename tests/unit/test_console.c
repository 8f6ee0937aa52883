// SPDX-License-Identifier: MIT
/*
 * Unit tests for the console's escape filter (console_filter() in
 * src/vmm/console.c): QEMU's Ctrl-A convention, including an escape split
 * across two reads. Help text for Ctrl-A h goes to a pipe the test reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fixtures.h"
#include "vmm/console.h"

#define CA "\x01" /* Ctrl-A, as a string piece */

struct fixture {
	struct console con;
	int pipe_r; /* what console_filter writes to out_fd (help text) */
	uint8_t out[256];
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	int p[2];

	if (!f || pipe(p) < 0)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		return -1;
	f->con.in_fd = -1;
	f->con.out_fd = p[1];
	f->pipe_r = p[0];
	memset(f->out, 0xee, sizeof(f->out));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->pipe_r);
	close(f->con.out_fd);
	test_free(f);
	return 0;
}

/* Filter a string (length from sizeof, so embedded NULs count) into f->out. */
static size_t filter(struct fixture *f, const char *in, size_t n)
{
	memset(f->out, 0xee, sizeof(f->out));
	assert_true(n <= sizeof(f->out));
	return console_filter(&f->con, (const uint8_t *)in, n, f->out);
}

/* p[0..n) as C string contents, for messages. */
static const char *escaped(char *buf, size_t len, const uint8_t *p, size_t n)
{
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < n && at + 5 < len; i++)
		at += (size_t)snprintf(buf + at, len - at,
				       p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x", p[i]);
	return buf;
}

/*
 * Filtering in[0..n) passes exactly want[0..want_n) to the guest, and
 * console_filter() writes nothing past that.
 */
static void expect_filter(struct fixture *f, const char *in, size_t n, const char *want,
			  size_t want_n)
{
	char b1[256], b2[256], b3[256];
	size_t got = filter(f, in, n), i;

	escaped(b1, sizeof(b1), (const uint8_t *)in, n);
	if (got != want_n || memcmp(f->out, want, want_n) != 0)
		fail_msg("filter(\"%s\") returned %zu: \"%s\", expected \"%s\"", b1, got,
			 escaped(b2, sizeof(b2), f->out,
				 got < sizeof(f->out) ? got : sizeof(f->out)),
			 escaped(b3, sizeof(b3), (const uint8_t *)want, want_n));
	for (i = want_n; i < sizeof(f->out); i++)
		if (f->out[i] != 0xee)
			fail_msg("filter(\"%s\") wrote 0x%02x to out[%zu], past its %zu bytes", b1,
				 f->out[i], i, want_n);
}

/* EXPECT_FILTER(f, "a" CA "zb", "ab"): string literals, embedded NULs included. */
#define EXPECT_FILTER(f, in, want) expect_filter(f, in, sizeof(in) - 1, want, sizeof(want) - 1)

/* Everything console_filter wrote to out_fd so far. */
static size_t drain(struct fixture *f, char *buf, size_t len)
{
	ssize_t n = read(f->pipe_r, buf, len - 1);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return (size_t)n;
}

static void assert_nothing_written(struct fixture *f)
{
	char buf[16];

	assert_int_equal(drain(f, buf, sizeof(buf)), 0);
}

static void test_plain_bytes_pass(void **state)
{
	static const char in[] = "hello, guest\r\n\0\x02\x1b[A\x7f\xff\x80 x h";
	struct fixture *f = *state;
	uint8_t all[255];
	unsigned int i;

	EXPECT_FILTER(f, in, in);
	assert_false(f->con.quit);
	assert_false(f->con.escape);

	/* Every byte value but Ctrl-A goes through unchanged, in order. */
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(i < 1 ? 0 : i + 1);
	memset(f->out, 0, sizeof(f->out));
	assert_int_equal(console_filter(&f->con, all, sizeof(all), f->out), sizeof(all));
	assert_memory_equal(f->out, all, sizeof(all));
	assert_false(f->con.quit);
	assert_nothing_written(f);
}

static void test_empty_input(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, "", "");
	assert_false(f->con.escape);
	/* An empty read between the two halves of an escape keeps it pending. */
	EXPECT_FILTER(f, CA, "");
	assert_true(f->con.escape);
	EXPECT_FILTER(f, "", "");
	assert_true(f->con.escape);
	assert_false(f->con.quit);
}

static void test_quit(void **state)
{
	struct fixture *f = *state;

	/* It stops there: nothing after the escape reaches the output. */
	EXPECT_FILTER(f, "ab" CA "xcd", "ab");
	assert_true(f->con.quit);
	assert_false(f->con.escape);
	assert_nothing_written(f);
}

static void test_quit_upper_case_and_first(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, CA "X" CA CA "more", "");
	assert_true(f->con.quit);
}

static void test_escape_escape_sends_one(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, "a" CA CA "b", "a" CA "b");
	assert_false(f->con.escape);
	assert_false(f->con.quit);

	/* Four Ctrl-A: two for the guest. */
	EXPECT_FILTER(f, CA CA CA CA, CA CA);
	assert_false(f->con.escape);

	/* Three, then x: the third starts a new escape, which quits. */
	EXPECT_FILTER(f, CA CA CA "x", CA);
	assert_true(f->con.quit);
}

/* An escaped 'x' from Ctrl-A Ctrl-A is data, not a quit. */
static void test_escaped_ctrl_a_then_x(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, CA CA "x", CA "x");
	assert_false(f->con.quit);
}

static void test_unknown_escape_dropped(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, "a" CA "zb", "ab");
	assert_false(f->con.escape);
	assert_false(f->con.quit);

	/* ESC, 'c' and NUL are no escapes either ("\0d" is a NUL, then 'd'). */
	EXPECT_FILTER(f, CA "\x1b" CA "c" CA "\0d", "d");
	assert_false(f->con.quit);
	assert_nothing_written(f);
}

static void test_escape_split_across_calls(void **state)
{
	struct fixture *f = *state;

	/* Ctrl-A at the end of one buffer... */
	EXPECT_FILTER(f, "ab" CA, "ab");
	assert_true(f->con.escape);
	assert_false(f->con.quit);
	/* ...and 'x' at the start of the next. */
	EXPECT_FILTER(f, "xcd", "");
	assert_true(f->con.quit);
	assert_false(f->con.escape);
}

static void test_split_escape_escape_and_unknown(void **state)
{
	struct fixture *f = *state;

	EXPECT_FILTER(f, CA, "");
	EXPECT_FILTER(f, CA "q", CA "q");
	assert_false(f->con.escape);

	EXPECT_FILTER(f, "p" CA, "p");
	EXPECT_FILTER(f, "zq", "q");
	assert_false(f->con.quit);
}

static void test_help(void **state)
{
	struct fixture *f = *state;
	char buf[1024];

	EXPECT_FILTER(f, "a" CA "hb", "ab");
	assert_false(f->con.quit);
	assert_true(drain(f, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "C-a x"));
	assert_non_null(strstr(buf, "C-a h"));
	/* H and ? too, and split across calls. */
	EXPECT_FILTER(f, CA "H" CA "?", "");
	assert_true(drain(f, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "C-a x"));
	EXPECT_FILTER(f, CA, "");
	EXPECT_FILTER(f, "h", "");
	assert_true(drain(f, buf, sizeof(buf)) > 0);
	assert_false(f->con.quit);
	/* Help does not go to the guest. */
	assert_int_equal(f->out[0], 0xee);
}

/* console_read() filters in place; the filter must allow in == out. */
static void test_in_place(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[] = "a" CA CA "b" CA "zc" CA "h"
			"d";
	size_t n;

	n = console_filter(&f->con, buf, sizeof(buf) - 1, buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "a" CA "bcd", 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_plain_bytes_pass),
		T(test_empty_input),
		T(test_quit),
		T(test_quit_upper_case_and_first),
		T(test_escape_escape_sends_one),
		T(test_escaped_ctrl_a_then_x),
		T(test_unknown_escape_dropped),
		T(test_escape_split_across_calls),
		T(test_split_escape_escape_and_unknown),
		T(test_help),
		T(test_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
