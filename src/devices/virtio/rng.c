// SPDX-License-Identifier: MIT
#include "devices/virtio/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vmm/log.h"

struct virtio_rng {
	struct virtio_mmio t;
	struct virtq_chain chain;
};

/* Fill the writable part of a chain; returns the bytes written. */
static uint32_t fill(struct virtio_rng *r)
{
	const struct virtq_chain *c = &r->chain;
	uint64_t done = 0;
	unsigned int i;

	for (i = c->nr_out; i < c->nr_out + c->nr_in && done < VIRTIO_RNG_MAX_REQUEST; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint64_t want = s->len, off = 0;

		if (want > VIRTIO_RNG_MAX_REQUEST - done)
			want = VIRTIO_RNG_MAX_REQUEST - done;
		while (off < want) {
			ssize_t n = getrandom(s->host + off, want - off, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				log_ratelimited(LOG_LEVEL_WARN, "%s: getrandom failed: %s",
						r->t.name, strerror(errno));
				return (uint32_t)(done + off);
			}
			off += (uint64_t)n;
		}
		done += off;
	}
	return (uint32_t)done;
}

static void rng_queue_notify(void *dev, unsigned int queue)
{
	struct virtio_rng *r = dev;
	struct virtq *vq = &r->t.vqs[0];
	bool pushed = false;
	int ret;

	while ((ret = virtq_next(vq, &r->chain)) > 0) {
		virtq_push(vq, r->chain.head, fill(r));
		pushed = true;
	}
	if (ret < 0) {
		virtio_mmio_fail(&r->t, "requestq: %s", vq->error);
		return;
	}
	if (pushed)
		virtio_mmio_notify_used(&r->t, vq);
}

static const struct virtio_device_ops rng_ops = {
	.queue_notify = rng_queue_notify,
};

int virtio_rng_create(struct virtio_rng **out, const char *name, struct gmem *mem, struct worker *w,
		      const struct virtio_mmio_ops *ops, void *ctx, char *err, size_t errlen)
{
	const struct virtio_mmio_config cfg = {
		.name = name,
		.device_id = VIRTIO_ID_RNG,
		.features =
			VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC),
		.nr_queues = 1,
		.queue_max = VIRTQ_MAX_SIZE,
	};
	struct virtio_rng *r;
	int ret;

	(void)w; /* no back-end file descriptors: the queue is all there is */
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	ret = virtio_mmio_init(&r->t, &cfg, mem, &rng_ops, r, ops, ctx);
	if (ret) {
		snprintf(err, errlen, "%s: %s", name, strerror(-ret));
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

struct virtio_mmio *virtio_rng_mmio(struct virtio_rng *r)
{
	return &r->t;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_mmio_destroy(&r->t);
	free(r);
}
