// SPDX-License-Identifier: MIT
/*
 * Unit tests for the control API (vmm/api.c) and its client (vmm/ctl.c):
 * a real API on a socket in a temporary directory, fake commands, and real
 * client sockets (or ctl_main) on the test thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fixtures.h"
#include "vmm/api.h"
#include "vmm/ctl.h"

#define TIMEOUT_MS 5000

struct fixture {
	char dir[64];
	char path[128];
	struct api *api;
	int calls; /* commands run (the API thread writes, after a reply we read) */
};

/* ---- fake commands ---- */

static int cmd_ok(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		  size_t errlen)
{
	struct fixture *f = ctx;

	f->calls++;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "answer", json_object_new_int(42));
	return 0;
}

static int cmd_fail(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	snprintf(err, errlen, "the frobnicator is out of order");
	*ret = json_object_new_object(); /* must be released, not sent */
	return -EIO;
}

static int cmd_fail_silent(void *ctx, struct json_object *args, struct json_object **ret, char *err,
			   size_t errlen)
{
	return -ENOSPC;
}

static int cmd_echo(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	*ret = json_object_get(args);
	return 0;
}

static int cmd_nothing(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		       size_t errlen)
{
	return 0;
}

/* An event sent from inside a command reaches the client before the reply. */
static int cmd_emit(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	struct fixture *f = ctx;

	api_event(f->api, "FROM_CMD", NULL);
	return 0;
}

static const struct api_command cmds[] = {
	{"ok", cmd_ok},	    {"fail", cmd_fail},	      {"fail-silent", cmd_fail_silent},
	{"echo", cmd_echo}, {"nothing", cmd_nothing}, {"emit", cmd_emit},
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_api.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	if (api_create(&f->api, f->path, cmds, ARRAY_SIZE(cmds), f, err, sizeof(err))) {
		fprintf(stderr, "api_create: %s\n", err);
		return -1;
	}
	if (api_start(f->api))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	api_destroy(f->api);
	unlink(f->path);
	rmdir(f->dir);
	test_free(f);
	return 0;
}

/* ---- a test client ---- */

struct tc {
	int fd;
	size_t len;
	char buf[256 * 1024];
};

static struct tc *tc_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct tc *c = test_calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return c;
}

static void tc_close(struct tc *c)
{
	close(c->fd);
	test_free(c);
}

static void tc_send(struct tc *c, const char *s)
{
	size_t len = strlen(s), done = 0;

	while (done < len) {
		ssize_t n = send(c->fd, s + done, len - done, MSG_NOSIGNAL);

		assert_true(n > 0);
		done += (size_t)n;
	}
}

/*
 * The next line as a string (test_malloc'd), or NULL on EOF / connection
 * reset. Fails the test after TIMEOUT_MS.
 */
static char *tc_raw_line(struct tc *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - c->buf);
			char *s = test_malloc(len + 1);

			memcpy(s, c->buf, len);
			s[len] = '\0';
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			return s;
		}
		assert_true(c->len < sizeof(c->buf));
		if (poll(&p, 1, TIMEOUT_MS) != 1)
			fail_msg("no line from the API within %d ms", TIMEOUT_MS);
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

/* The next line, parsed (an object): json_object_put it. */
static struct json_object *tc_line(struct tc *c)
{
	char *s = tc_raw_line(c);
	struct json_object *o;

	if (!s)
		fail_msg("the API closed the connection");
	o = json_tokener_parse(s);
	if (!o || !json_object_is_type(o, json_type_object))
		fail_msg("not a JSON object: %s", s);
	test_free(s);
	return o;
}

static void tc_expect_eof(struct tc *c)
{
	char *s = tc_raw_line(c);

	if (s)
		fail_msg("expected the connection closed, got: %s", s);
}

static struct json_object *tc_cmd(struct tc *c, const char *line)
{
	tc_send(c, line);
	return tc_line(c);
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static bool has(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

/* Connect and swallow the greeting. */
static struct tc *tc_ready(const char *path)
{
	struct tc *c = tc_open(path);
	struct json_object *g = tc_line(c);

	assert_true(has(g, "QMP"));
	json_object_put(g);
	return c;
}

static void assert_error(struct json_object *rep, const char *cls, const char *desc_part)
{
	struct json_object *e = get(rep, "error");

	assert_false(has(rep, "return"));
	assert_string_equal(json_object_get_string(get(e, "class")), cls);
	assert_mentions(json_object_get_string(get(e, "desc")), desc_part, NULL);
}

/* ---- the protocol ---- */

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_open(f->path);
	struct json_object *g = tc_line(c), *q = get(g, "QMP"), *v = get(q, "version");
	int major, minor, micro;

	assert_int_equal(sscanf(LMIG_VERSION, "%d.%d.%d", &major, &minor, &micro), 3);
	assert_string_equal(json_object_get_string(get(v, "lmigtester")), LMIG_VERSION);
	assert_int_equal(json_object_get_int(get(v, "major")), major);
	assert_int_equal(json_object_get_int(get(v, "minor")), minor);
	assert_int_equal(json_object_get_int(get(v, "micro")), micro);
	assert_true(json_object_is_type(get(q, "capabilities"), json_type_array));
	assert_int_equal(json_object_array_length(get(q, "capabilities")), 0);
	json_object_put(g);
	tc_close(c);
}

static void test_replies_echo_id(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r;

	r = tc_cmd(c, "{\"execute\": \"ok\", \"id\": 7}\n");
	assert_int_equal(json_object_get_int(get(get(r, "return"), "answer")), 42);
	assert_int_equal(json_object_get_int(get(r, "id")), 7);
	assert_false(has(r, "error"));
	json_object_put(r);

	r = tc_cmd(c, "{\"id\": {\"tag\": [\"a\", 1]}, \"execute\": \"ok\", \"arguments\": {}}\n");
	assert_string_equal(json_object_to_json_string_ext(get(r, "id"), JSON_C_TO_STRING_PLAIN),
			    "{\"tag\":[\"a\",1]}");
	json_object_put(r);

	r = tc_cmd(c, "{\"execute\": \"ok\"}\n"); /* no id, none echoed */
	assert_false(has(r, "id"));
	assert_int_equal(f->calls, 3);
	json_object_put(r);

	/* NULL *ret is {} */
	r = tc_cmd(c, "{\"execute\": \"nothing\"}\r\n");
	assert_true(json_object_is_type(get(r, "return"), json_type_object));
	assert_int_equal(json_object_object_length(get(r, "return")), 0);
	json_object_put(r);

	r = tc_cmd(c, "{\"execute\": \"qmp_capabilities\", \"id\": \"caps\"}\n");
	assert_int_equal(json_object_object_length(get(r, "return")), 0);
	assert_string_equal(json_object_get_string(get(r, "id")), "caps");
	json_object_put(r);

	r = tc_cmd(c, "{\"execute\": \"query-version\"}\n");
	assert_string_equal(json_object_get_string(get(get(r, "return"), "lmigtester")),
			    LMIG_VERSION);
	json_object_put(r);
	tc_close(c);
}

static void test_query_commands(void **state)
{
	static const char *const want[] = {
		"qmp_capabilities", "query-version", "query-commands", "ok",  "fail",
		"fail-silent",	    "echo",	     "nothing",	       "emit"};
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r = tc_cmd(c, "{\"execute\": \"query-commands\"}\n");
	struct json_object *list = get(r, "return");

	assert_true(json_object_is_type(list, json_type_array));
	assert_int_equal(json_object_array_length(list), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(
			json_object_get_string(get(json_object_array_get_idx(list, i), "name")),
			want[i]);
	json_object_put(r);
	tc_close(c);
}

static void test_error_replies(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r;

	r = tc_cmd(c, "{\"execute\": \"fail\", \"id\": 1}\n");
	assert_error(r, "GenericError", "the frobnicator is out of order");
	assert_string_equal(json_object_get_string(get(get(r, "error"), "desc")),
			    "the frobnicator is out of order");
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	json_object_put(r);

	r = tc_cmd(c, "{\"execute\": \"fail-silent\"}\n");
	assert_error(r, "GenericError", "fail-silent");
	assert_mentions(json_object_get_string(get(get(r, "error"), "desc")), strerror(ENOSPC),
			NULL);
	json_object_put(r);

	r = tc_cmd(c, "{\"execute\": \"no-such-thing\", \"id\": \"x\"}\n");
	assert_error(r, "CommandNotFound", "no-such-thing");
	assert_string_equal(json_object_get_string(get(r, "id")), "x");
	json_object_put(r);
	tc_close(c);
}

static void test_echo_arguments(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r;

	r = tc_cmd(c, "{\"execute\": \"echo\", \"arguments\": {\"a\": [1, 2.5, null], "
		      "\"s\": \"line\\nbreak/\\u00e9\"}}\n");
	assert_string_equal(json_object_to_json_string_ext(get(r, "return"),
							   JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE),
			    "{\"a\":[1,2.5,null],\"s\":\"line\\nbreak/\xc3\xa9\"}");
	json_object_put(r);
	/* Absent arguments reach the command as an empty object. */
	r = tc_cmd(c, "{\"execute\": \"echo\"}\n");
	assert_true(json_object_is_type(get(r, "return"), json_type_object));
	assert_int_equal(json_object_object_length(get(r, "return")), 0);
	json_object_put(r);
	tc_close(c);
}

static void test_malformed_lines(void **state)
{
	static const struct {
		const char *line, *desc;
	} bad[] = {
		{"this is not json\n", "invalid JSON"},
		{"{\"execute\": \n", "invalid JSON"},
		{"{\"execute\": \"ok\"} {\"execute\": \"ok\"}\n", "after the value"},
		{"[1, 2, 3]\n", "JSON object"},
		{"\"execute\"\n", "JSON object"},
		{"{\"arguments\": {}}\n", "execute"},
		{"{\"execute\": 5}\n", "execute"},
		{"{\"execute\": null}\n", "execute"},
		{"{\"execute\": \"ok\", \"arguments\": [1]}\n", "arguments"},
		{"{\"execute\": \"ok\", \"arguments\": \"a\"}\n", "arguments"},
	};
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		r = tc_cmd(c, bad[i].line);
		assert_error(r, "GenericError", bad[i].desc);
		json_object_put(r);
	}
	/* An id is echoed as soon as the line is an object. */
	r = tc_cmd(c, "{\"execute\": 5, \"id\": 99}\n");
	assert_error(r, "GenericError", "execute");
	assert_int_equal(json_object_get_int(get(r, "id")), 99);
	json_object_put(r);
	/* Blank lines get no reply; the connection is still usable; nothing ran. */
	assert_int_equal(f->calls, 0);
	r = tc_cmd(c, "\n  \r\n{\"execute\": \"ok\", \"id\": 5}\n");
	assert_int_equal(json_object_get_int(get(r, "id")), 5);
	assert_true(has(r, "return"));
	json_object_put(r);
	tc_close(c);
}

/* Two requests in one write, and a request split over several writes. */
static void test_framing(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct json_object *r;

	tc_send(c, "{\"execute\": \"ok\", \"id\": 1}\n{\"execute\": \"fail\", \"id\": 2}\n");
	r = tc_line(c);
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	assert_true(has(r, "return"));
	json_object_put(r);
	r = tc_line(c);
	assert_int_equal(json_object_get_int(get(r, "id")), 2);
	assert_true(has(r, "error"));
	json_object_put(r);

	tc_send(c, "{\"execute\":");
	usleep(20000);
	tc_send(c, " \"ok\", \"id\"");
	usleep(20000);
	r = tc_cmd(c, ": 3}\n");
	assert_int_equal(json_object_get_int(get(r, "id")), 3);
	json_object_put(r);
	tc_close(c);
}

static void test_two_clients_interleaved(void **state)
{
	struct fixture *f = *state;
	struct tc *a = tc_ready(f->path), *b = tc_ready(f->path);
	struct json_object *r;

	tc_send(a, "{\"execute\": \"ok\", \"id\": \"a1\"}\n");
	tc_send(b, "{\"execute\": \"fail\", \"id\": \"b1\"}\n");
	tc_send(a, "{\"execute\": \"echo\", \"arguments\": {\"n\": 2}, \"id\": \"a2\"}\n");
	tc_send(b, "{\"execute\": \"nothing\", \"id\": \"b2\"}\n");

	r = tc_line(b);
	assert_string_equal(json_object_get_string(get(r, "id")), "b1");
	assert_error(r, "GenericError", "frobnicator");
	json_object_put(r);
	r = tc_line(a);
	assert_string_equal(json_object_get_string(get(r, "id")), "a1");
	assert_int_equal(json_object_get_int(get(get(r, "return"), "answer")), 42);
	json_object_put(r);
	r = tc_line(a);
	assert_string_equal(json_object_get_string(get(r, "id")), "a2");
	assert_int_equal(json_object_get_int(get(get(r, "return"), "n")), 2);
	json_object_put(r);
	r = tc_line(b);
	assert_string_equal(json_object_get_string(get(r, "id")), "b2");
	json_object_put(r);
	tc_close(a);
	tc_close(b);
}

static void test_events_broadcast(void **state)
{
	struct fixture *f = *state;
	struct tc *c[2] = {tc_ready(f->path), tc_ready(f->path)};
	struct json_object *data = json_object_new_object(), *r;
	time_t before = time(NULL);

	/* Make sure both are accepted before the broadcast. */
	for (int i = 0; i < 2; i++)
		json_object_put(tc_cmd(c[i], "{\"execute\": \"nothing\"}\n"));
	json_object_object_add(data, "reason", json_object_new_string("test"));
	api_event(f->api, "TEST_EVENT", data);
	api_event(f->api, "NO_DATA", NULL);
	for (int i = 0; i < 2; i++) {
		struct json_object *ts;

		r = tc_line(c[i]);
		assert_string_equal(json_object_get_string(get(r, "event")), "TEST_EVENT");
		assert_string_equal(json_object_get_string(get(get(r, "data"), "reason")), "test");
		ts = get(r, "timestamp");
		assert_true(json_object_get_int64(get(ts, "seconds")) >= before);
		assert_true(json_object_get_int64(get(ts, "seconds")) <= time(NULL));
		assert_in_range(json_object_get_int64(get(ts, "microseconds")), 0, 999999);
		json_object_put(r);
		r = tc_line(c[i]);
		assert_string_equal(json_object_get_string(get(r, "event")), "NO_DATA");
		assert_false(has(r, "data"));
		json_object_put(r);
	}
	/* An event a command sends arrives before its reply, to every client. */
	r = tc_cmd(c[0], "{\"execute\": \"emit\", \"id\": 1}\n");
	assert_string_equal(json_object_get_string(get(r, "event")), "FROM_CMD");
	json_object_put(r);
	r = tc_line(c[0]);
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	json_object_put(r);
	r = tc_line(c[1]);
	assert_string_equal(json_object_get_string(get(r, "event")), "FROM_CMD");
	json_object_put(r);
	tc_close(c[0]);
	tc_close(c[1]);
	/* No client left: still fine (the data is released: ASan/valgrind check). */
	api_event(f->api, "NOBODY", json_object_new_string("listens"));
}

static void test_event_before_start(void **state)
{
	struct fixture *f = *state;
	struct api *api;
	char path[160], err[256];
	struct tc *c;
	struct json_object *r;

	snprintf(path, sizeof(path), "%s/early.sock", f->dir);
	assert_int_equal(api_create(&api, path, cmds, ARRAY_SIZE(cmds), f, err, sizeof(err)), 0);
	api_event(api, "EARLY", json_object_new_int(1));
	assert_int_equal(api_start(api), 0);
	c = tc_ready(path);
	/* Nobody was connected for EARLY: the first line is the reply. */
	r = tc_cmd(c, "{\"execute\": \"ok\", \"id\": 1}\n");
	assert_false(has(r, "event"));
	assert_int_equal(json_object_get_int(get(r, "id")), 1);
	json_object_put(r);
	api_destroy(api);
	tc_expect_eof(c);
	tc_close(c);
}

/* A request of exactly API_MAX_LINE bytes: an echo padded with a string. */
static const char max_head[] = "{\"execute\": \"echo\", \"arguments\": {\"s\": \"";
static const char max_tail[] = "\"}}";
#define MAX_PAD (API_MAX_LINE - (sizeof(max_head) - 1) - (sizeof(max_tail) - 1))

static char *max_line(void)
{
	const char *head = max_head, *tail = max_tail;
	char *s = test_malloc(API_MAX_LINE + 2);
	size_t hl = strlen(head), pad = MAX_PAD;

	memcpy(s, head, hl);
	memset(s + hl, 'x', pad);
	memcpy(s + hl + pad, tail, strlen(tail));
	s[API_MAX_LINE] = '\n';
	s[API_MAX_LINE + 1] = '\0';
	return s;
}

static void test_line_limit(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path), *other = tc_ready(f->path);
	char *line = max_line();
	struct json_object *r;

	/* At the limit: served. */
	r = tc_cmd(c, line);
	assert_int_equal(strlen(json_object_get_string(get(get(r, "return"), "s"))), MAX_PAD);
	json_object_put(r);
	/* One byte more: an error, then the connection is closed. */
	line[API_MAX_LINE] = 'x';
	tc_send(c, line); /* API_MAX_LINE + 1 bytes without a newline */
	r = tc_line(c);
	assert_error(r, "GenericError", "longer than 65536");
	json_object_put(r);
	tc_expect_eof(c);
	test_free(line);
	/* The others are still served. */
	r = tc_cmd(other, "{\"execute\": \"ok\", \"id\": 2}\n");
	assert_int_equal(json_object_get_int(get(r, "id")), 2);
	json_object_put(r);
	tc_close(c);
	tc_close(other);
}

static void test_client_limit(void **state)
{
	struct fixture *f = *state;
	struct tc *c[API_MAX_CLIENTS], *extra;
	struct json_object *r;
	int i;

	for (i = 0; i < API_MAX_CLIENTS; i++)
		c[i] = tc_ready(f->path);
	extra = tc_open(f->path);
	r = tc_line(extra);
	assert_false(has(r, "QMP"));
	assert_error(r, "GenericError", "too many clients");
	json_object_put(r);
	tc_expect_eof(extra);
	tc_close(extra);
	/* All 16 still served. */
	for (i = 0; i < API_MAX_CLIENTS; i++) {
		r = tc_cmd(c[i], "{\"execute\": \"nothing\"}\n");
		assert_true(has(r, "return"));
		json_object_put(r);
	}
	/* One leaves: its slot is free again (once the API has seen it go). */
	tc_close(c[0]);
	for (i = 0; i < 200; i++) {
		extra = tc_open(f->path);
		r = tc_line(extra);
		if (has(r, "QMP"))
			break;
		json_object_put(r);
		tc_close(extra);
		usleep(10000);
	}
	assert_true(i < 200);
	json_object_put(r);
	r = tc_cmd(extra, "{\"execute\": \"ok\"}\n");
	assert_true(has(r, "return"));
	json_object_put(r);
	tc_close(extra);
	for (i = 1; i < API_MAX_CLIENTS; i++)
		tc_close(c[i]);
}

/* A client that sends without ever reading is dropped; the others are not. */
static void test_client_that_never_reads(void **state)
{
	struct fixture *f = *state;
	struct tc *slow = tc_ready(f->path), *other = tc_ready(f->path);
	size_t reqlen = 16 * 1024, sent = 0, off = 0, total;
	char *req = test_malloc(reqlen + 1);
	bool dropped = false;
	struct json_object *r;
	int i = 0;

	i = snprintf(req, reqlen, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"");
	memset(req + i, 'y', reqlen - (size_t)i - 4);
	memcpy(req + reqlen - 4, "\"}}\n", 4);
	req[reqlen] = '\0';
	assert_int_equal(fcntl(slow->fd, F_SETFL, O_NONBLOCK), 0);
	/* Far more replies than the bound and every socket buffer can hold. */
	total = (size_t)API_MAX_OUTPUT * 8;
	while (sent < total) {
		struct pollfd p = {.fd = slow->fd, .events = POLLOUT};
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) != 1)
			fail_msg("the API stopped reading a client after %zu bytes", sent);
		n = send(slow->fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			dropped = true;
			break;
		}
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n > 0);
		sent += (size_t)n;
		off = (off + (size_t)n) % reqlen;
	}
	if (!dropped)
		fail_msg("a client that never reads was not disconnected (%zu bytes sent)", sent);
	/* Dropped only once over its bound, not at the first full socket buffer. */
	assert_true(sent > (size_t)API_MAX_OUTPUT);
	r = tc_cmd(other, "{\"execute\": \"ok\", \"id\": \"still\"}\n");
	assert_string_equal(json_object_get_string(get(r, "id")), "still");
	json_object_put(r);
	test_free(req);
	tc_close(slow);
	tc_close(other);
}

/* ---- the socket file ---- */

static int api_at(const char *path, struct api **api, char *err, size_t errlen)
{
	return api_create(api, path, cmds, ARRAY_SIZE(cmds), NULL, err, errlen);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char err[256] = "";
	struct api *api;
	struct tc *c;
	int fd;

	/* A socket file nobody listens on, as a crashed process leaves it. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(access(sa.sun_path, F_OK), 0);
	assert_int_equal(api_at(sa.sun_path, &api, err, sizeof(err)), 0);
	assert_int_equal(api_start(api), 0);
	c = tc_ready(sa.sun_path);
	tc_close(c);
	api_destroy(api);
	assert_int_equal(access(sa.sun_path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_regular_file_refused(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256] = "";
	struct api *api = (struct api *)1;
	int fd;

	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(api_at(path, &api, err, sizeof(err)), -EEXIST);
	assert_null(api);
	assert_mentions(err, path, "not a socket", NULL);
	assert_int_equal(access(path, F_OK), 0); /* left alone */
	unlink(path);
}

static void test_live_socket_refused(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct api *api;

	/* The fixture's API listens on f->path. */
	assert_int_equal(api_at(f->path, &api, err, sizeof(err)), -EADDRINUSE);
	assert_mentions(err, f->path, "listening", NULL);
	/* ... and still serves. */
	tc_close(tc_ready(f->path));
}

static void test_destroy_unlinks_and_closes(void **state)
{
	struct fixture *f = *state;
	struct tc *c = tc_ready(f->path);
	struct stat st;

	api_destroy(f->api);
	f->api = NULL;
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	tc_expect_eof(c);
	tc_close(c);
	api_destroy(NULL);
}

static void test_bad_setup(void **state)
{
	struct fixture *f = *state;
	char path[300], err[256] = "";
	struct api *api;
	const struct api_command dup[] = {{"a", cmd_ok}, {"a", cmd_nothing}};
	const struct api_command builtin[] = {{"query-version", cmd_ok}};
	const struct api_command nofn[] = {{"a", NULL}};

	snprintf(path, sizeof(path), "%s/x.sock", f->dir);
	assert_int_equal(api_create(&api, path, dup, 2, NULL, err, sizeof(err)), -EEXIST);
	assert_mentions(err, "'a'", "twice", NULL);
	assert_int_equal(api_create(&api, path, builtin, 1, NULL, err, sizeof(err)), -EEXIST);
	assert_mentions(err, "query-version", NULL);
	assert_int_equal(api_create(&api, path, nofn, 1, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(api_create(&api, path, cmds, 1, NULL, err, sizeof(err)), -ENAMETOOLONG);
	assert_mentions(err, "too long", NULL);
	err[0] = '\0';
	snprintf(path, sizeof(path), "%s/no/such/dir/x.sock", f->dir);
	assert_int_equal(api_create(&api, path, cmds, 1, NULL, err, sizeof(err)), -ENOENT);
	assert_mentions(err, path, NULL);
}

/* ---- ctl ---- */

struct ctl_out {
	int rc;
	char out[8192];
	char err[8192];
};

static void slurp(FILE *fp, char *buf, size_t size)
{
	size_t n;

	rewind(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* Run ctl_main with stdout and stderr captured. */
static void run_ctl(struct ctl_out *o, int argc, char **argv)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int save_out = dup(1), save_err = dup(2);

	assert_non_null(out);
	assert_non_null(err);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	o->rc = ctl_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(save_out, 1);
	dup2(save_err, 2);
	close(save_out);
	close(save_err);
	slurp(out, o->out, sizeof(o->out));
	slurp(err, o->err, sizeof(o->err));
}

#define RUN_CTL(o, ...)                                                                            \
	do {                                                                                       \
		char *argv_[] = {"ctl", __VA_ARGS__};                                              \
		run_ctl((o), (int)ARRAY_SIZE(argv_), argv_);                                       \
	} while (0)

static void test_ctl_success(void **state)
{
	struct fixture *f = *state;
	struct ctl_out o;
	struct json_object *v;

	RUN_CTL(&o, f->path, "ok");
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.err, "");
	v = json_tokener_parse(o.out);
	assert_non_null(v);
	assert_int_equal(json_object_get_int(get(v, "answer")), 42);
	assert_non_null(strchr(o.out, '\n')); /* pretty: one key per line */
	json_object_put(v);

	RUN_CTL(&o, "--timeout", "5", f->path, "echo", "{\"k\": [\"v\", 1]}");
	assert_int_equal(o.rc, 0);
	v = json_tokener_parse(o.out);
	assert_non_null(v);
	assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			    "{\"k\":[\"v\",1]}");
	json_object_put(v);

	/* Events before the reply are skipped. */
	RUN_CTL(&o, f->path, "emit");
	assert_int_equal(o.rc, 0);
	v = json_tokener_parse(o.out);
	assert_non_null(v);
	assert_false(has(v, "event"));
	assert_int_equal(json_object_object_length(v), 0);
	assert_string_equal(o.out, "{}\n");
	json_object_put(v);
}

static void test_ctl_error_reply(void **state)
{
	struct fixture *f = *state;
	struct ctl_out o;

	RUN_CTL(&o, f->path, "fail");
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.out, "");
	assert_mentions(o.err, "GenericError", "the frobnicator is out of order", NULL);
	RUN_CTL(&o, f->path, "no-such-command");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "CommandNotFound", "no-such-command", NULL);
}

static void test_ctl_bad_usage(void **state)
{
	struct fixture *f = *state;
	struct ctl_out o;

	RUN_CTL(&o, f->path, "echo", "{\"a\":");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "not valid JSON", NULL);
	RUN_CTL(&o, f->path, "echo", "{} x");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "not valid JSON", NULL);
	RUN_CTL(&o, f->path, "echo", "[1]");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "must be a JSON object", NULL);
	RUN_CTL(&o, f->path);
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "missing COMMAND", "usage", NULL);
	RUN_CTL(&o, f->path, "ok", "{}", "extra");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "too many arguments", NULL);
	RUN_CTL(&o, "--bogus", f->path, "ok");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "unknown option --bogus", NULL);
	RUN_CTL(&o, "--timeout", "-1", f->path, "ok");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "--timeout", NULL);
	RUN_CTL(&o, "--help");
	assert_int_equal(o.rc, 0);
	assert_mentions(o.out, "usage: lmigtester ctl", "--timeout", NULL);
	assert_int_equal(f->calls, 0); /* nothing was sent */
}

static void test_ctl_no_socket(void **state)
{
	struct fixture *f = *state;
	struct ctl_out o;
	char path[160];

	snprintf(path, sizeof(path), "%s/missing.sock", f->dir);
	RUN_CTL(&o, path, "ok");
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.out, "");
	assert_mentions(o.err, path, strerror(ENOENT), NULL);
}

static void test_ctl_timeout(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl_out o;
	struct timespec t0, t1;
	int fd;

	/* A socket that accepts (backlog) but never greets. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/mute.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	RUN_CTL(&o, "--timeout=0.3", sa.sun_path, "ok");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	unlink(sa.sun_path);
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "timed out", "greeting", sa.sun_path, NULL);
	assert_in_range(t1.tv_sec - t0.tv_sec, 0, 2);
}

static void test_ctl_refused_when_full(void **state)
{
	struct fixture *f = *state;
	struct tc *c[API_MAX_CLIENTS];
	struct ctl_out o;
	int i;

	for (i = 0; i < API_MAX_CLIENTS; i++)
		c[i] = tc_ready(f->path);
	RUN_CTL(&o, f->path, "ok");
	assert_int_equal(o.rc, 1);
	assert_mentions(o.err, "too many clients", NULL);
	for (i = 0; i < API_MAX_CLIENTS; i++)
		tc_close(c[i]);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_greeting),
		T(test_replies_echo_id),
		T(test_query_commands),
		T(test_error_replies),
		T(test_echo_arguments),
		T(test_malformed_lines),
		T(test_framing),
		T(test_two_clients_interleaved),
		T(test_events_broadcast),
		T(test_event_before_start),
		T(test_line_limit),
		T(test_client_limit),
		T(test_client_that_never_reads),
		T(test_stale_socket_replaced),
		T(test_regular_file_refused),
		T(test_live_socket_refused),
		T(test_destroy_unlinks_and_closes),
		T(test_bad_setup),
		T(test_ctl_success),
		T(test_ctl_error_reply),
		T(test_ctl_bad_usage),
		T(test_ctl_no_socket),
		T(test_ctl_timeout),
		T(test_ctl_refused_when_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
