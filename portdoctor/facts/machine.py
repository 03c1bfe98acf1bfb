"""Facts that are the same for every target of a run, read once and shared.

The packet-filter and NAT rules, the interface addresses, the list of network
namespaces and whether portdoctor runs in a container do not depend on the target's
port: five targets diagnosed together read them once, not five times (one ``nft -j``
and one ``iptables-save`` per run). A :class:`MachineFacts` is made per run (the CLI
makes one for all its targets; the wizard one per diagnosis, so that a re-run after a
fix sees the new rules); each target's :class:`~portdoctor.facts.Snapshot` gets these
shared, read-only values and adds its per-port view (sockets, DNAT forwards for its
port, listeners in other namespaces).

Each fact is read on first use, under a lock of its own, so concurrent targets wait for
the one reading instead of starting their own. A reading that raises is remembered and
raised again to every target, which records it as missing visibility.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from portdoctor.facts import InterfaceAddress
    from portdoctor.facts.rules import Ruleset

    T = TypeVar("T")


class MachineFacts:
    """The machine-wide facts of one run, each read once, on first use (thread-safe)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[bool, Any]] = {}  # name -> (ok, value or exception)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._rules_started: Callable[[], Ruleset] | None = None

    def once(self, name: str, read: Callable[[], T]) -> T:
        """``read()``'s value, read by the first caller only; later callers get the same value."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._values:
                try:
                    self._values[name] = (True, read())
                except Exception as exc:  # noqa: BLE001 - raised again to every caller below
                    self._values[name] = (False, exc)
            ok, value = self._values[name]
        if not ok:
            raise value
        return value

    def start_rule_dumps(self) -> None:
        """Start the rule dumps now, to be read by :meth:`ruleset` (a report run does this
        before it loads the checks, so ``nft`` and ``iptables-save`` run meanwhile)."""
        from portdoctor.facts.rule_dumps import start_dumps

        started = start_dumps()
        from portdoctor.facts.rules.read import start_reading

        with self._guard:
            if self._rules_started is None:
                self._rules_started = start_reading(started=started)
                return
        started[1].stop()  # already started by another caller

    def ruleset(self) -> Ruleset:
        """The packet-filter and NAT rules (``nft -j``, ``iptables-save``, ...; bounded)."""
        from portdoctor.facts import firewall

        return self.once("ruleset", self._rules_started or firewall.read_firewall)

    def interfaces(self) -> list[InterfaceAddress]:
        """The local interface addresses (one netlink dump)."""
        from portdoctor.facts.interfaces import read_interfaces

        return self.once("interfaces", read_interfaces)

    def namespace_groups(self) -> tuple[int | None, dict[int, list[int]]]:
        """Our network namespace's inode, and every namespace's inode -> its pids (a /proc scan)."""
        from portdoctor.facts.namespaces import list_namespaces

        return self.once("namespace_groups", list_namespaces)


def gather_init_process(snap: object = None) -> str | None:
    """The name of PID 1 ("systemd", "init", "tini", ...); None where it cannot be read.

    A gatherer for the ``INIT_PROCESS`` lazy fact: systemctl/journalctl advice only where
    systemd runs.
    """
    from portdoctor.sanitize import clean_text

    try:
        with open("/proc/1/comm", encoding="utf-8", errors="replace") as f:
            return clean_text(f.read().strip()) or None
    except OSError:
        return None


__all__ = ["MachineFacts", "gather_init_process"]
