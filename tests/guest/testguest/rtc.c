/* SPDX-License-Identifier: MIT */
/*
 * The MC146818 CMOS RTC at CPL3: ports 0x70 (index) and 0x71 (data), ISA
 * IRQ 8 on IOAPIC pin 8. The checks read the time as Linux does and
 * compare it with the host's (tg.time), read it in binary and 12-hour
 * mode, set it and watch it run on, take the update-ended and periodic
 * interrupts, watch UIP around an update, and compare the CMOS memory-size
 * fields with tg.mem (see docs/testguest.md).
 *
 * Ports are open to CPL3 through the TSS I/O bitmap; the IOAPIC and the
 * LAPIC are mapped with the U bit. Only the interrupt handler (kernel.c,
 * rtc_irq()) and KREQ_IRQ_ON/OFF (IF for CPL3) run at CPL0. The waits for
 * interrupts poll the handler's counter in memory, never the RTC: a port
 * access brings the RTC's flags up to date by itself, and would hide a
 * VMM whose timer does not.
 *
 * Under protocol 16 (QEMU and its firmware) the checks of what lmigtester
 * promises beyond the MC146818 (register values at boot, the ACPI
 * description, the century byte, the CMOS memory fields) report a
 * difference as a SKIP.
 */
#include "tg.h"

#define RTC_INDEX 0x70
#define RTC_DATA 0x71

/* Registers (MC146818 / DS12887 datasheets). */
#define R_SEC 0x00
#define R_MIN 0x02
#define R_HOUR 0x04
#define R_DOW 0x06
#define R_MDAY 0x07
#define R_MON 0x08
#define R_YEAR 0x09
#define R_A 0x0a
#define R_B 0x0b
#define R_C 0x0c
#define R_D 0x0d

#define A_UIP 0x80
#define A_DIVIDER 0x70
#define A_RATE 0x0f
#define A_RATE_2HZ 0x0f
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define D_VRT 0x80

/* What lmigtester promises (src/devices/rtc_cmos.h, src/arch/x86/acpi.c). */
#define LMIG_A 0x26	  /* 32.768 kHz time base, 1024 Hz rate */
#define LMIG_B 0x02	  /* 24-hour, BCD, no interrupts */
#define LMIG_CENTURY 0x32 /* the FADT's CENTURY field */

/* FADT (ACPI 6.5, table 5.9). */
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1U << 5)

/* CMOS memory-size fields, as a PC BIOS fills them. */
#define CMOS_BASE_KIB 0x15  /* 2 bytes: KiB of base memory (640) */
#define CMOS_EXT_KIB 0x17   /* 2 bytes: KiB above 1 MiB, capped 0xffff */
#define CMOS_CHECKSUM 0x2e  /* 2 bytes, big-endian: sum of 0x10-0x2d */
#define CMOS_EXT_KIB2 0x30  /* 2 bytes: the same */
#define CMOS_ABOVE_16M 0x34 /* 2 bytes: 64 KiB units, 16 MiB to the end of low RAM */
#define CMOS_ABOVE_4G 0x5b  /* 3 bytes: 64 KiB units above 4 GiB */

#define IOAPIC 0xfec00000UL
#define IOAPIC_IOWIN 0x10
#define RTC_PIN 8
#define REDIR_LO(pin) (0x10 + 2 * (pin))
#define REDIR_MASKED 0x10000U

/* The fixed date the guest sets: 2031-02-03 04:05:06, a Monday. */
#define SET_YEAR 2031
#define SET_MON 2
#define SET_MDAY 3
#define SET_HOUR 4
#define SET_MIN 5
#define SET_SEC 6

/* Bounds, in ms of TSC time (tsc_khz(): CPUID's, or 3 GHz assumed). */
#define IRQ_WAIT_MS 2500
#define UIE_WITHIN_MS 1100
#define PIE_WITHIN_MS 1200
#define UIP_WAIT_MS 10

static const char *lenient; /* non-NULL: a difference from lmigtester's promise is a SKIP */
static u8 cent_idx;	    /* the century byte's CMOS index (the FADT's CENTURY), 0: none */
static u64 khz;

/* ---- port access ---- */

static u8 cmos_read(u8 idx)
{
	rtc_irq_log.index = idx;
	barrier();
	outb(RTC_INDEX, idx);
	return inb(RTC_DATA);
}

static void cmos_write(u8 idx, u8 v)
{
	rtc_irq_log.index = idx;
	barrier();
	outb(RTC_INDEX, idx);
	outb(RTC_DATA, v);
}

static u64 ms_tsc(u64 ms)
{
	return ms * khz;
}

static void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* ---- calendar (proleptic Gregorian, UTC) ---- */

static bool leap(s64 y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static u32 month_days(s64 y, u32 m)
{
	static const u8 days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 (H. Hinnant's days_from_civil). */
static s64 days_from_civil(s64 y, u32 m, u32 d)
{
	s64 era;
	u64 yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (u64)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (s64)doe - 719468;
}

struct rtc_tm {
	s64 year;
	u32 mon, mday, hour, min, sec;
	u32 dow; /* 1-7, Sunday = 1, as the RTC counts */
};

static void civil_from_unix(s64 t, struct rtc_tm *tm)
{
	s64 days = (t >= 0 ? t : t - 86399) / 86400, sod = t - days * 86400;
	s64 z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	u64 doe = (u64)(z - era * 146097);
	u64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	u64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	u64 mp = (5 * doy + 2) / 153;

	tm->mday = (u32)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (u32)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = (s64)yoe + era * 400 + (tm->mon <= 2);
	tm->hour = (u32)(sod / 3600);
	tm->min = (u32)(sod / 60 % 60);
	tm->sec = (u32)(sod % 60);
	tm->dow = (u32)(((days % 7) + 11) % 7) + 1; /* 1970-01-01 was a Thursday (5) */
}

static s64 unix_from_tm(const struct rtc_tm *tm)
{
	return days_from_civil(tm->year, tm->mon, tm->mday) * 86400 + tm->hour * 3600 +
	       tm->min * 60 + tm->sec;
}

/* "2031-02-03 04:05:06" */
static const char *fmt_tm(char *buf, size_t n, const struct rtc_tm *tm)
{
	snprintf(buf, n, "%04ld-%02u-%02u %02u:%02u:%02u", tm->year, tm->mon, tm->mday, tm->hour,
		 tm->min, tm->sec);
	return buf;
}

/* ---- reading the clock ---- */

/* The clock registers as read, with the register B that says how to decode them. */
struct rtc_raw {
	u8 sec, min, hour, dow, mday, mon, year, cent, b;
};

static void read_raw(struct rtc_raw *r)
{
	r->sec = cmos_read(R_SEC);
	r->min = cmos_read(R_MIN);
	r->hour = cmos_read(R_HOUR);
	r->dow = cmos_read(R_DOW);
	r->mday = cmos_read(R_MDAY);
	r->mon = cmos_read(R_MON);
	r->year = cmos_read(R_YEAR);
	r->cent = cent_idx ? cmos_read(cent_idx) : 0;
	r->b = cmos_read(R_B);
}

static bool same_raw(const struct rtc_raw *a, const struct rtc_raw *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* Wait (bounded) for register A's UIP bit to read 0. */
static bool wait_uip_clear(void)
{
	u64 deadline = rdtsc() + ms_tsc(UIP_WAIT_MS);

	do {
		if (!(cmos_read(R_A) & A_UIP))
			return true;
	} while (rdtsc() < deadline);
	return false;
}

/*
 * As Linux reads the RTC (mc146818_get_time()): wait for UIP to be clear,
 * read every clock register, and again until two reads in a row agree.
 */
static bool rtc_read(struct rtc_raw *out, char *why, size_t n)
{
	struct rtc_raw prev, cur;

	for (int i = 0; i < 10; i++) {
		if (!wait_uip_clear()) {
			snprintf(why, n, "register A's UIP still set after %u ms", UIP_WAIT_MS);
			return false;
		}
		read_raw(&cur);
		if (i && same_raw(&prev, &cur)) {
			*out = cur;
			return true;
		}
		prev = cur;
	}
	snprintf(why, n, "no two of 10 reads of the clock agreed");
	return false;
}

static bool reg_value(u8 raw, bool bcd, u32 *v)
{
	if (!bcd) {
		*v = raw;
		return true;
	}
	if ((raw & 0x0f) > 9 || (raw >> 4) > 9)
		return false;
	*v = (raw >> 4) * 10 + (raw & 0x0f);
	return true;
}

static u8 reg_encode(u32 v, u8 b)
{
	if (b & B_DM_BINARY)
		return (u8)v;
	v %= 100;
	return (u8)((v / 10) << 4 | (v % 10));
}

static u8 hour_encode(u32 h, u8 b)
{
	u32 h12 = h % 12;

	if (b & B_24H)
		return reg_encode(h, b);
	return (u8)(reg_encode(h12 ? h12 : 12, b) | (h >= 12 ? 0x80 : 0));
}

/*
 * Decode as register B says (BCD or binary, 24- or 12-hour). The year's
 * century: the century byte when the FADT names one and it reads 19 or
 * more (QEMU's reads 0), else Linux's rule (years 70-99 are 19xx).
 * *cent_used says which.
 */
static bool rtc_decode(const struct rtc_raw *r, struct rtc_tm *tm, bool *cent_used, char *why,
		       size_t n)
{
	bool bcd = !(r->b & B_DM_BINARY);
	u32 year, cent = 0, h;

	*cent_used = false;
	if (!reg_value(r->sec, bcd, &tm->sec) || tm->sec > 59) {
		snprintf(why, n, "seconds %#x", r->sec);
		return false;
	}
	if (!reg_value(r->min, bcd, &tm->min) || tm->min > 59) {
		snprintf(why, n, "minutes %#x", r->min);
		return false;
	}
	if (r->b & B_24H) {
		if (!reg_value(r->hour, bcd, &h) || h > 23) {
			snprintf(why, n, "hours %#x (24-hour)", r->hour);
			return false;
		}
	} else {
		if (!reg_value(r->hour & 0x7f, bcd, &h) || h < 1 || h > 12) {
			snprintf(why, n, "hours %#x (12-hour)", r->hour);
			return false;
		}
		h = h % 12 + (r->hour & 0x80 ? 12 : 0);
	}
	tm->hour = h;
	if (!reg_value(r->year, bcd, &year) || year > 99) {
		snprintf(why, n, "year %#x", r->year);
		return false;
	}
	if (cent_idx && reg_value(r->cent, bcd, &cent) && cent >= 19 && cent <= 99) {
		tm->year = cent * 100 + year;
		*cent_used = true;
	} else {
		tm->year = year + (year < 70 ? 2000 : 1900);
	}
	if (!reg_value(r->mon, bcd, &tm->mon) || tm->mon < 1 || tm->mon > 12) {
		snprintf(why, n, "month %#x", r->mon);
		return false;
	}
	if (!reg_value(r->mday, bcd, &tm->mday) || tm->mday < 1 ||
	    tm->mday > month_days(tm->year, tm->mon)) {
		snprintf(why, n, "day of month %#x", r->mday);
		return false;
	}
	if (!reg_value(r->dow, bcd, &tm->dow))
		tm->dow = 0;
	return true;
}

/* Read and decode the clock; false with why set if either fails. */
static bool rtc_now(struct rtc_raw *raw, struct rtc_tm *tm, s64 *t, char *why, size_t n)
{
	bool cent_used;

	if (!rtc_read(raw, why, n) || !rtc_decode(raw, tm, &cent_used, why, n))
		return false;
	*t = unix_from_tm(tm);
	return true;
}

static const char *raw_str(char *buf, size_t n, const struct rtc_raw *r)
{
	snprintf(buf, n,
		 "sec %02x min %02x hour %02x dow %02x mday %02x mon %02x year %02x cent %02x B "
		 "%02x",
		 r->sec, r->min, r->hour, r->dow, r->mday, r->mon, r->year, r->cent, r->b);
	return buf;
}

/*
 * Set the clock to unix time t in the format register B (`b`, SET clear)
 * says, as an OS does: SET=1, the clock registers, SET=0. The century
 * byte gets `cent` (what it read: the century is the same).
 */
static void rtc_set(s64 t, u8 b, u8 cent)
{
	struct rtc_tm tm;

	civil_from_unix(t, &tm);
	cmos_write(R_B, b | B_SET);
	cmos_write(R_SEC, reg_encode(tm.sec, b));
	cmos_write(R_MIN, reg_encode(tm.min, b));
	cmos_write(R_HOUR, hour_encode(tm.hour, b));
	cmos_write(R_DOW, reg_encode(tm.dow, b));
	cmos_write(R_MDAY, reg_encode(tm.mday, b));
	cmos_write(R_MON, reg_encode(tm.mon, b));
	cmos_write(R_YEAR, reg_encode((u32)(tm.year % 100), b));
	if (cent_idx)
		cmos_write(cent_idx, cent);
	cmos_write(R_B, b & (u8)~B_SET);
}

/* ---- interrupts ---- */

static u32 ioapic_read(u32 reg)
{
	wr32(IOAPIC, reg);
	return rd32(IOAPIC + IOAPIC_IOWIN);
}

static void ioapic_write(u32 reg, u32 v)
{
	wr32(IOAPIC, reg);
	wr32(IOAPIC + IOAPIC_IOWIN, v);
}

/* Pin 8 to TG_VEC_RTC on this CPU: fixed, physical, edge, active high, unmasked. */
static void route_pin(bool on)
{
	if (on) {
		ioapic_write(REDIR_LO(RTC_PIN) + 1, (rd32(TG_LAPIC_ID_REG) >> 24) << 24);
		ioapic_write(REDIR_LO(RTC_PIN), TG_VEC_RTC);
	} else {
		ioapic_write(REDIR_LO(RTC_PIN), REDIR_MASKED | TG_VEC_RTC);
	}
}

static void log_reset(void)
{
	rtc_irq_log.count = 0;
	for (int i = 0; i < RTC_IRQ_LOG; i++) {
		rtc_irq_log.c[i] = 0;
		rtc_irq_log.tsc[i] = 0;
	}
	barrier();
}

/* Poll the handler's counter (memory only) until it reaches n or the deadline passes. */
static bool wait_irqs(u32 n, u64 deadline)
{
	while (rtc_irq_log.count < n && rdtsc() < deadline)
		cpu_relax();
	return rtc_irq_log.count >= n;
}

/* The TSC's kHz measured against the RTC (check_periodic()), 0: not yet. */
static u64 rtc_khz;

/* "1.234 s" of TSC time, at the rate the RTC measured once it has */
static const char *fmt_s(char *buf, size_t n, u64 cycles)
{
	u64 ms = cycles / (rtc_khz ? rtc_khz : khz);

	snprintf(buf, n, "%lu.%03lu s", ms / 1000, ms % 1000);
	return buf;
}

/* ---- the checks ---- */

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

/* What the whole sequence found, for the checks that follow. */
static struct {
	u8 a0, b0, cent0; /* registers A and B, the century byte, at the start */
	s64 t0;		  /* the time read first */
	u64 uie_tsc;	  /* TSC of the update-ended interrupt (a second boundary), 0: none */
	s64 set_t;	  /* the time written (2031-...) */
	s64 before_set;	  /* the real time read just before it was written */
	s64 set_read;	  /* what read back right after */
	bool set_ok;
} st;

static bool check_present(void)
{
	u8 a = cmos_read(R_A), b = cmos_read(R_B), d = cmos_read(R_D);
	bool absent = a == 0xff && b == 0xff && d == 0xff;

	st.a0 = a & (u8)~A_UIP;
	st.b0 = b;
	tap_begin();
	if (absent)
		tap_fail("registers A, B and D read 0xff: no RTC at 0x70/0x71");
	else if (d != D_VRT)
		tap_fail("register D %#x, expected 0x80 (VRT set, bits 0-6 clear)", d);
	tap_diag("rtc: at boot A %#x B %#x D %#x; the century byte's index %#x (%s)", a, b, d,
		 cent_idx, cent_idx ? "the FADT's CENTURY" : "none: the FADT names none");
	if (absent && tg_entry.protocol == 16) {
		tap_skip("no CMOS RTC at 0x70/0x71 (QEMU -M microvm needs rtc=on)",
			 "rtc: MC146818 at 0x70/0x71, register D VRT (0x80)");
		return false;
	}
	tap_end("rtc: MC146818 at 0x70/0x71, register D VRT (0x80)");
	if (absent)
		return false;

	tap_begin();
	if (st.a0 != LMIG_A)
		tap_fail("register A %#x (UIP masked), expected 0x26", st.a0);
	if (b != LMIG_B)
		tap_fail("register B %#x, expected 0x02", b);
	end("rtc: at boot register A 0x26 (32.768 kHz, 1024 Hz rate), B 0x02 (24-hour, BCD, no "
	    "interrupts)");
	return true;
}

/* The FADT's CENTURY and IAPC_BOOT_ARCH, and the RTC's device in the DSDT. */
static void check_acpi(void)
{
	u64 f = tg_acpi_fadt, d = tg_acpi_dsdt;
	u32 flen = f ? rd32(f + 4) : 0, dlen = d ? rd32(d + 4) : 0;
	/* _HID, DWordPrefix, EisaId ("PNP0B00") */
	static const u8 hid[] = {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0b, 0x00};
	u64 at = 0;

	tap_begin();
	if (!f || flen < FADT_IAPC_BOOT_ARCH + 2) {
		tap_fail("no FADT with CENTURY and IAPC_BOOT_ARCH (length %u)", flen);
	} else {
		u8 century = rd8(f + FADT_CENTURY);
		u16 arch = rd16(f + FADT_IAPC_BOOT_ARCH);

		if (century != LMIG_CENTURY)
			tap_fail("FADT CENTURY %#x, expected 0x32", century);
		if (arch & FADT_BOOT_CMOS_RTC_NOT_PRESENT)
			tap_fail("FADT IAPC_BOOT_ARCH %#x: CMOS RTC not present (bit 5) set", arch);
		tap_diag("rtc: FADT CENTURY %#x, IAPC_BOOT_ARCH %#x", century, arch);
	}
	if (!d || dlen < 36 || dlen > (1U << 20)) {
		tap_fail("no DSDT");
	} else {
		for (u64 p = d + 36; p + sizeof(hid) <= d + dlen; p++)
			if (!memcmp((const void *)p, hid, sizeof(hid))) {
				at = p;
				break;
			}
		if (!at) {
			tap_fail("no Name (_HID, EisaId (\"PNP0B00\")) in the DSDT");
		} else {
			/* Its _CRS follows, before the next _HID. */
			u64 lim = at + sizeof(hid) + 96, io = 0, irq = 0;

			if (lim > d + dlen)
				lim = d + dlen;
			for (u64 p = at + sizeof(hid); p + 3 <= lim; p++) {
				if (p + 4 <= lim && !memcmp((const void *)p, "_HID", 4))
					break;
				if (!io && p + 8 <= lim && rd8(p) == 0x47 && rd16(p + 2) == 0x70 &&
				    rd16(p + 4) == 0x70)
					io = p;
				if (!irq && (rd8(p) == 0x22 || rd8(p) == 0x23) &&
				    rd16(p + 1) == 0x100)
					irq = p;
			}
			if (!io)
				tap_fail("PNP0B00: no IO descriptor for 0x70 after its _HID");
			else if (rd8(io + 7) != 2 || !(rd8(io + 1) & 1))
				tap_fail("PNP0B00: IO (%s, 0x70, 0x70, %u, %u), expected Decode16, "
					 "length 2",
					 rd8(io + 1) & 1 ? "Decode16" : "Decode10", rd8(io + 6),
					 rd8(io + 7));
			if (!irq)
				tap_fail("PNP0B00: no IRQ descriptor for IRQ 8 after its _HID");
			tap_diag("rtc: DSDT PNP0B00 at +%#lx: IO 0x70 length %u, IRQ 8 %s", at - d,
				 io ? rd8(io + 7) : 0, irq ? "yes" : "no");
		}
	}
	end("rtc: ACPI: FADT CENTURY 0x32, IAPC_BOOT_ARCH CMOS RTC present; DSDT PNP0B00 with IO "
	    "0x70-0x71 and IRQ 8");
}

static void check_time(void)
{
	struct rtc_raw r;
	struct rtc_tm tm;
	bool cent_used = false;
	char why[120], buf[24], rb[120];
	const char *name = "rtc: time read as Linux does (UIP clear, two equal reads) within "
			   "[tg.time - 2, tg.time + 30]";

	tap_begin();
	if (!rtc_read(&r, why, sizeof(why)) || !rtc_decode(&r, &tm, &cent_used, why, sizeof(why))) {
		tap_fail("%s", why);
		tap_diag("rtc: %s", raw_str(rb, sizeof(rb), &r));
		tap_end("%s", name);
		tap_skip("the clock could not be read", "rtc: day of week and century byte");
		return;
	}
	st.t0 = unix_from_tm(&tm);
	st.cent0 = r.cent;
	tap_diag("rtc: %s UTC, unix %ld (%s, %s, century %s)", fmt_tm(buf, sizeof(buf), &tm), st.t0,
		 r.b & B_DM_BINARY ? "binary" : "BCD", r.b & B_24H ? "24-hour" : "12-hour",
		 cent_used ? "from the century byte" : "by Linux's rule");
	if (cfg.have_time) {
		if (st.t0 < (s64)cfg.time - 2 || st.t0 > (s64)cfg.time + 30)
			tap_fail("read %ld, %ld s from tg.time %lu", st.t0, st.t0 - (s64)cfg.time,
				 cfg.time);
		else
			tap_diag("rtc: %ld s from tg.time %lu", st.t0 - (s64)cfg.time, cfg.time);
		tap_end("%s", name);
	} else {
		tap_skip("no tg.time given", "%s", name);
	}

	/* The day of week follows the date; the century byte is the year's century. */
	tap_begin();
	{
		struct rtc_tm want;
		u32 cent;

		civil_from_unix(st.t0, &want);
		if (tm.dow != want.dow)
			tap_fail("day of week register %#x, expected %u for %s (1 = Sunday)", r.dow,
				 want.dow, fmt_tm(buf, sizeof(buf), &tm));
		if (!cent_idx)
			tap_fail("no century byte: the FADT's CENTURY is 0");
		else if (!reg_value(r.cent, !(r.b & B_DM_BINARY), &cent) ||
			 cent != (u32)(tm.year / 100))
			tap_fail("century byte (CMOS %#x) %#x, expected %ld", cent_idx, r.cent,
				 tm.year / 100);
	}
	end("rtc: day of week register matches the date; century byte (CMOS 0x32) holds the "
	    "century");
}

/* Switch register B to `mode`, read the time, compare with the BCD/24-hour reading, restore B. */
static void check_format(u8 mode, const char *name)
{
	struct rtc_raw r, r2;
	struct rtc_tm tm, tm2;
	s64 t, t2;
	char why[120], rb[120];

	tap_begin();
	if (!rtc_now(&r, &tm, &t, why, sizeof(why))) {
		tap_fail("before the switch: %s", why);
		tap_end("%s", name);
		return;
	}
	cmos_write(R_B, mode);
	if (!rtc_now(&r2, &tm2, &t2, why, sizeof(why)))
		tap_fail("%s", why);
	else if (r2.b != mode)
		tap_fail("register B reads %#x after writing %#x", r2.b, mode);
	else if (t2 - t < 0 || t2 - t > 1)
		tap_fail("%ld s from the time read before the switch", t2 - t);
	cmos_write(R_B, st.b0);
	tap_diag("rtc: B %#x: %s", r.b, raw_str(rb, sizeof(rb), &r));
	tap_diag("rtc: B %#x: %s", r2.b, raw_str(rb, sizeof(rb), &r2));
	tap_end("%s", name);
}

static void check_set(void)
{
	struct rtc_raw r;
	struct rtc_tm tm, want = {SET_YEAR, SET_MON, SET_MDAY, SET_HOUR, SET_MIN, SET_SEC, 0};
	char why[120], buf[24], rb[120];
	s64 t;

	st.set_t = unix_from_tm(&want);
	civil_from_unix(st.set_t, &want); /* the day of week */
	tap_begin();
	if (!rtc_now(&r, &tm, &st.before_set, why, sizeof(why))) {
		tap_fail("reading the time before: %s", why);
		tap_end("rtc: time set with SET=1 reads back");
		return;
	}
	st.cent0 = r.cent;
	rtc_set(st.set_t, st.b0, st.cent0);
	if (!rtc_now(&r, &tm, &t, why, sizeof(why))) {
		tap_fail("%s", why);
	} else {
		st.set_read = t;
		if (t < st.set_t || t > st.set_t + 1)
			tap_fail("read back %s, %ld s from what was written",
				 fmt_tm(buf, sizeof(buf), &tm), t - st.set_t);
		else if (tm.dow != want.dow)
			tap_fail("day of week %#x, %u written", r.dow, want.dow);
		else if (r.b != st.b0)
			tap_fail("register B %#x after SET=0, expected %#x", r.b, st.b0);
		else
			st.set_ok = true;
		tap_diag("rtc: set: %s", raw_str(rb, sizeof(rb), &r));
	}
	tap_end("rtc: time set with SET=1 (%s, %s) reads back within 1 s",
		fmt_tm(buf, sizeof(buf), &want), st.b0 & B_DM_BINARY ? "binary" : "BCD");
}

static void check_uie(void)
{
	u64 t0, deadline;
	u32 n;
	u8 c_after, c;
	char b1[24];

	cmos_write(R_A, st.a0 & A_DIVIDER); /* no periodic flag meanwhile: C stays 0 */
	log_reset();
	route_pin(true);
	cmos_read(R_C); /* stale flags: the line is low */
	t0 = rdtsc();
	cmos_write(R_B, st.b0 | B_UIE);
	deadline = t0 + ms_tsc(IRQ_WAIT_MS);
	wait_irqs(1, deadline);
	cmos_write(R_B, st.b0);
	route_pin(false);
	c_after = cmos_read(R_C);
	n = rtc_irq_log.count;
	cmos_write(R_A, st.a0);

	tap_begin();
	if (!n) {
		tap_fail("no interrupt within %s", fmt_s(b1, sizeof(b1), ms_tsc(IRQ_WAIT_MS)));
	} else {
		c = rtc_irq_log.c[0];
		st.uie_tsc = rtc_irq_log.tsc[0];
		if (st.uie_tsc - t0 > ms_tsc(UIE_WITHIN_MS))
			tap_fail("the interrupt came %s after UIE was set",
				 fmt_s(b1, sizeof(b1), st.uie_tsc - t0));
		if ((c & (C_UF | C_IRQF)) != (C_UF | C_IRQF))
			tap_fail("register C %#x in the handler, expected UF and IRQF (0x90)", c);
		if (c & C_PF)
			tap_fail("register C %#x in the handler: PF with the rate at 0", c);
		if (c_after)
			tap_fail("register C %#x after the handler read it, expected 0", c_after);
		tap_diag("rtc: update-ended interrupt %s after UIE was set; C %#x in the handler, "
			 "%#x after",
			 fmt_s(b1, sizeof(b1), st.uie_tsc - t0), c, c_after);
	}
	tap_end("rtc: update-ended interrupt (UIE) on IOAPIC pin 8 within 1.1 s; C has UF|IRQF, "
		"reading it clears it");
}

/*
 * Register A polled around an update, for UIP. Each read is timed by the
 * TSC before and after it; a read that took longer than the UIP window
 * (the vCPU stalled: host scheduling) may hide the window entirely.
 */
struct uip_obs {
	bool seen, cleared;
	u8 s0, s1; /* the seconds before the polling and after UIP cleared */
	u32 polls, uip_polls;
	u64 first1_a, last1_b; /* after the first and before the last read of UIP=1 */
	u64 last0_b, clear_a;  /* before the last 0 ahead of them, after the first 0 behind */
	u64 stall;	       /* the longest stretch no read sampled */
};

/*
 * Poll from TSC `from` until UIP went 1 -> 0 or TSC `until`; with
 * stop_after_2nd_irq, also 20 ms after the second periodic interrupt.
 */
static void poll_uip(struct uip_obs *o, u64 from, u64 until, bool stop_after_2nd_irq)
{
	u64 t2 = 0;

	memset(o, 0, sizeof(*o));
	while (rdtsc() < from && !(stop_after_2nd_irq && rtc_irq_log.count >= 2))
		cpu_relax();
	o->s0 = cmos_read(R_SEC);
	rtc_irq_log.index = R_A;
	barrier();
	outb(RTC_INDEX, R_A);
	for (u64 prev_b = 0;;) {
		u64 b = rdtsc(), a;
		u8 v = inb(RTC_DATA);

		a = rdtsc();
		o->polls++;
		/*
		 * The longest stretch that no read sampled: from the start of the
		 * previous read to the end of this one. It also covers what runs
		 * between two reads (the host descheduling the vCPU, or the RTC's
		 * own interrupt, whose handler is emulated code on some hosts and
		 * comes right at the update).
		 */
		if (a - (prev_b ? prev_b : b) > o->stall)
			o->stall = a - (prev_b ? prev_b : b);
		prev_b = b;
		if (v & A_UIP) {
			if (!o->seen)
				o->first1_a = a;
			o->last1_b = b;
			o->seen = true;
			o->uip_polls++;
		} else if (o->seen) {
			o->clear_a = a;
			o->cleared = true;
			o->s1 = cmos_read(R_SEC);
			return;
		} else {
			o->last0_b = b;
		}
		if (stop_after_2nd_irq && rtc_irq_log.count >= 2 && !t2)
			t2 = a;
		/* Missed: UIP comes again only a second later. */
		if (a > until || (t2 && a - t2 > ms_tsc(20)))
			return;
	}
}

static struct {
	struct uip_obs o;
	u64 update; /* TSC of the update polled for (predicted), 0: unknown */
	u64 rkhz;   /* the TSC's kHz by the RTC, 0: unknown */
	bool polled;
} uip;

/*
 * Periodic interrupts at 2 Hz: at least two within 1.2 s. They fall on the
 * half and the whole second, so the second one comes with an update:
 * register A is polled for UIP shortly before it.
 */
static void check_periodic(void)
{
	u64 t0, deadline, p1 = 0, p2 = 0;
	u32 n;
	u8 c_after;
	char b1[24], b2[24], b3[24];

	cmos_write(R_A, (st.a0 & A_DIVIDER) | A_RATE_2HZ);
	log_reset();
	route_pin(true);
	cmos_read(R_C);
	t0 = rdtsc();
	cmos_write(R_B, st.b0 | B_PIE);
	deadline = t0 + ms_tsc(IRQ_WAIT_MS);
	if (wait_irqs(1, deadline)) {
		u64 from = p1 = rtc_irq_log.tsc[0], until = deadline;

		/*
		 * The update-ended interrupt before this check came at a whole
		 * second, half a second before p1: that calibrates the TSC and
		 * predicts the update, half a second after p1; poll from 50 ms
		 * before it to 50 ms after. Without it, poll from p1 on.
		 */
		if (st.uie_tsc && p1 > st.uie_tsc && p1 - st.uie_tsc > ms_tsc(300) &&
		    p1 - st.uie_tsc < ms_tsc(700)) {
			rtc_khz = uip.rkhz = (p1 - st.uie_tsc) / 500;
			uip.update = p1 + (p1 - st.uie_tsc);
			from = uip.update - 50 * uip.rkhz;
			until = uip.update + 50 * uip.rkhz;
		}
		poll_uip(&uip.o, from, until, true);
		uip.polled = true;
		wait_irqs(2, deadline);
	}
	cmos_write(R_B, st.b0);
	route_pin(false);
	c_after = cmos_read(R_C);
	n = rtc_irq_log.count;
	cmos_write(R_A, st.a0);
	if (n >= 2)
		p2 = rtc_irq_log.tsc[1];

	tap_begin();
	if (n < 2) {
		tap_fail("%u interrupt(s) in %s", n, fmt_s(b1, sizeof(b1), ms_tsc(IRQ_WAIT_MS)));
	} else {
		if (p2 - t0 > ms_tsc(PIE_WITHIN_MS))
			tap_fail("the second interrupt came %s after PIE was set",
				 fmt_s(b1, sizeof(b1), p2 - t0));
		if (p2 - p1 < ms_tsc(300) || p2 - p1 > ms_tsc(800))
			tap_fail("interrupts %s apart, expected 0.5 s",
				 fmt_s(b1, sizeof(b1), p2 - p1));
		for (u32 i = 0; i < 2; i++)
			if ((rtc_irq_log.c[i] & (C_PF | C_IRQF)) != (C_PF | C_IRQF))
				tap_fail("register C %#x in handler %u, expected PF and IRQF",
					 rtc_irq_log.c[i], i + 1);
		if (c_after & (C_PF | C_IRQF))
			tap_fail("register C %#x after PIE was cleared", c_after);
		tap_diag("rtc: periodic interrupts %s and %s after PIE was set (%s apart), C %#x "
			 "and %#x",
			 fmt_s(b1, sizeof(b1), p1 - t0), fmt_s(b2, sizeof(b2), p2 - t0),
			 fmt_s(b3, sizeof(b3), p2 - p1), rtc_irq_log.c[0], rtc_irq_log.c[1]);
		if (uip.rkhz)
			tap_diag("rtc: the TSC runs at %lu MHz by the RTC; tsc_khz() says %lu MHz",
				 uip.rkhz / 1000, khz / 1000);
	}
	tap_end("rtc: periodic interrupt (PIE, rate 0xf = 2 Hz): 2 within 1.2 s, 0.5 s apart; C "
		"has PF|IRQF");
}

/*
 * UIP: seen set, for at most 1 ms (from the first read that saw it to
 * the last one: a lower bound, which a stall between reads cannot
 * inflate), and the seconds moved on once it cleared. A miss with a
 * stalled read (longer than the 244 us window) is retried once, at the
 * next update; a miss without one fails.
 */
static void check_uip(void)
{
	u64 k = uip.rkhz ? uip.rkhz : khz, win = 244 * k / 1000, stalls[2] = {0, 0};
	struct uip_obs *o = &uip.o;
	u32 v0, v1, attempts = 1;
	bool bcd = !(st.b0 & B_DM_BINARY), soft = false;

	tap_begin();
	if (!uip.polled) {
		tap_fail("no periodic interrupt to time the polling by");
		tap_end("rtc: UIP (register A bit 7) set just before the update, then the seconds "
			"moved on");
		return;
	}
	stalls[0] = o->stall;
	if (!o->seen && o->stall > win && uip.update) {
		uip.update += 1000 * uip.rkhz;
		poll_uip(o, uip.update - 50 * uip.rkhz, uip.update + 50 * uip.rkhz, false);
		stalls[1] = o->stall;
		attempts = 2;
	}
	if (o->seen) {
		u64 lo = o->last1_b > o->first1_a ? (o->last1_b - o->first1_a) * 1000 / k : 0;
		u64 hi = o->cleared && o->last0_b ? (o->clear_a - o->last0_b) * 1000 / k : 0;

		if (!o->cleared) {
			tap_fail("UIP still set after %u reads", o->uip_polls);
		} else if (!reg_value(o->s0, bcd, &v0) || !reg_value(o->s1, bcd, &v1) ||
			   v1 != (v0 + 1) % 60) {
			tap_fail("seconds %#x before UIP, %#x after it cleared", o->s0, o->s1);
		} else if (lo > 1000) {
			/* QEMU holds UIP until its update timer has run. */
			tap_fail("UIP read 1 for at least %lu us, expected 244", lo);
			soft = true;
		}
		tap_diag("rtc: UIP read 1 in %u of %u reads: set for %lu to %lu us; seconds %#x -> "
			 "%#x (attempt %u)",
			 o->uip_polls, o->polls, lo, hi, o->s0, o->s1, attempts);
	} else if (stalls[0] > win && (attempts == 1 || stalls[1] > win)) {
		char why[120];

		if (attempts == 2)
			snprintf(why, sizeof(why),
				 "UIP not seen: reads were %lu and %lu us apart (host scheduling or "
				 "an emulated interrupt) around two updates",
				 stalls[0] * 1000 / k, stalls[1] * 1000 / k);
		else
			snprintf(why, sizeof(why),
				 "UIP not seen: reads were %lu us apart (host scheduling or an "
				 "emulated interrupt) around the update",
				 stalls[0] * 1000 / k);
		tap_skip(why, "rtc: UIP (register A bit 7) set just before the update, then the "
			      "seconds moved on");
		return;
	} else {
		tap_fail("UIP never read 1 in %u reads of register A around the update (longest "
			 "gap between reads %lu us)",
			 o->polls, o->stall * 1000 / k);
	}
	tap_end_soft(soft ? lenient : NULL,
		     "rtc: UIP (register A bit 7) set just before the update, then the seconds "
		     "moved on");
}

/* The set time ran on; put the real time back: what was read, plus what elapsed. */
static void check_restore(void)
{
	struct rtc_raw r;
	struct rtc_tm tm;
	s64 t, elapsed = 0, back, t3;
	char why[120], buf[24];
	bool ran = false;

	tap_begin();
	if (!st.set_ok)
		tap_fail("the time was not set");
	if (!rtc_now(&r, &tm, &t, why, sizeof(why))) {
		tap_fail("%s", why);
	} else {
		elapsed = t - st.set_t;
		if (t <= st.set_read || elapsed < 1 || elapsed > 8)
			tap_fail("read %s: %ld s from the written time, %ld from the read-back",
				 fmt_tm(buf, sizeof(buf), &tm), elapsed, t - st.set_read);
		else
			ran = true;
	}
	if (!ran)
		elapsed = 2; /* about what the interrupt checks took */
	back = st.before_set + elapsed;
	rtc_set(back, st.b0, st.cent0);
	if (!rtc_now(&r, &tm, &t3, why, sizeof(why))) {
		tap_fail("after restoring: %s", why);
	} else {
		if (t3 < back || t3 > back + 1)
			tap_fail("restored to %ld, read %ld", back, t3);
		if (cfg.have_time && (t3 < (s64)cfg.time - 2 || t3 > (s64)cfg.time + 30))
			tap_fail("restored time %ld, %ld s from tg.time", t3, t3 - (s64)cfg.time);
		tap_diag("rtc: the set clock ran %ld s; restored to %s UTC (unix %ld)", elapsed,
			 fmt_tm(buf, sizeof(buf), &tm), t3);
	}
	tap_end("rtc: the set time ran on (%ld s across the updates); real time restored", elapsed);
}

static u32 cmos16(u8 idx)
{
	return cmos_read(idx) | (u32)cmos_read(idx + 1) << 8;
}

static void check_memory_fields(void)
{
	u64 mem = cfg.mem, low = low_ram_end(mem);
	u32 base = cmos16(CMOS_BASE_KIB), ext = cmos16(CMOS_EXT_KIB), ext2 = cmos16(CMOS_EXT_KIB2);
	u32 above16 = cmos16(CMOS_ABOVE_16M);
	u32 above4g = cmos16(CMOS_ABOVE_4G) | (u32)cmos_read(CMOS_ABOVE_4G + 2) << 16;
	u32 sum = 0, stored;
	u64 want_ext, want16, want4g;
	const char *name = "rtc: CMOS memory fields match tg.mem (0x15 base KiB, 0x17/0x30 KiB "
			   "above 1M, 0x34 and 0x5b 64K units above 16M and 4G)";

	tap_diag("rtc: CMOS base %u KiB, extended %u/%u KiB, above 16M %#x, above 4G %#x (64 KiB)",
		 base, ext, ext2, above16, above4g);
	if (!cfg.have_mem) {
		tap_skip("no tg.mem given", "%s", name);
	} else {
		want_ext = low > (1UL << 20) ? (low - (1UL << 20)) >> 10 : 0;
		want_ext = want_ext < 0xffff ? want_ext : 0xffff;
		want16 = low > (16UL << 20) ? (low - (16UL << 20)) >> 16 : 0;
		want16 = want16 < 0xffff ? want16 : 0xffff;
		want4g = (mem - low) >> 16;
		want4g = want4g < 0xffffff ? want4g : 0xffffff;
		tap_begin();
		if (base != 640)
			tap_fail("base memory %u KiB, expected 640", base);
		if (ext != want_ext || ext2 != want_ext)
			tap_fail("KiB above 1 MiB %u (0x17), %u (0x30), expected %lu", ext, ext2,
				 want_ext);
		if (above16 != want16)
			tap_fail("64 KiB units above 16 MiB %#x, expected %#lx", above16, want16);
		if (above4g != want4g)
			tap_fail("64 KiB units above 4 GiB %#x, expected %#lx", above4g, want4g);
		end("%s", name);
	}

	for (u8 i = 0x10; i < CMOS_CHECKSUM; i++)
		sum += cmos_read(i);
	stored = (u32)cmos_read(CMOS_CHECKSUM) << 8 | cmos_read(CMOS_CHECKSUM + 1);
	tap_begin();
	if (stored != (sum & 0xffff))
		tap_fail("0x2e/0x2f hold %#x, the sum of 0x10-0x2d is %#x", stored, sum & 0xffff);
	end("rtc: CMOS checksum at 0x2e/0x2f (big-endian) is the sum of 0x10-0x2d");
}

void run_rtc_checks(void)
{
	const char *how;
	u32 redir_lo, redir_hi;
	u64 t_start = rdtsc();
	char b1[24];
	static const char *const names[] = {
		"rtc: at boot register A 0x26, B 0x02",
		"rtc: ACPI description",
		"rtc: time read as Linux does",
		"rtc: day of week and century byte",
		"rtc: binary mode",
		"rtc: 12-hour mode",
		"rtc: time set with SET=1 reads back",
		"rtc: update-ended interrupt",
		"rtc: periodic interrupt",
		"rtc: UIP before the update",
		"rtc: the set time ran on; real time restored",
		"rtc: CMOS memory fields match tg.mem",
		"rtc: CMOS checksum",
	};

	lenient = tg_entry.protocol == 16 ? "the firmware's machine (protocol 16)" : NULL;
	khz = tsc_khz(&how);
	rtc_khz = 0;
	cent_idx = 0;
	/* As Linux: the FADT's CENTURY from revision 3 (ACPI 2.0) on. */
	if (tg_acpi_fadt && rd32(tg_acpi_fadt + 4) > FADT_CENTURY && rd8(tg_acpi_fadt + 8) >= 3) {
		cent_idx = rd8(tg_acpi_fadt + FADT_CENTURY);
		if (cent_idx < 0x0e || cent_idx > 0x7f)
			cent_idx = 0; /* not a CMOS RAM byte: ignore it */
	}
	memset(&st, 0, sizeof(st));
	if (!check_present()) {
		for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
			tap_skip("no RTC", "%s", names[i]);
		return;
	}
	check_acpi();
	check_time();
	check_format((u8)(st.b0 | B_DM_BINARY),
		     "rtc: register B DM=1 (binary) reads the same time in binary");
	check_format((u8)(st.b0 & ~B_24H),
		     "rtc: register B 24/12=0 reads the same time in 12-hour format (bit 7 = PM)");
	check_set();

	redir_lo = ioapic_read(REDIR_LO(RTC_PIN));
	redir_hi = ioapic_read(REDIR_LO(RTC_PIN) + 1);
	kcall(KREQ_IRQ_ON);
	check_uie();
	check_periodic();
	kcall(KREQ_IRQ_OFF);
	check_uip();
	ioapic_write(REDIR_LO(RTC_PIN) + 1, redir_hi);
	ioapic_write(REDIR_LO(RTC_PIN), redir_lo);

	check_restore();
	check_memory_fields();
	if (uip.rkhz)
		tap_diag("rtc: the RTC checks took %lu ms (TSC %lu MHz by the RTC)",
			 (rdtsc() - t_start) / uip.rkhz, uip.rkhz / 1000);
	else
		tap_diag("rtc: the RTC checks took %s (TSC %lu MHz, %s)",
			 fmt_s(b1, sizeof(b1), rdtsc() - t_start), khz / 1000, how);
}
