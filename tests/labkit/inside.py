"""What runs inside a lab namespace: setup commands and real listeners, shared by the
report lab (labkit/runner.py) and the wizard's lab driver (tests/tui_lab_driver.py).

Imported by scripts started under :data:`labkit.ISOLATED`; nothing here may touch the
host's network, and every wait is bounded.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

LISTENER = Path(__file__).resolve().parent / "listener.py"


def sh(line: str, log: list[str] | None = None) -> None:
    """Run one setup command (bounded); raise with its stderr when it fails."""
    proc = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=20)
    if log is not None:
        log.append(f"$ {line} -> {proc.returncode} {proc.stderr.strip()}")
    if proc.returncode != 0:
        raise RuntimeError(f"setup failed: {line}: {proc.stderr.strip()}")


def as_user(user: str | None, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (setpriv, no supplementary groups), or as it is."""
    if not user:
        return argv
    return ["setpriv", "--reuid", user, "--regid", "nogroup" if user == "nobody" else user,
            "--clear-groups", "--", *argv]


def listener_argv(spec: dict, python: str = sys.executable) -> list[str]:
    """The command that starts labkit/listener.py for ``spec`` (see labkit.Listener)."""
    return [python, str(LISTENER), json.dumps(spec), *(spec.get("extra_args") or [])]


def start_listener(spec: dict, python: str = sys.executable, timeout: float = 5.0) -> subprocess.Popen:
    """Start a listener and wait (bounded) for its "ready" line."""
    proc = subprocess.Popen(listener_argv(spec, python), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"listener {spec.get('name')} on {spec.get('address')}:{spec.get('port')} did not start: "
                           f"{line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
    return proc
