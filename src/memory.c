/* Guest-physical memory: layout and bounds-checked access (see memory.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "memory.h"

static int gm_map_region(struct guest_mem *mem, uint64_t gpa, uint64_t size)
{
	/* MAP_NORESERVE: no swap reservation; pages are committed on first
	 * touch, so a large, mostly idle guest costs little (overcommit). */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is never part of a core dump of isola. */
	(void)madvise(p, size, MADV_DONTDUMP);
	struct gm_region *r = &mem->region[mem->nr_regions++];
	r->gpa = gpa;
	r->size = size;
	r->host = p;
	return 0;
}

int gm_init(struct guest_mem *mem, uint64_t ram_size)
{
	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || (ram_size & 0xfff))
		return -EINVAL;
	uint64_t low = ram_size < GM_MMIO_HOLE_START ? ram_size : GM_MMIO_HOLE_START;
	int rc = gm_map_region(mem, 0, low);
	if (rc == 0 && ram_size > low)
		rc = gm_map_region(mem, GM_4G, ram_size - low);
	if (rc) {
		gm_destroy(mem);
		return rc;
	}
	mem->ram_size = ram_size;
	return 0;
}

void gm_destroy(struct guest_mem *mem)
{
	for (int i = 0; i < mem->nr_regions; i++)
		munmap(mem->region[i].host, mem->region[i].size);
	mem->nr_regions = 0;
	mem->ram_size = 0;
}

/* The region containing [gpa, gpa+len), or NULL. Written so that no sum can
 * overflow: gpa - r->gpa < r->size, then len <= r->size - offset. */
static const struct gm_region *gm_region_of(const struct guest_mem *mem, uint64_t gpa,
					    uint64_t len)
{
	for (int i = 0; i < mem->nr_regions; i++) {
		const struct gm_region *r = &mem->region[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off >= r->size)
			continue;
		return len <= r->size - off ? r : NULL;
	}
	return NULL;
}

void *gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return NULL;
	const struct gm_region *r = gm_region_of(mem, gpa, len);
	return r ? r->host + (gpa - r->gpa) : NULL;
}

bool gm_is_ram(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	/* Ranges may span two regions only if they are adjacent, which the
	 * layout never makes them (the hole lies between). */
	return gm_ptr(mem, gpa, len) != NULL;
}

int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	if (len == 0)
		return 0;
	const uint8_t *p = gm_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	if (len == 0)
		return 0;
	uint8_t *p = gm_ptr(mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	if (mem->on_write)
		mem->on_write(mem->on_write_opaque, gpa, len);
	return 0;
}

uint64_t gm_ram_end(const struct guest_mem *mem)
{
	uint64_t end = 0;
	for (int i = 0; i < mem->nr_regions; i++) {
		uint64_t e = mem->region[i].gpa + mem->region[i].size;
		if (e > end)
			end = e;
	}
	return end;
}
