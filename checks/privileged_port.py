"""Can the service bind this port at all? The ``privileged-port`` cause.

On Linux a port below ``net.ipv4.ip_unprivileged_port_start`` (1024 by default) can
only be bound by root or a process holding ``CAP_NET_BIND_SERVICE``; anyone else gets
EACCES and the service never listens. When nothing listens on such a port, the check
looks for evidence of who would bind it: a running process that names the port (or the
``--expect`` process) without the capability is a ``fail``. Without such a process it only
warns (cause ``privileged-port``, so the verdict stays ``not-listening``), saying
"probably" when portdoctor itself runs as a non-root user.
"""

from __future__ import annotations

from portdoctor.api import UNPRIVILEGED_PORT_FLOOR, WHOAMI, Check, Context, Finding, fix, owner_words, shell_quote


def _binary(exe: str | None, expect: str | None) -> str:
    """The executable to give the capability: known, found by name at run time, or a placeholder."""
    if exe:
        return shell_quote(exe)
    if expect:
        return f"\"$(command -v {shell_quote(expect)})\""
    return "/PATH/TO/BINARY"


def _remediation(port: int, floor: int, binary: str, systemd: bool = True) -> list:
    return [
        fix("Let that one binary bind low ports (for an interpreter such as python or node this applies "
            "to every script it runs: prefer the systemd way).",
            f"sudo setcap 'cap_net_bind_service=+ep' {binary}"),
        *([fix("For a systemd service: add `AmbientCapabilities=CAP_NET_BIND_SERVICE` under [Service], "
               "then restart it.", "sudo systemctl edit SERVICE")] if systemd else []),
        fix(f"Or lower the floor for this machine (now {floor}; persist it in /etc/sysctl.d/).",
            f"sudo sysctl -w net.ipv4.ip_unprivileged_port_start={port}"),
        fix(f"Or run the service on a port ≥ {floor} and put a reverse proxy (nginx, caddy) or a port "
            f"mapping in front (Docker: -p {port}:8080).", None),
    ]


class PrivilegedPortCheck(Check):
    name = "privileged-port"
    title = "Is the port privileged, so the service may not bind it?"
    order = 115

    def applies(self, ctx: Context) -> bool:
        local = any(ctx.facts.is_local(a) for a in ctx.addresses)
        return local and not ctx.listeners(own_namespace=False) and not ctx.facts.dnat

    def run(self, ctx: Context) -> Finding:
        port, os_name = ctx.target.port, ctx.facts.os
        if os_name == "windows":
            return self.passed("Windows has no privileged ports: any user may bind any free port.")
        if os_name == "darwin":
            if port >= 1024:
                return self.passed(f"Port {port} is not privileged.")
            return self.warn(
                f"Port {port} is below 1024.",
                "Since macOS 10.14 any user may bind low ports on 0.0.0.0/::, but binding a specific address "
                "(e.g. 127.0.0.1) below 1024 still needs root.",
                [fix("Bind the service to 0.0.0.0, or run it on a port ≥ 1024 behind a pf `rdr` rule.", None)],
                cause="privileged-port")
        floor = ctx.fact(UNPRIVILEGED_PORT_FLOOR)
        if floor is None:
            return self.skip("The unprivileged-port floor is not readable here.",
                             "Read it yourself.", "sysctl net.ipv4.ip_unprivileged_port_start")
        if port >= floor:
            return self.passed(f"Port {port} is not privileged here (the floor is {floor}).", evidence={"floor": floor})

        from portdoctor.api import lazy_bind_candidates  # the process table: only for a privileged port

        candidates = lazy_bind_candidates(ctx.facts, port, ctx.options.expect) or []
        blocked = [c for c in candidates if c.may_bind_privileged is False]
        evidence = dict(floor=floor, candidates=[{"pid": c.pid, "name": c.name, "user": c.user, "uid": c.uid,
                                                  "may_bind_privileged": c.may_bind_privileged, "why": c.why}
                                                 for c in candidates])
        if blocked:
            c = next((b for b in blocked if b.why == "is the expected process"), blocked[0])
            probably = "" if c.why == "is the expected process" else "probably "
            return self.fail(
                "privileged-port",
                f"{owner_words(c.pid, c.name, c.user, c.uid)} {probably}wants port {port} but may not bind it: "
                f"ports below {floor} need root or CAP_NET_BIND_SERVICE.",
                f"{c.name} {c.why} ({c.cmdline}) and runs as {c.user or c.uid} without CAP_NET_BIND_SERVICE, "
                f"so its bind() fails with EACCES (\"Permission denied\") and nothing listens on {port}.",
                _remediation(port, floor, _binary(c.exe, None), ctx.systemd), evidence=evidence)
        uid, user = ctx.fact(WHOAMI) or (None, None)
        binary = _binary(None, ctx.options.expect)
        if uid not in (None, 0):
            # The only evidence is who portdoctor runs as: a guess about the service, so a warning.
            return self.warn(
                f"Port {port} is privileged (below {floor}): if the service runs as {user or uid}, as you do, "
                f"it probably cannot bind it.",
                f"Nothing listens on {port}, and you run as {user or uid}, not root. A service started the same "
                f"way gets EACCES (\"Permission denied\") from bind(); look for that error in its log. If the "
                f"service runs as root or holds CAP_NET_BIND_SERVICE, this is not the cause. portdoctor cannot "
                f"see which user a service that is not running would use.",
                _remediation(port, floor, binary, ctx.systemd), cause="privileged-port", evidence=evidence)
        return self.warn(
            f"Port {port} is privileged (below {floor}): a service running as a non-root user cannot bind it.",
            f"Nothing listens on {port}. If the service runs as a regular user without CAP_NET_BIND_SERVICE, "
            f"its bind() fails with EACCES (\"Permission denied\"): look for that in its log. portdoctor cannot "
            f"tell which user a service that is not running would use.",
            _remediation(port, floor, binary, ctx.systemd), cause="privileged-port", evidence=evidence)
