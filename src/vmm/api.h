/* SPDX-License-Identifier: MIT */
/*
 * The control API: a Unix socket speaking line-delimited JSON in the spirit
 * of QEMU's QMP (docs/api.md). The VM hands in its commands; the API adds
 * qmp_capabilities, query-version and query-commands, serves up to
 * API_MAX_CLIENTS clients at once on its own I/O thread, and broadcasts
 * events to all of them.
 *
 * Threads: commands run on the API thread, one at a time, in the order the
 * lines arrived (per client). api_event() may be called from any thread,
 * including from inside a command. api_destroy() must not be called from
 * inside a command (it joins the API thread).
 */
#ifndef LMIG_VMM_API_H
#define LMIG_VMM_API_H

#include <stddef.h>

#include <json-c/json.h>

/* Limits (docs/api.md, "Limits"). */
#define API_MAX_LINE (64 * 1024)     /* bytes of one request line, newline not counted */
#define API_MAX_CLIENTS 16	     /* connected at once */
#define API_MAX_OUTPUT (1024 * 1024) /* bytes queued for one client that does not read */

struct api;

/*
 * A command: args is the "arguments" object (never NULL: an empty object
 * when absent). On success return 0 and set *ret (a new json object, or
 * NULL for {}). On failure return -errno and write a message to err (it
 * becomes {"error": {"class": "GenericError", "desc": err}}; an empty err
 * becomes strerror). A *ret set on failure is released. Called on the
 * API's own thread; may block briefly (e.g. pausing vCPUs).
 */
typedef int (*api_cmd_fn)(void *ctx, struct json_object *args, struct json_object **ret, char *err,
			  size_t errlen);

struct api_command {
	const char *name;
	api_cmd_fn fn;
};

/*
 * Listen on the Unix socket `path` (a stale socket file is replaced; a
 * non-socket file or a socket someone listens on is refused with a message
 * naming the path and cause). cmds: the VM's commands (array of n, copied;
 * the names are copied too); a name used twice or one of the API's own is
 * refused (-EEXIST). 0 or -errno with err filled.
 */
int api_create(struct api **out, const char *path, const struct api_command *cmds, size_t n,
	       void *ctx, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Start the API thread (a worker, vmm/worker.h). 0 or -errno. */
int api_start(struct api *a) __attribute__((warn_unused_result));

/*
 * Broadcast {"event": name, "data": data, "timestamp": {"seconds": s,
 * "microseconds": us}} to every connected client ("data" left out when
 * data is NULL). data is consumed (json_object_put). Safe from any thread,
 * also before api_start and after clients left.
 */
void api_event(struct api *a, const char *name, struct json_object *data);

/*
 * Stop the thread, send what is still queued for each client as far as
 * its socket takes it without blocking, close every client, unlink the
 * socket (if it is still ours). NULL is fine.
 */
void api_destroy(struct api *a);

#endif
