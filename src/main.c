/* SPDX-License-Identifier: MIT */
/*
 * lmigtester: command-line entry. Only main() decides to exit; everything
 * below returns a status or -errno.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vmm/config.h"
#include "vmm/ctl.h"
#include "vmm/log.h"
#include "vmm/vm.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage_error(const char *msg)
{
	fprintf(stderr, "lmigtester: %s\nTry 'lmigtester --help'.\n", msg);
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm vm;
	char err[512];
	double t0, t1, t2;
	int r, level;

	if (argc < 2) {
		config_print_usage(stderr);
		return VM_STATUS_CONFIG;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		config_print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lmigtester %s\n", LMIG_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "run")) {
		snprintf(err, sizeof(err), "unknown command '%s'", argv[1]);
		usage_error(err);
		return VM_STATUS_CONFIG;
	}

	r = config_parse_run(argc - 1, argv + 1, &cfg, err, sizeof(err));
	if (r < 0) {
		usage_error(err);
		config_free(&cfg);
		return VM_STATUS_CONFIG;
	}
	if (r == CONFIG_EXIT) {
		config_free(&cfg);
		return 0;
	}
	level = LOG_LEVEL_INFO + cfg.verbosity;
	if (level < LOG_LEVEL_QUIET)
		level = LOG_LEVEL_QUIET;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_set_level((enum log_level)level);

	t0 = now_ms();
	r = vm_create(&vm, &cfg);
	if (r) {
		config_free(&cfg);
		return r;
	}
	t1 = now_ms();
	r = vm_run(&vm);
	t2 = now_ms();
	vm_destroy(&vm);
	config_free(&cfg);
	log_debug("VM set up in %.2f ms, ran %.2f ms, torn down in %.2f ms", t1 - t0, t2 - t1,
		  now_ms() - t2);
	return r;
}
