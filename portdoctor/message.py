"""Reading a client's error message: which endpoint failed, and what the client saw.

People arrive with ``Error: connect ECONNREFUSED ::1:5173`` or a 40-line traceback,
not with a target. :func:`find_endpoints` reads such text (one message, a log, a
pasted traceback) and returns every distinct failing :class:`Endpoint` in it: the host
and port (or the Unix socket path) the client tried, the address it says it used
(libpq's ``(::1)``, Node's ``::1:5173``), and what it saw (refused, timeout, a name
that did not resolve, permission denied, a missing socket file).

The recognised messages are those of Node.js, Python (requests/urllib3, asyncio,
aiohttp, redis-py), libpq/psycopg (both the PostgreSQL 14+ and the older wording),
Go's ``net`` package, Java (Apache HttpClient, Netty, OkHttp, the PostgreSQL JDBC
driver), curl, redis-cli, MySQL/MariaDB clients, the Docker CLI, kubectl
port-forward, Ruby, PHP and .NET; tests/fixtures/errors holds the real texts with
where each came from. A URL with a port on a line that says a connection failed is
read too, whatever printed it.

:func:`targets_from_text` turns the endpoints into :class:`~portdoctor.model.Target`
objects (``input`` is the message, masked and cut to one bounded line);
:func:`~portdoctor.target.read_target` (what the command line and the wizard call for
each TARGET) imports this module only when the TARGET is not a target as typed. Input is
bounded in size (:data:`MAX_TEXT_BYTES`) and every pattern is linear in its input.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import time
from collections.abc import Callable, Iterator

from portdoctor.exitcodes import UsageError
from portdoctor.lazyre import LazyPattern, lazy
from portdoctor.masking import mask_command_line, mask_urls_in
from portdoctor.model import ClientMessage, Target, hostport
from portdoctor.records import dataclass, field, replace
from portdoctor.target import looks_like_message, read_target  # noqa: F401 - the names callers know here

MAX_TEXT_BYTES = 4 * 1024 * 1024  # --from-log reads at most this much
MAX_LINE = 4096  # longer lines are cut before matching
MAX_ENDPOINTS = 64  # distinct endpoints diagnosed from one log
EXCERPT_CHARS = 300  # how much of the message target.input keeps
PARSE_SECONDS = 5.0  # the whole scan stops (keeping what it found) after this long
MAX_MENTIONS = 5000  # failing-connection mentions read from one text (a retry loop repeats one)

# What the client saw, in the vocabulary of findings.
REFUSED, TIMEOUT, DNS, UNREACHABLE, PERMISSION, MISSING = (
    "refused", "timeout", "dns", "unreachable", "permission", "missing")

HINT = ("give host:port, a URL, a Unix socket path, or paste the client's error line "
        "(e.g. 'connect ECONNREFUSED 127.0.0.1:5432')")


@dataclass(frozen=True)
class Endpoint:
    """One failing endpoint named by a client's message."""

    client: str  # "Node.js", "libpq", "Go", ...
    host: str | None = None  # a name or an address literal, without brackets
    port: int | None = None
    path: str | None = None  # a Unix socket path
    said: str | None = None  # REFUSED, TIMEOUT, DNS, UNREACHABLE, PERMISSION, MISSING, or None
    addresses: tuple[str, ...] = ()  # the addresses the client says it connected to
    excerpt: str = ""  # the matched text, one line, not yet masked
    note: str | None = None  # e.g. kubectl: "the refusal happened inside the pod"

    @property
    def key(self) -> tuple:
        return ("unix", self.path) if self.path else ("tcp", (self.host or "").lower(), self.port)

    @property
    def family(self) -> str | None:
        """"4", "6", "unix", or None for a host name."""
        if self.path:
            return "unix"
        try:
            return str(ipaddress.ip_address((self.host or "").split("%", 1)[0]).version)
        except ValueError:
            return None

    def target_text(self) -> str:
        """The TARGET a user would type for this endpoint."""
        if self.path:
            return f"unix://{self.path}"
        return hostport(self.host or "localhost", self.port or 0)


# --- what the client saw -------------------------------------------------------------

# (outcome, error codes: case-sensitive whole words, phrases: any case). Codes are matched
# as words so that "ResourceAccessException" is not EACCES.
_SAID = [
    (DNS, lazy(r"\b(?:ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)\b|UnknownHostException"),
     lazy(r"no such host|Name or service not known|nodename nor servname|Could not resolve|"
                r"Unknown (?:MySQL )?server host|Temporary failure in name resolution|could not translate host name|"
                r"getaddrinfo failed|Failed to resolve|No such host is known|Name does not resolve", re.I)),
    (PERMISSION, lazy(r"\b(?:EACCES|EPERM)\b|\(13\)|\bErrno 13\b"),
     lazy(r"permission denied|Operation not permitted", re.I)),
    (MISSING, lazy(r"\bENOENT\b|\(2\)$|\bErrno 2\b"), lazy(r"No such file or directory", re.I)),
    (REFUSED, lazy(r"\bECONNREFUSED\b|\((?:111|10061|61)\)|\b(?:Errno|Error) (?:111|61)\b"),
     lazy(r"Connection refused|actively refused|\brefused\b", re.I)),
    (TIMEOUT, lazy(r"\bETIMEDOUT\b|\((?:110|10060)\)|\bErrno 110\b"),
     lazy(r"timed out|i/o timeout|Timeout was reached|\btimeout\b|did not properly respond", re.I)),
    (UNREACHABLE, lazy(r"\b(?:EHOSTUNREACH|ENETUNREACH)\b|\((?:113|101)\)|\bErrno (?:113|101)\b"),
     lazy(r"No route to host|Network is unreachable|\bunreachable\b", re.I)),
]


def said_in(text: str) -> str | None:
    """What a failure text says happened: refused, timeout, dns, ... or None."""
    for outcome, codes, phrases in _SAID:
        if codes.search(text) or phrases.search(text):
            return outcome
    return None


# --- the patterns ----------------------------------------------------------------------

_HOST = r"[A-Za-z0-9_.%-]{1,253}"
_V4_OR_V6 = r"[0-9A-Fa-f:.%]{2,64}"
_PATH = r"/[^\s'\"]{1,1000}"
_WHY = r"[^\n]{0,200}"


@dataclass(frozen=True)
class _Pattern:
    client: str
    regex: LazyPattern
    build: Callable[[re.Match[str]], Endpoint | None]


def _rx(text: str) -> LazyPattern:
    return lazy(text, re.M)  # compiled on first use: a plain TARGET never pays for the table


def _port(text: str | None) -> int | None:
    if text is None or not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= 65535 else None


def _split_address(text: str) -> tuple[str, int | None]:
    """``127.0.0.1:80``, ``[::1]:80``, ``::1:80`` (Node prints v6 without brackets), ``db:80``."""
    text = text.rstrip(".,;)")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, _port(rest[1:] if rest.startswith(":") else None)
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, None
    return host, _port(port)


def _java_address(text: str) -> str:
    """Java prints ::1 as 0:0:0:0:0:0:0:1; compress it."""
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return text


def _said(m: re.Match[str], group: str = "why") -> str | None:
    return said_in(m.group(group) or "") if group in m.re.groupindex else said_in(m.group(0))


def _tcp(client: str, m: re.Match[str], host: str | None, port: int | None, *, said: str | None = None,
         addresses: tuple[str, ...] = (), note: str | None = None, default_port: int | None = None) -> Endpoint:
    if said is None:
        said = said_in(m.group(0))
    return Endpoint(client, host, port if port is not None else default_port, None, said,
                    tuple(a for a in addresses if a), m.group(0), note)


def _unix(client: str, m: re.Match[str], path: str, said: str | None = None) -> Endpoint:
    return Endpoint(client, None, None, path.rstrip(".,;:)'\""), said if said is not None else said_in(m.group(0)),
                    (), m.group(0))


def _node_connect(m: re.Match[str]) -> Endpoint:
    rest = m.group("where")
    if rest.startswith("/"):
        return _unix("Node.js", m, rest)
    host, port = _split_address(rest)
    return _tcp("Node.js", m, host, port, said=said_in(m.group("code")), addresses=(host,))


def _libpq_at(m: re.Match[str]) -> Endpoint:
    address = m.group("addr")
    return _tcp("libpq", m, m.group("host"), _port(m.group("port")), said=_said(m),
                addresses=(address or m.group("host"),))


def _go_dial(m: re.Match[str]) -> Endpoint:
    if m.group("net") == "unix":
        return _unix("Go", m, m.group("where"), said_in(m.group("why")))
    host, port = _split_address(m.group("where"))
    return _tcp("Go", m, host, port, said=said_in(m.group("why")), addresses=(host,))


def _docker(m: re.Match[str]) -> Endpoint:
    url = m.group("url").rstrip(".:")
    said = PERMISSION if "permission denied" in m.group(0).lower() else None
    if url.startswith("unix://"):
        return _unix("Docker CLI", m, url[len("unix://"):], said)
    host, port = _split_address(re.sub(r"^tcp://", "", url).split("/", 1)[0])
    return _tcp("Docker CLI", m, host, port, said=said)


def _mysql_tcp(m: re.Match[str]) -> Endpoint:
    host, port = m.group("host"), _port(m.group("port"))
    return _tcp("MySQL/MariaDB client", m, host, port, said=_errno_said(m.group("errno")), default_port=3306)


def _errno_said(errno: str | None) -> str | None:
    return {"111": REFUSED, "10061": REFUSED, "61": REFUSED, "110": TIMEOUT, "10060": TIMEOUT,
            "113": UNREACHABLE, "101": UNREACHABLE, "2": MISSING, "13": PERMISSION,
            "-2": DNS, "-3": DNS, "11001": DNS, "11004": DNS}.get(errno or "")


def _line_before(m: re.Match[str]) -> str:
    """The text before the match on its line (at most 200 characters): Ruby puts the reason there."""
    start = max(m.string.rfind("\n", 0, m.start()) + 1, m.start() - 200)
    return m.string[start: m.start()]


def _errno_before(m: re.Match[str]) -> str | None:
    """Python prints ``[Errno 111] `` just before the OSError's text."""
    before = re.search(r"\[Errno (-?\d{1,5})\] $", m.string[max(0, m.start() - 16): m.start()])
    return before.group(1) if before else None


def _kubectl(m: re.Match[str]) -> Endpoint:
    local, remote = m.group("local"), m.group("remote")
    note = (f"kubectl forwarded local port {local} to port {remote} in the pod, and the connection to port "
            f"{remote} failed INSIDE the pod's network namespace: the pod's process does not listen on "
            f"{remote} (or only on another address). portdoctor sees this machine's side; inside the pod, "
            f"run: kubectl exec POD -- ss -ltn (or netstat -ltn)")
    return _tcp("kubectl port-forward", m, "localhost", _port(local), said=said_in(m.group("why")), note=note)


_DOCKER_URL = r"(?P<url>(?:unix://" + _PATH + r"|tcp://[^\s]{1,300}|npipe://[^\s]{1,300}))"

# Every pattern starts with a literal: the regex engine then skips ahead to it, so a
# scan costs about a millisecond per MiB and pattern instead of a walk at every position.
_PATTERNS: list[_Pattern] = [
    # kubectl first: its message wraps an inner Go/socat error about the pod's side.
    _Pattern("kubectl port-forward", _rx(
        r"an error occurred forwarding (?P<local>\d{1,5}) -> (?P<remote>\d{1,5}): (?P<why>[^\n]{0,2000})"),
        _kubectl),
    _Pattern("Docker CLI", _rx(r"Cannot connect to the Docker daemon at " + _DOCKER_URL), _docker),
    _Pattern("Docker CLI", _rx(r"permission denied while trying to connect to the (?:Docker daemon socket|docker API) "
                               r"at " + _DOCKER_URL), _docker),
    # libpq (PostgreSQL 14+): one line per address tried.
    _Pattern("libpq", _rx(
        r'connection to server at "(?P<host>[^"\n]{1,255})"(?: \((?P<addr>' + _V4_OR_V6 +
        r')\))?, port (?P<port>\d{1,5}) failed: (?P<why>' + _WHY + ")"), _libpq_at),
    _Pattern("libpq", _rx(r'connection to server on socket "(?P<path>' + _PATH + r')" failed: (?P<why>' + _WHY + ")"),
             lambda m: _unix("libpq", m, m.group("path"), _said(m))),
    # libpq before PostgreSQL 14 (psycopg2 tracebacks are full of these).
    _Pattern("libpq", _rx(
        r"could not connect to server: (?P<why>[^\n]{0,200})\s{1,20}Is the server running on host "
        r'"(?P<host>[^"\n]{1,255})"(?: \((?P<addr>' + _V4_OR_V6 + r')\))? and accepting\s{1,20}'
        r"TCP/IP connections on port (?P<port>\d{1,5})\?"), _libpq_at),
    _Pattern("libpq", _rx(
        r"could not connect to server: (?P<why>[^\n]{0,200})\s{1,20}Is the server running locally and accepting"
        r'\s{1,20}connections on Unix domain socket "(?P<path>' + _PATH + r')"\?'),
        lambda m: _unix("libpq", m, m.group("path"), _said(m))),
    _Pattern("libpq", _rx(r'could not translate host name "(?P<host>[^"\n]{1,255})" to address'),
             lambda m: _tcp("libpq", m, m.group("host"), None, said=DNS, default_port=5432)),
    # Go's net package: "dial tcp 127.0.0.1:8080: connect: connection refused".
    _Pattern("Go", _rx(
        r"dial (?P<net>tcp[46]?|unix) (?P<where>\[[0-9A-Fa-f:.%]{2,64}\]:\d{1,5}|" + _HOST + r":\d{1,5}|" + _PATH +
        r"): (?P<why>connect: [^\n:]{1,80}|i/o timeout|[^\n:]{1,80})"), _go_dial),
    _Pattern("Go", _rx(r"dial tcp[46]?: lookup (?P<host>" + _HOST + r")(?: on [^\s:]{1,80}:\d{1,5})?: "
                       r"(?P<why>no such host|[^\n]{1,80})"),
             lambda m: _tcp("Go", m, m.group("host").rstrip("."), None, said=DNS)),
    # Node.js: "connect ECONNREFUSED 127.0.0.1:5432", "connect ECONNREFUSED ::1:5173", "connect ENOENT /x.sock".
    _Pattern("Node.js", _rx(
        r"connect (?P<code>E[A-Z]{3,15}) (?P<where>" + _PATH + r"|\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" +
        _HOST + r":\d{1,5})"), _node_connect),
    _Pattern("Node.js", _rx(r"getaddrinfo (?P<code>ENOTFOUND|EAI_AGAIN|EAI_FAIL) (?P<host>" + _HOST + ")"),
             lambda m: _tcp("Node.js", m, m.group("host"), None, said=DNS)),
    # curl: "Failed to connect to localhost port 8080 after 0 ms: Couldn't connect to server" (7.8x-8.x),
    # "Failed to connect to localhost:8080 after 0 ms: Could not connect to server" (8.16+).
    _Pattern("curl", _rx(
        r"Failed to connect to (?P<host>\[[0-9A-Fa-f:.%]{2,64}\]|" + _V4_OR_V6 + "|" + _HOST +
        r")(?: port |:)(?P<port>\d{1,5})(?P<why>[^\n]{0,200})"),
        lambda m: _tcp("curl", m, m.group("host").strip("[]"), _port(m.group("port")), said=_said(m))),
    _Pattern("curl", _rx(r"Could not resolve host: (?P<host>" + _HOST + ")"),
             lambda m: _tcp("curl", m, m.group("host"), None, said=DNS)),
    # redis-cli / redis-py.
    _Pattern("redis-cli", _rx(
        r"Could not connect to Redis at (?:(?P<path>" + _PATH + r")|(?P<where>\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" +
        _HOST + r":\d{1,5})): (?P<why>" + _WHY + ")"),
        lambda m: _unix("redis-cli", m, m.group("path"), _said(m)) if m.group("path") else
        _tcp("redis-cli", m, *_split_address(m.group("where")), said=_said(m))),
    _Pattern("redis-py", _rx(
        r"Error (?P<errno>-?\d{1,5}) connecting to (?:unix socket: (?P<path>" + _PATH + r")|(?P<where>" + _HOST +
        r":\d{1,5}))\.? ?(?P<why>[^\n]{0,200})"),
        lambda m: _unix("redis-py", m, m.group("path").rstrip("."), said_in(m.group("why")) or
                        _errno_said(m.group("errno"))) if m.group("path") else
        _tcp("redis-py", m, *_split_address(m.group("where")),
             said=said_in(m.group("why")) or _errno_said(m.group("errno")))),
    # MySQL / MariaDB clients (libmysqlclient CR_* messages, Connector/C, Connector/Python, PyMySQL).
    _Pattern("MySQL/MariaDB client", _rx(
        r"Can't connect to local (?:MySQL )?server through socket '(?P<path>" + _PATH + r")' \((?P<errno>-?\d{1,5})"),
        lambda m: _unix("MySQL/MariaDB client", m, m.group("path"), _errno_said(m.group("errno")))),
    _Pattern("MySQL/MariaDB client", _rx(
        r"Can't connect to (?:MySQL )?server on '?(?P<host>[^':\s]{1,253})(?::(?P<port>\d{1,5}))?'? "
        r"\((?P<errno>-?\d{1,5})"), _mysql_tcp),
    _Pattern("MySQL/MariaDB client", _rx(r"Unknown (?:MySQL )?server host '(?P<host>[^'\s]{1,253})'"),
             lambda m: _tcp("MySQL/MariaDB client", m, m.group("host"), None, said=DNS, default_port=3306)),
    # Python: requests/urllib3 connection pools, asyncio/aiohttp.
    _Pattern("Python (urllib3/requests)", _rx(
        r"HTTPS?Connection(?:Pool)?\(host='(?P<host>[^'\s]{1,253})', port=(?P<port>\d{1,5})\)(?P<why>[^\n]{0,600})"),
        lambda m: _tcp("Python (urllib3/requests)", m, m.group("host"), _port(m.group("port")), said=_said(m))),
    _Pattern("Python (aiohttp)", _rx(
        r"Cannot connect to host (?P<where>\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" + _HOST +
        r":\d{1,5}) ssl:\S{1,40} \[(?P<why>[^\]\n]{0,200})\]"),
        lambda m: _tcp("Python (aiohttp)", m, *_split_address(m.group("where")), said=_said(m),
                       addresses=tuple(re.findall(r"Connect call failed \('([^']{1,64})'", m.group("why")))[:1])),
    _Pattern("Python (aiohttp)", _rx(r"Cannot connect to unix socket (?P<path>" + _PATH + r") ssl:\S{1,40} "
                                     r"\[(?P<why>[^\]\n]{0,200})\]"),
             lambda m: _unix("Python (aiohttp)", m, m.group("path"), _said(m))),
    _Pattern("Python (asyncio)", _rx(r"Connect call failed \('(?P<addr>[^']{1,64})', (?P<port>\d{1,5})"),
        lambda m: _tcp("Python (asyncio)", m, m.group("addr"), _port(m.group("port")),
                       said=_errno_said(_errno_before(m)), addresses=(m.group("addr"),))),
    # Java: Apache HttpClient, Netty, OkHttp, the PostgreSQL JDBC driver, UnknownHostException.
    _Pattern("Java (Apache HttpClient)", _rx(
        r"Connect to (?P<where>\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" + _HOST + r":\d{1,5}) "
        r"\[(?P<resolved>[^\]\n]{0,300})\] failed: (?P<why>" + _WHY + ")"),
        # The bracket lists every resolved address, not the one that failed: not the client's address.
        lambda m: _tcp("Java (Apache HttpClient)", m, *_split_address(m.group("where")), said=_said(m))),
    _Pattern("Java (Netty)", _rx(
        r"onnection (?P<why>refused|timed out): (?P<host>" + _HOST +
        r")/(?P<addr>[0-9A-Fa-f:.%]{2,64}):(?P<port>\d{1,5})"),
        lambda m: _tcp("Java (Netty)", m, m.group("host"), _port(m.group("port")), said=_said(m),
                       addresses=(_java_address(m.group("addr")),))),
    _Pattern("Java (OkHttp)", _rx(
        r"Failed to connect to (?P<host>" + _HOST + r")/(?P<addr>[0-9A-Fa-f:.%]{2,64}):(?P<port>\d{1,5})"),
        lambda m: _tcp("Java (OkHttp)", m, m.group("host"), _port(m.group("port")),
                       addresses=(_java_address(m.group("addr")),))),
    _Pattern("Java (PostgreSQL JDBC)", _rx(r"Connection to (?P<where>" + _HOST + r":\d{1,5}) refused"),
             lambda m: _tcp("Java (PostgreSQL JDBC)", m, *_split_address(m.group("where")), said=REFUSED)),
    _Pattern("Java", _rx(r"java\.net\.UnknownHostException: (?P<host>" + _HOST + ")"),
             lambda m: _tcp("Java", m, m.group("host"), None, said=DNS)),
    # Ruby: Net::HTTP and the socket library.
    _Pattern("Ruby", _rx(
        r"Failed to open TCP connection to (?P<where>\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" + _HOST +
        r":\d{1,5}) \((?P<why>[^\n]{0,200})"),
        lambda m: _tcp("Ruby", m, *_split_address(m.group("where")), said=_said(m))),
    _Pattern("Ruby", _rx(
        r" - connect\(2\) for (?:\"(?P<host>[^\"\n]{1,253})\" port (?P<port>\d{1,5})|"
        r"(?P<path>" + _PATH + r")|(?P<where>" + _HOST + r":\d{1,5}))"),
        lambda m: _unix("Ruby", m, m.group("path"), said_in(_line_before(m))) if m.group("path") else
        _tcp("Ruby", m, m.group("host"), _port(m.group("port")), said=said_in(_line_before(m))) if m.group("host")
        else _tcp("Ruby", m, *_split_address(m.group("where")), said=said_in(_line_before(m)))),
    # PHP streams: "stream_socket_client(): Unable to connect to tcp://127.0.0.1:6379 (Connection refused)".
    _Pattern("PHP", _rx(
        r"nable to connect to (?:(?P<scheme>tcp|ssl|tls|unix)://)?(?:(?P<path>" + _PATH +
        r")|(?P<where>\[?[0-9A-Fa-f:.%]{2,64}\]?:\d{1,5}|" + _HOST + r":\d{1,5})) \((?P<why>[^)\n]{0,200})\)"),
        lambda m: _unix("PHP", m, m.group("path"), _said(m)) if m.group("path") else
        _tcp("PHP", m, *_split_address(m.group("where")), said=_said(m))),
    # .NET: HttpRequestException appends " (host:port)" to the SocketException's message.
    *[_Pattern(".NET", _rx(
        r"(?P<why>" + why + r") \((?P<where>\[[0-9A-Fa-f:.%]{2,64}\]:\d{1,5}|" + _HOST + r":\d{1,5})\)"),
        lambda m: _tcp(".NET", m, *_split_address(m.group("where")), said=_said(m)))
      for why in (r"No connection could be made because the target machine actively refused it\.?",
                  "Connection refused", "Connection timed out", "Name or service not known",
                  r"No such host is known\.?", r"A connection attempt failed because[^(\n]{0,250}",
                  "Network is unreachable", "No route to host", "nodename nor servname provided, or not known")],
]

# Last resort: a URL with a port (or a default port) on a line that says a connection failed.
_FAILURE_WORDS = lazy(r"refused|timed out|timeout|unreachable|could not connect|couldn't connect|"
                            r"can't connect|cannot connect|unable to connect|failed to connect|connection error|"
                            r"not resolve|no such host|ECONN|ETIMEDOUT|ENOTFOUND", re.I)
_URL = lazy(r"\b(?P<url>[a-z][a-z0-9+.-]{1,20}://[^\s'\"<>()\[\]{}]{1,300}|"
                  r"[a-z][a-z0-9+.-]{1,20}://\[[0-9A-Fa-f:.%]{2,64}\][^\s'\"<>()]{0,300})", re.I)


def _url_endpoints(line: str) -> Iterator[tuple[int, int, Endpoint]]:
    from portdoctor.target import parse_target

    for m in _URL.finditer(line):
        url = m.group("url").rstrip(".,;:")
        if url.lower().startswith(("unix://", "file://")):
            continue
        try:
            t = parse_target(url)
        except UsageError:
            continue
        yield m.start(), m.end(), Endpoint("a client (URL in a failure line)", t.host, t.port, None, said_in(line),
                                           (), line.strip())


# --- scanning --------------------------------------------------------------------------

_ANSI = lazy(r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)|\x1b[@-_]")
_CONTROL = lazy(r"[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain_text(text: str) -> str:
    """Terminal escapes and control characters out of pasted text; lines cut to MAX_LINE."""
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub(" ", text)
    return "\n".join(line[:MAX_LINE] for line in text.split("\n"))


@dataclass
class Scan:
    """What :func:`find_endpoints` found, and what it had to leave out."""

    endpoints: list[Endpoint] = field(default_factory=list)
    truncated: str | None = None  # why the scan stopped early, if it did
    portless: list[Endpoint] = field(default_factory=list)  # a host named without any port


def find_endpoints(text: str, *, deadline: float | None = None) -> Scan:
    """Every distinct failing endpoint in ``text``, in order of first appearance.

    The same endpoint seen again (a retry loop, libpq's line per address) is merged:
    the addresses the client names are collected. A host named without a port (Node's
    ``getaddrinfo ENOTFOUND db``) takes the port of another mention of that host in the
    text (a URL, ``db:5432``); failing that it is kept in ``Scan.portless``.
    """
    scan = Scan()
    if len(text) > MAX_TEXT_BYTES:
        text = text[:MAX_TEXT_BYTES]
        scan.truncated = f"only the first {MAX_TEXT_BYTES // (1024 * 1024)} MiB were read"
    text = plain_text(text)
    deadline = deadline if deadline is not None else time.monotonic() + PARSE_SECONDS
    found: list[tuple[int, int, Endpoint]] = []
    taken = _Spans()
    for pattern in _PATTERNS:
        if time.monotonic() > deadline:
            scan.truncated = f"the scan stopped after {PARSE_SECONDS:g} s"
            break
        for m in pattern.regex.finditer(text):
            if len(found) >= MAX_MENTIONS or (len(found) % 256 == 255 and time.monotonic() > deadline):
                scan.truncated = (f"the scan stopped after {MAX_MENTIONS} mentions" if len(found) >= MAX_MENTIONS
                                  else f"the scan stopped after {PARSE_SECONDS:g} s")
                break
            if taken.overlaps(m.start(), m.end()):
                continue
            endpoint = pattern.build(m)
            if endpoint is None:
                continue
            endpoint = replace(endpoint, excerpt=_lines_of(text, m.start(), m.end()))
            taken.add(m.start(), m.end())
            found.append((m.start(), m.end(), endpoint))
    # The URL fallback reads only the lines that say a connection failed and that no
    # client's own pattern explained already.
    last_line = -1
    at = text.find("://")
    while at >= 0:
        if time.monotonic() > deadline or len(found) >= MAX_MENTIONS:
            scan.truncated = scan.truncated or f"the scan stopped after {PARSE_SECONDS:g} s"
            break
        line_start = text.rfind("\n", 0, at) + 1
        line_end = text.find("\n", at)
        line_end = len(text) if line_end < 0 else line_end
        at = text.find("://", line_end)
        if line_start <= last_line or taken.overlaps(line_start, line_end):
            continue
        last_line = line_start
        line = text[line_start:line_end]
        if not _FAILURE_WORDS.search(line):
            continue
        for start, end, endpoint in _url_endpoints(line):
            found.append((line_start + start, line_start + end, endpoint))
    found.sort(key=lambda item: item[0])
    _merge(scan, [_tidy(e) for _, _, e in found], text)
    return scan


def _lines_of(text: str, start: int, end: int) -> str:
    """The line(s) a match lies on, for the report's ``target.input``."""
    line_start = max(text.rfind("\n", 0, start) + 1, start - EXCERPT_CHARS)
    line_end = text.find("\n", end)
    return text[line_start: min(len(text) if line_end < 0 else line_end, end + EXCERPT_CHARS)]


class _Spans:
    """Non-overlapping matched spans, sorted, with a logarithmic overlap test."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)  # spans starting before ``end``
        return i > 0 and self.ends[i - 1] > start

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def _tidy(endpoint: Endpoint) -> Endpoint:
    excerpt = " ".join(endpoint.excerpt.split())[:EXCERPT_CHARS]
    host = endpoint.host
    if host and host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host:
        host = _java_address(host) if ":" in host else host
    addresses = tuple(_java_address(a) for a in endpoint.addresses)
    return replace(endpoint, excerpt=excerpt, host=host, addresses=addresses)


def _merge(scan: Scan, endpoints: list[Endpoint], text: str) -> None:
    by_key: dict[tuple, Endpoint] = {}
    order: list[tuple] = []
    for e in endpoints:
        if e.path is None and e.port is None:
            port = _port_mentioned_for(e.host or "", text)
            if port is None:
                if all(p.host != e.host for p in scan.portless):
                    scan.portless.append(e)
                continue
            e = replace(e, port=port)
        if e.key in by_key:
            old = by_key[e.key]
            merged = tuple(dict.fromkeys(old.addresses + e.addresses))
            by_key[e.key] = replace(old, addresses=merged, said=old.said or e.said)
            continue
        if len(order) >= MAX_ENDPOINTS:
            scan.truncated = scan.truncated or f"only the first {MAX_ENDPOINTS} endpoints are diagnosed"
            continue
        by_key[e.key] = e
        order.append(e.key)
    # A host that was named without a port is fine once another line gave its port.
    scan.portless = [p for p in scan.portless if all(by_key[k].host != p.host for k in order)]
    scan.endpoints = [by_key[k] for k in order]


def _port_mentioned_for(host: str, text: str) -> int | None:
    """The port another mention of ``host`` in the text gives (``db:5432``, ``https://db/``)."""
    from portdoctor.target import DEFAULT_PORTS

    if not host:
        return None
    escaped = re.escape(host)
    m = re.search(r"(?:(?P<scheme>[a-z][a-z0-9+.-]{1,20})://(?:[^\s/@]{1,200}@)?)?" + escaped +
                  r"(?![A-Za-z0-9_.-])(?::(?P<port>\d{1,5}))?", text, re.I)
    while m:
        if m.group("port"):
            return _port(m.group("port"))
        if m.group("scheme") and m.group("scheme").lower() in DEFAULT_PORTS:
            return DEFAULT_PORTS[m.group("scheme").lower()]
        m = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]{1,20})://(?:[^\s/@]{1,200}@)?)?" + escaped +
                       r"(?![A-Za-z0-9_.-])(?::(?P<port>\d{1,5}))?", re.I).search(text, m.end())
    return None


# --- targets ---------------------------------------------------------------------------


def target_for(endpoint: Endpoint, whole: str | None = None) -> Target:
    """The Target for one endpoint: parsed like the typed form, carrying the message.

    ``input`` is the whole message (``whole``) when it fits in one bounded line, else
    the part that names the endpoint; masked either way.
    """
    from portdoctor.target import parse_target

    target = parse_target(endpoint.target_text())
    message = ClientMessage(client=endpoint.client, said=endpoint.said, addresses=endpoint.addresses,
                            note=endpoint.note)
    shown = " ".join(plain_text(whole).split()) if whole is not None else ""
    if not shown or len(shown) > EXCERPT_CHARS:
        shown = endpoint.excerpt
    # Messages quote connection strings: "host=db password=…", URLs with a password, tokens.
    return replace(target, input=_masked(shown)[:EXCERPT_CHARS], message=message, host_defaulted=False)


def targets_from_text(text: str, *, what: str = "the message", whole: bool = False) -> tuple[list[Target], list[str]]:
    """Every failing endpoint in ``text`` as a Target, plus notes on what was left out.

    Raises UsageError (one line, with a hint) when no endpoint is found.
    """
    scan = find_endpoints(text)
    notes = []
    if scan.truncated:
        notes.append(f"{what}: {scan.truncated}")
    targets = []
    for endpoint in scan.endpoints:
        try:
            targets.append(target_for(endpoint, text if whole and len(scan.endpoints) == 1 else None))
        except UsageError as exc:
            notes.append(f"{what}: skipped {_masked(endpoint.excerpt)[:120]!r}: {exc}")
    for e in scan.portless:
        notes.append(f"{what}: {e.client} says {e.host!r} did not resolve but names no port; "
                     f"to diagnose it, run: portdoctor {e.host}:PORT")
    if not targets:
        if scan.portless:
            e = scan.portless[0]
            raise UsageError(f"{what} names host {e.host!r} ({e.client}: {e.said or 'failed'}) but no port; "
                             f"run: portdoctor {e.host}:PORT")
        raise UsageError(f"bad target {_quoted(text)}: no address found in {what}; {HINT}")
    return targets, notes


def _masked(text: str) -> str:
    return mask_urls_in(mask_command_line(text))


def _quoted(text: str) -> str:
    shown = " ".join(_masked(plain_text(text[:200])).split())
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")
