"""Plugins: the README's example check really works, as a drop-in file and as an entry point;
broken plugins are reported once and the diagnosis goes on; `portdoctor checks` lists origins."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- example: plugin -->\n```python\n(.*?)```", text, re.S)
    assert m, "the README's plugins section lost its example"
    return m.group(1)


def portdoctor(args, tmp_path: Path, *, pythonpath: Path | None = None, timeout: float = 60):
    env = dict(os.environ, CI="true", NO_COLOR="1", XDG_CONFIG_HOME=str(tmp_path / "config"))
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH", "")]))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "portdoctor", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tmp_path)
    proc.elapsed = time.monotonic() - start
    return proc


def finding(report: dict, name: str) -> dict:
    return next(f for f in report["findings"] if f["check"] == name)


def test_readme_example_is_about_thirty_lines():
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert 20 <= len(lines) <= 40


def test_readme_example_as_a_drop_in_file(tmp_path, free_port):
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "browser_port.py").write_text(readme_example())
    listed = portdoctor(["checks", "--checks-dir", str(checks)], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"900\s+browser-port\s+Will a browser refuse this port\?\s+\[file: {re.escape(str(checks))}",
                     listed.stdout), listed.stdout

    blocked = portdoctor(["--report", "--format", "json", "--checks-dir", str(checks), "127.0.0.1:6667"], tmp_path)
    f = finding(json.loads(blocked.stdout), "browser-port")
    assert f["status"] == "warn" and "ERR_UNSAFE_PORT" in f["title"]
    assert f["remediation"][1]["command"] == "curl -v http://127.0.0.1:6667/"

    allowed = portdoctor(["--report", "--format", "json", "--checks-dir", str(checks), f"127.0.0.1:{free_port}"],
                         tmp_path)
    assert allowed.returncode == 1  # nothing listens there: the plugin does not change that
    assert finding(json.loads(allowed.stdout), "browser-port")["status"] == "pass"


def test_readme_example_as_an_entry_point(tmp_path, free_port):
    site = tmp_path / "site"
    dist = site / "portdoctor_browser_port-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "portdoctor_browser_port.py").write_text(readme_example())
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: portdoctor-browser-port\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[portdoctor.checks]\nbrowser-port = portdoctor_browser_port:BrowserPortCheck\n")

    listed = portdoctor(["checks"], tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    assert "browser-port" in listed.stdout
    assert "[entry point portdoctor-browser-port 1.0: portdoctor_browser_port:BrowserPortCheck]" in listed.stdout
    assert "[built-in: portdoctor.checks.resolution:ResolutionCheck]" in listed.stdout

    r = portdoctor(["--report", "--format", "json", "127.0.0.1:6697"], tmp_path, pythonpath=site)
    assert finding(json.loads(r.stdout), "browser-port")["status"] == "warn"


BROKEN_IMPORT = "import no_such_module_for_portdoctor\n"
RAISES = textwrap.dedent("""
    from portdoctor.api import Check

    class Raises(Check):
        name = "raises"
        title = "Does it raise?"

        def run(self, ctx):
            return 1 / 0
""")
HANGS = textwrap.dedent("""
    import time
    from portdoctor.api import Check

    class Hangs(Check):
        name = "hangs"
        title = "Does it hang?"
        timeout = 0.5

        def run(self, ctx):
            time.sleep(30)
""")
DUPLICATE = textwrap.dedent("""
    from portdoctor.api import Check

    class Impostor(Check):
        name = "resolution"
        title = "An impostor"

        def run(self, ctx):
            return self.fail("dns", "impostor")
""")


def test_broken_plugins_are_reported_once_and_the_diagnosis_goes_on(tmp_path, free_port):
    checks = tmp_path / "checks"
    checks.mkdir()
    for name, source in [("broken.py", BROKEN_IMPORT), ("raises.py", RAISES), ("hangs.py", HANGS),
                         ("impostor.py", DUPLICATE), ("_private.py", BROKEN_IMPORT)]:
        (checks / name).write_text(source)

    r = portdoctor(["--report", "--format", "json", "--checks-dir", str(checks), f"127.0.0.1:{free_port}"], tmp_path)
    assert r.returncode == 1, r.stderr  # nothing listens: the diagnosis still names it
    assert r.elapsed < 30  # the hanging check was abandoned after its timeout
    report = json.loads(r.stdout)
    assert report["verdict"]["cause"] == "not-listening"

    broken = str(checks / "broken.py")
    assert r.stderr.count(broken) == 1, r.stderr
    assert f"portdoctor: plugin {broken}: ModuleNotFoundError: No module named 'no_such_module_for_portdoctor'" \
        in r.stderr
    impostor = str(checks / "impostor.py")
    assert r.stderr.count(impostor) == 1
    assert "'resolution' is already taken by portdoctor.checks.resolution:ResolutionCheck" in r.stderr
    assert "_private.py" not in r.stderr
    assert any(broken in note for note in report["notes"])
    assert any(impostor in note for note in report["notes"])

    raised = finding(report, "raises")
    assert raised["status"] == "error" and "ZeroDivisionError" in raised["detail"]
    assert str(checks / "raises.py") in raised["detail"]
    hung = finding(report, "hangs")
    assert hung["status"] == "error" and "did not finish within 0.5 s" in hung["detail"]
    assert finding(report, "resolution")["title"] != "impostor"

    listed = portdoctor(["checks", "--checks-dir", str(checks)], tmp_path)
    assert listed.returncode == 0
    assert f"!  plugin {broken}" in listed.stdout


def test_user_config_folder_checks_are_loaded(tmp_path, free_port):
    folder = tmp_path / "config" / "portdoctor" / "checks"
    folder.mkdir(parents=True)
    (folder / "browser_port.py").write_text(readme_example())
    listed = portdoctor(["checks"], tmp_path)
    assert f"[file: {folder / 'browser_port.py'}]" in listed.stdout, listed.stdout


@pytest.mark.parametrize("entry_name", ["aaa-first", "zzz-last"])
def test_a_plugin_cannot_replace_a_builtin_whatever_its_entry_point_name(tmp_path, entry_name):
    site = tmp_path / "site"
    dist = site / "impostor-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "impostor_check.py").write_text(DUPLICATE)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[portdoctor.checks]\n{entry_name} = impostor_check:Impostor\n")
    listed = portdoctor(["checks"], tmp_path, pythonpath=site)
    assert "[built-in: portdoctor.checks.resolution:ResolutionCheck]" in listed.stdout
    assert "!  plugin impostor_check:Impostor: check name 'resolution' is already taken" in listed.stdout


# --- a --checks-dir folder that is not there ------------------------------------------


def test_a_missing_checks_folder_is_an_error_but_the_user_folder_is_not(tmp_path, monkeypatch):
    from portdoctor.plugins import discover

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no portdoctor/checks in it
    a_file = tmp_path / "checks.py"
    a_file.write_text("# not a folder\n")
    checks, errors = discover([tmp_path / "nosuch", a_file])
    assert [str(e) for e in errors] == [f"checks folder {tmp_path / 'nosuch'} does not exist",
                                        f"checks folder {a_file} is not a folder"]
    assert any(c.check.name == "resolution" for c in checks)  # the built-ins still load
    assert discover([])[1] == []  # the absent user config folder is normal: silent


def test_a_missing_checks_folder_is_one_line_and_a_note_and_the_diagnosis_goes_on(tmp_path, free_port,
                                                                                 monkeypatch, capsys):
    from portdoctor.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "nonexistent"
    code = main(["--report", "--format", "json", "--checks-dir", str(missing), f"127.0.0.1:{free_port}"])
    out, err = capsys.readouterr()
    assert code == 1  # nothing listens there: diagnosed as usual
    assert err == f"portdoctor: checks folder {missing} does not exist\n"
    report = json.loads(out)  # one target: the report itself
    assert f"checks folder {missing} does not exist" in report["notes"]
    assert report["verdict"]["cause"] == "not-listening"


def test_checks_lists_a_missing_folder(tmp_path, monkeypatch, capsys):
    from portdoctor.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["checks", "--checks-dir", str(tmp_path / "nonexistent")]) == 0
    assert f"!  checks folder {tmp_path / 'nonexistent'} does not exist" in capsys.readouterr().out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG fast path is Linux's")
@pytest.mark.parametrize("xdg", [None, "", "  ", "/srv/conf"])  # a relative one: platformdirs 4 ignores it, 3 not
def test_user_checks_dir_is_where_platformdirs_puts_it(monkeypatch, xdg):
    import platformdirs

    from portdoctor.plugins import user_checks_dir

    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert user_checks_dir() == platformdirs.user_config_path("portdoctor", appauthor=False) / "checks"
