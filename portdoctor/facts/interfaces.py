"""The local interface addresses (``Snapshot.interfaces``).

Linux: one netlink ``RTM_GETADDR`` dump (standard library only). Elsewhere, or if
netlink is refused: ``psutil.net_if_addrs`` (imported only then).
"""

from __future__ import annotations

import socket

from portdoctor.facts import InterfaceAddress

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot


def read_interfaces() -> list[InterfaceAddress]:
    """Every address of every interface of this network namespace."""
    if hasattr(socket, "AF_NETLINK"):
        from portdoctor.facts import netlink

        try:
            return [InterfaceAddress(name, address, family, prefixlen)
                    for name, address, family, prefixlen in netlink.interface_addresses()]
        except OSError:
            pass
    return _read_with_psutil()


def gather_interfaces(snap: Snapshot) -> None:
    snap.interfaces.extend(read_interfaces())


def _read_with_psutil() -> list[InterfaceAddress]:
    import psutil  # deferred: ~15 ms of import the Linux report path does not need

    found: list[InterfaceAddress] = []
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                family = 4 if a.family == socket.AF_INET else 6
                prefixlen = None
                if a.netmask:
                    try:
                        import ipaddress

                        prefixlen = ipaddress.ip_network(f"0.0.0.0/{a.netmask}" if family == 4 else
                                                         f"::/{a.netmask}", strict=False).prefixlen
                    except ValueError:
                        prefixlen = None
                found.append(InterfaceAddress(name, a.address, family, prefixlen))
    return found
