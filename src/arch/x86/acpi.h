/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for a hardware-reduced platform (ACPI 6.5, section 4.1): the
 * RSDP, an XSDT, the FADT, the MADT and a DSDT whose AML is built by
 * arch/x86/aml.h. Linux kernels built without CONFIG_X86_MPPARSE can only
 * find the IOAPIC through the MADT.
 *
 * What the guest is told:
 * - HW_REDUCED_ACPI: no PM1 event/control blocks, no PM timer, no GPEs, no
 *   SCI, no FACS. Sleep states go through the FADT's sleep control and
 *   status registers (two byte-wide I/O ports) instead.
 * - No 8259 PIC (MADT flags 0), no VGA. A CMOS RTC, whose century byte is
 *   at CMOS index 0x32 (FADT CENTURY).
 * - CPUs with APIC IDs 0..nr_cpus-1, one IOAPIC, ISA IRQ 0 on GSI 2, NMI on
 *   LINT1 of every CPU.
 * - \_S5_, COM1 (0x3f8, IRQ 4) and the RTC (PNP0B00: 0x70-0x71, IRQ 8) in
 *   the DSDT, and each virtio-mmio window as an LNRO0005 device (the _HID
 *   Linux's virtio_mmio driver matches) with its memory range and its
 *   edge-triggered, active-high interrupt.
 */
#ifndef LMIG_ARCH_X86_ACPI_H
#define LMIG_ARCH_X86_ACPI_H

#include <stdint.h>

#include "vmm/gmem.h"

/* xAPIC IDs are 8 bits wide; 0xff is the broadcast ID. */
#define ACPI_MAX_CPUS 255

/*
 * The sleep type \_S5_ reports (in SLP_TYPa, and SLP_TYPb which HW-reduced
 * platforms ignore). To power off, the guest writes
 *	(ACPI_SLP_TYP_S5 << ACPI_SLEEP_CTL_SLP_TYP_SHIFT) | ACPI_SLEEP_CTL_SLP_EN
 * to the sleep control register (ACPI 6.5 section 4.8.3.7).
 */
#define ACPI_SLP_TYP_S5 5
#define ACPI_SLEEP_CTL_SLP_TYP_SHIFT 2
#define ACPI_SLEEP_CTL_SLP_TYP_MASK 0x1c
#define ACPI_SLEEP_CTL_SLP_EN 0x20
/* Sleep status register: WAK_STS, bit 7, write 1 to clear (section 4.8.3.8). */
#define ACPI_SLEEP_STS_WAK_STS 0x80

/* A virtio-mmio window for the DSDT (LNRO0005), with its edge-triggered GSI. */
struct acpi_virtio_mmio {
	uint32_t base;
	uint32_t size;
	uint32_t gsi;
};

#define ACPI_MAX_VIRTIO_MMIO 32

struct acpi_config {
	unsigned int nr_cpus; /* 1..ACPI_MAX_CPUS, APIC IDs and processor UIDs 0..n-1 */
	uint64_t ioapic_addr; /* below 4 GiB */
	uint8_t ioapic_id;
	uint32_t ioapic_gsi_base;
	/*
	 * FADT (revision 5+) sleep control and status registers: 8-bit, in
	 * system I/O space. 0 leaves a register out; Linux then has no ACPI
	 * power-off, since it needs both.
	 */
	uint16_t sleep_control_port;
	uint16_t sleep_status_port;
	/* virtio-mmio devices (Device VRnn, _HID "LNRO0005"), at most ACPI_MAX_VIRTIO_MMIO. */
	const struct acpi_virtio_mmio *virtio;
	unsigned int nr_virtio;
};

/*
 * Write RSDP, XSDT, FADT, MADT and DSDT into [base, limit) of guest memory,
 * the RSDP at `base` (which must be 16-byte aligned) and every table after
 * it on a 16-byte boundary. All pointers between the tables are 64-bit
 * (the RSDT address is 0); the FADT's 32-bit DSDT field is filled in too
 * when the DSDT is below 4 GiB.
 *
 * Returns 0 and the RSDP address in *rsdp_addr; -EINVAL for a bad config
 * or base; -E2BIG if the tables do not fit below limit; -ENOMEM; -EFAULT
 * if the bytes they need are not RAM. The tables are assembled on the host
 * and copied in with one gmem_write(), so nothing is written on error.
 */
int acpi_write_tables(struct gmem *gm, uint64_t base, uint64_t limit, const struct acpi_config *cfg,
		      uint64_t *rsdp_addr) __attribute__((warn_unused_result));

#endif
