"""Platform traps: facts that only matter on one platform, with parsers for their tools.

- WSL: :func:`wsl_version` (from ``/proc/sys/kernel/osrelease``),
  :func:`parse_wslconfig` (``networkingMode`` in ``%UserProfile%\\.wslconfig``),
  :func:`gather_wsl`.
- Windows: :func:`parse_excluded_port_ranges` (``netsh int ipv4 show
  excludedportrange protocol=tcp``), :func:`gather_excluded_ranges`.
- SELinux: :func:`parse_semanage_ports` (``semanage port -l``), :func:`port_types`,
  :func:`parse_avc_name_bind` (audit log denials), :func:`gather_selinux`.
- macOS: :func:`parse_socketfilterfw` (the application firewall),
  :func:`pf_rules_naming_port` (``pfctl -sr``), :func:`gather_macos_firewall`.

Every gatherer is meant for :meth:`Snapshot.lazy`, is bounded, and records what it
could not see in ``Snapshot.visibility`` instead of guessing. The parsers are pure
functions, proven on real tool output in ``tests/fixtures/platform``.
(The module is not called ``platform.py``: inside ``portdoctor.facts`` that name
would shadow the standard library's ``platform`` module, which the package uses.)
"""

from __future__ import annotations

import configparser
import glob
import os
import re
from dataclasses import dataclass

from portdoctor.bounded import run_command

# --- WSL -----------------------------------------------------------------------------


def wsl_version(osrelease: str) -> int | None:
    """1 or 2 under WSL, None elsewhere.

    WSL2 kernels say "...-microsoft-standard" or "...-microsoft-standard-WSL2";
    WSL1 says "...-Microsoft" (capital M).
    """
    lower = osrelease.lower()
    if "microsoft" not in lower and "wsl" not in lower:
        return None
    if "wsl2" in lower or "microsoft-standard" in lower:
        return 2
    return 1


def parse_wslconfig(text: str) -> str | None:
    """``networkingMode`` from a .wslconfig ("nat", "mirrored", ...), lower-cased; None if unset."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    for section in ("wsl2", "experimental"):  # early versions read it from [experimental]
        if parser.has_option(section, "networkingmode"):
            return parser.get(section, "networkingmode").strip().strip('"').lower() or None
    return None


@dataclass
class WslFacts:
    version: int | None
    osrelease: str
    networking_mode: str | None = None  # from .wslconfig, or inferred
    mode_source: str | None = None  # where networking_mode came from
    wslconfig: str | None = None  # the path that was read


def gather_wsl(snap) -> WslFacts | None:
    """WSL version and networking mode; None when the kernel release cannot be read."""
    try:
        with open("/proc/sys/kernel/osrelease", encoding="utf-8") as f:
            osrelease = f.read().strip()
    except OSError:
        return None
    facts = WslFacts(wsl_version(osrelease), osrelease)
    if facts.version != 2:
        return facts
    for path in _wslconfig_candidates():
        try:
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                facts.networking_mode = parse_wslconfig(f.read()) or "nat"
            facts.wslconfig, facts.mode_source = path, path
            break
        except OSError:
            continue
    # Mirrored mode shows the host's loopback as a "loopback0" interface inside WSL.
    if facts.mode_source is None and any(i.interface == "loopback0" for i in snap.interfaces):
        facts.networking_mode, facts.mode_source = "mirrored", "the loopback0 interface"
    if facts.mode_source is None:
        snap.visibility["wslconfig"] = ("%UserProfile%\\.wslconfig was not found under /mnt/*/Users; "
                                        "assuming the default NAT networking mode")
    return facts


def _wslconfig_candidates() -> list[str]:
    users = [os.environ.get("USER", ""), os.environ.get("LOGNAME", "")]
    named = [f"/mnt/c/Users/{u}/.wslconfig" for u in users if u]
    found = sorted(glob.glob("/mnt/*/Users/*/.wslconfig"))
    return named + (found if len(found) == 1 else [])


# --- Windows excluded port ranges ----------------------------------------------------


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


def gather_excluded_ranges(snap, protocol: str = "tcp") -> list[PortRange] | None:
    result = run_command(["netsh", "int", "ipv4", "show", "excludedportrange", f"protocol={protocol}"], timeout=3.0)
    if not result.ok:
        snap.visibility["excluded_ports"] = result.error or f"netsh exited with {result.returncode}"
        return None
    return parse_excluded_port_ranges(result.stdout)


# --- SELinux ------------------------------------------------------------------------


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
    comm: str  # the program that was refused
    source_type: str  # httpd_t
    target_type: str  # unreserved_port_t
    permissive: bool
    line: str


_AVC = re.compile(r'avc:\s+denied\s+\{ name_bind \} for .*?comm="(?P<comm>[^"]*)".*?\bsrc=(?P<port>\d+)'
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


def gather_selinux(snap, port: int) -> SelinuxFacts:
    facts = SelinuxFacts(read_selinux_mode())
    if facts.mode is None:
        return facts
    labels = run_command(["semanage", "port", "-l"], timeout=10.0)
    if labels.ok:
        facts.port_table = parse_semanage_ports(labels.stdout)
    else:
        facts.semanage_error = _why(labels)
    try:
        with open(AUDIT_LOG, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - AUDIT_TAIL_BYTES))
            facts.denials = parse_avc_name_bind(f.read().decode("utf-8", "replace"), port)
    except OSError as exc:
        facts.audit_error = f"{AUDIT_LOG}: {exc.strerror or exc}"
    return facts


# --- macOS --------------------------------------------------------------------------


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


def gather_macos_firewall(snap) -> MacosFirewall:
    facts = MacosFirewall()
    alf = run_command([SOCKETFILTERFW, "--getglobalstate", "--getblockall", "--getstealthmode"], timeout=3.0)
    if alf.ok:
        facts.alf = parse_socketfilterfw(alf.stdout)
    else:
        facts.alf_error = _why(alf)
    pf = run_command(["pfctl", "-sr"], timeout=3.0)
    if pf.ok:
        facts.pf_rules = pf.stdout
    else:
        facts.pf_error = _why(pf)
    return facts



def _why(result) -> str:
    """One line saying why a command gave no answer."""
    lines = result.stderr.strip().splitlines()
    return result.error or (lines[-1] if lines else f"{result.argv[0]} exited with {result.returncode}")
