/* SPDX-License-Identifier: MIT */
#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/vm.h"

int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

static void kick_handler(int sig)
{
	(void)sig; /* only here to interrupt KVM_RUN with EINTR */
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(vcpu_kick_signal(), &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id)
{
	int sz, r;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->state = VCPU_PAUSED;
	vcpu->req = VCPU_REQ_NONE;
	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_cond_init(&vcpu->cond, NULL);
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0)
		return -errno;
	sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run)) {
		r = sz < 0 ? -errno : -EINVAL;
		close(vcpu->fd);
		vcpu->fd = -1;
		return r;
	}
	vcpu->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = -errno;
		vcpu->run = NULL;
		close(vcpu->fd);
		vcpu->fd = -1;
		return r;
	}
	vcpu->run_size = (size_t)sz;
	return 0;
}

static const char *cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & 1))
		return "real mode";
	if (s->efer & (1ULL << 10))
		return s->cs.l ? "64-bit long mode" : "compatibility mode";
	return (s->cr0 & 0x80000000ULL) ? "32-bit protected mode, paging"
					: "32-bit protected mode, no paging";
}

void vcpu_dump_registers(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		log_err("vcpu%u: cannot read registers for the dump: %s", vcpu->id,
			strerror(errno));
		return;
	}
	log_err("vcpu%u registers (%s, CPL %u):", vcpu->id, cpu_mode(&s), s.cs.selector & 3);
	log_err("  rip %016llx rsp %016llx rflags %016llx", r.rip, r.rsp, r.rflags);
	log_err("  rax %016llx rbx %016llx rcx %016llx rdx %016llx", r.rax, r.rbx, r.rcx, r.rdx);
	log_err("  rsi %016llx rdi %016llx rbp %016llx", r.rsi, r.rdi, r.rbp);
	log_err("  r8  %016llx r9  %016llx r10 %016llx r11 %016llx", r.r8, r.r9, r.r10, r.r11);
	log_err("  r12 %016llx r13 %016llx r14 %016llx r15 %016llx", r.r12, r.r13, r.r14, r.r15);
	log_err("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx", s.cr0, s.cr2, s.cr3,
		s.cr4, s.efer);
	log_err("  cs %04x base %llx l %u db %u  ss %04x  gdt %llx/%x  idt %llx/%x", s.cs.selector,
		s.cs.base, s.cs.l, s.cs.db, s.ss.selector, s.gdt.base, s.gdt.limit, s.idt.base,
		s.idt.limit);
}

/* The bytes at the guest's RIP, through its own page tables. */
static int read_insn(struct vcpu *vcpu, uint8_t *buf, unsigned int len)
{
	struct kvm_translation t;
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	memset(&t, 0, sizeof(t));
	t.linear_address = s.cs.base + r.rip;
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &t) < 0)
		return -errno;
	if (!t.valid)
		return -EFAULT;
	return gmem_read(&vcpu->vm->mem, t.physical_address, buf, len);
}

static void report_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t insn[15];
	unsigned int n = 0, i;
	char hex[64] = "";

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		log_err("vcpu%u: KVM internal error, suberror %u", vcpu->id,
			run->internal.suberror);
		vcpu_dump_registers(vcpu);
		return;
	}
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(insn))
			n = sizeof(insn);
		memcpy(insn, run->emulation_failure.insn_bytes, n);
	} else if (read_insn(vcpu, insn, sizeof(insn)) == 0) {
		n = sizeof(insn);
	}
	for (i = 0; i < n; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", insn[i]);
	log_err("vcpu%u: KVM could not emulate a guest instruction (emulation failure); "
		"instruction bytes: %s",
		vcpu->id, n ? hex : "(unavailable)");
	vcpu_dump_registers(vcpu);
	if (vcpu->vm->host_quirks)
		log_err("hint: this host's KVM runs guest kernel code in an instruction emulator "
			"(no VT-x/AMD-V), which cannot execute some instructions (int3, "
			"cmpxchg16b, xsave, popcnt, ...). A Linux kernel stops at the first one; "
			"on "
			"a VT-x/AMD-V host it runs normally. See README, 'Hosts'.");
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned int size = run->io.size, count = run->io.count, i;
	uint64_t off = run->io.data_offset;
	uint8_t *data;

	/* KVM fills these, but a bad value must not send us outside the page. */
	if (size == 0 || size > 4 || off > vcpu->run_size ||
	    (uint64_t)size * count > vcpu->run_size - off) {
		log_ratelimited(LOG_LEVEL_WARN, "vcpu%u: malformed I/O exit ignored", vcpu->id);
		return;
	}
	data = (uint8_t *)run + off;
	/* rep ins/outs: count items of size bytes each. */
	for (i = 0; i < count; i++)
		vm_pio(vcpu->vm, run->io.port, data + (uint64_t)i * size, size,
		       run->io.direction == KVM_EXIT_IO_OUT);
}

/* Returns false when the vCPU should stop. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		if (run->mmio.len > sizeof(run->mmio.data))
			return true;
		vm_mmio(vm, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		vm_ioapic_eoi(vm, run->eoi.vector);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; treat as power-off. */
		log_info("vcpu%u halted", vcpu->id);
		vm_request_stop(vm, VM_STATUS_OK);
		return false;
	case KVM_EXIT_SHUTDOWN:
		log_err("vcpu%u: the guest shut the machine down (triple fault)", vcpu->id);
		vcpu_dump_registers(vcpu);
		vm_request_stop(vm, VM_STATUS_GUEST);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
		case KVM_SYSTEM_EVENT_RESET:
			log_info("guest %s", run->system_event.type == KVM_SYSTEM_EVENT_RESET
						     ? "reset"
						     : "powered off");
			vm_request_stop(vm, VM_STATUS_OK);
			break;
		default:
			log_err("vcpu%u: guest system event %u (crash)", vcpu->id,
				run->system_event.type);
			vm_request_stop(vm, VM_STATUS_GUEST);
			break;
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_err("vcpu%u: KVM could not enter the guest, hardware reason 0x%llx", vcpu->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_dump_registers(vcpu);
		vm_request_stop(vm, VM_STATUS_GUEST);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		report_internal_error(vcpu);
		vm_request_stop(vm, VM_STATUS_GUEST);
		return false;
	default:
		log_err("vcpu%u: unexpected KVM exit reason %u", vcpu->id, run->exit_reason);
		vcpu_dump_registers(vcpu);
		vm_request_stop(vm, VM_STATUS_GUEST);
		return false;
	}
}

/*
 * With the lock held: act on the mailbox until the vCPU may run. Returns
 * false when the thread must exit.
 */
static bool wait_runnable(struct vcpu *vcpu)
{
	for (;;) {
		switch (vcpu->req) {
		case VCPU_REQ_EXIT:
			vcpu->state = VCPU_EXITED;
			pthread_cond_broadcast(&vcpu->cond);
			return false;
		case VCPU_REQ_PAUSE:
			vcpu->req = VCPU_REQ_NONE;
			vcpu->state = VCPU_PAUSED;
			pthread_cond_broadcast(&vcpu->cond);
			break;
		case VCPU_REQ_RUN:
			vcpu->req = VCPU_REQ_NONE;
			vcpu->state = VCPU_RUNNING;
			pthread_cond_broadcast(&vcpu->cond);
			return true;
		case VCPU_REQ_NONE:
			if (vcpu->state == VCPU_RUNNING)
				return true;
			break;
		}
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* Everything stays blocked (inherited) except the kick. */
	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	pthread_mutex_lock(&vcpu->lock);
	while (wait_runnable(vcpu)) {
		bool go_on = true;

		pthread_mutex_unlock(&vcpu->lock);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A kick: clear it, then read the mailbox. */
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
			} else {
				log_err("vcpu%u: KVM_RUN failed: %s", vcpu->id, strerror(errno));
				vm_request_stop(vm, VM_STATUS_HOST);
				go_on = false;
			}
		} else {
			go_on = handle_exit(vcpu);
		}
		pthread_mutex_lock(&vcpu->lock);
		/* The VM is ending: this vCPU does not run again. */
		if (!go_on)
			vcpu->req = VCPU_REQ_EXIT;
	}
	pthread_mutex_unlock(&vcpu->lock);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

	if (r)
		return -r;
	vcpu->thread_started = true;
	return 0;
}

/* Force the thread out of KVM_RUN, so that it reads its mailbox. */
static void kick(struct vcpu *vcpu)
{
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(vcpu->thread, vcpu_kick_signal());
}

void vcpu_request(struct vcpu *vcpu, enum vcpu_request req)
{
	if (!vcpu->thread_started)
		return;
	pthread_mutex_lock(&vcpu->lock);
	/* An exit request is final; anything else replaces an older request. */
	if (vcpu->req != VCPU_REQ_EXIT && vcpu->state != VCPU_EXITED)
		vcpu->req = req;
	pthread_cond_broadcast(&vcpu->cond);
	if (vcpu->state == VCPU_RUNNING && req != VCPU_REQ_RUN)
		kick(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
}

void vcpu_wait_state(struct vcpu *vcpu, enum vcpu_state state)
{
	if (!vcpu->thread_started)
		return;
	pthread_mutex_lock(&vcpu->lock);
	while (vcpu->state != state && vcpu->state != VCPU_EXITED)
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	pthread_mutex_unlock(&vcpu->lock);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->thread_started)
		return;
	vcpu_request(vcpu, VCPU_REQ_EXIT);
	pthread_join(vcpu->thread, NULL);
	vcpu->thread_started = false;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
	pthread_mutex_destroy(&vcpu->lock);
	pthread_cond_destroy(&vcpu->cond);
}
