"""privileged-port on fixture snapshots: the floor, who would bind, and how sure we are."""

import pytest

from portdoctor.checks.privileged_port import PrivilegedPortCheck
from portdoctor.facts.binders import BindCandidate, has_net_bind_capability, is_portdoctor, names_port
from portdoctor.model import Status
from portdoctor.testing import context, sock


def ctx_for(target="127.0.0.1:80", floor=1024, candidates=(), whoami=(0, "root"), **kw):
    ctx = context(target, "refused", **kw)
    ctx.facts.extras.update({"unprivileged-port-floor": floor, "bind-candidates": list(candidates),
                             "whoami": whoami})
    return ctx


def candidate(**kw):
    base = dict(pid=31, name="webapp", user="www", uid=33, may_bind_privileged=False, exe="/usr/bin/webapp",
                cmdline="webapp --port 80", why="names port 80 in its command line")
    base.update(kw)
    return BindCandidate(**base)


def test_process_without_capability_that_names_the_port_fails():
    f = PrivilegedPortCheck().run(ctx_for(candidates=[candidate()]))
    assert f.status is Status.FAIL and f.cause == "privileged-port"
    assert "webapp (pid 31, user www) probably wants port 80" in f.title
    assert "sudo setcap 'cap_net_bind_service=+ep' /usr/bin/webapp" in [s.command for s in f.remediation]


def test_expected_process_is_named_without_probably():
    f = PrivilegedPortCheck().run(ctx_for(candidates=[candidate(why="is the expected process")]))
    assert "probably" not in f.title


def test_candidate_that_may_bind_is_not_blamed():
    f = PrivilegedPortCheck().run(ctx_for(candidates=[candidate(uid=0, user="root", may_bind_privileged=True)]))
    assert f.status is Status.WARN


def test_non_root_user_alone_is_only_a_probable_warning():
    # Who portdoctor runs as says nothing certain about the service: a guess, not a verdict.
    f = PrivilegedPortCheck().run(ctx_for(whoami=(1000, "dev")))
    assert f.status is Status.WARN and f.cause == "privileged-port"
    assert "as dev" in f.title and "probably" in f.title
    assert "sudo setcap 'cap_net_bind_service=+ep' /PATH/TO/BINARY" in [s.command for s in f.remediation]


def test_setcap_names_the_expected_binary_when_it_is_not_running():
    f = PrivilegedPortCheck().run(ctx_for(whoami=(1000, "dev"), expect="nginx"))
    assert "sudo setcap 'cap_net_bind_service=+ep' \"$(command -v nginx)\"" in [s.command for s in f.remediation]


def test_no_command_is_a_lower_case_placeholder():
    for f in (PrivilegedPortCheck().run(ctx_for()), PrivilegedPortCheck().run(ctx_for(candidates=[candidate()]))):
        assert not any("/path/to" in (s.command or "") for s in f.remediation)


def test_root_without_evidence_only_warns():
    f = PrivilegedPortCheck().run(ctx_for())
    assert f.status is Status.WARN and f.cause == "privileged-port"
    assert "sudo sysctl -w net.ipv4.ip_unprivileged_port_start=80" in [s.command for s in f.remediation]


def test_port_above_floor_passes():
    assert PrivilegedPortCheck().run(ctx_for("127.0.0.1:8080")).status is Status.PASS
    assert PrivilegedPortCheck().run(ctx_for(floor=0)).status is Status.PASS  # Docker containers set 0


def test_unreadable_floor_skips():
    f = PrivilegedPortCheck().run(ctx_for(floor=None))
    assert f.status is Status.SKIP and "ip_unprivileged_port_start" in f.remediation[0].command


def test_does_not_apply_when_something_listens_or_target_is_remote():
    assert not PrivilegedPortCheck().applies(ctx_for(sockets=[sock("0.0.0.0", 80)]))
    assert not PrivilegedPortCheck().applies(ctx_for("198.51.100.7:80"))
    assert PrivilegedPortCheck().applies(ctx_for())


def test_windows_has_no_privileged_ports():
    ctx = ctx_for()
    ctx.facts.os = "windows"
    assert PrivilegedPortCheck().run(ctx).status is Status.PASS


def test_capability_bit_and_port_mentions():
    assert has_net_bind_capability("CapEff:\t0000000000000400\n") is True
    assert has_net_bind_capability("CapEff:\t0000000000000000\n") is False
    assert has_net_bind_capability("Name: x\n") is None
    assert names_port(["nginx", "-g", "listen 80;"], 80) is False
    assert names_port(["app", "--port", "80"], 80)
    assert names_port(["app", "--port=80"], 80)
    assert names_port(["app", "-p", "80"], 80)
    assert names_port(["uvicorn", "--bind", "0.0.0.0:80"], 80)
    assert not names_port(["app", "--port", "8080"], 80)
    assert not names_port(["app", "--workers", "80"], 80)


@pytest.mark.parametrize(("cmdline", "ours"), [
    (["portdoctor", "--report", ":80"], True),
    (["/venv/bin/portdoctor", ":80"], True),
    (["sudo", "portdoctor", ":80"], True),
    (["python3", "-m", "portdoctor", ":80"], True),
    (["/usr/bin/python3", "/venv/bin/portdoctor", ":80"], True),
    # A service whose path only contains the word is a candidate (a checkout in ~/portdoctor,
    # /srv/portdoctor-demo): it used to be skipped as if it were portdoctor itself.
    (["python3", "/home/me/portdoctor/tests/labkit/listener.py", "--port", "80"], False),
    (["/srv/portdoctor-demo/app", "--port", "80"], False),
    (["python3", "-m", "http.server", "80"], False),
])
def test_only_portdoctor_runs_are_left_out_of_the_bind_candidates(cmdline, ours):
    assert is_portdoctor(cmdline) is ours
