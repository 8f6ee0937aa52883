/* SPDX-License-Identifier: MIT */
/*
 * A vCPU: its KVM fd, the shared kvm_run page and its thread. The thread
 * runs KVM_RUN and dispatches exits to the VM's buses.
 *
 * The thread starts PAUSED and is driven through a mailbox (style.md
 * section 7): vcpu_request() posts RUN, PAUSE or EXIT under the vCPU's lock,
 * and, if the thread may be inside KVM_RUN, kicks it out with
 * immediate_exit plus a signal whose handler does nothing. The thread acts
 * on the request and reports its new state through the condition variable:
 * PAUSED -> RUNNING -> ... -> EXITED. No global flags, and no signal is
 * sent to a thread that has been joined.
 */
#ifndef LMIG_VMM_VCPU_H
#define LMIG_VMM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct kvm_run;

enum vcpu_state {
	VCPU_PAUSED,
	VCPU_RUNNING,
	VCPU_EXITED,
};

enum vcpu_request {
	VCPU_REQ_NONE,
	VCPU_REQ_RUN,
	VCPU_REQ_PAUSE,
	VCPU_REQ_EXIT,
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards state and req */
	pthread_cond_t cond;
	enum vcpu_state state;
	enum vcpu_request req;
};

/* The signal used to kick vCPU threads; its handler does nothing. */
int vcpu_kick_signal(void);
int vcpu_signals_init(void) __attribute__((warn_unused_result));

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int id)
	__attribute__((warn_unused_result));
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));
/* Post a request (EXIT is final). Safe from any thread but the vCPU's own. */
void vcpu_request(struct vcpu *vcpu, enum vcpu_request req);
/* Wait until the vCPU reaches `state` (or has exited). */
void vcpu_wait_state(struct vcpu *vcpu, enum vcpu_state state);
/* Ask the thread to exit and join it. */
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Log the vCPU's registers (its thread must be stopped or be the caller). */
void vcpu_dump_registers(struct vcpu *vcpu);

#endif
