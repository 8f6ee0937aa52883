/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the unit tests; the Makefile links every .c file of
 * tests/unit/common into every test binary. Synthetic kernel images (a bzImage laid out byte by
 * byte from boot.rst, independently of struct setup_header, and an ELF64
 * vmlinux), mapped guest memory, little-endian byte helpers and a check for
 * error messages.
 *
 * Every buffer and gmem here comes from cmocka's test_malloc()/test_calloc():
 * give it back with test_free() (or free_gmem()), and cmocka's leak check
 * covers the fixtures as well as the tests.
 */
#ifndef LMIG_TESTS_UNIT_COMMON_FIXTURES_H
#define LMIG_TESTS_UNIT_COMMON_FIXTURES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>

#include "vmm/gmem.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- little-endian bytes ---- */

void put_le16(uint8_t *p, uint16_t v);
void put_le32(uint8_t *p, uint32_t v);
uint16_t get_le16(const uint8_t *p);
uint32_t get_le32(const uint8_t *p);

/* p[i] = i * mul + add (mod 256): contents in which a misplaced copy shows. */
void fill_pattern(uint8_t *p, size_t len, unsigned int mul, unsigned int add);
/* A test_malloc'd buffer of len bytes filled with fill_pattern(). */
uint8_t *new_pattern(size_t len, unsigned int mul, unsigned int add);

/* ---- error messages ---- */

/*
 * Fail unless msg is a non-empty string containing each of the substrings
 * that follow (a NULL-terminated list, possibly empty); the failure names
 * the message and the missing substring.
 */
void assert_mentions(const char *msg, ...) __attribute__((sentinel));
void assert_vmentions(const char *msg, va_list ap);

/* ---- synthetic bzImage ---- */

/* Offsets from boot.rst, "The Real-Mode Kernel Header". */
#define BZ_OFF_E820_ENTRIES 0x1e8
#define BZ_OFF_SETUP_SECTS 0x1f1
#define BZ_OFF_BOOT_FLAG 0x1fe
#define BZ_OFF_JUMP 0x200
#define BZ_OFF_HDR_LEN 0x201
#define BZ_OFF_HEADER 0x202
#define BZ_OFF_VERSION 0x206
#define BZ_OFF_TYPE_OF_LOADER 0x210
#define BZ_OFF_LOADFLAGS 0x211
#define BZ_OFF_CODE32_START 0x214
#define BZ_OFF_RAMDISK_IMAGE 0x218
#define BZ_OFF_RAMDISK_SIZE 0x21c
#define BZ_OFF_HEAP_END_PTR 0x224
#define BZ_OFF_CMD_LINE_PTR 0x228
#define BZ_OFF_INITRD_ADDR_MAX 0x22c
#define BZ_OFF_XLOADFLAGS 0x236
#define BZ_OFF_CMDLINE_SIZE 0x238
#define BZ_OFF_INIT_SIZE 0x260
#define BZ_OFF_E820_TABLE 0x2d0
/* The header of boot protocol 2.15 ends at 0x26c: image[0x201] is 0x6a. */
#define BZ_HDR_END_FULL 0x26c
#define BZ_HDR_LEN_FULL (BZ_HDR_END_FULL - BZ_OFF_HEADER)

/* Byte i of the protected-mode payload that make_bzimage() writes. */
#define BZ_PAYLOAD_BYTE(i) ((uint8_t)(7 * (i) + 3))

struct bz_opts {
	uint8_t setup_sects; /* the header byte; 0 means 4 (boot.rst) */
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint8_t hdr_len; /* image[0x201]: the header runs to 0x202 + hdr_len */
	size_t payload;	 /* bytes after the setup sectors */
};

/*
 * Protocol 2.15, 64-bit capable and loadable above 4 GiB, 4 setup sectors,
 * a 4 KiB payload, init_size 64 KiB, cmdline_size 2047, initrd_addr_max
 * 0x7fffffff.
 */
extern const struct bz_opts bz_defaults;

/* (setup_sects + 1) * 512, with a setup_sects of 0 counted as 4. */
size_t bz_setup_size(const struct bz_opts *o);

/*
 * A test_malloc'd bzImage of *len = bz_setup_size(o) + o->payload bytes:
 * a boot sector of 0xff (as Linux 6.1.88+ ships), every header byte the
 * options and boot.rst do not fix set to a pattern (so that a copy of the
 * wrong length shows), 0xcc filler in the rest of the setup sectors, and
 * BZ_PAYLOAD_BYTE() in the payload. The loader-owned fields (type_of_loader,
 * ramdisk_image/size, heap_end_ptr, cmd_line_ptr) are 0, and loadflags is
 * o->loadflags alone.
 */
uint8_t *make_bzimage(const struct bz_opts *o, size_t *len);

/* ---- synthetic ELF64 vmlinux: one PT_LOAD, its bytes at ELF_DATA_OFF ---- */

/* Room before the data for the ELF header and 17 program headers (64 + 17 * 56). */
#define ELF_DATA_OFF 0x1000

struct elf_opts {
	size_t len; /* the file, at least ELF_DATA_OFF + filesz */
	uint64_t paddr;
	uint64_t entry; /* e_entry */
	uint64_t filesz, memsz;
};

/* 0x1100 bytes: 0x100 of data loaded at 16 MiB with 0x2000 of memory, entry at +0x10. */
extern const struct elf_opts elf_defaults;

/*
 * A test_calloc'd ELF64 x86-64 executable of o->len bytes: the ELF header,
 * one PT_LOAD (R+X, vaddr 0xffffffff81000000) of the file's bytes from
 * ELF_DATA_OFF, and a pattern from there to the end of the file.
 */
uint8_t *make_elf(const struct elf_opts *o);
Elf64_Ehdr *elf_ehdr(uint8_t *img);
Elf64_Phdr *elf_phdr(uint8_t *img, unsigned int i);

/* ---- guest memory ---- */

/* A laid-out and mapped gmem of size bytes, or NULL (nothing leaked) if that fails. */
struct gmem *try_new_gmem(uint64_t size);
/* The same, failing the test if it cannot be made. */
struct gmem *new_gmem(uint64_t size);
void free_gmem(struct gmem *gm);

/* For cmocka setups: *state = try_new_gmem(size); -1 if that fails. */
int setup_gmem(void **state, uint64_t size);
/* A cmocka teardown for setup_gmem(). */
int teardown_gmem(void **state);

/* The little-endian u64 at gpa, failing the test if it is not RAM. */
uint64_t read_u64(const struct gmem *gm, uint64_t gpa);

#endif
