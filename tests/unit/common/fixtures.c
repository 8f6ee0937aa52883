// SPDX-License-Identifier: MIT
/* Fixtures shared by the unit tests; see fixtures.h. */
#include "common/fixtures.h"

#include <string.h>

#include "arch/x86/bootparam.h"

/* ---- little-endian bytes ---- */

void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void fill_pattern(uint8_t *p, size_t len, unsigned int mul, unsigned int add)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * mul + add);
}

uint8_t *new_pattern(size_t len, unsigned int mul, unsigned int add)
{
	uint8_t *p = test_malloc(len);

	fill_pattern(p, len, mul, add);
	return p;
}

/* ---- error messages ---- */

void assert_vmentions(const char *msg, va_list ap)
{
	const char *want;

	if (!msg || !*msg)
		fail_msg("expected an error message, got %s", msg ? "an empty one" : "NULL");
	while ((want = va_arg(ap, const char *)))
		if (!strstr(msg, want))
			fail_msg("message '%s' does not mention '%s'", msg, want);
}

void assert_mentions(const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	assert_vmentions(msg, ap);
	va_end(ap);
}

/* ---- synthetic bzImage ---- */

const struct bz_opts bz_defaults = {
	.setup_sects = 4,
	.version = 0x020f,
	.loadflags = LOADFLAG_LOADED_HIGH,
	.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
	.cmdline_size = 2047,
	.init_size = 0x10000,
	.initrd_addr_max = 0x7fffffff,
	.hdr_len = BZ_HDR_LEN_FULL,
	.payload = 4096,
};

size_t bz_setup_size(const struct bz_opts *o)
{
	return ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
}

uint8_t *make_bzimage(const struct bz_opts *o, size_t *len)
{
	/* At least 2 * 512 bytes: the whole header always fits. */
	size_t setup = bz_setup_size(o), i;
	uint8_t *img;

	*len = setup + o->payload;
	img = test_malloc(*len);
	memset(img, 0xff, BZ_OFF_SETUP_SECTS);
	for (i = BZ_OFF_SETUP_SECTS; i < BZ_HDR_END_FULL; i++)
		img[i] = (uint8_t)(0x40 + i);
	memset(img + BZ_HDR_END_FULL, 0xcc, setup - BZ_HDR_END_FULL);
	img[BZ_OFF_SETUP_SECTS] = o->setup_sects;
	put_le16(img + BZ_OFF_BOOT_FLAG, 0xaa55);
	img[BZ_OFF_JUMP] = 0xeb;
	img[BZ_OFF_HDR_LEN] = o->hdr_len;
	memcpy(img + BZ_OFF_HEADER, "HdrS", 4);
	put_le16(img + BZ_OFF_VERSION, o->version);
	img[BZ_OFF_TYPE_OF_LOADER] = 0;
	img[BZ_OFF_LOADFLAGS] = o->loadflags;
	put_le32(img + BZ_OFF_CODE32_START, 0x100000);
	put_le32(img + BZ_OFF_RAMDISK_IMAGE, 0);
	put_le32(img + BZ_OFF_RAMDISK_SIZE, 0);
	put_le16(img + BZ_OFF_HEAP_END_PTR, 0);
	put_le32(img + BZ_OFF_CMD_LINE_PTR, 0);
	put_le32(img + BZ_OFF_INITRD_ADDR_MAX, o->initrd_addr_max);
	put_le16(img + BZ_OFF_XLOADFLAGS, o->xloadflags);
	put_le32(img + BZ_OFF_CMDLINE_SIZE, o->cmdline_size);
	put_le32(img + BZ_OFF_INIT_SIZE, o->init_size);
	for (i = 0; i < o->payload; i++)
		img[setup + i] = BZ_PAYLOAD_BYTE(i);
	return img;
}

/* ---- synthetic ELF64 ---- */

const struct elf_opts elf_defaults = {
	.len = 0x1100,
	.paddr = 0x1000000,
	.entry = 0x1000000 + 0x10,
	.filesz = 0x100,
	.memsz = 0x2000,
};

uint8_t *make_elf(const struct elf_opts *o)
{
	uint8_t *img = test_calloc(1, o->len);
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
	eh.e_entry = o->entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	memcpy(img, &eh, sizeof(eh));

	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = ELF_DATA_OFF;
	ph.p_vaddr = 0xffffffff81000000ULL;
	ph.p_paddr = o->paddr;
	ph.p_filesz = o->filesz;
	ph.p_memsz = o->memsz;
	ph.p_align = 0x1000;
	memcpy(img + sizeof(eh), &ph, sizeof(ph));
	for (i = ELF_DATA_OFF; i < o->len; i++)
		img[i] = (uint8_t)(i * 5 + 2);
	return img;
}

Elf64_Ehdr *elf_ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)(void *)img;
}

Elf64_Phdr *elf_phdr(uint8_t *img, unsigned int i)
{
	return (Elf64_Phdr *)(void *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

/* ---- guest memory ---- */

struct gmem *try_new_gmem(uint64_t size)
{
	struct gmem *gm = test_calloc(1, sizeof(*gm));

	if (gmem_layout(gm, size) || gmem_map(gm)) {
		test_free(gm);
		return NULL;
	}
	return gm;
}

struct gmem *new_gmem(uint64_t size)
{
	struct gmem *gm = try_new_gmem(size);

	if (!gm)
		fail_msg("cannot lay out and map %llu bytes of guest memory",
			 (unsigned long long)size);
	return gm;
}

void free_gmem(struct gmem *gm)
{
	gmem_unmap(gm);
	test_free(gm);
}

int setup_gmem(void **state, uint64_t size)
{
	*state = try_new_gmem(size);
	return *state ? 0 : -1;
}

int teardown_gmem(void **state)
{
	free_gmem(*state);
	return 0;
}

uint64_t read_u64(const struct gmem *gm, uint64_t gpa)
{
	uint64_t v = 0;

	assert_int_equal(gmem_read(gm, gpa, &v, sizeof(v)), 0);
	return v;
}
