/* SPDX-License-Identifier: MIT */
/*
 * MP tables, written from the Intel MultiProcessor Specification 1.4
 * (chapter 4, "MP Configuration Table").
 *
 * The whole structure is assembled in a host buffer, checksummed there and
 * copied into the guest with a single gmem_write(), so nothing here ever
 * forms a pointer from a guest address.
 *
 * Layout at `ebda`:
 *   +0   floating pointer (16 bytes, 16-byte aligned; Linux scans the first
 *        KiB of the EBDA at 639 KiB for "_MP_")
 *   +16  configuration table header, then the entries in the order the spec
 *        asks for: processors, buses, I/O APICs, I/O interrupts, local
 *        interrupts
 */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/ioapic.h"

/* The tables are little-endian; so is every host that runs KVM x86 guests. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "MP tables need a little-endian host");

/* The EBDA runs from 639 KiB up to the legacy hole: 1 KiB. */
#define MPTABLE_MAX_SIZE (LAYOUT_LEGACY_HOLE - LAYOUT_EBDA)

#define MPF_SIGNATURE "_MP_"
#define MPC_SIGNATURE "PCMP"
#define MP_SPEC_REV 4 /* version 1.4 */
#define MPC_OEM_ID "LMIGTEST"
#define MPC_PRODUCT_ID "LMIGTESTER"
_Static_assert(sizeof(MPC_OEM_ID) - 1 <= 8, "OEM ID is 8 bytes");
_Static_assert(sizeof(MPC_PRODUCT_ID) - 1 <= 12, "product ID is 12 bytes");

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_IOINTR = 3,
	MP_LINTR = 4,
};

enum mp_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_SMI = 2,
	MP_EXTINT = 3,
};

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_ENABLED 0x01
/* Polarity and trigger "conform to the bus": active high, edge for ISA. */
#define MP_IRQ_CONFORMING 0x0000

/*
 * Local APIC version 0x14 (integrated APIC). The signature and feature
 * flags only matter to OSes that cannot run CPUID; say "family 6" with FPU
 * and APIC, which is what a KVM vCPU is anyway.
 */
#define MP_LAPIC_VERSION 0x14
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES 0x201 /* CPUID.1:EDX FPU (bit 0) | APIC (bit 9) */

#define MP_ISA_BUS_ID 0
#define MP_ALL_LAPICS 0xff
#define MP_NR_ISA_IRQS 16
/* ISA IRQ 2 is the cascade on a PC and has no entry: IRQ 0 takes pin 2. */
#define MP_NR_IOINTR (MP_NR_ISA_IRQS - 1)
#define MP_NR_LINTR 2

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte paragraphs */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7 IMCR present; 0 = virtual wire mode */
	uint8_t feature3[3];
} __attribute__((packed));

struct mpc_table {
	char signature[4];
	uint16_t length; /* base table, header included */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count; /* entries in the base table */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature; /* CPU signature: stepping, model, family */
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

/* Local interrupt entries have the same shape, with LAPIC and LINTIN#. */
struct mpc_lintsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbusid;
	uint8_t srcbusirq;
	uint8_t destapic;
	uint8_t destapiclint;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config table header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_bus) == 8, "bus entry is 8 bytes");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "I/O APIC entry is 8 bytes");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "I/O interrupt entry is 8 bytes");
_Static_assert(sizeof(struct mpc_lintsrc) == 8, "local interrupt entry is 8 bytes");

/* Everything but the processor entries. */
#define MP_FIXED_SIZE                                                                              \
	(sizeof(struct mpf_intel) + sizeof(struct mpc_table) + sizeof(struct mpc_bus) +            \
	 sizeof(struct mpc_ioapic) + MP_NR_IOINTR * sizeof(struct mpc_intsrc) +                    \
	 MP_NR_LINTR * sizeof(struct mpc_lintsrc))
#define MP_MAX_CPUS ((MPTABLE_MAX_SIZE - MP_FIXED_SIZE) / sizeof(struct mpc_cpu))

_Static_assert(MP_FIXED_SIZE < MPTABLE_MAX_SIZE, "fixed MP entries fit in the EBDA");
/* APIC IDs 0..n-1 and the IOAPIC ID n must all fit in 8 bits. */
_Static_assert(MP_MAX_CPUS < 0xff, "APIC IDs fit in a byte");

/* The byte that makes the sum of all `len` bytes zero. */
static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

/*
 * Appends entries to the host-side image. mptable_write() checks the size
 * up front; the bound here only guards against that arithmetic and the
 * entry loops drifting apart.
 */
struct mp_builder {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	uint16_t count;
	bool overflow;
};

static void mp_put(struct mp_builder *b, const void *entry, size_t len)
{
	if (b->overflow || len > b->cap - b->pos) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->pos, entry, len);
	b->pos += len;
	b->count++;
}

static void put_cpus(struct mp_builder *b, unsigned int nr_cpus)
{
	unsigned int i;

	for (i = 0; i < nr_cpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = MP_LAPIC_VERSION,
			.cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.cpufeature = MP_CPU_SIGNATURE,
			.featureflag = MP_CPU_FEATURES,
		};
		mp_put(b, &cpu, sizeof(cpu));
	}
}

static void put_irqs(struct mp_builder *b, uint8_t ioapic_id)
{
	unsigned int irq;

	for (irq = 0; irq < MP_NR_ISA_IRQS; irq++) {
		struct mpc_intsrc src = {
			.type = MP_IOINTR,
			.irqtype = MP_INT,
			.irqflag = MP_IRQ_CONFORMING,
			.srcbus = MP_ISA_BUS_ID,
			.srcbusirq = (uint8_t)irq,
			.dstapic = ioapic_id,
			.dstirq = (uint8_t)irq,
		};

		/*
		 * As on PCs with an IOAPIC, the PIT's IRQ 0 is wired to pin 2
		 * (pin 0 belongs to the 8259 ExtINT), and IRQ 2, the 8259
		 * cascade, has no entry of its own so pin 2 is not claimed twice.
		 */
		if (irq == 2)
			continue;
		if (irq == 0)
			src.dstirq = 2;
		mp_put(b, &src, sizeof(src));
	}
}

static void put_lints(struct mp_builder *b)
{
	/* The virtual-wire setup every PC BIOS reports: LINT0 ExtINT, LINT1 NMI. */
	static const uint8_t types[MP_NR_LINTR] = {MP_EXTINT, MP_NMI};
	unsigned int lint;

	for (lint = 0; lint < MP_NR_LINTR; lint++) {
		struct mpc_lintsrc src = {
			.type = MP_LINTR,
			.irqtype = types[lint],
			.irqflag = MP_IRQ_CONFORMING,
			.srcbusid = MP_ISA_BUS_ID,
			.srcbusirq = 0,
			.destapic = MP_ALL_LAPICS,
			.destapiclint = (uint8_t)lint,
		};
		mp_put(b, &src, sizeof(src));
	}
}

int mptable_write(struct gmem *gm, uint64_t ebda, unsigned int nr_cpus, uint64_t ioapic_addr)
{
	uint8_t image[MPTABLE_MAX_SIZE];
	struct mp_builder b = {.buf = image, .cap = sizeof(image)};
	struct mpf_intel mpf = {0};
	struct mpc_table mpc = {0};
	struct mpc_bus bus = {0};
	struct mpc_ioapic ioapic = {0};
	size_t size;
	uint8_t ioapic_id;

	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > MP_MAX_CPUS)
		return -E2BIG;
	size = MP_FIXED_SIZE + (size_t)nr_cpus * sizeof(struct mpc_cpu);
	/*
	 * The spec needs the floating pointer on a 16-byte boundary, and every
	 * pointer in the tables is 32 bits wide.
	 */
	if (ebda % 16 || ebda > UINT32_MAX - size || ioapic_addr > UINT32_MAX)
		return -EINVAL;
	ioapic_id = (uint8_t)nr_cpus;

	memset(image, 0, sizeof(image));
	/* The header is filled in last, once the entries are counted. */
	b.pos = sizeof(mpf) + sizeof(mpc);

	put_cpus(&b, nr_cpus);

	bus.type = MP_BUS;
	bus.busid = MP_ISA_BUS_ID;
	memcpy(bus.bustype, "ISA   ", sizeof(bus.bustype));
	mp_put(&b, &bus, sizeof(bus));

	ioapic.type = MP_IOAPIC;
	ioapic.apicid = ioapic_id;
	ioapic.apicver = IOAPIC_VERSION;
	ioapic.flags = MP_IOAPIC_ENABLED;
	ioapic.apicaddr = (uint32_t)ioapic_addr;
	mp_put(&b, &ioapic, sizeof(ioapic));

	put_irqs(&b, ioapic_id);
	put_lints(&b);

	if (b.overflow || b.pos != size)
		return -EINVAL; /* MP_FIXED_SIZE disagrees with the entry loops */

	memcpy(mpc.signature, MPC_SIGNATURE, sizeof(mpc.signature));
	mpc.length = (uint16_t)(size - sizeof(mpf));
	mpc.spec = MP_SPEC_REV;
	/* Space padded, not NUL terminated. */
	memset(mpc.oem, ' ', sizeof(mpc.oem));
	memcpy(mpc.oem, MPC_OEM_ID, strlen(MPC_OEM_ID));
	memset(mpc.product, ' ', sizeof(mpc.product));
	memcpy(mpc.product, MPC_PRODUCT_ID, strlen(MPC_PRODUCT_ID));
	mpc.count = b.count;
	mpc.lapic = (uint32_t)LAYOUT_LAPIC;
	memcpy(image + sizeof(mpf), &mpc, sizeof(mpc));
	/* The base table checksum covers the header and every entry. */
	image[sizeof(mpf) + offsetof(struct mpc_table, checksum)] =
		mp_checksum(image + sizeof(mpf), mpc.length);

	memcpy(mpf.signature, MPF_SIGNATURE, sizeof(mpf.signature));
	mpf.physptr = (uint32_t)(ebda + sizeof(mpf));
	mpf.length = 1;
	mpf.specification = MP_SPEC_REV;
	memcpy(image, &mpf, sizeof(mpf));
	image[offsetof(struct mpf_intel, checksum)] = mp_checksum(image, sizeof(mpf));

	return gmem_write(gm, ebda, image, size);
}
