"""Sockets bound to one port, with their owners. (Placeholder: psutil; to be replaced.)"""

from __future__ import annotations

import os
import socket

import psutil

from portdoctor.model import Socket


def is_privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def gather_sockets(snap) -> None:
    for c in psutil.net_connections(kind="inet"):
        if not c.laddr or c.laddr.port != snap.port:
            continue
        proto = "tcp" if c.type == socket.SOCK_STREAM else "udp"
        state = c.status if proto == "tcp" else "UNCONN"
        name = None
        if c.pid:
            try:
                name = psutil.Process(c.pid).name()
            except psutil.Error:
                pass
        snap.sockets.append(Socket(proto, 6 if c.family == socket.AF_INET6 else 4, c.laddr.ip, c.laddr.port,
                                   state, pid=c.pid, process=name))
