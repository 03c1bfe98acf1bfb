"""What the rules do: the filter's verdict for a packet, and the NAT path of a port.

- :func:`evaluate` walks the chains a packet meets (output, postrouting, prerouting, input
  for local traffic), in priority order, following jumps and gotos into any chain of the
  table and honouring ``return`` and chain policies, and returns the :class:`Decision`:
  which rule (or policy) accepts, drops or rejects it, and the chains it went through.
  Matchers the model does not evaluate (rate limits, marks, owner, ...) make a rule
  "may match": it is reported, never silently taken as a match or a miss.
- :func:`dnat_rules` lists the DNAT / REDIRECT rules reachable from a nat prerouting or
  output hook, each with the conditions met on the way (the jumps' matchers included),
  as :class:`DnatRule` entries; :func:`forward_decision` evaluates the FORWARD hook for a
  connection such a rule rewrote (Docker's ``DOCKER-USER`` sees the container's port).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from portdoctor.facts.rules.iptables import TABLE_PRIORITY
from portdoctor.facts.rules.model import BLOCKING, Chain, FirewallRule, Matcher, Packet, Ruleset, describe_value
from portdoctor.facts.rules.nft import nft_values
from portdoctor.records import dataclass, field
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

LOCAL_HOOKS = ("output", "postrouting", "prerouting", "input")
REMOTE_HOOKS = ("output", "postrouting")
DNAT_HOOKS = ("prerouting", "output")  # only these hooks rewrite a new connection's destination
_MAX_DEPTH = 32


@dataclass
class Decision:
    """What the rules do to one packet."""

    verdict: str  # accept | drop | reject
    hook: str | None = None  # where it was decided
    rule: FirewallRule | None = None  # None: a chain policy (see ``chain``) or nothing at all
    chain: Chain | None = None
    maybe: list[tuple[str, FirewallRule]] = field(default_factory=list)  # (hook, blocking rule that may match)
    walked: list[str] = field(default_factory=list)  # base chains walked, for the report
    path: list[str] = field(default_factory=list)  # chains from the base chain to the deciding rule's

    @property
    def blocked(self) -> bool:
        return self.verdict in BLOCKING


def base_chains(ruleset: Ruleset, hook: str, family: int) -> list[Chain]:
    """The filtering base chains at ``hook`` for ``family``, in the order the kernel runs them."""
    found = [c for c in ruleset.chains
             if c.hook == hook and family in c.families and c.type in ("filter", "route", None)
             and (c.backend == "nftables" or c.table in TABLE_PRIORITY)]
    return sorted(found, key=lambda c: c.priority)


def evaluate(ruleset: Ruleset, packet: Packet, hooks: Iterable[str] = LOCAL_HOOKS) -> Decision:
    """Walk the rules a packet meets; the first drop/reject wins, else it is accepted."""
    maybe: list[tuple[str, FirewallRule]] = []
    walked: list[str] = []
    for hook in hooks:
        for chain in base_chains(ruleset, hook, packet.family):
            walked.append(f"{chain.backend}:{chain.family} {chain.table} {chain.name} ({hook})")
            path = [chain.name]
            result = _walk(ruleset, chain, packet, hook, maybe, path)
            if result is None:  # fell off the end: the chain's policy
                if chain.policy == "drop":
                    return Decision("drop", hook, None, chain, maybe, walked, [chain.name])
                continue
            verdict, rule = result
            if verdict in BLOCKING:
                return Decision(verdict, hook, rule, ruleset.chain(rule.backend, rule.family, rule.table, rule.chain),
                                maybe, walked, path)
    return Decision("accept", None, None, None, maybe, walked)


def _walk(ruleset: Ruleset, chain: Chain, packet: Packet, hook: str,
          maybe: list[tuple[str, FirewallRule]], path: list[str]) -> tuple[str, FirewallRule] | None:
    """The verdict of ``chain`` for ``packet``: (accept|drop|reject, rule), or None (fell through / return).

    ``path`` holds the chains entered so far; on a verdict it ends with the deciding rule's chain.
    """
    if len(path) > _MAX_DEPTH:
        return None
    for rule in chain.rules:
        hit = rule.matches(packet, hook)
        if hit is False:
            continue
        action, target = rule.action, rule.target
        if action == "vmap" and rule.verdict_map is not None:
            action, target = _vmap_choice(rule, packet, hook)
            if action is None:
                continue
        sub = ruleset.chain(rule.backend, rule.family, rule.table, target) \
            if action in ("jump", "goto") and target else None
        if hit is None:
            # Only unevaluated matchers stand in the way: note a blocking rule, walk on.
            if action in BLOCKING:
                maybe.append((hook, rule))
            elif sub is not None:
                before = len(maybe)
                result = _walk(ruleset, sub, packet, hook, maybe, [*path, sub.name])
                if result and result[0] in BLOCKING and len(maybe) == before:
                    maybe.append((hook, result[1]))
            continue
        if action == "accept":
            return "accept", rule
        if action in BLOCKING:
            return action, rule
        if action == "return":
            return None
        if sub is not None:
            inner = [*path, sub.name]
            result = _walk(ruleset, sub, packet, hook, maybe, inner)
            if result is not None:
                path[:] = inner
                return result
            if action == "goto":
                return None
    return None


def _vmap_choice(rule: FirewallRule, packet: Packet, hook: str) -> tuple[str | None, str | None]:
    probe = Matcher(rule.vmap_field or "unknown")
    for value, verdict, target in rule.verdict_map or []:
        probe.values = nft_values(probe.field, value, lambda _n: None) or []
        if probe.evaluate(packet, hook):
            return verdict, target
    return None, None


def is_local_address(address: str, interface_addresses: Iterable[str] = ()) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or address.split("%")[0] in {a.split("%")[0] for a in interface_addresses}


def packet_for(address: str, port: int, protocol: str,
               interface_addresses: Iterable[str] = ()) -> tuple[Packet, tuple[str, ...]]:
    """The packet a connection to address:port sends, and the hooks it meets on this machine."""
    family = 6 if ":" in address else 4
    if is_local_address(address, interface_addresses):
        daddr = address.split("%")[0]
        if daddr in ("0.0.0.0", "::"):
            daddr = "127.0.0.1" if family == 4 else "::1"
        ip = ipaddress.ip_address(daddr)
        saddr = "127.0.0.1" if family == 4 and ip.is_loopback else daddr
        return Packet(family, protocol, daddr, port, saddr, iif="lo", oif="lo"), LOCAL_HOOKS
    return Packet(family, protocol, address, port, None, iif=None, oif=None), REMOTE_HOOKS


def probe_signature(decision: Decision) -> tuple[str, ...]:
    """The probe outcomes a connect() can show when this decision blocks it.

    DROP in OUTPUT: the SYN never leaves; depending on the kernel, connect() fails at once
    with EPERM ("error", errno 1) or retransmits until the deadline ("timeout").
    DROP in INPUT: a timeout. REJECT: refused, or unreachable (EHOSTUNREACH) for the
    icmp *-prohibited / host-unreachable kinds.
    """
    if decision.verdict == "drop":
        return ("error", "timeout") if decision.hook in ("output", "postrouting") else ("timeout",)
    how = (decision.rule.reject_with or "") if decision.rule else ""
    if any(w in how for w in ("prohibited", "host-unreach", "net-unreach", "no-route", "adm")):
        return ("unreachable",)
    return ("refused",)


# --- the NAT path -------------------------------------------------------------------


@dataclass
class AddressMatch:
    """One ``ip daddr`` / ``-d`` condition: the destination is (or is not) in ``network``."""

    network: str
    negated: bool = False

    def accepts(self, address: str) -> bool:
        try:
            inside = ipaddress.ip_address(address.split("%", 1)[0]) in ipaddress.ip_network(self.network, strict=False)
        except ValueError:
            return True  # cannot tell; do not rule the rule out
        return inside != self.negated

    def __str__(self) -> str:
        return ("not " if self.negated else "") + self.network


@dataclass
class DnatRule:
    """A rule that sends connections for a port somewhere else.

    ``kind``: "dnat" (to another address), "redirect" (to a local port) or
    "docker-proxy" (a userland proxy that listens and connects onward).
    ``to_address`` is None for a redirect (this machine); ``to_port`` None keeps the port.
    ``conditions``: every matcher met on the way (the jumps' and the rule's own), which
    :meth:`matches` evaluates; ``ports`` / ``daddr`` summarise them for reports.
    """

    kind: str
    source: str  # "nft" | "iptables" | "docker-proxy"
    hook: str | None  # "prerouting" (traffic from other machines) | "output" (from this one) | None
    protocol: str | None  # "tcp" | "udp" | None for any
    ports: list[tuple[int, int]] | None  # destination port ranges matched; None for any
    to_address: str | None
    to_port: int | None
    daddr: list[AddressMatch] = field(default_factory=list)
    table: str = ""
    chain: str = ""
    rule: str = ""  # the rule as its tool prints it, for the report
    container: str | None = None
    conditions: list[Matcher] = field(default_factory=list, repr=False)
    path: list[str] = field(default_factory=list)  # chains from the nat hook to the rule's

    def __post_init__(self) -> None:
        # Rule text (comments) and container names are chosen by others: clean them here.
        self.rule = clean_text(self.rule)
        self.container = clean_text(self.container)
        self.chain = clean_text(self.chain)

    def matches(self, port: int, protocol: str, address: str | None = None) -> bool:
        if self.protocol and self.protocol != protocol:
            return False
        if self.ports is not None and not any(lo <= port <= hi for lo, hi in self.ports):
            return False
        if address is not None and not all(m.accepts(address) for m in self.daddr):
            return False
        family = (6 if ":" in address else 4) if address else None
        packet = Packet(family or 4, protocol, address or "", port)
        for m in self.conditions:  # negated ports, protocols, families and addresses on the way
            known = m.field in ("dport", "l4proto") or (m.field in ("family", "daddr") and family is not None)
            if known and m.evaluate(packet, self.hook or "prerouting") is False:
                return False
        return True

    def destination(self, port: int) -> tuple[str | None, int]:
        """Where a connection to ``port`` ends up: (address or None for this machine, port)."""
        return self.to_address, self.to_port or port

    def describe(self, port: int) -> str:
        address, to_port = self.destination(port)
        where = f"{address}:{to_port}" if address and ":" not in address else (
            f"[{address}]:{to_port}" if address else f"local port {to_port}")
        via = {"prerouting": " (PREROUTING: traffic from other machines)",
               "output": " (OUTPUT: traffic from this machine)"}.get(self.hook or "", "")
        return f"{self.kind.upper() if self.kind != 'docker-proxy' else 'docker-proxy'} to {where}{via}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "source": self.source, "hook": self.hook, "protocol": self.protocol,
            "ports": self.ports, "to_address": self.to_address, "to_port": self.to_port,
            "daddr": [str(m) for m in self.daddr], "table": self.table, "chain": self.chain,
            "rule": self.rule, "container": self.container,
        }


def _address_matches(matchers: list[Matcher]) -> list[AddressMatch]:
    return [AddressMatch(describe_value(v), m.negate) for m in matchers if m.field == "daddr" for v in m.values
            if not isinstance(v, tuple)]


def _own_ports(rule: FirewallRule) -> list[tuple[int, int]] | None:
    ports = [v for m in rule.matchers if m.field == "dport" and not m.negate for v in m.values]
    return ports or None


def dnat_rules(ruleset: Ruleset, port: int | None = None, protocol: str = "tcp") -> list[DnatRule]:
    """The DNAT / REDIRECT rules reachable from a nat prerouting or output hook, once per
    (hook, path), with the conditions met on the way.

    With ``port``, the walk is for that port: a rule whose port or protocol cannot match is
    passed over, a ``return`` (or an earlier forward) that surely applies ends the walk
    there, as the kernel would; conditions on what is not known (interfaces, addresses,
    unevaluated matchers) never rule a forward out.
    """
    out: list[DnatRule] = []
    for chain in ruleset.chains:
        if chain.type == "nat" and chain.hook in DNAT_HOOKS:
            _collect_nat(ruleset, chain, chain.hook, [], [chain.name], out,
                         None if port is None else (port, protocol))
    return out


_DECIDED, _RETURNED = "decided", "returned"


def _known_match(rule: FirewallRule, for_port: tuple[int, str] | None) -> bool | None:
    """Does ``rule`` match a connection to the port: True, False, or None (cannot tell)?"""
    if for_port is None:
        return None
    port, protocol = for_port
    packet = Packet(4, protocol, "", port)
    result: bool | None = True
    for m in rule.matchers:
        if m.field in ("dport", "l4proto"):
            if m.evaluate(packet, "prerouting") is False:
                return False
        else:
            result = None
    return result


def _collect_nat(ruleset: Ruleset, chain: Chain, hook: str, conditions: list[Matcher], path: list[str],
                 out: list[DnatRule], for_port: tuple[int, str] | None) -> str | None:
    if len(path) > _MAX_DEPTH or len(out) > 4096:
        return None
    for rule in chain.rules:
        known = _known_match(rule, for_port)
        if known is False:
            continue
        if rule.action in ("jump", "goto") and rule.target:
            sub = ruleset.chain(rule.backend, rule.family, rule.table, rule.target)
            if sub is None or sub.name in path:
                continue
            ended = _collect_nat(ruleset, sub, hook, conditions + rule.matchers, [*path, sub.name], out, for_port)
            if ended == _DECIDED or (known and rule.action == "goto"):
                return ended or _RETURNED
            continue
        if known and rule.action in ("return", "accept"):
            return _RETURNED if rule.action == "return" else _DECIDED
        nat = rule.nat
        if nat is None or nat.kind not in ("dnat", "redirect"):
            continue
        if nat.kind == "dnat" and rule.backend != "nftables" and nat.address is None:
            continue  # a DNAT without --to-destination: not a forward we can name
        nft = rule.backend == "nftables"
        own = list(rule.matchers)
        out.append(DnatRule(
            nat.kind, "nft" if nft else "iptables", hook, rule.protocol, _own_ports(rule),
            nat.address if nat.kind == "dnat" else None, nat.port,
            _address_matches(conditions) + _address_matches(own),
            f"{rule.family} {rule.table}" if nft else rule.table, rule.chain,
            rule.summary if nft else rule.text, None, conditions + own, list(path)))
        if known:
            return _DECIDED
    return None


def forward_decision(ruleset: Ruleset, forward: DnatRule, port: int, protocol: str = "tcp") -> Decision | None:
    """The FORWARD rule that blocks a connection from another machine after ``forward``
    rewrote it, or None. The packet's interfaces and source are unknown (a rule on them
    "may match"), so a chain's policy alone is never reported."""
    address, to_port = forward.destination(port)
    if address is None or forward.hook != "prerouting":
        return None
    try:
        family = ipaddress.ip_address(address).version
    except ValueError:
        return None
    packet = Packet(family, protocol, address, to_port, None, iif=None, oif=None)
    decision = evaluate(ruleset, packet, ("forward",))
    return decision if decision.blocked and decision.rule is not None else None
