/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (VIRTIO 1.2 section 5.2) on a raw image: a regular file or a
 * block device whose size is a multiple of 512 bytes.
 *
 * One request queue of up to 256 entries. Reads and writes go through
 * io_uring straight between the image and the guest's buffers (no bounce
 * copies); completions arrive on the device's I/O thread (struct worker)
 * through an eventfd registered with the ring. Requests: IN, OUT, FLUSH
 * (fdatasync), GET_ID (the serial), DISCARD and WRITE_ZEROES (fallocate).
 * A read-only disk answers every write with VIRTIO_BLK_S_IOERR.
 *
 * Every request is checked before any I/O starts (blk.c has the list); a
 * request with bad contents is completed with VIRTIO_BLK_S_IOERR, a chain
 * the device cannot answer at all (no writable status byte, or one the
 * virtqueue code refuses) marks the device DEVICE_NEEDS_RESET.
 */
#ifndef LMIG_DEVICES_VIRTIO_BLK_H
#define LMIG_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "vmm/gmem.h"
#include "vmm/worker.h"

/* Feature bits (section 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (section 5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

/* The status byte that ends every request. */
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

/* The flags of a discard / write-zeroes segment. */
#define VIRTIO_BLK_WZ_F_UNMAP 1

#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_ID_BYTES 20	   /* GET_ID: the serial, NUL-padded */
#define VIRTIO_BLK_HDR_SIZE 16	   /* le32 type, le32 reserved, le64 sector */
#define VIRTIO_BLK_DWZ_SEG_SIZE 16 /* le64 sector, le32 num_sectors, le32 flags */

/* What the device offers, in its configuration space. */
#define VIRTIO_BLK_QUEUE_SIZE 256
/* Data segments in one request: the queue (or an indirect table) less header and status. */
#define VIRTIO_BLK_SEG_MAX (VIRTQ_MAX_SIZE - 2)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define VIRTIO_BLK_MAX_DISCARD_SEG 32
#define VIRTIO_BLK_DISCARD_ALIGNMENT 8 /* sectors: 4 KiB, the usual file system block */
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS (1u << 22)
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SEG 32

/* Offsets in struct virtio_blk_config (section 5.2.4), from the start of the config space. */
#define VIRTIO_BLK_CFG_CAPACITY 0		   /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 8		   /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX 12		   /* le32 */
#define VIRTIO_BLK_CFG_GEOMETRY 16		   /* le16 cylinders, u8 heads, u8 sectors */
#define VIRTIO_BLK_CFG_BLK_SIZE 20		   /* le32 */
#define VIRTIO_BLK_CFG_TOPOLOGY 24		   /* 8 bytes */
#define VIRTIO_BLK_CFG_WRITEBACK 32		   /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES 34		   /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36	   /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40	   /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44 /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48 /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52	   /* le32 */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56   /* u8 */
#define VIRTIO_BLK_CFG_SIZE 96			   /* through the zoned characteristics */

struct virtio_blk_opts {
	const char *path;
	bool readonly;
	/*
	 * Open the image with O_DIRECT. Guest buffers are then used as they
	 * are: a request whose buffers or lengths are not 512-byte aligned is
	 * completed with VIRTIO_BLK_S_IOERR (no bounce buffer), as is any
	 * request the host's alignment rules refuse (EINVAL from the kernel).
	 */
	bool direct;
	const char *serial; /* GET_ID answer (first 20 bytes); may be NULL */
};

struct virtio_blk;

/*
 * Open and check the image (a regular file or a block device, its size a
 * multiple of 512, or refused), set up io_uring with its completion eventfd
 * registered with `w` (call before worker_start()), and initialise the
 * embedded transport named `name` (kept, not copied). 0 or -errno; err
 * (errlen bytes) then says why, naming the path: "disk 'x.img': No such file
 * or directory".
 */
int virtio_blk_create(struct virtio_blk **out, const struct virtio_blk_opts *o, const char *name,
		      struct gmem *mem, struct worker *w, const struct virtio_mmio_ops *ops,
		      void *ctx, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The transport, for the VM's MMIO bus, ioeventfd and the worker's notifications. */
struct virtio_mmio *virtio_blk_mmio(struct virtio_blk *b);

/* The image's size in 512-byte sectors. */
uint64_t virtio_blk_capacity(const struct virtio_blk *b);

/*
 * Free everything. Call after the worker thread stopped (worker_destroy()),
 * and before the guest memory is unmapped: I/O still in flight is waited
 * for, and it targets guest RAM. NULL is ignored.
 */
void virtio_blk_destroy(struct virtio_blk *b);

/* What the device did, for tests and benchmarks (lock not needed: a snapshot). */
struct virtio_blk_stats {
	uint64_t ops;	      /* io_uring operations issued */
	uint64_t merged_ops;  /* of them, reads or writes that merged adjacent requests */
	uint64_t merged_reqs; /* requests served by merged operations */
};
void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *st);

#endif
