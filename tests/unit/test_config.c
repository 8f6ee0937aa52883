// SPDX-License-Identifier: MIT
/*
 * Unit tests for the `run` options (src/vmm/config.c): sizes with
 * suffixes and overflow, every option in its long and short form, the
 * errors a user can make (each with a message naming the culprit) and the
 * kernel command line built from the options.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fixtures.h"
#include "vmm/config.h"

/* ---- helpers ---- */

#define MAX_ARGS 32

/* argv strings live here until the next parse, since cfg points into them. */
static char arg_store[MAX_ARGS][256];
static char *arg_v[MAX_ARGS + 1];
static char err_buf[512];

static int parse_argv(struct vm_config *cfg, const char *const *args)
{
	int argc;

	for (argc = 0; args[argc]; argc++) {
		assert_true(argc < MAX_ARGS);
		assert_true(strlen(args[argc]) < sizeof(arg_store[0]));
		strcpy(arg_store[argc], args[argc]);
		arg_v[argc] = arg_store[argc];
	}
	arg_v[argc] = NULL;
	memset(err_buf, 0, sizeof(err_buf));
	return config_parse_run(argc, arg_v, cfg, err_buf, sizeof(err_buf));
}

/* PARSE(&cfg, "run", "--mem", "1G") */
#define PARSE(cfg, ...) parse_argv(cfg, (const char *const[]){__VA_ARGS__, NULL})

/* The arguments of the last parse, for messages. */
static const char *args_str(void)
{
	static char buf[MAX_ARGS * (256 + 3) + 1];
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; arg_v[i]; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s'%s'", i ? " " : "", arg_v[i]);
	return buf;
}

static void expect_ok(int r)
{
	if (r != CONFIG_RUN)
		fail_msg("%s: parse returned %d: %s", args_str(), r, err_buf);
}

/* -EINVAL with a message that contains every substring given. */
static void expect_error(int r, const char *want1, const char *want2)
{
	if (r != -EINVAL)
		fail_msg("%s: parse returned %d, expected -EINVAL", args_str(), r);
	if (!err_buf[0])
		fail_msg("%s: no error message", args_str());
	if (want1 && !strstr(err_buf, want1))
		fail_msg("%s: message '%s' does not mention '%s'", args_str(), err_buf, want1);
	if (want2 && !strstr(err_buf, want2))
		fail_msg("%s: message '%s' does not mention '%s'", args_str(), err_buf, want2);
}

/* "run OPT VALUE" is refused with a message that mentions want1 and want2 (if not NULL). */
struct bad_option {
	const char *opt, *value, *want1, *want2;
};

static void expect_bad_options(const struct bad_option *cases, size_t n)
{
	struct vm_config cfg;
	size_t i;

	for (i = 0; i < n; i++) {
		expect_error(PARSE(&cfg, "run", cases[i].opt, cases[i].value), cases[i].want1,
			     cases[i].want2);
		config_free(&cfg);
	}
}

/* "run --disk PATH" repeated n times. */
static int parse_disk_count(struct vm_config *cfg, unsigned int n, const char *path)
{
	const char *args[2 * (CONFIG_MAX_DISKS + 1) + 2];
	unsigned int i;

	assert_true(n <= CONFIG_MAX_DISKS + 1);
	args[0] = "run";
	for (i = 0; i < n; i++) {
		args[1 + 2 * i] = "--disk";
		args[2 + 2 * i] = path;
	}
	args[1 + 2 * n] = NULL;
	return parse_argv(cfg, args);
}

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int r = config_parse_size(s, &v);

	if (r)
		fail_msg("config_parse_size(\"%s\") = %d", s, r);
	if (v != want)
		fail_msg("config_parse_size(\"%s\") gave %llu, expected %llu", s,
			 (unsigned long long)v, (unsigned long long)want);
}

static void expect_size_error(const char *s, int want)
{
	uint64_t v = 0xdeadbeef;
	int r = config_parse_size(s, &v);

	if (r != want)
		fail_msg("config_parse_size(\"%s\") = %d, expected %d", s, r, want);
	assert_int_equal(v, 0xdeadbeef);
}

/* ---- config_parse_size ---- */

static void test_size_valid(void **state)
{
	(void)state;
	expect_size("256M", 256ULL << 20);
	expect_size("1G", 1ULL << 30);
	expect_size("5G", 5ULL << 30);
	expect_size("4096", 4096);
	expect_size("64K", 64ULL << 10);
	expect_size("1GiB", 1ULL << 30);
	expect_size("2MB", 2ULL << 20);
	expect_size("3MiB", 3ULL << 20);
	expect_size("8KB", 8ULL << 10);
	expect_size("1T", 1ULL << 40);
	expect_size("1k", 1024);
	expect_size("1m", 1ULL << 20);
	expect_size("2g", 2ULL << 30);
	expect_size("2mb", 2ULL << 20);
	expect_size("0", 0);
	expect_size("007", 7);
	expect_size("18446744073709551615", UINT64_MAX);
	expect_size("16777215T", 16777215ULL << 40);
	expect_size("17179869183G", 17179869183ULL << 30);
}

static void test_size_invalid(void **state)
{
	uint64_t v = 0;

	(void)state;
	expect_size_error("", -EINVAL);
	expect_size_error("abc", -EINVAL);
	expect_size_error("12Q", -EINVAL);
	expect_size_error("-1", -EINVAL);
	expect_size_error("+1", -EINVAL);
	expect_size_error(" 1", -EINVAL);
	expect_size_error("1 ", -EINVAL);
	expect_size_error("1.5G", -EINVAL);
	expect_size_error("0x10", -EINVAL);
	expect_size_error("G", -EINVAL);
	expect_size_error("4096B", -EINVAL); /* "B" only after a K/M/G/T suffix */
	expect_size_error("1Gi", -EINVAL);
	expect_size_error("1GiBs", -EINVAL);
	expect_size_error("1GBB", -EINVAL);
	expect_size_error("1MM", -EINVAL);
	expect_size_error("1iB", -EINVAL);
	assert_int_equal(config_parse_size(NULL, &v), -EINVAL);
}

static void test_size_overflow(void **state)
{
	(void)state;
	expect_size_error("99999999999999999999", -ERANGE);
	expect_size_error("18446744073709551616", -ERANGE);
	expect_size_error("17179869184T", -ERANGE);
	expect_size_error("16777216T", -ERANGE); /* exactly 2^64 */
	expect_size_error("17179869184G", -ERANGE);
	expect_size_error("18014398509481984K", -ERANGE);
	expect_size_error("99999999999999999999M", -ERANGE);
}

/* ---- config_parse_run ---- */

static void test_run_defaults(void **state)
{
	struct vm_config cfg;

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	expect_ok(PARSE(&cfg, "run"));
	assert_int_equal(cfg.mem_size, 256ULL << 20);
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_64);
	assert_true(cfg.host_quirks);
	assert_int_equal(cfg.verbosity, 0);
	assert_null(cfg.kernel_path);
	assert_null(cfg.initrd_path);
	assert_null(cfg.params);
	assert_null(cfg.cmdline);
}

static void test_run_long_options(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_ok(PARSE(&cfg, "run", "--kernel", "/k/bzImage", "--initrd", "/k/initrd.cpio",
			"--params", "loglevel=8 quiet", "--mem", "1G", "--cpus", "1",
			"--boot-protocol", "32", "--no-host-quirks", "--verbose", "--verbose",
			"--quiet", "--verbose"));
	assert_string_equal(cfg.kernel_path, "/k/bzImage");
	assert_string_equal(cfg.initrd_path, "/k/initrd.cpio");
	assert_string_equal(cfg.params, "loglevel=8 quiet");
	assert_null(cfg.cmdline);
	assert_int_equal(cfg.mem_size, 1ULL << 30);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_32);
	assert_false(cfg.host_quirks);
	assert_int_equal(cfg.verbosity, 2);

	/* --opt=value, and --boot-protocol 64 back to the default. */
	expect_ok(PARSE(&cfg, "run", "--kernel=/a", "--initrd=/b", "--mem=5G", "--cpus=1",
			"--boot-protocol=64", "--cmdline=console=ttyS0 root=/dev/vda"));
	assert_string_equal(cfg.kernel_path, "/a");
	assert_string_equal(cfg.initrd_path, "/b");
	assert_int_equal(cfg.mem_size, 5ULL << 30);
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_64);
	assert_string_equal(cfg.cmdline, "console=ttyS0 root=/dev/vda");
	assert_null(cfg.params);
	assert_true(cfg.host_quirks);

	/* --quiet alone goes below the default. */
	expect_ok(PARSE(&cfg, "run", "--quiet"));
	assert_int_equal(cfg.verbosity, -1);
}

static void test_run_short_options(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_ok(PARSE(&cfg, "run", "-k", "vmlinux", "-i", "rd.img", "-p", "a=b", "-m", "64M",
			"-c", "1", "-v", "-v", "-v", "-q"));
	assert_string_equal(cfg.kernel_path, "vmlinux");
	assert_string_equal(cfg.initrd_path, "rd.img");
	assert_string_equal(cfg.params, "a=b");
	assert_int_equal(cfg.mem_size, 64ULL << 20);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.verbosity, 2);
	assert_true(cfg.host_quirks);

	/* Attached arguments and grouped flags. */
	expect_ok(PARSE(&cfg, "run", "-m2G", "-kbz", "-vvq", "-c1"));
	assert_int_equal(cfg.mem_size, 2ULL << 30);
	assert_string_equal(cfg.kernel_path, "bz");
	assert_int_equal(cfg.verbosity, 1);
	assert_int_equal(cfg.cpus, 1);
}

/* Parsing twice in one process must not carry state over (getopt's optind). */
static void test_run_repeatable(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "-m", "bad"), "bad", NULL);
	expect_ok(PARSE(&cfg, "run", "-m", "128M"));
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	expect_ok(PARSE(&cfg, "run", "-m", "128M"));
	assert_int_equal(cfg.mem_size, 128ULL << 20);
	expect_ok(PARSE(&cfg, "run"));
	assert_int_equal(cfg.mem_size, CONFIG_DEFAULT_MEM);
}

static void test_run_bad_mem(void **state)
{
	static const struct bad_option cases[] = {
		{"--mem", "1000", "1000", "4 KiB"},
		{"-m", "4097", "4097", NULL},
		{"--mem", "0", "'0'", "empty"},
		{"--mem", "0G", "0G", NULL},
		{"--mem", "abc", "abc", "not a size"},
		{"--mem", "12Q", "12Q", NULL},
		{"--mem", "-1", "-1", NULL},
		{"--mem", "", "--mem", NULL},
		{"--mem", "99999999999999999999", "too large", NULL},
		{"--mem", "17179869184T", "too large", NULL},
	};

	(void)state;
	expect_bad_options(cases, ARRAY_SIZE(cases));
}

static void test_run_virtio_devices(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_ok(PARSE(&cfg, "run", "--disk", "a.img", "--disk", "/x/b.img,ro,serial=abc,direct",
			"--net", "tap=tap0", "--net", "mac=52:54:00:12:34:56,tap=lmtap1", "--rng",
			"--vconsole", "pty", "--virtio-cmdline", "--no-thp", "--api-socket",
			"/run/x.sock"));
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_false(cfg.disks[0].readonly);
	assert_false(cfg.disks[0].direct);
	assert_null(cfg.disks[0].serial);
	assert_string_equal(cfg.disks[1].path, "/x/b.img");
	assert_true(cfg.disks[1].readonly);
	assert_true(cfg.disks[1].direct);
	assert_string_equal(cfg.disks[1].serial, "abc");
	assert_int_equal(cfg.nr_nets, 2);
	assert_string_equal(cfg.nets[0].tap, "tap0");
	assert_false(cfg.nets[0].has_mac);
	assert_string_equal(cfg.nets[1].tap, "lmtap1");
	assert_true(cfg.nets[1].has_mac);
	assert_int_equal(cfg.nets[1].mac[0], 0x52);
	assert_int_equal(cfg.nets[1].mac[5], 0x56);
	assert_true(cfg.rng);
	assert_string_equal(cfg.vconsole, "pty");
	assert_true(cfg.virtio_cmdline);
	assert_true(cfg.no_thp);
	assert_string_equal(cfg.api_socket, "/run/x.sock");
	config_free(&cfg);
	assert_int_equal(cfg.nr_disks, 0);

	expect_ok(PARSE(&cfg, "run"));
	assert_int_equal(cfg.nr_disks + cfg.nr_nets, 0);
	assert_false(cfg.rng);
	assert_null(cfg.vconsole);
	assert_false(cfg.virtio_cmdline);
	assert_false(cfg.no_thp);
	assert_null(cfg.api_socket);
	config_free(&cfg);
}

static void test_run_bad_virtio_devices(void **state)
{
	static const struct bad_option cases[] = {
		{"--disk", "", "no image path", NULL},
		{"--disk", ",ro", "no image path", NULL},
		{"--disk", "a.img,rw", "unknown option 'rw'", "a.img"},
		{"--disk", "a.img,serial=012345678901234567890", "serial longer than 20", NULL},
		{"--net", "tap=", "1 to 15", NULL},
		{"--net", "tap=abcdefghijklmnop", "1 to 15", NULL},
		{"--net", "mac=52:54:00:12:34:56", "no TAP device", NULL},
		{"--net", "tap=t0,mac=52:54:00:12:34", "not a unicast MAC", NULL},
		{"--net", "tap=t0,mac=01:00:5e:00:00:01", "not a unicast MAC", NULL},
		{"--net", "tap=t0,mac=52:54:00:12:34:567", "not a unicast MAC", NULL},
		{"--net", "tap=t0,vhost=on", "unknown option 'vhost=on'", NULL},
		{"--api-socket", "", "--api-socket", "no socket path"},
	};
	struct vm_config cfg;
	char disk[32];
	unsigned int i;

	(void)state;
	expect_bad_options(cases, ARRAY_SIZE(cases));
	expect_error(PARSE(&cfg, "run", "--rng=1"), "--rng", "takes no argument");
	config_free(&cfg);
	/* Nine disks are one too many. */
	for (i = 0; i < CONFIG_MAX_DISKS; i++) {
		snprintf(disk, sizeof(disk), "d%u.img", i);
		assert_int_equal(parse_disk_count(&cfg, i + 1, disk), CONFIG_RUN);
		config_free(&cfg);
	}
	expect_error(parse_disk_count(&cfg, CONFIG_MAX_DISKS + 1, "x.img"), "at most 8 disks",
		     NULL);
	config_free(&cfg);
}

static void test_run_cpus(void **state)
{
	static const struct bad_option cases[] = {
		{"--cpus", "256", "at most 255", NULL},
		{"-c", "1000", "at most 255", NULL},
		{"--cpus", "0", "'0'", NULL},
		{"--cpus", "abc", "abc", NULL},
		{"--cpus", "-1", "-1", NULL},
		{"--cpus", "", "--cpus", NULL},
		{"--cpus", "1x", "1x", NULL},
		{"--cpus", "1.0", "1.0", NULL},
		{"--cpus", "99999999999999999999999", "--cpus", NULL},
		/* 0, abc and the like are not numbers of CPUs at all. */
		{"--cpus", "0", "positive", NULL},
	};
	struct vm_config cfg;

	(void)state;
	expect_bad_options(cases, ARRAY_SIZE(cases));
	expect_ok(PARSE(&cfg, "run", "--cpus", "4"));
	assert_int_equal(cfg.cpus, 4);
	expect_ok(PARSE(&cfg, "run", "-c", "255"));
	assert_int_equal(cfg.cpus, 255);
}

static void test_run_boot_protocol(void **state)
{
	static const struct bad_option cases[] = {
		{"--boot-protocol", "16", "'16'", "64 or 32"},
		{"--boot-protocol", "", "--boot-protocol", NULL},
		{"--boot-protocol", "64bit", "64bit", NULL},
		{"--boot-protocol", " 32", "--boot-protocol", NULL},
	};
	struct vm_config cfg;

	(void)state;
	expect_bad_options(cases, ARRAY_SIZE(cases));
	expect_ok(PARSE(&cfg, "run", "--boot-protocol", "32"));
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_32);
}

static void test_run_unknown_option(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "--bogus"), "unknown option", "--bogus");
	expect_error(PARSE(&cfg, "run", "-z"), "unknown option", "-z");
	expect_error(PARSE(&cfg, "run", "-vz"), "unknown option", "-z");
	expect_error(PARSE(&cfg, "run", "--mem", "1G", "--frobnicate=3"), "--frobnicate", NULL);
	/* After a bad short option, a bad long one is still reported by name. */
	expect_error(PARSE(&cfg, "run", "--nope"), "--nope", NULL);
}

/*
 * A flag given a value ("--no-host-quirks=1", "--verbose=2"): glibc's
 * getopt_long returns '?' with optopt set to the option's val, so
 * config_parse_run's default case prints "unknown option '-%c'" with that
 * val: '-\x02' for --no-host-quirks (val OPT_NO_HOST_QUIRKS = 258), and
 * '-v', a valid option, for --verbose=2. The message should name the
 * option the user typed.
 */
static void test_run_flag_with_value(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "--no-host-quirks=1"), "--no-host-quirks", NULL);
	expect_error(PARSE(&cfg, "run", "--verbose=2"), "--verbose", NULL);
}

static void test_run_missing_argument(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "--mem"), "--mem", "argument");
	expect_error(PARSE(&cfg, "run", "--kernel"), "--kernel", "argument");
	expect_error(PARSE(&cfg, "run", "-v", "--cmdline"), "--cmdline", "argument");
	expect_error(PARSE(&cfg, "run", "-k"), "-k", "argument");
	expect_error(PARSE(&cfg, "run", "-m"), "-m", "argument");
	expect_error(PARSE(&cfg, "run", "--boot-protocol"), "--boot-protocol", "argument");
}

static void test_run_cmdline_with_params(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "--cmdline", "console=ttyS0", "--params", "quiet"),
		     "--cmdline", "--params");
	expect_error(PARSE(&cfg, "run", "-p", "quiet", "--cmdline", "console=ttyS0"), "--cmdline",
		     "--params");
	/* Either alone is fine. */
	expect_ok(PARSE(&cfg, "run", "--cmdline", "console=ttyS0"));
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	expect_ok(PARSE(&cfg, "run", "-p", "quiet"));
	assert_string_equal(cfg.params, "quiet");
}

static void test_run_stray_argument(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_error(PARSE(&cfg, "run", "extra"), "unexpected argument", "extra");
	/* Permuted past the options, still refused. */
	expect_error(PARSE(&cfg, "run", "-m", "1G", "bzImage", "-v"), "unexpected argument",
		     "bzImage");
	expect_error(PARSE(&cfg, "run", "--", "-v"), "unexpected argument", "-v");
}

/* Run config_parse_run with stdout redirected into buf. */
static int parse_capturing_stdout(struct vm_config *cfg, const char *opt, char *buf, size_t len)
{
	FILE *tmp = tmpfile();
	int saved, r;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
	r = PARSE(cfg, "run", opt);
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, len - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return r;
}

static void test_run_help_version(void **state)
{
	struct vm_config cfg;
	char out[4096];

	(void)state;
	assert_int_equal(parse_capturing_stdout(&cfg, "--help", out, sizeof(out)), CONFIG_EXIT);
	assert_non_null(strstr(out, "Usage: lmigtester run"));
	assert_non_null(strstr(out, "--boot-protocol"));
	assert_int_equal(parse_capturing_stdout(&cfg, "-h", out, sizeof(out)), CONFIG_EXIT);
	assert_non_null(strstr(out, "Usage:"));
	assert_int_equal(parse_capturing_stdout(&cfg, "--version", out, sizeof(out)), CONFIG_EXIT);
	assert_string_equal(out, "lmigtester " LMIG_VERSION "\n");
}

/* ---- config_cmdline ---- */

static void expect_cmdline(const struct vm_config *cfg, bool quirks, const char *want)
{
	char *s = config_cmdline(cfg, quirks);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void test_cmdline(void **state)
{
	struct vm_config cfg;

	(void)state;
	expect_ok(PARSE(&cfg, "run"));
	expect_cmdline(&cfg, false, "console=ttyS0 reboot=k panic=-1");
	expect_cmdline(&cfg, false, CONFIG_DEFAULT_CMDLINE);
	expect_cmdline(&cfg, true, CONFIG_DEFAULT_CMDLINE " " CONFIG_QUIRKS_CMDLINE);

	expect_ok(PARSE(&cfg, "run", "--params", "loglevel=8 quiet"));
	expect_cmdline(&cfg, false, CONFIG_DEFAULT_CMDLINE " loglevel=8 quiet");
	/* The user's parameters come last, so they win over the quirks. */
	expect_cmdline(&cfg, true,
		       CONFIG_DEFAULT_CMDLINE " " CONFIG_QUIRKS_CMDLINE " loglevel=8 quiet");

	/* An empty --params adds nothing, not even a space. */
	expect_ok(PARSE(&cfg, "run", "-p", ""));
	expect_cmdline(&cfg, false, CONFIG_DEFAULT_CMDLINE);

	/* --cmdline replaces everything: no default, no quirks. */
	expect_ok(PARSE(&cfg, "run", "--cmdline", "root=/dev/vda console=hvc0"));
	expect_cmdline(&cfg, false, "root=/dev/vda console=hvc0");
	expect_cmdline(&cfg, true, "root=/dev/vda console=hvc0");
	expect_ok(PARSE(&cfg, "run", "--cmdline", ""));
	expect_cmdline(&cfg, true, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_valid),
		cmocka_unit_test(test_size_invalid),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_run_defaults),
		cmocka_unit_test(test_run_long_options),
		cmocka_unit_test(test_run_short_options),
		cmocka_unit_test(test_run_repeatable),
		cmocka_unit_test(test_run_bad_mem),
		cmocka_unit_test(test_run_virtio_devices),
		cmocka_unit_test(test_run_bad_virtio_devices),
		cmocka_unit_test(test_run_cpus),
		cmocka_unit_test(test_run_boot_protocol),
		cmocka_unit_test(test_run_unknown_option),
		cmocka_unit_test(test_run_flag_with_value),
		cmocka_unit_test(test_run_missing_argument),
		cmocka_unit_test(test_run_cmdline_with_params),
		cmocka_unit_test(test_run_stray_argument),
		cmocka_unit_test(test_run_help_version),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
