/* SPDX-License-Identifier: MIT */
/*
 * The virtual machine: KVM file descriptors, guest memory, the buses and
 * devices, the vCPUs, and the main thread's event loop.
 *
 * Threads: one per vCPU (KVM_RUN and exit dispatch) and the main thread
 * (stdin, signals, stop requests). Device state is guarded by dev_lock.
 * Setup happens in vm_create() in a fixed order (style.md section 2).
 */
#ifndef LMIG_VMM_VM_H
#define LMIG_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/ioapic.h"
#include "devices/rtc_cmos.h"
#include "devices/serial16550.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/gmem.h"
#include "vmm/vcpu.h"
#include "vmm/vm_virtio.h"

/* Process exit statuses (README "Exit status"). */
enum vm_status {
	VM_STATUS_OK = 0,     /* guest rebooted or powered off; user quit */
	VM_STATUS_CONFIG = 1, /* usage or configuration error */
	VM_STATUS_GUEST = 2,  /* the guest stopped abnormally */
	VM_STATUS_HOST = 3,   /* a host syscall or ioctl failed */
};

struct api;

struct vm {
	int kvm_fd;
	int vm_fd;
	struct gmem mem;
	struct bus pio;
	struct bus mmio;

	pthread_mutex_t dev_lock; /* guards every device model below */
	struct serial16550 com1;
	struct ioapic ioapic;
	struct rtc_cmos rtc;
	uint64_t rtc_deadline_ns; /* the RTC's next event (CLOCK_REALTIME), 0 = none */

	struct console con;
	/* Input read from stdin that the guest's UART has no room for yet. */
	uint8_t in_buf[4096];
	size_t in_len, in_off;

	struct vm_virtio virtio[VM_MAX_VIRTIO]; /* virtio-mmio devices, each with its I/O thread */
	unsigned int nr_virtio;

	struct vcpu *vcpus; /* nr_vcpus of them; vcpu 0 is the boot CPU */
	unsigned int nr_vcpus;
	/* Guards paused and vcpus_gone: pause/resume come from signals and the API. */
	pthread_mutex_t run_lock;
	bool paused;	 /* all vCPUs paused by request */
	bool vcpus_gone; /* the vCPU threads have exited: nothing to pause or resume */
	struct api *api; /* --api-socket, or NULL */

	bool host_quirks;
	int stop_efd;	   /* written when the VM must stop (any thread) */
	int rx_room_efd;   /* written when COM1's receive FIFO has room */
	int rtc_rearm_efd; /* written when the RTC's next event time changed */
	int rtc_timer_fd;  /* fires at rtc_deadline_ns */
	atomic_bool stopping;
	atomic_int status; /* first stop reason wins; -1 while running */
	char *cmdline;
};

/*
 * Build the whole machine from cfg and load the kernel. On failure returns
 * a vm_status (CONFIG or HOST) after logging why; *vm is cleaned up.
 */
int vm_create(struct vm *vm, const struct vm_config *cfg);

/*
 * Run until the guest or the user ends it. Returns the vm_status to exit
 * with. SIGUSR1 pauses every vCPU, SIGUSR2 resumes them.
 */
int vm_run(struct vm *vm);

/*
 * Pause every vCPU and wait until all are out of KVM_RUN; resume them.
 * Any thread. 0, or -ESHUTDOWN once the VM is stopping. A change of state
 * is logged and sent to API clients as a STOP or RESUME event.
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

void vm_destroy(struct vm *vm);

/*
 * Ask the VM to stop with `status` (the first request wins). Safe from any
 * thread; not from signal handlers.
 */
void vm_request_stop(struct vm *vm, int status);

/*
 * Add one to an eventfd (a wake-up); `what` names it in the error message.
 * Safe from any thread.
 */
void vm_notify_eventfd(int fd, const char *what);

/* Exit handlers the vCPU threads call. */
void vm_pio(struct vm *vm, uint16_t port, uint8_t *data, unsigned int size, bool is_write);
void vm_mmio(struct vm *vm, uint64_t addr, uint8_t *data, unsigned int len, bool is_write);
void vm_ioapic_eoi(struct vm *vm, uint8_t vector);

#endif
