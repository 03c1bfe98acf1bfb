"""Platform traps (WSL2, Windows excluded ports, SELinux, macOS) on fixture output.

None of these platforms runs here, so every parser is proven on output captured
or quoted from public sources (tests/fixtures/platform/README.md says where), and
each decision on a Snapshot built by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portdoctor.checks.macos_firewall import MacosFirewallCheck
from portdoctor.checks.selinux import SelinuxPortLabelCheck
from portdoctor.checks.windows_ports import WindowsExcludedPortsCheck
from portdoctor.checks.wsl import WslLocalhostCheck
from portdoctor.facts.macos_firewall import MacosFirewall, parse_socketfilterfw, pf_rules_naming_port
from portdoctor.facts.selinux import SelinuxFacts, parse_avc_name_bind, parse_semanage_ports, port_types
from portdoctor.facts.windows_ports import parse_excluded_port_ranges
from portdoctor.facts.wsl import WslFacts, parse_wslconfig, wsl_version
from portdoctor.model import Status
from portdoctor.testing import context, sock

FIXTURES = Path(__file__).parent / "fixtures" / "platform"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def on(os_name: str, ctx, **extras):
    ctx.facts.os = os_name
    ctx.facts.extras.update(extras)
    return ctx


# --- WSL2 ----------------------------------------------------------------------------


@pytest.mark.parametrize("release, version", [
    ("5.4.72-microsoft-standard-WSL2", 2),
    ("4.19.128-microsoft-standard", 2),
    ("5.15.146.1-microsoft-standard-WSL2", 2),
    ("4.0-19041-Microsoft", 1),
    ("6.18.44-fc-v769", None),
    ("6.8.0-45-generic", None),
])
def test_wsl_version_from_osrelease(release, version):
    assert wsl_version(release) == version


def test_wslconfig_networking_mode():
    assert parse_wslconfig(fixture("wslconfig_mirrored.ini")) == "mirrored"
    assert parse_wslconfig(fixture("wslconfig_experimental.ini")) == "mirrored"
    assert parse_wslconfig("[wsl2]\nmemory=8GB\n") is None
    assert parse_wslconfig("not an ini file [") is None


WSL_NAT = WslFacts(2, "5.15.146.1-microsoft-standard-WSL2", "nat", "/mnt/c/Users/me/.wslconfig")


def test_wsl_nat_listener_on_ipv6_loopback_is_not_forwarded():
    ctx = on("linux", context("localhost:3000", "open", sockets=[sock("::1", 3000)]), wsl=WSL_NAT)
    check = WslLocalhostCheck()
    assert check.applies(ctx)
    f = check.run(ctx)
    assert f.status is Status.WARN and f.cause == "wrong-interface"
    assert "listens only on ::1" in f.title
    assert any(r.command == "wsl --shutdown" for r in f.remediation)


@pytest.mark.parametrize("address, v6only, status", [
    ("0.0.0.0", None, Status.PASS), ("127.0.0.1", None, Status.PASS), ("::", False, Status.PASS),
    ("::", True, Status.WARN), ("172.20.1.5", None, Status.WARN),
])
def test_wsl_nat_forwarding_by_bound_address(address, v6only, status):
    ctx = on("linux", context("127.0.0.1:3000", "open", sockets=[sock(address, 3000, v6only=v6only)]), wsl=WSL_NAT)
    assert WslLocalhostCheck().run(ctx).status is status


def test_wsl_mirrored_passes_and_other_linux_is_left_out():
    mirrored = WslFacts(2, "5.15.146.1-microsoft-standard-WSL2", "mirrored", "/mnt/c/Users/me/.wslconfig")
    ctx = on("linux", context("127.0.0.1:3000", "open", sockets=[sock("::1", 3000)]), wsl=mirrored)
    assert WslLocalhostCheck().run(ctx).status is Status.PASS
    plain = on("linux", context("127.0.0.1:3000"), wsl=WslFacts(None, "6.8.0-45-generic"))
    assert not WslLocalhostCheck().applies(plain)
    assert not WslLocalhostCheck().applies(on("darwin", context("127.0.0.1:3000")))


# --- Windows excluded port ranges ------------------------------------------------------


def test_netsh_excluded_ranges_english_and_localized():
    ranges = parse_excluded_port_ranges(fixture("netsh_excludedportrange_tcp.txt"))
    assert [(r.start, r.end, r.administered) for r in ranges] == [
        (80, 80, False), (5986, 5986, False), (47001, 47001, False), (55679, 55679, True)]
    spanish = parse_excluded_port_ranges(fixture("netsh_excludedportrange_tcp_es.txt"))
    assert len(spanish) == 24 and (spanish[0].start, spanish[-1].end) == (1025, 50059)
    assert 25340 in spanish[16] and str(spanish[16]) == "25313-25412"


def test_port_in_an_excluded_range_cannot_be_bound():
    ranges = parse_excluded_port_ranges(fixture("netsh_excludedportrange_tcp_es.txt"))
    ctx = on("windows", context("127.0.0.1:25340"), **{"excluded_ports:tcp": ranges})
    check = WindowsExcludedPortsCheck()
    assert check.applies(ctx)
    f = check.run(ctx)
    assert f.status is Status.FAIL and f.cause == "port-in-use"
    assert "25313-25412" in f.title and "10013" in f.detail
    assert "net stop winnat; net start winnat" in [r.command for r in f.remediation]


def test_excluded_ranges_other_cases():
    ranges = parse_excluded_port_ranges(fixture("netsh_excludedportrange_tcp.txt"))
    check = WindowsExcludedPortsCheck()
    free = on("windows", context("127.0.0.1:8080"), **{"excluded_ports:tcp": ranges})
    assert check.run(free).status is Status.PASS
    admin = check.run(on("windows", context("127.0.0.1:55679"), **{"excluded_ports:tcp": ranges}))
    assert admin.status is Status.FAIL and "administrator" in admin.title
    assert "delete excludedportrange" in admin.remediation[1].command
    bound = on("windows", context("127.0.0.1:80", "open", sockets=[sock("0.0.0.0", 80)]), **{"excluded_ports:tcp": ranges})
    assert check.run(bound).status is Status.PASS
    unreadable = on("windows", context("127.0.0.1:80"), **{"excluded_ports:tcp": None})
    assert check.run(unreadable).status is Status.SKIP
    assert not check.applies(on("linux", context("127.0.0.1:80")))


# --- SELinux ---------------------------------------------------------------------------


def test_semanage_port_table():
    table = parse_semanage_ports(fixture("semanage_port_l_http.txt") + fixture("semanage_port_l_reserved.txt"))
    assert table[("http_port_t", "tcp")] == [(80, 80), (81, 81), (443, 443), (488, 488), (8008, 8008),
                                              (8009, 8009), (8443, 8443), (9000, 9000)]
    assert port_types(table, 8080) == ["http_cache_port_t", "unreserved_port_t"]
    assert port_types(table, 4881) == ["unreserved_port_t"]
    assert port_types(table, 3130, "udp") == ["http_cache_port_t", "unreserved_port_t"]
    assert parse_semanage_ports("SELinux Port Type              Proto    Port Number\n") == {}


def test_avc_name_bind_denials():
    denials = parse_avc_name_bind(fixture("audit_avc_name_bind.log"), 4881)
    assert [(d.comm, d.source_type, d.target_type, d.permissive) for d in denials] == [
        ("nginx", "httpd_t", "unreserved_port_t", False)]
    assert parse_avc_name_bind(fixture("audit_avc_name_bind.log"), 80) == []
    mls = parse_avc_name_bind(fixture("audit_avc_sshd_mls.log"), 2222)
    assert [(d.comm, d.source_type, d.target_type) for d in mls] == [("sshd", "sshd_t", "unreserved_port_t")]


def selinux_ctx(target, facts, *, mode="enforcing", expect=None, **kw):
    ctx = context(target, expect=expect, **kw)
    port = ctx.target.port
    return on("linux", ctx, selinux_mode=mode, **{f"selinux:{port}": facts})


def test_selinux_denial_means_the_port_cannot_be_bound():
    table = parse_semanage_ports(fixture("semanage_port_l_http.txt") + fixture("semanage_port_l_reserved.txt"))
    facts = SelinuxFacts("enforcing", table, denials=parse_avc_name_bind(fixture("audit_avc_name_bind.log"), 4881))
    check = SelinuxPortLabelCheck()
    ctx = selinux_ctx("127.0.0.1:4881", facts)
    assert check.applies(ctx)
    f = check.run(ctx)
    assert f.status is Status.FAIL and f.cause == "port-in-use"
    assert "SELinux denied nginx binding port 4881" in f.title
    assert f.remediation[0].command == "sudo semanage port -a -t http_port_t -p tcp 4881"


def test_selinux_label_mismatch_without_denial_is_a_warning_and_uses_modify():
    table = parse_semanage_ports(fixture("semanage_port_l_http.txt") + fixture("semanage_port_l_reserved.txt"))
    facts = SelinuxFacts("enforcing", table, denials=None, audit_error="/var/log/audit/audit.log: Permission denied")
    f = SelinuxPortLabelCheck().run(selinux_ctx("127.0.0.1:8080", facts, expect="nginx"))
    assert f.status is Status.WARN and f.cause == "port-in-use"
    assert "labelled http_cache_port_t, not http_port_t" in f.title
    assert f.remediation[0].command == "sudo semanage port -m -t http_port_t -p tcp 8080"


def test_selinux_quiet_cases():
    table = parse_semanage_ports(fixture("semanage_port_l_http.txt") + fixture("semanage_port_l_reserved.txt"))
    check = SelinuxPortLabelCheck()
    assert check.run(selinux_ctx("127.0.0.1:8080", None, mode="permissive")).status is Status.PASS
    labelled = SelinuxFacts("enforcing", table, denials=[])
    assert check.run(selinux_ctx("127.0.0.1:9000", labelled, expect="nginx")).status is Status.PASS
    bound = selinux_ctx("127.0.0.1:8080", None, sockets=[sock("0.0.0.0", 8080)])
    assert check.run(bound).status is Status.PASS
    no_semanage = SelinuxFacts("enforcing", None, semanage_error="semanage not found", denials=[])
    assert check.run(selinux_ctx("127.0.0.1:8080", no_semanage, expect="nginx")).status is Status.SKIP
    absent = on("linux", context("127.0.0.1:8080"), selinux_mode=None)
    assert not check.applies(absent)


# --- macOS ----------------------------------------------------------------------------


def test_socketfilterfw_states():
    alf = parse_socketfilterfw(fixture("socketfilterfw_kolide.txt"))
    assert (alf.enabled, alf.block_all) == (True, False)
    newer = parse_socketfilterfw("Firewall is enabled. (State = 1)\nFirewall has block all state set to enabled.\n"
                                 "Firewall stealth mode is on\n")
    assert (newer.enabled, newer.block_all, newer.stealth) == (True, True, True)
    assert parse_socketfilterfw("Firewall is disabled. (State = 0)\n").enabled is False


def test_pf_rules_naming_a_port():
    rules = fixture("pfctl_sr_rules.txt")
    assert len(pf_rules_naming_port(rules, 8080)) == 1
    assert pf_rules_naming_port(rules, 8081) == []
    assert pf_rules_naming_port(rules, 53) == []  # a pass rule, not a block
    assert pf_rules_naming_port("block drop in proto tcp from any to any port 8000:8100\n", 8050)
    assert not pf_rules_naming_port("block drop in proto tcp from any to any port 8000 >< 8100\n", 8000)


def test_macos_pf_block_is_a_firewall_failure_and_unreadable_pf_skips():
    check = MacosFirewallCheck()
    blocked = on("darwin", context("127.0.0.1:8080", "timeout"),
                 macos_firewall=MacosFirewall(parse_socketfilterfw(fixture("socketfilterfw_kolide.txt")),
                                              pf_rules=fixture("pfctl_sr_rules.txt")))
    assert check.applies(blocked)
    f = check.run(blocked)
    assert f.status is Status.FAIL and f.cause == "firewall" and "port = 8080" in f.title
    hidden = on("darwin", context("127.0.0.1:8080"),
                macos_firewall=MacosFirewall(parse_socketfilterfw(fixture("socketfilterfw_kolide.txt")),
                                             pf_error="pfctl: /dev/pf: Permission denied"))
    s = check.run(hidden)
    assert s.status is Status.SKIP and "Permission denied" in s.title and s.remediation[0].command == "sudo pfctl -sr"
    assert not check.applies(on("linux", context("127.0.0.1:8080")))
