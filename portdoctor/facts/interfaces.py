"""The local interface addresses (``Snapshot.interfaces``).

Linux: one netlink ``RTM_GETADDR`` dump (standard library only). Elsewhere, or if
netlink is refused: ``psutil.net_if_addrs`` (imported only then).
"""

from __future__ import annotations

import socket

from portdoctor.facts import InterfaceAddress


def gather_interfaces(snap) -> None:
    if hasattr(socket, "AF_NETLINK"):
        from portdoctor.facts import netlink

        try:
            for name, address, family, prefixlen in netlink.interface_addresses():
                snap.interfaces.append(InterfaceAddress(name, address, family, prefixlen))
            return
        except OSError:
            pass
    _gather_with_psutil(snap)


def _gather_with_psutil(snap) -> None:
    import psutil  # deferred: ~15 ms of import the Linux report path does not need

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
                snap.interfaces.append(InterfaceAddress(name, a.address, family, prefixlen))
