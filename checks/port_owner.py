"""Is the port taken, and by whom? The ``port-in-use`` cause.

Lists every owner of the target's port (pid, process, user, masked command line) and
the sockets on it that are not listening (TIME_WAIT, a client bound to it). With
``--expect NAME`` it fails ``port-in-use`` when another program holds the port for the
target's address (a socket on another address, e.g. 127.0.0.1 while 127.0.0.2 is asked,
leaves that address free to bind: not a reason to kill anything). When an owner is
hidden (another user's process without root, or a process in another PID namespace) it
fails ``unverified`` with how to see it: never a guessed ``port-in-use``, never a pass.
"""

from __future__ import annotations

from collections import Counter

from portdoctor.api import (
    NOT_LISTENING,
    Action,
    Check,
    Context,
    Finding,
    Socket,
    dataclass,
    fix,
    is_loopback,
    owner_label,
    shell_quote,
)


def _describe_owner(s: Socket) -> str:
    """The one owner label (:func:`portdoctor.api.owner_label`) and its masked command line."""
    return owner_label(s) + (f": {s.cmdline}" if s.cmdline else "")


def owner_matches(sock: Socket, expected: str) -> bool:
    """Is this socket's owner the expected program? (``Socket.owned_by``)."""
    return sock.owned_by(expected)


def _our_probe(ctx: Context, sock: Socket) -> bool:
    """Is this non-listening socket the far end of portdoctor's own probe connection?

    A listener that never accepts keeps our connection in its queue, and the facts are
    read while (or after) we connect: that ESTABLISHED / CLOSE-WAIT socket is ours, not a
    client's. Matched on the address pair: its local address is the probed one, its remote
    port our probe's source port, its remote address ours (any loopback for a loopback target).
    """
    if sock.remote_port is None:
        return False
    for p in ctx.probes:
        if not p.source_port or p.source_port != sock.remote_port or _plain(sock.address) != _plain(p.address):
            continue
        remote = _plain(sock.remote_address) if sock.remote_address else None
        if remote is None or remote == _plain(p.address) or (is_loopback(remote) and is_loopback(p.address)):
            return True
    return False


def _plain(address: str) -> str:
    """``::ffff:127.0.0.1`` (an IPv4 peer of a dual-stack socket) -> ``127.0.0.1``."""
    return address[7:] if address.lower().startswith("::ffff:") and "." in address else address


@dataclass
class _Holders:
    """Who holds the port: the listeners here (owners seen or hidden), those in other network
    namespaces, and the sockets on it that do not listen."""

    port: int
    listening: list[Socket]  # every listener on the port, in the snapshot's order
    here: list[Socket]  # listeners in this network namespace: only these hold the port here
    elsewhere: list[Socket]  # listeners in other network namespaces
    others: list[Socket]  # not listening (TIME_WAIT, clients, a client bound to the port)

    @classmethod
    def of(cls, ctx: Context) -> _Holders:
        proto = ctx.target.protocol
        listening = [s for s in ctx.facts.sockets if s.listening and s.protocol == proto]
        # The sockets that are not listening are a lazy fact: read here, by the one check
        # that reports them, not while gathering.
        others = [s for s in ctx.fact(NOT_LISTENING) or [] if s.protocol == proto and s.namespace is None
                  and not _our_probe(ctx, s)]
        return cls(ctx.target.port, listening, [s for s in listening if s.namespace is None],
                   [s for s in listening if s.namespace is not None], others)

    @property
    def known(self) -> list[Socket]:
        return [s for s in self.here if s.pid]

    @property
    def hidden(self) -> list[Socket]:
        return [s for s in self.here if not s.pid]

    @property
    def owners(self) -> list[str]:
        """Each owner here once: seen ones with their command line, then the hidden ones."""
        return sorted({_describe_owner(s) for s in self.known}) + sorted({owner_label(s) for s in self.hidden})

    @property
    def states(self) -> Counter[str]:
        return Counter(s.state for s in self.others)

    @property
    def evidence(self) -> dict:
        return dict(owners=[{"pid": s.pid, "process": s.process, "user": s.user, "address": s.address,
                             "namespace": s.namespace} for s in self.listening],
                    other_states=dict(self.states))

    @property
    def hidden_words(self) -> str:
        n = len(self.hidden)
        return f" {n} listening socket(s) belong to a process this user cannot see." if n else ""

    @property
    def noted(self) -> str:
        """The sockets that do not listen, and the listeners in other network namespaces."""
        noted = ""
        states = self.states
        if states:
            noted = (" Not listening on the port: "
                     + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
                     + (" (connections that ended recently: harmless)." if set(states) <= {"TIME_WAIT", "TIME-WAIT"}
                        else "."))
            clients = [s for s in self.others if s.state not in ("TIME_WAIT",)]
            if clients and not self.here:
                noted += (f" {len(clients)} socket(s) use port {self.port} as their local port without listening "
                          "(a client bound to it, or an outgoing connection); they keep the port from being bound.")
        if self.elsewhere:
            noted += " In other network namespaces (they do not hold the port here): " + "; ".join(sorted(
                {f"{_describe_owner(s)} in {s.container or s.namespace}" for s in self.elsewhere})) + "."
        return noted


class PortOwnerCheck(Check):
    name = "port-owner"
    title = "Is the port taken, and by whom?"
    order = 200

    def run(self, ctx: Context) -> Finding:
        port, proto = ctx.target.port, ctx.target.protocol
        expected = ctx.options.expect
        h = _Holders.of(ctx)
        if not h.here:
            where = " in this network namespace" if h.elsewhere else ""
            title = f"Nothing holds port {port}/{proto}{where}" + (
                f"; {expected} is not running on it (see service-running)." if expected else ".")
            return self.passed(title, h.noted.strip(), evidence=h.evidence)
        held = f"Port {port}/{proto} is held by " + "; ".join(h.owners) + "."
        if not expected:
            return self.passed(held, (h.hidden_words + h.noted).strip(), evidence=h.evidence)
        return self._against_expected(ctx, h, expected, held)

    def _against_expected(self, ctx: Context, h: _Holders, expected: str, held: str) -> Finding:
        """--expect NAME: another program in the way, an owner that cannot be seen, or NAME itself."""
        port, proto, snap = ctx.target.port, ctx.target.protocol, ctx.facts
        evidence = {"expected": expected, **h.evidence}
        # Only a socket that takes the target's address holds the port for it: python on
        # 127.0.0.1:8000 leaves 127.0.0.2:8000 free for the expected program.
        local = [a for a in ctx.addresses if snap.is_local(a)]

        def in_the_way(s: Socket) -> bool:
            return not local or any(snap.serves(s, a) for a in local)

        strangers = [s for s in h.known if not owner_matches(s, expected) and in_the_way(s)]
        if strangers:
            return self._port_in_use(ctx, expected, strangers, held, h.hidden_words + h.noted, h.evidence)
        if any(in_the_way(s) for s in h.hidden):
            see = ctx.how_to_see_owners(f"--expect {shell_quote(expected)}")
            why = ("its owner is in another PID namespace (a container)" if snap.privileged
                   else "the owner is hidden from this user")
            return self.fail(
                "unverified",
                f"Cannot verify that {expected} owns port {port}/{proto}: {why}.",
                f"{held}{h.hidden_words}{h.noted} An expectation that cannot be checked is not a pass.",
                [see], evidence=evidence)
        if not any(s.owned_by(expected) for s in h.known):
            elsewhere_here = "; ".join(sorted({f"{s.address}: {owner_label(s)}" for s in h.here}))
            return self.passed(
                f"{expected} does not hold port {port}/{proto}; it is bound on other addresses only "
                f"({elsewhere_here}), so {', '.join(local)} is free to bind.",
                (h.hidden_words + h.noted).strip(), evidence=evidence)
        return self.passed(f"Port {port}/{proto} is held by {expected}, as expected.", (held + h.noted).strip(),
                           evidence=h.evidence)

    def _port_in_use(self, ctx: Context, expected: str, strangers: list[Socket], held: str, noted: str,
                     evidence: dict) -> Finding:
        port, proto = ctx.target.port, ctx.target.protocol
        first = strangers[0]
        title = f"Port {port}/{proto} is held by {owner_label(first)}, not by {expected}."
        steps = [
            fix("See what that process is before stopping it:", f"ps -o pid,user,lstart,args -p {first.pid}"),
            fix("Stop it, if it should not be there:", f"kill {first.pid}"),
            *([fix("If it is a systemd service, stop (and disable) the unit instead, or it comes back:",
                   f"systemctl status {first.pid}")] if ctx.systemd else []),
            fix(f"Or move {expected} to another free port and point its clients there.", None),
            fix("Last resort, kills every process on the port (check the list first with `fuser -v`):",
                f"fuser -k {port}/{proto}"),
        ]
        reason = f"it holds port {port}/{proto}, which {expected} should own"
        stop = list({s.pid: Action.stop_process(s, reason, expected) for s in strangers if s.pid is not None}.values())
        return self.fail("port-in-use", title, f"{held} Expected: {expected}.{noted}", steps,
                         actions=stop, evidence={"expected": expected, **evidence})
