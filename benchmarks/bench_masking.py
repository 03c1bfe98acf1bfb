"""How long masking takes on a hostile 198 KB command line (issue 9 item 5: it took 125 s).

Masks the same argv the old backtracking patterns choked on, element by element and as
one string, and prints the median over a few runs.

    .venv/bin/python benchmarks/bench_masking.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

from portdoctor.masking import mask_argv, mask_command_line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cases = {
        "one 198 KB word": ["java", "-D" + "a" * 198_000],
        "198 KB of a. (old: ~125 s)": ["app", "a." * 99_000],
        "198 KB of short words": ["app"] + ["--token-x"] * 20_000,
        "198 KB of '=' words": ["app"] + ["passwordpassword="] * 11_000,
        "198 KB url-ish word": ["curl", "http://" + "u:" * 99_000 + "@h"],
    }
    for label, argv in cases.items():
        line = " ".join(argv)
        for name, fn in (("argv", partial(mask_argv, argv)), ("line", partial(mask_command_line, line))):
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1000)
            print(f"{label:<24} {name}: median {statistics.median(times):7.1f} ms "
                  f"(min {min(times):.1f}, max {max(times):.1f}) for {len(line) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
