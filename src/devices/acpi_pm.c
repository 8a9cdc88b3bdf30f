/* ACPI PM1a event and control registers (ACPI 6.5 §4.8.3.1 "PM1 Event
 * Grouping", §4.8.3.2 "PM1 Control Grouping", Tables 4.13-4.16).
 *
 * Offsets in the 8-byte range: 0 PM1_STS, 2 PM1_EN, 4 PM1_CNT, 6-7 unused
 * (read 0). The registers are 16 bits wide, but the guest may use any size
 * at any offset: each byte of an access goes to the register it overlaps, and
 * a write changes only the bytes it covers (§4.8.3: accesses narrower than a
 * register are allowed by the generic register description).
 *
 * Sleep: SLP_EN (write-only, reads 0) starts the transition to the state in
 * SLP_TYP. S5 (soft off) stops the VM with VM_STOP_POWEROFF; isola has no
 * other sleep state, so other values are refused (logged, nothing happens)
 * and the guest goes on running, as it would on a board that ignores them. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

/* PM1_STS (Table 4.14), write 1 to clear. */
#define PM1_TMR_STS      0x0001
#define PM1_BM_STS       0x0010
#define PM1_GBL_STS      0x0020
#define PM1_PWRBTN_STS   0x0100
#define PM1_SLPBTN_STS   0x0200
#define PM1_RTC_STS      0x0400
#define PM1_PCIEXP_WAKE_STS 0x4000
#define PM1_WAK_STS      0x8000
#define PM1_STS_BITS     0xc731
/* PM1_EN (Table 4.15): the same positions enable the SCI. */
#define PM1_EN_BITS      0x4721
/* Status bits that raise the SCI when enabled (not BM_STS, WAK_STS). */
#define PM1_SCI_BITS     0x0721
/* PM1_CNT (Table 4.16). */
#define PM1_SCI_EN       0x0001
#define PM1_BM_RLD       0x0002
#define PM1_GBL_RLS      0x0004
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_TYP_MASK (7u << PM1_SLP_TYP_SHIFT)
#define PM1_CNT_STORED   (PM1_BM_RLD | PM1_SLP_TYP_MASK)

enum { PM1_STS = 0, PM1_EN = 1, PM1_CNT = 2, PM1_NR_REGS = 3 };

struct acpi_pm {
	struct device dev;
	struct vm *vm;
	struct irq_line sci;

	/* Protects the fields below: vCPU threads and the host (power button). */
	pthread_mutex_t lock;
	uint16_t reg[PM1_NR_REGS];
	bool sci_level;
};

static struct ratelimit acpi_pm_rl = RATELIMIT_INIT(3);

static struct acpi_pm *to_pm(struct device *dev)
{
	return dev->state;
}

static uint16_t pm_read_reg(const struct acpi_pm *p, unsigned reg)
{
	if (reg == PM1_CNT)
		return p->reg[PM1_CNT] | PM1_SCI_EN; /* ACPI mode, always (no SMI_CMD) */
	return reg < PM1_NR_REGS ? p->reg[reg] : 0;
}

static void pm_update_sci(struct acpi_pm *p)
{
	bool level = p->reg[PM1_STS] & p->reg[PM1_EN] & PM1_SCI_BITS;
	if (level != p->sci_level) {
		p->sci_level = level;
		irq_line_set(&p->sci, level);
	}
}

/* Apply the bytes `mask` of `val` to register reg. Returns the SLP_TYP to
 * enter, or -1 for none. */
static int pm_write_reg(struct acpi_pm *p, unsigned reg, uint16_t val, uint16_t mask)
{
	switch (reg) {
	case PM1_STS:
		p->reg[PM1_STS] &= (uint16_t)~(val & mask & PM1_STS_BITS);
		return -1;
	case PM1_EN:
		p->reg[PM1_EN] = (uint16_t)((p->reg[PM1_EN] & ~mask) | (val & mask & PM1_EN_BITS));
		return -1;
	case PM1_CNT: {
		uint16_t v = (uint16_t)((p->reg[PM1_CNT] & ~mask) | (val & mask));
		p->reg[PM1_CNT] = v & PM1_CNT_STORED;
		if (mask & val & ACPI_PM1_CNT_SLP_EN)
			return (v & PM1_SLP_TYP_MASK) >> PM1_SLP_TYP_SHIFT;
		return -1;
	}
	default:
		return -1; /* bytes 6-7: nothing there */
	}
}

static uint64_t acpi_pm_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct acpi_pm *p = to_pm(dev);
	uint64_t v = 0;

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size && off + i < PORT_ACPI_PM_LEN; i++) {
		unsigned o = (unsigned)off + i;
		uint8_t b = (uint8_t)(pm_read_reg(p, o / 2) >> (8 * (o % 2)));
		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

static void acpi_pm_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
			  uint64_t val)
{
	struct acpi_pm *p = to_pm(dev);
	uint16_t rval[PM1_NR_REGS + 1] = { 0 }, rmask[PM1_NR_REGS + 1] = { 0 };
	int slp_typ = -1;

	/* Gather the bytes per register first, so a 16- or 32-bit write acts
	 * on each register once, with all of its bytes. */
	for (unsigned i = 0; i < size && off + i < PORT_ACPI_PM_LEN; i++) {
		unsigned o = (unsigned)off + i, shift = 8 * (o % 2);
		rval[o / 2] |= (uint16_t)(((val >> (8 * i)) & 0xff) << shift);
		rmask[o / 2] |= (uint16_t)(0xff << shift);
	}
	pthread_mutex_lock(&p->lock);
	for (unsigned reg = 0; reg < PM1_NR_REGS; reg++) {
		if (!rmask[reg])
			continue;
		int t = pm_write_reg(p, reg, rval[reg], rmask[reg]);
		if (t >= 0)
			slp_typ = t;
	}
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);

	if (slp_typ == ACPI_S5_SLP_TYP)
		vm_request_stop(p->vm, VM_STOP_POWEROFF, EXIT_OK);
	else if (slp_typ >= 0)
		log_ratelimited(&acpi_pm_rl, "acpi: guest asked for sleep type %d; only S5 (%d) "
				"is supported, ignored", slp_typ, ACPI_S5_SLP_TYP);
}

void acpi_pm_power_button(struct device *dev)
{
	struct acpi_pm *p = to_pm(dev);
	pthread_mutex_lock(&p->lock);
	p->reg[PM1_STS] |= PM1_PWRBTN_STS;
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

/* Power-on: all status, enable and control bits 0 (SCI_EN reads 1 anyway). */
static void acpi_pm_reset(struct device *dev)
{
	struct acpi_pm *p = to_pm(dev);
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < PM1_NR_REGS; i++)
		p->reg[i] = 0;
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

#define ACPI_PM_SNAP_VERSION 1

static int acpi_pm_save(struct device *dev, struct snap_writer *w)
{
	struct acpi_pm *p = to_pm(dev);
	pthread_mutex_lock(&p->lock);
	snap_begin(w, "PM1A", ACPI_PM_SNAP_VERSION);
	for (unsigned i = 0; i < PM1_NR_REGS; i++)
		snap_u16(w, p->reg[i]);
	snap_end(w);
	pthread_mutex_unlock(&p->lock);
	return w->error;
}

static int acpi_pm_restore(struct device *dev, struct snap_reader *r)
{
	struct acpi_pm *p = to_pm(dev);
	uint32_t version;
	uint16_t reg[PM1_NR_REGS];
	int rc = snap_open(r, "PM1A", &version);
	if (rc)
		return rc;
	if (version != ACPI_PM_SNAP_VERSION)
		return -ENOTSUP;
	for (unsigned i = 0; i < PM1_NR_REGS; i++)
		reg[i] = snap_get_u16(r);
	if (r->error)
		return r->error;
	pthread_mutex_lock(&p->lock);
	p->reg[PM1_STS] = reg[PM1_STS] & PM1_STS_BITS;
	p->reg[PM1_EN] = reg[PM1_EN] & PM1_EN_BITS;
	p->reg[PM1_CNT] = reg[PM1_CNT] & PM1_CNT_STORED;
	pm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static void acpi_pm_destroy(struct device *dev)
{
	struct acpi_pm *p = to_pm(dev);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static const struct device_ops acpi_pm_ops = {
	.name = "acpi-pm",
	.read = acpi_pm_read,
	.write = acpi_pm_write,
	.reset = acpi_pm_reset,
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
	.destroy = acpi_pm_destroy,
};

struct device *acpi_pm_create(struct vm *vm, const struct irq_line *sci)
{
	struct acpi_pm *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		return NULL;
	}
	p->vm = vm;
	if (sci)
		p->sci = *sci;
	p->dev.ops = &acpi_pm_ops;
	p->dev.state = p;
	return &p->dev;
}

int acpi_pm_attach(struct vm *vm, struct device **out)
{
	struct irq_line sci = { .router = &vm->irq, .gsi = IRQ_ACPI_SCI };
	struct device *dev = acpi_pm_create(vm, &sci);
	if (!dev)
		return -ENOMEM;
	vm_add_device(vm, dev); /* the VM owns it from here, even on failure */
	int rc = bus_register(&vm->pio, PORT_ACPI_PM, PORT_ACPI_PM_LEN, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}
