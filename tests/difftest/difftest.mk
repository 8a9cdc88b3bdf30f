# The soft CPU's differential test against the host CPU (tests/difftest/README.md).
# Included by the top-level Makefile; also works standalone:
#   make -f tests/difftest/difftest.mk BUILD=build-x difftest
ifndef DIFFTEST_MK_INCLUDED
DIFFTEST_MK_INCLUDED := 1

ifeq ($(origin LIB_OBJS),undefined)
# Standalone: take the library's rules from the top-level Makefile.
include Makefile
endif

DIFFTEST_SRCS := $(wildcard tests/difftest/*.c)
DIFFTEST_OBJS := $(DIFFTEST_SRCS:%.c=$(BUILD)/%.o)
DIFFTEST_BIN  := $(BUILD)/tests/difftest/difftest

.PHONY: difftest difftest-long
difftest: $(DIFFTEST_BIN)
# Built with everything else, with the same flags (make test-asan builds it
# under ASan; tests/integration/difftest.sh then only runs it).
all: difftest

$(DIFFTEST_BIN): $(DIFFTEST_OBJS) $(BUILD)/libisola.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Millions of sequences, every form (known soft bugs included), a fresh seed.
DIFFTEST_LONG_COUNT ?= 2000000
difftest-long: $(DIFFTEST_BIN)
	$(DIFFTEST_BIN) --all-forms --max-report 8 --seed $$(date +%s) --count $(DIFFTEST_LONG_COUNT)

endif
