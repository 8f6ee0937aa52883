"""lmigtester's own minimal kernel (`make guest-kernel`, from Debian's
linux-source-6.1) on the complete platform: SMP, ACPI, COM1 through ACPI,
the CMOS RTC, the initramfs.

On a host whose KVM emulates guest kernel code (host-kvm.md) no Linux
userspace can run, so the kernel's own log is checked up to
"Run /init as init process"; then the VMM is stopped. On a VT-x/AMD-V host
the same tests continue into the default guest's busybox shell: they check
nproc and date there and power off through ACPI.
"""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (BUILD, GUEST_INITRD, LMIG, STATUS_OK, host_emulates_kernel, read_until)

KDIR = os.path.join(BUILD, "guest-kernel")
BZIMAGE = os.path.join(KDIR, "bzImage")
VMLINUX = os.path.join(KDIR, "vmlinux")
BOOT_TIMEOUT = 600
RUN_INIT = b"Run /init as init process"


@pytest.fixture
def kernel(kvm):
    for f in (BZIMAGE, VMLINUX, GUEST_INITRD):
        if not os.path.exists(f):
            pytest.fail("%s missing: 'make guest-kernel guest' should have built it" % f)


def newc_cpio(files):
    """An uncompressed initramfs (cpio "newc") holding `files`: {name: bytes}."""
    out = b""
    for ino, (name, data) in enumerate(sorted(files.items()) + [("TRAILER!!!", b"")], 1):
        mode = 0o100755 if data or name != "TRAILER!!!" else 0
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        hdr = b"070701" + b"".join(b"%08x" % f for f in fields) + name.encode() + b"\0"
        out += hdr + b"\0" * (-len(hdr) % 4) + data + b"\0" * (-len(data) % 4)
    return out + b"\0" * (-len(out) % 512)


@pytest.fixture(scope="module")
def tiny_initrd(tmp_path_factory):
    """Where no userspace can run, a few-byte initramfs: unpacking the default
    guest's 1.2 MB gzip archive takes minutes of emulated kernel code here."""
    path = tmp_path_factory.mktemp("initrd") / "tiny.cpio"
    path.write_bytes(newc_cpio({"init": b"#!/bin/sh\necho never runs here\n"}))
    return str(path)


def boot(image, protocol, cpus, initrd):
    """Boot to /init; returns (log, stderr, status). On an emulating host the
    VMM is stopped there (status None); otherwise the shell is driven and the
    process ends itself."""
    args = [LMIG, "run", "-k", image, "-i", initrd, "-m", "256M", "-c", str(cpus),
            "--boot-protocol", protocol]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out = read_until(proc.stdout.fileno(), RUN_INIT, BOOT_TIMEOUT)
        if host_emulates_kernel():
            # Give the kernel a moment to print what follows, then stop it.
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            rest, err = proc.communicate(timeout=60)
            return (out + rest).decode(errors="replace"), err.decode(errors="replace"), None
        out = read_until(proc.stdout.fileno(), b"default guest: busybox shell", 120, out)
        proc.stdin.write(b"echo cpus=$(nproc) year=$(date +%Y)\npoweroff -f\n")
        proc.stdin.flush()
        rest, err = proc.communicate(timeout=120)
        return (out + rest).decode(errors="replace"), err.decode(errors="replace"), \
            proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_platform(log, cpus):
    assert "Linux version 6.1" in log
    # SMP through the MADT, every AP up.
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in log, log[-4000:]
    assert re.search(r"smp: Brought up 1 node, %d CPUs?" % cpus, log), log[-4000:]
    # kvmclock and the TSC-deadline LAPIC timer (there is no PIT or HPET).
    assert "kvm-clock: Using msrs" in log and "TSC deadline timer available" in log
    # ACPI: tables and AML loaded, no complaints.
    assert "ACPI: Interpreter enabled" in log or "ACPI: 1 ACPI AML tables" in log, log[-4000:]
    bad = [l for l in log.splitlines() if re.search(r"ACPI.*(Error|Warning|BIOS bug)", l)]
    assert not bad, "ACPI complaints:\n" + "\n".join(bad)
    # COM1 found through ACPI (PNP0501) as a 16550A.
    # (Linux numbers the IRQ dynamically: there are no legacy IRQs without a PIC.)
    assert re.search(r"00:0\d: ttyS0 at I/O 0x3f8 \(irq = \d+, base_baud = 115200\) is a 16550A",
                     log), log[-4000:]
    # The CMOS RTC found through ACPI (PNP0B00) and read at boot.
    assert re.search(r"rtc_cmos 00:0\d: registered as rtc0", log), log[-4000:]
    # The initramfs was found and unpacked.
    assert re.search(r"Trying to unpack rootfs image as initramfs|Unpacking initramfs", log) \
        or "Freeing initrd memory" in log, log[-4000:]


@pytest.mark.parametrize("protocol", ["64", "32"])
@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_minimal_kernel_bzimage(kernel, tiny_initrd, protocol, cpus):
    initrd = tiny_initrd if host_emulates_kernel() else GUEST_INITRD
    log, err, status = boot(BZIMAGE, protocol, cpus, initrd)
    check_platform(log, cpus)
    if status is not None:
        assert status == STATUS_OK, err
        assert "cpus=%d" % cpus in log
        assert re.search(r"year=20\d\d", log)


def test_minimal_kernel_vmlinux(kernel, tiny_initrd):
    initrd = tiny_initrd if host_emulates_kernel() else GUEST_INITRD
    log, err, status = boot(VMLINUX, "64", 2, initrd)
    check_platform(log, 2)
    if status is not None:
        assert status == STATUS_OK, err


def test_minimal_kernel_mp_table_with_acpi_off(kernel, tiny_initrd):
    """acpi=off: Linux finds the CPUs and the IOAPIC through our MP table."""
    args = [LMIG, "run", "-k", BZIMAGE, "-i", tiny_initrd, "-m", "256M", "-c", "2", "-p",
            "acpi=off"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        log = read_until(proc.stdout.fileno(), b"ttyS0 at I/O 0x3f8", BOOT_TIMEOUT)
        log = log.decode(errors="replace")
    finally:
        proc.kill()
        proc.wait()
    assert "found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]" in log
    assert "IOAPIC[0]: apic_id 2, version 32, address 0xfec00000, GSI 0-23" in log
    assert re.search(r"smp: Brought up 1 node, 2 CPUs", log), log[-3000:]
