"""The command line in-process (``main([...])`` with capsys) and a few real subprocesses.

Targets are loopback ports only: a free one (refused) or one a test socket listens on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from portdoctor import __version__
from portdoctor.cli import _use_color, main, read_targets_file, schema_text
from portdoctor.exitcodes import UsageError


@pytest.fixture
def listening_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_ci_environment(monkeypatch, tmp_path):
    """Each test starts outside any CI and with its own data folder (for --save)."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def one_line_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("portdoctor: error: "), err
    assert "Traceback" not in err
    return err


# --- exit codes and streams ---------------------------------------------------------


def test_refused_port_exits_1_with_the_report_on_stdout(free_port, capsys):
    assert main(["--report", f"127.0.0.1:{free_port}"]) == 1
    out, err = capsys.readouterr()
    assert f"127.0.0.1:{free_port} (tcp)" in out and "Verdict" in out
    assert "Verdict" not in err


def test_listening_port_exits_0(listening_port, capsys):
    assert main(["--report", f"127.0.0.1:{listening_port}"]) == 0
    assert "Verdict  OK" in capsys.readouterr().out


def test_exit_zero_and_fail_on(free_port, listening_port, tmp_path, capsys):
    assert main(["--report", "--exit-zero", f"127.0.0.1:{free_port}"]) == 0
    plugin_dir = tmp_path / "checks"
    plugin_dir.mkdir()
    (plugin_dir / "always_warn.py").write_text(
        "from portdoctor.api import Check\n"
        "class AlwaysWarn(Check):\n"
        "    name = 'always-warn'\n"
        "    title = 'Does this test plugin warn?'\n"
        "    def run(self, ctx):\n"
        "        return self.warn('A warning from a test plugin.')\n")
    target = f"127.0.0.1:{listening_port}"
    assert main(["--report", "--checks-dir", str(plugin_dir), target]) == 0  # warnings are allowed
    assert main(["--report", "--checks-dir", str(plugin_dir), "--fail-on", "warn", target]) == 1
    assert main(["--report", "--checks-dir", str(plugin_dir), "--fail-on", "warn", "--exit-zero", target]) == 0
    assert "WARN  always-warn" in capsys.readouterr().out


def test_a_broken_plugin_is_one_note_and_the_report_still_runs(free_port, tmp_path, capsys):
    plugin_dir = tmp_path / "checks"
    plugin_dir.mkdir()
    (plugin_dir / "broken.py").write_text("import nonexistent_module_for_portdoctor_test\n")
    (plugin_dir / "crashes.py").write_text(
        "from portdoctor.api import Check\n"
        "class Crashes(Check):\n"
        "    name = 'crashes'\n"
        "    def run(self, ctx):\n"
        "        return 1 / 0\n")
    assert main(["--report", "--checks-dir", str(plugin_dir), f"127.0.0.1:{free_port}"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert next(line for line in err.splitlines() if "broken.py" in line).startswith("portdoctor: plugin ")
    assert "ERROR crashes" in out and "ZeroDivisionError" in out


@pytest.mark.parametrize("argv, words", [
    (["--format", "yaml", "127.0.0.1:1"], "invalid choice: 'yaml'"),
    (["--timeout", "abc", "127.0.0.1:1"], "not a number of seconds"),
    (["--timeout", "-1", "127.0.0.1:1"], "must be a positive number"),
    (["--wait", "nan", "127.0.0.1:1"], "must be a positive number"),
    (["--bogus", "127.0.0.1:1"], "unrecognized arguments: --bogus"),
    (["--report"], "no TARGET given"),
    (["--report", "127.0.0.1:0"], "out of range"),
    (["--color", "sometimes", "1"], "invalid choice"),
    (["--fail-on", "skip", "1"], "invalid choice"),
    (["explain", "no-such-cause"], "unknown cause"),
    (["--report", "-o", "/nonexistent-folder/x.json", "127.0.0.1:1"], "does not exist"),
    (["--report", "-o", "/tmp", "127.0.0.1:1"], "it is a directory"),
    (["--report", "-o", "bad\x00name.json", "127.0.0.1:1"], "cannot write"),
    (["--report", "--targets-file", "/nonexistent/targets.txt"], "cannot read targets file"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, words, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert words in one_line_error(err)


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    assert "--wait SECONDS" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"portdoctor {__version__}\n"


def test_version_verbose_is_a_self_diagnosis(tmp_path, capsys):
    plugin_dir = tmp_path / "checks"
    plugin_dir.mkdir()
    (plugin_dir / "bad.py").write_text("raise RuntimeError('boom')\n")
    assert main(["--version", "--verbose", "--checks-dir", str(plugin_dir)]) == 0
    out = capsys.readouterr().out
    for label in ("python", "platform", "package", "psutil", "platformdirs", "textual", "privileged",
                  "checks folder", "reports", "schema", "CI"):
        assert f"\n  {label} " in out, label
    assert "ok      50 resolution" in out and "built-in: portdoctor.checks.resolution:" in out
    assert "FAIL  plugin " in out and "bad.py: RuntimeError: boom" in out
    assert str(tmp_path / "data" / "portdoctor" / "reports") in out


# --- formats and files --------------------------------------------------------------


@pytest.mark.parametrize("suffix, check", [
    (".json", lambda text: json.loads(text)["schema"] == "portdoctor/report/v1"),
    (".xml", lambda text: text.startswith('<?xml version="1.0"') and "<testsuites" in text),
    (".md", lambda text: text.startswith("## ❌")),
    (".txt", lambda text: "Verdict  NOT-LISTENING" in text),
    (".log", lambda text: "Verdict  NOT-LISTENING" in text),  # unknown extension: text
])
def test_output_file_format_from_extension(suffix, check, free_port, tmp_path, capsys):
    path = tmp_path / f"report{suffix}"
    assert main(["--report", "-o", str(path), f"127.0.0.1:{free_port}"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and f"report written to {path}" in err
    assert check(path.read_text())


def test_format_wins_over_the_extension(free_port, tmp_path):
    path = tmp_path / "report.txt"
    main(["--report", "--format", "json", "-o", str(path), f"127.0.0.1:{free_port}"])
    assert json.loads(path.read_text())["target"]["port"] == free_port


def test_dash_output_is_stdout(free_port, capsys):
    main(["--report", "--format", "json", "-o", "-", f"127.0.0.1:{free_port}"])
    assert json.loads(capsys.readouterr().out)["target"]["port"] == free_port


def test_a_failed_write_leaves_no_partial_file(free_port, tmp_path, capsys, monkeypatch):
    path = tmp_path / "report.json"
    path.write_text("the previous report\n")

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["--report", "-o", str(path), f"127.0.0.1:{free_port}"]) == 2
    assert "No space left on device" in one_line_error(capsys.readouterr().err)
    assert path.read_text() == "the previous report\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.json.")] == []  # no temp file left


def test_save_keeps_a_timestamped_report_in_the_user_data_folder(free_port, tmp_path, capsys):
    assert main(["--report", "--save", "--format", "json", f"127.0.0.1:{free_port}"]) == 1
    out, err = capsys.readouterr()
    saved = list((tmp_path / "data" / "portdoctor" / "reports").iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".json"
    assert saved[0].name[:8].isdigit() and f"127.0.0.1_{free_port}" in saved[0].name
    assert f"report saved to {saved[0]}" in err
    assert json.loads(saved[0].read_text()) == json.loads(out)


def test_schema_subcommand_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json.loads(schema_text())


# --- colour -------------------------------------------------------------------------


class _Tty:
    def isatty(self):
        return True


class _Pipe:
    def isatty(self):
        return False


@pytest.mark.parametrize("choice, environ, stream, expected", [
    ("auto", {}, _Tty(), True),
    ("auto", {}, _Pipe(), False),
    ("auto", {"NO_COLOR": "1"}, _Tty(), False),
    ("auto", {"FORCE_COLOR": "1"}, _Pipe(), True),
    ("auto", {"TERM": "dumb"}, _Tty(), False),
    ("always", {"NO_COLOR": "1"}, _Pipe(), True),
    ("never", {"FORCE_COLOR": "1"}, _Tty(), False),
])
def test_colour_decision(choice, environ, stream, expected):
    assert _use_color(choice, stream, environ) is expected


def test_force_color_and_color_flag_reach_the_output(free_port, capsys, monkeypatch):
    main(["--report", "--color", "always", f"127.0.0.1:{free_port}"])
    assert "\x1b[1;31mNOT-LISTENING" in capsys.readouterr().out
    monkeypatch.setenv("FORCE_COLOR", "1")
    main(["--report", f"127.0.0.1:{free_port}"])
    assert "\x1b[" in capsys.readouterr().out
    main(["--report", "--format", "json", f"127.0.0.1:{free_port}"])
    assert "\x1b[" not in capsys.readouterr().out  # colour is for text only


# --- many targets -------------------------------------------------------------------


def test_targets_file_with_comments(tmp_path, free_port, listening_port, capsys):
    path = tmp_path / "targets.txt"
    path.write_text(f"# services the tests need\n\n127.0.0.1:{listening_port}   # the api\n"
                    f"  127.0.0.1:{free_port}\nhttp://localhost:{listening_port}/#top\n")
    assert read_targets_file(path) == [f"127.0.0.1:{listening_port}", f"127.0.0.1:{free_port}",
                                       f"http://localhost:{listening_port}/#top"]
    assert main(["--report", "--format", "json", "--targets-file", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [r["verdict"]["cause"] == "ok" for r in doc["reports"]] == [True, False, True]


def test_an_empty_targets_file_is_a_usage_error(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text("# nothing yet\n")
    with pytest.raises(UsageError, match="names no target"):
        read_targets_file(path)


def test_twenty_targets_are_diagnosed_concurrently(capsys):
    holders, ports = [], []
    for i in range(20):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        if i % 3 == 0:
            s.listen(8)
            holders.append(s)
        else:
            s.close()  # free again: refused
    try:
        start = time.monotonic()
        code = main(["--report", "--format", "json"] + [f"127.0.0.1:{p}" for p in ports])
        elapsed = time.monotonic() - start
    finally:
        for s in holders:
            s.close()
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [r["target"]["port"] for r in doc["reports"]] == ports  # in the order given
    assert [r["verdict"]["reachable"] for r in doc["reports"]] == [i % 3 == 0 for i in range(20)]
    assert elapsed < 15, "twenty local targets must not take twenty times one"


# --- real subprocesses --------------------------------------------------------------


def _run(args, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITLAB_CI")}
    env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "portdoctor", *args], capture_output=True, text=True,
                          timeout=60, env=env, **kw)


def test_subprocess_exit_codes_and_streams(free_port):
    p = _run([f"127.0.0.1:{free_port}"])  # no terminal: the bare form is a report
    assert p.returncode == 1 and "Verdict  NOT-LISTENING" in p.stdout and "Traceback" not in p.stderr
    p = _run(["--report", "127.0.0.1:99999"])
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1


def test_subprocess_closed_pipe_is_quiet(free_port):
    p = subprocess.run(f"{sys.executable} -m portdoctor --report --format json 127.0.0.1:{free_port} | head -c 1",
                       shell=True, capture_output=True, text=True, timeout=60)
    assert p.stdout == "{" and "Traceback" not in p.stderr


def test_subprocess_internal_error_is_one_line_and_exit_3(tmp_path, free_port):
    # A plugin whose finding cannot even be rendered (title is not a string) reaches the renderer.
    plugin_dir = tmp_path / "checks"
    plugin_dir.mkdir()
    Path(plugin_dir / "weird.py").write_text(
        "from portdoctor.api import Check, Finding, Status\n"
        "class Weird(Check):\n"
        "    name = 'weird'\n"
        "    def run(self, ctx):\n"
        "        f = self.passed('x')\n"
        "        f.status = 'not-a-status'\n"
        "        return f\n")
    p = _run(["--report", "--checks-dir", str(plugin_dir), f"127.0.0.1:{free_port}"])
    assert "Traceback" not in p.stderr
    assert p.returncode in (1, 3)
    if p.returncode == 3:
        assert "internal error" in p.stderr and "please report it on the portdoctor issue tracker" in p.stderr
        assert "portdoctor --version --verbose" in p.stderr


# --- options before a subcommand ------------------------------------------------------


def _drop_in_check(folder: Path) -> Path:
    folder.mkdir()
    (folder / "hello_check.py").write_text(
        "from portdoctor.api import Check\n"
        "class HelloCheck(Check):\n"
        "    name = 'hello-check'\n"
        "    title = 'Does the drop-in load?'\n"
        "    def run(self, ctx):\n"
        "        return self.ok('It loads.')\n")
    return folder


@pytest.mark.parametrize("order", ["before", "after", "abbreviated", "equals"])
def test_checks_dir_works_before_and_after_the_checks_subcommand(order, tmp_path, capsys):
    plug = _drop_in_check(tmp_path / "plug")
    argv = {"before": ["--checks-dir", str(plug), "checks"],
            "after": ["checks", "--checks-dir", str(plug)],
            "abbreviated": ["--checks", str(plug), "checks"],
            "equals": [f"--checks-dir={plug}", "checks"]}[order]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "hello-check" in out and f"[file: {plug / 'hello_check.py'}]" in out, err


def test_options_before_explain_and_schema_reach_them(capsys):
    assert main(["explain", "firewall"]) == 0
    page = capsys.readouterr().out
    assert main(["--", "explain"]) == 2  # after "--" it is a TARGET (and a bad one)
    assert "bad target 'explain'" in capsys.readouterr().err
    assert main(["--report", "explain", "firewall"]) == 2  # explain takes no --report
    assert "portdoctor explain --help" in one_line_error(capsys.readouterr().err)
    assert main(["--color", "never", "schema"]) == 2
    assert "unrecognized arguments: --color never" in one_line_error(capsys.readouterr().err)
    assert main(["-h", "explain"]) == 0
    assert "portdoctor explain" in capsys.readouterr().out and page


def test_an_option_value_named_like_a_subcommand_is_not_one(free_port, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--report", "-o", "checks", f"127.0.0.1:{free_port}"]) == 1
    assert "Verdict" in (tmp_path / "checks").read_text()
    assert main(["--report", "--expect", "explain", "-vo", "schema", f"127.0.0.1:{free_port}"]) == 1
    assert (tmp_path / "schema").exists()
    assert main(["--report", "--targets-file", "checks"]) == 2  # a file of that name, read as targets
    assert "bad target" in capsys.readouterr().err


def test_targets_and_options_may_be_intermixed(free_port, listening_port, capsys):
    assert main([f"127.0.0.1:{listening_port}", "--report", "--format", "json", f"127.0.0.1:{free_port}"]) == 1
    reports = json.loads(capsys.readouterr().out)["reports"]
    assert [r["target"]["port"] for r in reports] == [listening_port, free_port]


def test_term_dumb_gets_the_report_not_the_wizard(free_port):
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()  # stdin and stdout are a terminal, as in an Emacs shell
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "GITLAB_CI")}
    env.update(TERM="dumb", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "portdoctor", f"127.0.0.1:{free_port}"], stdin=follower,
                          stdout=follower, stderr=subprocess.PIPE, env=env, timeout=60)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.returncode == 1
    assert b"Verdict  NOT-LISTENING" in out and b"\x1b[?1049h" not in out  # no alternate screen


def test_after_double_dash_everything_is_a_target(capsys):
    # Hypothesis found it: argparse's intermixed parsing read "-- --vers" as --version (exit 0).
    assert main(["--report", "--", "--vers"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("portdoctor: error: bad target '--vers'")
