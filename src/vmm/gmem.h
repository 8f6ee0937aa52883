/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: a list of RAM banks, one KVM memslot each, and the one
 * checked way to reach guest-physical memory from the VMM.
 *
 * Every access goes through gmem_ptr()/gmem_read()/gmem_write() with an
 * address AND a length; the range must lie wholly inside one bank, and the
 * arithmetic is overflow-safe. Guest-supplied addresses are never turned
 * into host pointers any other way.
 */
#ifndef LMIG_VMM_GMEM_H
#define LMIG_VMM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_BANKS 4
#define GMEM_PAGE_SIZE 4096ULL
#define GMEM_HUGE_PAGE (2ULL << 20)

struct gmem_bank {
	uint64_t gpa;  /* first guest-physical address */
	uint64_t size; /* bytes, page-aligned */
	uint8_t *host; /* host mapping, NULL until gmem_map() */
};

struct gmem {
	struct gmem_bank banks[GMEM_MAX_BANKS];
	unsigned int nr_banks;
	uint64_t ram_size; /* sum of bank sizes */
	bool no_thp;	   /* gmem_map(): no MADV_HUGEPAGE (set before mapping) */
};

/*
 * Lay out `ram_size` bytes of RAM as banks around the 32-bit MMIO hole:
 * [0, min(ram, 3 GiB)) and, for the rest, [4 GiB, 4 GiB + rest).
 * Does not allocate. -EINVAL if ram_size is zero or not page-aligned.
 */
int gmem_layout(struct gmem *gm, uint64_t ram_size) __attribute__((warn_unused_result));

/*
 * mmap every bank (anonymous, private, MAP_NORESERVE), 2 MiB-aligned and,
 * unless no_thp, advised MADV_HUGEPAGE. -errno on failure.
 */
int gmem_map(struct gmem *gm) __attribute__((warn_unused_result));
void gmem_unmap(struct gmem *gm);

/*
 * Host pointer for [gpa, gpa + len) or NULL when any byte of it is not RAM
 * or the range wraps. len == 0 is allowed and checks gpa alone (it must be
 * inside a bank or at its end).
 */
void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len);

/* Copy out of / into guest memory. 0, or -EFAULT when the range is not RAM. */
int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, uint64_t len)
	__attribute__((warn_unused_result));
int gmem_write(struct gmem *gm, uint64_t gpa, const void *src, uint64_t len)
	__attribute__((warn_unused_result));

/* True when [gpa, gpa + len) is RAM (one bank). */
bool gmem_is_ram(const struct gmem *gm, uint64_t gpa, uint64_t len);

/* The end (exclusive) of the bank holding gpa, or 0 if gpa is not RAM. */
uint64_t gmem_bank_end(const struct gmem *gm, uint64_t gpa);

#endif
