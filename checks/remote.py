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

from portdoctor.api import Check, Context, Finding, Outcome, Probe, Status, bracketed, dataclass, fix

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.api import Route

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


def _remote_side_steps(port: int) -> list:
    return [fix("On the remote host: is anything listening?", f"ss -ltnp 'sport = :{port}'"),
            fix("On the remote host: its firewall rules.", "sudo nft list ruleset"),
            fix(f"In a cloud: the instance's security group / firewall must allow inbound TCP {port} from "
                "your address.", None)]


@dataclass
class _Attempt:
    """One probe of a remote address, with the route the kernel would use for it."""

    probe: Probe
    port: int
    os_name: str
    route: Route | None

    @classmethod
    def of(cls, ctx: Context, probe: Probe) -> _Attempt:
        from portdoctor.api import lazy_route

        return cls(probe, ctx.target.port, ctx.facts.os, lazy_route(ctx.facts, probe.address))

    @property
    def address(self) -> str:
        return self.probe.address

    @property
    def route_words(self) -> str:
        return self.route.describe() if self.route else "the route is unknown on this OS"

    @property
    def link(self) -> str | None:
        """The interface whose link holds the address (a direct route), or None."""
        return self.route.interface if self.route is not None and self.route.kind == "direct" else None

    @property
    def steps(self) -> list:
        return _path_steps(self.os_name, self.address, self.port)

    @property
    def evidence(self) -> dict:
        route = self.route
        return dict(address=self.address, outcome=str(self.probe.outcome), errno=self.probe.errno,
                    route=None if route is None else {"kind": route.kind, "interface": route.interface,
                                                      "gateway": route.gateway, "source": route.source,
                                                      "error": route.error})


class RemoteReachabilityCheck(Check):
    name = "remote"
    title = "Can the network reach the remote host?"
    after = ("firewall",)  # whose finding it defers to
    order = 460

    def applies(self, ctx: Context) -> bool:
        return any(not ctx.facts.is_local(a) for a in ctx.addresses)

    def run(self, ctx: Context) -> Finding | list[Finding]:
        firewall = ctx.finding("firewall")
        firewall_failed = firewall is not None and firewall.status is Status.FAIL
        findings = [self._judge(ctx, _Attempt.of(ctx, probe), firewall_failed)
                    for probe in ctx.probes if not ctx.facts.is_local(probe.address)]
        return findings or self.passed("No remote address to test.")

    def _judge(self, ctx: Context, a: _Attempt, firewall_failed: bool) -> Finding:
        """One remote address: what its probe's outcome, errno and route say."""
        probe = a.probe
        if probe.outcome is Outcome.OPEN:
            return self.passed(f"{a.address}:{a.port} accepted a connection ({a.route_words}).", evidence=a.evidence)
        if a.route is not None and a.route.kind in ("no-route", "unreachable", "prohibit", "blackhole"):
            return self._no_route(a)
        if probe.errno in (errno.EPERM, errno.EACCES) and probe.outcome is not Outcome.TIMEOUT:
            if firewall_failed:
                return self.passed(f"{a.address}: the local firewall rule found by the firewall "
                                   "check stops the connection before it leaves.", evidence=a.evidence)
            return self._not_permitted(a)
        if probe.outcome is Outcome.REFUSED:
            return self._reset(a)
        if probe.outcome is Outcome.UNREACHABLE:
            if firewall_failed:
                return self.passed(f"{a.address}: ICMP unreachable, explained by the rule the "
                                   "firewall check found.", evidence=a.evidence)
            return self._unreachable(a)
        if probe.outcome is Outcome.TIMEOUT:
            if firewall_failed:
                return self.passed(f"{a.address}: the timeout matches the rule the firewall check found.",
                                   evidence=a.evidence)
            return self._silent(ctx, a)
        return self.fail("unreachable", f"Connecting to {a.address}:{a.port} failed: {probe.error}.",
                         f"{a.route_words}. " + NOT_VISIBLE, a.steps, evidence=a.evidence)

    def _no_route(self, a: _Attempt) -> Finding:
        return self.fail(
            "unreachable", f"No usable route to {a.address}: {a.route_words}.",
            "The kernel refuses before sending anything: no network interface or gateway covers this "
            "address (a VPN that is down, a missing default route, a typo in the address), or a "
            "routing rule rejects it on purpose.",
            [fix("Show the routing table.", "ip route" if a.os_name == "linux" else "netstat -rn"),
             *a.steps[:1],
             fix("If it should go through a VPN, bring the VPN up; otherwise check the address.", None)],
            evidence=a.evidence)

    def _not_permitted(self, a: _Attempt) -> Finding:
        return self.fail(
            "firewall", f"This machine refused to send to {a.address}:{a.port} ({a.probe.error}).",
            "connect() failed with 'Operation not permitted' before any packet left: a local OUTPUT "
            "rule (nftables/iptables drop, or a security module) blocks it.",
            [fix("Find the rule.", "sudo nft list ruleset" if a.os_name == "linux" else None),
             fix("With iptables:", "sudo iptables -S OUTPUT")], evidence=a.evidence)

    def _reset(self, a: _Attempt) -> Finding:
        return self.fail(
            "not-listening",
            f"{a.address} answered, but refused port {a.port}: nothing listens there, or its firewall "
            "rejects with a TCP reset.",
            f"The host is up and reachable ({a.route_words}); the reset came from {a.address} itself or a "
            "firewall in front of it. Check the service on that host.",
            _remote_side_steps(a.port)[:2] + a.steps[:1], evidence=a.evidence)

    def _unreachable(self, a: _Attempt) -> Finding:
        if a.probe.errno != errno.EHOSTUNREACH:
            return self.fail(
                "unreachable", f"{a.address} is unreachable ({a.probe.error}).",
                f"A router on the path reported the network unreachable ({a.route_words}). " + NOT_VISIBLE,
                a.steps, evidence=a.evidence)
        how = ("no host answered ARP/neighbour discovery for it on "
               f"{a.link}: it is down, or the address is wrong" if a.link else
               "a router answered 'host unreachable', or a firewall rejected it with "
               "'icmp host-prohibited'")
        detail = (f"The connection failed with 'No route to host' ({a.route_words}): {how}. A REJECT "
                  "rule with host-prohibited on this machine would say the same: the firewall check "
                  "found none. " + NOT_VISIBLE)
        extra = [fix("See whether the neighbour answered (FAILED/INCOMPLETE: nobody there).",
                     f"ip neigh show {a.address}")] if a.link and a.os_name == "linux" else []
        return self.fail("unreachable", f"{a.address} is unreachable: {how}.", detail,
                         extra + a.steps + _remote_side_steps(a.port)[1:], evidence=a.evidence)

    def _silent(self, ctx: Context, a: _Attempt) -> Finding:
        """A timeout: UDP silence is not a failure; TCP silence is a drop or a host that is down."""
        if ctx.target.protocol == "udp":
            return self.warn(
                f"{a.address}:{a.port}/udp did not reply (UDP has no handshake: open or filtered).",
                f"Silence is what a working UDP service that ignores an empty datagram looks like, and also "
                f"what a drop looks like ({a.route_words}). Test with a real request for the protocol. "
                + NOT_VISIBLE, a.steps, cause="unreachable", evidence=a.evidence)
        reason = (f"{a.address} is on the link of {a.link}, and nothing answered "
                  "in time: the host is down or the address is wrong" if a.link else
                  "packets are dropped on the way or at the host, or the host is down")
        return self.fail(
            "unreachable", f"{a.address}:{a.port} does not answer (timeout): {reason}.",
            (f"The route is fine ({a.route_words})" if a.route is not None and a.route.routable
             else f"The route could not be checked ({a.route_words})")
            + " and no local firewall rule explains the silence. "
            + NOT_VISIBLE,
            a.steps + _remote_side_steps(a.port), evidence=a.evidence)
