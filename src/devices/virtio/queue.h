/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (VIRTIO 1.2 section 2.7), device side, for a guest that
 * is assumed hostile.
 *
 * - The three rings are located once, when the driver makes the queue
 *   ready (virtq_activate()): each must lie wholly in guest RAM and be
 *   aligned as the spec requires. After that every ring access is an index
 *   masked by the (power of two) queue size into host memory that was
 *   checked once.
 * - Each descriptor is copied out of guest memory once and only the copy
 *   is used. Buffers are turned into host pointers with gmem_ptr(addr, len);
 *   a buffer that is not wholly RAM breaks the queue.
 * - Chains are walked with a budget: at most `size` descriptors in the
 *   descriptor table and at most len/16 (<= VIRTQ_MAX_INDIRECT) in an
 *   indirect table. Loops, nested indirect tables, INDIRECT together with
 *   NEXT, a readable descriptor after a writable one, a head or next index
 *   out of range and an available index more than `size` ahead all break
 *   the queue: virtq_pop() returns -EIO with the reason in vq->error, and
 *   the transport then marks the device DEVICE_NEEDS_RESET.
 *
 * No locking: the owner (the transport's device lock) serialises access.
 */
#ifndef LMIG_DEVICES_VIRTIO_QUEUE_H
#define LMIG_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/gmem.h"

/* The largest queue any of our devices offers (QueueNumMax). */
#define VIRTQ_MAX_SIZE 256
/* Descriptors in one indirect table, and so segments in one chain. */
#define VIRTQ_MAX_INDIRECT 256
#define VIRTQ_MAX_SEGS (VIRTQ_MAX_SIZE + VIRTQ_MAX_INDIRECT)

/* Descriptor flags (section 2.7.5). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* Ring flags (sections 2.7.6 and 2.7.8). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One buffer of a chain, already checked: host points at len bytes of RAM. */
struct virtq_seg {
	uint8_t *host;
	uint64_t gpa;
	uint32_t len;
};

/*
 * A descriptor chain taken from the available ring. The device-readable
 * ("out") segments come first, then the device-writable ("in") ones.
 */
struct virtq_chain {
	uint16_t head;	     /* what virtq_push() hands back */
	unsigned int nr_out; /* segs[0 .. nr_out) are readable */
	unsigned int nr_in;  /* segs[nr_out .. nr_out + nr_in) are writable */
	uint64_t out_len;    /* total bytes in the readable segments */
	uint64_t in_len;     /* total bytes in the writable segments */
	struct virtq_seg segs[VIRTQ_MAX_SEGS];
};

struct virtq {
	/* Set by the transport from the driver's register writes. */
	uint16_t size; /* QueueNum */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Set by virtq_activate(). */
	bool ready;
	struct gmem *mem;
	struct virtq_desc *desc; /* size entries */
	uint16_t *avail;	 /* flags, idx, ring[size], used_event */
	uint16_t *used;		 /* flags, idx, then ring[size] of {u32 id, u32 len}, avail_event */

	/* Device-side positions. */
	uint16_t last_avail; /* next available-ring entry to take */
	uint16_t used_idx;   /* our copy of used->idx */
	uint16_t signalled_used;
	bool signalled_used_valid;

	/* Set once the guest broke the queue; virtq_pop() then returns -EIO. */
	bool broken;
	char error[128];
};

/* Back to the reset state (not ready, size 0, addresses 0, positions 0). */
void virtq_reset(struct virtq *vq);

/*
 * The driver wrote QueueReady = 1: check size (a power of two, 1..max) and
 * that the rings are RAM and aligned (desc 16, avail 2, used 4 bytes), and
 * locate them. 0 or -EINVAL with the reason in vq->error.
 */
int virtq_activate(struct virtq *vq, struct gmem *mem, uint16_t max_size)
	__attribute__((warn_unused_result));

/*
 * Take the next available chain. 1 and *chain filled, 0 when the ring is
 * empty, -EIO when the guest broke the queue (vq->error says how; the
 * queue stays broken until virtq_reset()).
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain) __attribute__((warn_unused_result));

/*
 * Give a chain back: used ring entry {head, written}, then the used index
 * (with a release barrier, so the guest sees the entry first).
 */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/*
 * After one or more virtq_push(): must the driver be interrupted?
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.)
 */
bool virtq_should_notify(struct virtq *vq);

/*
 * Driver-notification suppression. With EVENT_IDX: publish avail_event =
 * last_avail (we want a kick for the next new entry). Without: set or
 * clear VIRTQ_USED_F_NO_NOTIFY. Call with enable = true before going to
 * sleep, then check virtq_has_avail() once more to close the race.
 */
void virtq_enable_notify(struct virtq *vq, bool enable);

/* Is there an available chain not yet taken? */
bool virtq_has_avail(struct virtq *vq);

/*
 * The loop every device runs over a queue, in one call: take the next chain
 * with driver notifications off; when the ring is empty, turn them on and
 * look once more, since the driver may have added a chain before it saw
 * them on. 1: *chain filled, notifications off (the caller comes back for
 * the next one). 0: empty, notifications on (the next kick wakes us). -EIO:
 * the queue is broken, as for virtq_pop().
 */
int virtq_next(struct virtq *vq, struct virtq_chain *chain) __attribute__((warn_unused_result));

/*
 * Copy helpers over a chain's segments. Copy up to len bytes starting at
 * byte `off` of the readable (out) or writable (in) part. Return the bytes
 * copied.
 */
uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint64_t len);
uint64_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src,
			   uint64_t len);

#endif
