"""The one rule model: tables' chains and their rules, as both the filter and NAT read them.

``nft -j list ruleset`` (:mod:`.nft`) and ``iptables-save`` / ``ip6tables-save``
(:mod:`.iptables`) are each parsed once into the same objects:

- :class:`Chain`: a chain of a table, with its hook, priority, policy and type (filter,
  nat, route) when it is a base chain; ``hook`` None for a regular (user) chain;
- :class:`FirewallRule`: one rule, with its :class:`Matcher` conditions (negations
  included), its verdict (accept, drop, reject, jump, goto, return), the chain it jumps
  to, its comment, and its :class:`NatTarget` for DNAT / SNAT / MASQUERADE / REDIRECT;
- :class:`Ruleset`: every chain read on this machine, the raw dumps, ufw / firewalld state,
  and the query API the checks use (:meth:`Ruleset.filter_verdict`, :meth:`Ruleset.dnat_for`,
  :meth:`Ruleset.forward_verdict`).

A jump is a jump because its target is a chain declared in that table, whatever its
spelling (``DOCKER-USER``, ``KUBE-SERVICES``, ``ufw-user-input``, ``MYCHAIN``).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable

from portdoctor.records import dataclass, field
from portdoctor.records import field as _field  # Matcher has an attribute named `field`
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

    from portdoctor.facts.rules.evaluate import Decision, DnatRule

BLOCKING = ("drop", "reject")
NftRuleKey = tuple[str, str, str, int]  # (family, table, chain, handle)


@dataclass
class Packet:
    """The first packet of a connection attempt (a SYN for TCP), as the filter sees it.

    ``None`` means unknown (a matcher on it "may match"); ``""`` for an interface means
    there is none at this hook (no input interface on output).
    """

    family: int  # 4 | 6
    protocol: str  # "tcp" | "udp"
    daddr: str
    dport: int
    saddr: str | None = None
    iif: str | None = None
    oif: str | None = None
    ctstate: str = "new"


@dataclass
class Matcher:
    """One condition of a rule. ``evaluate`` returns True, False, or None (not evaluated)."""

    field: str  # family | l4proto | dport | sport | saddr | daddr | iif | oif | ctstate | unknown
    values: list[Any] = _field(default_factory=list)
    negate: bool = False
    text: str = ""  # for "unknown": what it was

    def __post_init__(self) -> None:
        self.text = clean_text(self.text)  # quotes the rule, which its author chose

    def evaluate(self, packet: Packet, hook: str) -> bool | None:
        if self.field == "unknown":
            return None
        actual: Any
        if self.field == "family":
            actual = packet.family
        elif self.field == "l4proto":
            actual = packet.protocol
        elif self.field == "dport":
            actual = packet.dport
        elif self.field == "sport":
            return None  # the client's ephemeral port is not known before connecting
        elif self.field in ("saddr", "daddr"):
            actual = packet.saddr if self.field == "saddr" else packet.daddr
        elif self.field in ("iif", "oif"):
            actual = packet.iif if self.field == "iif" else packet.oif
            if hook in ("output",) and self.field == "iif":
                actual = ""
            if hook in ("prerouting", "input") and self.field == "oif":
                actual = ""
        elif self.field == "ctstate":
            actual = packet.ctstate
        else:
            return None
        if actual is None:
            return None
        hit = any(value_matches(self.field, v, actual) for v in self.values)
        return (not hit) if self.negate else hit

    def describe(self) -> str:
        if self.field == "unknown":
            return self.text
        values = ",".join(describe_value(v) for v in self.values)
        return f"{self.field} {'!=' if self.negate else '=='} {values}"


def describe_value(value: Any) -> str:
    """A port range (low, high) as "80" or "80-90"; anything else as str()."""
    if isinstance(value, tuple):
        return f"{value[0]}-{value[1]}" if value[0] != value[1] else str(value[0])
    return str(value)


def value_matches(kind: str, value: Any, actual: Any) -> bool:
    if kind in ("dport", "sport"):
        low, high = value
        return bool(low <= actual <= high)
    if kind in ("saddr", "daddr"):
        try:
            address = ipaddress.ip_address(str(actual).split("%")[0])
            if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                return address in value
            if isinstance(value, tuple):  # an address range (iprange, nft a-b)
                low, high = value
                return low.version == address.version and bool(low <= address <= high)
            return bool(address == value)
        except (ValueError, TypeError):
            return False
    if kind in ("iif", "oif"):
        if actual == "":
            return False
        pattern = str(value)
        if pattern.endswith(("+", "*")):
            return str(actual).startswith(pattern[:-1])
        return str(actual) == pattern
    return bool(value == actual)


@dataclass
class NatTarget:
    """What a NAT rule does: ``kind`` dnat | snat | masquerade | redirect.

    ``address`` None keeps the address (redirect: this machine); ``port`` None keeps the port.
    """

    kind: str
    address: str | None = None
    port: int | None = None


class RuleTexts:
    """The nftables rules' text as ``nft -a list ruleset`` prints it, read on first use.

    The JSON dump has no rule text; the text dump is needed only when a finding quotes an
    nft rule, so it is read then, once per run, whatever the number of targets.
    """

    def __init__(self, load: Callable[[], str | None] | None = None, text: str | None = None):
        self._load = load
        self._text = text
        self._texts: dict[NftRuleKey, str] | None = None
        self._lock = threading.Lock()

    @property
    def text(self) -> str | None:
        """The whole ``nft -a list ruleset`` text (read now if it was not yet)."""
        self._ensure()
        return self._text

    def get(self, key: NftRuleKey) -> str | None:
        self._ensure()
        return (self._texts or {}).get(key)

    def _ensure(self) -> None:
        with self._lock:
            if self._texts is not None:
                return
            if self._text is None and self._load is not None:
                self._text = self._load()
            from portdoctor.facts.rules.nft import nft_rule_texts

            self._texts = nft_rule_texts(self._text)


@dataclass
class FirewallRule:
    """One rule, with the fields a report shows and the matchers the walk evaluates."""

    backend: str  # "nftables" | "iptables" | "ip6tables"
    family: str  # nftables family (ip, ip6, inet, ...); "ip"/"ip6" for iptables/ip6tables
    table: str
    chain: str
    position: int  # 1-based place in its chain
    handle: int | None  # nftables handle
    given_text: str  # iptables-save's line; for nft a stand-in until the `nft -a` text is read
    matchers: list[Matcher] = field(default_factory=list)
    action: str | None = None  # accept | drop | reject | jump | goto | return | vmap | other | None
    target: str | None = None  # jump/goto chain, or the iptables target (LOG, DNAT ..., MARK ...)
    reject_with: str | None = None  # "tcp reset", "icmp-host-prohibited", ...
    verdict_map: list[tuple[Any, str, str | None]] | None = None  # vmap: (value, action, target)
    vmap_field: str | None = None
    comment: str | None = None
    nat: NatTarget | None = None
    summary: str = ""  # nft: a short text built from the JSON (for NAT views; no extra nft run)
    texts: RuleTexts | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Rule text, comments and chain names are chosen by whoever wrote the rules: clean them here.
        self.given_text, self.comment, self.summary = (clean_text(self.given_text), clean_text(self.comment),
                                                       clean_text(self.summary))
        self.chain, self.target = clean_text(self.chain), clean_text(self.target)

    @property
    def text(self) -> str:
        """The rule as its tool prints it (``nft -a list ruleset`` / ``iptables-save``)."""
        if self.texts is not None and self.handle is not None:
            found = self.texts.get((self.family, clean_text(self.table), self.chain, self.handle))
            if found:
                return str(clean_text(found))
        return self.given_text

    # Summary fields for reports and for other checks (derived from the matchers).
    @property
    def protocol(self) -> str | None:
        return next((m.values[0] for m in self.matchers if m.field == "l4proto" and not m.negate
                     and len(m.values) == 1), None)

    @property
    def dport(self) -> list[tuple[int, int]]:
        return [v for m in self.matchers if m.field == "dport" and not m.negate for v in m.values]

    @property
    def saddr(self) -> list[str]:
        return [describe_value(v) for m in self.matchers if m.field == "saddr" for v in m.values]

    @property
    def daddr(self) -> list[str]:
        return [describe_value(v) for m in self.matchers if m.field == "daddr" for v in m.values]

    @property
    def iif(self) -> list[str]:
        return [str(v) for m in self.matchers if m.field == "iif" for v in m.values]

    @property
    def oif(self) -> list[str]:
        return [str(v) for m in self.matchers if m.field == "oif" for v in m.values]

    @property
    def unevaluated(self) -> list[str]:
        return [m.text for m in self.matchers if m.field == "unknown"]

    def matches(self, packet: Packet, hook: str) -> bool | None:
        """True, False, or None when only unevaluated matchers stand in the way."""
        result: bool | None = True
        for m in self.matchers:
            r = m.evaluate(packet, hook)
            if r is False:
                return False
            if r is None:
                result = None
        return result

    @property
    def where(self) -> str:
        """table/chain/handle (or position), for a report."""
        if self.backend == "nftables":
            return f"{self.family} {self.table} {self.chain} handle {self.handle}"
        return f"{self.backend} -t {self.table} {self.chain} rule {self.position}"

    def removal_command(self) -> str:
        """The exact command that deletes this rule."""
        if self.backend == "nftables":
            return f"nft delete rule {self.family} {self.table} {self.chain} handle {self.handle}"
        spec = self.text
        prefix = f"-A {self.chain} "
        if spec.startswith(prefix):
            spec = spec[len(prefix):]
        table = "" if self.table == "filter" else f"-t {self.table} "
        return f"{self.backend} {table}-D {self.chain} {spec}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "family": self.family, "table": self.table, "chain": self.chain,
            "position": self.position, "handle": self.handle, "text": self.text, "action": self.action,
            "target": self.target, "reject_with": self.reject_with, "protocol": self.protocol,
            "dport": [describe_value(v) for v in self.dport], "saddr": self.saddr, "daddr": self.daddr,
            "iif": self.iif, "oif": self.oif, "unevaluated": self.unevaluated,
        }


@dataclass
class Chain:
    """A chain of a table. Base chains have a hook (and a policy); user chains do not."""

    backend: str
    family: str
    table: str
    name: str
    hook: str | None = None  # input | output | prerouting | postrouting | forward | None (regular)
    priority: int = 0
    policy: str | None = None  # accept | drop, for base chains
    type: str | None = None  # filter | nat | route
    rules: list[FirewallRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = clean_text(self.name)  # as the rules' chain and target names are

    @property
    def families(self) -> tuple[int, ...]:
        return {"ip": (4,), "ip6": (6,), "inet": (4, 6)}.get(self.family, ())

    @property
    def label(self) -> str:
        """"inet filter input" (nftables) or "iptables -t filter INPUT", for a report."""
        if self.backend == "nftables":
            return f"{self.family} {self.table} {self.name}"
        return f"{self.backend} -t {self.table} {self.name}"

    def policy_command(self, packet: Packet) -> str:
        """A command that lets the packet through a drop policy (an accept rule at the top)."""
        if self.backend == "nftables":
            return (f"nft insert rule {self.family} {self.table} {self.name} "
                    f"{packet.protocol} dport {packet.dport} accept")
        table = "" if self.table == "filter" else f"-t {self.table} "
        return f"{self.backend} {table}-I {self.name} -p {packet.protocol} --dport {packet.dport} -j ACCEPT"


@dataclass
class Ruleset:
    """The packet-filter and NAT rules of this namespace, and the raw text they came from.

    Machine-wide: read once per run and shared by every target's snapshot (read-only).
    The query API for checks:

    - :meth:`filter_verdict` - what the filter does to a packet (the rule or policy that
      accepts, drops or rejects it, and the chains walked to get there);
    - :meth:`dnat_for` - the DNAT / REDIRECT forwards that can apply to a port;
    - :meth:`forward_verdict` - what the FORWARD hook (Docker's ``DOCKER-USER``,
      ``DOCKER``) does to a connection from another machine after a forward rewrote it.
    """

    chains: list[Chain] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # tool -> "read" | why not
    nft_json: dict[str, Any] | None = None
    iptables_save: str | None = None
    ip6tables_save: str | None = None
    ufw_status: str | None = None
    firewalld_state: str | None = None
    nft_texts: RuleTexts = field(default_factory=RuleTexts, repr=False, compare=False)

    @property
    def nft_text(self) -> str | None:
        """``nft -a list ruleset`` (read on first use: only findings that quote nft rules need it)."""
        return self.nft_texts.text

    @property
    def readable(self) -> bool:
        """At least one rule source could be read (an empty ruleset counts)."""
        return any(v == "read" for k, v in self.sources.items() if k in ("nftables", "iptables", "ip6tables"))

    @property
    def unreadable(self) -> dict[str, str]:
        return {k: v for k, v in self.sources.items() if v != "read"}

    @property
    def ufw_active(self) -> bool:
        return bool(self.ufw_status and "Status: active" in self.ufw_status)

    @property
    def firewalld_running(self) -> bool:
        return bool(self.firewalld_state and self.firewalld_state.strip() == "running")

    def rules(self) -> list[FirewallRule]:
        return [r for c in self.chains for r in c.rules]

    def chain(self, backend: str, family: str, table: str, name: str) -> Chain | None:
        for c in self.chains:
            if c.backend == backend and c.family == family and c.table == table and c.name == name:
                return c
        return None

    # --- the query API ---------------------------------------------------------------

    def filter_verdict(self, packet: Packet, hooks: Iterable[str] | None = None) -> Decision:
        """What the filter does to ``packet`` at ``hooks`` (default: a local connection's hooks).

        Returns a :class:`~portdoctor.facts.rules.evaluate.Decision`: ``verdict``
        (accept | drop | reject), the deciding ``rule`` (None for a chain's policy), the
        ``chain``, the ``path`` of chains jumped through, and rules that ``maybe`` match.
        Use :func:`~portdoctor.facts.rules.evaluate.packet_for` to build the packet.
        """
        from portdoctor.facts.rules.evaluate import LOCAL_HOOKS, evaluate

        return evaluate(self, packet, LOCAL_HOOKS if hooks is None else hooks)

    def dnat_for(self, port: int, protocol: str = "tcp", address: str | None = None) -> list[DnatRule]:
        """DNAT / REDIRECT forwards reachable from a nat prerouting or output hook that can
        apply to ``port`` (and to ``address``, when given), in rule order.

        Each :class:`~portdoctor.facts.rules.evaluate.DnatRule` names its hook, the rule
        (table, chain, text) and where the connection ends up (``destination(port)``).
        """
        from portdoctor.facts.rules.evaluate import dnat_rules

        return [r for r in dnat_rules(self, port, protocol) if r.matches(port, protocol, address)]

    def forward_verdict(self, forward: DnatRule, port: int, protocol: str = "tcp") -> Decision | None:
        """The FORWARD hook's rule that blocks a connection from another machine after
        ``forward`` rewrote it (the container's address and port, as Docker's ``DOCKER-USER``
        sees it), or None when no rule is seen to block it. A policy alone never counts:
        the interfaces of a packet from elsewhere are not known here.
        """
        from portdoctor.facts.rules.evaluate import forward_decision

        return forward_decision(self, forward, port, protocol)


FirewallFacts = Ruleset  # the name the first release used

__all__ = [
    "BLOCKING", "Chain", "FirewallFacts", "FirewallRule", "Matcher", "NatTarget", "Packet", "RuleTexts",
    "Ruleset", "describe_value", "value_matches",
]
