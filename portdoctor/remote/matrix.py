"""The host × target matrix of a many-host run: which cause each host met for each target.

Reports from ``--ssh``/``--from`` carry the SSH destination (``Report.ssh``). The
renderers ask :func:`build_matrix` for rows (hosts, in the order given) and columns
(targets by port/display); a cell is the verdict's cause, ``-`` where a host was not
asked about a target.
"""

from __future__ import annotations

from portdoctor.model import Report
from portdoctor.records import dataclass


@dataclass
class Matrix:
    hosts: list[str]
    targets: list[str]
    cells: dict[tuple[str, str], Report]

    def cause(self, host: str, target: str) -> str:
        report = self.cells.get((host, target))
        return report.verdict.cause if report is not None else "-"


def column(report: Report) -> str:
    """The column a report goes in: its target as typed (``:5432`` for a port on each host)."""
    if report.ssh and report.server_side is not None:
        return f":{report.target.port}" if report.target.protocol == "tcp" else f"udp://:{report.target.port}"
    return report.target.display


def build_matrix(reports: list[Report]) -> Matrix | None:
    """The matrix, or None when the reports are not about several SSH hosts."""
    if not any(r.ssh for r in reports):
        return None
    hosts = list(dict.fromkeys(r.ssh or "(here)" for r in reports))
    if len(hosts) < 2:
        return None
    # --ssh with a host-less target: one column per port; otherwise per target.
    same_port = all(r.server_side is not None for r in reports)
    key = column if same_port else (lambda r: r.target.display)
    targets = list(dict.fromkeys(key(r) for r in reports))
    cells = {(r.ssh or "(here)", key(r)): r for r in reports}
    return Matrix(hosts, targets, cells)
