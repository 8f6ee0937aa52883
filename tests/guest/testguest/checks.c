/* SPDX-License-Identifier: MIT */
/*
 * The checks, run at CPL3: what the boot protocol promised (entry state,
 * boot_params, command line, e820, initrd), that RAM is RAM, that we run at
 * CPL3, and in poke mode how unclaimed ports and MMIO behave. Each check
 * prints one TAP line through tap_begin()/tap_fail()/tap_end().
 */
#include "tg.h"

#define CR0_PE (1UL << 0)
#define CR0_PG (1UL << 31)
#define CR4_PAE (1UL << 5)
#define CR4_LA57 (1UL << 12)
#define EFER_LME (1UL << 8)
#define EFER_LMA (1UL << 10)
#define RFLAGS_IF (1UL << 9)
#define PTE_P 0x1UL
#define PTE_RW 0x2UL
#define PTE_PS 0x80UL
#define PTE_ADDR 0x000ffffffffff000UL

#define GiB (1UL << 30)
#define MiB (1UL << 20)
#define EBDA 0x9fc00UL
#define HIGH_MEMORY 0x100000UL
#define LOW_RAM_MAX (3 * GiB)
#define HIGH_RAM (4 * GiB)

static struct e820_entry e820[BP_E820_MAX] __attribute__((section(".noinit")));
static unsigned int e820_n;

static u64 img16(u32 off)
{
	return tg_image_hdr[off - TG_HDR_START] | (u64)tg_image_hdr[off - TG_HDR_START + 1] << 8;
}

static u64 img32(u32 off)
{
	return img16(off) | img16(off + 2) << 16;
}

static u64 rd_le(u64 addr, unsigned int len)
{
	u64 v = 0;

	for (unsigned int i = len; i--;)
		v = v << 8 | rd8(addr + i);
	return v;
}

static bool overlaps(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- e820 helpers: RAM ranges, with adjacent RAM entries merged ---- */

/* Is [a, a+len) inside RAM (one entry, or adjacent RAM entries)? */
static bool in_ram(u64 a, u64 len)
{
	u64 end = a + len;

	if (end < a)
		return false;
	for (unsigned int i = 0; i < e820_n; i++) {
		u64 s = e820[i].addr, e = s + e820[i].size;

		if (e820[i].type != E820_RAM || a < s || a >= e)
			continue;
		for (unsigned int j = i + 1; j < e820_n && e < end; j++) {
			if (e820[j].type != E820_RAM || e820[j].addr != e)
				break;
			e += e820[j].size;
		}
		return end <= e;
	}
	return false;
}

bool e820_is_ram(u64 a, u64 len)
{
	return in_ram(a, len);
}

bool e820_overlaps_ram(u64 a, u64 len)
{
	for (unsigned int i = 0; i < e820_n; i++)
		if (e820[i].type == E820_RAM && overlaps(a, len, e820[i].addr, e820[i].size))
			return true;
	return false;
}

/* Is every byte of [a, b) in some entry of this type? */
static bool covered(u64 a, u64 b, u32 type)
{
	while (a < b) {
		bool moved = false;

		for (unsigned int i = 0; i < e820_n; i++) {
			u64 s = e820[i].addr, e = s + e820[i].size;

			if (e820[i].type == type && s <= a && a < e) {
				a = e;
				moved = true;
			}
		}
		if (!moved)
			return false;
	}
	return true;
}

static const char *e820_type(u32 t)
{
	switch (t) {
	case 1:
		return "RAM";
	case 2:
		return "reserved";
	case 3:
		return "ACPI";
	case 4:
		return "NVS";
	case 5:
		return "unusable";
	default:
		return "other";
	}
}

u64 low_ram_end(u64 mem)
{
	return mem < LOW_RAM_MAX ? mem : LOW_RAM_MAX;
}

/*
 * Our static page tables map [0, 4 GiB). RAM above that (the high bank,
 * an initrd placed there) gets 2 MiB pages here, at CPL3: the tables are
 * user-writable like everything else, and only not-present entries change.
 */
extern u64 tg_high_pd[TG_HIGH_GIB][512];
u64 tg_mapped_limit = HIGH_RAM;

void map_high_ram(u64 top)
{
	u64 gib = (top + GiB - 1) / GiB;

	if (gib > 4 + TG_HIGH_GIB)
		gib = 4 + TG_HIGH_GIB;
	if (gib * GiB <= tg_mapped_limit)
		return;
	for (u64 g = tg_mapped_limit / GiB; g < gib; g++) {
		for (u64 i = 0; i < 512; i++)
			tg_high_pd[g - 4][i] = (g * GiB + i * 2 * MiB) | 0x87; /* P RW US PS */
		barrier();
		tg_pdpt[g] = (u64)tg_high_pd[g - 4] | 0x7;
	}
	tg_mapped_limit = gib * GiB;
	kcall(KREQ_FLUSH_TLB);
}

/* ---- entry state ---- */

static const char *reg_name(const char *r64)
{
	static char buf[4];

	if (tg_entry.protocol == 64)
		return r64;
	buf[0] = 'E';
	buf[1] = r64[1];
	buf[2] = r64[2];
	buf[3] = 0;
	return buf;
}

static void check_desc(u64 d, const char *sel, bool code, bool l64)
{
	u64 limit = (d & 0xffff) | ((d >> 32) & 0xf0000);
	u64 base = ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
	u32 access = (d >> 40) & 0xff, flags = (d >> 52) & 0xf;
	bool l = flags & 2, db = flags & 4, g = flags & 8;

	if (!(access & 0x80) || !(access & 0x10)) {
		tap_fail("%s descriptor %#lx not present or not code/data", sel, d);
		return;
	}
	if (base || limit != 0xfffff || !g)
		tap_fail("%s descriptor %#lx is not flat 4 GiB", sel, d);
	if (code && (access & 0xa) != 0xa)
		tap_fail("%s descriptor %#lx is not execute/read code", sel, d);
	if (!code && (access & 0xa) != 0x2)
		tap_fail("%s descriptor %#lx is not read/write data", sel, d);
	if (code && l64 && (!l || db))
		tap_fail("%s descriptor %#lx is not 64-bit code (L=1, D=0)", sel, d);
	if (code && !l64 && (l || !db))
		tap_fail("%s descriptor %#lx is not 32-bit code (L=0, D=1)", sel, d);
}

/*
 * Walk the loader's page tables for one address. Returns false with a
 * reason in tap_fail() if it is not mapped, identity, writable.
 */
static bool walk(u64 cr3, u64 va)
{
	u64 table = cr3 & PTE_ADDR;

	for (int level = 4; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		u64 e, pa;

		if (table + 4096 > tg_mapped_limit) {
			tap_fail("page table at %#lx is beyond what the guest maps", table);
			return false;
		}
		e = rd64(table + ((va >> shift) & 511) * 8);
		if (!(e & PTE_P)) {
			tap_fail("%#lx not mapped (level %d entry %#lx)", va, level, e);
			return false;
		}
		if (!(e & PTE_RW)) {
			tap_fail("%#lx mapped read-only (level %d entry %#lx)", va, level, e);
			return false;
		}
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			u64 size = 1UL << shift;

			pa = (e & PTE_ADDR & ~(size - 1)) | (va & (size - 1));
			if (pa != va) {
				tap_fail("%#lx maps to %#lx", va, pa);
				return false;
			}
			return true;
		}
		table = e & PTE_ADDR;
	}
	return false;
}

static void check_entry(void)
{
	const struct tg_entry *e = &tg_entry;
	u32 p = e->protocol;

	tap_begin();
	if (cfg.protocol && cfg.protocol != p)
		tap_fail("entered by the %u-bit protocol, tg.protocol=%u", p, cfg.protocol);
	if (!(e->cr0 & CR0_PE))
		tap_fail("CR0.PE clear (CR0 %#lx)", e->cr0);
	if (p == 64) {
		if (!(e->cr0 & CR0_PG))
			tap_fail("CR0.PG clear (CR0 %#lx)", e->cr0);
		if (!(e->cr4 & CR4_PAE))
			tap_fail("CR4.PAE clear (CR4 %#lx)", e->cr4);
		if ((e->efer & (EFER_LME | EFER_LMA)) != (EFER_LME | EFER_LMA))
			tap_fail("EFER %#lx: LME or LMA clear", e->efer);
		tap_end("entry: protocol 64, long mode (CR0.PE+PG, CR4.PAE, EFER.LME+LMA)");
	} else {
		if (e->cr0 & CR0_PG)
			tap_fail("paging on (CR0 %#lx)", e->cr0);
		if (e->efer & EFER_LMA)
			tap_fail("EFER.LMA set (EFER %#lx)", e->efer);
		tap_end("entry: protocol %u, protected mode, paging off (CR0.PE=1 PG=0)", p);
	}
	tap_diag("entry CR0 %#lx CR3 %#lx CR4 %#lx EFER %#lx RFLAGS %#lx RSP %#lx GDT %#lx+%#x",
		 e->cr0, e->cr3, e->cr4, e->efer, e->rflags, e->rsp, e->gdt_base, e->gdt_limit);

	tap_begin();
	if (e->cs != 0x10)
		tap_fail("CS %#x", e->cs);
	if (e->ds != 0x18 || e->es != 0x18 || e->ss != 0x18)
		tap_fail("DS %#x ES %#x SS %#x", e->ds, e->es, e->ss);
	tap_end("entry: CS 0x10, DS/ES/SS 0x18");

	tap_begin();
	if (e->rsi != 0x10000)
		tap_fail("%s %#lx", reg_name("RSI"), e->rsi);
	tap_end("entry: %s 0x10000 (boot_params)", reg_name("RSI"));

	tap_begin();
	if (e->rflags & RFLAGS_IF)
		tap_fail("RFLAGS %#lx", e->rflags);
	tap_end("entry: interrupts off (IF=0)");

	if (p != 64) {
		tap_begin();
		if (e->rbx || e->rbp || e->rdi)
			tap_fail("EBX %#lx EBP %#lx EDI %#lx", e->rbx, e->rbp, e->rdi);
		tap_end("entry: EBX, EBP, EDI zero");
	}

	tap_begin();
	if (e->gdt_limit < 0x1f)
		tap_fail("GDT limit %#x does not reach selector 0x18", e->gdt_limit);
	else if (e->gdt_base + 0x20 > tg_mapped_limit)
		tap_fail("GDT at %#lx is beyond what the guest maps", e->gdt_base);
	else {
		check_desc(rd64(e->gdt_base + 0x10), "0x10", true, p == 64);
		check_desc(rd64(e->gdt_base + 0x18), "0x18", false, false);
	}
	tap_end("entry: boot GDT: 0x10 flat %s code, 0x18 flat read/write data",
		p == 64 ? "64-bit" : "32-bit");

	if (p == 64) {
		tap_begin();
		if (e->cr4 & CR4_LA57)
			tap_fail("5-level paging (CR4.LA57) on");
		else
			for (u64 va = 0; va < 4 * GiB; va += 2 * MiB)
				if (!walk(e->cr3, va) || !walk(e->cr3, va + 2 * MiB - 4096))
					break;
		tap_end("entry: loader page tables (CR3 %#lx) identity-map [0, 4 GiB) writable",
			e->cr3);
	}
}

/* ---- boot_params ---- */

static const struct {
	u16 off, len;
	const char *name;
} ro_fields[] = {
	{0x1f1, 1, "setup_sects"},
	{0x1f4, 4, "syssize"},
	{0x1fe, 2, "boot_flag"},
	{0x200, 2, "jump"},
	{0x202, 4, "header"},
	{0x206, 2, "version"},
	{0x20c, 2, "start_sys_seg"},
	{0x20e, 2, "kernel_version"},
	{0x22c, 4, "initrd_addr_max"},
	{0x230, 4, "kernel_alignment"},
	{0x234, 1, "relocatable_kernel"},
	{0x235, 1, "min_alignment"},
	{0x236, 2, "xloadflags"},
	{0x238, 4, "cmdline_size"},
	{0x248, 4, "payload_offset"},
	{0x24c, 4, "payload_length"},
	{0x258, 8, "pref_address"},
	{0x260, 4, "init_size"},
	{0x264, 4, "handover_offset"},
	{0x268, 4, "kernel_info_offset"},
};

static void check_boot_params(void)
{
	u16 version = bp16(BP_VERSION);
	u8 tol = bp8(BP_TYPE_OF_LOADER), lf = bp8(BP_LOADFLAGS);
	u64 sd;
	unsigned int nsd = 0;

	tap_begin();
	if (bp16(BP_BOOT_FLAG) != 0xaa55)
		tap_fail("boot_flag %#x", bp16(BP_BOOT_FLAG));
	if (bp32(BP_HEADER) != 0x53726448)
		tap_fail("header %#x", bp32(BP_HEADER));
	if (version != img16(BP_VERSION))
		tap_fail("version %#x, the image has %#lx", version, img16(BP_VERSION));
	tap_end("boot_params: boot_flag 0xaa55, header HdrS, version %#06x", version);

	tap_begin();
	if (img16(BP_BOOT_FLAG) != 0xaa55)
		tap_fail("the image header copy is missing (mkimage.py)");
	for (unsigned int i = 0; i < ARRAY_SIZE(ro_fields); i++) {
		u64 got = rd_le(bp_addr + ro_fields[i].off, ro_fields[i].len);
		u64 want = 0;

		for (unsigned int k = ro_fields[i].len; k--;)
			want = want << 8 | tg_image_hdr[ro_fields[i].off - TG_HDR_START + k];
		if (got != want)
			tap_fail("%s %#lx, the image has %#lx", ro_fields[i].name, got, want);
	}
	tap_end("boot_params: %u read-only setup header fields as in the image",
		(unsigned int)ARRAY_SIZE(ro_fields));

	tap_begin();
	if (cfg.have_loader) {
		if (tol != cfg.loader)
			tap_fail("type_of_loader %#x, tg.loader=%#x", tol, cfg.loader);
		tap_end("boot_params: type_of_loader %#04x (tg.loader)", tol);
	} else if (tg_entry.protocol == 16) {
		if (!tol)
			tap_fail("type_of_loader 0: the loader did not identify itself");
		tap_end("boot_params: type_of_loader %#04x, set by the loader", tol);
	} else {
		if (tol != 0xff)
			tap_fail("type_of_loader %#x", tol);
		tap_end("boot_params: type_of_loader 0xff");
	}

	tap_begin();
	if (!(lf & 0x01))
		tap_fail("LOADED_HIGH clear");
	if (lf & 0x1e)
		tap_fail("bits %#x set", lf & 0x1e);
	tap_end("boot_params: loadflags %#04x: LOADED_HIGH set, bits 1-4 clear", lf);

	tap_begin();
	if (bp32(BP_CODE32_START) != TG_LOAD_ADDR)
		tap_fail("code32_start %#x", bp32(BP_CODE32_START));
	if (bp32(BP_HARDWARE_SUBARCH))
		tap_fail("hardware_subarch %u", bp32(BP_HARDWARE_SUBARCH));
	for (sd = bp64(BP_SETUP_DATA); sd && nsd < 64; nsd++) {
		u32 type, len;

		if (!in_ram(sd, 16)) {
			tap_fail("setup_data node at %#lx is not in RAM", sd);
			break;
		}
		type = rd32(sd + 8);
		len = rd32(sd + 12);
		if (!in_ram(sd, 16 + (u64)len)) {
			tap_fail("setup_data node at %#lx (%u bytes) is not in RAM", sd, len);
			break;
		}
		tap_diag("setup_data at %#lx: type %u, %u bytes", sd, type, len);
		sd = rd64(sd);
	}
	if (sd && nsd == 64)
		tap_fail("setup_data chain longer than 64 nodes");
	tap_end("boot_params: code32_start 0x100000, hardware_subarch 0, setup_data %s",
		nsd ? "chain in RAM" : "none");
}

static void check_cmdline(void)
{
	u32 ptr = bp32(BP_CMD_LINE_PTR), ext = bp32(BP_EXT_CMD_LINE_PTR);
	u32 size = bp32(BP_CMDLINE_SIZE);
	u64 len = 0;
	bool nul = false;

	tap_begin();
	if (ptr != 0x20000)
		tap_fail("cmd_line_ptr %#x", ptr);
	if (ext)
		tap_fail("ext_cmd_line_ptr %#x", ext);
	if (ptr && (u64)ptr + size < tg_mapped_limit)
		for (; len <= size; len++)
			if (!rd8(ptr + len)) {
				nul = true;
				break;
			}
	if (!nul)
		tap_fail("no NUL within cmdline_size (%u) + 1 bytes", size);
	else if (!in_ram(ptr, len + 1))
		tap_fail("[%#x, %#lx) is not in e820 RAM", ptr, ptr + len + 1);
	tap_end("cmdline: at cmd_line_ptr 0x20000, NUL-terminated within cmdline_size %u", size);
	tap_diag("cmdline \"%s\"", tg_cmdline());

	tap_begin();
	if (cfg.error[0])
		tap_fail("%s", cfg.error);
	tap_end("cmdline: tg.* options valid");
}

/* ---- e820 ---- */

/*
 * Entries straight from a BIOS (protocol 16: the real-mode stub copies
 * int 15h E820 as Linux's setup does) need not be sorted and may include
 * empty ones; Linux sanitizes them later, and so do we. The 32- and 64-bit
 * loaders are held to a clean, sorted map.
 */
static unsigned int e820_sanitize(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < e820_n; i++)
		if (e820[i].size)
			e820[n++] = e820[i];
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j && e820[j - 1].addr > e820[j].addr; j--) {
			struct e820_entry t = e820[j];

			e820[j] = e820[j - 1];
			e820[j - 1] = t;
		}
	return n;
}

static void check_e820(void)
{
	unsigned int n = bp8(BP_E820_ENTRIES);
	bool bios = tg_entry.protocol == 16;

	tap_begin();
	if (n > BP_E820_MAX) {
		tap_fail("e820_entries %u > %u", n, BP_E820_MAX);
		n = BP_E820_MAX;
	}
	if (!n)
		tap_fail("no entries");
	for (unsigned int i = 0; i < n; i++) {
		u64 a = bp_addr + BP_E820_TABLE + 20 * i;

		e820[i].addr = rd64(a);
		e820[i].size = rd64(a + 8);
		e820[i].type = rd32(a + 16);
	}
	e820_n = n;
	if (bios) {
		e820_n = e820_sanitize();
		tap_diag("e820: %u entries from the BIOS, %u after dropping empty ones and sorting",
			 n, e820_n);
	}
	for (unsigned int i = 0; i < e820_n; i++) {
		u64 s = e820[i].addr, e = s + e820[i].size;

		tap_diag("e820 %2u: [%#014lx, %#014lx) %s (%u)", i, s, e, e820_type(e820[i].type),
			 e820[i].type);
		if (!e820[i].size)
			tap_fail("entry %u is empty", i);
		if (e < s)
			tap_fail("entry %u wraps around", i);
		if (!e820[i].type)
			tap_fail("entry %u has type 0", i);
		if (i && s < e820[i - 1].addr + e820[i - 1].size)
			tap_fail("entry %u [%#lx, ...) overlaps or precedes entry %u", i, s, i - 1);
	}
	tap_end("e820: %u entries, sorted, non-overlapping, none empty%s", e820_n,
		bios ? " (BIOS map sanitized)" : "");
	{
		u64 top = 0;

		for (unsigned int i = 0; i < e820_n; i++)
			if (e820[i].type == E820_RAM && e820[i].addr + e820[i].size > top)
				top = e820[i].addr + e820[i].size;
		map_high_ram(top);
	}

	tap_begin();
	if (e820_overlaps_ram(0xa0000, HIGH_MEMORY - 0xa0000))
		tap_fail("RAM in the legacy area [0xa0000, 0x100000)");
	if (!in_ram(TG_LOAD_ADDR, (u64)_end - TG_LOAD_ADDR))
		tap_fail("the guest image [%#x, %#lx) is not in RAM", TG_LOAD_ADDR, (u64)_end);
	if (!in_ram(bp_addr, 4096))
		tap_fail("boot_params [%#lx, +4 KiB) is not in RAM", bp_addr);
	tap_end("e820: legacy area [0xa0000, 0x100000) not RAM; guest image and boot_params in "
		"RAM");

	if (!cfg.have_mem) {
		tap_skip("no tg.mem given", "e820: RAM matches tg.mem");
		return;
	}
	{
		u64 mem = cfg.mem, low = low_ram_end(mem);
		struct {
			u64 s, e;
		} want[3], got[BP_E820_MAX];
		unsigned int nw = 0, ng = 0;

		want[nw].s = 0;
		want[nw++].e = low < EBDA ? low : EBDA;
		if (low > HIGH_MEMORY) {
			want[nw].s = HIGH_MEMORY;
			want[nw++].e = low;
		}
		if (mem > LOW_RAM_MAX) {
			want[nw].s = HIGH_RAM;
			want[nw++].e = HIGH_RAM + mem - LOW_RAM_MAX;
		}
		for (unsigned int i = 0; i < e820_n; i++) {
			if (e820[i].type != E820_RAM)
				continue;
			if (ng && got[ng - 1].e == e820[i].addr) {
				got[ng - 1].e += e820[i].size;
				continue;
			}
			got[ng].s = e820[i].addr;
			got[ng++].e = e820[i].addr + e820[i].size;
		}
		tap_begin();
		for (unsigned int i = 0; i < nw || i < ng; i++) {
			if (i >= ng) {
				tap_fail("RAM [%#lx, %#lx) missing", want[i].s, want[i].e);
				break;
			}
			if (i >= nw) {
				tap_fail("unexpected RAM [%#lx, %#lx)", got[i].s, got[i].e);
				break;
			}
			if (got[i].s != want[i].s || got[i].e != want[i].e) {
				tap_fail("RAM [%#lx, %#lx), expected [%#lx, %#lx)", got[i].s,
					 got[i].e, want[i].s, want[i].e);
				break;
			}
		}
		if (low > EBDA && !covered(EBDA, HIGH_MEMORY, E820_RESERVED))
			tap_fail("[%#lx, %#lx) is not all reserved", EBDA, HIGH_MEMORY);
		tap_end("e820: RAM matches tg.mem=%lu: low RAM ends at %#lx, high RAM %#lx bytes",
			mem, low, mem > LOW_RAM_MAX ? mem - LOW_RAM_MAX : 0);
	}
}

/* ---- RAM is RAM ---- */

static u64 probes, probes_skipped;

static void probe(u64 a)
{
	u64 old, pat, back;

	if (overlaps(a, 8, TG_LOAD_ADDR, (u64)_end - TG_LOAD_ADDR))
		return; /* our own code, data and stacks */
	if (a + 8 > tg_mapped_limit) {
		probes_skipped++;
		return;
	}
	old = rd64(a);
	pat = ~old ^ 0x5a5a5a5a00000000UL ^ a;
	wr64(a, pat);
	back = rd64(a);
	wr64(a, old);
	probes++;
	if (back != pat)
		tap_fail("RAM at %#lx does not keep a write (wrote %#lx, read %#lx)", a, pat, back);
}

static void check_memory(void)
{
	probes = probes_skipped = 0;
	tap_begin();
	for (unsigned int i = 0; i < e820_n; i++) {
		u64 s = (e820[i].addr + 7) & ~7UL, e = (e820[i].addr + e820[i].size) & ~7UL;

		if (e820[i].type != E820_RAM || e <= s)
			continue;
		probe(s);
		for (u64 a = (s + 2 * MiB) & ~(2 * MiB - 1); a + 8 <= e; a += 2 * MiB)
			probe(a);
		probe(e - 8);
	}
	if (probes_skipped)
		tap_diag("%lu probes above %#lx (the guest's mapped limit) skipped", probes_skipped,
			 tg_mapped_limit);
	tap_end("memory: e820 RAM keeps what is written (%lu probes: every 2 MiB and the ends)",
		probes);
}

/* ---- initrd ---- */

static void check_initrd(void)
{
	u64 addr = bp32(BP_RAMDISK_IMAGE) | (u64)bp32(BP_EXT_RAMDISK_IMAGE) << 32;
	u64 size = bp32(BP_RAMDISK_SIZE) | (u64)bp32(BP_EXT_RAMDISK_SIZE) << 32;
	u64 max = img32(BP_INITRD_ADDR_MAX), init_size = img32(BP_INIT_SIZE);
	u32 crc;
	bool placed = false;

	if (!cfg.have_initrd_size && !cfg.have_initrd_crc) {
		if (size)
			tap_diag("ramdisk_image %#lx, ramdisk_size %lu", addr, size);
		tap_skip("no tg.initrd_size given", "initrd: placement");
	} else {
		tap_begin();
		if (cfg.have_initrd_size && size != cfg.initrd_size)
			tap_fail("ramdisk_size %lu, expected %lu", size, cfg.initrd_size);
		if (!size)
			tap_fail("no initrd (ramdisk_size 0)");
		if (addr & 0xfff)
			tap_fail("ramdisk_image %#lx is not page-aligned", addr);
		if (!in_ram(addr, size))
			tap_fail("[%#lx, %#lx) is not inside e820 RAM", addr, addr + size);
		if (addr + size - 1 > max)
			tap_fail("ends at %#lx, above initrd_addr_max %#lx", addr + size, max);
		if (overlaps(addr, size, TG_LOAD_ADDR, init_size))
			tap_fail("overlaps the guest image [%#x, +init_size %#lx)", TG_LOAD_ADDR,
				 init_size);
		if (overlaps(addr, size, bp_addr, 4096))
			tap_fail("overlaps boot_params");
		if (overlaps(addr, size, bp32(BP_CMD_LINE_PTR), bp32(BP_CMDLINE_SIZE) + 1))
			tap_fail("overlaps the command line");
		if (addr + size > tg_mapped_limit)
			tap_fail("ends above %#lx, which the guest cannot map", tg_mapped_limit);
		placed = tap_end("initrd: %lu bytes at %#lx, page-aligned, in RAM, below "
				 "initrd_addr_max",
				 size, addr);
	}

	if (!cfg.have_initrd_crc) {
		if (placed) {
			crc32_init();
			tap_diag("initrd crc32 %08x", crc32(0, (const void *)addr, size));
		}
		tap_skip("no tg.initrd_crc32 given", "initrd: crc32");
		return;
	}
	tap_begin();
	if (!placed) {
		tap_fail("initrd placement is wrong, not read");
	} else {
		crc32_init();
		crc = crc32(0, (const void *)addr, size);
		if (crc != cfg.initrd_crc)
			tap_fail("got %08x expected %08x", crc, cfg.initrd_crc);
	}
	tap_end("initrd: crc32 %08x", cfg.initrd_crc);
}

/* ---- privilege level ---- */

static void check_cpl3(void)
{
	u64 flags;

	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	fault_probe.vec = ~0u;
	/* Arm the probe, try a CPL0-only instruction, resume at 1: either way. */
	__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
			 "movq %%rax, %0\n\t"
			 "movl $1, %1\n\t"
			 "movq %%cr0, %%rax\n\t"
			 "movl $0, %1\n"
			 "1:"
			 : "=m"(fault_probe.resume), "=m"(fault_probe.armed)
			 :
			 : "rax", "memory");
	tap_begin();
	if (fault_probe.vec == ~0u)
		tap_fail("mov from CR0 did not fault: not running at CPL3");
	else if (fault_probe.vec != 13)
		tap_fail("mov from CR0 raised vector %u, expected #GP (13)", fault_probe.vec);
	else if ((fault_probe.cs & 3) != 3)
		tap_fail("the #GP came from CS %#lx, RPL %lu", fault_probe.cs, fault_probe.cs & 3);
	tap_end("cpl3: checks run at CPL3 (mov from CR0 raises #GP from RPL 3)");
	tap_diag("RFLAGS at CPL3 %#lx (IOPL %lu); port I/O is open through the TSS I/O bitmap",
		 flags, (flags >> 12) & 3);
}

void run_boot_checks(void)
{
	check_entry();
	check_boot_params();
	check_e820(); /* before the command line: in_ram() needs the map */
	check_cmdline();
	check_memory();
	check_initrd();
	check_cpl3();
	run_acpi_checks();
	run_smp_checks();
	run_rtc_checks();
}

void run_base_checks(void)
{
	check_e820();
	check_cmdline();
	check_cpl3();
}

u64 e820_ram_end_at(u64 a)
{
	for (unsigned int i = 0; i < e820_n; i++) {
		u64 s = e820[i].addr, e = s + e820[i].size;

		if (e820[i].type != E820_RAM || a < s || a >= e)
			continue;
		for (unsigned int j = i + 1; j < e820_n; j++) {
			if (e820[j].type != E820_RAM || e820[j].addr != e)
				break;
			e += e820[j].size;
		}
		return e;
	}
	return 0;
}

/* ---- poke: unclaimed ports and MMIO ---- */

void run_poke_checks(void)
{
	static const u64 mmio[] = {0xd0000000UL, 0xfe000000UL};
	u32 v;

	tap_begin();
	if ((v = inb(0x200)) != 0xff)
		tap_fail("inb 0x200 read %#x", v);
	if ((v = inw(0x204)) != 0xffff)
		tap_fail("inw 0x204 read %#x", v);
	if ((v = inl(0x208)) != 0xffffffffu)
		tap_fail("inl 0x208 read %#x", v);
	if ((v = inb(0x500)) != 0xff)
		tap_fail("inb 0x500 read %#x", v);
	tap_end("poke: unclaimed ports read all ones (inb 0x200, inw 0x204, inl 0x208, inb 0x500)");

	tap_begin();
	outb(0x200, 0x5a);
	outw(0x204, 0x1234);
	outl(0x208, 0x12345678);
	outb(0x500, 0xa5);
	if ((v = inb(0x200)) != 0xff)
		tap_fail("inb 0x200 read %#x after outb 0x5a", v);
	if ((v = inw(0x204)) != 0xffff)
		tap_fail("inw 0x204 read %#x after outw 0x1234", v);
	if ((v = inl(0x208)) != 0xffffffffu)
		tap_fail("inl 0x208 read %#x after outl 0x12345678", v);
	if ((v = inb(0x500)) != 0xff)
		tap_fail("inb 0x500 read %#x after outb 0xa5", v);
	tap_end("poke: writes to unclaimed ports are dropped");

	for (unsigned int i = 0; i < ARRAY_SIZE(mmio); i++) {
		u64 a = mmio[i], q;

		tap_begin();
		if ((v = rd8(a)) != 0xff)
			tap_fail("8-bit read %#x", v);
		if ((v = rd16(a + 2)) != 0xffff)
			tap_fail("16-bit read %#x", v);
		if ((v = rd32(a + 4)) != 0xffffffffu)
			tap_fail("32-bit read %#x", v);
		if ((q = rd64(a + 8)) != ~0UL)
			tap_fail("64-bit read %#lx", q);
		tap_end("poke: unclaimed MMIO %#lx reads all ones (8, 16, 32, 64 bits)", a);

		tap_begin();
		wr8(a, 0x5a);
		wr32(a + 4, 0x12345678);
		wr64(a + 8, 0x0123456789abcdefUL);
		if ((v = rd8(a)) != 0xff)
			tap_fail("8-bit read %#x after a write", v);
		if ((v = rd32(a + 4)) != 0xffffffffu)
			tap_fail("32-bit read %#x after a write", v);
		if ((q = rd64(a + 8)) != ~0UL)
			tap_fail("64-bit read %#lx after a write", q);
		tap_end("poke: writes to unclaimed MMIO %#lx are dropped", a);
	}
}
