"""The SSH lab: real OpenSSH servers in private namespaces, and a client namespace to run from.

``SshLab().run(servers, runs)`` builds a private client namespace and one namespace per
server (``Server``: its listeners, rules, whether sshd runs, answers or drops, whether
python3 exists, whether its host key is known), joined by veth pairs with link-local
addresses that exist only inside the lab. Each server's /tmp, /root, /home and this
checkout are empty tmpfs, so only the OS python3 is there: nothing of portdoctor is
installed remotely. Each of ``runs`` is a portdoctor argument list (``{s0}`` is server
s0's address, ``{config}`` the client's ssh_config) or, starting with "ssh", a raw ssh
command to prove the setup. Nothing touches the host's network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent


@dataclass
class Server:
    name: str
    listeners: list[Any] = field(default_factory=list)  # labkit.Listener; address "SERVER" = its own
    setup: list[str] = field(default_factory=list)  # shell lines in its namespace ("SERVER" = its address)
    ssh: str = "up"  # "up" | "off" (nothing on port 22: refused) | "drop" (port 22 dropped: timeout)
    python: bool = True
    known: bool = True  # its host key is in the client's known_hosts


@dataclass
class SshRun:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def json(self) -> Any:
        from labkit import validate_report

        document = json.loads(self.stdout)
        validate_report(document)
        return document


def unavailable_reason() -> str | None:
    from labkit import unavailable_reason as lab_reason

    reason = lab_reason()
    if reason:
        return reason
    for tool in ("/usr/sbin/sshd", shutil.which("ssh"), shutil.which("ssh-keygen")):
        if not tool or not os.path.exists(tool):
            return "the SSH lab needs openssh-server and openssh-client (apt-get install openssh-server openssh-client)"
    return None


class SshLab:
    def __init__(self, python: str = sys.executable):
        self.python = python

    def run(self, servers: list[Server], runs: list[list[str]], timeout: float = 90.0) -> tuple[dict, list[SshRun]]:
        spec = {
            "python": self.python,
            "servers": [dict(s.__dict__, listeners=[l.to_dict() for l in s.listeners]) for s in servers],
            "runs": runs,
            "hide": [str(CHECKOUT)],
            "timeout": timeout,
        }
        proc = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--",
             self.python, str(HERE / "ssh_runner.py")],
            input=json.dumps(spec), capture_output=True, text=True, timeout=timeout * len(runs) + 60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"SSH lab failed ({proc.returncode}): {proc.stdout[-1000:]} {proc.stderr[-2000:]}")
        out = json.loads(proc.stdout)
        return out, [SshRun(**r) for r in out["results"]]
