"""Diagnosis depth, proven end to end in private network namespaces.

backlog-full, protocol-mismatch (both directions), proxy, privileged-port, remote
targets (no route, no neighbour, a host-prohibited REJECT) and NAT-published ports.
Every address here (198.51.100.0/24, 203.0.113.0/24) exists only inside the lab's
namespace: nothing is sent off this machine.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

# A veth pair stands in for a LAN (this kernel has no dummy interfaces): 203.0.113.1 is
# ours, the rest of 203.0.113.0/24 is on-link and nobody answers ARP there.
LINK = [
    "ip link add v0 type veth peer name v1",
    "ip addr add 203.0.113.1/24 dev v0",
    "ip link set v0 up",
    "ip link set v1 up",
]
OUTPUT_NAT = [
    "nft add table ip nat",
    "nft 'add chain ip nat output { type nat hook output priority -100; }'",
    "nft add rule ip nat output ip daddr 127.0.0.1 tcp dport 8080 dnat to 203.0.113.1:80",
]


def test_lab_backlog_full(lab):
    r = lab.run(["--timeout", "1", "127.0.0.1:8080"],
                listeners=[Listener("127.0.0.1", 8080, backlog=1, accept=False, fill=3, name="stuck")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "backlog-full", r.json["findings"]
    f = r.finding("backlog")
    assert f["status"] == "fail"
    queue = f["evidence"]["queues"][0]
    assert queue["waiting"] >= queue["backlog"] == 1
    assert f["evidence"]["listen_overflows_during_probes"] >= 1
    assert any("ss -ltn" in (s["command"] or "") for s in f["remediation"])


def test_lab_backlog_healthy_listener_passes(lab):
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080)])
    assert r.cause == "ok", r.json["findings"]
    assert r.finding("backlog")["status"] == "pass"


def test_lab_udp_only_listener_tcp_target(lab):
    r = lab.run(["127.0.0.1:5353"], listeners=[Listener("127.0.0.1", 5353, protocol="udp", name="dnsd")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "protocol-mismatch", r.json["findings"]
    f = r.finding("protocol-mismatch")
    assert f["status"] == "fail" and "UDP only" in f["title"] and "dnsd" in f["title"]


def test_lab_tcp_only_listener_udp_target(lab):
    r = lab.run(["udp://127.0.0.1:5353"], listeners=[Listener("127.0.0.1", 5353, name="webd")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "protocol-mismatch", r.json["findings"]
    assert "TCP only" in r.finding("protocol-mismatch")["title"]


def test_lab_udp_bound_and_silent_is_ok(lab):
    # A UDP service that ignores empty datagrams: silence, no ICMP error -> not a failure.
    r = lab.run(["udp://127.0.0.1:5353"],
                listeners=[Listener("127.0.0.1", 5353, protocol="udp", name="quietd", reply=False)])
    assert r.json["probes"][0]["outcome"] == "timeout"
    assert r.returncode == 0, r.json["findings"]
    assert r.cause == "ok" and r.json["verdict"]["reachable"] is True


def test_lab_proxy_pointing_at_closed_port(lab):
    r = lab.run(["http://127.0.0.1:8080/health"], listeners=[Listener("127.0.0.1", 8080)],
                env={"http_proxy": "http://127.0.0.1:9", "no_proxy": "localhost"})
    assert r.returncode == 1, r.stderr
    assert r.cause == "proxy", r.json["findings"]
    f = r.finding("proxy")
    assert f["status"] == "fail" and "http_proxy" in f["title"] and "127.0.0.1:9" in f["title"]
    assert f["evidence"]["proxy_probe"]["outcome"] == "refused"
    # portdoctor's own probe went direct and succeeded: the service itself is fine.
    assert r.json["verdict"]["reachable"] is True


def test_lab_proxy_exempted_by_no_proxy(lab):
    r = lab.run(["http://127.0.0.1:8080/health"], listeners=[Listener("127.0.0.1", 8080)],
                env={"HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
                     "NO_PROXY": "example.test,127.0.0.0/8"})
    assert r.cause == "ok", r.json["findings"]
    assert r.finding("proxy")["status"] == "pass"


def test_lab_privileged_port_as_nobody_without_a_process_is_only_probable(lab):
    # The service ran as nobody and exited after its bind failed: nothing is left to show
    # who would bind the port, only who portdoctor runs as. That is a guess: a warning.
    r = lab.run(["127.0.0.1:80"], user="nobody",
                listeners=[Listener("127.0.0.1", 80, user="nobody", expect_fail=True, name="webapp")])
    assert any("bind failed" in line for line in r.setup_log), r.setup_log
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening", r.json["findings"]
    f = r.finding("privileged-port")
    assert f["status"] == "warn" and f["cause"] == "privileged-port", f
    assert "nobody" in f["title"] and "probably" in f["title"] and f["evidence"]["floor"] == 1024
    assert any("/PATH/TO/BINARY" in (s["command"] or "") for s in f["remediation"])


def test_lab_privileged_port_process_without_capability_fails(lab):
    # A service that stays up after EACCES (logs and retries), names port 80 and lacks
    # CAP_NET_BIND_SERVICE: real evidence, so the cause is privileged-port.
    r = lab.run(["127.0.0.1:80"], user="nobody",
                listeners=[Listener("127.0.0.1", 80, user="nobody", expect_fail=True, linger=True,
                                    name="webapp", extra_args=["--port", "80"])])
    assert any("bind failed" in line for line in r.setup_log), r.setup_log
    assert r.returncode == 1, r.stderr
    assert r.cause == "privileged-port", r.json["findings"]
    f = r.finding("privileged-port")
    assert f["status"] == "fail" and "webapp" in f["title"] and "nobody" in f["title"]
    candidate = f["evidence"]["candidates"][0]
    assert candidate["may_bind_privileged"] is False and candidate["user"] == "nobody"
    setcap = [s["command"] for s in f["remediation"] if "cap_net_bind_service" in (s["command"] or "")]
    assert setcap and "python" in setcap[0] and "/PATH/TO" not in setcap[0], setcap


def test_lab_privileged_port_as_root_only_warns(lab):
    r = lab.run(["127.0.0.1:80"])
    assert r.cause == "not-listening", r.json["findings"]
    assert r.finding("privileged-port")["status"] == "warn"


def test_lab_remote_no_route(lab):
    r = lab.run(["198.51.100.7:443"])
    assert r.returncode == 1, r.stderr
    assert r.cause == "unreachable", r.json["findings"]
    assert r.json["probes"][0]["outcome"] == "unreachable"
    f = r.finding("remote")
    assert f["status"] == "fail" and f["evidence"]["route"]["kind"] == "no-route"
    assert r.finding("service-running")["status"] == "skip"


def test_lab_remote_no_neighbour(lab):
    r = lab.run(["--timeout", "1", "203.0.113.9:443"], setup=LINK)
    assert r.cause == "unreachable", r.json["findings"]
    f = r.finding("remote")
    assert f["evidence"]["route"]["kind"] == "direct" and f["evidence"]["route"]["interface"] == "v0"
    assert "security group" in f["detail"]


def test_lab_remote_host_prohibited_is_firewall(lab):
    r = lab.run(["203.0.113.9:443"], setup=LINK + [
        "nft add table inet t",
        "nft 'add chain inet t out { type filter hook output priority 0; }'",
        "nft add rule inet t out ip daddr 203.0.113.9 tcp dport 443 reject with icmp type host-prohibited",
    ])
    assert r.json["probes"][0]["outcome"] == "unreachable"
    assert r.cause == "firewall", r.json["findings"]


def test_lab_dnat_to_dead_destination(lab):
    r = lab.run(["127.0.0.1:8080"], setup=LINK + OUTPUT_NAT)
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening", r.json["findings"]
    f = r.finding("published-ports")
    assert f["status"] == "fail" and "203.0.113.1:80" in f["title"] and "forwarded by NAT" in f["title"]
    assert r.finding("service-running")["status"] == "pass"


def test_lab_dnat_to_live_destination(lab):
    r = lab.run(["127.0.0.1:8080"], setup=LINK + OUTPUT_NAT, listeners=[Listener("203.0.113.1", 80, name="app")])
    assert r.returncode == 0, r.json["findings"]
    assert r.cause == "ok"
    assert r.finding("published-ports")["status"] == "pass"
    assert r.finding("service-running")["status"] == "pass"


def test_lab_our_own_probe_to_a_non_accepting_listener_is_not_reported(lab):
    # The listener never accepts: our probe connects, closes, and its server side stays in
    # the queue (ESTABLISHED, then CLOSE-WAIT). That socket is portdoctor's own, not a client.
    r = lab.run(["--expect", "nginx", "127.0.0.1:8080"],
                listeners=[Listener("127.0.0.1", 8080, accept=False, name="nginx")])
    f = r.finding("port-owner")
    assert f["status"] == "pass", f
    assert f["evidence"]["other_states"] == {}, f
    assert "CLOSE-WAIT" not in r.stdout and "ESTABLISHED" not in f["detail"], f


def test_lab_port_owner_counts_the_connections_beside_a_listener(lab):
    # Without --expect, too: two clients wait in the queue of a listener that never accepts.
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080, accept=False, fill=2, name="webd")])
    f = r.finding("port-owner")
    assert f["status"] == "pass", f
    assert f["evidence"]["other_states"] == {"ESTABLISHED": 2}, f
    assert "2 ESTABLISHED" in f["detail"], f
