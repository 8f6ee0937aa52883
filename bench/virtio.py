#!/usr/bin/python3
"""virtio benchmark: lmigtester and QEMU microvm side by side, measured
from inside the test guest (tg.mode=virtio-bench, docs/testguest.md).

    /usr/bin/python3 bench/virtio.py --build build [--runs N] [--cache direct|buffered|both] [--json]

Both VMMs boot the same test guest with the same virtio-mmio devices: a
virtio-blk disk on the same raw image (O_DIRECT: lmigtester ',direct', QEMU
cache=none; or buffered: no flag, QEMU cache=writeback; both through
io_uring) and a virtio-net device on a TAP in a network namespace of our
own. The guest runs each phase at CPL3 with many requests in flight and
times it with the TSC; the TSC rate comes from the host's clock: the guest
prints its TSC on a start and an end line of equal length, and the harness
timestamps both lines as they arrive (median over all runs). Figures:
blk sequential write/read MiB/s, random write/read IOPS, net transmit
(guest to host) MiB/s and frames/s, the frames counted on the host side
too (the TAP's rx_packets/rx_bytes). A run counts when the guest's data
checks all passed (TAP lines) and the VMM exited as expected.

This is a benchmark, not a test: it prints figures and exits 0 when it
could measure something (1 when nothing). See bench/README.md.
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
import subprocess
import sys
import tempfile
import time

OK_STATUS = {"ours": (0,), "qemu": (1, 0)}  # QEMU: isa-debug-exit (0 << 1) | 1, or reset
NAMES = {"ours": "lmigtester", "qemu": "QEMU microvm"}
TAP = "vbtap0"

CLOCK_RE = re.compile(r"tg: vbench clock (start|end)\s+tsc=(\d+)")
METRIC_RE = re.compile(r"tg: vbench (\S+) (\S+) ops=(\d+) bytes=(\d+) cycles=(\d+) "
                       r"qd=(\d+) size=(\d+)")

# (key, label, unit) for each row, in table order; key = (device kind, phase, quantity).
BLK_ROWS = [("seq-write", "MiB/s"), ("seq-read", "MiB/s"), ("rand-write", "IOPS"),
            ("rand-read", "IOPS")]
NET_ROWS = [("tx", "MiB/s"), ("tx", "kframes/s")]


def progress(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def run_vm(argv, timeout_s):
    """Run one VM; returns (status, [(t_ns, line)], stderr text, error)."""
    lines = []
    err = tempfile.TemporaryFile()
    t0 = time.monotonic_ns()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=err, start_new_session=True)
    except OSError as e:
        return None, [], "", "cannot start %s: %s" % (argv[0], e.strerror)
    fd = p.stdout.fileno()
    pending = b""
    error = None
    deadline = t0 + int(timeout_s * 1e9)
    while True:
        left = (deadline - time.monotonic_ns()) / 1e9
        if left <= 0:
            error = "timed out after %.0f s" % timeout_s
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        data = os.read(fd, 65536)
        t = time.monotonic_ns()
        if not data:
            break
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            lines.append((t, line.decode("utf-8", "replace").rstrip("\r")))
    if pending:
        lines.append((time.monotonic_ns(), pending.decode("utf-8", "replace")))
    try:
        status = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        status = p.wait()
    p.stdout.close()
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    err.close()
    return status, lines, stderr, error


def parse_run(lines):
    """Clock lines, metric lines, TAP failures and the result line."""
    out = {"clock": {}, "metrics": {}, "not_ok": [], "result": None}
    for t, line in lines:
        m = CLOCK_RE.search(line)
        if m:
            out["clock"][m.group(1)] = (t, int(m.group(2)))
            continue
        m = METRIC_RE.search(line)
        if m:
            dev, phase = m.group(1), m.group(2)
            out["metrics"][(dev.rstrip("0123456789"), phase)] = {
                "ops": int(m.group(3)), "bytes": int(m.group(4)), "cycles": int(m.group(5)),
                "qd": int(m.group(6)), "size": int(m.group(7))}
            continue
        if line.startswith("not ok "):
            out["not_ok"].append(line)
        elif line.startswith("tg: result "):
            out["result"] = line.split()[-1]
    return out


def tap_stats(ns):
    """(rx_packets, rx_bytes) of the TAP in the namespace."""
    r = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", TAP],
                       capture_output=True, text=True)
    if r.returncode:
        return None
    st = json.loads(r.stdout)[0]["stats64"]["rx"]
    return st["packets"], st["bytes"]


def netns_up(ns):
    cmds = [["ip", "netns", "add", ns],
            ["ip", "-n", ns, "tuntap", "add", "dev", TAP, "mode", "tap"],
            ["ip", "-n", ns, "addr", "add", "10.0.2.1/24", "dev", TAP],
            ["ip", "-n", ns, "link", "set", TAP, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"]]
    for c in cmds:
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode:
            return "%s: %s" % (" ".join(c), r.stderr.strip())
    return None


def netns_down(ns):
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def summary(vals):
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    return "%.2f" % v


def make_argv(kind, args, image, disk, cache, net, cmdline, ns):
    if kind == "ours":
        argv = [args.vmm, "run", "-k", image, "-m", args.mem, "--virtio-cmdline", "-p", cmdline]
        if disk:
            argv += ["--disk", disk + (",direct" if cache == "direct" else "")]
        if net:
            argv += ["--net", "tap=" + TAP]
    else:
        argv = [args.qemu, "-M", "microvm,acpi=off,ioapic2=off", "-accel", "kvm",
                "-m", args.mem, "-nodefaults", "-no-user-config", "-nographic",
                "-serial", "stdio", "-no-reboot", "-kernel", image,
                "-append", "console=ttyS0 " + cmdline,
                "-global", "virtio-mmio.force-legacy=false"]
        if disk:
            argv += ["-drive", "id=d0,file=%s,format=raw,if=none,cache=%s,aio=io_uring"
                     % (disk, "none" if cache == "direct" else "writeback"),
                     "-device", "virtio-blk-device,drive=d0"]
        if net:
            argv += ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=off" % TAP,
                     "-device", "virtio-net-device,netdev=n0"]
        argv += ["-device", "isa-debug-exit,iobase=0xf4"]
    if net:
        argv = ["ip", "netns", "exec", ns] + argv
    return argv


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(
        description="virtio benchmark: lmigtester vs QEMU microvm, from inside the test guest.")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--vmm", help="lmigtester binary (default BUILD/lmigtester)")
    ap.add_argument("--kernel", help="test guest (default BUILD/testguest/testguest.bzImage)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per VMM (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs per VMM (default 1)")
    ap.add_argument("--cache", choices=["direct", "buffered", "both"], default="direct",
                    help="disk cache mode for both VMMs (default direct: O_DIRECT / cache=none)")
    ap.add_argument("--devs", default="blk,net", help="blk,net (default), blk or net")
    ap.add_argument("--disk-mib", type=int, default=256, help="disk image size (default 256)")
    ap.add_argument("--workdir", help="where the disk image goes (default: a new directory "
                    "under /var/tmp; O_DIRECT needs a file system that supports it)")
    ap.add_argument("--qd", type=int, default=32, help="blk requests in flight (default 32)")
    ap.add_argument("--seq-kib", type=int, default=128, help="sequential request size (128)")
    ap.add_argument("--seq-passes", type=int, default=4,
                    help="times each sequential phase covers the disk (default 4)")
    ap.add_argument("--rand-kib", type=int, default=4, help="random request size (4)")
    ap.add_argument("--rand-ops", type=int, default=32768, help="requests per random phase")
    ap.add_argument("--net-frames", type=int, default=200000, help="frames to transmit")
    ap.add_argument("--net-len", type=int, default=1514, help="frame length (60-1514)")
    ap.add_argument("--tsc-khz", type=int,
                    help="the TSC rate; default: measured from the clock lines' arrival")
    ap.add_argument("--mem", default="256M", help="guest RAM (default 256M)")
    ap.add_argument("--timeout", type=float, default=120, help="per-run timeout, s (120)")
    ap.add_argument("--only", choices=["ours", "qemu"], help="run one VMM only")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1, --warmup >= 0")
    devs = set(args.devs.split(","))
    if not devs or devs - {"blk", "net"}:
        ap.error("--devs: blk, net or blk,net")

    def skip(msg):
        print(json.dumps({"skipped": msg}) if args.json else msg)
        return 0

    if not os.path.exists("/dev/kvm"):
        return skip("bench: /dev/kvm is missing: skipping the virtio benchmark (it needs KVM)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return skip("bench: no read/write access to /dev/kvm: skipping the virtio benchmark")
    image = args.kernel or os.path.join(args.build, "testguest", "testguest.bzImage")
    args.vmm = args.vmm or os.path.join(args.build, "lmigtester")
    for path, what in ((image, "make testguest"), (args.vmm, "make")):
        if not os.path.isfile(path):
            print("bench: %s is missing (build it with '%s')" % (path, what), file=sys.stderr)
            return 1
    kinds = [args.only] if args.only else ["ours", "qemu"]
    if "qemu" in kinds and not shutil.which(args.qemu):
        print("bench: %s not found: lmigtester only" % args.qemu, file=sys.stderr)
        kinds = ["ours"]

    notes = []
    ns = "lmigvb%d" % os.getpid()
    net_ok = False
    workdir = None
    own_workdir = False
    disk = None
    caches = ["direct", "buffered"] if args.cache == "both" else [args.cache]
    try:
        if "net" in devs:
            why = netns_up(ns)
            if why:
                notes.append("net: skipped: cannot set up the network namespace (%s)" % why)
                netns_down(ns)
            else:
                net_ok = True
        if "blk" in devs:
            if args.workdir:
                workdir = args.workdir
            else:
                workdir = tempfile.mkdtemp(prefix="lmigtester-vbench-", dir="/var/tmp")
                own_workdir = True
            disk = os.path.join(workdir, "vbench-disk.img")
            progress(args, "bench: writing the %d MiB disk image %s" % (args.disk_mib, disk))
            with open(disk, "wb") as f:  # written out, not sparse: every block allocated
                block = b"\0" * (1 << 20)
                for _ in range(args.disk_mib):
                    f.write(block)
                os.fsync(f.fileno())
            if "direct" in caches:
                try:
                    os.close(os.open(disk, os.O_RDWR | os.O_DIRECT))
                except OSError as e:
                    print("bench: %s does not support O_DIRECT (%s): use --workdir or "
                          "--cache buffered" % (workdir, e.strerror), file=sys.stderr)
                    return 1
        if disk is None and not net_ok:
            print("bench: nothing to measure", file=sys.stderr)
            return 1

        # One VM per (cache mode) per round; net runs in the first one only.
        configs = []
        for i, cache in enumerate(caches if disk else [None]):
            configs.append((cache, net_ok and i == 0))
        base = ("tg.mode=virtio-bench tg.vb_qd=%d tg.vb_seq_kib=%d tg.vb_seq_mib=%d "
                "tg.vb_seq_passes=%d tg.vb_rand_kib=%d tg.vb_rand_ops=%d tg.vb_net_frames=%d "
                "tg.vb_net_len=%d"
                % (args.qd, args.seq_kib, args.disk_mib, args.seq_passes, args.rand_kib,
                   args.rand_ops,
                   args.net_frames, args.net_len))
        if args.tsc_khz:
            base += " tg.tsc_khz=%d" % args.tsc_khz
        runs = {k: {c: [] for c in configs} for k in kinds}
        failures = {k: [] for k in kinds}
        commands = {}
        load0 = loadavg()
        seed = 0
        total = (args.warmup + args.runs) * len(kinds) * len(configs)
        n = 0
        for rnd in range(args.warmup + args.runs):
            order = kinds if rnd % 2 == 0 else kinds[::-1]
            for cfgi in configs:
                cache, net = cfgi
                for kind in order:
                    n += 1
                    seed += 1
                    vdevs = ",".join(d for d, on in (("blk", cache), ("net", net)) if on)
                    cmdline = "%s tg.vb_devs=%s tg.vb_seed=%d" % (base, vdevs, seed)
                    argv = make_argv(kind, args, image, disk if cache else None, cache, net,
                                     cmdline, ns)
                    commands.setdefault("%s %s" % (kind, cache or "net"), argv)
                    before = tap_stats(ns) if net else None
                    status, lines, stderr, error = run_vm(argv, args.timeout)
                    after = tap_stats(ns) if net else None
                    res = parse_run(lines)
                    res["status"] = status
                    res["warmup"] = rnd < args.warmup
                    if error is None and status not in OK_STATUS[kind]:
                        error = "exit status %s" % status
                    if error is None and res["not_ok"]:
                        error = "guest check failed: " + res["not_ok"][0]
                    if error is None and res["result"] != "pass":
                        error = "no 'tg: result pass' line"
                    if error is None and len(res["clock"]) != 2:
                        error = "no clock lines"
                    if error is None and net:
                        tx = res["metrics"].get(("net", "tx"))
                        if not tx:
                            error = "no net tx figures"
                        elif before is None or after is None:
                            error = "cannot read the TAP's statistics"
                        else:
                            dp, db = after[0] - before[0], after[1] - before[1]
                            res["host_rx"] = (dp, db)
                            if dp < tx["ops"] or db < tx["bytes"]:
                                error = ("the host's TAP received %d frames, %d bytes; the "
                                         "guest sent %d, %d" % (dp, db, tx["ops"], tx["bytes"]))
                    res["error"] = error
                    res["stderr"] = stderr[-2000:]
                    res["tail"] = [l for _, l in lines[-8:]]
                    label = "%s %s run %d%s" % (NAMES[kind], cache or "", rnd + 1,
                                                " (warm-up)" if res["warmup"] else "")
                    progress(args, "bench: [%d/%d] %s: %s" % (
                        n, total, label, error or " ".join(
                            "%s=%.0f" % (p, m["cycles"] / 1e6)
                            for (d, p), m in res["metrics"].items()) + " Mcycles"))
                    if error:
                        failures[kind].append((label, res))
                    elif not res["warmup"]:
                        runs[kind][cfgi].append(res)
        load1 = loadavg()
    finally:
        if net_ok:
            netns_down(ns)
        if own_workdir and workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    # The TSC rate: from the clock lines of every good run (the same host TSC for both VMMs).
    per_run_khz = []
    for k in kinds:
        for c in configs:
            for r in runs[k][c]:
                (ts, s), (te, e) = r["clock"]["start"], r["clock"]["end"]
                if te > ts:
                    per_run_khz.append((e - s) / ((te - ts) / 1e6))
    if args.tsc_khz:
        khz, khz_how = float(args.tsc_khz), "--tsc-khz"
    elif per_run_khz:
        khz, khz_how = statistics.median(per_run_khz), "clock lines, median of %d runs" % len(
            per_run_khz)
    else:
        khz, khz_how = None, "none"

    rows = []
    for cache, net in configs:
        items = []
        if cache:
            items += [("blk", p, u, "blk %s %s [%s]" % (p, u, cache)) for p, u in BLK_ROWS]
        if net:
            items += [("net", p, u, "net %s %s (%d B frames)" % (p, u, args.net_len))
                      for p, u in NET_ROWS]
        for dev, phase, unit, label in items:
            row = {"metric": label, "device": dev, "phase": phase, "unit": unit, "cache": cache}
            for k in kinds:
                vals = []
                for r in runs[k][(cache, net)]:
                    m = r["metrics"].get((dev, phase))
                    if not m or not khz:
                        continue
                    secs = m["cycles"] / (khz * 1000)
                    if unit == "MiB/s":
                        vals.append(m["bytes"] / 2**20 / secs)
                    elif unit == "IOPS":
                        vals.append(m["ops"] / secs)
                    else:
                        vals.append(m["ops"] / secs / 1000)
                row[k] = summary(vals)
            if row.get("ours") and row.get("qemu"):
                row["ratio"] = row["ours"]["median"] / row["qemu"]["median"]
            rows.append(row)

    host_rx = []
    for k in kinds:
        for c in configs:
            for r in runs[k][c]:
                if "host_rx" in r:
                    host_rx.append((k, r["host_rx"], r["metrics"][("net", "tx")]["ops"]))
    measured = any(row.get(k) for row in rows for k in kinds)

    if args.json:
        out = {"tsc_khz": khz, "tsc_khz_source": khz_how, "tsc_khz_per_run": per_run_khz,
               "runs": args.runs, "warmup": args.warmup, "loadavg": [load0, load1],
               "rows": rows, "commands": commands, "notes": notes,
               "host_rx": [{"vmm": k, "packets": p, "bytes": b, "guest_frames": g}
                           for k, (p, b), g in host_rx],
               "failures": {k: [{"run": l, "error": r["error"], "stderr": r["stderr"],
                                 "tail": r["tail"]} for l, r in failures[k]] for k in kinds}}
        print(json.dumps(out, indent=2))
        return 0 if measured else 1

    print("virtio benchmark: %s, %s guest RAM, %d runs per VMM after %d warm-up%s"
          % (image, args.mem, args.runs, args.warmup, "" if args.warmup == 1 else "s"))
    print("  blk: %d MiB image, %d in flight, sequential %d KiB over it %d times, random %d KiB"
          " x %d; net: %d frames of %d B" % (args.disk_mib, args.qd, args.seq_kib,
                                              args.seq_passes, args.rand_kib, args.rand_ops,
                                              args.net_frames, args.net_len))
    for key, argv in commands.items():
        print("  %-16s %s" % (key + ":", shlex.join(argv)))
    print()
    w = max([len(r["metric"]) for r in rows] + [6])
    hdr = "%-*s" % (w, "metric")
    for k in kinds:
        hdr += " | %-28s" % ("%s median (min-max)" % NAMES[k])
    if len(kinds) == 2:
        hdr += " | ours/QEMU"
    print(hdr)
    print("-" * len(hdr))
    slower = []
    for row in rows:
        line = "%-*s" % (w, row["metric"])
        for k in kinds:
            s = row.get(k)
            line += " | %-28s" % ("%s (%s-%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))
                                  if s else "n/a")
        if len(kinds) == 2:
            line += " | %s" % ("%.3f" % row["ratio"] if "ratio" in row else "n/a")
            if "ratio" in row and row["ratio"] < 1:
                slower.append(row["metric"])
        print(line)
    print()
    print("TSC rate: %s kHz (%s)." % ("%.0f" % khz if khz else "?", khz_how))
    if len(per_run_khz) > 1:
        print("  per run: %.0f-%.0f kHz" % (min(per_run_khz), max(per_run_khz)))
    if host_rx:
        print("net: the host's TAP received what the guest sent (rx_packets, rx_bytes deltas) "
              "in every counted run: %s" % ", ".join(
                  "%s %d runs" % (NAMES[k], sum(1 for h in host_rx if h[0] == k)) for k in kinds))
    print("load average at start %s, at end %s" % (load0, load1))
    if len(kinds) == 2 and any("ratio" in r for r in rows):
        print("VERDICT %s" % ("OK: lmigtester's medians are at least QEMU's on every row"
                              if not slower else
                              "NOT OK: lmigtester's median below QEMU's on: " + ", ".join(slower)))
    for note in notes:
        print(note)
    for k in kinds:
        for label, r in failures[k]:
            print()
            print("%s: %s" % (label, r["error"]))
            if r["stderr"].strip():
                print("  stderr: " + r["stderr"].strip().replace("\n", "\n          ")[-1000:])
            print("  last lines: " + "\n              ".join(r["tail"]))
    return 0 if measured else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
