/* SPDX-License-Identifier: MIT */
/*
 * An MC146818-compatible CMOS real-time clock with 128 bytes of CMOS RAM,
 * at I/O ports 0x70 (index; bit 7 masks NMI) and 0x71 (data), on IRQ 8.
 *
 * Pure device logic: no ioctls, no file descriptors, no locking, no timer.
 * The owner serialises calls (one mutex) and connects two callbacks: the
 * interrupt line and the host's wall clock (CLOCK_REALTIME, UTC, in ns).
 *
 * Time: the guest's clock is the host's wall clock plus a whole number of
 * seconds (offset_s), so it keeps running while the VM is paused, saved or
 * migrated, and its second boundaries fall on the host's. A guest that sets
 * the time (SET=1, write the registers, SET=0) changes the offset only.
 *
 * Interrupts: the flags in register C are computed lazily, from the time of
 * the last evaluation to "now", at every data-port access and at
 * rtc_cmos_tick(). The owner makes the interrupts timely by arming a timer
 * for rtc_cmos_next_event_ns() and calling rtc_cmos_tick() when it expires.
 *
 * All state is in this plain struct so that it can be saved and restored;
 * ops and ctx are reconnected after a restore.
 */
#ifndef LMIG_DEVICES_RTC_CMOS_H
#define LMIG_DEVICES_RTC_CMOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTC_CMOS_PORT_BASE 0x70
#define RTC_CMOS_NR_PORTS 2 /* 0x70 index, 0x71 data */
#define RTC_CMOS_IRQ 8
#define RTC_CMOS_SIZE 128 /* bytes of CMOS, registers included; the index is masked to 7 bits */

/* CMOS indices: the clock (BCD or binary as register B's DM bit says). */
#define RTC_CMOS_SECONDS 0x00
#define RTC_CMOS_SECONDS_ALARM 0x01
#define RTC_CMOS_MINUTES 0x02
#define RTC_CMOS_MINUTES_ALARM 0x03
#define RTC_CMOS_HOURS 0x04 /* 0-23, or 1-12 with bit 7 = PM in 12-hour mode */
#define RTC_CMOS_HOURS_ALARM 0x05
#define RTC_CMOS_DAY_OF_WEEK 0x06 /* 1-7, Sunday = 1 */
#define RTC_CMOS_DAY_OF_MONTH 0x07
#define RTC_CMOS_MONTH 0x08
#define RTC_CMOS_YEAR 0x09 /* 0-99 */
#define RTC_CMOS_REG_A 0x0a
#define RTC_CMOS_REG_B 0x0b
#define RTC_CMOS_REG_C 0x0c   /* read-only, cleared by reading */
#define RTC_CMOS_REG_D 0x0d   /* read-only */
#define RTC_CMOS_CENTURY 0x32 /* the IBM PS/2 location; ACPI's FADT may name it */

/* An alarm byte with bits 7 and 6 set (0xc0-0xff) matches any value. */
#define RTC_CMOS_ALARM_DONT_CARE 0xc0

/* Register A */
#define RTC_CMOS_A_UIP 0x80	 /* update in progress: read-only */
#define RTC_CMOS_A_DIVIDER 0x70	 /* kept as written (0x20 = 32.768 kHz time base) */
#define RTC_CMOS_A_RATE 0x0f	 /* periodic interrupt rate select (0 = off) */
#define RTC_CMOS_A_POWER_ON 0x26 /* 32.768 kHz, 1024 Hz: what a PC BIOS leaves */

/* Register B */
#define RTC_CMOS_B_SET 0x80	  /* stop updates so that the guest can set the time */
#define RTC_CMOS_B_PIE 0x40	  /* periodic interrupt enable */
#define RTC_CMOS_B_AIE 0x20	  /* alarm interrupt enable */
#define RTC_CMOS_B_UIE 0x10	  /* update-ended interrupt enable */
#define RTC_CMOS_B_SQWE 0x08	  /* square wave enable: kept, no pin to drive */
#define RTC_CMOS_B_DM_BINARY 0x04 /* 1 = binary, 0 = BCD */
#define RTC_CMOS_B_24H 0x02	  /* 1 = 24-hour mode */
#define RTC_CMOS_B_DSE 0x01	  /* daylight saving enable: kept, not applied */
#define RTC_CMOS_B_POWER_ON RTC_CMOS_B_24H

/* Register C: IRQF = PF & PIE | AF & AIE | UF & UIE */
#define RTC_CMOS_C_IRQF 0x80
#define RTC_CMOS_C_PF 0x40
#define RTC_CMOS_C_AF 0x20
#define RTC_CMOS_C_UF 0x10

/* Register D: valid RAM and time (the battery is good), always set. */
#define RTC_CMOS_D_VRT 0x80

/*
 * Memory-size fields, little-endian, as a PC BIOS fills them. The model
 * fills them from rtc_cmos_init()'s arguments; guest writes to them are
 * ignored (they describe the machine, and the checksum at 0x2e covers
 * 0x15-0x18).
 */
#define RTC_CMOS_BASE_MEM_KIB 0x15     /* 2 bytes: KiB below 640 KiB */
#define RTC_CMOS_EXT_MEM_KIB 0x17      /* 2 bytes: KiB above 1 MiB, at most 0xffff */
#define RTC_CMOS_CHECKSUM 0x2e	       /* 2 bytes, big-endian: sum of 0x10-0x2d */
#define RTC_CMOS_EXT_MEM_KIB_COPY 0x30 /* 2 bytes: the same as 0x17 */
#define RTC_CMOS_MEM_ABOVE_16M 0x34    /* 2 bytes: 64 KiB units from 16 MiB to low_ram_end */
#define RTC_CMOS_MEM_ABOVE_4G 0x5b     /* 3 bytes: 64 KiB units above 4 GiB */

struct rtc_cmos_ops {
	/* IRQ 8 changed level (true = asserted); called only on a change. */
	void (*set_irq)(void *ctx, bool level);
	/*
	 * The host's wall clock: ns since the epoch, UTC (CLOCK_REALTIME).
	 * NULL means rtc_cmos_host_now_ns(). Tests inject a fixed time here.
	 */
	int64_t (*now_ns)(void *ctx);
};

struct rtc_cmos {
	uint8_t index;	   /* bits 0-6 of the last write to port 0x70 */
	bool nmi_disabled; /* bit 7 of that write: kept and read back, no effect */
	/*
	 * CMOS contents. Registers A, B and C hold their stored bits (A without
	 * UIP, C without IRQF: both are derived). The time registers hold the
	 * guest's image while SET=1 and are scratch space otherwise; when
	 * SET=0 the time is computed from the clock at each read.
	 */
	uint8_t ram[RTC_CMOS_SIZE];
	int64_t offset_s;   /* guest time minus host time, in seconds */
	uint8_t wday_delta; /* 0-6: the guest's day of week minus the date's */
	bool wday_written;  /* the guest wrote the day of week since SET went to 1 */
	int64_t last_ns;    /* host time up to which the flags in C are current */
	bool irq_level;	    /* the level last signalled */
	/* callbacks, not state: reconnected after a restore */
	const struct rtc_cmos_ops *ops;
	void *ctx;
};

/*
 * Power-on state: the clock at the host's time (UTC), register A 0x26,
 * B 0x02 (24-hour, BCD, no interrupts), C 0, D 0x80, the memory-size fields
 * from low_ram_end (RAM runs from 0 to there, a 640 KiB-1 MiB hole aside)
 * and high_ram_size (RAM from 4 GiB), the checksum at 0x2e over 0x10-0x2d,
 * every other byte 0. ops may be NULL. Reads the clock once.
 */
void rtc_cmos_init(struct rtc_cmos *rtc, const struct rtc_cmos_ops *ops, void *ctx,
		   uint64_t low_ram_end, uint64_t high_ram_size);

/*
 * Port access; port_offset is 0 (index) or 1 (data) from RTC_CMOS_PORT_BASE.
 * Reading the index port returns the index with the NMI bit. Other offsets
 * read 0xff and ignore writes.
 */
uint8_t rtc_cmos_read(struct rtc_cmos *rtc, unsigned int port_offset);
void rtc_cmos_write(struct rtc_cmos *rtc, unsigned int port_offset, uint8_t value);

/*
 * The next host time (ns, in the now_ns time base) at which an enabled
 * interrupt source fires, or 0 when none will: no source enabled, or the
 * line is already asserted (nothing can change until the guest reads C).
 * The answer changes with every data-port access and tick, so ask again
 * after each one. A time at or before the epoch is reported as 1.
 */
uint64_t rtc_cmos_next_event_ns(const struct rtc_cmos *rtc);

/* Bring the flags and the line up to date with the clock (call when the timer expires). */
void rtc_cmos_tick(struct rtc_cmos *rtc);

/* The default clock: clock_gettime(CLOCK_REALTIME) in ns; ctx is unused. */
int64_t rtc_cmos_host_now_ns(void *ctx);

/* ---- saved state (snapshot, migration) ---- */

#define RTC_CMOS_STATE_VERSION 1

/* |offset_s| a state may carry: about 34800 years, beyond any clock a guest can set. */
#define RTC_CMOS_STATE_MAX_OFFSET_S (1LL << 40)

/*
 * The device's state as a fixed-layout struct: fixed-width fields only, no
 * pointers, explicit padding, little-endian (the host's order: x86-64 only).
 *
 * Time across a restore: the clock is saved as offset_s, the guest's time
 * minus the host's wall clock (CLOCK_REALTIME, UTC), not as a date. After a
 * load the guest's RTC therefore follows the restoring host's wall clock:
 * it shows the time that passed while the VM was saved or in flight, as a
 * battery-backed RTC does across a power cut, and as QEMU's default
 * (-rtc base=utc,clock=host) does. A guest that set its RTC keeps its
 * offset. Migration between hosts assumes their wall clocks agree (NTP).
 * The alternative, the saved time continuing from the moment of the load,
 * is not offered: it needs a sub-second offset, while offset_s is whole
 * seconds so that update cycles fall on the host's second boundaries. An
 * owner that wants it can subtract the downtime's whole seconds from
 * offset_s before loading.
 *
 * last_ns is likewise host wall-clock time: the flags in register C are
 * current up to then. The first access or tick after a load sets the flags
 * for everything that happened since (an update, a periodic edge, an alarm
 * that fell in the gap), exactly as if the RTC had kept running. A last_ns
 * ahead of the new host's clock only delays new flags until the clock gets
 * there.
 */
struct rtc_cmos_state {
	uint32_t version;     /* RTC_CMOS_STATE_VERSION */
	uint8_t index;	      /* 0-127: the selected CMOS byte */
	uint8_t nmi_disabled; /* 0 or 1: bit 7 of the last index write */
	uint8_t wday_delta;   /* 0-6 */
	uint8_t wday_written; /* 0 or 1 */
	uint8_t irq_level;    /* 0 or 1: the level last signalled through set_irq */
	uint8_t reserved[7];  /* zero */
	int64_t offset_s;     /* guest time minus host wall clock, s; |offset_s| <= 2^40 */
	int64_t last_ns;      /* host wall-clock ns up to which register C is current */
	/* CMOS as struct rtc_cmos keeps it: A without UIP, C without IRQF. */
	uint8_t ram[RTC_CMOS_SIZE];
};
_Static_assert(sizeof(struct rtc_cmos_state) == 160, "rtc_cmos_state layout changed");
_Static_assert(offsetof(struct rtc_cmos_state, offset_s) == 16, "rtc_cmos_state layout");
_Static_assert(offsetof(struct rtc_cmos_state, ram) == 32, "rtc_cmos_state layout");

/* Fill *out (every byte, reserved ones zeroed). Reads no clock; changes nothing. */
void rtc_cmos_save(const struct rtc_cmos *rtc, struct rtc_cmos_state *out);

/*
 * Replace the device's state with *in, which may come from an untrusted
 * file. Returns 0, or -EINVAL with a message naming the field in err (if err
 * is not NULL; at most errlen bytes, terminated), and then the device is
 * untouched and no callback has run. Refused: another version; nonzero
 * reserved bytes; index > 127; flags that are not 0/1; wday_written
 * without SET; wday_delta > 6; |offset_s| > RTC_CMOS_STATE_MAX_OFFSET_S
 * (which also keeps the clock arithmetic from overflowing); bits the model
 * never stores (UIP in A, IRQF or bits 0-3 in C, D other than 0x80);
 * memory-size bytes (0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5b-0x5d) that
 * differ from the ones this device was initialised with (a machine with
 * another RAM size); an irq_level other than what registers B and C imply.
 *
 * ops and ctx are the device's own (from rtc_cmos_init()), not restored.
 * Load reads no clock.
 *
 * After a successful load the owner must:
 * - nothing for the line: load calls ops->set_irq once if the restored
 *   level differs from the level this device last signalled (into a fresh
 *   device: exactly when the saved line was high). Restore the IOAPIC
 *   first; its saved IRR already has the pin asserted.
 * - re-arm its timer from rtc_cmos_next_event_ns(), which may now lie in
 *   the past (then fire at once: rtc_cmos_tick() brings the flags and the
 *   line up to date with the time that passed).
 */
int rtc_cmos_load(struct rtc_cmos *rtc, const struct rtc_cmos_state *in, char *err, size_t errlen);

#endif
