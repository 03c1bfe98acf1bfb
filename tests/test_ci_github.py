"""GitHub Actions mode (GITHUB_ACTIONS=true): annotations, groups, stop-commands, summary.

``runner_commands`` replays the runner's own parser (actions/runner,
src/Runner.Common/ActionCommand.cs and src/Runner.Worker/ActionCommandManager.cs):
lines end at CR, LF or CRLF; v2: after leading whitespace (.NET ``TrimStart``, Unicode
whitespace) the line starts with ``::`` and holds a second ``::``, the name runs to the
first space; v1: ``##[`` ANYWHERE in the line, the name runs to a space or ``]``;
names are case-insensitive and only registered ones act. Between
``::stop-commands::TOKEN`` and a command named TOKEN (either form) nothing acts.
"""

from __future__ import annotations

import json
import re

import pytest

from portdoctor.cli import main
from portdoctor.render import github
from portdoctor.render.markdown import render_markdown
from portdoctor.render.text import render_one
from runner_model import commands_outside_stop, runner_commands
from samples import HOSTILE, make_report


@pytest.fixture
def actions(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITLAB_CI", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return summary


def test_escaping_follows_the_runner():
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.command("error", "x\ny", title="db:5432, down") == "::error title=db%3A5432%2C down::x%0Ay"


def test_annotations_one_per_failing_or_warning_finding():
    lines = github.annotation_lines([make_report(process=HOSTILE)])
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["::error", "::warning", "::warning"]  # fail, warn, a check that could not run
    error = lines[0]
    assert error.startswith("::error title=portdoctor 127.0.0.1%3A5432%3A wrong-interface::")
    message = error.split("::", 2)[2]
    assert "\n" not in error and "\r" not in error
    assert "%3A" not in message and "::error::pwn" in message  # data: only %, CR, LF are escaped
    assert "Fix: Make the service listen" in message


def test_a_failing_verdict_without_a_failing_finding_still_annotates():
    r = make_report(failed=False)
    r.verdict.cause, r.verdict.reachable, r.verdict.summary = "unknown", False, "The connection fails."
    assert next(a for a in github.annotation_lines([r]) if a.startswith("::error")) == "::error title=portdoctor 127.0.0.1%3A5432%3A unknown::The connection fails."


def test_grouped_text_cannot_issue_commands():
    text = github.grouped([make_report(process="::error::x", cmdline="a\n::warning::y")], render_one)
    assert text.startswith("::group::portdoctor 127.0.0.1:5432: wrong-interface\n::stop-commands::portdoctor-")
    assert text.rstrip().endswith("::endgroup::")
    assert "::error::x" in text  # echoed ...
    assert commands_outside_stop(text) == ["::group::portdoctor 127.0.0.1:5432: wrong-interface", "::endgroup::"]


def test_stop_commands_token_is_fresh_and_not_in_the_text():
    a, b = github.stop_commands("x"), github.stop_commands("x")
    token = a.splitlines()[0].split("::")[2]
    assert a != b and len(token) > 20 and a.endswith(f"::{token}::\n")


def test_step_summary_is_cut_under_the_limit_with_a_note():
    markdown = "\n".join(f"| row {i} | {'é' * 50} |" for i in range(30000))
    assert len(markdown.encode()) > github.SUMMARY_LIMIT
    cut = github.step_summary(markdown)
    assert len(cut.encode("utf-8")) < github.SUMMARY_LIMIT
    assert cut.endswith(github.TRUNCATION_NOTE) and "| row 0 |" in cut
    assert github.step_summary("short", already=10) == "short"
    small = github.step_summary(markdown, already=github.SUMMARY_LIMIT - 1000)
    assert 0 < len(small.encode()) <= 1000


def test_cli_in_actions_text_mode(actions, free_port, capsys):
    assert main(["--report", f"127.0.0.1:{free_port}", "127.0.0.1:1"]) == 1
    out, _err = capsys.readouterr()
    acted = commands_outside_stop(out)
    groups = [c for c in acted if c.startswith("::group::")]
    assert groups == [f"::group::portdoctor 127.0.0.1:{free_port}: not-listening",
                      "::group::portdoctor 127.0.0.1:1: not-listening"]
    assert acted.count("::endgroup::") == 2
    errors = [c for c in acted if c.startswith("::error ")]
    assert len(errors) == 2 and errors[0].startswith(f"::error title=portdoctor 127.0.0.1%3A{free_port}%3A")
    summary = actions.read_text()
    assert summary.startswith("## portdoctor: 2 of 2 targets failed")
    # appended, not overwritten: a second run adds to the step's summary
    main(["--report", f"127.0.0.1:{free_port}"])
    assert actions.read_text().startswith(summary) and len(actions.read_text()) > len(summary)


def test_cli_in_actions_json_is_guarded_and_annotations_go_to_stderr(actions, free_port, capsys):
    assert main(["--report", "--format", "json", f"127.0.0.1:{free_port}"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("::stop-commands::portdoctor-") and lines[-1] == f"::{lines[0].split('::')[2]}::"
    assert json.loads("\n".join(lines[1:-1]))["verdict"]["cause"] == "not-listening"
    assert commands_outside_stop(out) == []
    assert any(line.startswith("::error title=") for line in err.splitlines())


def test_cli_in_actions_json_redirected_to_a_file_stays_pure(actions, free_port, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "out.json"
    with open(path, "w") as fh:
        subprocess.run([sys.executable, "-m", "portdoctor", "--report", "--format", "json", f"127.0.0.1:{free_port}"],
                       stdout=fh, stderr=subprocess.PIPE, timeout=60)
    assert json.loads(path.read_text())["verdict"]["cause"] == "not-listening"


def test_cli_in_actions_output_file(actions, free_port, tmp_path, capsys):
    path = tmp_path / "r.xml"
    main(["--report", "-o", str(path), f"127.0.0.1:{free_port}"])
    out, _err = capsys.readouterr()
    assert path.read_text().startswith("<?xml")
    kinds = [c.split(" ")[0] for c in commands_outside_stop(out)]
    assert kinds[0] == "::error" and set(kinds) <= {"::error", "::warning"}


def test_hostile_names_in_every_format_never_become_commands():
    reports = [make_report(process="::error::pwn", cmdline="x\n::error::cmd\r::warning::z")]
    reports[0].findings[1].detail += "\n::error::detail\n  ::warning::indented"
    from portdoctor.render import render

    for fmt in ("json", "junit"):  # machine formats: safe by construction, no wrapping needed
        assert commands_outside_stop(render(reports, fmt)) == [], fmt
    assert commands_outside_stop(github.stop_commands(render_markdown(reports))) == []
    assert commands_outside_stop(github.grouped(reports, render_one))[0].startswith("::group::")
    annotations = "\n".join(github.annotation_lines(reports))
    assert all(re.match(r"::(error|warning) title=", line) for line in annotations.splitlines())


# --- the runner's other forms: v1 anywhere in a line, indented v2 -------------------

V1_AND_V2 = "a ##[error]v1-in-cmdline \u00a0::warning::nbsp ##[add-mask]x"


def test_the_runner_model_sees_v1_anywhere_and_v2_after_unicode_space():
    assert [n for n, _ in runner_commands("x ##[error]y\n\u3000::Warning::z\r::set-output name=a::b")] == [
        "error", "warning", "set-output"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "junit"])
def test_no_format_carries_a_command_even_without_the_actions_variable(fmt):
    """A report printed later (cat report.txt in a job, or run where GITHUB_ACTIONS is not passed
    through) must not act either: every document is defused, not only the wrapped ones."""
    from portdoctor.render import render

    reports = [make_report(process="::error::pwn ##[error]p", cmdline=V1_AND_V2)]
    reports[0].findings[1].detail += "\n::error::detail ##[warning]w\n\u2003::notice::indented"
    document = render(reports, fmt)
    assert runner_commands(document) == [], fmt
    if fmt == "json":
        doc = json.loads(document)
        assert doc["listeners"][0]["cmdline"] == V1_AND_V2  # parsers read the original text back
    if fmt == "junit":
        import xml.etree.ElementTree as ET

        assert "##[error]" in "".join(ET.fromstring(document).itertext())


def test_the_stop_token_is_never_in_what_it_guards_whatever_the_case():
    token = "portdoctor-abc"
    wrapped = github.stop_commands(f"x ##[{token.upper()}]\n", token)
    assert not wrapped.startswith(f"::stop-commands::{token}\n")


def test_annotations_carry_no_raw_escape_or_bell():
    line = github.command("error", "a\x1b[2Jb\x07", title="t\x1b")
    assert "\x1b" not in line and "\x07" not in line and "\\x1b" in line
