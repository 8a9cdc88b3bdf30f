# isola: build, test, run. `make help` lists the targets.
#
# Sources are found by wildcard: a new src/**/*.c is part of isola, a new
# tests/unit/test_*.c is part of the unit-test binary.

CC      ?= gcc
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Werror=implicit-function-declaration
CPPFLAGS += -Isrc -D_GNU_SOURCE -MMD -MP
override CFLAGS += -std=gnu11 $(WARN)
LDLIBS  += -lpthread
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CPPFLAGS += -DISOLA_VERSION='"$(VERSION)"'

# Zydis is needed by the soft CPU only; build without it if it is missing.
ifneq ($(wildcard /usr/include/Zydis/Zydis.h),)
CPPFLAGS += -DHAVE_ZYDIS
LDLIBS   += -lZydis
endif

# `make V=1` shows the commands.
Q := $(if $(V),,@)

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c)) tests/unit/unit_main.c
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all isola unit guests guestkit deps test test-asan run bench clean help

all: isola unit guests

isola: $(BUILD)/isola

$(BUILD)/isola: $(BUILD)/src/main.o $(BUILD)/libisola.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libisola.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/unit_tests: $(UNIT_OBJS) $(BUILD)/libisola.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(BUILD)/unit_tests

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

-include tests/guests/guests.mk
-include tests/fuzz/fuzz.mk
-include tests/integration/block.mk
-include tests/difftest/difftest.mk

# Install the Debian packages isola, its tests and its guest kit need (as root;
# does nothing when they are all there).
deps:
	@tools/install-deps.sh

guestkit: deps
	@tools/guestkit/build.sh $(BUILD)/guestkit

# The README's test command: everything, self-installing.
test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory guestkit
	@BUILD=$(BUILD) tests/run.sh

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" all unit
	@$(MAKE) --no-print-directory guestkit
	@BUILD=build-asan ISOLA_GUESTKIT=$(CURDIR)/$(BUILD)/guestkit tests/run.sh

# The README's main command: build everything and boot the default guest.
run: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory guestkit
	$(BUILD)/isola run

bench: deps all
	@bench/run.sh

clean:
	rm -rf build build-asan

help:
	@echo "make run        install deps, build, boot the default guest (Ctrl-A x quits)"
	@echo "make test       install deps, build, run every test"
	@echo "make test-asan  the test suite under ASan+UBSan"
	@echo "make bench      benchmarks (results go in BENCHMARKS.md by hand)"

-include $(shell find $(BUILD)/src $(BUILD)/tests -type f -name '*.d' 2>/dev/null)
