#!/bin/sh
# SPDX-License-Identifier: MIT
# Fail if the payload contains an instruction that KVM's instruction
# emulator cannot run at CPL0 on hosts where guest kernel code is emulated
# (docs/testguest.md): int3, xsave family, cmpxchg16b, popcnt, fwait,
# clac/stac, endbr (CET), tzcnt/lzcnt, and anything on x87/SSE/AVX registers.
# Usage: check-insns.sh payload.elf setup.o
set -eu
elf=$1
setup_obj=$2
OBJDUMP=${OBJDUMP:-objdump}
bad='(^|[[:space:]])(int3|xsave[a-z0-9]*|xrstor[a-z0-9]*|cmpxchg16b|popcnt|fwait|clac|stac|endbr(32|64)|tzcnt|lzcnt|rep bs[fr]|f[a-z0-9]+)([[:space:]]|$)|%[xyz]mm|%st'
# .head starts in 32-bit mode; its 64-bit part is a single jmp rel32, which
# decodes the same either way.
# The AP trampoline (ap.S) is in .rodata: 16-bit code up to tr_pm32, then
# 32-bit code up to tr_gdt.
NM=${NM:-nm}
sym() { "$NM" "$elf" | awk -v s="$1" '$3 == s { print "0x" $1 }'; }
t16=$(sym tg_tramp_start) t32=$(sym tr_pm32) tend=$(sym tr_gdt)
if [ -z "$t16" ] || [ -z "$t32" ] || [ -z "$tend" ]; then
	echo "check-insns.sh: the AP trampoline's symbols are missing from $elf" >&2
	exit 1
fi
out=$({ "$OBJDUMP" -d --no-show-raw-insn -M i386 -j .head "$elf";
	"$OBJDUMP" -d --no-show-raw-insn -j .text "$elf";
	"$OBJDUMP" -d --no-show-raw-insn -M i8086 -j .rodata --start-address="$t16" \
		--stop-address="$t32" "$elf";
	"$OBJDUMP" -d --no-show-raw-insn -M i386 -j .rodata --start-address="$t32" \
		--stop-address="$tend" "$elf"; } |
	grep -E "^[[:space:]]*[0-9a-f]+:" | grep -E "$bad" || true)
if [ -n "$out" ]; then
	echo "check-insns.sh: instructions the CPL0 emulator cannot run in $elf:" >&2
	echo "$out" >&2
	exit 1
fi
# The setup sectors are assembled without a link step: they must not need one.
if readelf -r "$setup_obj" | grep -q "^Relocation section '.rela.setup'"; then
	echo "check-insns.sh: $setup_obj has relocations; setup.S must be position-free" >&2
	readelf -r "$setup_obj" >&2
	exit 1
fi
