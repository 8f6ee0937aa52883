"""virtio-mmio devices (issue 4), driven by the test guest's own drivers
(tg.mode=virtio and tg.mode=virtio-hostile, docs/testguest.md) and by the
host's view of what they did: the disk image's bytes, the console's file,
socket or pty, and frames answered by the host kernel on a TAP device that
lives in a network namespace the test creates (no traffic leaves it).
"""
import contextlib
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (BUILD, LMIG, STATUS_CONFIG, STATUS_OK, TESTGUEST, assert_tap_passed,
                      read_until, run_testguest)

M = (1 << 64) - 1


def sector(seed, s):
    """Sector s of the test guest's disk pattern for `seed` (docs/testguest.md)."""
    x = ((seed + s) * 6364136223846793005 + 1442695040888963407) & M | 1
    out = bytearray()
    for _ in range(64):
        x ^= (x << 13) & M
        x ^= x >> 7
        x ^= (x << 17) & M
        out += x.to_bytes(8, "little")
    return bytes(out)


def disk(tmp_path, name="disk.img", size=16 << 20, fill=b"\0"):
    path = tmp_path / name
    path.write_bytes(fill * size if len(fill) == 1 else fill)
    return str(path)


def tap_names(results):
    return [d for ok, _, d in results]


def test_blk_rng_console(kvm, tmp_path):
    img = disk(tmp_path)
    vcon = tmp_path / "vcon.out"
    proc = run_testguest(
        "tg.mode=virtio tg.blk_sectors=32768 tg.blk_serial=lmig-0 tg.blk_seed=11 "
        "tg.blk_start=100 tg.blk_count=300 tg.vcon_seed=5",
        extra=["--virtio-cmdline", "--disk", img + ",serial=lmig-0", "--rng",
               "--vconsole", "file=%s" % vcon])
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    names = tap_names(assert_tap_passed(proc))
    for want in ("blk0: GET_ID matches", "blk0: FLUSH", "blk0: WRITE_ZEROES",
                 "blk0: DISCARD", "through an indirect table", "interrupt-driven, EVENT_IDX",
                 "rng0: two 64-byte reads", "console0: wrote"):
        assert any(want in n for n in names), (want, names)
    # The host sees exactly what the guest wrote, where it wrote it.
    data = open(img, "rb").read()
    for s in range(100, 400):
        assert data[512 * s:512 * (s + 1)] == sector(11, s), "sector %d" % s
    assert data[512 * 400:512 * 408] == b"\0" * 4096  # write-zeroes
    assert data[:512 * 100] == b"\0" * (512 * 100)    # nothing before the range
    assert vcon.read_bytes() == b"tg: vcon hello 5\n"
    for dev in ("virtio-blk0", "virtio-rng0", "virtio-console0"):
        assert "%s: driver ready" % dev in proc.stderr


def test_blk_read_only(kvm, tmp_path):
    pattern = b"".join(sector(3, s) for s in range(64))
    img = disk(tmp_path, fill=pattern + b"\0" * ((1 << 20) - len(pattern)))
    proc = run_testguest("tg.mode=virtio tg.blk_ro=1 tg.blk_seed=3 tg.blk_sectors=2048",
                         extra=["--virtio-cmdline", "--disk", img + ",ro"])
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    names = tap_names(assert_tap_passed(proc))
    assert any("IOERR" in n for n in names), names
    assert open(img, "rb").read(len(pattern)) == pattern


def test_blk_two_disks_and_direct(kvm, tmp_path):
    a = disk(tmp_path, "a.img", 1 << 20)
    b = disk(tmp_path, "b.img", 1 << 20)
    proc = run_testguest("tg.mode=virtio tg.blk_seed=20 tg.blk_count=16",
                         extra=["--virtio-cmdline", "--disk", a + ",direct", "--disk", b])
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    assert_tap_passed(proc)
    # Disk k gets seed + k.
    for path, seed in ((a, 20), (b, 21)):
        data = open(path, "rb").read(16 * 512)
        assert data == b"".join(sector(seed, s) for s in range(16)), path


def test_hostile_guest(kvm, tmp_path):
    """Malformed rings on every device: each is flagged DEVICE_NEEDS_RESET
    (or refused), recovers after a reset, and the VMM stays up."""
    proc = run_testguest("tg.mode=virtio-hostile",
                         extra=["--virtio-cmdline", "--disk", disk(tmp_path), "--rng",
                                "--vconsole", "file=%s" % (tmp_path / "vcon.out")],
                         timeout=120)
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    names = tap_names(assert_tap_passed(proc))
    for dev in ("blk0", "rng0", "console0"):
        assert sum(n.startswith(dev + " hostile:") for n in names) >= 11, names
    assert "the device needs a reset" in proc.stderr
    # Guest-triggered warnings are rate-limited.
    assert proc.stderr.count("\n") < 200


def test_console_socket_echo(kvm, tmp_path):
    path = str(tmp_path / "vcon.sock")
    args = [LMIG, "run", "-k", TESTGUEST, "-m", "256M", "--virtio-cmdline", "--vconsole",
            "socket=" + path, "-p", "tg.mode=virtio tg.vcon_seed=9 tg.vcon_echo=7"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.01)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(b"ping123")
            got = b""
            s.settimeout(30)
            while b"echo ping123\n" not in got:
                chunk = s.recv(4096)
                assert chunk, got
                got += chunk
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert got == b"tg: vcon hello 9\ntg: vcon echo ping123\n"
    assert proc.returncode == STATUS_OK, out + err


def test_console_pty(kvm, tmp_path):
    args = [LMIG, "run", "-k", TESTGUEST, "-m", "256M", "--virtio-cmdline", "--vconsole",
            "pty", "-p", "tg.mode=virtio tg.vcon_seed=4 tg.vcon_echo=3"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        err = read_until(proc.stderr.fileno(), b"hvc0 is on /dev/pts/", 30)
        err = read_until(proc.stderr.fileno(), b"\n", 5, err)
        pty = re.search(rb"hvc0 is on (/dev/pts/\d+)", err).group(1).decode()
        fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"abc")
            got = read_until(fd, b"echo abc\n", 30)
        finally:
            os.close(fd)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"tg: vcon hello 4\n" in got and b"tg: vcon echo abc\n" in got, got
    assert proc.returncode == STATUS_OK


@pytest.mark.parametrize("args,words", [
    (["--disk", "/nonexistent/x.img"], ["/nonexistent/x.img", "No such file"]),
    (["--disk", "{tmp}"], ["{tmp}", "directory"]),
    (["--disk", "{odd}"], ["{odd}", "512"]),
    (["--vconsole", "bogus"], ["--vconsole", "bogus"]),
    (["--vconsole", "file=/nonexistent/dir/out"], ["/nonexistent/dir/out"]),
])
def test_bad_device_options(kvm, tmp_path, args, words):
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"x" * 1000)
    subst = {"{tmp}": str(tmp_path), "{odd}": str(odd)}
    args = [subst.get(a, a) for a in args]
    proc = subprocess.run([LMIG, "run", "-k", TESTGUEST] + args, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == STATUS_CONFIG, proc.stderr
    for w in words:
        assert subst.get(w, w) in proc.stderr, proc.stderr
    assert "tg: " not in proc.stdout  # refused before the guest ran


# ---- virtio-net on a TAP in a network namespace of our own ----

def sh(*cmd, ns=None):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + cmd
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def netns_with_tap(tap="lmtap0", addr="10.0.2.1/24"):
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("SKIP: no /dev/net/tun on this host")
    ns = "lmig-" + uuid.uuid4().hex[:8]
    try:
        sh("ip", "netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip("SKIP: cannot create a network namespace: %s" % e.stderr)
    try:
        sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", ns=ns)
        sh("ip", "addr", "add", addr, "dev", tap, ns=ns)
        sh("ip", "link", "set", tap, "up", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_net_arp_and_ping(kvm, tmp_path):
    with netns_with_tap() as ns:
        cmd = ["ip", "netns", "exec", ns, LMIG, "run", "-k", TESTGUEST, "-m", "256M",
               "--virtio-cmdline", "--net", "tap=lmtap0,mac=52:54:00:12:34:56", "-p",
               "tg.mode=virtio tg.net_pings=5"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    names = tap_names(assert_tap_passed(proc))
    assert any("52:54:00:12:34:56" in n for n in names), names
    assert any("ARP request" in n for n in names), names
    assert any("5 ICMP echo requests" in n and "polled" in n for n in names), names
    assert any("interrupt-driven" in n and "ICMP" in n for n in names), names
    assert "virtio-net0: driver ready" in proc.stderr


def test_net_hostile(kvm, tmp_path):
    with netns_with_tap() as ns:
        cmd = ["ip", "netns", "exec", ns, LMIG, "run", "-k", TESTGUEST, "-m", "256M",
               "--virtio-cmdline", "--net", "tap=lmtap0", "-p", "tg.mode=virtio-hostile"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    names = tap_names(assert_tap_passed(proc))
    assert sum(n.startswith("net0 hostile:") for n in names) >= 11, names


def test_net_missing_tap_permission(kvm):
    """A TAP name that cannot be created (too long for the kernel is caught by
    the parser; here an invalid name) is a configuration error with the cause."""
    proc = subprocess.run([LMIG, "run", "-k", TESTGUEST, "--net", "tap=bad/name"],
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == STATUS_CONFIG, proc.stderr
    assert "bad/name" in proc.stderr


# ---- Linux finds every device ----

KDIR = os.path.join(BUILD, "guest-kernel")
RUN_INIT = b"Run /init as init process"


@pytest.mark.parametrize("announce", ["dsdt", "cmdline"])
def test_linux_minimal_kernel_finds_devices(kvm, tmp_path, announce):
    """lmigtester's minimal kernel: vda with the image's size, hvc0 (the
    kernel's console output arrives in the virtio-console file), and every
    driver brings its device to DRIVER_OK. On a VT-x/AMD-V host the shell
    then shows eth0, virtio_rng as the current hwrng and /dev/hvc0."""
    from conftest import GUEST_INITRD, host_emulates_kernel
    from test_minimal_kernel import newc_cpio
    kernel = os.path.join(KDIR, "bzImage")
    if not os.path.exists(kernel):
        pytest.fail("%s missing: 'make guest-kernel' should have built it" % kernel)
    emulating = host_emulates_kernel()
    initrd = GUEST_INITRD
    if emulating:
        initrd = str(tmp_path / "tiny.cpio")
        open(initrd, "wb").write(newc_cpio({"init": b"#!/bin/sh\n"}))
    img = disk(tmp_path, size=24 << 20)
    vcon = tmp_path / "hvc0.out"
    with netns_with_tap() as ns:
        args = ["ip", "netns", "exec", ns, LMIG, "run", "-k", kernel, "-i", initrd, "-m",
                "256M", "--disk", img, "--net", "tap=lmtap0", "--rng", "--vconsole",
                "file=%s" % vcon]
        if announce == "cmdline":
            # The command line's IRQ numbers are Linux's: 1:1 with the IOAPIC
            # pins only through the MP table (without ACPI).
            args += ["--virtio-cmdline", "-p", "acpi=off console=hvc0 console=ttyS0"]
        else:
            args += ["-p", "console=hvc0 console=ttyS0"]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            log = read_until(proc.stdout.fileno(), RUN_INIT, 600)
            if emulating:
                time.sleep(0.5)
                proc.terminate()
                rest, err = proc.communicate(timeout=60)
            else:
                log = read_until(proc.stdout.fileno(), b"busybox shell", 120, log)
                proc.stdin.write(b"cat /sys/block/vda/size; ls /sys/class/net; "
                                 b"cat /sys/class/misc/hw_random/rng_current; "
                                 b"ls /dev/hvc0; poweroff -f\n")
                proc.stdin.flush()
                rest, err = proc.communicate(timeout=120)
                assert proc.returncode == STATUS_OK, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = (log + rest).decode(errors="replace")
    err = err.decode(errors="replace")
    assert re.search(r"virtio_blk virtio\d: \[vda\] 49152 512-byte logical blocks", log), \
        log[-4000:]
    assert "printk: console [hvc0] enabled" in log, log[-4000:]
    assert "virtio_mmio" not in log or "probe of" not in log, log[-4000:]
    for dev in ("virtio-blk0", "virtio-net0", "virtio-rng0", "virtio-console0"):
        assert "%s: driver ready" % dev in err, err
    # The kernel's own messages went out through hvc0 too.
    assert b"virtio_blk" in vcon.read_bytes() or b"Run /init" in vcon.read_bytes()
    if announce == "cmdline":
        assert "virtio_mmio.device=4K@0xd0000000:5" in log
    if not emulating:
        assert "49152" in log and "eth0" in log and "virtio_rng" in log and "/dev/hvc0" in log


def test_bench_mode_moves_and_checks_data(kvm, tmp_path):
    """tg.mode=virtio-bench (bench/virtio.py's guest side), small: every
    phase runs, the guest's data checks pass, the TAP counts every frame."""
    img = disk(tmp_path, size=8 << 20)
    with netns_with_tap() as ns:
        def rx_packets():
            out = subprocess.run(["ip", "netns", "exec", ns, "cat",
                                  "/sys/class/net/lmtap0/statistics/rx_packets"],
                                 capture_output=True, text=True, check=True).stdout
            return int(out)

        before = rx_packets()
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, LMIG, "run", "-k", TESTGUEST, "-m", "256M",
             "--virtio-cmdline", "--disk", img + ",direct", "--net", "tap=lmtap0", "-p",
             "tg.mode=virtio-bench tg.vb_seq_mib=8 tg.vb_seq_passes=2 tg.vb_rand_ops=2000 "
             "tg.vb_net_frames=3000 tg.vb_seed=7"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        after = rx_packets()
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    assert_tap_passed(proc)
    for phase in ("seq-write", "seq-read", "rand-write", "rand-read"):
        assert re.search(r"tg: vbench \S+ %s ops=\d+ bytes=\d+" % phase, proc.stdout), \
            (phase, proc.stdout[-3000:])
    assert re.search(r"tg: vbench \S+ tx ops=3000 ", proc.stdout), proc.stdout[-3000:]
    assert after - before >= 3000
