"""Is the service running? The ``not-listening`` cause.

Fails when nothing is bound to the target's port on any address, for the target's
protocol, in any network namespace the tool can see; says exactly what was looked at
(and what was hidden), and suggests a listening port that looks like a typo of the
target's ("did you mean :8080?").
"""

from __future__ import annotations

from portdoctor.api import (
    INIT_PROCESS,
    Check,
    Context,
    Finding,
    Remediation,
    Socket,
    Status,
    fix,
    hostport,
    is_loopback,
    owner_label,
)


def looks_like_typo(wanted: int, other: int) -> bool:
    """One digit changed, one digit added or removed, or two adjacent digits swapped."""
    a, b = str(wanted), str(other)
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if abs(len(a) - len(b)) == 1:
        short, long_ = (a, b) if len(a) < len(b) else (b, a)
        return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
    return False


class ServiceRunningCheck(Check):
    name = "service-running"
    title = "Is the service running?"
    after = ("well-known-service",)  # reads its finding
    order = 100

    def run(self, ctx: Context) -> Finding:
        port, proto = ctx.target.port, ctx.target.protocol
        snap = ctx.facts
        local = [p.address for p in ctx.probes if snap.is_local(p.address)]
        if ctx.probes and not local:
            return self.skip(f"{ctx.target.host} is not this machine; its services cannot be seen from here.",
                             how="Run portdoctor on that host to see what listens there.",
                             command=f"portdoctor {ctx.target.display}")
        if "sockets" in snap.unread and not ctx.reachable:  # no socket list: "nothing listens" would be a guess
            return self.skip(f"The sockets on port {port}/{proto} were not read: {snap.visibility['sockets']}.",
                             how="Run again; if it repeats, look for a hung mount under /proc (FUSE, lxcfs).",
                             command=f"ss -l{'t' if proto == 'tcp' else 'u'}np 'sport = :{port}'")
        here = ctx.listeners()
        if here:
            where = "; ".join(sorted({f"{s.address} by {owner_label(s)}" for s in here}))
            return self.passed(f"Port {port}/{proto} is listening: {where}.")
        # A port published through NAT (Docker without the userland proxy, CNI hostPort) has no
        # socket here: the published-ports check judges the forward and its destination.
        forwarded = snap.dnat
        if forwarded:
            return self.passed(f"Port {port}/{proto} has no listening socket here but is forwarded by NAT "
                               f"({forwarded[0].describe(port)}); see the published-ports check.")
        if ctx.reachable:
            return self.passed(f"{ctx.target.display} accepted a connection, though no listening socket "
                               "was seen here (a NAT rule or a proxy answers).")
        elsewhere = [s for s in ctx.listeners(own_namespace=False) if s.namespace is not None]
        if elsewhere:
            s = elsewhere[0]
            return self.warn(f"Port {port}/{proto} listens only in another network namespace "
                             f"({s.container or s.namespace}).",
                             "See the other-namespace check for how to reach it.",
                             cause="other-namespace")
        other_proto = "udp" if proto == "tcp" else "tcp"
        if ctx.listeners(protocol=other_proto, own_namespace=False):
            return self.warn(f"Nothing listens on port {port} for {proto.upper()}, but it is bound for "
                             f"{other_proto.upper()}.", "See the protocol-mismatch check.",
                             cause="protocol-mismatch")
        return self._not_listening(ctx)

    def _not_listening(self, ctx: Context) -> Finding:
        from portdoctor.api import inside_container_advice

        port, proto = ctx.target.port, ctx.target.protocol
        snap = ctx.facts
        looked, hidden = _looked_at(ctx)
        detail = "Looked at: " + "; ".join(looked) + "."
        if hidden:
            detail += " Not visible: " + "; ".join(hidden) + "."
        title = f"Nothing is listening on port {port}/{proto}: the service is not running, crashed, or failed to bind."
        typos = _typos(ctx)
        steps = []
        if typos:
            title += f" Did you mean {_did_you_mean(ctx, typos)}?"
            steps.append(_typo_step(ctx, typos[0]))
        loopback = ctx.target.host_defaulted or (bool(ctx.addresses) and all(is_loopback(a) for a in ctx.addresses))
        if snap.in_container and loopback:
            # Inside a container, localhost is the container: where the service really is comes first.
            title += f" (portdoctor runs inside a {snap.in_container} container: localhost is the container.)"
            steps[:0] = [fix(text, command) for text, command in
                         inside_container_advice(snap.in_container, port, proto)]
        evidence = {"looked_at": looked, "hidden": hidden, "did_you_mean": [s.port for s in typos]}
        confirm = fix("Confirm nothing listens on the port:", f"ss -l{'t' if proto == 'tcp' else 'u'}np 'sport = :{port}'")
        service = ctx.finding("well-known-service")
        if service is not None and service.status is Status.FAIL and service.cause == "not-listening":
            # The usual service runs, just not here (another port, a Unix socket, a failed unit):
            # its finding says what to do; "start the service" would contradict it.
            return self.fail("not-listening", title, f"{detail} {service.title}", [*steps, confirm], evidence=evidence)
        return self.fail("not-listening", title, detail, [*steps, *_start_steps(ctx), confirm], evidence=evidence)


# --- what service-running says when nothing listens ------------------------------------


def _looked_at(ctx: Context) -> tuple[list[str], list[str]]:
    """What was looked at (sockets, how they were read, which namespaces), and what was hidden."""
    port, proto, snap = ctx.target.port, ctx.target.protocol, ctx.facts
    looked = [f"{proto.upper()} sockets on port {port}, IPv4 and IPv6, every address and state"]
    source = snap.extras.get("sockets_source")
    if source:
        looked.append({"netlink": "read from the kernel (netlink sock_diag)",
                       "proc": "read from /proc/net"}.get(source, f"read via {source}"))
    scanned = len(snap.namespaces)
    looked.append(f"this network namespace{f' and {scanned} other(s)' if scanned else ''}")
    hidden = [f"{k}: {v}" for k, v in snap.visibility.items() if k in ("sockets", "owners", "namespaces", "netlink")]
    if not snap.privileged and not any(k == "namespaces" for k in snap.visibility):
        hidden.append("other network namespaces (containers) are not visible without root")
    return looked, hidden


def _typos(ctx: Context) -> list[Socket]:
    """Listeners here whose port looks like a typo of the target's, one per port."""
    port, proto = ctx.target.port, ctx.target.protocol
    return sorted({s.port: s for s in ctx.facts.all_listening
                   if s.listening and s.protocol == proto and s.namespace is None
                   and looks_like_typo(port, s.port)}.values(), key=lambda s: s.port)


def _serving_host(ctx: Context, s: Socket) -> str:
    """The address to name for a listener: the target's host when it serves it (a guess
    keeps what the user typed), else its own address (loopback for a wildcard)."""
    if any(ctx.facts.serves(s, a) for a in ctx.addresses):
        return ctx.target.host
    if s.wildcard:
        return "::1" if s.family == 6 else "127.0.0.1"
    return s.address


def _did_you_mean(ctx: Context, typos: list[Socket]) -> str:
    """``:8080 by python3 (pid 4, user bob), 127.0.0.2:8000``: up to three, with their owners."""
    def hint(s: Socket) -> str:
        host = _serving_host(ctx, s)
        where = f":{s.port}" if host == ctx.target.host else hostport(host, s.port)
        return where + (f" by {owner_label(s)}" if s.pid or s.process else "")

    return ", ".join(hint(s) for s in typos[:3])


def _typo_step(ctx: Context, first: Socket) -> Remediation:
    scheme = "udp://" if ctx.target.protocol == "udp" else ""
    return fix(f"Port {first.port} is listening and looks like a typo of {ctx.target.port}; check the port "
               "in your client's configuration.", f"portdoctor {scheme}{hostport(_serving_host(ctx, first), first.port)}")


def _start_steps(ctx: Context) -> list:
    """Start the service and read why it stopped: systemd's words where systemd is PID 1."""
    from portdoctor.api import WELL_KNOWN

    port, proto = ctx.target.port, ctx.target.protocol
    known = WELL_KNOWN.get(port) if proto == "tcp" else None
    unit = ctx.options.expect or (known.units[0] if known and known.units else None) or "SERVICE"
    init = ctx.fact(INIT_PROCESS) if ctx.facts.os == "linux" else None
    if init == "systemd":
        return [
            fix("Start the service (for a systemd unit, by its unit name):", f"sudo systemctl start {unit}"),
            fix("Read why it stopped or failed to bind (look for 'Address already in use', "
                "'Permission denied'):", f"journalctl -u {unit} -n 50 --no-pager"),
        ]
    # a container, WSL without systemd, another init: no systemctl advice
    return [fix("Start the service the way you normally do (its own start command, "
                f"`docker compose up {ctx.options.expect or 'SERVICE'}`, …), and read its "
                "output for 'Address already in use' or 'Permission denied'.", None)]
