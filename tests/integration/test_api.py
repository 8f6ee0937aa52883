"""The control API (docs/api.md) against a running VMM: the test guest in
echo mode stays alive waiting for console input, and is driven through
`--api-socket` with a raw socket client and with `lmigtester ctl`."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import LMIG, STATUS_OK, TESTGUEST, popen_vm, read_until



class Client:
    """A line-delimited JSON client; events are kept aside for event()."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.greeting = self.line()

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the API closed the connection; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, id=None):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        if id is not None:
            req["id"] = id
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.line()
            if "event" in msg:
                self.events.append(msg)
                continue
            if id is not None:
                assert msg.get("id") == id, msg
            return msg

    def event(self, name, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s event; got %r" % (name, self.events))
            self.sock.settimeout(left)
            try:
                msg = self.line()
            except socket.timeout:
                continue
            assert "event" in msg, "a reply nobody asked for: %r" % msg
            self.events.append(msg)

    def close(self):
        self.sock.close()


def spawn_vm(tmp_path):
    """The test guest in echo mode with the API on tmp_path/api.sock."""
    path = str(tmp_path / "api.sock")
    proc = popen_vm([LMIG, "run", "-k", TESTGUEST, "-p", "tg.mode=echo", "--api-socket", path],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = read_until(proc.stdout.fileno(), b"tg: echo ready", 60)
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
        assert time.monotonic() < deadline, "no API socket at " + path
        time.sleep(0.01)
    return proc, path, out


def ctl(*args, timeout=30):
    return subprocess.run([LMIG, "ctl"] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def quit_vm(proc, client):
    assert "return" in client.cmd("quit")
    assert proc.wait(timeout=30) == STATUS_OK


def test_greeting_and_query_version(kvm, tmp_path):
    proc, path, _ = spawn_vm(tmp_path)
    c = Client(path)
    v = c.greeting["QMP"]["version"]
    assert c.greeting["QMP"]["capabilities"] == []
    assert v["lmigtester"] == subprocess.run([LMIG, "--version"], capture_output=True,
                                             text=True).stdout.split()[1]
    assert c.cmd("qmp_capabilities", id=1) == {"return": {}, "id": 1}
    r = c.cmd("query-version", id="v")
    assert r["return"] == v
    assert "%d.%d.%d" % (v["major"], v["minor"], v["micro"]) == v["lmigtester"]
    names = {x["name"] for x in c.cmd("query-commands")["return"]}
    assert {"query-status", "stop", "cont", "quit", "query-version"} <= names
    r = c.cmd("no-such-command", id=2)
    assert r["error"]["class"] == "CommandNotFound"
    quit_vm(proc, c)


def test_stop_cont_events_and_status(kvm, tmp_path):
    proc, path, out = spawn_vm(tmp_path)
    c, watcher = Client(path), Client(path)
    assert c.cmd("query-status")["return"] == {"status": "running", "running": True}

    assert "return" in c.cmd("stop", id="s")
    assert c.event("STOP")["timestamp"]["seconds"] > 0
    watcher.event("STOP")  # events go to every client
    assert c.cmd("query-status")["return"] == {"status": "paused", "running": False}

    # Console input typed while paused waits for the resume.
    proc.stdin.write(b"while paused\n")
    proc.stdin.flush()
    with pytest.raises(AssertionError):
        read_until(proc.stdout.fileno(), b"tg: echo while paused", 0.5)

    assert "return" in c.cmd("cont", id="c")
    c.event("RESUME")
    watcher.event("RESUME")
    assert c.cmd("query-status")["return"] == {"status": "running", "running": True}
    read_until(proc.stdout.fileno(), b"tg: echo while paused", 30)
    watcher.close()
    quit_vm(proc, c)


def test_quit_sends_shutdown_and_exits_0(kvm, tmp_path):
    proc, path, _ = spawn_vm(tmp_path)
    c, watcher = Client(path), Client(path)
    r = c.cmd("quit", id="q")
    assert r == {"return": {}, "id": "q"}
    watcher.event("SHUTDOWN")
    assert proc.wait(timeout=30) == STATUS_OK
    assert not os.path.exists(path), "the API socket outlived the VMM"


def test_ctl_query_status(kvm, tmp_path):
    proc, path, _ = spawn_vm(tmp_path)
    p = ctl(path, "query-status")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"status": "running", "running": True}
    assert p.stderr == ""
    p = ctl(path, "stop")
    assert p.returncode == 0 and json.loads(p.stdout) == {}
    p = ctl(path, "query-status")
    assert json.loads(p.stdout) == {"status": "paused", "running": False}
    p = ctl(path, "cont")
    assert p.returncode == 0
    p = ctl(path, "quit")
    assert p.returncode == 0, p.stderr
    assert proc.wait(timeout=30) == STATUS_OK


def test_ctl_bad_command_and_arguments(kvm, tmp_path):
    proc, path, _ = spawn_vm(tmp_path)
    p = ctl(path, "no-such-command")
    assert p.returncode == 1
    assert p.stdout == ""
    assert "CommandNotFound" in p.stderr and "no-such-command" in p.stderr
    p = ctl(path, "query-status", "{not json")
    assert p.returncode == 1 and "JSON" in p.stderr
    p = ctl(path, "query-status", "[1]")
    assert p.returncode == 1 and "object" in p.stderr
    # The VM was not disturbed.
    assert json.loads(ctl(path, "query-status").stdout)["running"] is True
    quit_vm(proc, Client(path))


def test_ctl_missing_socket(tmp_path):
    path = str(tmp_path / "nobody.sock")
    p = ctl(path, "query-status")
    assert p.returncode == 1
    assert p.stdout == ""
    assert path in p.stderr and "No such file" in p.stderr


def test_ctl_help():
    p = ctl("--help")
    assert p.returncode == 0
    assert "usage: lmigtester ctl" in p.stdout


def test_api_socket_in_use_is_refused(kvm, tmp_path):
    proc, path, _ = spawn_vm(tmp_path)
    p = subprocess.run([LMIG, "run", "-k", TESTGUEST, "-p", "tg.mode=echo",
                        "--api-socket", path], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert path in p.stderr and "listening" in p.stderr
    quit_vm(proc, Client(path))
