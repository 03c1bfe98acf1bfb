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

import shlex
from collections import Counter

from portdoctor.api import NOT_LISTENING, Action, Check, Context, Socket, fix, is_loopback


def _describe_owner(s: Socket) -> str:
    parts = [s.process or "?", f"pid {s.pid}"]
    if s.user:
        parts.append(f"user {s.user}")
    text = f"{parts[0]} ({', '.join(parts[1:])})"
    if s.cmdline:
        text += f": {s.cmdline}"
    return text


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


class PortOwnerCheck(Check):
    name = "port-owner"
    title = "Is the port taken, and by whom?"
    order = 200

    def run(self, ctx: Context):
        port, proto = ctx.target.port, ctx.target.protocol
        snap = ctx.facts
        expected = ctx.options.expect
        all_listeners = [s for s in snap.sockets if s.listening and s.protocol == proto]
        listeners = [s for s in all_listeners if s.namespace is None]  # only these hold the port here
        elsewhere = [s for s in all_listeners if s.namespace is not None]
        # The sockets that are not listening (TIME_WAIT, clients, a client bound to the port)
        # are a lazy fact: read here, by the one check that reports them, not while gathering.
        others = [s for s in ctx.fact(NOT_LISTENING) or [] if s.protocol == proto and s.namespace is None
                  and not _our_probe(ctx, s)]
        states = Counter(s.state for s in others)
        noted = ""
        if states:
            noted = (" Not listening on the port: "
                     + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
                     + (" (connections that ended recently: harmless)." if set(states) <= {"TIME_WAIT", "TIME-WAIT"}
                        else "."))
            clients = [s for s in others if s.state not in ("TIME_WAIT",) and not any(
                l.pid and l.pid == s.pid for l in listeners)]
            if clients and not listeners:
                noted += (f" {len(clients)} socket(s) use port {port} as their local port without listening "
                          "(a client bound to it, or an outgoing connection); they keep the port from being bound.")
        known = [s for s in listeners if s.pid]
        hidden = [s for s in listeners if not s.pid]
        owners = sorted({_describe_owner(s) for s in known})
        evidence = dict(owners=[{"pid": s.pid, "process": s.process, "user": s.user, "address": s.address,
                                 "namespace": s.namespace} for s in all_listeners],
                        other_states=dict(states))
        if elsewhere:
            noted += " In other network namespaces (they do not hold the port here): " + "; ".join(sorted(
                {f"{_describe_owner(s) if s.pid else 'a hidden owner'} in {s.container or s.namespace}"
                 for s in elsewhere})) + "."
        if not listeners:
            here = " in this network namespace" if elsewhere else ""
            if expected:
                return self.passed(f"Nothing holds port {port}/{proto}{here}; {expected} is not running on it "
                                   "(see service-running).", noted.strip(), evidence=evidence)
            return self.passed(f"Nothing holds port {port}/{proto}{here}.", noted.strip(), evidence=evidence)
        hidden_words = ""
        if hidden:
            uids = sorted({s.uid for s in hidden if s.uid is not None})
            hidden_words = (f" {len(hidden)} listening socket(s) belong to a process this user cannot see"
                            + (f" (uid {', '.join(map(str, uids))})" if uids else "") + ".")
        held = f"Port {port}/{proto} is held by " + ("; ".join(owners) if owners else "a hidden owner") + "."
        if not expected:
            return self.passed(held, (hidden_words + noted).strip(), evidence=evidence)
        # Only a socket that takes the target's address holds the port for it: python on
        # 127.0.0.1:8000 leaves 127.0.0.2:8000 free for the expected program.
        local = [a for a in ctx.addresses if snap.is_local(a)]

        def in_the_way(s: Socket) -> bool:
            return not local or any(snap.serves(s, a) for a in local)

        strangers = [s for s in known if not owner_matches(s, expected) and in_the_way(s)]
        if strangers:
            return self._port_in_use(ctx, expected, strangers, held, hidden_words + noted, evidence)
        if hidden and any(in_the_way(s) for s in hidden):
            see = ctx.how_to_see_owners(f"--expect {shlex.quote(expected)}")
            why = ("its owner is in another PID namespace (a container)" if snap.privileged
                   else "the owner is hidden from this user")
            return self.fail(
                "unverified",
                f"Cannot verify that {expected} owns port {port}/{proto}: {why}.",
                f"{held}{hidden_words}{noted} An expectation that cannot be checked is not a pass.",
                [see], evidence={"expected": expected, **evidence})
        if not any(s.owned_by(expected) for s in known):
            elsewhere_here = ", ".join(sorted({f"{s.address} ({f'{s.process or chr(63)}, pid {s.pid}' if s.pid else 'owner hidden'})"
                                               for s in listeners}))
            return self.passed(
                f"{expected} does not hold port {port}/{proto}; it is bound on other addresses only "
                f"({elsewhere_here}), so {', '.join(local)} is free to bind.",
                (hidden_words + noted).strip(), evidence={"expected": expected, **evidence})
        return self.passed(f"Port {port}/{proto} is held by {expected}, as expected.", (held + noted).strip(),
                           evidence=evidence)

    def _port_in_use(self, ctx: Context, expected: str, strangers: list[Socket], held: str, noted: str, evidence):
        port, proto = ctx.target.port, ctx.target.protocol
        first = strangers[0]
        who = f"{first.process or 'another program'} (pid {first.pid}" + (f", user {first.user}" if first.user else "") + ")"
        title = f"Port {port}/{proto} is held by {who}, not by {expected}."
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
