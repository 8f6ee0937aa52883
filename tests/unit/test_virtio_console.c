// SPDX-License-Identifier: MIT
/*
 * Unit tests for virtio-console: a fake driver lays out the two split
 * virtqueues in mapped guest memory, drives the virtio-mmio registers as
 * Linux does, and checks what reaches the file, socket client or pty, and
 * what lands in the receive buffers. The device's worker is pumped by hand
 * (common/virtq_fixture), except in one test that runs the real worker
 * thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/fixtures.h"
#include "common/virtq_fixture.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/queue.h"
#include "vmm/log.h"
#include "vmm/worker.h"

#define GUEST_RAM (8ULL << 20)
#define QSIZE 16
/*
 * Guest RAM: rings from RING_AREA (0x4000 per driver start: the receiveq,
 * then the transmitq at +0x2000), indirect tables from INDIRECT_BASE,
 * buffers from BUF_BASE.
 */
#define RING_AREA 0x10000ULL
#define INDIRECT_BASE 0x38000ULL
#define BUF_BASE 0x40000ULL
#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ

struct fx {
	struct gmem *gm;
	struct worker w;
	bool worker_started;
	struct virtio_console *c;
	struct virtio_mmio *t;
	struct vqf_owner owner; /* counts interrupts and kicks */
	struct vqf q[2];
	uint64_t ring_base; /* moves on when a test re-initialises the driver */
	uint64_t next_buf, next_indirect;
	char dir[64];
	char path[128];
	char err[256];
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->gm = try_new_gmem(GUEST_RAM);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vcon-test-XXXXXX");
	if (!f->gm || !mkdtemp(f->dir) || worker_init(&f->w, "vcon-test")) {
		if (f->gm)
			free_gmem(f->gm);
		test_free(f);
		return -1;
	}
	f->ring_base = RING_AREA;
	f->next_buf = BUF_BASE;
	f->next_indirect = INDIRECT_BASE;
	*state = f;
	return 0;
}

/* Remove the test's directory and the files the tests made in it (no subdirectories). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	if (rmdir(dir) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(errno));
}

static int teardown(void **state)
{
	struct fx *f = *state;

	worker_destroy(&f->w); /* first: the worker must be stopped before destroy */
	virtio_console_destroy(f->c);
	remove_dir(f->dir);
	free_gmem(f->gm);
	test_free(f);
	return 0;
}

/* ---- guest memory ---- */

static uint8_t *host(struct fx *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_ptr(f->gm, gpa, len);

	assert_non_null(p);
	return p;
}

static uint64_t gbuf(struct fx *f, uint32_t len)
{
	uint64_t gpa = f->next_buf;

	f->next_buf = (f->next_buf + len + 15) & ~15ULL;
	assert_true(f->next_buf <= GUEST_RAM);
	return gpa;
}

/* ---- registers ---- */

static void w32(struct fx *f, uint64_t off, uint32_t v)
{
	vqf_write32(f->t, off, v);
}

static uint32_t r32(struct fx *f, uint64_t off)
{
	return vqf_read32(f->t, off);
}

static uint16_t used_idx(struct fx *f, unsigned int q)
{
	return vqf_used_idx(&f->q[q]);
}

/* The next used entry of queue q must be {id, len}. */
static void expect_used(struct fx *f, unsigned int q, uint32_t want_id, uint32_t want_len)
{
	uint32_t id, len;

	if (!vqf_pop_used(&f->q[q], &id, &len))
		fail_msg("queue %u: no used entry (used index %u)", q, used_idx(f, q));
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

/*
 * The driver's initialisation sequence with the given features, on fresh
 * rings (placed after the previous ones, so a reset driver cannot reuse
 * them by accident).
 */
static void driver_init(struct fx *f, uint64_t features)
{
	unsigned int kicks = f->owner.kicks;

	vqf_init(&f->q[RXQ], f->gm, f->ring_base, QSIZE);
	vqf_init(&f->q[TXQ], f->gm, f->ring_base + 0x2000, QSIZE);
	f->ring_base += 0x4000;
	assert_true(f->ring_base <= INDIRECT_BASE);
	assert_int_equal(vqf_driver_start(f->t, features, f->q, 2) &
				 ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET,
			 0x0f);
	/* DRIVER_OK has the worker look at both queues once. */
	assert_int_equal(f->owner.kicks, kicks + 2);
}

#define ALL_FEATURES                                                                               \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |                    \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

/* Put a chain of buffers on queue q (through an indirect table if asked). Returns its head. */
static uint16_t add_chain(struct fx *f, unsigned int q, const struct vqf_buf *bufs, unsigned int n,
			  bool indirect)
{
	uint16_t head;

	if (indirect) {
		head = vqf_add_indirect(&f->q[q], f->next_indirect, bufs, n);
		f->next_indirect += 16 * n;
		assert_true(f->next_indirect <= BUF_BASE);
	} else {
		head = vqf_add_chain(&f->q[q], bufs, n);
	}
	vqf_publish(&f->q[q], head);
	return head;
}

/* A transmit chain carrying data[0..len) split into nsegs readable buffers. */
static uint16_t tx_chain(struct fx *f, const void *data, uint32_t len, unsigned int nsegs,
			 bool indirect)
{
	struct vqf_buf segs[8];
	uint32_t off = 0;
	unsigned int i;

	assert_true(nsegs >= 1 && nsegs <= ARRAY_SIZE(segs));
	for (i = 0; i < nsegs; i++) {
		uint32_t n = i + 1 < nsegs ? len / nsegs : len - off;

		segs[i] = (struct vqf_buf){.gpa = gbuf(f, n), .len = n};
		memcpy(host(f, segs[i].gpa, n), (const uint8_t *)data + off, n);
		off += n;
	}
	return add_chain(f, TXQ, segs, nsegs, indirect);
}

/* A receive buffer of len bytes, filled with 0xee; returns its address. */
static uint64_t rx_buf(struct fx *f, uint32_t len, uint16_t *head)
{
	struct vqf_buf s = {.gpa = gbuf(f, len), .len = len, .write = true};

	memset(host(f, s.gpa, len), 0xee, len);
	*head = add_chain(f, RXQ, &s, 1, false);
	return s.gpa;
}

/* ---- the worker, pumped by hand ---- */

static int pump(struct fx *f, int timeout_ms)
{
	return vqf_pump(&f->w, timeout_ms);
}

static void pump_idle(struct fx *f)
{
	vqf_pump_idle(&f->w, 10);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pump (or, with the real worker, wait) until queue q's used index reaches want. */
static void wait_used(struct fx *f, unsigned int q, uint16_t want)
{
	double end = now() + 5;

	while (used_idx(f, q) != want) {
		if (now() > end)
			fail_msg("queue %u: used index %u, expected %u", q, used_idx(f, q), want);
		if (f->worker_started)
			usleep(1000);
		else
			pump(f, 10);
	}
}

/* Read exactly len bytes from fd (non-blocking), pumping the device meanwhile. */
static void read_exact(struct fx *f, int fd, uint8_t *buf, size_t len)
{
	double end = now() + 5;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			fail_msg("EOF after %zu of %zu bytes", got, len);
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		if (now() > end)
			fail_msg("only %zu of %zu bytes arrived", got, len);
		if (f->worker_started)
			usleep(1000);
		else
			pump(f, 10);
	}
}

/* Nothing more to read from fd within a short while. */
static void expect_no_more(struct fx *f, int fd)
{
	uint8_t b;

	pump_idle(f);
	assert_int_equal(read(fd, &b, 1), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* ---- creating the device ---- */

static void create(struct fx *f, enum virtio_console_backend b, const char *leaf)
{
	struct virtio_console_opts o = {.backend = b};
	int r;

	if (leaf) {
		snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, leaf);
		o.path = f->path;
	}
	r = virtio_console_create(&f->c, &o, "virtio-console0", f->gm, &f->w, &vqf_owner_ops,
				  &f->owner, f->err, sizeof(f->err));
	if (r)
		fail_msg("create failed: %s", f->err);
	f->t = virtio_console_mmio(f->c);
	assert_non_null(f->t);
}

static void set_sun_path(struct sockaddr_un *sa, const char *path)
{
	assert_true(strlen(path) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

static int client_connect(struct fx *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	set_sun_path(&sa, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void send_all(int fd, const void *p, size_t len)
{
	assert_int_equal(write(fd, p, len), (ssize_t)len);
}

/* Wait until fd reports EOF (the device closed it). */
static void expect_eof(struct fx *f, int fd)
{
	double end = now() + 5;
	uint8_t b;

	for (;;) {
		ssize_t n = read(fd, &b, 1);

		if (n == 0)
			return;
		assert_true(n < 0 && errno == EAGAIN);
		if (now() > end)
			fail_msg("the device did not close the client");
		pump(f, 10);
	}
}

static void read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	assert_true(n >= 0);
	*len = (size_t)n;
	close(fd);
}

static void expect_needs_reset(struct fx *f)
{
	assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
}

/* ---- tests ---- */

static void test_identity_features_config(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[16];
	uint32_t lo, hi;
	unsigned int i;

	create(f, VIRTIO_CONSOLE_FILE, "out");
	assert_null(virtio_console_pty_path(f->c));
	assert_int_equal(r32(f, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(r32(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
	w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_int_equal(((uint64_t)hi << 32 | lo), ALL_FEATURES);
	/* One port: the receiveq and the transmitq, nothing behind them. */
	for (i = 0; i < 2; i++) {
		w32(f, VIRTIO_MMIO_QUEUE_SEL, i);
		assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	}
	w32(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* The configuration space reads as zeros, at any width; writes are ignored. */
	memset(cfg, 0x5a, sizeof(cfg));
	virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG, cfg, 4);
	virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG + 8, cfg, 4);
	for (i = 0; i < 12; i++) {
		cfg[0] = 0xa5;
		virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + i, cfg, 1);
		assert_int_equal(cfg[0], 0);
	}
	memset(cfg, 0xa5, sizeof(cfg));
	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG, cfg, 8);
	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + 8, cfg + 8, 4);
	for (i = 0; i < 12; i++)
		assert_int_equal(cfg[i], 0);
}

static void append(uint8_t *buf, size_t *len, const void *p, size_t n)
{
	memcpy(buf + *len, p, n);
	*len += n;
}

static void test_file_tx_in_order(void **state)
{
	struct fx *f = *state;
	uint8_t *big = new_pattern(20000, 7, 1), want[32768], got[32768];
	uint16_t heads[5], rx_head;
	const char *a = "one segment|", *b = "three segments, direct|", *c = "three, indirect|";
	size_t wlen = 0, glen;
	uint64_t rx;
	int i;

	create(f, VIRTIO_CONSOLE_FILE, "out");
	driver_init(f, ALL_FEATURES);
	heads[0] = tx_chain(f, a, (uint32_t)strlen(a), 1, false);
	heads[1] = tx_chain(f, b, (uint32_t)strlen(b), 3, false);
	heads[2] = tx_chain(f, c, (uint32_t)strlen(c), 3, true);
	heads[3] = tx_chain(f, big, 20000, 5, true);
	heads[4] = tx_chain(f, "!", 1, 1, false);
	append(want, &wlen, a, strlen(a));
	append(want, &wlen, b, strlen(b));
	append(want, &wlen, c, strlen(c));
	append(want, &wlen, big, 20000);
	append(want, &wlen, "!", 1);
	/* A receive buffer: the FILE back end never fills it. */
	rx = rx_buf(f, 64, &rx_head);

	virtio_mmio_queue_notify(f->t, TXQ);
	virtio_mmio_queue_notify(f->t, RXQ);
	pump_idle(f);

	assert_int_equal(used_idx(f, TXQ), 5);
	for (i = 0; i < 5; i++) {
		expect_used(f, TXQ, heads[i], 0);
	}
	assert_true(f->owner.irqs >= 1);
	assert_true(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_VRING);
	/* EVENT_IDX: after draining, the device asks for a kick on the next entry. */
	assert_int_equal(vqf_avail_event(&f->q[TXQ]), 5);
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(host(f, rx, 1)[0], 0xee);
	assert_int_equal(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);

	/* More later, after an interrupt acknowledgement, and without EVENT_IDX. */
	w32(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	driver_init(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	tx_chain(f, "tail", 4, 2, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	assert_int_equal(used_idx(f, TXQ), 1);
	/* Notifications are back on once the ring is empty. */
	assert_int_equal(vqf_used_flags(&f->q[TXQ]) & VIRTQ_USED_F_NO_NOTIFY, 0);
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, wlen + 4);
	assert_memory_equal(got + wlen, "tail", 4);
	test_free(big);
}

static void test_file_create_truncates(void **state)
{
	struct fx *f = *state;
	uint8_t got[64];
	size_t glen;
	FILE *fp;

	snprintf(f->path, sizeof(f->path), "%s/out", f->dir);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("old contents that must go", fp);
	fclose(fp);
	create(f, VIRTIO_CONSOLE_FILE, "out");
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, 0);
}

static void test_socket_tx_waits_for_client(void **state)
{
	struct fx *f = *state;
	uint8_t got[64];
	uint16_t rx_head;
	uint64_t rx;
	int c1, c2, c3;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	tx_chain(f, "before ", 7, 2, false);
	tx_chain(f, "connect", 7, 1, true);
	virtio_mmio_queue_notify(f->t, TXQ);
	pump_idle(f);
	/* No client: the chains stay in the ring. */
	assert_int_equal(used_idx(f, TXQ), 0);
	assert_int_equal(f->owner.irqs, 0);

	c1 = client_connect(f);
	read_exact(f, c1, got, 14);
	assert_memory_equal(got, "before connect", 14);
	wait_used(f, TXQ, 2);
	expect_no_more(f, c1);

	/* A second client is closed at once; the first keeps working. */
	c2 = client_connect(f);
	expect_eof(f, c2);
	close(c2);

	rx = rx_buf(f, 32, &rx_head);
	virtio_mmio_queue_notify(f->t, RXQ);
	send_all(c1, "typed", 5);
	wait_used(f, RXQ, 1);
	expect_used(f, RXQ, rx_head, 5);
	assert_memory_equal(host(f, rx, 6), "typed\xee", 6);

	/* The first client leaves; output waits again, then goes to the next client. */
	close(c1);
	pump_idle(f);
	tx_chain(f, "for the next one", 16, 3, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	pump_idle(f);
	assert_int_equal(used_idx(f, TXQ), 2);
	c3 = client_connect(f);
	read_exact(f, c3, got, 16);
	assert_memory_equal(got, "for the next one", 16);
	wait_used(f, TXQ, 3);
	close(c3);
}

static void test_socket_rx_waits_for_buffers(void **state)
{
	struct fx *f = *state;
	uint8_t *msg = new_pattern(100, 3, 5);
	uint16_t h1, h2;
	uint64_t b1, b2;
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	send_all(c, msg, 100);
	pump_idle(f);
	/* No receive buffers: nothing is used and nothing is lost. */
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(f->owner.irqs, 0);

	b1 = rx_buf(f, 64, &h1);
	b2 = rx_buf(f, 64, &h2);
	virtio_mmio_queue_notify(f->t, RXQ);
	wait_used(f, RXQ, 2);
	expect_used(f, RXQ, h1, 64);
	expect_used(f, RXQ, h2, 36);
	assert_memory_equal(host(f, b1, 64), msg, 64);
	assert_memory_equal(host(f, b2, 36), msg + 64, 36);
	assert_int_equal(host(f, b2, 37)[36], 0xee);
	assert_true(f->owner.irqs >= 1);

	/* A multi-buffer receive chain is filled across its buffers. */
	{
		struct vqf_buf s[2] = {{.gpa = gbuf(f, 3), .len = 3, .write = true},
				       {.gpa = gbuf(f, 10), .len = 10, .write = true}};
		uint16_t h = add_chain(f, RXQ, s, 2, true);

		virtio_mmio_queue_notify(f->t, RXQ);
		send_all(c, "abcdefgh", 8);
		wait_used(f, RXQ, 3);
		expect_used(f, RXQ, h, 8);
		assert_memory_equal(host(f, s[0].gpa, 3), "abc", 3);
		assert_memory_equal(host(f, s[1].gpa, 5), "defgh", 5);
	}
	close(c);
	test_free(msg);
}

static void test_socket_hangup_without_buffers(void **state)
{
	struct fx *f = *state;
	uint8_t got[8];
	int c1, c2;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c1 = client_connect(f);
	pump_idle(f);
	send_all(c1, "lost", 4);
	close(c1);
	/* Its EOF cannot be read (no buffers), but it must not keep the place taken. */
	pump_idle(f);
	c2 = client_connect(f);
	pump_idle(f); /* accepted now, before any output could show c1 is gone */
	tx_chain(f, "hello", 5, 1, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	read_exact(f, c2, got, 5);
	assert_memory_equal(got, "hello", 5);
	close(c2);
}

static void test_socket_backpressure(void **state)
{
	struct fx *f = *state;
	enum { CHAINS = 6, CHUNK = 160 * 1024 };
	uint8_t *want = new_pattern((size_t)CHAINS * CHUNK, 13, 7);
	uint8_t *got = test_malloc((size_t)CHAINS * CHUNK);
	uint16_t i, heads[CHAINS];
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	for (i = 0; i < CHAINS; i++)
		heads[i] = tx_chain(f, want + (size_t)i * CHUNK, CHUNK, 4, i % 2);
	virtio_mmio_queue_notify(f->t, TXQ);
	pump_idle(f);
	/* The client does not read: the socket fills up, the device waits. */
	assert_true(used_idx(f, TXQ) < CHAINS);
	read_exact(f, c, got, (size_t)CHAINS * CHUNK);
	assert_memory_equal(got, want, (size_t)CHAINS * CHUNK);
	wait_used(f, TXQ, CHAINS);
	for (i = 0; i < CHAINS; i++)
		expect_used(f, TXQ, heads[i], 0);
	expect_no_more(f, c);
	close(c);
	test_free(got);
	test_free(want);
}

static void test_pty_both_ways(void **state)
{
	struct fx *f = *state;
	/* Bytes a cooked terminal would change: CR, LF, ^C, ^D, DEL, NUL. */
	static const uint8_t out[] = {'o', 'k', '\r', '\n', 0x03, 0x04, 0x7f, 0x00, 0xff, '\n'};
	static const uint8_t in[] = {'l', 's', '\r', 0x03, 0x04, 0x1a, 0x7f, 0x00, '\n', 0x11};
	const char *slave_path;
	uint8_t got[sizeof(out)];
	uint16_t head;
	uint64_t rx;
	int s;

	create(f, VIRTIO_CONSOLE_PTY, NULL);
	slave_path = virtio_console_pty_path(f->c);
	assert_non_null(slave_path);
	assert_true(strncmp(slave_path, "/dev/pts/", 9) == 0);
	s = open(slave_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	assert_true(s >= 0);
	driver_init(f, ALL_FEATURES);

	tx_chain(f, out, sizeof(out), 3, true);
	virtio_mmio_queue_notify(f->t, TXQ);
	read_exact(f, s, got, sizeof(out));
	assert_memory_equal(got, out, sizeof(out));
	wait_used(f, TXQ, 1);
	expect_no_more(f, s);

	rx = rx_buf(f, 64, &head);
	virtio_mmio_queue_notify(f->t, RXQ);
	send_all(s, in, sizeof(in));
	wait_used(f, RXQ, 1);
	expect_used(f, RXQ, head, sizeof(in));
	assert_memory_equal(host(f, rx, sizeof(in)), in, sizeof(in));
	close(s);
}

static void test_malformed_chain_needs_reset(void **state)
{
	struct fx *f = *state;
	uint8_t got[16];
	size_t glen;
	unsigned int irqs;

	create(f, VIRTIO_CONSOLE_FILE, "out");
	driver_init(f, ALL_FEATURES);
	/* Descriptors 0 -> 1 -> 0: a loop. */
	vqf_set_desc(&f->q[TXQ], 0, gbuf(f, 4), 4, VIRTQ_DESC_F_NEXT, 1);
	vqf_set_desc(&f->q[TXQ], 1, gbuf(f, 4), 4, VIRTQ_DESC_F_NEXT, 0);
	vqf_publish(&f->q[TXQ], 0);
	irqs = f->owner.irqs;
	virtio_mmio_queue_notify(f->t, TXQ);
	expect_needs_reset(f);
	assert_int_equal(f->owner.irqs, irqs + 1);
	assert_int_equal(used_idx(f, TXQ), 0);
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, 0);

	/* After a reset the device works again. */
	driver_init(f, ALL_FEATURES);
	assert_int_equal(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tx_chain(f, "again", 5, 1, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	assert_int_equal(used_idx(f, TXQ), 1);
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, 5);
	assert_memory_equal(got, "again", 5);
}

static void test_writable_tx_descriptor_needs_reset(void **state)
{
	struct fx *f = *state;
	struct vqf_buf s[2];
	uint8_t got[16];
	size_t glen;

	create(f, VIRTIO_CONSOLE_FILE, "out");
	driver_init(f, ALL_FEATURES);
	tx_chain(f, "fine", 4, 1, false);
	s[0] = (struct vqf_buf){.gpa = gbuf(f, 4), .len = 4};
	s[1] = (struct vqf_buf){.gpa = gbuf(f, 4), .len = 4, .write = true};
	memcpy(host(f, s[0].gpa, 4), "evil", 4);
	add_chain(f, TXQ, s, 2, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	expect_needs_reset(f);
	/* The chain before the bad one went out; the bad one did not. */
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, 4);
	assert_memory_equal(got, "fine", 4);
	/* A failed device ignores notifications until reset. */
	tx_chain(f, "late", 4, 1, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	read_file(f->path, got, sizeof(got), &glen);
	assert_int_equal(glen, 4);
}

static void test_readable_rx_descriptor_needs_reset(void **state)
{
	struct fx *f = *state;
	struct vqf_buf s = {.len = 8};
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	s.gpa = gbuf(f, 8);
	add_chain(f, RXQ, &s, 1, false);
	virtio_mmio_queue_notify(f->t, RXQ);
	expect_needs_reset(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	close(c);
}

static void test_malformed_rx_ring_needs_reset(void **state)
{
	struct fx *f = *state;
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	/* The available index runs more than a queue's worth ahead. */
	vqf_set_avail_idx(&f->q[RXQ], QSIZE + 1);
	virtio_mmio_queue_notify(f->t, RXQ);
	expect_needs_reset(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	close(c);
}

static void test_bad_indirect_needs_reset(void **state)
{
	struct fx *f = *state;

	create(f, VIRTIO_CONSOLE_FILE, "out");
	/* An indirect table that runs off the end of guest RAM. */
	driver_init(f, ALL_FEATURES);
	vqf_set_desc(&f->q[TXQ], 0, GUEST_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	vqf_publish(&f->q[TXQ], 0);
	virtio_mmio_queue_notify(f->t, TXQ);
	expect_needs_reset(f);
	/* A good indirect table, but INDIRECT_DESC was not negotiated. */
	driver_init(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
	vqf_set_desc(&f->q[TXQ], 0, INDIRECT_BASE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	vqf_publish(&f->q[TXQ], 0);
	virtio_mmio_queue_notify(f->t, TXQ);
	expect_needs_reset(f);
	assert_int_equal(used_idx(f, TXQ), 0);
}

static void test_reset_drops_held_rx_chain(void **state)
{
	struct fx *f = *state;
	uint16_t h_old, h_new;
	uint64_t old, fresh;
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	/* The device takes this buffer and, with no input yet, holds on to it. */
	old = rx_buf(f, 16, &h_old);
	virtio_mmio_queue_notify(f->t, RXQ);
	pump_idle(f);
	assert_int_equal(used_idx(f, RXQ), 0);

	/* The driver resets and starts over with new rings; the old buffer is gone. */
	driver_init(f, ALL_FEATURES);
	send_all(c, "after", 5);
	pump_idle(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(host(f, old, 1)[0], 0xee);
	fresh = rx_buf(f, 16, &h_new);
	virtio_mmio_queue_notify(f->t, RXQ);
	wait_used(f, RXQ, 1);
	expect_used(f, RXQ, h_new, 5);
	assert_memory_equal(host(f, fresh, 5), "after", 5);
	assert_int_equal(host(f, old, 1)[0], 0xee);
	(void)h_old;
	close(c);
}

static void test_reset_drops_held_tx_chain(void **state)
{
	struct fx *f = *state;
	enum { BIG = 1024 * 1024 };
	uint8_t *old = new_pattern(BIG, 5, 3), *got = test_malloc(BIG + 3);
	size_t n = 0;
	uint16_t head;
	int c;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	c = client_connect(f);
	pump_idle(f);
	/* More than the socket takes: the device keeps the chain, part written. */
	tx_chain(f, old, BIG, 4, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	pump_idle(f);
	assert_int_equal(used_idx(f, TXQ), 0);

	/* The driver resets: the rest of that chain must not follow. */
	driver_init(f, ALL_FEATURES);
	head = tx_chain(f, "new", 3, 1, false);
	virtio_mmio_queue_notify(f->t, TXQ);
	for (;;) {
		ssize_t r = read(c, got + n, BIG + 3 - n);

		if (r > 0) {
			n += (size_t)r;
			if (n >= 3 && !memcmp(got + n - 3, "new", 3))
				break;
			continue;
		}
		assert_true(r < 0 && errno == EAGAIN);
		assert_true(n < BIG + 3);
		pump(f, 10);
	}
	/* A prefix of the old chain, then the new one. */
	assert_true(n - 3 < BIG);
	assert_memory_equal(got, old, n - 3);
	wait_used(f, TXQ, 1);
	expect_used(f, TXQ, head, 0);
	expect_no_more(f, c);
	assert_int_equal(used_idx(f, TXQ), 1);
	close(c);
	test_free(got);
	test_free(old);
}

static void test_real_worker_thread(void **state)
{
	struct fx *f = *state;
	uint8_t got[32];
	uint16_t head;
	uint64_t rx;
	int c, i;

	create(f, VIRTIO_CONSOLE_SOCKET, "sock");
	driver_init(f, ALL_FEATURES);
	assert_int_equal(worker_start(&f->w), 0);
	f->worker_started = true;
	c = client_connect(f);
	rx = rx_buf(f, 32, &head);
	virtio_mmio_queue_notify(f->t, RXQ);
	for (i = 0; i < 4; i++) {
		char msg[8];

		snprintf(msg, sizeof(msg), "tx%d ", i);
		virtio_mmio_lock(f->t);
		tx_chain(f, msg, 4, 2, i % 2);
		virtio_mmio_unlock(f->t);
		virtio_mmio_queue_notify(f->t, TXQ);
	}
	read_exact(f, c, got, 16);
	assert_memory_equal(got, "tx0 tx1 tx2 tx3 ", 16);
	wait_used(f, TXQ, 4);
	send_all(c, "from the client", 15);
	wait_used(f, RXQ, 1);
	expect_used(f, RXQ, head, 15);
	assert_memory_equal(host(f, rx, 15), "from the client", 15);
	close(c);
}

static void test_parse(void **state)
{
	struct virtio_console_opts o;
	char err[256];

	(void)state;
	assert_int_equal(virtio_console_parse("pty", &o, err, sizeof(err)), 0);
	assert_int_equal(o.backend, VIRTIO_CONSOLE_PTY);
	assert_null(o.path);
	assert_int_equal(virtio_console_parse("file=/tmp/x.log", &o, err, sizeof(err)), 0);
	assert_int_equal(o.backend, VIRTIO_CONSOLE_FILE);
	assert_string_equal(o.path, "/tmp/x.log");
	assert_int_equal(virtio_console_parse("socket=/run/c.sock", &o, err, sizeof(err)), 0);
	assert_int_equal(o.backend, VIRTIO_CONSOLE_SOCKET);
	assert_string_equal(o.path, "/run/c.sock");

	err[0] = '\0';
	assert_int_equal(virtio_console_parse("bogus", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "'bogus'", "file=PATH", "pty", "socket=PATH", NULL);
	err[0] = '\0';
	assert_int_equal(virtio_console_parse("file=", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "'file='", "needs a path", NULL);
	err[0] = '\0';
	assert_int_equal(virtio_console_parse("socket=", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "'socket='", "needs a path", NULL);
	err[0] = '\0';
	assert_int_equal(virtio_console_parse("", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "file=PATH", NULL);
	err[0] = '\0';
	assert_int_equal(virtio_console_parse("pty=x", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "'pty=x'", NULL);
	err[0] = '\0';
	assert_int_equal(virtio_console_parse("file", &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "'file'", NULL);
}

/* create must fail with r and a message naming the path and the cause; nothing leaks. */
static void expect_create_error(struct fx *f, enum virtio_console_backend b, const char *path,
				int r, const char *cause)
{
	struct virtio_console_opts o = {.backend = b, .path = path};
	struct virtio_console *c = (struct virtio_console *)(uintptr_t)1;
	unsigned int nr_fds = f->w.nr_fds;

	f->err[0] = '\0';
	assert_int_equal(virtio_console_create(&c, &o, "vcon", f->gm, &f->w, &vqf_owner_ops,
					       &f->owner, f->err, sizeof(f->err)),
			 r);
	assert_null(c);
	assert_mentions(f->err, "vcon", path, cause, NULL);
	assert_int_equal(f->w.nr_fds, nr_fds);
}

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	char p[192], longp[200];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, live;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/no/such/dir/out", f->dir);
	expect_create_error(f, VIRTIO_CONSOLE_FILE, p, -ENOENT, strerror(ENOENT));
	expect_create_error(f, VIRTIO_CONSOLE_FILE, f->dir, -EISDIR, strerror(EISDIR));
	snprintf(p, sizeof(p), "%s/no/such/dir/sock", f->dir);
	expect_create_error(f, VIRTIO_CONSOLE_SOCKET, p, -ENOENT, strerror(ENOENT));
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	expect_create_error(f, VIRTIO_CONSOLE_SOCKET, longp, -ENAMETOOLONG, "longer than");
	/* A file that is not a socket is not removed. */
	snprintf(p, sizeof(p), "%s/regular", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	expect_create_error(f, VIRTIO_CONSOLE_SOCKET, p, -EEXIST, "not a socket");
	assert_int_equal(access(p, F_OK), 0);

	/* A socket someone serves is not taken over ... */
	snprintf(p, sizeof(p), "%s/live", f->dir);
	set_sun_path(&sa, p);
	live = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(live >= 0);
	assert_int_equal(bind(live, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(live, 4), 0);
	expect_create_error(f, VIRTIO_CONSOLE_SOCKET, p, -EADDRINUSE, "in use");
	/* ... but a stale one is replaced. */
	close(live);
	create(f, VIRTIO_CONSOLE_SOCKET, "live");
	fd = client_connect(f);
	close(fd);
	virtio_console_destroy(f->c);
	f->c = NULL;
	/* destroy removes the socket file. */
	assert_int_equal(access(p, F_OK), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity_features_config),
		T(test_file_tx_in_order),
		T(test_file_create_truncates),
		T(test_socket_tx_waits_for_client),
		T(test_socket_rx_waits_for_buffers),
		T(test_socket_hangup_without_buffers),
		T(test_socket_backpressure),
		T(test_pty_both_ways),
		T(test_malformed_chain_needs_reset),
		T(test_writable_tx_descriptor_needs_reset),
		T(test_readable_rx_descriptor_needs_reset),
		T(test_malformed_rx_ring_needs_reset),
		T(test_bad_indirect_needs_reset),
		T(test_reset_drops_held_rx_chain),
		T(test_reset_drops_held_tx_chain),
		T(test_real_worker_thread),
		T(test_parse),
		T(test_create_errors),
	};

	/* Quiet the device's and the transport's info messages; keep warnings. */
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
