/* SPDX-License-Identifier: MIT */
/*
 * SMP start-up, the boot CPU's side at CPL3, and the APs' CPL3 code.
 *
 * The boot CPU starts every AP the MADT lists (acpi.c collected them) with
 * the standard INIT-SIPI-SIPI sequence (Intel SDM vol. 3, 8.4.4.1 / the MP
 * specification, B.4): INIT (assert, then de-assert), 10 ms, SIPI, 200 us,
 * SIPI, 200 us, each IPI through its local APIC's ICR in xAPIC MMIO mode
 * (0xfee00310 then 0xfee00300; the guest never turns x2APIC on). The
 * LAPIC is identity-mapped with the U bit like everything else, so all of
 * this runs natively at CPL3; only the APs' own start-up runs at CPL0.
 *
 * The SIPI vector is the page number of the real-mode trampoline (ap.S),
 * copied to a free 4 KiB page of RAM below 1 MiB (0x8000 unless e820 or the
 * boot data say otherwise). Each AP: trampoline (real -> protected -> long
 * mode, our CR3), tg_ap_entry64 (our GDT, its TSS, our IDT, its stack, by
 * APIC ID), ap_kmain() at CPL0 in kernel.c (enable its LAPIC, `lock xadd`
 * the arrival counter, record its APIC ID), then ap_user_main() below at
 * CPL3 (a mov from CR0 that must #GP, a timed loop), then a ud2 that
 * trap() turns into `cli; hlt` for good.
 */
#include "tg.h"

#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x500
#define ICR_STARTUP 0x600
#define ICR_BUSY 0x1000 /* delivery status: send pending */
#define ICR_ASSERT 0x4000
#define ICR_LEVEL 0x8000

#define LOW_MEMORY 0xa0000UL
#define TRAMPOLINE_PREFERRED 0x8000UL

/* The AP's CPL3 loop: chunks, so one host preemption cannot spoil the timing. */
#define AP_CHUNKS 10
#define AP_CHUNK (TG_AP_LOOP / AP_CHUNKS)
/* Native code takes ~1 TSC cycle per iteration; emulated, thousands. */
#define AP_NATIVE_MAX_CYCLES 100

/* Bounds, in ms of TSC time (at the frequency tsc_khz() finds or assumes). */
#define WAIT_ARRIVE_MS 2000
#define WAIT_USER_MS 1000

/* A 64-bit TSS without an I/O bitmap (the APs' CPL3 code does no port I/O). */
struct ap_tss {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3, iomap_base;
} __attribute__((packed));
STATIC_ASSERT(sizeof(struct ap_tss) == 104);

/* Written by the boot CPU at CPL3 before the IPIs: neither loaded nor zeroed. */
static struct {
	struct ap_tss t;
} __attribute__((aligned(128))) ap_tss[TG_MAX_CPUS] __attribute__((section(".noinit")));
struct tg_cpu tg_cpus[TG_MAX_CPUS] __attribute__((section(".noinit")));
struct tg_smp tg_smp __attribute__((section(".noinit")));
u8 tg_ap_stacks[TG_MAX_CPUS][TG_AP_AREA] __attribute__((aligned(4096), section(".noinit")));

/* ap.S */
extern const char tg_tramp_start[], tg_tramp_end[], tr_gdt[], tr_gdtr[], tr_pm32[],
	tr_pm32_ptr[], tr_lm64_ptr[], tr_cr3[], tg_ap_entry64[];

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* ---- the APs' CPL3 code ---- */

/*
 * Runs at CPL3 on each AP, on its own stack. The `mov %cr0, %rax` at
 * tg_ap_cr0_probe must raise #GP: trap() records it in this CPU's entry
 * (RDI points at it) and resumes after it. The ud2 at tg_ap_park_ud2 is
 * this CPU's way back to CPL0, where trap() parks it.
 */
__attribute__((noinline)) void ap_user_main(u64 apic_id)
{
	struct tg_cpu *c = &tg_cpus[apic_id];
	u64 x = apic_id << 40, best = ~0UL;

	__asm__ volatile(".globl tg_ap_cr0_probe\n"
			 "tg_ap_cr0_probe:\n\t"
			 "movq %%cr0, %%rax"
			 :
			 : "D"(c)
			 : "rax", "memory");
	for (u64 k = 0; k < AP_CHUNKS; k++) {
		u64 t = rdtsc();

		for (u64 i = k * AP_CHUNK; i < (k + 1) * AP_CHUNK; i++) {
			x += i;
			__asm__ volatile("" : "+r"(x)); /* a real loop, not its closed form */
		}
		t = rdtsc() - t;
		if (t < best)
			best = t;
	}
	c->loop_cycles = best;
	c->loop_result = x;
	barrier();
	c->user_done = 1;
	__asm__ volatile(".globl tg_ap_park_ud2\n"
			 "tg_ap_park_ud2:\n\t"
			 "ud2" ::: "memory");
	for (;;)
		;
}

static u64 ap_loop_expected(u32 apic_id)
{
	u64 n = TG_AP_LOOP;

	return ((u64)apic_id << 40) + n * (n - 1) / 2;
}

/* ---- time ---- */

static u64 khz;
static const char *khz_how;

/*
 * The TSC frequency, for the bounds and the diagnostics only: CPUID's
 * hypervisor leaf 0x40000010 or leaves 0x15/0x16 when they say, else an
 * assumed 3 GHz. (CPUID at CPL3 may report the host's values on hosts
 * whose KVM emulates the guest kernel; the TSC runs at the host's rate
 * there too.)
 */
static void tsc_khz_init(void)
{
	u32 max, a, b, c, d;

	if (khz)
		return;
	cpuid(0, &max, &b, &c, &d);
	cpuid(1, &a, &b, &c, &d);
	if (c & (1U << 31)) { /* a hypervisor is present */
		cpuid(0x40000000, &a, &b, &c, &d);
		if (a >= 0x40000010 && a < 0x40010000) {
			cpuid(0x40000010, &a, &b, &c, &d);
			if (a) {
				khz = a;
				khz_how = "CPUID 0x40000010";
				return;
			}
		}
	}
	if (max >= 0x15 && max < 0x100) {
		cpuid(0x15, &a, &b, &c, &d);
		if (a && b && c) {
			khz = (u64)c * b / a / 1000;
			khz_how = "CPUID 0x15";
			return;
		}
	}
	if (max >= 0x16 && max < 0x100) {
		cpuid(0x16, &a, &b, &c, &d);
		if (a & 0xffff) {
			khz = (u64)(a & 0xffff) * 1000;
			khz_how = "CPUID 0x16";
			return;
		}
	}
	khz = 3000000;
	khz_how = "assumed";
}

u64 tsc_khz(const char **how)
{
	tsc_khz_init();
	if (how)
		*how = khz_how;
	return khz;
}

static u64 ms_to_tsc(u64 ms)
{
	return ms * khz;
}

static void delay_us(u64 us)
{
	u64 t = rdtsc(), n = us * khz / 1000;

	while (rdtsc() - t < n)
		cpu_relax();
}

/* "12.345 ms" */
static const char *fmt_ms(char *buf, size_t n, u64 cycles)
{
	u64 us = cycles * 1000 / khz;

	snprintf(buf, n, "%lu.%03lu ms", us / 1000, us % 1000);
	return buf;
}

/* ---- the trampoline page ---- */

static bool overlaps(u64 a, u64 alen, u64 b, u64 blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/*
 * Is the 4 KiB page at p RAM that nothing still needs: not boot_params, the
 * command line, the initrd, a setup_data node, the loader's GDT, IDT or
 * page tables, our image? Returns NULL if free, else what is there.
 */
static const char *page_taken(u64 p)
{
	u64 sd = bp64(BP_SETUP_DATA);

	if (p < 0x1000 || p + 4096 > LOW_MEMORY)
		return "not in 4 KiB..640 KiB";
	if (!e820_is_ram(p, 4096))
		return "not e820 RAM";
	if (overlaps(p, 4096, bp_addr, 4096))
		return "boot_params";
	if (overlaps(p, 4096, bp32(BP_CMD_LINE_PTR), bp32(BP_CMDLINE_SIZE) + 1))
		return "the command line";
	if (overlaps(p, 4096, bp32(BP_RAMDISK_IMAGE) | (u64)bp32(BP_EXT_RAMDISK_IMAGE) << 32,
		     bp32(BP_RAMDISK_SIZE) | (u64)bp32(BP_EXT_RAMDISK_SIZE) << 32))
		return "the initrd";
	for (unsigned int i = 0; sd && i < 64 && sd < LOW_MEMORY; i++) {
		if (overlaps(p, 4096, sd, 16 + (u64)rd32(sd + 12)))
			return "a setup_data node";
		sd = rd64(sd);
	}
	if (tg_entry.protocol != 16) {
		if (overlaps(p, 4096, tg_entry.gdt_base, tg_entry.gdt_limit + 1UL))
			return "the loader's GDT";
		if (overlaps(p, 4096, tg_entry.idt_base, tg_entry.idt_limit + 1UL))
			return "the loader's IDT";
	}
	/* The loader's page tables (lmigtester: six pages); they were checked. */
	if (tg_entry.protocol == 64 && overlaps(p, 4096, tg_entry.cr3 & ~0xfffUL, 6 * 4096))
		return "the loader's page tables";
	if (overlaps(p, 4096, TG_LOAD_ADDR, (u64)_end - TG_LOAD_ADDR))
		return "the guest image";
	return NULL;
}

static u64 pick_trampoline(const char **why)
{
	*why = page_taken(TRAMPOLINE_PREFERRED);
	if (!*why)
		return TRAMPOLINE_PREFERRED;
	for (u64 p = 0x1000; p < LOW_MEMORY; p += 4096)
		if (!page_taken(p))
			return p;
	return 0;
}

static void trampoline_install(u64 page)
{
	u8 *dst = (u8 *)page;
	u64 off_gdtr = tr_gdtr - tg_tramp_start, off_pm32 = tr_pm32_ptr - tg_tramp_start;
	u64 off_lm64 = tr_lm64_ptr - tg_tramp_start, off_cr3 = tr_cr3 - tg_tramp_start;

	memcpy(dst, tg_tramp_start, tg_tramp_end - tg_tramp_start);
	wr32(page + off_gdtr + 2, (u32)(page + (tr_gdt - tg_tramp_start)));
	wr32(page + off_pm32, (u32)(page + (tr_pm32 - tg_tramp_start)));
	wr32(page + off_lm64, (u32)(u64)tg_ap_entry64);
	wr32(page + off_cr3, (u32)(u64)tg_pml4);
}

/* This AP's TSS (RSP0 and IST1 = the top of its CPL0 stack) and its GDT slot. */
static void ap_tss_install(u32 id)
{
	struct ap_tss *t = &ap_tss[id].t;
	u64 top = (u64)tg_ap_stacks[id] + TG_AP_AREA, base = (u64)t;
	u64 slot = TG_AP_TSS_SEL(id) / 8;

	memset(t, 0, sizeof(*t));
	t->rsp[0] = top;
	t->ist[0] = top; /* #DF */
	t->iomap_base = sizeof(*t);
	tg_gdt[slot] = (sizeof(*t) - 1) | (base & 0xffffff) << 16 | 0x89UL << 40 |
		       ((base >> 24) & 0xff) << 56;
	tg_gdt[slot + 1] = base >> 32;
}

/* ---- IPIs (xAPIC MMIO, at CPL3) ---- */

static unsigned int icr_stuck;

static void send_ipi(u32 apic_id, u32 icr_lo)
{
	wr32(TG_LAPIC_BASE + LAPIC_ICR_HI, apic_id << 24);
	wr32(TG_LAPIC_BASE + LAPIC_ICR_LO, icr_lo);
	for (int i = 0; i < 10000; i++)
		if (!(rd32(TG_LAPIC_BASE + LAPIC_ICR_LO) & ICR_BUSY))
			return;
	icr_stuck++;
}

/* ---- the checks ---- */

/* Sorted IDs as "1..7" or "1..3, 5, 9..10" (truncated to the buffer). */
static void fmt_ids(char *buf, size_t size, const u32 *ids, unsigned int n)
{
	size_t len = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < n && len + 1 < size;) {
		unsigned int j = i;

		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		if (j > i)
			len += snprintf(buf + len, size - len, "%s%u..%u", i ? ", " : "", ids[i],
					ids[j]);
		else
			len += snprintf(buf + len, size - len, "%s%u", i ? ", " : "", ids[i]);
		i = j + 1;
	}
}

static void sort_ids(u32 *ids, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j && ids[j - 1] > ids[j]; j--) {
			u32 t = ids[j];

			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
}

void run_smp_checks(void)
{
	static u32 targets[TG_MAX_CPUS], expected[TG_MAX_CPUS], missing[TG_MAX_CPUS];
	static bool is_target[TG_MAX_CPUS], is_expected[TG_MAX_CPUS];
	unsigned int n = cfg.cpus ? cfg.cpus : tg_madt_ncpus, nt = 0, ne = 0, nmiss = 0;
	unsigned int arrived = 0, unexpected = 0, narr;
	u32 bsp = rd32(TG_LAPIC_ID_REG) >> 24, unreachable = 0;
	const char *name2 = "smp: every AP ran code at CPL3 natively";
	const char *taken;
	char ids[120], order[120], tbuf[24], tbuf2[24];
	u64 tramp, t0 = 0, t_sipi = 0, t_sent = 0, t_last = 0, t_all = 0, deadline, best_min = ~0UL, best_max = 0;
	size_t olen = 0;

	if (n <= 1) {
		const char *why = n ? "single vCPU" : "the MADT lists no CPU and no tg.cpus given";

		tap_skip(why, "smp: all N-1 APs started by INIT/SIPI and reported in");
		tap_skip(why, "%s", name2);
		return;
	}
	tsc_khz_init();
	memset(is_target, 0, sizeof(is_target));
	memset(is_expected, 0, sizeof(is_expected));

	/* Whom to start: every enabled CPU the MADT lists but this one. */
	for (unsigned int i = 0; i < tg_madt_ncpus && i < TG_MAX_CPUS; i++) {
		u32 id = tg_madt_ids[i];

		if (id == bsp || (id < TG_MAX_CPUS && is_target[id]))
			continue;
		if (id >= 0xff) { /* 0xff is the xAPIC broadcast: not one CPU */
			unreachable = id;
			continue;
		}
		is_target[id] = true;
		targets[nt++] = id;
	}
	/* Who must report in: APIC IDs 0..N-1 but this one (tg.cpus), else the targets. */
	if (cfg.cpus) {
		for (u32 id = 0; id < n; id++)
			if (id != bsp) {
				is_expected[id] = true;
				expected[ne++] = id;
			}
	} else {
		for (unsigned int i = 0; i < nt; i++) {
			is_expected[targets[i]] = true;
			expected[ne++] = targets[i];
		}
	}
	sort_ids(expected, ne);
	/* "1..N-1" whenever the set is contiguous, even "1..1". */
	if (ne && expected[ne - 1] - expected[0] == ne - 1)
		snprintf(ids, sizeof(ids), "%u..%u", expected[0], expected[ne - 1]);
	else
		fmt_ids(ids, sizeof(ids), expected, ne);

	memset((void *)&tg_smp, 0, sizeof(tg_smp));
	tap_begin();
	tramp = pick_trampoline(&taken);
	if (!tramp) {
		tap_fail("no free 4 KiB page of RAM below 640 KiB for the trampoline");
	} else if (nt) {
		if (tramp != TRAMPOLINE_PREFERRED)
			tap_diag("smp: %#lx is %s; trampoline at %#lx", TRAMPOLINE_PREFERRED, taken,
				 tramp);
		trampoline_install(tramp);
		for (unsigned int i = 0; i < nt; i++) {
			memset((void *)&tg_cpus[targets[i]], 0, sizeof(tg_cpus[0]));
			ap_tss_install(targets[i]);
		}
		barrier();
		/* Our local APIC: software-enabled (SVR), as for the echo console. */
		if (!(rd32(TG_LAPIC_BASE + LAPIC_SVR) & 0x100))
			wr32(TG_LAPIC_BASE + LAPIC_SVR, 0x100 | TG_VEC_SPURIOUS);

		t0 = rdtsc();
		for (unsigned int i = 0; i < nt; i++) {
			send_ipi(targets[i], ICR_LEVEL | ICR_ASSERT | ICR_INIT);
			send_ipi(targets[i], ICR_LEVEL | ICR_INIT); /* de-assert */
		}
		delay_us(10000);
		t_sipi = rdtsc();
		for (int sipi = 0; sipi < 2; sipi++) {
			for (unsigned int i = 0; i < nt; i++)
				send_ipi(targets[i], ICR_STARTUP | (u32)(tramp >> 12));
			delay_us(200);
		}
		t_sent = rdtsc() - t0;

		deadline = t0 + ms_to_tsc(WAIT_ARRIVE_MS);
		while (tg_smp.arrived < nt && rdtsc() < deadline)
			cpu_relax();
		/* Then their CPL3 part, with its own bound. */
		deadline = rdtsc() + ms_to_tsc(WAIT_USER_MS);
		for (unsigned int i = 0; i < nt; i++)
			while (tg_cpus[targets[i]].arrived && !tg_cpus[targets[i]].user_done &&
			       rdtsc() < deadline)
				cpu_relax();
		t_all = rdtsc() - t0;
	}

	/* Who arrived, from the per-CPU entries (and the order they came in). */
	narr = tg_smp.arrived;
	order[0] = 0;
	for (unsigned int k = 0; k < narr && k < TG_MAX_CPUS; k++) {
		u32 v = tg_smp.order[k];

		if (olen + 8 < sizeof(order))
			olen += snprintf(order + olen, sizeof(order) - olen, "%s%d", k ? " " : "",
					 (int)v - 1);
		else if (olen + 4 < sizeof(order))
			olen += snprintf(order + olen, sizeof(order) - olen, " ...");
	}
	for (u32 id = 0; id < TG_MAX_CPUS && tramp; id++) {
		const struct tg_cpu *c = &tg_cpus[id];

		if (!is_target[id] || !c->arrived)
			continue;
		if (is_expected[id])
			arrived++;
		else
			unexpected++;
		if (c->arrive_tsc > t_sipi && c->arrive_tsc - t_sipi > t_last)
			t_last = c->arrive_tsc - t_sipi;
	}
	for (unsigned int i = 0; i < ne; i++)
		if (!is_target[expected[i]] || !tg_cpus[expected[i]].arrived)
			missing[nmiss++] = expected[i];

	if (tramp) {
		if (arrived < ne)
			tap_fail("only %u of %u APs arrived", arrived, ne);
		if (unexpected)
			tap_fail("%u AP(s) outside APIC IDs %s reported in", unexpected, ids);
		if (narr != arrived + unexpected) /* e.g. an AP that ran the trampoline twice */
			tap_fail("the arrival counter says %u, the per-CPU entries %u", narr,
				 arrived + unexpected);
		if (icr_stuck)
			tap_fail("the ICR's delivery status stayed busy %u time(s)", icr_stuck);
		if (unreachable)
			tap_fail("the MADT lists APIC ID %u, which xAPIC IPIs cannot address",
				 unreachable);
		if (!nt)
			tap_diag("smp: the MADT lists no AP to start");
		else
			tap_diag("smp: INIT-SIPI-SIPI to %u AP(s), trampoline %#lx (SIPI vector "
				 "%#lx), sent in %s; arrived: %s; the last %s after the first SIPI "
				 "(TSC %lu MHz, %s)",
				 nt, tramp, tramp >> 12, fmt_ms(tbuf, sizeof(tbuf), t_sent),
				 narr ? order : "none", fmt_ms(tbuf2, sizeof(tbuf2), t_last),
				 khz / 1000, khz_how);
		if (nmiss) {
			char m[120];

			fmt_ids(m, sizeof(m), missing, nmiss);
			tap_diag("smp: missing APIC IDs %s", m);
		}
	}
	tap_end("smp: all %u APs started by INIT/SIPI and reported in (APIC IDs %s)", ne, ids);

	/* Their CPL3 part: the #GP of a CPL0-only instruction and a native loop. */
	tap_begin();
	for (unsigned int i = 0; i < ne; i++) {
		u32 id = expected[i];
		const struct tg_cpu *c = &tg_cpus[id];

		if (!tramp || !is_target[id] || !c->arrived) {
			tap_fail("APIC ID %u did not report in", id);
			continue;
		}
		if (!c->user_done) {
			tap_fail("APIC ID %u did not finish its CPL3 code", id);
			continue;
		}
		if (!c->cpl3_gp)
			tap_fail("APIC ID %u: mov from CR0 did not raise #GP", id);
		else if ((c->cpl3_gp_cs & 3) != 3)
			tap_fail("APIC ID %u: the #GP came from CS %#lx", id, c->cpl3_gp_cs);
		if (c->loop_result != ap_loop_expected(id))
			tap_fail("APIC ID %u: the loop computed %#lx, expected %#lx", id,
				 c->loop_result, ap_loop_expected(id));
		if (c->loop_cycles > (u64)AP_NATIVE_MAX_CYCLES * AP_CHUNK)
			tap_fail("APIC ID %u: %lu TSC cycles for %u iterations: emulated?", id,
				 c->loop_cycles, AP_CHUNK);
		if (c->loop_cycles < best_min)
			best_min = c->loop_cycles;
		if (c->loop_cycles > best_max)
			best_max = c->loop_cycles;
	}
	if (best_max)
		tap_diag("smp: CPL3 loop on each AP: best of %u chunks of %u iterations took "
			 "%lu..%lu TSC cycles; all done %s after the first INIT",
			 AP_CHUNKS, AP_CHUNK, best_min, best_max, fmt_ms(tbuf, sizeof(tbuf), t_all));
	tap_end("%s (mov from CR0 raised #GP from RPL 3; %u loop iterations, <= %u TSC cycles "
		"each)",
		name2, TG_AP_LOOP, AP_NATIVE_MAX_CYCLES);
}
