/* The soft back end's interrupt controllers as one device: the wiring
 * between the local APICs, the I/O APIC, the 8259A pair and the 8254 PIT,
 * their port and MMIO ranges, their timer on the event loop, and the calls a
 * CPU makes (irqchip.h explains them). The models themselves are in
 * lapic.c, ioapic.c, pic8259.c and pit8254.c and know nothing of locks,
 * clocks or buses. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "device.h"
#include "devices/ioapic.h"
#include "devices/irqchip.h"
#include "devices/lapic.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "eventloop.h"
#include "snapshot.h"
#include "vm.h"

/* Bus regions of the chip's device. */
enum {
	REGION_PIC_MASTER,
	REGION_PIC_SLAVE,
	REGION_ELCR,
	REGION_PIT,
	REGION_PORT61,
	REGION_IOAPIC,
};

#define NOT_ARMED UINT64_MAX
#define IRQCHIP_SNAP_VERSION 1

struct irqchip_cpu {
	struct irqchip *chip;
	unsigned index;
	void (*wake)(void *opaque);
	void *wake_opaque;
};

struct irqchip {
	struct device dev;
	unsigned nr_cpus;
	irqchip_clock_fn clock;
	void *clock_opaque;
	bool default_clock;
	struct eventloop *loop; /* watches timer_fd; NULL without timers */
	int timer_fd;

	/* Protects everything below: all models' state, the wake hooks and
	 * armed_ns. One lock for the whole set, because an interrupt crosses
	 * models inside one operation (I/O APIC -> LAPIC, LAPIC EOI -> I/O
	 * APIC, PIT -> 8259A and I/O APIC, IPI LAPIC -> LAPIC) and a lock per
	 * model would need an order that these paths do not share. Taken by
	 * vCPU threads (ports, MMIO, APIC page, acks, CR8), the event loop
	 * (timer) and whatever thread a device raises its GSI from. Nothing is
	 * called with it held but the models and the vCPUs' wake hooks. */
	pthread_mutex_t lock;
	uint64_t armed_ns;      /* deadline timer_fd is set for, or NOT_ARMED */
	struct pic8259 pic;
	struct pit8254 pit;
	struct ioapic ioapic;
	struct irqchip_cpu *cpu;
	struct lapic *lapic;
};

static uint64_t irqchip_monotonic(void *opaque)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t chip_now(struct irqchip *c)
{
	return c->clock(c->clock_opaque);
}

/* ---- wake-ups ---- */

static bool cpu_has_interrupt(struct irqchip *c, unsigned i)
{
	struct lapic *l = &c->lapic[i];
	if ((lapic_lint0_extint(l) || l->extint_pending) && pic_intr(&c->pic))
		return true;
	return lapic_pending_vector(l) >= 0;
}

static void cpu_wake(struct irqchip *c, unsigned i)
{
	if (c->cpu[i].wake)
		c->cpu[i].wake(c->cpu[i].wake_opaque);
}

/* LAPIC hook: wake the vCPU if it has something to take. */
static void chip_lapic_notify(void *opaque, struct lapic *l)
{
	struct irqchip *c = opaque;
	if (l->nmi_pending || l->startup || cpu_has_interrupt(c, l->index))
		cpu_wake(c, l->index);
}

/* After the 8259A changed: its INTR reaches every LINT0 that takes ExtINT. */
static void chip_pic_changed(struct irqchip *c)
{
	if (!pic_intr(&c->pic))
		return;
	for (unsigned i = 0; i < c->nr_cpus; i++)
		if (lapic_lint0_extint(&c->lapic[i]) || c->lapic[i].extint_pending)
			cpu_wake(c, i);
}

/* ---- the APIC bus ---- */

static void chip_route(struct irqchip *c, struct lapic *src, const struct apic_msg *m)
{
	switch (m->shorthand) {
	case APIC_DEST_SELF:
		if (src)
			lapic_deliver(src, m);
		return;
	case APIC_DEST_ALL:
	case APIC_DEST_ALL_BUT_SELF:
		for (unsigned i = 0; i < c->nr_cpus; i++)
			if (m->shorthand == APIC_DEST_ALL || &c->lapic[i] != src)
				lapic_deliver(&c->lapic[i], m);
		return;
	default:
		break;
	}
	if (m->delivery == APIC_DM_LOWEST) {
		/* 11.6.2.4: the matching APIC with the lowest arbitration
		 * priority; the first one (lowest index) on a tie. */
		struct lapic *best = NULL;
		for (unsigned i = 0; i < c->nr_cpus; i++) {
			struct lapic *l = &c->lapic[i];
			if (lapic_match_dest(l, m->dest, m->logical) &&
			    (!best || lapic_apr(l) < lapic_apr(best)))
				best = l;
		}
		if (best)
			lapic_deliver(best, m);
		return;
	}
	for (unsigned i = 0; i < c->nr_cpus; i++)
		if (lapic_match_dest(&c->lapic[i], m->dest, m->logical))
			lapic_deliver(&c->lapic[i], m);
}

static void chip_lapic_send(void *opaque, struct lapic *src, const struct apic_msg *m)
{
	chip_route(opaque, src, m);
}

static void chip_lapic_eoi(void *opaque, uint8_t vector)
{
	struct irqchip *c = opaque;
	ioapic_eoi(&c->ioapic, vector);
}

static void chip_ioapic_deliver(void *opaque, const struct apic_msg *m)
{
	chip_route(opaque, NULL, m);
}

/* ---- GSIs ---- */

static void chip_gsi_locked(struct irqchip *c, unsigned gsi, int level)
{
	if (gsi < 16 && gsi != PIC_CASCADE_IRQ) {
		pic_set_irq(&c->pic, gsi, level);
		chip_pic_changed(c);
	}
	ioapic_set_irq(&c->ioapic, gsi == 0 ? 2 : gsi, level);
}

/* ---- timers ---- */

static uint64_t chip_deadline_locked(struct irqchip *c)
{
	uint64_t d = pit_irq0_deadline_ns(&c->pit);
	for (unsigned i = 0; i < c->nr_cpus; i++) {
		uint64_t l = lapic_next_deadline_ns(&c->lapic[i]);
		if (l < d)
			d = l;
	}
	return d;
}

/* Point timer_fd at the earliest deadline if that is earlier than what it
 * is set for (a later one only costs one early, harmless expiry). */
static void chip_arm_locked(struct irqchip *c)
{
	if (c->timer_fd < 0)
		return;
	uint64_t d = chip_deadline_locked(c);
	if (d == NOT_ARMED || d >= c->armed_ns)
		return;
	struct itimerspec its = { 0 };
	if (!d)
		d = 1; /* 0 would disarm */
	its.it_value.tv_sec = (time_t)(d / 1000000000ull);
	its.it_value.tv_nsec = (long)(d % 1000000000ull);
	if (timerfd_settime(c->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->armed_ns = d;
}

/* Fire every timer that expired by now, then re-arm. */
static void chip_poll_locked(struct irqchip *c, uint64_t now)
{
	for (unsigned i = 0; i < c->nr_cpus; i++)
		lapic_poll(&c->lapic[i], now);
	if (pit_poll_irq0(&c->pit, now)) {
		/* OUT0 rose: an edge on ISA IRQ 0 (8259A IR0, I/O APIC pin 2). */
		chip_gsi_locked(c, 0, 1);
		chip_gsi_locked(c, 0, 0);
	}
	chip_arm_locked(c);
}

/* Every entry point: take the lock and catch up with the clock. */
static uint64_t chip_enter(struct irqchip *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t now = chip_now(c);
	chip_poll_locked(c, now);
	return now;
}

/* The access may have set or moved a timer: fire what is due and re-arm. */
static void chip_leave(struct irqchip *c, uint64_t now)
{
	chip_poll_locked(c, now);
	pthread_mutex_unlock(&c->lock);
}

static void chip_on_timer(void *opaque, uint32_t events)
{
	struct irqchip *c = opaque;
	uint64_t expirations;
	if (read(c->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&c->lock);
	c->armed_ns = NOT_ARMED;
	chip_poll_locked(c, chip_now(c));
	pthread_mutex_unlock(&c->lock);
}

uint64_t irqchip_next_deadline_ns(struct irqchip *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t d = chip_deadline_locked(c);
	pthread_mutex_unlock(&c->lock);
	return d;
}

void irqchip_poll(struct irqchip *c)
{
	pthread_mutex_lock(&c->lock);
	chip_poll_locked(c, chip_now(c));
	pthread_mutex_unlock(&c->lock);
}

/* ---- the CPU's side ---- */

int irqchip_set_irq(struct irqchip *c, unsigned gsi, int level)
{
	if (gsi >= IRQCHIP_NR_GSI)
		return -EINVAL;
	uint64_t now = chip_enter(c);
	chip_gsi_locked(c, gsi, level != 0);
	chip_leave(c, now);
	return 0;
}

void irqchip_set_wake(struct irqchip *c, unsigned cpu, void (*wake)(void *), void *opaque)
{
	if (cpu >= c->nr_cpus)
		return;
	pthread_mutex_lock(&c->lock);
	c->cpu[cpu].wake = wake;
	c->cpu[cpu].wake_opaque = opaque;
	pthread_mutex_unlock(&c->lock);
}

int irqchip_ack(struct irqchip *c, unsigned cpu)
{
	if (cpu >= c->nr_cpus)
		return -1;
	uint64_t now = chip_enter(c);
	struct lapic *l = &c->lapic[cpu];
	int v;
	/* ExtINT (the 8259A through LINT0 or an I/O APIC ExtINT entry) comes
	 * first and bypasses IRR, ISR and the TPR (SDM 11.5.1: the vector comes
	 * from the external controller's INTA cycle). */
	if ((lapic_lint0_extint(l) || l->extint_pending) && pic_intr(&c->pic)) {
		v = pic_intack(&c->pic);
	} else {
		v = lapic_pending_vector(l);
		if (v >= 0)
			lapic_accept(l, v);
	}
	l->extint_pending = false;
	if (cpu_has_interrupt(c, cpu))
		cpu_wake(c, cpu);
	chip_leave(c, now);
	return v;
}

bool irqchip_has_interrupt(struct irqchip *c, unsigned cpu)
{
	if (cpu >= c->nr_cpus)
		return false;
	uint64_t now = chip_enter(c);
	bool r = cpu_has_interrupt(c, cpu);
	chip_leave(c, now);
	return r;
}

void *irqchip_cpu(struct irqchip *c, unsigned cpu)
{
	return cpu < c->nr_cpus ? &c->cpu[cpu] : NULL;
}

int irqchip_intc_ack(void *opaque)
{
	struct irqchip_cpu *ic = opaque;
	return irqchip_ack(ic->chip, ic->index);
}

void irqchip_lapic_access(struct irqchip *c, unsigned cpu, uint64_t addr, uint8_t *data,
			  unsigned size, bool is_write)
{
	if (cpu >= c->nr_cpus || !size || size > 8) {
		if (!is_write && size && size <= 8)
			memset(data, 0, size);
		return;
	}
	uint64_t now = chip_enter(c);
	lapic_access(&c->lapic[cpu], addr & (LAPIC_PAGE_SIZE - 1), data, size, is_write, now);
	chip_leave(c, now);
}

void irqchip_set_apic_enabled(struct irqchip *c, unsigned cpu, bool enabled)
{
	if (cpu >= c->nr_cpus)
		return;
	uint64_t now = chip_enter(c);
	struct lapic *l = &c->lapic[cpu];
	if (l->hw_enabled && !enabled) {
		/* 11.4.3: disabling through IA32_APIC_BASE is like a reset,
		 * but the APIC keeps its ID. */
		uint32_t id = l->id;
		lapic_reset(l);
		l->id = id;
	}
	l->hw_enabled = enabled;
	chip_lapic_notify(c, l);
	chip_leave(c, now);
}

void irqchip_set_cr8(struct irqchip *c, unsigned cpu, uint64_t cr8)
{
	if (cpu >= c->nr_cpus)
		return;
	uint64_t now = chip_enter(c);
	lapic_set_tpr(&c->lapic[cpu], (uint8_t)((cr8 & 0xf) << 4));
	chip_leave(c, now);
}

uint64_t irqchip_get_cr8(struct irqchip *c, unsigned cpu)
{
	if (cpu >= c->nr_cpus)
		return 0;
	pthread_mutex_lock(&c->lock);
	uint64_t v = lapic_get_tpr(&c->lapic[cpu]) >> 4;
	pthread_mutex_unlock(&c->lock);
	return v;
}

bool irqchip_take_nmi(struct irqchip *c, unsigned cpu)
{
	if (cpu >= c->nr_cpus)
		return false;
	pthread_mutex_lock(&c->lock);
	bool n = lapic_take_nmi(&c->lapic[cpu]);
	pthread_mutex_unlock(&c->lock);
	return n;
}

unsigned irqchip_take_startup(struct irqchip *c, unsigned cpu, uint8_t *sipi_vector)
{
	if (cpu >= c->nr_cpus)
		return 0;
	pthread_mutex_lock(&c->lock);
	unsigned ev = lapic_take_startup(&c->lapic[cpu], sipi_vector);
	pthread_mutex_unlock(&c->lock);
	return ev;
}

/* ---- the device: ports, MMIO, reset, snapshots ---- */

static struct irqchip *to_chip(struct device *dev)
{
	return dev->state;
}

static uint8_t chip_port_read(struct irqchip *c, unsigned region, uint64_t off, uint64_t now)
{
	switch (region) {
	case REGION_PIC_MASTER:
	case REGION_PIC_SLAVE: {
		uint8_t v = pic_port_read(&c->pic, region == REGION_PIC_SLAVE, off & 1);
		chip_pic_changed(c); /* a poll read acknowledges */
		return v;
	}
	case REGION_ELCR:
		return pic_elcr_read(&c->pic, off & 1);
	case REGION_PIT:
		return pit_port_read(&c->pit, off & 3, now);
	case REGION_PORT61:
		return pit_port61_read(&c->pit, now);
	default:
		return 0xff;
	}
}

static void chip_port_write(struct irqchip *c, unsigned region, uint64_t off, uint8_t v,
			    uint64_t now)
{
	switch (region) {
	case REGION_PIC_MASTER:
	case REGION_PIC_SLAVE:
		pic_port_write(&c->pic, region == REGION_PIC_SLAVE, off & 1, v);
		chip_pic_changed(c);
		break;
	case REGION_ELCR:
		pic_elcr_write(&c->pic, off & 1, v);
		chip_pic_changed(c);
		break;
	case REGION_PIT:
		pit_port_write(&c->pit, off & 3, v, now);
		break;
	case REGION_PORT61:
		pit_port61_write(&c->pit, v, now);
		break;
	default:
		break;
	}
}

/* Port ranges are byte registers: a wider access is one per port, in
 * order (the bus guarantees it fits in the range). */
static uint64_t chip_read(struct device *dev, unsigned region, uint64_t off, unsigned size)
{
	struct irqchip *c = to_chip(dev);
	uint64_t now = chip_enter(c), v = 0;
	if (region == REGION_IOAPIC) {
		v = ioapic_mmio_read(&c->ioapic, off, size);
	} else {
		for (unsigned i = 0; i < size && i < 8; i++)
			v |= (uint64_t)chip_port_read(c, region, off + i, now) << (8 * i);
	}
	chip_leave(c, now);
	return v;
}

static void chip_write(struct device *dev, unsigned region, uint64_t off, unsigned size,
		       uint64_t val)
{
	struct irqchip *c = to_chip(dev);
	uint64_t now = chip_enter(c);
	if (region == REGION_IOAPIC) {
		ioapic_mmio_write(&c->ioapic, off, size, (uint32_t)val);
	} else {
		for (unsigned i = 0; i < size && i < 8; i++)
			chip_port_write(c, region, off + i, (uint8_t)(val >> (8 * i)), now);
	}
	chip_leave(c, now);
}

static void chip_reset(struct device *dev)
{
	struct irqchip *c = to_chip(dev);
	pthread_mutex_lock(&c->lock);
	uint64_t now = chip_now(c);
	pic_reset(&c->pic);
	pit_reset(&c->pit, now);
	ioapic_reset(&c->ioapic);
	for (unsigned i = 0; i < c->nr_cpus; i++)
		lapic_reset(&c->lapic[i]);
	pthread_mutex_unlock(&c->lock);
}

static int chip_save(struct device *dev, struct snap_writer *w)
{
	struct irqchip *c = to_chip(dev);
	pthread_mutex_lock(&c->lock);
	uint64_t now = chip_now(c);
	snap_begin(w, "PIC ", IRQCHIP_SNAP_VERSION);
	pic_save(&c->pic, w);
	snap_end(w);
	snap_begin(w, "PIT ", IRQCHIP_SNAP_VERSION);
	pit_save(&c->pit, w, now);
	snap_end(w);
	snap_begin(w, "IOAP", IRQCHIP_SNAP_VERSION);
	ioapic_save(&c->ioapic, w);
	snap_end(w);
	snap_begin(w, "LAPC", IRQCHIP_SNAP_VERSION);
	snap_u32(w, c->nr_cpus);
	for (unsigned i = 0; i < c->nr_cpus; i++)
		lapic_save(&c->lapic[i], w, now);
	snap_end(w);
	pthread_mutex_unlock(&c->lock);
	return w->error;
}

static int open_section(struct snap_reader *r, const char tag[4])
{
	uint32_t version;
	int rc = snap_open(r, tag, &version);
	if (rc)
		return rc;
	return version == IRQCHIP_SNAP_VERSION ? 0 : -ENOTSUP;
}

/* All or nothing: restore into copies, then commit. */
static int chip_restore(struct device *dev, struct snap_reader *r)
{
	struct irqchip *c = to_chip(dev);
	struct lapic *lapics = calloc(c->nr_cpus, sizeof(*lapics));
	if (!lapics)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	uint64_t now = chip_now(c);
	struct pic8259 pic = c->pic;
	struct pit8254 pit = c->pit;
	struct ioapic io = c->ioapic;
	memcpy(lapics, c->lapic, c->nr_cpus * sizeof(*lapics));
	int rc = open_section(r, "PIC ");
	if (!rc)
		rc = pic_restore(&pic, r);
	if (!rc)
		rc = open_section(r, "PIT ");
	if (!rc)
		rc = pit_restore(&pit, r, now);
	if (!rc)
		rc = open_section(r, "IOAP");
	if (!rc)
		rc = ioapic_restore(&io, r);
	if (!rc)
		rc = open_section(r, "LAPC");
	if (!rc && snap_get_u32(r) != c->nr_cpus)
		rc = r->error ? r->error : -EINVAL;
	for (unsigned i = 0; !rc && i < c->nr_cpus; i++)
		rc = lapic_restore(&lapics[i], r, now);
	if (!rc) {
		c->pic = pic;
		c->pit = pit;
		c->ioapic = io;
		memcpy(c->lapic, lapics, c->nr_cpus * sizeof(*lapics));
		c->armed_ns = NOT_ARMED;
		if (c->timer_fd >= 0) { /* forget the old deadline */
			struct itimerspec off = { 0 };
			(void)timerfd_settime(c->timer_fd, 0, &off, NULL);
		}
		for (unsigned i = 0; i < c->nr_cpus; i++)
			chip_lapic_notify(c, &c->lapic[i]);
		chip_poll_locked(c, now);
	}
	pthread_mutex_unlock(&c->lock);
	free(lapics);
	return rc;
}

static void chip_destroy(struct device *dev)
{
	struct irqchip *c = to_chip(dev);
	if (c->timer_fd >= 0) {
		if (c->loop)
			eventloop_del(c->loop, c->timer_fd);
		close(c->timer_fd);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->lapic);
	free(c->cpu);
	free(c);
}

static const struct device_ops irqchip_ops = {
	.name = "irqchip",
	.read = chip_read,
	.write = chip_write,
	.reset = chip_reset,
	.save = chip_save,
	.restore = chip_restore,
	.destroy = chip_destroy,
};

struct irqchip *irqchip_create(unsigned nr_cpus, uint8_t ioapic_id, irqchip_clock_fn clock,
			       void *clock_opaque)
{
	if (!nr_cpus || nr_cpus > 255) /* xAPIC IDs are 8 bits, 0xff broadcast */
		return NULL;
	struct irqchip *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cpu = calloc(nr_cpus, sizeof(*c->cpu));
	c->lapic = calloc(nr_cpus, sizeof(*c->lapic));
	if (!c->cpu || !c->lapic || pthread_mutex_init(&c->lock, NULL)) {
		free(c->cpu);
		free(c->lapic);
		free(c);
		return NULL;
	}
	c->nr_cpus = nr_cpus;
	c->default_clock = !clock;
	c->clock = clock ? clock : irqchip_monotonic;
	c->clock_opaque = clock_opaque;
	c->timer_fd = -1;
	c->armed_ns = NOT_ARMED;
	uint64_t now = chip_now(c);
	struct lapic_hooks hooks = {
		.send = chip_lapic_send,
		.eoi = chip_lapic_eoi,
		.notify = chip_lapic_notify,
		.opaque = c,
	};
	for (unsigned i = 0; i < nr_cpus; i++) {
		c->cpu[i] = (struct irqchip_cpu){ .chip = c, .index = i };
		lapic_init(&c->lapic[i], i, i == 0, &hooks);
	}
	pic_init(&c->pic);
	pit_init(&c->pit, now);
	ioapic_init(&c->ioapic, chip_ioapic_deliver, c);
	c->ioapic.reset_id = ioapic_id;
	ioapic_reset(&c->ioapic);
	c->dev.ops = &irqchip_ops;
	c->dev.state = c;
	return c;
}

struct device *irqchip_device(struct irqchip *c)
{
	return &c->dev;
}

int irqchip_enable_timers(struct irqchip *c, struct eventloop *loop)
{
	if (c->timer_fd >= 0)
		return -EBUSY;
	if (!c->default_clock)
		return -EINVAL; /* a timerfd follows CLOCK_MONOTONIC only */
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = eventloop_add(loop, fd, EPOLLIN, chip_on_timer, c);
	if (rc) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	c->loop = loop;
	c->timer_fd = fd;
	c->armed_ns = NOT_ARMED;
	chip_arm_locked(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int irqchip_register(struct irqchip *c, struct bus *pio, struct bus *mmio)
{
	static const struct {
		unsigned region;
		uint16_t port, len;
	} ports[] = {
		{ REGION_PIC_MASTER, PIC_MASTER_PORT, 2 },
		{ REGION_PIC_SLAVE, PIC_SLAVE_PORT, 2 },
		{ REGION_ELCR, PIC_ELCR_PORT, 2 },
		{ REGION_PIT, PIT_PORT, PIT_NR_PORTS },
		{ REGION_PORT61, PIT_PORT_61, 1 },
	};
	int rc = 0;
	for (unsigned i = 0; !rc && i < sizeof(ports) / sizeof(ports[0]); i++)
		rc = bus_register(pio, ports[i].port, ports[i].len, &c->dev, ports[i].region);
	if (!rc)
		rc = bus_register(mmio, LAYOUT_IOAPIC, IOAPIC_MMIO_LEN, &c->dev, REGION_IOAPIC);
	return rc;
}

int irqchip_attach(struct vm *vm, struct irqchip **out)
{
	/* The MADT gives the I/O APIC the first ID after the CPUs'. */
	struct irqchip *c = irqchip_create(vm->cfg.cpus, (uint8_t)vm->cfg.cpus, NULL, NULL);
	if (!c)
		return -ENOMEM;
	vm_add_device(vm, &c->dev); /* the VM owns it from here, even on failure */
	int rc = irqchip_register(c, &vm->pio, &vm->mmio);
	if (!rc && vm->loop)
		rc = irqchip_enable_timers(c, vm->loop);
	if (rc)
		return rc;
	if (out)
		*out = c;
	return 0;
}
