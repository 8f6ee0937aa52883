/* SPDX-License-Identifier: MIT */
/*
 * The CPL3 main program: parse the command line, print the banner, run the
 * checks as TAP, then end the VM the way the mode asks (see
 * docs/testguest.md). Runs natively even where CPL0 code is emulated, with
 * IOPL 3 for the console and the other port I/O.
 */
#include "tg.h"

struct tg_config cfg;
u64 bp_addr;

static const char *const mode_names[] = {
	[MODE_BOOT] = "boot",	  [MODE_ECHO] = "echo",
	[MODE_REBOOT] = "reboot", [MODE_TRIPLEFAULT] = "triplefault",
	[MODE_POKE] = "poke",	  [MODE_POWEROFF] = "poweroff",
	[MODE_VIRTIO] = "virtio", [MODE_VIRTIO_HOSTILE] = "virtio-hostile",
	[MODE_VIRTIO_BENCH] = "virtio-bench",
};

/* ---- TAP ---- */

int tap_count, tap_failures;
static bool tap_failed;
static char tap_why[200];

void tap_begin(void)
{
	tap_failed = false;
	tap_why[0] = 0;
}

/* Record why the current test fails; the first reason is the one reported. */
void tap_fail(const char *fmt, ...)
{
	va_list ap;

	if (tap_failed)
		return;
	tap_failed = true;
	va_start(ap, fmt);
	vsnprintf(tap_why, sizeof(tap_why), fmt, ap);
	va_end(ap);
}

bool tap_end(const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	tap_count++;
	if (tap_failed) {
		tap_failures++;
		print("not ok %d - %s # %s\n", tap_count, name, tap_why);
	} else {
		print("ok %d - %s\n", tap_count, name);
	}
	return !tap_failed;
}

bool tap_end_soft(const char *why, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (tap_failed && why) {
		print("ok %d - %s # SKIP %s: %s\n", ++tap_count, name, why, tap_why);
		return false;
	}
	return tap_end("%s", name);
}

void tap_skip(const char *reason, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	print("ok %d - %s # SKIP %s\n", ++tap_count, name, reason);
}

void tap_diag(const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	print("# %s\n", line);
}

/* ---- command line ---- */

static void cfg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cfg_error(const char *fmt, ...)
{
	va_list ap;

	if (cfg.error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(cfg.error, sizeof(cfg.error), fmt, ap);
	va_end(ap);
}

/* Decimal (or 0x hex) with an optional K/M/G suffix (powers of 1024). */
static bool parse_size(const char *s, size_t n, u64 *out)
{
	u64 v = 0, base = 10, mul = 1;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (n && base == 10) {
		char c = s[n - 1];

		if (c == 'k' || c == 'K')
			mul = 1UL << 10;
		else if (c == 'm' || c == 'M')
			mul = 1UL << 20;
		else if (c == 'g' || c == 'G')
			mul = 1UL << 30;
		if (mul != 1)
			n--;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		char c = s[i];
		u64 d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		if (v > (~0UL - d) / base)
			return false;
		v = v * base + d;
	}
	if (v > ~0UL / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_hex(const char *s, size_t n, u64 *out)
{
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (!n || n > 16)
		return false;
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		u64 d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		*out = *out << 4 | d;
	}
	return true;
}

/* a.b.c.d, each 0-255, into host byte order (a in the top byte). */
static bool parse_ipv4(const char *s, size_t n, u32 *out)
{
	u32 ip = 0, part = 0, digits = 0, dots = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!digits || part > 255)
				return false;
			ip = ip << 8 | part;
			part = digits = 0;
			if (i < n && ++dots > 3)
				return false;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ++digits > 3)
			return false;
		part = part * 10 + (u32)(s[i] - '0');
	}
	if (dots != 3)
		return false;
	*out = ip;
	return true;
}

static bool is_key(const char *tok, size_t klen, const char *key)
{
	return strlen(key) == klen && !memcmp(tok, key, klen);
}

static void parse_token(const char *tok, size_t len)
{
	const char *eq = NULL, *val;
	size_t klen, vlen;
	u64 v;

	if (len < 3 || memcmp(tok, "tg.", 3))
		return; /* not ours: console=ttyS0 and the like */
	for (size_t i = 0; i < len; i++)
		if (tok[i] == '=') {
			eq = tok + i;
			break;
		}
	if (!eq) {
		cfg_error("%.*s: missing =value", (int)len, tok);
		return;
	}
	klen = eq - tok;
	val = eq + 1;
	vlen = len - klen - 1;
	if (is_key(tok, klen, "tg.mode")) {
		for (unsigned int m = 0; m < ARRAY_SIZE(mode_names); m++)
			if (strlen(mode_names[m]) == vlen && !memcmp(val, mode_names[m], vlen)) {
				cfg.mode = m;
				return;
			}
		cfg_error("tg.mode=%.*s: unknown mode", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.protocol")) {
		if (parse_size(val, vlen, &v) && (v == 16 || v == 32 || v == 64))
			cfg.protocol = (u32)v;
		else
			cfg_error("tg.protocol=%.*s: expected 16, 32 or 64", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.cpus")) {
		if (parse_size(val, vlen, &v) && v >= 1 && v <= 255)
			cfg.cpus = (u32)v;
		else
			cfg_error("tg.cpus=%.*s: expected 1 to 255", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.mem")) {
		if (parse_size(val, vlen, &cfg.mem) && cfg.mem)
			cfg.have_mem = true;
		else
			cfg_error("tg.mem=%.*s: bad size", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.time")) {
		if (vlen && val[0] >= '0' && val[0] <= '9' && parse_size(val, vlen, &cfg.time) &&
		    val[vlen - 1] >= '0' && val[vlen - 1] <= '9')
			cfg.have_time = true;
		else
			cfg_error("tg.time=%.*s: expected unix seconds", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.initrd_size")) {
		if (parse_size(val, vlen, &cfg.initrd_size))
			cfg.have_initrd_size = true;
		else
			cfg_error("tg.initrd_size=%.*s: bad size", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.initrd_crc32")) {
		if (vlen == 8 && parse_hex(val, vlen, &v)) {
			cfg.initrd_crc = (u32)v;
			cfg.have_initrd_crc = true;
		} else {
			cfg_error("tg.initrd_crc32=%.*s: expected 8 hex digits", (int)vlen, val);
		}
	} else if (is_key(tok, klen, "tg.loader")) {
		if (parse_hex(val, vlen, &v) && v <= 0xff) {
			cfg.loader = (u32)v;
			cfg.have_loader = true;
		} else {
			cfg_error("tg.loader=%.*s: expected a hex byte", (int)vlen, val);
		}
	} else if (is_key(tok, klen, "tg.blk_sectors")) {
		if (parse_size(val, vlen, &cfg.blk_sectors))
			cfg.have_blk_sectors = true;
		else
			cfg_error("tg.blk_sectors=%.*s: bad number", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.blk_seed")) {
		if (parse_size(val, vlen, &cfg.blk_seed))
			cfg.have_blk_seed = true;
		else
			cfg_error("tg.blk_seed=%.*s: bad number", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.blk_start")) {
		if (!parse_size(val, vlen, &cfg.blk_start))
			cfg_error("tg.blk_start=%.*s: bad number", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.blk_count")) {
		if (!parse_size(val, vlen, &cfg.blk_count) || !cfg.blk_count ||
		    cfg.blk_count > 2048)
			cfg_error("tg.blk_count=%.*s: expected 1 to 2048", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.blk_ro")) {
		if (vlen == 1 && (val[0] == '0' || val[0] == '1'))
			cfg.blk_ro = val[0] == '1';
		else
			cfg_error("tg.blk_ro=%.*s: expected 0 or 1", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.blk_serial")) {
		if (vlen && vlen <= 20) {
			memcpy(cfg.blk_serial, val, vlen);
			cfg.blk_serial[vlen] = 0;
		} else {
			cfg_error("tg.blk_serial=%.*s: expected 1 to 20 characters", (int)vlen, val);
		}
	} else if (is_key(tok, klen, "tg.net_ip")) {
		if (!parse_ipv4(val, vlen, &cfg.net_ip))
			cfg_error("tg.net_ip=%.*s: expected a.b.c.d", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.net_peer")) {
		if (!parse_ipv4(val, vlen, &cfg.net_peer))
			cfg_error("tg.net_peer=%.*s: expected a.b.c.d", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.net_pings")) {
		if (parse_size(val, vlen, &v) && v >= 1 && v <= 1000)
			cfg.net_pings = (u32)v;
		else
			cfg_error("tg.net_pings=%.*s: expected 1 to 1000", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.vcon_seed")) {
		if (!parse_size(val, vlen, &cfg.vcon_seed))
			cfg_error("tg.vcon_seed=%.*s: bad number", (int)vlen, val);
	} else if (is_key(tok, klen, "tg.vcon_echo")) {
		if (parse_size(val, vlen, &v) && v <= 4096)
			cfg.vcon_echo = (u32)v;
		else
			cfg_error("tg.vcon_echo=%.*s: expected 0 to 4096", (int)vlen, val);
	} else {
		char err[120];
		int r = vbench_option(tok, klen, val, vlen, err, sizeof(err));

		if (r < 0)
			cfg_error("%s", err);
		else if (!r)
			cfg_error("%.*s: unknown key", (int)klen, tok);
	}
}

/* The command line, as far as it can be read: at most 4 KiB, NUL-terminated. */
static char cmdline[4096] __attribute__((section(".noinit")));

const char *tg_cmdline(void)
{
	return cmdline;
}

static void parse_cmdline(void)
{
	u64 ptr = bp32(BP_CMD_LINE_PTR) | (u64)bp32(BP_EXT_CMD_LINE_PTR) << 32;
	size_t n = 0, i = 0;

	cfg.mode = MODE_BOOT;
	cfg.blk_count = 64;
	cfg.net_ip = 0x0a00020f;   /* 10.0.2.15 */
	cfg.net_peer = 0x0a000201; /* 10.0.2.1 */
	cfg.net_pings = 3;
	if (ptr && ptr < tg_mapped_limit - sizeof(cmdline))
		for (; n < sizeof(cmdline) - 1; n++) {
			cmdline[n] = (char)rd8(ptr + n);
			if (!cmdline[n])
				break;
		}
	cmdline[n] = 0;
	while (i < n) {
		size_t start;

		while (i < n && (cmdline[i] == ' ' || cmdline[i] == '\t' || cmdline[i] == '\n'))
			i++;
		start = i;
		while (i < n && cmdline[i] != ' ' && cmdline[i] != '\t' && cmdline[i] != '\n')
			i++;
		if (i > start)
			parse_token(cmdline + start, i - start);
	}
}

/* ---- endings ---- */

static void vm_triple_fault(void) __attribute__((noreturn));
static void vm_triple_fault(void)
{
	kcall(KREQ_TRIPLE_FAULT);
	for (;;)
		;
}

void vm_reset(void)
{
	outb(0xf4, 0);	  /* QEMU isa-debug-exit (exit status 1); unclaimed on lmigtester */
	outb(0x64, 0xfe); /* i8042: pulse the reset line */
	for (int i = 0; i < 1000; i++)
		inb(0x80);
	print("tg: the i8042 reset did not take effect\n");
	vm_triple_fault();
}

void vm_fail(void)
{
	outb(0xf4, 1); /* QEMU isa-debug-exit (exit status 3) */
	vm_triple_fault();
}

/* ---- echo ---- */

static int rx_get(void)
{
	for (;;) {
		u32 tail = rx_ring.tail;

		if (tail != rx_ring.head) {
			u8 c = rx_buf[tail & (RX_RING_SIZE - 1)];

			barrier();
			rx_ring.tail = tail + 1;
			/* IER is 0 while throttled, so no interrupt races with this. */
			if (rx_ring.throttled && rx_ring.head - rx_ring.tail <= RX_RING_SIZE / 2) {
				rx_ring.throttled = 0;
				outb(COM1 + UART_IER, 0x01);
			}
			return c;
		}
		kcall(KREQ_WAIT);
	}
}

/* "tg: echo " + the line + "\n", written to COM1 in one go. */
#define ECHO_PREFIX "tg: echo "
static char line[sizeof(ECHO_PREFIX) - 1 + 4096 + 1] __attribute__((section(".noinit")));

static void echo_loop(void) __attribute__((noreturn));
static void echo_loop(void)
{
	const size_t start = sizeof(ECHO_PREFIX) - 1, max = start + 4095;
	size_t len = start;

	memcpy(line, ECHO_PREFIX, start);
	kcall(KREQ_ECHO_SETUP);
	print("tg: echo ready\n");
	for (;;) {
		int c = rx_get();

		if (c != '\r' && c != '\n') {
			if (len < max)
				line[len++] = (char)c;
			continue;
		}
		if (len == start)
			continue;
		if (len == start + 4 && !memcmp(line + start, "quit", 4)) {
			print("tg: echo bye\n");
			vm_reset();
		}
		line[len++] = '\n';
		uart_write(line, len);
		len = start;
	}
}

/* ---- main ---- */

void user_main(void)
{
	u64 rsi = tg_entry.rsi;

	idt_fill();
	uart_init();
	/* boot_params as the loader said; fall back to 0x10000 if unreadable. */
	bp_addr = rsi && rsi <= 0xc0000000 - 4096 ? rsi : 0x10000;
	parse_cmdline();
	print("tg: lmigtester test guest, protocol %u, mode %s\n", tg_entry.protocol,
	      mode_names[cfg.mode]);
	if (cfg.mode == MODE_REBOOT)
		vm_reset();
	if (cfg.mode == MODE_TRIPLEFAULT)
		vm_triple_fault();
	print("TAP version 13\n");
	if (cfg.mode == MODE_VIRTIO || cfg.mode == MODE_VIRTIO_HOSTILE) {
		run_base_checks();
		run_virtio_checks(cfg.mode == MODE_VIRTIO_HOSTILE);
	} else if (cfg.mode == MODE_VIRTIO_BENCH) {
		run_base_checks();
		run_vbench();
	} else {
		run_boot_checks();
	}
	if (cfg.mode == MODE_POKE)
		run_poke_checks();
	print("1..%d\n", tap_count);
	print("tg: result %s\n", tap_failures ? "fail" : "pass");
	if (cfg.mode == MODE_ECHO)
		echo_loop();
	if (tap_failures)
		vm_fail();
	if (cfg.mode == MODE_POWEROFF) {
		char why[160];

		acpi_poweroff(why, sizeof(why));
		/* Still here: the power-off did not take effect. */
		tap_begin();
		tap_fail("%s", why);
		tap_end("poweroff: ACPI S5 ends the VM");
		print("tg: result fail\n");
		vm_fail();
	}
	vm_reset();
}
