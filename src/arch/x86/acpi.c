/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables, written from the ACPI 6.5 specification, chapter 5
 * ("ACPI Software Programming Model"). Section numbers below are its.
 *
 * Each table is generated from the configuration (and, for the DSDT, the
 * device descriptions below) into its own host buffer. Once every size is
 * known the tables are placed, the pointers between them filled in, each
 * one checksummed, and the whole image goes into the guest with a single
 * gmem_write(): nothing here forms a pointer from a guest address.
 *
 * Layout at `base` (16-byte aligned, each table on a 16-byte boundary):
 *   RSDP  36 bytes
 *   XSDT  36 + 8 per entry: FADT, MADT
 *   FADT  276 bytes (revision 6); points at the DSDT
 *   MADT  44 + 8 per CPU + IOAPIC, interrupt source override, LAPIC NMI
 *   DSDT  header + AML
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/rtc_cmos.h"

/* The tables are little-endian; so is every host that runs KVM x86 guests. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ACPI tables need a little-endian host");

#define ACPI_OEM_ID "LMIGTS"
#define ACPI_OEM_TABLE_ID "LMIGTEST"
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "LMIG"
#define ACPI_CREATOR_REVISION 1
#define ACPI_HYPERVISOR_ID "LMIGTEST"
_Static_assert(sizeof(ACPI_OEM_ID) - 1 == 6, "OEM ID is 6 bytes");
_Static_assert(sizeof(ACPI_OEM_TABLE_ID) - 1 == 8, "OEM table ID is 8 bytes");
_Static_assert(sizeof(ACPI_CREATOR_ID) - 1 == 4, "creator ID is 4 bytes");
_Static_assert(sizeof(ACPI_HYPERVISOR_ID) - 1 == 8, "hypervisor vendor identity is 8 bytes");

#define ACPI_TABLE_ALIGN 16

/* Section 5.2.5.3, Root System Description Pointer. */
#define RSDP_SIGNATURE "RSD PTR "
#define RSDP_REVISION 2		/* ACPI 2.0 and later: has the XSDT address */
#define RSDP_V1_CHECKSUM_LEN 20 /* the ACPI 1.0 part */

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* first 20 bytes */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length; /* the whole structure */
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all `length` bytes */
	uint8_t reserved[3];
} __attribute__((packed));

/* Section 5.2.6, System Description Table Header. */
struct acpi_header {
	char signature[4];
	uint32_t length; /* header included */
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Section 5.2.3.2, Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1

/* Section 5.2.9, Fixed ACPI Description Table, revision 6 (ACPI 6.0 on). */
#define FADT_REVISION 6
#define FADT_MINOR_REVISION 5 /* ACPI 6.5 */

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl; /* FACS; there is none on HW-reduced platforms */
	uint32_t dsdt;
	uint8_t reserved0; /* INT_MODEL in ACPI 1.0 */
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

/* Preferred_PM_Profile (table 5.9): nothing in particular. */
#define FADT_PM_PROFILE_UNSPECIFIED 0

/*
 * IA-PC Boot Architecture Flags (table 5.10). No 8042 (bit 1) either. The
 * CMOS RTC is present, so bit 5 stays clear.
 */
#define FADT_BOOT_VGA_NOT_PRESENT (1U << 2)
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1U << 5)

/* Fixed ACPI Description Table Fixed Feature Flags (table 5.11). */
#define FADT_F_WBINVD (1U << 0)
#define FADT_F_PROC_C1 (1U << 2)
/* Set: the power and sleep buttons, if any, are control-method devices. */
#define FADT_F_PWR_BUTTON (1U << 4)
#define FADT_F_SLP_BUTTON (1U << 5)
#define FADT_F_HW_REDUCED_ACPI (1U << 20)

/* CENTURY (table 5.9): the CMOS index of the RTC's century byte; 0 if none. */
#define FADT_CENTURY RTC_CMOS_CENTURY

#define FADT_FLAGS                                                                                 \
	(FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |                  \
	 FADT_F_HW_REDUCED_ACPI)

/* Section 5.2.8, Extended System Description Table. */
#define XSDT_REVISION 1

/* Section 5.2.12, Multiple APIC Description Table. */
#define MADT_REVISION 5 /* ACPI 6.3 and 6.4; the entries used here predate it */

struct acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags; /* bit 0 PCAT_COMPAT: dual 8259s; we have none */
} __attribute__((packed));

enum madt_entry_type {
	MADT_LAPIC = 0,
	MADT_IOAPIC = 1,
	MADT_INT_SRC_OVERRIDE = 2,
	MADT_LAPIC_NMI = 4,
};

/* Section 5.2.12.2, Processor Local APIC Structure. */
struct madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

#define MADT_LAPIC_ENABLED (1U << 0)

/* Section 5.2.12.3, I/O APIC Structure. */
struct madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

/* Section 5.2.12.5, Interrupt Source Override Structure. */
struct madt_int_src_override {
	uint8_t type;
	uint8_t length;
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags; /* MPS INTI flags (table 5.26) */
} __attribute__((packed));

/* Section 5.2.12.7, Local APIC NMI Structure. */
struct madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid; /* 0xff: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

/* MPS INTI flags 0: polarity and trigger mode conform to the bus (ISA: high, edge). */
#define MADT_INTI_CONFORMS 0
#define MADT_ALL_PROCESSORS 0xff
/* The PIT's IRQ 0 is wired to pin 2 on PCs with an IOAPIC. */
#define MADT_ISA_TIMER_IRQ 0
#define MADT_ISA_TIMER_GSI 2
#define MADT_NMI_LINT 1

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");
_Static_assert(sizeof(struct acpi_header) == 36, "table header is 36 bytes");
_Static_assert(sizeof(struct acpi_gas) == 12, "generic address structure is 12 bytes");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");
_Static_assert(offsetof(struct acpi_fadt, century) == 108, "FADT CENTURY at offset 108");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "IAPC_BOOT_ARCH at offset 109");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags at offset 112");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT at offset 140");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "sleep control at 244");
_Static_assert(offsetof(struct acpi_fadt, hypervisor_vendor_id) == 268, "hypervisor id at 268");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header is 44 bytes");
_Static_assert(sizeof(struct madt_lapic) == 8, "processor local APIC entry is 8 bytes");
_Static_assert(sizeof(struct madt_ioapic) == 12, "I/O APIC entry is 12 bytes");
_Static_assert(sizeof(struct madt_int_src_override) == 10, "interrupt override is 10 bytes");
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "local APIC NMI entry is 6 bytes");

/* Section 5.2.11.1, Differentiated System Description Table. */
#define DSDT_REVISION 2 /* 2 and up: AML integers are 64 bits wide */

/*
 * The ISA devices the DSDT describes, under \_SB. Each is a Device with a
 * _HID, a _UID and a _CRS of one fixed I/O range (minimum == maximum) and
 * one edge-triggered IRQ.
 */
struct acpi_isa_device {
	const char *name; /* NameSeg */
	const char *hid;  /* EISA ID */
	uint32_t uid;
	uint16_t io_base;
	/*
	 * The IO descriptor's _ALN. With minimum == maximum it constrains
	 * nothing, but it is copied as the PC firmware writes it.
	 */
	uint8_t io_align;
	uint8_t io_len;
	uint8_t irq;
};

static const struct acpi_isa_device isa_devices[] = {
	/* COM1: the 16550 at 0x3f8, 8 ports, ISA IRQ 4. */
	{.name = "COM1",
	 .hid = "PNP0501",
	 .uid = 0,
	 .io_base = 0x3f8,
	 .io_align = 0,
	 .io_len = 8,
	 .irq = 4},
	/*
	 * The MC146818 CMOS RTC: index and data ports at 0x70, ISA IRQ 8.
	 * Alignment 1, as in the RTC's _CRS in PC firmware.
	 */
	{.name = "RTC",
	 .hid = "PNP0B00",
	 .uid = 0,
	 .io_base = RTC_CMOS_PORT_BASE,
	 .io_align = 1,
	 .io_len = RTC_CMOS_NR_PORTS,
	 .irq = RTC_CMOS_IRQ},
};

/* The byte that makes the sum of all `len` bytes zero. */
static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

/* Append a header; finish_table() fills in the length and checksum. */
static void put_header(struct aml_buf *b, const char *signature, uint8_t revision)
{
	struct acpi_header h = {0};

	memcpy(h.signature, signature, sizeof(h.signature));
	h.revision = revision;
	memcpy(h.oem_id, ACPI_OEM_ID, sizeof(h.oem_id));
	memcpy(h.oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h.oem_table_id));
	h.oem_revision = ACPI_OEM_REVISION;
	memcpy(h.creator_id, ACPI_CREATOR_ID, sizeof(h.creator_id));
	h.creator_revision = ACPI_CREATOR_REVISION;
	aml_append(b, &h, sizeof(h));
}

/* Set the header's length to everything appended, then its checksum. */
static void finish_table(struct aml_buf *b)
{
	uint32_t len;

	if (aml_buf_error(b) || b->len < sizeof(struct acpi_header))
		return;
	/* aml_buf never grows past AML_PKGLEN_MAX, so this fits. */
	len = (uint32_t)b->len;
	memcpy(b->data + offsetof(struct acpi_header, length), &len, sizeof(len));
	b->data[offsetof(struct acpi_header, checksum)] = 0;
	b->data[offsetof(struct acpi_header, checksum)] = acpi_checksum(b->data, b->len);
}

static struct acpi_gas io_byte_register(uint16_t port)
{
	struct acpi_gas gas = {0};

	/* A zero GAS says "not implemented". */
	if (port) {
		gas.space_id = ACPI_GAS_SYSTEM_IO;
		gas.bit_width = 8;
		gas.bit_offset = 0;
		gas.access_size = ACPI_GAS_ACCESS_BYTE;
		gas.address = port;
	}
	return gas;
}

static void build_rsdp(struct aml_buf *b, uint64_t xsdt_addr)
{
	struct acpi_rsdp rsdp = {0};

	memcpy(rsdp.signature, RSDP_SIGNATURE, sizeof(rsdp.signature));
	memcpy(rsdp.oem_id, ACPI_OEM_ID, sizeof(rsdp.oem_id));
	rsdp.revision = RSDP_REVISION;
	/* No RSDT: every OS that knows revision 2 uses the XSDT. */
	rsdp.rsdt_address = 0;
	rsdp.length = sizeof(rsdp);
	rsdp.xsdt_address = xsdt_addr;
	rsdp.checksum = acpi_checksum((const uint8_t *)&rsdp, RSDP_V1_CHECKSUM_LEN);
	rsdp.extended_checksum = acpi_checksum((const uint8_t *)&rsdp, sizeof(rsdp));
	aml_append(b, &rsdp, sizeof(rsdp));
}

static void build_xsdt(struct aml_buf *b, const uint64_t *entries, size_t nr)
{
	put_header(b, "XSDT", XSDT_REVISION);
	/* Entries sit at offset 36: unaligned, hence the byte copy. */
	aml_append(b, entries, nr * sizeof(*entries));
	finish_table(b);
}

static void build_fadt(struct aml_buf *b, const struct acpi_config *cfg, uint64_t dsdt_addr)
{
	struct acpi_fadt fadt = {0};

	/*
	 * HW_REDUCED_ACPI (section 4.1): OSPM ignores the fixed hardware
	 * fields, so there is no SCI, SMI command port, PM1/PM2 blocks, PM
	 * timer, GPE blocks or FACS, and all of them stay zero.
	 */
	fadt.preferred_pm_profile = FADT_PM_PROFILE_UNSPECIFIED;
	fadt.sci_int = 0;
	fadt.century = FADT_CENTURY;
	fadt.iapc_boot_arch = FADT_BOOT_VGA_NOT_PRESENT;
	fadt.flags = FADT_FLAGS;
	fadt.minor_version = FADT_MINOR_REVISION;
	/* X_DSDT wins when set; keep the 32-bit field equal to it, or 0 if it cannot be. */
	fadt.dsdt = dsdt_addr <= UINT32_MAX ? (uint32_t)dsdt_addr : 0;
	fadt.x_dsdt = dsdt_addr;
	fadt.sleep_control_reg = io_byte_register(cfg->sleep_control_port);
	fadt.sleep_status_reg = io_byte_register(cfg->sleep_status_port);
	memcpy(&fadt.hypervisor_vendor_id, ACPI_HYPERVISOR_ID, sizeof(fadt.hypervisor_vendor_id));

	put_header(b, "FACP", FADT_REVISION);
	aml_append(b, (const uint8_t *)&fadt + sizeof(fadt.header),
		   sizeof(fadt) - sizeof(fadt.header));
	finish_table(b);
}

static void build_madt(struct aml_buf *b, const struct acpi_config *cfg)
{
	struct acpi_madt madt = {0};
	struct madt_ioapic ioapic = {0};
	struct madt_int_src_override iso = {0};
	struct madt_lapic_nmi nmi = {0};
	unsigned int i;

	put_header(b, "APIC", MADT_REVISION);
	madt.lapic_address = (uint32_t)LAYOUT_LAPIC;
	madt.flags = 0; /* no PCAT_COMPAT: there is no 8259 to mask */
	aml_append(b, (const uint8_t *)&madt + sizeof(madt.header),
		   sizeof(madt) - sizeof(madt.header));

	/* Linux boots on the first processor listed, which is APIC ID 0. */
	for (i = 0; i < cfg->nr_cpus; i++) {
		struct madt_lapic lapic = {
			.type = MADT_LAPIC,
			.length = sizeof(lapic),
			.processor_uid = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = MADT_LAPIC_ENABLED,
		};
		aml_append(b, &lapic, sizeof(lapic));
	}

	ioapic.type = MADT_IOAPIC;
	ioapic.length = sizeof(ioapic);
	ioapic.ioapic_id = cfg->ioapic_id;
	ioapic.address = (uint32_t)cfg->ioapic_addr;
	ioapic.gsi_base = cfg->ioapic_gsi_base;
	aml_append(b, &ioapic, sizeof(ioapic));

	/* ISA IRQs map to GSI n, except IRQ 0, which is on pin 2 as on a PC. */
	iso.type = MADT_INT_SRC_OVERRIDE;
	iso.length = sizeof(iso);
	iso.bus = 0;
	iso.source = MADT_ISA_TIMER_IRQ;
	iso.gsi = cfg->ioapic_gsi_base + MADT_ISA_TIMER_GSI;
	iso.flags = MADT_INTI_CONFORMS;
	aml_append(b, &iso, sizeof(iso));

	nmi.type = MADT_LAPIC_NMI;
	nmi.length = sizeof(nmi);
	nmi.processor_uid = MADT_ALL_PROCESSORS;
	nmi.flags = MADT_INTI_CONFORMS;
	nmi.lint = MADT_NMI_LINT;
	aml_append(b, &nmi, sizeof(nmi));

	finish_table(b);
}

/*
 * Device (name) {
 *	Name (_HID, EisaId (hid))
 *	Name (_UID, uid)
 *	Name (_CRS, ResourceTemplate () {
 *		IO (Decode16, base, base, align, len)
 *		IRQNoFlags () {irq}
 *	})
 * }
 */
static void build_isa_device(struct aml_buf *b, const struct acpi_isa_device *dev)
{
	struct aml_buf crs;
	size_t device;

	device = aml_device_open(b, dev->name);
	aml_name(b, "_HID");
	aml_eisaid(b, dev->hid);
	aml_name(b, "_UID");
	aml_integer(b, dev->uid);

	aml_buf_init(&crs);
	aml_res_io(&crs, 1, dev->io_base, dev->io_base, dev->io_align, dev->io_len);
	aml_res_irq_noflags(&crs, (uint16_t)(1U << dev->irq));
	aml_name(b, "_CRS");
	aml_resource_template(b, &crs);
	aml_buf_free(&crs);

	aml_close(b, device);
}

/*
 * Device (VRnn) {
 *	Name (_HID, "LNRO0005")
 *	Name (_UID, n)
 *	Name (_CRS, ResourceTemplate () {
 *		Memory32Fixed (ReadWrite, base, size)
 *		Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }
 *	})
 * }
 */
static void build_virtio_device(struct aml_buf *b, unsigned int n, const struct acpi_virtio_mmio *v)
{
	struct aml_buf crs;
	char name[5];
	size_t device;

	snprintf(name, sizeof(name), "VR%02X", n & 0xff); /* n < ACPI_MAX_VIRTIO_MMIO */
	device = aml_device_open(b, name);
	aml_name(b, "_HID");
	aml_string(b, "LNRO0005");
	aml_name(b, "_UID");
	aml_integer(b, n);

	aml_buf_init(&crs);
	aml_res_memory32_fixed(&crs, true, v->base, v->size);
	aml_res_interrupt(&crs, true, false, v->gsi);
	aml_name(b, "_CRS");
	aml_resource_template(b, &crs);
	aml_buf_free(&crs);

	aml_close(b, device);
}

static void build_dsdt(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t pkg, scope, i;

	put_header(b, "DSDT", DSDT_REVISION);

	/*
	 * \_S5_ (section 7.4.2): SLP_TYPa, SLP_TYPb and two reserved values.
	 * On a HW-reduced platform only SLP_TYPa is used, and it goes to the
	 * sleep control register.
	 */
	aml_name(b, "_S5_");
	pkg = aml_package_open(b, 4);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_close(b, pkg);

	scope = aml_scope_open(b, "\\_SB");
	for (i = 0; i < sizeof(isa_devices) / sizeof(isa_devices[0]); i++)
		build_isa_device(b, &isa_devices[i]);
	for (i = 0; i < cfg->nr_virtio; i++)
		build_virtio_device(b, (unsigned int)i, &cfg->virtio[i]);
	aml_close(b, scope);

	finish_table(b);
}

static int validate(const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > ACPI_MAX_CPUS)
		return -EINVAL;
	/* The MADT's I/O APIC address is 32 bits wide. */
	if (cfg->ioapic_addr > UINT32_MAX)
		return -EINVAL;
	/* The override for IRQ 0 names GSI base + 2. */
	if (cfg->ioapic_gsi_base > UINT32_MAX - MADT_ISA_TIMER_GSI)
		return -EINVAL;
	if (cfg->nr_virtio > ACPI_MAX_VIRTIO_MMIO || (cfg->nr_virtio && !cfg->virtio))
		return -EINVAL;
	return 0;
}

/* The tables, in the order they are placed from `base`. */
enum { T_RSDP, T_XSDT, T_FADT, T_MADT, T_DSDT, NR_TABLES };

/* Sizes of the tables whose contents depend on where the others are. */
#define RSDP_SIZE sizeof(struct acpi_rsdp)
#define XSDT_NR_ENTRIES 2
#define XSDT_SIZE (sizeof(struct acpi_header) + XSDT_NR_ENTRIES * sizeof(uint64_t))
#define FADT_SIZE sizeof(struct acpi_fadt)

/*
 * Give each table an address: one after the other from base, each on a
 * 16-byte boundary. -E2BIG when the last one ends past limit.
 */
static int place(const size_t *sizes, uint64_t base, uint64_t limit, uint64_t *addrs, uint64_t *end)
{
	uint64_t pos = base;
	unsigned int i;

	for (i = 0; i < NR_TABLES; i++) {
		uint64_t aligned;

		if (__builtin_add_overflow(pos, ACPI_TABLE_ALIGN - 1, &aligned))
			return -E2BIG;
		aligned &= ~(uint64_t)(ACPI_TABLE_ALIGN - 1);
		if (__builtin_add_overflow(aligned, sizes[i], &pos) || pos > limit)
			return -E2BIG;
		addrs[i] = aligned;
	}
	*end = pos;
	return 0;
}

int acpi_write_tables(struct gmem *gm, uint64_t base, uint64_t limit, const struct acpi_config *cfg,
		      uint64_t *rsdp_addr)
{
	struct aml_buf t[NR_TABLES];
	size_t sizes[NR_TABLES];
	uint64_t addrs[NR_TABLES], xsdt_entries[XSDT_NR_ENTRIES], end;
	uint8_t *image = NULL;
	unsigned int i;
	int r;

	if (!gm || !cfg || !rsdp_addr || base % ACPI_TABLE_ALIGN || base > limit)
		return -EINVAL;
	r = validate(cfg);
	if (r)
		return r;

	for (i = 0; i < NR_TABLES; i++)
		aml_buf_init(&t[i]);

	/*
	 * Build the tables that point at no other table first: their sizes
	 * vary, and the others' contents depend on where these land.
	 */
	build_madt(&t[T_MADT], cfg);
	build_dsdt(&t[T_DSDT], cfg);
	r = aml_buf_error(&t[T_MADT]);
	if (!r)
		r = aml_buf_error(&t[T_DSDT]);
	if (r)
		goto out;

	sizes[T_RSDP] = RSDP_SIZE;
	sizes[T_XSDT] = XSDT_SIZE;
	sizes[T_FADT] = FADT_SIZE;
	sizes[T_MADT] = t[T_MADT].len;
	sizes[T_DSDT] = t[T_DSDT].len;
	r = place(sizes, base, limit, addrs, &end);
	if (r)
		goto out;

	build_fadt(&t[T_FADT], cfg, addrs[T_DSDT]);
	xsdt_entries[0] = addrs[T_FADT];
	xsdt_entries[1] = addrs[T_MADT];
	build_xsdt(&t[T_XSDT], xsdt_entries, XSDT_NR_ENTRIES);
	build_rsdp(&t[T_RSDP], addrs[T_XSDT]);

	image = calloc(1, end - base);
	if (!image) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < NR_TABLES; i++) {
		r = aml_buf_error(&t[i]);
		if (r)
			goto out;
		/* The fixed sizes used for placement and what was built agree. */
		if (t[i].len != sizes[i]) {
			r = -EINVAL;
			goto out;
		}
		memcpy(image + (addrs[i] - base), t[i].data, t[i].len);
	}

	r = gmem_write(gm, base, image, end - base);
	if (!r)
		*rsdp_addr = addrs[T_RSDP];
out:
	free(image);
	for (i = 0; i < NR_TABLES; i++)
		aml_buf_free(&t[i]);
	return r;
}
