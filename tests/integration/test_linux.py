"""Debian's cloud kernel through both boot protocols.

On a VT-x/AMD-V host the default guest boots to its busybox shell, runs a
command and reboots (status 0). On a host whose KVM emulates guest kernel
code (host-kvm.md) Linux prints its boot log and stops at the first
instruction the emulator cannot run: the VMM must report that as an
emulation failure (status 2) with the instruction bytes and a hint. Either
way the kernel's own log proves the boot protocol: its version, our command
line, and an e820 map that matches --mem.
"""
import os
import re
import subprocess

import pytest

from conftest import (BUILD, GUEST_INITRD, GUEST_KERNEL, LMIG, STATUS_GUEST, STATUS_OK,
                      host_emulates_kernel)
from test_virtio import netns_with_tap

GUEST_VMLINUX = os.path.join(BUILD, "guest", "vmlinux")

MEM = 256 << 20
BOOT_TIMEOUT = 900  # the in-guest decompressor alone is slow under emulation


@pytest.fixture
def guest(kvm):
    if not os.path.exists(GUEST_KERNEL):
        pytest.fail("default guest missing: 'make guest' should have built %s" % GUEST_KERNEL)


def e820_usable(log):
    total = 0
    for m in re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", log):
        total += int(m.group(2), 16) - int(m.group(1), 16) + 1
    return total


@pytest.mark.parametrize("image,protocol", [("vmlinuz", "64"), ("vmlinuz", "32"),
                                            ("vmlinux", "64")])
def test_cloud_kernel_boot_log(guest, image, protocol, tmp_path):
    """The bzImage through both protocols, and the ELF vmlinux extracted from it,
    with a virtio disk, network device, rng and console in the DSDT (the
    initramfs loads the kernel's virtio modules; the shell then sees vda,
    the rng, hvc0 and eth0)."""
    kernel = GUEST_KERNEL if image == "vmlinuz" else GUEST_VMLINUX
    marker = "lmigtester-test-%s-%s" % (image, protocol)
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * (8 << 20))
    emulating = host_emulates_kernel()
    # On a real host the shell reads this and reboots; here it is never read.
    script = ("echo shell-says-$((6*7)) vda=$(cat /sys/block/vda/size) "
              "rng=$(cat /sys/class/misc/hw_random/rng_current) $(ls /dev/hvc0) "
              "$(ls /sys/class/net | grep eth)\n"
              "reboot -f\n")
    with netns_with_tap() as ns:
        args = ["ip", "netns", "exec", ns, LMIG, "run", "-k", kernel, "-i", GUEST_INITRD,
                "-m", "256M", "--boot-protocol", protocol, "--disk", str(img),
                "--net", "tap=lmtap0", "--rng", "--vconsole",
                "file=%s" % (tmp_path / "hvc0.out"), "-p", marker]
        p = subprocess.run(args, input=script, capture_output=True, text=True,
                           errors="replace", timeout=BOOT_TIMEOUT)
    log = p.stdout
    assert "Linux version 6.1" in log, p.stderr[-2000:] + log[-2000:]
    cmd = re.search(r"Command line: (.*)", log)
    assert cmd, log[:3000]
    assert cmd.group(1).startswith("console=ttyS0 reboot=k panic=-1")
    assert cmd.group(1).rstrip().endswith(marker)
    # RAM below the EBDA plus RAM from 1 MiB: everything but the legacy area.
    assert e820_usable(log) == MEM - (0x100000 - 0x9fc00), log[:4000]
    assert re.search(r"BIOS-e820: \[mem 0x000000000009fc00-0x00000000000fffff\] reserved", log)
    # The initrd is where boot_params said, and ACPI found the IOAPIC in our MADT
    # (Debian's kernel has no MP-table parser), with no complaint about the tables.
    assert "RAMDISK: [mem 0x0f000000-" in log
    assert "IOAPIC[0]: apic_id 1, version 32, address 0xfec00000, GSI 0-23" in log, log[:6000]
    assert not re.search(r"ACPI (BIOS )?(Error|Warning)", log), log[:6000]
    if emulating:
        assert p.returncode == STATUS_GUEST, p.stderr[-3000:]
        assert "emulation failure" in p.stderr
        assert re.search(r"instruction bytes: ([0-9a-f]{2} )+", p.stderr), p.stderr[-3000:]
        assert "hint: this host's KVM runs guest kernel code in an instruction emulator" \
            in p.stderr
    else:
        assert p.returncode == STATUS_OK, p.stderr[-3000:]
        assert "shell-says-42 vda=16384 rng=virtio_rng.0 /dev/hvc0 eth0" in log, log[-3000:]
