/* The machine isola presents: fixed guest-physical addresses and I/O ports.
 * One place, so the loader, the ACPI tables and the devices agree. */
#ifndef ISOLA_X86_LAYOUT_H
#define ISOLA_X86_LAYOUT_H

/* Low memory used by the boot code (all below the 640 KiB EBDA boundary). */
#define LAYOUT_GDT            0x0500ull   /* boot GDT, 4 entries */
#define LAYOUT_BOOT_PARAMS    0x7000ull   /* Linux zero page (struct boot_params) */
#define LAYOUT_CMDLINE        0x20000ull  /* kernel command line, LAYOUT_CMDLINE_MAX bytes */
#define LAYOUT_CMDLINE_MAX    0x10000ull
#define LAYOUT_PAGE_TABLES    0x30000ull  /* PML4, PDPT, PDs: identity map for the 64-bit entry */
#define LAYOUT_PAGE_TABLES_END 0x80000ull
#define LAYOUT_BOOT_STACK     0x8ff0ull   /* rsp handed to test guests (they set their own) */
#define LAYOUT_EBDA           0x9fc00ull  /* e820: [0, EBDA) is RAM, [EBDA, 1 MiB) reserved */
#define LAYOUT_ACPI_RSDP      0xe0000ull  /* in the BIOS area where Linux scans for "RSD PTR " */
#define LAYOUT_ACPI_TABLES    0xe0100ull  /* XSDT, MADT, FADT, DSDT follow the RSDP */
#define LAYOUT_ACPI_END       0x100000ull
#define LAYOUT_KERNEL         0x100000ull /* protected-mode kernel: 1 MiB */

/* Interrupt controllers (fixed by the PC architecture). */
#define LAYOUT_IOAPIC         0xfec00000ull
#define LAYOUT_LAPIC          0xfee00000ull
#define LAYOUT_KVM_TSS        0xfffbd000ull /* 3 pages KVM needs for its TSS */
#define LAYOUT_KVM_IDENTITY   0xfffbc000ull /* 1 page KVM needs for its identity map */
#define LAYOUT_MMIO_DEVICES   0xd0000000ull /* virtio-mmio and other MMIO devices */
#define LAYOUT_VIRTIO_MMIO_GSI_BASE 16    /* virtio-mmio device i: I/O APIC pin 16 + i */

/* Port I/O. */
#define PORT_COM1       0x3f8  /* 16550A, 8 ports, IRQ 4 */
#define IRQ_COM1        4
#define PORT_RTC        0x70   /* CMOS index/data, IRQ 8 */
#define IRQ_RTC         8
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD  0x64   /* write 0xfe pulses the CPU reset line */
#define PORT_RESET_CF9  0xcf9  /* PCI reset control register */
#define PORT_DEBUG_EXIT 0x501  /* test guests: write a status byte to stop the VM */
#define PORT_PVPANIC    0x505  /* the guest kernel reports a panic (QEMU's pvpanic port) */
#define PORT_ACPI_PM    0x600  /* PM1a event block (4 bytes) then PM1a control (2 bytes) */
#define PORT_ACPI_PM1_EVT (PORT_ACPI_PM + 0)
#define PORT_ACPI_PM1_CNT (PORT_ACPI_PM + 4)
#define PORT_ACPI_PM_LEN 8
#define IRQ_ACPI_SCI    9



/* ACPI sleep type the DSDT's \_S5 package announces; a PM1a_CNT write with
 * SLP_EN (bit 13) and SLP_TYP (bits 12:10) == this value powers the VM off. */
#define ACPI_S5_SLP_TYP 5
#define ACPI_PM1_CNT_SLP_EN (1u << 13)

#endif
