"""Interface facts from the live kernel (netlink RTM_GETADDR)."""

import socket

import pytest

from portdoctor.facts import Snapshot
from portdoctor.facts.interfaces import gather_interfaces


@pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="netlink is Linux-only")
def test_loopback_addresses_with_prefix():
    snap = Snapshot(port=1)
    gather_interfaces(snap)
    by_address = {i.address: i for i in snap.interfaces}
    assert by_address["127.0.0.1"].interface == "lo"
    assert by_address["127.0.0.1"].prefixlen == 8 and by_address["127.0.0.1"].family == 4
    for i in snap.interfaces:
        if i.address.startswith("fe80:"):
            assert i.address.endswith(f"%{i.interface}"), "link-local addresses carry their scope"
