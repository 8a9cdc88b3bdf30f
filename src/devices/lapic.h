/* Local APIC (xAPIC mode), after Intel SDM Vol. 3A chapter 11 "Advanced
 * Programmable Interrupt Controller (APIC)" (chapter 10 in older editions).
 *
 * One struct lapic per vCPU, for the soft back end (kvm has its own in the
 * kernel). The model holds no lock of its own: every call must be serialised
 * by the owner (struct irqchip's lock), because delivery crosses models
 * (I/O APIC -> LAPIC, LAPIC EOI -> I/O APIC, IPIs LAPIC -> LAPIC) and one lock
 * around all of them cannot deadlock. Time is passed in (now_ns, any monotonic
 * nanosecond clock) so the model is deterministic under test.
 *
 * Timer: one-shot and periodic, counting at LAPIC_BUS_HZ / divide. TSC-deadline
 * mode is not offered (CPUID.1:ECX.TSC_DEADLINE must stay clear): LVT timer bit
 * 18 is not writable, so mode 10b reads back as one-shot. x2APIC is not
 * offered either (MSR access to APIC registers is the CPU's business and
 * unsupported). */
#ifndef ISOLA_DEVICES_LAPIC_H
#define ISOLA_DEVICES_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

struct snap_writer;
struct snap_reader;

/* The APIC bus / timer input clock: 1 GHz, so with divide-by-1 the timer
 * counts one per nanosecond. CPUID leaf 0x40000010 EBX (APIC bus kHz) must
 * report LAPIC_BUS_HZ / 1000 — the soft CPU's cpuid.c says 1000000 kHz. */
#define LAPIC_BUS_HZ 1000000000ull

#define LAPIC_PAGE_SIZE 0x1000u

/* Delivery modes (ICR, LVT, I/O APIC redirection entries share them). */
enum apic_delivery {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_SIPI = 6,
	APIC_DM_EXTINT = 7,
};

/* Destination shorthands (ICR bits 19:18). */
enum apic_shorthand {
	APIC_DEST_NONE = 0,
	APIC_DEST_SELF = 1,
	APIC_DEST_ALL = 2,
	APIC_DEST_ALL_BUT_SELF = 3,
};

/* An interrupt message on the (system) APIC bus: an IPI from an ICR write or
 * a redirection from the I/O APIC. */
struct apic_msg {
	uint8_t vector;
	uint8_t delivery;   /* enum apic_delivery */
	uint8_t dest;       /* xAPIC: 8-bit physical ID or logical mask; 0xff broadcast */
	uint8_t shorthand;  /* enum apic_shorthand (IPIs only) */
	bool logical;       /* destination mode */
	bool level_trig;    /* trigger mode: level (TMR set, EOI broadcast) */
	bool assert;        /* level: 1 asserted, 0 deasserted (the INIT level-deassert IPI) */
};

struct lapic;

/* How a LAPIC reaches the rest of the interrupt system. Called with the
 * owner's lock held; they must not call back into the same LAPIC's
 * register interface. */
struct lapic_hooks {
	/* An ICR write: deliver m (the owner resolves destinations). */
	void (*send)(void *opaque, struct lapic *src, const struct apic_msg *m);
	/* EOI of a level-triggered vector (its TMR bit was set): broadcast to
	 * the I/O APIC(s) so they clear remote IRR. */
	void (*eoi)(void *opaque, uint8_t vector);
	/* Something may be deliverable now (IRR above PPR, NMI, INIT/SIPI):
	 * wake the vCPU. Spurious calls are allowed. */
	void (*notify)(void *opaque, struct lapic *l);
	void *opaque;
};

/* Startup events the CPU takes with lapic_take_startup(). */
#define LAPIC_EV_INIT 1
#define LAPIC_EV_SIPI 2

struct lapic_timer {
	uint32_t initial;     /* TMICT */
	uint32_t start_count; /* count at start_ns (TMICT, or the count kept when TDCR changed) */
	uint64_t start_ns;    /* when counting from start_count began */
	uint64_t next_ns;     /* next expiry to fire; UINT64_MAX: not armed */
};

struct lapic {
	unsigned index;       /* vCPU index */
	bool bsp;
	bool hw_enabled;      /* IA32_APIC_BASE.EN (the CPU tells us) */
	struct lapic_hooks hooks;

	uint32_t id;          /* APIC ID register (ID in bits 31:24) */
	uint32_t tpr, ldr, dfr, svr;
	uint32_t isr[8], tmr[8], irr[8];
	uint32_t esr;         /* visible ESR (latched by an ESR write) */
	uint32_t esr_pending; /* errors since the last ESR write */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[6];      /* timer, thermal, perf, LINT0, LINT1, error */
	uint32_t tdcr;
	struct lapic_timer timer;
	/* Events outside IRR/ISR. */
	bool nmi_pending;
	bool extint_pending;  /* an ExtINT message (I/O APIC pin in ExtINT mode) */
	uint8_t startup;      /* LAPIC_EV_* bits not yet taken by the CPU */
	uint8_t sipi_vector;
};

/* LVT indices into lapic.lvt[]. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NR };

void lapic_init(struct lapic *l, unsigned index, bool bsp, const struct lapic_hooks *hooks);
/* Power-on / RESET state (SDM "Local APIC State After Power-Up or Reset"). */
void lapic_reset(struct lapic *l);

/* One guest access to the APIC page; off is the offset inside it. Registers
 * are 32-bit on 16-byte boundaries: a 4-byte access at such an offset reaches
 * the register; anything else reads 0 and writes are dropped. */
void lapic_access(struct lapic *l, uint64_t off, uint8_t *data, unsigned size, bool is_write,
		  uint64_t now_ns);
uint32_t lapic_read(struct lapic *l, uint32_t reg, uint64_t now_ns);
void lapic_write(struct lapic *l, uint32_t reg, uint32_t val, uint64_t now_ns);

/* Receive a message addressed to this LAPIC (delivery already resolved). */
void lapic_deliver(struct lapic *l, const struct apic_msg *m);
/* Does (dest, logical) name this LAPIC? (xAPIC flat and cluster models) */
bool lapic_match_dest(const struct lapic *l, uint8_t dest, bool logical);
/* Arbitration priority for lowest-priority delivery (SDM 11.6.2.4). */
uint8_t lapic_apr(const struct lapic *l);

/* Highest IRR vector whose priority class is above PPR's, or -1 (also -1
 * while software-disabled). */
int lapic_pending_vector(const struct lapic *l);
/* The CPU takes `vector`: IRR -> ISR. */
void lapic_accept(struct lapic *l, int vector);
/* Is the LINT0 pin an ExtINT input now (8259 INTR goes to the CPU)? True when
 * LVT LINT0 is unmasked ExtINT, or the APIC is hardware-disabled (the pin is
 * then plain INTR, SDM 11.4.3). */
bool lapic_lint0_extint(const struct lapic *l);

/* TPR as seen by CR8 (SDM 11.8.6: CR8[3:0] = TPR[7:4]). */
void lapic_set_tpr(struct lapic *l, uint8_t tpr);
uint8_t lapic_get_tpr(const struct lapic *l);
uint8_t lapic_ppr(const struct lapic *l);

/* Fire the timer if it expired by now_ns. */
void lapic_poll(struct lapic *l, uint64_t now_ns);
/* When the timer next fires, or UINT64_MAX if it does not. */
uint64_t lapic_next_deadline_ns(const struct lapic *l);

/* Take a pending NMI (true once per NMI). */
bool lapic_take_nmi(struct lapic *l);
/* Take startup events: returns LAPIC_EV_* bits, *sipi_vector set for SIPI. */
unsigned lapic_take_startup(struct lapic *l, uint8_t *sipi_vector);

/* Save/restore one LAPIC (fields only; the caller opens the section). Times
 * are saved relative to now_ns so a restore on another host clock keeps the
 * remaining timer intervals. */
void lapic_save(const struct lapic *l, struct snap_writer *w, uint64_t now_ns);
int lapic_restore(struct lapic *l, struct snap_reader *r, uint64_t now_ns);

#endif
