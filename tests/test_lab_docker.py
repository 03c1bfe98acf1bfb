"""A real Docker engine (and Podman): each container state gets the right cause, names the container,
and its first step fixes it. Both userland-proxy modes (docker-proxy, and DNAT only).

Podman's Docker-compatible service runs the same states (its own leg). One engine per
mode serves the whole module (see labkit.docker); the scenarios'
containers are started once, side by side, each on its own published port.
"""

from __future__ import annotations

import pytest

from labkit.docker import DockerLab, docker_unavailable

pytestmark = pytest.mark.lab

COMPOSE = {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"}


@pytest.fixture(scope="module", params=["docker-proxy", "dnat", "podman"])
def engine(request):
    """A lab engine with the scenarios' containers running: Docker with its userland proxy,
    Docker with DNAT only, and Podman's Docker-compatible service."""
    kind = "podman" if request.param == "podman" else "docker"
    reason = docker_unavailable(kind)
    if reason:
        pytest.skip(reason)
    try:
        lab = DockerLab(userland_proxy=request.param == "docker-proxy", engine=kind)
    except RuntimeError as exc:
        pytest.skip(f"the {kind} engine cannot start here: {exc}")
    try:
        try:
            lab.run_containers(scenarios(kind))
        except RuntimeError as exc:
            pytest.skip(f"the {kind} engine started but cannot run the lab's containers here: {exc}")
        lab.wait_state("gone", "exited")
        if kind == "docker":
            lab.sh(f"for i in $(seq 100); do [ $({lab.cli} inspect -f '{{{{.RestartCount}}}}' crashy) -ge 2 ] && exit 0; "
                   "sleep 0.1; done; exit 1")
        yield lab
    finally:
        lab.close()


def scenarios(kind: str) -> list[dict]:
    """Every scenario's container, each on its own published port (DockerLab.run_containers)."""
    docker_only = [
        # crashy's restart back-off (0.1 s, 0.2 s, 0.4 s, ...) runs while the others start.
        dict(name="crashy", args="--restart always -p 8084:80", command="sh -c 'exit 2'"),
        dict(name="norule", args="-p 8085:80", wait_listen=":80"),
        # A loop with a long running moment: up 3 s (docker-proxy accepting, nothing inside), then exit 2.
        dict(name="slowcrash", args="--restart always -p 8086:80", command="sh -c 'sleep 3; exit 2'"),
        # A restart policy that gives up: crashes, restarted twice, then stays exited.
        dict(name="gaveup", args="--restart on-failure:2 -p 8087:80", command="sh -c 'exit 2'"),
    ]
    return [
        *(docker_only if kind == "docker" else []),
        dict(name="webok", args="-p 8080:80", wait_listen=":80"),
        dict(name="loopy", args="-p 8081:80", command="httpd -f -p 127.0.0.1:80 -h /www", wait_listen=":80"),
        dict(name="mism", args="-p 8082:80", command="httpd -f -p 8000 -h /www", wait_listen=":8000",
             labels=COMPOSE),
        dict(name="gone", args="-p 8083:80", command="sh -c 'exit 3'"),
        dict(name="hidden", command="httpd -f -p 9090 -h /www", wait_listen=":9090"),
    ]


def test_published_and_serving_is_ok(engine):
    r = engine.portdoctor(["127.0.0.1:8080"])
    assert r.returncode == 0, r.stdout
    assert r.cause == "ok"
    f = r.finding("container")
    assert f["status"] == "pass" and "webok" in f["title"]
    assert f["evidence"]["backend"]["outcome"] == "open"


def test_app_bound_to_loopback_inside_is_wrong_interface(engine):
    r = engine.portdoctor(["127.0.0.1:8081"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "wrong-interface"
    assert r.json["verdict"]["check"] == "container"
    verdict = r.json["verdict"]
    assert "loopy" in verdict["summary"] and "127.0.0.1:80" in verdict["summary"]
    step = r.finding("container")["remediation"][0]
    assert "0.0.0.0" in step["text"] and "--host 0.0.0.0" in step["text"]
    # Through docker-proxy the connect succeeds: the backend probe is what tells.
    assert r.finding("container")["evidence"]["backend"]["outcome"] == "refused"


def test_published_to_the_wrong_container_port_names_the_right_mapping(engine):
    r = engine.portdoctor(["127.0.0.1:8082"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "not-listening"
    assert r.json["verdict"]["check"] == "container"
    f = r.finding("container")
    assert "mism (compose service api)" in f["title"] and "8000" in f["title"]
    step = f["remediation"][0]
    assert "-p 8082:8000" in step["text"] and 'ports: ["8082:8000"]' in step["text"]
    assert step["command"] == f"{engine.engine} compose up -d api"


def test_published_container_that_exited_is_not_listening_with_its_exit_code(engine):
    r = engine.portdoctor(["127.0.0.1:8083"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "not-listening"
    assert r.json["verdict"]["check"] == "container"
    f = r.finding("container")
    assert r.json["verdict"]["summary"] == f["title"]
    assert "gone" in f["title"] and "exited" in f["title"] and "exit code 3" in f["title"]
    assert f["remediation"][0]["command"] == f"{engine.engine} start gone"
    assert f["remediation"][1]["command"] == f"{engine.engine} logs --tail 50 gone"


def test_listener_only_inside_an_unpublished_container_is_other_namespace(engine):
    r = engine.portdoctor(["127.0.0.1:9090"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "other-namespace"
    assert r.json["verdict"]["check"] == "container"
    f = r.finding("container")
    assert r.json["verdict"]["summary"] == f["title"]
    assert "hidden" in f["title"]
    assert "-p 9090:9090" in f["remediation"][0]["text"]
    command = f["remediation"][0]["command"]  # the image as the engine names it: pdlab, localhost/pdlab:latest
    assert command.startswith(f"{engine.engine} run -p 9090:9090 ") and "pdlab" in command


# --- container:NAME[:PORT] ------------------------------------------------------------


def test_container_target_follows_the_published_port(engine):
    r = engine.portdoctor(["container:loopy"])
    assert r.returncode == 1, r.stdout + r.stderr
    target = r.json["target"]
    assert target["container"] == {"name": "loopy", "port": 80}
    assert (target["host"], target["port"]) == ("127.0.0.1", 8081)
    assert r.cause == "wrong-interface"
    assert r.json["verdict"]["check"] == "container"


def test_container_target_by_compose_service_and_unpublished_port(engine):
    r = engine.portdoctor(["container:api:8000"])  # compose service "api" is container "mism"
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.json["target"]["container"] == {"name": "mism", "port": 8000}
    assert not r.json["target"]["host"].startswith("127.")  # its own address: not published
    assert r.cause == "other-namespace"
    f = r.finding("container")
    assert "mism (compose service api)" in f["title"]
    assert 'ports: ["8000:8000"]' in f["remediation"][0]["text"]


def test_container_target_of_an_exited_container(engine):
    r = engine.portdoctor(["container:gone"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.cause == "not-listening"
    assert r.json["verdict"]["first_step"]["command"] == f"{engine.engine} start gone"


def docker_only(engine, why: str) -> None:
    """The Podman leg runs the states of the issue; these scenarios are Docker's own or need no second proof."""
    if engine.engine != "docker":
        pytest.skip(why)


def test_container_target_that_does_not_exist_is_a_one_line_usage_error(engine):
    docker_only(engine, "engine-independent: proven on Docker")
    r = engine.portdoctor(["container:nosuch:80"])
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no container or compose service named 'nosuch'" in lines[0]
    assert "gone" in lines[0] and "loopy" in lines[0]  # names the containers that do exist


# --- not allowed to ask the engine ----------------------------------------------------


def test_unreadable_engine_socket_is_a_skip_with_the_group_hint_never_a_cause(engine):
    docker_only(engine, "the docker group hint is Docker's")
    from labkit import Lab

    problem = Lab(engine.python).user_problem("nobody")
    if problem:
        pytest.skip(problem)
    r = engine.portdoctor(["127.0.0.1:8083"], user="nobody")
    f = r.finding("container")
    assert f["status"] == "skip" and f["cause"] is None
    assert "not readable" in f["title"]
    assert "docker" in f["remediation"][0]["text"] and "sudo" in f["remediation"][0]["text"]
    assert r.json["verdict"]["check"] != "container"
    r = engine.portdoctor(["container:gone"], user="nobody")
    assert r.returncode == 2 and "not readable" in r.stderr and "docker" in r.stderr


def test_published_container_in_a_restart_loop_says_so_and_reads_its_logs_first(engine):
    """Whatever instant the diagnosis lands on: restarting (the engine's back-off), or running for a
    moment before the app exits again (docker-proxy half started, the backend refusing)."""
    docker_only(engine, "restart policies are proven on Docker")
    r = engine.portdoctor(["127.0.0.1:8084"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "not-listening"
    f = r.finding("container")
    assert r.json["verdict"]["check"] == "container"
    assert "crashy" in f["title"] and "restarting" in f["title"]
    assert f["remediation"][0]["command"] == f"{engine.engine} logs --tail 50 crashy"


def test_a_restart_loop_diagnosed_while_the_container_runs_is_still_the_loop(engine):
    """The instant that read as wrong-interface: the engine shows the container running (and
    docker-proxy accepts), seconds after its last crash, before the app exits again. Waits for
    that state (bounded), then diagnoses at once."""
    docker_only(engine, "restart policies are proven on Docker")
    state = engine.cli + " inspect -f '{{.State.Running}} {{.State.Restarting}} {{.RestartCount}}' slowcrash"
    engine.sh(f'for i in $(seq 150); do case "$({state})" in "true false 0") ;; "true false "*) exit 0;; esac; '
              "sleep 0.1; done; exit 1")
    r = engine.portdoctor(["127.0.0.1:8086"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "not-listening" and r.json["verdict"]["check"] == "container", r.json["verdict"]
    f = r.finding("container")
    assert "slowcrash" in f["title"] and "restarting in a loop" in f["title"]
    assert f["remediation"][0]["command"] == f"{engine.engine} logs --tail 50 slowcrash"
    if f["evidence"]["container"]["state"] == "running":  # landed in the running moment (the usual case)
        assert "this run started" in f["title"] and f["evidence"]["restart_loop"]["up_seconds"] < 10


def test_a_container_whose_restart_policy_gave_up_reads_its_logs_before_starting_it(engine):
    docker_only(engine, "restart policies are proven on Docker")
    state = engine.cli + " inspect -f '{{.State.Status}} {{.RestartCount}}' gaveup"
    engine.sh(f'for i in $(seq 100); do [ "$({state})" = "exited 2" ] && exit 0; sleep 0.1; done; exit 1')
    r = engine.portdoctor(["127.0.0.1:8087"])
    assert r.returncode == 1, r.stdout
    assert r.cause == "not-listening" and r.json["verdict"]["check"] == "container"
    f = r.finding("container")
    assert "gaveup" in f["title"] and "exited, exit code 2, after 2 restarts" in f["title"]
    assert [s["command"] for s in f["remediation"][:2]] == ["docker logs --tail 50 gaveup", "docker start gaveup"]


def test_dnat_mode_without_its_rule_is_not_served_by_dockerds_reservation(engine):
    """--userland-proxy=false: dockerd holds the port but never accepts; the DNAT path is what counts."""
    docker_only(engine, "dockerd's port reservation is Docker's")
    if engine.userland_proxy:
        pytest.skip("docker-proxy forwards loopback connections itself; the DNAT rule is not on its path")
    engine.sh("iptables -t nat -S DOCKER | grep -- '--dport 8085 ' | sed 's/^-A/-D/' | xargs -r iptables -t nat")
    r = engine.portdoctor(["127.0.0.1:8085"])
    assert r.returncode == 1, r.stdout
    assert r.json["probes"][0]["outcome"] == "open"  # the kernel completes the handshake on dockerd's socket
    assert r.cause == "firewall"
    f = r.finding("container")
    assert r.json["verdict"]["check"] == "container"
    assert "norule" in f["title"] and "dockerd" in f["title"]
    assert f["remediation"][0]["command"] == "docker restart norule"


# --- portdoctor itself inside a container -----------------------------------------------


def test_inside_a_container_localhost_advice_names_the_compose_service_and_host_gateway(engine):
    """Decided from evidence (the container's cgroup and engine mounts), and said where it
    changes the advice: a loopback target with nothing listening."""
    docker_only(engine, "proven once, on Docker")
    if not engine.userland_proxy:
        pytest.skip("does not depend on the proxy mode; run once")
    from labkit.docker import IMAGE, portdoctor_mounts

    p = engine.sh(f"{engine.cli} run --rm --pull never {portdoctor_mounts(engine.python)} -e CI=true "
                  f"-e NO_COLOR=1 -w / {IMAGE} {engine.python} -m portdoctor --report --format json 127.0.0.1:5000",
                  check=False)
    from labkit import LabResult

    r = LabResult(p.returncode, p.stdout, p.stderr, 0.0)
    assert r.returncode == 1, p.stdout + p.stderr
    assert r.cause == "not-listening"
    step = r.json["verdict"]["first_step"]
    assert "compose service" in step["text"] and step["command"] == "portdoctor SERVICE:5000"
    f = r.finding("other-namespace")
    assert f["evidence"]["in_container"] == "docker"
    assert "host.docker.internal:host-gateway" in " ".join(s["text"] for s in f["remediation"])


def test_on_the_host_there_is_no_container_advice(engine):
    """This machine carries /.dockerenv but is no container: the host-side run must not say so."""
    docker_only(engine, "proven once, on Docker")
    if not engine.userland_proxy:
        pytest.skip("does not depend on the proxy mode; run once")
    r = engine.portdoctor(["127.0.0.1:5000"])
    assert r.cause == "not-listening"
    assert "inside a" not in r.stdout
