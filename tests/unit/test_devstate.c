// SPDX-License-Identifier: MIT
/*
 * Unit tests for the device models' saved state (serial16550, rtc_cmos,
 * ioapic): each device is driven through its register interface into a
 * state worth saving, saved, loaded into a fresh device, and then both are
 * given the same accesses and inputs, comparing every value read and every
 * callback (interrupt edge, transmitted byte, MSI, route refresh). Then the
 * refusals, one per rule, each with its message and the target untouched;
 * then random states, which must be refused cleanly or give a device that
 * survives random traffic (this file runs under ASan/UBSan and valgrind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "common/fixtures.h"
#include "devices/ioapic.h"
#include "devices/rtc_cmos.h"
#include "devices/serial16550.h"

#define NS 1000000000LL
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- what the fakes record ---- */

enum ev_kind { EV_IRQ = 1, EV_TX, EV_ROOM, EV_MSI, EV_ROUTES };

struct event {
	uint32_t kind;
	uint32_t b;
	uint64_t a;
};

#define MAX_EVENTS 8192

/* Every callback in order; n keeps counting past MAX_EVENTS. */
struct evlog {
	struct event ev[MAX_EVENTS];
	size_t n;
	bool level;	/* the line as the owner sees it (set_irq) */
	int same_level; /* set_irq calls that did not change the level */
};

static void log_event(struct evlog *l, uint32_t kind, uint64_t a, uint32_t b)
{
	if (l->n < MAX_EVENTS)
		l->ev[l->n] = (struct event){.kind = kind, .a = a, .b = b};
	l->n++;
}

static void log_irq(struct evlog *l, bool level)
{
	if (level == l->level)
		l->same_level++;
	l->level = level;
	log_event(l, EV_IRQ, level, 0);
}

static void log_reset(struct evlog *l)
{
	l->n = 0;
}

static void assert_logs_equal(const struct evlog *x, const struct evlog *y)
{
	size_t i, n = x->n < MAX_EVENTS ? x->n : MAX_EVENTS;

	if (x->n != y->n)
		fail_msg("the saved device made %zu callbacks, the restored one %zu", x->n, y->n);
	for (i = 0; i < n; i++)
		if (x->ev[i].kind != y->ev[i].kind || x->ev[i].a != y->ev[i].a ||
		    x->ev[i].b != y->ev[i].b)
			fail_msg(
				"callback %zu differs: kind %u a 0x%llx b 0x%x vs kind %u a 0x%llx "
				"b 0x%x",
				i, x->ev[i].kind, (unsigned long long)x->ev[i].a, x->ev[i].b,
				y->ev[i].kind, (unsigned long long)y->ev[i].a, y->ev[i].b);
	assert_int_equal(x->same_level, 0);
	assert_int_equal(y->same_level, 0);
}

static uint32_t rnd(uint32_t *seed)
{
	uint32_t x = *seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return x;
}

static void fill_random(void *p, size_t len, uint32_t *seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)rnd(seed);
}

/* Flip 1-4 random bits of a valid state: often still valid, often not. */
static void flip_bits(void *p, size_t len, uint32_t *seed)
{
	uint8_t *b = p;
	unsigned int k, n = 1 + rnd(seed) % 4;

	for (k = 0; k < n; k++) {
		uint32_t r = rnd(seed);

		b[(r >> 3) % len] ^= (uint8_t)(1u << (r & 7));
	}
}

/*
 * One change to a saved state: field at off of width bytes (little-endian)
 * set to, or XORed with, value. Then the load must fail mentioning the
 * given substrings.
 */
enum mut_op { SET, XOR };

struct mutation {
	const char *name;
	size_t off;
	size_t width;
	enum mut_op op;
	uint64_t value;
	const char *expect1;
	const char *expect2;
};

static void apply(void *state, const struct mutation *m)
{
	uint8_t *p = (uint8_t *)state + m->off;
	uint64_t v = 0;

	memcpy(&v, p, m->width); /* little-endian host */
	v = m->op == SET ? m->value : v ^ m->value;
	memcpy(p, &v, m->width);
}

#define FIELD(type, f) offsetof(struct type, f), sizeof(((struct type *)0)->f)
#define BYTE(type, f, i) offsetof(struct type, f) + (i), 1

/* ================= serial16550 ================= */

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2 };
enum { LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct uart {
	struct serial16550 s;
	struct evlog log;
};

static void uart_set_irq(void *ctx, bool level)
{
	log_irq(&((struct uart *)ctx)->log, level);
}

static void uart_tx(void *ctx, uint8_t byte)
{
	log_event(&((struct uart *)ctx)->log, EV_TX, byte, 0);
}

static void uart_rx_room(void *ctx)
{
	log_event(&((struct uart *)ctx)->log, EV_ROOM, 0, 0);
}

static const struct serial16550_ops uart_ops = {
	.set_irq = uart_set_irq,
	.tx = uart_tx,
	.rx_room = uart_rx_room,
};

static struct uart *new_uart(void)
{
	struct uart *u = test_calloc(1, sizeof(*u));

	assert_non_null(u);
	serial16550_init(&u->s, &uart_ops, u);
	return u;
}

static void free_uart(struct uart *u)
{
	assert_int_equal(u->log.same_level, 0);
	assert_int_equal(u->log.level, u->s.irq_level);
	test_free(u);
}

static void uwr(struct uart *u, unsigned int off, uint8_t v)
{
	serial16550_write(&u->s, off, v);
}

static uint8_t urd(struct uart *u, unsigned int off)
{
	return serial16550_read(&u->s, off);
}

static size_t urx(struct uart *u, const char *str)
{
	return serial16550_receive(&u->s, (const uint8_t *)str, strlen(str));
}

/*
 * FIFOs on (trigger 8), a divisor latched, bytes in the receive FIFO with
 * head moved, loopback with modem deltas, THRE latched but hidden behind
 * the character timeout, the line high.
 */
static void uart_busy_state(struct uart *u)
{
	uwr(u, LCR, 0x80);
	uwr(u, DLL, 0x01);
	uwr(u, DLM, 0x02);
	uwr(u, LCR, 0x1b);
	uwr(u, FCR, 0x87);
	uwr(u, IER, 0x0b);
	assert_int_equal(urx(u, "abc"), 3);
	uwr(u, SCR, 0x5a);
	uwr(u, MCR, 0x13); /* loopback without OUT2: DCD drops */
	uwr(u, MCR, 0x1b);
	uwr(u, THR, 'x');
	assert_int_equal(urd(u, RBR), 'a');
	assert_true(u->s.irq_level);
}

static void test_uart_state_is_nontrivial(void **state)
{
	struct uart *u = new_uart();
	struct serial16550_state st;

	(void)state;
	uart_busy_state(u);
	memset(&st, 0xa5, sizeof(st));
	serial16550_save(&u->s, &st);
	assert_int_equal(st.version, SERIAL16550_STATE_VERSION);
	assert_int_equal(st.fcr, 0x81);
	assert_int_equal(st.lcr, 0x1b);
	assert_int_equal(st.mcr, 0x1b);
	assert_int_equal(st.dll, 0x01);
	assert_int_equal(st.dlm, 0x02);
	assert_int_equal(st.scr, 0x5a);
	assert_int_equal(st.ier, 0x0b);
	assert_int_equal(st.iir, 0xcc); /* FIFOs on, character timeout */
	assert_int_equal(st.thr_ipending, 1);
	assert_int_equal(st.irq_level, 1);
	assert_int_equal(st.rx_head, 1);
	assert_int_equal(st.rx_count, 3);
	assert_memory_equal(st.rx_data, "abcx", 4);
	assert_int_equal(st.lsr, 0x61);
	assert_int_equal(st.msr, 0xb8); /* loopback: DCD, DSR, CTS from OUT2, DTR, RTS; DDCD */
	assert_int_equal(st.tx_count, 0);
	assert_int_equal(st.reserved[0] | st.reserved[1] | st.reserved[2] | st.reserved[3], 0);
	free_uart(u);
}

/* One guest access or host input chosen by r; the value read or bytes taken. */
static unsigned int uart_op(struct uart *u, uint32_t r)
{
	uint8_t buf[20];
	size_t n;

	switch (r % 6) {
	case 0:
	case 1:
		return urd(u, (r >> 3) % 10);
	case 2:
		uwr(u, (r >> 3) % 10, (uint8_t)(r >> 8));
		return 0;
	case 3:
		/* Loopback mostly off, so host input keeps flowing. */
		uwr(u, MCR, (uint8_t)((r >> 3) & ((r & 0x800) ? 0x1f : 0x0f)));
		return 0;
	case 4:
		/* DLAB mostly off, so RBR/THR/IER see traffic. */
		uwr(u, LCR, (uint8_t)((r >> 3) & ((r & 0x800) ? 0xff : 0x7f)));
		return 0;
	default:
		n = (r >> 3) % sizeof(buf);
		memset(buf, (int)(r >> 12), n);
		return (unsigned int)serial16550_receive(&u->s, buf, n);
	}
}

/* Same access to both; they must answer alike and call back alike. */
static void uart_pair_op(struct uart *a, struct uart *b, uint32_t r, int step)
{
	struct serial16550_state sa, sb;
	unsigned int va = uart_op(a, r), vb = uart_op(b, r);

	if (va != vb)
		fail_msg("step %d (op 0x%08x): the saved device gave 0x%x, the restored 0x%x", step,
			 r, va, vb);
	if (a->log.n != b->log.n)
		fail_msg("step %d (op 0x%08x): %zu vs %zu callbacks", step, r, a->log.n, b->log.n);
	serial16550_save(&a->s, &sa);
	serial16550_save(&b->s, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
}

static void test_uart_restored_behaves_the_same(void **state)
{
	struct uart *a = new_uart(), *b = new_uart();
	struct serial16550_state st, again;
	char err[128] = "";
	static const unsigned int script[][2] = {
		/* {offset, value}: value 0x100 + n means read, else write */
		{IIR, 0x100}, {LSR, 0x100}, {MSR, 0x100}, {MSR, 0x100}, {RBR, 0x100},
		{IIR, 0x100}, {RBR, 0x100}, {RBR, 0x100}, {IIR, 0x100}, {IIR, 0x100},
		{RBR, 0x100}, {LSR, 0x100}, {MCR, 0x0b},  {MSR, 0x100}, {THR, 'y'},
		{IIR, 0x100}, {LCR, 0x9b},  {DLL, 0x100}, {DLM, 0x100}, {LCR, 0x1b},
		{SCR, 0x100}, {FCR, 0xc1},  {IER, 0x00},  {IER, 0x0f},	{IIR, 0x100},
	};
	size_t i;
	uint32_t seed = 0x5eed1;
	int step;

	(void)state;
	uart_busy_state(a);
	serial16550_save(&a->s, &st);
	assert_int_equal(serial16550_load(&b->s, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* The fresh device's line was low: the load raised it, once. */
	assert_int_equal(b->log.n, 1);
	assert_int_equal(b->log.ev[0].kind, EV_IRQ);
	assert_int_equal(b->log.ev[0].a, 1);
	serial16550_save(&b->s, &again);
	assert_memory_equal(&st, &again, sizeof(st));

	log_reset(&a->log);
	log_reset(&b->log);
	for (i = 0; i < ARRAY_SIZE(script); i++) {
		unsigned int off = script[i][0], v = script[i][1];

		if (v >= 0x100) {
			assert_int_equal(urd(a, off), urd(b, off));
		} else {
			uwr(a, off, (uint8_t)v);
			uwr(b, off, (uint8_t)v);
		}
		if (i == 12) {
			/* Leaving loopback: room again, and host input goes in. */
			assert_int_equal(urx(a, "host"), 4);
			assert_int_equal(urx(b, "host"), 4);
		}
	}
	assert_logs_equal(&a->log, &b->log);
	assert_true(a->log.n >= 4); /* edges, the room callback, 'y' */

	for (step = 0; step < 20000; step++)
		uart_pair_op(a, b, rnd(&seed), step);
	assert_logs_equal(&a->log, &b->log);
	assert_true(a->log.n > 1000);
	free_uart(a);
	free_uart(b);
}

static void test_uart_load_resyncs_line_and_room(void **state)
{
	struct uart *a = new_uart(), *b = new_uart();
	struct serial16550_state idle, busy;
	char err[128];

	(void)state;
	serial16550_save(&a->s, &idle); /* power-on: line low, room */
	uart_busy_state(a);
	serial16550_save(&a->s, &busy);

	/* A device with its line high and no room, restored to power-on. */
	uwr(b, IER, 0x01);
	assert_int_equal(urx(b, "z"), 1); /* FIFOs off: one byte fills RBR */
	assert_true(b->log.level);
	assert_int_equal(serial16550_rx_room(&b->s), 0);
	log_reset(&b->log);
	assert_int_equal(serial16550_load(&b->s, &idle, err, sizeof(err)), 0);
	assert_int_equal(b->log.n, 2);
	assert_int_equal(b->log.ev[0].kind, EV_IRQ);
	assert_int_equal(b->log.ev[0].a, 0);
	assert_int_equal(b->log.ev[1].kind, EV_ROOM);
	assert_int_equal(serial16550_rx_room(&b->s), 1);

	/* Same level before and after: no callback at all. */
	assert_int_equal(serial16550_load(&b->s, &idle, err, sizeof(err)), 0);
	assert_int_equal(b->log.n, 2);
	assert_int_equal(serial16550_load(&b->s, &busy, err, sizeof(err)), 0);
	assert_int_equal(b->log.n, 3);
	assert_int_equal(b->log.ev[2].a, 1);
	assert_int_equal(serial16550_load(&b->s, &busy, err, sizeof(err)), 0);
	assert_int_equal(b->log.n, 3);
	free_uart(a);
	free_uart(b);
}

static const struct mutation uart_mutations[] = {
	{"version 2", FIELD(serial16550_state, version), SET, 2, "version 2", NULL},
	{"version 0", FIELD(serial16550_state, version), SET, 0, "version 0", NULL},
	{"reserved[0]", BYTE(serial16550_state, reserved, 0), SET, 1, "reserved[0]", NULL},
	{"reserved[3]", BYTE(serial16550_state, reserved, 3), SET, 0x80, "reserved[3]", NULL},
	{"rx_head 16", FIELD(serial16550_state, rx_head), SET, 16, "rx_head 16", NULL},
	{"rx_head 255", FIELD(serial16550_state, rx_head), SET, 255, "rx_head 255", NULL},
	{"rx_count 17", FIELD(serial16550_state, rx_count), SET, 17, "rx_count 17", NULL},
	{"rx_count 3 without FIFO", FIELD(serial16550_state, fcr), SET, 0, "rx_count 3",
	 "capacity 1"},
	{"tx_head", FIELD(serial16550_state, tx_head), SET, 1, "tx_head 1", NULL},
	{"tx_count", FIELD(serial16550_state, tx_count), SET, 1, "tx_count 1", NULL},
	{"tx_data", BYTE(serial16550_state, tx_data, 5), SET, 0x41, "tx_data[5]", NULL},
	{"thr_ipending 2", FIELD(serial16550_state, thr_ipending), SET, 2, "thr_ipending 2", NULL},
	{"irq_level 2", FIELD(serial16550_state, irq_level), SET, 2, "irq_level 2", NULL},
	{"irq_level low", FIELD(serial16550_state, irq_level), SET, 0, "irq_level 0", "gives 1"},
	{"iir", FIELD(serial16550_state, iir), SET, 0xc2, "iir 0xc2", "0xcc"},
	{"ier bit 4", FIELD(serial16550_state, ier), XOR, 0x10, "ier 0x1b", NULL},
	{"mcr bit 5", FIELD(serial16550_state, mcr), XOR, 0x20, "mcr 0x3b", NULL},
	{"fcr clear bit", FIELD(serial16550_state, fcr), XOR, 0x02, "fcr 0x83", NULL},
	{"fcr disabled", FIELD(serial16550_state, fcr), SET, 0x80, "fcr 0x80", "disabled"},
	{"lsr THRE", FIELD(serial16550_state, lsr), XOR, 0x20, "lsr 0x41", "THRE"},
	{"lsr BI", FIELD(serial16550_state, lsr), XOR, 0x10, "lsr 0x71", "error bits"},
	{"lsr DR", FIELD(serial16550_state, lsr), XOR, 0x01, "lsr 0x60", "DR"},
	{"msr inputs", FIELD(serial16550_state, msr), XOR, 0x40, "msr", "mcr 0x1b"},
};

static void test_uart_refusals(void **state)
{
	struct uart *src = new_uart(), *dst = new_uart();
	struct serial16550_state good, bad;
	struct serial16550 before;
	char err[160];
	size_t i;

	(void)state;
	uart_busy_state(src);
	serial16550_save(&src->s, &good);
	/* The target is in a state of its own, which a refusal must keep. */
	uwr(dst, IER, 0x02);
	uwr(dst, SCR, 0x33);
	assert_int_equal(serial16550_load(&dst->s, &good, err, sizeof(err)), 0);
	uwr(dst, SCR, 0x34); /* and not quite the saved one */

	for (i = 0; i < ARRAY_SIZE(uart_mutations); i++) {
		const struct mutation *m = &uart_mutations[i];
		size_t calls = dst->log.n;

		bad = good;
		apply(&bad, m);
		memcpy(&before, &dst->s, sizeof(before));
		err[0] = '\0';
		if (serial16550_load(&dst->s, &bad, err, sizeof(err)) != -EINVAL)
			fail_msg("%s: accepted", m->name);
		assert_mentions(err, "serial16550 state", m->expect1, m->expect2, NULL);
		if (memcmp(&before, &dst->s, sizeof(before)))
			fail_msg("%s: refused, but the device changed", m->name);
		assert_int_equal(dst->log.n, calls);
	}
	/* The unchanged state still loads: each refusal was the mutation's doing. */
	assert_int_equal(serial16550_load(&dst->s, &good, err, sizeof(err)), 0);
	free_uart(src);
	free_uart(dst);
}

static void test_uart_error_buffer(void **state)
{
	struct uart *u = new_uart();
	struct serial16550_state st;
	char small[8];

	(void)state;
	serial16550_save(&u->s, &st);
	st.version = 7;
	assert_int_equal(serial16550_load(&u->s, &st, NULL, 0), -EINVAL);
	memset(small, 'x', sizeof(small));
	assert_int_equal(serial16550_load(&u->s, &st, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "serial1", 7);
	free_uart(u);
}

/* Invariants of a 16550 whatever happened (as in test_serial16550.c). */
static void uart_check_invariants(const struct uart *u)
{
	const struct serial16550 *s = &u->s;

	assert_true(s->rx.count <= SERIAL16550_FIFO_SIZE);
	assert_true(s->rx.head < SERIAL16550_FIFO_SIZE);
	assert_int_equal(s->tx.count, 0);
	assert_int_equal(!!(s->lsr & 0x01), s->rx.count > 0);
	assert_int_equal(s->lsr & 0x60, 0x60);
	assert_int_equal(s->irq_level, !(s->iir & 0x01));
	assert_int_equal(s->iir & 0xc0, (s->fcr & 0x01) ? 0xc0 : 0x00);
	assert_int_equal(u->log.level, s->irq_level);
	assert_int_equal(u->log.same_level, 0);
	if (!(s->fcr & 0x01))
		assert_true(s->rx.count <= 1);
}

static void test_uart_random_states(void **state)
{
	struct uart *src = new_uart(), *u = new_uart();
	struct serial16550_state good, st, back;
	struct serial16550 before;
	uint32_t seed = 0xc0ffee;
	int iter, k, accepted = 0, refused = 0;
	char err[160];

	(void)state;
	uart_busy_state(src);
	serial16550_save(&src->s, &good);
	for (iter = 0; iter < 30000; iter++) {
		if (iter % 3 == 0) {
			fill_random(&st, sizeof(st), &seed);
			if (iter % 2)
				st.version = SERIAL16550_STATE_VERSION;
		} else {
			st = good;
			flip_bits(&st, sizeof(st), &seed);
		}
		serial16550_init(&u->s, &uart_ops, u);
		u->log.level = false;
		log_reset(&u->log);
		memcpy(&before, &u->s, sizeof(before));
		err[0] = '\0';
		if (serial16550_load(&u->s, &st, err, sizeof(err))) {
			assert_mentions(err, "serial16550 state: ", NULL);
			assert_memory_equal(&before, &u->s, sizeof(before));
			assert_int_equal(u->log.n, 0);
			refused++;
			continue;
		}
		accepted++;
		serial16550_save(&u->s, &back);
		assert_memory_equal(&st, &back, sizeof(st));
		uart_check_invariants(u);
		for (k = 0; k < 60; k++) {
			uart_op(u, rnd(&seed));
			uart_check_invariants(u);
		}
	}
	assert_true(accepted > 2000);
	assert_true(refused > 20000);
	free_uart(src);
	free_uart(u);
}

/* ================= rtc_cmos ================= */

enum { SEC = 0x00, SEC_ALARM, MIN, MIN_ALARM, HOUR, HOUR_ALARM, WDAY, MDAY, MON, YEAR };
enum { REG_A = 0x0a, REG_B, REG_C, REG_D, CENTURY = 0x32 };
#define NMI 0x80

struct rtcdev {
	struct rtc_cmos rtc;
	const int64_t *clock; /* shared by the devices under comparison */
	struct evlog log;
};

static int64_t rtcdev_now(void *ctx)
{
	return *((struct rtcdev *)ctx)->clock;
}

static void rtcdev_set_irq(void *ctx, bool level)
{
	log_irq(&((struct rtcdev *)ctx)->log, level);
}

static const struct rtc_cmos_ops rtcdev_ops = {
	.set_irq = rtcdev_set_irq,
	.now_ns = rtcdev_now,
};

/* Host time in ns of a UTC date. */
static int64_t at(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = s,
	};

	return (int64_t)timegm(&tm) * NS;
}

/* Wednesday 2026-11-25 13:45:07.5 UTC */
#define T0 (at(2026, 11, 25, 13, 45, 7) + NS / 2)

static struct rtcdev *new_rtc(const int64_t *clock, uint64_t low_ram)
{
	struct rtcdev *d = test_calloc(1, sizeof(*d));

	assert_non_null(d);
	d->clock = clock;
	rtc_cmos_init(&d->rtc, &rtcdev_ops, d, low_ram, 1 * GiB);
	return d;
}

static void free_rtc(struct rtcdev *d)
{
	assert_int_equal(d->log.same_level, 0);
	assert_int_equal(d->log.level, d->rtc.irq_level);
	test_free(d);
}

static void cmos_wr(struct rtcdev *d, uint8_t idx, uint8_t v)
{
	rtc_cmos_write(&d->rtc, 0, idx);
	rtc_cmos_write(&d->rtc, 1, v);
}

static uint8_t cmos_rd(struct rtcdev *d, uint8_t idx)
{
	rtc_cmos_write(&d->rtc, 0, idx);
	return rtc_cmos_read(&d->rtc, 1);
}

/*
 * Binary, 12-hour mode, the guest's clock set to 2099-12-31 11:59:50 PM
 * with a day of week of its own (Monday; the date is a Thursday), an alarm at 11:59:55 PM any
 * minute, the periodic interrupt at 4 Hz, NMI masked, CMOS bytes written,
 * a periodic flag pending and the line high.
 */
static void rtc_busy_state(struct rtcdev *d, int64_t *clock)
{
	unsigned int i;

	cmos_wr(d, NMI | REG_B, RTC_CMOS_B_SET | RTC_CMOS_B_DM_BINARY);
	cmos_wr(d, NMI | HOUR, 0x80 | 11);
	cmos_wr(d, NMI | MIN, 59);
	cmos_wr(d, NMI | SEC, 50);
	cmos_wr(d, NMI | MDAY, 31);
	cmos_wr(d, NMI | MON, 12);
	cmos_wr(d, NMI | YEAR, 99);
	cmos_wr(d, NMI | CENTURY, 20);
	cmos_wr(d, NMI | WDAY, 2); /* Monday; the date is a Thursday */
	cmos_wr(d, NMI | SEC_ALARM, 55);
	cmos_wr(d, NMI | MIN_ALARM, RTC_CMOS_ALARM_DONT_CARE);
	cmos_wr(d, NMI | HOUR_ALARM, 0x80 | 11);
	cmos_wr(d, NMI | REG_A, 0x2e);
	cmos_wr(d, NMI | REG_B, RTC_CMOS_B_PIE | RTC_CMOS_B_AIE | RTC_CMOS_B_DM_BINARY);
	for (i = 0x40; i < 0x80; i++)
		if (i < RTC_CMOS_MEM_ABOVE_4G || i > RTC_CMOS_MEM_ABOVE_4G + 2)
			cmos_wr(d, NMI | (uint8_t)i, (uint8_t)(i * 7 + 1));
	cmos_wr(d, NMI | 0x2e, 0x12); /* the checksum is guest-writable */
	*clock += 300 * 1000 * 1000;
	rtc_cmos_tick(&d->rtc);
	rtc_cmos_write(&d->rtc, 0, NMI | MON);
	assert_true(d->rtc.irq_level);
}

static void test_rtc_state_is_nontrivial(void **state)
{
	int64_t clock = T0;
	struct rtcdev *d = new_rtc(&clock, 256 * MiB);
	struct rtc_cmos_state st;

	(void)state;
	rtc_busy_state(d, &clock);
	memset(&st, 0xa5, sizeof(st));
	rtc_cmos_save(&d->rtc, &st);
	assert_int_equal(st.version, RTC_CMOS_STATE_VERSION);
	assert_int_equal(st.index, MON);
	assert_int_equal(st.nmi_disabled, 1);
	assert_int_equal(st.irq_level, 1);
	assert_int_equal(st.wday_written, 0);
	assert_int_equal(st.wday_delta, 4); /* Monday (1) - Thursday (4), mod 7 */
	assert_int_equal(st.offset_s, at(2099, 12, 31, 23, 59, 50) / NS - T0 / NS);
	assert_int_equal(st.last_ns, T0 + 300 * 1000 * 1000);
	assert_int_equal(st.ram[REG_A], 0x2e);
	assert_int_equal(st.ram[REG_B], 0x64);
	assert_int_equal(st.ram[REG_C], RTC_CMOS_C_PF);
	assert_int_equal(st.ram[REG_D], 0x80);
	assert_int_equal(st.ram[SEC_ALARM], 55);
	assert_int_equal(st.ram[HOUR_ALARM], 0x8b);
	assert_int_equal(st.ram[0x41], (uint8_t)(0x41 * 7 + 1));
	assert_int_equal(st.ram[RTC_CMOS_MEM_ABOVE_16M + 1], 0x0f); /* 240 MiB in 64 KiB */
	assert_int_equal(st.ram[RTC_CMOS_MEM_ABOVE_4G + 1], 0x40);  /* 1 GiB in 64 KiB */
	for (size_t i = 0; i < sizeof(st.reserved); i++)
		assert_int_equal(st.reserved[i], 0);
	free_rtc(d);
}

/* A guest access or tick chosen by r; what it returned. */
static uint64_t rtc_op(struct rtcdev *d, uint32_t r)
{
	uint8_t idx = (r & 0x100) ? (uint8_t)((r >> 9) % 14) : (uint8_t)((r >> 9) & 0x7f);

	switch (r % 8) {
	case 0:
		rtc_cmos_tick(&d->rtc);
		return rtc_cmos_next_event_ns(&d->rtc);
	case 1:
		return rtc_cmos_read(&d->rtc, (r >> 3) % 3);
	case 2:
		rtc_cmos_write(&d->rtc, 0, (uint8_t)(idx | (r & 0x80)));
		return 0;
	case 3:
		/* Register B: SET mostly clear, so the clock runs. */
		cmos_wr(d, REG_B, (uint8_t)((r >> 16) & ((r & 0x8) ? 0xff : 0x7f)));
		return rtc_cmos_next_event_ns(&d->rtc);
	case 4:
		/* Time and alarm bytes, registers, RAM; rarely, since it moves the clock. */
		if (r & 0x70000)
			return cmos_rd(d, REG_C);
		rtc_cmos_write(&d->rtc, 1, (uint8_t)(r >> 20));
		return 0;
	default:
		return cmos_rd(d, idx);
	}
}

static void rtc_advance(int64_t *clock, uint32_t r)
{
	switch (r % 4) {
	case 0:
		*clock += (int64_t)(r >> 4) % (3 * NS);
		break;
	case 1:
		*clock += (int64_t)(r >> 4) % (NS / 100);
		break;
	case 2:
		*clock += 3600 * NS + (r >> 4);
		break;
	default:
		*clock += 244 * 1000; /* the UIP window */
		break;
	}
}

static void rtc_pair_op(struct rtcdev *a, struct rtcdev *b, int64_t *clock, uint32_t r, int step)
{
	struct rtc_cmos_state sa, sb;
	uint64_t va, vb;

	if (r % 16 == 15) {
		rtc_advance(clock, r >> 4);
		return;
	}
	va = rtc_op(a, r >> 4);
	vb = rtc_op(b, r >> 4);
	if (va != vb)
		fail_msg("step %d (op 0x%08x): the saved device gave 0x%llx, the restored 0x%llx",
			 step, r, (unsigned long long)va, (unsigned long long)vb);
	if (a->log.n != b->log.n)
		fail_msg("step %d (op 0x%08x): %zu vs %zu callbacks", step, r, a->log.n, b->log.n);
	rtc_cmos_save(&a->rtc, &sa);
	rtc_cmos_save(&b->rtc, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
}

static void test_rtc_restored_behaves_the_same(void **state)
{
	int64_t clock = T0;
	struct rtcdev *a = new_rtc(&clock, 256 * MiB), *b;
	struct rtc_cmos_state st, again;
	char err[160] = "";
	uint32_t seed = 0x12c;
	unsigned int i;
	int step;

	(void)state;
	rtc_busy_state(a, &clock);
	rtc_cmos_save(&a->rtc, &st);
	clock += NS / 8;
	b = new_rtc(&clock, 256 * MiB); /* a fresh device, created later */
	assert_int_equal(rtc_cmos_load(&b->rtc, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(b->log.n, 1);
	assert_int_equal(b->log.ev[0].a, 1);
	rtc_cmos_save(&b->rtc, &again);
	assert_memory_equal(&st, &again, sizeof(st));
	assert_int_equal(rtc_cmos_next_event_ns(&a->rtc), rtc_cmos_next_event_ns(&b->rtc));

	log_reset(&a->log);
	log_reset(&b->log);
	/* The index and NMI bit, then every byte, then through the alarm and the new year. */
	assert_int_equal(rtc_cmos_read(&a->rtc, 0), NMI | MON);
	assert_int_equal(rtc_cmos_read(&b->rtc, 0), NMI | MON);
	for (i = 0; i < RTC_CMOS_SIZE; i++)
		assert_int_equal(cmos_rd(a, (uint8_t)i), cmos_rd(b, (uint8_t)i));
	for (i = 0; i < 24; i++) {
		clock += NS / 2 + 3;
		rtc_cmos_tick(&a->rtc);
		rtc_cmos_tick(&b->rtc);
		assert_int_equal(rtc_cmos_next_event_ns(&a->rtc), rtc_cmos_next_event_ns(&b->rtc));
		assert_int_equal(cmos_rd(a, SEC), cmos_rd(b, SEC));
		assert_int_equal(cmos_rd(a, YEAR), cmos_rd(b, YEAR));
		assert_int_equal(cmos_rd(a, REG_C), cmos_rd(b, REG_C));
	}
	assert_int_equal(cmos_rd(a, YEAR), 0); /* 2100 */
	assert_logs_equal(&a->log, &b->log);
	assert_true(a->log.n >= 20);

	for (step = 0; step < 20000; step++)
		rtc_pair_op(a, b, &clock, rnd(&seed), step);
	assert_logs_equal(&a->log, &b->log);
	assert_true(a->log.n > 500);
	free_rtc(a);
	free_rtc(b);
}

/* The documented choice: after a restore the guest's RTC follows host wall-clock time. */
static void test_rtc_restore_follows_host_clock(void **state)
{
	int64_t clock = T0;
	struct rtcdev *a = new_rtc(&clock, 256 * MiB), *b;
	struct rtc_cmos_state st;
	char err[160];

	(void)state;
	rtc_busy_state(a, &clock);
	assert_int_equal(cmos_rd(a, REG_C), RTC_CMOS_C_IRQF | RTC_CMOS_C_PF);
	cmos_wr(a, REG_B, RTC_CMOS_B_UIE | RTC_CMOS_B_DM_BINARY | RTC_CMOS_B_24H);
	rtc_cmos_save(&a->rtc, &st);
	assert_int_equal(st.irq_level, 0);

	clock += 3600 * NS; /* an hour on disk */
	b = new_rtc(&clock, 256 * MiB);
	assert_int_equal(rtc_cmos_load(&b->rtc, &st, err, sizeof(err)), 0);
	assert_int_equal(b->log.n, 0); /* the line was low and stays low */
	/* The update cycles in the gap were missed: the timer is due at once. */
	assert_true(rtc_cmos_next_event_ns(&b->rtc) <= (uint64_t)clock);
	rtc_cmos_tick(&b->rtc);
	assert_true(b->log.level);
	/* PF too: flags are set whether enabled or not; no AF (12-hour alarm byte, 24-hour clock).
	 */
	assert_int_equal(cmos_rd(b, REG_C), RTC_CMOS_C_IRQF | RTC_CMOS_C_PF | RTC_CMOS_C_UF);
	/* 2099-12-31 23:59:50 + 0.3 s + 1 h: 2100-01-01 00:59:50. */
	assert_int_equal(cmos_rd(b, HOUR), 0);
	assert_int_equal(cmos_rd(b, MIN), 59);
	assert_int_equal(cmos_rd(b, SEC), 50);
	assert_int_equal(cmos_rd(b, YEAR), 0);
	assert_int_equal(cmos_rd(b, CENTURY), 21);
	assert_int_equal(cmos_rd(b, MDAY), 1);
	free_rtc(a);
	free_rtc(b);
}

static void test_rtc_other_ram_size_refused(void **state)
{
	int64_t clock = T0;
	struct rtcdev *a = new_rtc(&clock, 256 * MiB), *b = new_rtc(&clock, 512 * MiB);
	struct rtc_cmos_state st;
	struct rtc_cmos before;
	char err[160];

	(void)state;
	rtc_cmos_save(&a->rtc, &st);
	memcpy(&before, &b->rtc, sizeof(before));
	assert_int_equal(rtc_cmos_load(&b->rtc, &st, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "rtc_cmos state", "ram[0x35] 0x0f", "memory-size", "0x1f", NULL);
	assert_memory_equal(&before, &b->rtc, sizeof(before));
	free_rtc(a);
	free_rtc(b);
}

static const struct mutation rtc_mutations[] = {
	{"version 2", FIELD(rtc_cmos_state, version), SET, 2, "version 2", NULL},
	{"version 0", FIELD(rtc_cmos_state, version), SET, 0, "version 0", NULL},
	{"reserved[0]", BYTE(rtc_cmos_state, reserved, 0), SET, 1, "reserved[0]", NULL},
	{"reserved[6]", BYTE(rtc_cmos_state, reserved, 6), SET, 0x40, "reserved[6]", NULL},
	{"index 0x80", FIELD(rtc_cmos_state, index), SET, 0x80, "index 0x80", NULL},
	{"index 0xff", FIELD(rtc_cmos_state, index), SET, 0xff, "index 0xff", NULL},
	{"nmi_disabled 2", FIELD(rtc_cmos_state, nmi_disabled), SET, 2, "nmi_disabled 2", NULL},
	{"wday_written 2", FIELD(rtc_cmos_state, wday_written), SET, 2, "wday_written 2", NULL},
	{"wday_written, SET 0", FIELD(rtc_cmos_state, wday_written), SET, 1, "wday_written 1",
	 "SET"},
	{"wday_delta 7", FIELD(rtc_cmos_state, wday_delta), SET, 7, "wday_delta 7", NULL},
	{"irq_level 2", FIELD(rtc_cmos_state, irq_level), SET, 2, "irq_level 2", NULL},
	{"irq_level low", FIELD(rtc_cmos_state, irq_level), SET, 0, "irq_level 0", "give 1"},
	{"offset_s huge", FIELD(rtc_cmos_state, offset_s), SET, (1ULL << 40) + 1, "offset_s",
	 "out of range"},
	{"offset_s INT64_MIN", FIELD(rtc_cmos_state, offset_s), SET, 1ULL << 63, "offset_s",
	 "out of range"},
	{"UIP stored", BYTE(rtc_cmos_state, ram, REG_A), XOR, 0x80, "ram[0x0a] 0xae", "UIP"},
	{"IRQF stored", BYTE(rtc_cmos_state, ram, REG_C), XOR, 0x80, "ram[0x0c] 0xc0", NULL},
	{"C bit 0", BYTE(rtc_cmos_state, ram, REG_C), XOR, 0x01, "ram[0x0c] 0x41", NULL},
	{"D", BYTE(rtc_cmos_state, ram, REG_D), SET, 0, "ram[0x0d] 0x00", NULL},
	{"base memory", BYTE(rtc_cmos_state, ram, RTC_CMOS_BASE_MEM_KIB), XOR, 1, "ram[0x15]",
	 "memory-size"},
	{"memory above 4G", BYTE(rtc_cmos_state, ram, RTC_CMOS_MEM_ABOVE_4G + 2), XOR, 0x80,
	 "ram[0x5d]", "memory-size"},
};

static void test_rtc_refusals(void **state)
{
	int64_t clock = T0;
	struct rtcdev *src = new_rtc(&clock, 256 * MiB), *dst = new_rtc(&clock, 256 * MiB);
	struct rtc_cmos_state good, bad;
	struct rtc_cmos before;
	char err[160];
	size_t i;

	(void)state;
	rtc_busy_state(src, &clock);
	rtc_cmos_save(&src->rtc, &good);
	/* The target has a state of its own, which a refusal must keep. */
	cmos_wr(dst, 0x60, 0x99);
	cmos_wr(dst, REG_B, RTC_CMOS_B_UIE | RTC_CMOS_B_24H);
	clock += NS;
	rtc_cmos_tick(&dst->rtc);
	assert_true(dst->log.level);

	for (i = 0; i < ARRAY_SIZE(rtc_mutations); i++) {
		const struct mutation *m = &rtc_mutations[i];
		size_t calls = dst->log.n;

		bad = good;
		apply(&bad, m);
		memcpy(&before, &dst->rtc, sizeof(before));
		err[0] = '\0';
		if (rtc_cmos_load(&dst->rtc, &bad, err, sizeof(err)) != -EINVAL)
			fail_msg("%s: accepted", m->name);
		assert_mentions(err, "rtc_cmos state", m->expect1, m->expect2, NULL);
		if (memcmp(&before, &dst->rtc, sizeof(before)))
			fail_msg("%s: refused, but the device changed", m->name);
		assert_int_equal(dst->log.n, calls);
	}
	assert_int_equal(rtc_cmos_load(&dst->rtc, &good, err, sizeof(err)), 0);
	assert_int_equal(rtc_cmos_load(&dst->rtc, &good, NULL, 0), 0);
	good.version = 9;
	assert_int_equal(rtc_cmos_load(&dst->rtc, &good, NULL, 0), -EINVAL);
	free_rtc(src);
	free_rtc(dst);
}

static void test_rtc_random_states(void **state)
{
	int64_t clock = T0;
	struct rtcdev *src = new_rtc(&clock, 256 * MiB), *d = new_rtc(&clock, 256 * MiB);
	struct rtc_cmos_state good, st, back;
	struct rtc_cmos before;
	uint32_t seed = 0xbadc0de;
	int iter, k, accepted = 0, refused = 0;
	char err[160];

	(void)state;
	rtc_busy_state(src, &clock);
	rtc_cmos_save(&src->rtc, &good);
	for (iter = 0; iter < 15000; iter++) {
		if (iter % 3 == 0) {
			fill_random(&st, sizeof(st), &seed);
			if (iter % 2)
				st.version = RTC_CMOS_STATE_VERSION;
		} else {
			st = good;
			flip_bits(&st, sizeof(st), &seed);
		}
		rtc_cmos_init(&d->rtc, &rtcdev_ops, d, 256 * MiB, 1 * GiB);
		d->log.level = false;
		log_reset(&d->log);
		memcpy(&before, &d->rtc, sizeof(before));
		err[0] = '\0';
		if (rtc_cmos_load(&d->rtc, &st, err, sizeof(err))) {
			assert_mentions(err, "rtc_cmos state: ", NULL);
			assert_memory_equal(&before, &d->rtc, sizeof(before));
			assert_int_equal(d->log.n, 0);
			refused++;
			continue;
		}
		accepted++;
		rtc_cmos_save(&d->rtc, &back);
		assert_memory_equal(&st, &back, sizeof(st));
		for (k = 0; k < 40; k++) {
			uint32_t r = rnd(&seed);

			if (r % 8 == 7)
				rtc_advance(&clock, r >> 3);
			else
				rtc_op(d, r >> 3);
			assert_int_equal(d->log.level, d->rtc.irq_level);
			assert_int_equal(d->log.same_level, 0);
			assert_true(d->rtc.index < RTC_CMOS_SIZE);
			assert_int_equal(d->rtc.ram[REG_D], RTC_CMOS_D_VRT);
		}
	}
	assert_true(accepted > 4000);
	assert_true(refused > 6000);
	free_rtc(src);
	free_rtc(d);
}

/* ================= ioapic ================= */

struct apic {
	struct ioapic io;
	struct evlog log;
};

static void apic_msi(void *ctx, uint64_t address, uint32_t data)
{
	log_event(&((struct apic *)ctx)->log, EV_MSI, address, data);
}

static void apic_routes_changed(void *ctx)
{
	log_event(&((struct apic *)ctx)->log, EV_ROUTES, 0, 0);
}

static const struct ioapic_ops apic_ops = {
	.msi = apic_msi,
	.routes_changed = apic_routes_changed,
};

static struct apic *new_apic(void)
{
	struct apic *a = test_calloc(1, sizeof(*a));

	assert_non_null(a);
	ioapic_init(&a->io, &apic_ops, a);
	return a;
}

static void apic_reg_write(struct apic *a, uint8_t reg, uint32_t v)
{
	ioapic_mmio_write(&a->io, IOAPIC_IOREGSEL, reg);
	ioapic_mmio_write(&a->io, IOAPIC_IOWIN, v);
}

static uint32_t apic_reg_read(struct apic *a, uint8_t reg)
{
	ioapic_mmio_write(&a->io, IOAPIC_IOREGSEL, reg);
	return ioapic_mmio_read(&a->io, IOAPIC_IOWIN);
}

static void apic_program(struct apic *a, unsigned int pin, uint64_t e)
{
	/* High half first, as Linux does, so the pin is never live with a stale destination. */
	apic_reg_write(a, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1), (uint32_t)(e >> 32));
	apic_reg_write(a, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin), (uint32_t)e);
}

#define LEVEL IOAPIC_REDIR_LEVEL
#define MASKED IOAPIC_REDIR_MASKED
#define DEST(d) ((uint64_t)(d) << IOAPIC_REDIR_DEST_SHIFT)

/*
 * ID 5; pin 1 edge and asserted; pin 4 edge, idle; pin 8 level, asserted
 * and awaiting its EOI (Remote IRR); pin 9 level, active low, logical,
 * masked but asserted; pin 10 level sharing pin 8's vector; pin 12 lowest
 * priority; IOREGSEL left on pin 9's high half.
 */
static void apic_busy_state(struct apic *a)
{
	apic_reg_write(a, IOAPIC_REG_ID, 5u << 24);
	apic_program(a, 1, 0x31 | DEST(2));
	apic_program(a, 4, 0x34 | DEST(1));
	apic_program(a, 8, 0x38 | LEVEL | DEST(1));
	apic_program(a, 9,
		     0x39 | LEVEL | MASKED | IOAPIC_REDIR_POLARITY | IOAPIC_REDIR_DESTMODE |
			     DEST(0x0f));
	apic_program(a, 10, 0x38 | LEVEL | DEST(3));
	apic_program(a, 12, 0x3c | (1ULL << IOAPIC_REDIR_DELMODE_SHIFT) | DEST(0xff));
	ioapic_set_irq(&a->io, 1, true);
	ioapic_set_irq(&a->io, 8, true);
	ioapic_set_irq(&a->io, 9, true);
	ioapic_mmio_write(&a->io, IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * 9 + 1);
}

static void test_apic_state_is_nontrivial(void **state)
{
	struct apic *a = new_apic();
	struct ioapic_state st;

	(void)state;
	apic_busy_state(a);
	memset(&st, 0xa5, sizeof(st));
	ioapic_save(&a->io, &st);
	assert_int_equal(st.version, IOAPIC_STATE_VERSION);
	assert_int_equal(st.nr_pins, IOAPIC_NR_PINS);
	assert_int_equal(st.id, 5);
	assert_int_equal(st.ioregsel, 0x23);
	assert_int_equal(st.irr, (1u << 1) | (1u << 8) | (1u << 9));
	assert_int_equal(st.redtbl[8], 0x38 | LEVEL | IOAPIC_REDIR_REMOTE_IRR | DEST(1));
	assert_int_equal(st.redtbl[9] & IOAPIC_REDIR_REMOTE_IRR, 0);
	assert_int_equal(st.redtbl[0], MASKED);
	for (size_t i = 0; i < sizeof(st.reserved); i++)
		assert_int_equal(st.reserved[i], 0);
	test_free(a);
}

static uint64_t apic_op(struct apic *a, uint32_t r)
{
	uint64_t addr = 0;
	uint32_t data = 0;
	unsigned int pin = (r >> 4) % 26;

	switch (r % 10) {
	case 0:
		ioapic_mmio_write(&a->io, IOAPIC_IOREGSEL,
				  (r & 0x8) ? (r >> 8) : (r >> 8) % (IOAPIC_REG_REDTBL + 48));
		return 0;
	case 1:
	case 2:
		return ioapic_mmio_read(&a->io, (r & 0x8) ? IOAPIC_IOREGSEL : IOAPIC_IOWIN);
	case 3:
		/* Mostly well-formed entries: vector, trigger and mask bits, a destination. */
		ioapic_mmio_write(&a->io, IOAPIC_IOWIN,
				  (r & 0x8) ? (uint32_t)rnd(&r) : (r >> 8) & 0x1a7ff);
		return 0;
	case 4:
	case 5:
		ioapic_set_irq(&a->io, pin, r & 0x400);
		return 0;
	case 6:
		if (pin < IOAPIC_NR_PINS)
			ioapic_eoi(&a->io, (uint8_t)a->io.redtbl[pin]);
		return 0;
	case 7:
		ioapic_mmio_write(&a->io, IOAPIC_EOI, (r >> 8) & 0x3f);
		return 0;
	case 8:
		return ioapic_mmio_read(&a->io, (r >> 4) & 0xfff);
	default:
		if (!ioapic_pin_msi(&a->io, pin, &addr, &data))
			return 1;
		return addr ^ ((uint64_t)data << 32);
	}
}

static void apic_pair_op(struct apic *a, struct apic *b, uint32_t r, int step)
{
	struct ioapic_state sa, sb;
	uint64_t va = apic_op(a, r), vb = apic_op(b, r);

	if (va != vb)
		fail_msg("step %d (op 0x%08x): the saved device gave 0x%llx, the restored 0x%llx",
			 step, r, (unsigned long long)va, (unsigned long long)vb);
	if (a->log.n != b->log.n)
		fail_msg("step %d (op 0x%08x): %zu vs %zu callbacks", step, r, a->log.n, b->log.n);
	ioapic_save(&a->io, &sa);
	ioapic_save(&b->io, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
}

static void test_apic_restored_behaves_the_same(void **state)
{
	struct apic *a = new_apic(), *b = new_apic();
	struct ioapic_state st, again;
	char err[160] = "";
	uint32_t seed = 0x10a91c;
	unsigned int reg;
	int step;

	(void)state;
	apic_busy_state(a);
	ioapic_save(&a->io, &st);
	assert_int_equal(ioapic_load(&b->io, &st, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* Routes refreshed once, nothing delivered. */
	assert_int_equal(b->log.n, 1);
	assert_int_equal(b->log.ev[0].kind, EV_ROUTES);
	ioapic_save(&b->io, &again);
	assert_memory_equal(&st, &again, sizeof(st));

	log_reset(&a->log);
	log_reset(&b->log);
	assert_int_equal(ioapic_mmio_read(&a->io, IOAPIC_IOWIN),
			 ioapic_mmio_read(&b->io, IOAPIC_IOWIN));
	for (reg = 0; reg < 0x40; reg++)
		assert_int_equal(apic_reg_read(a, (uint8_t)reg), apic_reg_read(b, (uint8_t)reg));
	/* Pin 8 is still asserted: its EOI redelivers. Then unmask pin 9, raise pin 4. */
	ioapic_eoi(&a->io, 0x38);
	ioapic_eoi(&b->io, 0x38);
	apic_reg_write(a, IOAPIC_REG_REDTBL + 18,
		       0x39 | LEVEL | IOAPIC_REDIR_POLARITY | IOAPIC_REDIR_DESTMODE);
	apic_reg_write(b, IOAPIC_REG_REDTBL + 18,
		       0x39 | LEVEL | IOAPIC_REDIR_POLARITY | IOAPIC_REDIR_DESTMODE);
	ioapic_set_irq(&a->io, 1, true); /* already high: no edge */
	ioapic_set_irq(&b->io, 1, true);
	ioapic_set_irq(&a->io, 4, true);
	ioapic_set_irq(&b->io, 4, true);
	assert_logs_equal(&a->log, &b->log);
	assert_int_equal(a->log.n, 4); /* MSI 0x38, routes, MSI 0x39, MSI 0x34 */

	for (step = 0; step < 20000; step++)
		apic_pair_op(a, b, rnd(&seed), step);
	assert_logs_equal(&a->log, &b->log);
	assert_true(a->log.n > 1000);
	test_free(a);
	test_free(b);
}

#define REDTBL(i) offsetof(struct ioapic_state, redtbl) + 8 * (i), 8

static const struct mutation apic_mutations[] = {
	{"version 2", FIELD(ioapic_state, version), SET, 2, "version 2", NULL},
	{"version 0", FIELD(ioapic_state, version), SET, 0, "version 0", NULL},
	{"nr_pins 25", FIELD(ioapic_state, nr_pins), SET, 25, "nr_pins 25", NULL},
	{"nr_pins 0", FIELD(ioapic_state, nr_pins), SET, 0, "nr_pins 0", NULL},
	{"reserved[0]", BYTE(ioapic_state, reserved, 0), SET, 1, "reserved[0]", NULL},
	{"reserved[6]", BYTE(ioapic_state, reserved, 6), SET, 0xff, "reserved[6]", NULL},
	{"id 16", FIELD(ioapic_state, id), SET, 16, "id 0x10", NULL},
	{"irr pin 24", FIELD(ioapic_state, irr), XOR, 1u << 24, "irr 0x01000302", "pin 23"},
	{"irr bit 31", FIELD(ioapic_state, irr), XOR, 1u << 31, "irr 0x80000302", NULL},
	{"redtbl bit 17", REDTBL(3), XOR, 1ULL << 17, "redtbl[3]", "reserved bits"},
	{"redtbl bit 55", REDTBL(23), XOR, 1ULL << 55, "redtbl[23]", "reserved bits"},
	{"delivery status", REDTBL(4), XOR, IOAPIC_REDIR_DELIVS, "redtbl[4]", "delivery status"},
	{"Remote IRR on edge", REDTBL(1), XOR, IOAPIC_REDIR_REMOTE_IRR, "redtbl[1]",
	 "edge-triggered"},
	{"owed delivery", REDTBL(8), XOR, IOAPIC_REDIR_REMOTE_IRR, "redtbl[8]", "Remote IRR clear"},
	{"owed delivery by unmask", REDTBL(9), XOR, MASKED, "redtbl[9]", "Remote IRR clear"},
	{"owed delivery by irr", FIELD(ioapic_state, irr), XOR, 1u << 10, "redtbl[10]",
	 "Remote IRR clear"},
};

static void test_apic_refusals(void **state)
{
	struct apic *src = new_apic(), *dst = new_apic();
	struct ioapic_state good, bad;
	struct ioapic before;
	char err[160];
	size_t i;

	(void)state;
	apic_busy_state(src);
	ioapic_save(&src->io, &good);
	/* The target has a state of its own, which a refusal must keep. */
	apic_program(dst, 2, 0x42 | LEVEL);
	ioapic_set_irq(&dst->io, 2, true);
	apic_reg_write(dst, IOAPIC_REG_ID, 7u << 24);

	for (i = 0; i < ARRAY_SIZE(apic_mutations); i++) {
		const struct mutation *m = &apic_mutations[i];
		size_t calls = dst->log.n;

		bad = good;
		apply(&bad, m);
		memcpy(&before, &dst->io, sizeof(before));
		err[0] = '\0';
		if (ioapic_load(&dst->io, &bad, err, sizeof(err)) != -EINVAL)
			fail_msg("%s: accepted", m->name);
		assert_mentions(err, "ioapic state", m->expect1, m->expect2, NULL);
		if (memcmp(&before, &dst->io, sizeof(before)))
			fail_msg("%s: refused, but the device changed", m->name);
		assert_int_equal(dst->log.n, calls);
	}
	assert_int_equal(ioapic_load(&dst->io, &good, err, sizeof(err)), 0);
	good.version = 3;
	assert_int_equal(ioapic_load(&dst->io, &good, NULL, 0), -EINVAL);
	test_free(src);
	test_free(dst);
}

static void test_apic_random_states(void **state)
{
	struct apic *src = new_apic(), *a = new_apic();
	struct ioapic_state good, st, back;
	struct ioapic before;
	uint32_t seed = 0xa91c;
	int iter, k, accepted = 0, refused = 0;
	char err[160];
	unsigned int pin;

	(void)state;
	apic_busy_state(src);
	ioapic_save(&src->io, &good);
	for (iter = 0; iter < 30000; iter++) {
		if (iter % 3 == 0) {
			fill_random(&st, sizeof(st), &seed);
			if (iter % 2) {
				st.version = IOAPIC_STATE_VERSION;
				st.nr_pins = IOAPIC_NR_PINS;
			}
		} else {
			st = good;
			flip_bits(&st, sizeof(st), &seed);
		}
		ioapic_init(&a->io, &apic_ops, a);
		log_reset(&a->log);
		memcpy(&before, &a->io, sizeof(before));
		err[0] = '\0';
		if (ioapic_load(&a->io, &st, err, sizeof(err))) {
			assert_mentions(err, "ioapic state: ", NULL);
			assert_memory_equal(&before, &a->io, sizeof(before));
			assert_int_equal(a->log.n, 0);
			refused++;
			continue;
		}
		accepted++;
		assert_int_equal(a->log.n, 1);
		ioapic_save(&a->io, &back);
		assert_memory_equal(&st, &back, sizeof(st));
		for (k = 0; k < 60; k++) {
			apic_op(a, rnd(&seed));
			assert_true(a->io.id <= 0xf);
			assert_int_equal(a->io.irr >> IOAPIC_NR_PINS, 0);
			for (pin = 0; pin < IOAPIC_NR_PINS; pin++) {
				uint64_t e = a->io.redtbl[pin];

				assert_int_equal(e & 0x00fffffffffe1000ULL, 0);
				if (!(e & LEVEL))
					assert_int_equal(e & IOAPIC_REDIR_REMOTE_IRR, 0);
			}
		}
	}
	assert_true(accepted > 1500);
	assert_true(refused > 20000);
	test_free(src);
	test_free(a);
}

/* ================= restore order: a UART wired to an IOAPIC pin ================= */

#define COM1_PIN 4

struct machine {
	struct ioapic io;
	struct serial16550 s;
	struct evlog log; /* line changes and MSIs, in order */
};

static void machine_uart_irq(void *ctx, bool level)
{
	struct machine *m = ctx;

	log_irq(&m->log, level);
	ioapic_set_irq(&m->io, COM1_PIN, level);
}

static void machine_msi(void *ctx, uint64_t address, uint32_t data)
{
	log_event(&((struct machine *)ctx)->log, EV_MSI, address, data);
}

static void machine_routes(void *ctx)
{
	log_event(&((struct machine *)ctx)->log, EV_ROUTES, 0, 0);
}

static const struct serial16550_ops machine_uart_ops = {.set_irq = machine_uart_irq};
static const struct ioapic_ops machine_apic_ops = {.msi = machine_msi,
						   .routes_changed = machine_routes};

static struct machine *new_machine(void)
{
	struct machine *m = test_calloc(1, sizeof(*m));

	assert_non_null(m);
	ioapic_init(&m->io, &machine_apic_ops, m);
	serial16550_init(&m->s, &machine_uart_ops, m);
	return m;
}

static size_t count_msis(const struct machine *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->log.n && i < MAX_EVENTS; i++)
		n += m->log.ev[i].kind == EV_MSI;
	return n;
}

/*
 * The restore procedure the headers document, in both orders: the line
 * that was high at the save is re-signalled into the IOAPIC without a
 * second MSI, and the next THRE edge is delivered as on the original.
 */
static void test_restore_order_no_spurious_msi(void **state)
{
	struct machine *a = new_machine();
	struct ioapic_state ios;
	struct serial16550_state ss;
	char err[160];
	int order;

	(void)state;
	serial16550_write(&a->s, LCR, 0x03);
	ioapic_mmio_write(&a->io, IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL + 2 * COM1_PIN);
	ioapic_mmio_write(&a->io, IOAPIC_IOWIN, 0x24);
	serial16550_write(&a->s, IER, 0x02); /* THRE: the line goes up, one MSI */
	assert_int_equal(count_msis(a), 1);
	ioapic_save(&a->io, &ios);
	serial16550_save(&a->s, &ss);
	assert_int_equal(ios.irr, 1u << COM1_PIN);

	for (order = 0; order < 2; order++) {
		struct machine *b = new_machine();

		if (order == 0) {
			assert_int_equal(ioapic_load(&b->io, &ios, err, sizeof(err)), 0);
			assert_int_equal(serial16550_load(&b->s, &ss, err, sizeof(err)), 0);
		} else {
			assert_int_equal(serial16550_load(&b->s, &ss, err, sizeof(err)), 0);
			assert_int_equal(ioapic_load(&b->io, &ios, err, sizeof(err)), 0);
		}
		assert_int_equal(count_msis(b), 0);
		assert_true(b->log.level);
		assert_int_equal(b->io.irr, 1u << COM1_PIN);

		/* IIR read acknowledges THRE (line down), a THR write re-raises it. */
		log_reset(&a->log);
		log_reset(&b->log);
		assert_int_equal(serial16550_read(&a->s, IIR), serial16550_read(&b->s, IIR));
		serial16550_write(&a->s, THR, 'k');
		serial16550_write(&b->s, THR, 'k');
		assert_logs_equal(&a->log, &b->log);
		assert_int_equal(count_msis(b), 1);
		assert_int_equal(b->log.ev[b->log.n - 1].b, 0x24);
		test_free(b);
	}
	test_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart_state_is_nontrivial),
		cmocka_unit_test(test_uart_restored_behaves_the_same),
		cmocka_unit_test(test_uart_load_resyncs_line_and_room),
		cmocka_unit_test(test_uart_refusals),
		cmocka_unit_test(test_uart_error_buffer),
		cmocka_unit_test(test_uart_random_states),
		cmocka_unit_test(test_rtc_state_is_nontrivial),
		cmocka_unit_test(test_rtc_restored_behaves_the_same),
		cmocka_unit_test(test_rtc_restore_follows_host_clock),
		cmocka_unit_test(test_rtc_other_ram_size_refused),
		cmocka_unit_test(test_rtc_refusals),
		cmocka_unit_test(test_rtc_random_states),
		cmocka_unit_test(test_apic_state_is_nontrivial),
		cmocka_unit_test(test_apic_restored_behaves_the_same),
		cmocka_unit_test(test_apic_refusals),
		cmocka_unit_test(test_apic_random_states),
		cmocka_unit_test(test_restore_order_no_spurious_msi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
