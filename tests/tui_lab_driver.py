"""Runs one wizard scenario with Textual's pilot inside a lab namespace; prints what it saw.

tests/test_tui_lab.py starts this script with ``labkit.run_isolated`` (the lab's own
private namespaces), and it sets up with the lab's helpers (``labkit.inside``), so the listeners, nftables
rules and signals below touch only that private namespace. Usage::

    python tui_lab_driver.py SCENARIO PORT

The wizard is reached through the real path: the command line is parsed by
``portdoctor.argv.build_parser`` and handed to ``portdoctor.tui.run_wizard``, which builds
the real engine (``portdoctor.plugins.discover()`` checks, ``portdoctor.pipeline.diagnose``).
Only ``WizardApp.run`` is replaced, by a headless ``run_test()`` session that plays the
scenario's keys. The driver records observations (some only meaningful at the moment they
are taken, e.g. "the worker is still running") and prints them as one JSON line after
``RESULT_MARK``; the test asserts on them. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from labkit.inside import sh
from labkit.inside import start_listener as start_lab_listener

RESULT_MARK = "TUI-LAB-RESULT "
SCREEN_SIZE = (110, 32)


def start_listener(address: str, port: int, name: str) -> subprocess.Popen:
    return start_lab_listener({"address": address, "port": port, "protocol": "tcp", "name": name})


async def until(pilot, condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}; the verdict banner said: {banner(pilot.app)!r}")
        await pilot.pause(0.02)


def banner(app) -> str:
    try:
        return str(app.view.query_one("#verdict").render())
    except Exception as exc:  # noqa: BLE001 - only for messages
        return f"<no banner: {exc}>"


def verdict_of(app) -> dict[str, Any]:
    """The finished run as the screen and the report show it."""
    view = app.view
    report = view.run.report
    classes = sorted(c for c in ("-ok", "-fail", "-fixed", "-running", "-crashed")
                     if view.query_one("#verdict").has_class(c))
    return {
        "cause": report.verdict.cause if report else None,
        "reachable": report.verdict.reachable if report else None,
        "outcomes": [p.outcome.value for p in report.probes] if report else None,
        "findings": {f.check: {"status": f.status.value, "cause": f.cause, "title": f.title}
                     for f in report.findings} if report else {},
        "banner": banner(app),
        "banner_classes": classes,
        "fixed": view.fixed,
        "crashed": view.run.crashed,
    }


async def finished_runs(pilot, count: int, timeout: float) -> None:
    await until(pilot, lambda: pilot.app.view.runs_finished >= count and pilot.app.view.run.finished,
                f"diagnosis #{count} finished", timeout)
    for _ in range(3):
        await pilot.pause()


# --- scenarios: each returns (command line, setup lines, listeners, pilot script) ----------
# A listener is (address, process name), started on PORT before the wizard starts.


def scenario_refused_then_listening(port: int, seen: dict, procs: list):
    async def script(pilot):
        app = pilot.app
        await finished_runs(pilot, 1, timeout=15)
        seen["first"] = verdict_of(app)
        procs.append(await asyncio.to_thread(start_listener, "127.0.0.1", port, "fakesvc"))
        await pilot.press("r")
        await finished_runs(pilot, 2, timeout=15)
        seen["second"] = verdict_of(app)
        seen["runs"] = app.view.runs_finished
        await pilot.press("q")

    return [f"127.0.0.1:{port}"], [], [], script


# Long enough that the UI checks below land inside the probe's timeout even on a loaded
# machine; short enough that the scenario stays quick.
DROP_TIMEOUT = 5


def scenario_firewall_drop(port: int, seen: dict, procs: list):
    setup = ["nft add table inet lab",
             "nft 'add chain inet lab input { type filter hook input priority 0; policy accept; }'",
             f"nft add rule inet lab input tcp dport {port} drop"]

    async def script(pilot):
        from textual.worker import WorkerState

        from portdoctor.tui.screens import HelpScreen

        app = pilot.app
        view = app.view
        started = seen["started"]
        await until(pilot, lambda: len(view.run.rows) > 0, "the checks are planned", timeout=10)
        await pilot.press("question_mark")
        worker = view._current_worker
        seen["at_help"] = {
            "help_screen": isinstance(app.screen, HelpScreen),
            "worker_state": worker.state.name if worker is not None else None,
            "worker_running": worker is not None and worker.state is WorkerState.RUNNING,
            "run_finished": view.run.finished,
            "probes_known": view.run.probes is not None,  # None: still in the probe (timeout) phase
            "banner": banner(app),
            "seconds": time.monotonic() - started,
        }
        await pilot.press("escape")
        seen["help_closed"] = not isinstance(app.screen, HelpScreen)
        before = view.query_one("#pipeline").highlighted
        await pilot.press("down")
        await pilot.pause()
        seen["at_move"] = {
            "highlighted_before": before,
            "highlighted_after": view.query_one("#pipeline").highlighted,
            "selected": view.selected_row.name if view.selected_row else None,
            "worker_running": worker is not None and worker.state is WorkerState.RUNNING,
            "run_finished": view.run.finished,
        }
        await finished_runs(pilot, 1, timeout=15)
        seen["seconds_to_verdict"] = time.monotonic() - started
        seen["final"] = verdict_of(app)
        seen["worker_state_after"] = worker.state.name if worker is not None else None
        await pilot.press("q")

    return ["--timeout", str(DROP_TIMEOUT), f"127.0.0.1:{port}"], setup, [("127.0.0.1", "fakesvc")], script


def scenario_fix_port_in_use(port: int, seen: dict, procs: list):
    async def script(pilot):
        from portdoctor.tui.screens import ConfirmStopScreen

        app = pilot.app
        holder = procs[0]
        seen["holder_pid"] = holder.pid
        await finished_runs(pilot, 1, timeout=15)
        seen["first"] = verdict_of(app)
        await pilot.press("x")
        seen["dialog"] = isinstance(app.screen, ConfirmStopScreen)
        seen["dialog_text"] = str(app.screen.query_one("#confirm-what").render()) if seen["dialog"] else ""
        seen["dialog_how"] = str(app.screen.query_one("#confirm-how").render()) if seen["dialog"] else ""
        seen["alive_before_confirm"] = holder.poll() is None
        await pilot.click("#stop")
        await finished_runs(pilot, 2, timeout=15)
        try:
            seen["holder_returncode"] = holder.wait(timeout=5)
        except subprocess.TimeoutExpired:
            seen["holder_returncode"] = None
        seen["status"] = app.view.status_text
        seen["second"] = verdict_of(app)
        await pilot.press("q")

    return ["--expect", "nginx", f"127.0.0.1:{port}"], [], [("0.0.0.0", "fakeredis")], script


async def confirm_and_read_status(pilot, seen: dict) -> None:
    """Click Stop in the open confirmation; wait (bounded) for the result line and the rerun."""
    await pilot.click("#stop")
    await until(pilot, lambda: "pid" in pilot.app.view.status_text and "Stopping" not in pilot.app.view.status_text,
                "the stop action's result", timeout=15)
    seen["status"] = pilot.app.view.status_text
    await finished_runs(pilot, 2, timeout=15)


async def open_stop_dialog(pilot, seen: dict) -> None:
    from portdoctor.tui.screens import ConfirmStopScreen

    await finished_runs(pilot, 1, timeout=15)
    seen["first"] = verdict_of(pilot.app)
    await pilot.press("x")
    seen["dialog"] = isinstance(pilot.app.screen, ConfirmStopScreen)
    if seen["dialog"]:
        seen["dialog_text"] = str(pilot.app.screen.query_one("#confirm-what").render())
        seen["dialog_how"] = str(pilot.app.screen.query_one("#confirm-how").render())


def scenario_stop_after_pid_reuse(port: int, seen: dict, procs: list):
    """Between the diagnosis and the confirmation the holder exits and a new process gets
    its pid (ns_last_pid of the lab's own PID namespace): the confirmation must refuse."""
    async def script(pilot):
        first = procs[0]
        seen["holder_pid"] = first.pid
        await open_stop_dialog(pilot, seen)
        first.kill()
        first.wait(5)
        for _ in range(50):  # other tasks (the wizard's threads) may take the pid first: retry
            with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
                fh.write(str(first.pid - 1))
            second = start_listener("0.0.0.0", port, "fakeredis")
            if second.pid == first.pid:
                break
            second.kill()
            second.wait(5)
        procs.append(second)
        seen["reused"] = second.pid == first.pid
        await confirm_and_read_status(pilot, seen)
        seen["alive_after_confirm"] = second.poll() is None
        await pilot.press("q")

    return ["--expect", "nginx", f"127.0.0.1:{port}"], [], [("0.0.0.0", "fakeredis")], script


REBINDING = ("import ctypes, signal, socket, sys, time\n"
             "ctypes.CDLL(None).prctl(15, b'fakeredis', 0, 0, 0)\n"
             "def listen():\n"
             "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             "    s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); return s\n"
             "held = [listen()]\n"
             "def rebind(*_):\n"
             "    held[0].close(); held[0] = listen(); print('rebound', flush=True)\n"
             "signal.signal(signal.SIGUSR1, rebind)\n"
             "print('ready', flush=True)\n"
             "while True: time.sleep(1)\n")


def scenario_stop_after_a_new_socket(port: int, seen: dict, procs: list):
    """Same pid, same start time, but the listening socket was closed and opened again
    (another inode) after the diagnosis: the confirmation must refuse."""
    holder = subprocess.Popen([sys.executable, "-c", REBINDING, str(port)], stdout=subprocess.PIPE, text=True)
    procs.append(holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"

    async def script(pilot):
        seen["holder_pid"] = holder.pid
        await open_stop_dialog(pilot, seen)
        holder.send_signal(signal.SIGUSR1)
        seen["rebound"] = holder.stdout.readline().strip() == "rebound"
        await confirm_and_read_status(pilot, seen)
        seen["alive_after_confirm"] = holder.poll() is None
        await pilot.press("q")

    return ["--expect", "nginx", f"127.0.0.1:{port}"], [], [], script


def scenario_namespace_init_holds_the_port(port: int, seen: dict, procs: list):
    """The holder is PID 1 of its own PID namespace (a container's init): x offers no stop
    and says to stop the container or unit instead."""
    from labkit.inside import listener_argv

    spec = {"address": "0.0.0.0", "port": port, "protocol": "tcp", "name": "fakeredis"}
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--", *listener_argv(spec)],
                             stdout=subprocess.PIPE, text=True)
    procs.append(outer)
    assert outer.stdout is not None and outer.stdout.readline().strip() == "ready"

    async def script(pilot):
        with open(f"/proc/{outer.pid}/task/{outer.pid}/children") as fh:
            seen["holder_pid"] = int(fh.read().split()[0])
        await open_stop_dialog(pilot, seen)
        seen["status"] = pilot.app.view.status_text
        seen["alive"] = os.path.exists(f"/proc/{seen['holder_pid']}")
        await pilot.press("q")

    return ["--expect", "nginx", f"127.0.0.1:{port}"], [], [], script


SCENARIOS = {
    "refused_then_listening": scenario_refused_then_listening,
    "firewall_drop": scenario_firewall_drop,
    "fix_port_in_use": scenario_fix_port_in_use,
    "stop_after_pid_reuse": scenario_stop_after_pid_reuse,
    "stop_after_a_new_socket": scenario_stop_after_a_new_socket,
    "namespace_init_holds_the_port": scenario_namespace_init_holds_the_port,
}


def main() -> int:
    name, port = sys.argv[1], int(sys.argv[2])
    seen: dict[str, Any] = {"scenario": name}
    procs: list[subprocess.Popen] = []
    try:
        sh("ip link set lo up")
        argv, setup, listeners, script = SCENARIOS[name](port, seen, procs)
        for line in setup:
            sh(line)
        for address, process_name in listeners:
            procs.append(start_listener(address, port, process_name))

        from portdoctor.api import Options
        from portdoctor.argv import build_parser
        from portdoctor.target import parse_target
        from portdoctor.tui import run_wizard
        from portdoctor.tui.app import WizardApp

        def run_headless(app: WizardApp, *args: Any, **kwargs: Any) -> None:
            async def session() -> None:
                async with app.run_test(size=SCREEN_SIZE) as pilot:
                    seen["started"] = time.monotonic()
                    await script(pilot)

            asyncio.run(session())

        WizardApp.run = run_headless  # the only substitution: no real terminal in a test
        args = build_parser().parse_args(argv)
        options = Options(timeout=args.timeout, expect=args.expect)
        seen["exit_code"] = run_wizard([parse_target(t) for t in args.targets], options, check_dirs=args.checks_dir)
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails with it
        seen["error"] = "".join(traceback.format_exception(exc))[-4000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    seen.pop("started", None)
    print(RESULT_MARK + json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
