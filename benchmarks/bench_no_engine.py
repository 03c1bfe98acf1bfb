"""What containers cost on a machine without a container engine: the --report path stays flat.

Times whole ``python -m portdoctor --report --format json 127.0.0.1:PORT`` processes for a
refused port and a listening one, median of N runs each, with this install's Python and,
optionally, another install's (``--baseline PYTHON``, e.g. a venv of the release before
the container check), interleaved so that machine load hits both alike. Then, in this
process, what the container check adds when no engine socket exists: importing it (and
the engine client), and its ``applies()`` test (a few ``stat`` calls).

    .venv/bin/python benchmarks/bench_no_engine.py [--runs 15] [--baseline OTHER/bin/python]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time


def report_ms(python: str, port: int) -> float:
    env = dict(os.environ, CI="true", NO_COLOR="1")
    start = time.perf_counter()
    subprocess.run([python, "-m", "portdoctor", "--report", "--format", "json", f"127.0.0.1:{port}"],
                   capture_output=True, env=env, cwd="/", check=False)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", help="another install's python to compare with")
    args = parser.parse_args()

    from portdoctor.facts.engine import engine_sockets

    found = engine_sockets(os.environ)
    if found:
        print(f"note: engine sockets exist here ({', '.join(found)}): this is not the no-engine case")

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    open_port = listener.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused_port = s.getsockname()[1]

    pythons = {"this install": sys.executable}
    if args.baseline:
        pythons["baseline"] = args.baseline
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for case, port in (("refused", refused_port), ("listening", open_port)):
            for label, python in pythons.items():
                times.setdefault((label, case), []).append(report_ms(python, port))
    print(f"portdoctor --report, median of {args.runs} (min-max), no engine socket:")
    for (label, case), xs in sorted(times.items()):
        print(f"  {label:13} {case:9} {statistics.median(xs):6.1f} ms  ({min(xs):.0f}-{max(xs):.0f})")

    code = ("import time; t = time.perf_counter(); import portdoctor.checks.container; "
            "print((time.perf_counter() - t) * 1000)")
    # What the report path imports anyway (json and shlex included): only the check and the
    # engine client are new.
    pre = "import json, shlex, urllib.parse, portdoctor.api, portdoctor.facts, portdoctor.sanitize, portdoctor.probe; "
    imports = sorted(float(subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True,
                                          cwd="/").stdout) for _ in range(args.runs))
    start = time.perf_counter()
    for _ in range(1000):
        engine_sockets(os.environ)
    applies_us = (time.perf_counter() - start) * 1000
    print(f"container check: import {statistics.median(imports):.1f} ms (median, after the API), "
          f"applies() socket test {applies_us:.1f} µs per call")


if __name__ == "__main__":
    main()
