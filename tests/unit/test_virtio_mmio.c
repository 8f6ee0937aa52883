// SPDX-License-Identifier: MIT
/*
 * Unit tests for the virtio-mmio transport (src/devices/virtio/mmio.c),
 * with virtio-rng (src/devices/virtio/rng.c), the simplest device, behind
 * it: registers, feature negotiation, queue set-up, notifications,
 * interrupts, DEVICE_NEEDS_RESET on a broken ring, and reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "common/fixtures.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"

#define RAM MiB(1)
#define QSIZE 16
#define DESC 0x1000ULL
#define AVAIL 0x2000ULL
#define USED 0x3000ULL
#define BUF 0x10000ULL

struct fx {
	struct gmem *gm;
	struct virtio_rng *rng;
	struct virtio_mmio *t;
	unsigned int irqs;
	unsigned int kicks;
	unsigned int last_kick;
	uint16_t avail_idx;
};

static void rec_irq(void *ctx)
{
	struct fx *f = ctx;

	f->irqs++;
}

static void rec_kick(void *ctx, unsigned int queue)
{
	struct fx *f = ctx;

	f->kicks++;
	f->last_kick = queue;
}

static const struct virtio_mmio_ops rec_ops = {
	.irq = rec_irq,
	.kick = rec_kick,
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	char err[128];

	f->gm = try_new_gmem(RAM);
	if (!f->gm ||
	    virtio_rng_create(&f->rng, "rng-test", f->gm, NULL, &rec_ops, f, err, sizeof(err))) {
		free_gmem(f->gm);
		test_free(f);
		return -1;
	}
	f->t = virtio_rng_mmio(f->rng);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtio_rng_destroy(f->rng);
	free_gmem(f->gm);
	test_free(f);
	return 0;
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint32_t v;

	virtio_mmio_read(f->t, off, (uint8_t *)&v, 4);
	return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(f->t, off, (const uint8_t *)&v, 4);
}

/* The driver's side of initialisation, up to (not including) the queues. */
static void negotiate(struct fx *f, uint64_t features)
{
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(f, VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct fx *f, uint32_t size)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, size);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void driver_ok(struct fx *f)
{
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, QSIZE);
	wr(f, VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		   VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK,
			 VIRTIO_STATUS_DRIVER_OK);
}

/* One writable buffer of len bytes at BUF, offered in descriptor `i`. */
static void offer_buffer(struct fx *f, uint16_t i, uint64_t addr, uint32_t len)
{
	struct virtq_desc d = {.addr = addr, .len = len, .flags = VIRTQ_DESC_F_WRITE};
	uint16_t slot = f->avail_idx % QSIZE;

	assert_int_equal(gmem_write(f->gm, DESC + 16ULL * i, &d, sizeof(d)), 0);
	assert_int_equal(gmem_write(f->gm, AVAIL + 4 + 2ULL * slot, &i, 2), 0);
	f->avail_idx++;
	assert_int_equal(gmem_write(f->gm, AVAIL + 2, &f->avail_idx, 2), 0);
}

static uint16_t used_idx(struct fx *f)
{
	uint16_t v;

	assert_int_equal(gmem_read(f->gm, USED + 2, &v, 2), 0);
	return v;
}

static void test_identity_registers(void **state)
{
	struct fx *f = *state;
	uint8_t b[2];

	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION_REG), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 is bit 32 */
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES),
			 (1U << VIRTIO_F_RING_EVENT_IDX) | (1U << VIRTIO_F_INDIRECT_DESC));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	/* Registers are 32-bit: a narrower read gets all ones. */
	virtio_mmio_read(f->t, VIRTIO_MMIO_MAGIC_VALUE, b, 2);
	assert_int_equal(b[0], 0xff);
	assert_int_equal(b[1], 0xff);
	/* rng has no configuration space: zeros. */
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), 0);
}

static void test_queue_num_max(void **state)
{
	struct fx *f = *state;

	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1); /* rng has one queue */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1); /* no such queue: nothing happens */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
}

static void test_features_refused(void **state)
{
	struct fx *f = *state;

	/* A legacy driver (no VERSION_1). */
	negotiate(f, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* A feature we did not offer. */
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* DRIVER_OK without FEATURES_OK does not take. */
	wr(f, VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
	/* What we offer is accepted, and fixed once FEATURES_OK is set. */
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK,
			 VIRTIO_STATUS_FEATURES_OK);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_true(virtio_mmio_has_feature(f->t, VIRTIO_F_RING_EVENT_IDX));
}

static void test_request_served(void **state)
{
	struct fx *f = *state;
	uint8_t zero[64] = {0}, got[64];
	uint32_t len;

	driver_ok(f);
	offer_buffer(f, 3, BUF, sizeof(got));
	/* Without an ioeventfd the write reaches us and wakes the I/O thread. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->kicks, 1);
	assert_int_equal(f->last_kick, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 9); /* no such queue */
	assert_int_equal(f->kicks, 1);
	assert_int_equal(used_idx(f), 0); /* nothing done on the vCPU thread */

	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(gmem_read(f->gm, USED + 8, &len, 4), 0);
	assert_int_equal(len, sizeof(got));
	assert_int_equal(gmem_read(f->gm, BUF, got, sizeof(got)), 0);
	assert_memory_not_equal(got, zero, sizeof(got));
	assert_int_equal(f->irqs, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_VRING);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_bad_queue_size_needs_reset(void **state)
{
	struct fx *f = *state;

	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, 3);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* Not DRIVER_OK yet: no configuration interrupt. */
	assert_int_equal(f->irqs, 0);
	/* A reset recovers the device. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	driver_ok(f);
}

static void test_broken_ring_needs_reset(void **state)
{
	struct fx *f = *state;

	driver_ok(f);
	offer_buffer(f, 0, RAM - 8, 64); /* runs off the end of RAM */
	virtio_mmio_queue_notify(f->t, 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
	assert_int_equal(f->irqs, 1);
	assert_false(virtio_mmio_live(f->t));
	/* A failed device ignores its queues, and the driver cannot clear the bit. */
	offer_buffer(f, 1, BUF, 64);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(used_idx(f), 0);
	wr(f, VIRTIO_MMIO_STATUS, rd(f, VIRTIO_MMIO_STATUS) & ~VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);

	/* Reset, set up again, and it works. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	f->avail_idx = 0;
	assert_int_equal(gmem_write(f->gm, AVAIL + 2, &f->avail_idx, 2), 0);
	driver_ok(f);
	offer_buffer(f, 1, BUF, 64);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(used_idx(f), 1);
}

static void test_queue_registers_fixed_while_ready(void **state)
{
	struct fx *f = *state;

	driver_ok(f);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 4);
	assert_int_equal(f->t->vqs[0].desc_gpa, DESC);
	assert_int_equal(f->t->vqs[0].size, QSIZE);
	/* Clearing status bits (other than by writing 0) is ignored. */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void test_not_live_before_driver_ok(void **state)
{
	struct fx *f = *state;

	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, QSIZE);
	offer_buffer(f, 0, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(used_idx(f), 0);
	virtio_mmio_queue_notify(f->t, 7); /* out of range: ignored */
}

static void test_event_idx_suppresses_interrupts(void **state)
{
	struct fx *f = *state;
	uint16_t used_event = 2;

	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	setup_queue(f, QSIZE);
	wr(f, VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		   VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(gmem_write(f->gm, AVAIL + 4 + 2 * QSIZE, &used_event, 2), 0);
	offer_buffer(f, 0, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->irqs, 1); /* the first one always */
	offer_buffer(f, 1, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->irqs, 1); /* used idx 2: not past used_event yet */
	offer_buffer(f, 2, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->irqs, 2); /* used idx 3 passed entry 2 */
	assert_int_equal(used_idx(f), 3);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity_registers),
		T(test_queue_num_max),
		T(test_features_refused),
		T(test_request_served),
		T(test_bad_queue_size_needs_reset),
		T(test_broken_ring_needs_reset),
		T(test_queue_registers_fixed_while_ready),
		T(test_not_live_before_driver_ok),
		T(test_event_idx_suppresses_interrupts),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
