/* ACPI tables (ACPI spec 6.0, chapter 5) and an AML emitter (chapter 20).
 *
 * Layout in the BIOS area (reserved in e820):
 *   LAYOUT_ACPI_RSDP    RSDP, revision 2 (points at the XSDT only)
 *   LAYOUT_ACPI_TABLES  XSDT -> FADT, MADT; FADT -> FACS, DSDT
 *
 * The machine is a PC without SMM: not hardware-reduced, because the fixed
 * PM1 event/control blocks at PORT_ACPI_PM are what make the guest's
 * `poweroff` work (SLP_TYP from \_S5_ plus SLP_EN written to PM1a_CNT). There
 * is no SMI_CMD, which tells the OS ACPI mode is already on (§4.8.2.1). */
#include <errno.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"

#define BIOS_LEN (LAYOUT_ACPI_END - LAYOUT_ACPI_RSDP)

/* ---- little-endian stores ------------------------------------------------ */

static void put8(uint8_t *p, unsigned off, uint8_t v)
{
	p[off] = v;
}

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = v & 0xff;
	p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[off + i] = (v >> (8 * i)) & 0xff;
}

static void put64(uint8_t *p, unsigned off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[off + i] = (v >> (8 * i)) & 0xff;
}

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return sum;
}

/* ---- AML emitter ---------------------------------------------------------- */

#define AML_ZERO_OP       0x00
#define AML_ONE_OP        0x01
#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP      0x10
#define AML_PACKAGE_OP    0x12
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_OP        0x5b
#define AML_DEVICE_OP     0x82 /* after AML_EXT_OP */
#define AML_ROOT_CHAR     '\\'
#define AML_PARENT_CHAR   '^'

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->len = 0;
	a->cap = cap;
	a->err = 0;
}

void aml_byte(struct aml *a, uint8_t b)
{
	if (a->err)
		return;
	if (a->len >= a->cap) {
		a->err = -ENOSPC;
		return;
	}
	a->buf[a->len++] = b;
}

static void aml_le(struct aml *a, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		aml_byte(a, (v >> (8 * i)) & 0xff);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffffull) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		/* 64-bit integers need DSDT revision >= 2, which is what we emit. */
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	for (; *s; s++) {
		if ((unsigned char)*s > 0x7f) { /* AsciiCharList is 0x01-0x7f */
			if (!a->err)
				a->err = -EINVAL;
			return;
		}
		aml_byte(a, (uint8_t)*s);
	}
	aml_byte(a, 0);
}

static int aml_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int aml_name_char(char c)
{
	return aml_lead_char(c) || (c >= '0' && c <= '9');
}

/* NameString := <RootChar NamePath> | <PrefixPath NamePath>, NamePath is a
 * NameSeg, DualNamePath or MultiNamePath of 4-character segments. */
void aml_namestring(struct aml *a, const char *name)
{
	const char *p = name;
	unsigned nseg = 0;

	while (*p == AML_ROOT_CHAR || *p == AML_PARENT_CHAR) {
		if (*p == AML_ROOT_CHAR && p != name)
			goto bad;
		aml_byte(a, (uint8_t)*p++);
	}
	/* Count and validate segments first: the prefix depends on the count. */
	for (const char *s = p; *s;) {
		int n = 0;
		if (!aml_lead_char(*s))
			goto bad;
		while (s[n] && s[n] != '.') {
			if (n >= 4 || !aml_name_char(s[n]))
				goto bad;
			n++;
		}
		nseg++;
		s += n;
		if (*s == '.' && !*++s)
			goto bad;
	}
	if (nseg == 0) {
		aml_byte(a, 0); /* NullName */
		return;
	}
	if (nseg > 255)
		goto bad;
	if (nseg == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	while (*p) {
		int n = 0;
		while (p[n] && p[n] != '.')
			aml_byte(a, (uint8_t)p[n++]);
		for (; n < 4; n++)
			aml_byte(a, '_');
		p += strcspn(p, ".");
		if (*p == '.')
			p++;
	}
	return;
bad:
	if (!a->err)
		a->err = -EINVAL;
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

/* The PkgLength goes right after the opcode and before the content, and its
 * own size (1-4 bytes) counts in the length it encodes; a block's mark is
 * where its content starts, and aml_end() opens room for the encoding. */
size_t aml_package_begin(struct aml *a, unsigned nelems)
{
	size_t mark;
	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	if (nelems > 255 && !a->err)
		a->err = -EINVAL; /* larger needs VarPackageOp */
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

size_t aml_scope_begin(struct aml *a, const char *name)
{
	size_t mark;
	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_namestring(a, name);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	size_t mark;
	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_DEVICE_OP);
	mark = a->len;
	aml_namestring(a, name);
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	size_t content, total;
	unsigned k;
	uint8_t enc[4];

	if (a->err)
		return;
	if (mark > a->len) {
		a->err = -EINVAL;
		return;
	}
	content = a->len - mark;
	/* §20.2.4: one byte holds up to 63; otherwise bits 7:6 of the lead byte
	 * count the following bytes, its bits 3:0 are the low nibble and the
	 * following bytes the rest, least significant first (max 2^28 - 1). */
	if (content + 1 <= 0x3f)
		k = 1;
	else if (content + 2 <= 0xfff)
		k = 2;
	else if (content + 3 <= 0xfffff)
		k = 3;
	else if (content + 4 <= 0xfffffff)
		k = 4;
	else {
		a->err = -E2BIG;
		return;
	}
	total = content + k;
	if (k == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)(((k - 1) << 6) | (total & 0xf));
		for (unsigned i = 1; i < k; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (a->cap - a->len < k) {
		a->err = -ENOSPC;
		return;
	}
	memmove(a->buf + mark + k, a->buf + mark, content);
	memcpy(a->buf + mark, enc, k);
	a->len += k;
}

int acpi_dsdt_body(struct aml *a)
{
	return acpi_dsdt_body_devices(a, NULL);
}

#define AML_BUFFER_OP     0x11

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	size_t mark;
	aml_byte(a, AML_BUFFER_OP);
	mark = a->len;
	aml_integer(a, len); /* BufferSize */
	for (size_t i = 0; i < len; i++)
		aml_byte(a, data[i]);
	aml_end(a, mark);
}

/* Resource descriptors (ACPI 6.0 §6.4): large items are a tag byte and a
 * 16-bit length of what follows. */
#define ACPI_RES_MEMORY32_FIXED 0x86 /* §6.4.3.4 */
#define ACPI_RES_EXT_IRQ        0x89 /* §6.4.3.6 */
#define ACPI_RES_END_TAG        0x79 /* §6.4.2.9, small item, 1 byte follows */
#define ACPI_RES_IO             0x47 /* §6.4.2.5, small item, 7 bytes follow */
#define ACPI_RES_IO_DECODE16    0x01
#define ACPI_RES_MEM_RW         0x01
/* Extended Interrupt flags: bit 0 consumer, bit 1 edge (clear: level),
 * bit 2 active low (clear: high), bit 3 shared (clear: exclusive). */
#define ACPI_RES_IRQ_CONSUMER   0x01

static int acpi_virtio_mmio_one(struct aml *a, const struct acpi_virtio_mmio *d)
{
	uint8_t crs[12 + 9 + 2];
	char name[5];
	size_t dev;

	if (d->uid > 99 || d->len == 0 || d->base > 0xffffffffull ||
	    d->len - 1 > 0xffffffffull - d->base)
		return -EINVAL;
	/* Memory32Fixed (ReadWrite, base, len) */
	put8(crs, 0, ACPI_RES_MEMORY32_FIXED);
	put16(crs, 1, 9);
	put8(crs, 3, ACPI_RES_MEM_RW);
	put32(crs, 4, (uint32_t)d->base);
	put32(crs, 8, d->len);
	/* Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi } */
	put8(crs, 12, ACPI_RES_EXT_IRQ);
	put16(crs, 13, 6);
	put8(crs, 15, ACPI_RES_IRQ_CONSUMER);
	put8(crs, 16, 1); /* interrupt table length */
	put32(crs, 17, d->gsi);
	/* EndTag; checksum 0 means "the sum is correct" (§6.4.2.9). */
	put8(crs, 21, ACPI_RES_END_TAG);
	put8(crs, 22, 0);

	name[0] = 'V';
	name[1] = 'R';
	name[2] = (char)('0' + d->uid / 10);
	name[3] = (char)('0' + d->uid % 10);
	name[4] = 0;
	dev = aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, d->uid);
	/* _CCA 1: DMA is cache-coherent (Linux's ACPI core otherwise marks the
	 * device as not DMA-capable on some paths). */
	aml_name(a, "_CCA");
	aml_integer(a, 1);
	aml_name(a, "_CRS");
	aml_buffer(a, crs, sizeof(crs));
	aml_end(a, dev);
	return a->err;
}

int acpi_dsdt_virtio_mmio(struct aml *a, const struct acpi_virtio_mmio *devs, unsigned n)
{
	size_t scope;

	if (n == 0)
		return a->err;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < i; j++)
			if (devs[i].uid == devs[j].uid)
				return -EINVAL;
	scope = aml_scope_begin(a, "\\_SB");
	for (unsigned i = 0; i < n; i++) {
		int rc = acpi_virtio_mmio_one(a, &devs[i]);
		if (rc)
			return rc;
	}
	aml_end(a, scope);
	return a->err;
}

/* Device (PEVT) { _HID "QEMU0001"; _CRS IO (Decode16, port, port, 1, 1) }:
 * what QEMU's pvpanic ISA device puts in its DSDT and what Linux's
 * pvpanic-mmio driver matches (it takes an I/O resource as well as memory). */
static int acpi_pvpanic(struct aml *a)
{
	uint8_t crs[8 + 2];
	size_t scope, dev;

	put8(crs, 0, ACPI_RES_IO);
	put8(crs, 1, ACPI_RES_IO_DECODE16);
	put16(crs, 2, PORT_PVPANIC); /* minimum base */
	put16(crs, 4, PORT_PVPANIC); /* maximum base */
	put8(crs, 6, 1);             /* alignment */
	put8(crs, 7, 1);             /* length */
	put8(crs, 8, ACPI_RES_END_TAG);
	put8(crs, 9, 0);
	scope = aml_scope_begin(a, "\\_SB");
	dev = aml_device_begin(a, "PEVT");
	aml_name(a, "_HID");
	aml_string(a, "QEMU0001");
	aml_name(a, "_CRS");
	aml_buffer(a, crs, sizeof(crs));
	aml_end(a, dev);
	aml_end(a, scope);
	return a->err;
}

int acpi_dsdt_body_devices(struct aml *a, const struct acpi_devices *devs)
{
	size_t pkg;

	/* \_S5_: soft-off. Package {PM1a SLP_TYP, PM1b SLP_TYP, reserved,
	 * reserved} (§7.4.2); the acpi-pm device powers off on this SLP_TYP. */
	aml_name(a, "\\_S5_");
	pkg = aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
	if (devs && devs->pvpanic && acpi_pvpanic(a))
		return a->err;
	if (devs && devs->nr_virtio_mmio)
		return acpi_dsdt_virtio_mmio(a, devs->virtio_mmio, devs->nr_virtio_mmio);
	return a->err;
}

/* ---- tables --------------------------------------------------------------- */

struct acpi_builder {
	uint8_t *bios; /* host view of [LAYOUT_ACPI_RSDP, LAYOUT_ACPI_END) */
	size_t next;   /* offset of the next free byte */
	int err;
};

/* Reserve len bytes aligned to align; returns the offset into bios. */
static size_t acpi_alloc(struct acpi_builder *b, size_t len, size_t align)
{
	size_t off = (b->next + align - 1) & ~(align - 1);
	if (b->err || off > BIOS_LEN || BIOS_LEN - off < len) {
		b->err = -ENOSPC;
		return 0;
	}
	b->next = off + len;
	return off;
}

static uint64_t gpa_of(size_t off)
{
	return LAYOUT_ACPI_RSDP + off;
}

/* System Description Table header (§5.2.6); the checksum is set last. */
static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t, 4, len);
	put8(t, 8, rev);
	put8(t, 9, 0);
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t, 24, 1); /* OEM revision */
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t, 32, 1); /* creator revision */
}

static void sdt_finish(uint8_t *t, uint32_t len)
{
	t[9] = (uint8_t)-acpi_checksum(t, len);
}

/* Generic Address Structure (§5.2.3.2) for a port range. Access size 0
 * ("undefined, legacy") as for the FADT's legacy blocks: the OS derives the
 * width from the block lengths. */
static void gas_io(uint8_t *p, unsigned off, uint8_t bit_width, uint64_t port)
{
	put8(p, off + 0, 1); /* System I/O space */
	put8(p, off + 1, bit_width);
	put8(p, off + 2, 0);
	put8(p, off + 3, 0);
	put64(p, off + 4, port);
}

/* FACS (§5.2.10): mandatory when the FADT is not hardware-reduced. No
 * global lock users, no waking vector (no S3). 64-byte aligned. */
static void build_facs(uint8_t *t)
{
	memcpy(t, "FACS", 4);
	put32(t, 4, ACPI_FACS_LEN);
	put32(t, 8, 0);  /* hardware signature */
	put32(t, 12, 0); /* firmware waking vector */
	put32(t, 16, 0); /* global lock */
	put32(t, 20, 0); /* flags */
	put64(t, 24, 0); /* X firmware waking vector */
	put8(t, 32, 2);  /* version */
}

/* FADT revision 6 (§5.2.9, Table 5-34), field offsets from that table. */
#define FADT_FLAG_WBINVD        (1u << 0)
#define FADT_FLAG_PROC_C1       (1u << 2)
#define FADT_FLAG_PWR_BUTTON    (1u << 4)  /* set: no fixed-feature power button */
#define FADT_FLAG_SLP_BUTTON    (1u << 5)  /* set: no fixed-feature sleep button */
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)
#define FADT_RESET_VALUE 0x06 /* 0xcf9: SYS_RST | RST_CPU, a hard reset */

static void build_fadt(uint8_t *t, uint64_t facs, uint64_t dsdt)
{
	sdt_header(t, "FACP", ACPI_FADT_LEN, 6);
	put32(t, 36, (uint32_t)facs);  /* FIRMWARE_CTRL (X_ form must then be 0) */
	put32(t, 40, (uint32_t)dsdt);  /* DSDT */
	put8(t, 45, 0);                /* Preferred_PM_Profile: unspecified */
	put16(t, 46, IRQ_ACPI_SCI);    /* SCI_INT */
	put32(t, 48, 0);               /* SMI_CMD: none, ACPI is always enabled */
	put32(t, 56, PORT_ACPI_PM1_EVT); /* PM1a_EVT_BLK */
	put32(t, 64, PORT_ACPI_PM1_CNT); /* PM1a_CNT_BLK */
	put8(t, 88, 4);                /* PM1_EVT_LEN: 2-byte status + 2-byte enable */
	put8(t, 89, 2);                /* PM1_CNT_LEN */
	put8(t, 91, 0);                /* PM_TMR_LEN: no ACPI PM timer */
	put16(t, 96, 0x0fff);          /* P_LVL2_LAT > 100: no C2 */
	put16(t, 98, 0x0fff);          /* P_LVL3_LAT > 1000: no C3 */
	/* IAPC_BOOT_ARCH (Table 5-35): there are ISA-style devices (16550 at
	 * 0x3f8, CMOS RTC at 0x70), no VGA. The 8042 flag stays clear: port 0x64
	 * only implements the reset pulse, there is no keyboard controller, and
	 * a clear flag keeps Linux's i8042 driver from probing for one. CMOS RTC
	 * Not Present stays clear since the RTC exists. */
	put16(t, 109, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_VGA_NOT_PRESENT);
	put32(t, 112, FADT_FLAG_WBINVD | FADT_FLAG_PROC_C1 | FADT_FLAG_PWR_BUTTON |
		      FADT_FLAG_SLP_BUTTON | FADT_FLAG_RESET_REG_SUP);
	gas_io(t, 116, 8, PORT_RESET_CF9); /* RESET_REG */
	put8(t, 128, FADT_RESET_VALUE);
	put8(t, 131, 0);               /* FADT minor version: 6.0 */
	put64(t, 132, 0);              /* X_FIRMWARE_CTRL */
	put64(t, 140, dsdt);           /* X_DSDT */
	gas_io(t, 148, 32, PORT_ACPI_PM1_EVT); /* X_PM1a_EVT_BLK */
	gas_io(t, 172, 16, PORT_ACPI_PM1_CNT); /* X_PM1a_CNT_BLK */
	memcpy(t + 268, "ISOLA   ", 8); /* hypervisor vendor identity */
	sdt_finish(t, ACPI_FADT_LEN);
}

static size_t madt_len(unsigned ncpus)
{
	return 44 + 8 * ncpus + 12 + 2 * 10 + 6;
}

static void madt_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	put8(e, 0, ACPI_MADT_INT_OVERRIDE);
	put8(e, 1, 10);
	put8(e, 2, 0); /* bus: ISA */
	put8(e, 3, irq);
	put32(e, 4, gsi);
	put16(e, 8, flags);
}

/* MADT (§5.2.12). */
static void build_madt(uint8_t *t, unsigned ncpus)
{
	uint32_t len = (uint32_t)madt_len(ncpus);
	uint8_t *e = t + 44;

	sdt_header(t, "APIC", len, 4);
	put32(t, 36, (uint32_t)LAYOUT_LAPIC);
	put32(t, 40, ACPI_MADT_PCAT_COMPAT); /* dual 8259s exist (soft models them) */
	for (unsigned i = 0; i < ncpus; i++, e += 8) {
		put8(e, 0, ACPI_MADT_LOCAL_APIC);
		put8(e, 1, 8);
		put8(e, 2, (uint8_t)i); /* ACPI processor UID */
		put8(e, 3, (uint8_t)i); /* APIC id */
		put32(e, 4, ACPI_MADT_LAPIC_ENABLED);
	}
	put8(e, 0, ACPI_MADT_IO_APIC);
	put8(e, 1, 12);
	put8(e, 2, (uint8_t)ncpus); /* I/O APIC id: the first one after the CPUs */
	put8(e, 3, 0);
	put32(e, 4, (uint32_t)LAYOUT_IOAPIC);
	put32(e, 8, 0); /* GSI base */
	e += 12;
	/* The PIT's IRQ0 is wired to I/O APIC pin 2 on PCs; the SCI is level
	 * triggered, active high as the acpi-pm device drives it. */
	madt_iso(e, 0, 2, ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_EDGE);
	e += 10;
	madt_iso(e, IRQ_ACPI_SCI, IRQ_ACPI_SCI, ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_LEVEL);
	e += 10;
	/* LINT1 of every local APIC is the NMI input, as on PCs. */
	put8(e, 0, ACPI_MADT_LOCAL_APIC_NMI);
	put8(e, 1, 6);
	put8(e, 2, 0xff); /* all processors */
	put16(e, 3, 0);   /* flags: conforms to the bus */
	put8(e, 5, 1);    /* LINT1 */
	sdt_finish(t, len);
}

int acpi_build(uint8_t *bios, unsigned ncpus)
{
	return acpi_build_devices(bios, ncpus, NULL);
}

int acpi_build_devices(uint8_t *bios, unsigned ncpus, const struct acpi_devices *devs)
{
	struct acpi_builder b = { .bios = bios, .next = 0, .err = 0 };
	size_t rsdp, xsdt, fadt, madt, facs, dsdt;
	const uint32_t xsdt_len = ACPI_SDT_HEADER_LEN + 2 * 8;
	struct aml a;
	int ret;

	if (ncpus == 0 || ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	memset(bios, 0, BIOS_LEN);

	rsdp = acpi_alloc(&b, ACPI_RSDP_LEN, 16);
	b.next = LAYOUT_ACPI_TABLES - LAYOUT_ACPI_RSDP;
	xsdt = acpi_alloc(&b, xsdt_len, 8);
	fadt = acpi_alloc(&b, ACPI_FADT_LEN, 8);
	madt = acpi_alloc(&b, madt_len(ncpus), 8);
	facs = acpi_alloc(&b, ACPI_FACS_LEN, 64);
	dsdt = acpi_alloc(&b, ACPI_SDT_HEADER_LEN, 8);
	if (b.err)
		return b.err;

	/* DSDT last: its AML body takes whatever room is left. */
	aml_init(&a, bios + dsdt + ACPI_SDT_HEADER_LEN, BIOS_LEN - dsdt - ACPI_SDT_HEADER_LEN);
	ret = acpi_dsdt_body_devices(&a, devs);
	if (ret)
		return ret;
	/* Revision 2: AML integers are 64 bits wide (§5.2.11.1). */
	sdt_header(bios + dsdt, "DSDT", (uint32_t)(ACPI_SDT_HEADER_LEN + a.len), 2);
	sdt_finish(bios + dsdt, (uint32_t)(ACPI_SDT_HEADER_LEN + a.len));

	build_facs(bios + facs);
	build_fadt(bios + fadt, gpa_of(facs), gpa_of(dsdt));
	build_madt(bios + madt, ncpus);

	sdt_header(bios + xsdt, "XSDT", xsdt_len, 1);
	put64(bios + xsdt, 36, gpa_of(fadt));
	put64(bios + xsdt, 44, gpa_of(madt));
	sdt_finish(bios + xsdt, xsdt_len);

	/* RSDP (§5.2.5.3): revision 2, no RSDT (ACPI 2.0+ OSes use the XSDT). */
	uint8_t *r = bios + rsdp;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	put8(r, 15, 2);
	put32(r, 16, 0);
	put32(r, 20, ACPI_RSDP_LEN);
	put64(r, 24, gpa_of(xsdt));
	r[8] = (uint8_t)-acpi_checksum(r, 20);
	r[32] = (uint8_t)-acpi_checksum(r, ACPI_RSDP_LEN);
	return 0;
}

int acpi_setup(struct guest_mem *mem, unsigned ncpus)
{
	return acpi_setup_devices(mem, ncpus, NULL);
}

int acpi_setup_devices(struct guest_mem *mem, unsigned ncpus, const struct acpi_devices *devs)
{
	uint8_t *bios = gm_ptr(mem, LAYOUT_ACPI_RSDP, BIOS_LEN);
	int ret;

	if (!bios)
		return -EFAULT;
	ret = acpi_build_devices(bios, ncpus, devs);
	if (ret == 0 && mem->on_write)
		mem->on_write(mem->on_write_opaque, LAYOUT_ACPI_RSDP, BIOS_LEN);
	return ret;
}
