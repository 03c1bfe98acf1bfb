"""Name resolution: every address a host resolves to, in resolver order, bounded.

A failure comes back as a :class:`ResolveError`: the one-line reason (a ``str``) with a
``kind`` saying whether the name does not exist or the resolver could not answer, which
call for different fixes.
"""

from __future__ import annotations

import ipaddress
import socket

from portdoctor.bounded import Overrun, call_with_timeout

NO_SUCH_NAME = "no-such-name"  # the resolver answered: the name does not exist
NO_ADDRESS = "no-address"  # the name exists but has no usable (IPv4/IPv6) address
RESOLVER_FAILED = "resolver-failed"  # no answer: the resolver is unreachable, down or too slow


class ResolveError(str):
    """Why a name did not resolve: the message, plus ``kind`` (one of the constants above)."""

    kind: str

    def __new__(cls, message: str, kind: str) -> ResolveError:
        error = super().__new__(cls, message)
        error.kind = kind
        return error


_NO_SUCH_NAME_CODES = {getattr(socket, n) for n in ("EAI_NONAME",) if hasattr(socket, n)}
_NO_ADDRESS_CODES = {getattr(socket, n) for n in ("EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, n)}


def resolve(host: str, port: int, protocol: str = "tcp", timeout: float = 5.0) -> tuple[list[str], str | None]:
    """Return ``(addresses, error)``. ``error`` is a one-line reason when resolution failed."""
    literal = host.split("%", 1)[0]
    try:
        ipaddress.ip_address(literal)
        return [host], None
    except ValueError:
        pass
    socket_type = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM

    try:
        infos = call_with_timeout(lambda: socket.getaddrinfo(host, port, type=socket_type), timeout, name=f"resolve {host}")
    except Overrun:
        return [], ResolveError(f"resolving {host!r} did not finish within {timeout:g} s", RESOLVER_FAILED)
    except socket.gaierror as exc:
        if exc.errno in _NO_SUCH_NAME_CODES:
            kind = NO_SUCH_NAME
        elif exc.errno in _NO_ADDRESS_CODES:
            kind = NO_ADDRESS
        else:  # EAI_AGAIN ("Temporary failure in name resolution"), EAI_FAIL, ...
            kind = RESOLVER_FAILED
        return [], ResolveError(f"{host!r} does not resolve: {exc.strerror or exc}", kind)
    except (UnicodeError, OSError) as exc:
        return [], ResolveError(f"{host!r} does not resolve: {exc}", NO_SUCH_NAME)
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        address = sockaddr[0]
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, str):
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        return [], ResolveError(f"{host!r} resolves to no IPv4 or IPv6 address", NO_ADDRESS)
    return addresses, None
