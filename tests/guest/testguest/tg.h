/* SPDX-License-Identifier: MIT */
/*
 * The lmigtester test guest: definitions shared by the CPL0 set-up code
 * (kernel.c, head.S, trap.S, ap.S) and the CPL3 checks (user.c, checks.c, acpi.c, lib.c).
 *
 * Everything is identity-mapped with the U bit set, so CPL3 code reads
 * boot_params, the command line, the e820 map and the initrd directly, and
 * both privilege levels share the variables declared here.
 */
#ifndef TG_H
#define TG_H

/* Offsets used from assembly come first; the C part is guarded. */

/* Our own GDT (head.S): selectors. */
#define TG_KCODE 0x08
#define TG_KDATA 0x10
#define TG_UDATA 0x1b /* 0x18 | RPL 3 */
#define TG_UCODE 0x23 /* 0x20 | RPL 3 */
#define TG_TSS 0x28

/* Where the loader puts us: code32_start and the 64-bit entry. */
#define TG_LOAD_ADDR 0x100000
#define TG_ENTRY64_OFFSET 0x200

/* EAX marker the real-mode stub (setup.S) hands to startup_32: "TGRM". */
#define TG_RM_MARKER 0x4d524754

/* The setup header: boot_params/image offsets [0x1f1, 0x26c). */
#define TG_HDR_START 0x1f1
#define TG_HDR_END 0x26c

/* ---- boot_params (Linux "zero page") field offsets ---- */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_SYSSIZE 0x1f4
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_CODE32_START 0x214
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_HARDWARE_SUBARCH 0x23c
#define BP_SETUP_DATA 0x250
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

/* Page directories for RAM above 4 GiB: the guest maps up to 4 + this GiB. */
#define TG_HIGH_GIB 60

/*
 * SMP (smp.c, ap.S): per-CPU areas are indexed by the local APIC ID (xAPIC:
 * 8 bits). Each AP gets TG_AP_AREA bytes: its CPL3 stack in the lower
 * TG_AP_USTACK bytes, its CPL0 stack (and #DF stack) above. Our GDT holds,
 * after the boot CPU's TSS at 0x28, one TSS descriptor per APIC ID: the AP
 * with APIC ID i loads TG_AP_TSS_SEL(i).
 */
#define TG_MAX_CPUS 256
#define TG_AP_AREA 8192
#define TG_AP_AREA_SHIFT 13
#define TG_AP_USTACK 4096
#define TG_AP_TSS_SEL0 0x38
#define TG_AP_TSS_SEL(i) (TG_AP_TSS_SEL0 + 16 * (i))
#define TG_LAPIC_BASE 0xfee00000
#define TG_LAPIC_ID_REG 0xfee00020

/* Interrupt vectors. */
#define TG_VEC_UART 0x30
#define TG_VEC_RTC 0x31 /* IOAPIC pin 8: the CMOS RTC (rtc.c) */
#define TG_VEC_SPURIOUS 0xff
/* virtio-mmio devices (virtio.c): slot i's IOAPIC pin goes to vector TG_VEC_VIRTIO + i. */
#define TG_VEC_VIRTIO 0x40
#define TG_VIRTIO_SLOTS 8

/* struct tg_entry offsets (head.S stores into it before anything else). */
#define ES_RAX 0x00
#define ES_RBX 0x08
#define ES_RCX 0x10
#define ES_RDX 0x18
#define ES_RSI 0x20
#define ES_RDI 0x28
#define ES_RBP 0x30
#define ES_RSP 0x38
#define ES_R8 0x40
#define ES_R9 0x48
#define ES_R10 0x50
#define ES_R11 0x58
#define ES_R12 0x60
#define ES_R13 0x68
#define ES_R14 0x70
#define ES_R15 0x78
#define ES_RFLAGS 0x80
#define ES_CR0 0x88
#define ES_CR3 0x90
#define ES_CR4 0x98
#define ES_EFER 0xa0
#define ES_CS 0xa8
#define ES_DS 0xaa
#define ES_ES 0xac
#define ES_SS 0xae
#define ES_FS 0xb0
#define ES_GS 0xb2
#define ES_GDTR 0xb6 /* 2-byte limit, then the base (4 bytes in 32-bit mode, 8 in 64) */
#define ES_IDTR 0xc6
#define ES_PROTOCOL 0xd0
#define ES_SIZE 0xd8

#ifndef __ASSEMBLER__

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STATIC_ASSERT(c) _Static_assert(c, #c)

/* The CPU state the loader handed over, saved by the first instructions. */
struct tg_entry {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 rflags, cr0, cr3, cr4, efer;
	u16 cs, ds, es, ss, fs, gs;
	u16 pad0, gdt_limit;
	u64 gdt_base;
	u16 pad1[3], idt_limit;
	u64 idt_base;
	u32 protocol; /* 16 (real-mode stub), 32 or 64 */
	u32 pad2;
} __attribute__((packed));
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, rflags) == ES_RFLAGS);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, efer) == ES_EFER);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, cs) == ES_CS);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, gs) == ES_GS);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, gdt_limit) == ES_GDTR);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, idt_limit) == ES_IDTR);
STATIC_ASSERT(__builtin_offsetof(struct tg_entry, protocol) == ES_PROTOCOL);
STATIC_ASSERT(sizeof(struct tg_entry) == ES_SIZE);

extern struct tg_entry tg_entry;

/* Linker-script symbols. */
extern char _start[], _end[], __bss_start[], __bss_end[];
extern char user_stack_top[];
/* Copy of the image's setup header, filled in by mkimage.py. */
extern const u8 tg_image_hdr[];

/* Our page tables and GDT (head.S). */
extern u64 tg_pml4[512], tg_pdpt[512];
extern u64 tg_gdt[];
/* Top of what our page tables map: 4 GiB, more once map_high_ram() ran. */
extern u64 tg_mapped_limit;
void map_high_ram(u64 top);

#define E820_RAM 1
#define E820_RESERVED 2

struct e820_entry {
	u64 addr, size;
	u32 type;
} __attribute__((packed));

/* ---- port and MMIO access ---- */
static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u8 rd8(u64 a)
{
	return *(volatile u8 *)a;
}
static inline u16 rd16(u64 a)
{
	return *(volatile u16 *)a;
}
static inline u32 rd32(u64 a)
{
	return *(volatile u32 *)a;
}
static inline u64 rd64(u64 a)
{
	return *(volatile u64 *)a;
}
static inline void wr8(u64 a, u8 v)
{
	*(volatile u8 *)a = v;
}
static inline void wr16(u64 a, u16 v)
{
	*(volatile u16 *)a = v;
}
static inline void wr32(u64 a, u32 v)
{
	*(volatile u32 *)a = v;
}
static inline void wr64(u64 a, u64 v)
{
	*(volatile u64 *)a = v;
}
#define barrier() __asm__ volatile("" : : : "memory")

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

/* ---- COM1 ---- */
#define COM1 0x3f8
#define UART_RBR 0
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

/* ---- receive ring: the CPL0 interrupt handler fills it, CPL3 drains it ---- */
#define RX_RING_SIZE 65536 /* power of two */
struct rx_ring {
	volatile u32 head;	/* written by the producer (CPL0 IRQ handler) */
	volatile u32 tail;	/* written by the consumer (CPL3) */
	volatile u32 throttled; /* producer cleared IER (ring full or budget spent) */
	volatile u32 irqs;	/* UART interrupts taken */
};
extern struct rx_ring rx_ring;
extern u8 rx_buf[RX_RING_SIZE];

/* ---- CPL3 -> CPL0 requests: set kreq, execute ud2 (see kernel.c) ---- */
enum kreq_code {
	KREQ_NONE,
	KREQ_TRIPLE_FAULT, /* end the VM by a triple fault */
	KREQ_ECHO_SETUP,   /* LAPIC, IOAPIC pin 4, UART IER=RDA, then IF=1 at CPL3 */
	KREQ_WAIT,	   /* sti; hlt until an interrupt, unless the ring has data */
	KREQ_FLUSH_TLB,	   /* reload CR3 after CPL3 changed the page tables */
	KREQ_IRQ_ON,	   /* enable the LAPIC (TPR 0, SVR), then IF=1 at CPL3 */
	KREQ_IRQ_OFF,	   /* IF=0 at CPL3 again */
};
struct kreq {
	volatile u32 code;
	volatile u32 done;
};
extern struct kreq kreq;
void kcall(enum kreq_code code);

/* An expected fault at CPL3: the handler resumes at `resume` and records it. */
struct fault_probe {
	volatile u64 resume;
	volatile u32 armed;
	volatile u32 vec;
	volatile u64 err, cs, rip;
};
extern struct fault_probe fault_probe;

/*
 * The RTC's interrupts (vector TG_VEC_RTC): the CPL0 handler reads register
 * C (which lowers IRQ 8), logs what it read and when, and selects `index`
 * in port 0x70 again: CPL3 stores each index it selects there first, so an
 * interrupt between its index write and its data access does no harm.
 */
#define RTC_IRQ_LOG 16
struct rtc_irq_log {
	volatile u32 count;	       /* interrupts taken */
	volatile u8 index;	       /* the CMOS index CPL3 last selected */
	volatile u8 c[RTC_IRQ_LOG];    /* register C as the handler read it */
	volatile u64 tsc[RTC_IRQ_LOG]; /* TSC at the handler */
};
extern struct rtc_irq_log rtc_irq_log;

/*
 * virtio-mmio interrupts (virtio.c routes the pins): the CPL0 handler of
 * slot i reads InterruptStatus at base[i] + 0x60, writes it back to
 * InterruptACK (+0x64), which lowers the device's line (the pins are
 * edge-triggered), ORs it into isr[i] and counts. base[i] 0: no device.
 */
struct vio_irq {
	volatile u64 base[TG_VIRTIO_SLOTS];
	volatile u32 count[TG_VIRTIO_SLOTS];
	volatile u32 isr[TG_VIRTIO_SLOTS];
};
extern struct vio_irq vio_irq;

/* ---- lib.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

typedef __builtin_va_list va_list;
#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void uart_init(void);
void uart_write(const char *s, size_t n);
void uart_putc(char c);
void uart_puts(const char *s);
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void crc32_init(void);
u32 crc32(u32 crc, const void *p, size_t n);

/* ---- user.c / checks.c (CPL3) ---- */
void idt_fill(void); /* kernel.c, but run at CPL3 */
void user_main(void) __attribute__((noreturn));

enum tg_mode {
	MODE_BOOT,
	MODE_ECHO,
	MODE_REBOOT,
	MODE_TRIPLEFAULT,
	MODE_POKE,
	MODE_POWEROFF,
	MODE_VIRTIO,
	MODE_VIRTIO_HOSTILE,
	MODE_VIRTIO_BENCH,
};

struct tg_config {
	enum tg_mode mode;
	u32 protocol; /* 0: not given */
	u32 cpus;     /* tg.cpus: expected vCPU count, 0: not given */
	bool have_mem, have_initrd_size, have_initrd_crc, have_loader, have_time;
	u64 mem;
	u64 time; /* tg.time: the host's time at launch, unix seconds */
	u64 initrd_size;
	u32 initrd_crc;
	u32 loader;
	/* virtio (virtio.c, vdev.c, vhostile.c) */
	bool have_blk_sectors, have_blk_seed, blk_ro;
	u64 blk_sectors, blk_seed, blk_start, blk_count;
	char blk_serial[24]; /* empty: not given */
	u32 net_ip, net_peer; /* host byte order: 10.0.2.15 is 0x0a00020f */
	u32 net_pings;
	u64 vcon_seed;
	u32 vcon_echo;
	char error[160]; /* first command-line problem, empty if none */
};
extern struct tg_config cfg;

void tap_begin(void);
void tap_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the result line of the current test; returns true if it passed. */
bool tap_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * As tap_end(), but when `why` is not NULL a failure is reported as a SKIP
 * ("why: reason"): for checks of what lmigtester provides, run under a
 * firmware that provides something else. Returns true only if it passed.
 */
bool tap_end_soft(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int tap_count, tap_failures;

const char *tg_cmdline(void);
void run_boot_checks(void);
void run_poke_checks(void);
/* The e820, command-line and CPL3 checks alone (the virtio modes). */
void run_base_checks(void);
/* The end of the RAM that holds the guest image (e820; after check_e820()). */
u64 e820_ram_end_at(u64 a);
u64 low_ram_end(u64 mem);
bool e820_overlaps_ram(u64 a, u64 len);
bool e820_is_ram(u64 a, u64 len); /* inside RAM (adjacent RAM entries merged) */

/* acpi.c */
void run_acpi_checks(void);
/* The FADT and DSDT the checks found (0: none), for rtc.c. */
extern u64 tg_acpi_fadt, tg_acpi_dsdt;
/* The enabled Local APIC (and x2APIC) entries of the MADT, in table order. */
extern u32 tg_madt_ids[TG_MAX_CPUS];
extern unsigned int tg_madt_ncpus;
extern bool tg_madt_found;

/* ---- SMP (smp.c: the boot CPU's side at CPL3, the APs' CPL3 code) ---- */
/*
 * What each AP reports, indexed by its APIC ID. The AP writes it (CPL0
 * in ap_kmain(), CPL3 in ap_user_main(), and trap() for the CR0 probe);
 * the boot CPU zeroes the entries of the APs it starts, then reads them.
 */
struct tg_cpu {
	volatile u32 arrived;	    /* ap_kmain(): APIC ID + 1 */
	volatile u32 cpl3_gp;	    /* trap(): the CPL3 CR0 probe raised #GP */
	volatile u64 cpl3_gp_cs;    /* the CS of that #GP's frame */
	volatile u64 arrive_tsc;    /* TSC when it reported in */
	volatile u64 loop_cycles;   /* TSC cycles of the CPL3 loop */
	volatile u64 loop_result;   /* what the CPL3 loop computed */
	volatile u32 user_done;	    /* the CPL3 code finished, parking next */
	volatile u32 pad;
};
struct tg_smp {
	volatile u32 arrived;		   /* lock xadd by each AP */
	volatile u32 order[TG_MAX_CPUS];   /* APIC ID + 1 of the k-th arrival */
};
extern struct tg_cpu tg_cpus[TG_MAX_CPUS];
extern struct tg_smp tg_smp;
extern u8 tg_ap_stacks[TG_MAX_CPUS][TG_AP_AREA];
extern const char tg_ap_cr0_probe[], tg_ap_park_ud2[];
void run_smp_checks(void);
/* The TSC frequency in kHz (CPUID's, or 3 GHz assumed) and where it came from. */
u64 tsc_khz(const char **how);

/* virtio.c, vdev.c, vhostile.c: the virtio modes */
void run_virtio_checks(bool hostile);

/* vbench.c: tg.mode=virtio-bench. vbench_option(): 1 a tg.vb_* (or tg.tsc_khz)
 * option taken, 0 not one of them, -1 a bad value (err says why). */
int vbench_option(const char *key, size_t kn, const char *val, size_t vn, char *err, size_t en);
void run_vbench(void);

/* rtc.c: the CMOS RTC and the CMOS memory-size fields */
void run_rtc_checks(void);
void ap_user_main(u64 apic_id) __attribute__((noreturn));
/* The AP loop's arithmetic (a 64-bit LCG), for the boot CPU to verify. */
#define TG_AP_LOOP 1000000
static inline u64 tg_lcg(u64 x)
{
	return x * 6364136223846793005UL + 1442695040888963407UL;
}
/* Power off through ACPI S5; returns only if the VM still runs, with why. */
void acpi_poweroff(char *why, size_t n);

/* ---- endings ---- */
void vm_reset(void) __attribute__((noreturn));
void vm_fail(void) __attribute__((noreturn));

/* Boot params accessors (boot_params address from the entry registers). */
extern u64 bp_addr;
static inline u8 bp8(u32 off)
{
	return rd8(bp_addr + off);
}
static inline u16 bp16(u32 off)
{
	return rd16(bp_addr + off);
}
static inline u32 bp32(u32 off)
{
	return rd32(bp_addr + off);
}
static inline u64 bp64(u32 off)
{
	return rd64(bp_addr + off);
}

#endif /* __ASSEMBLER__ */
#endif
