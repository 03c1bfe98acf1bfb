"""``--wait SECONDS``: poll targets until every one accepts, or the time runs out.

:func:`wait_until_up` resolves and probes the pending targets concurrently, each
attempt bounded, with a short interval that backs off (0.1 s growing to 1 s). It
returns as soon as every target is reachable: its first address in resolver order
accepts (the one definition, :func:`portdoctor.model.reachable`, that the report uses).
Progress goes through a :class:`Progress` on stderr: a live line on a terminal, one
line per state change otherwise (CI logs). The CLI runs the full diagnosis when the
wait times out.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from portdoctor.bounded import parallel_map
from portdoctor.model import Outcome, Target, clients_that_fail_on, reachable
from portdoctor.probe import probe_all
from portdoctor.records import dataclass, field
from portdoctor.resolve import resolve
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import TextIO

FIRST_INTERVAL = 0.1
MAX_INTERVAL = 1.0
BACKOFF = 1.5
UP = "up"


class Up(str):
    """``"up"`` (equal to :data:`UP`), carrying the later addresses that still fail: reachable
    by the resolver-order rule, yet the clients that try those addresses do not connect."""

    failing: tuple[tuple[str, str], ...]  # (address, outcome), in resolver order

    def __new__(cls, failing: tuple[tuple[str, str], ...] = ()) -> Up:
        up = super().__new__(cls, UP)
        up.failing = tuple(failing)
        return up


@dataclass
class WaitResult:
    ready: bool
    elapsed: float
    states: dict[str, str] = field(default_factory=dict)  # target display -> last state
    up_after: dict[str, float] = field(default_factory=dict)  # target display -> seconds

    def failing_addresses(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Targets that are up but whose later addresses still fail: {display: ((address, outcome), ...)}."""
        return {k: v.failing for k, v in self.states.items() if isinstance(v, Up) and v.failing}


def attempt(target: Target, timeout: float) -> str:
    """One bounded attempt: ``"up"`` (an :class:`Up`), or a short word for what is still wrong."""
    addresses, error = resolve(target.host, target.port, target.protocol, timeout=max(timeout, 0.1))
    if error:
        return "does not resolve yet"
    probes = probe_all(addresses, target.port, target.protocol, timeout)
    if reachable(probes):
        return Up(tuple((p.address, str(p.outcome)) for p in probes[1:] if p.outcome is not Outcome.OPEN))
    outcomes = []
    for p in probes:
        if p.outcome is not Outcome.OPEN and str(p.outcome) not in outcomes:
            outcomes.append(str(p.outcome))
    if len(addresses) > 1 and any(p.outcome is Outcome.OPEN for p in probes):
        return f"{probes[0].address} (first in resolver order) " + "/".join(outcomes) + ", open on others"
    return "/".join(outcomes) or "no address"


class Progress:
    """Where the waiting is told: a live line on a terminal, else a line per change."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.last: dict[str, str] = {}
        self._drawn = False

    def update(self, states: dict[str, str], elapsed: float, total: float) -> None:
        if self.live:
            pending = {k: v for k, v in states.items() if v != UP}
            what = ", ".join(f"{k} {v}" for k, v in pending.items()) or "all up"
            line = f"portdoctor: waiting {elapsed:4.1f}/{total:g} s: {what}"
            self.stream.write("\r\x1b[K" + line[:200])
            self._drawn = True
        else:
            for key, state in states.items():
                if self.last.get(key) != state:
                    if state == UP:
                        self.stream.write(f"portdoctor: {key} is up after {elapsed:.1f} s\n")
                    else:
                        self.stream.write(f"portdoctor: waiting for {key}: {state} ({elapsed:.1f}/{total:g} s)\n")
        self.last = dict(states)
        self.stream.flush()

    def finish(self, message: str) -> None:
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(message + "\n")
        self.stream.flush()


def failing_lines(result: WaitResult) -> list[str]:
    """One warning line per address that still fails on a target that is up (cleaned, bounded):
    ``--wait`` succeeds by the resolver-order rule, and says which clients it leaves out."""
    lines = []
    for display, failing in result.failing_addresses().items():
        who = clients_that_fail_on([address for address, _ in failing])
        for address, outcome in failing:
            lines.append(clean_text(f"portdoctor: warning: {display} is up on its first address, but {address} is "
                                    f"{outcome}: {who} will fail.", limit=400))
    return lines


def wait_until_up(
    targets: list[Target],
    seconds: float,
    attempt_timeout: float,
    progress: Progress | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    try_once: Callable[[Target, float], str] = attempt,
) -> WaitResult:
    """Poll until every target is up (ready=True) or ``seconds`` have passed."""
    start = clock()
    deadline = start + seconds
    keys = [t.display for t in targets]
    states = dict.fromkeys(keys, "not tried yet")
    up_after: dict[str, float] = {}
    interval = FIRST_INTERVAL
    while True:
        remaining = deadline - clock()
        pending = [t for t in targets if states[t.display] != UP]
        per_try = max(min(attempt_timeout, remaining), 0.05)
        results = parallel_map(lambda t: try_once(t, per_try), pending, max_workers=32)  # noqa: B023 (waited on here)
        now = clock()
        for t, state in zip(pending, results):
            states[t.display] = state
            if state == UP:
                up_after.setdefault(t.display, now - start)
        if progress:
            progress.update(states, now - start, seconds)
        if all(states[k] == UP for k in keys):
            return WaitResult(True, now - start, dict(states), up_after)
        remaining = deadline - now
        if remaining <= 0:
            return WaitResult(False, now - start, dict(states), up_after)
        sleep(min(interval, remaining))
        interval = min(interval * BACKOFF, MAX_INTERVAL)
