"""The local interface addresses."""

from __future__ import annotations

import socket

import psutil

from portdoctor.facts import InterfaceAddress


def gather_interfaces(snap) -> None:
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family == socket.AF_INET:
                snap.interfaces.append(InterfaceAddress(name, a.address, 4))
            elif a.family == socket.AF_INET6:
                snap.interfaces.append(InterfaceAddress(name, a.address, 6))
