// SPDX-License-Identifier: MIT
/*
 * virtio-net on a TAP device. See net.h for the behaviour; this file adds
 * how the receive side keeps chains it took off the ring but has not used
 * yet (the "stash"), which is what lets one readv() span several chains.
 *
 * The TAP hands back one frame per read(); when the buffers are too small
 * it fills them, discards the rest of the frame and returns what fit. To
 * tell a frame that fits exactly from one that was cut, every read offers
 * one spare host byte after the guest's buffers: a result that reaches
 * into it means a truncated frame, which is dropped.
 */
#include "devices/virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "vmm/log.h"

#define CONFIG_SIZE 8 /* mac, status: what MAC and STATUS make valid */

/*
 * Receive chains held at once, and iovecs over their buffers: one readv()
 * takes at most UIO_MAXIOV (1024), and one of those is the spare byte.
 */
#define RX_BUFS VIRTQ_MAX_SIZE
#define RX_IOVS 1023

#define GUEST_OFFLOADS                                                                             \
	(VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |               \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) |                \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO))
#define HOST_OFFLOADS                                                                              \
	(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |                      \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) |                  \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO))

#define NET_FEATURES                                                                               \
	(VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |                \
	 VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |                          \
	 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | GUEST_OFFLOADS | HOST_OFFLOADS)

/* A receive chain taken off the ring and not yet used. */
struct rx_buf {
	uint16_t head;
	unsigned int iov;    /* its first entry in rx_iov */
	unsigned int nr_iov; /* entries */
	uint32_t len;	     /* bytes, at most VIRTIO_NET_RX_MAX */
};

struct virtio_net {
	struct virtio_mmio t; /* its lock guards everything below */
	struct worker *w;
	int fd;
	char ifname[IFNAMSIZ];
	uint8_t config[CONFIG_SIZE];
	unsigned int offloads; /* TUN_F_* currently set on the TAP */
	bool mrg;	       /* MRG_RXBUF negotiated */

	/* Transmit: a chain the TAP could not take yet waits in tx_chain. */
	bool tx_pending;
	bool want_out; /* EPOLLOUT is in the worker's mask */
	struct virtq_chain tx_chain;
	struct iovec tx_iov[VIRTQ_MAX_SEGS];

	/* Receive: the stash, oldest first, its iovecs contiguous in rx_iov. */
	struct virtq_chain rx_chain; /* scratch for virtq_pop() */
	struct rx_buf rx[RX_BUFS];
	unsigned int rx_nr, rx_iov_used;
	uint64_t rx_room;		  /* sum of rx[].len */
	struct iovec rx_iov[RX_IOVS + 1]; /* + the spare byte */
	uint8_t spare;
	/* A frame read into the bounce buffer and waiting for receive buffers. */
	uint8_t *bounce;
	size_t bounce_len; /* 0: none */
};

/* ---- small helpers ---- */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Copy between a flat buffer and bytes [off, off + len) of an iovec array. */
static void iov_copy(const struct iovec *iov, unsigned int nr, size_t off, uint8_t *buf, size_t len,
		     bool to_iov)
{
	unsigned int i;

	for (i = 0; i < nr && len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len)
			n = len;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, buf, n);
		else
			memcpy(buf, (uint8_t *)iov[i].iov_base + off, n);
		buf += n;
		len -= n;
		off = 0;
	}
}

static bool acked(const struct virtio_net *n, unsigned int bit)
{
	return virtio_mmio_has_feature(&n->t, bit);
}

static int set_offloads(struct virtio_net *n, unsigned int offloads)
{
	if (ioctl(n->fd, TUNSETOFFLOAD, offloads) < 0)
		return -errno;
	n->offloads = offloads;
	return 0;
}

static void watch_out(struct virtio_net *n, bool on)
{
	uint32_t ev = EPOLLIN | EPOLLET | (on ? EPOLLOUT : 0);
	int r;

	if (n->want_out == on)
		return;
	/*
	 * EPOLL_CTL_MOD also re-checks readiness, so a TAP that became
	 * writable between the EAGAIN and here still produces an event.
	 */
	r = worker_modify(n->w, n->fd, ev);
	if (r)
		log_ratelimited(LOG_LEVEL_WARN, "%s: tap '%s': epoll: %s", n->t.name, n->ifname,
				strerror(-r));
	else
		n->want_out = on;
}

/* ---- transmit ---- */

/* Would this header ask the TAP for an offload the driver did not negotiate? */
static const char *tx_hdr_problem(const struct virtio_net *n, const uint8_t *hdr)
{
	uint8_t gso = hdr[1] & ~VIRTIO_NET_HDR_GSO_ECN;

	if ((hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !acked(n, VIRTIO_NET_F_CSUM))
		return "partial checksum without VIRTIO_NET_F_CSUM";
	if ((hdr[1] & VIRTIO_NET_HDR_GSO_ECN) && !acked(n, VIRTIO_NET_F_HOST_ECN))
		return "GSO with ECN without VIRTIO_NET_F_HOST_ECN";
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return NULL;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return acked(n, VIRTIO_NET_F_HOST_TSO4) ? NULL : "TSOv4 not negotiated";
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return acked(n, VIRTIO_NET_F_HOST_TSO6) ? NULL : "TSOv6 not negotiated";
	case VIRTIO_NET_HDR_GSO_UDP:
		return acked(n, VIRTIO_NET_F_HOST_UFO) ? NULL : "UFO not negotiated";
	default:
		return "unknown GSO type";
	}
}

/*
 * Send n->tx_chain (already checked). 0 when the chain is done with
 * (sent or dropped), -EAGAIN when the TAP is full.
 */
static int tx_send(struct virtio_net *n)
{
	const struct virtq_chain *c = &n->tx_chain;
	uint8_t hdr[VIRTIO_NET_HDR_LEN];
	const char *why;
	unsigned int i;
	ssize_t r;

	if (c->out_len > VIRTIO_NET_HDR_LEN + VIRTIO_NET_FRAME_MAX) {
		log_ratelimited(LOG_LEVEL_WARN,
				"%s: dropping a %llu-byte transmit frame (the limit is %u)",
				n->t.name, (unsigned long long)(c->out_len - VIRTIO_NET_HDR_LEN),
				VIRTIO_NET_FRAME_MAX);
		return 0;
	}
	/* One copy of the header: the guest may change its memory under us. */
	virtq_chain_read(c, 0, hdr, sizeof(hdr));
	why = tx_hdr_problem(n, hdr);
	if (why) {
		log_ratelimited(LOG_LEVEL_WARN, "%s: dropping a transmit frame: %s", n->t.name,
				why);
		return 0;
	}
	for (i = 0; i < c->nr_out; i++)
		n->tx_iov[i] =
			(struct iovec){.iov_base = c->segs[i].host, .iov_len = c->segs[i].len};
	/*
	 * The TAP reads the header again from guest memory, so what it sees
	 * may differ from what we checked; the TAP validates headers itself,
	 * so this can only cost the guest its own frame.
	 */
	do
		r = writev(n->fd, n->tx_iov, (int)c->nr_out);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		log_ratelimited(LOG_LEVEL_WARN, "%s: tap '%s' refused a %llu-byte frame: %s",
				n->t.name, n->ifname,
				(unsigned long long)(c->out_len - VIRTIO_NET_HDR_LEN),
				strerror(errno));
	}
	return 0;
}

static void tx_process(struct virtio_net *n)
{
	struct virtq *vq = &n->t.vqs[VIRTIO_NET_TXQ];
	bool pushed = false;
	int r;

	if (!virtio_mmio_live(&n->t) || !vq->ready)
		return;
	if (n->tx_pending) {
		if (tx_send(n) == -EAGAIN)
			return; /* still full: EPOLLOUT brings us back */
		n->tx_pending = false;
		virtq_push(vq, n->tx_chain.head, 0);
		pushed = true;
	}
	while ((r = virtq_next(vq, &n->tx_chain)) > 0) {
		const struct virtq_chain *c = &n->tx_chain;

		if (c->nr_in) {
			virtio_mmio_fail(&n->t, "transmitq: chain %u has writable buffers",
					 c->head);
			return;
		}
		if (c->out_len < VIRTIO_NET_HDR_LEN) {
			virtio_mmio_fail(&n->t,
					 "transmitq: chain %u of %llu bytes has no room for "
					 "the %u-byte header",
					 c->head, (unsigned long long)c->out_len,
					 VIRTIO_NET_HDR_LEN);
			return;
		}
		if (tx_send(n) == -EAGAIN) {
			/* Keep the chain; no kicks needed until the TAP drains. */
			n->tx_pending = true;
			watch_out(n, true);
			break;
		}
		virtq_push(vq, c->head, 0);
		pushed = true;
	}
	if (r < 0) {
		virtio_mmio_fail(&n->t, "transmitq: %s", vq->error);
		return;
	}
	if (pushed)
		virtio_mmio_notify_used(&n->t, vq);
}

/* ---- receive ---- */

/*
 * Take chains off the receiveq into the stash until it holds `want` bytes
 * (with MRG_RXBUF) or one chain (without). 1 if the ring ran dry first,
 * 0 otherwise (enough, or the stash is full), -EIO if the device failed.
 */
static int rx_fill(struct virtio_net *n, uint64_t want)
{
	struct virtq *vq = &n->t.vqs[VIRTIO_NET_RXQ];
	struct virtq_chain *c = &n->rx_chain;

	while (n->mrg ? n->rx_room < want : n->rx_nr == 0) {
		struct rx_buf *b;
		unsigned int i;
		int r;

		if (n->rx_nr == RX_BUFS || RX_IOVS - n->rx_iov_used < VIRTQ_MAX_SEGS)
			return 0;
		r = virtq_pop(vq, c);
		if (r == 0)
			return 1;
		if (r < 0) {
			virtio_mmio_fail(&n->t, "receiveq: %s", vq->error);
			return -EIO;
		}
		if (c->nr_out) {
			virtio_mmio_fail(&n->t, "receiveq: chain %u has readable buffers", c->head);
			return -EIO;
		}
		if (c->in_len < VIRTIO_NET_HDR_LEN) {
			virtio_mmio_fail(&n->t,
					 "receiveq: chain %u of %llu bytes cannot hold the %u-byte "
					 "header",
					 c->head, (unsigned long long)c->in_len,
					 VIRTIO_NET_HDR_LEN);
			return -EIO;
		}
		/* Record its buffers, clipped: no frame needs more than RX_MAX. */
		b = &n->rx[n->rx_nr++];
		b->head = c->head;
		b->iov = n->rx_iov_used;
		b->nr_iov = 0;
		b->len = 0;
		for (i = 0; i < c->nr_in && b->len < VIRTIO_NET_RX_MAX; i++) {
			const struct virtq_seg *s = &c->segs[c->nr_out + i];
			uint32_t len = s->len;

			if (len > VIRTIO_NET_RX_MAX - b->len)
				len = VIRTIO_NET_RX_MAX - b->len;
			n->rx_iov[n->rx_iov_used++] =
				(struct iovec){.iov_base = s->host, .iov_len = len};
			b->nr_iov++;
			b->len += len;
		}
		n->rx_room += b->len;
	}
	return 0;
}

/* Forget the first k stashed chains (given back or to be reused). */
static void rx_consume(struct virtio_net *n, unsigned int k)
{
	unsigned int i, first_iov;

	if (k == 0)
		return;
	first_iov = k < n->rx_nr ? n->rx[k].iov : n->rx_iov_used;
	for (i = 0; i < k; i++)
		n->rx_room -= n->rx[i].len;
	memmove(n->rx, n->rx + k, (n->rx_nr - k) * sizeof(n->rx[0]));
	n->rx_nr -= k;
	memmove(n->rx_iov, n->rx_iov + first_iov,
		(n->rx_iov_used - first_iov) * sizeof(n->rx_iov[0]));
	n->rx_iov_used -= first_iov;
	for (i = 0; i < n->rx_nr; i++)
		n->rx[i].iov -= first_iov;
}

/*
 * Check a received header against what the driver accepted and fill in
 * num_buffers. false: the guest cannot take this frame (it was queued in
 * the TAP before the offloads were last changed).
 */
static bool rx_fix_hdr(const struct virtio_net *n, uint8_t *hdr, unsigned int nr_bufs)
{
	uint8_t gso = hdr[1] & ~VIRTIO_NET_HDR_GSO_ECN;
	bool ok;

	if (!acked(n, VIRTIO_NET_F_GUEST_CSUM)) {
		if (hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		hdr[0] = 0; /* section 5.1.6.4: flags zero without GUEST_CSUM */
	}
	if ((hdr[1] & VIRTIO_NET_HDR_GSO_ECN) && !acked(n, VIRTIO_NET_F_GUEST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		ok = true;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		ok = acked(n, VIRTIO_NET_F_GUEST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		ok = acked(n, VIRTIO_NET_F_GUEST_TSO6);
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		ok = acked(n, VIRTIO_NET_F_GUEST_UFO);
		break;
	default:
		ok = false;
		break;
	}
	/* The TAP skips num_buffers; without MRG_RXBUF it must be 1 (5.1.6.4). */
	put_le16(hdr + VIRTIO_NET_HDR_NUM_BUFFERS, (uint16_t)nr_bufs);
	return ok;
}

static void rx_drop_log(struct virtio_net *n, size_t len, const char *why)
{
	log_ratelimited(LOG_LEVEL_INFO, "%s: dropping a %zu-byte frame from tap '%s': %s",
			n->t.name, len > VIRTIO_NET_HDR_LEN ? len - VIRTIO_NET_HDR_LEN : 0,
			n->ifname, why);
}

/* How many stashed chains hold len bytes (at least one). */
static unsigned int rx_chains_for(const struct virtio_net *n, size_t len)
{
	uint64_t room = 0;
	unsigned int k = 0;

	while (k < n->rx_nr && room < len)
		room += n->rx[k++].len;
	return k ? k : 1;
}

/*
 * The first k stashed chains now hold a frame of len bytes (header fixed):
 * give them back and forget them.
 */
static void rx_complete(struct virtio_net *n, unsigned int k, size_t len)
{
	struct virtq *vq = &n->t.vqs[VIRTIO_NET_RXQ];
	unsigned int i;

	for (i = 0; i < k; i++) {
		uint32_t used = len < n->rx[i].len ? (uint32_t)len : n->rx[i].len;

		virtq_push(vq, n->rx[i].head, used);
		len -= used;
	}
	rx_consume(n, k);
}

/*
 * readv() from the TAP into iov[0 .. nr) and the spare byte after them
 * (iov has room for it). The length, or -1 when the TAP is empty or on
 * errors (logged).
 */
static ssize_t tap_read(struct virtio_net *n, struct iovec *iov, unsigned int nr)
{
	ssize_t r;

	iov[nr] = (struct iovec){.iov_base = &n->spare, .iov_len = 1};
	do
		r = readv(n->fd, iov, (int)nr + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_ratelimited(LOG_LEVEL_WARN, "%s: reading tap '%s': %s", n->t.name,
					n->ifname, strerror(errno));
		return -1;
	}
	if (r < VIRTIO_NET_HDR_LEN) {
		log_ratelimited(LOG_LEVEL_WARN, "%s: tap '%s' returned %zd bytes, no header",
				n->t.name, n->ifname, r);
		return -1;
	}
	return r;
}

/*
 * Deliver the frame waiting in the bounce buffer. 1 done (delivered or
 * dropped), -ENOBUFS waiting for buffers, -EIO device failed.
 */
static int rx_from_bounce(struct virtio_net *n, bool *pushed)
{
	size_t len = n->bounce_len;
	unsigned int k, i;
	size_t off = 0;
	int r;

	r = rx_fill(n, len);
	if (r < 0)
		return r;
	if (n->rx_room < len) {
		if (r == 1)
			return -ENOBUFS;
		/* The stash is full of buffers too small to ever hold it. */
		rx_drop_log(n, len, "the receive buffers are too small");
		n->bounce_len = 0;
		return 1;
	}
	k = rx_chains_for(n, len);
	if (!rx_fix_hdr(n, n->bounce, k)) {
		rx_drop_log(n, len, "offloads the driver did not accept");
		n->bounce_len = 0;
		return 1;
	}
	for (i = 0; i < k; i++) {
		const struct rx_buf *b = &n->rx[i];
		size_t part = len - off < b->len ? len - off : b->len;

		iov_copy(n->rx_iov + b->iov, b->nr_iov, 0, n->bounce + off, part, true);
		off += part;
	}
	rx_complete(n, k, len);
	n->bounce_len = 0;
	*pushed = true;
	return 1;
}

/*
 * Move one frame from the TAP to the guest. 1 a frame was delivered or
 * dropped, 0 the TAP is empty, -ENOBUFS no receive buffers, -EIO the
 * device failed.
 */
static int rx_one(struct virtio_net *n, bool *pushed)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN];
	ssize_t got;
	unsigned int k;
	int r;

	if (n->bounce_len)
		return rx_from_bounce(n, pushed);
	r = rx_fill(n, VIRTIO_NET_RX_MAX);
	if (r < 0)
		return r;
	if (n->rx_nr == 0)
		return -ENOBUFS;
	if (n->mrg && n->rx_room < VIRTIO_NET_RX_MAX) {
		/* Not enough room for any frame: one copy through the bounce buffer. */
		struct iovec iov[2] = {{.iov_base = n->bounce, .iov_len = VIRTIO_NET_RX_MAX}};

		got = tap_read(n, iov, 1);
		if (got < 0)
			return 0;
		if (got > VIRTIO_NET_RX_MAX) {
			rx_drop_log(n, (size_t)got, "larger than the largest frame");
			return 1;
		}
		n->bounce_len = (size_t)got;
		return rx_from_bounce(n, pushed);
	}
	/*
	 * Straight into guest memory: the whole stash with MRG_RXBUF (which
	 * then holds a frame of any size), the one chain without.
	 */
	/* (Without MRG_RXBUF the stash is that one chain: its iovecs are all of rx_iov.) */
	got = tap_read(n, n->rx_iov, n->rx_iov_used);
	if (got < 0)
		return 0;
	if ((uint64_t)got > n->rx_room) {
		/* Cut by the TAP: the chains stay in the stash for the next frame. */
		rx_drop_log(n, (size_t)got, "larger than the receive buffer");
		return 1;
	}
	k = n->mrg ? rx_chains_for(n, (size_t)got) : 1;
	iov_copy(n->rx_iov, n->rx_iov_used, 0, hdr, sizeof(hdr), false);
	if (!rx_fix_hdr(n, hdr, k)) {
		rx_drop_log(n, (size_t)got, "offloads the driver did not accept");
		return 1;
	}
	iov_copy(n->rx_iov, n->rx_iov_used, 0, hdr, sizeof(hdr), true);
	rx_complete(n, k, (size_t)got);
	*pushed = true;
	return 1;
}

static void rx_process(struct virtio_net *n)
{
	struct virtq *vq = &n->t.vqs[VIRTIO_NET_RXQ];
	bool pushed = false;
	int r;

	if (!virtio_mmio_live(&n->t) || !vq->ready)
		return;
	/*
	 * Kicks on the receiveq only mean "more buffers": while frames flow
	 * (the TAP's edges drive us) they are not needed, so notifications
	 * are enabled only when we run out of buffers.
	 */
	virtq_enable_notify(vq, false);
	for (;;) {
		r = rx_one(n, &pushed);
		if (r == -EIO)
			return; /* failed: the stash is gone, and so is the queue */
		if (r > 0)
			continue;
		if (r == 0)
			break; /* the TAP is empty; its next frame is an edge */
		/* Out of buffers: ask for a kick, then look once more. */
		virtq_enable_notify(vq, true);
		if (!virtq_has_avail(vq))
			break;
		virtq_enable_notify(vq, false);
	}
	if (pushed)
		virtio_mmio_notify_used(&n->t, vq);
}

/* ---- callbacks ---- */

static void tap_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;

	virtio_mmio_lock(&n->t);
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		tx_process(n);
	if (!n->tx_pending)
		watch_out(n, false);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rx_process(n);
	virtio_mmio_unlock(&n->t);
}

static void net_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_net *n = dev;

	if (queue == VIRTIO_NET_RXQ)
		rx_process(n);
	else if (queue == VIRTIO_NET_TXQ)
		tx_process(n);
}

static void net_config_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	const struct virtio_net *n = dev;
	unsigned int i;

	/* Bytes past the fields we offer read as 0 (the transport zeroed data). */
	for (i = 0; i < len && off + i < CONFIG_SIZE; i++)
		data[i] = n->config[off + i];
}

static void net_config_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	const struct virtio_net *n = dev;

	/* With VERSION_1 the whole space is read-only for the driver (5.1.4.2). */
	log_ratelimited(LOG_LEVEL_DEBUG, "%s: %u-byte config write at 0x%llx ignored", n->t.name,
			len, (unsigned long long)off);
}

/* Section 5.1.3.1: a feature the driver accepted without the one it needs. */
static const char *feature_problem(const struct virtio_net *n)
{
	static const struct {
		unsigned int bit;
		uint64_t needs; /* any of these */
		const char *what;
	} deps[] = {
		{VIRTIO_NET_F_GUEST_TSO4, VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_TSO4"},
		{VIRTIO_NET_F_GUEST_TSO6, VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_TSO6"},
		{VIRTIO_NET_F_GUEST_UFO, VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_UFO"},
		{VIRTIO_NET_F_GUEST_ECN,
		 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6),
		 "GUEST_ECN"},
		{VIRTIO_NET_F_HOST_TSO4, VIRTIO_BIT(VIRTIO_NET_F_CSUM), "HOST_TSO4"},
		{VIRTIO_NET_F_HOST_TSO6, VIRTIO_BIT(VIRTIO_NET_F_CSUM), "HOST_TSO6"},
		{VIRTIO_NET_F_HOST_UFO, VIRTIO_BIT(VIRTIO_NET_F_CSUM), "HOST_UFO"},
		{VIRTIO_NET_F_HOST_ECN,
		 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6),
		 "HOST_ECN"},
	};
	unsigned int i;

	for (i = 0; i < sizeof(deps) / sizeof(deps[0]); i++)
		if (acked(n, deps[i].bit) && !(n->t.driver_features & deps[i].needs))
			return deps[i].what;
	return NULL;
}

static int net_activate(void *dev)
{
	struct virtio_net *n = dev;
	unsigned int off = 0;
	const char *bad = feature_problem(n);
	int r;

	if (bad) {
		log_ratelimited(LOG_LEVEL_WARN,
				"%s: the driver accepted %s without the feature it depends on",
				n->t.name, bad);
		return -EINVAL;
	}
	if (acked(n, VIRTIO_NET_F_GUEST_CSUM))
		off |= TUN_F_CSUM;
	if (acked(n, VIRTIO_NET_F_GUEST_TSO4))
		off |= TUN_F_TSO4;
	if (acked(n, VIRTIO_NET_F_GUEST_TSO6))
		off |= TUN_F_TSO6;
	if (acked(n, VIRTIO_NET_F_GUEST_ECN))
		off |= TUN_F_TSO_ECN;
	if (acked(n, VIRTIO_NET_F_GUEST_UFO))
		off |= TUN_F_UFO;
	r = set_offloads(n, off);
	if (r) {
		log_ratelimited(LOG_LEVEL_WARN, "%s: tap '%s': cannot set offloads 0x%x: %s",
				n->t.name, n->ifname, off, strerror(-r));
		return r;
	}
	n->mrg = acked(n, VIRTIO_NET_F_MRG_RXBUF);
	return 0;
}

/* Drop every chain we hold: after a reset they belong to nobody. */
static void net_reset(void *dev)
{
	struct virtio_net *n = dev;

	n->tx_pending = false;
	n->rx_nr = n->rx_iov_used = 0;
	n->rx_room = 0;
	n->bounce_len = 0;
	n->mrg = false;
	if (n->offloads) {
		int r = set_offloads(n, 0);

		if (r)
			log_ratelimited(LOG_LEVEL_WARN, "%s: tap '%s': cannot clear offloads: %s",
					n->t.name, n->ifname, strerror(-r));
	}
}

static const struct virtio_device_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
};

/* ---- creation ---- */

static void default_mac(const char *ifname, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL; /* 64-bit FNV-1a */
	unsigned int i;

	for (; *ifname; ifname++) {
		h ^= (uint8_t)*ifname;
		h *= 0x100000001b3ULL;
	}
	mac[0] = 0x02; /* locally administered, unicast */
	for (i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (8 - i)));
}

static const char *tunsetiff_hint(int e)
{
	switch (e) {
	case EPERM:
		return " (need CAP_NET_ADMIN)";
	case EBUSY:
		return " (attached to another process?)";
	case EINVAL:
		return " (it exists as a TUN or multi-queue device?)";
	default:
		return "";
	}
}

static int open_tap(struct virtio_net *n, const char *tap, char *err, size_t errlen)
{
	struct ifreq ifr;
	int hdr_len = VIRTIO_NET_HDR_LEN, r;

	if (!tap || !*tap || strlen(tap) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap '%s': the name must be 1 to %d characters",
			 tap ? tap : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	n->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "tap '%s': cannot open /dev/net/tun: %s", tap, strerror(-r));
		return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap '%s': %s%s", tap, strerror(-r), tunsetiff_hint(-r));
		goto err_close;
	}
	snprintf(n->ifname, sizeof(n->ifname), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
	if (ioctl(n->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap '%s': cannot set a %d-byte vnet header: %s", n->ifname,
			 hdr_len, strerror(-r));
		goto err_close;
	}
	/* An existing TAP may have been left with offloads on. */
	r = set_offloads(n, 0);
	if (r) {
		snprintf(err, errlen, "tap '%s': cannot clear the offloads: %s", n->ifname,
			 strerror(-r));
		goto err_close;
	}
	return 0;

err_close:
	close(n->fd);
	n->fd = -1;
	return r;
}

int virtio_net_create(struct virtio_net **out, const struct virtio_net_opts *o, const char *name,
		      struct gmem *mem, struct worker *w, const struct virtio_mmio_ops *ops,
		      void *ctx, char *err, size_t errlen)
{
	const struct virtio_mmio_config cfg = {
		.name = name,
		.device_id = VIRTIO_ID_NET,
		.features = NET_FEATURES,
		.nr_queues = 2,
		.queue_max = VIRTIO_NET_QUEUE_MAX,
	};
	struct virtio_net *n;
	int r;

	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	n->fd = -1;
	n->w = w;
	n->bounce = malloc(VIRTIO_NET_RX_MAX);
	if (!n->bounce) {
		snprintf(err, errlen, "%s: out of memory", name);
		r = -ENOMEM;
		goto err_free;
	}
	r = open_tap(n, o->tap, err, errlen);
	if (r)
		goto err_free;
	if (o->has_mac)
		memcpy(n->config + VIRTIO_NET_CFG_MAC, o->mac, 6);
	else
		default_mac(n->ifname, n->config + VIRTIO_NET_CFG_MAC);
	put_le16(n->config + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);

	r = virtio_mmio_init(&n->t, &cfg, mem, &net_ops, n, ops, ctx);
	if (r) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
		goto err_close;
	}
	/* Last: a worker has no way to forget an fd (closing it does). */
	r = worker_add(w, n->fd, EPOLLIN | EPOLLET, tap_event, n);
	if (r) {
		snprintf(err, errlen, "tap '%s': cannot watch it: %s", n->ifname, strerror(-r));
		goto err_mmio;
	}
	*out = n;
	return 0;

err_mmio:
	virtio_mmio_destroy(&n->t);
err_close:
	close(n->fd);
err_free:
	free(n->bounce);
	free(n);
	return r;
}

struct virtio_mmio *virtio_net_mmio(struct virtio_net *n)
{
	return &n->t;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_mmio_destroy(&n->t);
	if (n->fd >= 0)
		close(n->fd);
	free(n->bounce);
	free(n);
}

/* ---- command line ---- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int virtio_net_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];
	unsigned int i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);

		if (lo < 0)
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (*s != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		s++;
	}
	if (m[0] & 1)
		return -EINVAL; /* multicast */
	memcpy(mac, m, 6);
	return 0;
}
