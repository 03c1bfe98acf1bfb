"""What running third-party checks in child processes costs.

Whole processes: ``python -m portdoctor --report --format json 127.0.0.1:PORT`` (a refused
port) with no plugin, with one trivial drop-in check run isolated (the default on Linux
and macOS: one child to import it, one child per target to run it), with the same check
run in portdoctor's process (``PORTDOCTOR_PLUGINS_IN_PROCESS=1``, what Windows does), and
with five trivial checks isolated. Runs are interleaved so machine load hits every case
alike; each figure is the median wall-clock time (min-max) and the median CPU time (user
+ system, children included, from a blocking ``wait4``).

Then, in this process, one check on one target: the isolated path (fork, import the
plugin again, ``applies()``, ``run()``, JSON back, kill the group, reap) against the
in-process path (a thread with a deadline), median of ``--calls``.

    .venv/bin/python benchmarks/bench_plugins.py [--runs 15] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TRIVIAL = '''from portdoctor.api import Check


class Trivial{n}(Check):
    name = "trivial-{n}"
    title = "Is this a trivial check?"
    order = 900

    def run(self, ctx):
        return self.passed("yes", evidence={{"port": ctx.target.port}})
'''


def time_process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system, waited-for children included) milliseconds of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    watchdog = threading.Timer(120, proc.kill)  # wait4 blocks: no polling rounds the figure up
    watchdog.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ms ({min(values):.0f}-{max(values):.0f})"


def whole_processes(folder: Path, runs: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dirs = {name: folder / name for name in ("none", "one", "five")}
    for path in dirs.values():
        path.mkdir(mode=0o700)
    (dirs["one"] / "trivial.py").write_text(TRIVIAL.format(n=1))
    for n in range(5):
        (dirs["five"] / f"trivial{n}.py").write_text(TRIVIAL.format(n=n))
    base = dict(os.environ, CI="true", NO_COLOR="1", XDG_CONFIG_HOME=str(folder / "config"))
    base.pop("PORTDOCTOR_PLUGINS_IN_PROCESS", None)
    cases = {
        "no plugin": (dirs["none"], base),
        "1 plugin, isolated (default)": (dirs["one"], base),
        "1 plugin, in process": (dirs["one"], dict(base, PORTDOCTOR_PLUGINS_IN_PROCESS="1")),
        "5 plugins, isolated": (dirs["five"], base),
    }
    wall: dict[str, list[float]] = {case: [] for case in cases}
    cpu: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(runs):
        for case, (checks, env) in cases.items():
            argv = [sys.executable, "-m", "portdoctor", "--report", "--format", "json", "--checks-dir", str(checks),
                    f"127.0.0.1:{port}"]
            w, c = time_process(argv, env)
            wall[case].append(w)
            cpu[case].append(c)
    print(f"portdoctor --report (refused port), {runs} runs each, interleaved:")
    width = max(map(len, cases))
    for case in cases:
        print(f"  {case:<{width}}  {summary(wall[case])}   CPU {statistics.median(cpu[case]):6.1f} ms")


def one_check(folder: Path, calls: int) -> None:
    from portdoctor.isolation import run_isolated
    from portdoctor.pipeline import run_check
    from portdoctor.plugins import LoadedCheck, _checks_in_file, discover
    from portdoctor.testing import context

    checks_dir = folder / "micro"
    checks_dir.mkdir(mode=0o700)
    path = checks_dir / "trivial.py"
    path.write_text(TRIVIAL.format(n=1))
    os.environ.pop("PORTDOCTOR_PLUGINS_IN_PROCESS", None)
    loaded, _errors = discover([checks_dir], include_user_dir=False)
    isolated = next(c for c in loaded if c.isolated)
    in_process = LoadedCheck(_checks_in_file(path, path.read_bytes())[0], "file", str(path))
    ctx = context("127.0.0.1:8080")

    def timed(fn) -> list[float]:
        out = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
        return out

    isolated_ms = timed(lambda: run_isolated(isolated.check, ctx, run_it=True, on_started=lambda: None))
    in_process_ms = timed(lambda: run_check(in_process, ctx))
    outcome = run_isolated(isolated.check, ctx, run_it=True, on_started=lambda: None)
    assert outcome.error is None and outcome.findings, outcome.error
    print(f"one check, one target, in this process ({calls} calls):")
    print(f"  isolated (fork, import, applies, run, JSON, reap)  {summary(isolated_ms)}")
    print(f"  in process (a thread with a deadline)              {summary(in_process_ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if not hasattr(os, "fork"):
        sys.exit("this platform runs plugins in process: nothing to compare")
    with tempfile.TemporaryDirectory(prefix="portdoctor-bench-plugins-") as tmp:
        folder = Path(tmp)
        one_check(folder, args.calls)
        whole_processes(folder, args.runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"({os.cpu_count()} CPUs, load average {load:.1f}, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
