// SPDX-License-Identifier: MIT
/*
 * 16550A UART model. See serial16550.h for the contract with the owner and
 * ../shared/design/style.md section 9 for the interrupt rules.
 *
 * Transmission is instantaneous: a byte written to THR is handed to ops->tx
 * (or, in loopback, to the receive FIFO) during the write itself, so THRE and
 * TEMT are set again by the time the write returns. The transmit FIFO in the
 * struct therefore always stays empty; it exists so that the saved state has
 * the shape of the real device.
 *
 * The model has no clock, so the character-timeout interrupt cannot wait four
 * character times: it is reported as soon as the FIFO holds data below the
 * trigger level. That is what lets a single typed character interrupt the
 * guest when the trigger level is 4, 8 or 14.
 */
#include "devices/serial16550.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devices/devstate.h"

/* Register offsets from the base port. */
enum {
	UART_RBR = 0, /* read, DLAB=0: receive buffer */
	UART_THR = 0, /* write, DLAB=0: transmit holding */
	UART_DLL = 0, /* DLAB=1: divisor latch, low byte */
	UART_IER = 1, /* DLAB=0: interrupt enable */
	UART_DLM = 1, /* DLAB=1: divisor latch, high byte */
	UART_IIR = 2, /* read: interrupt identification */
	UART_FCR = 2, /* write: FIFO control */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI 0x01  /* received data available (and character timeout) */
#define IER_THRI 0x02 /* transmit holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */
#define IER_MASK 0x0f /* bits 4-7 read as zero on a 16550A */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c	 /* character timeout */
#define IIR_ID_MASK 0x0f /* bits 0-3: "no interrupt" flag and the cause */
#define IIR_FIFO_ON 0xc0 /* bits 6-7: FIFOs enabled */

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA 0x08
#define FCR_TRIGGER_SHIFT 6
#define FCR_KEEP (FCR_ENABLE | FCR_DMA | (3 << FCR_TRIGGER_SHIFT))

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f /* bits 5-7 read as zero on a 16550A */

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_FIFO_ERR 0x80
/* Conditions that raise the receiver-line-status interrupt. */
#define LSR_INT_ANY (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
/* Bits that a read of LSR clears. */
#define LSR_CLEAR_ON_READ (LSR_INT_ANY | LSR_FIFO_ERR)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTA_MASK 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/*
 * Outside loopback the modem inputs are wired as a terminal that is always
 * present and ready: carrier, data set ready and clear to send, no ring.
 */
#define MSR_IDLE_INPUTS (MSR_DCD | MSR_DSR | MSR_CTS)

/*
 * The power-on divisor of a real 16550A is undefined; start at 12
 * (9600 baud from the 1.8432 MHz PC clock), a common firmware default.
 */
#define DEFAULT_DIVISOR 12

static uint8_t fifo_pop(struct serial16550_fifo *f)
{
	uint8_t byte;

	if (f->count == 0)
		return 0;
	byte = f->data[f->head % SERIAL16550_FIFO_SIZE];
	f->head = (uint8_t)((f->head + 1) % SERIAL16550_FIFO_SIZE);
	f->count--;
	return byte;
}

/* The caller checks for room; a full FIFO is left untouched. */
static void fifo_push(struct serial16550_fifo *f, uint8_t byte)
{
	if (f->count >= SERIAL16550_FIFO_SIZE)
		return;
	f->data[(f->head + f->count) % SERIAL16550_FIFO_SIZE] = byte;
	f->count++;
}

static void fifo_reset(struct serial16550_fifo *f)
{
	memset(f, 0, sizeof(*f));
}

static bool fifo_enabled(const struct serial16550 *s)
{
	return s->fcr & FCR_ENABLE;
}

/* With FIFOs disabled the 16450-compatible mode holds a single byte in RBR. */
static unsigned int rx_capacity(const struct serial16550 *s)
{
	return fifo_enabled(s) ? SERIAL16550_FIFO_SIZE : 1;
}

static unsigned int rx_trigger_level(const struct serial16550 *s)
{
	static const uint8_t levels[4] = {1, 4, 8, 14};

	return levels[(s->fcr >> FCR_TRIGGER_SHIFT) & 3];
}

/*
 * Recompute IIR (and the timeout latch) from the current state, without
 * telling anyone: update_irq() below, and serial16550_load() to check a
 * saved IIR against the registers.
 */
static void eval_iir(struct serial16550 *s)
{
	uint8_t id = IIR_NO_INT;

	/*
	 * Derived rather than latched: without a clock the timeout is "due" the
	 * moment data sits below the trigger level, and it goes away once the
	 * FIFO drains or fills to the trigger (where RDA takes over).
	 */
	s->timeout_ipending =
		fifo_enabled(s) && s->rx.count > 0 && s->rx.count < rx_trigger_level(s);

	if ((s->ier & IER_RLSI) && (s->lsr & LSR_INT_ANY))
		id = IIR_RLSI;
	else if ((s->ier & IER_RDI) && s->timeout_ipending)
		id = IIR_CTI;
	else if ((s->ier & IER_RDI) && (s->lsr & LSR_DR) &&
		 (!fifo_enabled(s) || s->rx.count >= rx_trigger_level(s)))
		id = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thr_ipending)
		id = IIR_THRI;
	else if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA_MASK))
		id = IIR_MSI;

	s->iir = id | (fifo_enabled(s) ? IIR_FIFO_ON : 0);
}

/* The line is up whenever IIR reports a cause. */
static bool iir_level(uint8_t iir)
{
	return (iir & IIR_ID_MASK) != IIR_NO_INT;
}

/*
 * Recompute IIR and the interrupt line from the current state. Called after
 * every register access and every received byte; the owner only hears about
 * changes of level, so an unchanged line never costs an ioctl.
 */
static void update_irq(struct serial16550 *s)
{
	bool level;

	eval_iir(s);
	/*
	 * The line is not gated by MCR.OUT2 as it is on a PC board: QEMU does
	 * not gate it either, and Linux's drivers work both ways.
	 */
	level = iir_level(s->iir);
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->ops && s->ops->set_irq)
			s->ops->set_irq(s->ctx, level);
	}
}

/* The modem-status inputs as the device currently sees them (bits 4-7). */
static uint8_t modem_inputs(const struct serial16550 *s)
{
	uint8_t in = 0;

	if (!(s->mcr & MCR_LOOP))
		return MSR_IDLE_INPUTS;

	/* Loopback wires the four outputs to the four inputs. */
	if (s->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* Latch new modem inputs into MSR, setting delta bits as a 16550A does. */
static void update_msr(struct serial16550 *s)
{
	uint8_t old = s->msr & (uint8_t)~MSR_DELTA_MASK;
	uint8_t cur = modem_inputs(s);
	uint8_t delta = s->msr & MSR_DELTA_MASK;
	uint8_t changed = old ^ cur;

	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	/* TERI is set only on the trailing edge of ring indicator. */
	if ((old & MSR_RI) && !(cur & MSR_RI))
		delta |= MSR_TERI;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	s->msr = cur | delta;
}

/*
 * A byte arriving at the receiver's shift register: from the host through
 * serial16550_receive(), or from THR in loopback. Overrun follows the
 * datasheet: in FIFO mode the new byte is lost and the FIFO is kept; in
 * 16450 mode the new byte overwrites RBR.
 */
static void rx_push(struct serial16550 *s, uint8_t byte)
{
	if (s->rx.count >= rx_capacity(s)) {
		s->lsr |= LSR_OE;
		if (fifo_enabled(s))
			return;
		fifo_reset(&s->rx);
	}
	fifo_push(&s->rx, byte);
	s->lsr |= LSR_DR;
}

static uint8_t read_rbr(struct serial16550 *s)
{
	uint8_t byte = fifo_pop(&s->rx);

	if (s->rx.count == 0)
		s->lsr &= (uint8_t)~LSR_DR;
	return byte;
}

static void write_thr(struct serial16550 *s, uint8_t byte)
{
	/*
	 * The write empties nothing yet: clear the latch and THRE and let the
	 * line drop, as a real UART's INTR does until the byte moves on to the
	 * shift register. The fresh edge afterwards matters for the
	 * edge-triggered ISA IRQ 4.
	 */
	s->thr_ipending = false;
	s->lsr &= (uint8_t) ~(LSR_THRE | LSR_TEMT);
	update_irq(s);

	if (s->mcr & MCR_LOOP)
		rx_push(s, byte);
	else if (s->ops && s->ops->tx)
		s->ops->tx(s->ctx, byte);

	/* Sent at once: THR is empty again, which is an interrupt source. */
	s->lsr |= LSR_THRE | LSR_TEMT;
	s->thr_ipending = true;
}

static void write_ier(struct serial16550 *s, uint8_t value)
{
	uint8_t old = s->ier;

	s->ier = value & IER_MASK;
	/*
	 * Enabling THRI while THR is empty interrupts at once. Only the 0->1
	 * change counts: rewriting an enabled THRI must not revive a latch
	 * that an IIR read cleared, or the guest sees an interrupt storm.
	 * Linux's UART_BUG_THRE test (IER=THRI, IER=0, IER=THRI) relies on
	 * the re-assertion after a real 0->1 change.
	 */
	if (!(old & IER_THRI) && (s->ier & IER_THRI) && (s->lsr & LSR_THRE))
		s->thr_ipending = true;
}

static void write_fcr(struct serial16550 *s, uint8_t value)
{
	/*
	 * Every bit is tested in the value written, never in LCR (kvmtool's
	 * hw/serial.c tests the clear bits against its LCR copy).
	 *
	 * Toggling the enable bit flushes both FIFOs, as on the 16550A.
	 * Otherwise the other bits are only programmed while the enable bit
	 * is written as 1 (datasheet: "FCR0 must be 1 when other FCR bits are
	 * written to or they will not be programmed").
	 */
	bool toggled = (value ^ s->fcr) & FCR_ENABLE;
	bool enable = value & FCR_ENABLE;

	if (toggled || (enable && (value & FCR_CLEAR_RX))) {
		fifo_reset(&s->rx);
		s->lsr &= (uint8_t) ~(LSR_DR | LSR_FIFO_ERR);
	}
	/* THRE is already set: the transmit FIFO never holds anything. */
	if (toggled || (enable && (value & FCR_CLEAR_TX)))
		fifo_reset(&s->tx);

	s->fcr = enable ? (value & FCR_KEEP) : 0;
}

static void write_mcr(struct serial16550 *s, uint8_t value)
{
	s->mcr = value & MCR_MASK;
	update_msr(s);
}

static uint8_t read_iir(struct serial16550 *s)
{
	uint8_t iir = s->iir;

	/*
	 * Reading IIR acknowledges THRE only when THRE is the cause it reports.
	 * A higher-priority cause hides THRE, and the guest must still see it
	 * once that cause is serviced (MAME bug #5745).
	 */
	if ((iir & IIR_ID_MASK) == IIR_THRI)
		s->thr_ipending = false;
	return iir;
}

static uint8_t read_lsr(struct serial16550 *s)
{
	uint8_t lsr = s->lsr;

	s->lsr &= (uint8_t)~LSR_CLEAR_ON_READ;
	return lsr;
}

static uint8_t read_msr(struct serial16550 *s)
{
	uint8_t msr = s->msr;

	s->msr &= (uint8_t)~MSR_DELTA_MASK;
	return msr;
}

void serial16550_init(struct serial16550 *s, const struct serial16550_ops *ops, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->ctx = ctx;
	s->iir = IIR_NO_INT;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_IDLE_INPUTS;
	s->dll = DEFAULT_DIVISOR & 0xff;
	s->dlm = DEFAULT_DIVISOR >> 8;
	/* irq_level starts low and nothing is pending, so no callback here. */
}

size_t serial16550_rx_room(const struct serial16550 *s)
{
	unsigned int cap = rx_capacity(s);

	/*
	 * In loopback the receiver is disconnected from the line. Refusing
	 * host input then (instead of dropping it) keeps it queued in the VMM
	 * until the guest leaves loopback.
	 */
	if (s->mcr & MCR_LOOP)
		return 0;
	return s->rx.count >= cap ? 0 : cap - s->rx.count;
}

/*
 * Any guest access that turns "no room" into "room" (an RBR read, a FIFO
 * clear or enable, leaving loopback) tells the owner, so that input it
 * holds back can flow again.
 */
static void notify_room(struct serial16550 *s, bool had_room)
{
	if (!had_room && serial16550_rx_room(s) > 0 && s->ops && s->ops->rx_room)
		s->ops->rx_room(s->ctx);
}

uint8_t serial16550_read(struct serial16550 *s, unsigned int offset)
{
	bool had_room = serial16550_rx_room(s) > 0;
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t value;

	switch (offset) {
	case UART_RBR:
		value = dlab ? s->dll : read_rbr(s);
		break;
	case UART_IER:
		value = dlab ? s->dlm : s->ier;
		break;
	case UART_IIR:
		value = read_iir(s);
		break;
	case UART_LCR:
		value = s->lcr;
		break;
	case UART_MCR:
		value = s->mcr;
		break;
	case UART_LSR:
		value = read_lsr(s);
		break;
	case UART_MSR:
		value = read_msr(s);
		break;
	case UART_SCR:
		value = s->scr;
		break;
	default:
		/* Outside the 8 ports: behave like an unclaimed port. */
		return 0xff;
	}

	update_irq(s);
	notify_room(s, had_room);
	return value;
}

void serial16550_write(struct serial16550 *s, unsigned int offset, uint8_t value)
{
	bool had_room = serial16550_rx_room(s) > 0;
	bool dlab = s->lcr & LCR_DLAB;

	switch (offset) {
	case UART_THR:
		if (dlab)
			s->dll = value;
		else
			write_thr(s, value);
		break;
	case UART_IER:
		if (dlab)
			s->dlm = value;
		else
			write_ier(s, value);
		break;
	case UART_FCR:
		write_fcr(s, value);
		break;
	case UART_LCR:
		s->lcr = value;
		break;
	case UART_MCR:
		write_mcr(s, value);
		break;
	case UART_LSR:
	case UART_MSR:
		/* Read-only status (LSR writes are a factory test mode). */
		break;
	case UART_SCR:
		s->scr = value;
		break;
	default:
		return;
	}

	update_irq(s);
	notify_room(s, had_room);
}

size_t serial16550_receive(struct serial16550 *s, const uint8_t *buf, size_t len)
{
	size_t room = serial16550_rx_room(s);
	size_t n = len < room ? len : room;
	size_t i;

	for (i = 0; i < n; i++) {
		rx_push(s, buf[i]);
		update_irq(s);
	}
	return n;
}

/* ---- saved state ---- */

/* LSR bits the model never sets: no parity, framing or break on this line. */
#define LSR_NEVER (LSR_PE | LSR_FE | LSR_BI | LSR_FIFO_ERR)

void serial16550_save(const struct serial16550 *s, struct serial16550_state *out)
{
	memset(out, 0, sizeof(*out));
	out->version = SERIAL16550_STATE_VERSION;
	out->ier = s->ier;
	out->iir = s->iir;
	out->lcr = s->lcr;
	out->mcr = s->mcr;
	out->lsr = s->lsr;
	out->msr = s->msr;
	out->scr = s->scr;
	out->fcr = s->fcr;
	out->dll = s->dll;
	out->dlm = s->dlm;
	out->thr_ipending = s->thr_ipending;
	out->irq_level = s->irq_level;
	out->rx_head = s->rx.head;
	out->rx_count = s->rx.count;
	out->tx_head = s->tx.head;
	out->tx_count = s->tx.count;
	memcpy(out->rx_data, s->rx.data, sizeof(out->rx_data));
	memcpy(out->tx_data, s->tx.data, sizeof(out->tx_data));
}

#define refuse(err, errlen, ...) devstate_refuse(err, errlen, "serial16550", __VA_ARGS__)

int serial16550_load(struct serial16550 *s, const struct serial16550_state *in, char *err,
		     size_t errlen)
{
	struct serial16550 t = *s; /* keeps ops and ctx */
	bool had_room, old_level;
	unsigned int cap;
	size_t i;

	if (in->version != SERIAL16550_STATE_VERSION)
		return refuse(err, errlen, "version %u, this build reads version %u", in->version,
			      SERIAL16550_STATE_VERSION);
	for (i = 0; i < sizeof(in->reserved); i++)
		if (in->reserved[i])
			return refuse(err, errlen, "reserved[%zu] is 0x%02x, must be 0", i,
				      in->reserved[i]);
	if (in->thr_ipending > 1)
		return refuse(err, errlen, "thr_ipending %u is not 0 or 1", in->thr_ipending);
	if (in->irq_level > 1)
		return refuse(err, errlen, "irq_level %u is not 0 or 1", in->irq_level);
	if (in->ier & ~IER_MASK)
		return refuse(err, errlen, "ier 0x%02x has reserved bits 4-7 set", in->ier);
	if (in->mcr & ~MCR_MASK)
		return refuse(err, errlen, "mcr 0x%02x has reserved bits 5-7 set", in->mcr);
	if (in->fcr & ~FCR_KEEP)
		return refuse(err, errlen, "fcr 0x%02x has bits that are never stored (0x%02x)",
			      in->fcr, in->fcr & ~FCR_KEEP);
	if (in->fcr && !(in->fcr & FCR_ENABLE))
		return refuse(err, errlen, "fcr 0x%02x has settings with FIFOs disabled", in->fcr);

	t.fcr = in->fcr;
	cap = rx_capacity(&t);
	if (in->rx_head >= SERIAL16550_FIFO_SIZE)
		return refuse(err, errlen, "rx_head %u out of range (FIFO of %d bytes)",
			      in->rx_head, SERIAL16550_FIFO_SIZE);
	if (in->rx_count > cap)
		return refuse(err, errlen,
			      "rx_count %u exceeds the receive capacity %u (fcr 0x%02x)",
			      in->rx_count, cap, in->fcr);
	if (in->tx_head != 0)
		return refuse(err, errlen, "tx_head %u: the transmit FIFO is never used, must be 0",
			      in->tx_head);
	if (in->tx_count != 0)
		return refuse(err, errlen, "tx_count %u: transmission is instantaneous, must be 0",
			      in->tx_count);
	for (i = 0; i < sizeof(in->tx_data); i++)
		if (in->tx_data[i])
			return refuse(err, errlen,
				      "tx_data[%zu] is 0x%02x: the transmit FIFO is never used", i,
				      in->tx_data[i]);

	if ((in->lsr & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT))
		return refuse(err, errlen,
			      "lsr 0x%02x lacks THRE/TEMT (transmission is instantaneous)",
			      in->lsr);
	if (in->lsr & LSR_NEVER)
		return refuse(err, errlen,
			      "lsr 0x%02x has error bits this model never sets (0x%02x)", in->lsr,
			      in->lsr & LSR_NEVER);
	if (!!(in->lsr & LSR_DR) != (in->rx_count > 0))
		return refuse(err, errlen, "lsr 0x%02x: DR disagrees with rx_count %u", in->lsr,
			      in->rx_count);

	t.mcr = in->mcr;
	if ((in->msr & (uint8_t)~MSR_DELTA_MASK) != modem_inputs(&t))
		return refuse(err, errlen, "msr 0x%02x: inputs (bits 4-7) do not match mcr 0x%02x",
			      in->msr, in->mcr);

	t.ier = in->ier;
	t.lcr = in->lcr;
	t.lsr = in->lsr;
	t.msr = in->msr;
	t.scr = in->scr;
	t.dll = in->dll;
	t.dlm = in->dlm;
	t.thr_ipending = in->thr_ipending;
	t.rx.head = in->rx_head;
	t.rx.count = in->rx_count;
	t.tx.head = in->tx_head;
	t.tx.count = in->tx_count;
	memcpy(t.rx.data, in->rx_data, sizeof(t.rx.data));
	memcpy(t.tx.data, in->tx_data, sizeof(t.tx.data));

	eval_iir(&t);
	if (in->iir != t.iir)
		return refuse(err, errlen, "iir 0x%02x, but the registers give 0x%02x", in->iir,
			      t.iir);
	if ((bool)in->irq_level != iir_level(t.iir))
		return refuse(err, errlen, "irq_level %u, but iir 0x%02x gives %u", in->irq_level,
			      t.iir, iir_level(t.iir));

	/* Valid: commit, then tell the owner what changed (see serial16550.h). */
	had_room = serial16550_rx_room(s) > 0;
	old_level = s->irq_level;
	t.irq_level = in->irq_level;
	*s = t;
	if (s->irq_level != old_level && s->ops && s->ops->set_irq)
		s->ops->set_irq(s->ctx, s->irq_level);
	notify_room(s, had_room);
	return 0;
}
