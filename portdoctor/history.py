"""Saved reports: the history in the reports folder, and what changed between two reports.

``--save`` keeps each report in the user's reports folder under a UTC-timestamped name
(:func:`portdoctor.output.save_report`). :func:`saved_reports` lists them newest first,
:func:`load_report_dict` reads a JSON one back (the matching target of a multi-target
file), and :func:`compare_reports` says what changed from one report to another. The
wizard's history screen is a view of these; nothing here needs a terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

from portdoctor.model import Socket, Target, hostport, owner_label
from portdoctor.output import FORMAT_EXTENSION
from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

# --- the history of saved reports --------------------------------------------------

# The extension --save gives each format, read backwards.
FORMAT_OF_SUFFIX = {suffix: fmt for fmt, suffix in FORMAT_EXTENSION.items()}


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
    """``Target.display`` of a report's JSON ``target`` object (a Unix socket's: ``unix://PATH``)."""
    port, path = target.get("port"), target.get("path")
    return Target(input="", host=str(target.get("host", "")), port=port if isinstance(port, int) else 0,
                  protocol=str(target.get("protocol", "tcp")), path=path if isinstance(path, str) else None).display


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
        before, after = old_f.get(name, {}), new_f.get(name, {})
        if name not in new_f:
            lines.append(f"- `{name}`: no longer run (was **{before.get('status')}**)")
        elif name not in old_f:
            lines.append(f"- `{name}`: new, **{after.get('status')}**: {after.get('title')}")
        elif before.get("status") != after.get("status") or before.get("cause") != after.get("cause"):
            lines.append(f"- `{name}`: **{before.get('status')}** → **{after.get('status')}**: {after.get('title')}")
        else:
            continue
        changed = True
    if not changed:
        lines.append("- every check has the same status")

    lines.append("")
    lines.append("## Listeners")
    old_l = {_listener_key(s): s for s in old.get("listeners") or []}
    new_l = {_listener_key(s): s for s in new.get("listeners") or []}
    for key in sorted(new_l.keys() - old_l.keys(), key=str):
        lines.append(f"- new: {_listener_text(new_l[key])}")
    for key in sorted(old_l.keys() - new_l.keys(), key=str):
        lines.append(f"- gone: {_listener_text(old_l[key])}")
    if old_l.keys() == new_l.keys():
        lines.append(f"- the same {len(new_l)} listener(s)" if new_l else "- none, as before")
    return lines


def _reach(verdict: dict[str, Any]) -> str:
    return "reachable" if verdict.get("reachable") else "not reachable"


def _listener_key(s: dict[str, Any]) -> tuple:
    return (s.get("protocol"), s.get("address"), s.get("port"), s.get("pid"), s.get("process"), s.get("namespace"))


def _listener_text(s: dict[str, Any]) -> str:
    """``tcp 127.0.0.1:8080 nginx (pid 12, user www) in ns``: the one owner label, from a saved report."""
    sock = Socket.from_listener_dict(s)
    where = f" in {sock.namespace}" if sock.namespace else ""
    return f"{sock.protocol} {hostport(sock.address, sock.port)} {owner_label(sock)}{where}"
