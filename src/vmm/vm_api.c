// SPDX-License-Identifier: MIT
#include "vmm/vm_api.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "vmm/api.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* {"status": "running" | "paused", "running": bool} */
static int cmd_query_status(void *ctx, struct json_object *args, struct json_object **ret,
			    char *err, size_t errlen)
{
	struct vm *vm = ctx;
	bool paused = vm_is_paused(vm);
	struct json_object *o = json_object_new_object();

	(void)args;
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_object_object_add(o, "status", json_object_new_string(paused ? "paused" : "running"));
	json_object_object_add(o, "running", json_object_new_boolean(!paused));
	*ret = o;
	return 0;
}

static int cmd_stop(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	int r = vm_pause(ctx);

	(void)args;
	*ret = NULL;
	if (r)
		snprintf(err, errlen, "cannot pause: the VM is shutting down");
	return r;
}

static int cmd_cont(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	int r = vm_resume(ctx);

	(void)args;
	*ret = NULL;
	if (r)
		snprintf(err, errlen, "cannot resume: the VM is shutting down");
	return r;
}

static int cmd_quit(void *ctx, struct json_object *args, struct json_object **ret, char *err,
		    size_t errlen)
{
	(void)args;
	(void)err;
	(void)errlen;
	log_info("quit requested through the control API");
	vm_request_stop(ctx, VM_STATUS_OK);
	*ret = NULL;
	return 0;
}

static const struct api_command vm_commands[] = {
	{"query-status", cmd_query_status},
	{"stop", cmd_stop},
	{"cont", cmd_cont},
	{"quit", cmd_quit},
};

int vm_api_setup(struct vm *vm, const char *path)
{
	char err[512];
	int r;

	if (!path)
		return 0;
	r = api_create(&vm->api, path, vm_commands, sizeof(vm_commands) / sizeof(vm_commands[0]),
		       vm, err, sizeof(err));
	if (r) {
		log_err("--api-socket: %s", err);
		vm->api = NULL;
		return r == -ENOMEM ? VM_STATUS_HOST : VM_STATUS_CONFIG;
	}
	return 0;
}

int vm_api_start(struct vm *vm)
{
	int r;

	if (!vm->api)
		return 0;
	r = api_start(vm->api);
	if (r) {
		log_err("cannot start the control API's thread: %s", strerror(-r));
		return VM_STATUS_HOST;
	}
	return 0;
}

void vm_api_event(struct vm *vm, const char *name, struct json_object *data)
{
	if (vm->api)
		api_event(vm->api, name, data);
	else
		json_object_put(data);
}

void vm_api_destroy(struct vm *vm)
{
	api_destroy(vm->api);
	vm->api = NULL;
}
