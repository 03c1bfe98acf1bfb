"""The remote end: runs on the other machine, from the zip that :mod:`.bundle` sent.

Started by the bootstrap with the spec the local side chose (targets, timeout,
``--expect``, and for ``--ssh`` the addresses the client connects to). It loads the
built-in checks named in the zip's manifest (the remote host has no installed
distribution, so there are no entry points to read), diagnoses each target with the
same :func:`portdoctor.pipeline.diagnose` as a local run, and prints one JSON envelope
behind a ``NONCE report`` marker line. It needs only the standard library: psutil,
platformdirs and Textual are never imported on this path.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zipfile

ENVELOPE = "portdoctor/remote/v1"


def main(spec_text: str, nonce: str, archive: zipfile.ZipFile) -> int:
    from portdoctor import __version__
    from portdoctor.api import Options
    from portdoctor.bounded import parallel_map
    from portdoctor.pipeline import diagnose
    from portdoctor.plugins import EntryPoint, LoadedCheck, PluginError, _instantiate
    from portdoctor.target import parse_target

    spec = json.loads(base64.b64decode(spec_text))
    manifest = json.loads(archive.read("portdoctor/remote/checks.json"))
    checks: list[LoadedCheck] = []
    errors: list[PluginError] = []
    for name, value in manifest["checks"]:
        try:
            checks.append(LoadedCheck(_instantiate(EntryPoint(name, value, "portdoctor", __version__).load()),
                                      "built-in", value))
        except Exception as exc:  # noqa: BLE001 - reported like a local plugin failure
            errors.append(PluginError(value, f"{type(exc).__name__}: {exc}"))
    if any(item.get("server_side") for item in spec["targets"]):
        # --ssh: judge the rules for the client's packet too, not only for this host's own probe over lo.
        from portdoctor.remote.ingress import ClientIngressCheck, client_address

        checks.append(LoadedCheck(ClientIngressCheck(client_address()), "built-in", "portdoctor.remote.ingress"))
    checks.sort(key=lambda c: (c.check.order, c.check.name))
    options = Options(timeout=float(spec.get("timeout", 2.0)), expect=spec.get("expect"))

    notes: list[str] = []
    targets = []
    for item in spec["targets"]:
        target = parse_target(item["input"])
        chosen = _server_side_address(item.get("addresses") or [], notes) if item.get("server_side") else None
        if chosen is not None:
            from portdoctor.records import replace

            target = replace(target, host=chosen, host_defaulted=False)
        targets.append(target)

    from portdoctor.facts.machine import MachineFacts

    machine = MachineFacts()  # rules, interfaces, namespaces: read once for every target
    reports = parallel_map(lambda t: diagnose(t, checks, options, plugin_errors=errors, machine=machine),
                           targets, max_workers=8)
    envelope = {
        "envelope": ENVELOPE,
        "version": __version__,
        "python": ".".join(str(n) for n in sys.version_info[:3]),
        "euid": _euid(),
        "notes": notes,
        "reports": [r.to_dict() for r in reports],
    }
    sys.stdout.write(f"\n{nonce} report\n{json.dumps(envelope)}\n{nonce} end\n")
    sys.stdout.flush()
    return 0


def _server_side_address(candidates: list[str], notes: list[str]) -> str | None:
    """The address the client connects to, if this machine holds it; else one it does hold.

    Behind NAT or a load balancer the client's address is not on this host: the port
    is then diagnosed on this host's first non-loopback address of the same family.
    """
    from portdoctor.facts import Snapshot
    from portdoctor.facts.interfaces import gather_interfaces

    snap = Snapshot(port=1)
    try:
        gather_interfaces(snap)
    except Exception:  # noqa: BLE001 - without interfaces, the client's address is the best guess
        return candidates[0] if candidates else None
    for address in candidates:
        if snap.is_local(address):
            return address
    if not candidates:
        return None
    family = 6 if ":" in candidates[0] else 4
    own = [i.address for i in snap.interfaces
           if i.family == family and i.interface != "lo" and _reachable_from_elsewhere(i.address)]
    if own:
        notes.append(f"this host does not hold {candidates[0]} (NAT or a load balancer in between?); "
                     f"the port was diagnosed on its own address {own[0]}")
        return own[0]
    notes.append(f"this host does not hold {candidates[0]} and has no other address of that family")
    return candidates[0]


def _reachable_from_elsewhere(address: str) -> bool:
    """Could another machine connect to this address: not loopback, not link-local?"""
    import ipaddress

    from portdoctor.target import is_loopback

    if is_loopback(address):
        return False
    try:
        return not ipaddress.ip_address(address.split("%", 1)[0]).is_link_local
    except ValueError:
        return False


def _euid() -> int | None:
    import os

    return os.geteuid() if hasattr(os, "geteuid") else None
