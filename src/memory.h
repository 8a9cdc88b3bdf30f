/* Guest-physical memory: the only door from isola into guest RAM.
 *
 * RAM is anonymous MAP_NORESERVE memory: the host commits a page only when the
 * guest (or a device) first touches it, which is what makes overcommit work.
 * Below 4 GiB the range [GM_MMIO_HOLE_START, 4 GiB) is left for devices; RAM
 * that does not fit below the hole continues at 4 GiB.
 *
 * Every guest-supplied address and length goes through gm_ptr/gm_read/gm_write,
 * which check the whole range with overflow-safe arithmetic. Their results must
 * be checked: a guest can name any address it likes. */
#ifndef ISOLA_MEMORY_H
#define ISOLA_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MMIO_HOLE_START 0xC0000000ull /* 3 GiB: devices, LAPIC, IOAPIC */
#define GM_4G              0x100000000ull
#define GM_MAX_REGIONS     2

struct gm_region {
	uint64_t gpa;   /* first guest-physical address */
	uint64_t size;  /* bytes */
	uint8_t *host;  /* host mapping of gpa */
};

/* Called when isola itself (not the guest's CPU) writes guest memory, e.g. by
 * device DMA or the loader, so a CPU that caches decoded code can drop it. */
typedef void (*gm_write_hook)(void *opaque, uint64_t gpa, uint64_t len);

struct guest_mem {
	struct gm_region region[GM_MAX_REGIONS];
	int nr_regions;
	uint64_t ram_size;      /* total RAM bytes, all regions */
	gm_write_hook on_write; /* may be NULL */
	void *on_write_opaque;
};

/* Map ram_size bytes of RAM with the layout above. 0 or -errno. */
int gm_init(struct guest_mem *mem, uint64_t ram_size) __attribute__((warn_unused_result));
void gm_destroy(struct guest_mem *mem);

/* Host pointer to [gpa, gpa+len) if the whole range lies inside one RAM
 * region, else NULL. len 0 is refused (NULL). */
void *gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
	__attribute__((warn_unused_result));

/* Copy out of / into guest RAM; the range may span regions only if both are
 * RAM. 0 or -EFAULT (nothing is copied on failure). gm_write calls on_write. */
int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
	__attribute__((warn_unused_result));
int gm_write(struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
	__attribute__((warn_unused_result));

/* Is [gpa, gpa+len) entirely RAM? */
bool gm_is_ram(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Highest RAM address + 1. */
uint64_t gm_ram_end(const struct guest_mem *mem);

#endif
