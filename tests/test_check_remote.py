"""Remote targets on fixture snapshots: the route, and how the connection failed."""

import errno

from portdoctor.checks.remote import RemoteReachabilityCheck
from portdoctor.facts.routes import Route, parse_ip_route_get, parse_macos_route_get
from portdoctor.model import Finding, Status
from portdoctor.testing import context

ADDR = "198.51.100.7"


def run(outcome, route, errno_=None, ms=1.0, firewall=None, target=f"{ADDR}:443"):
    ctx = context(target, outcome)
    ctx.probes[0].errno, ctx.probes[0].ms = errno_, ms
    ctx.probes[0].error = {errno.EHOSTUNREACH: "No route to host", errno.ENETUNREACH: "Network is unreachable",
                           errno.EPERM: "Operation not permitted"}.get(errno_)
    ctx.facts.extras[f"route:{ADDR}"] = route
    if firewall:
        ctx.findings.append(firewall)
    found = RemoteReachabilityCheck().run(ctx)
    return found[0] if isinstance(found, list) else found


def test_parse_ip_route_get():
    r = parse_ip_route_get(ADDR, '[{"dst":"198.51.100.7","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2"}]', "", 0)
    assert (r.kind, r.gateway, r.interface, r.source) == ("gateway", "192.0.2.1", "eth0", "192.0.2.2")
    assert parse_ip_route_get(ADDR, '[{"dst":"198.51.100.7","dev":"v0","prefsrc":"x"}]', "", 0).kind == "direct"
    assert parse_ip_route_get(ADDR, '[{"type":"local","dst":"127.0.0.1","dev":"lo"}]', "", 0).kind == "local"
    assert parse_ip_route_get(ADDR, "", "RTNETLINK answers: Network is unreachable\n", 2).kind == "no-route"
    assert parse_ip_route_get(ADDR, "", "RTNETLINK answers: Permission denied\n", 2).kind == "prohibit"
    assert parse_ip_route_get(ADDR, "", "RTNETLINK answers: Invalid argument\n", 2).kind == "blackhole"


def test_parse_macos_route_get():
    out = "   route to: 198.51.100.7\ndestination: default\n    gateway: 192.168.1.1\n  interface: en0\n"
    r = parse_macos_route_get(ADDR, out, "", 0)
    assert (r.kind, r.gateway, r.interface) == ("gateway", "192.168.1.1", "en0")
    assert parse_macos_route_get(ADDR, "", "route: writing to routing socket: not in table", 1).kind == "no-route"


def test_no_route_is_unreachable():
    f = run("unreachable", Route(ADDR, "no-route", error="Network is unreachable"), errno.ENETUNREACH)
    assert f.status is Status.FAIL and f.cause == "unreachable" and "No usable route" in f.title


def test_timeout_through_a_gateway_says_what_cannot_be_seen():
    f = run("timeout", Route(ADDR, "gateway", "eth0", "192.0.2.1"))
    assert f.cause == "unreachable" and "security group" in f.detail
    assert "sudo traceroute -T -p 443 198.51.100.7" in [s.command for s in f.remediation]


def test_no_neighbour_on_the_link():
    f = run("unreachable", Route(ADDR, "direct", "v0"), errno.EHOSTUNREACH, ms=3000)
    assert f.cause == "unreachable" and "ARP" in f.title
    assert f.remediation[0].command == f"ip neigh show {ADDR}"


def test_host_prohibited_defers_to_a_firewall_finding():
    fw = Finding("firewall", Status.FAIL, "rule rejects", "firewall")
    f = run("unreachable", Route(ADDR, "gateway", "eth0", "192.0.2.1"), errno.EHOSTUNREACH, firewall=fw)
    assert f.status is Status.PASS


def test_eperm_is_a_local_output_rule():
    f = run("error", Route(ADDR, "gateway", "eth0", "192.0.2.1"), errno.EPERM)
    assert f.status is Status.FAIL and f.cause == "firewall"


def test_reset_from_remote_is_not_listening_there():
    f = run("refused", Route(ADDR, "gateway", "eth0", "192.0.2.1"), errno.ECONNREFUSED)
    assert f.cause == "not-listening" and "answered" in f.title


def test_open_passes_and_udp_silence_only_warns():
    assert run("open", Route(ADDR, "gateway", "eth0", "192.0.2.1")).status is Status.PASS
    f = run("timeout", Route(ADDR, "gateway", "eth0", "192.0.2.1"), target=f"udp://{ADDR}:53")
    assert f.status is Status.WARN


def test_local_targets_do_not_apply():
    assert not RemoteReachabilityCheck().applies(context("127.0.0.1:80"))
    assert not RemoteReachabilityCheck().applies(context("[::1]:80"))
    assert RemoteReachabilityCheck().applies(context(f"{ADDR}:80"))


def test_unknown_route_on_other_os_still_judges_the_probe():
    f = run("timeout", None)
    assert f.cause == "unreachable" and "unknown on this OS" in f.detail
