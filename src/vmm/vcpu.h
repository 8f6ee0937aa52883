/* SPDX-License-Identifier: MIT */
/*
 * A vCPU: its KVM fd, the shared kvm_run page and its thread. The thread
 * runs KVM_RUN and dispatches exits to the VM's buses until the VM stops.
 * vcpu_kick() forces it out of KVM_RUN: immediate_exit plus a signal.
 */
#ifndef LMIG_VMM_VCPU_H
#define LMIG_VMM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct kvm_run;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
};

/* The signal used to kick vCPU threads; its handler does nothing. */
int vcpu_kick_signal(void);
int vcpu_signals_init(void) __attribute__((warn_unused_result));

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id)
	__attribute__((warn_unused_result));
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Log the vCPU's registers (its thread must be stopped or be the caller). */
void vcpu_dump_registers(struct vcpu *vcpu);

#endif
