"""GitLab CI output: each target's report in a collapsible job-log section.

Used by the CLI when ``GITLAB_CI=true``. The markers are GitLab's:
``\\e[0Ksection_start:<unix time>:<name>[collapsed=true]\\r\\e[0K<header>`` …
``\\e[0Ksection_end:<unix time>:<name>\\r\\e[0K``. Targets that failed are left open so
the diagnosis is the first thing in the log; reachable ones are collapsed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping

from portdoctor.model import Report
from portdoctor.render.common import printable, report_label


def active(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITLAB_CI", "").lower() == "true"


def section_name(index: int, report: Report) -> str:
    """GitLab section names allow letters, digits, ``_``, ``.`` and ``-`` only."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", report_label(report)).strip("_")[:60]
    return f"portdoctor_{index}_{slug}"


def section_start(name: str, header: str, collapsed: bool, now: int | None = None) -> str:
    stamp = int(time.time() if now is None else now)
    option = "[collapsed=true]" if collapsed else ""
    return f"\x1b[0Ksection_start:{stamp}:{name}{option}\r\x1b[0K{header}\n"


def section_end(name: str, now: int | None = None) -> str:
    stamp = int(time.time() if now is None else now)
    return f"\x1b[0Ksection_end:{stamp}:{name}\r\x1b[0K\n"


def sectioned(reports: list[Report], render_one: Callable[[Report], str]) -> str:
    out = []
    for i, r in enumerate(reports, 1):
        name = section_name(i, r)
        state = "ok" if not r.failed else r.verdict.cause
        header = f"portdoctor {printable(report_label(r))}: {state}"
        out.append(section_start(name, header, collapsed=not r.failed))
        body = render_one(r)
        out.append(body if body.endswith("\n") else body + "\n")
        out.append(section_end(name))
    return "".join(out)
