"""Is the listener's accept queue full? The ``backlog-full`` cause.

A listener that stops calling ``accept()`` (hung, deadlocked, overloaded) keeps its
socket, so the port looks healthy, but once the accept queue reaches its limit the
kernel drops new connection attempts and clients hang until they time out. The
evidence: on Linux a LISTEN socket's Recv-Q (connections waiting) at its Send-Q (the
backlog limit), and the namespace's ``ListenOverflows`` counter rising while our probes
ran (read before and after them by the pipeline).

A listener whose process is stopped (SIGSTOP, Ctrl-Z, a debugger: state ``T``/``t``)
accepts nothing either, even while its queue still has room and our probe "connects":
that is never "accepting"; the first step is ``kill -CONT PID``.
"""

from __future__ import annotations

from portdoctor.api import (
    OWNER_STATES,
    STOPPED_STATES,
    Check,
    Context,
    Finding,
    Outcome,
    Socket,
    StoppedProcess,
    dataclass,
    fix,
    owner_label,
    stopped_processes,
)

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any


def at_limit(sock: Socket) -> bool:
    """The accept queue holds as many connections as the backlog allows (or more)."""
    if sock.recv_queue is None or sock.send_queue is None:
        return False
    return sock.recv_queue >= max(sock.send_queue, 1)


def remediation(os_name: str, port: int, pid: int | None) -> list:
    who = str(pid) if pid else "PID"
    if os_name == "darwin":
        return [
            fix("See the queue: qlen/incqlen/maxqlen of the listening socket.", f"netstat -Lan | grep '\\.{port} '"),
            fix("See what the service's threads are doing (5 s sample).", f"sample {who} 5"),
            fix("Raise the system's cap on the backlog, then the backlog the service passes to listen().",
                "sudo sysctl -w kern.ipc.somaxconn=1024"),
        ]
    if os_name == "windows":
        return [
            fix("Find the owning process.", f"Get-NetTCPConnection -LocalPort {port} -State Listen"),
            fix("Take a dump of the hung process to see its threads (Sysinternals).", f"procdump -ma {who}"),
            fix("Restart the service; raise the backlog it passes to listen() (SOMAXCONN_HINT).", None),
        ]
    return [
        fix("Confirm: Recv-Q (waiting) at Send-Q (limit) means nothing is accepting.",
            f"ss -ltn 'sport = :{port}'"),
        fix("See what the service's threads are doing: a Python service…", f"py-spy dump --pid {who}"),
        fix("…any native service (backtraces of every thread).",
            f"gdb -p {who} -batch -ex 'thread apply all bt'"),
        fix("Is it busy (CPU per thread) or blocked (0% everywhere)?", f"top -H -p {who}"),
        fix("Watch the kernel's drop counters rise as clients retry.",
            "nstat -az TcpExtListenOverflows TcpExtListenDrops"),
        fix("If it is only overloaded: raise the cap on the backlog, then the backlog the app passes "
            "to listen() (e.g. gunicorn --backlog, nginx `listen ... backlog=`).",
            "sudo sysctl -w net.core.somaxconn=4096"),
    ]


@dataclass
class _Queues:
    """The accept queues of the listeners for the target's local addresses, and what the
    probes and the kernel's overflow counters said about them."""

    port: int
    listeners: list[Socket]
    full: list[Socket]  # at their limit
    overflows: int | None  # connection attempts the kernel dropped while we probed
    timed_out: list[Any]  # probes of a local address that timed out

    @classmethod
    def of(cls, ctx: Context, listeners: list[Socket], local: list[str]) -> _Queues:
        counters = ctx.facts.extras.get("listen_counters")
        return cls(ctx.target.port, listeners, [s for s in listeners if at_limit(s)],
                   counters.overflows if counters is not None else None,
                   [p for p in ctx.probes if p.outcome is Outcome.TIMEOUT and p.address in local])

    @property
    def owner(self) -> Socket | None:
        return next((s for s in (self.full or self.listeners) if s.pid), None)

    @property
    def owner_pid(self) -> int | None:
        return self.owner.pid if self.owner else None

    @property
    def who(self) -> str:
        return owner_label(self.owner) if self.owner else "the service"

    @property
    def queues(self) -> str:
        return ", ".join(
            f"{s.address}:{s.port} {s.recv_queue if s.recv_queue is not None else '?'} waiting"
            f" / backlog {s.send_queue if s.send_queue is not None else '?'}" for s in self.listeners)

    @property
    def drops(self) -> str:
        return (f" The kernel dropped {self.overflows} connection attempt(s) for a full accept queue while we probed."
                if self.overflows else "")

    @property
    def evidence(self) -> dict[str, Any]:
        return dict(queues=[{"address": s.address, "waiting": s.recv_queue, "backlog": s.send_queue,
                             "pid": s.pid} for s in self.listeners],
                    listen_overflows_during_probes=self.overflows)


class BacklogCheck(Check):
    name = "backlog"
    title = "Is the listener accepting connections?"
    after = ("firewall",)  # a DROP rule also times out: the firewall finding explains it first
    order = 420

    def applies(self, ctx: Context) -> bool:
        return ctx.target.protocol == "tcp" and any(ctx.facts.is_local(a) for a in ctx.addresses)

    def run(self, ctx: Context) -> Finding:
        local = [a for a in ctx.addresses if ctx.facts.is_local(a)]
        listeners = [s for s in ctx.listeners(protocol="tcp") if s.state == "LISTEN"
                     and any(ctx.facts.serves(s, a) for a in local)]
        if not listeners:
            return self.passed("No listener here for these addresses, so no accept queue to fill.")
        q = _Queues.of(ctx, listeners, local)
        states = ctx.fact(OWNER_STATES) or {}
        stopped = [(s, states[s.pid]) for s in listeners if s.pid and states.get(s.pid) in STOPPED_STATES]
        if stopped:
            sock, state = stopped[0]
            return self._stopped(ctx, sock, state, q.full, q.queues, q.drops, q.evidence)
        if q.timed_out and (q.full or q.overflows):
            return self._not_accepting(ctx, q)
        if q.full:
            return self.warn(f"The accept queue on port {q.port} is at its limit ({q.queues}).",
                             f"Our probe got in, but the next connections will hang: {q.who} accepts more slowly "
                             f"than clients arrive, or not at all.{q.drops}",
                             remediation(ctx.facts.os, q.port, q.owner_pid),
                             cause="backlog-full", evidence=q.evidence)
        if all(s.recv_queue is None or s.send_queue is None for s in listeners):
            return self._not_visible(ctx, q)
        if not any(s.pid for s in listeners) and not ctx.facts.privileged:
            # Our probe only proves the kernel queued the handshake: a stopped owner shows the same.
            candidates = [c for uid in sorted({s.uid for s in listeners if s.uid is not None})
                          for c in stopped_processes(uid, q.port)]
            if candidates:
                return self._stopped_candidate(ctx, listeners, candidates, q)
            return self.passed(f"The accept queue has room ({q.queues}); {owner_label(listeners[0])}: whether its "
                               "process is stopped (SIGSTOP, a debugger) cannot be seen without root: run with sudo.",
                               evidence=q.evidence)
        return self.passed(f"The listener is accepting ({q.queues}).", evidence=q.evidence)

    def _stopped_candidate(self, ctx: Context, listeners: list[Socket], candidates: list[StoppedProcess], q: _Queues) -> Finding:
        """Without root: the owner is hidden, and a process of the socket's user is stopped.
        A candidate, not a proof: hedged, with how to see for sure."""
        port, best = q.port, candidates[0]
        names = f"; its command line names port {port}" if best.names_port else ""
        who = f"{best.process or 'a process'} (pid {best.pid}{names})"
        others = f", and {len(candidates) - 1} more stopped process(es) of that user" if len(candidates) > 1 else ""
        see = ctx.how_to_see_owners()
        steps = [fix(f"{see.text} That shows the socket's owner, and whether it is that process.", see.command),
                 fix("If it is, resume it:", f"sudo kill -CONT {best.pid}")]
        evidence = {"stopped_candidates": [{"pid": c.pid, "process": c.process, "state": c.state,
                                            "names_port": c.names_port} for c in candidates[:10]], **q.evidence}
        return self.warn(
            f"Port {port}: {owner_label(listeners[0])}, and a process of that user is "
            f"{STOPPED_STATES.get(best.state, 'stopped')}: {who}{others}. If it holds the port, nothing accepts "
            "connections.",
            f"The accept queue has room ({q.queues}), so the probe connected: the kernel completes the TCP "
            "handshake for a listening socket whether or not its process runs. Without root the socket cannot "
            "be tied to a process (another user's /proc/PID/fd is not readable); a stopped process of the same "
            "user is a candidate, not a proof.",
            steps, cause="backlog-full", evidence=evidence)

    def _not_accepting(self, ctx: Context, q: _Queues) -> Finding:
        """A probe timed out at a full queue (or while the kernel counted overflows)."""
        firewall = ctx.finding("firewall")
        # "found" only for a rule that was read; an inference from a timeout is not a rule.
        also = (" A firewall rule was also found; see the firewall check."
                if firewall is not None and firewall.cause == "firewall" and str(firewall.status) == "fail"
                and not firewall.evidence.get("inferred") else "")
        detail = (f"The socket exists but {q.who} is not calling accept(): its queue is at its limit "
                  f"({q.queues}), so the kernel ignores new connection attempts and clients hang until "
                  f"they time out.{q.drops} The process is hung, deadlocked or overloaded.{also}")
        if not q.full:
            detail = (f"The probe timed out although a listener exists ({q.queues}), and the kernel counted "
                      f"accept-queue overflows while we probed.{q.drops} Overflow counters are per network "
                      f"namespace, so another listener could share the blame; the queue of this one "
                      f"could not be read.{also}")
        return self.fail("backlog-full", f"{q.who} is not accepting: the accept queue on port {q.port} is full.",
                         detail, remediation(ctx.facts.os, q.port, q.owner_pid), evidence=q.evidence)

    def _not_visible(self, ctx: Context, q: _Queues) -> Finding:
        if ctx.facts.os == "linux":
            how, command = "Compare Recv-Q with Send-Q of the listening socket.", f"ss -ltn 'sport = :{q.port}'"
        elif ctx.facts.os == "darwin":
            how, command = "Compare qlen with maxqlen.", f"netstat -Lan | grep '\\.{q.port} '"
        else:
            how, command = "This OS does not show accept-queue lengths; watch whether accepts happen.", None
        return self.skip("The listener's accept-queue length is not visible here.", how, command, evidence=q.evidence)

    def _stopped(self, ctx: Context, sock: Socket, state: str, full: list[Socket], queues: str, drops: str,
                 evidence: dict) -> Finding:
        pid = sock.pid
        who = owner_label(sock)
        queue = (f"Its accept queue is full ({queues}): new clients hang until they time out.{drops}" if full else
                 f"Its accept queue still has room ({queues}), so clients connect, then wait forever for an "
                 "answer; once the queue fills they hang at connect.")
        steps = [fix("Resume it:", f"kill -CONT {pid}")]
        if state == "t":
            steps.append(fix("A debugger holds it: continue it there (gdb: `continue`), or detach.", None))
        steps.append(fix("See its state (T = stopped, t = stopped by a debugger):", f"ps -o pid,stat,args -p {pid}"))
        return self.fail("backlog-full", f"{who} is {STOPPED_STATES[state]}: nothing accepts connections "
                         f"on port {ctx.target.port}.",
                         f"The kernel completes the TCP handshake for a listening socket, but a stopped process "
                         f"never calls accept(). {queue}", steps, evidence={"process_state": state, **evidence})
