"""port-owner: every owner, other states, --expect, and hidden owners (never a false port-in-use)."""

from portdoctor.checks.port_owner import PortOwnerCheck, owner_matches
from portdoctor.testing import context, sock

check = PortOwnerCheck()


def redis(**kw):
    return sock("0.0.0.0", 8080, pid=4242, process="fakeredis", user="redis",
                cmdline="fakeredis --port 8080 --requirepass ****", **kw)


def test_owners_are_listed():
    f = check.run(context("127.0.0.1:8080", "open", sockets=[redis()]))
    assert f.status == "pass"
    assert "fakeredis (pid 4242, user redis): fakeredis --port 8080 --requirepass ****" in f.title


def test_other_states_are_noted_when_nothing_listens():
    sockets = [sock("127.0.0.1", 8080, state="TIME_WAIT"), sock("127.0.0.1", 8080, state="TIME_WAIT")]
    f = check.run(context("127.0.0.1:8080", sockets=sockets))
    assert "2 TIME_WAIT" in f.detail and "harmless" in f.detail
    assert f.evidence["other_states"] == {"TIME_WAIT": 2}


def test_other_states_are_noted_with_expect():
    sockets = [redis(), sock("127.0.0.1", 8080, state="TIME_WAIT")]
    f = check.run(context("127.0.0.1:8080", "open", sockets=sockets, expect="fakeredis"))
    assert "1 TIME_WAIT" in f.detail and f.evidence["other_states"] == {"TIME_WAIT": 1}


def test_with_a_listener_the_other_states_are_still_counted():
    # A regression once: with a listener and no --expect they were not read at all.
    sockets = [redis(), sock("127.0.0.1", 8080, state="TIME_WAIT"), sock("10.0.0.5", 8080, state="ESTABLISHED")]
    f = check.run(context("127.0.0.1:8080", "open", sockets=sockets))
    assert f.status == "pass" and f.evidence["other_states"] == {"ESTABLISHED": 1, "TIME_WAIT": 1}
    assert "1 ESTABLISHED, 1 TIME_WAIT" in f.detail


def test_client_bound_to_the_port_without_listener_is_noted():
    client = sock("10.0.0.5", 8080, state="ESTABLISHED", pid=99, process="curl")
    f = check.run(context("127.0.0.1:8080", sockets=[client]))
    assert f.status == "pass" and "a client bound to it" in f.detail


def test_expect_another_owner_is_port_in_use():
    f = check.run(context("127.0.0.1:8080", "open", sockets=[redis()], expect="nginx"))
    assert (f.status, f.cause) == ("fail", "port-in-use")
    assert "fakeredis (pid 4242, user redis), not by nginx" in f.title
    commands = [r.command for r in f.remediation]
    assert "kill 4242" in commands and "fuser -k 8080/tcp" in commands
    # The wizard's fix is a structured action on the finding, not a pid read out of evidence.
    assert [(a.kind, a.pid, a.process, a.expected, a.port) for a in f.actions] == [
        ("stop-process", 4242, "fakeredis", "nginx", 8080)]


def test_expect_the_owner_passes():
    nginx = sock("0.0.0.0", 8080, pid=10, process="nginx", cmdline="nginx: master process /usr/sbin/nginx")
    f = check.run(context("127.0.0.1:8080", "open", sockets=[nginx], expect="nginx"))
    assert f.status == "pass" and "as expected" in f.title


def test_expect_with_a_hidden_owner_is_unverified_never_a_pass():
    hidden = sock("0.0.0.0", 8080, uid=0)
    f = check.run(context("127.0.0.1:8080", "open", sockets=[hidden], privileged=False, expect="nginx"))
    assert f.status == "fail" and f.cause == "unverified"
    assert f.remediation[0].command == "sudo portdoctor --report --expect nginx 127.0.0.1:8080"


def test_expect_as_root_with_the_owner_in_another_pid_namespace_says_run_from_the_host():
    hidden = sock("0.0.0.0", 8080, uid=0)
    f = check.run(context("127.0.0.1:8080", "open", sockets=[hidden], privileged=True, expect="nginx"))
    assert f.cause == "unverified" and "another PID namespace" in f.title
    assert "Run portdoctor on the host" in f.remediation[0].text
    assert not f.remediation[0].command.startswith("sudo")


def test_expect_with_nothing_on_the_port_is_not_port_in_use():
    f = check.run(context("127.0.0.1:8080", expect="nginx"))
    assert f.status == "pass" and f.cause is None


def test_owner_matching():
    assert owner_matches(sock("::", 1, process="postgres-export"), "postgres-exporter")  # 15-char comm
    assert owner_matches(sock("::", 1, process="python3", cmdline="/usr/bin/python3 app.py"), "python3")
    assert owner_matches(sock("::", 1, process="node", cmdline="/usr/local/bin/node server.js"), "NODE")
    assert not owner_matches(sock("::", 1, process="nginx"), "apache2")


def test_a_listener_only_in_another_namespace_does_not_hold_the_port_here():
    other = sock("127.0.0.1", 8080, pid=77, process="python3", namespace="netns:blue")
    f = check.run(context("127.0.0.1:8080", sockets=[other]))
    assert f.status == "pass"
    assert "held by" not in f.title and "in this network namespace" in f.title, f.title
    assert "python3 (pid 77) in netns:blue" in f.detail and "do not hold the port here" in f.detail
    f = check.run(context("127.0.0.1:8080", sockets=[other], expect="nginx"))
    assert f.status == "pass", "a process in another namespace is not port-in-use here"
    assert f.actions == [], "nothing to stop in another namespace"


def test_our_own_probe_connection_is_not_noted():
    from portdoctor.model import Outcome, Probe

    stuck = sock("127.0.0.1", 8080, pid=5, process="stuck")
    ours = sock("127.0.0.1", 8080, state="CLOSE-WAIT", remote_address="127.0.0.1", remote_port=40001)
    theirs = sock("127.0.0.1", 8080, state="CLOSE-WAIT", remote_address="127.0.0.1", remote_port=40002)
    ctx = context("127.0.0.1:8080", "open", sockets=[stuck, ours], expect="stuck")
    ctx.probes[:] = [Probe("127.0.0.1", Outcome.OPEN, 1.0, source_port=40001)]
    f = check.run(ctx)
    assert "CLOSE-WAIT" not in f.title + f.detail and f.evidence["other_states"] == {}
    ctx = context("127.0.0.1:8080", "open", sockets=[stuck, ours, theirs], expect="stuck")
    ctx.probes[:] = [Probe("127.0.0.1", Outcome.OPEN, 1.0, source_port=40001)]
    assert "1 CLOSE-WAIT" in check.run(ctx).detail  # a stranger's connection is still noted


def test_dash_spelled_time_wait_is_harmless_too():
    sockets = [sock("127.0.0.1", 8080, state="TIME-WAIT")]
    assert "harmless" in check.run(context("127.0.0.1:8080", sockets=sockets)).detail
