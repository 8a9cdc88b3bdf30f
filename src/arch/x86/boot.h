/* Putting a guest into memory: the Linux x86 boot protocol for bzImage
 * kernels (Documentation/arch/x86/boot.rst, "64-bit boot protocol"), ELF64
 * test guests, the zero page (struct boot_params) with the e820 map and the
 * command line, the ACPI tables, and the 64-bit entry state. */
#ifndef ISOLA_X86_BOOT_H
#define ISOLA_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "memory.h"

struct acpi_devices;

struct x86_boot_args {
	const char *kernel;   /* path: bzImage or ELF64, detected by content */
	const char *initrd;   /* path or NULL */
	const char *cmdline;  /* may be NULL (empty) */
	unsigned ncpus;
	const struct acpi_devices *devices; /* described in the DSDT; may be NULL */
};

/* Load the kernel (and initrd, cmdline) into mem, build boot_params with the
 * e820 map, the ACPI tables for ncpus CPUs, the boot GDT and the identity
 * page tables, and fill the boot vCPU's entry state (64-bit long mode, RSI =
 * boot_params for both bzImage and ELF guests). 0 or -errno; on failure err
 * gets ONE clear line for the user naming the file and what is wrong. */
int x86_boot_setup(struct guest_mem *mem, const struct x86_boot_args *args,
		   struct x86_regs *regs, struct x86_sregs *sregs, char *err, size_t errlen);

/* ---- zero page (struct boot_params) offsets -------------------------------
 * Documentation/arch/x86/zero-page.rst and boot.rst ("THE REAL-MODE KERNEL
 * HEADER"); setup-header offsets are the same in the image file and in the
 * zero page. */
#define BP_SIZE             0x1000
#define BP_ACPI_RSDP_ADDR   0x070  /* u64 */
#define BP_EXT_RAMDISK_IMAGE 0x0c0 /* u32, bits 63:32 of ramdisk_image */
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES     0x1e8  /* u8 */
#define BP_SENTINEL         0x1ef  /* u8: must stay 0 */
#define BP_HDR              0x1f1  /* struct setup_header starts here */
#define BP_E820_TABLE       0x2d0  /* 128 x {u64 addr, u64 size, u32 type} */
#define BP_E820_MAX         128
#define BP_E820_ENTRY_SIZE  20
#define BP_HDR_MAX_END      0x290  /* the zero page's room for the setup header */

#define HDR_SETUP_SECTS     0x1f1  /* u8: 512-byte sectors after the boot sector; 0 means 4 */
#define HDR_SYSSIZE         0x1f4  /* u32: protected-mode size in 16-byte units (2.04+) */
#define HDR_BOOT_FLAG       0x1fe  /* u16: 0xaa55 */
#define HDR_JUMP            0x200  /* u16: byte 0x201 + 0x202 = end of the header */
#define HDR_HEADER          0x202  /* u32: "HdrS" */
#define HDR_VERSION         0x206  /* u16 */
#define HDR_TYPE_OF_LOADER  0x210  /* u8 */
#define HDR_LOADFLAGS       0x211  /* u8 */
#define HDR_RAMDISK_IMAGE   0x218  /* u32 */
#define HDR_RAMDISK_SIZE    0x21c  /* u32 */
#define HDR_HEAP_END_PTR    0x224  /* u16 */
#define HDR_CMD_LINE_PTR    0x228  /* u32 */
#define HDR_INITRD_ADDR_MAX 0x22c  /* u32: highest address the initrd may occupy */
#define HDR_KERNEL_ALIGNMENT 0x230 /* u32 */
#define HDR_RELOCATABLE     0x234  /* u8 */
#define HDR_XLOADFLAGS      0x236  /* u16 (2.12+) */
#define HDR_CMDLINE_SIZE    0x238  /* u32: max length without the NUL (2.06+) */
#define HDR_HARDWARE_SUBARCH 0x23c /* u32: 0 = a normal PC (2.07+) */
#define HDR_HARDWARE_SUBARCH_DATA 0x240 /* u64 */
#define HDR_SETUP_DATA      0x250  /* u64: linked list of setup_data (2.09+) */
#define HDR_PREF_ADDRESS    0x258  /* u64 (2.10+) */
#define HDR_INIT_SIZE       0x260  /* u32 (2.10+) */

#define HDR_MAGIC           0x53726448u /* "HdrS" little-endian */
#define HDR_BOOT_FLAG_MAGIC 0xaa55
#define LOADFLAG_LOADED_HIGH  (1u << 0)
#define LOADFLAG_CAN_USE_HEAP (1u << 7)
#define XLF_KERNEL_64       (1u << 0)
#define TYPE_OF_LOADER_UNDEFINED 0xff

/* Oldest boot protocol accepted: 2.12, the first with xloadflags, whose
 * XLF_KERNEL_64 bit is the only way a bzImage says it has the 64-bit entry
 * at load address + 0x200 that we jump to. Everything else read from the
 * header is older: init_size and pref_address (2.10), cmdline_size (2.06),
 * kernel_alignment/relocatable_kernel (2.05), initrd_addr_max (2.03). */
#define BZIMAGE_MIN_VERSION 0x020c
#define BZIMAGE_ENTRY_64    0x200

/* What a kernel loader leaves for the zero page and the entry state. */
struct x86_kernel {
	bool bzimage;
	uint64_t entry;       /* guest-physical 64-bit entry point */
	uint64_t end;         /* above everything the kernel occupies or will use
			       * before reading the e820 map (page aligned) */
	uint64_t initrd_max;  /* the initrd must end at or below this (exclusive) */
	uint64_t cmdline_max; /* longest command line, without the NUL */
	uint16_t version;     /* boot protocol version (bzImage) */
	uint8_t hdr[BP_HDR_MAX_END - BP_HDR]; /* setup header as in the image */
	size_t hdr_len;
};

/* Loaders, for a file already opened (fd, size); path is for messages. They
 * write the image into mem and fill *k. 0 or -errno with a line in err. */
int x86_bzimage_load(struct guest_mem *mem, int fd, uint64_t fsize, const char *path,
		     struct x86_kernel *k, char *err, size_t errlen);
int x86_elf_load(struct guest_mem *mem, int fd, uint64_t fsize, const char *path,
		 struct x86_kernel *k, char *err, size_t errlen);

/* Where an initrd of size bytes goes: as high as possible, page aligned,
 * ending at or below min(k->initrd_max, low RAM end), starting at or above
 * k->end. 0 with *addr, or -ENOSPC. */
int x86_initrd_place(const struct guest_mem *mem, const struct x86_kernel *k, uint64_t size,
		     uint64_t *addr);

/* pread exactly len bytes at off; -EIO on a short file. */
int x86_boot_pread(int fd, void *buf, size_t len, uint64_t off);

/* Format the one-line error message (err may be NULL). */
void x86_boot_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- entry state (boot_entry.c) ------------------------------------------ */

#define BOOT_GDT_ENTRIES 4
#define BOOT_CS          0x10 /* __BOOT_CS */
#define BOOT_DS          0x18 /* __BOOT_DS */
#define BOOT_GDT_CODE64  0x00af9b000000ffffull /* P, DPL0, S, type 0xb, L, G */
#define BOOT_GDT_DATA    0x00cf93000000ffffull /* P, DPL0, S, type 0x3, D/B, G */
#define BOOT_APIC_BASE   (LAYOUT_LAPIC | (1ull << 11) | (1ull << 8)) /* EN | BSP */

/* Page-table entry bits (Intel SDM Vol. 3A §4.5). */
#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

/* Build identity page tables for [0, map_end rounded up to 1 GiB) into pt,
 * the host view of guest-physical [pt_gpa, pt_gpa + pt_len): one PML4, the
 * PDPTs, and as many page directories (2 MiB pages) as fit; GiBs beyond that
 * use 1 GiB pages. *cr3 gets the PML4 address. 0, -ENOSPC or -EINVAL (beyond
 * 256 TiB, which 4-level paging cannot map). */
int x86_identity_map_build(uint8_t *pt, uint64_t pt_gpa, size_t pt_len, uint64_t map_end,
			   uint64_t *cr3);

/* Write the GDT and page tables into mem and fill regs/sregs for a 64-bit
 * entry at entry with RSI = boot_params. 0 or -errno. */
int x86_boot_entry_setup(struct guest_mem *mem, uint64_t entry, uint64_t boot_params,
			 struct x86_regs *regs, struct x86_sregs *sregs);

#endif
