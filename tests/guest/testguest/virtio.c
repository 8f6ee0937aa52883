/* SPDX-License-Identifier: MIT */
/*
 * A small virtio-mmio driver library, run at CPL3 (docs/testguest.md,
 * "virtio"): the devices come from the kernel command line's
 * virtio_mmio.device=<size>@<base>:<irq>[:<id>] entries; each is set up in
 * the order of the VIRTIO 1.x specification (3.1.1, 4.2.3), with split
 * virtqueues, optional VIRTIO_F_RING_EVENT_IDX and indirect descriptors,
 * completion polled from the used ring or driven by the device's IOAPIC
 * pin (the CPL0 handler in kernel.c acknowledges InterruptStatus).
 *
 * x86 keeps stores in order and loads in order, so the ring protocol needs
 * compiler barriers between the ring writes and the index write, and a
 * full barrier (mb()) only where a store must be visible before a load:
 * publishing avail->idx before reading the device's notification
 * suppression, and writing used_event before re-reading used->idx.
 */
#include "virtio.h"

struct vdev vdevs[TG_VIRTIO_SLOTS];
unsigned int nvdevs;

/* Two queues per device: rings and indirect tables (VQ_AREA bytes each). */
static u8 vq_area[TG_VIRTIO_SLOTS][2][VQ_AREA] __attribute__((aligned(4096), section(".noinit")));

u64 ms_to_tsc(u64 ms)
{
	const char *how;

	return ms * tsc_khz(&how);
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* ---- the command line ---- */

/* Linux's memparse(): decimal, 0x hex or 0 octal, then an optional K/M/G. */
static bool parse_num(const char **sp, u64 *out, bool suffix)
{
	const char *s = *sp;
	u64 v = 0, base = 10;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	for (;; s++, digits++) {
		u64 d;

		if (*s >= '0' && *s <= '9')
			d = (u64)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (u64)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (u64)(*s - 'A' + 10);
		else
			break;
		if (d >= base)
			return false;
		v = v * base + d;
	}
	if (!digits)
		return false;
	if (suffix) {
		if (*s == 'k' || *s == 'K')
			v <<= 10, s++;
		else if (*s == 'm' || *s == 'M')
			v <<= 20, s++;
		else if (*s == 'g' || *s == 'G')
			v <<= 30, s++;
	}
	*sp = s;
	*out = v;
	return true;
}

static const char *id_name(u32 id)
{
	switch (id) {
	case VIRTIO_ID_NET:
		return "net";
	case VIRTIO_ID_BLK:
		return "blk";
	case VIRTIO_ID_CONSOLE:
		return "console";
	case VIRTIO_ID_RNG:
		return "rng";
	default:
		return "dev";
	}
}

/* One entry: "<size>@<base>:<irq>[:<id>]" up to the end of the token. */
static void add_entry(const char *s, const char *end, unsigned int *bad)
{
	u64 size, base, irq, id;
	struct vdev *d;

	if (!parse_num(&s, &size, true) || *s++ != '@' || !parse_num(&s, &base, false) ||
	    *s++ != ':' || !parse_num(&s, &irq, false) ||
	    (s < end && (*s++ != ':' || !parse_num(&s, &id, false))) || s != end) {
		(*bad)++;
		return;
	}
	if (nvdevs == TG_VIRTIO_SLOTS) {
		tap_diag("virtio: more than %u devices; %#lx ignored", TG_VIRTIO_SLOTS, base);
		return;
	}
	d = &vdevs[nvdevs];
	memset(d, 0, sizeof(*d));
	d->base = base;
	d->size = size;
	d->pin = irq < 256 ? (int)irq : -1;
	d->slot = nvdevs++;
}

static unsigned int parse_entries(void)
{
	static const char key[] = "virtio_mmio.device=";
	const char *c = tg_cmdline();
	unsigned int bad = 0;

	while (*c) {
		const char *t, *e;

		while (*c == ' ' || *c == '\t' || *c == '\n')
			c++;
		t = c;
		while (*c && *c != ' ' && *c != '\t' && *c != '\n')
			c++;
		e = c;
		if ((size_t)(e - t) > sizeof(key) - 1 && !memcmp(t, key, sizeof(key) - 1))
			add_entry(t + sizeof(key) - 1, e, &bad);
	}
	return bad;
}

void virtio_discover(void)
{
	unsigned int bad, counts[8] = {0};

	nvdevs = 0;
	bad = parse_entries();
	tap_begin();
	if (bad)
		tap_fail("%u virtio_mmio.device= entries do not parse", bad);
	for (unsigned int i = 0; i < nvdevs; i++) {
		struct vdev *d = &vdevs[i];
		u32 magic;

		if (d->size < 0x200 || d->base + d->size > tg_mapped_limit || (d->base & 0x1ff)) {
			tap_fail("window %#lx+%#lx unusable", d->base, d->size);
			d->id = 0;
			continue;
		}
		magic = vr32(d, VM_MAGIC);
		d->version = vr32(d, VM_VERSION);
		d->id = vr32(d, VM_DEVICE_ID);
		d->vendor = vr32(d, VM_VENDOR_ID);
		if (magic != VIRTIO_MAGIC) {
			tap_fail("%#lx: MagicValue %#x", d->base, magic);
			d->id = 0;
		} else if (d->version != 2) {
			tap_fail("%#lx: Version %u, expected 2 (modern)", d->base, d->version);
			d->id = 0;
		}
		if (d->id && d->pin < 0)
			tap_fail("%#lx: irq out of range", d->base);
		snprintf(d->name, sizeof(d->name), "%s%u", id_name(d->id),
			 counts[d->id < 8 ? d->id : 0]++);
		tap_diag("virtio: %s at %#lx+%#lx pin %d: version %u device %u vendor %#x", d->name,
			 d->base, d->size, d->pin, d->version, d->id, d->vendor);
	}
	tap_end("virtio: %u virtio_mmio.device= entries, MagicValue \"virt\", Version 2", nvdevs);
}

/* ---- config space ---- */

u8 vcfg8(struct vdev *d, u32 off)
{
	return rd8(d->base + VM_CONFIG + off);
}

u16 vcfg16(struct vdev *d, u32 off)
{
	return rd16(d->base + VM_CONFIG + off);
}

u32 vcfg32(struct vdev *d, u32 off)
{
	return rd32(d->base + VM_CONFIG + off);
}

/* Two 32-bit halves, read again while ConfigGeneration changes (4.2.2). */
u64 vcfg64(struct vdev *d, u32 off)
{
	u32 g, lo, hi;
	int tries = 0;

	do {
		g = vr32(d, VM_CONFIG_GENERATION);
		lo = vcfg32(d, off);
		hi = vcfg32(d, off + 4);
	} while (vr32(d, VM_CONFIG_GENERATION) != g && ++tries < 10);
	return (u64)hi << 32 | lo;
}

/* ---- initialisation ---- */

bool vdev_reset(struct vdev *d)
{
	u64 end = rdtsc() + ms_to_tsc(100);

	vw32(d, VM_STATUS, 0);
	while (vr32(d, VM_STATUS) != 0)
		if (rdtsc() > end)
			return false;
	for (unsigned int i = 0; i < d->nq; i++)
		d->q[i].num = 0;
	d->nq = 0;
	vdev_ack(d);
	return true;
}

#define WHY(...) snprintf(why, n, __VA_ARGS__)

bool vdev_begin(struct vdev *d, u64 want, char *why, size_t n)
{
	u32 st;

	if (!vdev_reset(d))
		return WHY("Status does not read 0 after the reset"), false;
	vw32(d, VM_STATUS, VS_ACKNOWLEDGE);
	vw32(d, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER);
	vw32(d, VM_DEVICE_FEATURES_SEL, 0);
	d->offered = vr32(d, VM_DEVICE_FEATURES);
	vw32(d, VM_DEVICE_FEATURES_SEL, 1);
	d->offered |= (u64)vr32(d, VM_DEVICE_FEATURES) << 32;
	if (!(d->offered & VF_BIT(VF_VERSION_1)))
		return WHY("VIRTIO_F_VERSION_1 not offered (features %#lx)", d->offered), false;
	d->features = d->offered & (want | VF_BIT(VF_VERSION_1));
	vw32(d, VM_DRIVER_FEATURES_SEL, 0);
	vw32(d, VM_DRIVER_FEATURES, (u32)d->features);
	vw32(d, VM_DRIVER_FEATURES_SEL, 1);
	vw32(d, VM_DRIVER_FEATURES, (u32)(d->features >> 32));
	vw32(d, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK);
	st = vr32(d, VM_STATUS);
	if (!(st & VS_FEATURES_OK))
		return WHY("FEATURES_OK did not stick (Status %#x, features %#lx)", st,
			   d->features),
		       false;
	return true;
}

bool vq_setup(struct vdev *d, unsigned int index, unsigned int num, char *why, size_t n)
{
	struct vq *q = &d->q[index];
	u32 max;
	u64 mem;

	if (index >= ARRAY_SIZE(d->q))
		return WHY("queue %u: the library handles 2 queues", index), false;
	vw32(d, VM_QUEUE_SEL, index);
	if (vr32(d, VM_QUEUE_READY))
		return WHY("queue %u: QueueReady reads 1 before set-up", index), false;
	max = vr32(d, VM_QUEUE_NUM_MAX);
	if (!max)
		return WHY("queue %u: QueueNumMax 0 (no such queue)", index), false;
	if (!num)
		num = max < VQ_MAX ? max : VQ_MAX;
	if (num > max || num > VQ_MAX)
		return WHY("queue %u: %u entries, QueueNumMax %u", index, num, max), false;
	mem = (u64)vq_area[d->slot][index];
	memset((void *)mem, 0, VQ_AREA);
	memset(q, 0, sizeof(*q));
	q->dev = d;
	q->index = (u16)index;
	q->num = (u16)num;
	q->mem = mem;
	q->desc = (volatile struct vring_desc *)mem;
	q->avail = mem + 4096;
	q->used = mem + 8192;
	q->event_idx = !!(d->features & VF_BIT(VF_EVENT_IDX));
	q->indirect = !!(d->features & VF_BIT(VF_INDIRECT_DESC));
	for (unsigned int i = 0; i < num; i++)
		q->desc[i].next = (u16)(i + 1);
	q->free_head = 0;
	q->nfree = (u16)num;
	vq_set_irq(q, false);
	vw32(d, VM_QUEUE_NUM, num);
	vw32(d, VM_QUEUE_DESC_LO, (u32)mem);
	vw32(d, VM_QUEUE_DESC_HI, (u32)(mem >> 32));
	vw32(d, VM_QUEUE_DRIVER_LO, (u32)q->avail);
	vw32(d, VM_QUEUE_DRIVER_HI, (u32)(q->avail >> 32));
	vw32(d, VM_QUEUE_DEVICE_LO, (u32)q->used);
	vw32(d, VM_QUEUE_DEVICE_HI, (u32)(q->used >> 32));
	vw32(d, VM_QUEUE_READY, 1);
	if (vr32(d, VM_QUEUE_READY) != 1)
		return WHY("queue %u: QueueReady does not read 1", index), false;
	if (index >= d->nq)
		d->nq = index + 1;
	return true;
}

bool vdev_finish(struct vdev *d, char *why, size_t n)
{
	u32 st;

	vw32(d, VM_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
	st = vr32(d, VM_STATUS);
	if (st != (VS_ACKNOWLEDGE | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK))
		return WHY("Status %#x after DRIVER_OK", st), false;
	return true;
}

bool vdev_init(struct vdev *d, u64 want, unsigned int nqueues, char *why, size_t n)
{
	if (!vdev_begin(d, want, why, n))
		return false;
	for (unsigned int i = 0; i < nqueues; i++)
		if (!vq_setup(d, i, 0, why, n))
			return false;
	return vdev_finish(d, why, n);
}

/* ---- interrupts ---- */

#define IOAPIC 0xfec00000UL

static u32 ioapic_read(u32 reg)
{
	wr32(IOAPIC, reg);
	return rd32(IOAPIC + 0x10);
}

static void ioapic_write(u32 reg, u32 v)
{
	wr32(IOAPIC, reg);
	wr32(IOAPIC + 0x10, v);
}

void vdev_ack(struct vdev *d)
{
	u32 st = vr32(d, VM_INTERRUPT_STATUS);

	if (st)
		vw32(d, VM_INTERRUPT_ACK, st);
}

bool vdev_route_irq(struct vdev *d, bool on)
{
	static bool irq_on;
	u32 pins = ((ioapic_read(1) >> 16) & 0xff) + 1;

	if (d->pin < 0 || (u32)d->pin >= pins)
		return false;
	if (!on) {
		ioapic_write(0x10 + 2 * (u32)d->pin, 0x10000 | (TG_VEC_VIRTIO + d->slot));
		d->routed = false;
		return true;
	}
	vio_irq.base[d->slot] = d->base;
	vdev_ack(d);
	if (!irq_on) {
		kcall(KREQ_IRQ_ON); /* the LAPIC, and IF=1 at CPL3 from now on */
		irq_on = true;
	}
	/* Fixed, physical destination: this CPU; edge, active high, unmasked. */
	ioapic_write(0x10 + 2 * (u32)d->pin + 1, (rd32(TG_LAPIC_ID_REG) >> 24) << 24);
	ioapic_write(0x10 + 2 * (u32)d->pin, TG_VEC_VIRTIO + d->slot);
	d->routed = true;
	return true;
}

/* ---- virtqueues ---- */

void vq_set_irq(struct vq *q, bool irq)
{
	q->irq = irq;
	if (q->event_idx) {
		/* Interrupt when entry last_used is written; else never (until a wrap). */
		wr16(USED_EVENT(q), irq ? q->last_used : (u16)(q->last_used - 1));
		wr16(AVAIL_FLAGS(q), 0);
	} else {
		wr16(AVAIL_FLAGS(q), irq ? 0 : VRING_AVAIL_F_NO_INTERRUPT);
	}
	q->irq_seen = vio_irq.count[q->dev->slot];
	q->irq_ok = false;
	mb();
}

int vq_add(struct vq *q, const struct vbuf *b, unsigned int n, bool indirect)
{
	u16 head, idx;

	if (!n)
		return -1;
	if (indirect) {
		volatile struct vring_desc *t;
		unsigned int k;

		if (n > VQ_INDIRECT_MAX || !q->nfree)
			return -1;
		for (k = 0; k < VQ_INDIRECT_TABLES && q->ind_busy[k]; k++)
			;
		if (k == VQ_INDIRECT_TABLES)
			return -1;
		t = (volatile struct vring_desc *)(q->mem + VQ_IND_OFF +
						   k * VQ_INDIRECT_MAX * sizeof(struct vring_desc));
		for (unsigned int i = 0; i < n; i++) {
			t[i].addr = b[i].addr;
			t[i].len = b[i].len;
			t[i].flags = (u16)((b[i].write ? VRING_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			t[i].next = (u16)(i + 1 < n ? i + 1 : 0);
		}
		head = q->free_head;
		q->free_head = q->desc[head].next;
		q->nfree--;
		q->desc[head].addr = (u64)t;
		q->desc[head].len = n * sizeof(struct vring_desc);
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->ind_busy[k] = 1;
		q->ind_used[head] = (u8)(k + 1);
		q->chain_len[head] = 1;
	} else {
		u16 i;

		if (n > q->nfree)
			return -1;
		head = i = q->free_head;
		for (unsigned int j = 0; j < n; j++) {
			q->desc[i].addr = b[j].addr;
			q->desc[i].len = b[j].len;
			q->desc[i].flags = (u16)((b[j].write ? VRING_DESC_F_WRITE : 0) |
						 (j + 1 < n ? VRING_DESC_F_NEXT : 0));
			i = q->desc[i].next;
		}
		q->free_head = i;
		q->nfree = (u16)(q->nfree - n);
		q->ind_used[head] = 0;
		q->chain_len[head] = (u16)n;
	}
	idx = q->avail_idx++;
	wr16(AVAIL_RING(q, idx % q->num), head);
	return head;
}

void vq_kick(struct vq *q)
{
	u16 old = rd16(AVAIL_IDX(q)), new = q->avail_idx;
	bool notify;

	barrier(); /* descriptors and ring entries before the index (x86: stores in order) */
	wr16(AVAIL_IDX(q), new);
	mb(); /* the index visible before we read the device's suppression fields */
	if (q->event_idx) {
		u16 ev = rd16(AVAIL_EVENT(q));

		notify = (u16)(new - ev - 1) < (u16)(new - old);
	} else {
		notify = !(rd16(USED_FLAGS(q)) & VRING_USED_F_NO_NOTIFY);
	}
	if (notify) {
		vw32(q->dev, VM_QUEUE_NOTIFY, q->index);
		q->notifies++;
	} else {
		q->notify_skipped++;
	}
}

bool vq_get(struct vq *q, u32 *head, u32 *len)
{
	u16 u = q->last_used, id, d;
	u32 l;

	if (rd16(USED_IDX(q)) == u)
		return false;
	barrier(); /* the entry after the index (x86: loads in order) */
	id = (u16)rd32(USED_ID(q, u % q->num));
	l = rd32(USED_LEN(q, u % q->num));
	q->last_used = (u16)(u + 1);
	if (q->event_idx) {
		wr16(USED_EVENT(q), q->irq ? q->last_used : (u16)(q->last_used - 1));
		mb(); /* used_event visible before the next read of used->idx */
	}
	if (id < q->num && q->chain_len[id]) {
		/* Give the chain's descriptors back. */
		d = id;
		for (u16 k = 1; k < q->chain_len[id]; k++)
			d = q->desc[d].next;
		q->desc[d].next = q->free_head;
		q->free_head = id;
		q->nfree = (u16)(q->nfree + q->chain_len[id]);
		q->chain_len[id] = 0;
		if (q->ind_used[id]) {
			q->ind_busy[q->ind_used[id] - 1] = 0;
			q->ind_used[id] = 0;
		}
	}
	*head = id;
	*len = l;
	return true;
}

bool vq_wait(struct vq *q, u32 *head, u32 *len, u64 ms, char *why, size_t n)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	unsigned int slot = q->dev->slot;

	for (;;) {
		if (q->irq) {
			/*
			 * Interrupt-driven: an entry is taken only once an interrupt
			 * came since the used ring was last found empty (one
			 * interrupt may cover several entries).
			 */
			u32 c = vio_irq.count[slot];

			if (c != q->irq_seen) {
				q->irq_seen = c;
				q->irq_ok = true;
			}
			if (q->irq_ok) {
				if (vq_get(q, head, len))
					return true;
				q->irq_ok = false;
			}
		} else if (vq_get(q, head, len)) {
			return true;
		}
		if (rdtsc() > end) {
			u32 st = vr32(q->dev, VM_STATUS);

			WHY("%s queue %u: no used entry within %lu ms (used idx %u, last %u, "
			    "Status %#x, interrupts %u)",
			    q->dev->name, q->index, ms, rd16(USED_IDX(q)), q->last_used, st,
			    vio_irq.count[slot]);
			return false;
		}
		cpu_relax();
	}
}

bool vq_xfer(struct vq *q, const struct vbuf *b, unsigned int n, bool indirect, u32 *len,
	     char *why, size_t wn)
{
	u32 head, h, irqs = vio_irq.count[q->dev->slot];
	int r = vq_add(q, b, n, indirect);

	if (r < 0) {
		snprintf(why, wn, "%s queue %u: no room for a %u-descriptor chain", q->dev->name,
			 q->index, n);
		return false;
	}
	head = (u32)r;
	vq_kick(q);
	if (!vq_wait(q, &h, len, 2000, why, wn))
		return false;
	if (h != head) {
		snprintf(why, wn, "%s queue %u: used id %u, expected %u", q->dev->name, q->index,
			 h, head);
		return false;
	}
	if (q->irq && vio_irq.count[q->dev->slot] == irqs) {
		snprintf(why, wn, "%s queue %u: completed without an interrupt", q->dev->name,
			 q->index);
		return false;
	}
	return true;
}

/* ---- the mode ---- */

void run_virtio_checks(bool hostile)
{
	virtio_discover();
	for (unsigned int i = 0; i < nvdevs; i++) {
		struct vdev *d = &vdevs[i];

		if (!d->id)
			continue;
		if (hostile)
			run_vhostile_checks(d);
		else
			run_vdev_checks(d);
		vdev_route_irq(d, false);
		vdev_reset(d);
	}
	if (!nvdevs)
		tap_diag("virtio: no virtio_mmio.device= entries on the command line");
}
