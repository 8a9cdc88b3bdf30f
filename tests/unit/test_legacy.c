/* ACPI PM1 registers, the reset controls and the debug-exit port, driven
 * through their ops and, for the attach helpers, through a real pio bus. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/reset.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"
#include "snapshot.h"
#include "unit.h"
#include "vm.h"

/* struct vm is large; tests use a zeroed one with no stop eventfd. */
static struct vm *test_vm(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (vm)
		vm->stop_efd = -1;
	return vm;
}

static void destroy_devices(struct vm *vm)
{
	for (struct device *d = vm->devices, *next; d; d = next) {
		next = d->next;
		d->ops->destroy(d);
	}
	vm->devices = NULL;
}

struct level_rec {
	int level, calls;
};

static int rec_level(void *opaque, unsigned gsi, int level)
{
	struct level_rec *r = opaque;
	r->level = level;
	r->calls++;
	return 0;
}

TEST(acpi_pm_s5_powers_off)
{
	struct vm *vm = test_vm();
	struct device *pm = acpi_pm_create(vm, NULL);
	CHECK(vm && pm);
	pm->ops->write(pm, 0, 4, 2, (ACPI_S5_SLP_TYP << 10)); /* SLP_TYP alone */
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	CHECK_EQ(pm->ops->read(pm, 0, 4, 2), (ACPI_S5_SLP_TYP << 10) | 1);
	pm->ops->write(pm, 0, 4, 2, (ACPI_S5_SLP_TYP << 10) | ACPI_PM1_CNT_SLP_EN);
	CHECK_EQ(vm->stop_reason, VM_STOP_POWEROFF);
	CHECK_EQ(vm->stop_status, 0);
	CHECK_EQ(pm->ops->read(pm, 0, 4, 2) & ACPI_PM1_CNT_SLP_EN, 0); /* write-only */
	pm->ops->destroy(pm);
	free(vm);

	/* The high byte alone carries SLP_TYP and SLP_EN. */
	vm = test_vm();
	pm = acpi_pm_create(vm, NULL);
	pm->ops->write(pm, 0, 5, 1, (ACPI_S5_SLP_TYP << 2) | 0x20);
	CHECK_EQ(vm->stop_reason, VM_STOP_POWEROFF);
	pm->ops->destroy(pm);
	free(vm);

	/* And so does a 32-bit write of the whole control dword. */
	vm = test_vm();
	pm = acpi_pm_create(vm, NULL);
	pm->ops->write(pm, 0, 4, 4, (ACPI_S5_SLP_TYP << 10) | ACPI_PM1_CNT_SLP_EN);
	CHECK_EQ(vm->stop_reason, VM_STOP_POWEROFF);
	pm->ops->destroy(pm);
	free(vm);
}

TEST(acpi_pm_other_sleep_types_ignored)
{
	struct vm *vm = test_vm();
	struct device *pm = acpi_pm_create(vm, NULL);
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_S5_SLP_TYP)
			continue;
		pm->ops->write(pm, 0, 4, 2, (typ << 10) | ACPI_PM1_CNT_SLP_EN);
	}
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	/* SLP_TYP = S5 stored earlier, then a low-byte write: no SLP_EN there. */
	pm->ops->write(pm, 0, 4, 2, ACPI_S5_SLP_TYP << 10);
	pm->ops->write(pm, 0, 4, 1, 0xff);
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	pm->ops->destroy(pm);
	free(vm);
}

TEST(acpi_pm_status_w1c_and_sci)
{
	struct vm *vm = test_vm();
	struct level_rec rec = { 0 };
	struct irq_router router = { .set_level = rec_level, .opaque = &rec };
	struct irq_line sci = { .router = &router, .gsi = IRQ_ACPI_SCI };
	struct device *pm = acpi_pm_create(vm, &sci);

	acpi_pm_power_button(pm);
	CHECK_EQ(pm->ops->read(pm, 0, 0, 2), 0x0100);
	CHECK_EQ(rec.level, 0); /* PWRBTN_EN is off */
	pm->ops->write(pm, 0, 2, 2, 0x0100);
	CHECK_EQ(pm->ops->read(pm, 0, 2, 2), 0x0100);
	CHECK_EQ(rec.level, 1);
	pm->ops->write(pm, 0, 0, 2, 0x0000); /* writing 0 changes nothing */
	CHECK_EQ(pm->ops->read(pm, 0, 0, 2), 0x0100);
	pm->ops->write(pm, 0, 0, 1, 0xff);   /* the low byte does not hold it */
	CHECK_EQ(pm->ops->read(pm, 0, 1, 1), 0x01);
	pm->ops->write(pm, 0, 1, 1, 0x01);   /* W1C through the high byte */
	CHECK_EQ(pm->ops->read(pm, 0, 0, 2), 0);
	CHECK_EQ(rec.level, 0);
	/* A 32-bit read spans status and enable. */
	CHECK_EQ(pm->ops->read(pm, 0, 0, 4), 0x01000000);
	CHECK_EQ(pm->ops->read(pm, 0, 4, 1) & 1, 1); /* SCI_EN: ACPI mode */
	CHECK_EQ(pm->ops->read(pm, 0, 6, 2), 0);
	/* A 32-bit write at 0 writes status (W1C) and enable together. */
	acpi_pm_power_button(pm);
	CHECK_EQ(rec.level, 1);
	pm->ops->write(pm, 0, 0, 4, 0x00000100);
	CHECK_EQ(rec.level, 0);
	CHECK_EQ(pm->ops->read(pm, 0, 2, 2), 0);
	pm->ops->reset(pm);
	CHECK_EQ(pm->ops->read(pm, 0, 0, 8), 0x0000000100000000ull);
	pm->ops->destroy(pm);
	free(vm);
}

TEST(acpi_pm_snapshot_roundtrip)
{
	struct vm *vm = test_vm();
	struct device *a = acpi_pm_create(vm, NULL), *b = acpi_pm_create(vm, NULL);
	a->ops->write(a, 0, 2, 2, 0x0120);
	a->ops->write(a, 0, 4, 2, 0x0c02);
	acpi_pm_power_button(a);
	struct snap_writer w;
	snap_writer_init(&w);
	CHECK_EQ(a->ops->save(a, &w), 0);
	CHECK_EQ(snap_finish(&w), 0);
	struct snap_reader r;
	CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
	CHECK_EQ(b->ops->restore(b, &r), 0);
	CHECK_EQ(b->ops->read(b, 0, 0, 4), 0x01200100);
	CHECK_EQ(b->ops->read(b, 0, 4, 2), 0x0c03);
	snap_writer_free(&w);
	a->ops->destroy(a);
	b->ops->destroy(b);
	free(vm);
}

TEST(reset_cf9)
{
	struct vm *vm = test_vm();
	struct device *d = reset_create(vm);
	d->ops->write(d, RESET_REGION_CF9, 0, 1, 0x02); /* SYS_RST: picks hard reset */
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	CHECK_EQ(d->ops->read(d, RESET_REGION_CF9, 0, 1), 0x02);
	d->ops->write(d, RESET_REGION_CF9, 0, 1, 0x06); /* RST_CPU 0 -> 1 */
	CHECK_EQ(vm->stop_reason, VM_STOP_RESET);
	CHECK_EQ(d->ops->read(d, RESET_REGION_CF9, 0, 1), 0x06);
	d->ops->destroy(d);
	free(vm);

	vm = test_vm();
	d = reset_create(vm);
	d->ops->write(d, RESET_REGION_CF9, 0, 1, 0xf9); /* bit 2 clear: stored only */
	CHECK_EQ(d->ops->read(d, RESET_REGION_CF9, 0, 1), 0xf9);
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	d->ops->reset(d);
	CHECK_EQ(d->ops->read(d, RESET_REGION_CF9, 0, 1), 0);
	d->ops->write(d, RESET_REGION_CF9, 0, 1, 0x04);
	CHECK_EQ(vm->stop_reason, VM_STOP_RESET);
	d->ops->destroy(d);
	free(vm);
}

TEST(reset_i8042)
{
	struct vm *vm = test_vm();
	struct device *d = reset_create(vm);
	uint8_t st = (uint8_t)d->ops->read(d, RESET_REGION_I8042_CMD, 0, 1);
	CHECK_EQ(st & 0x03, 0); /* output and input buffers empty */
	CHECK_EQ(st & 0x04, 0x04); /* system flag */
	CHECK_EQ(d->ops->read(d, RESET_REGION_I8042_DATA, 0, 1), 0);
	d->ops->write(d, RESET_REGION_I8042_CMD, 0, 1, 0xaa); /* self-test: ignored */
	CHECK_EQ(d->ops->read(d, RESET_REGION_I8042_CMD, 0, 1) & 0x0b, 0x08); /* last: cmd */
	d->ops->write(d, RESET_REGION_I8042_CMD, 0, 1, 0xff); /* pulse nothing */
	d->ops->write(d, RESET_REGION_I8042_CMD, 0, 1, 0xd1); /* write output port: */
	d->ops->write(d, RESET_REGION_I8042_DATA, 0, 1, 0xdf); /* reset line high */
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	CHECK_EQ(d->ops->read(d, RESET_REGION_I8042_CMD, 0, 1) & 0x08, 0);
	d->ops->write(d, RESET_REGION_I8042_CMD, 0, 1, 0xfe); /* pulse reset */
	CHECK_EQ(vm->stop_reason, VM_STOP_RESET);
	d->ops->destroy(d);
	free(vm);

	vm = test_vm();
	d = reset_create(vm);
	d->ops->write(d, RESET_REGION_I8042_CMD, 0, 1, 0xd1);
	d->ops->write(d, RESET_REGION_I8042_DATA, 0, 1, 0xfe); /* reset line low */
	CHECK_EQ(vm->stop_reason, VM_STOP_RESET);
	d->ops->destroy(d);
	free(vm);
}

TEST(debug_exit_status_mapping)
{
	CHECK_EQ(debug_exit_status(0), 1);
	CHECK_EQ(debug_exit_status(0x10), 0x21);
	CHECK_EQ(debug_exit_status(0x7f), 0xff);
	CHECK_EQ(debug_exit_status(0x80), 0x01);

	struct vm *vm = test_vm();
	struct device *d = debug_exit_create(vm);
	CHECK_EQ(d->ops->read(d, 0, 0, 1), 0);
	d->ops->write(d, 0, 1, 1, 0x33); /* not the status port */
	CHECK_EQ(vm->stop_reason, VM_RUNNING);
	d->ops->write(d, 0, 0, 4, 0x12345602); /* low byte is the status */
	CHECK_EQ(vm->stop_reason, VM_STOP_DEBUG_EXIT);
	CHECK_EQ(vm->stop_status, 5);
	d->ops->destroy(d);
	free(vm);
}

TEST(legacy_attach_on_the_pio_bus)
{
	struct vm *vm = test_vm();
	CHECK(vm != NULL);
	if (!vm)
		return;
	bus_init(&vm->pio, "pio");
	struct device *uart = NULL;
	CHECK_EQ(uart16550_attach(vm, PORT_COM1, IRQ_COM1, NULL, &uart), 0);
	CHECK_EQ(rtc_attach(vm, NULL), 0);
	CHECK_EQ(reset_attach(vm, NULL), 0);
	CHECK_EQ(acpi_pm_attach(vm, NULL), 0);
	CHECK_EQ(debug_exit_attach(vm, NULL), 0);
	CHECK(uart != NULL);
	CHECK_EQ(debug_exit_attach(vm, NULL), -EEXIST); /* the port is taken */

	uint8_t b = 'Z';
	CHECK(bus_access(&vm->pio, PORT_COM1, &b, 1, true));
	CHECK_EQ(uart16550_tx_pending(uart), 1);
	CHECK(bus_access(&vm->pio, PORT_COM1 + 5, &b, 1, false));
	CHECK_EQ(b, 0x60);
	CHECK(bus_access(&vm->pio, PORT_I8042_CMD, &b, 1, false));
	CHECK_EQ(b & 0x03, 0);
	b = 0x0d;
	CHECK(bus_access(&vm->pio, PORT_RTC, &b, 1, true));
	CHECK(bus_access(&vm->pio, PORT_RTC + 1, &b, 1, false));
	CHECK_EQ(b, 0x80);
	uint8_t w[2] = { 0x00, 0x20 | (ACPI_S5_SLP_TYP << 2) };
	CHECK(bus_access(&vm->pio, PORT_ACPI_PM1_CNT, w, 2, true));
	CHECK_EQ(vm->stop_reason, VM_STOP_POWEROFF);
	uint8_t d[4] = { 7, 0, 0, 0 };
	CHECK(bus_access(&vm->pio, PORT_DEBUG_EXIT, d, 4, true)); /* too late: first wins */
	CHECK_EQ(vm->stop_status, 0);

	int n = 0;
	for (struct device *dev = vm->devices; dev; dev = dev->next)
		n++;
	CHECK_EQ(n, 6);
	destroy_devices(vm);
	bus_destroy(&vm->pio);
	free(vm);
}

/* xorshift64*: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* A hostile guest: random sizes, ports and values on every legacy port, with
 * the host pushing and draining the UART in between. Nothing may crash (run
 * under ASan/UBSan by make test-asan), and what the guest reads back must
 * stay within what the hardware can show. */
TEST(legacy_random_accesses_stay_sane)
{
	struct vm *vm = test_vm();
	CHECK(vm != NULL);
	if (!vm)
		return;
	bus_init(&vm->pio, "pio");
	struct device *uart = NULL;
	CHECK_EQ(uart16550_attach(vm, PORT_COM1, IRQ_COM1, NULL, &uart), 0);
	CHECK_EQ(rtc_attach(vm, NULL), 0);
	CHECK_EQ(reset_attach(vm, NULL), 0);
	CHECK_EQ(acpi_pm_attach(vm, NULL), 0);
	if (!uart)
		return;
	static const struct { uint16_t base, len; } ports[] = {
		{ PORT_COM1, 8 }, { PORT_RTC, 2 }, { PORT_RESET_CF9, 1 },
		{ PORT_I8042_DATA, 1 }, { PORT_I8042_CMD, 1 }, { PORT_ACPI_PM, PORT_ACPI_PM_LEN },
	};
	uint64_t s = 0x1234567887654321ull;
	unsigned bad = 0;
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rnd(&s);
		unsigned p = (unsigned)(r % 6), size = 1u << ((r >> 8) % 4);
		if (size > ports[p].len)
			size = 1;
		uint16_t port = (uint16_t)(ports[p].base + (r >> 16) % (ports[p].len - size + 1));
		uint8_t data[8];
		uint64_t v = rnd(&s);
		memcpy(data, &v, sizeof(data));
		bool write = (r >> 40) & 1;
		CHECK(bus_access(&vm->pio, port, data, size, write));
		if (!write && port == PORT_COM1 + 2 && size == 1 && (data[0] & 0x30))
			bad++; /* IIR bits 5:4 are 0 on a 16550A */
		if (!write && port == PORT_COM1 + 5 && size == 1 && (data[0] & 0x80))
			bad++; /* no parity/framing errors are ever received */
		if ((r >> 41) % 64 == 0) {
			uint8_t buf[64];
			uart16550_tx_drain(uart, buf, (r >> 48) % sizeof(buf));
		}
		if ((r >> 41) % 64 == 1)
			uart16550_rx_push(uart, data, (r >> 48) % 8);
		if (vm->stop_reason != VM_RUNNING)
			vm->stop_reason = VM_RUNNING; /* keep going after a reset/power-off */
	}
	CHECK_EQ(bad, 0);
	destroy_devices(vm);
	bus_destroy(&vm->pio);
	free(vm);
}

/* A corrupt snapshot section (right tag and CRC, garbage body) is refused or
 * taken within bounds, never read past or trusted for sizes. */
TEST(legacy_garbage_snapshots_refused)
{
	struct vm *vm = test_vm();
	struct device *devs[] = { uart16550_create(NULL, NULL), rtc_create(NULL, NULL, NULL),
				  reset_create(vm), acpi_pm_create(vm, NULL) };
	static const char *tags[] = { "UART", "RTC ", "RSET", "PM1A" };
	uint64_t s = 42;
	for (int round = 0; round < 2000; round++) {
		unsigned k = (unsigned)(round % 4);
		uint8_t body[160];
		size_t n = rnd(&s) % sizeof(body);
		for (size_t i = 0; i < n; i++)
			body[i] = (uint8_t)rnd(&s);
		if (k == 0 && n > 16) {
			body[11] = (uint8_t)(rnd(&s) % 20); /* rx count near the limit */
			body[12 + body[11]] = 0xff;         /* a huge tx count */
		}
		struct snap_writer w;
		snap_writer_init(&w);
		snap_begin(&w, tags[k], 1);
		snap_bytes(&w, body, n);
		snap_end(&w);
		CHECK_EQ(snap_finish(&w), 0);
		struct snap_reader r;
		CHECK_EQ(snap_reader_init(&r, w.buf, w.len), 0);
		(void)devs[k]->ops->restore(devs[k], &r);
		/* Whatever was taken, the registers still hold only what the
		 * hardware can: restore masks each field. */
		struct device *d = devs[k];
		switch (k) {
		case 0:
			d->ops->write(d, 0, 3, 1, 0x03); /* DLAB off: offset 1 is IER */
			CHECK_EQ(d->ops->read(d, 0, 1, 1) & 0xf0, 0);
			CHECK_EQ(d->ops->read(d, 0, 4, 1) & 0xe0, 0); /* MCR */
			CHECK_EQ(d->ops->read(d, 0, 5, 1) & 0x80, 0); /* LSR */
			break;
		case 1:
			d->ops->write(d, 0, 0, 1, 0x0d);
			CHECK_EQ(d->ops->read(d, 0, 1, 1), 0x80);
			break;
		case 2:
			CHECK_EQ(d->ops->read(d, RESET_REGION_I8042_CMD, 0, 1) & 0x03, 0);
			break;
		default:
			CHECK_EQ(d->ops->read(d, 0, 4, 1) & 0x01, 0x01);
			CHECK_EQ(d->ops->read(d, 0, 2, 2) & ~0x4721ull, 0);
			break;
		}
		snap_writer_free(&w);
	}
	for (unsigned k = 0; k < 4; k++)
		devs[k]->ops->destroy(devs[k]);
	free(vm);
}
