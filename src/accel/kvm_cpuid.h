/* CPUID for kvm vCPUs: what the host's KVM supports, with each vCPU's APIC id
 * and the topology leaves filled in for the VM's CPU count. */
#ifndef ISOLA_KVM_CPUID_H
#define ISOLA_KVM_CPUID_H

#include <linux/kvm.h>

/* KVM_GET_SUPPORTED_CPUID into a new allocation (*out, free()). 0/-errno. */
int kvm_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);

/* Adjust a copy of the supported entries for vCPU apic_id of ncpus (pure
 * logic, unit-tested): leaf 1 initial APIC id, logical count and HTT; leaf 4
 * cores per package; leaves 0xB/0x1F x2APIC id and topology (one thread per
 * core, ncpus cores in one package). */
void kvm_cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned n, unsigned apic_id, unsigned ncpus);

/* Copy, fix up and KVM_SET_CPUID2 on a vCPU. 0/-errno. */
int kvm_cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned apic_id,
		       unsigned ncpus);

#endif
