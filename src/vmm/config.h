/* SPDX-License-Identifier: MIT */
/* Command-line options of `lmigtester run` and the machine they describe. */
#ifndef LMIG_VMM_CONFIG_H
#define LMIG_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "arch/x86/boot.h"

#define CONFIG_DEFAULT_MEM (256ULL << 20)
/* xAPIC IDs, as in the MADT's processor entries, are 8 bits; 0xff is broadcast. */
#define CONFIG_MAX_CPUS 255
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
/* What makes Linux get furthest on hosts whose KVM emulates kernel code. */
#define CONFIG_QUIRKS_CMDLINE                                                                      \
	"noxsave nopcid noinvpcid nofsgsbase "                                                     \
	"clearcpuid=popcnt,rdrand,rdseed,rdpid,movbe,smap,umip"

#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NETS 4
/* virtio-blk's GET_ID returns at most 20 bytes (VIRTIO_BLK_ID_BYTES). */
#define CONFIG_MAX_SERIAL 20

/* --disk PATH[,ro][,direct][,serial=S] */
struct config_disk {
	char *path; /* malloc'd, like serial */
	char *serial;
	bool readonly;
	bool direct;
};

/* --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX] */
struct config_net {
	char *tap; /* malloc'd */
	bool has_mac;
	uint8_t mac[6];
};

struct vm_config {
	const char *kernel_path; /* NULL: the default guest's kernel */
	const char *initrd_path;
	const char *params;  /* appended to the default command line */
	const char *cmdline; /* replaces the whole command line */
	uint64_t mem_size;
	unsigned int cpus;
	enum boot_protocol protocol;
	bool host_quirks; /* --no-host-quirks clears it */
	bool no_thp;	  /* --no-thp: guest RAM without transparent huge pages */
	int verbosity;	  /* -v adds one, -q subtracts one */
	struct config_disk disks[CONFIG_MAX_DISKS];
	unsigned int nr_disks;
	struct config_net nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
	bool rng;		/* --rng */
	const char *vconsole;	/* --vconsole file=PATH|pty|socket=PATH */
	bool virtio_cmdline;	/* --virtio-cmdline: announce virtio-mmio on the command line */
	const char *api_socket; /* --api-socket PATH: the control API (docs/api.md) */
};

enum config_result {
	CONFIG_RUN = 0,	 /* parsed: run the VM */
	CONFIG_EXIT = 1, /* --help or --version was printed: exit 0 */
};

/*
 * Parse a size: decimal digits with an optional K, M, G or T suffix (and an
 * optional trailing "iB" or "B"), powers of 1024. 0, or -EINVAL / -ERANGE.
 */
int config_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));

/*
 * Parse `run` options (argv[0] is "run"). Returns CONFIG_RUN or CONFIG_EXIT,
 * or -EINVAL with a message in err.
 */
int config_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free what config_parse_run() allocated (safe on a zeroed or failed config). */
void config_free(struct vm_config *cfg);

/*
 * The kernel command line: --cmdline as given, or the default line, the
 * host quirks' options when quirks apply, and --params. malloc'd.
 */
char *config_cmdline(const struct vm_config *cfg, bool apply_quirks);

void config_print_usage(FILE *f);

#endif
