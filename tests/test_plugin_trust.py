"""Plugins cannot be planted, and cannot end or hang the run (issue 9, items 2 and 7).

Real folders and files in a private temp dir; portdoctor runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portdoctor.bounded import capped_timeout

root_only = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                               reason="trust is enforced as root (or under sudo); run the tests as root")

PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")
from portdoctor.api import Check
class Planted(Check):
    name = "planted"
    title = "Planted?"
    def run(self, ctx):
        return self.passed("planted ran")
"""


def run(args: list[str], *, env: dict | None = None, cwd: str | None = None, timeout: float = 90):
    return subprocess.run([sys.executable, "-m", "portdoctor", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def plant(folder: Path, marker: Path, name: str = "planted.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PLANTED.format(marker=str(marker)))
    os.chmod(path, 0o644)
    return path


@pytest.fixture
def private(tmp_path):
    os.chmod(tmp_path, 0o700)
    return tmp_path


@root_only
def test_a_world_writable_checks_folder_is_skipped_with_one_line(private, free_port):
    folder = private / "checks"
    plant(folder, private / "marker")
    os.chmod(folder, 0o777)
    r = run(["--report", "--format", "json", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"])
    assert r.returncode == 1, r.stderr
    assert not (private / "marker").exists(), "a plugin from a world-writable folder was executed as root"
    skipped = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "writable by others" in skipped[0], r.stderr
    assert any("writable by others" in n for n in json.loads(r.stdout)["notes"])


@root_only
def test_a_checks_folder_below_a_sticky_world_writable_folder_is_skipped(private, free_port):
    # /tmp's shape (root-owned, 1777) in a private folder: OpenSSH's StrictModes refuses a
    # path through it, and so does portdoctor as root.
    sticky = private / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    folder = sticky / "checks"
    plant(folder, private / "marker")
    os.chmod(folder, 0o755)
    r = run(["--report", "--format", "json", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"])
    assert r.returncode == 1, r.stderr
    assert not (private / "marker").exists(), "a plugin below a sticky world-writable folder was executed as root"
    skipped = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and f"{sticky} is writable by group or others (mode 1777)" in skipped[0], r.stderr
    assert any("mode 1777" in n for n in json.loads(r.stdout)["notes"])
    # The same folder once the parent is no longer world-writable: loaded.
    os.chmod(sticky, 0o755)
    run(["--report", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"])
    assert (private / "marker").exists()


@root_only
def test_a_file_of_another_user_is_skipped_but_the_sudo_user_is_trusted(private, free_port):
    folder = private / "checks"
    path = plant(folder, private / "marker")
    os.chown(path, 65534, 65534)  # nobody's file in root's folder
    r = run(["--report", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"], env={"SUDO_UID": ""})
    assert not (private / "marker").exists() and "owned by uid 65534" in r.stderr, r.stderr
    # Under sudo by nobody (SUDO_UID=65534) the same file is the real user's own: loaded.
    r = run(["--report", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"], env={"SUDO_UID": "65534"})
    assert (private / "marker").exists(), r.stderr


@root_only
def test_a_group_writable_plugin_file_is_skipped(private, free_port):
    path = plant(private / "checks", private / "marker")
    os.chmod(path, 0o664)
    r = run(["--report", "--checks-dir", str(private / "checks"), f"127.0.0.1:{free_port}"])
    assert not (private / "marker").exists() and "writable by group or others" in r.stderr, r.stderr


def test_a_symlinked_plugin_is_not_followed(private, free_port):
    real = plant(private / "elsewhere", private / "marker")
    (private / "checks").mkdir()
    (private / "checks" / "link.py").symlink_to(real)
    r = run(["--report", "--checks-dir", str(private / "checks"), f"127.0.0.1:{free_port}"])
    assert not (private / "marker").exists(), r.stderr
    assert "link.py" in r.stderr


def test_entry_points_in_the_working_directory_are_ignored(private):
    marker = private / "marker"
    (private / "evilmod.py").write_text(PLANTED.format(marker=str(marker)))
    info = private / "evil-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text("[portdoctor.checks]\nplanted = evilmod:Planted\n")
    (info / "METADATA").write_text("Name: evil\nVersion: 1.0\n")
    (private / "psutil.py").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('psutil')\n")
    r = run(["checks"], cwd=str(private))
    assert r.returncode == 0, r.stderr
    assert "planted" not in r.stdout and not marker.exists()


# --- item 7: a plugin cannot end or hang the run -------------------------------------

HOSTILE_PLUGINS = {
    "exits.py": "import sys\nclass X(Check):\n    name='exits'\n    title='Exits?'\n    def run(self, ctx):\n        sys.exit(0)\n",
    "interrupts.py": "class X(Check):\n    name='interrupts'\n    title='Interrupts?'\n"
                     "    def applies(self, ctx):\n        raise KeyboardInterrupt\n    def run(self, ctx):\n        pass\n",
    "endless.py": "import itertools\nclass X(Check):\n    name='endless'\n    title='Endless?'\n"
                  "    def run(self, ctx):\n        return (self.passed('again') for _ in itertools.count())\n",
    "stuck.py": "import time\nclass X(Check):\n    name='stuck'\n    title='Stuck?'\n"
                "    def applies(self, ctx):\n        time.sleep(3600)\n",
    "odd.py": "class X(Check):\n    name='odd'\n    title='Odd evidence?'\n"
              "    def run(self, ctx):\n        return self.passed('fine', thing=object(), items={1, 2}, raw=b'x')\n",
    "exit_on_import.py": "import sys\nsys.exit(0)\n",
}


def test_a_plugin_cannot_end_or_hang_the_run(private, free_port):
    folder = private / "checks"
    folder.mkdir()
    for name, body in HOSTILE_PLUGINS.items():
        (folder / name).write_text("from portdoctor.api import Check\n" + textwrap.dedent(body))
    start = time.monotonic()
    r = run(["--report", "--format", "json", "--checks-dir", str(folder), f"127.0.0.1:{free_port}"])
    elapsed = time.monotonic() - start
    assert r.returncode == 1, (r.returncode, r.stderr)  # the real verdict, not the plugin's exit 0
    doc = json.loads(r.stdout)
    assert doc["verdict"]["cause"] == "not-listening"
    status = {f["check"]: f for f in doc["findings"]}
    assert status["exits"]["status"] == "error" and "SystemExit" in status["exits"]["detail"]
    assert status["interrupts"]["status"] == "error" and "KeyboardInterrupt" in status["interrupts"]["detail"]
    assert status["endless"]["status"] == "error" and "more than" in status["endless"]["detail"]
    assert status["stuck"]["status"] == "error"
    assert status["odd"]["status"] == "pass" and "object" in status["odd"]["evidence"]["thing"]
    assert "exit_on_import.py" in r.stderr and "SystemExit" in r.stderr
    assert elapsed < 60, elapsed


def test_check_timeouts_are_capped():
    assert capped_timeout(1e9) == 30.0
    assert capped_timeout(float("nan")) == 30.0 and capped_timeout(-1) == 30.0 and capped_timeout("x") == 30.0
    assert capped_timeout(2.5) == 2.5
