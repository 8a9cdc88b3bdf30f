/* A hostile virtio driver (virtio 1.x spec, 4.2 virtio over MMIO, 2.7 split
 * virtqueues). Finds the virtio-mmio devices ("virtio_base=", default
 * isola's 0xd0000000, windows of 0x200) and feeds each one the things the
 * spec forbids a driver to do: queue sizes of 0, beyond the maximum and not
 * a power of two; rings outside RAM and in the MMIO hole; descriptor chains
 * that loop, run past the table, point outside RAM or into device MMIO,
 * have huge lengths, put readable after writable buffers, or use broken
 * indirect tables; an available index racing ahead by more than the queue
 * size; notifications of queues that do not exist; config-space accesses
 * of every size past its end. A device may give up (NEEDS_RESET) but must
 * come back on reset, and isola must survive. All DMA the device may do
 * lands in a scratch area of this guest, never on its code. */
#include "rt/lib.h"
#include "rt/virtio_mmio.h"

#define WINDOW 0x200u
#define MAX_DEVICES 32
#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4
#define QSIZE 16
#define VIRTIO_F_VERSION_1 32

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

/* Rings and buffers the device may write: all in here. */
static struct {
	struct desc desc[QSIZE] __attribute__((aligned(16)));
	struct desc indirect[4] __attribute__((aligned(16)));
	uint16_t avail[3 + QSIZE] __attribute__((aligned(2)));
	uint8_t pad[64];
	uint32_t used[1 + 2 * QSIZE + 1] __attribute__((aligned(4)));
	uint8_t buf[4][512];
} scratch __attribute__((aligned(4096)));

static uint32_t rd(uint64_t dev, uint32_t reg)
{
	return mmio_read32(dev + reg);
}

static void wr(uint64_t dev, uint32_t reg, uint32_t v)
{
	mmio_write32(dev + reg, v);
}

static void wr64(uint64_t dev, uint32_t reg, uint64_t v)
{
	wr(dev, reg, (uint32_t)v);
	wr(dev, reg + 4, (uint32_t)(v >> 32));
}

/* Reset and wait for the device to say so (4.2.3.1: read status until 0). */
static bool reset(uint64_t dev)
{
	wr(dev, R_STATUS, 0);
	for (unsigned i = 0; i < 100000; i++)
		if (rd(dev, R_STATUS) == 0)
			return true;
	return false;
}

/* The first steps of 3.1.1, accepting VERSION_1 and whatever else the
 * device offers in the first 32 bits; true if FEATURES_OK stuck. */
static bool negotiate(uint64_t dev)
{
	wr(dev, R_STATUS, S_ACK);
	wr(dev, R_STATUS, S_ACK | S_DRIVER);
	wr(dev, R_DEV_FEATURES_SEL, 0);
	uint32_t lo = rd(dev, R_DEV_FEATURES);
	wr(dev, R_DRV_FEATURES_SEL, 0);
	wr(dev, R_DRV_FEATURES, lo);
	wr(dev, R_DRV_FEATURES_SEL, 1);
	wr(dev, R_DRV_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return rd(dev, R_STATUS) & S_FEATURES_OK;
}

static void setup_queue(uint64_t dev, uint32_t q, uint32_t num, uint64_t d, uint64_t a,
			uint64_t u)
{
	wr(dev, R_QUEUE_SEL, q);
	wr(dev, R_QUEUE_NUM, num);
	wr64(dev, R_QUEUE_DESC, d);
	wr64(dev, R_QUEUE_DRIVER, a);
	wr64(dev, R_QUEUE_DEVICE, u);
	wr(dev, R_QUEUE_READY, 1);
}

static void settle(uint64_t dev)
{
	/* Give a back end on another thread a moment, and ack interrupts. */
	for (unsigned i = 0; i < 200; i++)
		(void)rd(dev, R_STATUS);
	wr(dev, R_INT_ACK, rd(dev, R_INT_STATUS));
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	scratch.desc[i] = (struct desc){ addr, len, flags, next };
}

/* The bad chains, one head each. */
static unsigned bad_chains(uint16_t *heads)
{
	uint64_t b0 = (uint64_t)scratch.buf[0], b1 = (uint64_t)scratch.buf[1];
	unsigned n = 0;

	set_desc(0, b0, 16, D_NEXT, 0);                           /* loops on itself */
	heads[n++] = 0;
	set_desc(1, 0x7fff00000000ull, 0xffffffffu, D_WRITE, 0);   /* outside RAM, huge */
	heads[n++] = 1;
	set_desc(2, b0, 16, D_NEXT, 0xffff);                      /* next past the table */
	heads[n++] = 2;
	set_desc(3, (uint64_t)scratch.indirect, 7, D_INDIRECT, 0); /* indirect, odd length */
	heads[n++] = 3;
	set_desc(4, 0xd0000000ull, WINDOW, D_WRITE, 0);            /* DMA into device MMIO */
	heads[n++] = 4;
	set_desc(5, b1, 64, D_WRITE | D_NEXT, 6);                  /* readable after writable */
	set_desc(6, b0, 64, 0, 0);
	heads[n++] = 5;
	set_desc(7, 0xfffffffffffff000ull, 0x2000, D_NEXT, 8);     /* wraps the address space */
	set_desc(8, b1, 512, D_WRITE, 0);
	heads[n++] = 7;
	set_desc(9, (uint64_t)scratch.indirect, 64, D_INDIRECT | D_NEXT, 10); /* indirect+next */
	set_desc(10, b1, 512, D_WRITE, 0);
	heads[n++] = 9;
	/* Indirect table with a loop and a nested indirect descriptor. */
	scratch.indirect[0] = (struct desc){ b0, 16, D_NEXT, 1 };
	scratch.indirect[1] = (struct desc){ (uint64_t)scratch.indirect, 64, D_INDIRECT, 0 };
	scratch.indirect[2] = (struct desc){ b1, 16, D_NEXT, 2 };
	scratch.indirect[3] = (struct desc){ b1, 16, D_NEXT, 9 };
	set_desc(11, (uint64_t)&scratch.indirect[2], 32, D_INDIRECT, 0);
	heads[n++] = 11;
	set_desc(12, b0, 0, D_WRITE, 0);                           /* zero length */
	heads[n++] = 12;
	heads[n++] = 0xffff;                                      /* head past the table */
	heads[n++] = QSIZE;                                       /* head one past */
	/* A long chain covering the whole table, ending in a loop back. */
	for (unsigned i = 13; i < QSIZE; i++)
		set_desc(i, b0 + i, 8, D_NEXT, (uint16_t)(i + 1 < QSIZE ? i + 1 : 13));
	heads[n++] = 13;
	return n;
}

static void hammer(uint64_t dev, unsigned nqueues)
{
	uint64_t d = (uint64_t)scratch.desc, a = (uint64_t)scratch.avail,
		 u = (uint64_t)scratch.used;

	/* Queue sizes the spec forbids, then rings nowhere near RAM. */
	static const uint32_t sizes[] = { 0, 3, 0x10000, 0xffffffffu };
	for (unsigned i = 0; i < 4; i++) {
		negotiate(dev);
		setup_queue(dev, 0, sizes[i], d, a, u);
		wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
		wr(dev, R_QUEUE_NOTIFY, 0);
		settle(dev);
		reset(dev);
	}
	static const uint64_t nowhere[] = { 0x7fff00000000ull, 0xd0000000ull,
					    0xfffffffffffff000ull, 0xfee00000ull };
	for (unsigned i = 0; i < 4; i++) {
		negotiate(dev);
		setup_queue(dev, 0, QSIZE, nowhere[i], nowhere[(i + 1) % 4], nowhere[(i + 2) % 4]);
		wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
		wr(dev, R_QUEUE_NOTIFY, 0);
		settle(dev);
		reset(dev);
	}

	/* Bad chains on every queue, then the available index far ahead. */
	for (unsigned q = 0; q < nqueues && q < 4; q++) {
		memset(&scratch, 0, sizeof(scratch));
		uint16_t heads[QSIZE];
		unsigned n = bad_chains(heads);
		negotiate(dev);
		wr(dev, R_QUEUE_SEL, q);
		uint32_t max = rd(dev, R_QUEUE_NUM_MAX);
		if (max < QSIZE) {
			printf("    queue %u: max size %u, skipped\n", q, max);
			reset(dev);
			continue;
		}
		setup_queue(dev, q, QSIZE, d, a, u);
		wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
		for (unsigned i = 0; i < n; i++) {
			scratch.avail[2 + i % QSIZE] = heads[i];
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			scratch.avail[1] = (uint16_t)(i + 1);
			wr(dev, R_QUEUE_NOTIFY, q);
		}
		settle(dev);
		scratch.avail[1] = (uint16_t)(scratch.avail[1] + 0x8000);
		wr(dev, R_QUEUE_NOTIFY, q);
		settle(dev);
		printf("    queue %u: %u bad chains; used idx %u, status 0x%x\n", q, n,
		       scratch.used[0] >> 16, rd(dev, R_STATUS));
		/* Notifications for queues that do not exist. */
		wr(dev, R_QUEUE_NOTIFY, 0xffff);
		wr(dev, R_QUEUE_NOTIFY, 0x7fffffff);
		settle(dev);
		reset(dev);
	}

	/* Config space: every size, past its end, and random writes. */
	uint64_t rng = 0xc0ffee ^ dev;
	for (uint32_t off = R_CONFIG; off < WINDOW; off += 4) {
		(void)mmio_read8(dev + off + 1);
		(void)mmio_read16(dev + off + 2);
		(void)mmio_read32(dev + off);
		(void)mmio_read64(dev + (off & ~7u));
	}
	for (unsigned i = 0; i < 256; i++) {
		uint64_t r = xorshift64(&rng);
		mmio_write8(dev + R_CONFIG + (r & 0xff), (uint8_t)(r >> 8));
	}
	/* Registers that are read-only, written; selectors out of range. */
	wr(dev, R_MAGIC, 0);
	wr(dev, R_VERSION, 0);
	wr(dev, R_DEVICE_ID, 0);
	wr(dev, R_QUEUE_SEL, 0xffff);
	(void)rd(dev, R_QUEUE_NUM_MAX);
	wr(dev, R_QUEUE_READY, 1);
	wr(dev, R_DEV_FEATURES_SEL, 0xffffffffu);
	(void)rd(dev, R_DEV_FEATURES);
	reset(dev);
}

int guest_main(void *bp)
{
	uint64_t base = 0xd0000000ull, found = 0;

	(void)cmdline_u64(bp, "virtio_base", &base);
	for (unsigned i = 0; i < MAX_DEVICES; i++) {
		uint64_t dev = base + (uint64_t)i * WINDOW;
		if (rd(dev, R_MAGIC) != VIRTIO_MAGIC)
			continue;
		uint32_t version = rd(dev, R_VERSION), id = rd(dev, R_DEVICE_ID);
		if (id == 0)
			continue; /* an empty slot */
		printf("virtio-mmio at 0x%lx: version %u, device id %u\n", dev, version, id);
		if (version != 2) {
			puts("  not a virtio 1.x (version 2) transport, skipped\n");
			continue;
		}
		found++;
		if (!reset(dev))
			fail("device at 0x%lx does not reset", dev);
		unsigned nq = 0;
		while (nq < 8) {
			wr(dev, R_QUEUE_SEL, nq);
			if (rd(dev, R_QUEUE_NUM_MAX) == 0)
				break;
			nq++;
		}
		printf("  %u queues\n", nq);
		hammer(dev, nq);
		if (!reset(dev))
			fail("device at 0x%lx does not come back on reset", dev);
		if (rd(dev, R_MAGIC) != VIRTIO_MAGIC || rd(dev, R_DEVICE_ID) != id)
			fail("device at 0x%lx changed identity", dev);
		if (!negotiate(dev))
			fail("device at 0x%lx refuses FEATURES_OK after the abuse and a reset", dev);
		reset(dev);
		puts("  survived and resets cleanly\n");
	}
	if (!found) {
		printf("no virtio-mmio devices at 0x%lx\n", base);
		return 0;
	}
	printf("%lu devices abused\n", found);
	return 0;
}
