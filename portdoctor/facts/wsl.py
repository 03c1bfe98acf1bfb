"""WSL facts: :func:`wsl_version` (from ``/proc/sys/kernel/osrelease``),
:func:`parse_wslconfig` (``networkingMode`` in ``%UserProfile%\\.wslconfig``), :func:`gather_wsl`.

The gatherer is bounded and records what it could not see instead of guessing; the
parsers are pure, proven on real files in ``tests/fixtures/platform``.
"""

from __future__ import annotations

import os

from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.facts import Snapshot


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
    import configparser  # only under WSL 2, where a .wslconfig is read

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
    """WSL's version and networking mode."""

    version: int | None
    osrelease: str
    networking_mode: str | None = None  # from .wslconfig, or inferred
    mode_source: str | None = None  # where networking_mode came from
    wslconfig: str | None = None  # the path that was read


def gather_wsl(snap: Snapshot) -> WslFacts | None:
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
    import glob  # only under WSL 2

    found = sorted(glob.glob("/mnt/*/Users/*/.wslconfig"))
    return named + (found if len(found) == 1 else [])
