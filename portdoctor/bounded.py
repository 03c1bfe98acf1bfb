"""Bounded execution: run a function or a subprocess with a deadline.

Everything that can hang (a plugin's import or check, a resolver call, ``nft``)
goes through here, so a stuck piece becomes an error instead of a hung tool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import partial

from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


class Overrun(Exception):
    """The function did not finish within its deadline."""

    @classmethod
    def after(cls, name: str, seconds: float) -> Overrun:
        """``NAME did not finish within S s``: the one wording of an overrun."""
        return cls(f"{name} did not finish within {seconds:g} s")


def call_with_timeout(fn: Callable[[], T], timeout: float, name: str = "task") -> T:
    """Run ``fn()`` in a daemon thread; return its result or re-raise its exception.

    Raises :class:`Overrun` after ``timeout`` seconds. The thread is abandoned (a
    daemon thread does not keep the process alive), which is the only safe way to
    give up on arbitrary Python code. The threads are reused (:class:`_Worker`): a
    diagnosis makes dozens of these calls, and starting a thread for each cost more
    than most of the calls themselves.
    """
    with _IDLE_LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is None:
        worker = _Worker()
    done = threading.Event()
    box: dict[str, Any] = {}
    worker.give(fn, done, box)
    if not done.wait(timeout):
        raise Overrun.after(name, timeout)
    if "error" in box:
        raise box["error"]
    return box["result"]


class _Worker:
    """A daemon thread that runs one job at a time for :func:`call_with_timeout`.

    After a job it goes back on the idle list; a job that overran keeps its thread
    until it ends (if ever), so an abandoned call never delays another.
    """

    def __init__(self) -> None:
        self._job: tuple[Callable[[], Any], threading.Event, dict[str, Any]] | None = None
        self._ready = threading.Condition()
        threading.Thread(target=self._loop, name="portdoctor-worker", daemon=True).start()

    def give(self, fn: Callable[[], Any], done: threading.Event, box: dict[str, Any]) -> None:
        with self._ready:
            self._job = (fn, done, box)
            self._ready.notify()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while self._job is None:
                    self._ready.wait()
                fn, done, box = self._job
                self._job = None
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box["error"] = exc
            del fn
            with _IDLE_LOCK:
                _IDLE.append(self)
            done.set()


_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()


def _forget_workers_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts its own workers."""
    global _IDLE_LOCK
    _IDLE.clear()
    _IDLE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


class Aborted(Exception):
    """Code we do not own (a plugin) raised SystemExit, KeyboardInterrupt or another
    BaseException: turned into an ordinary error so that it cannot end the run."""


def call_untrusted(fn: Callable[[], Any], timeout: float, name: str = "task") -> Any:
    """:func:`call_with_timeout` for plugin code: ``sys.exit()``/``KeyboardInterrupt`` raised
    inside ``fn`` become :class:`Aborted`; ``timeout`` is capped to :data:`MAX_UNTRUSTED_SECONDS`
    (and a timeout that is not a positive number becomes the cap)."""

    return call_with_timeout(partial(contained, fn), capped_timeout(timeout), name=name)


def contained(fn: Callable[[], T]) -> T:
    """``fn()``, where a ``SystemExit``, ``KeyboardInterrupt`` or other ``BaseException`` it
    raises becomes :class:`Aborted` (plugin code must not end the run). No deadline: for
    code already running in a thread its caller can abandon."""
    try:
        return fn()
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, GeneratorExit
        raise Aborted(f"raised {type(exc).__name__}({_short_repr(exc)})") from None


MAX_UNTRUSTED_SECONDS = 30.0


def capped_timeout(value: Any, cap: float = MAX_UNTRUSTED_SECONDS) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return cap
    if not seconds > 0:  # also NaN
        return cap
    return min(seconds, cap)


def _short_repr(exc: BaseException) -> str:
    try:
        return ", ".join(repr(a) for a in exc.args)[:80]
    except Exception:  # noqa: BLE001 - a hostile __repr__
        return "?"


@dataclass
class CommandResult:
    """What a bounded command printed and how it ended (:func:`run_command`)."""

    argv: Sequence[str]
    returncode: int | None  # None: not found or timed out
    stdout: str
    stderr: str
    error: str | None = None  # "not found", "timed out after 2 s", ...

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def why(self) -> str:
        """One line saying why the command gave no answer."""
        lines = self.stderr.strip().splitlines()
        return self.error or (lines[-1] if lines else f"{self.argv[0]} exited with {self.returncode}")


SYSTEM_PATH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def system_tool(name: str) -> str | None:
    """Where a system tool is run from: as root, only from the system folders (never
    from a ``$PATH`` someone else may have set, as under ``sudo -E``); else via ``$PATH``.

    ``PORTDOCTOR_SYSTEM_PATH`` (folders, ``:``-separated) replaces the system folders for
    tests that fake a tool; it is ignored under sudo (``SUDO_UID`` set).
    """
    if "/" in name:
        return name
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        override = os.environ.get("PORTDOCTOR_SYSTEM_PATH")
        folders = override.split(os.pathsep) if override and not os.environ.get("SUDO_UID") else SYSTEM_PATH
        return _executable_in(folders, name)
    if os.name == "nt":  # PATHEXT and the current folder: shutil's rules
        import shutil

        return shutil.which(name)
    # shutil.which without importing shutil (bz2, lzma, fnmatch: ~4 ms of a report run);
    # an empty $PATH entry (the current folder) is never searched.
    return _executable_in([f for f in os.environ.get("PATH", os.defpath).split(os.pathsep) if f], name)


def _executable_in(folders: Sequence[str], name: str) -> str | None:
    for folder in folders:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run_command(argv: Sequence[str], timeout: float = 2.0) -> CommandResult:
    """Run a command without a shell, bounded; never raises.

    The command runs in its own session; on timeout the whole process group is killed,
    so grandchildren do not outlive the deadline. As root the tool is taken from the
    system folders only (:func:`system_tool`).
    """
    return run_commands([argv], timeout)[0]


def run_commands(commands: Sequence[Sequence[str]], timeout: float = 2.0) -> list[CommandResult]:
    """Several commands at once, as :func:`run_command` runs one: all are started, then
    read in turn until one shared deadline (no thread each); results in the same order."""
    return StartedCommands(commands, timeout).results()


class StartedCommands:
    """Commands started now and read later (:meth:`results`), as :func:`run_commands` runs them.

    Their deadline runs from the start: a caller starts the commands it will surely need
    early (the rule dumps of a report run), so they run while Python does other work.
    """

    def __init__(self, commands: Sequence[Sequence[str]], timeout: float = 2.0) -> None:
        import time

        self.commands = [list(argv) for argv in commands]
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.started = [_start(argv, timeout) for argv in self.commands]
        self._lock = threading.Lock()
        self._results: list[CommandResult] | None = None

    def results(self) -> list[CommandResult]:
        """Each command's result, in order (the first caller waits; later ones share it)."""
        with self._lock:
            if self._results is None:
                try:
                    self._results = [_finish(argv, proc, self.deadline, self.timeout)
                                     for argv, proc in zip(self.commands, self.started)]
                finally:  # after an interruption, none of them outlives the call
                    self.stop()
            return self._results

    def stop(self) -> None:
        """Kill what is still running (a run that never asked for the results)."""
        for proc in self.started:
            if not isinstance(proc, CommandResult) and not proc.reaped:
                proc.kill_group()


SIGKILL = 9  # signal.SIGKILL on every POSIX system (importing signal builds its enums)


class _Spawned:
    """A command started with ``posix_spawn`` in a session of its own: pid and pipe ends.

    ``subprocess`` (with ``selectors``, ``locale`` and ``signal``) would cost about 4 ms
    of every report run for the three rule dumps it starts.
    """

    def __init__(self, pid: int, out: int, err: int) -> None:
        self.pid, self.out, self.err = pid, out, err
        self.reaped = False

    def collect(self, deadline: float) -> tuple[int, bytes, bytes] | None:
        """Exit code and output, or None when the deadline passed first (then killed)."""
        import select
        import time

        chunks: dict[int, list[bytes]] = {self.out: [], self.err: []}
        poller = select.poll()
        for fd in chunks:
            poller.register(fd, select.POLLIN)
        open_fds = set(chunks)
        try:
            while open_fds:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill_group()
                    return None
                for fd, _event in poller.poll(max(1, int(left * 1000))):
                    data = os.read(fd, 1 << 16)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds.discard(fd)
            status = self._wait(deadline)
            if status is None:
                self.kill_group()
                return None
            return os.waitstatus_to_exitcode(status), b"".join(chunks[self.out]), b"".join(chunks[self.err])
        finally:
            for fd in chunks:
                os.close(fd)

    def _wait(self, deadline: float) -> int | None:
        """The wait status, polling until ``deadline`` (both pipes are closed: it is ending)."""
        import time

        pause = 0.0005
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.reaped = True
                return status
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

    def kill_group(self) -> None:
        """SIGKILL the command's whole session (its grandchildren too), then reap it (within 1 s)."""
        import time

        try:
            os.killpg(self.pid, SIGKILL)
        except OSError:
            pass
        if not self.reaped:
            self._wait(time.monotonic() + 1.0)  # None: stuck in the kernel (a hung mount), left to the exit


def _start(argv: Sequence[str], timeout: float) -> _Spawned | CommandResult:
    program = system_tool(argv[0]) if argv else None
    if program is None:
        return CommandResult(argv, None, "", "", error=f"{argv[0] if argv else '?'} not found")
    if not hasattr(os, "posix_spawn"):  # Windows
        return _run_without_spawn(argv, program, timeout)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(program, [program, *argv[1:]], os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ])
    except NotImplementedError:  # no POSIX_SPAWN_SETSID here (an old macOS): subprocess, as elsewhere
        os.close(out_r)
        os.close(err_r)
        return _run_without_spawn(argv, program, timeout)
    except OSError as exc:
        os.close(out_r)
        os.close(err_r)
        missing = isinstance(exc, FileNotFoundError)
        return CommandResult(argv, None, "", "", error=f"{argv[0]} not found" if missing
                             else f"{argv[0]}: {exc.strerror or exc}")
    finally:
        os.close(out_w)
        os.close(err_w)
    return _Spawned(pid, out_r, err_r)


def _run_without_spawn(argv: Sequence[str], program: str, timeout: float) -> CommandResult:
    """Where posix_spawn cannot start it in a session of its own (Windows, an old macOS):
    subprocess, run to the end now (bounded; in its own session where there are sessions)."""
    import subprocess

    try:
        done = subprocess.run([program, *argv[1:]], capture_output=True, stdin=subprocess.DEVNULL, text=True,
                              encoding="utf-8", errors="replace", timeout=timeout,
                              start_new_session=hasattr(os, "setsid"))
    except subprocess.TimeoutExpired:
        return CommandResult(argv, None, "", "", error=f"{argv[0]} timed out after {timeout:g} s")
    except OSError as exc:
        return CommandResult(argv, None, "", "", error=f"{argv[0]}: {exc.strerror or exc}")
    return CommandResult(argv, done.returncode, done.stdout, done.stderr)


def _finish(argv: Sequence[str], proc: _Spawned | CommandResult, deadline: float,
            timeout: float) -> CommandResult:
    if isinstance(proc, CommandResult):
        return proc
    try:
        done = proc.collect(deadline)
    except BaseException:
        proc.kill_group()
        raise
    if done is None:
        return CommandResult(argv, None, "", "", error=f"{argv[0]} timed out after {timeout:g} s")
    code, stdout, stderr = done
    return CommandResult(argv, code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], max_workers: int = 16) -> list[Any]:
    """``[fn(item) for item in items]``, run in up to ``max_workers`` threads, in order.

    The first exception raised by ``fn`` is re-raised once all items are done.
    (concurrent.futures would do, but importing it pulls in logging: ~4 ms of a
    ~120 ms ``--report`` run.)
    """
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    todo = iter(range(len(items)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(todo, None)
            if index is None:
                return
            try:
                results[index] = fn(items[index])
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                errors[index] = exc

    threads = [threading.Thread(target=worker, name="portdoctor-map", daemon=True)
               for _ in range(min(max_workers, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


class Background:
    """Run ``fn()`` in a thread now; ``result()`` waits for it and returns or re-raises."""

    def __init__(self, fn: Callable[[], Any], name: str = "background"):
        self._box: dict[str, Any] = {}

        def runner() -> None:
            try:
                self._box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                self._box["error"] = exc

        self._thread = threading.Thread(target=runner, name=f"portdoctor-{name}", daemon=True)
        self._thread.start()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for ``fn`` (at most ``timeout`` seconds: then :class:`Overrun`, the thread abandoned)."""
        self._thread.join(timeout)
        if timeout is not None and self._thread.is_alive():  # without a timeout, join returns at its end
            raise Overrun.after(self._thread.name, timeout)
        if "error" in self._box:
            raise self._box["error"]
        return self._box.get("result")
