# isola's test guests: freestanding x86-64 ELF64 programs, one per
# tests/guests/*.c, each linked with the runtime in tests/guests/rt.
# Included by the top-level Makefile; builds $(BUILD)/guests/<name>.elf.
# Every variable is prefixed GUEST_ so the host build's CC/CFLAGS/CPPFLAGS
# (which may carry sanitizer flags) never reach the guests.

GUEST_CC      ?= gcc
GUEST_DIR     := tests/guests
GUEST_OUT      = $(BUILD)/guests
GUEST_NAMES   := $(sort $(basename $(notdir $(wildcard $(GUEST_DIR)/*.c))))
GUEST_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
                 -ffreestanding -nostdlib -mgeneral-regs-only -mno-red-zone \
                 -fno-pic -fno-pie -fno-stack-protector -fcf-protection=none \
                 -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns \
                 -mcmodel=small -I$(GUEST_DIR)
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(GUEST_DIR)/rt/guest.ld \
                 -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
                 -Wl,--no-warn-rwx-segments
GUEST_RT_OBJS  = $(GUEST_OUT)/rt/crt0.o $(GUEST_OUT)/rt/lib.o $(GUEST_OUT)/rt/trap.o \
                 $(GUEST_OUT)/rt/trap_stubs.o
GUEST_ELFS     = $(GUEST_NAMES:%=$(GUEST_OUT)/%.elf)

guests: $(GUEST_ELFS)

$(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/%.o $(GUEST_RT_OBJS) $(GUEST_DIR)/rt/guest.ld
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT_OBJS) $<

$(GUEST_OUT)/obj/%.o: $(GUEST_DIR)/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_OUT)/rt/%.o: $(GUEST_DIR)/rt/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_OUT)/rt/%.o: $(GUEST_DIR)/rt/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

# Keep the objects: they are inputs of several links.
.SECONDARY: $(GUEST_NAMES:%=$(GUEST_OUT)/obj/%.o) $(GUEST_RT_OBJS)

# Header dependencies (the top Makefile only reads .d files under src/ and tests/).
-include $(wildcard $(BUILD)/guests/obj/*.d $(BUILD)/guests/rt/*.d)
