/* struct vm_config: everything the user asked for, validated once. After
 * config_validate() succeeds, the rest of isola trusts it. */
#ifndef ISOLA_CONFIG_H
#define ISOLA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"

enum accel_choice { ACCEL_AUTO, ACCEL_KVM, ACCEL_SOFT };
enum on_reset { ON_RESET_EXIT, ON_RESET_RESTART };
/* Where the host terminal is joined: the 16550 UART (ttyS0) or a
 * virtio-console port (hvc0; the UART stays, its output still shown). */
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };

/* One --disk: a raw image as a virtio-blk device (/dev/vda, vdb, ...). */
struct disk_config {
	const char *path;
	bool readonly;
	enum block_cache cache;
	const char *id;        /* serial for GET_ID; NULL: none */
};

#define CONFIG_MAX_VIRTIO 8    /* virtio-mmio windows (and GSIs 16..23): disks,
				* rng and the virtio console together */

struct vm_config {
	const char *kernel;     /* bzImage or ELF64; NULL: the guest kit's default */
	const char *initrd;     /* may be NULL */
	const char *cmdline;    /* kernel command line as the guest gets it (with
				 * what --console virtio and --root add); NULL:
				 * empty */
	unsigned cpus;          /* 1..CONFIG_MAX_CPUS */
	uint64_t memory;        /* bytes */
	enum accel_choice accel;
	enum on_reset on_reset;
	const char *serial_in;  /* NULL: stdin */
	bool kernel_is_default; /* kernel came from the guest kit */
	bool dry_run;           /* build the VM, then exit without running it */
	bool log_unclaimed;     /* log guest accesses no device claims */
	struct disk_config disks[CONFIG_MAX_VIRTIO];
	unsigned nr_disks;
	bool rng;               /* virtio-rng from the host's getrandom() */
	const char *gdb;        /* --gdb tcp:HOST:PORT (checked), NULL: no stub */
	bool gdb_wait;          /* --gdb-wait: vCPUs wait for the debugger */
	const char *trace;      /* --trace FILE, NULL: none */
	uint64_t trace_size;    /* its bound in bytes */
	enum console_kind console;
	const char *root;       /* --root DEV (already in cmdline); NULL: none */
};

#define CONFIG_MAX_CPUS 64
#define CONFIG_MIN_MEMORY (16ull << 20)
#define CONFIG_DEFAULT_MEMORY (256ull << 20)

/* Parse "256M", "1G", "1048576" (bytes), "512K". 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);

#endif
