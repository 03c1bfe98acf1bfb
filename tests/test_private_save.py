"""--save keeps reports private; --version --verbose survives an unreadable folder (issue 9, item 9)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from portdoctor.output import save_report


def test_saved_reports_are_private(tmp_path):
    folder = tmp_path / "reports"
    path = save_report("cmdline: secret-ish", "text", "127.0.0.1:80", folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_open_reports_folder_is_tightened(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    save_report("x", "json", "t", folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_version_verbose_with_an_unreadable_checks_folder_does_not_crash(tmp_path):
    unreadable = "/" + "a" * 300 + "/" + "b" * 5000  # stat fails with ENAMETOOLONG, not ENOENT
    env = {**os.environ, "XDG_CONFIG_HOME": unreadable}
    r = subprocess.run([sys.executable, "-m", "portdoctor", "--version", "--verbose"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
    assert "cannot be read" in r.stdout and "internal error" not in r.stderr
