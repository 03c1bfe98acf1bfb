"""The wizard, driven with Textual's pilot, against real broken setups in a lab namespace.

Each test runs tests/tui_lab_driver.py under ``unshare --net --pid --fork --mount-proc
--propagation private`` (the isolation tests/labkit uses): there it brings up loopback,
builds the setup (real listeners from tests/labkit/listener.py, real nftables rules),
and drives ``run_wizard`` (real engine, real checks from ``portdoctor.plugins.discover()``)
headless with the pilot. The driver prints what the wizard showed as JSON; these tests
assert on it. Skipped with the reason where the lab cannot run (not root, no unshare).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from labkit import run_isolated, unavailable_reason

pytest.importorskip("textual")

pytestmark = [pytest.mark.tui, pytest.mark.lab]

DRIVER = Path(__file__).resolve().parent / "tui_lab_driver.py"
DROP_TIMEOUT = 5  # the probe timeout of the driver's firewall_drop scenario (DROP_TIMEOUT there)
RESULT_MARK = "TUI-LAB-RESULT "
PORT = 47613  # inside the private namespace, so never taken by anything on the host


@pytest.fixture(scope="module")
def tui_lab() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)


def run_scenario(name: str, timeout: float = 60.0) -> dict:
    """Run one driver scenario in a fresh lab namespace; return its observations."""
    proc = run_isolated([sys.executable, str(DRIVER), name, str(PORT)],
                        capture_output=True, text=True, timeout=timeout, cwd=DRIVER.parent)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert lines, f"the driver printed no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    seen = json.loads(lines[-1][len(RESULT_MARK):])
    assert "error" not in seen, seen["error"]
    return seen


def test_refused_then_a_real_listener_and_r_shows_fixed(tui_lab):
    seen = run_scenario("refused_then_listening")
    first, second = seen["first"], seen["second"]
    assert first["cause"] == "not-listening" and first["outcomes"] == ["refused"], first
    assert first["banner"].startswith("✘ not-listening") and first["banner_classes"] == ["-fail"], first
    assert first["findings"]["service-running"]["status"] == "fail"

    assert seen["runs"] == 2
    assert second["cause"] == "ok" and second["reachable"] is True and second["outcomes"] == ["open"], second
    assert second["banner"].startswith(f"✔ FIXED: 127.0.0.1:{PORT} is reachable now"), second["banner"]
    assert second["banner_classes"] == ["-fixed"] and second["fixed"] is True
    assert "fakesvc" in second["findings"]["service-running"]["title"]  # the listener started in the lab
    assert seen["exit_code"] == 0  # run_wizard's exit code: the last diagnosis was ok


@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt-get install nftables)")
def test_drop_rule_the_ui_stays_live_during_the_timeout_then_names_the_rule(tui_lab):
    seen = run_scenario("firewall_drop")
    at_help = seen["at_help"]
    # `?` answered while the real diagnosis was still waiting on its probe's timeout.
    assert at_help["help_screen"] is True, at_help
    assert at_help["worker_running"] is True and at_help["run_finished"] is False, at_help
    assert at_help["probes_known"] is False, at_help  # no probe result yet: still in the probe's timeout
    assert at_help["banner"].startswith(f"Diagnosing 127.0.0.1:{PORT}"), at_help
    assert seen["help_closed"] is True
    at_move = seen["at_move"]
    assert (at_move["highlighted_before"], at_move["highlighted_after"]) == (0, 1), at_move
    assert at_move["worker_running"] is True and at_move["run_finished"] is False, at_move

    final = seen["final"]
    assert final["cause"] == "firewall" and final["outcomes"] == ["timeout"], final
    rule = f"tcp dport {PORT} drop"
    assert rule in final["findings"]["firewall"]["title"], final["findings"]["firewall"]
    assert final["banner"].startswith("✘ firewall") and rule in final["banner"], final["banner"]
    assert "nft delete rule inet lab input handle" in final["banner"] and "sudo" not in final["banner"], final["banner"]
    assert final["findings"]["service-running"]["status"] == "pass"  # the port really listens
    assert seen["worker_state_after"] == "SUCCESS"
    assert seen["seconds_to_verdict"] < DROP_TIMEOUT + 15, seen["seconds_to_verdict"]  # does not hang (a generous bound: a loaded machine is slow)
    assert seen["exit_code"] == 1


def test_expect_with_another_owner_x_stops_it_and_the_diagnosis_reruns(tui_lab):
    seen = run_scenario("fix_port_in_use")
    pid = seen["holder_pid"]
    first = seen["first"]
    assert first["cause"] == "port-in-use" and first["reachable"] is True, first
    assert f"fakeredis (pid {pid}" in first["findings"]["port-owner"]["title"], first["findings"]["port-owner"]

    assert seen["dialog"] is True
    assert f"SIGTERM to pid {pid} (fakeredis" in seen["dialog_text"] and "'nginx'" in seen["dialog_text"]
    assert f"opens pid {pid} as a pidfd" in seen["dialog_how"] and "os.kill" not in seen["dialog_how"], seen
    assert seen["alive_before_confirm"] is True  # x alone stops nothing: only the confirmation does
    assert seen["holder_returncode"] == -15, seen  # the real process died of SIGTERM
    assert seen["status"] == f"Sent SIGTERM to pid {pid} (fakeredis); it exited.", seen["status"]

    second = seen["second"]
    assert second["cause"] == "not-listening" and second["outcomes"] == ["refused"], second
    assert second["banner"].startswith("✘ not-listening"), second["banner"]
    assert seen["exit_code"] == 1


def test_a_pid_reused_between_diagnosis_and_confirmation_is_not_signalled(tui_lab):
    seen = run_scenario("stop_after_pid_reuse")
    pid = seen["holder_pid"]
    assert seen["dialog"] is True and f"SIGTERM to pid {pid} (fakeredis" in seen["dialog_text"], seen
    assert seen["reused"] is True, "the lab could not hand the pid to a new process"
    assert seen["status"].startswith(f"Did nothing: pid {pid} is not the process the diagnosis saw"), seen["status"]
    assert "reused" in seen["status"] and seen["alive_after_confirm"] is True, seen


def test_a_socket_opened_again_between_diagnosis_and_confirmation_is_not_signalled(tui_lab):
    seen = run_scenario("stop_after_a_new_socket")
    assert seen["dialog"] is True and seen["rebound"] is True, seen
    assert "no longer holds the socket" in seen["status"] and seen["alive_after_confirm"] is True, seen


def test_pid_1_of_a_namespace_is_never_offered_and_the_container_is_named(tui_lab):
    seen = run_scenario("namespace_init_holds_the_port")
    pid = seen["holder_pid"]
    assert seen["first"]["cause"] == "port-in-use", seen["first"]
    assert seen["dialog"] is False and seen["alive"] is True, seen
    assert f"pid {pid} (fakeredis) is PID 1 of its PID namespace" in seen["status"], seen["status"]
    assert "stop the container" in seen["status"] and "systemd unit" in seen["status"], seen["status"]
