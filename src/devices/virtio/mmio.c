// SPDX-License-Identifier: MIT
/*
 * virtio-mmio version 2 (VIRTIO 1.2 section 4.2.2). Registers are 32 bits
 * wide and must be accessed as such; the device configuration space from
 * 0x100 may be accessed at any width the device allows.
 */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_mmio_config *cfg, struct gmem *mem,
		     const struct virtio_device_ops *dev_ops, void *dev,
		     const struct virtio_mmio_ops *ops, void *ctx)
{
	unsigned int q = cfg->queue_max;
	int r;

	if (cfg->nr_queues == 0 || cfg->nr_queues > VIRTIO_MMIO_MAX_QUEUES || q == 0 ||
	    q > VIRTQ_MAX_SIZE || (q & (q - 1)))
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	r = pthread_mutex_init(&t->lock, NULL);
	if (r)
		return -r;
	t->name = cfg->name;
	t->device_id = cfg->device_id;
	t->device_features = cfg->features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	t->nr_queues = cfg->nr_queues;
	t->queue_max = cfg->queue_max;
	t->mem = mem;
	t->dev_ops = dev_ops;
	t->dev = dev;
	t->ops = ops;
	t->ctx = ctx;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_live(const struct virtio_mmio *t)
{
	return (t->status & VIRTIO_STATUS_DRIVER_OK) && !t->failed;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit)
{
	return bit < 64 && (t->driver_features & VIRTIO_BIT(bit));
}

static void raise_irq(struct virtio_mmio *t, unsigned int reason)
{
	atomic_fetch_or(&t->int_status, reason);
	if (t->ops && t->ops->irq)
		t->ops->irq(t->ctx);
}

void virtio_mmio_notify_used(struct virtio_mmio *t, struct virtq *vq)
{
	if (virtq_should_notify(vq))
		raise_irq(t, VIRTIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->config_generation++;
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(t, VIRTIO_INT_CONFIG);
}

void virtio_mmio_fail(struct virtio_mmio *t, const char *fmt, ...)
{
	char why[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_ratelimited(LOG_LEVEL_WARN, "%s: %s; the device needs a reset", t->name, why);
	if (t->failed)
		return;
	t->failed = true;
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (t->dev_ops->reset)
		t->dev_ops->reset(t->dev);
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		raise_irq(t, VIRTIO_INT_CONFIG);
}

/* Status 0: everything back to its reset value (section 2.4). */
static void device_reset(struct virtio_mmio *t)
{
	unsigned int i;

	if (t->dev_ops->reset)
		t->dev_ops->reset(t->dev);
	for (i = 0; i < t->nr_queues; i++)
		virtq_reset(&t->vqs[i]);
	t->status = 0;
	t->failed = false;
	t->driver_features = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
	atomic_store(&t->int_status, 0);
}

static struct virtq *selected_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->nr_queues ? &t->vqs[t->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *vq = selected_queue(t);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION_REG:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? t->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&t->int_status);
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions */
	default:
		return 0; /* write-only and reserved registers */
	}
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t v)
{
	if (high)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | v;
}

static void queue_ready(struct virtio_mmio *t, struct virtq *vq, uint32_t v)
{
	if (!v) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;
	vq->event_idx = virtio_mmio_has_feature(t, VIRTIO_F_RING_EVENT_IDX);
	vq->indirect = virtio_mmio_has_feature(t, VIRTIO_F_INDIRECT_DESC);
	if (virtq_activate(vq, t->mem, t->queue_max))
		virtio_mmio_fail(t, "queue %u: %s", t->queue_sel, vq->error);
}

static void status_write(struct virtio_mmio *t, uint32_t v)
{
	uint32_t added;

	if (v == 0) {
		device_reset(t);
		return;
	}
	v &= ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET; /* the device's bit */
	if (t->status & ~v & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) {
		log_ratelimited(LOG_LEVEL_DEBUG, "%s: driver cleared status bits (0x%x -> 0x%x)",
				t->name, t->status, v);
		return;
	}
	added = v & ~t->status;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		/* Accept only features we offered, and never a legacy driver. */
		if ((t->driver_features & ~t->device_features) ||
		    !virtio_mmio_has_feature(t, VIRTIO_F_VERSION_1)) {
			log_ratelimited(LOG_LEVEL_INFO,
					"%s: refusing driver features 0x%llx (offered 0x%llx)",
					t->name, (unsigned long long)t->driver_features,
					(unsigned long long)t->device_features);
			v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
			added &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK)) {
		log_ratelimited(LOG_LEVEL_INFO, "%s: DRIVER_OK without FEATURES_OK", t->name);
		v &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
		added &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
	}
	t->status = v | (t->status & VIRTIO_STATUS_NEEDS_RESET);
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !t->failed) {
		int r = t->dev_ops->activate ? t->dev_ops->activate(t->dev) : 0;

		if (r)
			virtio_mmio_fail(t, "activation failed: %s", strerror(-r));
		else
			log_ratelimited(LOG_LEVEL_INFO, "%s: driver ready (features 0x%llx)",
					t->name, (unsigned long long)t->driver_features);
	}
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *vq = selected_queue(t);
	bool queue_writable = vq && !vq->ready;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (!(t->status & VIRTIO_STATUS_DRIVER) || (t->status & VIRTIO_STATUS_FEATURES_OK))
			break; /* only while negotiating */
		if (t->driver_features_sel == 0)
			t->driver_features = (t->driver_features & ~0xffffffffULL) | v;
		else if (t->driver_features_sel == 1)
			t->driver_features =
				(t->driver_features & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (queue_writable)
			vq->size = v > 0xffff ? 0 : (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq && !t->failed)
			queue_ready(t, vq, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Normally an ioeventfd catches these before they become exits. */
		if (v < t->nr_queues && t->ops && t->ops->kick)
			t->ops->kick(t->ctx, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&t->int_status, ~v);
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(t, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (queue_writable)
			set_addr_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (queue_writable)
			set_addr_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (queue_writable)
			set_addr_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		log_ratelimited(LOG_LEVEL_DEBUG, "%s: write 0x%x to register 0x%llx ignored",
				t->name, v, (unsigned long long)off);
		break;
	}
}

void virtio_mmio_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned int len)
{
	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		memset(data, 0, len);
		if (t->dev_ops->config_read)
			t->dev_ops->config_read(t->dev, off - VIRTIO_MMIO_CONFIG, data, len);
	} else if (len == 4 && off % 4 == 0) {
		uint32_t v = reg_read(t, off);

		memcpy(data, &v, 4);
	} else {
		memset(data, 0xff, len);
		log_ratelimited(LOG_LEVEL_DEBUG, "%s: %u-byte read of register 0x%llx", t->name,
				len, (unsigned long long)off);
	}
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_write(struct virtio_mmio *t, uint64_t off, const uint8_t *data, unsigned int len)
{
	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (t->dev_ops->config_write)
			t->dev_ops->config_write(t->dev, off - VIRTIO_MMIO_CONFIG, data, len);
	} else if (len == 4 && off % 4 == 0) {
		uint32_t v;

		memcpy(&v, data, 4);
		reg_write(t, off, v);
	} else {
		log_ratelimited(LOG_LEVEL_DEBUG, "%s: %u-byte write to register 0x%llx ignored",
				t->name, len, (unsigned long long)off);
	}
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_queue_notify(struct virtio_mmio *t, unsigned int queue)
{
	pthread_mutex_lock(&t->lock);
	if (queue < t->nr_queues && virtio_mmio_live(t) && t->vqs[queue].ready &&
	    t->dev_ops->queue_notify)
		t->dev_ops->queue_notify(t->dev, queue);
	pthread_mutex_unlock(&t->lock);
}
