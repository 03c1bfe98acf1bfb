"""Name resolution: every address a host resolves to, in resolver order, bounded."""

from __future__ import annotations

import ipaddress
import socket

from portdoctor.bounded import Overrun, call_with_timeout


def resolve(host: str, port: int, protocol: str = "tcp", timeout: float = 5.0) -> tuple[list[str], str | None]:
    """Return ``(addresses, error)``. ``error`` is a one-line reason when resolution failed."""
    literal = host.split("%", 1)[0]
    try:
        ipaddress.ip_address(literal)
        return [host], None
    except ValueError:
        pass
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM

    def lookup():
        return socket.getaddrinfo(host, port, type=kind)

    try:
        infos = call_with_timeout(lookup, timeout, name=f"resolve {host}")
    except Overrun:
        return [], f"resolving {host!r} did not finish within {timeout:g} s"
    except socket.gaierror as exc:
        return [], f"{host!r} does not resolve: {exc.strerror or exc}"
    except (UnicodeError, OSError) as exc:
        return [], f"{host!r} does not resolve: {exc}"
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = sockaddr[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        return [], f"{host!r} resolves to no IPv4 or IPv6 address"
    return addresses, None
