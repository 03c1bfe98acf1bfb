"""The server side without Python: facts from standard commands, read here.

When the remote host has no usable ``python3``, the remote shell line prints the
output of ``ss``, ``ip -o addr``, ``nft -j list ruleset`` and ``iptables-save`` (see
:mod:`.bundle`). :func:`diagnose_reduced` reads them (hostile text: cleaned where it
enters) into a :class:`~portdoctor.facts.Snapshot` of THAT machine and runs the checks
that read nothing but the snapshot and the probes (service running, wrong interface,
protocol mismatch, firewall) against it, with the client's own probes. Checks that
would read more of the machine (services, binders, namespaces, platform traps) are not
run: their absence is stated in the report's notes, never guessed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from portdoctor.api import Context, Options
from portdoctor.facts import InterfaceAddress, Snapshot
from portdoctor.model import HostInfo, Report, Socket, Target
from portdoctor.remote.receive import clean

if TYPE_CHECKING:
    from portdoctor.facts.rules import FirewallFacts
    from portdoctor.plugins import LoadedCheck

REDUCED_NOTE = ("reduced facts: no python3 (3.10+) on this host, so portdoctor read `ss`, `ip addr`, "
                "`nft`/`iptables-save` output instead; process details, other namespaces, services and "
                "platform checks were not looked at")

_SS_PROCESS = re.compile(r'\("([^"]*)",pid=(\d+)')
_ADDR = re.compile(r"^\d+:\s+(\S+)\s+(inet6?)\s+([0-9a-fA-F:.]+)/(\d+)")


def parse_ss(text: str, default_port: int | None = None) -> list[Socket]:
    """``ss -Htanup`` / ``ss -Htlnu`` lines into sockets (owners where ss showed them)."""
    sockets = []
    for line in text.splitlines()[:5000]:
        fields = line.split()
        if len(fields) < 6 or fields[0] not in ("tcp", "udp"):
            continue
        local = fields[4]
        address, _, port_text = local.rpartition(":")
        if not port_text.isdigit():
            continue
        interface = None
        if "%" in address:
            address, _, interface = address.partition("%")
        address = address.strip("[]")
        if address == "*":
            address = "0.0.0.0"
        family = 6 if ":" in address else 4
        process = pid = None
        m = _SS_PROCESS.search(line)
        if m:
            process, pid = clean(m.group(1), 100), int(m.group(2))
        state = "UNCONN" if fields[0] == "udp" and fields[1] == "UNCONN" else fields[1]
        queue = [int(v) if v.isdigit() else None for v in fields[2:4]]
        sockets.append(Socket(fields[0], family, clean(address, 100), int(port_text), clean(state, 20),
                              pid=pid, process=process, interface=clean(interface, 40) if interface else None,
                              recv_queue=queue[0], send_queue=queue[1]))
    return sockets


def parse_addresses(text: str) -> list[InterfaceAddress]:
    out = []
    for line in text.splitlines()[:2000]:
        m = _ADDR.match(line.strip())
        if m:
            out.append(InterfaceAddress(clean(m.group(1), 40), m.group(3), 6 if m.group(2) == "inet6" else 4,
                                        int(m.group(4))))
    return out


def _firewall(sections: dict[str, str]) -> FirewallFacts:
    from portdoctor.bounded import CommandResult
    from portdoctor.facts.firewall import build_facts

    def result(name: str, argv: list[str], ok: Callable[[str], bool]) -> CommandResult:
        text = sections.get(name, "")
        good = ok(text.strip())
        return CommandResult(argv, 0 if good else 1, text if good else "", "" if good else clean(text, 300),
                             None if good else (clean(text.strip().splitlines()[-1], 200) if text.strip()
                                                else f"{argv[0]} printed nothing"))

    return build_facts({
        "nft-json": result("nft", ["nft", "-j", "list", "ruleset"], lambda t: t.startswith("{")),
        "iptables": result("iptables", ["iptables-save"], lambda t: t == "" or t.startswith(("#", "*"))),
        "ip6tables": result("ip6tables", ["ip6tables-save"], lambda t: t == "" or t.startswith(("#", "*"))),
    })


def _checks(client: str | None) -> list[LoadedCheck]:
    from portdoctor.checks.firewall import FirewallCheck
    from portdoctor.checks.protocol_mismatch import ProtocolMismatchCheck
    from portdoctor.checks.service_running import ServiceRunningCheck
    from portdoctor.checks.wrong_interface import WrongInterfaceCheck
    from portdoctor.plugins import LoadedCheck
    from portdoctor.remote.ingress import ClientIngressCheck

    checks = [ServiceRunningCheck(), ProtocolMismatchCheck(), WrongInterfaceCheck(), FirewallCheck(),
              ClientIngressCheck(client)]
    return sorted((LoadedCheck(c, "built-in", type(c).__module__) for c in checks),
                  key=lambda c: (c.check.order, c.check.name))


def diagnose_reduced(sections: dict[str, str], client: Report, label: str) -> Report:
    """The server's side from its command output, judged by the snapshot-only checks."""
    from portdoctor.pipeline import decide_verdict, run_check

    started = time.perf_counter()
    port, protocol = client.target.port, client.target.protocol
    euid = sections.get("id", "").strip()
    snap = Snapshot(port=port, protocol=protocol, os="linux", privileged=euid == "0")
    snap.sockets = [s for s in parse_ss(sections.get("ss", "")) if s.port == port]
    snap.all_listening = [s for s in parse_ss(sections.get("ss-listen", "")) if s.listening]
    snap.interfaces = parse_addresses(sections.get("addresses", ""))
    snap.firewall = _firewall(sections)
    snap.extras["init_process"] = None  # not read remotely: the check then names both ways to start
    snap.extras["listen_counters"] = None
    if not snap.privileged:
        snap.visibility["owners"] = "not root there: other users' processes are hidden (try --ssh-sudo)"

    address = next((p.address for p in client.probes if snap.is_local(p.address)), None)
    notes = [REDUCED_NOTE]
    if address is None:
        own = [i.address for i in snap.interfaces if i.interface != "lo" and i.family == 4]
        address = own[0] if own else (client.probes[0].address if client.probes else "127.0.0.1")
        notes.append(f"{label} does not hold the address probed from here; its own {address} was looked at")
    target = Target(f"{address}:{port}" if ":" not in address else f"[{address}]:{port}", address, port, protocol)
    probes = [p for p in client.probes if p.address == address]
    ctx = Context(target, [address], probes, snap, Options(), None)
    connection = sections.get("client", "").split()
    client_ip = connection[0] if len(connection) == 4 and re.fullmatch(r"[0-9A-Fa-f:.]{2,45}", connection[0]) else None
    for loaded in _checks(client_ip):
        if loaded.check.applies(ctx):
            ctx.findings.extend(run_check(loaded, ctx))
    for source, why in snap.visibility.items():
        notes.append(f"{source}: {why}")
    hostname = clean(sections.get("hostname", "").strip().splitlines()[0] if sections.get("hostname", "").strip()
                     else label, 255)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Report(client.tool_version, created,
                  HostInfo(hostname, clean(sections.get("uname", "").strip(), 200), snap.privileged),
                  target, [address], probes, [s for s in snap.sockets if s.listening], ctx.findings,
                  decide_verdict(ctx), (time.perf_counter() - started) * 1000, notes)
