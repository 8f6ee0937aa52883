/* SPDX-License-Identifier: MIT */
/*
 * The host side of the guest's serial console: stdin and stdout.
 *
 * When stdin is a terminal it is put in raw mode (keeping output
 * post-processing, as QEMU does) and restored on every way out: normal
 * return, error, fatal signals. Input passes through QEMU's escape
 * convention: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h
 * prints help. Input from a pipe or file is passed through untouched.
 */
#ifndef LMIG_VMM_CONSOLE_H
#define LMIG_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

struct console {
	int in_fd, out_fd;
	bool in_tty;
	bool in_eof;
	bool out_broken; /* stdout closed: guest output is dropped */
	bool escape;     /* the last input byte was the escape character */
	bool quit;       /* the user asked to quit (Ctrl-A x) */
};

/* Set up; puts a terminal stdin in raw mode. 0 or -errno. */
int console_init(struct console *con, int in_fd, int out_fd) __attribute__((warn_unused_result));

/* Restore the terminal. Idempotent and async-signal-safe. */
void console_restore(void);

/*
 * Read what stdin has (it must be readable) and filter escapes into buf.
 * Returns the number of bytes for the guest (maybe 0, e.g. after an escape),
 * or -errno. Sets in_eof at end of input and quit after Ctrl-A x.
 */
long console_read(struct console *con, uint8_t *buf, size_t len);

/* Guest output. Never fails the caller; a broken stdout drops output. */
void console_write(struct console *con, const uint8_t *buf, size_t len);

/* Pure escape filter, for tests: processes in[0..n) into out, returns count. */
size_t console_filter(struct console *con, const uint8_t *in, size_t n, uint8_t *out);

#endif
