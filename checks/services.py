"""Is the usual service for this port installed and running? Enriches ``not-listening``.

For well-known ports (PostgreSQL 5432, MySQL 3306, Redis 6379, MongoDB 27017, the
common development-server ports, ...) it names the service that usually owns the
port and, when nothing listens on TCP, says why as far as this machine shows:
its process runs but listens only on a Unix socket, or on another port; its
systemd unit failed or is stopped; or it does not run at all — each with how to
check on it and start it. Where systemd is PID 1 it also looks for a failed unit
whose ExecStart or Listen= names the port, for any port.

Findings carry the cause ``not-listening`` (the evidence explains why nothing
listens; it never invents another cause) or ``pass``. Where the evidence is direct
(the service's process runs but listens only on a Unix socket or on another port; its
systemd unit failed) the finding is ``fail``: it runs before service-running, so the
verdict's headline and "Do now" come from it rather than from the generic "start the
service". Weaker leads (no such process) are ``warn``. Costly facts (the process
table, systemctl) are read lazily, only when nothing listens.
"""

from __future__ import annotations

from portdoctor.api import (
    INIT_PROCESS,
    UNIX_LISTENERS,
    Check,
    Context,
    Finding,
    Remediation,
    Socket,
    dataclass,
    fix,
    hostport,
    service_processes,
    systemd_units,
)

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

    from portdoctor.api import KnownService, ServiceProcess, Unit, UnixListener


class WellKnownServiceCheck(Check):
    name = "well-known-service"
    title = "Is the usual service for this port installed and running?"
    # service-running runs after it (its ``after``): both name not-listening when nothing
    # listens, and the verdict keeps pipeline order among equal causes, so the more
    # specific evidence leads.
    order = 90

    def applies(self, ctx: Context) -> bool:
        from portdoctor.api import WELL_KNOWN

        if ctx.target.protocol != "tcp":
            return False
        if ctx.target.port in WELL_KNOWN:
            return True
        # Any other port: only the systemd "failed unit names the port" lead applies.
        return (ctx.facts.os == "linux" and not ctx.reachable and _local(ctx)
                and ctx.fact(INIT_PROCESS) == "systemd")

    def run(self, ctx: Context) -> Finding:
        from portdoctor.api import WELL_KNOWN

        port = ctx.target.port
        known = WELL_KNOWN.get(port)
        label = f"Port {port} is usually used by {known.name}" if known else f"Port {port}"
        if not _local(ctx):
            return self.skip(
                f"{label}, but {ctx.target.host} is another machine: "
                "only that machine can say whether the service runs.",
                how="Run portdoctor on that machine.",
                command=f"portdoctor --report 127.0.0.1:{port}",
            )
        listeners = ctx.listeners() or ctx.listeners(own_namespace=False)
        if ctx.reachable or listeners:
            return self._listening(label, known, listeners)
        down = _units_down(ctx, known)
        if known is None:
            failed = [u for u in down if u.active_state == "failed"]
            if failed:
                return self._unit_down(ctx, failed[0], None)
            return self.passed(f"No failed systemd unit mentions port {port}.")
        seen = _look_for(ctx, known, down)
        return (self._unix_socket_only(ctx, seen) or self._on_another_port(ctx, seen)
                or self._tcp_turned_off(ctx, seen) or self._not_running(ctx, seen))

    def _listening(self, label: str, known: KnownService | None, listeners: list[Socket]) -> Finding:
        owners = sorted({s.process for s in listeners if s.process})
        who = ", ".join(owners) if owners else "a process"
        where = " in another network namespace" if listeners and all(s.namespace for s in listeners) else ""
        return self.passed(f"{label}; {who} listens on it{where}.",
                           evidence={"service": known.name if known else None})

    # --- why the well-known service does not listen on TCP: the first that fits --------

    def _unix_socket_only(self, ctx: Context, seen: _Seen) -> Finding | None:
        if not seen.sockets:
            return None
        known, port = seen.known, ctx.target.port
        where = ", ".join(s.path for s in seen.sockets)
        who = f"{known.name} is running ({seen.running})" if seen.processes else f"{known.name}'s Unix socket exists"
        steps = [fix(f"Turn TCP on: {known.tcp_setting}.", None)] if known.tcp_setting else []
        steps.append(_socket_client(known, seen.sockets[0].path, port))
        return self.fail(
            "not-listening",
            f"{who} but listens only on the Unix socket {where}, not on TCP port {port}.",
            "Clients that connect to host:port get 'connection refused'; clients on this machine "
            "can use the socket instead.",
            steps, evidence=seen.evidence)

    def _on_another_port(self, ctx: Context, seen: _Seen) -> Finding | None:
        elsewhere = sorted({e for p in seen.processes for e in p.listening})
        if not elsewhere:
            return None
        known, port, first = seen.known, ctx.target.port, seen.processes[0]
        how = (" (the port its command line names; this user cannot see whose socket it is)"
               if seen.inferred else "")
        return self.fail(
            "not-listening",
            f"{known.name} is running ({seen.running}) but listens on {', '.join(elsewhere)}{how}, "
            f"not on port {port}.",
            "The service is up with another port in its configuration, or this port is a typo.",
            [fix(f"Connect to {elsewhere[0]}, where it listens, or set its port to {port} in its "
                 "configuration and restart it.", None),
             fix("See every port it listens on.", f"ss -ltnp | grep {first.name}"
                 if ctx.facts.os == "linux" else f"lsof -nP -iTCP -sTCP:LISTEN -a -p {first.pid}")],
            evidence=seen.evidence)

    def _tcp_turned_off(self, ctx: Context, seen: _Seen) -> Finding | None:
        if not any(p.configured_ports == [0] for p in seen.processes):
            return None
        known, port = seen.known, ctx.target.port
        return self.fail(
            "not-listening",
            f"{known.name} is running ({seen.running}) with port 0 on its command line: TCP is turned off.",
            "Port 0 tells the service not to listen on TCP at all (Redis: Unix socket only).",
            [fix(f"Turn TCP on: {known.tcp_setting or f'set the port to {port}'}.", None)], evidence=seen.evidence)

    def _not_running(self, ctx: Context, seen: _Seen) -> Finding:
        """Running but silent, its unit down, a development server not started, or no process at all."""
        known, port = seen.known, ctx.target.port
        if seen.processes:
            return self.warn(
                f"{known.name} is running ({seen.running}) but nothing listens on TCP port {port}.",
                "It may still be starting, be configured for another port, or listen only in a way "
                "this machine does not show (run with sudo to see every process's sockets).",
                [*self._check_steps(ctx, known, None)], cause="not-listening", evidence=seen.evidence)
        if seen.down:
            return self._unit_down(ctx, seen.down[0], known, **seen.evidence)
        if not known.processes:
            steps = [_start_fix(known.start)] if known.start else []
            steps.append(fix("If it runs in a container, check that the port is published.", "docker compose ps"))
            return self.warn(
                f"Port {port} is usually {known.name}; nothing listens on it.",
                "Start the server, or check which port it printed when it started.",
                steps, cause="not-listening", evidence=seen.evidence)
        return self.warn(
            f"{known.name} (the usual owner of port {port}) does not appear to be running: "
            f"no {' or '.join(known.processes)} process.",
            "It is not installed, not started, or runs in a container or VM whose port is not published.",
            self._start_steps(ctx, known), cause="not-listening", evidence=seen.evidence)

    # --- remediation ------------------------------------------------------------------

    def _unit_down(self, ctx: Context, unit: Unit, known: KnownService | None, **evidence: Any) -> Finding:
        from portdoctor.api import names_port

        state = f"{unit.active_state}" + (f", result {unit.result}" if unit.result and unit.result != "success" else "")
        what = known.name if known else "The unit"
        names = ""
        if not known:
            named = [t for t in unit.exec_start + unit.listen if names_port(t, ctx.target.port)]
            names = f" Its {'ExecStart' if unit.exec_start and named and named[0] in unit.exec_start else 'Listen='} " \
                    f"names port {ctx.target.port}: {named[0]}" if named else ""
        verb = "has failed" if unit.active_state == "failed" else "is not running"
        return self.fail(
            "not-listening",
            f"{unit.id} {verb} ({state}).",
            f"{what} is managed by systemd and is down.{names}",
            [fix("Read why it stopped.", f"journalctl -u {unit.id} -n 20 --no-pager"),
             fix("See its state.", f"systemctl status {unit.id}"),
             fix("Start it again once the cause is fixed.", f"sudo systemctl restart {unit.id}")],
            evidence={"unit": unit.id, "unit_state": unit.active_state, "unit_result": unit.result, **evidence})

    def _check_steps(self, ctx: Context, known: KnownService, unit: str | None) -> list[Remediation]:
        name = unit or (known.units[0] if known.units else None)
        if ctx.systemd and name:
            return [fix("Read its recent log.", f"journalctl -u {name} -n 20 --no-pager"),
                    fix("See which ports it listens on.", "sudo ss -ltnp")]
        if ctx.facts.os == "linux":
            return [fix("See which ports it listens on.", "sudo ss -ltnp")]
        if ctx.facts.os == "darwin":
            return [fix("See which ports it listens on.", "sudo lsof -nP -iTCP -sTCP:LISTEN")]
        return [fix("See which ports it listens on.", "Get-NetTCPConnection -State Listen")]

    def _start_steps(self, ctx: Context, known: KnownService) -> list[Remediation]:
        steps = []
        unit = known.units[0] if known.units else None
        if ctx.systemd and unit:
            steps += [fix("Check whether the service is installed and why it stopped.", f"systemctl status {unit}"),
                      fix("Start it.", f"sudo systemctl start {unit}")]
        elif ctx.facts.os == "darwin" and known.brew:
            steps += [fix("Check the Homebrew services.", "brew services list"),
                      fix("Start it.", f"brew services start {known.brew}")]
        elif ctx.facts.os == "windows" and known.windows_service:
            steps += [fix("Check the Windows service.", f"Get-Service {known.windows_service}"),
                      fix("Start it.", f"Start-Service {known.windows_service}")]
        steps.append(fix("If it should run in a container, check that it is up and publishes the port.",
                         "docker compose ps"))
        if known.docker:
            steps.append(fix("Or run one in a container, publishing the port.", known.docker))
        return steps


def _local(ctx: Context) -> bool:
    if not ctx.addresses:
        return ctx.target.host_defaulted or ctx.target.host == "localhost"
    return all(ctx.facts.is_local(a) for a in ctx.addresses)


@dataclass
class _Seen:
    """What this machine shows of a well-known service that does not listen on TCP."""

    known: KnownService
    processes: list[ServiceProcess]  # its processes, with where they listen
    sockets: list[UnixListener]  # its Unix sockets
    down: list[Unit]  # its systemd units that are down
    inferred: bool  # a process's listeners were read from its command line (owner hidden)

    @property
    def running(self) -> str:
        return _describe(self.processes)

    @property
    def evidence(self) -> dict[str, Any]:
        return dict(service=self.known.name,
                    processes=[{"pid": p.pid, "name": p.name, "user": p.user, "listening": p.listening,
                                "configured_ports": p.configured_ports} for p in self.processes],
                    unix_sockets=[s.path for s in self.sockets],
                    units=[{"id": u.id, "state": u.active_state, "result": u.result} for u in self.down])


def _units_down(ctx: Context, known: KnownService | None) -> list[Unit]:
    """The systemd units that are down and are the service's, or name the port in ExecStart/Listen=.

    A unit that was never started is "inactive" too; only those named like the service count."""
    from portdoctor.api import names_port

    if ctx.facts.os != "linux":
        return []
    port = ctx.target.port
    units = ctx.fact(systemd_units(port, known.units if known else ())) or []
    return [u for u in units if u.down and (
        (known and any(u.id == f"{p}.service" or u.id.startswith((f"{p}@", f"{p}.")) for p in known.units))
        or any(names_port(text, port) for text in u.exec_start + u.listen))]


def _look_for(ctx: Context, known: KnownService, down: list[Unit]) -> _Seen:
    """The service's processes (and where they listen), its Unix sockets, its units."""
    port = ctx.target.port
    processes = (ctx.fact(service_processes(port, known.processes)) or []) if known.processes else []
    pattern = known.socket_pattern(port)
    sockets = []
    if pattern is not None and ctx.facts.os == "linux":
        sockets = [u for u in ctx.fact(UNIX_LISTENERS) or [] if pattern.search(u.basename)]
    inferred = False
    for p in processes:
        if not p.listening:  # another user's sockets are hidden: use what its command line says
            p.listening = _configured_listeners(ctx, p.configured_ports)
            inferred = inferred or bool(p.listening)
    return _Seen(known, processes, sockets, down, inferred)


def _configured_listeners(ctx: Context, ports: list[int]) -> list[str]:
    """Listeners in this namespace on the ports a process's command line names, whose
    owners this user may not see: ["127.0.0.1:6380"]."""
    found = []
    for s in ctx.facts.all_listening or []:
        if s.port in ports and s.port != ctx.target.port and s.protocol == "tcp" and s.namespace is None:
            found.append(hostport(s.address, s.port))
    return sorted(set(found))


def _start_fix(start: str) -> Remediation:
    """``npm run dev   (or: npm start, bin/dev)`` -> the first as the command, the rest as words;
    a description rather than a command (``the service's own start command ...``) -> words only."""
    command, _, alternatives = start.partition("(or:")
    command, alternatives = command.strip(), alternatives.strip().rstrip(")").strip()
    if not command or command.lower().startswith(("the ", "its ", "your ")):
        return fix(f"Start it with {start}.", None)
    return fix("Start it" + (f" (or: {alternatives})." if alternatives else "."), command)


def _describe(processes: list[ServiceProcess]) -> str:
    shown = ", ".join(f"{p.name} pid {p.pid}" for p in processes[:3])
    more = f" and {len(processes) - 3} more" if len(processes) > 3 else ""
    return shown + more


def _socket_client(known: KnownService, path: str, port: int) -> Remediation:
    folder = path.rsplit("/", 1)[0] or "/"
    if known.name == "PostgreSQL":
        return fix("Or connect through the socket.", f"psql -h {folder} -p {port}")
    if known.name.startswith("MySQL"):
        return fix("Or connect through the socket.", f"mysql --socket={path}")
    if known.name == "Redis":
        return fix("Or connect through the socket.", f"redis-cli -s {path}")
    if known.name == "MongoDB":
        return fix("Or connect through the socket.", f"mongosh 'mongodb://{path.replace('/', '%2F')}'")
    return fix("Or connect through the socket.", None)
