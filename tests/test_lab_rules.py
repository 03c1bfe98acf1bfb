"""Rules in chains of every spelling, proven in real network namespaces.

A ``-j NAME`` is a jump when NAME is a chain declared in that table, whatever its case:
user chains (``iptables -N MYCHAIN``), Docker's ``DOCKER-USER`` / ``DOCKER``, ``KUBE-*``,
``ufw-*``. Each scenario loads real rules with real iptables / nft inside ``unshare
--net`` and runs ``portdoctor --report --format json`` there.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

PORT = 47621


def test_reject_in_a_capital_letter_user_chain_is_found(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)], setup=[
        "iptables -N MYCHAIN",
        "iptables -A INPUT -j MYCHAIN",
        f"iptables -A MYCHAIN -p tcp --dport {PORT} -j REJECT",
    ])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    f = r.finding("firewall")
    assert f["status"] == "fail" and f["evidence"]["inferred"] is False
    assert f["evidence"]["rule"]["chain"] == "MYCHAIN", f
    assert "MYCHAIN" in f["title"] and "MYCHAIN" in f["detail"], f
    commands = [s["command"] for s in f["remediation"]]
    assert f"iptables -D MYCHAIN -p tcp -m tcp --dport {PORT} -j REJECT --reject-with icmp-port-unreachable" \
        in commands, commands



def test_reject_in_a_user_chain_as_nobody_is_inferred_never_passed(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)], user="nobody", setup=[
        "iptables -N MYCHAIN",
        "iptables -A INPUT -j MYCHAIN",
        f"iptables -A MYCHAIN -p tcp --dport {PORT} -j REJECT",
    ])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    f = r.finding("firewall")
    assert f["evidence"]["inferred"] is True and f["title"].startswith("INFERRED"), f


DOCKER_LIKE = [  # the chains and rules Docker 20.10 writes for `-p PORT:80`, with a DOCKER-USER drop
    "iptables -t nat -N DOCKER",
    "iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "iptables -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    f"iptables -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport {PORT} -j DNAT --to-destination 172.17.0.2:80",
    "iptables -N DOCKER", "iptables -N DOCKER-USER",
    "iptables -A FORWARD -j DOCKER-USER",
    "iptables -A FORWARD -o docker0 -j DOCKER",
    "iptables -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
    "iptables -A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP",
    "iptables -A DOCKER-USER -j RETURN",
]


def test_docker_user_drop_of_a_published_port_is_named(lab):
    # The local connection (docker-proxy's place taken by a plain listener) works; other
    # machines' connections are DNATed to 172.17.0.2:80 and dropped in DOCKER-USER.
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT, name="docker-proxy")],
                setup=DOCKER_LIKE)
    assert (r.cause, r.returncode) == ("ok", 0), r.stdout
    warned = [f for f in r.json["findings"] if f["check"] == "firewall" and f["status"] == "warn"]
    assert len(warned) == 1, r.json["findings"]
    f = warned[0]
    assert f["cause"] == "firewall" and f["evidence"]["rule"]["chain"] == "DOCKER-USER", f
    assert f["evidence"]["chain_path"] == ["FORWARD", "DOCKER-USER"]
    assert "DOCKER-USER" in f["title"] and "172.17.0.2:80" in f["title"], f["title"]
    commands = [s["command"] for s in f["remediation"]]
    assert "iptables -D DOCKER-USER -p tcp -m tcp --dport 80 -j DROP" in commands, commands


def test_nft_goto_and_return_are_followed(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], listeners=[Listener("127.0.0.1", PORT)], setup=[
        "nft add table inet lab",
        "nft 'add chain inet lab input { type filter hook input priority 0; policy accept; }'",
        "nft add chain inet lab Skip", "nft add chain inet lab Blocked",
        "nft add rule inet lab input tcp dport 1-1000 jump Skip",
        f"nft add rule inet lab input tcp dport {PORT} goto Blocked",
        "nft add rule inet lab Skip return",
        "nft add rule inet lab Blocked tcp dport != 22 reject",
    ])
    assert (r.cause, r.returncode) == ("firewall", 1), r.stdout
    f = r.finding("firewall")
    assert f["evidence"]["rule"]["chain"] == "Blocked" and f["evidence"]["chain_path"] == ["input", "Blocked"], f
    assert "reached through input → Blocked" in f["detail"], f["detail"]


def test_five_targets_run_nft_and_iptables_save_once(lab, tmp_path):
    # Logging wrappers around the real tools, first on PATH; three of the five ports are
    # rejected in a user chain, so the nft text dump is read (once) to quote the rule.
    import shutil

    log = tmp_path / "calls.log"
    log.touch()
    for tool in ("nft", "iptables-save", "ip6tables-save"):
        real = shutil.which(tool)
        if real is None:
            pytest.skip(f"needs {tool}")
        (tmp_path / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexec {real} "$@"\n')
        (tmp_path / tool).chmod(0o755)
    ports = [PORT + i for i in range(5)]
    r = lab.run([f"127.0.0.1:{p}" for p in ports],
                listeners=[Listener("127.0.0.1", p) for p in ports],
                env={"PATH": f"{tmp_path}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     # as root, tools come from the system folders only; tests may name others
                     "PORTDOCTOR_SYSTEM_PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/sbin:/bin"},
                setup=["nft add table inet lab",
                       "nft 'add chain inet lab input { type filter hook input priority 0; policy accept; }'",
                       "nft add chain inet lab Blocked",
                       f"nft add rule inet lab input tcp dport {PORT}-{PORT + 2} jump Blocked",
                       "nft add rule inet lab Blocked reject",
                       "iptables -N MYCHAIN", "iptables -A INPUT -j MYCHAIN",
                       f"iptables -A MYCHAIN -p tcp --dport {PORT + 3} -j REJECT"])
    causes = [rep["verdict"]["cause"] for rep in r.json["reports"]]
    assert causes == ["firewall"] * 4 + ["ok"], r.stdout
    calls = [c.strip() for c in log.read_text().splitlines() if c.strip()]
    assert sorted(calls) == ["ip6tables-save", "iptables-save", "nft -a list ruleset", "nft -j list ruleset"], calls


def test_docker_user_drop_with_a_real_engine():
    """A real dockerd (docker-proxy mode): `-p 8086:80`, then a DOCKER-USER rule that drops
    the container port. This machine still connects (docker-proxy, no FORWARD); other
    machines' connections are DNATed and dropped in DOCKER-USER: named, with the rule."""
    from labkit.docker import DockerLab, docker_unavailable

    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    try:
        lab = DockerLab(userland_proxy=True)
    except RuntimeError as exc:
        pytest.skip(f"the Docker engine cannot start here: {exc}")
    try:
        lab.run_container("fenced", "-p 8086:80", wait_listen=":80")
        lab.sh("iptables -I DOCKER-USER -p tcp -m tcp --dport 80 -j DROP")
        r = lab.portdoctor(["127.0.0.1:8086"])
        assert (r.cause, r.returncode) == ("ok", 0), r.stdout
        warned = [f for f in r.json["findings"] if f["check"] == "firewall" and f["status"] == "warn"]
        assert len(warned) == 1, r.json["findings"]
        f = warned[0]
        assert f["evidence"]["rule"]["chain"] == "DOCKER-USER" and f["evidence"]["hook"] == "forward", f
        assert f["evidence"]["chain_path"] == ["FORWARD", "DOCKER-USER"]
        assert f["evidence"]["forward"]["chain"] == "DOCKER" and f["evidence"]["forward"]["to_port"] == 80
        commands = [s["command"] for s in f["remediation"]]
        # The lab runs as root, where suggested commands carry no `sudo` prefix.
        assert any((c or "").removeprefix("sudo ") == "iptables -D DOCKER-USER -p tcp -m tcp --dport 80 -j DROP"
                   for c in commands), commands
    finally:
        lab.close()


def test_a_negated_port_keeps_a_dnat_rule_off_that_port(lab):
    # `! --dport PORT`: every other port is forwarded to PORT+1, PORT itself is not.
    rule = f"iptables -t nat -A OUTPUT -d 127.0.0.1/32 -p tcp ! --dport {PORT} -j DNAT --to-destination 127.0.0.1:{PORT + 1}"
    r = lab.run([f"127.0.0.1:{PORT}", f"127.0.0.1:{PORT + 2}"], listeners=[Listener("127.0.0.1", PORT + 1)],
                setup=[rule])
    excluded, forwarded = r.json["reports"]
    assert excluded["verdict"]["cause"] == "not-listening", excluded["verdict"]
    assert not [f for f in excluded["findings"] if f["check"] == "published-ports"], excluded["findings"]
    assert forwarded["verdict"]["cause"] == "ok", forwarded["verdict"]
    published = next(f for f in forwarded["findings"] if f["check"] == "published-ports")
    assert published["status"] == "pass" and f"127.0.0.1:{PORT + 1}" in published["title"], published
