"""Windows' reserved port ranges: :func:`parse_excluded_port_ranges` (``netsh int ipv4 show
excludedportrange protocol=tcp``, any language) and :func:`gather_excluded_ranges`.

Proven on real tool output in ``tests/fixtures/platform``.
"""

from __future__ import annotations

import re

from portdoctor.bounded import run_command
from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot


@dataclass(frozen=True)
class PortRange:
    start: int
    end: int
    administered: bool = False  # "*": added by an administrator, not by Hyper-V/WinNAT

    def __contains__(self, port: int) -> bool:
        return self.start <= port <= self.end

    def __str__(self) -> str:
        return f"{self.start}" if self.start == self.end else f"{self.start}-{self.end}"


_RANGE_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s*(\*)?\s*$")


def parse_excluded_port_ranges(text: str) -> list[PortRange]:
    """Rows of ``netsh int ipv4 show excludedportrange``: "Start Port  End Port [*]".

    Only the numeric rows are read, so localized headers do not matter.
    """
    ranges = []
    for line in text.splitlines():
        m = _RANGE_LINE.match(line)
        if m:
            ranges.append(PortRange(int(m.group(1)), int(m.group(2)), bool(m.group(3))))
    return ranges


def gather_excluded_ranges(snap: Snapshot, protocol: str = "tcp") -> list[PortRange] | None:
    result = run_command(["netsh", "int", "ipv4", "show", "excludedportrange", f"protocol={protocol}"], timeout=3.0)
    if not result.ok:
        snap.visibility["excluded_ports"] = result.error or f"netsh exited with {result.returncode}"
        return None
    return parse_excluded_port_ranges(result.stdout)
