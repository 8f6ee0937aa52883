/* SPDX-License-Identifier: MIT */
/*
 * Levelled logging to stderr. The level is set once at start-up by main().
 * Messages that a guest can trigger must go through log_ratelimited() so a
 * hostile guest cannot flood the host's terminal or disk.
 */
#ifndef LMIG_VMM_LOG_H
#define LMIG_VMM_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_QUIET = 0, /* errors only */
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2, /* default */
	LOG_LEVEL_DEBUG = 3,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Errors are always printed, even with -q. */
#define log_err(...) log_msg(LOG_LEVEL_QUIET, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/*
 * A token bucket per call site: at most `burst` messages, refilled at one
 * per second. Returns true when the caller may log now.
 */
struct log_ratelimit {
	double tokens;
	double last; /* monotonic seconds of the last refill */
	unsigned long suppressed;
};
bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst);

#define log_ratelimited(level, ...)                                                            \
	do {                                                                                   \
		static struct log_ratelimit rl__;                                              \
		if (log_enabled(level) && log_ratelimit_ok(&rl__, 10))                         \
			log_msg(level, __FILE__, __LINE__, __VA_ARGS__);                       \
	} while (0)

#endif
