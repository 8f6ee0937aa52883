// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, device side. See queue.h for the rules every guest
 * value goes through. Ring layout (VIRTIO 1.2 section 2.7):
 *	descriptor table  16 * size bytes, 16-byte aligned
 *	available ring    flags, idx, ring[size], used_event    (u16 each)
 *	used ring         flags, idx, ring[size] of {u32 id, u32 len}, avail_event
 * All fields are little-endian, as is every host we build for.
 */
#include "devices/virtio/queue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian");
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");

/* u16 indexes into the available ring: flags, idx, ring[size], used_event. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING(i) (2 + (i))
/* u16 indexes into the used ring; the {id, len} entries start at byte 4. */
#define USED_FLAGS 0
#define USED_IDX 1

static uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static __attribute__((format(printf, 2, 3))) int set_error(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static __attribute__((format(printf, 2, 3))) int broken(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
	vq->broken = true;
	return -EIO;
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_activate(struct virtq *vq, struct gmem *mem, uint16_t max_size)
{
	uint64_t n = vq->size;

	if (n == 0 || n > max_size || (n & (n - 1)))
		return set_error(vq, "queue size %u is not a power of two in 1..%u", vq->size,
				 max_size);
	if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4)
		return set_error(
			vq, "misaligned rings (descriptors 0x%llx, available 0x%llx, used 0x%llx)",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa);
	vq->desc = gmem_ptr(mem, vq->desc_gpa, 16 * n);
	vq->avail = gmem_ptr(mem, vq->avail_gpa, 6 + 2 * n);
	vq->used = gmem_ptr(mem, vq->used_gpa, 6 + 8 * n);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = NULL;
		vq->avail = vq->used = NULL;
		return set_error(
			vq,
			"rings not in guest RAM (descriptors 0x%llx, available 0x%llx, used "
			"0x%llx, size %u)",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa, vq->size);
	}
	vq->mem = mem;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->error[0] = '\0';
	vq->ready = true;
	return 0;
}

static uint16_t avail_idx(const struct virtq *vq)
{
	return __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
}

bool virtq_has_avail(struct virtq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	return avail_idx(vq) != vq->last_avail;
}

/* Walk the chain starting at `head`; fills c. 0 or -EIO (queue broken). */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t table_size = vq->size, budget = vq->size, idx = head;
	bool indirect = false;
	unsigned int nr = 0;

	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	for (;;) {
		struct virtq_desc d;

		if (budget-- == 0)
			return broken(vq, "chain at head %u has more than %u descriptors (a loop?)",
				      head, indirect ? table_size : vq->size);
		/* One copy of the descriptor; only the copy is used from here on. */
		memcpy(&d, table + (uint64_t)idx * sizeof(d), sizeof(d));

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return broken(vq,
					      "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (indirect)
				return broken(vq, "nested indirect descriptor in chain at head %u",
					      head);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return broken(vq, "descriptor %u has both INDIRECT and NEXT", idx);
			if (d.len == 0 || d.len % sizeof(d) ||
			    d.len / sizeof(d) > VIRTQ_MAX_INDIRECT)
				return broken(
					vq, "indirect table length %u is not 16..%u in steps of 16",
					d.len, (unsigned int)(VIRTQ_MAX_INDIRECT * sizeof(d)));
			table = gmem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return broken(vq, "indirect table [0x%llx, +%u) is not guest RAM",
					      (unsigned long long)d.addr, d.len);
			indirect = true;
			table_size = budget = d.len / sizeof(d);
			idx = 0;
			continue;
		}
		if (d.len) {
			struct virtq_seg *s;
			uint8_t *host = gmem_ptr(vq->mem, d.addr, d.len);

			if (!host)
				return broken(vq, "buffer [0x%llx, +%u) is not guest RAM",
					      (unsigned long long)d.addr, d.len);
			if (nr >= VIRTQ_MAX_SEGS)
				return broken(vq, "chain at head %u has more than %u buffers", head,
					      VIRTQ_MAX_SEGS);
			s = &c->segs[nr++];
			s->host = host;
			s->gpa = d.addr;
			s->len = d.len;
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				c->nr_in++;
				c->in_len += d.len;
			} else {
				if (c->nr_in)
					return broken(
						vq,
						"readable buffer after a writable one in chain at "
						"head %u",
						head);
				c->nr_out++;
				c->out_len += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= table_size)
			return broken(vq, "next index %u beyond the %s table of %u", idx,
				      indirect ? "indirect" : "descriptor", table_size);
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t avail, pending, head;
	int r;

	if (vq->broken)
		return -EIO;
	if (!vq->ready)
		return 0;
	avail = avail_idx(vq);
	pending = (uint16_t)(avail - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return broken(vq, "available index %u is %u entries ahead of %u (queue size %u)",
			      avail, pending, vq->last_avail, vq->size);
	head = load16(&vq->avail[AVAIL_RING(vq->last_avail & (vq->size - 1))]);
	if (head >= vq->size)
		return broken(vq, "head index %u beyond the queue size %u", head, vq->size);
	r = walk_chain(vq, head, chain);
	if (r)
		return r;
	vq->last_avail++;
	return 1;
}

int virtq_next(struct virtq *vq, struct virtq_chain *chain)
{
	for (;;) {
		int r;

		virtq_enable_notify(vq, false);
		r = virtq_pop(vq, chain);
		if (r)
			return r;
		virtq_enable_notify(vq, true);
		if (!virtq_has_avail(vq))
			return 0;
	}
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	uint32_t *entry;

	if (!vq->ready)
		return;
	entry = (uint32_t *)(vq->used + 2) + 2 * (vq->used_idx & (vq->size - 1));
	__atomic_store_n(&entry[0], (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&entry[1], written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* The entry must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used[USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, new, used_event;
	bool valid;

	if (!vq->ready)
		return false;
	/* Our used index store must be ordered before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	new = vq->used_idx;
	valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	used_event = load16(&vq->avail[AVAIL_RING(vq->size)]);
	/* Section 2.7.10: interrupt when used_event lies in (old, new]. */
	return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
}

void virtq_enable_notify(struct virtq *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->event_idx) {
		/* avail_event follows the used ring's entries. */
		if (enable)
			store16(&vq->used[2 + 4 * (uint32_t)vq->size], vq->last_avail);
	} else {
		store16(&vq->used[USED_FLAGS], enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	/* Publish before the caller re-reads the available index. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static uint64_t chain_copy(const struct virtq_chain *c, bool in, uint64_t off, uint8_t *buf,
			   uint64_t len)
{
	unsigned int i = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out;
	uint64_t done = 0;

	for (; i < end && done < len; i++) {
		const struct virtq_seg *s = &c->segs[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (in)
			memcpy(s->host + off, buf + done, n);
		else
			memcpy(buf + done, s->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint64_t len)
{
	return chain_copy(c, false, off, dst, len);
}

uint64_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, uint64_t len)
{
	return chain_copy(c, true, off, (uint8_t *)(uintptr_t)src, len);
}
