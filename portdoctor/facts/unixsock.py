"""Facts about one Unix socket path: the file, its listener, its owner, and who may connect.

:func:`gather_unix_facts` reads, for the path of a ``unix://`` target:

- the file: does it exist, is it a socket (or a regular file, a folder), its owner,
  group and mode, and the first parent folder that is missing or that this user may
  not search;
- the listener bound to *that* file: the kernel's ``sock_diag`` for ``AF_UNIX``
  (``UDIAG_SHOW_VFS`` gives the inode of the file each listening socket is bound to,
  so a socket file left behind by a dead process is told apart from a live one even
  when a new file took the same name), falling back to ``/proc/net/unix`` path
  matching; its accept queue; the process holding it (``/proc/*/fd``, as far as this
  user can see);
- the user: uid, the groups of this session, and whether ``/etc/group`` lists the user
  in the socket's group although this session lacks it (added with ``usermod -aG`` but
  not logged in again);
- the service the path belongs to (``.s.PGSQL.5432`` is PostgreSQL on 5432,
  ``mysqld.sock`` MySQL, ``docker.sock`` the Docker daemon, ...), and the listening
  Unix sockets of the same kind at other paths.

Everything is bounded and never raises for missing visibility; what could not be read
is said in ``UnixFacts.visibility``.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import struct

from portdoctor.facts import netlink
from portdoctor.facts.services import (  # UnixListener: the one record of a listening Unix socket
    SOCKET_KINDS,
    WELL_KNOWN,
    KnownService,
    UnixListener,
    read_unix_listeners,
)
from portdoctor.records import dataclass, field
from portdoctor.sanitize import clean_text

UDIAG_SHOW_NAME, UDIAG_SHOW_VFS, UDIAG_SHOW_RQLEN, UDIAG_SHOW_UID = 0x01, 0x02, 0x10, 0x40
UNIX_DIAG_NAME, UNIX_DIAG_VFS, UNIX_DIAG_RQLEN, UNIX_DIAG_UID = 0, 1, 4, 7
_UNIX_REQ = struct.Struct("=BBHIIIII")  # family, protocol, pad, states, ino, show, cookie[2]
_UNIX_MSG = struct.Struct("=BBBxIII")  # family, type, state, pad, ino, cookie[2]
MAX_LISTENERS = 20000

DOCKER = KnownService("the Docker daemon (dockerd)", ("dockerd",), ("docker",), None, None, "docker*")


@dataclass
class PathInfo:
    exists: bool
    kind: str = "missing"  # "socket", "regular file", "folder", "symlink", "other", "missing"
    mode: int | None = None  # permission bits
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    inode: int | None = None
    dev: int | None = None


@dataclass
class UserInfo:
    uid: int
    name: str | None
    gids: set[int]  # this session's groups (effective + supplementary)
    listed_in: set[int]  # groups /etc/group lists the user in (may include some this session lacks)


@dataclass
class UnixFacts:
    path: str
    file: PathInfo
    missing_dir: str | None = None  # the first parent folder that does not exist
    blocked_dir: str | None = None  # the first parent folder this user may not search (x)
    listeners: list[UnixListener] = field(default_factory=list)  # bound to this very file
    matched_by: str | None = None  # "inode" (sock_diag) or "path" (/proc/net/unix), None if unreadable
    elsewhere: list[UnixListener] = field(default_factory=list)  # the same kind of socket at other paths
    unlinked: list[UnixListener] = field(default_factory=list)  # still listening, but the file was deleted
    service: KnownService | None = None
    service_port: int | None = None  # the TCP port the same service usually uses
    user: UserInfo | None = None
    visibility: dict[str, str] = field(default_factory=dict)


# --- the service a socket path belongs to -----------------------------------------------

_PATH_SERVICES: list[tuple[re.Pattern[str], int | None, KnownService | None]] = [
    (re.compile(r"^\.s\.PGSQL\.(\d{1,5})$"), None, WELL_KNOWN[5432]),
    (re.compile(r"^(?:mysqld?|mariadb)\.sock$"), 3306, WELL_KNOWN[3306]),
    (re.compile(r"^(?:redis|valkey)[\w.-]*\.sock$"), 6379, WELL_KNOWN[6379]),
    (re.compile(r"^mongodb-(\d{1,5})\.sock$"), None, WELL_KNOWN[27017]),
    (re.compile(r"^docker\.sock$"), 2375, DOCKER),
    (re.compile(r"^php[\d.]*-fpm[\w.-]*\.sock$|^php-fpm[\w.-]*\.sock$"), 9000, WELL_KNOWN[9000]),
    (re.compile(r"^memcached[\w.-]*\.sock$"), 11211, WELL_KNOWN[11211]),
]


def service_of(path: str) -> tuple[KnownService | None, int | None, re.Pattern[str] | None]:
    """(service, its usual TCP port, the basename pattern of its sockets) for a socket path."""
    base = path.rsplit("/", 1)[-1]
    for pattern, port, service in _PATH_SERVICES:
        m = pattern.match(base)
        if m:
            if port is None:
                port = int(m.group(1)) if 0 < int(m.group(1)) < 65536 else None
            return service, port, pattern
    return None, None, None


# --- the file ---------------------------------------------------------------------------


def path_info(path: str) -> PathInfo:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return PathInfo(False)
    except OSError:
        try:
            st = os.lstat(path)
        except OSError:
            return PathInfo(False, "unreadable")
    mode = st.st_mode
    kind = ("socket" if stat.S_ISSOCK(mode) else "regular file" if stat.S_ISREG(mode) else
            "folder" if stat.S_ISDIR(mode) else "symlink" if stat.S_ISLNK(mode) else "other")
    return PathInfo(True, kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, _user_name(st.st_uid),
                    _group_name(st.st_gid), st.st_ino, st.st_dev)


def parent_problems(path: str) -> tuple[str | None, str | None]:
    """(first missing parent folder, first parent folder this user may not search)."""
    parts = path.split("/")[1:-1]
    current = ""
    for part in parts:
        current += "/" + part
        try:
            st = os.stat(current)
        except FileNotFoundError:
            return current, None
        except PermissionError:
            return None, current.rsplit("/", 1)[0] or "/"
        except OSError:
            return None, None
        if not stat.S_ISDIR(st.st_mode):
            return current, None
        if not os.access(current, os.X_OK):
            return None, current
    return None, None


def may_connect(info: PathInfo, user: UserInfo) -> bool | None:
    """Does the socket file's mode let this user connect (write permission)? None if unknown."""
    if info.mode is None or info.uid is None:
        return None
    if user.uid == 0:
        return True
    if user.uid == info.uid:
        return bool(info.mode & 0o200)
    if info.gid in user.gids:
        return bool(info.mode & 0o020)
    return bool(info.mode & 0o002)


# --- the user ----------------------------------------------------------------------------


def current_user() -> UserInfo:
    uid = os.geteuid()
    name = _user_name(uid)
    gids = {os.getegid(), *os.getgroups()}
    listed: set[int] = set()
    try:
        import grp

        for g in grp.getgrall()[:10000]:
            if name and name in g.gr_mem:
                listed.add(g.gr_gid)
    except (ImportError, OSError):
        pass
    return UserInfo(uid, name, gids, listed)


def _user_name(uid: int | None) -> str | None:
    from portdoctor.facts.sockets import user_name

    return user_name(uid)


def _group_name(gid: int | None) -> str | None:
    if gid is None:
        return None
    try:
        import grp

        return clean_text(grp.getgrgid(gid).gr_name)
    except (ImportError, KeyError):
        return str(gid)


# --- listeners ---------------------------------------------------------------------------


def build_unix_diag_request(seq: int = 1) -> bytes:
    """A sock_diag dump of listening AF_UNIX sockets with their name, file inode, queue and uid."""
    show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID
    body = _UNIX_REQ.pack(socket.AF_UNIX, 0, 0, 1 << netlink.STATE_LISTEN, 0, show, 0xFFFFFFFF, 0xFFFFFFFF)
    header = struct.pack("=IHHII", 16 + len(body), netlink.SOCK_DIAG_BY_FAMILY,
                         netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, seq, 0)
    return header + body


def parse_unix_diag(chunks: list[bytes]) -> list[UnixListener]:
    """Listening, path-bound Unix sockets from the kernel's reply (a pure function)."""
    out: list[UnixListener] = []
    for data in chunks:
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16 or kind in (netlink.NLMSG_DONE, netlink.NLMSG_ERROR):
                break
            end = offset + length
            _family, sock_type, _state, inode, _c0, _c1 = _UNIX_MSG.unpack_from(data, offset + 16)
            listener = UnixListener("", inode, kind=SOCKET_KINDS.get(sock_type, "other"))
            at = offset + 16 + _UNIX_MSG.size
            while at + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, at)
                if alen < 4:
                    break
                payload = data[at + 4: at + alen]
                if atype == UNIX_DIAG_NAME:
                    listener.path = payload.split(b"\0", 1)[0].decode("utf-8", "replace") if payload[:1] != b"\0" \
                        else "@" + payload[1:].decode("utf-8", "replace")
                elif atype == UNIX_DIAG_VFS and len(payload) >= 8:
                    listener.vfs_inode, listener.vfs_dev = struct.unpack_from("=II", payload)
                elif atype == UNIX_DIAG_RQLEN and len(payload) >= 8:
                    listener.backlog, listener.backlog_limit = struct.unpack_from("=II", payload)
                elif atype == UNIX_DIAG_UID and len(payload) >= 4:
                    (listener.uid,) = struct.unpack_from("=I", payload)
                at += (alen + 3) & ~3
            if listener.path and not listener.path.startswith("@"):
                listener.path = clean_text(listener.path)  # chosen by whoever bound it
                out.append(listener)
            offset = (end + 3) & ~3
            if len(out) >= MAX_LISTENERS:
                return out
    return out


def listening_unix_sockets() -> tuple[list[UnixListener], str]:
    """Every listening path-bound Unix socket of this network namespace, and how they were read."""
    try:
        chunks = netlink._netlink_dump(netlink.NETLINK_SOCK_DIAG, build_unix_diag_request())
        return parse_unix_diag(chunks), "inode"
    except OSError:
        pass
    found = read_unix_listeners()
    if found is None:
        raise OSError("neither sock_diag nor /proc/net/unix can be read")
    return [u for u in found if u.kind == "stream"], "path"  # paths cleaned by the reader


def _bound_to(listener: UnixListener, path: str, info: PathInfo) -> bool:
    if listener.vfs_inode is not None and info.inode is not None:
        return listener.vfs_inode == (info.inode & 0xFFFFFFFF)
    return os.path.normpath(listener.path) == os.path.normpath(path)


def _fill_owners(listeners: list[UnixListener], visibility: dict[str, str]) -> None:
    from portdoctor.facts.sockets import find_socket_pids, is_privileged, process_details

    found, denied = find_socket_pids([l.inode for l in listeners])
    for l in listeners:
        l.pid = found.get(l.inode)
        if l.pid is not None:
            l.process = process_details(l.pid)[0]
        l.user = _user_name(l.uid) if l.uid is not None else None
    if any(l.pid is None for l in listeners) and (denied or not is_privileged()):
        visibility["owners"] = "the process holding the socket is another user's: run with sudo to see it"


def gather_unix_facts(path: str) -> UnixFacts:
    """Everything the Unix-socket check needs about ``path``. Never raises."""
    facts = UnixFacts(path, path_info(path))
    facts.missing_dir, facts.blocked_dir = parent_problems(path)
    facts.user = current_user()
    facts.service, facts.service_port, pattern = service_of(path)
    try:
        listeners, facts.matched_by = listening_unix_sockets()
    except OSError as exc:
        facts.visibility["unix-listeners"] = f"listening Unix sockets could not be read: {exc}"
        return facts
    base = path.rsplit("/", 1)[-1]
    # Without the file (missing, or behind a folder we may not enter) only the path can match.
    facts.listeners = [l for l in listeners if _bound_to(l, path, facts.file)] if facts.file.exists else [
        l for l in listeners if os.path.normpath(l.path) == os.path.normpath(path)]
    if not facts.file.exists and facts.blocked_dir is None:
        # The kernel still names a listener by a path whose file was deleted (rm, tmp cleaners):
        # it lives on, unreachable by path.
        facts.unlinked = [l for l in facts.listeners if l.vfs_inode is not None]
        facts.listeners = [l for l in facts.listeners if l.vfs_inode is None]
    bound = {id(l) for l in facts.listeners}
    facts.elsewhere = [l for l in listeners if id(l) not in bound and l.path != path and (
        l.path.rsplit("/", 1)[-1] == base or (pattern is not None and pattern.match(l.path.rsplit("/", 1)[-1])))][:10]
    _fill_owners(facts.listeners + facts.elsewhere + facts.unlinked, facts.visibility)
    return facts
