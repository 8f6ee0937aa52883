/* SPDX-License-Identifier: MIT */
/* What the device models' state loaders share (docs/snapshot.md, "Device state"). */
#ifndef LMIG_DEVICES_DEVSTATE_H
#define LMIG_DEVICES_DEVSTATE_H

#include <stddef.h>

/*
 * Refuse a saved state: write "<device> state: <message>" to err (when
 * given) and return -EINVAL.
 */
int devstate_refuse(char *err, size_t errlen, const char *device, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
