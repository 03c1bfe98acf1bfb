"""How long the wizard takes to show its first frame.

Starts ``portdoctor 127.0.0.1:PORT`` (the installed console script, so the whole path a user
pays: interpreter, imports, argument parsing, Textual, the first paint) in a pseudo-terminal
with ``PORTDOCTOR_STARTUP_PROBE=FILE``. The app writes the monotonic clock of its first
frame to FILE and exits; the figure is that moment minus the moment just before the
process was spawned. Prints the median and the range over a few runs.

    .venv/bin/python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portdoctor.testing import free_ports

PORTDOCTOR = Path(sys.executable).with_name("portdoctor")


def first_frame_seconds(port: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "first-frame"
        primary, secondary = pty.openpty()
        env = dict(os.environ, PORTDOCTOR_STARTUP_PROBE=str(probe), TERM="xterm-256color",
                   XDG_DATA_HOME=tmp, CI="", COLUMNS="100", LINES="30")
        start = time.monotonic()
        proc = subprocess.Popen([str(PORTDOCTOR), f"127.0.0.1:{port}"], stdin=secondary, stdout=secondary,
                                stderr=secondary, env=env, close_fds=True)
        os.close(secondary)
        try:
            deadline = start + 20
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    os.read(primary, 65536)  # keep the terminal drained
                except OSError:
                    break
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(primary)
        if not probe.exists():
            raise RuntimeError("the wizard did not reach its first frame")
        return float(probe.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    port = free_ports(1)[0]
    first_frame_seconds(port)  # warm the file cache
    times = [first_frame_seconds(port) for _ in range(args.runs)]
    print(f"first frame: median {statistics.median(times) * 1000:.0f} ms "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {args.runs} runs)")


if __name__ == "__main__":
    main()
