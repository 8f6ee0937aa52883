# lmigtester: a small KVM VMM for testing live migration.
#   make          build build/lmigtester
#   make run      install deps, build the VMM and the default guest, boot it
#   make test     install deps, build everything, run every test
# See README.md.

BUILD   ?= build
CC      ?= gcc
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wno-unused-parameter -Wformat=2 -Wvla
# DWARF 4: valgrind 3.19 cannot read clang 14's default DWARF 5.
CFLAGS  ?= -O2 -g -gdwarf-4
ALL_CFLAGS := -std=gnu11 $(WARN) -Isrc -D_GNU_SOURCE -DLMIG_VERSION='"$(VERSION)"' \
	      -pthread -MMD -MP $(CFLAGS)
LDLIBS  := -luring -ljson-c -lz -pthread

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRCS     := $(sort $(shell find src -name '*.c'))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
# Fixtures shared by the unit tests (synthetic kernel images, guest memory, ...).
UNIT_COMMON := $(sort $(wildcard tests/unit/common/*.c))
UNIT_COMMON_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_COMMON))
UNIT_COMMON_SAN_OBJS := $(patsubst %.c,$(BUILD)/san/%.o,$(UNIT_COMMON))

OBJS      := $(patsubst %.c,$(BUILD)/obj/%.o,$(SRCS))
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
SAN_OBJS  := $(patsubst %.c,$(BUILD)/san/%.o,$(LIB_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
UNIT_SAN_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests-san/%,$(UNIT_SRCS))

.PHONY: all deps run test unit clang-check guest guest-kernel testguest bench format clean
all: $(BUILD)/lmigtester

# V=1 shows the full commands.
Q := $(if $(V),,@)
say = $(if $(V),,@printf '  %-6s %s\n' $(1) $(2);)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-SAN,$<)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

# Shared unit-test fixtures include their headers as "common/...". Keep the
# objects (make would delete them as intermediate files).
.SECONDARY: $(UNIT_COMMON_OBJS) $(UNIT_COMMON_SAN_OBJS)
$(BUILD)/obj/tests/unit/common/%.o: tests/unit/common/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/san/tests/unit/common/%.o: tests/unit/common/%.c
	@mkdir -p $(dir $@)
	$(call say,CC-SAN,$<)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/lmigtester: $(OBJS)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/liblmig.a: $(LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/liblmig-san.a: $(SAN_OBJS)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_COMMON_OBJS) $(BUILD)/liblmig.a
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)$(CC) $(ALL_CFLAGS) -Itests/unit -MF $@.d -o $@ $< \
		$(UNIT_COMMON_OBJS) $(BUILD)/liblmig.a -lcmocka $(LDLIBS)

$(BUILD)/tests-san/%: tests/unit/%.c $(UNIT_COMMON_SAN_OBJS) $(BUILD)/liblmig-san.a
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -MF $@.d -o $@ $< \
		$(UNIT_COMMON_SAN_OBJS) $(BUILD)/liblmig-san.a -lcmocka $(LDLIBS)

unit: $(UNIT_BINS) $(UNIT_SAN_BINS)

# The same tree must build warning-free with clang too (-Werror).
clang-check:
	@$(MAKE) --no-print-directory CC=clang BUILD=$(BUILD)/clang $(BUILD)/clang/lmigtester \
		$(patsubst $(BUILD)/%,$(BUILD)/clang/%,$(UNIT_BINS))

deps:
	@scripts/install-deps.sh

# The default guest: Debian's cloud kernel and a busybox initramfs.
guest:
	@scripts/build-guest.sh $(BUILD)/guest

# lmigtester's own minimal kernel, from Debian's linux-source-6.1 (guest-kernel/README.md).
guest-kernel:
	@scripts/build-guest-kernel.sh $(BUILD)/guest-kernel

include tests/guest/testguest.mk

run: deps all guest
	@scripts/run-default-guest.sh $(BUILD)

test: deps all unit clang-check guest guest-kernel testguest
	@tests/run-tests.sh $(BUILD)

bench: deps all testguest
	@python3 bench/boot.py --build $(BUILD)

format:
	clang-format -i $(SRCS) $(wildcard src/*/*.h src/*/*/*.h) $(UNIT_SRCS)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(UNIT_COMMON_OBJS:.o=.d) $(UNIT_COMMON_SAN_OBJS:.o=.d) $(wildcard $(BUILD)/tests/*.d $(BUILD)/tests-san/*.d)
