// SPDX-License-Identifier: MIT
/*
 * The control API (vmm/api.h, docs/api.md).
 *
 * Threads and ownership: the API has its own epoll instance holding the
 * listening socket, the clients and a wake-up eventfd; that epoll fd is
 * the one fd the API registers with its worker (vmm/worker.h), so the
 * worker's fd limit does not bound the clients and clients can come and
 * go (the worker has no way to remove an fd). Only the API thread reads
 * and writes sockets, accepts and frees clients. api_event() may run on
 * any thread: it only appends to the clients' output buffers under
 * `lock` and wakes the API thread, which sends. The lock guards the
 * client table and every output buffer; it is never held while a command
 * runs, because commands may call api_event() themselves.
 *
 * epoll data: the slot number and a generation count, so an event that
 * epoll reported for a client freed earlier in the same batch (and maybe
 * replaced by a new one in the same slot) is recognised and dropped.
 */
#include "vmm/api.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/worker.h"

#define TAG_LISTEN API_MAX_CLIENTS
#define TAG_WAKE (API_MAX_CLIENTS + 1)
#define ARRAY_LEN(x) (sizeof(x) / sizeof((x)[0]))

struct client {
	int fd;
	unsigned int slot; /* in api->clients */
	uint32_t gen;	   /* matches the epoll data while this client lives */
	bool dead;	   /* to be closed by the API thread */
	bool want_out;	   /* EPOLLOUT is being watched */
	size_t inlen;	   /* bytes in `in` (API thread only) */
	char *out;	   /* queued output, under api->lock */
	size_t outlen, outcap;
	char in[API_MAX_LINE + 1]; /* one line and its newline */
};

struct cmd {
	char *name;
	api_cmd_fn fn; /* NULL: a built-in */
};

struct api {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t sock_dev; /* the socket file we bound, unlinked only if still ours */
	ino_t sock_ino;
	int listen_fd;
	int ep_fd;
	int wake_fd;
	struct worker worker;
	void *ctx;
	struct cmd *cmds;
	size_t nr_cmds;
	struct json_object *version; /* {"lmigtester": "x.y.z", "major": x, ...} */
	pthread_mutex_t lock;
	struct client *clients[API_MAX_CLIENTS];
	uint32_t next_gen;
};

static const char *const builtin_names[] = {"qmp_capabilities", "query-version", "query-commands"};

static uint64_t ep_data(unsigned int tag, uint32_t gen)
{
	return (uint64_t)gen << 32 | tag;
}

/* One line of JSON, without newlines (json-c escapes those in strings). */
static const char *to_line(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- output (under a->lock) ---- */

static void watch_out(struct api *a, struct client *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0)};

	if (c->want_out == on)
		return;
	ev.data.u64 = ep_data(c->slot, c->gen);
	if (epoll_ctl(a->ep_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		c->dead = true;
		return;
	}
	c->want_out = on;
}

/* Queue len bytes and a newline; a client over its bound is dropped. */
static void queue_line(struct api *a, struct client *c, const char *s, size_t len)
{
	size_t need;

	if (c->dead)
		return;
	need = c->outlen + len + 1;
	if (need > API_MAX_OUTPUT) {
		log_warn("api: client %d does not read its replies (%zu bytes queued): "
			 "disconnecting",
			 c->fd, c->outlen);
		c->dead = true;
		return;
	}
	if (need > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		if (cap > API_MAX_OUTPUT)
			cap = API_MAX_OUTPUT;
		p = realloc(c->out, cap);
		if (!p) {
			c->dead = true;
			return;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, len);
	c->out[c->outlen + len] = '\n';
	c->outlen = need;
}

/* Send what the socket takes now; watch EPOLLOUT for the rest. */
static void flush(struct api *a, struct client *c)
{
	size_t done = 0;

	while (!c->dead && done < c->outlen) {
		ssize_t n =
			send(c->fd, c->out + done, c->outlen - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			break;
		}
		done += (size_t)n;
	}
	memmove(c->out, c->out + done, c->outlen - done);
	c->outlen -= done;
	if (!c->dead)
		watch_out(a, c, c->outlen > 0);
}

static void send_obj(struct api *a, struct client *c, struct json_object *o)
{
	const char *s = to_line(o);

	queue_line(a, c, s, strlen(s));
}

/* ---- replies ---- */

static struct json_object *error_obj(const char *cls, const char *desc)
{
	struct json_object *e = json_object_new_object();
	struct json_object *o = json_object_new_object();

	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	return o;
}

/* Queue reply (consumed) with the request's id, if any, and send. */
static void reply(struct api *a, struct client *c, struct json_object *rep, struct json_object *id)
{
	if (id)
		json_object_object_add(rep, "id", json_object_get(id));
	pthread_mutex_lock(&a->lock);
	send_obj(a, c, rep);
	flush(a, c);
	pthread_mutex_unlock(&a->lock);
	json_object_put(rep);
}

static void reply_error(struct api *a, struct client *c, const char *cls, struct json_object *id,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct api *a, struct client *c, const char *cls, struct json_object *id,
			const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	reply(a, c, error_obj(cls, desc), id);
}

/* ---- commands ---- */

static struct json_object *builtin(struct api *a, const char *name)
{
	struct json_object *ret;

	if (!strcmp(name, "query-version"))
		return json_object_get(a->version);
	if (!strcmp(name, "query-commands")) {
		ret = json_object_new_array();
		for (size_t i = 0; i < a->nr_cmds; i++) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(a->cmds[i].name));
			json_object_array_add(ret, o);
		}
		return ret;
	}
	return NULL; /* qmp_capabilities: {} */
}

static void execute(struct api *a, struct client *c, const char *name, struct json_object *args,
		    struct json_object *id)
{
	struct json_object *ret = NULL, *rep;
	char err[512] = "";
	const struct cmd *cmd = NULL;
	int r;

	for (size_t i = 0; i < a->nr_cmds; i++)
		if (!strcmp(a->cmds[i].name, name))
			cmd = &a->cmds[i];
	if (!cmd) {
		reply_error(a, c, "CommandNotFound", id, "command '%.400s' not found", name);
		return;
	}
	if (!cmd->fn) {
		ret = builtin(a, name);
		r = 0;
	} else {
		r = cmd->fn(a->ctx, args, &ret, err, sizeof(err));
	}
	if (r) {
		json_object_put(ret);
		err[sizeof(err) - 1] = '\0';
		if (!err[0])
			snprintf(err, sizeof(err), "%s failed: %s", name,
				 r < 0 ? strerror(-r) : "unknown error");
		reply(a, c, error_obj("GenericError", err), id);
		return;
	}
	rep = json_object_new_object();
	json_object_object_add(rep, "return", ret ? ret : json_object_new_object());
	reply(a, c, rep, id);
}

/* One request line (no newline, NUL-terminated at len). */
static void handle_line(struct api *a, struct client *c, const char *line, size_t len)
{
	struct json_tokener *tok;
	struct json_object *req, *exec, *args, *id = NULL, *empty = NULL;
	size_t i;

	for (i = 0; i < len && strchr(" \t\r", line[i]); i++)
		;
	if (i == len)
		return; /* blank lines are ignored */
	if (memchr(line, '\0', len)) {
		reply_error(a, c, "GenericError", NULL, "invalid JSON: NUL byte in the line");
		return;
	}
	tok = json_tokener_new();
	if (!tok) {
		reply_error(a, c, "GenericError", NULL, "out of memory");
		return;
	}
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		reply_error(a, c, "GenericError", NULL, "invalid JSON: %s",
			    e == json_tokener_continue ? "unexpected end of line"
						       : json_tokener_error_desc(e));
		json_object_put(req);
		json_tokener_free(tok);
		return;
	}
	/* Anything but blanks after the value is an error too. */
	for (i = json_tokener_get_parse_end(tok); i < len && strchr(" \t\r", line[i]); i++)
		;
	json_tokener_free(tok);
	if (i < len) {
		reply_error(a, c, "GenericError", NULL,
			    "invalid JSON: text after the value at offset %zu", i);
		goto out;
	}
	if (!json_object_is_type(req, json_type_object)) {
		reply_error(a, c, "GenericError", NULL, "a request must be a JSON object, not %s",
			    json_type_to_name(json_object_get_type(req)));
		goto out;
	}
	json_object_object_get_ex(req, "id", &id);
	if (!json_object_object_get_ex(req, "execute", &exec) ||
	    !json_object_is_type(exec, json_type_string)) {
		reply_error(a, c, "GenericError", id,
			    "a request needs \"execute\": a command name (a string)");
		goto out;
	}
	if (json_object_object_get_ex(req, "arguments", &args)) {
		if (!json_object_is_type(args, json_type_object)) {
			reply_error(a, c, "GenericError", id, "\"arguments\" must be an object");
			goto out;
		}
	} else {
		args = empty = json_object_new_object();
	}
	execute(a, c, json_object_get_string(exec), args, id);
	json_object_put(empty);
out:
	json_object_put(req);
}

/* ---- clients (API thread) ---- */

static void client_free(struct api *a, unsigned int slot)
{
	struct client *c = a->clients[slot];

	a->clients[slot] = NULL;
	close(c->fd); /* also leaves the epoll set */
	free(c->out);
	free(c);
}

/* Free the clients marked dead (API thread, under the lock). */
static void reap(struct api *a)
{
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++)
		if (a->clients[i] && a->clients[i]->dead)
			client_free(a, i);
}

static void client_read(struct api *a, struct client *c)
{
	ssize_t n;
	char *nl;
	size_t start = 0;

	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		c->dead = true; /* EOF or error: what was queued is dropped */
		return;
	}
	c->inlen += (size_t)n;
	while (!c->dead && (nl = memchr(c->in + start, '\n', c->inlen - start))) {
		size_t len = (size_t)(nl - (c->in + start));

		*nl = '\0';
		handle_line(a, c, c->in + start, len);
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (!c->dead && c->inlen == sizeof(c->in)) {
		reply_error(a, c, "GenericError", NULL, "line longer than %d bytes: disconnecting",
			    API_MAX_LINE);
		c->dead = true;
	}
}

static void refuse(int fd, const char *why)
{
	struct json_object *o = error_obj("GenericError", why);
	const char *s = to_line(o);
	char buf[256];
	int len = snprintf(buf, sizeof(buf), "%s\n", s);

	if (send(fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("api: cannot tell a refused client why: %s", strerror(errno));
	json_object_put(o);
	close(fd);
}

static void accept_clients(struct api *a)
{
	for (;;) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		struct json_object *greeting, *qmp;
		struct client *c;
		unsigned int slot;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("api: accept on %s failed: %s", a->path, strerror(errno));
			return;
		}
		pthread_mutex_lock(&a->lock);
		reap(a); /* a slot freed in this batch is free now */
		for (slot = 0; slot < API_MAX_CLIENTS && a->clients[slot]; slot++)
			;
		pthread_mutex_unlock(&a->lock);
		if (slot == API_MAX_CLIENTS) {
			refuse(fd, "too many clients (at most 16 at once)");
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			refuse(fd, "out of memory");
			continue;
		}
		c->fd = fd;
		c->slot = slot;
		c->gen = ++a->next_gen;
		ev.data.u64 = ep_data(slot, c->gen);
		if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_warn("api: cannot watch a new client: %s", strerror(errno));
			free(c);
			close(fd);
			continue;
		}
		greeting = json_object_new_object();
		qmp = json_object_new_object();
		json_object_object_add(qmp, "version", json_object_get(a->version));
		json_object_object_add(qmp, "capabilities", json_object_new_array());
		json_object_object_add(greeting, "QMP", qmp);
		pthread_mutex_lock(&a->lock);
		a->clients[slot] = c;
		send_obj(a, c, greeting);
		flush(a, c);
		pthread_mutex_unlock(&a->lock);
		json_object_put(greeting);
	}
}

/* The worker callback: the API's own epoll fd is readable. */
static void api_poll(void *opaque, uint32_t events)
{
	struct api *a = opaque;
	struct epoll_event evs[API_MAX_CLIENTS + 2];
	int i, n = epoll_wait(a->ep_fd, evs, API_MAX_CLIENTS + 2, 0);

	for (i = 0; i < n; i++) {
		unsigned int tag = (unsigned int)(evs[i].data.u64 & 0xffffffffu);
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct client *c;

		if (tag == TAG_LISTEN) {
			accept_clients(a);
			continue;
		}
		if (tag == TAG_WAKE) {
			uint64_t v;

			if (read(a->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("api: wake-up eventfd: %s", strerror(errno));
			continue; /* everything is flushed below */
		}
		c = a->clients[tag]; /* only this thread changes the table */
		if (!c || c->gen != gen || c->dead)
			continue;
		if (evs[i].events & EPOLLOUT) {
			pthread_mutex_lock(&a->lock);
			flush(a, c);
			pthread_mutex_unlock(&a->lock);
		}
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			client_read(a, c);
	}
	/* Send what api_event() queued, and drop the dead. */
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < API_MAX_CLIENTS; i++) {
		struct client *c = a->clients[i];

		if (c && !c->dead && c->outlen && !c->want_out)
			flush(a, c);
	}
	reap(a);
	pthread_mutex_unlock(&a->lock);
}

/* ---- setup ---- */

static struct json_object *version_obj(void)
{
	struct json_object *v = json_object_new_object();
	int major = 0, minor = 0, micro = 0;

	if (sscanf(LMIG_VERSION, "%d.%d.%d", &major, &minor, &micro) < 1)
		major = minor = micro = 0;
	json_object_object_add(v, "lmigtester", json_object_new_string(LMIG_VERSION));
	json_object_object_add(v, "major", json_object_new_int(major));
	json_object_object_add(v, "minor", json_object_new_int(minor));
	json_object_object_add(v, "micro", json_object_new_int(micro));
	return v;
}

static int add_cmd(struct api *a, const char *name, api_cmd_fn fn, char *err, size_t errlen)
{
	if (!name || !*name) {
		snprintf(err, errlen, "api: a command without a name");
		return -EINVAL;
	}
	for (size_t i = 0; i < a->nr_cmds; i++) {
		if (!strcmp(a->cmds[i].name, name)) {
			snprintf(err, errlen, "api: command '%s' defined twice", name);
			return -EEXIST;
		}
	}
	a->cmds[a->nr_cmds].name = strdup(name);
	if (!a->cmds[a->nr_cmds].name) {
		snprintf(err, errlen, "api: out of memory");
		return -ENOMEM;
	}
	a->cmds[a->nr_cmds++].fn = fn;
	return 0;
}

/*
 * Make room for a socket at path: nothing there is fine; a socket nobody
 * listens on (left by a process that died) is removed; anything else is
 * refused.
 */
static int clear_path(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "api socket %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "api socket %s: the file exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "api socket %s: socket: %s", path, strerror(-r));
		return r;
	}
	/* Non-blocking: a listener whose backlog is full answers EAGAIN. */
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	close(fd);
	if (r == 0 || r == -EAGAIN || r == -EINPROGRESS) {
		snprintf(err, errlen, "api socket %s: another process is listening on it", path);
		return -EADDRINUSE;
	}
	if (r != -ECONNREFUSED) {
		snprintf(err, errlen, "api socket %s: cannot check whether it is in use: %s", path,
			 strerror(-r));
		return r;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "api socket %s: cannot remove the stale socket: %s", path,
			 strerror(-r));
		return r;
	}
	log_debug("api: removed the stale socket %s", path);
	return 0;
}

int api_create(struct api **out, const char *path, const struct api_command *cmds, size_t n,
	       void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN};
	struct stat st;
	struct api *a;
	size_t i;
	int r;

	*out = NULL;
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "api socket: %s: %s",
			 path && *path ? "path too long for a Unix socket (107 bytes at most)"
				       : "empty path",
			 path ? path : "(null)");
		return path && *path ? -ENAMETOOLONG : -EINVAL;
	}
	if (n && !cmds) {
		snprintf(err, errlen, "api: no command table");
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "api: out of memory");
		return -ENOMEM;
	}
	memcpy(a->path, path, strlen(path) + 1);
	a->ctx = ctx;
	a->listen_fd = a->ep_fd = a->wake_fd = -1;
	r = pthread_mutex_init(&a->lock, NULL);
	if (r) {
		free(a);
		snprintf(err, errlen, "api: mutex: %s", strerror(r));
		return -r;
	}
	a->cmds = calloc(n + ARRAY_LEN(builtin_names), sizeof(*a->cmds));
	a->version = version_obj();
	if (!a->cmds || !a->version) {
		snprintf(err, errlen, "api: out of memory");
		r = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < ARRAY_LEN(builtin_names); i++) {
		r = add_cmd(a, builtin_names[i], NULL, err, errlen);
		if (r)
			goto err_free;
	}
	for (i = 0; i < n; i++) {
		if (!cmds[i].fn) {
			snprintf(err, errlen, "api: command '%s' has no function",
				 cmds[i].name ? cmds[i].name : "(null)");
			r = -EINVAL;
			goto err_free;
		}
		r = add_cmd(a, cmds[i].name, cmds[i].fn, err, errlen);
		if (r)
			goto err_free;
	}

	r = clear_path(&sa, err, errlen);
	if (r)
		goto err_free;
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->listen_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "api socket %s: socket: %s", path, strerror(-r));
		goto err_free;
	}
	if (bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "api socket %s: bind: %s", path, strerror(-r));
		goto err_close;
	}
	if (stat(path, &st) == 0) {
		a->sock_dev = st.st_dev;
		a->sock_ino = st.st_ino;
	}
	if (listen(a->listen_fd, API_MAX_CLIENTS) < 0) {
		r = -errno;
		snprintf(err, errlen, "api socket %s: listen: %s", path, strerror(-r));
		goto err_unlink;
	}
	a->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->ep_fd < 0 || a->wake_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "api: epoll/eventfd: %s", strerror(-r));
		goto err_unlink;
	}
	ev.data.u64 = ep_data(TAG_LISTEN, 0);
	if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, a->listen_fd, &ev) < 0)
		goto err_epoll;
	ev.data.u64 = ep_data(TAG_WAKE, 0);
	if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, a->wake_fd, &ev) < 0)
		goto err_epoll;
	r = worker_init(&a->worker, "api");
	if (r) {
		snprintf(err, errlen, "api: I/O thread: %s", strerror(-r));
		goto err_unlink;
	}
	r = worker_add(&a->worker, a->ep_fd, EPOLLIN, api_poll, a);
	if (r) {
		snprintf(err, errlen, "api: I/O thread: %s", strerror(-r));
		worker_destroy(&a->worker);
		goto err_unlink;
	}
	*out = a;
	return 0;

err_epoll:
	r = -errno;
	snprintf(err, errlen, "api: epoll_ctl: %s", strerror(-r));
err_unlink:
	unlink(path);
err_close:
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	if (a->ep_fd >= 0)
		close(a->ep_fd);
	close(a->listen_fd);
err_free:
	for (i = 0; a->cmds && i < a->nr_cmds; i++)
		free(a->cmds[i].name);
	free(a->cmds);
	json_object_put(a->version);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return r;
}

int api_start(struct api *a)
{
	return worker_start(&a->worker);
}

void api_event(struct api *a, const char *name, struct json_object *data)
{
	struct json_object *ev, *ts;
	struct timespec now;
	const char *s;
	size_t len;
	uint64_t one = 1;

	if (!a || !name) {
		json_object_put(data);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	ev = json_object_new_object();
	ts = json_object_new_object();
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", data);
	json_object_object_add(ts, "seconds", json_object_new_int64(now.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(now.tv_nsec / 1000));
	json_object_object_add(ev, "timestamp", ts);
	s = to_line(ev);
	len = strlen(s);
	pthread_mutex_lock(&a->lock);
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++)
		if (a->clients[i])
			queue_line(a, a->clients[i], s, len);
	pthread_mutex_unlock(&a->lock);
	json_object_put(ev);
	/* The API thread sends (and drops clients that went over their bound). */
	if (write(a->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("api: cannot wake the API thread: %s", strerror(errno));
}

void api_destroy(struct api *a)
{
	struct stat st;

	if (!a)
		return;
	worker_destroy(&a->worker); /* joins the thread: the table is ours now */
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++) {
		struct client *c = a->clients[i];

		if (!c)
			continue;
		if (!c->dead && c->outlen) /* e.g. quit's reply and SHUTDOWN */
			flush(a, c);
		client_free(a, i);
	}
	close(a->wake_fd);
	close(a->ep_fd);
	close(a->listen_fd);
	/* Only our own socket: someone may have replaced it since. */
	if (lstat(a->path, &st) == 0 && st.st_dev == a->sock_dev && st.st_ino == a->sock_ino)
		unlink(a->path);
	for (size_t i = 0; i < a->nr_cmds; i++)
		free(a->cmds[i].name);
	free(a->cmds);
	json_object_put(a->version);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
