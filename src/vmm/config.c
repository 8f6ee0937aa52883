/* SPDX-License-Identifier: MIT */
#include "vmm/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/net.h"

int config_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && strcmp(end, "iB") == 0)
		end += 2;
	else if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

void config_print_usage(FILE *f)
{
	fputs("Usage: lmigtester run [options]\n"
	      "       lmigtester ctl SOCKET COMMAND [JSON-ARGUMENTS]\n"
	      "       lmigtester --help | --version\n"
	      "\n"
	      "Boot a Linux kernel (bzImage or ELF vmlinux) with its console on this terminal.\n"
	      "\n"
	      "Options of run:\n"
	      "  -k, --kernel PATH       kernel image (default: the default guest, build/guest/)\n"
	      "  -i, --initrd PATH       initramfs (default: the default guest's, when -k is not\n"
	      "                          given either)\n"
	      "  -p, --params STR        append STR to the kernel command line\n"
	      "      --cmdline STR       use STR as the whole kernel command line\n"
	      "  -m, --mem SIZE          guest RAM, with K/M/G suffix (default 256M)\n"
	      "  -c, --cpus N            number of vCPUs, 1 to 255 (default 1)\n"
	      "      --boot-protocol 64|32\n"
	      "                          Linux boot protocol to enter the kernel with (default "
	      "64)\n"
	      "      --no-host-quirks    do not adapt the guest to hosts whose KVM emulates\n"
	      "                          guest kernel code\n"
	      "      --api-socket PATH   serve the control API (JSON lines, QMP-like) on the\n"
	      "                          Unix socket PATH; 'lmigtester ctl PATH CMD' is its\n"
	      "                          client (docs/api.md)\n"
	      "      --no-thp            guest RAM without transparent huge pages (starts\n"
	      "                          ~1 ms sooner; huge pages make the guest and disk\n"
	      "                          I/O faster)\n"
	      "\n"
	      "virtio-mmio devices (announced in the ACPI DSDT as LNRO0005):\n"
	      "      --disk PATH[,ro][,direct][,serial=S]\n"
	      "                          virtio-blk on a raw image (repeatable, up to 8)\n"
	      "      --net tap=NAME[,mac=M]\n"
	      "                          virtio-net on a TAP device (repeatable, up to 4)\n"
	      "      --rng               virtio-rng fed from the host's getrandom()\n"
	      "      --vconsole file=PATH|pty|socket=PATH\n"
	      "                          virtio-console (hvc0) to a file, a new pty or a Unix\n"
	      "                          socket we listen on\n"
	      "      --virtio-cmdline    announce the devices on the kernel command line\n"
	      "                          (virtio_mmio.device=...) instead of in the DSDT, for\n"
	      "                          kernels without ACPI (or with acpi=off)\n"
	      "\n"
	      "  -v, --verbose           more log output (repeat for debug)\n"
	      "  -q, --quiet             errors only\n"
	      "  -h, --help              this help\n"
	      "      --version           print the version\n"
	      "\n"
	      "Console: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h shows help.\n"
	      "Exit status: 0 guest rebooted or powered off (or Ctrl-A x), 1 usage or\n"
	      "configuration error, 2 guest stopped abnormally, 3 host failure,\n"
	      "128+N terminated by signal N.\n",
	      f);
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Is `name` (of length len) one of opts, taking no argument? */
static bool getopt_long_only_flag(const struct option *opts, const char *name, size_t len)
{
	for (; opts->name; opts++)
		if (strlen(opts->name) == len && !strncmp(opts->name, name, len))
			return opts->has_arg == no_argument;
	return false;
}

enum {
	OPT_CMDLINE = 256,
	OPT_BOOT_PROTOCOL,
	OPT_NO_HOST_QUIRKS,
	OPT_VERSION,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_VCONSOLE,
	OPT_VIRTIO_CMDLINE,
	OPT_NO_THP,
	OPT_API_SOCKET,
};

/* --disk PATH[,ro][,direct][,serial=S]: PATH is everything before the first comma. */
static int parse_disk(const char *arg, struct config_disk *d, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	char *opts, *tok, *save = NULL;
	int r = 0;

	d->path = comma ? strndup(arg, (size_t)(comma - arg)) : strdup(arg);
	if (!d->path)
		return bad(err, errlen, "--disk '%s': out of memory", arg);
	if (!d->path[0])
		return bad(err, errlen, "--disk '%s': no image path", arg);
	if (!comma)
		return 0;
	opts = strdup(comma + 1);
	if (!opts)
		return bad(err, errlen, "--disk '%s': out of memory", arg);
	for (tok = strtok_r(opts, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "ro")) {
			d->readonly = true;
		} else if (!strcmp(tok, "direct")) {
			d->direct = true;
		} else if (!strncmp(tok, "serial=", 7)) {
			if (strlen(tok + 7) > CONFIG_MAX_SERIAL)
				r = bad(err, errlen, "--disk '%s': serial longer than %d bytes",
					arg, CONFIG_MAX_SERIAL);
			else if (!d->serial && !(d->serial = strdup(tok + 7)))
				r = bad(err, errlen, "--disk '%s': out of memory", arg);
		} else {
			r = bad(err, errlen,
				"--disk '%s': unknown option '%s' (use ro, direct or serial=S)",
				arg, tok);
		}
	}
	free(opts);
	return r;
}

/* --net tap=NAME[,mac=M] */
static int parse_net(const char *arg, struct config_net *n, char *err, size_t errlen)
{
	char *opts = strdup(arg), *tok, *save = NULL;
	int r = 0;

	if (!opts)
		return bad(err, errlen, "--net '%s': out of memory", arg);
	for (tok = strtok_r(opts, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tap=", 4)) {
			/* Interface names are at most IFNAMSIZ - 1 = 15 bytes. */
			if (!tok[4] || strlen(tok + 4) > 15)
				r = bad(err, errlen,
					"--net '%s': the TAP name must be 1 to 15 characters", arg);
			else if (!n->tap && !(n->tap = strdup(tok + 4)))
				r = bad(err, errlen, "--net '%s': out of memory", arg);
		} else if (!strncmp(tok, "mac=", 4)) {
			if (virtio_net_parse_mac(tok + 4, n->mac))
				r = bad(err, errlen,
					"--net '%s': '%s' is not a unicast MAC address "
					"(like 52:54:00:12:34:56)",
					arg, tok + 4);
			n->has_mac = true;
		} else {
			r = bad(err, errlen, "--net '%s': unknown option '%s' (use tap=NAME, mac=M)",
				arg, tok);
		}
	}
	free(opts);
	if (!r && !n->tap)
		r = bad(err, errlen, "--net '%s': no TAP device given (tap=NAME)", arg);
	return r;
}

void config_free(struct vm_config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nr_disks; i++) {
		free(cfg->disks[i].path);
		free(cfg->disks[i].serial);
	}
	for (i = 0; i < cfg->nr_nets; i++)
		free(cfg->nets[i].tap);
	cfg->nr_disks = cfg->nr_nets = 0;
}

int config_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{"kernel", required_argument, NULL, 'k'},
		{"initrd", required_argument, NULL, 'i'},
		{"params", required_argument, NULL, 'p'},
		{"cmdline", required_argument, NULL, OPT_CMDLINE},
		{"mem", required_argument, NULL, 'm'},
		{"cpus", required_argument, NULL, 'c'},
		{"boot-protocol", required_argument, NULL, OPT_BOOT_PROTOCOL},
		{"no-host-quirks", no_argument, NULL, OPT_NO_HOST_QUIRKS},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"disk", required_argument, NULL, OPT_DISK},
		{"net", required_argument, NULL, OPT_NET},
		{"rng", no_argument, NULL, OPT_RNG},
		{"vconsole", required_argument, NULL, OPT_VCONSOLE},
		{"virtio-cmdline", no_argument, NULL, OPT_VIRTIO_CMDLINE},
		{"no-thp", no_argument, NULL, OPT_NO_THP},
		{"api-socket", required_argument, NULL, OPT_API_SOCKET},
		{NULL, 0, NULL, 0},
	};
	unsigned long n;
	char *end;
	int c, r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->protocol = BOOT_PROTOCOL_64;
	cfg->host_quirks = true;

	optind = 0; /* full re-initialisation, so tests can parse repeatedly */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:p:m:c:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			cfg->kernel_path = optarg;
			break;
		case 'i':
			cfg->initrd_path = optarg;
			break;
		case 'p':
			cfg->params = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case 'm':
			r = config_parse_size(optarg, &cfg->mem_size);
			if (r)
				return bad(err, errlen,
					   "--mem '%s': %s (use a number with an optional K, M "
					   "or G suffix, e.g. 256M)",
					   optarg, r == -ERANGE ? "too large" : "not a size");
			if (cfg->mem_size == 0)
				return bad(err, errlen, "--mem '%s': guest RAM cannot be empty",
					   optarg);
			if (cfg->mem_size % 4096)
				return bad(err, errlen,
					   "--mem '%s': not a multiple of the 4 KiB page size",
					   optarg);
			break;
		case 'c':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || n == 0)
				return bad(err, errlen, "--cpus '%s': not a positive whole number",
					   optarg);
			if (n > CONFIG_MAX_CPUS)
				return bad(err, errlen,
					   "--cpus %lu: at most %u vCPUs (xAPIC IDs are 8 bits)", n,
					   CONFIG_MAX_CPUS);
			cfg->cpus = (unsigned int)n;
			break;
		case OPT_BOOT_PROTOCOL:
			if (strcmp(optarg, "64") == 0)
				cfg->protocol = BOOT_PROTOCOL_64;
			else if (strcmp(optarg, "32") == 0)
				cfg->protocol = BOOT_PROTOCOL_32;
			else
				return bad(err, errlen, "--boot-protocol '%s': use 64 or 32",
					   optarg);
			break;
		case OPT_NO_HOST_QUIRKS:
			cfg->host_quirks = false;
			break;
		case OPT_DISK:
			if (cfg->nr_disks == CONFIG_MAX_DISKS)
				return bad(err, errlen, "--disk '%s': at most %d disks", optarg,
					   CONFIG_MAX_DISKS);
			r = parse_disk(optarg, &cfg->disks[cfg->nr_disks++], err, errlen);
			if (r)
				return r;
			break;
		case OPT_NET:
			if (cfg->nr_nets == CONFIG_MAX_NETS)
				return bad(err, errlen, "--net '%s': at most %d network devices",
					   optarg, CONFIG_MAX_NETS);
			r = parse_net(optarg, &cfg->nets[cfg->nr_nets++], err, errlen);
			if (r)
				return r;
			break;
		case OPT_RNG:
			cfg->rng = true;
			break;
		case OPT_VCONSOLE:
			cfg->vconsole = optarg;
			break;
		case OPT_VIRTIO_CMDLINE:
			cfg->virtio_cmdline = true;
			break;
		case OPT_NO_THP:
			cfg->no_thp = true;
			break;
		case OPT_API_SOCKET:
			if (!optarg[0])
				return bad(err, errlen, "--api-socket: no socket path given");
			cfg->api_socket = optarg;
			break;
		case 'v':
			cfg->verbosity++;
			break;
		case 'q':
			cfg->verbosity--;
			break;
		case 'h':
			config_print_usage(stdout);
			return CONFIG_EXIT;
		case OPT_VERSION:
			printf("lmigtester %s\n", LMIG_VERSION);
			return CONFIG_EXIT;
		case ':':
			return bad(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
		default:
			/* Long options (also "--flag=value" on a flag) are named as typed. */
			if (strncmp(argv[optind - 1], "--", 2) == 0) {
				const char *eq = strchr(argv[optind - 1], '=');
				const char *o = argv[optind - 1];

				if (eq && getopt_long_only_flag(opts, o + 2, (size_t)(eq - o - 2)))
					return bad(err, errlen, "option '%.*s' takes no argument",
						   (int)(eq - o), o);
				return bad(err, errlen, "unknown option '%s'", o);
			}
			if (optopt > ' ' && optopt < 127)
				return bad(err, errlen, "unknown option '-%c'", optopt);
			return bad(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (cfg->cmdline && cfg->params)
		return bad(err, errlen,
			   "--cmdline replaces the whole command line; "
			   "do not combine it with --params");
	return CONFIG_RUN;
}

char *config_cmdline(const struct vm_config *cfg, bool apply_quirks)
{
	const char *quirks = apply_quirks ? " " CONFIG_QUIRKS_CMDLINE : "";
	const char *params = cfg->params ? cfg->params : "";
	char *s;

	if (cfg->cmdline)
		return strdup(cfg->cmdline);
	if (asprintf(&s, "%s%s%s%s", CONFIG_DEFAULT_CMDLINE, quirks, *params ? " " : "", params) <
	    0)
		return NULL;
	return s;
}
