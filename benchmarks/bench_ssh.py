"""--ssh timings in the real OpenSSH lab (needs root, unshare, openssh-server/client).

Three servers: s0 (nothing listening), s1 (bound to 127.0.0.1), s2 (a DROP rule on the
port: its own probe waits the whole --timeout). Each is diagnosed alone, then all three
at once (a host list). Also: a dead SSH path (port 22 dropped) next to the plain local
diagnosis, to show the remote part costs at most its connect timeout.
Run: sudo .venv/bin/python benchmarks/bench_ssh.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from labkit import Listener
from labkit.sshlab import Server, SshLab, unavailable_reason

PORT = 5432
REPEAT = 3
DROP = ["nft add table inet lab", "nft add chain inet lab input '{ type filter hook input priority 0; }'",
        f"nft add rule inet lab input tcp dport {PORT} drop"]


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    base = ["--report", "--format", "json", "--timeout", "2", "--ssh-config", "{config}", "--ssh-timeout", "3"]
    one = [base + ["--ssh", f"root@{{s{i}}}", f":{PORT}"] for i in range(3)]
    three = base + ["--ssh", "root@{s0}", "--ssh", "root@{s1}", "--ssh", "root@{s2}", f":{PORT}"]
    local_only = ["--report", "--format", "json", "--timeout", "2", "{d0}:" + str(PORT)]
    dead = base + ["--ssh", "root@{d0}", "{d0}:" + str(PORT)]
    runs = (one + [three] + [local_only, dead]) * REPEAT
    servers = [Server("s0"), Server("s1", listeners=[Listener("127.0.0.1", PORT, name="postgres")]),
               Server("s2", listeners=[Listener("SERVER", PORT, name="postgres")], setup=DROP),
               Server("d0", ssh="drop", listeners=[Listener("SERVER", PORT, name="postgres")], setup=DROP)]
    out, results = SshLab().run(servers, runs)
    width = len(runs) // REPEAT
    names = ["s0 alone (not-listening)", "s1 alone (wrong-interface)", "s2 alone (DROP: waits --timeout 2)",
             "s0+s1+s2 at once (matrix)", "d0 from here only (DROP, no --ssh)", "d0 with --ssh (port 22 dropped)"]
    print(f"lab built in {out['build']:.1f} s; median of {REPEAT} runs each, wall time of the whole command:")
    for index, name in enumerate(names):
        times = [results[index + width * k].elapsed for k in range(REPEAT)]
        codes = {results[index + width * k].returncode for k in range(REPEAT)}
        print(f"  {name:<38} {statistics.median(times):6.2f} s   (exit {sorted(codes)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
