"""NAT-published ports on fixture snapshots: nft JSON and iptables-save parsing, docker-proxy,
and the published-ports / service-running verdicts."""

import json
from pathlib import Path

from portdoctor.checks.published_ports import PublishedPortsCheck
from portdoctor.checks.service_running import ServiceRunningCheck
from portdoctor.facts.nat import (
    AddressMatch,
    DnatRule,
    docker_proxy_rules,
    parse_docker_proxy,
    parse_iptables_save,
    parse_nft_ruleset,
)
from portdoctor.model import Status
from portdoctor.testing import context, sock

FIXTURES = Path(__file__).parent / "fixtures" / "nat"
NFT = json.loads((FIXTURES / "nft-ruleset.json").read_text())
IPTABLES = (FIXTURES / "iptables-save-nat.txt").read_text()


def for_port(rules, port, protocol="tcp", address=None):
    return [r for r in rules if r.matches(port, protocol, address)]


def test_nft_output_dnat_with_daddr():
    rules = for_port(parse_nft_ruleset(NFT), 8080, address="127.0.0.1")
    assert [(r.hook, r.to_address, r.to_port) for r in rules] == [("output", "203.0.113.1", 80)]
    assert not for_port(parse_nft_ruleset(NFT), 8080, address="127.0.0.2")


def test_nft_port_sets_ranges_jumps_and_redirects():
    rules = parse_nft_ruleset(NFT)
    assert [r.to_address for r in for_port(rules, 9005)] == ["10.0.0.2"]
    assert for_port(rules, 9100)[0].destination(9100) == ("10.0.0.2", 9100)  # no port: kept
    redirect = for_port(rules, 7000)[0]  # reached through `jump svc` from prerouting
    assert (redirect.kind, redirect.hook, redirect.destination(7000)) == ("redirect", "prerouting", (None, 7001))
    udp = for_port(rules, 53, "udp")
    assert udp and not for_port(rules, 53, "udp", "127.0.0.1") and for_port(rules, 53, "udp", "192.0.2.5")


def test_nft_xt_dnat_from_iptables_nft_is_left_to_iptables_save():
    assert not for_port(parse_nft_ruleset(NFT), 8081)


def test_iptables_save_docker_chain_carries_the_jump_conditions():
    rules = for_port(parse_iptables_save(IPTABLES), 8081)
    hooks = {r.hook: r for r in rules}
    assert set(hooks) == {"prerouting", "output"}
    assert hooks["output"].destination(8081) == ("172.17.0.2", 80)
    # Docker's OUTPUT jump excludes 127.0.0.0/8: from this machine, only non-loopback addresses are forwarded.
    assert not hooks["output"].matches(8081, "tcp", "127.0.0.1")
    assert hooks["output"].matches(8081, "tcp", "192.0.2.5")


def test_iptables_save_redirect_multiport_and_udp():
    rules = parse_iptables_save(IPTABLES)
    assert for_port(rules, 80)[0].destination(80) == (None, 8080)
    assert for_port(rules, 9100)[0].to_address == "10.0.0.2"
    assert for_port(rules, 5353, "udp")[0].destination(5353) == ("172.17.0.3", 5353)
    assert not for_port(rules, 5353, "tcp")


def test_docker_proxy_command_line():
    cmd = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"
    assert parse_docker_proxy(cmd)["container-ip"] == "172.17.0.2"
    rules = docker_proxy_rules([sock("0.0.0.0", 8080, process="docker-proxy", pid=9, cmdline=cmd)])
    assert rules[0].destination(8080) == ("172.17.0.2", 80)


def output_rule(to="172.17.0.2", to_port=80, hook="output"):
    return DnatRule("dnat", "iptables", hook, "tcp", [(8080, 8080)], to, to_port,
                    [AddressMatch("127.0.0.1/32")], "nat", "DOCKER", "-A DOCKER -p tcp --dport 8080 -j DNAT")


def test_dnat_to_dead_destination_is_named():
    ctx = context("127.0.0.1:8080", "refused", dnat=[output_rule()])
    f = PublishedPortsCheck().run(ctx)[0]
    assert f.status is Status.FAIL and f.cause == "not-listening"
    assert "172.17.0.2:80" in f.title and "docker ps -a --filter publish=8080" in f.remediation[0].command
    assert ServiceRunningCheck().run(ctx).status is Status.PASS  # not called not-listening on the host port


def test_dnat_destination_that_times_out_is_unreachable():
    f = PublishedPortsCheck().run(context("127.0.0.1:8080", "timeout", dnat=[output_rule()]))[0]
    assert f.cause == "unreachable" and "does not answer" in f.title


def test_working_dnat_passes():
    f = PublishedPortsCheck().run(context("127.0.0.1:8080", "open", dnat=[output_rule()]))[0]
    assert f.status is Status.PASS and "answered" in f.title


def test_prerouting_only_forward_does_not_apply_from_this_machine():
    f = PublishedPortsCheck().run(context("127.0.0.1:8080", "refused", dnat=[output_rule(hook="prerouting")]))[0]
    assert f.cause == "wrong-interface" and "other machines" in f.title


def test_local_destination_with_nothing_listening_says_so():
    ctx = context("127.0.0.1:8080", "refused", dnat=[output_rule(to="127.0.0.1", to_port=8081)],
                  all_listening=[sock("127.0.0.1", 9999)])
    f = PublishedPortsCheck().run(ctx)[0]
    assert "Nothing on this machine listens on port 8081" in f.detail


def test_no_forwards_does_not_apply():
    assert not PublishedPortsCheck().applies(context("127.0.0.1:8080", "refused"))
