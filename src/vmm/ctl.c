// SPDX-License-Identifier: MIT
/*
 * `lmigtester ctl`: one command to the control API, its reply on stdout
 * (vmm/ctl.h, docs/api.md).
 */
#include "vmm/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define CTL_DEFAULT_TIMEOUT 10.0
#define CTL_MAX_LINE (16 * 1024 * 1024) /* a reply longer than this is refused */

struct conn {
	int fd;
	const char *path;
	double deadline; /* CLOCK_MONOTONIC seconds */
	double timeout;
	char *buf; /* received bytes not yet returned as lines */
	size_t len, cap;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: lmigtester ctl [--timeout S] SOCKET COMMAND [JSON-ARGS]\n"
		   "\n"
		   "Send COMMAND to the control API listening on the Unix socket SOCKET\n"
		   "(lmigtester run --api-socket SOCKET) and print its result as JSON.\n"
		   "JSON-ARGS, when given, is the command's \"arguments\": a JSON object.\n"
		   "\n"
		   "  --timeout S   give up after S seconds (default 10)\n"
		   "  -h, --help    this text\n"
		   "\n"
		   "Exit status: 0 on success, 1 on an error reply or any other failure.\n"
		   "Example: lmigtester ctl /tmp/vm.sock query-status\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("lmigtester ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	double left = c->deadline - now();
	struct timeval tv;

	if (strlen(c->path) >= sizeof(sa.sun_path))
		return fail("cannot connect to %s: the path is too long for a Unix socket",
			    c->path);
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail("socket: %s", strerror(errno));
	/* A Unix connect() waits (for a full backlog) at most SO_SNDTIMEO. */
	if (left < 0.001)
		left = 0.001;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EAGAIN || errno == EINPROGRESS)
			return fail("cannot connect to %s: timed out after %g s", c->path,
				    c->timeout);
		return fail("cannot connect to %s: %s", c->path, strerror(errno));
	}
	return 0;
}

static int send_obj(struct conn *c, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), done = 0;
	char *line = malloc(len + 1);

	if (!line)
		return fail("out of memory");
	memcpy(line, s, len);
	line[len++] = '\n';
	while (done < len) {
		ssize_t n = send(c->fd, line + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(line);
			if (errno == EAGAIN)
				return fail("timed out after %g s sending to %s", c->timeout,
					    c->path);
			return fail("cannot send to %s: %s", c->path, strerror(errno));
		}
		done += (size_t)n;
	}
	free(line);
	return 0;
}

/* The next JSON object from the server, skipping blank lines. */
static int recv_obj(struct conn *c, const char *what, struct json_object **out)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		double left;
		ssize_t n;
		int r;

		if (nl) {
			size_t len = (size_t)(nl - c->buf);
			struct json_object *o;

			*nl = '\0';
			o = json_tokener_parse(c->buf);
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			if (!len)
				continue;
			if (!o || !json_object_is_type(o, json_type_object)) {
				json_object_put(o);
				return fail("%s sent something that is not a JSON object while "
					    "waiting for %s",
					    c->path, what);
			}
			*out = o;
			return 0;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			char *p;

			if (c->cap >= CTL_MAX_LINE)
				return fail("%s sent a line longer than %d bytes", c->path,
					    CTL_MAX_LINE);
			p = realloc(c->buf, cap);
			if (!p)
				return fail("out of memory");
			c->buf = p;
			c->cap = cap;
		}
		left = c->deadline - now();
		if (left <= 0)
			return fail("timed out after %g s waiting for %s from %s", c->timeout, what,
				    c->path);
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("poll: %s", strerror(errno));
		if (r == 0)
			continue; /* the deadline check above reports it */
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("connection to %s failed while waiting for %s: %s", c->path,
				    what, strerror(errno));
		if (n == 0)
			return fail("%s closed the connection while waiting for %s", c->path, what);
		c->len += (size_t)n;
	}
}

/* An {"error": ...} object: report it. */
static int report_error(struct json_object *o)
{
	struct json_object *e, *cls = NULL, *desc = NULL;

	json_object_object_get_ex(o, "error", &e);
	json_object_object_get_ex(e, "class", &cls);
	json_object_object_get_ex(e, "desc", &desc);
	return fail("%s: %s", cls ? json_object_get_string(cls) : "Error",
		    desc ? json_object_get_string(desc) : "(no description)");
}

/* Wait for the reply to the request just sent: 0 with *ret (return), or 1. */
static int await_reply(struct conn *c, const char *what, struct json_object **ret)
{
	for (;;) {
		struct json_object *o, *v;
		int r = recv_obj(c, what, &o);

		if (r)
			return r;
		if (json_object_object_get_ex(o, "return", &v)) {
			*ret = json_object_get(v);
			json_object_put(o);
			return 0;
		}
		if (json_object_object_get_ex(o, "error", &v)) {
			r = report_error(o);
			json_object_put(o);
			return r;
		}
		json_object_put(o); /* an event, or something we do not know */
	}
}

static int exchange(struct conn *c, const char *command, struct json_object *args)
{
	struct json_object *o, *ret = NULL;
	int r;

	r = conn_open(c);
	if (r)
		return r;
	r = recv_obj(c, "the greeting", &o);
	if (r)
		return r;
	if (json_object_object_get_ex(o, "error", NULL)) {
		r = report_error(o); /* e.g. too many clients */
		json_object_put(o);
		return r;
	}
	if (!json_object_object_get_ex(o, "QMP", NULL)) {
		json_object_put(o);
		return fail("%s did not greet like the lmigtester control API", c->path);
	}
	json_object_put(o);

	o = json_object_new_object();
	json_object_object_add(o, "execute", json_object_new_string("qmp_capabilities"));
	r = send_obj(c, o);
	json_object_put(o);
	if (!r)
		r = await_reply(c, "the reply to qmp_capabilities", &ret);
	json_object_put(ret);
	if (r)
		return r;

	o = json_object_new_object();
	json_object_object_add(o, "execute", json_object_new_string(command));
	json_object_object_add(o, "arguments", json_object_get(args));
	r = send_obj(c, o);
	json_object_put(o);
	if (r)
		return r;
	ret = NULL;
	r = await_reply(c, "the reply", &ret);
	if (r)
		return r;
	/* json-c prints an empty object pretty as "{\n}": print {} instead. */
	if (json_object_is_type(ret, json_type_object) && !json_object_object_length(ret))
		printf("{}\n");
	else if (json_object_is_type(ret, json_type_array) && !json_object_array_length(ret))
		printf("[]\n");
	else
		printf("%s\n", json_object_to_json_string_ext(
				       ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(ret);
	if (fflush(stdout) != 0)
		return fail("cannot write the result: %s", strerror(errno));
	return 0;
}

static int parse_timeout(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 86400)
		return fail("--timeout: '%s' is not a number of seconds in (0, 86400]", s);
	*out = v;
	return 0;
}

int ctl_main(int argc, char **argv)
{
	const char *pos[3];
	int npos = 0, i, r;
	bool opts = true;
	struct conn c = {.fd = -1, .timeout = CTL_DEFAULT_TIMEOUT};
	struct json_object *args;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(stdout);
			fflush(stdout);
			return 0;
		} else if (opts && !strcmp(a, "--timeout")) {
			if (i + 1 >= argc)
				return fail("--timeout needs a number of seconds");
			if (parse_timeout(argv[++i], &c.timeout))
				return 1;
		} else if (opts && !strncmp(a, "--timeout=", 10)) {
			if (parse_timeout(a + 10, &c.timeout))
				return 1;
		} else if (opts && !strcmp(a, "--")) {
			opts = false;
		} else if (opts && a[0] == '-' && a[1]) {
			fail("unknown option %s", a);
			usage(stderr);
			return 1;
		} else if (npos < 3) {
			pos[npos++] = a;
		} else {
			fail("too many arguments (from '%s' on)", a);
			usage(stderr);
			return 1;
		}
	}
	if (npos < 2) {
		fail("missing %s", npos ? "COMMAND" : "SOCKET and COMMAND");
		usage(stderr);
		return 1;
	}
	if (!*pos[1])
		return fail("COMMAND is empty");
	if (npos == 3) {
		struct json_tokener *tok = json_tokener_new();
		size_t len = strlen(pos[2]), end;

		if (!tok)
			return fail("out of memory");
		args = json_tokener_parse_ex(tok, pos[2], (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			enum json_tokener_error e = json_tokener_get_error(tok);

			json_tokener_free(tok);
			json_object_put(args);
			return fail("JSON-ARGS is not valid JSON: %s",
				    e == json_tokener_continue ? "unexpected end"
							       : json_tokener_error_desc(e));
		}
		for (end = json_tokener_get_parse_end(tok);
		     end < len && strchr(" \t\r\n", pos[2][end]); end++)
			;
		json_tokener_free(tok);
		if (end < len) {
			json_object_put(args);
			return fail("JSON-ARGS is not valid JSON: text after the value");
		}
		if (!json_object_is_type(args, json_type_object)) {
			json_object_put(args);
			return fail("JSON-ARGS must be a JSON object, like '{\"path\": \"x\"}'");
		}
	} else {
		args = json_object_new_object();
	}
	c.path = pos[0];
	c.deadline = now() + c.timeout;
	r = exchange(&c, pos[1], args);
	json_object_put(args);
	if (c.fd >= 0)
		close(c.fd);
	free(c.buf);
	return r;
}
