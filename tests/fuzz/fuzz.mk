# libFuzzer harnesses (see tests/fuzz/README.md). The top Makefile includes
# this file; the harnesses are not part of `make all` (they need clang with
# libFuzzer: Debian's clang and libclang-rt-14-dev).
#
#   make fuzz                 build every harness
#   make fuzz-virtq           run the virtqueue harness for FUZZ_SECONDS (a night: 28800)
#   make fuzz-blk, fuzz-rng, fuzz-virtio-mmio, fuzz-virtio-console   likewise for the others
#   make fuzz-smoke           a short run of each (CI): FUZZ_SMOKE_SECONDS (60 s) for the
#                             transport harnesses, FUZZ_SMOKE_DEVICE_SECONDS (45 s) for
#                             the device ones
#
# Corpora grow in $(FUZZ_BUILD)/corpus/<harness>; crashes land in
# $(FUZZ_BUILD)/artifacts/ as crash-<sha1> files (rerun one with
# `$(FUZZ_BUILD)/fuzz_<harness> <file>`).

FUZZ_CC            ?= clang
FUZZ_BUILD         ?= $(BUILD)/fuzz
FUZZ_SECONDS       ?= 3600
FUZZ_SMOKE_SECONDS ?= 60
FUZZ_SMOKE_DEVICE_SECONDS ?= 45
FUZZ_CFLAGS        := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
                      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                      -Isrc -D_GNU_SOURCE
FUZZ_HARNESSES     := virtq virtio_mmio blk rng virtio_console

FUZZ_virtq_SRCS       := tests/fuzz/fuzz_virtq.c src/virtio/queue.c src/memory.c src/log.c
FUZZ_virtio_mmio_SRCS := tests/fuzz/fuzz_virtio_mmio.c src/virtio/mmio.c src/virtio/virtio.c \
                         src/virtio/queue.c src/memory.c src/log.c src/bus.c src/snapshot.c \
                         src/vm_eventfd.c src/eventloop.c

FUZZ_VIRTIO_SRCS      := src/virtio/mmio.c src/virtio/virtio.c src/virtio/queue.c src/memory.c \
                         src/log.c src/bus.c src/snapshot.c src/vm_eventfd.c src/eventloop.c
FUZZ_blk_SRCS         := tests/fuzz/fuzz_blk.c src/virtio/blk.c src/backends/block_raw.c \
                         src/backends/block_worker.c $(FUZZ_VIRTIO_SRCS)
FUZZ_rng_SRCS         := tests/fuzz/fuzz_rng.c src/virtio/rng.c $(FUZZ_VIRTIO_SRCS)

FUZZ_virtio_console_SRCS := tests/fuzz/fuzz_virtio_console.c src/virtio/console.c \
                         $(FUZZ_VIRTIO_SRCS)

.PHONY: fuzz fuzz-virtq fuzz-virtio-mmio fuzz-blk fuzz-rng fuzz-virtio-console fuzz-smoke

$(FUZZ_BUILD)/fuzz_virtq: $(FUZZ_virtq_SRCS) $(wildcard src/virtio/*.h) src/memory.h
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_virtq_SRCS) -lpthread

$(FUZZ_BUILD)/fuzz_virtio_mmio: $(FUZZ_virtio_mmio_SRCS) $(wildcard src/virtio/*.h) src/memory.h
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_virtio_mmio_SRCS) -lpthread

$(FUZZ_BUILD)/fuzz_blk: $(FUZZ_blk_SRCS) tests/fuzz/fuzz_driver.h $(wildcard src/virtio/*.h) \
                        src/backends/block.h src/memory.h
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_blk_SRCS) -lpthread

$(FUZZ_BUILD)/fuzz_rng: $(FUZZ_rng_SRCS) tests/fuzz/fuzz_driver.h $(wildcard src/virtio/*.h) \
                        src/memory.h
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_rng_SRCS) -lpthread

$(FUZZ_BUILD)/fuzz_virtio_console: $(FUZZ_virtio_console_SRCS) $(wildcard src/virtio/*.h) src/memory.h
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_virtio_console_SRCS) -lpthread

fuzz: $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz_%)

# Run harness $(1) for $(2) seconds; a crash fails the target.
define fuzz_run
	@mkdir -p $(FUZZ_BUILD)/corpus/$(1) $(FUZZ_BUILD)/artifacts
	$(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(2) -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/ $(FUZZ_BUILD)/corpus/$(1)
endef

fuzz-virtq: $(FUZZ_BUILD)/fuzz_virtq
	$(call fuzz_run,virtq,$(FUZZ_SECONDS))

fuzz-virtio-mmio: $(FUZZ_BUILD)/fuzz_virtio_mmio
	$(call fuzz_run,virtio_mmio,$(FUZZ_SECONDS))

fuzz-blk: $(FUZZ_BUILD)/fuzz_blk
	$(call fuzz_run,blk,$(FUZZ_SECONDS))

fuzz-rng: $(FUZZ_BUILD)/fuzz_rng
	$(call fuzz_run,rng,$(FUZZ_SECONDS))

fuzz-virtio-console: $(FUZZ_BUILD)/fuzz_virtio_console
	$(call fuzz_run,virtio_console,$(FUZZ_SECONDS))

fuzz-smoke: fuzz
	$(call fuzz_run,virtq,$(FUZZ_SMOKE_SECONDS))
	$(call fuzz_run,virtio_mmio,$(FUZZ_SMOKE_SECONDS))
	$(call fuzz_run,blk,$(FUZZ_SMOKE_DEVICE_SECONDS))
	$(call fuzz_run,rng,$(FUZZ_SMOKE_DEVICE_SECONDS))
	$(call fuzz_run,virtio_console,$(FUZZ_SMOKE_DEVICE_SECONDS))
