"""firewall: names the rule and its removal command; infers honestly when rules are unreadable."""

from pathlib import Path

import pytest

from portdoctor.bounded import CommandResult
from portdoctor.checks.firewall import FirewallCheck
from portdoctor.facts.firewall import FirewallFacts, build_facts, parse_iptables_save
from portdoctor.testing import context, sock

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
check = FirewallCheck()


def ok(name):
    return CommandResult(["cmd"], 0, (FIXTURES / name).read_text(), "")


@pytest.fixture(scope="module")
def nft():
    return build_facts({"nft-json": ok("nft-ruleset.json"), "nft-text": ok("nft-ruleset.txt")})


@pytest.fixture(scope="module")
def ipt():
    return build_facts({"iptables": ok("iptables-save.txt"), "ip6tables": ok("ip6tables-save.txt")})


UNREADABLE = build_facts({
    "nft-json": CommandResult(["nft"], 1, "", "Operation not permitted (you must be root)"),
    "iptables": CommandResult(["iptables-save"], 4, "", "Permission denied (you must be root)"),
})


def test_nft_reject_rule_is_named_with_its_removal_command(nft):
    f = check.run(context("127.0.0.1:8080", "refused", sockets=[sock("127.0.0.1", 8080)], firewall=nft))
    assert (f.status, f.cause) == ("fail", "firewall")
    assert "tcp dport { 8080, 8443 }" in f.title
    assert "inet filter input handle 8" in f.detail
    assert f.remediation[0].command == "sudo nft delete rule inet filter input handle 8"
    assert f.evidence["inferred"] is False and f.evidence["hook"] == "input"


def test_iptables_drop_rule(ipt):
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080)], firewall=ipt))
    assert f.cause == "firewall"
    assert f.remediation[0].command == "sudo iptables -D INPUT -p tcp -m tcp --dport 8080 -j DROP"
    assert "a timeout" in f.detail


def test_ufw_rule_suggests_ufw_allow(ipt):
    f = check.run(context("127.0.0.1:7007", "refused", sockets=[sock("0.0.0.0", 7007)], firewall=ipt))
    assert f.cause == "firewall"
    assert f.remediation[0].command == "sudo ufw allow 7007/tcp"


def test_output_drop_shows_as_eperm(ipt):
    ctx = context("127.0.0.1:6000", "error", sockets=[sock("127.0.0.1", 6000)], firewall=ipt)
    ctx.probes[0].errno = 1
    f = check.run(ctx)
    assert f.cause == "firewall" and f.evidence["hook"] == "output"
    assert "EPERM" in f.detail


def test_host_prohibited_shows_as_unreachable(ipt):
    f = check.run(context("127.0.0.1:8443", "unreachable", sockets=[sock("127.0.0.1", 8443)], firewall=ipt))
    assert f.cause == "firewall" and "unreachable" in f.detail


def test_policy_drop_is_named_with_an_accept_command():
    facts = FirewallFacts(parse_iptables_save("*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"),
                          {"iptables": "read"})
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080)], firewall=facts))
    assert f.cause == "firewall" and "default policy" in f.title
    assert f.remediation[0].command == "sudo iptables -I INPUT -p tcp --dport 8080 -j ACCEPT"


def test_no_rule_blocks(nft):
    f = check.run(context("127.0.0.1:1234", "refused", firewall=nft))
    assert f.status == "pass" and "No firewall rule blocks" in f.title


def test_reachable_passes(nft):
    assert check.run(context("127.0.0.1:8080", "open", firewall=nft)).status == "pass"


def test_may_match_with_a_listener_fails_and_says_so():
    facts = FirewallFacts(parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 8080 -m owner --uid-owner 1000 -j DROP\n"
        "COMMIT\n"), {"iptables": "read"})
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080)], firewall=facts))
    assert f.cause == "firewall" and f.evidence["may_match"] is True
    assert "may drop" in f.title and "--uid-owner 1000" in f.detail
    g = check.run(context("127.0.0.1:8080", "refused", firewall=facts))
    assert g.status == "warn"  # no listener, and a DROP does not refuse: only a lead


def test_unreadable_with_listener_and_refused_is_inferred():
    f = check.run(context("127.0.0.1:8080", "refused", sockets=[sock("127.0.0.1", 8080, uid=0)],
                          privileged=False, firewall=UNREADABLE))
    assert (f.status, f.cause) == ("fail", "firewall")
    assert f.title.startswith("INFERRED") and f.evidence["inferred"] is True
    assert f.remediation[0].command == "sudo nft list ruleset"


def test_unreadable_with_eperm_is_inferred_but_other_errors_are_not():
    ctx = context("127.0.0.1:8080", "error", sockets=[sock("127.0.0.1", 8080)], firewall=UNREADABLE)
    ctx.probes[0].errno = 1
    assert check.run(ctx).cause == "firewall"
    ctx.probes[0].errno = 24  # EMFILE: not a filter
    assert check.run(ctx).status == "skip"


def test_unreadable_without_listener_skips_with_how():
    f = check.run(context("127.0.0.1:8080", "refused", privileged=False, firewall=UNREADABLE))
    assert f.status == "skip" and f.cause is None
    assert "need root" in f.title and "must be root" in f.evidence["unreadable"]
    assert f.remediation[0].command == "sudo nft list ruleset; sudo iptables-save"


def test_unreadable_with_listener_on_another_address_is_not_inferred():
    f = check.run(context("127.0.0.1:8080", "refused", sockets=[sock("127.0.0.2", 8080)], firewall=UNREADABLE))
    assert f.status == "skip"  # wrong-interface explains it


def test_unreadable_with_a_full_accept_queue_is_not_inferred():
    full = sock("127.0.0.1", 8080, recv_queue=129, send_queue=128)
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[full], firewall=UNREADABLE))
    assert f.status == "skip"  # the backlog check's case


def test_facts_not_gathered_skips():
    f = check.run(context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080)]))
    assert f.status == "fail" and f.evidence["inferred"] is True  # a listener, yet a timeout
    assert check.run(context("127.0.0.1:8080", "timeout")).status == "skip"


def test_udp_silence_is_not_inferred_as_a_firewall():
    f = check.run(context("udp://127.0.0.1:5353", "timeout", sockets=[sock("0.0.0.0", 5353, protocol="udp")],
                          firewall=UNREADABLE))
    assert f.status == "skip"
