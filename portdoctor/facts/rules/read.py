"""Reading the rules from the machine, bounded, into one :class:`~.model.Ruleset`.

:func:`read_ruleset` runs ``nft -j list ruleset``, ``iptables-save``, ``ip6tables-save``
(and ``ufw status`` / ``firewall-cmd`` where installed) at once, each bounded by a
timeout, and :func:`build_ruleset` parses what they printed. ``nft -a list ruleset``
(the rules' text, for reports) is run later, once, and only if a finding quotes an nft
rule. Nothing here raises for a missing tool or privilege: ``Ruleset.sources`` says
what could not be read and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from portdoctor.bounded import CommandResult, StartedCommands, run_command
from portdoctor.facts.rule_dumps import COMMAND_TIMEOUT, start_dumps
from portdoctor.facts.rules.iptables import parse_iptables_save
from portdoctor.facts.rules.model import Ruleset, RuleTexts
from portdoctor.facts.rules.nft import parse_nft_json
from portdoctor.lazyre import lazy

NFT_TEXT = ["nft", "-a", "list", "ruleset"]

_INCOMPATIBLE = lazy(r"^# Table `([^']+)' (?:contains incompatible|is incompatible)", re.MULTILINE)
_DENIED = lazy(r"permission denied|operation not permitted|you must be root", re.IGNORECASE)


def read_ruleset(timeout: float = COMMAND_TIMEOUT) -> Ruleset:
    """Every rule source of this namespace, read now (bounded); never raises."""
    return start_reading(timeout)()


def start_reading(timeout: float = COMMAND_TIMEOUT,
                  started: tuple[list[str], StartedCommands] | None = None) -> Callable[[], Ruleset]:
    """Start the rule dumps now (or take ``started``, from :func:`~portdoctor.facts.rule_dumps.start_dumps`);
    the returned function waits for them (bounded) and parses them; it never raises."""
    keys, running = started if started is not None else start_dumps(timeout)
    return lambda: build_ruleset(dict(zip(keys, running.results())), load_nft_text=lambda: _nft_text(running.timeout))


def _nft_text(timeout: float) -> str | None:
    result = run_command(NFT_TEXT, timeout)
    return result.stdout if result.ok else None


def why_not(result: CommandResult) -> str:
    """One line on why a command gave nothing usable."""
    if result.error:
        return result.error
    text = (result.stderr or result.stdout).strip().splitlines()
    return f"{result.argv[0]} exited {result.returncode}: {text[0] if text else 'no output'}"


def build_ruleset(results: dict[str, CommandResult],
                  load_nft_text: Callable[[], str | None] | None = None) -> Ruleset:
    """Parse the commands' results (keys as in :func:`read_ruleset`; "nft-text" optional) into a ruleset.

    ``load_nft_text`` reads ``nft -a list ruleset`` when a rule's text is first asked for.
    """
    facts = Ruleset()
    ipt_tables: dict[str, set[str]] = {"ip": set(), "ip6": set()}
    for key, family, backend in (("iptables", "ip", "iptables"), ("ip6tables", "ip6", "ip6tables")):
        r = results.get(key)
        if r is None:
            continue
        if r.ok and "you must be root" not in r.stderr.lower():
            setattr(facts, "iptables_save" if key == "iptables" else "ip6tables_save", r.stdout)
            # iptables-nft cannot show a table whose chains nft made ("# Table `nat' contains
            # incompatible base-chains, use 'nft' tool"): nft's dump is the one to read for it.
            incompatible = set(_INCOMPATIBLE.findall(r.stdout))
            chains = [c for c in parse_iptables_save(r.stdout, backend) if c.table not in incompatible]
            facts.chains.extend(chains)
            facts.sources[backend] = "read"
            if "nf_tables" in r.stdout:  # iptables-nft: the same rules also show in nft's ruleset
                ipt_tables[family] |= {c.table for c in chains}
        else:
            facts.sources[backend] = why_not(r)
    rj, rt = results.get("nft-json"), results.get("nft-text")
    if rt is not None:
        facts.nft_texts = RuleTexts(text=rt.stdout if rt.ok else "")
    elif load_nft_text is not None:
        facts.nft_texts = RuleTexts(load=load_nft_text)
    else:
        facts.nft_texts = RuleTexts(text="")
    if rj is not None:
        if rj.ok:
            try:
                facts.nft_json = json.loads(rj.stdout or '{"nftables": []}')
                facts.chains.extend(parse_nft_json(facts.nft_json or {}, skip_tables=ipt_tables,
                                                   texts=facts.nft_texts))
                facts.sources["nftables"] = "read"
            except (ValueError, TypeError, KeyError) as exc:
                facts.sources["nftables"] = f"nft -j output could not be parsed: {exc}"
        else:
            facts.sources["nftables"] = why_not(rj)
    if "ufw" in results:
        r = results["ufw"]
        facts.ufw_status = r.stdout if r.ok else None
        facts.sources["ufw"] = "read" if r.ok else why_not(r)
    if "firewalld-state" in results:
        r = results["firewalld-state"]
        facts.firewalld_state = (r.stdout or r.stderr).strip() or None
        facts.sources["firewalld"] = "read" if r.returncode is not None else why_not(r)
    return facts


def unreadable_summary(facts: Ruleset) -> str:
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
