"""Bad input from the user side: each is refused with status 1 and a message
naming the cause. None of these needs a working guest."""
import os
import subprocess

import pytest

from conftest import (LMIG, STATUS_CONFIG, TESTGUEST, GUEST_KERNEL, run_vm)


def lmig(*args):
    return subprocess.run([LMIG] + list(args), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_help_and_version():
    p = lmig("--help")
    assert p.returncode == 0 and "--boot-protocol" in p.stdout and "Exit status" in p.stdout
    p = lmig("run", "--help")
    assert p.returncode == 0 and "--kernel" in p.stdout
    p = lmig("--version")
    assert p.returncode == 0 and p.stdout.startswith("lmigtester ")


def test_no_command():
    p = lmig()
    assert p.returncode == STATUS_CONFIG and "Usage" in p.stderr


def test_unknown_command():
    p = lmig("fly")
    assert p.returncode == STATUS_CONFIG and "unknown command 'fly'" in p.stderr


@pytest.mark.parametrize("args,needle", [
    (["--bogus"], "unknown option '--bogus'"),
    (["-z"], "unknown option '-z'"),
    (["--mem"], "needs an argument"),
    (["--mem", "lots"], "--mem 'lots': not a size"),
    (["--mem", "1000"], "not a multiple of the 4 KiB page size"),
    (["--mem", "0"], "cannot be empty"),
    (["--mem", "99999999999999999999"], "too large"),
    (["--mem", "17179869184T"], "too large"),
    (["--cpus", "256"], "--cpus 256: at most 255 vCPUs"),
    (["--cpus", "0"], "not a positive whole number"),
    (["--cpus", "x"], "not a positive whole number"),
    (["--boot-protocol", "16"], "use 64 or 32"),
    (["--cmdline", "a", "--params", "b"], "do not combine"),
    (["stray"], "unexpected argument 'stray'"),
])
def test_bad_options(args, needle):
    p = run_vm(args)
    assert p.returncode == STATUS_CONFIG, p.stderr
    assert needle in p.stderr


def test_mem_larger_than_host():
    p = run_vm(["-k", TESTGUEST, "--mem", "64T"])
    assert p.returncode == STATUS_CONFIG
    assert "larger than this host's RAM" in p.stderr


@pytest.mark.parametrize("path,needle", [
    ("/nonexistent/kernel", "cannot open: No such file or directory"),
    ("/etc", "not a regular file"),
    ("/dev/null", "not a regular file"),
])
def test_unusable_kernel_file(path, needle):
    p = run_vm(["-k", path])
    assert p.returncode == STATUS_CONFIG
    assert "kernel '%s'" % path in p.stderr and needle in p.stderr


def test_empty_kernel(tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    p = run_vm(["-k", str(f)])
    assert p.returncode == STATUS_CONFIG and "the file is empty" in p.stderr


def test_garbage_kernel(tmp_path, kvm):
    f = tmp_path / "garbage"
    f.write_bytes(os.urandom(64 * 1024))
    p = run_vm(["-k", str(f)])
    assert p.returncode == STATUS_CONFIG
    assert "kernel '%s' rejected: neither a bzImage" % f in p.stderr


def test_truncated_bzimage(tmp_path, kvm):
    data = open(TESTGUEST, "rb").read()
    f = tmp_path / "truncated"
    # Keep the header but cut off everything after the setup sectors.
    setup = ((data[0x1f1] or 4) + 1) * 512
    f.write_bytes(data[:setup])
    p = run_vm(["-k", str(f)])
    assert p.returncode == STATUS_CONFIG
    assert "rejected: truncated" in p.stderr


def test_old_protocol_bzimage(tmp_path, kvm):
    data = bytearray(open(TESTGUEST, "rb").read())
    data[0x206:0x208] = (0x0205).to_bytes(2, "little")
    f = tmp_path / "old"
    f.write_bytes(data)
    p = run_vm(["-k", str(f)])
    assert p.returncode == STATUS_CONFIG
    assert "boot protocol older than 2.06" in p.stderr


def test_no_64bit_entry(tmp_path, kvm):
    data = bytearray(open(TESTGUEST, "rb").read())
    data[0x236] &= ~1 & 0xff  # clear XLF_KERNEL_64
    f = tmp_path / "no64"
    f.write_bytes(data)
    p = run_vm(["-k", str(f), "--boot-protocol", "64"])
    assert p.returncode == STATUS_CONFIG and "XLF_KERNEL_64" in p.stderr


def test_missing_initrd(kvm):
    p = run_vm(["-k", TESTGUEST, "-i", "/nonexistent/initrd"])
    assert p.returncode == STATUS_CONFIG
    assert "initrd '/nonexistent/initrd': cannot open" in p.stderr


def test_initrd_does_not_fit(tmp_path, kvm):
    f = tmp_path / "big.img"
    with open(f, "wb") as w:
        w.truncate(40 << 20)
    p = run_vm(["-k", TESTGUEST, "-i", str(f), "--mem", "32M"])
    assert p.returncode == STATUS_CONFIG
    assert "initrd '%s' (40 MiB) does not fit" % f in p.stderr


def test_cmdline_too_long(kvm):
    p = run_vm(["-k", TESTGUEST, "--cmdline", "x" * 5000])
    assert p.returncode == STATUS_CONFIG
    assert "kernel command line (5000 bytes) is longer than kernel" in p.stderr


def test_kernel_larger_than_ram(tmp_path, kvm):
    data = open(TESTGUEST, "rb").read()
    f = tmp_path / "padded"
    f.write_bytes(data + b"\0" * (2 << 20))
    p = run_vm(["-k", str(f), "--mem", "1M"])
    assert p.returncode == STATUS_CONFIG and "is larger than guest RAM" in p.stderr


def test_mem_too_small_for_kernel(kvm):
    if not os.path.exists(GUEST_KERNEL):
        pytest.skip("default guest not built")
    p = run_vm(["-k", GUEST_KERNEL, "--mem", "16M"])
    assert p.returncode == STATUS_CONFIG
    assert "(its init_size) needs" in p.stderr and "16 MiB of guest RAM" in p.stderr


def test_elf_with_32bit_protocol(tmp_path, kvm):
    # A minimal ELF64 x86-64 executable with one PT_LOAD segment at 2 MiB.
    import struct
    code = b"\xf4" * 16
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 2, 62, 1,
                       0x200000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 120, 0x200000, 0x200000, len(code), len(code),
                       0x1000)
    f = tmp_path / "vmlinux"
    f.write_bytes(ehdr + phdr + code)
    p = run_vm(["-k", str(f), "--boot-protocol", "32"])
    assert p.returncode == STATUS_CONFIG
    assert "ELF vmlinux, which only has a 64-bit entry point" in p.stderr


def test_missing_default_guest(tmp_path):
    # A copy of the binary with no guest/ beside it: the error says what to do.
    import shutil
    exe = tmp_path / "lmigtester"
    shutil.copy(LMIG, exe)
    p = subprocess.run([str(exe), "run"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == STATUS_CONFIG and "make guest" in p.stderr
