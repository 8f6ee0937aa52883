// SPDX-License-Identifier: MIT
/*
 * Unit tests for the snapshot file layer: round trips, the exact byte layout
 * of docs/snapshot.md (built here independently of snapfile.c, from the
 * document), every refusal with its message, the writer's temp-file and
 * rename discipline, and a brute-force pass of changed bytes and truncation
 * points that the reader must refuse without crashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/fixtures.h"
#include "migration/snapfile.h"

struct fixture {
	char dir[64];
	char path[96]; /* dir/snap */
	char tmp[100]; /* dir/snap.tmp */
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	/*
	 * A tmpfs if there is one: every commit fsyncs the file and its
	 * directory, which costs ~100 ms a time on some virtual disks.
	 */
	snprintf(f->dir, sizeof(f->dir), "/dev/shm/lmig-test-snap.XXXXXX");
	if (!mkdtemp(f->dir)) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/lmig-test-snap.XXXXXX");
		if (!mkdtemp(f->dir)) {
			test_free(f);
			return -1;
		}
	}
	snprintf(f->path, sizeof(f->path), "%s/snap", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s/snap.tmp", f->dir);
	*state = f;
	return 0;
}

/* Fails (rmdir) if a test left any file other than the two it may leave. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	int r;

	unlink(f->path);
	unlink(f->tmp);
	r = rmdir(f->dir);
	if (r)
		print_error("teardown: %s not empty: %s\n", f->dir, strerror(errno));
	test_free(f);
	return r ? -1 : 0;
}

/* ---- files ---- */

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* A test_malloc'd copy of the file (at least 1 byte allocated). */
static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = test_malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- the layout of docs/snapshot.md, encoded here on its own ---- */

/* Section header / end marker: le32 type, le32 instance, le64 length, le32 data CRC, le32 CRC. */
static void raw_record(uint8_t *h, uint32_t type, uint32_t instance, uint64_t len, uint32_t dcrc)
{
	put_le32(h, type);
	put_le32(h + 4, instance);
	put_le64(h + 8, len);
	put_le32(h + 16, dcrc);
	put_le32(h + 20, (uint32_t)crc32(0, h, 20));
}

/* Recompute the header CRC of the record at h after a test changed a field. */
static void raw_fix_crc(uint8_t *h)
{
	put_le32(h + 20, (uint32_t)crc32(0, h, 20));
}

struct raw {
	uint8_t p[4096];
	size_t len;
	unsigned int n;
};

static void raw_header(struct raw *b, uint32_t version)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->p, "LMIGSNAP", 8);
	put_le32(b->p + 8, version);
	put_le32(b->p + 12, 0);
	b->len = 16;
}

static void raw_section(struct raw *b, uint32_t type, uint32_t instance, const void *data,
			size_t len)
{
	size_t padded = (len + 7) / 8 * 8;

	assert_true(b->len + 24 + padded <= sizeof(b->p));
	raw_record(b->p + b->len, type, instance, len, (uint32_t)crc32(0, data, (unsigned int)len));
	memcpy(b->p + b->len + 24, data, len);
	memset(b->p + b->len + 24 + len, 0, padded - len);
	b->len += 24 + padded;
	b->n++;
}

static void raw_end(struct raw *b)
{
	assert_true(b->len + 24 <= sizeof(b->p));
	raw_record(b->p + b->len, 0, b->n, b->len + 24, 0);
	b->len += 24;
}

/* ---- the sample file most tests start from ---- */

struct sec {
	uint32_t type, instance;
	size_t len;
	unsigned int mul, add; /* fill_pattern() */
};

/*
 * Offsets: header 0..15; section 0 header at 16, data 40..79; section 1
 * header at 80, data 104..116, padding 117..119; section 2 header at 120,
 * data 144..243, padding 244..247; section 3 (empty) header at 248; the end
 * marker at 272; 296 bytes.
 */
static const struct sec sample[] = {
	{0x1, 0, 40, 3, 1},
	{0x2, 5, 13, 5, 7},
	{0x3, 1, 100, 11, 2},
	{0x4, 0, 0, 1, 0},
};
#define SAMPLE_HDR1 80
#define SAMPLE_PAD1 117
#define SAMPLE_HDR2 120
#define SAMPLE_DATA2 144
#define SAMPLE_PAD2 244
#define SAMPLE_HDR3 248
#define SAMPLE_END 272
#define SAMPLE_SIZE 296
static const uint64_t sample_hdr_off[] = {16, SAMPLE_HDR1, SAMPLE_HDR2, SAMPLE_HDR3};

static void write_secs(const char *path, const struct sec *s, size_t n)
{
	struct snap_writer *w;
	char err[256];

	assert_int_equal(snap_writer_open(&w, path, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = new_pattern(s[i].len, s[i].mul, s[i].add);

		assert_int_equal(snap_write_section(w, s[i].type, s[i].instance, d, s[i].len), 0);
		test_free(d);
	}
	assert_int_equal(snap_writer_close(w, true, err, sizeof(err)), 0);
}

static void write_sample(struct fixture *f)
{
	write_secs(f->path, sample, ARRAY_SIZE(sample));
}

/* Fail unless r holds exactly the sections s[0..n), in order, findable, 8-byte aligned. */
static void check_secs(const struct snap_reader *r, const struct sec *s, size_t n)
{
	assert_int_equal(snap_reader_count(r), n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *want = new_pattern(s[i].len, s[i].mul, s[i].add);
		const void *d, *d2;
		uint32_t type, inst;
		uint64_t len, len2;

		assert_int_equal(snap_reader_section(r, (unsigned int)i, &type, &inst, &d, &len),
				 0);
		assert_int_equal(type, s[i].type);
		assert_int_equal(inst, s[i].instance);
		assert_int_equal(len, s[i].len);
		assert_int_equal((uintptr_t)d % 8, 0);
		if (s[i].len)
			assert_memory_equal(d, want, s[i].len);
		assert_int_equal(snap_reader_find(r, s[i].type, s[i].instance, &d2, &len2), 0);
		assert_ptr_equal(d2, d);
		assert_int_equal(len2, len);
		test_free(want);
	}
	assert_int_equal(snap_reader_section(r, (unsigned int)n, NULL, NULL, NULL, NULL), -ENOENT);
}

/* Open f->path expecting refusal with rc and a message holding every string that follows. */
static void expect_refused(struct fixture *f, int rc, ...) __attribute__((sentinel));
static void expect_refused(struct fixture *f, int rc, ...)
{
	struct snap_reader *r = (struct snap_reader *)1;
	va_list ap;

	f->err[0] = 0;
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), rc);
	assert_null(r);
	va_start(ap, rc);
	assert_vmentions(f->err, ap);
	va_end(ap);
}

/* Rewrite the sample with one byte changed. */
static void sample_with(struct fixture *f, size_t off, uint8_t xor)
{
	uint8_t *p;
	size_t len;

	write_sample(f);
	p = read_file(f->path, &len);
	assert_int_equal(len, SAMPLE_SIZE);
	assert_true(off < len);
	p[off] ^= xor;
	write_file(f->path, p, len);
	test_free(p);
}

/* Rewrite the sample cut to len bytes. */
static void sample_cut(struct fixture *f, off_t len)
{
	write_sample(f);
	assert_int_equal(truncate(f->path, len), 0);
}

/* ---- round trips ---- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	const struct sec secs[] = {
		{0x100, 0, 40, 3, 1},		    /* a "configuration" */
		{0x200, 0, 5000, 7, 5},		    /* many small appends */
		{0x300, 2, 0, 1, 0},		    /* empty */
		{0x400, 0, (3u << 20) + 5, 13, 9},  /* large, direct and buffered writes */
		{0x200, 1, 7, 17, 3},		    /* same type, other instance */
		{0xffffffff, 0xffffffff, 9, 19, 4}, /* extreme keys */
	};
	struct snap_writer *w;
	struct snap_reader *r;
	uint8_t *d;
	size_t off;
	unsigned int step = 0;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_true(exists(f->tmp));
	assert_false(exists(f->path));

	d = new_pattern(secs[0].len, secs[0].mul, secs[0].add);
	assert_int_equal(snap_write_section(w, secs[0].type, secs[0].instance, d, secs[0].len), 0);
	test_free(d);

	d = new_pattern(secs[1].len, secs[1].mul, secs[1].add);
	assert_int_equal(snap_section_begin(w, secs[1].type, secs[1].instance), 0);
	for (off = 0; off < secs[1].len; step++) {
		size_t n = step % 14; /* 0..13, zero-length appends included */

		if (n > secs[1].len - off)
			n = secs[1].len - off;
		assert_int_equal(snap_section_append(w, d + off, n), 0);
		off += n;
	}
	assert_true(step > 500);
	assert_int_equal(snap_section_end(w), 0);
	test_free(d);

	assert_int_equal(snap_section_begin(w, secs[2].type, secs[2].instance), 0);
	assert_int_equal(snap_section_end(w), 0);

	/* 100 bytes, 2 MiB in one append (more than the writer buffers), then 64 KiB pieces. */
	d = new_pattern(secs[3].len, secs[3].mul, secs[3].add);
	assert_int_equal(snap_section_begin(w, secs[3].type, secs[3].instance), 0);
	assert_int_equal(snap_section_append(w, d, 100), 0);
	assert_int_equal(snap_section_append(w, d + 100, 2u << 20), 0);
	for (off = 100 + (2u << 20); off < secs[3].len;) {
		size_t n = secs[3].len - off < 65536 ? secs[3].len - off : 65536;

		assert_int_equal(snap_section_append(w, d + off, n), 0);
		off += n;
	}
	assert_int_equal(snap_section_end(w), 0);
	test_free(d);

	for (size_t i = 4; i < ARRAY_SIZE(secs); i++) {
		d = new_pattern(secs[i].len, secs[i].mul, secs[i].add);
		assert_int_equal(
			snap_write_section(w, secs[i].type, secs[i].instance, d, secs[i].len), 0);
		test_free(d);
	}
	assert_false(exists(f->path)); /* nothing at PATH before the commit */
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), 0);
	assert_true(exists(f->path));
	assert_false(exists(f->tmp));

	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	check_secs(r, secs, ARRAY_SIZE(secs));
	assert_int_equal(snap_reader_find(r, 0x200, 2, NULL, NULL), -ENOENT);
	assert_int_equal(snap_reader_find(r, 0x500, 0, NULL, NULL), -ENOENT);
	assert_int_equal(snap_reader_find(r, 0x1, 0, NULL, NULL), -ENOENT);
	snap_reader_close(r);
}

/* Many sections written in scrambled key order: find each one (binary search). */
static void test_find_many(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	struct sec *secs = test_calloc(N, sizeof(*secs));
	struct snap_reader *r;

	for (unsigned int i = 0; i < N; i++)
		secs[i] = (struct sec){(i * 7919u) % 17 + 1, (i * 104729u) % 1009, i % 23, i, 1};
	write_secs(f->path, secs, N);
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	check_secs(r, secs, N);
	for (unsigned int i = 0; i < N; i++) {
		/* A key next to each present one, absent unless written too. */
		uint32_t type = secs[i].type, inst = secs[i].instance + 1;
		bool present = false;

		for (unsigned int j = 0; j < N; j++)
			present |= secs[j].type == type && secs[j].instance == inst;
		assert_int_equal(snap_reader_find(r, type, inst, NULL, NULL),
				 present ? 0 : -ENOENT);
	}
	snap_reader_close(r);
	test_free(secs);
}

/* The writer's bytes are exactly those docs/snapshot.md describes. */
static void test_layout_bytes(void **state)
{
	struct fixture *f = *state;
	struct raw b;
	uint8_t *p;
	size_t len;

	write_sample(f);
	raw_header(&b, 1);
	for (size_t i = 0; i < ARRAY_SIZE(sample); i++) {
		uint8_t *d = new_pattern(sample[i].len, sample[i].mul, sample[i].add);

		assert_int_equal(b.len, sample_hdr_off[i]);
		raw_section(&b, sample[i].type, sample[i].instance, d, sample[i].len);
		test_free(d);
	}
	assert_int_equal(b.len, SAMPLE_END);
	raw_end(&b);
	assert_int_equal(b.len, SAMPLE_SIZE);

	p = read_file(f->path, &len);
	assert_int_equal(len, SAMPLE_SIZE);
	assert_memory_equal(p, b.p, len);
	/* A few fields by hand, as the document lists them. */
	assert_memory_equal(p, "LMIGSNAP\x01\0\0\0\0\0\0\0", 16);
	assert_int_equal(get_le32(p + SAMPLE_HDR1), 2);
	assert_int_equal(get_le32(p + SAMPLE_HDR1 + 4), 5);
	assert_int_equal(get_le64(p + SAMPLE_HDR1 + 8), 13);
	assert_int_equal(get_le32(p + SAMPLE_END), 0);
	assert_int_equal(get_le32(p + SAMPLE_END + 4), 4);
	assert_int_equal(get_le64(p + SAMPLE_END + 8), SAMPLE_SIZE);
	assert_int_equal(get_le32(p + SAMPLE_END + 16), 0);
	test_free(p);
}

/* The example of docs/snapshot.md, byte for byte. */
static void test_doc_example(void **state)
{
	static const uint8_t doc[72] = {
		0x4c, 0x4d, 0x49, 0x47, 0x53, 0x4e, 0x41, 0x50, 0x01, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
		0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x86, 0xa6, 0x10, 0x36,
		0xfa, 0x08, 0x5e, 0xb7, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0xcb, 0xd2, 0x97,
	};
	struct fixture *f = *state;
	struct snap_writer *w;
	uint8_t *p;
	size_t n;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_write_section(w, 2, 5, "hello", 5), 0);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), 0);
	p = read_file(f->path, &n);
	assert_int_equal(n, sizeof(doc));
	assert_memory_equal(p, doc, n);
	test_free(p);
}

/* A file made by the document's layout alone (not by the writer) is read back. */
static void test_reads_raw_file(void **state)
{
	struct fixture *f = *state;
	struct snap_reader *r;
	struct raw b;

	raw_header(&b, 1);
	for (size_t i = 0; i < ARRAY_SIZE(sample); i++) {
		uint8_t *d = new_pattern(sample[i].len, sample[i].mul, sample[i].add);

		raw_section(&b, sample[i].type, sample[i].instance, d, sample[i].len);
		test_free(d);
	}
	raw_end(&b);
	write_file(f->path, b.p, b.len);
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	check_secs(r, sample, ARRAY_SIZE(sample));
	snap_reader_close(r);
}

static void test_no_sections(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w;
	struct snap_reader *r;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_reader_count(r), 0);
	assert_int_equal(snap_reader_section(r, 0, NULL, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(snap_reader_find(r, 1, 0, NULL, NULL), -ENOENT);
	snap_reader_close(r);
}

/* ---- duplicates ---- */

static void test_duplicate_refused_by_reader(void **state)
{
	struct fixture *f = *state;
	struct raw b;

	raw_header(&b, 1);
	raw_section(&b, 2, 3, "abc", 3);
	raw_section(&b, 1, 0, "x", 1);
	raw_section(&b, 2, 3, "abcd", 4);
	raw_end(&b);
	write_file(f->path, b.p, b.len);
	expect_refused(f, -EINVAL, f->path, "duplicate section type 0x2 instance 3",
		       "sections 0 (offset 16) and 2 (offset 80)", NULL);
}

static void test_duplicate_refused_by_writer(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_write_section(w, 2, 3, "abc", 3), 0);
	assert_int_equal(snap_write_section(w, 2, 4, "abc", 3), 0);
	assert_int_equal(snap_write_section(w, 2, 3, "abc", 3), 0);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, f->path, "type 0x2 instance 3 written twice", "sections 0 and 2",
			NULL);
	assert_false(exists(f->path));
	assert_false(exists(f->tmp));
}

/* ---- refusals ---- */

static void test_refuse_missing(void **state)
{
	struct fixture *f = *state;

	expect_refused(f, -ENOENT, f->path, "No such file", NULL);
}

static void test_refuse_directory(void **state)
{
	struct fixture *f = *state;
	struct snap_reader *r;

	assert_int_equal(snap_reader_open(&r, f->dir, f->err, sizeof(f->err)), -EINVAL);
	assert_null(r);
	assert_mentions(f->err, f->dir, "not a regular file", NULL);
}

static void test_refuse_empty(void **state)
{
	struct fixture *f = *state;

	write_file(f->path, (const uint8_t *)"", 0);
	expect_refused(f, -EINVAL, f->path, "empty file", NULL);
}

static void test_refuse_short_header(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, 10);
	expect_refused(f, -EINVAL, "truncated", "10 bytes", "16-byte header", NULL);
}

static void test_refuse_bad_magic(void **state)
{
	struct fixture *f = *state;

	sample_with(f, 3, 0x20);
	expect_refused(f, -EINVAL, f->path, "bad magic", NULL);
}

static void test_refuse_wrong_version(void **state)
{
	struct fixture *f = *state;

	sample_with(f, 8, 0x01 ^ 0x02);
	expect_refused(f, -ENOTSUP, f->path, "unsupported version 2", "reads version 1", NULL);
	sample_with(f, 11, 0x80);
	expect_refused(f, -ENOTSUP, "unsupported version 2147483649", NULL);
}

static void test_refuse_reserved(void **state)
{
	struct fixture *f = *state;

	sample_with(f, 14, 0x01);
	expect_refused(f, -EINVAL, "reserved field is 0x10000", NULL);
}

static void test_refuse_truncated_section_header(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, SAMPLE_HDR1 + 10);
	expect_refused(f, -EINVAL, "truncated", "header of section 1", "offset 80",
		       "10 of its 24 bytes", NULL);
	sample_cut(f, 16 + 1);
	expect_refused(f, -EINVAL, "truncated", "header of section 0", "offset 16", "1 of its 24",
		       NULL);
}

static void test_refuse_truncated_data(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, SAMPLE_DATA2 + 50);
	expect_refused(f, -EINVAL, "truncated", "section 2 (type 0x3 instance 1) at offset 120",
		       "100 bytes of data", "only 50 bytes follow", NULL);
}

static void test_refuse_truncated_padding(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, SAMPLE_PAD2 + 1);
	expect_refused(f, -EINVAL, "truncated", "section 2 (type 0x3 instance 1) at offset 120",
		       "padding", "1 of 4 bytes", NULL);
}

static void test_refuse_truncated_before_end(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, SAMPLE_END);
	expect_refused(f, -EINVAL, "truncated", "no end marker",
		       "after section 3 (type 0x4 instance 0) at offset 248", NULL);
	sample_cut(f, 16);
	expect_refused(f, -EINVAL, "truncated", "no end marker after the file header", NULL);
}

static void test_refuse_truncated_end_marker(void **state)
{
	struct fixture *f = *state;

	sample_cut(f, SAMPLE_SIZE - 1);
	expect_refused(f, -EINVAL, "truncated", "section 4 (or the end marker)", "offset 272",
		       "23 of its 24", NULL);
}

/* A changed byte in each section's data: its data CRC, named by index, type, instance, offset. */
static void test_refuse_data_crc(void **state)
{
	struct fixture *f = *state;
	char name[128];

	for (size_t i = 0; i < ARRAY_SIZE(sample); i++) {
		if (!sample[i].len)
			continue;
		sample_with(f, sample_hdr_off[i] + 24 + sample[i].len / 2, 0x04);
		snprintf(name, sizeof(name),
			 "corrupt section %zu (type 0x%x instance %u) at offset %u", i,
			 sample[i].type, sample[i].instance, (unsigned int)sample_hdr_off[i]);
		expect_refused(f, -EBADMSG, f->path, name, "data CRC", NULL);
	}
}

/* A changed byte in a section header (length, type) or the end marker: the header CRC. */
static void test_refuse_header_flip(void **state)
{
	struct fixture *f = *state;

	sample_with(f, SAMPLE_HDR1 + 8, 0x01); /* length 13 -> 12 */
	expect_refused(f, -EBADMSG, "corrupt header of section 1", "offset 80", NULL);
	sample_with(f, SAMPLE_HDR2, 0x01); /* type 3 -> 2 */
	expect_refused(f, -EBADMSG, "corrupt header of section 2", "offset 120", NULL);
	sample_with(f, SAMPLE_HDR2 + 20, 0x01); /* the CRC itself */
	expect_refused(f, -EBADMSG, "corrupt header of section 2", "offset 120", NULL);
	sample_with(f, SAMPLE_END + 4, 0x01); /* the end marker's count */
	expect_refused(f, -EBADMSG, "(or the end marker)", "offset 272", NULL);
}

/* A header with a valid CRC around a bad length: the length checks themselves. */
static void set_len(struct fixture *f, size_t hdr_off, uint64_t len)
{
	uint8_t *p;
	size_t n;

	write_sample(f);
	p = read_file(f->path, &n);
	put_le64(p + hdr_off + 8, len);
	raw_fix_crc(p + hdr_off);
	write_file(f->path, p, n);
	test_free(p);
}

static void test_refuse_length_past_end(void **state)
{
	struct fixture *f = *state;

	set_len(f, SAMPLE_HDR2, 1000);
	expect_refused(f, -EINVAL, "truncated", "section 2 (type 0x3 instance 1) at offset 120",
		       "1000 bytes of data", "only 152 bytes follow", NULL);
	/* One byte past the end of the file. */
	set_len(f, SAMPLE_HDR2, SAMPLE_SIZE - SAMPLE_DATA2 + 1);
	expect_refused(f, -EINVAL, "section 2", "153 bytes of data", "only 152", NULL);
	/* Inside the file: the data CRC is over other bytes now, and does not match. */
	set_len(f, SAMPLE_HDR2, SAMPLE_SIZE - SAMPLE_DATA2);
	expect_refused(f, -EBADMSG, "corrupt section 2 (type 0x3 instance 1) at offset 120",
		       "data CRC", "152 bytes from offset 144", NULL);
	set_len(f, SAMPLE_HDR2, 8);
	expect_refused(f, -EBADMSG, "corrupt section 2", "data CRC", "8 bytes from offset 144",
		       NULL);
}

static void test_refuse_huge_length(void **state)
{
	struct fixture *f = *state;
	const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 7, UINT64_MAX - 23, 1ull << 63,
				 (uint64_t)SIZE_MAX - SAMPLE_DATA2 + 1};

	for (size_t i = 0; i < ARRAY_SIZE(huge); i++) {
		char want[64];

		set_len(f, SAMPLE_HDR1, huge[i]);
		snprintf(want, sizeof(want), "%llu bytes of data", (unsigned long long)huge[i]);
		expect_refused(f, -EINVAL, "truncated",
			       "section 1 (type 0x2 instance 5) at offset 80", want, NULL);
	}
}

static void test_refuse_trailing_garbage(void **state)
{
	struct fixture *f = *state;
	uint8_t *p, *q;
	size_t n;

	write_sample(f);
	q = read_file(f->path, &n);
	p = test_calloc(1, n + 24);
	memcpy(p, q, n);
	test_free(q);
	write_file(f->path, p, n + 8);
	expect_refused(f, -EINVAL, "8 bytes of trailing garbage", "end marker at offset 272", NULL);
	p[n] = 'x';
	write_file(f->path, p, n + 1);
	expect_refused(f, -EINVAL, "1 bytes of trailing garbage", NULL);
	/* A whole second end marker is garbage too. */
	memcpy(p + n, p + SAMPLE_END, 24);
	write_file(f->path, p, n + 24);
	expect_refused(f, -EINVAL, "24 bytes of trailing garbage", NULL);
	test_free(p);
}

static void test_refuse_nonzero_padding(void **state)
{
	struct fixture *f = *state;

	sample_with(f, SAMPLE_PAD1 + 2, 0x40);
	expect_refused(f, -EINVAL, "section 1 (type 0x2 instance 5) at offset 80",
		       "non-zero padding byte at offset 119", NULL);
}

/* End markers with a valid CRC that disagree with the file. */
static void test_refuse_bad_end_marker(void **state)
{
	struct fixture *f = *state;
	const struct {
		size_t field;
		uint64_t v;
		bool wide;
	} bad[] = {
		{4, 3, false},		    /* section count */
		{4, 5, false},		    /* section count */
		{8, SAMPLE_SIZE + 8, true}, /* file size */
		{8, SAMPLE_SIZE - 1, true}, /* file size */
		{16, 1, false},		    /* must be zero */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t *p;
		size_t n;

		write_sample(f);
		p = read_file(f->path, &n);
		if (bad[i].wide)
			put_le64(p + SAMPLE_END + bad[i].field, bad[i].v);
		else
			put_le32(p + SAMPLE_END + bad[i].field, (uint32_t)bad[i].v);
		raw_fix_crc(p + SAMPLE_END);
		write_file(f->path, p, n);
		test_free(p);
		expect_refused(f, -EINVAL, "bad end marker at offset 272",
			       "4 sections and 296 bytes", NULL);
	}
}

/* ---- the writer ---- */

static void test_writer_abort(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_write_section(w, 1, 0, "abc", 3), 0);
	assert_true(exists(f->tmp));
	assert_int_equal(snap_writer_close(w, false, f->err, sizeof(f->err)), 0);
	assert_false(exists(f->tmp));
	assert_false(exists(f->path));

	/* Aborted in the middle of a large section, after some of it reached the file. */
	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_begin(w, 1, 0), 0);
	for (int i = 0; i < 40; i++) {
		static const uint8_t chunk[65536];

		assert_int_equal(snap_section_append(w, chunk, sizeof(chunk)), 0);
	}
	assert_int_equal(snap_writer_close(w, false, NULL, 0), 0);
	assert_false(exists(f->tmp));
	assert_false(exists(f->path));
	assert_int_equal(snap_writer_close(NULL, false, NULL, 0), 0);
}

static void test_writer_unwritable_dir(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w = (struct snap_writer *)1;
	char path[160], file[128];

	snprintf(path, sizeof(path), "%s/missing/snap", f->dir);
	assert_int_equal(snap_writer_open(&w, path, f->err, sizeof(f->err)), -ENOENT);
	assert_null(w);
	assert_mentions(f->err, path, "cannot create", "snap.tmp", "No such file", NULL);

	/* The "directory" is a regular file. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	write_file(file, (const uint8_t *)"x", 1);
	snprintf(path, sizeof(path), "%s/snap", file);
	assert_int_equal(snap_writer_open(&w, path, f->err, sizeof(f->err)), -ENOTDIR);
	assert_mentions(f->err, path, "Not a directory", NULL);
	unlink(file);

	/* A read-only directory (root writes there anyway: only checked as another user). */
	if (geteuid() != 0) {
		snprintf(file, sizeof(file), "%s/ro", f->dir);
		assert_int_equal(mkdir(file, 0555), 0);
		snprintf(path, sizeof(path), "%s/snap", file);
		assert_int_equal(snap_writer_open(&w, path, f->err, sizeof(f->err)), -EACCES);
		assert_mentions(f->err, path, "Permission denied", NULL);
		rmdir(file);
	}
}

/* The previous file stays intact, byte for byte, when a new write to its path is aborted. */
static void test_abort_keeps_old_file(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w;
	struct snap_reader *r;
	uint8_t *before, *after;
	size_t n1, n2;

	write_sample(f);
	before = read_file(f->path, &n1);
	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_write_section(w, 9, 9, "new", 3), 0);
	assert_int_equal(snap_section_begin(w, 10, 0), 0);
	assert_int_equal(snap_section_append(w, "partial", 7), 0);
	after = read_file(f->path, &n2);
	assert_int_equal(n2, n1);
	assert_memory_equal(after, before, n1);
	test_free(after);
	assert_int_equal(snap_writer_close(w, false, f->err, sizeof(f->err)), 0);

	after = read_file(f->path, &n2);
	assert_int_equal(n2, n1);
	assert_memory_equal(after, before, n1);
	test_free(after);
	test_free(before);
	assert_false(exists(f->tmp));
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	check_secs(r, sample, ARRAY_SIZE(sample));
	snap_reader_close(r);
}

/* A commit replaces the file; a reader still open on the old one keeps reading it. */
static void test_commit_replaces(void **state)
{
	struct fixture *f = *state;
	const struct sec v2[] = {{0x7, 7, 77, 7, 7}};
	struct snap_reader *old, *r;

	write_sample(f);
	assert_int_equal(snap_reader_open(&old, f->path, f->err, sizeof(f->err)), 0);
	write_secs(f->path, v2, ARRAY_SIZE(v2));
	assert_false(exists(f->tmp));
	assert_int_equal(snap_reader_open(&r, f->path, f->err, sizeof(f->err)), 0);
	check_secs(r, v2, ARRAY_SIZE(v2));
	check_secs(old, sample, ARRAY_SIZE(sample));
	snap_reader_close(r);
	snap_reader_close(old);
}

/* Misuse: refused, remembered, and a commit then fails with the first failure. */
static void test_writer_misuse(void **state)
{
	struct fixture *f = *state;
	struct snap_writer *w;

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_append(w, "x", 1), -EINVAL);
	assert_int_equal(snap_write_section(w, 1, 0, "x", 1), -EINVAL); /* sticky */
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, f->path, "appended outside a section", NULL);
	assert_false(exists(f->path));
	assert_false(exists(f->tmp));

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_end(w), -EINVAL);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, "ended but none is open", NULL);

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_begin(w, SNAP_TYPE_END, 1), -EINVAL);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, "type 0 is reserved", NULL);

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_begin(w, 1, 2), 0);
	assert_int_equal(snap_section_begin(w, 3, 4), -EINVAL);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, "type 0x3 instance 4 begun while section type 0x1 instance 2",
			NULL);

	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_section_begin(w, 1, 2), 0);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EINVAL);
	assert_mentions(f->err, "type 0x1 instance 2 is still open", NULL);
	assert_false(exists(f->path));
	assert_false(exists(f->tmp));
}

/* A write that fails (file size limit): the error is kept and reported at close. */
static void test_writer_write_error(void **state)
{
	struct fixture *f = *state;
	static const uint8_t chunk[4096];
	struct rlimit old, lim;
	struct snap_writer *w;
	void (*old_sig)(int);
	int r = 0, i;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(snap_writer_open(&w, f->path, f->err, sizeof(f->err)), 0);
	old_sig = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(snap_section_begin(w, 1, 0), 0);
	for (i = 0; i < 1024 && !r; i++)
		r = snap_section_append(w, chunk, sizeof(chunk));
	if (!r)
		r = snap_section_end(w);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, old_sig);
	assert_int_equal(r, -EFBIG);
	assert_int_equal(snap_write_section(w, 2, 0, "x", 1), -EFBIG);
	assert_int_equal(snap_writer_close(w, true, f->err, sizeof(f->err)), -EFBIG);
	assert_mentions(f->err, f->tmp, "write", "File too large", NULL);
	assert_false(exists(f->path));
	assert_false(exists(f->tmp));
}

/* ---- brute force ---- */

/* Refused with a message, or exactly the sample: never anything else (and never a crash). */
static bool refused_or_sample(struct fixture *f)
{
	struct snap_reader *r = NULL;
	int rc;

	f->err[0] = 0;
	rc = snap_reader_open(&r, f->path, f->err, sizeof(f->err));
	if (rc) {
		assert_true(rc < 0);
		assert_null(r);
		assert_mentions(f->err, "snapshot '", f->path, NULL);
		return true;
	}
	check_secs(r, sample, ARRAY_SIZE(sample));
	snap_reader_close(r);
	return false;
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_robust_brute_force(void **state)
{
	static const uint8_t xors[] = {0x01, 0x80, 0xff, 0x10};
	struct fixture *f = *state;
	uint8_t *orig, *p;
	size_t n, cases = 0;
	uint32_t seed = 0x12345678;

	write_sample(f);
	orig = read_file(f->path, &n);
	p = test_malloc(n + 64);

	/* Every byte is covered by a check or a CRC: any one change is refused. */
	for (size_t i = 0; i < n; i++) {
		for (size_t x = 0; x < ARRAY_SIZE(xors); x++) {
			memcpy(p, orig, n);
			p[i] ^= xors[x];
			write_file(f->path, p, n);
			if (!refused_or_sample(f))
				fail_msg("byte %zu ^ 0x%02x was accepted", i, xors[x]);
			cases++;
		}
	}
	/* Every truncation point, and every extension by 1..64 bytes. */
	for (size_t len = 0; len < n + 64; len++) {
		if (len == n)
			continue;
		memcpy(p, orig, n);
		memset(p + n, (int)len, len > n ? len - n : 0);
		write_file(f->path, p, len);
		if (!refused_or_sample(f))
			fail_msg("file of %zu bytes accepted", len);
		cases++;
	}
	/* Lengths with a valid header CRC: every value near the file size, and some huge. */
	for (size_t s = 0; s < ARRAY_SIZE(sample); s++) {
		for (uint64_t v = 0; v < n + 16; v++) {
			uint64_t len =
				v < n + 8 ? v : UINT64_MAX - (v - n - 8) * 0x1111111111111111ull;

			memcpy(p, orig, n);
			put_le64(p + sample_hdr_off[s] + 8, len);
			raw_fix_crc(p + sample_hdr_off[s]);
			write_file(f->path, p, n);
			if (!refused_or_sample(f) && len != sample[s].len)
				fail_msg("section %zu with length %llu accepted", s,
					 (unsigned long long)len);
			cases++;
		}
	}
	/* Random changes of 1 to 4 bytes, some with a random truncation as well. */
	for (int k = 0; k < 3000; k++) {
		size_t len = n;
		unsigned int m = 1 + xorshift(&seed) % 4;

		memcpy(p, orig, n);
		for (unsigned int j = 0; j < m; j++)
			p[xorshift(&seed) % n] = (uint8_t)xorshift(&seed);
		if (xorshift(&seed) % 4 == 0)
			len = xorshift(&seed) % n;
		write_file(f->path, p, len);
		refused_or_sample(f);
		cases++;
	}
	assert_true(cases > 5000);
	test_free(p);
	test_free(orig);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_find_many),
		T(test_layout_bytes),
		T(test_doc_example),
		T(test_reads_raw_file),
		T(test_no_sections),
		T(test_duplicate_refused_by_reader),
		T(test_duplicate_refused_by_writer),
		T(test_refuse_missing),
		T(test_refuse_directory),
		T(test_refuse_empty),
		T(test_refuse_short_header),
		T(test_refuse_bad_magic),
		T(test_refuse_wrong_version),
		T(test_refuse_reserved),
		T(test_refuse_truncated_section_header),
		T(test_refuse_truncated_data),
		T(test_refuse_truncated_padding),
		T(test_refuse_truncated_before_end),
		T(test_refuse_truncated_end_marker),
		T(test_refuse_data_crc),
		T(test_refuse_header_flip),
		T(test_refuse_length_past_end),
		T(test_refuse_huge_length),
		T(test_refuse_trailing_garbage),
		T(test_refuse_nonzero_padding),
		T(test_refuse_bad_end_marker),
		T(test_writer_abort),
		T(test_writer_unwritable_dir),
		T(test_abort_keeps_old_file),
		T(test_commit_replaces),
		T(test_writer_misuse),
		T(test_writer_write_error),
		T(test_robust_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
