"""Well-known services: who usually owns a port, and whether that service is around.

- :data:`WELL_KNOWN`: port -> :class:`KnownService` (PostgreSQL 5432, MySQL 3306,
  Redis 6379, MongoDB 27017, the common development-server ports, ...), with the
  process names, systemd units, Unix socket names and start commands of each.
- :func:`parse_proc_net_unix`: listening Unix sockets from ``/proc/net/unix``
  (a service that only listens on a Unix socket has no TCP socket at all).
- :func:`parse_systemctl_show` / :func:`exec_start_argv` / :func:`names_port`:
  read ``systemctl show`` output (the format systemd prints) and decide whether a
  unit's ExecStart or Listen= names a port.
- Gatherers for :meth:`Snapshot.lazy` (nothing here runs unless a check asks):
  :func:`gather_service_processes` (psutil, bounded by count and time),
  :func:`gather_unix_listeners`, :func:`gather_init_process`,
  :func:`gather_systemd_units` (bounded ``systemctl`` calls).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from portdoctor.bounded import run_command
from portdoctor.sanitize import clean_text

if TYPE_CHECKING:
    from portdoctor.facts import Snapshot

# Unix socket flag __SO_ACCEPTCON: the socket is listening.
SO_ACCEPTCON = 0x00010000
MAX_PROCESSES = 20000  # stop scanning the process table after this many
PROCESS_SCAN_SECONDS = 1.5
MAX_UNITS = 20
SYSTEMCTL_TIMEOUT = 2.0


@dataclass(frozen=True)
class KnownService:
    """The service that usually owns a port, and how to check on it."""

    name: str  # "PostgreSQL"
    processes: tuple[str, ...] = ()  # process names (comm); empty: too generic to look for
    units: tuple[str, ...] = ()  # systemd unit name prefixes: "postgresql" matches postgresql@15-main
    brew: str | None = None  # Homebrew formula for `brew services start`
    docker: str | None = None  # a docker run command that publishes the port
    windows_service: str | None = None  # a Get-Service name pattern
    unix_socket: str | None = None  # regex for the basename of its Unix socket; {port} is filled in
    tcp_setting: str | None = None  # the setting that turns TCP on when only the Unix socket listens
    start: str | None = None  # how a development server is usually started

    def socket_pattern(self, port: int) -> re.Pattern[str] | None:
        if not self.unix_socket:
            return None
        return re.compile(self.unix_socket.replace("{port}", str(port)))


_DEV = "a development server"
WELL_KNOWN: dict[int, KnownService] = {
    5432: KnownService(
        "PostgreSQL", ("postgres", "postmaster"), ("postgresql",), "postgresql",
        "docker run -d -p 5432:5432 -e POSTGRES_PASSWORD=secret postgres", "postgresql*",
        r"^\.s\.PGSQL\.{port}$",
        "set listen_addresses = 'localhost' in postgresql.conf (SHOW config_file; in psql), then restart",
    ),
    3306: KnownService(
        "MySQL/MariaDB", ("mysqld", "mariadbd"), ("mysql", "mysqld", "mariadb"), "mysql",
        "docker run -d -p 3306:3306 -e MYSQL_ROOT_PASSWORD=secret mysql", "MySQL*",
        r"^(mysqld?|mariadb)\.sock$",
        "remove skip-networking (or set bind-address = 127.0.0.1) in my.cnf, then restart",
    ),
    6379: KnownService(
        "Redis", ("redis-server", "valkey-server"), ("redis", "redis-server", "valkey"), "redis",
        "docker run -d -p 6379:6379 redis", None,
        r"^(redis|valkey).*\.sock$",
        "set port 6379 (not port 0) in redis.conf, then restart",
    ),
    27017: KnownService(
        "MongoDB", ("mongod",), ("mongod", "mongodb"), "mongodb-community",
        "docker run -d -p 27017:27017 mongo", "MongoDB*",
        r"^mongodb-{port}\.sock$", None,
    ),
    11211: KnownService("memcached", ("memcached",), ("memcached",), "memcached",
                        "docker run -d -p 11211:11211 memcached"),
    5672: KnownService("RabbitMQ (AMQP)", ("beam.smp",), ("rabbitmq-server",), "rabbitmq",
                       "docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:management", "RabbitMQ*"),
    15672: KnownService("the RabbitMQ management UI", ("beam.smp",), ("rabbitmq-server",), "rabbitmq",
                        "docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:management", "RabbitMQ*",
                        start="rabbitmq-plugins enable rabbitmq_management"),
    9200: KnownService("Elasticsearch/OpenSearch", (), ("elasticsearch", "opensearch"), "elasticsearch",
                       "docker run -d -p 9200:9200 -e discovery.type=single-node elasticsearch:8.15.0"),
    9092: KnownService("Kafka", (), ("kafka",), "kafka", "docker run -d -p 9092:9092 apache/kafka"),
    1433: KnownService("SQL Server", ("sqlservr",), ("mssql-server",), None,
                       "docker run -d -p 1433:1433 -e ACCEPT_EULA=Y -e MSSQL_SA_PASSWORD=Secret123! "
                       "mcr.microsoft.com/mssql/server", "MSSQL*"),
    3000: KnownService(f"{_DEV} (React/Next.js/Express, Rails, Grafana)",
                       start="npm run dev   (or: npm start, rails server, bin/dev)"),
    4200: KnownService(f"{_DEV} (Angular: ng serve)", start="npx ng serve"),
    5000: KnownService(f"{_DEV} (Flask; on macOS also the AirPlay Receiver)", start="flask run"),
    5173: KnownService(f"{_DEV} (Vite)", start="npm run dev"),
    8000: KnownService(f"{_DEV} (Django runserver, uvicorn, python -m http.server)",
                       start="python manage.py runserver   (or: uvicorn app:app, python -m http.server)"),
    8080: KnownService("an HTTP service (Tomcat, Jenkins, Spring Boot, a proxy, a dev server)",
                       start="the service's own start command (e.g. ./mvnw spring-boot:run)"),
    8888: KnownService(f"{_DEV} (Jupyter)", start="jupyter lab"),
    9000: KnownService("PHP-FPM, MinIO, SonarQube or Portainer", ("php-fpm", "minio"),
                       ("php-fpm", "minio", "sonarqube")),
}


# --- /proc/net/unix ----------------------------------------------------------------


@dataclass(frozen=True)
class UnixListener:
    """A listening Unix socket (``/proc/net/unix``)."""

    path: str  # "/var/run/postgresql/.s.PGSQL.5432"; "@name" for the abstract namespace
    inode: int
    kind: str  # "stream" | "seqpacket"

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


_UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}


def parse_proc_net_unix(text: str) -> list[UnixListener]:
    """The listening, path-bound Unix sockets in ``/proc/net/unix`` text.

    Columns: Num RefCount Protocol Flags Type St Inode Path. A listening socket has
    the __SO_ACCEPTCON flag (0x10000); sockets without a path (socketpairs, clients)
    and half-open connections to a listener (inode 0) are left out.
    """
    out: list[UnixListener] = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 7)
        if len(parts) < 8:
            continue
        try:
            flags = int(parts[3], 16)
            kind = _UNIX_TYPES.get(int(parts[4], 16), "other")
            inode = int(parts[6])
        except ValueError:
            continue
        if not flags & SO_ACCEPTCON or inode == 0:
            continue
        out.append(UnixListener(clean_text(parts[7].strip()), inode, kind))
    return out


def read_unix_listeners() -> list[UnixListener] | None:
    """Listening Unix sockets of this network namespace; None where /proc is absent."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            return parse_proc_net_unix(f.read())
    except OSError:
        return None


def gather_unix_listeners(snap: Snapshot) -> list[UnixListener] | None:
    """The lazy fact ``UNIX_LISTENERS``: :func:`read_unix_listeners`."""
    return read_unix_listeners()


# --- processes ---------------------------------------------------------------------


@dataclass
class ServiceProcess:
    """A running process of a well-known service."""

    pid: int
    name: str
    user: str | None = None
    listening: list[str] = field(default_factory=list)  # "127.0.0.1:6380" TCP listeners, if visible
    # Ports its command line names ("--port 6380", "-p 5433", redis' title "*:6380"); 0 turns TCP off.
    configured_ports: list[int] = field(default_factory=list)


_PORT_ARGUMENT = re.compile(r"(?:^|\s)(?:--port[= ]|-p\s*)(\d{1,5})(?!\S)|(?:^|\s)(?:\*|[\w.\[\]:-]*?):(\d{1,5})(?!\S)")


def ports_in_command_line(cmdline: str) -> list[int]:
    """The ports a service's command line sets: ``--port 6380``, ``--port=0``, ``-p 5433``,
    or Redis' process title ``redis-server *:6380`` / ``127.0.0.1:6380``."""
    found: list[int] = []
    for m in _PORT_ARGUMENT.finditer(cmdline):
        value = int(m.group(1) or m.group(2))
        if value <= 65535 and value not in found:
            found.append(value)
    return found


def gather_service_processes(snap: Snapshot, names: Iterable[str] = ()) -> list[ServiceProcess]:
    """Processes whose name is one of ``names`` (all well-known ones by default).

    Bounded: at most :data:`MAX_PROCESSES` processes and :data:`PROCESS_SCAN_SECONDS`.
    For each match (at most 5) its TCP listeners are read when the OS lets us, and the
    ports its command line names (readable for every user's processes, unlike its sockets).
    """
    import psutil

    wanted = set(names) or {p for s in WELL_KNOWN.values() for p in s.processes}
    found: list[ServiceProcess] = []
    deadline = time.monotonic() + PROCESS_SCAN_SECONDS
    for count, proc in enumerate(psutil.process_iter(["pid", "name", "username"])):
        if count >= MAX_PROCESSES or time.monotonic() > deadline:
            snap.visibility["service_processes"] = f"the process table was only partly read ({count} processes)"
            break
        info = proc.info
        if info.get("name") in wanted:
            found.append(ServiceProcess(info["pid"], clean_text(info["name"]), clean_text(info.get("username"))))
    for sp in found[:5]:
        try:
            sp.configured_ports = ports_in_command_line(" ".join(psutil.Process(sp.pid).cmdline()))
        except Exception:  # noqa: BLE001 - gone, or hidden by hidepid
            pass
        try:
            conns = psutil.Process(sp.pid).net_connections(kind="tcp")
        except Exception:  # noqa: BLE001 - another user's process without root, or gone
            continue
        sp.listening = sorted({_endpoint(c.laddr.ip, c.laddr.port) for c in conns
                               if c.status == psutil.CONN_LISTEN and c.laddr})
    return found


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- systemd -----------------------------------------------------------------------


def gather_init_process(snap: Snapshot) -> str | None:
    """The name of PID 1 ("systemd", "init", "tini", ...); None where it cannot be read."""
    try:
        with open("/proc/1/comm", encoding="utf-8", errors="replace") as f:
            return clean_text(f.read().strip()) or None
    except OSError:
        return None


@dataclass
class Unit:
    """One systemd unit, as ``systemctl show`` describes it."""

    id: str
    active_state: str = ""  # active | inactive | failed | activating | ...
    sub_state: str = ""
    result: str = ""  # success | exit-code | signal | timeout | ...
    exec_start: list[str] = field(default_factory=list)  # each command line (argv joined)
    listen: list[str] = field(default_factory=list)  # "0.0.0.0:22 (Stream)"
    load_state: str = ""

    @property
    def down(self) -> bool:
        return self.active_state in ("failed", "inactive")


def parse_systemctl_show(text: str) -> list[Unit]:
    """Units from ``systemctl show`` output: KEY=VALUE lines, one blank line between units.

    Repeated keys (ExecStart, Listen) accumulate.
    """
    units: list[Unit] = []
    block: dict[str, list[str]] = {}

    def flush() -> None:
        if block.get("Id"):
            units.append(Unit(
                id=block["Id"][0],
                active_state=block.get("ActiveState", [""])[0],
                sub_state=block.get("SubState", [""])[0],
                result=block.get("Result", [""])[0],
                exec_start=[a for v in block.get("ExecStart", []) for a in exec_start_argv(v)],
                listen=[v for v in block.get("Listen", []) if v],
                load_state=block.get("LoadState", [""])[0],
            ))

    for line in text.splitlines():
        if not line.strip():
            flush()
            block = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            block.setdefault(key, []).append(clean_text(value))
    flush()
    return units


_ARGV = re.compile(r"argv\[\]=(.*?) ; (?:ignore_errors|flags)=")


def exec_start_argv(value: str) -> list[str]:
    """The command lines in an ExecStart value: ``{ path=... ; argv[]=CMD ; ignore_errors=no ; ... }``."""
    found = _ARGV.findall(value)
    if found:
        return [a.strip() for a in found]
    return [value.strip()] if value.strip() and not value.startswith("{") else []


def names_port(text: str, port: int) -> bool:
    """Does a command line or Listen= value name this port (":5432", "-p 5432", "--port=5432")?"""
    return re.search(rf"(?<![\w.]){port}(?![\w.])|:{port}(?!\d)", text) is not None


def parse_unit_list(text: str) -> list[str]:
    """Unit names from ``systemctl list-units --plain --no-legend`` (first column)."""
    names = []
    for line in text.splitlines():
        parts = [p for p in line.split() if p not in ("●", "*")]
        if parts and "." in parts[0]:
            names.append(parts[0])
    return names


def gather_systemd_units(snap: Snapshot, prefixes: Iterable[str] = ()) -> list[Unit] | None:
    """Units named like the service (``prefixes``) plus every failed unit, with their state.

    None when systemd is not PID 1 or systemctl does not answer. Bounded: two
    ``list-units`` calls and one ``show`` of at most :data:`MAX_UNITS` units.
    """
    if gather_init_process(snap) != "systemd":
        return None
    patterns = [f"{p}.service" for p in prefixes] + [f"{p}@*.service" for p in prefixes] + \
               [f"{p}.socket" for p in prefixes]
    names: list[str] = []
    if patterns:
        listed = run_command(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", *patterns],
                             timeout=SYSTEMCTL_TIMEOUT)
        if listed.returncode is None:
            snap.visibility["systemd"] = listed.error or "systemctl did not answer"
            return None
        names += parse_unit_list(listed.stdout)
        # A unit that is installed but was never started is not "loaded": ask by name too.
        names += [f"{p}.service" for p in prefixes]
    failed = run_command(["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"],
                         timeout=SYSTEMCTL_TIMEOUT)
    if failed.returncode is None:
        snap.visibility["systemd"] = failed.error or "systemctl did not answer"
        return None
    names += parse_unit_list(failed.stdout)
    unique = list(dict.fromkeys(names))[:MAX_UNITS]
    if not unique:
        return []
    shown = run_command(["systemctl", "show", "--no-pager",
                         "-p", "Id,LoadState,ActiveState,SubState,Result,ExecStart,Listen", *unique],
                        timeout=SYSTEMCTL_TIMEOUT)
    if shown.returncode is None:
        snap.visibility["systemd"] = shown.error or "systemctl show did not answer"
        return None
    return [u for u in parse_systemctl_show(shown.stdout) if u.load_state != "not-found"]

