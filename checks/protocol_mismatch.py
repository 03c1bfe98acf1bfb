"""Is the port bound for the other protocol? The ``protocol-mismatch`` cause.

A TCP client gets "connection refused" from a port that only a UDP socket holds (DNS
forwarders, WireGuard, QUIC, syslog, statsd), and a ``udp://`` target gets ICMP
port-unreachable from a TCP-only port. UDP has no handshake: a bound UDP socket that
does not answer an empty datagram is normal, so silence plus a bound socket passes.
"""

from __future__ import annotations

from portdoctor.api import Check, Context, Finding, Outcome, Remediation, Socket, fix, hostport, owner_label


def _owner(sockets: list[Socket]) -> str:
    named = [owner_label(s) for s in sockets if s.process and s.pid]
    where = ", ".join(sorted({f"{s.address}:{s.port}" for s in sockets}))
    return f"{named[0]} on {where}" if named else where


def _see_both_protocols(os_name: str, port: int) -> Remediation:
    return fix("See both protocols on the port.",
               f"ss -tulpn 'sport = :{port}'" if os_name == "linux" else
               f"lsof -nP -i :{port}" if os_name == "darwin" else
               f"Get-NetUDPEndpoint -LocalPort {port}; Get-NetTCPConnection -LocalPort {port}")


def _in_ns(sockets: list[Socket]) -> str:
    labels = sorted({s.namespace for s in sockets if s.namespace})
    return f" in network namespace {', '.join(labels)}" if labels else ""


class ProtocolMismatchCheck(Check):
    name = "protocol-mismatch"
    title = "Is the port bound for the other protocol (TCP vs UDP)?"
    order = 120

    def applies(self, ctx: Context) -> bool:
        return any(ctx.facts.is_local(a) for a in ctx.addresses)

    def run(self, ctx: Context) -> Finding:
        tcp = ctx.listeners(protocol="tcp", own_namespace=False)
        udp = ctx.listeners(protocol="udp", own_namespace=False)
        answered = bool(ctx.probes) and all(p.outcome is Outcome.OPEN for p in ctx.probes)
        if ctx.target.protocol == "tcp":
            return self._tcp_target(ctx, tcp, udp, answered)
        return self._udp_target(ctx, tcp, udp, answered)

    def _tcp_target(self, ctx: Context, tcp: list[Socket], udp: list[Socket], answered: bool) -> Finding:
        """A TCP client: refused because only a UDP socket holds the port?"""
        port, host = ctx.target.port, ctx.target.host
        if tcp:
            return self.passed(f"A TCP socket listens on port {port}.")
        if not udp:
            return self.passed(f"Nothing is bound to port {port} for either protocol.")
        if answered:
            return self.passed(f"Port {port} answered over TCP.")
        return self.fail(
            "protocol-mismatch",
            f"Port {port} is bound for UDP only ({_owner(udp)}{_in_ns(udp)}); nothing listens for TCP.",
            "A TCP connection to a port that only a UDP socket holds is refused: the two protocols have "
            "separate port spaces. Either the client should speak UDP (DNS, WireGuard, QUIC/HTTP3, syslog, "
            "statsd), or the service was configured for UDP by mistake.",
            [
                fix("Test the port over UDP instead.", f"portdoctor udp://{hostport(host, port)}"),
                _see_both_protocols(ctx.facts.os, port),
                fix("If the service should speak TCP, fix its listen setting (e.g. `udp` → `tcp` in its "
                    "config, or a `-p PORT:PORT/udp` Docker mapping that should be `/tcp`).", None),
            ],
            evidence={"udp_sockets": [s.to_listener_dict() for s in udp]},
        )

    def _udp_target(self, ctx: Context, tcp: list[Socket], udp: list[Socket], answered: bool) -> Finding:
        """A udp:// target: a bound UDP socket (silence is normal), or a TCP-only port?"""
        port, host = ctx.target.port, ctx.target.host
        if udp:
            if answered:
                return self.passed(f"A UDP socket is bound to port {port} and replied.")
            silent = [p for p in ctx.probes if p.outcome is Outcome.TIMEOUT]
            if silent and len(silent) == len(ctx.failed_probes):
                return self.passed(
                    f"A UDP socket is bound to port {port} ({_owner(udp)}); it did not reply to an empty "
                    "datagram, which is normal for UDP.",
                    "UDP has no handshake: silence means the datagram was delivered or dropped, and with a "
                    "bound socket and no ICMP error it was delivered. Test with a real request "
                    f"(e.g. `dig @{host} -p {port} example.test` for DNS).",
                )
            return self.passed(f"A UDP socket is bound to port {port}.")
        if tcp and not answered:
            return self.fail(
                "protocol-mismatch",
                f"Port {port} listens for TCP only ({_owner(tcp)}{_in_ns(tcp)}); no UDP socket is bound.",
                "The datagram was answered with ICMP port-unreachable (or silence) because no UDP socket "
                "holds the port, while a TCP listener does. The client should use TCP, or the service "
                "should also bind UDP.",
                [
                    fix("Test the port over TCP instead.", f"portdoctor {hostport(host, port)}"),
                    _see_both_protocols(ctx.facts.os, port),
                    fix("For Docker, publish the UDP side explicitly (the default is TCP).",
                        f"docker run -p {port}:{port}/udp ..."),
                ],
                evidence={"tcp_sockets": [s.to_listener_dict() for s in tcp]},
            )
        return self.passed(f"No TCP listener competes for port {port}.")
