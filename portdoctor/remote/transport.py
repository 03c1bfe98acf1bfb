"""The OpenSSH client, bounded: connect time, run time and output size.

:func:`run_over_ssh` starts ``ssh`` with the user's own configuration, keys and agent
(plus ``-F FILE`` when ``--ssh-config`` names one: OpenSSH reads the home folder from
the passwd entry, not ``$HOME``), ``BatchMode=yes`` (never a password or host-key
prompt), ``ConnectTimeout`` and keep-alives. Host-key checking is never turned off: an
unknown or changed key fails the run and :func:`classify_failure` turns ssh's words into
a one-line reason with the step that fixes it (``ssh-keyscan``). The whole run has a
deadline; on overrun the ssh process group is killed. stdout and stderr are read by
threads with a byte cap each: a remote end that floods is cut off and killed too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from typing import IO

from portdoctor.records import dataclass
from portdoctor.remote.destination import Destination

MAX_STDOUT = 8 * 1024 * 1024
MAX_STDERR = 64 * 1024


@dataclass
class SshOptions:
    connect_timeout: float = 5.0  # seconds for TCP connect + key exchange (ssh's ConnectTimeout)
    deadline: float = 60.0  # seconds for the whole remote run
    config: str | None = None  # -F FILE
    sudo: bool = False  # --ssh-sudo: sudo -n on the remote side


@dataclass
class SshResult:
    returncode: int | None  # None: killed (deadline or flood) or never started
    stdout: bytes
    stderr: str
    elapsed: float
    error: str | None = None  # our own reason: "deadline", "too much output", "ssh not found"


def ssh_argv(dest: Destination, options: SshOptions, command: str) -> list[str]:
    ssh = shutil.which("ssh") or "/usr/bin/ssh"
    argv = [ssh, "-T", "-x", "-a"]  # no tty, no X11 or agent forwarding to the server
    if options.config:
        argv += ["-F", options.config]
    argv += [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={max(1, round(options.connect_timeout))}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=2",
        "-o", "LogLevel=ERROR",
        "-o", "RequestTTY=no",
    ]
    return argv + dest.ssh_args() + [command]


def run_over_ssh(dest: Destination, options: SshOptions, command: str, stdin: bytes = b"") -> SshResult:
    """Run ``command`` on ``dest`` with ``stdin``; never raises, never outlives ``options.deadline``."""
    argv = ssh_argv(dest, options, command)
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=env)
    except OSError as exc:
        return SshResult(None, b"", "", 0.0, error=f"cannot start ssh: {exc.strerror or exc}")

    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None  # all three are PIPEs
    out = _CappedReader(proc.stdout, MAX_STDOUT)
    err = _CappedReader(proc.stderr, MAX_STDERR)
    writer = threading.Thread(target=_feed, args=(proc.stdin, stdin), name="portdoctor-ssh-stdin", daemon=True)
    writer.start()
    reason = None
    deadline = start + options.deadline
    while True:
        try:
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        if out.overflow:
            reason = f"the remote end sent more than {MAX_STDOUT // (1024 * 1024)} MiB; cut off"
        elif time.monotonic() >= deadline:
            reason = f"no answer within {options.deadline:g} s (deadline)"
        if reason:
            _kill_group(proc)
            break
    out.join(1.0)
    err.join(1.0)
    elapsed = time.monotonic() - start
    return SshResult(None if reason else proc.returncode, out.data(), err.data().decode("utf-8", "replace"),
                     elapsed, reason)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            written = pipe.write(view[:65536])
            view = view[written or len(view[:65536]):]
        pipe.close()
    except (OSError, ValueError):  # the remote side stopped reading (reduced mode, or it died)
        try:
            pipe.close()
        except OSError:
            pass


class _CappedReader:
    """Reads a pipe in a thread, keeping at most ``cap`` bytes (then flags overflow)."""

    def __init__(self, pipe: IO[bytes], cap: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.cap = cap
        self.overflow = False
        self._thread = threading.Thread(target=self._run, args=(pipe,), name="portdoctor-ssh-read", daemon=True)
        self._thread.start()

    def _run(self, pipe: IO[bytes]) -> None:
        try:
            while True:
                chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
                if not chunk:
                    return
                if self._size < self.cap:
                    self._chunks.append(chunk[: self.cap - self._size])
                self._size += len(chunk)
                if self._size > self.cap:
                    self.overflow = True
        except (OSError, ValueError):
            return

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def data(self) -> bytes:
        return b"".join(self._chunks)


@dataclass
class Failure:
    """Why SSH did not get us a remote run, in one line, and what to do."""

    kind: str  # "host-key-unknown", "host-key-changed", "refused", "timeout", "auth", "dns", "unreachable", "ssh"
    reason: str
    step: str | None = None
    command: str | None = None


def classify_failure(dest: Destination, result: SshResult) -> Failure:
    """Turn ssh's exit and stderr into a reason (the remote end's own words are never trusted)."""
    from portdoctor.render.common import printable

    text = result.stderr
    lower = text.lower()
    host = dest.host
    keyscan = f"ssh-keyscan {'-p ' + str(dest.port) + ' ' if dest.port else ''}{host}"
    if result.error and "deadline" in result.error:
        return Failure("timeout", f"SSH to {dest.label}: {result.error}.",
                       "Check that sshd runs there and that port 22 (or the configured port) is reachable.",
                       f"ssh -v {dest.label} true")
    if result.error:
        return Failure("ssh", f"SSH to {dest.label}: {result.error}.")
    if "remote host identification has changed" in lower:
        return Failure("host-key-changed",
                       f"The host key of {host} CHANGED since it was recorded in known_hosts: portdoctor will not "
                       "connect (a reinstalled server, or someone in the middle).",
                       "Confirm the new key with the server's owner, then replace the old entry.",
                       f"ssh-keygen -R {host}")
    if "host key verification failed" in lower or "no ed25519 host key is known" in lower or \
            ("host key is known" in lower and "strict checking" in lower):
        return Failure("host-key-unknown",
                       f"The host key of {host} is not in known_hosts; portdoctor never accepts an unknown key "
                       "(BatchMode, strict checking).",
                       "Fetch the key, compare its fingerprint with the one the server's owner gives you, then "
                       "add it to ~/.ssh/known_hosts (or connect once with ssh interactively).",
                       f"{keyscan} | tee /dev/stderr | ssh-keygen -lf - && {keyscan} >> ~/.ssh/known_hosts")
    if "connection refused" in lower:
        return Failure("refused", f"SSH to {dest.label} was refused: no sshd listens there.",
                       "Start sshd on the server, or name the right port (ssh://USER@HOST:PORT).",
                       f"nc -vz -w 3 {host} {dest.port or 22}")
    if "timed out" in lower:
        return Failure("timeout", f"SSH to {dest.label} timed out while connecting (a firewall dropping port "
                       f"{dest.port or 22}, or the host is down).", None, f"ssh -v {dest.label} true")
    if "could not resolve hostname" in lower or "name or service not known" in lower:
        return Failure("dns", f"The SSH host name {host} does not resolve.", None, f"getent hosts {host}")
    if "no route to host" in lower or "network is unreachable" in lower:
        return Failure("unreachable", f"SSH to {dest.label}: no route to the host.", None, f"ip route get {host}")
    if "permission denied" in lower:
        return Failure("auth", f"SSH to {dest.label}: the server refused our keys (permission denied); "
                       "portdoctor never asks for a password (BatchMode).",
                       "Load your key into the agent or name it in your ssh config, and check the user name.",
                       f"ssh -v {dest.label} true")
    last = printable((text.strip().splitlines() or ["no message"])[-1])[:300]
    return Failure("ssh", f"SSH to {dest.label} failed (exit {result.returncode}): {last}", None,
                   f"ssh -v {dest.label} true")
