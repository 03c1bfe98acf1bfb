"""The rule dumps a diagnosis reads (``nft -j``, ``iptables-save``, ...), started early.

Kept apart from :mod:`portdoctor.facts.rules` (the parsers and the rule model) so that a
report run can start the dumps before it imports anything else: the tools then run
while Python loads the checks, and :func:`portdoctor.facts.rules.read.start_reading`
parses what they printed.
"""

from __future__ import annotations

from portdoctor.bounded import StartedCommands, system_tool

COMMAND_TIMEOUT = 2.0
NFT_JSON = ["nft", "-j", "list", "ruleset"]


def dump_commands() -> dict[str, list[str]]:
    """The rule sources of this namespace, by key (ufw and firewalld where installed)."""
    commands: dict[str, list[str]] = {
        "nft-json": NFT_JSON,
        "iptables": ["iptables-save"],
        "ip6tables": ["ip6tables-save"],
    }
    if system_tool("ufw"):  # where run_command would run it from
        commands["ufw"] = ["ufw", "status"]
    if system_tool("firewall-cmd"):
        commands["firewalld-state"] = ["firewall-cmd", "--state"]
    return commands


def start_dumps(timeout: float = COMMAND_TIMEOUT) -> tuple[list[str], StartedCommands]:
    """Start every dump now (bounded by ``timeout`` from now): their keys, and the running commands."""
    commands = dump_commands()
    return list(commands), StartedCommands(list(commands.values()), timeout)
