// SPDX-License-Identifier: MIT
/* The driver's side of virtio for device unit tests: see virtq_fixture.h. */
#include "common/virtq_fixture.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "common/fixtures.h"
#include "devices/virtio/virtio.h"

uint8_t *vqf_ram(struct gmem *mem, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gmem_ptr(mem, gpa, len);

	if (!p)
		fail_msg("[0x%llx, +0x%llx) is not guest RAM", (unsigned long long)gpa,
			 (unsigned long long)len);
	return p;
}

static uint16_t load16(const struct vqf *q, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, vqf_ram(q->mem, gpa, 2), 2);
	return v;
}

static void store16(struct vqf *q, uint64_t gpa, uint16_t v)
{
	put_le16(vqf_ram(q->mem, gpa, 2), v);
}

void vqf_init(struct vqf *q, struct gmem *mem, uint64_t base, uint16_t size)
{
	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->size = size;
	q->desc = base;
	q->avail = base + 16ULL * size;
	q->used = (q->avail + 6 + 2ULL * size + 4095) & ~4095ULL;
	memset(vqf_ram(mem, q->desc, vqf_end(q) - q->desc), 0, vqf_end(q) - q->desc);
}

uint64_t vqf_end(const struct vqf *q)
{
	return q->used + 6 + 8ULL * q->size;
}

void vqf_set_desc(struct vqf *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	uint8_t *d = vqf_ram(q->mem, q->desc + 16ULL * i, 16);

	put_le32(d, (uint32_t)addr);
	put_le32(d + 4, (uint32_t)(addr >> 32));
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

uint16_t vqf_add_chain(struct vqf *q, const struct vqf_buf *bufs, unsigned int n)
{
	uint16_t head = q->next_desc;
	unsigned int i;

	assert_true(n > 0 && n <= q->size);
	for (i = 0; i < n; i++) {
		uint16_t idx = q->next_desc, next = (uint16_t)((idx + 1) % q->size);
		uint16_t flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

		vqf_set_desc(q, idx, bufs[i].gpa, bufs[i].len, flags, i + 1 < n ? next : 0);
		q->next_desc = next;
	}
	return head;
}

uint16_t vqf_add_indirect(struct vqf *q, uint64_t table_gpa, const struct vqf_buf *bufs,
			  unsigned int n)
{
	uint8_t *t = vqf_ram(q->mem, table_gpa, 16ULL * n);
	uint16_t head = q->next_desc;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint8_t *d = t + 16 * i;

		put_le32(d, (uint32_t)bufs[i].gpa);
		put_le32(d + 4, (uint32_t)(bufs[i].gpa >> 32));
		put_le32(d + 8, bufs[i].len);
		put_le16(d + 12, (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		put_le16(d + 14, i + 1 < n ? (uint16_t)(i + 1) : 0);
	}
	vqf_set_desc(q, head, table_gpa, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	q->next_desc = (uint16_t)((head + 1) % q->size);
	return head;
}

void vqf_put_avail(struct vqf *q, uint16_t slot, uint16_t head)
{
	store16(q, q->avail + 4 + 2ULL * (slot % q->size), head);
}

void vqf_set_avail_idx(struct vqf *q, uint16_t idx)
{
	uint16_t *p = (uint16_t *)(void *)vqf_ram(q->mem, q->avail + 2, 2);

	q->avail_idx = idx;
	__atomic_store_n(p, idx, __ATOMIC_RELEASE);
}

void vqf_publish(struct vqf *q, uint16_t head)
{
	vqf_put_avail(q, q->avail_idx, head);
	vqf_set_avail_idx(q, (uint16_t)(q->avail_idx + 1));
}

uint16_t vqf_used_idx(const struct vqf *q)
{
	const uint16_t *p = (const uint16_t *)(void *)vqf_ram(q->mem, q->used + 2, 2);

	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

bool vqf_pop_used(struct vqf *q, uint32_t *id, uint32_t *len)
{
	const uint8_t *e;

	if (vqf_used_idx(q) == q->last_used)
		return false;
	e = vqf_ram(q->mem, q->used + 4 + 8ULL * (q->last_used % q->size), 8);
	*id = get_le32(e);
	*len = get_le32(e + 4);
	q->last_used++;
	return true;
}

uint16_t vqf_used_flags(const struct vqf *q)
{
	return load16(q, q->used);
}

uint16_t vqf_avail_event(const struct vqf *q)
{
	return load16(q, q->used + 4 + 8ULL * q->size);
}

void vqf_set_used_event(struct vqf *q, uint16_t v)
{
	store16(q, q->avail + 4 + 2ULL * q->size, v);
}

void vqf_set_avail_flags(struct vqf *q, uint16_t flags)
{
	store16(q, q->avail, flags);
}

/* ---- the transport's registers ---- */

uint32_t vqf_read32(struct virtio_mmio *t, uint64_t off)
{
	uint8_t b[4];

	virtio_mmio_read(t, off, b, 4);
	return get_le32(b);
}

void vqf_write32(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	virtio_mmio_write(t, off, b, 4);
}

uint64_t vqf_device_features(struct virtio_mmio *t)
{
	uint64_t f;

	vqf_write32(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = vqf_read32(t, VIRTIO_MMIO_DEVICE_FEATURES);
	vqf_write32(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)vqf_read32(t, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	return f;
}

uint32_t vqf_negotiate(struct virtio_mmio *t, uint64_t features)
{
	uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	vqf_write32(t, VIRTIO_MMIO_STATUS, 0);
	vqf_write32(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vqf_write32(t, VIRTIO_MMIO_STATUS, status);
	vqf_write32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vqf_write32(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vqf_write32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vqf_write32(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vqf_write32(t, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_FEATURES_OK);
	return vqf_read32(t, VIRTIO_MMIO_STATUS);
}

void vqf_setup_queue(struct virtio_mmio *t, unsigned int i, const struct vqf *q)
{
	vqf_write32(t, VIRTIO_MMIO_QUEUE_SEL, i);
	vqf_write32(t, VIRTIO_MMIO_QUEUE_NUM, q->size);
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	vqf_write32(t, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	vqf_write32(t, VIRTIO_MMIO_QUEUE_READY, 1);
}

uint32_t vqf_driver_start(struct virtio_mmio *t, uint64_t features, struct vqf *qs,
			  unsigned int nr_queues)
{
	uint32_t status = vqf_negotiate(t, features);
	unsigned int i;

	if (!(status & VIRTIO_STATUS_FEATURES_OK))
		return status;
	for (i = 0; i < nr_queues; i++)
		vqf_setup_queue(t, i, &qs[i]);
	vqf_write32(t, VIRTIO_MMIO_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			    VIRTIO_STATUS_DRIVER_OK);
	return vqf_read32(t, VIRTIO_MMIO_STATUS);
}

/* ---- fake owner ---- */

static void owner_irq(void *ctx)
{
	struct vqf_owner *o = ctx;

	o->irqs++;
}

static void owner_kick(void *ctx, unsigned int queue)
{
	struct vqf_owner *o = ctx;

	o->kicks++;
	o->last_kick = queue;
}

const struct virtio_mmio_ops vqf_owner_ops = {
	.irq = owner_irq,
	.kick = owner_kick,
};

/* ---- the worker, by hand ---- */

int vqf_pump(struct worker *w, int timeout_ms)
{
	struct epoll_event evs[WORKER_MAX_FDS];
	int i, n, ran = 0;

	do {
		n = epoll_wait(w->epoll_fd, evs, WORKER_MAX_FDS, timeout_ms);
	} while (n < 0 && errno == EINTR);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		const struct worker_fd *f = &w->fds[evs[i].data.u32];

		if (f->fn) { /* not the stop eventfd */
			f->fn(f->opaque, evs[i].events);
			ran++;
		}
	}
	return ran;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void vqf_pump_until_used(struct worker *w, const struct vqf *q, uint16_t idx, int timeout_ms)
{
	double end = now_ms() + timeout_ms;

	/* Reached when idx - used_idx, as a distance on the u16 circle, is "behind". */
	while ((int16_t)(uint16_t)(idx - vqf_used_idx(q)) > 0) {
		if (now_ms() > end)
			fail_msg("used index %u, waited %d ms for %u", vqf_used_idx(q), timeout_ms,
				 idx);
		vqf_pump(w, 10);
	}
}

void vqf_pump_idle(struct worker *w, int quiet_ms)
{
	while (vqf_pump(w, quiet_ms) > 0)
		;
}
