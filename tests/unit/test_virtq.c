// SPDX-License-Identifier: MIT
/*
 * Unit tests for split virtqueues (src/devices/virtio/queue.c), driven as a
 * guest driver would lay them out in guest memory, including every way a
 * hostile guest can break a ring: loops, indexes out of range, buffers that
 * are not RAM, bad indirect tables.
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
#include "devices/virtio/queue.h"

#define RAM MiB(1)
#define QSIZE 8
#define DESC 0x1000ULL
#define AVAIL 0x2000ULL
#define USED 0x3000ULL
#define BUF 0x10000ULL
#define ITABLE 0x8000ULL

struct fx {
	struct gmem *gm;
	struct virtq vq;
	struct virtq_chain chain;
	uint16_t avail_idx;
};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));

	f->gm = try_new_gmem(RAM);
	if (!f->gm) {
		test_free(f);
		return -1;
	}
	virtq_reset(&f->vq);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free_gmem(f->gm);
	test_free(f);
	return 0;
}

static void put_desc(struct fx *f, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	assert_int_equal(gmem_write(f->gm, table + 16ULL * i, &d, sizeof(d)), 0);
}

static void put_u16(struct fx *f, uint64_t gpa, uint16_t v)
{
	assert_int_equal(gmem_write(f->gm, gpa, &v, 2), 0);
}

static uint16_t get_u16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(gmem_read(f->gm, gpa, &v, 2), 0);
	return v;
}

/* Make `head` available: ring[idx % size] = head, then idx + 1. */
static void offer(struct fx *f, uint16_t head)
{
	put_u16(f, AVAIL + 4 + 2 * (f->avail_idx % QSIZE), head);
	f->avail_idx++;
	put_u16(f, AVAIL + 2, f->avail_idx);
}

static void activate(struct fx *f, bool indirect, bool event_idx)
{
	f->vq.indirect = indirect;
	f->vq.event_idx = event_idx;
	assert_int_equal(virtq_activate(&f->vq, f->gm, VIRTQ_MAX_SIZE), 0);
	assert_true(f->vq.ready);
}

/* Pop must break the queue, with an error that mentions `what`. */
static void expect_broken(struct fx *f, const char *what)
{
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -EIO);
	assert_true(f->vq.broken);
	assert_mentions(f->vq.error, what, NULL);
	/* ... and stay broken. */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), -EIO);
	assert_false(virtq_has_avail(&f->vq));
}

static void test_activate_checks(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 6, 512};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		f->vq.size = bad_sizes[i];
		assert_int_equal(virtq_activate(&f->vq, f->gm, 256), -EINVAL);
		assert_false(f->vq.ready);
		assert_mentions(f->vq.error, "power of two", NULL);
	}
	f->vq.size = 16;
	assert_int_equal(virtq_activate(&f->vq, f->gm, 8), -EINVAL); /* above the maximum */
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC + 8;
	assert_int_equal(virtq_activate(&f->vq, f->gm, 256), -EINVAL);
	assert_mentions(f->vq.error, "misaligned", NULL);
	f->vq.desc_gpa = DESC;
	f->vq.used_gpa = USED + 2;
	assert_int_equal(virtq_activate(&f->vq, f->gm, 256), -EINVAL);
	f->vq.used_gpa = RAM - 16; /* 6 + 8 * 8 bytes do not fit */
	assert_int_equal(virtq_activate(&f->vq, f->gm, 256), -EINVAL);
	assert_mentions(f->vq.error, "not in guest RAM", NULL);
	f->vq.used_gpa = USED;
	f->vq.avail_gpa = 0xfffffffffffffffeULL; /* wraps */
	assert_int_equal(virtq_activate(&f->vq, f->gm, 256), -EINVAL);
	assert_false(f->vq.ready);
	f->vq.avail_gpa = AVAIL;
	assert_int_equal(virtq_activate(&f->vq, f->gm, 256), 0);
}

static void test_empty_and_simple_chain(void **state)
{
	struct fx *f = *state;
	uint32_t used[2];

	activate(f, false, false);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
	assert_false(virtq_has_avail(&f->vq));

	/* A 16-byte header, 100 bytes of data to read, 1 status byte to write. */
	put_desc(f, DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	put_desc(f, DESC, 5, BUF + 0x100, 100, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	assert_true(virtq_has_avail(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.nr_out, 2);
	assert_int_equal(f->chain.nr_in, 1);
	assert_int_equal(f->chain.out_len, 116);
	assert_int_equal(f->chain.in_len, 1);
	assert_ptr_equal(f->chain.segs[0].host, gmem_ptr(f->gm, BUF, 16));
	assert_ptr_equal(f->chain.segs[1].host, gmem_ptr(f->gm, BUF + 0x100, 100));
	assert_int_equal(f->chain.segs[2].gpa, BUF + 0x200);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);

	virtq_push(&f->vq, 3, 1);
	assert_int_equal(get_u16(f, USED + 2), 1);
	assert_int_equal(gmem_read(f->gm, USED + 4, used, sizeof(used)), 0);
	assert_int_equal(used[0], 3);
	assert_int_equal(used[1], 1);
}

static void test_indices_wrap(void **state)
{
	struct fx *f = *state;
	unsigned int i;

	activate(f, false, false);
	/* Start both sides just below the 16-bit wrap. */
	f->avail_idx = 0xfffd;
	f->vq.last_avail = 0xfffd;
	f->vq.used_idx = 0xfffd;
	put_desc(f, DESC, 0, BUF, 8, 0, 0);
	for (i = 0; i < 6; i++) {
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
		virtq_push(&f->vq, 0, 8);
	}
	assert_int_equal(f->vq.last_avail, 3);
	assert_int_equal(get_u16(f, USED + 2), 3);
}

static void test_zero_length_descriptor_skipped(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 0, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 0);
	assert_int_equal(f->chain.nr_in, 1);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;

	activate(f, true, false);
	put_desc(f, ITABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, ITABLE, 2, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(f, ITABLE, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, DESC, 4, ITABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 4);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 4);
	assert_int_equal(f->chain.nr_out, 1);
	assert_int_equal(f->chain.nr_in, 2);
	assert_int_equal(f->chain.in_len, 513);
	assert_int_equal(f->chain.segs[1].gpa, BUF + 0x100);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, ITABLE, 0, BUF, 16, 0, 0);
	put_desc(f, DESC, 0, ITABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f, "INDIRECT_DESC");
}

static void test_indirect_bad_tables(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		const char *what;
	} cases[] = {
		{ITABLE, 24, VIRTQ_DESC_F_INDIRECT, "indirect table length"},
		{ITABLE, 0, VIRTQ_DESC_F_INDIRECT, "indirect table length"},
		{ITABLE, (VIRTQ_MAX_INDIRECT + 1) * 16, VIRTQ_DESC_F_INDIRECT,
		 "indirect table length"},
		{RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, "not guest RAM"},
		{ITABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, "INDIRECT and NEXT"},
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		virtq_reset(&f->vq);
		f->vq.size = QSIZE;
		f->vq.desc_gpa = DESC;
		f->vq.avail_gpa = AVAIL;
		f->vq.used_gpa = USED;
		f->avail_idx = 0;
		activate(f, true, false);
		put_desc(f, ITABLE, 0, BUF, 16, 0, 0);
		put_desc(f, DESC, 0, cases[i].addr, cases[i].len, cases[i].flags, 1);
		offer(f, 0);
		expect_broken(f, cases[i].what);
	}
}

static void test_nested_indirect(void **state)
{
	struct fx *f = *state;

	activate(f, true, false);
	put_desc(f, ITABLE, 0, ITABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, DESC, 0, ITABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f, "nested indirect");
}

static void test_indirect_loop_bounded(void **state)
{
	struct fx *f = *state;

	activate(f, true, false);
	put_desc(f, ITABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, ITABLE, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	put_desc(f, DESC, 0, ITABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f, "more than 2 descriptors");
}

static void test_descriptor_loop(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_broken(f, "more than 8 descriptors");
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 2, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	offer(f, 2);
	expect_broken(f, "a loop");
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(f, 0);
	expect_broken(f, "next index 8");
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	offer(f, QSIZE);
	expect_broken(f, "head index 8");
}

static void test_avail_index_too_far(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 8, 0, 0);
	put_u16(f, AVAIL + 2, QSIZE + 1);
	expect_broken(f, "ahead");
}

static void test_buffer_not_ram(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint64_t addr;
		uint32_t len;
	} cases[] = {
		{RAM, 1},		       /* just past the end */
		{RAM - 10, 20},		       /* runs off the end */
		{0xfffffffffffffff0ULL, 0x20}, /* wraps */
		{LAYOUT_IOAPIC, 4},	       /* MMIO */
		{BUF, 0xffffffffU},	       /* 4 GiB from a 1 MiB guest */
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		virtq_reset(&f->vq);
		f->vq.size = QSIZE;
		f->vq.desc_gpa = DESC;
		f->vq.avail_gpa = AVAIL;
		f->vq.used_gpa = USED;
		f->avail_idx = 0;
		activate(f, false, false);
		put_desc(f, DESC, 0, cases[i].addr, cases[i].len, 0, 0);
		offer(f, 0);
		expect_broken(f, "not guest RAM");
	}
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(f, DESC, 1, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, "readable buffer after a writable one");
}

static void test_reset_clears_broken(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	offer(f, QSIZE);
	expect_broken(f, "head");
	virtq_reset(&f->vq);
	assert_false(f->vq.broken);
	assert_false(f->vq.ready);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
}

static void test_notify_no_interrupt_flag(void **state)
{
	struct fx *f = *state;

	activate(f, false, false);
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_should_notify(&f->vq));
	put_u16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&f->vq, 0, 0);
	assert_false(virtq_should_notify(&f->vq));
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = *state;
	unsigned int i;
	const uint64_t used_event = AVAIL + 4 + 2 * QSIZE;

	activate(f, false, true);
	/* The first push always notifies (nothing signalled yet). */
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_should_notify(&f->vq));
	/* The driver wants an interrupt once used passes entry 4 (idx 5). */
	put_u16(f, used_event, 4);
	for (i = 2; i <= 4; i++) {
		virtq_push(&f->vq, 0, 0);
		assert_false(virtq_should_notify(&f->vq));
	}
	virtq_push(&f->vq, 0, 0); /* used idx 5: crossed */
	assert_true(virtq_should_notify(&f->vq));
	virtq_push(&f->vq, 0, 0);
	assert_false(virtq_should_notify(&f->vq));
	/* Several pushes at once that jump over used_event still notify. */
	put_u16(f, used_event, 7);
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_should_notify(&f->vq));
	/* Nothing new since the last interrupt: none. */
	assert_false(virtq_should_notify(&f->vq));
}

static void test_enable_notify(void **state)
{
	struct fx *f = *state;
	const uint64_t avail_event = USED + 4 + 8 * QSIZE;

	activate(f, false, false);
	virtq_enable_notify(&f->vq, false);
	assert_int_equal(get_u16(f, USED), VIRTQ_USED_F_NO_NOTIFY);
	virtq_enable_notify(&f->vq, true);
	assert_int_equal(get_u16(f, USED), 0);

	virtq_reset(&f->vq);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	activate(f, false, true);
	put_desc(f, DESC, 0, BUF, 8, 0, 0);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);
	virtq_enable_notify(&f->vq, true);
	assert_int_equal(get_u16(f, avail_event), 2);
}

static void test_next(void **state)
{
	struct fx *f = *state;
	const uint64_t avail_event = USED + 4 + 8 * QSIZE;

	activate(f, false, false);
	put_desc(f, DESC, 0, BUF, 8, 0, 0);
	offer(f, 0);
	/* A chain: taken with notifications off. */
	assert_int_equal(virtq_next(&f->vq, &f->chain), 1);
	assert_int_equal(get_u16(f, USED), VIRTQ_USED_F_NO_NOTIFY);
	/* Empty: notifications back on. */
	assert_int_equal(virtq_next(&f->vq, &f->chain), 0);
	assert_int_equal(get_u16(f, USED), 0);
	/* Broken: -EIO. */
	offer(f, QSIZE);
	assert_int_equal(virtq_next(&f->vq, &f->chain), -EIO);

	/* With EVENT_IDX: avail_event asks for the next entry once empty. */
	virtq_reset(&f->vq);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	f->avail_idx = 0;
	put_u16(f, AVAIL + 2, 0);
	put_u16(f, USED, 0);
	activate(f, false, true);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_next(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_next(&f->vq, &f->chain), 1);
	assert_int_equal(virtq_next(&f->vq, &f->chain), 0);
	assert_int_equal(get_u16(f, avail_event), 2);
	assert_int_equal(get_u16(f, USED), 0); /* flags untouched with EVENT_IDX */
}

static void test_chain_copy(void **state)
{
	struct fx *f = *state;
	uint8_t out[40], in[40], back[40];
	unsigned int i;

	activate(f, false, false);
	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i + 1);
	assert_int_equal(gmem_write(f->gm, BUF, out, 10), 0);
	assert_int_equal(gmem_write(f->gm, BUF + 0x100, out + 10, 30), 0);
	put_desc(f, DESC, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 0x100, 30, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x200, 7, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	put_desc(f, DESC, 3, BUF + 0x300, 33, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), 1);

	memset(in, 0, sizeof(in));
	assert_int_equal(virtq_chain_read(&f->chain, 5, in, 20), 20);
	assert_memory_equal(in, out + 5, 20);
	assert_int_equal(virtq_chain_read(&f->chain, 35, in, 20), 5); /* only 40 readable */
	assert_int_equal(virtq_chain_read(&f->chain, 50, in, 20), 0);

	assert_int_equal(virtq_chain_write(&f->chain, 3, out, 40), 37);
	assert_int_equal(gmem_read(f->gm, BUF + 0x200 + 3, back, 4), 0);
	assert_memory_equal(back, out, 4);
	assert_int_equal(gmem_read(f->gm, BUF + 0x300, back, 33), 0);
	assert_memory_equal(back, out + 4, 33);
}

static void test_not_ready(void **state)
{
	struct fx *f = *state;

	assert_int_equal(virtq_pop(&f->vq, &f->chain), 0);
	assert_false(virtq_has_avail(&f->vq));
	assert_false(virtq_should_notify(&f->vq));
	virtq_push(&f->vq, 0, 0); /* ignored, no crash */
	virtq_enable_notify(&f->vq, true);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_activate_checks),
		T(test_empty_and_simple_chain),
		T(test_indices_wrap),
		T(test_zero_length_descriptor_skipped),
		T(test_indirect),
		T(test_indirect_not_negotiated),
		T(test_indirect_bad_tables),
		T(test_nested_indirect),
		T(test_indirect_loop_bounded),
		T(test_descriptor_loop),
		T(test_self_loop),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_avail_index_too_far),
		T(test_buffer_not_ram),
		T(test_readable_after_writable),
		T(test_reset_clears_broken),
		T(test_notify_no_interrupt_flag),
		T(test_notify_event_idx),
		T(test_enable_notify),
		T(test_next),
		T(test_chain_copy),
		T(test_not_ready),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
