"""How long does reading a log for failing endpoints take, up to the --from-log bound?

Run:  .venv/bin/python benchmarks/bench_message_scan.py [--runs 5]

Builds logs of 64 KiB, 1 MiB and 4 MiB (the bound, ``portdoctor.message.MAX_TEXT_BYTES``)
from realistic lines (timestamps, stack frames, colour codes) with one failing
endpoint every 200 lines, plus a hostile 4 MiB log (one long line of near-matches, the
kind that makes a backtracking pattern slow), and prints the median time of
``find_endpoints`` for each, in milliseconds, as a Markdown table. A script, never a
timed test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portdoctor.message import MAX_TEXT_BYTES, find_endpoints

LINES = [
    "2026-11-29T10:00:00.123Z INFO  request handled in 12 ms path=/api/items status=200",
    "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
    "\x1b[33mwarn\x1b[0m retrying in 500 ms (attempt 3 of 10)",
    '  File "/app/service/db.py", line 42, in connect',
]
FAILURES = [
    "Error: connect ECONNREFUSED 127.0.0.1:{port}",
    'psycopg.OperationalError: connection to server at "localhost" (::1), port {port} failed: Connection refused',
    "dial tcp 10.0.0.{n}:{port}: i/o timeout",
]


def realistic(size: int) -> str:
    out, n, total = [], 0, 0
    while total < size:
        line = (FAILURES[n % 3].format(port=1000 + n % 50, n=n % 200) if n % 200 == 0 else LINES[n % 4])
        out.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(out)[:size]


def hostile(size: int) -> str:
    return ("connect ECONNREFUSED " + "1" * 60 + " dial tcp " + "a" * 300 + ":" + " refused http://") * (size // 400)


def measure(text: str, runs: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        scan = find_endpoints(text)
        times.append((time.perf_counter() - start) * 1000)
        found = len(scan.endpoints)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| log | size | endpoints | median ms |")
    print("| --- | ---: | ---: | ---: |")
    for label, text in [("realistic", realistic(64 * 1024)), ("realistic", realistic(1024 * 1024)),
                        ("realistic", realistic(MAX_TEXT_BYTES)), ("hostile", hostile(MAX_TEXT_BYTES))]:
        ms, found = measure(text, args.runs)
        print(f"| {label} | {len(text) // 1024} KiB | {found} | {ms:.0f} |")


if __name__ == "__main__":
    main()
