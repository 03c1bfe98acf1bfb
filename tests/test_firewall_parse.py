"""The firewall parsers and the rule walk, on rulesets captured from real nft / iptables-save.

The fixtures in tests/fixtures/firewall/ were made inside ``unshare --net`` (the host's
rules untouched) by the make-*.sh scripts there; each script's header records the exact
capture command. nftables 1.0.6, iptables 1.8.9 (nf_tables).
"""

from pathlib import Path

import pytest

from portdoctor import records
from portdoctor.bounded import CommandResult
from portdoctor.facts.firewall import (
    build_facts,
    evaluate,
    nft_rule_texts,
    packet_for,
    parse_iptables_save,
    probe_signature,
)

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"


def ok(name: str, argv=("cmd",)) -> CommandResult:
    return CommandResult(list(argv), 0, (FIXTURES / name).read_text(), "")


def denied(argv: str, words: str) -> CommandResult:
    return CommandResult([argv], 1, "", words)


@pytest.fixture(scope="module")
def nft_facts():
    return build_facts({"nft-json": ok("nft-ruleset.json"), "nft-text": ok("nft-ruleset.txt")})


@pytest.fixture(scope="module")
def ipt_facts():
    # iptables-nft: the same rules are in nft's ruleset too; they must be counted once.
    return build_facts({
        "nft-json": ok("iptables-nft-ruleset.json"), "nft-text": ok("iptables-nft-ruleset.txt"),
        "iptables": ok("iptables-save.txt"), "ip6tables": ok("ip6tables-save.txt"),
    })


def decide(facts, address, port, protocol="tcp"):
    packet, hooks = packet_for(address, port, protocol)
    return evaluate(facts, packet, hooks)


# --- nftables -----------------------------------------------------------------------


def test_nft_chains_hooks_priorities_and_policies(nft_facts):
    chains = {(c.family, c.table, c.name): c for c in nft_facts.chains}
    assert chains[("inet", "filter", "input")].hook == "input"
    assert chains[("inet", "filter", "output")].hook == "output"
    assert chains[("inet", "filter", "app_rules")].hook is None
    assert chains[("ip", "strict", "input")].priority == 10
    assert chains[("ip", "strict", "input")].policy == "drop"
    assert chains[("ip", "nat", "prerouting")].type == "nat"


def test_nft_rule_fields_and_text(nft_facts):
    rules = {r.handle: r for r in nft_facts.rules() if r.table == "filter"}
    reject = rules[8]
    assert reject.text == "tcp dport { 8080, 8443 } counter packets 0 bytes 0 reject with tcp reset"
    assert (reject.action, reject.protocol, reject.dport) == ("reject", "tcp", [(8080, 8080), (8443, 8443)])
    assert reject.reject_with == "tcp reset"
    assert reject.removal_command() == "nft delete rule inet filter input handle 8"
    assert rules[9].saddr == ["10.0.0.0/8"] and rules[9].action == "drop"
    assert rules[10].dport == [(6379, 6379), (9000, 9100)]  # a named set with an interval
    assert (rules[11].action, rules[11].target, rules[11].dport) == ("jump", "app_rules", [(7000, 7010)])
    assert rules[6].iif == ["lo"]
    assert rules[12].unevaluated and "limit" in rules[12].unevaluated[0]
    assert rules[16].daddr == ["127.0.0.1"]
    assert rules[13].reject_with == "icmpv6 admin-prohibited"


def test_nft_rule_texts_are_keyed_by_handle():
    texts = nft_rule_texts((FIXTURES / "nft-ruleset.txt").read_text())
    assert texts[("inet", "filter", "app_rules", 14)] == "tcp dport 7005 reject with icmpx admin-prohibited"
    assert texts[("ip", "strict", "input", 2)] == 'iifname "lo" accept'
    assert not any(k[2] == "blocked_ports" for k in texts)  # a set is not a chain


@pytest.mark.parametrize("address, port, verdict, handle, hook", [
    ("127.0.0.1", 8080, "reject", 8, "input"),  # a set of ports
    ("::1", 8443, "reject", 8, "input"),  # inet covers IPv6
    ("127.0.0.1", 9050, "drop", 10, "input"),  # a range inside a named set
    ("127.0.0.1", 7005, "reject", 14, "input"),  # followed through a jump
    ("127.0.0.1", 7006, "accept", None, None),  # the jumped-to chain returns
    ("127.0.0.1", 6000, "drop", 16, "output"),  # OUTPUT is walked before INPUT
    ("::1", 6000, "accept", None, None),  # that rule is IPv4 only
    ("127.0.0.1", 22, "accept", None, None),  # saddr 10/8 does not match local traffic
    ("127.0.0.1", 5432, "accept", None, None),  # accepted from lo before anything else
    ("::1", 8081, "reject", 13, "input"),
    ("127.0.0.1", 8081, "accept", None, None),  # an ip6 saddr rule cannot match IPv4
    ("127.0.0.1", 1234, "accept", None, None),  # the policy-drop chain accepts lo first
])
def test_nft_walk(nft_facts, address, port, verdict, handle, hook):
    d = decide(nft_facts, address, port)
    assert d.verdict == verdict
    assert (d.rule.handle if d.rule else None) == handle
    assert d.hook == hook


def test_nft_policy_drop_for_traffic_from_elsewhere(nft_facts):
    packet, _ = packet_for("192.0.2.10", 1234, "tcp")
    packet.iif, packet.saddr = "eth0", "192.0.2.99"
    d = evaluate(nft_facts, packet, ("input",))
    assert d.verdict == "drop" and d.rule is None
    assert (d.chain.table, d.chain.name, d.chain.policy) == ("strict", "input", "drop")


def test_nft_unevaluated_matcher_is_may_match_not_match(nft_facts):
    d = decide(nft_facts, "127.0.0.1", 53, "udp")
    # "udp dport 53 limit rate 10/second accept": not taken as a match (or a miss).
    assert d.verdict == "accept" and d.rule is None


def test_nft_signatures(nft_facts):
    assert probe_signature(decide(nft_facts, "127.0.0.1", 8080)) == ("refused",)  # tcp reset
    assert probe_signature(decide(nft_facts, "127.0.0.1", 7005)) == ("unreachable",)  # admin-prohibited
    assert probe_signature(decide(nft_facts, "127.0.0.1", 9050)) == ("timeout",)  # DROP in input
    assert probe_signature(decide(nft_facts, "127.0.0.1", 6000)) == ("error", "timeout")  # DROP in output


def test_nft_raw_outputs_are_kept(nft_facts):
    assert nft_facts.nft_json["nftables"][0]["metainfo"]["version"] == "1.0.6"
    assert "table ip nat" in nft_facts.nft_text
    assert nft_facts.sources == {"nftables": "read"}


# --- iptables -----------------------------------------------------------------------


def test_iptables_nft_rules_are_not_counted_twice(ipt_facts):
    backends = {c.backend for c in ipt_facts.chains}
    assert backends == {"iptables", "ip6tables"}, backends
    assert ipt_facts.iptables_save.startswith("# Generated by iptables-save")
    assert "-j DNAT --to-destination 127.0.0.1:8080" in ipt_facts.iptables_save


def test_iptables_rule_fields():
    chains = {(c.table, c.name): c for c in parse_iptables_save((FIXTURES / "iptables-save.txt").read_text())}
    inp = chains[("filter", "INPUT")]
    assert (inp.hook, inp.policy) == ("input", "accept")
    assert chains[("filter", "app-in")].hook is None
    multiport = inp.rules[3]
    assert multiport.position == 4
    assert multiport.dport == [(8443, 8443), (9000, 9100)]
    assert (multiport.action, multiport.reject_with) == ("reject", "icmp-host-prohibited")
    assert inp.rules[4].saddr == ["10.0.0.0/8"]
    ret = inp.rules[5]
    assert ret.action == "return" and ret.matchers[-1].negate
    assert (inp.rules[6].action, inp.rules[6].target) == ("jump", "app-in")
    assert inp.rules[1].iif == ["lo"]
    dnat = chains[("nat", "OUTPUT")].rules[0]
    assert (dnat.action, dnat.target) == ("other", "DNAT --to-destination 127.0.0.1:8080")
    assert dnat.removal_command() == ("iptables -t nat -D OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 8888 "
                                      "-j DNAT --to-destination 127.0.0.1:8080")


@pytest.mark.parametrize("address, port, verdict, text, chain", [
    ("127.0.0.1", 8080, "drop", "-A INPUT -p tcp -m tcp --dport 8080 -j DROP", "INPUT"),
    ("127.0.0.1", 9050, "reject", "-A INPUT -p tcp -m multiport --dports 8443,9000:9100 -j REJECT "
                                  "--reject-with icmp-host-prohibited", "INPUT"),
    ("127.0.0.1", 7005, "reject", "-A app-in -p tcp -m tcp --dport 7005 -j REJECT "
                                  "--reject-with icmp-port-unreachable", "app-in"),
    ("127.0.0.1", 7007, "reject", "-A ufw-user-input -p tcp -m tcp --dport 7007 -j REJECT "
                                  "--reject-with tcp-reset", "ufw-user-input"),
    ("127.0.0.1", 7500, "accept", None, None),  # "! --dport 7000:7010 -j RETURN" returns first
    ("127.0.0.1", 6000, "drop", "-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 6000 -j DROP", "OUTPUT"),
    ("::1", 8081, "accept", None, None),  # ip6tables: -i lo -j ACCEPT comes first
    ("::1", 8080, "accept", None, None),  # the IPv4 rules do not apply to IPv6
])
def test_iptables_walk(ipt_facts, address, port, verdict, text, chain):
    d = decide(ipt_facts, address, port)
    assert d.verdict == verdict
    assert (d.rule.text if d.rule else None) == text
    assert (d.rule.chain if d.rule else None) == chain


def test_ip6tables_policy_drop_from_elsewhere(ipt_facts):
    packet, _ = packet_for("2001:db8::1", 8081, "tcp")
    packet.iif, packet.saddr = "eth0", "2001:db8::2"
    d = evaluate(ipt_facts, packet, ("input",))
    assert d.verdict == "reject" and d.rule.backend == "ip6tables"
    assert d.rule.removal_command() == ("ip6tables -D INPUT -p tcp -m tcp --dport 8081 -j REJECT "
                                        "--reject-with icmp6-adm-prohibited")
    assert probe_signature(d) == ("unreachable",)
    packet.dport = 1234
    assert evaluate(ipt_facts, packet, ("input",)).verdict == "drop"  # the policy


def test_iptables_removal_command_and_signature(ipt_facts):
    d = decide(ipt_facts, "127.0.0.1", 8080)
    assert d.rule.removal_command() == "iptables -D INPUT -p tcp -m tcp --dport 8080 -j DROP"
    assert probe_signature(d) == ("timeout",)
    assert probe_signature(decide(ipt_facts, "127.0.0.1", 8443)) == ("unreachable",)


def test_unknown_match_module_makes_a_rule_may_match():
    chains = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp -m tcp --dport 8080 -m owner --uid-owner 1000 -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 8080 -m comment --comment \"block app\" -j REJECT\nCOMMIT\n")
    from portdoctor.facts.firewall import FirewallFacts
    facts = FirewallFacts(chains=chains, sources={"iptables": "read"})
    d = decide(facts, "127.0.0.1", 8080)
    assert d.verdict == "reject" and d.rule.position == 2  # the comment is not a condition
    assert [r.position for _, r in d.maybe] == [1]
    assert "--uid-owner 1000" in " ".join(d.maybe[0][1].unevaluated)


# --- what could not be read ---------------------------------------------------------


def test_not_root_is_recorded_not_raised():
    facts = build_facts({
        "nft-json": denied("nft", "Operation not permitted (you must be root)"),
        "nft-text": denied("nft", "Operation not permitted (you must be root)"),
        "iptables": CommandResult(["iptables-save"], 4, "", "Permission denied (you must be root)"),
        "ip6tables": CommandResult(["ip6tables-save"], None, "", "", error="ip6tables-save not found"),
    })
    assert not facts.readable and facts.chains == []
    assert "must be root" in facts.sources["nftables"]
    assert facts.sources["ip6tables"] == "ip6tables-save not found"


def test_an_empty_ruleset_is_readable():
    facts = build_facts({"nft-json": CommandResult(["nft"], 0, '{"nftables": []}', "")})
    assert facts.readable and decide(facts, "127.0.0.1", 80).verdict == "accept"


# What a non-root run really gets (iptables 1.8.9 nf_tables, nft 1.0), word for word.
_IPTABLES_DENIED = ("iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
                    "Permission denied (you must be root)")
_NOT_ROOT = {
    "nft-json": CommandResult(["nft"], 1, "", "Operation not permitted (you must be root)\n"
                              "netlink: Error: cache initialization failed: Operation not permitted"),
    "nft-text": CommandResult(["nft"], 1, "", "Operation not permitted (you must be root)"),
    "iptables": CommandResult(["iptables-save"], 4, "", _IPTABLES_DENIED),
    "ip6tables": CommandResult(["ip6tables-save"], 4, "", _IPTABLES_DENIED.replace("iptables", "ip6tables")),
}


def test_the_note_for_unreadable_rules_is_one_short_line():
    from portdoctor.facts.firewall import unreadable_summary

    assert unreadable_summary(build_facts(_NOT_ROOT)) == "the rules need root (iptables-save: Permission denied)"
    missing = build_facts({"nft-json": CommandResult(["nft"], None, "", "", error="nft not found"),
                           "iptables": CommandResult(["iptables-save"], None, "", "", error="iptables-save not found")})
    assert unreadable_summary(missing) == "no firewall tool is installed (iptables-save, nft not found)"
    slow = build_facts({"nft-json": CommandResult(["nft"], None, "", "", error="nft timed out after 2 s")})
    assert unreadable_summary(slow) == "the rules could not be read (nft timed out after 2 s)"


def test_a_non_root_report_says_the_long_permission_error_once(monkeypatch, free_port):
    """The finding keeps every tool's full message; the note is the one-line summary."""
    from portdoctor import facts as facts_package
    from portdoctor.facts import firewall
    from portdoctor.pipeline import diagnose
    from portdoctor.plugins import discover
    from portdoctor.render import render
    from portdoctor.target import parse_target

    monkeypatch.setattr(firewall, "read_firewall", lambda timeout=2.0: build_facts(_NOT_ROOT))
    checks, _ = discover([], include_user_dir=False)
    report = diagnose(parse_target(f"127.0.0.1:{free_port}"), checks, gather_facts=facts_package.gather)
    assert "firewall: the rules need root (iptables-save: Permission denied)" in report.notes
    skipped = next(f for f in report.findings if f.check == "firewall")
    assert _IPTABLES_DENIED in skipped.title and "nft exited 1" in skipped.title
    without_notes = records.replace(report, notes=[])
    for fmt in ("text", "markdown"):
        document = render([report], fmt)
        assert "firewall: the rules need root (iptables-save: Permission denied)" in document
        # The notes add no second copy of the long message: only the finding carries it.
        long_words = "Could not fetch rule set generation id"
        assert document.count(long_words) == render([without_notes], fmt).count(long_words) > 0
