"""``nft -j list ruleset`` parsed into the rule model (one parser for filter and NAT).

:func:`parse_nft_json` turns the JSON dump into :class:`~.model.Chain` objects with their
rules' matchers (named sets and intervals resolved, ``!=`` kept as a negation), verdicts
(accept, drop, reject, jump, goto, return, verdict maps) and NAT targets (dnat, snat,
masquerade, redirect). :func:`nft_rule_texts` reads the rules' text from ``nft -a list
ruleset``, keyed by handle, for reports.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable

from portdoctor.facts.rules.model import Chain, FirewallRule, Matcher, NatTarget, NftRuleKey, RuleTexts
from portdoctor.lazyre import lazy
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

SetLookup = Callable[[str], "list[Any] | None"]

_NFT_TABLE = lazy(r"^table (\S+) (\S+) \{")
_NFT_CHAIN = lazy(r"^\s*chain (\S+) \{")
_NFT_HANDLE = lazy(r"^\s*(.*?)\s*# handle (\d+)\s*$")
_NFT_OTHER_BLOCK = lazy(r"^\s*(set|map|flowtable|counter|quota|ct) \S+ \{")
_NFT_ADDR_PROTOCOLS = {"ip": 4, "ip6": 6}
_NFT_L4 = ("tcp", "udp", "sctp", "dccp", "udplite")


def nft_rule_texts(text: str | None) -> dict[NftRuleKey, str]:
    """(family, table, chain, handle) -> the rule as ``nft -a list ruleset`` prints it."""
    texts: dict[NftRuleKey, str] = {}
    family = table = chain = None
    for line in (text or "").splitlines():
        if m := _NFT_TABLE.match(line):
            family, table, chain = m.group(1), m.group(2), None
            continue
        if m := _NFT_CHAIN.match(line):
            chain = m.group(1)
            continue
        if _NFT_OTHER_BLOCK.match(line):
            chain = None
            continue
        if chain and (m := _NFT_HANDLE.match(line)) and family and table:
            texts[(clean_text(family), clean_text(table), clean_text(chain), int(m.group(2)))] = m.group(1)
    return texts


def parse_nft_json(doc: dict[str, Any], text: str | None = None,
                   skip_tables: dict[str, set[str]] | None = None,
                   texts: RuleTexts | None = None) -> list[Chain]:
    """Chains and rules from ``nft -j list ruleset``.

    ``text`` (``nft -a list ruleset``) or ``texts`` (the same, read on first use) give the
    rules' text. ``skip_tables``: family -> table names already read through iptables-save
    (iptables-nft shows the same rules in both; the iptables form is the one users remove
    rules with).
    """
    skip_tables = skip_tables or {}
    if texts is None:
        texts = RuleTexts(text=text or "")
    items = doc.get("nftables", []) if isinstance(doc, dict) else []
    sets: dict[tuple[str, str, str], list[Any]] = {}
    chains: dict[tuple[str, str, str], Chain] = {}
    for item in items:
        if "set" in item or "map" in item:
            s = item.get("set") or item["map"]
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
        family, table = r["family"], r["table"]
        rule = FirewallRule("nftables", family, table, r["chain"], len(chain.rules) + 1, r.get("handle"),
                            r.get("comment", "") or json.dumps(r.get("expr", [])),
                            comment=r.get("comment"), summary=rule_summary(r), texts=texts)

        def lookup(name: str, family: str = family, table: str = table) -> list[Any] | None:
            return sets.get((family, table, name))

        for expr in r.get("expr", []):
            _nft_expr(rule, expr, lookup)
        chain.rules.append(rule)
    return list(chains.values())


def _nft_expr(rule: FirewallRule, expr: dict[str, Any], lookup_set: SetLookup) -> None:
    (kind, body), = expr.items()
    if kind == "match":
        rule.matchers.extend(_nft_match(body, lookup_set))
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
        _nft_vmap(rule, body, lookup_set)
    elif kind in ("limit", "quota", "connlimit", "fib"):
        rule.matchers.append(Matcher("unknown", text=f"{kind} {json.dumps(body)}"))
    elif kind in ("dnat", "snat", "masquerade", "redirect"):
        rule.action, rule.target = "other", kind
        body = body if isinstance(body, dict) else {}
        addr, port = body.get("addr"), body.get("port")
        rule.nat = NatTarget(kind, addr if isinstance(addr, str) else None, port if isinstance(port, int) else None)
    elif kind == "queue":
        rule.matchers.append(Matcher("unknown", text="queue (a userspace program decides)"))
        rule.action = "drop"
    # counter, log, meta set, mangle, notrack, ...: statements that do not decide.


def _nft_vmap(rule: FirewallRule, body: dict[str, Any], lookup_set: SetLookup) -> None:
    key = body.get("key", {})
    probe = _nft_match({"op": "==", "left": key, "right": 0}, lookup_set)
    data = body.get("data", {})
    elems = data.get("set", []) if isinstance(data, dict) else []
    if isinstance(data, str) and data.startswith("@"):
        elems = lookup_set(data[1:]) or []
    entries = []
    for entry in elems:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
            (verdict, arg), = entry[1].items()
            entries.append((entry[0], verdict, (arg or {}).get("target") if isinstance(arg, dict) else None))
    if len(probe) == 1 and probe[0].field not in ("unknown", "family"):
        rule.vmap_field = probe[0].field
        rule.verdict_map = entries
        rule.action = "vmap"
    else:
        rule.matchers.append(Matcher("unknown", text="verdict map on " + json.dumps(key)))
        rule.action = "other"


def _nft_match(body: dict[str, Any], lookup_set: SetLookup) -> list[Matcher]:
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
    values = nft_values(fieldname, right, lookup_set)
    if values is None:
        return [*implied, Matcher("unknown", text=f"{_short(left)} {op} {_short(right)}")]
    return [*implied, Matcher(fieldname, values, negate)]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."


def nft_values(fieldname: str, right: Any, lookup_set: SetLookup) -> list[Any] | None:
    """The right-hand side as a list of comparable values; None when not understood."""
    if isinstance(right, str) and right.startswith("@"):
        elems = lookup_set(right[1:])
        return None if elems is None else nft_values(fieldname, {"set": elems}, lookup_set)
    if isinstance(right, dict) and "set" in right:
        out: list[Any] = []
        for e in right["set"]:
            v = nft_values(fieldname, e, lookup_set)
            if v is None:
                return None
            out.extend(v)
        return out
    if isinstance(right, list):  # ct state established,related
        return nft_values(fieldname, {"set": right}, lookup_set)
    if isinstance(right, dict) and "elem" in right:
        return nft_values(fieldname, right["elem"].get("val"), lookup_set)
    try:
        if fieldname in ("dport", "sport"):
            if isinstance(right, dict) and "range" in right:
                return [(int(right["range"][0]), int(right["range"][1]))]
            return [(int(right), int(right))]
        if fieldname in ("saddr", "daddr"):
            if isinstance(right, dict) and "prefix" in right:
                return [ipaddress.ip_network(f"{right['prefix']['addr']}/{right['prefix']['len']}", strict=False)]
            if isinstance(right, dict) and "range" in right:
                low, high = (ipaddress.ip_address(str(a)) for a in right["range"])
                return [(low, high)]
            return [ipaddress.ip_address(str(right))]
        if fieldname == "family":
            return [{"ipv4": 4, "ip": 4, "ipv6": 6, "ip6": 6}[str(right)]]
        if fieldname == "l4proto":
            return [{"6": "tcp", "17": "udp"}.get(str(right), str(right))]
        if fieldname in ("ctstate", "iif", "oif"):
            return [str(right)]
    except (ValueError, TypeError, KeyError):
        return None
    return None


# --- a short text from the JSON, for NAT views (no `nft -a` run needed) ---------------


def rule_summary(rule: dict[str, Any]) -> str:
    """"ip daddr 127.0.0.1 tcp dport 8080 dnat to 203.0.113.1:80" from a JSON rule."""
    parts = []
    for e in rule.get("expr", []):
        if "match" in e:
            m = e["match"]
            left = m.get("left", {})
            key = (f"{left['payload'].get('protocol')} {left['payload'].get('field')}" if "payload" in left
                   else f"meta {left['meta'].get('key')}" if "meta" in left else "?")
            op = "" if m.get("op") in ("==", "in") else f"{m.get('op')} "
            parts.append(f"{key} {op}{_value_text(m.get('right'))}")
        elif "dnat" in e:
            d = e["dnat"] or {}
            parts.append(f"dnat to {d.get('addr', '')}" + (f":{d['port']}" if "port" in d else ""))
        elif "redirect" in e:
            parts.append("redirect" + (f" to :{e['redirect']['port']}" if e["redirect"] and "port" in e["redirect"]
                                       else ""))
        elif "jump" in e:
            parts.append(f"jump {e['jump']['target']}")
        elif "goto" in e:
            parts.append(f"goto {e['goto']['target']}")
        elif "xt" in e:
            parts.append(f"xt {e['xt'].get('name')}")
    return " ".join(parts)


def _value_text(v: Any) -> str:
    if isinstance(v, dict):
        if "set" in v:
            return "{ " + ", ".join(_value_text(x) for x in v["set"]) + " }"
        if "range" in v:
            return f"{v['range'][0]}-{v['range'][1]}"
        if "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
    return str(v)
