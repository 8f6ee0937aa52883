// SPDX-License-Identifier: MIT
#include "vmm/vm_virtio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/*
 * IOAPIC pins for the devices, in order: the ISA IRQs nothing else uses
 * (COM1 has 4, the RTC 8, the timer override GSI 2), then 16 and up.
 * Pins below 16 first, so that kernels which take the devices from the
 * command line (where the number is a Linux IRQ, identity-mapped only for
 * the legacy range) find them too.
 */
static const uint8_t virtio_gsis[] = {5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
_Static_assert(sizeof(virtio_gsis) >= VM_MAX_VIRTIO, "a GSI for every virtio device");

/* ---- transport hooks: interrupts and notifications that reached us ---- */

static void virtio_irq(void *ctx)
{
	struct vm_virtio *d = ctx;

	vm_notify_eventfd(d->irq_fd, d->name);
}

static void virtio_kick(void *ctx, unsigned int queue)
{
	struct vm_virtio *d = ctx;

	if (queue < VIRTIO_MMIO_MAX_QUEUES && d->queues[queue].fd >= 0)
		vm_notify_eventfd(d->queues[queue].fd, d->name);
}

static const struct virtio_mmio_ops vm_virtio_ops = {
	.irq = virtio_irq,
	.kick = virtio_kick,
};

/* On the device's worker: the guest notified a queue. */
static void queue_notified(void *opaque, uint32_t events)
{
	struct vm_virtio_queue *q = opaque;
	uint64_t v;

	(void)events;
	if (read(q->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LEVEL_WARN, "%s: notification read failed: %s", q->dev->name,
				strerror(errno));
	virtio_mmio_queue_notify(q->dev->t, q->index);
}

/* ---- the MMIO window ---- */

static void window_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	struct vm_virtio *d = opaque;

	virtio_mmio_read(d->t, off, data, len);
}

static void window_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct vm_virtio *d = opaque;

	virtio_mmio_write(d->t, off, data, len);
}

static const struct bus_ops window_ops = {
	.read = window_read,
	.write = window_write,
};

/* ---- creating the device models ---- */

static void destroy_blk(void *m)
{
	virtio_blk_destroy(m);
}

static void destroy_net(void *m)
{
	virtio_net_destroy(m);
}

static void destroy_rng(void *m)
{
	virtio_rng_destroy(m);
}

static void destroy_console(void *m)
{
	virtio_console_destroy(m);
}

enum kind { KIND_BLK, KIND_NET, KIND_RNG, KIND_CONSOLE };

static int create_model(struct vm *vm, struct vm_virtio *d, enum kind kind, const void *arg,
			char *err, size_t errlen)
{
	struct gmem *mem = &vm->mem;
	int r = -EINVAL;

	switch (kind) {
	case KIND_BLK: {
		const struct config_disk *cd = arg;
		const struct virtio_blk_opts o = {
			.path = cd->path,
			.readonly = cd->readonly,
			.direct = cd->direct,
			.serial = cd->serial,
		};
		struct virtio_blk *b = NULL;

		r = virtio_blk_create(&b, &o, d->name, mem, &d->worker, &vm_virtio_ops, d, err,
				      errlen);
		if (!r) {
			d->model = b;
			d->t = virtio_blk_mmio(b);
			d->destroy = destroy_blk;
		}
		break;
	}
	case KIND_NET: {
		const struct config_net *cn = arg;
		struct virtio_net_opts o = {.tap = cn->tap, .has_mac = cn->has_mac};
		struct virtio_net *n = NULL;

		memcpy(o.mac, cn->mac, sizeof(o.mac));
		r = virtio_net_create(&n, &o, d->name, mem, &d->worker, &vm_virtio_ops, d, err,
				      errlen);
		if (!r) {
			d->model = n;
			d->t = virtio_net_mmio(n);
			d->destroy = destroy_net;
		}
		break;
	}
	case KIND_RNG: {
		struct virtio_rng *g = NULL;

		r = virtio_rng_create(&g, d->name, mem, &d->worker, &vm_virtio_ops, d, err, errlen);
		if (!r) {
			d->model = g;
			d->t = virtio_rng_mmio(g);
			d->destroy = destroy_rng;
		}
		break;
	}
	case KIND_CONSOLE: {
		struct virtio_console_opts o;
		struct virtio_console *c = NULL;

		char why[256];

		r = virtio_console_parse(arg, &o, why, sizeof(why));
		if (r)
			snprintf(err, errlen, "--vconsole: %s", why);
		if (!r)
			r = virtio_console_create(&c, &o, d->name, mem, &d->worker, &vm_virtio_ops,
						  d, err, errlen);
		if (!r) {
			d->model = c;
			d->t = virtio_console_mmio(c);
			d->destroy = destroy_console;
			if (virtio_console_pty_path(c))
				log_info("%s: the guest's hvc0 is on %s", d->name,
					 virtio_console_pty_path(c));
		}
		break;
	}
	}
	return r;
}

/* ioeventfds for the queues, the irqfd, the MMIO window. 0 or -errno. */
static int wire(struct vm *vm, struct vm_virtio *d, const char **step)
{
	struct kvm_irqfd irqfd = {0};
	unsigned int q;
	int r;

	for (q = 0; q < d->t->nr_queues; q++) {
		struct vm_virtio_queue *vq = &d->queues[q];
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = d->base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		*step = "creating a queue eventfd";
		vq->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->fd < 0)
			return -errno;
		io.fd = vq->fd;
		*step = "KVM_IOEVENTFD";
		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
			return -errno;
		*step = "watching a queue eventfd";
		r = worker_add(&d->worker, vq->fd, EPOLLIN, queue_notified, vq);
		if (r)
			return r;
	}
	*step = "creating the interrupt eventfd";
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irq_fd < 0)
		return -errno;
	irqfd.fd = (uint32_t)d->irq_fd;
	irqfd.gsi = d->gsi;
	*step = "KVM_IRQFD";
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	*step = "claiming the MMIO window";
	return bus_register(&vm->mmio, d->base, LAYOUT_VIRTIO_MMIO_SIZE, &window_ops, d, d->name);
}

static int add_device(struct vm *vm, enum kind kind, const char *prefix, unsigned int index,
		      const void *arg)
{
	struct vm_virtio *d = &vm->virtio[vm->nr_virtio];
	const char *step = "";
	char err[512] = "";
	unsigned int q;
	int r;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->irq_fd = -1;
	for (q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		d->queues[q].dev = d;
		d->queues[q].index = q;
		d->queues[q].fd = -1;
	}
	d->base = LAYOUT_VIRTIO_MMIO + vm->nr_virtio * LAYOUT_VIRTIO_MMIO_SIZE;
	d->gsi = virtio_gsis[vm->nr_virtio];
	snprintf(d->name, sizeof(d->name), "%s%u", prefix, index);
	vm->nr_virtio++;

	r = worker_init(&d->worker, d->name);
	if (r) {
		log_err("%s: cannot create its I/O thread: %s", d->name, strerror(-r));
		return VM_STATUS_HOST;
	}
	d->have_worker = true;
	r = create_model(vm, d, kind, arg, err, sizeof(err));
	if (r) {
		log_err("%s", err[0] ? err : strerror(-r));
		return VM_STATUS_CONFIG;
	}
	r = wire(vm, d, &step);
	if (r) {
		log_err("%s: %s failed: %s", d->name, step, strerror(-r));
		return VM_STATUS_HOST;
	}
	log_debug("%s: window 0x%llx, GSI %u, %u queue(s)", d->name, (unsigned long long)d->base,
		  d->gsi, d->t->nr_queues);
	return 0;
}

/*
 * Append " virtio_mmio.device=4K@0xd0000000:5" for each device. The number
 * after the colon is a Linux IRQ number. It names the IOAPIC pin only when
 * Linux maps the legacy IRQs 1:1, which it does with the MP table (acpi=off,
 * or a kernel without ACPI) but not under ACPI on our PIC-less machine.
 */
static int announce_on_cmdline(struct vm *vm)
{
	unsigned int i;

	if (vm->nr_virtio && !strstr(vm->cmdline, "acpi=off"))
		log_info("--virtio-cmdline: Linux with ACPI numbers the IRQs of a machine without "
			 "an 8259 itself, so the IRQs on the command line only hold with acpi=off "
			 "or a kernel built without ACPI; ACPI kernels find the devices in the "
			 "DSDT");

	for (i = 0; i < vm->nr_virtio; i++) {
		char *s;

		if (asprintf(&s, "%s virtio_mmio.device=%lluK@0x%llx:%u", vm->cmdline,
			     (unsigned long long)(LAYOUT_VIRTIO_MMIO_SIZE >> 10),
			     (unsigned long long)vm->virtio[i].base, vm->virtio[i].gsi) < 0) {
			log_err("out of memory for the kernel command line");
			return VM_STATUS_HOST;
		}
		free(vm->cmdline);
		vm->cmdline = s;
	}
	return 0;
}

int vm_virtio_setup(struct vm *vm, const struct vm_config *cfg)
{
	unsigned int i;
	int r = 0;

	for (i = 0; !r && i < cfg->nr_disks; i++)
		r = add_device(vm, KIND_BLK, "virtio-blk", i, &cfg->disks[i]);
	for (i = 0; !r && i < cfg->nr_nets; i++)
		r = add_device(vm, KIND_NET, "virtio-net", i, &cfg->nets[i]);
	if (!r && cfg->rng)
		r = add_device(vm, KIND_RNG, "virtio-rng", 0, NULL);
	if (!r && cfg->vconsole)
		r = add_device(vm, KIND_CONSOLE, "virtio-console", 0, cfg->vconsole);
	if (!r && cfg->virtio_cmdline)
		r = announce_on_cmdline(vm);
	return r;
}

int vm_virtio_start(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *d = &vm->virtio[i];
		int r = worker_start(&d->worker);

		if (r) {
			log_err("%s: cannot start its I/O thread: %s", d->name, strerror(-r));
			return VM_STATUS_HOST;
		}
	}
	return 0;
}

void vm_virtio_destroy(struct vm *vm)
{
	unsigned int i, q;

	/* Every I/O thread first: none may touch a device or guest memory after this. */
	for (i = 0; i < vm->nr_virtio; i++)
		if (vm->virtio[i].have_worker)
			worker_destroy(&vm->virtio[i].worker);
	for (i = 0; i < vm->nr_virtio; i++) {
		struct vm_virtio *d = &vm->virtio[i];

		if (d->destroy)
			d->destroy(d->model);
		for (q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
			if (d->queues[q].fd >= 0)
				close(d->queues[q].fd);
		if (d->irq_fd >= 0)
			close(d->irq_fd);
		memset(d, 0, sizeof(*d));
	}
	vm->nr_virtio = 0;
}
