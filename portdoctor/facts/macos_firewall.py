"""macOS firewall facts: :func:`parse_socketfilterfw` (the application firewall),
:func:`pf_rules_naming_port` (``pfctl -sr``), :func:`gather_macos_firewall`.

Bounded; proven on real tool output in ``tests/fixtures/platform``.
"""

from __future__ import annotations

import re

from portdoctor.bounded import run_command
from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot


@dataclass
class ApplicationFirewall:
    enabled: bool | None = None
    block_all: bool | None = None
    stealth: bool | None = None


def parse_socketfilterfw(text: str) -> ApplicationFirewall:
    """``socketfilterfw --getglobalstate --getblockall --getstealthmode`` output, old and new wording."""
    alf = ApplicationFirewall()
    for line in text.splitlines():
        low = line.strip().lower()
        if low.startswith("firewall is enabled"):
            alf.enabled = True
        elif low.startswith("firewall is disabled"):
            alf.enabled = False
        elif "block all" in low:
            alf.block_all = "enabled" in low or low.endswith("set to enabled.")
            if "disabled" in low:
                alf.block_all = False
        elif "stealth mode" in low:
            alf.stealth = low.endswith(" on") or "enabled" in low
    return alf


_PF_PORT = re.compile(r"\bport\s+(?:=\s*)?(\d+)(?:\s*:\s*(\d+)|\s*><\s*(\d+))?")


def pf_rules_naming_port(rules_text: str, port: int, action: str = "block") -> list[str]:
    """Rules from ``pfctl -sr`` with this action whose port clause covers the port.

    pfctl prints ports as "port = 8080", ranges as "port 8000:8100" or "port 8000 >< 8100".
    """
    hits = []
    for line in rules_text.splitlines():
        line = line.strip()
        if not line.startswith(action):
            continue
        for m in _PF_PORT.finditer(line):
            low = int(m.group(1))
            high = int(m.group(2) or m.group(3) or low)
            exclusive = m.group(3) is not None
            if (low < port < high) if exclusive else (low <= port <= high):
                hits.append(line)
                break
    return hits


@dataclass
class MacosFirewall:
    alf: ApplicationFirewall | None = None
    alf_error: str | None = None
    pf_rules: str | None = None  # pfctl -sr output; None if it could not be read
    pf_error: str | None = None


SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"


def gather_macos_firewall(snap: Snapshot) -> MacosFirewall:
    facts = MacosFirewall()
    alf = run_command([SOCKETFILTERFW, "--getglobalstate", "--getblockall", "--getstealthmode"], timeout=3.0)
    if alf.ok:
        facts.alf = parse_socketfilterfw(alf.stdout)
    else:
        facts.alf_error = alf.why
    pf = run_command(["pfctl", "-sr"], timeout=3.0)
    if pf.ok:
        facts.pf_rules = pf.stdout
    else:
        facts.pf_error = pf.why
    return facts
