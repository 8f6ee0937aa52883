/* SPDX-License-Identifier: MIT */
#include "vmm/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	/* One fprintf per message so lines from different threads do not mix. */
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (current_level >= LOG_LEVEL_DEBUG)
		fprintf(stderr, "lmigtester: %s: %s (%s:%d)\n", level_names[level], buf, file,
			line);
	else
		fprintf(stderr, "lmigtester: %s: %s\n", level_names[level], buf);
}

bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst)
{
	struct timespec ts;
	double now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	pthread_mutex_lock(&rl_lock);
	if (rl->last == 0) {
		rl->tokens = burst;
		rl->last = now;
	}
	rl->tokens += now - rl->last;
	if (rl->tokens > burst)
		rl->tokens = burst;
	rl->last = now;
	ok = rl->tokens >= 1.0;
	if (ok)
		rl->tokens -= 1.0;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&rl_lock);
	return ok;
}
