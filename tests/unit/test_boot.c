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

#include <errno.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "common/fixtures.h"

/* ---- boot_e820_from_banks ---- */

static void assert_e820(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

/* ram bytes (1 MiB to 3 GiB): RAM below the EBDA, the EBDA and BIOS area, RAM from 1 MiB. */
static void check_e820_below_3g(const struct e820_entry *t, uint64_t ram)
{
	assert_e820(&t[0], 0, 0x9fc00, E820_RAM);
	assert_e820(&t[1], 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
	assert_e820(&t[2], MiB(1), ram - MiB(1), E820_RAM);
}

/* 5 GiB: RAM up to the MMIO hole at 3 GiB, the other 2 GiB from 4 GiB. */
static void check_e820_5g(const struct e820_entry *t)
{
	check_e820_below_3g(t, GiB(3));
	assert_e820(&t[3], GiB(4), GiB(2), E820_RAM);
}

static void test_e820_256m(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, MiB(256)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 3);
	check_e820_below_3g(t, MiB(256));
}

static void test_e820_5g(void **state)
{
	struct e820_entry t[8];
	struct gmem gm;

	(void)state;
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(boot_e820_from_banks(&gm, t, ARRAY_SIZE(t)), 4);
	check_e820_5g(t);
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
	check_e820_below_3g(t, MiB(1) + 4096);
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

#define INITRD_CASE_FMT "initrd of 0x%llx bytes in 0x%llx of RAM, max 0x%llx, kernel end 0x%llx"
#define INITRD_CASE_ARGS(ram, size, max, kernel_end)                                               \
	(unsigned long long)(size), (unsigned long long)(ram), (unsigned long long)(max),          \
		(unsigned long long)(kernel_end)

/* boot_place_initrd() in a layout of ram bytes (*gm) returns want_r; the address it chose. */
static uint64_t place_initrd(struct gmem *gm, uint64_t ram, uint64_t size, uint64_t max,
			     uint64_t kernel_end, int want_r)
{
	uint64_t addr = 0;
	int r;

	assert_int_equal(gmem_layout(gm, ram), 0);
	r = boot_place_initrd(gm, size, max, kernel_end, &addr);
	if (r != want_r)
		fail_msg(INITRD_CASE_FMT ": returned %d, expected %d",
			 INITRD_CASE_ARGS(ram, size, max, kernel_end), r, want_r);
	return addr;
}

/*
 * The initrd goes to want, which also has to keep the contract of boot.h:
 * page-aligned, above the kernel, inside the first bank and below
 * initrd_addr_max.
 */
static void expect_initrd_at(uint64_t ram, uint64_t size, uint64_t max, uint64_t kernel_end,
			     uint64_t want)
{
	struct gmem gm;
	uint64_t addr = place_initrd(&gm, ram, size, max, kernel_end, 0);

	if (addr != want)
		fail_msg(INITRD_CASE_FMT ": at 0x%llx, expected 0x%llx",
			 INITRD_CASE_ARGS(ram, size, max, kernel_end), (unsigned long long)addr,
			 (unsigned long long)want);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr >= kernel_end);
	assert_true(addr + size <= gmem_bank_end(&gm, 0));
	assert_true(addr + size - 1 <= max);
}

static void expect_initrd_refused(uint64_t ram, uint64_t size, uint64_t max, uint64_t kernel_end,
				  int want)
{
	struct gmem gm;

	place_initrd(&gm, ram, size, max, kernel_end, want);
}

static void test_initrd_preferred_address(void **state)
{
	(void)state;
	assert_int_equal(LAYOUT_INITRD, 0x0f000000);
	expect_initrd_at(GiB(1), MiB(16), 0x7fffffff, MiB(1) + MiB(32), 0x0f000000);
	/* With 5 GiB the first bank ends at 3 GiB; still the preferred address. */
	expect_initrd_at(GiB(5), MiB(100), 0xffffffff, MiB(20), LAYOUT_INITRD);
	/* initrd_addr_max allowing exactly [0x0f000000, 0x0f000000 + size). */
	expect_initrd_at(GiB(1), MiB(1), LAYOUT_INITRD + MiB(1) - 1, MiB(2), LAYOUT_INITRD);
}

static void test_initrd_high_in_small_ram(void **state)
{
	const uint64_t size = MiB(8) + 123;

	(void)state;
	/* As high as possible: less than a page left above it. */
	expect_initrd_at(MiB(128), size, 0x7fffffff, MiB(1) + MiB(20),
			 (MiB(128) - size) & ~0xfffULL);
}

static void test_initrd_addr_max_below_ram(void **state)
{
	const uint64_t size = MiB(4) + 1;

	(void)state;
	/* The kernel takes initrds only below 128 MiB. */
	expect_initrd_at(GiB(1), size, 0x07ffffff, MiB(2), (0x08000000 - size) & ~0xfffULL);
	/* 0x37ffffff, the default for old kernels, leaves the preferred address usable. */
	expect_initrd_at(GiB(1), size, 0x37ffffff, MiB(2), LAYOUT_INITRD);
}

static void test_initrd_kernel_above_preferred(void **state)
{
	(void)state;
	/* A kernel reaching past 0x0f000000: the initrd goes above it. */
	expect_initrd_at(GiB(1), MiB(16), 0x7fffffff, 0x10000000, GiB(1) - MiB(16));
}

static void test_initrd_no_room(void **state)
{
	(void)state;
	/* Larger than RAM. */
	expect_initrd_refused(MiB(128), MiB(200), 0x7fffffff, MiB(2), -ENOSPC);
	expect_initrd_refused(MiB(128), UINT64_MAX, 0x7fffffff, MiB(2), -ENOSPC);
	/* Fits in RAM, but not above the kernel. */
	expect_initrd_refused(MiB(128), MiB(16), 0x7fffffff, MiB(120), -ENOSPC);
	/* Fits in RAM, but not below initrd_addr_max. */
	expect_initrd_refused(MiB(128), MiB(16), MiB(8) - 1, MiB(2), -ENOSPC);
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
	(void)state;
	expect_initrd_at(GiB(1), MiB(16), UINT64_MAX, MiB(2), LAYOUT_INITRD);
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

/* The bzImage the boot_load() tests start from: 8 KiB of payload, init_size 256 KiB. */
#define BZ_PAYLOAD 8192
#define BZ_INIT_SIZE 0x40000

static struct bz_opts boot_bz(void)
{
	struct bz_opts o = bz_defaults;

	o.payload = BZ_PAYLOAD;
	o.init_size = BZ_INIT_SIZE;
	o.xloadflags = XLF_KERNEL_64;
	/* QUIET and KEEP_SEGMENTS set, to see the loader clear them. */
	o.loadflags = LOADFLAG_LOADED_HIGH | LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS;
	return o;
}

/* The ELF vmlinux: one PT_LOAD with 8 KiB of data and 20 KiB of memory, entry at +0x40. */
#define ELF_PADDR 0x1000000ULL
#define ELF_FILESZ 0x2000
#define ELF_MEMSZ 0x5000

/* One boot_load() run: what goes in, guest memory, and what comes out. */
struct loaded {
	struct boot_config bc;
	struct gmem *gm;
	uint8_t *img, *initrd; /* the kernel and initrd bc points at, test_malloc'd */
	struct boot_entry entry;
	uint8_t bp[4096]; /* the zero page, read back after a successful load */
	char err[512];
	int r;
};

/* img (of len bytes) in ram bytes of guest memory, with an empty command line and no initrd. */
static void load_init(struct loaded *l, enum boot_protocol proto, uint64_t ram, const char *name,
		      uint8_t *img, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->gm = new_gmem(ram);
	l->img = img;
	l->bc.protocol = proto;
	l->bc.kernel_name = name;
	l->bc.kernel = img;
	l->bc.kernel_len = len;
	l->bc.cmdline = "";
}

/* A bzImage called "bzImage", built from o. */
static void load_init_bz_opts(struct loaded *l, enum boot_protocol proto, uint64_t ram,
			      const struct bz_opts *o)
{
	size_t len;
	uint8_t *img = make_bzimage(o, &len);

	load_init(l, proto, ram, "bzImage", img, len);
}

/* The same with boot_bz(). */
static void load_init_bz(struct loaded *l, enum boot_protocol proto, uint64_t ram)
{
	struct bz_opts o = boot_bz();

	load_init_bz_opts(l, proto, ram, &o);
}

/* An ELF called "vmlinux" loaded at paddr, in 64 MiB. */
static void load_init_elf(struct loaded *l, enum boot_protocol proto, uint64_t paddr)
{
	struct elf_opts o = elf_defaults;

	o.len = ELF_DATA_OFF + ELF_FILESZ;
	o.paddr = paddr;
	o.entry = paddr + 0x40;
	o.filesz = ELF_FILESZ;
	o.memsz = ELF_MEMSZ;
	load_init(l, proto, MiB(64), "vmlinux", make_elf(&o), o.len);
}

/* A patterned initrd of len bytes. */
static void load_set_initrd(struct loaded *l, const char *name, size_t len)
{
	l->initrd = new_pattern(len, 3, 1);
	l->bc.initrd_name = name;
	l->bc.initrd = l->initrd;
	l->bc.initrd_len = len;
}

static void load_fini(struct loaded *l)
{
	free_gmem(l->gm);
	if (l->initrd)
		test_free(l->initrd);
	test_free(l->img);
}

static void do_load(struct loaded *l)
{
	memset(&l->entry, 0xee, sizeof(l->entry));
	memset(l->err, 0, sizeof(l->err));
	l->r = boot_load(l->gm, &l->bc, &l->entry, l->err, sizeof(l->err));
	if (l->r == 0)
		assert_int_equal(gmem_read(l->gm, LAYOUT_BOOT_PARAMS, l->bp, sizeof(l->bp)), 0);
}

static void load_ok(struct loaded *l)
{
	do_load(l);
	if (l->r)
		fail_msg("boot_load: %d: %s", l->r, l->err);
}

/* boot_load() fails with want and a message mentioning each string of the NULL-terminated list. */
static void __attribute__((sentinel)) load_fails(struct loaded *l, int want, ...)
{
	va_list ap;

	do_load(l);
	if (l->r != want)
		fail_msg("boot_load returned %d (%s), expected %d", l->r, l->err, want);
	va_start(ap, want);
	assert_vmentions(l->err, ap);
	va_end(ap);
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
	return off == BZ_OFF_TYPE_OF_LOADER || off == BZ_OFF_LOADFLAGS ||
	       (off >= BZ_OFF_RAMDISK_IMAGE && off < BZ_OFF_RAMDISK_SIZE + 4) ||
	       (off >= BZ_OFF_HEAP_END_PTR && off < BZ_OFF_HEAP_END_PTR + 2) ||
	       (off >= BZ_OFF_CMD_LINE_PTR && off < BZ_OFF_CMD_LINE_PTR + 4);
}

/* Zero page checks shared by the bzImage runs; hdr_end is 0x202 + image[0x201]. */
static void check_zero_page(const struct loaded *l, size_t hdr_end, uint64_t initrd_addr,
			    uint64_t initrd_len)
{
	const struct boot_params *bp = (const void *)l->bp;
	const char *cmdline = l->bc.cmdline;
	size_t i;

	/* The boot sector is not copied: all zero but e820_entries at 0x1e8. */
	assert_zero(l->bp, 0, BZ_OFF_E820_ENTRIES);
	assert_zero(l->bp, BZ_OFF_E820_ENTRIES + 1, SETUP_HEADER_OFFSET);
	/* The header is copied exactly, from 0x1f1 to 0x202 + image[0x201]. */
	for (i = SETUP_HEADER_OFFSET; i < hdr_end; i++)
		if (!loader_field(i) && l->bp[i] != l->img[i])
			fail_msg("header byte 0x%zx is 0x%02x, image has 0x%02x", i, l->bp[i],
				 l->img[i]);
	/* Nothing past it, up to the e820 table. */
	assert_zero(l->bp, hdr_end, BZ_OFF_E820_TABLE);
	/* The loader's fields. */
	assert_int_equal(l->bp[BZ_OFF_TYPE_OF_LOADER], 0xff);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(get_le32(l->bp + BZ_OFF_CMD_LINE_PTR), LAYOUT_CMDLINE);
	assert_int_equal(get_le32(l->bp + BZ_OFF_CMD_LINE_PTR), 0x20000);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(l->bp[BZ_OFF_LOADFLAGS] & LOADFLAG_LOADED_HIGH, LOADFLAG_LOADED_HIGH);
	assert_int_equal(l->bp[BZ_OFF_LOADFLAGS] & (LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS), 0);
	assert_int_equal(l->bp[BZ_OFF_LOADFLAGS] & LOADFLAG_CAN_USE_HEAP, LOADFLAG_CAN_USE_HEAP);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(get_le32(l->bp + BZ_OFF_RAMDISK_IMAGE), initrd_addr);
	assert_int_equal(get_le32(l->bp + BZ_OFF_RAMDISK_SIZE), initrd_len);
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

	assert_int_equal(l->bp[BZ_OFF_E820_ENTRIES], 3);
	check_e820_below_3g(bp->e820_table, ram);
	/* Unused entries and the rest of the page stay zero. */
	assert_zero(l->bp, BZ_OFF_E820_TABLE + 3 * sizeof(struct e820_entry), sizeof(l->bp));
}

/* len bytes at gpa in guest memory are the same as want's. */
static void check_guest_bytes(const struct gmem *gm, uint64_t gpa, const uint8_t *want, size_t len)
{
	uint8_t *buf = test_malloc(len);

	assert_int_equal(gmem_read(gm, gpa, buf, len), 0);
	assert_memory_equal(buf, want, len);
	test_free(buf);
}

/* The bzImage's payload, at 1 MiB. */
static void check_kernel_payload(const struct loaded *l)
{
	const struct bz_opts o = boot_bz();
	const size_t setup = bz_setup_size(&o);

	assert_int_equal(l->bc.kernel_len, setup + BZ_PAYLOAD);
	check_guest_bytes(l->gm, LAYOUT_KERNEL, l->img + setup, BZ_PAYLOAD);
}

/* The boot GDT in guest memory is boot_gdt_entries()'s for proto. */
static void check_gdt_in_memory(const struct gmem *gm, enum boot_protocol proto)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];
	unsigned int i;

	boot_gdt_entries(proto, gdt);
	for (i = 0; i < BOOT_GDT_ENTRIES; i++)
		assert_int_equal(read_u64(gm, LAYOUT_BOOT_GDT + i * 8), gdt[i]);
}

static void test_load_bzimage_64(void **state)
{
	const size_t initrd_len = 3 * 4096 + 17;
	struct loaded l;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_64, MiB(64));
	load_set_initrd(&l, "initrd.cpio", initrd_len);
	l.bc.cmdline = "console=ttyS0 reboot=k panic=-1 foo=bar";
	load_ok(&l);
	assert_int_equal(l.entry.protocol, BOOT_PROTOCOL_64);
	assert_int_equal(l.entry.rip, 0x100200);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.kernel_end, LAYOUT_KERNEL + BZ_INIT_SIZE);
	/* 64 MiB: 0x0f000000 is not RAM, so the initrd goes to the top, page-aligned. */
	assert_int_equal(l.entry.initrd_addr, (MiB(64) - initrd_len) & ~0xfffULL);
	check_zero_page(&l, BZ_HDR_END_FULL, l.entry.initrd_addr, initrd_len);
	check_e820_256m_like(&l, MiB(64));
	check_kernel_payload(&l);
	/* The initrd's bytes. */
	check_guest_bytes(l.gm, l.entry.initrd_addr, l.initrd, initrd_len);
	/* The GDT and the page tables. */
	check_gdt_in_memory(l.gm, BOOT_PROTOCOL_64);
	assert_int_equal(read_u64(l.gm, LAYOUT_PML4), LAYOUT_PDPT | 0x3);
	assert_int_equal(translate(l.gm, 0x100200), 0x100200);
	load_fini(&l);
}

/* A shorter header (image[0x201] smaller): the bytes after it are not copied. */
static void test_load_bzimage_short_header(void **state)
{
	struct bz_opts o = boot_bz();
	struct loaded l;

	(void)state;
	o.hdr_len = 0x62; /* up to 0x264: init_size is the last field */
	load_init_bz_opts(&l, BOOT_PROTOCOL_64, MiB(64), &o);
	assert_int_not_equal(l.img[0x264], 0);
	load_ok(&l);
	check_zero_page(&l, 0x264, 0, 0);
	assert_zero(l.bp, 0x264, BZ_HDR_END_FULL);
	check_e820_256m_like(&l, MiB(64));
	load_fini(&l);
}

static void test_load_bzimage_32(void **state)
{
	struct loaded l;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_32, MiB(64));
	l.bc.cmdline = "console=ttyS0";
	load_ok(&l);
	assert_int_equal(l.entry.protocol, BOOT_PROTOCOL_32);
	assert_int_equal(l.entry.rip, 0x100000);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.initrd_addr, 0);
	check_zero_page(&l, BZ_HDR_END_FULL, 0, 0);
	check_e820_256m_like(&l, MiB(64));
	check_kernel_payload(&l);
	check_gdt_in_memory(l.gm, BOOT_PROTOCOL_32);
	assert_int_equal(DESC_D(read_u64(l.gm, LAYOUT_BOOT_GDT + BOOT_CS)), 1);
	load_fini(&l);
}

/* 5 GiB: four e820 entries in the zero page, initrd at its preferred address. */
static void test_load_bzimage_5g(void **state)
{
	struct loaded l;
	const struct boot_params *bp = (const void *)l.bp;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_64, GiB(5));
	load_set_initrd(&l, "initrd", 4096);
	l.bc.cmdline = "quiet";
	load_ok(&l);
	assert_int_equal(l.entry.initrd_addr, LAYOUT_INITRD);
	check_zero_page(&l, BZ_HDR_END_FULL, LAYOUT_INITRD, 4096);
	assert_int_equal(bp->e820_entries, 4);
	check_e820_5g(bp->e820_table);
	load_fini(&l);
}

static void test_load_cmdline_limit(void **state)
{
	struct bz_opts o = boot_bz();
	struct loaded l;

	(void)state;
	o.cmdline_size = 16;
	load_init_bz_opts(&l, BOOT_PROTOCOL_64, MiB(64), &o);
	l.bc.kernel_name = "vmlinuz-test";
	/* cmdline_size excludes the NUL: 16 characters are fine... */
	l.bc.cmdline = "0123456789abcdef";
	load_ok(&l);
	/* ...17 are not. */
	l.bc.cmdline = "0123456789abcdefg";
	load_fails(&l, -E2BIG, "command line", "vmlinuz-test", "16", NULL);
	load_fini(&l);
}

static void test_load_initrd_does_not_fit(void **state)
{
	struct loaded l;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_64, MiB(16));
	load_set_initrd(&l, "big-initrd.cpio", MiB(20));
	l.bc.cmdline = "console=ttyS0";
	load_fails(&l, -ENOSPC, "big-initrd.cpio", "does not fit", NULL);
	/* An empty initrd is refused with its name too. */
	l.bc.initrd_len = 0;
	load_fails(&l, -EINVAL, "big-initrd.cpio", NULL);
	load_fini(&l);
}

static void test_load_init_size_above_ram(void **state)
{
	struct bz_opts o = boot_bz();
	struct loaded l;

	(void)state;
	o.init_size = 0x08000000; /* 128 MiB from 1 MiB, in 64 MiB of RAM */
	load_init_bz_opts(&l, BOOT_PROTOCOL_64, MiB(64), &o);
	load_fails(&l, -ENOSPC, "init_size", "'bzImage'", "128 MiB", NULL);
	/* Exactly up to the end of RAM is fine. */
	test_free(l.img);
	o.init_size = (uint32_t)(MiB(64) - LAYOUT_KERNEL);
	l.img = make_bzimage(&o, &l.bc.kernel_len);
	l.bc.kernel = l.img;
	load_ok(&l);
	assert_int_equal(l.entry.kernel_end, MiB(64));
	load_fini(&l);
}

static void test_load_rejected_image(void **state)
{
	struct loaded l;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_64, MiB(64));
	l.bc.kernel_name = "broken.img";
	memcpy(l.img + BZ_OFF_HEADER, "HdrX", 4);
	load_fails(&l, -ENOEXEC, "broken.img", "HdrS", NULL);
	/* A 2.11 kernel cannot use the 64-bit protocol. */
	memcpy(l.img + BZ_OFF_HEADER, "HdrS", 4);
	put_le16(l.img + BZ_OFF_VERSION, 0x020b);
	load_fails(&l, -ENOEXEC, NULL);
	load_fini(&l);
}

static void test_load_ram_below_1m(void **state)
{
	struct loaded l;

	(void)state;
	load_init_bz(&l, BOOT_PROTOCOL_32, KiB(512));
	load_fails(&l, -ENOSPC, NULL);
	load_fini(&l);
}

static void test_load_elf_32_rejected(void **state)
{
	struct loaded l;

	(void)state;
	load_init_elf(&l, BOOT_PROTOCOL_32, ELF_PADDR);
	l.bc.cmdline = "console=ttyS0";
	load_fails(&l, -ENOEXEC, "vmlinux", "ELF", "64", NULL);
	load_fini(&l);
}

static void test_load_elf_64(void **state)
{
	struct loaded l;
	const struct boot_params *bp = (const void *)l.bp;
	uint8_t *buf;

	(void)state;
	load_init_elf(&l, BOOT_PROTOCOL_64, ELF_PADDR);
	load_set_initrd(&l, "initrd", 8192);
	l.bc.cmdline = "console=ttyS0 earlyprintk";
	/* Dirty the segment's memory: the bss part must come back zeroed. */
	memset(l.gm->banks[0].host + ELF_PADDR, 0xee, ELF_MEMSZ);
	load_ok(&l);
	assert_int_equal(l.entry.rip, ELF_PADDR + 0x40);
	assert_int_equal(l.entry.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(l.entry.kernel_end, ELF_PADDR + ELF_MEMSZ);
	buf = test_malloc(ELF_MEMSZ);
	assert_int_equal(gmem_read(l.gm, ELF_PADDR, buf, ELF_MEMSZ), 0);
	assert_memory_equal(buf, l.img + ELF_DATA_OFF, ELF_FILESZ);
	assert_zero(buf, ELF_FILESZ, ELF_MEMSZ);
	test_free(buf);
	/* A header of the loader's making. */
	assert_zero(l.bp, 0, BZ_OFF_E820_ENTRIES);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, SETUP_HDRS_MAGIC);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_true(bp->hdr.cmdline_size >= strlen(l.bc.cmdline));
	assert_int_equal(bp->hdr.ramdisk_image, l.entry.initrd_addr);
	assert_int_equal(bp->hdr.ramdisk_size, 8192);
	assert_true(l.entry.initrd_addr >= l.entry.kernel_end);
	assert_int_equal(bp->e820_entries, 3);
	load_fini(&l);
}

static void test_load_elf_below_1m(void **state)
{
	struct loaded l;

	(void)state;
	load_init_elf(&l, BOOT_PROTOCOL_64, 0x80000);
	load_fails(&l, -ENOEXEC, "1 MiB", NULL);
	load_fini(&l);
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
