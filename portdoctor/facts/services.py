"""Well-known services: who usually owns a port, and whether that service is around.

- :data:`WELL_KNOWN`: port -> :class:`KnownService`, the table in
  :mod:`portdoctor.facts.wellknown` (re-exported here).
- :func:`parse_proc_net_unix`: listening Unix sockets from ``/proc/net/unix``
  (a service that only listens on a Unix socket has no TCP socket at all).
- :func:`parse_systemctl_show` / :func:`exec_start_argv` / :func:`names_port`:
  read ``systemctl show`` output (the format systemd prints) and decide whether a
  unit's ExecStart or Listen= names a port.
- Gatherers for :meth:`Snapshot.lazy` (nothing here runs unless a check asks):
  :func:`gather_service_processes` (psutil, bounded by count and time),
  :func:`gather_unix_listeners`, :func:`~portdoctor.facts.machine.gather_init_process`,
  :func:`gather_systemd_units` (bounded ``systemctl`` calls).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from portdoctor.bounded import run_command
from portdoctor.facts.machine import gather_init_process
from portdoctor.facts.wellknown import WELL_KNOWN, KnownService  # noqa: F401 - re-exported: the names known here
from portdoctor.lazyre import lazy
from portdoctor.records import dataclass, field
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot

# Unix socket flag __SO_ACCEPTCON: the socket is listening.
SO_ACCEPTCON = 0x00010000
MAX_PROCESSES = 20000  # stop scanning the process table after this many
PROCESS_SCAN_SECONDS = 1.5
MAX_UNITS = 20
SYSTEMCTL_TIMEOUT = 2.0


# --- /proc/net/unix ----------------------------------------------------------------


@dataclass
class UnixListener:
    """A listening Unix socket: the one record for it, whoever read it.

    ``/proc/net/unix`` (:func:`parse_proc_net_unix`) gives the path, the socket's inode and
    its kind; the kernel's ``sock_diag`` (:func:`portdoctor.facts.unixsock.parse_unix_diag`)
    also the bound file's inode, the accept queue and the creator's uid; the owner (pid,
    process, user) is filled in from ``/proc/*/fd`` where this user can see it.
    """

    path: str  # "/var/run/postgresql/.s.PGSQL.5432"; "@name" for the abstract namespace
    inode: int  # the socket's own inode (what /proc/PID/fd links name)
    vfs_inode: int | None = None  # the inode of the file it is bound to, when sock_diag told us
    vfs_dev: int | None = None
    backlog: int | None = None  # connections waiting to be accepted
    backlog_limit: int | None = None
    uid: int | None = None  # the socket's creator, when the kernel tells (5.3+)
    pid: int | None = None
    process: str | None = None
    user: str | None = None
    kind: str = "stream"  # "stream" | "seqpacket" (SOCKET_KINDS)

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


SOCKET_KINDS = {1: "stream", 2: "dgram", 5: "seqpacket"}  # the kernel's socket type numbers


def parse_proc_net_unix(text: str) -> list[UnixListener]:
    """The listening, path-bound Unix sockets in ``/proc/net/unix`` text.

    Columns: Num RefCount Protocol Flags Type St Inode Path. A listening socket has
    the __SO_ACCEPTCON flag (0x10000); sockets without a path (socketpairs, clients)
    and half-open connections to a listener (inode 0) are left out.
    """
    out: list[UnixListener] = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 7)
        if len(parts) < 8:
            continue
        try:
            flags = int(parts[3], 16)
            kind = SOCKET_KINDS.get(int(parts[4], 16), "other")
            inode = int(parts[6])
        except ValueError:
            continue
        if not flags & SO_ACCEPTCON or inode == 0:
            continue
        out.append(UnixListener(clean_text(parts[7].strip()), inode, kind=kind))
    return out


def read_unix_listeners() -> list[UnixListener] | None:
    """Listening Unix sockets of this network namespace; None where /proc is absent."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            return parse_proc_net_unix(f.read())
    except OSError:
        return None


def gather_unix_listeners(snap: Snapshot) -> list[UnixListener] | None:
    """The lazy fact ``UNIX_LISTENERS``: :func:`read_unix_listeners`."""
    return read_unix_listeners()


# --- processes ---------------------------------------------------------------------


@dataclass
class ServiceProcess:
    """A running process of a well-known service."""

    pid: int
    name: str
    user: str | None = None
    listening: list[str] = field(default_factory=list)  # "127.0.0.1:6380" TCP listeners, if visible
    # Ports its command line names ("--port 6380", "-p 5433", redis' title "*:6380"); 0 turns TCP off.
    configured_ports: list[int] = field(default_factory=list)


_PORT_ARGUMENT = lazy(r"(?:^|\s)(?:--port[= ]|-p\s*)(\d{1,5})(?!\S)|(?:^|\s)(?:\*|[\w.\[\]:-]*?):(\d{1,5})(?!\S)")


def ports_in_command_line(cmdline: str) -> list[int]:
    """The ports a service's command line sets: ``--port 6380``, ``--port=0``, ``-p 5433``,
    or Redis' process title ``redis-server *:6380`` / ``127.0.0.1:6380``."""
    found: list[int] = []
    for m in _PORT_ARGUMENT.finditer(cmdline):
        value = int(m.group(1) or m.group(2))
        if value <= 65535 and value not in found:
            found.append(value)
    return found


def gather_service_processes(snap: Snapshot, names: Iterable[str] = ()) -> list[ServiceProcess]:
    """Processes whose name is one of ``names`` (all well-known ones by default).

    Bounded: at most :data:`MAX_PROCESSES` processes and :data:`PROCESS_SCAN_SECONDS`.
    For each match (at most 5) its TCP listeners are read when the OS lets us, and the
    ports its command line names (readable for every user's processes, unlike its sockets).
    """
    import psutil

    wanted = set(names) or {p for s in WELL_KNOWN.values() for p in s.processes}
    found: list[ServiceProcess] = []
    deadline = time.monotonic() + PROCESS_SCAN_SECONDS
    for count, proc in enumerate(psutil.process_iter(["pid", "name", "username"])):
        if count >= MAX_PROCESSES or time.monotonic() > deadline:
            snap.visibility["service_processes"] = f"the process table was only partly read ({count} processes)"
            break
        info = proc.info
        if info.get("name") in wanted:
            found.append(ServiceProcess(info["pid"], clean_text(info["name"]), clean_text(info.get("username"))))
    for sp in found[:5]:
        try:
            sp.configured_ports = ports_in_command_line(" ".join(psutil.Process(sp.pid).cmdline()))
        except Exception:  # noqa: BLE001 - gone, or hidden by hidepid
            pass
        try:
            conns = psutil.Process(sp.pid).net_connections(kind="tcp")
        except Exception:  # noqa: BLE001 - another user's process without root, or gone
            continue
        sp.listening = sorted({_endpoint(c.laddr.ip, c.laddr.port) for c in conns
                               if c.status == psutil.CONN_LISTEN and c.laddr})
    return found


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- systemd -----------------------------------------------------------------------


@dataclass
class Unit:
    """One systemd unit, as ``systemctl show`` describes it."""

    id: str
    active_state: str = ""  # active | inactive | failed | activating | ...
    sub_state: str = ""
    result: str = ""  # success | exit-code | signal | timeout | ...
    exec_start: list[str] = field(default_factory=list)  # each command line (argv joined)
    listen: list[str] = field(default_factory=list)  # "0.0.0.0:22 (Stream)"
    load_state: str = ""

    @property
    def down(self) -> bool:
        return self.active_state in ("failed", "inactive")


def parse_systemctl_show(text: str) -> list[Unit]:
    """Units from ``systemctl show`` output: KEY=VALUE lines, one blank line between units.

    Repeated keys (ExecStart, Listen) accumulate.
    """
    units: list[Unit] = []
    block: dict[str, list[str]] = {}

    def flush() -> None:
        if block.get("Id"):
            units.append(Unit(
                id=block["Id"][0],
                active_state=block.get("ActiveState", [""])[0],
                sub_state=block.get("SubState", [""])[0],
                result=block.get("Result", [""])[0],
                exec_start=[a for v in block.get("ExecStart", []) for a in exec_start_argv(v)],
                listen=[v for v in block.get("Listen", []) if v],
                load_state=block.get("LoadState", [""])[0],
            ))

    for line in text.splitlines():
        if not line.strip():
            flush()
            block = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            block.setdefault(key, []).append(clean_text(value))
    flush()
    return units


_ARGV = lazy(r"argv\[\]=(.*?) ; (?:ignore_errors|flags)=")


def exec_start_argv(value: str) -> list[str]:
    """The command lines in an ExecStart value: ``{ path=... ; argv[]=CMD ; ignore_errors=no ; ... }``."""
    found = _ARGV.findall(value)
    if found:
        return [a.strip() for a in found]
    return [value.strip()] if value.strip() and not value.startswith("{") else []


def names_port(text: str, port: int) -> bool:
    """Does a command line or Listen= value name this port (":5432", "-p 5432", "--port=5432")?"""
    return re.search(rf"(?<![\w.]){port}(?![\w.])|:{port}(?!\d)", text) is not None


def parse_unit_list(text: str) -> list[str]:
    """Unit names from ``systemctl list-units --plain --no-legend`` (first column)."""
    names = []
    for line in text.splitlines():
        parts = [p for p in line.split() if p not in ("●", "*")]
        if parts and "." in parts[0]:
            names.append(parts[0])
    return names


def gather_systemd_units(snap: Snapshot, prefixes: Iterable[str] = ()) -> list[Unit] | None:
    """Units named like the service (``prefixes``) plus every failed unit, with their state.

    None when systemd is not PID 1 or systemctl does not answer. Bounded: two
    ``list-units`` calls and one ``show`` of at most :data:`MAX_UNITS` units.
    """
    if gather_init_process(snap) != "systemd":
        return None
    patterns = [f"{p}.service" for p in prefixes] + [f"{p}@*.service" for p in prefixes] + \
               [f"{p}.socket" for p in prefixes]
    names: list[str] = []
    if patterns:
        listed = run_command(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", *patterns],
                             timeout=SYSTEMCTL_TIMEOUT)
        if listed.returncode is None:
            snap.visibility["systemd"] = listed.error or "systemctl did not answer"
            return None
        names += parse_unit_list(listed.stdout)
        # A unit that is installed but was never started is not "loaded": ask by name too.
        names += [f"{p}.service" for p in prefixes]
    failed = run_command(["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"],
                         timeout=SYSTEMCTL_TIMEOUT)
    if failed.returncode is None:
        snap.visibility["systemd"] = failed.error or "systemctl did not answer"
        return None
    names += parse_unit_list(failed.stdout)
    unique = list(dict.fromkeys(names))[:MAX_UNITS]
    if not unique:
        return []
    shown = run_command(["systemctl", "show", "--no-pager",
                         "-p", "Id,LoadState,ActiveState,SubState,Result,ExecStart,Listen", *unique],
                        timeout=SYSTEMCTL_TIMEOUT)
    if shown.returncode is None:
        snap.visibility["systemd"] = shown.error or "systemctl show did not answer"
        return None
    return [u for u in parse_systemctl_show(shown.stdout) if u.load_state != "not-found"]

