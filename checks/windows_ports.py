"""Windows' reserved port ranges: the ``windows-excluded-ports`` check.

Windows reserves port ranges (Hyper-V, WSL2, Docker, WinNAT); binding inside them fails
with WSAEACCES 10013 while nothing listens (``port-in-use``: the port cannot be bound).
Applies on Windows only.
"""

from __future__ import annotations

from portdoctor.api import (
    Check,
    Context,
    Finding,
    excluded_ports,
    fix,
)


class WindowsExcludedPortsCheck(Check):
    name = "windows-excluded-ports"
    title = "Is the port inside a range Windows reserved?"
    order = 240

    def applies(self, ctx: Context) -> bool:
        return ctx.facts.os == "windows" and ctx.target.protocol in ("tcp", "udp")

    def run(self, ctx: Context) -> Finding:
        port = ctx.target.port
        protocol = ctx.target.protocol
        ranges = ctx.fact(excluded_ports(protocol))
        command = f"netsh int ipv4 show excludedportrange protocol={protocol}"
        if ranges is None:
            return self.skip("Could not read the excluded port ranges: "
                             f"{ctx.facts.visibility.get('excluded_ports', 'netsh failed')}.",
                             how="Run it yourself.", command=command)
        holding = [r for r in ranges if port in r]
        if not holding:
            return self.passed(f"Port {port} is outside every excluded {protocol.upper()} range "
                               f"({len(ranges)} ranges).", evidence={"ranges": [str(r) for r in ranges]})
        r = holding[0]
        if ctx.listeners(protocol=protocol, own_namespace=False):
            return self.passed(f"Port {port} is in the excluded range {r}, but a service is bound to it.",
                               evidence={"ranges": [str(r) for r in holding]})
        who = "an administrator (netsh add excludedportrange)" if r.administered else \
            "Windows for Hyper-V, WSL2, Docker Desktop or WinNAT"
        steps = [fix("Use a port outside the excluded ranges.", command)]
        if not r.administered:
            steps.append(fix("Restart WinNAT to release its dynamic reservations (as administrator), then "
                             "start your service before Hyper-V/WSL reserve the port again.",
                             "net stop winnat; net start winnat"))
            steps.append(fix("While the port is free, reserve it for yourself so it is not taken again.",
                             f"netsh int ipv4 add excludedportrange protocol={protocol} startport={port} "
                             "numberofports=1"))
        else:
            steps.append(fix("Remove the administered exclusion if it is no longer wanted.",
                             f"netsh int ipv4 delete excludedportrange protocol={protocol} "
                             f"startport={r.start} numberofports={r.end - r.start + 1}"))
        return self.fail(
            "port-in-use",
            f"Port {port} cannot be bound: it is inside the excluded range {r}, reserved by {who}.",
            "Binding a port in an excluded range fails with WSAEACCES (10013, 'An attempt was made to "
            "access a socket in a way forbidden by its access permissions') although nothing listens.",
            steps, evidence={"range": str(r), "administered": r.administered},
        )
