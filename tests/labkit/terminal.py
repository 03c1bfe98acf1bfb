"""The wizard in a real terminal: tmux commands and waiting for text on its screen."""

from __future__ import annotations

import subprocess
import time


def tmux(*args: str) -> str:
    """Run one tmux command; its stdout (raises when tmux fails)."""
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10, check=True).stdout


def wait_for_screen(session: str, needle: str, timeout: float = 10.0) -> str:
    """The screen of ``session`` once it shows ``needle``; AssertionError with the screen after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not on screen within {timeout} s; the screen was:\n{screen}")
