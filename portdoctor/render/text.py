"""Plain-text report for terminals and logs. (Minimal; to be completed.)"""

from __future__ import annotations

from portdoctor.model import Report


def render_text(reports: list[Report], *, color: bool = False) -> str:
    out = []
    for r in reports:
        out.append(f"{r.target.display}: {r.verdict.cause} - {r.verdict.summary}")
        for f in r.findings:
            out.append(f"  [{f.status}] {f.check}: {f.title}")
            for fix in f.remediation:
                out.append(f"      -> {fix.text}" + (f"\n         $ {fix.command}" if fix.command else ""))
    return "\n".join(out) + "\n"
