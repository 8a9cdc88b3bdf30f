/* vm_eventfd.c against a fake back end that records the eventfds it is
 * given and plays KVM's part: ioevent handlers run on the event loop, and
 * an irqfd-driven level line is asserted again at the guest's EOI (the
 * resample) only while the device still holds it high. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "eventloop.h"
#include "unit.h"
#include "vm.h"
#include "vm_eventfd.h"

static struct {
	int refuse;           /* -errno to return from the hooks, 0 to accept */
	int io_fd, io_assigned;
	uint64_t io_addr, io_match;
	unsigned io_len;
	int irq_fd, resample_fd, irq_assigned;
	unsigned irq_gsi;
	int irq_set_calls;
} fake;

static int fake_ioeventfd(struct accel *acc, uint64_t addr, unsigned len, uint64_t datamatch,
			  int fd, bool assign)
{
	(void)acc;
	if (fake.refuse)
		return fake.refuse;
	fake.io_fd = fd;
	fake.io_addr = addr;
	fake.io_len = len;
	fake.io_match = datamatch;
	fake.io_assigned += assign ? 1 : -1;
	return 0;
}

static int fake_irqfd(struct accel *acc, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)acc;
	if (fake.refuse)
		return fake.refuse;
	fake.irq_gsi = gsi;
	fake.irq_fd = fd;
	fake.resample_fd = resample_fd;
	fake.irq_assigned += assign ? 1 : -1;
	return 0;
}

static int fake_irq_set(struct accel *acc, unsigned gsi, int level)
{
	(void)acc;
	(void)gsi;
	(void)level;
	fake.irq_set_calls++;
	return 0;
}

static const struct accel_ops fake_ops = {
	.name = "fake",
	.irq_set = fake_irq_set,
	.ioeventfd = fake_ioeventfd,
	.irqfd = fake_irqfd,
};

static const struct accel_ops fake_ops_without = {
	.name = "fake-without",
	.irq_set = fake_irq_set,
};

static struct vm *fake_vm(const struct accel_ops *ops)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	fake = (typeof(fake)){ .io_fd = -1, .irq_fd = -1, .resample_fd = -1 };
	vm->accel_ops = ops;
	vm->loop = eventloop_create();
	return vm;
}

static void fake_vm_free(struct vm *vm)
{
	vm_eventfds_destroy(vm);
	eventloop_destroy(vm->loop);
	free(vm);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	CHECK(write(fd, &one, sizeof(one)) == sizeof(one));
}

/* The eventfd's counter (0 if it was not signalled), which it resets. */
static uint64_t drain_fd(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static int handler_calls;
static void count_handler(void *opaque)
{
	CHECK(opaque == &handler_calls);
	handler_calls++;
}

TEST(vm_ioevent_runs_on_the_loop)
{
	struct vm *vm = fake_vm(&fake_ops);
	handler_calls = 0;
	CHECK_EQ(vm_ioevent_add(vm, 0xd0000050, 4, 0, count_handler, &handler_calls), 0);
	CHECK_EQ(fake.io_assigned, 1);
	CHECK_EQ(fake.io_addr, 0xd0000050);
	CHECK_EQ(fake.io_len, 4);
	CHECK_EQ(fake.io_match, 0);
	CHECK(fake.io_fd >= 0);
	eventloop_run_once(vm->loop, 0);
	CHECK_EQ(handler_calls, 0); /* nothing signalled yet */
	/* Two notifications before the loop runs: one call serves both. */
	signal_fd(fake.io_fd);
	signal_fd(fake.io_fd);
	eventloop_run_once(vm->loop, 100);
	CHECK_EQ(handler_calls, 1);
	eventloop_run_once(vm->loop, 0);
	CHECK_EQ(handler_calls, 1);
	fake_vm_free(vm);
	CHECK_EQ(fake.io_assigned, 0); /* removed from the back end */
}

TEST(vm_ioevent_refused_or_absent)
{
	struct vm *vm = fake_vm(&fake_ops);
	fake.refuse = -EINVAL;
	CHECK_EQ(vm_ioevent_add(vm, 0xd0000050, 4, 0, count_handler, &handler_calls), -EINVAL);
	CHECK_EQ(vm_irqfd_enable(vm, 16), -EINVAL);
	CHECK(vm->eventfd_fallback_logged);
	CHECK(!vm_irqfd_set_level(vm, 16, 1)); /* irq_set serves the line */
	CHECK(vm->ioevents == NULL);
	fake_vm_free(vm);

	vm = fake_vm(&fake_ops_without);
	CHECK_EQ(vm_ioevent_add(vm, 0xd0000050, 4, 0, count_handler, &handler_calls), -ENOTSUP);
	CHECK_EQ(vm_irqfd_enable(vm, 16), -ENOTSUP);
	CHECK(!vm->eventfd_fallback_logged); /* a back end without them: no news */
	fake_vm_free(vm);
}

TEST(vm_irqfd_level_and_resample)
{
	struct vm *vm = fake_vm(&fake_ops);
	CHECK_EQ(vm_irqfd_enable(vm, 16), 0);
	CHECK_EQ(vm_irqfd_enable(vm, 16), -EEXIST);
	CHECK_EQ(vm_irqfd_enable(vm, VM_IRQFD_MAX_GSI), -EINVAL);
	CHECK_EQ(fake.irq_gsi, 16);
	CHECK(fake.irq_fd >= 0 && fake.resample_fd >= 0);
	CHECK(!vm_irqfd_set_level(vm, 5, 1)); /* not irqfd-driven */

	/* Raising asserts; the guest's EOI (resample) while the device still
	 * holds the line asserts it again. */
	CHECK(vm_irqfd_set_level(vm, 16, 1));
	CHECK_EQ(drain_fd(fake.irq_fd), 1);
	signal_fd(fake.resample_fd);
	eventloop_run_once(vm->loop, 100);
	CHECK_EQ(drain_fd(fake.irq_fd), 1);

	/* Lowered (InterruptACK): nothing to tell the back end until the
	 * EOI, and the EOI then leaves the line low. */
	CHECK(vm_irqfd_set_level(vm, 16, 0));
	CHECK_EQ(drain_fd(fake.irq_fd), 0);
	signal_fd(fake.resample_fd);
	eventloop_run_once(vm->loop, 100);
	CHECK_EQ(drain_fd(fake.irq_fd), 0);
	CHECK_EQ(fake.irq_set_calls, 0);
	fake_vm_free(vm);
	CHECK_EQ(fake.irq_assigned, 0);
}
