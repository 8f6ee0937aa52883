/* SPDX-License-Identifier: MIT */
/*
 * Kernel image parsing: a Linux bzImage (boot protocol 2.06+) or an
 * uncompressed ELF64 vmlinux. Pure functions on a byte buffer, so that
 * every check can be unit-tested with synthetic images.
 */
#ifndef LMIG_ARCH_X86_KERNEL_IMAGE_H
#define LMIG_ARCH_X86_KERNEL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/bootparam.h"

#define BZIMAGE_MIN_VERSION 0x0206 /* cmdline_size appears in 2.06 */
#define BZIMAGE_MIN_VERSION_64 0x020c /* xloadflags appear in 2.12 */
#define ELF_MAX_SEGMENTS 16

enum kernel_format {
	KERNEL_BZIMAGE,
	KERNEL_ELF,
};

struct elf_segment {
	uint64_t file_offset;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
};

struct kernel_image {
	enum kernel_format format;
	/* bzImage */
	struct setup_header hdr; /* the image's header, as read */
	uint64_t setup_size;     /* (setup_sects + 1) * 512: payload offset */
	uint64_t payload_size;   /* bytes after the setup sectors */
	uint64_t hdr_copy_end;   /* 0x202 + image[0x201]: end of the header copy */
	uint64_t init_size;      /* memory the kernel needs from its load address */
	/* ELF */
	uint64_t entry;
	struct elf_segment segs[ELF_MAX_SEGMENTS];
	unsigned int nr_segs;
	uint64_t lowest_paddr, highest_paddr; /* range the segments occupy */
};

/*
 * Parse and validate an image. Returns 0, or -ENOEXEC with *why set to a
 * static string naming the reason ("bad boot_flag", ...). need_64 asks for
 * the 64-bit protocol's requirements (2.12+, XLF_KERNEL_64).
 */
int kernel_image_parse(const uint8_t *img, size_t len, bool need_64, struct kernel_image *ki,
		       const char **why) __attribute__((warn_unused_result));

#endif
