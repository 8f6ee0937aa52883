/* SPDX-License-Identifier: MIT */
/*
 * Every fixed guest-physical address the VMM uses, in one place.
 * See ../shared/design/memory-layout.md for the table these come from.
 */
#ifndef LMIG_ARCH_X86_LAYOUT_H
#define LMIG_ARCH_X86_LAYOUT_H

#include <stdint.h>

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* Boot GDT (and an empty IDT right after it): flat 4 GiB descriptors. */
#define LAYOUT_BOOT_GDT 0x1000ULL
#define LAYOUT_BOOT_IDT 0x1800ULL
/* Linux "zero page" (struct boot_params); RSI points here at entry. */
#define LAYOUT_BOOT_PARAMS 0x10000ULL
/* Kernel command line, NUL-terminated. It may run up to the page tables. */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX (LAYOUT_PAGE_TABLES - LAYOUT_CMDLINE)
/*
 * Identity page tables for the 64-bit entry: PML4, one PDPT and four PDs of
 * 2 MiB pages mapping the first 4 GiB (six 4 KiB pages, 0x30000-0x35fff).
 */
#define LAYOUT_PAGE_TABLES 0x30000ULL
#define LAYOUT_PML4 (LAYOUT_PAGE_TABLES + 0x0000)
#define LAYOUT_PDPT (LAYOUT_PAGE_TABLES + 0x1000)
#define LAYOUT_PD0 (LAYOUT_PAGE_TABLES + 0x2000) /* four PDs follow */
#define LAYOUT_PAGE_TABLES_END (LAYOUT_PAGE_TABLES + 0x6000)
/* Extended BIOS data area: the MP floating pointer and MP table live here. */
#define LAYOUT_EBDA 0x9fc00ULL
/* Legacy hole: VGA at 0xa0000, BIOS at 0xf0000, up to 1 MiB. */
#define LAYOUT_LEGACY_HOLE 0xa0000ULL
#define LAYOUT_HIGH_MEMORY 0x100000ULL
/*
 * ACPI tables in the BIOS area, reserved in the e820 map. Linux looks for
 * the RSDP on 16-byte boundaries in 0xe0000-0xfffff when
 * boot_params.acpi_rsdp_addr is not set.
 */
#define LAYOUT_ACPI_START 0xe0000ULL
#define LAYOUT_ACPI_END 0x100000ULL
/* Protected-mode kernel (code32_start); the 64-bit entry is here + 0x200. */
#define LAYOUT_KERNEL 0x100000ULL
/* Preferred initramfs address (seed default); moved when it cannot fit. */
#define LAYOUT_INITRD 0x0f000000ULL

/* Low RAM ends at 3 GiB at most; the rest of RAM continues at 4 GiB. */
#define LAYOUT_MMIO_HOLE_START 0xc0000000ULL
#define LAYOUT_MMIO_HOLE_END 0x100000000ULL
#define LAYOUT_HIGH_RAM 0x100000000ULL
/*
 * virtio-mmio windows, one 4 KiB page per device, from the bottom of the
 * hole's upper quarter up (as on Firecracker's x86 layout). Each device
 * also gets an IOAPIC pin (vmm/vm_virtio.c).
 */
#define LAYOUT_VIRTIO_MMIO 0xd0000000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ULL
/* Interrupt controllers inside the MMIO hole. */
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_IOAPIC_SIZE 0x1000ULL
#define LAYOUT_LAPIC 0xfee00000ULL

/*
 * KVM needs three pages for the TSS and one for the EPT identity map on
 * Intel hosts. Both sit in the MMIO hole below the IOAPIC, where no RAM is.
 */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL
#define LAYOUT_KVM_TSS 0xfeffd000ULL

#endif
