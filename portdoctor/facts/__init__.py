"""Facts about this machine, gathered once per diagnosis into a :class:`Snapshot`.

Checks read the snapshot; they never gather facts themselves. What is the same for
every target (rules, interfaces, the namespace list) comes from the run's
:class:`~portdoctor.facts.machine.MachineFacts`, read once; :func:`gather` adds the
per-port view, and :func:`gather_during` reads it while the probes run. Tests build
snapshots from fixture data. Each source records why it could not see something in
``Snapshot.visibility`` so that checks can ``skip`` honestly instead of guessing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from portdoctor.model import Socket

if TYPE_CHECKING:  # the types only: these modules are imported when their facts are gathered
    from portdoctor.facts.machine import MachineFacts
    from portdoctor.facts.namespaces import NetworkNamespace
    from portdoctor.facts.rules import DnatRule, FirewallFacts

T = TypeVar("T")


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

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

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
        ``extras[name]`` before the check runs.
        """
        with self._lock:
            if name not in self.extras:
                start = time.perf_counter()
                try:
                    self.extras[name] = gatherer(self)
                except Exception as exc:  # noqa: BLE001 - reported as missing visibility
                    self.extras[name] = None
                    self.visibility[name] = f"could not be read: {type(exc).__name__}: {exc}"
                self.timings_ms[name] = (time.perf_counter() - start) * 1000
            return self.extras[name]


def gather(port: int, protocol: str = "tcp", machine: MachineFacts | None = None) -> Snapshot:
    """Read the machine for this port. Never raises for missing visibility.

    ``machine`` holds what is the same for every target of a run (rules, interfaces, the
    namespace list), read once and shared; without it, a fresh reading is made.
    """
    from portdoctor.facts import firewall, namespaces, nat, sockets
    from portdoctor.facts.machine import MachineFacts

    machine = machine if machine is not None else MachineFacts()
    snap = Snapshot(port=port, protocol=protocol, environ=dict(os.environ))
    snap.privileged = sockets.is_privileged()
    for name, fn in (
        ("sockets", lambda: sockets.gather_sockets(snap)),
        ("namespaces", lambda: namespaces.gather_namespaces(snap, machine)),
        ("interfaces", lambda: snap.interfaces.extend(machine.interfaces())),
        ("firewall", lambda: firewall.gather_firewall(snap, machine.ruleset())),
        ("nat", lambda: nat.gather_dnat(snap)),  # reads the firewall facts: keep it after them
    ):
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a fact source must not break the diagnosis
            snap.visibility[name] = f"could not be read: {type(exc).__name__}: {exc}"
        snap.timings_ms[name] = (time.perf_counter() - start) * 1000
    return snap


def gather_during(probing: Callable[[], T], port: int, protocol: str,
                  gather_facts: Callable[[int, str], Snapshot]) -> tuple[Snapshot, T]:
    """Read the facts while ``probing()`` runs in a thread; return (snapshot, its result).

    The kernel's listen-overflow counters are namespace-wide and cumulative: they are read
    just before the probes start and just after they end, so the difference is what our
    probes met (``extras["listen_counters"]``, read by the backlog check).
    """
    from portdoctor.bounded import Background
    from portdoctor.facts import netstat

    listen_before = netstat.read_listen_counters()
    running = Background(probing, "probe")
    snapshot = gather_facts(port, protocol)
    result: T = running.result()
    snapshot.extras.setdefault("listen_counters", netstat.delta(listen_before, netstat.read_listen_counters()))
    return snapshot, result
