"""Is a firewall rule blocking? The ``firewall`` cause.

Walks the packet-filter rules (read by :mod:`portdoctor.facts.firewall`) the way the
kernel does for each failed connection attempt and names the rule that drops or
rejects it, with the exact command that removes it. When the rules cannot be read
(no root, no tool) but a listener serves the address and the connection still failed
the way a filter makes it fail, the cause is *inferred* and said to be so; otherwise
the check skips with how to look.
"""

from __future__ import annotations

from portdoctor.api import Check, Context, Finding, Outcome, Probe, Remediation, fix, hostport

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

    from portdoctor.api import Decision, FirewallFacts, FirewallRule

_FILTER_OUTCOMES = (Outcome.REFUSED, Outcome.TIMEOUT, Outcome.ERROR, Outcome.UNREACHABLE)
EPERM = 1


def _rule_line(rule: FirewallRule) -> str:
    return f"{rule.where}: {rule.text}"


def _reached(decision: Decision) -> str:
    """", reached through INPUT → MYCHAIN" when the deciding rule sits in a jumped-to chain."""
    return f", reached through {' → '.join(decision.path)}" if len(decision.path) > 1 else ""


class FirewallCheck(Check):
    name = "firewall"
    title = "Is a firewall rule blocking?"
    order = 400

    def run(self, ctx: Context) -> Finding | list[Finding]:
        facts: FirewallFacts | None = ctx.facts.firewall
        readable = facts is not None and facts.readable
        forwarded = self._forwarded(ctx, facts) if facts is not None and readable else []
        local = self._local(ctx, facts, readable)
        return [local, *forwarded] if forwarded else local

    def _local(self, ctx: Context, facts: FirewallFacts | None, readable: bool) -> Finding:
        """The finding for this machine's own connection attempts."""
        from portdoctor.api import evaluate, packet_for

        failed = ctx.failed_probes
        if not failed:
            return self.passed("Connected on every address; no rule blocks it.")
        if facts is None or not readable:
            return self._unreadable(ctx, facts, failed)
        local_addrs = [i.address for i in ctx.facts.interfaces]
        blocked: list[tuple[Probe, Decision]] = []
        maybe: list[tuple[Probe, Decision]] = []
        walked: list[str] = []
        for probe in failed:
            packet, hooks = packet_for(probe.address, ctx.target.port, ctx.target.protocol, local_addrs)
            decision = evaluate(facts, packet, hooks)
            walked = walked or decision.walked
            if decision.blocked:
                blocked.append((probe, decision))
            elif decision.maybe:
                maybe.append((probe, decision))
        sources = ", ".join(k for k, v in facts.sources.items() if v == "read")
        if blocked:
            return self._blocked(ctx, facts, blocked)
        if maybe:
            return self._maybe(ctx, facts, maybe)
        n_rules = len(facts.rules())
        return self.passed(
            f"No firewall rule blocks {ctx.target.protocol} to port {ctx.target.port} "
            f"({n_rules} rule{'s' if n_rules != 1 else ''} read from {sources or 'no source'}).",
            "Chains walked: " + ("; ".join(walked) if walked else "none hook this traffic") + ".",
            evidence={"sources": facts.sources})

    # --- connections from other machines to a published port ------------------------
    def _forwarded(self, ctx: Context, facts: FirewallFacts) -> list[Finding]:
        """A FORWARD rule (Docker's DOCKER-USER, ...) that blocks other machines from a port
        that a prerouting DNAT publishes. It never touches this machine's own connections
        (they do not pass FORWARD), so it is a warning beside the local finding."""
        if not any(ctx.facts.is_local(p.address) for p in ctx.probes):
            return []
        port, proto = ctx.target.port, ctx.target.protocol
        for forward in ctx.facts.dnat:
            if forward.kind != "dnat" or forward.hook != "prerouting":
                continue
            decision = facts.forward_verdict(forward, port, proto)
            if decision is None or decision.rule is None:
                continue
            rule = decision.rule
            dest, dest_port = forward.destination(port)
            verb = "drops" if decision.verdict == "drop" else "rejects"
            where = hostport(dest or "", dest_port)
            title = (f"Firewall rule in chain {rule.chain} {verb} connections from other machines to "
                     f"published port {port} (forwarded to {where}): {rule.text}")
            detail = (f"{_rule_line(rule)} (hook forward{_reached(decision)}). The nat rule `{forward.rule}` "
                      f"({forward.table} {forward.chain}) sends port {port} to {where}; the FORWARD hook sees "
                      f"the connection after that rewrite (address {dest}, port {dest_port}) and this rule "
                      f"{verb} it. Connections made from this machine do not pass FORWARD, so they are not "
                      f"affected.")
            steps = self._remedies(ctx, facts, rule)
            if rule.chain == "DOCKER-USER":
                steps.insert(0, fix("Rules in DOCKER-USER see the container's address and port (after DNAT), "
                                    f"not the published port {port}: narrow or remove this one.", None))
            # It explains nothing about a failure seen from here: no cause then, lest it lead the verdict.
            cause = "firewall" if ctx.reachable else None
            return [self.warn(title, detail, steps, cause=cause, evidence={"hook": "forward", "verdict": decision.verdict, "rule": rule.to_dict(), "chain_path": decision.path, "forward": forward.to_dict()})]
        return []

    # --- a rule was found ------------------------------------------------------------
    def _blocked(self, ctx: Context, facts: FirewallFacts, blocked: list[tuple[Probe, Decision]]) -> Finding:
        from portdoctor.api import packet_for, probe_signature

        port, proto = ctx.target.port, ctx.target.protocol
        probe, decision = blocked[0]
        expected = probe_signature(decision)
        seen = str(probe.outcome)
        consistent = seen in expected
        verb = "drops" if decision.verdict == "drop" else "rejects"
        if decision.rule is not None:
            rule = decision.rule
            title = f"Firewall rule {verb} {proto} to {probe.address}:{port}: {rule.text}"
            detail = f"{_rule_line(rule)} (hook {decision.hook}{_reached(decision)}). "
            steps = self._remedies(ctx, facts, rule)
            evidence: dict[str, Any] = {"rule": rule.to_dict(), "chain_path": decision.path}
        else:
            chain = decision.chain
            assert chain is not None, "a blocking decision names its rule or its chain"
            title = (f"Firewall chain {chain.family} {chain.table} {chain.name} {verb} {proto} to "
                     f"{probe.address}:{port} by its default policy (drop): no rule accepts it.")
            detail = f"The {chain.name} chain (hook {decision.hook}) ends in policy drop. "
            steps = [fix("Accept the port before the policy applies:", "sudo " + chain.policy_command(
                packet_for(probe.address, port, proto, [i.address for i in ctx.facts.interfaces])[0]))]
            steps += self._frontend_steps(facts, port, proto)
            evidence = {"chain": f"{chain.family} {chain.table} {chain.name}", "policy": chain.policy}
        detail += self._signature_words(decision, probe, consistent)
        others = [f"{p.address}" for p, _ in blocked[1:]]
        if others:
            detail += f" Also blocked: {', '.join(others)}."
        if decision.maybe:
            detail += " Rules with matchers not evaluated that may also match: " + "; ".join(
                _rule_line(r) for _, r in decision.maybe) + "."
        return self.fail("firewall", title, detail, steps, evidence={"inferred": False, "hook": decision.hook, "verdict": decision.verdict, "probe_outcome": seen, "expected_outcomes": list(expected), **evidence})

    def _maybe(self, ctx: Context, facts: FirewallFacts, maybe: list[tuple[Probe, Decision]]) -> Finding:
        from portdoctor.api import Decision, probe_signature

        port, proto = ctx.target.port, ctx.target.protocol
        probe, decision = maybe[0]
        hook, rule = decision.maybe[0]
        unevaluated = ", ".join(rule.unevaluated) or "matchers portdoctor does not evaluate"
        served = any(ctx.facts.serves(s, probe.address) for s in ctx.listeners())
        title = f"A firewall rule may {rule.action} {proto} to {probe.address}:{port}: {rule.text}"
        detail = (f"{_rule_line(rule)} (hook {hook}) matches the port and address, but also tests "
                  f"{unevaluated}, which portdoctor does not evaluate. The connection {probe.outcome}.")
        steps = self._remedies(ctx, facts, rule)
        steps.append(fix("Watch the rule's counter while you connect, to confirm it is the one:",
                         "sudo nft list ruleset | grep -n counter" if rule.backend == "nftables"
                         else f"sudo {rule.backend} -t {rule.table} -L {rule.chain} -v -n --line-numbers"))
        expected = probe_signature(Decision(rule.action or "drop", hook, rule))
        if served and str(probe.outcome) in expected:
            return self.fail("firewall", title, detail + " A listener serves that address, so the rule is the "
                             "likely cause.", steps, evidence={"inferred": False, "may_match": True, "rule": rule.to_dict()})
        return self.warn(title, detail, steps, cause="firewall", evidence={"may_match": True, "rule": rule.to_dict()})

    @staticmethod
    def _signature_words(decision: Decision, probe: Probe, consistent: bool) -> str:
        from portdoctor.api import probe_signature

        how = {"timeout": "a timeout", "refused": "refused", "unreachable": "unreachable (EHOSTUNREACH)",
               "error": "EPERM at once"}
        expected = " or ".join(how[o] for o in probe_signature(decision))
        if consistent:
            return f"The connection failed as such a rule makes it fail: {how.get(str(probe.outcome), str(probe.outcome))}."
        return (f"Such a rule shows as {expected}, but the connection was {probe.outcome}; "
                "something before it may refuse first.")

    def _remedies(self, ctx: Context, facts: FirewallFacts, rule: FirewallRule) -> list[Remediation]:
        port, proto = ctx.target.port, ctx.target.protocol
        steps = []
        if rule.chain.startswith("ufw") and (facts.ufw_active or facts.ufw_status is None):
            steps.append(fix("The rule belongs to ufw; allow the port there (ufw rewrites its chains):",
                             f"sudo ufw allow {port}/{proto}"))
        if rule.table == "firewalld" or rule.chain.startswith(("filter_IN_", "IN_")):
            steps.append(fix("The rule belongs to firewalld; open the port in the zone (add --permanent to keep it):",
                             f"sudo firewall-cmd --add-port={port}/{proto}"))
        steps.append(fix("Delete the rule (it is not saved: also remove it from the ruleset file or the "
                         "tool that loads it):", f"sudo {rule.removal_command()}"))
        if not steps[:-1]:
            steps += self._frontend_steps(facts, port, proto)
        return steps

    @staticmethod
    def _frontend_steps(facts: FirewallFacts, port: int, proto: str) -> list[Remediation]:
        steps = []
        if facts.ufw_active:
            steps.append(fix("ufw is active; allow the port there:", f"sudo ufw allow {port}/{proto}"))
        if facts.firewalld_running:
            steps.append(fix("firewalld is running; open the port in the zone:",
                             f"sudo firewall-cmd --add-port={port}/{proto}"))
        return steps

    # --- the rules could not be read -------------------------------------------------
    def _unreadable(self, ctx: Context, facts: FirewallFacts | None, failed: list[Probe]) -> Finding:
        port = ctx.target.port
        why = "; ".join(f"{k}: {v}" for k, v in (facts.unreadable.items() if facts else [])) \
            or ctx.facts.visibility.get("firewall", "the rules were not read")
        listeners = ctx.listeners()
        counters = ctx.facts.extras.get("listen_counters")
        overflowed = bool(counters is not None and counters.overflows)  # queue evidence beats an inference
        suspicious = []
        for probe in failed:
            if probe.outcome not in _FILTER_OUTCOMES:
                continue
            if probe.outcome is Outcome.ERROR and probe.errno != EPERM:
                continue
            if probe.outcome is Outcome.TIMEOUT and ctx.target.protocol == "udp":
                continue  # UDP has no handshake: silence is what an unanswered datagram looks like
            serving = [s for s in listeners if ctx.facts.serves(s, probe.address)]
            if not serving:
                continue
            if any(s.recv_queue is not None and s.send_queue is not None and s.recv_queue >= max(s.send_queue, 1)
                   for s in serving) or overflowed:
                continue  # a full accept queue (listen(0) too) also times out: the backlog check's case
            suspicious.append((probe, serving[0]))
        how = "Read the rules as root to see which one it is."
        command = "sudo nft list ruleset; sudo iptables-save"
        if not suspicious:
            needs_root = not ctx.facts.privileged and all(
                "root" in v or "ermission" in v or "not permitted" in v for v in (facts.unreadable.values() if facts else [why]))
            return self.skip(f"Cannot read the firewall rules ({'they need root' if needs_root else why}).",
                             how=how, command=command, evidence={"unreadable": why})
        probe, sock = suspicious[0]
        words = {Outcome.REFUSED: "was refused (as by a REJECT rule)", Outcome.TIMEOUT: "timed out (as by a DROP rule)",
                 Outcome.ERROR: "failed at once with EPERM (as by a DROP rule in OUTPUT)",
                 Outcome.UNREACHABLE: "was unreachable (as by a REJECT with icmp *-prohibited)"}[probe.outcome]
        title = (f"INFERRED: a firewall rule probably blocks port {port}: {sock.address}:{port} is listening, "
                 f"yet the connection to {probe.address} {words.split(' (')[0]}.")
        detail = (f"The rules could not be read ({why}), so this is inferred, not seen: a listener serves "
                  f"{probe.address}, and the connection {words}.")
        steps = [
            fix("Confirm with root, and find the rule that matches the port:", "sudo nft list ruleset"),
            fix("For iptables rules:", "sudo iptables-save; sudo ip6tables-save"),
            fix("Or run the diagnosis as root to have the rule named with its removal command:",
                f"sudo portdoctor {ctx.target.input}"),
        ]
        return self.fail("firewall", title, detail, steps, evidence={"inferred": True, "probe_outcome": str(probe.outcome), "unreadable": why})
