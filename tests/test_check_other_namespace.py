"""The other-namespace check on fixture snapshots."""

from portdoctor.checks.other_namespace import OtherNamespaceCheck as Shipped
from portdoctor.facts.namespaces import NetworkNamespace
from portdoctor.model import Status
from portdoctor.testing import context, sock

check = Shipped()


def commands(finding):
    return [r.command for r in finding.remediation if r.command]


def test_listener_only_in_a_container_fails_with_docker_commands():
    s = sock("127.0.0.1", 5432, pid=4242, process="postgres", namespace="net:[4026532456] (pid 4242 postgres)",
             container="docker:3f2a1b4c5d6e")
    f = check.run(context("127.0.0.1:5432", sockets=[s]))
    assert f.status is Status.FAIL and f.cause == "other-namespace"
    assert "postgres" in f.title and "docker:3f2a1b4c5d6e" in f.title
    cmds = commands(f)
    assert "docker run -p 5432:5432 IMAGE" in cmds
    assert "docker port 3f2a1b4c5d6e" in cmds
    assert "nsenter -t 4242 -n ss -ltnp" in cmds
    assert any("0.0.0.0" in r.text for r in f.remediation), "bound to loopback inside: say bind to 0.0.0.0"


def test_named_netns_gives_ip_netns_commands():
    s = sock("0.0.0.0", 8080, namespace="netns:blue", uid=0, user="root")
    ns = NetworkNamespace(4026532999, [777], name="blue", label="netns:blue")
    f = check.run(context("localhost:8080", sockets=[s], namespaces=[ns]))
    assert f.cause == "other-namespace"
    cmds = commands(f)
    assert "ip netns exec blue ss -ltnp" in cmds
    assert "nsenter -t 777 -n ss -ltnp" in cmds, "no owner pid: enter by the namespace's first pid"


def test_udp_target_uses_udp_commands():
    s = sock("0.0.0.0", 53, protocol="udp", pid=9, process="dnsd", namespace="netns:dns")
    f = check.run(context("udp://127.0.0.1:53", sockets=[s]))
    assert f.cause == "other-namespace"
    assert "ip netns exec dns ss -lunp" in commands(f)


def test_listener_in_own_namespace_passes():
    own = sock("127.0.0.1", 8080)
    other = sock("127.0.0.1", 8080, namespace="netns:blue")
    assert check.run(context("127.0.0.1:8080", "open", sockets=[own, other])).status is Status.PASS


def test_other_protocol_in_other_namespace_is_not_this_cause():
    s = sock("0.0.0.0", 8080, protocol="udp", namespace="netns:blue")
    f = check.run(context("127.0.0.1:8080", sockets=[s]))
    assert f.status is Status.PASS


def test_not_root_and_nothing_seen_is_a_skip_with_sudo():
    f = check.run(context("127.0.0.1:8080", privileged=False))
    assert f.status is Status.SKIP and f.cause is None
    assert "sudo portdoctor --report 127.0.0.1:8080" in commands(f)


def test_root_and_nothing_anywhere_passes():
    f = check.run(context("127.0.0.1:8080", namespaces=[NetworkNamespace(1, [1])]))
    assert f.status is Status.PASS and "Scanned 1 other network namespace" in f.detail


def test_inside_a_container_localhost_warns_without_a_cause():
    f = check.run(context("localhost:8080", in_container="docker"))
    assert f.status is Status.WARN and f.cause is None
    assert "portdoctor host.docker.internal:8080" in commands(f)
    assert "Nothing listens for TCP on port 8080" in f.detail


def test_inside_a_container_names_the_target_protocol_when_a_udp_socket_is_bound():
    f = check.run(context("localhost:5353", in_container="docker", sockets=[sock("0.0.0.0", 5353, protocol="udp")]))
    assert "Nothing listens for TCP on port 5353" in f.detail, f.detail


def test_remote_target_is_not_about_local_namespaces():
    s = sock("0.0.0.0", 5432, namespace="netns:blue")
    f = check.run(context("203.0.113.7:5432", "timeout", sockets=[s]))
    assert f.status is Status.PASS


def test_container_network_address_counts_as_local():
    from portdoctor.facts import InterfaceAddress

    s = sock("127.0.0.1", 80, namespace="net:[1] (pid 5 nginx)", container="docker:abcabcabcabc")
    ctx = context("172.17.0.2:80", sockets=[s])
    ctx.facts.interfaces.append(InterfaceAddress("docker0", "172.17.0.1", 4, 16))
    assert check.run(ctx).cause == "other-namespace"
