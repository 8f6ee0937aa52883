/* SPDX-License-Identifier: MIT */
/*
 * `lmigtester ctl`: the command-line client of the control API
 * (vmm/api.h, docs/api.md).
 */
#ifndef LMIG_VMM_CTL_H
#define LMIG_VMM_CTL_H

/*
 * `lmigtester ctl [--timeout S] SOCKET COMMAND [JSON-ARGS]`: argv[0] is
 * "ctl". Connects, reads the greeting, sends qmp_capabilities then
 * {"execute": COMMAND, "arguments": JSON-ARGS}, skips events, prints the
 * "return" value as JSON (pretty) on stdout and returns 0. An "error"
 * reply: its class and desc on stderr, returns 1. Bad usage, bad JSON-ARGS
 * (must be an object), connection failures, a closed connection or a
 * timeout (10 s by default, for the whole exchange): a message naming the
 * cause on stderr, returns 1. --help prints usage, returns 0.
 */
int ctl_main(int argc, char **argv);

#endif
