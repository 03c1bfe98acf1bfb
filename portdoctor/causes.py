"""The stable cause names (the contract's table), in one registry.

``RANK`` orders causes from the one that explains a failed connection most directly
to the least: when several findings fail, the verdict names the first in this order.
A cause's long-form page lives in ``portdoctor/explain/pages/<name>.md``.
"""

from __future__ import annotations

from portdoctor.records import dataclass


@dataclass(frozen=True)
class Cause:
    """A cause a finding can name (``portdoctor explain NAME``)."""

    name: str
    summary: str  # one line, plain words


CAUSES: dict[str, Cause] = {
    c.name: c
    for c in [
        Cause("ok", "Reachable (the first address in resolver order accepts); nothing failed."),
        Cause("not-listening", "Nothing on this machine is bound to that port."),
        Cause("wrong-interface", "Something listens on the port, but not on the address or family being connected to."),
        Cause("firewall", "A packet-filter rule rejects or drops the traffic."),
        Cause("port-in-use", "The port is held by a different program than the expected one, or cannot be bound."),
        Cause("backlog-full", "A listener exists but its accept queue is full: the service is not accepting."),
        Cause("protocol-mismatch", "The port is bound for the other protocol (UDP vs TCP)."),
        Cause("other-namespace", "The listener lives in another network namespace (a container, a netns)."),
        Cause("dns", "The name does not resolve, or resolves to no usable address."),
        Cause("unreachable", "No route, host unreachable, or a remote timeout with no local evidence."),
        Cause("proxy", "A proxy setting would send this client's traffic elsewhere."),
        Cause("privileged-port", "The port is below the unprivileged-port floor and the service user may not bind it."),
        Cause("unverified", "An expectation (--expect) could not be checked: the port's owner is hidden from this user."),
        Cause("permission-denied", "The socket exists, but this user may not connect to it (Unix sockets)."),
        Cause("unknown", "The connection fails and no check explains why."),
    ]
}

# Most direct explanation first. "ok" and "unknown" are never picked from findings.
# port-in-use ranks before firewall and wrong-interface: when a different program holds
# the port (--expect), removing a rule or connecting to the address it is bound to only
# reaches the wrong program; the port's owner is the thing to fix first.
# A failing proxy comes before dns: an HTTP client sends a proxied request to the proxy,
# which resolves the name itself, so local resolution never happens.
# permission-denied (Unix sockets) comes first: the kernel refused this user before any
# listener was asked, so no other fix makes the connection work.
RANK: list[str] = [
    "permission-denied",
    "proxy",
    "dns",
    "port-in-use",
    "firewall",
    "other-namespace",
    "protocol-mismatch",
    "wrong-interface",
    "backlog-full",
    "privileged-port",
    "not-listening",
    "unreachable",
    # Last but one: any cause the evidence shows explains more; but an expectation that
    # could not be checked is never "ok" (a CI job must not pass on what it could not see).
    "unverified",
    "unknown",
]


def rank(name: str | None) -> int:
    """Lower is more direct; unknown names sort last."""
    if name in RANK:
        return RANK.index(name)
    return len(RANK)
