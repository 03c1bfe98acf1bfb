"""The route the kernel would pick for an address, asked without sending a packet.

Linux: ``ip -j route get ADDR`` (a netlink lookup, no traffic). macOS:
``route -n get ADDR``. Elsewhere the answer is None and checks say so. Each lookup is
bounded; checks reach it through ``Snapshot.lazy`` (see :func:`lazy_route`) so a local
target never pays for it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil

from portdoctor.bounded import run_command
from portdoctor.records import dataclass, field

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot

# ``ip route get`` refuses with the errno a connect() would get; these are its words.
_ROUTE_ERRORS = {
    "network is unreachable": "no-route",
    "no route to host": "unreachable",  # an `unreachable` route
    "permission denied": "prohibit",  # a `prohibit` route
    "invalid argument": "blackhole",  # a `blackhole` route
}


@dataclass
class Route:
    """What the kernel would do with a packet to ``address``."""

    address: str
    kind: str  # "local" | "direct" (on-link) | "gateway" | "no-route" | "unreachable" | "prohibit" | "blackhole" | "unknown"
    interface: str | None = None
    gateway: str | None = None
    source: str | None = None  # the source address the kernel would use
    error: str | None = None  # the kernel's words when it refuses
    command: list[str] = field(default_factory=list)

    @property
    def routable(self) -> bool:
        return self.kind in ("local", "direct", "gateway")

    def describe(self) -> str:
        if self.kind == "local":
            return f"{self.address} is an address of this machine (delivered via {self.interface or 'lo'})"
        if self.kind == "direct":
            return f"{self.address} is on the link of {self.interface} (no gateway; the host must answer ARP/ND there)"
        if self.kind == "gateway":
            return f"{self.address} is routed via gateway {self.gateway} on {self.interface}"
        if self.kind == "no-route":
            return f"there is no route to {self.address} (the kernel says: {self.error})"
        if self.kind in ("unreachable", "prohibit", "blackhole"):
            return f"the routing table has a `{self.kind}` route covering {self.address} ({self.error})"
        return f"the route to {self.address} is unknown ({self.error or 'no answer'})"


def parse_ip_route_get(address: str, stdout: str, stderr: str, returncode: int | None) -> Route:
    """Turn ``ip -j route get`` output (or its error) into a :class:`Route`."""
    if returncode != 0:
        words = stderr.strip().removeprefix("RTNETLINK answers:").strip() or "no answer"
        kind = _ROUTE_ERRORS.get(words.lower(), "unknown")
        return Route(address, kind, error=words)
    try:
        entry = json.loads(stdout)[0]
    except (ValueError, IndexError, KeyError):
        return Route(address, "unknown", error="unreadable output from ip route get")
    kind = entry.get("type") or "unicast"
    iface, gateway, source = entry.get("dev"), entry.get("gateway"), entry.get("prefsrc")
    if kind == "local":
        return Route(address, "local", iface, None, source)
    if kind in ("unreachable", "prohibit", "blackhole"):
        return Route(address, kind, iface, gateway, source, error=f"{kind} route")
    return Route(address, "gateway" if gateway else "direct", iface, gateway, source)


def parse_macos_route_get(address: str, stdout: str, stderr: str, returncode: int | None) -> Route:
    if returncode != 0 or "not in table" in stderr + stdout:
        return Route(address, "no-route", error=(stderr or stdout).strip() or "not in table")
    fields = dict(re.findall(r"^\s*([a-z ]+):\s*(\S+)", stdout, re.M))
    iface, gateway = fields.get("interface"), fields.get("gateway")
    if iface and iface.startswith("lo"):
        return Route(address, "local", iface)
    return Route(address, "gateway" if gateway else "direct", iface, gateway)


def route_get(address: str, os_name: str, timeout: float = 1.5) -> Route | None:
    """Ask the kernel which route ``address`` takes; None where this OS gives no answer."""
    bare = address.split("%", 1)[0]
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return Route(address, "unknown", error="not an address")
    if os_name == "linux" and shutil.which("ip"):
        argv = ["ip", "-j", "-6" if ":" in bare else "-4", "route", "get", bare]
        result = run_command(argv, timeout=timeout)
        if result.returncode is None:
            return Route(address, "unknown", error=result.error, command=argv)
        route = parse_ip_route_get(address, result.stdout, result.stderr, result.returncode)
    elif os_name == "darwin" and shutil.which("route"):
        argv = ["route", "-n", "get", "-inet6" if ":" in bare else "-inet", bare]
        result = run_command(argv, timeout=timeout)
        if result.returncode is None:
            return Route(address, "unknown", error=result.error, command=argv)
        route = parse_macos_route_get(address, result.stdout, result.stderr, result.returncode)
    else:
        return None
    route.command = argv
    return route


def lazy_route(snapshot: Snapshot, address: str) -> Route | None:
    """The route for ``address``, looked up once per diagnosis (``extras["route:ADDR"]``).

    Tests inject a :class:`Route` by setting ``snapshot.extras["route:ADDR"]``.
    """
    return snapshot.lazy(f"route:{address}", lambda snap: route_get(address, snap.os))
