"""The well-known-service check and its facts, on fixture data (captured or quoted, see fixtures/platform)."""

from __future__ import annotations

from pathlib import Path

from portdoctor.checks.services import WellKnownServiceCheck
from portdoctor.facts.services import (
    ServiceProcess,
    exec_start_argv,
    names_port,
    parse_proc_net_unix,
    parse_systemctl_show,
    parse_unit_list,
)
from portdoctor.model import Status
from portdoctor.testing import context, sock

FIXTURES = Path(__file__).parent / "fixtures" / "platform"
CHECK = WellKnownServiceCheck()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def run(ctx, **extras):
    ctx.facts.extras.update(extras)
    assert CHECK.applies(ctx)
    return CHECK.run(ctx)


# --- parsers --------------------------------------------------------------------------


def test_proc_net_unix_keeps_only_listening_path_sockets():
    listeners = parse_proc_net_unix(fixture("proc_net_unix.txt"))
    assert [(u.path, u.kind) for u in listeners] == [
        ("/tmp/pdcap/pg/.s.PGSQL.5432", "stream"),
        ("/tmp/pdcap/redis/redis-server.sock", "stream"),
    ]
    assert listeners[0].basename == ".s.PGSQL.5432"
    assert all(u.inode > 0 for u in listeners)


def test_systemctl_show_units_with_exec_start_and_listen():
    units = parse_systemctl_show(fixture("systemctl_show_postgresql_failed.txt"))
    assert [(u.id, u.active_state, u.result) for u in units] == [
        ("postgresql@15-main.service", "failed", "exit-code"),
        ("postgresql.service", "inactive", "success"),
        ("myapi.service", "failed", "exit-code"),
    ]
    assert units[0].exec_start == ["/usr/bin/pg_ctlcluster --skip-systemctl-redirect 15-main start"]
    assert units[2].exec_start[0].endswith("--port 8001")
    socket_unit = parse_systemctl_show("Id=ssh.socket\n" + fixture("systemctl_show_listen_ssh_socket.txt"))
    assert socket_unit[0].listen == ["0.0.0.0:22 (Stream)", "[::]:22 (Stream)"]


def test_names_port_matches_port_clauses_but_not_other_numbers():
    assert names_port("uvicorn app:app --port 8001", 8001)
    assert names_port("redis-server --port=6380", 6380)
    assert names_port("[::]:22 (Stream)", 22)
    assert names_port("0.0.0.0:5432 (Stream)", 5432)
    assert not names_port("--port 18001", 8001)
    assert not names_port("--port 80011", 8001)
    assert not names_port("/opt/app-8001.2/bin/run", 8001)


def test_exec_start_argv_and_unit_list():
    assert exec_start_argv("{ path=/bin/true ; argv[]=/bin/true ; ignore_errors=no ; pid=0 ; code=(null) ; status=0/0 }") == ["/bin/true"]
    assert exec_start_argv("") == []
    assert parse_unit_list(fixture("systemctl_list_units_failed.txt")) == ["postgresql@15-main.service", "myapi.service"]
    assert parse_unit_list("● nginx.service loaded failed failed nginx\n") == ["nginx.service"]


# --- decisions ----------------------------------------------------------------------------


def test_unix_socket_only_postgres_is_a_not_listening_failure():
    ctx = context("127.0.0.1:5432")
    unix = parse_proc_net_unix(fixture("proc_net_unix.txt"))
    f = run(ctx, **{"systemd_units:5432": None, "service_processes:5432": [ServiceProcess(812, "postgres", "postgres")],
                    "unix_listeners": unix})
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "only on the Unix socket /tmp/pdcap/pg/.s.PGSQL.5432" in f.title
    assert "postgres pid 812" in f.title
    assert any("listen_addresses" in r.text for r in f.remediation)
    assert any(r.command == "psql -h /tmp/pdcap/pg -p 5432" for r in f.remediation)


def test_redis_socket_matches_by_name_but_another_ports_postgres_socket_does_not():
    unix = parse_proc_net_unix(fixture("proc_net_unix.txt"))
    redis = run(context("127.0.0.1:6379"), **{"systemd_units:6379": None, "service_processes:6379": [],
                                               "unix_listeners": unix})
    assert "redis-server.sock" in redis.title and redis.cause == "not-listening"
    other = run(context("127.0.0.1:5433"), init_process="systemd", **{"systemd_units:5433": [], "unix_listeners": unix})
    assert other.status is Status.PASS  # 5433 is not a well-known port; .s.PGSQL.5432 is not its socket


def test_running_service_on_another_port_is_named():
    f = run(context("127.0.0.1:6379"), **{"systemd_units:6379": None, "unix_listeners": [],
            "service_processes:6379": [ServiceProcess(99, "redis-server", "redis", ["127.0.0.1:6380"])]})
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "listens on 127.0.0.1:6380, not on port 6379" in f.title


def test_failed_unit_is_reported_with_journalctl():
    units = parse_systemctl_show(fixture("systemctl_show_postgresql_failed.txt"))
    f = run(context("127.0.0.1:5432"), **{"systemd_units:5432": units, "service_processes:5432": [],
                                          "unix_listeners": []})
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert f.title.startswith("postgresql@15-main.service has failed")
    assert f.remediation[0].command == "journalctl -u postgresql@15-main.service -n 20 --no-pager"


def test_failed_unit_whose_exec_start_names_an_unusual_port():
    units = parse_systemctl_show(fixture("systemctl_show_postgresql_failed.txt"))
    ctx = context("127.0.0.1:8001")
    f = run(ctx, init_process="systemd", **{"systemd_units:8001": units})
    assert f.title.startswith("myapi.service has failed")
    assert "names port 8001" in f.detail


def test_unusual_port_without_systemd_does_not_apply():
    ctx = context("127.0.0.1:8001")
    ctx.facts.extras["init_process"] = "tini"
    assert not CHECK.applies(ctx)


def test_service_not_running_gives_start_commands_for_the_os():
    ctx = context("127.0.0.1:5432")
    ctx.facts.os = "linux"
    f = run(ctx, **{"systemd_units:5432": [], "service_processes:5432": [], "unix_listeners": [],
                    "init_process": "systemd"})
    assert f.status is Status.WARN and f.cause == "not-listening"
    assert "does not appear to be running" in f.title
    assert "sudo systemctl start postgresql" in [r.command for r in f.remediation]
    no_systemd = context("127.0.0.1:5432")
    no_systemd.facts.os = "linux"
    f = run(no_systemd, **{"systemd_units:5432": [], "service_processes:5432": [], "unix_listeners": [],
                           "init_process": "tini"})
    assert not any("systemctl" in (r.command or "") for r in f.remediation)
    mac = context("127.0.0.1:5432")
    mac.facts.os = "darwin"
    f = run(mac, **{"service_processes:5432": []})
    assert "brew services start postgresql" in [r.command for r in f.remediation]


def test_dev_server_port_names_the_usual_frameworks():
    f = run(context("127.0.0.1:5173"), **{"systemd_units:5173": None})
    assert f.status is Status.WARN and "Vite" in f.title
    assert f.remediation[0].command == "npm run dev"


def test_listening_or_remote_targets_pass_or_skip():
    ok = run(context("127.0.0.1:5432", "open", sockets=[sock("127.0.0.1", 5432, process="postgres")]))
    assert ok.status is Status.PASS and "postgres listens" in ok.title
    remote = run(context("10.9.8.7:5432", "timeout"))
    assert remote.status is Status.SKIP and "another machine" in remote.title
    udp = context("udp://127.0.0.1:5432")
    assert not CHECK.applies(udp)


def test_start_steps_are_commands_or_words_never_prose_on_a_command_line():
    f = run(context("127.0.0.1:8080"), **{"systemd_units:8080": None})
    assert f.remediation[0].command is None and "./mvnw spring-boot:run" in f.remediation[0].text
    f = run(context("127.0.0.1:3000"), **{"systemd_units:3000": None})
    assert f.remediation[0].command == "npm run dev" and "rails server" in f.remediation[0].text


def test_every_well_known_label_reads_as_a_sentence():
    from portdoctor.facts.services import WELL_KNOWN

    for port, known in WELL_KNOWN.items():
        f = run(context(f"127.0.0.1:{port}", "open", sockets=[sock("127.0.0.1", port, process="srv")]))
        assert f.title.startswith(f"Port {port} is usually used by {known.name}; srv listens"), f.title
        assert "'s usual port" not in f.title
    plain = context("127.0.0.1:8001", "open", sockets=[sock("127.0.0.1", 8001, process="srv")])
    plain.facts.extras["init_process"] = "systemd"
    assert CHECK.run(plain).title.startswith("Port 8001; srv listens"), CHECK.run(plain).title
