// SPDX-License-Identifier: MIT
/*
 * virtio-blk on a raw image, with io_uring. See blk.h for the interface.
 *
 * Request format (VIRTIO 1.2 section 5.2.6): a 16-byte header {le32 type,
 * le32 reserved, le64 sector} in the chain's readable part, then data
 * (readable for OUT, DISCARD and WRITE_ZEROES; writable for IN and GET_ID),
 * then one writable status byte. Framing is not assumed (section 2.6.4):
 * the header, the data and the status byte are byte ranges of the chain's
 * readable and writable parts, whatever descriptors carry them, and the
 * status byte is the last writable byte.
 *
 * Checks, before any I/O, on the copies the virtqueue code made:
 *  - a writable byte for the status, or the device is marked NEEDS_RESET
 *    (there is no way to answer such a chain);
 *  - everything else is answered, VIRTIO_BLK_S_IOERR unless said otherwise:
 *    header shorter than 16 bytes; readable / writable parts of the wrong
 *    size for the type (IN: exactly the header readable; OUT, FLUSH,
 *    DISCARD, WRITE_ZEROES: exactly the status byte writable); data not a
 *    multiple of 512; more than VIRTIO_BLK_SEG_MAX data segments; sector +
 *    length beyond the capacity (overflow-safe: sector <= capacity and
 *    sectors <= capacity - sector); writes to a read-only disk; DISCARD /
 *    WRITE_ZEROES with no segment, a partial one, more than the advertised
 *    number or sectors, or a range outside the disk; unknown segment flags
 *    or unmap on DISCARD (VIRTIO_BLK_S_UNSUPP, as 5.2.6.2 requires); a type
 *    we do not know, or DISCARD / WRITE_ZEROES without the feature
 *    negotiated (VIRTIO_BLK_S_UNSUPP); with O_DIRECT, data buffers not
 *    512-byte aligned in address and length (no bounce buffer).
 *
 * I/O: each request owns one slot of a pool of VIRTIO_BLK_QUEUE_SIZE and
 * has at most one io_uring operation in flight. Reads (or writes) taken from
 * the ring in one pass that continue each other on the disk are merged into
 * one readv/writev (up to MERGE_MAX_REQS requests, MERGE_MAX_IOV iovecs,
 * MERGE_MAX_BYTES): a guest streaming 128 KiB requests then costs the host
 * a few large I/Os instead of many small ones. A merged I/O that does not
 * transfer everything is not untangled: each of its requests is issued again
 * on its own and gets the handling below. Reads and writes are
 * readv/writev over iovecs that point into guest RAM; a short transfer
 * advances the iovecs and resubmits the rest, a transfer of 0 bytes (end
 * of file: the image shrank) fails the request. DISCARD is
 * fallocate(PUNCH_HOLE|KEEP_SIZE), and is a no-op where that is not
 * supported (a discard is a hint). WRITE_ZEROES is PUNCH_HOLE with the unmap
 * flag, else ZERO_RANGE; either falls back to ZERO_RANGE and then to
 * writing zeros from a zeroed buffer. FLUSH is fdatasync. The used length
 * of a completed chain is its whole writable part (the data read and the
 * status byte after it), so the status byte always lies within it.
 *
 * Completions: the ring signals an eventfd that the device's worker
 * watches; on_completion() takes the transport lock, reaps every CQE,
 * pushes the used entries and interrupts the driver once per batch
 * (virtio_mmio_notify_used(), which honours EVENT_IDX). Queue processing
 * runs on the same worker thread (ops->queue_notify), also with the lock
 * held; so does every use of the ring. Only reset can run elsewhere (a vCPU
 * thread writing 0 to Status), and it only bumps a counter.
 *
 * Reset with requests in flight: every request records the device's
 * generation when it starts, and reset increments the generation. The
 * operations already in the kernel are not cancelled (like DMA in flight
 * on real hardware, a read may still land in the buffer the old driver gave
 * us); when their completions arrive, requests of an older generation are
 * dropped without touching the status byte or the (new) rings, and their
 * slots return to the pool. Until then they count against the pool: when it
 * is empty, processing stops with the chain left on the available ring and
 * resumes from the completion path.
 */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/log.h"

#define SECTOR VIRTIO_BLK_SECTOR_SIZE
/* With O_DIRECT, buffers and lengths must be multiples of this. */
#define DIRECT_ALIGN 512
/* The zero buffer for WRITE_ZEROES where fallocate cannot zero. */
#define ZERO_BUF_SIZE (64 * 1024)
/* EAGAIN / EINTR from an operation: resubmit at most this many times. */
#define MAX_RETRIES 16

_Static_assert(VIRTIO_BLK_QUEUE_SIZE <= VIRTQ_MAX_SIZE, "queue size");
_Static_assert(VIRTIO_BLK_MAX_DISCARD_SEG >= VIRTIO_BLK_MAX_WRITE_ZEROES_SEG, "segment array");

/* Request merging: bounds of one merged read or write. */
#define MERGE_MAX_REQS 32
#define MERGE_MAX_IOV 256 /* <= IOV_MAX */
#define MERGE_MAX_BYTES (4u << 20)
/* Merged I/Os in flight at most; beyond that, requests go one by one. */
#define MERGE_POOL 32

enum blk_op {
	OP_NONE,
	OP_RW,	  /* readv or writev of the data */
	OP_FSYNC, /* fdatasync */
	OP_FALLOC,
	OP_ZERO_WRITE, /* WRITE_ZEROES by writing zeros */
};

/* One DISCARD / WRITE_ZEROES segment, checked, in bytes. */
struct blk_range {
	uint64_t off, len;
	bool unmap;
};

/* The first member of what an io_uring operation's user data points to. */
struct blk_io {
	bool is_merge;
};

struct blk_req {
	struct blk_io io; /* first: io_uring user data */
	struct virtio_blk *b;
	bool busy;
	uint32_t gen; /* the device's generation when the request started */
	uint16_t head;
	uint32_t type;
	uint8_t *status; /* the status byte, in guest RAM */
	uint32_t used_len;
	enum blk_op op;
	int fl_mode; /* OP_FALLOC: the fallocate mode in flight */
	unsigned int retries;
	/* OP_RW and OP_ZERO_WRITE: the file offset and the bytes left. */
	uint64_t off, left;
	struct iovec *iov; /* the first iovec not yet done */
	unsigned int niov;
	/* DISCARD / WRITE_ZEROES: segment `seg` of `nseg` is in progress. */
	unsigned int seg, nseg;
	struct blk_range ranges[VIRTIO_BLK_MAX_DISCARD_SEG];
	struct iovec iovs[VIRTIO_BLK_SEG_MAX];
};

/* Several adjacent reads (or writes) as one operation. */
struct blk_merge {
	struct blk_io io; /* first: io_uring user data */
	bool busy;
	uint32_t type;
	uint64_t off, len;
	unsigned int nreq, niov;
	struct blk_req *reqs[MERGE_MAX_REQS];
	struct iovec iov[MERGE_MAX_IOV];
};

struct virtio_blk {
	struct virtio_mmio t; /* its lock guards everything below too */
	char path[256];	      /* for log messages */
	int fd;
	bool readonly, direct;
	uint64_t capacity; /* sectors */
	uint8_t id[VIRTIO_BLK_ID_BYTES];
	uint8_t config[VIRTIO_BLK_CFG_SIZE];

	struct io_uring ring;
	int efd; /* the ring's completion eventfd */
	uint8_t *zero_buf;
	/* fallocate modes the image refused with EOPNOTSUPP, not tried again. */
	bool no_punch, no_zero_range;

	uint32_t gen;	      /* incremented by every reset */
	bool stalled;	      /* the pool ran out with chains still available */
	bool need_notify;     /* used entries pushed since the last notify */
	struct blk_req *reqs; /* VIRTIO_BLK_QUEUE_SIZE slots */
	uint16_t free[VIRTIO_BLK_QUEUE_SIZE];
	unsigned int nr_free;

	struct virtq_chain chain; /* scratch for virtq_pop() */

	unsigned int nr_ops; /* io_uring operations in flight */
	/* Reads or writes waiting to be merged: adjacent, of one type. */
	struct blk_req *batch[MERGE_MAX_REQS];
	unsigned int nbatch, batch_iov;
	uint64_t batch_end, batch_bytes;
	struct blk_merge *merges; /* MERGE_POOL of them */
	struct virtio_blk_stats stats;
};

/* ---- little-endian fields ---- */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- request slots ---- */

static struct blk_req *req_alloc(struct virtio_blk *b)
{
	struct blk_req *req;

	if (!b->nr_free)
		return NULL;
	req = &b->reqs[b->free[--b->nr_free]];
	req->busy = true;
	req->gen = b->gen;
	req->op = OP_NONE;
	req->retries = 0;
	return req;
}

static void req_free(struct virtio_blk *b, struct blk_req *req)
{
	req->busy = false;
	req->op = OP_NONE;
	b->free[b->nr_free++] = (uint16_t)(req - b->reqs);
}

/*
 * Finish a request: status byte, used entry, slot back. A request of an
 * older generation (the driver reset the device meanwhile) touches neither
 * guest memory nor the queue.
 */
static void req_complete(struct virtio_blk *b, struct blk_req *req, uint8_t status)
{
	if (req->gen == b->gen) {
		*req->status = status;
		virtq_push(&b->t.vqs[0], req->head, req->used_len);
		b->need_notify = true;
	}
	req_free(b, req);
}

/* ---- io_uring submission ---- */

static void submit(struct virtio_blk *b)
{
	int r;

	if (!io_uring_sq_ready(&b->ring))
		return;
	do {
		r = io_uring_submit(&b->ring);
	} while (r == -EINTR);
	/* What was not taken stays in the ring for the next submit. */
	if (r < 0)
		log_ratelimited(LOG_LEVEL_WARN, "%s: io_uring_submit: %s", b->t.name, strerror(-r));
}

static struct io_uring_sqe *get_sqe(struct virtio_blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	/* Cannot happen with one operation per slot, but do not trust that. */
	if (!sqe) {
		submit(b);
		sqe = io_uring_get_sqe(&b->ring);
	}
	return sqe;
}

static void req_fail(struct virtio_blk *b, struct blk_req *req, int err)
{
	log_ratelimited(LOG_LEVEL_WARN, "%s: '%s': request type %u failed: %s", b->t.name, b->path,
			req->type, strerror(err));
	req_complete(b, req, VIRTIO_BLK_S_IOERR);
}

/* Queue the request's next operation (req->op and its fields are set). */
static void req_issue(struct virtio_blk *b, struct blk_req *req)
{
	struct io_uring_sqe *sqe = get_sqe(b);
	const struct blk_range *rg = &req->ranges[req->seg];
	uint64_t n;

	if (!sqe) {
		req_fail(b, req, EBUSY);
		return;
	}
	switch (req->op) {
	case OP_RW:
		if (req->type == VIRTIO_BLK_T_IN)
			io_uring_prep_readv(sqe, b->fd, req->iov, req->niov, req->off);
		else
			io_uring_prep_writev(sqe, b->fd, req->iov, req->niov, req->off);
		break;
	case OP_FSYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	case OP_FALLOC:
		io_uring_prep_fallocate(sqe, b->fd, req->fl_mode, (off_t)rg->off, (off_t)rg->len);
		break;
	case OP_ZERO_WRITE:
		n = req->left < ZERO_BUF_SIZE ? req->left : ZERO_BUF_SIZE;
		io_uring_prep_write(sqe, b->fd, b->zero_buf, (unsigned int)n, req->off);
		break;
	case OP_NONE:
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	b->nr_ops++;
	b->stats.ops++;
}

/* ---- merging adjacent reads or writes ---- */

static struct blk_merge *merge_alloc(struct virtio_blk *b)
{
	unsigned int i;

	for (i = 0; i < MERGE_POOL; i++)
		if (!b->merges[i].busy)
			return &b->merges[i];
	return NULL;
}

/* Issue what the batch holds: one request as it is, several as one merged operation. */
static void batch_flush(struct virtio_blk *b)
{
	struct io_uring_sqe *sqe;
	struct blk_merge *m;
	unsigned int i, n = b->nbatch;

	b->nbatch = 0;
	if (n == 0)
		return;
	m = n > 1 ? merge_alloc(b) : NULL;
	sqe = m ? get_sqe(b) : NULL;
	if (!sqe) {
		for (i = 0; i < n; i++)
			req_issue(b, b->batch[i]);
		return;
	}
	m->busy = true;
	m->io.is_merge = true;
	m->type = b->batch[0]->type;
	m->off = b->batch[0]->off;
	m->len = 0;
	m->niov = 0;
	m->nreq = n;
	for (i = 0; i < n; i++) {
		struct blk_req *r = b->batch[i];

		m->reqs[i] = r;
		memcpy(&m->iov[m->niov], r->iov, r->niov * sizeof(*r->iov));
		m->niov += r->niov;
		m->len += r->left;
	}
	if (m->type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, b->fd, m->iov, m->niov, m->off);
	else
		io_uring_prep_writev(sqe, b->fd, m->iov, m->niov, m->off);
	io_uring_sqe_set_data(sqe, m);
	b->nr_ops++;
	b->stats.ops++;
	b->stats.merged_ops++;
	b->stats.merged_reqs += n;
}

/* A read or write ready to go: into the batch if it continues it, else a new batch. */
static void rw_queue(struct virtio_blk *b, struct blk_req *req)
{
	if (b->nbatch &&
	    (req->type != b->batch[0]->type || req->off != b->batch_end ||
	     b->nbatch == MERGE_MAX_REQS || b->batch_iov + req->niov > MERGE_MAX_IOV ||
	     b->batch_bytes + req->left > MERGE_MAX_BYTES))
		batch_flush(b);
	if (!b->nbatch) {
		b->batch_iov = 0;
		b->batch_bytes = 0;
	}
	b->batch[b->nbatch++] = req;
	b->batch_iov += req->niov;
	b->batch_bytes += req->left;
	b->batch_end = req->off + req->left;
}

static void req_complete(struct virtio_blk *b, struct blk_req *req, uint8_t status);

/*
 * A merged operation finished. All of it: every request is done. Anything
 * else (an error, a short transfer, EAGAIN): each request goes again on its
 * own, nothing of it having been advanced, and meets the usual handling.
 */
static void merge_done(struct virtio_blk *b, struct blk_merge *m, int res)
{
	unsigned int i;

	m->busy = false;
	for (i = 0; i < m->nreq; i++) {
		struct blk_req *r = m->reqs[i];

		if (r->gen != b->gen)
			req_free(b, r); /* the driver reset the device meanwhile */
		else if (res >= 0 && (uint64_t)res == m->len)
			req_complete(b, r, VIRTIO_BLK_S_OK);
		else
			req_issue(b, r);
	}
}

/* ---- DISCARD and WRITE_ZEROES: one segment after the other ---- */

static void dwz_next(struct virtio_blk *b, struct blk_req *req);

/* The current segment is done (or skipped): on to the next. */
static void dwz_seg_done(struct virtio_blk *b, struct blk_req *req)
{
	req->seg++;
	dwz_next(b, req);
}

/* Try the fallocate mode for the current segment, or the next way to do it. */
static void dwz_falloc_or_fallback(struct virtio_blk *b, struct blk_req *req, int mode)
{
	const struct blk_range *rg = &req->ranges[req->seg];

	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) && b->no_punch) {
		if (req->type == VIRTIO_BLK_T_DISCARD) {
			dwz_seg_done(b, req); /* a hint we cannot follow */
			return;
		}
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	}
	if (mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE) && b->no_zero_range)
		mode = 0;
	if (mode) {
		req->op = OP_FALLOC;
		req->fl_mode = mode;
	} else {
		req->op = OP_ZERO_WRITE;
		req->off = rg->off;
		req->left = rg->len;
	}
	req->retries = 0;
	req_issue(b, req);
}

/* Start segment req->seg, or complete the request after the last one. */
static void dwz_next(struct virtio_blk *b, struct blk_req *req)
{
	int mode;

	if (req->seg >= req->nseg) {
		req_complete(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	if (req->type == VIRTIO_BLK_T_DISCARD || req->ranges[req->seg].unmap)
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else
		mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	dwz_falloc_or_fallback(b, req, mode);
}

static void dwz_falloc_done(struct virtio_blk *b, struct blk_req *req, int res)
{
	bool punch = req->fl_mode & FALLOC_FL_PUNCH_HOLE;

	if (res == 0) {
		dwz_seg_done(b, req);
		return;
	}
	/*
	 * EOPNOTSUPP: the file system or device cannot do this mode at all.
	 * EINVAL: not for this range (a block device wants its own
	 * alignment); try the next way without giving up on the mode.
	 */
	if (res != -EOPNOTSUPP && res != -EINVAL) {
		req_fail(b, req, -res);
		return;
	}
	if (res == -EOPNOTSUPP) {
		if (punch)
			b->no_punch = true;
		else
			b->no_zero_range = true;
	}
	if (req->type == VIRTIO_BLK_T_DISCARD)
		dwz_seg_done(b, req); /* a hint we could not follow */
	else if (punch)
		dwz_falloc_or_fallback(b, req, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	else
		dwz_falloc_or_fallback(b, req, 0);
}

/* ---- completions ---- */

/* n bytes of the iovecs are done: move past them. */
static void iov_advance(struct blk_req *req, uint64_t n)
{
	req->off += n;
	req->left -= n;
	while (n && req->niov) {
		if (n < req->iov->iov_len) {
			req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
			req->iov->iov_len -= n;
			return;
		}
		n -= req->iov->iov_len;
		req->iov++;
		req->niov--;
	}
}

static void req_done(struct virtio_blk *b, struct blk_req *req, int res)
{
	if (req->gen != b->gen) {
		req_free(b, req); /* the driver reset the device meanwhile */
		return;
	}
	if ((res == -EAGAIN || res == -EINTR) && ++req->retries <= MAX_RETRIES) {
		req_issue(b, req);
		return;
	}
	switch (req->op) {
	case OP_RW:
	case OP_ZERO_WRITE:
		if (res < 0) {
			req_fail(b, req, -res);
		} else if (res == 0 || (uint64_t)res > req->left) {
			req_fail(b, req, EIO); /* end of file: the image shrank */
		} else {
			if (req->op == OP_RW) {
				iov_advance(req, (uint64_t)res);
			} else {
				req->off += (uint64_t)res;
				req->left -= (uint64_t)res;
			}
			req->retries = 0;
			if (req->left)
				req_issue(b, req);
			else if (req->op == OP_RW)
				req_complete(b, req, VIRTIO_BLK_S_OK);
			else
				dwz_seg_done(b, req);
		}
		break;
	case OP_FSYNC:
		if (res < 0)
			req_fail(b, req, -res);
		else
			req_complete(b, req, VIRTIO_BLK_S_OK);
		break;
	case OP_FALLOC:
		dwz_falloc_done(b, req, res);
		break;
	case OP_NONE:
		req_fail(b, req, EIO);
		break;
	}
}

/* ---- starting requests ---- */

/*
 * The iovecs for bytes [off, off + len) of the chain's readable (in =
 * false) or writable part. The number used, or -1 if more than max.
 */
static int chain_iov(const struct virtq_chain *c, bool in, uint64_t off, uint64_t len,
		     struct iovec *iov, unsigned int max)
{
	unsigned int i = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out;
	unsigned int n = 0;

	for (; i < end && len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint64_t k;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		k = s->len - off;
		if (k > len)
			k = len;
		if (n == max)
			return -1;
		iov[n].iov_base = s->host + off;
		iov[n].iov_len = k;
		n++;
		len -= k;
		off = 0;
	}
	return (int)n;
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t sectors)
{
	return sector <= b->capacity && sectors <= b->capacity - sector;
}

static bool iov_aligned(const struct iovec *iov, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if ((uintptr_t)iov[i].iov_base % DIRECT_ALIGN || iov[i].iov_len % DIRECT_ALIGN)
			return false;
	return true;
}

/* A request the guest got wrong: log (debug, rate-limited) and answer. */
#define bad_request(b, req, st, ...)                                                               \
	do {                                                                                       \
		log_ratelimited(LOG_LEVEL_DEBUG, __VA_ARGS__);                                     \
		req_complete(b, req, st);                                                          \
	} while (0)

static void start_rw(struct virtio_blk *b, struct blk_req *req, const struct virtq_chain *c,
		     uint64_t sector)
{
	bool in = req->type == VIRTIO_BLK_T_IN;
	uint64_t len;
	int n;

	if (in ? c->out_len != VIRTIO_BLK_HDR_SIZE : c->in_len != 1) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR,
			    "%s: %s request with %llu readable and %llu writable bytes", b->t.name,
			    in ? "read" : "write", (unsigned long long)c->out_len,
			    (unsigned long long)c->in_len);
		return;
	}
	if (!in && b->readonly) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: write to a read-only disk", b->t.name);
		return;
	}
	len = in ? c->in_len - 1 : c->out_len - VIRTIO_BLK_HDR_SIZE;
	if (len % SECTOR || !range_ok(b, sector, len / SECTOR)) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR,
			    "%s: %s of %llu bytes at sector %llu (capacity %llu sectors)",
			    b->t.name, in ? "read" : "write", (unsigned long long)len,
			    (unsigned long long)sector, (unsigned long long)b->capacity);
		return;
	}
	if (!len) {
		req_complete(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	n = chain_iov(c, in, in ? 0 : VIRTIO_BLK_HDR_SIZE, len, req->iovs, VIRTIO_BLK_SEG_MAX);
	if (n < 0) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: more than %u data segments", b->t.name,
			    VIRTIO_BLK_SEG_MAX);
		return;
	}
	if (b->direct && !iov_aligned(req->iovs, (unsigned int)n)) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR,
			    "%s: O_DIRECT disk: data buffers not %u-byte aligned", b->t.name,
			    DIRECT_ALIGN);
		return;
	}
	req->op = OP_RW;
	req->iov = req->iovs;
	req->niov = (unsigned int)n;
	req->off = sector * SECTOR;
	req->left = len;
	rw_queue(b, req);
}

static void start_get_id(struct virtio_blk *b, struct blk_req *req, const struct virtq_chain *c)
{
	uint64_t len = c->in_len - 1, off;

	if (c->out_len != VIRTIO_BLK_HDR_SIZE) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: GET_ID with %llu readable bytes",
			    b->t.name, (unsigned long long)c->out_len);
		return;
	}
	off = virtq_chain_write(c, 0, b->id, len < sizeof(b->id) ? len : sizeof(b->id));
	/* A larger buffer is NUL-padded to its end: used_len covers all of it. */
	while (off < len)
		off += virtq_chain_write(c, off, b->zero_buf,
					 len - off < ZERO_BUF_SIZE ? len - off : ZERO_BUF_SIZE);
	req_complete(b, req, VIRTIO_BLK_S_OK);
}

static void start_dwz(struct virtio_blk *b, struct blk_req *req, const struct virtq_chain *c)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	const char *what = discard ? "discard" : "write-zeroes";
	uint32_t max_seg = discard ? VIRTIO_BLK_MAX_DISCARD_SEG : VIRTIO_BLK_MAX_WRITE_ZEROES_SEG;
	uint32_t max_sectors =
		discard ? VIRTIO_BLK_MAX_DISCARD_SECTORS : VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS;
	uint8_t raw[VIRTIO_BLK_MAX_DISCARD_SEG][VIRTIO_BLK_DWZ_SEG_SIZE];
	uint64_t dlen = c->out_len - VIRTIO_BLK_HDR_SIZE;
	unsigned int i, nseg, used = 0;

	if (!virtio_mmio_has_feature(&b->t,
				     discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)) {
		bad_request(b, req, VIRTIO_BLK_S_UNSUPP, "%s: %s not negotiated", b->t.name, what);
		return;
	}
	if (c->in_len != 1 || dlen == 0 || dlen % VIRTIO_BLK_DWZ_SEG_SIZE ||
	    dlen / VIRTIO_BLK_DWZ_SEG_SIZE > max_seg) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR,
			    "%s: %s with %llu bytes of segments and %llu writable bytes", b->t.name,
			    what, (unsigned long long)dlen, (unsigned long long)c->in_len);
		return;
	}
	nseg = (unsigned int)(dlen / VIRTIO_BLK_DWZ_SEG_SIZE);
	/* One copy of the segments; only the copy is looked at. */
	virtq_chain_read(c, VIRTIO_BLK_HDR_SIZE, raw, dlen);
	for (i = 0; i < nseg; i++) {
		uint32_t flags = get_le32(raw[i] + 12);

		if ((flags & ~(uint32_t)VIRTIO_BLK_WZ_F_UNMAP) ||
		    (discard && (flags & VIRTIO_BLK_WZ_F_UNMAP))) {
			bad_request(b, req, VIRTIO_BLK_S_UNSUPP, "%s: %s segment flags 0x%x",
				    b->t.name, what, flags);
			return;
		}
	}
	if (b->readonly) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: %s on a read-only disk", b->t.name,
			    what);
		return;
	}
	for (i = 0; i < nseg; i++) {
		uint64_t sector = get_le64(raw[i]);
		uint32_t sectors = get_le32(raw[i] + 8);

		if (sectors > max_sectors || !range_ok(b, sector, sectors)) {
			bad_request(b, req, VIRTIO_BLK_S_IOERR,
				    "%s: %s of %u sectors at sector %llu (capacity %llu)",
				    b->t.name, what, sectors, (unsigned long long)sector,
				    (unsigned long long)b->capacity);
			return;
		}
		if (!sectors)
			continue;
		req->ranges[used].off = sector * SECTOR;
		req->ranges[used].len = (uint64_t)sectors * SECTOR;
		req->ranges[used].unmap = get_le32(raw[i] + 12) & VIRTIO_BLK_WZ_F_UNMAP;
		used++;
	}
	req->seg = 0;
	req->nseg = used;
	dwz_next(b, req);
}

/*
 * Take one chain: check it and start its I/O, or answer it at once. false
 * when the device was failed (and so reset) because of it.
 */
static bool start_request(struct virtio_blk *b, const struct virtq_chain *c)
{
	const struct virtq_seg *last;
	struct blk_req *req;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	uint64_t sector;

	if (c->in_len == 0) {
		virtio_mmio_fail(&b->t, "request %u has no writable status byte", c->head);
		return false;
	}
	req = req_alloc(b); /* the caller made sure one is free */
	req->head = c->head;
	req->type = UINT32_MAX;
	/* walk_chain() keeps no empty segment: the last one holds the status byte. */
	last = &c->segs[c->nr_out + c->nr_in - 1];
	req->status = last->host + last->len - 1;
	req->used_len = c->in_len > UINT32_MAX ? UINT32_MAX : (uint32_t)c->in_len;

	if (c->out_len < VIRTIO_BLK_HDR_SIZE) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: request header of %llu bytes",
			    b->t.name, (unsigned long long)c->out_len);
		return true;
	}
	if (c->out_len > UINT32_MAX || c->in_len > UINT32_MAX) {
		bad_request(b, req, VIRTIO_BLK_S_IOERR, "%s: request of more than 4 GiB",
			    b->t.name);
		return true;
	}
	virtq_chain_read(c, 0, hdr, sizeof(hdr));
	req->type = get_le32(hdr);
	sector = get_le64(hdr + 8);

	/* Other requests keep their place behind the reads and writes before them. */
	if (req->type != VIRTIO_BLK_T_IN && req->type != VIRTIO_BLK_T_OUT)
		batch_flush(b);
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		start_rw(b, req, c, sector);
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (c->out_len != VIRTIO_BLK_HDR_SIZE || c->in_len != 1) {
			bad_request(b, req, VIRTIO_BLK_S_IOERR,
				    "%s: flush with %llu readable and %llu writable bytes",
				    b->t.name, (unsigned long long)c->out_len,
				    (unsigned long long)c->in_len);
			break;
		}
		req->op = OP_FSYNC;
		req_issue(b, req);
		break;
	case VIRTIO_BLK_T_GET_ID:
		start_get_id(b, req, c);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		start_dwz(b, req, c);
		break;
	default:
		bad_request(b, req, VIRTIO_BLK_S_UNSUPP, "%s: request type %u not supported",
			    b->t.name, req->type);
		break;
	}
	return true;
}

/* Drain the available ring (lock held, on the worker thread). */
static void process_queue(struct virtio_blk *b)
{
	struct virtq *vq = &b->t.vqs[0];
	uint32_t gen = b->gen;

	b->stalled = false;
	/*
	 * No kicks while we are draining anyway (section 2.7.10), nor while I/O
	 * is in flight: every completion looks at the ring again, so the guest
	 * need not exit to tell us about requests it adds meanwhile. Only an
	 * idle device asks for kicks (and then looks once more).
	 */
	for (;;) {
		int r;

		if (!b->nr_free) {
			/* Resumed by on_completion() when a slot is back. */
			virtq_enable_notify(vq, false);
			b->stalled = true;
			break;
		}
		virtq_enable_notify(vq, false);
		r = virtq_pop(vq, &b->chain);
		if (r == 0) {
			if (b->nr_ops || b->nbatch)
				break; /* on_completion() comes back */
			virtq_enable_notify(vq, true);
			if (!virtq_has_avail(vq))
				break;
			continue;
		}
		if (r < 0) {
			virtio_mmio_fail(&b->t, "request queue: %s", vq->error);
			break;
		}
		if (!start_request(b, &b->chain))
			break;
	}
	batch_flush(b);
	submit(b);
	if (b->need_notify && gen == b->gen) {
		b->need_notify = false;
		virtio_mmio_notify_used(&b->t, vq);
	}
}

/* The ring's eventfd fired (worker thread). */
static void on_completion(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;
	uint64_t count;

	(void)events;
	/* Read first: completions posted after this wake us again. */
	if (read(b->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LEVEL_WARN, "%s: completion eventfd: %s", b->t.name,
				strerror(errno));
	virtio_mmio_lock(&b->t);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		io_uring_for_each_cqe(&b->ring, head, cqe)
		{
			struct blk_io *io = io_uring_cqe_get_data(cqe);

			b->nr_ops--;
			if (io->is_merge)
				merge_done(b, (struct blk_merge *)io, cqe->res);
			else
				req_done(b, (struct blk_req *)io, cqe->res);
			n++;
		}
		if (!n)
			break;
		io_uring_cq_advance(&b->ring, n);
	}
	submit(b);
	/* Requests the guest added while kicks were off (see process_queue()). */
	if (virtio_mmio_live(&b->t) && b->t.vqs[0].ready)
		process_queue(b);
	if (b->need_notify) {
		b->need_notify = false;
		virtio_mmio_notify_used(&b->t, &b->t.vqs[0]);
	}
	virtio_mmio_unlock(&b->t);
}

/* ---- transport callbacks (lock held) ---- */

static void blk_config_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct virtio_blk *b = dev;

	memset(data, 0, len);
	if (off >= sizeof(b->config))
		return;
	memcpy(data, b->config + off,
	       len < sizeof(b->config) - off ? len : sizeof(b->config) - off);
}

static void blk_config_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct virtio_blk *b = dev;

	(void)data;
	log_ratelimited(LOG_LEVEL_DEBUG, "%s: %u-byte write to configuration offset 0x%llx ignored",
			b->t.name, len, (unsigned long long)off);
}

static int blk_activate(void *dev)
{
	struct virtio_blk *b = dev;

	log_debug("%s: driver ready, features 0x%llx", b->t.name,
		  (unsigned long long)b->t.driver_features);
	return 0;
}

/* Driver reset or device failure; may run on a vCPU thread: no ring access. */
static void blk_reset(void *dev)
{
	struct virtio_blk *b = dev;

	b->gen++;
	b->stalled = false;
	b->need_notify = false;
	/* Requests batched but not issued yet (a failure in mid-pass): never started. */
	while (b->nbatch)
		req_free(b, b->batch[--b->nbatch]);
}

static void blk_queue_notify(void *dev, unsigned int queue)
{
	(void)queue; /* there is one queue; the transport checked the index */
	process_queue(dev);
}

static const struct virtio_device_ops blk_dev_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
};

/* ---- creation ---- */

static void build_config(struct virtio_blk *b)
{
	uint8_t *c = b->config;

	memset(c, 0, sizeof(b->config));
	put_le64(c + VIRTIO_BLK_CFG_CAPACITY, b->capacity);
	put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, SECTOR);
	put_le16(c + VIRTIO_BLK_CFG_NUM_QUEUES, 1);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
	put_le32(c + VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, VIRTIO_BLK_DISCARD_ALIGNMENT);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, VIRTIO_BLK_MAX_WRITE_ZEROES_SEG);
	c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

/* Open the image and find its size in sectors. 0 or -errno, err set. */
static int open_image(struct virtio_blk *b, const struct virtio_blk_opts *o, char *err,
		      size_t errlen)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (o->direct ? O_DIRECT : 0);
	struct stat st;
	off_t size;
	int r;

	b->fd = open(o->path, flags);
	if (b->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': %s", o->path, strerror(-r));
		return r;
	}
	if (fstat(b->fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': fstat: %s", o->path, strerror(-r));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "disk '%s': not a regular file or block device", o->path);
		goto err_close;
	}
	/* SEEK_END gives a block device's size too. */
	size = lseek(b->fd, 0, SEEK_END);
	if (size < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': cannot find its size: %s", o->path, strerror(-r));
		goto err_close;
	}
	if (size % SECTOR) {
		r = -EINVAL;
		snprintf(err, errlen, "disk '%s': size %lld bytes is not a multiple of %d", o->path,
			 (long long)size, SECTOR);
		goto err_close;
	}
	b->capacity = (uint64_t)size / SECTOR;
	return 0;

err_close:
	close(b->fd);
	b->fd = -1;
	return r;
}

int virtio_blk_create(struct virtio_blk **out, const struct virtio_blk_opts *o, const char *name,
		      struct gmem *mem, struct worker *w, const struct virtio_mmio_ops *ops,
		      void *ctx, char *err, size_t errlen)
{
	struct virtio_mmio_config cfg = {
		.name = name,
		.device_id = VIRTIO_ID_BLOCK,
		.features = VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |
			    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
			    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
			    VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
			    (o->readonly ? VIRTIO_BIT(VIRTIO_BLK_F_RO) : 0),
		.nr_queues = 1,
		.queue_max = VIRTIO_BLK_QUEUE_SIZE,
	};
	struct virtio_blk *b;
	unsigned int i;
	int r;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "disk '%s': %s", o->path, strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(b->path, sizeof(b->path), "%s", o->path);
	b->readonly = o->readonly;
	b->direct = o->direct;
	b->efd = -1;
	if (o->serial)
		memcpy(b->id, o->serial, strnlen(o->serial, sizeof(b->id)));

	r = open_image(b, o, err, errlen);
	if (r)
		goto err_free;
	build_config(b);

	b->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*b->reqs));
	b->merges = calloc(MERGE_POOL, sizeof(*b->merges));
	r = posix_memalign((void **)&b->zero_buf, 4096, ZERO_BUF_SIZE);
	if (!b->reqs || !b->merges || r) {
		b->zero_buf = r ? NULL : b->zero_buf;
		r = -ENOMEM;
		snprintf(err, errlen, "disk '%s': %s", o->path, strerror(ENOMEM));
		goto err_close;
	}
	memset(b->zero_buf, 0, ZERO_BUF_SIZE);
	for (i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++) {
		b->reqs[i].b = b;
		b->free[i] = (uint16_t)(VIRTIO_BLK_QUEUE_SIZE - 1 - i);
	}
	b->nr_free = VIRTIO_BLK_QUEUE_SIZE;

	/* One operation per request at most: the SQ never fills, the CQ (2x) never overflows. */
	r = io_uring_queue_init(VIRTIO_BLK_QUEUE_SIZE, &b->ring, 0);
	if (r) {
		snprintf(err, errlen, "disk '%s': io_uring: %s", o->path, strerror(-r));
		goto err_close;
	}
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': eventfd: %s", o->path, strerror(-r));
		goto err_ring;
	}
	r = io_uring_register_eventfd(&b->ring, b->efd);
	if (r) {
		snprintf(err, errlen, "disk '%s': io_uring eventfd: %s", o->path, strerror(-r));
		goto err_efd;
	}
	r = virtio_mmio_init(&b->t, &cfg, mem, &blk_dev_ops, b, ops, ctx);
	if (r) {
		snprintf(err, errlen, "disk '%s': transport: %s", o->path, strerror(-r));
		goto err_efd;
	}
	/* Last: a worker cannot forget an fd, so nothing may fail after this. */
	r = worker_add(w, b->efd, EPOLLIN, on_completion, b);
	if (r) {
		snprintf(err, errlen, "disk '%s': I/O thread: %s", o->path, strerror(-r));
		goto err_mmio;
	}
	*out = b;
	return 0;

err_mmio:
	virtio_mmio_destroy(&b->t);
err_efd:
	close(b->efd);
err_ring:
	io_uring_queue_exit(&b->ring);
err_close:
	close(b->fd);
err_free:
	free(b->zero_buf);
	free(b->reqs);
	free(b->merges);
	free(b);
	return r;
}

struct virtio_mmio *virtio_blk_mmio(struct virtio_blk *b)
{
	return &b->t;
}

uint64_t virtio_blk_capacity(const struct virtio_blk *b)
{
	return b->capacity;
}

/* Wait for every operation still in the kernel: they point into guest RAM. */
static void drain_ring(struct virtio_blk *b)
{
	unsigned int busy = b->nr_ops;

	submit(b);
	while (busy) {
		struct __kernel_timespec ts = {.tv_sec = 5};
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe_timeout(&b->ring, &cqe, &ts);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			log_warn("%s: %u disk operations did not finish: %s", b->t.name, busy,
				 strerror(-r));
			return;
		}
		io_uring_cqe_seen(&b->ring, cqe);
		b->nr_ops--;
		busy--;
	}
}

void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *st)
{
	*st = b->stats;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	drain_ring(b);
	io_uring_queue_exit(&b->ring);
	close(b->efd);
	virtio_mmio_destroy(&b->t);
	close(b->fd);
	free(b->zero_buf);
	free(b->reqs);
	free(b->merges);
	free(b);
}
