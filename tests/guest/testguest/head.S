/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the protected-mode payload, loaded at 0x100000:
 *   offset 0x000  startup_32: 32-bit boot protocol (code32_start), and the
 *                 real-mode stub in setup.S jumps here too
 *   offset 0x200  startup_64: 64-bit boot protocol
 * Both first save the CPU state the loader handed over (tg_entry), before
 * changing anything, then switch to our own GDT and page tables and call
 * kmain() in 64-bit mode. The 32-bit path enters long mode itself.
 *
 * Also here: the GDT, the static identity page tables (2 MiB pages with
 * the U bit, so CPL3 code can reach everything) and the stacks.
 */
#include "tg.h"

#define MSR_EFER 0xc0000080
#define CR4_PAE (1 << 5)
#define CR4_SMEP (1 << 20)
#define CR4_SMAP (1 << 21)

	.section .head, "ax"
	.code32
	.globl startup_32
startup_32:
	movl %eax, tg_entry + ES_RAX
	movl %ebx, tg_entry + ES_RBX
	movl %ecx, tg_entry + ES_RCX
	movl %edx, tg_entry + ES_RDX
	movl %esi, tg_entry + ES_RSI
	movl %edi, tg_entry + ES_RDI
	movl %ebp, tg_entry + ES_RBP
	movl %esp, tg_entry + ES_RSP
	movw %cs, tg_entry + ES_CS
	movw %ds, tg_entry + ES_DS
	movw %es, tg_entry + ES_ES
	movw %ss, tg_entry + ES_SS
	movw %fs, tg_entry + ES_FS
	movw %gs, tg_entry + ES_GS
	sgdtl tg_entry + ES_GDTR
	sidtl tg_entry + ES_IDTR
	movl %cr0, %eax
	movl %eax, tg_entry + ES_CR0
	movl %cr3, %eax
	movl %eax, tg_entry + ES_CR3
	movl %cr4, %eax
	movl %eax, tg_entry + ES_CR4
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, tg_entry + ES_EFER
	movl %edx, tg_entry + ES_EFER + 4
	/* No stack is promised at entry: take ours before pushf. */
	movl $boot_stack_top, %esp
	pushfl
	popl tg_entry + ES_RFLAGS
	movl $32, tg_entry + ES_PROTOCOL
	cmpl $TG_RM_MARKER, tg_entry + ES_RAX
	jne 1f
	movl $16, tg_entry + ES_PROTOCOL
1:
	/* Into long mode: paging off (it should be), PAE, our PML4, EFER.LME, PG. */
	movl %cr0, %eax
	andl $0x7fffffff, %eax
	movl %eax, %cr0
	movl %cr4, %eax
	andl $~(CR4_SMEP | CR4_SMAP), %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $tg_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	lgdtl tg_gdt_ptr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmpl $TG_KCODE, $long_entry

	/* The 64-bit entry sits at payload offset 0x200, as in Linux. */
	.org TG_ENTRY64_OFFSET, 0x90
	.globl startup_64_entry
startup_64_entry:
	/* `jmp rel32` encodes the same in 32- and 64-bit mode. */
	jmp startup_64

	.text
	.code64
	.globl startup_64
startup_64:
	movq %rax, tg_entry + ES_RAX
	movq %rbx, tg_entry + ES_RBX
	movq %rcx, tg_entry + ES_RCX
	movq %rdx, tg_entry + ES_RDX
	movq %rsi, tg_entry + ES_RSI
	movq %rdi, tg_entry + ES_RDI
	movq %rbp, tg_entry + ES_RBP
	movq %rsp, tg_entry + ES_RSP
	movq %r8, tg_entry + ES_R8
	movq %r9, tg_entry + ES_R9
	movq %r10, tg_entry + ES_R10
	movq %r11, tg_entry + ES_R11
	movq %r12, tg_entry + ES_R12
	movq %r13, tg_entry + ES_R13
	movq %r14, tg_entry + ES_R14
	movq %r15, tg_entry + ES_R15
	movw %cs, tg_entry + ES_CS
	movw %ds, tg_entry + ES_DS
	movw %es, tg_entry + ES_ES
	movw %ss, tg_entry + ES_SS
	movw %fs, tg_entry + ES_FS
	movw %gs, tg_entry + ES_GS
	sgdt tg_entry + ES_GDTR
	sidt tg_entry + ES_IDTR
	movq %cr0, %rax
	movq %rax, tg_entry + ES_CR0
	movq %cr3, %rax
	movq %rax, tg_entry + ES_CR3
	movq %cr4, %rax
	movq %rax, tg_entry + ES_CR4
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, tg_entry + ES_EFER
	movl %edx, tg_entry + ES_EFER + 4
	movq $boot_stack_top, %rsp
	pushfq
	popq tg_entry + ES_RFLAGS
	movl $64, tg_entry + ES_PROTOCOL
	/* Our page tables and GDT; kernel code must not trip over SMEP/SMAP. */
	movq %cr4, %rax
	andq $~(CR4_SMEP | CR4_SMAP), %rax
	movq %rax, %cr4
	movq $tg_pml4, %rax
	movq %rax, %cr3
	lgdt tg_gdt_ptr
	pushq $TG_KCODE
	pushq $long_entry
	lretq

/* Both paths meet here, in 64-bit mode on our GDT and page tables. */
long_entry:
	movl $TG_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $boot_stack_top, %rsp
	/* .bss is small (IDT, TSS, a few variables); the stacks are not zeroed. */
	movq $__bss_start, %rdi
	movq $__bss_end, %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	rep stosq
	call kmain
1:	hlt
	jmp 1b

	.data
	.balign 16
	.globl tg_entry
tg_entry:
	.fill ES_SIZE, 1, 0

	.balign 16
	.globl tg_gdt
tg_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff	/* 0x10 kernel data */
	.quad 0x00cff3000000ffff	/* 0x18 user data, DPL 3 */
	.quad 0x00affb000000ffff	/* 0x20 user code, 64-bit, DPL 3 */
	.quad 0, 0			/* 0x28 TSS, filled in by kernel.c */
	/* TG_AP_TSS_SEL0: a TSS descriptor per APIC ID, filled in by smp.c */
	.fill 2 * TG_MAX_CPUS, 8, 0
tg_gdt_end:
	.balign 8
	.word 0, 0, 0
	.globl tg_gdt_ptr
tg_gdt_ptr:
	.word tg_gdt_end - tg_gdt - 1
	.quad tg_gdt

/*
 * The boot protocol's kernel_info (protocol 2.15): only the mandatory
 * fields. mkimage.py points kernel_info_offset at it.
 */
	.section .rodata
	.balign 4
	.globl kernel_info
kernel_info:
	.ascii "LToP"
	.long kernel_info_end - kernel_info	/* size */
	.long kernel_info_end - kernel_info	/* size_total */
	.long 0					/* setup_type_max: we read no setup_data */
kernel_info_end:

/*
 * Identity map of [0, 4 GiB) in 2 MiB pages, present, writable, user.
 * The last GiB (MMIO hole: IOAPIC, LAPIC, unclaimed addresses) is uncached.
 * kernel.c adds 1 GiB pages above 4 GiB when the CPU has them.
 */
	.section .pagetables, "aw"
	.balign 4096
	.globl tg_pml4, tg_pdpt
tg_pml4:
	.quad tg_pdpt + 0x7
	.fill 511, 8, 0
tg_pdpt:
	.quad tg_pd + 0x0007
	.quad tg_pd + 0x1007
	.quad tg_pd + 0x2007
	.quad tg_pd + 0x3007
	.fill 508, 8, 0
tg_pd:
	.set addr, 0
	.rept 1536
	.quad addr + 0x87
	.set addr, addr + 0x200000
	.endr
	.rept 512
	.quad addr + 0x9f
	.set addr, addr + 0x200000
	.endr

	.section .stacks, "aw", @nobits
	.balign 4096
	.skip 16384
	.globl boot_stack_top
boot_stack_top:
	.skip 4096
	.globl df_stack_top
df_stack_top:
	.skip 65536
	.globl user_stack_top
user_stack_top:

/*
 * A copy of the image's setup header (boot_params offsets 0x1f1-0x26b),
 * written into the payload by mkimage.py, so the guest can compare what
 * the loader handed over with what the image holds.
 */
	.data
	.balign 16
	.ascii "TGHDRCPY"
	.globl tg_image_hdr
tg_image_hdr:
	.fill TG_HDR_END - TG_HDR_START, 1, 0

/* Page directories for RAM above 4 GiB, filled in at CPL3 (checks.c). */
	.section .noinit, "aw", @nobits
	.balign 4096
	.globl tg_high_pd
tg_high_pd:
	.skip TG_HIGH_GIB * 4096
