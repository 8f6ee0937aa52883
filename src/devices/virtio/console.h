/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (VIRTIO 1.2 section 5.3): one port, no MULTIPORT, behind
 * a virtio-mmio window. Queue 0 is the receiveq (host to guest), queue 1
 * the transmitq (guest to host). The host side is one of:
 *
 *  - FILE: a file created (or truncated) at PATH; output only, the
 *    receiveq never gets data.
 *  - PTY: a new pseudo-terminal whose slave is in raw mode, so bytes pass
 *    unchanged both ways; virtio_console_pty_path() names the slave.
 *  - SOCKET: a Unix stream socket listening at PATH, one client at a time
 *    (a second one is closed at once). While no client is connected the
 *    guest's output waits in the transmitq; nothing is dropped.
 *
 * All I/O happens on the worker given to virtio_console_create(); the
 * transport lock serialises it with the vCPUs' register accesses.
 */
#ifndef LMIG_DEVICES_VIRTIO_CONSOLE_H
#define LMIG_DEVICES_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "devices/virtio/mmio.h"
#include "vmm/gmem.h"
#include "vmm/worker.h"

/* Queue indexes (section 5.3.2, port 0 only). */
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1
#define VIRTIO_CONSOLE_QUEUE_MAX 256

/* Feature bits (section 5.3.3); none of them is offered. */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

enum virtio_console_backend {
	VIRTIO_CONSOLE_FILE,
	VIRTIO_CONSOLE_PTY,
	VIRTIO_CONSOLE_SOCKET,
};

struct virtio_console_opts {
	enum virtio_console_backend backend;
	/* The file to write, or the Unix socket path to listen on; unused for pty. */
	const char *path;
};

struct virtio_console;

/*
 * Open the back end, register its file descriptors with w (before the
 * worker starts) and set up the transport. 0, or -errno with a message
 * naming the path and the cause in err.
 */
int virtio_console_create(struct virtio_console **out, const struct virtio_console_opts *o,
			  const char *name, struct gmem *mem, struct worker *w,
			  const struct virtio_mmio_ops *ops, void *ctx, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The pty's slave path (PTY backend), for the VM to print; else NULL. */
const char *virtio_console_pty_path(const struct virtio_console *c);

struct virtio_mmio *virtio_console_mmio(struct virtio_console *c);

/* Close the back end (and remove the socket file). After the worker stopped; NULL is ok. */
void virtio_console_destroy(struct virtio_console *c);

/*
 * Parse the command-line value: "file=PATH", "pty" or "socket=PATH".
 * o->path points into s afterwards. 0 or -EINVAL with a message in err.
 */
int virtio_console_parse(const char *s, struct virtio_console_opts *o, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
