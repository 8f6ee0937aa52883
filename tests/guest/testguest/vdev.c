/* SPDX-License-Identifier: MIT */
/*
 * tg.mode=virtio: the checks of each virtio device the command line
 * announced (virtio.c finds them): block, network, entropy and console,
 * polled and interrupt-driven, with and without VIRTIO_F_RING_EVENT_IDX
 * and indirect descriptors. All at CPL3; see docs/testguest.md.
 */
#include "virtio.h"

#define WANT_RING (VF_BIT(VF_EVENT_IDX) | VF_BIT(VF_INDIRECT_DESC))

static char why[200];

static void ring_diag(struct vdev *d)
{
	tap_diag("%s: features offered %#lx, negotiated %#lx%s%s", d->name, d->offered,
		 d->features, d->features & VF_BIT(VF_EVENT_IDX) ? " EVENT_IDX" : "",
		 d->features & VF_BIT(VF_INDIRECT_DESC) ? " INDIRECT_DESC" : "");
}

/* Initialise with `want`; one TAP line. */
static bool init_line(struct vdev *d, u64 want, unsigned int nq, const char *what)
{
	tap_begin();
	if (!vdev_init(d, want, nq, why, sizeof(why)))
		tap_fail("%s", why);
	else if ((want & WANT_RING) != (d->features & WANT_RING) && (want & WANT_RING))
		tap_fail("EVENT_IDX/INDIRECT_DESC not both offered (features %#lx)", d->offered);
	ring_diag(d);
	return tap_end("%s: initialised %s (queue size %u)", d->name, what, d->q[0].num);
}

/* ---- block ---- */

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1

#define BLK_MAX_SECTORS 2048 /* tg.blk_count's limit: 1 MiB */
#define BLK_CHUNK 64	     /* sectors per request */

struct blk_hdr {
	u32 type, reserved;
	u64 sector;
};

static u8 blk_wbuf[BLK_MAX_SECTORS * 512] __attribute__((aligned(4096), section(".noinit")));
static u8 blk_rbuf[BLK_MAX_SECTORS * 512] __attribute__((aligned(4096), section(".noinit")));
static struct {
	struct blk_hdr hdr;
	u8 status;
	u8 id[20];
	struct {
		u64 sector;
		u32 num, flags;
	} seg;
} blk_io __attribute__((aligned(64)));

void blk_pattern(u64 seed, u64 sector, u8 *out)
{
	u64 x = tg_lcg(seed + sector) | 1;

	for (unsigned int i = 0; i < 512; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (unsigned int b = 0; b < 8; b++)
			out[i + b] = (u8)(x >> (8 * b));
	}
}

/*
 * One request: header, `nsect` sectors of data at buf (as `segs` equal
 * segments; 0: no data), status. Returns the status byte, or -1 (why set).
 */
static int blk_req(struct vq *q, u32 type, u64 sector, u8 *buf, u32 len, unsigned int segs,
		   bool indirect)
{
	struct vbuf b[2 + VQ_INDIRECT_MAX];
	unsigned int n = 0;
	u32 got;

	blk_io.hdr.type = type;
	blk_io.hdr.reserved = 0;
	blk_io.hdr.sector = sector;
	blk_io.status = 0xee;
	b[n++] = (struct vbuf){(u64)&blk_io.hdr, sizeof(blk_io.hdr), false};
	if (len) {
		u32 seg = len / segs;

		for (unsigned int i = 0; i < segs; i++)
			b[n++] = (struct vbuf){(u64)buf + i * seg, seg, type != VIRTIO_BLK_T_OUT &&
							       type != VIRTIO_BLK_T_DISCARD &&
							       type != VIRTIO_BLK_T_WRITE_ZEROES};
	}
	b[n++] = (struct vbuf){(u64)&blk_io.status, 1, true};
	if (!vq_xfer(q, b, n, indirect, &got, why, sizeof(why)))
		return -1;
	barrier();
	return blk_io.status;
}

/* Write or read [s, s + count) in BLK_CHUNK requests; false with the reason. */
static bool blk_range(struct vq *q, u32 type, u64 s, u64 count, u8 *buf)
{
	for (u64 i = 0; i < count; i += BLK_CHUNK) {
		u64 n = count - i < BLK_CHUNK ? count - i : BLK_CHUNK;
		int st = blk_req(q, type, s + i, buf + i * 512, (u32)(n * 512), 1, false);

		if (st < 0) {
			tap_fail("%s", why);
			return false;
		}
		if (st != VIRTIO_BLK_S_OK) {
			tap_fail("%s of sectors [%lu, %lu): status %d", type ? "write" : "read",
				 s + i, s + i + n, st);
			return false;
		}
	}
	return true;
}

static void blk_fill(u64 seed, u64 s, u64 count, u8 *buf)
{
	for (u64 i = 0; i < count; i++)
		blk_pattern(seed, s + i, buf + i * 512);
}

static bool blk_compare(const u8 *got, const u8 *want, u64 s, u64 count)
{
	for (u64 i = 0; i < count; i++)
		if (memcmp(got + i * 512, want + i * 512, 512)) {
			for (unsigned int j = 0; j < 512; j++)
				if (got[i * 512 + j] != want[i * 512 + j]) {
					tap_fail("sector %lu byte %u reads %#x, expected %#x",
						 s + i, j, got[i * 512 + j], want[i * 512 + j]);
					break;
				}
			return false;
		}
	return true;
}

/* Read [s, s + count) back and compare with blk_wbuf. */
static void blk_readback(struct vq *q, u64 s, u64 count, const char *how, u32 irqs0)
{
	struct vdev *d = q->dev;

	tap_begin();
	memset(blk_rbuf, 0xa5, count * 512);
	if (blk_range(q, VIRTIO_BLK_T_IN, s, count, blk_rbuf))
		blk_compare(blk_rbuf, blk_wbuf, s, count);
	if (q->irq)
		tap_diag("%s: %u interrupts, %u notifications (%u suppressed)", d->name,
			 vio_irq.count[d->slot] - irqs0, q->notifies, q->notify_skipped);
	tap_end("%s: read sectors [%lu, %lu) back, %s: the pattern", d->name, s, s + count, how);
}

static void blk_checks(struct vdev *d, unsigned int k)
{
	const u64 want = WANT_RING | VF_BIT(VIRTIO_BLK_F_SEG_MAX) | VF_BIT(VIRTIO_BLK_F_RO) |
			 VF_BIT(VIRTIO_BLK_F_BLK_SIZE) | VF_BIT(VIRTIO_BLK_F_FLUSH) |
			 VF_BIT(VIRTIO_BLK_F_DISCARD) | VF_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	struct vq *q = &d->q[0];
	u64 cap, seed = cfg.blk_seed + k, start = k ? 0 : cfg.blk_start, count = cfg.blk_count;
	u32 seg_max = 0, irqs0;
	bool ro, first = k == 0;
	int st;

	if (!init_line(d, want, 1, "with EVENT_IDX and INDIRECT_DESC"))
		return;
	cap = vcfg64(d, 0);
	ro = !!(d->features & VF_BIT(VIRTIO_BLK_F_RO));
	if (d->features & VF_BIT(VIRTIO_BLK_F_SEG_MAX))
		seg_max = vcfg32(d, 12);
	tap_diag("%s: capacity %lu sectors, seg_max %u, blk_size %u%s%s%s%s", d->name, cap,
		 seg_max, d->features & VF_BIT(VIRTIO_BLK_F_BLK_SIZE) ? vcfg32(d, 20) : 0,
		 ro ? ", read-only" : "", d->features & VF_BIT(VIRTIO_BLK_F_FLUSH) ? ", flush" : "",
		 d->features & VF_BIT(VIRTIO_BLK_F_DISCARD) ? ", discard" : "",
		 d->features & VF_BIT(VIRTIO_BLK_F_WRITE_ZEROES) ? ", write-zeroes" : "");

	if (first && cfg.have_blk_sectors) {
		tap_begin();
		if (cap != cfg.blk_sectors)
			tap_fail("capacity %lu sectors", cap);
		tap_end("%s: capacity %lu sectors (tg.blk_sectors)", d->name, cfg.blk_sectors);
	} else {
		tap_skip(first ? "no tg.blk_sectors given" : "not the first disk",
			 "%s: capacity matches tg.blk_sectors", d->name);
	}

	tap_begin();
	if (first && ro != cfg.blk_ro)
		tap_fail("VIRTIO_BLK_F_RO %s", ro ? "offered" : "not offered");
	tap_end("%s: VIRTIO_BLK_F_RO %s", d->name, ro ? "offered (read-only)" : "not offered");

	tap_begin();
	memset(blk_io.id, 0, sizeof(blk_io.id));
	st = blk_req(q, VIRTIO_BLK_T_GET_ID, 0, blk_io.id, 20, 1, false);
	if (st < 0)
		tap_fail("%s", why);
	else if (st != VIRTIO_BLK_S_OK)
		tap_fail("status %d", st);
	else if (first && cfg.blk_serial[0] &&
		 (memcmp(blk_io.id, cfg.blk_serial, strlen(cfg.blk_serial)) ||
		  (strlen(cfg.blk_serial) < 20 && blk_io.id[strlen(cfg.blk_serial)])))
		tap_fail("id \"%.20s\"", (const char *)blk_io.id);
	tap_diag("%s: GET_ID \"%.20s\"", d->name, (const char *)blk_io.id);
	tap_end("%s: GET_ID%s%s", d->name, first && cfg.blk_serial[0] ? " matches tg.blk_serial=" : "",
		first ? cfg.blk_serial : "");

	if (start >= cap) {
		tap_begin();
		tap_fail("tg.blk_start %lu beyond the capacity %lu", start, cap);
		tap_end("%s: the test range fits the disk", d->name);
		return;
	}
	if (count > cap - start)
		count = cap - start;

	if (ro) {
		tap_begin();
		blk_fill(seed, start, 1, blk_wbuf);
		st = blk_req(q, VIRTIO_BLK_T_OUT, start, blk_wbuf, 512, 1, false);
		if (st < 0)
			tap_fail("%s", why);
		else if (st != VIRTIO_BLK_S_IOERR)
			tap_fail("status %d, expected VIRTIO_BLK_S_IOERR (1)", st);
		tap_end("%s: a write to the read-only disk completes with VIRTIO_BLK_S_IOERR",
			d->name);
		tap_begin();
		blk_range(q, VIRTIO_BLK_T_IN, start, count, blk_rbuf);
		if (first && cfg.have_blk_seed) {
			blk_fill(seed, start, count, blk_wbuf);
			blk_compare(blk_rbuf, blk_wbuf, start, count);
		}
		crc32_init();
		tap_diag("%s: sectors [%lu, %lu) crc32 %08x", d->name, start, start + count,
			 crc32(0, blk_rbuf, count * 512));
		tap_end("%s: read sectors [%lu, %lu) from the read-only disk%s", d->name, start,
			start + count, first && cfg.have_blk_seed ? ": the pattern" : "");
		goto irq;
	}

	tap_begin();
	blk_fill(seed, start, count, blk_wbuf);
	blk_range(q, VIRTIO_BLK_T_OUT, start, count, blk_wbuf);
	tap_end("%s: wrote the pattern of seed %lu over sectors [%lu, %lu), polled", d->name, seed,
		start, start + count);
	blk_readback(q, start, count, "polled", 0);

	if (d->features & VF_BIT(VIRTIO_BLK_F_FLUSH)) {
		tap_begin();
		st = blk_req(q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, false);
		if (st < 0)
			tap_fail("%s", why);
		else if (st != VIRTIO_BLK_S_OK)
			tap_fail("status %d", st);
		tap_end("%s: FLUSH", d->name);
	} else {
		tap_skip("VIRTIO_BLK_F_FLUSH not offered", "%s: FLUSH", d->name);
	}

	/* Write-zeroes over the 8 sectors after the range (pattern first), discard the next 8. */
	if (!(d->features & VF_BIT(VIRTIO_BLK_F_WRITE_ZEROES))) {
		tap_skip("VIRTIO_BLK_F_WRITE_ZEROES not offered", "%s: WRITE_ZEROES", d->name);
	} else if (start + count + 8 > cap) {
		tap_skip("no room after the range", "%s: WRITE_ZEROES", d->name);
	} else {
		u64 z = start + count;

		tap_begin();
		blk_fill(seed, z, 8, blk_rbuf);
		if (blk_range(q, VIRTIO_BLK_T_OUT, z, 8, blk_rbuf)) {
			blk_io.seg.sector = z;
			blk_io.seg.num = 8;
			blk_io.seg.flags = 0;
			st = blk_req(q, VIRTIO_BLK_T_WRITE_ZEROES, 0, (u8 *)&blk_io.seg, 16, 1,
				     false);
			if (st < 0)
				tap_fail("%s", why);
			else if (st != VIRTIO_BLK_S_OK)
				tap_fail("status %d", st);
			else if (blk_range(q, VIRTIO_BLK_T_IN, z, 8, blk_rbuf))
				for (unsigned int i = 0; i < 8 * 512; i++)
					if (blk_rbuf[i]) {
						tap_fail("byte %u reads %#x after it", i,
							 blk_rbuf[i]);
						break;
					}
		}
		tap_end("%s: WRITE_ZEROES of sectors [%lu, %lu) reads back zeros", d->name, z,
			z + 8);
	}
	if (!(d->features & VF_BIT(VIRTIO_BLK_F_DISCARD))) {
		tap_skip("VIRTIO_BLK_F_DISCARD not offered", "%s: DISCARD", d->name);
	} else if (start + count + 16 > cap) {
		tap_skip("no room after the range", "%s: DISCARD", d->name);
	} else {
		tap_begin();
		blk_io.seg.sector = start + count + 8;
		blk_io.seg.num = 8;
		blk_io.seg.flags = 0;
		st = blk_req(q, VIRTIO_BLK_T_DISCARD, 0, (u8 *)&blk_io.seg, 16, 1, false);
		if (st < 0)
			tap_fail("%s", why);
		else if (st != VIRTIO_BLK_S_OK)
			tap_fail("status %d", st);
		tap_end("%s: DISCARD of sectors [%lu, %lu)", d->name, start + count + 8,
			start + count + 16);
	}

	if (!(d->features & VF_BIT(VF_INDIRECT_DESC))) {
		tap_skip("VIRTIO_F_INDIRECT_DESC not offered", "%s: multi-segment requests through "
			 "an indirect table", d->name);
	} else {
		unsigned int segs = 8;
		u64 n = count < 8 ? count : 8;

		if (seg_max && seg_max < segs)
			segs = seg_max;
		tap_begin();
		st = blk_req(q, VIRTIO_BLK_T_OUT, start, blk_wbuf, (u32)(n * 512), segs, true);
		if (st != VIRTIO_BLK_S_OK)
			tap_fail("write: %s", st < 0 ? why : "bad status");
		memset(blk_rbuf, 0x5a, n * 512);
		st = blk_req(q, VIRTIO_BLK_T_IN, start, blk_rbuf, (u32)(n * 512), segs, true);
		if (st != VIRTIO_BLK_S_OK)
			tap_fail("read: %s", st < 0 ? why : "bad status");
		else
			blk_compare(blk_rbuf, blk_wbuf, start, n);
		tap_end("%s: %u-segment write and read of sectors [%lu, %lu) through an indirect "
			"table", d->name, segs, start, start + n);
	}

irq:
	/* Interrupt-driven (with EVENT_IDX: used_event asks for each entry). */
	tap_begin();
	if (!vdev_route_irq(d, true)) {
		tap_fail("IOAPIC pin %d cannot be routed", d->pin);
		tap_end("%s: interrupt-driven", d->name);
		return;
	}
	tap_end("%s: IOAPIC pin %d routed to vector %#x", d->name, d->pin,
		TG_VEC_VIRTIO + d->slot);
	vq_set_irq(q, true);
	irqs0 = vio_irq.count[d->slot];
	if (!ro) {
		tap_begin();
		blk_range(q, VIRTIO_BLK_T_OUT, start, count, blk_wbuf);
		tap_end("%s: wrote the pattern again, interrupt-driven, EVENT_IDX", d->name);
	}
	blk_fill(seed, start, count, blk_wbuf);
	if (ro && !(first && cfg.have_blk_seed))
		memcpy(blk_wbuf, blk_rbuf, count * 512);
	blk_readback(q, start, count, "interrupt-driven, EVENT_IDX", irqs0);

	/* Again without EVENT_IDX and INDIRECT_DESC. */
	vdev_route_irq(d, false);
	if (!init_line(d, want & ~WANT_RING, 1, "without EVENT_IDX and INDIRECT_DESC"))
		return;
	blk_readback(q, start, count, "polled, no EVENT_IDX", 0);
	vdev_route_irq(d, true);
	vq_set_irq(q, true);
	irqs0 = vio_irq.count[d->slot];
	if (!ro) {
		tap_begin();
		blk_range(q, VIRTIO_BLK_T_OUT, start, count, blk_wbuf);
		tap_end("%s: wrote the pattern again, interrupt-driven, no EVENT_IDX", d->name);
	}
	blk_readback(q, start, count, "interrupt-driven, no EVENT_IDX", irqs0);
	tap_begin();
	if (vio_irq.isr[d->slot] & ~3u)
		tap_fail("InterruptStatus had bits %#x", vio_irq.isr[d->slot]);
	if (!(vio_irq.isr[d->slot] & 1))
		tap_fail("no used-buffer interrupt seen (InterruptStatus bit 0)");
	tap_end("%s: InterruptStatus bit 0 (used buffer) in the handler, %u interrupts in all",
		d->name, vio_irq.count[d->slot]);
}

/* ---- network ---- */

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define NET_HDR 12
#define NET_RXBUFS 32
#define NET_BUF 2048
#define ETH_ARP 0x0806
#define ETH_IP 0x0800
#define PING_ID 0x7467 /* "tg" */
#define PING_DATA 56

static u8 net_rx[NET_RXBUFS][NET_BUF] __attribute__((aligned(4096), section(".noinit")));
static u8 net_tx[NET_BUF] __attribute__((aligned(64), section(".noinit")));
static int net_rx_of[VQ_MAX];

static struct {
	u8 mac[6], peer_mac[6];
	bool have_peer;
	u16 ping_seq;	  /* the reply we wait for */
	bool ping_ok;	  /* it came, intact */
	u32 frames, arp_requests, other, bad_nb;
	u16 nb;
	char bad[120];
} net;

static u16 be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}
static u32 be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}
static void put16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}
static void put32(u8 *p, u32 v)
{
	put16(p, (u16)(v >> 16));
	put16(p + 2, (u16)v);
}

/* The Internet checksum (RFC 1071). */
static u16 csum(const u8 *p, size_t n)
{
	u32 s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (u32)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

static bool net_post(struct vq *q, int i)
{
	struct vbuf b = {(u64)net_rx[i], NET_BUF, true};
	int h = vq_add(q, &b, 1, false);

	if (h < 0)
		return false;
	net_rx_of[h] = i;
	return true;
}

/* Send one frame (without the virtio header), wait for its tx completion. */
static bool net_send(struct vdev *d, const u8 *frame, u32 len)
{
	struct vbuf b = {(u64)net_tx, NET_HDR + len, false};
	u32 got;

	memset(net_tx, 0, NET_HDR);
	memcpy(net_tx + NET_HDR, frame, len);
	if (!vq_xfer(&d->q[1], &b, 1, false, &got, why, sizeof(why))) {
		tap_fail("tx: %s", why);
		return false;
	}
	return true;
}

static void arp_frame(u8 *f, u16 op, const u8 *dst_mac, u32 tpa)
{
	memset(f, 0, 42);
	memcpy(f, op == 1 ? (const u8 *)"\xff\xff\xff\xff\xff\xff" : dst_mac, 6);
	memcpy(f + 6, net.mac, 6);
	put16(f + 12, ETH_ARP);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, ETH_IP); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, net.mac, 6);
	put32(f + 28, cfg.net_ip);
	if (op == 2)
		memcpy(f + 32, dst_mac, 6);
	put32(f + 38, tpa);
}

static void ping_payload(u16 seq, u8 *p)
{
	for (unsigned int i = 0; i < PING_DATA; i++)
		p[i] = (u8)(seq * 7 + i);
}

/* One received frame (after the virtio header). */
static void net_frame(struct vdev *d, const u8 *f, u32 len)
{
	net.frames++;
	if (len < 14)
		return;
	if (be16(f + 12) == ETH_ARP && len >= 42 && be16(f + 14) == 1 && be16(f + 16) == ETH_IP) {
		u16 op = be16(f + 20);

		if (op == 2 && be32(f + 28) == cfg.net_peer && be32(f + 38) == cfg.net_ip) {
			memcpy(net.peer_mac, f + 22, 6);
			net.have_peer = true;
		} else if (op == 1 && be32(f + 38) == cfg.net_ip) {
			u8 r[42];

			net.arp_requests++;
			arp_frame(r, 2, f + 22, be32(f + 28));
			net_send(d, r, 42);
		}
		return;
	}
	if (be16(f + 12) == ETH_IP && len >= 14 + 20 + 8 + PING_DATA && f[14] == 0x45 &&
	    f[23] == 1 && be32(f + 26) == cfg.net_peer && be32(f + 30) == cfg.net_ip) {
		const u8 *ip = f + 14, *icmp = ip + 20;
		u16 tot = be16(ip + 2);
		u8 want[PING_DATA];

		if (icmp[0] != 0 || be16(icmp + 4) != PING_ID)
			return;
		ping_payload(be16(icmp + 6), want);
		if (tot != 20 + 8 + PING_DATA || 14u + tot > len)
			snprintf(net.bad, sizeof(net.bad), "echo reply: IP total length %u", tot);
		else if (csum(ip, 20))
			snprintf(net.bad, sizeof(net.bad), "echo reply: bad IP header checksum");
		else if (csum(icmp, 8 + PING_DATA))
			snprintf(net.bad, sizeof(net.bad), "echo reply: bad ICMP checksum");
		else if (memcmp(icmp + 8, want, PING_DATA))
			snprintf(net.bad, sizeof(net.bad), "echo reply %u: payload differs",
				 be16(icmp + 6));
		else if (be16(icmp + 6) == net.ping_seq)
			net.ping_ok = true;
		return;
	}
	net.other++;
}

/* Take received frames until `done` or the timeout; repost each buffer. */
static bool net_poll(struct vdev *d, u64 ms, bool (*done)(void))
{
	struct vq *q = &d->q[0];
	u64 end = rdtsc() + ms_to_tsc(ms);

	while (!done()) {
		u32 head, len;
		u64 left = rdtsc();

		if (left >= end)
			return false;
		left = (end - left) / ms_to_tsc(1) + 1;
		if (!vq_wait(q, &head, &len, left, why, sizeof(why)))
			return done();
		if (head >= VQ_MAX || net_rx_of[head] < 0 || len < NET_HDR || len > NET_BUF) {
			snprintf(net.bad, sizeof(net.bad), "rx used entry id %u len %u", head, len);
			return false;
		}
		{
			int i = net_rx_of[head];
			u16 nb = (u16)(net_rx[i][10] | net_rx[i][11] << 8);

			net_rx_of[head] = -1;
			if (nb != 1)
				net.bad_nb++, net.nb = nb;
			net_frame(d, net_rx[i] + NET_HDR, len - NET_HDR);
			net_post(q, i);
			vq_kick(q);
		}
	}
	return true;
}

static bool peer_known(void)
{
	return net.have_peer;
}
static bool ping_done(void)
{
	return net.ping_ok || net.bad[0];
}

static void fmt_ip(char *b, size_t n, u32 ip)
{
	snprintf(b, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

static void ping_line(struct vdev *d, const char *how, u16 seq0)
{
	char peer[20];
	u8 f[14 + 20 + 8 + PING_DATA];

	fmt_ip(peer, sizeof(peer), cfg.net_peer);
	tap_begin();
	for (u32 i = 0; i < cfg.net_pings && net.have_peer; i++) {
		u8 *ip = f + 14, *icmp = ip + 20;
		u16 seq = (u16)(seq0 + i);
		bool ok = false;

		memcpy(f, net.peer_mac, 6);
		memcpy(f + 6, net.mac, 6);
		put16(f + 12, ETH_IP);
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, 20 + 8 + PING_DATA);
		put16(ip + 4, seq);
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = 1; /* ICMP */
		put32(ip + 12, cfg.net_ip);
		put32(ip + 16, cfg.net_peer);
		put16(ip + 10, csum(ip, 20));
		icmp[0] = 8;
		icmp[1] = 0;
		put16(icmp + 2, 0);
		put16(icmp + 4, PING_ID);
		put16(icmp + 6, seq);
		ping_payload(seq, icmp + 8);
		put16(icmp + 2, csum(icmp, 8 + PING_DATA));
		net.ping_seq = seq;
		net.ping_ok = false;
		for (int t = 0; t < 3 && !ok; t++) { /* the first may wait for ARP */
			if (!net_send(d, f, sizeof(f)))
				break;
			ok = net_poll(d, 1000, ping_done) && net.ping_ok;
		}
		if (net.bad[0]) {
			tap_fail("%s", net.bad);
			break;
		}
		if (!ok) {
			tap_fail("no echo reply %u from %s", seq, peer);
			break;
		}
	}
	if (!net.have_peer)
		tap_fail("the peer's MAC address is not known");
	tap_end("%s: %u ICMP echo requests to %s answered with the same payload, %s", d->name,
		cfg.net_pings, peer, how);
}

static void net_checks(struct vdev *d)
{
	const u64 want = WANT_RING | VF_BIT(VIRTIO_NET_F_MAC) | VF_BIT(VIRTIO_NET_F_STATUS);
	struct vq *rx = &d->q[0];
	char peer[20], me[20];
	u64 end;

	memset(&net, 0, sizeof(net));
	for (unsigned int i = 0; i < VQ_MAX; i++)
		net_rx_of[i] = -1;
	if (!init_line(d, want, 2, "with EVENT_IDX and INDIRECT_DESC"))
		return;
	fmt_ip(peer, sizeof(peer), cfg.net_peer);
	fmt_ip(me, sizeof(me), cfg.net_ip);
	tap_begin();
	if (d->features & VF_BIT(VIRTIO_NET_F_MAC)) {
		for (int i = 0; i < 6; i++)
			net.mac[i] = vcfg8(d, (u32)i);
	} else {
		tap_fail("VIRTIO_NET_F_MAC not offered");
		memcpy(net.mac, "\x52\x54\x00\x74\x67\x01", 6);
	}
	if ((d->features & VF_BIT(VIRTIO_NET_F_STATUS)) && !(vcfg16(d, 6) & 1))
		tap_fail("link down (status %#x)", vcfg16(d, 6));
	tap_end("%s: MAC %02x:%02x:%02x:%02x:%02x:%02x from the config space%s", d->name,
		net.mac[0], net.mac[1], net.mac[2], net.mac[3], net.mac[4], net.mac[5],
		d->features & VF_BIT(VIRTIO_NET_F_STATUS) ? ", link up" : "");
	for (int i = 0; i < NET_RXBUFS && i < rx->num; i++)
		net_post(rx, i);
	vq_kick(rx);

	tap_begin();
	end = rdtsc() + ms_to_tsc(10000);
	while (!net.have_peer && rdtsc() < end) {
		u8 f[42];

		arp_frame(f, 1, NULL, cfg.net_peer);
		if (!net_send(d, f, 42))
			break;
		net_poll(d, 250, peer_known);
		if (net.bad[0])
			break;
	}
	if (net.bad[0])
		tap_fail("%s", net.bad);
	else if (!net.have_peer)
		tap_fail("no ARP reply within 10 s (%u frames received)", net.frames);
	tap_end("%s: ARP request for %s from %s answered (%02x:%02x:%02x:%02x:%02x:%02x)",
		d->name, peer, me, net.peer_mac[0], net.peer_mac[1], net.peer_mac[2],
		net.peer_mac[3], net.peer_mac[4], net.peer_mac[5]);
	ping_line(d, "polled", 1);

	vdev_route_irq(d, true);
	vq_set_irq(&d->q[0], true);
	vq_set_irq(&d->q[1], true);
	ping_line(d, "interrupt-driven", 101);
	tap_diag("%s: %u frames received (%u ARP requests for us answered, %u others ignored), "
		 "%u interrupts",
		 d->name, net.frames, net.arp_requests, net.other, vio_irq.count[d->slot]);
	tap_begin();
	if (net.bad_nb)
		tap_fail("%u frames with num_buffers %u", net.bad_nb, net.nb);
	tap_end_soft(tg_entry.protocol == 16 ? "the firmware's machine (protocol 16)" : NULL,
		     "%s: received virtio_net_hdr num_buffers is 1", d->name);
}

/* ---- entropy ---- */

static u8 rng_buf[3][64] __attribute__((aligned(64)));

static bool rng_read(struct vdev *d, u8 *buf, bool indirect)
{
	u32 got = 0;

	memset(buf, 0, 64);
	while (got < 64) {
		u32 left = 64 - got, len;
		bool ind = indirect && left >= 2;
		struct vbuf b[2] = {{(u64)buf + got, ind ? left / 2 : left, true},
				    {(u64)buf + got + left / 2, left - left / 2, true}};

		if (!vq_xfer(&d->q[0], b, ind ? 2 : 1, ind, &len, why, sizeof(why)))
			return tap_fail("%s", why), false;
		if (len > left)
			return tap_fail("used length %u for %u bytes", len, left), false;
		if (!len)
			return tap_fail("used length 0"), false;
		got += len;
	}
	return true;
}

static void rng_checks(struct vdev *d)
{
	static const u8 zero[64];

	if (!init_line(d, WANT_RING, 1, "with EVENT_IDX and INDIRECT_DESC"))
		return;
	tap_begin();
	if (rng_read(d, rng_buf[0], false) && rng_read(d, rng_buf[1], false)) {
		if (!memcmp(rng_buf[0], zero, 64) || !memcmp(rng_buf[1], zero, 64))
			tap_fail("a read is all zeros");
		else if (!memcmp(rng_buf[0], rng_buf[1], 64))
			tap_fail("the two reads are equal");
	}
	tap_end("%s: two 64-byte reads, polled: not all zero, not equal", d->name);
	tap_begin();
	if (!vdev_route_irq(d, true))
		tap_fail("IOAPIC pin %d cannot be routed", d->pin);
	vq_set_irq(&d->q[0], true);
	if (rng_read(d, rng_buf[2], true)) {
		if (!memcmp(rng_buf[2], zero, 64))
			tap_fail("all zeros");
		else if (!memcmp(rng_buf[2], rng_buf[0], 64) || !memcmp(rng_buf[2], rng_buf[1], 64))
			tap_fail("equal to an earlier read");
	}
	tap_end("%s: a 64-byte read through an indirect table, interrupt-driven", d->name);
}

/* ---- console ---- */

static u8 vcon_tx[4200] __attribute__((aligned(64), section(".noinit")));
static u8 vcon_rx[4][1024] __attribute__((aligned(64), section(".noinit")));
static int vcon_rx_of[VQ_MAX];

static void vcon_checks(struct vdev *d)
{
	struct vq *rx = &d->q[0], *tx = &d->q[1];
	struct vbuf b;
	u32 len, n, got = 0;
	static const char prefix[] = "tg: vcon echo ";

	if (!init_line(d, WANT_RING, 2, "with EVENT_IDX and INDIRECT_DESC"))
		return;
	tap_begin();
	n = (u32)snprintf((char *)vcon_tx, sizeof(vcon_tx), "tg: vcon hello %lu\n",
			  cfg.vcon_seed);
	b = (struct vbuf){(u64)vcon_tx, n, false};
	if (!vq_xfer(tx, &b, 1, false, &len, why, sizeof(why)))
		tap_fail("%s", why);
	tap_end("%s: wrote \"tg: vcon hello %lu\" to port 0", d->name, cfg.vcon_seed);
	if (!cfg.vcon_echo) {
		tap_skip("no tg.vcon_echo given", "%s: echo", d->name);
		return;
	}
	tap_begin();
	if (!vdev_route_irq(d, true))
		tap_fail("IOAPIC pin %d cannot be routed", d->pin);
	vq_set_irq(rx, true);
	vq_set_irq(tx, true);
	for (unsigned int i = 0; i < VQ_MAX; i++)
		vcon_rx_of[i] = -1;
	for (int i = 0; i < 4; i++) {
		struct vbuf r = {(u64)vcon_rx[i], sizeof(vcon_rx[i]), true};
		int h = vq_add(rx, &r, 1, false);

		if (h >= 0)
			vcon_rx_of[h] = i;
	}
	vq_kick(rx);
	memcpy(vcon_tx, prefix, sizeof(prefix) - 1);
	while (got < cfg.vcon_echo) {
		u32 head;
		int i;

		if (!vq_wait(rx, &head, &len, 30000, why, sizeof(why))) {
			tap_fail("%u of %u bytes received: %s", got, cfg.vcon_echo, why);
			break;
		}
		if (head >= VQ_MAX || (i = vcon_rx_of[head]) < 0 || len > sizeof(vcon_rx[0])) {
			tap_fail("rx used entry id %u len %u", head, len);
			break;
		}
		if (len > cfg.vcon_echo - got)
			len = cfg.vcon_echo - got;
		memcpy(vcon_tx + sizeof(prefix) - 1 + got, vcon_rx[i], len);
		got += len;
		{
			struct vbuf r = {(u64)vcon_rx[i], sizeof(vcon_rx[i]), true};
			int h = vq_add(rx, &r, 1, false);

			vcon_rx_of[head] = -1;
			if (h >= 0)
				vcon_rx_of[h] = i;
			vq_kick(rx);
		}
	}
	n = (u32)(sizeof(prefix) - 1 + got);
	if (!got || vcon_tx[n - 1] != '\n')
		vcon_tx[n++] = '\n';
	b = (struct vbuf){(u64)vcon_tx, n, false};
	if (got && !vq_xfer(tx, &b, 1, false, &len, why, sizeof(why)))
		tap_fail("%s", why);
	tap_end("%s: read %u bytes from port 0 and wrote them back after \"%s\", "
		"interrupt-driven", d->name, cfg.vcon_echo, "tg: vcon echo ");
}

void run_vdev_checks(struct vdev *d)
{
	static unsigned int nblk;

	switch (d->id) {
	case VIRTIO_ID_BLK:
		blk_checks(d, nblk++);
		break;
	case VIRTIO_ID_NET:
		net_checks(d);
		break;
	case VIRTIO_ID_RNG:
		rng_checks(d);
		break;
	case VIRTIO_ID_CONSOLE:
		vcon_checks(d);
		break;
	default:
		tap_skip("no checks for this device type", "%s: device ID %u", d->name, d->id);
	}
}
