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
#include <string.h>
#include <unistd.h>

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

#define FILTER(f, lit) filter(f, lit, sizeof(lit) - 1)

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

	assert_int_equal(FILTER(f, in), sizeof(in) - 1);
	assert_memory_equal(f->out, in, sizeof(in) - 1);
	assert_int_equal(f->out[sizeof(in) - 1], 0xee);
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

	assert_int_equal(filter(f, "", 0), 0);
	assert_false(f->con.escape);
	/* An empty read between the two halves of an escape keeps it pending. */
	assert_int_equal(FILTER(f, CA), 0);
	assert_true(f->con.escape);
	assert_int_equal(filter(f, "", 0), 0);
	assert_true(f->con.escape);
	assert_false(f->con.quit);
}

static void test_quit(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, "ab" CA "xcd"), 2);
	assert_memory_equal(f->out, "ab", 2);
	assert_true(f->con.quit);
	/* It stops there: nothing after the escape reaches the output. */
	assert_int_equal(f->out[2], 0xee);
	assert_int_equal(f->out[3], 0xee);
	assert_false(f->con.escape);
	assert_nothing_written(f);
}

static void test_quit_upper_case_and_first(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, CA "X" CA CA "more"), 0);
	assert_true(f->con.quit);
	assert_int_equal(f->out[0], 0xee);
}

static void test_escape_escape_sends_one(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, "a" CA CA "b"), 3);
	assert_memory_equal(f->out, "a" CA "b", 3);
	assert_false(f->con.escape);
	assert_false(f->con.quit);

	/* Four Ctrl-A: two for the guest. */
	assert_int_equal(FILTER(f, CA CA CA CA), 2);
	assert_memory_equal(f->out, CA CA, 2);
	assert_false(f->con.escape);

	/* Three, then x: the third starts a new escape, which quits. */
	assert_int_equal(FILTER(f, CA CA CA "x"), 1);
	assert_int_equal(f->out[0], 0x01);
	assert_true(f->con.quit);
}

/* An escaped 'x' from Ctrl-A Ctrl-A is data, not a quit. */
static void test_escaped_ctrl_a_then_x(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, CA CA "x"), 2);
	assert_memory_equal(f->out, CA "x", 2);
	assert_false(f->con.quit);
}

static void test_unknown_escape_dropped(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, "a" CA "zb"), 2);
	assert_memory_equal(f->out, "ab", 2);
	assert_false(f->con.escape);
	assert_false(f->con.quit);

	assert_int_equal(FILTER(f, CA "\x1b" CA "c" CA "\0"
				      "d"),
			 1);
	assert_int_equal(f->out[0], 'd');
	assert_false(f->con.quit);
	assert_nothing_written(f);
}

static void test_escape_split_across_calls(void **state)
{
	struct fixture *f = *state;

	/* Ctrl-A at the end of one buffer... */
	assert_int_equal(FILTER(f, "ab" CA), 2);
	assert_memory_equal(f->out, "ab", 2);
	assert_true(f->con.escape);
	assert_false(f->con.quit);
	/* ...and 'x' at the start of the next. */
	assert_int_equal(FILTER(f, "xcd"), 0);
	assert_true(f->con.quit);
	assert_false(f->con.escape);
	assert_int_equal(f->out[0], 0xee);
}

static void test_split_escape_escape_and_unknown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(FILTER(f, CA), 0);
	assert_int_equal(FILTER(f, CA "q"), 2);
	assert_memory_equal(f->out, CA "q", 2);
	assert_false(f->con.escape);

	assert_int_equal(FILTER(f, "p" CA), 1);
	assert_int_equal(FILTER(f, "zq"), 1);
	assert_int_equal(f->out[0], 'q');
	assert_false(f->con.quit);
}

static void test_help(void **state)
{
	struct fixture *f = *state;
	char buf[1024];

	assert_int_equal(FILTER(f, "a" CA "hb"), 2);
	assert_memory_equal(f->out, "ab", 2);
	assert_false(f->con.quit);
	assert_true(drain(f, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "C-a x"));
	assert_non_null(strstr(buf, "C-a h"));
	/* H and ? too, and split across calls. */
	assert_int_equal(FILTER(f, CA "H" CA "?"), 0);
	assert_true(drain(f, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "C-a x"));
	assert_int_equal(FILTER(f, CA), 0);
	assert_int_equal(FILTER(f, "h"), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_bytes_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit_upper_case_and_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_escape_sends_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_ctrl_a_then_x, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_escape_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_split_across_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_escape_escape_and_unknown, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
