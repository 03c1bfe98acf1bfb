"""Is the port published through NAT, and is its destination up? Docker, CNI, DNAT rules.

Docker with the userland proxy off, Kubernetes/CNI ``hostPort`` and hand-written rules
forward a port with destination NAT: nothing listens on it here, and a connection goes
to the destination (a container's address) instead. This check names the forward and
judges the destination from the probe that went through it: refused means nothing
listens at the destination, silence means it is down or unreachable. A PREROUTING-only
forward does not apply to connections made from this machine.
"""

from __future__ import annotations

from portdoctor.api import Check, Context, DnatRule, Finding, Outcome, Probe, Remediation, fix, hostport


def _where(address: str | None, port: int) -> str:
    if address is None:
        return f"local port {port}"
    return hostport(address, port)


class PublishedPortsCheck(Check):
    name = "published-ports"
    title = "Is the port published through NAT, and is its destination up?"
    order = 130

    def applies(self, ctx: Context) -> bool:
        return bool(ctx.facts.dnat)

    def _steps(self, ctx: Context, rule: DnatRule, dest: str | None, dest_port: int) -> list[Remediation]:
        port = ctx.target.port
        steps = []
        if dest is not None:
            steps.append(fix("See which container publishes the port, and whether it is running.",
                             f"docker ps -a --filter publish={port} --format '{{{{.Names}}}} {{{{.Status}}}} {{{{.Ports}}}}'"))
            steps.append(fix("Test the destination directly.", f"portdoctor {_where(dest, dest_port)}"))
        else:
            steps.append(fix(f"Start the service on local port {dest_port}, or fix the redirect.",
                             f"ss -ltnp 'sport = :{dest_port}'"))
        steps.append(fix("See the NAT rule in context.",
                         "sudo nft list table " + rule.table if rule.source == "nft" and rule.table
                         else "sudo iptables -t nat -S"))
        steps.append(fix("If the container restarted with a new address, recreate the mapping "
                         "(docker compose up -d / restart the pod) so the rule points at it.", None))
        return steps

    def run(self, ctx: Context) -> Finding | list[Finding]:
        rules = list(ctx.facts.dnat)
        judged = [self._judge(ctx, rules, p) for p in ctx.probes if ctx.facts.is_local(p.address)]
        findings = [f for f in judged if f is not None]
        if not findings:
            port = ctx.target.port
            forwards = "; ".join(sorted({r.describe(port) for r in rules}))
            return self.passed(f"Port {port} has NAT forwards ({forwards}), none of which changes these connections.")
        return findings

    def _judge(self, ctx: Context, rules: list[DnatRule], probe: Probe) -> Finding | None:
        """One local probe: the forward it took (OUTPUT), docker-proxy, or a forward it misses (PREROUTING)."""
        port, proto = ctx.target.port, ctx.target.protocol
        # Traffic from this machine passes the OUTPUT hook only; docker-proxy has its own socket.
        applicable = [r for r in rules if r.hook == "output" and r.matches(port, proto, probe.address)]
        if applicable:
            return self._forwarded(ctx, applicable[0], probe)
        proxies = [r for r in rules if r.kind == "docker-proxy"]
        if proxies:
            dest, dest_port = proxies[0].destination(port)
            return self.passed(
                f"Port {port} is published by docker-proxy to {_where(dest, dest_port)}.",
                "docker-proxy accepts the connection itself and then connects to the container, so a "
                "successful connect does not prove the container's service answers: test it with a real "
                f"request (e.g. curl), or the destination directly: portdoctor {_where(dest, dest_port)}.",
                evidence={"rule": proxies[0].to_dict()})
        outside = [r for r in rules if r.hook == "prerouting"]
        if outside and probe.outcome is not Outcome.OPEN:
            return self._only_from_outside(ctx, outside[0])
        return None

    def _forwarded(self, ctx: Context, rule: DnatRule, probe: Probe) -> Finding:
        """The probe went through this DNAT rule: did its destination answer?"""
        port, proto = ctx.target.port, ctx.target.protocol
        dest, dest_port = rule.destination(port)
        forward = f"{rule.describe(port)}, rule `{rule.rule}`"
        evidence = dict(rule=rule.to_dict(), destination=_where(dest, dest_port), outcome=str(probe.outcome))
        if probe.outcome is Outcome.OPEN:
            return self.passed(f"{probe.address}:{port} is forwarded by NAT to "
                               f"{_where(dest, dest_port)}, which answered.", forward, evidence=evidence)
        nothing_here = ""
        if dest is None or ctx.facts.is_local(dest):
            bound = [s for s in ctx.facts.all_listening
                     if s.port == dest_port and s.protocol == proto and s.namespace is None]
            if not bound:
                nothing_here = f" Nothing on this machine listens on port {dest_port}."
        if probe.outcome is Outcome.REFUSED:
            return self.fail(
                "not-listening",
                f"Port {port} is forwarded by NAT to {_where(dest, dest_port)}, and nothing listens there.",
                f"{forward}. The forward works, but the destination refused the connection: its service "
                f"is not running, or listens on another port or only on its own loopback.{nothing_here}",
                self._steps(ctx, rule, dest, dest_port), evidence=evidence)
        return self.fail(
            "unreachable",
            f"Port {port} is forwarded by NAT to {_where(dest, dest_port)}, which does not answer "
            f"({probe.outcome}).",
            f"{forward}. The destination is down (a stopped container keeps its stale rule until "
            f"recreated), or no route leads to it.{nothing_here}",
            self._steps(ctx, rule, dest, dest_port), evidence=evidence)

    def _only_from_outside(self, ctx: Context, rule: DnatRule) -> Finding:
        """A PREROUTING forward: other machines reach the destination, this one does not."""
        port = ctx.target.port
        dest, dest_port = rule.destination(port)
        return self.fail(
            "wrong-interface",
            f"Port {port} is forwarded only for traffic from other machines ({rule.describe(port)}); "
            f"connections from this machine are not.",
            f"Rule `{rule.rule}` sits in a PREROUTING chain, which packets sent from this machine never "
            f"pass. From here, connect to the destination directly; other machines reach it through "
            f"this port.",
            [fix("Connect to the destination from this machine.", f"portdoctor {_where(dest, dest_port)}"),
             fix("Or add the same DNAT for locally generated traffic (an `output` nat hook).",
                 f"sudo nft add rule ip nat output tcp dport {port} dnat to {_where(dest, dest_port)}")],
            evidence={"rule": rule.to_dict()})
