/* SPDX-License-Identifier: MIT */
/*
 * The state of one x86 vCPU as KVM holds it, saved into and loaded from a
 * self-describing, versioned blob that can go into a snapshot section as
 * is; and the per-VM kvmclock. The blob layout and the order of the ioctls
 * are documented in docs/snapshot.md, "vCPU state".
 *
 * These functions issue ioctls and nothing else: no threads, no logging.
 * The caller pauses the vCPU first, and completes any I/O or MMIO exit it
 * is in (KVM_RUN once more with immediate_exit = 1): KVM finishes such an
 * instruction only on the next KVM_RUN and keeps that pending step in no
 * state it hands out.
 */
#ifndef LMIG_ARCH_X86_VCPU_STATE_H
#define LMIG_ARCH_X86_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Blob header: "LMIGVCPU", then the version. */
#define VCPU_STATE_MAGIC "LMIGVCPU"
#define VCPU_STATE_VERSION 1
#define VCPU_STATE_HDR_SIZE 32
#define VCPU_STATE_PART_HDR_SIZE 16

/* Bounds enforced on load (untrusted input), and on save. */
#define VCPU_STATE_MAX_CPUID 256 /* KVM's own limit on CPUID entries */
#define VCPU_STATE_MAX_MSRS 4096
#define VCPU_STATE_MAX_XSAVE 0x100000 /* 1 MiB; AMX needs ~11 KiB today */

/* Part types, in the order they appear in a blob (and mostly are set). */
enum vcpu_state_part {
	VCPU_PART_CPUID = 1,	 /* le32 nent, le32 0, nent x struct kvm_cpuid_entry2 */
	VCPU_PART_REGS = 2,	 /* struct kvm_regs */
	VCPU_PART_SREGS = 3,	 /* struct kvm_sregs  (hosts without KVM_CAP_SREGS2) */
	VCPU_PART_SREGS2 = 4,	 /* struct kvm_sregs2 */
	VCPU_PART_FPU = 5,	 /* struct kvm_fpu    (hosts without KVM_CAP_XSAVE) */
	VCPU_PART_XSAVE = 6,	 /* the KVM_GET_XSAVE2 area, 4096 bytes or more */
	VCPU_PART_XCRS = 7,	 /* struct kvm_xcrs (optional: KVM_CAP_XCRS) */
	VCPU_PART_DEBUGREGS = 8, /* struct kvm_debugregs (optional: KVM_CAP_DEBUGREGS) */
	VCPU_PART_LAPIC = 9,	 /* struct kvm_lapic_state (optional: in-kernel LAPIC) */
	VCPU_PART_MSRS = 10,	 /* le32 n, le32 0, n x {le32 index, le32 0, le64 value} */
	VCPU_PART_EVENTS = 11,	 /* struct kvm_vcpu_events */
	VCPU_PART_MP_STATE = 12, /* struct kvm_mp_state */
	VCPU_PART_TSC = 13,	 /* le32 TSC frequency in kHz (0: unknown), le32 0 */
	VCPU_PART_MAX = VCPU_PART_TSC,
};

/*
 * Save the state of a paused vCPU into a malloc'd blob (*blob, *len; free()
 * it). kvm_fd is /dev/kvm (the MSR lists are system ioctls), vm_fd the VM
 * (KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) is answered per VM). Returns 0 or
 * -errno, with err naming the part and the ioctl that failed.
 */
int vcpu_state_save(int kvm_fd, int vm_fd, int vcpu_fd, void **blob, size_t *len, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * Check a blob's structure without any ioctl: magic, version, lengths,
 * part order and sizes, counts against their parts, reserved fields. A
 * VM-level restore checks every vCPU's blob this way before it loads any.
 * Returns 0 or -EINVAL (-ENOTSUP for another version) with err saying what.
 */
int vcpu_state_check(const void *blob, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Load a blob into a freshly created vCPU (not run yet) of a VM set up like
 * the source's (same memory layout, split irqchip if the blob has a LAPIC).
 * The blob is checked completely first (vcpu_state_check(), then that this
 * host and vCPU can take every part: only KVM_CHECK_EXTENSION and GET
 * ioctls), so a refused blob leaves the vCPU untouched. Then the parts are
 * set in the order KVM requires. Returns 0 or -errno with err naming the
 * part and the ioctl; after a failed SET the vCPU is half-loaded and must
 * be discarded.
 */
int vcpu_state_load(int kvm_fd, int vm_fd, int vcpu_fd, const void *blob, size_t len, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * The per-VM kvmclock (KVM_GET_CLOCK), as a fixed-layout little-endian
 * struct that can go into a snapshot section as is.
 */
#define VM_CLOCK_STATE_VERSION 1
struct vm_clock_state {
	uint32_t version;  /* VM_CLOCK_STATE_VERSION */
	uint32_t flags;	   /* KVM_CLOCK_* as KVM_GET_CLOCK reported them */
	uint64_t clock;	   /* kvmclock, ns */
	uint64_t realtime; /* host CLOCK_REALTIME at that instant, if KVM_CLOCK_REALTIME */
	uint64_t host_tsc; /* host TSC at that instant, if KVM_CLOCK_HOST_TSC */
};

int vm_clock_save(int vm_fd, struct vm_clock_state *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * KVM_SET_CLOCK. When in->flags has KVM_CLOCK_REALTIME and this host's KVM
 * supports it, KVM advances the clock by the wall-clock time elapsed since
 * the save, so the guest's kvmclock shows the downtime (as its RTC does);
 * clear that flag in a copy to restart the clock where it stopped instead.
 * Call it after every vCPU is loaded, before the first KVM_RUN.
 */
int vm_clock_load(int vm_fd, const struct vm_clock_state *in, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
