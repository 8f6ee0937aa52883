// SPDX-License-Identifier: MIT
/*
 * Unit tests for kernel image parsing (src/arch/x86/kernel_image.c), on
 * synthetic bzImages and ELF64 files built byte by byte in a buffer (see
 * common/fixtures.h). The bzImage header offsets are written out from
 * boot.rst, independently of struct setup_header, so that the struct's
 * layout is checked as well.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/kernel_image.h"
#include "common/fixtures.h"

/* The sizes of make_bzimage(&bz_defaults) and make_elf(&elf_defaults). */
#define BZ_LEN (5 * 512 + 4096)
#define ELF_LEN 0x1100
#define ELF_PADDR 0x1000000ULL

/* A fresh default image for the tests that modify it in place; *state is the image. */
static int setup_bz(void **state)
{
	size_t len;

	*state = make_bzimage(&bz_defaults, &len);
	return len == BZ_LEN ? 0 : -1;
}

static int setup_elf(void **state)
{
	*state = make_elf(&elf_defaults);
	return elf_defaults.len == ELF_LEN ? 0 : -1;
}

static int teardown_image(void **state)
{
	test_free(*state);
	return 0;
}

static void expect_reject(const uint8_t *img, size_t len, bool need_64, const char *substr)
{
	struct kernel_image ki;
	const char *why = NULL;
	int r = kernel_image_parse(img, len, need_64, &ki, &why);

	if (r != -ENOEXEC)
		fail_msg("%zu bytes, %d-bit protocol: returned %d, expected -ENOEXEC", len,
			 need_64 ? 64 : 32, r);
	assert_mentions(why, substr, NULL);
}

static void expect_ok(const uint8_t *img, size_t len, bool need_64, struct kernel_image *ki)
{
	const char *why = NULL;
	int r = kernel_image_parse(img, len, need_64, ki, &why);

	if (r)
		fail_msg("%zu bytes, %d-bit protocol: rejected (%d): %s", len, need_64 ? 64 : 32, r,
			 why ? why : "(null)");
}

/* ---- bzImage ---- */

/* The bzImage options a failure names. */
#define BZ_FMT                                                                                     \
	"bzImage version 0x%04x, loadflags 0x%02x, xloadflags 0x%x, init_size 0x%x, "              \
	"cmdline_size %u, %d-bit protocol"
#define BZ_ARGS(o, need_64)                                                                        \
	(o)->version, (o)->loadflags, (o)->xloadflags, (o)->init_size, (o)->cmdline_size,          \
		(need_64) ? 64 : 32

/* A bzImage built from o is accepted; *ki is what the parser made of it. */
static void bz_accepted(const struct bz_opts *o, bool need_64, struct kernel_image *ki)
{
	const char *why = NULL;
	size_t len;
	uint8_t *img = make_bzimage(o, &len);
	int r = kernel_image_parse(img, len, need_64, ki, &why);

	test_free(img);
	if (r)
		fail_msg(BZ_FMT ": rejected (%d): %s", BZ_ARGS(o, need_64), r,
			 why ? why : "(null)");
}

/* A bzImage built from o is rejected for a reason that mentions substr (NULL: any). */
static void bz_rejected(const struct bz_opts *o, bool need_64, const char *substr)
{
	struct kernel_image ki;
	const char *why = NULL;
	size_t len;
	uint8_t *img = make_bzimage(o, &len);
	int r = kernel_image_parse(img, len, need_64, &ki, &why);

	test_free(img);
	if (r != -ENOEXEC)
		fail_msg(BZ_FMT ": returned %d, expected -ENOEXEC", BZ_ARGS(o, need_64), r);
	assert_mentions(why, substr, NULL);
}

static void test_bz_valid_64(void **state)
{
	struct kernel_image ki;
	uint8_t *img = *state;

	expect_ok(img, BZ_LEN, true, &ki);
	assert_int_equal(ki.format, KERNEL_BZIMAGE);
	assert_int_equal(ki.setup_size, 5 * 512);
	assert_int_equal(ki.payload_size, 4096);
	assert_int_equal(ki.hdr_copy_end, 0x202 + BZ_HDR_LEN_FULL);
	assert_int_equal(ki.init_size, 0x10000);
	assert_int_equal(ki.hdr.setup_sects, 4);
	assert_int_equal(ki.hdr.boot_flag, 0xaa55);
	assert_int_equal(ki.hdr.header, SETUP_HDRS_MAGIC);
	assert_int_equal(ki.hdr.version, 0x020f);
	assert_int_equal(ki.hdr.loadflags, LOADFLAG_LOADED_HIGH);
	assert_int_equal(ki.hdr.code32_start, 0x100000);
	assert_int_equal(ki.hdr.initrd_addr_max, 0x7fffffff);
	assert_int_equal(ki.hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	assert_int_equal(ki.hdr.cmdline_size, 2047);
	assert_int_equal(ki.hdr.init_size, 0x10000);
	assert_int_equal(ki.nr_segs, 0);
	/* The 32-bit protocol accepts it too. */
	expect_ok(img, BZ_LEN, false, &ki);
	assert_int_equal(ki.format, KERNEL_BZIMAGE);
}

static void test_bz_shorter_than_header(void **state)
{
	uint8_t *img = *state;
	size_t n;

	for (n = 0; n < 0x206; n += 0x41)
		expect_reject(img, n, true, NULL);
	expect_reject(img, 0x1ff, true, NULL);
	expect_reject(img, 0x205, true, NULL);
	expect_reject(img, 0x205, false, NULL);
}

static void test_bz_header_length_past_end(void **state)
{
	uint8_t *img = *state;

	/* The header runs to 0x26c: a file one byte shorter cannot hold it. */
	expect_reject(img, 0x202 + BZ_HDR_LEN_FULL - 1, true, "truncated");
	expect_reject(img, 0x206, true, "truncated");
	/* A header length byte pointing past the end of a short file. */
	img[BZ_OFF_HDR_LEN] = 0xff;
	expect_reject(img, 0x300, true, "truncated");
	expect_reject(img, 0x300, false, "truncated");
}

static void test_bz_no_payload(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_defaults;
	size_t len;
	uint8_t *img;

	(void)state;
	o.payload = 0;
	img = make_bzimage(&o, &len);
	assert_int_equal(len, 5 * 512);
	expect_reject(img, len, true, "payload");
	test_free(img);

	o.payload = 1;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.payload_size, 1);
	/* init_size still covers what the header asks for. */
	assert_int_equal(ki.init_size, 0x10000);
	/* The same file cut inside its setup sectors. */
	expect_reject(img, 4 * 512, true, "payload");
	test_free(img);

	/* 255 setup sectors promised, far fewer present. */
	img = make_bzimage(&bz_defaults, &len);
	img[BZ_OFF_SETUP_SECTS] = 255;
	expect_reject(img, len, true, "payload");
	test_free(img);
}

static void test_bz_bad_boot_flag(void **state)
{
	uint8_t *img = *state;

	put_le16(img + BZ_OFF_BOOT_FLAG, 0x55aa);
	expect_reject(img, BZ_LEN, true, NULL);
	put_le16(img + BZ_OFF_BOOT_FLAG, 0xaa56);
	expect_reject(img, BZ_LEN, false, NULL);
	put_le16(img + BZ_OFF_BOOT_FLAG, 0);
	expect_reject(img, BZ_LEN, true, NULL);
}

static void test_bz_bad_hdrs(void **state)
{
	uint8_t *img = *state;

	memcpy(img + BZ_OFF_HEADER, "HdrT", 4);
	expect_reject(img, BZ_LEN, true, "HdrS");
	memcpy(img + BZ_OFF_HEADER, "hdrs", 4);
	expect_reject(img, BZ_LEN, false, "HdrS");
	/* A header length of 0 ends the header before the signature. */
	memcpy(img + BZ_OFF_HEADER, "HdrS", 4);
	img[BZ_OFF_HDR_LEN] = 0;
	expect_reject(img, BZ_LEN, true, NULL);
}

static void test_bz_version_too_old(void **state)
{
	struct bz_opts o = bz_defaults;

	(void)state;
	o.version = 0x0205;
	bz_rejected(&o, true, "2.06");
	bz_rejected(&o, false, "2.06");
	o.version = 0x0100;
	bz_rejected(&o, false, NULL);
}

static void test_bz_version_020b(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_defaults;

	(void)state;
	o.version = 0x020b;
	/* Too old for the 64-bit protocol even with XLF_KERNEL_64 set... */
	bz_rejected(&o, true, "2.12");
	/* ...but fine for the 32-bit one. */
	bz_accepted(&o, false, &ki);
	assert_int_equal(ki.hdr.version, 0x020b);
	assert_int_equal(ki.init_size, 0x10000);

	/* 0x020c is the first version the 64-bit protocol accepts. */
	o.version = 0x020c;
	bz_accepted(&o, true, &ki);
}

static void test_bz_no_kernel_64(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_defaults;

	(void)state;
	o.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	bz_rejected(&o, true, "XLF_KERNEL_64");
	bz_accepted(&o, false, &ki);
}

static void test_bz_not_loaded_high(void **state)
{
	struct bz_opts o = bz_defaults;

	(void)state;
	o.loadflags = 0;
	bz_rejected(&o, true, NULL);
	bz_rejected(&o, false, NULL);
}

static void test_bz_setup_sects_zero(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_defaults;
	size_t len;
	uint8_t *img;

	(void)state;
	o.setup_sects = 0;
	img = make_bzimage(&o, &len);
	assert_int_equal(len, 5 * 512 + 4096);
	expect_ok(img, len, true, &ki);
	/* boot.rst: 0 means 4, so the payload starts at (4 + 1) * 512. */
	assert_int_equal(ki.hdr.setup_sects, 0);
	assert_int_equal(ki.setup_size, 5 * 512);
	assert_int_equal(ki.payload_size, 4096);
	assert_int_equal(img[ki.setup_size], BZ_PAYLOAD_BYTE(0));
	test_free(img);

	o.setup_sects = 1;
	bz_accepted(&o, true, &ki);
	assert_int_equal(ki.setup_size, 2 * 512);
	assert_int_equal(ki.payload_size, 4096);
}

static void test_bz_init_size(void **state)
{
	static const struct {
		const char *what;
		uint16_t version;
		uint32_t init_size;
		bool need_64;
		uint64_t want;
	} cases[] = {
		{"below the payload: the payload wins", 0x020f, 100, true, 4096},
		{"zero: the payload", 0x020f, 0, true, 4096},
		{"above: the header's value", 0x020f, 0x2000000, true, 0x2000000},
		/* init_size appeared in 2.10; before that the field is not read. */
		{"2.09: the payload", 0x0209, 0x2000000, false, 4096},
	};
	struct kernel_image ki;
	struct bz_opts o = bz_defaults;
	unsigned int i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		o.version = cases[i].version;
		o.init_size = cases[i].init_size;
		bz_accepted(&o, cases[i].need_64, &ki);
		if (ki.init_size != cases[i].want)
			fail_msg("%s: init_size 0x%llx, expected 0x%llx", cases[i].what,
				 (unsigned long long)ki.init_size,
				 (unsigned long long)cases[i].want);
	}
}

static void test_bz_cmdline_size_zero(void **state)
{
	struct bz_opts o = bz_defaults;

	(void)state;
	o.cmdline_size = 0;
	bz_rejected(&o, true, "cmdline_size");
	bz_rejected(&o, false, "cmdline_size");
}

/* ---- ELF64 ---- */

/* Program header i as a copy of program header 0, at paddr. */
static Elf64_Phdr *copy_phdr0(uint8_t *img, unsigned int i, uint64_t paddr)
{
	Elf64_Phdr *ph = elf_phdr(img, i);

	memcpy(ph, elf_phdr(img, 0), sizeof(*ph));
	ph->p_paddr = paddr;
	return ph;
}

static void test_elf_valid(void **state)
{
	struct kernel_image ki;
	uint8_t *img = *state;

	expect_ok(img, ELF_LEN, true, &ki);
	assert_int_equal(ki.format, KERNEL_ELF);
	assert_int_equal(ki.entry, ELF_PADDR + 0x10);
	assert_int_equal(ki.nr_segs, 1);
	assert_int_equal(ki.segs[0].file_offset, 0x1000);
	assert_int_equal(ki.segs[0].paddr, ELF_PADDR);
	assert_int_equal(ki.segs[0].filesz, 0x100);
	assert_int_equal(ki.segs[0].memsz, 0x2000);
	assert_int_equal(ki.lowest_paddr, ELF_PADDR);
	assert_int_equal(ki.highest_paddr, ELF_PADDR + 0x2000);
	/* Entry at the first and the last byte of the segment. */
	elf_ehdr(img)->e_entry = ELF_PADDR;
	expect_ok(img, ELF_LEN, true, &ki);
	elf_ehdr(img)->e_entry = ELF_PADDR + 0x1fff;
	expect_ok(img, ELF_LEN, true, &ki);
	/* A segment ending exactly at the end of the file. */
	elf_phdr(img, 0)->p_filesz = 0x100;
	elf_phdr(img, 0)->p_offset = ELF_LEN - 0x100;
	expect_ok(img, ELF_LEN, true, &ki);
	assert_int_equal(ki.segs[0].file_offset, ELF_LEN - 0x100);
}

static void test_elf_non_load_segments_skipped(void **state)
{
	struct kernel_image ki;
	uint8_t *img = *state;

	/* phdr 0: PT_NOTE; phdr 1 and 2: two PT_LOADs, the higher one first. */
	elf_ehdr(img)->e_phnum = 3;
	copy_phdr0(img, 1, ELF_PADDR + 0x2000)->p_memsz = 0x3000;
	copy_phdr0(img, 2, ELF_PADDR);
	elf_phdr(img, 0)->p_type = PT_NOTE;
	elf_phdr(img, 0)->p_paddr = 0;
	expect_ok(img, ELF_LEN, true, &ki);
	assert_int_equal(ki.nr_segs, 2);
	assert_int_equal(ki.segs[0].paddr, ELF_PADDR + 0x2000);
	assert_int_equal(ki.segs[1].paddr, ELF_PADDR);
	assert_int_equal(ki.lowest_paddr, ELF_PADDR);
	assert_int_equal(ki.highest_paddr, ELF_PADDR + 0x5000);

	/* Only a PT_NOTE: nothing to load. */
	elf_ehdr(img)->e_phnum = 1;
	expect_reject(img, ELF_LEN, true, NULL);
}

static void test_elf_class32(void **state)
{
	uint8_t *img = *state;

	img[EI_CLASS] = ELFCLASS32;
	expect_reject(img, ELF_LEN, true, "64-bit");
	expect_reject(img, ELF_LEN, false, NULL);
}

static void test_elf_wrong_machine(void **state)
{
	uint8_t *img = *state;

	elf_ehdr(img)->e_machine = EM_386;
	expect_reject(img, ELF_LEN, true, "x86-64");
	elf_ehdr(img)->e_machine = EM_AARCH64;
	expect_reject(img, ELF_LEN, true, "x86-64");
}

static void test_elf_other_header_fields(void **state)
{
	uint8_t *img = *state;
	Elf64_Ehdr *eh = elf_ehdr(img);

	img[EI_DATA] = ELFDATA2MSB;
	expect_reject(img, ELF_LEN, true, NULL);
	img[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_DYN;
	expect_reject(img, ELF_LEN, true, NULL);
	eh->e_type = ET_EXEC;
	eh->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_reject(img, ELF_LEN, true, NULL);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	/* Truncated inside the ELF header. */
	expect_reject(img, sizeof(Elf64_Ehdr) - 1, true, NULL);
	expect_reject(img, SELFMAG, true, NULL);
	/* Program headers beyond the file, including an offset that would wrap. */
	eh->e_phoff = ELF_LEN - 8;
	expect_reject(img, ELF_LEN, true, NULL);
	eh->e_phoff = ELF_LEN + 1;
	expect_reject(img, ELF_LEN, true, NULL);
	eh->e_phoff = UINT64_MAX - 16;
	expect_reject(img, ELF_LEN, true, NULL);
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_phnum = 0xffff;
	expect_reject(img, ELF_LEN, true, NULL);
}

static void test_elf_segment_outside_file(void **state)
{
	static const struct {
		uint64_t offset, filesz;
	} cases[] = {
		{ELF_LEN - 0xff, 0x100},
		{ELF_LEN + 0x1000, 0x100},
		{UINT64_MAX - 0x10, 0x100},
		{0x1000, 0x101},
	};
	uint8_t *img = *state;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		print_message("p_offset 0x%llx, p_filesz 0x%llx\n",
			      (unsigned long long)cases[i].offset,
			      (unsigned long long)cases[i].filesz);
		elf_phdr(img, 0)->p_offset = cases[i].offset;
		elf_phdr(img, 0)->p_filesz = cases[i].filesz;
		expect_reject(img, ELF_LEN, true, "outside the file");
	}
}

static void test_elf_filesz_above_memsz(void **state)
{
	uint8_t *img = *state;

	elf_phdr(img, 0)->p_filesz = 0x100;
	elf_phdr(img, 0)->p_memsz = 0xff;
	elf_ehdr(img)->e_entry = ELF_PADDR;
	expect_reject(img, ELF_LEN, true, "p_filesz");
}

static void test_elf_segment_wraps(void **state)
{
	uint8_t *img = *state;

	elf_phdr(img, 0)->p_paddr = UINT64_MAX - 0xfff;
	elf_ehdr(img)->e_entry = UINT64_MAX - 0xfff;
	expect_reject(img, ELF_LEN, true, NULL);
}

static void test_elf_entry_outside(void **state)
{
	/* The last is the virtual address a vmlinux is linked at, not a physical one. */
	static const uint64_t entries[] = {ELF_PADDR - 1, ELF_PADDR + 0x2000, 0,
					   0xffffffff81000000ULL};
	uint8_t *img = *state;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(entries); i++) {
		print_message("e_entry 0x%llx\n", (unsigned long long)entries[i]);
		elf_ehdr(img)->e_entry = entries[i];
		expect_reject(img, ELF_LEN, true, "entry");
	}
}

/*
 * An entry point in the unloaded gap between two PT_LOAD segments is
 * "outside its loaded segments" as well, but elf_parse() only compares the
 * entry with [lowest_paddr, highest_paddr), the hull of all segments, so
 * it accepts it and the vCPU would start in memory nothing was loaded to.
 */
static void test_elf_entry_in_gap_between_segments(void **state)
{
	uint8_t *img = *state;

	elf_ehdr(img)->e_phnum = 2;
	copy_phdr0(img, 1, ELF_PADDR + 0x10000);
	elf_ehdr(img)->e_entry = ELF_PADDR + 0x8000; /* after segment 0's 0x2000 bytes */
	expect_reject(img, ELF_LEN, true, "entry");
}

static void test_elf_phnum_zero(void **state)
{
	uint8_t *img = *state;

	elf_ehdr(img)->e_phnum = 0;
	expect_reject(img, ELF_LEN, true, "program header");
}

static void test_elf_too_many_segments(void **state)
{
	struct kernel_image ki;
	uint8_t *img = *state;
	unsigned int i;

	/* 17 PT_LOADs fit in the 0x1000 bytes before the data (64 + 17 * 56). */
	elf_ehdr(img)->e_phnum = ELF_MAX_SEGMENTS + 1;
	for (i = 1; i <= ELF_MAX_SEGMENTS; i++)
		copy_phdr0(img, i, ELF_PADDR + i * 0x2000);
	expect_reject(img, ELF_LEN, true, NULL);
	/* Exactly ELF_MAX_SEGMENTS is fine. */
	elf_ehdr(img)->e_phnum = ELF_MAX_SEGMENTS;
	expect_ok(img, ELF_LEN, true, &ki);
	assert_int_equal(ki.nr_segs, ELF_MAX_SEGMENTS);
	assert_int_equal(ki.highest_paddr, ELF_PADDR + ELF_MAX_SEGMENTS * 0x2000);
}

/* ---- neither format ---- */

static void test_garbage(void **state)
{
	uint8_t *img = test_malloc(0x4000);
	uint32_t x = 0x12345678;
	unsigned int round, i;

	(void)state;
	for (round = 0; round < 64; round++) {
		for (i = 0; i < 0x4000; i++) {
			x = x * 1103515245u + 12345u;
			img[i] = (uint8_t)(x >> 16);
		}
		/* Some rounds carry one of the signatures, the rest of the bytes still random. */
		if (round % 4 == 1) {
			img[0x1fe] = 0x55;
			img[0x1ff] = 0xaa;
		} else if (round % 4 == 2) {
			memcpy(img, ELFMAG, SELFMAG);
		}
		expect_reject(img, 0x4000, round & 1, NULL);
		expect_reject(img, 0x210, true, NULL);
		expect_reject(img, 0x40, false, NULL);
	}
	test_free(img);
}

static void test_empty(void **state)
{
	static const uint8_t one[1] = {0x7f};

	(void)state;
	expect_reject(one, 0, true, NULL);
	expect_reject(one, 0, false, NULL);
	expect_reject(NULL, 0, true, NULL);
	expect_reject(one, 1, true, NULL);
	expect_reject((const uint8_t *)ELFMAG, SELFMAG, true, NULL);
}

#define BZ_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_bz, teardown_image)
#define ELF_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_elf, teardown_image)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BZ_TEST(test_bz_valid_64),
		BZ_TEST(test_bz_shorter_than_header),
		BZ_TEST(test_bz_header_length_past_end),
		cmocka_unit_test(test_bz_no_payload),
		BZ_TEST(test_bz_bad_boot_flag),
		BZ_TEST(test_bz_bad_hdrs),
		cmocka_unit_test(test_bz_version_too_old),
		cmocka_unit_test(test_bz_version_020b),
		cmocka_unit_test(test_bz_no_kernel_64),
		cmocka_unit_test(test_bz_not_loaded_high),
		cmocka_unit_test(test_bz_setup_sects_zero),
		cmocka_unit_test(test_bz_init_size),
		cmocka_unit_test(test_bz_cmdline_size_zero),
		ELF_TEST(test_elf_valid),
		ELF_TEST(test_elf_non_load_segments_skipped),
		ELF_TEST(test_elf_class32),
		ELF_TEST(test_elf_wrong_machine),
		ELF_TEST(test_elf_other_header_fields),
		ELF_TEST(test_elf_segment_outside_file),
		ELF_TEST(test_elf_filesz_above_memsz),
		ELF_TEST(test_elf_segment_wraps),
		ELF_TEST(test_elf_entry_outside),
		ELF_TEST(test_elf_entry_in_gap_between_segments),
		ELF_TEST(test_elf_phnum_zero),
		ELF_TEST(test_elf_too_many_segments),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
