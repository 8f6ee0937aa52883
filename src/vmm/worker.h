/* SPDX-License-Identifier: MIT */
/*
 * An I/O thread: epoll over a set of file descriptors, one callback each.
 * Every virtio device gets one, so that device work (queue processing,
 * disk and TAP I/O) happens off the vCPU threads and devices do not wait
 * for each other.
 *
 * Register every fd before worker_start(), or from a callback on the
 * worker itself. Callbacks run on the worker thread, one at a time.
 */
#ifndef LMIG_VMM_WORKER_H
#define LMIG_VMM_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WORKER_MAX_FDS 16

/* events: the EPOLL* bits that fired. */
typedef void (*worker_fn)(void *opaque, uint32_t events);

struct worker_fd {
	int fd;
	worker_fn fn;
	void *opaque;
};

struct worker {
	char name[16]; /* thread name */
	int epoll_fd;
	int stop_fd; /* eventfd: ends the thread */
	pthread_t thread;
	bool started;
	struct worker_fd fds[WORKER_MAX_FDS];
	unsigned int nr_fds;
};

/* 0 or -errno. */
int worker_init(struct worker *w, const char *name) __attribute__((warn_unused_result));

/*
 * Watch fd for `events` (EPOLLIN, EPOLLOUT, EPOLLET ...). 0, -ENOSPC or
 * -errno from epoll_ctl.
 */
int worker_add(struct worker *w, int fd, uint32_t events, worker_fn fn, void *opaque)
	__attribute__((warn_unused_result));

/* Change the events watched on an fd already added. 0 or -errno. */
int worker_modify(struct worker *w, int fd, uint32_t events) __attribute__((warn_unused_result));

int worker_start(struct worker *w) __attribute__((warn_unused_result));

/* Stop the thread (if started), wait for it, close the worker's own fds. */
void worker_destroy(struct worker *w);

#endif
