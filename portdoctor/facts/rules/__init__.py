"""The packet-filter and NAT rules of this machine: one parser per dump, one model.

- :mod:`.read` runs the tools (``nft -j``, ``iptables-save``, ``ip6tables-save``, ufw,
  firewalld), bounded, and builds the :class:`~.model.Ruleset`;
- :mod:`.nft` and :mod:`.iptables` parse each dump once into :mod:`.model`'s chains
  and rules (matchers with negations, verdicts, jumps by declaration, NAT targets);
- :mod:`.evaluate` answers from the model: the filter's verdict for a packet, the
  DNAT / REDIRECT path of a port, the FORWARD verdict after a DNAT.

Checks use the query API on :class:`Ruleset` (``filter_verdict``, ``dnat_for``,
``forward_verdict``) and :func:`packet_for` to build a packet.
"""

from __future__ import annotations

from portdoctor.facts.rules.evaluate import (
                                             DNAT_HOOKS,
                                             LOCAL_HOOKS,
                                             REMOTE_HOOKS,
                                             AddressMatch,
                                             Decision,
                                             DnatRule,
                                             base_chains,
                                             dnat_rules,
                                             evaluate,
                                             forward_decision,
                                             is_local_address,
                                             packet_for,
                                             probe_signature,
)
from portdoctor.facts.rules.iptables import parse_iptables_save
from portdoctor.facts.rules.model import (
                                             BLOCKING,
                                             Chain,
                                             FirewallFacts,
                                             FirewallRule,
                                             Matcher,
                                             NatTarget,
                                             Packet,
                                             Ruleset,
                                             RuleTexts,
)
from portdoctor.facts.rules.nft import nft_rule_texts, parse_nft_json
from portdoctor.facts.rules.read import build_ruleset, read_ruleset, unreadable_summary

__all__ = [
    "BLOCKING", "DNAT_HOOKS", "LOCAL_HOOKS", "REMOTE_HOOKS", "AddressMatch", "Chain", "Decision", "DnatRule",
    "FirewallFacts", "FirewallRule", "Matcher", "NatTarget", "Packet", "RuleTexts", "Ruleset", "base_chains",
    "build_ruleset", "dnat_rules", "evaluate", "forward_decision", "is_local_address", "nft_rule_texts",
    "packet_for", "parse_iptables_save", "parse_nft_json", "probe_signature", "read_ruleset",
    "unreadable_summary",
]
