"""The server side's own firewall question: would the CLIENT's packet get in?

A diagnosis on the server probes its own address, which travels over ``lo``; a rule
set that starts with ``iif lo accept`` (most do) lets that probe in while dropping
the client's. With ``--ssh``, the agent adds :class:`ClientIngressCheck`: it evaluates
the rules for the packet the client actually sends: from the client's address
(``SSH_CONNECTION``), arriving on the interface that holds the target address, through
prerouting and input. A blocking rule is the ``firewall`` cause with the rule and the
command that removes it; rules it cannot evaluate make it a warning, never a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from portdoctor.api import Check, Context, Finding, fix
from portdoctor.facts.firewall import Packet, evaluate

INGRESS_HOOKS = ("prerouting", "input")


def client_address(environ: Mapping[str, str] = os.environ) -> str | None:
    """The SSH client's address as this server sees it (``SSH_CONNECTION``: client port server port)."""
    parts = environ.get("SSH_CONNECTION", "").split()
    return parts[0] if len(parts) == 4 else None


class ClientIngressCheck(Check):
    name = "firewall-from-client"
    title = "Would this host's firewall let the client's connection in?"
    order = 410  # right after the firewall check, which judges this host's own probe

    def __init__(self, client: str | None = None):
        self.client = client

    def applies(self, ctx: Context) -> bool:
        address = ctx.addresses[0] if ctx.addresses else None
        return address is not None and ctx.facts.is_local(address) and ctx.facts.interface_of(address) not in (None, "lo")

    def run(self, ctx: Context) -> Finding:
        address = ctx.addresses[0]
        port, proto = ctx.target.port, ctx.target.protocol
        facts = ctx.facts.firewall
        if facts is None or not facts.readable:
            return self.skip("The firewall rules on this host could not be read.",
                             how="Run with --ssh-sudo (sudo -n) or as root there.")
        iface = ctx.facts.interface_of(address)
        family = 6 if ":" in address else 4
        packet = Packet(family, proto, address, port, self.client, iif=iface, oif="")
        decision = evaluate(facts, packet, INGRESS_HOOKS)
        source = self.client or "the client"
        what = f"{proto} from {source} to {address}:{port} arriving on {iface}"
        evidence: dict[str, Any] = {"packet": {"saddr": self.client, "daddr": address, "dport": port, "iif": iface},
                    "walked": decision.walked}
        if decision.blocked:
            verb = "drops" if decision.verdict == "drop" else "rejects"
            if decision.rule is not None:
                rule = decision.rule
                return self.fail(
                    "firewall", f"Firewall rule {verb} {what}: {rule.text}",
                    f"{rule.where} (hook {decision.hook}). This host's own probe may still pass (it travels "
                    "over lo); the client's packet does not.",
                    [fix("Remove the rule (or narrow it to the sources it is meant for):", rule.removal_command())],
                    evidence={**evidence, "rule": rule.to_dict()})
            chain = decision.chain
            name = f"{chain.family} {chain.table} {chain.name}" if chain is not None else "a base chain"
            steps = [fix("Allow the port before the policy applies:", chain.policy_command(packet))] if chain else []
            return self.fail("firewall", f"The policy of {name} {verb} {what}: no rule accepts it.",
                             f"hook {decision.hook}", steps, evidence=evidence)
        if decision.maybe:
            hook, rule = decision.maybe[0]
            return self.warn(f"A rule may block {what} (it uses matches portdoctor does not evaluate): {rule.text}",
                             f"{rule.where} (hook {hook}); unevaluated: {', '.join(rule.unevaluated) or '?'}.",
                             [fix("Look at the rule:", "sudo nft -a list ruleset")], cause="firewall", evidence=evidence)
        return self.passed(f"No rule blocks {what}.", evidence=evidence)
