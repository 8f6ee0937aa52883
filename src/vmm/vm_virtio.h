/* SPDX-License-Identifier: MIT */
/*
 * The VM's virtio-mmio devices: each one a device model behind the
 * virtio-mmio transport, an MMIO window, an IOAPIC pin and an I/O thread.
 *
 * Per device: one ioeventfd per queue (KVM signals it on a QueueNotify
 * write with that queue's index, without an exit), registered with the
 * device's worker; one irqfd on the device's GSI (an edge through the
 * GSI's MSI route, which mirrors the IOAPIC's redirection entry).
 */
#ifndef LMIG_VMM_VM_VIRTIO_H
#define LMIG_VMM_VM_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "vmm/config.h"
#include "vmm/worker.h"

struct vm;

/* Every disk and network device, an rng and a console. */
#define VM_MAX_VIRTIO (CONFIG_MAX_DISKS + CONFIG_MAX_NETS + 2)

struct vm_virtio;

struct vm_virtio_queue {
	struct vm_virtio *dev;
	unsigned int index;
	int fd; /* ioeventfd */
};

struct vm_virtio {
	char name[24];
	struct vm *vm;
	struct virtio_mmio *t; /* inside the device model */
	void *model;
	void (*destroy)(void *model);
	struct worker worker;
	bool have_worker;
	uint64_t base;
	unsigned int gsi;
	int irq_fd;
	struct vm_virtio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
};

/*
 * Create every virtio device the config asks for, in a fixed order (disks,
 * network devices, rng, console), claim their windows and pins, wire the
 * ioeventfds and irqfds, and with --virtio-cmdline append their
 * virtio_mmio.device= entries to vm->cmdline. Returns 0 or a vm_status
 * after logging why.
 */
int vm_virtio_setup(struct vm *vm, const struct vm_config *cfg);

/* Start the devices' I/O threads. 0 or a vm_status. */
int vm_virtio_start(struct vm *vm);

/* Stop the I/O threads and free the devices (safe after a failed setup). */
void vm_virtio_destroy(struct vm *vm);

#endif
