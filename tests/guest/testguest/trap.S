/* SPDX-License-Identifier: MIT */
/*
 * Interrupt and exception entry: one stub per vector pushes a dummy error
 * code where the CPU pushes none, then the vector number; trap_common saves
 * the general registers and calls trap(struct trap_frame *) in kernel.c.
 * All gates are interrupt gates, so handlers run with IF=0.
 */
#include "tg.h"

	.text
	.code64

.macro VEC n
	.balign 16
vec_\n:
	.if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp trap_common
.endm

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,48,255,49,64,65,66,67,68,69,70,71
	VEC \n
	.endr

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	/* 22 quadwords since the CPU's 16-byte aligned push: aligned for the call. */
	movq %rsp, %rdi
	cld
	call trap
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/*
 * wait_for_interrupt(): sti; hlt; cli. The STI shadow should keep an
 * interrupt from landing between sti and hlt, but the host's emulator may
 * not honour it; trap() therefore moves an interrupt frame whose RIP is
 * tg_hlt past the hlt, so a wake-up is never lost.
 */
	.globl wait_for_interrupt, tg_hlt
wait_for_interrupt:
	sti
tg_hlt:
	hlt
	cli
	ret

/*
 * enter_user(rip, rsp, arg): to CPL3 with IOPL 3 and interrupts off; the
 * CPL3 function gets arg as its first argument.
 */
	.globl enter_user
enter_user:
	movl $TG_UDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	pushq $TG_UDATA
	pushq %rsi
	pushq $0x3002
	pushq $TG_UCODE
	pushq %rdi
	movq %rdx, %rdi
	iretq

/* ap_park(): where an AP ends, at CPL0 with interrupts off. */
	.globl ap_park
ap_park:
	cli
1:	hlt
	jmp 1b

	.section .rodata
	.balign 8
	.globl tg_vectors
tg_vectors:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,48,255,49,64,65,66,67,68,69,70,71
	.quad vec_\n
	.endr
