"""The detail pane's text, without Textual: one check's evidence, what to do, and why.

:func:`detail_markdown` turns a :class:`~portdoctor.tui.state.CheckRow` (plus the
finished report, when there is one) into Markdown: the findings, their evidence (the
listeners on the port with address, pid, process, user and namespace; a firewall rule;
the resolver order), the remediation steps with their exact commands, and the explain
page of the cause — the same text ``portdoctor explain CAUSE`` prints.
"""

from __future__ import annotations

from typing import Any, Callable

from portdoctor.model import Report, Socket
from portdoctor.tui.state import NOT_RUN, RUNNING, WAITING, CheckRow

# Evidence keys drawn as their own sections rather than as "key: value" lines.
_LISTENER_KEYS = ("listeners", "sockets", "holders")


def detail_markdown(row: CheckRow, report: Report | None, explain: Callable[[str], str] | None = None) -> str:
    """``explain``: cause -> page (default :func:`portdoctor.explain.page`)."""
    parts: list[str] = [f"## {_md(row.title)}", f"`{row.name}` · **{row.state}**", ""]
    if row.state == WAITING:
        parts.append("Waiting for the checks before it.")
        return "\n".join(parts)
    if row.state == RUNNING:
        parts.append("Running… (the rest of the screen stays live; a check gives up at its deadline)")
        return "\n".join(parts)
    if row.state == NOT_RUN:
        parts.append("This check does not apply to this target.")
        return "\n".join(parts)

    for finding in row.findings:
        parts.append(f"**{_md(finding.title)}**")
        parts.append("")
        if finding.cause:
            parts.append(f"Cause: **{finding.cause}**")
            parts.append("")
        if finding.detail:
            parts.append("")
            parts.append(_md(finding.detail))
        parts.append("")
        parts.extend(_evidence(finding.evidence, report))
        if finding.remediation:
            parts.append("### What to do")
            for number, step in enumerate(finding.remediation, 1):
                parts.append(f"{number}. {_md(step.text)}")
                if step.command:
                    parts.append("")
                    parts.append("   ```sh")
                    parts.append(f"   {step.command}")
                    parts.append("   ```")
            parts.append("")
            parts.append("Press **c** to copy the first command.")
            parts.append("")

    causes = [f.cause for f in row.findings if f.cause and f.cause != "ok"]
    for cause in dict.fromkeys(causes):
        parts.append("---")
        parts.append(_explain(cause, explain))
    return "\n".join(parts).rstrip() + "\n"


def _evidence(evidence: dict[str, Any], report: Report | None) -> list[str]:
    lines: list[str] = []
    plain = {k: v for k, v in evidence.items() if k not in _LISTENER_KEYS and k not in ("rule", "addresses", "resolver_order")}
    listeners = next((evidence[k] for k in _LISTENER_KEYS if evidence.get(k)), None)
    if listeners is None and report is not None and report.listeners:
        listeners = report.listeners
    if listeners:
        lines.append("### Listeners on the port")
        lines.extend(listener_table(listeners))
        lines.append("")
    if evidence.get("rule"):
        lines.append("### Firewall rule")
        lines.append("```")
        lines.append(str(evidence["rule"]))
        lines.append("```")
        lines.append("")
    order = evidence.get("resolver_order") or evidence.get("addresses")
    if order is None and report is not None and len(report.addresses) > 1:
        order = report.addresses
    if order:
        lines.append("### Resolver order")
        for number, address in enumerate(order, 1):
            lines.append(f"{number}. `{address}`")
        lines.append("")
    if plain:
        lines.append("### Evidence")
        for key, value in plain.items():
            lines.extend(_evidence_item(key, value))
        lines.append("")
    return lines


def _evidence_item(key: str, value: Any) -> list[str]:
    """One evidence entry as Markdown: lists and mappings as nested bullets, not reprs."""
    label = _md(key.replace("_", " ").capitalize())
    if isinstance(value, (list, tuple)):
        if not value:
            return [f"- {label}: none"]
        return [f"- {label}:"] + [f"  - `{_short(v)}`" if not isinstance(v, dict)
                                   else "  - " + ", ".join(f"{_md(k)}: `{_short(x)}`" for k, x in v.items())
                                   for v in value]
    if isinstance(value, dict):
        if not value:
            return [f"- {label}: none"]
        return [f"- {label}:"] + [f"  - {_md(k)}: `{_short(v)}`" for k, v in value.items()]
    return [f"- {label}: `{_short(value)}`"]


def listener_table(listeners: list[Any]) -> list[str]:
    rows = ["| proto | address | pid | process | user | namespace |", "| --- | --- | --- | --- | --- | --- |"]
    for item in listeners:
        s = item.to_listener_dict() if isinstance(item, Socket) else dict(item) if isinstance(item, dict) else {}
        address = s.get("address") or "?"
        host = f"[{address}]" if ":" in str(address) else address
        rows.append(
            f"| {s.get('protocol') or '?'} | {host}:{s.get('port', '')} | {_cell(s.get('pid'))} "
            f"| {_cell(s.get('process'))} | {_cell(s.get('user'))} | {_cell(s.get('namespace'), 'this one')} |"
        )
    return rows


def _explain(cause: str, page: Callable[[str], str] | None) -> str:
    if page is None:
        from portdoctor.explain import page
    try:
        text = page(cause)
    except KeyError:
        return f"*No explain page for `{cause}` yet (`portdoctor explain {cause}`).*"
    return text


def _cell(value: Any, missing: str = "hidden") -> str:
    return missing if value is None else _md(str(value)).replace("|", "\\|")


def _short(value: Any, limit: int = 200) -> str:
    text = str(value).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    """Text from a check, safe to drop into Markdown (no accidental emphasis or HTML)."""
    return str(text).replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*").replace("_", "\\_")
