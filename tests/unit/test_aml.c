/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the AML builder (src/arch/x86/aml.c). Expected bytes come
 * from the encoding rules of ACPI 6.5 chapter 20 and section 6.4, and match
 * what iasl 20200925 emits for the same ASL (test_acpi compares the whole
 * DSDT with iasl's output when iasl is installed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/aml.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static void expect_bytes(struct aml_buf *b, const uint8_t *want, size_t len)
{
	assert_int_equal(aml_buf_error(b), 0);
	assert_int_equal(b->len, len);
	assert_memory_equal(b->data, want, len);
}

/* The first bytes of b are `want` (a function, so BYTES() can be an argument). */
static void expect_prefix(const struct aml_buf *b, const uint8_t *want, size_t len)
{
	assert_true(b->len >= len);
	assert_memory_equal(b->data, want, len);
}

static void check_pkglen(size_t len, const uint8_t *want, size_t want_len)
{
	uint8_t out[AML_PKGLEN_MAX_BYTES];

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(aml_pkglen_encode(out, len), (int)want_len);
	assert_memory_equal(out, want, want_len);
}

static void test_pkglen_encode(void **state)
{
	uint8_t out[AML_PKGLEN_MAX_BYTES];

	(void)state;
	/* One byte up to 63: bits 7-6 zero. */
	check_pkglen(0, BYTES(0x00));
	check_pkglen(1, BYTES(0x01));
	check_pkglen(63, BYTES(0x3f));
	/* Two bytes: lead 0x40 | low nibble, then bits 4-11. */
	check_pkglen(64, BYTES(0x40, 0x04));
	check_pkglen(65, BYTES(0x41, 0x04));
	check_pkglen(0x123, BYTES(0x43, 0x12));
	check_pkglen(4095, BYTES(0x4f, 0xff));
	/* Three bytes: lead 0x80 | low nibble, then bits 4-11, 12-19. */
	check_pkglen(4096, BYTES(0x80, 0x00, 0x01));
	check_pkglen(0x12345, BYTES(0x85, 0x34, 0x12));
	check_pkglen(0xfffff, BYTES(0x8f, 0xff, 0xff));
	/* Four bytes: lead 0xc0 | low nibble, then bits 4-11, 12-19, 20-27. */
	check_pkglen(0x100000, BYTES(0xc0, 0x00, 0x00, 0x01));
	check_pkglen(0x1234567, BYTES(0xc7, 0x56, 0x34, 0x12));
	check_pkglen(0x0fffffff, BYTES(0xcf, 0xff, 0xff, 0xff));
	/* 28 bits at most. */
	assert_int_equal(aml_pkglen_encode(out, 0x10000000), -E2BIG);
	assert_int_equal(aml_pkglen_encode(out, SIZE_MAX), -E2BIG);
}

/*
 * aml_close() on a body of `body` bytes: the PkgLength counts itself, so
 * its size steps up where body + n no longer fits in n bytes.
 */
static void check_close(size_t body, const uint8_t *want, size_t want_len)
{
	static uint8_t filler[8192];
	struct aml_buf b;
	size_t tok;

	memset(filler, 0x5a, sizeof(filler));
	assert_true(body <= sizeof(filler));
	aml_buf_init(&b);
	aml_byte(&b, 0x12); /* an opcode before the PkgLength */
	tok = aml_open(&b);
	assert_int_equal(tok, 1);
	aml_append(&b, filler, body);
	aml_close(&b, tok);
	assert_int_equal(aml_buf_error(&b), 0);
	assert_int_equal(b.len, 1 + want_len + body);
	assert_int_equal(b.data[0], 0x12);
	assert_memory_equal(b.data + 1, want, want_len);
	assert_memory_equal(b.data + 1 + want_len, filler, body);
	aml_buf_free(&b);
}

static void test_close_pkglen_sizes(void **state)
{
	(void)state;
	check_close(0, BYTES(0x01));
	check_close(62, BYTES(0x3f));		    /* 62 + 1 = 63 */
	check_close(63, BYTES(0x41, 0x04));	    /* 63 + 2 = 65 */
	check_close(4093, BYTES(0x4f, 0xff));	    /* 4093 + 2 = 4095 */
	check_close(4094, BYTES(0x81, 0x00, 0x01)); /* 4094 + 3 = 4097 */
	check_close(5000, BYTES(0x8b, 0x38, 0x01)); /* 5003 = 0x138b */
}

static void test_close_nested(void **state)
{
	struct aml_buf b;
	size_t outer, inner;

	(void)state;
	/* Scope (\_SB) { Device (DEV0) { } } */
	aml_buf_init(&b);
	outer = aml_scope_open(&b, "\\_SB");
	inner = aml_device_open(&b, "DEV0");
	aml_close(&b, inner);
	aml_close(&b, outer);
	expect_bytes(&b, BYTES(0x10, 0x0d, 0x5c, '_', 'S', 'B', '_', 0x5b, 0x82, 0x05, 'D', 'E',
			       'V', '0'));
	aml_buf_free(&b);

	/* An inner body long enough to need a two-byte PkgLength in both. */
	aml_buf_init(&b);
	outer = aml_scope_open(&b, "_SB");
	inner = aml_device_open(&b, "DEV0");
	for (int i = 0; i < 20; i++)
		aml_integer(&b, 0x1234); /* 3 bytes each */
	aml_close(&b, inner);
	aml_close(&b, outer);
	assert_int_equal(aml_buf_error(&b), 0);
	/* Device: 2 (PkgLength) + 4 (name) + 60 = 66; Scope: 2 + 4 + 2 + 66 = 74. */
	assert_int_equal(b.len, 1 + 74);
	expect_prefix(&b, BYTES(0x10, 0x4a, 0x04, '_', 'S', 'B', '_', 0x5b, 0x82, 0x42, 0x04, 'D',
				'E', 'V', '0', 0x0b, 0x34, 0x12));
	aml_buf_free(&b);

	/* A token past the end: opens and closes did not nest. */
	aml_buf_init(&b);
	aml_close(&b, 5);
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	aml_buf_free(&b);
}

static void check_integer(uint64_t v, const uint8_t *want, size_t want_len)
{
	struct aml_buf b;

	aml_buf_init(&b);
	aml_integer(&b, v);
	expect_bytes(&b, want, want_len);
	aml_buf_free(&b);
}

static void test_integers(void **state)
{
	struct aml_buf b;

	(void)state;
	check_integer(0, BYTES(0x00));
	check_integer(1, BYTES(0x01));
	check_integer(2, BYTES(0x0a, 0x02));
	check_integer(5, BYTES(0x0a, 0x05));
	check_integer(0xff, BYTES(0x0a, 0xff));
	check_integer(0x100, BYTES(0x0b, 0x00, 0x01));
	check_integer(0x3f8, BYTES(0x0b, 0xf8, 0x03));
	check_integer(0xffff, BYTES(0x0b, 0xff, 0xff));
	check_integer(0x10000, BYTES(0x0c, 0x00, 0x00, 0x01, 0x00));
	check_integer(0xfee00000, BYTES(0x0c, 0x00, 0x00, 0xe0, 0xfe));
	check_integer(0xffffffff, BYTES(0x0c, 0xff, 0xff, 0xff, 0xff));
	check_integer(0x100000000ULL, BYTES(0x0e, 0, 0, 0, 0, 1, 0, 0, 0));
	check_integer(0x0123456789abcdefULL,
		      BYTES(0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01));
	check_integer(UINT64_MAX, BYTES(0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));

	aml_buf_init(&b);
	aml_dword(&b, 5);
	expect_bytes(&b, BYTES(0x0c, 0x05, 0x00, 0x00, 0x00));
	aml_buf_free(&b);
}

static void check_name(const char *path, const uint8_t *want, size_t want_len)
{
	struct aml_buf b;

	aml_buf_init(&b);
	aml_name_string(&b, path);
	expect_bytes(&b, want, want_len);
	aml_buf_free(&b);
}

static void check_bad_name(const char *path)
{
	struct aml_buf b;

	aml_buf_init(&b);
	aml_name_string(&b, path);
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	aml_buf_free(&b);
}

static void test_name_strings(void **state)
{
	(void)state;
	check_name("COM1", BYTES('C', 'O', 'M', '1'));
	/* Short segments are padded with '_'. */
	check_name("_SB", BYTES('_', 'S', 'B', '_'));
	check_name("_S5_", BYTES('_', 'S', '5', '_'));
	check_name("A", BYTES('A', '_', '_', '_'));
	check_name("\\_SB", BYTES(0x5c, '_', 'S', 'B', '_'));
	check_name("\\", BYTES(0x5c, 0x00));
	check_name("^", BYTES(0x5e, 0x00));
	check_name("^^FOO", BYTES(0x5e, 0x5e, 'F', 'O', 'O', '_'));
	/* Two segments: DualNamePrefix. */
	check_name("\\_SB.COM1", BYTES(0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'));
	/* Three or more: MultiNamePrefix and a count. */
	check_name("\\_SB.PCI0.ISA", BYTES(0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
					   'I', 'S', 'A', '_'));
	check_name("A.B.C.D", BYTES(0x2f, 0x04, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_',
				    '_', '_', 'D', '_', '_', '_'));

	check_bad_name("");
	check_bad_name("com1");	 /* lower case */
	check_bad_name("1ABC");	 /* a digit cannot lead */
	check_bad_name("ABCDE"); /* longer than a NameSeg */
	check_bad_name("A..B");
	check_bad_name("A.");
	check_bad_name(".A");
	check_bad_name("\\^A"); /* root and parent prefixes do not mix */
	check_bad_name("A^");
	check_bad_name("A-B");
}

static void test_eisaid(void **state)
{
	struct aml_buf b;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(aml_eisaid_encode("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105D041);
	assert_int_equal(aml_eisaid_encode("PNP0A03", &v), 0);
	assert_int_equal(v, 0x030AD041);
	assert_int_equal(aml_eisaid_encode("PNP0C0F", &v), 0);
	assert_int_equal(v, 0x0F0CD041);
	assert_int_equal(aml_eisaid_encode("ABC1234", &v), 0);
	/* A=1, B=2, C=3: 0 00001 00010 00011 = 0x0443, then 0x1234, byte-swapped. */
	assert_int_equal(v, 0x34124304);

	assert_int_equal(aml_eisaid_encode("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP05011", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050G", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("PNP050a", &v), -EINVAL);
	assert_int_equal(aml_eisaid_encode("P1P0501", &v), -EINVAL);

	/* Emitted as a DWord, as iasl does. */
	aml_buf_init(&b);
	aml_eisaid(&b, "PNP0501");
	expect_bytes(&b, BYTES(0x0c, 0x41, 0xd0, 0x05, 0x01));
	aml_eisaid(&b, "bad");
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	aml_buf_free(&b);
}

static void test_string(void **state)
{
	struct aml_buf b;

	(void)state;
	aml_buf_init(&b);
	aml_string(&b, "LMIG");
	aml_string(&b, "");
	expect_bytes(&b, BYTES(0x0d, 'L', 'M', 'I', 'G', 0x00, 0x0d, 0x00));
	aml_string(&b, "\xe9");
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	aml_buf_free(&b);
}

static void test_name_package(void **state)
{
	struct aml_buf b;
	size_t pkg;

	(void)state;
	/* Name (_S5, Package () { 5, 5, 0, 0 }) */
	aml_buf_init(&b);
	aml_name(&b, "_S5_");
	pkg = aml_package_open(&b, 4);
	aml_integer(&b, 5);
	aml_integer(&b, 5);
	aml_integer(&b, 0);
	aml_integer(&b, 0);
	aml_close(&b, pkg);
	expect_bytes(&b, BYTES(0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05,
			       0x00, 0x00));
	aml_buf_free(&b);
}

static void test_buffer(void **state)
{
	static const uint8_t data[100] = {1, 2, 3};
	struct aml_buf b;

	(void)state;
	aml_buf_init(&b);
	aml_buffer(&b, data, 3);
	expect_bytes(&b, BYTES(0x11, 0x06, 0x0a, 0x03, 1, 2, 3));
	aml_buf_free(&b);

	/* 100 bytes: BufferSize 0x0a 0x64, PkgLength 2 + 2 + 100 = 104. */
	aml_buf_init(&b);
	aml_buffer(&b, data, sizeof(data));
	assert_int_equal(aml_buf_error(&b), 0);
	assert_int_equal(b.len, 1 + 2 + 2 + 100);
	expect_prefix(&b, BYTES(0x11, 0x48, 0x06, 0x0a, 0x64, 1, 2, 3));

	/* Empty: BufferSize Zero. */
	aml_buf_free(&b);
	aml_buf_init(&b);
	aml_buffer(&b, NULL, 0);
	expect_bytes(&b, BYTES(0x11, 0x02, 0x00));
	aml_buf_free(&b);
}

static void test_resource_template(void **state)
{
	struct aml_buf b, rt;

	(void)state;
	/* ResourceTemplate () { IO (Decode16, 0x3f8, 0x3f8, 0, 8) IRQNoFlags () {4} } */
	aml_buf_init(&b);
	aml_buf_init(&rt);
	aml_res_io(&rt, 1, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&rt, 1 << 4);
	aml_resource_template(&b, &rt);
	expect_bytes(&b, BYTES(0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00,
			       0x08, 0x22, 0x10, 0x00, 0x79, 0x00));
	aml_buf_free(&rt);
	aml_buf_free(&b);

	/* Decode10, other values, an IRQ above 7. */
	aml_buf_init(&rt);
	aml_res_io(&rt, 0, 0x60, 0x64, 4, 1);
	aml_res_irq_noflags(&rt, 1 << 12);
	expect_bytes(&rt, BYTES(0x47, 0x00, 0x60, 0x00, 0x64, 0x00, 0x04, 0x01, 0x22, 0x00, 0x10));
	aml_buf_free(&rt);

	/* An error building the template reaches the outer buffer. */
	aml_buf_init(&b);
	aml_buf_init(&rt);
	rt.err = -ENOMEM;
	aml_resource_template(&b, &rt);
	assert_int_equal(aml_buf_error(&b), -ENOMEM);
	assert_int_equal(b.len, 0);
	aml_buf_free(&rt);
	aml_buf_free(&b);
}

static void test_device(void **state)
{
	struct aml_buf b, rt;
	size_t scope, dev;

	(void)state;
	/* The COM1 device from the DSDT, byte for byte as iasl -on compiles it. */
	aml_buf_init(&b);
	scope = aml_scope_open(&b, "\\_SB");
	dev = aml_device_open(&b, "COM1");
	aml_name(&b, "_HID");
	aml_eisaid(&b, "PNP0501");
	aml_name(&b, "_UID");
	aml_integer(&b, 0);
	aml_name(&b, "_CRS");
	aml_buf_init(&rt);
	aml_res_io(&rt, 1, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&rt, 1 << 4);
	aml_resource_template(&b, &rt);
	aml_buf_free(&rt);
	aml_close(&b, dev);
	aml_close(&b, scope);
	expect_bytes(&b, BYTES(0x10, 0x33, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x2b, 0x43,
			       0x4f, 0x4d, 0x31, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0,
			       0x05, 0x01, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43,
			       0x52, 0x53, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8,
			       0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00));
	aml_buf_free(&b);
}

static void test_sticky_error(void **state)
{
	struct aml_buf b;
	size_t scope;

	(void)state;
	aml_buf_init(&b);
	aml_integer(&b, 7);
	scope = aml_scope_open(&b, "bad name");
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	/* Everything after the first error is a no-op, and the error stays. */
	aml_integer(&b, 1);
	aml_eisaid(&b, "nope");
	aml_close(&b, scope);
	aml_close(&b, 1000);
	assert_int_equal(aml_buf_error(&b), -EINVAL);
	assert_true(b.len <= 3);
	aml_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(aml_buf_error(&b), 0);

	/* More than a PkgLength can hold is refused without allocating it. */
	aml_buf_init(&b);
	aml_append(&b, "x", AML_PKGLEN_MAX + 1);
	assert_int_equal(aml_buf_error(&b), -E2BIG);
	assert_int_equal(b.len, 0);
	aml_buf_free(&b);
}

static void test_growth(void **state)
{
	struct aml_buf b;
	size_t i, tok;

	(void)state;
	/* Many small appends across several reallocations. */
	aml_buf_init(&b);
	tok = aml_open(&b);
	for (i = 0; i < 100000; i++)
		aml_byte(&b, (uint8_t)i);
	aml_close(&b, tok);
	assert_int_equal(aml_buf_error(&b), 0);
	/* 100000 + 3 = 0x186a3: three bytes. */
	assert_int_equal(b.len, 100003);
	expect_prefix(&b, BYTES(0x83, 0x6a, 0x18, 0x00, 0x01, 0x02));
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.data[3 + i], (uint8_t)i);
	aml_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglen_encode), cmocka_unit_test(test_close_pkglen_sizes),
		cmocka_unit_test(test_close_nested),  cmocka_unit_test(test_integers),
		cmocka_unit_test(test_name_strings),  cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_string),	      cmocka_unit_test(test_name_package),
		cmocka_unit_test(test_buffer),	      cmocka_unit_test(test_resource_template),
		cmocka_unit_test(test_device),	      cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
