"""The diagnosis engine: parse → resolve → probe → gather facts → checks → verdict.

:func:`diagnose` is the one core every front end runs. It reports progress through an
optional ``on_event`` callback (called from the thread running the diagnosis; the
wizard forwards each event as a Textual message; the events are in
:mod:`portdoctor.events`), and returns a :class:`Report`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from functools import partial

from portdoctor import __version__
from portdoctor.api import Check, Context, Options
from portdoctor.bounded import Background, Overrun, call_untrusted, capped_timeout, contained
from portdoctor.causes import CAUSES, rank
from portdoctor.commands import tidy as tidy_commands
from portdoctor.facts import Snapshot, gather, gather_during, within
from portdoctor.facts.machine import MachineFacts
from portdoctor.model import Finding, HostInfo, Outcome, Probe, Report, Status, Target, Verdict
from portdoctor.plugins import LoadedCheck, PluginError
from portdoctor.probe import probe_all
from portdoctor.resolve import resolve
from portdoctor.sanitize import clean_mapping, clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

    from portdoctor.events import EventSink

_EVENTS = ("CheckFinished", "CheckStarted", "Event", "EventSink", "FactsGathered", "Finished", "Planned",
           "Probed", "Resolved")


def __getattr__(name: str) -> Any:
    """The events, importable from here as before (they live in :mod:`portdoctor.events`)."""
    if name in _EVENTS:
        from portdoctor import events

        return getattr(events, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the pipeline -------------------------------------------------------------------


def diagnose(
    target: Target,
    checks: list[LoadedCheck],
    options: Options | None = None,
    *,
    plugin_errors: list[PluginError] | None = None,
    on_event: EventSink | None = None,
    gather_facts: Callable[[int, str], Snapshot] | None = None,
    machine: MachineFacts | None = None,
) -> Report:
    """Diagnose one target. Never raises for anything the machine or a plugin does.

    ``machine``: the run's machine-wide facts (rules, interfaces, namespaces), shared by
    every target diagnosed with it; a fresh one is read when none is given.
    ``gather_facts`` replaces the facts gatherer (tests).
    """
    options = options or Options()
    if gather_facts is None:
        run_machine = machine if machine is not None else MachineFacts()

        def gather_facts(port: int, protocol: str) -> Snapshot:
            return gather(port, protocol, run_machine)

    if on_event is not None:  # events are built only for a listener (the wizard); a report run builds none
        from portdoctor import events
    started = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # UTC, ISO 8601 (no datetime import)
    # A check runs for the target protocols it declares (a Unix socket has no port or address).
    checks = [c for c in checks if target.protocol in getattr(c.check, "protocols", ("tcp", "udp"))]
    if on_event:
        on_event(events.Planned(target, [(c.check.name, c.check.title) for c in checks]))
    addresses, resolve_error, probes, snapshot = _look(target, options, gather_facts, on_event)
    ctx = Context(target, addresses, probes, snapshot, options, resolve_error)
    notes = _notes_before_checks(plugin_errors, snapshot, addresses, probes, options)
    _run_checks(checks, ctx, on_event)
    report = _report(ctx, notes, created, started)
    if on_event:
        on_event(events.Finished(target, report))
    return report


def _look(target: Target, options: Options, gather_facts: Callable[[int, str], Snapshot],
          on_event: EventSink | None) -> tuple[list[str], str | None, list[Probe], Snapshot]:
    """Resolve, probe and read the machine: (addresses, resolve error, probes, snapshot)."""
    if on_event is not None:
        from portdoctor import events
    if target.protocol == "unix":
        addresses, resolve_error, probes, snapshot = _unix_facts(target, options, gather_facts)
        if on_event:
            on_event(events.Resolved(target, addresses, resolve_error))
    else:
        addresses, resolve_error = resolve(target.host, target.port, target.protocol,
                                           timeout=max(options.timeout, 2.0) + 3.0)
        addresses = client_addresses_first(target, addresses)
        if on_event:
            on_event(events.Resolved(target, addresses, resolve_error))

        # The probes wait on the network while the facts are read from the kernel (and the
        # listen-overflow counters around the probes: see facts.gather_during).
        snapshot, probes = gather_during(
            lambda: probe_all(addresses, target.port, target.protocol, options.timeout),
            target.port, target.protocol, gather_facts)
    if on_event:
        on_event(events.Probed(target, probes))
        on_event(events.FactsGathered(target, snapshot))
    return addresses, resolve_error, probes, snapshot


def _notes_before_checks(plugin_errors: list[PluginError] | None, snapshot: Snapshot, addresses: list[str],
                         probes: list[Probe], options: Options) -> list[str]:
    """The report's notes so far: plugins that did not load, what the facts could not see, probes not made."""
    notes = [str(e) for e in (plugin_errors or [])]
    # What the facts could not see (e.g. "owners": run with sudo to see the process).
    notes += [f"{source}: {why}" for source, why in snapshot.visibility.items()]
    if len(probes) < len(addresses):
        probed = {p.address for p in probes}
        missing = [a for a in addresses if a not in probed]
        notes.append(f"probes: {len(missing)} of {len(addresses)} addresses were not probed within the "
                     f"{options.timeout:g} s deadline for all probes (first not probed: {missing[0]})")
    return notes


def _run_checks(checks: list[LoadedCheck], ctx: Context, on_event: EventSink | None) -> None:
    """Every check that applies, in order, each bounded; their findings go on ``ctx.findings``.

    Third-party checks run in a child process each; consecutive in-process checks run
    one after another in one thread (:class:`_CheckRun`).
    """
    position = 0
    while position < len(checks):
        if checks[position].isolated:
            _run_one_isolated(checks[position], ctx, on_event)
            position += 1
            continue
        end = next((i for i in range(position, len(checks)) if checks[i].isolated), len(checks))
        # Up to the next third-party check; after a check that overran, the rest go on in a new thread.
        position += _CheckRun(checks[position:end], ctx, on_event).wait()


def _run_one_isolated(loaded: LoadedCheck, ctx: Context, on_event: EventSink | None) -> None:
    """A third-party check in its child process: its findings on ``ctx.findings``, and its events."""
    if on_event is not None:
        from portdoctor import events
    check, target = loaded.check, ctx.target
    unresolved = check.needs_addresses and not ctx.addresses
    on_started = partial(on_event, events.CheckStarted(target, check.name, check.title)) if on_event else _nothing
    findings = _run_isolated(loaded, ctx, not unresolved, on_started)
    if findings is None:
        return
    if unresolved and not findings:
        findings = [_unresolved_skip(check.name, target)]
    ctx.findings.extend(findings)
    if on_event:
        on_event(events.CheckFinished(target, findings))


def _unresolved_skip(name: str, target: Target) -> Finding:
    return Finding(name, Status.SKIP, f"Not checked: {target.host} did not resolve, so there is no address to look at.")


class _CheckRun:
    """In-process checks run in order in one worker thread, each phase (``applies()``,
    then ``run()``) within its deadline.

    The caller (:meth:`wait`) wakes only when they are all done or when the phase under
    way passes its deadline: handing every call over to a thread of its own and back
    cost more than most checks. A phase that overruns becomes an ``error`` finding and
    its check is abandoned with the thread; :meth:`wait` says how many checks are
    settled, so the caller runs the rest in a new one. Findings and events of an
    abandoned thread are dropped: everything it reports goes through ``lock``.
    """

    def __init__(self, checks: list[LoadedCheck], ctx: Context, on_event: EventSink | None):
        self.checks, self.ctx, self.on_event = checks, ctx, on_event
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.abandoned = False
        self.failure: BaseException | None = None
        self._start_phase(0, "applies", _applies_seconds(checks[0].check))
        threading.Thread(target=self._work, name="portdoctor-checks", daemon=True).start()

    def _start_phase(self, position: int, phase: str, seconds: float) -> float:
        """Note the phase under way (for :meth:`wait`); its deadline (``time.monotonic()``)."""
        with self.lock:
            self.position, self.phase, self.seconds = position, phase, seconds
            self.started = time.perf_counter()
            self.deadline = time.monotonic() + seconds
            return self.deadline

    def wait(self) -> int:
        """Wait for the checks: how many are settled (all, or up to the one that overran)."""
        while not self.finished.wait(max(0.0, self.deadline - time.monotonic())):
            with self.lock:
                if self.finished.is_set():
                    break
                if time.monotonic() < self.deadline:  # the thread has moved on to a later phase
                    continue
                self.abandoned = True
                self._overran()
                return self.position + 1
        if self.failure is not None:  # the event listener raised, as it would in this thread
            raise self.failure
        return len(self.checks)

    def _overran(self) -> None:
        check = self.checks[self.position].check
        if self.phase == "applies":
            self.ctx.findings.append(_applies_error(check, Overrun.after(f"{check.name}.applies()", self.seconds)))
            return
        findings = _abandoned(check, Overrun.after(f"check {check.name}", self.seconds), self.started)
        self.ctx.findings.extend(findings)
        self._event("CheckFinished", findings)

    def _event(self, kind: str, *args: Any) -> None:
        """Tell the listener (under ``lock``)."""
        if self.on_event is not None:
            from portdoctor import events

            self.on_event(getattr(events, kind)(self.ctx.target, *args))

    def _work(self) -> None:
        try:
            self._run_all()
        except BaseException as exc:  # noqa: BLE001 - the listener's own error: raised in the caller (wait)
            self.failure = exc
        self.finished.set()

    def _run_all(self) -> None:
        ctx = self.ctx
        for position, loaded in enumerate(self.checks):
            check = loaded.check
            deadline = self._start_phase(position, "applies", _applies_seconds(check)) if position else self.deadline
            try:
                applies = contained(partial(within, deadline, partial(check.applies, ctx)))
            except Exception as exc:  # noqa: BLE001 - Aborted included
                if not self._settle([_applies_error(check, exc)], event=False):
                    return
                continue
            if not applies:
                continue
            unresolved = check.needs_addresses and not ctx.addresses
            with self.lock:
                if self.abandoned:
                    return
                self._event("CheckStarted", check.name, check.title)
            deadline = self._start_phase(position, "run", capped_timeout(check.timeout))
            findings = [] if unresolved else _findings_of(loaded, ctx, deadline)
            if unresolved and not findings:
                findings = [_unresolved_skip(check.name, ctx.target)]
            if not self._settle(findings, event=True):
                return

    def _settle(self, findings: list[Finding], event: bool) -> bool:
        """A check's findings on the context (and its event), unless the run was abandoned."""
        with self.lock:
            if self.abandoned:
                return False
            self.ctx.findings.extend(findings)
            if event:
                self._event("CheckFinished", findings)
            return True


def _applies_seconds(check: Check) -> float:
    return min(capped_timeout(check.timeout), APPLIES_SECONDS)


def _findings_of(loaded: LoadedCheck, ctx: Context, deadline: float) -> list[Finding]:
    """What ``run()`` found, in this thread; a raise becomes an ``error`` finding (an overrun
    is the caller's to see: :class:`_CheckRun`, :func:`run_check`)."""
    check = loaded.check
    start = time.perf_counter()
    try:
        # Generators are materialised inside the deadline, and at most MAX_FINDINGS items.
        # A lazy fact the check reads ends before the check's own deadline (facts.within).
        findings = _valid(contained(partial(within, deadline, lambda: _materialise(check.run(ctx)))), check.name)
    except Exception as exc:  # noqa: BLE001 - a broken check must not break the diagnosis
        findings = [_crash_finding(loaded, exc)]
    return _timed_and_clean(findings, start)


def _applies_error(check: Check, exc: Exception) -> Finding:
    return _error_finding(check.name, check.title, f"applies() raised {type(exc).__name__}: {exc}")


def _abandoned(check: Check, overrun: Overrun, started: float) -> list[Finding]:
    """The finding of a check whose ``run()`` overran (timed from ``started``, ``time.perf_counter()``)."""
    return _timed_and_clean([_error_finding(check.name, check.title, f"{overrun}; the check was abandoned.")], started)


def _crash_finding(loaded: LoadedCheck, exc: Exception) -> Finding:
    check = loaded.check
    where = f" ({loaded.source})" if not loaded.builtin else ""
    return _error_finding(check.name, check.title, f"The check crashed{where}: {type(exc).__name__}: {exc}")


def _report(ctx: Context, notes: list[str], created: str, started: float) -> Report:
    """The verdict and the report, once every check has run."""
    target, snapshot, addresses, probes = ctx.target, ctx.facts, ctx.addresses, ctx.probes
    # What the lazy facts the checks asked for could not see (or not within the deadline).
    notes += [f"{source}: {why}" for source, why in list(snapshot.visibility.items()) if f"{source}: {why}" not in notes]
    # Commands as the user will paste them: IPv6 brackets quoted, no sudo when already root.
    tidy_commands(ctx.findings, as_root=hasattr(os, "geteuid") and os.geteuid() == 0)
    verdict = decide_verdict(ctx)
    broken = [f.check for f in ctx.findings if f.status is Status.ERROR]
    if broken and verdict.cause == "ok":
        notes.append(f"exit code 1: {', '.join(broken)} could not run, so what "
                     f"{'it checks' if len(broken) == 1 else 'they check'} is unverified")
    if _acceptance_unverified(ctx, verdict):
        verdict.summary += " Only the kernel's side was seen: the owner is hidden from this user (see the notes)."
        notes.append("acceptance: the kernel completed the connection, as it does for any listening socket; "
                     "whether the application accepts it was not verified, because the socket's owner is hidden "
                     "from this user (a stopped or hung process looks the same): run with sudo to see it")
    report = Report(
        tool_version=__version__,
        created=created,
        host=HostInfo(socket.gethostname(), _os_name(), snapshot.privileged),
        target=target,
        addresses=addresses,
        probes=probes,
        listeners=[s for s in snapshot.sockets if s.listening] if target.protocol != "unix" else [],
        findings=ctx.findings,
        verdict=verdict,
        duration_ms=(time.perf_counter() - started) * 1000,
        notes=notes,
    )
    return report


def client_addresses_first(target: Target, addresses: list[str]) -> list[str]:
    """The addresses a client's message names (libpq's ``(::1)``) first: diagnose what it used."""
    named = target.message.addresses if target.message else ()
    first = [a for a in named if a in addresses]
    return first + [a for a in addresses if a not in first]


def _unix_facts(target: Target, options: Options, gather_facts: Callable[[int, str], Snapshot]
                ) -> tuple[list[str], str | None, list[Probe], Snapshot]:
    """A Unix socket: one connect to the path, the path's facts, and TCP facts for its service's port.

    ``.s.PGSQL.5432`` belongs to PostgreSQL, whose TCP port is 5432: the snapshot holds
    the sockets on that port, so the check can say "it listens on TCP instead".
    """
    from portdoctor.facts.unixsock import service_of
    from portdoctor.probe import DEADLINE_GRACE, probe_unix

    path = target.path or ""
    _service, port, _pattern = service_of(path)
    started = time.monotonic()
    probing = Background(lambda: probe_unix(path, options.timeout), "probe")
    snapshot = gather_facts(port, "tcp") if port else Snapshot(port=0, protocol="unix")
    # The path's own facts are the lazy fact ``unix`` the unix-socket check asks for,
    # bounded by that check's deadline (a path or a /proc file that never answers).
    # The connect's timeout does not cover looking the path up: on a hung NFS or FUSE
    # mount that never returns, so the probe is bounded here too.
    try:
        probe = probing.result(max(0.0, started + options.timeout + DEADLINE_GRACE - time.monotonic()))
    except Overrun:
        probe = Probe(path, Outcome.TIMEOUT, (time.monotonic() - started) * 1000, None,
                      "the path lookup did not finish before the deadline (a hung NFS or FUSE mount?)")
    return [], None, [probe], snapshot


def run_check(loaded: LoadedCheck, ctx: Context) -> list[Finding]:
    """Run one check's ``run()`` alone, in a thread of its own, within its deadline; a raise
    or an overrun becomes an ``error`` finding (the pipeline runs its checks in one
    thread: :class:`_CheckRun`)."""
    check = loaded.check
    start = time.perf_counter()
    deadline = time.monotonic() + capped_timeout(check.timeout)
    try:
        return call_untrusted(partial(_findings_of, loaded, ctx, deadline), check.timeout, name=f"check {check.name}")
    except Overrun as exc:
        return _abandoned(check, exc, start)


def _nothing() -> None:
    """An ``on_started`` callback for a run without an event listener."""


def _run_isolated(loaded: LoadedCheck, ctx: Context, run_it: bool, on_started: Callable[[], object]) -> list[Finding] | None:
    """A third-party check in a child process (:mod:`portdoctor.isolation`): its findings,
    an ``error`` finding saying what went wrong, ``[]`` when ``run_it`` is False, or None
    when ``applies()`` said no."""
    from portdoctor.isolation import run_isolated

    check = loaded.check
    start = time.perf_counter()
    outcome = run_isolated(check, ctx, run_it=run_it, on_started=on_started)
    if outcome.error is not None:
        return _timed_and_clean([_error_finding(check.name, check.title, outcome.error)], start)
    if not outcome.applies:
        return None
    if not run_it:
        return []
    try:
        findings = _valid(outcome.findings, check.name)
    except Exception as exc:  # noqa: BLE001 - what the child sent breaks the contract
        findings = [_error_finding(check.name, check.title,
                                   f"The check crashed ({loaded.source}): {type(exc).__name__}: {exc}")]
    return _timed_and_clean(findings, start)


def _valid(findings: list, name: str) -> list[Finding]:
    """A check's findings, held to the contract (raises TypeError/ValueError)."""
    if not findings:
        return [Finding(name, Status.SKIP, "The check returned no finding.")]
    for f in findings:
        if not isinstance(f, Finding):
            raise TypeError(f"run() returned {type(f).__name__}, not Finding")
        if f.cause is not None and f.cause not in CAUSES:
            raise ValueError(f"unknown cause {clean_text(f.cause, limit=60)!r}")
    return findings


def _timed_and_clean(findings: list[Finding], start: float) -> list[Finding]:
    elapsed = (time.perf_counter() - start) * 1000
    for f in findings:
        f.ms = elapsed / len(findings)
        clean_finding(f)
    return findings


APPLIES_SECONDS = 2.0  # a check's applies() is a quick test of the context
MAX_FINDINGS = 50  # per check


def _materialise(result: Any) -> list[Finding]:
    if isinstance(result, Finding) or result is None:
        return [result] if result is not None else []
    if isinstance(result, (str, bytes, dict)):
        raise TypeError(f"run() returned {type(result).__name__}, not Finding")
    out = []
    for item in result:
        out.append(item)
        if len(out) > MAX_FINDINGS:
            raise ValueError(f"run() produced more than {MAX_FINDINGS} findings")
    return out


def clean_finding(finding: Finding) -> None:
    """Make a check's words safe to show, in place: a check (a plugin above all) may quote
    machine text the facts layer never saw. Only ``detail`` may span lines."""
    finding.title = clean_text(str(finding.title))
    finding.detail = clean_text(str(finding.detail or ""), keep_newlines=True)
    for r in finding.remediation:
        r.text = clean_text(str(r.text))
        r.command = clean_text(r.command if r.command is None else str(r.command))
    finding.evidence = clean_mapping(finding.evidence if isinstance(finding.evidence, dict) else {})


def _error_finding(name: str, title: str, detail: str) -> Finding:
    return Finding(name, Status.ERROR, f"{title or name}: the check failed to run", None, detail)


def decide_verdict(ctx: Context) -> Verdict:
    """Name the cause that explains the failed connection most directly."""
    reachable = ctx.reachable
    failed = [(f.cause, f) for f in ctx.findings if f.status is Status.FAIL and f.cause]
    if not failed and not reachable:
        # No check failed, yet the connection did: a warning with a cause is the next-best lead.
        failed = [(f.cause, f) for f in ctx.findings if f.status is Status.WARN and f.cause]
    if failed:
        # Stable sort: ties keep pipeline order. A restart loop comes first whatever its cause's rank:
        # the owner of the port comes and goes, so what the host side showed at this instant (a
        # proxy half started, a forwarding rule not yet written) follows from it.
        ranked = sorted(failed, key=lambda caused: (not _restart_loop(caused[1]), rank(caused[0])))
        best_cause, best = ranked[0]
        also: list[tuple[str, str]] = []
        for cause, f in ranked[1:]:
            if f.status is Status.FAIL and cause != best_cause and cause not in {c for c, _ in also}:
                also.append((cause, f.title))
        return Verdict(reachable, best_cause, best.title, best.check,
                       best.remediation[0] if best.remediation else None, also)
    if reachable:
        what = "answered a datagram" if ctx.target.protocol == "udp" else "accepted a connection"
        if ctx.target.protocol == "unix":
            return Verdict(True, "ok", f"{ctx.target.display} {what}.")  # a path has no addresses
        if ctx.every_address_accepts:
            return Verdict(True, "ok", f"{ctx.target.display} {what} on every address "
                           f"({', '.join(ctx.addresses)}).")
        failing = ", ".join(f"{p.address} {p.outcome}" for p in ctx.failed_probes)
        return Verdict(True, "ok", f"{ctx.target.display} {what} on {ctx.probes[0].address}, the first address "
                       f"in resolver order (what curl, Python and Node connect to); {failing}: see the warnings "
                       "for the clients that try that address.")
    if _udp_bound_and_silent(ctx):
        # UDP has no handshake: silence (no ICMP port-unreachable) from a port that a local
        # UDP socket holds is a delivered datagram the service did not answer, not a failure.
        return Verdict(True, "ok", f"{ctx.target.display}: a UDP socket is bound on every address and no "
                       "ICMP error came back (UDP has no handshake; the service did not reply to an empty datagram).")
    outcomes = ", ".join(f"{p.address} {p.outcome}" for p in ctx.probes) or "no probe"
    return Verdict(False, "unknown", f"The connection fails ({outcomes}) and no check explains why.")


def _acceptance_unverified(ctx: Context, verdict: Verdict) -> bool:
    """An ``ok`` over TCP whose accepting listener's owner is hidden (no root): only the
    kernel's side of the connection was seen, never the application's."""
    if verdict.cause != "ok" or ctx.target.protocol != "tcp" or ctx.facts.privileged or not ctx.probes:
        return False
    first = ctx.probes[0].address
    serving = [s for s in ctx.listeners() if s.state == "LISTEN" and ctx.facts.serves(s, first)]
    return bool(serving) and all(s.pid is None for s in serving)


def _restart_loop(finding: Finding) -> bool:
    """Does this failed finding say the port's owner is in a restart loop (evidence ``restart_loop``)?"""
    return finding.status is Status.FAIL and bool(finding.evidence.get("restart_loop"))


def _udp_bound_and_silent(ctx: Context) -> bool:
    """A udp:// target whose every probe met silence on an address a local UDP socket serves."""
    if ctx.target.protocol != "udp" or not ctx.probes:
        return False
    bound = ctx.listeners(protocol="udp")
    for p in ctx.probes:
        if p.outcome is Outcome.OPEN:
            continue
        if p.outcome is not Outcome.TIMEOUT or not ctx.facts.is_local(p.address):
            return False
        if not any(ctx.facts.serves(s, p.address) for s in bound):
            return False
    return True


def _os_name() -> str:
    if hasattr(os, "uname"):  # platform.system()/release() without importing platform
        uname = os.uname()
        return f"{uname.sysname} {uname.release}"
    import platform

    return f"{platform.system()} {platform.release()}".strip()


__all__ = ["decide_verdict", "diagnose", "run_check"]
