/* SPDX-License-Identifier: MIT */
/*
 * 82093AA-style IOAPIC for KVM's split irqchip, written from the Intel
 * 82093AA datasheet (register layout) and the version 0x20 EOI register
 * found on ICH-era IOAPICs.
 *
 * Interrupts leave the model as MSI messages: in split-irqchip mode the
 * in-kernel LAPICs accept them through KVM_SIGNAL_MSI, and the LAPIC tells
 * us about EOIs of level-triggered vectors (KVM_EXIT_IOAPIC_EOI), which is
 * where Remote IRR gets cleared.
 *
 * Every value the guest controls is either masked to its field width
 * (IOREGSEL, ID) or checked against IOAPIC_NR_PINS before it indexes
 * redtbl[].
 */
#include "devices/ioapic.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "devices/devstate.h"

/* Number of redirection entries minus one, reported in version bits 16-23. */
#define VERSION_VALUE (IOAPIC_VERSION | ((uint32_t)(IOAPIC_NR_PINS - 1) << 16))

#define REDIR_DELMODE (7ULL << IOAPIC_REDIR_DELMODE_SHIFT)
#define REDIR_DEST (0xffULL << IOAPIC_REDIR_DEST_SHIFT)

/*
 * Bits the guest may write. Delivery status and Remote IRR are read-only;
 * reserved bits (17-55) stay zero so reads never return guest junk there.
 */
#define REDIR_WRITABLE                                                                             \
	(IOAPIC_REDIR_VECTOR | REDIR_DELMODE | IOAPIC_REDIR_DESTMODE | IOAPIC_REDIR_POLARITY |     \
	 IOAPIC_REDIR_LEVEL | IOAPIC_REDIR_MASKED | REDIR_DEST)

#define REDIR_RESET IOAPIC_REDIR_MASKED

#define MSI_ADDR_BASE 0xfee00000ULL
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_DESTMODE_SHIFT 2
#define MSI_DATA_DELMODE_SHIFT 8
#define MSI_DATA_LEVEL_ASSERT (1U << 14)
#define MSI_DATA_TRIGGER_SHIFT 15

void ioapic_init(struct ioapic *io, const struct ioapic_ops *ops, void *ctx)
{
	unsigned int i;

	io->id = 0;
	io->ioregsel = 0;
	io->irr = 0;
	for (i = 0; i < IOAPIC_NR_PINS; i++)
		io->redtbl[i] = REDIR_RESET;
	io->ops = ops;
	io->ctx = ctx;
}

static bool entry_is_level(uint64_t e)
{
	return e & IOAPIC_REDIR_LEVEL;
}

static bool entry_is_masked(uint64_t e)
{
	return e & IOAPIC_REDIR_MASKED;
}

static bool pin_asserted(const struct ioapic *io, unsigned int pin)
{
	return io->irr & (1U << pin);
}

static void entry_to_msi(uint64_t e, uint64_t *address, uint32_t *data)
{
	uint64_t dest = (e & REDIR_DEST) >> IOAPIC_REDIR_DEST_SHIFT;
	uint64_t destmode = !!(e & IOAPIC_REDIR_DESTMODE);
	uint32_t delmode = (uint32_t)((e & REDIR_DELMODE) >> IOAPIC_REDIR_DELMODE_SHIFT);
	uint32_t d;

	d = (uint32_t)(e & IOAPIC_REDIR_VECTOR) | delmode << MSI_DATA_DELMODE_SHIFT;
	/*
	 * A level-triggered MSI must carry "assert" (bit 14), or the LAPIC
	 * treats it as a deassert message and drops it.
	 */
	if (entry_is_level(e))
		d |= 1U << MSI_DATA_TRIGGER_SHIFT | MSI_DATA_LEVEL_ASSERT;

	*address =
		MSI_ADDR_BASE | dest << MSI_ADDR_DEST_SHIFT | destmode << MSI_ADDR_DESTMODE_SHIFT;
	*data = d;
}

bool ioapic_pin_msi(const struct ioapic *io, unsigned int pin, uint64_t *address, uint32_t *data)
{
	uint64_t a;
	uint32_t d;

	if (pin >= IOAPIC_NR_PINS || entry_is_masked(io->redtbl[pin]))
		return false;
	entry_to_msi(io->redtbl[pin], &a, &d);
	if (address)
		*address = a;
	if (data)
		*data = d;
	return true;
}

/*
 * Send the pin's message. For level-triggered pins Remote IRR is set first:
 * it records that the LAPIC owes us an EOI, and it stays set until then so
 * a line held high does not deliver again and again.
 */
static void deliver(struct ioapic *io, unsigned int pin)
{
	uint64_t address;
	uint32_t data;

	if (entry_is_level(io->redtbl[pin]))
		io->redtbl[pin] |= IOAPIC_REDIR_REMOTE_IRR;
	entry_to_msi(io->redtbl[pin], &address, &data);
	if (io->ops && io->ops->msi)
		io->ops->msi(io->ctx, address, data);
}

/* A level pin fires whenever it is asserted, unmasked and not awaiting EOI. */
static void level_service(struct ioapic *io, unsigned int pin)
{
	uint64_t e = io->redtbl[pin];

	if (entry_is_level(e) && !entry_is_masked(e) && !(e & IOAPIC_REDIR_REMOTE_IRR) &&
	    pin_asserted(io, pin))
		deliver(io, pin);
}

void ioapic_set_irq(struct ioapic *io, unsigned int pin, bool level)
{
	bool was;
	uint64_t e;

	if (pin >= IOAPIC_NR_PINS)
		return;
	was = pin_asserted(io, pin);
	if (level)
		io->irr |= 1U << pin;
	else
		io->irr &= ~(1U << pin);
	if (!level)
		return;

	e = io->redtbl[pin];
	if (entry_is_level(e))
		level_service(io, pin);
	else if (!was && !entry_is_masked(e))
		/* An edge that arrives while the pin is masked is lost, as on hardware. */
		deliver(io, pin);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	unsigned int pin;

	for (pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t e = io->redtbl[pin];

		if (!entry_is_level(e) || !(e & IOAPIC_REDIR_REMOTE_IRR) ||
		    (e & IOAPIC_REDIR_VECTOR) != vector)
			continue;
		io->redtbl[pin] = e & ~IOAPIC_REDIR_REMOTE_IRR;
		/* The device still holds the line: it wants another interrupt. */
		level_service(io, pin);
	}
}

static uint32_t reg_read(const struct ioapic *io, uint8_t reg)
{
	unsigned int pin;

	switch (reg) {
	case IOAPIC_REG_ID:
		return (io->id & 0xf) << 24;
	case IOAPIC_REG_VERSION:
		return VERSION_VALUE;
	case IOAPIC_REG_ARB:
		/* The arbitration ID is loaded from the APIC ID. */
		return (io->id & 0xf) << 24;
	}
	if (reg < IOAPIC_REG_REDTBL)
		return 0xffffffff;
	pin = (unsigned int)(reg - IOAPIC_REG_REDTBL) / 2;
	if (pin >= IOAPIC_NR_PINS)
		return 0xffffffff;
	if (reg & 1)
		return (uint32_t)(io->redtbl[pin] >> 32);
	return (uint32_t)io->redtbl[pin];
}

static void redtbl_write(struct ioapic *io, unsigned int pin, bool high, uint32_t value)
{
	uint64_t old = io->redtbl[pin];
	uint64_t mask = high ? 0xffffffff00000000ULL : 0x00000000ffffffffULL;
	uint64_t v = high ? (uint64_t)value << 32 : value;
	uint64_t e;

	e = (old & ~(mask & REDIR_WRITABLE)) | (v & mask & REDIR_WRITABLE);
	/*
	 * Remote IRR has no meaning for edge pins. Clearing it when a pin is
	 * switched to edge also lets a guest without the EOI register (or a
	 * stale vector) unstick a pin by toggling its trigger mode, the trick
	 * Linux uses on version 0x11 IOAPICs.
	 */
	if (!entry_is_level(e))
		e &= ~IOAPIC_REDIR_REMOTE_IRR;
	io->redtbl[pin] = e;
	if (e == old)
		return;
	/*
	 * Tell the owner before delivering anything: KVM only exits on the EOI
	 * of a level-triggered vector it finds in the routes, so the routes
	 * must be current before that vector is sent.
	 */
	if (io->ops && io->ops->routes_changed)
		io->ops->routes_changed(io->ctx);
	/* Unmasking (or switching to level) a pin whose line is high fires it. */
	level_service(io, pin);
}

static void reg_write(struct ioapic *io, uint8_t reg, uint32_t value)
{
	unsigned int pin;

	switch (reg) {
	case IOAPIC_REG_ID:
		io->id = (value >> 24) & 0xf;
		return;
	case IOAPIC_REG_VERSION:
	case IOAPIC_REG_ARB:
		return; /* read-only */
	}
	if (reg < IOAPIC_REG_REDTBL)
		return;
	pin = (unsigned int)(reg - IOAPIC_REG_REDTBL) / 2;
	if (pin >= IOAPIC_NR_PINS)
		return;
	redtbl_write(io, pin, reg & 1, value);
}

uint32_t ioapic_mmio_read(struct ioapic *io, uint64_t off)
{
	switch (off) {
	case IOAPIC_IOREGSEL:
		return io->ioregsel;
	case IOAPIC_IOWIN:
		return reg_read(io, io->ioregsel);
	default:
		/* Includes the EOI register, which is write-only. */
		return 0xffffffff;
	}
}

void ioapic_mmio_write(struct ioapic *io, uint64_t off, uint32_t value)
{
	switch (off) {
	case IOAPIC_IOREGSEL:
		io->ioregsel = (uint8_t)value;
		break;
	case IOAPIC_IOWIN:
		reg_write(io, io->ioregsel, value);
		break;
	case IOAPIC_EOI:
		/* Version 0x20: writing a vector here is a directed EOI. */
		ioapic_eoi(io, (uint8_t)value);
		break;
	default:
		break;
	}
}

/* ---- saved state ---- */

#define REDIR_RESERVED (((1ULL << IOAPIC_REDIR_DEST_SHIFT) - 1) & ~((1ULL << 17) - 1))
#define IRR_PINS ((uint32_t)((1ULL << IOAPIC_NR_PINS) - 1))

void ioapic_save(const struct ioapic *io, struct ioapic_state *out)
{
	memset(out, 0, sizeof(*out));
	out->version = IOAPIC_STATE_VERSION;
	out->nr_pins = IOAPIC_NR_PINS;
	out->id = io->id;
	out->irr = io->irr;
	out->ioregsel = io->ioregsel;
	memcpy(out->redtbl, io->redtbl, sizeof(out->redtbl));
}

#define refuse(err, errlen, ...) devstate_refuse(err, errlen, "ioapic", __VA_ARGS__)

int ioapic_load(struct ioapic *io, const struct ioapic_state *in, char *err, size_t errlen)
{
	unsigned int i;

	if (in->version != IOAPIC_STATE_VERSION)
		return refuse(err, errlen, "version %u, this build reads version %u", in->version,
			      IOAPIC_STATE_VERSION);
	if (in->nr_pins != IOAPIC_NR_PINS)
		return refuse(err, errlen, "nr_pins %u, this IOAPIC has %d", in->nr_pins,
			      IOAPIC_NR_PINS);
	for (i = 0; i < sizeof(in->reserved); i++)
		if (in->reserved[i])
			return refuse(err, errlen, "reserved[%u] is 0x%02x, must be 0", i,
				      in->reserved[i]);
	if (in->id > 0xf)
		return refuse(err, errlen, "id 0x%x out of range (4 bits)", in->id);
	if (in->irr & ~IRR_PINS)
		return refuse(err, errlen, "irr 0x%08x has bits above pin %d", in->irr,
			      IOAPIC_NR_PINS - 1);
	for (i = 0; i < IOAPIC_NR_PINS; i++) {
		uint64_t e = in->redtbl[i];

		if (e & REDIR_RESERVED)
			return refuse(err, errlen,
				      "redtbl[%u] 0x%016llx has reserved bits 17-55 set", i,
				      (unsigned long long)e);
		if (e & IOAPIC_REDIR_DELIVS)
			return refuse(err, errlen,
				      "redtbl[%u] 0x%016llx has delivery status set (never "
				      "pending in this model)",
				      i, (unsigned long long)e);
		if (!entry_is_level(e) && (e & IOAPIC_REDIR_REMOTE_IRR))
			return refuse(err, errlen,
				      "redtbl[%u] 0x%016llx: Remote IRR on an edge-triggered pin",
				      i, (unsigned long long)e);
		if (entry_is_level(e) && !entry_is_masked(e) && !(e & IOAPIC_REDIR_REMOTE_IRR) &&
		    (in->irr & (1U << i)))
			return refuse(err, errlen,
				      "redtbl[%u] 0x%016llx: level pin asserted and unmasked but "
				      "Remote IRR clear (an interrupt was never delivered)",
				      i, (unsigned long long)e);
	}

	io->id = in->id;
	io->ioregsel = in->ioregsel;
	io->irr = in->irr;
	memcpy(io->redtbl, in->redtbl, sizeof(io->redtbl));
	/* New routes for KVM (see ioapic.h); nothing is delivered. */
	if (io->ops && io->ops->routes_changed)
		io->ops->routes_changed(io->ctx);
	return 0;
}
