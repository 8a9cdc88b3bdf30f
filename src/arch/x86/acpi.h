/* ACPI tables for the guest (ACPI spec 6.0): RSDP, XSDT, FADT, FACS, MADT and
 * a DSDT, built in the BIOS area [LAYOUT_ACPI_RSDP, LAYOUT_ACPI_END), plus a
 * small AML emitter for the DSDT body (ACPI spec 6.0 §20, "AML
 * Specification") so that devices can be described by code, not byte blobs. */
#ifndef ISOLA_X86_ACPI_H
#define ISOLA_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory.h"

#define ACPI_OEM_ID       "ISOLA "   /* 6 bytes */
#define ACPI_OEM_TABLE_ID "ISOLAVM " /* 8 bytes */
#define ACPI_CREATOR_ID   "ISLA"
#define ACPI_MAX_CPUS     254        /* 8-bit APIC ids; the I/O APIC takes id ncpus */

/* Sizes and field offsets the tests (and later readers) rely on. */
#define ACPI_SDT_HEADER_LEN 36
#define ACPI_RSDP_LEN       36
#define ACPI_FADT_LEN       276      /* revision 6 */
#define ACPI_FACS_LEN       64

/* MADT (ACPI 6.0 §5.2.12) structure types used here. */
#define ACPI_MADT_LOCAL_APIC     0
#define ACPI_MADT_IO_APIC        1
#define ACPI_MADT_INT_OVERRIDE   2
#define ACPI_MADT_LOCAL_APIC_NMI 4
#define ACPI_MADT_PCAT_COMPAT    1u
#define ACPI_MADT_LAPIC_ENABLED  1u
/* MPS INTI flags (ACPI 6.0 Table 5-50): polarity bits 1:0, trigger bits 3:2. */
#define ACPI_MPS_ACTIVE_HIGH 0x1
#define ACPI_MPS_ACTIVE_LOW  0x3
#define ACPI_MPS_EDGE        (0x1 << 2)
#define ACPI_MPS_LEVEL       (0x3 << 2)

/* Build every table into bios, the host view of guest-physical
 * [LAYOUT_ACPI_RSDP, LAYOUT_ACPI_END), for ncpus CPUs (APIC ids 0..ncpus-1).
 * 0, -EINVAL (ncpus out of 1..ACPI_MAX_CPUS) or -ENOSPC. */
int acpi_build(uint8_t *bios, unsigned ncpus);

/* The same, into guest memory (which must cover the BIOS area). */
int acpi_setup(struct guest_mem *mem, unsigned ncpus);

/* 8-bit sum of len bytes; a valid table sums to 0. */
uint8_t acpi_checksum(const void *p, size_t len);

/* ---- AML emitter ----------------------------------------------------------
 * Emit into a fixed buffer. The first error (-ENOSPC, or -EINVAL for a bad
 * name) sticks in a->err and later calls do nothing, so a caller emits a whole
 * body and checks once. Blocks (Package, Scope, Device) carry a PkgLength
 * whose size depends on their content: *_begin returns a mark, aml_end(mark)
 * encodes the length there (§20.2.4). */
struct aml {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_byte(struct aml *a, uint8_t b);
/* Integer with the shortest encoding: ZeroOp, OneOp, Byte/Word/DWord/QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
/* StringPrefix, ASCII characters 0x01..0x7f, NUL. */
void aml_string(struct aml *a, const char *s);
/* NameString (§20.2.2): "\\_S5_", "_SB_.COM1", "_HID"; segments shorter than
 * four characters are padded with '_'. */
void aml_namestring(struct aml *a, const char *name);
/* DefName: NameOp NameString; the caller emits the object next. */
void aml_name(struct aml *a, const char *name);
/* DefPackage: PackageOp PkgLength NumElements; then nelems objects; aml_end. */
size_t aml_package_begin(struct aml *a, unsigned nelems);
/* DefScope / DefDevice: then their TermList; aml_end. */
size_t aml_scope_begin(struct aml *a, const char *name);
size_t aml_device_begin(struct aml *a, const char *name);
void aml_end(struct aml *a, size_t mark);

/* DefBuffer: BufferOp PkgLength BufferSize ByteList, here a fixed list of
 * len bytes (a ResourceTemplate is a buffer of resource descriptors). */
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);

/* The DSDT body isola ships (today: \_S5_ for poweroff). 0 or a->err. */
int acpi_dsdt_body(struct aml *a);

/* ---- devices described in the DSDT -----------------------------------------
 * virtio-mmio devices must be in the DSDT for Linux to find them when the
 * kernel lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's does): a Device
 * with _HID "LNRO0005" (drivers/virtio/virtio_mmio.c's ACPI match), _UID,
 * _CCA and a _CRS holding a Memory32Fixed window and one Extended Interrupt
 * (Level, ActiveHigh, Exclusive: the transport holds its line up while
 * InterruptStatus is non-zero), as QEMU's microvm describes them. */
struct acpi_virtio_mmio {
	uint64_t base;  /* window; must lie below 4 GiB (Memory32Fixed) */
	uint32_t len;   /* VIRTIO_MMIO_WINDOW */
	uint32_t gsi;   /* I/O APIC input, e.g. 16 + index */
	unsigned uid;   /* 0..99: Device \_SB_.VRnn, _UID nn */
};

/* What the DSDT describes besides the fixed machine. NULL means nothing. */
struct acpi_devices {
	const struct acpi_virtio_mmio *virtio_mmio;
	unsigned nr_virtio_mmio;
	bool pvpanic; /* Device (\_SB_.PEVT), _HID "QEMU0001", at PORT_PVPANIC */
};

/* Scope (\_SB_) { Device (VRnn) {...} ... } for n devices; nothing for
 * n == 0. 0, -EINVAL (window above 4 GiB, uid > 99, duplicate uid) or
 * a->err. */
int acpi_dsdt_virtio_mmio(struct aml *a, const struct acpi_virtio_mmio *devs, unsigned n);

/* acpi_dsdt_body plus the devices. */
int acpi_dsdt_body_devices(struct aml *a, const struct acpi_devices *devs);

/* acpi_build / acpi_setup with devices in the DSDT (devs may be NULL). */
int acpi_build_devices(uint8_t *bios, unsigned ncpus, const struct acpi_devices *devs);
int acpi_setup_devices(struct guest_mem *mem, unsigned ncpus, const struct acpi_devices *devs);

#endif
