"""Builders for testing checks without touching the machine, for portdoctor and plugin authors.

As pytest ships ``pytester``, portdoctor ships the kit its own tests use::

    from portdoctor.testing import context, run, sock

    def test_my_check_fails_when_nothing_listens():
        [finding] = run(MyCheck(), context("127.0.0.1:8080", "refused"))
        assert finding.status == "fail" and finding.cause == "not-listening"

    def test_my_check_names_the_owner():
        ctx = context("127.0.0.1:8080", "open", sockets=[sock("0.0.0.0", 8080, pid=42, process="nginx")])
        ...

- :func:`sock`: a :class:`~portdoctor.api.Socket` bound to address:port (LISTEN unless told).
- :func:`context`: a :class:`~portdoctor.api.Context` for a target, with the probe
  outcome per address, the sockets, interfaces, privilege, ``--expect``, the environment;
  any other :class:`~portdoctor.api.Snapshot` field by name (``dnat=[...]``), and lazy
  facts injected through ``extras={"name": value}`` (see :class:`portdoctor.api.Fact`).
- :func:`run`: run a check the way the pipeline does (bounded, cleaned, a crash becomes
  an ``error`` finding) and get its findings as a list.
- :func:`report`: a :class:`~portdoctor.model.Report` from findings, for renderer tests.
- :func:`free_ports`: TCP ports nothing on this machine listens on right now, for tests
  (and benchmarks) that start real listeners or probe refused ports.

Nothing here reads the machine (but :func:`free_ports`, which asks the kernel for unused
ports): the snapshot holds exactly what the test gave it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping

from portdoctor.api import Check, Context, InterfaceAddress, Options, Snapshot
from portdoctor.model import Finding, HostInfo, Outcome, Probe, Report, Socket, Verdict
from portdoctor.resolve import ResolveError
from portdoctor.target import parse_target

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LOOPBACK", "context", "free_ports", "report", "resolve_failure", "run", "sock"]

LOOPBACK = [InterfaceAddress("lo", "127.0.0.1", 4), InterfaceAddress("lo", "::1", 6)]


def sock(address: str, port: int, *, protocol: str = "tcp", state: str | None = None, **fields: Any) -> Socket:
    """A socket bound to ``address:port``; LISTEN (TCP) or UNCONN (UDP) unless told.

    ``fields``: any other :class:`~portdoctor.api.Socket` field (``pid=``, ``process=``,
    ``user=``, ``namespace=``, ``recv_queue=`` ...).
    """
    family = 6 if ":" in address else 4
    state = state or ("LISTEN" if protocol == "tcp" else "UNCONN")
    return Socket(protocol, family, address, port, state, **fields)


def context(
    target: str,
    outcomes: Mapping[str, str] | str = "refused",
    *,
    sockets: Iterable[Socket] = (),
    addresses: list[str] | None = None,
    privileged: bool = True,
    resolve_error: str | None = None,
    expect: str | None = None,
    environ: Mapping[str, str] | None = None,
    interfaces: Iterable[InterfaceAddress] | None = None,
    os: str = "linux",
    timeout: float = 2.0,
    findings: Iterable[Finding] = (),
    **snapshot_fields: Any,
) -> Context:
    """A Context for ``target`` (as typed on the command line).

    ``outcomes`` maps each address to a probe outcome (``open``, ``refused``, ``timeout``,
    ``unreachable``, ``error``), or gives one outcome for all. ``addresses`` defaults to
    the target's host (``localhost`` -> ``127.0.0.1``), none when ``resolve_error`` is
    set. ``findings``: what earlier checks concluded (``ctx.finding(name)``).
    """
    t = parse_target(target)
    if addresses is None:
        addresses = [] if resolve_error else ([t.host] if t.host != "localhost" else ["127.0.0.1"])
    if isinstance(outcomes, str):
        outcomes = dict.fromkeys(addresses, outcomes)
    probes = [Probe(a, Outcome(outcomes[a]), 1.0) for a in addresses]
    snap = Snapshot(
        port=t.port, protocol=t.protocol, sockets=list(sockets),
        interfaces=list(LOOPBACK if interfaces is None else interfaces),
        privileged=privileged, os=os, environ=dict(environ or {}), **snapshot_fields,
    )
    ctx = Context(t, list(addresses), probes, snap, Options(timeout=timeout, expect=expect), resolve_error)
    ctx.findings.extend(findings)
    return ctx


def resolve_failure(message: str, kind: str) -> str:
    """A resolver failure for ``context(resolve_error=...)`` with its kind (``api.NO_ADDRESS`` ...)."""
    return ResolveError(message, kind)


def run(check: Check, ctx: Context) -> list[Finding]:
    """Run ``check`` as the pipeline does: within its timeout, its words cleaned, a raise
    or an unknown cause turned into an ``error`` finding. Always a list."""
    from portdoctor.pipeline import run_check
    from portdoctor.plugins import LoadedCheck

    return run_check(LoadedCheck(check, "test", type(check).__qualname__), ctx)


def report(
    findings: Iterable[Finding] = (),
    *,
    target: str = "127.0.0.1:8080",
    listeners: Iterable[Socket] = (),
    cause: str = "not-listening",
    reachable: bool = False,
    summary: str = "summary",
    check: str | None = None,
    probes: list[Probe] | None = None,
    privileged: bool = True,
    notes: Iterable[str] = (),
) -> Report:
    """A Report with a fixed time, host and version, for renderer and front-end tests.

    The verdict is given, not decided: ``cause``/``reachable``/``summary``/``check``.
    """
    t = parse_target(target)
    address = t.host if t.host != "localhost" else "127.0.0.1"
    if probes is None:
        probes = [Probe(address, Outcome.OPEN if reachable else Outcome.REFUSED, 1.0)]
    return Report("0", "2025-01-01T00:00:00Z", HostInfo("h", "Linux", privileged), t,
                  [p.address for p in probes], probes, list(listeners), list(findings),
                  Verdict(reachable, cause, summary, check), 1.0, notes=list(notes))


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that nothing listens on right now (bound
    together, so the kernel gives distinct ones, then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
