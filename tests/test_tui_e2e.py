"""The wizard in a real terminal: tmux runs ``portdoctor 127.0.0.1:PORT`` against a refused
port, the screen must show the verdict; a listener starts, ``r`` is sent, the screen must
show the target reachable; ``q`` quits with exit code 0.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.terminal import tmux, wait_for_screen

pytestmark = pytest.mark.tui

PORTDOCTOR = Path(sys.executable).with_name("portdoctor")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
@pytest.mark.skipif(not PORTDOCTOR.exists(), reason=f"{PORTDOCTOR} not installed (pip install -e .)")
def test_refused_then_listening_in_a_real_terminal(tmp_path, free_port):
    session = f"portdoctor-e2e-{os.getpid()}"
    exit_file = tmp_path / "exit-code"
    env = (f"TERM=xterm-256color XDG_DATA_HOME={tmp_path} XDG_CONFIG_HOME={tmp_path} "
           f"NO_COLOR= CI= PORTDOCTOR_STARTUP_PROBE=")
    command = f"env {env} {PORTDOCTOR} --timeout 1 127.0.0.1:{free_port}; echo $? > {exit_file}; sleep 30"
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        screen = wait_for_screen(session, "✘ not-listening")
        assert f"127.0.0.1:{free_port}" in screen and "refused" in screen

        server.bind(("127.0.0.1", free_port))
        server.listen(8)
        tmux("send-keys", "-t", session, "r")
        screen = wait_for_screen(session, "FIXED")
        assert f"{free_port} is reachable now" in screen and "open" in screen

        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0"
    finally:
        server.close()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
