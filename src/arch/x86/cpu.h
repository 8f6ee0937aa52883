/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU x86 state at boot: CPUID, MSRs, FPU, LAPIC LVTs and the entry
 * registers of the 32- and 64-bit boot protocols. Each function performs
 * one group of ioctls and returns 0 or -errno; the caller names the step.
 */
#ifndef LMIG_ARCH_X86_CPU_H
#define LMIG_ARCH_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/boot.h"

struct kvm_cpuid2;

/* Hosts whose KVM emulates guest kernel code (see docs/hosts.md). */
bool cpu_host_emulates_kernel(void);

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (free() it). */
int cpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out) __attribute__((warn_unused_result));

/*
 * Adapt the supported table for vCPU vcpu_id of nr_vcpus: its APIC ID, a
 * topology of one socket with nr_vcpus single-threaded cores (leaves 1, 4,
 * 0xb, 0x1f, 0x80000008, 0x8000001e), the hypervisor bit, and with
 * host_quirks CX16 and the hypercall-based KVM PV features cleared.
 * Pure: edits the table in place, no ioctl.
 */
void cpu_cpuid_adapt(struct kvm_cpuid2 *cpuid, unsigned int vcpu_id, unsigned int nr_vcpus,
		     bool host_quirks);

/* The order matters: CPUID before MSRs (style.md 8.6). */
int cpu_set_cpuid(int vcpu_fd, struct kvm_cpuid2 *cpuid) __attribute__((warn_unused_result));
int cpu_set_msrs(int vcpu_fd) __attribute__((warn_unused_result));
int cpu_set_fpu(int vcpu_fd) __attribute__((warn_unused_result));
int cpu_set_lapic(int vcpu_fd) __attribute__((warn_unused_result));
int cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *entry)
	__attribute__((warn_unused_result));

#endif
