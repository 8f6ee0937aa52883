"""The test guest under KVM: it checks the boot protocol from inside and
reports TAP on COM1; these tests also drive its echo console through a pipe
and a pty, and check how the VMM ends in each case."""
import os
import pty
import signal
import subprocess
import termios
import zlib

import pytest

from conftest import (LMIG, STATUS_GUEST, STATUS_OK, TESTGUEST, assert_tap_passed, popen_vm,
                      read_until, run_testguest)

MEMS = {"128M": 128 << 20, "1G": 1 << 30, "5G": 5 << 30}


@pytest.mark.parametrize("protocol", ["64", "32"])
@pytest.mark.parametrize("mem", sorted(MEMS))
def test_boot_protocol_checks(kvm, protocol, mem):
    p = run_testguest("tg.mode=boot tg.protocol=%s tg.mem=%d" % (protocol, MEMS[mem]),
                      mem=mem, protocol=protocol)
    results = assert_tap_passed(p)
    assert p.returncode == STATUS_OK, p.stderr
    names = " ".join(r[2] for r in results)
    assert "e820" in names and "entry" in names
    # e820 was really checked against tg.mem, not skipped.
    assert not any("e820" in r[2] and "SKIP" in r[2] for r in results)


@pytest.mark.parametrize("protocol", ["64", "32"])
def test_initrd_size_and_checksum(kvm, tmp_path, protocol):
    data = os.urandom(3 * 1024 * 1024 + 123)
    img = tmp_path / "initrd.img"
    img.write_bytes(data)
    params = "tg.mode=boot tg.initrd_size=%d tg.initrd_crc32=%08x" % (
        len(data), zlib.crc32(data) & 0xffffffff)
    p = run_testguest(params, protocol=protocol, extra=["-i", str(img)])
    results = assert_tap_passed(p)
    assert any("initrd" in r[2] and "SKIP" not in r[2] for r in results)
    assert p.returncode == STATUS_OK


def test_initrd_moved_below_small_ram(kvm, tmp_path):
    # 0x0f000000 is past the end of 128M: the initrd must be placed lower.
    data = os.urandom(1024 * 1024)
    img = tmp_path / "initrd.img"
    img.write_bytes(data)
    params = "tg.mode=boot tg.mem=%d tg.initrd_size=%d tg.initrd_crc32=%08x" % (
        128 << 20, len(data), zlib.crc32(data) & 0xffffffff)
    p = run_testguest(params, mem="128M", extra=["-i", str(img)])
    assert_tap_passed(p)
    assert p.returncode == STATUS_OK


def test_wrong_checksum_is_caught(kvm, tmp_path):
    """The guest's checks can fail: a wrong expectation gives not ok and status 2."""
    img = tmp_path / "initrd.img"
    img.write_bytes(b"x" * 4096)
    p = run_testguest("tg.mode=boot tg.initrd_size=4096 tg.initrd_crc32=00000000",
                      extra=["-i", str(img)])
    assert "not ok" in p.stdout and "tg: result fail" in p.stdout
    assert p.returncode == STATUS_GUEST


def test_wrong_mem_is_caught(kvm):
    p = run_testguest("tg.mode=boot tg.mem=%d" % (512 << 20), mem="256M")
    assert "not ok" in p.stdout
    assert p.returncode == STATUS_GUEST


def test_reboot_exits_zero(kvm):
    p = run_testguest("tg.mode=reboot")
    assert p.returncode == STATUS_OK, p.stderr
    assert "tg: " in p.stdout
    assert "reset through the i8042" in p.stderr


def test_triple_fault_exits_two(kvm):
    p = run_testguest("tg.mode=triplefault")
    assert p.returncode == STATUS_GUEST
    assert "triple fault" in p.stderr
    assert "rip " in p.stderr and "cr0 " in p.stderr  # the register dump


def test_unclaimed_port_and_mmio_access(kvm):
    p = run_testguest("tg.mode=poke")
    assert_tap_passed(p)
    assert p.returncode == STATUS_OK


def test_host_quirks_cmdline(kvm):
    p = run_testguest("tg.mode=reboot")
    emulating = "emulates guest kernel code" in p.stderr
    q = run_testguest("tg.mode=reboot", extra=["--no-host-quirks"])
    assert "emulates guest kernel code" not in q.stderr
    assert q.returncode == STATUS_OK
    from conftest import host_emulates_kernel
    assert emulating == host_emulates_kernel()


def echo_script(lines):
    return "".join(l + "\n" for l in lines) + "quit\n"


@pytest.mark.parametrize("protocol", ["64", "32"])
def test_echo_console_through_pipe(kvm, protocol):
    lines = ["hello", "lmigtester echo test", "x" * 100]
    p = run_testguest("tg.mode=echo", protocol=protocol, input=echo_script(lines))
    assert p.returncode == STATUS_OK, p.stdout + p.stderr
    for l in lines:
        assert "tg: echo " + l in p.stdout
    assert "tg: echo bye" in p.stdout


def test_echo_input_is_never_dropped(kvm):
    """Far more input than the UART's 16-byte FIFO holds, written at once."""
    lines = ["line %04d %s" % (i, "abcdefghij" * 3) for i in range(300)]
    p = run_testguest("tg.mode=echo", input=echo_script(lines), timeout=120)
    assert p.returncode == STATUS_OK, p.stderr
    got = [l[len("tg: echo "):] for l in p.stdout.splitlines() if l.startswith("tg: echo ")]
    assert [g for g in got if g.startswith("line ")] == lines
    assert got[-1] == "bye"


def test_echo_from_file_stdin(kvm, tmp_path):
    f = tmp_path / "input.txt"
    f.write_text(echo_script(["from a file"]))
    with open(f) as fin:
        p = subprocess.run([LMIG, "run", "-k", TESTGUEST, "-p", "tg.mode=echo"], stdin=fin,
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == STATUS_OK
    assert "tg: echo from a file" in p.stdout




def spawn_on_pty(params):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = popen_vm([LMIG, "run", "-k", TESTGUEST, "-p", params], stdin=slave, stdout=slave,
                    stderr=subprocess.PIPE, close_fds=True)
    return proc, master, slave, before


def finish(proc, master, slave, before):
    try:
        rc = proc.wait(timeout=30)
        after = termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)
    assert after == before, "terminal settings not restored"
    return rc


def test_echo_console_through_pty(kvm):
    proc, master, slave, before = spawn_on_pty("tg.mode=echo")
    out = read_until(master, b"tg: echo ready", 60)
    # While the guest runs the terminal is raw: no echo, no line editing.
    raw = termios.tcgetattr(slave)
    assert not raw[3] & termios.ICANON and not raw[3] & termios.ECHO
    os.write(master, b"typed on a terminal\r")
    out = read_until(master, b"tg: echo typed on a terminal", 30, out)
    os.write(master, b"quit\r")
    read_until(master, b"tg: echo bye", 30, out)
    assert finish(proc, master, slave, before) == STATUS_OK


def test_ctrl_a_x_quits_and_restores_terminal(kvm):
    proc, master, slave, before = spawn_on_pty("tg.mode=echo")
    read_until(master, b"tg: echo ready", 60)
    os.write(master, b"\x01x")
    assert finish(proc, master, slave, before) == STATUS_OK
    assert b"Ctrl-A x" in proc.stderr.read()


def test_ctrl_a_ctrl_a_sends_ctrl_a(kvm):
    proc, master, slave, before = spawn_on_pty("tg.mode=echo")
    out = read_until(master, b"tg: echo ready", 60)
    os.write(master, b"a\x01\x01b\r")
    read_until(master, b"tg: echo a\x01b", 30, out)
    os.write(master, b"quit\r")
    assert finish(proc, master, slave, before) == STATUS_OK


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_restores_terminal(kvm, sig):
    proc, master, slave, before = spawn_on_pty("tg.mode=echo")
    read_until(master, b"tg: echo ready", 60)
    proc.send_signal(sig)
    assert finish(proc, master, slave, before) == 128 + sig


def test_guest_crash_restores_terminal(kvm):
    proc, master, slave, before = spawn_on_pty("tg.mode=triplefault")
    assert finish(proc, master, slave, before) == STATUS_GUEST


@pytest.mark.parametrize("protocol", ["64", "32"])
def test_acpi_poweroff_exits_zero(kvm, protocol):
    """The guest finds the sleep control register through RSDP -> FADT and
    SLP_TYP through \\_S5_ in the DSDT, as an OS does, and powers off."""
    p = run_testguest("tg.mode=poweroff", protocol=protocol)
    assert_tap_passed(p)
    assert p.returncode == STATUS_OK, p.stderr
    assert "guest powered off (ACPI S5)" in p.stderr


def test_pause_and_resume_by_signal(kvm):
    """SIGUSR1 pauses every vCPU, SIGUSR2 resumes them; input typed while
    paused waits and reaches the guest after the resume."""
    proc = subprocess.Popen([LMIG, "run", "-k", TESTGUEST, "-c", "2", "-p", "tg.mode=echo"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        pause_and_resume(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def pause_and_resume(proc):
    out = read_until(proc.stdout.fileno(), b"tg: echo ready\n", 60)
    proc.send_signal(signal.SIGUSR1)
    err = read_until(proc.stderr.fileno(), b"VM paused (2 vCPUs)", 30)
    proc.stdin.write(b"typed while paused\n")
    proc.stdin.flush()
    # Paused: nothing is echoed.
    import select
    r, _, _ = select.select([proc.stdout], [], [], 0.5)
    assert not r, "the guest ran while paused"
    proc.send_signal(signal.SIGUSR2)
    read_until(proc.stderr.fileno(), b"VM resumed", 30, err)
    out = read_until(proc.stdout.fileno(), b"tg: echo typed while paused", 30, out)
    proc.stdin.write(b"quit\n")
    proc.stdin.flush()
    read_until(proc.stdout.fileno(), b"tg: echo bye", 30, out)
    assert proc.wait(timeout=30) == STATUS_OK


@pytest.mark.parametrize("protocol", ["64", "32"])
@pytest.mark.parametrize("cpus", ["1", "2", "4", "16", "255"])
def test_smp_every_ap_starts(kvm, cpus, protocol):
    """The MADT lists --cpus local APICs; the guest starts every AP with
    INIT/SIPI through the in-kernel LAPIC and each reports in, at CPL3 too."""
    p = run_testguest("tg.mode=boot tg.cpus=%s" % cpus, protocol=protocol,
                      extra=["-c", cpus], timeout=120)
    results = assert_tap_passed(p)
    assert p.returncode == STATUS_OK
    smp = [r for r in results if r[2].startswith("smp:")]
    assert smp, p.stdout
    if cpus != "1":
        assert all("SKIP" not in r[2] for r in smp), smp
        assert any("all %d APs started" % (int(cpus) - 1) in r[2] for r in smp), smp


def test_smp_wrong_cpu_count_is_caught(kvm):
    p = run_testguest("tg.mode=boot tg.cpus=4", extra=["-c", "2"])
    assert "not ok" in p.stdout
    assert p.returncode == STATUS_GUEST
