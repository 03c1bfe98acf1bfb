"""Packet-filter rules (nftables, iptables, ip6tables, ufw, firewalld), read and evaluated.

:func:`gather_firewall` reads the rules, bounded (``nft -j list ruleset``, ``nft -a list
ruleset`` for each rule's text, ``iptables-save``, ``ip6tables-save``, and ``ufw status`` /
``firewall-cmd`` where installed) into a :class:`FirewallFacts` on ``Snapshot.firewall``.
The raw outputs stay on that object (``nft_json``, ``iptables_save``, ...) for checks that
need more than the filter verdict, such as a DNAT diagnosis of the nat table.

:func:`evaluate` walks the chains a packet meets (output, postrouting, prerouting, input
for local traffic), in priority order, following jumps and gotos and honouring chain
policies, and returns the :class:`Decision`: which rule (or policy) accepts, drops or
rejects it. Matchers this module does not evaluate (rate limits, marks, owner, ...) make
a rule "may match": it is reported, never silently taken as a match or a miss.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portdoctor.bounded import CommandResult, parallel_map, run_command
from portdoctor.sanitize import clean_text

COMMAND_TIMEOUT = 2.0
BLOCKING = ("drop", "reject")

# iptables tables that can filter, with the priority of their chains in nftables terms.
_IPTABLES_TABLE_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
_IPTABLES_HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output",
                   "POSTROUTING": "postrouting", "FORWARD": "forward"}


# --- the model ----------------------------------------------------------------------


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
    values: list[Any] = field(default_factory=list)
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
        hit = any(_value_matches(self.field, v, actual) for v in self.values)
        return (not hit) if self.negate else hit

    def describe(self) -> str:
        if self.field == "unknown":
            return self.text
        values = ",".join(_describe_value(v) for v in self.values)
        return f"{self.field} {'!=' if self.negate else '=='} {values}"


def _describe_value(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{value[0]}-{value[1]}" if value[0] != value[1] else str(value[0])
    return str(value)


def _value_matches(kind: str, value: Any, actual: Any) -> bool:
    if kind in ("dport", "sport"):
        low, high = value
        return low <= actual <= high
    if kind in ("saddr", "daddr"):
        try:
            address = ipaddress.ip_address(str(actual).split("%")[0])
            return address in value if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
                else address == value
        except (ValueError, TypeError):
            return False
    if kind in ("iif", "oif"):
        if actual == "":
            return False
        pattern = str(value)
        if pattern.endswith(("+", "*")):
            return str(actual).startswith(pattern[:-1])
        return str(actual) == pattern
    return value == actual


@dataclass
class FirewallRule:
    """One rule, with the fields a report shows and the matchers the walk evaluates."""

    backend: str  # "nftables" | "iptables" | "ip6tables"
    family: str  # nftables family (ip, ip6, inet, ...); "ip"/"ip6" for iptables/ip6tables
    table: str
    chain: str
    position: int  # 1-based place in its chain
    handle: int | None  # nftables handle
    text: str  # as `nft list ruleset` / `iptables-save` prints it
    matchers: list[Matcher] = field(default_factory=list)
    action: str | None = None  # accept | drop | reject | jump | goto | return | other | None
    target: str | None = None  # jump/goto chain, or the iptables target (LOG, DNAT, ...)
    reject_with: str | None = None  # "tcp reset", "icmp-host-prohibited", ...
    verdict_map: list[tuple[Any, str, str | None]] | None = None  # vmap: (value, action, target)
    vmap_field: str | None = None

    def __post_init__(self) -> None:
        # The text carries rule comments, which whoever added the rule chose: clean it here.
        self.text = clean_text(self.text)

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
        return [str(v) for m in self.matchers if m.field == "saddr" for v in m.values]

    @property
    def daddr(self) -> list[str]:
        return [str(v) for m in self.matchers if m.field == "daddr" for v in m.values]

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
            "dport": [_describe_value(v) for v in self.dport], "saddr": self.saddr, "daddr": self.daddr,
            "iif": self.iif, "oif": self.oif, "unevaluated": self.unevaluated,
        }


@dataclass
class Chain:
    backend: str
    family: str
    table: str
    name: str
    hook: str | None = None  # input | output | prerouting | postrouting | forward | None (regular)
    priority: int = 0
    policy: str | None = None  # accept | drop, for base chains
    type: str | None = None  # filter | nat | route
    rules: list[FirewallRule] = field(default_factory=list)

    @property
    def families(self) -> tuple[int, ...]:
        return {"ip": (4,), "ip6": (6,), "inet": (4, 6)}.get(self.family, ())

    def policy_command(self, packet: Packet) -> str:
        """A command that lets the packet through a drop policy (an accept rule at the top)."""
        if self.backend == "nftables":
            return (f"nft insert rule {self.family} {self.table} {self.name} "
                    f"{packet.protocol} dport {packet.dport} accept")
        table = "" if self.table == "filter" else f"-t {self.table} "
        return f"{self.backend} {table}-I {self.name} -p {packet.protocol} --dport {packet.dport} -j ACCEPT"


@dataclass
class Decision:
    """What the rules do to one packet."""

    verdict: str  # accept | drop | reject
    hook: str | None = None  # where it was decided
    rule: FirewallRule | None = None  # None: a chain policy (see ``chain``) or nothing at all
    chain: Chain | None = None
    maybe: list[tuple[str, FirewallRule]] = field(default_factory=list)  # (hook, blocking rule that may match)
    walked: list[str] = field(default_factory=list)  # base chains walked, for the report

    @property
    def blocked(self) -> bool:
        return self.verdict in BLOCKING


@dataclass
class FirewallFacts:
    """The packet-filter rules of this namespace, and the raw text they came from."""

    chains: list[Chain] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # tool -> "read" | why not
    nft_json: dict | None = None
    nft_text: str | None = None
    iptables_save: str | None = None
    ip6tables_save: str | None = None
    ufw_status: str | None = None
    firewalld_state: str | None = None
    firewalld_list_all: str | None = None

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


# --- gathering ----------------------------------------------------------------------


def gather_firewall(snap) -> None:
    """Read every rule source into ``snap.firewall``; note what could not be read."""
    facts = read_firewall()
    snap.firewall = facts
    if facts.unreadable and not facts.readable:
        snap.visibility["firewall"] = unreadable_summary(facts)


_DENIED = re.compile(r"permission denied|operation not permitted|you must be root", re.IGNORECASE)


def unreadable_summary(facts: FirewallFacts) -> str:
    """One short line on why no rules were read, for the report's notes.

    The firewall check's finding carries every tool's full message; the note only says
    what it means: "the rules need root (iptables-save: Permission denied)".
    """
    reasons = list(facts.unreadable.values())
    for why in reasons:
        denied = _DENIED.search(why)
        if denied:
            program = why.split()[0].rstrip(":")
            return f"the rules need root ({program}: {denied.group(0)})"
    missing = [why.removesuffix(" not found") for why in reasons if why.endswith(" not found")]
    if missing and len(missing) == len(reasons):
        return f"no firewall tool is installed ({', '.join(missing)} not found)"
    first = reasons[0] if reasons else "no rule source answered"
    return f"the rules could not be read ({first if len(first) <= 80 else first[:79] + '…'})"


def read_firewall(timeout: float = COMMAND_TIMEOUT) -> FirewallFacts:
    commands: dict[str, list[str]] = {
        "nft-json": ["nft", "-j", "list", "ruleset"],
        "nft-text": ["nft", "-a", "list", "ruleset"],
        "iptables": ["iptables-save"],
        "ip6tables": ["ip6tables-save"],
    }
    if shutil.which("ufw"):
        commands["ufw"] = ["ufw", "status"]
    if shutil.which("firewall-cmd"):
        commands["firewalld-state"] = ["firewall-cmd", "--state"]
        commands["firewalld-list"] = ["firewall-cmd", "--list-all"]
    outputs = parallel_map(lambda argv: run_command(argv, timeout), list(commands.values()))
    results = dict(zip(commands, outputs))
    return build_facts(results)


def _why_not(result: CommandResult) -> str:
    if result.error:
        return result.error
    text = (result.stderr or result.stdout).strip().splitlines()
    return f"{result.argv[0]} exited {result.returncode}: {text[0] if text else 'no output'}"


def build_facts(results: dict[str, CommandResult]) -> FirewallFacts:
    """Parse the commands' results (keys as in :func:`read_firewall`) into facts."""
    facts = FirewallFacts()
    ipt_tables: dict[str, set[str]] = {"ip": set(), "ip6": set()}
    for key, family, backend in (("iptables", "ip", "iptables"), ("ip6tables", "ip6", "ip6tables")):
        r = results.get(key)
        if r is None:
            continue
        if r.ok and "you must be root" not in r.stderr.lower():
            setattr(facts, "iptables_save" if key == "iptables" else "ip6tables_save", r.stdout)
            chains = parse_iptables_save(r.stdout, backend)
            facts.chains.extend(chains)
            facts.sources[backend] = "read"
            if "nf_tables" in r.stdout:  # iptables-nft: the same rules also show in nft's ruleset
                ipt_tables[family] |= {c.table for c in chains}
        else:
            facts.sources[backend] = _why_not(r)
    rj, rt = results.get("nft-json"), results.get("nft-text")
    if rj is not None:
        if rj.ok:
            try:
                facts.nft_json = json.loads(rj.stdout or '{"nftables": []}')
                facts.nft_text = rt.stdout if rt is not None and rt.ok else None
                facts.chains.extend(parse_nft_json(facts.nft_json, facts.nft_text, skip_tables=ipt_tables))
                facts.sources["nftables"] = "read"
            except (ValueError, TypeError, KeyError) as exc:
                facts.sources["nftables"] = f"nft -j output could not be parsed: {exc}"
        else:
            facts.sources["nftables"] = _why_not(rj)
    if "ufw" in results:
        r = results["ufw"]
        facts.ufw_status = r.stdout if r.ok else None
        facts.sources["ufw"] = "read" if r.ok else _why_not(r)
    if "firewalld-state" in results:
        r = results["firewalld-state"]
        facts.firewalld_state = (r.stdout or r.stderr).strip() or None
        facts.sources["firewalld"] = "read" if r.returncode is not None else _why_not(r)
        listing = results.get("firewalld-list")
        facts.firewalld_list_all = listing.stdout if listing is not None and listing.ok else None
    return facts


# --- nftables -----------------------------------------------------------------------

_NFT_TABLE = re.compile(r"^table (\S+) (\S+) \{")
_NFT_CHAIN = re.compile(r"^\s*chain (\S+) \{")
_NFT_HANDLE = re.compile(r"^\s*(.*?)\s*# handle (\d+)\s*$")


def nft_rule_texts(text: str | None) -> dict[tuple[str, str, str, int], str]:
    """(family, table, chain, handle) -> the rule as ``nft -a list ruleset`` prints it."""
    texts: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = None
    for line in (text or "").splitlines():
        if m := _NFT_TABLE.match(line):
            family, table, chain = m.group(1), m.group(2), None
            continue
        if m := _NFT_CHAIN.match(line):
            chain = m.group(1)
            continue
        if re.match(r"^\s*(set|map|flowtable|counter|quota|ct) \S+ \{", line):
            chain = None
            continue
        if chain and (m := _NFT_HANDLE.match(line)) and family and table:
            texts[(family, table, chain, int(m.group(2)))] = m.group(1)
    return texts


def parse_nft_json(doc: dict, text: str | None = None,
                   skip_tables: dict[str, set[str]] | None = None) -> list[Chain]:
    """Chains and rules from ``nft -j list ruleset``; ``text`` (``nft -a``) gives rule texts.

    ``skip_tables``: family -> table names already read through iptables-save (iptables-nft
    shows the same rules in both; the iptables form is the one users remove rules with).
    """
    skip_tables = skip_tables or {}
    texts = nft_rule_texts(text)
    items = doc.get("nftables", []) if isinstance(doc, dict) else []
    sets: dict[tuple[str, str, str], list[Any]] = {}
    chains: dict[tuple[str, str, str], Chain] = {}
    for item in items:
        if "set" in item:
            s = item["set"]
            sets[(s["family"], s["table"], s["name"])] = s.get("elem", [])
        elif "map" in item:
            s = item["map"]
            sets[(s["family"], s["table"], s["name"])] = s.get("elem", [])
        elif "chain" in item:
            c = item["chain"]
            if c["table"] in skip_tables.get(c["family"], set()):
                continue
            prio = c.get("prio", 0)
            chains[(c["family"], c["table"], c["name"])] = Chain(
                "nftables", c["family"], c["table"], c["name"], c.get("hook"),
                prio if isinstance(prio, int) else 0, c.get("policy"), c.get("type"))
    for item in items:
        if "rule" not in item:
            continue
        r = item["rule"]
        chain = chains.get((r["family"], r["table"], r["chain"]))
        if chain is None:
            continue
        handle = r.get("handle")
        rule = FirewallRule("nftables", r["family"], r["table"], r["chain"], len(chain.rules) + 1, handle,
                            texts.get((r["family"], r["table"], r["chain"], handle), "")
                            or r.get("comment", "") or json.dumps(r.get("expr", [])))
        for expr in r.get("expr", []):
            _nft_expr(rule, expr, lambda name: sets.get((r["family"], r["table"], name)))  # noqa: B023 (called at once)
        chain.rules.append(rule)
    return list(chains.values())


_NFT_ADDR_PROTOCOLS = {"ip": 4, "ip6": 6}
_NFT_L4 = ("tcp", "udp", "sctp", "dccp", "udplite")


def _nft_expr(rule: FirewallRule, expr: dict, lookup_set) -> None:
    (kind, body), = expr.items()
    if kind == "match":
        for m in _nft_match(body, lookup_set):
            rule.matchers.append(m)
    elif kind in ("accept", "drop", "return"):
        rule.action = kind
    elif kind == "reject":
        rule.action = "reject"
        body = body or {}
        rule.reject_with = " ".join(str(body[k]) for k in ("type", "expr") if body.get(k)) or None
    elif kind in ("jump", "goto"):
        rule.action, rule.target = kind, body["target"]
    elif kind == "xt":
        if body.get("type") == "target":
            name = body.get("name", "")
            rule.action = {"REJECT": "reject", "DROP": "drop", "ACCEPT": "accept"}.get(name, "other")
            rule.target = name
        else:
            rule.matchers.append(Matcher("unknown", text=f"xt match {body.get('name', '?')}"))
    elif kind == "vmap":
        key = body.get("key", {})
        probe = _nft_match({"op": "==", "left": key, "right": 0}, lookup_set)
        data = body.get("data", {})
        elems = data.get("set", []) if isinstance(data, dict) else []
        if isinstance(data, str) and data.startswith("@"):
            elems = lookup_set(data[1:]) or []
        entries = []
        for entry in elems:
            if isinstance(entry, dict) and "map" in entry:  # not expected, defensive
                continue
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
                (verdict, arg), = entry[1].items()
                entries.append((entry[0], verdict, (arg or {}).get("target") if isinstance(arg, dict) else None))
        if len(probe) == 1 and probe[0].field != "unknown" and probe[0].field not in ("family",):
            rule.vmap_field = probe[0].field
            rule.verdict_map = entries
            rule.action = "vmap"
        else:
            rule.matchers.append(Matcher("unknown", text="verdict map on " + json.dumps(key)))
            rule.action = "other"
    elif kind in ("limit", "quota", "connlimit", "fib"):
        rule.matchers.append(Matcher("unknown", text=f"{kind} {json.dumps(body)}"))
    elif kind in ("dnat", "snat", "masquerade", "redirect"):
        rule.action, rule.target = "other", kind
    elif kind == "queue":
        rule.matchers.append(Matcher("unknown", text="queue (a userspace program decides)"))
        rule.action = "drop"
    # counter, log, meta set, mangle, notrack, ...: statements that do not decide.


def _nft_match(body: dict, lookup_set) -> list[Matcher]:
    op, left, right = body.get("op", "=="), body.get("left"), body.get("right")
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return [Matcher("unknown", text=f"{json.dumps(left)} {op} {json.dumps(right)}")]
    implied: list[Matcher] = []
    fieldname: str | None = None
    if isinstance(left, dict) and "payload" in left:
        p = left["payload"]
        proto, fld = p.get("protocol"), p.get("field")
        if fld in ("dport", "sport") and (proto in _NFT_L4 or proto == "th"):
            fieldname = fld
            if proto != "th":
                implied.append(Matcher("l4proto", [proto]))
        elif proto in _NFT_ADDR_PROTOCOLS and fld in ("saddr", "daddr"):
            fieldname = fld
            implied.append(Matcher("family", [_NFT_ADDR_PROTOCOLS[proto]]))
        elif (proto, fld) in (("ip", "protocol"), ("ip6", "nexthdr")):
            fieldname = "l4proto"
            implied.append(Matcher("family", [_NFT_ADDR_PROTOCOLS[proto]]))
    elif isinstance(left, dict) and "meta" in left:
        key = left["meta"].get("key")
        fieldname = {"l4proto": "l4proto", "iif": "iif", "iifname": "iif", "oif": "oif",
                     "oifname": "oif", "nfproto": "family", "protocol": "family"}.get(key)
    elif isinstance(left, dict) and "ct" in left and left["ct"].get("key") == "state":
        fieldname = "ctstate"
    if fieldname is None:
        return [Matcher("unknown", text=f"{_short(left)} {op} {_short(right)}")]
    values = _nft_values(fieldname, right, lookup_set)
    if values is None:
        return [*implied, Matcher("unknown", text=f"{_short(left)} {op} {_short(right)}")]
    return [*implied, Matcher(fieldname, values, negate)]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."


def _nft_values(fieldname: str, right: Any, lookup_set) -> list[Any] | None:
    """The right-hand side as a list of comparable values; None when not understood."""
    if isinstance(right, str) and right.startswith("@"):
        elems = lookup_set(right[1:])
        return None if elems is None else _nft_values(fieldname, {"set": elems}, lookup_set)
    if isinstance(right, dict) and "set" in right:
        out: list[Any] = []
        for e in right["set"]:
            v = _nft_values(fieldname, e, lookup_set)
            if v is None:
                return None
            out.extend(v)
        return out
    if isinstance(right, list):  # ct state established,related
        return _nft_values(fieldname, {"set": right}, lookup_set)
    if isinstance(right, dict) and "elem" in right:
        return _nft_values(fieldname, right["elem"].get("val"), lookup_set)
    try:
        if fieldname in ("dport", "sport"):
            if isinstance(right, dict) and "range" in right:
                return [(int(right["range"][0]), int(right["range"][1]))]
            return [(int(right), int(right))]
        if fieldname in ("saddr", "daddr"):
            if isinstance(right, dict) and "prefix" in right:
                return [ipaddress.ip_network(f"{right['prefix']['addr']}/{right['prefix']['len']}", strict=False)]
            if isinstance(right, dict) and "range" in right:
                return None
            return [ipaddress.ip_address(str(right))]
        if fieldname == "family":
            return [{"ipv4": 4, "ip": 4, "ipv6": 6, "ip6": 6}[str(right)]]
        if fieldname == "l4proto":
            return [{"6": "tcp", "17": "udp"}.get(str(right), str(right))]
        if fieldname == "ctstate":
            return [str(right)]
        if fieldname in ("iif", "oif"):
            return [str(right)]
    except (ValueError, TypeError, KeyError):
        return None
    return None


# --- iptables-save ------------------------------------------------------------------

_KNOWN_MODULES = {"tcp", "udp", "multiport", "conntrack", "state", "comment", "icmp", "icmp6", "addrtype"}


def parse_iptables_save(text: str, backend: str = "iptables") -> list[Chain]:
    """Chains and rules from ``iptables-save`` / ``ip6tables-save`` output (every table)."""
    family = "ip6" if backend == "ip6tables" else "ip"
    chains: dict[tuple[str, str], Chain] = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if table is None:
            continue
        if line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            hook = _IPTABLES_HOOKS.get(name)
            chains[(table, name)] = Chain(
                backend, family, table, name, hook, _IPTABLES_TABLE_PRIORITY.get(table, 0),
                policy.lower() if policy != "-" else None, "filter" if table in _IPTABLES_TABLE_PRIORITY else table)
            continue
        if line.startswith("-A "):
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            name = words[1]
            chain = chains.setdefault((table, name), Chain(backend, family, table, name))
            rule = FirewallRule(backend, family, table, name, len(chain.rules) + 1, None, line)
            _iptables_rule(rule, words[2:], family)
            chain.rules.append(rule)
    return list(chains.values())


def _ports(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        out.append((int(low or 0), int(high or 65535) if _ else int(low)))
    return out


def _networks(spec: str) -> list[Any]:
    return [ipaddress.ip_network(p, strict=False) for p in spec.split(",")]


def _iptables_rule(rule: FirewallRule, words: list[str], family: str) -> None:
    i, negate, in_target = 0, False, False
    target_args: list[str] = []

    def value() -> str:
        nonlocal i
        i += 1
        return words[i] if i < len(words) else ""

    while i < len(words):
        w = words[i]
        if w == "!":
            negate = True
            i += 1
            continue
        if in_target:
            if w == "--reject-with":
                rule.reject_with = value()
            else:
                target_args.append(w)
            i += 1
            continue
        try:
            if w in ("-p", "--protocol"):
                proto = value()
                rule.matchers.append(Matcher("l4proto", [{"6": "tcp", "17": "udp"}.get(proto, proto)], negate))
            elif w in ("-s", "--source", "-d", "--destination"):
                rule.matchers.append(Matcher("saddr" if w in ("-s", "--source") else "daddr", _networks(value()), negate))
            elif w in ("-i", "--in-interface", "-o", "--out-interface"):
                rule.matchers.append(Matcher("iif" if w in ("-i", "--in-interface") else "oif", [value()], negate))
            elif w in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                rule.matchers.append(Matcher("dport", _ports(value()), negate))
            elif w in ("--sport", "--source-port", "--sports", "--source-ports"):
                rule.matchers.append(Matcher("sport", _ports(value()), negate))
            elif w in ("--ctstate", "--state"):
                rule.matchers.append(Matcher("ctstate", [s.lower() for s in value().split(",")], negate))
            elif w == "--syn":
                pass  # the first packet of a connection is a SYN: always true for what we probe
            elif w == "--comment":
                value()
            elif w in ("-m", "--match"):
                module = value()
                if module not in _KNOWN_MODULES:
                    rule.matchers.append(Matcher("unknown", text=f"-m {module}"))
            elif w in ("-j", "--jump", "-g", "--goto"):
                target = value()
                in_target = True
                if target in ("ACCEPT", "DROP", "REJECT", "RETURN"):
                    rule.action = target.lower()
                elif w in ("-g", "--goto"):
                    rule.action, rule.target = "goto", target
                elif target.isupper():  # LOG, DNAT, MARK, ...: an extension target
                    rule.action, rule.target = "other", target
                else:
                    rule.action, rule.target = "jump", target
                if rule.action == "reject" and rule.reject_with is None:
                    rule.reject_with = "icmp-port-unreachable" if family == "ip" else "icmp6-port-unreachable"
            elif w.startswith("-"):
                # An option of a match module we do not evaluate, with its arguments.
                args = [w]
                while i + 1 < len(words) and not words[i + 1].startswith("-") and words[i + 1] != "!":
                    args.append(value())
                rule.matchers.append(Matcher("unknown", text=("! " if negate else "") + " ".join(args)))
        except ValueError:
            rule.matchers.append(Matcher("unknown", text=f"{w} (not understood)"))
        negate = False
        i += 1
    if rule.action == "reject" and target_args:
        rule.target = " ".join(target_args)
    elif target_args and rule.action == "other":
        rule.target = f"{rule.target} {' '.join(target_args)}"


# --- evaluation ---------------------------------------------------------------------

LOCAL_HOOKS = ("output", "postrouting", "prerouting", "input")
REMOTE_HOOKS = ("output", "postrouting")
_MAX_DEPTH = 32


def base_chains(facts: FirewallFacts, hook: str, family: int) -> list[Chain]:
    """The filtering base chains at ``hook`` for ``family``, in the order the kernel runs them."""
    found = [c for c in facts.chains
             if c.hook == hook and family in c.families and c.type in ("filter", "route", None)
             and (c.backend == "nftables" or c.table in _IPTABLES_TABLE_PRIORITY)]
    return sorted(found, key=lambda c: c.priority)


def evaluate(facts: FirewallFacts, packet: Packet, hooks: Iterable[str] = LOCAL_HOOKS) -> Decision:
    """Walk the rules a packet meets; the first drop/reject wins, else it is accepted."""
    maybe: list[tuple[str, FirewallRule]] = []
    walked: list[str] = []
    for hook in hooks:
        for chain in base_chains(facts, hook, packet.family):
            walked.append(f"{chain.backend}:{chain.family} {chain.table} {chain.name} ({hook})")
            result = _walk(facts, chain, packet, hook, maybe, 0)
            if result is None:  # fell off the end: the chain's policy
                if chain.policy == "drop":
                    return Decision("drop", hook, None, chain, maybe, walked)
                continue
            verdict, rule = result
            if verdict in BLOCKING:
                return Decision(verdict, hook, rule, facts.chain(rule.backend, rule.family, rule.table, rule.chain),
                                maybe, walked)
    return Decision("accept", None, None, None, maybe, walked)


def _walk(facts: FirewallFacts, chain: Chain, packet: Packet, hook: str,
          maybe: list[tuple[str, FirewallRule]], depth: int) -> tuple[str, FirewallRule] | None:
    """The verdict of ``chain`` for ``packet``: (accept|drop|reject, rule), or None (fell through / return)."""
    if depth > _MAX_DEPTH:
        return None
    for rule in chain.rules:
        hit = rule.matches(packet, hook)
        if hit is False:
            continue
        action, target = rule.action, rule.target
        if action == "vmap" and rule.verdict_map is not None:
            action, target, hit = _vmap_choice(rule, packet, hook, hit)
            if action is None:
                continue
        if hit is None:
            # Only unevaluated matchers stand in the way: note a blocking rule, walk on.
            if action in BLOCKING:
                maybe.append((hook, rule))
            elif action in ("jump", "goto") and target:
                sub = facts.chain(rule.backend, rule.family, rule.table, target)
                if sub is not None:
                    before = len(maybe)
                    result = _walk(facts, sub, packet, hook, maybe, depth + 1)
                    if result and result[0] in BLOCKING and len(maybe) == before:
                        maybe.append((hook, result[1]))
            continue
        if action == "accept":
            return "accept", rule
        if action in BLOCKING:
            return action, rule
        if action == "return":
            return None
        if action in ("jump", "goto") and target:
            sub = facts.chain(rule.backend, rule.family, rule.table, target)
            if sub is None:
                continue
            result = _walk(facts, sub, packet, hook, maybe, depth + 1)
            if result is not None or action == "goto":
                return result
    return None


def _vmap_choice(rule: FirewallRule, packet: Packet, hook: str, hit: bool | None):
    probe = Matcher(rule.vmap_field or "unknown")
    for value, verdict, target in rule.verdict_map or []:
        probe.values = _nft_values(probe.field, value, lambda _n: None) or []
        if probe.evaluate(packet, hook):
            return verdict, target, hit
    return None, None, hit


def is_local_address(address: str, interface_addresses: Iterable[str] = ()) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or address.split("%")[0] in {a.split("%")[0] for a in interface_addresses}


def packet_for(address: str, port: int, protocol: str, interface_addresses: Iterable[str] = ()) -> tuple[Packet, tuple[str, ...]]:
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


__all__ = [
    "Chain", "Decision", "FirewallFacts", "FirewallRule", "Matcher", "Packet", "build_facts",
    "evaluate", "gather_firewall", "is_local_address", "nft_rule_texts", "packet_for",
    "parse_iptables_save", "parse_nft_json", "probe_signature", "read_firewall",
]
