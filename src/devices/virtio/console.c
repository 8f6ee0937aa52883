// SPDX-License-Identifier: MIT
/*
 * virtio-console, one port (VIRTIO 1.2 section 5.3). See console.h for the
 * back ends. How the work is organised:
 *
 * - The back end's descriptors (the output file, the pty master, the
 *   listening socket and its client) sit in a private epoll set, `ep`, and
 *   only `ep` is registered with the worker. Socket clients come and go,
 *   and the worker has no way to forget an fd; the private set does.
 * - Everything runs on the worker thread with the transport lock held:
 *   queue_notify() is called that way by the transport, and on_events()
 *   takes the lock itself. reset() and activate() run on a vCPU thread,
 *   also under the lock, and only change flags (and epoll interest).
 * - TX: chains from the transmitq are written with writev() straight from
 *   guest memory. When the output is full (EAGAIN or a short write) the
 *   chain and the offset reached are kept, EPOLLOUT is armed and the rest
 *   follows when it fires, so the guest's bytes leave in order and none is
 *   dropped. With the SOCKET back end and no client, the transmitq is left
 *   alone: the guest's output waits in the ring until a client connects.
 * - RX: input is edge-triggered, so it is read until EAGAIN or until the
 *   guest has no receive buffers left. In the second case the input stays
 *   in the kernel's buffer and reading resumes on the receiveq's
 *   notification. A chain taken when no input was waiting is kept for the
 *   next bytes (a chain cannot be given back unused).
 */
#include "devices/virtio/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/log.h"

/* Entries of the private epoll set (epoll_event.data.u32). */
enum { TAG_DATA = 1, TAG_LISTEN = 2 };

/*
 * The configuration space (section 5.3.4). Without SIZE, MULTIPORT and
 * EMERG_WRITE none of the fields is valid, so it reads as zeros.
 */
struct console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

struct virtio_console {
	struct virtio_mmio mmio;
	char name[32];
	enum virtio_console_backend backend;
	int ep; /* the private epoll set: the one fd the worker watches */
	/*
	 * Where output goes and input comes from: the file, the pty master
	 * or the socket's client (-1 while there is none).
	 */
	int data_fd;
	bool data_polled; /* data_fd is in ep (a regular file cannot be) */
	bool data_input;  /* data_fd carries input too (pty, socket) */
	int listen_fd;	  /* SOCKET */
	int pty_slave;	  /* PTY: held open, so the master never sees a hangup */
	char *sock_path;  /* SOCKET: removed again by destroy */
	char path[256];	  /* the file, the socket or the pty slave (messages may truncate) */

	/* TX: the chain being written and how many of its bytes are out. */
	bool tx_busy;
	bool tx_wait; /* the output is full: EPOLLOUT is armed */
	uint64_t tx_off;
	struct virtq_chain tx;

	/* RX: a chain taken while no input was waiting, kept for the next bytes. */
	bool rx_busy;
	struct virtq_chain rx;

	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* ---- epoll interest ---- */

static void watch_data(struct virtio_console *c, int op)
{
	struct epoll_event ev = {.events = EPOLLET, .data.u32 = TAG_DATA};

	if (c->data_input)
		ev.events |= EPOLLIN;
	if (c->backend == VIRTIO_CONSOLE_SOCKET)
		ev.events |= EPOLLRDHUP;
	if (c->tx_wait)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(c->ep, op, c->data_fd, &ev) < 0)
		log_ratelimited(LOG_LEVEL_WARN, "%s: epoll_ctl on '%s': %s", c->name, c->path,
				strerror(errno));
}

static void set_tx_wait(struct virtio_console *c, bool wait)
{
	if (c->tx_wait == wait)
		return;
	c->tx_wait = wait;
	if (c->data_fd >= 0 && c->data_polled)
		watch_data(c, EPOLL_CTL_MOD);
}

static void drop_client(struct virtio_console *c, const char *why)
{
	log_info("%s: the client of '%s' %s", c->name, c->path, why);
	close(c->data_fd); /* also takes it out of ep */
	c->data_fd = -1;
	c->tx_wait = false;
}

/* ---- TX: guest to host ---- */

/* iovecs for the readable (in = false) or writable part of ch, from byte off on. */
static int chain_iov(struct iovec *iov, const struct virtq_chain *ch, bool in, uint64_t off)
{
	unsigned int i = in ? ch->nr_out : 0, end = in ? ch->nr_out + ch->nr_in : ch->nr_out;
	int n = 0;

	for (; i < end; i++) {
		const struct virtq_seg *s = &ch->segs[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		iov[n].iov_base = s->host + off;
		iov[n].iov_len = s->len - off;
		n++;
		off = 0;
	}
	return n;
}

static ssize_t out_write(struct virtio_console *c, int cnt)
{
	if (c->backend == VIRTIO_CONSOLE_SOCKET) {
		/* A client that went away must not kill us with SIGPIPE. */
		struct msghdr m = {.msg_iov = c->iov, .msg_iovlen = (size_t)cnt};

		return sendmsg(c->data_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	return writev(c->data_fd, c->iov, cnt);
}

enum tx_result {
	TX_DONE, /* the whole chain is out */
	TX_WAIT, /* the output is full */
	TX_GONE, /* the socket's client went away; the chain waits for the next one */
	TX_DROP, /* the output failed: the chain's bytes are lost */
};

static enum tx_result tx_write(struct virtio_console *c)
{
	int err;

	while (c->tx_off < c->tx.out_len) {
		ssize_t n = out_write(c, chain_iov(c->iov, &c->tx, false, c->tx_off));

		if (n > 0) {
			c->tx_off += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return c->data_polled ? TX_WAIT : TX_DROP;
		if (c->backend == VIRTIO_CONSOLE_SOCKET)
			return TX_GONE;
		err = n < 0 ? errno : 0;
		log_ratelimited(LOG_LEVEL_WARN,
				"%s: writing to '%s' failed: %s; %llu bytes dropped", c->name,
				c->path, err ? strerror(err) : "nothing written",
				(unsigned long long)(c->tx.out_len - c->tx_off));
		return TX_DROP;
	}
	return TX_DONE;
}

static void process_tx(struct virtio_console *c)
{
	struct virtq *vq = &c->mmio.vqs[VIRTIO_CONSOLE_TXQ];
	bool pushed = false;
	int r;

	/* No client (SOCKET) or a full output: the chains wait in the ring. */
	if (!virtio_mmio_live(&c->mmio) || !vq->ready || c->data_fd < 0 || c->tx_wait)
		return;
	for (;;) {
		if (!c->tx_busy) {
			r = virtq_next(vq, &c->tx);
			if (r < 0) {
				virtio_mmio_fail(&c->mmio, "transmitq: %s", vq->error);
				return;
			}
			if (r == 0)
				break; /* empty, and the next kick wakes us */
			if (c->tx.nr_in) {
				virtio_mmio_fail(&c->mmio,
						 "transmitq chain at head %u has a device-writable "
						 "buffer",
						 c->tx.head);
				return;
			}
			c->tx_busy = true;
			c->tx_off = 0;
		}
		switch (tx_write(c)) {
		case TX_WAIT:
			/* Notifications stay off: EPOLLOUT brings us back. */
			set_tx_wait(c, true);
			goto out;
		case TX_GONE:
			drop_client(c, "went away while we wrote to it");
			goto out;
		case TX_DONE:
		case TX_DROP:
			break;
		}
		virtq_push(vq, c->tx.head, 0);
		c->tx_busy = false;
		pushed = true;
	}
out:
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, vq);
}

/* ---- RX: host to guest ---- */

static void process_rx(struct virtio_console *c)
{
	struct virtq *vq = &c->mmio.vqs[VIRTIO_CONSOLE_RXQ];
	bool pushed = false;
	int r;

	if (!c->data_input || c->data_fd < 0 || !virtio_mmio_live(&c->mmio) || !vq->ready)
		return;
	for (;;) {
		ssize_t n;
		int err;

		if (!c->rx_busy) {
			r = virtq_next(vq, &c->rx);
			if (r < 0) {
				virtio_mmio_fail(&c->mmio, "receiveq: %s", vq->error);
				return;
			}
			if (r == 0) {
				/*
				 * No buffers: the input stays in the fd until the
				 * driver adds some and notifies the receiveq.
				 */
				break;
			}
			if (c->rx.nr_out) {
				virtio_mmio_fail(&c->mmio,
						 "receiveq chain at head %u has a device-readable "
						 "buffer",
						 c->rx.head);
				return;
			}
			if (c->rx.in_len == 0) {
				virtq_push(vq, c->rx.head, 0);
				pushed = true;
				continue;
			}
			c->rx_busy = true;
		}
		n = readv(c->data_fd, c->iov, chain_iov(c->iov, &c->rx, true, 0));
		if (n > 0) {
			virtq_push(vq, c->rx.head, (uint32_t)n);
			c->rx_busy = false;
			pushed = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break; /* dry: keep the chain, wait for the next edge */
		err = n < 0 ? errno : 0;
		if (c->backend == VIRTIO_CONSOLE_SOCKET)
			drop_client(c, err ? "failed" : "disconnected");
		else
			log_ratelimited(LOG_LEVEL_WARN, "%s: reading '%s' failed: %s", c->name,
					c->path, err ? strerror(err) : "end of file");
		break;
	}
	if (pushed)
		virtio_mmio_notify_used(&c->mmio, vq);
}

/* ---- the listening socket ---- */

static void accept_clients(struct virtio_console *c)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_ratelimited(LOG_LEVEL_WARN, "%s: accept on '%s': %s", c->name,
						c->path, strerror(errno));
			return;
		}
		if (c->data_fd >= 0) {
			log_info("%s: '%s' already has a client; closing the new one", c->name,
				 c->path);
			close(fd);
			continue;
		}
		c->data_fd = fd;
		c->tx_wait = false;
		watch_data(c, EPOLL_CTL_ADD);
		log_info("%s: client connected to '%s'", c->name, c->path);
		/* Output that waited for a client goes now; input may be there already. */
		process_tx(c);
		process_rx(c);
	}
}

/* ---- worker callback ---- */

static void on_events(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;
	struct epoll_event evs[4];
	uint32_t data_ev = 0;
	bool listen_ev = false;
	int i, n;

	(void)events;
	virtio_mmio_lock(&c->mmio);
	/*
	 * Under the lock, so that a DATA event is about the current data_fd
	 * (closing an fd removes its pending events from ep).
	 */
	n = epoll_wait(c->ep, evs, 4, 0);
	for (i = 0; i < n; i++) {
		if (evs[i].data.u32 == TAG_LISTEN)
			listen_ev = true;
		else
			data_ev |= evs[i].events;
	}
	if (data_ev && c->data_fd >= 0) {
		if (data_ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			process_rx(c);
		if (c->data_fd >= 0 && c->tx_wait && (data_ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
			set_tx_wait(c, false);
			process_tx(c);
		}
		/*
		 * A client that hung up while the guest had no receive
		 * buffers (so its EOF could not be read yet) must not keep the
		 * socket busy: its unread input is dropped.
		 */
		if (c->backend == VIRTIO_CONSOLE_SOCKET && c->data_fd >= 0 &&
		    (data_ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			drop_client(c, "hung up");
	}
	/* After the data events, so that a client's EOF frees the place first. */
	if (c->backend == VIRTIO_CONSOLE_SOCKET && (listen_ev || c->data_fd < 0))
		accept_clients(c);
	virtio_mmio_unlock(&c->mmio);
}

/* ---- transport callbacks (lock held) ---- */

static void config_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	static const struct console_config cfg;

	(void)dev;
	if (off < sizeof(cfg))
		memcpy(data, (const uint8_t *)&cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* DRIVER_OK, on a vCPU thread: have the worker look at both queues. */
static int activate(void *dev)
{
	struct virtio_console *c = dev;

	if (c->mmio.ops && c->mmio.ops->kick) {
		c->mmio.ops->kick(c->mmio.ctx, VIRTIO_CONSOLE_RXQ);
		c->mmio.ops->kick(c->mmio.ctx, VIRTIO_CONSOLE_TXQ);
	}
	return 0;
}

/* The chains we hold belong to rings that are going away: forget them. */
static void reset(void *dev)
{
	struct virtio_console *c = dev;

	c->tx_busy = false;
	c->tx_off = 0;
	c->rx_busy = false;
	set_tx_wait(c, false);
}

static void queue_notify(void *dev, unsigned int queue)
{
	struct virtio_console *c = dev;

	if (queue == VIRTIO_CONSOLE_TXQ)
		process_tx(c);
	else if (queue == VIRTIO_CONSOLE_RXQ)
		process_rx(c);
}

static const struct virtio_device_ops console_ops = {
	.config_read = config_read,
	.activate = activate,
	.reset = reset,
	.queue_notify = queue_notify,
};

/* ---- back ends ---- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int open_file(struct virtio_console *c, const char *path, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLET, .data.u32 = TAG_DATA};

	/* Non-blocking: a FIFO or a terminal must not stall the worker. */
	c->data_fd =
		open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (c->data_fd < 0) {
		int r = -errno;

		snprintf(err, errlen, "%s: cannot create '%s': %s", c->name, path, strerror(-r));
		return r;
	}
	/* Regular files cannot be polled (EPERM) and never make us wait. */
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->data_fd, &ev) == 0) {
		c->data_polled = true;
	} else if (errno != EPERM) {
		int r = -errno;

		snprintf(err, errlen, "%s: cannot watch '%s': %s", c->name, path, strerror(-r));
		return r;
	}
	return 0;
}

static int open_pty(struct virtio_console *c, char *err, size_t errlen)
{
	struct termios t;
	const char *what;
	int r;

	what = "posix_openpt";
	c->data_fd = posix_openpt(O_RDWR | O_NOCTTY);
	if (c->data_fd < 0)
		goto fail;
	what = "F_SETFD";
	if (fcntl(c->data_fd, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	what = "grantpt";
	if (grantpt(c->data_fd) < 0)
		goto fail;
	what = "unlockpt";
	if (unlockpt(c->data_fd) < 0)
		goto fail;
	what = "ptsname_r";
	errno = ptsname_r(c->data_fd, c->path, sizeof(c->path));
	if (errno)
		goto fail;
	/*
	 * Raw mode on the slave, so that bytes pass unchanged (no echo, no
	 * CR/LF translation, no signals). We keep the slave open: with no
	 * slave open the master reports a hangup on every poll.
	 */
	what = "opening the slave";
	c->pty_slave = open(c->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->pty_slave < 0)
		goto fail;
	what = "tcgetattr";
	if (tcgetattr(c->pty_slave, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	what = "tcsetattr";
	if (tcsetattr(c->pty_slave, TCSANOW, &t) < 0)
		goto fail;
	what = "O_NONBLOCK";
	r = set_nonblock(c->data_fd);
	if (r) {
		errno = -r;
		goto fail;
	}
	c->data_input = true;
	c->data_polled = true;
	what = "epoll_ctl";
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->data_fd,
		      &(struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u32 = TAG_DATA}) < 0)
		goto fail;
	return 0;
fail:
	r = -errno;
	snprintf(err, errlen, "%s: cannot set up a pty (%s): %s", c->name, what, strerror(-r));
	return r;
}

/*
 * Is the socket at path served by someone? A stale one (its server died)
 * refuses connections.
 */
static bool socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return used;
}

static int open_socket(struct virtio_console *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = TAG_LISTEN};
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path '%s' is longer than %zu bytes", c->name,
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: '%s' exists and is not a socket", c->name, path);
			return -EEXIST;
		}
		if (socket_in_use(&sa)) {
			snprintf(err, errlen, "%s: socket '%s' is in use by another process",
				 c->name, path);
			return -EADDRINUSE;
		}
		if (unlink(path) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: cannot remove the stale socket '%s': %s",
				 c->name, path, strerror(-r));
			return r;
		}
	}
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: socket: %s", c->name, strerror(-r));
		return r;
	}
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot bind '%s': %s", c->name, path, strerror(-r));
		return r;
	}
	c->sock_path = strdup(path);
	if (!c->sock_path) {
		unlink(path);
		snprintf(err, errlen, "%s: out of memory", c->name);
		return -ENOMEM;
	}
	if (listen(c->listen_fd, 1) < 0 || epoll_ctl(c->ep, EPOLL_CTL_ADD, c->listen_fd, &ev) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot listen on '%s': %s", c->name, path, strerror(-r));
		return r;
	}
	c->data_input = true;
	c->data_polled = true;
	return 0;
}

/* Undo whatever part of open_*() succeeded. */
static void close_backend(struct virtio_console *c)
{
	if (c->data_fd >= 0)
		close(c->data_fd);
	if (c->pty_slave >= 0)
		close(c->pty_slave);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->sock_path) {
		unlink(c->sock_path);
		free(c->sock_path);
	}
	c->data_fd = c->pty_slave = c->listen_fd = -1;
	c->sock_path = NULL;
}

/* ---- public API ---- */

int virtio_console_create(struct virtio_console **out, const struct virtio_console_opts *o,
			  const char *name, struct gmem *mem, struct worker *w,
			  const struct virtio_mmio_ops *ops, void *ctx, char *err, size_t errlen)
{
	struct virtio_mmio_config cfg = {
		.device_id = VIRTIO_ID_CONSOLE,
		.features =
			VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC),
		.nr_queues = 2,
		.queue_max = VIRTIO_CONSOLE_QUEUE_MAX,
	};
	struct virtio_console *c;
	int r;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->backend = o->backend;
	c->data_fd = c->listen_fd = c->pty_slave = -1;
	if (o->backend != VIRTIO_CONSOLE_PTY)
		snprintf(c->path, sizeof(c->path), "%s", o->path ? o->path : "");

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: epoll_create1: %s", c->name, strerror(-r));
		goto err_free;
	}
	if (o->backend != VIRTIO_CONSOLE_PTY && (!o->path || !*o->path)) {
		snprintf(err, errlen, "%s: no path given", c->name);
		r = -EINVAL;
		goto err_close_ep;
	}
	switch (o->backend) {
	case VIRTIO_CONSOLE_FILE:
		r = open_file(c, o->path, err, errlen);
		break;
	case VIRTIO_CONSOLE_PTY:
		r = open_pty(c, err, errlen);
		break;
	case VIRTIO_CONSOLE_SOCKET:
		r = open_socket(c, o->path, err, errlen);
		break;
	default:
		snprintf(err, errlen, "%s: unknown back end %d", c->name, (int)o->backend);
		r = -EINVAL;
		break;
	}
	if (r)
		goto err_close_backend;

	cfg.name = c->name;
	r = virtio_mmio_init(&c->mmio, &cfg, mem, &console_ops, c, ops, ctx);
	if (r) {
		snprintf(err, errlen, "%s: transport: %s", c->name, strerror(-r));
		goto err_close_backend;
	}
	r = worker_add(w, c->ep, EPOLLIN, on_events, c);
	if (r) {
		snprintf(err, errlen, "%s: cannot watch '%s' on the I/O thread: %s", c->name,
			 c->path, strerror(-r));
		goto err_mmio;
	}
	*out = c;
	return 0;

err_mmio:
	virtio_mmio_destroy(&c->mmio);
err_close_backend:
	close_backend(c);
err_close_ep:
	close(c->ep);
err_free:
	free(c);
	return r;
}

const char *virtio_console_pty_path(const struct virtio_console *c)
{
	return c && c->backend == VIRTIO_CONSOLE_PTY ? c->path : NULL;
}

struct virtio_mmio *virtio_console_mmio(struct virtio_console *c)
{
	return &c->mmio;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	close_backend(c);
	close(c->ep);
	virtio_mmio_destroy(&c->mmio);
	free(c);
}

int virtio_console_parse(const char *s, struct virtio_console_opts *o, char *err, size_t errlen)
{
	static const struct {
		const char *prefix;
		enum virtio_console_backend backend;
	} kinds[] = {
		{"file=", VIRTIO_CONSOLE_FILE},
		{"socket=", VIRTIO_CONSOLE_SOCKET},
	};
	size_t i;

	memset(o, 0, sizeof(*o));
	if (!strcmp(s, "pty")) {
		o->backend = VIRTIO_CONSOLE_PTY;
		return 0;
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);

		if (strncmp(s, kinds[i].prefix, n))
			continue;
		if (!s[n]) {
			snprintf(err, errlen, "'%s' needs a path after '%s'", s, kinds[i].prefix);
			return -EINVAL;
		}
		o->backend = kinds[i].backend;
		o->path = s + n;
		return 0;
	}
	snprintf(err, errlen,
		 "'%s' is not a console back end: expected file=PATH, pty or socket=PATH", s);
	return -EINVAL;
}
