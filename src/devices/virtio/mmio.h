/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport, version 2 only (VIRTIO 1.2 section 4.2.2):
 * the register window every virtio device of ours sits behind.
 *
 * Threads and locking: `lock` guards the registers, the queues and the
 * device behind them. vCPU threads take it for MMIO accesses; the device's
 * I/O thread takes it (virtio_mmio_lock()) around queue and back-end work.
 * The device's callbacks (struct virtio_device_ops) run with it held.
 *
 * The transport never processes a queue on the vCPU thread: QueueNotify
 * reaches the device's I/O thread through an ioeventfd that KVM signals
 * without an exit, or, when a write does reach us, through ops->kick().
 * Interrupts go out through ops->irq() (an irqfd write): edge-triggered,
 * one edge per new reason in InterruptStatus.
 *
 * A guest that breaks a queue, or drives the device against the spec, gets
 * DEVICE_NEEDS_RESET and a configuration-change interrupt
 * (virtio_mmio_fail()); the device then does nothing until the driver
 * resets it by writing 0 to Status.
 */
#ifndef LMIG_DEVICES_VIRTIO_MMIO_H
#define LMIG_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/queue.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

#define VIRTIO_MMIO_WINDOW 0x1000
#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_MMIO_VENDOR 0x4c4d4947 /* "LMIG" */
#define VIRTIO_MMIO_MAX_QUEUES 4

/* Register offsets (section 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION_REG 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_QUEUE_RESET 0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

/* What a device model provides. Every callback runs with the lock held. */
struct virtio_device_ops {
	/* Device-specific configuration space; off is from 0x100, off+len is checked. */
	void (*config_read)(void *dev, uint64_t off, uint8_t *data, unsigned int len);
	void (*config_write)(void *dev, uint64_t off, const uint8_t *data, unsigned int len);
	/*
	 * The driver set DRIVER_OK: the features are final and the ready queues
	 * are located. 0, or -errno to make the device NEEDS_RESET.
	 */
	int (*activate)(void *dev);
	/* The driver wrote 0 to Status, or the device failed: drop the queues' work. */
	void (*reset)(void *dev);
	/* The driver notified `queue` (< nr_queues); called on the I/O thread. */
	void (*queue_notify)(void *dev, unsigned int queue);
};

/* What the owner (the VM) provides. Called with the lock held; must not block. */
struct virtio_mmio_ops {
	/* Raise the device's interrupt (one edge). */
	void (*irq)(void *ctx);
	/* A QueueNotify write reached the MMIO handler: wake the I/O thread for `queue`. */
	void (*kick)(void *ctx, unsigned int queue);
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const char *name; /* "virtio-blk0", for log messages */
	uint32_t device_id;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	atomic_uint int_status;
	uint32_t config_generation;
	bool failed; /* NEEDS_RESET: ignore the queues until the driver resets */
	unsigned int nr_queues;
	uint16_t queue_max;
	struct virtq vqs[VIRTIO_MMIO_MAX_QUEUES];
	struct gmem *mem;
	const struct virtio_device_ops *dev_ops;
	void *dev;
	const struct virtio_mmio_ops *ops;
	void *ctx;
};

struct virtio_mmio_config {
	const char *name;
	uint32_t device_id;
	uint64_t features;	/* VERSION_1 is always added */
	unsigned int nr_queues; /* 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max;	/* a power of two, <= VIRTQ_MAX_SIZE */
};

/* 0 or -EINVAL (bad config) / -errno (mutex). */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_mmio_config *cfg, struct gmem *mem,
		     const struct virtio_device_ops *dev_ops, void *dev,
		     const struct virtio_mmio_ops *ops, void *ctx)
	__attribute__((warn_unused_result));
void virtio_mmio_destroy(struct virtio_mmio *t);

/* Register access from a vCPU; off + len <= VIRTIO_MMIO_WINDOW. Takes the lock. */
void virtio_mmio_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned int len);
void virtio_mmio_write(struct virtio_mmio *t, uint64_t off, const uint8_t *data, unsigned int len);

/* The I/O thread saw a notification for `queue`: take the lock and pass it on. */
void virtio_mmio_queue_notify(struct virtio_mmio *t, unsigned int queue);

void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);

/* With the lock held: */
/* Is the device live (DRIVER_OK, not failed)? Devices check it before queue work. */
bool virtio_mmio_live(const struct virtio_mmio *t);
bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit);
/* Used buffers were added to vq: interrupt the driver if the queue asks for it. */
void virtio_mmio_notify_used(struct virtio_mmio *t, struct virtq *vq);
/* The configuration space changed. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/*
 * The guest broke the device: log why (rate-limited), set NEEDS_RESET,
 * raise a configuration interrupt, and reset the device model.
 */
void virtio_mmio_fail(struct virtio_mmio *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
