"""Carrying out the actions checks offer (:class:`portdoctor.model.Action`).

A check attaches an action to its finding (today only ``stop-process``: the port-owner
check offers to stop the program that holds the port ``--expect`` names another owner
for). The wizard lists them with :func:`offered`, asks, and calls :func:`stop_process`.
``--report`` only lists them in JSON; it never acts.
"""

from __future__ import annotations

import os
import signal
import time

from portdoctor.model import STOP_PROCESS, Action, Report, Status


def offered(report: Report, kind: str = STOP_PROCESS) -> list[Action]:
    """The actions of ``kind`` that the report's failing or warning findings offer, once per pid.

    Never this process itself, whatever a (third-party) check put there, and never PID 1
    of any PID namespace (a container's init, systemd): stopping it stops the container
    or the machine's service manager; the unit or container is what to stop.
    """
    actions: dict[int, Action] = {}
    for finding in report.findings:
        if finding.status not in (Status.FAIL, Status.WARN):
            continue
        for action in finding.actions:
            if action.kind == kind and action.pid != os.getpid() and not is_namespace_init(action.pid):
                actions.setdefault(action.pid, action)
    return list(actions.values())


COMM_LENGTH = 15  # the kernel keeps the first 15 bytes of a process name (TASK_COMM_LEN - 1)
NAMESPACE_INIT = ("Did nothing: pid {pid} ({process}) is PID 1 of its PID namespace (a container's init or "
                  "a service manager); stop the container (docker stop) or the systemd unit instead.")


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started (field 22 of /proc/PID/stat, clock ticks since boot); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
        return int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def is_namespace_init(pid: int) -> bool:
    """Is ``pid`` PID 1 in its own (innermost) PID namespace, or the machine's init?"""
    if pid == 1:
        return True
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return line.split()[-1] == "1"
    except OSError:
        pass
    return False


def _comm(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().rstrip("\n")
    except OSError:
        return None


def _same_name(seen: str, now: str) -> bool:
    """Names compared as the kernel keeps them: the first 15 bytes (a longer name is cut)."""
    from portdoctor.sanitize import clean_text

    def cut(name: str) -> bytes:
        return name.encode("utf-8", "replace")[:COMM_LENGTH]

    return cut(seen) == cut(now) or cut(seen) == cut(clean_text(now))


def _holds_socket(pid: int, inode: int) -> bool | None:
    """Does ``pid`` still hold socket ``inode``? None when its fds cannot be read."""
    wanted = f"socket:[{inode}]"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                return True
        except OSError:
            continue
    return False


def pidfd_supported() -> bool:
    """Can this system name a process by a pidfd (Linux 5.3+) and signal through it?"""
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


def how_it_stops(action: Action) -> str:
    """What :func:`stop_process` will do, in words, as the confirmation says it."""
    checks = "checks it is still the process diagnosed (start time, name, the socket)"
    if pidfd_supported():
        return (f"This opens pid {action.pid} as a pidfd, {checks}, then sends {action.signal} through the "
                "pidfd (pidfd_send_signal); no shell.")
    return f"This {checks}, then calls os.kill({action.pid}, signal.{action.signal}); no shell."


def not_offered(report: Report, kind: str = STOP_PROCESS) -> str | None:
    """Why the report's failing findings offer no action of ``kind`` although one was attached
    (PID 1 of a PID namespace: what to stop instead), or None."""
    for finding in report.findings:
        if finding.status in (Status.FAIL, Status.WARN):
            for action in finding.actions:
                if action.kind == kind and action.pid != os.getpid() and is_namespace_init(action.pid):
                    return NAMESPACE_INIT.format(pid=action.pid, process=action.process).removeprefix("Did nothing: ")
    return None


def stop_process(action: Action, wait: float = 3.0) -> str:
    """Carry out a ``stop-process`` action; return what happened, in words.

    At confirmation the process is opened as a pidfd (``os.pidfd_open``: from then on the
    descriptor names that process, never a later one with the same pid), then checked
    against what the diagnosis recorded: its start time, its name (first 15 bytes, as
    the kernel keeps it), and that it still holds the socket's inode. The signal goes
    through the pidfd (``signal.pidfd_send_signal``). PID 1 of any namespace is refused.
    """
    try:
        signum = signal.Signals[action.signal]
    except KeyError:
        return f"Did nothing: {action.signal!r} is not a signal."
    if action.pid <= 0:
        return f"Did nothing: {action.pid} is not a process id."
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(action.pid)
        except ProcessLookupError:
            return f"pid {action.pid} ({action.process}) has already exited."
        except OSError:
            pidfd = None  # an old kernel: fall back to the checks and os.kill
    try:
        refusal = _recheck(action)
        if refusal:
            return refusal
        try:
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signum)
            else:
                os.kill(action.pid, signum)
        except ProcessLookupError:
            return f"pid {action.pid} ({action.process}) has already exited."
        except PermissionError:
            return f"Not allowed to signal pid {action.pid} ({action.process}); run as its user or root."
        if _wait_for_exit(action.pid, pidfd, wait):
            return f"Sent {action.signal} to pid {action.pid} ({action.process}); it exited."
        return f"Sent {action.signal} to pid {action.pid} ({action.process}); it is still running after {wait:g} s."
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _recheck(action: Action) -> str | None:
    """Why the process is no longer the one diagnosed (or may not be stopped), or None."""
    changed = f"Did nothing: pid {action.pid} is not the process the diagnosis saw"
    if is_namespace_init(action.pid):
        return NAMESPACE_INIT.format(pid=action.pid, process=action.process)
    started = process_start_time(action.pid)
    if started is None and not os.path.exists(f"/proc/{action.pid}") and os.path.isdir("/proc/self"):
        return f"pid {action.pid} ({action.process}) has already exited."
    if action.start_time is not None and started is not None and started != action.start_time:
        return f"{changed} (it started at a different time: the pid was reused)."
    name = _comm(action.pid)
    if action.process != "?" and name is not None and not _same_name(action.process, name):
        return f"{changed}: it is now {name!r}, not {action.process!r}."
    if action.inode and _holds_socket(action.pid, action.inode) is False:
        return f"{changed}: it no longer holds the socket (inode {action.inode})."
    return None


def _wait_for_exit(pid: int, pidfd: int | None, wait: float) -> bool:
    if pidfd is not None:
        import select

        poller = select.poll()
        poller.register(pidfd, select.POLLIN)  # readable once the process has exited
        return bool(poller.poll(wait * 1000))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        time.sleep(0.05)
    return False
