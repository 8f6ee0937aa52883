/* SPDX-License-Identifier: MIT */
/*
 * ACPI, at CPL3: the checks of the tables the VMM wrote (RSDP, XSDT, FADT,
 * DSDT, MADT) and the S5 power-off an OS performs with them. Written from
 * the ACPI 6.5 specification (section numbers are its) and from what
 * Linux's ACPICA does to find the tables.
 *
 * Everything below 4 GiB is identity-mapped with the U bit (head.S), the
 * BIOS area and the IOAPIC (uncached) included, so the tables and the
 * IOAPIC's registers are read directly. Every address a table hands over
 * is checked against what the guest maps before it is read.
 *
 * Booted through the real-mode stub (protocol 16: QEMU and its firmware),
 * the tables are the firmware's, not lmigtester's: a check whose
 * expectation is lmigtester's layout then reports a mismatch as a SKIP
 * with the reason, and the generic ones (checksums, the walk) still run.
 */
#include "tg.h"

#define EBDA_PTR 0x40e /* real-mode segment of the EBDA (BIOS data area) */
#define BIOS_AREA 0xe0000UL
#define BIOS_AREA_END 0x100000UL
#define RSDP_V1_LEN 20
#define RSDP_V2_LEN 36
#define SDT_HDR_LEN 36
#define SDT_MAX_LEN (1UL << 20) /* sanity bound on a table's length */

/* FADT field offsets (section 5.2.9, table 5.9). */
#define FADT_DSDT 40
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1_CNT_LEN 89
#define FADT_FLAGS 112
#define FADT_X_DSDT 140
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_SLEEP_CONTROL 244
#define FADT_SLEEP_STATUS 256
#define FADT_F_HW_REDUCED_ACPI (1U << 20)

/* Generic Address Structure (section 5.2.3.2). */
#define GAS_LEN 12
#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO 1

/* Sleep control register (section 4.8.3.7) and PM1 control (4.8.3.2.1). */
#define SLEEP_CTL_SLP_TYP_SHIFT 2
#define SLEEP_CTL_SLP_TYP_MASK 0x1c
#define SLEEP_CTL_SLP_EN 0x20
#define SLEEP_STS_WAK_STS 0x80
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK 0x1c00
#define PM1_CNT_SLP_EN 0x2000

/* MADT (section 5.2.12). */
#define MADT_ENTRIES 44
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_INT_SRC_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_X2APIC 9
#define MADT_LAPIC_ENABLED 1

/* AML opcodes (section 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_PACKAGE_OP 0x12
#define AML_ROOT_CHAR 0x5c
#define AML_ONES_OP 0xff

/* What lmigtester's tables hold (src/arch/x86/acpi.c, vm.c). */
#define LAPIC_ADDR 0xfee00000U
#define LAPIC_ID 0x20
#define IOAPIC_ADDR 0xfec00000UL
#define IOAPIC_IOWIN 0x10
#define SLP_TYP_S5 5

struct gas {
	u8 space, bit_width, bit_offset, access_size;
	u64 addr;
};

/* Tables found by the checks, for the checks that follow. */
static u64 rsdp, root, fadt, madt, dsdt;
static const char *lenient; /* non-NULL: a mismatch is a SKIP, with this as the why */

static bool mapped(u64 a, u64 len)
{
	return a && a + len >= a && a + len <= tg_mapped_limit;
}

static u8 sum8(u64 a, u64 len)
{
	const u8 *p = (const u8 *)a;
	u8 s = 0;

	while (len--)
		s += *p++;
	return s;
}

static bool sig_is(u64 a, const char *sig, size_t n)
{
	return !memcmp((const void *)a, sig, n);
}

/* A printable copy of a 4-byte signature. */
static const char *sig_str(u64 a, char out[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)rd8(a + i);

		out[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	out[4] = 0;
	return out;
}

/* ACPICA's acpi_tb_validate_rsdp(): signature, checksum, extended checksum. */
static bool rsdp_valid(u64 a)
{
	if (!mapped(a, RSDP_V2_LEN) || !sig_is(a, "RSD PTR ", 8) || sum8(a, RSDP_V1_LEN))
		return false;
	return rd8(a + 15) < 2 || !sum8(a, RSDP_V2_LEN);
}

static u64 scan_rsdp(u64 start, u64 end)
{
	for (u64 a = start; a + RSDP_V2_LEN <= end; a += 16)
		if (rsdp_valid(a))
			return a;
	return 0;
}

/*
 * Where Linux looks when boot_params.acpi_rsdp_addr is 0
 * (acpi_find_root_pointer()): the first KiB of the EBDA, then the BIOS
 * area 0xe0000-0xfffff, on 16-byte boundaries.
 */
static u64 find_rsdp_by_scan(void)
{
	u64 bda = EBDA_PTR, ebda, a = 0;

	/* gcc takes a constant address in the first page for a null-pointer bug. */
	__asm__("" : "+r"(bda));
	ebda = (u64)rd16(bda) << 4;

	if (ebda > 0x400 && ebda < BIOS_AREA)
		a = scan_rsdp(ebda, ebda + 1024);
	if (!a)
		a = scan_rsdp(BIOS_AREA, BIOS_AREA_END);
	return a;
}

/* As Linux: boot_params.acpi_rsdp_addr if set, else the scan. */
static u64 find_rsdp(void)
{
	u64 a = bp64(BP_ACPI_RSDP_ADDR);

	return a ? (rsdp_valid(a) ? a : 0) : find_rsdp_by_scan();
}

/* The root table: the XSDT from an RSDP of revision 2 or later, else the RSDT. */
static u64 root_table(u64 r, bool *xsdt)
{
	*xsdt = rd8(r + 15) >= 2 && rd64(r + 24);
	return *xsdt ? rd64(r + 24) : rd32(r + 16);
}

/* A table header that can be read, has a sane length and sums to 0. */
static bool table_ok(u64 a, u32 *len)
{
	if (!mapped(a, SDT_HDR_LEN))
		return false;
	*len = rd32(a + 4);
	return *len >= SDT_HDR_LEN && *len <= SDT_MAX_LEN && mapped(a, *len) && !sum8(a, *len);
}

static unsigned int root_entries(u64 r, bool xsdt)
{
	u32 len = rd32(r + 4);

	return (len - SDT_HDR_LEN) / (xsdt ? 8 : 4);
}

static u64 root_entry(u64 r, bool xsdt, unsigned int i)
{
	return xsdt ? rd64(r + SDT_HDR_LEN + 8 * i) : rd32(r + SDT_HDR_LEN + 4 * i);
}

/* The first table with this signature and a valid checksum, as ACPICA picks it. */
static u64 find_table(u64 r, const char *sig)
{
	bool xsdt;
	u64 t = root_table(r, &xsdt);
	u32 len;

	if (!table_ok(t, &len))
		return 0;
	for (unsigned int i = 0; i < root_entries(t, xsdt); i++) {
		u64 e = root_entry(t, xsdt, i);

		if (mapped(e, 4) && sig_is(e, sig, 4) && table_ok(e, &len))
			return e;
	}
	return 0;
}

/* The DSDT as ACPICA takes it: X_DSDT when the FADT has one, else DSDT. */
static u64 fadt_dsdt(u64 f)
{
	u64 x = rd32(f + 4) >= FADT_X_DSDT + 8 ? rd64(f + FADT_X_DSDT) : 0;

	return x ? x : rd32(f + FADT_DSDT);
}

static struct gas gas_at(u64 a)
{
	struct gas g = {rd8(a), rd8(a + 1), rd8(a + 2), rd8(a + 3), rd64(a + 4)};

	return g;
}

static const char *gas_space(u8 space)
{
	return space == GAS_SYSTEM_IO	    ? "system I/O"
	       : space == GAS_SYSTEM_MEMORY ? "memory"
					    : "other";
}

/*
 * Name (_S5_, Package () { SLP_TYPa, ... }) in the DSDT's AML (section
 * 7.4.2): NameOp, the NameSeg "_S5_" (maybe after a root prefix),
 * PackageOp, PkgLength, NumElements, then the first element as an
 * integer constant. Just enough AML for that, as small loaders do.
 */
static bool find_s5(u64 d, u32 *typa)
{
	const u8 *aml = (const u8 *)d;
	u32 len = rd32(d + 4);

	for (u32 i = SDT_HDR_LEN + 1; i + 4 + 1 <= len; i++) {
		u32 p = i + 4;
		bool named = aml[i - 1] == AML_NAME_OP ||
			     (aml[i - 1] == AML_ROOT_CHAR && i >= SDT_HDR_LEN + 2 &&
			      aml[i - 2] == AML_NAME_OP);

		if (!named || memcmp(aml + i, "_S5_", 4) || aml[p] != AML_PACKAGE_OP)
			continue;
		/* PkgLength: bits 7-6 of its lead byte count the bytes that follow. */
		if (p + 2 > len)
			return false;
		p += 2 + (aml[p + 1] >> 6);
		/* NumElements, then the first element: an opcode and up to 4 bytes. */
		if (p + 1 + 1 + 4 > len || !aml[p])
			return false;
		p++;
		switch (aml[p]) {
		case AML_ZERO_OP:
			*typa = 0;
			return true;
		case AML_ONE_OP:
			*typa = 1;
			return true;
		case AML_ONES_OP:
			*typa = ~0u;
			return true;
		case AML_BYTE_PREFIX:
			*typa = aml[p + 1];
			return true;
		case AML_WORD_PREFIX:
			*typa = rd16(d + p + 1);
			return true;
		case AML_DWORD_PREFIX:
			*typa = rd32(d + p + 1);
			return true;
		default:
			return false;
		}
	}
	return false;
}

/* Signatures the ACPI specification defines or reserves (tables 5.5, 5.6). */
static const char known_sigs[][5] = {
	"APIC", "BERT", "BGRT", "CPEP", "DSDT", "ECDT", "EINJ", "ERST", "FACP", "FACS",
	"FPDT", "GTDT", "HEST", "MISC", "MSCT", "MPST", "NFIT", "PCCT", "PHAT", "PMTT",
	"PPTT", "PSDT", "RASF", "RAS2", "RSDT", "SBST", "SDEV", "SLIT", "SRAT", "SSDT",
	"SVKL", "XSDT", "AEST", "AGDI", "APMT", "BDAT", "BOOT", "CCEL", "CDIT", "CEDT",
	"CRAT", "CSRT", "DBGP", "DBG2", "DMAR", "DRTM", "DTPR", "ETDT", "HPET", "IBFT",
	"IERS", "IORT", "IVRS", "KEYP", "LPIT", "MCFG", "MCHI", "MHSP", "MPAM", "MSDM",
	"NBFT", "PRMT", "RGRT", "SDEI", "SLIC", "SPCR", "SPMI", "STAO", "SWFT", "TCPA",
	"TPM2", "UEFI", "WAET", "WDAT", "WDDT", "WDRT", "WPBT", "WSMT", "XENV",
};

static bool known_sig(u64 a)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(known_sigs); i++)
		if (sig_is(a, known_sigs[i], 4))
			return true;
	return sig_is(a, "OEM", 3); /* OEMx: OEM-specific */
}

/* Append to a NUL-terminated string in a buffer of `size` bytes, truncating. */
static void cat(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

/* tap_end() for a check of lmigtester's own layout: lenient under firmware. */
static bool end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool end(const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	return tap_end_soft(lenient, "%s", name);
}

/* ---- the checks ---- */

static void check_rsdp(void)
{
	u64 a = bp64(BP_ACPI_RSDP_ADDR), found;

	if (!a && lenient) {
		tap_skip("acpi_rsdp_addr 0: the firmware's tables are found by the scan",
			 "acpi: boot_params.acpi_rsdp_addr points at an RSDP (\"RSD PTR \", "
			 "revision >= 2, both checksums valid)");
	} else {
		tap_begin();
		if (!a)
			tap_fail("acpi_rsdp_addr is 0");
		else if (!mapped(a, RSDP_V2_LEN))
			tap_fail("acpi_rsdp_addr %#lx is beyond what the guest maps", a);
		else if (!sig_is(a, "RSD PTR ", 8))
			tap_fail("no \"RSD PTR \" at %#lx", a);
		else if (rd8(a + 15) < 2)
			tap_fail("RSDP revision %u, expected 2 or later", rd8(a + 15));
		else if (sum8(a, RSDP_V1_LEN))
			tap_fail("checksum of the first 20 bytes is %#x, not 0",
				 sum8(a, RSDP_V1_LEN));
		else if (sum8(a, RSDP_V2_LEN))
			tap_fail("extended checksum (36 bytes) is %#x, not 0",
				 sum8(a, RSDP_V2_LEN));
		else if (rd32(a + 20) < RSDP_V2_LEN)
			tap_fail("RSDP length %u", rd32(a + 20));
		if (end("acpi: boot_params.acpi_rsdp_addr points at an RSDP (\"RSD PTR \", "
			"revision >= 2, both checksums valid)"))
			rsdp = a;
	}

	found = find_rsdp_by_scan();
	tap_begin();
	if (!found)
		tap_fail("no valid RSDP in the EBDA or 0xe0000-0xfffff");
	else if (a && found != a)
		tap_fail("found at %#lx, acpi_rsdp_addr is %#lx", found, a);
	else if (!lenient && (found < BIOS_AREA || found >= BIOS_AREA_END))
		tap_fail("found at %#lx, in the EBDA, not in 0xe0000-0xfffff", found);
	tap_end("acpi: RSDP found by scanning 0xe0000-0xfffff on 16-byte boundaries%s",
		found && found == a ? ", at acpi_rsdp_addr" : "");
	if (!rsdp)
		rsdp = found;
	if (rsdp) {
		char oem[7];

		memcpy(oem, (const void *)(rsdp + 9), 6);
		oem[6] = 0;
		tap_diag("acpi: RSDP at %#lx, revision %u, OEM \"%s\", RSDT %#x, XSDT %#lx", rsdp,
			 rd8(rsdp + 15), oem, rd32(rsdp + 16),
			 rd8(rsdp + 15) >= 2 ? rd64(rsdp + 24) : 0);
	}
}

static void check_root(void)
{
	bool xsdt = false;
	u64 t = 0;
	u32 len;
	unsigned int n = 0, nfacp = 0, napic = 0;
	char sig[5], list[160];

	list[0] = 0;
	tap_begin();
	if (!rsdp) {
		tap_fail("no RSDP");
	} else {
		t = root_table(rsdp, &xsdt);
		if (!xsdt)
			tap_fail("RSDP revision %u or no XSDT address: only an RSDT at %#lx",
				 rd8(rsdp + 15), t);
		if (!mapped(t, SDT_HDR_LEN))
			tap_fail("root table at %#lx is beyond what the guest maps", t);
		else if (!sig_is(t, xsdt ? "XSDT" : "RSDT", 4))
			tap_fail("no %s signature at %#lx (%s)", xsdt ? "XSDT" : "RSDT", t,
				 sig_str(t, sig));
		else if (!table_ok(t, &len))
			tap_fail("%s at %#lx: bad length %u or checksum", sig_str(t, sig), t, len);
		else
			root = t;
		if (root && e820_overlaps_ram(root, len))
			tap_fail("%s at %#lx overlaps e820 RAM", sig_str(t, sig), t);
	}
	if (root) {
		n = root_entries(root, xsdt);
		for (unsigned int i = 0; i < n; i++) {
			u64 e = root_entry(root, xsdt, i);

			if (!mapped(e, SDT_HDR_LEN)) {
				tap_fail("entry %u: %#lx is beyond what the guest maps", i, e);
				continue;
			}
			sig_str(e, sig);
			cat(list, sizeof(list), "%s%s %#lx", i ? ", " : "", sig, e);
			if (!known_sig(e))
				tap_fail("entry %u at %#lx: unknown signature \"%s\"", i, e, sig);
			if (!table_ok(e, &len))
				tap_fail("%s at %#lx: bad length %u or checksum", sig, e, len);
			else if (e820_overlaps_ram(e, len))
				tap_fail("%s at %#lx overlaps e820 RAM", sig, e);
			nfacp += sig_is(e, "FACP", 4);
			napic += sig_is(e, "APIC", 4);
		}
		if (nfacp != 1 || napic != 1)
			tap_fail("%u FACP and %u APIC tables, expected one each", nfacp, napic);
	}
	if (root)
		tap_diag("acpi: %s at %#lx: %s", xsdt ? "XSDT" : "RSDT", root, list);
	end("acpi: %s checksum; its %u tables have valid checksums and known signatures, one "
	    "FACP and one APIC",
	    xsdt || !rsdp ? "XSDT" : "RSDT", n);
	if (rsdp) {
		fadt = find_table(rsdp, "FACP");
		madt = find_table(rsdp, "APIC");
	}
}

static void check_fadt(void)
{
	u32 len = fadt ? rd32(fadt + 4) : 0, flags = 0;
	struct gas ctl = {0}, sts = {0};
	u64 x = 0, d32 = 0;

	tap_begin();
	if (!fadt) {
		tap_fail("no FACP table with a valid checksum");
	} else if (len < FADT_SLEEP_STATUS + GAS_LEN) {
		tap_fail("FADT revision %u, %u bytes: no sleep control/status registers",
			 rd8(fadt + 8), len);
	} else {
		flags = rd32(fadt + FADT_FLAGS);
		ctl = gas_at(fadt + FADT_SLEEP_CONTROL);
		sts = gas_at(fadt + FADT_SLEEP_STATUS);
		if (rd8(fadt + 8) < 5)
			tap_fail("FADT revision %u, expected 5 or later", rd8(fadt + 8));
		if (!(flags & FADT_F_HW_REDUCED_ACPI))
			tap_fail("flags %#x: HW_REDUCED_ACPI (bit 20) clear", flags);
		if (ctl.space != GAS_SYSTEM_IO || !ctl.addr || ctl.addr > 0xffff ||
		    ctl.bit_width != 8)
			tap_fail("sleep control register: %s %#lx, %u bits", gas_space(ctl.space),
				 ctl.addr, ctl.bit_width);
		if (sts.space != GAS_SYSTEM_IO || !sts.addr || sts.addr > 0xffff ||
		    sts.bit_width != 8)
			tap_fail("sleep status register: %s %#lx, %u bits", gas_space(sts.space),
				 sts.addr, sts.bit_width);
	}
	if (fadt && len >= FADT_SLEEP_STATUS + GAS_LEN)
		tap_diag("acpi: FADT revision %u.%u, %u bytes, flags %#x; sleep control %s %#lx, "
			 "status %s %#lx",
			 rd8(fadt + 8), rd8(fadt + 131), len, flags, gas_space(ctl.space), ctl.addr,
			 gas_space(sts.space), sts.addr);
	else if (fadt)
		tap_diag("acpi: FADT revision %u, %u bytes, flags %#x", rd8(fadt + 8), len,
			 len >= FADT_FLAGS + 4 ? rd32(fadt + FADT_FLAGS) : 0);
	end("acpi: FADT: HW_REDUCED_ACPI, 8-bit sleep control and status registers in system "
	    "I/O");

	tap_begin();
	if (fadt) {
		x = len >= FADT_X_DSDT + 8 ? rd64(fadt + FADT_X_DSDT) : 0;
		d32 = rd32(fadt + FADT_DSDT);
		dsdt = fadt_dsdt(fadt);
	}
	if (!fadt)
		tap_fail("no FADT");
	else if (!x)
		tap_fail("X_DSDT is 0 (DSDT %#lx)", d32);
	else if (d32 && d32 != x)
		tap_fail("DSDT %#lx and X_DSDT %#lx differ", d32, x);
	if (dsdt) {
		u32 dlen;
		char sig[5];

		if (!mapped(dsdt, SDT_HDR_LEN) || !sig_is(dsdt, "DSDT", 4)) {
			tap_fail("no \"DSDT\" at %#lx (%s)", dsdt,
				 mapped(dsdt, 4) ? sig_str(dsdt, sig) : "unmapped");
			dsdt = 0;
		} else if (!table_ok(dsdt, &dlen)) {
			tap_fail("DSDT at %#lx: bad length %u or checksum", dsdt, dlen);
			dsdt = 0;
		} else if (e820_overlaps_ram(dsdt, dlen)) {
			tap_fail("DSDT at %#lx overlaps e820 RAM", dsdt);
		}
	} else if (fadt) {
		tap_fail("neither X_DSDT nor DSDT is set");
	}
	end("acpi: FADT X_DSDT points at a \"DSDT\" with a valid checksum");
}

static void check_s5(void)
{
	u32 typa = 0;

	tap_begin();
	if (!dsdt)
		tap_fail("no DSDT");
	else if (!find_s5(dsdt, &typa))
		tap_fail("no Name (_S5_, Package () {<integer>, ...}) in the DSDT's AML");
	else if (typa != SLP_TYP_S5)
		tap_fail("SLP_TYPa %u, lmigtester's is %u", typa, SLP_TYP_S5);
	end("acpi: DSDT AML: Name (_S5_, Package () {%u, ...}): SLP_TYPa for S5", typa);
}

static void check_madt(void)
{
	u32 len = madt ? rd32(madt + 4) : 0;
	unsigned int nlapic = 0, nboot = 0, nioapic = 0, boot_id;
	int ioapic_id = -1;
	u32 gsi = 0;
	char list[200];

	/*
	 * This CPU's APIC ID, from its local APIC's ID register (xAPIC: bits
	 * 31-24). Not CPUID.1:EBX: on hosts whose KVM emulates the guest
	 * kernel, CPUID at CPL3 can report the host CPU's APIC ID.
	 */
	boot_id = rd32(LAPIC_ADDR + LAPIC_ID) >> 24;
	list[0] = 0;
	tap_begin();
	if (!madt) {
		tap_fail("no APIC table with a valid checksum");
	} else {
		if (rd32(madt + 36) != LAPIC_ADDR)
			tap_fail("local APIC address %#x", rd32(madt + 36));
		for (u32 off = MADT_ENTRIES; off < len;) {
			u64 e = madt + off;
			u8 type = rd8(e), elen = off + 2 <= len ? rd8(e + 1) : 0;

			if (elen < 2 || off + elen > len) {
				tap_fail("entry at offset %u: length %u runs past the table", off,
					 elen);
				break;
			}
			if (type == MADT_LAPIC && elen >= 8) {
				u8 id = rd8(e + 3);
				u32 fl = rd32(e + 4);

				nlapic++;
				if (id == boot_id) {
					nboot++;
					if (!(fl & MADT_LAPIC_ENABLED))
						tap_fail("Local APIC %u (the boot CPU) is not "
							 "enabled",
							 id);
				}
				if (nlapic <= 4)
					cat(list, sizeof(list), "LAPIC uid %u id %u flags %#x; ",
					    rd8(e + 2), id, fl);
			} else if (type == MADT_IOAPIC && elen >= 12) {
				nioapic++;
				if (rd32(e + 4) == IOAPIC_ADDR) {
					ioapic_id = rd8(e + 2);
					gsi = rd32(e + 8);
				}
				cat(list, sizeof(list), "IOAPIC id %u at %#x GSI %u; ", rd8(e + 2),
				    rd32(e + 4), rd32(e + 8));
			} else if (type == MADT_INT_SRC_OVERRIDE && elen >= 10) {
				cat(list, sizeof(list), "IRQ %u -> GSI %u; ", rd8(e + 3),
				    rd32(e + 4));
			} else if (type == MADT_LAPIC_NMI && elen >= 6) {
				cat(list, sizeof(list), "NMI uid %#x LINT%u; ", rd8(e + 2),
				    rd8(e + 5));
			}
			off += elen;
		}
		if (boot_id != 0)
			tap_fail("the boot CPU's local APIC ID register says ID %u", boot_id);
		if (nboot != 1)
			tap_fail("%u Local APIC entries for APIC ID %u", nboot, boot_id);
		if (ioapic_id < 0)
			tap_fail("no IOAPIC entry at %#lx", IOAPIC_ADDR);
		else if (gsi)
			tap_fail("IOAPIC at %#lx: GSI base %u", IOAPIC_ADDR, gsi);
	}
	if (strlen(list) >= 2)
		list[strlen(list) - 2] = 0; /* the last "; " */
	if (madt)
		tap_diag("acpi: MADT flags %#x, %u LAPIC, %u IOAPIC: %s", rd32(madt + 40), nlapic,
			 nioapic, list);
	end("acpi: MADT: enabled Local APIC for APIC ID 0 (the boot CPU), IOAPIC at 0xfec00000 "
	    "with GSI base 0");

	/* The IOAPIC itself: IOREGSEL = 0 (the ID register), then IOWIN. */
	tap_begin();
	if (ioapic_id < 0) {
		tap_fail("no IOAPIC entry at %#lx in the MADT", IOAPIC_ADDR);
	} else {
		u32 v;

		wr32(IOAPIC_ADDR, 0);
		v = rd32(IOAPIC_ADDR + IOAPIC_IOWIN);
		if (((v >> 24) & 0xf) != (u32)ioapic_id)
			tap_fail("ID register %#x: ID %u, the MADT says %d", v, (v >> 24) & 0xf,
				 ioapic_id);
	}
	end("acpi: IOAPIC ID register (0xfec00000, index 0) matches the MADT's IOAPIC ID");
}

/*
 * The CPUs the MADT lists: enabled Local APIC entries (and enabled
 * Processor Local x2APIC entries, which lmigtester does not write), for
 * the tg.cpus check and for the SMP start-up (smp.c).
 */
u64 tg_acpi_fadt, tg_acpi_dsdt;
u32 tg_madt_ids[TG_MAX_CPUS];
unsigned int tg_madt_ncpus;
bool tg_madt_found;

static void collect_madt_cpus(unsigned int *disabled, unsigned int *x2apic)
{
	u32 len = madt ? rd32(madt + 4) : 0;

	tg_madt_ncpus = 0;
	tg_madt_found = madt != 0;
	*disabled = *x2apic = 0;
	for (u32 off = MADT_ENTRIES; off + 2 <= len;) {
		u64 e = madt + off;
		u8 type = rd8(e), elen = rd8(e + 1);
		u32 id, fl;

		if (elen < 2 || off + elen > len)
			break; /* check_madt() reported it */
		off += elen;
		if (type == MADT_LAPIC && elen >= 8) {
			id = rd8(e + 3);
			fl = rd32(e + 4);
		} else if (type == MADT_X2APIC && elen >= 16) {
			id = rd32(e + 4);
			fl = rd32(e + 8);
			++*x2apic;
		} else {
			continue;
		}
		if (!(fl & MADT_LAPIC_ENABLED)) {
			++*disabled;
			continue;
		}
		if (tg_madt_ncpus < TG_MAX_CPUS)
			tg_madt_ids[tg_madt_ncpus] = id;
		tg_madt_ncpus++;
	}
}

static void check_madt_cpus(void)
{
	unsigned int disabled, x2apic, n = cfg.cpus;
	u8 seen[TG_MAX_CPUS];

	collect_madt_cpus(&disabled, &x2apic);
	if (!n) {
		tap_skip("no tg.cpus given",
			 "acpi: MADT: one enabled Local APIC entry per vCPU, APIC IDs 0..N-1 "
			 "(tg.cpus=N)");
		return;
	}
	memset(seen, 0, sizeof(seen));
	tap_begin();
	if (!madt)
		tap_fail("no APIC table with a valid checksum");
	else if (tg_madt_ncpus != n)
		tap_fail("%u enabled Local APIC entries, tg.cpus=%u", tg_madt_ncpus, n);
	for (unsigned int i = 0; i < tg_madt_ncpus && i < TG_MAX_CPUS; i++) {
		u32 id = tg_madt_ids[i];

		if (id >= n)
			tap_fail("APIC ID %u is not in 0..%u", id, n - 1);
		else if (seen[id]++)
			tap_fail("APIC ID %u listed twice", id);
	}
	if (disabled || x2apic)
		tap_diag("acpi: MADT: %u disabled Local APIC entries, %u x2APIC entries", disabled,
			 x2apic);
	tap_end("acpi: MADT: %u enabled Local APIC entries, APIC IDs 0..%u (tg.cpus=%u)", n, n - 1,
		n);
}

void run_acpi_checks(void)
{
	lenient = tg_entry.protocol == 16 ? "the firmware's tables (protocol 16)" : NULL;
	rsdp = root = fadt = madt = dsdt = 0;
	check_rsdp();
	check_root();
	check_fadt();
	check_s5();
	check_madt();
	check_madt_cpus();
	tg_acpi_fadt = fadt;
	tg_acpi_dsdt = dsdt;
}

/* ---- power-off ---- */

static bool gas_write(const struct gas *g, u32 v)
{
	if (g->space == GAS_SYSTEM_IO && g->addr && g->addr <= 0xffff) {
		if (g->bit_width <= 8)
			outb((u16)g->addr, (u8)v);
		else if (g->bit_width <= 16)
			outw((u16)g->addr, (u16)v);
		else
			outl((u16)g->addr, v);
		return true;
	}
	if (g->space == GAS_SYSTEM_MEMORY && mapped(g->addr, 4)) {
		if (g->bit_width <= 8)
			wr8(g->addr, (u8)v);
		else if (g->bit_width <= 16)
			wr16(g->addr, (u16)v);
		else
			wr32(g->addr, v);
		return true;
	}
	return false;
}

/*
 * Enter S5 as an OS does (ACPICA's acpi_enter_sleep_state()): find the
 * FADT through the RSDP, SLP_TYPa in \_S5_, then on a hardware-reduced
 * platform write SLP_TYPa | SLP_EN to the sleep control register (after
 * clearing WAK_STS in the status register), else to PM1a_CNT. Returns
 * only if the VM is still running, with the reason in why.
 */
void acpi_poweroff(char *why, size_t n)
{
	u64 r = find_rsdp(), f = r ? find_table(r, "FACP") : 0, d;
	u32 typa, len, flen;

	if (!f) {
		snprintf(why, n, "no FADT found through the RSDP (%#lx)", r);
		return;
	}
	flen = rd32(f + 4);
	d = fadt_dsdt(f);
	if (!mapped(d, SDT_HDR_LEN) || !sig_is(d, "DSDT", 4) || !table_ok(d, &len) ||
	    !find_s5(d, &typa)) {
		snprintf(why, n, "no \\_S5_ package in the DSDT (%#lx)", d);
		return;
	}
	if (flen >= FADT_SLEEP_STATUS + GAS_LEN &&
	    (rd32(f + FADT_FLAGS) & FADT_F_HW_REDUCED_ACPI)) {
		struct gas ctl = gas_at(f + FADT_SLEEP_CONTROL),
			   sts = gas_at(f + FADT_SLEEP_STATUS);
		u32 v = ((typa << SLEEP_CTL_SLP_TYP_SHIFT) & SLEEP_CTL_SLP_TYP_MASK) |
			SLEEP_CTL_SLP_EN;

		print("tg: poweroff: SLP_TYPa %u from \\_S5_, writing %#x to the sleep control "
		      "register (%s %#lx)\n",
		      typa, v, gas_space(ctl.space), ctl.addr);
		gas_write(&sts, SLEEP_STS_WAK_STS);
		if (!gas_write(&ctl, v)) {
			snprintf(why, n, "sleep control register: %s %#lx cannot be written",
				 gas_space(ctl.space), ctl.addr);
			return;
		}
		snprintf(why, n,
			 "still running after writing %#x to the sleep control register "
			 "(%s %#lx)",
			 v, gas_space(ctl.space), ctl.addr);
	} else {
		struct gas cnt = {GAS_SYSTEM_IO, 16, 0, 2, rd32(f + FADT_PM1A_CNT_BLK)};
		u32 v;

		if (flen >= FADT_X_PM1A_CNT_BLK + GAS_LEN && rd64(f + FADT_X_PM1A_CNT_BLK + 4))
			cnt = gas_at(f + FADT_X_PM1A_CNT_BLK);
		if (cnt.space != GAS_SYSTEM_IO || !cnt.addr || cnt.addr > 0xffff) {
			snprintf(why, n, "PM1a_CNT: %s %#lx cannot be written",
				 gas_space(cnt.space), cnt.addr);
			return;
		}
		v = (inw((u16)cnt.addr) & ~(PM1_CNT_SLP_TYP_MASK | PM1_CNT_SLP_EN)) |
		    ((typa << PM1_CNT_SLP_TYP_SHIFT) & PM1_CNT_SLP_TYP_MASK);
		print("tg: poweroff: SLP_TYPa %u from \\_S5_, writing %#x to PM1a_CNT (system I/O "
		      "%#lx)\n",
		      typa, v | PM1_CNT_SLP_EN, cnt.addr);
		outw((u16)cnt.addr, (u16)v);
		outw((u16)cnt.addr, (u16)(v | PM1_CNT_SLP_EN));
		snprintf(why, n, "still running after writing %#x to PM1a_CNT (system I/O %#lx)",
			 v | PM1_CNT_SLP_EN, cnt.addr);
	}
	for (int i = 0; i < 1000; i++)
		inb(0x80);
}
