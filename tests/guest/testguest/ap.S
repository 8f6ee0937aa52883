/* SPDX-License-Identifier: MIT */
/*
 * Starting the application processors (smp.c sends INIT-SIPI-SIPI).
 *
 * tg_tramp_start..tg_tramp_end is the real-mode trampoline. It is not run
 * where it is linked: smp.c copies it to a free 4 KiB page of RAM below
 * 1 MiB (0x8000 normally) and fills in its parameter block (the fields
 * marked "smp.c"); the SIPI vector is that page's number, so an AP starts
 * at CS = page << 8, IP = 0. The AP then goes
 *   real mode -> 32-bit protected mode (the trampoline's own flat GDT,
 *   paging off) -> long mode (PAE, the boot CPU's CR3, EFER.LME, CR0.PG)
 *   -> tg_ap_entry64 in the image, 64-bit,
 * which loads our GDT, this CPU's TSS, our IDT and this CPU's stack (all
 * indexed by the local APIC ID) and calls ap_kmain() (kernel.c).
 *
 * Everything here runs at CPL0, emulated instruction by instruction on
 * hosts without VT-x/AMD-V: it is ~40 instructions. The trampoline lives
 * in .rodata (it is data until copied), so check-insns.sh, which reads
 * .text as 64-bit code, does not misread its 16- and 32-bit code.
 */
#include "tg.h"

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PE 0x1
#define CR0_ET 0x10
#define CR0_PG 0x80000000
#define CR4_PAE 0x20

/* Selectors of the trampoline's GDT. */
#define TR_CODE32 0x08
#define TR_DATA 0x10
#define TR_CODE64 0x18

#define OFF(x) x - tg_tramp_start

	.section .rodata.tg_tramp, "a"
	.balign 16
	.globl tg_tramp_start
	.code16
tg_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	movzwl %ax, %ebx
	shll $4, %ebx				/* EBX: the trampoline's linear address */
	lgdtl OFF(tr_gdtr)
	/* PE; also clears CD and NW, which INIT leaves set. */
	movl $(CR0_PE | CR0_ET), %eax
	movl %eax, %cr0
	ljmpl *OFF(tr_pm32_ptr)

	.code32
	.globl tr_pm32
tr_pm32:
	movl $TR_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl OFF(tr_cr3)(%ebx), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl $(CR0_PG | CR0_ET | CR0_PE), %eax
	movl %eax, %cr0				/* long mode, in a 32-bit segment */
	ljmpl *OFF(tr_lm64_ptr)(%ebx)		/* to a 64-bit one */

	.balign 8
	.globl tr_gdt
tr_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff		/* 0x08: flat 32-bit code */
	.quad 0x00cf93000000ffff		/* 0x10: flat data */
	.quad 0x00af9b000000ffff		/* 0x18: 64-bit code */
tr_gdt_end:

/* The parameter block. */
	.balign 8
	.word 0
	.globl tr_gdtr
tr_gdtr:
	.word tr_gdt_end - tr_gdt - 1
	.long 0					/* smp.c: linear address of tr_gdt */
	.globl tr_pm32_ptr
tr_pm32_ptr:
	.long 0					/* smp.c: linear address of tr_pm32 */
	.word TR_CODE32
	.globl tr_lm64_ptr
tr_lm64_ptr:
	.long 0					/* smp.c: tg_ap_entry64 */
	.word TR_CODE64
	.globl tr_cr3
tr_cr3:
	.long 0					/* smp.c: the boot CPU's CR3 (tg_pml4) */
	.globl tg_tramp_end
tg_tramp_end:

/* ---- 64-bit, in the image, still on the trampoline's GDT ---- */
	.text
	.code64
	.globl tg_ap_entry64
tg_ap_entry64:
	/* The local APIC ID (xAPIC ID register bits 31-24) indexes everything. */
	movl $TG_LAPIC_ID_REG, %eax
	movl (%rax), %edi
	shrl $24, %edi
	movl %edi, %eax
	shlq $TG_AP_AREA_SHIFT, %rax
	leaq tg_ap_stacks + TG_AP_AREA(%rax), %rsp	/* this CPU's CPL0 stack */
	lgdt tg_gdt_ptr
	movl $TG_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	pushq $TG_KCODE
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl %edi, %eax
	shll $4, %eax
	addl $TG_AP_TSS_SEL0, %eax
	ltr %ax
	lidt tg_idt_ptr
	call ap_kmain
2:	cli
	hlt
	jmp 2b
