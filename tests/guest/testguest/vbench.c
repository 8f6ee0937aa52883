/* SPDX-License-Identifier: MIT */
/*
 * tg.mode=virtio-bench: throughput figures of the virtio devices the
 * command line announces, measured from inside the guest at CPL3
 * (docs/testguest.md, bench/virtio.py).
 *
 * blk0: sequential write and read of an area of the disk in large
 * requests, then random writes and reads of small blocks in that area,
 * each phase with a fixed number of requests in flight (polled: no
 * interrupts, the guest reaps completions from the used ring and refills
 * at once). net0: a stream of full-size frames of a local ethertype to
 * the host side of the TAP, the transmit queue kept full.
 *
 * Time is the TSC's. Lines "tg: vbench clock ..." carry the TSC at the
 * start and at the end, padded to the same length, so that the host can
 * time them as they arrive and derive the TSC rate itself; the guest also
 * prints the rate it knows (tg.tsc_khz, or CPUID's).
 *
 * So that a bench that moves no data cannot look fast, the data are
 * checked: every 512-byte sector written carries a stamp (magic, a
 * generation number from tg.vb_seed and the phase, its own sector number)
 * and a known filler; reads poison the stamps first and check every
 * sector's stamp and one sector's filler per request; the sequential read
 * must find exactly what the sequential write wrote, the random read a
 * stamp of this run, and at the end the last blocks written by the random
 * writes are read back and must carry that phase's generation. Each check
 * is a TAP line.
 */
#include "virtio.h"

/* ---- options (tg.vb_*) ---- */

static struct {
	u64 qd;		/* blk requests in flight */
	u64 seq_kib;	/* sequential request size */
	u64 seq_mib;	/* the area: sequential phases cover it seq_passes times */
	u64 seq_passes;
	u64 rand_kib;	/* random request size */
	u64 rand_ops;	/* requests per random phase */
	u64 net_frames; /* frames to transmit */
	u64 net_len;	/* frame length without the virtio_net_hdr (60-1514) */
	u64 net_qd;	/* frames in flight (cut at the queue size) */
	u64 seed;
	u64 tsc_khz; /* 0: CPUID's */
	bool blk, net;
} vb = {
	.qd = 32, .seq_kib = 128, .seq_mib = 256, .seq_passes = 1, .rand_kib = 4, .rand_ops = 32768,
	.net_frames = 200000, .net_len = 1514, .net_qd = 256, .seed = 1, .blk = true, .net = true,
};

/* The data area (outside the image, checked against e820): 3 * qd buffers. */
#define VB_AREA (32UL << 20)

static bool num(const char *s, size_t n, u64 *out)
{
	u64 v = 0, mul = 1;

	if (n && (s[n - 1] == 'k' || s[n - 1] == 'K'))
		mul = 1000, n--;
	else if (n && (s[n - 1] == 'm' || s[n - 1] == 'M'))
		mul = 1000000, n--;
	if (!n || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (u64)(s[i] - '0');
	}
	*out = v * mul;
	return true;
}

static bool keyis(const char *k, size_t kn, const char *name)
{
	return strlen(name) == kn && !memcmp(k, name, kn);
}

int vbench_option(const char *key, size_t kn, const char *val, size_t vn, char *err, size_t en)
{
	static const struct {
		const char *name;
		u64 *p, lo, hi;
	} opts[] = {
		{"tg.vb_qd", &vb.qd, 1, 64},
		{"tg.vb_seq_kib", &vb.seq_kib, 4, 1024},
		{"tg.vb_seq_mib", &vb.seq_mib, 1, 1 << 20},
		{"tg.vb_seq_passes", &vb.seq_passes, 1, 1000},
		{"tg.vb_rand_kib", &vb.rand_kib, 4, 1024},
		{"tg.vb_rand_ops", &vb.rand_ops, 0, 1UL << 32},
		{"tg.vb_net_frames", &vb.net_frames, 1, 1UL << 32},
		{"tg.vb_net_len", &vb.net_len, 60, 1514},
		{"tg.vb_net_qd", &vb.net_qd, 1, 256},
		{"tg.vb_seed", &vb.seed, 0, 1UL << 30},
		{"tg.tsc_khz", &vb.tsc_khz, 1000, 100000000},
	};
	u64 v;

	if (keyis(key, kn, "tg.vb_devs")) {
		bool b = false, n = false;

		for (size_t i = 0; i < vn;) {
			size_t j = i;

			while (j < vn && val[j] != ',')
				j++;
			if (keyis(val + i, j - i, "blk"))
				b = true;
			else if (keyis(val + i, j - i, "net"))
				n = true;
			else
				return snprintf(err, en, "tg.vb_devs=%.*s: expected blk, net or blk,net",
						(int)vn, val), -1;
			i = j + 1;
		}
		vb.blk = b;
		vb.net = n;
		return 1;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(opts); i++) {
		if (!keyis(key, kn, opts[i].name))
			continue;
		if (!num(val, vn, &v) || v < opts[i].lo || v > opts[i].hi)
			return snprintf(err, en, "%s=%.*s: expected %lu to %lu", opts[i].name,
					(int)vn, val, opts[i].lo, opts[i].hi), -1;
		*opts[i].p = v;
		return 1;
	}
	return 0;
}

/* ---- common ---- */

static char why[200];
static u64 khz;
static u8 *area; /* VB_AREA bytes of RAM, identity-mapped */

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* "12345.678" from a * 1000 / b, no floating point. */
static const char *fmt3(char *buf, size_t n, u64 a, u64 b)
{
	u64 m = b ? a * 1000 / b : 0;

	if (b && a > ~0UL / 1000) /* keep precision without overflow */
		m = a / b * 1000 + (a % b) * 1000 / b;
	snprintf(buf, n, "%lu.%03lu", m / 1000, m % 1000);
	return buf;
}

/*
 * The clock line: the TSC as 20 digits, so that the start and the end
 * lines have the same length (the host times a line by its last byte).
 */
static void clock_line(const char *what)
{
	u64 t = rdtsc();

	print("tg: vbench clock %-5s tsc=%020lu khz=%lu\n", what, t, khz);
}

/* A 64-bit xorshift step, for random block numbers and fillers. */
static u64 xs(u64 *s)
{
	u64 x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- block ---- */

#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_S_OK 0

#define STAMP_MAGIC 0x42564754 /* "TGVB" */
#define MAX_QD 64
#define LAST_WRITES 64

struct blk_hdr {
	u32 type, reserved;
	u64 sector;
};

/* Per request slot: its header and status byte, in a cache line of its own. */
static struct slot {
	struct blk_hdr hdr;
	u8 status;
	bool busy;
	u8 *buf;
	u64 sector;
	u32 len, type;
} slots[MAX_QD] __attribute__((aligned(64)));

static int slot_of[VQ_MAX];

enum { PH_SEQ_W, PH_SEQ_R, PH_RAND_W, PH_RAND_R, PH_VERIFY };
static const char *const ph_names[] = {"seq-write", "seq-read", "rand-write", "rand-read",
				       "verify"};

static struct {
	struct vdev *d;
	struct vq *q;
	u64 cap;		/* sectors */
	u64 area_sect;		/* the area [0, area_sect) */
	u8 *wbuf[MAX_QD];	/* write buffers, one per slot */
	u8 *rbuf[2 * MAX_QD];	/* read buffers */
	u8 *rfree[2 * MAX_QD];	/* free read buffers */
	unsigned int nrfree;
	u64 gen_seq, gen_rand;
	u64 last_w[LAST_WRITES]; /* sectors of the last random writes */
	unsigned int nlast;
	u64 bad_sectors, checked_sectors, filler_checked;
	char bad[160];
	u64 rng;
} bk;

/* The filler of byte offset i of a sector (after the 16-byte stamp). */
static inline u8 filler(u64 i)
{
	return (u8)(i * 37 + 11);
}

static void stamp(u8 *buf, u64 sector, u32 nsect, u64 gen)
{
	for (u32 i = 0; i < nsect; i++) {
		u8 *s = buf + (u64)i * 512;

		*(u32 *)s = STAMP_MAGIC;
		*(u32 *)(s + 4) = (u32)gen;
		*(u64 *)(s + 8) = sector + i;
	}
}

static void poison(u8 *buf, u32 nsect)
{
	for (u32 i = 0; i < nsect; i++)
		*(u64 *)(buf + (u64)i * 512) = 0;
}

/* Check a buffer read from `sector`; `g1`, `g2`: the generations allowed. */
static void check_read(const u8 *buf, u64 sector, u32 nsect, u64 g1, u64 g2, u64 nth)
{
	u32 k = (u32)(nth % nsect); /* the sector whose filler is compared */

	for (u32 i = 0; i < nsect; i++) {
		const u8 *s = buf + (u64)i * 512;
		u32 magic = *(const u32 *)s, gen = *(const u32 *)(s + 4);
		u64 sec = *(const u64 *)(s + 8);

		bk.checked_sectors++;
		if (magic != STAMP_MAGIC || sec != sector + i || (gen != (u32)g1 && gen != (u32)g2)) {
			if (!bk.bad_sectors++)
				snprintf(bk.bad, sizeof(bk.bad),
					 "sector %lu: stamp magic %#x gen %u sector %lu, expected "
					 "%#x gen %lu%s sector %lu",
					 sector + i, magic, gen, sec, STAMP_MAGIC, g1,
					 g1 != g2 ? " or another of this run" : "", sector + i);
			continue;
		}
		if (i == k) {
			bk.filler_checked++;
			for (u32 j = 16; j < 512; j++)
				if (s[j] != filler(j)) {
					if (!bk.bad_sectors++)
						snprintf(bk.bad, sizeof(bk.bad),
							 "sector %lu byte %u reads %#x, expected %#x",
							 sector + i, j, s[j], filler(j));
					break;
				}
		}
	}
}

static bool blk_submit(unsigned int si, u32 type, u64 sector, u32 len, u64 gen)
{
	struct slot *s = &slots[si];
	struct vbuf b[3];
	int h;

	s->hdr.type = type;
	s->hdr.reserved = 0;
	s->hdr.sector = sector;
	s->status = 0xee;
	s->sector = sector;
	s->len = len;
	s->type = type;
	if (type == VIRTIO_BLK_T_OUT) {
		s->buf = bk.wbuf[si];
		stamp(s->buf, sector, len / 512, gen);
	} else {
		s->buf = bk.rfree[--bk.nrfree];
		poison(s->buf, len / 512);
	}
	b[0] = (struct vbuf){(u64)&s->hdr, sizeof(s->hdr), false};
	b[1] = (struct vbuf){(u64)s->buf, len, type != VIRTIO_BLK_T_OUT};
	b[2] = (struct vbuf){(u64)&s->status, 1, true};
	h = vq_add(bk.q, b, 3, false);
	if (h < 0) {
		snprintf(why, sizeof(why), "no room in the queue for request slot %u", si);
		return false;
	}
	slot_of[h] = (int)si;
	s->busy = true;
	return true;
}

/* The sector of request number `i` of a phase. */
static u64 next_sector(int ph, u64 i, u32 nsect)
{
	if (ph == PH_SEQ_W || ph == PH_SEQ_R)
		return i % (bk.area_sect / nsect) * nsect;
	if (ph == PH_VERIFY)
		return bk.last_w[i];
	return (xs(&bk.rng) % (bk.area_sect / nsect)) * nsect;
}

/*
 * One phase: `ops` requests of `len` bytes, `qd` in flight. Returns the TSC
 * cycles from the first submission to the last completion, 0 on failure
 * (why set).
 */
static u64 blk_phase(int ph, u64 ops, u32 len, unsigned int qd)
{
	u32 nsect = len / 512, type = (ph == PH_SEQ_W || ph == PH_RAND_W) ? VIRTIO_BLK_T_OUT
									   : VIRTIO_BLK_T_IN;
	u64 gen = ph == PH_SEQ_W ? bk.gen_seq : bk.gen_rand;
	u64 g1 = ph == PH_SEQ_R ? bk.gen_seq : ph == PH_VERIFY ? bk.gen_rand : bk.gen_seq;
	u64 g2 = ph == PH_SEQ_R ? bk.gen_seq : bk.gen_rand;
	u64 issued = 0, done = 0, t0, t1, stall;
	const u64 stall_max = khz * 10000; /* 10 s without a completion */
	unsigned int inflight = 0;

	bk.nrfree = 0;
	for (unsigned int i = 0; i < 2 * qd; i++)
		bk.rfree[bk.nrfree++] = bk.rbuf[i];
	for (unsigned int i = 0; i < qd; i++)
		slots[i].busy = false;
	if (qd > ops)
		qd = (unsigned int)ops;
	t0 = rdtsc();
	for (unsigned int i = 0; i < qd; i++, issued++, inflight++)
		if (!blk_submit(i, type, next_sector(ph, issued, nsect), len, gen))
			return 0;
	vq_kick(bk.q);
	stall = rdtsc();
	while (done < ops) {
		u32 head, ulen;
		bool added = false, got = false;

		while (vq_get(bk.q, &head, &ulen)) {
			struct slot *s;
			unsigned int si;
			u8 *buf;
			u64 sector;

			if (head >= VQ_MAX || slot_of[head] < 0) {
				snprintf(why, sizeof(why), "used id %u is no request of ours", head);
				return 0;
			}
			si = (unsigned int)slot_of[head];
			slot_of[head] = -1;
			s = &slots[si];
			barrier();
			if (s->status != VIRTIO_BLK_S_OK) {
				snprintf(why, sizeof(why), "%s of sectors [%lu, %lu): status %u",
					 type ? "write" : "read", s->sector, s->sector + nsect,
					 s->status);
				return 0;
			}
			s->busy = false;
			got = true;
			done++;
			inflight--;
			buf = s->buf;
			sector = s->sector;
			if (type == VIRTIO_BLK_T_OUT && ph == PH_RAND_W)
				bk.last_w[bk.nlast++ % LAST_WRITES] = sector;
			/* Refill first, so that the device has work while we check. */
			if (issued < ops) {
				if (!blk_submit(si, type, next_sector(ph, issued, nsect), len, gen))
					return 0;
				issued++;
				inflight++;
				added = true;
			}
			if (type == VIRTIO_BLK_T_IN) {
				check_read(buf, sector, nsect, g1, g2, done);
				bk.rfree[bk.nrfree++] = buf;
			}
		}
		if (added)
			vq_kick(bk.q);
		if (got) {
			stall = rdtsc();
		} else if (rdtsc() - stall > stall_max) {
			snprintf(why, sizeof(why),
				 "no completion for 10 s (%lu of %lu done, %u in flight, used idx "
				 "%u, Status %#x)",
				 done, ops, inflight, rd16(USED_IDX(bk.q)), vr32(bk.d, VM_STATUS));
			return 0;
		} else {
			cpu_relax();
		}
	}
	t1 = rdtsc();
	return t1 - t0 ? t1 - t0 : 1;
}

static void blk_flush(void)
{
	struct vbuf b[2];
	u32 len;

	if (!(bk.d->features & VF_BIT(VIRTIO_BLK_F_FLUSH)))
		return;
	slots[0].hdr = (struct blk_hdr){VIRTIO_BLK_T_FLUSH, 0, 0};
	slots[0].status = 0xee;
	b[0] = (struct vbuf){(u64)&slots[0].hdr, sizeof(slots[0].hdr), false};
	b[1] = (struct vbuf){(u64)&slots[0].status, 1, true};
	tap_begin();
	if (!vq_xfer(bk.q, b, 2, false, &len, why, sizeof(why)))
		tap_fail("%s", why);
	else if (slots[0].status != VIRTIO_BLK_S_OK)
		tap_fail("status %u", slots[0].status);
	tap_end("%s: FLUSH", bk.d->name);
}

static void report(const char *dev, const char *phase, u64 ops, u64 bytes, u64 cycles,
		   unsigned int qd, u32 size)
{
	char a[32], b[32], c[32];

	/* MiB/s = bytes * khz * 1000 / cycles / 2^20; IOPS = ops * khz * 1000 / cycles. */
	print("tg: vbench %s %s ops=%lu bytes=%lu cycles=%lu qd=%u size=%u ms=%s mib_s=%s "
	      "iops=%s\n",
	      dev, phase, ops, bytes, cycles, qd, size, fmt3(a, sizeof(a), cycles, khz),
	      fmt3(b, sizeof(b), bytes / 1024 * khz / 1024, cycles / 1000),
	      fmt3(c, sizeof(c), ops * khz, cycles / 1000));
}

static void run_phase(int ph, u64 ops, u32 len, unsigned int qd, const char *what)
{
	u64 cyc;

	bk.bad_sectors = bk.checked_sectors = bk.filler_checked = 0;
	bk.bad[0] = 0;
	tap_begin();
	cyc = blk_phase(ph, ops, len, qd);
	if (!cyc)
		tap_fail("%s", why);
	else if (bk.bad_sectors)
		tap_fail("%lu bad sectors; first: %s", bk.bad_sectors, bk.bad);
	if (cyc && ph != PH_VERIFY)
		report(bk.d->name, ph_names[ph], ops, ops * len, cyc, qd, len);
	if (ph == PH_SEQ_R || ph == PH_RAND_R || ph == PH_VERIFY)
		tap_diag("%s: %s: %lu sectors' stamps checked, %lu sectors' filler", bk.d->name,
			 ph_names[ph], bk.checked_sectors, bk.filler_checked);
	tap_end("%s: %s: %s", bk.d->name, ph_names[ph], what);
}

static void blk_bench(struct vdev *d)
{
	u32 seq = (u32)(vb.seq_kib * 1024), rnd = (u32)(vb.rand_kib * 1024);
	unsigned int qd = (unsigned int)vb.qd;
	u64 size = seq > rnd ? seq : rnd, seq_ops, area_bytes;
	u8 *p = area;
	char what[120];

	memset(&bk, 0, sizeof(bk));
	bk.d = d;
	bk.q = &d->q[0];
	tap_begin();
	if (!vdev_init(d, VF_BIT(VF_EVENT_IDX) | VF_BIT(VIRTIO_BLK_F_RO) | VF_BIT(VIRTIO_BLK_F_FLUSH),
		       1, why, sizeof(why)))
		tap_fail("%s", why);
	else if (d->features & VF_BIT(VIRTIO_BLK_F_RO))
		tap_fail("the disk is read-only");
	else if (3 * qd > bk.q->num)
		tap_fail("queue size %u < 3 * tg.vb_qd %u", bk.q->num, qd);
	else if (3 * qd * size > VB_AREA)
		tap_fail("3 * tg.vb_qd * request size = %lu bytes > the %lu MiB data area",
			 3 * qd * size, VB_AREA >> 20);
	bk.cap = vcfg64(d, 0);
	area_bytes = vb.seq_mib << 20;
	if (area_bytes > bk.cap * 512)
		area_bytes = bk.cap * 512;
	seq_ops = area_bytes / seq;
	bk.area_sect = seq_ops * (seq / 512);
	if (!seq_ops || bk.area_sect < rnd / 512)
		tap_fail("the disk (%lu sectors) is smaller than one request", bk.cap);
	tap_diag("%s: capacity %lu sectors, queue size %u, features %#lx; area %lu MiB", d->name,
		 bk.cap, bk.q->num, d->features, bk.area_sect >> 11);
	if (!tap_end("%s: initialised, EVENT_IDX, polled, %u requests in flight", d->name, qd))
		return;
	for (unsigned int i = 0; i < VQ_MAX; i++)
		slot_of[i] = -1;
	/* Buffers: the fillers once; writes only stamp, reads overwrite read buffers. */
	for (unsigned int i = 0; i < qd; i++, p += size) {
		bk.wbuf[i] = p;
		for (u64 j = 0; j < size; j++)
			p[j] = filler(j % 512);
	}
	for (unsigned int i = 0; i < 2 * qd; i++, p += size)
		bk.rbuf[i] = p;
	bk.gen_seq = vb.seed * 4 + 1;
	bk.gen_rand = vb.seed * 4 + 2;
	bk.rng = tg_lcg(vb.seed) | 1;

	snprintf(what, sizeof(what), "%lu MiB in %u KiB requests, %lu time%s", bk.area_sect >> 11,
		 seq >> 10, vb.seq_passes, vb.seq_passes == 1 ? "" : "s");
	run_phase(PH_SEQ_W, seq_ops * vb.seq_passes, seq, qd, what);
	blk_flush();
	snprintf(what, sizeof(what), "%lu MiB in %u KiB requests, %lu time%s, every sector as "
		 "written", bk.area_sect >> 11, seq >> 10, vb.seq_passes,
		 vb.seq_passes == 1 ? "" : "s");
	run_phase(PH_SEQ_R, seq_ops * vb.seq_passes, seq, qd, what);
	if (!vb.rand_ops)
		return;
	snprintf(what, sizeof(what), "%lu random %u KiB requests", vb.rand_ops, rnd >> 10);
	run_phase(PH_RAND_W, vb.rand_ops, rnd, qd, what);
	blk_flush();
	snprintf(what, sizeof(what), "%lu random %u KiB requests, stamps of this run",
		 vb.rand_ops, rnd >> 10);
	run_phase(PH_RAND_R, vb.rand_ops, rnd, qd, what);
	snprintf(what, sizeof(what), "the last %u random writes read back",
		 bk.nlast < LAST_WRITES ? bk.nlast : LAST_WRITES);
	run_phase(PH_VERIFY, bk.nlast < LAST_WRITES ? bk.nlast : LAST_WRITES, rnd, 1, what);
}

/* ---- network ---- */

#define VIRTIO_NET_F_MAC 5
#define NET_HDR 12
#define NET_BUF 2048
#define ETH_VBENCH 0x88b5 /* IEEE 802 local experimental ethertype 1 */

static void net_bench(struct vdev *d)
{
	struct vq *tx = &d->q[1];
	u8 mac[6];
	u64 sent = 0, done = 0, t0, t1, stall, bytes;
	const u64 stall_max = khz * 10000;
	unsigned int qd, inflight = 0;
	u32 len = (u32)vb.net_len;
	int buf_of[VQ_MAX];
	unsigned int freeb[VQ_MAX], nfree = 0;
	u8 *bufs = area;

	tap_begin();
	if (!vdev_init(d, VF_BIT(VF_EVENT_IDX) | VF_BIT(VIRTIO_NET_F_MAC), 2, why, sizeof(why)))
		tap_fail("%s", why);
	qd = vb.net_qd < tx->num ? (unsigned int)vb.net_qd : tx->num;
	if (!tap_end("%s: initialised, EVENT_IDX, polled, %u frames in flight", d->name, qd))
		return;
	for (int i = 0; i < 6; i++)
		mac[i] = d->features & VF_BIT(VIRTIO_NET_F_MAC) ? vcfg8(d, (u32)i) : (u8)(0x52 + i);
	for (unsigned int i = 0; i < VQ_MAX; i++)
		buf_of[i] = -1;
	/* Each buffer: a zero virtio_net_hdr, then broadcast, our MAC, the ethertype, data. */
	for (unsigned int i = 0; i < qd; i++) {
		u8 *b = bufs + (u64)i * NET_BUF;

		memset(b, 0, NET_HDR);
		memset(b + NET_HDR, 0xff, 6);
		memcpy(b + NET_HDR + 6, mac, 6);
		b[NET_HDR + 12] = ETH_VBENCH >> 8;
		b[NET_HDR + 13] = ETH_VBENCH & 0xff;
		for (u32 j = 14; j < len; j++)
			b[NET_HDR + j] = filler(j);
		freeb[nfree++] = i;
	}
	tap_begin();
	t0 = rdtsc();
	stall = t0;
	while (done < vb.net_frames) {
		u32 head, ulen;
		bool added = false;
		int h;

		while (nfree && sent < vb.net_frames) {
			unsigned int bi = freeb[nfree - 1];
			u8 *b = bufs + (u64)bi * NET_BUF;
			struct vbuf v = {(u64)b, NET_HDR + len, false};

			*(u64 *)(b + NET_HDR + 14) = sent; /* a sequence number */
			h = vq_add(tx, &v, 1, false);
			if (h < 0)
				break;
			nfree--;
			buf_of[h] = (int)bi;
			sent++;
			inflight++;
			added = true;
		}
		if (added)
			vq_kick(tx);
		while (vq_get(tx, &head, &ulen)) {
			if (head >= VQ_MAX || buf_of[head] < 0) {
				tap_fail("used id %u is no frame of ours", head);
				goto out;
			}
			freeb[nfree++] = (unsigned int)buf_of[head];
			buf_of[head] = -1;
			done++;
			inflight--;
			added = true;
		}
		if (added) {
			stall = rdtsc();
		} else if (rdtsc() - stall > stall_max) {
			tap_fail("no completion for 10 s (%lu of %lu done, Status %#x)", done,
				 vb.net_frames, vr32(d, VM_STATUS));
			goto out;
		} else {
			cpu_relax();
		}
	}
	t1 = rdtsc();
	bytes = done * len;
	report(d->name, "tx", done, bytes, t1 - t0 ? t1 - t0 : 1, qd, len);
out:
	tap_diag("%s: %lu frames of %u bytes (ethertype %#x, to ff:ff:ff:ff:ff:ff) sent", d->name,
		 done, len, ETH_VBENCH);
	tap_end("%s: tx: %lu frames of %u bytes completed", d->name, vb.net_frames, len);
}

/* ---- the mode ---- */

void run_vbench(void)
{
	const char *how = "tg.tsc_khz";
	struct vdev *blk = NULL, *net = NULL;
	u64 a;

	khz = vb.tsc_khz ? vb.tsc_khz : tsc_khz(&how);
	tap_diag("vbench: TSC %lu kHz (%s)", khz, how);
	virtio_discover();
	for (unsigned int i = 0; i < nvdevs; i++) {
		if (vdevs[i].id == VIRTIO_ID_BLK && !blk)
			blk = &vdevs[i];
		if (vdevs[i].id == VIRTIO_ID_NET && !net)
			net = &vdevs[i];
	}
	/* The data area: the first 2 MiB boundary after the image, in RAM. */
	a = ((u64)_end + (2UL << 20) - 1) & ~((2UL << 20) - 1);
	tap_begin();
	if (!e820_is_ram(a, VB_AREA))
		tap_fail("[%#lx, %#lx) is not RAM: give the guest more memory", a, a + VB_AREA);
	if (!tap_end("vbench: data area [%#lx, %#lx) in RAM", a, a + VB_AREA))
		return;
	area = (u8 *)a;
	clock_line("start");
	if (vb.blk) {
		if (blk)
			blk_bench(blk);
		else
			tap_skip("no virtio-blk device", "vbench: blk");
	}
	if (vb.net) {
		if (net)
			net_bench(net);
		else
			tap_skip("no virtio-net device", "vbench: net");
	}
	clock_line("end");
	for (unsigned int i = 0; i < nvdevs; i++)
		if (vdevs[i].id)
			vdev_reset(&vdevs[i]);
}
