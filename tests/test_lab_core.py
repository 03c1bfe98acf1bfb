"""The first release's causes, proven end to end in real network namespaces.

Each scenario starts real listeners (and real nftables/iptables rules) in a private
namespace, runs ``portdoctor --report --format json`` there, and asserts the verdict's
cause and the exit code. The ``as nobody`` variants prove that missing privilege turns
into an honest skip or an inferred cause, never a wrong one.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

PORT = 47613


def finding_status(result, check):
    return result.finding(check)["status"]


# --- not-listening ------------------------------------------------------------------


def test_nothing_listening(lab):
    r = lab.run([f"127.0.0.1:{PORT}"])
    assert (r.cause, r.returncode) == ("not-listening", 1), r.stdout
    f = r.finding("service-running")
    assert "Looked at" in f["detail"]
    assert any("ss -ltnp" in (s["command"] or "") for s in f["remediation"])


def test_nothing_listening_suggests_the_port_one_digit_off(lab):
    # 47631 for 47613: two adjacent digits swapped.
    r = lab.run(["127.0.0.1:47631"], listeners=[Listener("127.0.0.1", PORT, name="python3")])
    assert (r.cause, r.returncode) == ("not-listening", 1), r.stdout
    f = r.finding("service-running")
    assert f":{PORT}" in f["title"] and "Did you mean" in f["title"], f
    assert f["evidence"]["did_you_mean"] == [PORT]


def test_nothing_listening_as_nobody(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], user="nobody")
    assert (r.cause, r.returncode) == ("not-listening", 1), r.stdout


# --- wrong-interface ----------------------------------------------------------------


def test_listener_on_127_0_0_2(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.2", PORT)])
    assert (r.cause, r.returncode) == ("wrong-interface", 1), r.stdout
    f = r.finding("wrong-interface")
    assert "127.0.0.2" in f["title"]
    assert any(s["command"] == f"portdoctor 127.0.0.2:{PORT}" for s in f["remediation"]), f["remediation"]


def test_listener_on_ipv6_loopback_only(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("::1", PORT)])
    assert (r.cause, r.returncode) == ("wrong-interface", 1), r.stdout
    assert "IPv6 only" in r.finding("wrong-interface")["title"]


def test_v6only_wildcard_with_ipv4_target(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("::", PORT, v6only=True)])
    assert (r.cause, r.returncode) == ("wrong-interface", 1), r.stdout
    assert "IPV6_V6ONLY" in r.finding("wrong-interface")["title"]


def test_dual_stack_wildcard_serves_ipv4(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("::", PORT, v6only=False)])
    assert (r.cause, r.returncode) == ("ok", 0), r.stdout


def test_localhost_resolving_to_ipv6_first(lab):
    # A private /etc/hosts (bind-mounted in the lab's own mount namespace) lists ::1 first.
    r = lab.run([f"localhost:{PORT}"], listeners=[Listener("127.0.0.1", PORT)],
                hosts="::1 localhost\n127.0.0.1 localhost\n")
    assert r.json["target"]["addresses"] == ["::1", "127.0.0.1"], r.stdout
    assert (r.cause, r.returncode) == ("wrong-interface", 1), r.stdout
    f = r.finding("wrong-interface")
    assert f["remediation"][0]["command"] == f"portdoctor 127.0.0.1:{PORT}", f["remediation"]


def test_wrong_interface_as_nobody(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.2", PORT)], user="nobody")
    assert (r.cause, r.returncode) == ("wrong-interface", 1), r.stdout


# --- firewall -----------------------------------------------------------------------

NFT_INPUT = ["nft add table inet lab",
             "nft 'add chain inet lab input { type filter hook input priority 0; policy accept; }'"]


def test_nft_reject_rule(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)],
                setup=NFT_INPUT + [f"nft add rule inet lab input tcp dport {PORT} reject"])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    f = r.finding("firewall")
    assert f["evidence"]["inferred"] is False
    assert f"tcp dport {PORT} reject" in f["title"]
    assert any((s["command"] or "").startswith("nft delete rule inet lab input handle ")
               for s in f["remediation"]), f["remediation"]


def test_iptables_reject_rule_host_prohibited(lab):
    rule = f"-p tcp --dport {PORT} -j REJECT --reject-with icmp-host-prohibited"
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)],
                setup=[f"iptables -A INPUT {rule}"])
    assert r.json["probes"][0]["outcome"] == "unreachable", r.stdout
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    commands = [s["command"] for s in r.finding("firewall")["remediation"]]
    assert f"iptables -D INPUT -p tcp -m tcp --dport {PORT} -j REJECT --reject-with icmp-host-prohibited" \
        in commands, commands


def test_nft_drop_rule_ends_within_the_timeout(lab):
    r = lab.run(["--timeout", "1", f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)],
                setup=NFT_INPUT + [f"nft add rule inet lab input tcp dport {PORT} drop"])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    assert r.json["probes"][0]["outcome"] == "timeout"
    assert r.elapsed < 1 + 1.5 + 1.0, r.elapsed  # timeout + 1.5 s, plus interpreter start-up


def test_output_drop_rule(lab):
    r = lab.run(["--timeout", "1", f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)],
                setup=[f"iptables -A OUTPUT -p tcp --dport {PORT} -j DROP"])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    assert r.finding("firewall")["evidence"]["hook"] == "output"


def test_firewall_as_nobody_is_inferred(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)], user="nobody",
                setup=NFT_INPUT + [f"nft add rule inet lab input tcp dport {PORT} reject"])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    f = r.finding("firewall")
    assert f["evidence"]["inferred"] is True and "INFERRED" in f["title"]
    assert any("nft list ruleset" in (s["command"] or "") for s in f["remediation"])


def test_rule_without_listener_as_nobody_is_not_called_firewall(lab):
    # Nothing listens: the refusal is explained by not-listening; the rules are unreadable.
    r = lab.run([f"127.0.0.1:{PORT}"], user="nobody",
                setup=NFT_INPUT + [f"nft add rule inet lab input tcp dport {PORT} reject"])
    assert (r.cause, r.returncode) == ("not-listening", 1), r.stdout
    assert finding_status(r, "firewall") == "skip"


# --- port-in-use --------------------------------------------------------------------


def test_expect_with_another_owner(lab):
    r = lab.run(["--expect", "nginx", f"127.0.0.1:{PORT}"],
                listeners=[Listener("0.0.0.0", PORT, name="fakeredis")])
    assert (r.cause, r.returncode) == ("port-in-use", 1), r.stdout
    f = r.finding("port-owner")
    assert "fakeredis" in f["title"]
    assert r.json["verdict"]["reachable"] is True


def test_expect_the_right_owner(lab):
    r = lab.run(["--expect", "nginx", f"127.0.0.1:{PORT}"], listeners=[Listener("0.0.0.0", PORT, name="nginx")])
    assert (r.cause, r.returncode) == ("ok", 0), r.stdout


def test_expect_as_nobody_with_root_owned_listener_is_unverified(lab):
    # An expectation that cannot be checked never exits 0 (a CI job must not pass on it).
    r = lab.run(["--expect", "nginx", f"127.0.0.1:{PORT}"],
                listeners=[Listener("0.0.0.0", PORT, name="fakeredis")], user="nobody")
    assert finding_status(r, "port-owner") == "fail", r.stdout
    assert (r.cause, r.returncode) == ("unverified", 1), r.stdout


# --- dns and healthy ----------------------------------------------------------------


def test_unresolvable_name(lab):
    # Inside the lab namespace: no route out, so the lookup never leaves this machine.
    r = lab.run(["nosuch.invalid:80"])
    assert (r.cause, r.returncode) == ("dns", 1), r.stdout


def test_healthy_service(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)])
    assert (r.cause, r.returncode) == ("ok", 0), r.stdout
    assert all(f["status"] in ("pass", "skip", "warn") for f in r.json["findings"])


def test_expect_with_another_owner_on_another_address_is_not_a_kill(lab):
    # fakeredis on 127.0.0.2 leaves 127.0.0.1 free to bind: nginx is simply not there
    # (and "connect to 127.0.0.2" would reach fakeredis), so no port-in-use and no kill.
    r = lab.run(["--expect", "nginx", f"127.0.0.1:{PORT}"],
                listeners=[Listener("127.0.0.2", PORT, name="fakeredis")])
    assert r.finding("port-owner")["status"] == "pass"
    assert (r.cause, r.returncode) == ("not-listening", 1), r.stdout
    assert r.json["verdict"]["first_step"]["text"].startswith(f"Start nginx on 127.0.0.1:{PORT}")
