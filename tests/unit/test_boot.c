// SPDX-License-Identifier: MIT
/*
 * Unit tests for the x86 boot loader (src/arch/x86/boot.c): the e820 map
 * from the RAM banks, initrd placement, the boot GDT, the identity page
 * tables read back through gmem, and boot_load() end to end with synthetic
 * bzImage and ELF kernels, checking the zero page byte by byte.
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

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static struct gmem *new_gmem(uint64_t size)
{
	struct gmem *gm = test_calloc(1, sizeof(*gm));

	assert_int_equal(gmem_layout(gm, size), 0);
	assert_int_equal(gmem_map(gm), 0);
	return gm;
}

static void free_gmem(struct gmem *gm)
{
	gmem_unmap(gm);
	test_free(gm);
}

static uint64_t read_u64(struct gmem *gm, uint64_t gpa)
{
	uint64_t v = 0;

	assert_int_equal(gmem_read(gm, gpa, &v, sizeof(v)), 0);
	return v;
}

static void assert_e820(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

/* ---- synthetic bzImage (offsets from boot.rst) ---- */

#define OFF_SETUP_SECTS 0x1f1
#define OFF_BOOT_FLAG 0x1fe
#define OFF_HDR_LEN 0x201
#define OFF_HEADER 0x202
#define OFF_VERSION 0x206
#define OFF_TYPE_OF_LOADER 0x210
#define OFF_LOADFLAGS 0x211
#define OFF_CODE32_START 0x214
#define OFF_RAMDISK_IMAGE 0x218
#define OFF_RAMDISK_SIZE 0x21c
#define OFF_HEAP_END_PTR 0x224
#define OFF_CMD_LINE_PTR 0x228
#define OFF_INITRD_ADDR_MAX 0x22c
#define OFF_XLOADFLAGS 0x236
#define OFF_CMDLINE_SIZE 0x238
#define OFF_INIT_SIZE 0x260
#define HDR_END_FULL 0x26c
#define HDR_LEN_FULL (HDR_END_FULL - 0x202)
#define OFF_E820_ENTRIES 0x1e8
#define OFF_E820_TABLE 0x2d0

#define BZ_PAYLOAD 8192
#define BZ_SETUP_SECTS 4
#define BZ_SETUP_SIZE ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_LEN (BZ_SETUP_SIZE + BZ_PAYLOAD)
#define BZ_INIT_SIZE 0x40000

struct bz_opts {
	uint16_t version;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint8_t hdr_len;
};

static const struct bz_opts bz_default = {
	.version = 0x020f,
	.xloadflags = XLF_KERNEL_64,
	.cmdline_size = 2047,
	.init_size = BZ_INIT_SIZE,
	.initrd_addr_max = 0x7fffffff,
	.hdr_len = HDR_LEN_FULL,
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

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * A bzImage of BZ_LEN bytes: a boot sector of 0xff, every header byte the
 * loader does not interpret set to a pattern (so that a copy of the wrong
 * length shows), 0xcc filler in the rest of the setup sectors, and a
 * patterned payload.
 */
static uint8_t *make_bzimage(const struct bz_opts *o)
{
	uint8_t *img = test_malloc(BZ_LEN);
	unsigned int i;

	memset(img, 0xff, OFF_SETUP_SECTS);
	for (i = OFF_SETUP_SECTS; i < HDR_END_FULL; i++)
		img[i] = (uint8_t)(0x40 + i);
	memset(img + HDR_END_FULL, 0xcc, BZ_SETUP_SIZE - HDR_END_FULL);
	img[OFF_SETUP_SECTS] = BZ_SETUP_SECTS;
	put16(img + OFF_BOOT_FLAG, 0xaa55);
	img[0x200] = 0xeb;
	img[OFF_HDR_LEN] = o->hdr_len;
	memcpy(img + OFF_HEADER, "HdrS", 4);
	put16(img + OFF_VERSION, o->version);
	img[OFF_TYPE_OF_LOADER] = 0;
	/* QUIET and KEEP_SEGMENTS set, to see the loader clear them. */
	img[OFF_LOADFLAGS] = LOADFLAG_LOADED_HIGH | LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS;
	put32(img + OFF_CODE32_START, 0x100000);
	put32(img + OFF_RAMDISK_IMAGE, 0);
	put32(img + OFF_RAMDISK_SIZE, 0);
	put16(img + OFF_HEAP_END_PTR, 0);
	put32(img + OFF_CMD_LINE_PTR, 0);
	put32(img + OFF_INITRD_ADDR_MAX, o->initrd_addr_max);
	put16(img + OFF_XLOADFLAGS, o->xloadflags);
	put32(img + OFF_CMDLINE_SIZE, o->cmdline_size);
	put32(img + OFF_INIT_SIZE, o->init_size);
	for (i = 0; i < BZ_PAYLOAD; i++)
		img[BZ_SETUP_SIZE + i] = (uint8_t)(i * 13 + 5);
	return img;
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *p = test_malloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 3 + 1);
	return p;
}

/* ---- synthetic ELF vmlinux: one PT_LOAD at 16 MiB ---- */

#define ELF_LEN 0x3000
#define ELF_PADDR 0x1000000ULL
#define ELF_FILESZ 0x2000
#define ELF_MEMSZ 0x5000

static uint8_t *make_elf(uint64_t paddr)
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
	eh.e_entry = paddr + 0x40;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memcpy(img, &eh, sizeof(eh));
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_offset = 0x1000;
	ph.p_vaddr = 0xffffffff81000000ULL;
	ph.p_paddr = paddr;
	ph.p_filesz = ELF_FILESZ;
	ph.p_memsz = ELF_MEMSZ;
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	for (i = 0x1000; i < ELF_LEN; i++)
		img[i] = (uint8_t)(i * 5 + 2);
	return img;
}

/* ---- boot_e820_from_banks ---- */

static void test_e820_256m(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(256)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 3);
	assert_e820(&t[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&t[1], 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
	assert_e820(&t[2], 0x100000, MiB(256) - 0x100000, E820_RAM);
}

static void test_e820_5g(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 4);
	assert_e820(&t[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&t[1], 0x9fc00, 0x60400, E820_RESERVED);
	assert_e820(&t[2], MiB(1), GiB(3) - MiB(1), E820_RAM);
	assert_e820(&t[3], GiB(4), GiB(2), E820_RAM);
	/* No entry reaches into the MMIO hole. */
	assert_true(t[2].addr + t[2].size <= LAYOUT_MMIO_HOLE_START);
}

static void test_e820_small_ram(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	/* All RAM below the EBDA: one entry, sized to RAM. */
	assert_int_equal(gmem_layout(&gm, KiB(512)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 1);
	assert_e820(&t[0], 0, KiB(512), E820_RAM);
	/* Exactly 1 MiB: low RAM and the reserved area, no RAM above 1 MiB. */
	assert_int_equal(gmem_layout(&gm, MiB(1)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 2);
	assert_e820(&t[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&t[1], 0x9fc00, 0x60400, E820_RESERVED);
	/* One page above 1 MiB. */
	assert_int_equal(gmem_layout(&gm, MiB(1) + 4096), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 3);
	assert_e820(&t[2], MiB(1), 4096, E820_RAM);
}

static void test_e820_table_too_small(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(256)), 0);
	memset(t, 0xee, sizeof(t));
	assert_int_equal(boot_e820_from_banks(&gm, t, 2), -E2BIG);
	/* Nothing is written past the table's end. */
	assert_int_equal(t[2].type, 0xeeeeeeee);
	assert_int_equal(t[2].addr, 0xeeeeeeeeeeeeeeeeULL);
	assert_int_equal(boot_e820_from_banks(&gm, t, 0), -E2BIG);
	/* Exactly enough is fine. */
	assert_int_equal(boot_e820_from_banks(&gm, t, 3), 3);

	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	memset(t, 0xee, sizeof(t));
	assert_int_equal(boot_e820_from_banks(&gm, t, 3), -E2BIG);
	assert_int_equal(t[3].type, 0xeeeeeeee);
	assert_int_equal(boot_e820_from_banks(&gm, t, 4), 4);
}

/* ---- boot_place_initrd ---- */

static void test_initrd_preferred_address(void **state)
{
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	assert_int_equal(boot_place_initrd(&gm, MiB(16), 0x7fffffff, MiB(1) + MiB(32), &addr), 0);
	assert_int_equal(addr, 0x0f000000);
	assert_int_equal(addr, LAYOUT_INITRD);
	/* With 5 GiB the first bank ends at 3 GiB; still the preferred address. */
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(boot_place_initrd(&gm, MiB(100), 0xffffffff, MiB(20), &addr), 0);
	assert_int_equal(addr, LAYOUT_INITRD);
	/* initrd_addr_max allowing exactly [0x0f000000, 0x0f000000 + size). */
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	assert_int_equal(boot_place_initrd(&gm, MiB(1), LAYOUT_INITRD + MiB(1) - 1, MiB(2), &addr),
			 0);
	assert_int_equal(addr, LAYOUT_INITRD);
}

static void test_initrd_high_in_small_ram(void **state)
{
	const uint64_t size = MiB(8) + 123, kernel_end = MiB(1) + MiB(20);
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(128)), 0);
	assert_int_equal(boot_place_initrd(&gm, size, 0x7fffffff, kernel_end, &addr), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + size <= MiB(128));
	assert_true(addr >= kernel_end);
	/* As high as possible: less than a page left above it. */
	assert_true(MiB(128) - (addr + size) < 4096);
	assert_int_equal(addr, (MiB(128) - size) & ~0xfffULL);
}

static void test_initrd_addr_max_below_ram(void **state)
{
	const uint64_t size = MiB(4) + 1;
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	/* The kernel takes initrds only below 128 MiB. */
	assert_int_equal(boot_place_initrd(&gm, size, 0x07ffffff, MiB(2), &addr), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + size - 1 <= 0x07ffffff);
	assert_true(addr >= MiB(2));
	assert_int_equal(addr, (0x08000000 - size) & ~0xfffULL);
	/* 0x37ffffff, the default for old kernels, leaves the preferred address usable. */
	assert_int_equal(boot_place_initrd(&gm, size, 0x37ffffff, MiB(2), &addr), 0);
	assert_int_equal(addr, LAYOUT_INITRD);
}

static void test_initrd_kernel_above_preferred(void **state)
{
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	/* A kernel reaching past 0x0f000000: the initrd goes above it. */
	assert_int_equal(boot_place_initrd(&gm, MiB(16), 0x7fffffff, 0x10000000, &addr), 0);
	assert_int_equal(addr, GiB(1) - MiB(16));
	assert_true(addr >= 0x10000000);
}

static void test_initrd_no_room(void **state)
{
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(128)), 0);
	/* Larger than RAM. */
	assert_int_equal(boot_place_initrd(&gm, MiB(200), 0x7fffffff, MiB(2), &addr), -ENOSPC);
	assert_int_equal(boot_place_initrd(&gm, UINT64_MAX, 0x7fffffff, MiB(2), &addr), -ENOSPC);
	/* Fits in RAM, but not above the kernel. */
	assert_int_equal(boot_place_initrd(&gm, MiB(16), 0x7fffffff, MiB(120), &addr), -ENOSPC);
	/* Fits in RAM, but not below initrd_addr_max. */
	assert_int_equal(boot_place_initrd(&gm, MiB(16), MiB(8) - 1, MiB(2), &addr), -ENOSPC);
}

static void test_initrd_size_zero(void **state)
{
	struct gmem gm;
	uint64_t addr = 0x1234;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	assert_int_equal(boot_place_initrd(&gm, 0, 0x7fffffff, MiB(2), &addr), -EINVAL);
	assert_int_equal(addr, 0x1234);
}

/*
 * boot.h: the initrd goes "below min(initrd_addr_max + 1, end of low RAM)".
 * For initrd_addr_max == UINT64_MAX (no limit) that minimum is the end of
 * RAM, but boot.c computes `limit = initrd_addr_max + 1` in 64 bits, which
 * wraps to 0, so top becomes 0 and every initrd is refused with -ENOSPC.
 * boot_load() only passes 32-bit header values, so it is latent there.
 */
static void test_initrd_addr_max_no_limit(void **state)
{
	struct gmem gm;
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(1)), 0);
	assert_int_equal(boot_place_initrd(&gm, MiB(16), UINT64_MAX, MiB(2), &addr), 0);
	assert_int_equal(addr, LAYOUT_INITRD);
}

/* ---- boot_gdt_entries ---- */

static uint64_t desc_base(uint64_t d)
{
	return ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
}

static uint64_t desc_limit(uint64_t d)
{
	return (d & 0xffff) | ((d >> 48) & 0xf) << 16;
}

#define DESC_TYPE(d) (((d) >> 40) & 0xf)
#define DESC_S(d) (((d) >> 44) & 1)
#define DESC_DPL(d) (((d) >> 45) & 3)
#define DESC_P(d) (((d) >> 47) & 1)
#define DESC_L(d) (((d) >> 53) & 1)
#define DESC_D(d) (((d) >> 54) & 1)
#define DESC_G(d) (((d) >> 55) & 1)

static void check_flat(uint64_t d)
{
	assert_int_equal(desc_base(d), 0);
	assert_int_equal(desc_limit(d), 0xfffff);
	assert_int_equal(DESC_G(d), 1); /* limit in pages: 4 GiB */
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 0);
}

static void test_gdt_64(void **state)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];

	(void)state;
	memset(gdt, 0xee, sizeof(gdt));
	boot_gdt_entries(BOOT_PROTOCOL_64, gdt);
	assert_int_equal(BOOT_CS / 8, 2);
	assert_int_equal(BOOT_DS / 8, 3);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0);
	/* __BOOT_CS: 64-bit code, L=1 and D=0 (L=1 with D=1 is reserved). */
	check_flat(gdt[BOOT_CS / 8]);
	assert_int_equal(DESC_TYPE(gdt[BOOT_CS / 8]) & 0x8, 0x8); /* code */
	assert_int_equal(DESC_TYPE(gdt[BOOT_CS / 8]) & 0x2, 0x2); /* readable */
	assert_int_equal(DESC_L(gdt[BOOT_CS / 8]), 1);
	assert_int_equal(DESC_D(gdt[BOOT_CS / 8]), 0);
	/* __BOOT_DS: flat writable data. */
	check_flat(gdt[BOOT_DS / 8]);
	assert_int_equal(DESC_TYPE(gdt[BOOT_DS / 8]) & 0x8, 0);	  /* data */
	assert_int_equal(DESC_TYPE(gdt[BOOT_DS / 8]) & 0x2, 0x2); /* writable */
	assert_int_equal(DESC_D(gdt[BOOT_DS / 8]), 1);
	assert_int_equal(DESC_L(gdt[BOOT_DS / 8]), 0);
	/* The TSS: a system descriptor, present, busy TSS type. */
	assert_int_equal(DESC_S(gdt[BOOT_TSS / 8]), 0);
	assert_int_equal(DESC_P(gdt[BOOT_TSS / 8]), 1);
	assert_int_equal(DESC_TYPE(gdt[BOOT_TSS / 8]), 0xb);
}

static void test_gdt_32(void **state)
{
	uint64_t gdt64[BOOT_GDT_ENTRIES], gdt[BOOT_GDT_ENTRIES];

	(void)state;
	boot_gdt_entries(BOOT_PROTOCOL_32, gdt);
	boot_gdt_entries(BOOT_PROTOCOL_64, gdt64);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0);
	check_flat(gdt[BOOT_CS / 8]);
	assert_int_equal(DESC_TYPE(gdt[BOOT_CS / 8]) & 0x8, 0x8);
	assert_int_equal(DESC_L(gdt[BOOT_CS / 8]), 0);
	assert_int_equal(DESC_D(gdt[BOOT_CS / 8]), 1);
	check_flat(gdt[BOOT_DS / 8]);
	assert_int_equal(DESC_TYPE(gdt[BOOT_DS / 8]) & 0x8, 0);
	assert_int_equal(DESC_D(gdt[BOOT_DS / 8]), 1);
	/* Only the code segment differs between the protocols. */
	assert_int_equal(gdt[BOOT_DS / 8], gdt64[BOOT_DS / 8]);
	assert_int_equal(gdt[BOOT_TSS / 8], gdt64[BOOT_TSS / 8]);
}

/* ---- boot_write_page_tables ---- */

/* Walk the tables the way the CPU does; returns the physical address or UINT64_MAX. */
static uint64_t translate(struct gmem *gm, uint64_t va)
{
	const uint64_t addr_mask = 0x000ffffffffff000ULL;
	uint64_t pml4e, pdpte, pde;

	pml4e = read_u64(gm, LAYOUT_PML4 + ((va >> 39) & 511) * 8);
	if (!(pml4e & 1))
		return UINT64_MAX;
	pdpte = read_u64(gm, (pml4e & addr_mask) + ((va >> 30) & 511) * 8);
	if (!(pdpte & 1) || (pdpte & 0x80))
		return UINT64_MAX;
	pde = read_u64(gm, (pdpte & addr_mask) + ((va >> 21) & 511) * 8);
	if (!(pde & 1) || !(pde & 0x80))
		return UINT64_MAX;
	return (pde & 0x000fffffffe00000ULL) | (va & 0x1fffff);
}

static void test_page_tables(void **state)
{
	static const uint64_t probes[] = {
		0,	  0x1000,     LAYOUT_BOOT_PARAMS, LAYOUT_CMDLINE,
		0x100000, 0x1234567,  0x0f000000,	  GiB(1) - 1,
		GiB(1),	  GiB(3) + 5, GiB(4) - 1,
	};
	struct gmem *gm = new_gmem(MiB(64));
	unsigned int i, j;

	(void)state;
	assert_int_equal(boot_write_page_tables(gm), 0);
	/* PML4: one entry, to the PDPT, present and writable. */
	assert_int_equal(read_u64(gm, LAYOUT_PML4), LAYOUT_PDPT | 0x3);
	for (i = 1; i < 512; i++)
		assert_int_equal(read_u64(gm, LAYOUT_PML4 + i * 8), 0);
	/* PDPT: four PDs for 4 GiB, nothing above. */
	for (i = 0; i < 4; i++)
		assert_int_equal(read_u64(gm, LAYOUT_PDPT + i * 8),
				 (LAYOUT_PD0 + i * 0x1000) | 0x3);
	for (i = 4; i < 512; i++)
		assert_int_equal(read_u64(gm, LAYOUT_PDPT + i * 8), 0);
	/* PDs: identity, 2 MiB pages (PS, bit 7), present and writable, not user. */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 512; j++) {
			uint64_t e = read_u64(gm, LAYOUT_PD0 + i * 0x1000 + j * 8);

			assert_int_equal(e & 0x000fffffffe00000ULL,
					 (uint64_t)i * GiB(1) + (uint64_t)j * MiB(2));
			assert_int_equal(e & 0x1, 0x1);
			assert_int_equal(e & 0x2, 0x2);
			assert_int_equal(e & 0x4, 0);
			assert_int_equal(e & 0x80, 0x80);
		}
	}
	for (i = 0; i < ARRAY_SIZE(probes); i++)
		assert_int_equal(translate(gm, probes[i]), probes[i]);
	/* 4 GiB and above are not mapped. */
	assert_int_equal(translate(gm, GiB(4)), UINT64_MAX);
	assert_int_equal(translate(gm, GiB(5) + 7), UINT64_MAX);
	/* The tables fit their documented area. */
	assert_int_equal(LAYOUT_PD0 + 4 * 0x1000, LAYOUT_PAGE_TABLES_END);
	free_gmem(gm);
}

static void test_page_tables_no_ram(void **state)
{
	/* 128 KiB of RAM ends below LAYOUT_PAGE_TABLES. */
	struct gmem *gm = new_gmem(KiB(128));

	(void)state;
	assert_int_not_equal(boot_write_page_tables(gm), 0);
	free_gmem(gm);
}

/* ---- boot_load ---- */

struct loaded {
	struct gmem *gm;
	struct boot_entry entry;
	uint8_t bp[4096];
	char err[512];
	int r;
};

static void do_load(struct loaded *l, const struct boot_config *bc)
{
	memset(&l->entry, 0xee, sizeof(l->entry));
	memset(l->err, 0, sizeof(l->err));
	l->r = boot_load(l->gm, bc, &l->entry, l->err, sizeof(l->err));
	if (l->r == 0)
		assert_int_equal(gmem_read(l->gm, LAYOUT_BOOT_PARAMS, l->bp, sizeof(l->bp)), 0);
}

static void assert_zero(const uint8_t *p, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i])
			fail_msg("byte 0x%zx is 0x%02x, expected 0", i, p[i]);
}

/* Loader-owned header bytes: not expected to equal the image's. */
static bool loader_field(size_t off)
{
	return off == OFF_TYPE_OF_LOADER || off == OFF_LOADFLAGS ||
	       (off >= OFF_RAMDISK_IMAGE && off < OFF_RAMDISK_SIZE + 4) ||
	       (off >= OFF_HEAP_END_PTR && off < OFF_HEAP_END_PTR + 2) ||
	       (off >= OFF_CMD_LINE_PTR && off < OFF_CMD_LINE_PTR + 4);
}

/* Zero page checks shared by the bzImage runs; hdr_end is 0x202 + image[0x201]. */
static void check_zero_page(const struct loaded *l, const uint8_t *img, size_t hdr_end,
			    const char *cmdline, uint64_t initrd_addr, uint64_t initrd_len)
{
	const struct boot_params *bp = (const void *)l->bp;
	size_t i;

	/* The boot sector is not copied: all zero but e820_entries at 0x1e8. */
	assert_zero(l->bp, 0, OFF_E820_ENTRIES);
	assert_zero(l->bp, OFF_E820_ENTRIES + 1, SETUP_HEADER_OFFSET);
	/* The header is copied exactly, from 0x1f1 to 0x202 + image[0x201]. */
	for (i = SETUP_HEADER_OFFSET; i < hdr_end; i++)
		if (!loader_field(i) && l->bp[i] != img[i])
			fail_msg("header byte 0x%zx is 0x%02x, image has 0x%02x", i, l->bp[i],
				 img[i]);
	/* Nothing past it, up to the e820 table. */
	assert_zero(l->bp, hdr_end, OFF_E820_TABLE);
	/* The loader's fields. */
	assert_int_equal(l->bp[OFF_TYPE_OF_LOADER], 0xff);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(get32(l->bp + OFF_CMD_LINE_PTR), LAYOUT_CMDLINE);
	assert_int_equal(get32(l->bp + OFF_CMD_LINE_PTR), 0x20000);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(l->bp[OFF_LOADFLAGS] & LOADFLAG_LOADED_HIGH, LOADFLAG_LOADED_HIGH);
	assert_int_equal(l->bp[OFF_LOADFLAGS] & (LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS), 0);
	assert_int_equal(l->bp[OFF_LOADFLAGS] & LOADFLAG_CAN_USE_HEAP, LOADFLAG_CAN_USE_HEAP);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(get32(l->bp + OFF_RAMDISK_IMAGE), initrd_addr);
	assert_int_equal(get32(l->bp + OFF_RAMDISK_SIZE), initrd_len);
	assert_int_equal(bp->ext_ramdisk_image, initrd_addr >> 32);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	/* The command line, NUL-terminated, where cmd_line_ptr points. */
	{
		size_t n = strlen(cmdline) + 1;
		char *buf = test_malloc(n);

		assert_int_equal(gmem_read(l->gm, LAYOUT_CMDLINE, buf, n), 0);
		assert_memory_equal(buf, cmdline, n);
		test_free(buf);
	}
}

static void check_e820_256m_like(const struct loaded *l, uint64_t ram)
{
	const struct boot_params *bp = (const void *)l->bp;

	assert_int_equal(l->bp[OFF_E820_ENTRIES], 3);
	assert_e820(&bp->e820_table[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&bp->e820_table[1], 0x9fc00, 0x60400, E820_RESERVED);
	assert_e820(&bp->e820_table[2], MiB(1), ram - MiB(1), E820_RAM);
	/* Unused entries and the rest of the page stay zero. */
	assert_zero(l->bp, OFF_E820_TABLE + 3 * sizeof(struct e820_entry), sizeof(l->bp));
}

static void check_kernel_payload(struct gmem *gm, const uint8_t *img)
{
	uint8_t *buf = test_malloc(BZ_PAYLOAD);

	assert_int_equal(gmem_read(gm, LAYOUT_KERNEL, buf, BZ_PAYLOAD), 0);
	assert_memory_equal(buf, img + BZ_SETUP_SIZE, BZ_PAYLOAD);
	test_free(buf);
}

static void test_load_bzimage_64(void **state)
{
	const char *cmdline = "console=ttyS0 reboot=k panic=-1 foo=bar";
	const size_t initrd_len = 3 * 4096 + 17;
	uint8_t *img = make_bzimage(&bz_default), *initrd = make_initrd(initrd_len), *buf;
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "bzImage",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.initrd_name = "initrd.cpio",
		.initrd = initrd,
		.initrd_len = initrd_len,
		.cmdline = cmdline,
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};
	uint64_t gdt[BOOT_GDT_ENTRIES], i;

	(void)state;
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	assert_int_equal(l.entry.protocol, BOOT_PROTOCOL_64);
	assert_int_equal(l.entry.rip, 0x100200);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.kernel_end, LAYOUT_KERNEL + BZ_INIT_SIZE);
	/* 64 MiB: 0x0f000000 is not RAM, so the initrd goes to the top, page-aligned. */
	assert_int_equal(l.entry.initrd_addr, (MiB(64) - initrd_len) & ~0xfffULL);
	check_zero_page(&l, img, HDR_END_FULL, cmdline, l.entry.initrd_addr, initrd_len);
	check_e820_256m_like(&l, MiB(64));
	check_kernel_payload(l.gm, img);
	/* The initrd's bytes. */
	buf = test_malloc(initrd_len);
	assert_int_equal(gmem_read(l.gm, l.entry.initrd_addr, buf, initrd_len), 0);
	assert_memory_equal(buf, initrd, initrd_len);
	test_free(buf);
	/* The GDT and the page tables. */
	boot_gdt_entries(BOOT_PROTOCOL_64, gdt);
	for (i = 0; i < BOOT_GDT_ENTRIES; i++)
		assert_int_equal(read_u64(l.gm, LAYOUT_BOOT_GDT + i * 8), gdt[i]);
	assert_int_equal(read_u64(l.gm, LAYOUT_PML4), LAYOUT_PDPT | 0x3);
	assert_int_equal(translate(l.gm, 0x100200), 0x100200);

	free_gmem(l.gm);
	test_free(initrd);
	test_free(img);
}

/* A shorter header (image[0x201] smaller): the bytes after it are not copied. */
static void test_load_bzimage_short_header(void **state)
{
	struct bz_opts o = bz_default;
	uint8_t *img;
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "bzImage",
		.kernel_len = BZ_LEN,
		.cmdline = "",
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	o.hdr_len = 0x62; /* up to 0x264: init_size is the last field */
	img = make_bzimage(&o);
	bc.kernel = img;
	assert_int_not_equal(img[0x264], 0);
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	check_zero_page(&l, img, 0x264, "", 0, 0);
	assert_zero(l.bp, 0x264, HDR_END_FULL);
	check_e820_256m_like(&l, MiB(64));
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_bzimage_32(void **state)
{
	const char *cmdline = "console=ttyS0";
	uint8_t *img = make_bzimage(&bz_default);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_32,
		.kernel_name = "bzImage",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.cmdline = cmdline,
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};
	uint64_t gdt[BOOT_GDT_ENTRIES], i;

	(void)state;
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	assert_int_equal(l.entry.protocol, BOOT_PROTOCOL_32);
	assert_int_equal(l.entry.rip, 0x100000);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.initrd_addr, 0);
	check_zero_page(&l, img, HDR_END_FULL, cmdline, 0, 0);
	check_e820_256m_like(&l, MiB(64));
	check_kernel_payload(l.gm, img);
	boot_gdt_entries(BOOT_PROTOCOL_32, gdt);
	for (i = 0; i < BOOT_GDT_ENTRIES; i++)
		assert_int_equal(read_u64(l.gm, LAYOUT_BOOT_GDT + i * 8), gdt[i]);
	assert_int_equal(DESC_D(read_u64(l.gm, LAYOUT_BOOT_GDT + BOOT_CS)), 1);
	free_gmem(l.gm);
	test_free(img);
}

/* 5 GiB: four e820 entries in the zero page, initrd at its preferred address. */
static void test_load_bzimage_5g(void **state)
{
	uint8_t *img = make_bzimage(&bz_default), *initrd = make_initrd(4096);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "bzImage",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.initrd_name = "initrd",
		.initrd = initrd,
		.initrd_len = 4096,
		.cmdline = "quiet",
	};
	struct loaded l = {.gm = new_gmem(GiB(5))};
	const struct boot_params *bp = (const void *)l.bp;

	(void)state;
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	assert_int_equal(l.entry.initrd_addr, LAYOUT_INITRD);
	check_zero_page(&l, img, HDR_END_FULL, "quiet", LAYOUT_INITRD, 4096);
	assert_int_equal(bp->e820_entries, 4);
	assert_e820(&bp->e820_table[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&bp->e820_table[1], 0x9fc00, 0x60400, E820_RESERVED);
	assert_e820(&bp->e820_table[2], MiB(1), GiB(3) - MiB(1), E820_RAM);
	assert_e820(&bp->e820_table[3], GiB(4), GiB(2), E820_RAM);
	free_gmem(l.gm);
	test_free(initrd);
	test_free(img);
}

static void test_load_cmdline_limit(void **state)
{
	struct bz_opts o = bz_default;
	uint8_t *img;
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "vmlinuz-test",
		.kernel_len = BZ_LEN,
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	o.cmdline_size = 16;
	img = make_bzimage(&o);
	bc.kernel = img;
	/* cmdline_size excludes the NUL: 16 characters are fine... */
	bc.cmdline = "0123456789abcdef";
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	/* ...17 are not. */
	bc.cmdline = "0123456789abcdefg";
	do_load(&l, &bc);
	assert_int_equal(l.r, -E2BIG);
	assert_true(strlen(l.err) > 0);
	assert_non_null(strstr(l.err, "command line"));
	assert_non_null(strstr(l.err, "vmlinuz-test"));
	assert_non_null(strstr(l.err, "16"));
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_initrd_does_not_fit(void **state)
{
	const size_t initrd_len = MiB(20);
	uint8_t *img = make_bzimage(&bz_default), *initrd = test_calloc(1, initrd_len);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "bzImage",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.initrd_name = "big-initrd.cpio",
		.initrd = initrd,
		.initrd_len = initrd_len,
		.cmdline = "console=ttyS0",
	};
	struct loaded l = {.gm = new_gmem(MiB(16))};

	(void)state;
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOSPC);
	assert_non_null(strstr(l.err, "big-initrd.cpio"));
	assert_non_null(strstr(l.err, "does not fit"));

	/* An empty initrd is refused with its name too. */
	bc.initrd_len = 0;
	do_load(&l, &bc);
	assert_int_equal(l.r, -EINVAL);
	assert_non_null(strstr(l.err, "big-initrd.cpio"));
	free_gmem(l.gm);
	test_free(initrd);
	test_free(img);
}

static void test_load_init_size_above_ram(void **state)
{
	struct bz_opts o = bz_default;
	uint8_t *img;
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "bzImage",
		.kernel_len = BZ_LEN,
		.cmdline = "",
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	o.init_size = 0x08000000; /* 128 MiB from 1 MiB, in 64 MiB of RAM */
	img = make_bzimage(&o);
	bc.kernel = img;
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOSPC);
	assert_non_null(strstr(l.err, "init_size"));
	assert_non_null(strstr(l.err, "'bzImage'"));
	assert_non_null(strstr(l.err, "128 MiB"));
	/* Exactly up to the end of RAM is fine. */
	test_free(img);
	o.init_size = (uint32_t)(MiB(64) - LAYOUT_KERNEL);
	img = make_bzimage(&o);
	bc.kernel = img;
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	assert_int_equal(l.entry.kernel_end, MiB(64));
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_rejected_image(void **state)
{
	uint8_t *img = make_bzimage(&bz_default);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "broken.img",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.cmdline = "",
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	memcpy(img + OFF_HEADER, "HdrX", 4);
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOEXEC);
	assert_non_null(strstr(l.err, "broken.img"));
	assert_non_null(strstr(l.err, "HdrS"));
	/* A 2.11 kernel cannot use the 64-bit protocol. */
	memcpy(img + OFF_HEADER, "HdrS", 4);
	put16(img + OFF_VERSION, 0x020b);
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOEXEC);
	assert_true(strlen(l.err) > 0);
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_ram_below_1m(void **state)
{
	uint8_t *img = make_bzimage(&bz_default);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_32,
		.kernel_name = "bzImage",
		.kernel = img,
		.kernel_len = BZ_LEN,
		.cmdline = "",
	};
	struct loaded l = {.gm = new_gmem(KiB(512))};

	(void)state;
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOSPC);
	assert_true(strlen(l.err) > 0);
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_elf_32_rejected(void **state)
{
	uint8_t *img = make_elf(ELF_PADDR);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_32,
		.kernel_name = "vmlinux",
		.kernel = img,
		.kernel_len = ELF_LEN,
		.cmdline = "console=ttyS0",
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOEXEC);
	assert_non_null(strstr(l.err, "vmlinux"));
	assert_non_null(strstr(l.err, "ELF"));
	assert_non_null(strstr(l.err, "64"));
	free_gmem(l.gm);
	test_free(img);
}

static void test_load_elf_64(void **state)
{
	const char *cmdline = "console=ttyS0 earlyprintk";
	uint8_t *img = make_elf(ELF_PADDR), *initrd = make_initrd(8192), *buf;
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "vmlinux",
		.kernel = img,
		.kernel_len = ELF_LEN,
		.initrd_name = "initrd",
		.initrd = initrd,
		.initrd_len = 8192,
		.cmdline = cmdline,
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};
	const struct boot_params *bp = (const void *)l.bp;

	(void)state;
	/* Dirty the segment's memory: the bss part must come back zeroed. */
	memset(l.gm->banks[0].host + ELF_PADDR, 0xee, ELF_MEMSZ);
	do_load(&l, &bc);
	if (l.r)
		fail_msg("boot_load: %d: %s", l.r, l.err);
	assert_int_equal(l.entry.rip, ELF_PADDR + 0x40);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.kernel_end, ELF_PADDR + ELF_MEMSZ);
	buf = test_malloc(ELF_MEMSZ);
	assert_int_equal(gmem_read(l.gm, ELF_PADDR, buf, ELF_MEMSZ), 0);
	assert_memory_equal(buf, img + 0x1000, ELF_FILESZ);
	assert_zero(buf, ELF_FILESZ, ELF_MEMSZ);
	test_free(buf);
	/* A header of the loader's making. */
	assert_zero(l.bp, 0, OFF_E820_ENTRIES);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, SETUP_HDRS_MAGIC);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_true(bp->hdr.cmdline_size >= strlen(cmdline));
	assert_int_equal(bp->hdr.ramdisk_image, l.entry.initrd_addr);
	assert_int_equal(bp->hdr.ramdisk_size, 8192);
	assert_true(l.entry.initrd_addr >= l.entry.kernel_end);
	assert_int_equal(bp->e820_entries, 3);
	free_gmem(l.gm);
	test_free(initrd);
	test_free(img);
}

static void test_load_elf_below_1m(void **state)
{
	uint8_t *img = make_elf(0x80000);
	struct boot_config bc = {
		.protocol = BOOT_PROTOCOL_64,
		.kernel_name = "vmlinux",
		.kernel = img,
		.kernel_len = ELF_LEN,
		.cmdline = "",
	};
	struct loaded l = {.gm = new_gmem(MiB(64))};

	(void)state;
	do_load(&l, &bc);
	assert_int_equal(l.r, -ENOEXEC);
	assert_non_null(strstr(l.err, "1 MiB"));
	free_gmem(l.gm);
	test_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e820_256m),
		cmocka_unit_test(test_e820_5g),
		cmocka_unit_test(test_e820_small_ram),
		cmocka_unit_test(test_e820_table_too_small),
		cmocka_unit_test(test_initrd_preferred_address),
		cmocka_unit_test(test_initrd_high_in_small_ram),
		cmocka_unit_test(test_initrd_addr_max_below_ram),
		cmocka_unit_test(test_initrd_kernel_above_preferred),
		cmocka_unit_test(test_initrd_no_room),
		cmocka_unit_test(test_initrd_size_zero),
		cmocka_unit_test(test_initrd_addr_max_no_limit),
		cmocka_unit_test(test_gdt_64),
		cmocka_unit_test(test_gdt_32),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_page_tables_no_ram),
		cmocka_unit_test(test_load_bzimage_64),
		cmocka_unit_test(test_load_bzimage_short_header),
		cmocka_unit_test(test_load_bzimage_32),
		cmocka_unit_test(test_load_bzimage_5g),
		cmocka_unit_test(test_load_cmdline_limit),
		cmocka_unit_test(test_load_initrd_does_not_fit),
		cmocka_unit_test(test_load_init_size_above_ram),
		cmocka_unit_test(test_load_rejected_image),
		cmocka_unit_test(test_load_ram_below_1m),
		cmocka_unit_test(test_load_elf_32_rejected),
		cmocka_unit_test(test_load_elf_64),
		cmocka_unit_test(test_load_elf_below_1m),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
