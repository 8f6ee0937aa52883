// SPDX-License-Identifier: MIT
/*
 * Unit tests for virtio-blk: a driver, written here against the transport
 * registers and split virtqueues in a test gmem (common/virtq_fixture.h),
 * sends requests to a device backed by a temporary image file; the I/O
 * goes through a real io_uring, and the device's worker callbacks are run
 * on the test's thread. Results are checked in the used ring, the status
 * bytes, the guest buffers and, with pread, the image itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fixtures.h"
#include "common/virtq_fixture.h"
#include "devices/virtio/blk.h"

#define MEM_SIZE (8ULL << 20)
#define IMAGE_SECTORS 2048ULL /* 1 MiB */
#define IMAGE_SIZE (IMAGE_SECTORS * 512)
#define QSIZE 256
/* Guest-physical layout of the test. */
#define RING_GPA 0x10000ULL
#define TABLE_GPA(k) (0x20000ULL + 0x100ULL * (k)) /* indirect tables of 16, k < 256 */
#define BIG_TABLE_GPA 0x30000ULL		   /* one indirect table of 256 */
#define SEG_GPA 0x50000ULL			   /* discard / write-zeroes segments */
#define HDR_GPA(k) (0x40000ULL + 32ULL * (k))	   /* request headers, k < 512 */
#define STATUS_GPA(k) (0x48000ULL + (k))	   /* status bytes, k < 512 */
#define DATA_GPA 0x100000ULL			   /* data buffers: 7 MiB */
#define WAIT_MS 5000
#define STATUS_UNTOUCHED 0xee

struct fixture {
	struct gmem *mem;
	struct worker w;
	struct virtio_blk *blk;
	struct virtio_mmio *t;
	struct vqf_owner owner;
	struct vqf q;
	char path[64];
	int fd; /* the image, for pread/pwrite checks */
	char err[256];
};

static uint64_t all_features(struct fixture *f)
{
	return vqf_device_features(f->t);
}

static int make_device(struct fixture *f, const struct virtio_blk_opts *o)
{
	return virtio_blk_create(&f->blk, o, "virtio-blk0", f->mem, &f->w, &vqf_owner_ops,
				 &f->owner, f->err, sizeof(f->err));
}

/* A fixture with an image and a worker, but no device. */
static int setup_image(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	f->mem = try_new_gmem(MEM_SIZE);
	if (!f->mem)
		return -1;
	if (worker_init(&f->w, "test-blk"))
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/lmig-test-blk.XXXXXX");
	f->fd = mkstemp(f->path);
	if (f->fd < 0 || ftruncate(f->fd, IMAGE_SIZE) < 0)
		return -1;
	*state = f;
	return 0;
}

/* The device in front of the image, initialised by the driver with `features`. */
static void start_device(struct fixture *f, const struct virtio_blk_opts *o, uint64_t features)
{
	uint32_t status;

	assert_int_equal(make_device(f, o), 0);
	f->t = virtio_blk_mmio(f->blk);
	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	status = vqf_driver_start(f->t, features == UINT64_MAX ? all_features(f) : features, &f->q,
				  1);
	assert_int_equal(status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static int setup(void **state)
{
	struct virtio_blk_opts o = {0};
	struct fixture *f;

	if (setup_image(state))
		return -1;
	f = *state;
	o.path = f->path;
	o.serial = "lmig-disk-0001";
	start_device(f, &o, UINT64_MAX);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	worker_destroy(&f->w);
	virtio_blk_destroy(f->blk);
	close(f->fd);
	unlink(f->path);
	free_gmem(f->mem);
	test_free(f);
	return 0;
}

/* ---- requests ---- */

/* Header k: type, reserved 0, sector; status byte k set to STATUS_UNTOUCHED. */
static void put_header(struct fixture *f, unsigned int k, uint32_t type, uint64_t sector)
{
	uint8_t h[16] = {0};
	uint8_t st = STATUS_UNTOUCHED;

	put_le32(h, type);
	put_le32(h + 8, (uint32_t)sector);
	put_le32(h + 12, (uint32_t)(sector >> 32));
	assert_int_equal(gmem_write(f->mem, HDR_GPA(k), h, sizeof(h)), 0);
	assert_int_equal(gmem_write(f->mem, STATUS_GPA(k), &st, 1), 0);
}

static uint8_t status_of(struct fixture *f, unsigned int k)
{
	uint8_t st;

	assert_int_equal(gmem_read(f->mem, STATUS_GPA(k), &st, 1), 0);
	return st;
}

/*
 * Make request k available: header, the data buffers, status; in the
 * descriptor table or (indirect) in table k. Returns the head.
 */
static uint16_t add_req(struct fixture *f, unsigned int k, uint32_t type, uint64_t sector,
			const struct vqf_buf *data, unsigned int ndata, bool indirect)
{
	struct vqf_buf bufs[300];
	unsigned int i, n = 0;
	uint16_t head;

	assert_true(ndata + 2 <= ARRAY_SIZE(bufs));
	put_header(f, k, type, sector);
	bufs[n++] = (struct vqf_buf){HDR_GPA(k), 16, false};
	for (i = 0; i < ndata; i++)
		bufs[n++] = data[i];
	bufs[n++] = (struct vqf_buf){STATUS_GPA(k), 1, true};
	if (indirect) {
		assert_true(n <= 16);
		head = vqf_add_indirect(&f->q, TABLE_GPA(k), bufs, n);
	} else {
		head = vqf_add_chain(&f->q, bufs, n);
	}
	vqf_publish(&f->q, head);
	return head;
}

/* Notify, then run the worker until `count` more used entries are there. */
static void kick_and_wait(struct fixture *f, unsigned int count)
{
	uint16_t target = (uint16_t)(f->q.last_used + count);

	virtio_mmio_queue_notify(f->t, 0);
	vqf_pump_until_used(&f->w, &f->q, target, WAIT_MS);
}

/* The next used entry must be `head` with length `len`. */
static void expect_used(struct fixture *f, uint16_t head, uint32_t len)
{
	uint32_t id, l;

	assert_true(vqf_pop_used(&f->q, &id, &l));
	assert_int_equal(id, head);
	assert_int_equal(l, len);
}

/* One request, run to completion: returns its status byte; checks its used entry. */
static uint8_t do_req(struct fixture *f, uint32_t type, uint64_t sector, const struct vqf_buf *data,
		      unsigned int ndata, uint32_t used_len)
{
	uint16_t head = add_req(f, 0, type, sector, data, ndata, false);

	kick_and_wait(f, 1);
	expect_used(f, head, used_len);
	return status_of(f, 0);
}

static uint8_t *gptr(struct fixture *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_ptr(f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void image_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static void image_fill(struct fixture *f, uint64_t off, size_t len, unsigned int mul,
		       unsigned int add)
{
	uint8_t *p = new_pattern(len, mul, add);

	assert_int_equal(pwrite(f->fd, p, len, (off_t)off), (ssize_t)len);
	test_free(p);
}

static bool image_is(struct fixture *f, uint64_t off, size_t len, uint8_t byte)
{
	uint8_t *p = test_malloc(len);
	bool same = true;
	size_t i;

	image_read(f, off, p, len);
	for (i = 0; i < len; i++)
		same = same && p[i] == byte;
	test_free(p);
	return same;
}

static bool image_matches_pattern(struct fixture *f, uint64_t off, size_t len, unsigned int mul,
				  unsigned int add)
{
	uint8_t *want = new_pattern(len, mul, add), *got = test_malloc(len);
	bool same;

	image_read(f, off, got, len);
	same = memcmp(want, got, len) == 0;
	test_free(want);
	test_free(got);
	return same;
}

/* ---- configuration space and features ---- */

static uint64_t config_read(struct fixture *f, unsigned int off, unsigned int len)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;
	unsigned int i;

	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + off, b, len);
	for (i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void test_config_space(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[4] = {0xff, 0xff, 0xff, 0xff};
	unsigned int i;
	uint64_t cap = 0;

	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_CAPACITY, 8), IMAGE_SECTORS);
	/* Any width and offset: two halves, then byte by byte. */
	assert_int_equal(config_read(f, 0, 4), IMAGE_SECTORS);
	assert_int_equal(config_read(f, 4, 4), 0);
	for (i = 0; i < 8; i++)
		cap |= config_read(f, i, 1) << (8 * i);
	assert_int_equal(cap, IMAGE_SECTORS);
	assert_int_equal(config_read(f, 1, 2), IMAGE_SECTORS >> 8);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_SEG_MAX, 4), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4),
			 VIRTIO_BLK_MAX_DISCARD_SECTORS);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4),
			 VIRTIO_BLK_MAX_DISCARD_SEG);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 4),
			 VIRTIO_BLK_DISCARD_ALIGNMENT);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, 4),
			 VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 4),
			 VIRTIO_BLK_MAX_WRITE_ZEROES_SEG);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1), 1);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	/* Past the structure, and straddling its end: zeros. */
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_SIZE, 4), 0);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_SIZE - 2, 4), 0);
	assert_int_equal(config_read(f, 0xefc, 4), 0);
	/* Writes are ignored. */
	virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_CAPACITY, junk, 4);
	virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SIZE + 4, junk, 4);
	assert_int_equal(config_read(f, VIRTIO_BLK_CFG_CAPACITY, 8), IMAGE_SECTORS);
	assert_int_equal(virtio_blk_capacity(f->blk), IMAGE_SECTORS);
}

static void test_features(void **state)
{
	struct fixture *f = *state;
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |
			VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
			VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);

	assert_int_equal(all_features(f), want);
}

/* ---- reads and writes ---- */

static void test_write_then_read(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf wr = {DATA_GPA, 4096, false}, rd = {DATA_GPA + 0x10000, 4096, true};
	uint8_t *src = gptr(f, DATA_GPA, 4096), *dst = gptr(f, DATA_GPA + 0x10000, 4096);
	unsigned int irqs = f->owner.irqs;

	fill_pattern(src, 4096, 7, 3);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 10, &wr, 1, 1), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 10 * 512, 4096, 7, 3));
	assert_true(image_is(f, 9 * 512, 512, 0));
	assert_true(image_is(f, 18 * 512, 512, 0));
	assert_true(f->owner.irqs > irqs);

	memset(dst, 0x5a, 4096);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 10, &rd, 1, 4096 + 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(dst, src, 4096);
	/* The last sector of the disk is in range; one past it is not. */
	wr.len = 512;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, IMAGE_SECTORS - 1, &wr, 1, 1),
			 VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, IMAGE_SIZE - 512, 512, 7, 3));
	rd.len = 512;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, &rd, 1, 513),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(dst, src, 512);
}

static void test_multi_segment_and_indirect(void **state)
{
	struct fixture *f = *state;
	/* Scattered buffers of different sizes, 4 KiB in all. */
	const struct vqf_buf wr[3] = {
		{DATA_GPA + 0x0000, 512, false},
		{DATA_GPA + 0x3000, 1536, false},
		{DATA_GPA + 0x8200, 2048, false},
	};
	const struct vqf_buf rd[4] = {
		{DATA_GPA + 0x20000, 1024, true},
		{DATA_GPA + 0x21400, 512, true},
		{DATA_GPA + 0x23000, 2048, true},
		{DATA_GPA + 0x26000, 512, true},
	};
	uint8_t *want = new_pattern(4096, 13, 5), *got = test_malloc(4096);
	uint16_t head;
	size_t off = 0;
	unsigned int i;

	for (i = 0; i < 3; off += wr[i].len, i++)
		memcpy(gptr(f, wr[i].gpa, wr[i].len), want + off, wr[i].len);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 100, wr, 3, 1), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 100 * 512, 4096, 13, 5));

	head = add_req(f, 1, VIRTIO_BLK_T_IN, 100, rd, 4, true);
	kick_and_wait(f, 1);
	expect_used(f, head, 4096 + 1);
	assert_int_equal(status_of(f, 1), VIRTIO_BLK_S_OK);
	for (off = 0, i = 0; i < 4; off += rd[i].len, i++)
		memcpy(got + off, gptr(f, rd[i].gpa, rd[i].len), rd[i].len);
	assert_memory_equal(got, want, 4096);
	test_free(want);
	test_free(got);
}

/* Framing is the driver's choice (2.6.4): header and data, data and status, in one buffer. */
static void test_any_framing(void **state)
{
	struct fixture *f = *state;
	uint64_t hd = DATA_GPA, ds = DATA_GPA + 0x1000;
	uint8_t *p = gptr(f, hd, 16 + 1024), *q = gptr(f, ds, 1024 + 1);
	struct vqf_buf out[2] = {{hd, 16 + 512, false}, {hd + 528, 512, false}};
	struct vqf_buf in[2] = {{hd, 16, false}, {ds, 1024 + 1, true}};
	uint16_t head;
	uint8_t st = STATUS_UNTOUCHED;

	/* Write: the header and the first sector in one buffer, then the status byte. */
	memset(p, 0, 16);
	put_le32(p, VIRTIO_BLK_T_OUT);
	put_le32(p + 8, 40);
	fill_pattern(p + 16, 1024, 3, 1);
	assert_int_equal(gmem_write(f->mem, STATUS_GPA(0), &st, 1), 0);
	head = vqf_add_chain(&f->q, (struct vqf_buf[]){out[0], out[1], {STATUS_GPA(0), 1, true}},
			     3);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1);
	assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 40 * 512, 1024, 3, 1));

	/* Read: the data and the status byte in one buffer. */
	put_le32(p, VIRTIO_BLK_T_IN);
	memset(q, 0xaa, 1025);
	head = vqf_add_chain(&f->q, in, 2);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1025);
	assert_int_equal(q[1024], VIRTIO_BLK_S_OK);
	assert_memory_equal(q, p + 16, 1024);
}

static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	uint16_t heads[128];
	unsigned int k, i;
	uint32_t id, len;

	/* 128 one-sector writes, indirect, made available together: one notify. */
	for (k = 0; k < 128; k++) {
		struct vqf_buf d = {DATA_GPA + 512 * k, 512, false};

		fill_pattern(gptr(f, d.gpa, 512), 512, 1, k);
		heads[k] = add_req(f, k, VIRTIO_BLK_T_OUT, 2 * k, &d, 1, true);
	}
	kick_and_wait(f, 128);
	for (k = 0; k < 128; k++) {
		assert_true(vqf_pop_used(&f->q, &id, &len));
		assert_int_equal(len, 1);
		for (i = 0; i < 128 && heads[i] != id; i++)
			;
		assert_true(i < 128);
		assert_int_equal(status_of(f, i), VIRTIO_BLK_S_OK);
		heads[i] = UINT16_MAX; /* each head once */
	}
	for (k = 0; k < 128; k++) {
		assert_true(image_matches_pattern(f, 2 * k * 512, 512, 1, k));
		assert_true(image_is(f, (2 * k + 1) * 512, 512, 0));
	}
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf d = {DATA_GPA, 512, false};

	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	/* A flush carries no data. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, &d, 1, 1), VIRTIO_BLK_S_IOERR);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf d = {DATA_GPA, 20, true};
	uint8_t want[20] = "lmig-disk-0001";
	uint8_t *p = gptr(f, DATA_GPA, 32);

	memset(p, 0xaa, 32);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 21), VIRTIO_BLK_S_OK);
	assert_memory_equal(p, want, 20);
	assert_int_equal(p[20], 0xaa);
	/* A shorter buffer gets the start of the string. */
	memset(p, 0xaa, 32);
	d.len = 8;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 9), VIRTIO_BLK_S_OK);
	assert_memory_equal(p, want, 8);
	assert_int_equal(p[8], 0xaa);
	/* A longer one is NUL-padded to its end. */
	memset(p, 0xaa, 32);
	d.len = 30;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 31), VIRTIO_BLK_S_OK);
	assert_memory_equal(p, want, 20);
	assert_true(p[20] == 0 && p[29] == 0 && p[30] == 0xaa);
}

static void test_get_id_long_and_no_serial(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {.path = f->path, .serial = "0123456789abcdefghijKLMN"};
	struct vqf_buf d = {DATA_GPA, 20, true};
	uint8_t *p = gptr(f, DATA_GPA, 20);

	start_device(f, &o, UINT64_MAX);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 21), VIRTIO_BLK_S_OK);
	assert_memory_equal(p, "0123456789abcdefghij", 20); /* 20 bytes, no NUL */

	worker_destroy(&f->w);
	virtio_blk_destroy(f->blk);
	assert_int_equal(worker_init(&f->w, "test-blk"), 0);
	o.serial = NULL;
	start_device(f, &o, UINT64_MAX);
	memset(p, 0xaa, 20);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 21), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 0, 1, 0)); /* (the image is not involved) */
	assert_memory_equal(p, (uint8_t[20]){0}, 20);
}

/* ---- discard and write zeroes ---- */

struct dwz_seg {
	uint64_t sector;
	uint32_t sectors, flags;
};

/* A DISCARD / WRITE_ZEROES request with n segments; its status. */
static uint8_t do_dwz(struct fixture *f, uint32_t type, const struct dwz_seg *s, unsigned int n)
{
	uint8_t *p = gptr(f, SEG_GPA, 16ULL * (n ? n : 1));
	struct vqf_buf d = {SEG_GPA, 16 * n, false};
	unsigned int i;

	for (i = 0; i < n; i++) {
		put_le32(p + 16 * i, (uint32_t)s[i].sector);
		put_le32(p + 16 * i + 4, (uint32_t)(s[i].sector >> 32));
		put_le32(p + 16 * i + 8, s[i].sectors);
		put_le32(p + 16 * i + 12, s[i].flags);
	}
	return do_req(f, type, 0, &d, n ? 1 : 0, 1);
}

static void test_discard(void **state)
{
	struct fixture *f = *state;
	const struct dwz_seg two[2] = {{8, 16, 0}, {1003, 5, 0}};

	image_fill(f, 0, IMAGE_SIZE, 1, 1);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, two, 2), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 8 * 512, 16 * 512, 0));
	assert_true(image_is(f, 1003 * 512, 5 * 512, 0));
	assert_true(image_matches_pattern(f, 0, 8 * 512, 1, 1));
	assert_false(image_is(f, 24 * 512, 512, 0));
	assert_false(image_is(f, 1002 * 512, 512, 0));
	assert_false(image_is(f, 1008 * 512, 512, 0));
	{
		struct stat st;

		assert_int_equal(fstat(f->fd, &st), 0);
		assert_int_equal(st.st_size, IMAGE_SIZE); /* KEEP_SIZE */
	}
}

static void test_discard_bad(void **state)
{
	struct fixture *f = *state;
	struct dwz_seg s = {0, 8, VIRTIO_BLK_WZ_F_UNMAP};
	struct dwz_seg many[VIRTIO_BLK_MAX_DISCARD_SEG + 1];
	unsigned int i;

	image_fill(f, 0, 8192, 1, 1);
	/* unmap is for WRITE_ZEROES only; unknown flags (5.2.6.2): UNSUPP. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_UNSUPP);
	s.flags = 2;
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_UNSUPP);
	s.flags = 0;
	s.sector = IMAGE_SECTORS - 4;
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_IOERR);
	s.sector = UINT64_MAX - 2; /* sector + sectors wraps */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_IOERR);
	s.sector = 0;
	s.sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS + 1;
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_IOERR);
	/* No segment, too many segments. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, NULL, 0), VIRTIO_BLK_S_IOERR);
	for (i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct dwz_seg){i, 1, 0};
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, many, ARRAY_SIZE(many)),
			 VIRTIO_BLK_S_IOERR);
	/* A partial segment. */
	{
		struct vqf_buf d = {SEG_GPA, 8, false};

		assert_int_equal(do_req(f, VIRTIO_BLK_T_DISCARD, 0, &d, 1, 1), VIRTIO_BLK_S_IOERR);
	}
	/* None of these touched the disk. */
	assert_true(image_matches_pattern(f, 0, 8192, 1, 1));
	/* The maximum number of segments is fine. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, many, VIRTIO_BLK_MAX_DISCARD_SEG),
			 VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 0, VIRTIO_BLK_MAX_DISCARD_SEG * 512, 0));
}

static void test_write_zeroes(void **state)
{
	struct fixture *f = *state;
	const struct dwz_seg plain = {100, 9, 0};
	const struct dwz_seg segs[2] = {{200, 8, VIRTIO_BLK_WZ_F_UNMAP}, {301, 3, 0}};
	struct dwz_seg bad = {0, 1, 4};

	image_fill(f, 0, IMAGE_SIZE, 1, 1);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &plain, 1), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 100 * 512, 9 * 512, 0));
	assert_false(image_is(f, 99 * 512, 512, 0));
	assert_false(image_is(f, 109 * 512, 512, 0));
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, segs, 2), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 200 * 512, 8 * 512, 0));
	assert_true(image_is(f, 301 * 512, 3 * 512, 0));
	assert_false(image_is(f, 208 * 512, 512, 0));
	assert_false(image_is(f, 300 * 512, 512, 0));
	assert_false(image_is(f, 304 * 512, 512, 0));
	/* Unknown flags: UNSUPP, nothing written. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &bad, 1), VIRTIO_BLK_S_UNSUPP);
	assert_false(image_is(f, 0, 512, 0));
	bad = (struct dwz_seg){IMAGE_SECTORS, 1, 0};
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &bad, 1), VIRTIO_BLK_S_IOERR);
}

/* On tmpfs, ZERO_RANGE is not supported: the device writes zeros itself. */
static void test_write_zeroes_fallback(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {0};
	const struct dwz_seg big = {16, 300, 0}, unmap = {400, 7, VIRTIO_BLK_WZ_F_UNMAP};
	char path[64] = "/dev/shm/lmig-test-blk.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		skip();
	close(f->fd);
	unlink(f->path);
	f->fd = fd;
	memcpy(f->path, path, sizeof(path));
	assert_int_equal(ftruncate(fd, IMAGE_SIZE), 0);
	o.path = f->path;
	start_device(f, &o, UINT64_MAX);
	image_fill(f, 0, IMAGE_SIZE, 1, 1);
	/* 150 KiB: more than the 64 KiB zero buffer, so several writes. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &big, 1), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 16 * 512, 300 * 512, 0));
	assert_false(image_is(f, 15 * 512, 512, 0));
	assert_false(image_is(f, 316 * 512, 512, 0));
	/* Twice, now that the device knows. */
	image_fill(f, 0, IMAGE_SIZE, 1, 1);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &big, 1), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 16 * 512, 300 * 512, 0));
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &unmap, 1), VIRTIO_BLK_S_OK);
	assert_true(image_is(f, 400 * 512, 7 * 512, 0));
	assert_false(image_is(f, 407 * 512, 512, 0));
}

static void test_dwz_not_negotiated(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {.path = f->path};
	const struct dwz_seg s = {0, 8, 0};

	assert_int_equal(make_device(f, &o), 0);
	f->t = virtio_blk_mmio(f->blk);
	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	vqf_driver_start(f->t,
			 all_features(f) & ~(VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
					     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)),
			 &f->q, 1);
	image_fill(f, 0, 4096, 1, 1);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1), VIRTIO_BLK_S_UNSUPP);
	assert_true(image_matches_pattern(f, 0, 4096, 1, 1));
}

/* ---- read-only ---- */

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {.path = f->path, .readonly = true};
	struct vqf_buf wr = {DATA_GPA, 1024, false}, rd = {DATA_GPA + 0x1000, 1024, true};
	const struct dwz_seg s = {0, 2, 0};

	image_fill(f, 0, IMAGE_SIZE, 5, 2);
	start_device(f, &o, UINT64_MAX);
	assert_true(all_features(f) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	memset(gptr(f, DATA_GPA, 1024), 0, 1024);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, &wr, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, &s, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1), VIRTIO_BLK_S_IOERR);
	assert_true(image_matches_pattern(f, 0, IMAGE_SIZE, 5, 2));
	/* Reads and flushes work. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 0, &rd, 1, 1025), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 0, 1024, 5, 2));
	{
		uint8_t *want = new_pattern(1024, 5, 2);

		assert_memory_equal(gptr(f, DATA_GPA + 0x1000, 1024), want, 1024);
		test_free(want);
	}
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}

/* ---- bad requests: IOERR, the device carries on ---- */

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf rd = {DATA_GPA, 512, true}, rd2 = {DATA_GPA, 1024, true};
	struct vqf_buf wr = {DATA_GPA, 512, false};

	/* Used length covers the whole writable part, status byte included. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS, &rd, 1, 513),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 1, &rd2, 1, 1025),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, IMAGE_SECTORS, &wr, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, IMAGE_SECTORS + 100, &wr, 1, 1),
			 VIRTIO_BLK_S_IOERR);
	/* An empty read at the very end is in range. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS, NULL, 0, 1), VIRTIO_BLK_S_OK);
}

static void test_sector_overflow(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf wr = {DATA_GPA, 512, false};

	fill_pattern(gptr(f, DATA_GPA, 512), 512, 1, 9);
	/* sector * 512 is 2^64: offset 0 if the device multiplied first. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 1ULL << 55, &wr, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, UINT64_MAX, &wr, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, UINT64_MAX - IMAGE_SECTORS, &wr, 1, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_true(image_is(f, 0, IMAGE_SIZE, 0));
}

static void test_length_not_sector_multiple(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf wr = {DATA_GPA, 100, false}, rd = {DATA_GPA, 513, true};
	struct vqf_buf halves[2] = {{DATA_GPA, 256, false}, {DATA_GPA + 0x1000, 256, false}};

	fill_pattern(gptr(f, DATA_GPA, 0x2000), 0x2000, 1, 9);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, &wr, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 0, &rd, 1, 514), VIRTIO_BLK_S_IOERR);
	assert_true(image_is(f, 0, 4096, 0));
	/* Segments need not be sector multiples, only their sum (without O_DIRECT). */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, halves, 2, 1), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 0, 256, 1, 9));
}

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	put_header(f, 0, VIRTIO_BLK_T_FLUSH, 0);
	head = vqf_add_chain(
		&f->q, (struct vqf_buf[]){{HDR_GPA(0), 8, false}, {STATUS_GPA(0), 1, true}}, 2);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1);
	assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_IOERR);
	/* Short, even with a type that would be answered UNSUPP. */
	put_header(f, 1, 99, 0);
	head = vqf_add_chain(
		&f->q, (struct vqf_buf[]){{HDR_GPA(1), 15, false}, {STATUS_GPA(1), 1, true}}, 2);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1);
	assert_int_equal(status_of(f, 1), VIRTIO_BLK_S_IOERR);
	/* No header at all. */
	head = vqf_add_chain(&f->q, (struct vqf_buf[]){{STATUS_GPA(1), 2, true}}, 1);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 2);
	assert_int_equal(status_of(f, 2), VIRTIO_BLK_S_IOERR);
	/* The device still works. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}

static void test_wrong_direction_sizes(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf extra_in[2] = {{DATA_GPA, 512, false}, {DATA_GPA + 0x1000, 512, true}};
	struct vqf_buf extra_out[2] = {{DATA_GPA, 512, false}, {DATA_GPA + 0x1000, 512, true}};

	/* A read with readable data, a write with writable data. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 0, extra_in, 2, 513), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, extra_out, 2, 513), VIRTIO_BLK_S_IOERR);
	assert_true(image_is(f, 0, 1024, 0));
}

static void test_unsupported_type(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf d = {DATA_GPA, 512, true};

	assert_int_equal(do_req(f, 99, 0, NULL, 0, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_LIFETIME, 0, &d, 1, 513), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_SECURE_ERASE, 0, NULL, 0, 1), VIRTIO_BLK_S_UNSUPP);
}

/* seg_max: 254 data segments are fine, 255 are refused. */
static void test_seg_max(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf bufs[256];
	unsigned int i;
	uint16_t head;

	fill_pattern(gptr(f, DATA_GPA, 255 * 512), 255 * 512, 1, 7);
	/* Header alone, 254 data buffers, status: 256 descriptors. */
	put_header(f, 0, VIRTIO_BLK_T_OUT, 0);
	bufs[0] = (struct vqf_buf){HDR_GPA(0), 16, false};
	for (i = 0; i < 254; i++)
		bufs[1 + i] = (struct vqf_buf){DATA_GPA + 512 * i, 512, false};
	bufs[255] = (struct vqf_buf){STATUS_GPA(0), 1, true};
	head = vqf_add_indirect(&f->q, BIG_TABLE_GPA, bufs, 256);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1);
	assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 0, 254 * 512, 1, 7));

	/* The header shares its buffer with the first sector: 255 data segments. */
	{
		uint8_t *p = gptr(f, DATA_GPA + 0x40000, 16 + 512);
		uint8_t st = STATUS_UNTOUCHED;

		memset(p, 0, 16);
		put_le32(p, VIRTIO_BLK_T_OUT);
		put_le32(p + 8, 1000);
		bufs[0] = (struct vqf_buf){DATA_GPA + 0x40000, 16 + 512, false};
		assert_int_equal(gmem_write(f->mem, STATUS_GPA(0), &st, 1), 0);
	}
	head = vqf_add_indirect(&f->q, BIG_TABLE_GPA, bufs, 256);
	vqf_publish(&f->q, head);
	kick_and_wait(f, 1);
	expect_used(f, head, 1);
	assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_IOERR);
	assert_true(image_is(f, 1000 * 512, 255 * 512, 0));
}

/* The image shrank behind the device's back: a short read, then end of file. */
static void test_image_shrank(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf rd = {DATA_GPA, 1024, true};

	image_fill(f, 0, IMAGE_SIZE, 1, 4);
	assert_int_equal(ftruncate(f->fd, IMAGE_SIZE - 512), 0);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 2, &rd, 1, 1025),
			 VIRTIO_BLK_S_IOERR);
	rd.len = 512;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 2, &rd, 1, 513),
			 VIRTIO_BLK_S_OK);
	{
		uint8_t *want = new_pattern(IMAGE_SIZE - 512, 1, 4);

		assert_memory_equal(gptr(f, DATA_GPA, 512), want + IMAGE_SIZE - 1024, 512);
		test_free(want);
	}
}

/* ---- merging adjacent reads and writes ---- */

static struct virtio_blk_stats stats(struct fixture *f)
{
	struct virtio_blk_stats st;

	virtio_blk_get_stats(f->blk, &st);
	return st;
}

/* Take every used entry there is; each must be OK. */
static void expect_all_ok(struct fixture *f, unsigned int n)
{
	unsigned int i;
	uint32_t id, len;

	for (i = 0; i < n; i++)
		assert_true(vqf_pop_used(&f->q, &id, &len));
	for (i = 0; i < n; i++)
		assert_int_equal(status_of(f, i), VIRTIO_BLK_S_OK);
}

/* 16 adjacent 4 KiB writes, then reads, made available together: one operation each way. */
static void test_merge_adjacent(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_stats before = stats(f), after;
	unsigned int k;

	for (k = 0; k < 16; k++) {
		struct vqf_buf d = {DATA_GPA + 4096ULL * k, 4096, false};

		fill_pattern(gptr(f, d.gpa, 4096), 4096, 3, k);
		add_req(f, k, VIRTIO_BLK_T_OUT, 100 + 8 * k, &d, 1, false);
	}
	kick_and_wait(f, 16);
	expect_all_ok(f, 16);
	after = stats(f);
	assert_int_equal(after.ops - before.ops, 1);
	assert_int_equal(after.merged_reqs - before.merged_reqs, 16);
	for (k = 0; k < 16; k++)
		assert_true(image_matches_pattern(f, (100 + 8 * k) * 512ULL, 4096, 3, k));

	memset(gptr(f, DATA_GPA, 0x100000), 0, 0x100000);
	before = after;
	for (k = 0; k < 16; k++) {
		struct vqf_buf d = {DATA_GPA + 0x10000ULL * k, 4096, true}; /* scattered buffers */

		add_req(f, k, VIRTIO_BLK_T_IN, 100 + 8 * k, &d, 1, true);
	}
	kick_and_wait(f, 16);
	expect_all_ok(f, 16);
	after = stats(f);
	assert_int_equal(after.ops - before.ops, 1);
	assert_int_equal(after.merged_reqs - before.merged_reqs, 16);
	for (k = 0; k < 16; k++) {
		uint8_t *want = new_pattern(4096, 3, k);

		assert_memory_equal(gptr(f, DATA_GPA + 0x10000ULL * k, 4096), want, 4096);
		test_free(want);
	}
}

/* What breaks a batch: a gap, another type, a flush in between. */
static void test_merge_boundaries(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_stats before = stats(f), after;
	struct vqf_buf w = {DATA_GPA, 4096, false}, r = {DATA_GPA + 0x10000, 4096, true};

	add_req(f, 0, VIRTIO_BLK_T_OUT, 0, &w, 1, false); /* merged with 1 */
	add_req(f, 1, VIRTIO_BLK_T_OUT, 8, &w, 1, false);
	add_req(f, 2, VIRTIO_BLK_T_IN, 16, &r, 1, false); /* another type */
	add_req(f, 3, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
	add_req(f, 4, VIRTIO_BLK_T_OUT, 24, &w, 1, false); /* after the flush */
	add_req(f, 5, VIRTIO_BLK_T_OUT, 40, &w, 1, false); /* a gap */
	add_req(f, 6, VIRTIO_BLK_T_OUT, 48, &w, 1, false); /* merged with 5 */
	kick_and_wait(f, 7);
	expect_all_ok(f, 7);
	after = stats(f);
	/* {0,1} {2} {flush} {4} {5,6} */
	assert_int_equal(after.ops - before.ops, 5);
	assert_int_equal(after.merged_ops - before.merged_ops, 2);
	assert_int_equal(after.merged_reqs - before.merged_reqs, 4);
}

/* A merged read that comes back short is split: each request on its own. */
static void test_merge_short_falls_back(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_stats before = stats(f), after;
	uint16_t heads[4];
	unsigned int k;
	uint32_t id, len;

	image_fill(f, 0, IMAGE_SIZE, 1, 9);
	assert_int_equal(ftruncate(f->fd, IMAGE_SIZE - 512), 0);
	for (k = 0; k < 4; k++) {
		struct vqf_buf d = {DATA_GPA + 512ULL * k, 512, true};

		heads[k] = add_req(f, k, VIRTIO_BLK_T_IN, IMAGE_SECTORS - 4 + k, &d, 1, false);
	}
	kick_and_wait(f, 4);
	for (k = 0; k < 4; k++) {
		assert_true(vqf_pop_used(&f->q, &id, &len));
		assert_true(id == heads[0] || id == heads[1] || id == heads[2] || id == heads[3]);
	}
	for (k = 0; k < 3; k++)
		assert_int_equal(status_of(f, k), VIRTIO_BLK_S_OK);
	assert_int_equal(status_of(f, 3), VIRTIO_BLK_S_IOERR); /* beyond the end of file */
	after = stats(f);
	assert_int_equal(after.merged_ops - before.merged_ops, 1);
	assert_int_equal(after.ops - before.ops, 1 + 4); /* the merge, then each alone */
	{
		uint8_t *want = new_pattern(IMAGE_SIZE, 1, 9);

		assert_memory_equal(gptr(f, DATA_GPA, 3 * 512), want + IMAGE_SIZE - 4 * 512,
				    3 * 512);
		test_free(want);
	}
}

/* ---- broken chains: the device needs a reset ---- */

static void expect_needs_reset(struct fixture *f)
{
	assert_true(vqf_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(vqf_read32(f->t, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	assert_int_equal(vqf_used_idx(&f->q), 0);
}

/* After a reset and a new initialisation the device works again. */
static void expect_recovers(struct fixture *f)
{
	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	assert_int_equal(vqf_driver_start(f->t, all_features(f), &f->q, 1),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}

static void test_status_not_writable(void **state)
{
	struct fixture *f = *state;
	struct vqf_buf bufs[3] = {
		{HDR_GPA(0), 16, false},
		{DATA_GPA, 512, false},
		{STATUS_GPA(0), 1, false}, /* the status byte, readable */
	};
	uint16_t head;

	put_header(f, 0, VIRTIO_BLK_T_OUT, 0);
	head = vqf_add_chain(&f->q, bufs, 3);
	vqf_publish(&f->q, head);
	virtio_mmio_queue_notify(f->t, 0);
	vqf_pump_idle(&f->w, 20);
	expect_needs_reset(f);
	assert_int_equal(status_of(f, 0), STATUS_UNTOUCHED);
	/* Ignored until the reset. */
	add_req(f, 1, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
	virtio_mmio_queue_notify(f->t, 0);
	vqf_pump_idle(&f->w, 20);
	assert_int_equal(vqf_used_idx(&f->q), 0);
	expect_recovers(f);
}

static void test_malformed_chain(void **state)
{
	struct fixture *f = *state;

	/* Descriptors 0 -> 1 -> 0: a loop. */
	put_header(f, 0, VIRTIO_BLK_T_FLUSH, 0);
	vqf_set_desc(&f->q, 0, HDR_GPA(0), 16, VIRTQ_DESC_F_NEXT, 1);
	vqf_set_desc(&f->q, 1, HDR_GPA(1), 16, VIRTQ_DESC_F_NEXT, 0);
	vqf_publish(&f->q, 0);
	virtio_mmio_queue_notify(f->t, 0);
	vqf_pump_idle(&f->w, 20);
	expect_needs_reset(f);
	assert_int_equal(status_of(f, 0), STATUS_UNTOUCHED);
	expect_recovers(f);

	/* A buffer outside guest RAM. */
	f->q.next_desc = 0;
	vqf_set_desc(&f->q, 0, HDR_GPA(0), 16, VIRTQ_DESC_F_NEXT, 1);
	vqf_set_desc(&f->q, 1, MEM_SIZE - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	vqf_set_desc(&f->q, 2, STATUS_GPA(0), 1, VIRTQ_DESC_F_WRITE, 0);
	vqf_publish(&f->q, 0);
	virtio_mmio_queue_notify(f->t, 0);
	vqf_pump_idle(&f->w, 20);
	assert_true(vqf_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vqf_used_idx(&f->q), 1); /* only the flush of expect_recovers() */
	expect_recovers(f);
}

/* Reset while every slot has a read in flight; their completions must not reach the new rings. */
static void test_reset_with_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	uint64_t features = all_features(f) & ~VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
	unsigned int k;
	uint16_t head;

	image_fill(f, 0, IMAGE_SIZE, 3, 3);
	for (k = 0; k < QSIZE; k++) {
		struct vqf_buf d = {DATA_GPA + 4096ULL * k, 4096, true};

		add_req(f, k, VIRTIO_BLK_T_IN, 8 * k % IMAGE_SECTORS, &d, 1, true);
	}
	virtio_mmio_queue_notify(f->t, 0); /* all 256 submitted; nothing reaped */

	vqf_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_STATUS), 0);
	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	assert_int_equal(vqf_driver_start(f->t, features, &f->q, 1),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	for (k = 0; k < QSIZE; k++)
		assert_int_equal(status_of(f, k), STATUS_UNTOUCHED);

	/* The pool is full of old requests: the new one waits for a slot. */
	{
		struct vqf_buf d = {DATA_GPA + 0x200000, 512, true};

		head = add_req(f, 300, VIRTIO_BLK_T_IN, 0, &d, 1, false);
	}
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(vqf_used_idx(&f->q), 0);
	assert_int_equal(vqf_used_flags(&f->q), VIRTQ_USED_F_NO_NOTIFY);
	/* The old completions free slots; the new request goes through, alone. */
	vqf_pump_until_used(&f->w, &f->q, 1, WAIT_MS);
	vqf_pump_idle(&f->w, 50);
	expect_used(f, head, 513);
	assert_int_equal(vqf_used_idx(&f->q), 1);
	assert_int_equal(status_of(f, 300), VIRTIO_BLK_S_OK);
	assert_int_equal(vqf_used_flags(&f->q), 0); /* notifications wanted again */
	for (k = 0; k < QSIZE; k++)
		assert_int_equal(status_of(f, k), STATUS_UNTOUCHED);
	/* And the pool is whole again: 256 at once. */
	for (k = 0; k < QSIZE; k++) {
		struct vqf_buf d = {DATA_GPA + 4096ULL * k, 512, true};

		add_req(f, k, VIRTIO_BLK_T_IN, k, &d, 1, true);
	}
	kick_and_wait(f, QSIZE);
	for (k = 0; k < QSIZE; k++)
		assert_int_equal(status_of(f, k), VIRTIO_BLK_S_OK);
}

/* Destroying the device with I/O in flight waits for it (ASan / valgrind check the rest). */
static void test_destroy_with_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	unsigned int k;

	for (k = 0; k < 64; k++) {
		struct vqf_buf d = {DATA_GPA + 4096ULL * k, 4096, k % 2 == 0};

		add_req(f, k, k % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 8 * k, &d, 1, true);
	}
	add_req(f, 64, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, true);
	virtio_mmio_queue_notify(f->t, 0);
	/* teardown destroys the device now */
}

/* ---- interrupt suppression ---- */

static void test_event_idx(void **state)
{
	struct fixture *f = *state;
	unsigned int irqs;

	/* The first used buffer always interrupts. */
	irqs = f->owner.irqs;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->owner.irqs, irqs + 1);
	/* The device asks for a kick at the next entry it has not taken. */
	assert_int_equal(vqf_avail_event(&f->q), 1);
	/* used_event 5: the driver wants an interrupt once entry 5 is used. */
	vqf_set_used_event(&f->q, 5);
	irqs = f->owner.irqs;
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->owner.irqs, irqs);
	assert_int_equal(vqf_avail_event(&f->q), 3);
	/* used_event 3: the next entry (index 3) interrupts. */
	vqf_set_used_event(&f->q, 3);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->owner.irqs, irqs + 1);
	assert_true(vqf_read32(f->t, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_VRING);
	/* No used-ring flags with EVENT_IDX. */
	assert_int_equal(vqf_used_flags(&f->q), 0);
}

static void test_no_interrupt_flag(void **state)
{
	struct fixture *f = *state;
	unsigned int irqs;

	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	vqf_driver_start(f->t, all_features(f) & ~VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX), &f->q, 1);
	irqs = f->owner.irqs;
	vqf_set_avail_flags(&f->q, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->owner.irqs, irqs);
	vqf_set_avail_flags(&f->q, 0);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->owner.irqs, irqs + 1);
}

/* ---- O_DIRECT ---- */

static void test_direct(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {.path = f->path, .direct = true};
	struct vqf_buf wr = {DATA_GPA, 4096, false}, rd = {DATA_GPA + 0x10000, 4096, true};
	struct vqf_buf odd = {DATA_GPA + 1, 512, false};
	struct vqf_buf halves[2] = {{DATA_GPA, 256, false}, {DATA_GPA + 0x1000, 256, false}};
	int r = make_device(f, &o);

	if (r == -EINVAL)
		skip(); /* no O_DIRECT on this file system */
	assert_int_equal(r, 0);
	f->t = virtio_blk_mmio(f->blk);
	vqf_init(&f->q, f->mem, RING_GPA, QSIZE);
	vqf_driver_start(f->t, all_features(f), &f->q, 1);

	fill_pattern(gptr(f, DATA_GPA, 4096), 4096, 11, 1);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 64, &wr, 1, 1), VIRTIO_BLK_S_OK);
	assert_true(image_matches_pattern(f, 64 * 512, 4096, 11, 1));
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 64, &rd, 1, 4097), VIRTIO_BLK_S_OK);
	assert_memory_equal(gptr(f, DATA_GPA + 0x10000, 4096), gptr(f, DATA_GPA, 4096), 4096);
	/* Misaligned guest buffers: IOERR, no bounce buffer. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, &odd, 1, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0, halves, 2, 1), VIRTIO_BLK_S_IOERR);
	assert_true(image_is(f, 0, 4096, 0));
}

/* ---- create errors ---- */

static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = {.path = "/nonexistent/lmig-disk.img"};
	unsigned int fds = f->w.nr_fds;
	char dir[] = "/tmp/lmig-test-blk-dir.XXXXXX";

	f->blk = (struct virtio_blk *)f; /* must be cleared */
	assert_int_equal(make_device(f, &o), -ENOENT);
	assert_null(f->blk);
	assert_mentions(f->err, "disk '/nonexistent/lmig-disk.img'", "No such file or directory",
			NULL);

	assert_int_equal(ftruncate(f->fd, 1000), 0);
	o.path = f->path;
	assert_int_equal(make_device(f, &o), -EINVAL);
	assert_mentions(f->err, f->path, "1000", "multiple of 512", NULL);
	o.readonly = true;
	assert_int_equal(make_device(f, &o), -EINVAL);

	assert_non_null(mkdtemp(dir));
	o.path = dir;
	o.readonly = false;
	assert_int_equal(make_device(f, &o), -EISDIR);
	assert_mentions(f->err, dir, "Is a directory", NULL);
	o.readonly = true;
	assert_int_equal(make_device(f, &o), -EINVAL);
	assert_mentions(f->err, dir, "not a regular file or block device", NULL);
	rmdir(dir);

	o.path = "/dev/null"; /* a character device */
	assert_int_equal(make_device(f, &o), -EINVAL);
	assert_mentions(f->err, "/dev/null", "not a regular file", NULL);
	assert_null(f->blk);
	assert_int_equal(f->w.nr_fds, fds); /* nothing left registered */

	/* An empty image is a disk of 0 sectors. */
	assert_int_equal(ftruncate(f->fd, 0), 0);
	o.path = f->path;
	o.readonly = false;
	assert_int_equal(make_device(f, &o), 0);
	assert_int_equal(virtio_blk_capacity(f->blk), 0);
	assert_int_equal(f->w.nr_fds, fds + 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T_IMAGE(fn) cmocka_unit_test_setup_teardown(fn, setup_image, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_space),
		T(test_features),
		T(test_write_then_read),
		T(test_multi_segment_and_indirect),
		T(test_any_framing),
		T(test_many_in_flight),
		T(test_flush),
		T(test_get_id),
		T_IMAGE(test_get_id_long_and_no_serial),
		T(test_discard),
		T(test_discard_bad),
		T(test_write_zeroes),
		T_IMAGE(test_write_zeroes_fallback),
		T_IMAGE(test_dwz_not_negotiated),
		T_IMAGE(test_readonly),
		T(test_out_of_range),
		T(test_sector_overflow),
		T(test_length_not_sector_multiple),
		T(test_short_header),
		T(test_wrong_direction_sizes),
		T(test_unsupported_type),
		T(test_seg_max),
		T(test_image_shrank),
		T(test_merge_adjacent),
		T(test_merge_boundaries),
		T(test_merge_short_falls_back),
		T(test_status_not_writable),
		T(test_malformed_chain),
		T(test_reset_with_requests_in_flight),
		T(test_destroy_with_requests_in_flight),
		T(test_event_idx),
		T(test_no_interrupt_flag),
		T_IMAGE(test_direct),
		T_IMAGE(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
