/* SPDX-License-Identifier: MIT */
/* Unit tests for the userspace IOAPIC model (src/devices/ioapic.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/fixtures.h"
#include "devices/ioapic.h"

#define MAX_MSIS 16

/* Records every callback, so tests can count deliveries. */
struct fake_sink {
	unsigned int nr_msi;
	uint64_t address[MAX_MSIS];
	uint32_t data[MAX_MSIS];
	unsigned int nr_routes_changed;
	/* nr_msi when routes_changed last ran, to check the ordering */
	unsigned int msi_at_routes_changed;
};

static void fake_msi(void *ctx, uint64_t address, uint32_t data)
{
	struct fake_sink *s = ctx;

	if (s->nr_msi < MAX_MSIS) {
		s->address[s->nr_msi] = address;
		s->data[s->nr_msi] = data;
	}
	s->nr_msi++;
}

static void fake_routes_changed(void *ctx)
{
	struct fake_sink *s = ctx;

	s->nr_routes_changed++;
	s->msi_at_routes_changed = s->nr_msi;
}

static const struct ioapic_ops fake_ops = {
	.msi = fake_msi,
	.routes_changed = fake_routes_changed,
};

struct fixture {
	struct ioapic io;
	struct fake_sink sink;
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	ioapic_init(&f->io, &fake_ops, &f->sink);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	test_free(*state);
	return 0;
}

static uint32_t reg_read(struct ioapic *io, uint8_t reg)
{
	ioapic_mmio_write(io, IOAPIC_IOREGSEL, reg);
	return ioapic_mmio_read(io, IOAPIC_IOWIN);
}

static void reg_write(struct ioapic *io, uint8_t reg, uint32_t value)
{
	ioapic_mmio_write(io, IOAPIC_IOREGSEL, reg);
	ioapic_mmio_write(io, IOAPIC_IOWIN, value);
}

/* Write a whole entry the way Linux does: high half first, then low. */
static void redir_write(struct ioapic *io, unsigned int pin, uint64_t e)
{
	reg_write(io, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1), (uint32_t)(e >> 32));
	reg_write(io, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin), (uint32_t)e);
}

static uint64_t redir_read(struct ioapic *io, unsigned int pin)
{
	uint64_t lo = reg_read(io, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin));
	uint64_t hi = reg_read(io, (uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1));

	return hi << 32 | lo;
}

static uint64_t entry(uint8_t vector, uint8_t dest, bool level, bool masked)
{
	return vector | (uint64_t)dest << IOAPIC_REDIR_DEST_SHIFT |
	       (level ? IOAPIC_REDIR_LEVEL : 0) | (masked ? IOAPIC_REDIR_MASKED : 0);
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;
	unsigned int pin;

	for (pin = 0; pin < IOAPIC_NR_PINS; pin++)
		assert_int_equal(redir_read(&f->io, pin), IOAPIC_REDIR_MASKED);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ID), 0);
	assert_int_equal(f->sink.nr_msi, 0);
	assert_int_equal(f->sink.nr_routes_changed, 0);
	/* Masked pins do not produce a route. */
	assert_false(ioapic_pin_msi(&f->io, 0, NULL, NULL));
}

static void test_version_and_arbitration(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(reg_read(&f->io, IOAPIC_REG_VERSION), 0x00170020);
	/* Read-only: writes are dropped. */
	reg_write(&f->io, IOAPIC_REG_VERSION, 0);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_VERSION), 0x00170020);

	reg_write(&f->io, IOAPIC_REG_ID, 0x05000000);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ARB), 0x05000000);
	reg_write(&f->io, IOAPIC_REG_ARB, 0x0a000000);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ARB), 0x05000000);
}

static void test_id_register(void **state)
{
	struct fixture *f = *state;

	reg_write(&f->io, IOAPIC_REG_ID, 0x03000000);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ID), 0x03000000);
	assert_int_equal(f->io.id, 3);
	/* Only bits 24-27 exist. */
	reg_write(&f->io, IOAPIC_REG_ID, 0xffffffff);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ID), 0x0f000000);
	/* The owner may set the ID directly (to match the MP table). */
	f->io.id = 4;
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_ID), 0x04000000);
}

static void test_ioregsel(void **state)
{
	struct fixture *f = *state;

	ioapic_mmio_write(&f->io, IOAPIC_IOREGSEL, 0x12345611);
	/* IOREGSEL is 8 bits wide. */
	assert_int_equal(ioapic_mmio_read(&f->io, IOAPIC_IOREGSEL), 0x11);
}

static void test_redir_read_write(void **state)
{
	struct fixture *f = *state;
	uint64_t e = entry(0x31, 0x02, false, false) | IOAPIC_REDIR_DESTMODE |
		     IOAPIC_REDIR_POLARITY | 1ULL << IOAPIC_REDIR_DELMODE_SHIFT;

	redir_write(&f->io, 5, e);
	assert_int_equal(redir_read(&f->io, 5), e);
	/* Neighbours untouched. */
	assert_int_equal(redir_read(&f->io, 4), IOAPIC_REDIR_MASKED);
	assert_int_equal(redir_read(&f->io, 6), IOAPIC_REDIR_MASKED);

	/* Last pin: registers 0x3e/0x3f. */
	redir_write(&f->io, 23, entry(0x40, 0xff, true, true));
	assert_int_equal(reg_read(&f->io, 0x3e), 0x18040);
	assert_int_equal(reg_read(&f->io, 0x3f), 0xff000000);
	assert_int_equal(f->io.redtbl[23], entry(0x40, 0xff, true, true));
}

static void test_readonly_and_reserved_bits(void **state)
{
	struct fixture *f = *state;

	/* Delivery status, Remote IRR and reserved bits cannot be set. */
	reg_write(&f->io, IOAPIC_REG_REDTBL + 2 * 3, 0xffffffff);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_REDTBL + 2 * 3),
			 0xffffffff & ~(uint32_t)(IOAPIC_REDIR_DELIVS | IOAPIC_REDIR_REMOTE_IRR) &
				 0x1ffff);
	reg_write(&f->io, IOAPIC_REG_REDTBL + 2 * 3 + 1, 0xffffffff);
	assert_int_equal(reg_read(&f->io, IOAPIC_REG_REDTBL + 2 * 3 + 1), 0xff000000);

	/* Remote IRR survives a guest write that tries to clear it. */
	redir_write(&f->io, 7, entry(0x50, 0, true, false));
	ioapic_set_irq(&f->io, 7, true);
	assert_true(redir_read(&f->io, 7) & IOAPIC_REDIR_REMOTE_IRR);
	reg_write(&f->io, IOAPIC_REG_REDTBL + 2 * 7, (uint32_t)entry(0x50, 0, true, false));
	assert_true(redir_read(&f->io, 7) & IOAPIC_REDIR_REMOTE_IRR);
	assert_int_equal(f->sink.nr_msi, 1);
}

static void test_masked_pin_does_not_deliver(void **state)
{
	struct fixture *f = *state;

	ioapic_set_irq(&f->io, 4, true);
	ioapic_set_irq(&f->io, 4, false);
	assert_int_equal(f->sink.nr_msi, 0);

	/* Edge pin: an edge that arrived while masked is lost on unmask. */
	redir_write(&f->io, 4, entry(0x24, 0, false, true));
	ioapic_set_irq(&f->io, 4, true);
	redir_write(&f->io, 4, entry(0x24, 0, false, false));
	assert_int_equal(f->sink.nr_msi, 0);
	/* Masking again stops delivery of the next edge. */
	ioapic_set_irq(&f->io, 4, false);
	redir_write(&f->io, 4, entry(0x24, 0, false, true));
	ioapic_set_irq(&f->io, 4, true);
	assert_int_equal(f->sink.nr_msi, 0);
}

static void test_edge_delivery(void **state)
{
	struct fixture *f = *state;

	redir_write(&f->io, 4, entry(0x24, 0, false, false));
	ioapic_set_irq(&f->io, 4, true);
	assert_int_equal(f->sink.nr_msi, 1);
	/* Still high: no new edge. */
	ioapic_set_irq(&f->io, 4, true);
	assert_int_equal(f->sink.nr_msi, 1);
	ioapic_set_irq(&f->io, 4, false);
	assert_int_equal(f->sink.nr_msi, 1);
	ioapic_set_irq(&f->io, 4, true);
	assert_int_equal(f->sink.nr_msi, 2);
	assert_int_equal(f->sink.address[1], 0xfee00000);
	assert_int_equal(f->sink.data[1], 0x24);
	/* No Remote IRR for edge pins, and EOI does nothing to them. */
	assert_false(redir_read(&f->io, 4) & IOAPIC_REDIR_REMOTE_IRR);
	ioapic_eoi(&f->io, 0x24);
	assert_int_equal(f->sink.nr_msi, 2);
}

static void test_level_delivery_and_eoi(void **state)
{
	struct fixture *f = *state;

	redir_write(&f->io, 9, entry(0x39, 1, true, false));
	ioapic_set_irq(&f->io, 9, true);
	assert_int_equal(f->sink.nr_msi, 1);
	assert_true(redir_read(&f->io, 9) & IOAPIC_REDIR_REMOTE_IRR);
	assert_int_equal(f->sink.data[0], 0x39 | 1U << 15 | 1U << 14);

	/* Asserting again while Remote IRR is set does nothing. */
	ioapic_set_irq(&f->io, 9, false);
	ioapic_set_irq(&f->io, 9, true);
	assert_int_equal(f->sink.nr_msi, 1);

	/* EOI of another vector leaves the pin alone. */
	ioapic_eoi(&f->io, 0x38);
	assert_true(redir_read(&f->io, 9) & IOAPIC_REDIR_REMOTE_IRR);
	assert_int_equal(f->sink.nr_msi, 1);

	/* EOI with the line still high re-delivers and sets Remote IRR again. */
	ioapic_eoi(&f->io, 0x39);
	assert_int_equal(f->sink.nr_msi, 2);
	assert_true(redir_read(&f->io, 9) & IOAPIC_REDIR_REMOTE_IRR);

	/* Line dropped, then EOI: Remote IRR clears, nothing is sent. */
	ioapic_set_irq(&f->io, 9, false);
	ioapic_eoi(&f->io, 0x39);
	assert_int_equal(f->sink.nr_msi, 2);
	assert_false(redir_read(&f->io, 9) & IOAPIC_REDIR_REMOTE_IRR);

	/* A new assertion delivers at once. */
	ioapic_set_irq(&f->io, 9, true);
	assert_int_equal(f->sink.nr_msi, 3);
}

static void test_eoi_register(void **state)
{
	struct fixture *f = *state;

	redir_write(&f->io, 10, entry(0x4a, 0, true, false));
	redir_write(&f->io, 11, entry(0x4a, 0, true, false));
	ioapic_set_irq(&f->io, 10, true);
	ioapic_set_irq(&f->io, 11, true);
	assert_int_equal(f->sink.nr_msi, 2);
	ioapic_set_irq(&f->io, 11, false);

	/* Only the low 8 bits are the vector. Both pins share it. */
	ioapic_mmio_write(&f->io, IOAPIC_EOI, 0xffffff4a);
	assert_int_equal(f->sink.nr_msi, 3); /* pin 10 still high */
	assert_true(redir_read(&f->io, 10) & IOAPIC_REDIR_REMOTE_IRR);
	assert_false(redir_read(&f->io, 11) & IOAPIC_REDIR_REMOTE_IRR);
	/* The EOI register is write-only. */
	assert_int_equal(ioapic_mmio_read(&f->io, IOAPIC_EOI), 0xffffffff);
}

static void test_unmask_level_asserted_delivers(void **state)
{
	struct fixture *f = *state;
	unsigned int routes;

	redir_write(&f->io, 12, entry(0x5c, 0, true, true));
	ioapic_set_irq(&f->io, 12, true);
	assert_int_equal(f->sink.nr_msi, 0);

	routes = f->sink.nr_routes_changed;
	redir_write(&f->io, 12, entry(0x5c, 0, true, false));
	assert_int_equal(f->sink.nr_msi, 1);
	assert_true(redir_read(&f->io, 12) & IOAPIC_REDIR_REMOTE_IRR);
	/* The routes were refreshed before the vector went out. */
	assert_int_equal(f->sink.nr_routes_changed, routes + 1);
	assert_int_equal(f->sink.msi_at_routes_changed, 0);

	/* Masked while Remote IRR is set, unmasked again: no second message. */
	redir_write(&f->io, 12, entry(0x5c, 0, true, true));
	redir_write(&f->io, 12, entry(0x5c, 0, true, false));
	assert_int_equal(f->sink.nr_msi, 1);
}

static void test_edge_switch_clears_remote_irr(void **state)
{
	struct fixture *f = *state;

	redir_write(&f->io, 13, entry(0x5d, 0, true, false));
	ioapic_set_irq(&f->io, 13, true);
	assert_true(redir_read(&f->io, 13) & IOAPIC_REDIR_REMOTE_IRR);
	ioapic_set_irq(&f->io, 13, false);

	/* Linux's pre-0x20 EOI trick: switch to edge and back to level. */
	reg_write(&f->io, IOAPIC_REG_REDTBL + 2 * 13, (uint32_t)entry(0x5d, 0, false, true));
	assert_false(redir_read(&f->io, 13) & IOAPIC_REDIR_REMOTE_IRR);
	reg_write(&f->io, IOAPIC_REG_REDTBL + 2 * 13, (uint32_t)entry(0x5d, 0, true, false));
	assert_false(redir_read(&f->io, 13) & IOAPIC_REDIR_REMOTE_IRR);
	assert_int_equal(f->sink.nr_msi, 1);
	ioapic_set_irq(&f->io, 13, true);
	assert_int_equal(f->sink.nr_msi, 2);
}

static void test_msi_encoding(void **state)
{
	struct fixture *f = *state;
	uint64_t address = 0;
	uint32_t data = 0;
	/* Logical destination 0x0f, lowest priority, active low, edge. */
	uint64_t e = entry(0xa1, 0x0f, false, false) | IOAPIC_REDIR_DESTMODE |
		     IOAPIC_REDIR_POLARITY | 1ULL << IOAPIC_REDIR_DELMODE_SHIFT;

	redir_write(&f->io, 1, e);
	assert_true(ioapic_pin_msi(&f->io, 1, &address, &data));
	assert_int_equal(address, 0xfee0f004);
	assert_int_equal(data, 0x1a1);

	/* Physical destination 0xfe, NMI delivery mode, level. */
	e = entry(0x02, 0xfe, true, false) | 4ULL << IOAPIC_REDIR_DELMODE_SHIFT;
	redir_write(&f->io, 2, e);
	assert_true(ioapic_pin_msi(&f->io, 2, &address, &data));
	assert_int_equal(address, 0xfeefe000);
	assert_int_equal(data, 0x02 | 4U << 8 | 1U << 14 | 1U << 15);

	/* What is delivered is what ioapic_pin_msi() reports. */
	ioapic_set_irq(&f->io, 1, true);
	assert_int_equal(f->sink.nr_msi, 1);
	assert_int_equal(f->sink.address[0], 0xfee0f004);
	assert_int_equal(f->sink.data[0], 0x1a1);

	/* Masked: no route; NULL outputs are allowed. */
	redir_write(&f->io, 1, e | IOAPIC_REDIR_MASKED);
	address = 1;
	assert_false(ioapic_pin_msi(&f->io, 1, &address, &data));
	assert_int_equal(address, 1);
	assert_true(ioapic_pin_msi(&f->io, 2, NULL, NULL));
	assert_false(ioapic_pin_msi(&f->io, IOAPIC_NR_PINS, &address, &data));
	assert_false(ioapic_pin_msi(&f->io, ~0U, &address, &data));
}

static void test_routes_changed(void **state)
{
	struct fixture *f = *state;

	/* Writing the reset value changes nothing. */
	redir_write(&f->io, 0, IOAPIC_REDIR_MASKED);
	assert_int_equal(f->sink.nr_routes_changed, 0);
	/* Only the writable bits count: a Remote IRR write is no change. */
	reg_write(&f->io, IOAPIC_REG_REDTBL, (uint32_t)(IOAPIC_REDIR_MASKED | IOAPIC_REDIR_DELIVS));
	assert_int_equal(f->sink.nr_routes_changed, 0);

	/* High half, then low half: two changes. */
	redir_write(&f->io, 0, entry(0x30, 1, false, false));
	assert_int_equal(f->sink.nr_routes_changed, 2);
	/* The same entry again: no change. */
	redir_write(&f->io, 0, entry(0x30, 1, false, false));
	assert_int_equal(f->sink.nr_routes_changed, 2);
	/* The ID and other registers are not routes. */
	reg_write(&f->io, IOAPIC_REG_ID, 0x01000000);
	assert_int_equal(f->sink.nr_routes_changed, 2);
	/* Deliveries and EOIs change Remote IRR, not routes. */
	redir_write(&f->io, 0, entry(0x30, 1, true, false));
	assert_int_equal(f->sink.nr_routes_changed, 3);
	ioapic_set_irq(&f->io, 0, true);
	ioapic_eoi(&f->io, 0x30);
	assert_int_equal(f->sink.nr_msi, 2);
	assert_int_equal(f->sink.nr_routes_changed, 3);
}

static void test_bad_offsets_and_registers(void **state)
{
	struct fixture *f = *state;
	uint64_t before[IOAPIC_NR_PINS];
	static const uint64_t offs[] = {0x04, 0x08, 0x0c,  0x14,   0x20,
					0x3c, 0x44, 0xfff, 0x1000, UINT64_MAX};
	unsigned int i;

	memcpy(before, f->io.redtbl, sizeof(before));
	ioapic_mmio_write(&f->io, IOAPIC_IOREGSEL, IOAPIC_REG_REDTBL);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		ioapic_mmio_write(&f->io, offs[i], 0);
		assert_int_equal(ioapic_mmio_read(&f->io, offs[i]), 0xffffffff);
	}
	assert_memory_equal(before, f->io.redtbl, sizeof(before));
	assert_int_equal(ioapic_mmio_read(&f->io, IOAPIC_IOREGSEL), IOAPIC_REG_REDTBL);

	/* Undefined indirect registers: 0x03-0x0f and past the last pin. */
	for (i = 0x03; i <= 0xff; i++) {
		if (i >= IOAPIC_REG_REDTBL && i < IOAPIC_REG_REDTBL + 2 * IOAPIC_NR_PINS)
			continue;
		reg_write(&f->io, (uint8_t)i, 0);
		assert_int_equal(reg_read(&f->io, (uint8_t)i), 0xffffffff);
	}
	assert_memory_equal(before, f->io.redtbl, sizeof(before));
	assert_int_equal(f->sink.nr_routes_changed, 0);
}

static void test_bad_pins(void **state)
{
	struct fixture *f = *state;
	unsigned int pin;

	for (pin = 0; pin < IOAPIC_NR_PINS; pin++)
		redir_write(&f->io, pin, entry((uint8_t)(0x20 + pin), 0, false, false));
	ioapic_set_irq(&f->io, IOAPIC_NR_PINS, true);
	ioapic_set_irq(&f->io, 31, true);
	ioapic_set_irq(&f->io, 32, true);
	ioapic_set_irq(&f->io, ~0U, true);
	assert_int_equal(f->sink.nr_msi, 0);
	assert_int_equal(f->io.irr, 0);
}

static void test_null_ops(void **state)
{
	struct ioapic io;

	(void)state;
	ioapic_init(&io, NULL, NULL);
	redir_write(&io, 0, entry(0x30, 0, true, false));
	ioapic_set_irq(&io, 0, true);
	assert_true(redir_read(&io, 0) & IOAPIC_REDIR_REMOTE_IRR);
	ioapic_eoi(&io, 0x30);
	ioapic_mmio_write(&io, IOAPIC_EOI, 0x30);
}

/* Every register and offset pattern the guest could write: nothing breaks. */
static void test_write_everything(void **state)
{
	struct fixture *f = *state;
	unsigned int sel, pin;
	static const uint32_t vals[] = {0, 0xffffffff, 0x0001a0ff, 0x00008000, 0x00010000};
	unsigned int v;

	for (sel = 0; sel <= 0xff; sel++) {
		for (v = 0; v < ARRAY_SIZE(vals); v++) {
			reg_write(&f->io, (uint8_t)sel, vals[v]);
			(void)reg_read(&f->io, (uint8_t)sel);
			for (pin = 0; pin < IOAPIC_NR_PINS; pin += 7)
				ioapic_set_irq(&f->io, pin, v & 1);
			ioapic_mmio_write(&f->io, IOAPIC_EOI, vals[v]);
		}
	}
	assert_true(f->io.id <= 0xf);
	for (pin = 0; pin < IOAPIC_NR_PINS; pin++)
		assert_int_equal(f->io.redtbl[pin] & 0x00fffffffffe0000ULL, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_version_and_arbitration),
		T(test_id_register),
		T(test_ioregsel),
		T(test_redir_read_write),
		T(test_readonly_and_reserved_bits),
		T(test_masked_pin_does_not_deliver),
		T(test_edge_delivery),
		T(test_level_delivery_and_eoi),
		T(test_eoi_register),
		T(test_unmask_level_asserted_delivers),
		T(test_edge_switch_clears_remote_irr),
		T(test_msi_encoding),
		T(test_routes_changed),
		T(test_bad_offsets_and_registers),
		T(test_bad_pins),
		cmocka_unit_test(test_null_ops),
		T(test_write_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
