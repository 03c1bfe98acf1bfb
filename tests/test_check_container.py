"""The container check's logic on hand-built engine views (the lab proves it on real engines)."""

from __future__ import annotations

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


def test_no_engine_socket_keeps_the_check_out_of_the_report(monkeypatch):
    monkeypatch.setattr(engine, "engine_sockets", lambda environ: [])
    assert not check.applies(context("127.0.0.1:8083"))


def test_a_remote_target_is_not_asked_about(monkeypatch):
    monkeypatch.setattr(engine, "engine_sockets", lambda environ: ["/run/docker.sock"])
    assert not check.applies(context("192.0.2.10:8083"))
    assert check.applies(context("127.0.0.1:8083"))


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
    view = engine.EngineView("/run/docker.sock", containers=[published(state=state, exit_code=code, restart_count=4)])
    f = check.run(with_view(context("127.0.0.1:8083"), view))
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "web" in f.title and title_part in f.title
    assert f.remediation[0].command == first


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
