"""Published ports that answer through NAT rather than a listening socket.

Docker with ``userland-proxy: false``, Kubernetes/CNI ``hostPort`` and hand-written
rules forward a port with a destination-NAT rule: nothing on this machine listens on
it, yet connections work. This module reads those rules from the firewall facts
(the raw ``nft -j list ruleset`` JSON and ``iptables-save`` text that
``portdoctor.facts.firewall`` keeps) and from ``docker-proxy`` processes, and fills
``Snapshot.dnat`` with the :class:`DnatRule` entries that can apply to the target's
port. Parsers are pure functions of text so tests feed them fixture files.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portdoctor.bounded import run_command
from portdoctor.sanitize import clean_text

# Only these hooks rewrite the destination of a new connection.
DNAT_HOOKS = ("prerouting", "output")


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


# --- nftables JSON ------------------------------------------------------------------


def _nft_ports(right: Any) -> list[tuple[int, int]] | None:
    if isinstance(right, int):
        return [(right, right)]
    if isinstance(right, dict):
        if "range" in right:
            lo, hi = right["range"]
            return [(int(lo), int(hi))] if isinstance(lo, int) and isinstance(hi, int) else None
        if "set" in right:
            out: list[tuple[int, int]] = []
            for item in right["set"]:
                part = _nft_ports(item)
                if part is None:
                    return None
                out.extend(part)
            return out
    return None  # a named set or a map: cannot tell here, treat as any port


def _nft_addresses(right: Any, negated: bool) -> list[AddressMatch]:
    if isinstance(right, str):
        return [AddressMatch(right, negated)]
    if isinstance(right, dict) and "prefix" in right:
        p = right["prefix"]
        return [AddressMatch(f"{p['addr']}/{p['len']}", negated)]
    if isinstance(right, dict) and "range" in right and not negated:
        return []  # an address range: rare; do not rule anything out
    return []


def _nft_rule_text(rule: dict) -> str:
    parts = []
    for e in rule.get("expr", []):
        if "match" in e:
            m = e["match"]
            left = m.get("left", {})
            key = (f"{left['payload'].get('protocol')} {left['payload'].get('field')}" if "payload" in left
                   else f"meta {left['meta'].get('key')}" if "meta" in left else "?")
            op = "" if m.get("op") in ("==", "in") else f"{m.get('op')} "
            parts.append(f"{key} {op}{_nft_value(m.get('right'))}")
        elif "dnat" in e:
            d = e["dnat"]
            parts.append(f"dnat to {d.get('addr', '')}" + (f":{d['port']}" if "port" in d else ""))
        elif "redirect" in e:
            parts.append("redirect" + (f" to :{e['redirect']['port']}" if e["redirect"] and "port" in e["redirect"] else ""))
        elif "jump" in e:
            parts.append(f"jump {e['jump']['target']}")
        elif "goto" in e:
            parts.append(f"goto {e['goto']['target']}")
        elif "xt" in e:
            parts.append(f"xt {e['xt'].get('name')}")
    return " ".join(parts)


def _nft_value(v: Any) -> str:
    if isinstance(v, dict):
        if "set" in v:
            return "{ " + ", ".join(_nft_value(x) for x in v["set"]) + " }"
        if "range" in v:
            return f"{v['range'][0]}-{v['range'][1]}"
        if "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
    return str(v)


@dataclass
class _Parsed:
    protocol: str | None = None
    ports: list[tuple[int, int]] | None = None
    daddr: list[AddressMatch] = field(default_factory=list)


def _entry_paths(base_hooks: dict[str, str], jumps: list[tuple[str, str, list[AddressMatch]]]
                 ) -> dict[str, list[tuple[str, list[AddressMatch]]]]:
    """For every chain, the (hook, address conditions on the way) by which traffic reaches it."""
    paths: dict[str, list[tuple[str, list[AddressMatch]]]] = {c: [(h, [])] for c, h in base_hooks.items()}
    for _ in range(8):  # chains nest a few levels at most; bounded against loops
        changed = False
        for source, target, conds in jumps:
            for hook, before in list(paths.get(source, [])):
                entry = (hook, before + conds)
                if len(paths.setdefault(target, [])) < 16 and all(
                        (h, [str(x) for x in c]) != (entry[0], [str(x) for x in entry[1]])
                        for h, c in paths[target]):
                    paths[target].append(entry)
                    changed = True
        if not changed:
            break
    return paths


def parse_nft_ruleset(data: dict | str) -> list[DnatRule]:
    """DNAT/redirect rules reachable from a nat prerouting/output hook in ``nft -j list ruleset``."""
    if isinstance(data, str):
        data = json.loads(data)
    items = data.get("nftables", []) if isinstance(data, dict) else []
    base_hooks: dict[str, str] = {}
    rules: list[dict] = []
    for item in items:
        if "chain" in item:
            c = item["chain"]
            if c.get("hook") in DNAT_HOOKS and c.get("type", "nat") == "nat":
                base_hooks[f"{c['family']} {c['table']} {c['name']}"] = c["hook"]
        elif "rule" in item:
            rules.append(item["rule"])

    parsed_rules: list[tuple[dict, _Parsed]] = []
    jumps: list[tuple[str, str, list[AddressMatch]]] = []
    for rule in rules:
        p = _Parsed()
        chain_id = f"{rule['family']} {rule['table']} {rule['chain']}"
        for e in rule.get("expr", []):
            m = e.get("match")
            if m:
                left, right, negated = m.get("left", {}), m.get("right"), m.get("op") == "!="
                payload = left.get("payload") if isinstance(left, dict) else None
                meta = left.get("meta") if isinstance(left, dict) else None
                if payload and payload.get("field") == "dport" and not negated:
                    if payload.get("protocol") in ("tcp", "udp"):
                        p.protocol = payload["protocol"]
                    p.ports = _nft_ports(right)
                elif payload and payload.get("field") == "daddr" and payload.get("protocol") in ("ip", "ip6"):
                    p.daddr.extend(_nft_addresses(right, negated))
                elif meta and meta.get("key") == "l4proto" and right in ("tcp", "udp") and not negated:
                    p.protocol = right
            for verb in ("jump", "goto"):
                if verb in e:
                    jumps.append((chain_id, f"{rule['family']} {rule['table']} {e[verb]['target']}", list(p.daddr)))
        parsed_rules.append((rule, p))

    paths = _entry_paths(base_hooks, jumps)
    out: list[DnatRule] = []
    for rule, p in parsed_rules:
        chain_id = f"{rule['family']} {rule['table']} {rule['chain']}"
        target = None
        for e in rule.get("expr", []):
            if "dnat" in e:
                d = e["dnat"] or {}
                addr = d.get("addr")
                target = ("dnat", addr if isinstance(addr, str) else None, d.get("port") if isinstance(d.get("port"), int) else None)
            elif "redirect" in e:
                r = e["redirect"] or {}
                target = ("redirect", None, r.get("port") if isinstance(r.get("port"), int) else None)
        if not target:
            continue  # includes iptables-nft's `xt DNAT`: read from iptables-save instead
        for hook, conds in paths.get(chain_id, []):
            out.append(DnatRule(target[0], "nft", hook, p.protocol, p.ports, target[1], target[2],
                                conds + p.daddr, f"{rule['family']} {rule['table']}", rule["chain"],
                                _nft_rule_text(rule)))
    return out


# --- iptables-save ------------------------------------------------------------------


def _ipt_ports(text: str) -> list[tuple[int, int]] | None:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        out.append((int(lo), int(hi or lo)))
    return out


def parse_iptables_save(text: str) -> list[DnatRule]:
    """DNAT/REDIRECT rules of the ``*nat`` table in ``iptables-save`` / ``ip6tables-save`` text."""
    in_nat = False
    base_hooks: dict[str, str] = {}
    lines: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            in_nat = line == "*nat"
            continue
        if not in_nat or not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            name = line[1:].split()[0]
            if name.lower() in DNAT_HOOKS:
                base_hooks[name] = name.lower()
        elif line.startswith("-A "):
            try:
                lines.append(shlex.split(line))
            except ValueError:
                continue

    jumps, parsed = [], []
    for tokens in lines:
        chain = tokens[1]
        p, target, to, to_ports, negate = _Parsed(), None, None, None, False
        i = 2
        while i < len(tokens):
            tok = tokens[i]
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if tok == "!":
                negate = True
                i += 1
                continue
            if tok in ("-p", "--protocol") and not negate:
                p.protocol = nxt if nxt in ("tcp", "udp") else None
            elif tok in ("-d", "--destination"):
                p.daddr.append(AddressMatch(nxt, negate))
            elif tok in ("--dport", "--destination-port", "--dports", "--destination-ports") and not negate:
                p.ports = _ipt_ports(nxt)
            elif tok in ("-j", "--jump", "-g", "--goto"):
                target = nxt
            elif tok == "--to-destination":
                to = nxt
            elif tok == "--to-ports":
                to_ports = nxt
            negate = False
            i += 2 if (tok.startswith("-") and nxt and not nxt.startswith("-")) or tok in ("-d", "-p") else 1
        parsed.append((chain, tokens, p, target, to, to_ports))
        if target and target not in ("DNAT", "REDIRECT", "SNAT", "MASQUERADE", "RETURN", "ACCEPT", "DROP",
                                     "MARK", "CONNMARK", "LOG", "NETMAP"):
            jumps.append((chain, target, list(p.daddr)))

    paths = _entry_paths(base_hooks, jumps)
    out: list[DnatRule] = []
    for chain, tokens, p, target, to, to_ports in parsed:
        if target == "DNAT" and to:
            address, port = _split_destination(to)
            kind = "dnat"
        elif target == "REDIRECT":
            address, port, kind = None, _first_port(to_ports), "redirect"
        else:
            continue
        for hook, conds in paths.get(chain, []):
            out.append(DnatRule(kind, "iptables", hook, p.protocol, p.ports, address, port,
                                conds + p.daddr, "nat", chain, " ".join(tokens)))
    return out


def _first_port(text: str | None) -> int | None:
    if not text:
        return None
    head = re.split(r"[-:]", text, maxsplit=1)[0]
    return int(head) if head.isdigit() else None


def _split_destination(text: str) -> tuple[str | None, int | None]:
    """``172.17.0.2:80``, ``172.17.0.3``, ``[fd00::2]:80``, ``10.0.0.2:9000-9010``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, _first_port(rest.lstrip(":"))
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host.split("-")[0] or None, _first_port(port)
    return (text.split("-")[0] or None), None


# --- docker-proxy -------------------------------------------------------------------


def parse_docker_proxy(cmdline: str) -> dict[str, str]:
    """``docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80``."""
    tokens = cmdline.split()
    return {tokens[i].lstrip("-"): tokens[i + 1] for i in range(len(tokens) - 1) if tokens[i].startswith("-")}


def docker_proxy_rules(sockets: Iterable[Any], read_cmdline=None) -> list[DnatRule]:
    out = []
    for s in sockets:
        if (s.process or "") != "docker-proxy" or not s.listening or s.namespace is not None:
            continue
        cmdline = s.cmdline or (read_cmdline(s.pid) if read_cmdline and s.pid else None)
        if not cmdline:
            continue
        args = parse_docker_proxy(cmdline)
        if "container-ip" not in args:
            continue
        port = args.get("container-port")
        out.append(DnatRule("docker-proxy", "docker-proxy", None, args.get("proto", s.protocol),
                            [(s.port, s.port)], args["container-ip"], int(port) if port and port.isdigit() else None,
                            [], "", "", cmdline))
    return out


def _read_cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


# --- gathering ----------------------------------------------------------------------


def _raw_rulesets(snap) -> tuple[Any, str | None, str | None]:
    """(nft JSON, iptables-save text, why not visible) from the firewall facts.

    Until the firewall facts keep the raw rulesets (older gatherer, other OS), fall back
    to asking the tools ourselves, bounded.
    """
    fw = snap.firewall
    nft_raw = getattr(fw, "nft_json", None)
    ipt_raw = "\n".join(getattr(fw, n) for n in ("iptables_save", "ip6tables_save") if getattr(fw, n, None)) or None
    has_fields = any(hasattr(fw, n) for n in ("nft_json", "iptables_save"))
    if has_fields or snap.os != "linux":
        return nft_raw, ipt_raw, None
    if not snap.privileged:
        return None, None, "reading NAT rules needs root (nft/iptables-save)"
    nft = run_command(["nft", "-j", "list", "ruleset"], timeout=2.0)
    ipt = run_command(["iptables-save", "-t", "nat"], timeout=2.0)
    return (nft.stdout if nft.ok else None), (ipt.stdout if ipt.ok else None), None


def gather_dnat(snap) -> None:
    """Fill ``snap.dnat`` with the NAT rules and docker-proxy forwards for the target's port."""
    rules: list[DnatRule] = []
    if snap.os == "linux":
        nft_raw, ipt_raw, why = _raw_rulesets(snap)
        if why:
            snap.visibility["nat"] = why
        if nft_raw:
            try:
                rules += parse_nft_ruleset(nft_raw)
            except (ValueError, KeyError, TypeError) as exc:
                snap.visibility["nat"] = f"nft ruleset unreadable: {exc}"
        if ipt_raw:
            rules += parse_iptables_save(ipt_raw if isinstance(ipt_raw, str) else "\n".join(ipt_raw))
        rules += docker_proxy_rules(snap.sockets, _read_cmdline)
    seen, unique = set(), []
    for r in rules:  # iptables-nft rules can show up in both sources
        key = (r.kind, r.hook, r.protocol, tuple(r.ports or ()), r.to_address, r.to_port,
               tuple(str(m) for m in r.daddr))
        if key not in seen:
            seen.add(key)
            unique.append(r)
    snap.dnat = [r for r in unique if r.matches(snap.port, snap.protocol)]
