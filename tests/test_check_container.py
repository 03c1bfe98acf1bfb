"""The container check's logic on hand-built engine views (the lab proves it on real engines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portdoctor.checks.container import ContainerCheck
from portdoctor.facts import engine
from portdoctor.model import Status
from portdoctor.testing import context, sock

check = ContainerCheck()


def published(name="web", state="exited", exit_code=3, restart_count=0, **kw):
    return engine.Container("a" * 64, name, image="shop/api", state=state, status=f"{state} (x)",
                            exit_code=exit_code, restart_count=restart_count,
                            published=[engine.PortBinding(80, "tcp", "0.0.0.0", 8083)], **kw)


def with_view(ctx, view):
    ctx.facts.extras["engine"] = view  # what the lazy gatherer would have read
    return ctx


def test_no_engine_socket_keeps_the_check_out_of_the_report():
    assert not check.applies(context("127.0.0.1:8083", extras={"engine_sockets": []}))


def test_a_remote_target_is_not_asked_about():
    found = {"engine_sockets": ["/run/docker.sock"]}
    assert not check.applies(context("192.0.2.10:8083", extras=found))
    assert check.applies(context("127.0.0.1:8083", extras=found))


def test_a_port_served_by_an_ordinary_process_never_asks_the_engine(monkeypatch):
    def boom(snap):
        raise AssertionError("the engine was asked")

    monkeypatch.setattr(engine, "gather_engine", boom)
    ctx = context("127.0.0.1:5432", "open", sockets=[sock("127.0.0.1", 5432, pid=10, process="postgres")])
    f = check.run(ctx)
    assert f.status is Status.PASS and "postgres" in f.title


def test_an_unreadable_engine_is_a_skip_with_the_hint_never_a_cause():
    view = engine.EngineView("/var/run/docker.sock", error="the container engine's socket /var/run/docker.sock "
                             "is not readable by this user", hint="Run again with sudo, or add your user to the "
                             "socket's group (usually `docker`) and log in again.", command="sudo usermod -aG docker $USER")
    f = check.run(with_view(context("127.0.0.1:8083"), view))
    assert f.status is Status.SKIP and f.cause is None
    assert "docker" in f.remediation[0].text and f.remediation[0].command == "sudo usermod -aG docker $USER"


@pytest.mark.parametrize("state, code, title_part, first", [
    ("exited", 3, "exited, exit code 3", "docker start web"),
    ("dead", 137, "dead, exit code 137", "docker start web"),
    ("created", 0, "created but never started.", "docker start web"),
    ("paused", 0, "paused", "docker unpause web"),
    ("restarting", 1, "restarting in a loop (4 restarts, exit code 1)", "docker logs --tail 50 web"),
])
def test_a_published_container_that_is_not_running(state, code, title_part, first):
    restarts = 4 if state == "restarting" else 0
    view = engine.EngineView("/run/docker.sock", containers=[published(state=state, exit_code=code,
                                                                       restart_count=restarts)])
    f = check.run(with_view(context("127.0.0.1:8083"), view))
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "web" in f.title and title_part in f.title
    assert f.remediation[0].command == first


def test_a_container_whose_restart_policy_gave_up_reads_its_logs_before_starting_it_again():
    """--restart on-failure:3, crashed after each restart: `docker start` alone only repeats the crash."""
    view = engine.EngineView("/run/docker.sock", containers=[published(state="exited", exit_code=2, restart_count=3)])
    f = check.run(with_view(context("127.0.0.1:8083"), view))
    assert f.cause == "not-listening" and "exited, exit code 2, after 3 restarts" in f.title
    assert [s.command for s in f.remediation[:2]] == ["docker logs --tail 50 web", "docker start web"]


def test_compose_service_is_named_and_started_with_compose():
    c = published(compose_service="api", compose_project="shop")
    f = check.run(with_view(context("127.0.0.1:8083"), engine.EngineView("/run/docker.sock", containers=[c])))
    assert "web (compose service api)" in f.title
    assert any(s.command == "docker compose up -d api" for s in f.remediation)


def test_podman_containers_get_podman_commands():
    c = published(engine="podman")
    f = check.run(with_view(context("127.0.0.1:8083"), engine.EngineView("/run/podman/podman.sock", "podman",
                                                                          containers=[c])))
    assert f.remediation[0].command == "podman start web"


def test_hostile_names_reach_the_finding_cleaned():
    item = {"Id": "b" * 64, "Names": ["/evil\x1b[2J\n::error::x"], "State": "exited", "Labels": {}}
    c = engine.container_from_list(item, "docker")
    assert "\x1b" not in c.name and "\n" not in c.name


# --- a restart loop, at every instant the diagnosis can land on (recorded Engine API answers) ---

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "engine" / "docker-20.10-restart-loop.json").read_text())


def recorded(instant: str, monkeypatch, seconds_after_start: float | None = None) -> engine.Container:
    """The container as the engine described it at ``instant``, read as the engine client reads
    it, with the clock at the recording (or ``seconds_after_start`` after its StartedAt)."""
    answer = RECORDED[instant]
    c = engine.container_from_list(answer["list"], "docker")
    engine.apply_inspect(c, answer["inspect"])
    now = answer["recorded_at"] if seconds_after_start is None else c.started_at + seconds_after_start
    monkeypatch.setattr(engine, "wall_clock", lambda: now)
    return c


def refused_backend(monkeypatch):
    """Nothing answers on the container's own address (the app is not up between two crashes)."""
    from portdoctor.model import Outcome, Probe

    monkeypatch.setattr(engine, "probe_backend", lambda address, *a: Probe(address, Outcome.REFUSED, 0.1))


def crashy_context(c, **kw):
    # The race as the lab caught it: docker-proxy half there ([::] only), 127.0.0.1 refused.
    ctx = context("127.0.0.1:8084", "refused", sockets=[sock("::", 8084, pid=40, process="docker-proxy", v6only=True)],
                  **kw)
    return with_view(ctx, engine.EngineView("/var/run/docker.sock", containers=[c]))


def test_restarting_instant_is_a_restart_loop_with_its_logs_first(monkeypatch):
    c = recorded("restarting", monkeypatch)
    assert c.state == "restarting" and c.restart_count == 2 and c.exit_code == 2
    assert c.restart_loop() == {"restarts": 2, "state": "restarting", "exit_code": 2}
    f = check.run(crashy_context(c))
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "crashy" in f.title and "restarting in a loop (2 restarts, exit code 2)" in f.title
    assert f.remediation[0].command == "docker logs --tail 50 crashy"
    assert f.evidence["restart_loop"]["restarts"] == 2


def test_running_one_second_after_a_restart_is_a_restart_loop_not_the_bound_address(monkeypatch):
    c = recorded("running_between_crashes", monkeypatch, seconds_after_start=1.0)
    assert c.running and c.restart_count == 2 and c.pid
    loop = c.restart_loop()
    assert loop is not None and loop["up_seconds"] == 1.0 and loop["previous_run_ended_seconds_before"] >= 0
    refused_backend(monkeypatch)
    f = check.run(crashy_context(c))
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "crashy" in f.title and "restarting in a loop (2 restarts; this run started 1 s ago)" in f.title
    assert f.remediation[0].command == "docker logs --tail 50 crashy"


def test_a_long_ago_crash_then_minutes_of_steady_running_is_not_a_loop(monkeypatch):
    c = recorded("recovered_after_one_crash", monkeypatch, seconds_after_start=300.0)
    assert c.running and c.restart_count == 1
    assert c.restart_loop() is None
    refused_backend(monkeypatch)
    f = check.run(crashy_context(c))
    assert "restart" not in f.title and "restart_loop" not in f.evidence


def test_the_same_recovered_container_seconds_after_its_restart_is_hedged(monkeypatch):
    c = recorded("recovered_after_one_crash", monkeypatch)  # recorded 4.5 s after StartedAt
    assert c.restart_loop()["up_seconds"] < engine.STEADY_AFTER


def test_a_health_check_still_starting_without_restarts_is_not_a_loop(monkeypatch):
    c = recorded("health_starting_never_restarted", monkeypatch)
    assert c.health == "starting" and c.restart_count == 0
    assert c.restart_loop() is None
    c.restart_count = 3  # restarted, and not yet healthy since: not proven steady whatever the uptime
    monkeypatch.setattr(engine, "wall_clock", lambda: c.started_at + 600)
    assert c.restart_loop()["health"] == "starting"


def test_the_verdict_leads_with_the_restart_loop_whatever_the_host_side_showed(monkeypatch):
    """The lab's race: at that instant only docker-proxy's [::] socket existed (V6ONLY), so the
    wrong-interface check fails too; the restart loop is the headline."""
    from portdoctor.checks.wrong_interface import WrongInterfaceCheck
    from portdoctor.pipeline import decide_verdict

    c = recorded("running_between_crashes", monkeypatch, seconds_after_start=1.0)
    refused_backend(monkeypatch)
    ctx = crashy_context(c)
    ctx.findings.extend([check.run(ctx), WrongInterfaceCheck().run(ctx)])
    assert ctx.findings[1].cause == "wrong-interface"  # the host side, at that instant
    verdict = decide_verdict(ctx)
    assert verdict.check == "container" and verdict.cause == "not-listening"
    assert verdict.first_step.command == "docker logs --tail 50 crashy"


# --- a running container that publishes the port: what is behind it decides ---------------

def running_web(monkeypatch, inside, backend="refused", networks=None, **kw):
    """Container web publishes 8083 -> 80 and runs; ``inside``: its listeners (None: not readable),
    ``backend``: what a connection to its own address gets."""
    from portdoctor.model import Outcome, Probe

    monkeypatch.setattr(engine, "probe_backend", lambda address, *a: Probe(address, Outcome(backend), 0.1))
    monkeypatch.setattr(engine, "listeners_inside", lambda c, privileged: inside)
    return published(state="running", exit_code=None, pid=42,
                     networks={"bridge": "172.17.0.2"} if networks is None else networks, **kw)


def app(address, port=80):
    return sock(address, port, pid=9, process="uvicorn")


@pytest.mark.parametrize("inside, backend, networks, status, cause, words, first", [
    ([app("0.0.0.0")], "open", None, Status.PASS, None, "the app inside listens on 0.0.0.0:80 and answers.", None),
    (None, "open", None, Status.PASS, None, "its address 172.17.0.2:80 answers.", None),
    (None, "refused", {}, Status.PASS, None, "published by container web (8083 → container port 80/tcp).", None),
    ([app("127.0.0.1"), app("::1")], "refused", None, Status.FAIL, "wrong-interface",
     "listens on 127.0.0.1:80, [::1]:80 inside the container: loopback only", "docker restart web"),
    ([app("0.0.0.0", 8000)], "refused", None, Status.FAIL, "not-listening",
     "publishes 8083 to container port 80, but the app inside listens on 8000.", "docker run -p 8083:8000 ..."),
    ([], "refused", None, Status.FAIL, "not-listening", "but nothing listens inside the container.",
     "docker logs --tail 50 web"),
    (None, "refused", None, Status.FAIL, "not-listening", "172.17.0.2:80 does not accept (refused).",
     "docker exec web netstat -ltn"),
])
def test_a_running_published_container_is_judged_by_what_listens_behind_the_port(
        monkeypatch, inside, backend, networks, status, cause, words, first):
    c = running_web(monkeypatch, inside, backend, networks)
    f = check.run(with_view(context("127.0.0.1:8083", "open"), engine.EngineView("/run/docker.sock", containers=[c])))
    assert (f.status, f.cause) == (status, cause)
    assert words in f.title
    assert (f.remediation[0].command if f.remediation else None) == first
    assert ("backend" in f.evidence) == bool(networks is None)
    assert ("inside" in f.evidence) == (inside is not None)


def test_the_wrong_container_port_names_the_compose_line_and_the_mismatch(monkeypatch):
    c = running_web(monkeypatch, [app("0.0.0.0", 8000)], compose_service="api")
    f = check.run(with_view(context("127.0.0.1:8083"), engine.EngineView("/run/docker.sock", containers=[c])))
    assert 'ports: ["8083:8000"]' in f.remediation[0].text and f.remediation[0].command == "docker compose up -d api"
    assert f.evidence["mismatch"] == {"published_to": 80, "listening": [8000]}
    assert list(f.evidence)[:2] == ["mismatch", "container"]  # the order JSON shows it in


def test_dockerds_reservation_without_its_nat_rule_is_the_missing_forward(monkeypatch):
    """--userland-proxy=false: dockerd holds the host port and the DNAT rule does the work; with the rule
    gone, connections wait on a socket that never accepts, however well the app inside serves."""
    c = running_web(monkeypatch, [app("0.0.0.0")], "open")
    ctx = context("127.0.0.1:8083", "timeout", sockets=[sock("0.0.0.0", 8083, pid=5, process="dockerd")])
    f = check.run(with_view(ctx, engine.EngineView("/run/docker.sock", containers=[c])))
    assert (f.status, f.cause) == (Status.FAIL, "firewall")
    assert "no NAT rule forwards 127.0.0.1" in f.title and f.remediation[0].command == "docker restart web"


def test_a_container_that_answers_seconds_after_a_restart_is_a_warning(monkeypatch):
    c = running_web(monkeypatch, [app("0.0.0.0")], "open", restart_count=2)
    c.started_at = 1000.0
    monkeypatch.setattr(engine, "wall_clock", lambda: 1003.0)
    f = check.run(with_view(context("127.0.0.1:8083", "open"), engine.EngineView("/run/docker.sock", containers=[c])))
    assert f.status is Status.WARN and "restarted the container 2 times, the last 3 s ago" in f.title
    assert f.evidence["restart_loop"]["up_seconds"] == 3.0 and f.remediation[0].command == "docker logs --tail 50 web"
