"""Bounded by the clock, not by the input (issue 9, item 8): one deadline for all probes
of a target, capped targets and targets files, process groups, system tools as root."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from portdoctor.bounded import run_command, system_tool
from portdoctor.probe import DEADLINE_GRACE, probe_all

root_only = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portdoctor", "--report", *args], capture_output=True, text=True,
                          timeout=60, **kw)


def test_targets_file_dev_zero_is_refused_at_once():
    start = time.monotonic()
    r = run("--targets-file", "/dev/zero")
    assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr
    assert time.monotonic() - start < 30


def test_a_huge_targets_file_is_refused(tmp_path):
    big = tmp_path / "targets.txt"
    big.write_text("127.0.0.1:1\n" * 200_000)  # 2.4 MB
    r = run("--targets-file", str(big))
    assert r.returncode == 2 and "larger than" in r.stderr, r.stderr


def test_too_many_targets_is_a_usage_error():
    r = run(*[f"127.0.0.1:{p}" for p in range(20000, 20101)])
    assert r.returncode == 2 and "at most 100" in r.stderr, r.stderr


def test_one_deadline_for_all_probes_of_a_target():
    # 200 addresses that never answer (TEST-NET-1 inside a namespace without routes would
    # be unreachable at once; here a blackhole is simulated by a probe that waits).
    from portdoctor import probe as probe_module

    calls = []

    def slow(address, port, timeout):
        calls.append(timeout)
        time.sleep(timeout)
        from portdoctor.model import Outcome, Probe
        return Probe(address, Outcome.TIMEOUT, timeout * 1000)

    original = probe_module.probe_tcp
    probe_module.probe_tcp = slow
    try:
        start = time.monotonic()
        probes = probe_all([f"10.0.{i // 250}.{i % 250}" for i in range(200)], 80, "tcp", 0.5)
        elapsed = time.monotonic() - start
    finally:
        probe_module.probe_tcp = original
    assert elapsed < 0.5 + DEADLINE_GRACE + 1.0, elapsed
    assert 16 <= len(probes) < 200 and probes[0].address == "10.0.0.0"


def test_a_timed_out_command_takes_its_grandchildren_with_it(tmp_path):
    pidfile = tmp_path / "pid"
    r = run_command(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5)
    assert r.returncode is None and "timed out" in r.error
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z"), f"the grandchild {pid} survived ({state})"


def test_a_command_keeps_its_output_exit_code_and_signal():
    r = run_command(["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"])
    assert (r.returncode, r.stdout, r.stderr, r.error) == (3, "out\n", "err\n", None)
    assert run_command(["sh", "-c", "kill -9 $$"]).returncode == -9
    assert run_command(["no-such-tool-anywhere"]).error == "no-such-tool-anywhere not found"
    big = run_command(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"])  # more than a pipe holds
    assert big.returncode == 0 and len(big.stdout) == 300000


def test_without_posix_spawn_sessions_a_command_runs_through_subprocess(monkeypatch):
    def unsupported(*args, **kwargs):
        raise NotImplementedError("setsid is not supported")  # what an old macOS says

    monkeypatch.setattr(os, "posix_spawn", unsupported)
    assert run_command(["sh", "-c", "echo ok; exit 4"]).stdout == "ok\n"
    slow = run_command(["sh", "-c", "sleep 5"], timeout=0.3)
    assert slow.returncode is None and "timed out" in slow.error


@root_only
def test_as_root_system_tools_come_from_the_system_folders(tmp_path, monkeypatch):
    fake = tmp_path / "nft"
    fake.write_text("#!/bin/sh\necho planted\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    monkeypatch.delenv("PORTDOCTOR_SYSTEM_PATH", raising=False)
    found = system_tool("nft")
    assert found is None or found.startswith(("/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"))
    monkeypatch.setenv("PORTDOCTOR_SYSTEM_PATH", str(tmp_path))
    monkeypatch.setenv("SUDO_UID", "1000")  # under sudo the override is ignored too
    assert system_tool("nft") != str(fake)


@pytest.mark.lab
def test_many_a_records_behind_a_drop_finish_near_the_timeout(lab):
    """A real name with 500 addresses (/etc/hosts in the lab's private mount namespace),
    every one behind a real nft DROP rule: the run ends near --timeout, not 500 x timeout."""
    hosts = "".join(f"127.1.{i // 250}.{i % 250 + 1} many.test\n" for i in range(500))
    r = lab.run(["--timeout", "1", "many.test:8080"], hosts=hosts, setup=[
        "nft add table inet lab",
        "nft 'add chain inet lab input { type filter hook input priority 0; policy accept; }'",
        "nft add rule inet lab input tcp dport 8080 drop"])
    assert r.returncode == 1, r.stderr
    doc = r.json
    assert len(doc["target"]["addresses"]) == 500
    assert r.elapsed < 15, r.elapsed  # was about 500 / 16 x 1 s = 31 s with no deadline
    assert any("not probed within" in n for n in doc["notes"]), doc["notes"]


# --- reads that a hung file system could block forever ---------------------------------


def _blocked_forever(release):
    def wait(*_args, **_kwargs):
        release.wait()  # a path lookup on a hung NFS/FUSE mount, or a /proc read that never returns
    return wait


def test_a_unix_socket_path_that_never_answers_is_a_timeout_within_the_probe_deadline(monkeypatch):
    import threading

    from portdoctor import probe as probe_module
    from portdoctor.api import Options
    from portdoctor.facts import Snapshot
    from portdoctor.model import Outcome
    from portdoctor.pipeline import diagnose
    from portdoctor.target import parse_target

    release = threading.Event()
    monkeypatch.setattr(probe_module, "probe_unix", _blocked_forever(release))
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("report", diagnose(
        parse_target("unix:///srv/hung/app.sock"), [], Options(timeout=0.2),
        gather_facts=lambda port, protocol: Snapshot(port=port, protocol=protocol))), daemon=True)
    worker.start()
    worker.join(30)  # not a speed claim: without the bound the diagnosis never returns
    release.set()
    assert not worker.is_alive(), "the diagnosis waited for the path lookup forever"
    (probe,) = box["report"].probes
    assert probe.outcome is Outcome.TIMEOUT and "path lookup" in probe.error


def test_listen_counters_that_never_answer_are_left_out(monkeypatch):
    import threading

    from portdoctor.facts import Snapshot, gather_during, netstat

    release = threading.Event()
    monkeypatch.setattr(netstat, "read_listen_counters", _blocked_forever(release))
    monkeypatch.setattr("portdoctor.facts.COUNTERS_SECONDS", 0.1)
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("out", gather_during(
        lambda: "probed", 1, "tcp", lambda port, protocol: Snapshot(port=port, protocol=protocol))), daemon=True)
    worker.start()
    worker.join(30)
    release.set()
    assert not worker.is_alive(), "the /proc counters read blocked the diagnosis"
    snapshot, result = box["out"]
    assert result == "probed" and snapshot.extras["listen_counters"] is None
