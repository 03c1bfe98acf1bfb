"""GitHub Actions output: annotations, log groups, and the step summary.

Used by the CLI when ``GITHUB_ACTIONS=true``:

- :func:`annotations`: one ``::error`` / ``::warning`` workflow command per failing /
  warning finding (file-less annotations, shown on the run's summary page).
- :func:`grouped`: each target's text report inside ``::group::`` … ``::endgroup::``,
  and inside ``::stop-commands::<token>`` … ``::<token>::`` so that nothing echoed
  (a process named ``::error::``, a command line with a newline) is taken as a command.
- :func:`step_summary`: the Markdown report for ``$GITHUB_STEP_SUMMARY``, cut to fit
  the runner's 1 MiB limit with a note saying so.

Untrusted text in a command is escaped as the runner expects: ``%``, ``\\r``, ``\\n`` in
the message, and additionally ``:`` and ``,`` in properties; control characters are made
visible first (no raw ESC or BEL reaches an annotation).

The runner's parser (actions/runner ``ActionCommand``): a line is a command when, after
leading whitespace, it starts with ``::NAME`` and holds a second ``::`` (v2), or when
``##[NAME`` … ``]`` appears ANYWHERE in it (v1). Names are case-insensitive; lines end
at ``\\n``, ``\\r`` or ``\\r\\n``. :func:`defuse` breaks both forms in a document
portdoctor renders (every format, with or without the Actions variable: a report can be
``cat`` in a job later), and :func:`guard_stdout` wraps what goes to stdout under Actions
in ``::stop-commands::``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from portdoctor.lazyre import lazy
from portdoctor.model import Report, Status
from portdoctor.render.common import report_label
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import TextIO

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step's summary
TRUNCATION_NOTE = ("\n\n> **Note:** portdoctor cut this summary to stay under GitHub's 1 MiB "
                   "step-summary limit; the full report is in the job log.\n")


def active(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: object) -> str:
    """A workflow command's message (controls other than newlines made visible first)."""
    return clean_text(str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: object) -> str:
    """A workflow command's property value (``title=…``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: object = "", **properties: object) -> str:
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def annotation_lines(reports: list[Report]) -> list[str]:
    """``::error`` for each failing finding, ``::warning`` for each warning or broken check.

    A failing verdict that no failing finding explains (cause ``unknown``) gets its own error.
    """
    lines: list[str] = []
    for r in reports:
        display = report_label(r)
        failing = False
        for f in r.findings:
            if f.status not in (Status.FAIL, Status.WARN, Status.ERROR):
                continue
            kind = "error" if f.status is Status.FAIL else "warning"
            failing |= f.status is Status.FAIL
            title = f"portdoctor {display}: {f.cause or f.check}"
            parts = [f.title]
            if f.status is Status.ERROR:
                parts = [f"check {f.check} could not run: {f.detail or f.title}"]
            for fix in f.remediation[:1]:
                parts.append(f"Fix: {fix.text}" + (f" ({fix.command})" if fix.command else ""))
            lines.append(command(kind, "\n".join(parts), title=title))
        if r.failed and not failing:
            lines.append(command("error", r.verdict.summary, title=f"portdoctor {display}: {r.verdict.cause}"))
    return lines


def new_token() -> str:
    import secrets  # deferred: hmac + hashlib cost ~3 ms on every --report run

    return "portdoctor-" + secrets.token_hex(16)


def stop_commands(text: str, token: str | None = None) -> str:
    """``text`` between ``::stop-commands::TOKEN`` and ``::TOKEN::``: echoed, never executed."""
    token = token or new_token()
    folded = text.lower()
    while token.lower() in folded:  # the runner compares the resume token case-insensitively
        token = new_token()
    body = text if text.endswith("\n") else text + "\n"
    return f"::stop-commands::{token}\n{body}::{token}::\n"


def grouped(reports: list[Report], render_one: Callable[[Report], str]) -> str:
    """Each target's report in a collapsible group, its text guarded by stop-commands."""
    out = []
    for r in reports:
        state = "ok" if not r.failed else r.verdict.cause
        out.append(f"::group::{escape_data(f'portdoctor {report_label(r)}: {state}')}\n")
        out.append(stop_commands(defuse(render_one(r))))
        out.append("::endgroup::\n")
    return "".join(out)


_V1 = "##["
_LINES = lazy(r"(\r\n|\r|\n)")


def defuse(text: str, fmt: str = "text") -> str:
    """``text`` with nothing the Actions runner would parse as a workflow command.

    A line that starts (after whitespace) with ``::`` gets a backslash before it, and
    every ``##[`` becomes ``##\\[`` (text, Markdown: where ``\\[`` shows ``[``); in JSON
    it becomes ``##\\u005b`` and in XML ``##&#91;``, which parsers read back as ``##[``.
    Only the rare lines concerned change. Linear in the size of the text.
    """
    if fmt == "json":  # "##[" can only occur inside a JSON string; "::" never starts a line
        return text.replace(_V1, "##\\u005b")
    if fmt == "junit":  # XML: a character reference, valid in text and attribute values
        text = text.replace(_V1, "##&#91;")
    else:
        text = text.replace(_V1, "##\\[")
    if "::" not in text:
        return text
    parts = _LINES.split(text)
    for i in range(0, len(parts), 2):  # even items are lines, odd ones their line ends
        line = parts[i]
        stripped = line.lstrip()
        if stripped.startswith("::"):
            indent = len(line) - len(stripped)
            parts[i] = line[:indent] + "\\" + stripped
    return "".join(parts)


def stdout_goes_to_runner(stream: TextIO) -> bool:
    """Could the runner read what we write to ``stream``? Not when it is a regular file
    (``> report.json``): that file must stay a clean document."""
    import stat

    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return True


def guard_stdout(document: str, fmt: str) -> str:
    """JSON or JUnit for stdout under Actions: inside ``::stop-commands::`` (text and
    Markdown are guarded per target by :func:`grouped` / :func:`stop_commands`)."""
    return stop_commands(defuse(document, fmt))


def step_summary(markdown: str, already: int = 0, limit: int = SUMMARY_LIMIT) -> str:
    """``markdown`` cut (at a line break) so the summary file stays under ``limit`` bytes.

    ``already``: bytes the step's summary file holds before we append.
    """
    budget = limit - already - 1
    data = markdown.encode("utf-8")
    if len(data) <= budget:
        return markdown
    note = TRUNCATION_NOTE.encode("utf-8")
    room = max(budget - len(note), 0)
    cut = data[:room]
    newline = cut.rfind(b"\n")
    if newline > 0:
        cut = cut[:newline]
    return cut.decode("utf-8", errors="ignore") + TRUNCATION_NOTE if room else ""


def append_step_summary(markdown: str, path: str | os.PathLike[str]) -> bool:
    """Append to the step-summary file; returns whether the summary had to be cut."""
    try:
        already = os.stat(path).st_size
    except OSError:
        already = 0
    text = step_summary(markdown, already)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") or not text else text + "\n")
    return text != markdown
