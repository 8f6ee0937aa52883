/* SPDX-License-Identifier: MIT */
/*
 * The CPL0 part of the test guest. On hosts where KVM emulates guest kernel
 * code (see docs/testguest.md) every instruction here costs ~0.5 us, so
 * this file only sets the machine up, takes interrupts and exceptions, and
 * serves a few requests from CPL3; the checks themselves run at CPL3.
 *
 * CPL3 asks for CPL0 services with `ud2` after setting kreq.code: the #UD
 * handler recognises the request, serves it and resumes after the ud2.
 * (syscall and int $0x80 from CPL3 do not work on such hosts.)
 */
#include "tg.h"

struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vec, err;
	u64 rip, cs, rflags, rsp, ss;
};

struct idt_gate {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, zero;
} __attribute__((packed));

/*
 * The TSS with a full I/O permission bitmap, all zeros: every port is open
 * to CPL3. EFLAGS.IOPL=3 would do the same, but on hosts whose KVM emulates
 * the guest kernel the IOPL does not survive the return to CPL3 (the frame
 * of the next #GP shows IOPL 0), while KVM's emulation of a CPL3 in/out
 * does consult this bitmap. The byte after the bitmap must be all ones.
 */
struct tss {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3, iomap_base;
	u8 iomap[65536 / 8];
	u8 iomap_end;
} __attribute__((packed));

extern u64 tg_gdt[];
extern const u64 tg_vectors[];
extern char boot_stack_top[], df_stack_top[];

struct kreq kreq;
struct fault_probe fault_probe;
struct rx_ring rx_ring;
struct rtc_irq_log rtc_irq_log;
struct vio_irq vio_irq;
u8 rx_buf[RX_RING_SIZE] __attribute__((section(".noinit")));

/* Filled by idt_fill() at CPL3, so neither zeroed nor loaded. */
static struct idt_gate idt[256] __attribute__((aligned(16), section(".noinit")));
/* In .data, not .bss: zeroing 8 KiB at CPL0 costs more than loading it. */
static struct tss tss __attribute__((aligned(16), section(".data.tss"))) = {
	.rsp = {(u64)boot_stack_top},
	.ist = {(u64)df_stack_top}, /* IST1: #DF */
	.iomap_base = __builtin_offsetof(struct tss, iomap),
	.iomap_end = 0xff,
};
static u64 lapic_base;

void kmain(void) __attribute__((noreturn));
void trap(struct trap_frame *f);
void enter_user(u64 rip, u64 rsp, u64 arg) __attribute__((noreturn));
void ap_kmain(u32 apic_id) __attribute__((noreturn));
void ap_park(void) __attribute__((noreturn));
void wait_for_interrupt(void);
extern const char tg_hlt[];

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (u64)hi << 32 | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static void set_gate(unsigned int vec, u64 handler, u8 ist)
{
	struct idt_gate *g = &idt[vec];

	g->off0 = (u16)handler;
	g->sel = TG_KCODE;
	g->ist = ist;
	g->type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->off1 = (u16)(handler >> 16);
	g->off2 = (u32)(handler >> 32);
}

/*
 * The IDT lives in user-writable memory like everything else, so CPL3
 * writes its gates natively (idt_fill(), the first thing user_main() does)
 * instead of ~500 emulated instructions here. Until then nothing may
 * interrupt or fault: the 8259 is masked, the LAPIC still software-disabled.
 */
const struct {
	u16 limit;
	u64 base;
} __attribute__((packed)) tg_idt_ptr = {sizeof(idt) - 1, (u64)idt}; /* the APs load it too */

static void idt_load(void)
{
	__asm__ volatile("lidt %0" : : "m"(tg_idt_ptr));
}

void idt_fill(void)
{
	memset(idt, 0, sizeof(idt));
	for (unsigned int v = 0; v < 32; v++)
		set_gate(v, tg_vectors[v], v == 8 ? 1 : 0); /* #DF on its own stack */
	set_gate(TG_VEC_UART, tg_vectors[32], 0);
	set_gate(TG_VEC_SPURIOUS, tg_vectors[33], 0);
	set_gate(TG_VEC_RTC, tg_vectors[34], 0);
	for (unsigned int i = 0; i < TG_VIRTIO_SLOTS; i++)
		set_gate(TG_VEC_VIRTIO + i, tg_vectors[35 + i], 0);
}

static void tss_load(void)
{
	u64 base = (u64)&tss;

	tg_gdt[5] = (sizeof(tss) - 1) | (base & 0xffffff) << 16 | 0x89ULL << 40 |
		    ((base >> 24) & 0xff) << 56;
	tg_gdt[6] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(TG_TSS));
}

void kmain(void)
{
	idt_load();
	tss_load();
	/*
	 * Mask a legacy 8259 if there is one (QEMU; lmigtester has none): on
	 * hosts whose KVM emulates kernel code, CPL3 always runs with IF=1.
	 */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	enter_user((u64)user_main, (u64)user_stack_top, 0);
}

/*
 * An application processor, started by INIT-SIPI-SIPI (smp.c). The
 * trampoline (ap.S) brought it from real mode to long mode on our page
 * tables, and tg_ap_entry64 loaded our GDT, its own TSS, our IDT and its
 * CPL0 stack. Here it enables its local APIC, reports in and drops to
 * CPL3; ap_user_main() ends with a ud2 that trap() turns into ap_park().
 * About 50 instructions: this runs emulated on some hosts.
 */
void ap_kmain(u32 apic_id)
{
	struct tg_cpu *c = &tg_cpus[apic_id];
	u32 k;

	wr32(TG_LAPIC_BASE + 0xf0, 0x100 | TG_VEC_SPURIOUS); /* SVR: software-enable */
	c->arrive_tsc = rdtsc();
	c->arrived = apic_id + 1;
	k = __atomic_fetch_add(&tg_smp.arrived, 1, __ATOMIC_SEQ_CST); /* lock xadd */
	if (k < TG_MAX_CPUS)
		tg_smp.order[k] = apic_id + 1;
	enter_user((u64)ap_user_main, (u64)tg_ap_stacks[apic_id] + TG_AP_USTACK, apic_id);
}

/* ---- ending the VM ---- */

static void triple_fault(void) __attribute__((noreturn));
static void triple_fault(void)
{
	static const struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) none = {0, 0};

	/* With no IDT, the #UD becomes #GP, then #DF, then a triple fault. */
	__asm__ volatile("lidt %0; ud2" : : "m"(none));
	for (;;)
		;
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF",  "#BR", "#UD", "#NM", "#DF", "#MF(9)", "#TS",
	"#NP", "#SS", "#GP", "#PF", "(15)", "#MF", "#AC", "#MC", "#XM", "#VE",	  "#CP",
};

static void bail(struct trap_frame *f) __attribute__((noreturn));
static void bail(struct trap_frame *f)
{
	u64 cr2;
	const char *name = f->vec < 32 && exc_names[f->vec] ? exc_names[f->vec] : "interrupt";

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	print("Bail out! unexpected %s (vector %lu) at rip %#lx cs %#lx rflags %#lx err %#lx "
	      "cr2 %#lx rsp %#lx\n",
	      name, f->vec, f->rip, f->cs, f->rflags, f->err, cr2, f->rsp);
	print("tg: result fail\n");
	outb(0xf4, 1); /* QEMU isa-debug-exit; unclaimed (dropped) on lmigtester */
	triple_fault();
}

/* ---- interrupts ---- */

static void lapic_eoi(void)
{
	wr32(lapic_base + 0xb0, 0);
}

/*
 * COM1 receive interrupt: move the bytes the UART holds into the ring. The
 * IOAPIC pin is edge-triggered, so the line must be seen low again or no
 * further interrupt comes: either the FIFO is drained (DR clear), or IER is
 * cleared. IER is cleared, and `throttled` set, when the ring is full and
 * also after RX_IRQ_BUDGET bytes, so that a host that refills the FIFO as
 * fast as it is read cannot keep CPL3 from running; the reader sets IER
 * again, which raises the line (and an edge) if data is still waiting.
 */
#define RX_IRQ_BUDGET 256

static void uart_irq(void)
{
	rx_ring.irqs++;
	for (int n = 0;; n++) {
		u8 lsr = inb(COM1 + UART_LSR);
		u32 head = rx_ring.head;

		if (lsr == 0xff || !(lsr & UART_LSR_DR))
			break;
		if (n == RX_IRQ_BUDGET || head - rx_ring.tail >= RX_RING_SIZE) {
			outb(COM1 + UART_IER, 0);
			rx_ring.throttled = 1;
			break;
		}
		rx_buf[head & (RX_RING_SIZE - 1)] = inb(COM1 + UART_RBR);
		barrier();
		rx_ring.head = head + 1;
	}
}

/*
 * The CMOS RTC's interrupt (rtc.c): reading register C clears its flags and
 * lowers IRQ 8, so the next event gives the edge-triggered pin a new edge.
 * Then the index CPL3 had selected goes back into port 0x70.
 */
static void rtc_irq(void)
{
	u32 n = rtc_irq_log.count;
	u8 c;

	outb(0x70, 0x0c);
	c = inb(0x71);
	outb(0x70, rtc_irq_log.index);
	if (n < RTC_IRQ_LOG) {
		rtc_irq_log.c[n] = c;
		rtc_irq_log.tsc[n] = rdtsc();
	}
	rtc_irq_log.count = n + 1;
}

/*
 * A virtio-mmio device's interrupt: acknowledge what InterruptStatus says,
 * which lowers the device's line, so its next interrupt is a new edge.
 */
static void virtio_irq(unsigned int slot)
{
	u64 base = vio_irq.base[slot];
	u32 st;

	if (!base)
		return;
	st = rd32(base + 0x60);
	wr32(base + 0x64, st);
	vio_irq.isr[slot] |= st;
	vio_irq.count[slot]++;
}

/* Enable this CPU's local APIC and let it accept every vector. */
static void lapic_setup(void)
{
	u64 msr = rdmsr(0x1b); /* IA32_APIC_BASE */

	if (!(msr & (1 << 11)))
		wrmsr(0x1b, msr | (1 << 11));
	lapic_base = msr & 0x000ffffffffff000UL;
	wr32(lapic_base + 0x80, 0);			  /* TPR: accept everything */
	wr32(lapic_base + 0xf0, 0x100 | TG_VEC_SPURIOUS); /* SVR: software-enable */
}

static void echo_setup(void)
{
	u32 apic_id;
	const u64 ioapic = 0xfec00000;

	lapic_setup();
	apic_id = rd32(lapic_base + 0x20) >> 24;
	/* IOAPIC pin 4: fixed, physical destination, edge, active high, unmasked. */
	wr32(ioapic, 0x19);
	wr32(ioapic + 0x10, apic_id << 24);
	wr32(ioapic, 0x18);
	wr32(ioapic + 0x10, TG_VEC_UART);
	outb(COM1 + UART_IER, 0x01); /* received data available */
	uart_irq();		     /* what arrived before IER was set */
}

static void serve(struct trap_frame *f)
{
	switch (kreq.code) {
	case KREQ_TRIPLE_FAULT:
		triple_fault();
	case KREQ_ECHO_SETUP:
		echo_setup();
		f->rflags |= 0x200; /* CPL3 runs with interrupts on from now on */
		break;
	case KREQ_IRQ_ON:
		lapic_setup();
		f->rflags |= 0x200;
		break;
	case KREQ_IRQ_OFF:
		f->rflags &= ~0x200UL;
		break;
	case KREQ_FLUSH_TLB:
		__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" : : : "rax", "memory");
		break;
	case KREQ_WAIT:
		/* IF is 0 here, so no byte can slip in between the test and hlt. */
		if (rx_ring.head == rx_ring.tail)
			wait_for_interrupt();
		break;
	default:
		bail(f);
	}
	kreq.done++;
	kreq.code = KREQ_NONE;
}

void trap(struct trap_frame *f)
{
	if (f->vec >= 32 && f->rip == (u64)tg_hlt)
		f->rip++; /* interrupted before the hlt: do not halt after it */
	if (f->vec == TG_VEC_UART) {
		uart_irq();
		lapic_eoi();
		return;
	}
	if (f->vec == TG_VEC_RTC) {
		rtc_irq();
		lapic_eoi();
		return;
	}
	if (f->vec >= TG_VEC_VIRTIO && f->vec < TG_VEC_VIRTIO + TG_VIRTIO_SLOTS) {
		virtio_irq((unsigned int)(f->vec - TG_VEC_VIRTIO));
		lapic_eoi();
		return;
	}
	if (f->vec == TG_VEC_SPURIOUS)
		return;
	if ((f->cs & 3) == 3) {
		/* An AP's CPL3 code (smp.c): its CR0 probe, then its way out. */
		if (f->vec == 13 && f->rip == (u64)tg_ap_cr0_probe && f->rdi >= (u64)tg_cpus &&
		    f->rdi < (u64)(tg_cpus + TG_MAX_CPUS)) {
			struct tg_cpu *c = (struct tg_cpu *)f->rdi;

			c->cpl3_gp_cs = f->cs;
			c->cpl3_gp = 1;
			f->rip += 3; /* mov %cr0, %rax */
			return;
		}
		if (f->vec == 6 && f->rip == (u64)tg_ap_park_ud2)
			ap_park();
		if (f->vec == 6 && kreq.code != KREQ_NONE && rd16(f->rip) == 0x0b0f) {
			serve(f);
			f->rip += 2;
			return;
		}
		if (fault_probe.armed) {
			fault_probe.armed = 0;
			fault_probe.vec = (u32)f->vec;
			fault_probe.err = f->err;
			fault_probe.cs = f->cs;
			fault_probe.rip = f->rip;
			f->rip = fault_probe.resume;
			return;
		}
	}
	bail(f);
}

/* CPL3 side of the request mechanism. */
void kcall(enum kreq_code code)
{
	kreq.code = code;
	__asm__ volatile("ud2" : : : "memory");
}
