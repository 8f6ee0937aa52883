/* SPDX-License-Identifier: MIT */
/*
 * tg.mode=virtio-hostile: feed each device malformed rings and check that
 * the device flags itself DEVICE_NEEDS_RESET (or, where said, refuses the
 * request), that a reset and a new initialisation bring it back, and that
 * a good request then works. Each case is one TAP line; the cases and
 * what each expects are listed in docs/testguest.md.
 */
#include "virtio.h"

#define HQ 8 /* the queue size the cases use */
#define OBSERVE_MS 200

static char why[200];
static u8 hdata[4096] __attribute__((aligned(4096), section(".noinit")));
static struct {
	u32 type, reserved;
	u64 sector;
	u8 status;
} hblk __attribute__((aligned(64)));

/* The good request of each device: its queue and its buffers. */
struct tmpl {
	unsigned int q, nq, n, di; /* queue, queues to set up, buffers, the data buffer */
	struct vbuf b[4];
};

static bool tmpl_for(struct vdev *d, struct tmpl *t)
{
	static const u8 arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x74,
				   0x67, 0x02, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
				   0x00, 0x01, 0x52, 0x54, 0x00, 0x74, 0x67, 0x02, 10,	 0,
				   2,	 15,   0,    0,	   0,	 0,    0,    0,	   10,	 0,
				   2,	 1};

	memset(t, 0, sizeof(*t));
	switch (d->id) {
	case VIRTIO_ID_BLK: /* read sector 0 */
		t->nq = 1;
		t->n = 3;
		t->di = 1;
		t->b[0] = (struct vbuf){(u64)&hblk, 16, false};
		t->b[1] = (struct vbuf){(u64)hdata, 512, true};
		t->b[2] = (struct vbuf){(u64)&hblk.status, 1, true};
		return true;
	case VIRTIO_ID_RNG: /* 64 bytes */
		t->nq = 1;
		t->n = 1;
		t->b[0] = (struct vbuf){(u64)hdata, 64, true};
		return true;
	case VIRTIO_ID_NET: /* transmit an ARP request for 10.0.2.1 */
		t->q = 1;
		t->nq = 2;
		t->n = 1;
		memset(hdata, 0, 12);
		memcpy(hdata + 12, arp, sizeof(arp));
		t->b[0] = (struct vbuf){(u64)hdata, 12 + sizeof(arp), false};
		return true;
	case VIRTIO_ID_CONSOLE: /* transmit a line on port 0 */
		t->q = 1;
		t->nq = 2;
		t->n = 1;
		memcpy(hdata, "tg: vcon hostile\n", 17);
		t->b[0] = (struct vbuf){(u64)hdata, 17, false};
		return true;
	}
	return false;
}

static void tmpl_reset_data(struct vdev *d)
{
	hblk.type = 0; /* VIRTIO_BLK_T_IN */
	hblk.reserved = 0;
	hblk.sector = 0;
	hblk.status = 0xee;
	if (d->id == VIRTIO_ID_CONSOLE)
		memcpy(hdata, "tg: vcon hostile\n", 17);
}

/* Initialise with queues of HQ entries. */
static bool hinit(struct vdev *d, const struct tmpl *t)
{
	if (!vdev_begin(d, VF_BIT(VF_INDIRECT_DESC), why, sizeof(why)))
		return false;
	for (unsigned int i = 0; i < t->nq; i++)
		if (!vq_setup(d, i, HQ, why, sizeof(why)))
			return false;
	return vdev_finish(d, why, sizeof(why));
}

/* Reset, initialise again, one good request. */
static bool recover(struct vdev *d, const struct tmpl *t)
{
	u32 len;

	if (!hinit(d, t))
		return false;
	tmpl_reset_data(d);
	if (!vq_xfer(&d->q[t->q], t->b, t->n, false, &len, why, sizeof(why)))
		return false;
	if (d->id == VIRTIO_ID_BLK && hblk.status != 0)
		return snprintf(why, sizeof(why), "status %u", hblk.status), false;
	if (d->id == VIRTIO_ID_RNG && !len)
		return snprintf(why, sizeof(why), "used length 0"), false;
	return true;
}

static void rdesc(struct vq *q, unsigned int i, u64 addr, u32 len, u16 flags, u16 next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

/* The template as a chain in `tab` from index `at`; returns the count. */
static unsigned int chain(volatile struct vring_desc *tab, unsigned int at, const struct tmpl *t)
{
	for (unsigned int i = 0; i < t->n; i++) {
		tab[at + i].addr = t->b[i].addr;
		tab[at + i].len = t->b[i].len;
		tab[at + i].flags = (u16)((t->b[i].write ? VRING_DESC_F_WRITE : 0) |
					  (i + 1 < t->n ? VRING_DESC_F_NEXT : 0));
		tab[at + i].next = (u16)(at + i + 1);
	}
	return t->n;
}

static void publish(struct vq *q, u16 head, u16 idx)
{
	wr16(AVAIL_RING(q, 0), head);
	barrier();
	wr16(AVAIL_IDX(q), idx);
	mb();
	vw32(q->dev, VM_QUEUE_NOTIFY, q->index);
}

enum outcome { O_FLAGGED, O_COMPLETED, O_NOTHING };
static const char *const outcome_names[] = {"DEVICE_NEEDS_RESET set", "completed",
					    "neither flagged nor completed"};

static enum outcome observe(struct vq *q, u32 *len)
{
	u64 end = rdtsc() + ms_to_tsc(OBSERVE_MS);

	for (;;) {
		if (vr32(q->dev, VM_STATUS) & VS_NEEDS_RESET)
			return O_FLAGGED;
		if (rd16(USED_IDX(q)) != 0) {
			/* Give a late flag a moment (a device may complete, then flag). */
			u64 e2 = rdtsc() + ms_to_tsc(10);

			while (rdtsc() < e2)
				if (vr32(q->dev, VM_STATUS) & VS_NEEDS_RESET)
					return O_FLAGGED;
			*len = rd32(USED_LEN(q, 0));
			return O_COMPLETED;
		}
		if (rdtsc() > end)
			return O_NOTHING;
		__asm__ volatile("pause");
	}
}

enum hcase {
	H_ADDR_OUTSIDE,
	H_LEN_PAST_END,
	H_LOOP,
	H_NEXT_RANGE,
	H_HEAD_RANGE,
	H_AVAIL_AHEAD,
	H_IND_LONG,
	H_IND_LEN16,
	H_IND_BIG,
	H_IND_NESTED,
	H_BLK_ORDER,
	H_QUEUE_NUM,
	H_COUNT
};

static const char *const hcase_names[H_COUNT] = {
	[H_ADDR_OUTSIDE] = "a descriptor address outside RAM (1 TiB)",
	[H_LEN_PAST_END] = "a descriptor whose length runs past the end of RAM",
	[H_LOOP] = "a descriptor loop (the last next points back to the data descriptor)",
	[H_NEXT_RANGE] = "a next index beyond the queue size",
	[H_HEAD_RANGE] = "an avail ring head beyond the queue size",
	[H_AVAIL_AHEAD] = "avail idx queue size + 1 ahead of the device",
	[H_IND_LONG] = "an indirect table of queue size + 1 descriptors (must be served)",
	[H_IND_LEN16] = "an indirect table length not a multiple of 16",
	[H_IND_BIG] = "an indirect table of 1 MiB (65536 descriptors)",
	[H_IND_NESTED] = "a nested indirect descriptor",
	[H_BLK_ORDER] = "a device-readable descriptor after a device-writable one",
	[H_QUEUE_NUM] = "QueueNum not a power of two",
};

/* The low RAM's end (the RAM that holds the image). */
static u64 ram_end;

/* QueueNum 2^k + 1: QueueReady must not take, or the device flags itself. */
static bool queue_num_case(struct vdev *d, const struct tmpl *t, char *seen, size_t n)
{
	u32 max, num, ready, st;
	u64 mem;

	if (!vdev_begin(d, VF_BIT(VF_INDIRECT_DESC), why, sizeof(why))) {
		snprintf(seen, n, "initialisation: %s", why);
		return false;
	}
	vw32(d, VM_QUEUE_SEL, t->q);
	max = vr32(d, VM_QUEUE_NUM_MAX);
	num = max > HQ + 1 ? HQ + 1 : max - 1;
	if (max < 3) {
		snprintf(seen, n, "QueueNumMax %u", max);
		return false;
	}
	/* A normal set-up gives the queue's ring area (its rings fit HQ + 1 entries too). */
	if (!vq_setup(d, t->q, HQ, why, sizeof(why))) {
		snprintf(seen, n, "set-up: %s", why);
		return false;
	}
	vdev_begin(d, VF_BIT(VF_INDIRECT_DESC), why, sizeof(why));
	mem = d->q[t->q].mem;
	vw32(d, VM_QUEUE_SEL, t->q);
	vw32(d, VM_QUEUE_NUM, num);
	vw32(d, VM_QUEUE_DESC_LO, (u32)mem);
	vw32(d, VM_QUEUE_DESC_HI, (u32)(mem >> 32));
	vw32(d, VM_QUEUE_DRIVER_LO, (u32)(mem + 4096));
	vw32(d, VM_QUEUE_DRIVER_HI, (u32)((mem + 4096) >> 32));
	vw32(d, VM_QUEUE_DEVICE_LO, (u32)(mem + 8192));
	vw32(d, VM_QUEUE_DEVICE_HI, (u32)((mem + 8192) >> 32));
	vw32(d, VM_QUEUE_READY, 1);
	ready = vr32(d, VM_QUEUE_READY);
	st = vr32(d, VM_STATUS);
	if (!ready || (st & VS_NEEDS_RESET)) {
		snprintf(seen, n, "QueueNum %u: QueueReady reads %u, Status %#x", num, ready, st);
		return true;
	}
	vw32(d, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	st = vr32(d, VM_STATUS);
	snprintf(seen, n, "QueueNum %u: QueueReady reads 1, Status %#x after DRIVER_OK", num, st);
	return (st & (VS_NEEDS_RESET | VS_FAILED)) != 0;
}

static void run_case(struct vdev *d, const struct tmpl *t, enum hcase c)
{
	const char *soft = tg_entry.protocol == 16 ? "the firmware's machine (protocol 16)" : NULL;
	struct vq *q;
	volatile struct vring_desc *ind;
	char seen[160];
	bool indirect = c == H_IND_LONG || c == H_IND_LEN16 || c == H_IND_BIG || c == H_IND_NESTED;
	bool refused = false, recovered;
	enum outcome o;
	u32 len = 0;
	unsigned int k;

	if (c == H_BLK_ORDER && d->id != VIRTIO_ID_BLK)
		return;
	tap_begin();
	seen[0] = 0;
	if (c == H_QUEUE_NUM) {
		refused = queue_num_case(d, t, seen, sizeof(seen));
		goto recover;
	}
	if (!hinit(d, t)) {
		tap_fail("initialisation: %s", why);
		tap_end("%s hostile: %s", d->name, hcase_names[c]);
		return;
	}
	if (indirect && !(d->features & VF_BIT(VF_INDIRECT_DESC))) {
		tap_skip("VIRTIO_F_INDIRECT_DESC not offered", "%s hostile: %s", d->name,
			 hcase_names[c]);
		return;
	}
	q = &d->q[t->q];
	ind = (volatile struct vring_desc *)(q->mem + VQ_IND_OFF);
	tmpl_reset_data(d);
	switch (c) {
	case H_ADDR_OUTSIDE:
		chain(q->desc, 0, t);
		q->desc[t->di].addr = 1UL << 40;
		publish(q, 0, 1);
		break;
	case H_LEN_PAST_END:
		chain(q->desc, 0, t);
		q->desc[t->di].addr = ram_end - 256;
		q->desc[t->di].len = 4096;
		publish(q, 0, 1);
		break;
	case H_LOOP:
		k = chain(q->desc, 0, t);
		q->desc[k - 1].flags |= VRING_DESC_F_NEXT;
		q->desc[k - 1].next = (u16)t->di;
		publish(q, 0, 1);
		break;
	case H_NEXT_RANGE:
		k = chain(q->desc, 0, t);
		q->desc[k - 1].flags |= VRING_DESC_F_NEXT;
		q->desc[k - 1].next = HQ + 5;
		publish(q, 0, 1);
		break;
	case H_HEAD_RANGE:
		chain(q->desc, 0, t);
		publish(q, HQ + 3, 1);
		break;
	case H_AVAIL_AHEAD:
		chain(q->desc, 0, t);
		for (unsigned int i = 1; i < HQ; i++)
			wr16(AVAIL_RING(q, i), 0);
		publish(q, 0, HQ + 1);
		break;
	case H_IND_LONG:
		/* The template with its data split into HQ + 2 - n pieces. */
		k = 0;
		for (unsigned int i = 0; i < t->n; i++) {
			unsigned int pieces = i == t->di ? HQ + 2 - t->n : 1;
			u32 piece = t->b[i].len / pieces;

			for (unsigned int p = 0; p < pieces; p++, k++) {
				ind[k].addr = t->b[i].addr + p * piece;
				ind[k].len = p + 1 < pieces ? piece : t->b[i].len - p * piece;
				ind[k].flags = (u16)((t->b[i].write ? VRING_DESC_F_WRITE : 0) |
						     VRING_DESC_F_NEXT);
				ind[k].next = (u16)(k + 1);
			}
		}
		ind[k - 1].flags &= (u16)~VRING_DESC_F_NEXT;
		rdesc(q, 0, (u64)ind, k * 16, VRING_DESC_F_INDIRECT, 0);
		publish(q, 0, 1);
		snprintf(seen, sizeof(seen), "%u descriptors; ", k);
		break;
	case H_IND_LEN16:
		k = chain(ind, 0, t);
		rdesc(q, 0, (u64)ind, k * 16 + 8, VRING_DESC_F_INDIRECT, 0);
		publish(q, 0, 1);
		break;
	case H_IND_BIG:
		chain(ind, 0, t);
		rdesc(q, 0, (u64)ind, 1U << 20, VRING_DESC_F_INDIRECT, 0);
		publish(q, 0, 1);
		break;
	case H_IND_NESTED:
		k = chain(ind, 8, t); /* the inner table at entry 8 */
		ind[0].addr = (u64)(ind + 8);
		ind[0].len = k * 16;
		ind[0].flags = VRING_DESC_F_INDIRECT;
		ind[0].next = 0;
		rdesc(q, 0, (u64)ind, 16, VRING_DESC_F_INDIRECT, 0);
		publish(q, 0, 1);
		break;
	case H_BLK_ORDER:
		/* header (R), data (W), data (R), status (W) */
		rdesc(q, 0, (u64)&hblk, 16, VRING_DESC_F_NEXT, 1);
		rdesc(q, 1, (u64)hdata, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
		rdesc(q, 2, (u64)hdata + 512, 512, VRING_DESC_F_NEXT, 3);
		rdesc(q, 3, (u64)&hblk.status, 1, VRING_DESC_F_WRITE, 0);
		publish(q, 0, 1);
		break;
	default:
		break;
	}
	o = observe(q, &len);
	{
		size_t l = strlen(seen);

		snprintf(seen + l, sizeof(seen) - l, "%s", outcome_names[o]);
		l = strlen(seen);
		if (o == O_COMPLETED && d->id == VIRTIO_ID_BLK)
			snprintf(seen + l, sizeof(seen) - l, " (used length %u, status %u)", len,
				 hblk.status);
		else if (o == O_COMPLETED)
			snprintf(seen + l, sizeof(seen) - l, " (used length %u)", len);
	}
	refused = o == O_FLAGGED;
	/*
	 * Not hostile at all: Linux's virtqueue_add_split() puts more descriptors
	 * in an indirect table than the ring has entries whenever a request has
	 * that many segments, so a device must serve it (within its own limit).
	 */
	if (c == H_IND_LONG)
		refused = o == O_COMPLETED && (d->id != VIRTIO_ID_BLK || hblk.status == 0);
	/* A blk request the device completes with an error status is refused too. */
	if (c == H_BLK_ORDER && o == O_COMPLETED && hblk.status != 0 && hblk.status != 0xee)
		refused = true;

recover:
	tap_diag("%s hostile: %s: %s", d->name, hcase_names[c], seen);
	recovered = recover(d, t);
	if (!recovered) {
		tap_fail("after reset and re-initialisation, a good request failed: %s", why);
		tap_end("%s hostile: %s", d->name, hcase_names[c]);
		return;
	}
	if (!refused)
		tap_fail("%s", seen);
	tap_end_soft(soft, "%s hostile: %s: %s, then reset, re-initialised, a good request works",
		     d->name, hcase_names[c], c == H_IND_LONG ? "served" : "flagged or refused");
}

void run_vhostile_checks(struct vdev *d)
{
	struct tmpl t;

	if (!tmpl_for(d, &t)) {
		tap_skip("no hostile cases for this device type", "%s: device ID %u", d->name,
			 d->id);
		return;
	}
	ram_end = e820_ram_end_at((u64)hdata);
	tap_begin();
	if (!recover(d, &t))
		tap_fail("%s", why);
	tap_end("%s hostile: initialised (queue size %u), a good request works", d->name, HQ);
	for (int c = 0; c < H_COUNT; c++)
		run_case(d, &t, (enum hcase)c);
}
