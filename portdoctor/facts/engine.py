"""The container engine's own view: a small Docker Engine API client over its Unix socket.

Docker (rootful and rootless) and Podman (its Docker-compatible service) answer the
same HTTP API on a Unix socket. :func:`read_engine` finds the socket
(``DOCKER_HOST=unix://...``, ``/var/run/docker.sock``, ``$XDG_RUNTIME_DIR/docker.sock``,
Podman's ``podman.sock``), lists every container (running and stopped, ``all=1``) and
inspects them for what only the engine knows: state and exit code, the main process's
PID, published ports (``HostConfig.PortBindings``, kept while a container is stopped),
exposed ports, network addresses, and the compose project and service labels.

- Lazy: nothing is read unless a check asks (``ctx.facts.lazy("engine", ...)``), and
  without an engine socket on the machine :func:`engine_sockets`
  (:mod:`portdoctor.facts.engine_sockets`) is a handful of
  ``stat`` calls and the answer is None.
- Bounded: the whole conversation shares one deadline; a hung daemon costs that
  timeout once, never a hang.
- Honest: a socket we may not open (not root, not in the ``docker`` group) is an
  :class:`EngineView` with ``error`` and ``hint``, for a check to ``skip`` with.
- Hostile text: names, images and labels come from whoever started the container; they
  are cleaned here, where they enter (:func:`clean`).

Why not the official ``docker`` SDK: see DEVELOPING.md (import cost and dependencies
for the three requests we make).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from calendar import timegm
from collections.abc import Mapping
from urllib.parse import quote

from portdoctor.facts.engine_sockets import engine_sockets
from portdoctor.records import dataclass, field
from portdoctor.sanitize import clean_text

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

    from portdoctor.facts import Snapshot
    from portdoctor.facts.namespaces import NetworkNamespace
    from portdoctor.model import Probe, Socket, Target

DEFAULT_TIMEOUT = 2.0  # seconds for the whole conversation with the engine
MAX_RESPONSE = 16 * 1024 * 1024  # bytes; a larger answer is cut (and fails to parse)
MAX_INSPECT = 200  # containers inspected one by one; the rest keep the list's view
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
# A container that has run this long since its last start is steady: Docker resets its
# restart back-off (100 ms, 200 ms, ... 1 min) once a container ran 10 s.
STEADY_AFTER = 10.0  # seconds
wall_clock = time.time  # the engine's times are wall-clock times (tests replay recordings with their own)



def clean(value: Any, limit: int = 200) -> str:
    """Engine text made safe to show (portdoctor.sanitize: controls and bidi made visible), bounded."""
    return clean_text(str(value if value is not None else ""), limit=limit)


@dataclass
class PortBinding:
    """One container port and where (if anywhere) it is published on the host."""

    container_port: int
    protocol: str  # "tcp" | "udp" | "sctp"
    host_ip: str = ""  # "" or "0.0.0.0": every address; "127.0.0.1": loopback only
    host_port: int | None = None  # None: exposed or listed, not published

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Container:
    """One container as its engine describes it (all text already cleaned)."""

    id: str
    name: str
    image: str = ""
    state: str = ""  # created | running | paused | restarting | exited | removing | dead
    status: str = ""  # the engine's words: "Exited (3) 2 minutes ago"
    exit_code: int | None = None
    error: str = ""  # State.Error: why it could not start
    pid: int | None = None  # the main process, as seen from the engine's PID namespace
    restart_count: int = 0  # restarts made by the restart policy (not by `docker restart`)
    started_at: float | None = None  # State.StartedAt as a Unix time: when the current (or last) run began
    finished_at: float | None = None  # State.FinishedAt: when the previous run ended
    health: str = ""  # State.Health.Status: "starting" | "healthy" | "unhealthy" | "" (no health check)
    published: list[PortBinding] = field(default_factory=list)  # with host_port set
    exposed: list[PortBinding] = field(default_factory=list)  # ExposedPorts (no host side)
    networks: dict[str, str] = field(default_factory=dict)  # network name -> IP address
    network_mode: str = ""
    compose_project: str | None = None
    compose_service: str | None = None
    engine: str = "docker"  # "docker" | "podman": which command line the advice uses
    inspected: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def label(self) -> str:
        """``web`` or ``shop-api-1 (compose service api)``: how reports name it."""
        if self.compose_service:
            return f"{self.name} (compose service {self.compose_service})"
        return self.name

    def addresses(self) -> list[str]:
        return [ip for ip in self.networks.values() if ip]

    def restart_loop(self, now: float | None = None) -> dict[str, Any] | None:
        """The engine's evidence that this container is not running steadily, or None.

        A restart loop shows as a different state at each instant: ``restarting`` while
        the engine waits out its back-off, then ``running`` for a moment before the app
        exits again. So besides ``State.Restarting`` this weighs the restart count with
        how recently the current run started (less than :data:`STEADY_AFTER` seconds) and
        the health check (``starting``: not proven since the restart). A container that
        restarted long ago and has run steadily since is not a loop.
        """
        if self.state == "restarting":
            return {"restarts": self.restart_count, "state": self.state, "exit_code": self.exit_code}
        if not self.running or self.restart_count <= 0:
            return None
        up = None if self.started_at is None else max(0.0, (wall_clock() if now is None else now) - self.started_at)
        if (up is None or up >= STEADY_AFTER) and self.health != "starting":
            return None
        found: dict[str, Any] = {"restarts": self.restart_count, "state": self.state}
        if up is not None:
            found["up_seconds"] = round(up, 1)
        if self.finished_at is not None and self.started_at is not None and self.started_at >= self.finished_at:
            found["previous_run_ended_seconds_before"] = round(self.started_at - self.finished_at, 1)
        if self.health:
            found["health"] = self.health
        return found

    def publishes(self, port: int, protocol: str) -> list[PortBinding]:
        return [b for b in self.published if b.host_port == port and b.protocol == protocol]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id[:12], "name": self.name, "image": self.image, "state": self.state,
            "status": self.status, "exit_code": self.exit_code, "pid": self.pid,
            "restart_count": self.restart_count, "health": self.health or None,
            "published": [b.to_dict() for b in self.published],
            "networks": dict(self.networks), "compose_project": self.compose_project,
            "compose_service": self.compose_service, "engine": self.engine,
        }


@dataclass
class EngineView:
    """What the engine said, or why it could not be asked."""

    socket: str
    engine: str = "docker"
    version: str = ""
    containers: list[Container] = field(default_factory=list)
    error: str | None = None  # set when the engine could not be read
    hint: str | None = None  # how to read it anyway
    command: str | None = None  # the command for the hint

    @property
    def ok(self) -> bool:
        return self.error is None

    def find(self, name: str) -> list[Container]:
        """Containers called ``name``, or whose id starts with it, or whose compose service it is."""
        exact = [c for c in self.containers if c.name == name or c.id == name]
        if exact:
            return exact
        if len(name) >= 4 and re.fullmatch(r"[0-9a-f]+", name):
            by_id = [c for c in self.containers if c.id.startswith(name)]
            if by_id:
                return by_id
        return [c for c in self.containers if c.compose_service == name]

    def by_id_prefix(self, prefix: str) -> Container | None:
        for c in self.containers:
            if prefix and c.id.startswith(prefix):
                return c
        return None


# --- the client ---------------------------------------------------------------------


class EngineError(Exception):
    pass


class EngineClient:
    """HTTP/1.0 GETs over one Unix socket, every request within one shared deadline."""

    def __init__(self, path: str, deadline: float):
        self.path = path
        self.deadline = deadline

    def get(self, url: str) -> Any:
        """``GET url`` and its JSON body."""
        return json.loads(self.request(url)[1].decode("utf-8", "replace"))

    def ping(self) -> dict[str, str]:
        """``GET /_ping``: the engine's identity from its headers (``Server``, ``Libpod-Api-Version``).

        Not ``/version``: Podman answers that one by running its helper programs to read
        their versions (a second, far more under load), which alone could spend the
        whole conversation's deadline."""
        return self.request("/_ping")[0]

    def request(self, url: str) -> tuple[dict[str, str], bytes]:
        """``GET url``: the headers (lower-case names) and body of a 200 answer, else EngineError."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the engine did not answer in time")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect(self.path)
            sock.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n".encode())
            chunks, size = [], 0
            while True:
                sock.settimeout(max(0.001, self.deadline - time.monotonic()))
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
                if size > MAX_RESPONSE:
                    raise EngineError(f"the answer to {url} is larger than {MAX_RESPONSE} bytes")
        finally:
            sock.close()
        return _parse_response(b"".join(chunks), url)


def _parse_response(raw: bytes, url: str) -> tuple[dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise EngineError(f"no HTTP answer to {url}")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    if status != 200:
        message = body[:200].decode("utf-8", "replace")
        raise EngineError(f"{url}: HTTP {status} {clean(message)}")
    return headers, body


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


# --- reading the engine -------------------------------------------------------------


def _port_key(key: str) -> tuple[int, str] | None:
    """``"80/tcp"`` -> (80, "tcp")."""
    number, _, proto = str(key).partition("/")
    return (int(number), proto or "tcp") if number.isdigit() else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_ENGINE_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def engine_time(value: Any) -> float | None:
    """``2026-11-29T19:05:54.005746608Z`` (RFC 3339, nanoseconds) as a Unix time; None for
    the engine's "never" (year 1) or anything unreadable."""
    m = _ENGINE_TIME.match(str(value or ""))
    if not m or int(m.group(1)) < 1970:
        return None
    seconds = timegm(tuple(int(m.group(i)) for i in range(1, 7)) + (0, 0, 0))
    fraction = float("0." + m.group(7)) if m.group(7) else 0.0
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds + fraction


def container_from_list(item: Mapping[str, Any], engine: str) -> Container:
    """A :class:`Container` from one entry of ``GET /containers/json``."""
    names = item.get("Names") or []
    name = clean(str(names[0]).lstrip("/") if names else str(item.get("Id", ""))[:12], 128)
    labels = item.get("Labels") or {}
    c = Container(
        id=clean(item.get("Id", ""), 80), name=name, image=clean(item.get("Image", "")),
        state=clean(item.get("State", ""), 20).lower(), status=clean(item.get("Status", "")),
        compose_project=clean(labels[COMPOSE_PROJECT], 128) if labels.get(COMPOSE_PROJECT) else None,
        compose_service=clean(labels[COMPOSE_SERVICE], 128) if labels.get(COMPOSE_SERVICE) else None,
        engine=engine,
    )
    for p in item.get("Ports") or []:
        private = _int(p.get("PrivatePort"))
        if private is None:
            continue
        public = _int(p.get("PublicPort"))
        binding = PortBinding(private, clean(p.get("Type", "tcp"), 8), clean(p.get("IP", ""), 64), public)
        (c.published if public else c.exposed).append(binding)
    for net, info in ((item.get("NetworkSettings") or {}).get("Networks") or {}).items():
        c.networks[clean(net, 64)] = clean((info or {}).get("IPAddress", ""), 64)
    c.network_mode = clean((item.get("HostConfig") or {}).get("NetworkMode", ""), 64)
    return c


def apply_inspect(c: Container, data: Mapping[str, Any]) -> None:
    """Fill what only ``GET /containers/ID/json`` knows: PID, exit code, published ports of
    a stopped container (``HostConfig.PortBindings``), exposed ports."""
    state = data.get("State") or {}
    if isinstance(state, dict):
        c.state = clean(state.get("Status", c.state), 20).lower() or c.state
        c.exit_code = _int(state.get("ExitCode"))
        c.pid = _int(state.get("Pid")) or None
        c.error = clean(state.get("Error", ""))
        if state.get("Restarting"):
            c.state = "restarting"
        c.started_at = engine_time(state.get("StartedAt"))
        c.finished_at = engine_time(state.get("FinishedAt"))
        health = state.get("Health")
        if isinstance(health, dict):
            c.health = clean(health.get("Status", ""), 20).lower()
    c.restart_count = _int(data.get("RestartCount")) or 0
    host_config = data.get("HostConfig") or {}
    c.network_mode = clean(host_config.get("NetworkMode", c.network_mode), 64)
    published: list[PortBinding] = []
    # While running, NetworkSettings.Ports holds the bindings in force; stopped, only
    # HostConfig.PortBindings remembers what will be published on the next start.
    running_ports = (data.get("NetworkSettings") or {}).get("Ports") or {}
    source = running_ports if c.running and running_ports else host_config.get("PortBindings") or {}
    for key, bindings in source.items():
        parsed = _port_key(key)
        if parsed is None:
            continue
        for b in bindings or []:
            host_port = _int((b or {}).get("HostPort"))
            if host_port:
                published.append(PortBinding(parsed[0], parsed[1], clean((b or {}).get("HostIp", ""), 64), host_port))
    if published or not c.running:
        c.published = published
    exposed = (data.get("Config") or {}).get("ExposedPorts") or {}
    c.exposed = [PortBinding(*parsed) for parsed in map(_port_key, exposed) if parsed]
    for net, info in ((data.get("NetworkSettings") or {}).get("Networks") or {}).items():
        c.networks[clean(net, 64)] = clean((info or {}).get("IPAddress", ""), 64)
    c.inspected = True


def _not_readable(path: str, exc: OSError) -> tuple[str, str, str | None]:
    if isinstance(exc, PermissionError):
        return (f"the container engine's socket {path} is not readable by this user",
                "Run again with sudo, or add your user to the socket's group (usually `docker`) "
                "and log in again.", "sudo usermod -aG docker $USER")
    return (f"the container engine at {path} did not answer ({exc})",
            "Check that the engine runs.", "docker info")


def read_engine(environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                sockets: list[str] | None = None) -> EngineView | None:
    """Every container of the first engine that answers; None when no engine socket exists.

    A socket that refuses us (permissions) or hangs gives an EngineView with ``error``
    and ``hint``; the next socket is tried first.
    """
    environ = os.environ if environ is None else environ
    paths = engine_sockets(environ) if sockets is None else sockets
    if not paths:
        return None
    deadline = time.monotonic() + timeout
    failed: EngineView | None = None
    for path in paths:
        client = EngineClient(path, deadline)
        try:
            identity = client.ping()
        except (OSError, EngineError, ValueError) as exc:
            if failed is None:
                error, hint, command = _not_readable(path, exc) if isinstance(exc, OSError) else (
                    f"the container engine at {path} gave an unreadable answer ({clean(exc)})", None, None)
                failed = EngineView(path, error=error, hint=hint, command=command)
            continue
        server = identity.get("server", "")  # "Docker/20.10.24+dfsg1 (linux)", "Libpod/4.3.1 (linux)"
        podman = "libpod-api-version" in identity or server.lower().startswith("libpod/")
        engine = "podman" if podman else "docker"
        version = identity.get("libpod-api-version") or server.partition("/")[2].split(" ")[0]
        view = EngineView(path, engine, clean(version, 40))
        try:
            listing = client.get("/containers/json?all=1")
            view.containers = [container_from_list(item, engine) for item in listing if isinstance(item, dict)]
            for c in view.containers[:MAX_INSPECT]:
                apply_inspect(c, client.get(f"/containers/{quote(c.id, safe='')}/json"))
        except (OSError, EngineError, ValueError) as exc:
            # What was read stays; containers not inspected keep the list's view.
            view.error = None if view.containers else f"the engine at {path} stopped answering ({clean(exc)})"
            view.hint = "Partial view: " + clean(exc) if view.containers else None
        return view
    return failed


def gather_engine(snap: Snapshot) -> EngineView | None:
    """The lazy fact ``engine`` (see Snapshot.lazy): None when no engine socket exists."""
    return read_engine(snap.environ or os.environ)


# --- following a port into a container ----------------------------------------------


def probe_backend(address: str, port: int, protocol: str, timeout: float) -> Probe:
    """One connection to the container's own address: what docker-proxy's accept hides."""
    from portdoctor.probe import probe_tcp, probe_udp

    return (probe_udp if protocol == "udp" else probe_tcp)(address, port, timeout)


def _pid_is_container(pid: int, container: Container) -> bool:
    """Is /proc/PID the container's process? The engine's PID is in its own PID namespace."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            return container.id[:12] in f.read()
    except OSError:
        return False


def listeners_inside(container: Container, privileged: bool) -> list[Socket] | None:
    """Every listener in the container's network namespace (any port), or None when we
    cannot look (not root, no PID, the PID is not the container's in our PID namespace)."""
    from portdoctor.facts.namespaces import all_listeners_in_namespace

    if not container.pid or not privileged or not _pid_is_container(container.pid, container):
        return None
    try:
        return all_listeners_in_namespace(container.pid)
    except OSError:
        return None


def container_of_socket(view: EngineView, sock: Socket, namespaces: list[NetworkNamespace]) -> Container | None:
    """The container whose network namespace holds ``sock`` (by cgroup id, else by PID)."""
    label = sock.container or ""
    if ":" in label:
        found = view.by_id_prefix(label.split(":", 1)[1])
        if found:
            return found
    for ns in namespaces:
        if ns.label == sock.namespace:
            pids = set(ns.pids)
            for c in view.containers:
                if c.pid and c.pid in pids:
                    return c
    return None


# --- the container:NAME[:PORT] target -------------------------------------------------


def locate_container(target: Target, view: EngineView | None = None) -> Target:
    """Fill a ``container:NAME[:PORT]`` target's host and port from the engine.

    Published: the published address (127.0.0.1 for a wildcard binding) and host port.
    Not published and running: the container's own address and port. Stopped: the
    published port if it has one. The container port defaults to the first published
    one, then the first exposed one. Raises UsageError (one line) when the engine cannot
    be read or has no such container.
    """
    from portdoctor.exitcodes import UsageError
    from portdoctor.records import replace

    name, shown = target.container, target.input
    if name is None:
        raise ValueError(f"{shown} is not a container:NAME target")
    view = read_engine() if view is None else view
    if view is None:
        raise UsageError(f"{shown}: no container engine socket found (DOCKER_HOST, /var/run/docker.sock, "
                         "$XDG_RUNTIME_DIR/docker.sock, Podman's podman.sock)")
    if not view.ok:
        raise UsageError(f"{shown}: {view.error}; {view.hint or ''}".rstrip("; "))
    found = view.find(name)
    if not found:
        known = ", ".join(sorted(c.name for c in view.containers)[:8]) or "none"
        raise UsageError(f"{shown}: the engine at {view.socket} has no container or compose service "
                         f"named {clean(name, 128)!r} (containers: {known})")
    c = sorted(found, key=lambda c: not c.running)[0]
    port = target.container_port
    if port is None:
        ports = [b.container_port for b in c.published if b.protocol == "tcp"] or \
                [b.container_port for b in c.exposed if b.protocol == "tcp"]
        if not ports:
            raise UsageError(f"{shown}: container {c.name} publishes and exposes no TCP port; "
                             f"name one: container:{c.name}:PORT")
        port = ports[0]
    bindings = [(b.host_ip, b.host_port) for b in c.published
                if b.host_port is not None and b.container_port == port and b.protocol == "tcp"]
    bindings.sort(key=lambda ip_port: ":" in ip_port[0])  # IPv4 first, as clients try it
    if bindings:
        host_ip, host_port = bindings[0]
        host = host_ip if host_ip not in ("", "0.0.0.0", "::") else ("::1" if host_ip == "::" else "127.0.0.1")
        return replace(target, host=host, port=host_port, container=c.name, container_port=port)
    address = next(iter(c.addresses()), None) if c.running else None
    return replace(target, host=address or "127.0.0.1", port=port, container=c.name, container_port=port)
