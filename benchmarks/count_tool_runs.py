"""How many times does one run start nft / iptables-save, for N targets?

Run:  .venv/bin/python benchmarks/count_tool_runs.py [--targets 5] [--source DIR]

Puts logging wrappers named ``nft``, ``iptables-save`` and ``ip6tables-save`` first on
PATH (in a private temp folder; each logs its arguments and runs the real tool found
later on PATH), runs ``portdoctor --report`` on N refused 127.0.0.1 ports, and prints
how often each tool ran, as a Markdown table. ``--source`` runs another checkout (e.g. an
older release unpacked with ``git archive``) to compare. Read-only for the rules: the
wrappers only list them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from portdoctor.testing import free_ports

TOOLS = ("nft", "iptables-save", "ip6tables-save")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--source", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portdoctor-count-") as tmp:
        folder, log = Path(tmp), Path(tmp) / "calls.log"
        log.touch()
        for tool in TOOLS:
            real = shutil.which(tool)
            script = folder / tool
            run = f'exec {real} "$@"' if real else f"echo '{tool}: not found' >&2; exit 127"
            script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n{run}\n')
            script.chmod(0o755)
        env = dict(os.environ, PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
                   PYTHONPATH=args.source, NO_COLOR="1")
        targets = [f"127.0.0.1:{p}" for p in free_ports(args.targets)]
        subprocess.run([sys.executable, "-m", "portdoctor", "--report", "--format", "json", *targets],
                       capture_output=True, text=True, env=env, timeout=120, cwd=args.source)
        calls = log.read_text().splitlines()
    rows = {
        "nft (all)": sum(c.startswith("nft ") for c in calls),
        "nft -j list ruleset": sum(c.startswith("nft -j") for c in calls),
        "nft -a list ruleset": sum(c.startswith("nft -a") for c in calls),
        "iptables-save": sum(c.startswith("iptables-save") for c in calls),
        "ip6tables-save": sum(c.startswith("ip6tables-save") for c in calls),
    }
    print(f"| tool ({args.targets} targets, one run) | runs |\n| --- | --- |")
    for name, count in rows.items():
        print(f"| {name} | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
