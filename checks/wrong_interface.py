"""Is it bound to the wrong interface? The ``wrong-interface`` cause.

Something listens on the target's port, but not on the address or family the client
connects to: bound to 127.0.0.2 while connecting to 127.0.0.1, ``::1`` only with an IPv4
target, an IPV6_V6ONLY socket on ``::`` with an IPv4 target, ``localhost`` resolving to
``::1`` first while the service listens on 127.0.0.1 only, bound to a non-loopback
interface address, or to one device with SO_BINDTODEVICE.

Whether a listening socket accepts connections to an address is the snapshot's to
answer (``ctx.facts.serves(sock, address)``): the firewall and backlog checks ask it too.
"""

from __future__ import annotations

from portdoctor.api import (
    Check,
    Context,
    Finding,
    Outcome,
    Probe,
    Socket,
    clients_that_fail_on,
    fix,
    hostport,
    owner_label,
)


def _family(address: str) -> int:
    return 6 if ":" in address else 4




def _describe(sock: Socket) -> str:
    extra = []
    if sock.family == 6 and sock.address == "::" and sock.v6only:
        extra.append("IPV6_V6ONLY: IPv6 only")
    if sock.interface:
        extra.append(f"bound to device {sock.interface}")
    return f"{hostport(sock.address, sock.port)}, {owner_label(sock)}{' (' + '; '.join(extra) + ')' if extra else ''}"


def bind_hints(family: int, port: int) -> str:
    """How common services bind every address of the refused family (4 or 6).

    0.0.0.0 is IPv4 only: it never serves ::1. For an IPv6 address the hint is ``::``
    (with IPV6_V6ONLY off it takes IPv4 too), so that both families are served.
    """
    if family == 6:
        return ("Framework hints (0.0.0.0 is IPv4 only and does not serve ::1; `::` with IPV6_V6ONLY off serves "
                f"both): uvicorn/flask/vite `--host ::`, rails `-b ::`, Django `runserver [::]:{port}`, "
                "MySQL `bind-address = *`, PostgreSQL `listen_addresses = '*'`, Redis `bind * -::*`, "
                f"nginx `listen {port}; listen [::]:{port};`.")
    return ("Framework hints: uvicorn/flask/vite `--host 0.0.0.0`, rails `-b 0.0.0.0`, "
            f"Django `runserver 0.0.0.0:{port}`, MySQL `bind-address = 0.0.0.0`, PostgreSQL "
            f"`listen_addresses = '*'`, Redis `bind 0.0.0.0`, nginx `listen {port};`.")


class WrongInterfaceCheck(Check):
    name = "wrong-interface"
    title = "Is it bound to the wrong interface?"
    order = 300

    def run(self, ctx: Context) -> Finding:
        port = ctx.target.port
        listeners = ctx.listeners()
        if not ctx.probes:
            return self.passed("No address to compare the listeners with.")
        if not listeners:
            return self.passed(f"Nothing listens on port {port} in this network namespace, "
                               "so no address is the wrong one.")
        local = [p for p in ctx.probes if ctx.facts.is_local(p.address)]
        if not local:
            return self.passed(f"{ctx.target.host} is not this machine: its listeners cannot be seen from here.",
                               evidence={"addresses": ctx.addresses})
        unserved = [p for p in local if not any(ctx.facts.serves(s, p.address) for s in listeners)]
        bound = ", ".join(_describe(s) for s in listeners)
        if not unserved:
            return self.passed(f"A listener on port {port} serves every address connected to.",
                               f"Listening: {bound}.")
        failed_unserved = [p for p in unserved if p.outcome is not Outcome.OPEN]
        if not failed_unserved:
            # Connected anyway (a NAT rule, a proxy): the bound address is not the problem.
            return self.passed(f"Connected on every address, though no listener here is bound to "
                               f"{', '.join(p.address for p in unserved)}.", f"Listening: {bound}.")
        expected = ctx.options.expect
        if expected and all(s.pid for s in listeners) and not any(s.owned_by(expected) for s in listeners):
            return self._expected_absent(ctx, expected, listeners, failed_unserved, bound)
        if ctx.reachable:  # the first address in resolver order accepts: a warning, not the verdict
            return self._clients_that_fail(ctx, listeners, failed_unserved, bound)
        return self._fail(ctx, listeners, failed_unserved, bound)

    def _clients_that_fail(self, ctx: Context, listeners: list[Socket], missing: list[Probe], bound: str) -> Finding:
        """Reachable by the resolver-order rule, but not on every address: name who still fails."""
        port = ctx.target.port
        first = ctx.probes[0].address
        missing_addrs = [p.address for p in missing]
        who = clients_that_fail_on(missing_addrs)
        return self.warn(
            f"{ctx.target.host} resolves to {', '.join(ctx.addresses)}; the service answers on {first} (first in "
            f"resolver order), but {', '.join(missing_addrs)} is refused: {who} will fail.",
            f"Listening on port {port}: {bound}. Clients that follow the resolver order (curl, Python, "
            "Node >= 17) connect to the first address; Happy Eyeballs clients (browsers, Go, Node with "
            "autoSelectFamily) try every address. Reachable, as portdoctor and --wait define it.",
            [fix("To serve every client, bind the service to every address (`::` with IPV6_V6ONLY off, or "
                 "both 0.0.0.0 and ::). " + bind_hints(6, port)),
             fix(f"Or point the failing clients at {hostport(first, port)}.", None)],
            cause="wrong-interface", evidence={"listening": [s.address for s in listeners], "not_served": missing_addrs, "open": [p.address for p in ctx.probes if p.outcome is Outcome.OPEN]})

    def _expected_absent(self, ctx: Context, expected: str, listeners: list[Socket], missing: list[Probe],
                         bound: str) -> Finding:
        """--expect NAME, and what listens on other addresses is another program: pointing the
        client there reaches the wrong program, and the asked address is free to bind."""
        port = ctx.target.port
        where = ", ".join(hostport(p.address, port) for p in missing)
        return self.fail(
            "not-listening",
            f"Nothing serves {where}, and {expected} does not listen on port {port} at all: "
            f"the port is bound only on other addresses, by another program ({bound}).",
            f"{where} is free to bind; the sockets on port {port} belong to other programs, so connecting "
            "to their addresses would reach the wrong service.",
            [fix(f"Start {expected} on {where} (that address is free), and check that it binds there.", None),
             fix("See what is bound to the port:", f"ss -ltnp 'sport = :{port}'")],
            evidence={"listening": [s.address for s in listeners], "not_served": [p.address for p in missing], "expected": expected})

    def _fail(self, ctx: Context, listeners: list[Socket], missing: list[Probe], bound: str) -> Finding:
        port = ctx.target.port
        missing_addrs = [p.address for p in missing]
        opened = [p.address for p in ctx.probes if p.outcome is Outcome.OPEN]
        first_missing = missing_addrs[0]
        want_family = _family(first_missing)
        detail = [f"Listening on port {port}: {bound}.",
                  "Connection attempts: " + ", ".join(f"{p.address} {p.outcome}" for p in ctx.probes) + "."]
        steps = []
        v6only = [s for s in listeners if s.family == 6 and s.address in ("::", "") and s.v6only and want_family == 4]
        devices = [s for s in listeners if s.interface and ctx.facts.interface_of(first_missing) not in (None, s.interface)]
        if opened:  # some addresses answer, others do not: localhost -> ::1 first, and the like
            title = (f"{ctx.target.host} resolves to {', '.join(ctx.addresses)}; the service listens on "
                     f"{', '.join(opened)} only, so connections to {', '.join(missing_addrs)} are refused.")
            detail.append("Clients try the resolver's addresses in order; many stop at the first refusal.")
            steps.append(fix(f"Connect to {hostport(opened[0], port)} instead of {ctx.target.display} "
                             "(the service answers there); check it with:",
                             f"portdoctor {hostport(opened[0], port)}"))
            steps.append(fix("Or bind the service to every address (IPv4 and IPv6): `::` with IPV6_V6ONLY off, "
                             "or both 0.0.0.0 and ::. " + bind_hints(want_family, port)))
        elif v6only:
            title = (f"Port {port} is bound on [::] with IPV6_V6ONLY, which takes IPv6 only; "
                     f"{first_missing} is IPv4.")
            steps.append(fix(f"Turn IPV6_V6ONLY off on that socket (or also bind 0.0.0.0), or connect over "
                             f"IPv6 to {hostport('::1', port)}; check it with:",
                             f"portdoctor {hostport('::1', port)}"))
            steps.append(fix("Check the system default if the service does not set it itself.",
                             "sysctl net.ipv6.bindv6only"))
        elif devices:
            title = (f"Port {port} is bound to device {devices[0].interface} (SO_BINDTODEVICE); "
                     f"{first_missing} is on another interface.")
            steps.append(fix("Remove the device binding from the service's configuration, or connect to an "
                             f"address on {devices[0].interface}."))
        else:
            families = {s.family for s in listeners}
            if want_family not in families and not any(ctx.facts.serves(s, first_missing) for s in listeners):
                fam_words = "IPv6" if want_family == 4 else "IPv4"
                title = (f"Port {port} listens on {fam_words} only ({', '.join(s.address for s in listeners)}); "
                         f"{first_missing} is IPv{want_family}.")
            else:
                title = (f"Port {port} is bound to {', '.join(sorted({s.address for s in listeners}))}, "
                         f"not to {first_missing}.")
            bound_addr = listeners[0].address
            connectable = "127.0.0.1" if bound_addr == "0.0.0.0" else ("::1" if bound_addr == "::" else bound_addr)
            steps.append(fix(f"Connect to {hostport(connectable, port)}, where the service listens; "
                             "check it with:", f"portdoctor {hostport(connectable, port)}"))
            everything = "0.0.0.0" if want_family == 4 else "::"
            steps.append(fix(f"Or bind the service to {first_missing} or to every address ({everything}; "
                             "for :: turn IPV6_V6ONLY off to take IPv4 too). "
                             + bind_hints(want_family, port)))
        steps.append(fix("See what is bound to the port:", f"ss -ltnp 'sport = :{port}'"
                         if ctx.target.protocol == "tcp" else f"ss -lunp 'sport = :{port}'"))
        return self.fail("wrong-interface", title, " ".join(detail), steps,
                         evidence={"listening": [s.address for s in listeners], "not_served": missing_addrs, "open": opened})
