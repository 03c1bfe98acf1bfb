"""A third-party check cannot end, hang or flood the run (issue 9, item 7).

Real plugin files in a private folder, run by a real ``portdoctor --report`` process
(and the wizard in a real terminal): each hostile plugin becomes an ``error`` finding
with a one-line reason, the verdict comes from the other checks, and a run whose only
problem is a plugin that could not run exits 1, never 0.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labkit.terminal import tmux, wait_for_screen
from portdoctor import isolation

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="plugins run in child processes only where fork exists")

HEADER = "import os, signal, sys, time\nfrom portdoctor.api import Check\n"


def plugin(name: str, body: str, *, timeout: float = 1.0, extra: str = "") -> str:
    """A check file named ``name`` whose ``run`` is ``body`` (indented by the caller's dedent)."""
    return HEADER + extra + textwrap.dedent(f"""
        class Hostile(Check):
            name = {name!r}
            title = "Hostile plugin {name}"
            order = 900
            timeout = {timeout}

            def run(self, ctx):
        """) + textwrap.indent(textwrap.dedent(body), " " * 8)


HOSTILE = {
    "exit-zero": plugin("exit-zero", "os._exit(0)"),
    "exit-one": plugin("exit-one", "os._exit(1)"),
    "sigkill": plugin("sigkill", "os.kill(os.getpid(), signal.SIGKILL)"),
    "sys-exit": plugin("sys-exit", "sys.exit(0)"),
    "loop-run": plugin("loop-run", "while True:\n    pass", timeout=0.5),
    "loop-generator": plugin("loop-generator", "yield self.passed('first')\nwhile True:\n    pass", timeout=0.5),
    "huge-evidence": plugin("huge-evidence", "return self.passed('big', evidence={'blob': 'x' * 50_000_000})",
                            timeout=10),
    "grandchild-exit": plugin("grandchild-exit", "if os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\nos._exit(0)"),
    "bad-cause": plugin("bad-cause", "return self.fail('\\x1b]52;c;ZXZpbA==\\x07pwned', 'title')"),
}
# Checks that must still PASS, with what they did.
WELL_BEHAVED = {
    "noisy": plugin("noisy", """
        print("PLUGIN-MARKER on stdout ::error::x \\x1b[2J")
        print("PLUGIN-MARKER on stderr", file=sys.stderr)
        os.write(1, b"PLUGIN-MARKER fd 1\\n")
        os.write(2, b"PLUGIN-MARKER fd 2\\n")
        sys.stdout.flush()
        return self.passed("spoke and passed")"""),
    "odd-evidence": plugin("odd-evidence", """
        return self.passed("odd evidence", evidence={"set": {1, 2}, "bytes": b"\\x00\\xff", "object": object(),
                                                      "nested": {"deep": [1, (2, 3)]}, 7: "int key"})"""),
    "lazy-fact": plugin("lazy-fact", """
        from portdoctor.api import NOT_LISTENING, WHOAMI
        uid, _user = ctx.fact(WHOAMI)
        others = ctx.fact(NOT_LISTENING)
        return self.passed("read lazy facts in the child", evidence={"uid": uid, "others": len(others or [])})"""),
    "grandchild": plugin("grandchild", """
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        open(os.environ["GRANDCHILD_PIDFILE"], "w").write(str(pid))
        return self.passed("left a grandchild holding the pipe")"""),
}
LOOP_APPLIES = HEADER + textwrap.dedent("""
    class LoopApplies(Check):
        name = "loop-applies"
        title = "Loops in applies()"
        order = 900

        def applies(self, ctx):
            while True:
                pass

        def run(self, ctx):
            return self.passed("never")
""")
EXIT_ON_IMPORT = "import os\nos._exit(0)\n"
LOOP_ON_IMPORT = "while True:\n    pass\n"


def portdoctor(args: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, CI="true", NO_COLOR="1", XDG_CONFIG_HOME=str(folder / "config"), **env)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "PORTDOCTOR_PLUGINS_IN_PROCESS"):
        environ.pop(name, None)
    environ.update(env)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "portdoctor", *args], capture_output=True, text=True,
                          env=environ, timeout=120, cwd=folder)
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    return proc


@pytest.fixture
def private(tmp_path):
    """A private plugin folder (mode 0700, ours): never a shared one such as /tmp."""
    folder = tmp_path / "checks"
    folder.mkdir(mode=0o700)
    return folder


def write(folder: Path, plugins: dict[str, str]) -> None:
    for name, source in plugins.items():
        path = folder / f"{name.replace('-', '_')}.py"
        path.write_text(source)
        path.chmod(0o600)


def findings(report: dict) -> dict[str, dict]:
    return {f["check"]: f for f in report["findings"]}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


def test_every_hostile_plugin_is_an_error_and_the_verdict_comes_from_the_others(private, tmp_path, free_port):
    write(private, {**HOSTILE, **WELL_BEHAVED, "loop-applies": LOOP_APPLIES,
                    "exit-on-import": EXIT_ON_IMPORT, "loop-on-import": LOOP_ON_IMPORT})
    pidfile = tmp_path / "grandchild.pid"
    r = portdoctor(["--report", "--format", "json", "--checks-dir", str(private), f"127.0.0.1:{free_port}"],
                   tmp_path, GRANDCHILD_PIDFILE=str(pidfile))
    assert r.returncode == 1, r.stderr  # nothing listens: diagnosed by the built-in checks
    report = json.loads(r.stdout)  # stdout is the report and only the report
    assert report["verdict"]["cause"] == "not-listening"
    assert "PLUGIN-MARKER" not in r.stdout and "PLUGIN-MARKER" not in r.stderr
    # Bounded: 5 s for the imports (one hangs), 2 s for the looping applies(), the run()
    # timeouts; not the 60 s the grandchildren sleep.
    assert r.elapsed < 45, r.elapsed

    found = findings(report)
    reasons = {
        "exit-zero": "check exit-zero ended its process with exit code 0 before returning a result",
        "exit-one": "check exit-one ended its process with exit code 1 before returning a result",
        "sigkill": "check sigkill was killed by SIGKILL before returning a result",
        "sys-exit": "SystemExit: 0",
        "loop-run": "check loop-run did not finish within 0.5 s; its process was killed",
        "loop-generator": "check loop-generator did not finish within 0.5 s; its process was killed",
        "huge-evidence": "larger than 1024 KiB",
        "grandchild-exit": "check grandchild-exit ended its process with exit code 0 before returning a result",
        "bad-cause": "unknown cause",
        "loop-applies": "applies() did not finish within 2 s; its process was killed",
    }
    for name, reason in reasons.items():
        f = found[name]
        assert f["status"] == "error", (name, f)
        assert reason in f["detail"], (name, f["detail"])
        assert "\n" not in f["detail"] and "\x1b" not in f["detail"] and "\x07" not in f["detail"], f["detail"]
    assert "\\x1b]52" in found["bad-cause"]["detail"]  # the hostile cause is shown, made visible

    assert found["noisy"]["status"] == "pass"
    odd = found["odd-evidence"]
    assert odd["status"] == "pass", odd
    assert odd["evidence"]["set"] == "{1, 2}" and odd["evidence"]["bytes"] == "b'\\x00\\xff'"
    assert odd["evidence"]["object"].startswith("<object object at") and odd["evidence"]["7"] == "int key"
    assert found["grandchild"]["status"] == "pass"
    assert found["lazy-fact"]["status"] == "pass" and found["lazy-fact"]["evidence"]["uid"] == os.getuid()

    errors = [line for line in r.stderr.splitlines() if "on_import" in line]
    assert any("exit_on_import.py: importing it ended its process with exit code 0" in e for e in errors), r.stderr
    assert any("loop_on_import.py: importing it did not finish within 5 s" in e for e in errors), r.stderr
    assert sum("plugin " in note for note in report["notes"]) == 2

    time.sleep(0.2)
    assert not alive(int(pidfile.read_text())), "the grandchild outlived its check"


def test_a_plugin_that_exits_never_makes_a_reachable_run_exit_zero(private, tmp_path):
    """The CI case: `portdoctor --report db:5432 && run-tests`. The port is reachable, the
    only plugin (the one that was to verify something more) ends its process: exit 1."""
    write(private, {"exit-zero": HOSTILE["exit-zero"]})
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        r = portdoctor(["--report", "--format", "json", "--checks-dir", str(private), f"127.0.0.1:{port}"], tmp_path)
        text = portdoctor(["--report", "--checks-dir", str(private), f"127.0.0.1:{port}"], tmp_path)
    report = json.loads(r.stdout)
    assert report["verdict"]["cause"] == "ok"
    assert findings(report)["exit-zero"]["status"] == "error"
    assert r.returncode == 1, r.stderr
    assert "exit code 1: exit-zero could not run, so what it checks is unverified" in report["notes"]
    assert text.returncode == 1
    assert "ERROR exit-zero" in text.stdout and "exit code 1: exit-zero could not run" in text.stdout


def test_several_targets_fork_from_worker_threads(private, tmp_path, free_port):
    """Targets are diagnosed in threads: each forks its own children; all finish."""
    write(private, {"sys-exit": HOSTILE["sys-exit"], "noisy": WELL_BEHAVED["noisy"]})
    targets = [f"127.0.0.1:{free_port}", f"127.0.0.2:{free_port}", f"[::1]:{free_port}", f"localhost:{free_port}"]
    r = portdoctor(["--report", "--format", "json", "--checks-dir", str(private), *targets], tmp_path)
    assert r.returncode == 1, r.stderr
    reports = json.loads(r.stdout)["reports"]
    assert len(reports) == 4
    for report in reports:
        found = findings(report)
        assert found["sys-exit"]["status"] == "error" and "SystemExit" in found["sys-exit"]["detail"]
        assert found["noisy"]["status"] == "pass"


def test_in_process_fallback_still_catches_what_it_can(private, tmp_path, free_port):
    """PORTDOCTOR_PLUGINS_IN_PROCESS=1 (what platforms without fork do): sys.exit and an
    endless run() are still errors; documented that os._exit is not."""
    write(private, {"sys-exit": HOSTILE["sys-exit"], "loop-run": HOSTILE["loop-run"]})
    r = portdoctor(["--report", "--format", "json", "--checks-dir", str(private), f"127.0.0.1:{free_port}"],
                   tmp_path, PORTDOCTOR_PLUGINS_IN_PROCESS="1")
    assert r.returncode == 1, r.stderr
    found = findings(json.loads(r.stdout))
    assert found["sys-exit"]["status"] == "error" and "SystemExit" in found["sys-exit"]["detail"]
    assert found["loop-run"]["status"] == "error" and "did not finish within 0.5 s" in found["loop-run"]["detail"]


# --- the parent's side of the pipe: what a child sends is hostile ---------------------


def run_child(body, seconds: float = 2.0):
    child = isolation.Child(body)
    try:
        return child.receive(seconds, "the test child")
    finally:
        child.close()


@pytest.mark.parametrize("payload, why", [
    (b"not a header\n", "not a result"),
    (b"5\n[1,2]", "not a result"),  # JSON, but not an object
    (b"7\n{oops}}", "not a result"),
    (b"99999999\n", "larger than"),
    (b"1" * 40, "not a result"),
])
def test_garbage_on_the_pipe_is_one_line_not_a_crash(payload, why):
    def body(send):
        # A plugin owns its process: it can write anything to the result pipe.
        write_fd = next(c.cell_contents for c in send.__closure__ if isinstance(c.cell_contents, int))
        os.write(write_fd, payload)
        time.sleep(0.2)
        os._exit(0)

    with pytest.raises(isolation.ChildFailed, match=why):
        run_child(body)


@pytest.mark.parametrize("waitid", [True, False], ids=["waitid", "no-waitid (macOS before 3.13)"])
def test_how_a_child_ended_is_named_with_or_without_waitid(monkeypatch, waitid):
    if not waitid:
        monkeypatch.delattr(os, "waitid", raising=False)

    def body(send):
        if os.fork() == 0:  # a grandchild holding the pipe: no end-of-file
            time.sleep(30)
            os._exit(0)
        os._exit(3)

    start = time.monotonic()
    with pytest.raises(isolation.ChildFailed, match="the test child ended its process with exit code 3"):
        run_child(body, seconds=20)
    assert time.monotonic() - start < 15  # told by the exit, not by the deadline


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
@pytest.mark.tui
def test_the_wizard_shows_the_error_and_stays_usable(private, tmp_path, free_port):
    """The wizard in a real terminal with a plugin that prints and exits and one that
    loops: the verdict shows, the plugin's text never reaches the screen, q exits 1."""
    portdoctor_bin = Path(sys.executable).with_name("portdoctor")
    if not portdoctor_bin.exists():
        pytest.skip(f"{portdoctor_bin} not installed (pip install -e .)")
    write(private, {"exit-zero": HOSTILE["exit-zero"], "loop-run": HOSTILE["loop-run"],
                    "noisy": WELL_BEHAVED["noisy"]})
    session = f"portdoctor-isolation-{os.getpid()}"
    exit_file = tmp_path / "exit-code"
    env = f"TERM=xterm-256color XDG_DATA_HOME={tmp_path} XDG_CONFIG_HOME={tmp_path} NO_COLOR= CI="
    command = (f"env {env} {portdoctor_bin} --timeout 1 --checks-dir {private} 127.0.0.1:{free_port}; "
               f"echo $? > {exit_file}; sleep 30")

    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        screen = wait_for_screen(session, "not-listening", timeout=30)
        screen = wait_for_screen(session, "loop-run", timeout=30)
        assert "PLUGIN-MARKER" not in screen
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 15
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "1"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
