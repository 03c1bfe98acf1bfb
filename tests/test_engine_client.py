"""The engine client against real Unix sockets served in-process: bounded, lazy, honest.

The lab (test_lab_docker.py) proves it against a real dockerd; these cover what a real
engine will not do on demand: hang, answer in chunks, refuse us, hold hostile names.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from portdoctor.exitcodes import UsageError
from portdoctor.facts import engine
from portdoctor.model import Target
from portdoctor.target import parse_target

LISTING = [{
    "Id": "a" * 64, "Names": ["/web\x1b]52;c;ZXZpbA==\x07"], "Image": "shop/api:1", "State": "exited",
    "Status": "Exited (3) 2 minutes ago", "Ports": [],
    "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "api\u202e"},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": ""}}},
}]
INSPECT = {
    "State": {"Status": "exited", "ExitCode": 3, "Pid": 0, "Error": ""},
    "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8083"}]}, "NetworkMode": "bridge"},
    "Config": {"ExposedPorts": {"80/tcp": {}}},
    "NetworkSettings": {"Ports": {}, "Networks": {"bridge": {"IPAddress": ""}}},
}


def serve(path: str, answer, stop: threading.Event) -> threading.Thread:
    """A Unix socket server: ``answer(request_line) -> bytes | None`` (None: never answer)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    srv.settimeout(0.1)

    def loop():
        held = []
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            request = conn.recv(65536).decode()
            reply = answer(request.split("\r\n", 1)[0])
            if reply is None:
                held.append(conn)  # a hung daemon: accepts, reads, never answers
                continue
            conn.sendall(reply)
            conn.close()
        for c in held:
            c.close()
        srv.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def http(body, status="200 OK", chunked=False) -> bytes:
    data = json.dumps(body).encode()
    if chunked:
        half = len(data) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (data[:half], data[half:])) + b"0\r\n\r\n"
        return f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + payload
    return f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n".encode() + data


def ping(server: str, *extra: str) -> bytes:
    """A /_ping answer: the engine says who it is in its headers."""
    return ("HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n" + "".join(f"{h}\r\n" for h in extra)
            + f"Server: {server}\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK").encode()


def fake_engine(request_line: str, chunked=False):
    if request_line.startswith("GET /_ping"):
        return ping("Docker/20.10.24+dfsg1 (linux)")
    if request_line.startswith("GET /containers/json?all=1"):
        return http(LISTING, chunked=chunked)
    if request_line.startswith("GET /containers/"):
        return http(INSPECT, chunked=chunked)
    return http({"message": "no"}, "404 Not Found")


@pytest.fixture
def sock_path(tmp_path):
    path = str(tmp_path / "docker.sock")
    stop = threading.Event()
    yield path, stop
    stop.set()


@pytest.mark.parametrize("chunked", [False, True])
def test_reads_containers_with_stopped_port_bindings_and_cleans_their_text(sock_path, chunked):
    path, stop = sock_path
    serve(path, lambda line: fake_engine(line, chunked), stop)
    view = engine.read_engine({"DOCKER_HOST": f"unix://{path}"}, sockets=[path])
    assert view.ok and view.engine == "docker"
    (c,) = view.containers
    assert c.state == "exited" and c.exit_code == 3 and c.pid is None
    assert [(b.container_port, b.host_port) for b in c.published] == [(80, 8083)]
    assert "\x1b" not in c.name and "\x07" not in c.name and c.name.startswith("web")
    assert "\u202e" not in c.compose_service


def test_podman_is_known_by_its_ping_and_its_slow_version_endpoint_is_never_asked(sock_path):
    """Podman answers /version by running its helper programs (about a second on the lab's
    machine, more under load): asking it spent half the engine's deadline, and under load
    all of it (the Podman lab tests then read a skip). /_ping's headers say the same."""
    path, stop = sock_path
    asked = []

    def podman(line):
        asked.append(line.split()[1])
        if line.startswith("GET /version"):
            return None  # as slow as it gets: never answers
        if line.startswith("GET /_ping"):
            return ping("Libpod/4.3.1 (linux)", "Libpod-Api-Version: 4.3.1")
        return fake_engine(line)

    serve(path, podman, stop)
    view = engine.read_engine({}, timeout=1.0, sockets=[path])
    assert view.ok, view.error
    assert (view.engine, view.version) == ("podman", "4.3.1")
    assert view.containers[0].engine == "podman"
    assert "/version" not in asked


def test_docker_is_named_with_its_version_from_the_server_header(sock_path):
    path, stop = sock_path
    serve(path, fake_engine, stop)
    view = engine.read_engine({}, sockets=[path])
    assert (view.engine, view.version) == ("docker", "20.10.24+dfsg1")


def test_a_hung_daemon_costs_one_timeout(sock_path):
    path, stop = sock_path
    serve(path, lambda line: None, stop)
    start = time.monotonic()
    view = engine.read_engine({}, timeout=0.5, sockets=[path])
    elapsed = time.monotonic() - start
    assert elapsed < 3.0  # one shared deadline, not one per request or per socket
    assert not view.ok and "did not answer" in view.error


def test_a_socket_we_may_not_open_is_an_error_with_the_group_hint(sock_path):
    if os.geteuid() == 0:
        pytest.skip("root opens any socket; the lab proves this case as 'nobody'")
    path, stop = sock_path
    serve(path, fake_engine, stop)
    os.chmod(path, 0)
    view = engine.read_engine({}, sockets=[path])
    assert not view.ok and "not readable" in view.error and "docker" in view.hint


def test_no_engine_socket_means_no_engine_and_no_requests(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nope.sock", "XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    found = [p for p in engine.engine_sockets(env) if not p.startswith(("/var/run", "/run"))]
    assert found == []
    assert engine.read_engine(env, sockets=[]) is None


def test_docker_host_comes_first_and_tcp_hosts_are_not_read(sock_path):
    path, stop = sock_path
    serve(path, fake_engine, stop)
    assert engine.engine_sockets({"DOCKER_HOST": f"unix://{path}"})[0] == path
    assert path not in engine.engine_sockets({"DOCKER_HOST": "tcp://127.0.0.1:2375"})


def view_with(*containers):
    return engine.EngineView("/run/docker.sock", containers=list(containers))


def test_find_by_name_id_prefix_or_compose_service():
    web = engine.Container("b" * 64, "shop-api-1", compose_service="api", state="running")
    db = engine.Container("c" * 64, "db", state="exited")
    view = view_with(web, db)
    assert view.find("db") == [db]
    assert view.find("bbbb") == [web]
    assert view.find("api") == [web]
    assert view.find("nosuch") == []


def test_locate_container_published_unpublished_and_missing():
    running = engine.Container("b" * 64, "web", state="running", networks={"bridge": "172.17.0.5"},
                               published=[engine.PortBinding(80, "tcp", "0.0.0.0", 8080)],
                               exposed=[engine.PortBinding(80, "tcp"), engine.PortBinding(9000, "tcp")])
    view = view_with(running)
    t = engine.locate_container(parse_target("container:web"), view)
    assert (t.host, t.port, t.container, t.container_port) == ("127.0.0.1", 8080, "web", 80)
    t = engine.locate_container(parse_target("container:web:9000"), view)
    assert (t.host, t.port, t.container_port) == ("172.17.0.5", 9000, 9000)
    with pytest.raises(UsageError, match="no container or compose service named 'db'"):
        engine.locate_container(parse_target("container:db:5432"), view)
    with pytest.raises(UsageError, match="not readable"):
        engine.locate_container(parse_target("container:web"), engine.EngineView(
            "/run/docker.sock", error="the container engine's socket /run/docker.sock is not readable by this user"))


@pytest.mark.parametrize("text, name, port", [
    ("container:web", "web", None), ("container:web:80", "web", 80), ("CONTAINER:shop-api-1:8000", "shop-api-1", 8000),
    ("container:my_app.v2:443", "my_app.v2", 443),
])
def test_container_target_forms(text, name, port):
    t = parse_target(text)
    assert isinstance(t, Target) and (t.container, t.container_port) == (name, port)


@pytest.mark.parametrize("text", ["container:", "container:web:0", "container:web:http", "container:-x",
                                  "container:a b", "container:web:80:90", "container:web/x"])
def test_bad_container_targets_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_target(text)
