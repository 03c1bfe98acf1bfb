"""protocol-mismatch on fixture snapshots, and the UDP verdict (silence from a bound socket is fine)."""

from portdoctor.checks.protocol_mismatch import ProtocolMismatchCheck
from portdoctor.model import Status
from portdoctor.pipeline import decide_verdict
from portdoctor.testing import context, sock


def run(ctx):
    return ProtocolMismatchCheck().run(ctx)


def test_udp_only_port_with_tcp_target_fails():
    ctx = context("127.0.0.1:53", "refused", sockets=[sock("127.0.0.1", 53, protocol="udp", pid=7, process="dnsmasq")])
    f = run(ctx)
    assert f.status is Status.FAIL and f.cause == "protocol-mismatch"
    assert "UDP only" in f.title and "dnsmasq (pid 7)" in f.title
    assert f.remediation[0].command == "portdoctor udp://127.0.0.1:53"


def test_tcp_only_port_with_udp_target_fails():
    ctx = context("udp://127.0.0.1:8125", "refused", sockets=[sock("0.0.0.0", 8125)])
    f = run(ctx)
    assert f.status is Status.FAIL and f.cause == "protocol-mismatch" and "TCP only" in f.title
    assert f.remediation[0].command == "portdoctor 127.0.0.1:8125"


def test_both_protocols_bound_passes():
    ctx = context("127.0.0.1:53", "open", sockets=[sock("127.0.0.1", 53), sock("127.0.0.1", 53, protocol="udp")])
    assert run(ctx).status is Status.PASS


def test_udp_bound_and_silent_passes_and_verdict_is_ok():
    ctx = context("udp://127.0.0.1:5353", "timeout", sockets=[sock("0.0.0.0", 5353, protocol="udp")])
    f = run(ctx)
    assert f.status is Status.PASS and "normal for UDP" in f.title
    ctx.findings.append(f)
    verdict = decide_verdict(ctx)
    assert verdict.cause == "ok" and verdict.reachable


def test_udp_silence_without_a_bound_socket_is_not_ok():
    ctx = context("udp://127.0.0.1:5353", "timeout")
    assert decide_verdict(ctx).cause != "ok"


def test_udp_silence_on_a_remote_address_is_not_called_ok():
    ctx = context("udp://198.51.100.7:5353", "timeout", addresses=["198.51.100.7"],
                  sockets=[sock("0.0.0.0", 5353, protocol="udp")])
    assert decide_verdict(ctx).cause != "ok"


def test_udp_socket_bound_elsewhere_does_not_make_silence_ok():
    ctx = context("udp://127.0.0.1:5353", "timeout", sockets=[sock("127.0.0.2", 5353, protocol="udp")])
    assert decide_verdict(ctx).cause != "ok"


def test_udp_socket_in_another_namespace_names_it():
    ctx = context("127.0.0.1:53", "refused",
                  sockets=[sock("0.0.0.0", 53, protocol="udp", namespace="net:[4026532300]")])
    f = run(ctx)
    assert f.cause == "protocol-mismatch" and "net:[4026532300]" in f.title


def test_remote_target_does_not_apply():
    assert not ProtocolMismatchCheck().applies(context("198.51.100.7:53", "timeout"))
