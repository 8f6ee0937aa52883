// SPDX-License-Identifier: MIT
/*
 * Unit tests for guest memory (src/vmm/gmem.c): the bank layout around the
 * 32-bit MMIO hole and the checked (gpa, len) accessors at every edge a
 * guest could aim at: a bank's last byte, one byte past it, the hole, the
 * gap between banks and ranges that wrap the 64-bit address space.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdio.h>

#include "arch/x86/layout.h"
#include "common/fixtures.h"
#include "vmm/gmem.h"

/* A mapped gmem in *state, freed by teardown_gmem(). */
static int setup_16m(void **state)
{
	return setup_gmem(state, MiB(16));
}

static int setup_5g(void **state)
{
	return setup_gmem(state, GiB(5));
}

/* ---- gmem_layout ---- */

static void test_layout_zero(void **state)
{
	struct gmem gm;

	(void)state;
	memset(&gm, 0xaa, sizeof(gm));
	assert_int_equal(gmem_layout(&gm, 0), -EINVAL);
	assert_int_equal(gm.nr_banks, 0);
	assert_int_equal(gm.ram_size, 0);
}

static void test_layout_unaligned(void **state)
{
	static const uint64_t sizes[] = {1, 4095, 4097, MiB(256) + 1, MiB(256) - 1, GiB(5) + 512};
	struct gmem gm;
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		assert_int_equal(gmem_layout(&gm, sizes[i]), -EINVAL);
		assert_int_equal(gm.nr_banks, 0);
	}
}

struct bank {
	uint64_t gpa, size;
};

/* gmem_layout(ram) makes exactly the banks want[0..n), none of them mapped yet. */
static void expect_layout(uint64_t ram, const struct bank *want, unsigned int n)
{
	struct gmem gm;
	unsigned int i;
	int r;

	memset(&gm, 0xaa, sizeof(gm));
	r = gmem_layout(&gm, ram);
	if (r)
		fail_msg("gmem_layout(0x%llx) = %d", (unsigned long long)ram, r);
	assert_int_equal(gm.ram_size, ram);
	assert_int_equal(gm.nr_banks, n);
	for (i = 0; i < n; i++) {
		const struct gmem_bank *got = &gm.banks[i];

		if (got->gpa != want[i].gpa || got->size != want[i].size)
			fail_msg("RAM 0x%llx: bank %u is 0x%llx+0x%llx, expected 0x%llx+0x%llx",
				 (unsigned long long)ram, i, (unsigned long long)got->gpa,
				 (unsigned long long)got->size, (unsigned long long)want[i].gpa,
				 (unsigned long long)want[i].size);
		/* gmem_layout does not allocate. */
		assert_null(got->host);
	}
}

static void test_layout_one_page(void **state)
{
	static const struct bank want[] = {{0, 4096}};

	(void)state;
	expect_layout(4096, want, ARRAY_SIZE(want));
}

static void test_layout_256m(void **state)
{
	static const struct bank want[] = {{0, MiB(256)}};

	(void)state;
	expect_layout(MiB(256), want, ARRAY_SIZE(want));
}

static void test_layout_exactly_3g(void **state)
{
	static const struct bank want[] = {{0, LAYOUT_MMIO_HOLE_START}};

	(void)state;
	assert_int_equal(LAYOUT_MMIO_HOLE_START, GiB(3));
	expect_layout(GiB(3), want, ARRAY_SIZE(want));
}

static void test_layout_3g_plus_page(void **state)
{
	static const struct bank want[] = {{0, GiB(3)}, {GiB(4), 4096}};

	(void)state;
	expect_layout(GiB(3) + 4096, want, ARRAY_SIZE(want));
}

static void test_layout_5g(void **state)
{
	/* The high bank ends at 6 GiB. */
	static const struct bank want[] = {{0, GiB(3)}, {GiB(4), GiB(2)}};

	(void)state;
	assert_int_equal(LAYOUT_HIGH_RAM, GiB(4));
	expect_layout(GiB(5), want, ARRAY_SIZE(want));
}

/* Sizes whose high bank would run past 2^64 are refused; the largest that fits is not. */
static void test_layout_huge(void **state)
{
	const uint64_t page_mask = ~(GMEM_PAGE_SIZE - 1);
	/* The largest page-aligned size the layout accepts: ram <= UINT64_MAX - 4 GiB. */
	const uint64_t largest = (UINT64_MAX - LAYOUT_HIGH_RAM) & page_mask;
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, UINT64_MAX & page_mask), -EINVAL);
	assert_int_equal(gm.nr_banks, 0);
	assert_int_equal(gmem_layout(&gm, largest + GMEM_PAGE_SIZE), -EINVAL);
	assert_int_equal(gmem_layout(&gm, 1ULL << 63), 0);
	assert_int_equal(gmem_layout(&gm, largest), 0);
	assert_int_equal(gm.nr_banks, 2);
	assert_int_equal(gm.banks[1].gpa, GiB(4));
	assert_int_equal(gm.banks[1].size, largest - GiB(3));
	/* The high bank's end does not wrap. */
	assert_true(gm.banks[1].gpa + gm.banks[1].size > gm.banks[1].gpa);
	assert_int_equal(gmem_bank_end(&gm, GiB(4)), gm.banks[1].gpa + gm.banks[1].size);
	assert_int_equal(gm.banks[1].gpa + gm.banks[1].size, UINT64_MAX - GiB(3) - 4096 + 1);
	assert_true(gmem_is_ram(&gm, UINT64_MAX - GiB(3) - 4096 - 7, 8));
	assert_false(gmem_is_ram(&gm, UINT64_MAX - GiB(3) - 4096 - 7, 9));
}

/* ---- gmem_ptr / gmem_read / gmem_write, one 16 MiB bank ---- */

static void test_ptr_at_bank_end(void **state)
{
	struct gmem *gm = *state;
	uint8_t *host = gm->banks[0].host;

	assert_non_null(host);
	assert_ptr_equal(gmem_ptr(gm, 0, MiB(16)), host);
	assert_null(gmem_ptr(gm, 0, MiB(16) + 1));
	assert_ptr_equal(gmem_ptr(gm, MiB(16) - 8, 8), host + MiB(16) - 8);
	assert_ptr_equal(gmem_ptr(gm, MiB(16) - 1, 1), host + MiB(16) - 1);
	assert_null(gmem_ptr(gm, MiB(16) - 8, 9));
	assert_null(gmem_ptr(gm, MiB(16) - 1, 2));
	assert_null(gmem_ptr(gm, MiB(16), 1));
	assert_true(gmem_is_ram(gm, MiB(16) - 8, 8));
	assert_false(gmem_is_ram(gm, MiB(16) - 8, 9));
	assert_false(gmem_is_ram(gm, MiB(16), 1));
}

static void test_read_write_at_bank_end(void **state)
{
	struct gmem *gm = *state;
	uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[9];

	assert_int_equal(gmem_write(gm, MiB(16) - 8, in, 8), 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(gmem_read(gm, MiB(16) - 8, out, 8), 0);
	assert_memory_equal(out, in, 8);
	assert_memory_equal(gm->banks[0].host + MiB(16) - 8, in, 8);

	/* One byte past the end: refused, and nothing is copied either way. */
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(gmem_read(gm, MiB(16) - 8, out, 9), -EFAULT);
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(out[8], 0x5a);
	assert_int_equal(gmem_write(gm, MiB(16) - 8, out, 9), -EFAULT);
	assert_memory_equal(gm->banks[0].host + MiB(16) - 8, in, 8);
	assert_int_equal(gmem_write(gm, MiB(16), in, 1), -EFAULT);
	assert_int_equal(gmem_read(gm, MiB(16), out, 1), -EFAULT);
}

static void test_len_zero(void **state)
{
	struct gmem *gm = *state;
	uint8_t b = 0x77;

	/* len 0 checks gpa alone: inside a bank or at its end. */
	assert_non_null(gmem_ptr(gm, 0, 0));
	assert_non_null(gmem_ptr(gm, MiB(16) - 1, 0));
	assert_ptr_equal(gmem_ptr(gm, MiB(16), 0), gm->banks[0].host + MiB(16));
	assert_null(gmem_ptr(gm, MiB(16) + 1, 0));
	assert_null(gmem_ptr(gm, GiB(1), 0));
	assert_null(gmem_ptr(gm, UINT64_MAX, 0));
	assert_int_equal(gmem_read(gm, 4096, &b, 0), 0);
	assert_int_equal(gmem_write(gm, 4096, &b, 0), 0);
	assert_int_equal(gmem_read(gm, MiB(16), &b, 0), 0);
	assert_int_equal(gmem_read(gm, MiB(32), &b, 0), -EFAULT);
	assert_int_equal(gmem_write(gm, MiB(32), &b, 0), -EFAULT);
	assert_int_equal(b, 0x77);
}

static void test_wraparound(void **state)
{
	struct gmem *gm = *state;
	uint8_t b = 0;

	/* gpa + len wraps past 2^64 to something small: must not look like RAM. */
	assert_null(gmem_ptr(gm, UINT64_MAX, 2));
	assert_null(gmem_ptr(gm, UINT64_MAX, UINT64_MAX));
	assert_null(gmem_ptr(gm, UINT64_MAX - 4095, 4096));
	assert_null(gmem_ptr(gm, UINT64_MAX - 4095, 8192));
	assert_null(gmem_ptr(gm, 8, UINT64_MAX - 7));
	assert_null(gmem_ptr(gm, 8, UINT64_MAX));
	assert_null(gmem_ptr(gm, 4096, UINT64_MAX - 4095 + 16));
	assert_null(gmem_ptr(gm, 0, UINT64_MAX));
	assert_null(gmem_ptr(gm, MiB(16) - 1, UINT64_MAX));
	assert_false(gmem_is_ram(gm, UINT64_MAX - 3, 8));
	assert_false(gmem_is_ram(gm, 1, UINT64_MAX));
	assert_int_equal(gmem_read(gm, UINT64_MAX, &b, 1), -EFAULT);
	assert_int_equal(gmem_read(gm, 16, &b, UINT64_MAX - 8), -EFAULT);
	assert_int_equal(gmem_write(gm, UINT64_MAX - 1, &b, 1), -EFAULT);
}

static void test_unmapped_layout(void **state)
{
	struct gmem gm;
	uint8_t b = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(16)), 0);
	/* RAM by the layout, but with no mapping yet there is no pointer. */
	assert_true(gmem_is_ram(&gm, 0, 4096));
	assert_null(gmem_ptr(&gm, 0, 4096));
	assert_int_equal(gmem_read(&gm, 0, &b, 1), -EFAULT);
	assert_int_equal(gmem_write(&gm, 0, &b, 1), -EFAULT);
}

/* ---- two banks: the hole and the gap ---- */

static void test_5g_hole_and_gap(void **state)
{
	struct gmem *gm = *state;
	uint8_t *lo = gm->banks[0].host, *hi = gm->banks[1].host;
	uint8_t buf[16];

	assert_non_null(lo);
	assert_non_null(hi);
	/* Last byte of low RAM, first byte of the hole. */
	assert_ptr_equal(gmem_ptr(gm, GiB(3) - 1, 1), lo + GiB(3) - 1);
	assert_null(gmem_ptr(gm, GiB(3) - 1, 2));
	assert_null(gmem_ptr(gm, GiB(3), 1));
	assert_null(gmem_ptr(gm, LAYOUT_IOAPIC, 4));
	assert_null(gmem_ptr(gm, LAYOUT_LAPIC, 4));
	assert_null(gmem_ptr(gm, GiB(4) - 1, 1));
	assert_false(gmem_is_ram(gm, GiB(3), 1));
	assert_false(gmem_is_ram(gm, GiB(3) + GiB(1) / 2, 4096));
	/* The start of high RAM. */
	assert_ptr_equal(gmem_ptr(gm, GiB(4), 1), hi);
	assert_null(gmem_ptr(gm, GiB(4) - 1, 2));
	/* Both ends are RAM, but the range spans the gap: refused. */
	assert_null(gmem_ptr(gm, GiB(3) - 4096, GiB(1) + 8192));
	assert_false(gmem_is_ram(gm, GiB(3) - 4096, GiB(1) + 8192));
	assert_null(gmem_ptr(gm, 0, GiB(6)));
	assert_null(gmem_ptr(gm, 0, GiB(5)));
	assert_int_equal(gmem_read(gm, GiB(3) - 8, buf, 16), -EFAULT);
	/* The end of high RAM. */
	assert_ptr_equal(gmem_ptr(gm, GiB(6) - 1, 1), hi + GiB(2) - 1);
	assert_null(gmem_ptr(gm, GiB(6) - 1, 2));
	assert_null(gmem_ptr(gm, GiB(6), 1));
	assert_ptr_equal(gmem_ptr(gm, GiB(4), GiB(2)), hi);
	assert_null(gmem_ptr(gm, GiB(4), GiB(2) + 1));

	memcpy(buf, "0123456789abcdef", 16);
	assert_int_equal(gmem_write(gm, GiB(6) - 16, buf, 16), 0);
	assert_memory_equal(hi + GiB(2) - 16, buf, 16);
	assert_int_equal(gmem_write(gm, GiB(4), buf, 16), 0);
	assert_memory_equal(hi, buf, 16);
	assert_int_equal(gmem_write(gm, GiB(3) - 16, buf, 16), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(gmem_read(gm, GiB(3) - 16, buf, 16), 0);
	assert_memory_equal(buf, "0123456789abcdef", 16);
}

/* ---- gmem_bank_end ---- */

static void test_bank_end(void **state)
{
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(256)), 0);
	assert_int_equal(gmem_bank_end(&gm, 0), MiB(256));
	assert_int_equal(gmem_bank_end(&gm, MiB(256) - 1), MiB(256));
	assert_int_equal(gmem_bank_end(&gm, MiB(256) + 4096), 0);
	assert_int_equal(gmem_bank_end(&gm, UINT64_MAX), 0);

	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(gmem_bank_end(&gm, 0), GiB(3));
	assert_int_equal(gmem_bank_end(&gm, GiB(3) - 1), GiB(3));
	assert_int_equal(gmem_bank_end(&gm, GiB(3) + 1), 0);
	assert_int_equal(gmem_bank_end(&gm, LAYOUT_IOAPIC), 0);
	assert_int_equal(gmem_bank_end(&gm, GiB(4) - 1), 0);
	assert_int_equal(gmem_bank_end(&gm, GiB(4)), GiB(6));
	assert_int_equal(gmem_bank_end(&gm, GiB(6) - 1), GiB(6));
	assert_int_equal(gmem_bank_end(&gm, GiB(6) + 1), 0);
}

/*
 * gmem.h: "The end (exclusive) of the bank holding gpa, or 0 if gpa is not
 * RAM." The first byte past a bank is not RAM (for the low bank of a 5 GiB
 * guest it is the start of the MMIO hole), yet gmem_bank_end() looks the
 * bank up with find_bank(gm, gpa, 0), which accepts gpa == bank end, and so
 * returns the end of the bank just before it.
 */
static void test_bank_end_of_non_ram_end_address(void **state)
{
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(gmem_bank_end(&gm, GiB(3)), 0);
	assert_int_equal(gmem_bank_end(&gm, GiB(6)), 0);
}

/* ---- gmem_map / gmem_unmap ---- */

static void test_map_unmap_small(void **state)
{
	struct gmem gm;
	uint8_t b = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(16)), 0);
	assert_int_equal(gmem_map(&gm), 0);
	assert_non_null(gm.banks[0].host);
	/* Anonymous memory starts zeroed. */
	assert_int_equal(gmem_read(&gm, MiB(8), &b, 1), 0);
	assert_int_equal(b, 0);
	b = 0xa5;
	assert_int_equal(gmem_write(&gm, MiB(8), &b, 1), 0);
	assert_int_equal(gm.banks[0].host[MiB(8)], 0xa5);
	gmem_unmap(&gm);
	assert_null(gm.banks[0].host);
	assert_null(gmem_ptr(&gm, 0, 1));
	assert_int_equal(gmem_read(&gm, 0, &b, 1), -EFAULT);
	/* Idempotent. */
	gmem_unmap(&gm);
	assert_null(gm.banks[0].host);
}

static void test_map_unmap_5g(void **state)
{
	struct gmem gm;
	uint8_t b = 0x3c;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(gmem_map(&gm), 0);
	assert_non_null(gm.banks[0].host);
	assert_non_null(gm.banks[1].host);
	assert_ptr_not_equal(gm.banks[0].host, gm.banks[1].host);
	assert_int_equal(gmem_write(&gm, GiB(5), &b, 1), 0);
	assert_int_equal(gm.banks[1].host[GiB(1)], 0x3c);
	gmem_unmap(&gm);
	assert_null(gm.banks[0].host);
	assert_null(gm.banks[1].host);
}

#define T16M(fn) cmocka_unit_test_setup_teardown(fn, setup_16m, teardown_gmem)

/* The VmFlags line of the smaps entry that holds addr ("" if none). */
static void vm_flags_of(const void *addr, char *out, size_t n)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long start, end, a = (unsigned long)(uintptr_t)addr;
	bool in = false;

	out[0] = '\0';
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strncmp(line, "VmFlags", 7))
			in = a >= start && a < end;
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, n, "%s", line);
			break;
		}
	}
	fclose(f);
}

/* Banks are 2 MiB-aligned and advised MADV_HUGEPAGE, unless no_thp. */
static void test_huge_pages(void **state)
{
	struct gmem gm;
	char flags[512];
	unsigned int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(gmem_layout(&gm, MiB(64)), 0);
		gm.no_thp = i == 1;
		assert_int_equal(gmem_map(&gm), 0);
		assert_int_equal((uintptr_t)gm.banks[0].host % GMEM_HUGE_PAGE, 0);
		vm_flags_of(gm.banks[0].host, flags, sizeof(flags));
		assert_true(flags[0]);
		/* "hg": VM_HUGEPAGE, where the kernel has THP at all. */
		if (access("/sys/kernel/mm/transparent_hugepage", F_OK) == 0) {
			if (gm.no_thp)
				assert_null(strstr(flags, " hg"));
			else
				assert_non_null(strstr(flags, " hg"));
		}
		/* The whole bank is usable, its first and last byte alike. */
		gm.banks[0].host[0] = 1;
		gm.banks[0].host[MiB(64) - 1] = 2;
		gmem_unmap(&gm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_pages),
		cmocka_unit_test(test_layout_zero),
		cmocka_unit_test(test_layout_unaligned),
		cmocka_unit_test(test_layout_one_page),
		cmocka_unit_test(test_layout_256m),
		cmocka_unit_test(test_layout_exactly_3g),
		cmocka_unit_test(test_layout_3g_plus_page),
		cmocka_unit_test(test_layout_5g),
		cmocka_unit_test(test_layout_huge),
		T16M(test_ptr_at_bank_end),
		T16M(test_read_write_at_bank_end),
		T16M(test_len_zero),
		T16M(test_wraparound),
		cmocka_unit_test(test_unmapped_layout),
		cmocka_unit_test_setup_teardown(test_5g_hole_and_gap, setup_5g, teardown_gmem),
		cmocka_unit_test(test_bank_end),
		cmocka_unit_test(test_bank_end_of_non_ram_end_address),
		cmocka_unit_test(test_map_unmap_small),
		cmocka_unit_test(test_map_unmap_5g),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
