/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: the floating pointer and
 * the configuration table, written into the EBDA. Linux uses them to find
 * the CPUs and the IOAPIC when it has no ACPI tables (or acpi=off).
 */
#ifndef LMIG_ARCH_X86_MPTABLE_H
#define LMIG_ARCH_X86_MPTABLE_H

#include "vmm/gmem.h"

/*
 * Write an MP table for `nr_cpus` CPUs (APIC IDs 0..n-1, CPU 0 the BSP),
 * one ISA bus, one IOAPIC (ID nr_cpus, at ioapic_addr) and interrupt
 * entries routing ISA IRQ 0-15 to the same IOAPIC pins (IRQ 0 to pin 2, as
 * on a PC) plus LINT0 ExtINT / LINT1 NMI. 0, -EINVAL for a bad nr_cpus, or
 * -E2BIG when the table would not fit in the EBDA.
 */
int mptable_write(struct gmem *gm, uint64_t ebda, unsigned int nr_cpus, uint64_t ioapic_addr)
	__attribute__((warn_unused_result));

#endif
