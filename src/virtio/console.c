/* virtio-console (VIRTIO 1.2 §5.3), one port: see console.h.
 *
 * §5.3.6: "The driver MUST NOT put a device-writable buffer in a transmitq"
 * and receive buffers are device-writable; a chain of the wrong kind is a
 * driver error, and the device stops (NEEDS_RESET) rather than guess. The
 * data of a transmit chain is a byte stream with no framing (§5.3.6.2: the
 * device does not care how the driver splits it), so chains are copied out
 * byte for byte, and receive buffers are filled as far as input allows: the
 * used length says how many bytes the driver got (§2.7.8). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "snapshot.h"
#include "virtio/console.h"
#include "vm.h"

struct virtio_console {
	struct virtio_dev *vdev;
	struct virtio_console_host_ops host;

	/* All below under vdev->lock. */
	uint8_t ring[VIRTIO_CONSOLE_TX_RING];  /* output waiting for the host */
	size_t ring_head, ring_len;            /* first byte, bytes held */
	/* A transmit chain taken but not yet all copied (the ring filled up
	 * first): it goes back to the driver once tx_off reaches its end. */
	bool tx_cur_valid;
	uint32_t tx_off;
	struct virtq_chain tx_chain;
	struct virtq_seg tx_segs[VIRTIO_CONSOLE_QUEUE_SIZE];
	bool rx_wanted;                        /* rx_push fell short: tell the host */
	bool connected;                        /* the guest wrote to the port since
						* its driver was reset (see console.h) */
};

static struct virtio_console *dev_to_vcon(struct device *dev)
{
	return virtio_mmio_vdev(dev)->opaque;
}

/* May the device use its queues (§3.1.1: not before DRIVER_OK; not after it
 * asked for a reset)? */
static bool vcon_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdev->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- output ----------------------------------------------------------------- */

/* Copy up to n bytes into the ring; returns how many fitted. */
static size_t ring_put(struct virtio_console *v, const uint8_t *p, size_t n)
{
	size_t room = VIRTIO_CONSOLE_TX_RING - v->ring_len, done = 0;

	if (n > room)
		n = room;
	while (done < n) {
		size_t tail = (v->ring_head + v->ring_len) % VIRTIO_CONSOLE_TX_RING;
		size_t chunk = VIRTIO_CONSOLE_TX_RING - tail;
		if (chunk > n - done)
			chunk = n - done;
		memcpy(v->ring + tail, p + done, chunk);
		v->ring_len += chunk;
		done += chunk;
	}
	return done;
}

/* Copy as much of the current chain as fits, from tx_off on; true when the
 * whole chain is in the ring. */
static bool tx_copy_chain(struct virtio_console *v)
{
	const struct virtq_chain *c = &v->tx_chain;
	uint32_t skip = v->tx_off;

	for (unsigned i = 0; i < c->nr_readable; i++) {
		const struct virtq_seg *s = &c->seg[i];
		size_t got;

		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		got = ring_put(v, (const uint8_t *)s->ptr + skip, s->len - skip);
		v->tx_off += (uint32_t)got;
		if (got < s->len - skip)
			return false; /* the ring is full */
		skip = 0;
	}
	return v->tx_off == c->readable_len;
}

/* Move transmit chains into the ring while it has room. Under the lock. */
static void tx_process(struct virtio_console *v)
{
	struct virtio_dev *vdev = v->vdev;
	struct virtq *vq = &vdev->vq[VIRTIO_CONSOLE_TXQ];
	bool was_empty = v->ring_len == 0, pushed = false;

	if (!vcon_live(vdev))
		return;
	while (v->ring_len < VIRTIO_CONSOLE_TX_RING) {
		if (!v->tx_cur_valid) {
			virtq_chain_init(&v->tx_chain, v->tx_segs, VIRTIO_CONSOLE_QUEUE_SIZE);
			if (virtq_pop(vq, &v->tx_chain) != 1)
				break; /* empty, or broken (the device already failed) */
			if (v->tx_chain.writable_len) {
				virtio_dev_fail(vdev, "device-writable buffer in the transmit queue");
				break;
			}
			v->tx_cur_valid = true;
			v->tx_off = 0;
			if (!v->connected) {
				/* The port is hooked up: input may flow. */
				v->connected = true;
				if (v->rx_wanted && v->host.rx_space) {
					v->rx_wanted = false;
					v->host.rx_space(v->host.opaque);
				}
			}
		}
		if (!tx_copy_chain(v))
			break;
		v->tx_cur_valid = false;
		/* Nothing was written into the chain: used length 0 (§5.3.6.2). */
		if (virtq_push_chain(vq, &v->tx_chain, 0))
			break;
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_CONSOLE_TXQ);
	if (was_empty && v->ring_len && v->host.tx_notify)
		v->host.tx_notify(v->host.opaque);
}

size_t virtio_console_tx_drain(struct device *dev, uint8_t *buf, size_t max)
{
	struct virtio_console *v = dev_to_vcon(dev);
	size_t n, done = 0;

	virtio_dev_lock(v->vdev);
	n = max < v->ring_len ? max : v->ring_len;
	while (done < n) {
		size_t chunk = VIRTIO_CONSOLE_TX_RING - v->ring_head;
		if (chunk > n - done)
			chunk = n - done;
		memcpy(buf + done, v->ring + v->ring_head, chunk);
		v->ring_head = (v->ring_head + chunk) % VIRTIO_CONSOLE_TX_RING;
		v->ring_len -= chunk;
		done += chunk;
	}
	if (v->ring_len == 0)
		v->ring_head = 0;
	/* Room again: take what the driver queued meanwhile. If that refills
	 * the ring, tx_process signals tx_notify (the ring was empty) or the
	 * caller, who asked for max and got max, comes back anyway. */
	if (done)
		tx_process(v);
	virtio_dev_unlock(v->vdev);
	return done;
}

size_t virtio_console_tx_pending(struct device *dev)
{
	struct virtio_console *v = dev_to_vcon(dev);
	size_t n;

	virtio_dev_lock(v->vdev);
	n = v->ring_len;
	virtio_dev_unlock(v->vdev);
	return n;
}

/* ---- input ------------------------------------------------------------------ */

size_t virtio_console_rx_push(struct device *dev, const uint8_t *buf, size_t len)
{
	struct virtio_console *v = dev_to_vcon(dev);
	struct virtio_dev *vdev = v->vdev;
	struct virtq *vq = &vdev->vq[VIRTIO_CONSOLE_RXQ];
	struct virtq_seg segs[VIRTIO_CONSOLE_QUEUE_SIZE];
	struct virtq_chain c;
	size_t done = 0;
	bool pushed = false;

	virtio_dev_lock(vdev);
	while (done < len && vcon_live(vdev) && v->connected) {
		uint32_t written = 0;

		virtq_chain_init(&c, segs, VIRTIO_CONSOLE_QUEUE_SIZE);
		if (virtq_pop(vq, &c) != 1)
			break;
		if (c.nr_readable) {
			virtio_dev_fail(vdev, "device-readable buffer in the receive queue");
			break;
		}
		for (unsigned i = 0; i < c.nr_segs && done < len; i++) {
			uint32_t n = c.seg[i].len;
			if (n > len - done)
				n = (uint32_t)(len - done);
			memcpy(c.seg[i].ptr, buf + done, n);
			done += n;
			written += n;
		}
		if (virtq_push_chain(vq, &c, written))
			break;
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_CONSOLE_RXQ);
	v->rx_wanted = done < len;
	virtio_dev_unlock(vdev);
	return done;
}

/* ---- device ops -------------------------------------------------------------- */

static void vcon_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *v = vdev->opaque;

	if (q == VIRTIO_CONSOLE_TXQ) {
		tx_process(v);
		return;
	}
	/* New receive buffers: input that waited for them can come now. */
	if (v->rx_wanted && v->connected && v->host.rx_space) {
		v->rx_wanted = false;
		v->host.rx_space(v->host.opaque);
	}
}

static void vcon_config_read(struct virtio_dev *vdev, uint32_t off, void *buf, unsigned len)
{
	uint8_t cfg[VIRTIO_CONSOLE_CFG_LEN] = { 0 };

	(void)vdev;
	/* Only meaningful with F_MULTIPORT, which is not offered; 1 is true. */
	cfg[VIRTIO_CONSOLE_CFG_MAX_NR_PORTS] = 1;
	memcpy(buf, cfg + off, len); /* the transport checked off + len */
}

static void vcon_config_write(struct virtio_dev *vdev, uint32_t off, const void *buf,
			      unsigned len)
{
	(void)buf;
	(void)len;
	/* emerg_wr is the only writable field, and only with F_EMERG_WRITE. */
	log_ratelimited(&vdev->rl, "virtio-console: config write at %u ignored "
			"(VIRTIO_CONSOLE_F_EMERG_WRITE is not offered)", off);
}

/* Driver reset (under the lock): a half-copied chain is forgotten with the
 * queue. Output already in the ring was accepted and stays for the host. */
static void vcon_reset(struct virtio_dev *vdev)
{
	struct virtio_console *v = vdev->opaque;

	v->tx_cur_valid = false;
	v->tx_off = 0;
	v->connected = false;
}

/* ---- snapshot ----------------------------------------------------------------- */

#define VCON_SNAP_VERSION 1

/* "VC" + two decimal digits of the transport index, next to its "VMnn". */
static void vcon_snap_tag(const struct virtio_dev *vdev, char tag[4])
{
	tag[0] = 'V';
	tag[1] = 'C';
	tag[2] = (char)('0' + vdev->index / 10 % 10);
	tag[3] = (char)('0' + vdev->index % 10);
}

/* Under the lock (the transport's save holds it). */
static int vcon_save(struct virtio_dev *vdev, struct snap_writer *w)
{
	struct virtio_console *v = vdev->opaque;
	char tag[4];

	vcon_snap_tag(vdev, tag);
	snap_begin(w, tag, VCON_SNAP_VERSION);
	snap_u32(w, (uint32_t)v->ring_len);
	for (size_t done = 0; done < v->ring_len;) {
		size_t at = (v->ring_head + done) % VIRTIO_CONSOLE_TX_RING;
		size_t chunk = VIRTIO_CONSOLE_TX_RING - at;
		if (chunk > v->ring_len - done)
			chunk = v->ring_len - done;
		snap_bytes(w, v->ring + at, chunk);
		done += chunk;
	}
	snap_u8(w, v->tx_cur_valid);
	snap_u32(w, v->tx_off);
	snap_u8(w, v->connected);
	snap_end(w);
	return w->error;
}

/* Under the lock, after the transport restored the queues. A half-copied
 * chain is taken again from the avail ring slot it came from (the driver
 * may not reuse that slot while the chain is outstanding, §2.7.13), and must
 * still be a readable chain longer than the part already copied. */
static int vcon_restore(struct virtio_dev *vdev, struct snap_reader *r)
{
	struct virtio_console *v = vdev->opaque;
	struct virtq *vq = &vdev->vq[VIRTIO_CONSOLE_TXQ];
	uint32_t version, len, off;
	bool cur, connected;
	char tag[4];
	int rc;

	vcon_snap_tag(vdev, tag);
	rc = snap_open(r, tag, &version);
	if (rc)
		return rc;
	if (version != VCON_SNAP_VERSION)
		return -ENOTSUP;
	len = snap_get_u32(r);
	if (r->error || len > VIRTIO_CONSOLE_TX_RING)
		return r->error ? r->error : -EINVAL;
	snap_get_bytes(r, v->ring, len);
	cur = snap_get_u8(r) != 0;
	off = snap_get_u32(r);
	connected = snap_get_u8(r) != 0;
	if (r->error) {
		v->ring_head = v->ring_len = 0;
		return r->error;
	}
	v->ring_head = 0;
	v->ring_len = len;
	v->tx_cur_valid = false;
	v->tx_off = 0;
	v->connected = connected;
	v->rx_wanted = true; /* the host may hold input: an extra rx_space is harmless */
	if (!cur)
		return 0;
	if (!vq->enabled || vq->broken || !vcon_live(vdev))
		return -EINVAL;
	vq->last_avail_idx--;
	virtq_chain_init(&v->tx_chain, v->tx_segs, VIRTIO_CONSOLE_QUEUE_SIZE);
	if (virtq_pop(vq, &v->tx_chain) != 1 || v->tx_chain.writable_len ||
	    off >= v->tx_chain.readable_len) {
		vq->last_avail_idx++;
		return -EINVAL;
	}
	v->tx_cur_valid = true;
	v->tx_off = off;
	return 0;
}

static void vcon_destroy(struct virtio_dev *vdev)
{
	free(vdev->opaque);
}

static const struct virtio_device_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
	.config_len = VIRTIO_CONSOLE_CFG_LEN,
	.config_read = vcon_config_read,
	.config_write = vcon_config_write,
	.notify = vcon_notify,
	.reset = vcon_reset,
	.save = vcon_save,
	.restore = vcon_restore,
	.destroy = vcon_destroy,
};

int virtio_console_create(struct guest_mem *mem, const struct irq_router *router,
			  const struct virtio_mmio_params *p,
			  const struct virtio_console_host_ops *host, struct device **out)
{
	struct virtio_console *v = calloc(1, sizeof(*v));
	struct device *dev;

	if (!v)
		return -ENOMEM;
	if (host)
		v->host = *host;
	/* No device feature bits (see console.h). */
	dev = virtio_mmio_create(mem, router, p, &vcon_ops, v, 0);
	if (!dev) {
		free(v);
		return -EINVAL;
	}
	v->vdev = virtio_mmio_vdev(dev);
	*out = dev;
	return 0;
}

int virtio_console_attach(struct vm *vm, const struct virtio_mmio_params *p,
			  const struct virtio_console_host_ops *host, struct device **out)
{
	struct device *dev;
	int rc = virtio_console_create(&vm->mem, &vm->irq, p, host, &dev);

	if (rc)
		return rc;
	vm_add_device(vm, dev);
	rc = bus_register(&vm->mmio, p->base, p->len, dev, 0);
	if (rc)
		return rc;
	if (out)
		*out = dev;
	return 0;
}
