"""Builders for fixture data: a Context for a check, without touching the machine."""

from __future__ import annotations

from portdoctor.api import Context, Options
from portdoctor.facts import InterfaceAddress, Snapshot
from portdoctor.model import Outcome, Probe, Socket
from portdoctor.target import parse_target

LOOPBACK = [InterfaceAddress("lo", "127.0.0.1", 4), InterfaceAddress("lo", "::1", 6)]


def sock(address: str, port: int, *, protocol: str = "tcp", state: str | None = None, **kw) -> Socket:
    """A socket bound to address:port; LISTEN (TCP) or UNCONN (UDP) unless told."""
    family = 6 if ":" in address else 4
    state = state or ("LISTEN" if protocol == "tcp" else "UNCONN")
    return Socket(protocol, family, address, port, state, **kw)


def context(
    target: str,
    outcomes: dict[str, str] | str = "refused",
    *,
    sockets: list[Socket] = (),
    addresses: list[str] | None = None,
    privileged: bool = True,
    resolve_error: str | None = None,
    expect: str | None = None,
    environ: dict[str, str] | None = None,
    **snapshot_fields,
) -> Context:
    """A Context for ``target``; ``outcomes`` maps address -> outcome, or one outcome for all."""
    t = parse_target(target)
    if addresses is None:
        addresses = [] if resolve_error else ([t.host] if t.host != "localhost" else ["127.0.0.1"])
    if isinstance(outcomes, str):
        outcomes = dict.fromkeys(addresses, outcomes)
    probes = [Probe(a, Outcome(outcomes[a]), 1.0) for a in addresses]
    snap = Snapshot(
        port=t.port, protocol=t.protocol, sockets=list(sockets), interfaces=list(LOOPBACK),
        privileged=privileged, os="linux", environ=dict(environ or {}), **snapshot_fields,
    )
    return Context(t, addresses, probes, snap, Options(expect=expect), resolve_error)
