/* One bus type, two instances: port I/O and MMIO.
 *
 * Ranges are registered while the VM is built, before any vCPU runs, and never
 * change afterwards, so lookups need no lock (vCPU threads only read). A device
 * that needs mutual exclusion between vCPUs and the event loop takes its own
 * lock. An access nobody claims reads as all-ones and writes are dropped; it is
 * counted, logged (rate-limited) when log_unclaimed is set, and never stops
 * the VM. Logging is opt-in because guests probe for absent hardware as a
 * matter of course (Linux: PCI config ports, port 0x80, COM2-4). */
#ifndef ISOLA_BUS_H
#define ISOLA_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct device;

struct bus_range {
	uint64_t base, len;
	struct device *dev;
	unsigned region; /* which of the device's ranges this is, passed back to it */
};

struct bus {
	const char *name; /* "pio" or "mmio", for log lines */
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	int nr, cap;
	uint64_t unclaimed; /* count of unclaimed accesses */
	bool log_unclaimed; /* log them (rate-limited) */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* Claim [base, base+len) for dev. -EINVAL for len 0 or overflow past 2^64,
 * -EEXIST if it overlaps a registered range, -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, struct device *dev,
		 unsigned region) __attribute__((warn_unused_result));

/* Dispatch one access of size 1, 2, 4 or 8 bytes. data is little-endian guest
 * data (read: filled in; write: consumed). Returns true if a device claimed it.
 * An access that does not fit entirely in one range is unclaimed. */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

/* The range that holds addr, or NULL (for tests and diagnostics). */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

#endif
