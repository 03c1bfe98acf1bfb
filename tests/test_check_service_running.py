"""service-running: not-listening, what was looked at, typo hints, other namespaces, remote targets."""

import pytest

from portdoctor.checks.service_running import ServiceRunningCheck, looks_like_typo
from portdoctor.testing import context, sock

check = ServiceRunningCheck()


@pytest.mark.parametrize("wanted, other, typo", [
    (8080, 8081, True),  # one digit changed
    (8080, 80800, True), (8080, 880, True),  # one digit added / removed
    (8080, 8800, True),  # two adjacent digits swapped
    (5432, 5423, True),
    (8080, 8080, False), (8080, 9090, False), (8080, 443, False), (8080, 8008, True),
    (5432, 2345, False),
])
def test_typo_rules(wanted, other, typo):
    assert looks_like_typo(wanted, other) is typo


def test_nothing_listening_fails_and_says_what_was_looked_at():
    ctx = context("127.0.0.1:8080", privileged=False, visibility={"owners": "run with sudo"})
    f = check.run(ctx)
    assert (f.status, f.cause) == ("fail", "not-listening")
    assert "TCP sockets on port 8080, IPv4 and IPv6" in f.detail
    assert "other network namespaces" in f.detail and "owners: run with sudo" in f.detail
    commands = [r.command for r in f.remediation]
    assert "ss -ltnp 'sport = :8080'" in commands


@pytest.mark.parametrize("init, systemd_advice", [("systemd", True), ("tini", False), (None, False)])
def test_systemctl_and_journalctl_only_where_systemd_is_pid_1(init, systemd_advice):
    ctx = context("127.0.0.1:8080")
    ctx.facts.os = "linux"
    ctx.facts.extras["init_process"] = init
    commands = " ".join(r.command or "" for r in check.run(ctx).remediation)
    assert ("systemctl" in commands and "journalctl" in commands) is systemd_advice
    assert systemd_advice or ("systemctl" not in commands and "journalctl" not in commands)


def test_did_you_mean_keeps_the_protocol_and_the_serving_address():
    udp = context("udp://127.0.0.1:5354", all_listening=[sock("127.0.0.1", 5353, protocol="udp")])
    assert check.run(udp).remediation[0].command == "portdoctor udp://127.0.0.1:5353"
    elsewhere = context("127.0.0.1:8001", all_listening=[sock("127.0.0.2", 8000)])
    f = check.run(elsewhere)
    assert "Did you mean 127.0.0.2:8000" in f.title
    assert f.remediation[0].command == "portdoctor 127.0.0.2:8000"


def test_did_you_mean_a_port_one_digit_off():
    near = sock("0.0.0.0", 8081, pid=1234, process="python3")
    far = sock("0.0.0.0", 9999, pid=1, process="other")
    ctx = context("127.0.0.1:8080", all_listening=[far, near])
    f = check.run(ctx)
    assert f.cause == "not-listening"
    assert "Did you mean :8081 by python3 (pid 1234)?" in f.title
    assert f.evidence["did_you_mean"] == [8081]
    assert f.remediation[0].command == "portdoctor 127.0.0.1:8081"


def test_no_hint_for_the_other_protocol():
    ctx = context("127.0.0.1:8080", all_listening=[sock("0.0.0.0", 8081, protocol="udp")])
    assert "Did you mean" not in check.run(ctx).title


def test_listening_passes():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("127.0.0.2", 8080, pid=7, process="app")]))
    assert f.status == "pass" and "127.0.0.2 by app (pid 7)" in f.title


def test_non_listening_sockets_do_not_count():
    ctx = context("127.0.0.1:8080", sockets=[sock("127.0.0.1", 8080, state="TIME_WAIT")])
    assert check.run(ctx).cause == "not-listening"


def test_only_in_another_namespace_is_not_this_checks_failure():
    other = sock("0.0.0.0", 8080, namespace="net:[4026532177]", container="docker:3f2a")
    f = check.run(context("127.0.0.1:8080", sockets=[other]))
    assert f.status == "warn" and f.cause == "other-namespace"
    assert "docker:3f2a" in f.title


def test_other_protocol_points_at_protocol_mismatch():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("0.0.0.0", 8080, protocol="udp")]))
    assert f.status == "warn" and f.cause == "protocol-mismatch"


def test_remote_target_is_skipped_not_called_not_listening():
    f = check.run(context("192.0.2.10:8080", "timeout"))
    assert f.status == "skip" and f.cause is None


def test_reachable_without_a_socket_seen_passes():
    f = check.run(context("127.0.0.1:8080", "open"))
    assert f.status == "pass"


def _first_step(ctx):
    return check.run(ctx).remediation[0]


def test_start_step_names_the_well_known_unit_under_systemd():
    ctx = context("127.0.0.1:5432")
    ctx.facts.extras["init_process"] = "systemd"
    step = _first_step(ctx)
    assert step.command == "sudo systemctl start postgresql"
    assert "journalctl -u postgresql -n 50 --no-pager" in [r.command for r in check.run(ctx).remediation]


def test_without_systemd_as_pid1_the_first_step_is_not_systemctl():
    ctx = context("127.0.0.1:5432")
    ctx.facts.extras["init_process"] = "tini"
    f = check.run(ctx)
    assert f.remediation[0].command is None and "the way you normally do" in f.remediation[0].text
    assert "docker compose up SERVICE" in f.remediation[0].text
    assert not any("systemctl" in (r.command or "") for r in f.remediation)  # issue 8: only where systemd is PID 1


def test_unknown_port_keeps_the_capitals_placeholder():
    ctx = context("127.0.0.1:47613")
    ctx.facts.extras["init_process"] = "systemd"
    assert _first_step(ctx).command == "sudo systemctl start SERVICE"
