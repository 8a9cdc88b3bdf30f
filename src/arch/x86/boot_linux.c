/* Linux boot protocol (Documentation/arch/x86/boot.rst): the bzImage loader,
 * the zero page, the initrd, and x86_boot_setup(), which runs the whole boot
 * preparation for bzImage and ELF64 kernels alike.
 *
 * We use the 64-bit boot protocol: the real-mode setup code never runs, so
 * only the protected-mode part of the bzImage is loaded (at LAYOUT_KERNEL)
 * and the vCPU starts in long mode at load address + 0x200 (startup_64 of
 * the decompressor) with RSI pointing at the zero page. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define PAGE 4096ull
#define MIB  (1ull << 20)

static uint16_t get16(const uint8_t *p, unsigned off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, unsigned off)
{
	return (uint32_t)get16(p, off) | (uint32_t)get16(p, off + 2) << 16;
}

static uint64_t get64(const uint8_t *p, unsigned off)
{
	return (uint64_t)get32(p, off) | (uint64_t)get32(p, off + 4) << 32;
}

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = v & 0xff;
	p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	put16(p, off, v & 0xffff);
	put16(p, off + 2, v >> 16);
}

static void put64(uint8_t *p, unsigned off, uint64_t v)
{
	put32(p, off, (uint32_t)v);
	put32(p, off + 4, (uint32_t)(v >> 32));
}

void x86_boot_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (double)MIB;
}

int x86_boot_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file is shorter than it said */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void note_write(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (mem->on_write && len)
		mem->on_write(mem->on_write_opaque, gpa, len);
}

/* Read len bytes of the file at off straight into guest RAM at gpa. */
static int load_into_guest(struct guest_mem *mem, int fd, uint64_t off, uint64_t gpa,
			   uint64_t len)
{
	uint8_t *dst;
	int ret;

	if (len == 0)
		return 0;
	dst = gm_ptr(mem, gpa, len);
	if (!dst)
		return -EFAULT;
	ret = x86_boot_pread(fd, dst, len, off);
	note_write(mem, gpa, len);
	return ret;
}

/* ---- bzImage ---------------------------------------------------------------- */

int x86_bzimage_load(struct guest_mem *mem, int fd, uint64_t fsize, const char *path,
		     struct x86_kernel *k, char *err, size_t errlen)
{
	uint8_t h[BP_HDR_MAX_END] = { 0 };
	uint64_t low_end = e820_low_ram_end(mem);
	uint64_t setup_size, pm_size, hdr_end, runtime, end, align, pref, init_size;
	unsigned setup_sects;
	uint16_t version, xlf;
	int ret;

	memset(k, 0, sizeof(*k));
	if (fsize < HDR_HEADER + 4) {
		x86_boot_err(err, errlen, "kernel %s: not a bzImage (only %llu bytes)", path,
			     (unsigned long long)fsize);
		return -ENOEXEC;
	}
	ret = x86_boot_pread(fd, h, fsize < sizeof(h) ? fsize : sizeof(h), 0);
	if (ret) {
		x86_boot_err(err, errlen, "kernel %s: read failed: %s", path, strerror(-ret));
		return ret;
	}
	if (get32(h, HDR_HEADER) != HDR_MAGIC) {
		x86_boot_err(err, errlen,
			     "kernel %s: not a bzImage (no 'HdrS' magic at 0x202)", path);
		return -ENOEXEC;
	}
	/* The setup header ends at 0x202 + the byte at 0x201 (boot.rst,
	 * "64-bit boot protocol"); copy no more than the zero page has room for. */
	hdr_end = HDR_HEADER + (uint64_t)h[HDR_JUMP + 1];
	if (hdr_end > BP_HDR_MAX_END)
		hdr_end = BP_HDR_MAX_END;
	if (hdr_end > fsize) {
		x86_boot_err(err, errlen, "kernel %s: truncated: the setup header ends at 0x%llx, "
			     "past the end of the file (%llu bytes)", path,
			     (unsigned long long)hdr_end, (unsigned long long)fsize);
		return -ENOEXEC;
	}
	version = get16(h, HDR_VERSION);
	if (version < BZIMAGE_MIN_VERSION) {
		x86_boot_err(err, errlen,
			     "kernel %s: boot protocol %u.%02u is too old; isola needs 2.12 "
			     "or newer (Linux 3.8+) for the 64-bit entry point", path,
			     version >> 8, version & 0xff);
		return -ENOEXEC;
	}
	if (hdr_end < HDR_INIT_SIZE + 4) {
		x86_boot_err(err, errlen, "kernel %s: the setup header ends at 0x%llx, before the "
			     "protocol 2.12 fields it claims to have", path,
			     (unsigned long long)hdr_end);
		return -ENOEXEC;
	}
	xlf = get16(h, HDR_XLOADFLAGS);
	if (!(xlf & XLF_KERNEL_64)) {
		x86_boot_err(err, errlen,
			     "kernel %s: no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags "
			     "0x%x); a 32-bit kernel cannot boot on isola", path, xlf);
		return -ENOEXEC;
	}
	if (!(h[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH)) {
		x86_boot_err(err, errlen, "kernel %s: a zImage (LOADED_HIGH clear); only bzImage "
			     "kernels are supported", path);
		return -ENOEXEC;
	}

	k->hdr_len = (size_t)(hdr_end - BP_HDR);
	memcpy(k->hdr, h + BP_HDR, k->hdr_len);

	setup_sects = h[HDR_SETUP_SECTS] ? h[HDR_SETUP_SECTS] : 4;
	setup_size = (uint64_t)(setup_sects + 1) * 512;
	if (fsize <= setup_size) {
		x86_boot_err(err, errlen, "kernel %s: truncated: %llu bytes, but the setup code "
			     "alone is %llu", path, (unsigned long long)fsize,
			     (unsigned long long)setup_size);
		return -ENOEXEC;
	}
	pm_size = fsize - setup_size;
	/* syssize counts the protected-mode part in 16-byte units (2.04+). */
	if ((uint64_t)get32(h, HDR_SYSSIZE) * 16 > pm_size) {
		x86_boot_err(err, errlen, "kernel %s: truncated: the header says %llu bytes of "
			     "kernel after the setup code, the file has %llu", path,
			     (unsigned long long)get32(h, HDR_SYSSIZE) * 16,
			     (unsigned long long)pm_size);
		return -ENOEXEC;
	}

	/* Where the kernel will run. Loaded at 1 MiB, the decompressor
	 * (arch/x86/boot/compressed/head_64.S) moves itself to the load address
	 * rounded up to kernel_alignment, but never below pref_address
	 * (LOAD_PHYSICAL_ADDR), or straight to pref_address if not relocatable,
	 * and uses init_size bytes from there. The initrd must stay clear of
	 * that, so pref_address matters even though we load at 1 MiB. */
	align = get32(h, HDR_KERNEL_ALIGNMENT);
	pref = get64(h, HDR_PREF_ADDRESS);
	init_size = get32(h, HDR_INIT_SIZE);
	runtime = pref;
	if (h[HDR_RELOCATABLE] && align && !(align & (align - 1))) {
		uint64_t aligned = (LAYOUT_KERNEL + align - 1) & ~(align - 1);
		if (aligned > runtime)
			runtime = aligned;
	}
	end = LAYOUT_KERNEL + pm_size;
	if (runtime > UINT64_MAX - init_size - PAGE) {
		x86_boot_err(err, errlen, "kernel %s: pref_address 0x%llx is absurd", path,
			     (unsigned long long)pref);
		return -ENOEXEC;
	}
	if (runtime + init_size > end)
		end = runtime + init_size;
	end = (end + PAGE - 1) & ~(PAGE - 1);
	if (end > low_end) {
		x86_boot_err(err, errlen, "kernel %s: needs RAM up to %.1f MiB (%.1f MiB image, "
			     "init_size %.1f MiB from %.1f MiB) but RAM below 4 GiB ends at "
			     "%.1f MiB; give more --memory", path, mib(end), mib(pm_size),
			     mib(init_size), mib(runtime), mib(low_end));
		return -ENOMEM;
	}

	ret = load_into_guest(mem, fd, setup_size, LAYOUT_KERNEL, pm_size);
	if (ret) {
		x86_boot_err(err, errlen, "kernel %s: reading %llu bytes at offset %llu failed: %s",
			     path, (unsigned long long)pm_size, (unsigned long long)setup_size,
			     ret == -EIO ? "file shorter than expected" : strerror(-ret));
		return ret;
	}

	k->bzimage = true;
	k->version = version;
	k->entry = LAYOUT_KERNEL + BZIMAGE_ENTRY_64;
	k->end = end;
	k->initrd_max = (uint64_t)get32(h, HDR_INITRD_ADDR_MAX) + 1; /* inclusive in the header */
	if (k->initrd_max > GM_4G)
		k->initrd_max = GM_4G;
	k->cmdline_max = get32(h, HDR_CMDLINE_SIZE);
	return 0;
}

/* ---- initrd, command line, zero page ---------------------------------------- */

int x86_initrd_place(const struct guest_mem *mem, const struct x86_kernel *k, uint64_t size,
		     uint64_t *addr)
{
	uint64_t limit = e820_low_ram_end(mem), a;

	if (k->initrd_max < limit)
		limit = k->initrd_max;
	if (size == 0 || size > limit)
		return -ENOSPC;
	a = (limit - size) & ~(PAGE - 1);
	if (a < k->end || a < LAYOUT_KERNEL)
		return -ENOSPC;
	*addr = a;
	return 0;
}

static int zero_page_build(struct guest_mem *mem, const struct x86_kernel *k,
			   const char *cmdline, uint64_t initrd_addr, uint64_t initrd_size)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t *bp = gm_ptr(mem, LAYOUT_BOOT_PARAMS, BP_SIZE);
	size_t cmdlen = strlen(cmdline);
	int n, ret;

	if (!bp)
		return -EFAULT;
	n = e820_build(mem, map, E820_MAX_ENTRIES);
	if (n < 0)
		return n;
	ret = gm_write(mem, LAYOUT_CMDLINE, cmdline, cmdlen + 1);
	if (ret)
		return ret;

	memset(bp, 0, BP_SIZE); /* sentinel and every field we do not set stay 0 */
	if (k->bzimage) {
		memcpy(bp + BP_HDR, k->hdr, k->hdr_len);
		/* LOADED_HIGH is true: we loaded at 1 MiB. CAN_USE_HEAP and
		 * heap_end_ptr describe a heap for the real-mode setup code, which the
		 * 64-bit entry skips, so they stay clear; KASLR_FLAG is the
		 * decompressor's to set; QUIET and KEEP_SEGMENTS are not wanted. */
		bp[HDR_LOADFLAGS] = LOADFLAG_LOADED_HIGH;
		put16(bp, HDR_HEAP_END_PTR, 0);
		/* Fields the boot loader owns (boot.rst marks them "write"): whatever
		 * the image file holds there, we have no setup_data list and this
		 * is a plain PC. */
		put64(bp, HDR_SETUP_DATA, 0);
		put32(bp, HDR_HARDWARE_SUBARCH, 0);
		put64(bp, HDR_HARDWARE_SUBARCH_DATA, 0);
	} else {
		/* No setup header in an ELF: give the fields Linux's startup_64
		 * reads (a vmlinux boots like this) their boot.rst meaning. */
		put16(bp, HDR_BOOT_FLAG, HDR_BOOT_FLAG_MAGIC);
		put32(bp, HDR_HEADER, HDR_MAGIC);
		put32(bp, HDR_CMDLINE_SIZE, (uint32_t)k->cmdline_max);
	}
	bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
	put32(bp, HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put32(bp, HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
	put64(bp, BP_ACPI_RSDP_ADDR, LAYOUT_ACPI_RSDP);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
		put64(e, 0, map[i].addr);
		put64(e, 8, map[i].size);
		put32(e, 16, map[i].type);
	}
	note_write(mem, LAYOUT_BOOT_PARAMS, BP_SIZE);
	return 0;
}

/* Open a regular file for reading and return its size. */
static int open_regular(const char *what, const char *path, uint64_t *size, char *err,
			size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		x86_boot_err(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		x86_boot_err(err, errlen, "%s %s: %s", what, path, strerror(e));
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		x86_boot_err(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int load_kernel(struct guest_mem *mem, const char *path, struct x86_kernel *k, char *err,
		       size_t errlen)
{
	uint8_t magic[HDR_HEADER + 4] = { 0 };
	uint64_t fsize;
	int fd, ret;

	fd = open_regular("kernel", path, &fsize, err, errlen);
	if (fd < 0)
		return fd;
	ret = x86_boot_pread(fd, magic, fsize < sizeof(magic) ? fsize : sizeof(magic), 0);
	if (ret) {
		x86_boot_err(err, errlen, "kernel %s: read failed: %s", path, strerror(-ret));
	} else if (fsize >= 4 && !memcmp(magic, "\177ELF", 4)) {
		ret = x86_elf_load(mem, fd, fsize, path, k, err, errlen);
	} else if (fsize >= sizeof(magic) && get32(magic, HDR_HEADER) == HDR_MAGIC) {
		ret = x86_bzimage_load(mem, fd, fsize, path, k, err, errlen);
	} else {
		x86_boot_err(err, errlen, "kernel %s: not a bzImage or ELF64 kernel (no 'HdrS' "
			     "magic, no ELF header)", path);
		ret = -ENOEXEC;
	}
	close(fd);
	return ret;
}

static int load_initrd(struct guest_mem *mem, const char *path, const struct x86_kernel *k,
		       uint64_t *addr, uint64_t *size, char *err, size_t errlen)
{
	uint64_t fsize, low_end = e820_low_ram_end(mem);
	int fd, ret;

	fd = open_regular("initrd", path, &fsize, err, errlen);
	if (fd < 0)
		return fd;
	if (fsize == 0) {
		x86_boot_err(err, errlen, "initrd %s: empty file", path);
		ret = -EINVAL;
		goto out;
	}
	ret = x86_initrd_place(mem, k, fsize, addr);
	if (ret) {
		if (k->initrd_max < low_end)
			x86_boot_err(err, errlen,
				     "initrd %s: %.1f MiB does not fit between the kernel "
				     "(ends at %.1f MiB) and its initrd_addr_max (%.1f MiB)", path,
				     mib(fsize), mib(k->end), mib(k->initrd_max));
		else
			x86_boot_err(err, errlen,
				     "initrd %s: %.1f MiB does not fit between the kernel "
				     "(ends at %.1f MiB) and the end of RAM below 4 GiB (%.1f MiB) "
				     "with %.0f MiB of RAM; give more --memory", path, mib(fsize),
				     mib(k->end), mib(low_end), mib(mem->ram_size));
		goto out;
	}
	ret = load_into_guest(mem, fd, 0, *addr, fsize);
	if (ret) {
		x86_boot_err(err, errlen, "initrd %s: read failed: %s", path,
			     ret == -EIO ? "file shorter than expected" : strerror(-ret));
		goto out;
	}
	*size = fsize;
out:
	close(fd);
	return ret;
}

int x86_boot_setup(struct guest_mem *mem, const struct x86_boot_args *args,
		   struct x86_regs *regs, struct x86_sregs *sregs, char *err, size_t errlen)
{
	const char *cmdline = args->cmdline ? args->cmdline : "";
	uint64_t initrd_addr = 0, initrd_size = 0;
	struct x86_kernel k;
	size_t cmdlen = strlen(cmdline);
	int ret;

	if (err && errlen)
		err[0] = 0;
	if (!args->kernel) {
		x86_boot_err(err, errlen, "no kernel given");
		return -EINVAL;
	}
	if (args->ncpus == 0 || args->ncpus > ACPI_MAX_CPUS) {
		x86_boot_err(err, errlen,
			     "%u CPUs: isola's ACPI tables describe 1 to %u", args->ncpus,
			     ACPI_MAX_CPUS);
		return -EINVAL;
	}
	if (e820_low_ram_end(mem) < LAYOUT_KERNEL + MIB) {
		x86_boot_err(err, errlen,
			     "%.1f MiB of RAM is too little to boot; give more --memory",
			     mib(mem->ram_size));
		return -ENOMEM;
	}

	ret = load_kernel(mem, args->kernel, &k, err, errlen);
	if (ret)
		return ret;

	/* cmdline_size excludes the NUL (boot.rst); our buffer includes it. */
	if (cmdlen > k.cmdline_max || cmdlen + 1 > LAYOUT_CMDLINE_MAX) {
		uint64_t max = k.cmdline_max < LAYOUT_CMDLINE_MAX - 1 ? k.cmdline_max
								     : LAYOUT_CMDLINE_MAX - 1;
		x86_boot_err(err, errlen,
			     "kernel %s: command line is %zu bytes; this kernel accepts "
			     "at most %llu", args->kernel, cmdlen, (unsigned long long)max);
		return -E2BIG;
	}

	if (args->initrd) {
		ret = load_initrd(mem, args->initrd, &k, &initrd_addr, &initrd_size, err, errlen);
		if (ret)
			return ret;
	}

	ret = zero_page_build(mem, &k, cmdline, initrd_addr, initrd_size);
	if (ret) {
		x86_boot_err(err, errlen, "kernel %s: cannot build the zero page: %s", args->kernel,
			     strerror(-ret));
		return ret;
	}
	ret = acpi_setup_devices(mem, args->ncpus, args->devices);
	if (ret) {
		x86_boot_err(err, errlen,
			     "cannot build the ACPI tables for %u CPUs: %s", args->ncpus,
			     strerror(-ret));
		return ret;
	}
	ret = x86_boot_entry_setup(mem, k.entry, LAYOUT_BOOT_PARAMS, regs, sregs);
	if (ret) {
		x86_boot_err(err, errlen,
			     "cannot build the boot page tables for %.0f MiB of RAM: %s",
			     mib(mem->ram_size), strerror(-ret));
		return ret;
	}
	return 0;
}
