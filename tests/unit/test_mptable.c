/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the MP table writer (src/arch/x86/mptable.c). The tables
 * are parsed back out of guest memory with byte offsets taken from the MP
 * specification 1.4, not with the writer's own structs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "devices/ioapic.h"
#include "common/fixtures.h"
#include "vmm/gmem.h"

#define EBDA_SIZE (LAYOUT_LEGACY_HOLE - LAYOUT_EBDA)

/* Entry types and lengths, MP spec table 4-3. */
enum { PROC = 0, BUS = 1, IOAPIC = 2, IOINT = 3, LINT = 4 };

struct parsed {
	uint8_t img[EBDA_SIZE];
	unsigned int count[5];
	unsigned int nr_entries;
	/* offsets into img of each entry, in table order */
	unsigned int entry[128];
};

static int setup(void **state)
{
	return setup_gmem(state, MiB(64));
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/*
 * Read the EBDA back and check everything a parser such as Linux's
 * smp_scan_config()/smp_read_mpc() checks; fill in the entry list.
 */
static void parse(const struct gmem *gm, struct parsed *p)
{
	const uint8_t *mpf, *mpc;
	uint32_t table;
	uint16_t len, count;
	unsigned int off, i;

	memset(p, 0, sizeof(*p));
	assert_int_equal(gmem_read(gm, LAYOUT_EBDA, p->img, sizeof(p->img)), 0);

	mpf = p->img;
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(mpf[8], 1); /* length in paragraphs */
	assert_int_equal(mpf[9], 4); /* spec rev 1.4 */
	assert_int_equal(sum(mpf, 16), 0);
	assert_int_equal(mpf[11], 0); /* feature 1: a table follows, no default config */
	table = get_le32(mpf + 4);
	/* The floating pointer points at the table, which lies in the EBDA. */
	assert_int_equal(table, LAYOUT_EBDA + 16);

	mpc = p->img + (table - LAYOUT_EBDA);
	assert_memory_equal(mpc, "PCMP", 4);
	len = get_le16(mpc + 4);
	assert_true(len >= 44 && table + len <= LAYOUT_LEGACY_HOLE);
	assert_int_equal(mpc[6], 4);
	assert_int_equal(sum(mpc, len), 0);
	assert_memory_equal(mpc + 8, "LMIGTEST", 8);
	assert_memory_equal(mpc + 16, "LMIGTESTER  ", 12);
	assert_int_equal(get_le32(mpc + 28), 0); /* no OEM table */
	assert_int_equal(get_le32(mpc + 36), 0xfee00000);
	assert_int_equal(get_le16(mpc + 40), 0); /* no extended table */
	count = get_le16(mpc + 34);

	off = 44;
	for (i = 0; i < count; i++) {
		uint8_t type;

		assert_true(off < len);
		type = mpc[off];
		assert_true(type <= LINT);
		assert_true(p->nr_entries < 128);
		p->entry[p->nr_entries++] = (unsigned int)(table - LAYOUT_EBDA) + off;
		p->count[type]++;
		off += type == PROC ? 20 : 8;
	}
	/* The count and the length agree. */
	assert_int_equal(off, len);
}

static void check_table(struct gmem *gm, unsigned int nr_cpus)
{
	struct parsed *p = test_malloc(sizeof(*p));
	unsigned int i, cpus = 0, last_type = 0;
	bool seen_irq[16] = {false};
	unsigned int pin2_users = 0;

	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, nr_cpus, LAYOUT_IOAPIC), 0);
	parse(gm, p);

	assert_int_equal(p->count[PROC], nr_cpus);
	assert_int_equal(p->count[BUS], 1);
	assert_int_equal(p->count[IOAPIC], 1);
	assert_int_equal(p->count[IOINT], 15); /* ISA IRQ 0-15 but the IRQ 2 cascade */
	assert_int_equal(p->count[LINT], 2);
	assert_int_equal(p->nr_entries, nr_cpus + 19);

	for (i = 0; i < p->nr_entries; i++) {
		const uint8_t *e = p->img + p->entry[i];

		/* The spec wants entries sorted by type. */
		assert_true(e[0] >= last_type);
		last_type = e[0];
		switch (e[0]) {
		case PROC:
			assert_int_equal(e[1], cpus); /* APIC IDs 0..n-1 */
			assert_int_equal(e[2], 0x14);
			assert_true(e[3] & 1); /* enabled */
			/* BSP flag on cpu 0 only. */
			assert_int_equal(!!(e[3] & 2), cpus == 0);
			cpus++;
			break;
		case BUS:
			assert_int_equal(e[1], 0);
			assert_memory_equal(e + 2, "ISA   ", 6);
			break;
		case IOAPIC:
			assert_int_equal(e[1], nr_cpus); /* after the LAPIC IDs */
			assert_int_equal(e[2], IOAPIC_VERSION);
			assert_int_equal(e[3], 1); /* enabled */
			assert_int_equal(get_le32(e + 4), LAYOUT_IOAPIC);
			break;
		case IOINT:
			assert_int_equal(e[1], 0);	      /* INT */
			assert_int_equal(get_le16(e + 2), 0); /* conforming */
			assert_int_equal(e[4], 0);	      /* ISA bus */
			assert_true(e[5] < 16);
			assert_false(seen_irq[e[5]]);
			seen_irq[e[5]] = true;
			assert_int_equal(e[6], nr_cpus);
			assert_int_equal(e[7], e[5] == 0 ? 2 : e[5]);
			if (e[7] == 2)
				pin2_users++;
			break;
		case LINT:
			/* ExtINT on LINT0, NMI on LINT1, for every LAPIC. */
			assert_int_equal(e[1], e[7] == 0 ? 3 : 1);
			assert_true(e[7] <= 1);
			assert_int_equal(e[6], 0xff);
			break;
		}
	}
	assert_int_equal(cpus, nr_cpus);
	assert_true(seen_irq[0] && seen_irq[1] && seen_irq[15]);
	assert_false(seen_irq[2]);
	assert_int_equal(pin2_users, 1);
	test_free(p);
}

static void test_one_cpu(void **state)
{
	check_table(*state, 1);
}

static void test_four_cpus(void **state)
{
	check_table(*state, 4);
}

static void test_max_cpus_fit(void **state)
{
	struct gmem *gm = *state;
	unsigned int n;

	/*
	 * Find the largest count accepted; it must fill at most 1 KiB and
	 * leave no room for one more 20-byte processor entry.
	 */
	for (n = 1; n < 256; n++)
		if (mptable_write(gm, LAYOUT_EBDA, n, LAYOUT_IOAPIC) != 0)
			break;
	n--;
	assert_true(n >= 32);
	check_table(gm, n);
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, n + 1, LAYOUT_IOAPIC), -E2BIG);
	/* 16 + 44 + 20n + 8 + 8 + 15 * 8 + 2 * 8 bytes. */
	assert_true(212 + 20 * n <= EBDA_SIZE);
	assert_true(212 + 20 * (n + 1) > EBDA_SIZE);
}

static void test_bad_cpu_counts(void **state)
{
	struct gmem *gm = *state;
	uint8_t before[EBDA_SIZE], after[EBDA_SIZE];

	memset(before, 0x5a, sizeof(before));
	assert_int_equal(gmem_write(gm, LAYOUT_EBDA, before, sizeof(before)), 0);

	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, 0, LAYOUT_IOAPIC), -EINVAL);
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, 255, LAYOUT_IOAPIC), -E2BIG);
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, 256, LAYOUT_IOAPIC), -E2BIG);
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, ~0U, LAYOUT_IOAPIC), -E2BIG);

	/* Refused calls leave guest memory alone. */
	assert_int_equal(gmem_read(gm, LAYOUT_EBDA, after, sizeof(after)), 0);
	assert_memory_equal(before, after, sizeof(after));
}

static void test_bad_addresses(void **state)
{
	struct gmem *gm = *state;

	/* The floating pointer must be paragraph aligned. */
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA + 4, 1, LAYOUT_IOAPIC), -EINVAL);
	/* MP pointers are 32 bits. */
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, 1, 1ULL << 32), -EINVAL);
	assert_int_equal(mptable_write(gm, 0xfffffff0ULL, 1, LAYOUT_IOAPIC), -EINVAL);
	assert_int_equal(mptable_write(gm, UINT64_MAX - 15, 1, LAYOUT_IOAPIC), -EINVAL);
	/* Not RAM (the MMIO hole of a 64 MiB guest). */
	assert_int_equal(mptable_write(gm, MiB(64), 1, LAYOUT_IOAPIC), -EFAULT);
	/* Straddling the end of RAM. */
	assert_int_equal(mptable_write(gm, MiB(64) - 64, 1, LAYOUT_IOAPIC), -EFAULT);
}

static void test_small_gmem(void **state)
{
	struct gmem gm;

	(void)state;
	/* RAM ends below the EBDA. */
	assert_int_equal(gmem_layout(&gm, 0x9f000), 0);
	assert_int_equal(gmem_map(&gm), 0);
	assert_int_equal(mptable_write(&gm, LAYOUT_EBDA, 1, LAYOUT_IOAPIC), -EFAULT);
	gmem_unmap(&gm);

	/* RAM ends exactly at the top of the EBDA: enough. */
	assert_int_equal(gmem_layout(&gm, LAYOUT_LEGACY_HOLE), 0);
	assert_int_equal(gmem_map(&gm), 0);
	assert_int_equal(mptable_write(&gm, LAYOUT_EBDA, 4, LAYOUT_IOAPIC), 0);
	gmem_unmap(&gm);

	/*
	 * RAM ends inside the table. gmem_layout() only makes whole pages, so
	 * shrink the bank by hand to end 64 bytes into the EBDA.
	 */
	assert_int_equal(gmem_layout(&gm, LAYOUT_LEGACY_HOLE), 0);
	gm.banks[0].size = LAYOUT_EBDA + 64;
	assert_int_equal(gmem_map(&gm), 0);
	assert_int_equal(mptable_write(&gm, LAYOUT_EBDA, 1, LAYOUT_IOAPIC), -EFAULT);
	gmem_unmap(&gm);

	/* Laid out but never mapped: no host memory behind the EBDA. */
	assert_int_equal(gmem_layout(&gm, MiB(64)), 0);
	assert_int_equal(mptable_write(&gm, LAYOUT_EBDA, 1, LAYOUT_IOAPIC), -EFAULT);

	/* An empty gmem. */
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(mptable_write(&gm, LAYOUT_EBDA, 1, LAYOUT_IOAPIC), -EFAULT);
}

static void test_rewrite_is_stable(void **state)
{
	struct gmem *gm = *state;
	struct parsed *p = test_malloc(sizeof(*p));
	uint8_t first[EBDA_SIZE];

	/* A smaller table after a bigger one is still self-consistent. */
	check_table(gm, 8);
	check_table(gm, 2);
	assert_int_equal(gmem_read(gm, LAYOUT_EBDA, first, sizeof(first)), 0);
	assert_int_equal(mptable_write(gm, LAYOUT_EBDA, 2, LAYOUT_IOAPIC), 0);
	parse(gm, p);
	/* Deterministic: same input, same bytes. */
	assert_memory_equal(first, p->img, 16 + get_le16(p->img + 16 + 4));
	test_free(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown_gmem)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_one_cpu),
		T(test_four_cpus),
		T(test_max_cpus_fit),
		T(test_bad_cpu_counts),
		T(test_bad_addresses),
		/* Its own small guest memories. */
		cmocka_unit_test(test_small_gmem),
		T(test_rewrite_is_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
