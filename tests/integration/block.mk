# The block back end's integration helper (tests/integration/block_durability.sh).
# Included by the top-level Makefile after `all` is defined; the script also builds
# it on demand with `make -f Makefile -f tests/integration/block.mk`, hence the guard.
ifndef BLOCK_MK_INCLUDED
BLOCK_MK_INCLUDED := 1

BLOCK_HELPER = $(BUILD)/tests/integration/block_durability

.PHONY: block-helpers
block-helpers: $(BLOCK_HELPER)
all: block-helpers

$(BLOCK_HELPER): $(BUILD)/tests/integration/block_durability.o $(BUILD)/libisola.a
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

endif
