// SPDX-License-Identifier: MIT
/*
 * Unit tests for kernel image parsing (src/arch/x86/kernel_image.c), on
 * synthetic bzImages and ELF64 files built byte by byte in a buffer. The
 * bzImage header offsets are written out from boot.rst, independently of
 * struct setup_header, so that the struct's layout is checked as well.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/kernel_image.h"

/* ---- synthetic bzImage ---- */

/* Offsets from boot.rst, "The Real-Mode Kernel Header". */
#define OFF_SETUP_SECTS 0x1f1
#define OFF_BOOT_FLAG 0x1fe
#define OFF_JUMP 0x200
#define OFF_HDR_LEN 0x201
#define OFF_HEADER 0x202
#define OFF_VERSION 0x206
#define OFF_LOADFLAGS 0x211
#define OFF_CODE32_START 0x214
#define OFF_INITRD_ADDR_MAX 0x22c
#define OFF_XLOADFLAGS 0x236
#define OFF_CMDLINE_SIZE 0x238
#define OFF_INIT_SIZE 0x260
#define HDR_LEN_FULL 0x6a /* header up to 0x26c, as in boot protocol 2.15 */

struct bz_opts {
	uint8_t setup_sects;
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint8_t hdr_len;
	size_t payload;
};

static const struct bz_opts bz_default = {
	.setup_sects = 4,
	.version = 0x020f,
	.loadflags = LOADFLAG_LOADED_HIGH,
	.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
	.cmdline_size = 2047,
	.init_size = 0x10000,
	.hdr_len = HDR_LEN_FULL,
	.payload = 4096,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static size_t bz_setup_size(const struct bz_opts *o)
{
	return ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
}

/* Build a bzImage into a test_malloc'd buffer; *len gets its size. */
static uint8_t *make_bzimage(const struct bz_opts *o, size_t *len)
{
	size_t setup = bz_setup_size(o), i;
	uint8_t *img;

	*len = setup + o->payload;
	img = test_malloc(*len > 0x300 ? *len : 0x300);
	/* A boot sector of 0xff, as Linux 6.1.88+ ships, and filler in the setup code. */
	memset(img, 0xff, OFF_SETUP_SECTS);
	memset(img + OFF_SETUP_SECTS, 0xcc, setup - OFF_SETUP_SECTS);
	memset(img + OFF_SETUP_SECTS, 0, 0x26c - OFF_SETUP_SECTS);
	img[OFF_SETUP_SECTS] = o->setup_sects;
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	img[OFF_JUMP] = 0xeb;
	img[OFF_HDR_LEN] = o->hdr_len;
	memcpy(img + OFF_HEADER, "HdrS", 4);
	put16(img + OFF_VERSION, o->version);
	img[OFF_LOADFLAGS] = o->loadflags;
	put32(img + OFF_CODE32_START, 0x100000);
	put32(img + OFF_INITRD_ADDR_MAX, 0x7fffffff);
	put16(img + OFF_XLOADFLAGS, o->xloadflags);
	put32(img + OFF_CMDLINE_SIZE, o->cmdline_size);
	put32(img + OFF_INIT_SIZE, o->init_size);
	for (i = 0; i < o->payload; i++)
		img[setup + i] = (uint8_t)(i * 7 + 3);
	return img;
}

static void expect_reject(const uint8_t *img, size_t len, bool need_64, const char *substr)
{
	struct kernel_image ki;
	const char *why = NULL;

	assert_int_equal(kernel_image_parse(img, len, need_64, &ki, &why), -ENOEXEC);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	if (substr && !strstr(why, substr))
		fail_msg("reason '%s' does not mention '%s'", why, substr);
}

static void expect_ok(const uint8_t *img, size_t len, bool need_64, struct kernel_image *ki)
{
	const char *why = NULL;
	int r = kernel_image_parse(img, len, need_64, ki, &why);

	if (r)
		fail_msg("rejected (%d): %s", r, why ? why : "(null)");
}

static void test_bz_valid_64(void **state)
{
	struct kernel_image ki;
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	(void)state;
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.format, KERNEL_BZIMAGE);
	assert_int_equal(ki.setup_size, 5 * 512);
	assert_int_equal(ki.payload_size, 4096);
	assert_int_equal(ki.hdr_copy_end, 0x202 + HDR_LEN_FULL);
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
	expect_ok(img, len, false, &ki);
	assert_int_equal(ki.format, KERNEL_BZIMAGE);
	test_free(img);
}

static void test_bz_shorter_than_header(void **state)
{
	size_t len, n;
	uint8_t *img = make_bzimage(&bz_default, &len);

	(void)state;
	for (n = 0; n < 0x206; n += 0x41)
		expect_reject(img, n, true, NULL);
	expect_reject(img, 0x1ff, true, NULL);
	expect_reject(img, 0x205, true, NULL);
	expect_reject(img, 0x205, false, NULL);
	test_free(img);
}

static void test_bz_header_length_past_end(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	(void)state;
	/* The header runs to 0x26c: a file one byte shorter cannot hold it. */
	expect_reject(img, 0x202 + HDR_LEN_FULL - 1, true, "truncated");
	expect_reject(img, 0x206, true, "truncated");
	/* A header length byte pointing past the end of a short file. */
	img[OFF_HDR_LEN] = 0xff;
	expect_reject(img, 0x300, true, "truncated");
	expect_reject(img, 0x300, false, "truncated");
	test_free(img);
}

static void test_bz_no_payload(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_default;
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
	o = bz_default;
	img = make_bzimage(&o, &len);
	img[OFF_SETUP_SECTS] = 255;
	expect_reject(img, len, true, "payload");
	test_free(img);
}

static void test_bz_bad_boot_flag(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	(void)state;
	put16(img + OFF_BOOT_FLAG, 0x55aa);
	expect_reject(img, len, true, NULL);
	put16(img + OFF_BOOT_FLAG, 0xaa56);
	expect_reject(img, len, false, NULL);
	put16(img + OFF_BOOT_FLAG, 0);
	expect_reject(img, len, true, NULL);
	test_free(img);
}

static void test_bz_bad_hdrs(void **state)
{
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	(void)state;
	memcpy(img + OFF_HEADER, "HdrT", 4);
	expect_reject(img, len, true, "HdrS");
	memcpy(img + OFF_HEADER, "hdrs", 4);
	expect_reject(img, len, false, "HdrS");
	/* A header length of 0 ends the header before the signature. */
	memcpy(img + OFF_HEADER, "HdrS", 4);
	img[OFF_HDR_LEN] = 0;
	expect_reject(img, len, true, NULL);
	test_free(img);
}

static void test_bz_version_too_old(void **state)
{
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	o.version = 0x0205;
	img = make_bzimage(&o, &len);
	expect_reject(img, len, true, "2.06");
	expect_reject(img, len, false, "2.06");
	test_free(img);
	o.version = 0x0100;
	img = make_bzimage(&o, &len);
	expect_reject(img, len, false, NULL);
	test_free(img);
}

static void test_bz_version_020b(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	o.version = 0x020b;
	img = make_bzimage(&o, &len);
	/* Too old for the 64-bit protocol even with XLF_KERNEL_64 set... */
	expect_reject(img, len, true, "2.12");
	/* ...but fine for the 32-bit one. */
	expect_ok(img, len, false, &ki);
	assert_int_equal(ki.hdr.version, 0x020b);
	assert_int_equal(ki.init_size, 0x10000);
	test_free(img);

	/* 0x020c is the first version the 64-bit protocol accepts. */
	o.version = 0x020c;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	test_free(img);
}

static void test_bz_no_kernel_64(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	o.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	img = make_bzimage(&o, &len);
	expect_reject(img, len, true, "XLF_KERNEL_64");
	expect_ok(img, len, false, &ki);
	test_free(img);
}

static void test_bz_not_loaded_high(void **state)
{
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	o.loadflags = 0;
	img = make_bzimage(&o, &len);
	expect_reject(img, len, true, NULL);
	expect_reject(img, len, false, NULL);
	test_free(img);
}

static void test_bz_setup_sects_zero(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_default;
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
	assert_int_equal(img[ki.setup_size], 3);
	test_free(img);

	o.setup_sects = 1;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.setup_size, 2 * 512);
	assert_int_equal(ki.payload_size, 4096);
	test_free(img);
}

static void test_bz_init_size(void **state)
{
	struct kernel_image ki;
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	/* Below the payload: the payload wins. */
	o.init_size = 100;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.init_size, 4096);
	test_free(img);
	/* Zero: the payload. */
	o.init_size = 0;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.init_size, 4096);
	test_free(img);
	/* Above: the header's value. */
	o.init_size = 0x2000000;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.init_size, 0x2000000);
	test_free(img);
	/* init_size appeared in 2.10; before that the field is not read. */
	o.version = 0x0209;
	img = make_bzimage(&o, &len);
	expect_ok(img, len, false, &ki);
	assert_int_equal(ki.init_size, 4096);
	test_free(img);
}

static void test_bz_cmdline_size_zero(void **state)
{
	struct bz_opts o = bz_default;
	size_t len;
	uint8_t *img;

	(void)state;
	o.cmdline_size = 0;
	img = make_bzimage(&o, &len);
	expect_reject(img, len, true, "cmdline_size");
	expect_reject(img, len, false, "cmdline_size");
	test_free(img);
}

/* ---- synthetic ELF64 ---- */

#define ELF_LEN 0x1100
#define ELF_PADDR 0x1000000ULL

static uint8_t *make_elf(size_t *len)
{
	uint8_t *img = test_calloc(1, ELF_LEN);
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;

	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = ELF_PADDR + 0x10;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memcpy(img, &eh, sizeof(eh));

	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = 0x1000;
	ph.p_vaddr = 0xffffffff81000000ULL;
	ph.p_paddr = ELF_PADDR;
	ph.p_filesz = 0x100;
	ph.p_memsz = 0x2000;
	ph.p_align = 0x1000;
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	for (i = 0x1000; i < ELF_LEN; i++)
		img[i] = (uint8_t)i;
	*len = ELF_LEN;
	return img;
}

static Elf64_Ehdr *ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)(void *)img;
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned int i)
{
	return (Elf64_Phdr *)(void *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static void test_elf_valid(void **state)
{
	struct kernel_image ki;
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	expect_ok(img, len, true, &ki);
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
	ehdr(img)->e_entry = ELF_PADDR;
	expect_ok(img, len, true, &ki);
	ehdr(img)->e_entry = ELF_PADDR + 0x1fff;
	expect_ok(img, len, true, &ki);
	/* A segment ending exactly at the end of the file. */
	phdr(img, 0)->p_filesz = 0x100;
	phdr(img, 0)->p_offset = ELF_LEN - 0x100;
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.segs[0].file_offset, ELF_LEN - 0x100);
	test_free(img);
}

static void test_elf_non_load_segments_skipped(void **state)
{
	struct kernel_image ki;
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	/* phdr 0: PT_NOTE; phdr 1 and 2: two PT_LOADs, the higher one first. */
	ehdr(img)->e_phnum = 3;
	memcpy(phdr(img, 1), phdr(img, 0), sizeof(Elf64_Phdr));
	memcpy(phdr(img, 2), phdr(img, 0), sizeof(Elf64_Phdr));
	phdr(img, 0)->p_type = PT_NOTE;
	phdr(img, 0)->p_paddr = 0;
	phdr(img, 1)->p_paddr = ELF_PADDR + 0x2000;
	phdr(img, 1)->p_memsz = 0x3000;
	expect_ok(img, len, true, &ki);
	assert_int_equal(ki.nr_segs, 2);
	assert_int_equal(ki.segs[0].paddr, ELF_PADDR + 0x2000);
	assert_int_equal(ki.segs[1].paddr, ELF_PADDR);
	assert_int_equal(ki.lowest_paddr, ELF_PADDR);
	assert_int_equal(ki.highest_paddr, ELF_PADDR + 0x5000);

	/* Only a PT_NOTE: nothing to load. */
	ehdr(img)->e_phnum = 1;
	expect_reject(img, len, true, NULL);
	test_free(img);
}

static void test_elf_class32(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	img[EI_CLASS] = ELFCLASS32;
	expect_reject(img, len, true, "64-bit");
	expect_reject(img, len, false, NULL);
	test_free(img);
}

static void test_elf_wrong_machine(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	ehdr(img)->e_machine = EM_386;
	expect_reject(img, len, true, "x86-64");
	ehdr(img)->e_machine = EM_AARCH64;
	expect_reject(img, len, true, "x86-64");
	test_free(img);
}

static void test_elf_other_header_fields(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	img[EI_DATA] = ELFDATA2MSB;
	expect_reject(img, len, true, NULL);
	img[EI_DATA] = ELFDATA2LSB;
	ehdr(img)->e_type = ET_DYN;
	expect_reject(img, len, true, NULL);
	ehdr(img)->e_type = ET_EXEC;
	ehdr(img)->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_reject(img, len, true, NULL);
	ehdr(img)->e_phentsize = sizeof(Elf64_Phdr);
	/* Truncated inside the ELF header. */
	expect_reject(img, sizeof(Elf64_Ehdr) - 1, true, NULL);
	expect_reject(img, SELFMAG, true, NULL);
	/* Program headers beyond the file, including an offset that would wrap. */
	ehdr(img)->e_phoff = len - 8;
	expect_reject(img, len, true, NULL);
	ehdr(img)->e_phoff = len + 1;
	expect_reject(img, len, true, NULL);
	ehdr(img)->e_phoff = UINT64_MAX - 16;
	expect_reject(img, len, true, NULL);
	ehdr(img)->e_phoff = sizeof(Elf64_Ehdr);
	ehdr(img)->e_phnum = 0xffff;
	expect_reject(img, len, true, NULL);
	test_free(img);
}

static void test_elf_segment_outside_file(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	phdr(img, 0)->p_offset = ELF_LEN - 0xff;
	expect_reject(img, len, true, "outside the file");
	phdr(img, 0)->p_offset = ELF_LEN + 0x1000;
	expect_reject(img, len, true, "outside the file");
	phdr(img, 0)->p_offset = UINT64_MAX - 0x10;
	expect_reject(img, len, true, "outside the file");
	phdr(img, 0)->p_offset = 0x1000;
	phdr(img, 0)->p_filesz = 0x101;
	expect_reject(img, len, true, "outside the file");
	test_free(img);
}

static void test_elf_filesz_above_memsz(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	phdr(img, 0)->p_filesz = 0x100;
	phdr(img, 0)->p_memsz = 0xff;
	ehdr(img)->e_entry = ELF_PADDR;
	expect_reject(img, len, true, "p_filesz");
	test_free(img);
}

static void test_elf_segment_wraps(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	phdr(img, 0)->p_paddr = UINT64_MAX - 0xfff;
	ehdr(img)->e_entry = UINT64_MAX - 0xfff;
	expect_reject(img, len, true, NULL);
	test_free(img);
}

static void test_elf_entry_outside(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	ehdr(img)->e_entry = ELF_PADDR - 1;
	expect_reject(img, len, true, "entry");
	ehdr(img)->e_entry = ELF_PADDR + 0x2000;
	expect_reject(img, len, true, "entry");
	ehdr(img)->e_entry = 0;
	expect_reject(img, len, true, "entry");
	/* The virtual address a vmlinux is linked at is not a physical one. */
	ehdr(img)->e_entry = 0xffffffff81000000ULL;
	expect_reject(img, len, true, "entry");
	test_free(img);
}

/*
 * An entry point in the unloaded gap between two PT_LOAD segments is
 * "outside its loaded segments" as well, but elf_parse() only compares the
 * entry with [lowest_paddr, highest_paddr), the hull of all segments, so
 * it accepts it and the vCPU would start in memory nothing was loaded to.
 */
static void test_elf_entry_in_gap_between_segments(void **state)
{
	size_t len;
	uint8_t *img;

	(void)state;
	img = make_elf(&len);
	ehdr(img)->e_phnum = 2;
	memcpy(phdr(img, 1), phdr(img, 0), sizeof(Elf64_Phdr));
	phdr(img, 1)->p_paddr = ELF_PADDR + 0x10000;
	ehdr(img)->e_entry = ELF_PADDR + 0x8000; /* after segment 0's 0x2000 bytes */
	expect_reject(img, len, true, "entry");
	test_free(img);
}

static void test_elf_phnum_zero(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);

	(void)state;
	ehdr(img)->e_phnum = 0;
	expect_reject(img, len, true, "program header");
	test_free(img);
}

static void test_elf_too_many_segments(void **state)
{
	size_t len;
	uint8_t *img = make_elf(&len);
	unsigned int i;

	(void)state;
	/* 17 PT_LOADs fit in the 0x1000 bytes before the data (64 + 17 * 56). */
	ehdr(img)->e_phnum = ELF_MAX_SEGMENTS + 1;
	for (i = 1; i <= ELF_MAX_SEGMENTS; i++) {
		memcpy(phdr(img, i), phdr(img, 0), sizeof(Elf64_Phdr));
		phdr(img, i)->p_paddr = ELF_PADDR + i * 0x2000;
	}
	expect_reject(img, len, true, NULL);
	/* Exactly ELF_MAX_SEGMENTS is fine. */
	ehdr(img)->e_phnum = ELF_MAX_SEGMENTS;
	{
		struct kernel_image ki;

		expect_ok(img, len, true, &ki);
		assert_int_equal(ki.nr_segs, ELF_MAX_SEGMENTS);
		assert_int_equal(ki.highest_paddr, ELF_PADDR + ELF_MAX_SEGMENTS * 0x2000);
	}
	test_free(img);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bz_valid_64),
		cmocka_unit_test(test_bz_shorter_than_header),
		cmocka_unit_test(test_bz_header_length_past_end),
		cmocka_unit_test(test_bz_no_payload),
		cmocka_unit_test(test_bz_bad_boot_flag),
		cmocka_unit_test(test_bz_bad_hdrs),
		cmocka_unit_test(test_bz_version_too_old),
		cmocka_unit_test(test_bz_version_020b),
		cmocka_unit_test(test_bz_no_kernel_64),
		cmocka_unit_test(test_bz_not_loaded_high),
		cmocka_unit_test(test_bz_setup_sects_zero),
		cmocka_unit_test(test_bz_init_size),
		cmocka_unit_test(test_bz_cmdline_size_zero),
		cmocka_unit_test(test_elf_valid),
		cmocka_unit_test(test_elf_non_load_segments_skipped),
		cmocka_unit_test(test_elf_class32),
		cmocka_unit_test(test_elf_wrong_machine),
		cmocka_unit_test(test_elf_other_header_fields),
		cmocka_unit_test(test_elf_segment_outside_file),
		cmocka_unit_test(test_elf_filesz_above_memsz),
		cmocka_unit_test(test_elf_segment_wraps),
		cmocka_unit_test(test_elf_entry_outside),
		cmocka_unit_test(test_elf_entry_in_gap_between_segments),
		cmocka_unit_test(test_elf_phnum_zero),
		cmocka_unit_test(test_elf_too_many_segments),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
