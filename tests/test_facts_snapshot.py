"""Snapshot helpers that checks share: which listening socket serves which address."""

from portdoctor.facts import InterfaceAddress, Snapshot
from portdoctor.testing import sock

serves = Snapshot(port=1).serves


def test_wildcards_families_and_v6only():
    assert serves(sock("0.0.0.0", 1), "127.0.0.5")
    assert not serves(sock("0.0.0.0", 1), "::1")
    assert serves(sock("::", 1), "127.0.0.1")
    assert serves(sock("::", 80, v6only=False), "127.0.0.1")
    assert not serves(sock("::", 1, v6only=True), "127.0.0.1")
    assert serves(sock("0.0.0.0", 80), "127.0.0.1") and not serves(sock("0.0.0.0", 80), "::1")


def test_mapped_and_scoped_addresses():
    assert serves(sock("::ffff:127.0.0.1", 1), "127.0.0.1")
    assert serves(sock("fe80::1", 1), "fe80::1%eth0")


def test_a_device_bound_socket_serves_only_its_interface():
    snap = Snapshot(port=1, interfaces=[InterfaceAddress("eth0", "10.1.2.3", 4)])
    assert snap.interface_of("127.0.0.1") == "lo"
    assert snap.interface_of("10.1.2.3") == "eth0"
    assert snap.interface_of("10.9.9.9") is None
    assert not snap.serves(sock("0.0.0.0", 1, interface="eth0"), "127.0.0.1")
    assert snap.serves(sock("0.0.0.0", 1, interface="eth0"), "10.1.2.3")
    assert snap.serves(sock("0.0.0.0", 1, interface="lo"), "127.0.0.1")
