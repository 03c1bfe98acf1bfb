"""How fast is `portdoctor --report` on a machine with many sockets, next to ss and lsof?

Run as root:  .venv/bin/python benchmarks/bench_sockets.py [--sizes 100,10000,50000] [--runs 9]

By default it first installs the checkout the way a user does (``pip install .`` into a
fresh temporary virtual environment: no editable-install import hooks), then for each
size N it builds a fresh network namespace (``unshare --net``) holding about
N TCP sockets: one listener on the target port (5432), "sink" listeners on other
ports, and established loopback connections to the sink (both ends, so two sockets per
connection), spread over several holder processes because the open-file limit is
20 000 per process. Then it times, whole-process, ``--runs`` runs of:

- ``python -c pass`` with the same interpreter (what any Python tool pays to start)
- ``python -c 'import re, socket, threading, json'`` (the standard modules a report
  cannot do without: the floor of a Python implementation)
- ``portdoctor --report 127.0.0.1:5433`` (nothing listens: refused)
- ``portdoctor --report 127.0.0.1:5432`` (the listener)
- ``ss -Htlnp 'sport = :5432'``
- ``lsof -nP -iTCP:5432``

and, with ``--baseline REF``, the same two portdoctor runs of an earlier commit of this
repository (installed the same way: ``--baseline 86b1f4f`` is the first release, which
issue 10's figures were measured on), to compare versions on the same machine and day.
The commands take turns, one run each per round, so a busy spell falls on all alike.
It prints a Markdown table (for the README's speed section): the median wall-clock
time with the min-max range, the median CPU time (user + system, from ``wait4``: less
sensitive to a busy machine than the wall clock), and portdoctor's median over ss's.
This is a script, never a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASELINE = "baseline"  # the label of --baseline REF's rows
TARGET_PORT = 5432
REFUSED_PORT = 5433
SINK_PORT = 9000
PAIRS_PER_HOLDER = 9000  # 18 000 fds: under the 20 000 open-file limit
ROOT = Path(__file__).resolve().parents[1]

HOLDER = r"""
import socket, sys, time
pairs, sink_port = int(sys.argv[1]), int(sys.argv[2])
keep = []
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", sink_port)); server.listen(4096)
for i in range(pairs):
    c = socket.create_connection(("127.0.0.1", sink_port))
    a, _ = server.accept()
    keep += [c, a]
print("ready", flush=True)
time.sleep(3600)
"""

TARGET = rf"""
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {TARGET_PORT})); s.listen(128)
print("ready", flush=True)
time.sleep(3600)
"""


def count_tcp_sockets() -> int:
    total = 0
    for name in ("tcp", "tcp6"):
        with open(f"/proc/net/{name}") as f:
            total += sum(1 for _ in f) - 1
    return total


def time_once(argv: list[str], env: dict) -> tuple[float, float, int]:
    """One whole-process run: wall time and CPU time (user + system, children included) in ms, exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    # A blocking wait4, bounded by a watchdog: Popen.wait(timeout=...) polls waitpid with
    # sleeps of up to 50 ms, which would round every figure up by as much.
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    watchdog.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, code


def time_commands(commands: dict[str, list[str]], runs: int, env: dict) -> dict[str, dict | None]:
    """``runs`` rounds, each running every command once in turn (so a slow spell of a busy
    machine falls on all of them alike): per command, the median wall and CPU time, in ms."""
    present = {label: argv for label, argv in commands.items() if shutil.which(argv[0]) is not None}
    for argv in present.values():
        time_once(argv, env)  # warm the page cache
    walls: dict[str, list[float]] = {label: [] for label in present}
    cpus: dict[str, list[float]] = {label: [] for label in present}
    codes: dict[str, int] = {}
    for _ in range(runs):
        for label, argv in present.items():
            wall, cpu, codes[label] = time_once(argv, env)
            walls[label].append(wall)
            cpus[label].append(cpu)
    return {label: None if label not in present else
            {"median": statistics.median(walls[label]), "min": min(walls[label]), "max": max(walls[label]),
             "cpu": statistics.median(cpus[label]), "code": codes[label]}
            for label in commands}


def inside(size: int, runs: int, portdoctor: str, baseline: str | None = None) -> dict:
    """Runs in the fresh namespace: build the sockets, time the commands."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("10000 65000")  # per namespace; 25 000 client ports
    procs = []
    try:
        target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)
        procs.append(target)
        assert target.stdout.readline().strip() == "ready"
        pairs = max(0, (size - 2) // 2)
        holder = 0
        while pairs > 0:
            n = min(pairs, PAIRS_PER_HOLDER)
            # One sink port per holder: each accepts only its own connections.
            p = subprocess.Popen([sys.executable, "-c", HOLDER, str(n), str(SINK_PORT + holder)],
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "ready", "holder failed"
            pairs -= n
            holder += 1
        sockets = count_tcp_sockets()
        env = dict(os.environ, CI="true", NO_COLOR="1")
        python = str(Path(portdoctor).with_name("python"))
        commands = {
            "python -c pass (the interpreter alone)": [python if os.path.exists(python) else sys.executable,
                                                      "-c", "pass"],
            # What any Python implementation of a report needs before its own code: the console
            # script's re, plus socket (netlink, probes), threading (deadlines), json (nft -j).
            "python -c 'import re, socket, threading, json'": [
                python if os.path.exists(python) else sys.executable, "-c", "import re, socket, threading, json"],
            "portdoctor --report (refused port)": [portdoctor, "--report", f"127.0.0.1:{REFUSED_PORT}"],
            "portdoctor --report (listening port)": [portdoctor, "--report", f"127.0.0.1:{TARGET_PORT}"],
            f"ss -Htlnp 'sport = :{TARGET_PORT}'": ["ss", "-Htlnp", f"sport = :{TARGET_PORT}"],
            f"lsof -nP -iTCP:{TARGET_PORT}": ["lsof", "-nP", f"-iTCP:{TARGET_PORT}"],
        }
        if baseline:
            commands[f"{BASELINE} --report (refused port)"] = [baseline, "--report", f"127.0.0.1:{REFUSED_PORT}"]
            commands[f"{BASELINE} --report (listening port)"] = [baseline, "--report", f"127.0.0.1:{TARGET_PORT}"]
        rows = time_commands(commands, runs, env)
        return {"size": size, "sockets": sockets, "rows": rows}
    finally:
        for p in procs:
            p.kill()
            p.wait()


def fresh_install(folder: Path, source: Path = ROOT) -> str:
    """``pip install`` of a source tree (this checkout) into a new virtual environment; its portdoctor script."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin" / "pip"), "install", "-q", str(source)], check=True)
    return str(folder / "bin" / "portdoctor")


def install_ref(ref: str, folder: Path) -> str:
    """The commit ``ref`` of this repository (``git archive``), installed as :func:`fresh_install` does."""
    source = folder / "source"
    source.mkdir(parents=True)
    tree = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=tree.stdout, check=True)
    return fresh_install(folder / "venv", source)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,10000,50000")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--portdoctor", help="the portdoctor script to time (default: a fresh 'pip install .')")
    ap.add_argument("--baseline", metavar="REF",
                    help="also time this commit of the repository (e.g. 86b1f4f, the first release), "
                         "installed the same way, in the same rounds")
    ap.add_argument("--inside", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-script", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside is not None:
        print(json.dumps(inside(args.inside, args.runs, args.portdoctor, args.baseline_script)))
        return
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark builds network namespaces (unshare --net)")
    with tempfile.TemporaryDirectory(prefix="portdoctor-bench-") as tmp:
        portdoctor = args.portdoctor or fresh_install(Path(tmp) / "venv")
        baseline = install_ref(args.baseline, Path(tmp) / "baseline") if args.baseline else None
        results = []
        for size in (int(s) for s in args.sizes.split(",")):
            proc = subprocess.run(["unshare", "--net", "--", sys.executable, __file__, "--inside", str(size),
                                   "--runs", str(args.runs), "--portdoctor", portdoctor,
                                   *(["--baseline-script", baseline] if baseline else [])],
                                  capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                sys.exit(f"size {size} failed: {proc.stderr[-2000:]}")
            results.append(json.loads(proc.stdout))
            print(f"size {size}: done", file=sys.stderr)
    print_table(results, args.runs, args.baseline)


def print_table(results: list[dict], runs: int, baseline: str | None = None) -> None:
    labels = list(results[0]["rows"])
    print(f"Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; open-file limit "
          f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; load average {os.getloadavg()[0]:.1f}. "
          f"Whole process, {runs} runs: median wall-clock ms (min-max), then median CPU ms (user + system).\n")
    print("| command | " + " | ".join(f"{r['sockets']:,} TCP sockets" for r in results) + " |")
    print("|" + " --- |" * (len(results) + 1))
    for label in labels:
        cells = []
        for r in results:
            cell = r["rows"][label]
            cells.append("n/a" if cell is None else
                         f"{cell['median']:.0f} ({cell['min']:.0f}-{cell['max']:.0f}), CPU {cell['cpu']:.0f}")
        print(f"| `{label}` | " + " | ".join(cells) + " |")
    ss = next((label for label in labels if label.startswith("ss ")), None)
    if ss:
        for label in labels:
            if label.startswith("portdoctor"):
                ratios = []
                for r in results:
                    mine, theirs = r["rows"][label], r["rows"][ss]
                    ratios.append("n/a" if not mine or not theirs else
                                  f"{mine['median'] / theirs['median']:.2f}x wall, {mine['cpu'] / max(theirs['cpu'], 0.01):.2f}x CPU")
                print(f"| `{label}` / `{ss}` | " + " | ".join(ratios) + " |")
    if baseline:
        for kind in ("refused port", "listening port"):
            label, base = f"portdoctor --report ({kind})", f"{BASELINE} --report ({kind})"
            ratios = [f"{r['rows'][label]['median'] / r['rows'][base]['median']:.2f}x wall, "
                      f"{r['rows'][label]['cpu'] / r['rows'][base]['cpu']:.2f}x CPU" for r in results]
            print(f"| `{label}` / {baseline} | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
