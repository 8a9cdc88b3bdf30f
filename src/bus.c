/* PIO/MMIO range registry and dispatch (see bus.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "device.h"
#include "log.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
}

/* Index of the first range whose base is > addr (upper bound). */
static int bus_upper(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->nr;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	int i = bus_upper(bus, addr) - 1;
	if (i < 0)
		return NULL;
	const struct bus_range *r = &bus->ranges[i];
	return addr - r->base < r->len ? r : NULL;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, struct device *dev,
		 unsigned region)
{
	if (len == 0 || len - 1 > UINT64_MAX - base || !dev)
		return -EINVAL;
	uint64_t last = base + len - 1;
	int i = bus_upper(bus, base);
	/* Overlap with the range before (it may extend over base) or after. */
	if (i > 0 && bus->ranges[i - 1].base + (bus->ranges[i - 1].len - 1) >= base)
		return -EEXIST;
	if (i < bus->nr && bus->ranges[i].base <= last)
		return -EEXIST;
	if (bus->nr == bus->cap) {
		int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct bus_range){ .base = base, .len = len, .dev = dev, .region = region };
	bus->nr++;
	return 0;
}

static struct ratelimit bus_unclaimed_rl = RATELIMIT_INIT(10);

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	bool fits = r && size <= r->len - (addr - r->base);
	if (!fits || (size != 1 && size != 2 && size != 4 && size != 8)) {
		__atomic_add_fetch(&bus->unclaimed, 1, __ATOMIC_RELAXED);
		if (bus->log_unclaimed)
			log_ratelimited(&bus_unclaimed_rl, "%s: unclaimed %s of %u bytes at 0x%llx",
					bus->name, is_write ? "write" : "read", size,
					(unsigned long long)addr);
		if (!is_write)
			memset(data, 0xff, size <= 8 ? size : 8);
		return false;
	}
	const struct device_ops *ops = r->dev->ops;
	uint64_t off = addr - r->base;
	if (is_write) {
		uint64_t v = 0;
		memcpy(&v, data, size); /* x86 hosts are little-endian, like the guest */
		if (ops->write)
			ops->write(r->dev, r->region, off, size, v);
	} else {
		uint64_t v = ops->read ? ops->read(r->dev, r->region, off, size) : ~0ull;
		memcpy(data, &v, size);
	}
	return true;
}
