"""The one rule model on rulesets captured from real iptables-save / nft in ``unshare --net``.

tests/fixtures/rules/make-chains-ruleset.sh loaded the rules (its header has the exact
capture command): chains of every spelling (MYCHAIN, KUBE-FIREWALL, ufw-user-input,
Docker's DOCKER / DOCKER-USER), negated ports in DNAT rules, multiport, iprange, and
nft goto / return. iptables 1.8.9 (nf_tables), nftables 1.0.6.
"""

from pathlib import Path

import pytest

from portdoctor.bounded import CommandResult
from portdoctor.facts.rules import build_ruleset, packet_for

FIXTURES = Path(__file__).parent / "fixtures" / "rules"


def ok(name: str) -> CommandResult:
    return CommandResult(["cmd"], 0, (FIXTURES / name).read_text(), "")


@pytest.fixture(scope="module")
def ruleset():
    return build_ruleset({"iptables": ok("chains-iptables-save.txt"), "nft-json": ok("chains-nft-ruleset.json"),
                          "nft-text": ok("chains-nft-ruleset.txt")})


def verdict(ruleset, port, address="127.0.0.1"):
    packet, hooks = packet_for(address, port, "tcp")
    return ruleset.filter_verdict(packet, hooks)


def test_jumps_follow_declared_chains_whatever_their_case(ruleset):
    rules = {(r.chain, r.position): r for r in ruleset.rules() if r.backend == "iptables" and r.table == "filter"}
    assert [(rules[("INPUT", i)].action, rules[("INPUT", i)].target) for i in (1, 2, 3)] == [
        ("jump", "KUBE-FIREWALL"), ("jump", "MYCHAIN"), ("jump", "ufw-user-input")]
    assert (rules[("FORWARD", 1)].action, rules[("FORWARD", 1)].target) == ("jump", "DOCKER-USER")
    nat = {(r.chain, r.position): r for r in ruleset.rules() if r.table == "nat" and r.backend == "iptables"}
    assert nat[("PREROUTING", 1)].action == "jump" and nat[("POSTROUTING", 1)].nat.kind == "masquerade"


@pytest.mark.parametrize("port, action, chain, path", [
    (7001, "reject", "MYCHAIN", ["INPUT", "MYCHAIN"]),
    (7015, "reject", "MYCHAIN", ["INPUT", "MYCHAIN"]),  # multiport range
    (7030, "drop", "ufw-user-input", ["INPUT", "ufw-user-input"]),  # after MYCHAIN's RETURN
    (7201, "reject", "Gate", ["input", "Gate"]),  # nft goto
    (7250, "accept", None, []),  # Gate returns: back to input's caller (the hook), accepted
    (7299, "accept", None, []),  # != 7299
    (7003, "accept", None, []),
])
def test_filter_verdict_through_user_chains(ruleset, port, action, chain, path):
    d = verdict(ruleset, port)
    assert d.verdict == action
    assert (d.rule.chain if d.rule else None) == chain
    assert d.path == path if d.rule else True


def test_iprange_and_comment(ruleset):
    assert verdict(ruleset, 7100, "127.0.0.7").rule.chain == "KUBE-FIREWALL"
    assert verdict(ruleset, 7100, "127.0.0.1").verdict == "accept"  # outside the range
    multiport = next(r for r in ruleset.rules() if r.comment)
    assert multiport.comment == "block the app ports" and multiport.reject_with == "tcp-reset"


def test_dnat_for_docker_published_port(ruleset):
    forwards = ruleset.dnat_for(8080)
    assert {(f.hook, f.destination(8080)) for f in forwards} == {
        ("prerouting", ("172.17.0.2", 80)), ("output", ("172.17.0.2", 80))}
    output = next(f for f in forwards if f.hook == "output")
    assert output.path == ["OUTPUT", "DOCKER"] and output.chain == "DOCKER"
    assert not output.matches(8080, "tcp", "127.0.0.1")  # Docker's OUTPUT jump skips 127/8
    assert output.matches(8080, "tcp", "192.0.2.5")


def test_negated_port_in_a_dnat_rule(ruleset):
    assert {f.destination(9001) for f in ruleset.dnat_for(9001)} == {("172.17.0.3", 9000)}
    assert not [f for f in ruleset.dnat_for(8500) if f.to_address == "172.17.0.3"]  # ! --dport 8000:8999


def test_nft_goto_return_and_negation_in_nat(ruleset):
    def nft_forwards(port):
        return [f.destination(port) for f in ruleset.dnat_for(port) if f.source == "nft"]

    assert nft_forwards(9401) == [("10.0.0.7", 80)]
    assert nft_forwards(9450) == []  # `tcp dport 9450 return` comes first
    assert nft_forwards(9499) == []  # dport != 9499
    assert nft_forwards(9600) == []  # outside the goto's range


def test_docker_user_drop_after_dnat(ruleset):
    forward = next(f for f in ruleset.dnat_for(8080) if f.hook == "prerouting")
    d = ruleset.forward_verdict(forward, 8080)
    assert d is not None and d.verdict == "drop"
    assert (d.rule.chain, d.path) == ("DOCKER-USER", ["FORWARD", "DOCKER-USER"])
    assert d.rule.removal_command() == "iptables -D DOCKER-USER -p tcp -m tcp --dport 80 -j DROP"
    other = next(f for f in ruleset.dnat_for(9001) if f.hook == "prerouting")
    assert ruleset.forward_verdict(other, 9001) is None  # port 9000 is not dropped


def test_nft_rule_text_is_read_only_when_asked():
    calls = []

    def load():
        calls.append(1)
        return (FIXTURES / "chains-nft-ruleset.txt").read_text()

    rs = build_ruleset({"nft-json": ok("chains-nft-ruleset.json")}, load_nft_text=load)
    d = verdict(rs, 7201)
    assert calls == []  # the verdict needs no text
    assert d.rule.text == "tcp dport != 7299 reject" and calls == [1]
    assert rs.rules()[0].text and calls == [1]  # read once
