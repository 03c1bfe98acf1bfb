"""Does anything listen on this Unix socket, and may this user connect? (``unix://`` targets)

One check for a Unix stream socket path, reading the connect attempt (``ctx.probes``)
and :class:`~portdoctor.facts.unixsock.UnixFacts`:

- connected: ``pass``, naming the listener's process where visible;
- no file: ``not-listening`` (the service is not running, or puts its socket
  elsewhere), unless the same service listens at another path or on TCP
  (``wrong-interface``: listening, but not where the client connects);
- a socket file nobody listens on (``ECONNREFUSED``): a stale file left by a process
  that died: ``not-listening``;
- not a socket (a regular file, a folder): ``not-listening``;
- ``EACCES``: ``permission-denied``, saying which bit is missing (the socket's mode,
  its group, a parent folder) and the exact fix (``usermod -aG GROUP USER`` and a new
  login, or ``newgrp`` when ``/etc/group`` already lists the user);
- the accept queue full (``EAGAIN``): ``backlog-full``.
"""

from __future__ import annotations

import errno

from portdoctor.api import Check, Context, Finding, Outcome, fix, owner_label, unix_socket

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.api import UnixFacts


def _mode(facts: UnixFacts) -> str:
    f = facts.file
    return f"{f.owner}:{f.group} mode {f.mode:04o}" if f.mode is not None else "owner unknown"


class UnixSocketCheck(Check):
    name = "unix-socket"
    title = "Does anything listen on the Unix socket, and may this user connect?"
    order = 100
    protocols = ("unix",)
    needs_addresses = False

    def applies(self, ctx: Context) -> bool:
        return ctx.target.protocol == "unix"

    def run(self, ctx: Context) -> Finding:
        path = ctx.target.path or ""
        facts = ctx.fact(unix_socket(path))
        if facts is None:
            return self.skip("The socket path could not be inspected.")
        probe = ctx.probes[0] if ctx.probes else None
        if probe is None:
            return self.skip("No connection attempt was made.")
        evidence = {"path": path, "file": facts.file.kind, "mode": _mode(facts),
                    "listeners": [f"{l.path}: {owner_label(l)}" for l in facts.listeners]}
        if probe.outcome is Outcome.OPEN:
            who = "; ".join(owner_label(l) for l in facts.listeners) or "the owner is not visible from here"
            return self.passed(f"{path} accepted a connection; listening: {who}.", evidence=evidence)
        if probe.outcome is Outcome.TIMEOUT:
            return self.fail("backlog-full", f"{path} exists and something listens, but it does not accept: "
                             "its accept queue is full.",
                             f"The connect attempt got {probe.error}. Queue: "
                             + ", ".join(f"{l.backlog}/{l.backlog_limit}" for l in facts.listeners),
                             [fix("The service is stuck or overloaded: look at what it is doing, then restart it.",
                                  f"ss -xlp src {path}")], evidence=evidence)
        code = probe.errno
        if code in (errno.EACCES, errno.EPERM):
            return self._permission(facts, path, evidence)
        if code == errno.ENOENT or (code == errno.ENOTDIR) or not facts.file.exists:
            return self._missing(ctx, facts, path, evidence)
        if code == errno.ECONNREFUSED:
            if facts.file.kind != "socket":
                return self.fail("not-listening", f"{path} is a {facts.file.kind}, not a socket: nothing can "
                                 "listen on it.",
                                 "A connect to a path that is not a socket is refused. Something created a file "
                                 "where the service expects to create its socket.",
                                 [fix("Check what the file is, move it away, then start the service.",
                                      f"ls -l {path}")], evidence=evidence)
            return self._stale(ctx, facts, path, evidence)
        return self.fail("unknown", f"Connecting to {path} failed: {probe.error}.", "",
                         [fix("Look at the socket file.", f"ls -l {path}")], evidence=evidence)

    # --- the cases ------------------------------------------------------------------------

    def _permission(self, facts: UnixFacts, path: str, evidence: dict) -> Finding:
        from portdoctor.api import may_connect

        user = facts.user
        who = (user.name or f"uid {user.uid}") if user else "this user"
        listening = ("; something listens on it: " + "; ".join(owner_label(l) for l in facts.listeners)
                     if facts.listeners else "")
        if facts.blocked_dir:
            return self.fail("permission-denied", f"{who} may not enter {facts.blocked_dir}, so {path} cannot be "
                             "reached.",
                             f"Connecting to a Unix socket needs search (x) permission on every folder above it"
                             f"{listening}.",
                             [fix("Look at the folder's owner and mode; run the client as a user allowed in, or "
                                  "widen the folder's mode if that is intended.", f"ls -ld {facts.blocked_dir}"),
                              fix("Or run the client with sudo.")], evidence=evidence)
        f = facts.file
        steps = []
        detail = (f"Connecting to a Unix socket needs write permission on the socket file; {path} is {_mode(facts)}"
                  f" and {who} (uid {user.uid if user else '?'}) is not allowed to write it{listening}.")
        if user and f.gid is not None and f.mode is not None and f.mode & 0o020 and f.gid not in user.gids:
            group = f.group or str(f.gid)
            if f.gid in user.listed_in:
                title = (f"{who} is in group {group} in /etc/group, but this session started before that: "
                         f"{path} needs group {group}.")
                steps = [fix(f"Log out and in again (or start a shell with the group) so the session has "
                             f"group {group}.", f"newgrp {group}")]
            elif f.gid == 0:
                # Joining group root (gid 0) hands out far more than this socket: never advise it.
                title = f"{who} is not in group {group}, which {path} needs ({_mode(facts)})."
                steps = [fix("Configure the service to create its socket with a group meant for its clients "
                             "(not root's group), then add the user to that group.", f"ls -l {path}")]
            else:
                title = f"{who} is not in group {group}, which {path} needs ({_mode(facts)})."
                steps = [fix(f"Add {who} to group {group}, then log out and in again (group membership is read "
                             "at login).", f"sudo usermod -aG {group} {user.name or '$USER'}")]
                if group == "docker":
                    steps.append(fix("Membership of the docker group is root-equivalent on this machine; "
                                     "rootless Docker is the alternative.", "dockerd-rootless-setuptool.sh install"))
            steps.append(fix("Or run the client with sudo for now."))
        else:
            title = f"{who} may not connect to {path} ({_mode(facts)})."
            steps = [fix("Run the client as the socket's owner (or with sudo), or configure the service to "
                         "create its socket with a group you are in.", f"ls -l {path}")]
        if may_connect(f, user) if user else False:
            detail += " (The mode bits would allow it: an ACL, SELinux/AppArmor or a seccomp rule denies it.)"
        return self.fail("permission-denied", title, detail, steps, evidence=evidence)

    def _alternatives(self, ctx: Context, facts: UnixFacts, path: str, evidence: dict, what: str) -> Finding | None:
        """The same service at another path, or on TCP: wrong-interface, with how to reach it."""
        if facts.elsewhere:
            other = facts.elsewhere[0]
            folder = other.path.rsplit("/", 1)[0] or "/"
            steps = [fix(f"Point the client at {other.path}.")]
            if facts.service and facts.service.name == "PostgreSQL":
                steps = [fix(f"PostgreSQL puts its socket in {folder}: give that folder as the host.",
                             f"psql -h {folder}"),
                         fix("Or make the server create it where the client looks: unix_socket_directories in "
                             "postgresql.conf, then restart.")]
            else:
                steps.append(fix("Or configure the service to create its socket at the path the client uses."))
            return self.fail("wrong-interface", f"{what}; {other.path} is listening, held by {owner_label(other)}: "
                             "the service uses another path.", "", steps, evidence={"elsewhere": [l.path for l in facts.elsewhere], **evidence})
        port = facts.service_port
        tcp = [s for s in ctx.facts.sockets if s.listening and s.protocol == "tcp" and s.port == port
               and s.namespace is None] if port else []
        if port and tcp:
            s = tcp[0]
            address = s.address if not s.wildcard else ("127.0.0.1" if s.family == 4 else "::1")
            name = facts.service.name if facts.service else "The service"
            steps = [fix(f"Connect over TCP instead: host {address}, port {port}.",
                         _tcp_command(facts, address, port))]
            if facts.service and facts.service.name == "PostgreSQL":
                steps.append(fix("Or make the server create the socket where the client looks: "
                                 "unix_socket_directories in postgresql.conf, then restart."))
            elif facts.service and facts.service.name.startswith("MySQL"):
                steps.append(fix("Or set socket = " + path + " under [mysqld] in my.cnf, then restart."))
            return self.fail("wrong-interface", f"{what}; {name} listens on TCP port {port} "
                             f"instead, on {s.address}: {owner_label(s)}.",
                             "The service is running but reachable over TCP only, not through this socket path.",
                             steps, evidence={"tcp": [f"{s.address}:{s.port}" for s in tcp], **evidence})
        return None

    def _missing(self, ctx: Context, facts: UnixFacts, path: str, evidence: dict) -> Finding:
        if facts.missing_dir:
            what = f"{path} does not exist (not even the folder {facts.missing_dir})"
        else:
            what = f"{path} does not exist"
        alternative = self._alternatives(ctx, facts, path, evidence, what)
        if alternative:
            return alternative
        if facts.unlinked:
            l = facts.unlinked[0]
            return self.fail("not-listening", f"{path} was deleted while {owner_label(l)} still listens on it.",
                             "The kernel keeps the listener, but no new connection can find it by path "
                             "(a cleanup of /tmp or /run, or a second instance that removed the file on exit).",
                             [fix("Restart the service so that it creates the socket again.",
                                  _restart_command(facts))], evidence=evidence)
        steps = [fix("Start the service (it creates the socket when it starts).", _restart_command(facts)),
                 fix("If it is running, find where it puts its socket.", "ss -xlp")]
        return self.fail("not-listening", f"{what}: nothing listens there.",
                         "The service is not running, or it creates its socket at another path.", steps,
                         evidence=evidence)

    def _stale(self, ctx: Context, facts: UnixFacts, path: str, evidence: dict) -> Finding:
        what = f"{path} is a socket file but nothing listens on it"
        alternative = self._alternatives(ctx, facts, path, evidence, what)
        if alternative:
            return alternative
        return self.fail("not-listening", f"{path} is a stale socket file: nothing listens on it (left behind by "
                         "a process that stopped).",
                         "A connect to a socket file whose listener is gone is refused (ECONNREFUSED). "
                         "The service is not running; some services also refuse to start while the old file is "
                         "there.",
                         [fix("Start (or restart) the service.", _restart_command(facts)),
                          fix("If it will not start because the file exists, remove the stale file first.",
                              f"sudo rm {path}")], evidence=evidence)


def _restart_command(facts: UnixFacts) -> str | None:
    service = facts.service
    if service and service.units:
        return f"sudo systemctl restart {service.units[0]}"
    return None


def _tcp_command(facts: UnixFacts, address: str, port: int) -> str | None:
    name = facts.service.name if facts.service else ""
    if name == "PostgreSQL":
        return f"psql -h {address} -p {port}"
    if name.startswith("MySQL"):
        return f"mysql -h {address} -P {port} --protocol=TCP"
    if name == "Redis":
        return f"redis-cli -h {address} -p {port}"
    if name.startswith("the Docker daemon"):
        return f"DOCKER_HOST=tcp://{address}:{port} docker info"
    return None
