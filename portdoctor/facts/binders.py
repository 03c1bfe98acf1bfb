"""Who would bind a privileged port: running processes that name the port, and whether
they may (root, or ``CAP_NET_BIND_SERVICE`` in their effective capabilities).

Only needed when nothing listens on a port below the unprivileged floor, so checks
reach it through ``Snapshot.lazy`` (see :func:`lazy_bind_candidates`).
"""

from __future__ import annotations

import os
import re

from portdoctor.masking import mask_argv
from portdoctor.records import dataclass
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    import psutil

    from portdoctor.facts import Snapshot

CAP_NET_BIND_SERVICE = 10


@dataclass
class BindCandidate:
    """A process that may be the one meant to bind the port, and whether it may bind a privileged one."""

    pid: int
    name: str
    user: str | None
    uid: int | None
    may_bind_privileged: bool | None  # root or CAP_NET_BIND_SERVICE; None when unreadable
    exe: str | None
    cmdline: str
    why: str  # "names port 80 in its command line", "is the expected process"

    def __post_init__(self) -> None:
        # Names, users, paths and command lines are chosen by whoever started the process.
        self.name, self.user, self.exe, self.cmdline = (
            clean_text(self.name), clean_text(self.user), clean_text(self.exe), clean_text(self.cmdline))


def has_net_bind_capability(status_text: str) -> bool | None:
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status_text, re.M)
    if not m:
        return None
    return bool(int(m.group(1), 16) >> CAP_NET_BIND_SERVICE & 1)


def names_port(cmdline: list[str], port: int) -> bool:
    """Does a command line ask for ``port``? ``--port 80``, ``-p 80``, ``--port=80``, ``:80``, ``port=80``."""
    p = str(port)
    for i, tok in enumerate(cmdline):
        prev = cmdline[i - 1].lower() if i else ""
        if tok == p and i and ("port" in prev or prev in ("-p", "-l", "--listen", "-b", "--bind")):
            return True
        if re.fullmatch(rf"(?:-p|--?[\w-]*port[\w-]*=|port=|[\w.\-\[\]:]*:){p}", tok, re.I):
            return True
    return False


def bind_candidates(port: int, expect: str | None) -> list[BindCandidate]:
    """Running processes (other than us) that name ``port`` or are named ``expect``."""
    import psutil

    me = {os.getpid(), os.getppid()}
    out = []
    for proc in psutil.process_iter(["pid", "name", "username", "uids", "cmdline", "exe"]):
        info = proc.info
        if info["pid"] in me or not info.get("cmdline"):
            continue
        cmdline = info["cmdline"]
        if is_portdoctor(cmdline):
            continue
        expected = bool(expect) and (info["name"] == expect or os.path.basename(cmdline[0]) == expect)
        if not expected and not names_port(cmdline, port):
            continue
        if not expected and _is_client_of(proc, port):
            continue  # `ssh -p 22 host`, `curl host:80`: it connects to the port, it does not bind it
        uid = info["uids"].effective if info.get("uids") else None
        try:
            with open(f"/proc/{info['pid']}/status") as fh:
                cap = has_net_bind_capability(fh.read())
        except OSError:
            cap = None
        may = True if uid == 0 else cap
        out.append(BindCandidate(info["pid"], info["name"] or "?", info.get("username"), uid, may,
                                 info.get("exe"), " ".join(mask_argv(cmdline))[:300],
                                 "is the expected process" if expected else f"names port {port} in its command line"))
    return out


def is_portdoctor(cmdline: list[str]) -> bool:
    """Is this command line a portdoctor run (``portdoctor ...``, ``python -m portdoctor ...``,
    ``python /venv/bin/portdoctor ...``, under sudo)? Its own arguments name the port.

    Only the program words count: a service whose path merely contains "portdoctor"
    (``/srv/portdoctor-demo/app.py --port 80``) is a candidate like any other.
    """
    words = list(cmdline[:4])
    while words and os.path.basename(words[0]) in ("sudo", "doas", "env", "setpriv", "runuser"):
        words = words[1:]
    if not words:
        return False
    if os.path.basename(words[0]) == "portdoctor":
        return True
    if os.path.basename(words[0]).startswith("python"):
        rest = words[1:3]
        return rest[:2] == ["-m", "portdoctor"] or (bool(rest) and os.path.basename(rest[0]) == "portdoctor")
    return False


def _is_client_of(proc: psutil.Process, port: int) -> bool:
    try:
        conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
    except Exception:  # noqa: BLE001 - psutil.AccessDenied etc.: cannot tell
        return False
    return any(c.raddr and c.raddr.port == port for c in conns)


def lazy_bind_candidates(snapshot: Snapshot, port: int, expect: str | None) -> list[BindCandidate] | None:
    """Tests inject ``extras["bind-candidates"]``."""
    return snapshot.lazy("bind-candidates", lambda snap: bind_candidates(port, expect))


def whoami() -> tuple[int | None, str | None]:
    """The effective uid and user name portdoctor runs as (None, None where there are no uids)."""
    if not hasattr(os, "geteuid"):
        return None, None
    uid = os.geteuid()
    try:
        import pwd

        return uid, pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return uid, None
