"""The wizard's state, without Textual: what the screen shows, built from pipeline events.

:class:`DiagnosisRun` folds the engine's events (``Planned`` … ``Finished``) into rows,
one per check, so the widgets only draw. Also here, because they are plain logic that
tests can reach without a terminal: the saved-report history (:func:`saved_reports`)
and the comparison of two reports (:func:`compare_reports`). The fix action the wizard
offers is a check's :class:`portdoctor.model.Action`, carried out by :mod:`portdoctor.actions`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portdoctor.model import Finding, Outcome, Probe, Report, Socket, Status, Target, hostport, owner_label

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

    def apply(self, event: Any) -> str | None:
        """Fold one pipeline event in; return the name of the check row it changed."""
        kind = type(event).__name__
        if kind == "Planned":
            self.rows = {name: CheckRow(name, title) for name, title in event.checks}
        elif kind == "Resolved":
            self.addresses, self.resolve_error = list(event.addresses), event.error
        elif kind == "Probed":
            self.probes = list(event.probes)
        elif kind == "CheckStarted":
            row = self.rows.setdefault(event.name, CheckRow(event.name, event.title))
            row.state = RUNNING
            return event.name
        elif kind == "CheckFinished":
            name = event.findings[0].check if event.findings else None
            if name is not None:
                row = self.rows.setdefault(name, CheckRow(name, name))
                row.finish(event.findings)
                return name
        elif kind == "Finished":
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


def probe_text(probe: Probe) -> str:
    return f"{probe.address} {probe.outcome} {probe.ms:.1f} ms"


def worst_probe_outcome(probes: list[Probe]) -> Outcome | None:
    for outcome in (Outcome.TIMEOUT, Outcome.UNREACHABLE, Outcome.ERROR, Outcome.REFUSED, Outcome.OPEN):
        if any(p.outcome is outcome for p in probes):
            return outcome
    return None


# --- the history of saved reports --------------------------------------------------

FORMAT_OF_SUFFIX = {".md": "markdown", ".json": "json", ".txt": "text", ".xml": "junit"}


@dataclass(frozen=True)
class SavedReport:
    path: Path
    fmt: str
    modified: float

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def comparable(self) -> bool:
        """Only a JSON report carries the model back; the others are for reading."""
        return self.fmt == "json"


def saved_reports(folder: Path) -> list[SavedReport]:
    """The reports in ``folder``, newest first (names start with a UTC timestamp)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        fmt = FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if fmt is None or path.name.startswith(".") or not path.is_file():
            continue
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        found.append(SavedReport(path, fmt, modified))
    return sorted(found, key=lambda r: (r.path.name, r.modified), reverse=True)


def load_report_dict(path: Path, target_display: str | None = None) -> dict[str, Any]:
    """The report object of a saved JSON file (for several targets: the matching one)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    reports = data.get("reports") if isinstance(data, dict) and "reports" in data else [data]
    if not reports or not isinstance(reports[0], dict):
        raise ValueError(f"{path.name} holds no report")
    for report in reports:
        target = report.get("target") or {}
        if target_display and _display_of(target) == target_display:
            return report
    return reports[0]


def _display_of(target: dict[str, Any]) -> str:
    """``Target.display`` of a report's JSON ``target`` object."""
    prefix = "udp://" if target.get("protocol") == "udp" else ""
    return f"{prefix}{hostport(str(target.get('host', '')), target.get('port'))}"


# --- comparing two reports ----------------------------------------------------------


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from ``old`` to ``new``: verdict, each check's status, listeners.

    Both are report objects in the JSON shape (``Report.to_dict()``). Returns Markdown
    lines; an unchanged aspect says so, so the reader knows it was compared.
    """
    lines: list[str] = []
    ov, nv = old.get("verdict") or {}, new.get("verdict") or {}
    lines.append("## Verdict")
    if (ov.get("cause"), ov.get("reachable")) == (nv.get("cause"), nv.get("reachable")):
        lines.append(f"- unchanged: **{nv.get('cause')}** ({_reach(nv)})")
    else:
        lines.append(f"- was **{ov.get('cause')}** ({_reach(ov)}): {ov.get('summary', '')}")
        lines.append(f"- now **{nv.get('cause')}** ({_reach(nv)}): {nv.get('summary', '')}")

    lines.append("")
    lines.append("## Findings")
    old_f = {f.get("check"): f for f in old.get("findings") or []}
    new_f = {f.get("check"): f for f in new.get("findings") or []}
    changed = False
    for name in list(old_f) + [n for n in new_f if n not in old_f]:
        before, after = old_f.get(name), new_f.get(name)
        if before is None:
            lines.append(f"- `{name}`: new, **{after.get('status')}**: {after.get('title')}")
        elif after is None:
            lines.append(f"- `{name}`: no longer run (was **{before.get('status')}**)")
        elif before.get("status") != after.get("status") or before.get("cause") != after.get("cause"):
            lines.append(f"- `{name}`: **{before.get('status')}** → **{after.get('status')}**: {after.get('title')}")
        else:
            continue
        changed = True
    if not changed:
        lines.append("- every check has the same status")

    lines.append("")
    lines.append("## Listeners")
    old_l = {_listener_key(s) for s in old.get("listeners") or []}
    new_l = {_listener_key(s) for s in new.get("listeners") or []}
    for key in sorted(new_l - old_l, key=str):
        lines.append(f"- new: {_listener_text(key)}")
    for key in sorted(old_l - new_l, key=str):
        lines.append(f"- gone: {_listener_text(key)}")
    if old_l == new_l:
        lines.append(f"- the same {len(new_l)} listener(s)" if new_l else "- none, as before")
    return lines


def _reach(verdict: dict[str, Any]) -> str:
    return "reachable" if verdict.get("reachable") else "not reachable"


def _listener_key(s: dict[str, Any]) -> tuple:
    return (s.get("protocol"), s.get("address"), s.get("port"), s.get("pid"), s.get("process"), s.get("namespace"))


def _listener_text(key: tuple) -> str:
    protocol, address, port, pid, process, namespace = key
    owner = owner_label(Socket(protocol or "tcp", 4, str(address), port or 0, "LISTEN", pid=pid, process=process))
    where = f" in {namespace}" if namespace else ""
    return f"{protocol} {hostport(str(address), port)} {owner}{where}"
