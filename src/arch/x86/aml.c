/* SPDX-License-Identifier: MIT */
/*
 * AML builder; see aml.h. Section numbers are those of ACPI 6.5.
 */
#include "arch/x86/aml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NAMESEG_LEN 4

void aml_buf_init(struct aml_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void aml_buf_free(struct aml_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int aml_buf_error(const struct aml_buf *b)
{
	return b->err;
}

static void set_error(struct aml_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

/* Make room for `extra` more bytes. False (and b->err set) if there is none. */
static bool reserve(struct aml_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->err)
		return false;
	/*
	 * Nothing an AML table holds can be longer than the longest PkgLength,
	 * and the bound keeps the size arithmetic below far from overflow.
	 */
	if (extra > AML_PKGLEN_MAX || b->len + extra > AML_PKGLEN_MAX) {
		set_error(b, -E2BIG);
		return false;
	}
	need = b->len + extra;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		set_error(b, -ENOMEM);
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void aml_append(struct aml_buf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void aml_byte(struct aml_buf *b, uint8_t v)
{
	aml_append(b, &v, 1);
}

static void put_le(struct aml_buf *b, uint64_t v, unsigned int bytes)
{
	uint8_t le[8];
	unsigned int i;

	for (i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	aml_append(b, le, bytes);
}

/* Section 20.2.4, PkgLength. */
int aml_pkglen_encode(uint8_t out[AML_PKGLEN_MAX_BYTES], size_t len)
{
	unsigned int extra, i;

	if (len > AML_PKGLEN_MAX)
		return -E2BIG;
	if (len < 0x40) {
		/* One byte: bits 7-6 zero, the length in bits 5-0. */
		out[0] = (uint8_t)len;
		return 1;
	}
	/* 4 bits in the lead byte, 8 in each of 1-3 following bytes. */
	if (len < (1UL << 12))
		extra = 1;
	else if (len < (1UL << 20))
		extra = 2;
	else
		extra = 3;
	/* Bits 5-4 of the lead byte are reserved and must be zero. */
	out[0] = (uint8_t)(extra << 6 | (len & 0xf));
	for (i = 0; i < extra; i++)
		out[1 + i] = (uint8_t)(len >> (4 + 8 * i));
	return (int)(1 + extra);
}

size_t aml_open(struct aml_buf *b)
{
	return b->len;
}

void aml_close(struct aml_buf *b, size_t token)
{
	uint8_t enc[AML_PKGLEN_MAX_BYTES];
	size_t body;
	unsigned int n;
	int r = 0;

	if (b->err)
		return;
	if (token > b->len) {
		set_error(b, -EINVAL); /* opens and closes do not nest */
		return;
	}
	body = b->len - token;
	/*
	 * The PkgLength counts its own bytes, so the encoding size depends on
	 * itself: pick the smallest n for which body + n still encodes in n
	 * bytes.
	 */
	for (n = 1; n <= AML_PKGLEN_MAX_BYTES; n++) {
		r = aml_pkglen_encode(enc, body + n);
		if (r == (int)n)
			break;
	}
	if (n > AML_PKGLEN_MAX_BYTES || r < 0) {
		set_error(b, -E2BIG);
		return;
	}
	if (!reserve(b, n))
		return;
	memmove(b->data + token + n, b->data + token, body);
	memcpy(b->data + token, enc, n);
	b->len += n;
}

/* LeadNameChar is A-Z or '_'; later NameChars may also be digits. */
static bool name_char_ok(char c, bool lead)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

/*
 * Copy one NameSeg from *pp (up to '.' or the end), padded with '_', and
 * advance *pp past it. False if it is empty, too long or has a bad char.
 */
static bool parse_seg(const char **pp, char seg[NAMESEG_LEN])
{
	const char *p = *pp;
	unsigned int i = 0;

	while (*p && *p != '.') {
		if (i == NAMESEG_LEN || !name_char_ok(*p, i == 0))
			return false;
		seg[i++] = *p++;
	}
	if (i == 0)
		return false;
	while (i < NAMESEG_LEN)
		seg[i++] = '_';
	*pp = p;
	return true;
}

/* Section 20.2.2, NameString. */
void aml_name_string(struct aml_buf *b, const char *path)
{
	char segs[255][NAMESEG_LEN];
	unsigned int nr = 0;
	const char *p = path;

	if (*p == '\\') {
		aml_byte(b, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(b, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p) {
		if (nr == 255 || !parse_seg(&p, segs[nr])) {
			set_error(b, -EINVAL);
			return;
		}
		nr++;
		if (*p == '.') {
			p++;
			if (!*p) {
				set_error(b, -EINVAL); /* trailing '.' */
				return;
			}
		}
	}
	switch (nr) {
	case 0:
		/* Only a prefix ("\\" is the root); a bare "" names nothing. */
		if (p == path)
			set_error(b, -EINVAL);
		else
			aml_byte(b, AML_NULL_NAME);
		return;
	case 1:
		break;
	case 2:
		aml_byte(b, AML_DUAL_NAME_PREFIX);
		break;
	default:
		aml_byte(b, AML_MULTI_NAME_PREFIX);
		aml_byte(b, (uint8_t)nr);
		break;
	}
	aml_append(b, segs, (size_t)nr * NAMESEG_LEN);
}

/* Section 20.2.3, ComputationalData. */
void aml_integer(struct aml_buf *b, uint64_t v)
{
	if (v == 0) {
		aml_byte(b, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(b, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_byte(b, AML_BYTE_PREFIX);
		put_le(b, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(b, AML_WORD_PREFIX);
		put_le(b, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(b, AML_DWORD_PREFIX);
		put_le(b, v, 4);
	} else {
		aml_byte(b, AML_QWORD_PREFIX);
		put_le(b, v, 8);
	}
}

void aml_dword(struct aml_buf *b, uint32_t v)
{
	aml_byte(b, AML_DWORD_PREFIX);
	put_le(b, v, 4);
}

void aml_string(struct aml_buf *b, const char *s)
{
	const char *p;

	/* AsciiCharList: 0x01-0x7f. */
	for (p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			set_error(b, -EINVAL);
			return;
		}
	}
	aml_byte(b, AML_STRING_PREFIX);
	aml_append(b, s, strlen(s) + 1);
}

/* DefName := NameOp NameString DataRefObject */
void aml_name(struct aml_buf *b, const char *name)
{
	aml_byte(b, AML_NAME_OP);
	aml_name_string(b, name);
}

/* DefScope := ScopeOp PkgLength NameString TermList */
size_t aml_scope_open(struct aml_buf *b, const char *path)
{
	size_t token;

	aml_byte(b, AML_SCOPE_OP);
	token = aml_open(b);
	aml_name_string(b, path);
	return token;
}

/* DefDevice := DeviceOp PkgLength NameString TermList; DeviceOp is 0x5b 0x82 */
size_t aml_device_open(struct aml_buf *b, const char *path)
{
	size_t token;

	aml_byte(b, AML_EXT_OP_PREFIX);
	aml_byte(b, AML_DEVICE_OP);
	token = aml_open(b);
	aml_name_string(b, path);
	return token;
}

/* DefPackage := PackageOp PkgLength NumElements PackageElementList */
size_t aml_package_open(struct aml_buf *b, uint8_t nr_elements)
{
	size_t token;

	aml_byte(b, AML_PACKAGE_OP);
	token = aml_open(b);
	aml_byte(b, nr_elements);
	return token;
}

/* DefBuffer := BufferOp PkgLength BufferSize ByteList */
void aml_buffer(struct aml_buf *b, const void *bytes, size_t len)
{
	size_t token;

	aml_byte(b, AML_BUFFER_OP);
	token = aml_open(b);
	aml_integer(b, len);
	aml_append(b, bytes, len);
	aml_close(b, token);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The compressed EISA ID, as ASL's EisaId() macro defines it: the 32-bit
 * big-endian value
 *   bit 31      0
 *   bits 30-26  first letter - 0x40 ('A' = 1)
 *   bits 25-21  second letter - 0x40
 *   bits 20-16  third letter - 0x40
 *   bits 15-0   the four hex digits
 * stored byte-swapped, i.e. the result is that value read little-endian.
 */
int aml_eisaid_encode(const char *id, uint32_t *out)
{
	uint32_t be = 0;
	unsigned int i;

	if (strlen(id) != 7)
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		be |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			return -EINVAL;
		be |= (uint32_t)d << (4 * (6 - i));
	}
	*out = __builtin_bswap32(be);
	return 0;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
	uint32_t v;

	if (aml_eisaid_encode(id, &v)) {
		set_error(b, -EINVAL);
		return;
	}
	aml_dword(b, v);
}

/* Section 6.4.2.5, I/O Port Descriptor. */
void aml_res_io(struct aml_buf *rt, int decode16, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len)
{
	aml_byte(rt, AML_RES_IO);
	aml_byte(rt, decode16 ? AML_RES_IO_DECODE16 : 0);
	put_le(rt, min, 2);
	put_le(rt, max, 2);
	aml_byte(rt, align);
	aml_byte(rt, len);
}

/* Section 6.4.2.1, IRQ Descriptor, the two-byte form without information. */
void aml_res_irq_noflags(struct aml_buf *rt, uint16_t mask)
{
	aml_byte(rt, AML_RES_IRQ_NOFLAGS);
	put_le(rt, mask, 2);
}

/* Section 6.4.3.4, 32-Bit Fixed Memory Range Descriptor. */
void aml_res_memory32_fixed(struct aml_buf *rt, bool writable, uint32_t base, uint32_t len)
{
	aml_byte(rt, AML_RES_MEMORY32_FIXED);
	put_le(rt, 9, 2); /* length of what follows */
	aml_byte(rt, writable ? 1 : 0);
	put_le(rt, base, 4);
	put_le(rt, len, 4);
}

/* Section 6.4.3.6, Extended Interrupt Descriptor, one interrupt, no source. */
void aml_res_interrupt(struct aml_buf *rt, bool edge, bool active_low, uint32_t gsi)
{
	uint8_t flags = AML_RES_INT_CONSUMER;

	if (edge)
		flags |= AML_RES_INT_EDGE;
	if (active_low)
		flags |= AML_RES_INT_ACTIVE_LOW;
	aml_byte(rt, AML_RES_EXT_INTERRUPT);
	put_le(rt, 6, 2); /* flags, count, one DWord */
	aml_byte(rt, flags);
	aml_byte(rt, 1);
	put_le(rt, gsi, 4);
}

/* Section 6.4.2.9, End Tag; a zero checksum means "treat as valid". */
void aml_resource_template(struct aml_buf *b, struct aml_buf *rt)
{
	aml_byte(rt, AML_RES_END_TAG);
	aml_byte(rt, 0);
	if (rt->err) {
		set_error(b, rt->err);
		return;
	}
	aml_buffer(b, rt->data, rt->len);
}
