"""Other network namespaces (containers, ``ip netns``), and whether we run in a container.

- :func:`gather_namespaces` (Linux, best as root): groups every process by its network
  namespace (one ``readlink /proc/PID/ns/net`` each), skips our own, and for each other
  namespace reads ``/proc/<one pid>/net/{tcp,tcp6,udp,udp6}`` for the target's port,
  finds the owners among that namespace's processes, and labels the sockets:
  ``Socket.namespace`` ("netns:blue" or "net:[4026532456] (pid 4242 sleep)") and
  ``Socket.container`` ("docker:3f2a1b4c5d6e"). What was scanned goes to
  ``Snapshot.namespaces``.
- :func:`detect_container`: "docker", "podman", "kubernetes", ... when portdoctor itself
  runs inside a container (``Snapshot.in_container``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

from portdoctor.records import dataclass, field
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable

    from portdoctor.facts import Snapshot
    from portdoctor.facts.machine import MachineFacts
    from portdoctor.model import Socket

NOT_ROOT = ("other network namespaces are only partly visible without root: their listeners are read "
            "through /proc/PID/net, their owners and names are hidden")

# Compiled on first use: only a namespace with a socket on the port needs them.
# (kind, a word the pattern cannot match without: a plain host's text is not searched at all, pattern)
_CGROUP_PATTERNS = [
    ("docker", "docker-", r"docker-([0-9a-f]{12,64})\.scope"),
    ("docker", "/docker/", r"/docker/([0-9a-f]{12,64})"),
    ("podman", "libpod-", r"libpod-(?:conmon-)?([0-9a-f]{12,64})\.scope"),
    ("podman", "/libpod_parent/libpod-", r"/libpod_parent/libpod-([0-9a-f]{12,64})"),
    ("kubernetes", "kubepods", r"kubepods.*?(?:cri-containerd-|crio-|docker-)?([0-9a-f]{64})"),
    ("containerd", "cri-containerd-", r"cri-containerd-([0-9a-f]{12,64})\.scope"),
    ("lxc", "/lxc", r"/lxc(?:\.payload)?[./]([^/\s]+)"),
]


@dataclass
class NetworkNamespace:
    """One network namespace other than ours, as scanned."""

    inode: int
    pids: list[int] = field(default_factory=list)
    name: str | None = None  # `ip netns` name, from /run/netns
    container: str | None = None  # "docker:3f2a1b4c5d6e"
    label: str = ""

    def to_dict(self) -> dict:
        return {"inode": self.inode, "pids": len(self.pids), "name": self.name,
                "container": self.container, "label": self.label}


def namespace_inode(link: str) -> int | None:
    """4026531840 from "net:[4026531840]"."""
    if link.startswith("net:[") and link.endswith("]"):
        return int(link[5:-1])
    return None


def container_from_cgroup(text: str) -> str | None:
    """A container label ("docker:3f2a1b4c5d6e") from the text of /proc/PID/cgroup."""
    if not text.strip() or text.strip() == "0::/":
        return None
    for kind, word, pattern in _CGROUP_PATTERNS:
        m = re.search(pattern, text) if word in text else None
        if m:
            ident = m.group(1)
            return f"{kind}:{ident[:12]}"
    return None


# Bind mounts a container engine makes for /etc/hostname, /etc/hosts, /etc/resolv.conf:
# the mount's root inside its filesystem names the engine's per-container folder.
_MOUNTINFO_PATTERNS = [
    ("podman", "/overlay-containers/", r"/overlay-containers/[0-9a-f]{64}/userdata/"),
    ("kubernetes", "/kubelet/pods/", r"/kubelet/pods/[0-9a-f-]{36}/"),
    ("docker", "/containers/", r"/containers/[0-9a-f]{64}/(?:hostname|hosts|resolv\.conf)\b"),
]
_CONTAINER_ENV = {"podman": "podman", "docker": "docker", "lxc": "lxc", "systemd-nspawn": "systemd-nspawn",
                  "oci": "container", "crio": "kubernetes", "containerd": "containerd"}


def container_evidence(root: str = "/", environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """(kind, why): what kind of container portdoctor itself runs in, and the evidence.

    Decided from evidence that a plain host does not have: a container path in
    /proc/1/cgroup, the engine's per-container bind mounts in /proc/self/mountinfo, a
    ``container=`` variable in PID 1's environment, Kubernetes' service variables with
    its service-account mount. ``/.dockerenv`` and ``/run/.containerenv`` alone are not
    enough (some VMs and CI images carry them): they only corroborate an overlay root.
    """
    join = os.path.join
    environ = os.environ if environ is None else environ
    cgroup = _read(join(root, "proc/1/cgroup")) or ""
    label = container_from_cgroup(cgroup)
    if label:
        return label.split(":", 1)[0], f"/proc/1/cgroup names {label}"
    mountinfo = _read(join(root, "proc/self/mountinfo")) or ""
    for kind, word, pattern in _MOUNTINFO_PATTERNS:
        if word in mountinfo and re.search(pattern, mountinfo):
            return kind, f"/proc/self/mountinfo has {kind}'s per-container mounts"
    pid1_env = _read(join(root, "proc/1/environ")) or ""
    for item in pid1_env.split("\0"):
        if item.startswith("container="):
            value = item.split("=", 1)[1]
            return _CONTAINER_ENV.get(value, value or "container"), f"PID 1 has {item[:40]!r} in its environment"
    if environ.get("KUBERNETES_SERVICE_HOST") and os.path.isdir(
            join(root, "var/run/secrets/kubernetes.io/serviceaccount")):
        return "kubernetes", "KUBERNETES_SERVICE_HOST is set and a service-account token is mounted"
    root_fs = next((line.split(" - ", 1)[1].split()[0] for line in mountinfo.splitlines()
                    if " - " in line and line.split()[4:5] == ["/"]), "")
    if root_fs in ("overlay", "fuse-overlayfs"):
        for marker, kind in ((".dockerenv", "docker"), ("run/.containerenv", "podman")):
            if os.path.exists(join(root, marker)):
                return kind, f"/{marker} exists and the root filesystem is {root_fs}"
    return None, ""


def inside_container_advice(kind: str, port: int, protocol: str = "tcp") -> list[tuple[str, str | None]]:
    """What to connect to instead of localhost when portdoctor runs inside a container:
    (text, command) steps, most likely first. Checks turn them into remediation steps."""
    prefix = "udp://" if protocol == "udp" else ""
    return [
        (f"portdoctor runs inside a {kind} container, where localhost is the container itself. If the service "
         f"is another compose service, connect to it by its service name (e.g. `db:{port}`), not localhost.",
         f"portdoctor {prefix}SERVICE:{port}"),
        ("If the service runs on the host, connect to host.docker.internal (Docker Desktop has it; on Linux start "
         "this container with --add-host=host.docker.internal:host-gateway), and make the service listen on an "
         "address the container network reaches (0.0.0.0, not 127.0.0.1).",
         f"portdoctor {prefix}host.docker.internal:{port}"),
    ]


def detect_container(root: str = "/") -> str | None:
    """What kind of container portdoctor itself runs in, or None on a plain host."""
    return container_evidence(root)[0]


def _netns_names() -> dict[int, str]:
    names: dict[int, str] = {}
    try:
        entries = list(os.scandir("/run/netns"))
    except OSError:
        return names
    for e in entries:
        try:
            names[os.stat(e.path).st_ino] = e.name
        except OSError:
            continue
    return names


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def list_namespaces() -> tuple[int | None, dict[int, list[int]]]:
    """Our own network namespace inode, and every namespace inode -> its pids (ascending)."""
    own = namespace_inode(os.readlink("/proc/self/ns/net"))
    groups: dict[int, list[int]] = {}
    readlink = os.readlink
    for entry in os.scandir("/proc"):
        name = entry.name
        if not name.isdigit():
            continue
        try:
            link = readlink(f"/proc/{name}/ns/net")
        except OSError:
            continue  # another user's process (no privilege), or gone
        inode = namespace_inode(link)
        if inode is not None:
            groups.setdefault(inode, []).append(int(name))
    for pids in groups.values():
        pids.sort()
    return own, groups


HIDDEN_SCAN_SECONDS = 0.5  # bound on the unprivileged scan of other users' processes


def group_by_proc_net(pids: list[int], deadline: float) -> tuple[int | None, dict[int, list[int]]]:
    """Without root: other users' processes grouped by the network namespace their
    ``/proc/PID/net/tcp`` shows (its inode is per namespace), and our own group's key.

    ``readlink /proc/PID/ns/net`` needs ptrace rights over the process; ``/proc/PID/net/tcp``
    does not, so an ordinary user can still see the listeners of a root container.
    """
    import time

    try:
        own = os.stat("/proc/self/net/tcp").st_ino
    except OSError:
        return None, {}
    groups: dict[int, list[int]] = {}
    for pid in pids:
        if time.monotonic() > deadline:
            break
        try:
            key = os.stat(f"/proc/{pid}/net/tcp").st_ino
        except OSError:
            continue  # a kernel thread, or gone
        groups.setdefault(key, []).append(pid)
    return own, groups


NAMESPACE_SCAN_SECONDS = 3.0  # bound on asking every other namespace through netlink


def listeners_in_namespaces(pids: list[int], port: int,
                            timeout: float = NAMESPACE_SCAN_SECONDS) -> dict[int, list[Socket] | OSError]:
    """Listeners on ``port`` in the network namespace of each of ``pids``, via netlink (needs root).

    One short-lived thread joins each namespace in turn (setns affects only the calling
    thread) and asks sock_diag there: far cheaper than reading /proc/PID/net/tcp, whose
    cost grows with every socket on the machine. Each pid maps to its listeners, or to
    the OSError that stopped the query there (setns refused, pid gone, or the deadline).
    """
    import threading

    from portdoctor.facts.sockets import _sockets_by_netlink

    found: dict[int, list[Socket] | OSError] = {}

    def worker() -> None:
        from portdoctor.facts import netlink

        for pid in pids:
            try:
                _enter_network_namespace(f"/proc/{pid}/ns/net")
                with netlink.open_netlink() as nl:
                    found[pid] = [s for s in _sockets_by_netlink(port, nl, listening_only=True) if s.listening]
            except BaseException as exc:  # noqa: BLE001 - handed back below
                found[pid] = exc if isinstance(exc, OSError) else OSError(f"namespace of pid {pid}: {exc}")

    thread = threading.Thread(target=worker, name="portdoctor-netns", daemon=True)
    thread.start()
    thread.join(timeout)
    return {pid: found.get(pid, OSError(f"namespace of pid {pid}: timed out")) for pid in pids}


def all_listeners_in_namespace(pid: int) -> list[Socket]:
    """Every TCP listener and bound UDP socket, any port, in the network namespace of ``pid``.

    Read from ``/proc/PID/net`` (a container's namespace holds few sockets, so this is
    cheap); raises OSError when that namespace may not be read (not root, pid gone).
    """
    from portdoctor.facts.sockets import read_proc_net_listening

    with open(f"/proc/{pid}/net/tcp", "rb"):  # raises when we may not look
        pass
    return read_proc_net_listening(f"/proc/{pid}/net")


def _enter_network_namespace(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if sys.version_info >= (3, 12):
            os.setns(fd, os.CLONE_NEWNET)
            return
        if _setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            import _ctypes

            errno = _ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    finally:
        os.close(fd)


_SETNS: list[Callable[[int, int], int]] = []


def _setns(fd: int, nstype: int) -> int:
    """libc's ``setns`` on Python 3.11 (``os.setns`` is 3.12's): 0, or -1 with the C errno set.

    Built from ``_ctypes`` the way ``ctypes.CDLL(None, use_errno=True).setns`` is:
    importing the ``ctypes`` package costs about 3 ms (it defines every C type), and
    only ``int`` is needed here.
    """
    if not _SETNS:
        import _ctypes

        class _CInt(_ctypes._SimpleCData):  # ctypes.c_int
            _type_ = "i"

        class _CFunction(_ctypes.CFuncPtr):  # a cdecl function returning int, errno saved
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = _CInt

        libc = _ctypes.dlopen(None, os.RTLD_LOCAL)  # type: ignore[arg-type]  # None: the program itself, as CDLL(None)
        _SETNS.append(_CFunction(_ctypes.dlsym(libc, "setns")))
    return int(_SETNS[0](fd, nstype))


def gather_namespaces(snap: Snapshot, machine: MachineFacts | None = None) -> None:
    """Scan every other network namespace for sockets on the target's port.

    Whether we run in a container and the namespace list (a /proc scan) are machine-wide:
    ``machine`` reads them once per run.
    """
    from portdoctor.facts.machine import MachineFacts
    from portdoctor.facts.sockets import resolve_owners

    machine = machine if machine is not None else MachineFacts()
    snap.in_container, why = machine.once("container_evidence", container_evidence)
    if why:
        snap.extras["in_container_evidence"] = why
    if not os.path.isdir("/proc/self/ns"):
        return
    if not snap.privileged:
        snap.visibility["namespaces"] = NOT_ROOT
    own, groups = _namespace_groups(snap, machine)
    netns_names = None
    foreign = sorted((inode, pids) for inode, pids in groups.items() if inode != own)
    asked = listeners_in_namespaces([pids[0] for _inode, pids in foreign], snap.port) if foreign else {}
    for inode, pids in foreign:
        sockets = _listeners_of(pids, snap.port, asked[pids[0]])
        ns = NetworkNamespace(inode, pids)
        snap.namespaces.append(ns)
        if not sockets:
            continue
        # Labels cost a few reads; only namespaces with a socket on the port pay them.
        if netns_names is None:
            netns_names = _netns_names()
        _label(ns, netns_names)
        for s in sockets:
            s.namespace = ns.label
            s.container = ns.container
        resolve_owners(sockets, snap, pids=pids)
        snap.sockets.extend(sockets)


def _namespace_groups(snap: Snapshot, machine: MachineFacts) -> tuple[int | None, dict[int, list[int]]]:
    """Our namespace's inode, and every namespace's processes. Without root the processes
    whose namespace link is unreadable are grouped by their /proc/PID/net (negative keys)."""
    import time

    own, groups = machine.namespace_groups()
    groups = dict(groups)  # the machine's grouping is shared by every target: extend a copy
    if snap.privileged:
        return own, groups
    seen = {pid for pids in groups.values() for pid in pids}
    others = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and int(e.name) not in seen]
    own_key, hidden = group_by_proc_net(others, time.monotonic() + HIDDEN_SCAN_SECONDS)
    for key, pids in hidden.items():
        if key != own_key:
            groups.setdefault(-key, pids)  # a negative key: not a namespace inode, never equal to ours
    return own, groups


def _listeners_of(pids: list[int], port: int, asked: list[Socket] | OSError) -> list[Socket]:
    """The listeners on ``port`` in the namespace of ``pids``: what netlink answered from inside
    it (``asked``: see :func:`listeners_in_namespaces`), else from the first readable /proc/PID/net."""
    from portdoctor.facts.sockets import read_proc_net_port

    if isinstance(asked, list):
        return asked
    sockets: list[Socket] = []
    for pid in pids:  # the first pid whose /proc/PID/net is readable
        sockets = [s for s in read_proc_net_port(port, f"/proc/{pid}/net") if s.listening]
        if sockets or os.path.exists(f"/proc/{pid}/net/tcp"):
            break
    return sockets


def _label(ns: NetworkNamespace, netns_names: dict[int, str]) -> None:
    """Name a namespace: ``netns:NAME`` (ip netns), ``net:[INODE] (pid P comm)``, or
    ``net:[hidden] (pid P comm)`` without root; and the container it belongs to, if any."""
    inode, pids = ns.inode, ns.pids
    ns.name = clean_text(netns_names.get(inode))
    for pid in pids:
        cgroup = _read(f"/proc/{pid}/cgroup")
        ns.container = container_from_cgroup(cgroup or "")
        if ns.container:
            break
    comm = (_read(f"/proc/{pids[0]}/comm") or "?").strip()
    if inode < 0:  # found through /proc/PID/net without root: the namespace's inode is hidden
        ns.inode = 0
        ns.label = clean_text(f"net:[hidden] (pid {pids[0]} {comm})")
    else:
        ns.label = clean_text(f"netns:{ns.name}" if ns.name else f"net:[{inode}] (pid {pids[0]} {comm})")
    ns.container = clean_text(ns.container)
