"""The public check API: everything a check (built-in or third-party) may use.

A check is a subclass of :class:`Check` with a ``name``, a ``title`` (the question it
answers), its place in the pipeline (``after`` / ``before`` other checks by name) and a
``run(ctx)`` method that reads the :class:`Context` and returns one :class:`Finding` or
a list of them. The helpers ``self.passed / warn / fail / skip`` build findings with the
check's name filled in; what the check saw goes in ``evidence={...}``.

Checks never import Textual, never print, and never connect anywhere themselves: the
probes and the machine's facts are already in ``ctx``. They register under the
entry-point group ``portdoctor.checks`` or live in a drop-in folder
(see :mod:`portdoctor.plugins`).

The built-in checks in ``portdoctor.checks`` import nothing from portdoctor but this
module (a test enforces it), so what they can do, a third-party check can do too:

- the report model: :class:`Finding`, :class:`Socket`, :class:`Probe`, :class:`Action`, ...
- the machine's facts: ``ctx.facts`` (a :class:`Snapshot`) and, for facts only some
  checks need, typed lazy keys read with ``ctx.fact(KEY)`` (:class:`Fact`);
- the packet filter's decision for a probe (:func:`packet_for`, :func:`evaluate`),
  routes (:func:`lazy_route`), the well-known services (:data:`WELL_KNOWN`), the proxy
  environment (:func:`effective_proxy` ...), why a name did not resolve
  (:attr:`Context.resolve_kind`), the container engine (:data:`container_engine`);
- one vocabulary: :func:`hostport`, :func:`bracketed`, :func:`is_loopback`,
  :func:`owner_label` (and :func:`owner_words` for an owner known by its parts);
- ``dataclass`` and ``field`` (from :mod:`portdoctor.records`: the standard decorator's
  behaviour without its start-up cost; the standard :mod:`dataclasses` works too).

``portdoctor.testing`` builds a :class:`Context` from fixture data for a check's tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping

from portdoctor.commands import shell_quote
from portdoctor.facts import InterfaceAddress, Snapshot
from portdoctor.model import (
    Action,
    ClientMessage,
    Finding,
    Outcome,
    Probe,
    Remediation,
    Socket,
    Status,
    Target,
    bracketed,
    clients_that_fail_on,
    hostport,
    owner_label,
    owner_words,
    reachable,
)
from portdoctor.records import dataclass, field
from portdoctor.resolve import NO_ADDRESS, NO_SUCH_NAME, RESOLVER_FAILED
from portdoctor.target import is_loopback

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:  # the names below are imported from their modules when first read: see __getattr__
    from typing import Any, Generic, TypeVar

    from portdoctor.facts import engine as container_engine
    from portdoctor.facts.binders import BindCandidate, lazy_bind_candidates
    from portdoctor.facts.macos_firewall import MacosFirewall, pf_rules_naming_port
    from portdoctor.facts.namespaces import NetworkNamespace, inside_container_advice
    from portdoctor.facts.proxyenv import (
        HONOURED_BY,
        IGNORED_BY,
        SCHEME_VARIABLES,
        ProxyProbe,
        ProxySetting,
        effective_proxy,
        lazy_proxy_probe,
        no_proxy_match,
        no_proxy_value,
    )
    from portdoctor.facts.routes import Route, lazy_route
    from portdoctor.facts.rules import (
        Decision,
        DnatRule,
        FirewallFacts,
        FirewallRule,
        evaluate,
        packet_for,
        probe_signature,
    )
    from portdoctor.facts.selinux import SelinuxFacts, port_types
    from portdoctor.facts.services import ServiceProcess, Unit, names_port
    from portdoctor.facts.services import UnixListener as ProcNetUnixListener
    from portdoctor.facts.sockets import STOPPED_STATES, StoppedProcess, stopped_processes
    from portdoctor.facts.unixsock import UnixFacts, UnixListener, may_connect
    from portdoctor.facts.wellknown import WELL_KNOWN, KnownService
    from portdoctor.facts.windows_ports import PortRange
    from portdoctor.facts.wsl import WslFacts

# What the API re-exports from the fact modules, imported on first read (PEP 562
# ``__getattr__``): importing the API, as every check does, costs none of them, and a
# diagnosis imports only the modules its checks use. (module, attribute); None: the module.
_LAZY: dict[str, tuple[str, str | None]] = {
    "container_engine": ("portdoctor.facts.engine", None),
    **{name: ("portdoctor.facts.binders", name) for name in ("BindCandidate", "lazy_bind_candidates")},
    **{name: ("portdoctor.facts.macos_firewall", name) for name in ("MacosFirewall", "pf_rules_naming_port")},
    **{name: ("portdoctor.facts.namespaces", name) for name in ("NetworkNamespace", "inside_container_advice")},
    **{name: ("portdoctor.facts.proxyenv", name) for name in (
        "HONOURED_BY", "IGNORED_BY", "SCHEME_VARIABLES", "ProxyProbe", "ProxySetting", "effective_proxy",
        "lazy_proxy_probe", "no_proxy_match", "no_proxy_value")},
    **{name: ("portdoctor.facts.routes", name) for name in ("Route", "lazy_route")},
    **{name: ("portdoctor.facts.rules", name) for name in (
        "Decision", "DnatRule", "FirewallFacts", "FirewallRule", "evaluate", "packet_for", "probe_signature")},
    **{name: ("portdoctor.facts.selinux", name) for name in ("SelinuxFacts", "port_types")},
    **{name: ("portdoctor.facts.wellknown", name) for name in ("WELL_KNOWN", "KnownService")},
    "names_port": ("portdoctor.facts.services", "names_port"),
    **{name: ("portdoctor.facts.sockets", name) for name in ("STOPPED_STATES", "StoppedProcess", "stopped_processes")},
    **{name: ("portdoctor.facts.unixsock", name) for name in ("UnixFacts", "UnixListener", "may_connect")},
}


def _imported(module_name: str) -> Any:
    """The module of that absolute name (``importlib.import_module`` without importing importlib)."""
    __import__(module_name)
    return sys.modules[module_name]


def __getattr__(name: str) -> Any:
    """A re-exported fact-module name (see ``_LAZY``), imported the first time it is read."""
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = _imported(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ENGINE_SOCKETS",
    "HONOURED_BY",
    "IGNORED_BY",
    "INIT_PROCESS",
    "MACOS_FIREWALL",
    "NOT_LISTENING",
    "NO_ADDRESS",
    "NO_SUCH_NAME",
    "OWNER_STATES",
    "RESOLVER_FAILED",
    "SCHEME_VARIABLES",
    "SELINUX_MODE",
    "STOPPED_STATES",
    "UNIX_LISTENERS",
    "UNPRIVILEGED_PORT_FLOOR",
    "WELL_KNOWN",
    "WHOAMI",
    "WSL",
    "Action",
    "BindCandidate",
    "Check",
    "ClientMessage",
    "Context",
    "Decision",
    "DnatRule",
    "Fact",
    "Finding",
    "FirewallFacts",
    "FirewallRule",
    "InterfaceAddress",
    "KnownService",
    "NetworkNamespace",
    "Options",
    "Outcome",
    "Probe",
    "ProxyProbe",
    "ProxySetting",
    "Remediation",
    "Route",
    "Snapshot",
    "Socket",
    "Status",
    "StoppedProcess",
    "Target",
    "UnixFacts",
    "UnixListener",
    "bracketed",
    "clients_that_fail_on",
    "container_engine",
    "dataclass",
    "effective_proxy",
    "evaluate",
    "excluded_ports",
    "field",
    "fix",
    "hostport",
    "inside_container_advice",
    "is_loopback",
    "lazy_bind_candidates",
    "lazy_proxy_probe",
    "lazy_route",
    "may_connect",
    "names_port",
    "no_proxy_match",
    "no_proxy_value",
    "owner_label",
    "owner_words",
    "packet_for",
    "pf_rules_naming_port",
    "port_types",
    "probe_signature",
    "selinux_port",
    "service_processes",
    "shell_quote",
    "stopped_processes",
    "systemd_units",
    "unix_socket",
]

if TYPE_CHECKING:
    T = TypeVar("T")

    class _Typed(Generic[T]):
        """``Fact[X]`` for type checkers."""
else:
    T = None

    class _Typed:
        """``Fact[X]`` in an annotation: nothing to do at run time (typing is not imported)."""

        def __class_getitem__(cls, item: object) -> type:
            return cls


class Fact(_Typed[T]):
    """A typed key for a fact only some checks need: ``ctx.fact(KEY)`` gathers it on first
    use, once per snapshot, and returns ``None`` when it could not be read (the reason is
    in ``ctx.facts.visibility[KEY.name]``).

    Tests inject fixture data by setting ``snapshot.extras[KEY.name]`` (see
    :mod:`portdoctor.testing`). ``gather`` names the gatherer as ``"module:function"``,
    imported on first use, so a key costs nothing until a check asks for it.
    """

    def __init__(self, name: str, gather: str | Callable[[Snapshot], T], *args: Any) -> None:
        self.name = name
        self._gather = gather
        self._args = args

    def gather(self, snapshot: Snapshot) -> T:
        fn = self._gather
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(_imported(module), attr)
        return fn(snapshot, *self._args)

    def __repr__(self) -> str:
        return f"Fact({self.name!r})"


def _no_snapshot(fn: str) -> Callable[[Snapshot], Any]:
    """A gatherer that does not read the snapshot (``module:function()``)."""

    def gather(_snapshot: Snapshot) -> Any:
        module, _, attr = fn.partition(":")
        return getattr(_imported(module), attr)()

    return gather


def _no_snapshot_args(fn: str, *args: Any) -> Callable[[Snapshot], Any]:
    """A gatherer that takes its arguments, not the snapshot (``module:function(*args)``)."""

    def gather(_snapshot: Snapshot) -> Any:
        module, _, attr = fn.partition(":")
        return getattr(_imported(module), attr)(*args)

    return gather


# The lazy facts the built-in checks read.
OWNER_STATES: Fact[dict[int, str]] = Fact("owner_states", "portdoctor.facts.sockets:gather_owner_states")
# TCP sockets on the port that are not listening (TIME_WAIT, clients, accepted connections):
# finding them costs the kernel a walk of every connection on the machine, so only a check
# that needs them asks.
NOT_LISTENING: Fact[list[Socket]] = Fact("not-listening", "portdoctor.facts.sockets:gather_not_listening")
# The container engine's API sockets that exist here (stat calls): the engine client is
# imported, and asked, only when there is one.
ENGINE_SOCKETS: Fact[list[str]] = Fact("engine_sockets", "portdoctor.facts.engine_sockets:gather_engine_sockets")
INIT_PROCESS: Fact[str | None] = Fact("init_process", "portdoctor.facts.machine:gather_init_process")
UNIX_LISTENERS: Fact[list[ProcNetUnixListener] | None] = Fact("unix_listeners", "portdoctor.facts.services:gather_unix_listeners")
WSL: Fact[WslFacts | None] = Fact("wsl", "portdoctor.facts.wsl:gather_wsl")
MACOS_FIREWALL: Fact[MacosFirewall] = Fact("macos_firewall", "portdoctor.facts.macos_firewall:gather_macos_firewall")
SELINUX_MODE: Fact[str | None] = Fact("selinux_mode", _no_snapshot("portdoctor.facts.selinux:read_selinux_mode"))
WHOAMI: Fact[tuple[int | None, str | None]] = Fact("whoami", _no_snapshot("portdoctor.facts.binders:whoami"))
UNPRIVILEGED_PORT_FLOOR: Fact[int | None] = Fact(
    "unprivileged-port-floor", _no_snapshot("portdoctor.facts.netstat:unprivileged_port_floor"))


def excluded_ports(protocol: str) -> Fact[list[PortRange] | None]:
    """Windows: the port ranges reserved by Hyper-V/WinNAT (``netsh ... excludedportrange``)."""
    return Fact(f"excluded_ports:{protocol}", "portdoctor.facts.windows_ports:gather_excluded_ranges", protocol)


def selinux_port(port: int) -> Fact[SelinuxFacts]:
    """SELinux: the port's types and recent AVC denials naming it."""
    return Fact(f"selinux:{port}", "portdoctor.facts.selinux:gather_selinux", port)


def systemd_units(port: int, prefixes: Iterable[str] = ()) -> Fact[list[Unit] | None]:
    """systemd units that mention ``port`` or are named by ``prefixes``."""
    return Fact(f"systemd_units:{port}", "portdoctor.facts.services:gather_systemd_units", tuple(prefixes))


def unix_socket(path: str) -> Fact[UnixFacts]:
    """A Unix socket path: the file, its folders, who listens on it, who may connect."""
    return Fact("unix", _no_snapshot_args("portdoctor.facts.unixsock:gather_unix_facts", path))


def service_processes(port: int, names: Iterable[str] = ()) -> Fact[list[ServiceProcess]]:
    """Running processes named ``names`` (a well-known service's daemons)."""
    return Fact(f"service_processes:{port}", "portdoctor.facts.services:gather_service_processes", tuple(names))


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
        command = "portdoctor --report " + (f"{extra_args} " if extra_args else "") + shell_quote(self.target.input)
        if self.facts.privileged:
            return Remediation("The owner is in another PID namespace (a container): even root cannot see it "
                               "from here. Run portdoctor on the host.", command)
        return Remediation("Run again as root to see every process's sockets.", f"sudo {command}")

    @property
    def systemd(self) -> bool:
        """systemd is PID 1 here: only then is systemctl/journalctl advice worth giving."""
        return self.facts.os == "linux" and self.fact(INIT_PROCESS) == "systemd"

    def fact(self, key: Fact[T]) -> T | None:
        """A lazy fact (see :class:`Fact`): gathered on first use, ``None`` when unreadable."""
        return self.facts.lazy(key.name, key.gather)

    @property
    def resolve_kind(self) -> str | None:
        """Why the name did not resolve: :data:`NO_SUCH_NAME`, :data:`NO_ADDRESS`,
        :data:`RESOLVER_FAILED`; ``None`` when it resolved (or the reason is unknown)."""
        return getattr(self.resolve_error, "kind", None)

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
    # Its place in the pipeline. ``after``: checks whose findings it reads (``ctx.finding``),
    # so it runs after them; ``before``: checks that must see its finding. Names of checks
    # that are not loaded are ignored. ``order`` only places a check among the checks it
    # has no declared relation with (lowest first; ties by name), i.e. where its question
    # appears in the report.
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    order: int = 500
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
    # What the check saw goes in ``evidence={...}`` (shown in the wizard's detail pane and
    # in JSON). Evidence as extra keyword arguments (``self.passed("t", pid=1)``) still
    # works for third-party checks written that way, but is deprecated: a key named like a
    # builder parameter (``detail``, ``cause``, ``how``) cannot be passed that way.
    def _evidence(self, evidence: Mapping[str, Any] | None, legacy: dict[str, Any]) -> dict[str, Any]:
        if legacy:
            import warnings  # deferred: only for checks still written the old way

            warnings.warn(
                f"check {self.name!r}: evidence as keyword arguments is deprecated; pass evidence={{...}}",
                DeprecationWarning, stacklevel=3)
        return {**(evidence or {}), **legacy}

    def passed(self, title: str, detail: str = "", *, evidence: Mapping[str, Any] | None = None,
               **legacy_evidence: Any) -> Finding:
        return Finding(self.name, Status.PASS, title, None, detail, [], self._evidence(evidence, legacy_evidence))

    def warn(
        self, title: str, detail: str = "", remediation: list[Remediation] | None = None,
        cause: str | None = None, *, evidence: Mapping[str, Any] | None = None, actions: Iterable[Action] = (),
        **legacy_evidence: Any,
    ) -> Finding:
        return Finding(self.name, Status.WARN, title, cause, detail, remediation or [],
                       self._evidence(evidence, legacy_evidence), actions=list(actions))

    def fail(
        self, cause: str, title: str, detail: str = "", remediation: list[Remediation] | None = None,
        *, evidence: Mapping[str, Any] | None = None, actions: Iterable[Action] = (), **legacy_evidence: Any,
    ) -> Finding:
        """``actions``: what portdoctor can do about it when the user asks (e.g. :meth:`Action.stop_process`)."""
        return Finding(self.name, Status.FAIL, title, cause, detail, remediation or [],
                       self._evidence(evidence, legacy_evidence), actions=list(actions))

    def skip(self, reason: str, how: str | None = None, command: str | None = None, *,
             evidence: Mapping[str, Any] | None = None, **legacy_evidence: Any) -> Finding:
        """Cannot see what is needed. ``how``: how the user can get the answer."""
        remediation = [Remediation(how, command)] if how else []
        return Finding(self.name, Status.SKIP, reason, None, "", remediation, self._evidence(evidence, legacy_evidence))
