/* ACPI tables and the AML emitter (arch/x86/acpi.c). The tables are walked
 * the way an OS does: find the RSDP, follow the XSDT, check every checksum. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "memory.h"
#include "unit.h"

#define BIOS_LEN (LAYOUT_ACPI_END - LAYOUT_ACPI_RSDP)

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The table at gpa, if the whole of it (per its length field) lies in the
 * table area; NULL otherwise. */
static const uint8_t *table_at(const uint8_t *bios, uint64_t gpa, const char *sig)
{
	if (gpa < LAYOUT_ACPI_TABLES || gpa + ACPI_SDT_HEADER_LEN > LAYOUT_ACPI_END)
		return NULL;
	const uint8_t *t = bios + (gpa - LAYOUT_ACPI_RSDP);
	if (memcmp(t, sig, 4))
		return NULL;
	uint32_t len = rd32(t + 4);
	if (len < ACPI_SDT_HEADER_LEN || gpa + len > LAYOUT_ACPI_END)
		return NULL;
	return t;
}

static void check_sdt(const uint8_t *t)
{
	CHECK_EQ(acpi_checksum(t, rd32(t + 4)), 0);
	CHECK(!memcmp(t + 10, "ISOLA ", 6));
}

static const uint8_t s5_aml[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				  0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };

static void check_tables(const uint8_t *bios, unsigned ncpus)
{
	const uint8_t *r = bios; /* RSDP at LAYOUT_ACPI_RSDP */
	const uint8_t *xsdt, *fadt = NULL, *madt = NULL, *dsdt, *facs;

	CHECK(!memcmp(r, "RSD PTR ", 8));
	CHECK_EQ(acpi_checksum(r, 20), 0);
	CHECK_EQ(acpi_checksum(r, ACPI_RSDP_LEN), 0);
	CHECK_EQ(r[15], 2);
	CHECK_EQ(rd32(r + 20), ACPI_RSDP_LEN);
	xsdt = table_at(bios, rd64(r + 24), "XSDT");
	CHECK(xsdt != NULL);
	if (!xsdt)
		return;
	check_sdt(xsdt);
	CHECK_EQ(rd32(xsdt + 4), ACPI_SDT_HEADER_LEN + 2 * 8);
	for (unsigned i = 0; i < 2; i++) {
		uint64_t gpa = rd64(xsdt + ACPI_SDT_HEADER_LEN + 8 * i);
		if (table_at(bios, gpa, "FACP"))
			fadt = table_at(bios, gpa, "FACP");
		if (table_at(bios, gpa, "APIC"))
			madt = table_at(bios, gpa, "APIC");
	}
	CHECK(fadt && madt);
	if (!fadt || !madt)
		return;

	/* FADT: revision 6 layout, legacy PM1 blocks, not hardware-reduced. */
	check_sdt(fadt);
	CHECK_EQ(rd32(fadt + 4), ACPI_FADT_LEN);
	CHECK_EQ(fadt[8], 6);
	CHECK_EQ(rd16(fadt + 46), IRQ_ACPI_SCI);
	CHECK_EQ(rd32(fadt + 48), 0);                /* no SMI_CMD */
	CHECK_EQ(rd32(fadt + 56), PORT_ACPI_PM1_EVT);
	CHECK_EQ(rd32(fadt + 64), PORT_ACPI_PM1_CNT);
	CHECK_EQ(fadt[88], 4);
	CHECK_EQ(fadt[89], 2);
	CHECK_EQ(rd32(fadt + 112) & (1u << 20), 0);  /* HW_REDUCED_ACPI clear */
	CHECK_EQ(rd16(fadt + 109) & (1u << 1), 0);   /* no 8042 */
	CHECK_EQ(fadt[148], 1);                      /* X_PM1a_EVT_BLK: system I/O */
	CHECK_EQ(fadt[149], 32);
	CHECK_EQ(rd64(fadt + 152), PORT_ACPI_PM1_EVT);
	CHECK_EQ(fadt[172], 1);                      /* X_PM1a_CNT_BLK */
	CHECK_EQ(fadt[173], 16);
	CHECK_EQ(rd64(fadt + 176), PORT_ACPI_PM1_CNT);
	CHECK_EQ(rd64(fadt + 140), rd32(fadt + 40)); /* X_DSDT == DSDT */
	dsdt = table_at(bios, rd32(fadt + 40), "DSDT");
	CHECK(dsdt != NULL);
	if (dsdt) {
		check_sdt(dsdt);
		CHECK_EQ(dsdt[8], 2);
		CHECK_EQ(rd32(dsdt + 4), ACPI_SDT_HEADER_LEN + sizeof(s5_aml));
		CHECK(!memcmp(dsdt + ACPI_SDT_HEADER_LEN, s5_aml, sizeof(s5_aml)));
	}
	/* FACS: no checksum, 64-byte aligned, only the 32-bit pointer set. */
	uint64_t facs_gpa = rd32(fadt + 36);
	CHECK_EQ(facs_gpa % 64, 0);
	CHECK_EQ(rd64(fadt + 132), 0);
	facs = table_at(bios, facs_gpa, "FACS");
	CHECK(facs != NULL);
	if (facs)
		CHECK_EQ(rd32(facs + 4), ACPI_FACS_LEN);

	/* MADT: one enabled LAPIC per CPU with id = index, one I/O APIC with
	 * id ncpus, ISOs IRQ0->GSI2 (edge) and IRQ9->GSI9 (level, high). */
	check_sdt(madt);
	CHECK_EQ(rd32(madt + 36), LAYOUT_LAPIC);
	CHECK_EQ(rd32(madt + 40) & ACPI_MADT_PCAT_COMPAT, ACPI_MADT_PCAT_COMPAT);
	uint32_t len = rd32(madt + 4);
	unsigned nlapic = 0, nioapic = 0, iso0 = 0, iso9 = 0, nnmi = 0;
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = madt + off;
		CHECK(e[1] >= 2 && off + e[1] <= len);
		if (e[1] < 2 || off + e[1] > len)
			break;
		switch (e[0]) {
		case ACPI_MADT_LOCAL_APIC:
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[3], nlapic);
			CHECK_EQ(e[2], nlapic);
			CHECK_EQ(rd32(e + 4) & ACPI_MADT_LAPIC_ENABLED, ACPI_MADT_LAPIC_ENABLED);
			nlapic++;
			break;
		case ACPI_MADT_IO_APIC:
			CHECK_EQ(e[1], 12);
			CHECK_EQ(e[2], ncpus);
			CHECK_EQ(rd32(e + 4), LAYOUT_IOAPIC);
			CHECK_EQ(rd32(e + 8), 0);
			nioapic++;
			break;
		case ACPI_MADT_INT_OVERRIDE:
			CHECK_EQ(e[1], 10);
			CHECK_EQ(e[2], 0);
			if (e[3] == 0) {
				CHECK_EQ(rd32(e + 4), 2);
				CHECK_EQ(rd16(e + 8) & 0xc, ACPI_MPS_EDGE);
				iso0++;
			} else if (e[3] == IRQ_ACPI_SCI) {
				CHECK_EQ(rd32(e + 4), IRQ_ACPI_SCI);
				CHECK_EQ(rd16(e + 8), ACPI_MPS_LEVEL | ACPI_MPS_ACTIVE_HIGH);
				iso9++;
			} else {
				CHECK(!"unexpected interrupt source override");
			}
			break;
		case ACPI_MADT_LOCAL_APIC_NMI:
			CHECK_EQ(e[1], 6);
			CHECK_EQ(e[5], 1);
			nnmi++;
			break;
		default:
			CHECK(!"unexpected MADT entry");
		}
		off += e[1];
	}
	CHECK_EQ(nlapic, ncpus);
	CHECK_EQ(nioapic, 1);
	CHECK_EQ(iso0, 1);
	CHECK_EQ(iso9, 1);
	CHECK_EQ(nnmi, 1);
	CHECK_EQ(len, 44 + 8 * ncpus + 12 + 20 + 6);
}

TEST(boot_acpi_1cpu)
{
	uint8_t *bios = malloc(BIOS_LEN);
	CHECK(bios != NULL);
	if (!bios)
		return;
	memset(bios, 0xa5, BIOS_LEN); /* acpi_build must not depend on zeroed memory */
	CHECK_EQ(acpi_build(bios, 1), 0);
	check_tables(bios, 1);
	free(bios);
}

TEST(boot_acpi_8cpus)
{
	uint8_t *bios = malloc(BIOS_LEN);
	CHECK(bios != NULL);
	if (!bios)
		return;
	CHECK_EQ(acpi_build(bios, 8), 0);
	check_tables(bios, 8);
	CHECK_EQ(acpi_build(bios, ACPI_MAX_CPUS), 0);
	check_tables(bios, ACPI_MAX_CPUS);
	CHECK_EQ(acpi_build(bios, 0), -EINVAL);
	CHECK_EQ(acpi_build(bios, ACPI_MAX_CPUS + 1), -EINVAL);
	free(bios);
}

/* In guest memory, found the way Linux looks for it: "RSD PTR " on a 16-byte
 * boundary in 0xe0000-0xfffff with a valid checksum. */
TEST(boot_acpi_in_guest_memory)
{
	struct guest_mem mem;
	const uint8_t *bios;
	uint64_t found = 0;

	CHECK_EQ(gm_init(&mem, 64ull << 20), 0);
	CHECK_EQ(acpi_setup(&mem, 2), 0);
	bios = gm_ptr(&mem, 0xe0000, 0x20000);
	CHECK(bios != NULL);
	if (bios) {
		for (uint64_t off = 0; off < 0x20000; off += 16)
			if (!memcmp(bios + off, "RSD PTR ", 8) && !acpi_checksum(bios + off, 20)) {
				found = 0xe0000 + off;
				break;
			}
		CHECK_EQ(found, LAYOUT_ACPI_RSDP);
		check_tables(bios + (LAYOUT_ACPI_RSDP - 0xe0000), 2);
	}
	gm_destroy(&mem);
}

TEST(boot_aml_encoding)
{
	uint8_t buf[512];
	struct aml a;
	size_t m;

	/* Integers take the shortest form. */
	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0x80);
	aml_integer(&a, 0x1234);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0x123456789aull);
	static const uint8_t ints[] = { 0x00, 0x01, 0x0a, 0x80, 0x0b, 0x34, 0x12,
					0x0c, 0x78, 0x56, 0x34, 0x12,
					0x0e, 0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0 };
	CHECK_EQ(a.err, 0);
	CHECK_EQ(a.len, sizeof(ints));
	CHECK(!memcmp(buf, ints, sizeof(ints)));

	/* Names: padding, dual and multi paths, root and parent prefixes. */
	aml_init(&a, buf, sizeof(buf));
	aml_namestring(&a, "COM");
	aml_namestring(&a, "_SB.PCI0");
	aml_namestring(&a, "\\A.B.C");
	aml_namestring(&a, "^_HID");
	static const uint8_t names[] = { 'C', 'O', 'M', '_',
					 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
					 '\\', 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_',
					 'C', '_', '_', '_',
					 '^', '_', 'H', 'I', 'D' };
	CHECK_EQ(a.err, 0);
	CHECK_EQ(a.len, sizeof(names));
	CHECK(!memcmp(buf, names, sizeof(names)));
	static const char *const bad[] = { "1ABC", "ABCDE", "A..B", "AB.", "a", "A\\B" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_namestring(&a, bad[i]);
		CHECK_EQ(a.err, -EINVAL);
	}

	/* The \_S5_ body matches what iasl emits for
	 * Name(\_S5_, Package(){5, 5, 0, 0}). */
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_body(&a), 0);
	CHECK_EQ(a.len, sizeof(s5_aml));
	CHECK(!memcmp(buf, s5_aml, sizeof(s5_aml)));

	/* PkgLength: 62 bytes of content fit one byte (63 with itself); 63 need
	 * two: lead byte 0x40 | low nibble, then the rest. */
	aml_init(&a, buf, sizeof(buf));
	m = aml_package_begin(&a, 61);
	for (int i = 0; i < 61; i++)
		aml_integer(&a, 0);
	aml_end(&a, m);
	CHECK_EQ(a.err, 0);
	CHECK_EQ(buf[1], 63);
	CHECK_EQ(a.len, 1 + 1 + 62);
	aml_init(&a, buf, sizeof(buf));
	m = aml_package_begin(&a, 62);
	for (int i = 0; i < 62; i++)
		aml_integer(&a, 0);
	aml_end(&a, m);
	CHECK_EQ(a.err, 0);
	CHECK_EQ(buf[1], 0x40 | (65 & 0xf)); /* 63 content + 2 = 65 = 0x41 */
	CHECK_EQ(buf[2], 65 >> 4);
	CHECK_EQ(buf[3], 62);                /* NumElements moved after the PkgLength */
	CHECK_EQ(a.len, 1 + 2 + 63);

	/* Nested blocks: Device inside Scope. */
	aml_init(&a, buf, sizeof(buf));
	m = aml_scope_begin(&a, "\\_SB");
	size_t d = aml_device_begin(&a, "COM1");
	aml_name(&a, "_UID");
	aml_integer(&a, 0);
	aml_end(&a, d);
	aml_end(&a, m);
	static const uint8_t nested[] = { 0x10, 0x13, '\\', '_', 'S', 'B', '_',
					  0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1',
					  0x08, '_', 'U', 'I', 'D', 0x00 };
	CHECK_EQ(a.err, 0);
	CHECK_EQ(a.len, sizeof(nested));
	CHECK(!memcmp(buf, nested, sizeof(nested)));

	/* Running out of room sticks. */
	aml_init(&a, buf, 4);
	aml_string(&a, "HELLO");
	CHECK_EQ(a.err, -ENOSPC);
	aml_integer(&a, 0);
	CHECK_EQ(a.len, 4);
}

/* Device (PEVT) as iasl compiles
 *   Device (PEVT) { Name (_HID, "QEMU0001")
 *     Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01) }) }
 * which is what Linux's pvpanic driver matches. */
static const uint8_t pevt_aml[] = {
	0x5b, 0x82, 0x27, 0x50, 0x45, 0x56, 0x54, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x51,
	0x45, 0x4d, 0x55, 0x30, 0x30, 0x30, 0x31, 0x00, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11,
	0x0d, 0x0a, 0x0a, 0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, 0x79, 0x00,
};

TEST(boot_acpi_pvpanic_device)
{
	static uint8_t buf[512];
	struct aml a;
	struct acpi_devices devs = { .pvpanic = true };

	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_body_devices(&a, &devs), 0);
	CHECK(memmem(buf, a.len, pevt_aml, sizeof(pevt_aml)) != NULL);
	/* and not without it */
	devs.pvpanic = false;
	aml_init(&a, buf, sizeof(buf));
	CHECK_EQ(acpi_dsdt_body_devices(&a, &devs), 0);
	CHECK(memmem(buf, a.len, pevt_aml, sizeof(pevt_aml)) == NULL);
}
