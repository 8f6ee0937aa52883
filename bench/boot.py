#!/usr/bin/python3
"""Boot benchmark: lmigtester and QEMU (microvm) side by side on the test guest.

    /usr/bin/python3 bench/boot.py --build build [--runs N] [--json]

Each run starts the VMM with the test guest in its "reboot" mode (the guest
prints its banner, lines starting with "tg: ", then ends the VM at once) and
measures, from the moment the process is spawned:
  - first line: until the first complete stdout line containing the marker
    ("tg: ") has been read from the pipe,
  - exit:       until the process has exited (pidfd readable),
  - peak RSS:   ru_maxrss from wait4(); this includes guest pages the guest
    touched.
A separate, ptrace'd pass (--mem-runs, default 3) reads the process's memory
when its main thread unmaps guest RAM (a mapping of at least --guest-map-min
MiB), calls exit/exit_group, or exits, and splits its RSS into guest memory
(anonymous mappings of that size) and the rest, for the "RSS excluding guest
memory" figure; VmHWM gives the peak.

This is a benchmark, not a test: it prints figures and exits 0 when it could
measure something. See bench/README.md.
"""

import argparse
import ctypes
import json
import os
import re
import select
import shutil
import signal
import statistics
import sys
import tempfile
import time

TARGET_EXIT_MS = 3.0  # median, exec to process exit
TARGET_RSS_KIB = 2048  # peak RSS excluding guest memory

QEMU_OK_STATUSES = {
    # isa-debug-exit: status (code << 1) | 1; the guest writes 0 on success.
    1: "isa-debug-exit code 0",
    # -no-reboot: a guest reset ends QEMU with status 0.
    0: "guest reset (-no-reboot)",
}
OURS_OK_STATUSES = {0: "guest ended the VM"}

# ptrace(2)
PTRACE_TRACEME = 0
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_EXIT = 6
PTRACE_SYSCALL_INFO_ENTRY = 1
SYS_munmap, SYS_exit, SYS_exit_group = 11, 60, 231  # x86-64
WALL = 0x40000000  # __WALL


def now_ns():
    return time.monotonic_ns()


class RunResult:
    def __init__(self):
        self.ok = False
        self.error = None
        self.status = None  # exit status, or -signal
        self.first_line_ms = None
        self.exit_ms = None
        self.maxrss_kib = None
        self.hwm_kib = None  # mem pass only: VmHWM at exit
        self.guest_rss_kib = None  # mem pass only
        self.other_rss_kib = None  # mem pass only
        self.guest_maps = None  # mem pass only: mappings counted as guest RAM
        self.output = b""
        self.stderr = b""


def describe_status(st):
    if os.WIFEXITED(st):
        return os.WEXITSTATUS(st)
    if os.WIFSIGNALED(st):
        return -os.WTERMSIG(st)
    return None


def status_text(status):
    if status is None:
        return "unknown status"
    if status < 0:
        try:
            return "killed by %s" % signal.Signals(-status).name
        except ValueError:
            return "killed by signal %d" % -status
    return "exit status %d" % status


class LineWatcher:
    """Finds the first complete line that contains the marker."""

    def __init__(self, marker):
        self.marker = marker.encode()
        self.pending = b""
        self.found_ns = None
        self.output = bytearray()

    def feed(self, data, t_ns):
        if len(self.output) < 256 * 1024:
            self.output += data
        if self.found_ns is not None:
            return
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            if not self.marker or self.marker in line:
                self.found_ns = t_ns
                self.pending = b""
                return
        if len(self.pending) > 65536:
            self.pending = self.pending[-4096:]


def _read_stderr(errfd):
    os.lseek(errfd, 0, os.SEEK_SET)
    data = os.read(errfd, 65536)
    os.ftruncate(errfd, 0)
    os.lseek(errfd, 0, os.SEEK_SET)
    return data


def _kill_group(pid):
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def run_timed(argv, marker, timeout_s, errfd):
    """One run: spawn, time the marker line and the exit, collect rusage."""
    res = RunResult()
    watcher = LineWatcher(marker)
    r, w = os.pipe()
    nullfd = os.open(os.devnull, os.O_RDONLY)
    actions = [
        (os.POSIX_SPAWN_DUP2, nullfd, 0),
        (os.POSIX_SPAWN_DUP2, w, 1),
        (os.POSIX_SPAWN_DUP2, errfd, 2),
        (os.POSIX_SPAWN_CLOSE, r),
    ]
    pid = None
    try:
        t0 = now_ns()
        try:
            pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setpgroup=0)
        except OSError as e:
            res.error = "cannot start %s: %s" % (argv[0], e.strerror)
            return res
        os.close(w)
        w = None
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(r, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        deadline = t0 + int(timeout_s * 1e9)
        pipe_open = True
        exited_ns = None
        while exited_ns is None or pipe_open:
            left_ms = (deadline - now_ns()) // 1_000_000
            if left_ms <= 0:
                _kill_group(pid)
                res.error = "timed out after %.1f s" % timeout_s
                break
            for fd, _ in poller.poll(left_ms):
                t = now_ns()
                if fd == pidfd:
                    if exited_ns is None:
                        exited_ns = t
                    poller.unregister(pidfd)
                elif fd == r:
                    data = os.read(r, 65536)
                    if data:
                        watcher.feed(data, t)
                    else:
                        pipe_open = False
                        poller.unregister(r)
            if exited_ns is not None and pipe_open:
                # Exited, but something (a child?) still holds the pipe: do
                # not wait for it beyond what is already buffered.
                os.set_blocking(r, False)
                try:
                    while True:
                        data = os.read(r, 65536)
                        if not data:
                            break
                        watcher.feed(data, now_ns())
                except BlockingIOError:
                    pass
                pipe_open = False
        os.close(pidfd)
        _, st, ru = os.wait4(pid, 0)
        pid = None
        res.status = describe_status(st)
        res.maxrss_kib = ru.ru_maxrss
        if exited_ns is not None:
            res.exit_ms = (exited_ns - t0) / 1e6
        if watcher.found_ns is not None:
            res.first_line_ms = (watcher.found_ns - t0) / 1e6
    finally:
        if pid is not None:
            _kill_group(pid)
            try:
                os.wait4(pid, 0)
            except ChildProcessError:
                pass
        os.close(r)
        if w is not None:
            os.close(w)
        os.close(nullfd)
    res.output = bytes(watcher.output)
    res.stderr = _read_stderr(errfd)
    return res


def parse_smaps(text, min_size):
    """(guest_rss_kib, total_rss_kib, n_guest_maps) from /proc/PID/smaps."""
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$")
    guest = total = n = 0
    cur_is_guest = False
    for line in text.splitlines():
        m = head.match(line)
        if m:
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            perms, inode, path = m.group(3), int(m.group(4)), m.group(5).strip()
            cur_is_guest = (
                end - start >= min_size and inode == 0 and not path and perms.startswith("rw")
            )
            n += cur_is_guest
        elif line.startswith("Rss:"):
            kib = int(line.split()[1])
            total += kib
            if cur_is_guest:
                guest += kib
    return guest, total, n


class _SyscallInfo(ctypes.Structure):
    """struct ptrace_syscall_info, up to the entry arguments."""

    _fields_ = [
        ("op", ctypes.c_uint8),
        ("pad", ctypes.c_uint8 * 3),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("stack_pointer", ctypes.c_uint64),
        ("nr", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
        ("spare", ctypes.c_uint64 * 4),
    ]


def _mem_snapshot(pid, guest_map_min):
    """(guest_rss_kib, total_rss_kib, n_guest_maps, vmhwm_kib) of a stopped process."""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            smaps = f.read()
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    guest, total, n = parse_smaps(smaps, guest_map_min)
    return guest, total, n, int(m.group(1)) if m else None


def run_mem(argv, timeout_s, errfd, guest_map_min):
    """One ptrace'd run: split the VMM's RSS into guest memory and the rest.

    The main thread is traced (not the threads it creates). Its memory is read
    when it unmaps a mapping of guest-RAM size (a VMM that tears down cleanly
    frees guest RAM before it exits), when it calls exit/exit_group, and at
    PTRACE_EVENT_EXIT (any thread ending the process stops it there, before
    its memory is torn down)."""
    res = RunResult()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    r, w = os.pipe()
    t0 = now_ns()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setpgid(0, 0)
            os.close(r)
            nullfd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(nullfd, 0)
            os.dup2(w, 1)
            os.dup2(errfd, 2)
            if libc.ptrace(PTRACE_TRACEME, 0, None, None) != 0:
                os._exit(126)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    os.set_blocking(r, False)
    deadline = t0 + int(timeout_s * 1e9)
    snaps = []
    st = None
    ru = None
    started = False
    info = _SyscallInfo()
    try:
        while True:
            if now_ns() > deadline and res.error is None:
                _kill_group(pid)
                res.error = "timed out after %.1f s" % timeout_s
            try:
                while os.read(r, 65536):
                    pass
            except BlockingIOError:
                pass
            wpid, wst, wru = os.wait4(pid, os.WNOHANG | WALL)
            if wpid == 0:
                select.select([r], [], [], 0.002)
                continue
            if os.WIFEXITED(wst) or os.WIFSIGNALED(wst):
                st, ru = wst, wru
                break
            if not os.WIFSTOPPED(wst):
                continue
            sig = os.WSTOPSIG(wst)
            event = wst >> 16
            inject = 0
            if not started and sig == signal.SIGTRAP:
                started = True  # stopped after exec
                opts = PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD
                libc.ptrace(PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(opts))
            elif sig == signal.SIGTRAP | 0x80:  # syscall stop
                n = libc.ptrace(PTRACE_GET_SYSCALL_INFO, pid,
                                ctypes.c_void_p(ctypes.sizeof(info)), ctypes.byref(info))
                if n > 0 and info.op == PTRACE_SYSCALL_INFO_ENTRY and (
                        (info.nr == SYS_munmap and info.args[1] >= guest_map_min)
                        or info.nr in (SYS_exit, SYS_exit_group)):
                    snap = _mem_snapshot(pid, guest_map_min)
                    if snap:
                        snaps.append(snap)
            elif sig == signal.SIGTRAP and event == PTRACE_EVENT_EXIT:
                snap = _mem_snapshot(pid, guest_map_min)
                if snap:
                    snaps.append(snap)
            else:
                inject = sig
            libc.ptrace(PTRACE_SYSCALL, pid, None, ctypes.c_void_p(inject))
    finally:
        os.close(r)
    res.status = describe_status(st)
    res.maxrss_kib = ru.ru_maxrss if ru else None
    res.stderr = _read_stderr(errfd)
    if res.status == 126:
        res.error = "ptrace(PTRACE_TRACEME) failed"
    elif res.status == 127:
        res.error = "cannot start %s" % argv[0]
    elif not snaps and res.error is None:
        res.error = "could not read /proc/PID/smaps before the exit"
    if snaps:
        hwms = [sn[3] for sn in snaps if sn[3] is not None]
        res.hwm_kib = max(hwms) if hwms else None
        # Guest RAM only grows until it is unmapped: the largest figure seen.
        res.guest_rss_kib = max(sn[0] for sn in snaps)
        res.guest_maps = max(sn[2] for sn in snaps)
        # The peak of the rest is at least its value at any snapshot, and at
        # least the peak total minus the guest RAM.
        other = max(sn[1] - sn[0] for sn in snaps)
        if res.hwm_kib is not None:
            other = max(other, res.hwm_kib - res.guest_rss_kib)
        res.other_rss_kib = other
    return res


class Subject:
    def __init__(self, key, name, argv, ok_statuses):
        self.key = key
        self.name = name
        self.argv = argv
        self.ok_statuses = ok_statuses
        self.runs = []
        self.mem_runs = []
        self.failures = []
        self.skipped = None  # reason, when not run at all

    def check(self, res, marker, need_marker=True):
        if res.error is None and res.status not in self.ok_statuses:
            res.error = status_text(res.status)
        if res.error is None and need_marker and marker and res.first_line_ms is None:
            res.error = "no output line containing %r" % marker
        res.ok = res.error is None
        return res.ok

    def values(self, attr, mem=False):
        runs = self.mem_runs if mem else self.runs
        return [getattr(r, attr) for r in runs if r.ok and getattr(r, attr) is not None]


def summary(vals):
    if not vals:
        return None
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "values": vals,
    }


def tail_text(data, lines=12):
    text = data.decode("utf-8", "replace").replace("\r", "")
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def progress(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def bench(subjects, args, errfd):
    """Warm-ups, then the timed runs interleaved (ours, QEMU, /bin/true, ...)
    so that all see the same machine load, then the memory runs.
    Returns the /bin/true figures (the harness floor)."""
    active = [s for s in subjects if s.skipped is None]
    for s in active:
        progress(args, "bench: %s: %d warm-up + %d runs + %d memory runs"
                 % (s.name, args.warmup, args.runs, args.mem_runs))
    for i in range(args.warmup):
        for s in active:
            if s.skipped is not None:
                continue
            res = run_timed(s.argv, args.marker, args.timeout, errfd)
            if not s.check(res, args.marker) and i == 0:
                # The first run already fails: report it and do not insist.
                s.failures.append(("warm-up 1", res))
                s.skipped = "first run failed: %s" % res.error
    floor_ms, floor_rss = [], []
    for i in range(args.runs):
        for s in active:
            if s.skipped is not None:
                continue
            res = run_timed(s.argv, args.marker, args.timeout, errfd)
            s.runs.append(res)
            if not s.check(res, args.marker):
                s.failures.append(("run %d" % (i + 1), res))
                if len(s.failures) >= 3 and not s.values("exit_ms"):
                    s.skipped = "first runs all failed: %s" % res.error
        res = run_timed(["/bin/true"], "", 5.0, errfd)
        if res.exit_ms is not None and res.status == 0:
            floor_ms.append(res.exit_ms)
            floor_rss.append(res.maxrss_kib)
    for s in active:
        for i in range(args.mem_runs if s.skipped is None else 0):
            res = run_mem(s.argv, args.timeout, errfd, args.guest_map_min)
            s.check(res, None, need_marker=False)
            s.mem_runs.append(res)
            if not res.ok:
                s.failures.append(("memory run %d" % (i + 1), res))
    return {"exit_ms": summary(floor_ms), "ru_maxrss_kib": summary(floor_rss)}


def metrics(subj):
    return {
        "first_line_ms": summary(subj.values("first_line_ms")),
        "exit_ms": summary(subj.values("exit_ms")),
        "ru_maxrss_kib": summary(subj.values("maxrss_kib")),
        "peak_rss_kib": summary(subj.values("hwm_kib", mem=True)),
        "rss_excl_guest_kib": summary(subj.values("other_rss_kib", mem=True)),
        "guest_rss_kib": summary(subj.values("guest_rss_kib", mem=True)),
    }


METRIC_ROWS = [
    # key, label, scale (divide by), unit, target text
    ("first_line_ms", "first line", 1.0, "ms", ""),
    ("exit_ms", "exit", 1.0, "ms", "<= %g ms median" % TARGET_EXIT_MS),
    ("ru_maxrss_kib", "ru_maxrss (see note)", 1024.0, "MiB", ""),
    ("peak_rss_kib", "peak RSS incl. guest", 1024.0, "MiB", ""),
    ("rss_excl_guest_kib", "RSS excl. guest mem", 1024.0, "MiB", "<= %g MiB" % (TARGET_RSS_KIB / 1024)),
    ("guest_rss_kib", "guest mem touched", 1024.0, "MiB", ""),
]


def target_met(key, ms):
    if ms is None:
        return None
    if key == "exit_ms":
        return ms["median"] <= TARGET_EXIT_MS
    if key == "rss_excl_guest_kib":
        return ms["max"] <= TARGET_RSS_KIB
    return None


def fmt(v, scale):
    if v is None:
        return "-"
    v = v / scale
    return "%.2f" % v if v < 100 else "%.1f" % v


def print_table(result, subjects, args):
    ours, qemu = subjects
    mo, mq = result["subjects"]["ours"]["metrics"], result["subjects"]["qemu"]["metrics"]
    print("boot benchmark: %s" % result["image"])
    print("  guest cmdline %r, %s guest RAM, %d runs after %d warm-ups, %d memory runs"
          % (result["cmdline"], args.mem, args.runs, args.warmup, args.mem_runs))
    for s in subjects:
        if s.skipped is None or s.argv:
            print("  %-10s %s" % (s.name + ":", " ".join(shlex_quote(a) for a in s.argv)))
    print()
    w = [27, 8, 8, 8, 8, 8, 8, 10]
    hdr1 = "%-*s %s %s %*s  %s" % (
        w[0], "", ("%s" % ours.name).center(w[1] + w[2] + w[3] + 2),
        ("%s" % qemu.name).center(w[4] + w[5] + w[6] + 2), w[7], "ratio", "target")
    hdr2 = "%-*s %*s %*s %*s %*s %*s %*s %*s" % (
        w[0], "metric", w[1], "median", w[2], "min", w[3], "max",
        w[4], "median", w[5], "min", w[6], "max", w[7], "ours/QEMU")
    if any(s.values("exit_ms") for s in subjects):
        print(hdr1)
        print(hdr2)
    else:
        print("nothing measured.")
    for key, label, scale, unit, target in METRIC_ROWS:
        a, b = mo[key], mq[key]
        if a is None and b is None:
            continue
        ratio = "-"
        if a and b and b["median"]:
            ratio = "%.3f" % (a["median"] / b["median"])
        cells = []
        for m in (a, b):
            for f in ("median", "min", "max"):
                cells.append(fmt(m[f], scale) if m else "-")
        met = target_met(key, a)
        tgt = target
        if tgt and met is not None:
            tgt += "  (%s)" % ("met" if met else "NOT met")
        print("%-*s %*s %*s %*s %*s %*s %*s %*s  %s" % (
            w[0], "%s (%s)" % (label, unit), w[1], cells[0], w[2], cells[1], w[3], cells[2],
            w[4], cells[3], w[5], cells[4], w[6], cells[5], w[7], ratio, tgt))
    base = result.get("baseline") or {}
    floor_ms = base.get("exit_ms")
    floor_rss = base.get("ru_maxrss_kib")
    if any(s.values("exit_ms") for s in subjects):
        print()
        print("first line, exit: from posix_spawn() to the first stdout line containing %r, and to"
              % args.marker)
        print("  the process's exit (pidfd). Harness floor: /bin/true takes %s ms (median) this way."
              % fmt(floor_ms["median"] if floor_ms else None, 1.0))
        if floor_ms:
            parts = ["%s %s ms" % (sub.name, fmt(statistics.median(sub.values("exit_ms"))
                                                 - floor_ms["median"], 1.0))
                     for sub in subjects if sub.values("exit_ms")]
            print("  Median exit minus that floor: %s." % ", ".join(parts))
        print("ru_maxrss: wait4() of the timed runs. Linux counts the spawning process's memory")
        print("  in it (the child shares the harness's address space until exec), so it is never")
        print("  below the harness's RSS: %s MiB for /bin/true here. The rows below are exact:"
              % fmt(floor_rss["median"] if floor_rss else None, 1024.0))
    if any(s.mem_runs for s in subjects):
        print("peak RSS incl. guest: VmHWM of the VMM's own address space (ptrace'd runs).")
        print("guest mem touched: RSS of the anonymous rw mappings >= %d MiB (guest RAM), read"
              % (args.guest_map_min >> 20))
        print("  when the main thread unmaps one of that size, calls exit(_group), or exits.")
        print("RSS excl. guest mem: the RSS outside them at those moments, or VmHWM minus guest")
        print("  mem touched, whichever is larger.")
        for s in subjects:
            if s.mem_runs and any(r.ok and r.guest_maps == 0 for r in s.mem_runs):
                print("  %s: no mapping >= %d MiB found: guest RAM could not be told apart."
                      % (s.name, args.guest_map_min >> 20))
    for s in subjects:
        if s.skipped and not s.failures:
            print()
            print("%s: not run: %s" % (s.name, s.skipped))
        elif s.failures:
            print()
            what = "NOT measured" if not s.values("exit_ms") else "some runs failed"
            print("%s: %s (%d failure%s)" % (s.name, what, len(s.failures),
                                             "s" if len(s.failures) > 1 else ""))
            for label, res in s.failures[:3]:
                print("  %s: %s" % (label, res.error))
            label, res = s.failures[0]
            if res.stderr.strip():
                print("  stderr of %s:" % label)
                print("    " + tail_text(res.stderr).replace("\n", "\n    "))
            if res.output.strip():
                print("  stdout of %s (last lines):" % label)
                print("    " + tail_text(res.output).replace("\n", "\n    "))


def shlex_quote(s):
    import shlex

    return shlex.quote(s)


def main():
    # Python ignores SIGPIPE, and posix_spawn() children would inherit that.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(
        description="Boot benchmark: lmigtester vs QEMU microvm on the test guest.")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--runs", type=int, default=20, help="measured runs per VMM (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up runs, not counted (default 3)")
    ap.add_argument("--mem-runs", type=int, default=3,
                    help="ptrace'd runs for the RSS split (default 3; 0 to skip)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-run timeout, s (default 10)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--kernel", help="guest image (default BUILD/testguest/testguest.bzImage)")
    ap.add_argument("--cmdline", default="tg.mode=reboot",
                    help="guest command line after console=ttyS0 (default: tg.mode=reboot)")
    ap.add_argument("--marker", default="tg: ",
                    help="'first line' is the first line containing this (default 'tg: '; "
                         "'' for any line)")
    ap.add_argument("--mem", default="256M", help="guest RAM (default 256M)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--only", choices=["ours", "qemu"], help="run one VMM only")
    ap.add_argument("--any-status", action="store_true",
                    help="count runs as good whatever their exit status (for trying other images)")
    ap.add_argument("--guest-map-min", type=int, default=64,
                    help="anonymous mappings of at least this many MiB are guest RAM (default 64)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    args.guest_map_min <<= 20
    if args.runs < 1 or args.warmup < 0 or args.mem_runs < 0:
        ap.error("--runs must be >= 1, --warmup and --mem-runs >= 0")

    if not os.path.exists("/dev/kvm"):
        msg = "bench: /dev/kvm is missing: skipping the boot benchmark (it needs KVM)"
        print(json.dumps({"skipped": msg}) if args.json else msg)
        return 0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        msg = "bench: no read/write access to /dev/kvm: skipping the boot benchmark"
        print(json.dumps({"skipped": msg}) if args.json else msg)
        return 0

    image = args.kernel or os.path.join(args.build, "testguest", "testguest.bzImage")
    if not os.path.isfile(image):
        print("bench: guest image %s is missing (build it with 'make testguest')" % image,
              file=sys.stderr)
        return 1
    cmdline = "console=ttyS0 " + args.cmdline if args.cmdline else "console=ttyS0"

    vmm = os.path.join(args.build, "lmigtester")
    ours = Subject("ours", "lmigtester",
                   [vmm, "run", "-k", image, "-m", args.mem, "-p", args.cmdline],
                   OURS_OK_STATUSES)
    qemu = Subject("qemu", "QEMU microvm",
                   [args.qemu, "-M", "microvm", "-accel", "kvm", "-m", args.mem,
                    "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
                    "-no-reboot", "-kernel", image, "-append", cmdline,
                    "-device", "isa-debug-exit,iobase=0xf4"],
                   QEMU_OK_STATUSES)
    if args.any_status:
        for s in (ours, qemu):
            s.ok_statuses = _AnyStatus()
    if not args.cmdline:
        ours.argv[-2:] = []
    if not os.access(vmm, os.X_OK):
        ours.skipped = "%s is missing (build it with 'make')" % vmm
        ours.argv = []
    if shutil.which(args.qemu) is None:
        qemu.skipped = "%s not found (Debian package qemu-system-x86)" % args.qemu
        qemu.argv = []
    if args.only:
        other = qemu if args.only == "ours" else ours
        other.skipped = other.skipped or "not requested (--only %s)" % args.only
        other.argv = []

    errf = tempfile.TemporaryFile()
    errfd = errf.fileno()
    baseline = None
    try:
        for s in (ours, qemu):
            if s.skipped is not None and not args.only:
                progress(args, "bench: %s: not run: %s" % (s.name, s.skipped))
        if ours.skipped is None or qemu.skipped is None:
            baseline = bench((ours, qemu), args, errfd)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        errf.close()

    result = {
        "image": image,
        "cmdline": cmdline,
        "guest_ram": args.mem,
        "runs": args.runs,
        "warmup": args.warmup,
        "mem_runs": args.mem_runs,
        "marker": args.marker,
        "targets": {"exit_ms_median": TARGET_EXIT_MS, "rss_excl_guest_kib": TARGET_RSS_KIB},
        "baseline_bin_true": baseline,
        "baseline": baseline,
        "subjects": {},
        "ratio_ours_qemu": {},
    }
    for s in (ours, qemu):
        m = metrics(s)
        result["subjects"][s.key] = {
            "name": s.name,
            "argv": s.argv,
            "measured": bool(s.values("exit_ms")),
            "skipped": s.skipped,
            "failures": [{"run": label, "error": res.error, "status": res.status,
                          "stderr_tail": tail_text(res.stderr, 5)}
                         for label, res in s.failures],
            "metrics": m,
        }
    mo, mq = result["subjects"]["ours"]["metrics"], result["subjects"]["qemu"]["metrics"]
    for key in mo:
        if mo[key] and mq[key] and mq[key]["median"]:
            result["ratio_ours_qemu"][key] = mo[key]["median"] / mq[key]["median"]
    if baseline and baseline["exit_ms"]:
        result["exit_minus_floor_ms"] = {
            k: result["subjects"][k]["metrics"]["exit_ms"]["median"] - baseline["exit_ms"]["median"]
            for k in ("ours", "qemu") if result["subjects"][k]["metrics"]["exit_ms"]}
    result["targets_met"] = {
        "exit_ms_median": target_met("exit_ms", mo["exit_ms"]),
        "rss_excl_guest_kib": target_met("rss_excl_guest_kib", mo["rss_excl_guest_kib"]),
    }
    del result["baseline"]

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        result["baseline"] = baseline
        print_table(result, (ours, qemu), args)
    measured = any(result["subjects"][k]["measured"] for k in ("ours", "qemu"))
    return 0 if measured else 1


class _AnyStatus:
    def __contains__(self, _):
        return True


if __name__ == "__main__":
    sys.exit(main())
