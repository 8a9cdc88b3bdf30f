/* Reset controls.
 *
 * 0xcf9, Reset Control Register (Intel I/O Controller Hub datasheets, e.g.
 * ICH9 §13.7.5 "RST_CNT"): bit 1 SYS_RST picks a hard (1) or soft (0) reset,
 * bit 2 RST_CPU starts it "when this bit transitions from 0 to 1", bit 3
 * FULL_RST asks for a power cycle. isola has one kind of reset (the VM is
 * rebuilt or stopped, per --on-reset), so all of them request it; the other
 * bits are stored and read back. Linux's reboot=pci writes SYS_RST first and
 * then SYS_RST|RST_CPU, which is a 0 -> 1 transition.
 *
 * i8042 (IBM PC/AT keyboard controller, "8042 commands"): command 0xfe, and
 * generally 0xf0-0xff with bit 0 clear, pulses output-port bit 0, the CPU
 * reset line; command 0xd1 ("write output port") followed by a data byte with
 * bit 0 clear holds it low. Both reset. There is no keyboard behind it: the
 * status register always says both buffers are empty (so a guest's kb_wait()
 * loop ends at once), the system flag is set (self-test passed), and the data
 * port reads 0. Other commands are taken and ignored, with no reply; the
 * firmware tables should not announce an i8042 (ACPI FADT IAPC_BOOT_ARCH bit 1
 * clear), so Linux's i8042 driver does not probe it. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "devices/reset.h"
#include "snapshot.h"
#include "vm.h"

#define CF9_SYS_RST      0x02
#define CF9_RST_CPU      0x04
#define CF9_FULL_RST     0x08

#define I8042_STR_SYS    0x04 /* system flag: self-test passed */
#define I8042_STR_CMD    0x08 /* last write went to the command port */
#define I8042_STR_UNLOCK 0x10 /* keyboard not inhibited */
#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_CMD_PULSE_FIRST  0xf0 /* 0xf0-0xff: pulse output bits whose mask bit is 0 */
#define I8042_OUT_RESET  0x01 /* output port bit 0: CPU reset, active low */

struct reset_dev {
	struct device dev;
	struct vm *vm;

	/* Protects the fields below: two vCPUs may write these ports at once. */
	pthread_mutex_t lock;
	uint8_t cf9;
	bool i8042_last_cmd;      /* status bit 3 */
	uint8_t i8042_pending;    /* command waiting for its data byte, or 0 */
};

static struct reset_dev *to_reset(struct device *dev)
{
	return dev->state;
}

/* Returns true if the write requests a reset. */
static bool reset_write_cf9(struct reset_dev *d, uint8_t val)
{
	bool rise = (val & CF9_RST_CPU) && !(d->cf9 & CF9_RST_CPU);
	d->cf9 = val;
	return rise;
}

static bool reset_write_i8042_cmd(struct reset_dev *d, uint8_t cmd)
{
	d->i8042_last_cmd = true;
	d->i8042_pending = 0;
	if (cmd >= I8042_CMD_PULSE_FIRST)
		return !(cmd & I8042_OUT_RESET);
	if (cmd == I8042_CMD_WRITE_OUTPUT)
		d->i8042_pending = cmd;
	return false;
}

static bool reset_write_i8042_data(struct reset_dev *d, uint8_t val)
{
	bool reset = d->i8042_pending == I8042_CMD_WRITE_OUTPUT && !(val & I8042_OUT_RESET);
	d->i8042_last_cmd = false;
	d->i8042_pending = 0;
	return reset;
}

static uint64_t reset_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct reset_dev *d = to_reset(dev);
	uint64_t v = 0;

	pthread_mutex_lock(&d->lock);
	switch (region) {
	case RESET_REGION_CF9:
		v = d->cf9;
		break;
	case RESET_REGION_I8042_CMD:
		v = I8042_STR_SYS | I8042_STR_UNLOCK | (d->i8042_last_cmd ? I8042_STR_CMD : 0);
		break;
	default:
		v = 0; /* no keyboard: the output buffer is empty */
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void reset_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
			uint64_t val)
{
	struct reset_dev *d = to_reset(dev);
	uint8_t b = (uint8_t)val; /* each range is one port wide: size is 1 */
	bool reset;

	pthread_mutex_lock(&d->lock);
	switch (region) {
	case RESET_REGION_CF9:
		reset = reset_write_cf9(d, b);
		break;
	case RESET_REGION_I8042_CMD:
		reset = reset_write_i8042_cmd(d, b);
		break;
	default:
		reset = reset_write_i8042_data(d, b);
		break;
	}
	pthread_mutex_unlock(&d->lock);
	if (reset)
		vm_request_reset(d->vm); /* outside the lock: it may kick vCPUs */
}

/* Power-on state: RST_CNT is 0 after reset (ICH9 §13.7.5 default 00h). */
static void reset_reset(struct device *dev)
{
	struct reset_dev *d = to_reset(dev);
	pthread_mutex_lock(&d->lock);
	d->cf9 = 0;
	d->i8042_last_cmd = false;
	d->i8042_pending = 0;
	pthread_mutex_unlock(&d->lock);
}

#define RESET_SNAP_VERSION 1

static int reset_save(struct device *dev, struct snap_writer *w)
{
	struct reset_dev *d = to_reset(dev);
	pthread_mutex_lock(&d->lock);
	snap_begin(w, "RSET", RESET_SNAP_VERSION);
	snap_u8(w, d->cf9);
	snap_u8(w, d->i8042_last_cmd);
	snap_u8(w, d->i8042_pending);
	snap_end(w);
	pthread_mutex_unlock(&d->lock);
	return w->error;
}

static int reset_restore(struct device *dev, struct snap_reader *r)
{
	struct reset_dev *d = to_reset(dev);
	uint32_t version;
	int rc = snap_open(r, "RSET", &version);
	if (rc)
		return rc;
	if (version != RESET_SNAP_VERSION)
		return -ENOTSUP;
	uint8_t cf9 = snap_get_u8(r), last_cmd = snap_get_u8(r), pending = snap_get_u8(r);
	if (r->error)
		return r->error;
	if (pending != 0 && pending != I8042_CMD_WRITE_OUTPUT)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->cf9 = cf9;
	d->i8042_last_cmd = last_cmd != 0;
	d->i8042_pending = pending;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void reset_destroy(struct device *dev)
{
	struct reset_dev *d = to_reset(dev);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct device_ops reset_ops = {
	.name = "reset",
	.read = reset_read,
	.write = reset_write,
	.reset = reset_reset,
	.save = reset_save,
	.restore = reset_restore,
	.destroy = reset_destroy,
};

struct device *reset_create(struct vm *vm)
{
	struct reset_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (pthread_mutex_init(&d->lock, NULL)) {
		free(d);
		return NULL;
	}
	d->vm = vm;
	d->dev.ops = &reset_ops;
	d->dev.state = d;
	return &d->dev;
}

int reset_attach(struct vm *vm, struct device **out)
{
	struct device *dev = reset_create(vm);
	if (!dev)
		return -ENOMEM;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	int rc = bus_register(&vm->pio, PORT_RESET_CF9, 1, dev, RESET_REGION_CF9);
	if (!rc)
		rc = bus_register(&vm->pio, PORT_I8042_DATA, 1, dev, RESET_REGION_I8042_DATA);
	if (!rc)
		rc = bus_register(&vm->pio, PORT_I8042_CMD, 1, dev, RESET_REGION_I8042_CMD);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}
