/* SPDX-License-Identifier: MIT */
/*
 * Constants from the VIRTIO 1.2 specification that the transport, the
 * virtqueue code and every device share.
 */
#ifndef LMIG_DEVICES_VIRTIO_VIRTIO_H
#define LMIG_DEVICES_VIRTIO_VIRTIO_H

/* Device IDs (section 5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits (section 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_BIT(n) (1ULL << (n))

/* Interrupt status bits (section 4.2.2). */
#define VIRTIO_INT_VRING 0x1
#define VIRTIO_INT_CONFIG 0x2

#endif
