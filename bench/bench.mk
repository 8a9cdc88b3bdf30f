# Build rules for the benchmark's tools and guests; bench/run.sh runs
# `make -f bench/bench.mk BUILD=<dir>`. The guests use the test guests'
# flags, linker script and runtime objects (tests/guests/guests.mk, included
# here), built into the same $(BUILD)/guests/rt as the test guests.

BUILD     ?= build
BENCH_OUT  = $(BUILD)/bench
BENCH_HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE

.PHONY: bench-tools
bench-tools: $(BENCH_OUT)/spawn $(BENCH_OUT)/bare_kvm $(BENCH_OUT)/guests/ioloop.elf \
             $(BENCH_OUT)/guests/firstbyte.elf $(BENCH_OUT)/guests/touch.elf

include tests/guests/guests.mk

$(BENCH_OUT)/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_HOST_CFLAGS) -o $@ $<

# The two tools that spawn and time a command share bench/lib/timed_child.c.
TIMED_CHILD = bench/lib/timed_child.c bench/lib/timed_child.h
$(BENCH_OUT)/spawn: bench/spawn.c $(TIMED_CHILD)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_HOST_CFLAGS) -o $@ $< bench/lib/timed_child.c

$(BENCH_OUT)/boot/stamp: bench/boot/stamp.c $(TIMED_CHILD)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_HOST_CFLAGS) -o $@ $< bench/lib/timed_child.c

$(BENCH_OUT)/guests/%.elf: bench/guests/%.c $(GUEST_RT_OBJS) $(GUEST_DIR)/rt/guest.ld
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT_OBJS) $<

# No runtime: this guest is its own entry point.
$(BENCH_OUT)/guests/%.elf: bench/guests/%.S $(GUEST_DIR)/rt/guest.ld
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $<

# QEMU's firmware image running the loop <count> times (no guest runtime:
# QEMU starts it in real mode at the reset vector). Port 0x280 as elsewhere.
$(BENCH_OUT)/qemu/loop-%.rom: bench/qemu/loop_rom.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) -c -Wa,--defsym,N=$* -Wa,--defsym,PORT=0x280 -o $@.o $<
	objcopy -O binary -j .text $@.o $@
	rm -f $@.o

# The compute benchmark's guest (bench/compute.sh): the test runtime plus a
# PVH entry and its ELF note, linked with a script that keeps the note.
COMPUTE_LDFLAGS = $(subst $(GUEST_DIR)/rt/guest.ld,bench/guests/compute.ld,$(GUEST_LDFLAGS))
$(BENCH_OUT)/guests/compute.elf: bench/guests/compute.c bench/guests/pvh.S \
                                 bench/guests/compute.ld $(GUEST_RT_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(COMPUTE_LDFLAGS) -o $@ $(GUEST_RT_OBJS) \
		bench/guests/pvh.S bench/guests/compute.c
