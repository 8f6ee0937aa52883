/* SPDX-License-Identifier: MIT */
/*
 * An 82093AA-style IOAPIC (version 0x20, 24 pins) in userspace, for KVM's
 * split irqchip: the LAPICs are in the kernel, this model turns pin levels
 * into MSI messages that the owner injects (KVM_SIGNAL_MSI).
 *
 * Pure device logic: no ioctls, no locking (the owner holds one mutex).
 * MMIO window: IOREGSEL at 0x00, IOWIN at 0x10, EOI register at 0x40.
 */
#ifndef LMIG_DEVICES_IOAPIC_H
#define LMIG_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IOAPIC_NR_PINS 24

/* Version register bits 0-7; the MP table's IOAPIC entry repeats it. */
#define IOAPIC_VERSION 0x20

/* MMIO offsets in the 4 KiB window. */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10
#define IOAPIC_EOI 0x40

/* Indirect registers, selected through IOREGSEL. */
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARB 0x02
#define IOAPIC_REG_REDTBL 0x10 /* low half of pin n at 0x10 + 2n, high half next */

/*
 * Redirection entry bits. Delivery mode is 3 bits (fixed, lowest priority,
 * SMI, NMI, INIT, ExtINT); delivery status and Remote IRR are read-only.
 */
#define IOAPIC_REDIR_VECTOR 0xffULL
#define IOAPIC_REDIR_DELMODE_SHIFT 8
#define IOAPIC_REDIR_DESTMODE (1ULL << 11) /* logical destination */
#define IOAPIC_REDIR_DELIVS (1ULL << 12)
#define IOAPIC_REDIR_POLARITY (1ULL << 13) /* active low */
#define IOAPIC_REDIR_REMOTE_IRR (1ULL << 14)
#define IOAPIC_REDIR_LEVEL (1ULL << 15)
#define IOAPIC_REDIR_MASKED (1ULL << 16)
#define IOAPIC_REDIR_DEST_SHIFT 56 /* 8-bit destination in bits 56-63 */

struct ioapic_ops {
	/* Deliver an MSI (x86 format: address 0xfeeXXXXX, data = vector etc). */
	void (*msi)(void *ctx, uint64_t address, uint32_t data);
	/* The redirection table changed (the owner may refresh KVM's routes). */
	void (*routes_changed)(void *ctx);
};

struct ioapic {
	uint32_t id; /* 4-bit IOAPIC ID (register 0x00 bits 24-27); the owner sets it */
	uint8_t ioregsel;
	uint64_t redtbl[IOAPIC_NR_PINS];
	uint32_t irr; /* pin levels currently asserted */
	const struct ioapic_ops *ops;
	void *ctx;
};

/* Reset state: ID 0, every pin masked and deasserted. ops may be NULL. */
void ioapic_init(struct ioapic *io, const struct ioapic_ops *ops, void *ctx);

/*
 * 32-bit register access at an offset in the 4 KiB window. Offsets other
 * than IOREGSEL/IOWIN/EOI are ignored and read as all ones, as does IOWIN
 * when IOREGSEL selects no register (and the write-only EOI register).
 */
uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t off);
void ioapic_mmio_write(struct ioapic *io, uint64_t off, uint32_t value);

/*
 * A device changed the level of a pin (true = asserted; the polarity bit is
 * the guest's view of the wire and is not applied here). Edge pins fire on
 * 0->1; level pins fire while asserted and Remote IRR is clear. Pins >= 24
 * are ignored.
 */
void ioapic_set_irq(struct ioapic *io, unsigned int pin, bool level);

/*
 * The guest EOI'd `vector` at its LAPIC (KVM_EXIT_IOAPIC_EOI). Clears
 * Remote IRR of level-triggered pins with that vector and re-delivers any
 * whose line is still asserted.
 */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/*
 * The MSI a pin's redirection entry would send, for KVM's GSI routing
 * table (split irqchip needs MSI routes to know which vectors want EOI
 * exits). Returns false when the pin is masked.
 */
bool ioapic_pin_msi(const struct ioapic *io, unsigned int pin, uint64_t *address, uint32_t *data);

/* ---- saved state (snapshot, migration) ---- */

#define IOAPIC_STATE_VERSION 1

/*
 * The device's state as a fixed-layout struct: fixed-width fields only, no
 * pointers, explicit padding, little-endian (the host's order: x86-64 only).
 */
struct ioapic_state {
	uint32_t version;    /* IOAPIC_STATE_VERSION */
	uint32_t nr_pins;    /* IOAPIC_NR_PINS: the length of redtbl[] */
	uint32_t id;	     /* 0-15 */
	uint32_t irr;	     /* pin levels as the devices last reported them, bits 0-23 */
	uint8_t ioregsel;    /* any value */
	uint8_t reserved[7]; /* zero */
	uint64_t redtbl[IOAPIC_NR_PINS];
};
_Static_assert(sizeof(struct ioapic_state) == 216, "ioapic_state layout changed");
_Static_assert(offsetof(struct ioapic_state, redtbl) == 24, "ioapic_state layout");

/* Fill *out (every byte, reserved ones zeroed). Changes nothing in the device. */
void ioapic_save(const struct ioapic *io, struct ioapic_state *out);

/*
 * Replace the device's state with *in, which may come from an untrusted
 * file. Returns 0, or -EINVAL with a message naming the field in err (if err
 * is not NULL; at most errlen bytes, terminated), and then the device is
 * untouched and no callback has run. Refused: another version; nr_pins
 * other than IOAPIC_NR_PINS; nonzero reserved bytes; id > 15; irr bits
 * above pin 23; and redirection entries this model cannot produce:
 * reserved bits 17-55 set, delivery status (bit 12) set, Remote IRR on an
 * edge-triggered pin, and a level-triggered pin that is unmasked and
 * asserted in irr but has Remote IRR clear (the model delivers at once and
 * sets Remote IRR whenever that state would arise).
 *
 * ops and ctx are the device's own (from ioapic_init()), not restored.
 *
 * Load delivers no MSI: by the rules above nothing is owed (every asserted,
 * deliverable level pin already awaits its EOI, and edges were delivered
 * when they happened). On success it calls ops->routes_changed once, so the
 * owner refreshes KVM's GSI routes from the new table; with a split
 * irqchip that is what makes KVM exit on EOIs of the level-triggered
 * vectors, so the owner must have its VM fd ready before loading, and must
 * restore the in-kernel LAPICs (their ISR/TMR) so that the EOIs owed for
 * pins with Remote IRR set still arrive. Restore the IOAPIC before the
 * devices that drive its pins: their loads re-signal only level changes,
 * which match this irr.
 */
int ioapic_load(struct ioapic *io, const struct ioapic_state *in, char *err, size_t errlen);

#endif
