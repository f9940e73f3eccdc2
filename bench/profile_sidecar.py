#!/usr/bin/env python3
"""Where a sidecar request's time goes under wrk load: one target of ``bench/run.py``, profiled.

Starts the upstream and one sidecar exactly as ``bench/run.py`` does (same pinning, same mesh), warms
it up, then runs wrk for ``--duration`` seconds while one profiler watches the sidecar process:

* ``--perf-stat``   ``perf stat``: context switches, page faults, task clock (is the proxy waiting?)
* ``--perf-record`` ``perf record -g``; prints the top shared objects and kernel symbols with callers
* ``--py-spy``      ``py-spy record`` (if installed: ``pip install py-spy``); prints the Python
                    functions by own and inclusive samples

It always prints requests/s and the proxy's CPU µs per request (user and system). Profiles are
written under ``--out`` (default a temporary directory, printed). These tools are optional and
not installed by ``make``: this is a diagnosis aid, ``make bench`` is the measurement.

``python bench/profile_sidecar.py [--case none|header-mod|4-phases] [--duration 6] [--perf-stat]
[--perf-record] [--py-spy]``
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # bench/run.py: the same upstream, mesh and sidecar as the wrk benchmark

CASES = bench.PLUGIN_SETS


def profiler(args: argparse.Namespace, pid: int, out: Path) -> list[str] | None:
    if args.perf_stat:
        events = "context-switches,cpu-migrations,page-faults,task-clock"
        return ["perf", "stat", "-e", events, "-o", str(out / "perf-stat.txt"), "-p", str(pid)]
    if args.perf_record:
        return ["perf", "record", "-g", "-F", "2000", "-o", str(out / "perf.data"), "-p", str(pid)]
    if args.py_spy:
        spy = shutil.which("py-spy") or sys.exit("py-spy not found: pip install py-spy")
        return [
            spy,
            "record",
            "-p",
            str(pid),
            "-r",
            "997",
            "-d",
            str(args.duration),
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(out / "py-spy.txt"),
        ]
    return None


def py_spy_table(path: Path, top: int = 30) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    rows = [f"{total} samples", "-- own"]
    rows += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    rows += ["-- inclusive"]
    rows += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(rows)


def perf_report(data: Path) -> str:
    def report(*extra: str) -> str:
        argv = ["perf", "report", "-i", str(data), "--stdio", "--no-children", *extra]
        text = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        return "\n".join(line for line in text.splitlines() if line and not line.startswith("#"))

    return (
        report("--sort", "dso", "-g", "none")
        + "\n\n"
        + "\n".join(report("--sort", "sym", "-G").splitlines()[:80])
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=list(CASES), default="header-mod")
    ap.add_argument("--duration", type=int, default=6, help="seconds of wrk load (default 6)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None, help="where profiles go (default: a temp dir)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--perf-stat", action="store_true")
    group.add_argument("--perf-record", action="store_true")
    group.add_argument("--py-spy", action="store_true")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="wasmplugin-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    procs: list[bench.Proc] = []
    with tempfile.TemporaryDirectory(prefix="wasmplugin-profile-run-") as tmp:
        d = Path(tmp)
        try:
            up_port = bench.free_port()
            up = bench.Proc(
                bench.pinned(
                    bench.LOAD_CORE, [bench.nginx_bin(), "-c", str(bench.nginx_upstream_conf(d, up_port))]
                )
            )
            procs.append(up)
            bench.wait_port(up_port)
            sidecar, port = bench.start_sidecar(bench.sidecar_dir(d, up_port, CASES[args.case]), d)
            procs.append(sidecar)
            bench.wrk(port, 1, args.connections)  # warm-up
            argv = profiler(args, sidecar.p.pid, out)
            prof = (
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if argv else None
            )
            if prof is not None:
                time.sleep(0.3)  # the profiler attaches; its first samples are not the measurement's
            sample = bench.measure_once(port, sidecar.p.pid, args.duration, args.connections)
            if prof is not None:
                if not args.py_spy:
                    prof.send_signal(signal.SIGINT)
                prof.wait(60)
        finally:
            for p in procs:
                p.stop()
    cpu = (
        f"{sample.cpu_us:.0f} µs CPU/request (user {sample.user_us:.0f})"
        if sample.cpu_us and sample.user_us
        else ""
    )
    print(f"{args.case}: {sample.rps:,.0f} requests/s, {cpu}, {sample.errors} errors")
    if args.perf_stat:
        print((out / "perf-stat.txt").read_text())
    elif args.perf_record:
        print(perf_report(out / "perf.data"))
    elif args.py_spy:
        print(py_spy_table(out / "py-spy.txt"))
    print(f"profiles in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
