"""Proxy environment variables: which one a client would use, and ``no_proxy`` matching.

``http_proxy`` / ``https_proxy`` / ``all_proxy`` (and their upper-case forms) send an
HTTP client's traffic to a proxy instead of the target, unless ``no_proxy`` covers the
host. The rules follow curl (the strictest common client) and note where Python's
requests/httpx differ. :func:`probe_proxy` is the one bounded connection made to the
proxy itself, gathered lazily only when a proxy applies to an http(s) target.
"""

from __future__ import annotations

import ipaddress
import re

from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot

# Which variables apply to a scheme, in the order clients look them up.
SCHEME_VARIABLES = {
    "http": ("http_proxy", "HTTP_PROXY"),
    "ws": ("http_proxy", "HTTP_PROXY"),
    "https": ("https_proxy", "HTTPS_PROXY"),
    "wss": ("https_proxy", "HTTPS_PROXY"),
}
ALL_VARIABLES = ("all_proxy", "ALL_PROXY")
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")

HONOURED_BY = "curl, wget, git, pip, npm, Python requests/httpx"
IGNORED_BY = "browsers (they use the system/PAC settings) and programs that open raw sockets (psql, redis-cli, nc)"


@dataclass
class ProxySetting:
    """The proxy an HTTP client would use for the target, from the environment."""

    variable: str  # the environment variable the client would use
    url: str  # its value, with credentials masked
    scheme: str  # "http", "https", "socks5", ...
    host: str
    port: int
    note: str = ""  # client differences worth saying (curl ignores upper-case HTTP_PROXY, ...)


def mask_url(url: str) -> str:
    """A proxy URL with its credentials masked (a password may hold ``@``, ``/``, ``#``, ``?``)."""
    from portdoctor.masking import mask_command_line

    return mask_command_line(url)


def parse_proxy_url(variable: str, value: str) -> ProxySetting | None:
    value = value.strip()
    if not value:
        return None
    from urllib.parse import urlsplit  # only where a proxy variable is set

    parts = urlsplit(value if "://" in value else f"http://{value}")
    if not parts.hostname:
        return None
    scheme = (parts.scheme or "http").lower()
    try:
        port = parts.port
    except ValueError:
        return None
    note = ""
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme, 1080)
        note = (f"No port in {variable}: Python clients use {port}, curl uses 1080. ")
    return ProxySetting(variable, mask_url(value), scheme, parts.hostname, port, note)


def effective_proxy(environ: dict[str, str], scheme: str) -> ProxySetting | None:
    """The proxy a client would use for ``scheme`` (curl's and Python's lookup order)."""
    names = SCHEME_VARIABLES.get(scheme, ()) + ALL_VARIABLES
    for name in names:
        if environ.get(name, "").strip():
            setting = parse_proxy_url(name, environ[name])
            if setting is None:
                continue
            if name == "HTTP_PROXY":
                setting.note += ("curl ignores upper-case HTTP_PROXY (it only reads http_proxy); "
                                 "Python requests/httpx, pip, npm and Go programs use it. ")
            return setting
    return None


def no_proxy_value(environ: dict[str, str]) -> tuple[str | None, str]:
    for name in NO_PROXY_VARIABLES:
        if name in environ:
            return name, environ[name]
    return None, ""


def no_proxy_match(no_proxy: str, host: str, port: int) -> str | None:
    """The ``no_proxy`` entry that exempts ``host:port``, or None.

    curl's rules: comma-separated; ``*`` alone matches everything; a name matches
    itself and its subdomains (a leading ``.`` or ``*.`` is ignored); IP addresses
    match exactly or by CIDR (curl ≥ 7.86, requests); ``host:port`` entries match that
    port only (requests). Names are compared as typed, never resolved: ``localhost``
    does not cover ``127.0.0.1`` and vice versa.
    """
    host = host.strip("[]").lower().rstrip(".")
    try:
        host_ip = ipaddress.ip_address(host)
    except ValueError:
        host_ip = None
    for raw in re.split(r"[,\s]+", no_proxy):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return raw
        entry_port = None
        m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d+)", entry)
        if m:
            entry, entry_port = m.group(1), int(m.group(2))
            if entry_port != port:
                continue
        entry = entry.strip("[]")
        if host_ip is not None:
            try:
                if host_ip in ipaddress.ip_network(entry, strict=False):
                    return raw
            except ValueError:
                pass
            continue
        name = entry.removeprefix("*.").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return raw
    return None


@dataclass
class ProxyProbe:
    """One bounded connection attempt to the proxy."""

    address: str | None
    outcome: str  # "open" | "refused" | "timeout" | "unreachable" | "error" | "unresolved"
    error: str | None = None


def probe_proxy(host: str, port: int, timeout: float) -> ProxyProbe:
    """One bounded TCP connect to the proxy (resolving its name first, bounded)."""
    from portdoctor.probe import probe_tcp
    from portdoctor.resolve import resolve

    addresses, error = resolve(host, port, "tcp", timeout=min(timeout + 1.0, 3.0))
    if not addresses:
        return ProxyProbe(None, "unresolved", error)
    probe = probe_tcp(addresses[0], port, timeout)
    return ProxyProbe(addresses[0], str(probe.outcome), probe.error)


def lazy_proxy_probe(snapshot: Snapshot, host: str, port: int, timeout: float) -> ProxyProbe | None:
    """The proxy probe, made once per diagnosis; tests inject ``extras["proxy-probe:HOST:PORT"]``."""
    return snapshot.lazy(f"proxy-probe:{host}:{port}", lambda snap: probe_proxy(host, port, timeout))
