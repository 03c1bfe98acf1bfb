"""wrong-interface: the address or family connected to is not the one bound."""

from portdoctor.checks.wrong_interface import WrongInterfaceCheck
from portdoctor.facts import InterfaceAddress
from portdoctor.testing import LOOPBACK, context, sock

check = WrongInterfaceCheck()


def test_bound_to_another_loopback_address():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("127.0.0.2", 8080)]))
    assert (f.status, f.cause) == ("fail", "wrong-interface")
    assert "127.0.0.2" in f.title and "127.0.0.1" in f.title
    assert f.remediation[0].command == "portdoctor 127.0.0.2:8080"
    assert any("--host 0.0.0.0" in r.text for r in f.remediation)


def test_ipv6_loopback_only_with_ipv4_target():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("::1", 8080)]))
    assert f.cause == "wrong-interface" and "IPv6 only" in f.title


def test_v6only_wildcard_with_ipv4_target():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("::", 8080, v6only=True)]))
    assert f.cause == "wrong-interface" and "IPV6_V6ONLY" in f.title
    assert any(r.command == "sysctl net.ipv6.bindv6only" for r in f.remediation)


def test_dual_stack_wildcard_serves_ipv4():
    assert check.run(context("127.0.0.1:8080", "open", sockets=[sock("::", 8080, v6only=False)])).status == "pass"


def test_localhost_resolving_to_ipv6_first():
    ctx = context("localhost:8080", {"::1": "refused", "127.0.0.1": "open"},
                  addresses=["::1", "127.0.0.1"], sockets=[sock("127.0.0.1", 8080)])
    f = check.run(ctx)
    assert f.cause == "wrong-interface"
    assert "::1" in f.title and "127.0.0.1" in f.title
    assert f.remediation[0].command == "portdoctor 127.0.0.1:8080"
    assert "instead of localhost:8080" in f.remediation[0].text
    bind = f.remediation[1].text
    assert "--host ::" in bind and "--host 0.0.0.0" not in bind, bind  # 0.0.0.0 never serves ::1


def test_ipv4_refused_gets_the_ipv4_wildcard_hint():
    f = check.run(context("127.0.0.1:8080", sockets=[sock("::1", 8080)]))
    bind = next(r.text for r in f.remediation if "Framework hints" in r.text)
    assert "--host 0.0.0.0" in bind and "--host ::" not in bind


def test_bound_to_a_lan_address_while_connecting_to_loopback():
    interfaces = LOOPBACK + [InterfaceAddress("eth0", "192.168.1.20", 4)]
    f = check.run(_ctx_with_interfaces("127.0.0.1:8080", [sock("192.168.1.20", 8080)], interfaces))
    assert f.cause == "wrong-interface" and "192.168.1.20" in f.title


def test_bound_to_loopback_while_connecting_to_the_lan_address():
    interfaces = LOOPBACK + [InterfaceAddress("eth0", "192.168.1.20", 4)]
    f = check.run(_ctx_with_interfaces("192.168.1.20:8080", [sock("127.0.0.1", 8080)], interfaces))
    assert f.cause == "wrong-interface"
    assert f.remediation[0].command == "portdoctor 127.0.0.1:8080"


def test_bound_to_a_device():
    interfaces = LOOPBACK + [InterfaceAddress("eth0", "192.168.1.20", 4)]
    f = check.run(_ctx_with_interfaces("127.0.0.1:8080", [sock("0.0.0.0", 8080, interface="eth0")], interfaces))
    assert f.cause == "wrong-interface" and "SO_BINDTODEVICE" in f.title


def test_a_served_address_that_fails_is_not_this_checks_cause():
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[sock("0.0.0.0", 8080)]))
    assert f.status == "pass"


def test_no_listener_is_not_wrong_interface():
    assert check.run(context("127.0.0.1:8080")).status == "pass"


def test_remote_target_is_not_judged_by_local_sockets():
    f = check.run(context("192.0.2.10:8080", "refused", sockets=[sock("127.0.0.1", 8080)]))
    assert f.status == "pass" and f.cause is None


def _ctx_with_interfaces(target, sockets, interfaces):
    ctx = context(target, sockets=sockets)
    ctx.facts.interfaces = list(interfaces)
    return ctx
