/* SPDX-License-Identifier: MIT */
/*
 * A small AML (ACPI Machine Language) builder, written from ACPI 6.5
 * chapter 20 ("ACPI Machine Language Specification") and, for resource
 * templates, section 6.4 ("Resource Data Types for ACPI").
 *
 * Everything is appended to a growable host buffer, struct aml_buf. Errors
 * (out of memory, an invalid name, a length AML cannot encode) are sticky:
 * the first one is kept in b->err, later calls do nothing, and the caller
 * checks aml_buf_error() once at the end. That keeps table descriptions
 * readable, one call per ASL construct:
 *
 *	Scope (\_SB) { Device (COM1) { Name (_UID, 0) } }
 *
 *	size_t scope = aml_scope_open(b, "\\_SB");
 *	size_t dev = aml_device_open(b, "COM1");
 *	aml_name(b, "_UID");
 *	aml_integer(b, 0);
 *	aml_close(b, dev);
 *	aml_close(b, scope);
 *
 * Constructs with a PkgLength (Scope, Device, Package, Buffer, ...) are
 * opened and closed: *_open() returns a token, aml_close() measures what
 * was appended since and inserts the PkgLength in front of it.
 */
#ifndef LMIG_ARCH_X86_AML_H
#define LMIG_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (ACPI 6.5 section 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ONES_OP 0xff

/* Name prefixes (section 20.2.2). */
#define AML_NULL_NAME 0x00
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_ROOT_CHAR 0x5c     /* '\\' */
#define AML_PARENT_PREFIX 0x5e /* '^' */

/* The largest PkgLength: 4 bits in the lead byte and three more bytes. */
#define AML_PKGLEN_MAX ((1UL << 28) - 1)
#define AML_PKGLEN_MAX_BYTES 4

/* Small resource descriptors (section 6.4.2). */
#define AML_RES_IRQ_NOFLAGS 0x22 /* tag 0x04, length 2 */
#define AML_RES_IO 0x47		 /* tag 0x08, length 7 */
#define AML_RES_END_TAG 0x79	 /* tag 0x0f, length 1 */
#define AML_RES_IO_DECODE16 0x01 /* IO descriptor information byte, bit 0 */
/* Large resource descriptors (section 6.4.3): tag byte, then a 16-bit length. */
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_EXT_INTERRUPT 0x89
/* Extended interrupt descriptor flags (section 6.4.3.6, byte 3). */
#define AML_RES_INT_CONSUMER 0x01
#define AML_RES_INT_EDGE 0x02
#define AML_RES_INT_ACTIVE_LOW 0x04

struct aml_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err; /* first error, 0 if none: -ENOMEM, -EINVAL or -E2BIG */
};

void aml_buf_init(struct aml_buf *b);
void aml_buf_free(struct aml_buf *b);
/* 0, or the first error any call on `b` ran into. */
int aml_buf_error(const struct aml_buf *b) __attribute__((warn_unused_result));

/* Raw bytes. */
void aml_append(struct aml_buf *b, const void *data, size_t len);
void aml_byte(struct aml_buf *b, uint8_t v);

/*
 * Encode a PkgLength whose value is `len` (the value counts the PkgLength
 * bytes themselves, section 20.2.4). Returns the number of bytes written to
 * out (1-4), or -E2BIG above AML_PKGLEN_MAX. Lengths up to 63 take one
 * byte; longer ones put the byte count - 1 in bits 7-6 of the lead byte,
 * the low nibble in bits 3-0 and the rest, 8 bits at a time, in the bytes
 * that follow.
 */
int aml_pkglen_encode(uint8_t out[AML_PKGLEN_MAX_BYTES], size_t len);

/*
 * Start a PkgLength-prefixed body at the current end of `b`; aml_close()
 * ends it. The token is the offset where the PkgLength goes. Opens and
 * closes must nest.
 */
size_t aml_open(struct aml_buf *b);
void aml_close(struct aml_buf *b, size_t token);

/*
 * NameString (section 20.2.2) from ASL notation: an optional "\\" or one or
 * more "^", then NameSegs separated by '.'. Segments shorter than four
 * characters are padded with '_' as ASL does ("_SB" is "_SB_"). "\\" alone
 * is the root. A malformed path sets -EINVAL.
 */
void aml_name_string(struct aml_buf *b, const char *path);

/*
 * Integers (section 20.2.3): ZeroOp, OneOp, then the shortest of
 * BytePrefix/WordPrefix/DWordPrefix/QWordPrefix. A QWord needs a table of
 * revision 2 or later. aml_dword() always uses the DWord form.
 */
void aml_integer(struct aml_buf *b, uint64_t v);
void aml_dword(struct aml_buf *b, uint32_t v);
/* String (StringPrefix, ASCII 0x01-0x7f, NUL). */
void aml_string(struct aml_buf *b, const char *s);

/* Name (name, <object>): NameOp and the name; the caller appends the object. */
void aml_name(struct aml_buf *b, const char *name);

/* Scope (path) { ... } and Device (path) { ... }; aml_close() ends them. */
size_t aml_scope_open(struct aml_buf *b, const char *path);
size_t aml_device_open(struct aml_buf *b, const char *path);

/* Package () { ... } with nr_elements data objects; aml_close() ends it. */
size_t aml_package_open(struct aml_buf *b, uint8_t nr_elements);

/* Buffer () { bytes } with the size given as an integer. */
void aml_buffer(struct aml_buf *b, const void *bytes, size_t len);

/*
 * EisaId ("PNP0501"): three letters A-Z compressed to 5 bits each, then
 * four hex digits, stored so that the bytes in memory read 41 D0 05 01.
 * Returns 0 and the value in *out, or -EINVAL for a malformed id.
 */
int aml_eisaid_encode(const char *id, uint32_t *out) __attribute__((warn_unused_result));
/* The same, appended as a DWord integer (as iasl emits it). */
void aml_eisaid(struct aml_buf *b, const char *id);

/*
 * Resource templates. The descriptors are appended to their own aml_buf;
 * aml_resource_template() adds the end tag and emits the whole thing as a
 * Buffer, which is what ResourceTemplate () compiles to.
 */
/* IO (Decode16 or Decode10, min, max, alignment, length) */
void aml_res_io(struct aml_buf *rt, int decode16, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len);
/* IRQNoFlags () { irqs }: `mask` has bit n set for IRQ n (edge, active high) */
void aml_res_irq_noflags(struct aml_buf *rt, uint16_t mask);
/* Memory32Fixed (ReadWrite or ReadOnly, base, length) */
void aml_res_memory32_fixed(struct aml_buf *rt, bool writable, uint32_t base, uint32_t len);
/*
 * Interrupt (ResourceConsumer, Edge or Level, ActiveHigh or ActiveLow,
 * Exclusive) { gsi }: the extended interrupt descriptor with one GSI.
 */
void aml_res_interrupt(struct aml_buf *rt, bool edge, bool active_low, uint32_t gsi);
void aml_resource_template(struct aml_buf *b, struct aml_buf *rt);

#endif
