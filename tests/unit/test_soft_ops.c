/* The soft accelerator through struct accel_ops, as the VMM drives it:
 * vm_create on a struct vm (installs the guest_mem write hook, attaches the
 * interrupt controllers to the VM's buses), vCPU 0 runs what set_regs/
 * set_sregs describe and sleeps in HLT until kicked, an application
 * processor waits for a startup IPI until kicked, irq_set reaches the
 * irqchip's GSIs. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <stdlib.h>
#include <string.h>

#include "accel/soft/cpu.h"
#include "bus.h"
#include "device.h"
#include "memory.h"
#include "snapshot.h"
#include "unit.h"
#include "vm.h"

#ifdef HAVE_ZYDIS

struct ap_run {
	const struct accel_ops *ops;
	struct vcpu *vcpu;
	struct vcpu_exit exit;
	int rc;
};

static void *ap_thread(void *arg)
{
	struct ap_run *r = arg;
	r->rc = r->ops->vcpu_run(r->vcpu, &r->exit);
	return NULL;
}

TEST(soft_accel_ops_lifecycle)
{
	const struct accel_ops *ops = &accel_soft_ops;
	struct vm *vm = calloc(1, sizeof(*vm));
	struct accel *acc = NULL;
	struct vcpu *bsp = NULL, *ap = NULL;
	const char *why = NULL;

	CHECK(vm != NULL);
	CHECK(gm_init(&vm->mem, 16ull << 20) == 0);
	vm->cfg.cpus = 2;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	CHECK_EQ(ops->vm_create(vm, &acc, &why), 0);
	CHECK(vm->mem.on_write != NULL);
	CHECK(vm->devices != NULL); /* the irqchip */
	/* The PIT claims its ports on the VM's bus. */
	uint8_t b = 0x30;
	CHECK(bus_access(&vm->pio, 0x43, &b, 1, true));
	CHECK_EQ(ops->vcpu_create(acc, 0, &bsp), 0);
	CHECK_EQ(ops->vcpu_create(acc, 1, &ap), 0);

	/* vCPU 0: flat 32-bit protected mode without paging, as a loader
	 * might leave it: mov eax, 0x1234 ; out 0x80, al ; hlt */
	static const uint8_t code[] = { 0xb8, 0x34, 0x12, 0x00, 0x00, 0xe6, 0x80, 0xf4 };
	CHECK(gm_write(&vm->mem, 0x10000, code, sizeof(code)) == 0);
	struct x86_sregs s;
	CHECK_EQ(ops->get_sregs(bsp, &s), 0);
	for (int i = 0; i < X86_NR_SEGS; i++) {
		if (i == X86_TR || i == X86_LDTR)
			continue;
		s.seg[i].base = 0;
		s.seg[i].limit = 0xffffffff;
		s.seg[i].db = 1;
		s.seg[i].g = 1;
		s.seg[i].selector = i == X86_CS ? 0x8 : 0x10;
	}
	s.cr0 |= X86_CR0_PE;
	CHECK_EQ(ops->set_sregs(bsp, &s), 0);
	struct x86_regs r;
	CHECK_EQ(ops->get_regs(bsp, &r), 0);
	r.rip = 0x10000;
	r.gpr[X86_RSP] = 0x8000;
	CHECK_EQ(ops->set_regs(bsp, &r), 0);
	struct vcpu_exit e;
	CHECK_EQ(ops->vcpu_run(bsp, &e), 0);
	CHECK_EQ(e.kind, VCPU_EXIT_IO);
	CHECK_EQ(e.io.port, 0x80);
	CHECK_EQ(e.io.data[0], 0x34);
	/* HLT with IF clear sleeps (an NMI or INIT could end it) until a
	 * kick: the instruction has completed. */
	struct ap_run brun = { .ops = ops, .vcpu = bsp, .rc = -1 };
	pthread_t bth;
	CHECK(pthread_create(&bth, NULL, ap_thread, &brun) == 0);
	struct timespec bts = { 0, 30 * 1000 * 1000 };
	nanosleep(&bts, NULL);
	CHECK_EQ(brun.rc, -1); /* asleep in HLT */
	ops->vcpu_kick(bsp);
	pthread_join(bth, NULL);
	CHECK_EQ(brun.rc, 0);
	CHECK_EQ(brun.exit.kind, VCPU_EXIT_KICKED);
	CHECK_EQ(ops->get_regs(bsp, &r), 0);
	CHECK_EQ(r.rip, 0x10000 + sizeof(code));
	CHECK_EQ(r.gpr[X86_RAX], 0x1234);

	/* The AP sleeps in wait-for-SIPI until it is kicked. */
	struct ap_run run = { .ops = ops, .vcpu = ap, .rc = -1 };
	pthread_t th;
	CHECK(pthread_create(&th, NULL, ap_thread, &run) == 0);
	struct timespec ts = { 0, 30 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	CHECK_EQ(run.rc, -1); /* still asleep */
	ops->vcpu_kick(ap);
	pthread_join(th, NULL);
	CHECK_EQ(run.rc, 0);
	CHECK_EQ(run.exit.kind, VCPU_EXIT_KICKED);

	/* A kick that arrives before vcpu_run is not lost either. */
	ops->vcpu_kick(bsp);
	CHECK_EQ(ops->vcpu_run(bsp, &e), 0);
	CHECK_EQ(e.kind, VCPU_EXIT_KICKED);

	CHECK_EQ(ops->irq_set(acc, 4, 1), 0);
	CHECK_EQ(ops->irq_set(acc, 100000, 1), -EINVAL);

	/* vcpu_save/vcpu_restore: the BSP's state moves to the AP (which then
	 * runs, no longer waiting for a SIPI, from after the HLT); a damaged
	 * section is refused and leaves the AP alone. */
	struct snap_writer w;
	struct snap_reader rd;
	snap_writer_init(&w);
	CHECK_EQ(ops->vcpu_save(bsp, &w), 0);
	CHECK(snap_finish(&w) == 0);
	CHECK(snap_reader_init(&rd, w.buf, w.len) == 0);
	rd.len -= 8; /* cut into the section: its fields run out */
	struct x86_regs before;
	CHECK_EQ(ops->get_regs(ap, &before), 0);
	CHECK(ops->vcpu_restore(ap, &rd) != 0);
	CHECK_EQ(ops->get_regs(ap, &r), 0);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	CHECK(snap_reader_init(&rd, w.buf, w.len) == 0);
	CHECK_EQ(ops->vcpu_restore(ap, &rd), 0);
	CHECK_EQ(ops->get_regs(ap, &r), 0);
	CHECK_EQ(r.rip, 0x10000 + sizeof(code));
	CHECK_EQ(r.gpr[X86_RAX], 0x1234);
	snap_writer_free(&w);

	ops->vcpu_destroy(ap);
	ops->vcpu_destroy(bsp);
	ops->vm_destroy(acc);
	CHECK(vm->mem.on_write == NULL);
	for (struct device *d = vm->devices, *next; d; d = next) {
		next = d->next;
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	gm_destroy(&vm->mem);
	free(vm);
}

#endif /* HAVE_ZYDIS */
