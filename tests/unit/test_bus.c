/* The PIO/MMIO bus: registration checks and dispatch. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "device.h"
#include "unit.h"

struct fake_dev {
	uint64_t last_off, last_val;
	unsigned last_region, last_size, writes;
};

static uint64_t fake_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct fake_dev *f = dev->state;
	f->last_off = off;
	f->last_region = region;
	return 0x1122334455667788ull;
}

static void fake_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
		       uint64_t val)
{
	struct fake_dev *f = dev->state;
	f->last_off = off;
	f->last_val = val;
	f->last_size = size;
	f->last_region = region;
	f->writes++;
}

static const struct device_ops fake_ops = { .name = "fake", .read = fake_read, .write = fake_write };

TEST(bus_register_checks)
{
	struct bus b;
	struct fake_dev f = { 0 };
	struct device d = { .ops = &fake_ops, .state = &f };
	bus_init(&b, "test");
	CHECK_EQ(bus_register(&b, 0x100, 0, &d, 0), -EINVAL);            /* zero length */
	CHECK_EQ(bus_register(&b, UINT64_MAX - 1, 4, &d, 0), -EINVAL);   /* wraps */
	CHECK_EQ(bus_register(&b, 0x100, 8, &d, 0), 0);
	CHECK_EQ(bus_register(&b, 0x107, 1, &d, 0), -EEXIST);            /* last byte */
	CHECK_EQ(bus_register(&b, 0xf8, 9, &d, 0), -EEXIST);             /* first byte */
	CHECK_EQ(bus_register(&b, 0x0, 0x1000, &d, 0), -EEXIST);         /* covers it */
	CHECK_EQ(bus_register(&b, 0x108, 8, &d, 1), 0);                  /* adjacent */
	CHECK_EQ(bus_register(&b, 0xf8, 8, &d, 2), 0);                   /* adjacent below */
	CHECK_EQ(bus_register(&b, UINT64_MAX, 1, &d, 3), 0);             /* the very top */
	CHECK_EQ(b.nr, 4);
	for (int i = 1; i < b.nr; i++)
		CHECK(b.ranges[i - 1].base < b.ranges[i].base);
	bus_destroy(&b);
}

TEST(bus_dispatch)
{
	struct bus b;
	struct fake_dev f = { 0 };
	struct device d = { .ops = &fake_ops, .state = &f };
	bus_init(&b, "test");
	CHECK_EQ(bus_register(&b, 0x3f8, 8, &d, 7), 0);
	uint8_t data[8] = { 0xab, 0xcd };
	CHECK(bus_access(&b, 0x3fb, data, 2, true));
	CHECK_EQ(f.last_off, 3);
	CHECK_EQ(f.last_val, 0xcdab);
	CHECK_EQ(f.last_region, 7);
	memset(data, 0, sizeof(data));
	CHECK(bus_access(&b, 0x3f8, data, 4, false));
	CHECK_EQ(data[0], 0x88);
	CHECK_EQ(data[3], 0x55);
	CHECK_EQ(data[4], 0); /* only `size` bytes are written */
	bus_destroy(&b);
}

TEST(bus_unclaimed)
{
	struct bus b;
	struct fake_dev f = { 0 };
	struct device d = { .ops = &fake_ops, .state = &f };
	bus_init(&b, "test");
	b.log_unclaimed = true;
	CHECK_EQ(bus_register(&b, 0x3f8, 8, &d, 0), 0);
	uint8_t data[8] = { 0 };
	CHECK(!bus_access(&b, 0x80, data, 4, false));
	CHECK_EQ(data[0], 0xff);
	CHECK_EQ(data[3], 0xff);
	CHECK(!bus_access(&b, 0x3fe, data, 4, true)); /* runs past the range's end */
	CHECK_EQ(f.writes, 0);
	CHECK(!bus_access(&b, 0x3f8, data, 3, true)); /* odd size */
	CHECK_EQ(f.writes, 0);
	CHECK_EQ(b.unclaimed, 3);
	bus_destroy(&b);
}
