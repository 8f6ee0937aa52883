/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU state save/load and the VM's kvmclock (docs/snapshot.md, "vCPU
 * state"). A blob is a 32-byte header and a sequence of parts, each a
 * 16-byte part header and data padded to 8 bytes. The parts hold KVM's own
 * x86 structs byte for byte (x86 is little-endian, so they are too); the
 * header fields and our own counts are explicit little-endian.
 */
#include "arch/x86/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_ENTRY_SIZE 16
#define PAD8(n) (((n) + 7) & ~(size_t)7)

_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 layout");
_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs layout");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs layout");
_Static_assert(sizeof(struct kvm_sregs2) == 320, "kvm_sregs2 layout");
_Static_assert(sizeof(struct kvm_fpu) == 416, "kvm_fpu layout");
_Static_assert(sizeof(struct kvm_xsave) == 4096, "kvm_xsave layout");
_Static_assert(sizeof(struct kvm_xcrs) == 392, "kvm_xcrs layout");
_Static_assert(sizeof(struct kvm_debugregs) == 128, "kvm_debugregs layout");
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic_state layout");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events layout");
_Static_assert(sizeof(struct kvm_mp_state) == 4, "kvm_mp_state layout");
_Static_assert(sizeof(struct vm_clock_state) == 32, "vm_clock_state layout");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "KVM x86 structs are little-endian");

static const char *const part_names[VCPU_PART_MAX + 1] = {
	[VCPU_PART_CPUID] = "CPUID",
	[VCPU_PART_REGS] = "regs",
	[VCPU_PART_SREGS] = "sregs",
	[VCPU_PART_SREGS2] = "sregs2",
	[VCPU_PART_FPU] = "FPU",
	[VCPU_PART_XSAVE] = "XSAVE",
	[VCPU_PART_XCRS] = "XCRS",
	[VCPU_PART_DEBUGREGS] = "debug registers",
	[VCPU_PART_LAPIC] = "LAPIC",
	[VCPU_PART_MSRS] = "MSRs",
	[VCPU_PART_EVENTS] = "vCPU events",
	[VCPU_PART_MP_STATE] = "MP state",
	[VCPU_PART_TSC] = "TSC",
};

/* Fixed data sizes; 0 for the parts whose size depends on their content. */
static const uint32_t part_sizes[VCPU_PART_MAX + 1] = {
	[VCPU_PART_REGS] = sizeof(struct kvm_regs),
	[VCPU_PART_SREGS] = sizeof(struct kvm_sregs),
	[VCPU_PART_SREGS2] = sizeof(struct kvm_sregs2),
	[VCPU_PART_FPU] = sizeof(struct kvm_fpu),
	[VCPU_PART_XCRS] = sizeof(struct kvm_xcrs),
	[VCPU_PART_DEBUGREGS] = sizeof(struct kvm_debugregs),
	[VCPU_PART_LAPIC] = sizeof(struct kvm_lapic_state),
	[VCPU_PART_EVENTS] = sizeof(struct kvm_vcpu_events),
	[VCPU_PART_MP_STATE] = sizeof(struct kvm_mp_state),
	[VCPU_PART_TSC] = 8,
};

#define EVENTS_KNOWN_FLAGS                                                                         \
	(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |                       \
	 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD |      \
	 KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
#define CLOCK_KNOWN_FLAGS (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)

/* Formats the message into err and returns r. */
__attribute__((format(printf, 4, 5))) static int fail(int r, char *err, size_t errlen,
						      const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- the blob writer ---- */

struct writer {
	uint8_t *p;
	size_t len, cap;
	uint32_t nparts;
};

static int grow(struct writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 8192;
	uint8_t *np;

	if (more > SIZE_MAX / 2 - w->len)
		return -ENOMEM;
	while (cap < w->len + more)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	np = realloc(w->p, cap);
	if (!np)
		return -ENOMEM;
	w->p = np;
	w->cap = cap;
	return 0;
}

/* One part: its header, head (our own count fields, may be NULL), data, padding. */
static int put_part(struct writer *w, uint32_t type, const void *head, size_t head_len,
		    const void *data, size_t data_len)
{
	size_t size = head_len + data_len;
	uint8_t *q;
	int r;

	r = grow(w, VCPU_STATE_PART_HDR_SIZE + PAD8(size));
	if (r)
		return r;
	q = w->p + w->len;
	put_le32(q, type);
	put_le32(q + 4, 0);
	put_le64(q + 8, size);
	q += VCPU_STATE_PART_HDR_SIZE;
	if (head_len)
		memcpy(q, head, head_len);
	if (data_len)
		memcpy(q + head_len, data, data_len);
	memset(q + size, 0, PAD8(size) - size);
	w->len += VCPU_STATE_PART_HDR_SIZE + PAD8(size);
	w->nparts++;
	return 0;
}

/* ---- host capabilities ---- */

static int check_ext(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/* The size KVM_GET_XSAVE2 writes and KVM_SET_XSAVE reads; 0 without XSAVE. */
static size_t host_xsave_size(int vm_fd)
{
	int r = check_ext(vm_fd, KVM_CAP_XSAVE2);

	if (r >= (int)sizeof(struct kvm_xsave))
		return (size_t)r;
	return check_ext(vm_fd, KVM_CAP_XSAVE) ? sizeof(struct kvm_xsave) : 0;
}

/*
 * KVM_GET_LAPIC into *lapic: 1, or 0 when the vCPU has no in-kernel LAPIC
 * (KVM answers EINVAL, as it does for any x86 ioctl that needs one), or -1
 * with errno for any other failure.
 */
static int vcpu_has_lapic(int vcpu_fd, struct kvm_lapic_state *lapic)
{
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, lapic) == 0)
		return 1;
	return errno == EINVAL || errno == ENXIO ? 0 : -1;
}

/* ---- MSRs ---- */

/* A KVM MSR list (KVM_GET_MSR_INDEX_LIST or the feature list), malloc'd. */
static int msr_list(int kvm_fd, unsigned long req, struct kvm_msr_list **out)
{
	struct kvm_msr_list probe = {.nmsrs = 0}, *l;
	uint32_t n;

	/* With nmsrs 0, KVM fails with E2BIG and says how many there are. */
	if (ioctl(kvm_fd, req, &probe) == 0) {
		n = 0;
	} else {
		if (errno != E2BIG)
			return -errno;
		n = probe.nmsrs;
	}
	if (n > VCPU_STATE_MAX_MSRS)
		return -E2BIG;
	l = calloc(1, sizeof(*l) + (size_t)n * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	l->nmsrs = n;
	if (n && ioctl(kvm_fd, req, l) < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(struct kvm_msr_entry));

	if (m)
		m->nmsrs = n;
	return m;
}

/*
 * The serialisable MSRs: every MSR of KVM_GET_MSR_INDEX_LIST and of the
 * feature list (KVM_GET_MSR_FEATURE_INDEX_LIST: ARCH_CAPABILITIES, the VMX
 * capabilities ... which are per-vCPU settable values too) that this vCPU
 * reads, with their values. KVM_GET_MSRS stops at the first MSR it cannot
 * read and returns how many it read: skip that one and go on from the next.
 * The kept ones are then read again in one call, whose count must be all
 * of them, so the values are from one instant.
 */
static int save_msrs(int kvm_fd, int vcpu_fd, struct kvm_msrs **out, char *err, size_t errlen)
{
	struct kvm_msr_list *base = NULL, *feat = NULL;
	struct kvm_msrs *m = NULL, *one = NULL;
	uint32_t i, j, n = 0, kept = 0;
	int r;

	r = msr_list(kvm_fd, KVM_GET_MSR_INDEX_LIST, &base);
	if (r) {
		(void)fail(0, err, errlen, "MSRs: KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
		goto out;
	}
	if (check_ext(kvm_fd, KVM_CAP_GET_MSR_FEATURES)) {
		r = msr_list(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST, &feat);
		if (r) {
			(void)fail(0, err, errlen, "MSRs: KVM_GET_MSR_FEATURE_INDEX_LIST: %s",
				   strerror(-r));
			goto out;
		}
	}
	m = msrs_alloc(base->nmsrs + (feat ? feat->nmsrs : 0));
	if (!m) {
		r = -ENOMEM;
		(void)fail(0, err, errlen, "MSRs: out of memory");
		goto out;
	}
	for (i = 0; i < base->nmsrs; i++)
		m->entries[n++].index = base->indices[i];
	for (i = 0; feat && i < feat->nmsrs; i++) {
		for (j = 0; j < base->nmsrs && base->indices[j] != feat->indices[i]; j++)
			;
		if (j == base->nmsrs)
			m->entries[n++].index = feat->indices[i];
	}
	if (n > VCPU_STATE_MAX_MSRS) {
		r = -E2BIG;
		(void)fail(0, err, errlen,
			   "MSRs: KVM lists %u MSRs, more than the %u a blob may hold", n,
			   VCPU_STATE_MAX_MSRS);
		goto out;
	}
	/* Find the readable ones, in KVM's order. */
	for (i = 0; i < n;) {
		uint32_t left = n - i;
		int got;

		one = msrs_alloc(left);
		if (!one) {
			r = -ENOMEM;
			(void)fail(0, err, errlen, "MSRs: out of memory");
			goto out;
		}
		for (j = 0; j < left; j++)
			one->entries[j].index = m->entries[i + j].index;
		got = ioctl(vcpu_fd, KVM_GET_MSRS, one);
		if (got < 0) {
			r = -errno;
			(void)fail(0, err, errlen, "MSRs: KVM_GET_MSRS: %s", strerror(errno));
			goto out;
		}
		for (j = 0; j < (uint32_t)got && j < left; j++)
			m->entries[kept++].index = one->entries[j].index;
		/* Entry i + got is unreadable (not for this vCPU's CPUID): skip it. */
		i += (uint32_t)got + 1;
		free(one);
		one = NULL;
	}
	m->nmsrs = kept;
	if (kept) {
		r = ioctl(vcpu_fd, KVM_GET_MSRS, m);
		if (r < 0) {
			r = -errno;
			(void)fail(0, err, errlen, "MSRs: KVM_GET_MSRS: %s", strerror(-r));
			goto out;
		}
		if ((uint32_t)r != kept) {
			(void)fail(
				0, err, errlen,
				"MSRs: KVM_GET_MSRS read %d of %u MSRs: MSR 0x%x no longer reads",
				r, kept, m->entries[r].index);
			r = -EIO;
			goto out;
		}
	}
	r = 0;
	*out = m;
	m = NULL;
out:
	free(one);
	free(m);
	free(feat);
	free(base);
	return r;
}

/* ---- save ---- */

static int get(int fd, unsigned long req, void *arg, const char *what, char *err, size_t errlen)
{
	if (ioctl(fd, req, arg) < 0) {
		int r = -errno;
		(void)fail(0, err, errlen, "%s: %s", what, strerror(errno));
		return r;
	}
	return 0;
}

int vcpu_state_save(int kvm_fd, int vm_fd, int vcpu_fd, void **blob, size_t *len, char *err,
		    size_t errlen)
{
	struct writer w = {0};
	struct kvm_mp_state mp;
	struct kvm_cpuid2 *cpuid = NULL;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_msrs *msrs = NULL;
	struct kvm_vcpu_events events;
	void *xsave = NULL;
	size_t xsave_size = host_xsave_size(vm_fd);
	bool has_sregs2 = check_ext(vm_fd, KVM_CAP_SREGS2) > 0;
	bool has_xcrs = check_ext(vm_fd, KVM_CAP_XCRS) > 0;
	bool has_dregs = check_ext(vm_fd, KVM_CAP_DEBUGREGS) > 0;
	bool has_lapic;
	uint8_t head[8], tsc[8];
	uint32_t i;
	int r, khz;

	memset(&mp, 0, sizeof(mp));
	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&sregs2, 0, sizeof(sregs2));
	memset(&fpu, 0, sizeof(fpu));
	memset(&xcrs, 0, sizeof(xcrs));
	memset(&dregs, 0, sizeof(dregs));
	memset(&lapic, 0, sizeof(lapic));
	memset(&events, 0, sizeof(events));

	/*
	 * MP state first: KVM_GET_MP_STATE makes KVM accept the INIT or SIPI
	 * the LAPIC holds pending, and an INIT resets the registers. Read
	 * after it, every other part agrees with the MP state saved.
	 */
	r = get(vcpu_fd, KVM_GET_MP_STATE, &mp, "MP state: KVM_GET_MP_STATE", err, errlen);
	if (r)
		goto out;

	/* The CPUID the VMM set on this vCPU (KVM_GET_CPUID2: E2BIG if too small). */
	cpuid = calloc(1, sizeof(*cpuid) + VCPU_STATE_MAX_CPUID * sizeof(cpuid->entries[0]));
	if (!cpuid) {
		r = -ENOMEM;
		goto oom;
	}
	cpuid->nent = VCPU_STATE_MAX_CPUID;
	r = get(vcpu_fd, KVM_GET_CPUID2, cpuid, "CPUID: KVM_GET_CPUID2", err, errlen);
	if (r)
		goto out;
	r = get(vcpu_fd, KVM_GET_REGS, &regs, "regs: KVM_GET_REGS", err, errlen);
	if (!r && has_sregs2)
		r = get(vcpu_fd, KVM_GET_SREGS2, &sregs2, "sregs2: KVM_GET_SREGS2", err, errlen);
	else if (!r)
		r = get(vcpu_fd, KVM_GET_SREGS, &sregs, "sregs: KVM_GET_SREGS", err, errlen);
	if (r)
		goto out;
	if (xsave_size) {
		/* KVM_GET_XSAVE2 writes the KVM_CAP_XSAVE2 size; KVM_GET_XSAVE 4096 bytes. */
		xsave = calloc(1, xsave_size);
		if (!xsave) {
			r = -ENOMEM;
			goto oom;
		}
		if (check_ext(vm_fd, KVM_CAP_XSAVE2) > 0)
			r = get(vcpu_fd, KVM_GET_XSAVE2, xsave, "XSAVE: KVM_GET_XSAVE2", err,
				errlen);
		else
			r = get(vcpu_fd, KVM_GET_XSAVE, xsave, "XSAVE: KVM_GET_XSAVE", err, errlen);
	} else {
		r = get(vcpu_fd, KVM_GET_FPU, &fpu, "FPU: KVM_GET_FPU", err, errlen);
	}
	if (!r && has_xcrs)
		r = get(vcpu_fd, KVM_GET_XCRS, &xcrs, "XCRS: KVM_GET_XCRS", err, errlen);
	if (!r && has_dregs)
		r = get(vcpu_fd, KVM_GET_DEBUGREGS, &dregs, "debug registers: KVM_GET_DEBUGREGS",
			err, errlen);
	if (r)
		goto out;
	/* No in-kernel LAPIC (no irqchip at all): no LAPIC part. */
	r = vcpu_has_lapic(vcpu_fd, &lapic);
	has_lapic = r == 1;
	if (r < 0) {
		r = -errno;
		(void)fail(0, err, errlen, "LAPIC: KVM_GET_LAPIC: %s", strerror(errno));
		goto out;
	}
	r = save_msrs(kvm_fd, vcpu_fd, &msrs, err, errlen);
	if (r)
		goto out;
	r = get(vcpu_fd, KVM_GET_VCPU_EVENTS, &events, "vCPU events: KVM_GET_VCPU_EVENTS", err,
		errlen);
	if (r)
		goto out;
	/* The guest TSC's frequency; its value is MSR IA32_TSC, in the MSR part. */
	khz = check_ext(vm_fd, KVM_CAP_GET_TSC_KHZ) ? ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0) : 0;
	if (khz < 0) {
		r = -errno;
		(void)fail(0, err, errlen, "TSC: KVM_GET_TSC_KHZ: %s", strerror(errno));
		goto out;
	}

	/* The blob: header, then the parts in their type order. */
	r = grow(&w, VCPU_STATE_HDR_SIZE);
	if (r)
		goto oom;
	memset(w.p, 0, VCPU_STATE_HDR_SIZE);
	w.len = VCPU_STATE_HDR_SIZE;
	put_le32(head, cpuid->nent);
	put_le32(head + 4, 0);
	r = put_part(&w, VCPU_PART_CPUID, head, 8, cpuid->entries,
		     (size_t)cpuid->nent * sizeof(cpuid->entries[0]));
	if (!r)
		r = put_part(&w, VCPU_PART_REGS, NULL, 0, &regs, sizeof(regs));
	if (!r)
		r = has_sregs2 ? put_part(&w, VCPU_PART_SREGS2, NULL, 0, &sregs2, sizeof(sregs2))
			       : put_part(&w, VCPU_PART_SREGS, NULL, 0, &sregs, sizeof(sregs));
	if (!r)
		r = xsave ? put_part(&w, VCPU_PART_XSAVE, NULL, 0, xsave, xsave_size)
			  : put_part(&w, VCPU_PART_FPU, NULL, 0, &fpu, sizeof(fpu));
	if (!r && has_xcrs)
		r = put_part(&w, VCPU_PART_XCRS, NULL, 0, &xcrs, sizeof(xcrs));
	if (!r && has_dregs)
		r = put_part(&w, VCPU_PART_DEBUGREGS, NULL, 0, &dregs, sizeof(dregs));
	if (!r && has_lapic)
		r = put_part(&w, VCPU_PART_LAPIC, NULL, 0, &lapic, sizeof(lapic));
	if (!r) {
		/* Our own little-endian entries, reserved field zero (KVM's is padding). */
		size_t n = msrs->nmsrs;
		uint8_t *e = calloc(n ? n : 1, MSR_ENTRY_SIZE);

		if (!e)
			goto oom;
		for (i = 0; i < n; i++) {
			put_le32(e + i * MSR_ENTRY_SIZE, msrs->entries[i].index);
			put_le64(e + i * MSR_ENTRY_SIZE + 8, msrs->entries[i].data);
		}
		put_le32(head, (uint32_t)n);
		r = put_part(&w, VCPU_PART_MSRS, head, 8, e, n * MSR_ENTRY_SIZE);
		free(e);
	}
	if (!r)
		r = put_part(&w, VCPU_PART_EVENTS, NULL, 0, &events, sizeof(events));
	if (!r)
		r = put_part(&w, VCPU_PART_MP_STATE, NULL, 0, &mp, sizeof(mp));
	if (!r) {
		put_le32(tsc, (uint32_t)khz);
		put_le32(tsc + 4, 0);
		r = put_part(&w, VCPU_PART_TSC, NULL, 0, tsc, sizeof(tsc));
	}
	if (r)
		goto oom;
	memcpy(w.p, VCPU_STATE_MAGIC, 8);
	put_le32(w.p + 8, VCPU_STATE_VERSION);
	put_le32(w.p + 12, VCPU_STATE_HDR_SIZE);
	put_le64(w.p + 16, w.len);
	put_le32(w.p + 24, w.nparts);
	put_le32(w.p + 28, 0);
	*blob = w.p;
	*len = w.len;
	w.p = NULL;
	r = 0;
	goto out;
oom:
	r = -ENOMEM;
	(void)fail(0, err, errlen, "out of memory building the vCPU state");
out:
	free(w.p);
	free(xsave);
	free(msrs);
	free(cpuid);
	return r;
}

/* ---- check ---- */

struct parts {
	const uint8_t *data[VCPU_PART_MAX + 1]; /* NULL: absent */
	uint64_t size[VCPU_PART_MAX + 1];
};

/* Structure only: no ioctl. Fills *p with pointers into the blob. */
static int parse(const void *blob, size_t len, struct parts *p, char *err, size_t errlen)
{
	const uint8_t *b = blob;
	uint64_t total, off, size;
	uint32_t version, nparts, type, i, prev = 0, n;

	memset(p, 0, sizeof(*p));
	if (!blob || len < VCPU_STATE_HDR_SIZE)
		return fail(-EINVAL, err, errlen,
			    "truncated: %zu bytes, less than the %u-byte header", len,
			    VCPU_STATE_HDR_SIZE);
	if (memcmp(b, VCPU_STATE_MAGIC, 8))
		return fail(-EINVAL, err, errlen, "bad magic (not a vCPU state blob)");
	version = get_le32(b + 8);
	if (version != VCPU_STATE_VERSION)
		return fail(-ENOTSUP, err, errlen,
			    "unsupported version %u (this lmigtester reads version %u)", version,
			    VCPU_STATE_VERSION);
	if (get_le32(b + 12) != VCPU_STATE_HDR_SIZE)
		return fail(-EINVAL, err, errlen, "header size %u, expected %u", get_le32(b + 12),
			    VCPU_STATE_HDR_SIZE);
	total = get_le64(b + 16);
	if (total != len)
		return fail(-EINVAL, err, errlen,
			    "%s: the header says %llu bytes, the blob has %zu",
			    total > len ? "truncated" : "trailing bytes", (unsigned long long)total,
			    len);
	nparts = get_le32(b + 24);
	if (get_le32(b + 28))
		return fail(-EINVAL, err, errlen, "reserved header field 0x%x is not 0",
			    get_le32(b + 28));
	if (nparts > VCPU_PART_MAX)
		return fail(-EINVAL, err, errlen, "%u parts, more than the %u part types", nparts,
			    VCPU_PART_MAX);

	off = VCPU_STATE_HDR_SIZE;
	for (i = 0; i < nparts; i++) {
		if (len - off < VCPU_STATE_PART_HDR_SIZE)
			return fail(-EINVAL, err, errlen,
				    "truncated: part %u at offset %llu has no room for its header",
				    i, (unsigned long long)off);
		type = get_le32(b + off);
		size = get_le64(b + off + 8);
		if (type < 1 || type > VCPU_PART_MAX)
			return fail(-EINVAL, err, errlen, "part %u at offset %llu: unknown type %u",
				    i, (unsigned long long)off, type);
		/* Strictly increasing: the documented order, each part at most once. */
		if (type <= prev)
			return fail(-EINVAL, err, errlen,
				    "part %u (%s) at offset %llu: out of order after %s", i,
				    part_names[type], (unsigned long long)off, part_names[prev]);
		if (get_le32(b + off + 4))
			return fail(-EINVAL, err, errlen, "part %s: reserved field is not 0",
				    part_names[type]);
		off += VCPU_STATE_PART_HDR_SIZE;
		/* Compared with what is left, never added to off: no size can wrap. */
		if (size > len - off || PAD8(size) > len - off)
			return fail(-EINVAL, err, errlen,
				    "truncated: part %s at offset %llu has %llu bytes, only %llu "
				    "follow its header",
				    part_names[type], (unsigned long long)(off - 16),
				    (unsigned long long)size, (unsigned long long)(len - off));
		if (!all_zero(b + off + size, PAD8(size) - size))
			return fail(-EINVAL, err, errlen, "part %s: padding is not zero",
				    part_names[type]);
		if (part_sizes[type] && size != part_sizes[type])
			return fail(-EINVAL, err, errlen, "part %s: %llu bytes, expected %u",
				    part_names[type], (unsigned long long)size, part_sizes[type]);
		p->data[type] = b + off;
		p->size[type] = size;
		off += PAD8(size);
		prev = type;
	}
	if (off != len)
		return fail(-EINVAL, err, errlen, "%llu bytes after the last of %u parts",
			    (unsigned long long)(len - off), nparts);

	/* Required parts, and exactly one of each alternative. */
	static const uint32_t required[] = {VCPU_PART_CPUID,  VCPU_PART_REGS,	  VCPU_PART_MSRS,
					    VCPU_PART_EVENTS, VCPU_PART_MP_STATE, VCPU_PART_TSC};
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!p->data[required[i]])
			return fail(-EINVAL, err, errlen, "part %s is missing",
				    part_names[required[i]]);
	if (!p->data[VCPU_PART_SREGS] == !p->data[VCPU_PART_SREGS2])
		return fail(-EINVAL, err, errlen,
			    "needs exactly one of the parts sregs and sregs2");
	if (!p->data[VCPU_PART_FPU] == !p->data[VCPU_PART_XSAVE])
		return fail(-EINVAL, err, errlen, "needs exactly one of the parts FPU and XSAVE");

	/* Counted parts: the count must match the size exactly (checked in 64 bits). */
	n = get_le32(p->data[VCPU_PART_CPUID]);
	if (n > VCPU_STATE_MAX_CPUID || get_le32(p->data[VCPU_PART_CPUID] + 4) ||
	    p->size[VCPU_PART_CPUID] != 8 + (uint64_t)n * sizeof(struct kvm_cpuid_entry2))
		return fail(-EINVAL, err, errlen,
			    "part CPUID: %u entries (at most %u) do not match its %llu bytes", n,
			    VCPU_STATE_MAX_CPUID, (unsigned long long)p->size[VCPU_PART_CPUID]);
	for (i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 e;

		memcpy(&e, p->data[VCPU_PART_CPUID] + 8 + (size_t)i * sizeof(e), sizeof(e));
		if (e.padding[0] || e.padding[1] || e.padding[2])
			return fail(-EINVAL, err, errlen,
				    "part CPUID: entry %u: padding is not zero", i);
	}
	n = get_le32(p->data[VCPU_PART_MSRS]);
	if (n > VCPU_STATE_MAX_MSRS || get_le32(p->data[VCPU_PART_MSRS] + 4) ||
	    p->size[VCPU_PART_MSRS] != 8 + (uint64_t)n * MSR_ENTRY_SIZE)
		return fail(-EINVAL, err, errlen,
			    "part MSRs: %u MSRs (at most %u) do not match its %llu bytes", n,
			    VCPU_STATE_MAX_MSRS, (unsigned long long)p->size[VCPU_PART_MSRS]);
	for (i = 0; i < n; i++)
		if (get_le32(p->data[VCPU_PART_MSRS] + 8 + (size_t)i * MSR_ENTRY_SIZE + 4))
			return fail(-EINVAL, err, errlen,
				    "part MSRs: entry %u: reserved field is not 0", i);
	if (p->data[VCPU_PART_XSAVE] &&
	    (p->size[VCPU_PART_XSAVE] < sizeof(struct kvm_xsave) ||
	     p->size[VCPU_PART_XSAVE] > VCPU_STATE_MAX_XSAVE || p->size[VCPU_PART_XSAVE] % 4))
		return fail(-EINVAL, err, errlen,
			    "part XSAVE: %llu bytes, not a multiple of 4 in %zu..%u",
			    (unsigned long long)p->size[VCPU_PART_XSAVE], sizeof(struct kvm_xsave),
			    VCPU_STATE_MAX_XSAVE);
	if (get_le32(p->data[VCPU_PART_TSC] + 4))
		return fail(-EINVAL, err, errlen, "part TSC: reserved field is not 0");

	/* What KVM would refuse halfway through a load, refused before it starts. */
	{
		struct kvm_vcpu_events ev;
		struct kvm_mp_state mp;

		memcpy(&ev, p->data[VCPU_PART_EVENTS], sizeof(ev));
		if (ev.flags & ~(uint32_t)EVENTS_KNOWN_FLAGS)
			return fail(-EINVAL, err, errlen, "part vCPU events: unknown flags 0x%x",
				    ev.flags & ~(uint32_t)EVENTS_KNOWN_FLAGS);
		memcpy(&mp, p->data[VCPU_PART_MP_STATE], sizeof(mp));
		if (mp.mp_state > KVM_MP_STATE_SUSPENDED)
			return fail(-EINVAL, err, errlen, "part MP state: unknown state %u",
				    mp.mp_state);
	}
	if (p->data[VCPU_PART_SREGS2]) {
		struct kvm_sregs2 s;

		memcpy(&s, p->data[VCPU_PART_SREGS2], sizeof(s));
		if (s.flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
			return fail(-EINVAL, err, errlen, "part sregs2: unknown flags 0x%llx",
				    (unsigned long long)s.flags);
	}
	if (p->data[VCPU_PART_XCRS]) {
		struct kvm_xcrs x;

		memcpy(&x, p->data[VCPU_PART_XCRS], sizeof(x));
		if (x.nr_xcrs > KVM_MAX_XCRS || x.flags)
			return fail(-EINVAL, err, errlen,
				    "part XCRS: %u XCRs (at most %u), flags 0x%x", x.nr_xcrs,
				    KVM_MAX_XCRS, x.flags);
	}
	if (p->data[VCPU_PART_DEBUGREGS]) {
		struct kvm_debugregs d;

		memcpy(&d, p->data[VCPU_PART_DEBUGREGS], sizeof(d));
		if (d.flags)
			return fail(-EINVAL, err, errlen,
				    "part debug registers: flags 0x%llx are not 0",
				    (unsigned long long)d.flags);
	}
	return 0;
}

int vcpu_state_check(const void *blob, size_t len, char *err, size_t errlen)
{
	struct parts p;

	return parse(blob, len, &p, err, errlen);
}

/* ---- load ---- */

/* TSC frequencies KVM itself treats as equal (its 250 ppm tolerance). */
static bool khz_close(uint32_t a, uint32_t b)
{
	uint64_t d = a > b ? a - b : b - a;

	return d * 1000000 <= (uint64_t)a * 250;
}

/*
 * Can this host and this vCPU take every part? Only KVM_CHECK_EXTENSION and
 * GET ioctls: nothing changes the vCPU yet. Sets *set_khz when the TSC
 * frequency must be set (KVM_SET_TSC_KHZ).
 */
static int check_host(int vm_fd, int vcpu_fd, const struct parts *p, size_t *xsave_size,
		      uint32_t *set_khz, char *err, size_t errlen)
{
	struct kvm_lapic_state lapic;
	uint32_t khz = get_le32(p->data[VCPU_PART_TSC]);
	int r;
	bool has_lapic;

	*set_khz = 0;
	if (p->data[VCPU_PART_SREGS2] && check_ext(vm_fd, KVM_CAP_SREGS2) <= 0)
		return fail(-ENOTSUP, err, errlen,
			    "part sregs2: this host's KVM lacks KVM_CAP_SREGS2");
	*xsave_size = host_xsave_size(vm_fd);
	if (p->data[VCPU_PART_XSAVE]) {
		uint64_t size = p->size[VCPU_PART_XSAVE];

		if (!*xsave_size)
			return fail(-ENOTSUP, err, errlen,
				    "part XSAVE: this host's KVM lacks KVM_CAP_XSAVE");
		/* A bigger area is fine if what this host has no room for is unused. */
		if (size > *xsave_size &&
		    !all_zero(p->data[VCPU_PART_XSAVE] + *xsave_size, size - *xsave_size))
			return fail(-ENOTSUP, err, errlen,
				    "part XSAVE: %llu bytes of state, this host's KVM takes %zu "
				    "(KVM_CAP_XSAVE2)",
				    (unsigned long long)size, *xsave_size);
	}
	if (p->data[VCPU_PART_XCRS] && check_ext(vm_fd, KVM_CAP_XCRS) <= 0)
		return fail(-ENOTSUP, err, errlen, "part XCRS: this host's KVM lacks KVM_CAP_XCRS");
	if (p->data[VCPU_PART_DEBUGREGS] && check_ext(vm_fd, KVM_CAP_DEBUGREGS) <= 0)
		return fail(-ENOTSUP, err, errlen,
			    "part debug registers: this host's KVM lacks KVM_CAP_DEBUGREGS");
	/* The saved vCPU had an in-kernel LAPIC exactly when this one has. */
	r = vcpu_has_lapic(vcpu_fd, &lapic);
	has_lapic = r == 1;
	if (r < 0)
		return fail(-errno, err, errlen, "LAPIC: KVM_GET_LAPIC: %s", strerror(errno));
	if (has_lapic != !!p->data[VCPU_PART_LAPIC])
		return fail(-EINVAL, err, errlen,
			    "part LAPIC: the saved vCPU %s an in-kernel LAPIC, this one %s",
			    p->data[VCPU_PART_LAPIC] ? "had" : "had no",
			    has_lapic ? "has" : "has none (no irqchip)");
	if (khz && check_ext(vm_fd, KVM_CAP_GET_TSC_KHZ) > 0) {
		int cur = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);

		if (cur < 0)
			return fail(-errno, err, errlen, "TSC: KVM_GET_TSC_KHZ: %s",
				    strerror(errno));
		if (!khz_close(khz, (uint32_t)cur)) {
			if (check_ext(vm_fd, KVM_CAP_TSC_CONTROL) <= 0)
				return fail(-ENOTSUP, err, errlen,
					    "part TSC: the guest's TSC runs at %u kHz, this host's "
					    "at %d kHz, and its KVM cannot scale it (no "
					    "KVM_CAP_TSC_CONTROL)",
					    khz, cur);
			*set_khz = khz;
		}
	}
	return 0;
}

static int set(int fd, unsigned long req, const void *arg, const char *what, char *err,
	       size_t errlen)
{
	if (ioctl(fd, req, arg) < 0) {
		int r = -errno;
		(void)fail(0, err, errlen, "%s: %s", what, strerror(errno));
		return r;
	}
	return 0;
}

static int load_msrs(int vcpu_fd, const uint8_t *part, char *err, size_t errlen)
{
	uint32_t i, n = get_le32(part);
	struct kvm_msrs *m = msrs_alloc(n);
	int r;

	if (!m)
		return fail(-ENOMEM, err, errlen, "MSRs: out of memory");
	for (i = 0; i < n; i++) {
		m->entries[i].index = get_le32(part + 8 + (size_t)i * MSR_ENTRY_SIZE);
		m->entries[i].data = get_le64(part + 8 + (size_t)i * MSR_ENTRY_SIZE + 8);
	}
	/*
	 * KVM_SET_MSRS returns how many MSRs it set: it stops at the first one
	 * it refuses. Anything short of all of them is a failure.
	 */
	r = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (r < 0) {
		r = -errno;
		(void)fail(0, err, errlen, "MSRs: KVM_SET_MSRS: %s", strerror(errno));
	} else if ((uint32_t)r != n) {
		(void)fail(0, err, errlen,
			   "MSRs: KVM_SET_MSRS set %d of %u MSRs: MSR 0x%x (value 0x%llx) refused",
			   r, n, m->entries[r].index, (unsigned long long)m->entries[r].data);
		r = -EINVAL;
	} else {
		r = 0;
	}
	free(m);
	return r;
}

int vcpu_state_load(int kvm_fd, int vm_fd, int vcpu_fd, const void *blob, size_t len, char *err,
		    size_t errlen)
{
	struct parts p;
	struct kvm_cpuid2 *cpuid;
	void *xsave = NULL;
	size_t xsave_size = 0;
	uint32_t set_khz, nent;
	int r;

	(void)kvm_fd;
	r = parse(blob, len, &p, err, errlen);
	if (!r)
		r = check_host(vm_fd, vcpu_fd, &p, &xsave_size, &set_khz, err, errlen);
	if (r)
		return r;

	/*
	 * 1. CPUID before anything else: KVM checks CR4 and XCR0 bits, the
	 * XSAVE components, and which MSRs exist and what they may hold
	 * against the guest's CPUID. (On a vCPU that has run, KVM only accepts
	 * the CPUID it already has: hence a fresh vCPU.)
	 */
	nent = get_le32(p.data[VCPU_PART_CPUID]);
	cpuid = calloc(1, sizeof(*cpuid) + (size_t)nent * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return fail(-ENOMEM, err, errlen, "CPUID: out of memory");
	cpuid->nent = nent;
	memcpy(cpuid->entries, p.data[VCPU_PART_CPUID] + 8,
	       (size_t)nent * sizeof(cpuid->entries[0]));
	r = set(vcpu_fd, KVM_SET_CPUID2, cpuid, "CPUID: KVM_SET_CPUID2", err, errlen);
	free(cpuid);
	if (r)
		return r;

	/*
	 * 2. The TSC frequency, before the IA32_TSC MSR is written: KVM turns
	 * the value written into an offset at the vCPU's frequency.
	 */
	if (set_khz && ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)set_khz) < 0)
		return fail(-errno, err, errlen, "TSC: KVM_SET_TSC_KHZ %u: %s", set_khz,
			    strerror(errno));

	/*
	 * 3. General registers, then the segment and control registers (CR0,
	 * CR4, EFER, and the APIC base, which decides xAPIC or x2APIC mode).
	 * Both come before the vCPU events: KVM_SET_REGS drops a pending
	 * exception, and the events part is what restores it.
	 */
	{
		struct kvm_regs regs;

		memcpy(&regs, p.data[VCPU_PART_REGS], sizeof(regs));
		r = set(vcpu_fd, KVM_SET_REGS, &regs, "regs: KVM_SET_REGS", err, errlen);
		if (r)
			return r;
	}
	if (p.data[VCPU_PART_SREGS2]) {
		struct kvm_sregs2 s;

		memcpy(&s, p.data[VCPU_PART_SREGS2], sizeof(s));
		r = set(vcpu_fd, KVM_SET_SREGS2, &s, "sregs2: KVM_SET_SREGS2", err, errlen);
	} else {
		struct kvm_sregs s;

		memcpy(&s, p.data[VCPU_PART_SREGS], sizeof(s));
		r = set(vcpu_fd, KVM_SET_SREGS, &s, "sregs: KVM_SET_SREGS", err, errlen);
	}
	if (r)
		return r;

	/*
	 * 4. FPU/SSE/AVX state. KVM_SET_XSAVE reads exactly the KVM_CAP_XSAVE2
	 * size: a smaller saved area is zero-extended (an all-zero component
	 * beyond it is in its initial state, its XSTATE_BV bit clear), a
	 * bigger one was checked to be zero beyond this host's size. Then
	 * XCR0, which CPUID bounds, and the debug registers.
	 */
	if (p.data[VCPU_PART_XSAVE]) {
		size_t n =
			p.size[VCPU_PART_XSAVE] < xsave_size ? p.size[VCPU_PART_XSAVE] : xsave_size;

		xsave = calloc(1, xsave_size);
		if (!xsave)
			return fail(-ENOMEM, err, errlen, "XSAVE: out of memory");
		memcpy(xsave, p.data[VCPU_PART_XSAVE], n);
		r = set(vcpu_fd, KVM_SET_XSAVE, xsave, "XSAVE: KVM_SET_XSAVE", err, errlen);
		free(xsave);
	} else {
		struct kvm_fpu fpu;

		memcpy(&fpu, p.data[VCPU_PART_FPU], sizeof(fpu));
		r = set(vcpu_fd, KVM_SET_FPU, &fpu, "FPU: KVM_SET_FPU", err, errlen);
	}
	if (r)
		return r;
	if (p.data[VCPU_PART_XCRS]) {
		struct kvm_xcrs x;

		memcpy(&x, p.data[VCPU_PART_XCRS], sizeof(x));
		r = set(vcpu_fd, KVM_SET_XCRS, &x, "XCRS: KVM_SET_XCRS", err, errlen);
		if (r)
			return r;
	}
	if (p.data[VCPU_PART_DEBUGREGS]) {
		struct kvm_debugregs d;

		memcpy(&d, p.data[VCPU_PART_DEBUGREGS], sizeof(d));
		r = set(vcpu_fd, KVM_SET_DEBUGREGS, &d, "debug registers: KVM_SET_DEBUGREGS", err,
			errlen);
		if (r)
			return r;
	}

	/*
	 * 5. LAPIC after sregs: KVM interprets the LAPIC registers (the ID
	 * format above all) in the mode the APIC base MSR, set with sregs,
	 * selects. Before the MSRs: KVM ignores a write to IA32_TSC_DEADLINE
	 * unless the LAPIC timer is already in TSC-deadline mode.
	 */
	if (p.data[VCPU_PART_LAPIC]) {
		struct kvm_lapic_state l;

		memcpy(&l, p.data[VCPU_PART_LAPIC], sizeof(l));
		r = set(vcpu_fd, KVM_SET_LAPIC, &l, "LAPIC: KVM_SET_LAPIC", err, errlen);
		if (r)
			return r;
	}

	/*
	 * 6. MSRs after CPUID (what exists), sregs (EFER, APIC base are set
	 * there too and must agree) and LAPIC (TSC deadline). IA32_TSC is
	 * among them: the guest's TSC resumes from the value saved.
	 */
	r = load_msrs(vcpu_fd, p.data[VCPU_PART_MSRS], err, errlen);
	if (r)
		return r;

	/*
	 * 7. Pending and injected exceptions, interrupts, NMI, SMM state and
	 * the interrupt shadow last but one: after the registers (see 3) and
	 * after the LAPIC, which a latched INIT and the SIPI vector belong to.
	 */
	{
		struct kvm_vcpu_events ev;

		memcpy(&ev, p.data[VCPU_PART_EVENTS], sizeof(ev));
		r = set(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev, "vCPU events: KVM_SET_VCPU_EVENTS", err,
			errlen);
		if (r)
			return r;
	}

	/*
	 * 8. MP state last: KVM refuses INIT_RECEIVED/SIPI_RECEIVED while the
	 * vCPU is in SMM (set by the events), and SIPI_RECEIVED becomes a SIPI
	 * pending in the LAPIC, which KVM_SET_LAPIC or the events' latched
	 * INIT would otherwise overwrite.
	 */
	{
		struct kvm_mp_state mp;

		memcpy(&mp, p.data[VCPU_PART_MP_STATE], sizeof(mp));
		r = set(vcpu_fd, KVM_SET_MP_STATE, &mp, "MP state: KVM_SET_MP_STATE", err, errlen);
	}
	return r;
}

/* ---- the VM's kvmclock ---- */

int vm_clock_save(int vm_fd, struct vm_clock_state *out, char *err, size_t errlen)
{
	struct kvm_clock_data d;

	memset(&d, 0, sizeof(d));
	if (ioctl(vm_fd, KVM_GET_CLOCK, &d) < 0)
		return fail(-errno, err, errlen, "kvmclock: KVM_GET_CLOCK: %s", strerror(errno));
	memset(out, 0, sizeof(*out));
	out->version = VM_CLOCK_STATE_VERSION;
	out->flags = d.flags & CLOCK_KNOWN_FLAGS;
	out->clock = d.clock;
	out->realtime = d.flags & KVM_CLOCK_REALTIME ? d.realtime : 0;
	out->host_tsc = d.flags & KVM_CLOCK_HOST_TSC ? d.host_tsc : 0;
	return 0;
}

int vm_clock_load(int vm_fd, const struct vm_clock_state *in, char *err, size_t errlen)
{
	struct kvm_clock_data d;
	int supported;

	if (in->version != VM_CLOCK_STATE_VERSION)
		return fail(-ENOTSUP, err, errlen, "kvmclock: unsupported version %u (expected %u)",
			    in->version, VM_CLOCK_STATE_VERSION);
	if (in->flags & ~(uint32_t)CLOCK_KNOWN_FLAGS)
		return fail(-EINVAL, err, errlen, "kvmclock: unknown flags 0x%x", in->flags);
	memset(&d, 0, sizeof(d));
	d.clock = in->clock;
	/*
	 * KVM_SET_CLOCK takes only KVM_CLOCK_REALTIME as input (older KVMs no
	 * flag at all); KVM_CAP_ADJUST_CLOCK tells which flags this one has.
	 * TSC_STABLE and HOST_TSC describe the source host only.
	 */
	supported = check_ext(vm_fd, KVM_CAP_ADJUST_CLOCK);
	if ((in->flags & KVM_CLOCK_REALTIME) && (supported & KVM_CLOCK_REALTIME)) {
		d.flags = KVM_CLOCK_REALTIME;
		d.realtime = in->realtime;
	}
	if (ioctl(vm_fd, KVM_SET_CLOCK, &d) < 0)
		return fail(-errno, err, errlen, "kvmclock: KVM_SET_CLOCK: %s", strerror(errno));
	return 0;
}
