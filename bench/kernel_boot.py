#!/usr/bin/python3
"""Kernel boot benchmark: lmigtester and QEMU (microvm) on lmigtester's minimal kernel.

    /usr/bin/python3 bench/kernel_boot.py --build build [--runs N] [--cpus N] [--json]

Both VMMs boot the same kernel (build/guest-kernel/bzImage, and the ELF
build/guest-kernel/vmlinux), the same initramfs (build/guest/initramfs.cpio.gz)
and the same full kernel command line, with the same guest RAM and vCPUs.
Per run it measures, from the moment the process is spawned:
  - first line: until the first complete non-empty line on the VMM's stdout
    (the guest console) has been read,
  - Run /init:  until the kernel's "Run /init as init process" line has been
    read; the VM is then killed with its process group (on hosts whose KVM
    emulates guest kernel code, /init cannot run anyway),
and records the kernel's own printk timestamp of that line. Runs are
interleaved (lmigtester, QEMU, then QEMU, lmigtester, ...), each figure is
printed as median/min/max with the ratio of the medians (ours/QEMU), and a
verdict line per image says whether lmigtester was the slower one.

QEMU microvm boots an ELF vmlinux only through its PVH entry note (a kernel
with CONFIG_PVH); without it the vmlinux row has no QEMU figures.

This is a benchmark, not a test: it exits 0 when it could measure something,
and skips (exit 0, with a message) when /dev/kvm or the kernel is missing.
See bench/README.md.
"""

import argparse
import json
import os
import re
import select
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BASE_CMDLINE = "console=ttyS0 reboot=k panic=-1"
# What lmigtester itself adds on hosts whose KVM emulates guest kernel code
# (src/vmm/config.h, CONFIG_QUIRKS_CMDLINE).
QUIRKS_CMDLINE = ("noxsave nopcid noinvpcid nofsgsbase "
                  "clearcpuid=popcnt,rdrand,rdseed,rdpid,movbe,smap,umip")
# lmigtester hides CX16 and the hypercall-based KVM PV features in CPUID on
# such hosts; QEMU's equivalent CPU properties.
QEMU_QUIRK_PROPS = ["-cx16", "kvm-pv-ipi=off", "kvm-pv-unhalt=off",
                    "kvm-pv-tlb-flush=off", "kvm-pv-sched-yield=off"]
# CPU models tried in order (--qemu-cpu auto). "host" is what matches
# lmigtester (the host's CPUID as KVM reports it); on some nested hosts it
# aborts ("failed to set MSR 0x10a": IA32_ARCH_CAPABILITIES), hence the rest.
QEMU_CPU_CANDIDATES = ["host", "host,-arch-capabilities", "max,-arch-capabilities", "qemu64"]

INIT_RE = re.compile(rb"Run \S+ as init process")
PRINTK_TS_RE = re.compile(rb"^\s*\[\s*(\d+\.\d+)\]")

XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point note


def now_ns():
    return time.monotonic_ns()


def progress(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def host_emulates_kernel():
    """As lmigtester and scripts/build-guest-kernel.sh decide it."""
    if os.path.exists("/sys/module/kvm_pvm"):
        return True, "/sys/module/kvm_pvm exists"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    if "vmx" in flags or "svm" in flags:
                        return False, "vmx/svm in /proc/cpuinfo"
                    return True, "no vmx/svm in /proc/cpuinfo"
    except OSError:
        pass
    return False, "cannot read /proc/cpuinfo"


def elf_has_pvh_note(path):
    """True when the ELF file has a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY),
    None when it is not a 64-bit little-endian ELF file."""
    try:
        with open(path, "rb") as f:
            ehdr = f.read(64)
            if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
                return None
            phoff, = struct.unpack_from("<Q", ehdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
            f.seek(phoff)
            phdrs = f.read(phentsize * phnum)
            for i in range(phnum):
                p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                    "<IIQQQQ", phdrs, i * phentsize)
                if p_type != 4:  # PT_NOTE
                    continue
                f.seek(p_offset)
                data = f.read(p_filesz)
                off = 0
                while off + 12 <= len(data):
                    namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                    name = data[off + 12:off + 12 + namesz].rstrip(b"\0")
                    if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                        return True
                    off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    except (OSError, struct.error):
        return None
    return False


def kill_group(pid):
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


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


def tail_text(data, lines=12):
    text = data.decode("utf-8", "replace").replace("\r", "")
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


class RunResult:
    def __init__(self, vmm, image, index):
        self.vmm = vmm
        self.image = image
        self.index = index
        self.seq = 0  # position in the whole sequence of runs
        self.ok = False
        self.error = None
        self.timed_out = False
        self.status = None  # exit status (or -signal) when the VM ended on its own
        self.first_line_s = None
        self.first_line = None
        self.init_s = None
        self.init_line = None
        self.kernel_init_s = None  # printk timestamp of the "Run /init" line
        self.output = bytearray()
        self.stderr = b""

    def to_json(self):
        return {
            "vmm": self.vmm, "image": self.image, "run": self.index, "ok": self.ok,
            "error": self.error, "timed_out": self.timed_out, "status": self.status,
            "first_line_s": self.first_line_s, "first_line": self.first_line,
            "run_init_s": self.init_s, "run_init_line": self.init_line,
            "kernel_ts_run_init_s": self.kernel_init_s,
            "stdout_tail": None if self.ok else tail_text(bytes(self.output), 8),
            "stderr_tail": None if self.ok else tail_text(self.stderr, 8),
        }


class Watcher:
    """Splits the console output into lines; notes the first non-empty line
    and the "Run /init as init process" line."""

    def __init__(self, res, t0):
        self.res = res
        self.t0 = t0
        self.pending = b""

    def feed(self, data, t_ns):
        res = self.res
        if len(res.output) < 512 * 1024:
            res.output += data
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if res.first_line_s is None and line.strip():
                res.first_line_s = (t_ns - self.t0) / 1e9
                res.first_line = line.decode("utf-8", "replace")[:200]
            if res.init_s is None and INIT_RE.search(line):
                res.init_s = (t_ns - self.t0) / 1e9
                res.init_line = line.decode("utf-8", "replace")[:200]
                m = PRINTK_TS_RE.match(line)
                if m:
                    res.kernel_init_s = float(m.group(1))
                return True
        if len(self.pending) > 65536:
            self.pending = self.pending[-4096:]
        return False


def read_stderr(errfd):
    os.lseek(errfd, 0, os.SEEK_SET)
    data = os.read(errfd, 65536)
    os.ftruncate(errfd, 0)
    os.lseek(errfd, 0, os.SEEK_SET)
    return data


def run_boot(argv, res, timeout_s, errfd):
    """Spawn argv in its own process group, read its stdout until the
    "Run /init" line (then kill the group), the exit, or the timeout."""
    r, w = os.pipe()
    nullfd = os.open(os.devnull, os.O_RDONLY)
    actions = [
        (os.POSIX_SPAWN_DUP2, nullfd, 0),
        (os.POSIX_SPAWN_DUP2, w, 1),
        (os.POSIX_SPAWN_DUP2, errfd, 2),
        (os.POSIX_SPAWN_CLOSE, r),
    ]
    pid = None
    pidfd = None
    try:
        t0 = now_ns()
        try:
            pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setpgroup=0)
        except OSError as e:
            res.error = "cannot start %s: %s" % (argv[0], e.strerror)
            return res
        os.close(w)
        w = None
        watcher = Watcher(res, t0)
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(r, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        deadline = t0 + int(timeout_s * 1e9)
        pipe_open, exited, found = True, False, False
        while pipe_open and not found:
            left_ms = (deadline - now_ns()) // 1_000_000
            if left_ms <= 0:
                kill_group(pid)
                res.timed_out = True
                res.error = "timed out after %g s" % timeout_s
                break
            for fd, _ in poller.poll(left_ms):
                t = now_ns()
                if fd == r:
                    data = os.read(r, 65536)
                    if not data:
                        pipe_open = False
                        poller.unregister(r)
                    elif watcher.feed(data, t):
                        found = True
                        kill_group(pid)  # the guest cannot get further here
                        break
                elif fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
            if exited and pipe_open and not found:
                # Exited, but a child may still hold the pipe: take only what
                # is already buffered.
                os.set_blocking(r, False)
                try:
                    while not found:
                        data = os.read(r, 65536)
                        if not data:
                            break
                        found = watcher.feed(data, now_ns())
                except BlockingIOError:
                    pass
                pipe_open = False
        if not found and not res.timed_out:
            kill_group(pid)  # stdout closed but the process may still live
        _, st, _ = os.wait4(pid, 0)
        pid = None
        if not found and not res.timed_out:
            res.status = describe_status(st)
            res.error = "VM ended before 'Run /init' (%s)" % status_text(res.status)
    finally:
        if pid is not None:
            kill_group(pid)
            try:
                os.wait4(pid, 0)
            except ChildProcessError:
                pass
        if pidfd is not None:
            os.close(pidfd)
        os.close(r)
        if w is not None:
            os.close(w)
        os.close(nullfd)
    res.stderr = read_stderr(errfd)
    res.ok = res.error is None and res.init_s is not None
    return res


def probe_qemu_cpu(qemu, cpu, mem, cpus, timeout_s=15.0):
    """Start QEMU with this -cpu, stopped (-S), and quit it through the
    monitor: (ok, message). QEMU sets the vCPUs' MSRs at the initial reset,
    before its main loop reads the monitor, so a model the host rejects
    aborts before the 'quit'."""
    argv = [qemu, "-M", "microvm,x-option-roms=off,rtc=on", "-accel", "kvm", "-cpu", cpu,
            "-m", mem, "-smp", str(cpus), "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "null", "-S", "-monitor", "stdio"]
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return False, "cannot start %s: %s" % (qemu, e.strerror)
    try:
        _, err = p.communicate(b"quit\n", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(p.pid)
        p.communicate()
        return False, "no answer within %g s" % timeout_s
    finally:
        if p.returncode is None:
            kill_group(p.pid)
            p.wait()
    lines = [ln for ln in err.decode("utf-8", "replace").splitlines()
             if ln.strip() and "warning:" not in ln]
    if p.returncode == 0:
        return True, "ok"
    # subprocess's returncode is -N for signal N, as status_text() expects.
    return False, "%s%s" % (status_text(p.returncode), (": " + lines[0]) if lines else "")


def save_logs(log_dir, res):
    os.makedirs(log_dir, exist_ok=True)
    base = os.path.join(log_dir, "%s-%s-%d" % (res.image, res.vmm, res.index))
    with open(base + ".console", "wb") as f:
        f.write(bytes(res.output))
    with open(base + ".stderr", "wb") as f:
        f.write(res.stderr)


def file_id(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def summary(vals):
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


METRICS = [
    # key in RunResult, json key, label
    ("first_line_s", "first_line_s", "first console line"),
    ("init_s", "run_init_s", "'Run /init' line"),
    ("kernel_init_s", "kernel_ts_run_init_s", "kernel timestamp at it"),
]


class Target:
    """One VMM on one image."""

    def __init__(self, vmm, name, image_key, argv, skipped=None):
        self.vmm = vmm
        self.name = name
        self.image_key = image_key
        self.argv = argv
        self.skipped = skipped
        self.runs = []
        self.gave_up = None

    def values(self, attr):
        return [getattr(r, attr) for r in self.runs if r.ok and getattr(r, attr) is not None]

    def metrics(self):
        return {jk: summary(self.values(attr)) for attr, jk, _ in METRICS}


def ratio(a, b):
    if a and b and b["median"]:
        return a["median"] / b["median"]
    return None


def verdict(image_label, ours, qemu):
    """(ok, text): ok is True when lmigtester is not the slower one on any
    metric, False when it is, None when there is nothing to compare."""
    mo, mq = ours.metrics(), qemu.metrics()
    io, iq = mo["run_init_s"], mq["run_init_s"]
    if ours.skipped:
        return None, "%s: no comparison (lmigtester: %s)" % (image_label, ours.skipped)
    if qemu.skipped:
        if io:
            return None, ("%s: no comparison (QEMU: %s); lmigtester reaches 'Run /init' in %.2f s "
                          "(median)" % (image_label, qemu.skipped, io["median"]))
        return None, "%s: no comparison (QEMU: %s); lmigtester did not reach 'Run /init'%s" % (
            image_label, qemu.skipped, fail_reason(ours))
    if not io and not iq:
        return None, "%s: no comparison: neither VMM reached 'Run /init' (lmigtester%s; QEMU%s)" % (
            image_label, fail_reason(ours), fail_reason(qemu))
    if not io:
        return False, ("%s: lmigtester FAILED: it did not reach 'Run /init'%s, QEMU did "
                       "(%.2f s median)" % (image_label, fail_reason(ours), iq["median"]))
    if not iq:
        return None, ("%s: no comparison: QEMU did not reach 'Run /init'%s; lmigtester did "
                      "(%.2f s median)" % (image_label, fail_reason(qemu), io["median"]))
    parts, slower, overlaps = [], [], False
    for _, jk, label in METRICS[:2]:
        r = ratio(mo[jk], mq[jk])
        if r is None:
            continue
        parts.append("%s %.2f s vs %.2f s, ratio %.3f" % (
            label, mo[jk]["median"], mq[jk]["median"], r))
        # Do the two VMMs' min..max ranges overlap?
        overlap = mo[jk]["min"] <= mq[jk]["max"] and mq[jk]["min"] <= mo[jk]["max"]
        overlaps = overlaps or overlap
        if r > 1.0:
            slower.append("%s%s" % (label, " (within the run-to-run spread)" if overlap else ""))
    if slower:
        return False, "%s: lmigtester is the SLOWER one on %s: %s" % (
            image_label, ", ".join(slower), "; ".join(parts))
    return True, "%s: lmigtester is not the slower one: %s%s" % (
        image_label, "; ".join(parts),
        " (the ranges overlap: within the run-to-run spread)" if overlaps else "")


def fail_reason(t):
    errs = [r.error for r in t.runs if not r.ok and r.error]
    if t.gave_up and not errs:
        errs = [t.gave_up]
    if not errs:
        return ""
    return ": " + errs[0] + (" (+%d more failed)" % (len(errs) - 1) if len(errs) > 1 else "")


def fmt_s(v):
    return "-" if v is None else "%.2f" % v


def print_report(result, targets, args, qemu_probe):
    print("kernel boot benchmark: %s, %s, %d vCPU%s, %s guest RAM, %d run%s per VMM per image"
          % (result["kernel_dir"], result["kernel_variant"] or "variant unknown",
             args.cpus, "s" if args.cpus > 1 else "", args.mem, args.runs,
             "s" if args.runs > 1 else ""))
    print("  host: %s (%s)" % (
        "KVM emulates guest kernel code" if result["host_emulates_kernel"] else "hardware-assisted KVM",
        result["host_detection"]))
    print("  initramfs: %s" % result["initrd"])
    print("  cmdline (both VMMs): %s" % result["cmdline"])
    if qemu_probe:
        print("  QEMU -cpu probe: %s" % "; ".join("%s: %s" % (c, m) for c, m in qemu_probe))
    for image_key, (ours, qemu) in targets.items():
        for t in (ours, qemu):
            if t.argv:
                print("  %-10s %s" % (t.name + ":", " ".join(shlex.quote(a) for a in t.argv)))
            else:
                print("  %-10s %s: not run: %s" % (t.name + ":", image_key, t.skipped))
    la = result.get("loadavg")
    if la:
        print("  load average: %.2f at the start, %.2f at the end (%d CPUs)"
              % (la["start"], la["end"], os.cpu_count() or 0))

    if result["inputs_changed"]:
        print("  WARNING: changed while the benchmark ran (rebuilt?): %s;"
              % ", ".join(result["inputs_changed"]))
        print("  the runs may not all have used the same files: run it again when nothing is"
              " being built.")
    print()
    print("runs (seconds from spawn):")
    print("  %-4s %-8s %-12s %10s %10s %10s  %s" % ("run", "image", "VMM", "first line",
                                                   "Run /init", "kernel ts", "result"))
    all_runs = []
    for ours, qemu in targets.values():
        all_runs += ours.runs + qemu.runs
    all_runs.sort(key=lambda r: r.seq)
    for r in all_runs:
        print("  %-4d %-8s %-12s %10s %10s %10s  %s" % (
            r.index, r.image, r.vmm, fmt_s(r.first_line_s), fmt_s(r.init_s),
            fmt_s(r.kernel_init_s), "ok" if r.ok else
            ("TIMED OUT after %g s" % args.timeout if r.timed_out else "FAILED: " + r.error)))
    if not all_runs:
        print("  (none)")

    for image_key, (ours, qemu) in targets.items():
        mo, mq = ours.metrics(), qemu.metrics()
        print()
        print("%s (%s):" % (image_key, result["images"][image_key]["path"]))
        print("  %-26s %s   %s   %9s" % (
            "", "lmigtester".center(26), "QEMU microvm".center(26), "ratio"))
        print("  %-26s %8s %8s %8s   %8s %8s %8s   %9s" % (
            "metric (s)", "median", "min", "max", "median", "min", "max", "ours/QEMU"))
        for _, jk, label in METRICS:
            a, b = mo[jk], mq[jk]
            cells = []
            for m in (a, b):
                cells += [fmt_s(m[f]) if m else "-" for f in ("median", "min", "max")]
            if qemu.skipped:
                cells[3:] = ["n/a", "", ""]
            r = ratio(a, b)
            print("  %-26s %8s %8s %8s   %8s %8s %8s   %9s" % (
                (label,) + tuple(cells) + ("%.3f" % r if r is not None else "-",)))
        ok, text = result["images"][image_key]["verdict_ok"], result["images"][image_key]["verdict"]
        tag = {True: "OK", False: "NOT OK", None: "n/a"}[ok]
        print("VERDICT %s: %s" % (tag, text))
        for t in (ours, qemu):
            bad = [r for r in t.runs if not r.ok]
            if bad:
                r = bad[0]
                print("  %s, %s run %d: %s" % (t.name, image_key, r.index, r.error))
                if r.stderr.strip():
                    print("    stderr: " + tail_text(r.stderr, 6).replace("\n", "\n            "))
                if r.output.strip():
                    print("    console (last lines): "
                          + tail_text(bytes(r.output), 6).replace("\n", "\n      "))
    print()
    print("first console line: the first complete non-empty line the VMM wrote to stdout;")
    print("'Run /init' line: the kernel's 'Run /init as init process'; the VM is killed then.")
    print("kernel timestamp: the printk time on that line (the guest's own clock).")
    if result["host_emulates_kernel"]:
        print("This host's KVM emulates guest kernel code (~2 MIPS): these figures measure the")
        print("host's instruction emulator as much as the VMM; compare on a VT-x/AMD-V host.")


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # A SIGTERM runs the finally blocks (which kill the VM's process group).
    signal.signal(signal.SIGTERM, _on_sigterm)
    ap = argparse.ArgumentParser(
        description="Kernel boot benchmark: lmigtester vs QEMU microvm, time to 'Run /init'.")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--vmm", help="lmigtester binary (default BUILD/lmigtester)")
    ap.add_argument("--kernel-dir", help="kernel directory (default BUILD/guest-kernel)")
    ap.add_argument("--initrd", help="initramfs (default BUILD/guest/initramfs.cpio.gz)")
    ap.add_argument("--images", default="bzImage,vmlinux",
                    help="comma-separated images in the kernel directory (default bzImage,vmlinux)")
    ap.add_argument("--runs", type=int, default=3, help="runs per VMM per image (default 3)")
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs (default 1)")
    ap.add_argument("--mem", default="512M", help="guest RAM (default 512M)")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-run timeout, s (default 300)")
    ap.add_argument("--cmdline", help="the whole kernel command line for both VMMs (default: '%s'"
                    " plus, on hosts whose KVM emulates guest kernel code, '%s')"
                    % (BASE_CMDLINE, QUIRKS_CMDLINE))
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--qemu-cpu", default="auto",
                    help="QEMU -cpu value, used as given (default auto: the first of %s that "
                         "this host accepts, plus %s on emulating hosts)"
                    % (", ".join(QEMU_CPU_CANDIDATES), ",".join(QEMU_QUIRK_PROPS)))
    ap.add_argument("--only", choices=["ours", "qemu"], help="run one VMM only")
    ap.add_argument("--log-dir", help="write each run's console output and stderr to this "
                    "directory (IMAGE-VMM-RUN.console / .stderr)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    if args.runs < 1 or args.cpus < 1 or args.timeout <= 0:
        ap.error("--runs and --cpus must be >= 1, --timeout > 0")

    def skip(msg):
        print(json.dumps({"skipped": msg}) if args.json else msg)
        return 0

    if not os.path.exists("/dev/kvm"):
        return skip("bench: /dev/kvm is missing: skipping the kernel boot benchmark (it needs KVM)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return skip("bench: no read/write access to /dev/kvm: skipping the kernel boot benchmark")
    kdir = args.kernel_dir or os.path.join(args.build, "guest-kernel")
    initrd = args.initrd or os.path.join(args.build, "guest", "initramfs.cpio.gz")
    images = {}
    for name in [s for s in args.images.split(",") if s]:
        path = os.path.join(kdir, name)
        if os.path.isfile(path):
            images[name] = path
    if not images:
        return skip("bench: no kernel in %s (%s): skipping; build it with 'make guest-kernel'"
                    % (kdir, args.images))
    if not os.path.isfile(initrd):
        return skip("bench: initramfs %s is missing: skipping; build it with 'make guest'" % initrd)
    variant = None
    try:
        with open(os.path.join(kdir, "variant")) as f:
            variant = f.read().strip()
    except OSError:
        pass

    emulates, detection = host_emulates_kernel()
    cmdline = args.cmdline
    if cmdline is None:
        cmdline = BASE_CMDLINE + (" " + QUIRKS_CMDLINE if emulates else "")
    vmm = args.vmm or os.path.join(args.build, "lmigtester")

    ours_skip = None
    if not os.access(vmm, os.X_OK):
        ours_skip = "%s is missing (build it with 'make')" % vmm
    qemu_skip = None
    qemu_probe = []
    qemu_cpu = args.qemu_cpu
    if args.only == "ours":
        qemu_skip = "not requested (--only ours)"
    elif shutil.which(args.qemu) is None:
        qemu_skip = "%s not found (Debian package qemu-system-x86)" % args.qemu
    elif qemu_cpu == "auto":
        qemu_cpu = None
        suffix = ("," + ",".join(QEMU_QUIRK_PROPS)) if emulates else ""
        for cand in QEMU_CPU_CANDIDATES:
            ok, msg = probe_qemu_cpu(args.qemu, cand + suffix, args.mem, args.cpus)
            qemu_probe.append((cand + suffix, msg))
            if ok:
                qemu_cpu = cand + suffix
                break
        if qemu_cpu is None:
            qemu_skip = "no -cpu model works here (%s)" % "; ".join(
                "%s: %s" % pm for pm in qemu_probe)
    if args.only == "qemu":
        ours_skip = "not requested (--only qemu)"

    targets = {}
    image_info = {}
    for key, path in images.items():
        pvh = elf_has_pvh_note(path)
        is_elf = pvh is not None
        image_info[key] = {"path": path, "elf": is_elf, "pvh_note": pvh if is_elf else None}
        o_argv = [vmm, "run", "-k", path, "-i", initrd, "-m", args.mem, "-c", str(args.cpus),
                  "--cmdline", cmdline]
        ours = Target("ours", "lmigtester", key, None if ours_skip else o_argv, ours_skip)
        q_skip = qemu_skip
        if q_skip is None and is_elf and not pvh:
            q_skip = "n/a (no PVH note: QEMU microvm boots an ELF kernel only with CONFIG_PVH)"
        q_argv = None
        if q_skip is None:
            q_argv = [args.qemu, "-M", "microvm,x-option-roms=off,rtc=on", "-accel", "kvm",
                      "-cpu", qemu_cpu, "-m", args.mem, "-smp", str(args.cpus),
                      "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
                      "-kernel", path, "-initrd", initrd, "-append", cmdline]
        qemu = Target("qemu", "QEMU", key, q_argv, q_skip)
        targets[key] = (ours, qemu)

    active = [t for pair in targets.values() for t in pair if t.skipped is None]
    for key, (ours, qemu) in targets.items():
        for t in (ours, qemu):
            if t.skipped:
                progress(args, "bench: %s on %s: not run: %s" % (t.name, key, t.skipped))
    load_start = os.getloadavg()[0]
    ids_start = {p: file_id(p) for p in list(images.values()) + [initrd, vmm]}
    errf = tempfile.TemporaryFile()
    seq = 0
    try:
        for i in range(args.runs):
            for key, pair in targets.items():
                # Interleaved, and the order alternates from run to run.
                order = pair if i % 2 == 0 else pair[::-1]
                for t in order:
                    if t.skipped is not None or t.gave_up:
                        continue
                    progress(args, "bench: run %d/%d: %s on %s ..." % (i + 1, args.runs, t.name, key))
                    res = RunResult(t.name, key, i + 1)
                    res.seq = seq
                    seq += 1
                    run_boot(t.argv, res, args.timeout, errf.fileno())
                    t.runs.append(res)
                    if args.log_dir:
                        save_logs(args.log_dir, res)
                    progress(args, "bench:   %s" % (
                        "first line %.2f s, 'Run /init' %.2f s" % (res.first_line_s, res.init_s)
                        if res.ok else res.error))
                    # A VMM that fails quickly twice in a row will not do better.
                    if (not res.ok and not res.timed_out and len(t.runs) >= 2
                            and not any(r.ok for r in t.runs)):
                        t.gave_up = "first runs failed: %s" % res.error
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        errf.close()
    load_end = os.getloadavg()[0]
    changed = [p for p, fid in ids_start.items() if file_id(p) != fid]
    # The kernel's own "Linux version ... #N SMP <date>" line tells builds apart.
    versions = {}
    for pair in targets.values():
        for t in pair:
            for r in t.runs:
                if r.first_line and "Linux version" in r.first_line:
                    versions.setdefault(r.image, set()).add(
                        re.sub(r"^\s*\[[^]]*\]\s*", "", r.first_line))
    for key, vs in versions.items():
        if len(vs) > 1:
            changed.append("%s (%d different 'Linux version' lines)" % (key, len(vs)))

    result = {
        "kernel_dir": kdir,
        "kernel_variant": variant,
        "initrd": initrd,
        "cmdline": cmdline,
        "guest_ram": args.mem,
        "cpus": args.cpus,
        "runs": args.runs,
        "timeout_s": args.timeout,
        "host_emulates_kernel": emulates,
        "host_detection": detection,
        "qemu_cpu": qemu_cpu if qemu_skip is None else None,
        "qemu_cpu_probe": [{"cpu": c, "result": m} for c, m in qemu_probe],
        "loadavg": {"start": load_start, "end": load_end},
        "inputs_changed": changed,
        "images": {},
    }
    for key, (ours, qemu) in targets.items():
        ok, text = verdict(key, ours, qemu)
        mo, mq = ours.metrics(), qemu.metrics()
        info = dict(image_info[key])
        info.update({
            "ours": {"argv": ours.argv, "skipped": ours.skipped, "metrics": mo},
            "qemu": {"argv": qemu.argv, "skipped": qemu.skipped, "metrics": mq},
            "ratio_ours_qemu": {jk: ratio(mo[jk], mq[jk]) for _, jk, _ in METRICS},
            "verdict_ok": ok,
            "verdict": text,
            "runs": [r.to_json() for r in sorted(ours.runs + qemu.runs, key=lambda r: r.seq)],
        })
        result["images"][key] = info

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, targets, args, qemu_probe)
    measured = any(t.values("init_s") or t.values("first_line_s") for t in active)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
