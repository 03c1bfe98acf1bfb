"""What did the client's error message say, and does it match what portdoctor sees now?

Runs only when the TARGET was read from a client's error message. Two questions:

- The address the client used. libpq prints ``(::1)``, Node ``::1:5173``: when the
  connection to that address fails now while a listener serves another address of
  the same name, that is the diagnosis, said in the client's terms ("your client
  connected to ::1; the server listens on 127.0.0.1 only"): ``wrong-interface``.
  An address the client used that the name no longer resolves to here means the
  client resolved differently (another /etc/hosts, a container's resolver).
- Refused, timed out or not resolved: when portdoctor observes something else now,
  the contradiction is itself a finding (``warn``): it works now (the service started
  meanwhile, or it fails intermittently), or it fails differently (a DROP rule or
  another network namespace on the client's path).
"""

from __future__ import annotations

from portdoctor.api import Check, ClientMessage, Context, Finding, Outcome, fix, hostport

_SAID_WORDS = {
    "refused": "the connection was refused", "timeout": "the connection timed out",
    "dns": "the name did not resolve", "unreachable": "the network or host was unreachable",
    "permission": "permission was denied", "missing": "the socket file did not exist",
}
_NOW_FOR_SAID = {"refused": Outcome.REFUSED, "timeout": Outcome.TIMEOUT, "unreachable": Outcome.UNREACHABLE}


class ClientMessageCheck(Check):
    name = "client-message"
    title = "Does what the client's message says match what is seen now?"
    order = 55  # right after resolution: the client's own address comes first
    protocols = ("tcp", "udp", "unix")
    needs_addresses = False

    def applies(self, ctx: Context) -> bool:
        return ctx.target.message is not None

    def run(self, ctx: Context) -> list[Finding]:
        message = ctx.target.message
        if message is None:  # applies() said it is set
            return []
        findings = []
        if message.note:
            findings.append(self.warn(f"{message.client}: the failure happened beyond this machine's view.",
                                      message.note, evidence={"said": message.said, "client": message.client}))
            return findings
        used = self._address_used(ctx, message)
        if used is not None:
            findings.append(used)
        findings.append(self._contradiction(ctx, message))
        return findings

    def _address_used(self, ctx: Context, message: ClientMessage) -> Finding | None:
        host, port = ctx.target.host, ctx.target.port
        for address in message.addresses:
            if ctx.addresses and address not in ctx.addresses and address != host:
                return self.warn(f"Your client connected to {address}, but {host} resolves here to "
                                 f"{', '.join(ctx.addresses)}.",
                                 "The client resolved the name differently (its own /etc/hosts, a container's "
                                 "resolver, a VPN's DNS): diagnose from where the client runs.",
                                 [fix("Diagnose the address the client used.", f"portdoctor {hostport(address, port)}")],
                                 evidence={"client_address": address})
            probe = next((p for p in ctx.probes if p.address == address), None)
            if probe is None or probe.outcome is Outcome.OPEN:
                continue
            listeners = ctx.listeners()
            if not listeners or any(ctx.facts.serves(s, address) for s in listeners):
                continue  # nothing listens at all, or something does serve it: the other checks say why
            others = sorted({s.address for s in listeners})
            family = "IPv6" if ":" in address else "IPv4"
            alternative = next((a for a in ctx.addresses if a != address and any(
                ctx.facts.serves(s, a) for s in listeners)), others[0] if others[0] not in ("0.0.0.0", "::") else None)
            steps = []
            if alternative:
                steps.append(fix(f"Point the client at {hostport(alternative, port)} instead of "
                                 f"{hostport(host, port)}."))
            steps.append(fix(f"Or make the server listen on {address} too ({family}): bind it to "
                             f"{'::' if ':' in address else '0.0.0.0'} or to both loopback addresses."))
            return self.fail("wrong-interface",
                             f"Your client connected to {address}; the server listens on {', '.join(others)} only.",
                             f"{message.client} said it used {address} ({family}); the connection to "
                             f"{hostport(address, port)} fails here ({probe.outcome}), while a listener on port "
                             f"{port} serves {', '.join(others)}.", steps, evidence={"client_address": address})
        return None

    def _contradiction(self, ctx: Context, message: ClientMessage) -> Finding:
        said = message.said
        words = _SAID_WORDS.get(said or "", "the connection failed")
        if ctx.target.protocol == "unix":
            probe = ctx.probes[0] if ctx.probes else None
            if probe is not None and probe.outcome is Outcome.OPEN:
                return self._works_now(ctx, message, words)
            return self.passed(f"{message.client} said {words}; the socket fails now too.", evidence={"said": said})
        if said == "dns":
            if ctx.resolve_error is None and ctx.addresses:
                return self.warn(f"{message.client} said {ctx.target.host} did not resolve, but it resolves here "
                                 f"({', '.join(ctx.addresses)}).",
                                 "The client's resolver differs from this one (a container's /etc/resolv.conf, "
                                 "a VPN split-DNS, a stale negative cache), or resolution failed briefly.",
                                 [fix("Resolve the name where the client runs.",
                                      f"getent ahosts {ctx.target.host}")], evidence={"said": said})
            return self.passed(f"{message.client} said {words}; it does not resolve here either.", evidence={"said": said})
        if not ctx.probes:
            return self.passed(f"{message.client} said {words}; nothing could be probed here.", evidence={"said": said})
        if ctx.reachable:
            return self._works_now(ctx, message, words)
        first = ctx.probes[0]
        expected = _NOW_FOR_SAID.get(said or "")
        if expected is not None and first.outcome is not expected and first.outcome is not Outcome.OPEN:
            return self.warn(f"{message.client} said {words}, but here it is {first.outcome} "
                             f"({first.address}).",
                             "The client met something else on its way: a DROP rule (timeout) or a REJECT "
                             "(refused) between it and the service, or it runs in another network namespace "
                             "(a container) where the port behaves differently. The findings below describe "
                             "this machine.", [fix("Run portdoctor where the client runs (in its container: "
                                                   "docker exec CONTAINER portdoctor ...).")], evidence={"said": said})
        return self.passed(f"{message.client} said {words}; the same is seen now ({first.outcome}).", evidence={"said": said})

    def _works_now(self, ctx: Context, message: ClientMessage, words: str) -> Finding:
        return self.warn(f"{message.client} said {words}, but {ctx.target.display} accepts connections now.",
                         "Either the service came up after the client tried (a start-up race: the client "
                         "started first), or it fails intermittently (restarts, a full accept queue under load), "
                         "or the client runs elsewhere: another network namespace or container, where "
                         f"{ctx.target.host} is not this machine.",
                         [fix("Make the client wait for the service (a retry, or a readiness check before it "
                              "starts).", f"portdoctor --wait 30 {ctx.target.display}"),
                          fix("If it keeps failing for the client, run portdoctor where the client runs.")],
                         evidence={"said": message.said})
