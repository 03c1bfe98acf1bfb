"""The text report for terminals and CI logs (the default format).

Layout, per target: the target and its resolved addresses, each probe's outcome and
time, the listeners on the port (address, owner, user, namespace), the findings that
did not pass (with their first step; exact commands on their own ``$`` lines) and a
one-line tally of the checks that passed, then the verdict, the first thing to do and
the next steps, last, where the eye lands. ``verbose`` (``-v``) shows every check with
its detail and every step. Prose wraps
at 80 columns; commands are never wrapped, so they stay copyable. Colour is plain
ANSI (no rich on the report path) and only when the caller asks for it.
"""

from __future__ import annotations

import re

from portdoctor.model import Finding, Report, Status, hostport
from portdoctor.render.common import STATUS_LABEL, overall_line, owner_label, printable, printable_block

WIDTH = 80

_RESET = "\x1b[0m"
_STYLE = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
    "boldred": "\x1b[1;31m",
    "boldgreen": "\x1b[1;32m",
}
_STATUS_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "boldred",
    Status.SKIP: "dim",
    Status.ERROR: "magenta",
}
_OUTCOME_STYLE = {"open": "green", "refused": "red", "timeout": "yellow", "unreachable": "red", "error": "magenta"}


class _Painter:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, style: str | None) -> str:
        if not self.color or not style:
            return text
        return f"{_STYLE[style]}{text}{_RESET}"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """Wrap prose to WIDTH with the given indents; keeps the caller's line breaks."""
    lines: list[str] = []
    for i, para in enumerate(text.splitlines() or [""]):
        wrapped = wrap_words(para, WIDTH, first if i == 0 else rest, rest)
        lines.extend(wrapped or [(first if i == 0 else rest).rstrip()])
    return lines


_TO_SPACE = str.maketrans(dict.fromkeys(map(ord, "\t\n\x0b\x0c\r "), " "))


def wrap_words(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
    break_long_words=True, break_on_hyphens=False)``, line for line, except that it
    ends where textwrap never does (an indent wider than ``width`` before a space).

    Written out because importing :mod:`textwrap` compiles its regular expressions, a
    cost every report would pay for one call; ``tests/test_render_wrap.py`` compares
    the two on generated text.
    """
    spaced = text.expandtabs(8).translate(_TO_SPACE)
    chunks = [c for c in re.split("( +)", spaced) if c]  # words and the runs of spaces between them
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        indent = rest if lines else first
        room = width - len(indent)
        if lines and chunks[-1].strip() == "":  # a line never starts with the spaces that ended the last
            del chunks[-1]
        elif not chunks[-1]:  # the empty rest of a cut word: textwrap loops forever on it here (it
            del chunks[-1]  # happens when an indent is wider than the line and a space was cut)
        line: list[str] = []
        used = 0
        while chunks and used + len(chunks[-1]) <= room:
            used += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and len(chunks[-1]) > room:  # a word longer than a line: cut it
            cut = 1 if room < 1 else room - used
            line.append(chunks[-1][:cut])
            chunks[-1] = chunks[-1][cut:]
        if line and line[-1].strip() == "":
            del line[-1]
        if line:
            lines.append(indent + "".join(line))
    return lines


TALLY_LINES = 2  # the short report's PASS line: at most this many lines at WIDTH


def pass_tally(checks: list[str]) -> list[str]:
    """The short report's tally of the checks that passed, in at most :data:`TALLY_LINES` lines:
    how many, and their names until the width, then ``+N more`` (``-v`` lists every check)."""
    names = list(dict.fromkeys(checks))
    head = f"{len(names)} check{'s' if len(names) != 1 else ''}: "
    for keep in range(len(names), 0, -1):
        more = f", +{len(names) - keep} more (-v)" if keep < len(names) else ""
        lines = _wrap(head + ", ".join(printable(n) for n in names[:keep]) + more, f"  {'PASS':<5} ", " " * 8)
        if len(lines) <= TALLY_LINES:
            return lines
    return [f"  {'PASS':<5} {head.rstrip(': ')} (-v lists them)"]  # names too long to show any


def _verdict_finding(r: Report) -> Finding | None:
    """The finding the verdict's words come from (its title is the verdict's summary)."""
    return next((f for f in r.findings if f.check == r.verdict.check and f.cause == r.verdict.cause
                 and f.title == r.verdict.summary), None)


def render_one(r: Report, *, color: bool = False, verbose: bool = False) -> str:
    """The text report of one target: short by default (what did not pass, a tally of what
    did, the verdict); ``verbose`` shows every check with its detail and every step."""
    paint = _Painter(color)
    out = _head(r, paint) + _probes(r, paint) + _listeners(r, paint, verbose) + [""]
    out += _checks(r, paint, verbose) + _notes(r, paint) + [""] + _verdict(r, paint, verbose)
    return "\n".join(out) + "\n"


def _head(r: Report, paint: _Painter) -> list[str]:
    """The tool, the target (and what it was read from), its addresses or socket path."""
    t = r.target
    head = f"portdoctor {r.tool_version}  {printable(t.display)} ({t.protocol})"
    if t.input != t.display:
        head += f"  from {printable(t.input)!s}"
    out = [paint(head, "bold")]
    if t.protocol == "unix":
        out.extend(_wrap(printable(t.path), "  socket     ", " " * 13))
    elif r.addresses:
        out.extend(_wrap(", ".join(r.addresses), "  addresses  ", " " * 13))
    else:
        out.append("  addresses  none (the name did not resolve)")
    return out


def _probes(r: Report, paint: _Painter) -> list[str]:
    """One line a probe: address, outcome, time, and the error when it did not connect."""
    if not r.probes:
        return ["  probes     none (no address to connect to)"]
    out = []
    addr_w = min(max(len(p.address) for p in r.probes), 39)
    for i, p in enumerate(r.probes):
        label = "  probes     " if i == 0 else " " * 13
        outcome = str(p.outcome)
        line = (f"{label}{p.address:<{addr_w}}  {paint(f'{outcome:<11}', _OUTCOME_STYLE.get(outcome))}"
                f"{p.ms:>8.1f} ms")
        if p.error and p.outcome.value != "open":
            line += f"  {printable(p.error)}"
        out.append(line)
    return out


def _listeners(r: Report, paint: _Painter, verbose: bool) -> list[str]:
    """The sockets on the port with their owners, and what a run without root cannot see."""
    t, out = r.target, []
    if r.listeners:
        out.append(f"  listeners  on port {t.port}:")
        for s in r.listeners:
            where = f"{s.protocol} {hostport(s.address, s.port)}"
            out.extend(_wrap(f"{where:<26} {owner_label(s, r.host.privileged)}", "    ", " " * 31))
    elif t.protocol != "unix":  # a Unix socket's listener is the unix-socket check's to name
        out.append(f"  listeners  none on port {t.port} (any address, any protocol)")
    if not r.host.privileged and (verbose or not r.notes):  # the short report's notes say it once
        out.append(paint("             not root: other users' processes and some rules are hidden;", "dim"))
        out.append(paint("             run with sudo to see everything", "dim"))
    return out


def _checks(r: Report, paint: _Painter, verbose: bool) -> list[str]:
    """Every check (verbose), or what did not pass but the verdict's own finding and a PASS tally."""
    out = []
    if verbose:
        out.append(paint("Checks", "bold"))
        shown = r.findings
    else:  # what matters: what did not pass, except the verdict's own finding (its words follow)
        lead = _verdict_finding(r)
        shown = [f for f in r.findings if f.status is not Status.PASS and f is not lead]
    name_w = min(max((len(f.check) for f in shown), default=8), 20)
    for f in shown:
        out.extend(_finding(f, paint, verbose, name_w))
    if not verbose:
        passed = [f.check for f in r.findings if f.status is Status.PASS]
        if passed:
            out.extend(paint(line, "dim") for line in pass_tally(passed))
    return out


def _finding(f: Finding, paint: _Painter, verbose: bool, name_w: int) -> list[str]:
    """A check's mark, name and title; its detail and steps (the first one, unless verbose)."""
    out = []
    mark = paint(f"{STATUS_LABEL[f.status]:<5}", _STATUS_STYLE[f.status])
    lead_text = f"  {mark} {f.check:<{name_w}}  "
    hang = " " * (2 + 5 + 1 + name_w + 2)
    if len(f.check) > name_w:  # a long plugin name: the title goes under it
        out.append(f"  {mark} {f.check}")
        lead_text = hang
    # wrap against the hanging indent, then put the (coloured) lead on the first line
    wrapped = _wrap(printable(f.title), hang, hang)
    out.append((lead_text + wrapped[0][len(hang):]).rstrip())
    out.extend(wrapped[1:])
    if f.detail and (f.status is Status.ERROR or (verbose and f.status in (Status.FAIL, Status.WARN))):
        out.extend(_wrap(printable_block(f.detail), hang, hang))
    for fix in f.remediation if verbose else f.remediation[:1]:
        out.extend(_wrap(printable(fix.text), hang + "-> ", hang + "   "))
        if fix.command:
            out.append(hang + "   " + paint(f"$ {printable(fix.command)}", "cyan"))
    return out


def _notes(r: Report, paint: _Painter) -> list[str]:
    if not r.notes:
        return []
    out = ["", paint("Notes", "bold")]
    for note in r.notes:
        out.extend(_wrap(printable(note), "  - ", "    "))
    return out


def _verdict(r: Report, paint: _Painter, verbose: bool) -> list[str]:
    """The verdict, "Do now" and its next steps, the other failures, the time taken."""
    out = []
    v = r.verdict
    cause = v.cause.upper()
    prefix = f"Verdict  {cause}  "
    lines = _wrap(printable(v.summary), prefix, " " * 9)
    lines[0] = "Verdict  " + paint(cause, "boldgreen" if not r.failed else "boldred") + "  " + lines[0][len(prefix):]
    out.extend(lines)
    step = v.first_step
    if step is not None:
        lines = _wrap(printable(step.text), "Do now   ", " " * 9)
        lines[0] = paint("Do now", "bold") + lines[0][6:]
        out.extend(lines)
        if step.command:
            out.append(" " * 9 + paint(f"$ {printable(step.command)}", "cyan"))
    elif r.failed:
        out.append(paint("Do now", "bold") + f"   portdoctor explain {v.cause}")
    lead = _verdict_finding(r)
    if lead is not None and not verbose:  # its other steps, once (the findings above leave it out)
        for fix in lead.remediation[1:3]:
            out.extend(_wrap(printable(fix.text), "Then     ", " " * 9))
            if fix.command:
                out.append(" " * 9 + paint(f"$ {printable(fix.command)}", "cyan"))
    for also_cause, also_title in v.also:
        lines = _wrap(printable(f"{also_cause}: {also_title}"), "Also     ", " " * 9)
        lines[0] = paint("Also", "bold") + lines[0][4:]
        out.extend(lines)
    tail = f"({r.duration_ms:.0f} ms"
    tail += f"; more: portdoctor explain {v.cause}" if r.failed and step is not None else ""
    tail += "; -v: every check)" if not verbose else ")"
    out.append(" " * 9 + paint(tail, "dim"))
    return out


def render_summary(reports: list[Report], *, color: bool = False) -> str:
    """One line per target and the overall count: the end of a multi-target report."""
    paint = _Painter(color)
    lines = [paint(f"Summary: {overall_line(reports)}", "bold")]
    from portdoctor.remote.matrix import build_matrix

    matrix = build_matrix(reports)
    if matrix is not None:  # many SSH hosts: host x target -> cause
        host_w = min(max(len(printable(h)) for h in matrix.hosts + ["host"]), 40)
        widths = [max(len(printable(t)), *(len(matrix.cause(h, t)) for h in matrix.hosts)) for t in matrix.targets]
        lines.append("  " + "host".ljust(host_w) + "".join(f"  {printable(t):<{w}}" for t, w in zip(matrix.targets, widths)))
        for h in matrix.hosts:
            cells = "".join(f"  {paint(f'{matrix.cause(h, t):<{w}}', 'green' if matrix.cause(h, t) == 'ok' else 'boldred')}"
                            for t, w in zip(matrix.targets, widths))
            lines.append(f"  {printable(h):<{host_w}}{cells}".rstrip())
        return "\n".join(lines) + "\n"
    disp_w = min(max(len(printable(r.target.display)) for r in reports), 30)
    for r in reports:
        mark = paint("OK  ", "green") if not r.failed else paint("FAIL", "boldred")
        lines.append(f"  {mark}  {printable(r.target.display):<{disp_w}}  {r.verdict.cause}")
    return "\n".join(lines) + "\n"


def render_text(reports: list[Report], *, color: bool = False, verbose: bool = False) -> str:
    """One target: its report. Several: each report, then one line per target."""
    if len(reports) == 1:
        return render_one(reports[0], color=color, verbose=verbose)
    rule = "-" * WIDTH + "\n"
    return (rule.join(render_one(r, color=color, verbose=verbose) for r in reports) + rule
            + render_summary(reports, color=color))
