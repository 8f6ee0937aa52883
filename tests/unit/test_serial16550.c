// SPDX-License-Identifier: MIT
/*
 * Unit tests for the 16550A model: scripted register sequences of the kind
 * Linux's 8250 driver issues, checked against the registers and against
 * every change of the interrupt line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "common/fixtures.h"
#include "devices/serial16550.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2 };
enum { LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* The owner side of the device: records everything the model reports. */
struct fixture {
	struct serial16550 s;
	bool level;	/* the line as the owner sees it */
	int irq_calls;	/* set_irq calls */
	int rises;	/* set_irq(true) calls */
	int same_level; /* set_irq calls that did not change the level */
	uint8_t tx[64];
	size_t ntx;
	int room_calls;
	/* Input the "VMM" still holds, fed back from the rx_room callback. */
	const uint8_t *pending;
	size_t npending;
	bool feed_on_room;
};

static void fake_set_irq(void *ctx, bool level)
{
	struct fixture *f = ctx;

	if (level == f->level)
		f->same_level++;
	f->level = level;
	f->irq_calls++;
	if (level)
		f->rises++;
}

static void fake_tx(void *ctx, uint8_t byte)
{
	struct fixture *f = ctx;

	if (f->ntx < sizeof(f->tx))
		f->tx[f->ntx] = byte;
	f->ntx++;
}

static void fake_rx_room(void *ctx)
{
	struct fixture *f = ctx;
	size_t n;

	f->room_calls++;
	if (!f->feed_on_room)
		return;
	n = serial16550_receive(&f->s, f->pending, f->npending);
	f->pending += n;
	f->npending -= n;
}

static const struct serial16550_ops fake_ops = {
	.set_irq = fake_set_irq,
	.tx = fake_tx,
	.rx_room = fake_rx_room,
};

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));

	if (!f)
		return -1;
	serial16550_init(&f->s, &fake_ops, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* Every test also checks the level-change-only contract. */
	assert_int_equal(f->same_level, 0);
	assert_int_equal(f->level, f->s.irq_level);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned int off)
{
	return serial16550_read(&f->s, off);
}

static void wr(struct fixture *f, unsigned int off, uint8_t v)
{
	serial16550_write(&f->s, off, v);
}

static size_t rx_str(struct fixture *f, const char *str)
{
	return serial16550_receive(&f->s, (const uint8_t *)str, strlen(str));
}

static size_t rx_n(struct fixture *f, size_t n, uint8_t first)
{
	uint8_t buf[64];
	size_t i;

	assert_true(n <= sizeof(buf));
	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)(first + i);
	return serial16550_receive(&f->s, buf, n);
}

/* Write v to the register at off and read back want. */
static void expect_readback(struct fixture *f, unsigned int off, uint8_t v, uint8_t want)
{
	uint8_t got;

	wr(f, off, v);
	got = rd(f, off);
	if (got != want)
		fail_msg("register %u: wrote 0x%02x, read back 0x%02x, expected 0x%02x", off, v,
			 got, want);
}

static void test_reset_values(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IER), 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LCR), 0x00);
	assert_int_equal(rd(f, MCR), 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MSR), 0xb0);
	assert_int_equal(rd(f, SCR), 0x00);
	/* Reading an empty RBR is harmless and leaves LSR alone. */
	assert_int_equal(rd(f, RBR), 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(serial16550_rx_room(&f->s), 1);
	assert_int_equal(f->irq_calls, 0);
	assert_false(f->s.irq_level);
	assert_false(f->s.thr_ipending);
}

static void test_scratch_and_masks(void **state)
{
	struct fixture *f = *state;
	unsigned int v;

	for (v = 0; v < 256; v++)
		expect_readback(f, SCR, (uint8_t)v, (uint8_t)v);
	/* IER bits 4-7 and MCR bits 5-7 do not exist on a 16550A. */
	expect_readback(f, IER, 0xf0, 0x00);
	expect_readback(f, MCR, 0xe3, 0x03);
	expect_readback(f, LCR, 0x5b, 0x5b);
	/* LSR and MSR are read-only. */
	wr(f, LSR, 0x00);
	wr(f, MSR, 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MSR), 0xb0);
}

static void test_dlab_divisor(void **state)
{
	struct fixture *f = *state;

	/* Power-on divisor: 12, i.e. 9600 baud. */
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, DLL), 12);
	assert_int_equal(rd(f, DLM), 0);

	/* 115200 8N1 as Linux programs it. */
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);

	/* DLAB=0: the same offsets are RBR/THR and IER again. */
	assert_int_equal(rd(f, IER), 0x00);
	assert_int_equal(f->s.dll, 0x01);
	assert_int_equal(f->s.dlm, 0x02);
	assert_int_equal(f->ntx, 0);
	assert_int_equal(f->irq_calls, 0);
}

static void test_dlab_hides_thr_and_ier(void **state)
{
	struct fixture *f = *state;

	wr(f, LCR, 0x83);
	wr(f, THR, 'x');
	wr(f, IER, 0x0f);
	/* Neither a transmission nor an interrupt enable happened. */
	assert_int_equal(f->ntx, 0);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(f->s.ier, 0);

	/* With DLAB set, offset 0 reads DLL, not the received byte. */
	assert_int_equal(rx_str(f, "q"), 1);
	assert_int_equal(rd(f, RBR), 'x');
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, RBR), 'q');
	assert_int_equal(rd(f, IER), 0x00);
}

static void test_tx_callback(void **state)
{
	struct fixture *f = *state;
	const char *msg = "hello\n";
	size_t i;

	for (i = 0; msg[i]; i++) {
		wr(f, THR, (uint8_t)msg[i]);
		/* Transmission is instant: THRE and TEMT are set again. */
		assert_int_equal(rd(f, LSR), 0x60);
	}
	assert_int_equal(f->ntx, strlen(msg));
	assert_memory_equal(f->tx, msg, strlen(msg));
	/* IER is 0: the THRE latch is set but masked. */
	assert_true(f->s.thr_ipending);
	assert_int_equal(f->irq_calls, 0);
}

static void test_thre_on_ier_enable(void **state)
{
	struct fixture *f = *state;

	/* Not gated by OUT2: MCR is 0 here. */
	wr(f, IER, 0x02);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x02);
	/* That IIR read reported THRE, so it acknowledged it. */
	assert_false(f->level);
	assert_false(f->s.thr_ipending);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(f->irq_calls, 2);
}

static void test_thre_latch_not_revived_by_rewrite(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x02);
	/* Rewriting an already enabled THRI must not bring THRE back... */
	wr(f, IER, 0x02);
	wr(f, IER, 0x03);
	assert_false(f->level);
	assert_int_equal(rd(f, IIR), 0x01);
	/* ...but Linux's UART_BUG_THRE test expects IER 0 -> THRI to. */
	wr(f, IER, 0x00);
	wr(f, IER, 0x02);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_false(f->level);
}

static void test_thr_write_sets_latch(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq_calls, 2);
	/* Line low, latch clear: the byte goes out and THR empties again. */
	wr(f, THR, 'a');
	assert_true(f->level);
	assert_true(f->s.thr_ipending);
	assert_int_equal(f->irq_calls, 3);
	/*
	 * With THRE already pending, a THR write acknowledges it and the
	 * emptied THR raises it again: one low/high pulse, a fresh edge for
	 * the edge-triggered IRQ 4.
	 */
	wr(f, THR, 'b');
	assert_true(f->level);
	assert_int_equal(f->irq_calls, 5);
	assert_int_equal(f->rises, 3);
	assert_int_equal(f->ntx, 2);
}

static void test_autoirq_ier_on_off(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x0f);
	assert_true(f->level);
	wr(f, IER, 0x00);
	assert_false(f->level);
	assert_int_equal(f->irq_calls, 2);
}

static void test_autoirq_probe_sequence(void **state)
{
	struct fixture *f = *state;
	uint8_t save_mcr, save_ier;

	/* drivers/tty/serial/8250/8250_port.c: autoconfig_irq() */
	save_mcr = rd(f, MCR);
	save_ier = rd(f, IER);
	wr(f, MCR, 0x0c); /* OUT1 | OUT2 */
	wr(f, MCR, 0x00);
	wr(f, MCR, 0x0b); /* DTR | RTS | OUT2 */
	wr(f, IER, 0x0f);
	assert_true(f->level);
	assert_int_equal(f->rises, 1);
	rd(f, LSR);
	rd(f, RBR);
	rd(f, IIR);
	rd(f, MSR);
	wr(f, THR, 0xff);
	/* probe_irq_off() must find the interrupt: raised, and up again. */
	assert_true(f->level);
	assert_int_equal(f->rises, 2);
	assert_int_equal(f->ntx, 1);
	assert_int_equal(f->tx[0], 0xff);
	wr(f, MCR, save_mcr);
	wr(f, IER, save_ier);
	assert_false(f->level);
}

static void test_iir_rx_and_thre_pending(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x03);
	assert_true(f->s.thr_ipending);
	assert_int_equal(rx_str(f, "x"), 1);
	/* RX outranks THRE; reporting RX must not acknowledge THRE. */
	assert_int_equal(rd(f, IIR), 0x04);
	assert_true(f->s.thr_ipending);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'x');
	/* THRE was hidden, not lost. */
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_false(f->level);
	assert_int_equal(f->irq_calls, 2);
}

static void test_iir_rx_and_thre_pending_fifo(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0xc1); /* trigger 14 */
	wr(f, IER, 0x03);
	assert_int_equal(rx_str(f, "ab"), 2);
	assert_int_equal(rd(f, IIR), 0xcc); /* character timeout */
	assert_true(f->s.thr_ipending);
	rd(f, RBR);
	assert_int_equal(rd(f, IIR), 0xcc);
	rd(f, RBR);
	assert_int_equal(rd(f, IIR), 0xc2);
	assert_int_equal(rd(f, IIR), 0xc1);
	assert_false(f->level);
}

static void test_rx_masked_then_unmasked(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rx_str(f, "k"), 1);
	assert_false(f->level);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(rd(f, LSR), 0x61);
	wr(f, IER, 0x01);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'k');
	assert_false(f->level);
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_ier_restore_reasserts_rx(void **state)
{
	struct fixture *f = *state;

	/* vm-superio #135: printk saves IER, clears it, polls, restores it. */
	wr(f, FCR, 0x01);
	wr(f, IER, 0x01);
	assert_int_equal(rx_str(f, "zz"), 2);
	assert_true(f->level);
	wr(f, IER, 0x00);
	assert_false(f->level);
	wr(f, THR, 'p');
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	wr(f, IER, 0x01);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0xc4);
}

static void test_rx_no_fifo_single_byte(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x01);
	assert_int_equal(rx_str(f, "ab"), 1);
	assert_int_equal(serial16550_rx_room(&f->s), 0);
	assert_int_equal(rx_str(f, "b"), 0);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(f->room_calls, 0);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(f->room_calls, 1);
	assert_false(f->level);
	assert_int_equal(rx_str(f, "b"), 1);
	assert_int_equal(rd(f, RBR), 'b');
	/* Never overrun through receive(). */
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_fifo_fill_partial_and_room_callback(void **state)
{
	struct fixture *f = *state;
	int i;

	wr(f, FCR, 0x01);
	assert_int_equal(serial16550_rx_room(&f->s), 16);
	assert_int_equal(rx_n(f, 20, 0x40), 16);
	assert_int_equal(serial16550_rx_room(&f->s), 0);
	assert_int_equal(rx_n(f, 4, 0x50), 0);
	assert_int_equal(f->room_calls, 0);

	/* Full to not-full: exactly one callback. */
	assert_int_equal(rd(f, RBR), 0x40);
	assert_int_equal(f->room_calls, 1);
	assert_int_equal(serial16550_rx_room(&f->s), 1);
	assert_int_equal(rd(f, RBR), 0x41);
	assert_int_equal(f->room_calls, 1);
	assert_int_equal(serial16550_rx_room(&f->s), 2);

	/* The caller offers the rest again; only what fits is taken. */
	assert_int_equal(rx_n(f, 4, 0x50), 2);
	for (i = 2; i < 16; i++)
		assert_int_equal(rd(f, RBR), 0x40 + i);
	assert_int_equal(rd(f, RBR), 0x50);
	assert_int_equal(rd(f, RBR), 0x51);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(f->room_calls, 2);
}

static void test_room_callback_can_feed(void **state)
{
	struct fixture *f = *state;
	static const uint8_t more[] = "0123456789ABCDEFGHIJ";
	char got[sizeof(more)];
	size_t i;

	/* A single-threaded owner that refills from inside the callback. */
	wr(f, FCR, 0x01);
	f->pending = more;
	f->npending = sizeof(more) - 1;
	f->feed_on_room = true;
	f->npending -= serial16550_receive(&f->s, f->pending, f->npending);
	f->pending = more + 16;
	for (i = 0; i < sizeof(more) - 1; i++) {
		assert_true(rd(f, LSR) & 0x01);
		got[i] = (char)rd(f, RBR);
	}
	got[i] = 0;
	assert_string_equal(got, (const char *)more);
	assert_int_equal(f->npending, 0);
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_trigger_levels(void **state)
{
	static const struct {
		uint8_t fcr;
		unsigned int level;
	} cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
	struct fixture *f = *state;
	size_t c;
	unsigned int n;

	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		wr(f, FCR, cases[c].fcr);
		wr(f, IER, 0x01);
		for (n = 1; n < cases[c].level; n++) {
			assert_int_equal(rx_n(f, 1, 'a'), 1);
			/* Below the trigger: the timeout interrupt. */
			assert_int_equal(rd(f, IIR), 0xcc);
			assert_true(f->level);
		}
		assert_int_equal(rx_n(f, 1, 'a'), 1);
		assert_int_equal(rd(f, IIR), 0xc4);
		assert_int_equal(rx_n(f, 16, 'a'), 16 - cases[c].level);
		assert_int_equal(rd(f, IIR), 0xc4);
		/* Drain: RDA until below the trigger, then timeout, then none. */
		for (n = 16; n > 0; n--) {
			uint8_t want = n >= cases[c].level ? 0xc4 : 0xcc;

			assert_int_equal(rd(f, IIR), want);
			rd(f, RBR);
		}
		assert_int_equal(rd(f, IIR), 0xc1);
		assert_false(f->level);
		assert_false(f->s.timeout_ipending);
		wr(f, IER, 0x00);
	}
}

static void test_single_char_timeout(void **state)
{
	struct fixture *f = *state;

	/* Linux's default for a 16550A: FIFO on, trigger 8. */
	wr(f, FCR, 0x81);
	wr(f, IER, 0x05);
	assert_int_equal(rx_str(f, "y"), 1);
	assert_true(f->level);
	assert_true(f->s.timeout_ipending);
	assert_int_equal(rd(f, IIR), 0xcc);
	assert_int_equal(rd(f, RBR), 'y');
	assert_false(f->s.timeout_ipending);
	assert_false(f->level);
	assert_int_equal(rd(f, IIR), 0xc1);
	assert_int_equal(f->irq_calls, 2);
}

static void test_fcr_clear_rx(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	wr(f, IER, 0x01);
	assert_int_equal(rx_n(f, 16, 0), 16);
	assert_true(f->level);
	wr(f, FCR, 0x03);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(serial16550_rx_room(&f->s), 16);
	assert_int_equal(rd(f, IIR), 0xc1);
	assert_false(f->level);
	/* The FIFO was full, so the owner hears there is room again. */
	assert_int_equal(f->room_calls, 1);
	/* Clearing TX (always empty) leaves THRE/TEMT set. */
	wr(f, FCR, 0x05);
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_fcr_clear_bits_not_from_lcr(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	assert_int_equal(rx_n(f, 3, 'a'), 3);
	/* LCR bits 1 and 2 set (7 data bits, 2 stop bits): not FCR clears. */
	wr(f, LCR, 0x06);
	wr(f, FCR, 0x01);
	assert_int_equal(f->s.rx.count, 3);
	assert_int_equal(rd(f, LSR), 0x61);
	/* And the reverse: FCR clears although LCR has those bits clear. */
	wr(f, LCR, 0x00);
	wr(f, FCR, 0x07);
	assert_int_equal(f->s.rx.count, 0);
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_fcr_enable_toggle(void **state)
{
	struct fixture *f = *state;

	/* FIFOs off: IIR bits 6-7 clear; a byte sits in RBR. */
	assert_int_equal(rx_str(f, "a"), 1);
	assert_int_equal(serial16550_rx_room(&f->s), 0);
	/* Clear bits without the enable bit are not programmed. */
	wr(f, FCR, 0x02);
	assert_int_equal(rd(f, LSR), 0x61);
	/* Enabling flushes the receiver and makes room. */
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR), 0xc1);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(f->room_calls, 1);
	assert_int_equal(rx_str(f, "bcd"), 3);
	/* Disabling flushes again. */
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(serial16550_rx_room(&f->s), 1);
}

static void test_loopback_thr_to_rbr(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, 0x10);
	wr(f, IER, 0x01);
	wr(f, THR, 'A');
	assert_int_equal(f->ntx, 0);
	assert_true(f->level);
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'A');
	assert_false(f->level);
	/* Out of loopback the bytes go to the host again. */
	wr(f, MCR, 0x03);
	wr(f, THR, 'B');
	assert_int_equal(f->ntx, 1);
	assert_int_equal(f->tx[0], 'B');
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_loopback_msr_mirrors_mcr(void **state)
{
	/* MCR with LOOP set, and the MSR input bits (7-4) it must produce. */
	static const struct {
		uint8_t mcr, msr;
	} cases[] = {
		{0x1a, 0x90}, /* Linux autoconfig: LOOP | 0x0a must read back MSR 0x90. */
		{0x11, 0x20}, /* DTR -> DSR */
		{0x14, 0x40}, /* OUT1 -> RI */
		{0x1f, 0xf0}, /* all four */
		{0x10, 0x00}, /* none */
	};
	struct fixture *f = *state;
	unsigned int i;
	uint8_t msr;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		wr(f, MCR, cases[i].mcr);
		msr = rd(f, MSR);
		if ((msr & 0xf0) != cases[i].msr)
			fail_msg("MCR 0x%02x: MSR 0x%02x, expected 0x%02x in bits 7-4",
				 cases[i].mcr, msr, cases[i].msr);
	}
	/* Back on the line: the idle inputs return, with their deltas. */
	wr(f, MCR, 0x00);
	assert_int_equal(rd(f, MSR), 0xbb);
	assert_int_equal(rd(f, MSR), 0xb0);
}

static void test_msr_delta_bits(void **state)
{
	struct fixture *f = *state;

	/* Entering loopback drops CTS, DSR and DCD: three deltas. */
	wr(f, MCR, 0x10);
	assert_int_equal(rd(f, MSR), 0x0b);
	/* Delta bits are cleared by the read. */
	assert_int_equal(rd(f, MSR), 0x00);
	/* RI rising sets no delta; its trailing edge sets TERI. */
	wr(f, MCR, 0x14);
	assert_int_equal(rd(f, MSR), 0x40);
	wr(f, MCR, 0x10);
	assert_int_equal(rd(f, MSR), 0x04);
	assert_int_equal(rd(f, MSR), 0x00);
}

static void test_msr_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x08);
	assert_false(f->level);
	wr(f, MCR, 0x10);
	assert_true(f->level);
	assert_int_equal(rd(f, IIR), 0x00);
	/* Reading IIR does not acknowledge a modem-status interrupt. */
	assert_true(f->level);
	rd(f, MSR);
	assert_false(f->level);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_loopback_overrun_fifo(void **state)
{
	struct fixture *f = *state;
	int i;

	wr(f, FCR, 0x01);
	wr(f, MCR, 0x10);
	wr(f, IER, 0x05);
	for (i = 0; i < 17; i++)
		wr(f, THR, (uint8_t)i);
	/* Line status outranks received data. */
	assert_int_equal(rd(f, IIR), 0xc6);
	assert_int_equal(rd(f, LSR), 0x63);
	/* The LSR read cleared OE, and with it the RLS interrupt. */
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, IIR), 0xc4);
	/* In FIFO mode the overrunning byte is the one lost. */
	for (i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), i);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_false(f->level);
}

static void test_loopback_overrun_no_fifo(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, 0x10);
	wr(f, THR, 'a');
	wr(f, THR, 'b');
	/* 16450 mode: the new byte overwrites RBR. */
	assert_int_equal(rd(f, LSR), 0x63);
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_loopback_holds_back_host_input(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	wr(f, MCR, 0x10);
	/* The receiver is off the line: host input waits in the VMM. */
	assert_int_equal(serial16550_rx_room(&f->s), 0);
	assert_int_equal(rx_str(f, "late"), 0);
	assert_int_equal(rd(f, LSR), 0x60);
	wr(f, MCR, 0x0b);
	assert_int_equal(f->room_calls, 1);
	assert_int_equal(rx_str(f, "late"), 4);
	assert_int_equal(rd(f, RBR), 'l');
}

static void test_interrupt_priorities(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x0f);
	/* Loopback: MSR deltas; two bytes in 16450 mode: OE and data. */
	wr(f, MCR, 0x10);
	wr(f, THR, 'a');
	wr(f, THR, 'b');
	assert_true(f->s.thr_ipending);
	assert_int_equal(rd(f, IIR), 0x06); /* RLS */
	rd(f, LSR);
	assert_int_equal(rd(f, IIR), 0x04); /* RDA */
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(rd(f, IIR), 0x02); /* THRE, acknowledged by this read */
	assert_int_equal(rd(f, IIR), 0x00); /* MSR */
	assert_true(f->level);
	rd(f, MSR);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_false(f->level);
	/* One rise at IER=0x0f, and the line stayed up until the end. */
	assert_int_equal(f->rises, 1);
	assert_int_equal(f->irq_calls, 2);
}

static void test_level_change_only(void **state)
{
	struct fixture *f = *state;
	int i;

	wr(f, FCR, 0x01);
	wr(f, IER, 0x01);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(rx_n(f, 1, 0), 1);
	assert_int_equal(f->irq_calls, 1);
	/* More bytes, register reads, THR writes: the level stays up. */
	assert_int_equal(rx_n(f, 15, 1), 15);
	for (i = 0; i < 8; i++) {
		rd(f, LCR);
		rd(f, SCR);
		rd(f, IIR);
		rd(f, MSR);
		rd(f, LSR);
		wr(f, THR, 'x');
		wr(f, SCR, (uint8_t)i);
	}
	for (i = 0; i < 15; i++)
		rd(f, RBR);
	assert_int_equal(f->irq_calls, 1);
	rd(f, RBR);
	assert_int_equal(f->irq_calls, 2);
	assert_false(f->level);
}

static void test_out_of_range_offsets(void **state)
{
	static const unsigned int offs[] = {8, 9, 15, 16, 255, 0x3f8, UINT_MAX};
	struct fixture *f = *state;
	struct serial16550 before;
	size_t i;

	wr(f, FCR, 0x01);
	wr(f, IER, 0x01);
	assert_int_equal(rx_str(f, "abc"), 3);
	memcpy(&before, &f->s, sizeof(before));
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		assert_int_equal(rd(f, offs[i]), 0xff);
		wr(f, offs[i], 0x00);
		wr(f, offs[i], 0xff);
	}
	assert_memory_equal(&before, &f->s, sizeof(before));
	assert_int_equal(f->ntx, 0);
}

static void test_null_ops(void **state)
{
	static const struct serial16550_ops irq_only = {.set_irq = fake_set_irq};
	struct fixture *f = *state;
	struct serial16550 s;
	int i;

	/* No callbacks at all: nothing may be called through NULL. */
	serial16550_init(&s, NULL, NULL);
	serial16550_write(&s, IER, 0x0f);
	serial16550_write(&s, THR, 'a');
	serial16550_write(&s, FCR, 0x01);
	assert_int_equal(serial16550_receive(&s, (const uint8_t *)"abcdefghijklmnopq", 17), 16);
	serial16550_read(&s, RBR);
	serial16550_write(&s, MCR, 0x10);
	for (i = 0; i < 20; i++)
		serial16550_write(&s, THR, 'b');
	serial16550_write(&s, MCR, 0x00);
	assert_true(s.irq_level);

	/* Only set_irq: no tx, no rx_room. */
	serial16550_init(&f->s, &irq_only, f);
	wr(f, THR, 'c');
	assert_int_equal(rx_str(f, "d"), 1);
	rd(f, RBR);
	wr(f, IER, 0x02);
	assert_true(f->level);
	assert_int_equal(f->ntx, 0);
	assert_int_equal(f->room_calls, 0);
}

/*
 * Random register traffic with invariants that must hold whatever the
 * guest does: bounded FIFO indices, IIR consistent with the line, LSR.DR
 * consistent with the FIFO, and no redundant set_irq call.
 */
static void test_random_traffic_invariants(void **state)
{
	struct fixture *f = *state;
	uint32_t seed = 12345;
	int i;

	for (i = 0; i < 200000; i++) {
		uint32_t r;
		uint8_t buf[24];
		size_t n, room, took;

		seed = seed * 1103515245u + 12345u;
		r = seed >> 8;
		switch (r % 4) {
		case 0:
			rd(f, (r >> 2) % 10);
			break;
		case 1:
			wr(f, (r >> 2) % 10, (uint8_t)(r >> 12));
			break;
		case 2:
			/* Keep loopback short-lived so input keeps flowing. */
			wr(f, MCR, (uint8_t)((r >> 3) & 0x0f));
			break;
		default:
			n = (r >> 2) % sizeof(buf);
			memset(buf, (int)(r >> 16), n);
			room = serial16550_rx_room(&f->s);
			took = serial16550_receive(&f->s, buf, n);
			assert_int_equal(took, n < room ? n : room);
			break;
		}
		assert_true(f->s.rx.count <= SERIAL16550_FIFO_SIZE);
		assert_true(f->s.rx.head < SERIAL16550_FIFO_SIZE);
		assert_true(f->s.tx.count == 0);
		assert_int_equal(!!(f->s.lsr & 0x01), f->s.rx.count > 0);
		assert_int_equal(f->s.lsr & 0x60, 0x60);
		assert_int_equal(f->s.irq_level, !(f->s.iir & 0x01));
		assert_int_equal(f->s.iir & 0xc0, (f->s.fcr & 0x01) ? 0xc0 : 0x00);
		assert_int_equal(f->level, f->s.irq_level);
		if (!(f->s.fcr & 0x01))
			assert_true(f->s.rx.count <= 1);
	}
	assert_int_equal(f->same_level, 0);
	assert_true(f->irq_calls > 100);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_values),
		T(test_scratch_and_masks),
		T(test_dlab_divisor),
		T(test_dlab_hides_thr_and_ier),
		T(test_tx_callback),
		T(test_thre_on_ier_enable),
		T(test_thre_latch_not_revived_by_rewrite),
		T(test_thr_write_sets_latch),
		T(test_autoirq_ier_on_off),
		T(test_autoirq_probe_sequence),
		T(test_iir_rx_and_thre_pending),
		T(test_iir_rx_and_thre_pending_fifo),
		T(test_rx_masked_then_unmasked),
		T(test_ier_restore_reasserts_rx),
		T(test_rx_no_fifo_single_byte),
		T(test_fifo_fill_partial_and_room_callback),
		T(test_room_callback_can_feed),
		T(test_trigger_levels),
		T(test_single_char_timeout),
		T(test_fcr_clear_rx),
		T(test_fcr_clear_bits_not_from_lcr),
		T(test_fcr_enable_toggle),
		T(test_loopback_thr_to_rbr),
		T(test_loopback_msr_mirrors_mcr),
		T(test_msr_delta_bits),
		T(test_msr_interrupt),
		T(test_loopback_overrun_fifo),
		T(test_loopback_overrun_no_fifo),
		T(test_loopback_holds_back_host_input),
		T(test_interrupt_priorities),
		T(test_level_change_only),
		T(test_out_of_range_offsets),
		T(test_null_ops),
		T(test_random_traffic_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
