"""Shared helpers for the integration tests: paths, running the VMM, TAP parsing.

Every test that needs a working KVM takes the `kvm` fixture, which skips
(loudly, with the reason) only when /dev/kvm is absent.
"""
import os
import re
import select
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("LMIG_BUILD", "build"))
LMIG = os.path.join(BUILD, "lmigtester")
TESTGUEST = os.path.join(BUILD, "testguest", "testguest.bzImage")
GUEST_KERNEL = os.path.join(BUILD, "guest", "vmlinuz")
GUEST_INITRD = os.path.join(BUILD, "guest", "initramfs.cpio.gz")

STATUS_OK, STATUS_CONFIG, STATUS_GUEST, STATUS_HOST = 0, 1, 2, 3


def host_emulates_kernel():
    """Mirror of cpu_host_emulates_kernel(): KVM without VT-x/AMD-V (host-kvm.md)."""
    if os.path.exists("/sys/module/kvm_pvm"):
        return True
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return not (" vmx" in line or " svm" in line)
    except OSError:
        pass
    return False


@pytest.fixture
def kvm():
    if not os.path.exists("/dev/kvm"):
        pytest.skip("SKIP: no /dev/kvm on this host: guest tests cannot run")


def run_vm(args, input=None, timeout=60, stdin=None):
    """Run `lmigtester run ARGS` to completion; returns CompletedProcess (text)."""
    cmd = [LMIG, "run"] + list(args)
    kw = {}
    if input is None:
        kw["stdin"] = stdin if stdin is not None else subprocess.DEVNULL
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, text=True,
                          errors="replace", **kw)


def run_testguest(params, mem="256M", protocol="64", extra=(), **kw):
    args = ["-k", TESTGUEST, "-m", mem, "--boot-protocol", protocol, "-p", params]
    return run_vm(args + list(extra), **kw)


TAP_LINE = re.compile(r"^(not ok|ok) (\d+)( - (.*))?$")


def parse_tap(out):
    """Returns (results, plan): results is a list of (ok, number, description)."""
    results, plan = [], None
    for line in out.splitlines():
        line = line.rstrip("\r")
        m = TAP_LINE.match(line)
        if m:
            results.append((m.group(1) == "ok", int(m.group(2)), m.group(4) or ""))
        m = re.match(r"^1\.\.(\d+)$", line)
        if m:
            plan = int(m.group(1))
    return results, plan


def assert_tap_passed(proc):
    results, plan = parse_tap(proc.stdout)
    assert results, "no TAP lines from the test guest:\n" + proc.stdout + proc.stderr
    failed = [r for r in results if not r[0]]
    assert not failed, "test guest checks failed: %r\n%s" % (failed, proc.stdout)
    assert plan == len(results), "TAP plan %r but %d results" % (plan, len(results))
    assert "tg: result pass" in proc.stdout
    return results


def read_until(fd, pattern, timeout, buf=b""):
    """Read from fd until `pattern` (bytes) appears; returns everything read."""
    deadline = time.monotonic() + timeout
    while pattern not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %r; got:\n%s" %
                                 (pattern, buf.decode(errors="replace")))
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            raise AssertionError("EOF waiting for %r; got:\n%s" %
                                 (pattern, buf.decode(errors="replace")))
        buf += chunk
    return buf


_SPAWNED = []


def popen_vm(cmd, **kw):
    """subprocess.Popen for a VMM a test talks to while it runs; if the test
    fails half-way, the process is killed after it (_no_leftover_vms)."""
    proc = subprocess.Popen(cmd, **kw)
    _SPAWNED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_leftover_vms():
    """A test that fails half-way must not leave its VMM running."""
    yield
    while _SPAWNED:
        proc = _SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
