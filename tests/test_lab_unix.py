"""Lab: Unix socket targets, end to end, on real sockets in a private mount namespace.

Each scenario mounts a private tmpfs on /mnt inside the lab's own mount namespace (the
host's /mnt is untouched) and puts real listening, stale or missing sockets there; the
permission cases run portdoctor as ``nobody`` with a private /etc/group bind-mounted
over the host's for the scenario only.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

TMPFS = "mount -t tmpfs -o mode=0755 tmpfs /mnt"
GROUP = "pdlab"
GID = 4242


def private_group_file(members: str = "") -> list[str]:
    """/etc/group with one more group, for this scenario's mount namespace only."""
    return [f"cp /etc/group /mnt/group && echo '{GROUP}:x:{GID}:{members}' >> /mnt/group",
            "mount --bind /mnt/group /etc/group"]


def first_step(r) -> dict:
    return r.json["verdict"]["first_step"]


def test_listening(lab):
    r = lab.run(["unix:///mnt/app.sock"], setup=[TMPFS],
                listeners=[Listener("/mnt/app.sock", 0, protocol="unix", name="appsvc")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.json["target"]["protocol"] == "unix" and r.json["target"]["path"] == "/mnt/app.sock"
    assert r.json["target"]["port"] is None
    f = r.finding("unix-socket")
    assert f["status"] == "pass" and "appsvc" in f["title"], f


def test_listening_seen_by_nobody_names_the_owner_as_far_as_visible(lab):
    r = lab.run(["unix:///mnt/app.sock"], setup=[TMPFS], user="nobody",
                listeners=[Listener("/mnt/app.sock", 0, protocol="unix", name="appsvc", unix_mode=0o666)])
    assert r.returncode == 0, r.stdout + r.stderr
    f = r.finding("unix-socket")
    # The pid is root's to see: the one hidden-owner wording, with the user the kernel tells.
    assert f["status"] == "pass" and "owner hidden (user root)" in f["title"], f


def test_missing_file(lab):
    r = lab.run(["/mnt/app.sock"], setup=[TMPFS])
    assert r.returncode == 1
    assert r.cause == "not-listening"
    assert "does not exist" in r.json["verdict"]["summary"]
    assert first_step(r)["text"].startswith("Start the service")
    # Only checks that declare "unix" run: none of the port checks reason about "port 0".
    assert [f["check"] for f in r.json["findings"]] == ["unix-socket"]


def test_stale_file_left_by_a_dead_process(lab):
    stale = "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('/mnt/app.sock')\""
    r = lab.run(["unix:///mnt/app.sock"], setup=[TMPFS, stale])
    assert r.returncode == 1
    assert r.cause == "not-listening"
    assert "stale socket file" in r.json["verdict"]["summary"]
    probe = r.json["probes"][0]
    assert probe["outcome"] == "refused"
    # as root: no sudo prefix
    assert any(step["command"] == "rm /mnt/app.sock" for step in r.finding("unix-socket")["remediation"])


def test_permission_denied_as_nobody_not_in_the_group(lab):
    r = lab.run(["unix:///mnt/docker.sock"], setup=[TMPFS, *private_group_file()], user="nobody",
                listeners=[Listener("/mnt/docker.sock", 0, protocol="unix", name="dockerd",
                                    unix_mode=0o660, unix_group=GID)])
    assert r.returncode == 1
    assert r.cause == "permission-denied"
    assert f"not in group {GROUP}" in r.json["verdict"]["summary"]
    assert first_step(r)["command"] == f"sudo usermod -aG {GROUP} nobody"
    assert "something listens on it" in r.finding("unix-socket")["detail"]


def test_permission_denied_group_listed_but_not_in_this_session(lab):
    r = lab.run(["unix:///mnt/docker.sock"], setup=[TMPFS, *private_group_file("nobody")], user="nobody",
                listeners=[Listener("/mnt/docker.sock", 0, protocol="unix", name="dockerd",
                                    unix_mode=0o660, unix_group=GID)])
    assert r.cause == "permission-denied"
    assert "session started before" in r.json["verdict"]["summary"]
    assert first_step(r)["command"] == f"newgrp {GROUP}"


def test_service_on_tcp_instead(lab):
    r = lab.run(["unix:///mnt/postgresql/.s.PGSQL.5432"], setup=[TMPFS],
                listeners=[Listener("127.0.0.1", 5432, name="postgres")])
    assert r.returncode == 1
    assert r.cause == "wrong-interface"
    assert "listens on TCP port 5432" in r.json["verdict"]["summary"]
    assert first_step(r)["command"] == "psql -h 127.0.0.1 -p 5432"


def test_service_on_another_path(lab):
    r = lab.run(["unix:///mnt/run/.s.PGSQL.5432"], setup=[TMPFS],
                listeners=[Listener("/mnt/tmp/.s.PGSQL.5432", 0, protocol="unix", name="postgres")])
    assert r.cause == "wrong-interface"
    assert "/mnt/tmp/.s.PGSQL.5432 is listening" in r.json["verdict"]["summary"]
    assert first_step(r)["command"] == "psql -h /mnt/tmp"


def test_pasted_docker_message_gives_the_same_diagnosis_as_the_path(lab):
    message = ("permission denied while trying to connect to the Docker daemon socket at unix:///mnt/docker.sock: "
               "Get \"http://%2Fmnt%2Fdocker.sock/v1.24/containers/json\": dial unix /mnt/docker.sock: connect: "
               "permission denied")
    listeners = [Listener("/mnt/docker.sock", 0, protocol="unix", name="dockerd", unix_mode=0o660, unix_group=GID)]
    setup = [TMPFS, *private_group_file()]
    pasted = lab.run([message], setup=setup, user="nobody", listeners=listeners)
    typed = lab.run(["/mnt/docker.sock"], setup=setup, user="nobody", listeners=listeners)
    assert pasted.cause == typed.cause == "permission-denied"
    assert pasted.json["verdict"]["first_step"] == typed.json["verdict"]["first_step"]
    assert pasted.json["target"]["message"]["client"] == "Docker CLI"
