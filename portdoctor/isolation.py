"""Third-party checks in a child process: a plugin cannot end, hang or flood the run.

portdoctor never executes a third-party check (an entry point of another distribution, a
drop-in file) in its own process on Linux and macOS. :func:`describe` forks a child per
plugin source that imports it and sends back what the pipeline needs to know (name,
title, order, timeout, ...); :func:`run_isolated` forks a child per check and target that imports
the plugin again, calls ``applies(ctx)`` and ``run(ctx)``, and sends the findings back.
Whatever the plugin does (``os._exit(0)``, ``SIGKILL`` to itself, ``sys.exit``, an
endless loop, 50 MB of evidence, printing, forking a grandchild that keeps the pipe
open), the run gets either the findings or one line saying what happened, within:

- importing a plugin: :data:`IMPORT_SECONDS` for all plugin sources together;
- per check and target: :data:`IMPORT_SECONDS` to import again, 2 s
  (``pipeline.APPLIES_SECONDS``) for ``applies()``, then the check's ``timeout`` (capped to 30 s) for ``run()``.

Why a fork per check, not one plugin-host process or a fresh interpreter: a check reads
the whole :class:`~portdoctor.api.Context` (the snapshot, its lazy facts and their
gatherers); a forked child has it as it is, while a host process would need all of it
serialised, lazy facts included, and a fresh interpreter costs ~20 ms of startup plus
the imports before its first check. A fork costs about a millisecond (see
``benchmarks/bench_plugins.py``). The diagnosis has threads running by then (probes,
fact gatherers, the wizard's UI): the child keeps only the thread that forked, so a lock
another thread held at that moment stays held in the child. The child therefore runs
nothing but the plugin (no UI, no output of ours), exits with ``os._exit`` (no atexit
handler, no flush of inherited buffers), and if it deadlocks on such a lock it is killed
at its deadline like any hung check. Lazy facts a plugin reads are gathered in the child,
inside its deadline (and not kept for the other checks).

The child runs in its own process group with stdin, stdout and stderr on ``/dev/null``
(a plugin's prints never reach the report on stdout, or the terminal); when the parent
has the result, or gives up, the whole group is killed with ``SIGKILL``. A grandchild
that leaves the group (``setsid``) survives, but the parent never waits for the pipe's
end-of-file, so it cannot hold the run. What comes back through the pipe is hostile data:
length-capped (:data:`MAX_RESULT_BYTES`), parsed as JSON, type-checked field by field,
and cleaned like any plugin finding.

This is isolation against accidents and bugs, not a sandbox: the child has portdoctor's
privileges and open files. Where ``os.fork`` does not exist (Windows), and when
``PORTDOCTOR_PLUGINS_IN_PROCESS=1`` is set (to debug a plugin with ``print`` or
``pdb``), third-party checks run in portdoctor's process as built-ins do: ``sys.exit``,
``KeyboardInterrupt`` and other ``BaseException`` are caught and every call is bounded
by the clock, but ``os._exit`` or a signal ends the run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable

from portdoctor.api import Check
from portdoctor.records import fields as dataclass_fields

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

IMPORT_SECONDS = 5.0  # as plugins.IMPORT_TIMEOUT; applies() has pipeline.APPLIES_SECONDS
MAX_RESULT_BYTES = 1024 * 1024  # one message from a child; a finding is a few KB
_POLL_SECONDS = 0.05  # how often a silent child is checked for having exited

# Python 3.12+ warns on every fork of a process with threads; the child is built for it
# (see above), and the warning would land on stderr of every run with a plugin.
warnings.filterwarnings("ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning)


def available() -> bool:
    """Whether third-party checks run in child processes here."""
    return hasattr(os, "fork") and not os.environ.get("PORTDOCTOR_PLUGINS_IN_PROCESS")


class ChildFailed(Exception):
    """The child gave no (complete) answer: it ended, was killed, or ran out of time."""


class Child:
    """A forked child running ``body(send)``; the parent reads what it ``send``s.

    ``send(message)`` writes one JSON message, length-prefixed. Anything ``body`` raises,
    ``BaseException`` included, becomes a final ``{"error": ...}`` message.
    """

    def __init__(self, body: Callable[[Callable[[dict[str, Any]], None]], None]):
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child_main(body, write_fd)
        os.close(write_fd)
        self.pid = pid
        self._fd = read_fd
        self._buffer = b""
        self._eof = False
        self._status: int | None = None  # exit code, or minus the signal that ended it
        self._reaped = False
        try:
            os.setpgid(pid, pid)  # also done in the child: whichever runs first
        except OSError:
            pass

    def receive(self, seconds: float, what: str, bound: float | None = None) -> dict[str, Any]:
        """The next message, within ``seconds``; raises :class:`ChildFailed` saying why not
        (``bound``: the limit to name in that message, when not ``seconds``)."""
        deadline = time.monotonic() + seconds
        while True:
            message = self._take_message()
            if message is not None:
                return message
            if self._eof or self._exited():
                self._drain()
                self._settle(min(1.0, deadline - time.monotonic()))
                message = self._take_message()
                if message is not None:
                    return message
                raise ChildFailed(f"{what} {self._how_it_ended()} before returning a result")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"{what} did not finish within {bound or seconds:g} s; its process was killed")
            if _readable(self._fd, min(left, _POLL_SECONDS)):
                self._read_some()

    def close(self) -> None:
        """Kill the child's process group (the child included) and reap the child."""
        # Before reaping: an unreaped child keeps its pid and group id ours. (Where the
        # child had to be reaped to learn it ended, its group id stays taken while any
        # grandchild is in it.)
        kills = [lambda: os.killpg(self.pid, signal.SIGKILL)]
        if not self._reaped:
            kills.append(lambda: os.kill(self.pid, signal.SIGKILL))
        for kill in kills:
            try:
                kill()
            except OSError:
                pass
        if not self._reaped:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        try:
            os.close(self._fd)
        except OSError:
            pass

    # --- reading -------------------------------------------------------------------

    def _read_some(self) -> None:
        try:
            chunk = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_RESULT_BYTES + 32:
            raise ChildFailed(f"the check sent more than {MAX_RESULT_BYTES // 1024} KiB")

    def _drain(self) -> None:
        """What the child wrote before it ended (a grandchild may hold the pipe open)."""
        while not self._eof and _readable(self._fd, 0):
            self._read_some()

    def _take_message(self) -> dict[str, Any] | None:
        header, newline, rest = self._buffer.partition(b"\n")
        if not newline:
            if len(header) > 12:
                raise ChildFailed("the check's process wrote something that is not a result")
            return None
        if not header.isdigit() or len(header) > 12:
            raise ChildFailed("the check's process wrote something that is not a result")
        size = int(header)
        if size > MAX_RESULT_BYTES:
            raise ChildFailed(f"the check's result is larger than {MAX_RESULT_BYTES // 1024} KiB")
        if len(rest) < size:
            return None
        payload, self._buffer = rest[:size], rest[size:]
        try:
            message = json.loads(payload)
        except (ValueError, RecursionError):
            raise ChildFailed("the check's process wrote something that is not a result") from None
        if not isinstance(message, dict):
            raise ChildFailed("the check's process wrote something that is not a result")
        return message

    # --- how it ended ----------------------------------------------------------------

    def _exited(self) -> bool:
        """Whether the child ended, without reaping it (its group id stays ours to kill)."""
        if self._status is not None:
            return True
        if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap it (its group may go with it)
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return False
            self._reaped = True
            self._status = os.waitstatus_to_exitcode(status)
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        if info is None:
            return False
        self._status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        return True

    def _settle(self, seconds: float) -> None:
        """After end-of-file: the kernel closes a dying process's files just before its
        exit status can be read; wait a moment for it, to say how the child ended."""
        deadline = time.monotonic() + seconds
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.005)

    def _how_it_ended(self) -> str:
        self._exited()
        if self._status is None:
            return "closed its result pipe"
        if self._status >= 0:
            return f"ended its process with exit code {self._status}"
        try:
            name = signal.Signals(-self._status).name
        except ValueError:
            name = f"signal {-self._status}"
        return f"was killed by {name}"


def _readable(fd: int, seconds: float) -> bool:
    import select

    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(max(0, int(seconds * 1000))))
    return bool(select.select([fd], [], [], seconds)[0])


def _child_main(body: Callable[[Callable[[dict[str, Any]], None]], None], write_fd: int) -> None:
    """The child's whole life: own process group, no stdio, run ``body``, ``os._exit``."""
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        # New file objects: the inherited ones may hold the parent's unwritten output.
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the child
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    except BaseException:  # noqa: BLE001 - a child that cannot be set up ends, quietly
        os._exit(70)
    try:  # Ctrl-C and termination are the parent's business (the child has its own group anyway)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
    except (OSError, ValueError):
        pass

    def send(message: dict[str, Any]) -> None:
        data = json.dumps(message, default=_json_default).encode("utf-8", "surrogatepass")
        if len(data) > MAX_RESULT_BYTES:
            data = json.dumps({"error": f"the check's result is larger than {MAX_RESULT_BYTES // 1024} KiB"
                               f" ({len(data) // 1024} KiB)"}).encode()
        view = memoryview(b"%d\n" % len(data) + data)
        while view:
            view = view[os.write(write_fd, view):]

    try:
        body(send)
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included: reported
        try:
            send({"error": _one_line(exc)})
        except BaseException:  # noqa: BLE001
            pass
    os._exit(0)


def _json_default(value: Any) -> Any:
    from portdoctor.sanitize import clean_mapping

    return clean_mapping(value)


def _one_line(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}".strip()
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = type(exc).__name__
    return (text.splitlines() or [type(exc).__name__])[0][:500]


# --- describing plugins -----------------------------------------------------------


def describe(sources: list[tuple[str, Callable[[], list[Any]]]]) -> list[list[dict[str, Any]] | str]:
    """For each ``(label, loader)``: the descriptions of the checks ``loader()`` returns
    (imported in a child), or one line saying why there are none.

    All sources are imported at once, in one child each, within :data:`IMPORT_SECONDS`.
    """
    children: list[Child | str] = []
    for _label, loader in sources:
        try:
            children.append(Child(_describing(loader)))
        except OSError as exc:
            children.append(f"cannot start a process for it: {exc.strerror or exc}")
    deadline = time.monotonic() + IMPORT_SECONDS
    results: list[list[dict[str, Any]] | str] = []
    for child in children:
        if isinstance(child, str):
            results.append(child)
            continue
        try:
            message = child.receive(max(0.0, deadline - time.monotonic()), "importing it", IMPORT_SECONDS)
            results.append(_validated_descriptions(message))
        except ChildFailed as exc:
            results.append(_clean_line(str(exc)))
        finally:
            child.close()
    return results


def _describing(load: Callable[[], list[Any]]) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    def body(send: Callable[[dict[str, Any]], None]) -> None:
        send({"checks": [_metadata(c) for c in load()]})

    return body


def _metadata(check: Any) -> dict[str, Any]:
    return {attr: getattr(check, attr, None) for attr in
            ("name", "title", "order", "after", "before", "protocols", "timeout", "needs_addresses")}


def _validated_descriptions(message: dict[str, Any]) -> list[dict[str, Any]] | str:
    if "error" in message:
        return _clean_line(message["error"])
    described = message.get("checks")
    if not isinstance(described, list) or not described:
        return "sent no description of its checks"
    out = []
    for item in described:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            return "sent a check description without a name"
        out.append({
            "name": _clean_line(item["name"], 100),
            "title": _clean_line(item.get("title") if isinstance(item.get("title"), str) else "", 300),
            "order": item["order"] if type(item.get("order")) is int else 500,
            "after": _names(item.get("after")),
            "before": _names(item.get("before")),
            "protocols": _names(item.get("protocols"), default=("tcp", "udp")),
            "timeout": item["timeout"] if type(item.get("timeout")) in (int, float) else 5.0,
            "needs_addresses": item.get("needs_addresses") is not False,
        })
    return out


def _names(value: Any, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return default
    return tuple(_clean_line(v, 100) for v in value[:100] if isinstance(v, str))


def _clean_line(text: Any, limit: int = 500) -> str:
    from portdoctor.sanitize import clean_text

    line = (str(text).splitlines() or [""])[0]
    return str(clean_text(line, limit=limit))


# --- running a check ------------------------------------------------------------------


class Outcome:
    """What an isolated check did for one target: not applicable, findings, or an error."""

    def __init__(self, applies: bool, findings: list[Any] | None = None, error: str | None = None,
                 stage: str = "run"):
        self.applies = applies
        self.findings = findings or []
        self.error = error
        self.stage = stage  # "applies" or "run": where the error happened


def run_isolated(check: Any, ctx: Any, *, run_it: bool, on_started: Callable[[], object]) -> Outcome:
    """Run an isolated check (an :class:`IsolatedCheck`) for ``ctx`` in a child.

    ``on_started`` is called once ``applies()`` said yes; ``run_it`` False stops there
    (the pipeline skips the check itself, e.g. for a name that did not resolve).
    """
    from portdoctor.bounded import capped_timeout
    from portdoctor.pipeline import APPLIES_SECONDS

    def body(send: Callable[[dict[str, Any]], None]) -> None:
        found = [c for c in check.load() if getattr(c, "name", None) == check.name]
        if not found:
            raise LookupError(f"check {check.name!r} is no longer defined by {check.source}")
        instance = found[0]
        send({"ready": True})
        try:
            yes = bool(instance.applies(ctx))
        except BaseException as exc:  # noqa: BLE001
            send({"error": _one_line(exc), "stage": "applies"})
            return
        send({"applies": yes})
        if not yes or not run_it:
            return
        from portdoctor.pipeline import _materialise

        send({"findings": [finding_to_json(f) for f in _materialise(instance.run(ctx))]})

    try:
        child = Child(body)
    except OSError as exc:
        return Outcome(True, error=f"cannot start a process for the check: {exc.strerror or exc}", stage="applies")
    stage = "applies"
    try:
        message = child.receive(IMPORT_SECONDS, "importing the check")
        if "error" in message:
            return Outcome(True, error=f"importing the check failed: {_clean_line(message['error'])}", stage="applies")
        message = child.receive(min(capped_timeout(check.timeout), APPLIES_SECONDS), "applies()")
        if "error" in message:
            return Outcome(True, error=f"applies() raised {_clean_line(message['error'])}", stage="applies")
        if message.get("applies") is not True:
            return Outcome(False)
        on_started()
        if not run_it:
            return Outcome(True)
        stage = "run"
        seconds = capped_timeout(check.timeout)
        message = child.receive(seconds, f"check {check.name}")
        if "error" in message:
            return Outcome(True, error=f"The check crashed ({check.source}): {_clean_line(message['error'])}")
        return Outcome(True, findings=_findings_from_json(message.get("findings"), check.name))
    except ChildFailed as exc:
        return Outcome(True, error=_clean_line(str(exc)), stage=stage)
    except ValueError as exc:
        return Outcome(True, error=f"The check crashed ({check.source}): {_clean_line(exc)}")
    finally:
        child.close()


def finding_to_json(finding: Any) -> dict[str, Any]:
    """A finding as plain JSON data (in the child): anything else is an error there."""
    from portdoctor.model import Finding
    from portdoctor.sanitize import clean_mapping

    if not isinstance(finding, Finding):
        raise TypeError(f"run() returned {type(finding).__name__}, not Finding")
    return {
        "check": finding.check, "status": str(finding.status), "title": str(finding.title), "cause": finding.cause,
        "detail": str(finding.detail or ""),
        "remediation": [{"text": str(r.text), "command": None if r.command is None else str(r.command)}
                        for r in finding.remediation],
        "evidence": clean_mapping(finding.evidence if isinstance(finding.evidence, dict) else {}),
        "actions": [a.to_dict() for a in finding.actions],
    }


def _findings_from_json(items: Any, name: str) -> list[Any]:
    """Findings rebuilt from a child's JSON, every field type-checked (raises ValueError)."""
    from portdoctor.model import Action, Finding, Remediation, Status

    if not isinstance(items, list):
        raise ValueError("the check's process sent no findings")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("the check's process sent a finding that is not an object")
        try:
            status = Status(item.get("status"))
        except ValueError:
            raise ValueError(f"unknown status {str(item.get('status'))[:40]!r}") from None
        cause = item.get("cause")
        evidence = item.get("evidence")
        remediation = [Remediation(_text(r.get("text")), None if r.get("command") is None else _text(r["command"]))
                       for r in _list(item.get("remediation")) if isinstance(r, dict)]
        actions = []
        allowed = {f.name: f for f in dataclass_fields(Action)}
        for a in _list(item.get("actions")):
            if not isinstance(a, dict) or not isinstance(a.get("pid"), int):
                raise ValueError("an action without a pid")
            values: dict[str, Any] = {k: (_clean_line(v, 300) if isinstance(v, str) else v)
                                      for k, v in a.items() if k in allowed}
            try:
                actions.append(Action(**values))
            except TypeError as exc:
                raise ValueError(f"an action that is not one: {exc}") from None
        out.append(Finding(
            name, status, _text(item.get("title")), cause if isinstance(cause, str) or cause is None else str(cause),
            _text(item.get("detail")), remediation,
            evidence if isinstance(evidence, dict) else {}, actions=actions))
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


# --- the check object the parent holds ---------------------------------------------


class IsolatedCheck(Check):
    """Stands for a third-party check in the parent: its description, and how to load it
    in a child (``load()`` returns the plugin's check instances). Never runs plugin code
    itself. Built by :func:`portdoctor.plugins.discover`; a :class:`~portdoctor.api.Check`
    in every attribute the pipeline and ``portdoctor checks`` read."""

    def __init__(self, description: dict[str, Any], load: Callable[[], list[Any]], source: str):
        self.name: str = description["name"]
        self.title: str = description["title"]
        self.order: int = description["order"]
        self.after: tuple[str, ...] = description["after"]
        self.before: tuple[str, ...] = description["before"]
        self.protocols: tuple[str, ...] = description["protocols"]
        self.timeout: float = description["timeout"]
        self.needs_addresses: bool = description["needs_addresses"]
        self.load = load
        self.source = source

    def applies(self, ctx: Any) -> bool:
        raise RuntimeError("an isolated check runs in a child process (portdoctor.isolation.run_isolated)")

    def run(self, ctx: Any) -> Any:
        raise RuntimeError("an isolated check runs in a child process (portdoctor.isolation.run_isolated)")

    def __repr__(self) -> str:
        return f"IsolatedCheck({self.name!r} from {self.source})"
