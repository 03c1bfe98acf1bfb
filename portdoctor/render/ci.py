"""CI output policy: what a CI run prints where, given the CI it runs in.

The CLI diagnoses and hands the reports here:

- :func:`detect`: which CI the process runs in (GitHub Actions wins over GitLab CI).
- :func:`stdout_document`: the document for stdout; on GitHub each target's text report
  sits in a group guarded by stop-commands, on GitLab in a collapsible section, and
  Markdown on GitHub is echoed inside stop-commands. Outside CI it is the document itself
  (coloured when asked).
- :func:`github_extras`: the annotations (on stdout, or on stderr when stdout carries
  JSON/JUnit) and the Markdown step summary.

Pure of argument parsing: streams and the environment are passed in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from portdoctor.model import Report
from portdoctor.records import dataclass
from portdoctor.render import github, gitlab

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import TextIO


@dataclass(frozen=True)
class CI:
    """Which CI runner the process is in."""

    github: bool = False
    gitlab: bool = False

    @property
    def active(self) -> bool:
        return self.github or self.gitlab


def detect(environ: Mapping[str, str] = os.environ) -> CI:
    on_github = github.active(environ)
    return CI(github=on_github, gitlab=gitlab.active(environ) and not on_github)


def stdout_document(reports: list[Report], fmt: str, document: str, ci: CI, *, color: bool = False,
                    stdout_is_file: bool = False, verbose: bool = False) -> str:
    """What goes to stdout: ``document``, wrapped for the CI log when one is detected.

    ``document`` is the plain rendering (what ``-o`` and ``--save`` keep); ``color``
    only applies to text. On GitHub, JSON and JUnit are guarded by stop-commands too,
    unless stdout is a regular file (``> report.json``), which the runner never reads.
    """
    if fmt not in ("text", "markdown") or not ci.active:
        if color:
            from portdoctor.render import render

            return render(reports, fmt, color=True, verbose=verbose)
        if ci.github and not stdout_is_file:
            return github.guard_stdout(document, fmt)  # echoed, never executed
        return document
    from portdoctor.render.text import render_one, render_summary

    if fmt == "markdown":  # read by humans in the log; echoed, never executed
        return github.stop_commands(document) if ci.github else document
    one: Callable[[Report], str] = lambda r: render_one(r, color=color, verbose=verbose)  # noqa: E731
    if ci.github:
        out = github.grouped(reports, one)
        if len(reports) > 1:
            out += github.stop_commands(github.defuse(render_summary(reports, color=color)))
        return out
    out = gitlab.sectioned(reports, one)
    return out + (render_summary(reports, color=color) if len(reports) > 1 else "")


def github_extras(
    reports: list[Report], *, annotations_to: TextIO, notes_to: TextIO,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Annotations on ``annotations_to``; the step summary appended to ``$GITHUB_STEP_SUMMARY``.

    Problems with the summary file become one note on ``notes_to``.
    """
    from portdoctor.render.markdown import render_markdown

    for line in github.annotation_lines(reports):
        annotations_to.write(line + "\n")
    annotations_to.flush()
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            if github.append_step_summary(render_markdown(reports), summary_path):
                notes_to.write("portdoctor: the step summary was cut to fit GitHub's 1 MiB limit\n")
        except OSError as exc:
            notes_to.write(f"portdoctor: cannot write the step summary {summary_path}: {exc.strerror or exc}\n")
        notes_to.flush()


def annotations_stream(fmt: str, *, to_file: bool, stdout: TextIO, stderr: TextIO) -> TextIO:
    """Annotations go to stdout unless stdout carries a machine document (JSON/JUnit)."""
    return stderr if not to_file and fmt in ("json", "junit") else stdout
