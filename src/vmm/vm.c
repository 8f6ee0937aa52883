/* SPDX-License-Identifier: MIT */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <json-c/json.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "vmm/log.h"
#include "vmm/vm_api.h"

#define COM1_PORT 0x3f8
#define COM1_IRQ 4
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_CMD_RESET 0xfe
/* The FADT's sleep control and status registers (hardware-reduced ACPI). */
#define ACPI_SLEEP_CONTROL_PORT 0x600
#define ACPI_SLEEP_STATUS_PORT 0x601

/* A read-only mapping of a whole file (kernel or initrd). */
struct file_map {
	const uint8_t *data;
	size_t len;
};

static int map_file(const char *path, const char *what, struct file_map *fm)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s '%s': cannot open: %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		log_err("%s '%s': cannot stat: %s", what, path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s '%s': not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		log_err("%s '%s': the file is empty", what, path);
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_err("%s '%s': cannot map: %s", what, path, strerror(errno));
		return -errno;
	}
	fm->data = p;
	fm->len = (size_t)st.st_size;
	return 0;
}

static void unmap_file(struct file_map *fm)
{
	if (fm->data)
		munmap((void *)fm->data, fm->len);
	fm->data = NULL;
}

/* ---- eventfds: wake-ups for the main thread's loop ---- */

void vm_notify_eventfd(int fd, const char *what)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, so a wake-up is pending anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LEVEL_QUIET, "cannot signal an eventfd (%s): %s", what,
				strerror(errno));
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LEVEL_WARN, "eventfd read failed: %s", strerror(errno));
}

/* ---- interrupt plumbing: COM1 -> IOAPIC pin -> MSI -> in-kernel LAPIC ---- */

static void ioapic_msi(void *ctx, uint64_t address, uint32_t data)
{
	struct vm *vm = ctx;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};

	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		log_ratelimited(LOG_LEVEL_WARN, "ioapic: KVM_SIGNAL_MSI failed: %s",
				strerror(errno));
}

/*
 * With a split irqchip, KVM learns which vectors belong to level-triggered
 * IOAPIC pins (and so need KVM_EXIT_IOAPIC_EOI) from MSI routes for GSIs
 * 0..23. Mirror the redirection table into them whenever it changes.
 */
static void ioapic_routes_changed(void *ctx)
{
	struct vm *vm = ctx;
	union {
		struct kvm_irq_routing hdr;
		uint8_t bytes[sizeof(struct kvm_irq_routing) +
			      IOAPIC_NR_PINS * sizeof(struct kvm_irq_routing_entry)];
	} rt;
	unsigned int pin, n = 0;

	memset(&rt, 0, sizeof(rt));
	for (pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t addr;
		uint32_t data;

		if (!ioapic_pin_msi(&vm->ioapic, pin, &addr, &data))
			continue;
		rt.hdr.entries[n].gsi = pin;
		rt.hdr.entries[n].type = KVM_IRQ_ROUTING_MSI;
		rt.hdr.entries[n].u.msi.address_lo = (uint32_t)addr;
		rt.hdr.entries[n].u.msi.address_hi = (uint32_t)(addr >> 32);
		rt.hdr.entries[n].u.msi.data = data;
		n++;
	}
	rt.hdr.nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &rt) < 0)
		log_ratelimited(LOG_LEVEL_WARN, "ioapic: KVM_SET_GSI_ROUTING failed: %s",
				strerror(errno));
}

static const struct ioapic_ops vm_ioapic_ops = {
	.msi = ioapic_msi,
	.routes_changed = ioapic_routes_changed,
};

static void com1_set_irq(void *ctx, bool level)
{
	struct vm *vm = ctx;

	ioapic_set_irq(&vm->ioapic, COM1_IRQ, level);
}

static void com1_tx(void *ctx, uint8_t byte)
{
	struct vm *vm = ctx;

	console_write(&vm->con, &byte, 1);
}

static void com1_rx_room(void *ctx)
{
	struct vm *vm = ctx;

	/* The main thread feeds waiting input; it only needs the wake-up. */
	vm_notify_eventfd(vm->rx_room_efd, "serial input");
}

static const struct serial16550_ops vm_com1_ops = {
	.set_irq = com1_set_irq,
	.tx = com1_tx,
	.rx_room = com1_rx_room,
};

static void rtc_set_irq(void *ctx, bool level)
{
	struct vm *vm = ctx;

	ioapic_set_irq(&vm->ioapic, RTC_CMOS_IRQ, level);
}

static const struct rtc_cmos_ops vm_rtc_ops = {
	.set_irq = rtc_set_irq,
	.now_ns = rtc_cmos_host_now_ns,
};

/*
 * With dev_lock held, after anything that may have changed the RTC's next
 * event: if it moved, wake the main thread to re-arm the timer.
 */
static void rtc_update_deadline(struct vm *vm)
{
	uint64_t next = rtc_cmos_next_event_ns(&vm->rtc);

	if (next == vm->rtc_deadline_ns)
		return;
	vm->rtc_deadline_ns = next;
	vm_notify_eventfd(vm->rtc_rearm_efd, "rtc timer");
}

/* ---- exits from the vCPU threads ---- */

void vm_request_stop(struct vm *vm, int status)
{
	int expected = -1;

	atomic_compare_exchange_strong(&vm->status, &expected, status);
	atomic_store(&vm->stopping, true);
	vm_notify_eventfd(vm->stop_efd, "stop");
}

/* Device models run under dev_lock, whichever thread reaches them. */
static void bus_access(struct vm *vm, struct bus *bus, uint64_t addr, uint8_t *data,
		       unsigned int len, bool is_write)
{
	pthread_mutex_lock(&vm->dev_lock);
	if (is_write)
		bus_write(bus, addr, data, len);
	else
		bus_read(bus, addr, data, len);
	pthread_mutex_unlock(&vm->dev_lock);
}

void vm_pio(struct vm *vm, uint16_t port, uint8_t *data, unsigned int size, bool is_write)
{
	bus_access(vm, &vm->pio, port, data, size, is_write);
}

void vm_mmio(struct vm *vm, uint64_t addr, uint8_t *data, unsigned int len, bool is_write)
{
	bus_access(vm, &vm->mmio, addr, data, len, is_write);
}

void vm_ioapic_eoi(struct vm *vm, uint8_t vector)
{
	pthread_mutex_lock(&vm->dev_lock);
	ioapic_eoi(&vm->ioapic, vector);
	pthread_mutex_unlock(&vm->dev_lock);
}

/* ---- bus adapters ---- */

static void com1_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	unsigned int i;

	/* Wider accesses read consecutive registers, as on a real ISA bus. */
	for (i = 0; i < len; i++)
		data[i] = off + i < SERIAL16550_NR_REGS
				  ? serial16550_read(opaque, (unsigned int)(off + i))
				  : 0xff;
}

static void com1_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len && off + i < SERIAL16550_NR_REGS; i++)
		serial16550_write(opaque, (unsigned int)(off + i), data[i]);
}

static const struct bus_ops com1_bus_ops = {.read = com1_read, .write = com1_write};

static void rtc_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	struct vm *vm = opaque;
	unsigned int i;

	for (i = 0; i < len; i++)
		data[i] = rtc_cmos_read(&vm->rtc, (unsigned int)(off + i));
	rtc_update_deadline(vm);
}

static void rtc_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct vm *vm = opaque;
	unsigned int i;

	for (i = 0; i < len; i++)
		rtc_cmos_write(&vm->rtc, (unsigned int)(off + i), data[i]);
	rtc_update_deadline(vm);
}

static const struct bus_ops rtc_bus_ops = {.read = rtc_read, .write = rtc_write};

/*
 * A minimal i8042: status "nothing to read, ready for a command", data 0.
 * Enough for Linux's reboot=k path (which polls the status first); Linux's
 * keyboard driver finds no working controller and moves on. Its one command
 * that matters is 0xfe, pulse the reset line: the guest's way to reboot.
 */
static void zero_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	memset(data, 0, len);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct vm *vm = opaque;

	if (len == 1 && data[0] == I8042_CMD_RESET) {
		/* Linux retries the reset until it takes: say it once. */
		if (!atomic_load(&vm->stopping))
			log_info("guest requested a reset through the i8042 controller");
		vm_request_stop(vm, VM_STATUS_OK);
	}
}

static const struct bus_ops i8042_data_ops = {.read = zero_read};
static const struct bus_ops i8042_cmd_ops = {.read = zero_read, .write = i8042_cmd_write};

/*
 * The FADT's sleep control register (hardware-reduced ACPI): S5 with SLP_EN
 * powers the machine off. Other sleep states are not offered (the DSDT has
 * only \_S5_), so other writes, and the status register, are ignored.
 */
static void acpi_sleep_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	uint8_t v = data[0];

	if (off != 0 || len != 1 || !(v & ACPI_SLEEP_CTL_SLP_EN))
		return;
	if (((v & ACPI_SLEEP_CTL_SLP_TYP_MASK) >> ACPI_SLEEP_CTL_SLP_TYP_SHIFT) ==
	    ACPI_SLP_TYP_S5) {
		log_info("guest powered off (ACPI S5)");
		vm_request_stop(opaque, VM_STATUS_OK);
	}
}

static const struct bus_ops acpi_sleep_ops = {.read = zero_read, .write = acpi_sleep_write};

static void ioapic_bus_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	uint32_t v = 0xffffffff;

	if (len == 4)
		v = ioapic_mmio_read(opaque, off);
	memcpy(data, &v, len < 4 ? len : 4);
	if (len > 4)
		memset(data + 4, 0xff, len - 4);
}

static void ioapic_bus_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	uint32_t v;

	/* The IOAPIC's registers are 32 bits wide; other sizes are dropped. */
	if (len != 4) {
		log_ratelimited(LOG_LEVEL_DEBUG, "ioapic: %u-byte write ignored", len);
		return;
	}
	memcpy(&v, data, 4);
	ioapic_mmio_write(opaque, off, v);
}

static const struct bus_ops ioapic_bus_ops = {.read = ioapic_bus_read, .write = ioapic_bus_write};

/* ---- creation ---- */

static int kvm_check_cap(struct vm *vm, int cap, const char *name)
{
	int r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);

	if (r <= 0) {
		log_err("this host's KVM lacks %s, which lmigtester needs", name);
		return -ENOTSUP;
	}
	return 0;
}

static int setup_kvm(struct vm *vm)
{
	struct kvm_enable_cap cap;
	int r;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		log_err("cannot open /dev/kvm: %s%s", strerror(errno),
			errno == ENOENT ? " (is KVM enabled on this host?)" : "");
		return -errno;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		log_err("KVM API version %d, expected %d", r, KVM_API_VERSION);
		return -ENOTSUP;
	}
	if (kvm_check_cap(vm, KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT") ||
	    kvm_check_cap(vm, KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP") ||
	    kvm_check_cap(vm, KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI") ||
	    kvm_check_cap(vm, KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"))
		return -ENOTSUP;
	r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (r > 0 && vm->nr_vcpus > (unsigned int)r) {
		log_err("--cpus %u: this host's KVM allows at most %d vCPUs per VM", vm->nr_vcpus,
			r);
		return -EINVAL;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_err("KVM_CREATE_VM failed: %s", strerror(errno));
		return -errno;
	}
	/* Intel needs these two areas; put them in the MMIO hole, clear of RAM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0) {
		log_err("KVM_SET_TSS_ADDR failed: %s", strerror(errno));
		return -errno;
	}
	{
		uint64_t idmap = LAYOUT_KVM_IDENTITY_MAP;
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
			log_err("KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(errno));
			return -errno;
		}
	}
	/* LAPICs in the kernel, the IOAPIC in our process (docs/irqchip.md). */
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_SPLIT_IRQCHIP;
	cap.args[0] = IOAPIC_NR_PINS;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_err("enabling the split irqchip (KVM_CAP_SPLIT_IRQCHIP) failed: %s",
			strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_memory(struct vm *vm, const struct vm_config *cfg)
{
	unsigned int i;
	int r;

	r = gmem_layout(&vm->mem, cfg->mem_size);
	if (r) {
		log_err("guest RAM of %llu bytes cannot be laid out: %s",
			(unsigned long long)cfg->mem_size, strerror(-r));
		return VM_STATUS_CONFIG;
	}
	vm->mem.no_thp = cfg->no_thp;
	r = gmem_map(&vm->mem);
	if (r) {
		log_err("cannot map %llu MiB of guest RAM: %s",
			(unsigned long long)(cfg->mem_size >> 20), strerror(-r));
		return VM_STATUS_HOST;
	}
	for (i = 0; i < vm->mem.nr_banks; i++) {
		const struct gmem_bank *b = &vm->mem.banks[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = b->gpa,
			.memory_size = b->size,
			.userspace_addr = (uintptr_t)b->host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			log_err("KVM_SET_USER_MEMORY_REGION for RAM bank %u (0x%llx, %llu MiB) "
				"failed: %s",
				i, (unsigned long long)b->gpa, (unsigned long long)(b->size >> 20),
				strerror(errno));
			return VM_STATUS_HOST;
		}
	}
	return 0;
}

static int setup_devices(struct vm *vm)
{
	int r;

	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	ioapic_init(&vm->ioapic, &vm_ioapic_ops, vm);
	/*
	 * The IOAPIC takes the first ID after the CPUs, as on a PC, but its ID
	 * register holds only 4 bits: with 16 or more vCPUs the ID wraps (x86-64
	 * Linux keeps IOAPIC and LAPIC IDs apart). The MADT gets this same value.
	 */
	vm->ioapic.id = vm->nr_vcpus & 0xf;
	serial16550_init(&vm->com1, &vm_com1_ops, vm);
	rtc_cmos_init(&vm->rtc, &vm_rtc_ops, vm, gmem_bank_end(&vm->mem, 0),
		      vm->mem.nr_banks > 1 ? vm->mem.banks[1].size : 0);

	r = bus_register(&vm->pio, COM1_PORT, SERIAL16550_NR_REGS, &com1_bus_ops, &vm->com1,
			 "com1");
	if (!r)
		r = bus_register(&vm->pio, RTC_CMOS_PORT_BASE, RTC_CMOS_NR_PORTS, &rtc_bus_ops, vm,
				 "rtc");
	if (!r)
		r = bus_register(&vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, vm, "i8042");
	if (!r)
		r = bus_register(&vm->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, vm, "i8042");
	if (!r)
		r = bus_register(&vm->pio, ACPI_SLEEP_CONTROL_PORT, 2, &acpi_sleep_ops, vm,
				 "acpi-sleep");
	if (!r)
		r = bus_register(&vm->mmio, LAYOUT_IOAPIC, LAYOUT_IOAPIC_SIZE, &ioapic_bus_ops,
				 &vm->ioapic, "ioapic");
	if (r) {
		log_err("registering the devices failed: %s", strerror(-r));
		return VM_STATUS_HOST;
	}
	return 0;
}

static int setup_vcpus(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid = NULL;
	unsigned int i;
	int r;

	r = cpu_supported_cpuid(vm->kvm_fd, &cpuid);
	if (r) {
		log_err("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-r));
		return VM_STATUS_HOST;
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		const char *step;

		r = vcpu_create(vm, v, i);
		if (r) {
			log_err("creating vcpu%u failed: %s", i, strerror(-r));
			break;
		}
		cpu_cpuid_adapt(cpuid, i, vm->nr_vcpus, vm->host_quirks);
		step = "setting CPUID (KVM_SET_CPUID2)";
		r = cpu_set_cpuid(v->fd, cpuid);
		if (!r) {
			step = "setting the boot MSRs (KVM_SET_MSRS)";
			r = cpu_set_msrs(v->fd);
		}
		if (!r) {
			step = "setting the FPU (KVM_SET_FPU)";
			r = cpu_set_fpu(v->fd);
		}
		if (!r) {
			step = "setting the LAPIC (KVM_SET_LAPIC)";
			r = cpu_set_lapic(v->fd);
		}
		if (r) {
			log_err("vcpu%u: %s failed: %s", i, step, strerror(-r));
			break;
		}
	}
	free(cpuid);
	return r ? VM_STATUS_HOST : 0;
}

/* ACPI tables in the BIOS area, and their address in boot_params. */
static int setup_acpi(struct vm *vm, bool virtio_in_dsdt)
{
	struct acpi_virtio_mmio virtio[VM_MAX_VIRTIO];
	unsigned int i;
	struct acpi_config ac = {
		.nr_cpus = vm->nr_vcpus,
		.ioapic_addr = LAYOUT_IOAPIC,
		.ioapic_id = (uint8_t)vm->ioapic.id,
		.ioapic_gsi_base = 0,
		.sleep_control_port = ACPI_SLEEP_CONTROL_PORT,
		.sleep_status_port = ACPI_SLEEP_STATUS_PORT,
	};
	uint64_t rsdp;
	int r;

	for (i = 0; virtio_in_dsdt && i < vm->nr_virtio; i++) {
		virtio[i].base = (uint32_t)vm->virtio[i].base;
		virtio[i].size = (uint32_t)LAYOUT_VIRTIO_MMIO_SIZE;
		virtio[i].gsi = vm->virtio[i].gsi;
	}
	ac.virtio = virtio;
	ac.nr_virtio = virtio_in_dsdt ? vm->nr_virtio : 0;
	r = acpi_write_tables(&vm->mem, LAYOUT_ACPI_START, LAYOUT_ACPI_END, &ac, &rsdp);
	if (!r)
		r = gmem_write(&vm->mem,
			       LAYOUT_BOOT_PARAMS + offsetof(struct boot_params, acpi_rsdp_addr),
			       &rsdp, sizeof(rsdp));
	if (r) {
		log_err("writing the ACPI tables failed: %s", strerror(-r));
		return VM_STATUS_CONFIG;
	}
	return 0;
}

static int load_guest(struct vm *vm, const struct vm_config *cfg, const char *kernel_path,
		      const struct file_map *kernel, const char *initrd_path,
		      const struct file_map *initrd)
{
	struct boot_config bc;
	struct boot_entry entry;
	char err[512];
	int r;

	memset(&bc, 0, sizeof(bc));
	bc.protocol = cfg->protocol;
	bc.kernel_name = kernel_path;
	bc.kernel = kernel->data;
	bc.kernel_len = kernel->len;
	bc.initrd_name = initrd_path;
	bc.initrd = initrd->data;
	bc.initrd_len = initrd->len;
	bc.cmdline = vm->cmdline;
	r = boot_load(&vm->mem, &bc, &entry, err, sizeof(err));
	if (r) {
		log_err("%s", err);
		return VM_STATUS_CONFIG;
	}
	log_debug("kernel entry 0x%llx (%d-bit protocol), initrd at 0x%llx",
		  (unsigned long long)entry.rip, entry.protocol,
		  (unsigned long long)entry.initrd_addr);
	/* The EBDA holds an MP table for up to 40 CPUs; beyond that, ACPI only. */
	r = mptable_write(&vm->mem, LAYOUT_EBDA, vm->nr_vcpus, LAYOUT_IOAPIC);
	if (r == -E2BIG) {
		log_info("%u vCPUs do not fit in an MP table: the guest has ACPI's MADT only",
			 vm->nr_vcpus);
	} else if (r) {
		log_err("writing the MP table failed: %s", strerror(-r));
		return VM_STATUS_CONFIG;
	}
	r = setup_acpi(vm, !cfg->virtio_cmdline);
	if (r)
		return r;
	/* Only the boot vCPU gets entry registers; APs wait for INIT/SIPI. */
	r = cpu_set_boot_regs(vm->vcpus[0].fd, &entry);
	if (r) {
		log_err("vcpu0: setting the boot registers failed: %s", strerror(-r));
		return VM_STATUS_HOST;
	}
	return 0;
}

/* The directory of our own binary: the default guest lives beside it. */
static char *default_guest_file(const char *name)
{
	char exe[4096], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&path, "%s/guest/%s", exe, name) < 0)
		return NULL;
	return path;
}

static int check_mem_size(const struct vm_config *cfg)
{
	struct sysinfo si;
	uint64_t host;

	if (sysinfo(&si) < 0)
		return 0; /* cannot tell; let mmap decide */
	host = (uint64_t)si.totalram * si.mem_unit;
	if (cfg->mem_size > host) {
		log_err("--mem %llu MiB is larger than this host's RAM (%llu MiB)",
			(unsigned long long)(cfg->mem_size >> 20),
			(unsigned long long)(host >> 20));
		return VM_STATUS_CONFIG;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	char *def_kernel = NULL, *def_initrd = NULL;
	struct file_map kernel = {0}, initrd = {0};
	const char *kernel_path = cfg->kernel_path, *initrd_path = cfg->initrd_path;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = vm->rx_room_efd = -1;
	vm->rtc_rearm_efd = vm->rtc_timer_fd = -1;
	atomic_init(&vm->status, -1);
	atomic_init(&vm->stopping, false);
	vm->nr_vcpus = cfg->cpus;
	vm->vcpus = calloc(cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		log_err("cannot allocate %u vCPUs", cfg->cpus);
		return VM_STATUS_HOST;
	}
	pthread_mutex_init(&vm->dev_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);

	if (!kernel_path) {
		def_kernel = default_guest_file("vmlinuz");
		kernel_path = def_kernel;
		if (!initrd_path) {
			def_initrd = default_guest_file("initramfs.cpio.gz");
			initrd_path = def_initrd;
		}
		if (!kernel_path || access(kernel_path, R_OK) != 0) {
			log_err("no --kernel given and the default guest is missing (%s): run "
				"'make guest' to build it",
				kernel_path ? kernel_path : "build/guest/vmlinuz");
			r = VM_STATUS_CONFIG;
			goto out;
		}
	}
	r = check_mem_size(cfg);
	if (r)
		goto out;
	/* Bad files are the user's error (status 1), found before touching KVM. */
	if (map_file(kernel_path, "kernel", &kernel) ||
	    (initrd_path && map_file(initrd_path, "initrd", &initrd))) {
		r = VM_STATUS_CONFIG;
		goto out;
	}

	vm->host_quirks = cfg->host_quirks && cpu_host_emulates_kernel();
	vm->cmdline = config_cmdline(cfg, vm->host_quirks);
	if (!vm->cmdline) {
		r = VM_STATUS_HOST;
		goto out;
	}

	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rx_room_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rtc_rearm_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->rtc_timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->stop_efd < 0 || vm->rx_room_efd < 0 || vm->rtc_rearm_efd < 0 ||
	    vm->rtc_timer_fd < 0) {
		log_err("eventfd/timerfd failed: %s", strerror(errno));
		r = VM_STATUS_HOST;
		goto out;
	}
	r = setup_kvm(vm);
	if (r) {
		r = r == -EINVAL ? VM_STATUS_CONFIG : VM_STATUS_HOST;
		goto out;
	}
	r = setup_memory(vm, cfg);
	if (!r)
		r = setup_devices(vm);
	if (!r)
		r = vm_virtio_setup(vm, cfg);
	if (!r)
		r = setup_vcpus(vm);
	if (!r)
		r = load_guest(vm, cfg, kernel_path, &kernel, initrd_path, &initrd);
	if (!r)
		r = vm_virtio_start(vm);
	if (!r)
		r = vm_api_setup(vm, cfg->api_socket);
out:
	unmap_file(&kernel);
	unmap_file(&initrd);
	free(def_kernel);
	if (!r && vm->host_quirks)
		log_info("this host's KVM emulates guest kernel code (no VT-x/AMD-V): hiding "
			 "CX16 and the hypercall-based PV features%s (--no-host-quirks turns this "
			 "off)",
			 cfg->cmdline ? ""
				      : ", adding '" CONFIG_QUIRKS_CMDLINE "' to the kernel "
					"command line");
	free(def_initrd);
	if (r)
		vm_destroy(vm);
	return r;
}

/* ---- pause and resume ---- */

/* Post the request to every vCPU first, so that they act in parallel, then wait. */
static void request_all(struct vm *vm, enum vcpu_request req, enum vcpu_state state)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_request(&vm->vcpus[i], req);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_wait_state(&vm->vcpus[i], state);
}

/* Pause or resume every vCPU; the two differ only in the request and the words. */
static int set_paused(struct vm *vm, bool pause)
{
	bool changed;

	pthread_mutex_lock(&vm->run_lock);
	if (vm->vcpus_gone) {
		pthread_mutex_unlock(&vm->run_lock);
		return -ESHUTDOWN;
	}
	if (pause)
		request_all(vm, VCPU_REQ_PAUSE, VCPU_PAUSED);
	else
		request_all(vm, VCPU_REQ_RUN, VCPU_RUNNING);
	changed = vm->paused != pause;
	vm->paused = pause;
	pthread_mutex_unlock(&vm->run_lock);
	if (changed && pause)
		log_info("VM paused (%u vCPUs)", vm->nr_vcpus);
	else if (changed)
		log_info("VM resumed");
	if (changed)
		vm_api_event(vm, pause ? "STOP" : "RESUME", NULL);
	return 0;
}

int vm_pause(struct vm *vm)
{
	return set_paused(vm, true);
}

int vm_resume(struct vm *vm)
{
	return set_paused(vm, false);
}

bool vm_is_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->run_lock);
	paused = vm->paused;
	pthread_mutex_unlock(&vm->run_lock);
	return paused;
}

/* ---- the main thread's loop ---- */

/* Offer waiting input to the UART; whatever does not fit stays queued. */
static void feed_input(struct vm *vm)
{
	size_t n;

	if (vm->in_off == vm->in_len)
		return;
	pthread_mutex_lock(&vm->dev_lock);
	n = serial16550_receive(&vm->com1, vm->in_buf + vm->in_off, vm->in_len - vm->in_off);
	pthread_mutex_unlock(&vm->dev_lock);
	vm->in_off += n;
	if (vm->in_off == vm->in_len)
		vm->in_off = vm->in_len = 0;
}

enum { EV_STOP, EV_RX_ROOM, EV_SIGNAL, EV_STDIN, EV_RTC_REARM, EV_RTC_TIMER };

/* Arm the RTC's timer for its current deadline (0 disarms). */
static void rtc_arm(struct vm *vm)
{
	struct itimerspec its;
	uint64_t deadline;

	pthread_mutex_lock(&vm->dev_lock);
	deadline = vm->rtc_deadline_ns;
	pthread_mutex_unlock(&vm->dev_lock);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(deadline / 1000000000ULL);
	its.it_value.tv_nsec = (long)(deadline % 1000000000ULL);
	if (timerfd_settime(vm->rtc_timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_ratelimited(LOG_LEVEL_WARN, "rtc: timerfd_settime failed: %s", strerror(errno));
}

static void rtc_expired(struct vm *vm)
{
	uint64_t n;

	if (read(vm->rtc_timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(LOG_LEVEL_WARN, "rtc: timerfd read failed: %s", strerror(errno));
	pthread_mutex_lock(&vm->dev_lock);
	rtc_cmos_tick(&vm->rtc);
	vm->rtc_deadline_ns = rtc_cmos_next_event_ns(&vm->rtc);
	pthread_mutex_unlock(&vm->dev_lock);
	rtc_arm(vm);
}

static int epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int event_loop(struct vm *vm, int sig_fd)
{
	bool stdin_polled = false, stdin_pollable = true;
	int ep, r;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		log_err("epoll_create1 failed: %s", strerror(errno));
		return VM_STATUS_HOST;
	}
	if (epoll_add(ep, vm->stop_efd, EV_STOP) || epoll_add(ep, vm->rx_room_efd, EV_RX_ROOM) ||
	    epoll_add(ep, sig_fd, EV_SIGNAL) || epoll_add(ep, vm->rtc_rearm_efd, EV_RTC_REARM) ||
	    epoll_add(ep, vm->rtc_timer_fd, EV_RTC_TIMER)) {
		log_err("epoll_ctl failed: %s", strerror(errno));
		close(ep);
		return VM_STATUS_HOST;
	}

	while (!atomic_load(&vm->stopping)) {
		struct epoll_event evs[8];
		bool want_stdin = !vm->con.in_eof && vm->in_len == 0;
		int timeout = -1, n, i;

		/* Read stdin only when the previous input has reached the guest. */
		if (want_stdin && !stdin_polled && stdin_pollable) {
			r = epoll_add(ep, vm->con.in_fd, EV_STDIN);
			if (r == -EPERM)
				stdin_pollable = false; /* a regular file or /dev/null */
			else if (r == -EBADF)
				vm->con.in_eof = true; /* no stdin at all */
			else if (r)
				log_warn("console: cannot poll stdin: %s", strerror(-r));
			stdin_polled = r == 0;
		} else if (!want_stdin && stdin_polled) {
			epoll_ctl(ep, EPOLL_CTL_DEL, vm->con.in_fd, NULL);
			stdin_polled = false;
		}
		/* Files are always readable: read them without waiting. */
		if (want_stdin && !stdin_pollable)
			timeout = 0;

		n = epoll_wait(ep, evs, 8, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait failed: %s", strerror(errno));
			vm_request_stop(vm, VM_STATUS_HOST);
			break;
		}
		if (n == 0 && want_stdin && !stdin_pollable) {
			evs[0].data.u64 = EV_STDIN;
			n = 1;
		}
		for (i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case EV_STOP:
				drain_eventfd(vm->stop_efd);
				break;
			case EV_RX_ROOM:
				drain_eventfd(vm->rx_room_efd);
				feed_input(vm);
				break;
			case EV_RTC_REARM:
				drain_eventfd(vm->rtc_rearm_efd);
				rtc_arm(vm);
				break;
			case EV_RTC_TIMER:
				rtc_expired(vm);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGUSR1) {
					(void)vm_pause(vm);
				} else if (si.ssi_signo == SIGUSR2) {
					(void)vm_resume(vm);
				} else {
					log_info("terminated by signal %u (%s)", si.ssi_signo,
						 strsignal((int)si.ssi_signo));
					vm_request_stop(vm, 128 + (int)si.ssi_signo);
				}
				break;
			}
			case EV_STDIN: {
				long got;

				if (vm->in_len)
					break;
				got = console_read(&vm->con, vm->in_buf, sizeof(vm->in_buf));
				if (got < 0) {
					log_warn("console: reading stdin failed: %s; no more input",
						 strerror((int)-got));
					vm->con.in_eof = true;
					break;
				}
				if (vm->con.quit) {
					log_info("quit requested from the console (Ctrl-A x)");
					vm_request_stop(vm, VM_STATUS_OK);
					break;
				}
				vm->in_len = (size_t)got;
				vm->in_off = 0;
				feed_input(vm);
				break;
			}
			}
		}
	}
	close(ep);
	return 0;
}

int vm_run(struct vm *vm)
{
	sigset_t set;
	unsigned int i;
	int sig_fd, r, status;

	/*
	 * Block the termination signals (read through a signalfd) and the kick
	 * signal in every thread; vCPU threads inherit this and unblock the kick.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, vcpu_kick_signal());
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd < 0) {
		log_err("signalfd failed: %s", strerror(errno));
		return VM_STATUS_HOST;
	}
	r = vcpu_signals_init();
	if (r) {
		log_err("installing the vCPU kick signal failed: %s", strerror(-r));
		close(sig_fd);
		return VM_STATUS_HOST;
	}
	r = console_init(&vm->con, STDIN_FILENO, STDOUT_FILENO);
	if (r) {
		log_err("console: cannot set up the terminal: %s", strerror(-r));
		close(sig_fd);
		return VM_STATUS_HOST;
	}
	/* Threads start paused; the boot CPU runs, the APs wait for INIT/SIPI. */
	for (i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_start(&vm->vcpus[i]);
		if (r) {
			log_err("starting the vcpu%u thread failed: %s", i, strerror(-r));
			vm_request_stop(vm, VM_STATUS_HOST);
			break;
		}
	}
	if (!r) {
		(void)vm_resume(vm);
		r = vm_api_start(vm);
		if (r)
			vm_request_stop(vm, r);
		else
			event_loop(vm, sig_fd);
	}

	/* Stop every vCPU (an EXIT request each), then wait for them. */
	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->run_lock);
	vm->vcpus_gone = true;
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_request(&vm->vcpus[i], VCPU_REQ_EXIT);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->run_lock);
	console_restore();
	close(sig_fd);
	status = atomic_load(&vm->status);
	{
		struct json_object *data = json_object_new_object();

		if (data)
			json_object_object_add(data, "status",
					       json_object_new_int(status < 0 ? VM_STATUS_OK
									 : status));
		vm_api_event(vm, "SHUTDOWN", data);
	}
	/* Where was the guest when it was stopped from outside? */
	if (status > VM_STATUS_HOST && log_enabled(LOG_LEVEL_DEBUG))
		for (i = 0; i < vm->nr_vcpus; i++)
			vcpu_dump_registers(&vm->vcpus[i]);
	return status < 0 ? VM_STATUS_OK : status;
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	for (i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].vm)
			vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm_api_destroy(vm);
	vm_virtio_destroy(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->rx_room_efd >= 0)
		close(vm->rx_room_efd);
	if (vm->rtc_rearm_efd >= 0)
		close(vm->rtc_rearm_efd);
	if (vm->rtc_timer_fd >= 0)
		close(vm->rtc_timer_fd);
	gmem_unmap(&vm->mem);
	free(vm->cmdline);
	vm->vm_fd = vm->kvm_fd = vm->stop_efd = vm->rx_room_efd = -1;
	vm->rtc_rearm_efd = vm->rtc_timer_fd = -1;
	vm->cmdline = NULL;
	pthread_mutex_destroy(&vm->dev_lock);
	pthread_mutex_destroy(&vm->run_lock);
}
