// SPDX-License-Identifier: MIT
/*
 * The snapshot file layer: see snapfile.h for the interface and
 * docs/snapshot.md for the byte layout.
 *
 * Every multi-byte field is encoded and decoded byte by byte (little-endian
 * on any host, no alignment assumed). The reader treats the file as
 * untrusted: every offset and length is checked against the bytes left in
 * the file before it is added or used, so no sum can wrap, and every byte of
 * the file is covered by an exact-value check, a CRC, or is section data
 * under a CRC. Any single changed byte is therefore refused.
 */
#include "migration/snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Field offsets, docs/snapshot.md. File header: */
#define FH_MAGIC 0
#define FH_VERSION 8
#define FH_RESERVED 12
/* Section header / end marker ("record header"): */
#define RH_TYPE 0
#define RH_INSTANCE 4 /* end marker: the section count */
#define RH_LENGTH 8   /* end marker: the file size */
#define RH_DATA_CRC 16
#define RH_HDR_CRC 20
#define RH_CRC_COVERS 20 /* the header CRC covers bytes [0, 20) */

/* Small sections (device state, a few bytes per append) are gathered here. */
#define WBUF_SIZE (1u << 20)
/* zlib's crc32() takes an unsigned int length: feed it at most this much at once. */
#define CRC_CHUNK (1u << 30)

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint64_t len)
{
	while (len) {
		uInt n = len > CRC_CHUNK ? CRC_CHUNK : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

/* Bytes of zero padding after len bytes of data. */
static unsigned int pad_of(uint64_t len)
{
	return (unsigned int)((SNAP_ALIGN - len % SNAP_ALIGN) % SNAP_ALIGN);
}

/* A record header with its header CRC computed. */
static void encode_record(uint8_t h[SNAP_RECORD_HEADER_SIZE], uint32_t type, uint32_t instance,
			  uint64_t length, uint32_t data_crc)
{
	put_le32(h + RH_TYPE, type);
	put_le32(h + RH_INSTANCE, instance);
	put_le64(h + RH_LENGTH, length);
	put_le32(h + RH_DATA_CRC, data_crc);
	put_le32(h + RH_HDR_CRC, crc_update(0, h, RH_CRC_COVERS));
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- writer ---- */

struct sec_key {
	uint32_t type, instance;
	unsigned int index; /* in file order */
};

struct snap_writer {
	int fd;
	char *path; /* the final name */
	char *tmp;  /* path + ".tmp", where everything is written */

	uint8_t *buf; /* WBUF_SIZE bytes not yet written */
	size_t buf_used;
	uint64_t buf_start; /* the file offset of buf[0] */

	bool in_section;
	uint32_t sec_type, sec_instance;
	uint64_t sec_hdr_off; /* where the open section's header is */
	uint64_t sec_len;
	uint32_t sec_crc;

	struct sec_key *keys; /* every section begun, for the duplicate check */
	unsigned int nkeys, keys_cap;

	int error;			 /* the first failure, sticky; 0 if none */
	char errmsg[2 * PATH_MAX + 256]; /* two paths and some words */
};

/* Remember the first failure; returns r. */
static int __attribute__((format(printf, 3, 4)))
wfail(struct snap_writer *w, int r, const char *fmt, ...)
{
	va_list ap;

	if (w->error)
		return r;
	w->error = r;
	va_start(ap, fmt);
	vsnprintf(w->errmsg, sizeof(w->errmsg), fmt, ap);
	va_end(ap);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int wflush(struct snap_writer *w)
{
	int r = write_all(w->fd, w->buf, w->buf_used);

	if (r)
		return wfail(w, r, "snapshot '%s': write: %s", w->tmp, strerror(-r));
	w->buf_start += w->buf_used;
	w->buf_used = 0;
	return 0;
}

/* Append to the file through the buffer; large pieces go straight to the file. */
static int wput(struct snap_writer *w, const void *data, size_t len)
{
	int r;

	if (len <= WBUF_SIZE - w->buf_used) {
		memcpy(w->buf + w->buf_used, data, len);
		w->buf_used += len;
		return 0;
	}
	r = wflush(w);
	if (r)
		return r;
	if (len < WBUF_SIZE) {
		memcpy(w->buf, data, len);
		w->buf_used = len;
		return 0;
	}
	r = write_all(w->fd, data, len);
	if (r)
		return wfail(w, r, "snapshot '%s': write: %s", w->tmp, strerror(-r));
	w->buf_start += len;
	return 0;
}

static void writer_free(struct snap_writer *w)
{
	free(w->keys);
	free(w->buf);
	free(w->tmp);
	free(w->path);
	free(w);
}

int snap_writer_open(struct snap_writer **out, const char *path, char *err, size_t errlen)
{
	struct snap_writer *w;
	size_t n = strlen(path);
	int r;

	*out = NULL;
	if (!n) {
		seterr(err, errlen, "snapshot: empty path");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto err_nomem;
	w->fd = -1;
	w->path = strdup(path);
	w->tmp = malloc(n + sizeof(".tmp"));
	w->buf = malloc(WBUF_SIZE);
	if (!w->path || !w->tmp || !w->buf)
		goto err_free;
	memcpy(w->tmp, path, n);
	memcpy(w->tmp + n, ".tmp", sizeof(".tmp"));

	/* 0600: a snapshot holds all of guest memory. */
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		r = -errno;
		seterr(err, errlen, "snapshot '%s': cannot create '%s': %s", path, w->tmp,
		       strerror(-r));
		writer_free(w);
		return r;
	}

	/* Into the empty buffer, which is larger: no I/O yet. */
	memcpy(w->buf + FH_MAGIC, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put_le32(w->buf + FH_VERSION, SNAP_VERSION);
	put_le32(w->buf + FH_RESERVED, 0);
	w->buf_used = SNAP_FILE_HEADER_SIZE;
	*out = w;
	return 0;

err_free:
	writer_free(w);
err_nomem:
	seterr(err, errlen, "snapshot '%s': out of memory", path);
	return -ENOMEM;
}

int snap_section_begin(struct snap_writer *w, uint32_t type, uint32_t instance)
{
	uint8_t h[SNAP_RECORD_HEADER_SIZE] = {0};

	if (w->error)
		return w->error;
	if (w->in_section)
		return wfail(w, -EINVAL,
			     "snapshot '%s': section type 0x%" PRIx32 " instance %" PRIu32
			     " begun while section type 0x%" PRIx32 " instance %" PRIu32
			     " is still open",
			     w->path, type, instance, w->sec_type, w->sec_instance);
	if (type == SNAP_TYPE_END)
		return wfail(w, -EINVAL, "snapshot '%s': section type 0 is reserved", w->path);
	if (w->nkeys >= SNAP_MAX_SECTIONS)
		return wfail(w, -E2BIG, "snapshot '%s': more than %u sections", w->path,
			     SNAP_MAX_SECTIONS);
	if (w->nkeys == w->keys_cap) {
		unsigned int cap = w->keys_cap ? 2 * w->keys_cap : 64;
		struct sec_key *k = realloc(w->keys, cap * sizeof(*k));

		if (!k)
			return wfail(w, -ENOMEM, "snapshot '%s': out of memory", w->path);
		w->keys = k;
		w->keys_cap = cap;
	}
	w->keys[w->nkeys] = (struct sec_key){type, instance, w->nkeys};
	w->nkeys++;

	w->in_section = true;
	w->sec_type = type;
	w->sec_instance = instance;
	w->sec_hdr_off = w->buf_start + w->buf_used;
	w->sec_len = 0;
	w->sec_crc = 0;
	/* A placeholder; snap_section_end() writes the real header over it. */
	return wput(w, h, sizeof(h));
}

int snap_section_append(struct snap_writer *w, const void *data, size_t len)
{
	int r;

	if (w->error)
		return w->error;
	if (!w->in_section)
		return wfail(w, -EINVAL, "snapshot '%s': data appended outside a section", w->path);
	if (len > UINT64_MAX - w->sec_len)
		return wfail(w, -EOVERFLOW,
			     "snapshot '%s': section type 0x%" PRIx32 " instance %" PRIu32
			     " too long",
			     w->path, w->sec_type, w->sec_instance);
	if (!len)
		return 0;
	r = wput(w, data, len);
	if (r)
		return r;
	w->sec_crc = crc_update(w->sec_crc, data, len);
	w->sec_len += len;
	return 0;
}

int snap_section_end(struct snap_writer *w)
{
	static const uint8_t zeros[SNAP_ALIGN];
	uint8_t h[SNAP_RECORD_HEADER_SIZE];
	int r;

	if (w->error)
		return w->error;
	if (!w->in_section)
		return wfail(w, -EINVAL, "snapshot '%s': section ended but none is open", w->path);
	encode_record(h, w->sec_type, w->sec_instance, w->sec_len, w->sec_crc);
	if (w->sec_hdr_off >= w->buf_start) {
		/* Still in the buffer, wholly: it was put there in one piece. */
		memcpy(w->buf + (w->sec_hdr_off - w->buf_start), h, sizeof(h));
	} else {
		r = pwrite_all(w->fd, h, sizeof(h), w->sec_hdr_off);
		if (r)
			return wfail(w, r, "snapshot '%s': write: %s", w->tmp, strerror(-r));
	}
	w->in_section = false;
	return wput(w, zeros, pad_of(w->sec_len));
}

int snap_write_section(struct snap_writer *w, uint32_t type, uint32_t instance, const void *data,
		       size_t len)
{
	int r = snap_section_begin(w, type, instance);

	if (!r)
		r = snap_section_append(w, data, len);
	if (!r)
		r = snap_section_end(w);
	return r;
}

static int key_cmp(const void *a, const void *b)
{
	const struct sec_key *x = a, *y = b;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->instance != y->instance)
		return x->instance < y->instance ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The first duplicate (type, instance) of the written sections, in w->errmsg; 0 if none. */
static int check_duplicates(struct snap_writer *w)
{
	if (w->nkeys < 2)
		return 0;
	qsort(w->keys, w->nkeys, sizeof(*w->keys), key_cmp);
	for (unsigned int i = 1; i < w->nkeys; i++) {
		const struct sec_key *a = &w->keys[i - 1], *b = &w->keys[i];

		if (a->type == b->type && a->instance == b->instance)
			return wfail(w, -EINVAL,
				     "snapshot '%s': section type 0x%" PRIx32 " instance %" PRIu32
				     " written twice (sections %u and %u)",
				     w->path, a->type, a->instance, a->index, b->index);
	}
	return 0;
}

/* fsync the directory holding path, so that the rename itself is durable. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r = 0;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

static int commit(struct snap_writer *w, char *err, size_t errlen)
{
	uint8_t h[SNAP_RECORD_HEADER_SIZE];
	uint64_t size;
	int r, fd;

	if (w->in_section)
		wfail(w, -EINVAL,
		      "snapshot '%s': section type 0x%" PRIx32 " instance %" PRIu32
		      " is still open",
		      w->path, w->sec_type, w->sec_instance);
	if (!w->error)
		check_duplicates(w);
	if (!w->error) {
		size = w->buf_start + w->buf_used + SNAP_RECORD_HEADER_SIZE;
		encode_record(h, SNAP_TYPE_END, w->nkeys, size, 0);
		if (!wput(w, h, sizeof(h)))
			wflush(w);
	}
	if (w->error) {
		seterr(err, errlen, "%s", w->errmsg);
		return w->error;
	}
	if (fsync(w->fd) < 0) {
		r = -errno;
		seterr(err, errlen, "snapshot '%s': fsync: %s", w->tmp, strerror(-r));
		return r;
	}
	fd = w->fd;
	w->fd = -1;
	if (close(fd) < 0) {
		r = -errno;
		seterr(err, errlen, "snapshot '%s': close: %s", w->tmp, strerror(-r));
		return r;
	}
	if (rename(w->tmp, w->path) < 0) {
		r = -errno;
		seterr(err, errlen, "snapshot '%s': cannot rename '%s' to it: %s", w->path, w->tmp,
		       strerror(-r));
		return r;
	}
	r = sync_dir(w->path);
	if (r) {
		/* The file is complete and in place; only its durability is in doubt. */
		seterr(err, errlen, "snapshot '%s': written, but syncing its directory failed: %s",
		       w->path, strerror(-r));
		return r;
	}
	return 0;
}

int snap_writer_close(struct snap_writer *w, bool do_commit, char *err, size_t errlen)
{
	int r = 0;

	if (!w)
		return 0;
	if (do_commit) {
		r = commit(w, err, errlen);
		if (!r) {
			writer_free(w);
			return 0;
		}
	}
	/* Discard: whatever went wrong, leave no PATH.tmp behind. */
	if (w->fd >= 0)
		close(w->fd);
	if (unlink(w->tmp) < 0 && errno != ENOENT && !r) {
		r = -errno;
		seterr(err, errlen, "snapshot '%s': cannot remove '%s': %s", w->path, w->tmp,
		       strerror(-r));
	}
	writer_free(w);
	return r;
}

/* ---- reader ---- */

struct snap_sec {
	uint32_t type, instance;
	uint64_t hdr_off;  /* the section header, for messages */
	uint64_t data_off; /* data, SNAP_ALIGN-aligned */
	uint64_t len;
	unsigned int index; /* in file order */
};

struct snap_reader {
	const uint8_t *map;
	size_t size;
	struct snap_sec *secs;	 /* file order */
	struct snap_sec *sorted; /* by (type, instance), for find */
	unsigned int n;
};

static int sec_cmp(const void *a, const void *b)
{
	const struct snap_sec *x = a, *y = b;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->instance != y->instance)
		return x->instance < y->instance ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A section's name in messages: "section N (type 0xT instance I) at offset O". */
#define SEC_FMT "section %u (type 0x%" PRIx32 " instance %" PRIu32 ") at offset %" PRIu64
#define SEC_ARGS(s) (s)->index, (s)->type, (s)->instance, (s)->hdr_off

/* Walk and check every record; fills r->secs and r->n. -errno with a message. */
static int validate(struct snap_reader *r, const char *path, char *err, size_t errlen)
{
	const uint8_t *m = r->map;
	const uint64_t size = r->size;
	unsigned int cap = 0;
	uint64_t off;
	uint32_t v;

	if (size == 0) {
		seterr(err, errlen, "snapshot '%s': empty file", path);
		return -EINVAL;
	}
	if (size < SNAP_FILE_HEADER_SIZE) {
		seterr(err, errlen,
		       "snapshot '%s': truncated: %" PRIu64
		       " bytes, shorter than the %d-byte header",
		       path, size, SNAP_FILE_HEADER_SIZE);
		return -EINVAL;
	}
	if (memcmp(m + FH_MAGIC, SNAP_MAGIC, SNAP_MAGIC_LEN)) {
		seterr(err, errlen, "snapshot '%s': bad magic: not a lmigtester snapshot", path);
		return -EINVAL;
	}
	v = get_le32(m + FH_VERSION);
	if (v != SNAP_VERSION) {
		seterr(err, errlen,
		       "snapshot '%s': unsupported version %" PRIu32 " (this lmigtester reads "
		       "version %d)",
		       path, v, SNAP_VERSION);
		return -ENOTSUP;
	}
	v = get_le32(m + FH_RESERVED);
	if (v) {
		seterr(err, errlen,
		       "snapshot '%s': bad file header: reserved field is 0x%" PRIx32 ", not 0",
		       path, v);
		return -EINVAL;
	}

	/* Invariant: off <= size, and off is a multiple of SNAP_ALIGN. */
	for (off = SNAP_FILE_HEADER_SIZE;;) {
		const uint8_t *h = m + off;
		uint64_t left = size - off, len, pad;
		uint32_t type, crc, stored;
		struct snap_sec *s;

		if (left == 0) {
			if (r->n)
				seterr(err, errlen,
				       "snapshot '%s': truncated: no end marker after " SEC_FMT
				       " (the file ends at offset %" PRIu64 ")",
				       path, SEC_ARGS(&r->secs[r->n - 1]), off);
			else
				seterr(err, errlen,
				       "snapshot '%s': truncated: no end marker after the file "
				       "header (the file ends at offset %" PRIu64 ")",
				       path, off);
			return -EINVAL;
		}
		if (left < SNAP_RECORD_HEADER_SIZE) {
			seterr(err, errlen,
			       "snapshot '%s': truncated: the header of section %u (or the end "
			       "marker) at offset %" PRIu64 " has %" PRIu64 " of its %d bytes",
			       path, r->n, off, left, SNAP_RECORD_HEADER_SIZE);
			return -EINVAL;
		}
		/* Nothing in a header is believed before its CRC matches. */
		crc = crc_update(0, h, RH_CRC_COVERS);
		stored = get_le32(h + RH_HDR_CRC);
		if (crc != stored) {
			seterr(err, errlen,
			       "snapshot '%s': corrupt header of section %u (or the end marker) at "
			       "offset %" PRIu64 ": CRC 0x%08" PRIx32 ", recorded 0x%08" PRIx32,
			       path, r->n, off, crc, stored);
			return -EBADMSG;
		}
		type = get_le32(h + RH_TYPE);
		len = get_le64(h + RH_LENGTH);

		if (type == SNAP_TYPE_END) {
			uint64_t end = off + SNAP_RECORD_HEADER_SIZE;
			uint32_t count = get_le32(h + RH_INSTANCE);

			if (size > end) {
				seterr(err, errlen,
				       "snapshot '%s': %" PRIu64 " bytes of trailing garbage after "
				       "the end marker at offset %" PRIu64,
				       path, size - end, off);
				return -EINVAL;
			}
			if (count != r->n || len != size || get_le32(h + RH_DATA_CRC)) {
				seterr(err, errlen,
				       "snapshot '%s': bad end marker at offset %" PRIu64
				       ": it records %" PRIu32 " sections and a file of %" PRIu64
				       " bytes (field at +16: 0x%" PRIx32 "); the file has %u "
				       "sections and %" PRIu64 " bytes",
				       path, off, count, len, get_le32(h + RH_DATA_CRC), r->n,
				       size);
				return -EINVAL;
			}
			return 0;
		}

		if (r->n >= SNAP_MAX_SECTIONS) {
			seterr(err, errlen, "snapshot '%s': more than %u sections", path,
			       SNAP_MAX_SECTIONS);
			return -EINVAL;
		}
		if (r->n == cap) {
			unsigned int ncap = cap ? 2 * cap : 64;
			struct snap_sec *ns = realloc(r->secs, (size_t)ncap * sizeof(*ns));

			if (!ns) {
				seterr(err, errlen, "snapshot '%s': out of memory", path);
				return -ENOMEM;
			}
			r->secs = ns;
			cap = ncap;
		}
		s = &r->secs[r->n];
		*s = (struct snap_sec){
			.type = type,
			.instance = get_le32(h + RH_INSTANCE),
			.hdr_off = off,
			.data_off = off + SNAP_RECORD_HEADER_SIZE,
			.len = len,
			.index = r->n,
		};
		left -= SNAP_RECORD_HEADER_SIZE;
		/* Compare with what is left, never add to an untrusted length. */
		if (len > left) {
			seterr(err, errlen,
			       "snapshot '%s': truncated: " SEC_FMT " has %" PRIu64
			       " bytes of data, but only %" PRIu64 " bytes follow its header",
			       path, SEC_ARGS(s), len, left);
			return -EINVAL;
		}
		left -= len;
		pad = pad_of(len);
		if (pad > left) {
			seterr(err, errlen,
			       "snapshot '%s': truncated: " SEC_FMT " ends in its padding "
			       "(%" PRIu64 " of %" PRIu64 " bytes)",
			       path, SEC_ARGS(s), left, pad);
			return -EINVAL;
		}
		for (uint64_t i = 0; i < pad; i++) {
			if (m[s->data_off + len + i]) {
				seterr(err, errlen,
				       "snapshot '%s': " SEC_FMT ": non-zero padding byte at "
				       "offset %" PRIu64,
				       path, SEC_ARGS(s), s->data_off + len + i);
				return -EINVAL;
			}
		}
		crc = crc_update(0, m + s->data_off, len);
		stored = get_le32(h + RH_DATA_CRC);
		if (crc != stored) {
			seterr(err, errlen,
			       "snapshot '%s': corrupt " SEC_FMT ": data CRC 0x%08" PRIx32
			       ", recorded 0x%08" PRIx32 " (%" PRIu64 " bytes from offset %" PRIu64
			       ")",
			       path, SEC_ARGS(s), crc, stored, len, s->data_off);
			return -EBADMSG;
		}
		r->n++;
		off = s->data_off + len + pad;
	}
}

static int index_sections(struct snap_reader *r, const char *path, char *err, size_t errlen)
{
	if (!r->n)
		return 0;
	r->sorted = malloc((size_t)r->n * sizeof(*r->sorted));
	if (!r->sorted) {
		seterr(err, errlen, "snapshot '%s': out of memory", path);
		return -ENOMEM;
	}
	memcpy(r->sorted, r->secs, (size_t)r->n * sizeof(*r->sorted));
	qsort(r->sorted, r->n, sizeof(*r->sorted), sec_cmp);
	for (unsigned int i = 1; i < r->n; i++) {
		const struct snap_sec *a = &r->sorted[i - 1], *b = &r->sorted[i];

		if (a->type == b->type && a->instance == b->instance) {
			seterr(err, errlen,
			       "snapshot '%s': duplicate section type 0x%" PRIx32
			       " instance %" PRIu32 ": sections %u (offset %" PRIu64
			       ") and %u (offset %" PRIu64 ")",
			       path, a->type, a->instance, a->index, a->hdr_off, b->index,
			       b->hdr_off);
			return -EINVAL;
		}
	}
	return 0;
}

int snap_reader_open(struct snap_reader **out, const char *path, char *err, size_t errlen)
{
	struct snap_reader *r;
	struct stat st;
	void *map;
	int fd, ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		seterr(err, errlen, "snapshot '%s': out of memory", path);
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		seterr(err, errlen, "snapshot '%s': %s", path, strerror(-ret));
		goto err_free;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		seterr(err, errlen, "snapshot '%s': fstat: %s", path, strerror(-ret));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		seterr(err, errlen, "snapshot '%s': not a regular file", path);
		goto err_close;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		ret = -EFBIG;
		seterr(err, errlen, "snapshot '%s': too large to map", path);
		goto err_close;
	}
	r->size = (size_t)st.st_size;
	if (r->size) {
		map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			ret = -errno;
			seterr(err, errlen, "snapshot '%s': mmap: %s", path, strerror(-ret));
			goto err_close;
		}
		r->map = map;
	}
	/* The mapping keeps the file; the descriptor is not needed any more. */
	close(fd);

	ret = validate(r, path, err, errlen);
	if (!ret)
		ret = index_sections(r, path, err, errlen);
	if (ret) {
		snap_reader_close(r);
		return ret;
	}
	*out = r;
	return 0;

err_close:
	close(fd);
err_free:
	free(r);
	return ret;
}

static void sec_out(const struct snap_reader *r, const struct snap_sec *s, const void **data,
		    uint64_t *len)
{
	if (data)
		*data = r->map + s->data_off;
	if (len)
		*len = s->len;
}

int snap_reader_find(const struct snap_reader *r, uint32_t type, uint32_t instance,
		     const void **data, uint64_t *len)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct snap_sec *s = &r->sorted[mid];

		if (s->type == type && s->instance == instance) {
			sec_out(r, s, data, len);
			return 0;
		}
		if (s->type < type || (s->type == type && s->instance < instance))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int snap_reader_section(const struct snap_reader *r, unsigned int i, uint32_t *type,
			uint32_t *instance, const void **data, uint64_t *len)
{
	const struct snap_sec *s;

	if (i >= r->n)
		return -ENOENT;
	s = &r->secs[i];
	if (type)
		*type = s->type;
	if (instance)
		*instance = s->instance;
	sec_out(r, s, data, len);
	return 0;
}

unsigned int snap_reader_count(const struct snap_reader *r)
{
	return r->n;
}

void snap_reader_close(struct snap_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap((void *)r->map, r->size);
	free(r->sorted);
	free(r->secs);
	free(r);
}
