"""GitLab CI mode (GITLAB_CI=true): each target's report in a collapsible section."""

from __future__ import annotations

import re

import pytest

from portdoctor.cli import main
from portdoctor.render import gitlab
from portdoctor.render.text import render_one
from samples import make_report

START = re.compile(r"\x1b\[0Ksection_start:(\d+):([A-Za-z0-9_.-]+)(\[collapsed=true\])?\r\x1b\[0K(.*)")
END = re.compile(r"\x1b\[0Ksection_end:(\d+):([A-Za-z0-9_.-]+)\r\x1b\[0K$")


def sections(text: str) -> list[tuple[str, bool, str, str]]:
    """(name, collapsed, header, body) for each balanced section, as GitLab reads them."""
    found, current, body = [], None, []
    for line in text.split("\n"):  # GitLab's markers hold a \r inside the line
        m = START.match(line)
        if m:
            assert current is None, "sections must not overlap"
            current, body = (m.group(2), bool(m.group(3)), m.group(4)), []
            continue
        m = END.match(line)
        if m:
            assert current is not None and m.group(2) == current[0]
            found.append((*current, "\n".join(body)))
            current = None
            continue
        if current is not None:
            body.append(line)
    assert current is None
    return found


def test_section_markers_are_gitlabs():
    assert gitlab.section_start("a_b", "Header", True, now=1700000000) == \
        "\x1b[0Ksection_start:1700000000:a_b[collapsed=true]\r\x1b[0KHeader\n"
    assert gitlab.section_end("a_b", now=1700000001) == "\x1b[0Ksection_end:1700000001:a_b\r\x1b[0K\n"


def test_section_names_are_safe_and_unique():
    a = gitlab.section_name(1, make_report("[::1]:5432"))
    b = gitlab.section_name(2, make_report("[::1]:5432"))
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", a) and a != b


def test_failed_targets_stay_open_reachable_ones_collapse():
    text = gitlab.sectioned([make_report("127.0.0.1:5432"), make_report("127.0.0.1:6379", failed=False)], render_one)
    (_n1, collapsed1, header1, body1), (_n2, collapsed2, header2, body2) = sections(text)
    assert (collapsed1, collapsed2) == (False, True)
    assert header1 == "portdoctor 127.0.0.1:5432: wrong-interface" and header2 == "portdoctor 127.0.0.1:6379: ok"
    assert "Verdict  WRONG-INTERFACE" in body1 and "Verdict  OK" in body2


@pytest.fixture
def gitlab_ci(monkeypatch):
    monkeypatch.setenv("GITLAB_CI", "true")
    for name in ("GITHUB_ACTIONS", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def test_cli_in_gitlab_wraps_each_target(gitlab_ci, free_port, capsys):
    assert main(["--report", f"127.0.0.1:{free_port}", "127.0.0.1:1"]) == 1
    out = capsys.readouterr().out
    found = sections(out)
    assert [h for _, _, h, _ in found] == [f"portdoctor 127.0.0.1:{free_port}: not-listening",
                                            "portdoctor 127.0.0.1:1: not-listening"]
    assert out.rstrip().splitlines()[-3].startswith("Summary: 2 of 2 targets failed")


def test_cli_in_gitlab_leaves_machine_formats_alone(gitlab_ci, free_port, capsys):
    main(["--report", "--format", "junit", f"127.0.0.1:{free_port}"])
    out = capsys.readouterr().out
    assert out.startswith("<?xml") and "section_start" not in out
