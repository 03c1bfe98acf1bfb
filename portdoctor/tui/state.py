"""The wizard's state, without Textual: what the screen shows, built from pipeline events.

:class:`DiagnosisRun` folds the engine's events (``Planned`` … ``Finished``) into rows,
one per check, so the widgets only draw. Also here, because they are plain logic that
tests can reach without a terminal. The saved-report history and the comparison of two
reports are :mod:`portdoctor.history`; the fix action the wizard offers is a check's
:class:`portdoctor.model.Action`, carried out by :mod:`portdoctor.actions`.
"""

from __future__ import annotations

from portdoctor.events import CheckFinished, CheckStarted, Event, Finished, Planned, Probed, Resolved
from portdoctor.model import Finding, Probe, Report, Status, Target
from portdoctor.records import dataclass, field

WAITING = "waiting"
RUNNING = "running"
NOT_RUN = "not run"  # the check's applies() left it out of this target's pipeline

# Worst first: the state a row shows when its check returned several findings.
_SEVERITY = [Status.ERROR, Status.FAIL, Status.WARN, Status.SKIP, Status.PASS]


@dataclass
class CheckRow:
    """One check in the pipeline, as the wizard shows it."""

    name: str
    title: str
    state: str = WAITING  # waiting | running | not run | pass | warn | fail | skip | error
    findings: list[Finding] = field(default_factory=list)

    @property
    def result(self) -> str:
        """The one-line result next to the check."""
        if self.findings:
            return self.findings[0].title
        return {WAITING: "waiting", RUNNING: "running…", NOT_RUN: "does not apply"}.get(self.state, "")

    def finish(self, findings: list[Finding]) -> None:
        self.findings = list(findings)
        statuses = {f.status for f in findings}
        self.state = next((str(s) for s in _SEVERITY if s in statuses), str(Status.SKIP))

    @property
    def command(self) -> str | None:
        """The first exact command among this check's remediation steps."""
        for finding in self.findings:
            for step in finding.remediation:
                if step.command:
                    return step.command
        return None


@dataclass
class DiagnosisRun:
    """One diagnosis of one target, as far as the events have told it."""

    target: Target
    rows: dict[str, CheckRow] = field(default_factory=dict)  # pipeline order
    addresses: list[str] | None = None  # None: not resolved yet
    resolve_error: str | None = None
    probes: list[Probe] | None = None  # None: not probed yet
    report: Report | None = None
    crashed: str | None = None  # the engine raised (a bug); shown instead of a verdict

    @property
    def finished(self) -> bool:
        return self.report is not None or self.crashed is not None

    @property
    def ok(self) -> bool:
        return self.report is not None and not self.report.failed

    @property
    def clean(self) -> bool:
        """Reachable and every check ran (what exit code 0 means); ``ok`` alone is what the
        screen and watch mode go by: a plugin in ``error`` does not keep watch mode going."""
        return self.ok and self.report is not None and not self.report.unverified

    def apply(self, event: Event) -> str | None:
        """Fold one pipeline event in; return the name of the check row it changed."""
        if isinstance(event, Planned):
            self.rows = {name: CheckRow(name, title) for name, title in event.checks}
        elif isinstance(event, Resolved):
            self.addresses, self.resolve_error = list(event.addresses), event.error
        elif isinstance(event, Probed):
            self.probes = list(event.probes)
        elif isinstance(event, CheckStarted):
            row = self.rows.setdefault(event.name, CheckRow(event.name, event.title))
            row.state = RUNNING
            return event.name
        elif isinstance(event, CheckFinished):
            name = event.findings[0].check if event.findings else None
            if name is not None:
                row = self.rows.setdefault(name, CheckRow(name, name))
                row.finish(event.findings)
                return name
        elif isinstance(event, Finished):
            self.report = event.report
            self.addresses = list(event.report.addresses)
            self.probes = list(event.report.probes)
            for row in self.rows.values():
                if row.state in (WAITING, RUNNING):
                    mine = [f for f in event.report.findings if f.check == row.name]
                    if mine:
                        row.finish(mine)
                    else:
                        row.state = NOT_RUN
            # Findings of checks that were never planned (should not happen) still show.
            for finding in event.report.findings:
                if finding.check not in self.rows:
                    self.rows[finding.check] = CheckRow(finding.check, finding.check)
                    self.rows[finding.check].finish([f for f in event.report.findings if f.check == finding.check])
        return None

    @property
    def verdict_row(self) -> str | None:
        """The check whose finding names the verdict's cause."""
        if self.report is not None and self.report.verdict.check in self.rows:
            return self.report.verdict.check
        return None
