// SPDX-License-Identifier: MIT
/*
 * Unit tests for virtio-net (src/devices/virtio/net.c) on a real TAP.
 *
 * The test process first moves into a network namespace of its own
 * (unshare(CLONE_NEWNET)), so the TAP and every frame stay there. The
 * device creates the TAP; the test brings it up with an address and uses
 * an AF_PACKET socket bound to it as "the host side": it receives what the
 * guest transmits and injects what the guest must receive. The guest side
 * is the driver of common/virtq_fixture.h: virtqueues laid out in fake guest
 * memory, transport registers driven through virtio_mmio_read/write, and the
 * worker's callbacks run by hand (vqf_pump()), except in one test that runs
 * the real worker thread.
 *
 * Skipped (with the reason) when /dev/net/tun is missing or we may not
 * create network namespaces or TAP devices.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include "common/fixtures.h"
#include "common/virtq_fixture.h"
#include "devices/virtio/net.h"

#define TAP "lmtap0"
#define RAM (4ULL << 20)
#define QSIZE 64
#define RXQ_BASE 0x10000ULL
#define TXQ_BASE 0x20000ULL
#define RXQ2_BASE 0x30000ULL
#define TXQ2_BASE 0x40000ULL
#define DATA_BASE 0x100000ULL
#define ETH_TYPE_TEST 0x88b5 /* IEEE local experimental: nothing on the host answers it */
#define HDR VIRTIO_NET_HDR_LEN

#define BIT(n) VIRTIO_BIT(n)
#define BASE_FEATURES BIT(VIRTIO_F_VERSION_1)

/* Why the TAP tests cannot run here, or NULL. */
static const char *skip_reason;

struct fx {
	struct gmem *gm;
	struct worker w;
	struct virtio_net *net;
	struct virtio_mmio *t;
	struct vqf_owner owner;
	struct vqf rxq, txq;
	uint64_t data_next;
	int pkt;  /* AF_PACKET socket on the TAP */
	int inet; /* AF_INET socket for interface ioctls */
	int ifindex;
	char err[256];
};

/* ---- the host side ---- */

static void ifreq_for(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

static void link_up(struct fx *f)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;

	ifreq_for(&ifr, TAP);
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a4d0001); /* 10.77.0.1 */
	assert_int_equal(ioctl(f->inet, SIOCSIFADDR, &ifr), 0);
	ifreq_for(&ifr, TAP);
	assert_int_equal(ioctl(f->inet, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(f->inet, SIOCSIFFLAGS, &ifr), 0);
}

static void set_mtu(struct fx *f, int mtu)
{
	struct ifreq ifr;

	ifreq_for(&ifr, TAP);
	ifr.ifr_mtu = mtu;
	assert_int_equal(ioctl(f->inet, SIOCSIFMTU, &ifr), 0);
}

/* ETHTOOL_GTSO etc.: is that feature on in the TAP's netdev? */
static uint32_t ethtool_get(struct fx *f, uint32_t cmd)
{
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr;

	ifreq_for(&ifr, TAP);
	ifr.ifr_data = (void *)&ev;
	assert_int_equal(ioctl(f->inet, SIOCETHTOOL, &ifr), 0);
	return ev.data;
}

static void open_packet_socket(struct fx *f)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int one = 1;

	f->ifindex = (int)if_nametoindex(TAP);
	assert_true(f->ifindex > 0);
	f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(f->pkt >= 0);
	/* Only what the guest sent, not what we inject. */
	assert_int_equal(setsockopt(f->pkt, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)),
			 0);
	sll.sll_ifindex = f->ifindex;
	assert_int_equal(bind(f->pkt, (struct sockaddr *)&sll, sizeof(sll)), 0);
}

/* A broadcast test frame of len bytes with a payload pattern from `seed`. */
static uint8_t *make_frame(size_t len, unsigned int seed)
{
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint8_t *p = new_pattern(len, 3, seed);

	assert_true(len >= 14);
	memset(p, 0xff, 6);
	memcpy(p + 6, src, 6);
	p[12] = ETH_TYPE_TEST >> 8;
	p[13] = ETH_TYPE_TEST & 0xff;
	return p;
}

/* The host sends a frame into the TAP: the guest's receive side. */
static void inject(struct fx *f, const uint8_t *frame, size_t len)
{
	assert_int_equal(send(f->pkt, frame, len, 0), (ssize_t)len);
}

/* The next test frame the guest transmitted, or -1 after timeout_ms. */
static ssize_t host_recv(struct fx *f, uint8_t *buf, size_t cap, int timeout_ms)
{
	for (;;) {
		struct pollfd p = {.fd = f->pkt, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		n = recv(f->pkt, buf, cap, MSG_TRUNC);
		assert_true(n >= 0);
		if (n >= 14 && buf[12] == (ETH_TYPE_TEST >> 8) && buf[13] == (ETH_TYPE_TEST & 0xff))
			return n;
		/* Anything else (the host stack talking) is not ours. */
	}
}

/* ---- the guest side ---- */

static uint64_t galloc(struct fx *f, uint64_t len)
{
	uint64_t gpa = f->data_next;

	f->data_next = (f->data_next + len + 15) & ~15ULL;
	assert_true(f->data_next <= RAM);
	return gpa;
}

/* Queue idx laid out at base and set up, checking what the device says of it. */
static void queue_setup(struct fx *f, struct vqf *q, unsigned int idx, uint64_t base)
{
	vqf_init(q, f->gm, base, QSIZE);
	vqf_write32(f->t, VIRTIO_MMIO_QUEUE_SEL, idx);
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_NET_QUEUE_MAX);
	vqf_setup_queue(f->t, idx, q);
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* The status the device ends up with after a full initialisation (section 3.1.1). */
static uint32_t driver_init_at(struct fx *f, uint64_t features, uint64_t rxq, uint64_t txq)
{
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_true(vqf_negotiate(f->t, features) & VIRTIO_STATUS_FEATURES_OK);
	queue_setup(f, &f->rxq, VIRTIO_NET_RXQ, rxq);
	queue_setup(f, &f->txq, VIRTIO_NET_TXQ, txq);
	vqf_write32(f->t, VIRTIO_MMIO_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			    VIRTIO_STATUS_DRIVER_OK);
	return vqf_read32(f->t, VIRTIO_MMIO_STATUS);
}

static void driver_init(struct fx *f, uint64_t features)
{
	uint32_t st = driver_init_at(f, features, RXQ_BASE, TXQ_BASE);

	assert_int_equal(st & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET),
			 VIRTIO_STATUS_DRIVER_OK);
}

static bool needs_reset(struct fx *f)
{
	return vqf_read32(f->t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Post one chain (consecutive descriptors); returns its head. */
static uint16_t post(struct vqf *q, const struct vqf_buf *b, unsigned int n)
{
	uint16_t head = vqf_add_chain(q, b, n);

	vqf_publish(q, head);
	return head;
}

/* A receive chain of one writable buffer of len bytes, filled with 0xaa. */
static uint16_t post_rx(struct fx *f, uint32_t len, uint64_t *gpa)
{
	struct vqf_buf b = {.gpa = galloc(f, len), .len = len, .write = true};

	memset(vqf_ram(f->gm, b.gpa, len), 0xaa, len);
	if (gpa)
		*gpa = b.gpa;
	return post(&f->rxq, &b, 1);
}

/* The next used entry must be {id, len}. */
static void expect_used(struct vqf *q, uint32_t id, uint32_t len)
{
	uint32_t got_id, got_len;

	assert_true(vqf_pop_used(q, &got_id, &got_len));
	assert_int_equal(got_id, id);
	assert_int_equal(got_len, len);
}

static void expect_no_used(struct vqf *q)
{
	uint32_t id, len;

	assert_false(vqf_pop_used(q, &id, &len));
}

/* QueueNotify as the driver writes it; the VM's ioeventfd then reaches the worker. */
static void notify(struct fx *f, unsigned int queue)
{
	f->owner.kicks = 0;
	vqf_write32(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
	assert_int_equal(f->owner.kicks, 1);
	assert_int_equal(f->owner.last_kick, queue);
	virtio_mmio_queue_notify(f->t, queue);
}

/* A header followed by the frame in two buffers: the chain Linux's driver builds. */
static uint16_t post_tx(struct fx *f, const uint8_t *hdr, const uint8_t *frame, size_t len)
{
	struct vqf_buf b[3];
	size_t first = len / 3;

	b[0] = (struct vqf_buf){.gpa = galloc(f, HDR), .len = HDR};
	b[1] = (struct vqf_buf){.gpa = galloc(f, first), .len = (uint32_t)first};
	b[2] = (struct vqf_buf){.gpa = galloc(f, len - first), .len = (uint32_t)(len - first)};
	memcpy(vqf_ram(f->gm, b[0].gpa, HDR), hdr, HDR);
	memcpy(vqf_ram(f->gm, b[1].gpa, first), frame, first);
	memcpy(vqf_ram(f->gm, b[2].gpa, len - first), frame + first, len - first);
	return post(&f->txq, b, 3);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct virtio_net_opts o = {
		.tap = TAP, .has_mac = true, .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
	struct fx *f;
	int r;

	*state = NULL;
	if (skip_reason)
		return 0; /* the test skips */
	f = test_calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->pkt = f->inet = -1;
	f->data_next = DATA_BASE;
	f->gm = try_new_gmem(RAM);
	if (!f->gm || worker_init(&f->w, "net-test")) {
		if (f->gm)
			free_gmem(f->gm);
		test_free(f);
		return -1;
	}
	r = virtio_net_create(&f->net, &o, "virtio-net0", f->gm, &f->w, &vqf_owner_ops, &f->owner,
			      f->err, sizeof(f->err));
	if (r) {
		print_error("virtio_net_create: %s\n", f->err);
		worker_destroy(&f->w);
		free_gmem(f->gm);
		test_free(f);
		return -1;
	}
	f->t = virtio_net_mmio(f->net);
	*state = f;
	f->inet = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f->inet < 0)
		return -1;
	link_up(f);
	open_packet_socket(f);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	worker_destroy(&f->w);
	virtio_net_destroy(f->net);
	if (f->pkt >= 0)
		close(f->pkt);
	if (f->inet >= 0)
		close(f->inet);
	free_gmem(f->gm);
	test_free(f);
	return 0;
}

static struct fx *get(void **state)
{
	if (skip_reason) {
		print_message("skipping: %s\n", skip_reason);
		skip();
	}
	assert_non_null(*state);
	return *state;
}

/* ---- tests that need no TAP ---- */

static void test_parse_mac(void **state)
{
	uint8_t mac[6] = {0};
	static const uint8_t want[6] = {0x52, 0x54, 0x00, 0xab, 0xCD, 0xef};
	static const char *const bad[] = {
		"",
		"52:54:00:ab:cd",
		"52:54:00:ab:cd:ef:",
		"52:54:00:ab:cd:ef:01",
		"52-54-00-ab-cd-ef",
		"52:54:00:ab:cd:eg",
		"5:54:00:ab:cd:ef0",
		"525:4:00:ab:cd:ef",
		" 52:54:00:ab:cd:ef",
		"52:54:00:ab:cd:ef ",
		"01:00:5e:00:00:01", /* multicast */
		"ff:ff:ff:ff:ff:ff",
	};
	unsigned int i;

	(void)state;
	assert_int_equal(virtio_net_parse_mac("52:54:00:ab:CD:ef", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(virtio_net_parse_mac("02:00:00:00:00:00", mac), 0);
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[5], 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(mac, 0x11, sizeof(mac));
		if (virtio_net_parse_mac(bad[i], mac) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(mac[0], 0x11); /* untouched */
	}
	assert_int_equal(virtio_net_parse_mac(NULL, mac), -EINVAL);
}

static void test_create_bad_name(void **state)
{
	struct virtio_net_opts o = {.tap = "a-name-longer-than-15"};
	struct virtio_net *n = NULL;
	struct worker w;
	char err[128] = "";

	(void)state;
	assert_int_equal(worker_init(&w, "net-test"), 0);
	assert_int_equal(virtio_net_create(&n, &o, "virtio-net0", NULL, &w, &vqf_owner_ops, NULL,
					   err, sizeof(err)),
			 -EINVAL);
	assert_null(n);
	assert_mentions(err, "tap 'a-name-longer-than-15'", "15", NULL);
	o.tap = "";
	assert_int_equal(virtio_net_create(&n, &o, "virtio-net0", NULL, &w, &vqf_owner_ops, NULL,
					   err, sizeof(err)),
			 -EINVAL);
	assert_null(n);
	worker_destroy(&w);
	virtio_net_destroy(NULL);
}

/* ---- configuration ---- */

static void test_config(void **state)
{
	struct fx *f = get(state);
	static const uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_RING_EVENT_IDX) |
				     BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MAC) |
				     BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
				     BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
				     BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
				     BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO) |
				     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
				     BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO);
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	uint8_t cfg[16];
	unsigned int i;

	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_int_equal(vqf_device_features(f->t), want);
	/* Byte by byte, as Linux reads the MAC. */
	for (i = 0; i < sizeof(cfg); i++)
		virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + i, &cfg[i], 1);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(get_le16(cfg + VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
	for (i = 8; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
	/* A 16-bit read of status and a 32-bit read straddling the end. */
	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + 6, cfg, 2);
	assert_int_equal(get_le16(cfg), VIRTIO_NET_S_LINK_UP);
	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + 4, cfg, 4);
	assert_int_equal(get_le32(cfg), 0x0001U << 16 | 0x56 << 8 | 0x34);
	/* The driver cannot change the MAC through the config space. */
	memset(cfg, 0, 6);
	virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG, cfg, 4);
	virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG, cfg, 1);
	assert_int_equal(cfg[0], 0x52);
}

static void read_mac(struct virtio_mmio *t, uint8_t mac[6])
{
	unsigned int i;

	for (i = 0; i < 6; i++)
		virtio_mmio_read(t, VIRTIO_MMIO_CONFIG + i, &mac[i], 1);
}

static void create_plain(struct fx *f, const char *tap, struct virtio_net **n)
{
	struct virtio_net_opts o = {.tap = tap};

	if (virtio_net_create(n, &o, "virtio-net1", f->gm, &f->w, &vqf_owner_ops, &f->owner, f->err,
			      sizeof(f->err)))
		fail_msg("virtio_net_create: %s", f->err);
}

static void test_default_mac(void **state)
{
	struct fx *f = get(state);
	struct virtio_net *a, *b;
	uint8_t mac_a[6], mac_a2[6], mac_b[6];

	create_plain(f, "lmtap1", &a);
	read_mac(virtio_net_mmio(a), mac_a);
	virtio_net_destroy(a);
	create_plain(f, "lmtap1", &a);
	read_mac(virtio_net_mmio(a), mac_a2);
	create_plain(f, "lmtap2", &b);
	read_mac(virtio_net_mmio(b), mac_b);
	virtio_net_destroy(a);
	virtio_net_destroy(b);

	assert_int_equal(mac_a[0], 0x02); /* locally administered, unicast */
	assert_memory_equal(mac_a, mac_a2, 6);
	assert_memory_not_equal(mac_a, mac_b, 6);
	assert_int_equal(mac_b[0], 0x02);
}

static void test_tap_in_use(void **state)
{
	struct fx *f = get(state);
	struct virtio_net_opts o = {.tap = TAP};
	struct virtio_net *n = NULL;

	/* TAP is attached to f->net already (single queue). */
	assert_int_equal(virtio_net_create(&n, &o, "virtio-net1", f->gm, &f->w, &vqf_owner_ops,
					   &f->owner, f->err, sizeof(f->err)),
			 -EBUSY);
	assert_null(n);
	assert_mentions(f->err, "tap '" TAP "'", strerror(EBUSY), NULL);
}

/* ---- transmit ---- */

static void test_tx_frame(void **state)
{
	struct fx *f = get(state);
	uint8_t hdr[HDR] = {0}, got[2048];
	uint8_t *frame = make_frame(300, 7);
	uint16_t head;

	driver_init(f, BASE_FEATURES);
	head = post_tx(f, hdr, frame, 300);
	f->owner.irqs = 0;
	notify(f, VIRTIO_NET_TXQ);
	expect_used(&f->txq, head, 0);
	assert_int_equal(f->owner.irqs, 1);
	assert_int_equal(host_recv(f, got, sizeof(got), 1000), 300);
	assert_memory_equal(got, frame, 300);
	/* Kicks re-enabled once the ring is drained. */
	assert_int_equal(vqf_used_flags(&f->txq) & VIRTQ_USED_F_NO_NOTIFY, 0);

	/* Two more in one kick, the second as a single descriptor. */
	{
		uint8_t *one = make_frame(60, 9);
		uint64_t gpa = galloc(f, HDR + 60);
		struct vqf_buf b = {.gpa = gpa, .len = HDR + 60};
		uint16_t h1, h2;

		h1 = post_tx(f, hdr, frame, 200);
		memset(vqf_ram(f->gm, gpa, HDR), 0, HDR);
		memcpy(vqf_ram(f->gm, gpa + HDR, 60), one, 60);
		h2 = post(&f->txq, &b, 1);
		notify(f, VIRTIO_NET_TXQ);
		expect_used(&f->txq, h1, 0);
		expect_used(&f->txq, h2, 0);
		assert_int_equal(host_recv(f, got, sizeof(got), 1000), 200);
		assert_memory_equal(got, frame, 200);
		assert_int_equal(host_recv(f, got, sizeof(got), 1000), 60);
		assert_memory_equal(got, one, 60);
		test_free(one);
	}
	assert_false(needs_reset(f));
	test_free(frame);
}

static void test_tx_indirect(void **state)
{
	struct fx *f = get(state);
	uint8_t got[256], *frame = make_frame(100, 1);
	uint64_t table = galloc(f, 32), h = galloc(f, HDR), d = galloc(f, 100);
	struct vqf_buf b[2] = {{.gpa = h, .len = HDR}, {.gpa = d, .len = 100}};
	uint16_t head;

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_F_INDIRECT_DESC));
	memset(vqf_ram(f->gm, h, HDR), 0, HDR);
	memcpy(vqf_ram(f->gm, d, 100), frame, 100);
	head = vqf_add_indirect(&f->txq, table, b, 2);
	vqf_publish(&f->txq, head);
	notify(f, VIRTIO_NET_TXQ);
	expect_used(&f->txq, head, 0);
	assert_int_equal(host_recv(f, got, sizeof(got), 1000), 100);
	assert_memory_equal(got, frame, 100);
	test_free(frame);
}

static void test_tx_writable_descriptor_fails(void **state)
{
	struct fx *f = get(state);
	struct vqf_buf b[2] = {
		{.gpa = galloc(f, 100), .len = 100},
		{.gpa = galloc(f, 100), .len = 100, .write = true},
	};
	uint8_t got[256];

	driver_init(f, BASE_FEATURES);
	memset(vqf_ram(f->gm, b[0].gpa, 100), 0, 100);
	post(&f->txq, b, 2);
	f->owner.irqs = 0;
	notify(f, VIRTIO_NET_TXQ);
	assert_true(needs_reset(f));
	assert_true(vqf_read32(f->t, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	assert_int_equal(f->owner.irqs, 1);
	expect_no_used(&f->txq);
	assert_int_equal(host_recv(f, got, sizeof(got), 100), -1);
}

static void test_tx_short_header_fails(void **state)
{
	struct fx *f = get(state);
	struct vqf_buf b = {.gpa = galloc(f, HDR - 1), .len = HDR - 1};

	driver_init(f, BASE_FEATURES);
	post(&f->txq, &b, 1);
	notify(f, VIRTIO_NET_TXQ);
	assert_true(needs_reset(f));
	expect_no_used(&f->txq);
}

static void test_tx_bad_address_fails(void **state)
{
	struct fx *f = get(state);
	struct vqf_buf b = {.gpa = RAM - 8, .len = 64}; /* runs off the end of RAM */

	driver_init(f, BASE_FEATURES);
	post(&f->txq, &b, 1);
	notify(f, VIRTIO_NET_TXQ);
	assert_true(needs_reset(f));
	expect_no_used(&f->txq);
	/* A failed device ignores further notifications. */
	notify(f, VIRTIO_NET_TXQ);
	expect_no_used(&f->txq);
}

static void test_tx_oversized_dropped(void **state)
{
	struct fx *f = get(state);
	uint32_t big = HDR + VIRTIO_NET_FRAME_MAX + 1;
	struct vqf_buf b = {.gpa = galloc(f, big), .len = big};
	uint8_t hdr[HDR] = {0}, got[256];
	uint8_t *frame = make_frame(big - HDR, 3), *small = make_frame(80, 4);
	uint16_t h1, h2;

	driver_init(f, BASE_FEATURES);
	memset(vqf_ram(f->gm, b.gpa, HDR), 0, HDR);
	memcpy(vqf_ram(f->gm, b.gpa + HDR, big - HDR), frame, big - HDR);
	h1 = post(&f->txq, &b, 1);
	h2 = post_tx(f, hdr, small, 80);
	notify(f, VIRTIO_NET_TXQ);
	/* Dropped and returned; the device goes on with the next frame. */
	expect_used(&f->txq, h1, 0);
	expect_used(&f->txq, h2, 0);
	assert_false(needs_reset(f));
	assert_int_equal(host_recv(f, got, sizeof(got), 1000), 80);
	assert_memory_equal(got, small, 80);
	assert_int_equal(host_recv(f, got, sizeof(got), 100), -1);
	test_free(frame);
	test_free(small);
}

static void test_tx_unnegotiated_gso_dropped(void **state)
{
	struct fx *f = get(state);
	uint8_t hdr[HDR] = {0}, got[256], *frame = make_frame(100, 5);
	uint16_t h;

	driver_init(f, BASE_FEATURES); /* no HOST_TSO4 */
	hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
	put_le16(hdr + 4, 1000); /* gso_size */
	h = post_tx(f, hdr, frame, 100);
	notify(f, VIRTIO_NET_TXQ);
	expect_used(&f->txq, h, 0);
	assert_false(needs_reset(f));
	assert_int_equal(host_recv(f, got, sizeof(got), 100), -1);
	test_free(frame);
}

/* ---- receive ---- */

static void check_hdr(struct fx *f, uint64_t gpa, uint16_t num_buffers)
{
	const uint8_t *h = vqf_ram(f->gm, gpa, HDR);
	unsigned int i;

	for (i = 0; i < VIRTIO_NET_HDR_NUM_BUFFERS; i++)
		assert_int_equal(h[i], 0); /* no offloads: nothing but num_buffers */
	assert_int_equal(get_le16(h + VIRTIO_NET_HDR_NUM_BUFFERS), num_buffers);
}

/*
 * The host sends frame: the worker puts it, alone and behind a header with no
 * offloads, in the chain `head` (one buffer at gpa).
 */
static void expect_rx(struct fx *f, const uint8_t *frame, size_t len, uint16_t head, uint64_t gpa)
{
	inject(f, frame, len);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_used(&f->rxq, head, (uint32_t)(HDR + len));
	check_hdr(f, gpa, 1);
	assert_memory_equal(vqf_ram(f->gm, gpa + HDR, len), frame, len);
}

static void test_rx_frame(void **state)
{
	struct fx *f = get(state);
	uint8_t *frame = make_frame(60, 11);
	uint64_t gpa;
	uint16_t head;

	driver_init(f, BASE_FEATURES);
	head = post_rx(f, 2048, &gpa);
	post_rx(f, 2048, NULL);
	notify(f, VIRTIO_NET_RXQ); /* nothing to read yet */
	expect_no_used(&f->rxq);
	f->owner.irqs = 0;
	expect_rx(f, frame, 60, head, gpa);
	assert_int_equal(f->owner.irqs, 1);
	/* Untouched past the frame. */
	assert_int_equal(*vqf_ram(f->gm, gpa + HDR + 60, 1), 0xaa);
	/* Frames flowing and buffers left: the driver need not kick. */
	assert_int_equal(vqf_used_flags(&f->rxq) & VIRTQ_USED_F_NO_NOTIFY, VIRTQ_USED_F_NO_NOTIFY);
	test_free(frame);
}

static void test_rx_no_buffers_then_added(void **state)
{
	struct fx *f = get(state);
	uint8_t *a = make_frame(70, 1), *b = make_frame(90, 2);
	uint64_t ga, gb;
	uint16_t ha, hb;

	driver_init(f, BASE_FEATURES);
	inject(f, a, 70);
	inject(f, b, 90);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_no_used(&f->rxq);
	/* Out of buffers: kicks must be on, or the device would never hear of new ones. */
	assert_int_equal(vqf_used_flags(&f->rxq) & VIRTQ_USED_F_NO_NOTIFY, 0);
	vqf_pump(&f->w, 50);
	expect_no_used(&f->rxq);

	ha = post_rx(f, 1600, &ga);
	notify(f, VIRTIO_NET_RXQ);
	expect_used(&f->rxq, ha, HDR + 70);
	expect_no_used(&f->rxq);
	check_hdr(f, ga, 1);
	assert_memory_equal(vqf_ram(f->gm, ga + HDR, 70), a, 70);

	hb = post_rx(f, 1600, &gb);
	notify(f, VIRTIO_NET_RXQ);
	expect_used(&f->rxq, hb, HDR + 90);
	check_hdr(f, gb, 1);
	assert_memory_equal(vqf_ram(f->gm, gb + HDR, 90), b, 90);
	test_free(a);
	test_free(b);
}

static void test_rx_too_big_without_mrg(void **state)
{
	struct fx *f = get(state);
	uint8_t *big = make_frame(300, 1), *exact = make_frame(100 - HDR, 2);
	uint64_t gpa;
	uint16_t head;

	driver_init(f, BASE_FEATURES);
	head = post_rx(f, 100, &gpa);
	notify(f, VIRTIO_NET_RXQ);
	inject(f, big, 300);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	/* Dropped: the TAP truncated it. The chain waits for the next frame. */
	expect_no_used(&f->rxq);
	/* A frame that fills the chain exactly is not mistaken for a cut one. */
	expect_rx(f, exact, 100 - HDR, head, gpa);
	assert_false(needs_reset(f));
	test_free(big);
	test_free(exact);
}

/* Concatenate what the first k buffers (each `each` bytes, from gpa[]) hold. */
static void gather(struct fx *f, const uint64_t *gpa, const uint32_t *len, unsigned int k,
		   uint8_t *out)
{
	unsigned int i;

	for (i = 0; i < k; i++) {
		memcpy(out, vqf_ram(f->gm, gpa[i], len[i]), len[i]);
		out += len[i];
	}
}

static void test_rx_mrg_small_buffers(void **state)
{
	struct fx *f = get(state);
	uint8_t *frame = make_frame(300, 21), *second = make_frame(50, 22);
	uint8_t got[HDR + 300];
	uint64_t gpa[6];
	uint16_t head[6];
	uint32_t len[4] = {100, 100, 100, HDR};
	unsigned int i;

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_MRG_RXBUF));
	/* One buffer: the frame (312 bytes with its header) has to wait for more. */
	head[0] = post_rx(f, 100, &gpa[0]);
	notify(f, VIRTIO_NET_RXQ);
	inject(f, frame, 300);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_no_used(&f->rxq);
	assert_int_equal(vqf_used_flags(&f->rxq) & VIRTQ_USED_F_NO_NOTIFY, 0);

	for (i = 1; i < 5; i++)
		head[i] = post_rx(f, 100, &gpa[i]);
	f->owner.irqs = 0;
	notify(f, VIRTIO_NET_RXQ);
	for (i = 0; i < 4; i++)
		expect_used(&f->rxq, head[i], len[i]);
	expect_no_used(&f->rxq);
	assert_int_equal(f->owner.irqs, 1);
	check_hdr(f, gpa[0], 4);
	gather(f, gpa, len, 4, got);
	assert_memory_equal(got + HDR, frame, 300);

	/* The fifth buffer was kept and takes the next frame. */
	expect_rx(f, second, 50, head[4], gpa[4]);
	test_free(frame);
	test_free(second);
}

static void test_rx_mrg_large_frame_direct(void **state)
{
	struct fx *f = get(state);
	enum { NBUF = 20, BUFSZ = 4096, BIGLEN = 9014 };
	uint8_t *big = make_frame(BIGLEN, 31), *small = make_frame(100, 32);
	uint8_t *got = test_malloc(NBUF * BUFSZ);
	uint64_t gpa[NBUF];
	uint16_t head[NBUF];
	uint32_t len[3] = {BUFSZ, BUFSZ, HDR + BIGLEN - 2 * BUFSZ};
	unsigned int i;

	set_mtu(f, 9000);
	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_MRG_RXBUF));
	/* 80 KiB: room for the largest frame, so the device reads into the ring directly. */
	for (i = 0; i < NBUF; i++)
		head[i] = post_rx(f, BUFSZ, &gpa[i]);
	notify(f, VIRTIO_NET_RXQ);
	inject(f, big, BIGLEN);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	for (i = 0; i < 3; i++)
		expect_used(&f->rxq, head[i], len[i]);
	expect_no_used(&f->rxq);
	check_hdr(f, gpa[0], 3);
	gather(f, gpa, len, 3, got);
	assert_memory_equal(got + HDR, big, BIGLEN);
	/* The fourth buffer was not written. */
	assert_int_equal(*vqf_ram(f->gm, gpa[3], 1), 0xaa);

	expect_rx(f, small, 100, head[3], gpa[3]);
	test_free(big);
	test_free(small);
	test_free(got);
}

/* The chains just posted are announced and a frame arrives: the device must fail. */
static void expect_rx_needs_reset(struct fx *f)
{
	uint8_t *frame = make_frame(60, 1);

	notify(f, VIRTIO_NET_RXQ);
	inject(f, frame, 60);
	vqf_pump(&f->w, 1000);
	assert_true(needs_reset(f));
	expect_no_used(&f->rxq);
	test_free(frame);
}

static void test_rx_readable_buffer_fails(void **state)
{
	struct fx *f = get(state);
	struct vqf_buf b = {.gpa = galloc(f, 2048), .len = 2048}; /* not WRITE */

	driver_init(f, BASE_FEATURES);
	post(&f->rxq, &b, 1);
	expect_rx_needs_reset(f);
}

static void test_rx_buffer_smaller_than_header_fails(void **state)
{
	struct fx *f = get(state);

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_MRG_RXBUF));
	post_rx(f, HDR - 2, NULL);
	expect_rx_needs_reset(f);
}

/* ---- offloads ---- */

/*
 * The host sends a frame whose checksum is left to the device (a
 * virtio_net_hdr on an AF_PACKET socket with PACKET_VNET_HDR): the 16-bit
 * checksum over [start, end) goes at start + off.
 */
static void inject_partial_csum(struct fx *f, const uint8_t *frame, size_t len, uint16_t start,
				uint16_t off)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = f->ifindex};
	uint8_t *buf = test_calloc(1, 10 + len);
	int one = 1, s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	assert_true(s >= 0);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	buf[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	put_le16(buf + 6, start);
	put_le16(buf + 8, off);
	memcpy(buf + 10, frame, len);
	assert_int_equal(send(s, buf, 10 + len, 0), (ssize_t)(10 + len));
	close(s);
	test_free(buf);
}

/* The Internet checksum (RFC 1071) of p[0 .. len), as stored in the packet. */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_rx_partial_checksum(void **state)
{
	struct fx *f = get(state);
	enum { LEN = 100, START = 20, OFF = 6 };
	uint8_t *frame = make_frame(LEN, 51);
	const uint8_t *h;
	uint64_t gpa;
	uint16_t head, want;

	frame[START + OFF] = 0x12; /* what a stack puts there: the pseudo-header sum */
	frame[START + OFF + 1] = 0x34;
	want = inet_csum(frame + START, LEN - START);

	/* GUEST_CSUM: the TAP passes the frame on unchecksummed, and so do we. */
	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_CSUM));
	head = post_rx(f, 2048, &gpa);
	notify(f, VIRTIO_NET_RXQ);
	inject_partial_csum(f, frame, LEN, START, OFF);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_used(&f->rxq, head, HDR + LEN);
	h = vqf_ram(f->gm, gpa, HDR);
	assert_int_equal(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h[1], VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(get_le16(h + 6), START);
	assert_int_equal(get_le16(h + 8), OFF);
	assert_int_equal(get_le16(h + VIRTIO_NET_HDR_NUM_BUFFERS), 1);
	assert_memory_equal(vqf_ram(f->gm, gpa + HDR, LEN), frame, LEN);

	/* Without it the host completes the checksum and the flags stay 0. */
	driver_init(f, BASE_FEATURES);
	head = post_rx(f, 2048, &gpa);
	notify(f, VIRTIO_NET_RXQ);
	inject_partial_csum(f, frame, LEN, START, OFF);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_used(&f->rxq, head, HDR + LEN);
	check_hdr(f, gpa, 1);
	h = vqf_ram(f->gm, gpa + HDR, LEN);
	assert_int_equal(h[START + OFF] << 8 | h[START + OFF + 1], want);
	assert_memory_equal(h, frame, START + OFF);
	assert_memory_equal(h + START + OFF + 2, frame + START + OFF + 2, LEN - START - OFF - 2);
	test_free(frame);
}

static void test_offloads_follow_driver(void **state)
{
	struct fx *f = get(state);

	driver_init(f, BASE_FEATURES);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTSO), 0);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTXCSUM), 0);

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4));
	assert_int_equal(ethtool_get(f, ETHTOOL_GTXCSUM), 1);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTSO), 1);

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_CSUM));
	assert_int_equal(ethtool_get(f, ETHTOOL_GTXCSUM), 1);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTSO), 0);

	/* A reset takes them away again. */
	vqf_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTXCSUM), 0);
}

static void test_offload_without_dependency_fails(void **state)
{
	struct fx *f = get(state);
	uint32_t st;

	/* GUEST_TSO4 needs GUEST_CSUM (section 5.1.3.1). */
	st = driver_init_at(f, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_TSO4), RXQ_BASE, TXQ_BASE);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(ethtool_get(f, ETHTOOL_GTSO), 0);
	st = driver_init_at(f, BASE_FEATURES | BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_CSUM),
			    RXQ_BASE, TXQ_BASE);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	/* And a correct driver afterwards is fine. */
	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
			       BIT(VIRTIO_NET_F_HOST_ECN));
}

/* ---- reset ---- */

static void test_reset_drops_held_chains(void **state)
{
	struct fx *f = get(state);
	uint8_t *a = make_frame(60, 41), *b = make_frame(80, 42), *c = make_frame(64, 43);
	uint8_t hdr[HDR] = {0}, got[256];
	struct vqf old;
	uint64_t gpa;
	uint16_t head, old_used;
	unsigned int i;

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (i = 0; i < 4; i++)
		post_rx(f, 512, i == 0 ? &gpa : NULL);
	notify(f, VIRTIO_NET_RXQ);
	inject(f, a, 60);
	assert_true(vqf_pump(&f->w, 1000) > 0);
	expect_used(&f->rxq, 0, HDR + 60);
	assert_memory_equal(vqf_ram(f->gm, gpa + HDR, 60), a, 60);
	/* The device holds the other three chains; the next frame waits in the TAP. */
	inject(f, b, 80);
	old = f->rxq;
	old_used = vqf_used_idx(&old);

	vqf_write32(f->t, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vqf_read32(f->t, VIRTIO_MMIO_STATUS), 0);
	assert_true(vqf_pump(&f->w, 1000) >
		    0); /* the frame's edge, with the device reset: ignored */
	assert_int_equal(vqf_used_idx(&old), old_used);

	/* New queues elsewhere: the old chains must never show up in them. */
	f->data_next = DATA_BASE + 0x100000;
	assert_int_equal(driver_init_at(f, BASE_FEATURES, RXQ2_BASE, TXQ2_BASE) &
				 (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_DRIVER_OK),
			 VIRTIO_STATUS_DRIVER_OK);
	head = post_rx(f, 1600, &gpa);
	notify(f, VIRTIO_NET_RXQ);
	/* The frame that waited in the TAP through the reset. */
	expect_used(&f->rxq, head, HDR + 80);
	check_hdr(f, gpa, 1);
	assert_memory_equal(vqf_ram(f->gm, gpa + HDR, 80), b, 80);
	expect_no_used(&f->rxq);
	assert_int_equal(vqf_used_idx(&old), old_used);

	head = post_tx(f, hdr, c, 64);
	notify(f, VIRTIO_NET_TXQ);
	expect_used(&f->txq, head, 0);
	assert_int_equal(host_recv(f, got, sizeof(got), 1000), 64);
	assert_memory_equal(got, c, 64);
	test_free(a);
	test_free(b);
	test_free(c);
}

/* ---- with the real I/O thread ---- */

static bool wait_used(struct fx *f, struct vqf *q, uint32_t *id, uint32_t *len)
{
	int i;

	for (i = 0; i < 200; i++) {
		bool got;

		/* The device writes the ring under its lock; read it under the lock too. */
		virtio_mmio_lock(f->t);
		got = vqf_pop_used(q, id, len);
		virtio_mmio_unlock(f->t);
		if (got)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	return false;
}

static void test_worker_thread(void **state)
{
	struct fx *f = get(state);
	uint8_t *frames[8];
	uint64_t gpa[8];
	uint16_t head[8];
	uint32_t id, len;
	unsigned int i;

	driver_init(f, BASE_FEATURES | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_F_RING_EVENT_IDX));
	assert_int_equal(worker_start(&f->w), 0);
	virtio_mmio_lock(f->t);
	for (i = 0; i < 8; i++)
		head[i] = post_rx(f, 1600, &gpa[i]);
	virtio_mmio_unlock(f->t);
	virtio_mmio_queue_notify(f->t, VIRTIO_NET_RXQ);
	for (i = 0; i < 8; i++) {
		frames[i] = make_frame(100 + i, i);
		inject(f, frames[i], 100 + i);
	}
	for (i = 0; i < 8; i++) {
		assert_true(wait_used(f, &f->rxq, &id, &len));
		assert_int_equal(id, head[i]);
		assert_int_equal(len, HDR + 100 + i);
		check_hdr(f, gpa[i], 1);
		assert_memory_equal(vqf_ram(f->gm, gpa[i] + HDR, 100 + i), frames[i], 100 + i);
		test_free(frames[i]);
	}
	worker_destroy(&f->w);
}

/* ---- main ---- */

static void write_sysctl(const char *path, const char *v)
{
	FILE *fp = fopen(path, "w");

	if (fp) {
		fputs(v, fp);
		fclose(fp);
	}
}

/* Move into a network namespace of our own, or say why the TAP tests cannot run. */
static const char *prepare_netns(void)
{
	static char why[160];
	int fd;

	if (access("/dev/net/tun", R_OK | W_OK)) {
		snprintf(why, sizeof(why), "/dev/net/tun: %s", strerror(errno));
		return why;
	}
	if (unshare(CLONE_NEWNET)) {
		snprintf(why, sizeof(why),
			 "cannot create a network namespace (%s): need CAP_SYS_ADMIN/CAP_NET_ADMIN",
			 strerror(errno));
		return why;
	}
	/* No IPv6 chatter (router solicitations, MLD) from the host side into the tests. */
	write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		snprintf(why, sizeof(why), "no AF_PACKET socket (%s): need CAP_NET_RAW",
			 strerror(errno));
		return why;
	}
	close(fd);
	return NULL;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_create_bad_name),
		T(test_config),
		T(test_default_mac),
		T(test_tap_in_use),
		T(test_tx_frame),
		T(test_tx_indirect),
		T(test_tx_writable_descriptor_fails),
		T(test_tx_short_header_fails),
		T(test_tx_bad_address_fails),
		T(test_tx_oversized_dropped),
		T(test_tx_unnegotiated_gso_dropped),
		T(test_rx_frame),
		T(test_rx_no_buffers_then_added),
		T(test_rx_too_big_without_mrg),
		T(test_rx_mrg_small_buffers),
		T(test_rx_mrg_large_frame_direct),
		T(test_rx_readable_buffer_fails),
		T(test_rx_buffer_smaller_than_header_fails),
		T(test_rx_partial_checksum),
		T(test_offloads_follow_driver),
		T(test_offload_without_dependency_fails),
		T(test_reset_drops_held_chains),
		T(test_worker_thread),
	};

	skip_reason = prepare_netns();
	if (skip_reason)
		print_message("virtio-net TAP tests will be skipped: %s\n", skip_reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
