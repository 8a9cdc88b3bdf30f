/* ACPI tables as an OS finds them (ACPI spec 6.0 chapter 5): the RSDP in the
 * BIOS area 0xe0000-0xfffff (§5.2.5.1), its checksums, the XSDT and every
 * table it lists with valid checksums, the FADT's PM1a event/control blocks
 * (legacy and X_ forms agreeing), the DSDT and its \_S5_ package (§7.4.2),
 * the MADT's local APICs (boot CPU APIC id 0, ids unique, as many as
 * "expect_cpus=" says) and I/O APIC at the addresses isola uses. Then it powers off the way Linux does, with nothing
 * hard-coded: SLP_TYP from \_S5_ and SLP_EN written to the FADT's PM1a_CNT.
 * isola exits 0 when the tables and the PM device agree. */
#include "rt/lib.h"

#define BIOS_START ((uint64_t)0xe0000)
#define BIOS_END ((uint64_t)0x100000)
#define TABLE_MAX_LEN 0x100000u /* larger is not a table isola wrote */
#define SLP_EN (1u << 13)

static uint8_t sum(uint64_t addr, uint32_t len)
{
	uint8_t s = 0;

	for (uint32_t i = 0; i < len; i++)
		s += mmio_read8(addr + i);
	return s;
}

static uint32_t rd32(uint64_t a)
{
	return mmio_read32(a);
}

static uint64_t rd64(uint64_t a)
{
	return mmio_read32(a) | (uint64_t)mmio_read32(a + 4) << 32;
}

static bool sig_is(uint64_t a, const char *sig, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (mmio_read8(a + i) != (uint8_t)sig[i])
			return false;
	return true;
}

/* A system description table header (§5.2.6) that is sane: address in the
 * identity map, plausible length, checksum zero. Returns its length or 0. */
static uint32_t table_ok(uint64_t a, const char *sig)
{
	if (a == 0 || a >= (4ull << 30) - TABLE_MAX_LEN) {
		printf("  %s: address 0x%lx out of range\n", sig, a);
		return 0;
	}
	uint32_t len = rd32(a + 4);
	if (len < 36 || len > TABLE_MAX_LEN) {
		printf("  %s at 0x%lx: length %u\n", sig, a, len);
		return 0;
	}
	if (sig && !sig_is(a, sig, 4)) {
		printf("  table at 0x%lx is not %s\n", a, sig);
		return 0;
	}
	if (sum(a, len) != 0) {
		printf("  %s at 0x%lx: bad checksum\n", sig, a);
		return 0;
	}
	return len;
}

static uint64_t find_rsdp(void)
{
	for (uint64_t a = BIOS_START; a < BIOS_END; a += 16)
		if (sig_is(a, "RSD PTR ", 8))
			return a;
	return 0;
}

/* One AML integer (§20.2.3 ComputationalData): Zero, One, Ones or a
 * Byte/Word/DWord prefix. Advances *p; false if it is something else. */
static bool aml_int(uint64_t *p, uint64_t end, uint64_t *v)
{
	uint8_t op = mmio_read8(*p);
	unsigned n = 0;

	switch (op) {
	case 0x00: *v = 0; break;
	case 0x01: *v = 1; break;
	case 0xff: *v = ~0ull; break;
	case 0x0a: n = 1; break;
	case 0x0b: n = 2; break;
	case 0x0c: n = 4; break;
	default: return false;
	}
	if (*p + 1 + n > end)
		return false;
	if (n) {
		*v = 0;
		for (unsigned i = 0; i < n; i++)
			*v |= (uint64_t)mmio_read8(*p + 1 + i) << (8 * i);
	}
	*p += 1 + n;
	return true;
}

/* \_S5_ in the DSDT: NameOp "_S5_" PackageOp PkgLength NumElements int... */
static bool find_s5(uint64_t dsdt, uint32_t len, uint64_t *slp_typ)
{
	uint64_t end = dsdt + len;

	for (uint64_t p = dsdt + 36; p + 4 < end; p++) {
		if (!sig_is(p, "_S5_", 4))
			continue;
		uint64_t q = p + 4;
		if (mmio_read8(q++) != 0x12) /* PackageOp */
			continue;
		q += 1 + (mmio_read8(q) >> 6); /* PkgLength: bits 7:6 = extra bytes */
		if (q >= end || mmio_read8(q++) < 1) /* NumElements */
			continue;
		if (q < end && aml_int(&q, end, slp_typ))
			return true;
	}
	return false;
}

/* A Generic Address Structure (§5.2.3.2) for a system I/O port. */
static bool gas_io(uint64_t a, uint64_t *port)
{
	if (mmio_read8(a) != 1) /* address space: system I/O */
		return false;
	*port = rd64(a + 4);
	return true;
}

static int check_madt(uint64_t madt, uint32_t len, uint64_t expect_cpus)
{
	unsigned lapics = 0, ioapics = 0;
	uint64_t ids_seen[4] = { 0 }; /* APIC ids are 8 bits */
	bool boot_cpu = false;

	printf("MADT: local APIC at 0x%x, flags 0x%x\n", rd32(madt + 36), rd32(madt + 40));
	if (rd32(madt + 36) != LAPIC_BASE)
		return -1;
	for (uint64_t e = madt + 44; e + 2 <= madt + len;) {
		uint8_t type = mmio_read8(e), elen = mmio_read8(e + 1);
		if (elen < 2 || e + elen > madt + len) {
			printf("  MADT entry at 0x%lx has length %u\n", e, elen);
			return -1;
		}
		if (type == 0 && elen >= 8) {
			uint8_t id = mmio_read8(e + 3);
			uint32_t flags = rd32(e + 4);
			printf("  local APIC: processor %u, APIC id %u, flags 0x%x\n",
			       mmio_read8(e + 2), id, flags);
			if (flags & 1) {
				lapics++;
				boot_cpu |= id == 0;
				if (ids_seen[id / 64] & (1ull << (id % 64))) {
					printf("  APIC id %u listed twice\n", id);
					return -1;
				}
				ids_seen[id / 64] |= 1ull << (id % 64);
			}
		} else if (type == 1 && elen >= 12) {
			printf("  I/O APIC: id %u at 0x%x, GSI base %u\n", mmio_read8(e + 2),
			       rd32(e + 4), rd32(e + 8));
			if (rd32(e + 4) != IOAPIC_BASE || rd32(e + 8) != 0)
				return -1;
			ioapics++;
		} else {
			printf("  entry type %u, length %u\n", type, elen);
		}
		e += elen;
	}
	if (expect_cpus && lapics != expect_cpus) {
		printf("  %u enabled local APICs, isola was given %lu CPUs\n", lapics, expect_cpus);
		return -1;
	}
	if (!lapics || !boot_cpu || ioapics != 1) {
		printf("  %u enabled local APICs (boot CPU %s), %u I/O APICs\n", lapics,
		       boot_cpu ? "present" : "missing", ioapics);
		return -1;
	}
	return 0;
}

int guest_main(void *bp)
{
	uint64_t rsdp = find_rsdp();
	if (!rsdp)
		fail("no RSDP in 0x%lx-0x%lx", BIOS_START, BIOS_END - 1);
	uint8_t rev = mmio_read8(rsdp + 15);
	printf("RSDP at 0x%lx, revision %u\n", rsdp, rev);
	if (sum(rsdp, 20) != 0)
		fail("RSDP checksum");
	if (rev < 2)
		fail("RSDP revision %u has no XSDT", rev);
	if (rd32(rsdp + 20) < 36 || sum(rsdp, rd32(rsdp + 20)) != 0)
		fail("RSDP extended checksum or length");

	uint64_t xsdt = rd64(rsdp + 24);
	uint32_t xlen = table_ok(xsdt, "XSDT");
	if (!xlen)
		fail("bad XSDT");
	uint64_t fadt = 0, madt = 0;
	uint32_t fadt_len = 0, madt_len = 0;
	for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t t = rd64(xsdt + off);
		uint32_t len = table_ok(t, NULL);
		if (!len)
			fail("bad table in XSDT entry %u", (off - 36) / 8);
		printf("  %c%c%c%c at 0x%lx, %u bytes, revision %u\n", mmio_read8(t),
		       mmio_read8(t + 1), mmio_read8(t + 2), mmio_read8(t + 3), t, len,
		       mmio_read8(t + 8));
		if (sig_is(t, "FACP", 4)) {
			fadt = t;
			fadt_len = len;
		} else if (sig_is(t, "APIC", 4)) {
			madt = t;
			madt_len = len;
		}
	}
	if (!fadt || fadt_len < 184)
		fail("no FADT of at least 184 bytes (X_PM1a_CNT_BLK)");
	if (!madt)
		fail("no MADT");

	uint64_t evt = rd32(fadt + 56), cnt = rd32(fadt + 64), xevt, xcnt;
	uint8_t evt_len = mmio_read8(fadt + 88), cnt_len = mmio_read8(fadt + 89);
	printf("FADT: PM1a_EVT_BLK 0x%lx (%u bytes), PM1a_CNT_BLK 0x%lx (%u bytes)\n", evt,
	       evt_len, cnt, cnt_len);
	if (!gas_io(fadt + 148, &xevt) || !gas_io(fadt + 172, &xcnt))
		fail("X_PM1a blocks are not in system I/O space");
	if (xevt != evt || xcnt != cnt)
		fail("X_PM1a blocks (0x%lx, 0x%lx) disagree with PM1a (0x%lx, 0x%lx)", xevt,
		     xcnt, evt, cnt);
	if (evt != PORT_PM1_EVT || cnt != PORT_PM1_CNT || evt_len != 4 || cnt_len != 2)
		fail("PM1a blocks are not where isola's PM device is (0x600/4, 0x604/2)");
	uint64_t dsdt = rd64(fadt + 140);
	if (!dsdt)
		dsdt = rd32(fadt + 40);
	else if (rd32(fadt + 40) && rd32(fadt + 40) != dsdt)
		fail("DSDT and X_DSDT disagree");
	uint32_t dlen = table_ok(dsdt, "DSDT");
	if (!dlen)
		fail("bad DSDT");
	uint64_t slp_typ;
	if (!find_s5(dsdt, dlen, &slp_typ))
		fail("no \\_S5_ package in the DSDT");
	printf("DSDT at 0x%lx, %u bytes: \\_S5_ SLP_TYP %lu\n", dsdt, dlen, slp_typ);
	if (slp_typ > 7)
		fail("SLP_TYP %lu does not fit PM1_CNT bits 12:10", slp_typ);
	uint64_t expect_cpus = 0;
	(void)cmdline_u64(bp, "expect_cpus", &expect_cpus);
	if (check_madt(madt, madt_len, expect_cpus))
		fail("MADT does not describe isola's interrupt controllers");

	printf("ACPI tables valid; powering off: 0x%x to port 0x%lx\n",
	       (unsigned)(slp_typ << 10 | SLP_EN), cnt);
	outw((uint16_t)cnt, (uint16_t)(slp_typ << 10 | SLP_EN));
	for (volatile unsigned i = 0; i < 1000; i++)
		;
	fail("still running after the S5 request the ACPI tables describe");
}
