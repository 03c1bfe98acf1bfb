"""The wizard's plain logic (no terminal): events into rows; and the core logic it shows: history,
comparison (portdoctor.history), fix actions (portdoctor.actions)."""

from __future__ import annotations

import json
import os

import pytest

from portdoctor.actions import offered
from portdoctor.events import CheckFinished, CheckStarted, Finished, Planned, Probed, Resolved
from portdoctor.history import compare_reports, load_report_dict, saved_reports
from portdoctor.model import Action, Finding, Outcome, Probe, Report, Status
from portdoctor.target import parse_target
from portdoctor.testing import report as build_report
from portdoctor.testing import sock
from portdoctor.tui.detail import detail_markdown
from portdoctor.tui.state import (
    NOT_RUN,
    RUNNING,
    WAITING,
    DiagnosisRun,
)

TARGET = parse_target("127.0.0.1:8080")


def report(findings, listeners=(), cause="not-listening", reachable=False) -> Report:
    return build_report(findings, listeners=listeners, cause=cause, reachable=reachable)


class TestDiagnosisRun:
    def test_events_move_rows_from_waiting_to_running_to_their_status(self):
        run = DiagnosisRun(TARGET)
        run.apply(Planned(TARGET, [("a", "A?"), ("b", "B?"), ("c", "C?")]))
        assert [r.state for r in run.rows.values()] == [WAITING] * 3
        run.apply(Resolved(TARGET, ["127.0.0.1"], None))
        run.apply(Probed(TARGET, [Probe("127.0.0.1", Outcome.REFUSED, 1.0)]))
        assert run.addresses == ["127.0.0.1"] and run.probes[0].outcome is Outcome.REFUSED
        assert run.apply(CheckStarted(TARGET, "a", "A?")) == "a" and run.rows["a"].state == RUNNING
        findings = [Finding("a", Status.PASS, "fine"), Finding("a", Status.WARN, "hmm")]
        assert run.apply(CheckFinished(TARGET, findings)) == "a"
        assert run.rows["a"].state == "warn" and run.rows["a"].result == "fine"
        run.apply(Finished(TARGET, report(findings)))
        assert run.finished and run.rows["b"].state == NOT_RUN and run.rows["c"].state == NOT_RUN


class TestCompare:
    def test_verdict_findings_and_listeners_changes(self):
        old = report([Finding("svc", Status.FAIL, "down", "not-listening")]).to_dict()
        new = report([Finding("svc", Status.PASS, "up"), Finding("fw", Status.PASS, "no rule")],
                     [sock("0.0.0.0", 8080, pid=5, process="myapp")], cause="ok", reachable=True).to_dict()
        text = "\n".join(compare_reports(old, new))
        assert "was **not-listening** (not reachable)" in text and "now **ok** (reachable)" in text
        assert "`svc`: **fail** → **pass**" in text and "`fw`: new, **pass**" in text
        assert "new: tcp 0.0.0.0:8080 myapp (pid 5)" in text

    def test_same_report_says_nothing_changed(self):
        same = report([Finding("svc", Status.FAIL, "down", "not-listening")]).to_dict()
        text = "\n".join(compare_reports(same, same))
        assert "unchanged" in text and "every check has the same status" in text and "none, as before" in text


class TestHistory:
    def test_newest_first_only_report_files(self, tmp_path):
        for name in ("20240101T000000Z-a.json", "20250101T000000Z-b.md", "notes.pdf", ".hidden.json"):
            (tmp_path / name).write_text("{}")
        assert [r.path.name for r in saved_reports(tmp_path)] == ["20250101T000000Z-b.md", "20240101T000000Z-a.json"]
        assert saved_reports(tmp_path / "missing") == []

    def test_multi_target_json_picks_the_matching_report(self, tmp_path):
        path = tmp_path / "r.json"
        other = dict(report([]).to_dict(), target={"host": "10.0.0.1", "port": 1, "protocol": "tcp"})
        path.write_text(json.dumps({"schema": "x", "reports": [other, report([]).to_dict()]}))
        assert load_report_dict(path, "127.0.0.1:8080")["target"]["host"] == "127.0.0.1"

    def test_a_unix_socket_target_is_matched_by_its_path(self, tmp_path):
        # Its JSON port is null: it was read as "localhost:None" and never matched.
        path = tmp_path / "r.json"
        unix = dict(report([]).to_dict(), target={"host": "localhost", "port": None, "protocol": "unix",
                                                  "path": "/run/app.sock"})
        path.write_text(json.dumps({"schema": "x", "reports": [report([]).to_dict(), unix]}))
        assert load_report_dict(path, "unix:///run/app.sock")["target"]["path"] == "/run/app.sock"


class TestOfferedActions:
    """The wizard's fix comes from the actions the checks attach to their findings."""

    holder = sock("0.0.0.0", 8080, pid=12345, process="python3", user="bob")

    def in_use(self, *socks, status=Status.FAIL):
        actions = [Action.stop_process(s, "it holds port 8080/tcp, which postgres should own", "postgres") for s in socks]
        return [Finding("port-owner", status, "python3 holds it", "port-in-use", actions=actions)]

    def test_a_failing_findings_stop_action_is_offered_and_serialised(self):
        found = report(self.in_use(self.holder), [self.holder])
        actions = offered(found)
        assert [(a.kind, a.pid, a.process, a.signal) for a in actions] == [("stop-process", 12345, "python3", "SIGTERM")]
        assert "SIGTERM to pid 12345 (python3, user bob), which holds 0.0.0.0:8080" in actions[0].describe()
        data = found.to_dict()["findings"][0]["actions"]
        assert data == [{"kind": "stop-process", "pid": 12345, "process": "python3", "user": "bob", "uid": None,
                         "protocol": "tcp", "address": "0.0.0.0", "port": 8080, "inode": None,
                         "expected": "postgres", "signal": "SIGTERM", "start_time": None,
                         "reason": "it holds port 8080/tcp, which postgres should own"}]

    def test_never_ourselves_never_from_a_passing_finding_once_per_pid(self):
        me = sock("127.0.0.1", 8080, pid=os.getpid(), process="python3")
        assert offered(report(self.in_use(me), [me])) == []
        assert offered(report(self.in_use(self.holder, status=Status.PASS), [self.holder])) == []
        twice = sock("::", 8080, pid=12345, process="python3")
        assert len(offered(report(self.in_use(self.holder, twice), [self.holder, twice]))) == 1

    def test_a_hidden_owner_cannot_become_an_action(self):
        with pytest.raises(ValueError):
            Action.stop_process(sock("0.0.0.0", 8080))


class TestDetailText:
    def test_remediation_commands_and_resolver_order(self):
        run = DiagnosisRun(TARGET)
        run.apply(Planned(TARGET, [("dns", "Does it resolve?")]))
        f = Finding("dns", Status.FAIL, "localhost is ::1 first", "wrong-interface",
                    remediation=[], evidence={"resolver_order": ["::1", "127.0.0.1"], "rule": "tcp dport 8080 drop"})
        run.apply(CheckFinished(TARGET, [f]))
        text = detail_markdown(run.rows["dns"], None, lambda cause: f"PAGE {cause}")
        assert "1. `::1`" in text and "2. `127.0.0.1`" in text
        assert "tcp dport 8080 drop" in text and "PAGE wrong-interface" in text


def test_a_check_in_error_keeps_the_exit_code_off_0_but_not_watch_mode():
    """Reachable with a plugin that could not run: the screen says reachable (watch mode
    stops), the wizard's exit code is 1, as --report's."""
    run = DiagnosisRun(TARGET)
    run.report = build_report([Finding("plugin", Status.ERROR, "plugin: the check failed to run")],
                              cause="ok", reachable=True)
    assert run.ok and not run.clean
    run.report = build_report([Finding("plugin", Status.PASS, "fine")], cause="ok", reachable=True)
    assert run.ok and run.clean
