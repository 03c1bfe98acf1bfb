"""Facts about this machine, gathered once per diagnosis into a :class:`Snapshot`.

Checks read the snapshot; they never gather facts themselves. Tests build snapshots
from fixture data. Each source records why it could not see something in
``Snapshot.visibility`` so that checks can ``skip`` honestly instead of guessing.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from portdoctor.model import Socket


@dataclass
class InterfaceAddress:
    interface: str  # "lo", "eth0"
    address: str  # "127.0.0.1", "::1", "fe80::1%eth0"
    family: int  # 4 | 6


@dataclass
class Snapshot:
    """Everything the checks know about this machine, for one target port."""

    port: int
    protocol: str = "tcp"
    # Every socket whose local port is the target's port: TCP and UDP, IPv4 and IPv6,
    # every state, this namespace and every other namespace we can see.
    sockets: list[Socket] = field(default_factory=list)
    interfaces: list[InterfaceAddress] = field(default_factory=list)
    firewall: Any = None  # portdoctor.facts.firewall.FirewallFacts, or None if not gathered
    privileged: bool = False  # could we see every process's sockets and owners
    os: str = field(default_factory=lambda: platform.system().lower())  # linux, darwin, windows
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

    def lazy(self, name: str, gatherer: Callable[["Snapshot"], Any]) -> Any:
        """A fact that only some checks need, gathered on first use and kept in ``extras``.

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


def gather(port: int, protocol: str = "tcp") -> Snapshot:
    """Read the machine once for this port. Never raises for missing visibility."""
    from portdoctor.facts import firewall, interfaces, sockets

    snap = Snapshot(port=port, protocol=protocol, environ=dict(os.environ))
    snap.privileged = sockets.is_privileged()
    for name, fn in (
        ("sockets", lambda: sockets.gather_sockets(snap)),
        ("interfaces", lambda: interfaces.gather_interfaces(snap)),
        ("firewall", lambda: firewall.gather_firewall(snap)),
    ):
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a fact source must not break the diagnosis
            snap.visibility[name] = f"could not be read: {type(exc).__name__}: {exc}"
        snap.timings_ms[name] = (time.perf_counter() - start) * 1000
    return snap
