"""Can the network reach a remote target? The ``unreachable`` cause, for other machines.

For an address that is not this machine's, local sockets say nothing; what can be
known from here is the route the kernel would use (asked without sending a packet)
and how the connection failed: ENETUNREACH (no route), EHOSTUNREACH (no answer on the
link, or an ICMP host-unreachable/prohibited from a router or firewall), EPERM (a
local OUTPUT rule dropped it), a reset (the host is up, nothing listens), or silence
(dropped somewhere: a cloud security group or a remote firewall cannot be seen from
here, and the finding says so).
"""

from __future__ import annotations

import errno

from portdoctor.api import Check, Context, Outcome, Route, Status, bracketed, fix, lazy_route

NOT_VISIBLE = ("What cannot be seen from here: a cloud security group or network ACL, a firewall on the "
               "remote host or on the path, and whether the service there runs at all.")


def _path_steps(os_name: str, address: str, port: int) -> list:
    shown = bracketed(address)
    if os_name == "windows":
        return [fix("Test and trace from here.", f"Test-NetConnection {address} -Port {port} -TraceRoute"),
                fix("Show the route.", f"Find-NetRoute -RemoteIPAddress {address}")]
    if os_name == "darwin":
        return [fix("Show the route.", f"route -n get {address}"),
                fix("Trace the path with TCP to the port.", f"sudo traceroute -P tcp -p {port} {address}")]
    return [fix("Show the route the kernel picks (sends nothing).", f"ip route get {address}"),
            fix("Trace the path with TCP to the port (where packets stop).", f"sudo traceroute -T -p {port} {address}"),
            fix("Test from another machine on the same network, to split 'this host' from 'that host'.",
                f"nc -vz -w 3 {shown} {port}")]


def _on_link(route: Route | None) -> str | None:
    """The interface whose link holds the address (a direct route), or None."""
    return route.interface if route is not None and route.kind == "direct" else None


def _remote_side_steps(port: int) -> list:
    return [fix("On the remote host: is anything listening?", f"ss -ltnp 'sport = :{port}'"),
            fix("On the remote host: its firewall rules.", "sudo nft list ruleset"),
            fix(f"In a cloud: the instance's security group / firewall must allow inbound TCP {port} from "
                "your address.", None)]


class RemoteReachabilityCheck(Check):
    name = "remote"
    title = "Can the network reach the remote host?"
    after = ("firewall",)  # whose finding it defers to
    order = 460

    def applies(self, ctx: Context) -> bool:
        return any(not ctx.facts.is_local(a) for a in ctx.addresses)

    def run(self, ctx: Context):
        port, os_name = ctx.target.port, ctx.facts.os
        firewall = ctx.finding("firewall")
        firewall_failed = firewall is not None and firewall.status is Status.FAIL
        findings = []
        for probe in ctx.probes:
            address = probe.address
            if ctx.facts.is_local(address):
                continue
            route = lazy_route(ctx.facts, address)
            route_words = route.describe() if route else "the route is unknown on this OS"
            evidence = dict(address=address, outcome=str(probe.outcome), errno=probe.errno,
                            route=None if route is None else {"kind": route.kind, "interface": route.interface,
                                                              "gateway": route.gateway, "source": route.source,
                                                              "error": route.error})
            if probe.outcome is Outcome.OPEN:
                findings.append(self.passed(f"{address}:{port} accepted a connection ({route_words}).", evidence=evidence))
                continue
            steps = _path_steps(os_name, address, port)
            if route is not None and route.kind in ("no-route", "unreachable", "prohibit", "blackhole"):
                findings.append(self.fail(
                    "unreachable", f"No usable route to {address}: {route_words}.",
                    "The kernel refuses before sending anything: no network interface or gateway covers this "
                    "address (a VPN that is down, a missing default route, a typo in the address), or a "
                    "routing rule rejects it on purpose.",
                    [fix("Show the routing table.", "ip route" if os_name == "linux" else "netstat -rn"),
                     *steps[:1],
                     fix("If it should go through a VPN, bring the VPN up; otherwise check the address.", None)],
                    evidence=evidence))
                continue
            if probe.errno in (errno.EPERM, errno.EACCES) and probe.outcome is not Outcome.TIMEOUT:
                if firewall_failed:
                    findings.append(self.passed(f"{address}: the local firewall rule found by the firewall "
                                                "check stops the connection before it leaves.", evidence=evidence))
                    continue
                findings.append(self.fail(
                    "firewall", f"This machine refused to send to {address}:{port} ({probe.error}).",
                    "connect() failed with 'Operation not permitted' before any packet left: a local OUTPUT "
                    "rule (nftables/iptables drop, or a security module) blocks it.",
                    [fix("Find the rule.", "sudo nft list ruleset" if os_name == "linux" else None),
                     fix("With iptables:", "sudo iptables -S OUTPUT")], evidence=evidence))
                continue
            if probe.outcome is Outcome.REFUSED:
                findings.append(self.fail(
                    "not-listening",
                    f"{address} answered, but refused port {port}: nothing listens there, or its firewall "
                    "rejects with a TCP reset.",
                    f"The host is up and reachable ({route_words}); the reset came from {address} itself or a "
                    "firewall in front of it. Check the service on that host.",
                    _remote_side_steps(port)[:2] + steps[:1], evidence=evidence))
                continue
            if probe.outcome is Outcome.UNREACHABLE:
                if firewall_failed:
                    findings.append(self.passed(f"{address}: ICMP unreachable, explained by the rule the "
                                                "firewall check found.", evidence=evidence))
                    continue
                if probe.errno == errno.EHOSTUNREACH:
                    link = _on_link(route)
                    how = ("no host answered ARP/neighbour discovery for it on "
                           f"{link}: it is down, or the address is wrong" if link else
                           "a router answered 'host unreachable', or a firewall rejected it with "
                           "'icmp host-prohibited'")
                    detail = (f"The connection failed with 'No route to host' ({route_words}): {how}. A REJECT "
                              "rule with host-prohibited on this machine would say the same: the firewall check "
                              "found none. " + NOT_VISIBLE)
                    extra = [fix("See whether the neighbour answered (FAILED/INCOMPLETE: nobody there).",
                                 f"ip neigh show {address}")] if link and os_name == "linux" else []
                    findings.append(self.fail("unreachable", f"{address} is unreachable: {how}.", detail,
                                              extra + steps + _remote_side_steps(port)[1:], evidence=evidence))
                    continue
                findings.append(self.fail(
                    "unreachable", f"{address} is unreachable ({probe.error}).",
                    f"A router on the path reported the network unreachable ({route_words}). " + NOT_VISIBLE,
                    steps, evidence=evidence))
                continue
            if probe.outcome is Outcome.TIMEOUT:
                if firewall_failed:
                    findings.append(self.passed(f"{address}: the timeout matches the rule the firewall check found.",
                                                evidence=evidence))
                    continue
                link = _on_link(route)
                reason = (f"{address} is on the link of {link}, and nothing answered in time: the "
                          "host is down or the address is wrong" if link else
                          "packets are dropped on the way or at the host, or the host is down")
                if ctx.target.protocol == "udp":
                    findings.append(self.warn(
                        f"{address}:{port}/udp did not reply (UDP has no handshake: open or filtered).",
                        f"Silence is what a working UDP service that ignores an empty datagram looks like, and also "
                        f"what a drop looks like ({route_words}). Test with a real request for the protocol. "
                        + NOT_VISIBLE, steps, cause="unreachable", evidence=evidence))
                    continue
                findings.append(self.fail(
                    "unreachable", f"{address}:{port} does not answer (timeout): {reason}.",
                    (f"The route is fine ({route_words})" if route is not None and route.routable
                     else f"The route could not be checked ({route_words})")
                    + " and no local firewall rule explains the silence. "
                    + NOT_VISIBLE,
                    steps + _remote_side_steps(port), evidence=evidence))
                continue
            findings.append(self.fail("unreachable", f"Connecting to {address}:{port} failed: {probe.error}.",
                                      f"{route_words}. " + NOT_VISIBLE, steps, evidence=evidence))
        return findings or self.passed("No remote address to test.")
