"""The public check API: everything a check (built-in or third-party) may use.

A check is a subclass of :class:`Check` with a ``name``, a ``title`` (the question it
answers), an ``order`` (its place in the pipeline) and a ``run(ctx)`` method that reads
the :class:`Context` and returns one :class:`Finding` or a list of them. The helpers
``self.passed / warn / fail / skip`` build findings with the check's name filled in.

Checks never import Textual, never print, and never connect anywhere themselves: the
probes and the machine's facts are already in ``ctx``. They register under the
entry-point group ``portdoctor.checks`` or live in a drop-in folder
(see :mod:`portdoctor.plugins`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from portdoctor.facts import Snapshot
from portdoctor.model import (
    Action,
    Finding,
    Outcome,
    Probe,
    Remediation,
    Socket,
    Status,
    Target,
    bracketed,
    hostport,
    reachable,
)
from portdoctor.target import is_loopback

__all__ = [
    "Action",
    "Check",
    "Context",
    "Finding",
    "Options",
    "Outcome",
    "Probe",
    "Remediation",
    "Snapshot",
    "Socket",
    "Status",
    "Target",
    "bracketed",
    "fix",
    "hostport",
    "is_loopback",
]


def fix(text: str, command: str | None = None) -> Remediation:
    """One remediation step: plain words, and the exact command where there is one."""
    return Remediation(text=text, command=command)


@dataclass(frozen=True)
class Options:
    """The user's choices that checks may care about."""

    timeout: float = 2.0  # per connection attempt, seconds
    expect: str | None = None  # --expect NAME: the process that should own the port


@dataclass
class Context:
    """What a check reads. Built once per target by the pipeline."""

    target: Target
    addresses: list[str]  # every resolved address, in resolver order
    probes: list[Probe]  # one per address
    facts: Snapshot
    options: Options = field(default_factory=Options)
    resolve_error: str | None = None  # set when the name did not resolve
    findings: list[Finding] = field(default_factory=list)  # of the checks that ran before

    # Convenience views -------------------------------------------------------------
    @property
    def reachable(self) -> bool:
        """The first address in resolver order accepted (see :func:`portdoctor.model.reachable`)."""
        return reachable(self.probes)

    @property
    def every_address_accepts(self) -> bool:
        return bool(self.probes) and all(p.outcome is Outcome.OPEN for p in self.probes)

    @property
    def failed_probes(self) -> list[Probe]:
        return [p for p in self.probes if p.outcome is not Outcome.OPEN]

    def listeners(self, *, protocol: str | None = None, own_namespace: bool = True) -> list[Socket]:
        """Listening sockets on the target's port (TCP LISTEN, bound UDP).

        ``protocol`` defaults to the target's; ``own_namespace=False`` returns those of
        every visible namespace.
        """
        proto = protocol or self.target.protocol
        return [
            s
            for s in self.facts.sockets
            if s.listening and s.protocol == proto and (not own_namespace or s.namespace is None)
        ]

    def how_to_see_owners(self, extra_args: str = "") -> Remediation:
        """How the user can see a hidden socket owner: with sudo, or, when portdoctor already
        runs as root and the owner is in another PID namespace (a container), from the host."""
        import shlex

        command = "portdoctor --report " + (f"{extra_args} " if extra_args else "") + shlex.quote(self.target.input)
        if self.facts.privileged:
            return Remediation("The owner is in another PID namespace (a container): even root cannot see it "
                               "from here. Run portdoctor on the host.", command)
        return Remediation("Run again as root to see every process's sockets.", f"sudo {command}")

    def finding(self, check: str) -> Finding | None:
        """The finding of an earlier check, by name."""
        for f in self.findings:
            if f.check == check:
                return f
        return None

    @property
    def environ(self) -> Mapping[str, str]:
        return self.facts.environ


class Check:
    """Base class for a check. Subclass it, set the class attributes, write ``run``."""

    name: str = ""  # stable id, e.g. "firewall"; shows in reports and JUnit
    title: str = ""  # the question it answers, e.g. "Is a firewall rule blocking?"
    order: int = 500  # position in the pipeline; built-ins use 100, 200, ...
    # The target protocols the check understands; a "unix" (Unix socket) target has no
    # port or address, so only checks that list "unix" run for it.
    protocols: tuple[str, ...] = ("tcp", "udp")
    timeout: float = 5.0  # seconds before the pipeline gives up on it (becomes `error`)
    # Most checks compare the machine with the resolved addresses and probes; when the
    # name did not resolve there are none, and the pipeline skips them (saying why)
    # rather than letting them reason about an empty list. Set False to run anyway.
    needs_addresses: bool = True

    def applies(self, ctx: Context) -> bool:
        """Return False to leave the check out of this target's pipeline entirely."""
        return True

    def run(self, ctx: Context) -> Finding | Iterable[Finding]:
        raise NotImplementedError

    # Finding builders --------------------------------------------------------------
    def passed(self, title: str, detail: str = "", **evidence) -> Finding:
        return Finding(self.name, Status.PASS, title, None, detail, [], evidence)

    def warn(
        self, title: str, detail: str = "", remediation: list[Remediation] | None = None,
        cause: str | None = None, *, actions: Iterable[Action] = (), **evidence,
    ) -> Finding:
        return Finding(self.name, Status.WARN, title, cause, detail, remediation or [], evidence,
                       actions=list(actions))

    def fail(
        self, cause: str, title: str, detail: str = "", remediation: list[Remediation] | None = None,
        *, actions: Iterable[Action] = (), **evidence,
    ) -> Finding:
        """``actions``: what portdoctor can do about it when the user asks (e.g. :meth:`Action.stop_process`)."""
        return Finding(self.name, Status.FAIL, title, cause, detail, remediation or [], evidence,
                       actions=list(actions))

    def skip(self, reason: str, how: str | None = None, command: str | None = None, **evidence) -> Finding:
        """Cannot see what is needed. ``how``: how the user can get the answer."""
        remediation = [Remediation(how, command)] if how else []
        return Finding(self.name, Status.SKIP, reason, None, "", remediation, evidence)
