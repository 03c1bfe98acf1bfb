"""CI features end to end in the lab: --wait, many targets, and hostile names in GitHub mode."""

from __future__ import annotations

import json

import pytest

from labkit import Listener, validate_report
from runner_model import commands_outside_stop

pytestmark = pytest.mark.lab


def test_wait_returns_0_when_a_late_service_comes_up(lab):
    r = lab.run(["--wait", "10", "127.0.0.1:8080"], json_report=False,
                listeners=[Listener("127.0.0.1", 8080, delay=2)])
    assert r.returncode == 0, r.stderr
    assert 1.5 < r.elapsed < 7, r.elapsed  # about 2 s: the moment it binds, not the full 10
    assert r.stdout == ""
    assert "portdoctor: waiting for 127.0.0.1:8080: refused" in r.stderr
    assert "portdoctor: 127.0.0.1:8080 is up after" in r.stderr


def test_wait_that_never_succeeds_diagnoses_and_exits_1(lab):
    r = lab.run(["--wait", "3", "127.0.0.1:8080"])  # --report --format json: the diagnosis as JSON
    assert r.returncode == 1, r.stderr
    assert 3.0 <= r.elapsed < 5.5, r.elapsed
    assert "gave up after 3 s" in r.stderr
    assert r.json["verdict"]["reachable"] is False and r.cause != "ok"


def test_twenty_targets_at_once(lab):
    ports = list(range(9000, 9020))
    listening = ports[::4]
    r = lab.run([f"127.0.0.1:{p}" for p in ports], listeners=[Listener("127.0.0.1", p) for p in listening])
    assert r.returncode == 1, r.stderr
    reports = r.json["reports"]
    assert [x["target"]["port"] for x in reports] == ports
    assert [x["verdict"]["cause"] == "ok" for x in reports] == [p in listening for p in ports]
    assert r.elapsed < 20, "diagnosed concurrently, twenty targets take about as long as the slowest"


HOSTILE_NAME = "::error::pwned"  # 14 characters: fits the kernel's 15-byte comm
HOSTILE_ARG = "x\n::error::from-cmdline\r::warning::cr\n  ::notice::indented"


def test_a_hostile_process_name_never_becomes_a_workflow_command(lab, tmp_path):
    summary = tmp_path / "summary.md"
    summary.touch(mode=0o666)
    listeners = [Listener("127.0.0.1", 8080, name=HOSTILE_NAME, extra_args=[HOSTILE_ARG])]
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    # --expect makes the owner's name part of a failing finding, so it reaches the annotations too.
    r = lab.run(["--report", "--expect", "postgres", "127.0.0.1:8080"], json_report=False,
                listeners=listeners, env=env)
    assert r.returncode == 1, r.stderr
    assert HOSTILE_NAME in r.stdout  # the name is shown ...
    acted = commands_outside_stop(r.stdout) + commands_outside_stop(r.stderr)
    # ... but the runner acts only on our own commands
    assert [c for c in acted if not c.startswith(("::group::", "::endgroup::", "::error title=",
                                                  "::warning title="))] == []
    for c in acted:
        assert not c.startswith("::error::") and "\r" not in c
    assert any(c.startswith("::error title=") for c in acted)
    written = summary.read_text()
    assert written.startswith("## ❌ `127.0.0.1:8080`: `port-in-use`") and "::error::pwned" in written

    # The JSON report (same scenario) carries the command line with its newline made visible.
    r = lab.run(["--expect", "postgres", "127.0.0.1:8080"], listeners=listeners, env=env)
    lines = r.stdout.splitlines()  # under Actions, JSON on stdout is guarded by stop-commands too
    assert lines[0].startswith("::stop-commands::") and lines[-1].startswith("::portdoctor-")
    doc = json.loads("\n".join(lines[1:-1]))
    validate_report(doc)
    assert commands_outside_stop(r.stdout) == []
    owners = [s for s in doc["listeners"] if s["port"] == 8080]
    assert owners and owners[0]["process"] == HOSTILE_NAME
    if owners[0]["cmdline"] is not None:
        assert "x\\x0a::error::from-cmdline" in owners[0]["cmdline"]
