/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART model (COM1). Pure device logic: no ioctls, no file
 * descriptors, no locking. The owner serialises calls (one mutex) and
 * connects the three callbacks: the interrupt line, transmitted bytes, and
 * "the receive FIFO has room again" (so input waiting in the VMM can flow).
 *
 * Interrupts follow QEMU's serial_update_irq (see ../shared/design/style.md
 * section 9): priorities RLS > RX timeout/RDA > THRE > MSR, a separate
 * thr_ipending latch, the line recomputed after every access and every byte
 * received, and the irq callback called only when the level changes.
 *
 * All state is in this plain struct so that it can be saved and restored.
 */
#ifndef LMIG_DEVICES_SERIAL16550_H
#define LMIG_DEVICES_SERIAL16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL16550_FIFO_SIZE 16
#define SERIAL16550_NR_REGS 8 /* the device claims 8 ports */

struct serial16550_fifo {
	uint8_t data[SERIAL16550_FIFO_SIZE];
	uint8_t head;  /* index of the oldest byte */
	uint8_t count; /* bytes held */
};

struct serial16550_ops {
	void (*set_irq)(void *ctx, bool level);
	/* A byte the guest transmitted (not called in loopback mode). */
	void (*tx)(void *ctx, uint8_t byte);
	/*
	 * The receive FIFO went from full to having room (optional): called
	 * from inside serial16550_read()/_write() whenever the access made
	 * serial16550_rx_room() go from 0 to non-zero (an RBR read, a FIFO
	 * clear or enable, leaving loopback).
	 */
	void (*rx_room)(void *ctx);
};

struct serial16550 {
	/* registers */
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	/* interrupt latches */
	bool thr_ipending;
	bool timeout_ipending; /* derived: FIFO data below the trigger level */
	bool irq_level;	       /* the level last signalled */
	/* tx stays empty: transmission is instantaneous */
	struct serial16550_fifo rx, tx;
	/* callbacks, not state: reconnected after a restore */
	const struct serial16550_ops *ops;
	void *ctx;
};

void serial16550_init(struct serial16550 *s, const struct serial16550_ops *ops, void *ctx);

/* Register access; offset is 0..7 from the base port. */
uint8_t serial16550_read(struct serial16550 *s, unsigned int offset);
void serial16550_write(struct serial16550 *s, unsigned int offset, uint8_t value);

/*
 * Free space in the receive FIFO (1 when FIFOs are disabled and RBR is empty;
 * 0 in loopback mode, where the receiver is disconnected from the line).
 */
size_t serial16550_rx_room(const struct serial16550 *s);

/*
 * Bytes from the host side (the terminal). Accepts at most
 * serial16550_rx_room() bytes and returns how many it took; the caller keeps
 * the rest and offers them again after the rx_room callback.
 */
size_t serial16550_receive(struct serial16550 *s, const uint8_t *buf, size_t len);

/* ---- saved state (snapshot, migration) ---- */

#define SERIAL16550_STATE_VERSION 1

/*
 * The device's state as a fixed-layout struct: fixed-width fields only, no
 * pointers, no implicit padding, little-endian (the host's order: x86-64
 * only). A new field or a new meaning means a new version; load refuses
 * every version but its own.
 *
 * Derived values are saved too (iir, irq_level) and checked on load against
 * what the registers imply, so that a damaged file is refused rather than
 * producing a UART whose IIR contradicts its LSR. timeout_ipending is not
 * saved: it is recomputed from the FIFO and FCR.
 */
struct serial16550_state {
	uint32_t version; /* SERIAL16550_STATE_VERSION */
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	uint8_t thr_ipending; /* 0 or 1 */
	uint8_t irq_level;    /* 0 or 1: the level last signalled through set_irq */
	uint8_t rx_head;      /* index of the oldest byte in rx_data, < SERIAL16550_FIFO_SIZE */
	uint8_t rx_count;     /* bytes held: <= 16 with FIFOs on, <= 1 with FIFOs off */
	uint8_t tx_head;      /* version 1: always 0 (the transmit FIFO is never used) */
	uint8_t tx_count;     /* version 1: always 0 (transmission is instantaneous) */
	uint8_t rx_data[SERIAL16550_FIFO_SIZE];
	uint8_t tx_data[SERIAL16550_FIFO_SIZE]; /* version 1: all zero */
	uint8_t reserved[4];			/* zero */
};
_Static_assert(sizeof(struct serial16550_state) == 56, "serial16550_state layout changed");
_Static_assert(offsetof(struct serial16550_state, rx_data) == 20, "serial16550_state layout");
_Static_assert(offsetof(struct serial16550_state, reserved) == 52, "serial16550_state layout");

/* Fill *out (every byte, reserved ones zeroed). Changes nothing in the device. */
void serial16550_save(const struct serial16550 *s, struct serial16550_state *out);

/*
 * Replace the device's state with *in, which may come from an untrusted
 * file. Returns 0, or -EINVAL with a message naming the field in err (if err
 * is not NULL; at most errlen bytes, terminated), and then the device is
 * untouched and no callback has run. Refused: another version; nonzero
 * reserved bytes; an index or count outside its array (rx_head >= 16,
 * rx_count beyond the FIFO's capacity in the saved FCR mode, a non-empty,
 * moved or dirtied transmit FIFO); flags that are not 0/1; and values this model
 * cannot produce from any guest access: IER/MCR bits 4-7 or 5-7 set, FCR
 * with its self-clearing bits or with settings while disabled, LSR without
 * THRE/TEMT, with PE/FE/BI/FIFO-error, or with DR disagreeing with the FIFO,
 * MSR inputs (bits 4-7) not matching MCR's loopback wiring, and an IIR or
 * line level other than what the registers imply.
 *
 * ops and ctx are the device's own (from serial16550_init()), not restored.
 *
 * Interrupt re-sync: load calls ops->set_irq once if the restored line level
 * differs from the level this device last signalled, keeping the
 * level-change-only contract. The owner therefore needs no separate step:
 * restoring into a freshly initialised device (line low) signals
 * set_irq(true) exactly when the saved line was high. Restore the IOAPIC
 * first: its saved IRR already has the pin asserted, so that repeat of the
 * level delivers nothing on an edge-triggered pin (restoring it afterwards
 * also ends consistent, as its IRR is overwritten). Likewise ops->rx_room is
 * called if the receive FIFO went from no room to some room, so input the
 * owner holds back flows again. ops->tx is never called.
 */
int serial16550_load(struct serial16550 *s, const struct serial16550_state *in, char *err,
		     size_t errlen);

#endif
