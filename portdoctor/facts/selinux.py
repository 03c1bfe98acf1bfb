"""SELinux facts: :func:`parse_semanage_ports` (``semanage port -l``), :func:`port_types`,
:func:`parse_avc_name_bind` (audit log denials), :func:`read_selinux_mode`, :func:`gather_selinux`.

Bounded (the audit log is read from its tail); proven on real output in ``tests/fixtures/platform``.
"""

from __future__ import annotations

import os

from portdoctor.bounded import run_command
from portdoctor.lazyre import lazy
from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot


def parse_semanage_ports(text: str) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """``semanage port -l`` -> {(type, proto): [(low, high), ...]}."""
    table: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[1] not in ("tcp", "udp", "sctp", "dccp") or not parts[0].endswith("_t"):
            continue
        ranges = table.setdefault((parts[0], parts[1]), [])
        for item in parts[2].split(","):
            item = item.strip()
            low, _, high = item.partition("-")
            if low.isdigit() and (not high or high.isdigit()):
                ranges.append((int(low), int(high or low)))
    return table


def port_types(table: dict[tuple[str, str], list[tuple[int, int]]], port: int, proto: str = "tcp") -> list[str]:
    """The types whose ranges hold the port, most specific (narrowest range) first."""
    hits = []
    for (kind, p), ranges in table.items():
        if p != proto:
            continue
        for low, high in ranges:
            if low <= port <= high:
                hits.append((high - low, kind))
    return [kind for _, kind in sorted(hits)]


@dataclass(frozen=True)
class AvcDenial:
    """One SELinux AVC ``name_bind`` denial from the audit log."""

    comm: str  # the program that was refused
    source_type: str  # httpd_t
    target_type: str  # unreserved_port_t
    permissive: bool
    line: str


_AVC = lazy(r'avc:\s+denied\s+\{ name_bind \} for .*?comm="(?P<comm>[^"]*)".*?\bsrc=(?P<port>\d+)'
                  r".*?scontext=\S*?:\S*?:(?P<stype>\w+).*?tcontext=\S*?:\S*?:(?P<ttype>\w+)"
                  r"(?:.*?permissive=(?P<permissive>\d))?")


def parse_avc_name_bind(text: str, port: int) -> list[AvcDenial]:
    """AVC ``name_bind`` denials for this port in audit-log text, oldest first."""
    found = []
    for line in text.splitlines():
        m = _AVC.search(line)
        if m and int(m.group("port")) == port:
            found.append(AvcDenial(m.group("comm"), m.group("stype"), m.group("ttype"),
                                   m.group("permissive") == "1", line.strip()))
    return found


@dataclass
class SelinuxFacts:
    """SELinux's mode, port labels and recent denials."""

    mode: str | None  # "enforcing" | "permissive" | None (disabled or absent)
    port_table: dict | None = None  # parse_semanage_ports(), None if semanage could not run
    semanage_error: str | None = None
    denials: list[AvcDenial] | None = None  # None when the audit log could not be read
    audit_error: str | None = None


AUDIT_LOG = "/var/log/audit/audit.log"
AUDIT_TAIL_BYTES = 2_000_000


def read_selinux_mode() -> str | None:
    try:
        with open("/sys/fs/selinux/enforce", encoding="ascii") as f:
            return "enforcing" if f.read().strip() == "1" else "permissive"
    except OSError:
        pass
    result = run_command(["getenforce"], timeout=2.0)
    if result.ok and result.stdout.strip().lower() in ("enforcing", "permissive"):
        return result.stdout.strip().lower()
    return None


def gather_selinux(snap: Snapshot, port: int) -> SelinuxFacts:
    facts = SelinuxFacts(read_selinux_mode())
    if facts.mode is None:
        return facts
    labels = run_command(["semanage", "port", "-l"], timeout=10.0)
    if labels.ok:
        facts.port_table = parse_semanage_ports(labels.stdout)
    else:
        facts.semanage_error = labels.why
    try:
        with open(AUDIT_LOG, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - AUDIT_TAIL_BYTES))
            facts.denials = parse_avc_name_bind(f.read().decode("utf-8", "replace"), port)
    except OSError as exc:
        facts.audit_error = f"{AUDIT_LOG}: {exc.strerror or exc}"
    return facts
