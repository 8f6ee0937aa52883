# The test guest: a freestanding x86-64 program in the Linux bzImage format
# (docs/testguest.md). Included by the top Makefile, which defines BUILD.
#   make testguest   ->  $(BUILD)/testguest/testguest.bzImage

TG_SRC  := tests/guest/testguest
TG_OUT  := $(BUILD)/testguest
TG_CC   ?= gcc
TG_PYTHON ?= python3

# No libc, no SSE/x87 (the CPL0 emulator of some hosts lacks them), no red
# zone (interrupts run on the same stack at CPL0), no CET endbr64.
TG_CFLAGS := -std=gnu11 -O2 -g -m64 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-mno-red-zone -mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2 -mno-avx -mno-80387 \
	-mcmodel=small -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fcf-protection=none -fno-strict-aliasing -fno-common \
	-fno-tree-loop-distribute-patterns \
	-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -I$(TG_SRC) -MMD -MP
TG_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(TG_SRC)/payload.ld -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -Wl,--no-warn-rwx-segments

TG_OBJS := $(addprefix $(TG_OUT)/,head.o trap.o kernel.o user.o checks.o lib.o acpi.o smp.o ap.o rtc.o virtio.o vdev.o vhostile.o vbench.o)

.PHONY: testguest
testguest: $(TG_OUT)/testguest.bzImage

$(TG_OUT)/%.o: $(TG_SRC)/%.c
	@mkdir -p $(dir $@)
	$(TG_CC) $(TG_CFLAGS) -c -o $@ $<

$(TG_OUT)/%.o: $(TG_SRC)/%.S
	@mkdir -p $(dir $@)
	$(TG_CC) $(TG_CFLAGS) -c -o $@ $<

$(TG_OUT)/payload.elf: $(TG_OBJS) $(TG_SRC)/payload.ld
	$(TG_CC) $(TG_CFLAGS) $(TG_LDFLAGS) -o $@ $(TG_OBJS)

$(TG_OUT)/setup.bin: $(TG_OUT)/setup.o
	objcopy -O binary -j .setup $< $@

$(TG_OUT)/testguest.bzImage: $(TG_OUT)/setup.bin $(TG_OUT)/payload.elf $(TG_OUT)/setup.o \
		$(TG_SRC)/mkimage.py $(TG_SRC)/check-insns.sh
	$(TG_SRC)/check-insns.sh $(TG_OUT)/payload.elf $(TG_OUT)/setup.o
	$(TG_PYTHON) $(TG_SRC)/mkimage.py --setup $(TG_OUT)/setup.bin \
		--payload $(TG_OUT)/payload.elf -o $@

-include $(wildcard $(TG_OUT)/*.d)
