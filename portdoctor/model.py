"""The report model: plain record classes (:mod:`portdoctor.records`) built once per diagnosis.

Every output (text, Markdown, JSON, JUnit, the wizard) is a function of a
:class:`Report`. ``to_dict()`` gives the contract's JSON shape
(``../shared/contract.md``); fields beyond the contract are additions, never renames.
"""

from __future__ import annotations

from enum import Enum

from portdoctor.records import asdict, dataclass, field

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any, Protocol

SCHEMA_ID = "portdoctor/report/v1"


class Status(str, Enum):
    """The outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:  # so f-strings print "fail", not "Status.FAIL"
        return self.value


class Outcome(str, Enum):
    """The outcome of one connection attempt."""

    OPEN = "open"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


def bracketed(host: str) -> str:
    """An IPv6 literal in brackets (``[::1]``), anything else as it is."""
    return f"[{host}]" if ":" in host else host


def hostport(host: str, port: int) -> str:
    """``127.0.0.1:80``, ``[::1]:80``, ``db:5432``: an address and port as users type them."""
    return f"{bracketed(host)}:{port}"


@dataclass(frozen=True)
class ClientMessage:
    """What a client's error message said, when the TARGET was read from one."""

    client: str  # "Node.js", "libpq", "Go", ...
    said: str | None = None  # "refused" | "timeout" | "dns" | "unreachable" | "permission" | "missing"
    addresses: tuple[str, ...] = ()  # the addresses the client says it connected to (libpq's "(::1)")
    note: str | None = None  # what the message implies beyond the endpoint (kubectl: inside the pod)

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "said": self.said, "addresses": list(self.addresses), "note": self.note}


if TYPE_CHECKING:  # what an owner label reads (a Protocol: for type checkers only)
    class Owner(Protocol):
        """What an owner label reads: a :class:`Socket`, a Unix socket's listener, a process."""

        @property
        def pid(self) -> int | None: ...

        @property
        def process(self) -> str | None: ...

        @property
        def user(self) -> str | None: ...

        @property
        def uid(self) -> int | None: ...


def owner_label(owner: Owner) -> str:
    """Who owns a socket, in the one wording every output uses.

    ``python3 (pid 1301, user bob)``; ``python3 (pid 1301, uid 1000)`` when the user name
    is unknown; for an owner this user cannot see (another user's process, without root),
    ``owner hidden (user bob)``, ``owner hidden (uid 1000)`` or ``owner hidden``.
    """
    return owner_words(owner.pid, owner.process, owner.user, owner.uid)


def owner_words(pid: int | None, process: str | None, user: str | None, uid: int | None) -> str:
    """:func:`owner_label` from its parts (a process found by name, a saved report's fields)."""
    who = f"user {user}" if user else f"uid {uid}" if uid is not None else None
    if pid is None and not process:
        return f"owner hidden ({who})" if who else "owner hidden"
    about = ([f"pid {pid}"] if pid is not None else []) + ([who] if who else [])
    name = process or "?"
    return f"{name} ({', '.join(about)})" if about else name


@dataclass(frozen=True)
class Target:
    """A parsed TARGET: what the user asked about."""

    input: str  # as typed, with any credentials masked (a client's message: masked, one bounded line)
    host: str  # a name or an address literal, without brackets ("localhost" for a Unix socket)
    port: int  # 0 for a Unix socket
    protocol: str = "tcp"  # "tcp" | "udp" | "unix"
    scheme: str | None = None  # "http", "postgres", ... when given as a URL
    host_defaulted: bool = False  # ":62893" / "62893": the user gave no host
    container: str | None = None  # container:NAME[:PORT]: the container or compose service
    container_port: int | None = None  # its port inside the container (None until the engine says)
    path: str | None = None  # the socket path of a "unix" target
    message: ClientMessage | None = None  # set when the TARGET was a client's error message

    @property
    def display(self) -> str:
        if self.protocol == "unix":
            return f"unix://{self.path}"
        prefix = "udp://" if self.protocol == "udp" else ""
        return f"{prefix}{hostport(self.host, self.port)}"

    def to_dict(self, addresses: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The contract's ``target`` object; ``addresses`` are the resolved ones (the report's)."""
        out: dict[str, Any] = {
            "input": self.input,
            "host": self.host,
            "port": None if self.protocol == "unix" else self.port,
            "protocol": self.protocol,
            "addresses": list(addresses),
            "scheme": self.scheme,
        }
        if self.container:
            out["container"] = {"name": self.container, "port": self.container_port}
        if self.path is not None:
            out["path"] = self.path
        if self.message is not None:
            out["message"] = self.message.to_dict()
        return out


@dataclass
class Probe:
    """One connection attempt to one resolved address."""

    address: str
    outcome: Outcome
    ms: float
    errno: int | None = None
    error: str | None = None  # the OS's words, e.g. "Connection refused"
    source_port: int | None = None  # our own local port, when the connect succeeded (not in to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "outcome": str(self.outcome),
            "ms": round(self.ms, 2),
            "errno": self.errno,
            "error": self.error,
        }


def reachable(probes: list[Probe]) -> bool:
    """THE definition of "reachable", shared by the report, the verdict and ``--wait``:
    the first address in resolver order accepts. That is what curl, Python's
    ``socket.create_connection`` and Node (>= 17) connect to; clients that pick another
    address (Java prefers IPv4; a client forced to one family) are warned about by the
    checks. Happy Eyeballs clients (browsers, Go, Node with autoSelectFamily) try every
    address and connect whenever any accepts."""
    return bool(probes) and probes[0].outcome is Outcome.OPEN


def clients_that_fail_on(failing: list[str]) -> str:
    """Who still fails when the first address accepts but ``failing`` (later addresses) do not:
    the clients that pick that family instead of following the resolver order."""
    if any(":" not in a for a in failing):
        return ("Java (it prefers IPv4 addresses by default), and any client forced to IPv4 "
                "(curl -4, --host 127.0.0.1, a config that names 127.0.0.1)")
    return ("clients forced to IPv6 (curl -6, Java with -Djava.net.preferIPv6Addresses=true, "
            "a config that names ::1)")


@dataclass
class Socket:
    """A socket bound to the target's port, as seen on this machine.

    ``pid``/``process``/``user`` are None when the owner is hidden from us (another
    user's process without root); ``uid`` is usually still known from the kernel.
    ``namespace`` is None for the tool's own network namespace, else a label.
    """

    protocol: str  # "tcp" | "udp"
    family: int  # 4 | 6
    address: str  # bound address: "0.0.0.0", "::", "127.0.0.1", ...
    port: int
    state: str  # "LISTEN", "ESTABLISHED", "UNCONN", ... (ss-style names)
    inode: int | None = None
    uid: int | None = None
    pid: int | None = None
    process: str | None = None
    user: str | None = None
    cmdline: str | None = None  # already masked for secrets
    namespace: str | None = None
    container: str | None = None  # "docker:3f2a…" when the namespace belongs to one
    v6only: bool | None = None  # for IPv6 sockets, when known
    interface: str | None = None  # SO_BINDTODEVICE, when known
    recv_queue: int | None = None  # LISTEN: connections waiting to be accepted
    send_queue: int | None = None  # LISTEN: the accept backlog limit
    remote_address: str | None = None
    remote_port: int | None = None

    @property
    def listening(self) -> bool:
        """A TCP socket in LISTEN state, or any bound UDP socket."""
        return self.state == "LISTEN" or self.protocol == "udp"

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::", "*", "")

    def owned_by(self, expected: str) -> bool:
        """Is the owner the expected program? Name, 15-char comm, or the command line's program."""
        want = expected.strip().lower()
        names = set()
        if self.process:
            names.add(self.process.lower())
        if self.cmdline:
            for w in self.cmdline.split()[:2]:  # "nginx: master ...", "/usr/bin/python3 app.py"
                names.add(w.rsplit("/", 1)[-1].rstrip(":").lower())
        if want in names:
            return True
        # comm is cut at 15 characters: "postgres-exporter" shows as "postgres-export".
        return self.process is not None and len(self.process) == 15 and want.startswith(self.process.lower())

    def to_listener_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "address": self.address,
            "port": self.port,
            "pid": self.pid,
            "process": self.process,
            "user": self.user,
            "namespace": self.namespace,
            "family": self.family,
            "state": self.state,
            "uid": self.uid,
            "cmdline": self.cmdline,
            "container": self.container,
            "v6only": self.v6only,
            "recv_queue": self.recv_queue,
            "send_queue": self.send_queue,
        }

    @classmethod
    def from_listener_dict(cls, d: dict[str, Any]) -> Socket:
        """A socket from :meth:`to_listener_dict` (or evidence with some of its keys)."""
        return cls(str(d.get("protocol") or "tcp"), int(d.get("family") or 4), str(d.get("address") or "?"),
                   int(d.get("port") or 0), str(d.get("state") or "LISTEN"), uid=d.get("uid"), pid=d.get("pid"),
                   process=d.get("process"), user=d.get("user"), cmdline=d.get("cmdline"),
                   namespace=d.get("namespace"), container=d.get("container"))


@dataclass
class Remediation:
    """One thing to do: plain words, plus the exact command where one exists."""

    text: str
    command: str | None = None


STOP_PROCESS = "stop-process"


@dataclass(frozen=True)
class Action:
    """Something a check offers portdoctor to do for the user, beyond a command to copy.

    The wizard shows it, asks first, and carries it out (:mod:`portdoctor.actions`);
    reports list it in JSON. Today there is one kind, ``stop-process``: send ``signal`` to
    ``pid`` because it holds ``address:port`` that ``expected`` should own. Everything
    the action is checked against before it is carried out (process name, user, the
    socket's inode) is recorded here, so nothing is dug out of a finding's evidence.
    """

    kind: str  # "stop-process"
    pid: int
    process: str  # as the diagnosis saw it ("?" when the name was hidden)
    reason: str = ""  # why it is offered, in words
    user: str | None = None
    uid: int | None = None
    protocol: str = "tcp"
    address: str | None = None
    port: int | None = None
    inode: int | None = None  # the socket the process holds, when known
    expected: str | None = None  # --expect: the program that should own the port
    signal: str = "SIGTERM"
    start_time: int | None = None  # the process's start (clock ticks since boot), against pid reuse

    @classmethod
    def stop_process(cls, sock: Socket, reason: str = "", expected: str | None = None) -> Action:
        """Stop the visible process that holds ``sock``."""
        if sock.pid is None:
            raise ValueError("a hidden owner (no pid) cannot be stopped")
        from portdoctor.actions import process_start_time

        return cls(STOP_PROCESS, sock.pid, sock.process or "?", reason, sock.user, sock.uid, sock.protocol,
                   sock.address, sock.port, sock.inode, expected, start_time=process_start_time(sock.pid))

    def describe(self) -> str:
        """What carrying it out does, in one sentence."""
        user = f", user {self.user}" if self.user else ""
        what = f"Send {self.signal} to pid {self.pid} ({self.process}{user})"
        if self.address is not None and self.port is not None:
            what += f", which holds {hostport(self.address, self.port)}"
        if self.expected:
            what += f"; you expected {self.expected!r} to own that port"
        return what + "."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finding:
    """What one check concluded."""

    check: str
    status: Status
    title: str
    cause: str | None = None
    detail: str = ""
    remediation: list[Remediation] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # for the wizard's detail pane
    ms: float = 0.0
    actions: list[Action] = field(default_factory=list)  # what portdoctor can do about it, on request

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": str(self.status),
            "cause": self.cause,
            "title": self.title,
            "detail": self.detail,
            "remediation": [asdict(r) for r in self.remediation],
            "evidence": self.evidence,
            "ms": round(self.ms, 2),
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass
class Verdict:
    """The diagnosis in one line: reachable or not, the cause, and the first thing to do."""

    reachable: bool
    cause: str
    summary: str
    check: str | None = None  # the check whose finding names the cause
    first_step: Remediation | None = None
    # The other causes that failed too, most direct first, each once: (cause, finding title).
    # E.g. a REJECT rule on a port nothing listens on: cause "firewall", also "not-listening";
    # removing the rule alone will not make the connection work.
    also: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "cause": self.cause,
            "summary": self.summary,
            "check": self.check,
            "first_step": asdict(self.first_step) if self.first_step else None,
            "also": [{"cause": cause, "title": title} for cause, title in self.also],
        }


@dataclass
class HostInfo:
    """The machine the diagnosis ran on."""

    hostname: str
    os: str
    privileged: bool  # could the tool see every process's sockets

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServerSide:
    """The same port diagnosed on the server over SSH (``--ssh``): the other end of the connection.

    status: "diagnosed" (portdoctor ran there), "reduced" (no python3 there: facts from
    standard commands), "skipped" (SSH did not get us there; ``reason`` says why).
    """

    destination: str  # as the user named it: "user@db.internal"
    status: str
    reason: str | None = None
    report: Report | None = None  # the server's own report (status "diagnosed")
    remote_version: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "status": self.status,
            "reason": self.reason,
            "remote_version": self.remote_version,
            "notes": list(self.notes),
            "report": self.report.to_dict() if self.report is not None else None,
        }


@dataclass
class Report:
    """The whole diagnosis of one target."""

    tool_version: str
    created: str  # ISO 8601 UTC
    host: HostInfo
    target: Target
    addresses: list[str]
    probes: list[Probe]
    listeners: list[Socket]
    findings: list[Finding]
    verdict: Verdict
    duration_ms: float
    notes: list[str] = field(default_factory=list)  # what could not be seen, plugin errors
    ssh: str | None = None  # --from/--ssh: the SSH destination this report is about (JSON host.ssh)
    server_side: ServerSide | None = None  # --ssh: the server's side of the same port

    @property
    def failed(self) -> bool:
        return self.verdict.cause != "ok"

    @property
    def unverified(self) -> list[str]:
        """The checks that could not run (status ``error``): what they check is unknown, so
        the run is not clean even when the verdict is ``ok`` (exit code 1)."""
        return [f.check for f in self.findings if f.status is Status.ERROR]

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        host = self.host.to_dict()
        if self.ssh is not None:
            host["ssh"] = self.ssh
        document = {
            "schema": SCHEMA_ID,
            "tool": {"name": "portdoctor", "version": self.tool_version},
            "created": self.created,
            "host": host,
            "target": t.to_dict(addresses=self.addresses),
            "probes": [p.to_dict() for p in self.probes],
            "listeners": [s.to_listener_dict() for s in self.listeners],
            "findings": [f.to_dict() for f in self.findings],
            "verdict": self.verdict.to_dict(),
            "duration_ms": round(self.duration_ms, 1),
            "notes": list(self.notes),
        }
        if self.server_side is not None:
            document["server_side"] = self.server_side.to_dict()
        return document
