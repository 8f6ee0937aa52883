/* SPDX-License-Identifier: MIT */
/*
 * The snapshot file: a container of typed sections, each with its length and
 * a CRC-32, between a header (magic, version) and an end marker. This layer
 * knows nothing of what the sections hold: the caller picks a type and an
 * instance per section (the machine configuration is one of them). The byte
 * layout and the rules are in docs/snapshot.md.
 *
 * Writing streams: snap_section_begin(), any number of
 * snap_section_append(), snap_section_end() (which patches the length and
 * CRCs into the section header). Everything goes to PATH.tmp; only a
 * committing snap_writer_close() writes the end marker, fsyncs and renames
 * it over PATH, so PATH is either the old file or the complete new one.
 *
 * Reading maps the file read-only and validates ALL of it in
 * snap_reader_open() (header, every section header, length, CRC and padding,
 * duplicates, the end marker, no trailing bytes) before any section is
 * handed out: a file is either refused with a message that says why, or
 * every section of it is good. Sections are then pointers into the mapping,
 * 8-byte aligned, valid until snap_reader_close(). The file must not be
 * truncated by anyone while it is open (a writer replaces it by rename and
 * leaves an open reader's mapping alone).
 */
#ifndef LMIG_MIGRATION_SNAPFILE_H
#define LMIG_MIGRATION_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "LMIGSNAP" /* 8 bytes, no NUL in the file */
#define SNAP_MAGIC_LEN 8
#define SNAP_VERSION 1

#define SNAP_FILE_HEADER_SIZE 16
#define SNAP_RECORD_HEADER_SIZE 24 /* a section header, and the end marker */
#define SNAP_ALIGN 8		   /* section data starts at a multiple of this */

/* Type 0 is reserved: it marks the end of the file. */
#define SNAP_TYPE_END 0
/* Sections per file, so that the reader's index stays bounded on any input. */
#define SNAP_MAX_SECTIONS (1u << 20)

struct snap_writer;
struct snap_reader;

/*
 * Create PATH.tmp (mode 0600, truncated if it exists) and write the file
 * header. 0, or -errno with a message naming the file.
 */
int snap_writer_open(struct snap_writer **out, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Start a section. -EINVAL for type SNAP_TYPE_END or when a section is
 * already open, -E2BIG past SNAP_MAX_SECTIONS. Duplicate (type, instance)
 * pairs are refused by a committing snap_writer_close().
 *
 * Every failure of begin/append/end is remembered: the writer can then only
 * be discarded, and a committing close returns the first failure with its
 * message.
 */
int snap_section_begin(struct snap_writer *w, uint32_t type, uint32_t instance)
	__attribute__((warn_unused_result));
/* Append len bytes to the open section (len 0 is fine). -EINVAL with no open section. */
int snap_section_append(struct snap_writer *w, const void *data, size_t len)
	__attribute__((warn_unused_result));
/* Close the open section: its length and CRCs are patched in, padding written. */
int snap_section_end(struct snap_writer *w) __attribute__((warn_unused_result));
/* Convenience: begin + append + end. */
int snap_write_section(struct snap_writer *w, uint32_t type, uint32_t instance, const void *data,
		       size_t len) __attribute__((warn_unused_result));

/*
 * commit: write the end marker, fsync, rename PATH.tmp over PATH, fsync the
 * directory. Refused (and discarded) if a section is still open, a
 * (type, instance) pair was written twice, or any earlier call failed.
 * !commit: discard, unlinking PATH.tmp; PATH is left as it was.
 * 0 or -errno (err filled). Frees w, whatever the result. w may be NULL.
 */
int snap_writer_close(struct snap_writer *w, bool commit, char *err, size_t errlen);

/*
 * Map and validate the whole file. 0, or -errno with a message naming the
 * file and what is wrong (the section index, type, instance and offset where
 * one is concerned):
 *   -ENOENT, -EACCES, ...  the file cannot be opened or mapped
 *   -ENOTSUP                a version other than SNAP_VERSION
 *   -EBADMSG                a CRC mismatch (section header or data)
 *   -EINVAL                 anything else: empty, truncated, bad magic,
 *                           bad length, non-zero padding or reserved
 *                           field, duplicate section, trailing bytes
 * On failure *out is NULL and nothing stays mapped.
 */
int snap_reader_open(struct snap_reader **out, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The section of this type and instance: 0 with *data and *len (either may
 * be NULL) pointing into the mapping, or -ENOENT.
 */
int snap_reader_find(const struct snap_reader *r, uint32_t type, uint32_t instance,
		     const void **data, uint64_t *len);

/* Iterate: the i-th section in file order, or -ENOENT past the end. Outputs may be NULL. */
int snap_reader_section(const struct snap_reader *r, unsigned int i, uint32_t *type,
			uint32_t *instance, const void **data, uint64_t *len);

/* The number of sections. */
unsigned int snap_reader_count(const struct snap_reader *r);

/* Unmap and free; every pointer the reader handed out becomes invalid. r may be NULL. */
void snap_reader_close(struct snap_reader *r);

#endif
