/* SPDX-License-Identifier: MIT */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque, const char *name)
{
	unsigned int i, pos;

	if (len == 0 || base + len - 1 < base)
		return -EINVAL;
	if (bus->nr_ranges == BUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		/* Inclusive ends, so that a range reaching UINT64_MAX is handled. */
		if (base <= r->base + r->len - 1 && r->base <= base + len - 1)
			return -EEXIST;
	}
	for (pos = 0; pos < bus->nr_ranges && bus->ranges[pos].base < base; pos++)
		;
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){
		.base = base, .len = len, .ops = ops, .opaque = opaque, .name = name
	};
	bus->nr_ranges++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, unsigned int len)
{
	unsigned int lo = 0, hi = bus->nr_ranges;

	if (len == 0)
		return NULL;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* Found the range holding addr; the access must end inside it. */
			if (len - 1 > r->len - 1 - (addr - r->base))
				return NULL;
			return r;
		}
	}
	return NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, unsigned int len)
{
	const struct bus_range *r = bus_find(bus, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		if (!r)
			log_ratelimited(LOG_LEVEL_DEBUG, "%s: unclaimed read of %u bytes at 0x%llx",
					bus->name, len, (unsigned long long)addr);
		return r != NULL;
	}
	r->ops->read(r->opaque, addr - r->base, data, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, unsigned int len)
{
	const struct bus_range *r = bus_find(bus, addr, len);

	if (!r) {
		log_ratelimited(LOG_LEVEL_DEBUG, "%s: unclaimed write of %u bytes at 0x%llx",
				bus->name, len, (unsigned long long)addr);
		return false;
	}
	if (r->ops->write)
		r->ops->write(r->opaque, addr - r->base, data, len);
	return true;
}
