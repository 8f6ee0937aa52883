/* SPDX-License-Identifier: MIT */
/*
 * Loading a kernel into guest memory per the Linux x86 boot protocol and
 * ../shared/design/memory-layout.md: kernel, initrd, command line, the zero
 * page with its e820 map, the boot GDT and (64-bit) the identity page
 * tables. Each step writes through the gmem API only.
 */
#ifndef LMIG_ARCH_X86_BOOT_H
#define LMIG_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/bootparam.h"
#include "arch/x86/kernel_image.h"
#include "vmm/gmem.h"

enum boot_protocol {
	BOOT_PROTOCOL_32 = 32,
	BOOT_PROTOCOL_64 = 64,
};

struct boot_config {
	enum boot_protocol protocol;
	const char *kernel_name; /* for messages */
	const uint8_t *kernel;
	size_t kernel_len;
	const char *initrd_name; /* NULL: no initrd */
	const uint8_t *initrd;
	size_t initrd_len;
	const char *cmdline;
};

struct boot_entry {
	enum boot_protocol protocol; /* the mode the vCPU starts in */
	uint64_t rip;
	uint64_t rsi;
	uint64_t initrd_addr;
	uint64_t kernel_end; /* first byte after the kernel's reserved region */
};

/* Selectors the boot protocol requires (boot.rst: __BOOT_CS, __BOOT_DS). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_TSS 0x20
#define BOOT_GDT_ENTRIES 5

/*
 * Load everything and fill *entry. On error returns -errno and writes a
 * message naming the thing and the cause into err.
 */
int boot_load(struct gmem *gm, const struct boot_config *bc, struct boot_entry *entry, char *err,
	      size_t errlen) __attribute__((warn_unused_result));

/*
 * The e820 map derived from the RAM banks: [0, EBDA) RAM, EBDA..1 MiB
 * reserved, then each bank's RAM above 1 MiB. Returns the entry count or
 * -E2BIG when more than max entries would be needed.
 */
int boot_e820_from_banks(const struct gmem *gm, struct e820_entry *table, unsigned int max);

/*
 * Where the initrd goes: LAYOUT_INITRD when it fits there, else as high as
 * it fits below min(initrd_addr_max + 1, end of low RAM), page-aligned and
 * above kernel_end. Returns 0 and *addr, or -ENOSPC.
 */
int boot_place_initrd(const struct gmem *gm, uint64_t size, uint64_t initrd_addr_max,
		      uint64_t kernel_end, uint64_t *addr);

/* The flat GDT for the protocol, as 64-bit descriptors. */
void boot_gdt_entries(enum boot_protocol protocol, uint64_t gdt[BOOT_GDT_ENTRIES]);

/* Identity-map the first 4 GiB with 2 MiB pages at LAYOUT_PAGE_TABLES. */
int boot_write_page_tables(struct gmem *gm) __attribute__((warn_unused_result));

#endif
