/* SPDX-License-Identifier: MIT */
/*
 * The setup part of the bzImage: boot sector, setup header and a small
 * real-mode stub. lmigtester's 32- and 64-bit loaders only read the
 * header. Loaders that run the real-mode setup code, as QEMU's -kernel
 * does (through its option ROM or qboot), enter the stub at
 * segment+0x20:0 with DS = ES = SS = segment and boot_params (this very
 * setup area) at DS:0. The stub then does what Linux's setup does, in
 * short: builds boot_params (setup header kept, e820 from int 15h), enters
 * protected mode with a flat GDT and jumps to code32_start with ESI =
 * boot_params, EBX = EBP = EDI = 0 (the 32-bit boot protocol), and EAX =
 * TG_RM_MARKER so the guest knows it came this way ("protocol 16").
 *
 * Assembled into a flat binary at offset 0 with no relocations: every
 * address below is an offset from _setup_start. mkimage.py fills in
 * setup_sects, syssize, init_size and kernel_info_offset.
 */
#include "tg.h"

#define SMAP 0x534d4150
#define RELOC 0x1000	/* the stub copies itself to DS:RELOC */

	.section .setup, "ax"
	.code16
	.globl _setup_start
_setup_start:
	/* Booting from a disk is not supported. */
	cli
1:	hlt
	jmp 1b

	.org 0x1f1
	.byte 0			/* setup_sects: mkimage.py */
	.word 0			/* root_flags */
	.long 0			/* syssize: mkimage.py */
	.word 0			/* ram_size */
	.word 0xffff		/* vid_mode: normal */
	.word 0			/* root_dev */
	.word 0xaa55		/* boot_flag */
	/* 0x200: jump; its offset byte also gives the header length. */
	.byte 0xeb
	.byte rm_start - 1f
1:	.ascii "HdrS"		/* 0x202 header */
	.word 0x020f		/* version 2.15 */
	.long 0			/* realmode_swtch */
	.word 0x1000		/* start_sys_seg (obsolete) */
	.word version_str - _setup_start - 0x200	/* kernel_version */
	.byte 0			/* type_of_loader */
	.byte 0x01		/* loadflags: LOADED_HIGH */
	.word 0x8000		/* setup_move_size */
	.long TG_LOAD_ADDR	/* code32_start */
	.long 0			/* ramdisk_image */
	.long 0			/* ramdisk_size */
	.long 0			/* bootsect_kludge */
	.word 0			/* heap_end_ptr */
	.byte 0			/* ext_loader_ver */
	.byte 0			/* ext_loader_type */
	.long 0			/* cmd_line_ptr */
	.long 0x7fffffff	/* initrd_addr_max */
	.long 0x1000		/* kernel_alignment */
	.byte 0			/* relocatable_kernel: no, we run at 0x100000 */
	.byte 12		/* min_alignment: 4 KiB */
	.word 0x0003		/* xloadflags: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	.long 2047		/* cmdline_size */
	.long 0			/* hardware_subarch: PC */
	.quad 0			/* hardware_subarch_data */
	.long 0			/* payload_offset: not compressed */
	.long 0			/* payload_length */
	.quad 0			/* setup_data */
	.quad TG_LOAD_ADDR	/* pref_address */
	.long 0			/* init_size: mkimage.py */
	.long 0			/* handover_offset: no EFI handover */
	.long 0			/* kernel_info_offset: mkimage.py */
	.org TG_HDR_END		/* fails if the header grew past 0x26c */

rm_start:
	cli
	cld
	/*
	 * boot_params live at DS:0 on top of this code. Copy the whole setup
	 * area to DS:RELOC and continue there, so boot_params can be rebuilt.
	 */
	movw %ds, %ax
	addw $(RELOC >> 4), %ax
	movw %ax, %es
	xorw %si, %si
	xorw %di, %di
	movw $((_setup_end - _setup_start) / 2), %cx
	rep movsw
	addw $0x20, %ax
	pushw %ax
	pushw $(relocated - _setup_start - 0x200)
	lretw
relocated:
	/* Our own stack, DS:0x8000 down towards the copy. */
	movw %ds, %ax
	movw %ax, %ss
	movw $0x8000, %sp
	movw %ax, %es
	/* boot_params: zero everything but the setup header. */
	xorl %eax, %eax
	xorw %di, %di
	movw $TG_HDR_START, %cx
	rep stosb
	movw $TG_HDR_END, %di
	movw $(0x1000 - TG_HDR_END), %cx
	rep stosb

	/* A20 through port 0x92 (a read of 0xff means no such port: leave it). */
	inb $0x92, %al
	testb $0x02, %al
	jnz 1f
	orb $0x02, %al
	andb $0xfe, %al
	outb %al, $0x92
1:
	/* e820 from the BIOS, int 15h AX=E820, into boot_params.e820_table. */
	xorl %ebx, %ebx
	movw $BP_E820_TABLE, %di
	xorw %bp, %bp
e820_next:
	movl $0xe820, %eax
	movl $20, %ecx
	movl $SMAP, %edx
	int $0x15
	jc e820_done
	cmpl $SMAP, %eax
	jne e820_done
	incw %bp
	addw $20, %di
	cmpw $BP_E820_MAX, %bp
	jae e820_done
	testl %ebx, %ebx
	jnz e820_next
e820_done:
	movw %bp, %ax
	movb %al, %ds:BP_E820_ENTRIES

	/* Protected mode with our GDT, then code32_start as the 32-bit protocol wants. */
	xorl %esi, %esi
	movw %ds, %si
	shll $4, %esi				/* boot_params, linear */
	leal (RELOC + gdt - _setup_start)(%esi), %eax
	movl %eax, %ds:(RELOC + gdt_ptr + 2 - _setup_start)
	lgdtl %ds:(RELOC + gdt_ptr - _setup_start)
	movl %ds:BP_CODE32_START, %ecx
	leal 0x8000(%esi), %edx			/* the same stack, linear */
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	movw $0x18, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl %edx, %esp
	pushl $0x10
	pushl %ecx
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	xorl %edi, %edi
	movl $TG_RM_MARKER, %eax
	lretl

	.balign 8
gdt:
	.quad 0, 0
	.quad 0x00cf9b000000ffff	/* 0x10: flat 32-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: flat data */
gdt_end:
	.balign 4
	.word 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.long 0				/* base: filled in at run time */

version_str:
	.asciz "lmigtester test guest"

	.balign 512
_setup_end:
