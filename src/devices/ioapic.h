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
#include <stdint.h>

#define IOAPIC_NR_PINS 24

struct ioapic_ops {
	/* Deliver an MSI (x86 format: address 0xfeeXXXXX, data = vector etc). */
	void (*msi)(void *ctx, uint64_t address, uint32_t data);
	/* The redirection table changed (the owner may refresh KVM's routes). */
	void (*routes_changed)(void *ctx);
};

struct ioapic {
	uint32_t id;
	uint8_t ioregsel;
	uint64_t redtbl[IOAPIC_NR_PINS];
	uint32_t irr; /* pin levels currently asserted */
	const struct ioapic_ops *ops;
	void *ctx;
};

void ioapic_init(struct ioapic *io, const struct ioapic_ops *ops, void *ctx);

/* 32-bit register access at an offset in the 4 KiB window. */
uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t off);
void ioapic_mmio_write(struct ioapic *io, uint64_t off, uint32_t value);

/* A device changed the level of a pin. Edge pins fire on 0->1. */
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
bool ioapic_pin_msi(const struct ioapic *io, unsigned int pin, uint64_t *address,
		    uint32_t *data);

#endif
