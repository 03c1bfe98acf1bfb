"""The Markdown report: for pull-request comments and GitHub step summaries.

Untrusted text (process names, command lines, OS messages) is escaped so that it
cannot open HTML, break a table, or close a code block: ``<``/``>``/``&`` become
entities, ``|`` is escaped in table cells, line breaks become ``<br>``, and code
fences are longer than any run of backticks they contain.
"""

from __future__ import annotations

import re

from portdoctor.model import Report, Status, hostport
from portdoctor.render.common import overall_line, owner_label, printable, report_label

_MARK = {
    Status.PASS: "✅ pass",
    Status.WARN: "⚠️ warn",
    Status.FAIL: "❌ fail",
    Status.SKIP: "⏭️ skip",
    Status.ERROR: "💥 error",
}


def escape_text(text: object) -> str:
    """Prose that Markdown and the HTML inside it must take literally."""
    s = printable("" if text is None else str(text))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Markdown's own punctuation that could turn text into links, emphasis or headings.
    return re.sub(r"([\\`*_\[\]#|~])", r"\\\1", s)


def cell(text: object) -> str:
    """Text for a table cell: escaped, one line."""
    return escape_text(text)


def code_span(text: object) -> str:
    s = printable("" if text is None else str(text))
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    # Inside a table cell a raw | would still split the row.
    return f"{fence}{pad}{s}{pad}{fence}".replace("|", "\\|")


def code_block(text: object, lang: str = "sh") -> str:
    s = printable("" if text is None else str(text))
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{s}\n{fence}"


def _icon(r: Report) -> str:
    return "✅" if not r.failed else "❌"


def render_one(r: Report, level: int = 2) -> str:
    out = _verdict(r, level) + _target(r) + _listeners(r) + _checks(r) + _details(r) + _notes(r)
    host = r.host
    out.append(f"<sub>portdoctor {escape_text(r.tool_version)} on {escape_text(host.hostname)} "
               f"({escape_text(host.os)}{'' if host.privileged else ', not root'}), {r.created}, "
               f"{r.duration_ms:.0f} ms</sub>")
    return "\n".join(out) + "\n"


def _verdict(r: Report, level: int) -> list[str]:
    """The heading, the verdict's summary, "Do now" and the other failures."""
    t, v = r.target, r.verdict
    where = f" on {code_span(r.ssh)}" if r.ssh else ""
    out = [f"{'#' * level} {_icon(r)} {code_span(t.display)}{where}: `{v.cause}`", ""]
    out += [f"**{escape_text(v.summary)}**", ""]
    if v.first_step is not None:
        out.append(f"**Do now:** {escape_text(v.first_step.text)}")
        if v.first_step.command:
            out.extend(["", code_block(v.first_step.command)])
        out.append("")
    elif r.failed:
        out.extend([f"**Do now:** run `portdoctor explain {v.cause}`", ""])
    if v.also:
        out.append("**Also failing** (fix these too):")
        out.extend(f"- `{cause}`: {escape_text(title)}" for cause, title in v.also)
        out.append("")
    return out


def _target(r: Report) -> list[str]:
    """What the target resolved to, and a table of the probes."""
    t, out = r.target, []
    if t.protocol == "unix":
        out.append(f"Target {code_span(t.input)} is the Unix socket {code_span(t.path or '')}.")
    else:
        addresses = ", ".join(code_span(a) for a in r.addresses) or "none (the name did not resolve)"
        out.append(f"Target {code_span(t.input)} ({t.protocol}) resolves to {addresses}.")
    out.append("")
    if r.probes:
        out += ["| address | outcome | time |", "| --- | --- | ---: |"]
        for p in r.probes:
            outcome = str(p.outcome) + (f" ({cell(p.error)})" if p.error and str(p.outcome) != "open" else "")
            out.append(f"| {code_span(p.address)} | {outcome} | {p.ms:.1f} ms |")
        out.append("")
    return out


def _listeners(r: Report) -> list[str]:
    t, out = r.target, []
    if r.listeners:
        out += [f"Listeners on port {t.port}:", "", "| socket | owner |", "| --- | --- |"]
        for s in r.listeners:
            out.append(f"| {code_span(s.protocol + ' ' + hostport(s.address, s.port))} | {cell(owner_label(s, r.host.privileged))} |")
    elif t.protocol != "unix":
        out.append(f"Nothing is bound to port {t.port} (any address, any protocol).")
    out.append("")
    return out


def _checks(r: Report) -> list[str]:
    out = ["| status | check | result |", "| --- | --- | --- |"]
    for f in r.findings:
        cause = f" (`{f.cause}`)" if f.cause else ""
        out.append(f"| {_MARK[f.status]} | {code_span(f.check)} | {cell(f.title)}{cause} |")
    out.append("")
    return out


def _details(r: Report) -> list[str]:
    """A folded section: the detail of what failed or warned, and every step of what did not pass."""
    fixes = [f for f in r.findings if f.remediation and f.status in (Status.FAIL, Status.WARN, Status.ERROR, Status.SKIP)]
    details = [f for f in r.findings if f.detail and f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    if not details and not fixes:
        return []
    out = ["<details><summary>Details and remediation</summary>", ""]
    for f in r.findings:
        if f not in details and f not in fixes:
            continue
        out.append(f"- **{escape_text(f.check)}**: {escape_text(f.title)}")
        if f in details:
            for line in str(f.detail).splitlines():
                out.append(f"  {escape_text(line)}" if line.strip() else "")
        for fix in f.remediation:
            out.append(f"  - {escape_text(fix.text)}")
            if fix.command:
                out.append("")
                out.extend("    " + line for line in code_block(fix.command).splitlines())
                out.append("")
    return out + ["", "</details>", ""]


def _notes(r: Report) -> list[str]:
    return ["Notes:", ""] + [f"- {escape_text(n)}" for n in r.notes] + [""] if r.notes else []


def render_markdown(reports: list[Report]) -> str:
    if len(reports) == 1:
        return render_one(reports[0])
    out = [f"## portdoctor: {overall_line(reports)}", ""]
    from portdoctor.remote.matrix import build_matrix

    matrix = build_matrix(reports)
    if matrix is not None:  # many SSH hosts: host x target -> cause
        out.append("| host | " + " | ".join(code_span(t) for t in matrix.targets) + " |")
        out.append("| --- |" + " --- |" * len(matrix.targets))
        for host in matrix.hosts:
            cells = " | ".join(("✅ " if matrix.cause(host, t) == "ok" else "❌ ") + f"`{matrix.cause(host, t)}`"
                               for t in matrix.targets)
            out.append(f"| {code_span(host)} | {cells} |")
        out.append("")
    out += ["| | target | cause | summary |", "| --- | --- | --- | --- |"]
    for r in reports:
        out.append(f"| {_icon(r)} | {code_span(report_label(r))} | `{r.verdict.cause}` | {cell(r.verdict.summary)} |")
    out.append("")
    return "\n".join(out) + "\n" + "\n".join(render_one(r, level=3) for r in reports)
