/* A device: an ops table that is never written at run time, and an instance
 * that carries all of the device's state (no globals).
 *
 * The bus calls read/write with the offset inside the registered range and the
 * region index given at registration (for devices with several ranges). size is
 * 1, 2, 4 or 8. Handlers run on vCPU threads; a device whose state is also
 * touched by the event loop or another vCPU protects it with its own lock. */
#ifndef ISOLA_DEVICE_H
#define ISOLA_DEVICE_H

#include <stdint.h>

struct device;
struct snap_writer;
struct snap_reader;

struct device_ops {
	const char *name;
	uint64_t (*read)(struct device *dev, unsigned region, uint64_t off, unsigned size);
	void (*write)(struct device *dev, unsigned region, uint64_t off, unsigned size, uint64_t val);
	void (*reset)(struct device *dev);                /* system reset */
	int (*save)(struct device *dev, struct snap_writer *w);     /* 0 or -errno */
	int (*restore)(struct device *dev, struct snap_reader *r);  /* 0 or -errno */
	void (*destroy)(struct device *dev);              /* frees dev->state */
};

struct device {
	const struct device_ops *ops;
	void *state;           /* the device's own struct */
	struct device *next;   /* the VM's list of devices, in creation order */
};

#endif
