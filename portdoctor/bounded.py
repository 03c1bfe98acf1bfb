"""Bounded execution: run a function or a subprocess with a deadline.

Everything that can hang (a plugin's import or check, a resolver call, ``nft``)
goes through here, so a stuck piece becomes an error instead of a hung tool.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence


class Overrun(Exception):
    """The function did not finish within its deadline."""


def call_with_timeout(fn: Callable[[], Any], timeout: float, name: str = "task") -> Any:
    """Run ``fn()`` in a daemon thread; return its result or re-raise its exception.

    Raises :class:`Overrun` after ``timeout`` seconds. The thread is abandoned (a
    daemon thread does not keep the process alive), which is the only safe way to
    give up on arbitrary Python code.
    """
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=runner, name=f"portdoctor-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise Overrun(f"{name} did not finish within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


@dataclass
class CommandResult:
    argv: Sequence[str]
    returncode: int | None  # None: not found or timed out
    stdout: str
    stderr: str
    error: str | None = None  # "not found", "timed out after 2 s", ...

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_command(argv: Sequence[str], timeout: float = 2.0) -> CommandResult:
    """Run a command without a shell, bounded; never raises."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, errors="replace",
        )
    except FileNotFoundError:
        return CommandResult(argv, None, "", "", error=f"{argv[0]} not found")
    except subprocess.TimeoutExpired:
        return CommandResult(argv, None, "", "", error=f"{argv[0]} timed out after {timeout:g} s")
    except OSError as exc:
        return CommandResult(argv, None, "", "", error=f"{argv[0]}: {exc.strerror or exc}")
    return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
