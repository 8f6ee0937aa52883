/* SPDX-License-Identifier: MIT */
#include "arch/x86/kernel_image.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

static int reject(const char **why, const char *reason)
{
	*why = reason;
	return -ENOEXEC;
}

static int bzimage_parse(const uint8_t *img, size_t len, bool need_64, struct kernel_image *ki,
			 const char **why)
{
	struct setup_header *h = &ki->hdr;
	unsigned int sects;

	if (len < 0x202 + 1)
		return reject(why, "too short for a setup header");
	/* The header's own length byte says how far the copy into boot_params runs. */
	ki->hdr_copy_end = 0x202 + (uint64_t)img[0x201];
	if (ki->hdr_copy_end > len)
		return reject(why, "truncated setup header");
	memset(h, 0, sizeof(*h));
	memcpy(h, img + SETUP_HEADER_OFFSET,
	       ki->hdr_copy_end - SETUP_HEADER_OFFSET < sizeof(*h)
		       ? ki->hdr_copy_end - SETUP_HEADER_OFFSET
		       : sizeof(*h));
	if (h->boot_flag != SETUP_BOOT_FLAG)
		return reject(why, "no boot flag 0xaa55 at offset 0x1fe");
	if (h->header != SETUP_HDRS_MAGIC)
		return reject(why, "no \"HdrS\" signature at offset 0x202");
	if (h->version < BZIMAGE_MIN_VERSION)
		return reject(why, "boot protocol older than 2.06");
	if (!(h->loadflags & LOADFLAG_LOADED_HIGH))
		return reject(why, "not a bzImage (zImage loaded low is not supported)");
	if (need_64) {
		if (h->version < BZIMAGE_MIN_VERSION_64)
			return reject(why, "the 64-bit boot protocol needs boot protocol 2.12+");
		if (!(h->xloadflags & XLF_KERNEL_64))
			return reject(why, "no XLF_KERNEL_64: the kernel has no 64-bit entry point");
	}
	/* boot.rst: a setup_sects of 0 means 4, for compatibility. */
	sects = h->setup_sects ? h->setup_sects : 4;
	ki->setup_size = ((uint64_t)sects + 1) * 512;
	if (ki->setup_size >= len)
		return reject(why, "truncated: no protected-mode payload after the setup sectors");
	ki->payload_size = len - ki->setup_size;
	/* init_size (2.10+) covers decompression; never use less than the payload. */
	ki->init_size = ki->payload_size;
	if (h->version >= 0x020a && h->init_size > ki->init_size)
		ki->init_size = h->init_size;
	if (h->cmdline_size == 0)
		return reject(why, "cmdline_size is 0");
	ki->format = KERNEL_BZIMAGE;
	return 0;
}

static int elf_parse(const uint8_t *img, size_t len, struct kernel_image *ki, const char **why)
{
	Elf64_Ehdr eh;
	unsigned int i;

	if (len < sizeof(eh))
		return reject(why, "truncated ELF header");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return reject(why, "not a 64-bit ELF file");
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return reject(why, "not a little-endian ELF file");
	if (eh.e_machine != EM_X86_64)
		return reject(why, "not an x86-64 ELF file");
	if (eh.e_type != ET_EXEC)
		return reject(why, "not an ELF executable");
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return reject(why, "bad ELF program header size");
	if (eh.e_phnum == 0)
		return reject(why, "ELF file has no program headers");
	if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return reject(why, "ELF program headers lie outside the file");

	ki->nr_segs = 0;
	ki->lowest_paddr = UINT64_MAX;
	ki->highest_paddr = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		struct elf_segment *s;

		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ki->nr_segs == ELF_MAX_SEGMENTS)
			return reject(why, "too many ELF load segments");
		if (ph.p_filesz > ph.p_memsz)
			return reject(why, "ELF segment with p_filesz > p_memsz");
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return reject(why, "ELF segment lies outside the file");
		if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return reject(why, "ELF segment wraps the address space");
		s = &ki->segs[ki->nr_segs++];
		s->file_offset = ph.p_offset;
		s->paddr = ph.p_paddr;
		s->filesz = ph.p_filesz;
		s->memsz = ph.p_memsz;
		if (s->paddr < ki->lowest_paddr)
			ki->lowest_paddr = s->paddr;
		if (s->paddr + s->memsz > ki->highest_paddr)
			ki->highest_paddr = s->paddr + s->memsz;
	}
	if (ki->nr_segs == 0)
		return reject(why, "ELF file has no loadable segment");
	for (i = 0; i < ki->nr_segs; i++)
		if (eh.e_entry >= ki->segs[i].paddr &&
		    eh.e_entry - ki->segs[i].paddr < ki->segs[i].memsz)
			break;
	if (i == ki->nr_segs)
		return reject(why, "ELF entry point is outside its loaded segments");
	ki->entry = eh.e_entry;
	ki->format = KERNEL_ELF;
	return 0;
}

int kernel_image_parse(const uint8_t *img, size_t len, bool need_64, struct kernel_image *ki,
		       const char **why)
{
	memset(ki, 0, sizeof(*ki));
	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		return elf_parse(img, len, ki, why);
	if (len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa)
		return bzimage_parse(img, len, need_64, ki, why);
	if (len < 0x206)
		return reject(why, "file too short to be a kernel image");
	return reject(why, "neither a bzImage (no boot flag 0xaa55 at 0x1fe) nor an ELF vmlinux");
}
