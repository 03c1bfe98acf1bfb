"""``iptables-save`` / ``ip6tables-save`` parsed into the rule model (one parser for filter and NAT).

Every table is read. A ``-j NAME`` / ``-g NAME`` is a jump (goto) when NAME is a chain
declared in that table (``:NAME - [0:0]``), whatever its case: ``DOCKER-USER``,
``KUBE-SERVICES``, ``ufw-user-input`` and ``MYCHAIN`` are all followed. Other upper-case
targets are extensions (LOG, MARK, ...); DNAT, SNAT, MASQUERADE and REDIRECT also carry
their :class:`~.model.NatTarget`.
"""

from __future__ import annotations

import ipaddress
import re

from portdoctor.facts.rules.model import Chain, FirewallRule, Matcher, NatTarget

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

# iptables tables that can filter, with the priority of their chains in nftables terms.
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "OUTPUT": "output",
         "POSTROUTING": "postrouting", "FORWARD": "forward"}
VERDICTS = ("ACCEPT", "DROP", "REJECT", "RETURN")
NAT_TARGETS = {"DNAT": "dnat", "SNAT": "snat", "MASQUERADE": "masquerade", "REDIRECT": "redirect"}
_KNOWN_MODULES = {"tcp", "udp", "multiport", "conntrack", "state", "comment", "icmp", "icmp6", "addrtype",
                  "iprange"}


def declared_chains(text: str) -> dict[str, set[str]]:
    """table -> the chains declared in it (``:NAME POLICY [p:b]`` lines)."""
    declared: dict[str, set[str]] = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and table is not None:
            declared.setdefault(table, set()).add(line[1:].split()[0] if line[1:].split() else "")
    return declared


def parse_iptables_save(text: str, backend: str = "iptables") -> list[Chain]:
    """Chains and rules from ``iptables-save`` / ``ip6tables-save`` output (every table)."""
    family = "ip6" if backend == "ip6tables" else "ip"
    declared = declared_chains(text)
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
            chains[(table, name)] = Chain(
                backend, family, table, name, HOOKS.get(name), TABLE_PRIORITY.get(table, 0),
                policy.lower() if policy != "-" else None, "filter" if table in TABLE_PRIORITY else table)
            continue
        if line.startswith("-A "):
            import shlex  # deferred: only when there are rules to read

            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            if len(words) < 2:
                continue
            name = words[1]
            chain = chains.setdefault((table, name), Chain(backend, family, table, name))
            rule = FirewallRule(backend, family, table, name, len(chain.rules) + 1, None, line)
            _RuleReader(rule, words[2:], family, declared.get(table, set())).read()
            chain.rules.append(rule)
    return list(chains.values())


def _ports(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        low, sep, high = part.partition(":")
        out.append((int(low or 0), int(high or 65535) if sep else int(low)))
    return out


def _networks(spec: str) -> list[Any]:
    return [ipaddress.ip_network(p, strict=False) for p in spec.split(",")]


def _address_range(spec: str) -> list[Any]:
    low, _, high = spec.partition("-")
    return [(ipaddress.ip_address(low), ipaddress.ip_address(high or low))]


def first_port(text: str | None) -> int | None:
    """80 from "80", "80-90", "80:90"; None when there is none."""
    if not text:
        return None
    head = re.split(r"[-:]", text, maxsplit=1)[0]
    return int(head) if head.isdigit() else None


def split_destination(text: str) -> tuple[str | None, int | None]:
    """``172.17.0.2:80``, ``172.17.0.3``, ``[fd00::2]:80``, ``10.0.0.2:9000-9010``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, first_port(rest.lstrip(":"))
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host.split("-")[0] or None, first_port(port)
    return (text.split("-")[0] or None), None


class _RuleReader:
    """Reads one rule's words (after ``-A CHAIN``) into its matchers, verdict and target."""

    def __init__(self, rule: FirewallRule, words: list[str], family: str, declared: set[str]):
        self.rule, self.words, self.family, self.declared = rule, words, family, declared
        self.i = 0
        self.target_args: list[str] = []

    def value(self) -> str:
        self.i += 1
        return self.words[self.i] if self.i < len(self.words) else ""

    def read(self) -> None:
        negate, in_target = False, False
        while self.i < len(self.words):
            w = self.words[self.i]
            if w == "!":
                negate = True
                self.i += 1
                continue
            if in_target:
                self._target_option(w)
            else:
                try:
                    in_target = self._match_option(w, negate)
                except ValueError:
                    self.rule.matchers.append(Matcher("unknown", text=f"{w} (not understood)"))
            negate = False
            self.i += 1
        self._finish()

    def _match_option(self, w: str, negate: bool) -> bool:
        """Read one match option; True when it was the target (-j / -g)."""
        rule = self.rule
        if w in ("-p", "--protocol"):
            proto = self.value()
            rule.matchers.append(Matcher("l4proto", [{"6": "tcp", "17": "udp"}.get(proto, proto)], negate))
        elif w in ("-s", "--source", "-d", "--destination"):
            rule.matchers.append(Matcher("saddr" if w in ("-s", "--source") else "daddr", _networks(self.value()),
                                         negate))
        elif w in ("--src-range", "--dst-range"):
            rule.matchers.append(Matcher("saddr" if w == "--src-range" else "daddr", _address_range(self.value()),
                                         negate))
        elif w in ("-i", "--in-interface", "-o", "--out-interface"):
            rule.matchers.append(Matcher("iif" if w in ("-i", "--in-interface") else "oif", [self.value()], negate))
        elif w in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            rule.matchers.append(Matcher("dport", _ports(self.value()), negate))
        elif w in ("--sport", "--source-port", "--sports", "--source-ports"):
            rule.matchers.append(Matcher("sport", _ports(self.value()), negate))
        elif w in ("--ctstate", "--state"):
            rule.matchers.append(Matcher("ctstate", [s.lower() for s in self.value().split(",")], negate))
        elif w == "--syn":
            pass  # the first packet of a connection is a SYN: always true for what we probe
        elif w == "--comment":
            rule.comment = self.value()
        elif w in ("-m", "--match"):
            module = self.value()
            if module not in _KNOWN_MODULES:
                rule.matchers.append(Matcher("unknown", text=f"-m {module}"))
        elif w in ("-j", "--jump", "-g", "--goto"):
            self._target(w, self.value())
            return True
        elif w.startswith("-"):
            # An option of a match module we do not evaluate, with its arguments.
            args = [w]
            while self.i + 1 < len(self.words) and not self.words[self.i + 1].startswith("-") \
                    and self.words[self.i + 1] != "!":
                args.append(self.value())
            rule.matchers.append(Matcher("unknown", text=("! " if negate else "") + " ".join(args)))
        return False

    def _target(self, option: str, target: str) -> None:
        rule = self.rule
        if target in self.declared or (not target.isupper() and target not in VERDICTS):
            # A chain of this table (declared, whatever its case), or an undeclared lower-case name.
            rule.action, rule.target = ("goto" if option in ("-g", "--goto") else "jump"), target
        elif target in VERDICTS:
            rule.action = target.lower()
        else:  # LOG, DNAT, MARK, ...: an extension target
            rule.action, rule.target = "other", target
            if target in NAT_TARGETS:
                rule.nat = NatTarget(NAT_TARGETS[target])
        if rule.action == "reject" and rule.reject_with is None:
            rule.reject_with = "icmp-port-unreachable" if self.family == "ip" else "icmp6-port-unreachable"

    def _target_option(self, w: str) -> None:
        rule = self.rule
        if w == "--reject-with":
            rule.reject_with = self.value()
            return
        self.target_args.append(w)
        if rule.nat is None or w not in ("--to-destination", "--to-source", "--to-ports", "--to"):
            return
        spec = self.value()
        self.target_args.append(spec)
        if w == "--to-ports":
            rule.nat.port = first_port(spec)
        else:
            rule.nat.address, rule.nat.port = split_destination(spec)

    def _finish(self) -> None:
        rule = self.rule
        if rule.action == "reject" and self.target_args:
            rule.target = " ".join(self.target_args)
        elif self.target_args and rule.action == "other":
            rule.target = f"{rule.target} {' '.join(self.target_args)}"
