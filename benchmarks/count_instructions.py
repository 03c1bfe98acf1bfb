"""How many instructions does a refused-port ``--report`` execute? A steady figure on a busy machine.

Run:  .venv/bin/python benchmarks/count_instructions.py [--portdoctor PATH] [--port P]

Wall-clock and even CPU times swing with the load of a shared machine; the number of
instructions a process executes does not. This runs, under ``valgrind --tool=callgrind``
(instruction counts only, about 50 times slower), ``python -c pass`` and
``portdoctor --report 127.0.0.1:P`` on a free port P, and prints both counts (the
process and its threads; not child processes such as ``nft``). Use it to compare two
versions of the code, not as a time: ``benchmarks/bench_sockets.py`` gives the times.
Run it with the same interpreter the figures are for, with byte-code caches written
(unset PYTHONDONTWRITEBYTECODE and run once first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions executed by ``argv`` (callgrind's total), all threads, no children."""
    with tempfile.TemporaryDirectory(prefix="portdoctor-ir-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # caches warm
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=600)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portdoctor", default=str(Path(sys.executable).with_name("portdoctor")),
                    help="the portdoctor script (default: next to this interpreter)")
    ap.add_argument("--port", type=int, help="a port nothing listens on (default: a free one)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (apt-get install valgrind)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(CI="true", NO_COLOR="1")
    python = str(Path(args.portdoctor).with_name("python"))
    port = args.port or free_port()
    bare = instructions([python, "-c", "pass"], env)
    report = instructions([python, args.portdoctor, "--report", f"127.0.0.1:{port}"], env)
    print(f"python -c pass: {bare / 1e6:.0f} M instructions")
    print(f"portdoctor --report 127.0.0.1:{port} (refused): {report / 1e6:.0f} M instructions "
          f"({(report - bare) / 1e6:.0f} M beyond the interpreter)")


if __name__ == "__main__":
    main()
