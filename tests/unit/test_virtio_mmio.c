// SPDX-License-Identifier: MIT
/*
 * Unit tests for the virtio-mmio transport (src/devices/virtio/mmio.c),
 * with virtio-rng (src/devices/virtio/rng.c), the simplest device, behind
 * it: registers, feature negotiation, queue set-up, notifications,
 * interrupts, DEVICE_NEEDS_RESET on a broken ring, and reset. The driver's
 * side is common/virtq_fixture.h.
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
#include "common/virtq_fixture.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"

#define RAM MiB(1)
#define QSIZE 16
#define RING 0x1000ULL
#define BUF 0x10000ULL

struct fx {
	struct gmem *gm;
	struct virtio_rng *rng;
	struct virtio_mmio *t;
	struct vqf_owner owner;
	struct vqf q;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	char err[128];

	f->gm = try_new_gmem(RAM);
	if (!f->gm || virtio_rng_create(&f->rng, "rng-test", f->gm, NULL, &vqf_owner_ops, &f->owner,
					err, sizeof(err))) {
		free_gmem(f->gm);
		test_free(f);
		return -1;
	}
	f->t = virtio_rng_mmio(f->rng);
	vqf_init(&f->q, f->gm, RING, QSIZE);
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
	return vqf_read32(f->t, off);
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	vqf_write32(f->t, off, v);
}

static void driver_ok(struct fx *f)
{
	assert_int_equal(vqf_driver_start(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1), &f->q, 1) &
				 VIRTIO_STATUS_DRIVER_OK,
			 VIRTIO_STATUS_DRIVER_OK);
}

/* One writable buffer of len bytes at addr, offered in descriptor `i`. */
static void offer_buffer(struct fx *f, uint16_t i, uint64_t addr, uint32_t len)
{
	vqf_set_desc(&f->q, i, addr, len, VIRTQ_DESC_F_WRITE, 0);
	vqf_publish(&f->q, i);
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
	assert_int_equal(vqf_negotiate(f->t, 0) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* A feature we did not offer. */
	assert_int_equal(vqf_negotiate(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5)) &
				 VIRTIO_STATUS_FEATURES_OK,
			 0);
	/* DRIVER_OK without FEATURES_OK does not take. */
	wr(f, VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
	/* What we offer is accepted, and fixed once FEATURES_OK is set. */
	assert_int_equal(vqf_negotiate(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1) |
						     VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX)) &
				 VIRTIO_STATUS_FEATURES_OK,
			 VIRTIO_STATUS_FEATURES_OK);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_true(virtio_mmio_has_feature(f->t, VIRTIO_F_RING_EVENT_IDX));
}

static void test_request_served(void **state)
{
	struct fx *f = *state;
	uint8_t zero[64] = {0}, got[64];
	uint32_t id, len;

	driver_ok(f);
	offer_buffer(f, 3, BUF, sizeof(got));
	/* Without an ioeventfd the write reaches us and wakes the I/O thread. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->owner.kicks, 1);
	assert_int_equal(f->owner.last_kick, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 9); /* no such queue */
	assert_int_equal(f->owner.kicks, 1);
	assert_int_equal(vqf_used_idx(&f->q), 0); /* nothing done on the vCPU thread */

	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(vqf_used_idx(&f->q), 1);
	assert_true(vqf_pop_used(&f->q, &id, &len));
	assert_int_equal(len, sizeof(got));
	assert_int_equal(gmem_read(f->gm, BUF, got, sizeof(got)), 0);
	assert_memory_not_equal(got, zero, sizeof(got));
	assert_int_equal(f->owner.irqs, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_VRING);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_bad_queue_size_needs_reset(void **state)
{
	struct fx *f = *state;

	struct vqf bad = f->q;

	bad.size = 3;
	vqf_negotiate(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vqf_setup_queue(f->t, 0, &bad);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* Not DRIVER_OK yet: no configuration interrupt. */
	assert_int_equal(f->owner.irqs, 0);
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
	assert_int_equal(f->owner.irqs, 1);
	assert_false(virtio_mmio_live(f->t));
	/* A failed device ignores its queues, and the driver cannot clear the bit. */
	offer_buffer(f, 1, BUF, 64);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(vqf_used_idx(&f->q), 0);
	wr(f, VIRTIO_MMIO_STATUS, rd(f, VIRTIO_MMIO_STATUS) & ~VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);

	/* Reset, set up again, and it works. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	vqf_set_avail_idx(&f->q, 0);
	driver_ok(f);
	offer_buffer(f, 1, BUF, 64);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(vqf_used_idx(&f->q), 1);
}

static void test_queue_registers_fixed_while_ready(void **state)
{
	struct fx *f = *state;

	driver_ok(f);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 4);
	assert_int_equal(f->t->vqs[0].desc_gpa, RING);
	assert_int_equal(f->t->vqs[0].size, QSIZE);
	/* Clearing status bits (other than by writing 0) is ignored. */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void test_not_live_before_driver_ok(void **state)
{
	struct fx *f = *state;

	vqf_negotiate(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vqf_setup_queue(f->t, 0, &f->q);
	offer_buffer(f, 0, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(vqf_used_idx(&f->q), 0);
	virtio_mmio_queue_notify(f->t, 7); /* out of range: ignored */
}

static void test_event_idx_suppresses_interrupts(void **state)
{
	struct fx *f = *state;

	vqf_driver_start(f->t, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX),
			 &f->q, 1);
	vqf_set_used_event(&f->q, 2);
	offer_buffer(f, 0, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->owner.irqs, 1); /* the first one always */
	offer_buffer(f, 1, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->owner.irqs, 1); /* used idx 2: not past used_event yet */
	offer_buffer(f, 2, BUF, 16);
	virtio_mmio_queue_notify(f->t, 0);
	assert_int_equal(f->owner.irqs, 2); /* used idx 3 passed entry 2 */
	assert_int_equal(vqf_used_idx(&f->q), 3);
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
