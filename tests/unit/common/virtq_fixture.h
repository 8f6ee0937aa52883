/* SPDX-License-Identifier: MIT */
/*
 * The driver's side of virtio for device unit tests: split virtqueues laid
 * out in a test gmem (VIRTIO 1.2 section 2.7), the virtio-mmio registers
 * driven as a driver does (section 3.1.1), fake transport ops that record
 * interrupts and kicks, and a pump that runs a worker's callbacks on the
 * test's own thread (the worker is initialised but never started).
 *
 * Everything is written the way a driver writes it: ring fields
 * little-endian, the available index published with a release store after
 * the entry. The helpers fail the test (cmocka) when a gpa they are given
 * is not guest RAM.
 */
#ifndef LMIG_TESTS_UNIT_COMMON_VIRTQ_FIXTURE_H
#define LMIG_TESTS_UNIT_COMMON_VIRTQ_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "vmm/gmem.h"
#include "vmm/worker.h"

/* Host pointer to [gpa, gpa + len) of guest RAM, failing the test if it is not RAM. */
uint8_t *vqf_ram(struct gmem *mem, uint64_t gpa, uint64_t len);

/* One driver-side split virtqueue. */
struct vqf {
	struct gmem *mem;
	uint16_t size;
	uint64_t desc, avail, used; /* ring addresses (gpa) */
	uint16_t next_desc;	    /* next descriptor vqf_add_chain() uses (wraps) */
	uint16_t avail_idx;	    /* the driver's available index */
	uint16_t last_used;	    /* the next used entry vqf_pop_used() returns */
};

/* One buffer of a chain. */
struct vqf_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/*
 * Lay out a queue of `size` entries from `base` (16-byte aligned): the
 * descriptor table, the available ring right after it, the used ring at
 * the next 4 KiB boundary. All three are zeroed. The rings end before
 * vqf_end(q).
 */
void vqf_init(struct vqf *q, struct gmem *mem, uint64_t base, uint16_t size);
uint64_t vqf_end(const struct vqf *q);

/* Write descriptor i of the table as given (for chains a driver should not make). */
void vqf_set_desc(struct vqf *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next);

/*
 * A chain of n buffers in consecutive descriptors from q->next_desc
 * (wrapping; the NEXT links follow). Returns the head. Not yet available.
 */
uint16_t vqf_add_chain(struct vqf *q, const struct vqf_buf *bufs, unsigned int n);

/*
 * The n buffers in an indirect table written at table_gpa, referenced by
 * one INDIRECT descriptor of the queue. Returns the head.
 */
uint16_t vqf_add_indirect(struct vqf *q, uint64_t table_gpa, const struct vqf_buf *bufs,
			  unsigned int n);

/* Make head available: the ring entry, then the index (release). */
void vqf_publish(struct vqf *q, uint16_t head);

/* The two halves of vqf_publish(), for tests that need them apart (slot is masked). */
void vqf_put_avail(struct vqf *q, uint16_t slot, uint16_t head);
void vqf_set_avail_idx(struct vqf *q, uint16_t idx);

/* The next used entry, if the device added one: true and *id, *len. */
bool vqf_pop_used(struct vqf *q, uint32_t *id, uint32_t *len);
uint16_t vqf_used_idx(const struct vqf *q);
uint16_t vqf_used_flags(const struct vqf *q);
/* avail_event, after the used ring (EVENT_IDX). */
uint16_t vqf_avail_event(const struct vqf *q);
/* used_event, after the available ring (EVENT_IDX). */
void vqf_set_used_event(struct vqf *q, uint16_t v);
void vqf_set_avail_flags(struct vqf *q, uint16_t flags);

/* ---- the transport's registers ---- */

uint32_t vqf_read32(struct virtio_mmio *t, uint64_t off);
void vqf_write32(struct virtio_mmio *t, uint64_t off, uint32_t v);
uint64_t vqf_device_features(struct virtio_mmio *t);

/*
 * Driver initialisation: reset, ACKNOWLEDGE, DRIVER, the features, FEATURES_OK
 * (read back), queue i of the transport from qs[i] (QueueNum, the three
 * addresses, QueueReady), DRIVER_OK. Returns the Status register at the end
 * (no FEATURES_OK or DRIVER_OK in it means the device refused).
 */
uint32_t vqf_driver_start(struct virtio_mmio *t, uint64_t features, struct vqf *qs,
			  unsigned int nr_queues);

/*
 * The steps of vqf_driver_start(), for tests that look in between (or stop
 * early). vqf_negotiate(): reset, ACKNOWLEDGE, DRIVER, the features,
 * FEATURES_OK; returns the Status register then (no FEATURES_OK in it means
 * the device refused the features).
 */
uint32_t vqf_negotiate(struct virtio_mmio *t, uint64_t features);
/* Queue i of the transport from q: QueueSel, QueueNum, the three addresses, QueueReady. */
void vqf_setup_queue(struct virtio_mmio *t, unsigned int i, const struct vqf *q);

/* ---- fake owner of a transport ---- */

struct vqf_owner {
	unsigned int irqs;
	unsigned int kicks;
	unsigned int last_kick;
};

/* virtio_mmio_ops whose ctx is a struct vqf_owner: counts every call. */
extern const struct virtio_mmio_ops vqf_owner_ops;

/* ---- the worker, run by hand ---- */

/*
 * Wait up to timeout_ms for the worker's fds and run the callbacks of those
 * ready, once. Returns how many ran.
 */
int vqf_pump(struct worker *w, int timeout_ms);

/*
 * Pump until the used index of q reaches `idx` (or passes it); fail the
 * test after timeout_ms.
 */
void vqf_pump_until_used(struct worker *w, const struct vqf *q, uint16_t idx, int timeout_ms);

/* Pump until nothing is ready for `quiet_ms`. */
void vqf_pump_idle(struct worker *w, int quiet_ms);

#endif
