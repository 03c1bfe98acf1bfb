"""The security items that apply to an unprivileged user, proven as ``nobody`` (issue 9,
items 1, 2 and 9): plugin trust under sudo (``SUDO_UID``), ``-o`` on another user's file
in a sticky folder, and ``--save`` modes.

Plugin folders are built in the lab's private mount namespace (a tmpfs on /mnt), so no
shared folder is ever used as a checks folder; the other folders are private ``mktemp``
folders that ``nobody`` may traverse.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="needs root to act as nobody (setpriv)")

NOBODY = 65534
PLUGIN = ("from portdoctor.api import Check\\n"
          "class Planted(Check):\\n"
          "    name = \\\"planted\\\"\\n"
          "    title = \\\"Planted?\\\"\\n"
          "    def run(self, ctx):\\n"
          "        return self.passed(\\\"planted ran\\\")\\n")


def plugin_folder(path: str, parent_mode: str) -> list[str]:
    """Setup lines: a checks folder ``path`` owned by nobody, its parent of ``parent_mode``."""
    parent = os.path.dirname(path)
    return [f"mkdir -p {parent} && chmod {parent_mode} {parent}",
            f"mkdir -m 755 {path}",
            f'printf "{PLUGIN}" > {path}/planted.py',
            f"chmod 644 {path}/planted.py && chown -R nobody:nogroup {path}"]


@pytest.mark.lab
def test_as_nobody_under_sudo_a_plugin_below_a_sticky_folder_is_skipped_and_ones_own_is_loaded(lab):
    setup = ["mount -t tmpfs -o mode=755 none /mnt",
             *plugin_folder("/mnt/sticky/checks", "1777"), *plugin_folder("/mnt/own/checks", "755")]
    env = {"SUDO_UID": str(NOBODY)}
    r = lab.run(["--checks-dir", "/mnt/sticky/checks", "127.0.0.1:8301"], setup=setup, user="nobody", env=env)
    assert r.returncode == 1, (r.stderr, r.setup_log)
    skipped = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "/mnt/sticky is writable by group or others (mode 1777)" in skipped[0], r.stderr
    assert "planted" not in {f["check"] for f in r.json["findings"]}
    r = lab.run(["--checks-dir", "/mnt/own/checks", "127.0.0.1:8301"], setup=setup, user="nobody", env=env)
    assert r.finding("planted")["title"] == "planted ran", r.stderr
    # Another user's plugin file (uid 1234) in nobody's own folder: skipped.
    r = lab.run(["--checks-dir", "/mnt/own/checks", "127.0.0.1:8301"], user="nobody", env=env,
                setup=[*setup, "chown 1234 /mnt/own/checks/planted.py"])
    assert "owned by uid 1234" in r.stderr and "planted" not in {f["check"] for f in r.json["findings"]}, r.stderr


@pytest.fixture
def traversable():
    """A private folder (mktemp) that nobody may enter but not list; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="portdoctor-nobody-")
    os.chmod(folder, 0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    probe = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--",
                            sys.executable, "-c", "import portdoctor"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run portdoctor from this checkout: {probe.stderr.strip()[-200:]}")
    return subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--",
                           sys.executable, "-m", "portdoctor", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})}, cwd="/")


def test_as_nobody_save_makes_a_private_folder_and_private_files(traversable, free_port):
    data = os.path.join(traversable, "data")
    os.mkdir(data)
    os.chown(data, NOBODY, NOBODY)
    r = as_nobody(["--report", "--save", f"127.0.0.1:{free_port}"], env={"XDG_DATA_HOME": data})
    assert r.returncode == 1, r.stderr
    saved = [os.path.join(d, f) for d, _, files in os.walk(data) for f in files]
    assert saved, r.stderr
    for path in saved:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and os.stat(path).st_uid == NOBODY, path
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700, path


def test_as_nobody_o_never_replaces_another_users_file_in_a_sticky_folder(traversable, free_port):
    shared = os.path.join(traversable, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    planted = os.path.join(shared, "report.json")
    with open(planted, "w") as fh:
        fh.write("planted")
    os.chmod(planted, 0o666)  # root's, writable by anyone: a rename would replace it
    r = as_nobody(["--report", "-o", planted, f"127.0.0.1:{free_port}"])
    assert r.returncode == 2 and "refusing to replace" in r.stderr, r.stderr
    with open(planted) as fh:
        assert fh.read() == "planted"
    assert os.stat(planted).st_uid == 0
