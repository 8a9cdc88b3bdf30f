/* A polling virtio-blk driver: the virtio-mmio version 2 initialisation
 * (VIRTIO 1.2 §3.1.1, §4.2.3.1), one split virtqueue in this guest's memory
 * (§2.7) and block requests (§5.2.6), with no interrupts: the guest turns
 * them off (VIRTQ_AVAIL_F_NO_INTERRUPT, §2.7.7) and polls the used ring, so
 * it runs on kvm over PVM (which cannot deliver them) as well as on soft.
 *
 * The first virtio-mmio device at virtio_base= (default 0xd0000000) must be
 * a block device. Two modes, from the command line:
 *
 * Check mode (the default), for tests/integration/virtio_blk_poll.sh. The host
 * filled every 512-byte sector s of the image with the words
 * PAT_A(s, i), i = 0..63. The guest checks the capacity (sectors=), reads
 * the whole disk (several requests in flight, data split over two
 * descriptors) and checks three words per sector, prints the GET_ID
 * answer, writes PAT_B over [wstart, wstart + wcount), FLUSHes, reads that
 * range back, checks the device's interrupt line in the local APIC's IRR
 * (no interrupt is taken: IF stays 0), and checks that a read past the end
 * fails with IOERR and an unknown request type with UNSUPP. On a read-only device (VIRTIO_BLK_F_RO)
 * it checks instead that a write fails with IOERR. The host then checks the
 * file.
 *
 * bench=1, for bench/blk.sh: op=0 sequential read, 1 sequential write,
 * 2 random read; bs= request size, depth= requests in flight, bytes= total.
 * Descriptors are built once; per request the guest only sets the sector,
 * queues the head and notifies, and per completion it reads the status
 * byte: it never touches the data, so the time is the device path's. The
 * time from the first request to the last completion is measured with
 * RDTSC and printed with the TSC rate (CPUID 0x40000010 if the hypervisor
 * gives it, else tsc_khz= from the command line). */
#include "rt/lib.h"
#include "rt/virtio_mmio.h"


#define F_BLK_SIZE_MAX 1
#define F_BLK_SEG_MAX 2
#define F_BLK_RO 5
#define F_BLK_BLK_SIZE 6
#define F_BLK_FLUSH 9
#define F_VERSION_1 32

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define ST_OK 0
#define ST_IOERR 1
#define ST_UNSUPP 2

#define D_NEXT 1
#define D_WRITE 2
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY 1

#define SECTOR 512u
#define WORDS (SECTOR / 8)
#define PAT_A(s, i) (0xa500000000000000ull | (uint64_t)(s) << 8 | (i))
#define PAT_B(s, i) (0xb700000000000000ull | (uint64_t)(s) << 8 | (i))

/* Request slot k owns descriptors 4k..4k+3: header, up to two data
 * buffers, status. */
#define QSIZE 64
#define MAX_DEPTH (QSIZE / 4)
#define BUF_BASE (16ull << 20)  /* data buffers: RAM above the image, never cleared */
#define BUF_LEN (16u << 20)

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct desc vq_desc[QSIZE] __attribute__((aligned(16)));
static struct {
	uint16_t flags, idx, ring[QSIZE], used_event;
} vq_avail __attribute__((aligned(4)));
static struct {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[QSIZE];
	uint16_t avail_event;
} vq_used __attribute__((aligned(4)));

static struct blk_hdr hdr[MAX_DEPTH];
static volatile uint8_t status[MAX_DEPTH];
static uint8_t id_buf[20];

static uint64_t dev;           /* the device's window */
static uint16_t avail_idx, used_seen;
static uint64_t deadline_ticks; /* give up on a request after this many TSC ticks */

static uint32_t rd(uint32_t reg)
{
	return mmio_read32(dev + reg);
}

static void wr(uint32_t reg, uint32_t v)
{
	mmio_write32(dev + reg, v);
}

static void wr64(uint32_t reg, uint64_t v)
{
	wr(reg, (uint32_t)v);
	wr(reg + 4, (uint32_t)(v >> 32));
}

static uint64_t cfg64(uint32_t off)
{
	return mmio_read32(dev + R_CONFIG + off) |
	       (uint64_t)mmio_read32(dev + R_CONFIG + off + 4) << 32;
}

/* §3.1.1 and §4.2.3.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK
 * (read back), the queue, DRIVER_OK. Returns the device's feature bits. */
static uint64_t device_init(uint64_t want)
{
	uint64_t offered;

	if (rd(R_MAGIC) != VIRTIO_MAGIC || rd(R_VERSION) != 2)
		fail("no virtio-mmio version 2 device at 0x%llx", (unsigned long long)dev);
	if (rd(R_DEVICE_ID) != 2)
		fail("device at 0x%llx is virtio type %u, not a block device",
		     (unsigned long long)dev, rd(R_DEVICE_ID));
	wr(R_STATUS, 0);
	if (rd(R_STATUS) != 0)
		fail("the device did not reset");
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEV_FEATURES_SEL, 0);
	offered = rd(R_DEV_FEATURES);
	wr(R_DEV_FEATURES_SEL, 1);
	offered |= (uint64_t)rd(R_DEV_FEATURES) << 32;
	if (!(offered & (1ull << F_VERSION_1)))
		fail("the device does not offer VIRTIO_F_VERSION_1");
	want = (want & offered) | 1ull << F_VERSION_1;
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, (uint32_t)want);
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, (uint32_t)(want >> 32));
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		fail("the device refused features 0x%llx", (unsigned long long)want);

	/* §4.2.3.2: queue 0 must be unused, and large enough. */
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_READY) != 0)
		fail("queue 0 is ready before set-up");
	if (rd(R_QUEUE_NUM_MAX) < QSIZE)
		fail("queue 0 holds %u buffers, this driver needs %u", rd(R_QUEUE_NUM_MAX), QSIZE);
	wr(R_QUEUE_NUM, QSIZE);
	vq_avail.flags = AVAIL_F_NO_INTERRUPT; /* polling: no used-buffer interrupts */
	wr64(R_QUEUE_DESC, (uint64_t)vq_desc);
	wr64(R_QUEUE_DRIVER, (uint64_t)&vq_avail);
	wr64(R_QUEUE_DEVICE, (uint64_t)&vq_used);
	wr(R_QUEUE_READY, 1);
	if (rd(R_QUEUE_READY) != 1)
		fail("the device refused queue 0");
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (rd(R_STATUS) != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK))
		fail("status 0x%x after DRIVER_OK", rd(R_STATUS));
	return offered;
}

/* Build slot k's chain: header, data [buf, buf + len) in nseg pieces
 * (device-writable for reads), status. len 0: no data descriptor. */
static void build(unsigned k, uint32_t type, uint64_t buf, uint32_t len, unsigned nseg)
{
	unsigned d = 4 * k;
	uint16_t dflags = type == T_OUT ? D_NEXT : D_NEXT | D_WRITE;

	hdr[k].type = type;
	hdr[k].reserved = 0;
	vq_desc[d] = (struct desc){ (uint64_t)&hdr[k], sizeof(hdr[k]), D_NEXT, (uint16_t)(d + 1) };
	if (len) {
		uint32_t first = nseg == 2 ? len / 2 : len;
		vq_desc[++d] = (struct desc){ buf, first, dflags, (uint16_t)(d + 1) };
		if (nseg == 2)
			vq_desc[++d] = (struct desc){ buf + first, len - first, dflags,
						      (uint16_t)(d + 1) };
	}
	vq_desc[d + 1] = (struct desc){ (uint64_t)&status[k], 1, D_WRITE, 0 };
}

/* Make slot k's chain available (§2.7.13) and notify unless the device
 * said it does not need it (§2.7.10). */
static void submit(unsigned k, uint64_t sector)
{
	hdr[k].sector = sector;
	status[k] = 0xff;
	vq_avail.ring[avail_idx % QSIZE] = (uint16_t)(4 * k);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*(volatile uint16_t *)&vq_avail.idx = ++avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(*(volatile uint16_t *)&vq_used.flags & USED_F_NO_NOTIFY))
		wr(R_QUEUE_NOTIFY, 0);
}

/* Wait for the next used element; returns its slot, *len its length. */
static unsigned reap(uint32_t *len)
{
	uint64_t t0 = rdtsc();
	unsigned spins = 0;

	while (*(volatile uint16_t *)&vq_used.idx == used_seen) {
		if ((++spins & 0x3ff) == 0 && rdtsc() - t0 > deadline_ticks)
			fail("no completion after %llu TSC ticks (used idx %u, status 0x%x)",
			     (unsigned long long)deadline_ticks, used_seen, rd(R_STATUS));
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t id = vq_used.ring[used_seen % QSIZE].id;
	*len = vq_used.ring[used_seen % QSIZE].len;
	used_seen++;
	if (id % 4 || id / 4 >= MAX_DEPTH)
		fail("used element with id %u, not a head this driver made available", id);
	return id / 4;
}

/* One request, waited for; returns its status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t buf, uint32_t len,
		       uint32_t *used_len)
{
	uint32_t l;

	build(0, type, buf, len, 1);
	submit(0, sector);
	if (reap(&l) != 0)
		fail("completion for a slot not in flight");
	if (used_len)
		*used_len = l;
	return status[0];
}

/* ---- check mode -------------------------------------------------------- */

/* Three words of each sector: first, one in the middle, last. */
static void check_sectors(uint64_t buf, uint64_t sector, unsigned n, bool b)
{
	static const unsigned probe[3] = { 0, 37, WORDS - 1 };

	for (unsigned s = 0; s < n; s++) {
		const uint64_t *w = (const uint64_t *)(buf + (uint64_t)s * SECTOR);
		for (unsigned j = 0; j < 3; j++) {
			unsigned i = probe[j];
			uint64_t want = b ? PAT_B(sector + s, i) : PAT_A(sector + s, i);
			if (w[i] != want)
				fail("sector %llu word %u: 0x%llx, expected 0x%llx",
				     (unsigned long long)(sector + s), i,
				     (unsigned long long)w[i], (unsigned long long)want);
		}
	}
}

/* Read [first, first + count) in requests of up to chunk sectors, depth in
 * flight, each request's data in two descriptors; check pattern B inside
 * [bstart, bend), A elsewhere. */
static void read_and_check(uint64_t first, uint64_t count, unsigned chunk, unsigned depth,
			   uint64_t bstart, uint64_t bend)
{
	uint64_t next = first, end = first + count, sector_of[MAX_DEPTH];
	unsigned nfree = depth, free_slot[MAX_DEPTH], n_of[MAX_DEPTH];

	for (unsigned k = 0; k < depth; k++)
		free_slot[k] = k;
	while (next < end || nfree < depth) {
		while (next < end && nfree) {
			unsigned k = free_slot[--nfree];
			unsigned n = end - next < chunk ? (unsigned)(end - next) : chunk;
			build(k, T_IN, BUF_BASE + (uint64_t)k * chunk * SECTOR, n * SECTOR, 2);
			sector_of[k] = next;
			n_of[k] = n;
			submit(k, next);
			next += n;
		}
		uint32_t len;
		unsigned k = reap(&len);
		if (status[k] != ST_OK)
			fail("read of %u sectors at %llu: status %u", n_of[k],
			     (unsigned long long)sector_of[k], status[k]);
		if (len != n_of[k] * SECTOR + 1)
			fail("read of %u sectors: used length %u, expected %u", n_of[k], len,
			     n_of[k] * SECTOR + 1);
		for (unsigned s = 0; s < n_of[k]; s++) {
			uint64_t sec = sector_of[k] + s;
			check_sectors(BUF_BASE + ((uint64_t)k * chunk + s) * SECTOR, sec, 1,
				      sec >= bstart && sec < bend);
		}
		free_slot[nfree++] = k;
	}
}

static void fill_b(uint64_t buf, uint64_t sector, unsigned n)
{
	uint64_t *w = (uint64_t *)buf;
	for (unsigned s = 0; s < n; s++)
		for (unsigned i = 0; i < WORDS; i++)
			*w++ = PAT_B(sector + s, i);
}

/* The device's interrupt without taking it (IF=0: it waits in the local
 * APIC's IRR, Intel SDM vol. 3A 10.8.4; so this runs on kvm over PVM too):
 * the line (gsi=, default 16: isola's first virtio-mmio device) routed
 * level-triggered to a vector; no interrupt while the driver suppresses it
 * (VIRTQ_AVAIL_F_NO_INTERRUPT), then one with InterruptStatus bit 0 that
 * InterruptACK clears (§4.2.2). */
#define LAPIC_SVR 0xf0
#define LAPIC_IRR 0x200
#define IRQ_VECTOR 0x51

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static bool irr_set(void)
{
	return mmio_read32(LAPIC_BASE + LAPIC_IRR + (IRQ_VECTOR / 32) * 0x10) &
	       (1u << (IRQ_VECTOR % 32));
}

static void check_interrupt(const void *bp)
{
	uint64_t gsi = 16, t0;
	uint8_t st;

	cmdline_u64(bp, "gsi", &gsi);
	if (gsi >= 24)
		fail("gsi=%llu is not an I/O APIC pin", (unsigned long long)gsi);
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1ff); /* accept interrupts */
	if (irr_set())
		fail("vector 0x%x pending before the test", IRQ_VECTOR);
	/* Level-triggered (bit 15), active high, fixed, physical APIC id 0. */
	ioapic_write(0x10 + 2 * (uint32_t)gsi + 1, 0);
	ioapic_write(0x10 + 2 * (uint32_t)gsi, IRQ_VECTOR | 1u << 15);

	st = request(T_FLUSH, 0, 0, 0, NULL);
	t0 = rdtsc();
	while (rdtsc() - t0 < 200000000ull && !irr_set())
		;
	if (st != ST_OK || irr_set() || rd(R_INT_STATUS))
		fail("suppressed interrupt: FLUSH status %u, IRR %d, InterruptStatus 0x%x", st,
		     irr_set(), rd(R_INT_STATUS));

	vq_avail.flags = 0;
	st = request(T_FLUSH, 0, 0, 0, NULL);
	t0 = rdtsc();
	while (rdtsc() - t0 < deadline_ticks && !irr_set())
		;
	if (st != ST_OK || !irr_set() || !(rd(R_INT_STATUS) & 1))
		fail("used-buffer interrupt: FLUSH status %u, IRR %d, InterruptStatus 0x%x", st,
		     irr_set(), rd(R_INT_STATUS));
	wr(R_INT_ACK, 1);
	if (rd(R_INT_STATUS))
		fail("InterruptStatus 0x%x after the ACK", rd(R_INT_STATUS));
	ioapic_write(0x10 + 2 * (uint32_t)gsi, 1u << 16); /* masked */
	vq_avail.flags = AVAIL_F_NO_INTERRUPT;
	printf("interrupt: none while suppressed, GSI %llu -> vector 0x%x, ACK clears it\n",
	       (unsigned long long)gsi, IRQ_VECTOR);
}

static int check_mode(const void *bp, uint64_t features)
{
	uint64_t sectors = 0, wstart = 0, wcount = 0, cap = cfg64(0);
	bool ro = features & (1ull << F_BLK_RO);
	uint32_t len;
	uint8_t st;

	if (!cmdline_u64(bp, "sectors", &sectors))
		fail("need sectors=<image size in sectors> on the command line");
	if (cap != sectors)
		fail("capacity %llu sectors, expected %llu", (unsigned long long)cap,
		     (unsigned long long)sectors);
	cmdline_u64(bp, "wstart", &wstart);
	cmdline_u64(bp, "wcount", &wcount);
	if (wstart > sectors || wcount > sectors - wstart || wcount > 1024)
		fail("wstart/wcount outside the disk or above 1024 sectors");
	printf("capacity %llu sectors, features 0x%llx%s\n", (unsigned long long)cap,
	       (unsigned long long)features, ro ? " (read-only)" : "");

	/* GET_ID (§5.2.6.1): 20 bytes, NUL-padded; the host compares. */
	memset(id_buf, 0, sizeof(id_buf));
	st = request(T_GET_ID, 0, (uint64_t)id_buf, sizeof(id_buf), &len);
	if (st != ST_OK)
		fail("GET_ID: status %u", st);
	puts("id: ");
	for (unsigned i = 0; i < sizeof(id_buf) && id_buf[i]; i++)
		putc(id_buf[i] >= 0x20 && id_buf[i] < 0x7f ? (char)id_buf[i] : '?');
	putc('\n');

	read_and_check(0, sectors, 128, 4, 0, 0);
	printf("read %llu sectors: pattern A\n", (unsigned long long)sectors);

	if (ro) {
		fill_b(BUF_BASE, 0, 8);
		st = request(T_OUT, 0, BUF_BASE, 8 * SECTOR, NULL);
		if (st != ST_IOERR)
			fail("write to a read-only disk: status %u, expected IOERR", st);
		puts("write to the read-only disk: IOERR\n");
	} else if (wcount) {
		/* Writes of up to 16 sectors, four in flight. */
		uint64_t s = wstart, end = wstart + wcount;
		fill_b(BUF_BASE, wstart, (unsigned)wcount);
		while (s < end) {
			unsigned k, n = 0;
			for (k = 0; k < 4 && s < end; k++) {
				unsigned c = end - s < 16 ? (unsigned)(end - s) : 16;
				build(k, T_OUT, BUF_BASE + (s - wstart) * SECTOR, c * SECTOR, 2);
				submit(k, s);
				s += c;
				n++;
			}
			while (n--) {
				k = reap(&len);
				if (status[k] != ST_OK || len != 1)
					fail("write at %llu: status %u, used length %u",
					     (unsigned long long)hdr[k].sector, status[k], len);
			}
		}
		st = request(T_FLUSH, 0, 0, 0, &len);
		if (st != ST_OK)
			fail("FLUSH: status %u", st);
		printf("wrote %llu sectors at %llu, flushed\n", (unsigned long long)wcount,
		       (unsigned long long)wstart);
		read_and_check(wstart, wcount, 32, 4, wstart, end);
		puts("read back: pattern B\n");
	}

	check_interrupt(bp);

	/* Requests the device must refuse (§5.2.6.2). */
	st = request(T_IN, sectors, BUF_BASE, SECTOR, NULL);
	if (st != ST_IOERR)
		fail("read past the end: status %u, expected IOERR", st);
	st = request(0x55, 0, BUF_BASE, SECTOR, NULL);
	if (st != ST_UNSUPP)
		fail("request type 0x55: status %u, expected UNSUPP", st);
	if (rd(R_STATUS) & (S_NEEDS_RESET | S_FAILED))
		fail("device status 0x%x at the end", rd(R_STATUS));
	wr(R_STATUS, 0);
	return 0;
}

/* ---- bench=1 -------------------------------------------------------- */

static uint32_t tsc_khz(const void *bp)
{
	uint64_t k = 0;

	if (cpuid(1, 0).ecx & (1u << 31) && cpuid(0x40000000, 0).eax >= 0x40000010 &&
	    cpuid(0x40000010, 0).eax)
		return cpuid(0x40000010, 0).eax;
	if (cmdline_u64(bp, "tsc_khz", &k) && k && k < 0xffffffffu)
		return (uint32_t)k;
	return 0;
}

static int bench_mode(const void *bp)
{
	static const char *const names[] = { "seqread", "seqwrite", "randread" };
	uint64_t op = 0, bs = 1 << 20, depth = 8, bytes = 256 << 20, seed = 0x9e3779b97f4a7c15ull;
	uint64_t cap = cfg64(0) * SECTOR, reqs, done = 0, issued = 0, pos = 0, t0, t1;
	uint32_t len;

	cmdline_u64(bp, "op", &op);
	cmdline_u64(bp, "bs", &bs);
	cmdline_u64(bp, "depth", &depth);
	cmdline_u64(bp, "bytes", &bytes);
	if (op > 2 || bs < SECTOR || bs % SECTOR || depth < 1 || depth > MAX_DEPTH ||
	    bs * depth > BUF_LEN || bytes < bs || cap < bs)
		fail("bench: need op=0..2, bs= a multiple of 512 up to the disk size, "
		     "depth=1..%u, bs*depth up to %u MiB, bytes>=bs", MAX_DEPTH, BUF_LEN >> 20);
	reqs = bytes / bs;
	for (unsigned k = 0; k < depth; k++)
		build((unsigned)k, op == 1 ? T_OUT : T_IN, BUF_BASE + k * bs, (uint32_t)bs, 1);
	uint64_t slots = cap / bs; /* whole requests that fit */

	t0 = rdtsc();
	for (unsigned k = 0; k < depth && issued < reqs; k++, issued++) {
		uint64_t off = op == 2 ? xorshift64(&seed) % slots : pos++ % slots;
		submit(k, off * bs / SECTOR);
	}
	while (done < reqs) {
		unsigned k = reap(&len);
		if (status[k] != ST_OK)
			fail("bench: request %llu: status %u", (unsigned long long)done, status[k]);
		done++;
		if (issued < reqs) {
			uint64_t off = op == 2 ? xorshift64(&seed) % slots : pos++ % slots;
			submit(k, off * bs / SECTOR);
			issued++;
		}
	}
	if (op == 1 && request(T_FLUSH, 0, 0, 0, NULL) != ST_OK)
		fail("bench: FLUSH failed");
	t1 = rdtsc();
	printf("bench op=%s bs=%llu depth=%llu reqs=%llu bytes=%llu ticks=%llu tsc_khz=%u\n",
	       names[op], (unsigned long long)bs, (unsigned long long)depth,
	       (unsigned long long)reqs, (unsigned long long)(reqs * bs),
	       (unsigned long long)(t1 - t0), tsc_khz(bp));
	wr(R_STATUS, 0);
	return 0;
}

/* ---- entry --------------------------------------------------------------- */

static bool ram_covers(const void *bp, uint64_t start, uint64_t len)
{
	for (unsigned i = 0; i < e820_count(bp); i++) {
		struct e820_entry e = e820_get(bp, i);
		if (e.type == E820_RAM && e.addr <= start && start + len <= e.addr + e.size)
			return true;
	}
	return false;
}

int guest_main(void *bp)
{
	uint64_t base = 0xd0000000ull, mode_bench = 0, want;
	cmdline_u64(bp, "virtio_base", &base);
	dev = base;
	/* 30 s at 1 GHz (soft's TSC), 10 s at 3 GHz. */
	deadline_ticks = 30000000000ull;
	cmdline_u64(bp, "bench", &mode_bench);
	if (!ram_covers(bp, BUF_BASE, BUF_LEN))
		fail("need RAM at [0x%llx, +%u MiB) for the data buffers",
		     (unsigned long long)BUF_BASE, BUF_LEN >> 20);
	want = 1ull << F_BLK_FLUSH | 1ull << F_BLK_RO | 1ull << F_BLK_BLK_SIZE |
	       1ull << F_BLK_SEG_MAX | 1ull << F_BLK_SIZE_MAX;
	uint64_t features = device_init(want);
	return mode_bench ? bench_mode(bp) : check_mode(bp, features);
}
