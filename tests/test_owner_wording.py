"""One owner wording for a socket everywhere: every check, report, the wizard and history.

The label comes from :func:`portdoctor.api.owner_label`; a hidden owner (another user's
process, without root) reads ``owner hidden (user root)`` (or ``(uid 0)`` when the name is
unknown) in every place that names it, never "a hidden owner" here and "a process of user
root" there.
"""

from __future__ import annotations

from portdoctor.api import Context, Options, Probe, Snapshot, owner_label, owner_words
from portdoctor.checks.backlog import BacklogCheck
from portdoctor.checks.other_namespace import OtherNamespaceCheck
from portdoctor.checks.port_owner import PortOwnerCheck
from portdoctor.checks.protocol_mismatch import ProtocolMismatchCheck
from portdoctor.checks.unix_socket import UnixSocketCheck
from portdoctor.facts.unixsock import PathInfo, UnixFacts, UnixListener
from portdoctor.history import compare_reports
from portdoctor.model import Outcome
from portdoctor.render.common import owner_label as report_owner_label
from portdoctor.target import parse_target
from portdoctor.testing import context, sock
from portdoctor.tui.detail import listener_line

HIDDEN = "owner hidden (user root)"


def hidden(**fields):
    return sock("127.0.0.1", 8080, uid=0, user="root", **fields)


def test_the_label_itself():
    assert owner_label(sock("0.0.0.0", 1, pid=812, process="postgres", user="postgres")) == \
        "postgres (pid 812, user postgres)"
    assert owner_label(sock("0.0.0.0", 1, pid=812, process="postgres", uid=999)) == "postgres (pid 812, uid 999)"
    assert owner_label(hidden()) == HIDDEN
    assert owner_label(sock("0.0.0.0", 1, uid=1000)) == "owner hidden (uid 1000)"
    assert owner_label(sock("0.0.0.0", 1)) == "owner hidden"
    assert owner_words(12, "nginx", None, 33) == "nginx (pid 12, uid 33)"


def test_port_owner_names_a_hidden_owner_in_the_one_wording():
    f = PortOwnerCheck().run(context("127.0.0.1:8080", "open", sockets=[hidden()], privileged=False))
    assert f.title == f"Port 8080/tcp is held by {HIDDEN}."
    elsewhere = sock("127.0.0.1", 8080, uid=0, user="root", namespace="net:[hidden] (pid 3 x)")
    f = PortOwnerCheck().run(context("127.0.0.1:8080", sockets=[elsewhere], privileged=False))
    assert f"{HIDDEN} in net:[hidden] (pid 3 x)" in f.detail


def test_other_namespace_names_a_hidden_owner_in_the_one_wording():
    s = sock("127.0.0.1", 8080, uid=0, user="root", namespace="net:[hidden] (pid 3 x)")
    f = OtherNamespaceCheck().run(context("127.0.0.1:8080", sockets=[s], privileged=False))
    assert f"served by {HIDDEN} in" in f.title


def test_backlog_names_a_hidden_owner_in_the_one_wording():
    s = hidden(recv_queue=0, send_queue=128)
    f = BacklogCheck().run(context("127.0.0.1:8080", "open", sockets=[s], privileged=False))
    assert f.status.value == "pass" and HIDDEN in f.title


def test_protocol_mismatch_names_the_owner_in_the_one_wording():
    udp = sock("127.0.0.1", 8080, protocol="udp", pid=5, process="dnsd", user="nobody")
    f = ProtocolMismatchCheck().run(context("127.0.0.1:8080", "refused", sockets=[udp]))
    assert f.cause == "protocol-mismatch" and "dnsd (pid 5, user nobody)" in f.title


def test_unix_socket_names_a_hidden_owner_in_the_one_wording():
    path = "/run/app.sock"
    listener = UnixListener(path, 9, 42, 1, 0, 128, 0, None, None, "root")
    snap = Snapshot(port=0, protocol="unix")
    snap.extras["unix"] = UnixFacts(path, PathInfo(True, "socket", 0o777, 0, 0, "root", "root", 42, 1),
                                    listeners=[listener])
    f = UnixSocketCheck().run(Context(parse_target(path), [], [Probe(path, Outcome.OPEN, 0.1)], snap, Options()))
    assert HIDDEN in f.title


def test_reports_the_wizard_and_history_use_the_same_label():
    s = hidden()
    assert report_owner_label(s) == "owner hidden (user root; run with sudo to see)"
    assert listener_line(s) == "tcp `127.0.0.1:8080` · owner hidden (user root; run with sudo to see)"
    assert listener_line(s.to_listener_dict()) == listener_line(s)
    old = {"verdict": {}, "findings": [], "listeners": []}
    new = {"verdict": {}, "findings": [], "listeners": [s.to_listener_dict()]}
    assert f"- new: tcp 127.0.0.1:8080 {HIDDEN}" in compare_reports(old, new)


def test_port_in_use_names_the_stranger_in_the_one_wording():
    stranger = sock("0.0.0.0", 8080, pid=77, process="py", uid=1000)
    f = PortOwnerCheck().run(context("127.0.0.1:8080", "open", sockets=[stranger], expect="nginx"))
    assert f.cause == "port-in-use" and f.title == "Port 8080/tcp is held by py (pid 77, uid 1000), not by nginx."
