"""The stop-the-owner action (issue 9, item 6) against real processes: a pidfd at
confirmation, start time and socket inode re-checked, PID 1 never offered, 15+ char names."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from portdoctor.actions import is_namespace_init, offered, process_start_time, stop_process
from portdoctor.model import Action, Finding, Status
from portdoctor.records import replace

LISTENER = ("import ctypes, socket, sys, time\n"
            "ctypes.CDLL(None).prctl(15, sys.argv[1].encode()[:15], 0, 0, 0)\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(60)\n")


def start(name: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, name], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def action_for(proc: subprocess.Popen, name: str, port: int) -> Action:
    from portdoctor.facts.netlink import sock_diag
    from portdoctor.facts.sockets import find_socket_pids

    inode = next(d.inode for d in sock_diag("tcp", 4, port=port) if d.state == "LISTEN")
    assert find_socket_pids([inode])[0][inode] == proc.pid
    return Action("stop-process", proc.pid, name, "test", inode=inode, port=port, address="127.0.0.1",
                  start_time=process_start_time(proc.pid))


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="needs /proc and pidfd")


def test_a_long_name_is_matched_as_the_kernel_keeps_it():
    name = "a-very-long-service-name"  # 24 characters; comm keeps 15
    proc, port = start(name)
    try:
        result = stop_process(action_for(proc, name[:15], port))
        assert "exited" in result, result
    finally:
        proc.kill()
        proc.wait()
    proc, port = start(name)
    try:  # a name as psutil shows it (from the command line) still matches the kernel's cut
        result = stop_process(action_for(proc, name, port))
        assert "exited" in result, result
    finally:
        proc.kill()
        proc.wait()


def test_a_reused_pid_is_not_signalled():
    proc, port = start("victim")
    action = action_for(proc, "victim", port)
    action = replace(action, start_time=action.start_time - 1)  # as if the diagnosed process had started earlier: another process now
    try:
        result = stop_process(action)
        assert result.startswith("Did nothing") and "reused" in result, result
        assert proc.poll() is None  # still running
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_no_longer_holds_the_socket_is_not_signalled():
    proc, port = start("holder")
    action = action_for(proc, "holder", port)
    action = replace(action, inode=action.inode + 10_000_000)
    try:
        result = stop_process(action)
        assert "no longer holds the socket" in result and proc.poll() is None, result
    finally:
        proc.kill()
        proc.wait()


def test_a_stopped_and_reaped_process_is_reported_gone():
    proc, port = start("gone")
    action = action_for(proc, "gone", port)
    proc.kill()
    proc.wait()
    assert "already exited" in stop_process(action)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare"), reason="needs root and unshare")
def test_pid_1_of_a_namespace_is_never_offered_nor_stopped():
    # A real PID namespace whose init is a sleeping process.
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--", "sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        child = None
        while child is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
                    kids = fh.read().split()
                child = int(kids[0]) if kids else None
            except OSError:
                pass
            time.sleep(0.05)
        assert child is not None
        assert is_namespace_init(child) and is_namespace_init(1)
        action = Action("stop-process", child, "sleep", "test", start_time=process_start_time(child))
        report = type("R", (), {"findings": [Finding("port-owner", Status.FAIL, "t", actions=[action])]})()
        assert offered(report) == []
        result = stop_process(action)
        assert "PID 1 of its PID namespace" in result and os.path.exists(f"/proc/{child}")
    finally:
        proc.kill()
        proc.wait()


def test_the_action_records_the_start_time_at_diagnosis():
    from portdoctor.model import Socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        sock = Socket("tcp", 4, "127.0.0.1", s.getsockname()[1], "LISTEN", pid=os.getpid(), process="python")
        assert Action.stop_process(sock).start_time == process_start_time(os.getpid()) is not None
