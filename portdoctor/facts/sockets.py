"""Sockets bound to the target's port, and who owns them.

- :func:`gather_sockets` fills ``Snapshot.sockets`` (every TCP/UDP, IPv4/IPv6 socket
  whose local port is the target's, any state, in our own network namespace) and
  ``Snapshot.all_listening`` (every listener on any port, for typo hints).
  On Linux it asks the kernel through netlink ``sock_diag`` with the port filter
  compiled into a bytecode program, so 50 000 unrelated sockets cost nothing; if
  netlink is refused it parses ``/proc/net/{tcp,tcp6,udp,udp6}``; without ``/proc``
  (macOS, Windows) it uses ``psutil.net_connections``.
- Owners: socket inode -> pid by scanning ``/proc/*/fd``, stopping as soon as every
  wanted inode is found. A socket whose owner is hidden (another user's process,
  no root) is kept with its uid and user; pid/process stay None and
  ``Snapshot.visibility["owners"]`` says how to see more.
- :func:`is_privileged`: can this process read every process's file descriptors.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Iterable

from portdoctor.model import Socket
from portdoctor.records import dataclass
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot
    from portdoctor.facts.machine import MachineFacts

CMDLINE_READ_LIMIT = 256 * 1024  # bytes of /proc/PID/cmdline read
CMDLINE_KEEP = 4096  # characters of a command line kept in a report
OWNERS_HIDDEN = ("sockets of other users are shown with their uid only; "
                 "run with sudo to see the process")
CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
PROC_NET_FILES = (("tcp", 4, "tcp"), ("tcp", 6, "tcp6"), ("udp", 4, "udp"), ("udp", 6, "udp6"))


# --- privilege ----------------------------------------------------------------------


def is_privileged() -> bool:
    """Root, or the capabilities that let us read every process's fds (CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH)."""
    if not hasattr(os, "geteuid"):
        return False  # Windows: psutil sees what the user may see; treat as unprivileged
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    wanted = (1 << CAP_SYS_PTRACE) | (1 << CAP_DAC_READ_SEARCH)
                    return caps & wanted == wanted
    except (OSError, ValueError):
        pass
    return False


# --- gathering ----------------------------------------------------------------------


def gather_sockets(snap: Snapshot, machine: MachineFacts | None = None) -> None:
    """Fill ``snap.sockets`` (the target's port) and ``snap.all_listening`` (any port).

    ``machine``: the run's machine-wide facts; with them, the owners are looked for among
    the processes of our own network namespace first (see :func:`own_namespace_first`).
    """
    if not os.path.isdir("/proc/self/fd"):
        _gather_with_psutil(snap)
        return
    from portdoctor.facts import netlink

    try:
        with netlink.open_netlink() as nl:  # one socket for all eight dumps
            # TCP LISTEN only: the other TCP states on the port cost the kernel a walk of the
            # whole established table (most of a run at 50 000 connections); a check that needs
            # them asks for portdoctor.api.NOT_LISTENING, which reads them then.
            found = _sockets_by_netlink(snap.port, nl, listening_only=True)
            all_listening = _all_listening_by_netlink(nl)
        source = "netlink"
    except OSError as exc:
        found = read_proc_net_port(snap.port)
        all_listening = read_proc_net_listening()
        source = "proc"
        snap.visibility.setdefault("netlink", f"netlink sock_diag unavailable ({exc}); read /proc/net instead")
    snap.sockets.extend(found)
    snap.all_listening = all_listening
    snap.extras["sockets_source"] = source
    resolve_owners(snap.sockets, snap, pids=own_namespace_first(machine) if machine is not None else None)


def own_namespace_first(machine: MachineFacts) -> list[int] | None:
    """Every pid, those in our network namespace first (each group ascending); None if unknown.

    A socket of this namespace is almost always held by one of its processes: the owner
    search (which stops at the last listener found) then never walks the fds of the
    other namespaces' processes, however many connections they hold. The others still
    follow (a socket can be passed to, or left in, a process that moved).
    """
    try:
        own, groups = machine.namespace_groups()
        everyone = sorted(int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
    except OSError:
        return None
    first = groups.get(own, []) if own is not None else []
    mine = set(first)
    return first + [pid for pid in everyone if pid not in mine]


def gather_not_listening(snap: Snapshot) -> list[Socket]:
    """TCP sockets on the port that are not listening (TIME_WAIT, a client bound to it,
    accepted connections), with their owners where met: the ``NOT_LISTENING`` fact of
    :mod:`portdoctor.api`, read on first use. UDP sockets, and every state where netlink was not used, are in
    ``snap.sockets`` already."""
    already = [s for s in snap.sockets if not s.listening and s.namespace is None]
    if snap.extras.get("sockets_source") != "netlink":
        return already
    from portdoctor.facts import netlink

    with netlink.open_netlink() as nl:
        found = _sockets_by_netlink(snap.port, nl, tcp_states=netlink.ALL_STATES & ~(1 << netlink.STATE_LISTEN),
                                    protocols=("tcp",))
    resolve_owners(found, snap, optional_only=True)
    return already + found


def _sockets_by_netlink(port: int, nl: socket.socket | None = None, listening_only: bool = False, *, tcp_states: int | None = None,
                        protocols: tuple[str, ...] = ("tcp", "udp")) -> list[Socket]:
    """Sockets on ``port``; ``listening_only`` asks for TCP LISTEN alone, which spares the
    kernel a walk of the machine-wide established-connections table (``tcp_states``: any
    other set of TCP states)."""
    from portdoctor.facts import netlink

    out = []
    names: dict[int, str | None] = {0: None}
    for protocol in protocols:
        if protocol == "tcp" and tcp_states is not None:
            states = tcp_states
        else:
            states = 1 << netlink.STATE_LISTEN if listening_only and protocol == "tcp" else netlink.ALL_STATES
        if protocol == "tcp" and states & ~(1 << netlink.STATE_LISTEN):  # a walk of every connection: once
            # IPv4 first, as two per-family dumps list them (a stable sort keeps the kernel's order within each)
            found = sorted(netlink.tcp_sock_diag(states=states, port=port, nl=nl), key=lambda d: d.family)
        else:
            found = [d for family in (4, 6) for d in netlink.sock_diag(protocol, family, port=port, nl=nl, states=states)]
        for d in found:
            if d.interface_index not in names:
                try:
                    names[d.interface_index] = socket.if_indextoname(d.interface_index)
                except OSError:
                    names[d.interface_index] = str(d.interface_index)
            connected = d.state not in ("LISTEN", "UNCONN")
            out.append(Socket(
                protocol=d.protocol, family=d.family, address=d.address, port=d.port, state=d.state,
                inode=d.inode or None, uid=d.uid, v6only=d.v6only,
                interface=names[d.interface_index], recv_queue=d.recv_queue, send_queue=d.send_queue,
                remote_address=d.remote_address if connected else None,
                remote_port=d.remote_port if connected else None,
            ))
    return out


def _all_listening_by_netlink(nl: socket.socket | None = None) -> list[Socket]:
    from portdoctor.facts import netlink

    out = []
    for protocol in ("tcp", "udp"):
        state = "LISTEN" if protocol == "tcp" else "UNCONN"
        for family in (4, 6):
            for address, port, uid, inode in netlink.listening_ports(protocol, family, nl):
                out.append(Socket(protocol, family, address, port, state, inode=inode or None, uid=uid))
    return out


# --- /proc/net parsing (the fallback, and other namespaces) -----------------------


def _hex_address(text: str, family: int) -> str:
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, struct.pack("=I", int(text, 16)))
    words = [int(text[i:i + 8], 16) for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, struct.pack("=IIII", *words))


def parse_proc_net(text: str, protocol: str, family: int, port: int | None = None,
                   listening_only: bool = False) -> list[Socket]:
    """Parse the text of /proc/net/{tcp,tcp6,udp,udp6} (pure: no system access).

    With ``port``, lines are first filtered by the hex port (a substring test) before
    any splitting, so a file of 50 000 lines costs little. ``listening_only`` keeps
    TCP LISTEN and unconnected UDP sockets.
    """
    needle = f":{port:04X} " if port is not None else None
    out = []
    for line in text.splitlines()[1:]:
        if needle is not None and needle not in line:
            continue
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote, state_hex = fields[1], fields[2], fields[3]
        laddr, lport = local.rsplit(":", 1)
        local_port = int(lport, 16)
        if port is not None and local_port != port:
            continue  # the needle matched the remote port
        state_num = int(state_hex, 16)
        if listening_only and state_num != (10 if protocol == "tcp" else 7):
            continue
        state = _state_name(state_num)  # 7 (CLOSE) is an unconnected UDP socket: "UNCONN"
        tx, rx = (int(x, 16) for x in fields[4].split(":"))
        raddr, rport = remote.rsplit(":", 1)
        connected = state not in ("LISTEN", "UNCONN")
        inode = int(fields[9])
        out.append(Socket(
            protocol=protocol, family=family, address=_hex_address(laddr, family), port=local_port,
            state=state, inode=inode or None, uid=int(fields[7]),
            # /proc/net shows the accept-queue length as rx_queue for LISTEN; no backlog limit.
            recv_queue=rx, send_queue=None if state == "LISTEN" else tx,
            remote_address=_hex_address(raddr, family) if connected else None,
            remote_port=int(rport, 16) if connected else None,
        ))
    return out


def _state_name(number: int) -> str:
    from portdoctor.facts.netlink import TCP_STATES

    return TCP_STATES.get(number, str(number))


def read_proc_net(proc_net: str = "/proc/net", *, port: int | None = None, listening_only: bool = False) -> list[Socket]:
    """Sockets from the /proc/net files of one namespace (missing files are skipped).

    ``port`` and ``listening_only`` filter as in :func:`parse_proc_net`.
    """
    out = []
    for protocol, family, name in PROC_NET_FILES:
        try:
            with open(f"{proc_net}/{name}", encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        out.extend(parse_proc_net(text, protocol, family, port=port, listening_only=listening_only))
    return out


def read_proc_net_port(port: int, proc_net: str = "/proc/net") -> list[Socket]:
    """Sockets bound to ``port``, every state."""
    return read_proc_net(proc_net, port=port)


def read_proc_net_listening(proc_net: str = "/proc/net") -> list[Socket]:
    """Listening TCP sockets and bound UDP sockets, any port."""
    return read_proc_net(proc_net, listening_only=True)


# --- owners -------------------------------------------------------------------------


def find_socket_pids(inodes: Iterable[int], pids: Iterable[int] | None = None,
                     optional: Iterable[int] = ()) -> tuple[dict[int, int], bool]:
    """Map socket inodes to the pid holding them, scanning ``/proc/<pid>/fd``.

    Stops as soon as every inode in ``inodes`` is found; inodes in ``optional`` are
    recorded when met on the way but do not keep the scan going. ``pids`` limits the
    scan (e.g. to the processes of one namespace). Returns the mapping and whether
    some process's fds could not be read (another user's, without privilege).
    """
    wanted = {f"socket:[{i}]": i for i in inodes if i}
    extra = {f"socket:[{i}]": i for i in optional if i and i not in wanted.values()}
    found: dict[int, int] = {}
    denied = False
    if not wanted:
        return found, denied
    if pids is None:
        pids = (int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
    readlink = os.readlink
    for pid in pids:
        base = f"/proc/{pid}/fd/"
        try:
            fds = os.listdir(base)
        except PermissionError:
            denied = True
            continue
        except OSError:
            continue  # the process ended
        for fd in fds:
            try:
                link = readlink(base + fd)
            except OSError:
                continue
            if link in wanted:
                found[wanted.pop(link)] = pid
                if not wanted:
                    return found, denied
            elif link in extra:
                found[extra.pop(link)] = pid
    return found, denied


def process_details(pid: int) -> tuple[str | None, str | None]:
    """(process name, masked command line) of a pid, None where unreadable; both cleaned
    of control characters (:func:`portdoctor.sanitize.clean_text`)."""
    from portdoctor.masking import mask_argv

    name = cmdline = None
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            name = clean_text(f.read().rstrip("\n")) or None
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(CMDLINE_READ_LIMIT)
        if raw:
            argv = raw.rstrip(b"\0").decode("utf-8", "replace").split("\0")
            # Masked element by element (bounded work), then cut: a cut never reveals.
            cmdline = clean_text(" ".join(mask_argv(argv)), limit=CMDLINE_KEEP)
    except OSError:
        pass
    return name, cmdline


STOPPED_STATES = {"T": "stopped (SIGSTOP or Ctrl-Z)", "t": "stopped by a debugger (tracing stop)"}


def process_state(pid: int) -> str | None:
    """The one-letter scheduler state of a pid (R, S, D, T, t, Z, ...) from /proc/PID/stat, or None.

    Readable for every user's processes: the name in parentheses may hold spaces and
    parentheses itself, so the state is the field after the last ')'.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    after = text.rpartition(")")[2].split()
    return after[0] if after else None


STOPPED_SCAN_SECONDS = 0.5  # the /proc walk for stopped processes of one uid
STOPPED_SCAN_MAX = 64  # candidates kept


@dataclass
class StoppedProcess:
    """A stopped process of a given user: a candidate owner for a socket whose owner is hidden."""

    pid: int
    state: str  # "T" | "t"
    process: str | None  # name (cleaned)
    cmdline: str | None  # masked and cleaned
    names_port: bool  # its command line names the port (as a whole number)


def stopped_processes(uid: int, port: int | None = None, budget: float = STOPPED_SCAN_SECONDS) -> list[StoppedProcess]:
    """The stopped processes (state T/t) of ``uid`` that this user can see, without root.

    Without root a socket of another user cannot be tied to its process (/proc/PID/fd is
    not readable), but every process's /proc/PID/stat (its state) and /proc/PID/status
    (its uids) are: a stopped process of the socket's user is a *candidate* owner, never a
    proof. Those whose command line names ``port`` come first. Bounded by ``budget``
    seconds and :data:`STOPPED_SCAN_MAX` candidates.
    """
    import re
    import time

    deadline = time.monotonic() + budget
    found: list[StoppedProcess] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    own = os.getpid()
    for pid in pids:
        if time.monotonic() > deadline or len(found) >= STOPPED_SCAN_MAX:
            break
        state = process_state(pid) if pid != own else None
        if state not in STOPPED_STATES or uid not in (_uids(pid) or ()):
            continue
        name, cmdline = process_details(pid)
        names_port = port is not None and re.search(rf"(?<!\d){port}(?!\d)", cmdline or "") is not None
        found.append(StoppedProcess(pid, state or "T", name, cmdline, names_port))
    found.sort(key=lambda p: not p.names_port)
    return found


def _uids(pid: int) -> tuple[int, ...] | None:
    """The real, effective, saved and filesystem uids of a pid (/proc/PID/status, world-readable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return tuple(int(v) for v in line.split()[1:5])
    except (OSError, ValueError):
        return None
    return None


def gather_owner_states(snap: Snapshot) -> dict[int, str]:
    """pid -> scheduler state of every listener owner on the port (for :meth:`Snapshot.lazy`)."""
    states: dict[int, str] = {}
    for s in snap.sockets:
        if s.listening and s.pid and s.pid not in states:
            state = process_state(s.pid)
            if state:
                states[s.pid] = state
    return states


def user_name(uid: int | None) -> str | None:
    if uid is None:
        return None
    try:
        import pwd

        return clean_text(pwd.getpwuid(uid).pw_name)
    except (ImportError, KeyError):
        return str(uid)


def resolve_owners(sockets: list[Socket], snap: Snapshot, pids: Iterable[int] | None = None, *,
                   optional_only: bool = False) -> None:
    """Fill pid/process/cmdline/user of ``sockets`` in place.

    Listening sockets must be found; the owners of other sockets on the port (accepted
    connections, clients) are filled when met during the same scan. ``optional_only``
    (sockets that are not listening, read on their own): scan until all are found.
    """
    for s in sockets:
        if s.user is None:
            s.user = user_name(s.uid)
    wanted = [s.inode for s in sockets if s.listening and s.inode and s.pid is None]
    optional = [s.inode for s in sockets if not s.listening and s.inode and s.pid is None]
    if optional_only:
        wanted, optional = optional, []
    if not wanted:
        return
    found, denied = find_socket_pids(wanted, pids, optional)
    details: dict[int, tuple[str | None, str | None]] = {}
    for s in sockets:
        pid = found.get(s.inode or 0)
        if pid is None:
            continue
        if pid not in details:
            details[pid] = process_details(pid)
        s.pid = pid
        s.process, s.cmdline = details[pid]
    hidden = [s for s in sockets if s.listening and s.inode and s.pid is None]
    if optional_only:
        return
    if hidden and (denied or not is_privileged()):
        snap.visibility["owners"] = OWNERS_HIDDEN
    elif hidden:
        snap.visibility.setdefault("owners", (
            f"no visible process holds {len(hidden)} of the listening sockets "
            "(their owner runs in another PID namespace, e.g. outside this container)"))


# --- other operating systems --------------------------------------------------------


def _gather_with_psutil(snap: Snapshot) -> None:
    """macOS / Windows: psutil sees what the OS lets this user see."""
    import psutil  # deferred: only needed where /proc is missing

    from portdoctor.masking import mask_argv

    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        snap.visibility["sockets"] = ("the OS allows listing sockets only to an administrator; "
                                      "run with sudo (macOS) or as Administrator (Windows)")
        return
    names: dict[int, tuple[str | None, str | None, str | None]] = {}
    hidden = False
    for c in connections:
        if not c.laddr:
            continue
        protocol = "tcp" if c.type == socket.SOCK_STREAM else "udp"
        family = 6 if c.family == socket.AF_INET6 else 4
        state = c.status.replace("_", "-") if protocol == "tcp" else "UNCONN"
        if state == "NONE":
            state = "UNCONN"
        s = Socket(protocol, family, c.laddr.ip, c.laddr.port, state, pid=c.pid or None,
                   remote_address=c.raddr.ip if c.raddr else None, remote_port=c.raddr.port if c.raddr else None)
        if s.pid and s.pid not in names:
            try:
                proc = psutil.Process(s.pid)
                names[s.pid] = (clean_text(proc.name()), clean_text(proc.username()),
                                clean_text(" ".join(mask_argv(proc.cmdline())), limit=CMDLINE_KEEP))
            except psutil.Error:
                names[s.pid] = (None, None, None)
        if s.pid:
            s.process, s.user, s.cmdline = names[s.pid]
        elif s.listening:
            hidden = True
        if s.port == snap.port:
            snap.sockets.append(s)
        if s.listening:
            snap.all_listening.append(s)
    if hidden:
        snap.visibility["owners"] = OWNERS_HIDDEN
    snap.extras["sockets_source"] = f"psutil ({sys.platform})"
