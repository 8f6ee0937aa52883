/* SPDX-License-Identifier: MIT */
/*
 * The VM's side of the control API (vmm/api.h, docs/api.md): the commands
 * query-status, stop, cont and quit, and the events STOP, RESUME and
 * SHUTDOWN.
 */
#ifndef LMIG_VMM_VM_API_H
#define LMIG_VMM_VM_API_H

struct vm;
struct json_object;

/* --api-socket PATH: listen there. 0, or a vm_status after logging why. */
int vm_api_setup(struct vm *vm, const char *path);
/* Start answering (once the vCPU threads exist). 0 or a vm_status. */
int vm_api_start(struct vm *vm);
/* Tell every client; data is consumed, may be NULL. No-op without an API. */
void vm_api_event(struct vm *vm, const char *name, struct json_object *data);
void vm_api_destroy(struct vm *vm);

#endif
