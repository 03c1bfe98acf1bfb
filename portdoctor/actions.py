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

    Never this process itself, whatever a (third-party) check put there.
    """
    actions: dict[int, Action] = {}
    for finding in report.findings:
        if finding.status not in (Status.FAIL, Status.WARN):
            continue
        for action in finding.actions:
            if action.kind == kind and action.pid != os.getpid():
                actions.setdefault(action.pid, action)
    return list(actions.values())


def stop_process(action: Action, wait: float = 3.0) -> str:
    """Carry out a ``stop-process`` action with ``os.kill`` (no shell); return what happened, in words.

    The pid is checked to still be the same program first, so a reused pid is never hit.
    """
    import psutil  # deferred: only the fix action needs it (~11 ms measured)

    try:
        signum = signal.Signals[action.signal]
    except KeyError:
        return f"Did nothing: {action.signal!r} is not a signal."
    try:
        proc = psutil.Process(action.pid)
        name = proc.name()
    except psutil.NoSuchProcess:
        return f"pid {action.pid} ({action.process}) has already exited."
    except psutil.Error as exc:
        return f"Could not inspect pid {action.pid}: {exc}"
    if action.process != "?" and name != action.process:
        return (f"Did nothing: pid {action.pid} is now {name!r}, not {action.process!r} "
                "(the process changed since the diagnosis).")
    try:
        os.kill(action.pid, signum)
    except ProcessLookupError:
        return f"pid {action.pid} ({action.process}) has already exited."
    except PermissionError:
        return f"Not allowed to signal pid {action.pid} ({action.process}); run as its user or root."
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return f"Sent {action.signal} to pid {action.pid} ({action.process}); it exited."
        except psutil.NoSuchProcess:
            return f"Sent {action.signal} to pid {action.pid} ({action.process}); it exited."
        time.sleep(0.05)
    return f"Sent {action.signal} to pid {action.pid} ({action.process}); it is still running after {wait:g} s."
