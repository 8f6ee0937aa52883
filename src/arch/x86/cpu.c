/* SPDX-License-Identifier: MIT */
#include "arch/x86/cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/layout.h"

#define CPUID_MAX_ENTRIES 256

/* KVM paravirtual feature bits in CPUID 0x40000001 EAX (Documentation/virt/kvm/x86/cpuid.rst). */
#define KVM_FEATURE_PV_UNHALT 7
#define KVM_FEATURE_PV_TLB_FLUSH 9
#define KVM_FEATURE_PV_SEND_IPI 11
#define KVM_FEATURE_PV_SCHED_YIELD 13

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL

bool cpu_host_emulates_kernel(void)
{
	char line[4096];
	bool hw = false;
	FILE *f;

	/* The PVM module is the KVM of our sandboxed hosts (host-kvm.md). */
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return true;
	/* Otherwise: KVM without VT-x or AMD-V cannot run guest code natively. */
	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		hw = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return !hw;
}

int cpu_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	size_t sz = sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	c = calloc(1, sz);
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int r = -errno;
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* Bits needed to number n things: ceil(log2(n)). */
static unsigned int id_bits(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

void cpu_cpuid_adapt(struct kvm_cpuid2 *cpuid, unsigned int vcpu_id, unsigned int nr_vcpus,
		     bool host_quirks)
{
	unsigned int core_bits = id_bits(nr_vcpus);
	unsigned int i;

	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC ID, logical CPUs per package, HTT when > 1. */
			e->ebx = (e->ebx & 0x0000ffffU) | (vcpu_id << 24) |
				 ((nr_vcpus > 255 ? 255 : nr_vcpus) << 16);
			if (nr_vcpus > 1)
				e->edx |= 1U << 28;
			else
				e->edx &= ~(1U << 28);
			/* "Running under a hypervisor". */
			e->ecx |= 1U << 31;
			/* The emulator here cannot execute cmpxchg16b at CPL0. */
			if (host_quirks)
				e->ecx &= ~(1U << 13);
			break;
		case 4:
			/* Cores per package - 1 in EAX[31:26]; caches not shared by threads. */
			if (e->eax & 0x1f)
				e->eax = (e->eax & 0x00003fffU) |
					 ((((1U << core_bits) - 1) & 0x3f) << 26);
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: level 0 SMT (1 thread), level 1 core. */
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1U << 8) | 0;
			} else if (e->index == 1) {
				e->eax = core_bits;
				e->ebx = nr_vcpus;
				e->ecx = (2U << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index;
			}
			e->edx = vcpu_id;
			break;
		case 0x80000008:
			/* AMD: number of cores - 1, and the APIC ID bits for the core. */
			e->ecx = (e->ecx & ~0xf0ffU) | (core_bits << 12) | ((nr_vcpus - 1) & 0xff);
			break;
		case 0x8000001e:
			/* AMD: extended APIC ID, core ID (one thread per core), node 0. */
			e->eax = vcpu_id;
			e->ebx = vcpu_id & 0xff;
			e->ecx = 0;
			break;
		case 0x40000001:
			/* Hypercalls spin on such hosts: hide the features that use them. */
			if (host_quirks)
				e->eax &= ~((1U << KVM_FEATURE_PV_UNHALT) |
					    (1U << KVM_FEATURE_PV_TLB_FLUSH) |
					    (1U << KVM_FEATURE_PV_SEND_IPI) |
					    (1U << KVM_FEATURE_PV_SCHED_YIELD));
			break;
		default:
			break;
		}
	}
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int cpu_set_cpuid(int vcpu_fd, struct kvm_cpuid2 *cpuid)
{
	return xioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
}

int cpu_set_msrs(int vcpu_fd)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{MSR_IA32_SYSENTER_CS, 0},
		{MSR_IA32_SYSENTER_ESP, 0},
		{MSR_IA32_SYSENTER_EIP, 0},
		{MSR_STAR, 0},
		{MSR_LSTAR, 0},
		{MSR_CSTAR, 0},
		{MSR_SYSCALL_MASK, 0},
		{MSR_KERNEL_GS_BASE, 0},
		{MSR_IA32_MISC_ENABLE, 1},	       /* fast strings */
		{MSR_MTRR_DEF_TYPE, (1ULL << 11) | 6}, /* MTRRs on, write-back default */
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	/* struct kvm_msrs ends in a flexible array: build it in aligned storage. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + N * sizeof(struct kvm_msr_entry)];
	} m;
	unsigned int i;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (i = 0; i < N; i++) {
		m.hdr.entries[i].index = boot_msrs[i].index;
		m.hdr.entries[i].data = boot_msrs[i].data;
	}
	/* KVM_SET_MSRS returns how many it set: anything short is a failure. */
	r = ioctl(vcpu_fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return -errno;
	return r == N ? 0 : -EINVAL;
}

int cpu_set_fpu(int vcpu_fd)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;    /* the FNINIT value */
	fpu.mxcsr = 0x1f80; /* all SSE exceptions masked */
	return xioctl(vcpu_fd, KVM_SET_FPU, &fpu);
}

int cpu_set_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;
	int r;

	r = xioctl(vcpu_fd, KVM_GET_LAPIC, &lapic);
	if (r)
		return r;
	/* As a PC BIOS leaves it: LINT0 ExtINT, LINT1 NMI (offsets 0x350, 0x360). */
	memcpy(&v, &lapic.regs[0x350], 4);
	v = (v & ~0x700U & ~(1U << 16)) | (7U << 8);
	memcpy(&lapic.regs[0x350], &v, 4);
	memcpy(&v, &lapic.regs[0x360], 4);
	v = (v & ~0x700U & ~(1U << 16)) | (4U << 8);
	memcpy(&lapic.regs[0x360], &v, 4);
	return xioctl(vcpu_fd, KVM_SET_LAPIC, &lapic);
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff; /* 0xfffff in the descriptor, scaled by G=1 */
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

int cpu_set_boot_regs(int vcpu_fd, const struct boot_entry *entry)
{
	bool lm = entry->protocol == BOOT_PROTOCOL_64;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment data;
	int r;

	r = xioctl(vcpu_fd, KVM_GET_SREGS, &sregs);
	if (r)
		return r;
	flat_segment(&sregs.cs, BOOT_CS, 0xb, lm);
	flat_segment(&data, BOOT_DS, 0x3, false);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = BOOT_TSS;
	sregs.tr.limit = 0xfff;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	sregs.gdt.base = LAYOUT_BOOT_GDT;
	sregs.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = LAYOUT_BOOT_IDT;
	sregs.idt.limit = 0; /* an empty IDT: any exception before the kernel's own is fatal */
	sregs.cr0 = CR0_PE | CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (lm) {
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 |= CR4_PAE;
		sregs.cr0 |= CR0_PG;
		sregs.efer |= EFER_LME | EFER_LMA;
	}
	r = xioctl(vcpu_fd, KVM_SET_SREGS, &sregs);
	if (r)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2; /* reserved bit 1; interrupts off */
	regs.rip = entry->rip;
	regs.rsi = entry->rsi;
	return xioctl(vcpu_fd, KVM_SET_REGS, &regs);
}
