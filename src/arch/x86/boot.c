/* SPDX-License-Identifier: MIT */
#include "arch/x86/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/layout.h"

#define PAGE_MASK (GMEM_PAGE_SIZE - 1)

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* "300 MiB" or "4096 bytes": sizes in messages read better rounded. */
static const char *human(uint64_t n, char *buf, size_t len)
{
	if (n >= MiB(1) && n % MiB(1) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n >= MiB(1))
		snprintf(buf, len, "%.1f MiB", (double)n / (double)MiB(1));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
	return buf;
}

int boot_e820_from_banks(const struct gmem *gm, struct e820_entry *table, unsigned int max)
{
	unsigned int n = 0, i;

#define ADD(a, s, t)                                                                           \
	do {                                                                                   \
		if (n == max)                                                                  \
			return -E2BIG;                                                         \
		table[n++] = (struct e820_entry){ .addr = (a), .size = (s), .type = (t) };     \
	} while (0)

	for (i = 0; i < gm->nr_banks; i++) {
		const struct gmem_bank *b = &gm->banks[i];
		uint64_t start = b->gpa, end = b->gpa + b->size;

		if (start < LAYOUT_HIGH_MEMORY) {
			/* Low memory: RAM below the EBDA, the EBDA and BIOS area reserved. */
			uint64_t low_end = end < LAYOUT_EBDA ? end : LAYOUT_EBDA;

			if (low_end > start)
				ADD(start, low_end - start, E820_RAM);
			if (end > LAYOUT_EBDA)
				ADD(LAYOUT_EBDA, LAYOUT_HIGH_MEMORY - LAYOUT_EBDA, E820_RESERVED);
			start = LAYOUT_HIGH_MEMORY;
		}
		if (end > start)
			ADD(start, end - start, E820_RAM);
	}
#undef ADD
	return (int)n;
}

int boot_place_initrd(const struct gmem *gm, uint64_t size, uint64_t initrd_addr_max,
		      uint64_t kernel_end, uint64_t *addr)
{
	uint64_t top = gmem_bank_end(gm, 0);
	/* initrd_addr_max is the last usable byte; UINT64_MAX means no limit. */
	uint64_t limit = initrd_addr_max == UINT64_MAX ? UINT64_MAX : initrd_addr_max + 1;

	if (size == 0)
		return -EINVAL;
	if (limit < top)
		top = limit;
	if (LAYOUT_INITRD >= kernel_end && size <= top && LAYOUT_INITRD <= top - size) {
		*addr = LAYOUT_INITRD;
		return 0;
	}
	if (size > top)
		return -ENOSPC;
	*addr = (top - size) & ~PAGE_MASK;
	if (*addr < kernel_end)
		return -ENOSPC;
	return 0;
}

void boot_gdt_entries(enum boot_protocol protocol, uint64_t gdt[BOOT_GDT_ENTRIES])
{
	gdt[0] = 0;
	gdt[1] = 0;
	/* Flat 4 GiB, G=1. 64-bit code has L=1 and D=0; 32-bit code D=1. */
	gdt[2] = protocol == BOOT_PROTOCOL_64 ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL;
	gdt[3] = 0x00cf93000000ffffULL; /* data, read/write */
	gdt[4] = 0x00008b0000000fffULL; /* a busy 32/64-bit TSS at base 0 */
}

int boot_write_page_tables(struct gmem *gm)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
	unsigned int i, j;
	int r;

	/* Present | writable; the PD entries add PS for 2 MiB pages. */
	pml4[0] = LAYOUT_PDPT | 0x3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD0 + i * 0x1000) | 0x3;
	r = gmem_write(gm, LAYOUT_PML4, pml4, sizeof(pml4));
	if (!r)
		r = gmem_write(gm, LAYOUT_PDPT, pdpt, sizeof(pdpt));
	for (i = 0; i < 4 && !r; i++) {
		for (j = 0; j < 512; j++)
			pd[j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | 0x83;
		r = gmem_write(gm, LAYOUT_PD0 + i * 0x1000, pd, sizeof(pd));
	}
	return r;
}

static int write_gdt(struct gmem *gm, enum boot_protocol protocol)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];
	uint64_t idt[2] = { 0, 0 };
	int r;

	boot_gdt_entries(protocol, gdt);
	r = gmem_write(gm, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
	if (!r)
		r = gmem_write(gm, LAYOUT_BOOT_IDT, idt, sizeof(idt));
	return r;
}

/* Check [addr, addr+len) is RAM, with a message naming what did not fit. */
static int need_ram(const struct gmem *gm, uint64_t addr, uint64_t len, const char *what,
		    char *err, size_t errlen)
{
	char a[32], b[32];

	if (gmem_is_ram(gm, addr, len))
		return 0;
	return fail(err, errlen, -ENOSPC,
		    "%s needs %s at 0x%llx, but guest RAM below the MMIO hole ends at 0x%llx "
		    "(%s of guest RAM in all)",
		    what, human(len, a, sizeof(a)), (unsigned long long)addr,
		    (unsigned long long)gmem_bank_end(gm, 0), human(gm->ram_size, b, sizeof(b)));
}

static int load_kernel(struct gmem *gm, const struct boot_config *bc,
		       const struct kernel_image *ki, struct boot_entry *entry, char *err,
		       size_t errlen)
{
	char what[300];
	unsigned int i;
	int r;

	if (ki->format == KERNEL_ELF) {
		if (bc->protocol != BOOT_PROTOCOL_64)
			return fail(err, errlen, -ENOEXEC,
				    "kernel '%s' is an ELF vmlinux, which only has a 64-bit entry "
				    "point: use --boot-protocol 64 or a bzImage",
				    bc->kernel_name);
		for (i = 0; i < ki->nr_segs; i++) {
			const struct elf_segment *s = &ki->segs[i];
			uint8_t *dst;

			snprintf(what, sizeof(what), "kernel '%s' (ELF segment %u)",
				 bc->kernel_name, i);
			r = need_ram(gm, s->paddr, s->memsz, what, err, errlen);
			if (r)
				return r;
			/* The low MiB holds the zero page, cmdline and page tables. */
			if (s->paddr < LAYOUT_HIGH_MEMORY)
				return fail(err, errlen, -ENOEXEC,
					    "kernel '%s': ELF segment at 0x%llx overlaps the "
					    "loader's area below 1 MiB",
					    bc->kernel_name, (unsigned long long)s->paddr);
			dst = gmem_ptr(gm, s->paddr, s->memsz);
			memcpy(dst, bc->kernel + s->file_offset, s->filesz);
			memset(dst + s->filesz, 0, s->memsz - s->filesz);
		}
		entry->rip = ki->entry;
		entry->kernel_end = ki->highest_paddr;
		return 0;
	}

	snprintf(what, sizeof(what), "kernel '%s' (its init_size)", bc->kernel_name);
	r = need_ram(gm, LAYOUT_KERNEL, ki->init_size, what, err, errlen);
	if (r)
		return r;
	r = gmem_write(gm, LAYOUT_KERNEL, bc->kernel + ki->setup_size, ki->payload_size);
	if (r)
		return fail(err, errlen, r, "cannot write the kernel into guest memory");
	entry->kernel_end = LAYOUT_KERNEL + ki->init_size;
	/* boot.rst: the 64-bit entry is 0x200 past the protected-mode start. */
	entry->rip = bc->protocol == BOOT_PROTOCOL_64 ? LAYOUT_KERNEL + 0x200 : LAYOUT_KERNEL;
	return 0;
}

/* The setup header a loader hands an ELF vmlinux, which has none of its own. */
static void elf_default_header(struct setup_header *h)
{
	memset(h, 0, sizeof(*h));
	h->boot_flag = SETUP_BOOT_FLAG;
	h->header = SETUP_HDRS_MAGIC;
	h->version = 0x020f;
	h->loadflags = LOADFLAG_LOADED_HIGH;
	h->kernel_alignment = 0x01000000;
	h->cmdline_size = LAYOUT_CMDLINE_MAX - 1;
	h->initrd_addr_max = 0x7fffffff;
}

int boot_load(struct gmem *gm, const struct boot_config *bc, struct boot_entry *entry, char *err,
	      size_t errlen)
{
	struct kernel_image ki;
	struct boot_params bp;
	const char *why = "";
	uint64_t cmdlen, cmdmax;
	char a[32], b[32];
	int r, n;

	memset(entry, 0, sizeof(*entry));
	entry->protocol = bc->protocol;
	entry->rsi = LAYOUT_BOOT_PARAMS;

	r = kernel_image_parse(bc->kernel, bc->kernel_len, bc->protocol == BOOT_PROTOCOL_64, &ki,
			       &why);
	if (r)
		return fail(err, errlen, r, "kernel '%s' rejected: %s", bc->kernel_name, why);
	if (bc->kernel_len > gm->ram_size)
		return fail(err, errlen, -ENOSPC, "kernel '%s' (%s) is larger than guest RAM (%s)",
			    bc->kernel_name, human(bc->kernel_len, a, sizeof(a)),
			    human(gm->ram_size, b, sizeof(b)));
	/* The loader's own structures must be RAM: zero page, cmdline, tables. */
	r = need_ram(gm, 0, LAYOUT_HIGH_MEMORY, "the boot area below 1 MiB", err, errlen);
	if (r)
		return r;

	memset(&bp, 0, sizeof(bp));
	if (ki.format == KERNEL_BZIMAGE)
		/* Copy exactly the header the image has, from 0x1f1 to 0x202+len. */
		memcpy((uint8_t *)&bp + SETUP_HEADER_OFFSET, bc->kernel + SETUP_HEADER_OFFSET,
		       ki.hdr_copy_end - SETUP_HEADER_OFFSET);
	else
		elf_default_header(&bp.hdr);

	r = load_kernel(gm, bc, &ki, entry, err, errlen);
	if (r)
		return r;

	/* Command line: bounded by the kernel's cmdline_size and by our area. */
	cmdlen = strlen(bc->cmdline);
	cmdmax = bp.hdr.cmdline_size;
	if (cmdmax > LAYOUT_CMDLINE_MAX - 1)
		cmdmax = LAYOUT_CMDLINE_MAX - 1;
	if (cmdlen > cmdmax)
		return fail(err, errlen, -E2BIG,
			    "kernel command line (%llu bytes) is longer than kernel '%s' accepts "
			    "(%llu bytes)",
			    (unsigned long long)cmdlen, bc->kernel_name, (unsigned long long)cmdmax);
	r = gmem_write(gm, LAYOUT_CMDLINE, bc->cmdline, cmdlen + 1);
	if (r)
		return fail(err, errlen, r, "cannot write the command line");

	if (bc->initrd_name) {
		uint64_t max = bp.hdr.initrd_addr_max ? bp.hdr.initrd_addr_max : 0x37ffffff;

		r = boot_place_initrd(gm, bc->initrd_len, max, entry->kernel_end,
				      &entry->initrd_addr);
		if (r == -EINVAL)
			return fail(err, errlen, r, "initrd '%s' is empty", bc->initrd_name);
		if (r) {
			uint64_t top = gmem_bank_end(gm, 0) < max + 1 ? gmem_bank_end(gm, 0) : max + 1;
			return fail(err, errlen, r,
				    "initrd '%s' (%s) does not fit between the kernel's end 0x%llx "
				    "and 0x%llx with %s of guest RAM",
				    bc->initrd_name, human(bc->initrd_len, a, sizeof(a)),
				    (unsigned long long)entry->kernel_end, (unsigned long long)top,
				    human(gm->ram_size, b, sizeof(b)));
		}
		r = gmem_write(gm, entry->initrd_addr, bc->initrd, bc->initrd_len);
		if (r)
			return fail(err, errlen, r, "cannot write the initrd");
		bp.hdr.ramdisk_image = (uint32_t)entry->initrd_addr;
		bp.hdr.ramdisk_size = (uint32_t)bc->initrd_len;
		bp.ext_ramdisk_image = (uint32_t)(entry->initrd_addr >> 32);
		bp.ext_ramdisk_size = (uint32_t)((uint64_t)bc->initrd_len >> 32);
	}

	/* The loader's fields; everything else stays as the image supplied it. */
	bp.hdr.type_of_loader = 0xff;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	bp.ext_cmd_line_ptr = 0;
	bp.hdr.loadflags &= (uint8_t)~(LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS);
	bp.hdr.loadflags |= LOADFLAG_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = 0xfe00;

	n = boot_e820_from_banks(gm, bp.e820_table, E820_MAX_ENTRIES);
	if (n < 0)
		return fail(err, errlen, n, "too many e820 entries");
	bp.e820_entries = (uint8_t)n;

	r = gmem_write(gm, LAYOUT_BOOT_PARAMS, &bp, sizeof(bp));
	if (!r)
		r = write_gdt(gm, bc->protocol);
	if (!r && bc->protocol == BOOT_PROTOCOL_64)
		r = boot_write_page_tables(gm);
	if (r)
		return fail(err, errlen, r, "cannot write the boot structures into guest memory");
	return 0;
}
