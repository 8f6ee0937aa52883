/* SPDX-License-Identifier: MIT */
/*
 * An address-range map for port I/O or MMIO: devices claim [base, base+len)
 * and get accesses with the offset into their range. Overlapping ranges are
 * refused. Unclaimed reads return all ones; unclaimed writes are dropped.
 */
#ifndef LMIG_VMM_BUS_H
#define LMIG_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* len is 1, 2, 4 or 8; off + len <= the device's range length. */
	void (*read)(void *opaque, uint64_t off, uint8_t *data, unsigned int len);
	void (*write)(void *opaque, uint64_t off, const uint8_t *data, unsigned int len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

#define BUS_MAX_RANGES 32

struct bus {
	const char *name; /* "pio" or "mmio", for log messages */
	struct bus_range ranges[BUS_MAX_RANGES]; /* sorted by base */
	unsigned int nr_ranges;
};

void bus_init(struct bus *bus, const char *name);

/* 0, -EINVAL (zero length or wraps), -EEXIST (overlap) or -ENOSPC. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name) __attribute__((warn_unused_result));

/*
 * Dispatch an access. An access must fall wholly inside one device's range;
 * one that is unclaimed or straddles a range's end is treated as unclaimed.
 * Return true when a device handled it. On an unclaimed read `data` is set
 * to all ones.
 */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, unsigned int len);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, unsigned int len);

#endif
