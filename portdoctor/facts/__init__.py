"""Facts about this machine, gathered once per diagnosis into a :class:`Snapshot`.

Checks read the snapshot; they never gather facts themselves. What is the same for
every target (rules, interfaces, the namespace list) comes from the run's
:class:`~portdoctor.facts.machine.MachineFacts`, read once; :func:`gather` adds the
per-port view, and :func:`gather_during` reads it while the probes run. Tests build
snapshots from fixture data. Each source records why it could not see something in
``Snapshot.visibility`` so that checks can ``skip`` honestly instead of guessing.

Bounded by the clock: reading the machine for one target ends within
:data:`FACTS_SECONDS` (a source still reading then, say a ``/proc`` file behind a hung
FUSE or lxcfs mount, is abandoned: it and the sources after it are named in
``visibility`` and ``unread``); a lazy fact ends within the deadline of the check that
asked for it, less :data:`LAZY_MARGIN` so that the check can still skip (and within
:data:`LAZY_FACT_SECONDS` outside a check). What was not read is a note, never a cause.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from portdoctor.model import Socket
from portdoctor.records import dataclass, field, replace

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:  # the types only: these modules are imported when their facts are gathered
    from typing import Any, TypeVar

    from portdoctor.facts.machine import MachineFacts
    from portdoctor.facts.namespaces import NetworkNamespace
    from portdoctor.facts.rules import DnatRule, FirewallFacts

    T = TypeVar("T")

FACTS_SECONDS = 8.0  # reading the machine for one target (the eager sources together)
LAZY_FACT_SECONDS = 8.0  # one lazy fact asked for outside a check's deadline
LAZY_MARGIN = 0.5  # of a check's deadline, kept for the check to skip when a lazy fact is not read
COUNTERS_SECONDS = 1.0  # each read of the listen-overflow counters around the probes

_check_deadline = threading.local()


def within(deadline: float, fn: Callable[[], T]) -> T:
    """``fn()``, with every lazy fact it reads bounded by ``deadline`` (``time.monotonic()``)."""
    previous = getattr(_check_deadline, "at", None)
    _check_deadline.at = deadline
    try:
        return fn()
    finally:
        _check_deadline.at = previous


def _lazy_budget() -> float:
    at = getattr(_check_deadline, "at", None)
    return LAZY_FACT_SECONDS if at is None else max(0.0, at - time.monotonic() - LAZY_MARGIN)


def os_kind() -> str:
    """"linux", "darwin", "windows", or another lower-case kernel name.

    What ``platform.system().lower()`` gives, without importing platform (~1.5 ms).
    """
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform in ("win32", "cygwin"):
        return "windows"
    return os.uname().sysname.lower() if hasattr(os, "uname") else sys.platform


@dataclass
class InterfaceAddress:
    """One address on one of this machine's interfaces."""

    interface: str  # "lo", "eth0"
    address: str  # "127.0.0.1", "::1", "fe80::1%eth0"
    family: int  # 4 | 6
    prefixlen: int | None = None  # 8 for 127.0.0.1/8, when known


@dataclass
class Snapshot:
    """Everything the checks know about this machine, for one target port."""

    port: int
    protocol: str = "tcp"
    # Every socket whose local port is the target's port: TCP and UDP, IPv4 and IPv6,
    # every state, this namespace and every other namespace we can see.
    sockets: list[Socket] = field(default_factory=list)
    interfaces: list[InterfaceAddress] = field(default_factory=list)
    # Every TCP LISTEN / bound UDP socket in our own namespace on ANY port (no owners):
    # for "did you mean port 8080?" hints and well-known services.
    all_listening: list[Socket] = field(default_factory=list)
    # The other network namespaces that were scanned.
    namespaces: list[NetworkNamespace] = field(default_factory=list)
    # portdoctor itself runs inside a container: "docker", "podman", "kubernetes", ...; else None.
    in_container: str | None = None
    firewall: FirewallFacts | None = None  # None if not gathered
    # NAT rules / docker-proxy forwards that can apply to this port: a published port
    # that answers without a listener.
    dnat: list[DnatRule] = field(default_factory=list)
    privileged: bool = False  # could we see every process's sockets and owners
    os: str = field(default_factory=os_kind)  # linux, darwin, windows
    environ: dict[str, str] = field(default_factory=dict)
    # source name -> why it could not be read fully ("owners": "run as root to see ...")
    visibility: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Facts contributed by optional gatherers, keyed by name.
    extras: dict[str, Any] = field(default_factory=dict)
    # The sources and lazy facts not read because their deadline passed (see visibility).
    unread: list[str] = field(default_factory=list)

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _reading: dict[str, _Reading] = field(default_factory=dict, repr=False, compare=False)

    @property
    def listening(self) -> list[Socket]:
        return [s for s in self.sockets if s.listening]

    def is_local(self, address: str) -> bool:
        """Is ``address`` this machine's: loopback, unspecified, or on one of its interfaces?

        Checks about local sockets step aside for other addresses (a remote target).
        """
        import ipaddress

        bare = address.split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(bare)
        except ValueError:
            return False
        if ip.is_loopback or ip.is_unspecified:
            return True
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if mapped is not None and self.is_local(str(mapped)):  # ::ffff:127.0.0.1 and the like
            return True
        return any(i.address.split("%", 1)[0] == bare for i in self.interfaces)

    def interface_of(self, address: str) -> str | None:
        """The interface that holds ``address`` (loopback addresses: "lo"), or None."""
        import ipaddress

        bare = address.split("%", 1)[0]
        try:
            if ipaddress.ip_address(bare).is_loopback:
                return "lo"
        except ValueError:
            return None
        for i in self.interfaces:
            if i.address.split("%", 1)[0] == bare:
                return i.interface
        return None

    def serves(self, sock: Socket, address: str) -> bool:
        """Would a connection to ``address`` on the socket's port reach this listening socket?

        Honours wildcards, IPV6_V6ONLY, IPv4-mapped IPv6 binds and SO_BINDTODEVICE.
        """
        bare = address.split("%", 1)[0]
        if sock.interface:
            held_by = self.interface_of(bare)
            if held_by is not None and held_by != sock.interface:
                return False
        bound = sock.address.split("%", 1)[0]
        v6_target = ":" in bare
        if sock.family == 4:
            return not v6_target and bound in (bare, "0.0.0.0", "*", "")
        if v6_target:
            return bound in (bare, "::", "*", "")
        if bound == f"::ffff:{bare}":
            return True
        # An IPv6 wildcard accepts IPv4 unless IPV6_V6ONLY (Linux default: net.ipv6.bindv6only=0).
        return bound in ("::", "*", "") and sock.v6only is not True

    def lazy(self, name: str, gatherer: Callable[[Snapshot], T]) -> T | None:
        """A fact that only some checks need, gathered on first use and kept in ``extras``
        (``None`` when it could not be read: the reason is in ``visibility[name]``).

        Costly sources (systemd, the process table) go through here so that a healthy
        target does not pay for them. Tests inject fixture data by setting
        ``extras[name]`` before the check runs. The gatherer runs in a thread of its own,
        bounded by the asking check's deadline (see :func:`within`): past it that check
        gets ``None`` and the fact is named in ``visibility`` and ``unread`` (until it
        arrives, for the checks that ask later).
        """
        with self._lock:
            if name in self.extras:
                return self.extras[name]
            reading = self._reading.get(name)
            if reading is None:
                reading = self._reading[name] = _Reading(self, name, gatherer)
        return reading.wait(_lazy_budget())


class _Reading:
    """One lazy fact being gathered, in a daemon thread; every check asking for it waits here."""

    def __init__(self, snapshot: Snapshot, name: str, gatherer: Callable[[Snapshot], Any]) -> None:
        self.snapshot, self.name, self.gatherer = snapshot, name, gatherer
        self.started = time.perf_counter()
        self.done = threading.Event()
        threading.Thread(target=self._run, name=f"portdoctor-fact-{name}", daemon=True).start()

    def _run(self) -> None:
        why = None
        try:
            value = self.gatherer(self.snapshot)
        except Exception as exc:  # noqa: BLE001 - reported as missing visibility
            value, why = None, f"could not be read: {type(exc).__name__}: {exc}"
        snap = self.snapshot
        with snap._lock:
            snap.extras[self.name] = value  # for the checks that ask from now on
            if why:
                snap.visibility[self.name] = why
            elif self.name in snap.unread:  # late, but here: no longer missing
                snap.unread.remove(self.name)
                snap.visibility.pop(self.name, None)
            snap.timings_ms[self.name] = (time.perf_counter() - self.started) * 1000
        self.done.set()

    def wait(self, seconds: float) -> Any:
        """The fact, or None when it is not there within ``seconds`` (this caller's budget:
        a check with more time left, asking later, may still get it)."""
        snap = self.snapshot
        if self.done.wait(seconds):
            return snap.extras[self.name]
        with snap._lock:
            if self.name in snap.extras:
                return snap.extras[self.name]
            if self.name not in snap.unread:
                snap.unread.append(self.name)
                snap.visibility[self.name] = (f"not read: still reading after {time.perf_counter() - self.started:.1f} s, "
                                              "past the deadline of the check that asked for it")
        return None


def gather(port: int, protocol: str = "tcp", machine: MachineFacts | None = None,
           seconds: float = FACTS_SECONDS) -> Snapshot:
    """Read the machine for this port, within ``seconds``. Never raises for missing visibility.

    ``machine`` holds what is the same for every target of a run (rules, interfaces, the
    namespace list), read once and shared; without it, a fresh reading is made.
    """
    from portdoctor.facts import firewall, namespaces, nat, sockets
    from portdoctor.facts.machine import MachineFacts

    machine = machine if machine is not None else MachineFacts()
    snap = Snapshot(port=port, protocol=protocol, environ=dict(os.environ))
    snap.privileged = sockets.is_privileged()
    sources: list[tuple[str, Callable[[Snapshot], Any]]] = [
        ("sockets", lambda s: sockets.gather_sockets(s, machine)),
        ("namespaces", lambda s: namespaces.gather_namespaces(s, machine)),
        ("interfaces", lambda s: s.interfaces.extend(machine.interfaces())),
        ("firewall", lambda s: firewall.gather_firewall(s, machine.ruleset())),
        ("nat", nat.gather_dnat),  # reads the firewall facts: keep it after them
    ]
    return _read_sources(snap, sources, seconds)


def _read_sources(snap: Snapshot, sources: list[tuple[str, Callable[[Snapshot], Any]]], seconds: float) -> Snapshot:
    """Run the sources in order, in a daemon thread, until ``seconds`` have passed.

    Each source works on a copy of the snapshot that is adopted once it finishes, so an
    abandoned source never changes what the checks read. Past the deadline, the source
    still running and those after it are named in ``visibility`` and ``unread``.
    """
    state = {"snapshot": snap, "done": 0, "abandoned": False}
    guard = threading.Lock()
    finished = threading.Event()

    def read_all() -> None:
        current = snap
        for name, fn in sources:
            work = _copy(current)
            start = time.perf_counter()
            try:
                fn(work)
            except Exception as exc:  # noqa: BLE001 - a fact source must not break the diagnosis
                work.visibility[name] = f"could not be read: {type(exc).__name__}: {exc}"
            work.timings_ms[name] = (time.perf_counter() - start) * 1000
            with guard:
                if state["abandoned"]:
                    return
                state["snapshot"], state["done"] = work, int(state["done"]) + 1  # type: ignore[call-overload]
            current = work
        finished.set()

    threading.Thread(target=read_all, name="portdoctor-facts", daemon=True).start()
    if finished.wait(seconds):
        return state["snapshot"]  # type: ignore[return-value]
    with guard:
        state["abandoned"] = True
        result: Snapshot = state["snapshot"]  # type: ignore[assignment]
        done = int(state["done"])  # type: ignore[call-overload]
    for i, (name, _fn) in enumerate(sources[done:]):
        result.unread.append(name)
        result.visibility[name] = (f"not read: still reading it when the {seconds:g} s deadline for reading this "
                                   "machine passed (a hung /proc or FUSE read?)" if i == 0 else
                                   f"not read: the {seconds:g} s deadline for reading this machine had passed")
    return result


def _copy(snap: Snapshot) -> Snapshot:
    """A copy whose lists and dicts are its own (the objects in them are shared)."""
    return replace(snap, sockets=list(snap.sockets), interfaces=list(snap.interfaces),
                   all_listening=list(snap.all_listening), namespaces=list(snap.namespaces),
                   dnat=list(snap.dnat), visibility=dict(snap.visibility), timings_ms=dict(snap.timings_ms),
                   extras=dict(snap.extras), unread=list(snap.unread), _lock=threading.Lock(), _reading={})


def gather_during(probing: Callable[[], T], port: int, protocol: str,
                  gather_facts: Callable[[int, str], Snapshot]) -> tuple[Snapshot, T]:
    """Read the facts while ``probing()`` runs in a thread; return (snapshot, its result).

    The kernel's listen-overflow counters are namespace-wide and cumulative: they are read
    just before the probes start and just after they end, so the difference is what our
    probes met (``extras["listen_counters"]``, read by the backlog check).
    """
    from portdoctor.bounded import Background, Overrun, call_with_timeout
    from portdoctor.facts import netstat

    def counters() -> netstat.ListenCounters | None:
        """The counters, or None when /proc does not answer within a second (a hung read)."""
        try:
            return call_with_timeout(netstat.read_listen_counters, COUNTERS_SECONDS, name="listen counters")
        except Overrun:
            return None

    listen_before = counters()
    running = Background(probing, "probe")
    snapshot = gather_facts(port, protocol)
    result: T = running.result()
    snapshot.extras.setdefault("listen_counters", netstat.delta(listen_before, counters()))
    return snapshot, result
