"""The kernel's TCP listen-queue counters (``ListenOverflows``, ``ListenDrops``).

Linux counts, per network namespace, every connection it had to drop because a
listener's accept queue was full (``TcpExt: ListenOverflows``) and every drop at the
listen stage for any reason (``ListenDrops``) in ``/proc/net/netstat``. The counters
are namespace-wide and cumulative, so one reading says little: the pipeline reads them
just before the probes start and again after they end (see ``portdoctor.pipeline``),
and the difference is what *our* probes caused while the target was being tested.
Elsewhere (macOS, Windows, no /proc) the reading is None.
"""

from __future__ import annotations

import itertools
import os

from portdoctor.records import dataclass

NETSTAT = "/proc/net/netstat"


@dataclass
class ListenCounters:
    """One reading of the namespace's listen-queue counters."""

    overflows: int
    drops: int


@dataclass
class ListenCountersDelta:
    """The readings before and after the probes, and what changed between them."""

    before: ListenCounters
    after: ListenCounters

    @property
    def overflows(self) -> int:
        return max(0, self.after.overflows - self.before.overflows)

    @property
    def drops(self) -> int:
        return max(0, self.after.drops - self.before.drops)


def parse_netstat(text: str) -> ListenCounters | None:
    """Parse /proc/net/netstat text (header line + value line per group)."""
    lines = text.splitlines()
    for header, values in itertools.pairwise(lines):
        if not header.startswith("TcpExt:") or not values.startswith("TcpExt:"):
            continue
        table = dict(zip(header.split()[1:], values.split()[1:]))
        try:
            return ListenCounters(int(table["ListenOverflows"]), int(table["ListenDrops"]))
        except (KeyError, ValueError):
            return None
    return None


def read_listen_counters(path: str | os.PathLike[str] = NETSTAT) -> ListenCounters | None:
    """The current counters of this network namespace, or None where they cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_netstat(f.read())
    except OSError:
        return None


def delta(before: ListenCounters | None, after: ListenCounters | None) -> ListenCountersDelta | None:
    if before is None or after is None:
        return None
    return ListenCountersDelta(before, after)


# --- the privileged-port floor -------------------------------------------------------

UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


def unprivileged_port_floor(path: str | os.PathLike[str] = UNPRIVILEGED_PORT_START) -> int | None:
    """``net.ipv4.ip_unprivileged_port_start`` of this namespace (1024 by default; Docker
    sets 0 inside containers); None where it cannot be read (other OS, kernel < 4.11)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
