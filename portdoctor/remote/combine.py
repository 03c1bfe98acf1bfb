"""Both sides in one report (``--ssh``), whole diagnoses elsewhere (``--from``), many hosts at once.

:func:`run_ssh` diagnoses each target from here exactly as a plain run does and, at the
same time, the same port on each SSH host; the server's report is attached to the
client's (``Report.server_side``), a ``server-side`` finding says what the server saw,
and the verdict follows the stronger evidence: the server's own view of its sockets and
rules names the cause; when SSH does not get through, the server side is a ``skip`` with
the reason and the client's diagnosis stands as it is. :func:`run_from` runs the whole
diagnosis on each host instead. Hosts run concurrently in a bounded pool; a host that
hangs is cut off at its deadline and never delays the others.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timezone

from portdoctor import __version__
from portdoctor.model import Finding, HostInfo, Remediation, Report, ServerSide, Status, Target, Verdict, hostport
from portdoctor.records import replace
from portdoctor.remote.destination import Destination
from portdoctor.remote.transport import Failure, SshOptions, classify_failure, run_over_ssh

MAX_HOSTS_AT_ONCE = 16
_SAFE_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,253}$")
CHECK = "server-side"
TITLE = "What does the server itself see on this port?"


class RemoteRun:
    """The outcome of running the agent (or the reduced commands) on one host."""

    def __init__(self, destination: Destination):
        self.destination = destination
        self.failure: Failure | None = None
        self.reports: list[Report] = []
        self.reduced: dict[str, str] | None = None
        self.version: str | None = None
        self.notes: list[str] = []
        self.elapsed = 0.0

    @property
    def version_mismatch(self) -> bool:
        return self.version is not None and self.version != __version__


def run_remote(destination: Destination, items: list[dict], options: SshOptions, *, timeout: float,
               expect: str | None, port: int) -> RemoteRun:
    """Send portdoctor to ``destination``, run it for ``items``, read what comes back as data."""
    from portdoctor.remote.bundle import build_zip, remote_command
    from portdoctor.remote.receive import RemoteDataError, read_envelope, split_output

    run = RemoteRun(destination)
    payload = build_zip()
    nonce = secrets.token_hex(12)
    spec = {"targets": items, "timeout": timeout, "expect": expect}
    command = remote_command(nonce, spec, len(payload), sudo=options.sudo, port=port)
    result = run_over_ssh(destination, options, command, payload)
    run.elapsed = result.elapsed
    if result.error or result.returncode == 255 or (result.returncode != 0 and nonce.encode() not in result.stdout):
        run.failure = classify_failure(destination, result)
        return run
    output = split_output(result.stdout, nonce)
    if "no-sudo" in output.notes:
        run.notes.append(f"sudo -n is not allowed for this user on {destination.label}: ran without it "
                         "(other users' processes and the firewall may be hidden)")
    if output.report is not None:
        try:
            header, reports = read_envelope(output.report)
        except RemoteDataError as exc:
            run.failure = Failure("data", f"{destination.label} answered, but not with a report portdoctor "
                                  f"can read: {exc}.")
            return run
        run.version = header["version"]
        run.notes += header["notes"]
        run.reports = reports
        return run
    if output.reduced:
        run.reduced = output.reduced
        return run
    detail = "; ".join(output.errors) or "no report came back"
    run.failure = Failure("data", f"{destination.label}: the remote run ended without a report ({detail}).")
    return run


# --- --ssh: the client's side and the server's side ------------------------------------


def run_ssh(targets: list[Target], destinations: list[Destination], options: SshOptions,
            diagnose_local: Callable[[list[Target]], list[Report]], *, timeout: float,
            expect: str | None) -> list[Report]:
    """One report per (host, target): the diagnosis from here plus the server's side."""
    from portdoctor.bounded import Background, parallel_map
    from portdoctor.resolve import resolve

    # A target without a host (":5432") names the port on each SSH host.
    per_host: list[tuple[Destination, list[Target]]] = []
    for dest in destinations:
        host = _ssh_hostname(dest, options)
        per_host.append((dest, [replace(t, host=host, host_defaulted=False, input=f"{hostport(host, t.port)}"
                                        if t.protocol == "tcp" else f"udp://{hostport(host, t.port)}")
                                if t.host_defaulted else t for t in targets]))
    unique_targets = list(dict.fromkeys(t for _, ts in per_host for t in ts))
    local = Background(lambda: dict(zip(unique_targets, diagnose_local(unique_targets))), "local")

    def one_host(item: tuple[Destination, list[Target]]) -> RemoteRun:
        dest, host_targets = item
        specs = []
        for t in host_targets:
            addresses, _ = resolve(t.host, t.port, t.protocol, timeout=3.0)
            specs.append({"input": t.display, "addresses": addresses, "server_side": True})
        port = host_targets[0].port if host_targets else 0
        return run_remote(dest, specs, options, timeout=timeout, expect=expect, port=port)

    runs = parallel_map(one_host, per_host, max_workers=MAX_HOSTS_AT_ONCE)
    local_reports = local.result()
    out: list[Report] = []
    for (dest, host_targets), run in zip(per_host, runs):
        for index, target in enumerate(host_targets):
            report = _copy(local_reports[target])
            report.ssh = dest.label
            attach_server_side(report, run, index)
            out.append(report)
    return out


def _ssh_hostname(dest: Destination, options: SshOptions) -> str:
    """The real host name behind an ssh_config alias (``ssh -G``: reads the config, connects nowhere)."""
    from portdoctor.bounded import run_command
    from portdoctor.remote.transport import ssh_argv

    argv = ssh_argv(dest, options, "true")
    argv.insert(1, "-G")
    result = run_command(argv, timeout=3.0)
    if result.ok:
        for line in result.stdout.splitlines():
            key, _, value = line.partition(" ")
            value = value.strip().strip("[]")
            if key == "hostname" and value and _SAFE_HOST.match(value):
                return value
    return dest.host


def _copy(report: Report) -> Report:
    return replace(report, findings=list(report.findings), notes=list(report.notes))


def attach_server_side(report: Report, run: RemoteRun, index: int) -> None:
    """Put the server's view into the client's report and let the verdict follow the evidence."""
    label = run.destination.label
    local_verdict = report.verdict
    if run.failure is not None:
        f = run.failure
        steps = _failure_steps(f)
        report.server_side = ServerSide(label, "skipped", f.reason, notes=run.notes)
        report.findings.append(Finding(CHECK, Status.SKIP, f"Server side not seen: {f.reason}", None,
                                       "The diagnosis from here above stands on its own.", steps,
                                       {"ssh": f.kind}))
        return
    server: Report | None
    if run.reduced is not None:
        from portdoctor.remote.reduced import diagnose_reduced

        server = diagnose_reduced(run.reduced, report, label)
        report.server_side = ServerSide(label, "reduced", "python3 (3.10+) is not available there: facts from "
                                        "ss, ip, nft and iptables-save only", server, None, run.notes)
    else:
        server = run.reports[index] if index < len(run.reports) else None
        report.server_side = ServerSide(label, "diagnosed", None, server, run.version, run.notes)
    if server is None:
        report.findings.append(Finding(CHECK, Status.ERROR, f"{label} returned no report for this target."))
        return
    if run.version_mismatch:
        report.findings.append(Finding(
            CHECK, Status.WARN,
            f"{label} ran portdoctor {run.version}, not {__version__} (what was sent): its findings are shown, "
            "not used for the verdict.", None,
            "Something on that host answered in place of the copy portdoctor sent (a wrapper, or a modified "
            "python3); its report is data from an unverified program."))
        return
    host_name = server.host.hostname or label
    on_host = f"on {label}" + (f" ({host_name})" if host_name and host_name not in label else "")
    sv = server.verdict
    if sv.cause == "ok":
        report.findings.append(Finding(
            CHECK, Status.PASS, f"{on_host.capitalize()}: {sv.summary}", None,
            "The server accepts the connection on its own side; what fails is between here and there "
            "(a firewall on the path, a cloud security group, NAT)." if report.failed else "",
            [], _evidence(server)))
        if report.failed:
            report.verdict = replace(local_verdict, summary=f"From here: {local_verdict.summary} {on_host.capitalize()}: "
                                     "the service listens and accepts, so the block is on the path.")
        return
    # The server's steps for its cause; "portdoctor ..." re-checks make sense there, not here: last.
    candidates = ([sv.first_step] if sv.first_step else []) + [
        r for f in server.findings if f.status is Status.FAIL and f.cause == sv.cause for r in f.remediation]
    unique = list({(r.text, r.command): r for r in candidates}.values())
    unique.sort(key=lambda r: (r.command or "").startswith("portdoctor "))
    steps = [Remediation(f"On {label}: {r.text}", r.command) for r in unique[:4]]
    status = Status.FAIL if server.failed and sv.cause != "unknown" else Status.WARN
    report.findings.append(Finding(CHECK, status, f"{on_host.capitalize()}: {sv.summary}",
                                   sv.cause if sv.cause != "unknown" else None,
                                   _server_detail(server), steps, _evidence(server)))
    if status is Status.FAIL:
        from_here = _from_here(report)
        also = [(local_verdict.cause, local_verdict.summary)] if local_verdict.cause not in ("ok", sv.cause) else []
        also += [a for a in sv.also if a[0] != sv.cause and a[0] not in {c for c, _ in also}]
        report.verdict = Verdict(report.verdict.reachable, sv.cause, f"From here: {from_here}; {on_host}: {sv.summary}",
                                 CHECK, steps[0] if steps else None, also)


def _from_here(report: Report) -> str:
    return ", ".join(f"{p.address} {p.outcome}" for p in report.probes) or "no probe"


def _server_detail(server: Report) -> str:
    lines = [f"{f.check}: {f.status}: {f.title}" for f in server.findings if f.status in (Status.FAIL, Status.WARN)]
    if server.listeners:
        lines.append("Listeners there: " + ", ".join(f"{s.protocol} {hostport(s.address, s.port)}"
                                                     + (f" ({s.process})" if s.process else "") for s in server.listeners))
    return "\n".join(lines)


def _evidence(server: Report) -> dict:
    return {"server_cause": server.verdict.cause, "server_hostname": server.host.hostname,
            "listeners": [hostport(s.address, s.port) for s in server.listeners]}


def _failure_steps(f: Failure) -> list[Remediation]:
    if f.kind == "host-key-unknown" and f.command:
        scan = f.command
        return [Remediation("See the key's fingerprint and compare it with the one the server's owner gives you.",
                            f"{scan} | ssh-keygen -lf -"),
                Remediation("Then record it (never without comparing).", f"{scan} >> ~/.ssh/known_hosts")]
    return [Remediation(f.step or "See what ssh says.", f.command)] if f.command or f.step else []


# --- --from: the whole diagnosis elsewhere -----------------------------------------------


def run_from(targets: list[Target], destinations: list[Destination], options: SshOptions, *,
             timeout: float, expect: str | None) -> list[Report]:
    """One report per (host, target), each diagnosed on that host."""
    from portdoctor.bounded import parallel_map

    items = [{"input": t.input if not t.input.startswith("***") else t.display} for t in targets]

    def one_host(dest: Destination) -> RemoteRun:
        return run_remote(dest, items, options, timeout=timeout, expect=expect, port=targets[0].port)

    runs = parallel_map(one_host, destinations, max_workers=MAX_HOSTS_AT_ONCE)
    out: list[Report] = []
    for dest, run in zip(destinations, runs):
        for index, target in enumerate(targets):
            out.append(_from_report(dest, run, index, target))
    return out


def _from_report(dest: Destination, run: RemoteRun, index: int, target: Target) -> Report:
    if run.failure is None and run.reduced is None and index < len(run.reports):
        report = run.reports[index]
        report.ssh = dest.label
        report.notes += [f"{dest.label}: {n}" for n in run.notes]
        if run.version_mismatch:
            report.findings.append(Finding(CHECK, Status.WARN, f"{dest.label} ran portdoctor {run.version}, not "
                                           f"{__version__} (what was sent): treat this report as unverified."))
            report.verdict = replace(report.verdict, cause="unknown" if report.verdict.cause == "ok" else
                                     report.verdict.cause)
        return report
    if run.failure is not None:
        reason, steps = run.failure.reason, _failure_steps(run.failure)
    else:
        reason = (f"python3 (3.10+) is not available on {dest.label}: --from needs it to run the whole "
                  "diagnosis there (--ssh reads reduced facts without it)")
        steps = [Remediation("Install python3 there, or diagnose the server side with --ssh.",
                             f"portdoctor --ssh {dest.label} {target.display}")]
    finding = Finding(CHECK, Status.SKIP, f"Not diagnosed on {dest.label}: {reason}", None, "", steps)
    verdict = Verdict(False, "unknown", f"Could not run on {dest.label}: {reason}", CHECK, steps[0] if steps else None)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Report(__version__, created, HostInfo(dest.host, "unknown", False), target, [], [], [], [finding],
                  verdict, run.elapsed * 1000, [], ssh=dest.label)


__all__ = ["RemoteRun", "attach_server_side", "run_from", "run_remote", "run_ssh"]
