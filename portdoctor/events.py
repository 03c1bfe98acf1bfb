"""The pipeline's events: how the wizard (or any ``on_event`` callback) follows a diagnosis.

:func:`portdoctor.pipeline.diagnose` creates them only when it is given an ``on_event``
callback, so a ``--report`` run never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable

from portdoctor.facts import Snapshot
from portdoctor.model import Finding, Probe, Report, Target
from portdoctor.records import dataclass


@dataclass
class Planned:
    """The checks that will run for the target, in pipeline order."""

    target: Target
    checks: list[tuple[str, str]]  # (name, title), in pipeline order


@dataclass
class Resolved:
    """The target's name resolved (``addresses``) or did not (``error``)."""

    target: Target
    addresses: list[str]
    error: str | None


@dataclass
class Probed:
    """One connection attempt per address, done."""

    target: Target
    probes: list[Probe]


@dataclass
class FactsGathered:
    """The machine's facts for the target's port, read."""

    target: Target
    snapshot: Snapshot


@dataclass
class CheckStarted:
    """A check began."""

    target: Target
    name: str
    title: str


@dataclass
class CheckFinished:
    """A check ended with these findings."""

    target: Target
    findings: list[Finding]


@dataclass
class Finished:
    """The diagnosis is complete."""

    target: Target
    report: Report


Event = Planned | Resolved | Probed | FactsGathered | CheckStarted | CheckFinished | Finished
EventSink = Callable[[Event], object]  # what it returns is ignored

__all__ = ["CheckFinished", "CheckStarted", "Event", "EventSink", "FactsGathered", "Finished", "Planned",
           "Probed", "Resolved"]
