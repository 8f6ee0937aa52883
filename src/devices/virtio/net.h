/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (VIRTIO 1.2 section 5.1) on a Linux TAP device.
 *
 * Queues: 0 is the receiveq, 1 the transmitq; no control queue, no
 * multiqueue. Every frame carries the 12-byte VERSION_1 header
 * (struct virtio_net_hdr with num_buffers), which is also the header the
 * TAP reads and writes (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so headers pass
 * through unchanged except for num_buffers and the checks below.
 *
 * Features offered: VERSION_1, RING_EVENT_IDX, INDIRECT_DESC, MAC, STATUS
 * (the link is always up), MRG_RXBUF, CSUM, GUEST_CSUM, GUEST_TSO4/TSO6/
 * ECN/UFO and HOST_TSO4/TSO6/ECN/UFO. At DRIVER_OK the TAP's offloads
 * (TUNSETOFFLOAD) are set to exactly the GUEST_* features the driver
 * accepted, because the TAP then hands us frames with partial checksums
 * or GSO that the guest must be able to take; a driver that accepted a
 * feature without the one it depends on (section 5.1.3.1) fails activation
 * (DEVICE_NEEDS_RESET). A reset puts the offloads back to none.
 *
 * Transmit: each chain is a header plus a frame in its readable buffers,
 * handed to the TAP with one writev() straight from guest memory. A chain
 * with writable buffers or shorter than the header fails the device; a
 * frame longer than VIRTIO_NET_FRAME_MAX, or one using an offload the
 * driver did not negotiate (or that the TAP refuses), is dropped: the chain
 * is returned with length 0 and a rate-limited log line. When the TAP is
 * full (EAGAIN) the chain is kept and sent when the TAP becomes writable.
 *
 * Receive: frames are read with readv() directly into the guest's
 * writable buffers. Without MRG_RXBUF each frame goes into one chain, and
 * a frame the chain cannot hold is dropped (the chain is reused). With
 * MRG_RXBUF the device takes chains off the ring until it holds room for
 * the largest frame (VIRTIO_NET_RX_MAX) and reads into all of them at
 * once; the chains the frame used are returned (num_buffers of them), the
 * rest are kept for the next frame. When the ring holds less room than
 * that, the frame is read into a host bounce buffer of VIRTIO_NET_RX_MAX
 * bytes and copied out (still a single copy), waiting there if need be
 * until the driver posts enough buffers. Without buffers the device stops
 * reading (frames stay queued in the TAP) and resumes on the receiveq
 * notification. Frames with offloads the driver did not accept (left in
 * the TAP from before a reset) are dropped.
 *
 * Threads: the TAP's fd is watched by the device's worker (edge-triggered
 * EPOLLIN, plus EPOLLOUT while a transmit waits); its callback and the
 * queue notifications both run on the worker thread and take the
 * transport lock before touching the queues.
 */
#ifndef LMIG_DEVICES_VIRTIO_NET_H
#define LMIG_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"
#include "vmm/gmem.h"
#include "vmm/worker.h"

/* Feature bits (section 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

/* Configuration space (section 5.1.4): mac[6] at 0, le16 status at 6. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_S_LINK_UP 1

/* The header (section 5.1.6): flags, gso_type, then le16 hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers. */
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_QUEUE_MAX 256

/*
 * The largest Ethernet frame (without the virtio header) either way: 64 KiB
 * of GSO payload plus room for the Ethernet, VLAN and IP/TCP headers.
 */
#define VIRTIO_NET_FRAME_MAX (65536 + 64)
/* The most a frame from the TAP can need in receive buffers. */
#define VIRTIO_NET_RX_MAX (VIRTIO_NET_HDR_LEN + VIRTIO_NET_FRAME_MAX)

struct virtio_net_opts {
	const char *tap; /* interface name (at most 15 characters; "%d" lets the kernel pick) */
	bool has_mac;
	uint8_t mac[6];
};

struct virtio_net;

/*
 * Open /dev/net/tun and attach to (or create) the TAP o->tap with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (single queue), set the vnet header
 * size to 12, no offloads, non-blocking; register the fd with `w` (before
 * worker_start()) and initialise the embedded transport. Without o->has_mac
 * the MAC is 02:xx:xx:xx:xx:xx, the x being the first five bytes of the
 * 64-bit FNV-1a hash of the TAP's name: locally administered, unicast and
 * the same on every run with that TAP. 0 or -errno; err names the TAP and
 * the cause, e.g. "tap 'tap0': Operation not permitted (need CAP_NET_ADMIN)".
 */
int virtio_net_create(struct virtio_net **out, const struct virtio_net_opts *o, const char *name,
		      struct gmem *mem, struct worker *w, const struct virtio_mmio_ops *ops,
		      void *ctx, char *err, size_t errlen) __attribute__((warn_unused_result));
struct virtio_mmio *virtio_net_mmio(struct virtio_net *n);
/* After the worker stopped; closes the TAP (a TAP we created disappears). NULL is fine. */
void virtio_net_destroy(struct virtio_net *n);

/*
 * Parse "52:54:00:12:34:56": six pairs of hex digits (either case) joined
 * by ':'. A multicast address (low bit of the first byte set) is refused,
 * since it cannot be a NIC's own. 0 or -EINVAL (mac untouched).
 */
int virtio_net_parse_mac(const char *s, uint8_t mac[6]) __attribute__((warn_unused_result));

#endif
