"""The packet-filter facts of a diagnosis: the machine's :class:`Ruleset` on ``Snapshot.firewall``.

The rules are read and parsed by :mod:`portdoctor.facts.rules` (one parser per dump, one
model shared with the NAT view); this module puts them on the snapshot, and keeps the
names the first release exported (``FirewallFacts``, ``build_facts``, ``read_firewall``,
``evaluate``, ...) for checks and plugins that import them from here.
"""

from __future__ import annotations

from portdoctor.facts.rules import (
    BLOCKING,
    Chain,
    Decision,
    FirewallFacts,
    FirewallRule,
    Matcher,
    Packet,
    Ruleset,
    evaluate,
    is_local_address,
    nft_rule_texts,
    packet_for,
    parse_iptables_save,
    parse_nft_json,
    probe_signature,
    unreadable_summary,
)
from portdoctor.facts.rules.read import COMMAND_TIMEOUT, build_ruleset, read_ruleset

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

build_facts = build_ruleset


def read_firewall(timeout: float = COMMAND_TIMEOUT) -> Ruleset:
    """Read every rule source now (bounded). A run shares one reading: see ``facts.machine``."""
    return read_ruleset(timeout)


def gather_firewall(snap: Any, ruleset: Ruleset | None = None) -> None:
    """Put the rules (``ruleset``, or a fresh reading) on ``snap.firewall``; note what could not be read."""
    facts = ruleset if ruleset is not None else read_firewall()
    snap.firewall = facts
    if facts.unreadable and not facts.readable:
        snap.visibility["firewall"] = unreadable_summary(facts)


__all__ = [
    "BLOCKING", "Chain", "Decision", "FirewallFacts", "FirewallRule", "Matcher", "Packet", "Ruleset",
    "build_facts", "evaluate", "gather_firewall", "is_local_address", "nft_rule_texts", "packet_for",
    "parse_iptables_save", "parse_nft_json", "probe_signature", "read_firewall", "unreadable_summary",
]
