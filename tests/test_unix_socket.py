"""Unix socket facts and the unix-socket check's logic on hand-built facts (no real sockets).

The end-to-end proofs (missing, stale, permission denied as nobody, another path, TCP
instead, listening) are in test_lab_unix.py; these pin the pure parts: the sock_diag
reply parser, the permission arithmetic, the service a path belongs to, and which
finding each connect outcome gives.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from portdoctor.api import Context, Options
from portdoctor.checks.unix_socket import UnixSocketCheck
from portdoctor.facts import Snapshot
from portdoctor.facts.unixsock import (
    PathInfo,
    UnixFacts,
    UnixListener,
    UserInfo,
    may_connect,
    parse_unix_diag,
    service_of,
)
from portdoctor.model import Outcome, Probe
from portdoctor.target import parse_target


def _diag_message(inode: int, path: str, vfs: tuple[int, int] | None, rqlen=(0, 128), uid=0, sock_type=1) -> bytes:
    attrs = b""

    def attr(kind: int, payload: bytes) -> bytes:
        length = 4 + len(payload)
        return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)

    attrs += attr(0, path.encode() + b"\0")
    if vfs:
        attrs += attr(1, struct.pack("=II", *vfs))
    attrs += attr(4, struct.pack("=II", *rqlen)) + attr(7, struct.pack("=I", uid))
    body = struct.pack("=BBBxIII", socket.AF_UNIX, sock_type, 10, inode, 1, 2) + attrs
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


def test_parse_unix_diag_reads_name_file_inode_queue_and_uid():
    done = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0" * 4
    chunk = _diag_message(101, "/run/app.sock", (555, 66), (3, 128), 1000) + _diag_message(102, "\0abstract", None)
    (listener,) = parse_unix_diag([chunk + done])  # the abstract socket has no path: left out
    assert (listener.path, listener.inode, listener.vfs_inode, listener.backlog, listener.backlog_limit,
            listener.uid, listener.kind) == ("/run/app.sock", 101, 555, 3, 128, 1000, "stream")


def test_one_record_for_a_listening_unix_socket_whoever_read_it():
    """sock_diag and /proc/net/unix give the same record (the API's UnixListener), with the socket's kind."""
    import portdoctor.api
    from portdoctor.facts.services import parse_proc_net_unix

    (seqpacket,) = parse_unix_diag([_diag_message(9, "/run/seq.sock", None, sock_type=5)])
    header = "Num       RefCount Protocol Flags    Type St Inode Path\n"
    (proc,) = parse_proc_net_unix(header + "0000000000000000: 00000002 00000000 00010000 0005 01 77 /run/seq.sock\n")
    assert type(seqpacket) is type(proc) is portdoctor.api.UnixListener is UnixListener
    assert (seqpacket.kind, proc.kind, proc.inode, proc.basename) == ("seqpacket", "seqpacket", 77, "seq.sock")


def test_a_path_with_control_characters_is_cleaned():
    (listener,) = parse_unix_diag([_diag_message(7, "/tmp/\x1b]52;c;x\x07.sock", (1, 1))])
    assert "\x1b" not in listener.path and "\x07" not in listener.path


@pytest.mark.parametrize("path, name, port", [
    ("/var/run/postgresql/.s.PGSQL.5433", "PostgreSQL", 5433),
    ("/run/mysqld/mysqld.sock", "MySQL/MariaDB", 3306),
    ("/var/run/redis/redis-server.sock", "Redis", 6379),
    ("/var/run/docker.sock", "the Docker daemon (dockerd)", 2375),
    ("/tmp/app.sock", None, None),
])
def test_the_service_a_path_belongs_to(path, name, port):
    service, found_port, _ = service_of(path)
    assert (service.name if service else None, found_port) == (name, port)


def test_may_connect_needs_write_permission_for_the_users_class():
    sock = PathInfo(True, "socket", 0o660, 0, 999)
    assert may_connect(sock, UserInfo(1000, "me", {1000}, set())) is False
    assert may_connect(sock, UserInfo(1000, "me", {1000, 999}, set())) is True
    assert may_connect(sock, UserInfo(0, "root", {0}, set())) is True
    assert may_connect(PathInfo(True, "socket", 0o755, 1000, 1000), UserInfo(1000, "me", {1000}, set())) is True


def _run(path: str, probe: Probe, facts: UnixFacts):
    snap = Snapshot(port=0, protocol="unix")
    snap.extras["unix"] = facts
    ctx = Context(parse_target(path), [], [probe], snap, Options())
    (finding,) = [UnixSocketCheck().run(ctx)]
    return finding


ME = UserInfo(1000, "me", {1000}, set())


def test_each_connect_outcome_gives_its_cause():
    path = "/run/app.sock"
    live = UnixListener(path, 9, 42, 1, 0, 128, 0, 321, "appsvc", "root")
    socket_file = PathInfo(True, "socket", 0o777, 0, 0, "root", "root", 42, 1)
    ok = _run(path, Probe(path, Outcome.OPEN, 0.1), UnixFacts(path, socket_file, listeners=[live], user=ME))
    assert ok.status.value == "pass" and "appsvc (pid 321, user root)" in ok.title
    stale = _run(path, Probe(path, Outcome.REFUSED, 0.1, errno.ECONNREFUSED), UnixFacts(path, socket_file, user=ME))
    assert stale.cause == "not-listening" and "stale" in stale.title
    regular = PathInfo(True, "regular file", 0o644, 0, 0, "root", "root", 43, 1)
    not_socket = _run(path, Probe(path, Outcome.REFUSED, 0.1, errno.ECONNREFUSED), UnixFacts(path, regular, user=ME))
    assert not_socket.cause == "not-listening" and "regular file" in not_socket.title
    missing = _run(path, Probe(path, Outcome.ERROR, 0.1, errno.ENOENT), UnixFacts(path, PathInfo(False), user=ME))
    assert missing.cause == "not-listening" and "does not exist" in missing.title
    closed = PathInfo(True, "socket", 0o660, 0, 999, "root", "docker", 42, 1)
    denied = _run(path, Probe(path, Outcome.ERROR, 0.1, errno.EACCES),
                  UnixFacts(path, closed, listeners=[live], user=ME))
    assert denied.cause == "permission-denied" and denied.remediation[0].command == "sudo usermod -aG docker me"
    full = _run(path, Probe(path, Outcome.TIMEOUT, 0.1, errno.EAGAIN), UnixFacts(path, socket_file, listeners=[live],
                                                                              user=ME))
    assert full.cause == "backlog-full"


def test_a_socket_of_group_root_never_advises_joining_group_root():
    path = "/run/app.sock"
    live = UnixListener(path, 9, 42, 1, 0, 128, 0, 321, "appsvc", "root")
    root_only = PathInfo(True, "socket", 0o660, 0, 0, "root", "root", 42, 1)
    denied = _run(path, Probe(path, Outcome.ERROR, 0.1, errno.EACCES),
                  UnixFacts(path, root_only, listeners=[live], user=ME))
    assert denied.cause == "permission-denied"
    assert not any("usermod" in (step.command or "") for step in denied.remediation)


def test_an_accepting_socket_is_ok_without_an_empty_address_list():
    from portdoctor.pipeline import decide_verdict

    path = "/run/app.sock"
    ctx = Context(parse_target(path), [], [Probe(path, Outcome.OPEN, 0.1)], Snapshot(port=0, protocol="unix"),
                  Options())
    verdict = decide_verdict(ctx)
    assert verdict.cause == "ok" and "()" not in verdict.summary and "every address" not in verdict.summary
