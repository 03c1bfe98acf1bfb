"""Helpers shared by the renderers: cleaning untrusted text, owner labels, marks.

Process names, command lines and OS messages come from the machine, not from us:
a process can name itself ``\\x1b]0;pwned\\x07`` or ``::error::``. Every renderer
passes such text through :func:`printable` (or its own escaping) before output.
"""

from __future__ import annotations

import re

from portdoctor.lazyre import lazy
from portdoctor.model import Report, Socket, Status
from portdoctor.model import owner_label as socket_owner

# C0 controls, DEL and C1 controls: never copied raw into a report.
_CONTROL = lazy(r"[\x00-\x1f\x7f-\x9f]")

STATUS_LABEL = {
    Status.PASS: "PASS",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.SKIP: "SKIP",
    Status.ERROR: "ERROR",
}


def printable(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\n``, ``\\x1b``)."""
    s = "" if text is None else str(text)

    def escape(m: re.Match) -> str:
        ch = m.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{ord(ch):02x}")

    return _CONTROL.sub(escape, s)


def printable_block(text: object) -> str:
    """Like :func:`printable`, but keeps line breaks (for multi-line details we wrote)."""
    return "\n".join(printable(line) for line in ("" if text is None else str(text)).splitlines())


def owner_label(s: Socket, privileged: bool = False) -> str:
    """Who owns a socket (:func:`portdoctor.model.owner_label`), where it lives, and for
    a hidden owner how to see it: ``postgres (pid 812, user postgres)``,
    ``owner hidden (uid 0; run with sudo to see)``.

    ``privileged``: portdoctor already runs as root, so a hidden owner is in another PID
    namespace (a container) and sudo would not help: run it on the host instead.
    """
    who = printable(socket_owner(s))
    if s.pid is None and not s.process:
        how = "another PID namespace: run portdoctor on the host" if privileged else "run with sudo to see"
        who = who[:-1] + f"; {how})" if who.endswith(")") else who + f" ({how})"
    if s.namespace:
        who += f", netns {printable(s.namespace)}"
    if s.container:
        who += f" ({printable(s.container)})"
    return who


def report_label(report: Report) -> str:
    """The target, and with --ssh/--from the host it is about: ``db:5432 on root@db``."""
    display = report.target.display
    return f"{display} on {report.ssh}" if report.ssh else display


def overall_line(reports: list[Report]) -> str:
    failed = sum(1 for r in reports if r.failed)
    if failed:
        return f"{failed} of {len(reports)} targets failed"
    return f"all {len(reports)} targets reachable"
