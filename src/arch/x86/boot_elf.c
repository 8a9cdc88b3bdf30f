/* ELF64 kernels: isola's test guests (and, by the same rules, a Linux
 * vmlinux, whose e_entry is the physical address of startup_64). PT_LOAD
 * segments go to their physical addresses (p_paddr); the guest starts in
 * long mode at e_entry with the identity map, so physical = virtual for it.
 * System V gABI and the x86-64 psABI define the header and segment rules. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define PAGE 4096ull
#define ELF_MAX_PHDRS 256 /* far more than any guest needs; bounds the work */

static int elf_check_header(const Elf64_Ehdr *eh, uint64_t fsize, const char *path, char *err,
			    size_t errlen)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG)) {
		x86_boot_err(err, errlen, "kernel %s: not an ELF file", path);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
		x86_boot_err(err, errlen, "kernel %s: ELF class %u is not ELFCLASS64; isola boots "
			     "64-bit ELF kernels only", path, eh->e_ident[EI_CLASS]);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		x86_boot_err(err, errlen, "kernel %s: ELF is not little-endian", path);
		return -ENOEXEC;
	}
	if (eh->e_machine != EM_X86_64) {
		x86_boot_err(err, errlen, "kernel %s: ELF machine %u is not x86-64 (%u)", path,
			     eh->e_machine, EM_X86_64);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		x86_boot_err(err, errlen, "kernel %s: ELF type %u is not ET_EXEC (a static "
			     "executable linked at fixed addresses)", path, eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		x86_boot_err(err, errlen, "kernel %s: ELF program header size %u, expected %zu",
			     path, eh->e_phentsize, sizeof(Elf64_Phdr));
		return -ENOEXEC;
	}
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS) {
		x86_boot_err(err, errlen, "kernel %s: %u ELF program headers (1 to %u accepted)",
			     path, eh->e_phnum, ELF_MAX_PHDRS);
		return -ENOEXEC;
	}
	/* phnum <= 256 and phentsize 56: no overflow in the product. */
	if (eh->e_phoff > fsize ||
	    fsize - eh->e_phoff < (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) {
		x86_boot_err(err, errlen, "kernel %s: truncated: ELF program headers at %llu run "
			     "past the end of the %llu-byte file", path,
			     (unsigned long long)eh->e_phoff, (unsigned long long)fsize);
		return -ENOEXEC;
	}
	return 0;
}

/* A PT_LOAD segment must come from inside the file and land inside RAM,
 * clear of the boot area below 1 MiB (GDT, zero page, command line, page
 * tables, ACPI tables), which isola writes after loading. */
static int elf_check_segment(const struct guest_mem *mem, const Elf64_Phdr *ph, unsigned i,
			     uint64_t fsize, const char *path, char *err, size_t errlen)
{
	uint64_t start = ph->p_paddr, end;

	if (ph->p_filesz > ph->p_memsz) {
		x86_boot_err(err, errlen, "kernel %s: ELF segment %u: p_filesz %llu > p_memsz %llu",
			     path, i, (unsigned long long)ph->p_filesz,
			     (unsigned long long)ph->p_memsz);
		return -ENOEXEC;
	}
	if (ph->p_offset > fsize || fsize - ph->p_offset < ph->p_filesz) {
		x86_boot_err(err, errlen, "kernel %s: truncated: ELF segment %u needs bytes "
			     "[%llu, %llu) of a %llu-byte file", path, i,
			     (unsigned long long)ph->p_offset,
			     (unsigned long long)ph->p_offset + ph->p_filesz,
			     (unsigned long long)fsize);
		return -ENOEXEC;
	}
	if (start > UINT64_MAX - ph->p_memsz) {
		x86_boot_err(err, errlen, "kernel %s: ELF segment %u: address 0x%llx + size 0x%llx "
			     "overflows", path, i, (unsigned long long)start,
			     (unsigned long long)ph->p_memsz);
		return -ENOEXEC;
	}
	end = start + ph->p_memsz;
	if (start < LAYOUT_KERNEL) {
		x86_boot_err(err, errlen, "kernel %s: ELF segment %u at [0x%llx, 0x%llx) overlaps "
			     "the boot area below 1 MiB; link the guest at 0x%llx or above",
			     path, i, (unsigned long long)start, (unsigned long long)end,
			     (unsigned long long)LAYOUT_KERNEL);
		return -ENOEXEC;
	}
	if (!gm_ptr(mem, start, ph->p_memsz)) {
		x86_boot_err(err, errlen, "kernel %s: ELF segment %u at [0x%llx, 0x%llx) is not "
			     "inside guest RAM (%llu MiB, RAM below 4 GiB ends at 0x%llx)", path, i,
			     (unsigned long long)start, (unsigned long long)end,
			     (unsigned long long)(mem->ram_size >> 20),
			     (unsigned long long)e820_low_ram_end(mem));
		return -ENOEXEC;
	}
	return 0;
}

int x86_elf_load(struct guest_mem *mem, int fd, uint64_t fsize, const char *path,
		 struct x86_kernel *k, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t end = 0;
	bool entry_ok = false;
	unsigned nload = 0;
	int ret;

	memset(k, 0, sizeof(*k));
	if (fsize < sizeof(eh)) {
		x86_boot_err(err, errlen, "kernel %s: truncated: %llu bytes is shorter than an "
			     "ELF64 header", path, (unsigned long long)fsize);
		return -ENOEXEC;
	}
	ret = x86_boot_pread(fd, &eh, sizeof(eh), 0);
	if (ret) {
		x86_boot_err(err, errlen, "kernel %s: read failed: %s", path, strerror(-ret));
		return ret;
	}
	ret = elf_check_header(&eh, fsize, path, err, errlen);
	if (ret)
		return ret;

	/* Check every segment before writing any, so a bad file leaves guest
	 * memory untouched. */
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			ret = x86_boot_pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph));
			if (ret) {
				x86_boot_err(err, errlen,
					     "kernel %s: reading ELF program header %u "
					     "failed: %s", path, i, strerror(-ret));
				return ret;
			}
			if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
				continue;
			if (pass == 0) {
				ret = elf_check_segment(mem, &ph, i, fsize, path, err, errlen);
				if (ret)
					return ret;
				nload++;
				if (eh.e_entry >= ph.p_paddr &&
				    eh.e_entry - ph.p_paddr < ph.p_memsz)
					entry_ok = true;
				if (ph.p_paddr + ph.p_memsz > end)
					end = ph.p_paddr + ph.p_memsz;
				continue;
			}
			uint8_t *dst = gm_ptr(mem, ph.p_paddr, ph.p_memsz);
			if (!dst)
				return -EFAULT; /* checked in pass 0 */
			if (ph.p_filesz) {
				ret = x86_boot_pread(fd, dst, ph.p_filesz, ph.p_offset);
				if (ret) {
					x86_boot_err(err, errlen,
						     "kernel %s: reading ELF segment %u "
						     "failed: %s", path, i, ret == -EIO ?
						     "file shorter than expected" : strerror(-ret));
					return ret;
				}
			}
			/* The part past p_filesz is .bss: zero (gABI, "Program Header"). */
			memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
			if (mem->on_write)
				mem->on_write(mem->on_write_opaque, ph.p_paddr, ph.p_memsz);
		}
		if (pass == 0 && nload == 0) {
			x86_boot_err(err, errlen,
				     "kernel %s: ELF has no loadable (PT_LOAD) segment",
				     path);
			return -ENOEXEC;
		}
		if (pass == 0 && !entry_ok) {
			x86_boot_err(err, errlen,
				     "kernel %s: ELF entry point 0x%llx is not inside any "
				     "loaded segment", path, (unsigned long long)eh.e_entry);
			return -ENOEXEC;
		}
	}

	k->bzimage = false;
	k->entry = eh.e_entry;
	k->end = (end + PAGE - 1) & ~(PAGE - 1);
	k->initrd_max = GM_4G; /* ramdisk_image is 32 bits */
	k->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
	return 0;
}
