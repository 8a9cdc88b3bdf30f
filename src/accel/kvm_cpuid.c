/* CPUID set-up for kvm vCPUs (Intel SDM Vol. 2A, CPUID; leaves 1, 4, 0xB, 0x1F). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm_cpuid.h"

int kvm_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG)
			return -e;
	}
	return -E2BIG;
}

/* Bits needed to number ncpus cores: the x2APIC id shift of the core level. */
static unsigned topo_shift(unsigned ncpus)
{
	unsigned s = 0;
	while ((1u << s) < ncpus)
		s++;
	return s;
}

void kvm_cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned n, unsigned apic_id, unsigned ncpus)
{
	unsigned shift = topo_shift(ncpus);
	for (unsigned i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *c = &e[i];
		switch (c->function) {
		case 1:
			/* EBX[31:24] initial APIC id, EBX[23:16] addressable
			 * logical processors; EDX[28] HTT says the latter is valid. */
			c->ebx = (c->ebx & 0xffff) | (apic_id << 24) |
				 ((ncpus > 1 ? (1u << shift) : 1u) << 16);
			if (ncpus > 1)
				c->edx |= 1u << 28;
			else
				c->edx &= ~(1u << 28);
			break;
		case 4:
			/* EAX[31:26]: addressable core ids in the package - 1;
			 * EAX[25:14]: logical processors sharing this cache - 1
			 * (one thread per core: caches up to L2 are private). */
			if ((c->eax & 0x1f) == 0)
				break; /* the null cache type ends the list */
			c->eax &= 0x3fff;
			c->eax |= ((1u << shift) - 1) << 26;
			if (((c->eax >> 5) & 7) >= 3)
				c->eax |= ((1u << shift) - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: level 0 SMT (1 thread), level 1 core. */
			if (c->index == 0) {
				c->eax = 0;
				c->ebx = 1;
				c->ecx = (1u << 8) | 0;
			} else if (c->index == 1) {
				c->eax = shift;
				c->ebx = ncpus;
				c->ecx = (2u << 8) | 1;
			} else {
				c->eax = c->ebx = 0;
				c->ecx = c->index; /* level type 0: invalid, ends the list */
			}
			c->edx = apic_id;
			break;
		}
	}
}

int kvm_cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned apic_id,
		       unsigned ncpus)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	kvm_cpuid_fixup(c->entries, c->nent, apic_id, ncpus);
	int rc = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return rc;
}
