/* SPDX-License-Identifier: MIT */
/*
 * Tests for src/arch/x86/vcpu_state.c against the real KVM: a real-mode
 * guest counts in AX and writes every value to port 0x10; its vCPU state is
 * saved, the VM destroyed, a new VM with a copy of the memory loads it and
 * must write the next value. Without /dev/kvm every test is skipped, loudly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "arch/x86/vcpu_state.h"

#define MEM_SIZE 0x10000
#define CODE_GPA 0x1000
#define TEST_PORT 0x10
#define TSS_GPA 0xfffbd000UL
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_ESP 0x175

/* inc ax; out 0x10, ax; jmp back to the inc: real mode, emulated fast enough here. */
static const uint8_t guest_code[] = {0x40, 0xe7, TEST_PORT, 0xeb, 0xfb};

struct tvm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

static bool have_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return true;
	print_message("SKIP: no usable /dev/kvm (%s): the vCPU state tests need KVM\n",
		      strerror(errno));
	return false;
}

/* A VM with MEM_SIZE bytes at GPA 0 (a copy of mem if given) and one fresh vCPU. */
static void tvm_create(struct tvm *t, const uint8_t *mem, bool irqchip)
{
	struct kvm_userspace_memory_region region;
	struct kvm_enable_cap cap;
	int sz;

	memset(t, 0, sizeof(*t));
	t->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(t->kvm_fd >= 0);
	t->vm_fd = ioctl(t->kvm_fd, KVM_CREATE_VM, 0);
	assert_true(t->vm_fd >= 0);
	assert_int_equal(ioctl(t->vm_fd, KVM_SET_TSS_ADDR, TSS_GPA), 0);
	if (irqchip) {
		/* lmigtester's configuration: LAPICs in KVM, the IOAPIC in userspace. */
		memset(&cap, 0, sizeof(cap));
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = 24;
		assert_int_equal(ioctl(t->vm_fd, KVM_ENABLE_CAP, &cap), 0);
	}
	t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->mem != MAP_FAILED);
	if (mem)
		memcpy(t->mem, mem, MEM_SIZE);
	memset(&region, 0, sizeof(region));
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)t->mem;
	assert_int_equal(ioctl(t->vm_fd, KVM_SET_USER_MEMORY_REGION, &region), 0);
	t->vcpu_fd = ioctl(t->vm_fd, KVM_CREATE_VCPU, 0);
	assert_true(t->vcpu_fd >= 0);
	sz = ioctl(t->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(sz > 0);
	t->run_size = (size_t)sz;
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu_fd, 0);
	assert_true(t->run != MAP_FAILED);
}

static void tvm_destroy(struct tvm *t)
{
	munmap(t->run, t->run_size);
	munmap(t->mem, MEM_SIZE);
	close(t->vcpu_fd);
	close(t->vm_fd);
	close(t->kvm_fd);
}

/* The source: the VMM's boot setup (CPUID, MSRs, FPU, LAPIC), then real mode at CODE_GPA. */
static void tvm_boot(struct tvm *t)
{
	struct kvm_cpuid2 *cpuid;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_debugregs dregs;
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} msr;

	memcpy(t->mem + CODE_GPA, guest_code, sizeof(guest_code));
	assert_int_equal(cpu_supported_cpuid(t->kvm_fd, &cpuid), 0);
	cpu_cpuid_adapt(cpuid, 0, 1, cpu_host_emulates_kernel());
	assert_int_equal(cpu_set_cpuid(t->vcpu_fd, cpuid), 0);
	free(cpuid);
	assert_int_equal(cpu_set_msrs(t->vcpu_fd), 0);
	assert_int_equal(cpu_set_fpu(t->vcpu_fd), 0);
	assert_int_equal(cpu_set_lapic(t->vcpu_fd), 0);
	/* Values a fresh vCPU does not have, so a lost part shows. */
	memset(&msr, 0, sizeof(msr));
	msr.hdr.nmsrs = 1;
	msr.hdr.entries[0].index = MSR_IA32_SYSENTER_ESP;
	msr.hdr.entries[0].data = 0x12345678abcdULL;
	assert_int_equal(ioctl(t->vcpu_fd, KVM_SET_MSRS, &msr), 1);
	memset(&dregs, 0, sizeof(dregs));
	assert_int_equal(ioctl(t->vcpu_fd, KVM_GET_DEBUGREGS, &dregs), 0);
	dregs.db[0] = 0xdead0000;
	dregs.db[3] = 0x1234;
	assert_int_equal(ioctl(t->vcpu_fd, KVM_SET_DEBUGREGS, &dregs), 0);

	assert_int_equal(ioctl(t->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	assert_int_equal(ioctl(t->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;
	regs.rbx = 0xb0b0b0b0;
	regs.rsp = 0x8000;
	assert_int_equal(ioctl(t->vcpu_fd, KVM_SET_REGS, &regs), 0);
}

/* Run to the next OUT to TEST_PORT; returns the value written. */
static unsigned int run_to_out(struct tvm *t)
{
	uint16_t v;

	for (;;) {
		int r = ioctl(t->vcpu_fd, KVM_RUN, 0);

		if (r < 0 && errno == EINTR)
			continue;
		assert_int_equal(r, 0);
		if (t->run->exit_reason != KVM_EXIT_IO)
			fail_msg("unexpected exit %u (internal error suberror %u)",
				 t->run->exit_reason, t->run->internal.suberror);
		assert_int_equal(t->run->io.direction, KVM_EXIT_IO_OUT);
		assert_int_equal(t->run->io.port, TEST_PORT);
		assert_int_equal(t->run->io.size, 2);
		memcpy(&v, (uint8_t *)t->run + t->run->io.data_offset, 2);
		return v;
	}
}

/*
 * What a VMM does before saving: re-enter with immediate_exit set, so KVM
 * completes the instruction that exited and returns at once (EINTR). For an
 * OUT, KVM has already moved RIP past it (measured here: the test passes
 * without this); for an IN or an MMIO read, the value only reaches the
 * register on this re-entry.
 */
static void complete_exit(struct tvm *t)
{
	t->run->immediate_exit = 1;
	assert_int_equal(ioctl(t->vcpu_fd, KVM_RUN, 0), -1);
	assert_int_equal(errno, EINTR);
	t->run->immediate_exit = 0;
}

/* How many CPUID entries the vCPU has: 0 until KVM_SET_CPUID2. */
static uint32_t cpuid_nent(int vcpu_fd)
{
	struct kvm_cpuid2 *c =
		calloc(1, sizeof(*c) + VCPU_STATE_MAX_CPUID * sizeof(struct kvm_cpuid_entry2));
	uint32_t n;

	assert_non_null(c);
	c->nent = VCPU_STATE_MAX_CPUID;
	assert_int_equal(ioctl(vcpu_fd, KVM_GET_CPUID2, c), 0);
	n = c->nent;
	free(c);
	return n;
}

/* A part of a blob by the documented layout; NULL if absent. */
static const uint8_t *find_part(const void *blob, size_t len, uint32_t type, uint64_t *size)
{
	const uint8_t *b = blob;
	uint32_t n, i;
	size_t off = VCPU_STATE_HDR_SIZE;
	uint64_t sz;
	uint32_t ty;

	memcpy(&n, b + 24, 4);
	for (i = 0; i < n; i++) {
		assert_true(off + VCPU_STATE_PART_HDR_SIZE <= len);
		memcpy(&ty, b + off, 4);
		memcpy(&sz, b + off + 8, 8);
		if (ty == type) {
			if (size)
				*size = sz;
			return b + off + VCPU_STATE_PART_HDR_SIZE;
		}
		off += VCPU_STATE_PART_HDR_SIZE + ((sz + 7) & ~7ULL);
	}
	return NULL;
}

static uint8_t *part_rw(void *blob, size_t len, uint32_t type, uint64_t *size)
{
	return (uint8_t *)(uintptr_t)find_part(blob, len, type, size);
}

/* The value of an MSR in a blob's MSR part. */
static bool blob_msr(const void *blob, size_t len, uint32_t index, uint64_t *value)
{
	const uint8_t *m = find_part(blob, len, VCPU_PART_MSRS, NULL);
	uint32_t n, i, idx;

	assert_non_null(m);
	memcpy(&n, m, 4);
	for (i = 0; i < n; i++) {
		memcpy(&idx, m + 8 + i * 16, 4);
		if (idx == index) {
			memcpy(value, m + 8 + i * 16 + 8, 8);
			return true;
		}
	}
	return false;
}

static void save(struct tvm *t, void **blob, size_t *len)
{
	char err[256] = "";
	int r = vcpu_state_save(t->kvm_fd, t->vm_fd, t->vcpu_fd, blob, len, err, sizeof(err));

	if (r)
		fail_msg("vcpu_state_save: %d: %s", r, err);
	assert_int_equal(vcpu_state_check(*blob, *len, err, sizeof(err)), 0);
}

/*
 * Compare two blobs part by part. Everything must be equal except the MSR
 * values listed in tsc_msrs (the TSC keeps counting between two saves).
 * Returns how many MSRs differed.
 */
static unsigned int compare_blobs(const void *a, size_t alen, const void *b, size_t blen)
{
	uint32_t type, n, i, idx;
	unsigned int differ = 0;

	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, VCPU_STATE_HDR_SIZE);
	for (type = 1; type <= VCPU_PART_MAX; type++) {
		uint64_t sa = 0, sb = 0;
		const uint8_t *pa = find_part(a, alen, type, &sa);
		const uint8_t *pb = find_part(b, blen, type, &sb);

		assert_true(!pa == !pb);
		if (!pa)
			continue;
		assert_int_equal(sa, sb);
		if (type != VCPU_PART_MSRS) {
			if (memcmp(pa, pb, sa))
				fail_msg("part %u differs after save, load, save", type);
			continue;
		}
		memcpy(&n, pa, 4);
		for (i = 0; i < n; i++) {
			const uint8_t *ea = pa + 8 + i * 16, *eb = pb + 8 + i * 16;

			memcpy(&idx, ea, 4);
			assert_memory_equal(ea, eb, 8); /* same MSRs, same order */
			if (memcmp(ea + 8, eb + 8, 8) == 0)
				continue;
			if (idx != MSR_IA32_TSC)
				fail_msg("MSR 0x%x differs after save, load, save", idx);
			differ++;
		}
	}
	return differ;
}

static void test_continue_exactly(void **state)
{
	struct tvm src, dst;
	void *blob, *blob2;
	size_t len, len2;
	uint8_t mem_copy[MEM_SIZE];
	struct vm_clock_state clk, clk2;
	struct kvm_regs regs;
	char err[256] = "";
	unsigned int i, last = 0, next;
	uint64_t tsc1, tsc2, v;
	const uint8_t *p;

	(void)state;
	if (!have_kvm())
		skip();
	tvm_create(&src, NULL, true);
	tvm_boot(&src);
	for (i = 1; i <= 50; i++) {
		last = run_to_out(&src);
		assert_int_equal(last, i); /* the guest counts 1, 2, 3 ... */
	}
	complete_exit(&src);
	save(&src, &blob, &len);
	assert_int_equal(vm_clock_save(src.vm_fd, &clk, err, sizeof(err)), 0);
	memcpy(mem_copy, src.mem, MEM_SIZE);
	tvm_destroy(&src);

	/* The blob holds what the guest had: the counter just written, RIP past the OUT. */
	p = find_part(blob, len, VCPU_PART_REGS, NULL);
	assert_non_null(p);
	memcpy(&regs, p, sizeof(regs));
	assert_int_equal(regs.rax & 0xffff, last);
	assert_int_equal(regs.rip, CODE_GPA + 3);
	assert_int_equal(regs.rbx, 0xb0b0b0b0);
	assert_true(blob_msr(blob, len, MSR_IA32_SYSENTER_ESP, &v));
	assert_int_equal(v, 0x12345678abcdULL);
	assert_true(blob_msr(blob, len, MSR_IA32_TSC, &tsc1));
	assert_non_null(find_part(blob, len, VCPU_PART_LAPIC, NULL));

	tvm_create(&dst, mem_copy, true);
	if (vcpu_state_load(dst.kvm_fd, dst.vm_fd, dst.vcpu_fd, blob, len, err, sizeof(err)))
		fail_msg("vcpu_state_load: %s", err);
	if (vm_clock_load(dst.vm_fd, &clk, err, sizeof(err)))
		fail_msg("vm_clock_load: %s", err);

	/* Saved again at once: the same state, but for the TSC. */
	save(&dst, &blob2, &len2);
	assert_true(compare_blobs(blob, len, blob2, len2) <= 1);
	assert_true(blob_msr(blob2, len2, MSR_IA32_TSC, &tsc2));
	assert_true(tsc2 >= tsc1); /* resumes from the saved value, not from 0 */
	assert_int_equal(vm_clock_save(dst.vm_fd, &clk2, err, sizeof(err)), 0);
	assert_true(clk2.clock >= clk.clock);

	/* And the guest goes on exactly where it was. */
	next = run_to_out(&dst);
	assert_int_equal(next, last + 1);
	for (i = 2; i <= 10; i++)
		assert_int_equal(run_to_out(&dst), last + i);
	tvm_destroy(&dst);
	free(blob2);
	free(blob);
}

/* Five save/destroy/load rounds in a row, the guest counting on through all of them. */
static void test_chained_restores(void **state)
{
	struct tvm t;
	void *blob;
	size_t len;
	uint8_t mem_copy[MEM_SIZE];
	struct vm_clock_state clk;
	char err[256] = "";
	unsigned int round, last;

	(void)state;
	if (!have_kvm())
		skip();
	tvm_create(&t, NULL, true);
	tvm_boot(&t);
	last = run_to_out(&t);
	for (round = 0; round < 5; round++) {
		complete_exit(&t);
		save(&t, &blob, &len);
		assert_int_equal(vm_clock_save(t.vm_fd, &clk, err, sizeof(err)), 0);
		memcpy(mem_copy, t.mem, MEM_SIZE);
		tvm_destroy(&t);
		tvm_create(&t, mem_copy, true);
		if (vcpu_state_load(t.kvm_fd, t.vm_fd, t.vcpu_fd, blob, len, err, sizeof(err)))
			fail_msg("round %u: vcpu_state_load: %s", round, err);
		assert_int_equal(vm_clock_load(t.vm_fd, &clk, err, sizeof(err)), 0);
		free(blob);
		assert_int_equal(run_to_out(&t), last + 1);
		last = run_to_out(&t);
	}
	tvm_destroy(&t);
}

/* A saved blob from a booted vCPU, for the corruption tests. */
static void good_blob(void **blob, size_t *len)
{
	struct tvm t;

	tvm_create(&t, NULL, true);
	tvm_boot(&t);
	(void)run_to_out(&t);
	complete_exit(&t);
	save(&t, blob, len);
	tvm_destroy(&t);
}

/*
 * Load a bad blob into a fresh vCPU: refused with -expect and a message
 * containing msg, and the vCPU untouched (KVM_SET_CPUID2 is the first SET
 * a load issues, so a CPUID still empty shows that none was issued).
 */
static void expect_refused(const void *blob, size_t len, int expect, const char *msg)
{
	struct tvm t;
	struct kvm_regs before, after;
	char err[256] = "";
	int r;

	r = vcpu_state_check(blob, len, err, sizeof(err));
	if (r != expect || !strstr(err, msg))
		fail_msg("vcpu_state_check: %d '%s', expected %d '%s'", r, err, expect, msg);
	tvm_create(&t, NULL, true);
	assert_int_equal(ioctl(t.vcpu_fd, KVM_GET_REGS, &before), 0);
	err[0] = 0;
	r = vcpu_state_load(t.kvm_fd, t.vm_fd, t.vcpu_fd, blob, len, err, sizeof(err));
	if (r != expect || !strstr(err, msg))
		fail_msg("vcpu_state_load: %d '%s', expected %d '%s'", r, err, expect, msg);
	print_message("    refused as expected: %s\n", err);
	assert_int_equal(ioctl(t.vcpu_fd, KVM_GET_REGS, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(cpuid_nent(t.vcpu_fd), 0);
	tvm_destroy(&t);
}

static void *dup_blob(const void *blob, size_t len)
{
	void *c = malloc(len);

	assert_non_null(c);
	memcpy(c, blob, len);
	return c;
}

static void test_corrupt_blobs(void **state)
{
	void *blob, *c;
	size_t len;
	uint8_t *p;
	uint64_t size, u64;
	uint32_t u32;

	(void)state;
	if (!have_kvm())
		skip();
	good_blob(&blob, &len);

	c = dup_blob(blob, len);
	((uint8_t *)c)[3] ^= 0x20;
	expect_refused(c, len, -EINVAL, "bad magic");
	free(c);

	c = dup_blob(blob, len);
	u32 = 2;
	memcpy((uint8_t *)c + 8, &u32, 4);
	expect_refused(c, len, -ENOTSUP, "unsupported version 2");
	free(c);

	/* Truncated: shorter than the header says, and shorter than a header. */
	expect_refused(blob, len - 8, -EINVAL, "truncated: the header says");
	expect_refused(blob, 20, -EINVAL, "truncated: 20 bytes");
	expect_refused(blob, 0, -EINVAL, "truncated: 0 bytes");

	/* Truncated consistently (the header's length too): the last part does not fit. */
	c = dup_blob(blob, len);
	u64 = len - 8;
	memcpy((uint8_t *)c + 16, &u64, 8);
	expect_refused(c, len - 8, -EINVAL, "truncated: part TSC");
	free(c);

	/* An MSR count larger than the part (and the blob), and the largest count. */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_MSRS, NULL);
	memcpy(&u32, p, 4);
	u32 += 1;
	memcpy(p, &u32, 4);
	expect_refused(c, len, -EINVAL, "part MSRs");
	u32 = 0xffffffff;
	memcpy(p, &u32, 4);
	expect_refused(c, len, -EINVAL, "part MSRs: 4294967295 MSRs");
	free(c);

	/* A CPUID count that wraps a 32-bit multiplication (0x6666667 * 40 = 8 mod 2^32). */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_CPUID, NULL);
	u32 = 0x6666667;
	memcpy(p, &u32, 4);
	expect_refused(c, len, -EINVAL, "part CPUID");
	free(c);

	/* Part sizes that overflow: UINT64_MAX, and one whose padding wraps to 0. */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_REGS, &size);
	assert_int_equal(size, sizeof(struct kvm_regs));
	u64 = UINT64_MAX;
	memcpy(p - 8, &u64, 8);
	expect_refused(c, len, -EINVAL, "truncated: part regs");
	u64 = UINT64_MAX - 6;
	memcpy(p - 8, &u64, 8);
	expect_refused(c, len, -EINVAL, "truncated: part regs");
	free(c);

	/* A total length field that overflows. */
	c = dup_blob(blob, len);
	u64 = UINT64_MAX;
	memcpy((uint8_t *)c + 16, &u64, 8);
	expect_refused(c, len, -EINVAL, "truncated: the header says 18446744073709551615");
	free(c);

	/* A fixed-size part with another size (and the rest shifted to stay consistent). */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_REGS, NULL);
	u64 = sizeof(struct kvm_regs) - 8;
	memcpy(p - 8, &u64, 8);
	expect_refused(c, len, -EINVAL, "part regs: 136 bytes, expected 144");
	free(c);

	/* Parts out of order or twice. */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_REGS, NULL);
	u32 = VCPU_PART_CPUID;
	memcpy(p - 16, &u32, 4);
	expect_refused(c, len, -EINVAL, "out of order");
	free(c);

	/* Reserved fields and padding. */
	c = dup_blob(blob, len);
	((uint8_t *)c)[28] = 1;
	expect_refused(c, len, -EINVAL, "reserved header field");
	free(c);
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_MP_STATE, NULL);
	p[4] = 0xaa; /* the 4 padding bytes after the 4-byte MP state */
	expect_refused(c, len, -EINVAL, "part MP state: padding");
	free(c);

	/* Content KVM would refuse halfway: refused before the first SET. */
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_EVENTS, NULL);
	u32 = 0x80000000;
	memcpy(p + offsetof(struct kvm_vcpu_events, flags), &u32, 4);
	expect_refused(c, len, -EINVAL, "vCPU events: unknown flags 0x80000000");
	free(c);
	c = dup_blob(blob, len);
	p = part_rw(c, len, VCPU_PART_MP_STATE, NULL);
	u32 = 1000;
	memcpy(p, &u32, 4);
	expect_refused(c, len, -EINVAL, "MP state: unknown state 1000");
	free(c);

	/* Trailing bytes after the last part (the header's length says so too). */
	c = malloc(len + 8);
	assert_non_null(c);
	memcpy(c, blob, len);
	memset((uint8_t *)c + len, 0, 8);
	u64 = len + 8;
	memcpy((uint8_t *)c + 16, &u64, 8);
	expect_refused(c, len + 8, -EINVAL, "8 bytes after the last of");
	free(c);

	free(blob);
}

/* A blob with a LAPIC into a VM without an in-kernel LAPIC: refused before any SET. */
static void test_host_mismatch(void **state)
{
	struct tvm t;
	void *blob;
	size_t len;
	char err[256] = "";
	int r;

	(void)state;
	if (!have_kvm())
		skip();
	good_blob(&blob, &len);
	tvm_create(&t, NULL, false);
	r = vcpu_state_load(t.kvm_fd, t.vm_fd, t.vcpu_fd, blob, len, err, sizeof(err));
	print_message("    %d: %s\n", r, err);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, "part LAPIC: the saved vCPU had an in-kernel LAPIC"));
	assert_int_equal(cpuid_nent(t.vcpu_fd), 0);
	tvm_destroy(&t);
	free(blob);
}

/* KVM_SET_MSRS setting fewer than all: an error naming the first MSR refused. */
static void test_msr_refused(void **state)
{
	struct tvm t;
	void *blob;
	size_t len;
	char err[256] = "";
	uint8_t *p;
	uint32_t n, bad = 0x4b564dff; /* in KVM's PV range, but no such MSR */
	int r;

	(void)state;
	if (!have_kvm())
		skip();
	good_blob(&blob, &len);
	p = part_rw(blob, len, VCPU_PART_MSRS, NULL);
	memcpy(&n, p, 4);
	assert_true(n > 4);
	memcpy(p + 8 + 3 * 16, &bad, 4); /* the fourth MSR */
	assert_int_equal(vcpu_state_check(blob, len, err, sizeof(err)), 0);
	tvm_create(&t, NULL, true);
	r = vcpu_state_load(t.kvm_fd, t.vm_fd, t.vcpu_fd, blob, len, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	print_message("    %s\n", err);
	assert_non_null(strstr(err, "KVM_SET_MSRS set 3 of"));
	assert_non_null(strstr(err, "MSR 0x4b564dff"));
	tvm_destroy(&t);
	free(blob);
}

static void test_clock(void **state)
{
	struct tvm a, b;
	struct vm_clock_state s, s2, bad;
	char err[256] = "";

	(void)state;
	if (!have_kvm())
		skip();
	tvm_create(&a, NULL, true);
	assert_int_equal(vm_clock_save(a.vm_fd, &s, err, sizeof(err)), 0);
	assert_int_equal(s.version, VM_CLOCK_STATE_VERSION);
	print_message("    kvmclock %llu ns, flags 0x%x\n", (unsigned long long)s.clock, s.flags);
	tvm_destroy(&a);

	/* A clock far ahead of a new VM's: the new VM's clock continues from it. */
	s.clock += 1000000000000ULL;
	tvm_create(&b, NULL, true);
	assert_int_equal(vm_clock_load(b.vm_fd, &s, err, sizeof(err)), 0);
	assert_int_equal(vm_clock_save(b.vm_fd, &s2, err, sizeof(err)), 0);
	assert_true(s2.clock >= s.clock);
	assert_true(s2.clock < s.clock + 60000000000ULL);

	bad = s;
	bad.version = 7;
	assert_int_equal(vm_clock_load(b.vm_fd, &bad, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "unsupported version 7"));
	bad = s;
	bad.flags = 0x100;
	assert_int_equal(vm_clock_load(b.vm_fd, &bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown flags 0x100"));
	tvm_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_continue_exactly), cmocka_unit_test(test_chained_restores),
		cmocka_unit_test(test_corrupt_blobs),	 cmocka_unit_test(test_host_mismatch),
		cmocka_unit_test(test_msr_refused),	 cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
