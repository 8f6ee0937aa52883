// SPDX-License-Identifier: MIT
#include "devices/devstate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int devstate_refuse(char *err, size_t errlen, const char *device, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err && errlen) {
		n = snprintf(err, errlen, "%s state: ", device);
		if (n >= 0 && (size_t)n < errlen) {
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}
