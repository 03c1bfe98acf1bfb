"""TARGET parsing: every form of the contract into a :class:`~portdoctor.model.Target`.

``127.0.0.1:62893``, ``localhost:62893``, ``[::1]:62893``, ``:62893``, ``62893``,
``http://localhost:8080/health``, ``https://example.test/``, ``postgres://db:5432/app``,
``redis://cache``, ``udp://127.0.0.1:53``, and Unix stream sockets: ``unix:///var/run/docker.sock``
or a bare absolute path. Anything malformed raises
:class:`~portdoctor.exitcodes.UsageError` with a one-line message.
"""

from __future__ import annotations

import ipaddress
import re

from portdoctor.exitcodes import UsageError
from portdoctor.lazyre import lazy
from portdoctor.masking import mask_url, userinfo_end
from portdoctor.model import Target

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Literal, overload
else:
    def overload(fn):  # type checkers read the variants; at run time the last definition stands
        return fn

# The scheme's default port, for URL targets that omit one.
DEFAULT_PORTS: dict[str, int] = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "ftp": 21,
    "ssh": 22,
    "sftp": 22,
    "telnet": 23,
    "smtp": 25,
    "dns": 53,
    "gopher": 70,
    "pop3": 110,
    "imap": 143,
    "ldap": 389,
    "ldaps": 636,
    "smtps": 465,
    "submission": 587,
    "imaps": 993,
    "pop3s": 995,
    "mssql": 1433,
    "sqlserver": 1433,
    "oracle": 1521,
    "mqtt": 1883,
    "nfs": 2049,
    "mysql": 3306,
    "mariadb": 3306,
    "rdp": 3389,
    "postgres": 5432,
    "postgresql": 5432,
    "amqp": 5672,
    "amqps": 5671,
    "vnc": 5900,
    "redis": 6379,
    "rediss": 6379,
    "nats": 4222,
    "kafka": 9092,
    "elasticsearch": 9200,
    "memcached": 11211,
    "mongodb": 27017,
    "clickhouse": 9000,
    "grpc": 443,
    "cassandra": 9042,
    "zookeeper": 2181,
    "etcd": 2379,
    "consul": 8500,
    "influxdb": 8086,
    "couchdb": 5984,
    "neo4j": 7687,
    "bolt": 7687,
}

# Schemes whose traffic is UDP.
UDP_SCHEMES = {"udp", "dns"}

_CONTROL = lazy(r"[\x00-\x1f\x7f]")
_SCHEME = lazy(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
# container:NAME[:PORT]: Docker's container names and compose service names.
_CONTAINER = lazy(r"^container:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?::([^:]*))?$", re.I)
_HOSTNAME = lazy(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")


def looks_like_message(text: str) -> bool:
    """A TARGET never holds whitespace inside it; an error message does."""
    return any(c.isspace() for c in text.strip())


def read_target(text: str) -> list[Target]:
    """One TARGET argument: a target as typed, else a client's error message, else UsageError.

    A message can name more than one endpoint (libpq's line per host, a traceback
    with a chain of causes); each becomes a target. The message reader
    (:mod:`portdoctor.message`, dozens of patterns) is imported only for a message.
    """
    if not looks_like_message(text):
        return [parse_target(text)]
    from portdoctor.message import targets_from_text

    targets, _notes = targets_from_text(text, whole=True)
    return targets


MAX_TARGET_CHARS = 8192
QUOTED_CHARS = 120  # how much of a bad target an error message quotes


def _shortened(text: str) -> str:
    """``text`` as an error message quotes it: at most QUOTED_CHARS characters."""
    return text if len(text) <= QUOTED_CHARS else f"{text[:QUOTED_CHARS]}… ({len(text)} characters)"


def parse_target(text: str) -> Target:
    """Parse one TARGET string; raise UsageError with a one-line reason if malformed.

    ``Target.input`` and every error message carry the text masked by
    :func:`~portdoctor.masking.mask_url`: a password or a ``?token=…`` typed into a
    target never reaches a report, a CI log or stderr.
    """
    shown = _shortened(mask_url(text))  # what messages quote; the parse reads ``text``
    if len(text) > MAX_TARGET_CHARS:  # a host name is at most 253; a URL's path and query are not read
        raise UsageError(f"bad target {shown!r}: longer than {MAX_TARGET_CHARS} characters")
    if _CONTROL.search(shown):
        raise UsageError(f"bad target {shown!r}: it contains control characters")
    text = text.strip()
    if not text:
        raise UsageError("bad target '': it is empty; give host:port, :port or a URL")

    if text[:10].lower() == "container:":
        return _container_target(text, shown)
    if text.startswith("/") or text.lower().startswith("unix:"):
        return _unix_target(text, shown)

    scheme: str | None = None
    protocol = "tcp"
    m = _SCHEME.match(text)
    if m:
        scheme = m.group(1).lower()
        rest = m.group(2)
        if scheme in ("tcp", "udp"):
            protocol = scheme
        elif scheme in UDP_SCHEMES:
            protocol = "udp"
        # The authority ends at the first /, ?, # or, as WHATWG URL parsers (browsers, Node)
        # read http://a\@b/, a backslash: that names host a, never b.
        authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
        at = userinfo_end(text)
        if at > len(text) - len(rest) + len(authority) and ":" in text[len(text) - len(rest):at]:
            # user:pa/ss@host: every client reads host "user" and port "pa" (or a digits-only
            # password as the port); what was meant is a password, which stays masked.
            raise UsageError(f"bad target {shown!r}: the password holds '/', '?' or '#'; percent-encode "
                             "them (%2F, %3F, %23), or clients read the text before them as host:port")
        if "@" in authority:
            authority = authority.rsplit("@", 1)[1]
        host, port = _split_host_port(authority, shown, allow_missing_port=True)
        if port is None:
            if scheme in ("tcp", "udp"):
                raise UsageError(f"bad target {shown!r}: {scheme}:// needs a port, e.g. {scheme}://127.0.0.1:5353")
            if scheme not in DEFAULT_PORTS:
                raise UsageError(f"bad target {shown!r}: no port given and no default port known for {scheme}://")
            port = DEFAULT_PORTS[scheme]
        if not host:
            raise UsageError(f"bad target {shown!r}: the URL names no host")
        return Target(input=mask_url(text), host=host, port=port, protocol=protocol, scheme=scheme)

    if "/" in text or "@" in text or "?" in text or "#" in text:
        raise UsageError(f"bad target {shown!r}: give host:port, :port, a port, or a URL with a scheme")
    if text.isdigit():  # "62893"
        return Target(input=text, host="localhost", port=_port(text, shown), host_defaulted=True)
    host, port = _split_host_port(text, shown, allow_missing_port=False)
    if not host:  # ":62893"
        return Target(input=text, host="localhost", port=port, host_defaulted=True)
    return Target(input=text, host=host, port=port)


def _container_target(text: str, shown: str) -> Target:
    """``container:web:80``: a container (or compose service) and its container port.

    Where that port is reached from the host (published address, or the container's
    own address) is the engine's to say: ``portdoctor.facts.engine.locate_container``
    fills ``host``/``port`` before the diagnosis; until then ``port`` is 0.
    """
    m = _CONTAINER.match(text)
    if not m:
        raise UsageError(f"bad target {shown!r}: give container:NAME or container:NAME:PORT "
                         "(a container or compose service name, and its port inside the container)")
    port = _port(m.group(2), shown) if m.group(2) is not None else None
    return Target(input=text, host="localhost", port=port or 0, container=m.group(1), container_port=port)

# sockaddr_un.sun_path holds 108 bytes on Linux, including the terminating NUL.
MAX_UNIX_PATH = 107


def _unix_target(text: str, shown: str) -> Target:
    """``unix:///run/x.sock``, ``unix:/run/x.sock`` (Docker's spelling) or ``/run/x.sock``."""
    path = re.sub(r"^unix:(//)?", "", text, flags=re.I) if text.lower().startswith("unix:") else text
    if not path.startswith("/"):
        raise UsageError(f"bad target {shown!r}: a Unix socket needs an absolute path, e.g. unix:///run/app.sock")
    if path.endswith("/"):
        raise UsageError(f"bad target {shown!r}: a Unix socket path names a file, not a folder")
    if len(path.encode("utf-8", "surrogateescape")) > MAX_UNIX_PATH:
        raise UsageError(f"bad target {shown!r}: a Unix socket path is at most {MAX_UNIX_PATH} bytes")
    return Target(input=text, host="localhost", port=0, protocol="unix", scheme="unix", path=path)


@overload
def _split_host_port(authority: str, shown: str, *, allow_missing_port: Literal[False]) -> tuple[str, int]: ...
@overload
def _split_host_port(authority: str, shown: str, *, allow_missing_port: Literal[True]) -> tuple[str, int | None]: ...
def _split_host_port(authority: str, shown: str, *, allow_missing_port: bool) -> tuple[str, int | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise UsageError(f"bad target {shown!r}: unbalanced '[' in the address")
        host = authority[1:end]
        after = authority[end + 1 :]
        _check_ipv6(host, shown)
        if after == "":
            port_text = None
        elif after.startswith(":"):
            port_text = after[1:]
        else:
            raise UsageError(f"bad target {shown!r}: unexpected text after ']'")
    else:
        if "]" in authority:
            raise UsageError(f"bad target {shown!r}: unbalanced ']' in the address")
        if authority.count(":") > 1:
            raise UsageError(
                f"bad target {shown!r}: an IPv6 address with a port must be in brackets, e.g. [::1]:8080"
            )
        host, sep, port_text = authority.partition(":")
        if not sep:
            port_text = None
        host = _normalise_host(host, shown)
    if port_text is None or (port_text == "" and allow_missing_port):
        if not allow_missing_port:
            raise UsageError(f"bad target {shown!r}: no port; give host:port, e.g. 127.0.0.1:8080")
        return host, None
    return host, _port(port_text, shown)


def _port(text: str, shown: str) -> int:
    hidden = text not in shown  # never quote what masking hid
    if not text.isascii() or not text.isdigit():
        raise UsageError(f"bad target {shown!r}: the port{'' if hidden else f' {_shortened(text)!r}'} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise UsageError(f"bad target {shown!r}: port{'' if hidden else f' {port}'} is out of range (1-65535)")
    return port


def _check_ipv6(host: str, shown: str) -> None:
    address = host.split("%", 1)[0]  # allow a zone: [fe80::1%eth0]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise UsageError(f"bad target {shown!r}: {_shortened(host)!r} in brackets is not an IPv6 address") from None


_NUMERIC_LABEL = lazy(r"0[xX][0-9a-fA-F]*|[0-9]+")
_NUMERIC_HOST = lazy(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}\.?")


def _normalise_host(host: str, shown: str) -> str:
    """The host as clients connect to it, after checking it.

    - Numeric IPv4 forms are read as ``inet_aton`` reads them (glibc's resolver, curl and
      WHATWG URL parsers all do): ``127.1``, ``0x7f.1``, ``0177.0.0.1`` and ``2130706433``
      are all 127.0.0.1, which is what is shown and probed; a numeric form out of range
      is a usage error rather than a name to look up.
    - A non-ASCII name is shown as its IDNA form, which is what the resolver is asked
      (``ＥＸＡＭＰＬＥ.test`` -> ``example.test``).
    """
    last_label = host.rstrip(".").rsplit(".", 1)[-1]
    if host and _NUMERIC_LABEL.fullmatch(last_label):  # WHATWG: a host ending in a number is IPv4
        if not _NUMERIC_HOST.fullmatch(host):
            raise UsageError(f"bad target {shown!r}: {_shortened(host)!r} is not a valid IPv4 address")
        import socket

        try:
            return socket.inet_ntoa(socket.inet_aton(host.rstrip(".")))
        except OSError:
            raise UsageError(f"bad target {shown!r}: {_shortened(host)!r} is not a valid IPv4 address") from None
    _check_hostname(host, shown)
    if not host.isascii():
        return host.encode("idna").decode("ascii")
    return host


def _check_hostname(host: str, shown: str) -> None:
    if host == "":
        return
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    if not host.isascii():
        try:
            host.encode("idna")
            return
        except UnicodeError:
            raise UsageError(f"bad target {shown!r}: {_shortened(host)!r} is not a valid host name") from None
    if not _HOSTNAME.match(host) or host.replace(".", "").isdigit():
        raise UsageError(f"bad target {shown!r}: {_shortened(host)!r} is not a valid host name or address")


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, and an IPv4-mapped loopback (::ffff:127.0.0.1), as Python 3.13+ reads it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)
