/* SPDX-License-Identifier: MIT */
/* Unit tests for the pure CPUID adaptation in src/arch/x86/cpu.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpu.h"

/* A table shaped like KVM_GET_SUPPORTED_CPUID's, with host-like values. */
static struct kvm_cpuid2 *table(void)
{
	static const struct kvm_cpuid_entry2 host[] = {
		{.function = 1,
		 .eax = 0x00a50f00,
		 .ebx = 0x12345678,
		 .ecx = 0x7ed8320b | (1U << 13),
		 .edx = 0x178bfbff},
		{.function = 4, .index = 0, .eax = 0xfc004121},
		{.function = 4, .index = 3, .eax = 0xfc03c163},
		{.function = 4, .index = 4, .eax = 0},
		{.function = 0xb, .index = 0, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7},
		{.function = 0xb, .index = 1, .eax = 7, .ebx = 64, .ecx = 0x201, .edx = 7},
		{.function = 0xb, .index = 2, .eax = 0, .ebx = 0, .ecx = 2, .edx = 7},
		{.function = 0x40000001, .eax = 0x01ffffff},
		{.function = 0x80000008, .ecx = 0x0000703f},
		{.function = 0x8000001e, .eax = 7, .ebx = 0x103, .ecx = 0x300},
	};
	size_t n = sizeof(host) / sizeof(host[0]);
	struct kvm_cpuid2 *c = test_calloc(1, sizeof(*c) + n * sizeof(host[0]));

	c->nent = (uint32_t)n;
	memcpy(c->entries, host, sizeof(host));
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == index)
			return &c->entries[i];
	fail_msg("no leaf 0x%x.%u", fn, index);
	return NULL;
}

static void test_single_cpu(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpu_cpuid_adapt(c, 0, 1, false);
	assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 0);
	assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 1);
	assert_int_equal(leaf(c, 1, 0)->ebx & 0xffff, 0x5678); /* brand/CLFLUSH kept */
	assert_false(leaf(c, 1, 0)->edx & (1U << 28));	       /* no HTT */
	assert_true(leaf(c, 1, 0)->ecx & (1U << 31));	       /* hypervisor */
	assert_true(leaf(c, 1, 0)->ecx & (1U << 13));	       /* CX16 kept without quirks */
	assert_int_equal(leaf(c, 0xb, 1)->ebx, 1);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 0);
	assert_int_equal(leaf(c, 0x80000008, 0)->ecx & 0xff, 0);
	assert_int_equal(leaf(c, 0x40000001, 0)->eax, 0x01ffffff);
	test_free(c);
}

static void test_vcpu_2_of_4(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpu_cpuid_adapt(c, 2, 4, false);
	assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 2);
	assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 4);
	assert_true(leaf(c, 1, 0)->edx & (1U << 28));
	/* Cores per package - 1, rounded to a power of two, in leaf 4 EAX[31:26]. */
	assert_int_equal(leaf(c, 4, 0)->eax >> 26, 3);
	assert_int_equal(leaf(c, 4, 0)->eax & 0x3fff, 0x0121);
	assert_int_equal(leaf(c, 4, 4)->eax, 0); /* the "no more caches" entry stays */
	/* x2APIC topology: one thread per core, four cores, IDs in EDX. */
	assert_int_equal(leaf(c, 0xb, 0)->eax, 0);
	assert_int_equal(leaf(c, 0xb, 0)->ebx, 1);
	assert_int_equal(leaf(c, 0xb, 0)->ecx, 0x100);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 2);
	assert_int_equal(leaf(c, 0xb, 1)->ebx, 4);
	assert_int_equal(leaf(c, 0xb, 1)->ecx, 0x201);
	assert_int_equal(leaf(c, 0xb, 2)->ebx, 0);
	assert_int_equal(leaf(c, 0xb, 2)->ecx, 2);
	assert_int_equal(leaf(c, 0xb, 1)->edx, 2);
	/* AMD: NC = 3, ApicIdCoreIdSize = 2; extended APIC ID. */
	assert_int_equal(leaf(c, 0x80000008, 0)->ecx & 0xff, 3);
	assert_int_equal((leaf(c, 0x80000008, 0)->ecx >> 12) & 0xf, 2);
	assert_int_equal(leaf(c, 0x8000001e, 0)->eax, 2);
	assert_int_equal(leaf(c, 0x8000001e, 0)->ebx, 2);
	test_free(c);
}

static void test_odd_cpu_count(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpu_cpuid_adapt(c, 4, 5, false);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 3); /* 5 cores need 3 ID bits */
	assert_int_equal(leaf(c, 0xb, 1)->ebx, 5);
	assert_int_equal(leaf(c, 4, 0)->eax >> 26, 7);
	test_free(c);
}

static void test_255_cpus(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpu_cpuid_adapt(c, 254, 255, false);
	assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 254);
	assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 255);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 8);
	assert_int_equal(leaf(c, 4, 0)->eax >> 26, 63);
	test_free(c);
}

static void test_host_quirks(void **state)
{
	struct kvm_cpuid2 *c = table();
	uint32_t pv;

	(void)state;
	cpu_cpuid_adapt(c, 0, 2, true);
	assert_false(leaf(c, 1, 0)->ecx & (1U << 13)); /* CX16 hidden */
	pv = leaf(c, 0x40000001, 0)->eax;
	assert_false(pv & (1U << 7));  /* PV_UNHALT */
	assert_false(pv & (1U << 9));  /* PV_TLB_FLUSH */
	assert_false(pv & (1U << 11)); /* PV_SEND_IPI */
	assert_false(pv & (1U << 13)); /* PV_SCHED_YIELD */
	assert_true(pv & (1U << 3));   /* kvmclock (CLOCKSOURCE2) stays */
	assert_int_equal(pv | (1U << 7) | (1U << 9) | (1U << 11) | (1U << 13), 0x01ffffff);
	test_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_cpu),    cmocka_unit_test(test_vcpu_2_of_4),
		cmocka_unit_test(test_odd_cpu_count), cmocka_unit_test(test_255_cpus),
		cmocka_unit_test(test_host_quirks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
