"""Lab: portdoctor run as an ordinary user sees less, and says so instead of guessing."""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab


def test_root_listener_seen_by_nobody_keeps_uid_and_user(lab):
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080, name="rootsvc")], user="nobody")
    assert r.returncode == 0, r.stderr
    (listener,) = r.json["listeners"]
    assert listener["pid"] is None and listener["process"] is None, "another user's process is hidden"
    assert listener["uid"] == 0 and listener["user"] == "root"
    assert r.json["host"]["privileged"] is False
    assert any("sudo" in note for note in r.json["notes"])
    # One wording for the hidden owner, in the check that names it.
    assert r.finding("port-owner")["title"] == "Port 8080/tcp is held by owner hidden (user root)."


def test_root_listener_seen_by_nobody_text_says_run_with_sudo(lab):
    r = lab.run(["--report", "--format", "text", "127.0.0.1:8080"],
                listeners=[Listener("127.0.0.1", 8080, name="rootsvc")], user="nobody", json_report=False)
    assert r.returncode == 0, r.stderr
    assert "sudo" in r.stdout
    assert "tcp 127.0.0.1:8080" in r.stdout and "owner hidden (user root; run with sudo to see)" in r.stdout


def test_other_namespace_as_nobody_is_seen_through_proc_net(lab):
    # An ordinary user cannot enter another network namespace, but may read /proc/PID/net/tcp
    # of any process: the listener in the root-owned namespace is found, its owner stays hidden.
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080, name="postgres", netns="box")],
                user="nobody")
    assert r.returncode == 1, r.stderr
    assert r.cause == "other-namespace"
    (listener,) = r.json["listeners"]
    assert listener["namespace"].startswith("net:[hidden] (pid ") and listener["pid"] is None
    assert "served by owner hidden (user root) in network namespace net:[hidden] (pid " in \
        r.finding("other-namespace")["title"]
    assert r.json["verdict"]["first_step"]["command"].startswith("sudo nsenter -t ")
