"""Logic of the SSH feature on fixture data: destinations, inventories, hostile remote output."""

from __future__ import annotations

import json
import re

import pytest

from portdoctor.exitcodes import UsageError
from portdoctor.remote.destination import (
    Destination,
    parse_destination,
    parse_ini_inventory,
    parse_yaml_inventory,
    read_destinations,
)
from portdoctor.remote.receive import RemoteDataError, clean, read_envelope, split_output
from portdoctor.remote.transport import SshResult, classify_failure


@pytest.mark.parametrize("text,expected", [
    ("db", Destination("db")),
    ("root@db.internal", Destination("db.internal", "root")),
    ("ssh://deploy@10.0.0.5:2222", Destination("10.0.0.5", "deploy", 2222)),
    ("admin@[fe80::1%eth0]", Destination("fe80::1%eth0", "admin")),
])
def test_destinations(text, expected):
    assert parse_destination(text) == expected


@pytest.mark.parametrize("text", ["-oProxyCommand=touch /tmp/x", "a b", "root@", "@host", "host;rm", "x\x1b]0;", ""])
def test_bad_destinations_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_destination(text)


def test_ini_inventory():
    text = """
# comment
[web]
web[01:03].example.test ansible_user=deploy
db1 ansible_host=10.0.0.9 ansible_port=2200

[web:vars]
ntp=1
[all:children]
web
"""
    hosts = parse_ini_inventory(text)
    assert [h.label for h in hosts] == ["deploy@web01.example.test", "deploy@web02.example.test",
                                        "deploy@web03.example.test", "10.0.0.9:2200"]


def test_yaml_inventory():
    text = """
all:
  hosts:
    lb.example.test:
  children:
    dbs:
      hosts:
        db1:
          ansible_host: 10.0.0.7   # the primary
          ansible_user: "postgres"
        db2:
          ansible_host: '10.0.0.8'
      vars:
        ansible_port: 2222
"""
    hosts = parse_yaml_inventory(text)
    assert [h.label for h in hosts] == ["lb.example.test", "postgres@10.0.0.7", "10.0.0.8"]


@pytest.mark.parametrize("text", ["all: &anchor\n  hosts: {}\n", "all:\n  hosts:\n    - a\n", "all:\n\thosts:\n"])
def test_yaml_outside_the_subset_is_refused(text):
    with pytest.raises(UsageError):
        parse_yaml_inventory(text)


def test_host_list_file(tmp_path):
    path = tmp_path / "hosts.txt"
    path.write_text("# servers\nroot@a\nb  # trailing\n\nroot@a\n")
    assert [d.label for d in read_destinations(f"@{path}")] == ["root@a", "b"]
    (tmp_path / "bad.txt").write_text("ok\n-oProxyCommand=x\n")
    with pytest.raises(UsageError, match=r"bad\.txt:2"):
        read_destinations(f"@{tmp_path / 'bad.txt'}")
    with pytest.raises(UsageError):
        read_destinations(f"@{tmp_path / 'missing.txt'}")


def _envelope(**changes) -> str:
    report = {
        "schema": "portdoctor/report/v1", "tool": {"name": "portdoctor", "version": "0.1.0"},
        "created": "2026-01-01T00:00:00Z", "host": {"hostname": "db\x1b]0;pwned\x07", "os": "Linux", "privileged": True},
        "target": {"input": "10.0.0.1:5432", "host": "10.0.0.1", "port": 5432, "protocol": "tcp",
                   "addresses": ["10.0.0.1"]},
        "probes": [{"address": "10.0.0.1", "outcome": "refused", "ms": 0.1}],
        "listeners": [{"protocol": "tcp", "address": "127.0.0.1", "port": 5432, "pid": 7,
                       "process": "postgres\u202e", "cmdline": "postgres --password=hunter2"}],
        "findings": [{"check": "x", "status": "bogus", "cause": "made-up", "title": "::error::t", "detail": "a\nb\x07"}],
        "verdict": {"reachable": "yes", "cause": "made-up", "summary": "s\r\n::warning::x"},
        "duration_ms": -5,
    }
    report.update(changes)
    return json.dumps({"envelope": "portdoctor/remote/v1", "version": "0.1.0", "reports": [report]})


def test_remote_reports_are_rebuilt_as_clean_data():
    _, (report,) = read_envelope(_envelope())
    assert "\x1b" not in report.host.hostname and "\\x1b" in report.host.hostname
    assert "\u202e" not in report.listeners[0].process
    assert "hunter2" not in report.listeners[0].cmdline
    assert report.findings[0].status.value == "error" and report.findings[0].cause == "unknown"
    assert report.findings[0].detail.split("\n") == ["a", "b\\x07"]
    assert report.verdict.cause == "unknown" and report.verdict.reachable is False
    assert "\n" not in report.verdict.summary and "\r" not in report.verdict.summary
    assert report.duration_ms == 0.0


def test_each_part_of_a_remote_report_is_rebuilt_or_left_out():
    _, (report,) = read_envelope(_envelope(
        created="yesterday",
        listeners=[{"port": "5432", "address": "10.0.0.1"}, {"port": 6379, "protocol": "udp", "family": 6,
                                                             "v6only": "yes", "uid": -1}],
        findings=[{"check": "port-owner", "status": "fail", "cause": "port-in-use", "title": "t",
                   "remediation": [{"text": "stop it", "command": "kill 7"}, "not a step"] + [{"text": "x"}] * 12}],
        verdict={"reachable": True, "cause": "port-in-use", "check": "port-owner",
                 "first_step": {"text": "stop it\x1b[2J", "command": "kill 7"},
                 "also": [{"cause": "firewall", "title": "a rule"}, "junk"]}))
    assert [(s.port, s.protocol, s.family, s.v6only, s.uid) for s in report.listeners] == [(6379, "udp", 6, None, None)]
    [finding] = report.findings
    assert len(finding.remediation) == 10 and finding.remediation[0].command == "kill 7"
    assert (finding.remediation[1].text, finding.remediation[1].command) == ("", None)
    assert report.verdict.reachable is True and report.verdict.first_step.command == "kill 7"
    assert "\x1b" not in report.verdict.first_step.text
    assert report.verdict.also == [("firewall", "a rule"), ("unknown", "")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report.created)  # not what it said: the time it arrived
    _, (kept,) = read_envelope(_envelope())
    assert kept.created == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("report", [[], {"target": {"port": 0}}, {"target": {"port": "22"}}, {}])
def test_a_remote_report_without_a_target_port_is_an_error(report):
    text = json.dumps({"envelope": "portdoctor/remote/v1", "version": "0.1.0", "reports": [report]})
    with pytest.raises(RemoteDataError):
        read_envelope(text)


@pytest.mark.parametrize("text", ["not json", "[]", json.dumps({"envelope": "other"}),
                                  json.dumps({"envelope": "portdoctor/remote/v1", "reports": []}),
                                  "[" * 100000])
def test_unreadable_remote_output_is_an_error_not_a_crash(text):
    with pytest.raises(RemoteDataError):
        read_envelope(text)


def test_split_output_ignores_login_chatter():
    nonce = "abc123"
    out = split_output(f"Welcome!\n{nonce} report\n{{}}\n{nonce} end\nabc123x report\n".encode(), nonce)
    assert out.report == "{}"
    forged = split_output(b"abc12 report\n{}\n", nonce)
    assert forged.report is None


def test_clean_masks_and_escapes():
    assert clean("postgres://u:secret@db/x") == "postgres://u:***@db/x"
    assert clean("a" * 5000, 10) == "a" * 10 + "…"


@pytest.mark.parametrize("stderr,kind", [
    ("ssh: connect to host 10.0.0.1 port 22: Connection refused", "refused"),
    ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", "timeout"),
    ("No ED25519 host key is known for 10.0.0.1 and you have requested strict checking.\r\n"
     "Host key verification failed.", "host-key-unknown"),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.", "host-key-changed"),
    ("root@10.0.0.1: Permission denied (publickey).", "auth"),
    ("ssh: Could not resolve hostname nope: Name or service not known", "dns"),
])
def test_ssh_failures_are_named(stderr, kind):
    failure = classify_failure(Destination("10.0.0.1", "root"), SshResult(255, b"", stderr, 0.1))
    assert failure.kind == kind
    if kind == "host-key-unknown":
        assert "ssh-keyscan" in failure.command


def _matrix_reports():
    from portdoctor.model import Finding, HostInfo, Report, ServerSide, Status, Target, Verdict

    def one(host, address, port, cause):
        findings = [Finding("server-side", Status.FAIL, f"{cause} there", cause)] if cause != "ok" else []
        return Report("0.1.0", "2026-01-01T00:00:00Z", HostInfo(host, "Linux", True),
                      Target(f"{address}:{port}", address, port), [address], [], [], findings,
                      Verdict(cause == "ok", cause, f"{cause} summary"), 1.0, ssh=f"root@{host}",
                      server_side=ServerSide(f"root@{host}", "diagnosed"))

    return [one("a", "10.0.0.1", 5432, "ok"), one("a", "10.0.0.1", 6379, "firewall"),
            one("b", "10.0.0.2", 5432, "wrong-interface"), one("b", "10.0.0.2", 6379, "ok")]


def test_the_matrix_in_every_format():
    from portdoctor.render import render
    from portdoctor.render.github import annotation_lines

    reports = _matrix_reports()
    text = render(reports, "text")
    assert "  root@a  ok               firewall" in text
    markdown = render(reports, "markdown")
    assert "| `root@b` | ❌ `wrong-interface` | ✅ `ok` |" in markdown
    junit = render(reports, "junit")
    assert junit.count("<testsuite ") == 2 and 'name="portdoctor on root@a"' in junit
    document = json.loads(render(reports, "json"))
    assert [r["host"]["ssh"] for r in document["reports"]] == ["root@a", "root@a", "root@b", "root@b"]
    assert all(r["server_side"]["status"] == "diagnosed" for r in document["reports"])
    assert any("on root@b" in line for line in annotation_lines(reports))


def test_a_remote_portdoctor_of_another_version_is_reported_not_trusted():
    from portdoctor.model import Finding, HostInfo, Probe, Report, Status, Target, Verdict
    from portdoctor.model import Outcome as O
    from portdoctor.remote.combine import RemoteRun, attach_server_side

    def report(cause, findings=()):
        return Report("0.1.0", "2026-01-01T00:00:00Z", HostInfo("h", "Linux", True), Target("10.0.0.1:5432", "10.0.0.1", 5432),
                      ["10.0.0.1"], [Probe("10.0.0.1", O.REFUSED, 1.0)], [], list(findings),
                      Verdict(False, cause, f"{cause} here"), 1.0)

    client = report("not-listening", [Finding("remote", Status.FAIL, "refused", "not-listening")])
    run = RemoteRun(Destination("10.0.0.1", "root"))
    run.version = "9.9.9"
    run.reports = [report("ok")]
    attach_server_side(client, run, 0)
    side = next(f for f in client.findings if f.check == "server-side")
    assert side.status is Status.WARN and "9.9.9" in side.title
    assert client.verdict.cause == "not-listening"  # the client's own diagnosis stands
    assert client.server_side.remote_version == "9.9.9"


def test_the_agent_diagnoses_an_address_of_its_own_that_another_machine_reaches(monkeypatch):
    # Behind NAT the client's address is not on the server: its own address is used,
    # never loopback (127.0.0.0/8, ::1, ::ffff:127.x) nor link-local (fe80::/10, any case).
    from portdoctor.facts import InterfaceAddress, interfaces
    from portdoctor.remote.agent import _server_side_address

    def fake(snap):
        snap.interfaces += [InterfaceAddress("lo", "127.0.0.1", 4), InterfaceAddress("dummy0", "127.0.0.2", 4),
                            InterfaceAddress("eth0", "FE80::1%eth0", 6), InterfaceAddress("eth0", "febf::2", 6),
                            InterfaceAddress("eth0", "::ffff:127.0.0.1", 6), InterfaceAddress("eth0", "2001:db8::5", 6),
                            InterfaceAddress("eth0", "192.0.2.7", 4)]

    monkeypatch.setattr(interfaces, "gather_interfaces", fake)
    notes: list[str] = []
    assert _server_side_address(["203.0.113.9"], notes) == "192.0.2.7"
    assert _server_side_address(["2001:db8::99"], notes) == "2001:db8::5"
    assert "NAT or a load balancer" in notes[0]

