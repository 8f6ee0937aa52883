/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-mmio driver library (virtio.c), used at CPL3 by
 * the device checks (vdev.c) and the hostile mode (vhostile.c). Modern
 * virtio-mmio only (Version 2, VIRTIO 1.x), split virtqueues.
 */
#ifndef TG_VIRTIO_H
#define TG_VIRTIO_H

#include "tg.h"

/* ---- virtio-mmio registers (VIRTIO 1.x, 4.2.2) ---- */
#define VM_MAGIC 0x000 /* "virt" */
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_VENDOR_ID 0x00c
#define VM_DEVICE_FEATURES 0x010
#define VM_DEVICE_FEATURES_SEL 0x014
#define VM_DRIVER_FEATURES 0x020
#define VM_DRIVER_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INTERRUPT_STATUS 0x060
#define VM_INTERRUPT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LO 0x080
#define VM_QUEUE_DESC_HI 0x084
#define VM_QUEUE_DRIVER_LO 0x090
#define VM_QUEUE_DRIVER_HI 0x094
#define VM_QUEUE_DEVICE_LO 0x0a0
#define VM_QUEUE_DEVICE_HI 0x0a4
#define VM_CONFIG_GENERATION 0x0fc
#define VM_CONFIG 0x100

#define VIRTIO_MAGIC 0x74726976

/* Device status bits. */
#define VS_ACKNOWLEDGE 0x01
#define VS_DRIVER 0x02
#define VS_DRIVER_OK 0x04
#define VS_FEATURES_OK 0x08
#define VS_NEEDS_RESET 0x40
#define VS_FAILED 0x80

/* Transport feature bits. */
#define VF_INDIRECT_DESC 28
#define VF_EVENT_IDX 29
#define VF_VERSION_1 32
#define VF_BIT(b) (1UL << (b))

/* Device IDs. */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* ---- split virtqueues (2.7) ---- */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

#define VQ_MAX 256	   /* the largest queue the library sets up */
#define VQ_INDIRECT_TABLES 8 /* indirect tables per queue */
#define VQ_INDIRECT_MAX 32   /* descriptors per indirect table */

/*
 * One virtqueue. The rings live in one 16 KiB area per queue (desc at 0,
 * avail at 4 KiB, used at 8 KiB, the indirect tables at 12 KiB), in the
 * image's .noinit memory, identity-mapped: virtual = guest-physical.
 */
struct vq {
	struct vdev *dev;
	u16 index, num;
	u64 mem;
	volatile struct vring_desc *desc;
	u64 avail; /* u16 flags, idx, ring[num], used_event */
	u64 used;  /* u16 flags, idx, {u32 id, len}[num], u16 avail_event */
	u16 avail_idx;	     /* the next avail index we publish */
	u16 last_used;	     /* the next used index we consume */
	u16 free_head, nfree;
	bool event_idx, indirect;
	bool irq;	   /* interrupt-driven completion (else polled) */
	u32 irq_seen;	   /* vio_irq.count[slot] consumed so far */
	bool irq_ok;	   /* an interrupt came since the used ring was found empty */
	u32 notifies;	   /* QueueNotify writes */
	u32 notify_skipped; /* notifications the device asked us to skip */
	u16 chain_len[VQ_MAX];
	u8 ind_used[VQ_MAX]; /* 1 + the indirect table the head uses, 0: none */
	u8 ind_busy[VQ_INDIRECT_TABLES];
};

/* One buffer of a request: guest-physical address, length, device-writable. */
struct vbuf {
	u64 addr;
	u32 len;
	bool write;
};

/* A virtio-mmio device the command line announced. */
struct vdev {
	u64 base, size;
	int pin;	   /* IOAPIC pin, -1: none */
	unsigned int slot; /* index in vio_irq, vector TG_VEC_VIRTIO + slot */
	u32 id, version, vendor;
	u64 offered, features; /* the device's features; what was negotiated */
	char name[16];	       /* "blk0", "net0", ... */
	struct vq q[2];
	unsigned int nq;
	bool routed; /* the IOAPIC pin is routed and unmasked */
};

extern struct vdev vdevs[TG_VIRTIO_SLOTS];
extern unsigned int nvdevs;

/* Register access. */
static inline u32 vr32(struct vdev *d, u32 off)
{
	return rd32(d->base + off);
}
static inline void vw32(struct vdev *d, u32 off, u32 v)
{
	wr32(d->base + off, v);
}
/* A full barrier: orders our ring stores before loads of the device's fields. */
static inline void mb(void)
{
	__asm__ volatile("lock; addl $0, (%%rsp)" : : : "memory", "cc");
}

#define AVAIL_FLAGS(q) ((q)->avail)
#define AVAIL_IDX(q) ((q)->avail + 2)
#define AVAIL_RING(q, i) ((q)->avail + 4 + 2 * (u64)(i))
#define USED_EVENT(q) ((q)->avail + 4 + 2 * (u64)(q)->num)
#define USED_FLAGS(q) ((q)->used)
#define USED_IDX(q) ((q)->used + 2)
#define USED_ID(q, i) ((q)->used + 4 + 8 * (u64)(i))
#define USED_LEN(q, i) ((q)->used + 8 + 8 * (u64)(i))
#define AVAIL_EVENT(q) ((q)->used + 4 + 8 * (u64)(q)->num)
#define VQ_AREA 16384
#define VQ_IND_OFF 12288

/* ---- virtio.c ---- */
u64 ms_to_tsc(u64 ms);
/* Parse virtio_mmio.device= entries and probe each window. */
void virtio_discover(void);
/* Reset: write 0 to Status, wait (bounded) until it reads 0. */
bool vdev_reset(struct vdev *d);
/*
 * Initialise in the spec's order (3.1.1) up to FEATURES_OK: reset,
 * ACKNOWLEDGE, DRIVER, features = offered & want (VERSION_1 always),
 * FEATURES_OK and its re-read. Returns false with why.
 */
bool vdev_begin(struct vdev *d, u64 want, char *why, size_t n);
/* Queue set-up (4.2.3.2) with `num` entries (0: min(QueueNumMax, VQ_MAX)). */
bool vq_setup(struct vdev *d, unsigned int index, unsigned int num, char *why, size_t n);
/* DRIVER_OK. */
bool vdev_finish(struct vdev *d, char *why, size_t n);
/* Reset and vdev_begin + vq_setup(queues, 0) + vdev_finish. */
bool vdev_init(struct vdev *d, u64 want, unsigned int nqueues, char *why, size_t n);

/* Choose polled or interrupt-driven completion for a queue. */
void vq_set_irq(struct vq *q, bool irq);
/* Add a chain (direct, or one indirect descriptor when `indirect`); -1: full. */
int vq_add(struct vq *q, const struct vbuf *b, unsigned int n, bool indirect);
/* Publish what was added and notify unless the device said not to. */
void vq_kick(struct vq *q);
/* Take one used entry if there is one: head and written length. */
bool vq_get(struct vq *q, u32 *head, u32 *len);
/*
 * Wait for one used entry (polled: the used ring; interrupt-driven: an
 * interrupt since the ring was last found empty, then the used ring).
 * False, with why, on timeout.
 */
bool vq_wait(struct vq *q, u32 *head, u32 *len, u64 ms, char *why, size_t n);
/* Submit one chain, kick and wait for it. */
bool vq_xfer(struct vq *q, const struct vbuf *b, unsigned int n, bool indirect, u32 *len,
	     char *why, size_t wn);

/* Route the device's IOAPIC pin to its vector (or mask it). */
bool vdev_route_irq(struct vdev *d, bool on);
/* Clear a pending InterruptStatus at CPL3 (so the next interrupt is an edge). */
void vdev_ack(struct vdev *d);

/* Config space. */
u8 vcfg8(struct vdev *d, u32 off);
u16 vcfg16(struct vdev *d, u32 off);
u32 vcfg32(struct vdev *d, u32 off);
u64 vcfg64(struct vdev *d, u32 off);

/* ---- vdev.c ---- */
void run_vdev_checks(struct vdev *d);
/* The disk pattern (docs/testguest.md): one 512-byte sector. */
void blk_pattern(u64 seed, u64 sector, u8 *out);

/* ---- vhostile.c ---- */
void run_vhostile_checks(struct vdev *d);

#endif
