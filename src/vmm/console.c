/* SPDX-License-Identifier: MIT */
#include "vmm/console.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/log.h"

/* Global because signal handlers and atexit need them. */
static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;
static int saved_fd = -1;

void console_restore(void)
{
	if (termios_saved) {
		tcsetattr(saved_fd, TCSANOW, &saved_termios);
		termios_saved = 0;
	}
}

/* A crash in the VMM must not leave the user's terminal raw. */
static void fatal_signal(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int console_init(struct console *con, int in_fd, int out_fd)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct termios raw;
	unsigned int i;

	memset(con, 0, sizeof(*con));
	con->in_fd = in_fd;
	con->out_fd = out_fd;
	con->in_tty = isatty(in_fd);
	/* A closed stdout must not kill us with SIGPIPE; write() reports EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (!con->in_tty)
		return 0;
	if (tcgetattr(in_fd, &saved_termios) < 0)
		return -errno;
	saved_fd = in_fd;
	termios_saved = 1;
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], fatal_signal);
	raw = saved_termios;
	cfmakeraw(&raw);
	/* Keep output processing so that our own log lines still start at column 0. */
	raw.c_oflag |= OPOST | ONLCR;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(in_fd, TCSANOW, &raw) < 0) {
		int r = -errno;
		termios_saved = 0;
		return r;
	}
	return 0;
}

size_t console_filter(struct console *con, const uint8_t *in, size_t n, uint8_t *out)
{
	static const char help[] = "\r\nC-a h    print this help\r\n"
				   "C-a x    exit lmigtester\r\n"
				   "C-a C-a  send C-a to the guest\r\n";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		uint8_t c = in[i];

		if (!con->escape) {
			if (c == CONSOLE_ESCAPE_CHAR)
				con->escape = true;
			else
				out[o++] = c;
			continue;
		}
		con->escape = false;
		switch (c) {
		case 'x':
		case 'X':
			con->quit = true;
			return o; /* whatever follows is not for the guest */
		case CONSOLE_ESCAPE_CHAR:
			out[o++] = c;
			break;
		case 'h':
		case 'H':
		case '?':
			console_write(con, (const uint8_t *)help, sizeof(help) - 1);
			break;
		default:
			break; /* unknown escapes are dropped, as in QEMU */
		}
	}
	return o;
}

long console_read(struct console *con, uint8_t *buf, size_t len)
{
	ssize_t n;

	do
		n = read(con->in_fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	if (n == 0) {
		con->in_eof = true;
		return 0;
	}
	if (!con->in_tty)
		return n;
	/* Filtering only shrinks the data, so it can run in place. */
	return (long)console_filter(con, buf, (size_t)n, buf);
}

void console_write(struct console *con, const uint8_t *buf, size_t len)
{
	while (len && !con->out_broken) {
		ssize_t n = write(con->out_fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			con->out_broken = true;
			log_warn("console: writing guest output failed: %s; dropping the rest",
				 strerror(errno));
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}
