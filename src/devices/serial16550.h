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

#endif
