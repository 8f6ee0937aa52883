// SPDX-License-Identifier: MIT
#include "vmm/worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"

int worker_init(struct worker *w, const char *name)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epoll_fd < 0)
		return -errno;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0) {
		int r = -errno;

		close(w->epoll_fd);
		return r;
	}
	return worker_add(w, w->stop_fd, EPOLLIN, NULL, NULL);
}

int worker_add(struct worker *w, int fd, uint32_t events, worker_fn fn, void *opaque)
{
	struct epoll_event ev = {.events = events};

	if (w->nr_fds >= WORKER_MAX_FDS)
		return -ENOSPC;
	ev.data.u32 = w->nr_fds;
	if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fds[w->nr_fds++] = (struct worker_fd){.fd = fd, .fn = fn, .opaque = opaque};
	return 0;
}

int worker_modify(struct worker *w, int fd, uint32_t events)
{
	unsigned int i;

	for (i = 0; i < w->nr_fds; i++) {
		struct epoll_event ev = {.events = events, .data.u32 = i};

		if (w->fds[i].fd != fd)
			continue;
		return epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	return -ENOENT;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[WORKER_MAX_FDS];

	for (;;) {
		int i, n = epoll_wait(w->epoll_fd, evs, WORKER_MAX_FDS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("%s: epoll_wait failed: %s", w->name, strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++) {
			const struct worker_fd *f = &w->fds[evs[i].data.u32];

			if (!f->fn)
				return NULL; /* the stop eventfd */
			f->fn(f->opaque, evs[i].events);
		}
	}
}

int worker_start(struct worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);

	if (r)
		return -r;
	pthread_setname_np(w->thread, w->name);
	w->started = true;
	return 0;
}

void worker_destroy(struct worker *w)
{
	if (w->started) {
		uint64_t one = 1;

		if (write(w->stop_fd, &one, sizeof(one)) < 0)
			log_warn("%s: cannot stop the I/O thread: %s", w->name, strerror(errno));
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	if (w->stop_fd > 0)
		close(w->stop_fd);
	if (w->epoll_fd > 0)
		close(w->epoll_fd);
	w->stop_fd = w->epoll_fd = -1;
}
