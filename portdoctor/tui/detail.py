"""The detail pane's text, without Textual: one check's evidence, what to do, and why.

:func:`detail_markdown` turns a :class:`~portdoctor.tui.state.CheckRow` (plus the
finished report, when there is one) into Markdown: the findings, their evidence (the
listeners on the port with address, pid, process, user and namespace; a firewall rule;
the resolver order), the remediation steps with their exact commands, and the explain
page of the cause — the same text ``portdoctor explain CAUSE`` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portdoctor.model import Report, Socket
from portdoctor.render.common import owner_label
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
        lines.extend(listener_lines(listeners, report is not None and report.host.privileged))
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
            if value is not None:
                lines.extend(_evidence_item(key, value))
        lines.append("")
    return lines


def _evidence_item(key: str, value: Any) -> list[str]:
    """One evidence entry as Markdown: lists and mappings as nested bullets, not reprs."""
    label = _md(key.replace("_", " ").capitalize())
    if isinstance(value, (list, tuple)):
        if not value:
            return [f"- {label}: none"]
        # A field without a value ("namespace": None: our own) is left out, never shown as "None".
        return [f"- {label}:"] + [f"  - `{_short(v)}`" if not isinstance(v, dict)
                                   else "  - " + ", ".join(f"{_md(k)}: `{_short(x)}`" for k, x in v.items()
                                                           if x is not None)
                                   for v in value]
    if isinstance(value, dict):
        if not value:
            return [f"- {label}: none"]
        return [f"- {label}:"] + [f"  - {_md(k)}: `{_short(v)}`" for k, v in value.items() if v is not None]
    return [f"- {label}: `{_short(value)}`"]


def listener_lines(listeners: list[Any], privileged: bool = False) -> list[str]:
    """One bullet per listener, ``tcp `127.0.0.1:62893` · python3 (pid 1301, user root)``.

    A bullet wraps at any width, where a six-column table was cut to ``pro…`` in a
    60-column detail pane.
    """
    return [f"- {listener_line(item, privileged)}" for item in listeners]


def listener_line(item: Any, privileged: bool = False) -> str:
    """``tcp `[::1]:5432` · postgres (pid 812, user postgres)``: the owner in the words of
    every report (:func:`portdoctor.render.common.owner_label`)."""
    s = item.to_listener_dict() if isinstance(item, Socket) else dict(item) if isinstance(item, dict) else {}
    parts: list[str] = []
    if s.get("address") is not None or s.get("port") is not None:
        address = str(s.get("address") or "?")
        host = f"[{address}]" if ":" in address else address
        parts.append(f"{_md(s.get('protocol') or 'tcp')} `{host}:{s.get('port', '?')}`")
    parts.append(_md(owner_label(Socket.from_listener_dict(s), privileged)))
    return " · ".join(parts)


def _explain(cause: str, page: Callable[[str], str] | None) -> str:
    if page is None:
        from portdoctor.explain import page as explain_page

        page = explain_page
    try:
        text = page(cause)
    except KeyError:
        return f"*No explain page for `{cause}` yet (`portdoctor explain {cause}`).*"
    return text


def _short(value: Any, limit: int = 200) -> str:
    text = str(value).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    """Text from a check, safe to drop into Markdown (no accidental emphasis or HTML)."""
    return str(text).replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*").replace("_", "\\_")
