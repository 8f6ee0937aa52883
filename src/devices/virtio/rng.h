/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (VIRTIO 1.2 section 5.4): one request queue whose writable
 * buffers the device fills from the host's getrandom(2).
 */
#ifndef LMIG_DEVICES_VIRTIO_RNG_H
#define LMIG_DEVICES_VIRTIO_RNG_H

#include <stddef.h>

#include "devices/virtio/mmio.h"
#include "vmm/gmem.h"
#include "vmm/worker.h"

/* Bytes given per request at most: a guest cannot make us loop for long. */
#define VIRTIO_RNG_MAX_REQUEST 65536

struct virtio_rng;

/* 0 or -errno (err says why). */
int virtio_rng_create(struct virtio_rng **out, const char *name, struct gmem *mem, struct worker *w,
		      const struct virtio_mmio_ops *ops, void *ctx, char *err, size_t errlen)
	__attribute__((warn_unused_result));
struct virtio_mmio *virtio_rng_mmio(struct virtio_rng *r);
void virtio_rng_destroy(struct virtio_rng *r);

#endif
