/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the ACPI table writer (src/arch/x86/acpi.c). The tables
 * are found the way Linux finds them (a scan of the BIOS area for the RSDP,
 * then the XSDT) and parsed with byte offsets taken from ACPI 6.5 chapter 5,
 * not with the writer's structs. When iasl (acpica-tools) is installed the
 * tables are also disassembled with it, and the DSDT is compared with what
 * iasl compiles from the equivalent ASL.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "devices/rtc_cmos.h"
#include "vmm/gmem.h"

#define AREA_SIZE (LAYOUT_ACPI_END - LAYOUT_ACPI_START)
#define SLEEP_CTL_PORT 0x3c0
#define SLEEP_STS_PORT 0x3c1

/* MADT entry types (table 5.21). */
enum { LAPIC = 0, IOAPIC = 1, ISO = 2, LAPIC_NMI = 4, NR_TYPES = 32 };

struct parsed {
	uint8_t area[AREA_SIZE]; /* a copy of [LAYOUT_ACPI_START, LAYOUT_ACPI_END) */
	uint64_t rsdp, xsdt, fadt, madt, dsdt;
	uint32_t xsdt_len, fadt_len, madt_len, dsdt_len;
	unsigned int madt_count[NR_TYPES];
};

static const struct acpi_config default_cfg = {
	.nr_cpus = 1,
	.ioapic_addr = LAYOUT_IOAPIC,
	.ioapic_id = 1,
	.ioapic_gsi_base = 0,
	.sleep_control_port = SLEEP_CTL_PORT,
	.sleep_status_port = SLEEP_STS_PORT,
};

/* Two virtio-mmio windows, one on a legacy pin and one above 15. */
static const struct acpi_virtio_mmio two_virtio[] = {
	{.base = 0xd0000000, .size = 0x1000, .gsi = 5},
	{.base = 0xd0001000, .size = 0x1000, .gsi = 16},
};

static int setup(void **state)
{
	struct gmem *gm = test_calloc(1, sizeof(*gm));

	if (!gm)
		return -1;
	if (gmem_layout(gm, MiB(64)) || gmem_map(gm)) {
		test_free(gm);
		return -1;
	}
	*state = gm;
	return 0;
}

static int teardown(void **state)
{
	struct gmem *gm = *state;

	gmem_unmap(gm);
	test_free(gm);
	return 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* Host pointer to `len` bytes at guest address `gpa` inside the copied area. */
static const uint8_t *at(const struct parsed *p, uint64_t gpa, uint64_t len)
{
	assert_true(gpa >= LAYOUT_ACPI_START);
	assert_true(len <= AREA_SIZE && gpa - LAYOUT_ACPI_START <= AREA_SIZE - len);
	return p->area + (gpa - LAYOUT_ACPI_START);
}

/* Check a table header (section 5.2.6) and checksum; returns the length. */
static uint32_t check_header(const struct parsed *p, uint64_t gpa, const char *sig, uint8_t rev)
{
	const uint8_t *h = at(p, gpa, 36);
	uint32_t len = get32(h + 4);

	assert_memory_equal(h, sig, 4);
	assert_true(len >= 36);
	h = at(p, gpa, len);
	assert_int_equal(h[8], rev);
	assert_int_equal(sum(h, len), 0);
	assert_memory_equal(h + 10, "LMIGTS", 6);
	assert_memory_equal(h + 16, "LMIGTEST", 8);
	assert_memory_equal(h + 28, "LMIG", 4);
	/* Tables are placed on 16-byte boundaries. */
	assert_int_equal(gpa % 16, 0);
	return len;
}

/* What Linux's acpi_find_root_pointer() does for the BIOS area. */
static uint64_t scan_rsdp(const struct parsed *p)
{
	uint64_t gpa;

	for (gpa = LAYOUT_ACPI_START; gpa < LAYOUT_ACPI_END; gpa += 16) {
		const uint8_t *r = at(p, gpa, 16);

		if (!memcmp(r, "RSD PTR ", 8) && sum(at(p, gpa, 20), 20) == 0)
			return gpa;
	}
	return 0;
}

static void parse_madt(struct parsed *p)
{
	const uint8_t *m = at(p, p->madt, p->madt_len);
	uint32_t off = 44;

	assert_int_equal(get32(m + 36), 0xfee00000);
	assert_int_equal(get32(m + 40), 0); /* no PCAT_COMPAT */
	while (off < p->madt_len) {
		uint8_t type = m[off], len;

		assert_true(p->madt_len - off >= 2);
		len = m[off + 1];
		assert_true(len >= 2 && len <= p->madt_len - off);
		assert_true(type < NR_TYPES);
		p->madt_count[type]++;
		off += len;
	}
	assert_int_equal(off, p->madt_len);
}

/* Write the tables for cfg into the BIOS area and parse them back. */
static void write_and_parse(struct gmem *gm, const struct acpi_config *cfg, struct parsed *p)
{
	uint64_t rsdp_addr = 0;
	const uint8_t *r, *x;
	unsigned int i;

	memset(p, 0, sizeof(*p));
	assert_int_equal(acpi_write_tables(gm, LAYOUT_ACPI_START, LAYOUT_ACPI_END, cfg, &rsdp_addr),
			 0);
	assert_int_equal(gmem_read(gm, LAYOUT_ACPI_START, p->area, sizeof(p->area)), 0);

	/* RSDP (section 5.2.5.3): found by the scan, and where we were told. */
	p->rsdp = scan_rsdp(p);
	assert_int_equal(p->rsdp, rsdp_addr);
	assert_int_equal(p->rsdp, LAYOUT_ACPI_START);
	r = at(p, p->rsdp, 36);
	assert_memory_equal(r + 9, "LMIGTS", 6);
	assert_int_equal(r[15], 2);		  /* revision: ACPI 2.0+ */
	assert_int_equal(get32(r + 16), 0);	  /* no RSDT */
	assert_int_equal(get32(r + 20), 36);	  /* length */
	assert_int_equal(sum(r, 20), 0);	  /* checksum, ACPI 1.0 part */
	assert_int_equal(sum(r, 36), 0);	  /* extended checksum */
	assert_memory_equal(r + 33, "\0\0\0", 3); /* reserved */
	p->xsdt = get64(r + 24);

	/* XSDT (section 5.2.8): FADT and MADT. */
	p->xsdt_len = check_header(p, p->xsdt, "XSDT", 1);
	assert_int_equal(p->xsdt_len, 36 + 2 * 8);
	x = at(p, p->xsdt, p->xsdt_len);
	for (i = 0; i < 2; i++) {
		uint64_t t = get64(x + 36 + 8 * i);
		const uint8_t *sig = at(p, t, 4);

		if (!memcmp(sig, "FACP", 4))
			p->fadt = t;
		else if (!memcmp(sig, "APIC", 4))
			p->madt = t;
		else
			fail_msg("XSDT entry %u points at %.4s", i, (const char *)sig);
	}
	assert_true(p->fadt && p->madt);

	/* FADT (section 5.2.9) to the DSDT. */
	p->fadt_len = check_header(p, p->fadt, "FACP", 6);
	assert_int_equal(p->fadt_len, 276);
	p->dsdt = get64(at(p, p->fadt + 140, 8));		  /* X_DSDT */
	assert_int_equal(get32(at(p, p->fadt + 40, 4)), p->dsdt); /* DSDT, the same */
	p->dsdt_len = check_header(p, p->dsdt, "DSDT", 2);

	p->madt_len = check_header(p, p->madt, "APIC", 5);
	parse_madt(p);

	/* Inside the area, after the RSDP, and not overlapping each other. */
	{
		uint64_t start[4] = {p->xsdt, p->fadt, p->madt, p->dsdt};
		uint64_t len[4] = {p->xsdt_len, p->fadt_len, p->madt_len, p->dsdt_len};
		unsigned int a, b;

		for (a = 0; a < 4; a++) {
			assert_true(start[a] >= p->rsdp + 36);
			assert_true(start[a] + len[a] <= LAYOUT_ACPI_END);
			for (b = 0; b < 4; b++)
				if (a != b)
					assert_true(start[a] + len[a] <= start[b] ||
						    start[b] + len[b] <= start[a]);
		}
	}
}

static void check_gas(const uint8_t *g, uint16_t port)
{
	if (!port) {
		assert_memory_equal(g, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
		return;
	}
	assert_int_equal(g[0], 1);	      /* system I/O */
	assert_int_equal(g[1], 8);	      /* bit width */
	assert_int_equal(g[2], 0);	      /* bit offset */
	assert_int_equal(g[3], 1);	      /* byte access */
	assert_int_equal(get64(g + 4), port); /* address */
}

static void check_fadt(const struct parsed *p, const struct acpi_config *cfg)
{
	const uint8_t *f = at(p, p->fadt, 276);
	uint32_t flags = get32(f + 112);
	unsigned int off;

	assert_int_equal(get32(f + 36), 0); /* FIRMWARE_CTRL: no FACS */
	assert_int_equal(f[45] <= 1, 1);    /* preferred PM profile */
	assert_int_equal(get16(f + 46), 0); /* SCI_INT */
	assert_int_equal(get32(f + 48), 0); /* SMI_CMD */
	/* PM1a/b event and control, PM2, PM timer, GPE0/1 blocks and lengths. */
	for (off = 56; off < 96; off++)
		assert_int_equal(f[off], 0);
	/* CENTURY: the RTC's century byte is at CMOS index 0x32. */
	assert_int_equal(f[108], 0x32);
	/*
	 * IAPC_BOOT_ARCH: VGA not present (bit 2); CMOS RTC present (bit 5
	 * clear); no 8042, no legacy devices.
	 */
	assert_int_equal(get16(f + 109), 1 << 2);
	assert_true(flags & (1U << 20));     /* HW_REDUCED_ACPI */
	assert_false(flags & (1U << 10));    /* no RESET_REG_SUP */
	assert_false(flags & (1U << 8));     /* no TMR_VAL_EXT: no PM timer */
	assert_true(flags & (1U << 4));	     /* power button: none fixed */
	assert_true(flags & (1U << 5));	     /* sleep button: none fixed */
	assert_int_equal(f[131] & 0xf, 5);   /* minor version */
	assert_int_equal(get64(f + 132), 0); /* X_FIRMWARE_CTRL */
	assert_int_equal(get64(f + 140), p->dsdt);
	/* X_PM1a_EVT_BLK to X_GPE1_BLK: eight empty GAS. */
	for (off = 148; off < 244; off++)
		assert_int_equal(f[off], 0);
	check_gas(f + 244, cfg->sleep_control_port);
	check_gas(f + 256, cfg->sleep_status_port);
	assert_memory_equal(f + 268, "LMIGTEST", 8);
}

static void check_madt(const struct parsed *p, const struct acpi_config *cfg)
{
	const uint8_t *m = at(p, p->madt, p->madt_len);
	unsigned int cpus = 0, seen_nmi = 0, seen_iso = 0, seen_ioapic = 0;
	uint32_t off = 44;

	assert_int_equal(p->madt_count[LAPIC], cfg->nr_cpus);
	assert_int_equal(p->madt_count[IOAPIC], 1);
	assert_int_equal(p->madt_count[ISO], 1);
	assert_int_equal(p->madt_count[LAPIC_NMI], 1);
	assert_int_equal(p->madt_len, 44 + 8 * cfg->nr_cpus + 12 + 10 + 6);

	for (; off < p->madt_len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		switch (e[0]) {
		case LAPIC:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], cpus);	   /* processor UID */
			assert_int_equal(e[3], cpus);	   /* APIC ID */
			assert_int_equal(get32(e + 4), 1); /* enabled */
			/* All processors come first, the BSP (ID 0) leading. */
			assert_false(seen_ioapic || seen_iso || seen_nmi);
			cpus++;
			break;
		case IOAPIC:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], cfg->ioapic_id);
			assert_int_equal(e[3], 0);
			assert_int_equal(get32(e + 4), cfg->ioapic_addr);
			assert_int_equal(get32(e + 8), cfg->ioapic_gsi_base);
			seen_ioapic++;
			break;
		case ISO:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0); /* ISA */
			assert_int_equal(e[3], 0); /* IRQ 0 */
			assert_int_equal(get32(e + 4), cfg->ioapic_gsi_base + 2);
			assert_int_equal(get16(e + 8), 0); /* conforms to the bus */
			seen_iso++;
			break;
		case LAPIC_NMI:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff); /* all processors */
			assert_int_equal(get16(e + 3), 0);
			assert_int_equal(e[5], 1); /* LINT1 */
			seen_nmi++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(cpus, cfg->nr_cpus);
}

/*
 * The DSDT body as iasl -on (no name optimization) compiles
 *	Name (_S5, Package () { 5, 5, 0, 0 })
 *	Scope (\_SB) {
 *		Device (COM1) {
 *			Name (_HID, EisaId ("PNP0501"))
 *			Name (_UID, 0)
 *			Name (_CRS, ResourceTemplate () {
 *				IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
 *				IRQNoFlags () {4}
 *			})
 *		}
 *		Device (RTC) {
 *			Name (_HID, EisaId ("PNP0B00"))
 *			Name (_UID, 0)
 *			Name (_CRS, ResourceTemplate () {
 *				IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)
 *				IRQNoFlags () {8}
 *			})
 *		}
 *	}
 * The scope is now over 63 bytes long: a two-byte PkgLength (0x41 0x06).
 */
static const uint8_t expected_dsdt_body[] = {
	0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
	0x10, 0x41, 0x06, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x2b, 0x43, 0x4f, 0x4d,
	0x31, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x08, 0x5f, 0x55,
	0x49, 0x44, 0x00, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01,
	0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00, 0x5b, 0x82, 0x2b,
	0x52, 0x54, 0x43, 0x5f, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0, 0x0b, 0x00,
	0x08, 0x5f, 0x55, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43, 0x52, 0x53, 0x11, 0x10, 0x0a,
	0x0d, 0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x22, 0x00, 0x01, 0x79, 0x00,
};

/* Offsets in expected_dsdt_body of the RTC's IO and IRQ descriptors. */
#define DSDT_RTC_IO 99
#define DSDT_RTC_IRQ 107

static void test_one_cpu(void **state)
{
	struct parsed *p = test_malloc(sizeof(*p));

	write_and_parse(*state, &default_cfg, p);
	check_fadt(p, &default_cfg);
	check_madt(p, &default_cfg);
	print_message("1 CPU: RSDP %#llx (36) XSDT %#llx (%u) FADT %#llx (%u) MADT %#llx (%u) "
		      "DSDT %#llx (%u)\n",
		      (unsigned long long)p->rsdp, (unsigned long long)p->xsdt, p->xsdt_len,
		      (unsigned long long)p->fadt, p->fadt_len, (unsigned long long)p->madt,
		      p->madt_len, (unsigned long long)p->dsdt, p->dsdt_len);
	test_free(p);
}

static void test_cpu_counts(void **state)
{
	static const unsigned int counts[] = {1, 2, 4, 64, 254, 255};
	struct parsed *p = test_malloc(sizeof(*p));
	unsigned int i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct acpi_config cfg = default_cfg;

		cfg.nr_cpus = counts[i];
		cfg.ioapic_id = (uint8_t)counts[i];
		write_and_parse(*state, &cfg, p);
		check_madt(p, &cfg);
		check_fadt(p, &cfg);
	}
	test_free(p);
}

static void test_dsdt(void **state)
{
	struct parsed *p = test_malloc(sizeof(*p));
	const uint8_t *d;

	write_and_parse(*state, &default_cfg, p);
	assert_int_equal(p->dsdt_len, 36 + sizeof(expected_dsdt_body));
	d = at(p, p->dsdt, p->dsdt_len);
	assert_memory_equal(d + 36, expected_dsdt_body, sizeof(expected_dsdt_body));
	/* \_S5_ carries ACPI_SLP_TYP_S5, which the VMM decodes from the write. */
	assert_int_equal(d[36 + 9], ACPI_SLP_TYP_S5);
	assert_int_equal((ACPI_SLP_TYP_S5 << ACPI_SLEEP_CTL_SLP_TYP_SHIFT) &
				 ~ACPI_SLEEP_CTL_SLP_TYP_MASK,
			 0);
	/* The RTC's _CRS is where the device model is. */
	assert_int_equal(d[36 + DSDT_RTC_IO], 0x47); /* IO descriptor */
	assert_int_equal(get16(d + 36 + DSDT_RTC_IO + 2), RTC_CMOS_PORT_BASE);
	assert_int_equal(get16(d + 36 + DSDT_RTC_IO + 4), RTC_CMOS_PORT_BASE);
	assert_int_equal(d[36 + DSDT_RTC_IO + 7], RTC_CMOS_NR_PORTS);
	assert_int_equal(d[36 + DSDT_RTC_IRQ], 0x22); /* IRQ descriptor, no flags */
	assert_int_equal(get16(d + 36 + DSDT_RTC_IRQ + 1), 1U << RTC_CMOS_IRQ);
	/* And the FADT's CENTURY is its century byte. */
	assert_int_equal(at(p, p->fadt, 276)[108], RTC_CMOS_CENTURY);
	test_free(p);
}

static void test_other_config(void **state)
{
	struct parsed *p = test_malloc(sizeof(*p));
	struct acpi_config cfg = default_cfg;

	/* Another IOAPIC placement, GSI base, no sleep registers. */
	cfg.nr_cpus = 3;
	cfg.ioapic_addr = 0xfec01000;
	cfg.ioapic_id = 9;
	cfg.ioapic_gsi_base = 24;
	cfg.sleep_control_port = 0;
	cfg.sleep_status_port = 0;
	write_and_parse(*state, &cfg, p);
	check_fadt(p, &cfg);
	check_madt(p, &cfg);

	cfg.sleep_control_port = 0xffff;
	cfg.sleep_status_port = 0x1;
	write_and_parse(*state, &cfg, p);
	check_fadt(p, &cfg);
	test_free(p);
}

static void test_deterministic(void **state)
{
	struct parsed *p = test_malloc(sizeof(*p));
	uint8_t *first = test_malloc(AREA_SIZE);
	struct acpi_config cfg = default_cfg;

	/* A smaller set after a bigger one, then the same again: same bytes. */
	cfg.nr_cpus = 200;
	write_and_parse(*state, &cfg, p);
	cfg.nr_cpus = 2;
	write_and_parse(*state, &cfg, p);
	memcpy(first, p->area, AREA_SIZE);
	write_and_parse(*state, &cfg, p);
	assert_memory_equal(first, p->area, AREA_SIZE);
	test_free(first);
	test_free(p);
}

/* Fill the area with a pattern, and check that it is still there. */
static void poison(struct gmem *gm, uint8_t *buf)
{
	memset(buf, 0x5a, AREA_SIZE);
	assert_int_equal(gmem_write(gm, LAYOUT_ACPI_START, buf, AREA_SIZE), 0);
}

static void check_untouched(struct gmem *gm, const uint8_t *before)
{
	uint8_t *now = test_malloc(AREA_SIZE);

	assert_int_equal(gmem_read(gm, LAYOUT_ACPI_START, now, AREA_SIZE), 0);
	assert_memory_equal(before, now, AREA_SIZE);
	test_free(now);
}

static void test_too_small(void **state)
{
	struct gmem *gm = *state;
	struct parsed *p = test_malloc(sizeof(*p));
	uint8_t *before = test_malloc(AREA_SIZE);
	const uint64_t base = LAYOUT_ACPI_START;
	struct acpi_config cfg = default_cfg;
	uint64_t rsdp = 0x1234, end;

	cfg.nr_cpus = 255;
	write_and_parse(gm, &cfg, p);
	/* The DSDT is placed last: the tables end where it ends. */
	end = p->dsdt + p->dsdt_len;
	assert_true(end > p->madt + p->madt_len && end > p->fadt + p->fadt_len);

	poison(gm, before);
	assert_int_equal(acpi_write_tables(gm, base, end - 1, &cfg, &rsdp), -E2BIG);
	assert_int_equal(acpi_write_tables(gm, base, base + 36, &cfg, &rsdp), -E2BIG);
	assert_int_equal(acpi_write_tables(gm, base, base, &cfg, &rsdp), -E2BIG);
	assert_int_equal(rsdp, 0x1234);
	check_untouched(gm, before);

	/* Exactly enough room. */
	assert_int_equal(acpi_write_tables(gm, base, end, &cfg, &rsdp), 0);
	assert_int_equal(rsdp, base);
	/* The writer stopped at `end`. */
	assert_int_equal(gmem_read(gm, end, p->area, 16), 0);
	assert_memory_equal(p->area, before, 16);

	/* Near the top of the address space: no wraparound. */
	assert_int_equal(acpi_write_tables(gm, UINT64_MAX - 15, UINT64_MAX, &cfg, &rsdp), -E2BIG);
	test_free(before);
	test_free(p);
}

static void test_bad_config(void **state)
{
	struct gmem *gm = *state;
	uint8_t *before = test_malloc(AREA_SIZE);
	const uint64_t base = LAYOUT_ACPI_START, limit = LAYOUT_ACPI_END;
	struct acpi_config cfg = default_cfg;
	uint64_t rsdp = 0x1234;

	poison(gm, before);
	cfg.nr_cpus = 0;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);
	cfg.nr_cpus = 256;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);
	cfg.nr_cpus = UINT_MAX;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);

	/* The MADT's IOAPIC address is 32 bits. */
	cfg = default_cfg;
	cfg.ioapic_addr = 1ULL << 32;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);
	/* GSI base + 2 must not wrap. */
	cfg = default_cfg;
	cfg.ioapic_gsi_base = UINT32_MAX - 1;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);

	/* virtio windows: at most ACPI_MAX_VIRTIO_MMIO, and a list to go with the count. */
	cfg = default_cfg;
	cfg.nr_virtio = 1;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);
	cfg.virtio = two_virtio;
	cfg.nr_virtio = ACPI_MAX_VIRTIO_MMIO + 1;
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, &rsdp), -EINVAL);

	/* The RSDP goes on a 16-byte boundary; the range must not be reversed. */
	cfg = default_cfg;
	assert_int_equal(acpi_write_tables(gm, base + 8, limit, &cfg, &rsdp), -EINVAL);
	assert_int_equal(acpi_write_tables(gm, limit, base, &cfg, &rsdp), -EINVAL);
	assert_int_equal(acpi_write_tables(NULL, base, limit, &cfg, &rsdp), -EINVAL);
	assert_int_equal(acpi_write_tables(gm, base, limit, NULL, &rsdp), -EINVAL);
	assert_int_equal(acpi_write_tables(gm, base, limit, &cfg, NULL), -EINVAL);

	assert_int_equal(rsdp, 0x1234);
	check_untouched(gm, before);
	test_free(before);
}

static void test_not_ram(void **state)
{
	struct gmem *gm = *state;
	struct gmem small;
	uint64_t rsdp = 0;

	/* The MMIO hole of a 64 MiB guest, and straddling the end of RAM. */
	assert_int_equal(acpi_write_tables(gm, MiB(64), MiB(65), &default_cfg, &rsdp), -EFAULT);
	assert_int_equal(acpi_write_tables(gm, MiB(64) - 256, MiB(65), &default_cfg, &rsdp),
			 -EFAULT);
	/* RAM that ends below the BIOS area. */
	assert_int_equal(gmem_layout(&small, LAYOUT_LEGACY_HOLE), 0);
	assert_int_equal(gmem_map(&small), 0);
	assert_int_equal(
		acpi_write_tables(&small, LAYOUT_ACPI_START, LAYOUT_ACPI_END, &default_cfg, &rsdp),
		-EFAULT);
	gmem_unmap(&small);
	assert_int_equal(rsdp, 0);
}

static void test_above_4g(void **state)
{
	struct gmem gm;
	const uint64_t base = GiB(4) + MiB(1);
	uint8_t *buf = test_malloc(4096);
	uint64_t rsdp = 0, xsdt, fadt, dsdt;

	(void)state;
	/* Tables above 4 GiB: 64-bit pointers only, FADT.DSDT left 0. */
	assert_int_equal(gmem_layout(&gm, GiB(5)), 0);
	assert_int_equal(gmem_map(&gm), 0);
	assert_int_equal(acpi_write_tables(&gm, base, base + 4096, &default_cfg, &rsdp), 0);
	assert_int_equal(rsdp, base);
	assert_int_equal(gmem_read(&gm, base, buf, 4096), 0);
	assert_int_equal(sum(buf, 36), 0);
	xsdt = get64(buf + 24);
	assert_true(xsdt > base && xsdt < base + 4096);
	fadt = get64(buf + (xsdt - base) + 36);
	assert_memory_equal(buf + (fadt - base), "FACP", 4);
	assert_int_equal(sum(buf + (fadt - base), 276), 0);
	assert_int_equal(get32(buf + (fadt - base) + 40), 0);
	dsdt = get64(buf + (fadt - base) + 140);
	assert_true(dsdt > base && dsdt < base + 4096);
	assert_memory_equal(buf + (dsdt - base), "DSDT", 4);
	gmem_unmap(&gm);
	test_free(buf);
}

/* ---- iasl (acpica-tools) ---- */

static bool have_iasl(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Read a whole (small) file into a NUL-terminated test_malloc'd buffer. */
static char *read_file(const char *dir, const char *name, size_t *len_out)
{
	char path[PATH_MAX];
	char *buf;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	buf = test_malloc(1 << 20);
	len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* Run a shell command in dir; its output goes to dir/log. Returns the exit status. */
static int run_in(const char *dir, const char *cmd)
{
	char line[PATH_MAX + 256];
	int r;

	snprintf(line, sizeof(line), "cd '%s' && %s >log 2>&1", dir, cmd);
	r = system(line);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void expect_in(const char *text, const char *what, const char *file)
{
	if (!strstr(text, what))
		fail_msg("%s does not contain \"%s\"", file, what);
}

static void expect_not_in(const char *text, const char *what, const char *file)
{
	if (strstr(text, what))
		fail_msg("%s contains \"%s\"", file, what);
}

/* iasl -d one table; check it ran cleanly and return the disassembly. */
static char *disassemble(const char *dir, const char *name, const void *data, size_t len)
{
	char file[64], cmd[128];
	char *log, *dsl;

	snprintf(file, sizeof(file), "%s.dat", name);
	write_file(dir, file, data, len);
	snprintf(cmd, sizeof(cmd), "iasl -d %s", file);
	if (run_in(dir, cmd) != 0) {
		log = read_file(dir, "log", NULL);
		fail_msg("iasl -d %s failed:\n%s", file, log);
	}
	log = read_file(dir, "log", NULL);
	/* Bad checksums, lengths or fields show up as warnings or errors. */
	expect_not_in(log, "Warning", file);
	expect_not_in(log, "Error", file);
	expect_not_in(log, "Invalid", file);
	test_free(log);

	snprintf(file, sizeof(file), "%s.dsl", name);
	dsl = read_file(dir, file, NULL);
	expect_not_in(dsl, "Invalid", file);
	expect_not_in(dsl, "Incorrect", file);
	expect_not_in(dsl, "**** ", file); /* iasl's marker for unknown or bad fields */
	return dsl;
}

/*
 * Two tables are the same but for the creator ID and revision, which iasl
 * makes its own ("INTL"), and so the checksum.
 */
static void same_but_creator(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;

	assert_true(len >= 36);
	assert_memory_equal(x, y, 9);
	assert_memory_equal(x + 10, y + 10, 28 - 10);
	assert_memory_equal(x + 36, y + 36, len - 36);
}

/* Compile the disassembly back; the result must be byte-identical. */
static void recompile(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char cmd[160], out[64];
	char *aml;
	size_t aml_len;

	/* -on: keep \_SB as written, as our builder does. */
	snprintf(cmd, sizeof(cmd), "iasl -on -p %s-re %s.dsl", name, name);
	if (run_in(dir, cmd) != 0) {
		char *log = read_file(dir, "log", NULL);

		fail_msg("iasl %s.dsl failed:\n%s", name, log);
	}
	snprintf(out, sizeof(out), "%s-re.aml", name);
	aml = read_file(dir, out, &aml_len);
	assert_int_equal(aml_len, len);
	same_but_creator(aml, data, len);
	test_free(aml);
}

/*
 * The ASL of the DSDT we mean (test_malloc'd): \_S5_, COM1 and the RTC,
 * then `devices` inside \_SB. iasl -on compiles it to what we must write.
 */
static char *reference_dsdt_asl(const char *devices)
{
	size_t n = 2048 + strlen(devices);
	char *asl = test_malloc(n);

	snprintf(asl, n,
		 "DefinitionBlock (\"\", \"DSDT\", 2, \"LMIGTS\", \"LMIGTEST\", 1)\n"
		 "{\n"
		 "    Name (_S5, Package () { %d, %d, 0, 0 })\n"
		 "    Scope (\\_SB) {\n"
		 "        Device (COM1) {\n"
		 "            Name (_HID, EisaId (\"PNP0501\"))\n"
		 "            Name (_UID, 0)\n"
		 "            Name (_CRS, ResourceTemplate () {\n"
		 "                IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)\n"
		 "                IRQNoFlags () {4}\n"
		 "            })\n"
		 "        }\n"
		 "        Device (RTC) {\n"
		 "            Name (_HID, EisaId (\"PNP0B00\"))\n"
		 "            Name (_UID, 0)\n"
		 "            Name (_CRS, ResourceTemplate () {\n"
		 "                IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)\n"
		 "                IRQNoFlags () {8}\n"
		 "            })\n"
		 "        }\n"
		 "%s"
		 "    }\n"
		 "}\n",
		 ACPI_SLP_TYP_S5, ACPI_SLP_TYP_S5, devices);
	return asl;
}

static void test_iasl(void **state)
{
	struct parsed *p;
	char dir[] = "/tmp/lmig-acpi-XXXXXX";
	char *dsl, *aml, cmd[PATH_MAX + 32];
	size_t aml_len;
	const uint8_t *dsdt;

	if (!have_iasl()) {
		print_message("iasl not installed (acpica-tools): skipping\n");
		skip();
	}
	p = test_malloc(sizeof(*p));
	write_and_parse(*state, &default_cfg, p);
	assert_non_null(mkdtemp(dir));

	dsl = disassemble(dir, "dsdt", at(p, p->dsdt, p->dsdt_len), p->dsdt_len);
	expect_in(dsl, "_S5_", "dsdt.dsl");
	expect_in(dsl, "PNP0501", "dsdt.dsl");
	expect_in(dsl, "\\_SB", "dsdt.dsl");
	expect_in(dsl, "Device (COM1)", "dsdt.dsl");
	expect_in(dsl, "IRQNoFlags ()", "dsdt.dsl");
	expect_in(dsl, "0x03F8,", "dsdt.dsl");
	expect_in(dsl, "Device (RTC)", "dsdt.dsl");
	expect_in(dsl, "EisaId (\"PNP0B00\")", "dsdt.dsl");
	expect_in(dsl,
		  "IO (Decode16,\n"
		  "                    0x0070,             // Range Minimum\n"
		  "                    0x0070,             // Range Maximum\n"
		  "                    0x01,               // Alignment\n"
		  "                    0x02,               // Length\n",
		  "dsdt.dsl");
	expect_in(dsl, "{8}", "dsdt.dsl");
	test_free(dsl);
	recompile(dir, "dsdt", at(p, p->dsdt, p->dsdt_len), p->dsdt_len);

	dsl = disassemble(dir, "facp", at(p, p->fadt, p->fadt_len), p->fadt_len);
	expect_in(dsl, "Hardware Reduced (V5) : 1", "facp.dsl");
	expect_in(dsl, "CMOS RTC Not Present (V5) : 0", "facp.dsl");
	expect_in(dsl, "VGA Not Present (V4) : 1", "facp.dsl");
	expect_in(dsl, "Century Index : 32", "facp.dsl");
	expect_in(dsl, "DSDT Address : 00000000000E01E0", "facp.dsl");
	expect_in(dsl, "Address : 00000000000003C0", "facp.dsl");
	expect_in(dsl, "Address : 00000000000003C1", "facp.dsl");
	expect_in(dsl, "[Byte Access:8]", "facp.dsl");
	/* "LMIGTEST", printed as a little-endian 64-bit number. */
	expect_in(dsl, "Hypervisor ID : 5453455447494D4C", "facp.dsl");
	test_free(dsl);

	dsl = disassemble(dir, "apic", at(p, p->madt, p->madt_len), p->madt_len);
	expect_in(dsl, "Local Apic Address : FEE00000", "apic.dsl");
	expect_in(dsl, "Address : FEC00000", "apic.dsl");
	expect_in(dsl, "Interrupt : 00000002", "apic.dsl");
	test_free(dsl);
	recompile(dir, "apic", at(p, p->madt, p->madt_len), p->madt_len);

	/* (This iasl cannot disassemble an RSDP on its own; it is checked above.) */
	dsl = disassemble(dir, "xsdt", at(p, p->xsdt, p->xsdt_len), p->xsdt_len);
	expect_in(dsl, "ACPI Table Address   0 : 00000000000E0070", "xsdt.dsl");
	expect_in(dsl, "ACPI Table Address   1 : 00000000000E0190", "xsdt.dsl");
	test_free(dsl);

	/*
	 * The DSDT is what iasl itself compiles from the ASL we mean; -on
	 * keeps "\_SB" rooted instead of shortening it to "_SB_".
	 */
	dsl = reference_dsdt_asl("");
	write_file(dir, "ref.asl", dsl, strlen(dsl));
	test_free(dsl);
	assert_int_equal(run_in(dir, "iasl -on -p ref ref.asl"), 0);
	aml = read_file(dir, "ref.aml", &aml_len);
	dsdt = at(p, p->dsdt, p->dsdt_len);
	assert_int_equal(aml_len, p->dsdt_len);
	same_but_creator(aml, dsdt, aml_len);
	test_free(aml);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	test_free(p);
}

/*
 * virtio-mmio windows in the DSDT: two LNRO0005 devices after COM1 and the
 * RTC, byte for byte what iasl compiles from the ASL, and (without iasl)
 * their _HID and resources where the device model puts them.
 */

static void test_virtio_devices(void **state)
{
	struct acpi_config cfg = default_cfg;
	struct parsed *p = test_malloc(sizeof(*p));
	const uint8_t *d, *hid, *mem, *irq;
	char dir[] = "/tmp/lmig-acpi-XXXXXX";
	char *asl, *dsl, *aml, cmd[PATH_MAX + 32];
	size_t aml_len, dlen;

	cfg.virtio = two_virtio;
	cfg.nr_virtio = 2;
	write_and_parse(*state, &cfg, p);
	d = at(p, p->dsdt, p->dsdt_len);
	dlen = p->dsdt_len;
	/* The static part is unchanged, the devices follow it. */
	assert_memory_equal(d + 36, expected_dsdt_body, 14);
	hid = memmem(d, dlen, "LNRO0005", 9);
	assert_non_null(hid);
	assert_int_equal(hid[-1], 0x0d); /* a string, as Linux's virtio_mmio matches */
	mem = memmem(hid, dlen - (size_t)(hid - d), "\x86\x09\x00\x01", 4);
	assert_non_null(mem);
	assert_int_equal(get32(mem + 4), 0xd0000000);
	assert_int_equal(get32(mem + 8), 0x1000);
	irq = mem + 12;
	assert_int_equal(irq[0], 0x89); /* extended interrupt descriptor */
	assert_int_equal(irq[3], 0x03); /* consumer, edge, active high, exclusive */
	assert_int_equal(irq[4], 1);
	assert_int_equal(get32(irq + 5), 5);
	hid = memmem(irq, dlen - (size_t)(irq - d), "LNRO0005", 9);
	assert_non_null(hid);

	if (!have_iasl()) {
		print_message("iasl not installed (acpica-tools): skipping its half\n");
		test_free(p);
		return;
	}
	assert_non_null(mkdtemp(dir));
	dsl = disassemble(dir, "dsdt", d, dlen);
	expect_in(dsl, "Device (VR00)", "dsdt.dsl");
	expect_in(dsl, "Device (VR01)", "dsdt.dsl");
	expect_in(dsl, "Name (_HID, \"LNRO0005\")", "dsdt.dsl");
	expect_in(dsl, "Memory32Fixed (ReadWrite,", "dsdt.dsl");
	expect_in(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )", "dsdt.dsl");
	test_free(dsl);

	asl = reference_dsdt_asl(
		"        Device (VR00) {\n"
		"            Name (_HID, \"LNRO0005\")\n"
		"            Name (_UID, 0)\n"
		"            Name (_CRS, ResourceTemplate () {\n"
		"                Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)\n"
		"                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5}\n"
		"            })\n"
		"        }\n"
		"        Device (VR01) {\n"
		"            Name (_HID, \"LNRO0005\")\n"
		"            Name (_UID, 1)\n"
		"            Name (_CRS, ResourceTemplate () {\n"
		"                Memory32Fixed (ReadWrite, 0xD0001000, 0x1000)\n"
		"                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {16}\n"
		"            })\n"
		"        }\n");
	write_file(dir, "ref.asl", asl, strlen(asl));
	test_free(asl);
	assert_int_equal(run_in(dir, "iasl -on -p ref ref.asl"), 0);
	aml = read_file(dir, "ref.aml", &aml_len);
	assert_int_equal(aml_len, dlen);
	same_but_creator(aml, d, aml_len);
	test_free(aml);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	test_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_ram, setup, teardown),
		cmocka_unit_test(test_above_4g),
		cmocka_unit_test_setup_teardown(test_virtio_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iasl, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
